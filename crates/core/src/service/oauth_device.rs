//! The device authorization grant (RFC 8628): a device without a browser asks for a user
//! code, the person enters it on the hosted device page (signed in), sees which client asks
//! for what, and approves or denies; the device polls the token endpoint meanwhile.
//!
//! User codes are 8 letters from RFC 8628 §6.1's 20-consonant alphabet (about 34 bits),
//! shown in two groups of four (`BCDF-GHJK`); entering codes is throttled per address like sign-in, so guessing
//! one of the few live codes is hopeless. Polling faster than the interval answers
//! `slow_down` and lengthens it by 5 seconds (§3.5).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::oauth::{ClientAuth, IssuedToken, TokenRequest};
use super::oauth_code::GrantBody;
use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::crypto::tokens::sha256_hex;
use crate::model::{Session, User};
use crate::oauth::authorize::AuthzRequest;
use crate::oauth::clients::{GRANT_DEVICE_CODE, OAuthClient, is_scope_token};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{GrantRecord, Kind};
use crate::rand::bytes;
use crate::throttle;

/// RFC 8628 §3.1.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth2/device_authorization";
/// Where people enter user codes.
pub const DEVICE_PAGE_PATH: &str = "/oauth2/device";
/// How long a device authorization lives.
const DEVICE_TTL: i64 = 600;
/// The polling interval, seconds.
const INTERVAL: i64 = 5;
/// RFC 8628 §6.1: no vowels, no look-alikes.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// What the device shows its person.
#[derive(Debug, Clone)]
pub struct DeviceStart {
    /// For the device's polling.
    pub device_code: String,
    /// For the person, two groups of four letters (`BCDF-GHJK`).
    pub user_code: String,
    /// Where to enter it.
    pub verification_uri: String,
    /// The same with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds it lives.
    pub expires_in: i64,
    /// Seconds between polls.
    pub interval: i64,
}

/// A user code's device authorization, as the confirmation page shows it.
#[derive(Debug, Clone)]
pub struct DeviceAsk {
    /// The client asking.
    pub client: OAuthClient,
    /// The scopes it asks for.
    pub scopes: Vec<String>,
    /// The user code, formatted.
    pub user_code: String,
}

/// The canonical form of an entered user code: letters of the alphabet only, upper case
/// (people type dashes, spaces and lower case).
pub fn normalize_user_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 8 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// A normalised user code as people read it: `BCDFGHJK` as `BCDF-GHJK`.
fn grouped(code: &str) -> String {
    let (a, b) = code.split_at_checked(4).unwrap_or((code, ""));
    format!("{a}-{b}")
}

fn user_code_id(code: &str) -> String {
    sha256_hex(format!("user-code:{code}").as_bytes())
}

impl Services {
    fn new_user_code(&self) -> String {
        let raw = bytes::<8>(self.rng.as_ref());
        // 256 is not a multiple of 20: the bias (6 of 256) is negligible for a throttled,
        // short-lived code.
        raw.iter()
            .filter_map(|b| ALPHABET.get(usize::from(*b) % ALPHABET.len()))
            .map(|b| char::from(*b))
            .collect()
    }

