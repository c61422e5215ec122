//! The decodings attacks hide behind, undone before any rule looks: URL encoding (repeated,
//! so double encoding does not pass, and IIS's `%uHHHH`), HTML entities, JavaScript and C
//! escapes (`\uHHHH`, `\xHH`, octal), NUL bytes, and Unicode compatibility forms (NFKC:
//! fullwidth `＜script＞` is `<script>`). Then the folds rules match on: lower case with
//! whitespace runs made one space, SQL comments removed, and the shell's view of a command
//! line (`c\a"t /et'c'/pa''sswd` is `cat /etc/passwd`).
//!
//! Every function is total: any bytes in, a string out, no panics, bounded work (each pass
//! is linear and the number of passes is fixed).

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

mod shell;

pub use shell::cmd_line;
#[cfg(test)]
use shell::{cmd_line_always, cmd_line_ascii, cmd_line_chars};

/// URL decoding passes at most (`%252527` is three encodings of `'`).
const URL_PASSES: usize = 3;

/// Decodes `%HH` (and `%uHHHH`); `plus` turns `+` into a space (form encoding). Invalid
/// escapes stay as they are.
pub fn url_decode(s: &str, plus: bool) -> Cow<'_, str> {
    if !(s.contains('%') || plus && s.contains('+')) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let Some(v) = hex2(b.get(i + 1..i + 3)) {
                out.push(v);
                i += 3;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u' | b'U'))
                && let Some(cp) = hex_n(b.get(i + 2..i + 6))
            {
                // IIS reads `%u` by best fit: the slashes that look like `/` and `\` are.
                let cp = match cp {
                    0x2215 | 0x2044 | 0x29F8 => 0x2F,
                    0x2216 | 0x29F5 | 0x29F9 | 0xFE68 => 0x5C,
                    cp => cp,
                };
                push_char(&mut out, cp);
                i += 6;
                continue;
            }
        }
        out.push(if plus && c == b'+' { b' ' } else { c });
        i += 1;
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| lenient_utf8(e.as_bytes())))
}

/// Bytes that are not UTF-8, read as lenient decoders read them (legacy Java, IIS and PHP
/// stacks): an overlong form is the character it spells (`C0 AF` is `/`, `E0 80 AE` is
/// `.`, `C1 9C` is `\`), where a strict decoder has a replacement character and a lenient
/// one hands the application `../` (black-box pass 11, B11-6). Other bytes that are not
/// UTF-8 are replacement characters.
fn lenient_utf8(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let byte = |i: usize| b.get(i).copied().map_or(0, u32::from);
    let cont = |i: usize| b.get(i).is_some_and(|&c| (0x80..=0xBF).contains(&c));
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let (cp, len) = match c {
            // Any byte after C0 or C1, as IIS read it (`%c1%1c` is `\\`, `%c0%2f` is `/`).
            0xC0 | 0xC1 if b.get(i + 1).is_some() => {
                (((byte(i) & 0x1F) << 6) | (byte(i + 1) & 0x3F), 2)
            }
            0xE0 if b.get(i + 1).is_some_and(|c| (0x80..=0x9F).contains(c)) && cont(i + 2) => (
                ((byte(i) & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F),
                3,
            ),
            0xF0 if b.get(i + 1).is_some_and(|c| (0x80..=0x8F).contains(c))
                && cont(i + 2)
                && cont(i + 3) =>
            {
                (
                    ((byte(i + 1) & 0x3F) << 12)
                        | ((byte(i + 2) & 0x3F) << 6)
                        | (byte(i + 3) & 0x3F),
                    4,
                )
            }
            // The five- and six-byte forms of the first UTF-8 (RFC 2279).
            0xF8..=0xFB if (1..5).all(|k| cont(i + k)) => (
                (1..5).fold(byte(i) & 0x03, |cp, k| (cp << 6) | (byte(i + k) & 0x3F)),
                5,
            ),
            0xFC | 0xFD if (1..6).all(|k| cont(i + k)) => (
                (1..6).fold(byte(i) & 0x01, |cp, k| (cp << 6) | (byte(i + k) & 0x3F)),
                6,
            ),
            _ => {
                // One character as it is, if one starts here.
                let ch =
                    (1..=4).find_map(|n| b.get(i..i + n).and_then(|s| std::str::from_utf8(s).ok()));
                match ch {
                    Some(ch) => {
                        out.push_str(ch);
                        i += ch.len();
                    }
                    None => {
                        out.push('\u{fffd}');
                        i += 1;
                    }
                }
                continue;
            }
        };
        out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
        i += len;
    }
    out
}

