//! Credit wallets (docs/billing.md "Wallets"): per customer, grants of paid
//! or free credit in the customer's currency, and an append-only ledger of
//! what happened to each — granted, consumed by an invoice, expired, rolled
//! over, voided, adjusted. The balance is the sum of the ledger and never
//! negative: every entry carries its grant's remaining amount and the
//! wallet's balance after it, computed in the transaction that writes it and
//! refused by the database when negative.
//!
//! Expiry is a local date of the workspace zone, the last day a grant can be
//! used: it expires at the start of the next day. Expiries (and rollovers) are
//! written by [`settle`], which every write here runs first, so a grant past
//! its date never pays for an invoice issued after it.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::money::{Currency, Dec};
use crate::settings::zone;
use crate::stored::{Columns, located, time_text};
use crate::stored::{DecColumns, StoredDec};
use crate::workspace::Workspace;

/// Paid top-up (money received or invoiced) or free/promotional credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    Paid,
    Free,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Paid => "paid",
            GrantKind::Free => "free",
        }
    }

    fn parse(text: &str) -> Option<GrantKind> {
        match text {
            "paid" => Some(GrantKind::Paid),
            "free" => Some(GrantKind::Free),
            _ => None,
        }
    }
}

/// Where a grant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Catalog,
    Manual,
    AutoTopup,
    Rollover,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Catalog => "catalog",
            Origin::Manual => "manual",
            Origin::AutoTopup => "auto_topup",
            Origin::Rollover => "rollover",
        }
    }

    fn parse(text: &str) -> Option<Origin> {
        Some(match text {
            "catalog" => Origin::Catalog,
            "manual" => Origin::Manual,
            "auto_topup" => Origin::AutoTopup,
            "rollover" => Origin::Rollover,
            _ => return None,
        })
    }
}

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Grant,
    Consumption,
    Expiry,
    Rollover,
    Void,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Consumption => "consumption",
            EntryKind::Expiry => "expiry",
            EntryKind::Rollover => "rollover",
            EntryKind::Void => "void",
            EntryKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> std::result::Result<EntryKind, String> {
        Ok(match text {
            "grant" => EntryKind::Grant,
            "consumption" => EntryKind::Consumption,
            "expiry" => EntryKind::Expiry,
            "rollover" => EntryKind::Rollover,
            "void" => EntryKind::Void,
            "adjustment" => EntryKind::Adjustment,
            other => {
                return Err(format!(
                    "\"{other}\" is not an entry kind (grant, consumption, expiry, rollover, void, adjustment)"
                ));
            }
        })
    }
}

/// What happens to a grant's unused credit when it expires: at most `percent`
/// of it and at most `max` rolls into a new grant that lasts `months` more
/// (default 1); the rest expires. With neither cap, all of it rolls. Rolled
/// credit does not roll again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Rollover {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
}

impl Rollover {
    /// How much of `unused` rolls over: capped, and cut (never rounded up) to minor units.
    pub fn rolled(&self, unused: Decimal, currency: Currency) -> Decimal {
        let mut rolled = match self.percent {
            Some(p) => unused * p.0 / Decimal::ONE_HUNDRED,
            None => unused,
        };
        if let Some(max) = self.max {
            rolled = rolled.min(max.0);
        }
        let mut cut = rolled.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::ToZero);
        cut.rescale(currency.minor_units());
        cut.max(Decimal::ZERO)
    }
}

/// A grant as a catalog's `wallets[].grants[]` or `wallet grant` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct GrantFields {
    /// Unique per customer.
    pub id: String,
    pub amount: Dec,
    pub kind: GrantKind,
    /// The last local day it can be used (workspace zone); none: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "string | null")]
    pub expires: Option<NaiveDate>,
    /// Among grants expiring together, the higher is used first.
    #[serde(default)]
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<Rollover>,
    /// A paid top-up's invoice or payment reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

const ID_MAX_CHARS: usize = 64;
const TEXT_MAX_CHARS: usize = 200;

/// An amount in `currency` that must be positive and carry at most its minor
/// units; returned with exactly them ("100" is "100.00" in USD).
fn money_problem(field: &str, amount: Decimal, currency: Currency) -> std::result::Result<Decimal, Problem> {
    if amount <= Decimal::ZERO {
        return Err(Problem::new(field, format!("must be more than 0 (got {amount})")));
    }
    if amount > crate::money::MAX_ENTRY_AMOUNT {
        return Err(Problem::new(
            field,
            format!("{amount} is more than one entry may carry (at most {})", crate::money::MAX_ENTRY_AMOUNT),
        ));
    }
    let units = currency.minor_units();
    if amount.normalize().scale() > units {
        return Err(Problem::new(
            field,
            format!("{amount} has more decimals than {} allows ({units})", currency.code()),
        ));
    }
    let mut a = amount;
    a.rescale(units);
    Ok(a)
}

