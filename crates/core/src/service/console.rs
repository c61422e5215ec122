//! The admin console as a client of Portcullis's own OpenID provider.
//!
//! The console is a built-in, first-party client: it asks for a code with PKCE and
//! `acr_values` naming a second factor, like any other client, at the authorization
//! endpoint. Its code is redeemed only in-process (it is unknown to `/oauth2/token`, so a
//! leaked code is worth nothing elsewhere), and only an administrator's sign-in with a
//! second factor becomes a console session: an API access token for the grant's session,
//! which the browser holds in an HttpOnly cookie and never sees.

use secrecy::SecretString;
use serde_json::json;

use super::RequestContext;
use super::Services;
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::model::Role;
use crate::oauth::clients::{GRANT_CODE, OAuthClient};

use super::oauth::TokenRequest;

/// The console's client id (not a UUID, so no registered client can ever take it).
pub const CONSOLE_CLIENT_ID: &str = "portcullis-console";
/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console";
/// Where the provider sends the console's code.
pub const CONSOLE_CALLBACK_PATH: &str = "/console/callback";

/// The built-in console client for `issuer`.
pub(crate) fn console_client(issuer: &str) -> OAuthClient {
    OAuthClient {
        id: CONSOLE_CLIENT_ID.into(),
        name: "Portcullis admin console".into(),
        redirect_uris: vec![format!(
            "{}{CONSOLE_CALLBACK_PATH}",
            issuer.trim_end_matches('/')
        )],
        grant_types: vec![GRANT_CODE.into()],
        scopes: vec!["openid".into()],
        // Public, PKCE required, created by Portcullis: as the account pages' stand-in.
        ..super::oauth_authorize::account_client()
    }
}

/// A console sign-in that became a session.
#[derive(Debug)]
pub struct ConsoleSession {
    /// The API access token of the grant's session (the cookie's value).
    pub token: SecretString,
    /// How long it is good for, in seconds.
    pub expires_in: i64,
    /// Who signed in.
    pub user_id: String,
}

impl Services {
    /// A client by id for the authorization endpoint: a registered one, or the console.
    pub(crate) async fn authorizing_client(
        &self,
        id: &str,
    ) -> crate::store::StoreResult<Option<OAuthClient>> {
        if id == CONSOLE_CLIENT_ID {
            return Ok(Some(console_client(&self.settings.issuer)));
        }
        if !crate::id::is_valid_id(id) {
            return Ok(None);
        }
        self.store.clients().oauth_client(id).await
    }

    /// Redeems the console's `code` with its PKCE `verifier`. Anyone but an administrator
    /// who signed in with a second factor is refused (`Forbidden`), the grant's session
    /// ended and the refusal audited.
    pub async fn console_sign_in(
        &self,
        ctx: &RequestContext,
        code: &str,
        verifier: &str,
    ) -> Result<ConsoleSession> {
        let client = console_client(&self.settings.issuer);
        let req = TokenRequest {
            grant_type: GRANT_CODE.into(),
            code: Some(code.to_owned()),
            code_verifier: Some(verifier.to_owned()),
            redirect_uri: client.redirect_uris.first().cloned(),
            ..TokenRequest::default()
        };
        let (_, sid) = self
            .exchange_code_session(ctx, &client, &req)
            .await
            .map_err(|e| match e.code {
                "server_error" | "temporarily_unavailable" => {
                    Error::Unavailable("the sign-in could not be finished".into())
                }
                _ => Error::InvalidToken("the code is unknown, expired or used: sign in again"),
            })?;
        let now = self.now();
        let session = self
            .store
            .session(&sid)
            .await?
            .filter(|s| s.is_active(now))
            .ok_or(Error::InvalidToken("the sign-in has ended"))?;
        let user = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .filter(|u| !u.locked)
            .ok_or(Error::InvalidToken("the sign-in has ended"))?;
        let second = session
            .amr
            .iter()
            .any(|m| super::auth::SECOND_FACTORS.contains(&m.as_str()));
        let refusal = match (user.role == Role::Admin, second) {
            (false, _) => Some("role"),
            (true, false) => Some("second_factor_required"),
            (true, true) => None,
        };
        if let Some(reason) = refusal {
            let mut tx = self.store.begin().await?;
            tx.revoke_session(&sid, "console_refused", now).await?;
            tx.append_audit(
                &NewAuditEvent::new(now, "access.denied", Outcome::Failure)
                    .actor(user.id.clone())
                    .target(sid.clone())
                    .client(ctx)
                    .details(json!({"resource": CONSOLE_PATH, "reason": reason})),
            )
            .await?;
            tx.commit().await?;
            self.note_revoked(std::slice::from_ref(&sid), now);
            return Err(Error::Forbidden(match reason {
                "role" => "The console is for administrators.".into(),
                _ => "Administrators sign in to the console with a second factor.".into(),
            }));
        }
        let token = self.mint_access_token(&user, &session, None)?;
        Ok(ConsoleSession {
            token,
            expires_in: self.settings.access_ttl,
            user_id: user.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::AuthMethod;

    #[test]
    fn the_console_client_is_public_with_pkce_and_its_own_callback() {
        let c = console_client("https://id.example/");
        assert_eq!(c.redirect_uris, ["https://id.example/console/callback"]);
        assert_eq!(c.auth_method, AuthMethod::None);
        assert!(c.require_pkce);
        assert_eq!(c.grant_types, [GRANT_CODE]);
        assert!(!crate::id::is_valid_id(CONSOLE_CLIENT_ID));
    }
}
