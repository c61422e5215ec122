//! The risk engine's inputs from outside: MaxMind-format GeoIP databases (City and ASN),
//! and deny lists (netset files) re-read when they change.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maxminddb::{Reader, geoip2};
use portcullis_core::config::DetectionConfig;
use portcullis_core::detect::geo::{GeoInfo, GeoLocator};
use portcullis_core::detect::ipset::IpSet;
use portcullis_core::service::Services;
use tokio::sync::watch;

/// GeoIP lookups in MaxMind DB files (GeoLite2 / GeoIP2 City and ASN, or any database with
/// their layout), read into memory at start.
pub struct MaxMind {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl MaxMind {
    /// Opens the databases the configuration names; an error names the file.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, String> {
        let open = |p: &Path| {
            Reader::open_readfile(p).map_err(|e| format!("{}: not a MaxMind DB: {e}", p.display()))
        };
        Ok(Self {
            city: city.map(open).transpose()?,
            asn: asn.map(open).transpose()?,
        })
    }
}

impl GeoLocator for MaxMind {
    fn locate(&self, ip: IpAddr) -> GeoInfo {
        let mut g = GeoInfo::default();
        if let Some(r) = &self.city
            && let Ok(found) = r.lookup(ip)
            && let Ok(Some(c)) = found.decode::<geoip2::City>()
        {
            g.country = c.country.iso_code.map(str::to_owned);
            g.city = c.city.names.english.map(str::to_owned);
            g.latitude = c.location.latitude;
            g.longitude = c.location.longitude;
        }
        if let Some(r) = &self.asn
            && let Ok(found) = r.lookup(ip)
            && let Ok(Some(a)) = found.decode::<geoip2::Asn>()
        {
            g.asn = a.autonomous_system_number;
        }
        g
    }
}

/// The locator the configuration asks for (none: nothing is known about addresses).
pub fn locator(cfg: &DetectionConfig) -> Result<Arc<dyn GeoLocator>, String> {
    if cfg.geoip_city_db.is_none() && cfg.geoip_asn_db.is_none() {
        return Ok(Arc::new(portcullis_core::detect::geo::NoGeo));
    }
    Ok(Arc::new(MaxMind::open(
        cfg.geoip_city_db.as_deref(),
        cfg.geoip_asn_db.as_deref(),
    )?))
}

/// Reads every deny list into one set; an error names the file and line.
pub fn load_deny_lists(paths: &[PathBuf]) -> Result<IpSet, String> {
    let mut nets = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("detection.deny_lists: {}: {e}", p.display()))?;
        let set = IpSet::parse_netset(&text)
            .map_err(|e| format!("detection.deny_lists: {}: {e}", p.display()))?;
        nets.push(set);
    }
    Ok(IpSet::union(nets))
}

fn stamp(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Re-reads the deny lists whenever one of the files changes (checked every
/// `deny_list_reload_seconds`). A file that no longer parses keeps the previous list in
/// force, with a warning: a typo never opens the door.
pub async fn watch_deny_lists(
    svc: Arc<Services>,
    paths: Vec<PathBuf>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = stamp(&paths);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = stamp(&paths);
        if now == seen {
            continue;
        }
        match load_deny_lists(&paths) {
            Ok(set) => {
                tracing::info!(ranges = set.len(), "deny lists reloaded");
                svc.set_deny_list(set);
                seen = now;
            }
            Err(e) => {
                tracing::warn!(error = %e, "deny list not reloaded; the previous one stays in force")
            }
        }
    }
}
