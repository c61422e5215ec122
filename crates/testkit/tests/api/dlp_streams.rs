//! DLP on answers that stream as events (server-sent events, JSON lines under their own
//! label or another): each event sent as it comes, a card in one masked, a key split
//! across events caught and revoked. (Split from `dlp.rs`.)

use portcullis_core::config::{DlpMode, WafMode};
use portcullis_testkit::{Backend, TestServer, client};
use serde_json::json;

use crate::dlp::dlp_route;
use crate::send;

/// What the test sends, as a body stream.
struct Feed(tokio::sync::mpsc::UnboundedReceiver<String>);

impl futures_core::Stream for Feed {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(|e| Ok(e.into_bytes())))
    }
}

/// An upstream of server-sent events (JSON lines for a path ending `.ndjson`, labelled
/// `application/json` for one ending `.json`) fed by the
/// test: each request streams what the test sends on the channel it takes, until the
/// channel closes.
async fn event_upstream() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedReceiver<String>>>>,
) {
    use axum::response::IntoResponse;
    let feeds: std::sync::Arc<std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedReceiver<String>>>> =
        Default::default();
    let taken = feeds.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let rx = taken.lock().unwrap().pop();
        async move {
            let Some(rx) = rx else {
                return axum::http::StatusCode::NOT_FOUND.into_response();
            };
            let ct = if uri.path().ends_with(".ndjson") {
                "application/x-ndjson"
            } else if uri.path().ends_with(".json") {
                "application/json"
            } else {
                "text/event-stream"
            };
            (
                [("content-type", ct)],
                axum::body::Body::from_stream(Feed(rx)),
            )
                .into_response()
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, feeds)
}

