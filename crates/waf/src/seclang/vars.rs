//! Which values a CRS rule reads: its variables (`ARGS|!ARGS:x|REQUEST_HEADERS:/^X-/`) as
//! kinds of place, with keys, key patterns and exclusions.

use regex::Regex;

use crate::request::{Kind, Kinds, Target};

/// Which values a variable names.
#[derive(Debug)]
pub(super) enum Key {
    All,
    Exact(String),
    Pattern(Regex),
}

#[derive(Debug)]
pub(super) struct Var {
    pub(super) kinds: Kinds,
    pub(super) key: Key,
}

impl Var {
    pub(super) fn covers(&self, t: &Target) -> bool {
        if self.kinds & t.kind as u16 == 0 {
            return false;
        }
        let name = t.location.split_once(':').map_or("", |(_, n)| n);
        match &self.key {
            Key::All => true,
            Key::Exact(k) => name.eq_ignore_ascii_case(k),
            Key::Pattern(rx) => rx.is_match(name),
        }
    }
}

pub(super) fn variable(name: &str) -> Result<Kinds, String> {
    use Kind::*;
    Ok(match name {
        "ARGS" | "ARGS_GET" | "ARGS_POST" => Args as u16,
        "ARGS_NAMES" | "ARGS_GET_NAMES" | "ARGS_POST_NAMES" => ArgNames as u16,
        "REQUEST_COOKIES" => Cookies as u16,
        "REQUEST_COOKIES_NAMES" => CookieNames as u16,
        "REQUEST_HEADERS" => UaReferer as u16 | Headers as u16,
        "REQUEST_HEADERS_NAMES" => HeaderNames as u16,
        "REQUEST_FILENAME" | "REQUEST_BASENAME" => Path as u16,
        "REQUEST_URI" | "REQUEST_URI_RAW" | "QUERY_STRING" => RawUri as u16,
        "REQUEST_BODY" | "XML" => Body as u16,
        "FILES" | "FILES_NAMES" => FileNames as u16,
        "REQUEST_METHOD" => Method as u16,
        other => return Err(format!("variable {other}")),
    })
}

/// `ARGS|!ARGS:x|REQUEST_HEADERS:/^X-/`: what a link reads and leaves out.
pub(super) fn variables(s: &str) -> Result<(Vec<Var>, Vec<Var>, bool), String> {
    let (mut vars, mut excluded, mut matched) = (Vec::new(), Vec::new(), false);
    for part in s.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        if part.starts_with('&') {
            return Err(format!("count {part}"));
        }
        let (neg, part) = match part.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, part),
        };
        let (name, key) = part.split_once(':').unwrap_or((part, ""));
        if matches!(name, "MATCHED_VAR" | "MATCHED_VARS") {
            matched = true;
            continue;
        }
        let kinds = variable(name)?;
        let key = if key.is_empty() || (name == "XML" && key.starts_with("/*")) {
            Key::All
        } else if let Some(rx) = key.strip_prefix('/').and_then(|k| k.strip_suffix('/')) {
            Key::Pattern(
                regex::RegexBuilder::new(rx)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("key /{rx}/: {e}"))?,
            )
        } else {
            Key::Exact(key.trim_matches('\'').to_owned())
        };
        if neg {
            excluded.push(Var { kinds, key });
        } else {
            vars.push(Var { kinds, key });
        }
    }
    if vars.is_empty() && !matched {
        return Err("no variable it can read".into());
    }
    Ok((vars, excluded, matched))
}
