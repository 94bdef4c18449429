//! Sending documents by e-mail (docs/billing.md "Payments, reminders and
//! sending"): an invoice or credit note with its PDF, the reminders of
//! overdue invoices, through the outbox. Each message is written from the
//! workspace's templates and queued before it is handed to the server.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::outbox::{self, Kind, Message, Status, Transport};
use crate::register::{self, Standing};
use crate::settings::{self, MailSettings};
use crate::text::group_digits;
use crate::workspace::Workspace;

/// What `invoice send` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SendReport {
    pub document: String,
    pub to: Vec<String>,
    pub message_id: String,
    /// `sent`, or `queued` when the server did not take it (see `error`).
    pub status: Status,
    pub error: Option<String>,
}

impl SendReport {
    fn of(entry: outbox::Entry) -> SendReport {
        SendReport {
            document: entry.document,
            to: entry.to,
            message_id: entry.message_id,
            status: entry.status,
            error: entry.last_error,
        }
    }
}

/// The workspace's mail settings, or what to do without them.
pub fn mail_settings(conn: &Connection) -> Result<MailSettings> {
    settings::get(conn)?.mail.ok_or_else(|| {
        Error::invalid("mail", "set up sending first: the mail server and sender in Settings (workspace.mail)")
    })
}

/// The domain of the sender's address (the Message-IDs' right side).
fn sender_domain(mail: &MailSettings) -> String {
    meterdesk_rules::mail::sender(&mail.from)
        .and_then(|(_, address)| address.split_once('@').map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| "meterdesk.invalid".into())
}

/// A customer's billing addresses (its e-mail field, one or several).
fn billing_addresses(conn: &Connection, customer: &str) -> Result<Vec<String>> {
    let found = crate::customer::get(conn, customer)?;
    Ok(found.and_then(|c| c.fields.email).map(|e| meterdesk_rules::mail::addresses(&e)).unwrap_or_default())
}

/// `to` when given, else `customer`'s billing addresses.
fn recipients(conn: &Connection, customer: &str, to: Option<Vec<String>>) -> Result<Vec<String>> {
    match to {
        Some(to) => Ok(to),
        None => billing_addresses(conn, customer),
    }
}

/// The subject and body of a `kind` message: its template, filled with `values`.
fn written(mail: &MailSettings, kind: Kind, values: &[(&str, String)]) -> (String, String) {
    let template = mail.templates.of(kind);
    (meterdesk_rules::mail::fill(&template.subject, values), meterdesk_rules::mail::fill(&template.body, values))
}

/// Queues the message `compose` writes (in the same transaction) and hands
/// it to `transport`: sent, or left queued with the server's error.
fn queue_and_deliver(
    ws: &mut Workspace,
    transport: &mut dyn Transport,
    now: DateTime<Utc>,
    compose: impl FnOnce(&rusqlite::Transaction) -> Result<Message>,
) -> Result<SendReport> {
    let entry = ws.write(|tx| {
        let mail = mail_settings(tx)?;
        let message = compose(tx)?;
        outbox::queue(tx, &message, &sender_domain(&mail), now)
    })?;
    let mut sent = outbox::deliver(ws, &[entry.id], transport, now)?;
    Ok(SendReport::of(sent.remove(0)))
}

fn amount(value: rust_decimal::Decimal, currency: &str) -> String {
    format!("{} {currency}", group_digits(&value.to_string()))
}

