//! Usage: a meter's value for one customer over a half-open time range.
//!
//! Cost: one range read of the event chunks of (customer, type, the UTC days of
//! [from, to)); no other customer's events, and no other days', are read.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::event_store;
use crate::meter::{self, MeterFields};
use crate::money::Dec;
use crate::period::{Month, day_start};

pub use meterdesk_rules::aggregate::{Acc, Properties, UsageEvent, aggregate, amounts, selects};

/// The meter and its events for one customer in `[from, to)`, in time order.
fn events_in(
    conn: &Connection,
    meter_code: &str,
    customer: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group: Option<&str>,
) -> Result<(MeterFields, Vec<UsageEvent>)> {
    let meter = meter::require(conn, meter_code)?.fields;
    let events = events_for(conn, &meter, customer, from, to, group)?;
    Ok((meter, events))
}

/// The events `meter` (stored or not) reads for one customer in `[from, to)`, in time order.
pub(crate) fn events_for(
    conn: &Connection,
    meter: &MeterFields,
    customer: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group: Option<&str>,
) -> Result<Vec<UsageEvent>> {
    if group.is_some() && meter.group_by.is_none() {
        return Err(Error::invalid("--group", format!("meter \"{}\" is not grouped", meter.code)));
    }
    if to <= from {
        return Err(Error::invalid("--to", "the end of the range must come after its start"));
    }
    let customer_id: i64 = conn
        .query_row("SELECT id FROM customers WHERE external_id = ?1", [customer], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no customer with id \"{customer}\"")))?;
    let event_type = meter.event.clone().unwrap_or_else(|| meter.code.clone());
    let type_id: Option<i64> =
        conn.query_row("SELECT id FROM event_types WHERE name = ?1", [&event_type], |r| r.get(0)).optional()?;
    let Some(type_id) = type_id else { return Ok(Vec::new()) };
    // (time, chunk, position): events at one instant in the order they were imported.
    let mut located: Vec<(i64, i64, u32, UsageEvent)> = Vec::new();
    let mut failure = None;
    let (mut chunk_seen, mut position) = (-1, 0u32);
    event_store::scan(conn, customer_id, type_id, from.timestamp_millis(), to.timestamp_millis(), |chunk, e| {
        if chunk != chunk_seen {
            (chunk_seen, position) = (chunk, 0);
        }
        position += 1;
        match serde_json::from_str(e.properties) {
            Ok(properties) => located.push((e.ts_ms, chunk, position, UsageEvent { ts_ms: e.ts_ms, properties })),
            Err(err) => failure = Some(Error::Internal(format!("stored properties of event \"{}\": {err}", e.id))),
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    located.sort_unstable_by_key(|(ts, chunk, position, _)| (*ts, *chunk, *position));
    Ok(located.into_iter().map(|(_, _, _, e)| e).collect())
}

/// The value of meter `meter_code` for customer `customer` over `[from, to)`,
/// optionally for one group.
pub fn value(
    conn: &Connection,
    meter_code: &str,
    customer: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group: Option<&str>,
) -> Result<Decimal> {
    let (meter, events) = events_in(conn, meter_code, customer, from, to, group)?;
    aggregate(&meter, group, &events).map_err(|why| {
        Error::Overflow(format!("meter \"{meter_code}\" of customer \"{customer}\": {why}; check its usage"))
    })
}

/// One local day's value, for charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DayUsage {
    /// The day in the workspace zone, `YYYY-MM-DD`.
    pub day: String,
    pub value: Dec,
}

/// A meter's value for one calendar month of the workspace's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MonthUsage {
    pub value: Dec,
    /// The month day by day (each day aggregated on its own).
    pub days: Vec<DayUsage>,
    /// The month's bounds in UTC, half-open: [from, to).
    #[ts(type = "string")]
    pub from: DateTime<Utc>,
    #[ts(type = "string")]
    pub to: DateTime<Utc>,
}

