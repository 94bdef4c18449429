//! Bill preview: the draft invoice of one subscription period, computed on
//! demand from the plan version, the subscription's terms, the customer's tax
//! and the usage inside the period — never stored as truth.
//!
//! Usage is read through a `usage::UsageSource`, so the same rating runs on raw
//! events (exact for any range) or on the daily rollups (the fast path).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::customer;
use crate::error::{Error, Result};
use crate::event_store;
use crate::meter::{self, MeterFields};
use crate::money::{self, Currency, Dec};
use crate::period::{Month, Period};
use crate::plan::{self, PlanFields, Timing};
use crate::pricing::{self, PriceModel};
use crate::rating::{self, Charge, ChargeUsage, Discount, DiscountKind, Fee, Line, RatingInput};
use crate::rollup::{self, Rollups};
use crate::settings;
use crate::stored::{not_void, time_text};
use crate::subscription::{self, Subscription, effective_charges};
use crate::usage::{RawEvents, UsageSource};
use crate::workspace::Workspace;

/// Where an invoice stands (docs/interfaces.md's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Finalized,
    Void,
}

/// What an invoice bills of its subscription period (docs/billing.md "Invoices").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The period's invoice: its fees (less those already billed in advance),
    /// its usage, commitment and discounts.
    #[default]
    Period,
    /// The fee-only invoice of the period's `advance` fees, at its start; the
    /// period's invoice then does not repeat them.
    Advance,
    /// What late usage added to a period already invoiced: the period
    /// re-rated with it, less what was billed (docs/billing.md "Corrections
    /// after finalizing"). Made by `late::adjust`, never drafted for a month.
    Adjustment,
}

impl Kind {
    /// The advance invoice when `advance`, else the period's (the `--advance` switch).
    pub fn of(advance: bool) -> Kind {
        if advance { Kind::Advance } else { Kind::Period }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Period => "period",
            Kind::Advance => "advance",
            Kind::Adjustment => "adjustment",
        }
    }
}

/// A period's bounds in UTC, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Bounds {
    #[ts(type = "string")]
    pub start: DateTime<Utc>,
    #[ts(type = "string")]
    pub end: DateTime<Utc>,
}

/// The invoice object of docs/interfaces.md, as a draft. Beyond the contract's
/// fields it names the subscription, plan and local dates, and each line
/// carries the steps of its arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Draft {
    pub number: Option<String>,
    pub status: Status,
    /// The period's invoice, or the fee-only invoice of its advance fees.
    #[serde(default)]
    pub kind: Kind,
    pub customer: String,
    pub currency: String,
    pub period: Bounds,
    pub lines: Vec<Line>,
    pub subtotal: Dec,
    pub tax: Dec,
    pub total: Dec,
    pub credits_applied: Dec,
    pub amount_due: Dec,
    pub subscription: String,
    pub plan: String,
    pub plan_version: i64,
    /// The period's local dates: first day and the day after the last.
    #[ts(type = "string")]
    pub first_day: NaiveDate,
    #[ts(type = "string")]
    pub end_day: NaiveDate,
    /// The period's last local day (the day before `end_day`), for display:
    /// derived, never read back from a stored invoice.
    #[ts(type = "string")]
    #[serde(skip_deserializing)]
    pub last_day: NaiveDate,
    /// The days the subscription was active in the period, of `period_days`.
    pub active_days: u32,
    pub period_days: u32,
    /// Where the usage lines were read: the active part of the period, in UTC.
    pub usage_window: Bounds,
    /// The customer's tax rate as a fraction, or none when exempt.
    pub tax_rate: Option<Dec>,
    /// The customer's events inside the period but outside every one of its
    /// subscriptions: stored, and billed on none (docs/billing.md).
    pub unbilled_events: u64,
    /// Automatic wallet top-ups billed on this invoice, after tax (prepaid
    /// credit is taxed when used, not when bought); in `total`, and never paid
    /// by the wallet's own credits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topups: Vec<TopUp>,
    /// Why the draft cannot be billed (its amounts would pass Decimal's range):
    /// it has no lines, and finalizing it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Revenue (the subtotal), cost and margin, when a line has a cost in
    /// the draft's currency (docs/billing.md "Costs and margin").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub margin: Option<crate::cost::Margin>,
    /// The period's usage against its spend cap, or else its commitment
    /// ("8,412.00 of 10,000.00 cap"); none without either, and on invoices
    /// finalized before caps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub allowance: Option<rating::Allowance>,
}

pub use crate::wallet::TopUp;

/// The last local day of a period that ends (exclusive) on `end_day`.
fn last_day_of(end_day: NaiveDate) -> NaiveDate {
    end_day.pred_opt().unwrap_or(end_day)
}

impl Draft {
    /// What wallet credits may pay: the total less the top-ups it bills.
    pub fn creditable(&self) -> Decimal {
        self.total.0 - self.topups.iter().map(|t| t.amount.0).sum::<Decimal>()
    }

    /// Sets what is derived from the stored fields (an invoice read back).
    pub(crate) fn derive(&mut self) {
        self.last_day = last_day_of(self.end_day);
    }

    /// What the draft settles (see `settle::Dues`).
    pub fn dues(&self) -> meterdesk_rules::settle::Dues {
        meterdesk_rules::settle::Dues {
            amount_due: self.amount_due.0,
            topups: self.topups.iter().map(|t| t.amount.0).sum(),
            credits_applied: self.credits_applied.0,
        }
    }
}

