//! The WebAuthn L3 JSON encodings a client sends (`RegistrationResponseJSON`,
//! `AuthenticationResponseJSON`), as the server accepts them: the shape is checked here, at
//! the boundary, before webauthn-rs verifies the contents. Binary members are canonical
//! unpadded base64url.

use portcullis_core::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

// The members are read by serde (the shape check) and the schema; the contents go to
// webauthn-rs as the client sent them.

use super::wire::{BASE64URL_PATTERN, is_base64url, opt_whole_i64, opt_whole_u32};

/// `PublicKeyCredential.authenticatorAttachment`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    /// A platform authenticator (built into the device).
    Platform,
    /// A roaming authenticator (security key, phone).
    CrossPlatform,
}

/// `RegistrationResponseJSON`: what `navigator.credentials.create()` returns, as `toJSON()`
/// encodes it.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
#[schema(as = RegistrationResponseJSON)]
pub struct RegistrationResponseJson {
    /// The credential id, base64url.
    pub id: String,
    /// The same id, base64url.
    #[serde(rename = "rawId")]
    pub raw_id: String,
    /// The attestation.
    pub response: AuthenticatorAttestationResponseJson,
    /// `platform` or `cross-platform`.
    #[serde(default, rename = "authenticatorAttachment")]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Client extension outputs (unsigned), an object (`{}` when absent); `extensions` as
    /// webauthn-rs names it (not both).
    #[serde(default, rename = "clientExtensionResults", alias = "extensions")]
    pub client_extension_results: RegistrationExtensionsJson,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
#[schema(as = AuthenticatorAttestationResponseJSON)]
pub struct AuthenticatorAttestationResponseJson {
    /// base64url of the client data JSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url of the CBOR attestation object.
    #[serde(rename = "attestationObject")]
    pub attestation_object: String,
    /// base64url of the authenticator data (also inside the attestation object).
    #[serde(default, rename = "authenticatorData")]
    pub authenticator_data: Option<String>,
    /// Transports the authenticator says it supports (`usb`, `nfc`, `ble`, `internal`,
    /// `hybrid`, ...).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub transports: Option<Vec<String>>,
    /// base64url of the SubjectPublicKeyInfo of the new credential.
    #[serde(default, rename = "publicKey")]
    pub public_key: Option<String>,
    /// Its COSE algorithm.
    #[serde(
        default,
        rename = "publicKeyAlgorithm",
        deserialize_with = "opt_whole_i64"
    )]
    pub public_key_algorithm: Option<i64>,
}

/// The registration extension outputs webauthn-rs reads; others are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(as = RegistrationExtensionsClientOutputsJSON)]
pub struct RegistrationExtensionsJson {
    /// `appid`.
    #[serde(default)]
    pub appid: Option<bool>,
    /// `credProps`.
    #[serde(default, rename = "credProps")]
    pub cred_props: Option<CredPropsJson>,
    /// `hmacCreateSecret` as webauthn-rs names it.
    #[serde(default, rename = "hmacSecret")]
    pub hmac_secret: Option<bool>,
    /// `credProtect`.
    #[serde(default, rename = "credProtect")]
    pub cred_protect: Option<CredProtectPolicy>,
    /// `minPinLength`.
    #[serde(default, rename = "minPinLength", deserialize_with = "opt_whole_u32")]
    pub min_pin_length: Option<u32>,
}

/// `credProps` output.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CredPropsJson {
    /// Whether a discoverable credential was made (a hint).
    #[serde(default)]
    pub rk: Option<bool>,
}

/// `credProtect` policy.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub enum CredProtectPolicy {
    /// `userVerificationOptional`.
    #[serde(rename = "userVerificationOptional")]
    Optional,
    /// `userVerificationOptionalWithCredentialIDList`.
    #[serde(rename = "userVerificationOptionalWithCredentialIDList")]
    OptionalWithCredentialIdList,
    /// `userVerificationRequired`.
    #[serde(rename = "userVerificationRequired")]
    Required,
}

/// `AuthenticationResponseJSON`: what `navigator.credentials.get()` returns, as `toJSON()`
/// encodes it.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
#[schema(as = AuthenticationResponseJSON)]
pub struct AuthenticationResponseJson {
    /// The credential id, base64url.
    pub id: String,
    /// The same id, base64url.
    #[serde(rename = "rawId")]
    pub raw_id: String,
    /// The assertion.
    pub response: AuthenticatorAssertionResponseJson,
    /// `platform` or `cross-platform`.
    #[serde(default, rename = "authenticatorAttachment")]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Client extension outputs (unsigned), an object (`{}` when absent); `extensions` as
    /// webauthn-rs names it (not both).
    #[serde(default, rename = "clientExtensionResults", alias = "extensions")]
    pub client_extension_results: AuthenticationExtensionsJson,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
#[schema(as = AuthenticatorAssertionResponseJSON)]
pub struct AuthenticatorAssertionResponseJson {
    /// base64url of the client data JSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url of the authenticator data.
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: String,
    /// base64url of the signature.
    pub signature: String,
    /// base64url of the user handle (discoverable credentials), or null.
    #[serde(default, rename = "userHandle")]
    pub user_handle: Option<String>,
}

/// The authentication extension outputs webauthn-rs reads; others are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(as = AuthenticationExtensionsClientOutputsJSON)]
pub struct AuthenticationExtensionsJson {
    /// `appid`.
    #[serde(default)]
    pub appid: Option<bool>,
    /// The hmac-secret outputs, as webauthn-rs names them.
    #[serde(default)]
    pub hmac_get_secret: Option<HmacGetSecretJson>,
}

/// hmac-secret outputs.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct HmacGetSecretJson {
    /// base64url.
    pub output1: String,
    /// base64url, or null.
    #[serde(default)]
    pub output2: Option<String>,
}

