//! The invoice register: what the Invoices page lists (each finalized
//! invoice's standing and what is still owed), the review before a batch
//! finalize (each draft with its warnings), finalizing exactly what was
//! reviewed, and a document's audit trail.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::bill::{self, Draft, Kind};
use crate::credit::{self, CreditNote};
use crate::error::{Error, Result};
use crate::invoice::{self, Invoice};
use crate::money::Dec;
use crate::period::Month;
use crate::rating::LineKind;
use crate::workspace::Workspace;

/// Where a finalized invoice stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Finalized, not yet due.
    Open,
    /// Something still owed after its due date.
    Overdue,
    /// Not yet due, and paid in part.
    PartiallyPaid,
    Paid,
    /// Credit notes cover its whole total.
    Credited,
    Void,
}

/// One row of the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Entry {
    pub number: String,
    pub kind: Kind,
    pub customer: String,
    pub customer_name: String,
    pub subscription: String,
    pub plan: String,
    #[ts(type = "string")]
    pub first_day: NaiveDate,
    #[ts(type = "string")]
    pub last_day: NaiveDate,
    #[ts(type = "string")]
    pub issue_date: NaiveDate,
    #[ts(type = "string")]
    pub due_date: NaiveDate,
    pub currency: String,
    pub total: Dec,
    /// Tax included, by the invoice's credit notes.
    pub credited: Dec,
    /// By the payments that stand.
    pub paid: Dec,
    /// What the customer still owes: the amount due less credit notes and
    /// payments; none once paid or void.
    pub outstanding: Dec,
    /// What credit notes may still take off: the total less what they did
    /// (none on a void invoice).
    pub left_to_credit: Dec,
    pub standing: Standing,
}

/// An invoice with where it stands: what its payments came to, what is
/// still owed and its standing (what `invoice pay` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Settlement {
    #[serde(flatten)]
    #[ts(flatten)]
    pub invoice: Invoice,
    /// By the payments that stand.
    pub paid_amount: Dec,
    pub outstanding: Dec,
    pub standing: Standing,
}

impl Standing {
    /// As `invoice list` prints it (`partially_paid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Open => "open",
            Standing::Overdue => "overdue",
            Standing::PartiallyPaid => "partially_paid",
            Standing::Paid => "paid",
            Standing::Credited => "credited",
            Standing::Void => "void",
        }
    }
}

/// Where `invoice` stands on `today`.
pub fn settlement(conn: &Connection, invoice: Invoice, today: NaiveDate) -> Result<Settlement> {
    let number = invoice.frozen.draft.number.clone().unwrap_or_default();
    let credited: Decimal = credit::of_invoice(conn, &number)?.iter().map(|n| n.total.0).sum();
    let e = entry(&invoice, "", credited, today);
    Ok(Settlement { invoice, paid_amount: e.paid, outstanding: e.outstanding, standing: e.standing })
}

/// The credited totals per invoice number.
fn credited_by_invoice(conn: &Connection) -> Result<HashMap<String, Decimal>> {
    let mut stmt =
        conn.prepare("SELECT i.number, c.total FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id")?;
    let mut out: HashMap<String, Decimal> = HashMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (number, total) = row?;
        let total: Decimal =
            total.parse().map_err(|e| Error::Internal(format!("a stored credit total \"{total}\": {e}")))?;
        *out.entry(number).or_default() += total;
    }
    Ok(out)
}

/// An invoice's row, given what its credit notes took off (tax included) and
/// the day it is judged on. What they gave back to the wallet does not lower
/// what is owed.
pub fn entry(invoice: &Invoice, customer_name: &str, credited: Decimal, today: NaiveDate) -> Entry {
    let f = &invoice.frozen;
    let d = &f.draft;
    let paid = crate::payment::standing_total(&invoice.payments);
    // One rule (docs/billing.md "Payments, reminders and sending"), first match wins.
    let standing = if invoice.void_reason.is_some() {
        Standing::Void
    } else if invoice.paid.is_some() {
        Standing::Paid
    } else if credited > Decimal::ZERO
        && (credited >= d.total.0 || (d.dues().owed_after(credited) <= Decimal::ZERO && paid.is_zero()))
    {
        // Nothing owed after its credit notes.
        Standing::Credited
    } else if d.amount_due.0 <= Decimal::ZERO {
        // Paid in full by wallet credits at finalize, or nothing to pay.
        Standing::Paid
    } else if invoice.is_overdue(today) {
        Standing::Overdue
    } else if paid > Decimal::ZERO {
        Standing::PartiallyPaid
    } else {
        Standing::Open
    };
    let outstanding = match standing {
        Standing::Open | Standing::Overdue | Standing::PartiallyPaid => {
            (d.dues().owed_after(credited) - paid).max(Decimal::ZERO)
        }
        _ => Decimal::ZERO,
    };
    // Keep the currency's scale on the zero amounts too ("0.00").
    let scale = d.total.0.scale();
    let scaled = |mut v: Decimal| {
        v.rescale(scale);
        Dec(v)
    };
    Entry {
        number: d.number.clone().unwrap_or_default(),
        kind: d.kind,
        customer: d.customer.clone(),
        customer_name: customer_name.to_string(),
        subscription: d.subscription.clone(),
        plan: d.plan.clone(),
        first_day: d.first_day,
        last_day: d.last_day,
        issue_date: f.issue_date,
        due_date: f.due_date,
        currency: d.currency.clone(),
        total: d.total,
        credited: scaled(credited),
        paid: scaled(paid),
        outstanding: scaled(outstanding),
        left_to_credit: scaled(if standing == Standing::Void { Decimal::ZERO } else { d.total.0 - credited }),
        standing,
    }
}

/// Every finalized invoice, newest first, as it stands on `today`.
pub fn entries(conn: &Connection, today: NaiveDate) -> Result<Vec<Entry>> {
    entries_from(conn, invoice::all(conn)?, today)
}