/// What every draft of a workspace shares: its zone, meters and customers' tax.
#[derive(Clone)]
pub struct Book {
    tz: Tz,
    meters: HashMap<String, MeterFields>,
    taxes: HashMap<String, Option<Decimal>>,
    plans: HashMap<(String, i64), PlanFields>,
    /// Each customer's subscriptions as local-date windows `[start, end)`.
    windows: HashMap<String, Vec<(NaiveDate, Option<NaiveDate>)>>,
    /// Which invoice the drafts are of.
    pub kind: Kind,
    /// The periods with a standing advance invoice: subscription and period start.
    billed_in_advance: std::collections::HashSet<(String, String)>,
    /// The periods whose standing period invoice billed the advance fees itself.
    advance_fees_billed: std::collections::HashSet<(String, String)>,
    /// What usage costs the company, to put each usage line's cost beside it.
    costs: crate::cost::CostRates,
}

impl Book {
    /// What every draft of the workspace needs.
    pub fn load(conn: &Connection) -> Result<Book> {
        Book::load_for(conn, None)
    }

    /// What the drafts of one customer (or, with none, of every customer) need.
    pub fn load_for(conn: &Connection, only: Option<&str>) -> Result<Book> {
        let tz = settings::zone(conn)?;
        let costs = crate::cost::load(conn)?;
        let meters = meter::all(conn)?.into_iter().map(|m| (m.fields.code.clone(), m.fields)).collect();
        let customers = match only {
            Some(id) => customer::get(conn, id)?.into_iter().collect(),
            None => customer::all(conn)?,
        };
        let taxes = customers
            .into_iter()
            .map(|c| {
                let rate = if c.fields.tax_exempt.is_some() {
                    None
                } else {
                    Some(c.fields.tax_rate.map_or(Decimal::ZERO, |r| r.0))
                };
                (c.fields.id, rate)
            })
            .collect();
        let subscriptions = match only {
            Some(id) => subscription::of_customer(conn, id)?,
            None => subscription::all(conn)?,
        };
        let mut windows: HashMap<String, Vec<(NaiveDate, Option<NaiveDate>)>> = HashMap::new();
        for s in subscriptions {
            windows.entry(s.fields.customer).or_default().push((s.fields.start, s.fields.end));
        }
        // Standing advance invoices, and period invoices that billed the advance fees themselves.
        let mut billed_in_advance = std::collections::HashSet::new();
        let mut advance_fees_billed = std::collections::HashSet::new();
        // One customer's through the invoices' customer index (a finalize asks
        // for one per invoice), or every customer's.
        let mut stmt = conn.prepare_cached(if only.is_some() {
            concat!(
                "SELECT s.code, i.period_start, i.kind FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
                 WHERE i.customer_id = (SELECT id FROM customers WHERE external_id = ?1)
                   AND (i.kind = 'advance' OR i.advance_fees = 1) AND ",
                crate::stored::not_void!("i")
            )
        } else {
            concat!(
                "SELECT s.code, i.period_start, i.kind FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
                 WHERE ?1 IS NULL AND (i.kind = 'advance' OR i.advance_fees = 1) AND ",
                crate::stored::not_void!("i")
            )
        })?;
        for row in
            stmt.query_map([only], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
        {
            let (sub, start, kind) = row?;
            if kind == "advance" {
                billed_in_advance.insert((sub, start));
            } else {
                advance_fees_billed.insert((sub, start));
            }
        }
        Ok(Book {
            tz,
            meters,
            taxes,
            plans: HashMap::new(),
            windows,
            kind: Kind::Period,
            billed_in_advance,
            advance_fees_billed,
            costs,
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Drafts the period of subscription `code` starting at `period_start`
    /// with its advance fees when `billed_them` (its period invoice billed
    /// them), else without (an advance invoice did): a period re-rated for
    /// late usage keeps the fees it was billed with, whatever happened to
    /// its advance invoice since.
    pub(crate) fn advance_fees_as_billed(&mut self, code: &str, period_start: DateTime<Utc>, billed_them: bool) {
        let key = (code.to_string(), crate::stored::time_text(period_start));
        if billed_them {
            self.billed_in_advance.remove(&key);
        } else {
            self.billed_in_advance.insert(key);
        }
    }

    fn plan(&mut self, conn: &Connection, code: &str, version: i64) -> Result<&PlanFields> {
        let key = (code.to_string(), version);
        if !self.plans.contains_key(&key) {
            let fields = plan::version(conn, code, version)?;
            self.plans.insert(key.clone(), fields);
        }
        Ok(&self.plans[&key])
    }

    /// The draft of the period of `sub` that starts in `month`; none
    /// when no period starts in that month or the subscription is not active in it.
    pub fn draft_for_month(
        &mut self,
        conn: &Connection,
        usage: &mut dyn UsageSource,
        sub: &Subscription,
        month: Month,
    ) -> Result<Option<Draft>> {
        match self.period_starting_in(conn, sub, month)? {
            Some(period) => self.draft(conn, usage, sub, period),
            None => Ok(None),
        }
    }

    /// The period of `sub` starting in `month` while it is active in it.
    fn period_starting_in(&mut self, conn: &Connection, sub: &Subscription, month: Month) -> Result<Option<Period>> {
        let interval = self.plan(conn, &sub.fields.plan, sub.version())?.interval;
        let schedule = crate::period::Schedule::new(interval, sub.anchor_day(), sub.fields.start)?;
        let Ok(period) = schedule.starting_in(self.tz, month) else {
            return Ok(None);
        };
        let f = &sub.fields;
        let active_from = f.start.max(period.first_day);
        let active_to = f.end.map_or(period.end_day, |e| e.min(period.end_day));
        Ok((active_from < active_to).then_some(period))
    }

    /// The draft of one period of `sub`; none when it is not active in it.
    pub fn draft(
        &mut self,
        conn: &Connection,
        usage: &mut dyn UsageSource,
        sub: &Subscription,
        period: Period,
    ) -> Result<Option<Draft>> {
        let f = &sub.fields;
        let active_from = f.start.max(period.first_day);
        let active_to = f.end.map_or(period.end_day, |e| e.min(period.end_day));
        if active_from >= active_to {
            return Ok(None);
        }
        let plan = self.plan(conn, &f.plan, sub.version())?.clone();
        // An advance invoice bills the advance fees alone; the period's invoice
        // leaves them out once they were billed in advance.
        let key = (f.id.clone(), crate::stored::time_text(period.start));
        let billed_in_advance = self.kind != Kind::Advance && self.billed_in_advance.contains(&key);
        // An advance fee is billed once per period: not in advance once the
        // period's own invoice billed it.
        if self.kind == Kind::Advance && self.advance_fees_billed.contains(&key) {
            return Ok(None);
        }
        let fees: Vec<Fee> = plan
            .fees
            .iter()
            .filter(|fee| match self.kind {
                Kind::Advance => fee.timing == Timing::Advance,
                Kind::Period | Kind::Adjustment => !(billed_in_advance && fee.timing == Timing::Advance),
            })
            .map(|fee| Fee { name: fee.name.clone(), amount: fee.amount.0 })
            .collect();
        if self.kind == Kind::Advance && fees.is_empty() {
            return Ok(None);
        }
        let schedule = sub.schedule(&plan)?;
        let index = schedule.index_of(period.first_day)? - schedule.index_of(f.start)?;
        let charges = effective_charges(&plan, &f.overrides).map_err(Error::Invalid)?;
        let grouped: HashMap<String, bool> =
            self.meters.iter().map(|(code, m)| (code.clone(), m.group_by.is_some())).collect();
        let valid = PlanFields { charges, ..plan.clone() }.validate(&grouped).map_err(Error::Invalid)?;
        let from = crate::period::day_start(self.tz, active_from)?;
        let to = crate::period::day_start(self.tz, active_to)?;
        let mut rated_charges = Vec::with_capacity(valid.charges.len());
        // Amounts past Decimal's range make this period's draft unbillable,
        // said on the draft, and leave every other draft as it is.
        let mut overflow: Option<String> = None;
        let charged: &[_] = if self.kind == Kind::Advance { &[] } else { &valid.charges };
        for c in charged {
            let meter = self.meters.get(&c.meter).ok_or_else(|| {
                Error::Internal(format!("plan \"{}\" charges unknown meter \"{}\"", plan.code, c.meter))
            })?;
            let group = c.group.as_deref();
            let per_event = matches!(&c.model, PriceModel::Percentage(_));
            let read = if per_event {
                usage.amounts(meter, &f.customer, from, to, group).map(ChargeUsage::EventAmounts)
            } else {
                usage.quantity(meter, &f.customer, from, to, group).map(ChargeUsage::Quantity)
            };
            let charge_usage = match read {
                Ok(u) => u,
                Err(Error::Overflow(why)) => {
                    overflow = Some(format!("{why} in the usage of meter \"{}\"", c.meter));
                    ChargeUsage::Quantity(Decimal::ZERO)
                }
                Err(e) => return Err(e),
            };
            let description = match group {
                Some(g) => format!("{} — {g}", meter.name),
                None => meter.name.clone(),
            };
            rated_charges.push(Charge {
                description,
                meter: c.meter.clone(),
                group: c.group.clone(),
                model: c.model.clone(),
                usage: charge_usage,
                maximum: c.maximum,
            });
        }
        // An advance invoice takes the percentages off the whole invoice; amounts
        // and a charge's discounts go on the period's invoice, once.
        let discounts = f
            .discounts
            .iter()
            .filter(|d| d.periods.is_none_or(|n| index < i64::from(n)))
            .filter(|d| self.kind == Kind::Period || (d.meter.is_none() && d.percent.is_some()))
            .map(|d| Discount {
                name: d.name.clone(),
                kind: match (d.percent, d.amount) {
                    (Some(p), _) => DiscountKind::Percent(p.0),
                    (None, a) => DiscountKind::Fixed(a.map_or(Decimal::ZERO, |a| a.0)),
                },
                meter: d.meter.clone(),
            })
            .collect();
        let tax_rate = self.taxes.get(&f.customer).copied().flatten();
        let currency: Currency = valid.currency;
        let active_days = period.days_within(active_from, active_to);
        let input = RatingInput {
            currency,
            fees,
            charges: rated_charges,
            minimum_commitment: if self.kind == Kind::Advance { None } else { plan.minimum_commitment.map(|c| c.0) },
            maximum: if self.kind == Kind::Advance { None } else { f.maximum_under(&plan).map(|m| m.0) },
            active_days,
            period_days: period.days(),
            discounts,
            tax_rate,
        };
        let rated = rating::rate(&input).map_err(|why| overflow.get_or_insert_with(|| why.to_string()).clone());
        let zero = Dec(currency.round(Decimal::ZERO));
        let (mut rated, allowance) = match (rated, &overflow) {
            (Ok(rated), None) => {
                let allowance = rating::allowance(&input, &rated);
                (rated, allowance)
            }
            _ => (rating::Rated { lines: Vec::new(), subtotal: zero, tax: zero, total: zero }, None),
        };
        self.add_costs(usage, &f.customer, (from, to), active_from, &mut rated.lines)?;
        crate::cost::fill_margins(&mut rated.lines, &currency);
        let margin = crate::cost::invoice_margin(&rated.lines, rated.subtotal.0, &currency);
        let problem = overflow.map(|why| {
            format!(
                "the period of {} from {} to {} cannot be billed: {why}; check the customer's usage",
                f.id,
                period.first_day,
                period.end_day.pred_opt().unwrap_or(period.end_day)
            )
        });
        let credits = Dec(currency.round(Decimal::ZERO));
        let mut unbilled_events = 0;
        let uncovered = if self.kind == Kind::Advance {
            Vec::new()
        } else {
            self.uncovered(&f.customer, period.first_day, period.end_day)
        };
        for (from, to) in uncovered {
            let (from, to) = (crate::period::day_start(self.tz, from)?, crate::period::day_start(self.tz, to)?);
            unbilled_events +=
                event_store::count_between(conn, sub.customer_id, from.timestamp_millis(), to.timestamp_millis())?;
        }
        Ok(Some(Draft {
            number: None,
            status: Status::Draft,
            kind: self.kind,
            customer: f.customer.clone(),
            currency: currency.code(),
            period: Bounds { start: period.start, end: period.end },
            amount_due: rated.total,
            lines: rated.lines,
            subtotal: rated.subtotal,
            tax: rated.tax,
            total: rated.total,
            credits_applied: credits,
            subscription: f.id.clone(),
            plan: plan.code.clone(),
            plan_version: sub.version(),
            first_day: period.first_day,
            end_day: period.end_day,
            last_day: last_day_of(period.end_day),
            active_days,
            period_days: period.days(),
            usage_window: Bounds { start: from, end: to },
            tax_rate: tax_rate.map(Dec),
            unbilled_events,
            topups: Vec::new(),
            problem,
            margin,
            allowance,
        }))
    }

    /// Puts its cost beside each usage line a cost rate prices (docs/billing.md
    /// "Costs and margin"): count and sum meters by local day of the usage
    /// window and, for a line on every group of a split meter, by group (each
    /// model at its own rate); other meters whole at the rate of the first day.
    fn add_costs(
        &self,
        usage: &mut dyn UsageSource,
        customer: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        first_day: NaiveDate,
        lines: &mut [rating::Line],
    ) -> Result<()> {
        if self.costs.is_empty() {
            return Ok(());
        }
        for line in lines.iter_mut().filter(|l| l.kind == rating::LineKind::Usage) {
            let Some(meter) = line.meter.as_deref().filter(|m| self.costs.prices(m)).and_then(|m| self.meters.get(m))
            else {
                continue;
            };
            let group = line.group.as_deref();
            let by_group;
            let counted: Vec<(Option<&str>, crate::cost::Counted)> = match meter.aggregation {
                meter::Aggregation::Count | meter::Aggregation::Sum => {
                    // A line on every model is priced model by model.
                    by_group = usage.daily(meter, customer, window, group, self.tz)?;
                    by_group.iter().map(|(g, days)| (g.as_deref(), crate::cost::Counted::Daily(days))).collect()
                }
                _ => vec![(group, crate::cost::Counted::Whole { quantity: line.quantity.0, first_day })],
            };
            // No usage costs nothing, at the rate of the first day (0.00, not unknown).
            let counted = if counted.is_empty() {
                vec![(group, crate::cost::Counted::Whole { quantity: Decimal::ZERO, first_day })]
            } else {
                counted
            };
            if let Some(cost) = crate::cost::line_cost_by_group(&self.costs, &meter.code, &counted) {
                line.cost = Some(Dec(cost.amount));
                line.cost_currency = Some(cost.currency.code());
            }
        }
        Ok(())
    }

    /// The parts of `[first, end)` that none of the customer's subscriptions cover.
    fn uncovered(&self, customer: &str, first: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
        let mut windows = self.windows.get(customer).cloned().unwrap_or_default();
        windows.sort();
        let mut gaps = Vec::new();
        let mut at = first;
        for (start, stop) in windows {
            if start > at {
                gaps.push((at, start.min(end)));
            }
            at = at.max(stop.unwrap_or(end));
            if at >= end {
                break;
            }
        }
        if at < end {
            gaps.push((at, end));
        }
        gaps.retain(|(a, b)| a < b);
        gaps
    }
}

/// Brings the daily rollups up to the last stored event (a write, usually
/// nothing to do) and returns the workspace zone.
/// Where a preview reads usage: the daily rollups, brought up to date in a
/// short write of their own; or, while another process is writing (an
/// import), the raw events, which give the same values: a preview never waits
/// for a writer.
pub(crate) fn refresh(ws: &mut Workspace) -> Result<(Tz, bool)> {
    let tz = settings::zone(ws.conn())?;
    let fresh = ws.try_write(|tx| rollup::refresh(tx, tz))?.is_some();
    Ok((tz, fresh))
}

/// The rollups when [`refresh`] brought them up to date, else the raw events.
pub(crate) fn usage_source(conn: &Connection, tz: Tz, fresh: bool) -> Result<Box<dyn UsageSource + '_>> {
    Ok(if fresh { Box::new(Rollups::new(conn, tz)?) } else { Box::new(RawEvents::new(conn)) })
}

/// The drafts of `subscriptions`' periods that start in `month`,
/// reading usage from `usage`.
pub fn drafts(
    conn: &Connection,
    usage: &mut dyn UsageSource,
    subscriptions: &[Subscription],
    month: Month,
) -> Result<Vec<Draft>> {
    drafts_of_kind(conn, usage, subscriptions, month, Kind::Period)
}

/// The drafts of one kind (period or advance) of `subscriptions`' periods that
/// start in `month`.
pub fn drafts_of_kind(
    conn: &Connection,
    usage: &mut dyn UsageSource,
    subscriptions: &[Subscription],
    month: Month,
    kind: Kind,
) -> Result<Vec<Draft>> {
    drafts_in(Book::load(conn)?, conn, usage, subscriptions, month, kind)
}

fn drafts_in(
    mut book: Book,
    conn: &Connection,
    usage: &mut dyn UsageSource,
    subscriptions: &[Subscription],
    month: Month,
    kind: Kind,
) -> Result<Vec<Draft>> {
    book.kind = kind;
    let mut drafts = Vec::new();
    for sub in subscriptions {
        drafts.extend(book.draft_for_month(conn, usage, sub, month)?);
    }
    if kind == Kind::Period {
        add_topups(conn, &mut drafts)?;
    }
    Ok(drafts)
}

/// Puts each customer's unbilled top-ups on its first period draft that can
/// still be finalized (a finalized month's draft is only a look back).
fn add_topups(conn: &Connection, drafts: &mut [Draft]) -> Result<()> {
    // The drafts of one customer (a finalize's) read that customer's top-ups alone.
    let first = drafts.first().map(|d| d.customer.as_str());
    let one = first.filter(|c| drafts.iter().all(|d| d.customer == *c)).map(str::to_string);
    let mut pending = crate::wallet::unbilled_topups(conn, one.as_deref())?;
    for d in drafts {
        let key = (d.customer.clone(), d.currency.clone());
        if !pending.contains_key(&key) || finalized_as(conn, d)?.is_some() {
            continue;
        }
        if let Some(topups) = pending.remove(&key) {
            let added: Decimal = topups.iter().map(|t| t.amount.0).sum();
            // A draft applies no credit: that is the finalize's.
            let closing = meterdesk_rules::settle::close(d.total.0, added, Decimal::ZERO);
            d.total = Dec(closing.total);
            d.amount_due = Dec(closing.amount_due);
            d.topups = topups;
        }
    }
    Ok(())
}

/// The draft (of `kind`) of the period of subscription `code` starting in
/// `month`, computed again from what `conn` sees now, read from the
/// daily rollups (which the caller brought up to date in the same transaction).
pub fn redraft(conn: &Connection, tz: Tz, code: &str, month: Month, kind: Kind) -> Result<Option<Draft>> {
    let sub = subscription::get(conn, code)?.ok_or_else(|| Error::NotFound(format!("no subscription \"{code}\"")))?;
    let subscriptions = subscription::of_customer(conn, &sub.fields.customer)?;
    let book = Book::load_for(conn, Some(&sub.fields.customer))?;
    let drafts = drafts_in(book, conn, &mut Rollups::new(conn, tz)?, &subscriptions, month, kind)?;
    Ok(drafts.into_iter().find(|d| d.subscription == code))
}

/// The drafts of a customer's subscription periods that start in month
/// `YYYY-MM` (one, or two around a plan change), read from the daily rollups.
pub fn preview_customer(ws: &mut Workspace, customer: &str, month: Month) -> Result<Vec<Draft>> {
    preview(ws, month, Some(customer), Kind::Period)
}

/// The drafts of every subscription period that starts in `month`, by
/// customer, read from the daily rollups.
pub fn preview_all(ws: &mut Workspace, month: Month) -> Result<Vec<Draft>> {
    preview(ws, month, None, Kind::Period)
}

/// The drafts of one kind of the periods starting in `month`: every
/// customer's, or one's.
pub fn preview(ws: &mut Workspace, month: Month, customer: Option<&str>, kind: Kind) -> Result<Vec<Draft>> {
    let subscriptions = subscriptions_of(ws.conn(), customer)?;
    let (tz, fresh) = refresh(ws)?;
    drafts_of_kind(ws.conn(), usage_source(ws.conn(), tz, fresh)?.as_mut(), &subscriptions, month, kind)
}

/// The period drafts running on local day `today` of the subscriptions
/// `keep` chooses (given each with its plan's version): the months those
/// periods start in priced at once with [`preview_months`].
pub fn running_drafts(
    ws: &mut Workspace,
    today: NaiveDate,
    mut keep: impl FnMut(&Subscription, &PlanFields) -> bool,
) -> Result<Vec<Draft>> {
    let mut months: Vec<Month> = Vec::new();
    let mut chosen: HashSet<String> = HashSet::new();
    // Each plan version read once, however many subscribe to it.
    let mut plans: HashMap<(String, i64), PlanFields> = HashMap::new();
    for s in subscription::all(ws.conn())? {
        let f = &s.fields;
        if f.start > today || f.end.is_some_and(|end| end <= today) {
            continue;
        }
        let key = (f.plan.clone(), s.version());
        if !plans.contains_key(&key) {
            let fields = plan::version(ws.conn(), &f.plan, s.version())?;
            plans.insert(key.clone(), fields);
        }
        let fields = &plans[&key];
        if !keep(&s, fields) {
            continue;
        }
        let (first, _) = s.schedule(fields)?.dates_containing(today)?;
        let month = Month::of(first);
        if !months.contains(&month) {
            months.push(month);
        }
        chosen.insert(f.id.clone());
    }
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    Ok(preview_months(ws, &months, None, Kind::Period)?
        .into_iter()
        .flatten()
        .filter(|d| chosen.contains(&d.subscription) && d.first_day <= today && today < d.end_day)
        .collect())
}

/// [`preview`] of several months (every customer's or one's): the usage
/// brought up to date once and, with many subscriptions, half of the
/// customers computed on a second connection on another core.
pub fn preview_months(
    ws: &mut Workspace,
    months: &[Month],
    customer: Option<&str>,
    kind: Kind,
) -> Result<Vec<Vec<Draft>>> {
    preview_months_split(ws, months, customer, kind, 200)
}

/// [`preview_months`], on two connections from `split_from` subscriptions.
pub(crate) fn preview_months_split(
    ws: &mut Workspace,
    months: &[Month],
    customer: Option<&str>,
    kind: Kind,
    split_from: usize,
) -> Result<Vec<Vec<Draft>>> {
    if months.is_empty() {
        return Ok(Vec::new());
    }
    let subscriptions = subscriptions_of(ws.conn(), customer)?;
    let (tz, fresh) = refresh(ws)?;
    // What the months share read once per connection.
    let drafts = |conn: &Connection, subscriptions: &[Subscription]| -> Result<Vec<Vec<Draft>>> {
        let mut usage = usage_source(conn, tz, fresh)?;
        let book = Book::load_for(conn, customer)?;
        months.iter().map(|m| drafts_in(book.clone(), conn, usage.as_mut(), subscriptions, *m, kind)).collect()
    };
    let reader = match subscriptions.len() >= split_from.max(2) {
        true => ws.reader()?,
        false => None,
    };
    let Some(reader) = reader else {
        return drafts(ws.conn(), &subscriptions);
    };
    // Each customer's subscriptions on one side (its top-ups go on its first draft).
    let first_half: HashSet<&str> =
        subscriptions.iter().take(subscriptions.len() / 2).map(|s| s.fields.customer.as_str()).collect();
    let (mine, theirs): (Vec<Subscription>, Vec<Subscription>) =
        subscriptions.iter().cloned().partition(|s| first_half.contains(s.fields.customer.as_str()));
    let conn = ws.conn();
    let (mine, theirs) = std::thread::scope(|s| {
        let drafts = &drafts;
        let theirs = &theirs;
        let other = s.spawn(move || drafts(&reader, theirs));
        let failed = || Err(Error::Internal("computing the drafts failed".into()));
        (drafts(conn, &mine), other.join().unwrap_or_else(|_| failed()))
    });
    // Each month's drafts in the order of the subscriptions, as computed on one connection.
    let place: HashMap<&str, usize> =
        subscriptions.iter().enumerate().map(|(i, s)| (s.fields.id.as_str(), i)).collect();
    let mut out = mine?;
    for (month, more) in out.iter_mut().zip(theirs?) {
        month.extend(more);
        month.sort_by_key(|d| place.get(d.subscription.as_str()).copied().unwrap_or(usize::MAX));
    }
    Ok(out)
}

/// Reads no usage: drafts that only say which periods there are (a batch
/// finalize lists them so, then computes each draft in its own transaction).
struct NoUsage;

impl UsageSource for NoUsage {
    fn quantity(
        &mut self,
        _: &MeterFields,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: Option<&str>,
    ) -> Result<Decimal> {
        Ok(Decimal::ZERO)
    }

    fn amounts(
        &mut self,
        _: &MeterFields,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: Option<&str>,
    ) -> Result<Vec<Decimal>> {
        Ok(Vec::new())
    }

    fn daily(
        &mut self,
        _: &MeterFields,
        _: &str,
        _: (DateTime<Utc>, DateTime<Utc>),
        _: Option<&str>,
        _: Tz,
    ) -> Result<Vec<crate::usage::GroupDays>> {
        Ok(Vec::new())
    }
}

/// The periods of one kind starting in `month` (every customer's, or
/// one's) as drafts without usage: what a batch finalize goes through.
pub fn periods(ws: &Workspace, month: Month, customer: Option<&str>, kind: Kind) -> Result<Vec<Draft>> {
    let conn = ws.conn();
    let subscriptions = subscriptions_of(conn, customer)?;
    drafts_in(Book::load_for(conn, customer)?, conn, &mut NoUsage, &subscriptions, month, kind)
}

/// A subscription's code and the start of one of its periods.
pub type PeriodStart = (String, DateTime<Utc>);

/// Which subscriptions (their codes) have a period starting in each of
/// `months` (every customer's, or one's), and when it starts: the periods
/// of [`periods`] without drafting them, enough to ask which are
/// finalized ([`Finalized::has_period`]).
pub fn period_starts_in(ws: &Workspace, months: &[Month], customer: Option<&str>) -> Result<Vec<Vec<PeriodStart>>> {
    let conn = ws.conn();
    let subscriptions = subscriptions_of(conn, customer)?;
    let mut book = Book::load_for(conn, customer)?;
    let mut out = Vec::new();
    for m in months {
        let mut starts = Vec::new();
        for sub in &subscriptions {
            if let Some(period) = book.period_starting_in(conn, sub, *m)? {
                starts.push((sub.fields.id.clone(), period.start));
            }
        }
        out.push(starts);
    }
    Ok(out)
}

/// Every subscription, or one customer's (which must exist).
fn subscriptions_of(conn: &Connection, customer: Option<&str>) -> Result<Vec<Subscription>> {
    match customer {
        Some(c) if customer::get(conn, c)?.is_none() => Err(Error::NotFound(format!("no customer with id \"{c}\""))),
        Some(c) => subscription::of_customer(conn, c),
        None => subscription::all(conn),
    }
}

/// The months a preview can be asked for: from the first subscription's start
/// to the last month with usage (or the last start), and that last month of
/// usage, which the console shows first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BillingMonths {
    /// `YYYY-MM`, newest first.
    pub months: Vec<String>,
    pub latest_usage: Option<String>,
}

/// See [`BillingMonths`]; at most ten years of months.
pub fn billing_months(conn: &Connection) -> Result<BillingMonths> {
    let tz = settings::zone(conn)?;
    let (first, last_start): (Option<String>, Option<String>) =
        conn.query_row("SELECT min(start_date), max(start_date) FROM subscriptions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let last_ms: Option<i64> = conn.query_row("SELECT max(last_ms) FROM event_chunks", [], |r| r.get(0))?;
    let month_of_ms = |ms: i64| {
        chrono::TimeZone::timestamp_millis_opt(&tz, ms).single().map(|t| t.date_naive().format("%Y-%m").to_string())
    };
    let latest_usage = last_ms.and_then(month_of_ms);
    let month = |d: &str| d.get(..7).map(str::to_string);
    let (Some(first), Some(last_start)) = (first.as_deref().and_then(month), last_start.as_deref().and_then(month))
    else {
        return Ok(BillingMonths { months: Vec::new(), latest_usage });
    };
    let last = latest_usage.clone().filter(|u| u > &last_start).unwrap_or(last_start);
    let mut month = Month::parse(&first, "period")?;
    let end = Month::parse(&last, "period")?;
    let mut months = Vec::new();
    while month <= end && months.len() < 120 {
        months.push(month.to_string());
        month = month.next()?;
    }
    months.reverse();
    Ok(BillingMonths { months, latest_usage })
}

/// Drafts as CSV, one row per draft, for a spreadsheet: its line kinds summed
/// (fees + usage + commitment + spend_cap + discounts = subtotal; + tax =
/// total; the spend cap, added later, is the last column).
pub fn drafts_csv(drafts: &[Draft], out: impl std::io::Write) -> Result<()> {
    let io = |e: csv::Error| Error::Io(format!("cannot write the CSV: {e}"));
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "customer",
        "subscription",
        "plan",
        "plan_version",
        "currency",
        "period_start",
        "period_end",
        "first_day",
        "last_day",
        "active_days",
        "fees",
        "usage",
        "commitment",
        "discounts",
        "subtotal",
        "tax",
        "total",
        "amount_due",
        "spend_cap",
    ])
    .map_err(io)?;
    for d in drafts {
        let currency = Currency::parse(&d.currency).map_err(Error::Internal)?;
        let sum = |kind: rating::LineKind| {
            currency.round(d.lines.iter().filter(|l| l.kind == kind).map(|l| l.amount.0).sum()).to_string()
        };
        use crate::spreadsheet::cell;
        w.write_record([
            cell(&d.customer).into_owned(),
            cell(&d.subscription).into_owned(),
            cell(&d.plan).into_owned(),
            d.plan_version.to_string(),
            d.currency.clone(),
            d.period.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.period.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.first_day.to_string(),
            d.last_day.to_string(),
            d.active_days.to_string(),
            sum(rating::LineKind::Fee),
            sum(rating::LineKind::Usage),
            sum(rating::LineKind::Commitment),
            sum(rating::LineKind::Discount),
            d.subtotal.to_string(),
            d.tax.to_string(),
            d.total.to_string(),
            d.amount_due.to_string(),
            sum(rating::LineKind::Cap),
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| Error::Io(format!("cannot write the CSV: {e}")))?;
    Ok(())
}

/// A subscriber's bill for a month on its plan, and on a draft of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Trial {
    pub customer: String,
    /// The customer's name, for the editor's list (the id is secondary).
    pub customer_name: String,
    pub subscription: String,
    pub currency: String,
    /// The version the subscription holds.
    pub plan_version: i64,
    pub current: Dec,
    /// None when the draft cannot bill this subscription (see `problem`).
    pub proposed: Option<Dec>,
    /// `proposed − current`, when the draft bills the subscription.
    pub difference: Option<Dec>,
    /// The difference in percent of `current` (one decimal); none when
    /// `current` is zero or the draft does not bill it.
    pub change_percent: Option<Dec>,
    /// The margin on the current plan, and on the draft (cost rates in the
    /// customer's currency; none without them): which customers a price
    /// change makes unprofitable.
    pub current_margin: Option<crate::cost::Margin>,
    pub proposed_margin: Option<crate::cost::Margin>,
    pub problem: Option<String>,
}

/// The subscribers of one currency that the draft bills, added up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct TrialTotal {
    pub currency: String,
    /// How many subscriptions the totals add (those the draft bills).
    pub subscriptions: u32,
    pub current: Dec,
    pub proposed: Dec,
    pub difference: Dec,
    pub change_percent: Option<Dec>,
}

/// A usage quantity the calculator of one charge starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct TypicalQuantity {
    /// The median of the non-zero quantities read.
    pub quantity: Dec,
    /// How many quantities the median is of.
    pub of: u32,
    /// Whose quantities: the plan's subscribers in the month's periods, or
    /// (a plan nobody is on yet) every customer's usage in the calendar month.
    pub basis: TypicalBasis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum TypicalBasis {
    Subscribers,
    Customers,
}

/// A draft of a plan priced on real usage: per subscription, per currency, and
/// each charge's typical quantity (indexed as the draft's charges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct TrialReport {
    pub rows: Vec<Trial>,
    pub totals: Vec<TrialTotal>,
    pub typical: Vec<Option<TypicalQuantity>>,
}

