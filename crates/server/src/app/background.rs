//! The background tasks of a running server: revocation sync and health, the audit
//! sequencer and Merkle tree, key reload and rotation, revocation push, SIEM sinks and the
//! rest, each stopping when `stop` turns true.

use super::*;

/// How often the audit Merkle tree is extended and checkpoints considered.
const TLOG_INTERVAL: Duration = Duration::from_secs(1);
/// How often the audit sequencer looks for queued events without being woken (a commit on
/// this node wakes it at once; this catches what other nodes queued and nobody sequenced),
/// and how many it takes at once.
const SEQUENCE_INTERVAL: Duration = Duration::from_secs(1);
const SEQUENCE_BATCH: u32 = 2000;
/// A sync that takes longer than this counts as failed (fail closed on a hung database).
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Key rotation work (re-wrapping data keys) runs every this many sync ticks.
const REWRAP_TICKS: u32 = 4;
/// Signing keys are re-read every this many sync ticks.
const KEY_RELOAD_TICKS: u32 = 10;
/// Ended sessions are purged every this many sync ticks (10 minutes).
const PURGE_TICKS: u32 = 1200;

impl App {
    /// Starts the background tasks: revocation sync and health (polling), push of
    /// revocations where the database supports it, signing-key reload. They stop when
    /// `stop` turns true.
    /// The second list is the SIEM sinks, which finish their current delivery on stop.
    pub fn spawn_background(
        &self,
        stop: watch::Receiver<bool>,
    ) -> (Vec<JoinHandle<()>>, Vec<JoinHandle<()>>) {
        let svc = self.services.clone();
        let rotate_every_days = self.config.keys.rotate_every_days;
        let rewrap_batch = self.config.keys.rewrap_batch;
        let stop_memory = stop.clone();
        let mut stop_sync = stop.clone();
        let sync = tokio::spawn(async move {
            let mut cursor = svc.now() - svc.settings().access_ttl - 120;
            let mut ticks: u32 = 0;
            let mut interval = tokio::time::interval(SYNC_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_ok = true;
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop_sync.changed() => break,
                }
                // Overlap generously: node clocks differ and slow transactions commit late; the
                // revocation set is idempotent. A sync that hangs counts as a failure.
                let synced =
                    tokio::time::timeout(SYNC_TIMEOUT, svc.sync_revocations(cursor - 120)).await;
                let synced = synced.unwrap_or_else(|_| {
                    svc.health.set_db(false);
                    svc.health.sync_failed();
                    Err(portcullis_core::Error::Unavailable(
                        "revocation sync timed out".into(),
                    ))
                });
                match synced {
                    Ok(c) => {
                        cursor = c;
                        if !was_ok {
                            tracing::info!(
                                "database reachable again; serving authenticated requests"
                            );
                        }
                        was_ok = true;
                    }
                    Err(e) => {
                        if was_ok {
                            tracing::error!(error = %e, "database unreachable; failing closed");
                        }
                        was_ok = false;
                    }
                }
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(KEY_RELOAD_TICKS)
                    && let Err(e) = svc.keyring.reload(svc.store().as_ref()).await
                {
                    tracing::warn!(error = %e, "could not reload signing keys");
                }
                if ticks.is_multiple_of(REWRAP_TICKS) {
                    rotation_tick(&svc, rotate_every_days, rewrap_batch).await;
                }
                // Elevations and held operations that time has ended get their audit event
                // (tokens stop carrying them at their end whether or not this has run).
                if ticks.is_multiple_of(REWRAP_TICKS) {
                    match svc.sweep_approvals().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            requests = n,
                            "recorded expired elevations and approvals"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not sweep elevations and approvals")
                        }
                    }
                }
                if ticks.is_multiple_of(PURGE_TICKS) {
                    match svc.purge_expired().await {
                        Ok(n) => tracing::debug!(sessions = n, "purged ended sessions"),
                        Err(e) => tracing::warn!(error = %e, "could not purge ended sessions"),
                    }
                }
            }
        });

        // The transparency log: extend the Merkle tree over newly sequenced entries and sign
        // a checkpoint when one is due.
        let svc = self.services.clone();
        let mut witnesses = crate::witness::Witnesses::new(self.config.audit.witness_urls.clone());
        let mut stop_tlog = stop.clone();
        let tlog = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TLOG_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop_tlog.changed() => break,
                }
                match svc.tlog_tick().await {
                    Ok(Some(cp)) => {
                        tracing::debug!(tree_size = cp.tree_size, "signed an audit checkpoint");
                        witnesses.push(&svc, &cp).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not extend the audit transparency log")
                    }
                }
            }
        });

        // The audit sequencer: queued events get their place in the chain as soon as the
        // transaction that queued them commits (readers of the log also sequence before
        // they read). Woken by the commit, not polling: an idle server stays idle.
        let svc = self.services.clone();
        let mut stop_seq = stop.clone();
        let sequencer = tokio::spawn(async move {
            let queued = svc.store().audit_queued();
            let mut interval = tokio::time::interval(SEQUENCE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = queued.notified() => {}
                    _ = interval.tick() => {}
                    _ = stop_seq.changed() => break,
                }
                loop {
                    match svc.store().sequence_audit(SEQUENCE_BATCH).await {
                        Ok(n) if n == u64::from(SEQUENCE_BATCH) => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "could not sequence audit events");
                            break;
                        }
                    }
                }
            }
        });

        let svc = self.services.clone();
        let stop_sinks = stop.clone();
        let stop_health = stop.clone();
        let stop_deny = stop.clone();
        let stop_reload = stop.clone();
        let mut stop_feed = stop;
        let feed = tokio::spawn(async move {
            loop {
                let opened = tokio::select! {
                    r = svc.store().revocation_feed() => r,
                    _ = stop_feed.changed() => return,
                };
                match opened {
                    Ok(None) => return,
                    Ok(Some(mut feed)) => loop {
                        let next = tokio::select! {
                            r = feed.next() => r,
                            _ = stop_feed.changed() => return,
                        };
                        match next {
                            Ok(sid) => svc.revocations.insert(&sid, svc.now()),
                            Err(e) => {
                                tracing::warn!(error = %e, "revocation feed interrupted; polling covers the gap");
                                break;
                            }
                        }
                    },
                    Err(e) => tracing::debug!(error = %e, "revocation feed unavailable"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let health = tokio::spawn(portcullis_gateway::health_checks(
            self.gateway.clone(),
            stop_health.clone(),
        ));
        // Gateway quota counts go to the store about once a second, and once more on stop.
        let gateway = self.gateway.clone();
        let svc = self.services.clone();
        let mut stop_usage = stop_health;
        let usage = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let stopping = tokio::select! {
                    _ = interval.tick() => false,
                    _ = stop_usage.changed() => true,
                };
                gateway
                    .load_full()
                    .flush_usage(svc.store().as_ref(), svc.now())
                    .await;
                if stopping {
                    break;
                }
            }
        });
        // Alert rules, sinks and playbooks (they release their leases on stop).
        let alerts = crate::alerts::spawn(
            self.services.clone(),
            self.config.alerts.clone(),
            stop_sinks.clone(),
        );
        let sinks = crate::sinks::spawn(
            self.services.clone(),
            self.config.audit.sinks.clone(),
            self.config.audit.origin(&self.config.server.public_url),
            stop_sinks,
        );
        let mut finishing = sinks;
        finishing.push(usage);
        finishing.extend(alerts);
        let mut tasks = vec![
            sync,
            tlog,
            feed,
            health,
            sequencer,
            tokio::spawn(give_back_memory(stop_memory)),
        ];
        if let Some(source) = self.reload.clone() {
            tasks.push(tokio::spawn(crate::reload::on_hangup(
                source,
                self.gateway.clone(),
                self.metrics.clone(),
                self.services.clone(),
                stop_reload,
            )));
        }
        if !self.config.detection.deny_lists.is_empty() {
            tasks.push(tokio::spawn(crate::detection::watch_deny_lists(
                self.services.clone(),
                self.config.detection.deny_lists.clone(),
                Duration::from_secs(self.config.detection.deny_list_reload_seconds),
                stop_deny,
            )));
        }
        (tasks, finishing)
    }
}