/// One customer's finalized invoices, newest first, as they stand on `today`.
pub fn entries_of(conn: &Connection, customer: &str, today: NaiveDate) -> Result<Vec<Entry>> {
    entries_from(conn, invoice::of_customer(conn, customer)?, today)
}

/// The register's rows of `invoices`, with what their credit notes took off.
fn entries_from(conn: &Connection, invoices: Vec<Invoice>, today: NaiveDate) -> Result<Vec<Entry>> {
    let credited = credited_by_invoice(conn)?;
    Ok(invoices
        .iter()
        .map(|inv| {
            let number = inv.frozen.draft.number.as_deref().unwrap_or_default();
            let c = credited.get(number).copied().unwrap_or_default();
            entry(inv, &inv.frozen.buyer.name, c, today)
        })
        .collect())
}

/// A finalized invoice as its page shows it: the frozen invoice, where it
/// stands, its credit notes and its audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct InvoiceDetail {
    pub invoice: Invoice,
    pub entry: Entry,
    pub credit_notes: Vec<CreditNote>,
    pub trail: Vec<AuditEntry>,
}

/// The invoice `number` as it stands on `today`.
pub fn detail(conn: &Connection, number: &str, today: NaiveDate) -> Result<InvoiceDetail> {
    let invoice =
        invoice::get(conn, number)?.ok_or_else(|| Error::NotFound(format!("no finalized invoice {number}")))?;
    let credit_notes = credit::of_invoice(conn, number)?;
    let credited = credit_notes.iter().map(|c| c.total.0).sum();
    let entry = entry(&invoice, &invoice.frozen.buyer.name, credited, today);
    Ok(InvoiceDetail { trail: trail(conn, number)?, invoice, entry, credit_notes })
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AuditEntry {
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    pub action: String,
    /// The document acted on: the invoice or one of its credit notes.
    pub subject: String,
    /// What was recorded, as `key: value` pairs in the order written.
    pub detail: Vec<(String, String)>,
    /// Who did it: the operating system's user of the console or the CLI
    /// (none for entries written before actors were recorded).
    pub actor: Option<String>,
    /// The entry as a sentence, for people: "Finalized INV-2026-00001 for
    /// globex: 354.76 USD."
    pub sentence: String,
}

/// An audit entry in words, from its action and what it recorded.
fn sentence(action: &str, subject: &str, detail: &[(String, String)]) -> String {
    let get = |k: &str| {
        detail.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty() && *v != "null")
    };
    let amount = |k: &str| get(k).map(crate::text::group_digits);
    match action {
        "finalize" => {
            let mut s = format!("Finalized {subject}");
            if get("kind") == Some("advance") {
                s.push_str(", the advance fees");
            } else if get("kind") == Some("adjustment") {
                s.push_str(", the late usage adjustment");
            }
            if let Some(c) = get("customer") {
                s.push_str(&format!(" for {c}"));
            }
            if let (Some(t), Some(cur)) = (amount("total"), get("currency")) {
                s.push_str(&format!(": {t} {cur}"));
            }
            if let Some(c) = amount("credits_applied").filter(|c| !c.trim_start_matches(['0', '.']).is_empty()) {
                s.push_str(&format!(", {c} of prepaid credit applied"));
            }
            if let Some(r) = get("replaces") {
                s.push_str(&format!(", replacing void {r}"));
            }
            if let Some(a) = get("adjusts") {
                s.push_str(&format!(", adjusting {a}"));
            }
            s + "."
        }
        "void" => format!("Voided {subject}{}.", get("note").map(|n| format!(": {n}")).unwrap_or_default()),
        "paid" => format!(
            "Recorded {subject} as paid{}{}.",
            get("date").map(|d| format!(" on {d}")).unwrap_or_default(),
            get("note").map(|n| format!(", reference {n}")).unwrap_or_default()
        ),
        "payment" => {
            let method = get("method").and_then(crate::payment::Method::parse).map(crate::payment::Method::words);
            let mut s = String::from("Recorded a payment");
            if let Some(p) = get("payment") {
                s.push_str(&format!(" (#{p})"));
            }
            if let (Some(a), Some(c)) = (amount("amount"), get("currency")) {
                s.push_str(&format!(" of {a} {c}"));
            }
            s.push_str(&format!(" on {subject}"));
            if let Some(d) = get("date") {
                s.push_str(&format!(", received {d}"));
            }
            if let Some(m) = method {
                s.push_str(&format!(" by {m}"));
            }
            if let Some(n) = get("note") {
                s.push_str(&format!(", reference {n}"));
            }
            match (amount("owed"), get("currency")) {
                (Some(o), Some(_)) if o.trim_start_matches(['0', '.']).is_empty() => s + ": paid in full.",
                (Some(o), Some(c)) => s + &format!(": {o} {c} still owed."),
                _ => s + ".",
            }
        }
        "sent" => {
            let document = get("document").unwrap_or(subject);
            let what = match get("kind") {
                Some("reminder") => format!("reminder {} of {document}", get("level").unwrap_or("?")),
                Some("credit_note") => format!("credit note {document}"),
                Some("statement") => "a statement".to_string(),
                _ => format!("invoice {document}"),
            };
            format!(
                "Sent {what} to {}{}.",
                get("to").unwrap_or("?"),
                get("message_id").map(|m| format!(" ({m})")).unwrap_or_default()
            )
        }
        "payment_reversed" => format!(
            "Reversed payment #{} of {subject}{}{}.",
            get("payment").unwrap_or("?"),
            match (amount("amount"), get("currency")) {
                (Some(a), Some(c)) => format!(" ({a} {c})"),
                _ => String::new(),
            },
            get("reason").map(|r| format!(": {r}")).unwrap_or_default()
        ),
        "credit" => {
            let mut s = format!("Issued credit note {subject}");
            if let Some(i) = get("invoice") {
                s.push_str(&format!(" on {i}"));
            }
            if let Some(t) = amount("total") {
                s.push_str(&format!(" for {t}"));
            }
            if let Some(c) = amount("credits_returned").filter(|c| !c.trim_start_matches(['0', '.']).is_empty()) {
                s.push_str(&format!(", {c} of prepaid credit returned to the wallet"));
            }
            if let Some(r) = amount("refund") {
                let to = if get("refund_to") == Some("wallet") {
                    "added to the wallet"
                } else {
                    "to refund to the customer"
                };
                s.push_str(&format!(", {r} overpaid {to}"));
            }
            s.push_str(&get("reason").map(|r| format!(": {r}.")).unwrap_or_else(|| ".".into()));
            s
        }
        "rollback_import" => format!(
            "Rolled back {subject}{}{}.",
            get("file").map(|f| format!(" ({f})")).unwrap_or_default(),
            get("events").map(|n| format!(": {} events removed", crate::text::group_digits(n))).unwrap_or_default()
        ),
        other => format!("{} {subject}.", other.replace('_', " ")),
    }
}

