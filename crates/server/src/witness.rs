//! Pushing checkpoints to witnesses with the C2SP tlog-witness protocol
//! (<https://c2sp.org/tlog-witness>): `POST <url>` (the witness's `add-checkpoint` URL) with
//! `old <size>`, the consistency proof from the size the witness last accepted, a blank line
//! and the signed checkpoint. A witness that knows another size answers 409 with it
//! (`text/x.tlog.size`); the push is then retried from that size. A witness ahead of the log
//! is a fork or a rollback: that is logged loudly and never "fixed" by the log.

use std::collections::HashMap;
use std::time::Duration;

use portcullis_core::model::CheckpointRecord;
use portcullis_core::service::Services;

/// Attempts per witness and checkpoint (the first, and retries after a 409).
const ATTEMPTS: usize = 3;

/// The witnesses of a log and the tree size each last accepted.
pub struct Witnesses {
    client: Option<reqwest::Client>,
    urls: Vec<String>,
    known: HashMap<String, u64>,
}

impl Witnesses {
    /// Witnesses at `urls`; each is assumed to know nothing until it says otherwise.
    pub fn new(urls: Vec<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .ok();
        Self {
            client,
            urls,
            known: HashMap::new(),
        }
    }

    /// Offers `cp` to every witness. A failure is logged; the next checkpoint carries a
    /// proof from whatever the witness last accepted, so nothing is lost.
    pub async fn push(&mut self, svc: &Services, cp: &CheckpointRecord) {
        let Some(client) = self.client.clone() else {
            return;
        };
        for url in self.urls.clone() {
            let mut old = self.known.get(&url).copied().unwrap_or(0);
            for _ in 0..ATTEMPTS {
                match add_checkpoint(&client, svc, &url, old, cp).await {
                    Ok(Pushed::Accepted) => {
                        self.known.insert(url.clone(), cp.tree_size);
                        break;
                    }
                    Ok(Pushed::Knows(size)) if size > cp.tree_size => {
                        tracing::error!(url = %url, witness_size = size, log_size = cp.tree_size,
                            "a witness has seen a larger tree than this log: the log was rolled back or forked");
                        break;
                    }
                    Ok(Pushed::Knows(size)) => {
                        self.known.insert(url.clone(), size);
                        old = size;
                    }
                    Err(e) => {
                        tracing::warn!(url = %url, error = %e, "witness did not take the checkpoint");
                        break;
                    }
                }
            }
        }
    }
}

/// What a witness said to one `add-checkpoint`.
enum Pushed {
    /// 200: cosigned.
    Accepted,
    /// 409: it knows this tree size.
    Knows(u64),
}

async fn add_checkpoint(
    client: &reqwest::Client,
    svc: &Services,
    url: &str,
    old: u64,
    cp: &CheckpointRecord,
) -> Result<Pushed, String> {
    let body = svc
        .witness_add_checkpoint_body(old, cp)
        .await
        .map_err(|e| e.to_string())?;
    let r = client
        .post(url)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST: {e}"))?;
    let status = r.status();
    let is_size = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().starts_with("text/x.tlog.size"));
    if status.is_success() {
        return Ok(Pushed::Accepted);
    }
    if status == reqwest::StatusCode::CONFLICT && is_size {
        let text = r.text().await.map_err(|e| format!("409 body: {e}"))?;
        let size = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("409 with an unreadable size: {text:?}"))?;
        return Ok(Pushed::Knows(size));
    }
    Err(format!("answered {status}"))
}
