//! `POST /oauth2/register`: dynamic client registration (RFC 7591), when `[oauth]
//! registration_token_env` turns it on; 404 otherwise.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portcullis_core::oauth::error::OAuthError;
use portcullis_core::service::{REGISTRATION_PATH, registration_response};

use crate::AppState;
use crate::extract::Ctx;

pub fn router() -> Router<AppState> {
    Router::new().route(REGISTRATION_PATH, post(register))
}

async fn register(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.svc.registration_open() {
        return super::oauth::no_store(
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "dynamic client registration is off on this server",
                })),
            )
                .into_response(),
        );
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let result = match (json, serde_json::from_slice::<serde_json::Value>(&body)) {
        (true, Ok(metadata)) => s.svc.register_dynamic(&ctx, bearer, &metadata).await,
        _ => Err(OAuthError::new_pub(
            "invalid_client_metadata",
            "the body is a JSON object of client metadata (application/json)",
        )),
    };
    match result {
        Ok(r) => super::oauth::no_store(
            (StatusCode::CREATED, axum::Json(registration_response(&r))).into_response(),
        ),
        Err(e) => {
            let mut res = super::oauth::error(&e);
            if e.code == "invalid_token" {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            res
        }
    }
}