/// The audit trail of an invoice and its credit notes, oldest first.
pub fn trail(conn: &Connection, number: &str) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT at, action, subject, detail, actor FROM audit_log
         WHERE subject = ?1 OR (action = 'credit' AND json_extract(detail, '$.invoice') = ?1) ORDER BY id",
    )?;
    let rows = stmt.query_map([number], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (at, action, subject, detail, actor) = row?;
        let at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| Error::Internal(format!("a stored audit time \"{at}\": {e}")))?
            .with_timezone(&Utc);
        let detail = match serde_json::from_str::<serde_json::Value>(&detail) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect(),
            _ => vec![("detail".into(), detail)],
        };
        let sentence = sentence(&action, &subject, &detail);
        out.push(AuditEntry { at, action, subject, detail, actor, sentence });
    }
    Ok(out)
}

/// Why a draft deserves a second look before it is finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The period is already finalized: finalizing again is refused.
    AlreadyFinalized,
    /// The period has not begun: its invoice is refused until it has.
    NotBegun,
    /// The period has not ended: usage may still come.
    PeriodOpen,
    /// The plan has usage charges and none of them has any usage.
    ZeroUsage,
    /// Events of the customer in the period that no subscription covers.
    UnbilledEvents,
    /// Events that arrived after earlier periods of the customer were invoiced.
    LateEvents,
    /// Its amounts are too large to compute: finalizing is refused.
    CannotBeBilled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
    /// Finalizing would be refused.
    pub blocking: bool,
}

/// A draft as the review step shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Reviewed {
    pub draft: Draft,
    pub customer_name: String,
    pub warnings: Vec<Warning>,
    /// The wallet credits finalizing it would apply (a customer's drafts
    /// finalized in the order listed), and what would then be due.
    pub credits_applied: Dec,
    pub amount_due: Dec,
}

/// The drafts of `month` (every customer's, or one's) and what to
/// check before finalizing them, as of `now`.
pub fn review(
    ws: &mut Workspace,
    month: Month,
    customer: Option<&str>,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Vec<Reviewed>> {
    let drafts = bill::preview(ws, month, customer, kind)?;
    let conn = ws.conn();
    let mut late = conn.prepare_cached(
        "SELECT coalesce(sum(k.events), 0) FROM event_chunks k JOIN customers c ON c.id = k.customer_id
         WHERE c.external_id = ?1 AND k.late = 1",
    )?;
    let mut name = conn.prepare_cached("SELECT name FROM customers WHERE external_id = ?1")?;
    let mut out = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let customer_name: String = name.query_row([&draft.customer], |r| r.get(0))?;
        let mut warnings = Vec::new();
        if let Some(number) = crate::bill::finalized_as(conn, &draft)? {
            warnings.push(Warning {
                kind: WarningKind::AlreadyFinalized,
                message: format!("already finalized as {number}"),
                blocking: true,
            });
        }
        if let Some(problem) = &draft.problem {
            warnings.push(Warning { kind: WarningKind::CannotBeBilled, message: problem.clone(), blocking: true });
        }
        // What follows is about usage, which an advance invoice does not bill.
        if kind == Kind::Advance {
            out.push(Reviewed {
                draft,
                customer_name,
                warnings,
                credits_applied: Dec::default(),
                amount_due: Dec::default(),
            });
            continue;
        }
        if draft.period.start > now {
            warnings.push(Warning {
                kind: WarningKind::NotBegun,
                message: format!("the period starting {} has not begun", draft.first_day),
                blocking: true,
            });
        } else if draft.period.end > now {
            warnings.push(Warning {
                kind: WarningKind::PeriodOpen,
                message: format!("the period runs until {}: usage may still come", draft.last_day),
                blocking: false,
            });
        }
        let usage: Vec<_> = draft.lines.iter().filter(|l| l.kind == LineKind::Usage).collect();
        if !usage.is_empty() && usage.iter().all(|l| l.quantity.0.is_zero()) {
            warnings.push(Warning {
                kind: WarningKind::ZeroUsage,
                message: "no usage on any usage charge".into(),
                blocking: false,
            });
        }
        if draft.unbilled_events > 0 {
            warnings.push(Warning {
                kind: WarningKind::UnbilledEvents,
                message: format!("{} in the period outside every subscription", events_text(draft.unbilled_events)),
                blocking: false,
            });
        }
        let late_events: i64 = late.query_row([&draft.customer], |r| r.get(0))?;
        if late_events > 0 {
            warnings.push(Warning {
                kind: WarningKind::LateEvents,
                message: format!("{} arrived after earlier periods were invoiced", events_text(late_events as u64)),
                blocking: false,
            });
        }
        out.push(Reviewed {
            draft,
            customer_name,
            warnings,
            credits_applied: Dec::default(),
            amount_due: Dec::default(),
        });
    }
    drop((late, name));
    credits_ahead(ws, &mut out, now)?;
    Ok(out)
}

