//! The gate in front of self-registration: registrations are counted per source (client IP,
//! IPv6 /64) like failed sign-ins; past a few an hour each must solve a proof-of-work (the
//! same ALTCHA mechanism and the same level function as sign-in), and a source that keeps
//! going is refused with 429 until the window forgets it.

use serde_json::json;

use super::{RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::detect::risk::{Assessment, Decision, Reason};
use crate::error::{Error, Result};
use crate::store::Tx;
use crate::throttle::{REGISTRATIONS, RegistrationLimit, registration_key};

impl Services {
    /// The registration limit of the configuration.
    pub(crate) fn registration_limit(&self) -> RegistrationLimit {
        let cfg = self.detection_config();
        RegistrationLimit {
            free: cfg.registrations_free,
            max: cfg.registrations_max,
            window: REGISTRATIONS.window,
        }
    }

    /// Admits a registration attempt, or says what the client must do first. An unsolved
    /// challenge counts against its source like a registration, so a flood of them ends in
    /// a block rather than in unbounded audit writes; [`Self::count_registration`] counts
    /// the registrations that succeed. Typos (a weak password, a malformed address) cost
    /// nothing.
    pub(crate) async fn registration_gate(
        &self,
        ctx: &RequestContext,
        altcha_payload: Option<&str>,
    ) -> Result<()> {
        let key = ctx.ip.map(registration_key);
        if let Some(k) = &key {
            self.check_throttle_keys(std::slice::from_ref(k)).await?;
        }
        let pow = self.pow_level(ctx, None, true).await?;
        let level = pow.level();
        let solved = level > 0 && self.pow_solved(altcha_payload, level).await?;
        if level == 0 || solved {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        self.bump_registrations(tx.as_mut(), ctx).await?;
        let mut a = Assessment::default();
        if pow.attack > 0 {
            a.add(Reason::AttackInProgress, 5u32.saturating_mul(pow.attack));
        }
        if pow.source > 0 {
            a.add(
                Reason::RegistrationVelocity,
                10u32.saturating_mul(pow.source),
            );
        }
        tx.append_audit(
            &NewAuditEvent::new(now, "risk.assessed", Outcome::Failure)
                .client(ctx)
                .details(json!({
                    "score": a.score,
                    "reasons": a.reason_names(),
                    "signals": a.signals_json(),
                    "decision": Decision::Challenge.as_str(),
                    "stage": "register",
                    "registrations": pow.registrations,
                })),
        )
        .await?;
        tx.commit().await?;
        Err(Error::ChallengeRequired {
            challenge: Box::new(self.challenge_at(level)),
            why: if altcha_payload.is_some() {
                "the proof-of-work was not accepted; solve this one"
            } else if pow.source > 0 {
                "many registrations from this address: solve the proof-of-work and register again"
            } else {
                "the service is under attack: solve the proof-of-work and register again"
            },
        })
    }

    /// Counts one registration (or unsolved challenge) against the source of `ctx`, and
    /// blocks the source once it reaches the limit.
    pub(crate) async fn bump_registrations(
        &self,
        tx: &mut dyn Tx,
        ctx: &RequestContext,
    ) -> Result<()> {
        let Some(k) = ctx.ip.map(registration_key) else {
            return Ok(());
        };
        let now = self.now();
        let limit = self.registration_limit();
        let st = tx.bump_throttle(&k, now, limit.window).await?;
        if st.failures >= limit.max {
            tx.set_throttle_block(&k, now + limit.window).await?;
        }
        Ok(())
    }
}
