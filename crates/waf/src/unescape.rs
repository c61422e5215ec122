//! The text DLP also reads: escapes decoded (JSON and JavaScript `\uXXXX`, `\xHH` and
//! `\/`-style escapes, HTML character references, percent-encoding) and invisible
//! characters left out (zero-width spaces and joiners, soft hyphens), other scripts'
//! decimal digits read as ASCII ones, one level, with each
//! decoded byte's place in the original kept, so a secret found in the decoded text is
//! masked where it was written.

/// The character that starts at byte `i` of `b`, if a whole one does.
fn char_at(b: &[u8], i: usize) -> Option<char> {
    let rest = b.get(i..i + 4.min(b.len().saturating_sub(i)))?;
    match std::str::from_utf8(rest) {
        Ok(s) => s.chars().next(),
        Err(e) => std::str::from_utf8(rest.get(..e.valid_up_to())?)
            .ok()?
            .chars()
            .next(),
    }
}

/// The length of the invisible character at `i`, if one is there: Unicode's default
/// ignorable code points (zero-width spaces and joiners, word joiner and invisible
/// operators, BOM, soft hyphen, combining grapheme joiner, bidirectional marks and
/// embeddings, Mongolian and variation selectors, Hangul fillers, tag characters).
/// Nothing shows them, so `4111<ZWSP>1111...` reads as a card to whoever sees it; the
/// decoded view leaves them out.
fn zero_width(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i).is_none_or(|&c| c < 0xC2) {
        return None;
    }
    let c = char_at(b, i)?;
    let ignorable = matches!(
        u32::from(c),
        0xAD | 0x34F
            | 0x61C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    );
    ignorable.then(|| c.len_utf8())
}

/// The ASCII digit of the decimal digit of another script at `i` (full-width, Arabic-Indic,
/// Devanagari, Bengali, Thai), and its length: a card number typed with an IME's
/// full-width digits is a card number. The detectors' word boundaries are ASCII ones (see
/// `rx`), so such digits are found in this view.
fn other_digit(b: &[u8], i: usize) -> Option<(u8, usize)> {
    if b.get(i).is_none_or(|&c| c < 0xD9) {
        return None;
    }
    let c = char_at(b, i)?;
    let zero = match u32::from(c) {
        0xFF10..=0xFF19 => 0xFF10,
        0x0660..=0x0669 => 0x0660,
        0x06F0..=0x06F9 => 0x06F0,
        0x0966..=0x096F => 0x0966,
        0x09E6..=0x09EF => 0x09E6,
        0x0E50..=0x0E59 => 0x0E50,
        _ => return None,
    };
    let digit = u8::try_from(u32::from(c) - zero).ok()?;
    Some((b'0' + digit, c.len_utf8()))
}

/// A decoded view of a text.
#[derive(Debug)]
pub struct Unescaped {
    /// The decoded text (a byte that does not decode to UTF-8 reads `?`).
    pub text: String,
    /// For each byte of `text`: the range it came from in the original.
    spans: Vec<(usize, usize)>,
}

impl Unescaped {
    /// The decoded view of `text`, or `None` when it holds no escape.
    pub fn of(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if !b.iter().any(|&c| matches!(c, b'\\' | b'&' | b'%'))
            && !b.iter().enumerate().any(|(i, &c)| {
                c >= 0xC2 && (zero_width(b, i).is_some() || other_digit(b, i).is_some())
            })
        {
            return None;
        }
        let mut out: Vec<u8> = Vec::with_capacity(b.len());
        let mut spans = Vec::with_capacity(b.len());
        let mut escaped = false;
        let mut i = 0;
        while i < b.len() {
            let decoded = match b.get(i) {
                Some(b'\\') => backslash(b, i),
                Some(b'&') => reference(text, i),
                Some(b'%') => percent(b, i),
                Some(0xC2..) => zero_width(b, i)
                    .map(|used| (Vec::new(), used))
                    .or_else(|| other_digit(b, i).map(|(d, used)| (vec![d], used))),
                _ => None,
            };
            match decoded {
                Some((bytes, used)) => {
                    escaped = true;
                    for byte in bytes {
                        out.push(byte);
                        spans.push((i, i + used));
                    }
                    i += used;
                }
                None => {
                    out.push(b.get(i).copied().unwrap_or_default());
                    spans.push((i, i + 1));
                    i += 1;
                }
            }
        }
        if !escaped {
            return None;
        }
        // One byte for one byte, so the spans stay aligned.
        let mut at = 0;
        while let Err(e) = std::str::from_utf8(out.get(at..).unwrap_or_default()) {
            let bad = at + e.valid_up_to();
            let len = e.error_len().unwrap_or(out.len() - bad);
            for byte in out.iter_mut().skip(bad).take(len) {
                *byte = b'?';
            }
            at = bad + len;
        }
        let text = String::from_utf8(out).ok()?;
        Some(Self { text, spans })
    }

    /// The range in the original of `start..end` in the decoded text.
    pub fn source_range(&self, start: usize, end: usize) -> (usize, usize) {
        let from = self.spans.get(start).map_or(0, |s| s.0);
        let to = end
            .checked_sub(1)
            .and_then(|last| self.spans.get(last))
            .map_or(from, |s| s.1);
        (from, to.max(from))
    }
}

