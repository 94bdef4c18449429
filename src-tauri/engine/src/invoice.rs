//! Finalized invoices (docs/billing.md "Invoices"): a draft frozen with everything
//! it came from (lines and their steps, plan version, period, tax rate, both
//! parties), numbered gaplessly per series and year, chained by hash, and
//! never changed afterwards — the database refuses UPDATE and DELETE.
//!
//! Finalizing happens in the caller's transaction: the number is taken, the
//! invoice written, its usage window marked invoiced (later events there are
//! late) and the audit entry added, all or nothing.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::bill::{self, Draft, Status};
use crate::customer;
use crate::error::{Error, Result};
use crate::meter;
use crate::money::Dec;
use crate::payment::{self, PaymentFields, PaymentRecord};
use crate::period::Month;
use crate::rating::LineKind;
use crate::rollup;
use crate::settings;
use crate::stored::{Columns, not_void, time_text};
use crate::wallet;
use crate::workspace::Workspace;

/// Who sells or buys, as printed on the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Party {
    pub name: String,
    pub address: Vec<String>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

/// What is frozen at finalize and hashed: the draft (now numbered) and its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Frozen {
    #[serde(flatten)]
    #[ts(flatten)]
    pub draft: Draft,
    #[ts(type = "string")]
    pub issue_date: NaiveDate,
    #[ts(type = "string")]
    pub due_date: NaiveDate,
    pub seller: Party,
    pub buyer: Party,
    /// Why the buyer pays no tax, printed on the invoice.
    pub tax_exempt: Option<String>,
    pub payment_terms_days: u32,
    /// Each usage line's quantity by local day, as it stood when finalized
    /// (the PDF's usage appendix); later events never change it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage_days: Vec<LineDays>,
    /// The hash of the seller's logo (in `images`) when finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// The void invoice of the same period this one reissues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// An adjustment: the period invoice whose late usage it bills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjusts: Option<String>,
    /// An adjustment: how many late events of the period it billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_events: Option<u64>,
    /// Where to pay, as the company's settings said when finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::settings::PaymentDetails>,
}

/// What an adjustment invoice adjusts: the period invoice and the late events
/// it bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adjusting {
    pub number: String,
    pub late_events: u64,
}

/// One usage line's quantity on each local day that had usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LineDays {
    /// The line's number on the invoice, from 1.
    pub line: usize,
    pub days: Vec<DayQuantity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DayQuantity {
    #[ts(type = "string")]
    pub date: NaiveDate,
    pub quantity: crate::money::Dec,
}

/// The per-day quantities of a draft's usage lines, read from the daily
/// rollups (which the preview that made the draft brought up to date).
fn line_days(conn: &Connection, draft: &Draft, customer_id: i64, tz: chrono_tz::Tz) -> Result<Vec<LineDays>> {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let window = (local(draft.usage_window.start), local(draft.usage_window.end));
    let mut out = Vec::new();
    for (i, line) in draft.lines.iter().enumerate() {
        let (LineKind::Usage, Some(code)) = (line.kind, line.meter.as_deref()) else { continue };
        let meter = meter::require(conn, code)?;
        let meter_id: i64 =
            conn.prepare_cached("SELECT id FROM meters WHERE code = ?1")?.query_row([code], |r| r.get(0))?;
        let days = rollup::by_day(conn, &meter.fields, meter_id, customer_id, window, line.group.as_deref())?
            .into_iter()
            .map(|(date, quantity)| DayQuantity { date, quantity: crate::money::Dec(quantity) })
            .collect();
        out.push(LineDays { line: i + 1, days });
    }
    Ok(out)
}

/// A payment recorded against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Payment {
    #[ts(type = "string")]
    pub date: NaiveDate,
    pub reference: String,
}

/// A finalized invoice: docs/interfaces.md's invoice object (its `number` set,
/// `status` finalized or void) with its context and its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Invoice {
    #[serde(flatten)]
    #[ts(flatten)]
    pub frozen: Frozen,
    /// Paid in full: the last payment's date and reference (or the payment
    /// recorded before payments had amounts).
    pub paid: Option<Payment>,
    pub void_reason: Option<String>,
    pub hash: String,
    pub previous_hash: String,
    /// Its payments, oldest first, reversed ones with their reason.
    pub payments: Vec<PaymentRecord>,
}

/// The chain link: SHA-256 over the previous hash and the frozen content.
fn link_hash(previous: &str, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Takes the next number of a series and year (`INV-2026-00042`), in the
/// caller's transaction: with the document written in the same transaction,
/// a crash loses both, so numbers are gapless and never reused.
pub(crate) fn next_number(conn: &Transaction, series: &str, year: i32) -> Result<(i64, String)> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO number_series (series, year, last) VALUES (?1, ?2, 1)
             ON CONFLICT (series, year) DO UPDATE SET last = last + 1 RETURNING last",
        )?
        .query_row(params![series, year], |r| r.get(0))?;
    let number = format!("{series}-{year}-{seq:05}");
    pause_for_crash_test(&number);
    Ok((seq, number))
}

/// The crash test's seam: with `METERDESK_PAUSE_AFTER_NUMBER=NUMBER:FILE`, the
/// process that has just taken NUMBER (its transaction still open) writes FILE
/// and stops there for good, so the test can kill it at exactly that point.
pub const PAUSE_AFTER_NUMBER_VAR: &str = "METERDESK_PAUSE_AFTER_NUMBER";

fn pause_for_crash_test(number: &str) {
    let Some(wanted) = std::env::var_os(PAUSE_AFTER_NUMBER_VAR) else { return };
    let wanted = wanted.to_string_lossy();
    if let Some((n, file)) = wanted.split_once(':')
        && n == number
    {
        // The marker is written only now: the test kills the process after it.
        if std::fs::write(file, number).is_ok() {
            loop {
                std::thread::park();
            }
        }
    }
}

/// Refuses an advance invoice of a period whose own invoice billed the advance fees.
fn refuse_billed_advance(
    conn: &Connection,
    subscription: &str,
    period_start: DateTime<Utc>,
    first_day: NaiveDate,
) -> Result<()> {
    match advance_fees_billed_by(conn, subscription, period_start)? {
        Some(number) => Err(Error::Conflict(format!(
            "the advance fees of {subscription} for the period starting {first_day} were billed on {number}"
        ))),
        None => Ok(()),
    }
}

/// The standing period invoice that billed the period's advance fees itself,
/// if one did: the period then has no advance invoice to issue.
pub fn advance_fees_billed_by(
    conn: &Connection,
    subscription: &str,
    period_start: DateTime<Utc>,
) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT i.number FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
         WHERE s.code = ?1 AND i.period_start = ?2 AND i.kind = 'period' AND i.advance_fees = 1 AND ",
        not_void!("i")
    ))?;
    Ok(stmt.query_row(params![subscription, time_text(period_start)], |r| r.get(0)).optional()?)
}

/// Finalizes one draft in the caller's transaction; `now` is when (its date in
/// the workspace zone is the issue date). A period already finalized for the
/// subscription (and not void) is refused; after a void the period is
/// reissued under a new number that names the void invoice.
///
/// The draft must have been computed inside the same transaction (see
/// [`finalize_current`]): what it bills is what the transaction sees.
pub fn finalize(conn: &Transaction, draft: &Draft, now: DateTime<Utc>) -> Result<Invoice> {
    finalize_as(conn, draft, None, now)
}

