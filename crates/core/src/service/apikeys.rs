//! API keys and service accounts: creation, rotation with overlap and revocation (the
//! authentication of requests that carry a key is in `key_auth.rs`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::auth::Principal;
use super::key_auth::valid_spiffe_id;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::apikey;
use crate::email::Email;
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::model::{ApiKeyRecord, Role, SigningMode, User};
use crate::rand::bytes;
use crate::store::Tx;

/// Scopes one key may carry.
pub const MAX_SCOPES: usize = 32;
/// Longest rotation overlap: 30 days.
pub const MAX_OVERLAP_SECONDS: i64 = 30 * 86_400;
/// Scopes only administrators may grant (to their own keys).
pub const ADMIN_SCOPES: [&str; 2] = ["admin:read", "admin:write"];

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct ApiKeySpec {
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry in days, if any.
    pub expires_in_days: Option<u32>,
    /// `hmac-sha256`, `ed25519`, or none.
    pub signing: Option<String>,
    /// For `ed25519`: `{"kty":"OKP","crv":"Ed25519","x":"..."}`.
    pub public_key_jwk: Option<Value>,
}

/// A key just issued: the secret parts are shown once.
#[derive(Debug)]
pub struct IssuedApiKey {
    /// What is stored.
    pub record: ApiKeyRecord,
    /// The key itself.
    pub key: SecretString,
    /// For `hmac-sha256` keys: the signing secret, base64.
    pub signing_secret: Option<SecretString>,
}

/// What an authenticated API key grants, and how its requests must be signed.
#[derive(Clone)]
pub struct ApiKeyGrant {
    /// The key's id (the `keyid` of its signatures).
    pub id: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Required request signing.
    pub signing: SigningMode,
}

impl std::fmt::Debug for ApiKeyGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyGrant")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .field("signing", &self.signing)
            .finish()
    }
}

impl ApiKeyGrant {
    /// Fails with `forbidden` naming `scope` unless the key carries it (or `*`).
    pub fn require(&self, scope: &str) -> Result<()> {
        if self.scopes.iter().any(|s| s == scope || s == "*") {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "This API key lacks the scope `{scope}`."
            )))
        }
    }
}

/// A key spec that passed the checks.
struct CheckedSpec {
    name: String,
    scopes: Vec<String>,
    signing: SigningMode,
    public_key: Option<[u8; 32]>,
}

/// A page of keys for administrators.
#[derive(Debug)]
pub struct ApiKeyPage {
    /// The keys.
    pub keys: Vec<ApiKeyRecord>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

fn invalid(field: &str, code: &str, msg: impl Into<String>) -> Error {
    let msg = msg.into();
    Error::InvalidRequest(
        format!("invalid {field}: {msg}"),
        vec![FieldError::new(field, code, msg)],
    )
}

fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'*' | b'/')
        })
}

/// The 32-byte Ed25519 public key of an OKP JWK.
fn ed25519_from_jwk(jwk: &Value) -> Result<[u8; 32]> {
    let bad = || {
        invalid(
            "public_key_jwk",
            "invalid",
            "an Ed25519 JWK: {\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"<base64url of 32 bytes>\"}",
        )
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("OKP")
        || jwk.get("crv").and_then(Value::as_str) != Some("Ed25519")
        || jwk.get("d").is_some()
    {
        return Err(bad());
    }
    let x = jwk.get("x").and_then(Value::as_str).ok_or_else(bad)?;
    let raw: [u8; 32] = URL_SAFE_NO_PAD
        .decode(x)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| bad())?;
    // A small-order key (the identity among them) has no secret behind it: signatures
    // "verify" under it without one.
    if key.is_weak() {
        return Err(invalid(
            "public_key_jwk",
            "weak_key",
            "the Ed25519 public key is of small order (weak); use a key generated from a secret",
        ));
    }
    Ok(raw)
}

