//! Bodies in UTF-16 or UTF-32, read as the text they are. XML processors must read UTF-16
//! (XML 1.0 section 4.3.3) and JSON parsers have read it, so an attack spelt in UTF-16
//! reaches an application as plain text while its bytes, read as UTF-8, are noise. The
//! encoding is known from a byte-order mark, or from the NUL bytes ASCII has in it (an XML
//! or JSON document starts with ASCII: `<`, `{`, `[`, a quote or a digit).

/// The encodings told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

/// The encoding of `b` and the length of its byte-order mark, when it is UTF-16 or UTF-32.
fn sniff(b: &[u8]) -> Option<(Wide, usize)> {
    match b {
        [0xFF, 0xFE, 0, 0, ..] => Some((Wide::Utf32Le, 4)),
        [0, 0, 0xFE, 0xFF, ..] => Some((Wide::Utf32Be, 4)),
        [0xFF, 0xFE, ..] => Some((Wide::Utf16Le, 2)),
        [0xFE, 0xFF, ..] => Some((Wide::Utf16Be, 2)),
        [a, 0, 0, 0, ..] if *a != 0 => Some((Wide::Utf32Le, 0)),
        [0, 0, 0, a, ..] if *a != 0 => Some((Wide::Utf32Be, 0)),
        [a, 0, c, 0, ..] if *a != 0 && *c != 0 => Some((Wide::Utf16Le, 0)),
        [0, a, 0, c, ..] if *a != 0 && *c != 0 => Some((Wide::Utf16Be, 0)),
        _ => None,
    }
}

/// `b` as UTF-8 text, when it is UTF-16 or UTF-32 (what does not decode reads U+FFFD);
/// `None` for anything else.
pub fn wide_to_utf8(b: &[u8]) -> Option<String> {
    let (wide, bom) = sniff(b)?;
    let b = b.get(bom..)?;
    Some(match wide {
        Wide::Utf16Le | Wide::Utf16Be => {
            let units = b.chunks_exact(2).map(|c| match (wide, c) {
                (Wide::Utf16Le, [x, y]) => u16::from_le_bytes([*x, *y]),
                (_, [x, y]) => u16::from_be_bytes([*x, *y]),
                _ => 0xFFFD,
            });
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        Wide::Utf32Le | Wide::Utf32Be => b
            .chunks_exact(4)
            .map(|c| {
                let n = match (wide, c) {
                    (Wide::Utf32Le, [a, b2, c2, d]) => u32::from_le_bytes([*a, *b2, *c2, *d]),
                    (_, [a, b2, c2, d]) => u32::from_be_bytes([*a, *b2, *c2, *d]),
                    _ => 0xFFFD,
                };
                char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    #[test]
    fn utf16_and_utf32_read_as_text() {
        let doc = "<a><q><![CDATA[1 UNION SELECT password FROM users--]]></q></a> é😀";
        for (le, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            assert_eq!(wide_to_utf8(&utf16(doc, le, bom)).as_deref(), Some(doc));
        }
        let mut le32 = vec![0xFF, 0xFE, 0, 0];
        for c in "{\"q\":1}".chars() {
            le32.extend_from_slice(&u32::from(c).to_le_bytes());
        }
        assert_eq!(wide_to_utf8(&le32).as_deref(), Some("{\"q\":1}"));
        let be32: Vec<u8> = "<x/>"
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        assert_eq!(wide_to_utf8(&be32).as_deref(), Some("<x/>"));
        for plain in [
            &b"<a>hello</a>"[..],
            b"{\"a\":1}",
            b"",
            b"x",
            "é".as_bytes(),
        ] {
            assert_eq!(wide_to_utf8(plain), None);
        }
        // A lone surrogate or an odd byte reads as a replacement, never a panic.
        assert!(wide_to_utf8(&[0xFF, 0xFE, 0x00, 0xD8, b'a']).is_some());
    }
}