/// [`finalize`], or with `adjusting` the adjustment invoice of a period's late
/// usage (several may follow one period invoice, each numbered in the main
/// series).
pub(crate) fn finalize_as(
    conn: &Transaction,
    draft: &Draft,
    adjusting: Option<&Adjusting>,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    if (draft.kind == bill::Kind::Adjustment) != adjusting.is_some() {
        return Err(Error::Internal("an adjustment invoice is finalized with the invoice it adjusts".into()));
    }
    let (subscription_id, customer_id): (i64, i64) = conn
        .prepare_cached("SELECT id, customer_id FROM subscriptions WHERE code = ?1")?
        .query_row([&draft.subscription], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no subscription \"{}\"", draft.subscription)))?;
    if let Some(problem) = &draft.problem {
        return Err(Error::Overflow(problem.clone()));
    }
    if let Some(number) = bill::finalized_as(conn, draft)?.filter(|_| adjusting.is_none()) {
        let what = match draft.kind {
            bill::Kind::Period => "the period",
            bill::Kind::Advance => "the advance fee invoice of the period",
            bill::Kind::Adjustment => "the late usage of the period",
        };
        return Err(Error::Conflict(format!(
            "{what} of {} starting {} is already finalized as {number}",
            draft.subscription, draft.first_day
        )));
    }
    if draft.kind == bill::Kind::Advance {
        refuse_billed_advance(conn, &draft.subscription, draft.period.start, draft.first_day)?;
    }
    // The void invoices of this period and kind: the new one is their reissue.
    let (generation, void_before): (i64, Option<String>) = conn
        .prepare_cached(
            "SELECT count(*), (SELECT number FROM invoices WHERE subscription_id = ?1 AND period_start = ?2
               AND kind = ?3 ORDER BY generation DESC LIMIT 1)
             FROM invoices WHERE subscription_id = ?1 AND period_start = ?2 AND kind = ?3",
        )?
        .query_row(params![subscription_id, time_text(draft.period.start), draft.kind.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // An adjustment replaces nothing: the generation only counts adjustments.
    let replaces = void_before.filter(|_| adjusting.is_none());
    // A period invoice bills the advance fees itself unless a standing advance
    // invoice of the period did.
    let advance_fees = draft.kind == bill::Kind::Period
        && bill::standing_number(conn, &draft.subscription, draft.period.start, bill::Kind::Advance)?.is_none();
    let company = settings::get(conn)?;
    let tz = settings::parse_timezone(&company.timezone).map_err(Error::Internal)?;
    let buyer = customer::get(conn, &draft.customer)?
        .ok_or_else(|| Error::NotFound(format!("no customer with id \"{}\"", draft.customer)))?;
    let issue_date = now.with_timezone(&tz).date_naive();
    let due_date = issue_date
        .checked_add_days(Days::new(u64::from(company.payment_terms_days)))
        .ok_or_else(|| Error::Internal("the due date is out of range".into()))?;
    let year = issue_date.year();
    let series = company.invoice_prefix.clone();
    let (seq, number) = next_number(conn, &series, year)?;
    // Wallet credits pay for the total, tax included (docs/billing.md "Invoices").
    let burn = wallet::plan_burn(conn, tz, customer_id, &draft.currency, draft.creditable(), now)?;
    let mut frozen_draft = draft.clone();
    frozen_draft.number = Some(number.clone());
    frozen_draft.status = Status::Finalized;
    let topups = draft.total.0 - draft.creditable();
    let closing = meterdesk_rules::settle::close(draft.creditable(), topups, burn.applied());
    frozen_draft.credits_applied = crate::money::Dec(closing.credits_applied);
    frozen_draft.amount_due = crate::money::Dec(closing.amount_due);
    let frozen = Frozen {
        draft: frozen_draft,
        issue_date,
        due_date,
        seller: Party {
            name: company.company_name.clone(),
            address: company.address.clone(),
            tax_id: company.tax_id.clone(),
            email: None,
        },
        buyer: Party {
            name: buyer.fields.name.clone(),
            address: buyer.fields.address.clone(),
            tax_id: buyer.fields.tax_id.clone(),
            email: buyer.fields.email.clone(),
        },
        tax_exempt: buyer.fields.tax_exempt.clone(),
        payment_terms_days: company.payment_terms_days,
        // An adjustment's lines are differences: no day-by-day detail.
        usage_days: if adjusting.is_some() { Vec::new() } else { line_days(conn, draft, customer_id, tz)? },
        logo: settings::logo_hash(conn)?,
        replaces: replaces.clone(),
        adjusts: adjusting.map(|a| a.number.clone()),
        late_events: adjusting.map(|a| a.late_events),
        payment: company.payment.clone(),
    };
    let content =
        serde_json::to_string(&frozen).map_err(|e| Error::Internal(format!("an invoice could not be written: {e}")))?;
    let previous_hash: String = conn
        .prepare_cached("SELECT hash FROM invoices ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    let hash = link_hash(&previous_hash, &content);
    conn.prepare_cached(
        "INSERT INTO invoices (number, series, year, seq, customer_id, subscription_id, period_start, period_end,
         issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind,
         generation, replaces, advance_fees, adjusts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    )?
    .execute(params![
        number,
        series,
        year,
        seq,
        customer_id,
        subscription_id,
        time_text(draft.period.start),
        time_text(draft.period.end),
        issue_date.to_string(),
        due_date.to_string(),
        draft.currency,
        frozen.draft.total.to_string(),
        frozen.draft.amount_due.to_string(),
        content,
        previous_hash,
        hash,
        time_text(now),
        draft.kind.as_str(),
        generation,
        replaces,
        advance_fees,
        frozen.adjusts
    ])?;
    let invoice_id = conn.last_insert_rowid();
    wallet::write_burn(conn, &burn, invoice_id, &number, now)?;
    wallet::bill_topups(conn, customer_id, &draft.topups, invoice_id)?;
    // Events that arrive later inside the billed window are late usage (an
    // advance invoice bills no usage).
    if draft.kind == bill::Kind::Period {
        conn.prepare_cached("INSERT INTO invoiced_periods (customer_id, from_ms, to_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![
                customer_id,
                draft.usage_window.start.timestamp_millis(),
                draft.usage_window.end.timestamp_millis()
            ])?;
    }
    let detail = serde_json::json!({
        "customer": draft.customer, "subscription": draft.subscription, "kind": draft.kind.as_str(),
        "period_start": time_text(draft.period.start), "currency": draft.currency, "total": draft.total,
        "credits_applied": frozen.draft.credits_applied, "hash": hash, "replaces": replaces,
        "adjusts": frozen.adjusts,
    });
    conn.prepare_cached(concat!(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, 'finalize', ?2, ?3, ",
        "(SELECT name FROM temp.session_actor))"
    ))?
    .execute(params![time_text(now), number, detail.to_string()])?;
    Ok(Invoice { frozen, paid: None, void_reason: None, hash, previous_hash, payments: Vec::new() })
}

/// A draft that could not be finalized, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Failure {
    pub customer: String,
    pub subscription: String,
    pub message: String,
}

/// What a batch finalize did: each invoice was its own transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Finalized {
    pub invoices: Vec<Invoice>,
    pub failures: Vec<Failure>,
}

/// Finalizes every period of one kind starting in `month` (every customer's,
/// or one's), open periods included: what a script that names the month asks
/// for. Shorthand for [`finalize_chosen`] with [`Selection::Every`].
pub fn finalize_month(
    ws: &mut Workspace,
    month: Month,
    customer: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Finalized> {
    finalize_chosen(ws, month, bill::Kind::Period, Selection::Every { customer, open: Open::Include }, now)
}

/// Whether a finalize takes periods that have not ended yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Refuse them, each reported: usage may still come.
    Refuse,
    Include,
}

/// A draft chosen in the review, with the total it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Pick {
    pub subscription: String,
    pub total: Dec,
}

/// Which drafts of a month a finalize takes.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every period (of one customer, or all), as `invoice finalize` does.
    Every { customer: Option<&'a str>, open: Open },
    /// The drafts an operator chose after reviewing them (open periods
    /// included: the review said they were open). A draft whose total is no
    /// longer the one reviewed is refused, to be reviewed again.
    Picked(&'a [Pick]),
}

/// The one finalize, for the CLI and the window alike: the chosen periods of
/// one kind starting in `month`, each in its own transaction, so a failure is
/// reported for its subscription and the others go on. `kind` is the periods'
/// invoices, or the fee-only invoices of their advance fees (billed at or
/// before the period's start). A period's invoice is never finalized before
/// its period began. A backup is taken first when anything is chosen.
pub fn finalize_chosen(
    ws: &mut Workspace,
    month: Month,
    kind: bill::Kind,
    selection: Selection,
    now: DateTime<Utc>,
) -> Result<Finalized> {
    // Which periods there are; each draft is computed in its own transaction.
    let customer = match selection {
        Selection::Every { customer, .. } => customer,
        Selection::Picked(_) => None,
    };
    let drafts = bill::periods(ws, month, customer, kind)?;
    let mut done = Finalized { invoices: Vec::new(), failures: Vec::new() };
    // Each chosen draft with the total the operator saw, if one did; or the
    // subscription picked that has no such period. In the order chosen.
    type Choice<'d> = std::result::Result<(&'d Draft, Option<Dec>), &'d str>;
    let (chosen, open): (Vec<Choice>, Open) = match selection {
        Selection::Every { open, .. } => (drafts.iter().map(|d| Ok((d, None))).collect(), open),
        Selection::Picked(picks) => (
            picks
                .iter()
                .map(|pick| match drafts.iter().find(|d| d.subscription == pick.subscription) {
                    Some(draft) => Ok((draft, Some(pick.total))),
                    None => Err(pick.subscription.as_str()),
                })
                .collect(),
            Open::Include,
        ),
    };
    if chosen.iter().any(|c| c.is_ok()) {
        crate::workspace::backup::automatic(ws, "before-finalize", now)?;
    }
    for choice in chosen {
        let (draft, expected) = match choice {
            Ok(found) => found,
            Err(subscription) => {
                done.failures.push(Failure {
                    customer: String::new(),
                    subscription: subscription.to_string(),
                    message: format!("no period of {subscription} starts in {month}"),
                });
                continue;
            }
        };
        let early = match kind {
            bill::Kind::Advance => None,
            bill::Kind::Adjustment => {
                Some("late usage is billed from the list of late usage, not by month".to_string())
            }
            bill::Kind::Period if draft.period.start > now => {
                Some(format!("the period starting {} has not begun", draft.first_day))
            }
            bill::Kind::Period if draft.period.end > now && open == Open::Refuse => Some(format!(
                "the period runs until {}: usage may still come; finalize it once it ended, or include open periods",
                draft.last_day
            )),
            bill::Kind::Period => None,
        };
        match early {
            Some(message) => done.failures.push(Failure {
                customer: draft.customer.clone(),
                subscription: draft.subscription.clone(),
                message,
            }),
            None => done.finalize(ws, draft, expected, now),
        }
    }
    Ok(done)
}

