//! Where an address is: the port the GeoIP databases are read through, and the travel
//! arithmetic of impossible-travel detection.

use std::net::IpAddr;

/// What a GeoIP lookup tells about an address (every part optional: databases are).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// City name (English).
    pub city: Option<String>,
    /// Latitude, degrees.
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    pub longitude: Option<f64>,
    /// Autonomous system number.
    pub asn: Option<u32>,
}

impl GeoInfo {
    /// Coordinates, when both are known and in range.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        match (self.latitude, self.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            _ => None,
        }
    }
}

/// Looks addresses up (MaxMind databases in the server; nothing in tests without them).
pub trait GeoLocator: Send + Sync + 'static {
    /// What is known about `ip`.
    fn locate(&self, ip: IpAddr) -> GeoInfo;
}

/// A locator that knows nothing (no database configured).
#[derive(Debug, Default)]
pub struct NoGeo;

impl GeoLocator for NoGeo {
    fn locate(&self, _ip: IpAddr) -> GeoInfo {
        GeoInfo::default()
    }
}

/// Mean Earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance between two points (haversine), km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// GeoIP locations are city-level guesses: distances under this are not travel.
pub const LOCATION_UNCERTAINTY_KM: f64 = 100.0;

/// The speed (km/h) needed to go from `from` at `t0` to `to` at `t1`, when the distance is
/// beyond the databases' uncertainty; `None` when it is not (same area). Less than a minute
/// apart counts as a minute, so two near-simultaneous sign-ins far apart give a huge speed
/// rather than a division by zero.
pub fn travel_speed_kmh(from: (f64, f64), t0: i64, to: (f64, f64), t1: i64) -> Option<f64> {
    let km = distance_km(from, to);
    if km <= LOCATION_UNCERTAINTY_KM {
        return None;
    }
    let hours = (t1.saturating_sub(t0).max(60)) as f64 / 3600.0;
    Some(km / hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const LONDON: (f64, f64) = (51.5074, -0.1278);
    const SYDNEY: (f64, f64) = (-33.8688, 151.2093);

    #[test]
    fn haversine_matches_known_distances() {
        // Paris-London is about 344 km; Paris-Sydney about 16,960 km.
        let pl = distance_km(PARIS, LONDON);
        assert!((pl - 343.6).abs() < 2.0, "{pl}");
        let ps = distance_km(PARIS, SYDNEY);
        assert!((ps - 16_960.0).abs() < 30.0, "{ps}");
        assert!(distance_km(PARIS, PARIS).abs() < 1e-9);
        // Antipodes do not overflow the arcsine.
        let anti = distance_km((0.0, 0.0), (0.0, 180.0));
        assert!((anti - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn travel_speed() {
        // Paris to Sydney in one hour: impossible; in a day: an airliner.
        let one_hour = travel_speed_kmh(PARIS, 0, SYDNEY, 3600).unwrap_or(0.0);
        assert!(one_hour > 16_000.0);
        let one_day = travel_speed_kmh(PARIS, 0, SYDNEY, 86_400).unwrap_or(0.0);
        assert!(one_day < 1000.0);
        // Same city: no travel at all.
        assert_eq!(travel_speed_kmh(PARIS, 0, (48.86, 2.35), 1), None);
        // Simultaneous: treated as a minute apart.
        let now = travel_speed_kmh(PARIS, 5, LONDON, 5).unwrap_or(0.0);
        assert!((now - 343.6 * 60.0).abs() < 200.0);
    }

    #[test]
    fn coordinates_need_both_parts_in_range() {
        let mut g = GeoInfo {
            latitude: Some(10.0),
            ..GeoInfo::default()
        };
        assert_eq!(g.coordinates(), None);
        g.longitude = Some(200.0);
        assert_eq!(g.coordinates(), None);
        g.longitude = Some(20.0);
        assert_eq!(g.coordinates(), Some((10.0, 20.0)));
    }
}
