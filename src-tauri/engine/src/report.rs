//! The business at a glance (docs/billing.md "Business figures", "Costs and
//! margin"), per currency and never mixed: revenue by service month (billed,
//! credited, net, unbilled, MRR, ARR, NRR), the margin of a month by
//! customer and line, receivables by age on a day, and the signals (churn
//! risk, power user) with their reasons. The arithmetic is the rules'
//! (`rules::figures`, `rules::cost`); this module gathers what it needs from
//! the invoices, credit notes, drafts, subscriptions and events.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;
use ts_rs::TS;

use crate::alert::{self, Alert, AlertKind};
use crate::bill::{self, Draft, Kind};
use crate::cost;
use crate::error::{Error, Result};
use crate::invoice;
use crate::money::{Currency, Dec};
use crate::period::Month;
use crate::rating::LineKind;
use crate::settings;
use crate::workspace::Workspace;
pub use detail::{Detail, DetailRow, Figure, detail};
pub use meterdesk_rules::figures::{Age, SignalKind};

mod detail;
use meterdesk_rules::figures::{self, Aging};

/// One month's revenue in one currency (`report revenue`, docs/interfaces.md "The command line").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RevenueRow {
    #[ts(type = "string")]
    pub month: Month,
    pub currency: String,
    /// Subtotals of the standing invoices of periods starting in the month.
    pub billed: Dec,
    /// Net (tax excluded) of the credit notes on those invoices.
    pub credited: Dec,
    pub net: Dec,
    /// Subtotals of the drafts of periods starting in the month not finalized yet.
    pub unbilled: Dec,
    pub mrr: Dec,
    pub arr: Dec,
    /// Net revenue retention in percent; none without customers twelve
    /// months before, or while the month has periods still to finalize.
    pub nrr: Option<Dec>,
}

/// What every report reads once: the standing invoices' figures and what
/// credit notes took off each (net of tax).
struct Books {
    invoices: Vec<invoice::Figures>,
    credited_net: HashMap<String, Decimal>,
    /// Tax included: what credit notes took off what is owed.
    credited_total: HashMap<String, Decimal>,
}

impl Books {
    fn load(conn: &Connection) -> Result<Books> {
        Books::load_of(conn, None)
    }

    /// Every customer's books, or one's (its external id).
    fn load_of(conn: &Connection, customer: Option<&str>) -> Result<Books> {
        let invoices = invoice::figures(conn, customer)?;
        let notes = match customer {
            Some(c) => crate::credit::of_customer(conn, c)?,
            None => crate::credit::all(conn)?,
        };
        let mut credited_net: HashMap<String, Decimal> = HashMap::new();
        let mut credited_total: HashMap<String, Decimal> = HashMap::new();
        for note in notes {
            *credited_net.entry(note.invoice.clone()).or_default() += note.subtotal.0;
            *credited_total.entry(note.invoice).or_default() += note.total.0;
        }
        Ok(Books { invoices, credited_net, credited_total })
    }

    /// What credit notes took off invoice `number`, net of tax.
    fn credited(&self, number: Option<&str>) -> Decimal {
        number.and_then(|n| self.credited_net.get(n)).copied().unwrap_or_default()
    }
}

/// How many calendar months a period spans (a month 1, a quarter 3): what
/// its usage revenue is spread over.
fn months_spanned(first_day: NaiveDate, end_day: NaiveDate) -> u32 {
    let months = (end_day.year() - first_day.year()) * 12 + end_day.month() as i32 - first_day.month() as i32;
    months.max(1) as u32
}

/// A period's document as the reports add it up: a standing invoice's
/// figures, or a draft not finalized yet.
trait Doc {
    fn customer(&self) -> &str;
    fn currency(&self) -> &str;
    fn kind(&self) -> Kind;
    fn first_day(&self) -> NaiveDate;
    /// The day after the period's last.
    fn end_day(&self) -> NaiveDate;
    /// The period's last local day.
    fn last_day(&self) -> NaiveDate {
        self.end_day().pred_opt().unwrap_or(self.end_day())
    }
    fn subtotal(&self) -> Decimal;
    /// Its usage revenue: usage lines and commitment true-ups less spend caps.
    fn usage_revenue(&self) -> Decimal;
    /// Each line's meter and cost.
    fn line_costs(&self) -> Vec<LineCost<'_>>;
}

/// A line's meter and cost, in the cost's currency.
struct LineCost<'a> {
    meter: Option<&'a str>,
    cost: Option<Decimal>,
    currency: Option<&'a str>,
}

fn is_usage_revenue(kind: LineKind) -> bool {
    matches!(kind, LineKind::Usage | LineKind::Commitment | LineKind::Cap)
}

/// A draft and an invoice's figures name their fields alike.
macro_rules! doc_of {
    ($t:ty) => {
        impl Doc for $t {
            fn customer(&self) -> &str {
                &self.customer
            }
            fn currency(&self) -> &str {
                &self.currency
            }
            fn kind(&self) -> Kind {
                self.kind
            }
            fn first_day(&self) -> NaiveDate {
                self.first_day
            }
            fn end_day(&self) -> NaiveDate {
                self.end_day
            }
            fn subtotal(&self) -> Decimal {
                self.subtotal.0
            }
            fn usage_revenue(&self) -> Decimal {
                self.lines.iter().filter(|l| is_usage_revenue(l.kind)).map(|l| l.amount.0).sum()
            }
            fn line_costs(&self) -> Vec<LineCost<'_>> {
                self.lines
                    .iter()
                    .map(|l| LineCost {
                        meter: l.meter.as_deref(),
                        cost: l.cost.map(|c| c.0),
                        currency: l.cost_currency.as_deref(),
                    })
                    .collect()
            }
        }
    };
}

doc_of!(Draft);
doc_of!(invoice::Figures);

/// The drafts of periods not finalized yet, by the month they start in,
/// computed once for every report that needs them.
#[derive(Default)]
pub struct Pending {
    /// One customer's (its external id) drafts and books alone, or everyone's.
    customer: Option<String>,
    drafts: HashMap<Month, Vec<Draft>>,
    books: Option<std::rc::Rc<Books>>,
    finalized: Option<bill::Finalized>,
}

impl Pending {
    /// One customer's figures alone (none: every customer's).
    fn of_customer(customer: Option<&str>) -> Pending {
        Pending { customer: customer.map(str::to_string), ..Pending::default() }
    }

    /// The invoices and credit notes, read once for every report.
    fn books(&mut self, conn: &Connection) -> Result<std::rc::Rc<Books>> {
        if self.books.is_none() {
            self.books = Some(std::rc::Rc::new(Books::load_of(conn, self.customer.as_deref())?));
        }
        Ok(self.books.clone().expect("just loaded"))
    }

