//! Request inspection (a web application firewall) for Portcullis's gateway and API.
//!
//! A request is taken apart into the places input arrives ([`request`]), each value is
//! decoded the ways attacks hide ([`decode`]), and the built-in rules ([`rules`]) look at
//! the places and forms they name: libinjection's fingerprints for SQL injection and XSS,
//! and expressions for path traversal, command and code injection, template injection, XXE,
//! CRLF, NoSQL and LDAP injection, scanners and protocol anomalies. Matches add up as OWASP
//! CRS's anomaly scoring does: a rule counts when its paranoia level is at most `paranoia`,
//! rules up to `detection_paranoia` are reported without counting, and the request is to
//! be blocked when the count reaches `inbound_threshold`.
//!
//! The engine is pure: no I/O, no clock, no allocation beyond the request's own values. The
//! gateway and the API decide what to do with a [`Report`] (mode, audit, the answer).

use forms::{Forms, matches};

mod bodies;
pub mod charset;
pub mod decode;
pub mod dlp;
mod forms;
mod memo;
pub mod multipart;
pub mod protobuf;
pub mod request;
pub mod rules;
mod rx;
pub mod seclang;
mod unescape;

pub use request::{Input, Kind, Target};
pub use rules::{Rule, Severity};

/// Scoring settings (`[waf]`, per route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Rules at or below this level count toward the score.
    pub paranoia: u8,
    /// Rules above `paranoia` and at or below this are reported only.
    pub detection_paranoia: u8,
    /// The score that blocks.
    pub inbound_threshold: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            paranoia: 1,
            detection_paranoia: 1,
            inbound_threshold: 5,
        }
    }
}

/// A rule switched off, everywhere or for one place or route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// A rule id, or a prefix ending in `*` (`"942*"`).
    pub rule: String,
    /// Only at this place: `ARGS:q`, `ARGS` (every argument), `REQUEST_HEADERS:User-Agent`.
    pub target: Option<String>,
    /// Only on this route.
    pub route: Option<String>,
}

impl Exclusion {
    /// Whether this exclusion lifts `rule` at `location` on `route` (for findings made
    /// outside the engine: a malware signature, a body that does not decode).
    pub fn excludes(&self, rule: u32, location: &str, route: Option<&str>) -> bool {
        self.covers_rule(rule) && self.covers_place(location) && self.covers_route(route)
    }

    fn covers_rule(&self, id: u32) -> bool {
        let id = id.to_string();
        match self.rule.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => self.rule == id,
        }
    }

    fn covers_place(&self, location: &str) -> bool {
        let Some(t) = &self.target else { return true };
        if t.eq_ignore_ascii_case(location) {
            return true;
        }
        // `ARGS` covers `ARGS:x`; `ARGS:json.a` covers `ARGS:json.a.b` and `[0]` below it.
        location.len() > t.len()
            && location
                .get(..t.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(t))
            && matches!(location.as_bytes().get(t.len()), Some(b':' | b'.' | b'['))
    }

    fn covers_route(&self, route: Option<&str>) -> bool {
        match (&self.route, route) {
            (None, _) => true,
            (Some(r), Some(route)) => r == route,
            (Some(_), None) => false,
        }
    }
}

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: u32,
    /// Its attack class.
    pub category: &'static str,
    /// Its paranoia level.
    pub paranoia: u8,
    /// Its severity.
    pub severity: Severity,
    /// What it means.
    pub msg: std::borrow::Cow<'static, str>,
    /// Where it matched (the first few places); never the value.
    pub locations: Vec<String>,
    /// Whether it counted toward the score (its level is at most `paranoia`).
    pub counted: bool,
}

/// What inspection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The rules that matched.
    pub findings: Vec<Finding>,
    /// The anomaly score of the counted findings.
    pub score: u32,
    /// Whether the score reached the threshold.
    pub exceeded: bool,
}