/// The message that sends the invoice or credit note `number`, to `to` or
/// else the customer's billing addresses.
pub fn compose(conn: &Connection, number: &str, to: Option<Vec<String>>) -> Result<Message> {
    let settings = settings::get(conn)?;
    let mail = mail_settings(conn)?;
    let company = settings.company_name.clone();
    let attachment = crate::pdf::document(conn, number, None)?;
    let (kind, customer, values) = if let Some(invoice) = crate::invoice::get(conn, number)? {
        let d = &invoice.frozen.draft;
        if invoice.void_reason.is_some() {
            return Err(Error::Conflict(format!("{number} is void: it is not sent")));
        }
        let values = vec![
            ("number", number.to_string()),
            ("amount", amount(d.amount_due.0, &d.currency)),
            ("due_date", invoice.frozen.due_date.to_string()),
            ("customer", invoice.frozen.buyer.name.clone()),
            ("company", company),
        ];
        (Kind::Invoice, d.customer.clone(), values)
    } else if let Some(note) = crate::credit::get(conn, number)? {
        let invoice = crate::invoice::get(conn, &note.invoice)?
            .ok_or_else(|| Error::Internal(format!("{number} credits {}, which is missing", note.invoice)))?;
        let values = vec![
            ("number", number.to_string()),
            ("amount", amount(note.total.0, &note.currency)),
            ("invoice", note.invoice.clone()),
            ("customer", invoice.frozen.buyer.name.clone()),
            ("company", company),
        ];
        (Kind::CreditNote, note.customer.clone(), values)
    } else {
        return Err(Error::NotFound(format!("no invoice or credit note {number}")));
    };
    let (subject, body) = written(&mail, kind, &values);
    Ok(Message {
        document: number.to_string(),
        kind,
        level: 0,
        to: recipients(conn, &customer, to)?,
        customer,
        subject,
        body,
        attachment_name: format!("{number}.pdf"),
        attachment,
    })
}

/// Queues the invoice or credit note `number` and hands it to `transport`:
/// sent, or left queued with the server's error.
pub fn send_document(
    ws: &mut Workspace,
    number: &str,
    to: Option<Vec<String>>,
    transport: &mut dyn Transport,
    now: DateTime<Utc>,
) -> Result<SendReport> {
    queue_and_deliver(ws, transport, now, |tx| compose(tx, number, to))
}

/// The message that sends `customer`'s statement from `from` to `to`, issued `today`.
pub fn compose_statement(
    conn: &Connection,
    customer: &str,
    (from, to_day): (NaiveDate, NaiveDate),
    today: NaiveDate,
    to: Option<Vec<String>>,
) -> Result<Message> {
    let settings = settings::get(conn)?;
    let mail = mail_settings(conn)?;
    let (statement, attachment) = crate::pdf::statement_document(conn, customer, from, to_day, today)?;
    let owed: Vec<String> = statement.currencies.iter().map(|c| amount(c.total_owed.0, &c.currency)).collect();
    let values = vec![
        ("from", from.to_string()),
        ("to", to_day.to_string()),
        ("amount", if owed.is_empty() { "nothing".to_string() } else { owed.join(" and ") }),
        ("customer", statement.customer_name.clone()),
        ("company", settings.company_name),
    ];
    let (subject, body) = written(&mail, Kind::Statement, &values);
    let key = crate::statement::key(&statement);
    Ok(Message {
        attachment_name: format!("{key}.pdf"),
        document: key,
        kind: Kind::Statement,
        level: 0,
        to: recipients(conn, customer, to)?,
        customer: customer.to_string(),
        subject,
        body,
        attachment,
    })
}

/// Queues `customer`'s statement from `from` to `to` and hands it to
/// `transport` (once per customer and range).
pub fn send_statement(
    ws: &mut Workspace,
    customer: &str,
    range: (NaiveDate, NaiveDate),
    to: Option<Vec<String>>,
    transport: &mut dyn Transport,
    now: DateTime<Utc>,
) -> Result<SendReport> {
    queue_and_deliver(ws, transport, now, |tx| {
        let today = settings::today(tx, now)?;
        compose_statement(tx, customer, range, today, to)
    })
}