    /// Lists the periods of `months` at once (one read of what they share)
    /// and keeps the drafts of those no standing invoice finalized yet: none
    /// computed for a month whose periods are all finalized (listing the
    /// periods reads no usage), the others' computed together.
    fn load(&mut self, ws: &mut Workspace, months: &[Month]) -> Result<()> {
        let wanted: Vec<Month> = months.iter().copied().filter(|m| !self.drafts.contains_key(m)).collect();
        let listed = bill::period_starts_in(ws, &wanted, self.customer.as_deref())?;
        if self.finalized.is_none() {
            self.finalized = Some(bill::Finalized::load(ws.conn(), self.customer.as_deref())?);
        }
        let finalized = self.finalized.as_ref().expect("just loaded");
        let mut open = Vec::new();
        for (month, periods) in wanted.into_iter().zip(listed) {
            match periods.iter().any(|(code, start)| !finalized.has_period(code, *start)) {
                true => open.push(month),
                false => {
                    self.drafts.insert(month, Vec::new());
                }
            }
        }
        let drafts = bill::preview_months(ws, &open, self.customer.as_deref(), Kind::Period)?;
        let finalized = self.finalized.as_ref().expect("just loaded");
        for (month, all) in open.into_iter().zip(drafts) {
            self.drafts.insert(month, all.into_iter().filter(|d| !finalized.has(d)).collect());
        }
        Ok(())
    }

    fn of(&mut self, ws: &mut Workspace, month: Month) -> Result<&[Draft]> {
        if !self.drafts.contains_key(&month) {
            self.load(ws, &[month])?;
        }
        Ok(self.drafts.get(&month).map(Vec::as_slice).unwrap_or_default())
    }
}

/// Revenue by month from `from` to `to` (inclusive), per currency.
pub fn revenue(ws: &mut Workspace, from: Month, to: Month) -> Result<Vec<RevenueRow>> {
    revenue_with(ws, from, to, &mut Pending::default())
}

fn revenue_with(ws: &mut Workspace, from: Month, to: Month, pending: &mut Pending) -> Result<Vec<RevenueRow>> {
    if to < from {
        return Err(Error::invalid("to", format!("{to} is before {from}")));
    }
    let conn = ws.conn();
    let books = pending.books(conn)?;
    // (currency, month) → billed, credited.
    let mut billed: BTreeMap<(String, Month), (Decimal, Decimal)> = BTreeMap::new();
    // Usage revenue spread over the months a period spans.
    let mut usage = PerCustomer::new();
    for d in &books.invoices {
        let m = Month::of(d.first_day);
        let credited = books.credited(d.number.as_deref());
        let e = billed.entry((d.currency.clone(), m)).or_default();
        e.0 += d.subtotal.0;
        e.1 += credited;
        spread(&mut usage, d, d.usage_revenue());
    }
    let net_of = nets(&books);
    let months: Vec<Month> = std::iter::successors(Some(from), |m| m.next().ok().filter(|n| *n <= to)).collect();
    pending.load(ws, &months)?;
    let mut unbilled: BTreeMap<(String, Month), Decimal> = BTreeMap::new();
    for m in &months {
        for d in pending.of(ws, *m)? {
            *unbilled.entry((d.currency.clone(), *m)).or_default() += d.subtotal.0;
            spread(&mut usage, d, d.usage_revenue());
        }
    }
    let conn = ws.conn();
    let fees = by_month(&recurring_fees(conn, &months)?);
    let usage = by_month(&usage);
    let mut currencies: Vec<String> =
        billed.keys().chain(unbilled.keys()).chain(fees.keys()).map(|(c, _)| c.clone()).collect();
    currencies.sort();
    currencies.dedup();
    let mut rows = Vec::new();
    for m in &months {
        for c in &currencies {
            let currency = Currency::parse(c).map_err(Error::Internal)?;
            let (b, cr) = billed.get(&(c.clone(), *m)).copied().unwrap_or_default();
            let u = unbilled.get(&(c.clone(), *m)).copied().unwrap_or_default();
            let mrr = currency.round(
                fees.get(&(c.clone(), *m)).copied().unwrap_or_default()
                    + usage.get(&(c.clone(), *m)).copied().unwrap_or_default(),
            );
            if b.is_zero() && cr.is_zero() && u.is_zero() && mrr.is_zero() {
                continue;
            }
            let pairs = retention_pairs(&net_of, c, *m)?;
            rows.push(RevenueRow {
                month: *m,
                currency: c.clone(),
                billed: Dec(currency.round(b)),
                credited: Dec(currency.round(cr)),
                net: Dec(currency.round(b - cr)),
                unbilled: Dec(currency.round(u)),
                mrr: Dec(mrr),
                arr: Dec(currency.round(mrr * Decimal::from(12))),
                // A month with periods still to finalize has no final net yet.
                nrr: if u.is_zero() { figures::nrr(&pairs).map(Dec) } else { None },
            });
        }
    }
    Ok(rows)
}

/// Each customer's net revenue in `currency` in `month` and twelve months
/// before (what NRR compares), from the nets by (currency, customer, month).
fn retention_pairs(nets: &PerCustomer, currency: &str, month: Month) -> Result<BTreeMap<String, (Decimal, Decimal)>> {
    let year_before = (0..12).try_fold(month, |x, _| x.previous())?;
    let mut pairs: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for ((cur, customer, m), net) in nets {
        if cur != currency {
            continue;
        }
        if *m == month {
            pairs.entry(customer.clone()).or_default().0 += *net;
        } else if *m == year_before {
            pairs.entry(customer.clone()).or_default().1 += *net;
        }
    }
    Ok(pairs)
}

/// Net revenue (subtotal less credit notes) by (currency, customer, service month).
fn nets(books: &Books) -> PerCustomer {
    let mut out = PerCustomer::new();
    for d in &books.invoices {
        *out.entry((d.currency.clone(), d.customer.clone(), Month::of(d.first_day))).or_default() +=
            d.subtotal.0 - books.credited(d.number.as_deref());
    }
    out
}

/// Adds `amount` of draft `d` to each month its period spans, in equal
/// shares, by (currency, customer, month).
fn spread(into: &mut PerCustomer, d: &dyn Doc, amount: Decimal) {
    if amount.is_zero() {
        return;
    }
    let n = months_spanned(d.first_day(), d.end_day());
    let share = amount / Decimal::from(n);
    let mut m = Month::of(d.first_day());
    for _ in 0..n {
        *into.entry((d.currency().to_string(), d.customer().to_string(), m)).or_default() += share;
        match m.next() {
            Ok(next) => m = next,
            Err(_) => break,
        }
    }
}

/// Amounts by (currency, customer, month).
type PerCustomer = HashMap<(String, String, Month), Decimal>;

/// The customers' amounts added up by (currency, month).
fn by_month(per: &PerCustomer) -> HashMap<(String, Month), Decimal> {
    let mut out: HashMap<(String, Month), Decimal> = HashMap::new();
    for ((currency, _, month), amount) in per {
        *out.entry((currency.clone(), *month)).or_default() += *amount;
    }
    out
}

/// The recurring fees of the subscriptions active on each month's last day,
/// as a month's share, by (currency, customer, month).
fn recurring_fees(conn: &Connection, months: &[Month]) -> Result<PerCustomer> {
    let mut out = HashMap::new();
    let mut plans: HashMap<(String, i64), crate::plan::PlanFields> = HashMap::new();
    for s in crate::subscription::all(conn)? {
        let key = (s.fields.plan.clone(), s.version());
        if !plans.contains_key(&key) {
            plans.insert(key.clone(), crate::plan::version(conn, &key.0, key.1)?);
        }
        let plan = &plans[&key];
        let fee: Decimal = plan.fees.iter().map(|f| f.amount.0).sum();
        if fee.is_zero() {
            continue;
        }
        for m in months {
            let last = m.end_day()?.pred_opt().unwrap_or(m.first_day());
            let active = s.fields.start <= last && s.fields.end.is_none_or(|end| end > last);
            if active {
                *out.entry((plan.currency.clone(), s.fields.customer.clone(), *m)).or_default() +=
                    figures::monthly(fee, plan.interval);
            }
        }
    }
    Ok(out)
}

