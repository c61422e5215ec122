//! OWASP CRS rule files (`waf.crs_dir`), loaded as well as the built-in rules: the subset
//! of SecLang that CRS's request detection rules use.
//!
//! Written here rather than taken from `zentinel-modsec` (young; its chained rules
//! over-matched the CRS suite when evaluated). What is loaded: every `SecRule` of phases 1
//! and 2 tagged `paranoia-level/N` (CRS's detection rules; the level gates it, as CRS's own
//! skip rules would), with
//! - variables: `ARGS`, `ARGS_NAMES`, `REQUEST_COOKIES(_NAMES)`, `REQUEST_HEADERS(_NAMES)`,
//!   `REQUEST_FILENAME`, `REQUEST_BASENAME`, `REQUEST_URI(_RAW)`,
//!   `QUERY_STRING`, `REQUEST_BODY`, `XML`, `FILES(_NAMES)`, `REQUEST_METHOD`, with `:key`,
//!   `:/regex/` and `!` exclusions; `MATCHED_VAR(S)` in chained rules;
//! - operators: `@rx`, `@pm`, `@pmFromFile`, `@beginsWith`, `@endsWith`, `@contains`,
//!   `@containsWord`, `@streq`, `@within`, `@detectSQLi`, `@detectXSS`,
//!   `@validateByteRange`, `@validateUrlEncoding`, negated with `!`;
//! - transformations: `none`, `lowercase`, `urlDecode(Uni)`, `htmlEntityDecode`,
//!   `jsDecode`, `cssDecode`, `escapeSeqDecode`, `cmdLine`, `compressWhitespace`,
//!   `removeWhitespace`, `removeNulls`, `replaceNulls`, `replaceComments`,
//!   `removeCommentsChar`, `normalizePath(Win)`, `utf8toUnicode`, `trim`, `base64Decode`;
//! - `chain`, `severity`, `msg`, `tag`.
//!
//! A rule that needs anything else (transaction variables, counts, macros, an expression
//! Rust's `regex` cannot run) is skipped, and the load says which and why.

mod operator;
pub mod parse;
mod transform;
mod vars;

use std::path::Path;

use crate::request::{Kinds, Target};
use crate::rules::Severity;
use operator::{Op, operator};
use transform::{Transform, apply, transform};
use vars::{Var, variables};

/// How a CRS directory loaded.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    /// Rule files read.
    pub files: usize,
    /// Detection rules loaded.
    pub loaded: usize,
    /// Rules skipped: id and why.
    pub skipped: Vec<(u32, String)>,
}

#[derive(Debug)]
struct Link {
    vars: Vec<Var>,
    excluded: Vec<Var>,
    matched_vars: bool,
    transforms: Vec<Transform>,
    op: Op,
    negated: bool,
}

/// One loaded CRS rule (its chain included).
#[derive(Debug)]
pub struct CrsRule {
    /// The rule id.
    pub id: u32,
    /// The attack class, from the id's CRS file.
    pub category: &'static str,
    /// `paranoia-level/N`.
    pub paranoia: u8,
    /// `severity`.
    pub severity: Severity,
    /// `msg`.
    pub msg: String,
    /// The kinds of place the first link reads.
    pub kinds: Kinds,
    links: Vec<Link>,
}

/// The attack class of a CRS rule id.
fn category(id: u32) -> &'static str {
    match id / 1000 {
        911 | 920 | 921 | 922 => "protocol",
        913 => "scanner",
        930 => "lfi",
        931 => "rfi",
        932 => "rce",
        933 => "php",
        934 => "generic",
        941 => "xss",
        942 => "sqli",
        943 => "session-fixation",
        944 => "java",
        _ => "other",
    }
}

impl Link {
    fn test(&self, v: &str) -> bool {
        let mut cur = std::borrow::Cow::Borrowed(v);
        for t in &self.transforms {
            cur = std::borrow::Cow::Owned(apply(*t, &cur));
        }
        self.op.matches(&cur) != self.negated
    }

