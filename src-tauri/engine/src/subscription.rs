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

use crate::error::{Error, Problem, Result};
use crate::period::Schedule;
use crate::plan::PlanFields;
use std::collections::HashMap;

use crate::stored::{Columns, located, time_text};

pub use meterdesk_rules::subscription::*;

/// The overrides, discounts and spend cap, as stored in `terms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Terms {
    #[serde(default)]
    overrides: Vec<OverrideFields>,
    #[serde(default)]
    discounts: Vec<DiscountFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maximum: Option<meterdesk_rules::money::Dec>,
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
            maximum: terms.maximum,
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
    let terms = serde_json::to_string(&Terms {
        overrides: f.overrides.clone(),
        discounts: f.discounts.clone(),
        maximum: f.maximum,
    })
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

/// How far a subscription's periods are invoiced: the local date its last
/// invoiced period ends on (the first day not invoiced) and the number of
/// that period's invoice. Void invoices do not count: they gave their period
/// back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoiced {
    pub until: NaiveDate,
    pub number: String,
}

/// See [`Invoiced`]; `None` while no period of subscription `code` stands invoiced.
pub fn invoiced_until(conn: &Connection, code: &str, zone: chrono_tz::Tz) -> Result<Option<Invoiced>> {
    let sql = format!(
        "SELECT i.number, i.period_end FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
         WHERE s.code = ?1 AND {} ORDER BY i.period_end DESC LIMIT 1",
        crate::stored::not_void!("i")
    );
    let found = conn
        .query_row(&sql, [code], |r| located(r, "invoices", 0, |r| Ok((r.get::<_, String>(0)?, r.time(1)?))))
        .optional()?;
    Ok(found.map(|(number, end)| Invoiced { until: end.with_timezone(&zone).date_naive(), number }))
}

/// What a change to stored subscriptions would do to periods already
/// invoiced, as problems: an invoiced period keeps its start, its anchor day
/// (the periods' rhythm) and its days (the end may not cut into it), so no
/// event is billed twice or left out by a later edit (docs/billing.md
/// "Corrections after finalizing").
pub fn invoiced_problems(
    conn: &Connection,
    zone: chrono_tz::Tz,
    entries: &[(usize, SubscriptionFields)],
    stored: &HashMap<String, SubscriptionFields>,
) -> Result<Vec<(usize, Problem)>> {
    let mut problems = Vec::new();
    for (i, s) in entries {
        let Some(before) = stored.get(&s.id) else { continue };
        let Some(inv) = invoiced_until(conn, &s.id, zone)? else { continue };
        // An ended subscription's last period is billed up to its end only.
        let covered = before.end.map_or(inv.until, |e| e.min(inv.until));
        let through = covered.pred_opt().unwrap_or(covered);
        let held = |what: &str| {
            format!(
                "periods through {through} are invoiced ({}); the {what} cannot change (change the plan from a later date instead)",
                inv.number
            )
        };
        if s.start != before.start {
            problems.push((*i, Problem::new("start", held("start"))));
        }
        if s.anchor_day.is_some() && s.anchor_day != before.anchor_day {
            problems.push((*i, Problem::new("anchor_day", held("anchor day"))));
        }
        if s.end.is_some_and(|end| end < covered) {
            problems.push((
                *i,
                Problem::new(
                    "end",
                    format!(
                        "periods through {through} are invoiced ({}); it can end on {covered} at the earliest",
                        inv.number
                    ),
                ),
            ));
        } else if before.end.is_some_and(|e| e < inv.until) && s.end != before.end {
            // Its last period was invoiced as the last, prorated to the end.
            problems.push((
                *i,
                Problem::new(
                    "end",
                    format!(
                        "its last period, through {through}, is invoiced as its final one ({}); to bill the days after, put the customer on a plan from {covered}",
                        inv.number
                    ),
                ),
            ));
        }
    }
    Ok(problems)
}

/// Validates subscriptions together as a catalog would (each against the
/// workspace, their overlaps, the periods already invoiced) and saves them.
/// `path` names where a problem of entry `i` at field `f` belongs for the
/// caller ("on" for the date a change takes effect).
fn check_and_save(
    tx: &Transaction,
    list: &[SubscriptionFields],
    path: impl Fn(usize, &str) -> String,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    let ctx = context(tx)?;
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match s.validate(&ctx) {
            Ok(v) => valid.push((i, v)),
            Err(ps) => problems.extend(ps.into_iter().map(|p| Problem::new(path(i, &p.path), p.message))),
        }
    }
    let entries: Vec<(usize, SubscriptionFields)> = valid.iter().map(|(i, v)| (*i, v.fields.clone())).collect();
    let stored: Vec<SubscriptionFields> = ctx.existing.values().cloned().collect();
    let zone = crate::settings::zone(tx)?;
    let found =
        overlap_problems(&entries, &stored).into_iter().chain(invoiced_problems(tx, zone, &entries, &ctx.existing)?);
    problems.extend(found.map(|(i, p)| Problem::new(path(i, &p.path), p.message)));
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut saved = Vec::new();
    for (_, v) in &valid {
        save(tx, v, now)?;
        saved.push(get(tx, &v.fields.id)?.ok_or_else(|| Error::Internal("a saved subscription is gone".into()))?);
    }
    Ok(saved)
}