impl GrantFields {
    /// Checks a grant in the customer's currency; returns it normalized (id
    /// trimmed, amounts with the currency's minor units). Problems name fields.
    pub fn validate(&self, currency: Currency) -> std::result::Result<GrantFields, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut out = self.clone();
        out.id = self.id.trim().to_string();
        if out.id.is_empty() {
            problems.push(Problem::new("id", "a grant needs an id (unique for the customer)"));
        } else if out.id.chars().count() > ID_MAX_CHARS || out.id.chars().any(char::is_control) {
            problems.push(Problem::new("id", format!("at most {ID_MAX_CHARS} characters, no control characters")));
        }
        match money_problem("amount", self.amount.0, currency) {
            Ok(a) => out.amount = Dec(a),
            Err(p) => problems.push(p),
        }
        if let Some(r) = &self.rollover {
            let mut rule = r.clone();
            // Without a percentage everything left rolls (up to `max`): said as 100%.
            rule.percent = Some(r.percent.unwrap_or(Dec(Decimal::ONE_HUNDRED)));
            if self.expires.is_none() {
                problems.push(Problem::new("rollover", "only a grant that expires can roll over: give it `expires`"));
            }
            if let Some(p) = r.percent
                && (p.0 <= Decimal::ZERO || p.0 > Decimal::ONE_HUNDRED)
            {
                problems
                    .push(Problem::new("rollover.percent", format!("must be more than 0 and at most 100 (got {p})")));
            }
            if let Some(max) = r.max {
                match money_problem("rollover.max", max.0, currency) {
                    Ok(a) => rule.max = Some(Dec(a)),
                    Err(p) => problems.push(p),
                }
            }
            if let Some(m) = r.months
                && !(1..=120).contains(&m)
            {
                problems.push(Problem::new("rollover.months", format!("must be 1 to 120 (got {m})")));
            }
            out.rollover = Some(rule);
        }
        out.reference = self.reference.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        if out.reference.as_ref().is_some_and(|r| r.chars().count() > TEXT_MAX_CHARS) {
            problems.push(Problem::new("reference", format!("at most {TEXT_MAX_CHARS} characters")));
        }
        out.note = self.note.trim().to_string();
        if out.note.chars().count() > TEXT_MAX_CHARS {
            problems.push(Problem::new("note", format!("at most {TEXT_MAX_CHARS} characters")));
        }
        if problems.is_empty() { Ok(out) } else { Err(problems) }
    }
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Has credit left to use.
    Active,
    /// Everything was consumed (or adjusted away).
    UsedUp,
    Expired,
    Void,
}

/// A stored grant and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Grant {
    #[serde(flatten)]
    #[ts(flatten)]
    pub fields: GrantFields,
    pub origin: Origin,
    pub currency: String,
    pub remaining: Dec,
    pub state: GrantState,
    #[ts(type = "string")]
    pub granted_at: DateTime<Utc>,
    /// The grant this one's credit rolled over from.
    pub rolled_from: Option<String>,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "LedgerEntry")]
pub struct Entry {
    pub id: i64,
    pub grant: String,
    pub kind: EntryKind,
    /// Signed: credit added is positive, credit used or removed negative.
    pub amount: Dec,
    /// What is left of the grant after this entry.
    pub grant_balance: Dec,
    /// The wallet's balance after this entry.
    pub balance: Dec,
    /// The invoice that consumed (or gave back) the credit.
    pub invoice: Option<String>,
    pub note: String,
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
}

/// A customer's wallet: docs/interfaces.md's `{"balance", "grants"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Wallet {
    pub customer: String,
    pub currency: String,
    pub balance: Dec,
    pub grants: Vec<Grant>,
}

/// The customer's row id and currency.
pub(crate) fn customer_row(conn: &Connection, customer: &str) -> Result<(i64, Currency)> {
    let (id, code): (i64, String) = conn
        .query_row("SELECT id, currency FROM customers WHERE external_id = ?1", [customer], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no customer with id \"{customer}\"")))?;
    let currency = Currency::parse(&code).map_err(Error::Internal)?;
    Ok((id, currency))
}

/// When a grant whose last day is `expires` stops counting: the start of the next local day.
pub fn expiry_instant(tz: Tz, expires: NaiveDate) -> Result<DateTime<Utc>> {
    let next = expires.succ_opt().ok_or_else(|| Error::Internal(format!("no day after {expires}")))?;
    Ok(crate::period::day_start(tz, next)?)
}

/// `months` after `day`, keeping the end of a month at the end of a month
/// (Nov 30 + 1 → Dec 31) and clamping otherwise (Jan 31 + 1 → Feb 28).
fn months_later(day: NaiveDate, months: u32) -> Option<NaiveDate> {
    let month_end = day.succ_opt().is_some_and(|d| d.month() != day.month());
    let later = day.checked_add_months(Months::new(months))?;
    if !month_end {
        return Some(later);
    }
    let first_of_next = later.with_day(1)?.checked_add_months(Months::new(1))?;
    first_of_next.pred_opt()
}

