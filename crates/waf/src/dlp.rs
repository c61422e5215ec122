//! Data loss prevention: finding what must not leave in a response (card numbers, IBANs, US
//! social security numbers, private keys, JWTs, Portcullis API keys, cloud and SaaS tokens,
//! email addresses) and masking it. Checksums cut false positives where the format has one
//! (Luhn for cards, ISO 7064 mod 97 for IBANs, the SSA's rules for SSNs, the key's own
//! checksum for Portcullis keys); extra rules load from gitleaks' TOML format (`keywords`
//! as a prefilter, `secretGroup`, `entropy`, allowlist `regexes` and `stopwords`).

use regex::Regex;

mod gitleaks;

/// A check a candidate must pass besides its pattern.
pub type Validator = fn(&str) -> bool;

/// One detector.
pub struct Detector {
    /// Its name (`card`, `iban`, or a gitleaks rule id).
    pub id: String,
    rx: Regex,
    keywords: Vec<String>,
    group: usize,
    entropy: Option<f64>,
    validate: Option<Validator>,
    allow: Vec<Regex>,
    stopwords: Vec<String>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A match: which detector, and the byte range of the secret in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The detector.
    pub detector: String,
    /// Start of the secret.
    pub start: usize,
    /// End of the secret.
    pub end: usize,
    /// The secret itself when the text spells it with escapes (`\u0070cl_...`, `&#112;`,
    /// `%5F`): the range covers the escaped spelling, this is what it decodes to.
    pub value: Option<String>,
}

impl Hit {
    /// The secret: what the range holds, decoded when it was escaped.
    pub fn secret<'a>(&'a self, text: &'a str) -> &'a str {
        self.value
            .as_deref()
            .unwrap_or_else(|| text.get(self.start..self.end).unwrap_or_default())
    }
}

/// The detectors in force.
#[derive(Debug, Default)]
pub struct Dlp {
    detectors: Vec<Detector>,
    /// The built-in detectors' patterns as one set: a text none of them can match (most)
    /// is read once, not once per detector. (`None` when the set would not compile.)
    prefilter: Option<regex::RegexSet>,
}

/// The built-in detectors: name, pattern, capture group of the secret, validator.
const BUILTIN: &[(&str, &str, usize, Option<Validator>)] = &[
    // Digits (full-width and other scripts' too) with spaces (no-break and thin ones too)
    // or dashes anywhere, or dots, slashes, underscores or middle dots between the groups
    // of a printed card (4-4-4-4, or Amex's 4-6-5: one anywhere would take in decimals,
    // timestamps and dates).
    (
        "card",
        r"\b(?:\d[ \x{A0}\x{2007}\x{2009}\x{202F}\x{3000}\x{2010}-\x{2015}\x{2212}\x{FE63}\x{FF0D}-]?){12,18}\d\b|\b\d{4}(?:[./_\x{B7}\x{30FB}]\d{4}){3}\b|\b\d{4}[./_\x{B7}]\d{6}[./_\x{B7}]\d{5}\b",
        0,
        Some(luhn_card),
    ),
    (
        "iban",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
        0,
        Some(iban),
    ),
    ("us_ssn", r"\b\d{3}-\d{2}-\d{4}\b", 0, Some(us_ssn)),
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        0,
        None,
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
        0,
        None,
    ),
    ("portcullis_api_key", r"\bpcl_[A-Za-z0-9]{16,80}\b", 0, None),
    (
        "aws_access_key",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        0,
        None,
    ),
    (
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b",
        0,
        None,
    ),
    (
        "slack_token",
        r"\bxox[abposr]-[A-Za-z0-9-]{10,250}",
        0,
        None,
    ),
    (
        "stripe_key",
        r"\b(?:sk|rk)_live_[A-Za-z0-9]{20,247}\b",
        0,
        None,
    ),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", 0, None),
    (
        "email",
        r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b",
        0,
        None,
    ),
];