/// Finalizes the period (and kind) of `seen` as it stands inside the caller's
/// transaction: the rollups are brought up to date and the draft computed
/// again there, so usage imported after `seen` was computed is billed (or,
/// once this commits, late) and never lost between the two. With `expected`,
/// a draft whose total is no longer that one is refused, to be reviewed again.
pub fn finalize_current(
    tx: &rusqlite::Transaction,
    seen: &Draft,
    expected: Option<crate::money::Dec>,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let tz = settings::zone(tx)?;
    rollup::refresh(tx, tz)?;
    let month = Month::of(seen.first_day);
    let Some(draft) = bill::redraft(tx, tz, &seen.subscription, month, seen.kind)? else {
        if seen.kind == bill::Kind::Advance {
            refuse_billed_advance(tx, &seen.subscription, seen.period.start, seen.first_day)?;
        }
        return Err(Error::Conflict(format!(
            "{} has nothing to bill for the period starting {} any more",
            seen.subscription, seen.first_day
        )));
    };
    if let Some(total) = expected
        && draft.total.0 != total.0
    {
        return Err(Error::Conflict(format!(
            "its total changed from {total} to {} {} since the review: review it again",
            draft.total, draft.currency
        )));
    }
    finalize(tx, &draft, now)
}

impl Finalized {
    /// Finalizes the period of one draft in its own transaction (see
    /// [`finalize_current`]), keeping the invoice or why it failed.
    pub(crate) fn finalize(
        &mut self,
        ws: &mut Workspace,
        draft: &Draft,
        expected: Option<crate::money::Dec>,
        now: DateTime<Utc>,
    ) {
        match ws.write(|tx| finalize_current(tx, draft, expected, now)) {
            Ok(invoice) => self.invoices.push(invoice),
            Err(e) => self.failures.push(Failure {
                customer: draft.customer.clone(),
                subscription: draft.subscription.clone(),
                message: e.to_string(),
            }),
        }
    }
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn assemble(conn: &Connection, id: i64, content: &str, previous_hash: String, hash: String) -> Result<Invoice> {
    let mut frozen: Frozen =
        serde_json::from_str(content).map_err(|e| Error::Internal(format!("a stored invoice is unreadable: {e}")))?;
    frozen.draft.derive();
    let mut paid = None;
    let mut void_reason = None;
    let mut stmt = conn.prepare_cached(
        "SELECT status, on_date, note, id, invoice_id FROM invoice_status WHERE invoice_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], status_row)?;
    for row in rows {
        let (status, date, note, _) = row?;
        if status == "void" {
            void_reason = Some(note);
        } else {
            paid = Some(Payment { date, reference: note });
        }
    }
    if void_reason.is_some() {
        frozen.draft.status = Status::Void;
    }
    let payments = payments_of(conn, id)?;
    if paid.is_none()
        && let Some(last) = payments.iter().rev().find(|p| p.reversed.is_none())
    {
        let owed = frozen.draft.dues().owed_after(credited_total(conn, id)?);
        if payment::standing_total(&payments) >= owed {
            paid = Some(Payment { date: last.date, reference: last.reference.clone() });
        }
    }
    Ok(Invoice { frozen, paid, void_reason, hash, previous_hash, payments })
}

/// The payments of invoice `id`, oldest first.
fn payments_of(conn: &Connection, id: i64) -> Result<Vec<PaymentRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.amount, p.on_date, p.method, p.reference, r.reason FROM payments p
         LEFT JOIN payment_reversals r ON r.payment_id = p.id WHERE p.invoice_id = ?1 ORDER BY p.id",
    )?;
    let rows = stmt.query_map([id], |r| {
        crate::stored::located(r, "payments", 0, |r| {
            Ok(PaymentRecord {
                id: r.get(0)?,
                amount: r.parsed(1, "an amount", |t| t.parse::<Dec>().ok())?,
                date: r.parsed(2, "a date (YYYY-MM-DD)", |t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())?,
                method: r.parsed(3, "a payment method", payment::Method::parse)?,
                reference: r.get(4)?,
                reversed: r.get(5)?,
            })
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One `invoice_status` row read as `SELECT status, on_date, note, id,
/// invoice_id`: the status (void, paid), its date, its note and the invoice's row id.
fn status_row(r: &rusqlite::Row) -> rusqlite::Result<(String, NaiveDate, String, i64)> {
    crate::stored::located(r, "invoice_status", 3, |r| {
        Ok((
            r.parsed(0, "an invoice status (void, paid)", |t| ["void", "paid"].contains(&t).then(|| t.to_string()))?,
            r.parsed(1, "a date (YYYY-MM-DD)", |t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(4)?,
        ))
    })
}

/// One finalized invoice by number.
pub fn get(conn: &Connection, number: &str) -> Result<Option<Invoice>> {
    let row = conn
        .query_row("SELECT id, content, previous_hash, hash FROM invoices WHERE number = ?1", [number], from_row)
        .optional()?;
    row.map(|(id, content, previous, hash)| assemble(conn, id, &content, previous, hash)).transpose()
}

/// Every finalized invoice, newest first.
pub fn all(conn: &Connection) -> Result<Vec<Invoice>> {
    let mut stmt = conn.prepare("SELECT id, content, previous_hash, hash FROM invoices ORDER BY id DESC")?;
    let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|(id, content, previous, hash)| assemble(conn, id, &content, previous, hash)).collect()
}

/// What the reports read of a finalized invoice, straight from its frozen
/// content with everything else skipped (the lines' steps, the day-by-day
/// usage, the parties but the buyer's name). A whole [`Invoice`] parses its
/// content through `#[serde(flatten)]`, which buffers every field first: on
/// 23,000 invoices that took over a second.
#[derive(Debug, Clone, Deserialize)]
pub struct Figures {
    #[serde(skip)]
    pub id: i64,
    pub number: Option<String>,
    pub kind: bill::Kind,
    pub customer: String,
    pub currency: String,
    pub lines: Vec<LineFigures>,
    pub subtotal: Dec,
    pub credits_applied: Dec,
    pub amount_due: Dec,
    pub first_day: NaiveDate,
    /// The day after the period's last.
    pub end_day: NaiveDate,
    #[serde(default)]
    pub topups: Vec<wallet::TopUp>,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub buyer: Named,
    /// The day it was marked paid, if it was (before payments had amounts).
    #[serde(skip)]
    pub paid_on: Option<NaiveDate>,
    /// Its payments that stand: (the day the money came in, amount).
    #[serde(skip)]
    pub payments: Vec<(NaiveDate, Decimal)>,
}

/// A line's figures: its kind, meter, amount and cost.
#[derive(Debug, Clone, Deserialize)]
pub struct LineFigures {
    pub kind: LineKind,
    pub meter: Option<String>,
    pub amount: Dec,
    #[serde(default)]
    pub cost: Option<Dec>,
    #[serde(default)]
    pub cost_currency: Option<String>,
}

/// A party's name alone.
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    pub name: String,
}

impl Figures {
    /// What the invoice settles (see `settle::Dues`), as [`Draft::dues`].
    pub fn dues(&self) -> meterdesk_rules::settle::Dues {
        meterdesk_rules::settle::Dues {
            amount_due: self.amount_due.0,
            topups: self.topups.iter().map(|t| t.amount.0).sum(),
            credits_applied: self.credits_applied.0,
        }
    }
}

/// The figures of every standing (not void) invoice, or of one customer's
/// (its external id), newest first; each invoice's statuses read in one go.
pub fn figures(conn: &Connection, customer: Option<&str>) -> Result<Vec<Figures>> {
    figures_split(conn, customer, 2_000)
}

/// [`figures`], the second half parsed on another core from `split_from` invoices.
pub(crate) fn figures_split(conn: &Connection, customer: Option<&str>, split_from: usize) -> Result<Vec<Figures>> {
    let mut void = std::collections::HashSet::new();
    let mut paid: std::collections::HashMap<i64, NaiveDate> = std::collections::HashMap::new();
    let mut stmt =
        conn.prepare_cached("SELECT status, on_date, note, id, invoice_id FROM invoice_status ORDER BY id")?;
    for row in stmt.query_map([], status_row)? {
        let (status, date, _, id) = row?;
        match status.as_str() {
            "void" => {
                void.insert(id);
            }
            _ => {
                paid.insert(id, date);
            }
        }
    }
    let mut payments: std::collections::HashMap<i64, Vec<(NaiveDate, Decimal)>> = std::collections::HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.invoice_id, p.on_date, p.amount FROM payments p
         WHERE NOT EXISTS (SELECT 1 FROM payment_reversals r WHERE r.payment_id = p.id) ORDER BY p.id",
    )?;
    let rows = stmt.query_map([], |r| {
        crate::stored::located(r, "payments", 0, |r| {
            Ok((
                r.get::<_, i64>(1)?,
                r.parsed(2, "a date (YYYY-MM-DD)", |t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())?,
                r.parsed(3, "an amount", |t| t.parse::<Decimal>().ok())?,
            ))
        })
    })?;
    for row in rows {
        let (invoice, date, amount) = row?;
        payments.entry(invoice).or_default().push((date, amount));
    }
    // What credit notes took off the invoices with payments.
    let mut credited: std::collections::HashMap<i64, Decimal> = std::collections::HashMap::new();
    if !payments.is_empty() {
        for &id in payments.keys() {
            credited.insert(id, credited_total(conn, id)?);
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, content FROM invoices
         WHERE ?1 IS NULL OR customer_id = (SELECT id FROM customers WHERE external_id = ?1) ORDER BY id DESC",
    )?;
    let mut rows = stmt.query([customer])?;
    let mut contents: Vec<(i64, String)> = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        if !void.contains(&id) {
            contents.push((id, r.get(1)?));
        }
    }
    let parse = |part: &[(i64, String)]| -> Result<Vec<Figures>> {
        part.iter()
            .map(|(id, content)| {
                let mut f: Figures = serde_json::from_str(content)
                    .map_err(|e| Error::Internal(format!("a stored invoice (row {id}) is unreadable: {e}")))?;
                f.id = *id;
                f.paid_on = paid.get(id).copied();
                f.payments = payments.get(id).cloned().unwrap_or_default();
                // Paid in full by payments: on the last one's day.
                if f.paid_on.is_none() && !f.payments.is_empty() {
                    let paid: Decimal = f.payments.iter().map(|(_, a)| *a).sum();
                    if paid >= f.dues().owed_after(credited.get(id).copied().unwrap_or_default()) {
                        f.paid_on = f.payments.last().map(|(d, _)| *d);
                    }
                }
                Ok(f)
            })
            .collect()
    };
    // Parsing is most of the time: the second half on another core when there are many.
    if contents.len() < split_from.max(2) {
        return parse(&contents);
    }
    let (first, second) = contents.split_at(contents.len() / 2);
    let (mine, theirs) = std::thread::scope(|s| {
        let other = s.spawn(|| parse(second));
        (parse(first), other.join().unwrap_or_else(|_| Err(Error::Internal("reading the invoices failed".into()))))
    });
    let mut out = mine?;
    out.extend(theirs?);
    Ok(out)
}

/// The invoices with these row ids (of [`Figures::id`]), in that order.
pub fn by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<Invoice>> {
    let mut stmt = conn.prepare_cached("SELECT id, content, previous_hash, hash FROM invoices WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (id, content, previous, hash) = stmt.query_row([id], from_row)?;
        out.push(assemble(conn, id, &content, previous, hash)?);
    }
    Ok(out)
}

/// One customer's invoices, newest first.
pub fn of_customer(conn: &Connection, customer: &str) -> Result<Vec<Invoice>> {
    let mut stmt = conn.prepare(
        "SELECT i.id, i.content, i.previous_hash, i.hash FROM invoices i
         WHERE i.customer_id = (SELECT id FROM customers WHERE external_id = ?1) ORDER BY i.id DESC",
    )?;
    let rows = stmt.query_map([customer], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|(id, content, previous, hash)| assemble(conn, id, &content, previous, hash)).collect()
}

fn require(conn: &Connection, number: &str) -> Result<(i64, Invoice)> {
    let id: i64 = conn
        .query_row("SELECT id FROM invoices WHERE number = ?1", [number], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no finalized invoice {number}")))?;
    let invoice = get(conn, number)?.ok_or_else(|| Error::NotFound(format!("no finalized invoice {number}")))?;
    Ok((id, invoice))
}

fn append_status(
    conn: &Transaction,
    id: i64,
    number: &str,
    status: &str,
    on_date: NaiveDate,
    note: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO invoice_status (invoice_id, status, on_date, note, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, status, on_date.to_string(), note, time_text(now)],
    )?;
    audit(conn, status, number, serde_json::json!({ "date": on_date.to_string(), "note": note }), now)
}

/// Appends an entry to the audit trail: `action` on document `subject`, by the session's actor.
fn audit(conn: &Connection, action: &str, subject: &str, detail: serde_json::Value, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, ?2, ?3, ?4, (SELECT name FROM temp.session_actor))",
        params![time_text(now), action, subject, detail.to_string()],
    )?;
    Ok(())
}

/// Voids an invoice (its number stays used): with a reason, never twice, and
/// not once paid (a paid invoice is corrected by a credit note).
pub fn void(conn: &Transaction, number: &str, reason: &str, now: DateTime<Utc>) -> Result<Invoice> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why the invoice is voided"));
    }
    let (id, invoice) = require(conn, number)?;
    if invoice.void_reason.is_some() {
        return Err(Error::Conflict(format!("{number} is already void")));
    }
    if invoice.paid.is_some() {
        return Err(Error::Conflict(format!("{number} is paid: correct it with a credit note instead")));
    }
    let paid = payment::standing_total(&invoice.payments);
    if paid > Decimal::ZERO {
        return Err(Error::Conflict(format!(
            "{number} has payments of {paid} {}: correct it with a credit note instead (or reverse a payment recorded in error)",
            invoice.frozen.draft.currency
        )));
    }
    let credited: i64 =
        conn.query_row("SELECT count(*) FROM credit_notes WHERE invoice_id = ?1", [id], |r| r.get(0))?;
    if credited > 0 {
        return Err(Error::Conflict(format!("{number} has credit notes: credit what is left instead")));
    }
    let adjusted: Option<String> = conn
        .query_row(
            concat!("SELECT a.number FROM invoices a WHERE a.adjusts = ?1 AND ", not_void!("a"), " LIMIT 1"),
            [number],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(adjustment) = adjusted {
        return Err(Error::Conflict(format!(
            "{adjustment} bills late usage of {number}'s period: void it first, or credit what is left"
        )));
    }
    let tz = settings::zone(conn)?;
    append_status(conn, id, number, "void", now.with_timezone(&tz).date_naive(), reason, now)?;
    wallet::return_burn(conn, id, number, now)?;
    // The period is given back: its usage is billed again by the reissue, so
    // events there are no longer late, nor are those that came meanwhile.
    let d = &invoice.frozen.draft;
    if d.kind == bill::Kind::Period {
        let (from, to) = (d.usage_window.start.timestamp_millis(), d.usage_window.end.timestamp_millis());
        let customer_id: i64 = conn.query_row("SELECT customer_id FROM invoices WHERE id = ?1", [id], |r| r.get(0))?;
        conn.execute(
            "DELETE FROM invoiced_periods WHERE customer_id = ?1 AND from_ms = ?2 AND to_ms = ?3",
            params![customer_id, from, to],
        )?;
        conn.execute(
            "UPDATE event_chunks SET late = 0 WHERE customer_id = ?1 AND late = 1 AND first_ms >= ?2 AND last_ms < ?3",
            params![customer_id, from, to],
        )?;
    }
    require(conn, number).map(|(_, i)| i)
}

