//! Subscriptions: a customer on one version of a plan, from a start date to an
//! optional end date (both local dates in the workspace zone, the end
//! excluded), billed in periods on an anchor day, with per-subscription price
//! overrides and discounts.
//!
//! One customer's subscriptions never overlap, so an event belongs to at most
//! one of them: a plan change ends one subscription on a date and starts the
//! next on the same date (see ARCHITECTURE.md "Plan changes").

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Problem, Result};
use crate::meter::code_problem;
use crate::money::Dec;
use crate::period::Schedule;
use crate::plan::{ChargeFields, PlanFields};
use crate::pricing::{PriceFields, non_negative};
use crate::settings::{MAX_TEXT_CHARS, required_text_problem};
use crate::stored::time_text;

/// A price override: replaces the price of the plan's charge on `meter` (and
/// `group`) for this subscription only. With a `model`, the price fields are
/// the whole new price; without, they replace the charge's fields of the same
/// name (`{"meter": "api_calls", "unit_price": "0.0008"}` keeps `included`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideFields {
    pub meter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(flatten)]
    pub price: Map<String, Value>,
}

/// A discount: a percent or a fixed amount, off one charge (`meter`) or the
/// whole invoice, for every period or the first `periods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountFields {
    pub name: String,
    /// "10" is 10%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<u32>,
}

/// A subscription as written in a catalog: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFields {
    pub id: String,
    pub customer: String,
    pub plan: String,
    /// A stored version of the plan; absent: the latest for a new subscription,
    /// and the one it already has for an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_version: Option<i64>,
    pub start: NaiveDate,
    /// The first day it is no longer active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
    /// 1–31; absent: the start's day of month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideFields>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<DiscountFields>,
}

/// The overrides and discounts, as stored in `terms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Terms {
    #[serde(default)]
    overrides: Vec<OverrideFields>,
    #[serde(default)]
    discounts: Vec<DiscountFields>,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Always has `plan_version` and `anchor_day`.
    pub fields: SubscriptionFields,
    pub customer_id: i64,
}

impl Subscription {
    pub fn version(&self) -> i64 {
        self.fields.plan_version.unwrap_or(1)
    }

    pub fn anchor_day(&self) -> u32 {
        self.fields.anchor_day.unwrap_or_else(|| self.fields.start.day())
    }

    pub fn schedule(&self, plan: &PlanFields) -> Result<Schedule> {
        Ok(Schedule::new(plan.interval, self.anchor_day(), self.fields.start)?)
    }
}

/// What a subscription is validated against: the customers, plans and
/// subscriptions there will be once the catalog is applied.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Customer id → its currency.
    pub customers: HashMap<String, String>,
    /// Plan code → its latest definition.
    pub latest: HashMap<String, PlanFields>,
    /// (plan code, version) → a stored definition.
    pub versions: HashMap<(String, i64), PlanFields>,
    /// Stored subscriptions by id.
    pub existing: HashMap<String, Subscription>,
}

impl Context {
    /// The stored workspace; the catalog's sections are laid over it by the caller.
    pub fn load(conn: &Connection) -> Result<Context> {
        let mut ctx = Context::default();
        let mut stmt = conn.prepare("SELECT external_id, currency FROM customers")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, currency) = row?;
            ctx.customers.insert(id, currency);
        }
        let mut stmt = conn.prepare(
            "SELECT p.code, v.version, v.definition FROM plans p JOIN plan_versions v ON v.plan_id = p.id
             ORDER BY p.code, v.version",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))? {
            let (code, version, text) = row?;
            let fields: PlanFields = serde_json::from_str(&text)
                .map_err(|e| Error::Internal(format!("stored plan \"{code}\" version {version}: {e}")))?;
            ctx.latest.insert(code.clone(), fields.clone());
            ctx.versions.insert((code, version), fields);
        }
        ctx.existing = all(conn)?.into_iter().map(|s| (s.fields.id.clone(), s)).collect();
        Ok(ctx)
    }
}