/// Fills in the credits each reviewed draft would take from its customer's
/// wallet and the amount then due, by planning the burns in a transaction
/// that is rolled back (planning settles expired grants first, which writes).
/// A customer's drafts share its wallet: each takes what the ones before it
/// in the list left.
fn credits_ahead(ws: &mut Workspace, out: &mut [Reviewed], now: DateTime<Utc>) -> Result<()> {
    ws.rehearse(|tx| {
        let tz = crate::settings::zone(tx)?;
        let mut planned: HashMap<String, Decimal> = HashMap::new();
        for r in out.iter_mut() {
            let d = &r.draft;
            let creditable = d.creditable();
            let before = planned.get(&d.customer).copied().unwrap_or_default();
            let applied = if r.warnings.iter().any(|w| w.blocking) || creditable <= Decimal::ZERO {
                Decimal::ZERO
            } else {
                let (customer_id, _) = crate::wallet::customer_row(tx, &d.customer)?;
                let burn = crate::wallet::plan_burn(tx, tz, customer_id, &d.currency, before + creditable, now)?;
                (burn.applied() - before).clamp(Decimal::ZERO, creditable)
            };
            planned.insert(d.customer.clone(), before + applied);
            let closing = meterdesk_rules::settle::close(creditable, d.total.0 - creditable, applied);
            r.credits_applied = Dec(closing.credits_applied);
            r.amount_due = Dec(closing.amount_due);
        }
        Ok(())
    })
}

fn events_text(n: u64) -> String {
    meterdesk_rules::text::count(n, "event", "events")
}

/// What an accounting row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Document {
    Invoice,
    CreditNote,
    /// The reversal of a void invoice, on the day it was voided.
    Void,
    /// Money received, on the day it came in.
    Payment,
    /// A payment taken back, on the day it was reversed.
    PaymentReversal,
}

impl Document {
    fn as_str(self) -> &'static str {
        match self {
            Document::Invoice => "invoice",
            Document::CreditNote => "credit_note",
            Document::Void => "void",
            Document::Payment => "payment",
            Document::PaymentReversal => "payment_reversal",
        }
    }
}

/// One accounting row: line, kind, description, net and tax (a payment has
/// neither), gross.
type Row = (String, String, String, Option<(Decimal, Decimal)>, Decimal);

/// How many documents an accounting export holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct Exported {
    pub invoices: u32,
    pub credit_notes: u32,
    pub voids: u32,
    pub payments: u32,
    pub payment_reversals: u32,
}

/// The name a unit variant (a standing, a line kind) has in JSON, which the
/// accounting CSV writes too; anything else is a bug, not an empty cell.
fn wire_name(value: impl Serialize) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(Error::Internal(format!("expected a named value for the accounting CSV, got {other:?}"))),
    }
}

