//! The outbox's transport to a real mail server (SMTP, through the `lettre`
//! crate): STARTTLS, TLS from the first byte or none, a login when a username
//! is set, and the message as text with its PDF attached. Errors are said in
//! the operator's words: server down, login refused, secure connection failed.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};

use super::{Outgoing, SendError};
use crate::error::{Error, Result};
use crate::settings::{MailSettings, Security};

/// A connection (pooled between messages) to the workspace's mail server.
pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
    server: String,
}

/// What a connection needs beyond the workspace's settings.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// The login's password (kept outside the workspace).
    pub password: Option<String>,
    /// An extra certificate authority to trust, PEM (a company's own mail
    /// server; the tests' self-signed one).
    pub extra_root_pem: Option<Vec<u8>>,
}

impl Smtp {
    pub fn new(settings: &MailSettings, secrets: &Secrets) -> Result<Smtp> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| Error::invalid("mail.from", format!("\"{}\" is not a sender: {e}", settings.from)))?;
        let tls_parameters = || -> Result<TlsParameters> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            if let Some(pem) = &secrets.extra_root_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    Error::invalid("mail", format!("the extra certificate authority does not read: {e}"))
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| Error::Internal(format!("the secure connection cannot be prepared: {e}")))
        };
        let tls = match settings.security {
            Security::Starttls => Tls::Required(tls_parameters()?),
            Security::Tls => Tls::Wrapper(tls_parameters()?),
            Security::None => Tls::None,
        };
        let mut builder = SmtpTransport::builder_dangerous(settings.host.as_str())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(username) = &settings.username {
            builder =
                builder.credentials(Credentials::new(username.clone(), secrets.password.clone().unwrap_or_default()));
        }
        Ok(Smtp { transport: builder.build(), from, server: format!("{}:{}", settings.host, settings.port) })
    }

    /// The message as it goes on the wire (also what the tests compare).
    pub fn build(&self, message: &Outgoing) -> std::result::Result<lettre::Message, SendError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.subject.clone())
            .message_id(Some(message.message_id.clone()))
            .date(message.date.into());
        for to in &message.to {
            let mailbox: Mailbox =
                to.parse().map_err(|e| SendError(format!("\"{to}\" is not an address the server takes: {e}")))?;
            builder = builder.to(mailbox);
        }
        let pdf = ContentType::parse("application/pdf").expect("a content type");
        builder
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(message.body.clone()))
                    .singlepart(Attachment::new(message.attachment_name.clone()).body(message.attachment.clone(), pdf)),
            )
            .map_err(|e| SendError(format!("the message cannot be written: {e}")))
    }

    /// Whether the server answers and takes the login (Settings' "Test connection").
    pub fn check(&self) -> std::result::Result<(), SendError> {
        match self.transport.test_connection() {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError(format!("the mail server {} did not answer", self.server))),
            Err(e) => Err(self.say(&e)),
        }
    }

    fn say(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let server = &self.server;
        let detail = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
        let code = e.status().map(|c| c.to_string());
        let lower = detail.to_ascii_lowercase();
        let tls = e.is_tls() || ["certificate", "tls", "handshake"].iter().any(|w| lower.contains(w));
        SendError(if tls {
            format!("the secure connection to the mail server {server} failed: {detail}")
        } else if code.as_deref().is_some_and(|c| c.starts_with("535") || c.starts_with("530") || c.starts_with("534"))
        {
            format!(
                "the mail server {server} refused the login ({}{}): check the username and password in Settings",
                code.unwrap_or_default(),
                if detail.is_empty() { String::new() } else { format!(" {detail}") }
            )
        } else if e.is_timeout() {
            format!("the mail server {server} did not answer in time")
        } else if e.is_permanent() {
            format!("the mail server {server} refused the message ({}): {detail}", code.unwrap_or_default())
        } else if e.is_transient() {
            format!("the mail server {server} asked to try later ({}): {detail}", code.unwrap_or_default())
        } else {
            let why = if detail.is_empty() { e.to_string() } else { detail };
            format!("the mail server {server} could not be reached: {why}")
        })
    }
}

impl super::Transport for Smtp {
    fn send(&mut self, message: &Outgoing) -> std::result::Result<String, SendError> {
        let email = self.build(message)?;
        let response = self.transport.send(&email).map_err(|e| self.say(&e))?;
        let text: Vec<&str> = response.message().collect();
        Ok(format!("{} {}", response.code(), text.join(" ")).trim().to_string())
    }
}
