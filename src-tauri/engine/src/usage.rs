//! Usage: a meter's value for one customer over a half-open time range.
//!
//! Cost: one range read of the clustered `events` table, (customer, type,
//! [from, to)); no other customer's or month's events are read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::events::{decimal, filter_text, matches_filters};
use crate::meter::{self, Aggregation, MeterFields};

/// One stored event as the aggregation sees it.
pub struct UsageEvent {
    pub ts_ms: i64,
    pub properties: Map<String, Value>,
}

/// Folds events (in time order) into the meter's value, optionally for one
/// group of a grouped meter. Pure: the rules of DESIGN.md "Events and meters".
pub fn aggregate(meter: &MeterFields, group: Option<&str>, events: impl IntoIterator<Item = UsageEvent>) -> Decimal {
    let mut count = 0u64;
    let mut sum = Decimal::ZERO;
    let mut max: Option<Decimal> = None;
    let mut min: Option<Decimal> = None;
    let mut latest: Option<(i64, Decimal)> = None;
    let mut distinct: HashSet<String> = HashSet::new();
    for e in events {
        if !matches_filters(meter, &e.properties) {
            continue;
        }
        if let (Some(want), Some(group_by)) = (group, &meter.group_by)
            && e.properties.get(group_by).and_then(filter_text).as_deref() != Some(want)
        {
            continue;
        }
        let value = meter.property.as_ref().and_then(|p| e.properties.get(p));
        match meter.aggregation {
            Aggregation::Count => count += 1,
            Aggregation::UniqueCount => {
                if let Some(v) = value.and_then(filter_text) {
                    distinct.insert(v);
                }
            }
            Aggregation::Sum | Aggregation::Max | Aggregation::Min | Aggregation::Avg | Aggregation::Latest => {
                let Some(v) = value.and_then(decimal) else { continue };
                count += 1;
                sum += v;
                max = Some(max.map_or(v, |m| m.max(v)));
                min = Some(min.map_or(v, |m| m.min(v)));
                // Events come in time order; at the same instant the later one read wins.
                if latest.is_none_or(|(ts, _)| e.ts_ms >= ts) {
                    latest = Some((e.ts_ms, v));
                }
            }
        }
    }
    let value = match meter.aggregation {
        Aggregation::Count => Decimal::from(count),
        Aggregation::UniqueCount => Decimal::from(distinct.len() as u64),
        Aggregation::Sum => sum,
        Aggregation::Max => max.unwrap_or_default(),
        Aggregation::Min => min.unwrap_or_default(),
        Aggregation::Avg if count == 0 => Decimal::ZERO,
        Aggregation::Avg => sum / Decimal::from(count),
        Aggregation::Latest => latest.map(|(_, v)| v).unwrap_or_default(),
    };
    value.normalize()
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
    let meter = meter::get(conn, meter_code)?
        .ok_or_else(|| Error::NotFound(format!("no meter with code \"{meter_code}\"")))?
        .fields;
    if group.is_some() && meter.group_by.is_none() {
        return Err(Error::invalid("--group", format!("meter \"{meter_code}\" is not grouped")));
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
    let Some(type_id) = type_id else { return Ok(aggregate(&meter, group, [])) };
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, properties FROM events
         WHERE customer_id = ?1 AND type_id = ?2 AND ts_ms >= ?3 AND ts_ms < ?4
         ORDER BY ts_ms, id_key",
    )?;
    let rows = stmt.query_map(params![customer_id, type_id, from.timestamp_millis(), to.timestamp_millis()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (ts_ms, text) = row?;
        let properties = serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored properties: {e}")))?;
        events.push(UsageEvent { ts_ms, properties });
    }
    Ok(aggregate(&meter, group, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn meter(aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        MeterFields {
            code: "m".into(),
            name: "M".into(),
            unit: None,
            event: None,
            aggregation,
            property: property.map(str::to_string),
            filters: BTreeMap::new(),
            group_by: None,
        }
    }

    fn events(rows: &[(i64, Value)]) -> Vec<UsageEvent> {
        rows.iter().map(|(ts, p)| UsageEvent { ts_ms: *ts, properties: p.as_object().unwrap().clone() }).collect()
    }

    fn check(meter: &MeterFields, group: Option<&str>, rows: &[(i64, Value)], expected: &str) {
        let got = aggregate(meter, group, events(rows));
        assert_eq!(got.to_string(), expected, "{:?} group {group:?}", meter.aggregation);
    }

    #[test]
    fn each_aggregation_over_the_same_events() {
        let rows = [
            (1, json!({"gb": "12.5", "user": "u1", "model": "a", "region": "eu"})),
            (2, json!({"gb": 3, "user": "u2", "model": "b", "region": "us"})),
            (3, json!({"gb": "0.000002", "user": "u1", "model": "a", "region": "eu"})),
            (3, json!({"gb": "7", "user": 42, "model": "a"})),
        ];
        use Aggregation::*;
        for (aggregation, property, expected) in [
            (Count, None, "4"),
            (Sum, Some("gb"), "22.500002"),
            (Max, Some("gb"), "12.5"),
            (Min, Some("gb"), "0.000002"),
            (Avg, Some("gb"), "5.6250005"),
            (UniqueCount, Some("user"), "3"),
            (Latest, Some("gb"), "7"),
        ] {
            check(&meter(aggregation, property), None, &rows, expected);
        }
    }

    #[test]
    fn nothing_in_range_is_zero_for_every_aggregation() {
        use Aggregation::*;
        for (aggregation, property) in [
            (Count, None),
            (Sum, Some("x")),
            (Max, Some("x")),
            (Min, Some("x")),
            (Avg, Some("x")),
            (UniqueCount, Some("x")),
            (Latest, Some("x")),
        ] {
            check(&meter(aggregation, property), None, &[], "0");
        }
    }

    #[test]
    fn filters_and_groups_select_events() {
        let rows = [
            (1, json!({"tokens": "100", "model": "gpt-4o", "region": "eu"})),
            (2, json!({"tokens": "50", "model": "gpt-4o-mini", "region": "eu"})),
            (3, json!({"tokens": 7, "model": "gpt-4o", "region": "us"})),
            (4, json!({"tokens": "1", "region": "eu"})),
        ];
        let mut tokens = meter(Aggregation::Sum, Some("tokens"));
        tokens.group_by = Some("model".into());
        check(&tokens, None, &rows, "158");
        check(&tokens, Some("gpt-4o"), &rows, "107");
        check(&tokens, Some("gpt-4o-mini"), &rows, "50");
        check(&tokens, Some("claude"), &rows, "0");
        tokens.filters = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        check(&tokens, None, &rows, "151");
        check(&tokens, Some("gpt-4o"), &rows, "100");
        let mut numeric_filter = meter(Aggregation::Count, None);
        numeric_filter.filters = BTreeMap::from([("tokens".to_string(), "7".to_string())]);
        check(&numeric_filter, None, &rows, "1");
    }
}
