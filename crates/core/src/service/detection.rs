//! The risk engine at work: what it keeps in memory (deny lists, bans, attack level, rate
//! baselines, its keys), the proof-of-work gate in front of password checks, the scoring
//! of sign-ins after them, the sign-in history and known devices, and the users' view of
//! their own activity.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::config::DetectionConfig;
use crate::detect::altcha::{self, Challenge};
use crate::detect::device;
use crate::detect::geo::{GeoInfo, GeoLocator, NoGeo};
use crate::detect::ipset::IpSet;
use crate::detect::risk::{
    self, Assessment, Decision, LoginSignals, PastSignIn, RateAnomaly, RateBaseline, RatePolicy,
    Reason, Thresholds, Weights,
};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{LoginEvent, Role, User};
use crate::store::Tx;

/// Sign-ins of a user compared with a new one.
const HISTORY_LEN: u32 = 50;
/// Bans are re-read from the database at least this often (other nodes' bans).
const BAN_REFRESH: Duration = Duration::from_secs(2);
/// A ban list older than this cannot be trusted: fail closed.
const BAN_STALE: Duration = Duration::from_secs(30);
/// The service-wide attack level is recounted at most this often.
const ATTACK_REFRESH: Duration = Duration::from_secs(1);
/// Principals whose request rates are followed, at most (the oldest are forgotten).
const MAX_RATE_PRINCIPALS: usize = 100_000;

#[derive(Default)]
struct BanCache {
    set: IpSet,
    fetched: Option<Instant>,
    next_expiry: i64,
}

/// The risk engine's state, one per node.
pub struct Detection {
    pub(crate) cfg: DetectionConfig,
    geo: Arc<dyn GeoLocator>,
    deny: RwLock<Arc<IpSet>>,
    bans: RwLock<BanCache>,
    bans_refresh: tokio::sync::Mutex<()>,
    attack: Mutex<(Option<Instant>, u32)>,
    rates: Mutex<HashMap<String, RateBaseline>>,
    altcha_key: zeroize::Zeroizing<[u8; 32]>,
    device_key: zeroize::Zeroizing<[u8; 32]>,
}

impl Detection {
    /// The engine with `cfg`, keys derived from the master key.
    pub(crate) fn new(keyring: &super::Keyring, cfg: DetectionConfig) -> Self {
        Self {
            cfg,
            geo: Arc::new(NoGeo),
            deny: RwLock::default(),
            bans: RwLock::default(),
            bans_refresh: tokio::sync::Mutex::new(()),
            attack: Mutex::new((None, 0)),
            rates: Mutex::default(),
            altcha_key: keyring.derive("portcullis:altcha:v1"),
            device_key: keyring.derive("portcullis:device:v1"),
        }
    }
}

/// What the gate in front of the password check found.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gate {
    pub(crate) known_device: bool,
    pub(crate) known_fingerprint: bool,
    pub(crate) pow_solved: bool,
    pub(crate) attack_level: u32,
    pub(crate) password_failures: i64,
}

/// The proof-of-work levels a request faces (see [`Services::pow_level`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PowLevel {
    /// The service-wide attack level.
    pub(crate) attack: u32,
    /// From recent wrong passwords on the account.
    pub(crate) account: u32,
    /// Those wrong passwords, in the window.
    pub(crate) password_failures: i64,
    /// From the source's recent registrations.
    pub(crate) source: u32,
    /// Those registration attempts, in the window.
    pub(crate) registrations: i64,
}

impl PowLevel {
    /// The level to solve: the highest of them.
    pub(crate) fn level(&self) -> u32 {
        self.attack.max(self.account).max(self.source)
    }
}

/// A password spray found: the throttle key to block, until when, and why.
#[derive(Debug, Clone)]
pub(crate) struct Spray {
    key: String,
    source: String,
    accounts: u64,
    until: i64,
}

/// Why an address is refused before anything else is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// Banned by an administrator or a playbook.
    Banned,
    /// On a configured deny list.
    DenyList,
}