/// Records the payment of everything an invoice still asks for, on `date`
/// with `reference` (by other means than those [`pay`] names); once.
pub fn mark_paid(
    conn: &rusqlite::Transaction,
    number: &str,
    date: NaiveDate,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let (id, invoice) = require(conn, number)?;
    if invoice.void_reason.is_some() {
        return Err(Error::Conflict(format!("{number} is void")));
    }
    if let Some(p) = &invoice.paid {
        return Err(Error::Conflict(format!("{number} was already paid on {}", p.date)));
    }
    let credited = credited_total(conn, id)?;
    let d = &invoice.frozen.draft;
    if credited > Decimal::ZERO && d.dues().owed_after(credited) <= Decimal::ZERO {
        return Err(Error::Conflict(format!(
            "nothing is owed on {number}: its credit notes cover {credited} {}",
            d.currency
        )));
    }
    let owed = owed(conn, id, &invoice)?;
    if owed <= Decimal::ZERO {
        return Err(Error::Conflict(format!("nothing is owed on {number}")));
    }
    let fields = PaymentFields {
        amount: owed.to_string(),
        date: date.to_string(),
        method: payment::Method::Other.as_str().into(),
        reference: reference.into(),
    };
    pay(conn, number, &fields, now)
}

/// What an invoice still asks for: its amount due, less its credit notes,
/// less the payments that stand (nothing once void or paid in full).
pub fn owed(conn: &Connection, id: i64, invoice: &Invoice) -> Result<Decimal> {
    if invoice.void_reason.is_some() || invoice.paid.is_some() {
        return Ok(Decimal::ZERO);
    }
    let owed = invoice.frozen.draft.dues().owed_after(credited_total(conn, id)?);
    Ok((owed - payment::standing_total(&invoice.payments)).max(Decimal::ZERO))
}

