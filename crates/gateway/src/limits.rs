//! Phase 5, limits: the route's GCRA rate limit (`rate_limit`), per principal, API key or
//! client address. In Redis when `cluster.redis_url` is set, so every node counts together;
//! on this node when Redis is not configured or does not answer. The phase owns the local
//! GCRA cells of every route, and writes the IETF RateLimit headers of what applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_core::config::RateLimitBy;
use portcullis_core::service::Principal;
use portcullis_http::error::ApiError;

use crate::headers::RateHeaders;
use crate::redis::{Redis, SharedDecision};
use crate::route::Route;

/// The GCRA cells of every route (local), and Redis when limits are shared.
pub(crate) struct Limits {
    cells: Vec<Mutex<LocalLimiter>>,
    redis: Option<Arc<Redis>>,
}

impl Limits {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            cells: (0..routes).map(|_| Mutex::default()).collect(),
            redis: None,
        }
    }

    /// Counts in Redis from now on.
    pub(crate) fn share(&mut self, redis: Arc<Redis>) {
        self.redis = Some(redis);
    }

    /// Redis, when limits are shared.
    pub(crate) fn redis(&self) -> Option<&Redis> {
        self.redis.as_deref()
    }

    /// Whether limits are shared right now: Redis is configured and answering.
    pub(crate) fn shared(&self) -> Option<bool> {
        self.redis.as_ref().map(|r| r.is_up())
    }

    /// Takes over the Redis connection and the cells of the routes that keep their name.
    pub(crate) fn adopt(&mut self, routes: &[Route], old: &Limits, old_routes: &[Route]) {
        self.redis = old.redis.clone();
        crate::route::carry_over(routes, &self.cells, old_routes, &old.cells);
    }

    /// The route's rate limit for this request: refused with 429 and `Retry-After`, or let
    /// through with what is left noted in `headers`.
    pub(crate) async fn check(
        &self,
        route: &Route,
        principal: Option<&Principal>,
        ip: Option<std::net::IpAddr>,
        headers: &mut RateHeaders,
    ) -> Result<(), Response> {
        let cfg = &route.cfg;
        let Some(rl) = cfg.rate_limit else {
            return Ok(());
        };
        let who = match (rl.by, principal) {
            (RateLimitBy::Principal, Some(p)) => principal_key(p),
            (
                RateLimitBy::ApiKey,
                Some(Principal {
                    api_key: Some(g), ..
                }),
            ) => format!("k:{}", g.id),
            _ => ip_key(ip),
        };
        headers.policy(
            route.label.clone(),
            u64::from(rl.requests),
            u64::from(rl.window_seconds),
        );
        match self.step(route, &who, rl.requests, rl.window_seconds).await {
            Gcra::Allow { remaining, reset } => {
                headers.limit(route.label.clone(), remaining, reset);
                Ok(())
            }
            Gcra::Deny { retry_after } => {
                route.metrics.rate_limited.inc();
                headers.limit(route.label.clone(), 0, retry_after);
                let mut res = ApiError::from(Error::RateLimited { retry_after }).into_response();
                headers.write(res.headers_mut());
                Err(res)
            }
        }
    }

    /// One GCRA step for `who` on `route`: in Redis when configured and reachable, else on
    /// this node.
    async fn step(&self, route: &Route, who: &str, requests: u32, window: u32) -> Gcra {
        if let Some(redis) = &self.redis {
            let window_us = u64::from(window) * 1_000_000;
            let interval_us = (window_us / u64::from(requests.max(1))).max(1);
            let key = format!("portcullis:rl:{}:{who}", route.cfg.name);
            match redis.gcra(&key, interval_us, window_us).await {
                Some(SharedDecision::Allow { ahead_us }) => {
                    return Gcra::Allow {
                        remaining: window_us.saturating_sub(ahead_us) / interval_us,
                        reset: ahead_us.div_ceil(1_000_000),
                    };
                }
                Some(SharedDecision::Deny { wait_us }) => {
                    return Gcra::Deny {
                        retry_after: wait_us.div_ceil(1_000_000).max(1),
                    };
                }
                None => {}
            }
        }
        match self.cells.get(route.index) {
            Some(cells) => cells
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .rate(who, requests, window, clock()),
            None => Gcra::Deny { retry_after: 1 },
        }
    }
}