/// A free subscription id for `customer`: `sub_<customer>`, then
/// `sub_<customer>_2`, … (the customer id reduced to the characters a code
/// allows).
fn free_id(conn: &Connection, customer: &str) -> Result<String> {
    let slug: String = customer
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' })
        .take(meterdesk_rules::text::MAX_CODE_CHARS - 8)
        .collect();
    let base = format!("sub_{slug}");
    let mut n = 1;
    loop {
        let id = if n == 1 { base.clone() } else { format!("{base}_{n}") };
        if get(conn, &id)?.is_none() {
            return Ok(id);
        }
        n += 1;
    }
}

/// Puts a customer on a plan (a new subscription; without an id one is
/// chosen). Every rule of the catalog applies; problems are keyed by field.
pub fn create(tx: &Transaction, fields: &SubscriptionFields, now: DateTime<Utc>) -> Result<Subscription> {
    let mut fields = fields.clone();
    if fields.id.trim().is_empty() {
        fields.id = free_id(tx, &fields.customer)?;
    } else if get(tx, fields.id.trim())?.is_some() {
        return Err(Error::invalid("id", format!("a subscription \"{}\" already exists", fields.id.trim())));
    }
    let mut saved = check_and_save(tx, &[fields], |_, p| p.to_string(), now)?;
    Ok(saved.remove(0))
}

fn stored_or_not_found(conn: &Connection, id: &str) -> Result<Subscription> {
    get(conn, id)?.ok_or_else(|| Error::NotFound(format!("no subscription with id \"{id}\"")))
}

/// Ends subscription `id` on `on` (the first day it is no longer active; its
/// last period is prorated). An end already set may move earlier or later,
/// never into a period already invoiced.
pub fn end(tx: &Transaction, id: &str, on: NaiveDate, now: DateTime<Utc>) -> Result<Subscription> {
    let mut fields = stored_or_not_found(tx, id)?.fields;
    fields.end = Some(on);
    let mut saved = check_and_save(tx, &[fields], |_, p| if p == "end" { "on".into() } else { p.into() }, now)?;
    Ok(saved.remove(0))
}

/// Replaces the price overrides, discounts and spend cap of subscription
/// `id` (they apply to its periods not invoiced yet; invoiced ones are
/// frozen). Every rule of the catalog applies; problems are keyed
/// `overrides[i].…`, `discounts[i].…` and `maximum`.
pub fn set_terms(
    tx: &Transaction,
    id: &str,
    overrides: Vec<OverrideFields>,
    discounts: Vec<DiscountFields>,
    maximum: Option<meterdesk_rules::money::Dec>,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let mut fields = stored_or_not_found(tx, id)?.fields;
    fields.overrides = overrides;
    fields.discounts = discounts;
    fields.maximum = maximum;
    let mut saved = check_and_save(tx, &[fields], |_, p| p.to_string(), now)?;
    Ok(saved.remove(0))
}