/// Records a payment of an invoice (docs/billing.md "Payments, reminders and
/// sending"): at most what it still asks for; a payment of all of it makes
/// it paid. Every wrong field is named.
pub fn pay(conn: &rusqlite::Transaction, number: &str, fields: &PaymentFields, now: DateTime<Utc>) -> Result<Invoice> {
    let (id, invoice) = require(conn, number)?;
    if invoice.void_reason.is_some() {
        return Err(Error::Conflict(format!("{number} is void: nothing is owed on it")));
    }
    let d = &invoice.frozen.draft;
    let currency = crate::money::Currency::parse(&d.currency).map_err(Error::Internal)?;
    let owed = owed(conn, id, &invoice)?;
    let valid = fields.validate(&currency, owed, invoice.frozen.issue_date).map_err(Error::Invalid)?;
    conn.execute(
        "INSERT INTO payments (invoice_id, amount, on_date, method, reference, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            valid.amount.to_string(),
            valid.date.to_string(),
            valid.method.as_str(),
            valid.reference,
            time_text(now)
        ],
    )?;
    let detail = serde_json::json!({
        "payment": conn.last_insert_rowid(), "amount": valid.amount.to_string(), "currency": d.currency,
        "date": valid.date.to_string(), "method": valid.method.as_str(), "note": valid.reference,
        "owed": (owed - valid.amount).to_string()
    });
    audit(conn, "payment", number, detail, now)?;
    require(conn, number).map(|(_, i)| i)
}

/// Takes back a payment recorded in error, with the reason: it stays listed,
/// reversed, and what it paid is owed again.
pub fn reverse_payment(
    conn: &rusqlite::Transaction,
    number: &str,
    payment_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Invoice> {
    let reason = reason.trim();
    let (_, invoice) = require(conn, number)?;
    let Some(p) = invoice.payments.iter().find(|p| p.id == payment_id) else {
        let ids: Vec<String> = invoice.payments.iter().map(|p| format!("#{}", p.id)).collect();
        return Err(Error::invalid(
            "payment",
            match ids.is_empty() {
                true => format!("{number} has no payments"),
                false => format!("{number} has no payment #{payment_id} (its payments: {})", ids.join(", ")),
            },
        ));
    };
    if let Some(why) = &p.reversed {
        return Err(Error::Conflict(format!("payment #{payment_id} of {number} was already reversed: {why}")));
    }
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why the payment is reversed"));
    }
    // Money a credit note sent back (a refund owed, or credit in the wallet)
    // came from the payments that stand: they may not fall below it.
    let mut refunded = Decimal::ZERO;
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(c.content, '$.refund.amount') FROM credit_notes c
         JOIN invoices i ON i.id = c.invoice_id WHERE i.number = ?1",
    )?;
    for amount in stmt.query_map([number], |r| r.get::<_, Option<String>>(0))? {
        if let Some(amount) = amount? {
            refunded += amount.parse::<Decimal>().map_err(|e| {
                Error::Internal(format!("a credit note of {number}: a stored refund \"{amount}\": {e}"))
            })?;
        }
    }
    let left = payment::standing_total(&invoice.payments) - p.amount.0;
    if left < refunded {
        return Err(Error::Conflict(format!(
            "payment #{payment_id} of {number} cannot be reversed: credit notes refunded {refunded} {} of the money \
             paid, and {left} {} would stand",
            invoice.frozen.draft.currency, invoice.frozen.draft.currency
        )));
    }
    conn.execute(
        "INSERT INTO payment_reversals (payment_id, reason, at) VALUES (?1, ?2, ?3)",
        params![payment_id, reason, time_text(now)],
    )?;
    let detail = serde_json::json!({
        "payment": payment_id, "amount": p.amount.to_string(), "currency": invoice.frozen.draft.currency,
        "reason": reason
    });
    audit(conn, "payment_reversed", number, detail, now)?;
    require(conn, number).map(|(_, i)| i)
}

/// What the credit notes of invoice `id` took off in all, tax included.
pub(crate) fn credited_total(conn: &Connection, id: i64) -> Result<Decimal> {
    let mut stmt = conn.prepare_cached("SELECT total FROM credit_notes WHERE invoice_id = ?1")?;
    let mut sum = Decimal::ZERO;
    for total in stmt.query_map([id], |r| r.get::<_, String>(0))? {
        let total = total?;
        sum += total
            .parse::<Decimal>()
            .map_err(|e| Error::Internal(format!("credit_notes of invoice {id}: a stored total \"{total}\": {e}")))?;
    }
    Ok(sum)
}

impl Invoice {
    /// Unpaid, not void, and past its due date on `today`.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.paid.is_none() && self.void_reason.is_none() && today > self.frozen.due_date
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Verified {
    pub invoices: u64,
    /// The first invoice whose content or link does not match, and why.
    pub first_break: Option<String>,
}

/// Re-checks the hash chain of every finalized invoice, oldest first.
pub fn verify(conn: &Connection) -> Result<Verified> {
    let mut stmt = conn.prepare("SELECT number, content, previous_hash, hash FROM invoices ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
    })?;
    let mut expected_previous = String::new();
    let mut checked = 0;
    for row in rows {
        let (number, content, previous, hash) = row?;
        checked += 1;
        let why = if previous != expected_previous {
            Some("its link to the previous invoice does not match")
        } else if link_hash(&previous, &content) != hash {
            Some("its content does not match its hash")
        } else {
            None
        };
        if let Some(why) = why {
            return Ok(Verified { invoices: checked, first_break: Some(format!("{number}: {why}")) });
        }
        expected_previous = hash;
    }
    Ok(Verified { invoices: checked, first_break: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::tests::{CATALOG, apply, events, october};
    use chrono::TimeZone;
    use serde_json::json;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 15, 0, 0).unwrap()
    }

    /// The example catalog with a second customer subscribed, and October's usage.
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