    fn covers(&self, t: &Target) -> bool {
        self.vars.iter().any(|v| v.covers(t)) && !self.excluded.iter().any(|v| v.covers(t))
    }
}

impl CrsRule {
    /// Whether the rule (its chain included) matches at `target`, given every target of
    /// the request for links that read variables of their own.
    pub fn matches_at(&self, target: &Target, all: &[Target]) -> bool {
        let Some(first) = self.links.first() else {
            return false;
        };
        if !first.covers(target) || !first.test(&target.value) {
            return false;
        }
        self.links.iter().skip(1).all(|link| {
            (link.matched_vars && link.test(&target.value))
                || all.iter().any(|t| link.covers(t) && link.test(&t.value))
        })
    }
}

/// Builds one link from a `SecRule`'s parts.
fn link(
    variables_s: &str,
    operator_s: &str,
    acts: &[(String, String)],
    dir: &Path,
) -> Result<Link, String> {
    let (vars, excluded, matched_vars) = variables(variables_s)?;
    let (op, negated) = operator(operator_s, dir)?;
    let mut transforms = Vec::new();
    for (k, v) in acts {
        if k == "t" {
            match transform(v)? {
                Some(t) => transforms.push(t),
                None if v == "none" => transforms.clear(),
                None => {}
            }
        }
        if k == "ctl" {
            // `ctl` in a detection rule changes the engine for the transaction: unsupported.
            return Err("ctl action".into());
        }
    }
    Ok(Link {
        vars,
        excluded,
        matched_vars,
        transforms,
        op,
        negated,
    })
}

fn action<'a>(acts: &'a [(String, String)], name: &str) -> Option<&'a str> {
    acts.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A rule that switches others off for a request by its body processor
/// (`SecRule REQBODY_PROCESSOR "@streq JSON" "...,ctl:ruleRemoveById=920540"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The body processor it applies to (`JSON`, `URLENCODED`, `MULTIPART`, `XML`).
    pub processor: String,
    /// The rules it removes.
    pub rules: Vec<u32>,
}

/// The loaded rules.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The detection rules.
    pub rules: Vec<CrsRule>,
    /// The removals by body processor.
    pub removals: Vec<Removal>,
    /// The single-link `@rx` rules, one `RegexSet` per transformation chain: each value is
    /// transformed once per chain and matched against all of them in one pass.
    pub sets: Vec<RuleSet>,
    /// The rules not in a set (chains, other operators), run one by one.
    pub singles: Vec<usize>,
}

/// Rules sharing a transformation chain, matched as one `RegexSet`.
#[derive(Debug)]
pub struct RuleSet {
    transforms: Vec<Transform>,
    set: regex::RegexSet,
    /// The rule (index into [`Loaded::rules`]) of each pattern.
    pub members: Vec<usize>,
    /// The kinds of place any member reads.
    pub kinds: Kinds,
}

impl RuleSet {
    /// The members (indices) whose expression matches `value` transformed by the chain.
    pub fn matching(&self, value: &str) -> Vec<usize> {
        let mut cur = std::borrow::Cow::Borrowed(value);
        for t in &self.transforms {
            cur = std::borrow::Cow::Owned(apply(*t, &cur));
        }
        self.set
            .matches(&cur)
            .iter()
            .filter_map(|i| self.members.get(i).copied())
            .collect()
    }
}

impl CrsRule {
    /// Whether the rule's variables point at `target` (its first link's, exclusions applied).
    pub fn reads(&self, target: &Target) -> bool {
        self.links.first().is_some_and(|l| l.covers(target))
    }

