//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto;
use crate::error::{FieldErrorSchema, Problem};
use crate::routes::{
    admin, alerts, apikeys, approvals, auth, clients, dashboard, detection, gdpr, meta, mfa,
    passkeys, recovery,
};

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The answers any API operation can give, whatever its handler: a malformed or
/// unauthenticated request, a refusal, an oversized body, a rate limit, a database that is
/// down. Documented on every `/api/v1` operation so clients (and schema fuzzers) can rely
/// on the document listing every status the server sends.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        };
        let common = [
            ("400", "Malformed request (RFC 9457 problem with `code`)"),
            ("401", "Missing, malformed or invalid credentials"),
            ("403", "Not allowed (role, scope, policy, IP)"),
            ("405", "Method not allowed on this path"),
            ("413", "Body over the limit"),
            ("429", "Rate limited (with Retry-After)"),
            ("503", "A dependency is down: nothing is let through"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let has_params = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description));
                }
                if has_params {
                    op.responses
                        .responses
                        .entry("404".to_owned())
                        .or_insert_with(|| problem("No such resource"));
                }
            }
        }
    }
}

/// OpenAPI links: where an answer's ids feed other operations (key created → rotate or
/// revoke it, user listed → lock it, ...), so clients and stateful fuzzers can follow them.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::{RefOr, Response};
        // (source path, source method, status, target operationId, parameter, runtime expression)
        const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
            (
                "/api/v1/auth/api-keys",
                "post",
                "201",
                "rotate",
                "id",
                "$response.body#/id",
            ),
            (
                "/api/v1/auth/api-keys",
                "post",
                "201",
                "revoke",
                "id",
                "$response.body#/id",
            ),
            (
                "/api/v1/auth/api-keys/{id}/rotate",
                "post",
                "201",
                "revoke",
                "id",
                "$response.body#/id",
            ),
            (
                "/api/v1/auth/sessions",
                "get",
                "200",
                "revoke_session",
                "id",
                "$response.body#/sessions/0/id",
            ),
            (
                "/api/v1/admin/service-accounts",
                "post",
                "201",
                "admin_revoke",
                "id",
                "$response.body#/api_key/id",
            ),
            (
                "/api/v1/admin/service-accounts",
                "post",
                "201",
                "lock_user",
                "id",
                "$response.body#/id",
            ),
            (
                "/api/v1/admin/users",
                "get",
                "200",
                "lock_user",
                "id",
                "$response.body#/users/0/id",
            ),
            (
                "/api/v1/admin/users",
                "get",
                "200",
                "unlock_user",
                "id",
                "$response.body#/users/0/id",
            ),
            (
                "/api/v1/admin/users",
                "get",
                "200",
                "revoke_user_sessions",
                "id",
                "$response.body#/users/0/id",
            ),
            (
                "/api/v1/admin/users",
                "get",
                "200",
                "reset_user_mfa",
                "id",
                "$response.body#/users/0/id",
            ),
            (
                "/api/v1/admin/api-keys",
                "get",
                "200",
                "admin_revoke",
                "id",
                "$response.body#/api_keys/0/id",
            ),
            (
                "/api/v1/admin/audit",
                "get",
                "200",
                "audit_proof",
                "seq",
                "$response.body#/events/0/seq",
            ),
        ];
        for &(path, method, status, target, param, expr) in LINKS {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let op = match method {
                "get" => item.get.as_mut(),
                "post" => item.post.as_mut(),
                _ => None,
            };
            let Some(RefOr::T(response)) = op.and_then(|o| o.responses.responses.get_mut(status))
            else {
                continue;
            };
            let response: &mut Response = response;
            response.links.insert(
                target.to_owned(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(target)
                        .parameter(param, expr)
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Auth server, identity-aware gateway and security operations.", version = "1"),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me, auth::change_password,
        auth::list_sessions, auth::revoke_other_sessions, auth::revoke_session,
        mfa::setup, mfa::confirm, mfa::verify, mfa::recovery_codes, mfa::disable, mfa::step_up,
        passkeys::register_start, passkeys::register_finish, passkeys::login_start, passkeys::login_finish,
        passkeys::step_up_start, passkeys::list, passkeys::remove,
        apikeys::create, apikeys::list, apikeys::rotate, apikeys::revoke, apikeys::admin_list, apikeys::admin_revoke,
        apikeys::create_service_account,
        admin::list_users, admin::lock_user, admin::unlock_user, admin::list_user_sessions, admin::revoke_user_sessions, admin::reset_user_mfa,
        admin::audit, admin::audit_verify, admin::audit_proof, admin::audit_consistency,
        dashboard::dashboard, dashboard::search, dashboard::report,
        alerts::list, alerts::resolve,
        clients::create, clients::list, clients::read, clients::update, clients::remove,
        clients::connected_apps, clients::disconnect,
        meta::jwks, meta::security_txt, meta::healthz, meta::readyz, meta::checkpoint, meta::verifier_key, meta::seal_status, meta::unseal,
        gdpr::export, gdpr::erase, gdpr::admin_erase, gdpr::key_status, gdpr::rotate,
        detection::challenge, detection::activity, detection::list_bans, detection::create_ban, detection::lift_ban,
        approvals::request_elevation, approvals::my_elevations, approvals::list_elevations,
        approvals::approve_elevation, approvals::deny_elevation, approvals::revoke_elevation,
        approvals::list_approvals, approvals::approve_held, approvals::deny_held,
        approvals::break_glass, approvals::create_user,
        recovery::forgot, recovery::reset, recovery::verify_email, recovery::change_email, recovery::identities, recovery::unlink, recovery::admin_password_reset, recovery::update_user,
    ),
    components(schemas(Problem, FieldErrorSchema, dto::ElevationRequest, dto::ElevationBody, dto::ElevationList,
        dto::DecisionRequest, dto::VoteBody, dto::HeldBody, dto::ApprovalBody, dto::ApprovalList, dto::BreakGlassRequest,
        dto::CreateUserRequest, dto::ForgotPasswordRequest, dto::ResetPasswordRequest, dto::VerifyEmailRequest, dto::EmailChangeRequest, dto::UserPatchRequest, dto::IdentityBody, dto::IdentityList, dto::ClientCreateRequest, dto::ClientUpdateRequest, dto::ClientBody, dto::ClientList, dto::UserBody, dto::UserEnvelope, dto::TokenBody, dto::SessionBody,
        dto::SessionList, dto::ConnectedAppList, dto::ConnectedAppBody, dto::UserList, dto::AuditEventBody, dto::AuditPage, dto::AuditVerifyBody, dto::HealthBody,
        dto::LoginBody, dto::MfaRequiredBody, dto::MfaSetupBody, dto::RecoveryCodesBody, dto::StepUpBody,
        dto::CeremonyBody, dto::PasskeyBody, dto::PasskeyList, dto::CheckpointBody, dto::InclusionProofBody,
        dto::ConsistencyProofBody, dto::ApiKeyBody, dto::ApiKeyList, dto::ServiceAccountBody, dto::VerifierKeyBody,
        dto::SealStatusBody, dto::UnsealRequest, dto::ExportBody, dto::ExportMfa, dto::EraseRequest,
        dto::KeyStatusBody, dto::KekVersionBody, dto::AltchaChallenge, dto::ActivityList, dto::ActivityEntry,
        dto::RiskBody, dto::BanBody, dto::BanList, dto::BanRequest, alerts::AlertBody, alerts::AlertDeliveryBody,
        alerts::AlertList, dto::webauthn::RegistrationResponseJson, dto::webauthn::AuthenticationResponseJson)),
    modifiers(&BearerScheme, &CommonErrors, &Links),
    tags((name = "auth", description = "Sign-in, tokens, sessions"), (name = "mfa", description = "Second factors and step-up"), (name = "api-keys", description = "API keys for services, with optional RFC 9421 request signing"), (name = "passkeys", description = "WebAuthn passkeys: registration, passwordless and second-factor login, step-up"), (name = "admin", description = "Administration"), (name = "elevation", description = "Just-in-time elevation and four-eyes approvals"), (name = "oauth", description = "OAuth 2.0 / OpenID Connect clients"), (name = "meta", description = "Discovery and health")),
)]
struct ApiDoc;

/// Merges `patch` into `target`: objects member by member, anything else replaced.
fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

/// Says in the document what the server enforces beyond the derived schemas: the
/// [`dto::refinements`] of the bodies, cursors that are ids this API issued, and the
/// `erase=true` an erasure must carry.
fn refine(doc: &mut serde_json::Value) {
    use serde_json::json;
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        merge(schemas, dto::refinements());
    }
    // A rotation without a body takes the defaults.
    if let Some(body) =
        doc.pointer_mut("/paths/~1api~1v1~1auth~1api-keys~1{id}~1rotate/post/requestBody")
    {
        merge(body, json!({"required": false}));
    }
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for p in params {
                match p.get("name").and_then(|n| n.as_str()) {
                    Some("cursor") => {
                        merge(p, json!({"schema": {"pattern": dto::wire::CURSOR_PATTERN}}))
                    }
                    Some("erase") if method == "delete" && path == "/api/v1/admin/users/{id}" => {
                        merge(
                            p,
                            json!({"required": true, "schema": {"type": "boolean", "enum": [true]}}),
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The document as a JSON value.
pub fn openapi_value() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    refine(&mut doc);
    doc
}

/// The document as JSON, built once.
pub fn openapi_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| openapi_value().to_string()).clone()
}
