//! Wallets against the periods running now: a customer's projected balance
//! and run-out date, its balance over time, every wallet at a glance, and the
//! evaluation of the wallet rules on those projections (top-ups, alerts).
//! Above `bill` (it prices the running drafts) and `wallet` (the ledger).

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use ts_rs::TS;

use crate::alert::{self, Alert};
use crate::bill::{self, Draft, Kind};
use crate::error::Result;
use crate::money::{Currency, Dec};
use crate::period::Month;
use crate::rating::LineKind;
use crate::settings::zone;
use crate::stored::{Columns, DecColumns};
use crate::wallet::{self, customer_row, settle_customer, wallet_balance};
use crate::workspace::Workspace;

/// A wallet's balance against the usage of the periods running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Projection {
    /// Whether the customer has a wallet at all (any grant, entry or rule);
    /// without one nothing is projected: its drafts are paid by invoice.
    pub has_wallet: bool,
    pub balance: Dec,
    /// What the drafts would take, tax included: those of the periods running
    /// today and those of ended periods not finalized yet (finalizing them
    /// takes credit first).
    pub draft_total: Dec,
    /// The balance less those drafts: negative when they would not be covered.
    pub projected: Dec,
    /// The pace of usage, tax included, per day: the running periods so far
    /// and the periods before them, so a period's first days do not swing it.
    pub daily_burn: Dec,
    /// The day the projected balance runs out at that pace: today when it
    /// already does, none without usage.
    #[ts(type = "string | null")]
    pub runs_out: Option<NaiveDate>,
}

/// The months whose periods may be running on `today`: this one and the last
/// (a period anchored on the 15th started last month).
fn running_months(today: NaiveDate) -> Result<[Month; 2]> {
    let this = Month::of(today);
    Ok([this.previous()?, this])
}

/// The drafts around `today`, of one customer or all: those of the periods
/// running, those of the periods just before them (for the pace), and those
/// of periods ended and not finalized yet (they will take credit first),
/// looking back to periods that started two months before this one.
struct Around {
    running: Vec<Draft>,
    previous: Vec<Draft>,
    pending: Vec<Draft>,
}

fn drafts_around(ws: &mut Workspace, customer: Option<&str>, today: NaiveDate) -> Result<Around> {
    let mut around = Around { running: Vec::new(), previous: Vec::new(), pending: Vec::new() };
    let [last, this] = running_months(today)?;
    let mut drafts = Vec::new();
    for month in [last.previous()?, last, this] {
        drafts.extend(bill::preview(ws, month, customer, Kind::Period)?);
    }
    let running_starts: std::collections::HashSet<(String, NaiveDate)> = drafts
        .iter()
        .filter(|d| d.first_day <= today && today < d.end_day)
        .map(|d| (d.subscription.clone(), d.first_day))
        .collect();
    for d in drafts {
        if d.first_day <= today && today < d.end_day {
            around.running.push(d);
        } else if d.end_day <= today {
            let before_running = running_starts.contains(&(d.subscription.clone(), d.end_day));
            if d.problem.is_none() && bill::finalized_as(ws.conn(), &d)?.is_none() {
                around.pending.push(d.clone());
            }
            if before_running {
                around.previous.push(d);
            }
        }
    }
    Ok(around)
}

/// Usage lines, tax included.
fn taxed_usage(d: &Draft) -> Decimal {
    let usage: Decimal = d.lines.iter().filter(|l| l.kind == LineKind::Usage).map(|l| l.amount.0).sum();
    usage * (Decimal::ONE + d.tax_rate.map_or(Decimal::ZERO, |r| r.0))
}

/// The drafts of one customer (`mine`) in its currency.
struct Mine<'a> {
    running: Vec<&'a Draft>,
    previous: Vec<&'a Draft>,
    pending: Vec<&'a Draft>,
}

impl Around {
    fn of<'a>(&'a self, customer: &str, currency: &str) -> Mine<'a> {
        let pick = |list: &'a [Draft]| -> Vec<&'a Draft> {
            list.iter().filter(|d| d.customer == customer && d.currency == currency).collect()
        };
        Mine { running: pick(&self.running), previous: pick(&self.previous), pending: pick(&self.pending) }
    }
}