    fn count(ws: &Workspace, sql: &str) -> i64 {
        ws.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn finalize_numbers_freezes_and_refuses_a_second_time() {
        let mut ws = workspace();
        let done = finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
        assert!(done.failures.is_empty(), "{:?}", done.failures);
        let numbers: Vec<_> = done.invoices.iter().map(|i| i.frozen.draft.number.clone().unwrap()).collect();
        assert_eq!(numbers, ["INV-2026-00001", "INV-2026-00002"]);
        let globex = &done.invoices[0].frozen;
        assert_eq!((globex.draft.customer.as_str(), globex.draft.total.to_string()), ("globex", "354.76".into()));
        assert_eq!(
            (globex.issue_date.to_string(), globex.due_date.to_string()),
            ("2026-11-02".into(), "2026-12-02".into())
        );
        assert_eq!(globex.draft.status, Status::Finalized);
        let json = serde_json::to_value(&done.invoices[0]).unwrap();
        assert_eq!((json["number"].clone(), json["status"].clone()), (json!("INV-2026-00001"), json!("finalized")));
        assert_eq!(json["lines"][1]["amount"], "7.40", "the frozen lines keep their arithmetic");

        // Twice: refused for each subscription, and no number is used up.
        let again = finalize_month(&mut ws, crate::month("2026-10"), None, at(3)).unwrap();
        assert!(again.invoices.is_empty());
        assert_eq!(again.failures.len(), 2);
        assert!(again.failures[0].message.contains("already finalized as INV-2026-00001"), "{:?}", again.failures);
        assert_eq!(count(&ws, "SELECT last FROM number_series WHERE series = 'INV' AND year = 2026"), 2);
        assert_eq!(count(&ws, "SELECT count(*) FROM audit_log WHERE action = 'finalize'"), 2);

        // A later plan change leaves the finalized invoice as it was.
        apply(&mut ws, &CATALOG.replace(r#""amount": "99.00""#, r#""amount": "199.00""#));
        assert_eq!(get(ws.conn(), "INV-2026-00001").unwrap().unwrap(), done.invoices[0]);
        // Events arriving in the billed window are late.
        let report_late = {
            let rows = [
                json!({ "id": "late1", "customer": "globex", "type": "api_calls", "timestamp": "2026-10-20T12:00:00Z", "properties": {} }),
            ];
            events(&mut ws, &rows);
            count(&ws, "SELECT sum(events) FROM event_chunks WHERE late = 1")
        };
        assert_eq!(report_late, 1);
        assert_eq!(get(ws.conn(), "INV-2026-00001").unwrap().unwrap(), done.invoices[0], "late usage changes nothing");
    }

    #[test]
    fn advance_fees_are_invoiced_alone_at_the_start_and_not_again() {
        use crate::bill::Kind;
        let mut ws = workspace();
        let amounts = |d: &Draft| -> Vec<(String, String)> {
            d.lines.iter().map(|l| (l.description.clone(), l.amount.to_string())).collect()
        };
        // October 15th, the subscription's first day: the advance fee alone, prorated, with the
        // invoice's percentage discount and tax. Initech's plan has no advance fee: no draft.
        let advance = crate::bill::preview(&mut ws, crate::month("2026-10"), None, Kind::Advance).unwrap();
        assert_eq!(advance.len(), 1);
        let d = &advance[0];
        assert_eq!((d.customer.as_str(), d.kind), ("globex", Kind::Advance));
        assert_eq!(amounts(d), [("Platform fee".into(), "54.29".into()), ("Launch".into(), "-5.43".into())]);
        assert_eq!(
            (d.subtotal.to_string(), d.tax.to_string(), d.total.to_string()),
            ("48.86".into(), "9.77".into(), "58.63".into())
        );
        let first = Utc.with_ymd_and_hms(2026, 10, 15, 14, 0, 0).unwrap();
        let every = Selection::Every { customer: None, open: Open::Include };
        let done = finalize_chosen(&mut ws, crate::month("2026-10"), Kind::Advance, every, first).unwrap();
        assert_eq!(done.invoices.len(), 1, "{:?}", done.failures);
        assert_eq!(done.invoices[0].frozen.draft.number.as_deref(), Some("INV-2026-00001"));
        assert_eq!(count(&ws, "SELECT count(*) FROM invoiced_periods"), 0, "an advance invoice bills no usage");
        let again = finalize_chosen(&mut ws, crate::month("2026-10"), Kind::Advance, every, first).unwrap();
        assert_eq!(
            again.failures[0].message,
            "the advance fee invoice of the period of sub_globex starting 2026-10-01 is already finalized as INV-2026-00001"
        );

        // The period's invoice then leaves the fee out: 328.48 less 54.29 is discounted 10%.
        let period = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let p = &period.invoices[0].frozen.draft;
        assert_eq!((p.number.as_deref(), p.kind), (Some("INV-2026-00002"), Kind::Period));
        assert!(p.lines.iter().all(|l| l.description != "Platform fee"), "{:?}", amounts(p));
        assert_eq!(amounts(p).last().unwrap(), &("Launch".to_string(), "-27.42".to_string()));
        assert_eq!(
            (p.subtotal.to_string(), p.tax.to_string(), p.total.to_string()),
            ("246.77".into(), "49.35".into(), "296.12".into())
        );
        // Both together bill what one invoice would, but for a cent of rounding each.
        assert_eq!(d.total.0 + p.total.0, "354.75".parse::<rust_decimal::Decimal>().unwrap());
        assert!(verify(ws.conn()).unwrap().first_break.is_none());
    }

    #[test]
    fn advance_fee_billed_twice_when_the_period_invoice_came_first() {
        use crate::bill::Kind;
        let mut ws = workspace();
        // The period's invoice first: it bills the Platform fee itself.
        let period = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let p = &period.invoices[0].frozen.draft;
        assert!(p.lines.iter().any(|l| l.description == "Platform fee"));
        // Then no advance invoice is left to issue for the period, in the preview or at finalize.
        assert!(crate::bill::preview(&mut ws, crate::month("2026-10"), None, Kind::Advance).unwrap().is_empty());
        let again = finalize_chosen(
            &mut ws,
            crate::month("2026-10"),
            Kind::Advance,
            Selection::Every { customer: None, open: Open::Include },
            at(2),
        )
        .unwrap();
        assert!(again.invoices.is_empty() && again.failures.is_empty(), "{:?}", again.failures);
        // A stale advance draft (computed before the period was finalized) is refused in the transaction.
        let mut stale = p.clone();
        stale.kind = Kind::Advance;
        let err = ws.write(|tx| finalize_current(tx, &stale, None, at(2))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the advance fees of sub_globex for the period starting 2026-10-01 were billed on INV-2026-00001"
        );
        assert_eq!(count(&ws, "SELECT count(*) FROM invoices"), 1);
        // Voiding the period invoice gives the fee back: the advance invoice may now bill it.
        ws.write(|tx| void(tx, "INV-2026-00001", "Wrong plan", at(3))).unwrap();
        let advance = finalize_chosen(
            &mut ws,
            crate::month("2026-10"),
            Kind::Advance,
            Selection::Every { customer: None, open: Open::Include },
            at(3),
        )
        .unwrap();
        assert_eq!(advance.invoices.len(), 1, "{:?}", advance.failures);
        // And the reissued period invoice leaves it out.
        let reissued = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(3)).unwrap();
        let r = &reissued.invoices[0].frozen;
        assert!(r.draft.lines.iter().all(|l| l.description != "Platform fee"));
        assert_eq!(r.replaces.as_deref(), Some("INV-2026-00001"));
    }

    #[test]
    fn usage_imported_between_preview_and_finalize_is_billed_not_lost() {
        let mut ws = workspace();
        let seen = crate::bill::preview_customer(&mut ws, "globex", crate::month("2026-10")).unwrap().remove(0);
        // An import commits after the draft was computed and before it is finalized.
        events(
            &mut ws,
            &[json!({ "id": "between", "customer": "globex", "type": "api_calls",
                      "timestamp": "2026-10-28T12:00:00Z", "properties": {} })],
        );
        let invoice = ws.write(|tx| finalize_current(tx, &seen, None, at(2))).unwrap();
        let calls = |d: &Draft| d.lines.iter().find(|l| l.meter.as_deref() == Some("api_calls")).unwrap().quantity.0;
        assert_eq!(calls(&invoice.frozen.draft), calls(&seen) + rust_decimal::Decimal::ONE, "the event is billed");
        assert_eq!(count(&ws, "SELECT count(*) FROM event_chunks WHERE late = 1"), 0, "and not late");
        // With the total the operator reviewed, the changed draft is refused instead.
        let mut ws = workspace();
        let seen = crate::bill::preview_customer(&mut ws, "globex", crate::month("2026-10")).unwrap().remove(0);
        events(
            &mut ws,
            &[json!({ "id": "between", "customer": "globex", "type": "tokens",
                      "timestamp": "2026-10-28T12:00:00Z", "properties": { "model": "gpt-4o", "tokens": 100_000_000 } })],
        );
        let err = ws.write(|tx| finalize_current(tx, &seen, Some(seen.total), at(2))).unwrap_err();
        assert!(err.to_string().starts_with("its total changed from 354.76 to "), "{err}");
        assert_eq!(count(&ws, "SELECT count(*) FROM invoices"), 0);
    }

    #[test]
    fn a_voided_period_is_reissued_under_a_new_number() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        // A late event: flagged late while the period stands invoiced.
        let late = |id: &str| {
            json!({ "id": id, "customer": "globex", "type": "api_calls",
                    "timestamp": "2026-10-29T12:00:00Z", "properties": {} })
        };
        events(&mut ws, &[late("l1")]);
        assert_eq!(count(&ws, "SELECT count(*) FROM event_chunks WHERE late = 1"), 1);
        ws.write(|tx| void(tx, "INV-2026-00001", "Wrong discount", at(3))).unwrap();
        assert_eq!(count(&ws, "SELECT count(*) FROM event_chunks WHERE late = 1"), 0, "the period is open again");
        events(&mut ws, &[late("l2")]);
        assert_eq!(count(&ws, "SELECT count(*) FROM event_chunks WHERE late = 1"), 0);
        let reissued = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(3)).unwrap();
        assert!(reissued.failures.is_empty(), "{:?}", reissued.failures);
        let r = &reissued.invoices[0];
        assert_eq!(r.frozen.draft.number.as_deref(), Some("INV-2026-00002"));
        assert_eq!(r.frozen.replaces.as_deref(), Some("INV-2026-00001"));
        let calls = r.frozen.draft.lines.iter().find(|l| l.meter.as_deref() == Some("api_calls")).unwrap();
        assert_eq!(calls.quantity.to_string(), "10502", "both late events are billed by the reissue");
        assert_eq!(
            get(ws.conn(), "INV-2026-00002").unwrap().unwrap().frozen.replaces.as_deref(),
            Some("INV-2026-00001")
        );
        // The reissue stands: a second finalize is refused, and the void stays in the register.
        let again = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(4)).unwrap();
        assert!(again.failures[0].message.contains("already finalized as INV-2026-00002"), "{:?}", again.failures);
        assert_eq!(get(ws.conn(), "INV-2026-00001").unwrap().unwrap().frozen.draft.status, Status::Void);
        // Voided again, reissued again: the third generation.
        ws.write(|tx| void(tx, "INV-2026-00002", "Still wrong", at(4))).unwrap();
        let third = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(4)).unwrap();
        assert_eq!(third.invoices[0].frozen.replaces.as_deref(), Some("INV-2026-00002"));
        assert_eq!(verify(ws.conn()).unwrap().first_break, None);
    }

    #[test]
    fn an_invoice_credited_in_full_cannot_be_marked_paid() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let request = crate::credit::Request::Full;
        ws.write(|tx| crate::credit::issue(tx, "INV-2026-00001", "Goodwill", &request, at(3))).unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let err = ws.write(|tx| mark_paid(tx, "INV-2026-00001", date, "wire", at(20))).unwrap_err();
        assert_eq!(err.to_string(), "nothing is owed on INV-2026-00001: its credit notes cover 354.76 USD");
        let entry = &crate::register::entries(ws.conn(), date).unwrap()[0];
        assert_eq!(entry.standing, crate::register::Standing::Credited);
    }

    #[test]
    fn a_time_zone_change_after_invoicing_would_bill_boundary_events_twice() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let utc = CATALOG.replace("America/New_York", "UTC");
        let err = ws.write(|tx| crate::catalog::apply(tx, crate::catalog::parse(&utc)?, at(3))).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "$.workspace.timezone");
        assert!(
            problems[0]
                .message
                .starts_with("the time zone stays America/New_York while periods are invoiced (e.g. INV-2026-00001)")
        );
        let mut settings = settings::get(ws.conn()).unwrap();
        settings.timezone = "Europe/Paris".into();
        let err = ws.write(|tx| settings::update(tx, settings.clone())).unwrap_err();
        assert_eq!(err.problems()[0].path, "timezone");
        assert_eq!(settings::get(ws.conn()).unwrap().timezone, "America/New_York");
        // With the invoice void, no period stands invoiced: the zone may change.
        ws.write(|tx| void(tx, "INV-2026-00001", "Wrong zone", at(3))).unwrap();
        ws.write(|tx| settings::update(tx, settings)).unwrap();
        assert_eq!(settings::get(ws.conn()).unwrap().timezone, "Europe/Paris");
    }

    #[test]
    fn a_catalog_cannot_move_a_subscribed_customer_to_another_currency() {
        let mut ws = workspace();
        let text =
            r#"{ "customers": [ { "id": "globex", "name": "Globex Corp", "currency": "EUR", "tax_rate": "0.20" } ] }"#;
        let err = ws.write(|tx| crate::catalog::apply(tx, crate::catalog::parse(text)?, at(3))).unwrap_err();
        assert_eq!(err.problems()[0].path, "$.customers[0].currency");
        assert_eq!(
            err.problems()[0].message,
            "subscription sub_globex bills plan \"pro\" in USD: the customer's currency cannot become EUR"
        );
        // The workspace's own export still applies, to itself and to a fresh workspace.
        let exported = serde_json::to_string(&crate::catalog::export(ws.conn()).unwrap()).unwrap();
        ws.write(|tx| crate::catalog::apply(tx, crate::catalog::parse(&exported)?, at(3))).unwrap();
        let mut fresh = Workspace::in_memory().unwrap();
        fresh.write(|tx| crate::catalog::apply(tx, crate::catalog::parse(&exported)?, at(3))).unwrap();
    }

    #[test]
    fn the_usage_of_each_day_is_frozen_with_the_invoice() {
        let mut ws = workspace();
        let done = finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let frozen = &done.invoices[0].frozen;
        let lines = &frozen.draft.lines;
        let usage: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].kind == LineKind::Usage).map(|i| i + 1).collect();
        assert_eq!(frozen.usage_days.iter().map(|d| d.line).collect::<Vec<_>>(), usage, "one entry per usage line");
        let mut added_up = 0;
        for d in &frozen.usage_days {
            let line = &lines[d.line - 1];
            assert!(d.days.windows(2).all(|w| w[0].date < w[1].date), "days in order");
            assert!(d.days.iter().all(|q| q.date >= frozen.draft.first_day && q.date < frozen.draft.end_day));
            // Sums and counts add up by day to the line's quantity.
            if matches!(line.meter.as_deref(), Some("tokens" | "api_calls")) {
                let sum: rust_decimal::Decimal = d.days.iter().map(|q| q.quantity.0).sum();
                assert_eq!(sum, line.quantity.0, "{}", line.description);
                assert!(!d.days.is_empty(), "{} has usage", line.description);
                added_up += 1;
            }
        }
        assert!(added_up >= 2, "the tokens and API calls lines were checked");
    }

    #[test]
    fn the_database_refuses_to_change_or_delete_what_is_finalized() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        for sql in [
            "UPDATE invoices SET total = '0.00'",
            "DELETE FROM invoices",
            "UPDATE audit_log SET action = 'nothing'",
            "DELETE FROM audit_log",
        ] {
            let err = ws.conn().execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("cannot be"), "{sql}: {err}");
        }
        assert_eq!(count(&ws, "SELECT count(*) FROM invoices"), 1);
    }

    #[test]
    fn a_crash_before_the_commit_leaves_no_gap_and_no_duplicate() {
        let mut ws = workspace();
        let drafts = bill::preview_all(&mut ws, crate::month("2026-10")).unwrap();
        // The number is taken and the invoice written, then the transaction dies before its commit.
        let crashed = ws.write(|tx| {
            let invoice = finalize(tx, &drafts[0], at(2))?;
            assert_eq!(invoice.frozen.draft.number.as_deref(), Some("INV-2026-00001"));
            Err::<(), _>(Error::Internal("the process died here".into()))
        });
        assert!(crashed.is_err());
        assert_eq!(count(&ws, "SELECT count(*) FROM number_series"), 0, "the number went with the transaction");
        let first = ws.write(|tx| finalize(tx, &drafts[1], at(2))).unwrap();
        let second = ws.write(|tx| finalize(tx, &drafts[0], at(2))).unwrap();
        assert_eq!(
            (first.frozen.draft.number.as_deref(), second.frozen.draft.number.as_deref()),
            (Some("INV-2026-00001"), Some("INV-2026-00002"))
        );
        // A new year starts its own series.
        let next_year = Utc.with_ymd_and_hms(2027, 1, 5, 15, 0, 0).unwrap();
        let nov = bill::preview_all(&mut ws, crate::month("2026-11")).unwrap();
        let third = ws.write(|tx| finalize(tx, &nov[0], next_year)).unwrap();
        assert_eq!(third.frozen.draft.number.as_deref(), Some("INV-2027-00001"));
    }

    #[test]
    fn void_and_paid_are_appended_never_rewritten() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let one = get(ws.conn(), "INV-2026-00001").unwrap().unwrap();
        assert!(!one.is_overdue(date("2026-12-02")) && one.is_overdue(date("2026-12-03")), "due 30 days after issue");
        let bad = ws.write(|tx| void(tx, "INV-2026-00001", "  ", at(3)));
        assert_eq!(bad.unwrap_err().problems()[0].path, "reason");
        let voided = ws.write(|tx| void(tx, "INV-2026-00001", "Billed to the wrong entity", at(3))).unwrap();
        assert_eq!(
            (voided.frozen.draft.status, voided.void_reason.as_deref()),
            (Status::Void, Some("Billed to the wrong entity"))
        );
        assert_eq!(serde_json::to_value(&voided).unwrap()["status"], "void");
        assert!(!voided.is_overdue(date("2027-06-01")));
        assert!(matches!(ws.write(|tx| void(tx, "INV-2026-00001", "again", at(3))), Err(Error::Conflict(_))));
        assert!(matches!(
            ws.write(|tx| mark_paid(tx, "INV-2026-00001", date("2026-11-20"), "wire 1", at(20))),
            Err(Error::Conflict(_))
        ));

        // Initech's October came to nothing: there is nothing to record as paid.
        let nothing = ws.write(|tx| mark_paid(tx, "INV-2026-00002", date("2026-11-20"), "wire 2", at(20)));
        assert!(matches!(&nothing, Err(Error::Conflict(m)) if m == "nothing is owed on INV-2026-00002"), "{nothing:?}");
        assert!(matches!(ws.write(|tx| void(tx, "INV-2099-00001", "no such", at(21))), Err(Error::NotFound(_))));
        assert_eq!(count(&ws, "SELECT count(*) FROM audit_log"), 3, "2 finalized, 1 void");
        assert_eq!(verify(ws.conn()).unwrap().first_break, None, "status changes leave the chain intact");
    }

    #[test]
    fn payments_in_part_then_in_full_and_a_reversal_owe_again() {
        // docs/billing.md: 1,481.47 paid 500.00 then 981.47 → paid; the second reversed → partially paid, 981.47 owed.
        let mut ws = Workspace::in_memory().unwrap();
        apply(
            &mut ws,
            r#"{ "workspace": { "timezone": "UTC" },
                 "customers": [ { "id": "acme", "name": "Acme", "tax_rate": "0.20" } ],
                 "plans": [ { "code": "flat", "name": "Flat", "currency": "USD", "interval": "month",
                              "fees": [ { "name": "Platform", "amount": "1234.56", "timing": "arrears" } ] } ],
                 "subscriptions": [ { "id": "s1", "customer": "acme", "plan": "flat", "start": "2026-10-01", "anchor_day": 1 } ] }"#,
        );
        finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
        let number = "INV-2026-00001";
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let pay_with = |amount: &str, on: &str, reference: &str| PaymentFields {
            amount: amount.into(),
            date: on.into(),
            method: "bank_transfer".into(),
            reference: reference.into(),
        };
        let row = |inv: &Invoice| {
            let e = crate::register::entry(inv, "Acme", Decimal::ZERO, date("2026-11-20"));
            (e.standing, e.paid.to_string(), e.outstanding.to_string())
        };
        let inv = get(ws.conn(), number).unwrap().unwrap();
        assert_eq!(inv.frozen.draft.total.to_string(), "1481.47");
        let owed_on = |ws: &Workspace, on: &str| {
            crate::report::receivables(ws.conn(), date(on)).unwrap().first().map(|r| r.total.to_string())
        };

        let first = ws.write(|tx| pay(tx, number, &pay_with("500.00", "2026-11-05", "wire 1"), at(5))).unwrap();
        assert_eq!(row(&first), (crate::register::Standing::PartiallyPaid, "500.00".into(), "981.47".into()));
        assert_eq!(first.paid, None);
        // More than is owed, named by its field; a void is refused once money came in.
        let more = ws.write(|tx| pay(tx, number, &pay_with("981.48", "2026-11-06", "wire 2"), at(6))).unwrap_err();
        assert_eq!(more.problems()[0].message, "981.48 USD is more than the 981.47 USD still owed");
        let void_refused = ws.write(|tx| void(tx, number, "wrong customer", at(6))).unwrap_err();
        assert!(void_refused.to_string().contains("has payments of 500.00 USD: correct it with a credit note"));

        let second = ws.write(|tx| pay(tx, number, &pay_with("981.47", "2026-11-12", "wire 2"), at(12))).unwrap();
        assert_eq!(row(&second), (crate::register::Standing::Paid, "1481.47".into(), "0.00".into()));
        assert_eq!(second.paid, Some(Payment { date: date("2026-11-12"), reference: "wire 2".into() }));
        let none_left = ws.write(|tx| pay(tx, number, &pay_with("1.00", "2026-11-13", "wire 3"), at(13))).unwrap_err();
        assert_eq!(none_left.problems()[0].message, "nothing is owed on this invoice");
        assert!(matches!(
            ws.write(|tx| mark_paid(tx, number, date("2026-11-13"), "again", at(13))),
            Err(Error::Conflict(_))
        ));
        // What was owed on each day: before, between and after the payments.
        assert_eq!(owed_on(&ws, "2026-11-04").as_deref(), Some("1481.47"));
        assert_eq!(owed_on(&ws, "2026-11-10").as_deref(), Some("981.47"));
        assert_eq!(owed_on(&ws, "2026-11-12"), None);

        // The second reversed: partially paid, 981.47 owed again.
        let id = second.payments[1].id;
        assert_eq!(
            ws.write(|tx| reverse_payment(tx, number, id, " ", at(14))).unwrap_err().problems()[0].path,
            "reason"
        );
        let unknown = ws.write(|tx| reverse_payment(tx, number, 99, "typo", at(14))).unwrap_err();
        assert_eq!(unknown.problems()[0].message, format!("{number} has no payment #99 (its payments: #1, #2)"));
        let reversed = ws.write(|tx| reverse_payment(tx, number, id, "the bank returned it", at(14))).unwrap();
        assert_eq!(row(&reversed), (crate::register::Standing::PartiallyPaid, "500.00".into(), "981.47".into()));
        assert_eq!((reversed.paid.as_ref(), reversed.payments.len()), (None, 2));
        assert_eq!(reversed.payments[1].reversed.as_deref(), Some("the bank returned it"));
        assert_eq!(owed_on(&ws, "2026-11-20").as_deref(), Some("981.47"));
        assert!(matches!(ws.write(|tx| reverse_payment(tx, number, id, "again", at(15))), Err(Error::Conflict(_))));
        // Past the due date what is left is overdue.
        let e = crate::register::entry(&reversed, "Acme", Decimal::ZERO, date("2026-12-03"));
        assert_eq!((e.standing, e.outstanding.to_string()), (crate::register::Standing::Overdue, "981.47".into()));

        // Payments and reversals are never changed or deleted.
        for sql in [
            "UPDATE payments SET amount = '1'",
            "DELETE FROM payments",
            "UPDATE payment_reversals SET reason = 'x'",
            "DELETE FROM payment_reversals",
        ] {
            let err = ws.conn().execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("cannot be"), "{sql}: {err}");
        }
        let trail: Vec<String> =
            crate::register::trail(ws.conn(), number).unwrap().into_iter().map(|a| a.sentence).collect();
        assert_eq!(
            trail[1..],
            [
                format!(
                    "Recorded a payment (#1) of 500.00 USD on {number}, received 2026-11-05 by bank transfer, reference wire 1: 981.47 USD still owed."
                ),
                format!(
                    "Recorded a payment (#2) of 981.47 USD on {number}, received 2026-11-12 by bank transfer, reference wire 2: paid in full."
                ),
                format!("Reversed payment #2 of {number} (981.47 USD): the bank returned it."),
            ]
        );
        assert_eq!(verify(ws.conn()).unwrap().first_break, None);
    }

    #[test]
    fn an_unknown_stored_status_is_an_error_not_a_payment() {
        // Before, any status but "void" read as paid.
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
        let number = "INV-2026-00001";
        ws.conn()
            .execute(
                "INSERT INTO invoice_status (invoice_id, status, on_date, note, at)
                 SELECT id, 'paid', '2026-11-05', 'wire 42', '2026-11-05T10:00:00Z' FROM invoices WHERE number = ?1",
                [number],
            )
            .unwrap();
        assert_eq!(get(ws.conn(), number).unwrap().unwrap().paid.unwrap().reference, "wire 42");
        ws.conn()
            .execute_batch(
                "DROP TRIGGER invoice_status_is_append_only_update; PRAGMA ignore_check_constraints = ON;
                 UPDATE invoice_status SET status = 'refunded';",
            )
            .unwrap();
        let err = get(ws.conn(), number).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Internal);
        let text = err.to_string();
        assert!(
            text.contains("invoice_status row") && text.contains("\"refunded\", which is not an invoice status"),
            "{text}"
        );
        // The reports' figures read the statuses the same way.
        let err = figures(ws.conn(), None).unwrap_err();
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn verify_finds_the_first_edited_invoice() {
        let mut ws = workspace();
        finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
        finalize_month(&mut ws, crate::month("2026-11"), None, at(3)).unwrap();
        let ok = verify(ws.conn()).unwrap();
        assert_eq!((ok.invoices, ok.first_break), (4, None));
        // Someone edits the file behind the application's back.
        ws.conn()
            .execute_batch(
                "DROP TRIGGER invoices_are_frozen_update;
                 UPDATE invoices SET content = replace(content, '\"total\":\"354.76\"', '\"total\":\"3.54\"') WHERE number = 'INV-2026-00001';",
            )
            .unwrap();
        let broken = verify(ws.conn()).unwrap();
        assert_eq!(broken.first_break.as_deref(), Some("INV-2026-00001: its content does not match its hash"));
        assert_eq!(broken.invoices, 1);
    }
}