impl Report {
    /// Takes back the findings of `rule` (one the caller knows does not apply here), and
    /// scores again against `threshold`.
    pub fn withdraw(&mut self, rule: u32, threshold: u32) {
        self.findings.retain(|f| f.rule != rule);
        self.score = self
            .findings
            .iter()
            .filter(|f| f.counted)
            .map(|f| f.severity.score())
            .sum();
        self.exceeded = self.score >= threshold;
    }

    /// Adds a finding made outside the engine (an uploaded file's scan), counted at once,
    /// and decides again against `threshold`.
    pub fn add_external(&mut self, finding: Finding, threshold: u32) {
        if finding.counted {
            self.score += finding.severity.score();
        }
        self.findings.push(finding);
        self.exceeded = self.score >= threshold;
    }
}

/// What a finding says of the rule that made it (a built-in rule or a CRS one).
struct Head {
    id: u32,
    category: &'static str,
    paranoia: u8,
    severity: Severity,
    msg: std::borrow::Cow<'static, str>,
}

impl Head {
    fn of(rule: &Rule) -> Self {
        Self {
            id: rule.id,
            category: rule.category,
            paranoia: rule.paranoia,
            severity: rule.severity,
            msg: std::borrow::Cow::Borrowed(rule.msg),
        }
    }
}

/// Places reported per finding at most.
const LOCATIONS_PER_FINDING: usize = 5;

/// A rule of the engine (an expression rule is matched through its form's set).
#[derive(Debug)]
struct Compiled {
    rule: Rule,
}

/// The inspection engine: the built-in rules, compiled once.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Compiled>,
    /// For each paranoia level (index 0 is level 1), the expression rules up to it, one set
    /// per form, built when a request first asks for that level.
    levels: [std::sync::OnceLock<Result<Vec<FormSet>, String>>; 4],
    /// The rules that are not expressions (libinjection, character counts).
    others: Vec<usize>,
    /// The kinds any rule reads (places of other kinds are not taken apart at all).
    kinds: request::Kinds,
    /// OWASP CRS rules loaded from `crs_dir`, run as well.
    crs: seclang::Loaded,
    /// What the built-in rules found in headers, across requests.
    memo: memo::Memo,
    /// ... and in arguments, cookies and paths.
    memo_data: memo::Memo,
}

/// The expression rules of one form as one set, matched in one pass over a value.
#[derive(Debug)]
struct FormSet {
    form: rules::Form,
    set: regex::RegexSet,
    /// The rule index of each pattern.
    index: Vec<usize>,
    /// The kinds any of them read.
    kinds: request::Kinds,
}

impl Engine {
    /// Compiles the built-in rules.
    pub fn new() -> Result<Self, String> {
        // Each expression lives in its form's set only: compiled alone as well, the rules
        // took 27 MiB that nothing used.
        let compiled: Vec<Compiled> = rules::all().map(|rule| Compiled { rule: *rule }).collect();
        let mut others = Vec::new();
        for (i, c) in compiled.iter().enumerate() {
            if !matches!(c.rule.test, rules::Test::Rx(_)) {
                others.push(i);
            }
        }
        let kinds = compiled.iter().fold(0, |k, c| k | c.rule.kinds);
        let engine = Self {
            rules: compiled,
            levels: Default::default(),
            others,
            kinds,
            crs: seclang::Loaded::default(),
            memo: memo::Memo::new(memo::HEADERS),
            memo_data: memo::Memo::new(memo::DATA),
        };
        // Level 1, the default, is compiled now; the server prepares the levels its
        // configuration uses, and each is compiled at most once. (Each rule compiled alone
        // above, so a pattern that does not compile is an error here, at start.)
        engine.sets(1)?;
        Ok(engine)
    }

    /// Compiles the rules of paranoia `level` now rather than at the first request that
    /// asks for it (level 1 is compiled by [`Engine::new`]).
    pub fn prepare(&self, level: u8) -> Result<(), String> {
        self.sets(level).map(|_| ())
    }