fn project(has_wallet: bool, balance: Decimal, mine: &Mine, currency: Currency, today: NaiveDate) -> Projection {
    // A draft's top-ups are owed money, not credit used.
    let draft_total: Decimal = mine.running.iter().chain(&mine.pending).map(|d| d.creditable()).sum();
    // The pace over the running periods so far and the whole periods before them.
    let mut usage = Decimal::ZERO;
    let mut days = 0i64;
    for d in &mine.running {
        usage += taxed_usage(d);
        days = days.max((today - d.first_day).num_days() + 1);
    }
    let mut before = 0i64;
    for d in &mine.previous {
        usage += taxed_usage(d);
        before = before.max((d.end_day - d.first_day).num_days());
    }
    let daily = if days + before > 0 { usage / Decimal::from(days + before) } else { Decimal::ZERO };
    let projected = balance - draft_total;
    let runs_out = if !has_wallet {
        None
    } else if projected <= Decimal::ZERO {
        Some(today)
    } else if daily > Decimal::ZERO {
        (projected / daily).floor().to_u64().and_then(|n| today.checked_add_days(Days::new(n)))
    } else {
        None
    };
    Projection {
        has_wallet,
        balance: Dec(currency.round(balance)),
        draft_total: Dec(currency.round(draft_total)),
        projected: Dec(currency.round(if has_wallet { projected } else { Decimal::ZERO })),
        daily_burn: Dec(currency.round(daily)),
        runs_out,
    }
}

/// A customer's projection at `now` (expiries due are written first).
pub fn projection(ws: &mut Workspace, customer: &str, now: DateTime<Utc>) -> Result<Projection> {
    let (customer_id, currency, today, has_wallet) = ws.write(|tx| {
        let (id, currency) = customer_row(tx, customer)?;
        let tz = zone(tx)?;
        settle_customer(tx, tz, Some(id), now)?;
        let has_wallet: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM wallet_grants WHERE customer_id = ?1)
                 OR EXISTS (SELECT 1 FROM wallet_entries WHERE customer_id = ?1)
                 OR EXISTS (SELECT 1 FROM wallet_rules WHERE customer_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        Ok((id, currency, now.with_timezone(&tz).date_naive(), has_wallet))
    })?;
    let around = drafts_around(ws, Some(customer), today)?;
    let mine = around.of(customer, &currency.code());
    Ok(project(has_wallet, wallet_balance(ws.conn(), customer_id)?, &mine, currency, today))
}

/// The balance at the end of each local day that had an entry, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BalancePoint {
    #[ts(type = "string")]
    pub date: NaiveDate,
    pub balance: Dec,
}

/// A customer's balance over time (the burn-down chart).
pub fn history(conn: &rusqlite::Connection, customer: &str) -> Result<Vec<BalancePoint>> {
    let (customer_id, _) = customer_row(conn, customer)?;
    let tz = zone(conn)?;
    let mut stmt = conn.prepare_cached("SELECT at, balance FROM wallet_entries WHERE customer_id = ?1 ORDER BY id")?;
    let mut out: Vec<BalancePoint> = Vec::new();
    let rows = stmt.query_map([customer_id], |r| Ok((r.time(0)?, r.dec(1)?)))?;
    for row in rows {
        let (at, balance) = row?;
        let date = at.with_timezone(&tz).date_naive();
        match out.last_mut() {
            Some(last) if last.date >= date => last.balance = balance,
            _ => out.push(BalancePoint { date, balance }),
        }
    }
    Ok(out)
}

/// One customer's row of the wallets overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WalletRow {
    pub customer: String,
    pub name: String,
    pub currency: String,
    pub active_grants: u32,
    /// The soonest last day of a grant that still holds credit.
    #[ts(type = "string | null")]
    pub next_expiry: Option<NaiveDate>,
    #[serde(flatten)]
    #[ts(flatten)]
    pub projection: Projection,
}