/// What invoices of one currency still ask for on a day, by age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ReceivablesRow {
    pub currency: String,
    pub not_due: Dec,
    pub d1_30: Dec,
    pub d31_60: Dec,
    pub d61_90: Dec,
    pub over_90: Dec,
    pub total: Dec,
    /// Everything past its due date.
    pub overdue: Dec,
}

/// Receivables on day `on`: each invoice issued by then that still asks for
/// something (paid after `on` counts as still owed on it), by days past due.
pub fn receivables(conn: &Connection, on: NaiveDate) -> Result<Vec<ReceivablesRow>> {
    receivables_of(&Books::load(conn)?, on)
}

/// The invoices issued by day `on` that still ask for something on it (paid
/// after `on` counts as still owed on it), with what they ask for.
fn owing(books: &Books, on: NaiveDate) -> impl Iterator<Item = (&invoice::Figures, Decimal)> {
    books.invoices.iter().filter_map(move |f| {
        if f.issue_date > on || f.paid_on.is_some_and(|p| p <= on) {
            return None;
        }
        let credited = f.number.as_deref().and_then(|n| books.credited_total.get(n)).copied().unwrap_or_default();
        let paid: Decimal = f.payments.iter().filter(|(d, _)| *d <= on).map(|(_, a)| *a).sum();
        let owed = f.dues().owed_after(credited) - paid;
        (owed > Decimal::ZERO).then_some((f, owed))
    })
}

fn receivables_of(books: &Books, on: NaiveDate) -> Result<Vec<ReceivablesRow>> {
    let mut by: BTreeMap<String, Aging> = BTreeMap::new();
    for (f, owed) in owing(books, on) {
        by.entry(f.currency.clone()).or_default().add(owed, f.due_date, on);
    }
    by.into_iter()
        .map(|(c, aging)| {
            let currency = Currency::parse(&c).map_err(Error::Internal)?;
            let at = |age| Dec(currency.round(aging.get(age)));
            Ok(ReceivablesRow {
                not_due: at(Age::NotDue),
                d1_30: at(Age::D1To30),
                d31_60: at(Age::D31To60),
                d61_90: at(Age::D61To90),
                over_90: at(Age::Over90),
                total: Dec(currency.round(aging.total())),
                overdue: Dec(currency.round(aging.overdue())),
                currency: c,
            })
        })
        .collect()
}

/// One customer's margin in a month, in its invoices' currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MarginRow {
    pub customer: String,
    pub customer_name: String,
    pub currency: String,
    pub revenue: Dec,
    pub cost: Dec,
    pub margin: Dec,
    pub margin_percent: Option<Dec>,
    /// The exchange rates costs in another currency were converted with
    /// ("1 USD = 0.92 EUR as of 2025-01-01"); costs without a rate are left
    /// out and named in `unconverted`.
    pub converted_with: Vec<String>,
    pub unconverted: Vec<String>,
    pub lines: Vec<MarginLine>,
}

/// A meter's (and group's) share of a customer's month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MarginLine {
    pub meter: String,
    pub group: Option<String>,
    pub quantity: Dec,
    pub revenue: Dec,
    pub cost: Dec,
    pub margin: Dec,
}

/// The margin of the periods starting in `month`, by customer (one, or
/// every customer): standing invoices and the drafts not finalized yet;
/// revenue is the subtotal less what credit notes took off, cost the lines'
/// costs, converted with the exchange rates when in another currency.
pub fn margin(ws: &mut Workspace, month: Month, customer: Option<&str>) -> Result<Vec<MarginRow>> {
    // One customer's drafts, invoices and credit notes alone, not every customer's.
    margin_with(ws, month, customer, &mut Pending::of_customer(customer))
}

fn margin_with(
    ws: &mut Workspace,
    month: Month,
    customer: Option<&str>,
    cache: &mut Pending,
) -> Result<Vec<MarginRow>> {
    let pending = cache.of(ws, month)?.to_vec();
    let conn = ws.conn();
    let books = cache.books(conn)?;
    let fx = cost::fx_rates(conn)?;
    // The month's invoices in full: their lines by meter and group.
    let ids: Vec<i64> = books
        .invoices
        .iter()
        .filter(|f| Month::of(f.first_day) == month && customer.is_none_or(|c| f.customer == c))
        .map(|f| f.id)
        .collect();
    let invoices = invoice::by_ids(conn, &ids)?;
    let mut docs: Vec<(&Draft, Decimal, String)> = Vec::new();
    for inv in &invoices {
        let d = &inv.frozen.draft;
        docs.push((d, books.credited(d.number.as_deref()), inv.frozen.buyer.name.clone()));
    }
    let names: HashMap<String, String> =
        crate::customer::all(conn)?.into_iter().map(|c| (c.fields.id, c.fields.name)).collect();
    for d in &pending {
        docs.push((d, Decimal::ZERO, names.get(&d.customer).cloned().unwrap_or_else(|| d.customer.clone())));
    }
    docs.retain(|(d, _, _)| customer.is_none_or(|c| d.customer == c));
    // (customer, currency) → row under construction.
    struct Acc {
        name: String,
        revenue: Decimal,
        cost: Decimal,
        converted: Vec<String>,
        unconverted: Vec<String>,
        lines: BTreeMap<(String, Option<String>), (Decimal, Decimal, Decimal)>,
    }
    let mut by: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for (d, credited, name) in docs {
        let currency = Currency::parse(&d.currency).map_err(Error::Internal)?;
        let acc = by.entry((d.customer.clone(), d.currency.clone())).or_insert_with(|| Acc {
            name,
            revenue: Decimal::ZERO,
            cost: Decimal::ZERO,
            converted: Vec::new(),
            unconverted: Vec::new(),
            lines: BTreeMap::new(),
        });
        acc.revenue += d.subtotal.0 - credited;
        for (l, cost) in d.lines.iter().zip(d.line_costs()).filter(|(l, _)| l.kind == LineKind::Usage) {
            let Some(meter) = &l.meter else { continue };
            let line_cost = cost_in_currency(&cost, d, &currency, &fx, &mut acc.converted, &mut acc.unconverted);
            acc.cost += line_cost;
            let e = acc.lines.entry((meter.clone(), l.group.clone())).or_default();
            e.0 += l.quantity.0;
            e.1 += l.amount.0;
            e.2 += line_cost;
        }
    }
    Ok(by
        .into_iter()
        .map(|((customer, currency), a)| {
            let m = cost::margin(a.revenue, a.cost);
            MarginRow {
                customer,
                customer_name: a.name,
                currency,
                revenue: m.revenue,
                cost: m.cost,
                margin: m.margin,
                margin_percent: m.margin_percent,
                converted_with: a.converted,
                unconverted: a.unconverted,
                lines: a
                    .lines
                    .into_iter()
                    .map(|((meter, group), (q, r, c))| MarginLine {
                        meter,
                        group,
                        quantity: Dec(q),
                        revenue: Dec(r),
                        cost: Dec(c),
                        margin: Dec(r - c),
                    })
                    .collect(),
            }
        })
        .collect())
}

