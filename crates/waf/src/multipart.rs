//! `multipart/form-data` (RFC 7578) taken apart for inspection: each part's field name,
//! file name and body. Only what inspection needs; the upstream gets the bytes unchanged.
//! Total on any input: a body that is not what its content type says is `None`.

/// One part.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Part {
    /// `name` of its `Content-Disposition`.
    pub name: Option<String>,
    /// The file name of its `Content-Disposition`: `filename*` when it has one (RFC 6266
    /// §4.3: it wins, before or after `filename`), or `filename`.
    pub filename: Option<String>,
    /// `filename` when `filename*` is there too: a parser that does not read `filename*`
    /// takes this one (both are inspected; black-box pass 11, B11-5).
    pub plain_filename: Option<String>,
    /// The file name and the field name as RFC 2231's continuations and encoded forms
    /// spell them (`filename*0=`, `filename*1*=`, `name*=`), which some parsers read: both
    /// inspected too (black-box pass 12, B12-5).
    pub continued_filename: Option<String>,
    /// See `continued_filename`.
    pub continued_name: Option<String>,
    /// The file name with RFC 2047's encoded words decoded (`=?UTF-8?B?c2hlbGwucGhw?=` is
    /// `shell.php`), as Commons FileUpload and Tomcat read them: inspected too (black-box
    /// pass 13, B13-12).
    pub encoded_filename: Option<String>,
    /// Its `Content-Type`, lower-cased.
    pub content_type: Option<String>,
    /// Its headers do not read one way only (two `Content-Disposition` headers, a
    /// parameter without a value or with space before `=`, one given twice, a folded
    /// line): parsers differ on it, so inspection refuses to guess.
    pub irregular: bool,
    /// It has a `Content-Transfer-Encoding` header that changes its content (deprecated by
    /// RFC 7578: a parser that decodes base64 or quoted-printable hands the application
    /// what inspection did not read). `7bit`, `8bit` and `binary` say the content is as it
    /// is (Apache HttpClient and JAX-RS clients send them on file parts): not counted.
    pub transfer_encoding: bool,
    /// A header name with a character outside `!`..`~` (CRS 922130).
    pub odd_header_name: bool,
    /// Its body.
    pub body: Vec<u8>,
}

/// Parts read at most (more is malformed as far as inspection goes).
const MAX_PARTS: usize = 1024;

/// The boundary parameter of a (lower-cased) multipart content type. `None` also when it
/// is ambiguous, since parsers differ on which to take: two `boundary` parameters, the
/// RFC 2231 form (`boundary*=`), or irregular parameter syntax (see [`params`]).
pub fn boundary(content_type: &str) -> Option<String> {
    let (params, irregular) = params(content_type);
    if irregular {
        return None;
    }
    let mut found = params
        .iter()
        .filter(|(k, _)| k == "boundary" || k.starts_with("boundary*"));
    let (key, value) = found.next()?;
    if found.next().is_some() || key != "boundary" {
        return None;
    }
    Some(value.clone()).filter(|b| !b.is_empty() && b.len() <= 200)
}

/// The parts of `body`, or `None` when it is not multipart with this boundary.
pub fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    parse_parts(body, boundary, false)
}

/// The parts of the first bytes of a longer body (or of a broken one): every whole part,
/// and the last one as far as it goes, so what a lenient parser upstream would read is
/// inspected all the same. Empty when not even one part starts.
pub fn parse_prefix(body: &[u8], boundary: &str) -> Vec<Part> {
    parse_parts(body, boundary, true).unwrap_or_default()
}

fn parse_parts(body: &[u8], boundary: &str, prefix: bool) -> Option<Vec<Part>> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // The content type was lower-cased; boundaries compare without case here, which only
    // makes inspection see more.
    let lower = body.to_ascii_lowercase();
    let mut at = find(&lower, delim, 0)?;
    let mut parts = Vec::new();
    loop {
        let after = at + delim.len();
        if lower.get(after..after + 2) == Some(b"--") {
            // Parts after the closing delimiter (the epilogue) are read by parsers that
            // do not stop there (PHP's, by ModSecurity's account): inspected as parts too
            // (black-box pass 13, B13-19).
            match find(&lower, delim, after + 2) {
                Some(next) if parts.len() <= MAX_PARTS => {
                    at = next;
                    continue;
                }
                _ => return Some(parts),
            }
        }
        let Some(head_start) = skip_line_end(&lower, after) else {
            return prefix.then_some(parts);
        };
        let (next, last) = match find(&lower, delim, head_start) {
            Some(next) => (next, false),
            None if prefix => (body.len(), true),
            None => return None,
        };
        let part = body.get(head_start..next)?;
        let part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        match one(part) {
            Some(p) => parts.push(p),
            None if prefix => return Some(parts),
            None => return None,
        }
        if parts.len() > MAX_PARTS || last {
            return (parts.len() <= MAX_PARTS).then_some(parts);
        }
        at = next;
    }
}

