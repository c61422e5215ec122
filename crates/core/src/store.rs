//! The storage port. Backends (SQLite, PostgreSQL) live in `portcullis-store`; domain code
//! sees only these traits. Every change runs in a [`Tx`] that also appends its audit event, so
//! a change and its record commit or roll back together.

use async_trait::async_trait;

use crate::alerting::{AlertDelivery, AlertRecord};
use crate::audit::{AuditRecord, NewAuditEvent};
use crate::clock::UnixTime;
use crate::email::Email;
use crate::model::{
    ApiKeyRecord, Ban, CheckpointRecord, LoginEvent, MfaChallenge, MfaState, PasskeyRecord,
    PasswordHash, RefreshToken, Session, SigningKeyRecord, SinkState, ThrottleState, User,
    WebauthnCeremony,
};

/// Key-encryption keys and data keys, for `keys status` and the rotation progress.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KekStatus {
    /// The newest KEK version (0: none yet).
    pub current: u32,
    /// Every version: (version, created_at, retired_at).
    pub versions: Vec<(u32, UnixTime, Option<UnixTime>)>,
    /// Live data keys.
    pub deks: u64,
    /// Live data keys wrapped by the newest KEK.
    pub deks_current: u64,
    /// Data keys destroyed (erased subjects).
    pub deks_destroyed: u64,
}

