//! `[email]`: mail to people: password resets, invitations, address verification and
//! security notifications.

use secrecy::SecretString;
use serde::Deserialize;

/// `[email]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://host:port` (STARTTLS when the server offers it) or `smtps://host:port`
    /// (TLS), in lettre's URL form; it may carry credentials. Unset: no mail is sent, and
    /// what needs mail (password reset, invitations, verification) is refused.
    pub smtp_url: Option<SecretString>,
    /// The sender, e.g. `Portcullis <no-reply@example.com>`.
    pub from: String,
    /// Whether a new account must confirm its address (a code by mail) before it can sign
    /// in.
    pub verify_on_register: bool,
}

impl EmailConfig {
    /// Whether mail can be sent.
    pub fn enabled(&self) -> bool {
        self.smtp_url.is_some()
    }
}