/// Writes the accounting documents dated in `[from, to]` (local dates) as CSV
/// for an accounting import, a row per line: invoices issued (net, their share
/// of the tax, gross; top-ups billed after tax), credit notes issued (negative)
/// and the reversal of invoices voided (negative, dated the void). So the rows
/// of a range add up, per currency, to the invoices less the credit notes and
/// voids of that range, and each invoice's own rows to its PDF. Then the money:
/// a row per payment received (gross only, dated the day it came in; the
/// document is `PAY-` and its number) and per payment reversed (negative,
/// dated the reversal): an invoice's revenue rows less its payment rows are
/// what it still asks for. `status` is the invoice's standing on `today`, as
/// the register shows it.
pub fn accounting_csv(
    conn: &Connection,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    out: impl std::io::Write,
) -> Result<Exported> {
    use crate::spreadsheet::cell;
    let io = |e: csv::Error| Error::Io(format!("cannot write the CSV: {e}"));
    let range = params![from.to_string(), to.to_string()];
    // (document date, kind, invoice number, credit note number): in date order,
    // each day's invoices, then credit notes, then voids.
    let mut docs: Vec<(String, Document, String, Option<String>)> = Vec::new();
    let mut stmt = conn.prepare("SELECT issue_date, number FROM invoices WHERE issue_date BETWEEN ?1 AND ?2")?;
    for row in stmt.query_map(range, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (date, number) = row?;
        docs.push((date, Document::Invoice, number, None));
    }
    let mut stmt = conn.prepare(
        "SELECT c.issue_date, i.number, c.number FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
         WHERE c.issue_date BETWEEN ?1 AND ?2",
    )?;
    for row in
        stmt.query_map(range, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
    {
        let (date, number, note) = row?;
        docs.push((date, Document::CreditNote, number, Some(note)));
    }
    let mut stmt = conn.prepare(
        "SELECT st.on_date, i.number FROM invoice_status st JOIN invoices i ON i.id = st.invoice_id
         WHERE st.status = 'void' AND st.on_date BETWEEN ?1 AND ?2",
    )?;
    for row in stmt.query_map(range, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (date, number) = row?;
        docs.push((date, Document::Void, number, None));
    }
    let mut stmt = conn.prepare(
        "SELECT p.on_date, i.number, p.id FROM payments p JOIN invoices i ON i.id = p.invoice_id
         WHERE p.on_date BETWEEN ?1 AND ?2",
    )?;
    for row in stmt.query_map(range, |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))? {
        let (date, number, id) = row?;
        docs.push((date, Document::Payment, number, Some(format!("PAY-{id}"))));
    }
    // A reversal is dated the local day it was recorded.
    let tz = crate::settings::zone(conn)?;
    let mut stmt = conn.prepare(
        "SELECT r.at, i.number, p.id FROM payment_reversals r JOIN payments p ON p.id = r.payment_id
         JOIN invoices i ON i.id = p.invoice_id",
    )?;
    let reversals = stmt.query_map([], |r| {
        crate::stored::located(r, "payment_reversals", 2, |r| {
            use crate::stored::Columns;
            Ok((r.time(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })
    })?;
    for row in reversals {
        let (at, number, id) = row?;
        let day = at.with_timezone(&tz).date_naive();
        if (from..=to).contains(&day) {
            docs.push((day.to_string(), Document::PaymentReversal, number, Some(format!("PAY-{id}"))));
        }
    }
    docs.sort_by(|a, b| (&a.0, a.1 as u8, &a.2, &a.3).cmp(&(&b.0, b.1 as u8, &b.2, &b.3)));

    let credited = credited_by_invoice(conn)?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "invoice",
        "issue_date",
        "due_date",
        "status",
        "customer",
        "customer_name",
        "currency",
        "period_start",
        "period_end",
        "line",
        "kind",
        "description",
        "net",
        "tax",
        "gross",
        "document",
        "document_type",
        "document_date",
    ])
    .map_err(io)?;
    let mut exported = Exported::default();
    for (date, document, number, note) in &docs {
        let inv = invoice::get(conn, number)?.ok_or_else(|| Error::Internal(format!("invoice {number} vanished")))?;
        let d = &inv.frozen.draft;
        let currency = crate::money::Currency::parse(&d.currency).map_err(Error::Internal)?;
        let standing = entry(&inv, "", credited.get(number).copied().unwrap_or_default(), today).standing;
        let status = wire_name(standing)?;
        let mut rows: Vec<Row> = Vec::new();
        let mut revenue = |line: String, kind: String, description: String, net: Decimal, tax: Decimal| {
            rows.push((line, kind, description, Some((net, tax)), net + tax));
        };
        let describe = |line: &crate::rating::Line| match &line.meter {
            Some(meter) => format!(
                "{} ({meter}{})",
                line.description,
                line.group.as_ref().map(|g| format!(":{g}")).unwrap_or_default()
            ),
            None => line.description.clone(),
        };
        match document {
            Document::Invoice | Document::Void => {
                let sign = if *document == Document::Void { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
                let nets: Vec<Decimal> = d.lines.iter().map(|l| l.amount.0).collect();
                let shares = meterdesk_rules::settle::tax_shares(&nets, d.tax.0, currency.minor_units());
                for (i, (line, tax)) in d.lines.iter().zip(&shares).enumerate() {
                    revenue(
                        (i + 1).to_string(),
                        wire_name(line.kind)?,
                        describe(line),
                        sign * line.amount.0,
                        sign * tax,
                    );
                }
                for t in &d.topups {
                    revenue(String::new(), "topup".into(), t.description.clone(), sign * t.amount.0, Decimal::ZERO);
                }
                if *document == Document::Invoice {
                    exported.invoices += 1;
                } else {
                    exported.voids += 1;
                }
            }
            Document::CreditNote => {
                let code = note.as_deref().unwrap_or_default();
                let cn =
                    credit::get(conn, code)?.ok_or_else(|| Error::Internal(format!("credit note {code} vanished")))?;
                for l in &cn.lines {
                    let kind = match l.line.and_then(|n| d.lines.get(n - 1)) {
                        Some(line) => wire_name(line.kind)?,
                        None => "credit".into(),
                    };
                    let line = l.line.map(|n| n.to_string()).unwrap_or_default();
                    revenue(line, kind, l.description.clone(), -l.net.0, -l.tax.0);
                }
                exported.credit_notes += 1;
            }
            Document::Payment | Document::PaymentReversal => {
                let id: i64 = note.as_deref().and_then(|n| n.strip_prefix("PAY-")?.parse().ok()).unwrap_or_default();
                let p = inv
                    .payments
                    .iter()
                    .find(|p| p.id == id)
                    .ok_or_else(|| Error::Internal(format!("payment {id} of {number} vanished")))?;
                let (said, gross) = if *document == Document::Payment {
                    exported.payments += 1;
                    (format!("Payment by {}, reference {}", p.method.words(), p.reference), p.amount.0)
                } else {
                    exported.payment_reversals += 1;
                    let why = p.reversed.clone().unwrap_or_default();
                    (format!("Payment PAY-{id} reversed: {why}"), -p.amount.0)
                };
                rows.push((String::new(), "payment".into(), said, None, gross));
            }
        }
        let document_number = note.clone().unwrap_or_else(|| number.clone());
        let amount = |v: Option<Decimal>| v.map(|v| currency.round(v).to_string()).unwrap_or_default();
        for (line, kind, description, net_tax, gross) in rows {
            w.write_record([
                cell(number).as_ref(),
                &inv.frozen.issue_date.to_string(),
                &inv.frozen.due_date.to_string(),
                &status,
                &cell(&d.customer),
                &cell(&inv.frozen.buyer.name),
                &d.currency,
                &d.first_day.to_string(),
                &d.last_day.to_string(),
                &line,
                &kind,
                &cell(&description),
                &amount(net_tax.map(|(net, _)| net)),
                &amount(net_tax.map(|(_, tax)| tax)),
                &amount(Some(gross)),
                &document_number,
                document.as_str(),
                date,
            ])
            .map_err(io)?;
        }
    }
    w.flush().map_err(|e| Error::Io(format!("cannot write the CSV: {e}")))?;
    Ok(exported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::credit::Request;
    use crate::invoice::{Pick, Selection};
    use chrono::TimeZone;

    fn at(month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, 15, 0, 0).unwrap()
    }

    fn workspace() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        let text = CATALOG.replace(
            r#""subscriptions": ["#,
            r#""subscriptions": [
            { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01" },"#,
        );
        apply(&mut ws, &text);
        october(&mut ws);
        ws
    }

    fn kinds(r: &Reviewed) -> Vec<WarningKind> {
        r.warnings.iter().map(|w| w.kind).collect()
    }

    #[test]
    fn the_review_warns_of_open_periods_zero_usage_and_what_is_finalized() {
        let mut ws = workspace();
        // Reviewed on October 20th: the period is still running.
        let early = review(&mut ws, crate::month("2026-10"), None, Kind::Period, at(10, 20)).unwrap();
        let by = |list: &[Reviewed], c: &str| list.iter().find(|r| r.draft.customer == c).unwrap().clone();
        assert_eq!(early.len(), 2);
        // Globex's subscription starts on October 15th: its events before are on no invoice.
        assert_eq!(kinds(&by(&early, "globex")), [WarningKind::PeriodOpen, WarningKind::UnbilledEvents]);
        assert_eq!(kinds(&by(&early, "initech")), [WarningKind::PeriodOpen, WarningKind::ZeroUsage]);
        assert!(early.iter().all(|r| r.warnings.iter().all(|w| !w.blocking)));
        // November has not begun on October 20th: its drafts are shown, none can be chosen,
        // and a pick of one anyway is refused by the finalize (which the CLI shares).
        let future = review(&mut ws, crate::month("2026-11"), None, Kind::Period, at(10, 20)).unwrap();
        assert!(!future.is_empty());
        assert!(future.iter().all(|r| r.warnings[0].kind == WarningKind::NotBegun && r.warnings[0].blocking));
        let pick = [Pick { subscription: future[0].draft.subscription.clone(), total: future[0].draft.total }];
        let refused = invoice::finalize_chosen(
            &mut ws,
            crate::month("2026-11"),
            Kind::Period,
            Selection::Picked(&pick),
            at(10, 20),
        )
        .unwrap();
        assert!(refused.invoices.is_empty() && refused.failures[0].message.contains("has not begun"), "{refused:?}");
        // The advance fees are billed at the start: no open-period or usage warning.
        let advance = review(&mut ws, crate::month("2026-10"), None, Kind::Advance, at(10, 20)).unwrap();
        assert_eq!(advance.len(), 1, "only Globex's plan has an advance fee");
        assert_eq!((advance[0].draft.kind, advance[0].warnings.len()), (Kind::Advance, 0));

        // After the period the open period is gone; once finalized, the draft is blocked.
        let later = review(&mut ws, crate::month("2026-10"), None, Kind::Period, at(11, 2)).unwrap();
        assert_eq!(kinds(&by(&later, "globex")), [WarningKind::UnbilledEvents]);
        assert_eq!(by(&later, "globex").warnings[0].message, "1 event in the period outside every subscription");
        assert_eq!(kinds(&by(&later, "initech")), [WarningKind::ZeroUsage]);
        assert_eq!(by(&later, "globex").customer_name, "Globex Corp");
        let picks = [Pick { subscription: "sub_globex".into(), total: by(&later, "globex").draft.total }];
        let done = invoice::finalize_chosen(
            &mut ws,
            crate::month("2026-10"),
            Kind::Period,
            Selection::Picked(&picks),
            at(11, 2),
        )
        .unwrap();
        assert_eq!(done.invoices.len(), 1, "{:?}", done.failures);
        let after = review(&mut ws, crate::month("2026-10"), Some("globex"), Kind::Period, at(11, 3)).unwrap();
        assert_eq!(after[0].warnings[0].kind, WarningKind::AlreadyFinalized);
        assert!(after[0].warnings[0].blocking);
        assert_eq!(after[0].warnings[0].message, "already finalized as INV-2026-00001");

        // An event arriving in the invoiced window is late: the next review says so.
        let late = serde_json::json!({ "id": "late1", "customer": "globex", "type": "api_calls",
            "timestamp": "2026-10-20T12:00:00Z", "properties": {} });
        crate::bill::tests::events(&mut ws, &[late]);
        let next = review(&mut ws, crate::month("2026-11"), Some("globex"), Kind::Period, at(12, 2)).unwrap();
        assert_eq!(kinds(&next[0]), [WarningKind::LateEvents]);
        assert_eq!(next[0].warnings[0].message, "1 event arrived after earlier periods were invoiced");
    }

    #[test]
    fn a_draft_that_changed_since_the_review_is_not_finalized() {
        let mut ws = workspace();
        let stale = [
            Pick { subscription: "sub_globex".into(), total: Dec("354.75".parse().unwrap()) },
            Pick { subscription: "sub_nothing".into(), total: Dec(Decimal::ZERO) },
            Pick { subscription: "sub_initech".into(), total: Dec("0.00".parse().unwrap()) },
        ];
        let done = invoice::finalize_chosen(
            &mut ws,
            crate::month("2026-10"),
            Kind::Period,
            Selection::Picked(&stale),
            at(11, 2),
        )
        .unwrap();
        assert_eq!(done.invoices.len(), 1, "only initech's total is what was reviewed");
        assert_eq!(done.invoices[0].frozen.draft.customer, "initech");
        let messages: Vec<_> = done.failures.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "its total changed from 354.75 to 354.76 USD since the review: review it again",
                "no period of sub_nothing starts in 2026-10"
            ]
        );
        let used: i64 = ws.conn().query_row("SELECT last FROM number_series", [], |r| r.get(0)).unwrap();
        assert_eq!(used, 1, "refused picks use up no number");
    }

    #[test]
    fn the_register_shows_what_is_owed_and_the_trail_what_happened() {
        let mut ws = workspace();
        let done = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, at(11, 2)).unwrap();
        assert_eq!(done.invoices.len(), 2);
        let standing = |ws: &Workspace, day: NaiveDate| -> Vec<(String, Standing, String)> {
            entries(ws.conn(), day)
                .unwrap()
                .into_iter()
                .map(|e| (e.number, e.standing, e.outstanding.to_string()))
                .collect()
        };
        let nov = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(
            standing(&ws, nov(10)),
            [
                // Initech's invoice totals 0.00: nothing is owed, so it never shows as open or overdue.
                ("INV-2026-00002".into(), Standing::Paid, "0.00".into()),
                ("INV-2026-00001".into(), Standing::Open, "354.76".into())
            ]
        );
        assert_eq!(standing(&ws, dec(20))[0], ("INV-2026-00002".into(), Standing::Paid, "0.00".into()));
        // Due on December 2nd: overdue the day after, and a credit note lowers what is owed.
        let goodwill = Request::Amount("54.76".parse().unwrap());
        ws.write(|tx| credit::issue(tx, "INV-2026-00001", "goodwill", &goodwill, at(11, 20))).unwrap();
        assert_eq!(standing(&ws, dec(2))[1], ("INV-2026-00001".into(), Standing::Open, "300.00".into()));
        assert_eq!(standing(&ws, dec(3))[1], ("INV-2026-00001".into(), Standing::Overdue, "300.00".into()));
        ws.write(|tx| invoice::mark_paid(tx, "INV-2026-00001", dec(4), "wire 881", at(12, 4))).unwrap();
        ws.write(|tx| invoice::void(tx, "INV-2026-00002", "test customer", at(12, 4))).unwrap();
        assert_eq!(
            standing(&ws, dec(5)),
            [
                ("INV-2026-00002".into(), Standing::Void, "0.00".into()),
                ("INV-2026-00001".into(), Standing::Paid, "0.00".into())
            ]
        );
        let e = &entries(ws.conn(), dec(5)).unwrap()[1];
        assert_eq!((e.credited.to_string(), e.customer_name.as_str()), ("54.76".into(), "Globex Corp"));

        let trail = trail(ws.conn(), "INV-2026-00001").unwrap();
        let actions: Vec<_> = trail.iter().map(|t| (t.action.as_str(), t.subject.as_str())).collect();
        assert_eq!(
            actions,
            [("finalize", "INV-2026-00001"), ("credit", "CN-2026-00001"), ("payment", "INV-2026-00001")]
        );
        assert!(trail[2].detail.contains(&("note".into(), "wire 881".into())), "{:?}", trail[2].detail);
        assert_eq!(trail[0].at, at(11, 2));
        // In words, with who: the operating system's user unless the session names another.
        let said: Vec<_> = trail.iter().map(|t| t.sentence.as_str()).collect();
        assert_eq!(
            said,
            [
                "Finalized INV-2026-00001 for globex: 354.76 USD.",
                "Issued credit note CN-2026-00001 on INV-2026-00001 for 54.76: goodwill.",
                "Recorded a payment (#1) of 300.00 USD on INV-2026-00001, received 2026-12-04 by other means, reference wire 881: paid in full."
            ]
        );
        let user =
            ["USER", "LOGNAME", "USERNAME"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
        assert!(trail.iter().all(|t| t.actor.as_deref() == user.as_deref().map(str::trim)), "{trail:?}");
        ws.set_actor("Dana (finance)").unwrap();
        ws.write(|tx| invoice::void(tx, "INV-2026-00002", "twice", at(12, 5))).unwrap_err();
        ws.write(|tx| {
            credit::issue(tx, "INV-2026-00001", "rounding", &Request::Amount("0.01".parse().unwrap()), at(12, 6))
        })
        .unwrap();
        let last = super::trail(ws.conn(), "INV-2026-00001").unwrap().pop().unwrap();
        assert_eq!(last.actor.as_deref(), Some("Dana (finance)"));
        // Paid in full before it, the note's 0.01 was overpaid: owed back to the customer.
        assert_eq!(
            last.sentence,
            "Issued credit note CN-2026-00002 on INV-2026-00001 for 0.01, 0.01 overpaid to refund to the customer: rounding."
        );
        assert!(ws.set_actor("  ").is_err());
    }

    #[test]
    fn an_invoice_credited_in_full_owes_nothing() {
        let mut ws = workspace();
        invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(11, 2)).unwrap();
        ws.write(|tx| credit::issue(tx, "INV-2026-00001", "wrong plan", &Request::Full, at(11, 3))).unwrap();
        let e = &entries(ws.conn(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()).unwrap()[0];
        assert_eq!((e.standing, e.outstanding.to_string()), (Standing::Credited, "0.00".into()));
    }

    #[test]
    fn the_accounting_csv_omitted_credit_notes_and_voids() {
        use std::collections::BTreeMap;
        let mut ws = workspace();
        let text = CATALOG.replace("\"Globex Corp\"", "\"=HYPERLINK(\\\"http://x\\\")\"");
        apply(&mut ws, &text);
        invoice::finalize_month(&mut ws, crate::month("2026-10"), None, at(11, 2)).unwrap();
        let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let note = ws
            .write(|tx| {
                credit::issue(
                    tx,
                    "INV-2026-00001",
                    "Goodwill",
                    &credit::Request::Amount(Decimal::new(10000, 2)),
                    at(11, 5),
                )
            })
            .unwrap();
        ws.write(|tx| invoice::void(tx, "INV-2026-00002", "Wrong plan", at(11, 6))).unwrap();
        let export = |ws: &Workspace, from: NaiveDate, to: NaiveDate| {
            let mut out = Vec::new();
            let n = accounting_csv(ws.conn(), from, to, day(11, 30), &mut out).unwrap();
            let rows: Vec<csv::StringRecord> =
                csv::Reader::from_reader(out.as_slice()).records().map(|r| r.unwrap()).collect();
            (n, rows)
        };
        let money = |s: &str| s.parse::<Decimal>().unwrap();
        let (n, rows) = export(&ws, day(11, 1), day(11, 30));
        assert_eq!(n, Exported { invoices: 2, credit_notes: 1, voids: 1, ..Exported::default() });
        // The rows of the range add up to the invoices less the credit notes and voids of the range.
        let invoices = ["INV-2026-00001", "INV-2026-00002"].map(|n| invoice::get(ws.conn(), n).unwrap().unwrap());
        let gross: Decimal = rows.iter().map(|r| money(&r[14])).sum();
        let expected = invoices[0].frozen.draft.total.0 + invoices[1].frozen.draft.total.0
            - note.total.0
            - invoices[1].frozen.draft.total.0;
        assert_eq!(gross, expected);
        // Each document's rows add up to it: net, tax and gross.
        let mut by_document: BTreeMap<(String, String), [Decimal; 3]> = BTreeMap::new();
        for r in &rows {
            let e = by_document.entry((r[15].to_string(), r[16].to_string())).or_default();
            for (k, col) in [12, 13, 14].into_iter().enumerate() {
                e[k] += money(&r[col]);
            }
        }
        let d0 = &invoices[0].frozen.draft;
        assert_eq!(by_document[&("INV-2026-00001".into(), "invoice".into())], [d0.subtotal.0, d0.tax.0, d0.total.0]);
        assert_eq!(
            by_document[&(note.number.clone(), "credit_note".into())],
            [-note.subtotal.0, -note.tax.0, -note.total.0]
        );
        let d1 = &invoices[1].frozen.draft;
        assert_eq!(by_document[&("INV-2026-00002".into(), "void".into())], [-d1.subtotal.0, -d1.tax.0, -d1.total.0]);
        // Statuses as the register says them; a formula is written as text.
        let first = rows.iter().find(|r| &r[0] == "INV-2026-00001").unwrap();
        assert_eq!(&first[3], "open");
        assert_eq!(&first[5], "'=HYPERLINK(\"http://x\")");
        assert!(rows.iter().filter(|r| &r[0] == "INV-2026-00002").all(|r| &r[3] == "void"));
        // A range holding only the void: the reversal alone.
        let (n, rows) = export(&ws, day(11, 6), day(11, 6));
        assert_eq!(n, Exported { voids: 1, ..Exported::default() });
        assert_eq!(rows.iter().map(|r| money(&r[14])).sum::<Decimal>(), -d1.total.0);
        // Paid in part, that payment reversed, then the rest: the money rows follow the
        // revenue rows, and an invoice's revenue rows less its money rows are what it owes.
        let pay = crate::payment::PaymentFields {
            amount: "100.00".into(),
            date: "2026-11-10".into(),
            method: "card".into(),
            reference: "slip 9".into(),
        };
        ws.write(|tx| invoice::pay(tx, "INV-2026-00001", &pay, at(11, 10))).unwrap();
        ws.write(|tx| invoice::reverse_payment(tx, "INV-2026-00001", 1, "charged back", at(11, 12))).unwrap();
        ws.write(|tx| invoice::mark_paid(tx, "INV-2026-00001", day(11, 20), "wire", at(11, 20))).unwrap();
        let (n, rows) = export(&ws, day(11, 1), day(11, 30));
        assert_eq!((n.payments, n.payment_reversals), (2, 1));
        assert_eq!(&rows.iter().find(|r| &r[0] == "INV-2026-00001").unwrap()[3], "paid");
        let money_rows: Vec<(String, String, String, String, String)> = rows
            .iter()
            .filter(|r| &r[10] == "payment")
            .map(|r| (r[11].to_string(), r[12].to_string(), r[14].to_string(), r[15].to_string(), r[17].to_string()))
            .collect();
        let rest = (d0.total.0 - note.total.0).to_string();
        assert_eq!(
            money_rows,
            [
                (
                    "Payment by card, reference slip 9".into(),
                    "".into(),
                    "100.00".into(),
                    "PAY-1".into(),
                    "2026-11-10".into()
                ),
                (
                    "Payment PAY-1 reversed: charged back".into(),
                    "".into(),
                    "-100.00".into(),
                    "PAY-1".into(),
                    "2026-11-12".into()
                ),
                ("Payment by other means, reference wire".into(), "".into(), rest, "PAY-2".into(), "2026-11-20".into()),
            ]
        );
        let owes: Decimal = rows
            .iter()
            .filter(|r| &r[0] == "INV-2026-00001")
            .map(|r| if &r[10] == "payment" { -money(&r[14]) } else { money(&r[14]) })
            .sum();
        assert_eq!(owes, Decimal::ZERO);
    }

    #[test]
    fn the_review_shows_the_credits_each_draft_takes_and_what_is_then_due() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let grant: crate::wallet::GrantFields =
            serde_json::from_value(serde_json::json!({ "id": "g1", "amount": "100.00", "kind": "free" })).unwrap();
        ws.write(|tx| crate::wallet::grant(tx, "globex", &grant, crate::wallet::Origin::Manual, at(10, 1))).unwrap();
        let reviewed = review(&mut ws, crate::month("2026-10"), Some("globex"), Kind::Period, at(11, 2)).unwrap();
        let r = &reviewed[0];
        // October's total is 354.76 (docs/interfaces.md's example): 100.00 of credit, 254.76 due.
        assert_eq!(
            (r.draft.total.to_string(), r.credits_applied.to_string(), r.amount_due.to_string()),
            ("354.76".into(), "100.00".into(), "254.76".into())
        );
        // Nothing was spent by looking.
        assert_eq!(crate::wallet::wallet(ws.conn(), "globex").unwrap().balance.to_string(), "100.00");
        // Finalized, the invoice applies what the review said.
        let done = crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(11, 2)).unwrap();
        assert_eq!(done.invoices[0].frozen.draft.amount_due, r.amount_due);
    }
}
