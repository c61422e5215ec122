//! What the gateway shares across nodes through Redis: GCRA rate limits, evaluated
//! atomically by a Lua script on the Redis server with Redis's own clock, so every node
//! counts against the same theoretical arrival time.
//!
//! The client is small on purpose (RESP2 over TCP, a handful of pooled connections, EVAL
//! only): it is on the path of every limited request, and what it needs is a few hundred
//! lines, not a general-purpose driver. When Redis is unreachable or slow, the caller falls
//! back to the node's own limiter; it never lets a request through unlimited.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// How long one Redis operation (connect included) may take before the node limits alone.
const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not tried again for this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Idle connections kept.
const POOL: usize = 16;
/// Largest reply element accepted (a GCRA reply is a few bytes).
const MAX_BULK: usize = 64 * 1024;

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

/// Where Redis is, from `redis://[[user]:password@]host:port[/db]`.
#[derive(Clone)]
struct Target {
    addr: String,
    user: Option<String>,
    password: Option<SecretString>,
    db: u32,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or("cluster.redis_url must start with redis:// (TLS to Redis is not supported yet)")?;
    let (auth, hostpart) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let (hostport, db) = match hostpart.split_once('/') {
        Some((h, "")) => (h, 0),
        Some((h, d)) => (
            h,
            d.parse::<u32>()
                .map_err(|_| "cluster.redis_url: the database must be a number")?,
        ),
        None => (hostpart, 0),
    };
    if hostport.is_empty() {
        return Err("cluster.redis_url: no host".into());
    }
    let addr = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    };
    let (user, password) = match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (
                (!u.is_empty()).then(|| u.to_owned()),
                Some(SecretString::from(p.to_owned())),
            ),
            None => (None, Some(SecretString::from(a.to_owned()))),
        },
    };
    Ok(Target {
        addr,
        user,
        password,
        db,
    })
}

/// One reply of the RESP2 protocol.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

struct Conn {
    io: BufStream<TcpStream>,
}

impl Conn {
    async fn open(t: &Target) -> Result<Self, String> {
        let tcp = TcpStream::connect(&t.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", t.addr))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Conn {
            io: BufStream::new(tcp),
        };
        if let Some(p) = &t.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &t.user {
                args.push(u.as_bytes());
            }
            args.push(p.expose_secret().as_bytes());
            c.expect_ok(&args).await?;
        }
        if t.db != 0 {
            let db = t.db.to_string();
            c.expect_ok(&[b"SELECT", db.as_bytes()]).await?;
        }
        Ok(c)
    }

    async fn expect_ok(&mut self, args: &[&[u8]]) -> Result<(), String> {
        match self.call(args).await? {
            Reply::Simple(_) => Ok(()),
            Reply::Error(e) => Err(format!("redis: {e}")),
            other => Err(format!("redis: unexpected reply {other:?}")),
        }
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        let io = |e: std::io::Error| format!("redis: {e}");
        self.io.write_all(&out).await.map_err(io)?;
        self.io.flush().await.map_err(io)?;
        Box::pin(read_reply(&mut self.io, 0)).await
    }
}

async fn read_line(io: &mut BufStream<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    let n = (&mut *io)
        .take(MAX_BULK as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("redis: {e}"))?;
    if n == 0 {
        return Err("redis: connection closed".into());
    }
    if !line.ends_with(b"\r\n") {
        return Err("redis: malformed reply".into());
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| "redis: reply is not UTF-8".into())
}