/// Key rotation in the background: starts a scheduled KEK rotation when the newest KEK is
/// older than `keys.rotate_every_days`, and moves data keys to the newest KEK in batches
/// (every node may; each re-wrap is conditional), retiring old KEKs once unused.
async fn rotation_tick(svc: &Services, rotate_every_days: u32, rewrap_batch: u32) {
    let status = match svc.kek_status().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "could not read the key status");
            return;
        }
    };
    if rotate_every_days > 0 {
        let newest = status
            .versions
            .iter()
            .map(|v| v.1)
            .max()
            .unwrap_or(i64::MAX);
        if svc.now() - newest > i64::from(rotate_every_days) * 86_400 {
            match svc.rotate_kek("system").await {
                Ok(v) => tracing::info!(
                    kek_version = v,
                    "scheduled key-encryption-key rotation started"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "scheduled KEK rotation failed; retrying later")
                }
            }
            return;
        }
    }
    if rewrap_batch > 0 && status.rotation_pending() {
        match svc.rewrap_step(rewrap_batch).await {
            Ok(n) if n > 0 => {
                tracing::info!(rewrapped = n, "re-wrapped data keys under the newest KEK")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not re-wrap data keys; retrying later"),
        }
    }
}

/// How often freed memory is handed back to the system.
const GIVE_BACK_INTERVAL: Duration = Duration::from_secs(5);

/// Hands memory the allocator holds freed back to the system, every few seconds.
///
/// mimalloc returns freed memory (start-up's automata compilation, some 25 MiB; a password
/// hash's working memory, 19 MiB) only once its purge delay has passed *and* something asks
/// it to look: a page freed, or a thread ending. An idle server does neither, so that memory
/// stayed resident for good. A thread that allocates, frees and ends asks it to look (the
/// allocator's own collect call is not reachable without `unsafe`); under load, freed pages
/// ask it all the time and this costs nothing measurable.
async fn give_back_memory(mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(GIVE_BACK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        let _ = tokio::task::spawn_blocking(|| {
            let _ = std::thread::Builder::new()
                .name("give-back".into())
                .spawn(|| drop(std::hint::black_box(vec![1u8; 1 << 20])))
                .map(std::thread::JoinHandle::join);
        })
        .await;
    }
}
