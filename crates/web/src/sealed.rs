//! The sealed server: with `keys.source = "shamir"` Portcullis holds no master key until a
//! threshold of key holders have each posted their share. Until then every request is
//! answered 503 `sealed`, except the unseal endpoints (and the liveness probe).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ipnet::IpNet;
use portcullis_core::FieldError;
use portcullis_core::config::ForwardedHeader;
use portcullis_core::crypto::secretbox::SecretKey;
use portcullis_core::crypto::shamir::{self, ShamirError, Share, SplitRecord};
use tokio::sync::oneshot;

use crate::dto::SealStatusBody;
use crate::error::ApiError;

/// Who may post shares, and where the reconstructed key goes.
pub struct Unsealer {
    record: SplitRecord,
    /// Shares posted so far, each with the address it came from.
    shares: Mutex<Vec<(Share, String)>>,
    key: Mutex<Option<oneshot::Sender<(SecretKey, UnsealedBy)>>>,
    allowed_ips: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    forwarded_header: ForwardedHeader,
    hsts: bool,
}

/// The client addresses that gave the shares (for the audit event once the log is open).
#[derive(Debug, Clone, Default)]
pub struct UnsealedBy {
    /// One address per share, in the order given.
    pub ips: Vec<String>,
}

impl Unsealer {
    /// An unsealer for `record`; the key is sent on `key` once reconstructed and verified.
    pub fn new(
        record: SplitRecord,
        key: oneshot::Sender<(SecretKey, UnsealedBy)>,
        config: &portcullis_core::config::Config,
    ) -> Arc<Self> {
        Arc::new(Self {
            record,
            shares: Mutex::new(Vec::new()),
            key: Mutex::new(Some(key)),
            allowed_ips: config.admin.allowed_ips.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
            forwarded_header: config.server.forwarded_header,
            hsts: config.is_https(),
        })
    }
}

fn sealed_problem() -> Response {
    let mut res = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sealed",
        "The server is sealed: its master key has not been reconstructed yet. Key holders post their shares to POST /api/v1/sys/unseal (or run `portcullis unseal`).",
    )
    .into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    res
}

/// The sealed server's routes.
pub fn router(unsealer: Arc<Unsealer>) -> Router {
    let hsts = unsealer.hsts;
    Router::new()
        .route("/api/v1/sys/seal-status", get(status))
        .route("/api/v1/sys/unseal", post(unseal))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(|| async { sealed_problem() })
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| async move {
                let api = req.uri().path().starts_with("/api/");
                let mut res = next.run(req).await;
                crate::middleware::apply_security_headers(&mut res, api, hsts);
                res
            },
        ))
        .with_state(unsealer)
}

fn status_of(u: &Unsealer, progress: usize, sealed: bool) -> SealStatusBody {
    SealStatusBody {
        sealed,
        progress,
        threshold: Some(u.record.threshold),
    }
}

async fn status(State(u): State<Arc<Unsealer>>) -> Json<SealStatusBody> {
    let progress = u.shares.lock().map(|s| s.len()).unwrap_or(0);
    let sealed = u.key.lock().map(|k| k.is_some()).unwrap_or(true);
    Json(status_of(&u, if sealed { progress } else { 0 }, sealed))
}

fn share_error(message: &str) -> ApiError {
    ApiError::invalid_request("The share was not accepted.")
        .with_errors(vec![FieldError::new("share", "invalid", message)])
}

async fn unseal(
    State(u): State<Arc<Unsealer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SealStatusBody>, ApiError> {
    let ip: Option<IpAddr> =
        crate::client_ip::client_ip(peer.ip(), &headers, &u.trusted_proxies, u.forwarded_header);
    if !ip.is_some_and(|ip| u.allowed_ips.iter().any(|n| n.contains(&ip))) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "Shares are accepted only from admin.allowed_ips.",
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        share: String,
    }
    crate::extract::require_object(&body).map_err(|e| *e)?;
    let parsed: Body = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid_json(format!(
            "The body must be JSON {{\"share\": \"pcs1-...\"}}: {e}"
        ))
    })?;
    let share = Share::parse(&parsed.share).map_err(share_error)?;
    if share.set != u.record.set || share.threshold != u.record.threshold {
        return Err(share_error(
            "this share belongs to another split of the master key",
        ));
    }
    let mut key_slot = u
        .key
        .lock()
        .map_err(|_| ApiError::from(portcullis_core::Error::Internal("unseal state".into())))?;
    if key_slot.is_none() {
        // Already unsealed: the server is switching over.
        return Ok(Json(status_of(&u, 0, false)));
    }
    let mut shares = u
        .shares
        .lock()
        .map_err(|_| ApiError::from(portcullis_core::Error::Internal("unseal state".into())))?;
    if !shares.iter().any(|(s, _)| s.x() == share.x()) {
        shares.push((share, ip.map(|i| i.to_string()).unwrap_or_default()));
    }
    let progress = shares.len();
    if progress < usize::from(u.record.threshold) {
        return Ok(Json(status_of(&u, progress, true)));
    }
    let given: Vec<Share> = shares.iter().map(|(s, _)| s.clone()).collect();
    match shamir::combine(&given, &u.record) {
        Ok(key) => {
            let by = UnsealedBy {
                ips: shares.drain(..).map(|(_, ip)| ip).collect(),
            };
            if let Some(tx) = key_slot.take() {
                let _ = tx.send((key, by));
            }
            tracing::info!("master key reconstructed; unsealing");
            Ok(Json(status_of(&u, usize::from(u.record.threshold), false)))
        }
        Err(ShamirError::WrongKey) | Err(ShamirError::MixedSets) => {
            shares.clear();
            tracing::warn!("the posted shares do not reconstruct the master key; progress reset");
            Err(share_error(
                "the shares do not reconstruct the master key (one of them is wrong); progress is reset, post them again",
            ))
        }
        Err(e) => Err(share_error(&e.to_string())),
    }
}
