//! Subscriptions: a customer on one version of a plan, from a start date to an
//! optional end date (both local dates in the workspace zone, the end
//! excluded), billed in periods on an anchor day, with per-subscription price
//! overrides and discounts.
//!
//! One customer's subscriptions never overlap, so an event belongs to at most
//! one of them: a plan change ends one subscription on a date and starts the
//! next on the same date (see ARCHITECTURE.md "Plan changes").

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::period::Schedule;
use crate::plan::PlanFields;
use crate::stored::time_text;

pub use meterdesk_rules::subscription::*;

/// The overrides and discounts, as stored in `terms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Terms {
    #[serde(default)]
    overrides: Vec<OverrideFields>,
    #[serde(default)]
    discounts: Vec<DiscountFields>,
}

const COLUMNS: &str =
    "s.code, c.external_id, p.code, s.plan_version, s.start_date, s.end_date, s.anchor_day, s.terms, s.customer_id";

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

/// What subscriptions are validated against in the stored workspace; the
/// catalog's sections are laid over it by the caller.
pub fn context(conn: &Connection) -> Result<Context> {
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
    ctx.existing = all(conn)?.into_iter().map(|s| (s.fields.id.clone(), s.fields)).collect();
    Ok(ctx)
}

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