    /// The expression and transformations of a rule that can join a set.
    fn set_member(&self) -> Option<(&[Transform], &str)> {
        match self.links.as_slice() {
            [l] if !l.negated && !l.matched_vars => match &l.op {
                Op::Rx(rx) => Some((&l.transforms, rx.as_str())),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Groups the rules that can share a `RegexSet` by transformation chain.
fn group(rules: &[CrsRule]) -> (Vec<RuleSet>, Vec<usize>) {
    let mut chains: Vec<(Vec<Transform>, Vec<usize>)> = Vec::new();
    let mut singles = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        match r.set_member() {
            Some((t, _)) => match chains.iter_mut().find(|(c, _)| c.as_slice() == t) {
                Some((_, m)) => m.push(i),
                None => chains.push((t.to_vec(), vec![i])),
            },
            None => singles.push(i),
        }
    }
    let mut sets = Vec::new();
    for (transforms, members) in chains {
        let patterns: Vec<&str> = members
            .iter()
            .filter_map(|&i| rules.get(i).and_then(CrsRule::set_member).map(|(_, p)| p))
            .collect();
        match regex::RegexSetBuilder::new(&patterns)
            .size_limit(1 << 28)
            .dfa_size_limit(1 << 24)
            .build()
        {
            Ok(set) => sets.push(RuleSet {
                transforms,
                set,
                kinds: members
                    .iter()
                    .filter_map(|&i| rules.get(i))
                    .fold(0, |k, r| k | r.kinds),
                members,
            }),
            // Too large as one set: those rules run one by one.
            Err(_) => singles.extend(members),
        }
    }
    singles.sort_unstable();
    (sets, singles)
}

/// The body processor ModSecurity would pick for a `Content-Type`.
pub fn body_processor(content_type: &str) -> &'static str {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if ct == "application/json" || ct.ends_with("+json") {
        "JSON"
    } else if ct == "application/x-www-form-urlencoded" {
        "URLENCODED"
    } else if ct.starts_with("multipart/") {
        "MULTIPART"
    } else if ct.ends_with("/xml") || ct.ends_with("+xml") {
        "XML"
    } else {
        ""
    }
}

/// A `ctl:ruleRemoveById=` removal keyed on `REQBODY_PROCESSOR`, if the rule is one.
fn removal(variables: &str, operator: &str, acts: &[(String, String)]) -> Option<Removal> {
    if variables.trim() != "REQBODY_PROCESSOR" {
        return None;
    }
    let processor = operator.trim().strip_prefix("@streq")?.trim().to_owned();
    let rules: Vec<u32> = acts
        .iter()
        .filter(|(k, _)| k == "ctl")
        .filter_map(|(_, v)| v.strip_prefix("ruleRemoveById="))
        .filter_map(|id| id.trim().parse().ok())
        .collect();
    (!rules.is_empty()).then_some(Removal { processor, rules })
}

/// Loads the request detection rules of every `REQUEST-9*.conf` in `dir`.
pub fn load(dir: &Path) -> Result<(Loaded, LoadStats), String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("REQUEST-9") && n.ends_with(".conf"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{}: no REQUEST-9*.conf rule files (is this CRS's rules directory?)",
            dir.display()
        ));
    }
    let mut stats = LoadStats {
        files: files.len(),
        ..LoadStats::default()
    };
    let mut rules = Vec::new();
    let mut removals = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut directives = parse::directives(&text).into_iter().peekable();
        while let Some(d) = directives.next() {
            let parse::Directive::Rule {
                variables: vars,
                operator: op,
                actions: acts,
                ..
            } = d
            else {
                continue;
            };
            // The chained links that follow.
            let mut chain = Vec::new();
            let mut chained = action(&acts, "chain").is_some();
            while chained {
                match directives.next() {
                    Some(parse::Directive::Rule {
                        variables,
                        operator,
                        actions,
                        ..
                    }) => {
                        chained = action(&actions, "chain").is_some();
                        chain.push((variables, operator, actions));
                    }
                    _ => break,
                }
            }
            let Some(id) = action(&acts, "id").and_then(|i| i.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(r) = removal(&vars, &op, &acts) {
                removals.push(r);
                continue;
            }
            let paranoia = acts.iter().find_map(|(k, v)| {
                (k == "tag")
                    .then(|| v.strip_prefix("paranoia-level/"))
                    .flatten()
                    .and_then(|n| n.parse::<u8>().ok())
            });
            let phase = action(&acts, "phase").unwrap_or("2");
            let (Some(paranoia), true) = (paranoia, matches!(phase, "1" | "2" | "request")) else {
                continue;
            };
            let built = std::iter::once((vars, op, acts.clone()))
                .chain(chain)
                .map(|(v, o, a)| link(&v, &o, &a, dir))
                .collect::<Result<Vec<_>, _>>();
            match built {
                Ok(links) => {
                    let severity = match action(&acts, "severity").unwrap_or("CRITICAL") {
                        "CRITICAL" | "2" => Severity::Critical,
                        "ERROR" | "3" => Severity::Error,
                        "WARNING" | "4" => Severity::Warning,
                        _ => Severity::Notice,
                    };
                    let kinds = links
                        .first()
                        .map_or(0, |l| l.vars.iter().fold(0, |k, v| k | v.kinds));
                    rules.push(CrsRule {
                        id,
                        category: category(id),
                        paranoia: paranoia.clamp(1, 4),
                        severity,
                        msg: action(&acts, "msg").unwrap_or("OWASP CRS rule").to_owned(),
                        kinds,
                        links,
                    });
                    stats.loaded += 1;
                }
                Err(why) => stats.skipped.push((id, why)),
            }
        }
    }
    let (sets, singles) = group(&rules);
    Ok((
        Loaded {
            rules,
            removals,
            sets,
            singles,
        },
        stats,
    ))
}

