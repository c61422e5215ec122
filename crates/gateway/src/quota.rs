//! Phase 6, quota: an API key's requests per day and month on a route (`quota`), counted
//! per node and flushed to the store, where every node adds its counts. The phase owns the
//! usage cells of every route. A spent quota answers 429 until its period ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_core::service::Principal;
use portcullis_http::error::ApiError;

use crate::GatewayState;
use crate::headers::RateHeaders;
use crate::route::Route;

/// Usage per `(API key id, period)`, per route.
type Usage = Mutex<HashMap<(String, String), UsageCell>>;

/// The quota usage every route has counted on this node, and the lineage of the API keys
/// it has seen (a key never changes its lineage).
pub(crate) struct Quotas(Vec<Usage>, Mutex<HashMap<String, String>>);

impl Quotas {
    pub(crate) fn new(routes: usize) -> Self {
        Self(
            (0..routes).map(|_| Mutex::default()).collect(),
            Mutex::default(),
        )
    }

    /// The first key of `key_id`'s lineage (the key it was rotated from, and so on): quotas
    /// count per lineage, so that rotating a key does not start a fresh quota.
    async fn lineage(&self, state: &GatewayState, key_id: &str) -> Result<String, Error> {
        let known = |roots: &HashMap<String, String>| roots.get(key_id).cloned();
        if let Some(root) = known(&self.roots()) {
            return Ok(root);
        }
        let mut root = key_id.to_owned();
        // Bounded: a lineage longer than this counts from its 64th ancestor.
        for _ in 0..64 {
            let key = state.svc.store().api_key(&root).await?;
            match key.and_then(|k| k.rotated_from) {
                Some(from) => root = from,
                None => break,
            }
        }
        let mut roots = self.roots();
        if roots.len() >= 100_000 {
            roots.clear();
        }
        roots.insert(key_id.to_owned(), root.clone());
        Ok(root)
    }