/// Moves the customer of subscription `id` to `plan` (its latest version)
/// on `on`: the subscription ends that day and a new one starts on it with
/// the same anchor day (so the periods keep their rhythm; the period around
/// the change is prorated on both sides) and the same end, if any. Price
/// overrides and discounts belong to the old plan's charges and stay with it.
/// Returns the ended subscription and the new one.
pub fn change(
    tx: &Transaction,
    id: &str,
    plan: &str,
    on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(Subscription, Subscription)> {
    let old = stored_or_not_found(tx, id)?.fields;
    if on <= old.start {
        return Err(Error::invalid("on", format!("must come after the subscription's start ({})", old.start)));
    }
    if let Some(end) = old.end
        && on >= end
    {
        return Err(Error::invalid("on", format!("the subscription has already ended on {end}")));
    }
    let next = SubscriptionFields {
        id: free_id(tx, &old.customer)?,
        customer: old.customer.clone(),
        plan: plan.trim().to_string(),
        plan_version: None,
        start: on,
        end: old.end,
        anchor_day: old.anchor_day,
        overrides: Vec::new(),
        discounts: Vec::new(),
        // The customer's own spend cap goes with it to the new plan; prices do not.
        maximum: old.maximum,
    };
    let mut ended = old;
    ended.end = Some(on);
    let path = |i: usize, p: &str| match (i, p) {
        (0, "end") | (1, "start") => "on".to_string(),
        (_, p) => p.to_string(),
    };
    let mut saved = check_and_save(tx, &[ended, next], path, now)?.into_iter();
    match (saved.next(), saved.next()) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::Internal("a plan change saved fewer than two subscriptions".into())),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::Workspace;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::bill::{self, Kind};
    use crate::invoice;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn paths(e: Error) -> Vec<(String, String)> {
        e.problems().iter().map(|p| (p.path.clone(), p.message.clone())).collect()
    }

    fn new(customer: &str, plan: &str, start: &str) -> SubscriptionFields {
        SubscriptionFields {
            id: String::new(),
            customer: customer.into(),
            plan: plan.into(),
            plan_version: None,
            start: day(start),
            end: None,
            anchor_day: None,
            overrides: Vec::new(),
            discounts: Vec::new(),
            maximum: None,
        }
    }

    #[test]
    fn create_names_the_subscription_and_applies_every_catalog_rule() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let made = ws
            .write(|tx| {
                create(tx, &SubscriptionFields { anchor_day: Some(1), ..new("initech", "payg", "2026-11-10") }, now())
            })
            .unwrap();
        assert_eq!(made.fields.id, "sub_initech");
        assert_eq!((made.fields.plan_version, made.fields.anchor_day), (Some(1), Some(1)));
        // The next one for the same customer gets the next free id, and may not overlap.
        let e = ws.write(|tx| create(tx, &new("initech", "payg", "2026-12-01"), now())).unwrap_err();
        assert_eq!(paths(e)[0].0, "start");
        let e = ws.write(|tx| create(tx, &new("nobody", "gold", "2026-12-01"), now())).unwrap_err();
        let got: Vec<String> = paths(e).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, ["customer", "plan"]);
        let e = ws
            .write(|tx| {
                create(
                    tx,
                    &SubscriptionFields { id: "sub_globex".into(), ..new("initech", "payg", "2030-01-01") },
                    now(),
                )
            })
            .unwrap_err();
        assert_eq!(paths(e), [("id".to_string(), "a subscription \"sub_globex\" already exists".to_string())]);
        ws.write(|tx| end(tx, "sub_initech", day("2026-12-01"), now())).unwrap();
        let second = ws.write(|tx| create(tx, &new("initech", "payg", "2026-12-01"), now())).unwrap();
        assert_eq!(second.fields.id, "sub_initech_2");
    }

    #[test]
    fn a_plan_change_mid_month_prorates_both_drafts_and_keeps_the_rhythm() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let (ended, next) = ws.write(|tx| change(tx, "sub_globex", "payg", day("2026-10-22"), now())).unwrap();
        assert_eq!(ended.fields.end, Some(day("2026-10-22")));
        assert_eq!((next.fields.id.as_str(), next.fields.plan.as_str()), ("sub_globex_2", "payg"));
        assert_eq!((next.fields.start, next.fields.anchor_day), (day("2026-10-22"), Some(1)));
        assert!(next.fields.overrides.is_empty() && next.fields.discounts.is_empty());
        let drafts = bill::preview(&mut ws, crate::month("2026-10"), Some("globex"), Kind::Period).unwrap();
        let spans: Vec<(&str, u32, u32, String)> = drafts
            .iter()
            .map(|d| (d.plan.as_str(), d.active_days, d.period_days, d.usage_window.start.to_string()))
            .collect();
        assert_eq!(
            spans,
            [("pro", 7, 31, "2026-10-15 04:00:00 UTC".into()), ("payg", 10, 31, "2026-10-22 04:00:00 UTC".into())]
        );
        // Pro's fee for 7 of 31 days: 99 × 7/31 = 22.35.
        assert_eq!(drafts[0].lines[0].amount.to_string(), "22.35");
        // Pay as you go bills the tokens from Oct 22 (all models): 300,000 claude on the 22nd
        // and 100,000 gpt-4o on Oct 31 local = 400,000 × 0.00001 = 4.00.
        assert_eq!(drafts[1].lines[0].amount.to_string(), "4.00");
        // Before its start, after its end, or on the plan it already has: refused by the date.
        for on in ["2026-10-15", "2026-10-01"] {
            let e = ws.write(|tx| change(tx, "sub_globex_2", "pro", day(on), now())).unwrap_err();
            assert_eq!(paths(e)[0].0, "on");
        }
        let e = ws.write(|tx| change(tx, "sub_globex", "payg", day("2026-11-05"), now())).unwrap_err();
        assert!(paths(e)[0].1.contains("already ended on 2026-10-22"));
        let e = ws.write(|tx| change(tx, "nope", "payg", day("2026-11-05"), now())).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)));
    }

    #[test]
    fn invoiced_periods_hold_whatever_edits_a_subscription_until_voided() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let done = invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now()).unwrap();
        let number = done.invoices[0].frozen.draft.number.clone().unwrap();
        // Ending or changing inside the invoiced October is refused, naming the invoice.
        let e = ws.write(|tx| end(tx, "sub_globex", day("2026-10-20"), now())).unwrap_err();
        assert_eq!(
            paths(e),
            [(
                "on".to_string(),
                format!("periods through 2026-10-31 are invoiced ({number}); it can end on 2026-11-01 at the earliest")
            )]
        );
        let e = ws.write(|tx| change(tx, "sub_globex", "payg", day("2026-10-25"), now())).unwrap_err();
        assert_eq!(paths(e)[0].0, "on");
        // The same rule holds for a catalog: its start and anchor day stand, its end may not cut in.
        let edited = CATALOG.replace(
            r#""start": "2026-10-15", "anchor_day": 1"#,
            r#""start": "2026-10-01", "anchor_day": 15, "end": "2026-10-30""#,
        );
        let c = crate::catalog::parse(&edited).unwrap();
        let e = ws.write(|tx| crate::catalog::apply(tx, c, now())).unwrap_err();
        let got: Vec<String> = paths(e).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, ["$.subscriptions[0].start", "$.subscriptions[0].anchor_day", "$.subscriptions[0].end"]);
        // From the first day not invoiced, a change goes through.
        let (_, next) = ws.write(|tx| change(tx, "sub_globex", "payg", day("2026-11-01"), now())).unwrap();
        assert_eq!(next.fields.start, day("2026-11-01"));
        // Voiding gives October back: then the end may move into it.
        ws.write(|tx| invoice::void(tx, &number, "wrong plan", now())).unwrap();
        let ended = ws.write(|tx| end(tx, "sub_globex", day("2026-10-20"), now())).unwrap();
        assert_eq!(ended.fields.end, Some(day("2026-10-20")), "a gap before sub_globex_2 is allowed");
    }

    #[test]
    fn terms_are_replaced_with_every_rule_named_by_its_path() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let price: OverrideFields =
            serde_json::from_value(serde_json::json!({ "meter": "api_calls", "unit_price": "0.0005" })).unwrap();
        let discount = DiscountFields {
            name: "Loyalty".into(),
            percent: Some(crate::money::Dec("5".parse().unwrap())),
            amount: None,
            meter: None,
            periods: Some(3),
        };
        let saved =
            ws.write(|tx| set_terms(tx, "sub_globex", vec![price], vec![discount.clone()], None, now())).unwrap();
        assert_eq!((saved.fields.overrides.len(), saved.fields.discounts[0].name.as_str()), (1, "Loyalty"));
        let bad: OverrideFields =
            serde_json::from_value(serde_json::json!({ "meter": "nope", "unit_price": "-1" })).unwrap();
        let free = DiscountFields { percent: Some(crate::money::Dec("150".parse().unwrap())), ..discount };
        let e = ws.write(|tx| set_terms(tx, "sub_globex", vec![bad], vec![free], None, now())).unwrap_err();
        let got: Vec<String> = paths(e).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, ["overrides[0].meter", "discounts[0].percent"]);
        assert_eq!(get(ws.conn(), "sub_globex").unwrap().unwrap().fields.discounts[0].name, "Loyalty", "kept");
    }

    #[test]
    fn a_final_period_invoiced_prorated_is_not_extended_afterwards() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        ws.write(|tx| end(tx, "sub_globex", day("2026-11-15"), now())).unwrap();
        invoice::finalize_month(&mut ws, crate::month("2026-11"), Some("globex"), now()).unwrap();
        for later in [Some(day("2026-11-20")), None] {
            let mut fields = get(ws.conn(), "sub_globex").unwrap().unwrap().fields;
            fields.end = later;
            let e = ws.write(|tx| check_and_save(tx, &[fields], |_, p| p.to_string(), now())).unwrap_err();
            assert_eq!(
                paths(e),
                [(
                    "end".to_string(),
                    "its last period, through 2026-11-14, is invoiced as its final one (INV-2026-00001); \
                     to bill the days after, put the customer on a plan from 2026-11-15"
                        .to_string()
                )]
            );
        }
        let e = ws.write(|tx| end(tx, "sub_globex", day("2026-11-10"), now())).unwrap_err();
        assert!(paths(e)[0].1.contains("it can end on 2026-11-15 at the earliest"));
        let next = ws.write(|tx| create(tx, &new("globex", "payg", "2026-11-15"), now())).unwrap();
        assert_eq!(next.fields.id, "sub_globex_2");
    }
}