    /// The expression rules up to paranoia `level`, one set per form.
    fn sets(&self, level: u8) -> Result<&[FormSet], String> {
        let slot = usize::from(level.clamp(1, 4) - 1);
        let Some(cell) = self.levels.get(slot) else {
            return Ok(&[]);
        };
        cell.get_or_init(|| self.compile_sets(level))
            .as_deref()
            .map_err(Clone::clone)
    }

    fn compile_sets(&self, level: u8) -> Result<Vec<FormSet>, String> {
        let mut sets = Vec::new();
        let forms = [
            rules::Form::Raw,
            rules::Form::Decoded,
            rules::Form::Lower,
            rules::Form::Sql,
            rules::Form::Cmd,
            rules::Form::Path,
            rules::Form::Compact,
        ];
        for form in forms {
            let mut patterns = Vec::new();
            let mut index = Vec::new();
            let mut kinds = 0;
            for (i, c) in self.rules.iter().enumerate() {
                if let rules::Test::Rx(p) = c.rule.test
                    && c.rule.form == form
                    && c.rule.paranoia <= level
                {
                    patterns.push(p);
                    index.push(i);
                    kinds |= c.rule.kinds;
                }
            }
            if patterns.is_empty() {
                continue;
            }
            let set = regex::RegexSetBuilder::new(patterns.iter().map(|p| rx::ascii_boundaries(p)))
                .size_limit(1 << 27)
                .dfa_size_limit(1 << 24)
                .build()
                .map_err(|e| {
                    // Name the rule: the first whose pattern does not compile alone.
                    let culprit = index.iter().find_map(|&i| {
                        let c = self.rules.get(i)?;
                        let rules::Test::Rx(p) = c.rule.test else {
                            return None;
                        };
                        regex::RegexBuilder::new(&rx::ascii_boundaries(p))
                            .size_limit(1 << 24)
                            .build()
                            .err()
                            .map(|e| format!("rule {}: {e}", c.rule.id))
                    });
                    culprit.unwrap_or_else(|| format!("the rules of form {form:?}: {e}"))
                })?;
            sets.push(FormSet {
                form,
                set,
                index,
                kinds,
            });
        }
        Ok(sets)
    }

    /// The built-in rules and OWASP CRS's request detection rules from `dir` (see
    /// [`seclang`]), with what loaded and what was skipped.
    pub fn with_crs(dir: &std::path::Path) -> Result<(Self, seclang::LoadStats), String> {
        let mut engine = Self::new()?;
        let (crs, stats) = seclang::load(dir)?;
        engine.kinds |= crs.rules.iter().fold(0, |k, r| k | r.kinds);
        engine.crs = crs;
        Ok((engine, stats))
    }

