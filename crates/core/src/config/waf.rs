//! `[waf]` (request inspection) and the per-route `waf = { ... }` overrides.

use super::*;

/// What inspection does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WafMode {
    /// Nothing is inspected.
    Off,
    /// Requests that would be blocked are let through, logged and audited
    /// (`waf.request_flagged`). The default: visibility without breaking anything.
    #[default]
    Detect,
    /// Requests whose score reaches the threshold are refused (403 `request_blocked`).
    Block,
}

/// What happens to a body larger than `body_limit_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WafOversize {
    /// Refused with 413 (in `block` mode; flagged in `detect` mode).
    #[default]
    Reject,
    /// Its first `body_limit_bytes` are inspected, the rest is passed on unread.
    Partial,
    /// The body is not inspected (the head still is).
    Skip,
}

/// The places (CRS's collection names) an exclusion's `target` may name (black-box pass 13,
/// B13-5: a misspelt one was accepted and excluded nothing).
const TARGETS: &[&str] = &[
    "ARGS",
    "ARGS_NAMES",
    "ARGS_GET",
    "ARGS_GET_NAMES",
    "ARGS_POST",
    "ARGS_POST_NAMES",
    "REQUEST_HEADERS",
    "REQUEST_HEADERS_NAMES",
    "REQUEST_COOKIES",
    "REQUEST_COOKIES_NAMES",
    "REQUEST_BODY",
    "REQUEST_URI",
    "REQUEST_URI_RAW",
    "REQUEST_FILENAME",
    "REQUEST_BASENAME",
    "REQUEST_METHOD",
    "QUERY_STRING",
    "FILES",
    "FILES_NAMES",
    "XML",
    "MULTIPART_PART_HEADERS",
];

/// One `[[waf.exclusions]]`: a rule switched off, everywhere or for one place or route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafExclusion {
    /// A rule id, or a prefix ending in `*`.
    pub rule: String,
    /// Only at this place (`ARGS:q`, `ARGS`, `REQUEST_HEADERS:User-Agent`).
    #[serde(default)]
    pub target: Option<String>,
    /// Only on this route (its id).
    #[serde(default)]
    pub route: Option<String>,
}

/// `[waf]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WafConfig {
    /// `off`, `detect` or `block`.
    pub mode: WafMode,
    /// 1..4: rules up to this level count toward the score.
    pub paranoia: u8,
    /// `paranoia`..4: rules above `paranoia` up to this level are logged only.
    pub detection_paranoia: u8,
    /// The anomaly score that blocks (critical 5, error 4, warning 3, notice 2).
    pub inbound_threshold: u32,
    /// Request body bytes inspected.
    pub body_limit_bytes: usize,
    /// `reject`, `partial` or `skip`.
    pub oversize: WafOversize,
    /// An OWASP CRS rules directory (its `REQUEST-9*.conf` and `.data` files), loaded beside
    /// the built-in rules; `""` is none.
    #[serde(deserialize_with = "empty_path_is_none")]
    pub crs_dir: Option<PathBuf>,
    /// clamd to scan uploaded files with (`127.0.0.1:3310` or `unix:/path`).
    pub clamd_address: Option<String>,
    /// Rules switched off.
    pub exclusions: Vec<WafExclusion>,
}

impl Default for WafConfig {
    fn default() -> Self {
        Self {
            mode: WafMode::Detect,
            paranoia: 1,
            detection_paranoia: 1,
            inbound_threshold: 5,
            body_limit_bytes: 128 * 1024,
            oversize: WafOversize::Reject,
            crs_dir: None,
            clamd_address: None,
            exclusions: Vec::new(),
        }
    }
}

/// A route's `waf = { mode, paranoia, ... }`: what it sets replaces `[waf]`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteWafConfig {
    /// The route's mode.
    pub mode: Option<WafMode>,
    /// The route's paranoia level.
    pub paranoia: Option<u8>,
    /// The route's detection paranoia level.
    pub detection_paranoia: Option<u8>,
    /// The route's threshold.
    pub inbound_threshold: Option<u32>,
    /// The route's body limit.
    pub body_limit_bytes: Option<usize>,
    /// The route's oversize handling.
    pub oversize: Option<WafOversize>,
}

/// The settings in force on one route (or on Portcullis's own API, with no override).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WafEffective {
    /// Mode.
    pub mode: WafMode,
    /// Paranoia level.
    pub paranoia: u8,
    /// Detection paranoia level (at least `paranoia`).
    pub detection_paranoia: u8,
    /// Threshold.
    pub inbound_threshold: u32,
    /// Body limit.
    pub body_limit_bytes: usize,
    /// Oversize handling.
    pub oversize: WafOversize,
}