impl Blocked {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocked::Banned => "banned",
            Blocked::DenyList => "deny_list",
        }
    }
}

/// The /24 of an IPv4 address (IPv6 addresses are already counted per /64).
pub(crate) fn net_of(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(_) => None,
    }
}

impl Services {
    /// Turns the risk engine on with `cfg`, reading locations through `geo`.
    pub fn with_detection(mut self, cfg: DetectionConfig, geo: Arc<dyn GeoLocator>) -> Self {
        self.detection.cfg = cfg;
        self.detection.geo = geo;
        self
    }

    /// The detection settings.
    pub fn detection_config(&self) -> &DetectionConfig {
        &self.detection.cfg
    }

    /// Replaces the deny list (after its files changed).
    pub fn set_deny_list(&self, set: IpSet) {
        if let Ok(mut d) = self.detection.deny.write() {
            *d = Arc::new(set);
        }
    }

    /// Where `ip` is, as far as the GeoIP databases know.
    pub fn locate(&self, ip: Option<IpAddr>) -> GeoInfo {
        ip.map(|ip| self.detection.geo.locate(ip))
            .unwrap_or_default()
    }

    /// The device id in a device cookie value, when the cookie is ours.
    pub fn device_from_cookie(&self, value: &str) -> Option<String> {
        device::verify_cookie(&self.detection.device_key, value)
    }

    /// The keyed fingerprint of stable request headers.
    pub fn fingerprint(&self, headers: &[Option<&str>]) -> Option<String> {
        device::fingerprint(&self.detection.device_key, headers)
    }

    /// The header fingerprint at this address (`fpip:`, keyed): a client that keeps no
    /// cookie is still recognised where it signed in before.
    fn place_key(&self, ctx: &RequestContext) -> Option<String> {
        let (fp, ip) = (ctx.fingerprint.as_deref()?, ctx.ip?);
        let ip = ip.to_string();
        let tag = self.fingerprint(&[Some("fpip"), Some(fp), Some(&ip)])?;
        Some(format!("fpip:{}", tag.trim_start_matches("fp:")))
    }

    /// Whether `ip` is refused outright: banned, or on a deny list. Bans made on other
    /// nodes are seen within two seconds; when they cannot be re-read for longer than
    /// thirty, nothing is let through.
    pub async fn ip_blocked(&self, ip: IpAddr) -> Result<Option<Blocked>> {
        if self
            .detection
            .deny
            .read()
            .map(|d| d.contains(ip))
            .unwrap_or(false)
        {
            return Ok(Some(Blocked::DenyList));
        }
        self.fresh_bans(false).await?;
        let banned = self
            .detection
            .bans
            .read()
            .map(|b| b.set.contains(ip))
            .unwrap_or(true);
        Ok(banned.then_some(Blocked::Banned))
    }

    /// Re-reads the bans when `force`d, when the copy is older than two seconds, or when a
    /// ban in it has expired by the service clock.
    pub(crate) async fn fresh_bans(&self, force: bool) -> Result<()> {
        let now = self.now();
        let due = |b: &BanCache| {
            force
                || b.fetched.is_none_or(|t| t.elapsed() >= BAN_REFRESH)
                || (b.next_expiry > 0 && b.next_expiry <= now)
        };
        if !self.detection.bans.read().map(|b| due(&b)).unwrap_or(true) {
            return Ok(());
        }
        let _one = self.detection.bans_refresh.lock().await;
        if !force && !self.detection.bans.read().map(|b| due(&b)).unwrap_or(true) {
            return Ok(());
        }
        match self.store.active_bans(now).await {
            Ok(bans) => {
                let next_expiry = bans.iter().map(|b| b.expires_at).min().unwrap_or(0);
                let set = IpSet::new(bans.iter().map(|b| b.cidr));
                if let Ok(mut c) = self.detection.bans.write() {
                    *c = BanCache {
                        set,
                        fetched: Some(Instant::now()),
                        next_expiry,
                    };
                }
                Ok(())
            }
            Err(e) => {
                let stale = self
                    .detection
                    .bans
                    .read()
                    .map(|b| b.fetched.is_none_or(|t| t.elapsed() >= BAN_STALE))
                    .unwrap_or(true);
                if stale { Err(e.into()) } else { Ok(()) }
            }
        }
    }

