//! Sending from the command line (docs/interfaces.md §4): the outbox, the
//! reminders, and the mail server's password (kept outside the workspace).
//! `invoice send` is with the other invoice commands.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use meterdesk_engine::mailing::{self, Reminder};
use meterdesk_engine::outbox::{self, Entry, Status};
use meterdesk_engine::{Error, Workspace, settings};

use super::Outcome;
use crate::mail;

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Every message, newest first: sent, or queued with the last error.
    List {
        /// Only the messages not sent yet.
        #[arg(long)]
        unsent: bool,
    },
    /// Hand every message not sent yet to the mail server again.
    Retry,
}

#[derive(Debug, Subcommand)]
pub enum RemindersAction {
    /// Who would get which reminder on --on (default today), sending nothing.
    Preview {
        #[arg(long)]
        on: Option<NaiveDate>,
    },
    /// Send the reminders due on --on (default today): each level once per invoice.
    Run {
        #[arg(long)]
        on: Option<NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailAction {
    /// Keep the mail server's password, read from the first line of standard
    /// input, in a file only this user reads (never in the workspace).
    Password {
        /// Forget the kept password instead.
        #[arg(long)]
        clear: bool,
    },
    /// Connect to the mail server and log in, sending nothing.
    Test,
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Queued => "queued",
        Status::Sending => "sending",
        Status::Sent => "sent",
    }
}

fn entries_outcome(entries: &[Entry], empty: &str) -> Result<Outcome, Error> {
    let human = if entries.is_empty() {
        empty.to_string()
    } else {
        entries
            .iter()
            .map(|e| {
                let what = match e.level {
                    0 => format!("{} {}", e.kind.as_str().replace('_', " "), e.document),
                    level => format!("{} {level} {}", e.kind.as_str(), e.document),
                };
                let state = match (e.status, &e.last_error, e.sent_at) {
                    (Status::Sent, _, Some(at)) => format!("sent {}", at.format("%Y-%m-%d %H:%M")),
                    (_, Some(error), _) => {
                        format!("{} after {} attempt(s): {error}", status_word(e.status), e.attempts)
                    }
                    _ => status_word(e.status).to_string(),
                };
                format!("#{:<5} {what:<32} to {:<32} {state}", e.id, e.to.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let success = entries.iter().all(|e| e.status == Status::Sent);
    Ok(Outcome { success, ..Outcome::ok(entries, human)? })
}

fn reminders_outcome(reminders: &[Reminder], preview: bool) -> Result<Outcome, Error> {
    let human = if reminders.is_empty() {
        "No reminder is due.".to_string()
    } else {
        reminders
            .iter()
            .map(|r| {
                let state = match (&r.error, preview) {
                    (Some(error), _) => format!("not sent: {error}"),
                    (None, true) => "would be sent".into(),
                    (None, false) => status_word(r.status).into(),
                };
                format!(
                    "{:<16} level {} ({} days overdue) {} {} owed, to {}: {state}",
                    r.invoice,
                    r.level,
                    r.days_overdue,
                    r.owed,
                    r.currency,
                    if r.to.is_empty() { "nobody".into() } else { r.to.join(", ") }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let success = preview || reminders.iter().all(|r| r.status == Status::Sent && r.error.is_none());
    Ok(Outcome { success, ..Outcome::ok(reminders, human)? })
}

pub fn outbox(action: OutboxAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        OutboxAction::List { unsent } => {
            let ws = Workspace::open(workspace)?;
            let entries = outbox::list(ws.conn(), unsent)?;
            let mut out = entries_outcome(&entries, "The outbox is empty.")?;
            out.success = true;
            Ok(out)
        }
        OutboxAction::Retry => {
            let mut ws = Workspace::open(workspace)?;
            let mut transports = mail::transports(&mailing::mail_settings(ws.conn())?, mail::LANES)?;
            let entries = mailing::retry(&mut ws, &mut mail::lanes(&mut transports), now)?;
            entries_outcome(&entries, "Nothing waits in the outbox.")
        }
    }
}

pub fn reminders(action: RemindersAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        RemindersAction::Preview { on } => {
            let ws = Workspace::open(workspace)?;
            let on = match on {
                Some(on) => on,
                None => settings::today(ws.conn(), now)?,
            };
            reminders_outcome(&mailing::reminders_due(ws.conn(), on)?, true)
        }
        RemindersAction::Run { on } => {
            let mut ws = Workspace::open(workspace)?;
            let on = match on {
                Some(on) => on,
                None => settings::today(ws.conn(), now)?,
            };
            let mut transports = mail::transports(&mailing::mail_settings(ws.conn())?, mail::LANES)?;
            reminders_outcome(&mailing::run_reminders(&mut ws, on, &mut mail::lanes(&mut transports), now)?, false)
        }
    }
}

pub fn run(action: MailAction, workspace: &Path) -> Result<Outcome, Error> {
    let ws = Workspace::open(workspace)?;
    let settings = mailing::mail_settings(ws.conn())?;
    let server = format!("{}:{}", settings.host, settings.port);
    match action {
        MailAction::Password { clear: true } => {
            mail::set_password(&settings, None)?;
            Outcome::ok(
                serde_json::json!({ "server": server, "password": false }),
                format!("Forgot the password of {server}."),
            )
        }
        MailAction::Password { clear: false } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Error::Io(format!("the password could not be read from standard input: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Error::invalid("password", "give the password on the first line of standard input"));
            }
            let kept = mail::set_password(&settings, Some(password))?;
            let place = match &kept {
                mail::Kept::Keychain => "keychain".to_string(),
                mail::Kept::File(path) => path.display().to_string(),
                mail::Kept::Nowhere => String::new(),
            };
            Outcome::ok(
                serde_json::json!({ "server": server, "password": true, "kept": place }),
                format!("Kept the password of {server} {}, outside the workspace.", kept.words()),
            )
        }
        MailAction::Test => {
            mail::transport(&settings)?.check().map_err(|e| Error::Conflict(e.0))?;
            Outcome::ok(
                serde_json::json!({ "server": server, "ok": true }),
                format!("The mail server {server} answered and took the login."),
            )
        }
    }
}
