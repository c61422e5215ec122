//! What data loss prevention needs from the domain: a keyed fingerprint of a matched value
//! (so the audit log can tell the same leak from a new one without holding it), and the
//! revocation of a Portcullis API key seen leaving in a response.

use serde_json::json;

use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::apikey;
use crate::crypto::tokens::ct_eq;
use crate::error::Result;

impl Services {
    /// A keyed fingerprint of a value DLP matched: HMAC-SHA-256 under a key derived from the
    /// master key, 16 bytes in hex. Equal values give equal fingerprints; the value cannot
    /// be recovered or guessed offline from the log.
    pub fn dlp_fingerprint(&self, value: &str) -> String {
        let key = self.keyring.derive("portcullis:dlp-match:v1");
        let full = apikey::hash(key.as_ref(), value);
        full.get(..32).unwrap_or(&full).to_owned()
    }

    /// Revokes the API key `raw` (seen in a response on `route`) when it is a live key of
    /// this server, audited as `dlp.api_key_revoked` in the same transaction. Returns the
    /// key's id when one was revoked.
    pub async fn revoke_leaked_api_key(
        &self,
        raw: &str,
        ctx: &RequestContext,
        route: Option<&str>,
        incident: &str,
    ) -> Result<Option<String>> {
        let Some(prefix) = apikey::parse(raw) else {
            return Ok(None);
        };
        let Some(key) = self.store.api_key_by_prefix(prefix).await? else {
            return Ok(None);
        };
        let hash = apikey::hash(self.api_key_server_key().as_ref(), raw);
        if !ct_eq(hash.as_bytes(), key.key_hash.as_bytes()) {
            return Ok(None);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.revoke_api_key(&key.id, now).await? {
            tx.commit().await?;
            return Ok(None);
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "dlp.api_key_revoked", Outcome::Success)
                .actor("system:dlp".to_owned())
                .target(key.id.clone())
                .client(ctx)
                .details(json!({
                    "owner_id": key.owner_id,
                    "prefix": key.prefix,
                    "route": route,
                    "incident_id": incident,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(key.id))
    }
}