    /// The service-wide attack level: failed sign-ins in the attack window against
    /// `detection.attack_failures` (recounted at most once a second).
    pub(crate) async fn attack_level(&self) -> Result<u32> {
        if let Ok(a) = self.detection.attack.lock()
            && let (Some(t), level) = *a
            && t.elapsed() < ATTACK_REFRESH
        {
            return Ok(level);
        }
        let cfg = &self.detection.cfg;
        let since = self.now() - i64::try_from(cfg.attack_window_seconds).unwrap_or(300);
        let failures = self.store.login_failures_since(since).await?;
        let level = risk::attack_level(failures, cfg.attack_failures);
        // Swapped under the lock: of concurrent recounts, one sees the rise.
        let before = match self.detection.attack.lock() {
            Ok(mut a) => std::mem::replace(&mut *a, (Some(Instant::now()), level)).1,
            Err(_) => level,
        };
        if level > before {
            let mut tx = self.store.begin().await?;
            tx.append_audit(
                &NewAuditEvent::new(self.now(), "risk.attack_level_raised", Outcome::Success)
                    .actor("system")
                    .details(json!({
                        "from": before,
                        "level": level,
                        "failures": failures,
                        "threshold": cfg.attack_failures,
                        "window_seconds": cfg.attack_window_seconds,
                    })),
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(
                level,
                failures,
                "attack level raised: sign-ins now solve a proof-of-work"
            );
        }
        Ok(level)
    }

    /// Forgets the counted attack level, so the next sign-in recounts (after a failure).
    pub(crate) fn recount_attack_level(&self) {
        if let Ok(mut a) = self.detection.attack.lock() {
            a.0 = None;
        }
    }

    /// A proof-of-work challenge at suspicion `level`.
    pub(crate) fn challenge_at(&self, level: u32) -> Challenge {
        let cfg = &self.detection.cfg;
        altcha::create(
            &self.detection.altcha_key,
            risk::pow_difficulty(cfg.pow_difficulty, level),
            self.now(),
            i64::try_from(cfg.pow_ttl_seconds).unwrap_or(300),
            self.rng.as_ref(),
        )
    }

    /// The proof-of-work level a request must solve right now, from the one function that
    /// sign-in, registration and `GET /auth/challenge` share: the service-wide attack level,
    /// raised by recent wrong passwords on the account (`password_key`, sign-in) and by the
    /// source's recent registrations (`registrations`). A challenge fetched ahead is as hard
    /// as the gate it is for.
    pub(crate) async fn pow_level(
        &self,
        ctx: &RequestContext,
        password_key: Option<&str>,
        registrations: bool,
    ) -> Result<PowLevel> {
        let now = self.now();
        let mut keys: Vec<String> = password_key.iter().map(|k| (*k).to_owned()).collect();
        let reg_key = ctx
            .ip
            .filter(|_| registrations)
            .map(crate::throttle::registration_key);
        keys.extend(reg_key.iter().cloned());
        let states = if keys.is_empty() {
            Vec::new()
        } else {
            self.store.throttle_states(&keys).await?
        };
        let count = |key: Option<&str>, window: i64| {
            states
                .iter()
                .find(|s| Some(s.key.as_str()) == key)
                .filter(|s| now - s.last_failure_at < window)
                .map_or(0, |s| s.failures)
        };
        let password_failures = count(password_key, crate::throttle::ACCOUNT.window);
        let limit = self.registration_limit();
        let registrations = count(reg_key.as_deref(), limit.window);
        Ok(PowLevel {
            attack: self.attack_level().await?,
            account: crate::throttle::account_pow_level(password_failures),
            password_failures,
            source: limit.level(registrations),
            registrations,
        })
    }

    /// A challenge for a client that wants to solve one before signing in or registering
    /// (the ALTCHA widget's challenge URL): as hard as the hardest gate it may be for, the
    /// sign-in of `email` when given (its recent failures), or a registration from here.
    pub async fn public_challenge(
        &self,
        ctx: &RequestContext,
        email: Option<&str>,
    ) -> Result<Challenge> {
        let password_key = email
            .and_then(|e| crate::email::Email::parse(e).ok())
            .map(|e| format!("pw:{}", self.throttle_keys(&e, ctx.ip).account));
        let p = self.pow_level(ctx, password_key.as_deref(), true).await?;
        Ok(self.challenge_at(p.level()))
    }

    /// Whether `payload` solves one of our challenges of at least suspicion `level`, for the
    /// first time.
    pub(crate) async fn pow_solved(&self, payload: Option<&str>, level: u32) -> Result<bool> {
        let Some(payload) = payload else {
            return Ok(false);
        };
        let min = risk::pow_difficulty(self.detection.cfg.pow_difficulty, level);
        let Ok(solved) = altcha::verify(&self.detection.altcha_key, payload, self.now(), min)
        else {
            return Ok(false);
        };
        Ok(self
            .store
            .use_nonce("altcha", &solved.id, solved.expires_at, self.now())
            .await?)
    }

    /// The thresholds of `role`.
    pub(crate) fn thresholds_for(&self, role: Role) -> Thresholds {
        let cfg = &self.detection.cfg;
        let t = cfg
            .role_thresholds
            .get(role.as_str())
            .unwrap_or(&cfg.thresholds);
        Thresholds {
            challenge: t.challenge,
            step_up: t.step_up,
            deny: t.deny,
        }
    }

    fn weights(&self) -> Weights {
        Weights {
            impossible_travel_kmh: self.detection.cfg.impossible_travel_kmh,
            ..Weights::default()
        }
    }

    /// The gate in front of the password check. Devices the account has signed in from
    /// pass; others solve a proof-of-work while the service is under attack or the account
    /// has recent password failures, harder the worse it is. Nothing here depends on
    /// whether the email names an account (beyond a device cookie only that account's
    /// sign-in could have set), so the gate tells an attacker nothing.
    pub(crate) async fn login_gate(
        &self,
        ctx: &RequestContext,
        user: Option<&User>,
        password_key: &str,
        account_key: &str,
        altcha_payload: Option<&str>,
    ) -> Result<Gate> {
        let pow = self.pow_level(ctx, Some(password_key), false).await?;
        let mut gate = Gate {
            attack_level: pow.attack,
            ..Gate::default()
        };
        if let Some(u) = user {
            let place = self.place_key(ctx);
            let candidates: Vec<String> = ctx
                .device
                .iter()
                .chain(ctx.fingerprint.iter())
                .chain(place.iter())
                .cloned()
                .collect();
            if !candidates.is_empty() {
                let known = self.store.known_devices(&u.id, &candidates).await?;
                let has = |k: &Option<String>| k.as_ref().is_some_and(|k| known.contains(k));
                // The signed cookie, or the same browser (header fingerprint) at an address
                // the account signed in from: an attacker knows neither.
                gate.known_device = has(&ctx.device) || has(&place);
                gate.known_fingerprint = has(&ctx.fingerprint);
            }
        }
        gate.password_failures = pow.password_failures;
        let account_level = pow.account;
        let level = pow.level();
        gate.pow_solved = self.pow_solved(altcha_payload, level).await?;
        if gate.known_device || level == 0 || gate.pow_solved {
            return Ok(gate);
        }
        let mut a = Assessment::default();
        if gate.attack_level > 0 {
            a.add(
                Reason::AttackInProgress,
                5u32.saturating_mul(gate.attack_level),
            );
        }
        if account_level > 0 {
            a.add(Reason::FailureVelocity, 10u32.saturating_mul(account_level));
        }
        let mut tx = self.store.begin().await?;
        // An unsolved challenge counts against its source like a wrong password: challenges
        // cost the server no hashing, but a flood of them must not cost it unbounded writes.
        if let Some(ip) = ctx.ip {
            self.bump_throttle(
                tx.as_mut(),
                &crate::throttle::ip_key(ip),
                &crate::throttle::CLIENT_IP,
            )
            .await?;
        }
        self.record_assessment(
            tx.as_mut(),
            ctx,
            user.map(|u| u.id.as_str()),
            account_key,
            &a,
            Decision::Challenge,
            "pre_auth",
            false,
        )
        .await?;
        tx.commit().await?;
        Err(Error::ChallengeRequired {
            challenge: Box::new(self.challenge_at(level)),
            why: if altcha_payload.is_some() {
                "the proof-of-work was not accepted; solve this one"
            } else {
                "unusual sign-in activity: solve the proof-of-work and sign in again"
            },
        })
    }

    /// Scores a sign-in whose password was right, from everything known about the user.
    pub(crate) async fn assess_sign_in(
        &self,
        ctx: &RequestContext,
        user: &User,
        gate: &Gate,
    ) -> Result<(Assessment, Decision)> {
        let geo = self.locate(ctx.ip);
        let history: Vec<PastSignIn> = self
            .store
            .login_events_of(&user.id, true, HISTORY_LEN)
            .await?
            .into_iter()
            .map(|e| PastSignIn {
                time: e.time,
                ip: e.ip,
                geo: e.geo,
            })
            .collect();
        let deny_listed = match ctx.ip {
            Some(ip) => self.ip_blocked(ip).await?.is_some(),
            None => false,
        };
        let mfa_flag = self.store.risk_flag(&user.id).await?.is_some();
        let ip = ctx.ip.map(|i| i.to_string());
        let signals = LoginSignals {
            now: self.now(),
            ip: ip.as_deref(),
            geo: &geo,
            known_device: gate.known_device,
            known_fingerprint: gate.known_fingerprint,
            history: &history,
            account_failures: gate.password_failures,
            deny_listed,
            mfa_flag,
            attack_level: gate.attack_level,
        };
        let a = risk::assess_login(&signals, &self.weights());
        let mut decision =
            self.thresholds_for(user.role)
                .decide(a.score, user.mfa_enabled, gate.pow_solved);
        if mfa_flag && decision == Decision::Allow && user.mfa_enabled {
            decision = Decision::StepUp;
        }
        Ok((a, decision))
    }

    /// Writes `risk.assessed` and the sign-in event of one decision, in `tx`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_assessment(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user_id: Option<&str>,
        account_key: &str,
        a: &Assessment,
        decision: Decision,
        stage: &str,
        new_device: bool,
    ) -> Result<()> {
        let now = self.now();
        let geo = self.locate(ctx.ip);
        let outcome = match decision {
            Decision::Allow => "success",
            Decision::StepUp => "mfa_required",
            Decision::Challenge => "challenged",
            Decision::Deny => "denied",
        };
        self.insert_login_event(tx, ctx, user_id, account_key, outcome, a, new_device, &geo)
            .await?;
        let mut ev = NewAuditEvent::new(
            now,
            "risk.assessed",
            if decision == Decision::Allow || decision == Decision::StepUp {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        )
        .client(ctx)
        .details(json!({
            "score": a.score,
            "reasons": a.reason_names(),
            "signals": a.signals_json(),
            "decision": decision.as_str(),
            "stage": stage,
            "country": geo.country,
            "asn": geo.asn,
        }));
        if let Some(id) = user_id {
            ev = ev.actor(id.to_owned()).target(id.to_owned());
        }
        tx.append_audit(&ev).await?;
        Ok(())
    }

    /// Records one sign-in attempt in the history.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_login_event(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user_id: Option<&str>,
        account_key: &str,
        outcome: &str,
        a: &Assessment,
        new_device: bool,
        geo: &GeoInfo,
    ) -> Result<()> {
        let now = self.now();
        tx.insert_login_event(&LoginEvent {
            id: new_id(now, self.rng.as_ref()),
            user_id: user_id.map(str::to_owned),
            account_key: account_key.to_owned(),
            ip: ctx.ip.map(|i| i.to_string()),
            net: ctx.ip.and_then(net_of),
            time: now,
            outcome: outcome.to_owned(),
            device: ctx.device.clone().or_else(|| ctx.fingerprint.clone()),
            new_device,
            geo: geo.clone(),
            risk: a.score,
            reasons: a.reason_names().into_iter().map(str::to_owned).collect(),
        })
        .await?;
        Ok(())
    }

