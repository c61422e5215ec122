//! Detection and response: the proof-of-work challenge, the user's sign-in activity, and the
//! administrators' view of bans.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::AppState;
use crate::dto::{ActivityEntry, ActivityList, AltchaChallenge, BanBody, BanList, BanRequest};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Auth, Ctx, Validate, max_len};
use portcullis_core::FieldError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/challenge", get(challenge))
        .route("/api/v1/auth/activity", get(activity))
        .route("/api/v1/admin/bans", get(list_bans).post(create_ban))
        .route("/api/v1/admin/bans/{id}", delete(lift_ban))
}

fn to_body(c: portcullis_core::detect::altcha::Challenge) -> AltchaChallenge {
    AltchaChallenge {
        algorithm: c.algorithm,
        challenge: c.challenge,
        maxnumber: c.maxnumber,
        max_number: c.max_number,
        salt: c.salt,
        signature: c.signature,
    }
}

/// `?email=` of the challenge endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChallengeQuery {
    /// The email about to sign in: the challenge is then as hard as that sign-in demands
    /// (recent wrong passwords on it raise the level).
    pub email: Option<String>,
}

impl Validate for ChallengeQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(e) = &self.email {
            max_len(&mut errors, "email", e, 254);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A proof-of-work challenge (the ALTCHA widget's `challengeurl`). Solving one ahead lets a
/// sign-in or registration that would be challenged go through at once; it works once,
/// until it expires. Its difficulty comes from the same function as the gates': the attack
/// level, this address's recent registrations and, with `email`, that account's failures.
#[utoipa::path(get, path = "/api/v1/auth/challenge", tag = "auth",
    params(ChallengeQuery),
    responses(
        (status = 200, description = "An ALTCHA v1 challenge", body = AltchaChallenge),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn challenge(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ChallengeQuery>,
) -> ApiResult<Json<AltchaChallenge>> {
    Ok(Json(to_body(
        s.svc.public_challenge(&ctx, q.email.as_deref()).await?,
    )))
}

/// `?limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// 1..200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl Validate for ActivityQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        match self.limit {
            Some(l) if !(1..=200).contains(&l) => Err(vec![FieldError::new(
                "limit",
                "out_of_range",
                "limit must be between 1 and 200",
            )]),
            _ => Ok(()),
        }
    }
}

/// The caller's recent sign-in attempts, newest first: when, from where (address and, with
/// a GeoIP database, country and city), whether the device was known, the outcome and the
/// risk score with its reasons.
#[utoipa::path(get, path = "/api/v1/auth/activity", tag = "auth", security(("bearer" = [])), params(ActivityQuery),
    responses(
        (status = 200, description = "Recent sign-ins", body = ActivityList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activity(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<ActivityList>> {
    let events = s.svc.activity(&p, q.limit.unwrap_or(50)).await?;
    Ok(Json(ActivityList {
        activity: events.iter().map(ActivityEntry::from).collect(),
    }))
}

/// `?cursor=&limit=&all=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BanQuery {
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1..500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Also lifted and expired bans (kept 90 days).
    pub all: Option<bool>,
}

impl Validate for BanQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        max_len(&mut e, "cursor", self.cursor.as_deref().unwrap_or(""), 64);
        if self.limit.is_some_and(|l| !(1..=500).contains(&l)) {
            e.push(FieldError::new(
                "limit",
                "out_of_range",
                "limit must be between 1 and 500",
            ));
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Bans in force (or, with `all=true`, every ban kept), oldest first.
#[utoipa::path(get, path = "/api/v1/admin/bans", tag = "admin", security(("bearer" = [])), params(BanQuery),
    responses(
        (status = 200, description = "A page of bans", body = BanList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or IP not allowed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_bans(
    State(s): State<AppState>,
    Admin(_, _): Admin,
    ApiQuery(q): ApiQuery<BanQuery>,
) -> ApiResult<Json<BanList>> {
    let page = s
        .svc
        .list_bans(
            q.all.unwrap_or(false),
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            q.limit.unwrap_or(50),
        )
        .await?;
    let now = s.svc.now();
    Ok(Json(BanList {
        bans: page.bans.iter().map(|b| BanBody::new(b, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Ban an address or range everywhere for a while (needs a recent second factor).
#[utoipa::path(post, path = "/api/v1/admin/bans", tag = "admin", security(("bearer" = [])), request_body = BanRequest,
    responses(
        (status = 201, description = "Banned", body = BanBody),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (or it would ban your own address)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_ban(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    ApiJson(body): ApiJson<BanRequest>,
) -> ApiResult<(StatusCode, Json<BanBody>)> {
    let net: ipnet::IpNet = body
        .cidr
        .trim()
        .parse()
        .or_else(|_| {
            body.cidr
                .trim()
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
        })
        .map_err(|_| {
            ApiError::invalid_request("invalid cidr").with_errors(vec![FieldError::new(
                "cidr",
                "invalid",
                "an IP address or CIDR network",
            )])
        })?;
    let ban = s
        .svc
        .admin_ban(
            &p,
            &ctx,
            net,
            body.duration_seconds,
            body.reason.as_deref().unwrap_or(""),
        )
        .await?;
    let now = s.svc.now();
    Ok((StatusCode::CREATED, Json(BanBody::new(&ban, now))))
}

/// Lift a ban before it expires.
#[utoipa::path(delete, path = "/api/v1/admin/bans/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Ban id", pattern = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$")),
    responses(
        (status = 204, description = "Lifted"),
        (status = 401, description = "Not authenticated, or step-up required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ban in force", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn lift_ban(
    State(s): State<AppState>,
    Admin(p, ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.lift_ban(&p, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
