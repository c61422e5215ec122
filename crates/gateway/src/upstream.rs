//! Phase 7, choose the upstream: round-robin or least-requests over the route's upstreams,
//! skipping those that failed their health check (while any passes) and those whose circuit
//! breaker is open, and holding the upstream's share of `max_concurrent`. The phase owns the
//! breakers, health, in-flight counts and permits of every upstream of every route.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Uri;
use portcullis_core::config::Balance;

use crate::breaker::Breaker;
use crate::route::Route;

/// One upstream of a route.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// `http://` or `https://` with the base path (an `h2c://` upstream is `http://` here).
    pub(crate) uri: Uri,
    /// HTTP/2 with prior knowledge, without TLS (`h2c://`).
    pub(crate) h2c: bool,
}

impl Upstream {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (text, h2c) = match text.strip_prefix("h2c://") {
            Some(rest) => (format!("http://{rest}"), true),
            None => (text.to_owned(), false),
        };
        let uri = text
            .trim_end_matches('/')
            .parse::<Uri>()
            .map_err(|e| e.to_string())?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.authority().is_some() => Ok(Self { uri, h2c }),
            _ => Err("an upstream is http://, https:// or h2c:// with a host".into()),
        }
    }

    /// The version a request to this upstream is sent as (the client's own version is the
    /// client's business: an HTTP/2 client can reach an HTTP/1.1 upstream and back).
    pub(crate) fn version(&self) -> axum::http::Version {
        if self.h2c {
            axum::http::Version::HTTP_2
        } else {
            axum::http::Version::HTTP_11
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.h2c {
            let rest = self.uri.to_string();
            let rest = rest.strip_prefix("http://").unwrap_or(&rest);
            write!(f, "h2c://{rest}")
        } else {
            write!(f, "{}", self.uri)
        }
    }
}

/// What the balancer knows of one route's upstreams (indexed like `Route::upstreams`).
#[derive(Debug)]
pub(crate) struct Pool {
    next: AtomicUsize,
    breakers: Mutex<Vec<Breaker>>,
    healthy: Vec<AtomicBool>,
    in_flight: Vec<AtomicUsize>,
    /// When `max_concurrent` is set: the requests each upstream may have in flight.
    permits: Vec<Arc<tokio::sync::Semaphore>>,
}