/// A line's cost in its document's `currency`: as it is, or converted with
/// the newest exchange rate as of the period's last day (said in
/// `converted`), or nothing when no rate converts it (said in `unconverted`).
fn cost_in_currency(
    l: &LineCost,
    d: &dyn Doc,
    currency: &Currency,
    fx: &[cost::FxRate],
    converted: &mut Vec<String>,
    unconverted: &mut Vec<String>,
) -> Decimal {
    match (l.cost, l.currency) {
        (Some(c), Some(cc)) if cc == d.currency() => c,
        (Some(c), Some(cc)) => match cost::convert(c, cc, currency, fx, d.last_day()) {
            Some(done) => {
                let r = done.rate;
                let said = format!("1 {} = {} {} as of {}", r.from, r.rate, r.to, r.as_of);
                if !converted.contains(&said) {
                    converted.push(said);
                }
                done.amount
            }
            None => {
                let meter = l.meter.unwrap_or_default();
                unconverted.push(format!("{c} {cc} of {meter} (no {cc} → {} rate on {})", d.currency(), d.last_day()));
                Decimal::ZERO
            }
        },
        _ => Decimal::ZERO,
    }
}

/// A customer worth a look, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SignalRow {
    pub customer: String,
    pub customer_name: String,
    pub kind: figures::SignalKind,
    pub reason: String,
    /// What the signal is about, for raising it into the inbox once: the
    /// cause and its period's first day, or the day the silence began
    /// (`falling:2026-10-01`, `thin:…`, `silent:…`).
    #[serde(skip)]
    #[ts(skip)]
    pub subject: String,
}

/// One ended period of a customer (its invoice and adjustments together).
#[derive(Default)]
struct PeriodFigures {
    usage: Decimal,
    revenue: Decimal,
    cost: Decimal,
    first_day: NaiveDate,
}

/// Churn risks and power users on `now`'s local day (docs/billing.md
/// "Business figures"): each customer's last ended period (its invoice, or
/// its draft while not finalized) against the three before it, its days
/// without events while subscribed, and the margin of that period against
/// the workspace's floor.
pub fn signals(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Vec<SignalRow>> {
    signals_with(ws, now, &mut Pending::default())
}

/// One customer's margin in `month` and its signals on `now`'s day (its
/// page), from its own invoices and drafts alone, each draft computed once.
pub fn customer_figures(
    ws: &mut Workspace,
    now: DateTime<Utc>,
    month: Month,
    customer: &str,
) -> Result<(Vec<MarginRow>, Vec<SignalRow>)> {
    let mut pending = Pending::of_customer(Some(customer));
    let margins = margin_with(ws, month, Some(customer), &mut pending)?;
    Ok((margins, signals_with(ws, now, &mut pending)?))
}

fn signals_with(ws: &mut Workspace, now: DateTime<Utc>, pending: &mut Pending) -> Result<Vec<SignalRow>> {
    let today = settings::today(ws.conn(), now)?;
    // The ended periods of the last four months not finalized yet count as their drafts say.
    let mut drafts = Vec::new();
    let mut m = Month::of(today);
    for _ in 0..4 {
        m = m.previous()?;
        drafts.extend(pending.of(ws, m)?.iter().filter(|d| d.end_day <= today).cloned());
    }
    let conn = ws.conn();
    let tz = settings::zone(conn)?;
    let floor = settings::get(conn)?.margin_floor_percent.0;
    let books = pending.books(conn)?;
    let fx = cost::fx_rates(conn)?;
    // Each customer's ended periods, oldest first (adjustments added to their period).
    let mut periods: BTreeMap<(String, String), BTreeMap<NaiveDate, PeriodFigures>> = BTreeMap::new();
    let docs = books
        .invoices
        .iter()
        .map(|f| (f as &dyn Doc, books.credited(f.number.as_deref())))
        .chain(drafts.iter().map(|d| (d as &dyn Doc, Decimal::ZERO)));
    for (d, credited) in docs {
        if d.end_day() > today || !matches!(d.kind(), Kind::Period | Kind::Adjustment) {
            continue;
        }
        let e = periods
            .entry((d.customer().to_string(), d.currency().to_string()))
            .or_default()
            .entry(d.first_day())
            .or_default();
        e.usage += d.usage_revenue();
        e.revenue += d.subtotal() - credited;
        let currency = Currency::parse(d.currency()).map_err(Error::Internal)?;
        let (mut said, mut unsaid) = (Vec::new(), Vec::new());
        e.cost += d
            .line_costs()
            .iter()
            .map(|l| cost_in_currency(l, d, &currency, &fx, &mut said, &mut unsaid))
            .sum::<Decimal>();
        e.first_day = d.first_day();
    }
    let names: HashMap<String, String> =
        crate::customer::all(conn)?.into_iter().map(|c| (c.fields.id, c.fields.name)).collect();
    let mut out = Vec::new();
    let mut push = |customer: &str, signal: figures::Signal, subject: String| {
        out.push(SignalRow {
            customer: customer.to_string(),
            customer_name: names.get(customer).cloned().unwrap_or_else(|| customer.to_string()),
            kind: signal.kind,
            reason: signal.reason,
            subject,
        });
    };
    for ((customer, currency), by_start) in &periods {
        let currency = Currency::parse(currency).map_err(Error::Internal)?;
        let list: Vec<&PeriodFigures> = by_start.values().collect();
        let Some(last) = list.last() else { continue };
        let month = Month::of(last.first_day);
        if list.len() >= 4 {
            let before = [list[list.len() - 4].usage, list[list.len() - 3].usage, list[list.len() - 2].usage];
            if let Some(s) = figures::falling_usage(&currency, month, last.usage, &before) {
                push(customer, s, format!("falling:{}", last.first_day));
            }
        }
        if !last.cost.is_zero() {
            let m = cost::margin(last.revenue, last.cost);
            if let Some(s) = figures::thin_margin(&currency, month, &m, floor) {
                push(customer, s, format!("thin:{}", last.first_day));
            }
        }
    }
    // Silence: subscribed today, and no event for 14 days.
    let mut last_event: HashMap<i64, i64> = HashMap::new();
    let mut stmt = conn.prepare_cached("SELECT customer_id, max(last_ms) FROM event_chunks GROUP BY customer_id")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (id, ms) = row?;
        last_event.insert(id, ms);
    }
    for s in crate::subscription::all(conn)? {
        let f = &s.fields;
        if pending.customer.as_ref().is_some_and(|c| c != &f.customer) {
            continue;
        }
        if f.start > today || f.end.is_some_and(|e| e <= today) {
            continue;
        }
        let last = last_event
            .get(&s.customer_id)
            .and_then(|ms| DateTime::<Utc>::from_timestamp_millis(*ms))
            .map(|t| t.with_timezone(&tz).date_naive());
        if let Some(signal) = figures::silent(last, f.start, today) {
            push(&f.customer, signal, format!("silent:{}", last.unwrap_or(f.start)));
        }
    }
    out.sort_by(|a, b| (a.kind, &a.customer).cmp(&(b.kind, &b.customer)));
    out.dedup_by(|a, b| a.kind == b.kind && a.customer == b.customer && a.reason == b.reason);
    Ok(out)
}