fn shape_error(e: &mut Vec<FieldError>, field: &str, message: impl Into<String>) {
    e.push(FieldError::new(field, "invalid", message.into()));
}

fn check_b64(e: &mut Vec<FieldError>, field: &str, value: Option<&str>) {
    if value.is_some_and(|v| !is_base64url(v)) {
        shape_error(e, field, "must be unpadded base64url");
    }
}

fn check_type(e: &mut Vec<FieldError>, type_: &str) {
    if type_ != "public-key" {
        shape_error(e, "credential.type", "must be `public-key`");
    }
}

/// Checks that `credential` is a `RegistrationResponseJSON`.
pub(super) fn check_registration(e: &mut Vec<FieldError>, credential: &Value) {
    match serde_json::from_value::<RegistrationResponseJson>(credential.clone()) {
        Err(err) => shape_error(
            e,
            "credential",
            format!("not a RegistrationResponseJSON: {err}"),
        ),
        Ok(c) => {
            check_type(e, &c.type_);
            check_b64(e, "credential.id", Some(&c.id));
            check_b64(e, "credential.rawId", Some(&c.raw_id));
            let r = &c.response;
            check_b64(
                e,
                "credential.response.clientDataJSON",
                Some(&r.client_data_json),
            );
            check_b64(
                e,
                "credential.response.attestationObject",
                Some(&r.attestation_object),
            );
            check_b64(
                e,
                "credential.response.authenticatorData",
                r.authenticator_data.as_deref(),
            );
            check_b64(e, "credential.response.publicKey", r.public_key.as_deref());
            if r.transports.as_ref().is_some_and(|t| t.len() > 16) {
                shape_error(e, "credential.response.transports", "at most 16");
            }
        }
    }
}

/// Checks that `credential` is an `AuthenticationResponseJSON`.
pub(super) fn check_authentication(e: &mut Vec<FieldError>, credential: &Value) {
    match serde_json::from_value::<AuthenticationResponseJson>(credential.clone()) {
        Err(err) => shape_error(
            e,
            "credential",
            format!("not an AuthenticationResponseJSON: {err}"),
        ),
        Ok(c) => {
            check_type(e, &c.type_);
            check_b64(e, "credential.id", Some(&c.id));
            check_b64(e, "credential.rawId", Some(&c.raw_id));
            let r = &c.response;
            check_b64(
                e,
                "credential.response.clientDataJSON",
                Some(&r.client_data_json),
            );
            check_b64(
                e,
                "credential.response.authenticatorData",
                Some(&r.authenticator_data),
            );
            check_b64(e, "credential.response.signature", Some(&r.signature));
            check_b64(
                e,
                "credential.response.userHandle",
                r.user_handle.as_deref(),
            );
            if let Some(h) = &c.client_extension_results.hmac_get_secret {
                check_b64(
                    e,
                    "credential.clientExtensionResults.hmac_get_secret.output1",
                    Some(&h.output1),
                );
                check_b64(
                    e,
                    "credential.clientExtensionResults.hmac_get_secret.output2",
                    h.output2.as_deref(),
                );
            }
        }
    }
}

/// What the derive cannot write: the base64url pattern on every binary member and the
/// constant `type`.
pub(super) fn refinements() -> Value {
    let b64 = json!({"pattern": BASE64URL_PATTERN});
    let credential = |extensions: &str| {
        json!({
            "properties": {
                "id": b64, "rawId": b64,
                "type": {"enum": ["public-key"]},
                "extensions": {"$ref": format!("#/components/schemas/{extensions}")},
            },
            "not": {"required": ["clientExtensionResults", "extensions"]},
        })
    };
    json!({
        "RegistrationResponseJSON": credential("RegistrationExtensionsClientOutputsJSON"),
        "AuthenticationResponseJSON": credential("AuthenticationExtensionsClientOutputsJSON"),
        "AuthenticatorAttestationResponseJSON": {"properties": {
            "clientDataJSON": b64, "attestationObject": b64, "authenticatorData": b64,
            "publicKey": b64,
        }},
        "AuthenticatorAssertionResponseJSON": {"properties": {
            "clientDataJSON": b64, "authenticatorData": b64, "signature": b64,
            "userHandle": b64,
        }},
        "HmacGetSecretJson": {"properties": {"output1": b64, "output2": b64}},
    })
}