/// The last entry's balances: the grant's and the wallet's.
fn last_balances(conn: &Connection, customer_id: i64, grant_id: i64) -> Result<(Decimal, Decimal)> {
    let grant: Option<Dec> = conn
        .prepare_cached("SELECT grant_balance FROM wallet_entries WHERE grant_id = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([grant_id], |r| r.dec(0))
        .optional()?;
    Ok((grant.map_or(Decimal::ZERO, |d| d.0), wallet_balance(conn, customer_id)?))
}

pub(crate) fn wallet_balance(conn: &Connection, customer_id: i64) -> Result<Decimal> {
    let balance: Option<Dec> = conn
        .prepare_cached("SELECT balance FROM wallet_entries WHERE customer_id = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([customer_id], |r| r.dec(0))
        .optional()?;
    Ok(balance.map_or(Decimal::ZERO, |d| d.0))
}

/// A zero without its sign: `-0.00` would read as negative to the ledger's CHECKs.
fn unsigned_zero(mut d: Decimal) -> Decimal {
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d
}

/// One new ledger entry, in the caller's transaction. Refused when it would
/// leave the grant or the wallet below zero.
struct Append<'a> {
    kind: EntryKind,
    amount: Decimal,
    invoice_id: Option<i64>,
    note: &'a str,
    at: DateTime<Utc>,
}

fn append(conn: &rusqlite::Transaction, customer_id: i64, grant: (i64, &str), e: Append) -> Result<()> {
    let before = last_balances(conn, customer_id, grant.0)?;
    append_after(conn, customer_id, grant, e, before)
}

/// [`append`] given the grant's and the wallet's balances before it.
fn append_after(
    conn: &Transaction,
    customer_id: i64,
    grant: (i64, &str),
    e: Append,
    (grant_before, before): (Decimal, Decimal),
) -> Result<()> {
    let (grant_id, code) = grant;
    let (grant_after, after) = (unsigned_zero(grant_before + e.amount), unsigned_zero(before + e.amount));
    if grant_after < Decimal::ZERO || after < Decimal::ZERO {
        return Err(Error::Conflict(format!(
            "this would leave grant \"{code}\" at {grant_after} and the wallet at {after}: a wallet never goes below zero"
        )));
    }
    conn.prepare_cached(
        "INSERT INTO wallet_entries (customer_id, grant_id, kind, amount, grant_balance, balance, invoice_id, note, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        customer_id,
        grant_id,
        e.kind.as_str(),
        StoredDec(Dec(unsigned_zero(e.amount))),
        StoredDec(Dec(grant_after)),
        StoredDec(Dec(after)),
        e.invoice_id,
        e.note,
        time_text(e.at)
    ])?;
    Ok(())
}

/// A stored grant row, as `settle` and the burn need it.
/// A grant that can pay, keyed by its row id and code.
type Open = meterdesk_rules::settle::Credit<(i64, String)>;

/// Adds a grant to a customer's wallet, in the caller's transaction: expiries
/// due at `now` are settled first. A grant id the customer already has is a
/// conflict; a manual grant without an id gets the next `grant-N`, and cannot
/// expire before today.
pub fn grant(
    conn: &rusqlite::Transaction,
    customer: &str,
    fields: &GrantFields,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<Grant> {
    let (customer_id, currency) = customer_row(conn, customer)?;
    let named;
    let fields = if origin == Origin::Manual && fields.id.trim().is_empty() {
        named = GrantFields { id: fresh_code(conn, customer_id)?, ..fields.clone() };
        &named
    } else {
        fields
    };
    let fields = fields.validate(currency).map_err(Error::Invalid)?;
    let tz = zone(conn)?;
    let today = now.with_timezone(&tz).date_naive();
    if origin == Origin::Manual
        && let Some(day) = fields.expires
        && day < today
    {
        return Err(Error::invalid("expires", format!("{day} is already past (today is {today})")));
    }
    settle_customer(conn, tz, Some(customer_id), now)?;
    insert_grant(conn, customer_id, currency, &fields, origin, None, now)?;
    get_grant(conn, customer, &fields.id)?.ok_or_else(|| Error::Internal("a grant just written is missing".into()))
}

fn insert_grant(
    conn: &Transaction,
    customer_id: i64,
    currency: Currency,
    fields: &GrantFields,
    origin: Origin,
    rolled_from: Option<i64>,
    at: DateTime<Utc>,
) -> Result<i64> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM wallet_grants WHERE customer_id = ?1 AND code = ?2)",
        params![customer_id, fields.id],
        |r| r.get(0),
    )?;
    if taken {
        return Err(Error::Conflict(format!("the customer already has a grant \"{}\"", fields.id)));
    }
    let rule = fields.rollover.as_ref();
    conn.execute(
        "INSERT INTO wallet_grants (customer_id, code, kind, origin, currency, amount, expires, priority,
         rollover_percent, rollover_max, rollover_months, reference, note, rolled_from, granted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            customer_id,
            fields.id,
            fields.kind.as_str(),
            origin.as_str(),
            currency.code(),
            StoredDec(fields.amount),
            fields.expires.map(|d| d.to_string()),
            fields.priority,
            rule.and_then(|r| r.percent).map(StoredDec),
            rule.and_then(|r| r.max).map(StoredDec),
            rule.and_then(|r| r.months),
            fields.reference,
            fields.note,
            rolled_from,
            time_text(at)
        ],
    )?;
    let grant_id = conn.last_insert_rowid();
    let kind = if origin == Origin::Rollover { EntryKind::Rollover } else { EntryKind::Grant };
    append(
        conn,
        customer_id,
        (grant_id, &fields.id),
        Append { kind, amount: fields.amount.0, invoice_id: None, note: &fields.note, at },
    )?;
    Ok(grant_id)
}

