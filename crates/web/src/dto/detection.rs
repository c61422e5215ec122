//! Attack detection: ALTCHA challenges, sign-in activity, bans.

use portcullis_core::FieldError;
use portcullis_core::clock::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Validate, max_len};

/// An ALTCHA (v1) proof-of-work challenge: find `number` in `0..=maxnumber` with
/// `hex(SHA-256(salt || number)) == challenge`, then send base64 of
/// `{"algorithm","challenge","number","salt","signature"}` as `altcha`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AltchaChallenge {
    /// `SHA-256`.
    pub algorithm: String,
    /// Hex SHA-256 of `salt || number`.
    pub challenge: String,
    /// The search space.
    pub maxnumber: u64,
    /// The same, as newer ALTCHA clients spell it.
    #[serde(rename = "maxNumber")]
    pub max_number: u64,
    /// Random hex, `?expires=<unix time>&difficulty=<n>&`.
    pub salt: String,
    /// Hex HMAC-SHA256 of `challenge` under the server's key.
    pub signature: String,
}

/// One sign-in attempt as its user sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityEntry {
    /// RFC 3339.
    pub time: String,
    /// Client IP.
    pub ip: Option<String>,
    /// ISO 3166-1 alpha-2 country, when the GeoIP database places the address.
    pub country: Option<String>,
    /// City, likewise.
    pub city: Option<String>,
    /// `known` (a device this account signed in from before) or `new`.
    pub device: String,
    /// `success`, `mfa_required`, `failure`, `challenged` or `denied`.
    pub outcome: String,
    /// Risk score (0 to 100) and its reasons.
    pub risk: RiskBody,
}

/// A risk score with its reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskBody {
    /// 0 to 100.
    pub score: u32,
    /// `impossible_travel`, `new_device`, `new_country`, `unusual_hour`, ...
    pub reasons: Vec<String>,
}

impl From<&portcullis_core::model::LoginEvent> for ActivityEntry {
    fn from(e: &portcullis_core::model::LoginEvent) -> Self {
        Self {
            time: rfc3339(e.time),
            ip: e.ip.clone(),
            country: e.geo.country.clone(),
            city: e.geo.city.clone(),
            device: if e.new_device { "new" } else { "known" }.to_owned(),
            outcome: e.outcome.clone(),
            risk: RiskBody {
                score: e.risk,
                reasons: e.reasons.clone(),
            },
        }
    }
}

/// `GET /auth/activity`
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityList {
    /// Newest first.
    pub activity: Vec<ActivityEntry>,
}

/// A ban.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanBody {
    /// Id.
    pub id: String,
    /// The network banned.
    pub cidr: String,
    /// Why.
    pub reason: String,
    /// `admin:<user id>` or `rule:<alert rule>`.
    pub source: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when it ends by itself.
    pub expires_at: String,
    /// RFC 3339, when lifted early.
    pub lifted_at: Option<String>,
    /// In force now.
    pub active: bool,
}

impl BanBody {
    /// The body of `b` at `now`.
    pub fn new(b: &portcullis_core::model::Ban, now: i64) -> Self {
        Self {
            id: b.id.clone(),
            cidr: b.cidr.to_string(),
            reason: b.reason.clone(),
            source: b.source.clone(),
            created_at: rfc3339(b.created_at),
            expires_at: rfc3339(b.expires_at),
            lifted_at: b.lifted_at.map(rfc3339),
            active: b.active(now),
        }
    }
}

/// `GET /admin/bans`
#[derive(Debug, Serialize, ToSchema)]
pub struct BanList {
    /// Oldest first.
    pub bans: Vec<BanBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// `POST /admin/bans`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// An address or CIDR network.
    #[schema(max_length = 64)]
    pub cidr: String,
    /// How long, seconds (at most a year).
    #[serde(deserialize_with = "super::wire::whole_i64")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub duration_seconds: i64,
    /// Why (shown in the list and the audit log).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

impl Validate for BanRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "cidr", &self.cidr, 64);
        if let Some(r) = &self.reason {
            max_len(&mut e, "reason", r, 800);
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// A ban's network: an IPv4 or IPv6 address, or one with a prefix length, as the handler
/// parses it; a reason without control characters.
pub(super) fn refinements() -> serde_json::Value {
    const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    const H: &str = "[0-9a-fA-F]{1,4}";
    let v4 = format!("{OCTET}(?:\\.{OCTET}){{3}}");
    let v6 = [
        format!("(?:{H}:){{7}}{H}"),
        format!("(?:{H}:){{1,7}}:"),
        format!("(?:{H}:){{1,6}}:{H}"),
        format!("(?:{H}:){{1,5}}(?::{H}){{1,2}}"),
        format!("(?:{H}:){{1,4}}(?::{H}){{1,3}}"),
        format!("(?:{H}:){{1,3}}(?::{H}){{1,4}}"),
        format!("(?:{H}:){{1,2}}(?::{H}){{1,5}}"),
        format!("{H}:(?::{H}){{1,6}}"),
        format!(":(?:(?::{H}){{1,7}}|:)"),
    ]
    .join("|");
    let cidr = format!(
        "^(?:{v4}(?:/(?:3[0-2]|[12]?[0-9]))?|(?:{v6})(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
    );
    serde_json::json!({"BanRequest": {"properties": {
        "cidr": {"pattern": cidr},
        "reason": {"pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"},
    }}})
}