/// The next chunk of `r`, which must come within 5 s.
async fn next_event(r: &mut reqwest::Response) -> Option<String> {
    tokio::time::timeout(std::time::Duration::from_secs(5), r.chunk())
        .await
        .expect("the event arrives while the stream is open")
        .unwrap()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Server-sent events on a DLP route stream event by event (each reaches the client before
/// the next is sent); a card in an event is masked; an API key split across two events is
/// caught with the event before it: the stream ends there, and the key is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_scanned_event_by_event() {
    let (up, feeds) = event_upstream().await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.waf.mode = WafMode::Off;
        c.routes = vec![dlp_route("events", up.clone(), DlpMode::Mask, &[])];
    })
    .await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    feeds.lock().unwrap().push(rx);
    tx.send("data: hello\n\n".to_owned()).unwrap();
    let mut r = client()
        .get(srv.url("/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(next_event(&mut r).await.as_deref(), Some("data: hello\n\n"));
    tx.send("data: card 4111 1111 1111 1111\n\n".to_owned())
        .unwrap();
    let masked = next_event(&mut r).await.unwrap();
    assert!(
        masked.contains("1111") && !masked.contains("4111 1111"),
        "{masked}"
    );
    // A live key, sent in two events.
    srv.user(
        "sse@example.com",
        portcullis_testkit::STRONG,
        portcullis_core::model::Role::User,
    )
    .await;
    let at = portcullis_testkit::access(
        &srv.login("sse@example.com", portcullis_testkit::STRONG)
            .await,
    );
    let key = new_key(&srv, &at, "sse").await;
    let (first, second) = key.split_at(key.len() / 2);
    // Glued to the word before it in the joined data (black-box pass 6, N5).
    tx.send("data: hello\n\n".to_owned()).unwrap();
    assert_eq!(next_event(&mut r).await.as_deref(), Some("data: hello\n\n"));
    tx.send(format!("data: {first}\n\n")).unwrap();
    assert_eq!(next_event(&mut r).await, Some(format!("data: {first}\n\n")));
    tx.send(format!("data: {second}\n\n")).unwrap();
    ends_and_revokes(&srv, &mut r, &key, "events").await;
    // A token stream of JSON events (OpenAI's chat completions), the key split across two
    // events' `choices.0.delta.content`, with the other fields between the halves.
    let key = new_key(&srv, &at, "sse-json").await;
    let delta = |text: &str| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        )
    };
    split_across(&srv, &feeds, "/events/stream", &key, delta).await;
    // The same as JSON lines (Ollama's chat stream): each line streams, and the key split
    // across two lines' `message.content` ends the stream and is revoked.
    let key = new_key(&srv, &at, "ndjson").await;
    let line = |text: &str| {
        format!(
            "{}\n",
            json!({"model": "m", "message": {"role": "assistant", "content": text}, "done": false})
        )
    };
    split_across(&srv, &feeds, "/events/chat.ndjson", &key, line).await;
    // The same lines whole under `application/json`, as some model servers label them: the
    // key split across two lines is seen joined, the answer refused and the key revoked.
    // One pretty-printed document and lines without a secret pass as they came.
    let key = new_key(&srv, &at, "ndjson-as-json").await;
    let (first, second) = key.split_at(key.len() / 2);
    let whole = |parts: &[String]| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        feeds.lock().unwrap().push(rx);
        for part in parts {
            tx.send(part.clone()).unwrap();
        }
    };
    whole(&[line("Your key is "), line(first), line(second)]);
    let r = client()
        .get(srv.url("/events/chat.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(revoked(&srv, &key).await, 401, "the key split across lines");
    let pretty =
        serde_json::to_string_pretty(&json!({"a": {"content": "pcl_"}, "b": "x"})).unwrap();
    let plain = [line("Hello"), line(" world"), line("1234"), line("5678")];
    for (parts, what) in [(vec![pretty.clone()], "pretty"), (plain.to_vec(), "lines")] {
        let body = parts.concat();
        whole(&parts);
        let r = client()
            .get(srv.url("/events/chat.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}");
        assert_eq!(r.text().await.unwrap(), body, "{what}");
    }
    srv.stop().await;
}

/// A new API key of the user whose access token is `at`.
pub(crate) async fn new_key(srv: &TestServer, at: &str, name: &str) -> String {
    let (s, k, _) = send(
        client()
            .post(srv.url("/api/v1/auth/api-keys"))
            .bearer_auth(at)
            .json(&json!({"name": name, "scopes": ["deploy:write"]})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    k["key"].as_str().unwrap().to_owned()
}

/// `key` sent by an upstream stream at `path` in two halves, each framed by `frame`, after
/// a first frame: the first frame and half stream, the stream ends before the second, and
/// the key is revoked.
async fn split_across(
    srv: &TestServer,
    feeds: &std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    path: &str,
    key: &str,
    frame: impl Fn(&str) -> String,
) {
    let (first, second) = key.split_at(key.len() / 2);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    feeds.lock().unwrap().push(rx);
    tx.send(frame("Your key is ")).unwrap();
    let mut r = client().get(srv.url(path)).send().await.unwrap();
    assert_eq!(next_event(&mut r).await, Some(frame("Your key is ")));
    tx.send(frame(first)).unwrap();
    assert_eq!(next_event(&mut r).await, Some(frame(first)));
    tx.send(frame(second)).unwrap();
    ends_and_revokes(srv, &mut r, key, path).await;
}

/// The stream `r` ends before the rest of `key`, and `key` is revoked.
async fn ends_and_revokes(srv: &TestServer, r: &mut reqwest::Response, key: &str, what: &str) {
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), r.chunk())
        .await
        .unwrap();
    assert!(
        ended.is_err(),
        "{what}: the stream ends before the rest: {ended:?}"
    );
    assert_eq!(
        revoked(srv, key).await,
        401,
        "{what}: the key split across the stream is revoked"
    );
}

/// What `key` gets from the API once DLP's revocation (after the answer) has had 5 s.
async fn revoked(srv: &TestServer, key: &str) -> u16 {
    let mut status = 0;
    for _ in 0..50 {
        let (s, _, _) = send(
            client()
                .get(srv.url("/api/v1/auth/me"))
                .header("x-api-key", key),
        )
        .await;
        status = s;
        if s == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    status
}
