//! RFC 9421 request signatures made with API keys: the covered components, freshness,
//! nonces and `Content-Digest`, and the audit of failures.

use serde_json::json;

use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::model::{ApiKeyRecord, SigningMode};

/// The signature headers of a request, and its body.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    /// The request's parts.
    pub parts: &'a crate::crypto::httpsig::RequestParts,
    /// `Signature-Input`.
    pub signature_input: Option<&'a str>,
    /// `Signature`.
    pub signature: Option<&'a str>,
    /// `Content-Digest`.
    pub content_digest: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

impl Services {
    /// Checks the RFC 9421 signature that `key` requires on every request: at least
    /// `@method`, `@target-uri` (or `@authority`, `@path` and `@query`), and `content-digest`
    /// when there is a body; `created` within `auth.signature_window_seconds`; a `nonce` not
    /// seen before within the window (on every node sharing the database); `keyid` = the
    /// key's id. Failures are audited, at most once a minute per key.
    pub async fn verify_request_signature(
        &self,
        key: &ApiKeyRecord,
        ctx: &RequestContext,
        req: &SignedRequest<'_>,
    ) -> Result<()> {
        match self.check_signature(key, req).await {
            Ok(()) => Ok(()),
            Err(Error::InvalidSignature(why)) => {
                self.audit_signature_failure(key, ctx, &why).await?;
                Err(Error::InvalidSignature(why))
            }
            Err(e) => Err(e),
        }
    }

    async fn check_signature(&self, key: &ApiKeyRecord, req: &SignedRequest<'_>) -> Result<()> {
        use crate::crypto::httpsig;
        let bad = |m: String| Error::InvalidSignature(m);
        let (Some(input), Some(sig)) = (req.signature_input, req.signature) else {
            return Err(bad(format!(
                "this API key requires HTTP message signatures (RFC 9421, {}): send Signature-Input and Signature",
                key.signing.as_str()
            )));
        };
        let sigs = httpsig::parse(input, sig).map_err(|e| bad(e.0))?;
        let Some(s) = sigs
            .iter()
            .find(|s| s.keyid.as_deref() == Some(key.id.as_str()))
        else {
            return Err(bad(
                "no signature with keyid = this API key's id (unknown keyid)".into(),
            ));
        };
        if let Some(alg) = &s.alg
            && alg != key.signing.as_str()
        {
            return Err(bad(format!(
                "alg `{alg}` is not this key's algorithm `{}`",
                key.signing.as_str()
            )));
        }
        let covers = |c: &str| s.components.iter().any(|x| x == c);
        let mut missing: Vec<&str> = Vec::new();
        if !covers("@method") {
            missing.push("@method");
        }
        let target =
            covers("@target-uri") || (covers("@authority") && covers("@path") && covers("@query"));
        if !target {
            missing.push("@target-uri (or @authority, @path and @query)");
        }
        if !req.body.is_empty() && !covers("content-digest") {
            missing.push("content-digest");
        }
        if !missing.is_empty() {
            return Err(bad(format!(
                "the signature must cover {}",
                missing.join(", ")
            )));
        }
        let now = self.now();
        let window = self.settings.signature_window;
        let created = s
            .created
            .ok_or_else(|| bad("the `created` parameter is required".into()))?;
        let skew = now.saturating_sub(created);
        if skew.unsigned_abs() > window.unsigned_abs() {
            return Err(bad(format!(
                "`created` is {skew}s from the server's time; at most {window}s is accepted"
            )));
        }
        if let Some(exp) = s.expires
            && exp <= now
        {
            return Err(bad("the signature has expired (`expires`)".into()));
        }
        let nonce = s
            .nonce
            .as_deref()
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or_else(|| bad("the `nonce` parameter is required (1 to 256 characters)".into()))?;
        if covers("content-digest") || !req.body.is_empty() {
            let header = req
                .content_digest
                .ok_or_else(|| bad("Content-Digest header missing".into()))?;
            httpsig::check_content_digest(header, req.body).map_err(|e| bad(e.0))?;
        }
        let base = httpsig::signature_base(req.parts, s).map_err(|e| bad(e.0))?;
        let ok = match key.signing {
            SigningMode::HmacSha256 => {
                let secret = self.api_key_signing_secret(key)?;
                httpsig::verify_hmac_sha256(&secret, &base, &s.signature)
            }
            SigningMode::Ed25519 => key
                .public_key
                .as_ref()
                .is_some_and(|pk| httpsig::verify_ed25519(pk, &base, &s.signature)),
            SigningMode::None => false,
        };
        if !ok {
            return Err(bad(
                "the signature does not verify (wrong key, or the request was altered)".into(),
            ));
        }
        // Only a verified signature spends its nonce, so forgeries cannot burn nonces.
        if !self
            .store
            .use_nonce(&key.id, nonce, created.max(now) + window + 1, now)
            .await?
        {
            return Err(bad("this nonce was already used (replay)".into()));
        }
        Ok(())
    }

    async fn audit_signature_failure(
        &self,
        key: &ApiKeyRecord,
        ctx: &RequestContext,
        why: &str,
    ) -> Result<()> {
        let now = self.now();
        let suppressed = {
            let mut map = self
                .signature_failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() > 100_000 {
                map.clear();
            }
            let entry = map.entry(key.id.clone()).or_insert((i64::MIN, 0));
            if now.saturating_sub(entry.0) < 60 {
                entry.1 += 1;
                None
            } else {
                let n = entry.1;
                *entry = (now, 0);
                Some(n)
            }
        };
        let Some(suppressed) = suppressed else {
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.api_key.signature_failed", Outcome::Failure)
                .actor(key.owner_id.clone())
                .target(key.id.clone())
                .client(ctx)
                .details(json!({"reason": why, "suppressed_since_last": suppressed})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