/// The median of the non-zero quantities (the lower middle of an even count:
/// a quantity someone really used).
fn typical(mut quantities: Vec<Decimal>, basis: TypicalBasis) -> Option<TypicalQuantity> {
    quantities.retain(|q| !q.is_zero());
    if quantities.is_empty() {
        return None;
    }
    quantities.sort();
    let of = quantities.len();
    Some(TypicalQuantity { quantity: Dec(quantities[(of - 1) / 2].normalize()), of: of as u32, basis })
}

/// Prices a draft of a plan (unsaved) on the real usage of its subscribers for
/// the periods starting in `month`, next to what they pay now: each
/// keeps its overrides and discounts. Nothing is written but the rollups.
pub fn try_plan(ws: &mut Workspace, draft: &PlanFields, month: Month) -> Result<TrialReport> {
    let valid = plan::check(ws.conn(), draft)?;
    let code = &valid.fields.code;
    let subs: Vec<Subscription> =
        subscription::all(ws.conn())?.into_iter().filter(|s| &s.fields.plan == code).collect();
    let (tz, fresh) = refresh(ws)?;
    let conn = ws.conn();
    let mut usage = usage_source(conn, tz, fresh)?;
    let mut now = Book::load(conn)?;
    let mut proposed = now.clone();
    let customers: HashMap<String, customer::Customer> =
        customer::all(conn)?.into_iter().map(|c| (c.fields.id.clone(), c)).collect();
    let charges = &valid.fields.charges;
    let mut seen: Vec<Vec<Decimal>> = vec![Vec::new(); charges.len()];
    let mut trials = Vec::new();
    for sub in &subs {
        let Some(current) = now.draft_for_month(conn, usage.as_mut(), sub, month)? else { continue };
        proposed.plans.insert((code.clone(), sub.version()), valid.fields.clone());
        let customer = customers.get(&sub.fields.customer);
        let billed_in = customer.and_then(|c| c.fields.currency.clone()).unwrap_or_default();
        let (total, proposed_margin, problem) = if billed_in != valid.fields.currency {
            (
                None,
                None,
                Some(format!(
                    "{} is billed in {billed_in}, the draft in {}",
                    sub.fields.customer, valid.fields.currency
                )),
            )
        } else {
            match proposed.draft_for_month(conn, usage.as_mut(), sub, month) {
                Ok(Some(d)) => {
                    for (i, c) in charges.iter().enumerate() {
                        let line = d.lines.iter().find(|l| {
                            l.kind == rating::LineKind::Usage
                                && l.meter.as_deref() == Some(c.meter.as_str())
                                && l.group == c.group
                        });
                        if let Some(l) = line {
                            seen[i].push(l.quantity.0);
                        }
                    }
                    (Some(d.total), d.margin, None)
                }
                Ok(None) => (None, None, None),
                Err(e) => (None, None, Some(e.to_string())),
            }
        };
        let difference = total.map(|t| Dec(t.0 - current.total.0));
        trials.push(Trial {
            customer: sub.fields.customer.clone(),
            customer_name: customer.map(|c| c.fields.name.clone()).unwrap_or_default(),
            subscription: sub.fields.id.clone(),
            currency: current.currency.clone(),
            plan_version: sub.version(),
            current: current.total,
            proposed: total,
            difference,
            change_percent: total.and_then(|t| money::change_percent(current.total.0, t.0)).map(Dec),
            current_margin: current.margin,
            proposed_margin,
            problem,
        });
    }
    // Per currency, never mixed, over the subscriptions the draft bills.
    let mut by_currency: std::collections::BTreeMap<&str, (u32, Decimal, Decimal)> = std::collections::BTreeMap::new();
    for t in &trials {
        if let Some(p) = t.proposed {
            let x = by_currency.entry(t.currency.as_str()).or_insert((0, Decimal::ZERO, Decimal::ZERO));
            *x = (x.0 + 1, x.1 + t.current.0, x.2 + p.0);
        }
    }
    let totals: Vec<TrialTotal> = by_currency
        .into_iter()
        .map(|(currency, (subscriptions, current, proposed))| TrialTotal {
            currency: currency.to_string(),
            subscriptions,
            current: Dec(current),
            proposed: Dec(proposed),
            difference: Dec(proposed - current),
            change_percent: money::change_percent(current, proposed).map(Dec),
        })
        .collect();
    // Each charge's typical quantity: its subscribers' when they used it, else
    // every customer's usage of its meter in the calendar month.
    let (from, to) = month.bounds(tz)?;
    let mut typical_of = Vec::with_capacity(charges.len());
    for (i, c) in charges.iter().enumerate() {
        let found = typical(std::mem::take(&mut seen[i]), TypicalBasis::Subscribers);
        let found = match (found, &c.price) {
            (Some(t), _) => Some(t),
            // A percentage prices each event's amount, not a total: no quantity to start from.
            (None, pricing::PriceFields::Percentage { .. }) => None,
            (None, _) => {
                let meter = meter::require(conn, &c.meter)?.fields;
                let mut quantities = Vec::with_capacity(customers.len());
                for id in customers.keys() {
                    quantities.push(usage.quantity(&meter, id, from, to, c.group.as_deref())?);
                }
                typical(quantities, TypicalBasis::Customers)
            }
        };
        typical_of.push(found);
    }
    Ok(TrialReport { rows: trials, totals, typical: typical_of })
}

