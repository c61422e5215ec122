//! What account recovery and administration store: single-use codes sent by mail (password
//! reset, invitation, address verification) and the user fields administrators change.

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::email::Email;
use crate::model::Role;
use crate::store::StoreResult;

/// What a code sent by mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Forgotten password (or one an administrator asked to reset): 15 minutes.
    Reset,
    /// An account an administrator created without a password: its first one.
    Invite,
    /// Proof of the address given at registration.
    Verify,
    /// Proof of a new address the user asked to change to.
    Change,
}

impl CodePurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Invite => "invite",
            Self::Verify => "verify",
            Self::Change => "change",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reset" => Self::Reset,
            "invite" => Self::Invite,
            "verify" => Self::Verify,
            "change" => Self::Change,
            _ => return None,
        })
    }

    /// How long a code is good for, seconds.
    pub fn lifetime(self) -> i64 {
        match self {
            Self::Reset => 15 * 60,
            Self::Invite => 7 * 24 * 3600,
            Self::Verify | Self::Change => 24 * 3600,
        }
    }
}

/// A code sent by mail, as stored: its SHA-256, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCode {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// Whose.
    pub user_id: String,
    /// What for.
    pub purpose: CodePurpose,
    /// When it was sent.
    pub created_at: UnixTime,
    /// Good until.
    pub expires_at: UnixTime,
    /// When it was used (once).
    pub used_at: Option<UnixTime>,
    /// For a change of address: the new address, sealed under the master key (AAD: the
    /// code's hash).
    pub new_email: Option<Vec<u8>>,
}

/// Changes to accounts, inside a transaction (with their audit event).
#[async_trait]
pub trait AccountWrites: Send {
    /// Stores a code.
    async fn insert_email_code(&mut self, code: &EmailCode) -> StoreResult<()>;
    /// Uses the code with this hash, once: the code when it was unused, current at `now`
    /// and for one of `purposes`; `None` otherwise (unknown, used, expired, other purpose).
    async fn use_email_code(
        &mut self,
        code_hash: &str,
        purposes: &[CodePurpose],
        now: UnixTime,
    ) -> StoreResult<Option<EmailCode>>;
    /// Ends the user's unused codes (all of them: a new password makes every reset moot);
    /// how many.
    async fn drop_email_codes(&mut self, user_id: &str, now: UnixTime) -> StoreResult<u64>;
    /// Sets a user's role; false when there is no such user.
    async fn set_role(&mut self, user_id: &str, role: Role, now: UnixTime) -> StoreResult<bool>;
    /// Sets or clears "must change the password".
    async fn set_must_change_password(
        &mut self,
        user_id: &str,
        on: bool,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Records whether the address was proved.
    async fn set_email_verified(
        &mut self,
        user_id: &str,
        verified: bool,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Replaces the email and display name (sealed again, the blind index recomputed);
    /// `Conflict("email")` when another account has the address.
    async fn set_profile(
        &mut self,
        user_id: &str,
        email: &Email,
        display_name: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// The user's verification codes: how many were ever sent, and how many are still
    /// usable at `now`. Verification codes are kept after they expire: an account that was
    /// sent one and never proved its address stays unverified.
    async fn verify_codes(&mut self, user_id: &str, now: UnixTime) -> StoreResult<(u64, u64)>;
    /// Links an upstream identity; `Conflict` when that provider's subject is linked already.
    async fn insert_identity(&mut self, identity: &LinkedIdentity) -> StoreResult<()>;
    /// The local account a provider's subject is linked to.
    async fn identity_by_subject(
        &mut self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<LinkedIdentity>>;
    /// The identities linked to a user.
    async fn identities_of(&mut self, user_id: &str) -> StoreResult<Vec<LinkedIdentity>>;
    /// Unlinks one of the user's identities; false when it is not theirs.
    async fn delete_identity(&mut self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Unlinks every identity of the user (erasure); how many.
    async fn delete_identities_of(&mut self, user_id: &str) -> StoreResult<u64>;
    /// Records a sign-in through the identity.
    async fn touch_identity(&mut self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Forgets reset and invitation codes that expired before `before`; how many.
    async fn purge_email_codes(&mut self, before: UnixTime) -> StoreResult<u64>;
}

/// An upstream provider's account linked to a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    /// Opaque id.
    pub id: String,
    /// The local account.
    pub user_id: String,
    /// The `[[identity_providers]]` id.
    pub provider: String,
    /// The provider's `sub` for the person.
    pub subject: String,
    /// When it was linked.
    pub created_at: UnixTime,
    /// When it was last used to sign in.
    pub last_used_at: Option<UnixTime>,
}