    /// The rules, for listing.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    /// Inspects a request on `route` (a route id, or `None` for Portcullis's own API).
    pub fn inspect(
        &self,
        input: &Input<'_>,
        settings: &Settings,
        exclusions: &[Exclusion],
        route: Option<&str>,
    ) -> Report {
        let taken = request::take_apart(input);
        let exclusions: Vec<&Exclusion> = exclusions
            .iter()
            .filter(|e| e.covers_route(route))
            .collect();
        let level = settings
            .paranoia
            .max(settings.detection_paranoia)
            .clamp(1, 4);
        let mut report = Report::default();
        // Rule id -> index of its finding (few per request: a list beats a hash map).
        let mut found: Vec<(u32, usize)> = Vec::new();
        let mut add_finding = |head: Head, location: &str, report: &mut Report| {
            let Head {
                id,
                category,
                paranoia,
                severity,
                msg,
            } = head;
            if exclusions
                .iter()
                .any(|e| e.covers_rule(id) && e.covers_place(location))
            {
                return;
            }
            match found.iter().find(|(fid, _)| *fid == id).map(|&(_, i)| i) {
                Some(i) => {
                    if let Some(f) = report.findings.get_mut(i)
                        && f.locations.len() < LOCATIONS_PER_FINDING
                        && !f.locations.iter().any(|l| l == location)
                    {
                        f.locations.push(location.to_owned());
                    }
                }
                None => {
                    found.push((id, report.findings.len()));
                    report.findings.push(Finding {
                        rule: id,
                        category,
                        paranoia,
                        severity,
                        msg,
                        locations: vec![location.to_owned()],
                        counted: paranoia <= settings.paranoia,
                    });
                }
            }
        };
        let applies =
            |c: &Compiled, kind: u16| c.rule.paranoia <= level && c.rule.kinds & kind != 0;
        // Compiled at start for level 1 and checked by the tests for every level; a failure
        // here could only be the regex crate's size limits, and inspection then fails closed.
        let (sets, remember) = match self.sets(level) {
            Ok(sets) => (sets, true),
            Err(_) => {
                add_finding(Head::of(&UNINSPECTABLE), "REQUEST", &mut report);
                (&[][..], false)
            }
        };
        // The built-in rules' matches of one place, in the order they match (rule indexes).
        let mut hits: Vec<u32> = Vec::new();
        for target in &taken.targets {
            let kind = target.kind as u16;
            if kind & self.kinds == 0 || target.value.is_empty() {
                continue;
            }
            // A header seen before: its matches as they were (see `memo`).
            let memo = if kind & memo::HEADERS != 0 {
                &self.memo
            } else {
                &self.memo_data
            };
            let key = remember.then(|| memo.key(level, target)).flatten();
            if let Some(known) = key.and_then(|k| memo.get(k)) {
                for c in known.iter().filter_map(|&i| self.rules.get(i as usize)) {
                    add_finding(Head::of(&c.rule), &target.location, &mut report);
                }
                continue;
            }
            hits.clear();
            let mut forms = Forms::new(&target.value);
            for &i in &self.others {
                if let Some(c) = self.rules.get(i)
                    && applies(c, kind)
                    && matches(c, &mut forms)
                {
                    hits.push(i as u32);
                }
            }
            for fs in sets {
                if fs.kinds & kind == 0 {
                    continue;
                }
                let v = forms.get(fs.form);
                // Most values match nothing: a plain search stops at the first match and
                // is cheaper than the overlapping one that says which patterns matched.
                if v.is_empty() || !fs.set.is_match(v) {
                    continue;
                }
                for m in fs.set.matches(v).iter() {
                    if let Some(&i) = fs.index.get(m)
                        && self.rules.get(i).is_some_and(|c| applies(c, kind))
                    {
                        hits.push(i as u32);
                    }
                }
            }
            for c in hits.iter().filter_map(|&i| self.rules.get(i as usize)) {
                add_finding(Head::of(&c.rule), &target.location, &mut report);
            }
            if let Some(key) = key {
                memo.put(key, &hits);
            }
        }
        // OWASP CRS rules from crs_dir, each where its variables point; those its body
        // processor removes (920540 for JSON) are left out, as CRS's `ctl` would.
        let processor = input
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map_or("", |(_, v)| {
                seclang::body_processor(std::str::from_utf8(v).unwrap_or_default())
            });
        let removed: Vec<u32> = self
            .crs
            .removals
            .iter()
            .filter(|r| r.processor == processor)
            .flat_map(|r| r.rules.iter().copied())
            .collect();
        let crs_head = |r: &seclang::CrsRule| Head {
            id: r.id,
            category: r.category,
            paranoia: r.paranoia,
            severity: r.severity,
            msg: std::borrow::Cow::Owned(r.msg.clone()),
        };
        let live = |r: &seclang::CrsRule| r.paranoia <= level && !removed.contains(&r.id);
        for r in self
            .crs
            .singles
            .iter()
            .filter_map(|&i| self.crs.rules.get(i))
            .filter(|r| live(r))
        {
            for target in &taken.targets {
                if r.kinds & target.kind as u16 != 0
                    && !target.value.is_empty()
                    && r.matches_at(target, &taken.targets)
                {
                    add_finding(crs_head(r), &target.location, &mut report);
                }
            }
        }
        for set in &self.crs.sets {
            for target in &taken.targets {
                if set.kinds & target.kind as u16 == 0 || target.value.is_empty() {
                    continue;
                }
                for r in set
                    .matching(&target.value)
                    .into_iter()
                    .filter_map(|i| self.crs.rules.get(i))
                {
                    if live(r) && r.reads(target) {
                        add_finding(crs_head(r), &target.location, &mut report);
                    }
                }
            }
        }
        if taken.overflow {
            add_finding(Head::of(&OVERFLOW), "REQUEST", &mut report);
        }
        if taken.malformed_body {
            add_finding(Head::of(&MALFORMED), "REQUEST_BODY", &mut report);
        }
        for (id, location) in &taken.multipart_refused {
            if let Some(rule) = MULTIPART.iter().find(|r| r.id == *id) {
                add_finding(Head::of(rule), location, &mut report);
            }
        }
        if input
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .any(|(_, v)| charset_refused(v))
        {
            add_finding(
                Head::of(&CHARSET),
                "REQUEST_HEADERS:Content-Type",
                &mut report,
            );
        }
        report.score = report
            .findings
            .iter()
            .filter(|f| f.counted)
            .map(|f| f.severity.score())
            .sum();
        report.exceeded = report.score >= settings.inbound_threshold;
        report
    }
}