/// Writes every expiry (and rollover) due at `now`, for every customer.
/// Returns how many grants expired.
pub fn settle(conn: &rusqlite::Transaction, now: DateTime<Utc>) -> Result<u32> {
    settle_customer(conn, zone(conn)?, None, now)
}

pub(crate) fn settle_customer(
    conn: &rusqlite::Transaction,
    tz: Tz,
    customer_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u32> {
    let today = now.with_timezone(&tz).date_naive().to_string();
    let which = if customer_id.is_some() { "g.customer_id = ?2 AND g.expires < ?1" } else { "g.expires < ?1" };
    let sql = format!(
        "SELECT g.id, g.customer_id, g.code, g.expires, g.currency, g.kind, g.priority,
                g.rollover_percent, g.rollover_max, g.rollover_months, g.origin
         FROM wallet_grants g
         WHERE {which}
           AND NOT EXISTS (SELECT 1 FROM wallet_entries e WHERE e.grant_id = g.id AND e.kind = 'expiry')
         ORDER BY g.expires, g.id"
    );
    let mut expired = 0;
    // A rollover's new grant may itself be past its date already: go again until none is due.
    loop {
        let mut stmt = conn.prepare_cached(&sql)?;
        let row = |r: &rusqlite::Row| {
            located(r, "wallet_grants", 0, |r| {
                Ok(Due {
                    id: r.get(0)?,
                    customer_id: r.get(1)?,
                    code: r.get(2)?,
                    expires: r.parsed(3, "a date (YYYY-MM-DD)", |t| t.parse().ok())?,
                    currency: r.get(4)?,
                    kind: r.parsed(5, "a grant kind (paid, free)", GrantKind::parse)?,
                    priority: r.get(6)?,
                    percent: r.opt_dec(7)?,
                    max: r.opt_dec(8)?,
                    months: r.get(9)?,
                    origin: r.parsed(10, "a grant origin (catalog, manual, auto_topup, rollover)", Origin::parse)?,
                })
            })
        };
        let due = match customer_id {
            Some(id) => stmt.query_map(params![today, id], row)?.collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt.query_map(params![today], row)?.collect::<rusqlite::Result<Vec<_>>>()?,
        };
        drop(stmt);
        if due.is_empty() {
            return Ok(expired);
        }
        for g in due {
            expire(conn, tz, &g)?;
            expired += 1;
        }
    }
}

struct Due {
    id: i64,
    customer_id: i64,
    code: String,
    expires: NaiveDate,
    currency: String,
    kind: GrantKind,
    priority: i64,
    percent: Option<Dec>,
    max: Option<Dec>,
    months: Option<u32>,
    origin: Origin,
}

/// Expires one grant at the start of the day after its last: what is left of
/// it rolls over as its rule allows (a rolled grant does not roll again), the
/// rest expires with an entry (written even when nothing was left).
fn expire(conn: &rusqlite::Transaction, tz: Tz, g: &Due) -> Result<()> {
    let last_day = g.expires;
    let at = expiry_instant(tz, last_day)?;
    let currency = Currency::parse(&g.currency).map_err(Error::Internal)?;
    let (left, _) = last_balances(conn, g.customer_id, g.id)?;
    let rolls = g.percent.is_some() && g.origin != Origin::Rollover;
    let rolled = if rolls && left > Decimal::ZERO {
        Rollover { percent: g.percent, max: g.max, months: g.months }.rolled(left, currency)
    } else {
        Decimal::ZERO
    };
    if rolled > Decimal::ZERO {
        let expires = months_later(last_day, g.months.unwrap_or(1))
            .ok_or_else(|| Error::Internal(format!("no date {} months after {last_day}", g.months.unwrap_or(1))))?;
        let code = free_code(conn, g.customer_id, &format!("{}-rollover", g.code))?;
        let note = format!("rolled over from \"{}\"", g.code);
        append(
            conn,
            g.customer_id,
            (g.id, &g.code),
            Append {
                kind: EntryKind::Rollover,
                amount: -rolled,
                invoice_id: None,
                note: &format!("rolled into \"{code}\""),
                at,
            },
        )?;
        let fields = GrantFields {
            id: code,
            amount: Dec(rolled),
            kind: g.kind,
            expires: Some(expires),
            priority: g.priority,
            rollover: None,
            reference: None,
            note,
        };
        insert_grant(conn, g.customer_id, currency, &fields, Origin::Rollover, Some(g.id), at)?;
    }
    let mut gone = -(left - rolled);
    gone.rescale(currency.minor_units());
    append(
        conn,
        g.customer_id,
        (g.id, &g.code),
        Append {
            kind: EntryKind::Expiry,
            amount: gone,
            invoice_id: None,
            note: &format!("expired after {last_day}"),
            at,
        },
    )
}

/// An id the customer's grants do not use yet: `grant-N`, N one more than its grants.
fn fresh_code(conn: &Connection, customer_id: i64) -> Result<String> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM wallet_grants WHERE customer_id = ?1", [customer_id], |r| r.get(0))?;
    free_code(conn, customer_id, &format!("grant-{}", n + 1))
}