/// Every customer that has a wallet (grants or rules), with its projection at
/// `now`. Costs one preview of the running periods for all customers, not one
/// per customer.
pub fn overview(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Vec<WalletRow>> {
    let today = ws.write(|tx| {
        wallet::settle(tx, now)?;
        crate::settings::today(tx, now)
    })?;
    let around = drafts_around(ws, None, today)?;
    let conn = ws.conn();
    let mut stmt = conn.prepare(
        "SELECT c.id, c.external_id, c.name, c.currency,
                (SELECT e.balance FROM wallet_entries e WHERE e.customer_id = c.id ORDER BY e.id DESC LIMIT 1)
         FROM customers c
         WHERE EXISTS (SELECT 1 FROM wallet_grants g WHERE g.customer_id = c.id)
            OR EXISTS (SELECT 1 FROM wallet_rules r WHERE r.customer_id = c.id)
         ORDER BY c.name COLLATE NOCASE, c.external_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.opt_dec(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, customer, name, code, balance) in rows {
        let currency = Currency::parse(&code).map_err(crate::Error::Internal)?;
        let grants = wallet::grants_of(conn, id)?;
        let active: Vec<_> = grants.iter().filter(|g| g.state == wallet::GrantState::Active).collect();
        let mine = around.of(&customer, &code);
        out.push(WalletRow {
            projection: project(true, balance.map_or(Decimal::ZERO, |b| b.0), &mine, currency, today),
            active_grants: active.len() as u32,
            next_expiry: active.iter().filter_map(|g| g.fields.expires).min(),
            customer,
            name,
            currency: code,
        });
    }
    Ok(out)
}

/// A customer's wallet page: its wallet, projection and balance over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WalletView {
    pub customer_name: String,
    /// Today in the workspace zone.
    #[ts(type = "string")]
    pub today: NaiveDate,
    pub wallet: wallet::Wallet,
    pub projection: Projection,
    pub history: Vec<BalancePoint>,
}

/// See [`WalletView`]; expiries due at `now` are written first.
pub fn view(ws: &mut Workspace, customer: &str, now: DateTime<Utc>) -> Result<WalletView> {
    let projection = projection(ws, customer, now)?;
    let conn = ws.conn();
    let customer_name = crate::customer::get(conn, customer)?.map(|c| c.fields.name).unwrap_or_default();
    Ok(WalletView {
        customer_name,
        today: crate::settings::today(conn, now)?,
        wallet: wallet::wallet(conn, customer)?,
        projection,
        history: history(conn, customer)?,
    })
}

/// What one evaluation did: the top-ups it granted and the alerts it raised
/// (for desktop notifications).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct Evaluation {
    pub topups: Vec<String>,
    pub alerts: Vec<Alert>,
}

/// Evaluates every customer's rules at `now` against its projected balance:
/// top-ups due are granted (each fires once per drop below its line) and
/// alerts raised. Run after imports and finalization.
pub fn evaluate(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Evaluation> {
    let ruled: Vec<(i64, String)> = ws
        .conn()
        .prepare("SELECT r.customer_id, c.external_id FROM wallet_rules r JOIN customers c ON c.id = r.customer_id ORDER BY 1")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut done = Evaluation::default();
    if ruled.is_empty() {
        return Ok(done);
    }
    // One preview of the running periods serves every customer.
    let mut projected: HashMap<String, Projection> =
        overview(ws, now)?.into_iter().map(|row| (row.customer, row.projection)).collect();
    let mut raised = Vec::new();
    for (customer_id, customer) in ruled {
        let Some(p) = projected.remove(&customer) else { continue };
        ws.write(|tx| {
            let (projected, runs_out) = (p.projected.0, p.runs_out);
            wallet::apply_rules(tx, customer_id, &customer, projected, runs_out, now, &mut done.topups, &mut raised)
        })?;
    }
    done.alerts = alert::alerts_by_id(ws.conn(), &raised)?;
    Ok(done)
}