/// When rate limits count time (seconds since start-up, sub-second).
pub(crate) fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A GCRA decision: allowed with this many left, or refused for this long.
pub(crate) enum Gcra {
    Allow { remaining: u64, reset: u64 },
    Deny { retry_after: u64 },
}

/// Most keys one route's local limiter holds. Past it (after a sweep of the expired ones),
/// new keys share one cell: a flood of fresh keys is limited together and memory stays
/// bounded, while the keys already known keep their own cells.
pub(crate) const MAX_KEYS: usize = 100_000;
/// The cell new keys share when the map is full.
const OVERFLOW_KEY: &str = "\u{0}overflow";

/// One route's GCRA cells: a theoretical arrival time per key.
#[derive(Debug, Default)]
pub(crate) struct LocalLimiter {
    cells: HashMap<String, f64>,
    /// When expired cells were last removed; at most once a second.
    last_sweep: f64,
}

impl LocalLimiter {
    /// GCRA (generic cell rate algorithm): a request is allowed when it does not push its
    /// key's theoretical arrival time more than one window ahead.
    pub(crate) fn rate(&mut self, key: &str, requests: u32, window: u32, now: f64) -> Gcra {
        let window = f64::from(window);
        let t = window / f64::from(requests.max(1));
        if self.cells.len() >= MAX_KEYS && now - self.last_sweep >= 1.0 {
            self.cells.retain(|_, tat| *tat > now);
            self.last_sweep = now;
        }
        let key = if self.cells.len() >= MAX_KEYS && !self.cells.contains_key(key) {
            OVERFLOW_KEY
        } else {
            key
        };
        let tat = self.cells.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + t;
        if new_tat - now > window + 1e-9 {
            return Gcra::Deny {
                retry_after: (new_tat - window - now).ceil().max(1.0) as u64,
            };
        }
        self.cells.insert(key.to_owned(), new_tat);
        Gcra::Allow {
            remaining: ((window - (new_tat - now)) / t).floor().max(0.0) as u64,
            reset: (new_tat - now).ceil() as u64,
        }
    }

    /// How many cells are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }
}

/// The rate-limit key of a principal: a person, however they authenticate (each session,
/// each of their API keys and each client they act through share one bucket: a person who
/// mints more keys gets no more requests); an OAuth client acting as itself, or a client
/// certificate, by its own grant.
pub(crate) fn principal_key(p: &Principal) -> String {
    match &p.api_key {
        Some(g)
            if g.id.starts_with("mtls:")
                || (g
                    .id
                    .starts_with(portcullis_core::service::CLIENT_GRANT_PREFIX)
                    && p.session_id.is_empty()) =>
        {
            format!("k:{}", g.id)
        }
        _ => format!("u:{}", p.user_id),
    }
}

