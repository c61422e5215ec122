//! Authentication of requests that carry an API key or a client certificate: the key's
//! constant-time check and its last-use bookkeeping, and the SPIFFE identity of an mTLS peer.

use std::collections::HashMap;

use serde_json::json;

use super::apikeys::ApiKeyGrant;
use super::auth::Principal;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::apikey;
use crate::crypto::tokens::ct_eq;
use crate::error::{Error, Result};
use crate::model::{ApiKeyRecord, SigningMode};

/// How often the last use of a key is written (more often when its IP changes).
const TOUCH_EVERY: i64 = 60;

impl Services {
    /// Authenticates a request carrying API key `raw`: the key must parse, exist, match in
    /// constant time, be active, and belong to an unlocked principal. Returns the principal
    /// and the key's record (for signature verification).
    pub async fn authenticate_api_key(
        &self,
        raw: &str,
        ctx: &RequestContext,
    ) -> Result<(Principal, ApiKeyRecord)> {
        const BAD: Error = Error::InvalidToken("unknown, revoked or expired API key");
        if !self.health.ready() {
            return Err(Error::Unavailable(
                "database unreachable; failing closed".into(),
            ));
        }
        let prefix = apikey::parse(raw).ok_or(BAD)?;
        let key = self.store.api_key_by_prefix(prefix).await?.ok_or(BAD)?;
        let hash = apikey::hash(self.api_key_server_key().as_ref(), raw);
        if !ct_eq(hash.as_bytes(), key.key_hash.as_bytes()) {
            return Err(BAD);
        }
        let now = self.now();
        if !key.is_active(now) {
            return Err(BAD);
        }
        let owner = self.store.user_by_id(&key.owner_id).await?.ok_or(BAD)?;
        if owner.locked {
            return Err(Error::AccountLocked);
        }
        self.note_key_use(&key, ctx, now).await?;
        Ok((
            Principal {
                user_id: owner.id,
                session_id: String::new(),
                role: owner.role,
                amr: vec![],
                auth_time: now,
                api_key: Some(ApiKeyGrant {
                    id: key.id.clone(),
                    scopes: key.scopes.clone(),
                    signing: key.signing,
                }),
                elevation: None,
                password_change: false,
            },
            key,
        ))
    }

    /// Writes the last use of a key (at most once a minute, or when its IP changes) and
    /// audits a use from an IP the key was not last used from.
    async fn note_key_use(&self, key: &ApiKeyRecord, ctx: &RequestContext, now: i64) -> Result<()> {
        let ip = ctx.ip.map(|i| i.to_string());
        let due = {
            let mut seen = self
                .api_key_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.len() > 100_000 {
                seen.clear();
            }
            let prev = seen.get(&key.id).cloned();
            let last_ip = prev
                .as_ref()
                .and_then(|(_, i)| i.clone())
                .or(key.last_used_ip.clone());
            let due = prev.is_none_or(|(t, i)| now - t >= TOUCH_EVERY || i != ip);
            if due {
                seen.insert(key.id.clone(), (now, ip.clone()));
            }
            due.then_some(last_ip)
        };
        let Some(last_ip) = due else { return Ok(()) };
        if ip.is_some() && last_ip.is_some() && ip != last_ip {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "auth.api_key.new_ip", Outcome::Success)
                    .actor(key.owner_id.clone())
                    .target(key.id.clone())
                    .client(ctx)
                    .details(json!({"previous_ip": last_ip})),
            )
            .await?;
            tx.commit().await?;
        }
        self.store
            .touch_api_key(&key.id, now, ip.as_deref())
            .await?;
        Ok(())
    }
}

/// A SPIFFE ID (`spiffe://trust-domain/path`), per the SPIFFE ID specification.
pub fn valid_spiffe_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("spiffe://") else {
        return false;
    };
    let (domain, path) = rest.split_once('/').unwrap_or((rest, ""));
    id.len() <= 2048
        && !domain.is_empty()
        && domain.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
        && path.split('/').all(|seg| {
            !path.is_empty()
                && !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        })
}

impl Services {
    /// Authenticates a client whose certificate the TLS layer verified: the first of its
    /// SPIFFE IDs mapped to an unlocked service account. Audited once a minute per identity.
    pub async fn authenticate_peer(
        &self,
        spiffe_ids: &[String],
        ctx: &RequestContext,
    ) -> Result<Option<Principal>> {
        if !self.health.ready() {
            return Err(Error::Unavailable(
                "database unreachable; failing closed".into(),
            ));
        }
        for id in spiffe_ids {
            let Some((user_id, scopes)) = self.store.service_identity(id).await? else {
                continue;
            };
            let Some(user) = self.store.user_by_id(&user_id).await? else {
                continue;
            };
            if user.locked {
                return Err(Error::AccountLocked);
            }
            let now = self.now();
            let seen_key = format!("mtls:{id}");
            let due = {
                let mut seen = self
                    .api_key_seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let due = seen
                    .get(&seen_key)
                    .is_none_or(|(t, _)| now.saturating_sub(*t) >= TOUCH_EVERY);
                if due {
                    seen.insert(seen_key.clone(), (now, None));
                }
                due
            };
            if due {
                let mut tx = self.store.begin().await?;
                tx.append_audit(
                    &NewAuditEvent::new(now, "auth.mtls.authenticated", Outcome::Success)
                        .actor(user.id.clone())
                        .target(user.id.clone())
                        .client(ctx)
                        .details(json!({"spiffe_id": id})),
                )
                .await?;
                tx.commit().await?;
            }
            return Ok(Some(Principal {
                user_id: user.id,
                session_id: String::new(),
                role: user.role,
                amr: vec![],
                auth_time: now,
                api_key: Some(ApiKeyGrant {
                    id: seen_key,
                    scopes,
                    signing: SigningMode::None,
                }),
                elevation: None,
                password_change: false,
            }));
        }
        Ok(None)
    }
}

/// The `api_key_seen` map type of [`Services`].
pub(crate) type SeenKeys = std::sync::Mutex<HashMap<String, (i64, Option<String>)>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids_are_checked() {
        assert!(valid_spiffe_id("spiffe://example.org/billing/worker"));
        assert!(!valid_spiffe_id("spiffe://Example.org/x"));
        assert!(!valid_spiffe_id("spiffe://example.org/"));
        assert!(!valid_spiffe_id("spiffe://example.org/a/../b"));
        assert!(!valid_spiffe_id("https://example.org/x"));
        assert!(!valid_spiffe_id("spiffe://example.org/x?y"));
    }
}
