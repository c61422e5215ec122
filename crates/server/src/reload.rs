//! Hot reload of the gateway on SIGHUP: the configuration is read again as `serve` read it
//! (file, environment, flags), its routes, Cedar policies and limits are compiled into a
//! new gateway, and that gateway replaces the running one in one atomic swap. Requests in
//! flight finish on the gateway they started with; no connection is dropped. A file that
//! does not load, validate or compile changes nothing, and the log says why.
//!
//! Only `[[routes]]` take effect this way (and the TLS certificate, reloaded by the
//! listener on the same signal); other sections are read at start, and a changed `[waf]`
//! or `[dlp]` is logged as waiting for a restart.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::config::Config;
use portcullis_core::service::Services;
use portcullis_gateway::LiveGateway;
use portcullis_http::metrics::Metrics;
use tokio::sync::watch;

/// Reads the configuration again, as it was read at start.
pub type ConfigSource = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// How long requests that started on a replaced gateway have to count their quota use
/// before that gateway's counts are stored one last time.
const STRAGGLERS: Duration = Duration::from_secs(2);

/// Reloads the routes on every SIGHUP until `stop` turns true.
pub(crate) async fn on_hangup(
    source: ConfigSource,
    live: LiveGateway,
    metrics: Arc<Metrics>,
    svc: Arc<Services>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be received: routes are not reloadable");
        return;
    };
    // The sections read only at start, as they were then.
    let started = source().ok();
    loop {
        tokio::select! {
            got = hup.recv() => if got.is_none() { return },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
        match reload(&source, &live, &metrics, &svc).await {
            Ok((names, config)) => {
                tracing::info!(routes = ?names, "routes, policies and limits reloaded");
                let unchanged = started.as_ref().map(|s| not_reloaded(s, &config));
                if let Some(changed) = unchanged.filter(|c| !c.is_empty()) {
                    tracing::warn!(
                        sections = ?changed,
                        "these sections changed in the file but take effect only at a restart"
                    );
                    // Said now, not at the restart that would fail on them.
                    if let Err(e) = crate::app::inspection(&config) {
                        tracing::error!(
                            error = %e,
                            "the file's [waf] or [dlp] does not compile: a restart with it would fail"
                        );
                    }
                }
            }
            Err(e) => tracing::error!(
                error = %e,
                "configuration reload failed; the running routes stay in force"
            ),
        }
    }
}

/// The inspection sections (`[waf]`, `[dlp]`; SIGHUP does not reload them) that differ between the configuration the server
/// started with and `now`: an operator who tightens `[dlp]` and sends SIGHUP is told it
/// did not take effect, not only that the routes were reloaded.
pub(crate) fn not_reloaded(started: &Config, now: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if started.waf != now.waf {
        changed.push("waf");
    }
    if started.dlp != now.dlp {
        changed.push("dlp");
    }
    changed
}

/// One reload: the new gateway is in force when this returns `Ok` (the route names, and
/// the configuration read).
pub(crate) async fn reload(
    source: &ConfigSource,
    live: &LiveGateway,
    metrics: &Metrics,
    svc: &Arc<Services>,
) -> Result<(Vec<String>, Config), String> {
    let config = source()?;
    let old = live.load_full();
    // A file without routes (empty, or half written by a deploy) would take every route
    // away at once (black-box pass 11, B11-13): a server is started without routes, not
    // reloaded to none.
    if config.routes.is_empty() && !old.route_names().is_empty() {
        return Err(NO_ROUTES.to_owned());
    }
    let mut gateway = crate::app::build_gateway(&config, metrics)?;
    gateway.adopt(&old);
    let names = gateway.route_names();
    // Recorded before the swap: a reload the audit log cannot hold does not happen.
    svc.audit_system_event(
        "system",
        "gateway.routes_reloaded",
        serde_json::json!({ "routes": names }),
    )
    .await
    .map_err(|e| format!("audit log: {e}"))?;
    live.store(Arc::new(gateway));
    metrics.keep_routes(&names);
    let svc = svc.clone();
    tokio::spawn(async move {
        tokio::time::sleep(STRAGGLERS).await;
        old.flush_usage(svc.store().as_ref(), svc.now()).await;
    });
    Ok((names, config))
}

/// Why a reload to a file without routes is refused.
const NO_ROUTES: &str = "the file has no routes: a reload does not take every route away (restart the server to run without routes)";

/// `portcullis routes check`: whether `config` would reload (its routes compile, and there
/// are some) and start (its request inspection and DLP compile too, as `serve` needs), with
/// a line per route.
pub fn check(config: &Config) -> Result<Vec<String>, String> {
    if config.routes.is_empty() {
        return Err(NO_ROUTES.to_owned());
    }
    crate::app::build_gateway(config, &Metrics::new())?;
    crate::app::inspection(config).map_err(|e| e.to_string())?;
    Ok(config
        .routes
        .iter()
        .map(|r| {
            let host = r
                .host
                .as_deref()
                .map(|h| format!("{h} "))
                .unwrap_or_default();
            format!(
                "{}: {host}{} -> {}",
                r.name,
                r.prefix,
                r.upstreams.join(", ")
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_inspection_sections_are_named() {
        let started = Config::default();
        let mut now = Config::default();
        assert!(not_reloaded(&started, &now).is_empty());
        now.dlp.mode = portcullis_core::config::DlpMode::Block;
        assert_eq!(not_reloaded(&started, &now), ["dlp"]);
        now.waf.mode = portcullis_core::config::WafMode::Off;
        assert_eq!(not_reloaded(&started, &now), ["waf", "dlp"]);
    }
}
