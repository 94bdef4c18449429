//! The list behind each figure of the dashboard: the invoices and drafts of a
//! month's revenue, each customer's share of the MRR and of the NRR, the
//! invoices behind a receivables bucket, and each customer's share of a
//! model's margin. Its totals are the figure (the same reads and rounding).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Doc, Pending, PerCustomer, nets, recurring_fees, retention_pairs, spread};
use crate::cost;
use crate::error::{Error, Result};
use crate::money::Currency;
use crate::period::Month;
use crate::settings;
use crate::workspace::Workspace;
use meterdesk_rules::figures::{self, Age};

/// A figure of the dashboard whose list is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "figure", rename_all = "snake_case")]
pub enum Figure {
    /// Billed, credited, net and unbilled revenue of a service month.
    Revenue {
        #[ts(type = "string")]
        month: Month,
        currency: String,
    },
    /// The MRR of a month.
    Mrr {
        #[ts(type = "string")]
        month: Month,
        currency: String,
    },
    /// The NRR of a month.
    Nrr {
        #[ts(type = "string")]
        month: Month,
        currency: String,
    },
    /// What is owed today in one bucket of age, or (none) everything overdue.
    Receivables { currency: String, age: Option<Age> },
    /// A model's (a meter's group's) margin in a month.
    Model {
        #[ts(type = "string")]
        month: Month,
        currency: String,
        meter: String,
        group: Option<String>,
    },
}

/// The rows behind a figure and their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Detail {
    pub title: String,
    /// The headings of `cells`, after the customer and document.
    pub columns: Vec<String>,
    pub rows: Vec<DetailRow>,
    /// Each column's total, written as its cells are (blank where a total
    /// means nothing, as for a date): the figure itself.
    pub totals: Vec<String>,
}

/// One invoice, draft or customer behind a figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DetailRow {
    pub customer: String,
    pub customer_name: String,
    /// The invoice's number; none for a draft or a customer's sum.
    pub document: Option<String>,
    /// Amounts as decimal text, dates as YYYY-MM-DD, blank where nothing applies.
    pub cells: Vec<String>,
}