impl Services {
    pub(crate) fn api_key_server_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.keyring.derive("portcullis:api-key-hash:v1")
    }

    fn signing_aad(key_id: &str) -> Vec<u8> {
        format!("portcullis:api-key-signing:v1:{key_id}").into_bytes()
    }

    /// The HMAC signing secret of a key, opened.
    pub fn api_key_signing_secret(
        &self,
        key: &ApiKeyRecord,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let sealed = key
            .signing_secret
            .as_ref()
            .ok_or_else(|| Error::Internal("HMAC key without a signing secret".into()))?;
        self.keyring.open(&Self::signing_aad(&key.id), sealed)
    }

    /// Checks a key spec against the owner's rights.
    fn check_spec(owner: &User, spec: &ApiKeySpec) -> Result<CheckedSpec> {
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "invalid",
                "1 to 100 characters, no control characters",
            ));
        }
        if spec.scopes.is_empty() || spec.scopes.len() > MAX_SCOPES {
            return Err(invalid("scopes", "invalid", "1 to 32 scopes"));
        }
        let mut scopes: Vec<String> = Vec::new();
        for s in &spec.scopes {
            if !valid_scope(s) {
                return Err(invalid(
                    "scopes",
                    "invalid",
                    format!("`{s}`: 1 to 64 of letters, digits and : . _ - * /"),
                ));
            }
            if ADMIN_SCOPES.contains(&s.as_str()) && owner.role != Role::Admin {
                return Err(Error::Forbidden(format!(
                    "Only administrators may grant the scope `{s}`: a key carries at most its owner's rights."
                )));
            }
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        if spec.expires_in_days == Some(0) || spec.expires_in_days.is_some_and(|d| d > 3650) {
            return Err(invalid("expires_in_days", "invalid", "1 to 3650"));
        }
        let signing = match spec.signing.as_deref() {
            None | Some("none") => SigningMode::None,
            Some(s) => s
                .parse()
                .map_err(|m: String| invalid("signing", "invalid", m))?,
        };
        let public_key = match (signing, &spec.public_key_jwk) {
            (SigningMode::Ed25519, Some(jwk)) => Some(ed25519_from_jwk(jwk)?),
            (SigningMode::Ed25519, None) => {
                return Err(invalid(
                    "public_key_jwk",
                    "required",
                    "ed25519 signing needs the client's public key",
                ));
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "public_key_jwk",
                    "invalid",
                    "only for \"signing\": \"ed25519\"",
                ));
            }
            (_, None) => None,
        };
        Ok(CheckedSpec {
            name: name.to_owned(),
            scopes,
            signing,
            public_key,
        })
    }

    /// Generates, stores and audits a key for `owner`, inside `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn issue_key(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        actor: &str,
        owner: &User,
        spec: CheckedSpec,
        expires_at: Option<i64>,
        rotated_from: Option<String>,
    ) -> Result<IssuedApiKey> {
        let CheckedSpec {
            name,
            scopes,
            signing,
            public_key,
        } = spec;
        let now = self.now();
        let id = new_id(now, self.rng.as_ref());
        let key = apikey::generate(self.rng.as_ref());
        let prefix = apikey::parse(key.expose_secret())
            .ok_or_else(|| Error::Internal("generated API key does not parse".into()))?
            .to_owned();
        let (signing_secret, sealed) = if signing == SigningMode::HmacSha256 {
            let secret: zeroize::Zeroizing<[u8; 32]> =
                zeroize::Zeroizing::new(bytes(self.rng.as_ref()));
            let sealed =
                self.keyring
                    .seal(&Self::signing_aad(&id), secret.as_ref(), self.rng.as_ref());
            (
                Some(SecretString::from(STANDARD.encode(secret.as_ref()))),
                Some(sealed),
            )
        } else {
            (None, None)
        };
        let record = ApiKeyRecord {
            id: id.clone(),
            owner_id: owner.id.clone(),
            name,
            prefix,
            key_hash: apikey::hash(self.api_key_server_key().as_ref(), key.expose_secret()),
            scopes,
            signing,
            signing_secret: sealed,
            public_key,
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
            rotated_from: rotated_from.clone(),
        };
        tx.insert_api_key(&record).await?;
        let action = if rotated_from.is_some() {
            "auth.api_key.rotated"
        } else {
            "auth.api_key.created"
        };
        tx.append_audit(
            &NewAuditEvent::new(now, action, Outcome::Success)
                .actor(actor.to_owned())
                .target(id)
                .client(ctx)
                .details(json!({
                    "owner_id": owner.id, "name": record.name, "prefix": record.prefix,
                    "scopes": record.scopes, "signing": signing.as_str(),
                    "expires_at": expires_at, "rotated_from": rotated_from,
                })),
        )
        .await?;
        Ok(IssuedApiKey {
            record,
            key,
            signing_secret,
        })
    }

    /// Creates a key for the signed-in user (needs a recent factor).
    pub async fn create_api_key(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        spec: &ApiKeySpec,
    ) -> Result<IssuedApiKey> {
        if p.api_key.is_some() {
            return Err(Error::Forbidden(
                "API keys are created from a user session, not with another key.".into(),
            ));
        }
        self.require_recent_auth(p).await?;
        let owner = self.me(p).await?;
        let checked = Self::check_spec(&owner, spec)?;
        let now = self.now();
        let expires_at = spec.expires_in_days.map(|d| now + i64::from(d) * 86_400);
        let mut tx = self.store.begin().await?;
        let issued = self
            .issue_key(
                tx.as_mut(),
                ctx,
                &p.user_id,
                &owner,
                checked,
                expires_at,
                None,
            )
            .await?;
        tx.commit().await?;
        self.notify(&owner, &super::Notice::ApiKeyCreated(spec.name.clone()));
        Ok(issued)
    }

    /// The caller's keys.
    pub async fn list_api_keys(&self, p: &Principal) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.store.api_keys_of(&p.user_id).await?)
    }

    /// Issues a successor of key `id`; the old key stops after `overlap_seconds`.
    pub async fn rotate_api_key(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        id: &str,
        overlap_seconds: Option<i64>,
    ) -> Result<IssuedApiKey> {
        if p.api_key.is_some() {
            return Err(Error::Forbidden(
                "API keys are rotated from a user session, not with another key.".into(),
            ));
        }
        self.require_recent_auth(p).await?;
        let overlap = overlap_seconds.unwrap_or(0);
        if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
            return Err(invalid(
                "overlap_seconds",
                "invalid",
                "0 to 2592000 (30 days)",
            ));
        }
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let owner = self.me(p).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let old = tx
            .lock_api_key(id)
            .await?
            .filter(|k| k.owner_id == owner.id)
            .ok_or(Error::NotFound)?;
        if !old.is_active(now) {
            return Err(Error::Conflict(
                "this key is revoked or expired; create a new one".into(),
            ));
        }
        let issued = self
            .issue_key(
                tx.as_mut(),
                ctx,
                &p.user_id,
                &owner,
                CheckedSpec {
                    name: old.name.clone(),
                    scopes: old.scopes.clone(),
                    signing: old.signing,
                    public_key: old.public_key,
                },
                old.expires_at,
                Some(old.id.clone()),
            )
            .await?;
        if overlap == 0 {
            tx.revoke_api_key(&old.id, now).await?;
        } else {
            tx.limit_api_key(&old.id, now + overlap).await?;
        }
        tx.commit().await?;
        Ok(issued)
    }

    /// Revokes one of the caller's keys, at once.
    pub async fn revoke_own_api_key(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let key = self
            .store
            .api_key(id)
            .await?
            .filter(|k| k.owner_id == p.user_id)
            .ok_or(Error::NotFound)?;
        self.revoke_key(&p.user_id, ctx, &key.id).await
    }

    /// Revokes any key (administrators).
    pub async fn admin_revoke_api_key(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        self.require_recent_auth(admin).await?;
        if self.store.api_key(id).await?.is_none() {
            return Err(Error::NotFound);
        }
        self.revoke_key(&admin.user_id, ctx, id).await
    }

    async fn revoke_key(&self, actor: &str, ctx: &RequestContext, id: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let revoked = tx.revoke_api_key(id, now).await?;
        if revoked {
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.api_key.revoked", Outcome::Success)
                    .actor(actor.to_owned())
                    .target(id.to_owned())
                    .client(ctx),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every key, by id (administrators).
    pub async fn admin_list_api_keys(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ApiKeyPage> {
        if cursor.is_some_and(|c| !is_valid_id(c)) {
            return Err(Error::InvalidRequest("invalid cursor".into(), vec![]));
        }
        let limit = limit.clamp(1, 500);
        let keys = self.store.list_api_keys(cursor, limit + 1).await?;
        let (keys, next_cursor) = super::admin::cursor_page(keys, limit, |k| k.id.clone());
        Ok(ApiKeyPage { keys, next_cursor })
    }

    /// Creates a service account (role `service`, no password) with a first key.
    pub async fn create_service_account(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        name: &str,
        spec: &ApiKeySpec,
        spiffe_id: Option<&str>,
    ) -> Result<(User, IssuedApiKey)> {
        self.require_recent_auth(admin).await?;
        if let Some(id) = spiffe_id
            && !valid_spiffe_id(id)
        {
            return Err(invalid(
                "spiffe_id",
                "invalid",
                "spiffe://<trust domain>/<path>: lower-case trust domain, no query or fragment",
            ));
        }
        let display = name.trim();
        let slug: String = display
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .trim_matches('-')
            .chars()
            .take(40)
            .collect();
        if display.is_empty() || display.chars().count() > 100 || slug.is_empty() {
            return Err(invalid(
                "name",
                "invalid",
                "1 to 100 characters, with at least one letter or digit",
            ));
        }
        let now = self.now();
        let id = new_id(now, self.rng.as_ref());
        // Service accounts have no mailbox; the reserved .invalid TLD (RFC 2606) says so.
        let short = id.get(id.len().saturating_sub(8)..).unwrap_or("0");
        let email = Email::parse(&format!("{slug}.{short}@service.invalid"))
            .map_err(|m| invalid("name", "invalid", m))?;
        let user = User {
            id,
            email,
            display_name: Some(display.to_owned()),
            role: Role::Service,
            password_hash: None,
            mfa_enabled: false,
            locked: false,
            email_verified: false,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let checked = Self::check_spec(&user, spec)?;
        let expires_at = spec.expires_in_days.map(|d| now + i64::from(d) * 86_400);
        let mut tx = self.store.begin().await?;
        tx.insert_user(&user)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("a service account of that name exists".into())
                }
                other => other,
            })?;
        if let Some(id) = spiffe_id {
            tx.insert_service_identity(id, &user.id, &checked.scopes, now)
                .await
                .map_err(|e| match Error::from(e) {
                    Error::Conflict(_) => {
                        Error::Conflict("that SPIFFE ID already identifies a service".into())
                    }
                    other => other,
                })?;
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.service_account.created", Outcome::Success)
                .actor(admin.user_id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"name": display, "spiffe_id": spiffe_id})),
        )
        .await?;
        let issued = self
            .issue_key(
                tx.as_mut(),
                ctx,
                &admin.user_id,
                &user,
                checked,
                expires_at,
                None,
            )
            .await?;
        tx.commit().await?;
        Ok((user, issued))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked() {
        assert!(valid_scope("payments:write"));
        assert!(valid_scope("admin:read"));
        assert!(!valid_scope(""));
        assert!(!valid_scope("a b"));
        assert!(!valid_scope(&"x".repeat(65)));
    }

    #[test]
    fn jwks_are_checked() {
        let x = URL_SAFE_NO_PAD.encode(
            ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                .verifying_key()
                .as_bytes(),
        );
        assert!(ed25519_from_jwk(&json!({"kty":"OKP","crv":"Ed25519","x": x})).is_ok());
        assert!(ed25519_from_jwk(&json!({"kty":"OKP","crv":"X25519","x": x})).is_err());
        assert!(ed25519_from_jwk(&json!({"kty":"OKP","crv":"Ed25519","x": x, "d": x})).is_err());
        assert!(ed25519_from_jwk(&json!({"kty":"OKP","crv":"Ed25519","x": "AAAA"})).is_err());
    }

    #[test]
    fn grants_name_the_missing_scope() {
        let g = ApiKeyGrant {
            id: "k".into(),
            scopes: vec!["a:read".into()],
            signing: SigningMode::None,
        };
        assert!(g.require("a:read").is_ok());
        let e = g
            .require("a:write")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("a:write"), "{e}");
    }
}
