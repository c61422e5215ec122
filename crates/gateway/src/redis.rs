//! What the gateway shares across nodes through Redis: GCRA rate limits, evaluated
//! atomically by a Lua script on the Redis server with Redis's own clock, so every node
//! counts against the same theoretical arrival time.
//!
//! The client is the `redis` crate: one multiplexed connection per node behind its
//! reconnecting `ConnectionManager`, the script sent as `EVALSHA` (loaded once, again after
//! a Redis restart forgets it), `rediss://` over rustls. When Redis is unreachable or slow,
//! the caller falls back to the node's own limiter; it never lets a request through
//! unlimited.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one Redis operation (connect included) may take before the node limits alone.
const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not tried again for this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// How long a node waits at start for its first connection (TLS handshake included) and
/// the script load, so the first requests do not pay for them inside [`OP_TIMEOUT`].
const WARM_TIMEOUT: Duration = Duration::from_secs(3);

/// GCRA: KEYS[1] the key; ARGV[1] the emission interval and ARGV[2] the window, in
/// microseconds. Returns {1, tat - now} when allowed, {0, microseconds to wait} when not.
const GCRA_SCRIPT: &str = r"
local t = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end
local new_tat = tat + t
if new_tat - now_us > window then
  return {0, new_tat - window - now_us}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now_us) / 1000) + 1000)
return {1, new_tat - now_us}
";

/// A GCRA decision made in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedDecision {
    /// Allowed; the theoretical arrival time is this far ahead.
    Allow {
        /// Microseconds.
        ahead_us: u64,
    },
    /// Refused for this long.
    Deny {
        /// Microseconds.
        wait_us: u64,
    },
}

/// The connection to Redis and its health.
pub struct Redis {
    client: redis::Client,
    conn: tokio::sync::OnceCell<ConnectionManager>,
    script: redis::Script,
    down_since: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info holds the password: only where it points.
        let info = self.client.get_connection_info();
        f.debug_struct("Redis")
            .field("addr", &info.addr().to_string())
            .finish_non_exhaustive()
    }
}

/// Checks `cluster.redis_url`: `redis://` or `rediss://` (TLS), `[[user]:password@]host[:port][/db]`.
pub fn check_url(url: &str) -> Result<(), String> {
    open(url, None).map(|_| ())
}

fn open(url: &str, ca: Option<Vec<u8>>) -> Result<redis::Client, String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("must be redis:// or rediss:// (TLS)".into());
    }
    if ca.is_some() && !url.starts_with("rediss://") {
        return Err("a CA file is for rediss:// (TLS) only".into());
    }
    if let Some(pem) = &ca {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        if !CertificateDer::pem_slice_iter(pem).any(|c| c.is_ok()) {
            return Err("the CA file holds no PEM certificate".into());
        }
    }
    let client = match ca {
        None => redis::Client::open(url),
        Some(pem) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            },
        ),
    };
    // The crate's message may quote the URL, password included: say only what is wrong.
    let client = client.map_err(|e| match e.kind() {
        redis::ErrorKind::InvalidClientConfig => {
            "not a Redis URL: redis[s]://[[user]:password@]host[:port][/db]".to_owned()
        }
        _ => "not a usable Redis URL".to_owned(),
    })?;
    if client.get_connection_info().addr().to_string().is_empty() {
        return Err("the URL names no host".into());
    }
    Ok(client)
}

impl Redis {
    /// From `cluster.redis_url` (and, for `rediss://`, the CA to trust instead of the
    /// system's roots); nothing is connected yet.
    pub fn new(url: &str, ca: Option<Vec<u8>>) -> Result<Self, String> {
        Ok(Self {
            client: open(url, ca)?,
            conn: tokio::sync::OnceCell::new(),
            script: redis::Script::new(GCRA_SCRIPT),
            down_since: Mutex::new(None),
        })
    }

