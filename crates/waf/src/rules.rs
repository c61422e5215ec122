//! The built-in rules: what each looks for, where, in which decoded form, at which paranoia
//! level and with which severity. Rule ids follow the OWASP CRS file numbering of the attack
//! they detect (913 scanners, 920/921 protocol, 930 LFI, 931 RFI, 932 RCE, 933 PHP, 934
//! generic, 941 XSS, 942 SQLi, 944 Java), so an exclusion reads as CRS users expect; the
//! patterns are Portcullis's own. Level 1 rules must be quiet on ordinary API traffic (the
//! benign corpus in the tests holds them to it); the noisier ones sit at levels 2 to 4.

use crate::request::{DATA, Kind, Kinds};

/// How bad a match is; its anomaly score is CRS's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 5.
    Critical,
    /// 4.
    Error,
    /// 3.
    Warning,
    /// 2.
    Notice,
}

impl Severity {
    /// The anomaly score.
    pub fn score(self) -> u32 {
        match self {
            Severity::Critical => 5,
            Severity::Error => 4,
            Severity::Warning => 3,
            Severity::Notice => 2,
        }
    }
}

/// The form of a value a rule matches (see [`crate::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Form {
    /// As it arrived (after its own syntax's URL decoding).
    Raw,
    /// Every encoding undone.
    Decoded,
    /// Decoded, lower case, whitespace compacted.
    Lower,
    /// Lower with SQL comments folded.
    Sql,
    /// The shell's view.
    Cmd,
    /// Separators and case folded for file paths.
    Path,
    /// Lower without any whitespace (`<f o r m`).
    Compact,
}

/// How a rule matches.
#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// A regular expression (case-insensitive by the form, or by `(?i)` in it).
    Rx(&'static str),
    /// libinjection's SQL injection fingerprints.
    Sqli,
    /// libinjection's XSS parser.
    Xss,
    /// At least this many SQL special characters.
    SpecialChars(usize),
}

/// A rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Its id.
    pub id: u32,
    /// The attack class (`sqli`, `xss`, `lfi`, ...).
    pub category: &'static str,
    /// Paranoia level 1-4.
    pub paranoia: u8,
    /// Severity.
    pub severity: Severity,
    /// Where it looks.
    pub kinds: Kinds,
    /// In which form.
    pub form: Form,
    /// What it looks for.
    pub test: Test,
    /// What a match means.
    pub msg: &'static str,
}

const A: Kinds = Kind::Args as u16;
const N: Kinds = Kind::ArgNames as u16;
const P: Kinds = Kind::Path as u16;
const RAW: Kinds = Kind::RawUri as u16;
const UA: Kinds = Kind::UaReferer as u16;
const H: Kinds = Kind::Headers as u16;
const HN: Kinds = Kind::HeaderNames as u16;
const C: Kinds = Kind::Cookies as u16;
const F: Kinds = Kind::FileNames as u16;
const B: Kinds = Kind::Body as u16;
/// Data, the body as a whole, and every header.
const ALL: Kinds = DATA | B | H;

use Form::*;
use Severity::*;
use Test::*;

#[allow(clippy::too_many_arguments)] // one row of the table, in its columns' order
const fn r(
    id: u32,
    category: &'static str,
    paranoia: u8,
    severity: Severity,
    kinds: Kinds,
    form: Form,
    test: Test,
    msg: &'static str,
) -> Rule {
    Rule {
        id,
        category,
        paranoia,
        severity,
        kinds,
        form,
        test,
        msg,
    }
}

/// SQL special characters CRS counts (942430-942432).
pub const SQL_SPECIALS: &[char] = &[
    '~', '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '-', '+', '=', '{', '}', '[', ']', '|',
    ':', ';', '"', '\'', '´', '’', '‘', '`', '<', '>',
];