/// After the boundary: optional whitespace, then a line end.
fn skip_line_end(b: &[u8], mut i: usize) -> Option<usize> {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match (b.get(i), b.get(i + 1)) {
        (Some(b'\r'), Some(b'\n')) => Some(i + 2),
        (Some(b'\n'), _) => Some(i + 1),
        _ => None,
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// One part: headers, a blank line, the body.
fn one(part: &[u8]) -> Option<Part> {
    let (head, body) = match find(part, b"\r\n\r\n", 0) {
        Some(p) => (part.get(..p)?, part.get(p + 4..)?),
        None => {
            let p = find(part, b"\n\n", 0)?;
            (part.get(..p)?, part.get(p + 2..)?)
        }
    };
    let head = String::from_utf8_lossy(head);
    let mut out = Part {
        body: body.to_vec(),
        ..Part::default()
    };
    let mut dispositions = 0;
    let (mut plain, mut star) = (None, None);
    let mut continued: Vec<(bool, u32, String)> = Vec::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            out.irregular |= !line.trim().is_empty();
            continue;
        };
        // A folded line (obs-fold), which some parsers join to the header before.
        out.irregular |= name.starts_with([' ', '\t']);
        out.odd_header_name |= !name.trim_start().bytes().all(|b| b.is_ascii_graphic());
        out.transfer_encoding |= name
            .trim()
            .eq_ignore_ascii_case("content-transfer-encoding")
            && !["7bit", "8bit", "binary"]
                .iter()
                .any(|v| value.trim().eq_ignore_ascii_case(v));
        if name.trim().eq_ignore_ascii_case("content-type") {
            out.content_type = Some(value.trim().to_ascii_lowercase());
            continue;
        }
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        dispositions += 1;
        let (params, irregular) = params(value);
        out.irregular |= irregular || dispositions > 1;
        for (k, v) in params {
            match k.as_str() {
                "name" => out.name = Some(v),
                "filename" => plain = Some(v),
                // RFC 5987: charset'language'percent-encoded, which wins over `filename`.
                "filename*" => {
                    out.irregular |= v.is_empty();
                    let encoded = v.splitn(3, '\'').nth(2).unwrap_or(&v);
                    star = Some(crate::decode::url_decode(encoded, false).into_owned());
                }
                other => {
                    if let Some((base, rest)) = other.split_once('*')
                        && (base == "filename" || base == "name")
                    {
                        let encoded = rest.is_empty() || rest.ends_with('*');
                        let n: u32 = rest.trim_end_matches('*').parse().unwrap_or(0);
                        let value = if encoded {
                            // The first part may start with charset'language'.
                            let v = match v.splitn(3, '\'').nth(2) {
                                Some(after) if n == 0 => after,
                                _ => &v,
                            };
                            crate::decode::url_decode(v, false).into_owned()
                        } else {
                            v
                        };
                        continued.push((base == "name", n, value));
                    }
                }
            }
        }
    }
    continued.sort_by_key(|(is_name, n, _)| (*is_name, *n));
    for is_name in [false, true] {
        let joined: String = continued
            .iter()
            .filter(|(name, _, _)| *name == is_name)
            .map(|(_, _, v)| v.as_str())
            .collect();
        if !joined.is_empty() {
            if is_name {
                out.continued_name = Some(joined);
            } else {
                out.continued_filename = Some(joined);
            }
        }
    }
    out.encoded_filename = plain.as_deref().and_then(encoded_words);
    match star {
        Some(star) => {
            out.filename = Some(star);
            out.plain_filename = plain;
        }
        None => out.filename = plain,
    }
    // A part named a file by continuations only is a file part all the same (scanned for
    // malware as one).
    if out.filename.is_none() {
        out.filename = out.continued_filename.take();
    }
    Some(out)
}

/// `value` with its RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`)
/// decoded, read as UTF-8 (lossily) whatever the charset; `None` when it holds none.
fn encoded_words(value: &str) -> Option<String> {
    use base64::Engine as _;
    if !value.contains("=?") {
        return None;
    }
    let mut out = String::new();
    let mut rest = value;
    let mut found = false;
    while let Some(start) = rest.find("=?") {
        let word = rest.get(start + 2..).unwrap_or_default();
        let mut fields = word.splitn(3, '?');
        let (Some(_charset), Some(encoding), Some(tail)) =
            (fields.next(), fields.next(), fields.next())
        else {
            break;
        };
        let Some(end) = tail.find("?=") else { break };
        let text = tail.get(..end).unwrap_or_default();
        let decoded = match encoding {
            "B" | "b" => base64::engine::general_purpose::STANDARD
                .decode(text.trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(text.trim_end_matches('='))
                })
                .ok(),
            "Q" | "q" => Some(q_decode(text)),
            _ => None,
        };
        let Some(decoded) = decoded else { break };
        out.push_str(rest.get(..start).unwrap_or_default());
        out.push_str(&String::from_utf8_lossy(&decoded));
        found = true;
        let consumed = start + 2 + (word.len() - tail.len()) + end + 2;
        rest = rest.get(consumed..).unwrap_or_default();
    }
    out.push_str(rest);
    found.then_some(out)
}

