//! The gateway in force and what outlives a reload: the swap, the phase state a new
//! gateway takes over, the health-check loop and the upstream states for `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use crate::Gateway;
use portcullis_http::metrics::UpstreamState;

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
        crate::upstream::check_health(&live.load_full(), ticks).await;
    }
}

impl Gateway {
    /// Wraps this gateway for serving.
    pub fn live(self) -> LiveGateway {
        Arc::new(arc_swap::ArcSwap::from_pointee(self))
    }

    /// The state of every upstream of every route, for `/metrics`.
    pub fn upstream_states(&self) -> Vec<UpstreamState> {
        self.upstreams.states(&self.routes)
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
        self.limits.adopt(&self.routes, &old.limits, &old.routes);
        self.quota.adopt(&self.routes, &old.quota, &old.routes);
        self.upstreams
            .adopt(&self.routes, &old.upstreams, &old.routes);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use crate::route::tests::{config, gateway};
    use crate::upstream::Outcome;

    #[test]
    fn max_concurrent_is_shared_with_the_gateway_a_reload_replaces() {
        let old = gateway(&[config("r", "prefix = \"/r\"\nmax_concurrent = 1")]);
        let held = old.upstreams.pick(&old.routes[0], None).unwrap();
        let permit = held.permit().unwrap();
        let mut new = gateway(&[config("r", "prefix = \"/r\"\nmax_concurrent = 1")]);
        new.adopt(&old);
        let attempt = new.upstreams.pick(&new.routes[0], None).unwrap();
        assert!(
            attempt.permit().is_err(),
            "the old gateway's request still counts"
        );
        drop(permit);
        assert!(attempt.permit().unwrap().is_some());
        // A changed limit starts afresh.
        let mut wider = gateway(&[config("r", "prefix = \"/r\"\nmax_concurrent = 2")]);
        wider.adopt(&new);
        let a = wider.upstreams.pick(&wider.routes[0], None).unwrap();
        let _one = a.permit().unwrap();
        assert!(a.permit().unwrap().is_some());
    }

    #[test]
    fn a_reload_keeps_breakers_of_unchanged_routes_only() {
        let old = gateway(&[
            config("same", "prefix = \"/a\"\nbreaker_failures = 1"),
            config("moved", "prefix = \"/b\"\nbreaker_failures = 1"),
        ]);
        for r in &old.routes {
            old.upstreams
                .pick(r, None)
                .unwrap()
                .settle(Outcome::Unreachable);
            old.upstreams.set_health(r, 0, false);
        }
        let mut new = gateway(&[
            config("same", "prefix = \"/a\"\nbreaker_failures = 1"),
            config(
                "moved",
                "prefix = \"/b\"\nupstreams = [\"http://127.0.0.1:10\"]\nbreaker_failures = 1",
            ),
            config("added", "prefix = \"/c\""),
        ]);
        new.adopt(&old);
        let states = new.upstream_states();
        let of = |n: &str| states.iter().find(|s| s.route == n).unwrap();
        assert_eq!((of("same").breaker, of("same").healthy), (2, false));
        assert_eq!((of("moved").breaker, of("moved").healthy), (0, true));
        assert_eq!((of("added").breaker, of("added").healthy), (0, true));
    }
}
