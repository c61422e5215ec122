//! DPoP at the token endpoint: the proof binds the token to the client's key, and a server
//! nonce (RFC 9449 §8) limits how long a proof can be used after it was made, so proofs
//! made in advance on a stolen device are worth little.
//!
//! Nonces need no storage: a nonce is a 5-minute window number with an HMAC under a key
//! derived from the master key, so every node issues and accepts the same ones. A nonce is
//! good for its window and the next (5 to 10 minutes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};

use super::Services;
use super::oauth::TOKEN_PATH;
use crate::clock::UnixTime;
use crate::crypto::tokens::ct_eq;
use crate::oauth::clients::OAuthClient;
use crate::oauth::dpop;
use crate::oauth::error::OAuthError;

/// How long one nonce window lasts, seconds.
const NONCE_WINDOW: i64 = 300;

impl Services {
    fn nonce_for(&self, window: i64) -> String {
        let key = self.keyring.derive("portcullis:dpop-nonce:v1");
        let mut out = window.to_be_bytes().to_vec();
        if let Ok(mut mac) = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref()) {
            mac.update(&window.to_be_bytes());
            out.extend_from_slice(mac.finalize().into_bytes().get(..16).unwrap_or_default());
        }
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The DPoP nonce to hand out at `now` (the `DPoP-Nonce` header).
    pub fn dpop_nonce(&self, now: UnixTime) -> String {
        self.nonce_for(now.div_euclid(NONCE_WINDOW))
    }

    /// Whether `nonce` is one this server handed out in this window or the last.
    pub fn dpop_nonce_valid(&self, nonce: &str, now: UnixTime) -> bool {
        let window = now.div_euclid(NONCE_WINDOW);
        [window, window - 1]
            .iter()
            .any(|w| ct_eq(self.nonce_for(*w).as_bytes(), nonce.as_bytes()))
    }

    /// The key thumbprint a token is bound to: from a valid, fresh, unused DPoP proof for
    /// this token endpoint, carrying a current server nonce (`use_dpop_nonce` otherwise,
    /// with the nonce in the answer); none without a proof, unless the client requires DPoP.
    pub(crate) async fn dpop_binding(
        &self,
        client: &OAuthClient,
        proof: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        let Some(proof) = proof else {
            return if client.require_dpop {
                Err(OAuthError::invalid_dpop_proof(
                    "this client's tokens are bound by DPoP: send a DPoP proof (RFC 9449)",
                ))
            } else {
                Ok(None)
            };
        };
        self.dpop_proof_at(proof, TOKEN_PATH).await.map(Some)
    }

    /// The key thumbprint of a valid, fresh, unused DPoP proof for a POST to `path` (an
    /// endpoint of this server), carrying a current server nonce.
    pub(crate) async fn dpop_proof_at(
        &self,
        proof: &str,
        path: &str,
    ) -> Result<String, OAuthError> {
        let now = self.now();
        let uri = format!("{}{path}", self.settings.issuer.trim_end_matches('/'));
        let checked =
            dpop::verify(proof, "POST", &uri, now, None).map_err(OAuthError::invalid_dpop_proof)?;
        if !checked
            .nonce
            .as_deref()
            .is_some_and(|n| self.dpop_nonce_valid(n, now))
        {
            return Err(OAuthError::use_dpop_nonce(
                "use the DPoP-Nonce this answer carries in the proof's nonce claim",
            ));
        }
        let fresh = self
            .store
            .use_nonce(
                &format!("dpop:{}", checked.jkt),
                &checked.jti,
                checked.keep_until,
                now,
            )
            .await?;
        if !fresh {
            return Err(OAuthError::invalid_dpop_proof(
                "the DPoP proof was used before",
            ));
        }
        Ok(checked.jkt)
    }
}
