//! What administrators change about people's accounts: role, name, address, "must change
//! the password", invitations by mail, and finding an account by email or name.

use serde_json::json;

use super::{Notice, Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, FieldError, Result};
use crate::id::{is_valid_id, new_id};
use crate::model::{Role, User};

/// What `PATCH /admin/users/{id}` may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// A new role (`user` or `admin`).
    pub role: Option<Role>,
    /// A new display name (`Some(None)` clears it).
    pub display_name: Option<Option<String>>,
    /// A new address (the old one is told).
    pub email: Option<String>,
    /// Whether the user must change the password before anything else.
    pub must_change_password: Option<bool>,
}

/// How many users a search reads at most (personal fields are sealed, so a search opens
/// them; beyond this many accounts, search by exact email).
const SEARCH_SCAN_LIMIT: usize = 50_000;

impl Services {
    /// Changes a user's account (step-up first). A new role or "must change the password"
    /// ends the user's sessions, so that no token carries the old state; a new address is
    /// unproved until a code sent to it comes back, and the old address is told.
    pub async fn admin_update_user(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        user_id: &str,
        patch: UserPatch,
    ) -> Result<super::Held<User>> {
        if !is_valid_id(user_id) {
            return Err(Error::NotFound);
        }
        if let Some(r) = patch.role {
            if r == Role::Service {
                return Err(Error::InvalidRequest(
                    "invalid role".into(),
                    vec![FieldError::new(
                        "role",
                        "invalid",
                        "user or admin (service accounts are created as such)",
                    )],
                ));
            }
            if user_id == admin.user_id {
                return Err(Error::Forbidden(
                    "administrators cannot change their own role".into(),
                ));
            }
        }
        self.require_recent_auth(admin).await?;
        // Making someone an administrator is as dangerous as creating one: held for other
        // administrators' approval when `admin.user.promote_admin` is configured.
        if patch.role == Some(Role::Admin)
            && let Some(k) = self.approvals_required("admin.user.promote_admin")
        {
            let target = self
                .store
                .user_by_id(user_id)
                .await?
                .ok_or(Error::NotFound)?;
            if target.role != Role::Admin {
                if patch.display_name.is_some()
                    || patch.email.is_some()
                    || patch.must_change_password.is_some()
                {
                    return Err(Error::InvalidRequest(
                        "a promotion to admin is held for approval: send the role on its own"
                            .into(),
                        vec![FieldError::new(
                            "role",
                            "held",
                            "send it without other changes",
                        )],
                    ));
                }
                return self
                    .hold(
                        admin,
                        ctx,
                        "admin.user.promote_admin",
                        k,
                        json!({"user_id": user_id, "role": "admin"}),
                        None,
                    )
                    .await
                    .map(|r| super::Held::Pending(Box::new(r)));
            }
        }
        self.update_user_as(&admin.user_id, ctx, user_id, patch)
            .await
            .map(super::Held::Ran)
    }

