//! Delivers OpenID Connect back-channel logout tokens: a form POST of `logout_token` to the
//! client's `backchannel_logout_uri` (Back-Channel Logout 1.0 §2.5), off the request path,
//! with a short timeout and two retries; each delivery's result is audited.

use std::sync::{Arc, Weak};
use std::time::Duration;

use portcullis_core::service::{LogoutNotifier, Services};

/// The notifier the server installs.
pub(crate) struct Notifier {
    client: reqwest::Client,
    services: Weak<Services>,
}

impl Notifier {
    pub(crate) fn install(services: &Arc<Services>) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build();
        match client {
            Ok(client) => services.set_logout_notifier(Arc::new(Self {
                client,
                services: Arc::downgrade(services),
            })),
            Err(e) => tracing::warn!("back-channel logout is off: {e}"),
        }
    }
}

impl LogoutNotifier for Notifier {
    fn notify(&self, client_id: String, uri: String, logout_token: String) {
        let client = self.client.clone();
        let services = self.services.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            let mut delivered = false;
            for attempt in 0..3u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
                let sent = client
                    .post(&uri)
                    .header("content-type", "application/x-www-form-urlencoded")
                    // A JWT is form-safe as it is (base64url and dots).
                    .body(format!("logout_token={logout_token}"))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        last = format!("HTTP {}", r.status().as_u16());
                        delivered = true;
                        break;
                    }
                    // §2.8: 400 means the client refused the token; retrying will not help.
                    Ok(r) if r.status().as_u16() == 400 => {
                        last = "HTTP 400".to_owned();
                        break;
                    }
                    Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
                    Err(e) => {
                        last = if e.is_timeout() {
                            "timeout".to_owned()
                        } else {
                            "unreachable".to_owned()
                        }
                    }
                }
            }
            if !delivered {
                tracing::warn!(client_id = %client_id, result = %last, "back-channel logout not delivered");
            }
            if let Some(svc) = services.upgrade() {
                svc.record_backchannel_logout(&client_id, delivered, &last)
                    .await;
            }
        });
    }

    fn sessions_ended(&self, sids: Vec<String>) {
        let services = self.services.clone();
        tokio::spawn(async move {
            if let Some(svc) = services.upgrade()
                && let Err(e) = svc.end_grants_from(&sids).await
            {
                tracing::warn!(
                    "the grants of {} ended sessions were not all ended: {e}",
                    sids.len()
                );
            }
        });
    }
}