/// A subscription that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubscription {
    /// Trimmed, with `anchor_day` filled in; `plan_version` as given.
    pub fields: SubscriptionFields,
}

/// The plan's charges with a subscription's overrides applied. Problems are
/// keyed `overrides[i].…`.
pub fn effective_charges(
    plan: &PlanFields,
    overrides: &[OverrideFields],
) -> std::result::Result<Vec<ChargeFields>, Vec<Problem>> {
    let mut charges = plan.charges.clone();
    let mut problems = Vec::new();
    let mut overridden = vec![false; charges.len()];
    for (i, o) in overrides.iter().enumerate() {
        let at = |f: &str| format!("overrides[{i}].{f}");
        let Some(k) = charges.iter().position(|c| c.meter == o.meter && c.group == o.group) else {
            let which = match &o.group {
                Some(g) => format!("meter \"{}\" group \"{g}\"", o.meter),
                None => format!("meter \"{}\"", o.meter),
            };
            problems.push(Problem::new(at("meter"), format!("plan \"{}\" has no charge on {which}", plan.code)));
            continue;
        };
        if std::mem::replace(&mut overridden[k], true) {
            problems.push(Problem::new(at("meter"), "this charge is overridden twice"));
            continue;
        }
        if o.price.is_empty() {
            problems.push(Problem::new(at("meter"), "an override needs a price field (unit_price, tiers, …)"));
            continue;
        }
        let mut merged = if o.price.contains_key("model") {
            Map::new()
        } else {
            match serde_json::to_value(&charges[k].price) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            }
        };
        merged.extend(o.price.clone());
        let price = match PriceFields::from_json(Value::Object(merged)) {
            Ok(p) => p,
            Err(p) => {
                problems.push(Problem::new(at(&p.path), p.message));
                continue;
            }
        };
        match price.validate() {
            Ok(_) => charges[k].price = price,
            Err(ps) => problems.extend(ps.into_iter().map(|p| Problem::new(at(&p.path), p.message))),
        }
    }
    if problems.is_empty() { Ok(charges) } else { Err(problems) }
}

