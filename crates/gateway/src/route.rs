//! Phase 1, route match: the route of a request by its host and the longest prefix of its
//! normalised path. A compiled route is plain data; what changes while serving lives in the
//! phases' own state, indexed by [`Route::index`].

use axum::http::Method;
use portcullis_core::config::RouteConfig;

use crate::upstream::Upstream;

/// One route, compiled from its `[[routes]]` entry.
#[derive(Debug)]
pub struct Route {
    /// Its position in matching order: the index of its state in every phase.
    pub(crate) index: usize,
    pub(crate) cfg: RouteConfig,
    pub(crate) upstreams: Vec<Upstream>,
    pub(crate) methods: Vec<Method>,
    pub(crate) policy: Option<crate::policy::RoutePolicy>,
    /// Its request counters and latency histogram.
    pub(crate) metrics: portcullis_http::metrics::RouteMetrics,
    /// Its name, shared by every access line it serves.
    pub(crate) label: std::sync::Arc<str>,
}

impl Route {
    /// Compiles `r` as the route at `index`: upstream URLs, methods and the Cedar policy.
    pub(crate) fn compile(
        index: usize,
        r: &RouteConfig,
        metrics: &portcullis_http::metrics::Metrics,
    ) -> Result<Self, String> {
        let upstreams = r
            .upstreams
            .iter()
            .map(|u| {
                Upstream::parse(u).map_err(|e| format!("routes `{}`: upstream `{u}`: {e}", r.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            index,
            cfg: r.clone(),
            upstreams,
            methods: crate::methods(r)?,
            policy: policy_of(r)?,
            metrics: metrics.route(&r.name),
            label: r.name.as_str().into(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }
}

/// The route's Cedar policy: `policy` holds Cedar text or the path of a file that does;
/// `policy_file` a path.
fn policy_of(r: &RouteConfig) -> Result<Option<crate::policy::RoutePolicy>, String> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("routes `{}`: {}: {e}", r.name, path.display()))
    };
    let text = match (
        r.policy.as_deref().map(str::trim).filter(|t| !t.is_empty()),
        &r.policy_file,
    ) {
        (Some(text), _) if !text.contains('\n') && std::path::Path::new(text).is_file() => {
            read(std::path::Path::new(text))?
        }
        (Some(text), _) => text.to_owned(),
        (None, Some(path)) => read(path)?,
        (None, None) => return Ok(None),
    };
    crate::policy::compile(&r.name, &text).map(Some)
}

/// Moves each route's phase state `T` from the gateway being replaced to its successor, for
/// the routes that keep their name (`old[i]` belongs to `old_routes`' route at index `i`).
pub(crate) fn carry_over<T: Default>(
    routes: &[Route],
    new: &[std::sync::Mutex<T>],
    old_routes: &[Route],
    old: &[std::sync::Mutex<T>],
) {
    let lock = |m: &std::sync::Mutex<T>| {
        // A poisoned cell is still the right cell: take it as it is.
        std::mem::take(&mut *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    };
    for route in routes {
        let Some(before) = old_routes.iter().find(|r| r.cfg.name == route.cfg.name) else {
            continue;
        };
        if let (Some(n), Some(o)) = (new.get(route.index), old.get(before.index)) {
            let taken = lock(o);
            *n.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = taken;
        }
    }
}

/// The first of `routes` (in matching order) for `host` and the normalised `path`.
pub(crate) fn find<'r>(routes: &'r [Route], host: Option<&str>, path: &str) -> Option<&'r Route> {
    // The request's host without its port (`[v6]:port` keeps its brackets).
    let host = host.map(|h| match h.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    });
    // `example.com.` is `example.com`: a trailing dot must not skip a host's routes.
    let host = host.map(|h| h.strip_suffix('.').unwrap_or(h));
    routes.iter().find(|r| {
        if let Some(want) = &r.cfg.host
            && !host.is_some_and(|h| h.eq_ignore_ascii_case(want))
        {
            return false;
        }
        let p = r.cfg.prefix.trim_end_matches('/');
        p.is_empty()
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;

    /// A route config from TOML fields, with one upstream.
    pub(crate) fn config(name: &str, extra: &str) -> RouteConfig {
        let upstream = if extra.contains("upstreams") {
            ""
        } else {
            "upstreams = [\"http://127.0.0.1:9\"]\n"
        };
        let text = format!("name = \"{name}\"\n{upstream}{extra}");
        toml::from_str(&text).unwrap()
    }

    pub(crate) fn gateway(routes: &[RouteConfig]) -> crate::Gateway {
        crate::Gateway::new(routes, 1024, &portcullis_http::metrics::Metrics::new()).unwrap()
    }

    #[test]
    fn hosts_first_then_the_longest_prefix_on_segment_boundaries() {
        let g = gateway(&[
            config("any", "prefix = \"/\""),
            config("api", "prefix = \"/api\""),
            config("api-v2", "prefix = \"/api/v2/\""),
            config("host", "prefix = \"/api\"\nhost = \"example.com\""),
        ]);
        let name = |host: Option<&str>, path: &str| find(&g.routes, host, path).map(Route::name);
        assert_eq!(name(None, "/api/v2/x"), Some("api-v2"));
        assert_eq!(name(None, "/api/v2"), Some("api-v2"));
        assert_eq!(name(None, "/api/v22"), Some("api"));
        assert_eq!(name(None, "/apix"), Some("any"));
        assert_eq!(name(Some("EXAMPLE.com:8443"), "/api/v2/x"), Some("host"));
        assert_eq!(name(Some("example.com."), "/api"), Some("host"));
        assert_eq!(name(Some("other.example"), "/api"), Some("api"));
        // Indexes follow matching order.
        for (i, r) in g.routes.iter().enumerate() {
            assert_eq!(r.index, i);
        }
    }

    #[test]
    fn no_route_no_match() {
        let g = gateway(&[config("api", "prefix = \"/api\"")]);
        assert!(find(&g.routes, None, "/").is_none());
        assert!(find(&g.routes, None, "/ap").is_none());
    }

    #[test]
    fn bad_upstreams_and_methods_are_refused_at_compile_time() {
        let bad = config("x", "prefix = \"/x\"\nmethods = [\"G ET\"]");
        assert!(crate::Gateway::new(&[bad], 1, &portcullis_http::metrics::Metrics::new()).is_err());
    }
}