    /// Whether Redis answered the last time it was asked.
    pub fn is_up(&self) -> bool {
        self.down_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
    }

    /// The node's multiplexed connection, made (lazily: it connects on first use and
    /// reconnects by itself) the first time it is needed.
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(OP_TIMEOUT))
                    .set_response_timeout(Some(OP_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(RETRY_AFTER_FAILURE);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    /// Connects and loads the GCRA script before the first request needs them, waiting at
    /// most [`WARM_TIMEOUT`]. A connection made inside a request's 250 ms budget can miss it
    /// on a loaded machine (a TLS handshake, then `NOSCRIPT` and the script sent whole), and
    /// the node would then limit alone for a second. A Redis that cannot be reached is only
    /// logged here: the node starts and limits on its own until Redis answers.
    pub async fn warm(&self) -> Result<(), String> {
        let result = tokio::time::timeout(WARM_TIMEOUT, async {
            let mut conn = self.connection().await.map_err(|e| e.to_string())?;
            self.script
                .load_async(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("no answer in time".into()));
        if let Err(e) = &result {
            tracing::warn!(error = %e, "Redis unreachable at start; each node enforces rate limits on its own until it answers");
        }
        result
    }

    /// One GCRA step for `key` in Redis; `None` when Redis could not answer in time (the
    /// caller limits on its own then).
    pub async fn gcra(
        &self,
        key: &str,
        interval_us: u64,
        window_us: u64,
    ) -> Option<SharedDecision> {
        {
            let down = self
                .down_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if down.is_some_and(|since| since.elapsed() < RETRY_AFTER_FAILURE) {
                return None;
            }
        }
        let result = tokio::time::timeout(OP_TIMEOUT, async {
            let mut conn = self.connection().await.map_err(|e| e.to_string())?;
            let mut invocation = self.script.key(key);
            invocation.arg(interval_us).arg(window_us);
            match invocation.invoke_async::<(i64, i64)>(&mut conn).await {
                // A connection that died with a Redis restart fails once; the manager has
                // reconnected by the time it is asked again.
                Err(e) if e.is_connection_dropped() || e.is_io_error() => invocation
                    .invoke_async::<(i64, i64)>(&mut conn)
                    .await
                    .map_err(|e| e.to_string()),
                other => other.map_err(|e| e.to_string()),
            }
        })
        .await
        .unwrap_or_else(|_| Err("no answer in time".into()));
        let decision = match result {
            Ok((1, ahead)) => Ok(SharedDecision::Allow {
                ahead_us: u64::try_from(ahead).unwrap_or(0),
            }),
            Ok((0, wait)) => Ok(SharedDecision::Deny {
                wait_us: u64::try_from(wait).unwrap_or(0),
            }),
            Ok(other) => Err(format!("unexpected GCRA reply {other:?}")),
            Err(e) => Err(e),
        };
        let mut down = self
            .down_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match decision {
            Ok(d) => {
                if down.take().is_some() {
                    tracing::info!("Redis reachable again; rate limits are shared across nodes");
                }
                Some(d)
            }
            Err(e) => {
                if down.is_none() {
                    tracing::warn!(error = %e, "Redis unreachable; each node enforces rate limits on its own until it returns");
                }
                *down = Some(Instant::now());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("redis://127.0.0.1:6390").is_ok());
        assert!(check_url("redis://:s3cret@cache.internal/2").is_ok());
        assert!(check_url("redis://app:pw@[::1]:7000/0").is_ok());
        assert!(check_url("rediss://cache.internal:6380").is_ok());
        assert!(check_url("http://x").is_err());
        assert!(check_url("redis://h/x").is_err());
        let e = check_url("redis://:hunter2@h/x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(
            open("redis://h", Some(b"x".to_vec())).is_err(),
            "CA without TLS"
        );
        let e = open("rediss://h", Some(b"not pem".to_vec())).unwrap_err();
        assert!(e.contains("PEM"), "{e}");
    }
}
