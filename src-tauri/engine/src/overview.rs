//! One customer at a glance (the console's customer page): details, its
//! subscriptions and their history, the running period's drafts, invoices
//! with where they stand and what is owed, credit notes, the wallet, usage per
//! meter over the last six months, late usage and open alerts. Every amount
//! is computed here, none in the console.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::alert::{self, Alert};
use crate::bill::{self, Draft, Kind};
use crate::credit::CreditNote;
use crate::customer::{self, Customer};
use crate::error::{Error, Result};
use crate::late::{self, LateUsage};
use crate::meter;
use crate::money::{Amount, CurrencyTotal, Dec, totals_by_currency};
use crate::period::Month;
use crate::plan;
use crate::register::{self, Entry};
use crate::rollup::{self, Rollups};
use crate::settings;
use crate::subscription::{self, SubscriptionFields};
use crate::usage::UsageSource;
use crate::wallet;
use crate::workspace::Workspace;

/// Where a subscription stands on the day the page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Starts later.
    Upcoming,
    Active,
    Ended,
}

/// A subscription as the customer page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SubscriptionRow {
    /// `plan_version` and `anchor_day` always set.
    pub fields: SubscriptionFields,
    pub plan_name: String,
    /// The plan's latest version (a subscription may hold an earlier one).
    pub latest_version: i64,
    pub state: SubscriptionState,
    /// The first day not invoiced yet, once a period is (changes take effect
    /// from it at the earliest).
    #[ts(type = "string | null")]
    pub invoiced_until: Option<NaiveDate>,
    /// Its price overrides and discounts in words.
    pub terms: Vec<String>,
    /// The charges of the plan version it holds (what an override or a
    /// charge's discount can name).
    pub charges: Vec<ChargeRef>,
    /// Its overrides that set only a unit price (the console edits those;
    /// others are kept as they are).
    pub unit_prices: Vec<UnitPriceOverride>,
}

/// A charge of a plan, as a form offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ChargeRef {
    pub meter: String,
    pub group: Option<String>,
    /// "LLM tokens — gpt-4o"
    pub name: String,
    /// Priced per unit: a unit-price override applies to it.
    pub unit_priced: bool,
}

/// A price override that sets only the unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
pub struct UnitPriceOverride {
    pub meter: String,
    pub group: Option<String>,
    pub unit_price: Dec,
}

impl UnitPriceOverride {
    /// Read from an override that sets the unit price and nothing else.
    fn of(o: &crate::subscription::OverrideFields) -> Option<UnitPriceOverride> {
        let [(key, value)] = o.price.iter().collect::<Vec<_>>()[..] else { return None };
        let price = value.as_str().and_then(|t| t.parse::<Dec>().ok())?;
        (key == "unit_price").then(|| UnitPriceOverride {
            meter: o.meter.clone(),
            group: o.group.clone(),
            unit_price: price,
        })
    }

    pub fn to_fields(&self) -> crate::subscription::OverrideFields {
        let mut price = serde_json::Map::new();
        price.insert("unit_price".into(), serde_json::Value::String(self.unit_price.0.to_string()));
        crate::subscription::OverrideFields { meter: self.meter.clone(), group: self.group.clone(), price }
    }
}

/// Replaces a subscription's discounts and unit-price overrides (the console's
/// terms form); its other overrides are kept unless one names the same charge.
pub fn set_terms(
    tx: &rusqlite::Transaction,
    id: &str,
    unit_prices: &[UnitPriceOverride],
    discounts: Vec<crate::subscription::DiscountFields>,
    maximum: Option<Dec>,
    now: DateTime<Utc>,
) -> Result<SubscriptionFields> {
    let stored =
        subscription::get(tx, id)?.ok_or_else(|| Error::NotFound(format!("no subscription with id \"{id}\"")))?;
    let mut overrides: Vec<_> = stored
        .fields
        .overrides
        .into_iter()
        .filter(|o| {
            UnitPriceOverride::of(o).is_none() && !unit_prices.iter().any(|u| u.meter == o.meter && u.group == o.group)
        })
        .collect();
    overrides.extend(unit_prices.iter().map(UnitPriceOverride::to_fields));
    Ok(subscription::set_terms(tx, id, overrides, discounts, maximum, now)?.fields)
}