/// The value of two hex digits.
fn hex2(d: Option<&[u8]>) -> Option<u8> {
    let d = d?;
    let hi = (*d.first()? as char).to_digit(16)?;
    let lo = (*d.get(1)? as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// The value of up to eight hex digits (all of `d` must be hex).
fn hex_n(d: Option<&[u8]>) -> Option<u32> {
    let d = d?;
    let mut v: u32 = 0;
    for &c in d {
        v = v.checked_mul(16)?.checked_add((c as char).to_digit(16)?)?;
    }
    Some(v)
}

/// Appends the UTF-8 of `cp` (a replacement character when it is not one).
fn push_char(out: &mut Vec<u8>, cp: u32) {
    let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
}

/// Named entities attacks use; numeric ones (`&#60;`, `&#x3c;`, with or without `;`) are
/// all decoded.
const ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("colon", ':'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("semi", ';'),
    ("comma", ','),
    ("period", '.'),
    ("lowbar", '_'),
    ("underbar", '_'),
    ("equals", '='),
    ("excl", '!'),
    ("num", '#'),
    ("percnt", '%'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("grave", '`'),
    ("plus", '+'),
    ("ast", '*'),
    ("vert", '|'),
    ("dollar", '$'),
];

/// Decodes HTML character references.
pub fn html_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let after = rest.get(pos + 1..).unwrap_or_default();
        match entity(after) {
            Some((ch, used)) => {
                out.push(ch);
                rest = after.get(used..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character an entity body (after `&`) stands for and how many bytes it used.
pub(crate) fn entity(after: &str) -> Option<(char, usize)> {
    let b = after.as_bytes();
    if b.first() == Some(&b'#') {
        let (hex, start) = match b.get(1) {
            Some(b'x' | b'X') => (true, 2),
            _ => (false, 1),
        };
        let digits = b
            .get(start..)?
            .iter()
            .take(8)
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = after.get(start..start + digits)?;
        let cp = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
        let mut used = start + digits;
        if b.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((char::from_u32(cp).unwrap_or('\u{fffd}'), used));
    }
    let name_len = b
        .iter()
        .take(10)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let name = after.get(..name_len)?;
    let (_, ch) = ENTITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    let mut used = name_len;
    if b.get(used) == Some(&b';') {
        used += 1;
    }
    Some((*ch, used))
}

/// Decodes JavaScript and C escapes: `\uHHHH`, `\u{H..}`, `\xHH`, and octal `\NNN`.
/// Other escapes lose their backslash only when the escaped character is a quote.
pub fn js_escapes(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            match b.get(i + 1) {
                Some(b'u') if b.get(i + 2) == Some(&b'{') => {
                    let end = b
                        .get(i + 3..)
                        .and_then(|r| r.iter().take(7).position(|&x| x == b'}'));
                    if let Some(n) = end
                        && let Some(cp) = hex_n(b.get(i + 3..i + 3 + n))
                        && n > 0
                    {
                        push_char(&mut out, cp);
                        i += 4 + n;
                        continue;
                    }
                }
                Some(b'u') => {
                    if let Some(cp) = hex_n(b.get(i + 2..i + 6)) {
                        push_char(&mut out, cp);
                        i += 6;
                        continue;
                    }
                }
                Some(b'x') => {
                    if let Some(v) = hex2(b.get(i + 2..i + 4)) {
                        push_char(&mut out, u32::from(v));
                        i += 4;
                        continue;
                    }
                }
                Some(d @ b'0'..=b'7') => {
                    let n = b.get(i + 1..).map_or(0, |r| {
                        r.iter()
                            .take(3)
                            .take_while(|c| (b'0'..=b'7').contains(c))
                            .count()
                    });
                    if let Some(digits) = s.get(i + 1..i + 1 + n)
                        && let Ok(v) = u32::from_str_radix(digits, 8)
                        && (n > 1 || *d != b'0')
                    {
                        push_char(&mut out, v);
                        i += 1 + n;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Everything undone: URL decoding until nothing changes (at most [`URL_PASSES`] times),
/// HTML entities, JavaScript escapes, NUL bytes removed, and NFKC.
pub fn full(s: &str) -> Cow<'_, str> {
    // Nothing to undo (the common case): no escape of any kind, no NUL, ASCII.
    if s.is_ascii() && !s.bytes().any(|b| matches!(b, b'%' | b'&' | b'\\' | 0)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(full_always(s))
}

/// [`full`] without its shortcut for values it leaves as they are.
fn full_always(s: &str) -> String {
    let mut cur: String = s.to_owned();
    for _ in 0..URL_PASSES {
        match url_decode(&cur, false) {
            Cow::Borrowed(_) => break,
            Cow::Owned(next) => {
                if next == cur {
                    break;
                }
                cur = next;
            }
        }
    }
    let cur = html_entities(&cur).into_owned();
    let cur = js_escapes(&cur).into_owned();
    // Entities may have hidden percent escapes (`&#37;3c`): one more URL pass.
    let cur = url_decode(&cur, false).into_owned();
    let cur: String = cur.chars().filter(|&c| c != '\0').collect();
    if cur.is_ascii() {
        cur
    } else {
        cur.nfkc().map(best_fit).collect()
    }
}

/// What NFKC leaves that readers still take for ASCII: the slashes Windows' best-fit
/// mapping (and IIS's `%u`) makes `/` and `\`, written in UTF-8 (black-box pass 13,
/// B13-13), and the ideographic full stops host names read as dots (UTS #46; B13-10).
fn best_fit(c: char) -> char {
    match c {
        '\u{2215}' | '\u{2044}' | '\u{29F8}' => '/',
        '\u{2216}' | '\u{29F5}' | '\u{29F9}' | '\u{FE68}' => '\\',
        '\u{3002}' | '\u{FF61}' => '.',
        c => c,
    }
}

/// Lower case, whitespace runs (including vertical tabs and form feeds) as one space.
pub fn lower_compact(s: &str) -> Cow<'_, str> {
    // Already lower case with single spaces: nothing to do.
    if s.is_ascii()
        && !s.contains("  ")
        && !s
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b != b' ' && (b.is_ascii_whitespace() || b == 0x0b))
    {
        return Cow::Borrowed(s);
    }
    Cow::Owned(lower_compact_always(s))
}

/// [`lower_compact`] without its shortcut for values it leaves as they are.
fn lower_compact_always(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    if s.is_ascii() {
        for &b in s.as_bytes() {
            if b.is_ascii_whitespace() || b == 0x0b {
                if !space {
                    out.push(' ');
                }
                space = true;
            } else {
                space = false;
                out.push(char::from(b.to_ascii_lowercase()));
            }
        }
        return out;
    }
    for c in s.chars() {
        if c.is_whitespace() || c == '\u{b}' || c == '\u{c}' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            space = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// SQL's view: comments (`/* */`; the bodies of `/*! */` kept) become a space, so
/// `UN/**/ION SEL/**/ECT` reads `un ion sel ect`... and, because attackers split keywords
/// with empty comments, `/**/` between word characters is removed outright. Input is
/// already lower-case.
pub fn sql_fold(s: &str) -> Cow<'_, str> {
    if !s.contains("/*") && !s.contains("*/") {
        return lower_compact(s);
    }
    Cow::Owned(sql_fold_always(s))
}

/// [`sql_fold`] without its shortcut for values it leaves as they are.
fn sql_fold_always(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let rest = s.get(i..).unwrap_or_default();
        if rest.starts_with("/*!") {
            // MySQL executable comment: its body is SQL.
            let skip = 3 + rest
                .get(3..)
                .map_or(0, |r| r.bytes().take_while(u8::is_ascii_digit).count());
            i += skip;
            continue;
        }
        if rest.starts_with("/*") {
            let end = rest
                .get(2..)
                .and_then(|r| r.find("*/"))
                .map_or(rest.len(), |p| p + 4);
            let prev_word = out.chars().last().is_some_and(|c| c.is_alphanumeric());
            let next_word = rest
                .get(end..)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| c.is_alphanumeric());
            if !(prev_word && next_word && end == 4) {
                out.push(' ');
            }
            i += end;
            continue;
        }
        if rest.starts_with("*/") {
            out.push(' ');
            i += 2;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        out.push(c);
        i += c.len_utf8();
    }
    lower_compact(&out).into_owned()
}

/// Path separators as `/`, runs of `/` as one, `./` removed: the form file rules match.
pub fn path_fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii()
        && !s.contains('\\')
        && !s.contains("//")
        && !s.contains("/./")
        && !s.bytes().any(|b| b.is_ascii_uppercase())
    {
        return Cow::Borrowed(s);
    }
    Cow::Owned(path_fold_always(s))
}

/// [`path_fold`] without its shortcut for values it leaves as they are.
fn path_fold_always(s: &str) -> String {
    let s = s.replace('\\', "/");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out.replace("/./", "/").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts change nothing: on every string of up to 6 characters drawn from the
    /// characters each function treats specially (and on longer random ones), each function
    /// answers what its full computation answers (and the shell's view of ASCII a byte at
    /// a time what it is a character at a time).
    #[test]
    fn shortcuts_answer_as_the_full_computation() {
        const ALPHABET: &[&str] = &[
            "a", "Z", " ", "  ", "\t", "\u{b}", "\u{c}", "%", "%41", "&", "&lt;", "\\", "\\x41",
            "\0", "/", "//", "/./", ".", "*", "/*", "*/", "$", "${IFS}", "\"", "'", "^", ",", "(",
            "é", "Ｓ", "\u{a0}", "-", "#", "\r", "\n", "\u{1c}",
        ];
        let check = |v: &str| {
            assert_eq!(full(v), full_always(v), "full({v:?})");
            assert_eq!(
                lower_compact(v),
                lower_compact_always(v),
                "lower_compact({v:?})"
            );
            assert_eq!(sql_fold(v), sql_fold_always(v), "sql_fold({v:?})");
            assert_eq!(cmd_line(v), cmd_line_always(v), "cmd_line({v:?})");
            if v.is_ascii() {
                assert_eq!(
                    cmd_line_ascii(v),
                    cmd_line_chars(v),
                    "cmd_line_ascii({v:?})"
                );
            }
            assert_eq!(path_fold(v), path_fold_always(v), "path_fold({v:?})");
        };
        let n = ALPHABET.len();
        // Every string of up to 3 pieces, then 200,000 random ones of up to 6.
        let mut v = String::new();
        for a in 0..=n {
            for b in 0..=n {
                for c in 0..=n {
                    v.clear();
                    for i in [a, b, c] {
                        v.push_str(ALPHABET.get(i).copied().unwrap_or_default());
                    }
                    check(&v);
                }
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            v.clear();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = x % 7;
            for k in 0..len {
                let i = usize::try_from((x >> (8 + 6 * k)) % n as u64).unwrap_or(0);
                v.push_str(ALPHABET.get(i).copied().unwrap_or_default());
            }
            check(&v);
        }
    }

    #[test]
    fn overlong_utf8_is_read_as_lenient_decoders_read_it() {
        assert_eq!(url_decode("..%c0%af..%c0%afetc", false), "../../etc");
        assert_eq!(url_decode("%c0%ae%c0%ae%e0%80%af", false), "../");
        assert_eq!(url_decode("..%c1%9cwin.ini", false), "..\\win.ini");
        assert_eq!(url_decode("%c0%bcscript%c0%be", false), "<script>");
        assert_eq!(url_decode("%f0%80%80%af", false), "/");
        // IIS's own (black-box pass 12, B12-8): any byte after C0 or C1, RFC 2279's five-
        // and six-byte forms, and `%u` slashes by best fit.
        assert_eq!(url_decode("..%c1%1c..%c0%2f", false), "..\\../");
        assert_eq!(url_decode("%f8%80%80%80%af%fc%80%80%80%80%af", false), "//");
        assert_eq!(url_decode("..%u2215..%u2216", false), "../..\\");
        // The same characters in UTF-8 (pass 13, B13-13), and ideographic full stops.
        assert_eq!(full("..%e2%88%95..%e2%88%96..%e2%81%84x"), "../..\\../x");
        assert_eq!(
            full("http://127\u{3002}0\u{FF61}0\u{3002}1/"),
            "http://127.0.0.1/"
        );
        // Other bytes that are not UTF-8 are replacement characters; UTF-8 stays.
        assert_eq!(url_decode("a%ffb%c0", false), "a\u{fffd}b\u{fffd}");
        assert_eq!(url_decode("caf%c3%a9%ff", false), "café\u{fffd}");
    }

    #[test]
    fn url_decoding_is_repeated_and_knows_iis_unicode() {
        assert_eq!(full("%253Cscript%253E"), "<script>");
        assert_eq!(full("%u003cscript%u003e"), "<script>");
        assert_eq!(url_decode("a+b%2", true), "a b%2");
        assert_eq!(url_decode("%zz%4", false), "%zz%4");
    }

    #[test]
    fn entities_escapes_nuls_and_fullwidth_forms_are_undone() {
        assert_eq!(
            full("&lt;img src=x onerror&#61;alert(1)&gt;"),
            "<img src=x onerror=alert(1)>"
        );
        assert_eq!(full("&#x3C;svg&#62"), "<svg>");
        assert_eq!(full("\\u003cscript\\x3e"), "<script>");
        assert_eq!(full("\\u{3c}b"), "<b");
        assert_eq!(full("\\74b"), "<b");
        assert_eq!(full("se\0lect"), "select");
        assert_eq!(full("＜ｓｃｒｉｐｔ＞"), "<script>");
        assert_eq!(full("&#37;3cb"), "<b");
    }

    #[test]
    fn sql_comments_fold() {
        assert_eq!(sql_fold("un/**/ion sel/**/ect"), "union select");
        assert_eq!(sql_fold("1/*!50000union*/select"), "1union select");
        assert_eq!(sql_fold("a /* x */ b"), "a b");
        assert_eq!(sql_fold("/* open"), " ");
    }

    #[test]
    fn paths_fold() {
        assert_eq!(
            path_fold("..\\..\\WINDOWS//win.ini"),
            "../../windows/win.ini"
        );
        assert_eq!(path_fold("/a/./b"), "/a/b");
    }

    #[test]
    fn nothing_panics_on_truncated_escapes() {
        for s in [
            "%",
            "%u",
            "%u12",
            "&",
            "&#",
            "&#x",
            "\\",
            "\\u",
            "\\u{",
            "\\u{110000}",
            "\\x",
            "\\0",
            "/*",
            "*/",
            "/*!",
        ] {
            let _ = full(s);
            let _ = sql_fold(s);
            let _ = cmd_line(s);
        }
    }
}