impl KekStatus {
    /// A rotation is under way: data keys not yet under the newest KEK, or an older KEK
    /// not yet retired.
    pub fn rotation_pending(&self) -> bool {
        self.deks_current < self.deks
            || self
                .versions
                .iter()
                .any(|(v, _, retired)| *v < self.current && retired.is_none())
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique constraint was violated; names what was duplicated.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or refused the operation.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode (corruption or tampering).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Result of storage operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Reads outside a transaction, and the entry point to transactions.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a write transaction. Dropping it without [`Tx::commit`] rolls back.
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// A short backend name for logs and health (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// A user by id.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by normalised email.
    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>>;
    /// Users ordered by id, after the cursor.
    async fn list_users(&self, after_id: Option<&str>, limit: u32) -> StoreResult<Vec<User>>;
    /// A session by id.
    async fn session(&self, id: &str) -> StoreResult<Option<Session>>;
    /// The user's sessions that are neither revoked nor expired, oldest first.
    async fn active_sessions(&self, user_id: &str, now: UnixTime) -> StoreResult<Vec<Session>>;
    /// Ids and times of sessions (and elevations) revoked at or after `since`.
    async fn revoked_sessions_since(&self, since: UnixTime)
    -> StoreResult<Vec<(String, UnixTime)>>;
    /// All access-token signing keys.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Throttle states for the given keys (missing keys are omitted).
    async fn throttle_states(&self, keys: &[String]) -> StoreResult<Vec<ThrottleState>>;
    /// Sequences queued audit events (at most `max`, oldest first): gives each its sequence
    /// number, chain hash and commitment, appends them to the log and moves the head, in
    /// one transaction. Returns how many; 0 when the queue was empty.
    async fn sequence_audit(&self, max: u32) -> StoreResult<u64>;
    /// Woken (one permit) each time a transaction that queued audit events commits, so the
    /// sequencer need not poll the queue.
    fn audit_queued(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// The recorded head of the audit chain (last sequence number and hash), after
    /// sequencing every event committed so far.
    async fn audit_head(&self) -> StoreResult<(i64, String)>;
    /// Audit events with `seq > after_seq`, ascending, at most `limit`, after sequencing
    /// every event committed so far.
    async fn audit_page(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Up to `limit` audit events whose actor or target is `subject`, in sequence order.
    async fn audit_about(&self, subject: &str, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Leaves in the stored Merkle tree of the audit log.
    async fn audit_tree_size(&self) -> StoreResult<u64>;
    /// Stored tree nodes `(level, idx, hex hash)` among `keys`; missing ones are omitted.
    async fn audit_tree_nodes(&self, keys: &[(u32, u64)]) -> StoreResult<Vec<(u32, u64, String)>>;
    /// The nodes of one level with `idx >= from`, ascending, at most `limit`.
    async fn audit_tree_level(
        &self,
        level: u32,
        from: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, String)>>;
    /// Appends tree nodes; nodes already stored are left alone (every node of a cluster
    /// computes the same ones).
    async fn append_audit_tree(&self, nodes: &[(u32, u64, String)]) -> StoreResult<()>;
    /// Stores a checkpoint; false when one of that size exists already.
    async fn insert_checkpoint(&self, cp: &CheckpointRecord) -> StoreResult<bool>;
    /// Requests counted so far for an API key on a route in a quota period (0 if none).
    async fn api_key_usage(&self, key_id: &str, route: &str, period: &str) -> StoreResult<u64>;
    /// Adds counts `(key_id, route, period, delta)` in one transaction; returns each new
    /// total, in order.
    async fn add_api_key_usage(
        &self,
        rows: &[(String, String, String, u64)],
    ) -> StoreResult<Vec<u64>>;
    /// Checkpoints with `tree_size > after`, ascending, at most `limit`.
    async fn checkpoints(&self, after: u64, limit: u32) -> StoreResult<Vec<CheckpointRecord>>;
    /// The largest checkpoint.
    async fn latest_checkpoint(&self) -> StoreResult<Option<CheckpointRecord>>;
    /// Takes (or renews) the delivery lease of sink `name` for `owner` until `now + ttl`;
    /// returns the sink's cursor, or `None` while another node holds the lease.
    async fn sink_lease(
        &self,
        name: &str,
        owner: &str,
        now: UnixTime,
        ttl: i64,
    ) -> StoreResult<Option<i64>>;
    /// Moves the cursor of sink `name` to `seq` after `delivered` more entries, if `owner`
    /// still holds the lease; false when it lost it.
    async fn advance_sink(
        &self,
        name: &str,
        owner: &str,
        seq: i64,
        delivered: i64,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Gives up the lease of sink `name` (graceful stop), so another node takes over at once.
    async fn release_sink(&self, name: &str, owner: &str) -> StoreResult<()>;
    /// Counts a failed delivery attempt.
    async fn sink_failed(&self, name: &str) -> StoreResult<()>;
    /// Records entry `seq` as given up on by sink `name`.
    async fn dead_letter(
        &self,
        name: &str,
        seq: i64,
        error: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Delivery state of every sink.
    async fn sink_states(&self) -> StoreResult<Vec<SinkState>>;
    /// An API key by its public prefix.
    async fn api_key_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// An API key by id.
    async fn api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// The keys of one owner, oldest first.
    async fn api_keys_of(&self, owner_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    /// All keys ordered by id, after the cursor.
    async fn list_api_keys(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Records a use of the key.
    async fn touch_api_key(&self, id: &str, now: UnixTime, ip: Option<&str>) -> StoreResult<()>;
    /// Records a signature nonce of `key_id` until `expires_at`; false when it was seen
    /// before (and has not expired): a replay.
    async fn use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// The service account (user id) and scopes a SPIFFE ID authenticates.
    async fn service_identity(&self, spiffe_id: &str)
    -> StoreResult<Option<(String, Vec<String>)>>;
    /// The internal CA: certificate PEM and sealed private key.
    async fn internal_ca(&self) -> StoreResult<Option<(String, Vec<u8>)>>;
    /// Installs the keys that seal and open personal fields (after the master key is
    /// known); until then, reading or writing an encrypted field fails closed.
    fn install_field_keys(&self, keys: std::sync::Arc<crate::crypto::envelope::FieldKeys>);
    /// Key-encryption keys and where the data keys stand.
    async fn kek_status(&self) -> StoreResult<KekStatus>;
    /// Re-wraps up to `batch` data keys that are not under the newest KEK; how many.
    async fn rewrap_deks(&self, batch: u32) -> StoreResult<u64>;
    /// Encrypts up to `batch` users still stored in plaintext (from before envelope
    /// encryption); how many.
    async fn encrypt_legacy_users(&self, batch: u32) -> StoreResult<u64>;
    /// A value kept about the master key (`shamir`: the split record, JSON).
    async fn key_meta(&self, name: &str) -> StoreResult<Option<String>>;
    /// Bans in force at `now`.
    async fn active_bans(&self, now: UnixTime) -> StoreResult<Vec<Ban>>;
    /// Bans ordered by id (newest last), after the cursor; lifted and expired ones too when
    /// `all`.
    async fn list_bans(
        &self,
        all: bool,
        now: UnixTime,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Ban>>;
    /// The user's sign-in attempts, newest first; only successful ones when `successes`.
    async fn login_events_of(
        &self,
        user_id: &str,
        successes: bool,
        limit: u32,
    ) -> StoreResult<Vec<LoginEvent>>;
    /// Failed sign-ins since `since`, service-wide.
    async fn login_failures_since(&self, since: UnixTime) -> StoreResult<u64>;
    /// Distinct accounts with failed sign-ins since `since` from address `ip` (or, with
    /// `net`, from its /24 or /64).
    async fn failed_accounts_from(&self, ip: &str, net: bool, since: UnixTime) -> StoreResult<u64>;
    /// Which of `devices` (ids or fingerprints) the user has completed a sign-in from.
    async fn known_devices(&self, user_id: &str, devices: &[String]) -> StoreResult<Vec<String>>;
    /// The pending risk flag of a user (`mfa`), if any.
    async fn risk_flag(&self, user_id: &str) -> StoreResult<Option<String>>;
    /// Deletes sessions (and their refresh tokens) that ended before `before`, and throttle
    /// entries that no longer block or count. Returns the number of sessions removed.
    async fn purge_expired(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64>;
    /// Waits for cross-node session revocations, where the backend can push them
    /// (PostgreSQL LISTEN/NOTIFY). Returns `None` when the backend cannot.
    async fn revocation_feed(&self) -> StoreResult<Option<Box<dyn RevocationFeed>>>;
    /// Alerts, newest first, older than the alert `before_id` when given; at most `limit`.
    async fn alerts(&self, before_id: Option<&str>, limit: u32) -> StoreResult<Vec<AlertRecord>>;
    /// An alert by id.
    async fn alert(&self, id: &str) -> StoreResult<Option<AlertRecord>>;
    /// The open alert of `rule` for `group_key` whose latest event is at or after `since`
    /// (the dedup window), the newest if several.
    async fn open_alert(
        &self,
        rule: &str,
        group_key: &str,
        since: UnixTime,
    ) -> StoreResult<Option<AlertRecord>>;
    /// Counts one more event on an open alert (dedup): nothing is sent again.
    async fn bump_alert(&self, id: &str, last_at: UnixTime) -> StoreResult<()>;
    /// Records the playbook's results on an alert and queues its delivery to `sinks`, in
    /// one transaction.
    async fn complete_alert(
        &self,
        id: &str,
        actions: &str,
        sinks: &[String],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// The deliveries of one alert, by sink name.
    async fn alert_deliveries(&self, alert_id: &str) -> StoreResult<Vec<AlertDelivery>>;
    /// Deliveries of `sink` still to be made, oldest first, at most `limit`.
    async fn pending_alert_deliveries(
        &self,
        sink: &str,
        limit: u32,
    ) -> StoreResult<Vec<AlertDelivery>>;
    /// Records an attempt: the new status (`pending`, `delivered`, `failed`,
    /// `rate_limited`), attempts so far and the last error.
    async fn update_alert_delivery(
        &self,
        alert_id: &str,
        sink: &str,
        status: &str,
        attempts: i64,
        error: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Alerts `sink` delivered at or after `since` (its rate limit).
    async fn alerts_delivered_since(&self, sink: &str, since: UnixTime) -> StoreResult<u64>;
    /// Elevation requests, held operations and the break-glass credential.
    fn approvals(&self) -> &dyn crate::approvals::ApprovalReads;
    /// Reads of OAuth clients.
    fn clients(&self) -> &dyn crate::oauth::clients::ClientReads;
}

/// A push channel of revoked session ids.
#[async_trait]
pub trait RevocationFeed: Send {
    /// The next revoked session id; an error means the feed broke and must be re-opened
    /// (meanwhile, revocations may have been missed: fail closed and resynchronise).
    async fn next(&mut self) -> StoreResult<String>;
}

/// One write transaction.
///
/// Lock order, to keep PostgreSQL free of deadlocks: user rows first, then session rows.
/// Audit events are queued (an insert, no lock), so they may be appended anywhere.
#[async_trait]
pub trait Tx: Send {
    /// Inserts a user; `Conflict("email")` when the email is taken.
    async fn insert_user(&mut self, user: &User) -> StoreResult<()>;
    /// A user by id, read inside the transaction.
    async fn user_by_id(&mut self, id: &str) -> StoreResult<Option<User>>;
    /// A user by id, locked until commit (PostgreSQL `FOR UPDATE`), so that a concurrent lock
    /// or change of the user is either seen here or sees this transaction's effects.
    async fn lock_user(&mut self, id: &str) -> StoreResult<Option<User>>;
    /// Replaces a user's password hash.
    async fn set_password_hash(
        &mut self,
        user_id: &str,
        hash: &PasswordHash,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Locks or unlocks; returns false when the user does not exist.
    async fn set_locked(&mut self, user_id: &str, locked: bool, now: UnixTime)
    -> StoreResult<bool>;
    /// Inserts a session.
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    /// A session by id, read inside the transaction.
    async fn session(&mut self, id: &str) -> StoreResult<Option<Session>>;
    /// The user's live sessions, oldest first.
    async fn active_sessions(&mut self, user_id: &str, now: UnixTime) -> StoreResult<Vec<Session>>;
    /// Records activity and extends expiry.
    async fn touch_session(
        &mut self,
        id: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// Revokes a live session; false if it was already revoked or does not exist.
    /// Backends that can push revocations to other nodes do so on commit.
    async fn revoke_session(&mut self, id: &str, reason: &str, now: UnixTime) -> StoreResult<bool>;
    /// Inserts a refresh token.
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> StoreResult<()>;
    /// Finds a refresh token by its hash.
    async fn refresh_token_by_hash(
        &mut self,
        token_hash: &str,
    ) -> StoreResult<Option<RefreshToken>>;
    /// Marks a token rotated, only if it was not already: false means someone else won.
    async fn mark_rotated(&mut self, token_id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Stores a signing key.
    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Atomically counts one more failure for `key` (restarting the count when the previous
    /// failure is `window` seconds old or more) and returns the new state. Concurrent failures
    /// all count: the row is locked until commit.
    async fn bump_throttle(
        &mut self,
        key: &str,
        now: UnixTime,
        window: i64,
    ) -> StoreResult<ThrottleState>;
    /// Sets the time before which `key` may not try again.
    async fn set_throttle_block(&mut self, key: &str, blocked_until: UnixTime) -> StoreResult<()>;
    /// Forgets a throttle key.
    async fn clear_throttle(&mut self, key: &str) -> StoreResult<()>;
    /// The user's TOTP state, locked until commit.
    async fn mfa_state(&mut self, user_id: &str) -> StoreResult<MfaState>;
    /// Stores (or clears) a TOTP secret awaiting confirmation.
    async fn set_totp_pending(
        &mut self,
        user_id: &str,
        sealed: Option<&[u8]>,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Makes the pending secret the user's second factor (`mfa_enabled`), with `step` used.
    async fn enable_totp(&mut self, user_id: &str, step: i64, now: UnixTime) -> StoreResult<bool>;
    /// Removes the TOTP secret (confirmed and pending). Call [`Tx::sync_mfa_enabled`] after.
    async fn disable_totp(&mut self, user_id: &str, now: UnixTime) -> StoreResult<()>;
    /// Recomputes `mfa_enabled` from the factors the user has (TOTP, passkeys); when none is
    /// left, the recovery codes go too. Returns the new `mfa_enabled`.
    async fn sync_mfa_enabled(&mut self, user_id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Registers a passkey; `Conflict("credential")` when its credential id is registered.
    async fn insert_passkey(&mut self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&mut self, user_id: &str) -> StoreResult<Vec<PasskeyRecord>>;
    /// A passkey by credential id (base64url), locked until commit.
    async fn passkey_by_credential(
        &mut self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRecord>>;
    /// Stores the credential after an assertion (counter, backup state) and its use time.
    async fn update_passkey(
        &mut self,
        id: &str,
        credential: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Deletes one of the user's passkeys; false when the user has no such passkey.
    async fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Deletes all of the user's passkeys; returns how many.
    async fn delete_passkeys(&mut self, user_id: &str) -> StoreResult<u64>;
    /// Stores the state of a started ceremony.
    async fn insert_ceremony(&mut self, c: &WebauthnCeremony) -> StoreResult<()>;
    /// Removes a ceremony and returns it, so that it is used at most once.
    async fn take_ceremony(&mut self, id: &str) -> StoreResult<Option<WebauthnCeremony>>;
    /// Records `step` as used, only if it is later than the last used one: false is a replay.
    async fn advance_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        hashes: &[String],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Uses a recovery code, only if it exists and is unused.
    async fn use_recovery_code(
        &mut self,
        user_id: &str,
        hash: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Stores a login challenge.
    async fn insert_mfa_challenge(&mut self, c: &MfaChallenge) -> StoreResult<()>;
    /// A login challenge by token hash, locked until commit.
    async fn mfa_challenge(&mut self, token_hash: &str) -> StoreResult<Option<MfaChallenge>>;
    /// Counts a wrong code against a challenge.
    async fn bump_mfa_attempts(&mut self, token_hash: &str) -> StoreResult<()>;
    /// Marks a challenge used, only if it was not: false means it was already spent.
    async fn use_mfa_challenge(&mut self, token_hash: &str, now: UnixTime) -> StoreResult<bool>;
    /// Records a fresh factor on a session (step-up, enrolment).
    async fn set_session_auth(
        &mut self,
        session_id: &str,
        amr: &[String],
        auth_time: UnixTime,
    ) -> StoreResult<()>;
    /// Stores a new API key; `Conflict("prefix")` in the (astronomically unlikely) case of a
    /// prefix collision.
    async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// An API key by id, locked until commit.
    async fn lock_api_key(&mut self, id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Revokes a key; false when it was already revoked or does not exist.
    async fn revoke_api_key(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// GDPR erasure of a user's personal data: the email becomes `pseudonym`, the display
    /// name, password and second factors go, API keys are revoked and stripped of their
    /// labels and addresses, sessions keep no address or user agent; the account is locked.
    /// False when there is no such user. (Sessions are revoked by the caller, first.)
    async fn erase_user(
        &mut self,
        user_id: &str,
        pseudonym: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Makes a key stop at `expires_at` at the latest (the end of a rotation overlap).
    async fn limit_api_key(&mut self, id: &str, expires_at: UnixTime) -> StoreResult<()>;
    /// Stores a ban.
    async fn insert_ban(&mut self, ban: &Ban) -> StoreResult<()>;
    /// Lifts a ban in force; false when there is none with that id in force.
    async fn lift_ban(&mut self, id: &str, by: &str, now: UnixTime) -> StoreResult<bool>;
    /// Records a sign-in attempt.
    async fn insert_login_event(&mut self, event: &LoginEvent) -> StoreResult<()>;
    /// Records that the user completed a sign-in from `device` at `now`; true when the
    /// device was new to the user.
    async fn remember_device(
        &mut self,
        user_id: &str,
        device: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Sets (or replaces) the user's risk flag.
    async fn set_risk_flag(
        &mut self,
        user_id: &str,
        flag: &str,
        source: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Clears the user's risk flag; false when there was none.
    async fn clear_risk_flag(&mut self, user_id: &str) -> StoreResult<bool>;
    /// Maps a SPIFFE ID to a service account; `Conflict("spiffe_id")` when mapped already.
    async fn insert_service_identity(
        &mut self,
        spiffe_id: &str,
        user_id: &str,
        scopes: &[String],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Adds a key-encryption key, newer than every other; its version.
    async fn add_kek(&mut self, now: UnixTime) -> StoreResult<u32>;
    /// Creates KEK version 1 when there is none.
    async fn ensure_kek(&mut self, now: UnixTime) -> StoreResult<()>;
    /// Retires (forgets the sealed key of) every older KEK that no data key uses any more;
    /// the versions retired.
    async fn retire_keks(&mut self, now: UnixTime) -> StoreResult<Vec<u32>>;
    /// Stores a value about the master key; `Conflict("key_meta")` when `name` has one.
    async fn insert_key_meta(&mut self, name: &str, value: &str, now: UnixTime) -> StoreResult<()>;
    /// Stores the internal CA; `Conflict("internal_ca")` when there is one.
    async fn insert_internal_ca(
        &mut self,
        cert_pem: &str,
        sealed_key: &[u8],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Erases the personal fields of every version 2 audit entry that names `subject` (as
    /// actor, target or inside the details); returns how many. Their commitments keep the
    /// chain and the tree verifiable.
    async fn redact_audit_subject(&mut self, subject: &str, now: UnixTime) -> StoreResult<u64>;
    /// Stores a new alert (without deliveries: see [`Store::complete_alert`]).
    async fn insert_alert(&mut self, alert: &AlertRecord) -> StoreResult<()>;
    /// Resolves an open alert; false when there is no such open alert.
    async fn resolve_alert(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// GDPR erasure: alerts grouped by `subject` or whose details name it lose their group
    /// and details (the triggering event, with its address); returns how many.
    async fn redact_alerts_subject(&mut self, subject: &str) -> StoreResult<u64>;
    /// Queues an audit event inside this transaction: it commits or rolls back with the
    /// change it records, and the sequencer ([`Store::sequence_audit`]) chains it.
    async fn append_audit(&mut self, event: &NewAuditEvent) -> StoreResult<()>;
    /// Elevation requests, held operations and the break-glass credential.
    fn approvals(&mut self) -> &mut dyn crate::approvals::ApprovalWrites;
    /// Changes to OAuth clients.
    fn clients(&mut self) -> &mut dyn crate::oauth::clients::ClientWrites;
    /// Account recovery and administration (codes by mail, role, profile).
    fn accounts(&mut self) -> &mut dyn crate::accounts::AccountWrites;
    /// Commits.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