/// RFC 2047's Q encoding: `_` is a space, `=HH` a byte.
fn q_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'_', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The parameters of a Content-Disposition value (see [`params`]).
#[cfg(test)]
fn disposition_params(value: &str) -> Vec<(String, String)> {
    params(value).0
}

/// The parameters after the first `;` of a header value (`form-data; name="a"`), names
/// lower-cased, a quoted value read whole whatever it holds (`;` included) with its
/// backslash escapes undone; and whether the syntax was irregular, which parsers read
/// differently: a parameter without `=`, space before or after `=`, text after a closing
/// quote, an empty name, or a name given twice.
pub fn params(value: &str) -> (Vec<(String, String)>, bool) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut irregular = false;
    let mut chars = value.chars().peekable();
    // The type (`form-data`, `multipart/mixed`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    while chars.peek().is_some() {
        let mut key = String::new();
        let mut valued = false;
        for c in chars.by_ref() {
            if c == '=' {
                valued = true;
                break;
            }
            if c == ';' {
                break;
            }
            key.push(c);
        }
        let name = key.trim().to_ascii_lowercase();
        if !valued {
            irregular |= !name.is_empty();
            continue;
        }
        irregular |= name.is_empty() || key.ends_with(char::is_whitespace);
        irregular |= chars.peek().is_some_and(|c| c.is_whitespace());
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut v = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => v.extend(chars.next()),
                    c => v.push(c),
                }
            }
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                irregular |= !c.is_whitespace();
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                v.push(c);
            }
            v = v.trim().to_owned();
        }
        irregular |= out.iter().any(|(k, _)| *k == name);
        out.push((name, v));
    }
    (out, irregular)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded() {
        assert_eq!(
            encoded_words("=?UTF-8?B?c2hlbGwucGhw?=").as_deref(),
            Some("shell.php")
        );
        assert_eq!(
            encoded_words("=?UTF-8?Q?=3Cscript=3Ealert(1)=3C/script=3E?=").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert_eq!(
            encoded_words("a =?iso-8859-1?q?caf=E9_x?= b.txt").as_deref(),
            Some("a caf\u{FFFD} x b.txt")
        );
        assert_eq!(encoded_words("report.pdf"), None);
        assert_eq!(encoded_words("=?broken"), None);
        assert_eq!(encoded_words("=?UTF-8?X?abc?="), None);
    }

    #[test]
    fn parts_after_the_closing_delimiter_are_read() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nok\r\n--b--\r\n--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n<script>\r\n--b--\r\n";
        let parts = parse(body, "b").unwrap();
        let names: Vec<_> = parts.iter().filter_map(|p| p.name.as_deref()).collect();
        assert_eq!(names, ["a", "x"]);
        // An epilogue of text only is no part.
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nok\r\n--b--\r\nbye\r\n";
        assert_eq!(parse(body, "b").unwrap().len(), 1);
    }

    #[test]
    fn quoted_names_are_read_whole() {
        let got = disposition_params(
            r#" form-data; name=";cat /etc/passwd"; filename="a\"b;c.txt" ; x=1"#,
        );
        assert_eq!(
            got,
            [
                ("name".to_owned(), ";cat /etc/passwd".to_owned()),
                ("filename".to_owned(), "a\"b;c.txt".to_owned()),
                ("x".to_owned(), "1".to_owned()),
            ]
        );
        let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%3Bcat%20x\r\n\r\nv\r\n--b--\r\n";
        let parts = parse(body, "b").unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some(";cat x"));
    }

    #[test]
    fn fields_and_files_are_read() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=xyz").unwrap_or_default();
        let parts = parse(body, &b).unwrap_or_default();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.first().and_then(|p| p.name.as_deref()), Some("a"));
        assert_eq!(
            parts.first().map(|p| p.body.as_slice()),
            Some(b"hello".as_slice())
        );
        assert_eq!(
            parts.get(1).and_then(|p| p.filename.as_deref()),
            Some("x.php")
        );
    }

    #[test]
    fn the_first_bytes_of_a_longer_body_give_their_parts() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' UNION SELECT\r\n--b\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\naaaaaaaa";
        assert!(parse(body, "b").is_none());
        let parts = parse_prefix(body, "b");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts.first().map(|p| p.body.as_slice()),
            Some(b"1' UNION SELECT".as_slice())
        );
        assert_eq!(parts.get(1).and_then(|p| p.name.as_deref()), Some("pad"));
        // Cut anywhere: no panic, never more than what is there.
        for n in 0..body.len() {
            let parts = parse_prefix(body.get(..n).unwrap_or_default(), "b");
            assert!(parts.len() <= 2);
        }
        assert!(parse_prefix(b"no boundary", "b").is_empty());
    }

    #[test]
    fn broken_bodies_are_none_and_never_panic() {
        assert!(parse(b"no boundary here", "b").is_none());
        assert!(parse(b"--b\r\nno blank line", "b").is_none());
        for n in 0..40 {
            let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--";
            let _ = parse(body.get(..n).unwrap_or_default(), "b");
        }
    }
}
