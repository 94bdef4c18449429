//! The outbox (docs/billing.md "Payments, reminders and sending"): every
//! message is first queued in the workspace with everything it carries (the
//! recipients, subject, body and the PDF as it was), then handed to the mail
//! server, then marked sent with the server's reply. A failure (server down,
//! login refused, TLS) leaves it queued with the error, to be retried on
//! demand or when the console starts. One document, kind and level has one
//! message only, and every attempt carries the same Message-ID.
//!
//! Delivery records before and after: a message is marked `sending` (its
//! attempt counted) in its own transaction before the server sees it, and
//! `sent` in another once the server accepted it. If the process dies in
//! between, the message is still `sending`: the next retry hands it to the
//! server again, with the same Message-ID. So a message the server accepted is
//! sent a second time only when the process died between the server's
//! acceptance and the mark, and that copy has the same Message-ID, by which
//! mail systems recognize a duplicate.

pub mod smtp;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::Digest;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::stored::time_text;
use crate::workspace::Workspace;
pub use meterdesk_rules::mail::Kind;

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// An invoice's or credit note's number, or a statement's key.
    pub document: String,
    pub kind: Kind,
    /// A reminder's level (1, 2, …); 0 for the other kinds.
    pub level: u32,
    /// The customer's id.
    pub customer: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachment_name: String,
    pub attachment: Vec<u8>,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "OutboxStatus")]
pub enum Status {
    /// Waiting: not tried yet, or the last attempt failed (see `last_error`).
    Queued,
    /// An attempt began and did not finish (the program stopped while the
    /// server had it): the next retry sends it again, with the same Message-ID.
    Sending,
    /// The mail server accepted it.
    Sent,
}

impl Status {
    fn parse(text: &str) -> rusqlite::Result<Status> {
        match text {
            "queued" => Ok(Status::Queued),
            "sending" => Ok(Status::Sending),
            "sent" => Ok(Status::Sent),
            other => Err(rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("an outbox status \"{other}\"").into(),
            )),
        }
    }
}

/// A message in the outbox, as listed (`outbox list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "OutboxEntry")]
pub struct Entry {
    pub id: i64,
    pub document: String,
    pub kind: Kind,
    pub level: u32,
    pub customer: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub status: Status,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[ts(type = "string")]
    pub queued_at: DateTime<Utc>,
    #[ts(type = "string | null")]
    pub sent_at: Option<DateTime<Utc>>,
    /// What the server answered when it accepted the message.
    pub server_reply: Option<String>,
}

/// A message as handed to a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message_id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachment_name: String,
    pub attachment: Vec<u8>,
    /// When this attempt is made (the message's Date).
    pub date: DateTime<Utc>,
}

/// Why a transport could not hand a message over, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError(pub String);

/// What hands messages to a mail server (one connection; several run at once
/// on their own threads, see [`deliver_in_lanes`]).
pub trait Transport: Send {
    /// Sends one message; the server's reply when it accepted it.
    fn send(&mut self, message: &Outgoing) -> std::result::Result<String, SendError>;
}

const COLUMNS: &str = "id, document, kind, level, customer, recipients, subject, message_id, status, attempts, \
                       last_error, queued_at, sent_at, server_reply";

fn time(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("\"{text}\": {e}").into())
    })
}

fn entry(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    let kind: String = r.get(2)?;
    let to: String = r.get(5)?;
    let status: String = r.get(8)?;
    Ok(Entry {
        id: r.get(0)?,
        document: r.get(1)?,
        kind: Kind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, kind.clone().into())
        })?,
        level: r.get(3)?,
        customer: r.get(4)?,
        to: serde_json::from_str(&to)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into()))?,
        subject: r.get(6)?,
        message_id: r.get(7)?,
        status: Status::parse(&status)?,
        attempts: r.get(9)?,
        last_error: r.get(10)?,
        queued_at: time(&r.get::<_, String>(11)?)?,
        sent_at: r.get::<_, Option<String>>(12)?.as_deref().map(time).transpose()?,
        server_reply: r.get(13)?,
    })
}

/// The message queued for a document, kind and level, if any.
pub fn find(conn: &Connection, document: &str, kind: Kind, level: u32) -> Result<Option<Entry>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE document = ?1 AND kind = ?2 AND level = ?3"))?
        .query_row(params![document, kind.as_str(), level], entry)
        .optional()?)
}