    /// After a complete sign-in: remembers the device (the cookie's, or a new one) and the
    /// header fingerprint for the user; returns the device cookie value to set, and whether
    /// the device was new to the account.
    pub(crate) async fn remember_device(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<(String, bool)> {
        let now = self.now();
        let id = ctx
            .device
            .clone()
            .unwrap_or_else(|| device::new_device_id(self.rng.as_ref()));
        let new = tx.remember_device(user_id, &id, now).await?;
        for k in ctx.fingerprint.iter().chain(self.place_key(ctx).iter()) {
            tx.remember_device(user_id, k, now).await?;
        }
        Ok((device::cookie_value(&self.detection.device_key, &id), new))
    }

    /// Clears the user's pending risk flag after a sign-in with a second factor.
    async fn clear_flag_after_factor(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<()> {
        let now = self.now();
        if tx.clear_risk_flag(user_id).await? {
            tx.append_audit(
                &NewAuditEvent::new(now, "risk.flag.cleared", Outcome::Success)
                    .actor(user_id.to_owned())
                    .target(user_id.to_owned())
                    .client(ctx)
                    .details(json!({"flag": "mfa", "reason": "signed_in_with_second_factor"})),
            )
            .await?;
        }
        Ok(())
    }

    /// A sign-in completed by a second factor (TOTP, recovery code or passkey): its history
    /// entry and the device, in `tx`; the cookie value to set.
    pub(crate) async fn complete_sign_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        user: &User,
    ) -> Result<String> {
        let geo = self.locate(ctx.ip);
        let account_key = self.throttle_keys(&user.email, None).account;
        self.clear_flag_after_factor(tx, ctx, &user.id).await?;
        let (cookie, new_device) = self.remember_device(tx, ctx, &user.id).await?;
        if new_device {
            self.notify_new_device(user, ctx);
        }
        self.insert_login_event(
            tx,
            ctx,
            Some(&user.id),
            &account_key,
            "success",
            &Assessment::default(),
            new_device,
            &geo,
        )
        .await?;
        Ok(cookie)
    }

    /// Whether this failed attempt completes a password spray from the client's address
    /// (many accounts failing from it, or from its /24): what to block, for how long. Reads
    /// only, before the failure's transaction opens (a transaction waiting on the pool for
    /// a second connection could starve it).
    pub(crate) async fn spray_verdict(&self, ctx: &RequestContext) -> Result<Option<Spray>> {
        let Some(ip) = ctx.ip else {
            return Ok(None);
        };
        let cfg = &self.detection.cfg;
        let now = self.now();
        let since = now - i64::try_from(cfg.spray_window_seconds).unwrap_or(600);
        let ip_s = ip.to_string();
        // This attempt's own failure is not written yet: count it.
        let from_ip = self.store.failed_accounts_from(&ip_s, false, since).await? + 1;
        let net = net_of(ip);
        let from_net = match &net {
            Some(n) => self.store.failed_accounts_from(n, true, since).await? + 1,
            None => 0,
        };
        let (key, source, accounts) = if from_ip >= cfg.spray_accounts {
            (crate::throttle::ip_key(ip), ip_s, from_ip)
        } else if let Some(n) = net.filter(|_| from_net >= cfg.spray_accounts.saturating_mul(3)) {
            (format!("net:{n}"), n, from_net)
        } else {
            return Ok(None);
        };
        let until = now + i64::try_from(cfg.spray_block_seconds).unwrap_or(900);
        let states = self
            .store
            .throttle_states(std::slice::from_ref(&key))
            .await?;
        if states.first().is_some_and(|s| s.blocked_until >= until - 5) {
            return Ok(None);
        }
        Ok(Some(Spray {
            key,
            source,
            accounts,
            until,
        }))
    }

    /// Blocks a spraying source and records why, in the failure's transaction.
    pub(crate) async fn block_spray(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
        spray: &Spray,
    ) -> Result<()> {
        let now = self.now();
        tx.bump_throttle(&spray.key, now, crate::throttle::CLIENT_IP.window)
            .await?;
        tx.set_throttle_block(&spray.key, spray.until).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "risk.spray_detected", Outcome::Success)
                .actor("system")
                .client(ctx)
                .details(json!({
                    "source": spray.source,
                    "accounts": spray.accounts,
                    "window_seconds": self.detection.cfg.spray_window_seconds,
                    "blocked_until": spray.until,
                    "reasons": ["password_spray"],
                })),
        )
        .await?;
        Ok(())
    }

    /// The caller's recent sign-in attempts, newest first.
    pub async fn activity(&self, p: &Principal, limit: u32) -> Result<Vec<LoginEvent>> {
        Ok(self
            .store
            .login_events_of(&p.user_id, false, limit.clamp(1, 200))
            .await?)
    }

    /// Counts a gateway request of `principal` against its own baseline; on a rate
    /// anomaly, writes `risk.assessed` (reason `rate_anomaly`) and returns it. Once per
    /// principal and minute at most.
    pub async fn observe_rate(
        &self,
        principal: &str,
        route: &str,
        ctx: &RequestContext,
    ) -> Result<Option<RateAnomaly>> {
        let cfg = &self.detection.cfg;
        let policy = RatePolicy {
            factor: cfg.rate_anomaly_factor,
            min_requests: cfg.rate_anomaly_min_requests,
            ..RatePolicy::default()
        };
        let now = self.now();
        let anomaly = {
            let Ok(mut rates) = self.detection.rates.lock() else {
                return Ok(None);
            };
            if rates.len() >= MAX_RATE_PRINCIPALS && !rates.contains_key(principal) {
                // Forget the quiet ones first; a flood of new principals cannot grow this.
                rates.retain(|_, b| b.recently_active(now));
                if rates.len() >= MAX_RATE_PRINCIPALS {
                    return Ok(None);
                }
            }
            rates
                .entry(principal.to_owned())
                .or_default()
                .observe(now, &policy)
        };
        let Some(an) = anomaly else {
            return Ok(None);
        };
        let mut a = Assessment::default();
        a.add(Reason::RateAnomaly, 40);
        let mut tx = self.store.begin().await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "risk.assessed", Outcome::Success)
                .actor(principal.to_owned())
                .client(ctx)
                .details(json!({
                    "score": a.score,
                    "reasons": a.reason_names(),
                    "signals": a.signals_json(),
                    "decision": "flag",
                    "stage": "gateway",
                    "route": route,
                    "requests_this_minute": an.rate,
                    "baseline_per_minute": (an.baseline * 10.0).round() / 10.0,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(an))
    }

    /// Whether `ip` may use a route with these country rules; the country when refused.
    pub fn country_refused(
        &self,
        ip: Option<IpAddr>,
        allowed: &[String],
        denied: &[String],
    ) -> Option<String> {
        if allowed.is_empty() && denied.is_empty() {
            return None;
        }
        let country = self.locate(ip).country;
        match &country {
            Some(c) if denied.contains(c) => Some(c.clone()),
            Some(c) if allowed.is_empty() || allowed.contains(c) => None,
            Some(c) => Some(c.clone()),
            None if allowed.is_empty() => None,
            None => Some("unknown".to_owned()),
        }
    }
}