fn hex(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

fn utf8(c: u32) -> Option<Vec<u8>> {
    let c = char::from_u32(c)?;
    Some(c.to_string().into_bytes())
}

/// `\uXXXX` (a surrogate pair as one character), `\u{X..}`, `\xHH`, and the one-letter
/// escapes: (the bytes, the length of the escape).
fn backslash(b: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    match b.get(i + 1)? {
        b'u' if b.get(i + 2) == Some(&b'{') => {
            let close = b.get(i + 3..)?.iter().take(7).position(|&c| c == b'}')?;
            let c = hex(b.get(i + 3..i + 3 + close)?)?;
            Some((utf8(c)?, close + 4))
        }
        b'u' => {
            let hi = hex(b.get(i + 2..i + 6)?)?;
            if (0xD800..0xDC00).contains(&hi)
                && b.get(i + 6) == Some(&b'\\')
                && b.get(i + 7) == Some(&b'u')
                && let Some(lo) = b.get(i + 8..i + 12).and_then(hex)
                && (0xDC00..0xE000).contains(&lo)
            {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Some((utf8(c)?, 12));
            }
            Some((utf8(hi)?, 6))
        }
        b'x' => {
            let c = hex(b.get(i + 2..i + 4)?)?;
            Some((vec![u8::try_from(c).ok()?], 4))
        }
        c @ (b'/' | b'\\' | b'"' | b'\'') => Some((vec![*c], 2)),
        b'n' => Some((vec![b'\n'], 2)),
        b'r' => Some((vec![b'\r'], 2)),
        b't' => Some((vec![b'\t'], 2)),
        _ => None,
    }
}

/// An HTML character reference (numeric, or named as the WAF's decoder knows them), the
/// `;` optional as browsers read them: (the bytes, the length with the `&`).
fn reference(text: &str, i: usize) -> Option<(Vec<u8>, usize)> {
    let (c, used) = crate::decode::entity(text.get(i + 1..)?)?;
    Some((c.to_string().into_bytes(), used + 1))
}

/// `%HH`.
fn percent(b: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let c = hex(b.get(i + 1..i + 3)?)?;
    Some((vec![u8::try_from(c).ok()?], 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_with_their_places() {
        let cases = [
            (r#"{"k":"\u0070cl_abc"}"#, r#"{"k":"pcl_abc"}"#),
            (r"a\u00e9b", "aéb"),
            (r"\ud83d\ude00!", "😀!"),
            (r"\u{1F600}", "😀"),
            (r"x\x41\/y\n", "xA/y\n"),
            ("&#112;cl&#x5F;a&lowbar;b&#65", "pcl_a_bA"),
            ("k=pcl%5Fabc%zz", "k=pcl_abc%zz"),
            ("%ff%41", "?A"),
            ("4111\u{200B}1111\u{AD}1111\u{FEFF}1111", "4111111111111111"),
            ("pcl_ab\u{200D}cd", "pcl_abcd"),
            (
                "pcl_a\u{2063}b\u{180E}c\u{FE0F}d\u{E0041}e\u{3164}f",
                "pcl_abcdef",
            ),
        ];
        for (raw, want) in cases {
            let view = Unescaped::of(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(view.text, want, "{raw}");
        }
        assert!(Unescaped::of("plain text, no escapes").is_none());
        assert!(Unescaped::of("50% off & more \\q").is_none());
        assert!(Unescaped::of("café – 20 €").is_none());
        let raw = "card 4111\u{200B}1111 1111 1111.";
        let view = Unescaped::of(raw).unwrap();
        let at = view.text.find("41111111").unwrap();
        let (s, e) = view.source_range(at, at + "41111111".len());
        assert_eq!(&raw[s..e], "4111\u{200B}1111");
        let raw = r#"{"k":"\u0070cl_abc"}"#;
        let view = Unescaped::of(raw).unwrap();
        let at = view.text.find("pcl_abc").unwrap();
        let (s, e) = view.source_range(at, at + "pcl_abc".len());
        assert_eq!(&raw[s..e], r"\u0070cl_abc");
    }

    /// Texts built from escape pieces (every sequence of up to four of them, cut at every
    /// place): no panic, and every decoded range maps to a range of the original.
    #[test]
    fn every_range_maps_back() {
        let pieces = [
            "\\u00", "70", "\\ud83d", "\\ude00", "&#", "x5F", ";", "%", "5f", "é", "a", "\\",
            "&lowbar", "\\u{1F6", "00}", "\u{200B}", "\u{AD}",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &texts {
                for p in pieces {
                    next.push(format!("{t}{p}"));
                }
            }
            texts.extend(next);
            texts.dedup();
        }
        for text in &texts {
            if let Some(view) = Unescaped::of(text) {
                for start in 0..=view.text.len() {
                    for end in start..=view.text.len() {
                        let (s, e) = view.source_range(start, end);
                        assert!(s <= e && e <= text.len(), "{text:?} {start}..{end}");
                    }
                }
            }
        }
    }
}