#[cfg(test)]
pub(crate) mod tests;
/// The number of the standing (not void) invoice that finalized the draft's
/// period (of its kind), if one did.
pub fn finalized_as(conn: &Connection, draft: &Draft) -> Result<Option<String>> {
    standing_number(conn, &draft.subscription, draft.period.start, draft.kind)
}

/// Every (subscription, period start, kind) a standing invoice finalized:
/// what [`finalized_as`] answers for one draft, read at once for many.
pub struct Finalized(HashSet<(String, String, String)>);

impl Finalized {
    /// Every customer's, or one's (its external id).
    pub fn load(conn: &Connection, customer: Option<&str>) -> Result<Finalized> {
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT s.code, i.period_start, i.kind FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
             WHERE (?1 IS NULL OR i.customer_id = (SELECT id FROM customers WHERE external_id = ?1)) AND ",
            not_void!("i")
        ))?;
        let rows = stmt.query_map([customer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(Finalized(rows.collect::<rusqlite::Result<_>>()?))
    }

    /// Whether a standing invoice finalized `draft`'s period.
    pub fn has(&self, draft: &Draft) -> bool {
        self.contains(&draft.subscription, draft.period.start, draft.kind)
    }

    /// Whether a standing period invoice finalized subscription `code`'s period starting at `start`.
    pub fn has_period(&self, code: &str, start: DateTime<Utc>) -> bool {
        self.contains(code, start, Kind::Period)
    }

    fn contains(&self, code: &str, start: DateTime<Utc>, kind: Kind) -> bool {
        self.0.contains(&(code.to_string(), time_text(start), kind.as_str().to_string()))
    }
}

/// The number of the standing invoice of `kind` of a subscription's period, if any.
pub(crate) fn standing_number(
    conn: &Connection,
    subscription: &str,
    period_start: DateTime<Utc>,
    kind: Kind,
) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT i.number FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
         WHERE s.code = ?1 AND i.period_start = ?2 AND i.kind = ?3 AND ",
        not_void!("i")
    ))?;
    Ok(stmt.query_row(params![subscription, time_text(period_start), kind.as_str()], |r| r.get(0)).optional()?)
}