/// `wanted`, or `wanted-2`, `wanted-3`… whichever the customer does not use yet.
fn free_code(conn: &Connection, customer_id: i64, wanted: &str) -> Result<String> {
    let mut n = 1;
    loop {
        let code = if n == 1 { wanted.to_string() } else { format!("{wanted}-{n}") };
        let taken: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM wallet_grants WHERE customer_id = ?1 AND code = ?2)",
            params![customer_id, code],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(code);
        }
        n += 1;
    }
}

/// The customer's grants that still hold credit in `currency` and were
/// granted by `now`, in burn order: soonest expiry first (never-expiring
/// last), then higher priority, then oldest.
/// The customer's grants in `currency` with something left at `now`.
fn open_grants(conn: &Connection, customer_id: i64, currency: &str, now: DateTime<Utc>) -> Result<Vec<Open>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.code, g.expires, g.priority, g.granted_at,
                (SELECT e.grant_balance FROM wallet_entries e WHERE e.grant_id = g.id ORDER BY e.id DESC LIMIT 1)
         FROM wallet_grants g
         WHERE g.customer_id = ?1 AND g.currency = ?2 AND g.granted_at <= ?3",
    )?;
    let mut open = stmt
        .query_map(params![customer_id, currency, time_text(now)], |r| {
            located(r, "wallet_grants", 1, |r| {
                Ok(Open {
                    key: (r.get(0)?, r.get(1)?),
                    expires: r.opt_date(2)?,
                    priority: r.get(3)?,
                    granted_at: r.time(4)?,
                    remaining: r.opt_dec(5)?.map_or(Decimal::ZERO, |d| d.0),
                })
            })
        })?
        .collect::<rusqlite::Result<Vec<Open>>>()?;
    open.retain(|g| g.remaining > Decimal::ZERO);
    Ok(open)
}

/// What an invoice takes from a wallet: from which grants, how much.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Burn {
    customer_id: i64,
    /// The wallet's balance when planned.
    balance: Decimal,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    grant_id: i64,
    code: String,
    take: Decimal,
    /// What was left of the grant when planned.
    remaining: Decimal,
}

impl Burn {
    /// The credits applied to the invoice.
    pub fn applied(&self) -> Decimal {
        self.parts.iter().map(|p| p.take).sum()
    }

    /// Each grant's part, in burn order.
    pub fn parts(&self) -> impl Iterator<Item = (&str, Decimal)> {
        self.parts.iter().map(|p| (p.code.as_str(), p.take))
    }
}

/// Plans how an invoice of `total` (tax included) issued at `now` burns the
/// customer's credits, in the caller's transaction (expiries due are settled
/// first, so an expired grant gives nothing). Write it with [`write_burn`]
/// once the invoice exists, in the same transaction.
pub(crate) fn plan_burn(
    conn: &rusqlite::Transaction,
    tz: Tz,
    customer_id: i64,
    currency: &str,
    total: Decimal,
    now: DateTime<Utc>,
) -> Result<Burn> {
    settle_customer(conn, tz, Some(customer_id), now)?;
    let mut burn = Burn { customer_id, balance: Decimal::ZERO, parts: Vec::new() };
    if total <= Decimal::ZERO {
        return Ok(burn);
    }
    burn.balance = wallet_balance(conn, customer_id)?;
    // The burn order is the rules' (docs/billing.md "Wallets").
    let open = open_grants(conn, customer_id, currency, now)?;
    for ((grant_id, code), take, remaining) in meterdesk_rules::settle::burn(&open, total) {
        burn.parts.push(Part { grant_id, code, take, remaining });
    }
    Ok(burn)
}

