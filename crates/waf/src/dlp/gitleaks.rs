//! Extra DLP rules in gitleaks' TOML format (`[dlp] rules_file`): each rule's regex,
//! keywords, secret group and entropy, and the allowlists of the rule and of the file.
//! (Split from `dlp.rs`.)

use regex::Regex;

use super::{Detector, Dlp};

impl Dlp {
    /// Adds the rules of a gitleaks TOML file; returns how many were loaded and the ids of
    /// those whose pattern this regex engine cannot run (they are left out, not guessed).
    pub fn load_gitleaks(&mut self, toml_text: &str) -> Result<(usize, Vec<String>), String> {
        let doc: toml::Table = toml_text
            .parse()
            .map_err(|e| format!("gitleaks rules: {e}"))?;
        let rules = doc
            .get("rules")
            .and_then(toml::Value::as_array)
            .ok_or("gitleaks rules: no [[rules]]")?;
        let mut loaded = 0;
        let mut skipped = Vec::new();
        // The file's own allowlists (`[allowlist]`, or `[[allowlists]]` in gitleaks 8.25's
        // spelling) apply to each of its rules (black-box pass 13, B13-6: they were left
        // out, so the file's known test values were masked and blocked).
        let (global_allow, global_stopwords) = allowlists(&|k| doc.get(k));
        for r in rules {
            let Some(id) = r.get("id").and_then(toml::Value::as_str) else {
                continue;
            };
            let Some(pattern) = r.get("regex").and_then(toml::Value::as_str) else {
                // Path-only rules (file names) do not apply to response bodies.
                continue;
            };
            let rx = match regex::RegexBuilder::new(&crate::rx::ascii_boundaries(pattern))
                .size_limit(1 << 24)
                .build()
            {
                Ok(rx) => rx,
                Err(_) => {
                    skipped.push(id.to_owned());
                    continue;
                }
            };
            let (mut allow, mut stopwords) = allowlists(&|k| r.get(k));
            allow.extend(global_allow.iter().cloned());
            stopwords.extend(global_stopwords.iter().cloned());
            self.detectors.push(Detector {
                id: id.to_owned(),
                rx,
                keywords: toml_strings(r.get("keywords"))
                    .into_iter()
                    .map(|k| k.to_lowercase())
                    .collect(),
                group: r
                    .get("secretGroup")
                    .and_then(toml::Value::as_integer)
                    .and_then(|g| usize::try_from(g).ok())
                    .unwrap_or(0),
                entropy: r.get("entropy").and_then(toml::Value::as_float),
                validate: None,
                allow,
                stopwords,
            });
            loaded += 1;
        }
        Ok((loaded, skipped))
    }
}

/// The strings of a TOML array (none when `v` is not one).
fn toml_strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The regexes (about the secret itself, not commits or paths) and stopwords of the
/// gitleaks allowlists in a table (`allowlists = [...]`, or one `allowlist`), which `get`
/// reads.
fn allowlists<'a>(get: &dyn Fn(&str) -> Option<&'a toml::Value>) -> (Vec<Regex>, Vec<String>) {
    let lists = get("allowlists")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .chain(get("allowlist"));
    let mut allow = Vec::new();
    let mut stopwords = Vec::new();
    for list in lists {
        let target = list
            .get("regexTarget")
            .and_then(toml::Value::as_str)
            .unwrap_or("secret");
        if target == "secret" {
            for p in toml_strings(list.get("regexes")) {
                if let Ok(rx) = Regex::new(&p) {
                    allow.push(rx);
                }
            }
        }
        stopwords.extend(
            toml_strings(list.get("stopwords"))
                .into_iter()
                .map(|s| s.to_lowercase()),
        );
    }
    (allow, stopwords)
}