/// The rate-limit key of a client address: IPv6 by its /64, as the sign-in throttle does,
/// so that one site rotating through its own addresses is one client.
pub(crate) fn ip_key(ip: Option<std::net::IpAddr>) -> String {
    ip.map_or_else(
        || "ip:unknown".to_owned(),
        portcullis_core::throttle::ip_key,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_one_principal_whatever_the_credential() {
        let p = |key: Option<&str>, session: &str| Principal {
            user_id: "u1".into(),
            session_id: session.into(),
            role: portcullis_core::model::Role::User,
            amr: vec![],
            auth_time: 0,
            api_key: key.map(|id| portcullis_core::service::ApiKeyGrant {
                id: id.into(),
                scopes: vec![],
                signing: portcullis_core::model::SigningMode::None,
            }),
            elevation: None,
            password_change: false,
        };
        assert_eq!(principal_key(&p(None, "s1")), "u:u1");
        assert_eq!(principal_key(&p(Some("key1"), "")), "u:u1");
        assert_eq!(principal_key(&p(Some("key2"), "")), "u:u1");
        assert_eq!(principal_key(&p(Some("oauth:app"), "s2")), "u:u1");
        assert_eq!(principal_key(&p(Some("oauth:app"), "")), "k:oauth:app");
        assert_eq!(principal_key(&p(Some("mtls:abc"), "")), "k:mtls:abc");
    }

    #[test]
    fn the_map_is_bounded_and_new_keys_share_a_cell_when_full() {
        let mut l = LocalLimiter::default();
        for i in 0..MAX_KEYS {
            assert!(matches!(
                l.rate(&format!("k{i}"), 1, 60, 0.0),
                Gcra::Allow { .. }
            ));
        }
        assert_eq!(l.len(), MAX_KEYS);
        // Full of live cells: the newcomers share one, which allows one request a minute.
        assert!(matches!(l.rate("new-1", 1, 60, 0.5), Gcra::Allow { .. }));
        assert!(matches!(l.rate("new-2", 1, 60, 0.5), Gcra::Deny { .. }));
        assert!(l.len() <= MAX_KEYS + 1);
        // A known key keeps its own cell.
        assert!(matches!(l.rate("k7", 1, 60, 0.5), Gcra::Deny { .. }));
        // Once the cells expire, one sweep frees them.
        assert!(matches!(l.rate("new-3", 1, 60, 120.0), Gcra::Allow { .. }));
        assert!(l.len() < 10, "{}", l.len());
    }

    #[tokio::test]
    async fn a_route_limit_refuses_past_its_rate_per_client_with_headers() {
        use crate::route::tests::{config, gateway};
        let g = gateway(&[config(
            "r",
            "prefix = \"/r\"\nrate_limit = { requests = 2, window_seconds = 60, by = \"ip\" }",
        )]);
        let r = &g.routes[0];
        let a = Some("192.0.2.1".parse().unwrap());
        for _ in 0..2 {
            let mut h = RateHeaders::default();
            assert!(g.limits.check(r, None, a, &mut h).await.is_ok());
        }
        let mut h = RateHeaders::default();
        let refused = g.limits.check(r, None, a, &mut h).await.unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["ratelimit"], "\"r\";r=0;t=30");
        assert!(refused.headers().contains_key("retry-after"));
        // Another client has its own cell.
        let b = Some("192.0.2.2".parse().unwrap());
        assert!(
            g.limits
                .check(r, None, b, &mut RateHeaders::default())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_reload_keeps_the_cells_of_routes_that_keep_their_name() {
        use crate::route::tests::{config, gateway};
        let limited =
            "prefix = \"/r\"\nrate_limit = { requests = 1, window_seconds = 60, by = \"ip\" }";
        let old = gateway(&[config("r", limited), config("gone", "prefix = \"/g\"")]);
        let a = Some("192.0.2.1".parse().unwrap());
        let r = old.routes.iter().find(|r| r.name() == "r").unwrap();
        assert!(
            old.limits
                .check(r, None, a, &mut RateHeaders::default())
                .await
                .is_ok()
        );
        let mut new = gateway(&[config("new", "prefix = \"/n\""), config("r", limited)]);
        new.adopt(&old);
        let r = new.routes.iter().find(|r| r.name() == "r").unwrap();
        assert!(
            new.limits
                .check(r, None, a, &mut RateHeaders::default())
                .await
                .is_err()
        );
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a = ip_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = ip_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()));
        let c = ip_key(Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ip_key(Some("203.0.113.5".parse().unwrap())),
            "ip:203.0.113.5"
        );
    }
}