/// The list behind `figure` on `now`'s day.
pub fn detail(ws: &mut Workspace, now: DateTime<Utc>, figure: &Figure) -> Result<Detail> {
    let currency = match figure {
        Figure::Revenue { currency, .. }
        | Figure::Mrr { currency, .. }
        | Figure::Nrr { currency, .. }
        | Figure::Receivables { currency, .. }
        | Figure::Model { currency, .. } => Currency::parse(currency).map_err(|e| Error::invalid("currency", e))?,
    };
    let names: std::collections::HashMap<String, String> =
        crate::customer::all(ws.conn())?.into_iter().map(|c| (c.fields.id, c.fields.name)).collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let code = currency.code().to_string();
    let mut pending = Pending::default();
    let amount = |d: Decimal| currency.round(d).to_string();
    let total = |d: Decimal| currency.round(d).to_string();
    let none = String::new;
    match figure {
        Figure::Revenue { month, .. } => {
            let books = pending.books(ws.conn())?;
            let mut rows = Vec::new();
            let mut sums = [Decimal::ZERO; 4];
            for d in books.invoices.iter().filter(|i| in_month(*i, *month, &code)) {
                let credited = books.credited(d.number.as_deref());
                sums[0] += d.subtotal.0;
                sums[1] += credited;
                rows.push(DetailRow {
                    customer: d.customer.clone(),
                    customer_name: name(&d.customer),
                    document: d.number.clone(),
                    cells: vec![amount(d.subtotal.0), amount(credited), amount(d.subtotal.0 - credited), String::new()],
                });
            }
            for d in pending.of(ws, *month)?.iter().filter(|d| d.currency == code) {
                sums[3] += d.subtotal.0;
                rows.push(DetailRow {
                    customer: d.customer.clone(),
                    customer_name: name(&d.customer),
                    document: None,
                    cells: vec![String::new(), String::new(), String::new(), amount(d.subtotal.0)],
                });
            }
            sums[2] = sums[0] - sums[1];
            Ok(Detail {
                title: format!("Revenue of {} ({code}): invoices and drafts of periods starting in it", words(*month)),
                columns: ["Billed", "Credited", "Net", "Unbilled"].map(String::from).to_vec(),
                rows,
                totals: sums.iter().map(|s| total(*s)).collect(),
            })
        }
        Figure::Mrr { month, .. } => {
            let books = pending.books(ws.conn())?;
            let mut usage = PerCustomer::new();
            for d in &books.invoices {
                spread(&mut usage, d, d.usage_revenue());
            }
            // The drafts of the twelve months up to it, as the dashboard's revenue reads them.
            let mut months = vec![*month];
            for _ in 0..11 {
                let before = months.last().expect("one month").previous()?;
                months.push(before);
            }
            months.reverse();
            pending.load(ws, &months)?;
            for m in &months {
                for d in pending.of(ws, *m)? {
                    spread(&mut usage, d, d.usage_revenue());
                }
            }
            let fees = recurring_fees(ws.conn(), &[*month])?;
            let mut by: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
            for ((c, customer, m), fee) in &fees {
                if c == &code && m == month {
                    by.entry(customer.clone()).or_default().0 += *fee;
                }
            }
            for ((c, customer, m), u) in &usage {
                if c == &code && m == month {
                    by.entry(customer.clone()).or_default().1 += *u;
                }
            }
            let (mut f, mut u) = (Decimal::ZERO, Decimal::ZERO);
            let rows = by
                .into_iter()
                .filter(|(_, (fee, use_))| !(fee.is_zero() && use_.is_zero()))
                .map(|(customer, (fee, use_))| {
                    f += fee;
                    u += use_;
                    DetailRow {
                        customer_name: name(&customer),
                        customer,
                        document: None,
                        cells: vec![amount(fee), amount(use_), amount(fee + use_)],
                    }
                })
                .collect();
            Ok(Detail {
                title: format!("MRR of {} ({code}) by customer", words(*month)),
                columns: ["Recurring fees (a month)", "Usage revenue", "MRR"].map(String::from).to_vec(),
                rows,
                totals: vec![none(), none(), total(f + u)],
            })
        }
        Figure::Nrr { month, .. } => {
            let year_before = (0..12).try_fold(*month, |m, _| m.previous())?;
            let books = pending.books(ws.conn())?;
            let pairs = retention_pairs(&nets(&books), &code, *month)?;
            let nrr = figures::nrr(&pairs);
            let base: Vec<(String, (Decimal, Decimal))> =
                pairs.into_iter().filter(|(_, (_, before))| *before > Decimal::ZERO).collect();
            let (now_sum, before_sum) =
                base.iter().fold((Decimal::ZERO, Decimal::ZERO), |(a, b), (_, (n, p))| (a + n, b + p));
            let rows = base
                .into_iter()
                .map(|(customer, (net, before))| DetailRow {
                    customer_name: name(&customer),
                    customer,
                    document: None,
                    cells: vec![
                        amount(before),
                        amount(net),
                        percent(figures::nrr(&BTreeMap::from([((), (net, before))]))),
                    ],
                })
                .collect();
            Ok(Detail {
                title: format!(
                    "NRR of {} ({code}): the customers with net revenue in {}",
                    words(*month),
                    words(year_before)
                ),
                columns: [format!("Net, {}", words(year_before)), format!("Net, {}", words(*month)), "Kept".into()]
                    .to_vec(),
                rows,
                totals: vec![total(before_sum), total(now_sum), percent(nrr)],
            })
        }
        Figure::Receivables { age, .. } => {
            let today = settings::today(ws.conn(), now)?;
            let books = pending.books(ws.conn())?;
            let mut rows = Vec::new();
            let mut sum = Decimal::ZERO;
            for (f, owed) in super::owing(&books, today) {
                let a = Age::of(f.due_date, today);
                let wanted = match age {
                    Some(want) => a == *want,
                    None => a != Age::NotDue,
                };
                if f.currency != code || !wanted {
                    continue;
                }
                sum += owed;
                rows.push(DetailRow {
                    customer: f.customer.clone(),
                    customer_name: name(&f.customer),
                    document: f.number.clone(),
                    cells: vec![
                        f.issue_date.to_string(),
                        f.due_date.to_string(),
                        (today - f.due_date).num_days().max(0).to_string(),
                        amount(owed),
                    ],
                });
            }
            rows.sort_by(|a, b| (&a.cells[1], &a.document).cmp(&(&b.cells[1], &b.document)));
            Ok(Detail {
                title: format!("{} on {today} ({code}): invoices still owing", age.map_or("Overdue", |a| a.label())),
                columns: ["Issued", "Due", "Days past due", "Owed"].map(String::from).to_vec(),
                rows,
                totals: vec![none(), none(), none(), total(sum)],
            })
        }
        Figure::Model { month, meter, group, .. } => {
            let margins = super::margin_with(ws, *month, None, &mut pending)?;
            let mut rows = Vec::new();
            let (mut revenue, mut spent) = (Decimal::ZERO, Decimal::ZERO);
            for r in margins.iter().filter(|r| r.currency == code) {
                for l in r.lines.iter().filter(|l| &l.meter == meter && &l.group == group) {
                    revenue += l.revenue.0;
                    spent += l.cost.0;
                    let m = cost::margin(l.revenue.0, l.cost.0);
                    rows.push(DetailRow {
                        customer: r.customer.clone(),
                        customer_name: r.customer_name.clone(),
                        document: None,
                        cells: vec![
                            l.revenue.to_string(),
                            l.cost.to_string(),
                            l.margin.to_string(),
                            percent(m.margin_percent.map(|p| p.0)),
                        ],
                    });
                }
            }
            let m = cost::margin(revenue, spent);
            Ok(Detail {
                title: format!(
                    "{meter}{} in {} ({code}): margin by customer",
                    group.as_deref().map(|g| format!(" · {g}")).unwrap_or_default(),
                    words(*month)
                ),
                columns: ["Revenue", "Cost", "Margin", "Margin %"].map(String::from).to_vec(),
                rows,
                totals: vec![
                    m.revenue.to_string(),
                    m.cost.to_string(),
                    m.margin.to_string(),
                    percent(m.margin_percent.map(|p| p.0)),
                ],
            })
        }
    }
}

/// A draft or invoice of a period starting in `month`, in `currency`.
fn in_month(d: &dyn Doc, month: Month, currency: &str) -> bool {
    Month::of(d.first_day()) == month && d.currency() == currency
}

/// "October 2026".
fn words(m: Month) -> String {
    m.first_day().format("%B %Y").to_string()
}

/// "104.2 %", or blank.
fn percent(p: Option<Decimal>) -> String {
    p.map(|p| format!("{p} %")).unwrap_or_default()
}
