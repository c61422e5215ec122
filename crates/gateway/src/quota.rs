//! API-key quotas per day and month, counted per node and flushed to the store.

use super::*;

/// Where one quota of a request stands.
#[derive(Debug, Clone)]
pub(super) struct QuotaState {
    /// `daily` or `monthly`.
    pub(super) name: &'static str,
    pub(super) limit: u64,
    pub(super) remaining: u64,
    /// Seconds until the period ends.
    pub(super) reset: u64,
    /// Length of the period, seconds.
    pub(super) window: u64,
}

/// Why a quota refused.
pub(super) enum QuotaError {
    Exhausted(QuotaState),
    Store(Error),
}

/// The current UTC day and month as stored period names, with the seconds left in each and
/// their lengths.
pub(super) fn quota_periods(now: i64) -> Option<[(&'static str, String, u64, u64); 2]> {
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
pub(super) struct UsageCell {
    pub(super) base: u64,
    pub(super) local: u64,
    pub(super) refreshed: Instant,
}

/// How stale a node's view of the stored quota usage may get: the flush refreshes busy
/// keys this often, and a key idle longer is read again before its next request.
pub(super) const USAGE_FRESHNESS: Duration = Duration::from_secs(1);

impl Gateway {
    /// Counts a request against the quotas of `key_id` on `route`: every configured period
    /// must have room, then each is charged. Usage is read from the store the first time a
    /// node sees a key in a period, and added back by [`Gateway::flush_usage`].
    pub(super) async fn charge_quota(
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
            let fresh = route
                .usage
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&cell_key)
                .is_some_and(|c| c.local > 0 || c.refreshed.elapsed() < USAGE_FRESHNESS);
            if !fresh {
                let stored = state
                    .svc
                    .store()
                    .api_key_usage(key_id, &route.cfg.name, period)
                    .await
                    .map_err(|e| QuotaError::Store(e.into()))?;
                let mut usage = route
                    .usage
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        let mut usage = route
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
    pub async fn flush_usage(&self, store: &dyn portcullis_core::store::Store, now: i64) {
        let current: Vec<String> = quota_periods(now)
            .map(|p| p.into_iter().map(|(_, period, ..)| period).collect())
            .unwrap_or_default();
        for route in &self.routes {
            let pending: Vec<((String, String), u64)> = {
                let mut usage = route
                    .usage
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
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
                    let mut usage = route
                        .usage
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
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
