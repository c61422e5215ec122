//! Patterns as the engine compiles them: word boundaries (`\b`, `\B`) made ASCII ones.
//!
//! A Unicode word boundary is one the regex crate's fast engines (its DFAs) cannot follow
//! past a byte that is not ASCII: on such text every set of rules fell back to its
//! slowest engine, a hundred times slower (black-box pass 13, B13-17: 130 KB of `é` took
//! 0.9 s of a core to inspect, 7 ms as ASCII). The rules' words are ASCII (SQL, commands,
//! tags, keys), so an ASCII boundary is what they mean; letters outside ASCII count as
//! non-word characters next to them.

use std::borrow::Cow;

/// `pattern` with each word-boundary assertion made an ASCII one (`(?-u:\b)`); escapes
/// such as `\\b` are left as they are.
pub fn ascii_boundaries(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains("\\b") && !pattern.contains("\\B") {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_become_ascii_and_escapes_stay() {
        assert_eq!(ascii_boundaries(r"select"), "select");
        assert_eq!(ascii_boundaries(r"\bid\b"), r"(?-u:\b)id(?-u:\b)");
        assert_eq!(ascii_boundaries(r"\Bx\\b\\\b"), r"(?-u:\B)x\\b\\(?-u:\b)");
        assert_eq!(ascii_boundaries(r"[\w\d]+\s"), r"[\w\d]+\s");
        // The same matches on ASCII text; letters beyond ASCII are not word characters.
        let rx = regex::Regex::new(&ascii_boundaries(r"(?i)\bunion\b.*\bselect\b")).unwrap();
        assert!(rx.is_match("1 UNION ALL SELECT 2"));
        assert!(!rx.is_match("reunion selection"));
        assert!(rx.is_match("éunion éselect"));
    }
}
