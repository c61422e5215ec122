//! Passkeys over real HTTP, with two authenticators that perform the real WebAuthn ceremony:
//! webauthn-rs's own `SoftPasskey` (a device-bound key with a signature counter, no
//! discoverable credentials) and `Platform` below, an independent implementation of a synced
//! platform passkey (discoverable, backup-eligible, counter 0) written from the WebAuthn spec
//! with its own CBOR, so the server is not only tested against its own library's client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, claims};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::{call, post};

on_both!(
    second_factor,
    passwordless,
    step_up_and_removal,
    admin_reset,
    bad_ceremonies
);

const ORIGIN: &str = "http://localhost:8080";

async fn server(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.server.public_url = ORIGIN.into();
        c.auth.mfa_required_for_roles = vec![Role::Admin];
    })
    .await
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

// ---- A minimal CBOR encoder (RFC 8949): what an authenticator needs to write. ----

enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor(v: &Cbor, out: &mut Vec<u8>) {
    match v {
        Cbor::Int(i) if *i >= 0 => cbor_head(out, 0, *i as u64),
        Cbor::Int(i) => cbor_head(out, 1, (-1 - *i) as u64),
        Cbor::Bytes(b) => {
            cbor_head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Cbor::Text(t) => {
            cbor_head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Cbor::Map(kv) => {
            cbor_head(out, 5, kv.len() as u64);
            for (k, v) in kv {
                cbor(k, out);
                cbor(v, out);
            }
        }
    }
}

#[test]
fn cbor_encoder_matches_rfc_8949_examples() {
    let enc = |v: Cbor| {
        let mut o = Vec::new();
        cbor(&v, &mut o);
        o
    };
    // RFC 8949 appendix A.
    assert_eq!(enc(Cbor::Int(10)), [0x0a]);
    assert_eq!(enc(Cbor::Int(100)), [0x18, 0x64]);
    assert_eq!(enc(Cbor::Int(1000)), [0x19, 0x03, 0xe8]);
    assert_eq!(enc(Cbor::Int(-1)), [0x20]);
    assert_eq!(enc(Cbor::Int(-100)), [0x38, 0x63]);
    assert_eq!(enc(Cbor::Bytes(vec![1, 2, 3, 4])), [0x44, 1, 2, 3, 4]);
    assert_eq!(enc(Cbor::Text("IETF")), [0x64, 0x49, 0x45, 0x54, 0x46]);
    assert_eq!(
        enc(Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(4))
        ])),
        [0xa2, 0x01, 0x02, 0x03, 0x04]
    );
}

// ---- An independent platform authenticator (synced passkeys, ES256). ----

struct Cred {
    id: Vec<u8>,
    key: p256::ecdsa::SigningKey,
    user_handle: Vec<u8>,
    rp_id: String,
}

/// Backup-eligible, backed-up, discoverable credentials with user verification, signature
/// counter 0: what phones and password managers create.
#[derive(Default)]
struct Platform {
    creds: Vec<Cred>,
}

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