/// Raises each signal into the inbox, once per customer, kind and subject (a
/// falling period, a thin period, a silence): the alerts new this time.
pub fn raise_signals(ws: &mut Workspace, signals: &[SignalRow], now: DateTime<Utc>) -> Result<Vec<Alert>> {
    if signals.is_empty() {
        return Ok(Vec::new());
    }
    let raised = ws.write(|tx| {
        let mut raised = Vec::new();
        for s in signals {
            let (customer_id, _) = crate::wallet::customer_row(tx, &s.customer)?;
            let kind = match s.kind {
                SignalKind::ChurnRisk => AlertKind::ChurnRisk,
                SignalKind::PowerUser => AlertKind::PowerUser,
            };
            raised.extend(alert::raise(tx, customer_id, kind, &s.subject, &s.reason, now)?);
        }
        Ok(raised)
    })?;
    alert::alerts_by_id(ws.conn(), &raised)
}

/// A model's (a meter's group's) share of a month, over every customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ModelMargin {
    pub currency: String,
    pub meter: String,
    pub group: Option<String>,
    pub revenue: Dec,
    pub cost: Dec,
    pub margin: Dec,
    pub margin_percent: Option<Dec>,
}

/// What a finance lead opens every morning: the last twelve months' revenue,
/// the receivables today, the last complete month's margin by model and by
/// customer, the signals and the month-end to-dos. Every figure is the
/// reports' own, so the CLI gives the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Dashboard {
    #[ts(type = "string")]
    pub today: NaiveDate,
    /// The month whose margins are shown: the last complete one.
    #[ts(type = "string")]
    pub margin_month: Month,
    pub revenue: Vec<RevenueRow>,
    pub receivables: Vec<ReceivablesRow>,
    pub margins: Vec<MarginRow>,
    pub models: Vec<ModelMargin>,
    pub signals: Vec<SignalRow>,
    /// Periods of the last complete month still to finalize.
    pub drafts_to_finalize: u32,
    /// Period invoices whose late events wait for an adjustment (none while
    /// another program writes to the workspace: it cannot be counted then).
    pub late_invoices: Option<u32>,
    /// Imports with rejected rows nobody looked at yet.
    pub rejected_imports: u32,
    /// Alerts of the inbox not acknowledged (wallet alerts and signals).
    pub open_alerts: u32,
}

