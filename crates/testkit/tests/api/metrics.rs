//! `/metrics` in OpenMetrics text from the Prometheus client: per-route requests by status
//! class and latency, rate-limit refusals, upstream health and breaker state, and the auth
//! server's sign-in and refresh counters, read after real traffic.

use portcullis_core::config::{RateLimitBy, RateLimitConfig, RouteAuth, RouteConfig};
use portcullis_core::model::Role;
use portcullis_testkit::nginx::Nginx;
use portcullis_testkit::{Backend, STRONG, TestServer, client, refresh};

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_auth_counters() {
    let nginx = Nginx::start().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let up = nginx.url("");
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.routes = vec![
            RouteConfig {
                name: "api".into(),
                prefix: "/api-up".into(),
                upstreams: vec![up],
                auth: RouteAuth::None,
                rate_limit: Some(RateLimitConfig {
                    requests: 3,
                    window_seconds: 3600,
                    by: RateLimitBy::Ip,
                }),
                ..RouteConfig::default()
            },
            RouteConfig {
                name: "down".into(),
                prefix: "/down".into(),
                upstreams: vec![format!("http://{dead}")],
                auth: RouteAuth::None,
                retries: 0,
                breaker_failures: 1,
                breaker_cooldown_seconds: 600,
                ..RouteConfig::default()
            },
        ];
    })
    .await;
    for _ in 0..5 {
        client().get(srv.url("/api-up/x")).send().await.unwrap();
    }
    for _ in 0..2 {
        client().get(srv.url("/down/x")).send().await.unwrap();
    }
    srv.user("metrics@example.com", STRONG, Role::User).await;
    let tokens = srv.login("metrics@example.com", STRONG).await;
    let bad = client()
        .post(srv.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "metrics@example.com", "password": "wrong wrong wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let r = client()
        .post(srv.url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = client().get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let s = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(
        s("portcullis_gateway_requests_total{route=\"api\",class=\"2xx\"}"),
        3.0
    );
    assert_eq!(
        s("portcullis_gateway_requests_total{route=\"api\",class=\"4xx\"}"),
        2.0
    );
    assert_eq!(
        s("portcullis_gateway_refusals_total{route=\"api\",reason=\"rate_limit\"}"),
        2.0
    );
    assert_eq!(
        s("portcullis_gateway_refusals_total{route=\"api\",reason=\"quota\"}"),
        0.0
    );
    assert_eq!(
        s("portcullis_gateway_request_duration_seconds_count{route=\"api\"}"),
        5.0
    );
    assert_eq!(
        s("portcullis_gateway_requests_total{route=\"down\",class=\"5xx\"}"),
        2.0
    );
    let down = format!("{{route=\"down\",upstream=\"http://{dead}/\"}}");
    assert_eq!(
        s(&format!("portcullis_gateway_breaker_state{down}")),
        2.0,
        "open"
    );
    assert_eq!(
        s(&format!("portcullis_gateway_upstream_in_flight{down}")),
        0.0
    );
    assert_eq!(
        s(&format!("portcullis_gateway_upstream_healthy{down}")),
        1.0
    );
    assert_eq!(
        s("portcullis_auth_signins_total{method=\"password\",outcome=\"success\"}"),
        1.0
    );
    assert_eq!(
        s("portcullis_auth_signins_total{method=\"password\",outcome=\"failure\"}"),
        1.0
    );
    assert_eq!(
        s("portcullis_auth_refreshes_total{outcome=\"success\"}"),
        1.0
    );
    assert_eq!(s("portcullis_ready"), 1.0);
    srv.stop().await;
}