impl SubscriptionFields {
    /// Validates the subscription against `ctx`; problems are keyed by field path.
    pub fn validate(&self, ctx: &Context) -> std::result::Result<ValidSubscription, Vec<Problem>> {
        let mut problems = Vec::new();
        let id = self.id.trim();
        if let Some(p) = code_problem("the subscription id", id, "sub_globex") {
            problems.push(Problem::new("id", p.message));
        }
        let existing = ctx.existing.get(id);
        let customer_currency = ctx.customers.get(self.customer.trim());
        if customer_currency.is_none() {
            problems.push(Problem::new("customer", format!("no customer with id \"{}\"", self.customer.trim())));
        }
        if let Some(e) = existing
            && e.fields.customer != self.customer.trim()
        {
            problems.push(Problem::new(
                "customer",
                format!(
                    "subscription \"{id}\" belongs to \"{}\"; a subscription cannot move to another customer",
                    e.fields.customer
                ),
            ));
        }
        let plan_code = self.plan.trim();
        // The definition the subscription will be billed on.
        let plan: Option<&PlanFields> = match (self.plan_version, existing) {
            (Some(v), _) => {
                let found = ctx.versions.get(&(plan_code.to_string(), v));
                if found.is_none() {
                    let message = if ctx.latest.contains_key(plan_code) {
                        format!("plan \"{plan_code}\" has no stored version {v}")
                    } else {
                        format!("no plan with code \"{plan_code}\"")
                    };
                    problems.push(Problem::new("plan_version", message));
                }
                found
            }
            (None, Some(e)) if e.fields.plan == plan_code => ctx.versions.get(&(plan_code.to_string(), e.version())),
            _ => {
                let found = ctx.latest.get(plan_code);
                if found.is_none() {
                    problems.push(Problem::new("plan", format!("no plan with code \"{plan_code}\"")));
                }
                found
            }
        };
        if let (Some(plan), Some(currency)) = (plan, customer_currency)
            && &plan.currency != currency
        {
            problems.push(Problem::new(
                "plan",
                format!(
                    "plan \"{plan_code}\" bills in {}, but customer \"{}\" is billed in {currency}",
                    plan.currency,
                    self.customer.trim()
                ),
            ));
        }
        if let Some(end) = self.end
            && end <= self.start
        {
            problems.push(Problem::new("end", format!("must come after the start ({})", self.start)));
        }
        let anchor_day = self.anchor_day.unwrap_or_else(|| self.start.day());
        if !(1..=31).contains(&anchor_day) {
            problems.push(Problem::new("anchor_day", "must be from 1 to 31"));
        }
        if let Some(plan) = plan
            && let Err(ps) = effective_charges(plan, &self.overrides)
        {
            problems.extend(ps);
        }
        for (i, d) in self.discounts.iter().enumerate() {
            let at = |f: &str| format!("discounts[{i}].{f}");
            problems.extend(required_text_problem(&at("name"), "the discount's name", &d.name, MAX_TEXT_CHARS));
            match (d.percent, d.amount) {
                (Some(p), None) => {
                    if p.0 <= rust_decimal::Decimal::ZERO || p.0 > rust_decimal::Decimal::ONE_HUNDRED {
                        problems.push(Problem::new(at("percent"), "must be more than 0 and at most 100"));
                    }
                }
                (None, Some(a)) => non_negative(&at("amount"), a.0, &mut problems),
                (Some(_), Some(_)) => {
                    problems.push(Problem::new(at("amount"), "give either a percent or an amount, not both"))
                }
                (None, None) => problems.push(Problem::new(at("percent"), "give a percent or an amount")),
            }
            if let (Some(meter), Some(plan)) = (&d.meter, plan)
                && !plan.charges.iter().any(|c| &c.meter == meter)
            {
                problems.push(Problem::new(
                    at("meter"),
                    format!("plan \"{plan_code}\" has no charge on meter \"{meter}\""),
                ));
            }
            if d.periods == Some(0) {
                problems.push(Problem::new(at("periods"), "must be at least 1 (omit it for every period)"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut fields = self.clone();
        fields.id = id.to_string();
        fields.customer = self.customer.trim().to_string();
        fields.plan = plan_code.to_string();
        fields.anchor_day = Some(anchor_day);
        Ok(ValidSubscription { fields })
    }
}

/// The problems of subscriptions of one customer that overlap, keyed by the
/// index of the later one in `catalog` (or of any stored one it overlaps).
pub fn overlap_problems(catalog: &[(usize, SubscriptionFields)], stored: &[Subscription]) -> Vec<(usize, Problem)> {
    // Each catalog entry replaces the stored subscription with its id.
    let mut by_customer: HashMap<&str, Vec<(Option<usize>, &SubscriptionFields)>> = HashMap::new();
    for s in stored {
        if !catalog.iter().any(|(_, c)| c.id == s.fields.id) {
            by_customer.entry(&s.fields.customer).or_default().push((None, &s.fields));
        }
    }
    for (i, c) in catalog {
        by_customer.entry(&c.customer).or_default().push((Some(*i), c));
    }
    let mut problems = Vec::new();
    for list in by_customer.values_mut() {
        list.sort_by_key(|(i, s)| (s.start, *i));
        for pair in list.windows(2) {
            let ((ia, a), (ib, b)) = (pair[0], pair[1]);
            if a.end.is_none_or(|end| end > b.start) {
                let (at, other) = match (ia, ib) {
                    (_, Some(ib)) => (ib, a),
                    (Some(ia), None) => (ia, b),
                    (None, None) => continue,
                };
                problems.push((
                    at,
                    Problem::new(
                        "start",
                        format!(
                            "overlaps subscription \"{}\" of the same customer ({} to {}); end one before the next starts",
                            other.id,
                            other.start,
                            other.end.map_or("open".to_string(), |e| e.to_string())
                        ),
                    ),
                ));
            }
        }
    }
    problems.sort_by_key(|(i, _)| *i);
    problems
}

const COLUMNS: &str =
    "s.code, c.external_id, p.code, s.plan_version, s.start_date, s.end_date, s.anchor_day, s.terms, s.customer_id";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Subscription> {
    let date = |i: usize, text: String| {
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    };
    let terms: Terms = serde_json::from_str(&r.get::<_, String>(7)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Subscription {
        fields: SubscriptionFields {
            id: r.get(0)?,
            customer: r.get(1)?,
            plan: r.get(2)?,
            plan_version: Some(r.get(3)?),
            start: date(4, r.get(4)?)?,
            end: r.get::<_, Option<String>>(5)?.map(|t| date(5, t)).transpose()?,
            anchor_day: Some(r.get(6)?),
            overrides: terms.overrides,
            discounts: terms.discounts,
        },
        customer_id: r.get(8)?,
    })
}

fn select(conn: &Connection, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Subscription>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions s JOIN customers c ON c.id = s.customer_id
         JOIN plans p ON p.id = s.plan_id {filter} ORDER BY c.external_id, s.start_date, s.code"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_map(args, from_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Every subscription, by customer and start.
pub fn all(conn: &Connection) -> Result<Vec<Subscription>> {
    select(conn, "", [])
}

/// One customer's subscriptions, by start.
pub fn of_customer(conn: &Connection, customer: &str) -> Result<Vec<Subscription>> {
    select(conn, "WHERE c.external_id = ?1", [customer])
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Subscription>> {
    Ok(select(conn, "WHERE s.code = ?1", [id])?.pop())
}

/// Creates or changes a subscription; returns whether anything changed. A
/// subscription without a `plan_version` keeps the one it has, or (new) takes
/// the plan's latest.
pub fn save(conn: &Transaction, s: &ValidSubscription, now: DateTime<Utc>) -> Result<bool> {
    let f = &s.fields;
    let existing = get(conn, &f.id)?;
    let (plan_id, latest): (i64, i64) = conn
        .query_row(
            "SELECT p.id, max(v.version) FROM plans p JOIN plan_versions v ON v.plan_id = p.id WHERE p.code = ?1",
            [&f.plan],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no plan with code \"{}\"", f.plan)))?;
    let version = match (&existing, f.plan_version) {
        (_, Some(v)) => v,
        (Some(e), None) if e.fields.plan == f.plan => e.version(),
        _ => latest,
    };
    let mut wanted = f.clone();
    wanted.plan_version = Some(version);
    if existing.as_ref().is_some_and(|e| e.fields == wanted) {
        return Ok(false);
    }
    let terms = serde_json::to_string(&Terms { overrides: f.overrides.clone(), discounts: f.discounts.clone() })
        .map_err(|e| Error::Internal(format!("a subscription could not be written: {e}")))?;
    let customer_id: i64 = conn
        .query_row("SELECT id FROM customers WHERE external_id = ?1", [&f.customer], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no customer with id \"{}\"", f.customer)))?;
    let end = f.end.map(|d| d.to_string());
    let anchor = f.anchor_day.unwrap_or_else(|| f.start.day());
    if existing.is_some() {
        conn.execute(
            "UPDATE subscriptions SET plan_id = ?2, plan_version = ?3, start_date = ?4, end_date = ?5,
             anchor_day = ?6, terms = ?7, updated_at = ?8 WHERE code = ?1",
            params![f.id, plan_id, version, f.start.to_string(), end, anchor, terms, time_text(now)],
        )?;
    } else {
        conn.execute(
            "INSERT INTO subscriptions (code, customer_id, plan_id, plan_version, start_date, end_date, anchor_day,
             terms, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![f.id, customer_id, plan_id, version, f.start.to_string(), end, anchor, terms, time_text(now)],
        )?;
    }
    Ok(true)
}

/// The subscription as a catalog entry: `plan_version` only when it is not the
/// plan's latest (a catalog holds only the latest definition of each plan).
pub fn to_catalog(s: &Subscription, latest_version: i64) -> SubscriptionFields {
    let mut f = s.fields.clone();
    if f.plan_version == Some(latest_version) {
        f.plan_version = None;
    }
    f
}
