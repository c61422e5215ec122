//! Creating accounts: by registration, the command line, and administrators (an
//! administrator's, held for approval when `admin.user.create_admin` is configured).

use serde_json::json;

use super::{Principal, RequestContext, Services};
use crate::audit::{NewAuditEvent, Outcome};
use crate::error::{Error, Result};
use crate::id::new_id;
use crate::model::{Role, User};
use crate::password::normalize;

impl Services {
    /// Checks a new password against the policy, with the account's own words (its address,
    /// the address's local part, its display name) as what it must not be built from.
    pub(crate) fn check_new_password(
        &self,
        field: &str,
        password: &secrecy::SecretString,
        email: &crate::email::Email,
        display_name: Option<&str>,
    ) -> Result<()> {
        let mut context = vec![email.local_part(), email.as_str()];
        if let Some(n) = display_name {
            context.push(n);
        }
        self.policy
            .check(field, password, &context)
            .map_err(Error::WeakPassword)
    }

    /// Creates a user with a password (registration, the CLI). `actor` is who did it, if not
    /// the user themselves.
    pub async fn create_user(
        &self,
        ctx: &RequestContext,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        role: Role,
        actor: Option<&str>,
    ) -> Result<User> {
        let email = Self::parse_email(email)?;
        let display_name = Self::check_display_name(display_name)?;
        let password = normalize(password);
        self.check_new_password("password", &password, &email, display_name.as_deref())?;
        let hash = self.hasher.hash(password, self.rng.as_ref()).await?;
        let now = self.now();
        let user = User {
            id: new_id(now, self.rng.as_ref()),
            email,
            display_name,
            role,
            password_hash: Some(hash),
            mfa_enabled: false,
            locked: false,
            email_verified: false,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        self.insert_new_user(ctx, user, actor).await
    }

    /// An administrator creates an account with a password (`POST /admin/users`). Creating
    /// an administrator is held for approval when `admin.user.create_admin` is configured:
    /// the password is hashed now and only its hash, sealed, waits with the request.
    pub async fn admin_create_user(
        &self,
        admin: &Principal,
        ctx: &RequestContext,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<super::Held<User>> {
        self.require_recent_auth(admin).await?;
        let k = match role {
            Role::Admin => self.approvals_required("admin.user.create_admin"),
            _ => None,
        };
        let Some(k) = k else {
            return self
                .create_user(
                    ctx,
                    email,
                    password,
                    display_name,
                    role,
                    Some(&admin.user_id),
                )
                .await
                .map(super::Held::Ran);
        };
        let parsed = Self::parse_email(email)?;
        let display_name = Self::check_display_name(display_name)?;
        let password = normalize(password);
        self.check_new_password("password", &password, &parsed, display_name.as_deref())?;
        if self.user_by_email(&parsed).await?.is_some() {
            return Err(Error::Conflict(
                "an account with this email already exists".into(),
            ));
        }
        let hash = self.hasher.hash(password, self.rng.as_ref()).await?;
        // Personal data is never stored in the clear: the email and name wait sealed with
        // the password hash; approvers see them through the API (see `held_params`).
        let secret = json!({
            "email": parsed.as_str(),
            "display_name": display_name,
            "password_hash": hash.0,
        })
        .to_string();
        let secret = zeroize::Zeroizing::new(secret);
        self.hold(
            admin,
            ctx,
            "admin.user.create_admin",
            k,
            json!({"role": role.as_str()}),
            Some(secret.as_bytes()),
        )
        .await
        .map(|r| super::Held::Pending(Box::new(r)))
    }

    /// Stores a new user with its audit event (`admin.user.created` when `actor` is an
    /// administrator, else `auth.user.registered`).
    pub(crate) async fn insert_new_user(
        &self,
        ctx: &RequestContext,
        user: User,
        actor: Option<&str>,
    ) -> Result<User> {
        let now = self.now();
        let role = user.role;
        // One mailbox, one account, also against accounts stored under an older spelling.
        if self.user_by_email(&user.email).await?.is_some() {
            return Err(Error::Conflict(
                "an account with this email already exists".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        tx.insert_user(&user)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("an account with this email already exists".into())
                }
                other => other,
            })?;
        let action = if actor.is_some() {
            "admin.user.created"
        } else {
            "auth.user.registered"
        };
        tx.append_audit(
            &NewAuditEvent::new(now, action, Outcome::Success)
                .actor(actor.unwrap_or(&user.id))
                .target(user.id.clone())
                .client(ctx)
                .details(json!({"role": role.as_str()})),
        )
        .await?;
        if actor.is_none() {
            // A self-registration counts against its source (no source: the CLI).
            self.bump_registrations(tx.as_mut(), ctx).await?;
        }
        tx.commit().await?;
        Ok(user)
    }
}