/// A price override or discount in words: "API calls: unit price 0.0008",
/// "Launch: 10 % off the invoice, the first 3 periods".
fn terms_text(s: &SubscriptionFields, names: &std::collections::HashMap<String, String>) -> Vec<String> {
    let name = |code: &String| names.get(code).cloned().unwrap_or_else(|| code.clone());
    let mut out = Vec::new();
    for o in &s.overrides {
        let fields: Vec<String> = o
            .price
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Array(a) => format!("{} tiers", a.len()),
                    other => other.to_string(),
                };
                format!("{} {value}", k.replace('_', " "))
            })
            .collect();
        let group = o.group.as_ref().map_or(String::new(), |g| format!(" ({g})"));
        out.push(format!("{}{group}: {} (overrides the plan)", name(&o.meter), fields.join(", ")));
    }
    for d in &s.discounts {
        let off = match (d.percent, d.amount) {
            (Some(p), _) => format!("{p} % off"),
            (_, Some(a)) => format!("{a} off"),
            _ => "off".to_string(),
        };
        let what = d.meter.as_ref().map_or("the invoice".to_string(), name);
        let when = match d.periods {
            Some(1) => ", the first period".to_string(),
            Some(n) => format!(", the first {n} periods"),
            None => ", every period".to_string(),
        };
        out.push(format!("{}: {off} {what}{when}", d.name));
    }
    if let Some(m) = s.maximum {
        out.push(format!(
            "Spend cap: {} a period (instead of the plan's)",
            meterdesk_rules::text::group_digits(&m.to_string())
        ));
    }
    out
}

/// One meter's value in each of the last months.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UsageTrend {
    pub meter: String,
    pub name: String,
    pub unit: Option<String>,
    /// Oldest first: `YYYY-MM` and the month's value.
    pub months: Vec<MonthValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MonthValue {
    pub month: String,
    pub value: Dec,
}

/// The customer page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CustomerOverview {
    pub customer: Customer,
    #[ts(type = "string")]
    pub today: NaiveDate,
    /// Newest start first.
    pub subscriptions: Vec<SubscriptionRow>,
    /// The drafts of the periods running today (one per active subscription).
    pub running: Vec<Draft>,
    /// Newest first.
    pub invoices: Vec<Entry>,
    /// What is owed on the invoices, per currency.
    pub owed: Vec<CurrencyTotal>,
    /// Of those, what is past due, per currency.
    pub overdue: Vec<CurrencyTotal>,
    /// Newest first.
    pub credit_notes: Vec<CreditNote>,
    pub wallet_currency: String,
    pub wallet_balance: Dec,
    pub usage: Vec<UsageTrend>,
    pub late: Vec<LateUsage>,
    pub alerts: Vec<Alert>,
    /// Revenue, cost and margin of the last complete month (its invoices,
    /// or drafts while not finalized), per currency; empty without costs.
    #[ts(type = "string")]
    pub margin_month: Month,
    pub margins: Vec<crate::report::MarginRow>,
    /// Its churn-risk and power-user signals today, with their reasons
    /// (whether or not the inbox's alerts were acknowledged).
    pub signals: Vec<crate::report::SignalRow>,
}

/// How many months the usage trend covers (the current one included).
const TREND_MONTHS: usize = 6;