async fn read_reply(io: &mut BufStream<TcpStream>, depth: u32) -> Result<Reply, String> {
    if depth > 4 {
        return Err("redis: reply nested too deeply".into());
    }
    let line = read_line(io).await?;
    let (kind, rest) = line.split_at_checked(1).ok_or("redis: empty reply line")?;
    let num = || {
        rest.parse::<i64>()
            .map_err(|_| format!("redis: bad number {rest:?}"))
    };
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Int(num()?)),
        "$" => {
            let n = num()?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = usize::try_from(n).map_err(|_| "redis: bad length")?;
            if n > MAX_BULK {
                return Err("redis: reply too large".into());
            }
            let mut buf = vec![0u8; n + 2];
            io.read_exact(&mut buf)
                .await
                .map_err(|e| format!("redis: {e}"))?;
            buf.truncate(n);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let n = num()?;
            if !(0..=64).contains(&n) {
                return Ok(Reply::Array(Vec::new()));
            }
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(Box::pin(read_reply(io, depth + 1)).await?);
            }
            Ok(Reply::Array(items))
        }
        _ => Err("redis: unknown reply type".into()),
    }
}

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

/// The Redis connection pool and its health.
pub struct Redis {
    target: Target,
    idle: Mutex<Vec<Conn>>,
    down_since: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// From `cluster.redis_url`; nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            target: parse_url(url)?,
            idle: Mutex::new(Vec::new()),
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
        let (t, w) = (interval_us.to_string(), window_us.to_string());
        let args: [&[u8]; 6] = [
            b"EVAL",
            GCRA_SCRIPT.as_bytes(),
            b"1",
            key.as_bytes(),
            t.as_bytes(),
            w.as_bytes(),
        ];
        let result = tokio::time::timeout(OP_TIMEOUT, async {
            let pooled = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            // A pooled connection may have died with a Redis restart: then the pool is
            // dropped and a fresh connection tried once.
            let (conn, reply) = match pooled {
                Some(mut c) => match c.call(&args).await {
                    Ok(r) => (c, r),
                    Err(_) => {
                        self.idle
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .clear();
                        let mut c = Conn::open(&self.target).await?;
                        let r = c.call(&args).await?;
                        (c, r)
                    }
                },
                None => {
                    let mut c = Conn::open(&self.target).await?;
                    let r = c.call(&args).await?;
                    (c, r)
                }
            };
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < POOL {
                idle.push(conn);
            }
            Ok::<_, String>(reply)
        })
        .await
        .unwrap_or_else(|_| Err("redis: no answer in time".into()));
        let decision = match result {
            Ok(Reply::Array(items)) => match items.as_slice() {
                [Reply::Int(1), Reply::Int(ahead)] => Ok(SharedDecision::Allow {
                    ahead_us: u64::try_from(*ahead).unwrap_or(0),
                }),
                [Reply::Int(0), Reply::Int(wait)] => Ok(SharedDecision::Deny {
                    wait_us: u64::try_from(*wait).unwrap_or(0),
                }),
                other => Err(format!("redis: unexpected GCRA reply {other:?}")),
            },
            Ok(Reply::Error(e)) => Err(format!("redis: {e}")),
            Ok(other) => Err(format!("redis: unexpected GCRA reply {other:?}")),
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
        let t = parse_url("redis://127.0.0.1:6390").map_err(|e| e.to_string());
        assert_eq!(t.as_ref().map(|t| t.addr.as_str()), Ok("127.0.0.1:6390"));
        let t = parse_url("redis://:s3cret@cache.internal/2").map_err(|e| e.to_string());
        assert_eq!(
            t.as_ref().map(|t| t.addr.as_str()),
            Ok("cache.internal:6379")
        );
        assert_eq!(t.as_ref().map(|t| t.db), Ok(2));
        assert!(t.is_ok_and(|t| t.password.is_some() && t.user.is_none()));
        let t = parse_url("redis://app:pw@[::1]:7000/0").map_err(|e| e.to_string());
        assert_eq!(t.as_ref().map(|t| t.addr.as_str()), Ok("[::1]:7000"));
        assert!(t.is_ok_and(|t| t.user.as_deref() == Some("app")));
        assert!(parse_url("rediss://x").is_err());
        assert!(parse_url("redis://").is_err());
        assert!(parse_url("redis://h/x").is_err());
    }
}