/// Every built-in rule.
pub const RULES: &[Rule] = &[
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
    // --- 930: local file inclusion -------------------------------------------------------
    r(
        930100,
        "lfi",
        1,
        Critical,
        RAW | A | N | C | H,
        Lower,
        Rx(
            r"(?:%(?:2e|252e|c0%ae|e0%80%ae|u002e|uff0e)|0x2e|\.){2}(?:%(?:2f|252f|5c|255c|c0%af|c1%9c|c0%2f|c0%5c|u2215|u2216|uefc8|uf025)|/|\\)",
        ),
        "Path traversal (encoded)",
    ),
    r(
        930110,
        "lfi",
        1,
        Critical,
        P | A | N | C | H | F,
        Path,
        Rx(r"(?:^|/)\.{2,}(?:/|$)|\.\.;|/\.{2,}\s"),
        "Path traversal",
    ),
    r(
        930120,
        "lfi",
        1,
        Critical,
        P | A | N | C | F,
        Path,
        Rx(
            r"(?:^|[/=:;\s])(?:etc/(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|master\.passwd|security/|ssh/|mysql/|apache2?/|nginx/|httpd/|php\d?/|hostname|resolv\.conf|fstab|profile|environment|init\.d/)|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|status|mounts|exe|cwd|root)|proc/version|var/log/|var/www/|boot\.ini|win\.ini|system\.ini|windows/(?:system32|win\.ini|repair)|winnt/|inetpub/|\.htaccess|\.htpasswd|\.ssh/|id_(?:rsa|dsa|ecdsa|ed25519)\b|authorized_keys|known_hosts|\.bash_history|\.bashrc|\.git/|\.gitconfig|\.svn/|\.hg/|\.env$|\.aws/credentials|\.docker/config|\.kube/config|web\.config|wp-config\.php|\.npmrc|\.pgpass|\.my\.cnf|\.netrc|sys/(?:class|kernel|devices|block|bus|firmware|fs|module|power)\b|proc/(?:interrupts|cpuinfo|meminfo|net/|sys/|mounts|partitions|modules)|etc/(?:subuid|subgid|gshadow|aliases|exports|inittab|ld\.so|modules|network|ppp|rc\.d|securetty|syslog|xinetd|bashrc|login\.defs)|tmp/|\.docker/|\.kube/|\.gnupg/)",
        ),
        "Operating system file access",
    ),
    r(
        930130,
        "lfi",
        1,
        Critical,
        P,
        Path,
        Rx(
            r"/\.(?:git|svn|hg|bzr|env|htaccess|htpasswd|ds_store|aws|ssh|docker|kube|npmrc|pgpass|bash_history)(?:/|$|\.)|/\.\w*ignore$|\.(?:sql|bak|backup|old|orig|swp|save|dump|mdb|sqlite3?)(?:\.(?:zip|gz|tgz|tar|7z|rar|bz2|xz))?$|/(?:debug|error|errors|access|laravel|php_errors?)\.log$|/\.(?:claude|cursor|continue|aider|roo|zed|cline|kiro|windsurf|rovodev|codex|opencode|a0proj|plandex|fabric|n8n|junie|gemini|copilot|vscode|idea|amazonq|augment|goose)(?:/|$)|/@id/|__x00__",
        ),
        "Restricted file access",
    ),
    r(
        930121,
        "lfi",
        2,
        Critical,
        H | UA,
        Path,
        Rx(
            r"(?:^|[/=:;\s])(?:etc/(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|master\.passwd|security/|ssh/|mysql/|apache2?/|nginx/|httpd/|php\d?/|hostname|resolv\.conf|fstab|profile|environment|init\.d/)|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|status|mounts|exe|cwd|root)|proc/version|var/log/|var/www/|boot\.ini|win\.ini|system\.ini|windows/(?:system32|win\.ini|repair)|winnt/|inetpub/|\.htaccess|\.htpasswd|\.ssh/|id_(?:rsa|dsa|ecdsa|ed25519)\b|authorized_keys|known_hosts|\.bash_history|\.bashrc|\.git/|\.gitconfig|\.svn/|\.hg/|\.env$|\.aws/credentials|\.docker/config|\.kube/config|web\.config|wp-config\.php|\.npmrc|\.pgpass|\.my\.cnf|\.netrc|sys/(?:class|kernel|devices|block|bus|firmware|fs|module|power)\b|proc/(?:interrupts|cpuinfo|meminfo|net/|sys/|mounts|partitions|modules)|etc/(?:subuid|subgid|gshadow|aliases|exports|inittab|ld\.so|modules|network|ppp|rc\.d|securetty|syslog|xinetd|bashrc|login\.defs)|tmp/|\.docker/|\.kube/|\.gnupg/)",
        ),
        "Operating system file in a header",
    ),
    // --- 931: remote file inclusion ------------------------------------------------------
    r(
        931100,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"^(?:file|ftps?|https?)://(?:(?:\d{1,3}\.){3}\d{1,3}|\[?[0-9a-f]*:[0-9a-f:]+\]?)"),
        "Remote file inclusion (URL with an IP address)",
    ),
    r(
        931110,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"\b(?:include|require)(?:_once)?\s*\(?\s*['\x22]?(?:ht|f)tps?://"),
        "Remote file inclusion (include of a URL)",
    ),
    r(
        931120,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"^(?:file|ftps?|https?).*?\?+$"),
        "Remote file inclusion (trailing question mark)",
    ),
    r(
        931130,
        "rfi",
        2,
        Critical,
        A,
        Lower,
        Rx(
            r"^(?:url:|jar:)?(?:file|ftps?|https?|gopher|ldap|jar|local_file|netdoc|dict|tftp)://|^(?:jar|url):",
        ),
        "Remote file inclusion (URL argument)",
    ),
    r(
        931131,
        "rfi",
        2,
        Critical,
        P,
        Lower,
        Rx(r"/(?:file|ftps?|https?):"),
        "Remote file inclusion (URL in the path)",
    ),
    // --- 932: remote command execution ---------------------------------------------------
    r(
        932100,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"(?:[;&|`\n\r]|\$\(|\{\s*)\s*(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc|ncat|netcat|telnet|ssh|scp|bash|sh|zsh|dash|ksh|csh|tcsh|python[23]?|perl|ruby|php|node|lua|chmod|chown|rm|nslookup|traceroute|grep|egrep|awk|gawk|sed|xargs|base64|xxd|crontab|sudo|useradd|mkfifo|socat|nohup|systemctl|busybox|powershell|cmd|systeminfo|tasklist)(?:\.exe)?(?:\s*$|\s*[<>|&;`)}]|\s+-|\s*/|\s+\$|\s+\S*[/.])|(?:[;&|`\n\r]|\$\(|\{\s*)\s*(?:more|less|head|tail|nl|dir|ps|kill|fetch|mv|cp|touch|echo|printf|env|export|ping|dig|sleep|find|od|dd|tar|zip|unzip|gzip|su|passwd|timeout|eval|exec|sort|uniq|cut|rev|mount|tee|vi|vim|nano|openssl|set|type|net|ver)(?:\.exe)?(?:\s*[<>|&;`)}]\s*\S|\s+-\w|\s*/\S|\s+\$)|^(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc|ncat|netcat|telnet|ssh|scp|bash|sh|zsh|dash|ksh|csh|tcsh|python[23]?|perl|ruby|php|node|lua|chmod|chown|rm|nslookup|traceroute|grep|egrep|awk|gawk|sed|xargs|base64|xxd|crontab|sudo|useradd|mkfifo|socat|nohup|systemctl|busybox|powershell|cmd|systeminfo|tasklist|more|less|head|tail|nl|dir|ps|kill|fetch|mv|cp|touch|echo|printf|env|export|ping|dig|sleep|find|od|dd|tar|zip|unzip|gzip|su|passwd|timeout|eval|exec|sort|uniq|cut|rev|mount|tee|vi|vim|nano|openssl|set|type|net|ver)(?:\.exe)?(?:\s+-\w|\s*/[a-z._~]|\s*[<>|&;`]\s*\S|\s+\$)",
        ),
        "Unix or Windows command injection",
    ),
    r(
        932130,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Decoded,
        Rx(r"(?i)\$\(\s*[a-z]+[^)]*\)"),
        "Unix shell expression",
    ),
    r(
        932131,
        "rce",
        2,
        Critical,
        A | N | C | UA,
        Decoded,
        Rx(
            r"(?i)(?:^|[^`])`\s*(?:cat|ls|id|whoami|uname|wget|curl|nc|bash|sh|sleep|ping|echo|python|perl|php)\b[^`]*`(?:[^`]|$)",
        ),
        "Unix command substitution (backticks)",
    ),
    r(
        932160,
        "rce",
        1,
        Critical,
        A | N | C | UA | H,
        Cmd,
        Rx(
            r"(?:^|[^\w.-])/(?:bin|sbin|usr/bin|usr/sbin|usr/local/bin|dev/(?:tcp|udp)|etc/init\.d)/\w",
        ),
        "Unix shell path",
    ),
    r(
        932110,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"\bcmd(?:\.exe)?/[ck]\b|\bpowershell(?:\.exe)?\b|\bpwsh\b|\bwmic\b|\bcertutil\b.{0,40}-urlcache|\bbitsadmin\b|\breg(?:\.exe)?\s+(?:add|query|delete)\b|\bnet\s+(?:user|localgroup)\b|\brundll32\b|\bregsvr32\b|\bmshta\b|\bcscript\b|\bwscript\b|\binvoke-(?:expression|webrequest|command)\b|\biex\s*\(|\bstart-process\b|-encodedcommand\b|\bdownloadstring\b",
        ),
        "Windows command injection",
    ),
    r(
        932170,
        "rce",
        1,
        Critical,
        A | N | C | UA | H | HN | B,
        Decoded,
        Rx(r"\(\s*\)\s*\{[^}]*;\s*\}"),
        "Shellshock (CVE-2014-6271)",
    ),
    r(
        932140,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"\bfor(?:/[dflr][^%]*)?\s*%+[^\s]+\s+in\s*\(.*\)\s*do\b|\bif(?:/i)?(?:\s+not)?(?:\s+(?:exist|errorlevel|defined|cmdextversion)\b|[\s(].*(?:\b(?:geq|gtr|equ|neq|leq|lss)\b|==))",
        ),
        "Windows command injection (FOR and IF)",
    ),
    r(
        932175,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Decoded,
        Rx(r"(?i)\balias\s+[\w.-]+\s*=|:\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}"),
        "Unix alias or fork bomb",
    ),
    r(
        932236,
        "rce",
        2,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"(?:^|[;&|`\n\r(]|\$\(|\{)\s*(?:\$\w+\s+)*(?:time\s+|nohup\s+|sudo\s+|env\s+|nice\s+|timeout\s+\d+\s+)?(?:ex|cpulimit|date|ssh(?:-\w+)?|uconv|visudo|who|w|ll|top|ps|ping|fold|cd|rmt(?:-tar)?|last(?:log)?|adduser|tee|watch|strings|file|stat|df|du|free|lsblk|uptime|ulimit|ionice|taskset|nl|od|hexdump|comm|csplit|expand|fmt|join|look|paste|pr|rev|shuf|sort|split|tac|tail|head|tr|uniq|wc|dd|less|more|find|ls|cp|mv|mkdir|touch|echo|printf|sleep|iwr|irm|wget\d?|c89|c99|cc|make|ld|strace|ltrace|script|setarch|unshare|nsenter|capsh|ansible(?:-\w+)?|apt(?:-get|itude)?|awk|base32|base64|bash|bsdtar|busybox|bzip2|cat|chattr|chef(?:-\w+)?|chmod|chown|chroot|cpan|crontab|cscli|csh|curl|dash|dmesg|docker|dpkg|emacs|env|eval|exec|expect|export|finger|ftp|g\+\+|gcc|gdb|gem|git|grep|gzip|history|iconv|id|ifconfig|irb|java|journalctl|kill(?:all)?|ksh|kubectl|ln|locate|lsof|lua|mkfifo|mount|mysql|nano|nc|ncat|netcat|netstat|nmap|node|nohup|nslookup|npm|openssl|passwd|perl|php\d?|pip\d?|pkexec|pkill|printenv|psql|puppet|pwd|python[\d.]*|rake|rbash|readelf|rm|route|rpm|rsync|ruby|scp|screen|sed|service|setfacl|sftp|sh|shutdown|socat|sqlite3|ssh|strace|su|sudo|sysctl|systemctl|tar|tcpdump|tclsh|telnet|tftp|tmux|traceroute|uname|unzip|useradd|usermod|vim?|wall|wget|whoami|xargs|xterm|xxd|yum|zip|zsh|aa-\w+|bcdboot|bcdedit|cmd|powershell|wmic|regedit|reg|schtasks|taskkill|tasklist|net|netsh|certutil|bitsadmin|cacls|icacls|takeown|vssadmin|wevtutil|diskpart|format|attrib|cipher|sc)(?:\.exe)?(?:\s|$|[;&|<>/`)])",
        ),
        "Unix or Windows command (no evasion)",
    ),
    r(
        932150,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"(?:^|[\s;|&`(])/[\w.!/-]*[?*\[][\w?*\[\]!./-]*"),
        "Unix shell glob in a path",
    ),
    r(
        932300,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(
            r"(?i)[\r\n]\s*(?:(?:ehlo|helo|mail\s+from|rcpt\s+to|data|quit|rset|vrfy|expn|starttls|auth\s+\w+)\b|\w{1,10}\s+(?:examine|select|list|lsub|copy|fetch|store|login|logout|capability|noop|append|create|delete|rename|subscribe|status|search|uid|idle|authenticate)\b|(?:user|pass|stat|retr|dele|top|uidl|apop|list)\s+\S)",
        ),
        "SMTP, IMAP or POP3 command injection",
    ),
    r(
        932210,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"(?:^|[;\n])\s*\.(?:system|shell|import|output|once|load|open|read)\b"),
        "SQLite shell command injection",
    ),
    r(
        932280,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"\{\s*[^{}\s]*,[^{}\s]*,?[^{}]*\}"),
        "Shell brace expansion",
    ),
    r(
        932270,
        "rce",
        3,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"^\s*(?:~[+-]?\d*|![-!]?\d*)(?:\s|$|!)|^!-\d+!-\d+"),
        "Shell tilde or history expansion",
    ),
    r(
        932200,
        "rce",
        2,
        Critical,
        A | N | C | UA,
        Lower,
        Rx(r"\b[a-z]+(?:\x22\x22|''|\\|\^)[a-z]+\b.{0,30}(?:/|\s-)|\$\{?ifs\}?|\$@[a-z]"),
        "Command obfuscation",
    ),
    r(
        932230,
        "rce",
        2,
        Critical,
        A | C,
        Cmd,
        Rx(
            r"^(?:cat|tac|ls|id|whoami|uname|wget|curl|nc|bash|sh|ping|nslookup|sleep|echo|python|perl|php|ruby|ifconfig|netstat|ps|pwd|env|dir|type|systeminfo|ver)(?:\s|$|/)",
        ),
        "Command at the start of a value",
    ),
    // --- 933: PHP ------------------------------------------------------------------------
    r(
        933100,
        "php",
        1,
        Critical,
        A | N | C | B | F,
        Raw,
        Rx(r"(?i)<\?(?:php\b|=|\s|$)|\[\??\\?/?php\]|\{/?php\}"),
        "PHP open tag",
    ),
    r(
        933110,
        "php",
        1,
        Critical,
        F | H,
        Lower,
        Rx(
            r"\.(?:php\d*|phtml|phar|pht|phps|phpt|pgif|shtml|htaccess|asp|aspx|asa|cer|jsp|jspx|cgi)(?:\.|$|\s|;)",
        ),
        "Script file upload",
    ),
    r(
        933120,
        "php",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\b(?:allow_url_(?:fopen|include)|auto_(?:prepend|append)_file|disable_functions|open_basedir|safe_mode|register_globals|display_errors|file_uploads|suhosin\.\w+|sendmail_(?:path|from)|mail\.(?:add_x_header|force_extra_parameters|log)|smtp|smtp_port|session\.(?:save_path|save_handler|use_\w+|serialize_handler|upload_progress\.\w+)|upload_tmp_dir|include_path|zend_extension|extension_dir|short_open_tag|expose_php|magic_quotes_\w+|error_log|log_errors|html_errors|xmlrpc_errors|assert\.\w+|opcache\.\w+|phar\.readonly|cgi\.\w+|doc_root|user_dir|enable_dl)\s*=",
        ),
        "PHP configuration directive",
    ),
    r(
        933130,
        "php",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\$_(?:get|post|cookie|request|server|files|env|session)\b|\$globals\b|\$http_raw_post_data|\$http_(?:get|post|cookie|server|env)_vars",
        ),
        "PHP variable",
    ),
    r(
        933140,
        "php",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\b(?:php|phar|zlib|glob|expect|zip|rar|ogg|ssh2(?:\.\w+)?|compress\.(?:zlib|bzip2))://",
        ),
        "PHP I/O stream wrapper",
    ),
    r(
        933150,
        "php",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\b(?:assert|assert_options|base64_decode|call_user_func(?:_array)?|create_function|escapeshellarg|escapeshellcmd|eval|exec|file_get_contents|file_put_contents|fsockopen|pfsockopen|gzinflate|gzuncompress|gzdecode|include(?:_once)?|require(?:_once)?|ini_set|ini_get_all|passthru|pcntl_exec|phpinfo|popen|preg_replace|proc_open|readfile|shell_exec|show_source|highlight_file|str_rot13|system|unserialize|parse_str|putenv|move_uploaded_file|curl_exec|get_defined_vars|posix_\w+|symlink|fopen|fwrite|fputs|array_map|register_shutdown_function|ob_start|getenv|php_uname|phpversion|chr|ord)(?:/\*.*?\*/|[\x22'])*\(",
        ),
        "PHP function call",
    ),
    r(
        933152,
        "php",
        1,
        Critical,
        A | N | C | P,
        Lower,
        Rx(
            r"(?:assert_options|base64_decode|call_user_func(?:_array)?|create_function|escapeshell(?:arg|cmd)|file_(?:get|put)_contents|fsockopen|gzinflate|gzuncompress|gzdecode|passthru|pcntl_exec|phpinfo|proc_open|shell_exec|show_source|highlight_file|str_rot13|move_uploaded_file|get_defined_vars|register_shutdown_function|php_uname|proc_nice|proc_terminate|posix_(?:kill|setuid|getpwuid)|gethostbyname|sodium_crypto_\w+|stream_socket_client|stream_get_contents|curl_exec|mb_ereg_replace)\s*(?:\(|=|\[|$)",
        ),
        "PHP high-risk function",
    ),
    r(
        933153,
        "php",
        2,
        Critical,
        A | N | C | P,
        Lower,
        Rx(
            r"\b(?:array_\w+|sodium_\w+|date_\w+|str_\w+|mb_\w+|preg_\w+|ctype_\w+|json_\w+|openssl_\w+|curl_\w+|mysqli?_\w+|pg_\w+|posix_\w+|gethostby\w+|ftp_\w+|socket_\w+|stream_\w+|ob_\w+|ini_\w+|func_\w+|get\w+|set\w+|is_\w+|file\w*|f(?:open|read|write|puts|gets|close|lock|passthru|scanf|seek|stat|tell|truncate))\s*\(",
        ),
        "PHP function call by name",
    ),
    r(
        933210,
        "php",
        1,
        Critical,
        A | N | C,
        Sql,
        Rx(
            r"\)\s*(?:\[\s*\d+\s*\]|\{\s*\d+\s*\})?\s*\(\s*['\x22]?[a-z_][\w./-]*['\x22]?\s*\)\s*;|\(\s*\[?\s*['\x22]?[a-z_]+['\x22]?(?:\s*\.\s*['\x22][a-z_]+['\x22])+\s*\]?\s*\)\s*\(",
        ),
        "PHP variable function call (obfuscated)",
    ),
    r(
        933220,
        "php",
        1,
        Critical,
        F | H,
        Path,
        Rx(r"(?:^|/|:)sess_[a-z0-9,-]{20,}"),
        "PHP session file upload",
    ),
    r(
        933151,
        "php",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\b(?:system|exec|eval|assert|include|require|passthru|popen|file|copy|mail|extract|list|print|echo)\s+\(|\b(?:include|require)(?:_once)?\s+['\x22$]",
        ),
        "PHP function call (spaced)",
    ),
    r(
        933160,
        "php",
        1,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"\b[OC]:\d+:\x22[\w\\]+\x22:\d+:\{|\ba:\d+:\{\s*[is]:\d+[:;]"),
        "PHP serialized object",
    ),
    r(
        933180,
        "php",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\$+(?:[a-z_\x7f-\xff][\w\x7f-\xff]*|\s*\{.+\})(?:\s|\[.+\]|\{.+\}|/\*.*\*/|//.*|#.*)*\(.*\)",
        ),
        "PHP variable function call",
    ),
    r(
        933200,
        "php",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(r"\b(?:data|file|http|ftp)://.{0,200}\.(?:php\d?|phtml|phar)\b"),
        "PHP script by URL",
    ),
    // --- 934: generic and other languages ------------------------------------------------
    r(
        934100,
        "nodejs",
        1,
        Critical,
        A | N | C | B,
        Lower,
        Rx(
            r"require\s*\(\s*['\x22`](?:child_process|fs|net|os|vm|process|http)['\x22`]|\bchild_process\b|process\s*\.\s*(?:mainmodule|binding|env|exit|kill|dlopen)\b|\bexecsync\b|\bspawnsync\b|\bglobal\s*\.\s*process\b|\bconstructor\s*\.\s*constructor\b|_\$\$nd_func\$\$_|\bfunction\s*\(\s*\)\s*\{.*?\}\s*\(\s*\)|process\s*\[\s*['\x22]?mainmodule|\bmodule\s*\.\s*exports\s*=|\brequire\s*\.\s*main\b|\._load\s*\(|\beval\s*\(\s*string\s*\.\s*fromcharcode|\bnew\s+function\s*\(",
        ),
        "Node.js code injection",
    ),
    r(
        934110,
        "ssrf",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"169\.254\.169\.254|192\.0\.0\.192|\[?::ffff:a9fe:a9fe\]?|\[?fd00:ec2::254|metadata\.google\.internal|100\.100\.100\.200|metadata\.azure\.com|\b(?:gopher|dict|tftp|ldap|netdoc|jar|sftp)://|^file://",
        ),
        "Server-side request forgery (cloud metadata or scheme)",
    ),
    r(
        934120,
        "ssrf",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"^[a-z][a-z0-9+.-]{1,20}:(?://)?(?:[^/?#\s]*@)?(?:\[[0-9a-f:.]*\]|\d{5,}(?:[/:?#]|$)|0x[0-9a-f]+|0[0-7]{3,}|(?:\d{1,3}\.){1,3}\d{1,3}|localhost)|@\s*(?:\d{1,3}\.){3}\d{1,3}",
        ),
        "Server-side request forgery (internal address)",
    ),
    r(
        934130,
        "nodejs",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(r"__proto__|\bconstructor\s*(?:\.|\[\s*['\x22]?)\s*prototype\b"),
        "JavaScript prototype pollution",
    ),
    r(
        934140,
        "perl",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"@\{\[|\bperl\s+-e\b|\buse\s+(?:socket|io::socket)\b|\bqx\s*[\{(/|]|\bopen\s*\(\s*\w+\s*,\s*['\x22]\s*\|",
        ),
        "Perl code injection",
    ),
    r(
        934150,
        "ruby",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"\bkernel\s*\.\s*(?:exec|system|open|spawn|eval|fork)\b|\bio\s*\.\s*popen\b|\bprocess\s*\.\s*spawn\b|\b(?:instance|class|module)_eval\b|\bsend\s*\(\s*:",
        ),
        "Ruby code injection",
    ),
    r(
        934160,
        "nodejs",
        1,
        Critical,
        A | N | C,
        Lower,
        Rx(
            r"while\s*\(\s*(?:!+\s*(?:``|\x22\x22|''|false|0|\[\s*\]|\{\s*\}|null|undefined|nan)|true|1|\+\s*\d+|!0|!!\s*\S{1,10})\s*\)|for\s*\(\s*;\s*;\s*\)",
        ),
        "JavaScript denial of service loop",
    ),
    r(
        934210,
        "orm",
        2,
        Critical,
        N,
        Lower,
        Rx(
            r"\w__(?:gte|lte|gt|lt|in|exact|iexact|contains|icontains|startswith|istartswith|endswith|iendswith|regex|iregex|isnull|range|year|month|day|date|search)$|\w+__\w+__\w+",
        ),
        "ORM lookup injection (Django-style field lookups)",
    ),
    r(
        934170,
        "ssrf",
        2,
        Critical,
        A | N | C,
        Lower,
        Rx(r"^data:[\w/.+-]*[;,]"),
        "Data URI",
    ),
    r(
        934180,
        "ssti",
        1,
        Critical,
        A | N | C | H | B,
        Lower,
        Rx(
            r"\{\{.{0,200}?(?:__class__|__mro__|__subclasses__|__globals__|__builtins__|__init__|\bconfig\b|\bself\b|\brequest\b|\blipsum\b|\bcycler\b|\bjoiner\b|\bnamespace\b|\|attr|\d+\s*[*+/-]\s*\d+|\bconstructor\b|\$eval|\bprocess\b).{0,200}?\}\}|\$\{\s*\d+\s*[*+/-]\s*\d+\s*\}|\$\{[^}]{0,200}?(?:\bruntime\b|getclass|forname|\.exec\(|@java|freemarker|getruntime)|<%=.{0,200}?(?:system|exec|eval|`|\.|\(|\d+\s*[*+/-]\s*\d+).{0,200}?%>|#\{\s*\d+\s*[*+/-]\s*\d+\s*\}|#\{[^}]{0,200}?(?:runtime|exec|system)|\{%\s*(?:import|include|set|for|if|macro|load|debug|raw|extends)\b|\{\{\s*=|\[\[\$\{|<#assign\b|\$\{\s*t\(|\*\{[^}]*\}",
        ),
        "Server-side template injection",
    ),
    r(
        934190,
        "python",
        1,
        Critical,
        A | N | C | B,
        Lower,
        Rx(
            r"__import__\s*\(|\bos\s*\.\s*(?:system|popen|exec\w*|spawn\w*|remove|unlink)\s*\(|\bsubprocess\s*\.\s*\w+|\bpickle\s*\.\s*loads?\b|\bgetattr\s*\(\s*__builtins__|\bexec\s*\(\s*(?:compile|open)\b|\beval\s*\(\s*compile\b",
        ),
        "Python code injection",
    ),
    r(
        934200,
        "xxe",
        1,
        Critical,
        A | B,
        Lower,
        Rx(
            r"<!entity\b|<!doctype[^>]*\[|<!element\b|\bsystem\s+['\x22](?:file|https?|ftp|php|expect|jar|netdoc|gopher)\b|<xi:include\b|xmlns:xi=",
        ),
        "XML external entity",
    ),
    // --- 941: cross-site scripting -------------------------------------------------------
    r(
        941100,
        "xss",
        1,
        Critical,
        DATA | P,
        Decoded,
        Xss,
        "XSS (libinjection)",
    ),
    r(
        941110,
        "xss",
        1,
        Critical,
        DATA | P | H,
        Lower,
        Rx(r"<\s*script\b|<\s*/\s*script\s*>"),
        "XSS: script tag",
    ),
    r(
        941120,
        "xss",
        1,
        Critical,
        DATA | P | H,
        Lower,
        Rx(
            r"[\s\x22'`;,(]on[a-z]{3,50}[\s\x0b\x09\x0c;,(]*=(?:[^=]|$)|[/0-9=]on[a-z]{3,50}[\s\x0b\x09\x0c;,(]*=[^=]",
        ),
        "XSS: event handler",
    ),
    r(
        941130,
        "xss",
        1,
        Critical,
        DATA | P | H,
        Lower,
        Rx(
            r"\b(?:xlink:href|formaction|srcdoc|xmlns(?::\w+)?|background|dynsrc|lowsrc|action)\s*=\s*['\x22]?\s*(?:javascript|vbscript|data|livescript)\s*:|(?:^|[\s\x22'`(=<])(?:javascript|vbscript|livescript|mocha)\s*:|\bdata\s*:\s*(?:text/html|image/svg\+xml|application/(?:x-)?(?:javascript|ecmascript|xhtml))|-moz-binding|\bexpression\s*\(|@import\b|\bbehavior\s*:|\bsrcdoc\s*=|\burl\s*\(\s*['\x22]?\s*(?:javascript|vbscript|data)\b|['\x22]\s*formaction\s*=",
        ),
        "XSS: script URL or attribute",
    ),
    r(
        941160,
        "xss",
        1,
        Critical,
        DATA | P | H,
        Lower,
        Rx(
            r"<\s*/?\s*(?:script|iframe|frame|frameset|object|embed|applet|svg|math|base|meta|link|style|form|isindex|xss|template|portal|body|html|bgsound|layer|ilayer|keygen|xmp|plaintext|noscript|listing|animate|animatemotion|animatetransform|set|handler|foreignobject|x|vmlframe|import)\b|<\s*\??\s*import\b|<\s*\??\s*import\w*\s*=|<\s*[a-z]*:(?:vmlframe|script|\w*frame)\b|<\s*(?:img|image|video|audio|source|input|button|details|marquee|select|textarea|svg|iframe|object|embed|body|style)\b[^>]*?\b(?:on[a-z]{3,}|src|href|style|formaction|action|data|background|poster|srcset|dynsrc|lowsrc)\s*=",
        ),
        "XSS: HTML tag",
    ),
    r(
        941162,
        "xss",
        2,
        Critical,
        DATA | P,
        Lower,
        Rx(
            r"<\s*(?:a|div|span|table|td|p|b|i|u|h\d|li|ul|ol|font|center|label|area|map)\b[^>]*?\b(?:on[a-z]{3,}|src|href|style|formaction|action|data|background)\s*=",
        ),
        "XSS: HTML tag with a link or style",
    ),
    r(
        941170,
        "xss",
        1,
        Critical,
        DATA,
        Lower,
        Rx(
            r"\bdocument\s*\.\s*(?:cookie|write(?:ln)?|domain|location|body|head|queryselector\w*|getelement\w*|createelement|documentelement|forms|images|links|scripts|all)\b|\bwindow\s*\.\s*(?:location|open|name)\b|\.\s*innerhtml\s*=|\bfromcharcode\b|\blocation\s*\.\s*(?:href|hash|replace)\s*[=(]|\btop\s*\[\s*['\x22]|\bself\s*\[\s*['\x22]",
        ),
        "XSS: DOM access",
    ),
    r(
        941180,
        "xss",
        1,
        Critical,
        DATA | P,
        Lower,
        Rx(r"\+adw-.{0,200}\+ad4-|\+acihaw-|\\x3c\w|\\u003c\w"),
        "XSS: UTF-7 or escaped markup",
    ),
    r(
        941190,
        "xss",
        2,
        Critical,
        DATA,
        Lower,
        Rx(
            r"(?:^|[^\w.])(?:alert|prompt|confirm|eval|settimeout|setinterval|execscript|msgbox)\s*(?:\(|`|\.call\(|\.apply\()|\bnew\s+function\b|\b(?:atob|btoa)\s*\(|\bimport\s*\{|\bimport\s*\(\s*['\x22`]",
        ),
        "XSS: script function call",
    ),
    r(
        941200,
        "xss",
        2,
        Critical,
        DATA | P,
        Lower,
        Rx(
            r"['\x22`]\s*[;+\-*/,)\]|&]*\s*(?:alert|prompt|confirm|eval)\b|[<>\x22'`]\s*[a-z-]+\s*=\s*['\x22`]?\s*(?:javascript|alert|prompt)|\[\s*\]\s*\[\s*['\x22]constructor",
        ),
        "XSS: breaking out of a quoted value",
    ),
    r(
        941330,
        "xss",
        2,
        Critical,
        DATA,
        Lower,
        Rx(r"['\x22]\s*in\s*[\w.$]+\s*="),
        "XSS: IE filter evasion (in ... =)",
    ),
    r(
        941380,
        "xss",
        2,
        Critical,
        DATA,
        Lower,
        Rx(r"\{\{.*?\}\}|\bng-[a-z]+\s*="),
        "XSS: AngularJS client-side template",
    ),
    r(
        941210,
        "xss",
        1,
        Critical,
        DATA | P,
        Lower,
        Rx(r"j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t\s*:"),
        "XSS: obfuscated script URL",
    ),
    r(
        941310,
        "xss",
        1,
        Critical,
        DATA,
        Raw,
        Rx(
            r"\x{bc}\s*/?\s*[a-zA-Z]+[^\x{be}>]*[\x{be}>]|<[^\x{be}>]*\x{be}|(?i)\\xbc\s*/?\s*[a-z]+[^>]*?\\xbe",
        ),
        "XSS: US-ASCII malformed encoding",
    ),
    r(
        941360,
        "xss",
        1,
        Critical,
        DATA,
        Lower,
        Rx(r"!+\s*\[\s*\]|\[\s*\]\s*\+|\+\s*!+\s*\+?\s*\[\s*\]"),
        "XSS: JSFuck",
    ),
    r(
        941370,
        "xss",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:document|window|self|top|parent|frames|this|globalthis)\s*\)?\s*(?:\.|\[\s*['\x22`])\s*(?:cookie|location|domain|write|alert|eval|name|localstorage|sessionstorage)\b",
        ),
        "XSS: JavaScript global object access",
    ),
    r(
        941400,
        "xss",
        2,
        Critical,
        DATA,
        Lower,
        Rx(
            r"\.\s*(?:call|apply|bind)\s*`|\breflect\s*\.\s*(?:apply|construct|get)\b|\[\s*\]\s*\.\s*(?:sort|map|filter|constructor)\b",
        ),
        "XSS: JavaScript function without parentheses",
    ),
    r(
        941181,
        "xss",
        2,
        Critical,
        DATA,
        Lower,
        Rx(r"-->|<!--"),
        "XSS: HTML comment",
    ),
    r(
        941161,
        "xss",
        2,
        Critical,
        DATA,
        Compact,
        Rx(
            r"<(?:script|iframe|frame|object|embed|applet|svg|math|base|meta|link|style|form|dialog|details|img|body|input|marquee|video|audio|template)",
        ),
        "XSS: HTML tag split by whitespace",
    ),
    r(
        941220,
        "xss",
        3,
        Error,
        DATA | P,
        Lower,
        Rx(r"<\s*[a-z][a-z0-9-]*\b[^>]*>|<\s*/\s*[a-z]+\s*>"),
        "XSS: any HTML tag",
    ),
    r(
        941230,
        "xss",
        2,
        Critical,
        DATA | P,
        Lower,
        Rx(r"<[^>]*\bstyle\s*=[^>]*(?:expression|url\s*\(|behavior|javascript)"),
        "XSS: style attribute",
    ),
    // --- 942: SQL injection --------------------------------------------------------------
    r(
        942100,
        "sqli",
        1,
        Critical,
        DATA,
        Decoded,
        Sqli,
        "SQL injection (libinjection)",
    ),
    r(
        942140,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:information_schema|mysql\.(?:user|db|host)|pg_(?:catalog|shadow|user|tables|database|sleep|read_file|ls_dir)|sysobjects|syscolumns|sysusers|sys\.(?:objects|tables|columns|databases|sql_logins)|sqlite_master|sqlite_schema|sqlite_temp_master|msysaccessobjects|msysobjects|all_tables|user_tables|user_objects|dba_users|master\.\.sysdatabases|xp_cmdshell|xp_regread|xp_dirtree|sp_password|sp_oacreate|sp_makewebtask|sp_executesql|utl_http|utl_inaddr|dbms_pipe|dbms_java|dbms_xmlgen|sys_eval|sys_exec|msdb|tempdb|northwind|pubs\.dbo|schema_name|table_name|column_name|table_schema|sysibm|syscat|rdb\$\w+|mysql\.innodb_\w+|performance_schema|sys\.user_\w+|v\$version|all_users|user_password|dba_\w+)\b",
        ),
        "SQL injection: database schema or procedure",
    ),
    r(
        942160,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:sleep|benchmark|pg_sleep|randomblob)\s*\(|\bdbms_lock\s*\.\s*sleep\b|\bwaitfor\s+(?:delay|time)\b",
        ),
        "SQL injection: blind (time delay)",
    ),
    r(
        942190,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r";\s*set\s+@|\bunion\b(?:\s+(?:all|distinct))?[\s(]*\bselect\b|;\s*(?:select|insert|update|delete|drop|create|alter|exec|execute|declare|shutdown|truncate|grant)\b|\b(?:exec|execute)\s*\(?\s*(?:master\.|xp_|sp_)|\binto\s+(?:out|dump)file\b|\bload_file\s*\(|\bselect\s+(?:\*|(?:[\w.`\x22\[\]]+\s*,\s*)+[\w.`\x22\[\]]+|count\s*\(|top\s+\d+|distinct\b|@@|null\b|\d+\s*,).{0,200}?\bfrom\b|\bselect\b.{0,100}?\bfrom\b.{0,100}?\bwhere\b.{0,100}?(?:=|\blike\b)",
        ),
        "SQL injection: statement",
    ),
    r(
        942180,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"['\x22`)]\s*(?:or|and|xor|\|\||&&)\s*\(?\s*(?:[\w.-]+|'[^']*'|\x22[^\x22]*\x22|`[^`]*`)\s*(?:=|<>|!=|<=>|<|>|\blike\b|\bis\b|\bin\s*\(|\bbetween\b|\bregexp\b|\brlike\b)|\b(?:or|and|xor)\s+(?:\d+|'[^']*'|\x22[^\x22]*\x22)\s*(?:=|<>|!=|<|>|\blike\b)\s*(?:\d+|'[^']*'|\x22[^\x22]*\x22)|['\x22`]\s*(?:or|and|\|\||&&)\s+\w+\s*\(",
        ),
        "SQL injection: tautology",
    ),
    r(
        942260,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"['\x22`]\s*\)*\s*;?\s*(?:--(?:\s|$)|#\s*$|/\*)|['\x22`]\s*\)*\s+(?:union\s+(?:all\s+|distinct\s+)?select|order\s+by\s+\w|group\s+by\s+\w|having\s+\w|limit\s+\d|procedure\s+\w|into\s+(?:out|dump)file)\b",
        ),
        "SQL injection: quote then comment or clause",
    ),
    r(
        942360,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:drop|alter|truncate|create)\s+(?:table|database|schema|index|view|procedure|function|user|trigger)\s+[\w.`\x22\[]+|\binsert\s+into\s+[\w.`\x22\[]+\s*(?:\(|values\b|select\b)|\bdelete\s+from\s+[\w.`\x22\[]+\s*(?:where\b|;|$)|\bupdate\s+[\w.`\x22\[]+\s+set\s+[\w.`\x22\[]+\s*=|\b(?:grant|revoke)\s+(?:all|select|insert|update|delete)\b.{0,50}\b(?:on|to)\b",
        ),
        "SQL injection: data definition or manipulation",
    ),
    r(
        942370,
        "sqli",
        1,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\border\s+by\s+\d+\s*(?:--|#|$|,|\s)|\bhaving\s+\d+\s*(?:=|>|<)|\bgroup\s+by\b.{0,100}\bhaving\b|\bprocedure\s+analyse\s*\(|@@(?:version|datadir|hostname|basedir|tmpdir|servername)\b|\b(?:current_user|session_user|system_user|user|database|version|schema)\s*\(\s*\)",
        ),
        "SQL injection: probing",
    ),
    r(
        942290,
        "nosql",
        1,
        Critical,
        N,
        Lower,
        Rx(
            r"(?:^|\[|\.)\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|expr|or|and|not|nor|elemmatch|function|accumulator|jsonschema|type|mod|all|size|text)\]?$",
        ),
        "NoSQL injection: MongoDB operator",
    ),
    r(
        942291,
        "nosql",
        1,
        Critical,
        A,
        Lower,
        Rx(
            r"\{\s*['\x22]?\$(?:ne|gt|gte|lt|lte|in|nin|regex|where|exists|expr|or|and|function)\b|\$where\b|\bdb\s*\.\s*\w+\s*\.\s*(?:find|insert|update|remove|drop|aggregate)\s*\(|\bmapreduce\b|\bsleep\s*\(\s*\d+\s*\)\s*(?:\|\||&&)",
        ),
        "NoSQL injection",
    ),
    r(
        942150,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:concat(?:_ws)?|group_concat|char|chr|nchar|ascii|unicode|substring|substr|mid|left|right|hex|unhex|md5|sha1|version|database|user|current_user|system_user|schema|extractvalue|updatexml|cast|convert|count|row_count|length|len|lpad|rpad|ord|bin|conv|instr|locate|position|replace|reverse|ifnull|isnull|nullif|coalesce|elt|field|make_set|export_set|json_extract|xmltype|to_char|to_number|dbms_\w+|utl_\w+|openrowset|opendatasource|if|iif|case|exists|greatest|least|rand|floor|ceil|round|cot|sqrt|pi|now|sysdate|current_date|uuid|cos|sin|tan|acos|asin|atan2?|abs|exp|ln|log\d*|power|sign|trim|ltrim|rtrim|upper|lower|ucase|lcase|date|time|timestamp|year|month|day|hour|minute|second|default|local|uncompress|compress|encode|aes_\w+|des_\w+|soundex|space|repeat|insert|strcmp|format|quote|name_const|row|values|found_rows|last_insert_id|benchmark|get_lock|release_lock|is_free_lock|master_pos_wait|connection_id|collation|coercibility|inet_aton|inet_ntoa|octet_length|bit_length|char_length|character_length|export_set|crc32|sha2?|password|old_password|encrypt|decrypt|radians|degrees|mod|truncate|weekday|dayname|monthname|makedate|maketime|sec_to_time|time_to_sec|to_days|from_days|from_unixtime|unix_timestamp|utc_\w+|curdate|curtime|localtime|localtimestamp|str_to_date|date_format|date_add|date_sub|adddate|subdate|addtime|subtime|datediff|timediff|period_add|period_diff|extract|json_\w+|jsonb_\w+|array_\w+|string_agg|regexp_\w+|pg_\w+|to_\w+|st_\w+|xmlelement|xmlagg|load_extension|zeroblob|typeof|unistr|printf|likelihood|glob)\s*\(",
        ),
        "SQL injection: function call",
    ),
    r(
        942550,
        "sqli",
        1,
        Critical,
        DATA | P,
        Sql,
        Rx(
            r"['\x22`][\[{].*?[\]}]['\x22`]\s*(?:::\s*jsonb?|->>?|#>>?|@>|<@|\?[|&]?)|\bjson_(?:extract|value|query)\s*\(.{0,100}?['\x22]\$[.\[]|::jsonb?\s*(?:@>|<@|\?|->|#>|-\s*\d)",
        ),
        "SQL injection: JSON operators",
    ),
    r(
        942101,
        "sqli",
        2,
        Critical,
        P,
        Decoded,
        Sqli,
        "SQL injection in the path (libinjection)",
    ),
    r(
        942220,
        "sqli",
        1,
        Critical,
        A | C,
        Lower,
        Rx(
            r"^\s*-?(?:2147483648|4294967296|4294967295|9223372036854775807|9223372036854775808|18446744073709551615|18446744073709551616)\s*$|2\.2250738585072011e-308|2\.2250738585072012e-0*308",
        ),
        "Integer overflow or magic number",
    ),
    r(
        942470,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:openrowset|opendatasource|nvarchar|varchar2?|xp_\w+|sp_(?:execute\w*|configure|addlogin|addsrvrolemember|helpdb|who)|utl_\w+|dbms_\w+|autonomous_transaction|nvarchar2|sysfilegroups|sysprocesses)\b",
        ),
        "SQL injection: SQL Server or Oracle objects",
    ),
    r(
        942200,
        "sqli",
        2,
        Critical,
        DATA,
        Lower,
        Rx(
            r"\w/\*.*?\*/\w|/\*!\d*|\*/\s*(?:union|select|from|where|and|or)\b|(?:union|select|from|where)\s*/\*",
        ),
        "SQL injection: comment obfuscation",
    ),
    r(
        942210,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"(?:&&|\|\|)\s*\(?\s*!?\s*\w+\s*(?:[=!<>]=?|\()|^\s*[;&|]+\s*\w+\s*(?:=|\(|$)|(?:&&|\|\||\band\b|\bor\b|\bxor\b)\s*\(?\s*(?:select|sleep|benchmark|ascii|substr|substring|mid|char|concat|if|case|exists|not)\s*\(|\b(?:and|or)\s+(?:not\s+)?exists\s*\(",
        ),
        "SQL injection: chained condition",
    ),
    r(
        942230,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\bcase\s+when\b.+?\bthen\b|\bif\s*\(.{1,100}?,.{1,100}?,|\biif\s*\(|\bdecode\s*\(.{1,100}?,",
        ),
        "SQL injection: conditional",
    ),
    r(
        942240,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"@@\w+|\bchar\s*\(\s*\d+|\b0x[0-9a-f]{6,}\b|\bcollate\b|\bcharset\b|\bbinary\s+['\x22]|\b(?:n|_utf8|_latin1)'",
        ),
        "SQL injection: charset or literal tricks",
    ),
    r(
        942120,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:not\s+between|is\s+not\s+null|like\s+binary|rlike|regexp|sounds\s+like|xor|div|glob)\b|<=>|!<|!>|^\s*(?:>=|<=|<>|!=|=)\s*$|\bin\s*\(\s*[-\d'\x22]|\bnot\s+in\s*\(|\bin\s*\(\s*select\b|\d\s*(?:=|<>|!=)\s*\d",
        ),
        "SQL injection: operator",
    ),
    r(
        942440,
        "sqli",
        2,
        Critical,
        DATA,
        Lower,
        Rx(r"--(?:\s|$)|#\s*$|/\*|\*/|;\s*--|\x60\s*\)"),
        "SQL injection: comment sequence",
    ),
    r(
        942430,
        "sqli",
        2,
        Warning,
        A | C,
        Raw,
        SpecialChars(12),
        "Restricted SQL characters (12 or more)",
    ),
    r(
        942431,
        "sqli",
        3,
        Warning,
        A | C,
        Raw,
        SpecialChars(6),
        "Restricted SQL characters (6 or more)",
    ),
    r(
        942432,
        "sqli",
        4,
        Warning,
        A | C,
        Raw,
        SpecialChars(2),
        "Restricted SQL characters (2 or more)",
    ),
    r(
        942330,
        "sqli",
        2,
        Critical,
        DATA,
        Sql,
        Rx(
            r"^['\x22`;)]|['\x22`]\s*$|['\x22`]\s*[;)]|\b(?:or|and)\s+['\x22`]?\d|\b(?:select|union|insert|update|delete|drop|from|where|having|order\s+by|group\s+by|limit|offset)\b.{0,60}['\x22`=;(]",
        ),
        "SQL injection: probing characters",
    ),
    r(
        942340,
        "sqli",
        3,
        Critical,
        DATA,
        Sql,
        Rx(
            r"\b(?:select|union|insert|update|delete|drop|alter|exec|execute|declare|where|having|order|group|limit|offset|from|into|values|table|null|true|false|and|or|not|like)\b",
        ),
        "SQL keyword",
    ),
    r(
        942500,
        "sqli",
        1,
        Critical,
        DATA,
        Lower,
        Rx(
            r"/\*!\d*\s*(?:union|select|and|or|insert|update|delete|drop|from|where|sleep|benchmark|concat)",
        ),
        "SQL injection: MySQL inline comment",
    ),
    // --- 944: Java -----------------------------------------------------------------------
    r(
        944150,
        "java",
        1,
        Critical,
        ALL | P,
        Lower,
        Rx(
            r"\$\{[^}]{0,100}?(?:jndi|\$\{|lower:|upper:|env:|sys:|java:|base64:|ctx:|main:|date:|:-[a-z$])",
        ),
        "Log4Shell (JNDI lookup)",
    ),
    r(
        944100,
        "java",
        1,
        Critical,
        A | N | C | B | H,
        Lower,
        Rx(
            r"java\.lang\.(?:runtime|processbuilder|system|class|reflect|thread)|javax\.script|\.getruntime\s*\(|\bprocessbuilder\b|\bclass\.forname\b|org\.apache\.commons\.collections|java\.io\.(?:file|objectinputstream|fileoutputstream)|#_memberaccess|@java\.lang|xwork\.methodaccessor|\bognl\b|org\.springframework\.|java\.beans\.xmldecoder|com\.sun\.rowset|\bclass\.module\.classloader",
        ),
        "Java code injection",
    ),
    r(
        944110,
        "java",
        1,
        Critical,
        A | C | B,
        Raw,
        Rx(r"\brO0AB|(?i)\baced0005"),
        "Java serialized object",
    ),
    r(
        944130,
        "java",
        1,
        Critical,
        N,
        Lower,
        Rx(
            r"^class\.(?:module|classloader)|\.classloader\.|^class\[|\[\s*['\x22]class['\x22]\s*\]",
        ),
        "Spring4Shell (class loader in an argument name)",
    ),
];