/// Writes a planned burn's consumption entries, tied to the invoice, in the
/// transaction that planned it (so the balances it read still hold).
pub(crate) fn write_burn(
    conn: &rusqlite::Transaction,
    burn: &Burn,
    invoice_id: i64,
    number: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let note = format!("applied to {number}");
    let mut balance = burn.balance;
    for p in &burn.parts {
        let entry = Append {
            kind: EntryKind::Consumption,
            amount: -p.take,
            invoice_id: Some(invoice_id),
            note: &note,
            at: now,
        };
        append_after(conn, burn.customer_id, (p.grant_id, &p.code), entry, (p.remaining, balance))?;
        balance -= p.take;
    }
    Ok(())
}

/// Gives back to their grants the credits a voided invoice consumed. A grant
/// that has expired since expires again at once (the credit is not revived).
pub(crate) fn return_burn(
    conn: &rusqlite::Transaction,
    invoice_id: i64,
    number: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    give_back(conn, invoice_id, None, &format!("given back: {number} was voided"), now)?;
    Ok(())
}

/// Gives back `amount` of the credits an invoice consumed, as its credit note
/// `note_number` says; returns what was given back.
pub(crate) fn return_credits(
    conn: &rusqlite::Transaction,
    invoice_id: i64,
    invoice_number: &str,
    note_number: &str,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Result<Decimal> {
    give_back(conn, invoice_id, Some(amount), &format!("given back: {note_number} credits {invoice_number}"), now)
}

/// Gives back to each grant what the invoice still holds of it (its
/// consumption less what was given back), at most `limit` in all: the grant
/// burned last is refilled first, so the credit that lasts longest comes back
/// first. Returns the amount given back.
fn give_back(
    conn: &rusqlite::Transaction,
    invoice_id: i64,
    limit: Option<Decimal>,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Decimal> {
    let customer_id: i64 =
        conn.query_row("SELECT customer_id FROM invoices WHERE id = ?1", [invoice_id], |r| r.get(0))?;
    settle_customer(conn, zone(conn)?, Some(customer_id), now)?;
    let mut stmt = conn.prepare(
        "SELECT e.grant_id, g.code, e.amount,
                EXISTS (SELECT 1 FROM wallet_entries x WHERE x.grant_id = e.grant_id AND x.kind = 'expiry')
                OR EXISTS (SELECT 1 FROM wallet_entries x WHERE x.grant_id = e.grant_id AND x.kind = 'void')
         FROM wallet_entries e JOIN wallet_grants g ON g.id = e.grant_id
         WHERE e.customer_id = ?2 AND e.invoice_id = ?1 AND e.kind = 'consumption' ORDER BY e.id",
    )?;
    let entries = stmt
        .query_map([invoice_id, customer_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.dec(2)?, r.get::<_, bool>(3)?))
        })?
        .collect::<rusqlite::Result<Vec<(i64, String, Dec, bool)>>>()?;
    // What the invoice holds of each grant, in the order it first took from them.
    let mut held: Vec<(i64, String, Decimal, bool)> = Vec::new();
    for (grant_id, code, amount, closed) in entries {
        match held.iter_mut().find(|h| h.0 == grant_id) {
            Some(h) => h.2 -= amount.0,
            None => held.push((grant_id, code, -amount.0, closed)),
        }
    }
    let mut left = limit;
    let mut given = Decimal::ZERO;
    for (grant_id, code, holds, closed) in held.into_iter().rev() {
        let back = match left {
            Some(l) => holds.min(l),
            None => holds,
        };
        if back <= Decimal::ZERO {
            continue;
        }
        let entry = Append { kind: EntryKind::Consumption, amount: back, invoice_id: Some(invoice_id), note, at: now };
        append(conn, customer_id, (grant_id, &code), entry)?;
        if closed {
            let gone = Append {
                kind: EntryKind::Expiry,
                amount: -back,
                invoice_id: Some(invoice_id),
                note: "the grant had already expired or been voided",
                at: now,
            };
            append(conn, customer_id, (grant_id, &code), gone)?;
        }
        given += back;
        left = left.map(|l| l - back);
        if left.is_some_and(|l| l.is_zero()) {
            break;
        }
    }
    Ok(given)
}

fn require_grant(conn: &Connection, customer_id: i64, code: &str) -> Result<i64> {
    conn.query_row(
        "SELECT id FROM wallet_grants WHERE customer_id = ?1 AND code = ?2",
        params![customer_id, code],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("the customer has no grant \"{code}\"")))
}

fn reason_required(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why"));
    }
    if reason.chars().count() > TEXT_MAX_CHARS {
        return Err(Error::invalid("reason", format!("at most {TEXT_MAX_CHARS} characters")));
    }
    Ok(reason)
}