    /// [`Self::admin_update_user`] after its checks, by `actor` (an administrator's id, or
    /// `cli` for the command line).
    pub async fn update_user_as(
        &self,
        actor: &str,
        ctx: &RequestContext,
        user_id: &str,
        patch: UserPatch,
    ) -> Result<User> {
        if patch.role == Some(Role::Service) {
            return Err(Error::InvalidRequest("invalid role".into(), vec![]));
        }
        let email = patch.email.as_deref().map(Self::parse_email).transpose()?;
        let display_name = match &patch.display_name {
            Some(n) => Some(Self::check_display_name(n.as_deref())?),
            None => None,
        };
        if let Some(e) = &email
            && let Some(other) = self.user_by_email(e).await?
            && other.id != user_id
        {
            return Err(Error::Conflict(
                "an account with this email already exists".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = tx.lock_user(user_id).await?.ok_or(Error::NotFound)?;
        if user.role == Role::Service {
            return Err(Error::Forbidden(
                "service accounts are managed at /api/v1/admin/service-accounts".into(),
            ));
        }
        let mut changed: Vec<&str> = Vec::new();
        let mut details = serde_json::Map::new();
        let new_role = patch.role.filter(|r| *r != user.role);
        if let Some(r) = new_role {
            tx.accounts().set_role(user_id, r, now).await?;
            changed.push("role");
            details.insert(
                "role".into(),
                json!({"from": user.role.as_str(), "to": r.as_str()}),
            );
        }
        let new_email = email.filter(|e| e.as_str() != user.email.as_str());
        let new_name = display_name.filter(|n| *n != user.display_name);
        if new_email.is_some() || new_name.is_some() {
            let e = new_email.as_ref().unwrap_or(&user.email);
            let n = new_name
                .clone()
                .unwrap_or_else(|| user.display_name.clone());
            tx.accounts()
                .set_profile(user_id, e, n.as_deref(), now)
                .await
                .map_err(|err| match Error::from(err) {
                    Error::Conflict(_) => {
                        Error::Conflict("an account with this email already exists".into())
                    }
                    other => other,
                })?;
            if new_email.is_some() {
                tx.accounts()
                    .set_email_verified(user_id, false, now)
                    .await?;
                changed.push("email");
            }
            if new_name.is_some() {
                changed.push("display_name");
            }
        }
        let must_change = patch
            .must_change_password
            .filter(|m| *m != user.must_change_password);
        if let Some(m) = must_change {
            tx.accounts()
                .set_must_change_password(user_id, m, now)
                .await?;
            changed.push("must_change_password");
            details.insert("must_change_password".into(), json!(m));
        }
        let revoked = if new_role.is_some() || must_change == Some(true) {
            self.revoke_all_sessions(tx.as_mut(), ctx, actor, user_id, None, "account_changed")
                .await?
        } else {
            Vec::new()
        };
        if !changed.is_empty() {
            details.insert("changed".into(), json!(changed));
            details.insert("sessions_revoked".into(), json!(revoked.len()));
            tx.append_audit(
                &NewAuditEvent::new(now, "admin.user.updated", Outcome::Success)
                    .actor(actor.to_owned())
                    .target(user_id.to_owned())
                    .client(ctx)
                    .details(serde_json::Value::Object(details)),
            )
            .await?;
        }
        let updated = tx.user_by_id(user_id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        if let Some(e) = &new_email {
            self.notify(&user, &Notice::EmailChanged(e.as_str().to_owned()));
        }
        Ok(updated)
    }

    /// Accounts whose email or display name contains `q` (case-insensitively), at most
    /// `limit`, in id order.
    pub async fn search_users(&self, q: &str, limit: u32) -> Result<Vec<User>> {
        let needle = q.trim().to_lowercase();
        if needle.is_empty() || needle.chars().count() > 320 {
            return Err(Error::InvalidRequest(
                "invalid q".into(),
                vec![FieldError::new("q", "invalid", "1 to 320 characters")],
            ));
        }
        let limit = usize::try_from(limit.clamp(1, 500)).unwrap_or(50);
        // An exact address is one lookup by its blind index.
        if let Ok(email) = Self::parse_email(&needle)
            && let Some(u) = self.user_by_email(&email).await?
        {
            return Ok(vec![u]);
        }
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        let mut scanned = 0usize;
        while scanned < SEARCH_SCAN_LIMIT {
            let page = self.store.list_users(after.as_deref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            scanned += page.len();
            let full = page.len() == 500;
            for u in page {
                let hit = u.email.as_str().to_lowercase().contains(&needle)
                    || u.display_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&needle));
                if hit {
                    found.push(u);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(found)
    }

    /// The command line sets a user's password (`portcullis users reset-password`): a new
    /// one the operator hands over, which the user must change at the next sign-in; every
    /// session ends. The policy applies.
    pub async fn operator_set_password(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        password: &str,
    ) -> Result<()> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| u.role != Role::Service)
            .ok_or(Error::NotFound)?;
        let password = crate::password::normalize(password);
        self.check_new_password(
            "password",
            &password,
            &user.email,
            user.display_name.as_deref(),
        )?;
        let hash = self.hasher.hash(password, self.rng.as_ref()).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_user(user_id).await?;
        tx.set_password_hash(user_id, &hash, now).await?;
        tx.accounts()
            .set_must_change_password(user_id, true, now)
            .await?;
        let revoked = self
            .revoke_all_sessions(tx.as_mut(), ctx, "cli", user_id, None, "password_reset")
            .await?;
        tx.append_audit(
            &NewAuditEvent::new(now, "admin.user.password_set", Outcome::Success)
                .actor("cli")
                .target(user_id.to_owned())
                .client(ctx)
                .details(json!({"must_change_password": true, "sessions_revoked": revoked.len()})),
        )
        .await?;
        tx.commit().await?;
        self.note_revoked(&revoked, now);
        self.notify(&user, &Notice::PasswordChanged);
        Ok(())
    }

    /// The command line has a reset code mailed (`portcullis users reset-password --mail`).
    pub async fn operator_password_reset(&self, ctx: &RequestContext, user_id: &str) -> Result<()> {
        self.require_mail()?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| u.role != Role::Service)
            .ok_or(Error::NotFound)?;
        self.issue_reset(ctx, &user, "cli", "admin.user.password_reset_sent")
            .await
    }

    /// The command line erases an account (`portcullis users delete`), as an administrator's
    /// erasure does.
    pub async fn operator_erase(&self, ctx: &RequestContext, user_id: &str) -> Result<()> {
        self.erase("cli", user_id, ctx).await
    }

    /// An administrator creates an account without a password: it gets an invitation by
    /// mail, whose code sets the first password. An administrator's account, when its
    /// creation is held for approval, is created with a password instead.
    pub async fn admin_invite_user(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        email: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<User> {
        if !self.mail_enabled() {
            return Err(Error::InvalidRequest(
                "password required".into(),
                vec![FieldError::new(
                    "password",
                    "required",
                    "invitations by mail need the [email] settings, which this server does not have; give a password",
                )],
            ));
        }
        self.require_recent_auth(admin).await?;
        if role == Role::Admin && self.approvals_required("admin.user.create_admin").is_some() {
            return Err(Error::InvalidRequest(
                "password required".into(),
                vec![FieldError::new(
                    "password",
                    "required",
                    "an administrator's account is held for approval: create it with a password",
                )],
            ));
        }
        let email = Self::parse_email(email)?;
        let display_name = Self::check_display_name(display_name)?;
        let now = self.now();
        let user = User {
            id: new_id(now, self.rng.as_ref()),
            email,
            display_name,
            role,
            password_hash: None,
            mfa_enabled: false,
            locked: false,
            email_verified: false,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let user = self
            .insert_new_user(ctx, user, Some(&admin.user_id))
            .await?;
        self.send_invitation(ctx, admin, &user).await?;
        Ok(user)
    }
}