/// Every message, newest first; only those not sent yet with `unsent`.
pub fn list(conn: &Connection, unsent: bool) -> Result<Vec<Entry>> {
    let filter = if unsent { "WHERE status <> 'sent'" } else { "" };
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox {filter} ORDER BY id DESC"))?;
    let rows = stmt.query_map([], entry)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The messages about one document (an invoice's number: its own, its
/// reminders and its credit notes'), oldest first.
pub fn of_invoice(conn: &Connection, number: &str) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE document = ?1
            OR (kind = 'credit_note' AND document IN (SELECT number FROM credit_notes WHERE invoice_id =
                (SELECT id FROM invoices WHERE number = ?1)))
         ORDER BY id"
    ))?;
    let rows = stmt.query_map([number], entry)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The Message-ID of a message: a digest of what it is and what it carries,
/// at the sender's domain. The same on every attempt (it is stored).
fn message_id(message: &Message, queued_at: DateTime<Utc>, domain: &str) -> String {
    let mut hash = sha2::Sha256::new();
    for part in [message.kind.as_str().as_bytes(), message.document.as_bytes(), &message.level.to_be_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(&message.attachment);
    hash.update(time_text(queued_at).as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let document: String =
        message.document.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("<{}.{document}.{}.{hex}@{domain}>", message.kind.as_str().replace('_', "-"), message.level)
}

/// Queues a message. Refused if one was queued for the same document, kind
/// and level (it is sent once; `retry` sends one that failed).
pub fn queue(tx: &Transaction, message: &Message, sender_domain: &str, now: DateTime<Utc>) -> Result<Entry> {
    if let Some(existing) = find(tx, &message.document, message.kind, message.level)? {
        let what = match message.kind {
            Kind::Reminder => format!("reminder {} for {}", message.level, message.document),
            Kind::Statement => format!("statement {}", message.document),
            Kind::Invoice | Kind::CreditNote => message.document.clone(),
        };
        return Err(Error::Conflict(match existing.status {
            Status::Sent => format!(
                "{what} was already sent on {} to {}: a document is e-mailed once",
                existing.sent_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
                existing.to.join(", ")
            ),
            Status::Queued | Status::Sending => {
                format!("{what} is already in the outbox, not sent yet: retry it from the outbox")
            }
        }));
    }
    if message.to.is_empty() {
        return Err(Error::invalid(
            "to",
            format!(
                "customer {} has no billing e-mail address: add one on the customer's page, or give one",
                message.customer
            ),
        ));
    }
    if let Some(bad) = message.to.iter().find(|a| !meterdesk_rules::mail::is_address(a)) {
        return Err(Error::invalid("to", format!("\"{bad}\" is not an email address")));
    }
    let id = message_id(message, now, sender_domain);
    tx.execute(
        "INSERT INTO outbox (document, kind, level, customer, recipients, subject, body, attachment_name, attachment,
             message_id, status, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', ?11)",
        params![
            message.document,
            message.kind.as_str(),
            message.level,
            message.customer,
            serde_json::to_string(&message.to).expect("addresses serialize"),
            message.subject,
            message.body,
            message.attachment_name,
            message.attachment,
            id,
            time_text(now),
        ],
    )?;
    find(tx, &message.document, message.kind, message.level)?
        .ok_or_else(|| Error::Internal("a queued message is missing".into()))
}

/// Hands the messages `ids` (those not sent yet) to `transport`, one by one,
/// recording each attempt before and its outcome after; returns them as they
/// stand afterwards. A failure stays queued with its error and does not stop
/// the others.
pub fn deliver(
    ws: &mut Workspace,
    ids: &[i64],
    transport: &mut dyn Transport,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>> {
    deliver_in_lanes(ws, ids, &mut [transport], now)
}

/// [`deliver`] over several connections at once (`lanes`, one message on
/// each at a time): each round records its messages as with the server in one
/// transaction, hands one to each lane, and records their outcomes in
/// another. A server answers each message after a round trip or two, so
/// lanes multiply what goes through in a second. A process that dies in a
/// round leaves at most that round's messages `sending`: each is sent again
/// by the next retry, once, with its Message-ID.
pub fn deliver_in_lanes(
    ws: &mut Workspace,
    ids: &[i64],
    lanes: &mut [&mut dyn Transport],
    now: DateTime<Utc>,
) -> Result<Vec<Entry>> {
    if lanes.is_empty() {
        return Err(Error::Internal("no connection to deliver through".into()));
    }
    // One delivery at a time per workspace, across threads and processes (the
    // console's retry at start, a click on Retry, a CLI command): a message
    // `sending` is then either in this delivery's hands or left by one that
    // died, and only the latter is ever handed over again.
    let _lock = delivery_lock(ws.path())?;
    for round in ids.chunks(lanes.len()) {
        // Before: each attempt is counted and the message marked as with the server.
        let outgoing: Vec<(i64, Outgoing)> = ws.write(|tx| {
            let mut out = Vec::with_capacity(round.len());
            for &id in round {
                let changed = tx.execute(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, attempted_at = ?2
                     WHERE id = ?1 AND status <> 'sent'",
                    params![id, time_text(now)],
                )?;
                if changed > 0 {
                    out.push((id, load_outgoing(tx, id, now)?));
                }
            }
            Ok(out)
        })?;
        let outcomes: Vec<(i64, std::result::Result<String, SendError>)> = if outgoing.len() <= 1 {
            outgoing.iter().map(|(id, o)| (*id, send_one(&mut *lanes[0], o))).collect()
        } else {
            std::thread::scope(|scope| {
                let running: Vec<_> = outgoing
                    .iter()
                    .zip(lanes.iter_mut())
                    .map(|((id, o), lane)| scope.spawn(move || (*id, send_one(&mut **lane, o))))
                    .collect();
                running.into_iter().map(|h| h.join().unwrap_or_else(|_| panic!("a mail lane panicked"))).collect()
            })
        };
        // After: sent with the server's reply, or queued again with the error.
        ws.write(|tx| {
            for (id, outcome) in &outcomes {
                match outcome {
                    Ok(reply) => {
                        tx.execute(
                            "UPDATE outbox SET status = 'sent', sent_at = ?2, server_reply = ?3, last_error = NULL
                             WHERE id = ?1",
                            params![id, time_text(now), reply],
                        )?;
                        audit_sent(tx, *id, now)?;
                    }
                    Err(SendError(why)) => {
                        tx.execute(
                            "UPDATE outbox SET status = 'queued', last_error = ?2 WHERE id = ?1",
                            params![id, why],
                        )?;
                    }
                }
            }
            Ok(())
        })?;
    }
    let mut out = Vec::with_capacity(ids.len());
    let mut stmt = ws.conn().prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?;
    for &id in ids {
        let found = stmt.query_row([id], entry).optional()?;
        out.push(found.ok_or_else(|| Error::NotFound(format!("no message #{id} in the outbox")))?);
    }
    Ok(out)
}

/// Holds the workspace's delivery lock until dropped: an advisory lock on
/// `WORKSPACE.sending` beside the file (released by the system when the
/// process ends, however it ends), or for a workspace in memory a lock of
/// this process. Waits while another delivery holds it.
fn delivery_lock(path: &std::path::Path) -> Result<DeliveryLock> {
    static IN_MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if path == std::path::Path::new(":memory:") {
        return Ok(DeliveryLock::Memory(IN_MEMORY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)));
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".sending");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| Error::Io(format!("the outbox's lock {} cannot be opened: {e}", name.to_string_lossy())))?;
    file.lock().map_err(|e| Error::Io(format!("the outbox's lock cannot be taken: {e}")))?;
    Ok(DeliveryLock::File(file))
}

enum DeliveryLock {
    Memory(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>),
    /// Closing the file releases its lock.
    File(#[allow(dead_code)] std::fs::File),
}

/// One message to one lane, then the crash test's seam.
fn send_one(lane: &mut dyn Transport, outgoing: &Outgoing) -> std::result::Result<String, SendError> {
    let outcome = lane.send(outgoing);
    pause_after_acceptance(outgoing, &outcome);
    outcome
}

/// The message `id` as it goes to a server.
fn load_outgoing(tx: &Transaction, id: i64, now: DateTime<Utc>) -> Result<Outgoing> {
    Ok(tx.query_row(
        "SELECT message_id, recipients, subject, body, attachment_name, attachment FROM outbox WHERE id = ?1",
        [id],
        |r| {
            let to: String = r.get(1)?;
            Ok(Outgoing {
                message_id: r.get(0)?,
                to: serde_json::from_str(&to)
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into()))?,
                subject: r.get(2)?,
                body: r.get(3)?,
                attachment_name: r.get(4)?,
                attachment: r.get(5)?,
                date: now,
            })
        },
    )?)
}