/// Hands every message not sent yet to the server, oldest first, over
/// `lanes` connections at once.
pub fn retry(ws: &mut Workspace, lanes: &mut [&mut dyn Transport], now: DateTime<Utc>) -> Result<Vec<outbox::Entry>> {
    let mut ids: Vec<i64> = outbox::list(ws.conn(), true)?.iter().map(|e| e.id).collect();
    ids.reverse();
    outbox::deliver_in_lanes(ws, &ids, lanes, now)
}

/// A reminder that is due, or was just sent (`reminders run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "ReminderDue")]
pub struct Reminder {
    pub invoice: String,
    pub customer: String,
    pub customer_name: String,
    /// 1 for the first level, …
    pub level: u32,
    /// The level's days after the due date.
    pub days: u32,
    pub days_overdue: i64,
    pub owed: crate::money::Dec,
    pub currency: String,
    pub to: Vec<String>,
    /// `queued` in a preview; after a run, `sent`, or `queued` with its error.
    pub status: Status,
    pub error: Option<String>,
}

/// The reminders a run on `on` would send: for each invoice with something
/// owed past its due date, the highest level reached that it has not had
/// (docs/billing.md "Payments, reminders and sending"), oldest invoice first.
pub fn reminders_due(conn: &Connection, on: NaiveDate) -> Result<Vec<Reminder>> {
    let days = settings::get(conn)?.reminder_days;
    let mut sent: std::collections::HashMap<String, Vec<u32>> = std::collections::HashMap::new();
    let mut stmt = conn.prepare("SELECT document, level FROM outbox WHERE kind = 'reminder'")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
        let (document, level) = row?;
        sent.entry(document).or_default().push(level);
    }
    let mut out = Vec::new();
    let mut entries = register::entries(conn, on)?;
    entries.reverse();
    for e in entries {
        if e.standing != Standing::Overdue || e.outstanding.0 <= rust_decimal::Decimal::ZERO {
            continue;
        }
        let days_overdue = (on - e.due_date).num_days();
        let had = sent.get(&e.number).map(Vec::as_slice).unwrap_or_default();
        let Some(level) = meterdesk_rules::mail::reminder_due(&days, days_overdue, had) else { continue };
        out.push(Reminder {
            invoice: e.number.clone(),
            to: billing_addresses(conn, &e.customer)?,
            customer: e.customer,
            customer_name: e.customer_name,
            level,
            days: days[level as usize - 1],
            days_overdue,
            owed: e.outstanding,
            currency: e.currency,
            status: Status::Queued,
            error: None,
        });
    }
    Ok(out)
}

/// The reminder message of `reminder`, with the invoice attached.
fn compose_reminder(conn: &Connection, reminder: &Reminder, mail: &MailSettings) -> Result<Message> {
    let settings = settings::get(conn)?;
    let invoice = crate::invoice::get(conn, &reminder.invoice)?
        .ok_or_else(|| Error::NotFound(format!("no invoice {}", reminder.invoice)))?;
    let values = vec![
        ("number", reminder.invoice.clone()),
        ("amount", amount(reminder.owed.0, &reminder.currency)),
        ("due_date", invoice.frozen.due_date.to_string()),
        ("days_overdue", reminder.days_overdue.to_string()),
        ("level", reminder.level.to_string()),
        ("customer", invoice.frozen.buyer.name.clone()),
        ("company", settings.company_name),
    ];
    let (subject, body) = written(mail, Kind::Reminder, &values);
    Ok(Message {
        document: reminder.invoice.clone(),
        kind: Kind::Reminder,
        level: reminder.level,
        customer: reminder.customer.clone(),
        to: reminder.to.clone(),
        subject,
        body,
        attachment_name: format!("{}.pdf", reminder.invoice),
        attachment: crate::pdf::document(conn, &reminder.invoice, None)?,
    })
}