/// Customer `id` as its page shows it on the day of `now`.
pub fn customer_overview(ws: &mut Workspace, id: &str, now: DateTime<Utc>) -> Result<CustomerOverview> {
    let tz = settings::zone(ws.conn())?;
    let today = now.with_timezone(&tz).date_naive();
    let customer =
        customer::get(ws.conn(), id)?.ok_or_else(|| Error::NotFound(format!("no customer with id \"{id}\"")))?;
    // The rollups up to date (or, while another program writes, the drafts read raw events).
    let fresh = ws.try_write(|tx| rollup::refresh(tx, tz))?.is_some();

    let conn = ws.conn();
    let names: std::collections::HashMap<String, String> =
        meter::all(conn)?.into_iter().map(|m| (m.fields.code, m.fields.name)).collect();
    let mut subscriptions = Vec::new();
    for s in subscription::of_customer(conn, id)? {
        let latest = plan::get(conn, &s.fields.plan)?;
        let state = if s.fields.start > today {
            SubscriptionState::Upcoming
        } else if s.fields.end.is_some_and(|e| e <= today) {
            SubscriptionState::Ended
        } else {
            SubscriptionState::Active
        };
        let invoiced_until = subscription::invoiced_until(conn, &s.fields.id, tz)?.map(|i| i.until);
        let held = plan::version(conn, &s.fields.plan, s.version())?;
        let charges = held
            .charges
            .iter()
            .map(|c| {
                let name = names.get(&c.meter).cloned().unwrap_or_else(|| c.meter.clone());
                ChargeRef {
                    meter: c.meter.clone(),
                    group: c.group.clone(),
                    name: c.group.as_ref().map_or(name.clone(), |g| format!("{name} — {g}")),
                    unit_priced: matches!(c.price, crate::pricing::PriceFields::PerUnit { .. }),
                }
            })
            .collect();
        let unit_prices = s.fields.overrides.iter().filter_map(UnitPriceOverride::of).collect();
        subscriptions.push(SubscriptionRow {
            plan_name: latest.as_ref().map_or_else(|| s.fields.plan.clone(), |p| p.fields.name.clone()),
            latest_version: latest.map_or(1, |p| p.version),
            state,
            invoiced_until,
            terms: terms_text(&s.fields, &names),
            charges,
            unit_prices,
            fields: s.fields,
        });
    }
    subscriptions.sort_by_key(|s| std::cmp::Reverse(s.fields.start));

    let today_entries: Vec<Entry> = register::entries_of(conn, id, today)?;
    let amounts = |pick: &dyn Fn(&Entry) -> bool| {
        let list: Vec<Amount> = today_entries
            .iter()
            .filter(|e| pick(e))
            .map(|e| Amount { currency: e.currency.clone(), amount: e.outstanding })
            .collect();
        totals_by_currency(&list)
    };
    let owed = amounts(&|e| !e.outstanding.0.is_zero());
    let overdue = amounts(&|e| e.standing == register::Standing::Overdue);
    let credit_notes = crate::credit::of_customer(conn, id)?;
    let wallet = wallet::wallet(conn, id)?;
    let alerts = alert::alerts(conn, false)?.into_iter().filter(|a| a.customer == id).collect();

    // Usage per charged meter, month by month, from the rollups.
    let mut meters: Vec<String> = Vec::new();
    for s in &subscriptions {
        let fields = plan::version(conn, &s.fields.plan, s.fields.plan_version.unwrap_or(1))?;
        for c in fields.charges {
            if !meters.contains(&c.meter) {
                meters.push(c.meter);
            }
        }
    }
    let mut months = vec![Month::of(today)];
    while months.len() < TREND_MONTHS {
        let earlier = months[0].previous()?;
        months.insert(0, earlier);
    }
    let mut usage = Vec::new();
    if fresh {
        let mut source = Rollups::new(conn, tz)?;
        for code in &meters {
            let m = meter::require(conn, code)?.fields;
            let mut values = Vec::new();
            for month in &months {
                let (from, to) = month.bounds(tz)?;
                let value = source.quantity(&m, id, from, to, None)?;
                values.push(MonthValue { month: month.to_string(), value: Dec(value) });
            }
            usage.push(UsageTrend {
                meter: m.code.clone(),
                name: m.name.clone(),
                unit: m.unit.clone(),
                months: values,
            });
        }
    }

    // The drafts of the periods running today.
    let mut running = Vec::new();
    let mut seen_months: Vec<Month> = Vec::new();
    for s in subscriptions.iter().filter(|s| s.state == SubscriptionState::Active) {
        let sub = subscription::get(ws.conn(), &s.fields.id)?
            .ok_or_else(|| Error::Internal(format!("subscription {} is gone", s.fields.id)))?;
        let fields = plan::version(ws.conn(), &s.fields.plan, sub.version())?;
        let (first, _) = sub.schedule(&fields)?.dates_containing(today)?;
        let month = Month::of(first);
        if !seen_months.contains(&month) {
            seen_months.push(month);
            running.extend(
                bill::preview(ws, month, Some(id), Kind::Period)?
                    .into_iter()
                    .filter(|d| d.first_day <= today && today < d.end_day),
            );
        }
    }
    let late = if fresh { late::list_of(ws, Some(id))? } else { Vec::new() };
    let margin_month = Month::of(today).previous()?;
    let (margins, signals) = crate::report::customer_figures(ws, now, margin_month, id)?;
    let margins = margins.into_iter().filter(|m| !m.cost.0.is_zero()).collect();
    Ok(CustomerOverview {
        customer,
        today,
        subscriptions,
        running,
        invoices: today_entries,
        owed,
        overdue,
        credit_notes,
        wallet_currency: wallet.currency,
        wallet_balance: wallet.balance,
        usage,
        late,
        alerts,
        margin_month,
        margins,
        signals,
    })
}