/// The crash test's seam: with `METERDESK_PAUSE_AFTER_ACCEPT=FILE`, once the
/// server accepted a message and before it is marked sent, the process writes
/// the Message-ID to FILE and stops there for good, so the test can kill it
/// (SIGKILL) at exactly that point.
pub const PAUSE_AFTER_ACCEPT_VAR: &str = "METERDESK_PAUSE_AFTER_ACCEPT";

fn pause_after_acceptance(outgoing: &Outgoing, outcome: &std::result::Result<String, SendError>) {
    let Some(file) = std::env::var_os(PAUSE_AFTER_ACCEPT_VAR) else { return };
    if outcome.is_ok() && std::fs::write(file, &outgoing.message_id).is_ok() {
        loop {
            std::thread::park();
        }
    }
}

/// "Sent … to …" in the audit trail of the invoice (or customer) a message is about.
fn audit_sent(tx: &Transaction, id: i64, now: DateTime<Utc>) -> Result<()> {
    let (document, kind, level, to, message_id, customer): (String, String, u32, String, String, String) = tx
        .query_row(
            "SELECT document, kind, level, recipients, message_id, customer FROM outbox WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?;
    let to: Vec<String> = serde_json::from_str(&to).map_err(|e| Error::Internal(e.to_string()))?;
    // Invoices and reminders are about their invoice; a credit note about the invoice it corrects.
    let subject: String = match kind.as_str() {
        "credit_note" => tx
            .query_row(
                "SELECT i.number FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE c.number = ?1",
                [&document],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(document.clone()),
        "statement" => customer,
        _ => document.clone(),
    };
    tx.execute(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, 'sent', ?2, ?3, (SELECT name FROM temp.session_actor))",
        params![
            time_text(now),
            subject,
            serde_json::json!({
                "document": document, "kind": kind, "level": level, "to": to.join(", "), "message_id": message_id
            })
            .to_string()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts everything and, while it has a message, looks
    /// whether another could take the workspace's delivery lock.
    struct Probe {
        lock_file: std::path::PathBuf,
        held_while_sending: Vec<bool>,
    }

    impl Transport for Probe {
        fn send(&mut self, _: &Outgoing) -> std::result::Result<String, SendError> {
            let other = std::fs::OpenOptions::new().write(true).open(&self.lock_file).unwrap();
            let held = matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock));
            self.held_while_sending.push(held);
            Ok("250 ok".into())
        }
    }

    #[test]
    fn a_delivery_holds_the_workspaces_lock_while_a_server_has_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.meterdesk");
        let mut ws = Workspace::create(&path).unwrap();
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 2, 15, 0, 0).unwrap();
        let ids: Vec<i64> = ws
            .write(|tx| {
                (0..3)
                    .map(|n| {
                        let message = Message {
                            document: format!("INV-{n}"),
                            kind: Kind::Invoice,
                            level: 0,
                            customer: "c".into(),
                            to: vec!["ap@c.test".into()],
                            subject: "s".into(),
                            body: "b".into(),
                            attachment_name: "a.pdf".into(),
                            attachment: vec![1, 2, 3],
                        };
                        queue(tx, &message, "acme.test", now).map(|e| e.id)
                    })
                    .collect()
            })
            .unwrap();
        let lock_file = dir.path().join("w.meterdesk.sending");
        let mut probe = Probe { lock_file: lock_file.clone(), held_while_sending: Vec::new() };
        let sent = deliver(&mut ws, &ids, &mut probe, now).unwrap();
        assert!(sent.iter().all(|e| e.status == Status::Sent));
        assert_eq!(probe.held_while_sending, [true, true, true], "another delivery waits");
        // Released once the delivery is done (and by the system if the process dies).
        let after = std::fs::OpenOptions::new().write(true).open(&lock_file).unwrap();
        assert!(after.try_lock().is_ok());
    }
}