/// Sends the reminders due on `on` over `lanes` connections at once (those
/// of customers without a billing address are reported, not queued); each
/// level goes once per invoice.
pub fn run_reminders(
    ws: &mut Workspace,
    on: NaiveDate,
    lanes: &mut [&mut dyn Transport],
    now: DateTime<Utc>,
) -> Result<Vec<Reminder>> {
    let (mut due, ids) = ws.write(|tx| {
        let mail = mail_settings(tx)?;
        let domain = sender_domain(&mail);
        let mut due = reminders_due(tx, on)?;
        let mut ids = Vec::new();
        for reminder in &mut due {
            if reminder.to.is_empty() {
                reminder.error = Some(format!(
                    "customer {} has no billing e-mail address: add one on the customer's page",
                    reminder.customer
                ));
                ids.push(None);
                continue;
            }
            let message = compose_reminder(tx, reminder, &mail)?;
            ids.push(Some(outbox::queue(tx, &message, &domain, now)?.id));
        }
        Ok((due, ids))
    })?;
    let delivered = outbox::deliver_in_lanes(ws, &ids.iter().flatten().copied().collect::<Vec<_>>(), lanes, now)?;
    let mut delivered = delivered.into_iter();
    for (reminder, id) in due.iter_mut().zip(ids) {
        if id.is_some()
            && let Some(entry) = delivered.next()
        {
            reminder.status = entry.status;
            reminder.error = entry.last_error;
        }
    }
    Ok(due)
}

#[cfg(test)]
#[path = "../../../tests/support/smtp.rs"]
mod smtp_support;

#[cfg(test)]
mod tests {
    use super::smtp_support::{Secure, SmtpServer, free_port};
    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::outbox::smtp::{Secrets, Smtp};
    use crate::settings::{Security, Templates};
    use chrono::TimeZone;
    use mail_parser::MimeHeaders;

    const PASSWORD: &str = "s3cret pass";