    /// `POST /oauth2/device_authorization`.
    pub async fn device_authorization(
        &self,
        ctx: &RequestContext,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Result<DeviceStart, OAuthError> {
        let client = self.authenticate_client(ctx, auth).await?;
        if !client.grant_types.iter().any(|g| g == GRANT_DEVICE_CODE) {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for the device_code grant",
            ));
        }
        let mut scopes: Vec<String> = Vec::new();
        for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            if !is_scope_token(s) || !client.scopes.iter().any(|c| c == s) {
                return Err(OAuthError::invalid_scope(format!(
                    "the client is not registered for `{}`",
                    s.chars().take(64).collect::<String>()
                )));
            }
            if !scopes.iter().any(|g| g == s) {
                scopes.push(s.to_owned());
            }
        }
        let now = self.now();
        let device_code = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let device_id = sha256_hex(device_code.as_bytes());
        let code = self.new_user_code();
        let mut tx = self.store.begin().await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Device,
                id: device_id.clone(),
                client_id: client.id.clone(),
                user_id: None,
                parent: None,
                body: json!({"scopes": scopes, "status": "pending", "interval": INTERVAL, "last_poll": 0}),
                created_at: now,
                expires_at: now + DEVICE_TTL,
                used_at: None,
            })
            .await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::UserCode,
                id: user_code_id(&code),
                client_id: client.id.clone(),
                user_id: None,
                parent: Some(device_id),
                body: json!({}),
                created_at: now,
                expires_at: now + DEVICE_TTL,
                used_at: None,
            })
            .await?;
        tx.commit().await?;
        let shown = grouped(&code);
        let page = format!(
            "{}{DEVICE_PAGE_PATH}",
            self.settings.issuer.trim_end_matches('/')
        );
        Ok(DeviceStart {
            device_code,
            verification_uri_complete: format!("{page}?user_code={shown}"),
            verification_uri: page,
            user_code: shown,
            expires_in: DEVICE_TTL,
            interval: INTERVAL,
        })
    }

    /// The pending device authorization a person's entered code names; wrong codes count
    /// against the address like wrong passwords.
    pub async fn device_lookup(
        &self,
        ctx: &RequestContext,
        entered: &str,
    ) -> crate::error::Result<Option<(String, DeviceAsk)>> {
        let key = ctx.ip.map(|ip| format!("device-{}", throttle::ip_key(ip)));
        if let Some(k) = &key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let now = self.now();
        let found = match normalize_user_code(entered) {
            Some(code) => self.pending_device(&code, now).await?,
            None => None,
        };
        if found.is_none()
            && let Some(k) = &key
        {
            let mut tx = self.store.begin().await?;
            self.bump_throttle(tx.as_mut(), k, &throttle::CLIENT_IP)
                .await?;
            tx.commit().await?;
        }
        Ok(found)
    }

    async fn pending_device(
        &self,
        code: &str,
        now: i64,
    ) -> crate::error::Result<Option<(String, DeviceAsk)>> {
        let reads = self.store.clients();
        let Some(uc) = reads
            .grant_record(Kind::UserCode, &user_code_id(code))
            .await?
            .filter(|r| r.expires_at > now)
        else {
            return Ok(None);
        };
        let device_id = uc.parent.unwrap_or_default();
        let Some(dev) = reads
            .grant_record(Kind::Device, &device_id)
            .await?
            .filter(|d| d.expires_at > now && d.field("status") == "pending")
        else {
            return Ok(None);
        };
        let Some(client) = reads.oauth_client(&dev.client_id).await? else {
            return Ok(None);
        };
        Ok(Some((
            device_id,
            DeviceAsk {
                client,
                scopes: dev.scopes(),
                user_code: grouped(code),
            },
        )))
    }

    /// Starts the sign-in (or confirmation) of device authorization `device_id`: a stored
    /// request whose end is the device, not a redirect. Its handle.
    pub async fn device_request(
        &self,
        device_id: &str,
        ask: &DeviceAsk,
    ) -> crate::error::Result<String> {
        let now = self.now();
        let handle = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let req = AuthzRequest {
            client_id: ask.client.id.clone(),
            redirect_uri: String::new(),
            redirect_uri_sent: false,
            scopes: ask.scopes.clone(),
            state: None,
            nonce: None,
            code_challenge: String::new(),
            prompt: Vec::new(),
            max_age: None,
            acr_values: Vec::new(),
            resources: Vec::new(),
            dpop_jkt: None,
            login_hint: None,
            pushed: false,
            device: Some(device_id.to_owned()),
            return_to: None,
        };
        let mut tx = self.store.begin().await?;
        tx.clients()
            .put_grant_record(&GrantRecord {
                kind: Kind::Request,
                id: sha256_hex(handle.as_bytes()),
                client_id: ask.client.id.clone(),
                user_id: None,
                parent: None,
                body: serde_json::to_value(&req).unwrap_or_default(),
                created_at: now,
                expires_at: now + DEVICE_TTL,
                used_at: None,
            })
            .await?;
        tx.commit().await?;
        Ok(handle)
    }

    /// The person's answer for the device authorization of request `handle`.
    pub async fn device_decide(
        &self,
        ctx: &RequestContext,
        handle: &str,
        session: &Session,
        user: &User,
        allow: bool,
    ) -> crate::error::Result<bool> {
        let Some(p) = self.pending_authorization(handle).await? else {
            return Ok(false);
        };
        let Some(device_id) = p.request.device.clone() else {
            return Ok(false);
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(mut dev) = tx
            .clients()
            .grant_record(Kind::Device, &device_id)
            .await?
            .filter(|d| d.expires_at > now && d.field("status") == "pending")
        else {
            return Ok(false);
        };
        if !tx
            .clients()
            .use_grant_record(Kind::Request, &sha256_hex(handle.as_bytes()), now)
            .await?
        {
            return Ok(false);
        }
        if let Some(o) = dev.body.as_object_mut() {
            o.insert(
                "status".into(),
                if allow { "approved" } else { "denied" }.into(),
            );
            o.insert("amr".into(), json!(session.amr));
            o.insert("auth_time".into(), session.auth_time.into());
        }
        dev.user_id = Some(user.id.clone());
        dev.parent = Some(session.id.clone());
        tx.clients().put_grant_record(&dev).await?;
        let action = if allow {
            "oauth.device.approved"
        } else {
            "oauth.device.denied"
        };
        tx.append_audit(
            &NewAuditEvent::new(
                now,
                action,
                if allow {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            )
            .actor(user.id.clone())
            .target(dev.client_id.clone())
            .client(ctx)
            .details(json!({"scope": dev.scopes().join(" "), "session_id": session.id})),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The device-code grant at the token endpoint (RFC 8628 §3.4, §3.5).
    pub(crate) async fn device_grant(
        &self,
        ctx: &RequestContext,
        client: &OAuthClient,
        req: &TokenRequest,
    ) -> Result<IssuedToken, OAuthError> {
        if !client.grant_types.iter().any(|g| g == GRANT_DEVICE_CODE) {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for the device_code grant",
            ));
        }
        let code = req
            .device_code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
        let jkt = self.dpop_binding(client, req.dpop.as_deref()).await?;
        let now = self.now();
        let id = sha256_hex(code.as_bytes());
        let mut tx = self.store.begin().await?;
        let Some(mut dev) = tx
            .clients()
            .grant_record(Kind::Device, &id)
            .await?
            .filter(|d| d.client_id == client.id && d.used_at.is_none())
        else {
            return Err(OAuthError::invalid_grant(
                "the device code is unknown, used or another client's",
            ));
        };
        if dev.expires_at <= now {
            return Err(OAuthError::new_pub(
                "expired_token",
                "the device code expired; start again",
            ));
        }
        match dev.field("status").as_str() {
            Some("approved") => {}
            Some("denied") => {
                tx.clients()
                    .use_grant_record(Kind::Device, &id, now)
                    .await?;
                tx.commit().await?;
                return Err(OAuthError::access_denied("the person declined"));
            }
            _ => {
                let interval = dev.field("interval").as_i64().unwrap_or(INTERVAL);
                let last = dev.field("last_poll").as_i64().unwrap_or(0);
                let too_fast = now - last < interval;
                if let Some(o) = dev.body.as_object_mut() {
                    o.insert("last_poll".into(), now.into());
                    if too_fast {
                        o.insert("interval".into(), (interval + 5).into());
                    }
                }
                tx.clients().put_grant_record(&dev).await?;
                tx.commit().await?;
                return Err(if too_fast {
                    OAuthError::slow_down_poll(
                        "polling faster than the interval; wait 5 seconds more",
                    )
                } else {
                    OAuthError::new_pub("authorization_pending", "the person has not answered yet")
                });
            }
        }
        if !tx
            .clients()
            .use_grant_record(Kind::Device, &id, now)
            .await?
        {
            return Err(OAuthError::invalid_grant("the device code was used"));
        }
        let user_id = dev.user_id.clone().unwrap_or_default();
        let parent = dev.parent.clone().unwrap_or_default();
        let user = tx.user_by_id(&user_id).await?.filter(|u| !u.locked);
        let parent_live = tx.session(&parent).await?.is_some_and(|s| s.is_active(now));
        if user.is_none() || !parent_live {
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the sign-in behind the approval has ended",
            ));
        }
        let grant = GrantBody {
            scopes: dev.scopes(),
            resources: Vec::new(),
            dpop_jkt: jkt,
            amr: serde_json::from_value(dev.field("amr")).unwrap_or_default(),
            auth_time: dev.field("auth_time").as_i64().unwrap_or(now),
            nonce: None,
            rotation: None,
            x5t: super::oauth::cert_binding(client, req),
        };
        let (issued, _) = self
            .open_grant(
                tx.as_mut(),
                ctx,
                client,
                &user_id,
                &parent,
                grant,
                GRANT_DEVICE_CODE,
            )
            .await?;
        tx.commit().await?;
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_read_as_people_type_them() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code(" BCDF GHJK ").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "no vowels");
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("BCDF-GHJKL"), None);
        assert_eq!(normalize_user_code("ＢCDF-GHJK"), None, "fullwidth");
    }
}
