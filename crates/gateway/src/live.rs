//! The gateway in force and what outlives a reload: the swap, the state a new gateway
//! takes over, health checks and the upstream states for `/metrics`.

use super::*;

/// The gateway in force: swapped whole when the routes are reloaded, while each request
/// keeps the one it started with.
pub type LiveGateway = Arc<arc_swap::ArcSwap<Gateway>>;

/// Runs the active health checks of every route of the gateway in force that has a
/// `health_check_path`, until `stop` turns true.
pub async fn health_checks(live: LiveGateway, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
        ticks += 1;
        live.load_full().check_health(ticks).await;
    }
}

impl Gateway {
    /// Wraps this gateway for serving.
    pub fn live(self) -> LiveGateway {
        Arc::new(arc_swap::ArcSwap::from_pointee(self))
    }

    /// The state of every upstream of every route, for `/metrics`.
    pub fn upstream_states(&self) -> Vec<UpstreamState> {
        let now = Instant::now();
        let mut out = Vec::new();
        for route in &self.routes {
            let breakers = route
                .breakers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            for (i, up) in route.upstreams.iter().enumerate() {
                out.push(UpstreamState {
                    route: route.cfg.name.clone(),
                    upstream: up.to_string(),
                    healthy: route
                        .healthy
                        .get(i)
                        .is_some_and(|h| h.load(Ordering::Relaxed)),
                    breaker: breakers.get(i).map_or(0, |b| b.state(now)),
                    in_flight: route
                        .in_flight_per
                        .get(i)
                        .map_or(0, |c| c.load(Ordering::Relaxed)),
                });
            }
        }
        out
    }

    /// The names of the routes, in matching order.
    pub fn route_names(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.cfg.name.clone()).collect()
    }

    /// Takes over the running state of `old`, the gateway this one replaces: the rate-limit
    /// cells and the quota counts not yet stored of each route that keeps its name, the
    /// breakers and health of a route whose upstreams are unchanged, and the Redis
    /// connection. What a request still in flight on `old` counts afterwards is flushed by
    /// [`Gateway::flush_usage`] on `old`.
    pub fn adopt(&mut self, old: &Gateway) {
        fn take<T: Default>(m: &Mutex<T>) -> T {
            std::mem::take(&mut *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
        }
        fn put<T>(m: &Mutex<T>, v: T) {
            *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = v;
        }
        self.redis = old.redis.clone();
        for route in &mut self.routes {
            let Some(before) = old.routes.iter().find(|r| r.cfg.name == route.cfg.name) else {
                continue;
            };
            put(&route.limiter, take(&before.limiter));
            put(&route.usage, take(&before.usage));
            if before.cfg.upstreams == route.cfg.upstreams {
                let breakers = before
                    .breakers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                put(&route.breakers, breakers);
                for (new, was) in route.healthy.iter().zip(&before.healthy) {
                    new.store(was.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
        }
    }

    /// One round of active health checks: the routes due at tick `ticks` (seconds).
    async fn check_health(&self, ticks: u64) {
        for route in &self.routes {
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
                let req = axum::http::Request::get(uri).body(Body::empty());
                let ok = match req {
                    Ok(req) => matches!(
                        tokio::time::timeout(Duration::from_secs(2), self.send(route, up, req)).await,
                        Ok(Ok(res)) if res.status().is_success()
                    ),
                    Err(_) => false,
                };
                if let Some(h) = route.healthy.get(i) {
                    let was = h.swap(ok, Ordering::Relaxed);
                    if was != ok {
                        tracing::warn!(route = %route.cfg.name, upstream = %up, healthy = ok, "upstream health changed");
                    }
                }
            }
        }
    }
}