/// A path where `""` means none (the contract's example writes `crs_dir = ""`).
fn empty_path_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()).map(PathBuf::from))
}

impl WafConfig {
    /// The settings with a route's overrides applied.
    pub fn effective(&self, route: Option<&RouteWafConfig>) -> WafEffective {
        let none = RouteWafConfig::default();
        let o = route.unwrap_or(&none);
        let paranoia = o.paranoia.unwrap_or(self.paranoia);
        WafEffective {
            mode: o.mode.unwrap_or(self.mode),
            paranoia,
            detection_paranoia: o
                .detection_paranoia
                .unwrap_or(self.detection_paranoia)
                .max(paranoia),
            inbound_threshold: o.inbound_threshold.unwrap_or(self.inbound_threshold),
            body_limit_bytes: o.body_limit_bytes.unwrap_or(self.body_limit_bytes),
            oversize: o.oversize.unwrap_or(self.oversize),
        }
    }

    /// Checks levels, thresholds and exclusions; `routes` are the route ids exclusions may
    /// name.
    pub fn validate(&self, routes: &[RouteConfig]) -> Result<(), ConfigError> {
        if let Some(dir) = &self.crs_dir
            && !dir.is_dir()
        {
            return Err(ConfigError {
                key: "waf.crs_dir".into(),
                message: format!("{} is not a directory", dir.display()),
            });
        }
        // `host:port` or `unix:/path`: a typo was found only by uploads refused with 503
        // (black-box pass 13, B13-5).
        if let Some(a) = &self.clamd_address {
            let ok = match a.strip_prefix("unix:") {
                Some(path) => path.starts_with('/'),
                None => a.contains(':') && super::authority_ok(a),
            };
            if !ok {
                return Err(bad(
                    "waf.clamd_address",
                    format!("{a:?} is not host:port or unix:/path/to/clamd.ctl"),
                ));
            }
        }
        let level = |key: &str, v: u8| {
            if (1..=4).contains(&v) {
                Ok(())
            } else {
                Err(bad(key, format!("must be 1 to 4, not {v}")))
            }
        };
        level("waf.paranoia", self.paranoia)?;
        level("waf.detection_paranoia", self.detection_paranoia)?;
        if self.detection_paranoia < self.paranoia {
            return Err(bad(
                "waf.detection_paranoia",
                "must be at least waf.paranoia",
            ));
        }
        if self.inbound_threshold == 0 {
            return Err(bad("waf.inbound_threshold", "must be at least 1"));
        }
        if self.body_limit_bytes == 0 || self.body_limit_bytes > 64 << 20 {
            return Err(bad(
                "waf.body_limit_bytes",
                "must be between 1 byte and 64 MiB",
            ));
        }
        for (i, e) in self.exclusions.iter().enumerate() {
            let digits = e.rule.strip_suffix('*').unwrap_or(&e.rule);
            if digits.is_empty() && !e.rule.ends_with('*')
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(
                    &format!("waf.exclusions[{i}].rule"),
                    format!("{:?} is not a rule id or a prefix ending in *", e.rule),
                ));
            }
            if let Some(t) = &e.target {
                let (collection, name) = t.split_once(':').unwrap_or((t, "x"));
                // `ARGS:` names nothing, and `ARGS:/re/` (CRS's regular-expression
                // targets) is not read as one: both excluded nothing (pass 14, B14-9).
                if name.is_empty()
                    || (name.len() > 1 && name.starts_with('/') && name.ends_with('/'))
                {
                    return Err(bad(
                        &format!("waf.exclusions[{i}].target"),
                        format!(
                            "{t:?}: name one place after the colon (`ARGS:q`), or none (`ARGS`); regular expressions are not read"
                        ),
                    ));
                }
                if !TARGETS.iter().any(|c| c.eq_ignore_ascii_case(collection)) {
                    return Err(bad(
                        &format!("waf.exclusions[{i}].target"),
                        format!(
                            "{t:?} names no place a rule reads (one of {}, with `:name` or not)",
                            TARGETS.join(", ")
                        ),
                    ));
                }
            }
            // Every rule, everywhere: that is `mode = "off"`, said plainly.
            if e.rule == "*" && e.target.is_none() && e.route.is_none() {
                return Err(bad(
                    &format!("waf.exclusions[{i}].rule"),
                    "\"*\" with no target and no route switches every rule off: set waf.mode = \"off\" instead",
                ));
            }
            if let Some(r) = &e.route
                && !routes.iter().any(|x| &x.name == r)
            {
                return Err(bad(
                    &format!("waf.exclusions[{i}].route"),
                    format!("no route has the id {r:?}"),
                ));
            }
        }
        for r in routes {
            let Some(w) = &r.waf else { continue };
            if let Some(p) = w.paranoia {
                level(&format!("routes[{}].waf.paranoia", r.name), p)?;
            }
            if let Some(p) = w.detection_paranoia {
                level(&format!("routes[{}].waf.detection_paranoia", r.name), p)?;
            }
        }
        Ok(())
    }
}