#[cfg(test)]
mod tests {
    use super::transform::normalize_path;
    use super::*;
    use crate::request::Kind;

    fn target(kind: Kind, location: &str, value: &str) -> Target<'static> {
        Target::new(kind, location, value)
    }

    #[test]
    fn transformations_and_paths() {
        assert_eq!(normalize_path("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(normalize_path("../../etc/passwd"), "../../etc/passwd");
        assert_eq!(normalize_path("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(apply(Transform::ReplaceComments, "UN/**/ION/*x"), "UN ION ");
        assert_eq!(apply(Transform::Compress, "a \t\n b"), "a b");
        assert_eq!(apply(Transform::Base64, "PHNjcmlwdD4="), "<script>");
    }

    #[test]
    fn a_rule_with_keys_exclusions_and_a_chain() {
        let dir = std::env::temp_dir();
        let l = link(
            "REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS",
            "@rx (?i)<script",
            &[("t".into(), "urlDecodeUni".into())],
            &dir,
        )
        .unwrap();
        let chained = link("MATCHED_VARS", "@pm alert confirm", &[], &dir).unwrap();
        let rule = CrsRule {
            id: 941999,
            category: "xss",
            paranoia: 1,
            severity: Severity::Critical,
            msg: "t".into(),
            kinds: 0,
            links: vec![l, chained],
        };
        let hit = target(Kind::Args, "ARGS:q", "%3Cscript%3Ealert(1)");
        let excluded = target(Kind::Cookies, "REQUEST_COOKIES:__utmz", "<script>alert(1)");
        let no_chain = target(Kind::Args, "ARGS:q", "<script>x");
        assert!(rule.matches_at(&hit, std::slice::from_ref(&hit)));
        assert!(!rule.matches_at(&excluded, std::slice::from_ref(&excluded)));
        assert!(!rule.matches_at(&no_chain, std::slice::from_ref(&no_chain)));
        assert!(variables("TX:foo").is_err());
        assert!(variables("&ARGS").is_err());
        assert!(operator("@rx (?<=a)b", &dir).is_err());
        assert!(operator("@eq %{tx.x}", &dir).is_err());
    }
}