/// Voids what is left of a grant (its used part stays used), with a reason.
pub fn void_grant(
    conn: &rusqlite::Transaction,
    customer: &str,
    code: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Grant> {
    let reason = reason_required(reason)?;
    let (customer_id, _) = customer_row(conn, customer)?;
    settle_customer(conn, zone(conn)?, Some(customer_id), now)?;
    let grant_id = require_grant(conn, customer_id, code)?;
    let g = get_grant(conn, customer, code)?.ok_or_else(|| Error::NotFound(format!("no grant \"{code}\"")))?;
    if g.state != GrantState::Active && g.state != GrantState::UsedUp {
        return Err(Error::Conflict(format!("grant \"{code}\" is already {}", state_text(g.state))));
    }
    let entry = Append { kind: EntryKind::Void, amount: -g.remaining.0, invoice_id: None, note: reason, at: now };
    append(conn, customer_id, (grant_id, code), entry)?;
    get_grant(conn, customer, code)?.ok_or_else(|| Error::Internal("a grant just voided is missing".into()))
}

fn state_text(state: GrantState) -> &'static str {
    match state {
        GrantState::Active => "active",
        GrantState::UsedUp => "used up",
        GrantState::Expired => "expired",
        GrantState::Void => "void",
    }
}

/// A manual correction of a grant, up or down, with a reason. It cannot take
/// a grant below zero, nor add to an expired or voided grant.
pub fn adjust(
    conn: &rusqlite::Transaction,
    customer: &str,
    code: &str,
    amount: Decimal,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Grant> {
    let reason = reason_required(reason)?;
    let (customer_id, currency) = customer_row(conn, customer)?;
    if amount.is_zero() {
        return Err(Error::invalid("amount", "an adjustment of 0 changes nothing"));
    }
    money_problem("amount", amount.abs(), currency).map_err(|p| Error::Invalid(vec![p]))?;
    settle_customer(conn, zone(conn)?, Some(customer_id), now)?;
    let grant_id = require_grant(conn, customer_id, code)?;
    let g = get_grant(conn, customer, code)?.ok_or_else(|| Error::NotFound(format!("no grant \"{code}\"")))?;
    if matches!(g.state, GrantState::Expired | GrantState::Void) {
        return Err(Error::Conflict(format!("grant \"{code}\" is {}: grant new credit instead", state_text(g.state))));
    }
    let mut signed = amount;
    signed.rescale(currency.minor_units());
    append(
        conn,
        customer_id,
        (grant_id, code),
        Append { kind: EntryKind::Adjustment, amount: signed, invoice_id: None, note: reason, at: now },
    )?;
    get_grant(conn, customer, code)?.ok_or_else(|| Error::Internal("a grant just adjusted is missing".into()))
}

const GRANT_COLUMNS: &str = "g.code, g.amount, g.kind, g.expires, g.priority, g.rollover_percent, g.rollover_max,
    g.rollover_months, g.reference, g.note, g.origin, g.currency, g.granted_at,
    (SELECT f.code FROM wallet_grants f WHERE f.id = g.rolled_from),
    (SELECT e.grant_balance FROM wallet_entries e WHERE e.grant_id = g.id ORDER BY e.id DESC LIMIT 1),
    EXISTS (SELECT 1 FROM wallet_entries e WHERE e.grant_id = g.id AND e.kind = 'void'),
    EXISTS (SELECT 1 FROM wallet_entries e WHERE e.grant_id = g.id AND e.kind = 'expiry')";

fn grant_from_row(r: &rusqlite::Row) -> rusqlite::Result<Grant> {
    located(r, "wallet_grants", 0, grant_fields)
}

fn grant_fields(r: &rusqlite::Row) -> rusqlite::Result<Grant> {
    let (percent, max, months): (Option<Dec>, Option<Dec>, Option<u32>) = (r.opt_dec(5)?, r.opt_dec(6)?, r.get(7)?);
    let rollover = percent.is_some().then_some(Rollover { percent, max, months });
    let remaining: Dec = r.opt_dec(14)?.unwrap_or_default();
    let (void, expired): (bool, bool) = (r.get(15)?, r.get(16)?);
    let state = if void {
        GrantState::Void
    } else if expired {
        GrantState::Expired
    } else if remaining.0.is_zero() {
        GrantState::UsedUp
    } else {
        GrantState::Active
    };
    Ok(Grant {
        fields: GrantFields {
            id: r.get(0)?,
            amount: r.dec(1)?,
            kind: r.parsed(2, "a grant kind (paid, free)", GrantKind::parse)?,
            expires: r.opt_date(3)?,
            priority: r.get(4)?,
            rollover,
            reference: r.get(8)?,
            note: r.get(9)?,
        },
        origin: r.parsed(10, "a grant origin (catalog, manual, auto_topup, rollover)", Origin::parse)?,
        currency: r.get(11)?,
        remaining,
        state,
        granted_at: r.time(12)?,
        rolled_from: r.get(13)?,
    })
}

/// One grant of a customer.
pub fn get_grant(conn: &Connection, customer: &str, code: &str) -> Result<Option<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM wallet_grants g JOIN customers c ON c.id = g.customer_id
         WHERE c.external_id = ?1 AND g.code = ?2"
    );
    Ok(conn.query_row(&sql, params![customer, code], grant_from_row).optional()?)
}