impl Pool {
    /// The breakers (a poisoned lock still holds the right breakers: taken as they are).
    fn breakers(&self) -> std::sync::MutexGuard<'_, Vec<Breaker>> {
        self.breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The upstream state of every route.
#[derive(Debug)]
pub(crate) struct Balancer(Vec<Pool>);

impl Balancer {
    pub(crate) fn new(routes: &[Route]) -> Self {
        Self(
            routes
                .iter()
                .map(|r| {
                    let n = r.upstreams.len();
                    Pool {
                        next: AtomicUsize::new(0),
                        breakers: Mutex::new(vec![Breaker::default(); n]),
                        healthy: (0..n).map(|_| AtomicBool::new(true)).collect(),
                        in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
                        permits: r
                            .cfg
                            .max_concurrent
                            .map(|m| {
                                (0..n)
                                    .map(|_| {
                                        Arc::new(tokio::sync::Semaphore::new(
                                            usize::try_from(m).unwrap_or(1),
                                        ))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect(),
        )
    }

    fn pool(&self, route: &Route) -> Option<&Pool> {
        self.0.get(route.index)
    }

    /// The next upstream of `route` whose breaker lets a request through (not `skip`, the
    /// one just tried, when there is another), as an [`Attempt`] that keeps the books
    /// however the request ends.
    pub(crate) fn pick<'a>(&'a self, route: &'a Route, skip: Option<usize>) -> Option<Attempt<'a>> {
        let pool = self.pool(route)?;
        let (idx, probe) = choose(route, pool, skip)?;
        if let Some(c) = pool.in_flight.get(idx) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Some(Attempt {
            route,
            pool,
            idx,
            probe,
            settled: false,
        })
    }

    /// The state of every upstream of every route, for `/metrics`.
    pub(crate) fn states(&self, routes: &[Route]) -> Vec<portcullis_http::metrics::UpstreamState> {
        let now = Instant::now();
        let mut out = Vec::new();
        for route in routes {
            let Some(pool) = self.pool(route) else {
                continue;
            };
            let breakers = pool.breakers().clone();
            for (i, up) in route.upstreams.iter().enumerate() {
                out.push(portcullis_http::metrics::UpstreamState {
                    route: route.cfg.name.clone(),
                    upstream: up.to_string(),
                    healthy: pool
                        .healthy
                        .get(i)
                        .is_some_and(|h| h.load(Ordering::Relaxed)),
                    breaker: breakers.get(i).map_or(0, |b| b.state(now)),
                    in_flight: pool
                        .in_flight
                        .get(i)
                        .map_or(0, |c| c.load(Ordering::Relaxed)),
                });
            }
        }
        out
    }

    /// Takes over the breakers, health and `max_concurrent` permits of each route that keeps
    /// its name and upstreams.
    pub(crate) fn adopt(&mut self, routes: &[Route], old: &Balancer, old_routes: &[Route]) {
        for route in routes {
            let Some(before) = old_routes
                .iter()
                .find(|r| r.cfg.name == route.cfg.name && r.cfg.upstreams == route.cfg.upstreams)
            else {
                continue;
            };
            let (Some(new), Some(was)) = (self.0.get_mut(route.index), old.0.get(before.index))
            else {
                continue;
            };
            // The same `max_concurrent` counts requests on both gateways while the old one
            // drains: the permits are shared, not started afresh.
            if before.cfg.max_concurrent == route.cfg.max_concurrent {
                new.permits = was.permits.clone();
            }
            let breakers = was.breakers().clone();
            *new.breakers() = breakers;
            for (n, w) in new.healthy.iter().zip(&was.healthy) {
                n.store(w.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// Notes the result of a health check of upstream `i` of `route`.
    pub(crate) fn set_health(&self, route: &Route, i: usize, ok: bool) {
        if let Some(h) = self.pool(route).and_then(|p| p.healthy.get(i)) {
            let was = h.swap(ok, Ordering::Relaxed);
            if was != ok {
                tracing::warn!(route = %route.cfg.name, upstream = i, healthy = ok, "upstream health changed");
            }
        }
    }
}

/// The upstream to try, and whether the request is its breaker's half-open probe.
fn choose(route: &Route, pool: &Pool, skip: Option<usize>) -> Option<(usize, bool)> {
    let n = route.upstreams.len();
    let mut breakers = pool.breakers();
    let now = Instant::now();
    // Candidates in the order the balancing mode prefers; unhealthy upstreams are skipped
    // unless every upstream failed its health check.
    let start = pool.next.fetch_add(1, Ordering::Relaxed);
    let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n.max(1)).collect();
    if route.cfg.balance == Balance::LeastRequests {
        order.sort_by_key(|&i| {
            pool.in_flight
                .get(i)
                .map_or(usize::MAX, |c| c.load(Ordering::Relaxed))
        });
    }
    let any_healthy = pool.healthy.iter().any(|h| h.load(Ordering::Relaxed));
    for i in order {
        if Some(i) == skip && n > 1 {
            continue;
        }
        if any_healthy
            && !pool
                .healthy
                .get(i)
                .is_some_and(|h| h.load(Ordering::Relaxed))
        {
            continue;
        }
        if let Some(probe) = breakers.get_mut(i)?.admit(now) {
            return Some((i, probe));
        }
    }
    None
}

/// How one attempt at an upstream ended, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered (not with a gateway error).
    Ok,
    /// An upstream fault for this client (a keyed hash of its address): no answer in time,
    /// a dropped connection, or 502-504. Only these and `Unreachable` count: a client cannot
    /// open the breaker with its own bad requests or bodies. (A 500 is the application's
    /// answer to one request, which anyone could provoke, so it is not one.)
    Fault(u64),
    /// No connection could be made.
    Unreachable,
    /// Nothing learnt about the upstream: the client's body failed or was too large.
    Neutral,
}

/// One request in flight to one upstream: the upstream's in-flight count (for
/// least-requests) and its breaker's half-open probe are given back when it is dropped,
/// also when the request future is cancelled (a deadline, a client going away) before it
/// is settled.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    route: &'a Route,
    pool: &'a Pool,
    /// The upstream.
    pub(crate) idx: usize,
    probe: bool,
    settled: bool,
}

impl Attempt<'_> {
    /// The upstream's share of `max_concurrent`, held until the upstream has answered;
    /// `Err` when it has no room. `Ok(None)` without a limit.
    pub(crate) fn permit(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
        match self.pool.permits.get(self.idx) {
            Some(sem) => sem.clone().try_acquire_owned().map(Some).map_err(|_| ()),
            None => Ok(None),
        }
    }

    /// Records the outcome with the breaker.
    pub(crate) fn settle(mut self, outcome: Outcome) {
        self.settled = true;
        let mut breakers = self.pool.breakers();
        let Some(b) = breakers.get_mut(self.idx) else {
            return;
        };
        let seen = match outcome {
            Outcome::Ok => Some(crate::breaker::Seen::Answered),
            Outcome::Fault(client) => Some(crate::breaker::Seen::Faulted(client)),
            Outcome::Unreachable => Some(crate::breaker::Seen::Unreachable),
            Outcome::Neutral => None,
        };
        match seen {
            Some(seen) => {
                let opened = b.observe(&self.route.cfg, seen);
                if opened {
                    tracing::warn!(route = %self.route.cfg.name, upstream = self.idx, "circuit breaker open");
                }
            }
            None if self.probe => b.release_probe(),
            None => {}
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.pool.in_flight.get(self.idx) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        if !self.settled && self.probe {
            let mut breakers = self.pool.breakers();
            if let Some(b) = breakers.get_mut(self.idx) {
                b.release_probe();
            }
        }
    }
}

/// One round of active health checks: the routes due at tick `ticks` (seconds).
pub(crate) async fn check_health(gateway: &crate::Gateway, ticks: u64) {
    for route in &gateway.routes {
        let Some(path) = &route.cfg.health_check_path else {
            continue;
        };
        if !ticks.is_multiple_of(route.cfg.health_check_interval_seconds.max(1)) {
            continue;
        }
        for (i, up) in route.upstreams.iter().enumerate() {
            let uri = format!(
                "{}://{}{}{}",
                up.uri.scheme_str().unwrap_or("http"),
                up.uri.authority().map_or("", |a| a.as_str()),
                up.uri.path().trim_end_matches('/'),
                path
            );
            let Ok(uri) = uri.parse::<Uri>() else {
                continue;
            };
            let ok = match axum::http::Request::get(uri).body(Body::empty()) {
                Ok(req) => matches!(
                    tokio::time::timeout(Duration::from_secs(2), gateway.forward.send(route, up, req)).await,
                    Ok(Ok(res)) if res.status().is_success()
                ),
                Err(_) => false,
            };
            gateway.upstreams.set_health(route, i, ok);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::route::tests::{config, gateway};

    fn two(extra: &str) -> crate::Gateway {
        gateway(&[config(
            "r",
            &format!(
                "prefix = \"/r\"\nupstreams = [\"http://127.0.0.1:1\", \"h2c://127.0.0.1:2/base\"]\n{extra}"
            ),
        )])
    }

    #[test]
    fn upstream_urls() {
        assert!(Upstream::parse("h2c://127.0.0.1:50051").unwrap().h2c);
        assert_eq!(
            Upstream::parse("h2c://127.0.0.1:2/base/")
                .unwrap()
                .to_string(),
            "h2c://127.0.0.1:2/base"
        );
        for bad in ["ftp://x", "127.0.0.1:80", "http://", "/path"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_robin_skips_unhealthy_unless_all_are() {
        let g = two("");
        let r = &g.routes[0];
        let picks: Vec<usize> = (0..4)
            .map(|_| g.upstreams.pick(r, None).unwrap().idx)
            .collect();
        assert_eq!(picks, [0, 1, 0, 1]);
        g.upstreams.set_health(r, 0, false);
        assert!((0..4).all(|_| g.upstreams.pick(r, None).unwrap().idx == 1));
        g.upstreams.set_health(r, 1, false);
        assert!(g.upstreams.pick(r, None).is_some());
        // A retry goes elsewhere.
        g.upstreams.set_health(r, 0, true);
        g.upstreams.set_health(r, 1, true);
        let first = g.upstreams.pick(r, None).unwrap().idx;
        assert_ne!(g.upstreams.pick(r, Some(first)).unwrap().idx, first);
    }

    #[test]
    fn faults_open_the_breaker_and_a_probe_is_let_through_after_the_cooldown() {
        let g = two("breaker_failures = 2\nbreaker_cooldown_seconds = 0");
        let r = &g.routes[0];
        for _ in 0..4 {
            g.upstreams
                .pick(r, None)
                .unwrap()
                .settle(Outcome::Unreachable);
        }
        let states = g.upstreams.states(&g.routes);
        assert!(states.iter().all(|s| s.breaker == 1), "{states:?}");
        // Cooldown over: one probe per upstream, then none until they settle.
        let a = g.upstreams.pick(r, None).unwrap();
        let b = g.upstreams.pick(r, None).unwrap();
        assert!(g.upstreams.pick(r, None).is_none());
        a.settle(Outcome::Ok);
        drop(b);
        assert!(g.upstreams.pick(r, None).is_some());
    }

    #[test]
    fn in_flight_counts_and_permits() {
        let g = two("max_concurrent = 1\nbalance = \"least_requests\"");
        let r = &g.routes[0];
        let a = g.upstreams.pick(r, None).unwrap();
        let held = a.permit().unwrap();
        assert!(held.is_some());
        assert!(a.permit().is_err());
        // Least requests: the other upstream while `a` is out.
        let b = g.upstreams.pick(r, None).unwrap();
        assert_ne!(a.idx, b.idx);
        let busy = || -> usize {
            g.upstreams
                .states(&g.routes)
                .iter()
                .map(|s| s.in_flight)
                .sum()
        };
        assert_eq!(busy(), 2);
        drop((a, b));
        assert_eq!(busy(), 0);
    }
}