    fn roots(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes over the counts not yet stored of the routes that keep their name.
    pub(crate) fn adopt(&mut self, routes: &[Route], old: &Quotas, old_routes: &[Route]) {
        crate::route::carry_over(routes, &self.0, old_routes, &old.0);
    }

    /// The route's quota for an API key's request: charged, with what is left noted in
    /// `headers`, or refused with 429. Users' own tokens have no quota.
    pub(crate) async fn check(
        &self,
        state: &GatewayState,
        route: &Route,
        principal: Option<&Principal>,
        headers: &mut RateHeaders,
    ) -> Result<(), Response> {
        let (Some(q), Some(grant)) = (route.cfg.quota, principal.and_then(|p| p.api_key.as_ref()))
        else {
            return Ok(());
        };
        let name = |st: &QuotaState| -> std::sync::Arc<str> {
            format!("{}-{}", route.cfg.name, st.name).into()
        };
        let lineage = match self.lineage(state, &grant.id).await {
            Ok(l) => l,
            Err(e) => return Err(ApiError::from(e).into_response()),
        };
        match self.charge(state, route, &lineage, q).await {
            Ok(states) => {
                for st in states {
                    headers.policy(name(&st), st.limit, st.window);
                    headers.limit(name(&st), st.remaining, st.reset);
                }
                Ok(())
            }
            Err(QuotaError::Exhausted(st)) => {
                route.metrics.quota_exhausted.inc();
                headers.policy(name(&st), st.limit, st.window);
                headers.limit(name(&st), 0, st.reset);
                let mut res = ApiError::from(Error::RateLimited {
                    retry_after: st.reset,
                })
                .into_response();
                headers.write(res.headers_mut());
                Err(res)
            }
            Err(QuotaError::Store(e)) => Err(ApiError::from(e).into_response()),
        }
    }
}

/// Where one quota of a request stands.
#[derive(Debug, Clone)]
pub(crate) struct QuotaState {
    /// `daily` or `monthly`.
    pub(crate) name: &'static str,
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Seconds until the period ends.
    pub(crate) reset: u64,
    /// Length of the period, seconds.
    pub(crate) window: u64,
}

/// Why a quota refused.
pub(crate) enum QuotaError {
    Exhausted(QuotaState),
    Store(Error),
}

/// The current UTC day and month as stored period names, with the seconds left in each and
/// their lengths.
pub(crate) fn quota_periods(now: i64) -> Option<[(&'static str, String, u64, u64); 2]> {
    let t = time::OffsetDateTime::from_unix_timestamp(now).ok()?;
    let day = format!(
        "d:{:04}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    );
    let day_left = 86_400 - now.rem_euclid(86_400);
    let first = time::Date::from_calendar_date(t.year(), t.month(), 1).ok()?;
    let next = match t.month() {
        time::Month::December => {
            time::Date::from_calendar_date(t.year() + 1, time::Month::January, 1)
        }
        m => time::Date::from_calendar_date(t.year(), m.next(), 1),
    }
    .ok()?;
    let start = first.midnight().assume_utc().unix_timestamp();
    let end = next.midnight().assume_utc().unix_timestamp();
    let month = format!("m:{:04}-{:02}", t.year(), u8::from(t.month()));
    Some([
        ("daily", day, u64::try_from(day_left).ok()?, 86_400),
        (
            "monthly",
            month,
            u64::try_from(end - now).ok()?,
            u64::try_from(end - start).ok()?,
        ),
    ])
}

/// What one node counted of one API key's quota period: the total stored when it last
/// looked (`refreshed`), and what it admitted since (not yet added to the store).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageCell {
    pub(crate) base: u64,
    pub(crate) local: u64,
    pub(crate) refreshed: Instant,
}

/// How stale a node's view of the stored quota usage may get: the flush refreshes busy
/// keys this often, and a key idle longer is read again before its next request.
pub(crate) const USAGE_FRESHNESS: Duration = Duration::from_secs(1);

impl Quotas {
    /// The usage cells of `route`.
    fn usage(
        &self,
        route: &Route,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), UsageCell>> {
        static NONE: std::sync::LazyLock<Usage> = std::sync::LazyLock::new(Mutex::default);
        self.0
            .get(route.index)
            .unwrap_or(&NONE)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a request against the quotas of `key_id` on `route`: every configured period
    /// must have room, then each is charged. Usage is read from the store the first time a
    /// node sees a key in a period, and added back by [`Quotas::flush`].
    async fn charge(
        &self,
        state: &GatewayState,
        route: &Route,
        key_id: &str,
        q: portcullis_core::config::QuotaConfig,
    ) -> Result<Vec<QuotaState>, QuotaError> {
        let Some(periods) = quota_periods(state.svc.now()) else {
            return Err(QuotaError::Store(Error::Internal(
                "clock out of range".into(),
            )));
        };
        let wanted: Vec<(&'static str, String, u64, u64, u64)> = periods
            .into_iter()
            .filter_map(|(name, period, left, window)| {
                let limit = if name == "daily" { q.daily } else { q.monthly }?;
                Some((name, period, limit, left, window))
            })
            .collect();
        for (_, period, ..) in &wanted {
            let cell_key = (key_id.to_owned(), period.clone());
            let fresh = self
                .usage(route)
                .get(&cell_key)
                .is_some_and(|c| c.local > 0 || c.refreshed.elapsed() < USAGE_FRESHNESS);
            if !fresh {
                let stored = state
                    .svc
                    .store()
                    .api_key_usage(key_id, &route.cfg.name, period)
                    .await
                    .map_err(|e| QuotaError::Store(e.into()))?;
                let mut usage = self.usage(route);
                let cell = usage.entry(cell_key).or_insert(UsageCell {
                    base: stored,
                    local: 0,
                    refreshed: Instant::now(),
                });
                // Counted here meanwhile: the flush will bring the total.
                if cell.local == 0 {
                    cell.base = stored;
                    cell.refreshed = Instant::now();
                }
            }
        }
        let mut usage = self.usage(route);
        let mut states = Vec::with_capacity(wanted.len());
        for (name, period, limit, left, window) in &wanted {
            let used = usage
                .get(&(key_id.to_owned(), period.clone()))
                .map_or(0, |c| c.base + c.local);
            let st = QuotaState {
                name,
                limit: *limit,
                remaining: limit.saturating_sub(used + 1),
                reset: *left,
                window: *window,
            };
            if used >= *limit {
                return Err(QuotaError::Exhausted(st));
            }
            states.push(st);
        }
        for (_, period, ..) in &wanted {
            usage
                .entry((key_id.to_owned(), period.clone()))
                .or_insert(UsageCell {
                    base: 0,
                    local: 0,
                    refreshed: Instant::now(),
                })
                .local += 1;
        }
        Ok(states)
    }

    /// Adds what this node counted to the stored quota usage and learns the totals (what
    /// the other nodes counted too); forgets periods that are over.
    pub(crate) async fn flush(
        &self,
        routes: &[Route],
        store: &dyn portcullis_core::store::Store,
        now: i64,
    ) {
        let current: Vec<String> = quota_periods(now)
            .map(|p| p.into_iter().map(|(_, period, ..)| period).collect())
            .unwrap_or_default();
        for route in routes {
            let pending: Vec<((String, String), u64)> = {
                let mut usage = self.usage(route);
                usage.retain(|(_, period), c| c.local > 0 || current.contains(period));
                usage
                    .iter()
                    .filter(|(_, c)| c.local > 0)
                    .map(|(k, c)| (k.clone(), c.local))
                    .collect()
            };
            if pending.is_empty() {
                continue;
            }
            let rows: Vec<(String, String, String, u64)> = pending
                .iter()
                .map(|((key, period), n)| (key.clone(), route.cfg.name.clone(), period.clone(), *n))
                .collect();
            match store.add_api_key_usage(&rows).await {
                Ok(totals) => {
                    let mut usage = self.usage(route);
                    for ((k, n), total) in pending.into_iter().zip(totals) {
                        if let Some(c) = usage.get_mut(&k) {
                            c.local = c.local.saturating_sub(n);
                            c.base = total;
                            c.refreshed = Instant::now();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(route = %route.cfg.name, error = %e, "could not store quota usage; retrying");
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_utc_day_and_month() {
        // 2026-12-31T23:00:00Z
        let [day, month] = quota_periods(1_798_758_000).unwrap();
        assert_eq!(day.0, "daily");
        assert_eq!(day.1, "d:2026-12-31");
        assert_eq!((day.2, day.3), (3600, 86_400));
        assert_eq!(month.1, "m:2026-12");
        assert_eq!((month.2, month.3), (3600, 31 * 86_400));
        // 2028-02-10T00:00:00Z, a leap February.
        let [_, feb] = quota_periods(1_833_753_600).unwrap();
        assert_eq!(feb.1, "m:2028-02");
        assert_eq!(feb.3, 29 * 86_400);
    }
}