/// A finding the engine makes itself rather than a rule's match: a protocol matter, at
/// level 1, critical (it blocks on its own).
const fn engine_finding(id: u32, msg: &'static str) -> Rule {
    Rule {
        id,
        category: "protocol",
        paranoia: 1,
        severity: Severity::Critical,
        kinds: 0,
        form: rules::Form::Raw,
        test: rules::Test::SpecialChars(0),
        msg,
    }
}

/// More places than are inspected: blocked, so nothing hides past the limit.
const OVERFLOW: Rule = engine_finding(
    920390,
    "Request exceeds the inspection limits (arguments or nesting)",
);

/// The rules of the requested paranoia level could not be compiled: blocked, since the
/// request could not be inspected.
const UNINSPECTABLE: Rule = engine_finding(
    920391,
    "The inspection rules of this paranoia level could not be compiled",
);

/// A body that does not parse as its content type says.
const MALFORMED: Rule = engine_finding(920130, "Request body does not parse as its content type");

/// A body in a character set the rules cannot read (EBCDIC, UTF-16, ...), as CRS's
/// 920480 restricts them.
const CHARSET: Rule = engine_finding(
    920480,
    "Request content type charset is not allowed by policy",
);

/// Multipart part headers CRS refuses (REQUEST-922-MULTIPART-ATTACK).
const MULTIPART: [Rule; 4] = [
    engine_finding(
        922100,
        "Multipart content type global _charset_ definition is not allowed by policy",
    ),
    engine_finding(
        922110,
        "Illegal MIME Multipart Header content-type: charset parameter",
    ),
    engine_finding(
        922120,
        "Content-Transfer-Encoding was deprecated by rfc7578 in 2015 and should not be used",
    ),
    engine_finding(
        922130,
        "Multipart header contains characters outside of valid range",
    ),
];

/// Whether `charset` is UTF-8, US-ASCII or one of the Latin ones CRS allows.
pub(crate) fn charset_allowed(charset: &str) -> bool {
    matches!(
        charset
            .trim()
            .trim_matches(['"', '\''])
            .to_ascii_lowercase()
            .as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "iso-8859-1" | "iso-8859-15" | "windows-1252"
    )
}

/// Whether a `Content-Type` names a charset other than UTF-8, US-ASCII and the Latin ones
/// CRS allows, or more than one.
pub(crate) fn charset_refused(content_type: &[u8]) -> bool {
    let ct = String::from_utf8_lossy(content_type).to_ascii_lowercase();
    let charsets: Vec<&str> = ct
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| k.trim() == "charset")
        .map(|(_, v)| v.trim().trim_matches(['"', '\'']))
        .collect();
    match charsets.as_slice() {
        [] => false,
        [c] => !charset_allowed(c),
        _ => true,
    }
}

#[cfg(test)]
mod tests;