/// The names of the built-in detectors.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, ..)| *n)
}

impl Dlp {
    /// The built-in detectors named in `only` (empty: all of them).
    pub fn builtin(only: &[String]) -> Result<Self, String> {
        if let Some(unknown) = only
            .iter()
            .find(|n| !builtin_names().any(|b| b == n.as_str()))
        {
            return Err(format!(
                "unknown detector {unknown:?}; the built-in ones are {}",
                builtin_names().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut detectors = Vec::new();
        for (name, pattern, group, validate) in BUILTIN {
            if !only.is_empty() && !only.iter().any(|n| n == name) {
                continue;
            }
            detectors.push(Detector {
                id: (*name).to_owned(),
                rx: Regex::new(&crate::rx::ascii_boundaries(pattern))
                    .map_err(|e| format!("detector {name}: {e}"))?,
                keywords: Vec::new(),
                group: *group,
                entropy: None,
                validate: *validate,
                allow: Vec::new(),
                stopwords: Vec::new(),
            });
        }
        let prefilter = regex::RegexSetBuilder::new(detectors.iter().map(|d| d.rx.as_str()))
            .size_limit(1 << 24)
            .build()
            .ok();
        Ok(Self {
            detectors,
            prefilter,
        })
    }

    /// Sets the extra check of a detector (the API key checksum lives outside this crate).
    pub fn set_validator(&mut self, id: &str, v: Validator) {
        for d in &mut self.detectors {
            if d.id == id {
                d.validate = Some(v);
            }
        }
    }

    /// The detectors' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.detectors.iter().map(|d| d.id.as_str())
    }

    /// The secrets in `text`, leaving out the detectors in `allow`; overlapping hits keep
    /// the first found.
    pub fn scan(&self, text: &str, allow: &[String]) -> Vec<Hit> {
        let mut hits = self.scan_as_is(text, allow);
        // Secrets spelt with escapes (JSON `\u`, HTML character references, percent
        // encoding) are looked for in the text as it decodes, and reported over the range
        // of their escaped spelling.
        if let Some(view) = crate::unescape::Unescaped::of(text) {
            for h in self.scan_as_is(&view.text, allow) {
                let (start, end) = view.source_range(h.start, h.end);
                if hits.iter().any(|o| o.start < end && start < o.end) {
                    continue;
                }
                hits.push(Hit {
                    value: Some(view.text.get(h.start..h.end).unwrap_or_default().to_owned()),
                    detector: h.detector,
                    start,
                    end,
                });
            }
            hits.sort_by_key(|h| h.start);
        }
        hits
    }

    fn scan_as_is(&self, text: &str, allow: &[String]) -> Vec<Hit> {
        let lower = if self.detectors.iter().any(|d| !d.keywords.is_empty()) {
            text.to_lowercase()
        } else {
            String::new()
        };
        let mut hits: Vec<Hit> = Vec::new();
        // The prefilter covers the first detectors (the built-in ones, in order).
        // A plain search first: it stops at the first match, where the overlapping one
        // that says which matched reads on (most texts match none).
        let possible = self
            .prefilter
            .as_ref()
            .map(|set| (set.len(), set.is_match(text).then(|| set.matches(text))));
        for (i, d) in self.detectors.iter().enumerate() {
            if allow.iter().any(|a| a == &d.id) {
                continue;
            }
            if let Some((covered, matched)) = &possible
                && i < *covered
                && !matched.as_ref().is_some_and(|m| m.matched(i))
            {
                continue;
            }
            if !d.keywords.is_empty() && !d.keywords.iter().any(|k| lower.contains(k.as_str())) {
                continue;
            }
            for caps in d.rx.captures_iter(text) {
                let m = caps
                    .get(d.group)
                    .or_else(|| if d.group == 0 { None } else { caps.get(1) })
                    .or_else(|| caps.get(0));
                let Some(m) = m else { continue };
                let secret = m.as_str();
                if d.validate.is_some_and(|v| !v(secret))
                    || d.entropy.is_some_and(|e| shannon(secret) < e)
                    || d.allow.iter().any(|a| a.is_match(secret))
                    || d.stopwords
                        .iter()
                        .any(|w| secret.to_lowercase().contains(w.as_str()))
                {
                    continue;
                }
                if hits.iter().any(|h| h.start < m.end() && m.start() < h.end) {
                    continue;
                }
                hits.push(Hit {
                    detector: d.id.clone(),
                    start: m.start(),
                    end: m.end(),
                    value: None,
                });
            }
        }
        hits.sort_by_key(|h| h.start);
        hits
    }
}

/// `text` with each hit masked: a card keeps its last four digits, anything else becomes
/// `[REDACTED:<detector>]`.
pub fn mask(text: &str, hits: &[Hit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hits {
        if h.start < at {
            continue;
        }
        out.push_str(text.get(at..h.start).unwrap_or_default());
        let secret = h.secret(text);
        if h.detector == "card" {
            let digits_of = |s: &str| -> Vec<char> {
                s.chars().filter(|&c| digit_value(c).is_some()).collect()
            };
            let mut digits = digits_of(secret);
            // The last four as written (full-width digits stay full-width), unless escapes
            // put other digits in the spelling.
            let written = digits_of(text.get(h.start..h.end).unwrap_or_default());
            if written.len() == digits.len() {
                digits = written;
            }
            let keep = digits.len().saturating_sub(4);
            out.extend(std::iter::repeat_n('*', keep));
            out.extend(digits.get(keep..).unwrap_or_default());
        } else {
            out.push_str(&format!("[REDACTED:{}]", h.detector));
        }
        at = h.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Shannon entropy of `s` in bits per character.
fn shannon(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The value of a decimal digit as people write them: ASCII, full-width, Arabic-Indic
/// (both), Devanagari, Bengali, Thai, and the mathematical ones (which `\d` matches too).
fn digit_value(c: char) -> Option<u32> {
    let c = u32::from(c);
    [
        0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
        0x1D7F6,
    ]
    .iter()
    .find(|&&zero| (zero..zero + 10).contains(&c))
    .map(|zero| c - zero)
}

/// A payment card number: 13 to 19 digits, an issuer's first digit, and the Luhn check.
fn luhn_card(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(digit_value).collect();
    if !(13..=19).contains(&digits.len()) || !matches!(digits.first(), Some(2..=6)) {
        return false;
    }
    // Not a run of one digit (0000 0000 0000 0000 passes Luhn).
    if digits.iter().all(|d| Some(d) == digits.first()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An IBAN: ISO 7064 mod 97 of the rearranged number is 1.
fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        if v >= 10 {
            rem = (rem * 100 + v) % 97;
        } else {
            rem = (rem * 10 + v) % 97;
        }
    }
    rem == 1
}

/// A US SSN as issued: no area 000, 666 or 900-999, no group 00, no serial 0000.
fn us_ssn(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(a), Some(g), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(a), Ok(g), Ok(n)) = (a.parse::<u32>(), g.parse::<u32>(), n.parse::<u32>()) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && n != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dlp() -> Dlp {
        Dlp::builtin(&[]).unwrap_or_default()
    }

    /// A secret spelt with escapes is found, reported as what it decodes to, and masked
    /// where it was written.
    #[test]
    fn escaped_secrets_are_found_and_masked_in_place() {
        let key = "pcl_abcdefghijklmnop0123";
        for text in [
            r#"{"k":"\u0070cl_abcdefghijklmnop0123"}"#.to_owned(),
            "<p>&#112;cl&#x5f;abcdefghijklmnop0123</p>".to_owned(),
            "Location: /cb?k=pcl%5Fabcdefghijklmnop0123".to_owned(),
            r#"{"c":"4111\u003111111111111"}"#.to_owned(),
        ] {
            let hits = dlp().scan(&text, &[]);
            assert_eq!(hits.len(), 1, "{text}: {hits:?}");
            let h = &hits[0];
            assert!(h.value.is_some(), "{text}");
            if h.detector == "portcullis_api_key" {
                assert_eq!(h.secret(&text), key);
            } else {
                assert_eq!(h.secret(&text), "4111111111111111");
            }
            let masked = mask(&text, &hits);
            assert!(dlp().scan(&masked, &[]).is_empty(), "{masked}");
            assert!(
                !masked.contains("abcdefghijklmnop") && !masked.contains("\\u0031"),
                "{masked}"
            );
        }
        // Written plainly, the plain match is the one reported.
        let hits = dlp().scan(&format!("a%20b {key}"), &[]);
        assert_eq!((hits.len(), hits[0].value.as_deref()), (1, None));
    }

    fn found(text: &str) -> Vec<String> {
        dlp()
            .scan(text, &[])
            .into_iter()
            .map(|h| h.detector)
            .collect()
    }

    #[test]
    fn checksums_separate_secrets_from_look_alikes() {
        assert_eq!(found("card 4111 1111 1111 1111 on file"), ["card"]);
        assert_eq!(found("card 4111.1111.1111.1111 on file"), ["card"]);
        assert_eq!(found("card 4111\u{A0}1111\u{A0}1111\u{2009}1111"), ["card"]);
        assert_eq!(found("amex 3782.822463.10005"), ["card"]);
        // Black-box pass 7, N6: other group separators and full-width digits.
        assert_eq!(found("card 4111/1111/1111/1111 on file"), ["card"]);
        assert_eq!(found("card 4111_1111_1111_1111 on file"), ["card"]);
        assert_eq!(
            found("card 4111\u{B7}1111\u{B7}1111\u{B7}1111 on file"),
            ["card"]
        );
        assert_eq!(
            found("card ４１１１ １１１１ １１１１ １１１１ on file"),
            ["card"]
        );
        assert_eq!(
            found("card ４１１１１１１１１１１１１１１１ on file"),
            ["card"]
        );
        // Black-box pass 9: dashes of every kind. (Commas, bars and tabs between groups
        // are what tables of years and codes are written with: not read as cards.)
        assert_eq!(
            found("card 4111\u{2013}1111\u{2014}1111\u{2212}1111 on file"),
            ["card"]
        );
        // Pass 10: the full-width hyphen Japanese input methods write, and the small one.
        assert_eq!(
            found("カード番号 ４１１１－１１１１－１１１１－１１１１"),
            ["card"]
        );
        assert_eq!(
            found("card 4111\u{FE63}1111\u{FE63}1111\u{FE63}1111"),
            ["card"]
        );
        assert!(found("2019,2020,2021,2022 and 2019|2020|2021|2022").is_empty());
        // Dates and paths with slashes are not cards.
        assert!(found("on 2024/01/15 at 10/30").is_empty());
        assert!(found("/v1/4111/items").is_empty());
        assert_eq!(
            found("at 1733567890.123456 and 4111111111111.11"),
            Vec::<String>::new()
        );
        assert_eq!(found("order 4111 1111 1111 1112"), Vec::<String>::new());
        assert_eq!(found("id 0000000000000000"), Vec::<String>::new());
        assert_eq!(found("IBAN GB82 WEST 1234 5698 7654 32"), ["iban"]);
        assert_eq!(
            found("IBAN GB82 WEST 1234 5698 7654 33"),
            Vec::<String>::new()
        );
        assert_eq!(found("ssn 123-45-6789"), ["us_ssn"]);
        assert_eq!(
            found("ssn 666-45-6789 or 123-00-6789"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn tokens_and_keys_are_found() {
        assert_eq!(found("AKIAIOSFODNN7EXAMPLE"), ["aws_access_key"]);
        assert_eq!(
            found(&format!("token ghp_{}", "a1B2".repeat(9))),
            ["github_token"]
        );
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdef\n-----END RSA PRIVATE KEY-----";
        assert_eq!(found(pem), ["private_key"]);
        assert_eq!(found("mail jane@example.com now"), ["email"]);
    }

    #[test]
    fn masking_keeps_the_last_four_digits_of_a_card() {
        let d = dlp();
        let text = "{\"card\":\"4111-1111-1111-1111\",\"mail\":\"jane@example.com\"}";
        let hits = d.scan(text, &["email".to_owned()]);
        assert_eq!(
            mask(text, &hits),
            "{\"card\":\"************1111\",\"mail\":\"jane@example.com\"}"
        );
        let hits = d.scan(text, &[]);
        assert_eq!(
            mask(text, &hits),
            "{\"card\":\"************1111\",\"mail\":\"[REDACTED:email]\"}"
        );
        let wide = "card ４１１１/１１１１/１１１１/１１１１.";
        assert_eq!(mask(wide, &d.scan(wide, &[])), "card ************１１１１.");
    }

    #[test]
    fn unknown_detectors_are_refused() {
        assert!(Dlp::builtin(&["cards".to_owned()]).is_err());
        assert_eq!(
            Dlp::builtin(&["iban".to_owned()])
                .map(|d| d.names().count())
                .ok(),
            Some(1)
        );
    }

    #[test]
    fn gitleaks_rules_load_with_keywords_groups_and_entropy() {
        let mut d = Dlp::default();
        let toml = r#"
[[rules]]
id = "demo-token"
regex = '''(?i)demo[_-]?token\s*[:=]\s*['"]?([a-z0-9]{24})'''
secretGroup = 1
entropy = 3.0
keywords = ["demo"]
[[rules]]
id = "bad"
regex = '''(?<=x)y'''
"#;
        let (loaded, skipped) = d.load_gitleaks(toml).unwrap_or_default();
        assert_eq!((loaded, skipped), (1, vec!["bad".to_owned()]));
        let text = "DEMO_TOKEN = 'a8f3k2l9x7c4v1b6n5m0q2w8'";
        let hits = d.scan(text, &[]);
        assert_eq!(hits.len(), 1);
        let secret = hits.first().and_then(|h| text.get(h.start..h.end));
        assert_eq!(secret, Some("a8f3k2l9x7c4v1b6n5m0q2w8"));
        // Low entropy: not a secret.
        assert!(
            d.scan("demo_token = 'aaaaaaaaaaaaaaaaaaaaaaaa'", &[])
                .is_empty()
        );
    }

    /// The file's own allowlists, in both spellings, spare their values from every rule of
    /// the file (black-box pass 13, B13-6); other values are still found.
    #[test]
    fn gitleaks_global_allowlists_apply_to_every_rule() {
        for spelling in ["[allowlist]", "[[allowlists]]"] {
            let mut d = Dlp::default();
            let toml = format!(
                r#"
{spelling}
regexes = ['''^acme_0{{16}}$''']
stopwords = ["example"]
paths = ['''\.md$''']
[[rules]]
id = "acme-token"
regex = '''acme_[a-z0-9]{{16}}'''
[[rules]]
id = "zeta-token"
regex = '''zeta_[a-z0-9]{{16}}'''
"#
            );
            assert_eq!(d.load_gitleaks(&toml).map(|r| r.0), Ok(2), "{spelling}");
            assert!(
                d.scan("x acme_0000000000000000 y", &[]).is_empty(),
                "{spelling}"
            );
            assert!(
                d.scan("x zeta_example0000k2l9 y", &[]).is_empty(),
                "{spelling}"
            );
            assert_eq!(
                d.scan("x acme_k2l9x7c4v1b6n5m0 y", &[]).len(),
                1,
                "{spelling}"
            );
            assert_eq!(
                d.scan("x zeta_k2l9x7c4v1b6n5m0 y", &[]).len(),
                1,
                "{spelling}"
            );
        }
    }
}
