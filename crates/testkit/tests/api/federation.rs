//! Signing in through an upstream OpenID provider: npm `oidc-provider` (an
//! OpenID-certified provider) on loopback is the upstream, and Debian's chromium (driven by
//! `playwright-core`) is the person, from Portcullis's sign-in page through the provider's
//! pages and back: accounts created on first sign-in (and not, where `jit` is off), roles
//! from a claim, a domain outside `allowed_domains`, and joining an existing account only
//! with a verified address and the account's password.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use portcullis_core::config::IdentityProviderConfig;
use portcullis_core::model::Role;
use portcullis_testkit::{Backend, STRONG, TestServer, access, client};
use serde_json::{Value, json};

use crate::send;

on_both!(people_sign_in_through_an_upstream_provider);

/// The release path: `portcullis serve` with a confidential client whose secret comes from
/// the environment (and refuses to start, naming the variable, without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_client_through_the_binary() {
    let db = portcullis_testkit::TestDb::new(Backend::Sqlite).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://localhost:{port}");
    let idp = start_idp(&[format!("{base}/oauth2/upstream/corp/callback")]);
    let cfg = db.write_config(&format!(
        "{}[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n\
         [[identity_providers]]\nid = \"corp\"\nname = \"Corp SSO\"\nissuer = \"{}\"\n\
         client_id = \"portcullis\"\nclient_secret_env = \"CORP_OIDC_SECRET\"\njit = true\n",
        db.config_toml(),
        idp.issuer
    ));
    let cfg_path = cfg.to_str().unwrap().to_owned();
    let (code, _, err) = tokio::task::spawn_blocking({
        let cfg_path = cfg_path.clone();
        move || crate::cli::run(&["serve", "--config", &cfg_path], None, &[])
    })
    .await
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("CORP_OIDC_SECRET"), "{err}");
    let mut cmd = Command::new(portcullis_testkit::binary());
    cmd.args(["serve", "--config", &cfg_path])
        .env("CORP_OIDC_SECRET", "upstream-client-secret-0123456789")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut server, _) = crate::cli::spawn_with(cmd);
    let out = browser(
        &format!("{base}/oauth2/account"),
        "Corp SSO",
        "zoe@corp.example",
        None,
    )
    .await;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out["text"]
            .as_str()
            .unwrap_or("")
            .contains("Signed in as zoe@corp.example"),
        "{out}"
    );
    drop(idp);
}