/// The dashboard on `now`'s local day.
pub fn dashboard(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Dashboard> {
    let today = settings::today(ws.conn(), now)?;
    let this = Month::of(today);
    let from = (0..11).try_fold(this, |m, _| m.previous())?;
    let margin_month = this.previous()?;
    let mut pending = Pending::default();
    let revenue = revenue_with(ws, from, this, &mut pending)?;
    let margins = margin_with(ws, margin_month, None, &mut pending)?;
    let signals = signals_with(ws, now, &mut pending)?;
    let drafts_to_finalize = pending.of(ws, margin_month)?.len() as u32;
    let late_invoices = match crate::late::list(ws) {
        Ok(late) => Some(late.len() as u32),
        Err(Error::Conflict(_)) => None,
        Err(e) => return Err(e),
    };
    let conn = ws.conn();
    let receivables = receivables_of(&*pending.books(conn)?, today)?;
    let rejected_imports = crate::history::unseen_rejections(conn)?.len() as u32;
    let open_alerts = crate::alert::alerts(conn, false)?.len() as u32;
    // Margin by model: the customers' lines added up per currency, meter and group.
    let mut by: BTreeMap<(String, String, Option<String>), (Decimal, Decimal)> = BTreeMap::new();
    for r in &margins {
        for l in &r.lines {
            let e = by.entry((r.currency.clone(), l.meter.clone(), l.group.clone())).or_default();
            e.0 += l.revenue.0;
            e.1 += l.cost.0;
        }
    }
    let models = by
        .into_iter()
        .filter(|(_, (_, c))| !c.is_zero())
        .map(|((currency, meter, group), (revenue, cost))| {
            let m = cost::margin(revenue, cost);
            ModelMargin {
                currency,
                meter,
                group,
                revenue: m.revenue,
                cost: m.cost,
                margin: m.margin,
                margin_percent: m.margin_percent,
            }
        })
        .collect();
    Ok(Dashboard {
        today,
        margin_month,
        revenue,
        receivables,
        margins,
        models,
        signals,
        drafts_to_finalize,
        late_invoices,
        rejected_imports,
        open_alerts,
    })
}

/// A report as CSV: a header, then `rows` of cells, each written as a
/// spreadsheet opens it as text (never a formula).
fn csv_of(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Internal(format!("a report could not be written as CSV: {e}"));
    w.write_record(header).map_err(fail)?;
    for row in rows {
        w.write_record(row.iter().map(|c| crate::spreadsheet::cell(c).into_owned())).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(e.to_string()))
}

fn opt(d: &Option<Dec>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

pub fn revenue_csv(rows: &[RevenueRow]) -> Result<String> {
    csv_of(
        &["month", "currency", "billed", "credited", "net", "unbilled", "mrr", "arr", "nrr"],
        rows.iter().map(|r| {
            vec![
                r.month.to_string(),
                r.currency.clone(),
                r.billed.to_string(),
                r.credited.to_string(),
                r.net.to_string(),
                r.unbilled.to_string(),
                r.mrr.to_string(),
                r.arr.to_string(),
                opt(&r.nrr),
            ]
        }),
    )
}

/// One row per customer (its total, meter empty) and one per meter and group.
pub fn margin_csv(rows: &[MarginRow]) -> Result<String> {
    csv_of(
        &["customer", "currency", "meter", "group", "quantity", "revenue", "cost", "margin", "margin_percent"],
        rows.iter().flat_map(|r| {
            let total = vec![
                r.customer.clone(),
                r.currency.clone(),
                String::new(),
                String::new(),
                String::new(),
                r.revenue.to_string(),
                r.cost.to_string(),
                r.margin.to_string(),
                opt(&r.margin_percent),
            ];
            std::iter::once(total).chain(r.lines.iter().map(|l| {
                vec![
                    r.customer.clone(),
                    r.currency.clone(),
                    l.meter.clone(),
                    l.group.clone().unwrap_or_default(),
                    l.quantity.to_string(),
                    l.revenue.to_string(),
                    l.cost.to_string(),
                    l.margin.to_string(),
                    String::new(),
                ]
            }))
        }),
    )
}

pub fn receivables_csv(rows: &[ReceivablesRow]) -> Result<String> {
    csv_of(
        &["currency", "not_due", "d1_30", "d31_60", "d61_90", "over_90", "total"],
        rows.iter().map(|r| {
            vec![
                r.currency.clone(),
                r.not_due.to_string(),
                r.d1_30.to_string(),
                r.d31_60.to_string(),
                r.d61_90.to_string(),
                r.over_90.to_string(),
                r.total.to_string(),
            ]
        }),
    )
}

pub fn signals_csv(rows: &[SignalRow]) -> Result<String> {
    csv_of(
        &["customer", "customer_name", "kind", "reason"],
        rows.iter().map(|r| {
            let kind = match r.kind {
                figures::SignalKind::ChurnRisk => "churn_risk",
                figures::SignalKind::PowerUser => "power_user",
            };
            vec![r.customer.clone(), r.customer_name.clone(), kind.into(), r.reason.clone()]
        }),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::bill::tests::{apply, events};

    /// Five customers billed from October 2025 to October 2026 (New York):
    /// a 10.00 monthly fee in arrears and 1.00 an API call, costing 0.50.
    /// "steady" calls 100 times a month; "grows" 100 more 10 each month;
    /// "churned" 50 until March 2026, when its subscription ends; "fading"
    /// 100 until September, then 40 in October; "heavy" (from September 2026)
    /// 1,000 at 0.55.
    const BOOKS: &str = r#"{
      "workspace": { "name": "Figures Inc", "currency": "USD", "timezone": "America/New_York" },
      "customers": [
        { "id": "steady", "name": "Steady", "tax_rate": "0" }, { "id": "grows", "name": "Grows", "tax_rate": "0" },
        { "id": "churned", "name": "Churned", "tax_rate": "0" }, { "id": "fading", "name": "Fading", "tax_rate": "0" },
        { "id": "heavy", "name": "Heavy", "tax_rate": "0" }
      ],
      "meters": [ { "code": "api_calls", "name": "API calls", "aggregation": "count" } ],
      "plans": [ { "code": "std", "name": "Standard", "currency": "USD", "interval": "month",
        "fees": [ { "name": "Platform fee", "amount": "10.00", "timing": "arrears" } ],
        "charges": [ { "meter": "api_calls", "model": "per_unit", "unit_price": "1.00" } ] } ],
      "subscriptions": [
        { "id": "s_steady", "customer": "steady", "plan": "std", "start": "2025-10-01" },
        { "id": "s_grows", "customer": "grows", "plan": "std", "start": "2025-10-01" },
        { "id": "s_churned", "customer": "churned", "plan": "std", "start": "2025-10-01", "end": "2026-04-01" },
        { "id": "s_fading", "customer": "fading", "plan": "std", "start": "2025-10-01" },
        { "id": "s_heavy", "customer": "heavy", "plan": "std", "start": "2026-09-01",
          "overrides": [ { "meter": "api_calls", "unit_price": "0.55" } ] }
      ],
      "costs": [ { "meter": "api_calls", "currency": "USD", "unit_cost": "0.50", "from": "2025-01-01" } ]
    }"#;

    fn month(m: &str) -> Month {
        crate::month(m)
    }

    /// The fixture's thirteen months, each finalized on the 2nd of the next.
    fn thirteen_months() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, BOOKS);
        let months: Vec<Month> = std::iter::successors(Some(month("2025-10")), |m| m.next().ok()).take(13).collect();
        let mut rows = Vec::new();
        let mut calls = |customer: &str, m: Month, n: usize, day: u32| {
            let at = format!("{}-{day:02}T15:00:00Z", m);
            for k in 0..n {
                rows.push(
                    json!({ "id": format!("{customer}-{m}-{day}-{k}"), "customer": customer, "type": "api_calls",
                                  "timestamp": at, "properties": {} }),
                );
            }
        };
        for (i, m) in months.iter().enumerate() {
            calls("steady", *m, 100, 10);
            calls("grows", *m, 100 + 10 * i, 10);
            if *m <= month("2026-03") {
                calls("churned", *m, 50, 10);
            }
            calls("fading", *m, if *m == month("2026-10") { 40 } else { 100 }, 10);
            if *m >= month("2026-09") {
                calls("heavy", *m, 1000, 10);
            }
        }
        calls("steady", month("2026-11"), 5, 20);
        events(&mut ws, &rows);
        for m in &months {
            let next = m.next().unwrap().first_day();
            let at = Utc.with_ymd_and_hms(next.year(), next.month(), 2, 17, 0, 0).unwrap();
            let done = invoice::finalize_month(&mut ws, *m, None, at).unwrap();
            assert!(done.failures.is_empty(), "{m}: {:?}", done.failures);
        }
        ws
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()
    }

    #[test]
    fn revenue_mrr_and_nrr_over_thirteen_months() {
        let mut ws = thirteen_months();
        let rows = revenue(&mut ws, month("2026-09"), month("2026-11")).unwrap();
        type Shown = (String, String, String, String, String, String, Option<String>);
        let shown: Vec<Shown> = rows
            .iter()
            .map(|r| {
                (
                    r.month.to_string(),
                    r.billed.to_string(),
                    r.net.to_string(),
                    r.unbilled.to_string(),
                    r.mrr.to_string(),
                    r.arr.to_string(),
                    r.nrr.map(|n| n.to_string()),
                )
            })
            .collect();
        // October: steady 110 + grows 230 + fading 50 + heavy 560 = 950 billed; MRR the
        // four fees (40) and the usage (100 + 220 + 40 + 550 = 910); NRR over the
        // customers of October 2025 (steady, grows, churned, fading: 110 × 3 + 60 = 390):
        // (110 + 230 + 0 + 50) / 390 = 100.0 %.
        assert_eq!(
            shown[1],
            (
                "2026-10".into(),
                "950.00".into(),
                "950.00".into(),
                "0.00".into(),
                "950.00".into(),
                "11400.00".into(),
                Some("100.0".into())
            )
        );
        // September: 110 + 220 + 110 + 560 = 1,000; the books start in October 2025,
        // so September 2025 gives no base and there is no NRR.
        assert_eq!(
            shown[0],
            (
                "2026-09".into(),
                "1000.00".into(),
                "1000.00".into(),
                "0.00".into(),
                "1000.00".into(),
                "12000.00".into(),
                None
            )
        );
        // November is not invoiced: steady's 5 calls and every fee wait as drafts.
        assert_eq!(shown[2].1, "0.00");
        assert_eq!(shown[2].3, "45.00", "four fees of 10.00 and steady's 5 calls");
        assert_eq!(shown[2].6, None, "November still has drafts: no NRR until it is invoiced");
        // Without twelve months before, no NRR.
        let early = revenue(&mut ws, month("2026-01"), month("2026-01")).unwrap();
        assert_eq!(early[0].nrr, None);
        assert!(revenue(&mut ws, month("2026-02"), month("2026-01")).is_err());
    }

    #[test]
    fn a_credit_note_lowers_the_month_it_serves_and_its_retention() {
        let mut ws = thirteen_months();
        let number = invoice::of_customer(ws.conn(), "grows")
            .unwrap()
            .into_iter()
            .find(|i| i.frozen.draft.first_day == "2026-10-01".parse().unwrap())
            .unwrap()
            .frozen
            .draft
            .number
            .unwrap();
        ws.write(|tx| {
            crate::credit::issue(tx, &number, "goodwill", &crate::credit::Request::Amount(Decimal::new(3000, 2)), now())
        })
        .unwrap();
        let october = &revenue(&mut ws, month("2026-10"), month("2026-10")).unwrap()[0];
        assert_eq!(
            (october.billed.to_string(), october.credited.to_string(), october.net.to_string()),
            ("950.00".into(), "30.00".into(), "920.00".into())
        );
        // (110 + 200 + 0 + 50) / 390 = 92.3 %.
        assert_eq!(october.nrr.unwrap().to_string(), "92.3");
    }

    #[test]
    fn the_figures_reports_read_are_each_standing_invoices_own() {
        let mut ws = thirteen_months();
        let all = invoice::all(ws.conn()).unwrap();
        let (paid, voided) = (all[3].frozen.draft.number.clone().unwrap(), all[5].frozen.draft.number.clone().unwrap());
        ws.write(|tx| {
            invoice::mark_paid(tx, &paid, "2026-11-20".parse().unwrap(), "wire", now())?;
            invoice::void(tx, &voided, "issued in error", now()).map(|_| ())
        })
        .unwrap();
        let full: Vec<invoice::Invoice> =
            invoice::all(ws.conn()).unwrap().into_iter().filter(|i| i.void_reason.is_none()).collect();
        let figures = invoice::figures(ws.conn(), None).unwrap();
        assert_eq!(figures.len(), all.len() - 1, "every invoice but the void one");
        assert_eq!(full.len(), figures.len());
        for (inv, f) in full.iter().zip(&figures) {
            let d = &inv.frozen.draft;
            assert_eq!(d.number, f.number);
            assert_eq!(
                (&d.customer, &d.currency, d.kind, d.first_day, d.end_day, d.last_day),
                (&f.customer, &f.currency, f.kind, f.first_day, f.end_day, f.last_day())
            );
            assert_eq!(
                (d.subtotal, inv.frozen.issue_date, inv.frozen.due_date),
                (f.subtotal, f.issue_date, f.due_date)
            );
            assert_eq!(d.dues(), f.dues());
            assert_eq!(inv.paid.as_ref().map(|p| p.date), f.paid_on);
            assert_eq!(inv.frozen.buyer.name, f.buyer.name);
            assert_eq!(d.usage_revenue(), f.usage_revenue());
            fn costs(c: Vec<LineCost<'_>>) -> Vec<(Option<&str>, Option<Decimal>, Option<&str>)> {
                c.into_iter().map(|l| (l.meter, l.cost, l.currency)).collect()
            }
            assert_eq!(costs(d.line_costs()), costs(f.line_costs()));
        }
        assert!(figures.iter().any(|f| f.number.as_deref() == Some(paid.as_str()) && f.paid_on.is_some()));
        assert!(figures.iter().any(|f| f.line_costs().iter().any(|l| l.cost.is_some())), "costs are compared");
        // Parsed in two halves on two cores, the same.
        let split = invoice::figures_split(ws.conn(), None, 2).unwrap();
        assert_eq!(
            split.iter().map(|f| (f.id, f.number.clone(), f.paid_on, f.subtotal)).collect::<Vec<_>>(),
            figures.iter().map(|f| (f.id, f.number.clone(), f.paid_on, f.subtotal)).collect::<Vec<_>>()
        );
        // One customer's alone.
        let grows = invoice::figures(ws.conn(), Some("grows")).unwrap();
        assert!(!grows.is_empty() && grows.iter().all(|f| f.customer == "grows"));
        assert_eq!(grows.len(), figures.iter().filter(|f| f.customer == "grows").count());
    }

    #[test]
    fn the_drafts_of_several_months_on_two_connections_are_each_months_own() {
        // In a file, which a second connection can open.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy.meterdesk");
        thirteen_months().conn().execute("VACUUM INTO ?1", [path.to_str().unwrap()]).unwrap();
        let mut ws = Workspace::open(&path).unwrap();
        let months = [month("2026-09"), month("2026-10"), month("2026-11")];
        // Split from one subscription: half of the customers on a second connection.
        let split = bill::preview_months_split(&mut ws, &months, None, Kind::Period, 1).unwrap();
        assert_eq!(split.len(), 3);
        for (m, drafts) in months.iter().zip(&split) {
            assert!(!drafts.is_empty(), "{m} has drafts");
            assert_eq!(&bill::preview(&mut ws, *m, None, Kind::Period).unwrap(), drafts, "{m}");
        }
        // One month, and one customer's (on one side).
        let one = bill::preview_months_split(&mut ws, &months[2..], None, Kind::Period, 1).unwrap();
        assert_eq!(one[0], split[2]);
        let grows = bill::preview_months_split(&mut ws, &months[2..], Some("grows"), Kind::Period, 1).unwrap();
        assert_eq!(grows[0], bill::preview(&mut ws, months[2], Some("grows"), Kind::Period).unwrap());
    }

    #[test]
    fn receivables_age_by_days_past_due_on_any_day() {
        let mut ws = thirteen_months();
        // Everyone but steady has paid everything.
        let unpaid: Vec<String> = invoice::all(ws.conn())
            .unwrap()
            .into_iter()
            .filter(|i| i.frozen.draft.customer != "steady")
            .map(|i| i.frozen.draft.number.unwrap())
            .collect();
        ws.write(|tx| {
            for n in &unpaid {
                invoice::mark_paid(tx, n, "2026-11-20".parse().unwrap(), "wire", now())?;
            }
            Ok(())
        })
        .unwrap();
        // Steady's 110.00 a month, due 30 days after the 2nd: October's on Dec 2 (not
        // due on Nov 24), September's on Nov 1 (23 days), August's on Oct 2 (53),
        // July's on Sep 1 (84), and nine older ones over 90 days.
        let rows = receivables(ws.conn(), "2026-11-24".parse().unwrap()).unwrap();
        let r = &rows[0];
        assert_eq!(
            [&r.not_due, &r.d1_30, &r.d31_60, &r.d61_90, &r.over_90, &r.total, &r.overdue].map(|d| d.to_string()),
            ["110.00", "110.00", "110.00", "110.00", "990.00", "1430.00", "1320.00"]
        );
        // On Nov 1 (September's due day) it is not due; the others paid on Nov 20 still owed then.
        let before = &receivables(ws.conn(), "2026-11-01".parse().unwrap()).unwrap()[0];
        // August's, 30 days past due then: steady 110, grows 210, fading 110 (all paid later).
        assert_eq!(before.d1_30.to_string(), "430.00");
        assert!(before.total.0 > r.total.0, "paid on Nov 20: still owed on Nov 1");
    }

    #[test]
    fn margin_by_customer_and_line_with_the_rate_in_force() {
        let mut ws = thirteen_months();
        let rows = margin(&mut ws, month("2026-10"), None).unwrap();
        let of = |c: &str| rows.iter().find(|r| r.customer == c).unwrap();
        let heavy = of("heavy");
        // 10.00 + 1,000 × 0.55 = 560.00 against 1,000 × 0.50 = 500.00: 60.00, 10.7 %.
        assert_eq!([&heavy.revenue, &heavy.cost, &heavy.margin].map(|d| d.to_string()), ["560.00", "500.00", "60.00"]);
        assert_eq!(heavy.margin_percent.unwrap().to_string(), "10.7");
        assert_eq!(heavy.lines.len(), 1);
        assert_eq!((heavy.lines[0].meter.as_str(), heavy.lines[0].quantity.to_string()), ("api_calls", "1000".into()));
        let only = margin(&mut ws, month("2026-10"), Some("steady")).unwrap();
        assert_eq!((only.len(), only[0].margin.to_string()), (1, "60.00".to_string()));
    }

    #[test]
    fn the_dashboard_shows_the_reports_own_figures() {
        let mut ws = thirteen_months();
        let d = dashboard(&mut ws, now()).unwrap();
        assert_eq!((d.today.to_string(), d.margin_month.to_string()), ("2026-11-24".into(), "2026-10".into()));
        assert_eq!(
            d.revenue,
            revenue(&mut ws, month("2025-12"), month("2026-11")).unwrap(),
            "twelve months to this one"
        );
        assert_eq!(d.receivables, receivables(ws.conn(), "2026-11-24".parse().unwrap()).unwrap());
        assert_eq!(d.margins, margin(&mut ws, month("2026-10"), None).unwrap());
        assert_eq!(d.signals, signals(&mut ws, now()).unwrap());
        // October is finalized: nothing to finalize; no late events, rejects or alerts.
        assert_eq!((d.drafts_to_finalize, d.late_invoices, d.rejected_imports, d.open_alerts), (0, Some(0), 0, 0));
        // API calls over every customer in October: 100 + 220 + 40 + 1,000 × 0.55 = 910.00
        // billed; 1,360 calls at 0.50 cost 680.00; 230.00 left, 25.3 %.
        assert_eq!(d.models.len(), 1);
        let m = &d.models[0];
        assert_eq!(
            (m.meter.as_str(), m.revenue.to_string(), m.cost.to_string()),
            ("api_calls", "910.00".into(), "680.00".into())
        );
        assert_eq!(m.margin_percent.unwrap().to_string(), "25.3");
    }

    #[test]
    fn signals_name_the_falling_the_silent_and_the_thin() {
        let mut ws = thirteen_months();
        let found: Vec<(String, figures::SignalKind, String)> =
            signals(&mut ws, now()).unwrap().into_iter().map(|s| (s.customer, s.kind, s.reason)).collect();
        use figures::SignalKind::{ChurnRisk, PowerUser};
        assert_eq!(
            found,
            [
                (
                    "fading".to_string(),
                    ChurnRisk,
                    "usage revenue 40.00 in October 2026, 40 % of its 3-month mean 100.00".to_string()
                ),
                (
                    "fading".to_string(),
                    ChurnRisk,
                    "no event for 45 days (last on 2026-10-10) while subscribed".to_string()
                ),
                (
                    "grows".to_string(),
                    ChurnRisk,
                    "no event for 45 days (last on 2026-10-10) while subscribed".to_string()
                ),
                (
                    "heavy".to_string(),
                    ChurnRisk,
                    "no event for 45 days (last on 2026-10-10) while subscribed".to_string()
                ),
                ("heavy".to_string(), PowerUser, "margin 10.7 % in October 2026, below the 20 % floor".to_string()),
            ]
        );
    }

    #[test]
    fn each_figure_of_the_dashboard_lists_what_adds_up_to_it() {
        let mut ws = thirteen_months();
        let d = dashboard(&mut ws, now()).unwrap();
        let totals = |ws: &mut Workspace, f: Figure| -> Vec<String> { detail(ws, now(), &f).unwrap().totals };
        let s = |d: &Dec| d.to_string();
        let pct = |d: &Option<Dec>| d.as_ref().map(|p| format!("{p} %")).unwrap_or_default();
        assert!(!d.revenue.is_empty());
        for r in &d.revenue {
            let (month, currency) = (r.month, r.currency.clone());
            let shown = totals(&mut ws, Figure::Revenue { month, currency: currency.clone() });
            assert_eq!(shown, [s(&r.billed), s(&r.credited), s(&r.net), s(&r.unbilled)], "{month}");
            let mrr = totals(&mut ws, Figure::Mrr { month, currency: currency.clone() });
            assert_eq!(mrr[2], s(&r.mrr), "{month}");
            if let Some(nrr) = &r.nrr {
                assert_eq!(totals(&mut ws, Figure::Nrr { month, currency })[2], format!("{nrr} %"), "{month}");
            }
        }
        // October 2026's NRR: the customers of October 2025, each with what it kept.
        let nrr = detail(&mut ws, now(), &Figure::Nrr { month: month("2026-10"), currency: "USD".into() }).unwrap();
        let kept: Vec<(&str, &[String])> = nrr.rows.iter().map(|r| (r.customer.as_str(), &r.cells[..])).collect();
        let cells = |a: &str, b: &str, c: &str| [a.to_string(), b.to_string(), c.to_string()];
        assert_eq!(kept[0], ("churned", &cells("60.00", "0.00", "0.0 %")[..]));
        assert_eq!(kept[3], ("steady", &cells("110.00", "110.00", "100.0 %")[..]));
        assert_eq!(kept.len(), 4, "heavy started later: no base, not in the NRR");
        assert!(!d.receivables.is_empty());
        for r in &d.receivables {
            let buckets = [r.not_due, r.d1_30, r.d31_60, r.d61_90, r.over_90];
            for (age, amount) in Age::ALL.into_iter().zip(buckets) {
                let f = Figure::Receivables { currency: r.currency.clone(), age: Some(age) };
                assert_eq!(totals(&mut ws, f)[3], s(&amount), "{age:?}");
            }
            let overdue = totals(&mut ws, Figure::Receivables { currency: r.currency.clone(), age: None });
            assert_eq!(overdue[3], s(&r.overdue));
        }
        assert!(!d.models.is_empty());
        for m in &d.models {
            let f = Figure::Model {
                month: d.margin_month,
                currency: m.currency.clone(),
                meter: m.meter.clone(),
                group: m.group.clone(),
            };
            let shown = totals(&mut ws, f);
            assert_eq!(shown, [s(&m.revenue), s(&m.cost), s(&m.margin), pct(&m.margin_percent)]);
        }
        let refused = detail(&mut ws, now(), &Figure::Mrr { month: month("2026-10"), currency: "usd!".into() });
        assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");
    }

    #[test]
    fn signals_go_to_the_inbox_once_per_period_or_silence() {
        use crate::alert::{self, AlertKind};
        let mut ws = thirteen_months();
        let first = crate::api::dashboard(&mut ws, now()).unwrap();
        let raised = first.wallets.unwrap().alerts;
        let shown: Vec<(&str, AlertKind, &str)> =
            raised.iter().map(|a| (a.customer.as_str(), a.kind, a.subject.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("fading", AlertKind::ChurnRisk, "falling:2026-10-01"),
                ("fading", AlertKind::ChurnRisk, "silent:2026-10-10"),
                ("grows", AlertKind::ChurnRisk, "silent:2026-10-10"),
                ("heavy", AlertKind::ChurnRisk, "silent:2026-10-10"),
                ("heavy", AlertKind::PowerUser, "thin:2026-10-01"),
            ]
        );
        assert_eq!(raised[0].message, "usage revenue 40.00 in October 2026, 40 % of its 3-month mean 100.00");
        // The dashboard again, acknowledged or not, a day later (the silence's
        // reason now says 46 days): nothing new.
        assert!(crate::api::dashboard(&mut ws, now()).unwrap().wallets.unwrap().alerts.is_empty());
        ws.write(|tx| alert::acknowledge(tx, None, now())).unwrap();
        let tomorrow = now() + chrono::Days::new(1);
        let again = crate::api::dashboard(&mut ws, tomorrow).unwrap();
        assert_eq!(again.done.signals.len(), 5);
        assert!(again.wallets.unwrap().alerts.is_empty(), "each raised once");
        // Grows sends one event in November, then falls silent again: a new
        // silence, raised again; and November, now ended, fell (a new period).
        events(
            &mut ws,
            &[json!({ "id": "grows-back", "customer": "grows", "type": "api_calls",
                      "timestamp": "2026-11-25T10:00:00Z", "properties": {} })],
        );
        let later = Utc.with_ymd_and_hms(2026, 12, 10, 15, 0, 0).unwrap();
        let quiet = crate::api::dashboard(&mut ws, later).unwrap().wallets.unwrap().alerts;
        let grows: Vec<&str> = quiet.iter().filter(|a| a.customer == "grows").map(|a| a.subject.as_str()).collect();
        assert_eq!(grows, ["falling:2026-11-01", "silent:2026-11-25"]);
        // One customer's signals (its page) are the dashboard's for it.
        let (_, heavy) = customer_figures(&mut ws, now(), month("2026-10"), "heavy").unwrap();
        let all: Vec<SignalRow> =
            signals(&mut ws, now()).unwrap().into_iter().filter(|s| s.customer == "heavy").collect();
        assert_eq!(heavy, all);
        assert_eq!(heavy.len(), 2);
    }
}