/// Splits time-ordered events by local day of `month` and folds each day.
pub fn by_day(
    meter: &MeterFields,
    group: Option<&str>,
    tz: Tz,
    month: Month,
    events: &[UsageEvent],
) -> Result<Vec<DayUsage>> {
    let days: Vec<NaiveDate> = month.days().collect();
    let starts = days
        .iter()
        .map(|d| day_start(tz, *d).map(|t| t.timestamp_millis()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut buckets: Vec<Vec<&UsageEvent>> = days.iter().map(|_| Vec::new()).collect();
    for e in events {
        // The last day that starts at or before the event.
        let at = starts.partition_point(|&s| s <= e.ts_ms);
        if at > 0 {
            buckets[at - 1].push(e);
        }
    }
    days.iter()
        .zip(buckets)
        .map(|(d, events)| Ok(DayUsage { day: d.to_string(), value: Dec(aggregate(meter, group, events)?) }))
        .collect()
}

/// The value of a meter for one customer in calendar `month` of the workspace.
pub fn for_month(
    conn: &Connection,
    meter: &str,
    customer: &str,
    month: Month,
    group: Option<&str>,
) -> Result<MonthUsage> {
    let fields = meter::require(conn, meter)?.fields;
    month_of(conn, &fields, customer, month, group)
}

/// What a meter being edited would read for one customer in calendar month
/// `YYYY-MM`, before it is saved: its fields are validated (problems by field
/// name), nothing is written.
pub fn preview_month(
    conn: &Connection,
    meter: &MeterFields,
    customer: &str,
    month: Month,
    group: Option<&str>,
) -> Result<MonthUsage> {
    meter.validate().map_err(Error::Invalid)?;
    month_of(conn, meter, customer, month, group)
}

fn month_of(
    conn: &Connection,
    meter: &MeterFields,
    customer: &str,
    month: Month,
    group: Option<&str>,
) -> Result<MonthUsage> {
    let tz = crate::settings::zone(conn)?;
    let (from, to) = month.bounds(tz)?;
    let events = events_for(conn, meter, customer, from, to, group)?;
    let total = aggregate(meter, group, &events)
        .map_err(|why| Error::Overflow(format!("meter \"{}\" of customer \"{customer}\": {why}", meter.code)))?;
    let days = by_day(meter, group, tz, month, &events)?;
    Ok(MonthUsage { value: Dec(total), days, from, to })
}

/// Where a draft reads a meter's usage. Ranges always start and end at local
/// midnights of the workspace zone.
pub trait UsageSource {
    /// The meter's value for a customer over `[from, to)`, for one group or all.
    fn quantity(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Decimal>;

    /// The meter's value on each local day (in `tz`) of `[from, to)` that
    /// has usage, by group value: for `group` alone, or (none) for each group
    /// the meter splits by (events without the group property under none).
    /// What a line's cost is priced by day and model with (docs/billing.md
    /// "Costs and margin"). `from` and `to` are local midnights.
    fn daily(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        group: Option<&str>,
        tz: Tz,
    ) -> Result<Vec<GroupDays>>;

    /// Each event's amount, for a model that prices events one by one.
    fn amounts(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Vec<Decimal>>;
}

/// An event's value of the property `by` as groups compare it.
fn group_of(e: &UsageEvent, by: &str) -> Option<String> {
    let props = &e.properties;
    Properties::get(&props, by).and_then(|v| v.text()).map(|t| t.into_owned())
}

/// One group value's (none: not split, or events without it) days and values.
pub type GroupDays = (Option<String>, Vec<(NaiveDate, Decimal)>);

/// Meter, customer and range of one read.
type ReadKey = (String, String, DateTime<Utc>, DateTime<Utc>);

/// Reads every raw event of the range; keeps the last meter's events so the
/// charges on one meter's groups read them once.
pub struct RawEvents<'c> {
    conn: &'c Connection,
    cached: Option<(ReadKey, Vec<UsageEvent>)>,
}

impl<'c> RawEvents<'c> {
    pub fn new(conn: &'c Connection) -> RawEvents<'c> {
        RawEvents { conn, cached: None }
    }

    fn events(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<&[UsageEvent]> {
        let key = (meter.code.clone(), customer.to_string(), from, to);
        if self.cached.as_ref().is_none_or(|(k, _)| k != &key) {
            let events = events_for(self.conn, meter, customer, from, to, None)?;
            self.cached = Some((key, events));
        }
        Ok(self.cached.as_ref().map(|(_, e)| e.as_slice()).unwrap_or_default())
    }
}

impl UsageSource for RawEvents<'_> {
    fn quantity(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Decimal> {
        Ok(aggregate(meter, group, self.events(meter, customer, from, to)?)?)
    }

    fn amounts(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Vec<Decimal>> {
        Ok(amounts(meter, group, self.events(meter, customer, from, to)?))
    }

    fn daily(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        group: Option<&str>,
        tz: Tz,
    ) -> Result<Vec<GroupDays>> {
        let events = self.events(meter, customer, from, to)?;
        // The groups to price apart: the one asked for, or each value seen.
        let groups: Vec<Option<String>> = match (group, &meter.group_by) {
            (Some(g), _) => vec![Some(g.to_string())],
            (None, None) => vec![None],
            (None, Some(by)) => {
                let mut seen: Vec<Option<String>> = events.iter().map(|e| group_of(e, by)).collect();
                seen.sort();
                seen.dedup();
                seen
            }
        };
        let (first, end) = (from.with_timezone(&tz).date_naive(), to.with_timezone(&tz).date_naive());
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d < end).collect();
        let starts = days
            .iter()
            .map(|d| day_start(tz, *d).map(|t| t.timestamp_millis()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for g in groups {
            // Events without the group property: those of no group value (the
            // others are picked by `aggregate` itself).
            let of_group: std::borrow::Cow<[UsageEvent]> = match (&g, &meter.group_by) {
                (None, Some(by)) => events.iter().filter(|e| group_of(e, by).is_none()).cloned().collect(),
                _ => std::borrow::Cow::Borrowed(events),
            };
            let select = if meter.group_by.is_some() { g.as_deref() } else { None };
            let mut values = Vec::new();
            let mut at = 0;
            for (i, day) in days.iter().enumerate() {
                // Events are in time order: each day takes those before the next day's start.
                let next = starts.get(i + 1).copied().unwrap_or(i64::MAX);
                let end_at = at + of_group[at..].partition_point(|e| e.ts_ms < next);
                let value = aggregate(meter, select, &of_group[at..end_at])?;
                if !value.is_zero() {
                    values.push((*day, value));
                }
                at = end_at;
            }
            out.push((g, values));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::Aggregation;
    use serde_json::{Value, json};

    fn meter(aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        crate::meter::MeterFields::plain("m", aggregation, property)
    }

    fn events(rows: &[(i64, Value)]) -> Vec<UsageEvent> {
        rows.iter().map(|(ts, p)| UsageEvent { ts_ms: *ts, properties: p.as_object().unwrap().clone() }).collect()
    }

    #[test]
    fn days_are_local_days_each_folded_on_its_own() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let ms = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let rows = [
            (ms("2026-10-01T04:00:00Z"), json!({"gb": "5"})), // Oct 1, 00:00 local
            (ms("2026-10-01T20:00:00Z"), json!({"gb": "9"})),
            (ms("2026-10-02T03:59:59Z"), json!({"gb": "2"})), // still Oct 1 local
            (ms("2026-11-01T03:30:00Z"), json!({"gb": "7"})), // Oct 31, 23:30 local
        ];
        let max = meter(Aggregation::Max, Some("gb"));
        let days = by_day(&max, None, tz, crate::month("2026-10"), &events(&rows)).unwrap();
        assert_eq!(days.len(), 31);
        let shown: Vec<(String, String)> =
            days.iter().filter(|d| !d.value.0.is_zero()).map(|d| (d.day.clone(), d.value.to_string())).collect();
        assert_eq!(shown, [("2026-10-01".to_string(), "9".to_string()), ("2026-10-31".to_string(), "7".to_string())]);
        let count = meter(Aggregation::Count, None);
        let per_day = by_day(&count, None, tz, crate::month("2026-10"), &events(&rows)).unwrap();
        let total: Decimal = per_day.iter().map(|d| d.value.0).sum();
        assert_eq!(total, Decimal::from(4), "for counts the days add up to the month");
    }
}