/// The upstream provider's process (killed on drop) and its issuer.
struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn js(name: &str) -> String {
    format!("{}/tests/js/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn start_idp(redirects: &[String]) -> Idp {
    let mut child = Command::new("node")
        .arg(js("upstream_idp.mjs"))
        .arg("upstream-client-secret-0123456789")
        .args(redirects)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (scripts/test.sh installs oidc-provider)");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let issuer = loop {
        let line = lines
            .next()
            .expect("the provider printed its issuer")
            .unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && let Some(i) = v["issuer"].as_str()
        {
            break i.to_owned();
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Idp { child, issuer }
}

fn provider(v: Value) -> IdentityProviderConfig {
    serde_json::from_value(v).unwrap()
}

async fn browser(start: &str, label: &str, login: &str, proof: Option<&str>) -> Value {
    let mut args = vec![start, label, login];
    if let Some(p) = proof {
        args.push(p);
    }
    crate::oauth::run_peer("node", &js("upstream_browser.mjs"), &args).await
}

async fn people_sign_in_through_an_upstream_provider(b: Backend) {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (apt-get install chromium; scripts/test.sh installs it)"
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://localhost:{port}");
    let idp = start_idp(&[
        format!("{base}/oauth2/upstream/corp/callback"),
        format!("{base}/oauth2/upstream/partner/callback"),
    ]);
    let issuer = idp.issuer.clone();
    let public = base.clone();
    let srv = TestServer::start_with(b, move |c| {
        c.server.listen = ([127, 0, 0, 1], port).into();
        c.server.public_url = public;
        c.identity_providers = vec![
            provider(json!({
                "id": "corp", "name": "Corp SSO", "issuer": issuer, "client_id": "portcullis-public",
                "jit": true, "link": "verified_email", "allowed_domains": ["corp.example"],
                "role_claim": "groups", "role_map": {"admins": "admin"},
                "scopes": ["openid", "email", "profile", "groups"],
            })),
            provider(json!({
                "id": "partner", "name": "Partner", "issuer": issuer, "client_id": "portcullis-public",
            })),
        ];
    })
    .await;
    let start = format!("{base}/oauth2/account");
    let signed_in_as = |out: &Value, email: &str| {
        let text = out["text"].as_str().unwrap_or("");
        assert!(
            text.contains(&format!("Signed in as {email}")),
            "expected {email} signed in: {out}"
        );
        assert_eq!(out["console_errors"], json!([]), "CSP or SRI errors: {out}");
    };
    let refused = |out: &Value, why: &str| {
        assert_eq!(out["heading"], "This sign-in cannot continue", "{out}");
        assert!(
            out["text"].as_str().unwrap_or("").contains(why),
            "{why}: {out}"
        );
    };
    let user = |email: &'static str| {
        let svc = srv.services.clone();
        async move {
            svc.search_users(email, 5)
                .await
                .unwrap()
                .into_iter()
                .find(|u| u.email.as_str() == email)
        }
    };

    // JIT: the first sign-in creates the account (its address verified by the provider).
    let out = browser(&start, "Corp SSO", "alice@corp.example", None).await;
    signed_in_as(&out, "alice@corp.example");
    let alice = user("alice@corp.example").await.expect("created");
    assert_eq!(alice.role, Role::User);
    assert!(alice.email_verified && alice.password_hash.is_none());
    // The second is the same account.
    let out = browser(&start, "Corp SSO", "alice@corp.example", None).await;
    signed_in_as(&out, "alice@corp.example");
    assert_eq!(
        srv.services.search_users("alice@", 10).await.unwrap().len(),
        1
    );
    // Roles from the `groups` claim.
    let out = browser(&start, "Corp SSO", "admin:carol@corp.example", None).await;
    signed_in_as(&out, "carol@corp.example");
    assert_eq!(user("carol@corp.example").await.unwrap().role, Role::Admin);
    // A domain outside allowed_domains; no JIT at the partner; no address at all.
    let out = browser(&start, "Corp SSO", "eve@other.example", None).await;
    refused(&out, "only with an address in corp.example");
    let out = browser(&start, "Partner", "frank@corp.example", None).await;
    refused(&out, "accounts are not created on first sign-in");
    assert!(user("frank@corp.example").await.is_none());

    // An existing account: never joined on the provider's word alone.
    srv.user("gina@corp.example", STRONG, Role::User).await;
    let out = browser(&start, "Partner", "gina@corp.example", None).await;
    refused(&out, "already uses this address");
    let out = browser(&start, "Corp SSO", "unverified:gina@corp.example", None).await;
    refused(&out, "already uses this address");
    // Verified by the provider, and proved here with the account's password: joined.
    let out = browser(&start, "Corp SSO", "gina@corp.example", Some(STRONG)).await;
    assert_eq!(out["link_heading"], "Link your account", "{out}");
    signed_in_as(&out, "gina@corp.example");
    let gina = access(&srv.login("gina@corp.example", STRONG).await);
    let (s, ids, _) = send(
        client()
            .get(srv.url("/api/v1/auth/identities"))
            .bearer_auth(&gina),
    )
    .await;
    assert_eq!(s, 200, "{ids}");
    let list = ids["identities"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{ids}");
    assert_eq!(
        (
            list[0]["provider"].as_str(),
            list[0]["provider_name"].as_str()
        ),
        (Some("corp"), Some("Corp SSO"))
    );
    // Unlinked, the provider's sign-in asks for the proof again.
    let id = list[0]["id"].as_str().unwrap();
    let (s, _, _) = send(
        client()
            .delete(srv.url(&format!("/api/v1/auth/identities/{id}")))
            .bearer_auth(&gina),
    )
    .await;
    assert_eq!(s, 204);
    let (_, ids, _) = send(
        client()
            .get(srv.url("/api/v1/auth/identities"))
            .bearer_auth(&gina),
    )
    .await;
    assert_eq!(ids["identities"], json!([]), "unlinked");
    // Linked again from the account page, signed in with the password: no address match
    // needed (both proved), but the provider's account must not belong to another one.
    let out = crate::oauth::run_peer(
        "node",
        &js("upstream_browser.mjs"),
        &[
            &start,
            "link:Corp SSO",
            "gina@corp.example",
            "gina@corp.example",
            STRONG,
        ],
    )
    .await;
    let text = out["text"].as_str().unwrap_or("");
    assert!(
        text.contains("Linked: you can sign in with Corp SSO"),
        "{out}"
    );
    assert!(text.contains("Unlink Corp SSO"), "{out}");
    srv.user("hank@corp.example", STRONG, Role::User).await;
    let out = crate::oauth::run_peer(
        "node",
        &js("upstream_browser.mjs"),
        &[
            &start,
            "link:Corp SSO",
            "alice@corp.example",
            "hank@corp.example",
            STRONG,
        ],
    )
    .await;
    assert!(
        out["text"]
            .as_str()
            .unwrap_or("")
            .contains("linked to another account here"),
        "{out}"
    );
    let events = srv.services.audit_page(0, 1000).await.unwrap();
    for action in [
        "auth.identity.linked",
        "auth.upstream.refused",
        "auth.identity.unlinked",
    ] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
    assert!(
        events
            .iter()
            .any(|e| e.action == "auth.login.succeeded" && e.details.contains("\"upstream\""))
    );
    drop(idp);
    srv.stop().await;
}