/// What data loss prevention does with a secret in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlpMode {
    /// Responses are not inspected.
    #[default]
    Off,
    /// Matches are audited (`dlp.match`); the response is unchanged.
    Detect,
    /// Matches are masked in the response, and audited.
    Mask,
    /// A response with a match is replaced by 502 `response_blocked`.
    Block,
}

/// `[dlp]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlpConfig {
    /// `off`, `detect`, `mask` or `block`.
    pub mode: DlpMode,
    /// Built-in detectors in force (empty: all of them).
    pub detectors: Vec<String>,
    /// Extra secret rules in gitleaks' TOML format.
    pub rules_file: Option<PathBuf>,
    /// Response bytes inspected.
    pub body_limit_bytes: usize,
    /// A Portcullis API key seen in a response is revoked at once.
    pub revoke_leaked_api_keys: bool,
}

impl Default for DlpConfig {
    fn default() -> Self {
        Self {
            mode: DlpMode::Off,
            detectors: Vec::new(),
            rules_file: None,
            body_limit_bytes: 512 * 1024,
            revoke_leaked_api_keys: true,
        }
    }
}

/// A route's `dlp = { mode, allow }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteDlpConfig {
    /// The route's mode, over `[dlp]`'s.
    pub mode: Option<DlpMode>,
    /// Detectors not applied on this route (e.g. `["email"]`).
    pub allow: Vec<String>,
}

impl DlpConfig {
    /// Checks the body limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes == 0 || self.body_limit_bytes > 64 << 20 {
            return Err(bad(
                "dlp.body_limit_bytes",
                "must be between 1 byte and 64 MiB",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(exclusions: Vec<WafExclusion>, clamd: Option<&str>) -> WafConfig {
        WafConfig {
            exclusions,
            clamd_address: clamd.map(str::to_owned),
            ..WafConfig::default()
        }
    }

    fn exclusion(rule: &str, target: Option<&str>) -> WafExclusion {
        WafExclusion {
            rule: rule.to_owned(),
            target: target.map(str::to_owned),
            route: None,
        }
    }

    /// Exclusion targets name places rules read; `*` alone is `mode = "off"`; clamd is
    /// `host:port` or `unix:/path` (black-box pass 13, B13-5).
    #[test]
    fn exclusion_targets_and_the_clamd_address_are_checked() {
        for fine in [
            exclusion("942*", Some("ARGS:q")),
            exclusion("941100", Some("request_headers:User-Agent")),
            exclusion("*", Some("ARGS_NAMES")),
            exclusion("920*", None),
        ] {
            assert_eq!(
                with(vec![fine.clone()], None).validate(&[]),
                Ok(()),
                "{fine:?}"
            );
        }
        for (bad, key) in [
            (
                exclusion("942*", Some("NOPE:q")),
                "waf.exclusions[0].target",
            ),
            (exclusion("942*", Some("ARG:q")), "waf.exclusions[0].target"),
            (exclusion("*", None), "waf.exclusions[0].rule"),
            (exclusion("942*", Some("ARGS:")), "waf.exclusions[0].target"),
            (
                exclusion("942*", Some("ARGS:/^q/")),
                "waf.exclusions[0].target",
            ),
        ] {
            assert_eq!(
                with(vec![bad.clone()], None).validate(&[]).unwrap_err().key,
                key,
                "{bad:?}"
            );
        }
        for fine in [
            "127.0.0.1:3310",
            "clamd.internal:3310",
            "unix:/run/clamav/clamd.ctl",
        ] {
            assert_eq!(with(vec![], Some(fine)).validate(&[]), Ok(()), "{fine}");
        }
        for bad in [
            "not an address",
            "unix:clamd.ctl",
            "127.0.0.1",
            ":3310",
            "h:0",
        ] {
            assert_eq!(
                with(vec![], Some(bad)).validate(&[]).unwrap_err().key,
                "waf.clamd_address",
                "{bad}"
            );
        }
    }
}
