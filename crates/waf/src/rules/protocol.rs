//! Scanners (913), methods outside an API's (911), and protocol attacks: CRLF, response
//! splitting, smuggling, LDAP (920/921).

use super::*;

/// The rules of this file.
pub(super) const PROTOCOL: &[Rule] = &[
    // --- 913: scanners -------------------------------------------------------------------
    r(
        913100,
        "scanner",
        1,
        Critical,
        UA,
        Lower,
        Rx(
            r"\b(?:sqlmap|nikto|nmap\b|masscan|zgrab|nessus|openvas|acunetix|netsparker|w3af|wpscan|dirbuster|gobuster|feroxbuster|ffuf|wfuzz|nuclei|jaeles|arachni|skipfish|havij|zmeu|morfeus|nsauditor|paros|webinspect|appscan|commix|xsstrike|dotdotpwn|whatweb|fimap|grabber|jbrofuzz|libwhisker|nasl|pangolin|sqlninja|wapiti|webshag|websecurify|webvulnscan|x-scan|bsqlbf|blackwidow|black widow|jorgee|dirb\b|hydra\b|brutus)",
        ),
        "Security scanner user agent",
    ),
    // --- 911: methods ---------------------------------------------------------------------
    r(
        911100,
        "protocol",
        1,
        Critical,
        M,
        Raw,
        NoneOf(&[
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY",
        ]),
        "Method is not allowed by policy (an API takes GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, QUERY)",
    ),
    // --- 920/921: protocol ---------------------------------------------------------------
    r(
        920220,
        "protocol",
        1,
        Warning,
        RAW,
        Raw,
        Rx(r"%(?:[^0-9a-fA-Fu]|[0-9a-fA-F](?:[^0-9a-fA-F]|$)|$)"),
        "Invalid URL encoding",
    ),
    r(
        920270,
        "protocol",
        1,
        Error,
        A | N | C | H | RAW,
        Raw,
        Rx(r"\x00|(?i)%00"),
        "NUL byte in request",
    ),
    // A method override in a parameter (`_method=DELETE`, as Rails, Laravel, Symfony and
    // Express's method-override take it, from the query or the body): the upstream runs
    // another method than the one route methods and policies judged (black-box pass 13,
    // B13-21). Its header spellings are removed at the edge. Paranoia 2: every Rails and
    // Laravel update or delete form sends one (pass 14, B14-1); a route that restricts
    // methods or judges them in a policy raises its paranoia.
    r(
        921900,
        "protocol",
        2,
        Critical,
        N,
        Lower,
        Rx(r"^_method$"),
        "HTTP method override parameter",
    ),
    r(
        921110,
        "protocol",
        1,
        Critical,
        A | N | C | B,
        Decoded,
        Rx(
            r"(?i)[\r\n]\W*?(?:get|post|head|options|connect|put|delete|trace|track|patch|propfind|mkcol|move|lock|unlock)\s+\S+\s+http/\d",
        ),
        "HTTP request smuggling",
    ),
    r(
        921120,
        "protocol",
        1,
        Critical,
        A | N | C | P,
        Decoded,
        Rx(
            r"(?i)[\r\n]\W*?(?:set-cookie|location|content-(?:type|length|disposition)|refresh|transfer-encoding|access-control-[\w-]+|x-[\w-]+|host|cookie|link)\s*:",
        ),
        "HTTP response splitting (CRLF and a header)",
    ),
    r(
        921130,
        "protocol",
        1,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"(?i)[\r\n]\s*(?:<(?:html|script|meta|body|head)\b|http/\d)"),
        "HTTP response splitting (CRLF and a document)",
    ),
    r(
        921150,
        "protocol",
        1,
        Critical,
        N,
        Decoded,
        Rx(r"[\r\n]"),
        "Line break in an argument name",
    ),
    r(
        921200,
        "ldap",
        1,
        Critical,
        A | N | C,
        Decoded,
        Rx(
            r"\(\s*[&|!]\s*\(|\)\s*\(\s*[&|!]|\*\)\s*\(|\)\s*\(\s*\w+\s*[~<>]?=\s*\*|^\*\)|\(\s*\w+\s*=\s*\*\s*\)\s*\)",
        ),
        "LDAP injection",
    ),
];
