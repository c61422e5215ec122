//! Errors as the API answers them (the mapping lives in `portcullis_http::error`), and the
//! problem document's schema for the OpenAPI description.

pub use portcullis_http::error::{ApiError, ApiResult};

/// An RFC 9457 problem document, as the OpenAPI description shows it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// Stable snake_case code clients switch on.
    pub code: String,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorSchema>)]
    pub errors: Vec<portcullis_core::FieldError>,
    /// `challenge_required`: the ALTCHA proof-of-work to solve before signing in again
    /// (send the solution as `altcha`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::dto::AltchaChallenge>)]
    pub challenge: Option<portcullis_core::detect::altcha::Challenge>,
}

/// One invalid field.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FieldErrorSchema {
    field: String,
    code: String,
    message: String,
}