    /// Globex (two billing addresses) with its October invoice, INV-2026-00001,
    /// 354.76 USD due 2026-12-02, and mail through `port`.
    fn workspace(port: u16, security: Security) -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        apply(
            &mut ws,
            &CATALOG.replace(
                r#""name": "Globex Corp","#,
                r#""name": "Globex Corp", "email": "ap@globex.test; cfo@globex.test","#,
            ),
        );
        october(&mut ws);
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at).unwrap();
        let mut s = settings::get(ws.conn()).unwrap();
        s.mail = Some(MailSettings {
            host: "localhost".into(),
            port,
            security,
            username: Some("billing".into()),
            from: "Acme AI Billing <billing@acme.test>".into(),
            templates: Templates::default(),
        });
        ws.write(|tx| settings::update(tx, s)).unwrap();
        ws
    }

    fn smtp(ws: &Workspace, server: Option<&SmtpServer>, password: &str) -> Smtp {
        let secrets =
            Secrets { password: Some(password.into()), extra_root_pem: server.map(|s| s.ca_pem.clone().into_bytes()) };
        Smtp::new(&mail_settings(ws.conn()).unwrap(), &secrets).unwrap()
    }

    /// A bank transfer of `amount` for INV-2026-00001, received on 2026-12-05.
    fn pay(ws: &mut Workspace, amount: &str) {
        let fields = crate::payment::PaymentFields {
            amount: amount.into(),
            date: "2026-12-05".into(),
            method: "bank_transfer".into(),
            reference: "GLOBEX-1".into(),
        };
        ws.write(|tx| crate::invoice::pay(tx, "INV-2026-00001", &fields, at(5, 12))).unwrap();
    }

    fn at(day: u32, month: u32) -> DateTime<Utc> {
        let year = if month >= 11 { 2026 } else { 2027 };
        Utc.with_ymd_and_hms(year, month, day, 9, 0, 0).unwrap()
    }

    #[test]
    fn an_invoice_goes_to_the_billing_addresses_over_starttls_with_its_pdf_once() {
        let server = SmtpServer::start(Secure::Starttls, Some(("billing", PASSWORD)));
        let mut ws = workspace(server.port, Security::Starttls);
        let mut transport = smtp(&ws, Some(&server), PASSWORD);
        let report = send_document(&mut ws, "INV-2026-00001", None, &mut transport, at(3, 11)).unwrap();
        assert_eq!((report.status, report.error.as_deref()), (Status::Sent, None), "{report:?}");
        assert_eq!(report.to, ["ap@globex.test", "cfo@globex.test"]);

        let received = server.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].rcpt, ["ap@globex.test", "cfo@globex.test"]);
        let parsed = mail_parser::MessageParser::default().parse(&received[0].raw).unwrap();
        assert_eq!(parsed.subject(), Some("Invoice INV-2026-00001 from Acme AI"));
        assert_eq!(format!("<{}>", parsed.message_id().unwrap()), report.message_id);
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!((from.name(), from.address()), (Some("Acme AI Billing"), Some("billing@acme.test")));
        let body = parsed.body_text(0).unwrap();
        assert!(
            body.contains("please find attached invoice INV-2026-00001 for 354.76 USD, due on 2026-12-02."),
            "{body}"
        );
        let pdf = parsed.attachment(0).unwrap();
        assert_eq!(pdf.attachment_name(), Some("INV-2026-00001.pdf"));
        assert_eq!(pdf.contents(), crate::pdf::document(ws.conn(), "INV-2026-00001", None).unwrap().as_slice());

        let entry = outbox::find(ws.conn(), "INV-2026-00001", Kind::Invoice, 0).unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts), (Status::Sent, 1));
        assert!(entry.server_reply.as_deref().unwrap().starts_with("250 2.0.0 Ok: queued as T000001"), "{entry:?}");
        let trail = register::trail(ws.conn(), "INV-2026-00001").unwrap();
        let sent = trail.iter().find(|t| t.action == "sent").unwrap();
        assert_eq!(
            sent.sentence,
            format!("Sent invoice INV-2026-00001 to ap@globex.test, cfo@globex.test ({}).", report.message_id)
        );

        // Never twice: a second send is refused, says when and to whom, and nothing goes out.
        let again = send_document(&mut ws, "INV-2026-00001", None, &mut transport, at(4, 11)).unwrap_err();
        assert!(
            again.to_string().contains("already sent on 2026-11-03 09:00 UTC to ap@globex.test, cfo@globex.test"),
            "{again}"
        );
        assert_eq!(server.received().len(), 1);
        // A void invoice, an unknown number: refused with their reasons.
        assert!(matches!(
            send_document(&mut ws, "INV-2026-09999", None, &mut transport, at(4, 11)),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn a_server_down_a_refused_login_and_an_untrusted_certificate_leave_the_message_queued_with_why() {
        let down = free_port();
        let mut ws = workspace(down, Security::Starttls);
        let mut t = smtp(&ws, None, PASSWORD);
        let report = send_document(&mut ws, "INV-2026-00001", None, &mut t, at(3, 11)).unwrap();
        assert_eq!(report.status, Status::Queued);
        let why = report.error.unwrap();
        assert!(why.contains(&format!("the mail server localhost:{down} could not be reached")), "{why}");
        let listed = outbox::list(ws.conn(), true).unwrap();
        assert_eq!((listed.len(), listed[0].attempts, listed[0].status), (1, 1, Status::Queued));

        // The server comes up with a login; a wrong password is refused, and said so.
        let server = SmtpServer::start(Secure::Starttls, Some(("billing", PASSWORD)));
        let mut s = settings::get(ws.conn()).unwrap();
        s.mail.as_mut().unwrap().port = server.port;
        ws.write(|tx| settings::update(tx, s)).unwrap();
        let mut t = smtp(&ws, Some(&server), "wrong");
        let after = retry(&mut ws, &mut [&mut t], at(3, 11)).unwrap();
        let why = after[0].last_error.clone().unwrap();
        assert!(why.contains("refused the login (535") && why.contains("check the username and password"), "{why}");
        // Without trusting the server's certificate, the secure connection fails.
        let mut t = smtp(&ws, None, PASSWORD);
        let after = retry(&mut ws, &mut [&mut t], at(3, 11)).unwrap();
        let why = after[0].last_error.clone().unwrap();
        assert!(why.contains("the secure connection to the mail server localhost:"), "{why}");
        assert!(server.received().is_empty());
        // Right at last: sent, on its fourth attempt, with the Message-ID it was queued with.
        let mut t = smtp(&ws, Some(&server), PASSWORD);
        let after = retry(&mut ws, &mut [&mut t], at(3, 11)).unwrap();
        assert_eq!((after[0].status, after[0].attempts, after[0].last_error.as_deref()), (Status::Sent, 4, None));
        assert_eq!(after[0].message_id, report.message_id);
        assert_eq!(server.received().len(), 1);
        // Nothing left to retry.
        assert!(retry(&mut ws, &mut [&mut t], at(4, 11)).unwrap().is_empty());
        assert_eq!(server.received().len(), 1);
    }

    #[test]
    fn waiting_messages_go_over_several_connections_at_once_each_once() {
        let mut ws = workspace(free_port(), Security::Starttls);
        // Four messages wait while the server is down: the invoice, two credit notes, a statement.
        for reason in ["Goodwill", "Outage"] {
            let amount = crate::credit::Request::Amount(rust_decimal::Decimal::new(500, 2));
            ws.write(|tx| crate::credit::issue(tx, "INV-2026-00001", reason, &amount, at(3, 11))).unwrap();
        }
        let mut down = smtp(&ws, None, PASSWORD);
        for number in ["INV-2026-00001", "CN-2026-00001", "CN-2026-00002"] {
            assert_eq!(send_document(&mut ws, number, None, &mut down, at(3, 11)).unwrap().status, Status::Queued);
        }
        let range = (at(1, 11).date_naive(), at(30, 11).date_naive());
        assert_eq!(
            send_statement(&mut ws, "globex", range, None, &mut down, at(3, 11)).unwrap().status,
            Status::Queued
        );
        let server = SmtpServer::start(Secure::Starttls, Some(("billing", PASSWORD)));
        let mut s = settings::get(ws.conn()).unwrap();
        s.mail.as_mut().unwrap().port = server.port;
        ws.write(|tx| settings::update(tx, s)).unwrap();
        let mut lanes: Vec<Smtp> = (0..3).map(|_| smtp(&ws, Some(&server), PASSWORD)).collect();
        let mut refs: Vec<&mut dyn Transport> = lanes.iter_mut().map(|t| t as &mut dyn Transport).collect();
        let sent = retry(&mut ws, &mut refs, at(4, 11)).unwrap();
        let documents: Vec<&str> = sent.iter().map(|e| e.document.as_str()).collect();
        assert_eq!(documents, ["INV-2026-00001", "CN-2026-00001", "CN-2026-00002", "ST-globex-2026-11-01-2026-11-30"]);
        assert!(sent.iter().all(|e| e.status == Status::Sent && e.attempts == 2), "{sent:?}");
        let mut ids: Vec<String> = server
            .received()
            .iter()
            .map(|r| mail_parser::MessageParser::default().parse(&r.raw).unwrap().message_id().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "each message once");
        let subjects: Vec<String> = server
            .received()
            .iter()
            .map(|r| mail_parser::MessageParser::default().parse(&r.raw).unwrap().subject().unwrap().to_string())
            .collect();
        assert!(subjects.contains(&"Credit note CN-2026-00002 from Acme AI".to_string()), "{subjects:?}");
        assert!(subjects.contains(&"Statement of account from Acme AI".to_string()), "{subjects:?}");
        // The credit notes' sending is in their invoice's trail.
        let trail = register::trail(ws.conn(), "INV-2026-00001").unwrap();
        assert!(trail.iter().any(|t| t.sentence.starts_with("Sent credit note CN-2026-00002 to ap@globex.test")));
    }

    #[test]
    fn reminders_go_once_per_level_while_something_is_owed() {
        let server = SmtpServer::start(Secure::Implicit, Some(("billing", PASSWORD)));
        let mut ws = workspace(server.port, Security::Tls);
        let mut transport = smtp(&ws, Some(&server), PASSWORD);
        let on = |d, m| at(d, m).date_naive();
        // Due 2026-12-02: nothing before 7 days past it.
        assert!(reminders_due(ws.conn(), on(8, 12)).unwrap().is_empty());
        let due = reminders_due(ws.conn(), on(9, 12)).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].invoice.as_str(), due[0].level, due[0].days, due[0].days_overdue),
            ("INV-2026-00001", 1, 7, 7)
        );
        assert_eq!(due[0].owed.to_string(), "354.76");
        // Paid in part: still reminded, of what is left.
        pay(&mut ws, "100.00");
        let sent = run_reminders(&mut ws, on(9, 12), &mut [&mut transport], at(9, 12)).unwrap();
        assert_eq!((sent.len(), sent[0].status, sent[0].level), (1, Status::Sent, 1), "{sent:?}");
        let received = server.received();
        let parsed = mail_parser::MessageParser::default().parse(&received[0].raw).unwrap();
        assert_eq!(parsed.subject(), Some("Reminder: invoice INV-2026-00001 is overdue"));
        let body = parsed.body_text(0).unwrap();
        assert!(
            body.contains("254.76 USD still owed on invoice INV-2026-00001, which was due on 2026-12-02 (7 days ago)"),
            "{body}"
        );
        // The same day again, and until the next level: nothing.
        assert!(run_reminders(&mut ws, on(9, 12), &mut [&mut transport], at(9, 12)).unwrap().is_empty());
        assert!(reminders_due(ws.conn(), on(22, 12)).unwrap().is_empty());
        // A run 49 days past due sends the third level, not the second it missed.
        let sent = run_reminders(&mut ws, on(20, 1), &mut [&mut transport], at(20, 1)).unwrap();
        assert_eq!((sent.len(), sent[0].level), (1, 3));
        assert!(reminders_due(ws.conn(), on(28, 2)).unwrap().is_empty(), "every level had");
        assert_eq!(server.received().len(), 2);
        let trail = register::trail(ws.conn(), "INV-2026-00001").unwrap();
        let sentences: Vec<&str> = trail.iter().filter(|t| t.action == "sent").map(|t| t.sentence.as_str()).collect();
        assert_eq!(sentences.len(), 2);
        assert!(
            sentences[1].starts_with("Sent reminder 3 of INV-2026-00001 to ap@globex.test, cfo@globex.test"),
            "{sentences:?}"
        );
    }

    #[test]
    fn paid_credited_and_unaddressed_invoices_get_no_reminder() {
        let mut ws = workspace(free_port(), Security::None);
        pay(&mut ws, "354.76");
        assert!(reminders_due(ws.conn(), at(20, 1).date_naive()).unwrap().is_empty());
        // A customer without a billing address: reported by the run, nothing queued.
        let mut ws = workspace(free_port(), Security::None);
        ws.write(|tx| {
            tx.execute("UPDATE customers SET email = NULL WHERE external_id = 'globex'", [])?;
            Ok(())
        })
        .unwrap();
        let mut transport = smtp(&ws, None, PASSWORD);
        let ran = run_reminders(&mut ws, at(9, 12).date_naive(), &mut [&mut transport], at(9, 12)).unwrap();
        assert_eq!(ran.len(), 1);
        assert!(ran[0].error.as_deref().unwrap().contains("has no billing e-mail address"), "{ran:?}");
        assert!(outbox::list(ws.conn(), false).unwrap().is_empty());
    }
}