/// A customer as the Customers page lists it: with the plans it is on today,
/// what it owes (and of that, what is past due) and its wallet's balance, in
/// its billing currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CustomerListRow {
    #[serde(flatten)]
    #[ts(flatten)]
    pub customer: Customer,
    /// The names of the plans it is on today.
    pub plans: Vec<String>,
    pub billing_currency: String,
    pub owed: Dec,
    pub overdue: Dec,
    pub wallet_balance: Dec,
}

/// One page of the Customers list (see [`customer::page`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CustomerListPage {
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<CustomerListRow>,
}

/// A page of customers with their plans today, what they owe and their
/// wallets. Cost per row: one subscription query, the open invoices (paid
/// and void ones are skipped in SQL) and the wallet's last entry.
pub fn customer_list(
    conn: &Connection,
    search: &str,
    include_archived: bool,
    offset: u32,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<CustomerListPage> {
    let tz = settings::zone(conn)?;
    let today = now.with_timezone(&tz).date_naive();
    let page = customer::page(conn, search, include_archived, offset, limit)?;
    let mut plan_names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(page.rows.len());
    for c in page.rows {
        let (customer_id, currency): (i64, String) =
            conn.query_row("SELECT id, currency FROM customers WHERE external_id = ?1", [&c.fields.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let mut plans = Vec::new();
        let codes: Vec<String> = conn
            .prepare_cached(
                "SELECT p.code FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.customer_id = ?1
                 AND s.start_date <= ?2 AND (s.end_date IS NULL OR s.end_date > ?2) ORDER BY s.start_date",
            )?
            .query_map(rusqlite::params![customer_id, today.to_string()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for code in codes {
            if !plan_names.contains_key(&code) {
                let name = plan::get(conn, &code)?.map_or_else(|| code.clone(), |p| p.fields.name);
                plan_names.insert(code.clone(), name);
            }
            plans.push(plan_names[&code].clone());
        }
        let open: Vec<String> = conn
            .prepare_cached(
                "SELECT i.number FROM invoices i WHERE i.customer_id = ?1 AND NOT EXISTS
                 (SELECT 1 FROM invoice_status st WHERE st.invoice_id = i.id AND st.status IN ('paid', 'void'))",
            )?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let (mut owed, mut overdue) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO);
        for number in open {
            let Some(inv) = crate::invoice::get(conn, &number)? else { continue };
            let credited: rust_decimal::Decimal =
                crate::credit::of_invoice(conn, &number)?.iter().map(|n| n.total.0).sum();
            let e = register::entry(&inv, &c.fields.name, credited, today);
            owed += e.outstanding.0;
            if e.standing == register::Standing::Overdue {
                overdue += e.outstanding.0;
            }
        }
        let units = crate::money::Currency::parse(&currency).map_or(2, |c| c.minor_units());
        let scaled = |mut d: rust_decimal::Decimal| {
            d.rescale(units);
            Dec(d)
        };
        rows.push(CustomerListRow {
            plans,
            owed: scaled(owed),
            overdue: scaled(overdue),
            wallet_balance: scaled(wallet::wallet_balance(conn, customer_id)?),
            billing_currency: currency,
            customer: c,
        });
    }
    Ok(CustomerListPage { total: page.total, offset: page.offset, rows })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 15, 0, 0).unwrap()
    }

    #[test]
    fn the_customer_page_gathers_subscriptions_drafts_invoices_wallet_and_usage() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let o = customer_overview(&mut ws, "globex", at(10)).unwrap();
        assert_eq!((o.customer.fields.name.as_str(), o.today.to_string()), ("Globex Corp", "2026-11-10".into()));
        let s = &o.subscriptions[0];
        assert_eq!(
            (s.fields.id.as_str(), s.plan_name.as_str(), s.state),
            ("sub_globex", "Pro", SubscriptionState::Active)
        );
        assert_eq!(s.invoiced_until.map(|d| d.to_string()), Some("2026-11-01".into()));
        assert_eq!(
            s.terms,
            [
                "API calls: unit price 0.0008 (overrides the plan)".to_string(),
                "Launch: 10 % off the invoice, every period".to_string()
            ]
        );
        assert_eq!(
            s.unit_prices.iter().map(|u| (u.meter.as_str(), u.unit_price.to_string())).collect::<Vec<_>>(),
            [("api_calls", "0.0008".to_string())]
        );
        assert_eq!(s.charges[0].name, "LLM tokens — gpt-4o");
        // The terms form replaces the unit prices and discounts; other overrides stay.
        let cheaper =
            UnitPriceOverride { meter: "api_calls".into(), group: None, unit_price: Dec("0.0005".parse().unwrap()) };
        let saved = ws.write(|tx| set_terms(tx, "sub_globex", &[cheaper], Vec::new(), None, at(10))).unwrap();
        assert_eq!(saved.overrides.len(), 1);
        assert_eq!((saved.overrides[0].price["unit_price"].as_str(), saved.discounts.len()), (Some("0.0005"), 0));
        // A unit price on a tiered charge is refused by the plan's rules, by path.
        let seats = UnitPriceOverride { meter: "seats".into(), group: None, unit_price: Dec("12".parse().unwrap()) };
        let e = ws.write(|tx| set_terms(tx, "sub_globex", &[seats], Vec::new(), None, at(10))).unwrap_err();
        assert_eq!(e.problems()[0].path, "overrides[0].unit_price");
        assert_eq!(
            s.charges.iter().filter(|c| c.unit_priced).map(|c| c.meter.as_str()).collect::<Vec<_>>(),
            ["api_calls"]
        );
        // November's draft is running: its period holds today.
        assert_eq!(o.running.len(), 1);
        assert_eq!(o.running[0].first_day.to_string(), "2026-11-01");
        // October's invoice, owed in full, in USD.
        assert_eq!(o.invoices.len(), 1);
        assert_eq!(o.invoices[0].number, "INV-2026-00001");
        assert_eq!(o.owed.len(), 1);
        assert_eq!((o.owed[0].currency.as_str(), o.owed[0].total), ("USD", o.invoices[0].outstanding));
        assert!(o.overdue.is_empty());
        assert_eq!((o.wallet_currency.as_str(), o.wallet_balance.to_string()), ("USD", "0.00".into()));
        // Usage per charged meter over six months, June to November.
        let tokens = o.usage.iter().find(|u| u.meter == "tokens").unwrap();
        let months: Vec<(&str, String)> =
            tokens.months.iter().map(|m| (m.month.as_str(), m.value.to_string())).collect();
        assert_eq!(months[0].0, "2026-06");
        // October local: 999 + 1,000,000 + 500,000 + 300,000 + 100,000; November: 7.
        assert_eq!(months[4], ("2026-10", "1900999".into()));
        assert_eq!(months[5], ("2026-11", "7".into()));
        assert_eq!(o.usage.len(), 4, "tokens, API calls, storage, seats");
        assert!(customer_overview(&mut ws, "nobody", at(10)).is_err());
        // The list says the same in a row.
        let list = customer_list(ws.conn(), "", false, 0, 50, at(10)).unwrap();
        let row = list.rows.iter().find(|r| r.customer.fields.id == "globex").unwrap();
        assert_eq!((row.plans.clone(), row.billing_currency.as_str()), (vec!["Pro".to_string()], "USD"));
        assert_eq!(
            (row.owed, row.overdue.to_string(), row.wallet_balance.to_string()),
            (o.owed[0].total, "0.00".into(), "0.00".into())
        );
        let initech = list.rows.iter().find(|r| r.customer.fields.id == "initech").unwrap();
        assert!(initech.plans.is_empty() && initech.owed.0.is_zero());
    }

    #[test]
    fn a_plan_change_is_previewed_as_its_two_drafts_and_nothing_is_saved() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let on = "2026-10-22".parse().unwrap();
        let drafts = crate::api::preview_plan_change(&mut ws, "sub_globex", "payg", on, at(2)).unwrap();
        let seen: Vec<(&str, u32, String)> =
            drafts.iter().map(|d| (d.plan.as_str(), d.active_days, d.total.to_string())).collect();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[0].0, seen[0].1), ("pro", 7));
        assert_eq!((seen[1].0, seen[1].1, seen[1].2.as_str()), ("payg", 10, "4.80"), "4.00 and 20% tax");
        assert!(crate::subscription::get(ws.conn(), "sub_globex").unwrap().unwrap().fields.end.is_none(), "not saved");
        assert!(crate::subscription::get(ws.conn(), "sub_globex_2").unwrap().is_none());
        // Made for real, the drafts are the ones previewed.
        ws.write(|tx| crate::subscription::change(tx, "sub_globex", "payg", on, at(2))).unwrap();
        let after = bill::preview(&mut ws, crate::month("2026-10"), Some("globex"), Kind::Period).unwrap();
        assert_eq!(after, drafts);
        // A change that would be refused is refused in the preview, the same way.
        let e = crate::api::preview_plan_change(&mut ws, "sub_globex_2", "pro", "2026-10-01".parse().unwrap(), at(2));
        assert_eq!(e.unwrap_err().problems()[0].path, "on");
    }
}
