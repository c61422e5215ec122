//! Mail to people (`[email]`): password resets, invitations, verification codes and
//! security notices, sent over SMTP by lettre (rustls for `smtps://` and STARTTLS), off the
//! request path, with two retries; each delivery's result is audited (its kind, never its
//! address or content).

use std::sync::{Arc, Weak};
use std::time::Duration;

use lettre::AsyncTransport;
use portcullis_core::config::EmailConfig;
use portcullis_core::service::{Mail, Mailer, Services};
use secrecy::ExposeSecret;

/// The mailer the server installs when `[email]` names an SMTP server.
pub(crate) struct SmtpMailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    services: Weak<Services>,
    /// At most this many mails in flight; more are dropped (and audited as failed) rather
    /// than queued without bound.
    slots: Arc<tokio::sync::Semaphore>,
}

impl SmtpMailer {
    /// Installs the mailer on `services` when mail is configured.
    pub(crate) fn install(cfg: &EmailConfig, services: &Arc<Services>) -> Result<(), String> {
        let Some(url) = &cfg.smtp_url else {
            return Ok(());
        };
        // The URL may carry a password: never echo it in the error.
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose_secret())
                .map_err(|_| "email.smtp_url is not a valid smtp:// or smtps:// URL".to_owned())?
                .timeout(Some(Duration::from_secs(10)))
                .build();
        let from = cfg.from.parse().map_err(|e| format!("email.from: {e}"))?;
        services.set_mailer(Arc::new(Self {
            transport,
            from,
            services: Arc::downgrade(services),
            slots: Arc::new(tokio::sync::Semaphore::new(256)),
        }));
        Ok(())
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) {
        let services = self.services.clone();
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(kind = mail.kind, "mail dropped: too many in flight");
            tokio::spawn(async move {
                if let Some(svc) = services.upgrade() {
                    svc.record_mail_delivery(mail.kind, false, "dropped: too many in flight")
                        .await;
                }
            });
            return;
        };
        let transport = self.transport.clone();
        let from = self.from.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let result = deliver(&transport, from, &mail).await;
            let (delivered, detail) = match &result {
                Ok(()) => (true, "accepted".to_owned()),
                Err(e) => (false, e.clone()),
            };
            if !delivered {
                tracing::warn!(kind = mail.kind, result = %detail, "mail not delivered");
            }
            if let Some(svc) = services.upgrade() {
                svc.record_mail_delivery(mail.kind, delivered, &detail)
                    .await;
            }
        });
    }
}

async fn deliver(
    transport: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    mail: &Mail,
) -> Result<(), String> {
    let to: lettre::message::Mailbox = mail
        .to
        .parse()
        .map_err(|_| "the recipient is not a valid address".to_owned())?;
    let msg = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| format!("message: {e}"))?;
    let mut last = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        match transport.send(msg.clone()).await {
            Ok(_) => return Ok(()),
            // A permanent refusal (5xx) will not change on retry.
            Err(e) if e.is_permanent() => return Err(format!("refused: {e}")),
            Err(e) => last = format!("{e}"),
        }
    }
    Err(last)
}
