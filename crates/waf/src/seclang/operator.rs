//! CRS's operators (`@rx`, `@pm`, `@pmFromFile`, `@detectSQLi`, ...): what a rule looks
//! for in a transformed value.

use std::path::Path;

use aho_corasick::AhoCorasick;
use regex::Regex;

#[derive(Debug)]
pub(super) enum Op {
    Rx(Regex),
    Pm(AhoCorasick),
    BeginsWith(String),
    EndsWith(String),
    Contains(String),
    ContainsWord(Regex),
    StrEq(String),
    Within(Vec<String>),
    Sqli,
    Xss,
    ByteRange(Vec<(u8, u8)>),
    UrlEncoding,
}

pub(super) fn byte_ranges(s: &str) -> Result<Vec<(u8, u8)>, String> {
    s.split(',')
        .map(|r| {
            let r = r.trim();
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            match (a.trim().parse(), b.trim().parse()) {
                (Ok(a), Ok(b)) => Ok((a, b)),
                _ => Err(format!("byte range {r}")),
            }
        })
        .collect()
}

pub(super) fn phrases_from_files(dir: &Path, names: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for name in names.split_whitespace() {
        if name.contains('/') || name.contains("..") {
            return Err(format!("data file {name} outside the rules directory"));
        }
        let text = std::fs::read_to_string(dir.join(name))
            .map_err(|e| format!("data file {name}: {e}"))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    Ok(out)
}

pub(super) fn operator(s: &str, dir: &Path) -> Result<(Op, bool), String> {
    let s = s.trim();
    let (negated, s) = match s.strip_prefix('!') {
        Some(r) => (true, r.trim_start()),
        None => (false, s),
    };
    let (name, arg) = if let Some(r) = s.strip_prefix('@') {
        r.split_once(char::is_whitespace).unwrap_or((r, ""))
    } else {
        ("rx", s)
    };
    if arg.contains("%{") {
        return Err("a macro in the operator".into());
    }
    let pm = |list: Vec<String>| -> Result<Op, String> {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&list)
            .map(Op::Pm)
            .map_err(|e| format!("phrases: {e}"))
    };
    let op = match name {
        "rx" => Op::Rx(
            regex::RegexBuilder::new(&crate::rx::ascii_boundaries(arg))
                .size_limit(1 << 24)
                .build()
                .map_err(|e| {
                    let e = e.to_string();
                    format!("@rx: {}", e.lines().last().unwrap_or(&e))
                })?,
        ),
        "pm" => pm(arg.split_whitespace().map(str::to_owned).collect())?,
        "pmFromFile" | "pmf" => pm(phrases_from_files(dir, arg)?)?,
        "beginsWith" => Op::BeginsWith(arg.to_owned()),
        "endsWith" => Op::EndsWith(arg.to_owned()),
        "contains" => Op::Contains(arg.to_owned()),
        "containsWord" => Op::ContainsWord(
            Regex::new(&format!(r"(?-u:\b){}(?-u:\b)", regex::escape(arg)))
                .map_err(|e| e.to_string())?,
        ),
        "streq" => Op::StrEq(arg.to_owned()),
        "within" => Op::Within(arg.split_whitespace().map(str::to_owned).collect()),
        "detectSQLi" => Op::Sqli,
        "detectXSS" => Op::Xss,
        "validateByteRange" => Op::ByteRange(byte_ranges(arg)?),
        "validateUrlEncoding" => Op::UrlEncoding,
        other => return Err(format!("operator @{other}")),
    };
    Ok((op, negated))
}

impl Op {
    pub(super) fn matches(&self, v: &str) -> bool {
        match self {
            Op::Rx(rx) => rx.is_match(v),
            Op::Pm(ac) => ac.is_match(v),
            Op::BeginsWith(p) => v.starts_with(p.as_str()),
            Op::EndsWith(p) => v.ends_with(p.as_str()),
            Op::Contains(p) => v.contains(p.as_str()),
            Op::ContainsWord(rx) => rx.is_match(v),
            Op::StrEq(p) => v == p,
            Op::Within(list) => !v.is_empty() && list.iter().any(|w| w.contains(v)),
            Op::Sqli => libinjectionrs::detect_sqli(v.as_bytes()).is_injection(),
            Op::Xss => libinjectionrs::detect_xss(v.as_bytes()).is_injection(),
            Op::ByteRange(ranges) => v
                .bytes()
                .any(|b| !ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b))),
            Op::UrlEncoding => {
                let b = v.as_bytes();
                b.iter().enumerate().any(|(i, &c)| {
                    c == b'%'
                        && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                })
            }
        }
    }
}