/// A customer's grants, oldest first.
pub fn grants(conn: &Connection, customer: &str) -> Result<Vec<Grant>> {
    let (customer_id, _) = customer_row(conn, customer)?;
    grants_of(conn, customer_id)
}

pub(crate) fn grants_of(conn: &Connection, customer_id: i64) -> Result<Vec<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM wallet_grants g WHERE g.customer_id = ?1 ORDER BY g.id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([customer_id], grant_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The customer's balance as the ledger stands (one row read, however long
/// the ledger). Expiries due since the last write are not in it: [`read`]
/// settles them first.
pub fn balance(conn: &Connection, customer: &str) -> Result<Decimal> {
    let (customer_id, currency) = customer_row(conn, customer)?;
    let mut b = wallet_balance(conn, customer_id)?;
    b.rescale(currency.minor_units());
    Ok(b)
}

/// The customer's wallet as the ledger stands.
pub fn wallet(conn: &Connection, customer: &str) -> Result<Wallet> {
    let (customer_id, currency) = customer_row(conn, customer)?;
    let mut b = wallet_balance(conn, customer_id)?;
    b.rescale(currency.minor_units());
    Ok(Wallet {
        customer: customer.to_string(),
        currency: currency.code(),
        balance: Dec(b),
        grants: grants_of(conn, customer_id)?,
    })
}

/// The customer's wallet at `now`: expiries due are written first.
pub fn read(ws: &mut Workspace, customer: &str, now: DateTime<Utc>) -> Result<Wallet> {
    ws.write(|tx| {
        let (customer_id, _) = customer_row(tx, customer)?;
        settle_customer(tx, zone(tx)?, Some(customer_id), now)?;
        wallet(tx, customer)
    })
}

/// Which entries a ledger view shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
pub struct LedgerQuery {
    #[serde(default)]
    pub kinds: Vec<EntryKind>,
    #[serde(default)]
    pub grant: Option<String>,
    /// At most this many, newest first (none: all).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A customer's ledger entries, newest first.
pub fn ledger(conn: &Connection, customer: &str, query: &LedgerQuery) -> Result<Vec<Entry>> {
    let (customer_id, _) = customer_row(conn, customer)?;
    let kinds: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
    let kinds_json = serde_json::to_string(&kinds).map_err(|e| Error::Internal(e.to_string()))?;
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, g.code, e.kind, e.amount, e.grant_balance, e.balance, i.number, e.note, e.at
         FROM wallet_entries e
         JOIN wallet_grants g ON g.id = e.grant_id
         LEFT JOIN invoices i ON i.id = e.invoice_id
         WHERE e.customer_id = ?1
           AND (?2 = '[]' OR e.kind IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR g.code = ?3)
         ORDER BY e.id DESC LIMIT ?4",
    )?;
    let limit = query.limit.map_or(-1, i64::from);
    let rows = stmt
        .query_map(params![customer_id, kinds_json, query.grant, limit], |r| {
            located(r, "wallet_entries", 0, |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    grant: r.get(1)?,
                    kind: r.parsed(2, "a ledger entry kind", |t| EntryKind::parse(t).ok())?,
                    amount: r.dec(3)?,
                    grant_balance: r.dec(4)?,
                    balance: r.dec(5)?,
                    invoice: r.get(6)?,
                    note: r.get(7)?,
                    at: r.time(8)?,
                })
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// A catalog's `wallets[]` entry: a customer's grants, and its rules. Rules
/// left out leave the stored ones as they are; `"rules": {}` removes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletFields {
    pub customer: String,
    #[serde(default)]
    pub grants: Vec<GrantFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Rules>,
}

/// The wallets as a catalog carries them: the grants given by hand, by a
/// catalog or by a top-up (not rollovers: the expiry that made them would
/// make them again), and the rules.
pub fn to_catalog(conn: &Connection) -> Result<Vec<WalletFields>> {
    let mut stmt = conn.prepare(
        "SELECT external_id FROM customers c
         WHERE EXISTS (SELECT 1 FROM wallet_grants g WHERE g.customer_id = c.id AND g.origin <> 'rollover')
            OR EXISTS (SELECT 1 FROM wallet_rules r WHERE r.customer_id = c.id)
         ORDER BY 1",
    )?;
    let customers = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for customer in customers {
        let grants: Vec<GrantFields> =
            grants(conn, &customer)?.into_iter().filter(|g| g.origin != Origin::Rollover).map(|g| g.fields).collect();
        let rules = Some(rules(conn, &customer)?).filter(|r| *r != Rules::default());
        out.push(WalletFields { customer, grants, rules });
    }
    Ok(out)
}

mod rules;
pub use rules::{Rules, TopUp, rules, set_rules};
pub(crate) use rules::{apply_rules, bill_topups, unbilled_topups};

#[cfg(test)]
mod tests;