impl Platform {
    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create()`: returns RegistrationResponseJSON.
    fn create(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap().to_owned();
        assert!(
            options["pubKeyCredParams"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["alg"] == -7),
            "ES256 offered"
        );
        let n = self.creds.len() as u8;
        let seed = Sha256::digest([b"portcullis-test-platform-key".as_slice(), &[n]].concat());
        let key = p256::ecdsa::SigningKey::from_slice(&seed).unwrap();
        let id = Sha256::digest([b"cred".as_slice(), &seed].concat()).to_vec();
        let point = key.verifying_key().to_sec1_point(false);
        let xy = point.as_bytes();
        let cose = Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),  // kty: EC2
            (Cbor::Int(3), Cbor::Int(-7)), // alg: ES256
            (Cbor::Int(-1), Cbor::Int(1)), // crv: P-256
            (Cbor::Int(-2), Cbor::Bytes(xy[1..33].to_vec())),
            (Cbor::Int(-3), Cbor::Bytes(xy[33..65].to_vec())),
        ]);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS | FLAG_AT);
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        cbor(&cose, &mut auth_data);
        let mut att_obj = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Text("fmt"), Cbor::Text("none")),
                (Cbor::Text("attStmt"), Cbor::Map(vec![])),
                (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
            ]),
            &mut att_obj,
        );
        let cdj = Self::client_data(
            "webauthn.create",
            options["challenge"].as_str().unwrap(),
            origin,
        );
        self.creds.push(Cred {
            id: id.clone(),
            key,
            user_handle: unb64(options["user"]["id"].as_str().unwrap()),
            rp_id,
        });
        json!({
            "id": b64(&id), "rawId": b64(&id), "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {"attestationObject": b64(&att_obj), "clientDataJSON": b64(&cdj), "transports": ["internal", "hybrid"]},
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// `navigator.credentials.get()`: returns AuthenticationResponseJSON, from the first
    /// credential the options allow (any of the relying party's when the list is empty).
    fn get(&self, options: &Value, origin: &str) -> Value {
        let rp_id = options["rpId"].as_str().unwrap();
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| unb64(c["id"].as_str().unwrap())).collect())
            .unwrap_or_default();
        let cred = self
            .creds
            .iter()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("a credential for this relying party");
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS);
        auth_data.extend(0u32.to_be_bytes());
        let cdj = Self::client_data(
            "webauthn.get",
            options["challenge"].as_str().unwrap(),
            origin,
        );
        let signed = [auth_data.as_slice(), &Sha256::digest(&cdj)].concat();
        let sig: p256::ecdsa::Signature = cred.key.sign(&signed);
        json!({
            "id": b64(&cred.id), "rawId": b64(&cred.id), "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "authenticatorData": b64(&auth_data), "clientDataJSON": b64(&cdj),
                "signature": b64(sig.to_der().as_bytes()), "userHandle": b64(&cred.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

// ---- Helpers over the API ----

/// Registers a passkey made by `make` (given the creation options); returns the response.
async fn register(
    srv: &TestServer,
    at: &str,
    name: &str,
    make: impl FnOnce(&Value) -> Value,
) -> (u16, Value) {
    let (s, start) = post(
        srv,
        "/api/v1/auth/webauthn/register/start",
        Some(at),
        json!(null),
    )
    .await;
    assert_eq!(s, 200, "{start}");
    let opts = &start["publicKey"];
    assert_eq!(opts["rp"]["id"], "localhost");
    assert_eq!(opts["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(
        opts["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = make(opts);
    post(
        srv,
        "/api/v1/auth/webauthn/register/finish",
        Some(at),
        json!({"ceremony_id": start["ceremony_id"], "name": name, "credential": credential}),
    )
    .await
}

fn soft_create(auth: &mut SoftPasskey, opts: &Value) -> Value {
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": opts })).unwrap();
    serde_json::to_value(auth.do_registration(origin(), ccr).unwrap()).unwrap()
}

fn soft_get(auth: &mut SoftPasskey, opts: &Value) -> Value {
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({ "publicKey": opts })).unwrap();
    serde_json::to_value(auth.do_authentication(origin(), rcr).unwrap()).unwrap()
}

async fn password_step(srv: &TestServer, email: &str) -> Value {
    let (s, body) = post(
        srv,
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": STRONG}),
    )
    .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("mfa_required")),
        "{body}"
    );
    body
}

/// Password, then the passkey; returns the token response.
async fn login_with_key(srv: &TestServer, email: &str, key: &mut SoftPasskey) -> Value {
    let step = password_step(srv, email).await;
    let (s, start) = post(
        srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"mfa_token": step["mfa_token"]}),
    )
    .await;
    assert_eq!(s, 200, "{start}");
    let assertion = soft_get(key, &start["publicKey"]);
    let (s, tokens) = post(
        srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    tokens
}

async fn audit_actions(srv: &TestServer) -> Vec<String> {
    let page = srv.services.store().audit_page(0, 1000).await.unwrap();
    page.iter().map(|e| e.action.clone()).collect()
}

// ---- Tests ----

async fn second_factor(b: Backend) {
    let srv = server(b).await;
    srv.user("pia@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("pia@example.com", STRONG).await);
    let mut key = SoftPasskey::new(true);

    let (s, reg) = register(&srv, &at, "Security key", |o| soft_create(&mut key, o)).await;
    assert_eq!(s, 201, "{reg}");
    assert_eq!(reg["name"], "Security key");
    assert!(reg["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        reg["recovery_codes"].as_array().unwrap().len(),
        10,
        "the first second factor comes with recovery codes"
    );
    let (s, me) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        Some(&at),
        None,
    )
    .await;
    assert_eq!((s, me["mfa_enabled"].as_bool()), (200, Some(true)));
    let (s, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/webauthn/credentials",
        Some(&at),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(list["credentials"][0]["backup_eligible"], false);
    assert!(list["credentials"][0]["last_used_at"].is_null());
    assert!(list["credentials"][0].get("credential").is_none());

    // The same authenticator cannot register twice: its credential is excluded.
    let (s, start) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&at),
        json!(null),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        start["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Password, then the passkey.
    let step = password_step(&srv, "pia@example.com").await;
    assert_eq!(step["methods"], json!(["webauthn", "recovery_code"]));
    let (s, start) = post(
        &srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"mfa_token": step["mfa_token"]}),
    )
    .await;
    assert_eq!(s, 200, "{start}");
    assert_eq!(
        start["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(start["publicKey"]["userVerification"], "required");
    let assertion = soft_get(&mut key, &start["publicKey"]);
    let finish = json!({"ceremony_id": start["ceremony_id"], "credential": assertion});
    let (s, tokens) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        finish.clone(),
    )
    .await;
    assert_eq!(
        (s, tokens["status"].as_str()),
        (200, Some("ok")),
        "{tokens}"
    );
    let c = claims(&access(&tokens));
    assert_eq!(c["amr"], json!(["pwd", "hwk"]));

    // The assertion cannot be replayed, and the mfa_token is spent.
    let (s, body) = post(&srv, "/api/v1/auth/webauthn/login/finish", None, finish).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"mfa_token": step["mfa_token"]}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("invalid_token")));

    // An assertion from another authenticator does not pass, and counts as a wrong factor.
    let step = password_step(&srv, "pia@example.com").await;
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"mfa_token": step["mfa_token"]}),
    )
    .await;
    let mut good = soft_get(&mut key, &start["publicKey"]);
    // Tamper with the signature.
    let mut sig = unb64(good["response"]["signature"].as_str().unwrap());
    let last = sig.len() - 1;
    sig[last] ^= 1;
    good["response"]["signature"] = json!(b64(&sig));
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": good}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_mfa_code")),
        "{body}"
    );

    // Used: the list shows it.
    let (_, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/webauthn/credentials",
        Some(&at),
        None,
    )
    .await;
    assert!(list["credentials"][0]["last_used_at"].is_string());

    let actions = audit_actions(&srv).await;
    for a in [
        "auth.passkey.registered",
        "auth.mfa.enabled",
        "auth.mfa.verified",
        "auth.mfa.failed",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    // The stored credential (public key, counter, flags) is sealed under the user's data
    // key: a dump shows none of webauthn-rs's state.
    let dump = srv.db.dump();
    assert!(dump.contains("passkeys"), "the dump is real");
    for needle in ["cred_id", "\"counter\":"] {
        let lines: Vec<&str> = dump.lines().filter(|l| l.contains(needle)).collect();
        assert!(lines.is_empty(), "{needle} in the dump: {lines:?}");
    }
    srv.stop().await;
}

async fn passwordless(b: Backend) {
    let srv = server(b).await;
    let id = srv.user("quinn@example.com", STRONG, Role::Admin).await;
    // An admin (MFA required) may sign in only to enrol; the passkey is the enrolment.
    let at = access(&srv.login("quinn@example.com", STRONG).await);
    let (s, body) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/admin/users",
        Some(&at),
        None,
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("mfa_enrollment_required"))
    );
    let mut phone = Platform::default();
    let (s, reg) = register(&srv, &at, "Phone", |o| phone.create(o, ORIGIN)).await;
    assert_eq!(s, 201, "{reg}");

    // Passwordless: no email, no password.
    let (s, start) = post(&srv, "/api/v1/auth/webauthn/login/start", None, json!({})).await;
    assert_eq!(s, 200, "{start}");
    assert!(
        start["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let assertion = phone.get(&start["publicKey"], ORIGIN);
    let (s, tokens) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    let at2 = access(&tokens);
    let c = claims(&at2);
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["amr"], json!(["swk", "mfa"]), "a synced passkey with UV");
    let (s, _) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/admin/users",
        Some(&at2),
        None,
    )
    .await;
    assert_eq!(s, 200, "a passkey is a second factor for the admin role");
    let (_, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/webauthn/credentials",
        Some(&at2),
        None,
    )
    .await;
    assert_eq!(list["credentials"][0]["backup_eligible"], true);

    // An assertion for another origin is refused.
    let (_, start) = post(&srv, "/api/v1/auth/webauthn/login/start", None, json!({})).await;
    let evil = phone.get(&start["publicKey"], "https://evil.example");
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": evil}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // A credential the server never saw is refused.
    let mut stranger = Platform::default();
    stranger.create(
        &json!({"rp": {"id": "localhost"}, "pubKeyCredParams": [{"alg": -7, "type": "public-key"}],
                "challenge": "AAAA", "user": {"id": b64(webauthn_rs::prelude::Uuid::parse_str(&id).unwrap().as_bytes())}}),
        ORIGIN,
    );
    stranger.creds[0].id = b"never-registered".to_vec();
    let (_, start) = post(&srv, "/api/v1/auth/webauthn/login/start", None, json!({})).await;
    let unknown = stranger.get(&start["publicKey"], ORIGIN);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": unknown}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // A locked account cannot sign in with its passkey either.
    srv.db
        .exec(&format!("UPDATE users SET locked = true WHERE id = '{id}'"))
        .await;
    let (_, start) = post(&srv, "/api/v1/auth/webauthn/login/start", None, json!({})).await;
    let assertion = phone.get(&start["publicKey"], ORIGIN);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (423, Some("account_locked")));
    srv.stop().await;
}

async fn step_up_and_removal(b: Backend) {
    let srv = server(b).await;
    srv.user("rhea@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("rhea@example.com", STRONG).await);
    let mut key = SoftPasskey::new(true);
    let (s, reg) = register(&srv, &at, "Key", |o| soft_create(&mut key, o)).await;
    assert_eq!(s, 201);
    let passkey_id = reg["id"].as_str().unwrap().to_owned();

    srv.clock.advance(601);
    let path = format!("/api/v1/auth/webauthn/credentials/{passkey_id}");
    let (s, body) = call(&srv, reqwest::Method::DELETE, &path, Some(&at), None).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));
    // Registering another passkey also needs a recent factor.
    let (s, body) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&at),
        json!(null),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (401, Some("step_up_required")));

    // Step up with the passkey.
    let (s, start) = post(
        &srv,
        "/api/v1/auth/webauthn/step-up/start",
        Some(&at),
        json!(null),
    )
    .await;
    assert_eq!(s, 200, "{start}");
    let assertion = soft_get(&mut key, &start["publicKey"]);
    let (s, up) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&at),
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    let fresh = up["access_token"].as_str().unwrap().to_owned();
    let c = claims(&fresh);
    assert!(c["amr"].as_array().unwrap().contains(&json!("hwk")), "{c}");

    // A ceremony started for one session cannot step up another.
    let other = access(&login_with_key(&srv, "rhea@example.com", &mut key).await);
    srv.clock.advance(601);
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/step-up/start",
        Some(&fresh),
        json!(null),
    )
    .await;
    let assertion = soft_get(&mut key, &start["publicKey"]);
    let (s, body) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&other),
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (401, Some("invalid_mfa_code")),
        "{body}"
    );

    // Step up again properly, then remove the passkey: MFA turns off.
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/step-up/start",
        Some(&fresh),
        json!(null),
    )
    .await;
    let assertion = soft_get(&mut key, &start["publicKey"]);
    let (s, up) = post(
        &srv,
        "/api/v1/auth/step-up",
        Some(&fresh),
        json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    let fresh = up["access_token"].as_str().unwrap().to_owned();
    let (s, _) = call(&srv, reqwest::Method::DELETE, &path, Some(&fresh), None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&srv, reqwest::Method::DELETE, &path, Some(&fresh), None).await;
    assert_eq!(s, 404);
    let (_, me) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        Some(&fresh),
        None,
    )
    .await;
    assert_eq!(me["mfa_enabled"], false);
    let tokens = srv.login("rhea@example.com", STRONG).await;
    assert_eq!(tokens["status"], "ok", "no second factor left");
    let actions = audit_actions(&srv).await;
    assert!(actions.iter().any(|a| a == "auth.passkey.removed"));
    assert!(actions.iter().any(|a| a == "auth.mfa.disabled"));
    srv.stop().await;
}

async fn admin_reset(b: Backend) {
    let srv = server(b).await;
    srv.user("root@example.com", STRONG, Role::Admin).await;
    let victim = srv.user("sam@example.com", STRONG, Role::User).await;
    let mut admin_phone = Platform::default();
    let admin_tokens = srv.login("root@example.com", STRONG).await;
    let (s, _) = register(&srv, &access(&admin_tokens), "Phone", |o| {
        admin_phone.create(o, ORIGIN)
    })
    .await;
    assert_eq!(s, 201);
    // The session proved the passkey: its next access token says so.
    let (s, refreshed) = post(
        &srv,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": admin_tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(s, 200);
    let admin_at = access(&refreshed);
    assert_eq!(claims(&admin_at)["amr"], json!(["pwd", "swk"]));
    let mut key = SoftPasskey::new(true);
    let user_at = access(&srv.login("sam@example.com", STRONG).await);
    let (s, _) = register(&srv, &user_at, "Key", |o| soft_create(&mut key, o)).await;
    assert_eq!(s, 201);
    let user_tokens = login_with_key(&srv, "sam@example.com", &mut key).await;

    // The admin session that registered the passkey proved it; reset the user's factors.
    let path = format!("/api/v1/admin/users/{victim}/mfa");
    let (s, body) = call(&srv, reqwest::Method::DELETE, &path, Some(&admin_at), None).await;
    assert_eq!(s, 204, "{body}");
    // Every session of the user is gone; the password alone signs in; enrolment starts over.
    let (s, _) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        Some(&access(&user_tokens)),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let tokens = srv.login("sam@example.com", STRONG).await;
    assert_eq!(tokens["status"], "ok");
    let (_, list) = call(
        &srv,
        reqwest::Method::GET,
        "/api/v1/auth/webauthn/credentials",
        Some(&access(&tokens)),
        None,
    )
    .await;
    assert_eq!(list["credentials"], json!([]));
    // Not on oneself, and only for admins.
    let admin_id = claims(&admin_at)["sub"].as_str().unwrap().to_owned();
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/api/v1/admin/users/{admin_id}/mfa"),
        Some(&admin_at),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        &path,
        Some(&access(&tokens)),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &srv,
        reqwest::Method::DELETE,
        "/api/v1/admin/users/0190c1d2-0000-7000-8000-000000000000/mfa",
        Some(&admin_at),
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(
        audit_actions(&srv)
            .await
            .iter()
            .any(|a| a == "admin.user.mfa_reset")
    );
    srv.stop().await;
}

async fn bad_ceremonies(b: Backend) {
    let srv = server(b).await;
    srv.user("tor@example.com", STRONG, Role::User).await;
    srv.user("uma@example.com", STRONG, Role::User).await;
    let tor = access(&srv.login("tor@example.com", STRONG).await);
    let uma = access(&srv.login("uma@example.com", STRONG).await);
    let mut key = SoftPasskey::new(true);

    // Uma cannot finish Tor's registration ceremony (nor spend it).
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&tor),
        json!(null),
    )
    .await;
    let cred = soft_create(&mut key, &start["publicKey"]);
    let body = json!({"ceremony_id": start["ceremony_id"], "name": "k", "credential": cred});
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/register/finish",
        Some(&uma),
        body.clone(),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("invalid_request")),
        "{r}"
    );
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/register/finish",
        Some(&tor),
        body.clone(),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    // A finished ceremony is spent.
    let (s, _) = post(
        &srv,
        "/api/v1/auth/webauthn/register/finish",
        Some(&tor),
        body,
    )
    .await;
    assert_eq!(s, 400);

    // A ceremony expires.
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&tor),
        json!(null),
    )
    .await;
    let cred = soft_create(&mut key, &start["publicKey"]);
    srv.clock.advance(301);
    let (s, _) = post(
        &srv,
        "/api/v1/auth/webauthn/register/finish",
        Some(&tor),
        json!({"ceremony_id": start["ceremony_id"], "name": "k", "credential": cred}),
    )
    .await;
    assert_eq!(s, 400);

    // Garbage is a clear 400, never a 500; names are checked.
    let (_, start) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&tor),
        json!(null),
    )
    .await;
    for (credential, name) in [
        (json!({"id": "x"}), "k"),
        (json!("not an object"), "k"),
        (json!({}), ""),
    ] {
        let (s, r) = post(
            &srv,
            "/api/v1/auth/webauthn/register/finish",
            Some(&tor),
            json!({"ceremony_id": start["ceremony_id"], "name": name, "credential": credential}),
        )
        .await;
        assert_eq!(
            (s, r["code"].as_str()),
            (400, Some("invalid_request")),
            "{r}"
        );
    }
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/login/finish",
        None,
        json!({"ceremony_id": "nope", "credential": {"id": 1}}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("invalid_request")),
        "{r}"
    );
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"mfa_token": "mfa_bogus"}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (401, Some("invalid_token")));
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/login/start",
        None,
        json!({"extra": 1}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("invalid_request")));
    srv.stop().await;

    // Without a host name in server.public_url there are no passkeys, and the answer says why.
    let srv =
        TestServer::start_with(b, |c| c.server.public_url = "http://127.0.0.1:8080".into()).await;
    srv.user("vic@example.com", STRONG, Role::User).await;
    let at = access(&srv.login("vic@example.com", STRONG).await);
    let (s, r) = post(
        &srv,
        "/api/v1/auth/webauthn/register/start",
        Some(&at),
        json!(null),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (403, Some("forbidden")));
    assert!(r["detail"].as_str().unwrap().contains("public_url"), "{r}");
    srv.stop().await;
}
