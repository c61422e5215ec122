//! A person's identities at upstream OpenID providers: listing them, and unlinking one
//! (never the account's last way in). Linking is [`super::federation`]'s.

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::is_valid_id;

/// The public part of a linked identity.
#[derive(Debug, Clone)]
pub struct IdentityView {
    /// Its id.
    pub id: String,
    /// The provider's id.
    pub provider: String,
    /// The provider's label.
    pub provider_name: String,
    /// When it was linked.
    pub created_at: i64,
    /// When it was last used.
    pub last_used_at: Option<i64>,
}

impl Services {
    /// The caller's linked identities.
    pub async fn identities(&self, p: &Principal) -> Result<Vec<IdentityView>> {
        self.identities_of(&p.user_id).await
    }

    /// The identities linked to `user_id`.
    pub async fn identities_of(&self, user_id: &str) -> Result<Vec<IdentityView>> {
        let mut tx = self.store.begin().await?;
        let list = tx.accounts().identities_of(user_id).await?;
        drop(tx);
        Ok(list
            .into_iter()
            .map(|i| IdentityView {
                provider_name: self
                    .identity_providers()
                    .iter()
                    .find(|c| c.id == i.provider)
                    .map_or_else(|| i.provider.clone(), |c| c.label().to_owned()),
                id: i.id,
                provider: i.provider,
                created_at: i.created_at,
                last_used_at: i.last_used_at,
            })
            .collect())
    }

    /// Unlinks one of the caller's identities; refused when it is the account's only way
    /// in (no password, no passkey, no other identity).
    pub async fn unlink_identity(
        &self,
        p: &Principal,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        self.unlink_identity_of(&p.user_id, ctx, id).await
    }

    /// [`Self::unlink_identity`] for the user `user_id` (the account page's browser).
    pub async fn unlink_identity_of(
        &self,
        user_id: &str,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<()> {
        if !is_valid_id(id) {
            return Err(Error::NotFound);
        }
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let passkeys = tx.passkeys(&user.id).await?.len();
        let list = tx.accounts().identities_of(&user.id).await?;
        let Some(link) = list.iter().find(|i| i.id == id) else {
            return Err(Error::NotFound);
        };
        if user.password_hash.is_none() && passkeys == 0 && list.len() == 1 {
            return Err(Error::Conflict(
                "this is the account's only way to sign in: set a password or add a passkey first"
                    .into(),
            ));
        }
        tx.accounts().delete_identity(&user.id, id).await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "auth.identity.unlinked", Outcome::Success)
                .actor(user.id.clone())
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"provider": link.provider, "identity_id": id})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
