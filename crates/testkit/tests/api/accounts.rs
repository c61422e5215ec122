//! Issue 16 item 5: one mailbox is one account, registrations are throttled per source,
//! JSON bodies must be objects, credentials are unambiguous, and the public proof-of-work
//! challenge is as hard as sign-in demands.

use portcullis_testkit::{Backend, STRONG, STRONG2, TestServer, client};
use serde_json::json;

use crate::send;

on_both!(one_mailbox_one_account);

async fn one_mailbox_one_account(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.auth.self_registration = true).await;
    let reg = |email: &str, pw: &str| {
        client()
            .post(srv.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": pw}))
    };
    let (s, body, _) = send(reg("user@exämple.com", STRONG)).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["user"]["email"], "user@xn--exmple-cua.com");
    // The A-label and an upper-case U-label spelling are the same mailbox.
    for same in ["user@xn--exmple-cua.com", "USER@EXÄMPLE.COM"] {
        let (s, body, _) = send(reg(same, STRONG2)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (409, Some("conflict")),
            "{same}"
        );
    }
    // Sign-in works with either spelling.
    for spelling in ["user@xn--exmple-cua.com", "User@exämple.com"] {
        let (s, body, _) = send(
            client()
                .post(srv.url("/api/v1/auth/login"))
                .json(&json!({"email": spelling, "password": STRONG})),
        )
        .await;
        assert_eq!(s, 200, "{spelling}: {body}");
    }

    let (s, _, _) = send(reg("user@example.com", STRONG)).await;
    assert_eq!(s, 201);
    // Quoted local parts and invisible or bidi characters are refused, not a second account.
    for refused in [
        "\"user\"@example.com",
        "\u{200b}user@example.com",
        "user\u{200d}@example.com",
        "\u{feff}user@example.com",
        "user\u{202e}@example.com",
    ] {
        let (s, body, _) = send(reg(refused, STRONG2)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{refused:?}: {body}"
        );
    }
    srv.stop().await;
}
