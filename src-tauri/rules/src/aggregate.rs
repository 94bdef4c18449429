//! Aggregation: which events a meter reads (its filters and group) and what
//! they come to (count, sum, max, min, avg, unique count, latest), folded in
//! an `Acc` that days and groups merge into in any order (docs/billing.md
//! "Events and meters"). The engine's event readers and its daily rollups
//! both fold through here, so the two can never disagree.

use std::borrow::Cow;
use std::collections::HashSet;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::meter::{Aggregation, MeterFields};
use crate::money::{Dec, Overflow};

/// An event's properties as a meter reads them, however they are held (a
/// CSV record, a JSON object).
pub trait Properties<'a> {
    /// The property named `key`, if present.
    fn get(&self, key: &str) -> Option<PropValue<'a>>;
}

impl<'a> Properties<'a> for &'a Map<String, Value> {
    fn get(&self, key: &str) -> Option<PropValue<'a>> {
        Map::get(self, key).map(PropValue::Json)
    }
}

/// One property value as the file gave it: CSV cells are text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PropValue<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> PropValue<'a> {
    /// The text a filter or group value is compared with: a string as is, a
    /// number or boolean as its JSON spelling; nothing for null, arrays and objects.
    pub fn text(self) -> Option<Cow<'a, str>> {
        match self {
            PropValue::Text(s) => Some(Cow::Borrowed(s)),
            PropValue::Json(Value::String(s)) => Some(Cow::Borrowed(s)),
            PropValue::Json(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            PropValue::Json(Value::Bool(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            PropValue::Json(Value::Null | Value::Array(_) | Value::Object(_)) => None,
        }
    }

    /// Null counts as absent.
    pub fn is_null(self) -> bool {
        matches!(self, PropValue::Json(Value::Null))
    }

    /// Whether [`PropValue::decimal`] reads a number here (plain digits are checked without parsing).
    pub fn is_number(self) -> bool {
        let digits = |s: &str| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            PropValue::Text(s) if digits(s) => true,
            PropValue::Json(Value::String(s)) if digits(s) => true,
            _ => self.decimal().is_some(),
        }
    }

    /// Whether a number here is at most [`MAX_EVENT_VALUE`] either way (plain
    /// digits are checked by their count).
    pub fn is_within_event_bound(self) -> bool {
        let digits = |s: &str| (1..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            PropValue::Text(s) if digits(s) => true,
            PropValue::Json(Value::String(s)) if digits(s) => true,
            _ => self.decimal().is_some_and(|d| d.abs() <= MAX_EVENT_VALUE),
        }
    }

    /// The value as an exact decimal: a number, or text holding a plain decimal.
    pub fn decimal(self) -> Option<rust_decimal::Decimal> {
        match self {
            PropValue::Text(s) => s.trim().parse::<Dec>().ok().map(|d| d.0),
            PropValue::Json(Value::String(s)) => s.trim().parse::<Dec>().ok().map(|d| d.0),
            PropValue::Json(Value::Number(n)) => n.to_string().parse::<Dec>().ok().map(|d| d.0),
            PropValue::Json(Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_)) => None,
        }
    }
}

impl std::fmt::Display for PropValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            PropValue::Text(s) => write!(f, "{}", Value::String((*s).to_string())),
            PropValue::Json(v) => write!(f, "{v}"),
        }
    }
}

/// The largest number one event may carry in a property a meter sums (either
/// way): 999,999,999,999,999. Far above any real usage (a quadrillion tokens),
/// and low enough that a customer's sums over billions of events stay far from
/// `Decimal`'s limit, so bad input cannot make a month impossible to bill.
pub const MAX_EVENT_VALUE: rust_decimal::Decimal = rust_decimal::Decimal::from_parts(0xA4C6_7FFF, 0x38D7E, 0, false, 0);

/// Whether an event's properties pass a meter's filters.
pub fn matches_filters<'a>(meter: &MeterFields, properties: &impl Properties<'a>) -> bool {
    meter.filters.iter().all(|(key, want)| {
        properties.get(key).and_then(|v| v.text()).is_some_and(|have| have.as_ref() == want.as_str())
    })
}

/// One stored event as the aggregation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub ts_ms: i64,
    pub properties: Map<String, Value>,
}

/// Whether the meter reads an event with these properties: it passes the
/// meter's filters and, given a group, is in it.
pub fn selects<'a>(meter: &MeterFields, group: Option<&str>, properties: &impl Properties<'a>) -> bool {
    if !matches_filters(meter, properties) {
        return false;
    }
    match (group, &meter.group_by) {
        (Some(want), Some(group_by)) => properties.get(group_by).and_then(|v| v.text()).as_deref() == Some(want),
        _ => true,
    }
}

/// A meter's aggregate in progress: what one day's rollup stores and what
/// days merge into, in any order. Each event comes with its place in the
/// store (`order`: chunk and position), which breaks ties of time for "latest".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acc {
    /// Events read (count), or events with a numeric value (the others).
    pub count: u64,
    pub sum: Decimal,
    pub max: Option<Decimal>,
    pub min: Option<Decimal>,
    /// (time in unix ms, order, value) of the latest numeric value.
    pub latest: Option<(i64, i64, Decimal)>,
    /// unique_count: the distinct values seen.
    pub distinct: HashSet<String>,
    /// The sum passed Decimal's range (only values stored before imports
    /// bounded them can): the value cannot be computed.
    pub overflowed: bool,
}

impl Acc {
    /// Adds one event the meter selects (see [`selects`]).
    pub fn add<'a>(&mut self, meter: &MeterFields, ts_ms: i64, order: i64, properties: &impl Properties<'a>) {
        let value = meter.property.as_ref().and_then(|p| properties.get(p));
        match meter.aggregation {
            Aggregation::Count => self.add_count(),
            Aggregation::UniqueCount => {
                if let Some(v) = value.and_then(|v| v.text()) {
                    self.add_distinct(v);
                }
            }
            Aggregation::Sum | Aggregation::Max | Aggregation::Min | Aggregation::Avg | Aggregation::Latest => {
                if let Some(v) = value.and_then(|v| v.decimal()) {
                    self.add_number(ts_ms, order, v);
                }
            }
        }
    }

    /// One more event counted (a count meter's event).
    pub fn add_count(&mut self) {
        self.count += 1;
    }

    /// One more value of a unique count.
    pub fn add_distinct(&mut self, value: Cow<'_, str>) {
        if !self.distinct.contains(value.as_ref()) {
            self.distinct.insert(value.into_owned());
        }
    }

    /// One more numeric value (sum, max, min, avg, latest), at its time and place.
    pub fn add_number(&mut self, ts_ms: i64, order: i64, v: Decimal) {
        self.count += 1;
        match self.sum.checked_add(v) {
            Some(sum) => self.sum = sum,
            None => self.overflowed = true,
        }
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        if self.latest.is_none_or(|(ts, o, _)| (ts_ms, order) > (ts, o)) {
            self.latest = Some((ts_ms, order, v));
        }
    }

    /// Merges another aggregate of the same meter (other days, other groups, later chunks).
    pub fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        match self.sum.checked_add(other.sum) {
            Some(sum) => self.sum = sum,
            None => self.overflowed = true,
        }
        self.overflowed |= other.overflowed;
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some((ts, order, v)) = other.latest
            && self.latest.is_none_or(|(t, o, _)| (ts, order) > (t, o))
        {
            self.latest = Some((ts, order, v));
        }
        self.distinct.extend(other.distinct.iter().cloned());
    }

    /// [`Acc::merge`], taking the other aggregate's distinct values instead of copying them.
    pub fn absorb(&mut self, mut other: Acc) {
        let distinct = std::mem::take(&mut other.distinct);
        self.merge(&other);
        if self.distinct.is_empty() {
            self.distinct = distinct;
        } else {
            self.distinct.extend(distinct);
        }
    }

    /// The meter's value; `Overflow` when a sum or average passed Decimal's range.
    pub fn value(&self, aggregation: Aggregation) -> Result<Decimal, Overflow> {
        if self.overflowed && matches!(aggregation, Aggregation::Sum | Aggregation::Avg) {
            return Err(Overflow);
        }
        let value = match aggregation {
            Aggregation::Count => Decimal::from(self.count),
            Aggregation::UniqueCount => Decimal::from(self.distinct.len() as u64),
            Aggregation::Sum => self.sum,
            Aggregation::Max => self.max.unwrap_or_default(),
            Aggregation::Min => self.min.unwrap_or_default(),
            Aggregation::Avg if self.count == 0 => Decimal::ZERO,
            Aggregation::Avg => self.sum / Decimal::from(self.count),
            Aggregation::Latest => self.latest.map(|(_, _, v)| v).unwrap_or_default(),
        };
        Ok(value.normalize())
    }
}

/// Folds events (in time order) into the meter's value, optionally for one
/// group of a grouped meter. Pure: the rules of docs/billing.md "Events and meters".
pub fn aggregate<'a>(
    meter: &MeterFields,
    group: Option<&str>,
    events: impl IntoIterator<Item = &'a UsageEvent>,
) -> Result<Decimal, Overflow> {
    let mut acc = Acc::default();
    for (order, e) in events.into_iter().enumerate() {
        let properties = &&e.properties;
        if selects(meter, group, properties) {
            acc.add(meter, e.ts_ms, order as i64, properties);
        }
    }
    acc.value(meter.aggregation)
}

/// Each event's amount (the meter's property; 1 for a meter without one),
/// after the meter's filters and the group: what a percentage prices.
pub fn amounts<'a>(
    meter: &MeterFields,
    group: Option<&str>,
    events: impl IntoIterator<Item = &'a UsageEvent>,
) -> Vec<Decimal> {
    let mut out = Vec::new();
    for e in events {
        let properties = &&e.properties;
        if !selects(meter, group, properties) {
            continue;
        }
        match &meter.property {
            Some(p) => out.extend(Properties::get(properties, p).and_then(|v| v.decimal())),
            None => out.push(Decimal::ONE),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meter(aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        MeterFields::plain("m", aggregation, property)
    }

    fn events(rows: &[(i64, Value)]) -> Vec<UsageEvent> {
        rows.iter().map(|(ts, p)| UsageEvent { ts_ms: *ts, properties: p.as_object().unwrap().clone() }).collect()
    }

    fn check(meter: &MeterFields, group: Option<&str>, rows: &[(i64, Value)], expected: &str) {
        let got = aggregate(meter, group, &events(rows)).unwrap();
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
    fn filters_and_groups_pick_the_events_a_meter_reads() {
        let rows = [
            (1, json!({"tokens": "1000", "model": "gpt-4o", "region": "eu"})),
            (2, json!({"tokens": 500, "model": "gpt-4o", "region": "us"})),
            (3, json!({"tokens": "250", "model": "mini", "region": "eu"})),
            (4, json!({"tokens": "7", "region": true})),
        ];
        let mut eu = meter(Aggregation::Sum, Some("tokens"));
        eu.filters.insert("region".into(), "eu".into());
        check(&eu, None, &rows, "1250");
        let mut by_model = meter(Aggregation::Sum, Some("tokens"));
        by_model.group_by = Some("model".into());
        check(&by_model, Some("gpt-4o"), &rows, "1500");
        check(&by_model, Some("mini"), &rows, "250");
        check(&by_model, None, &rows, "1757");
        // A boolean or number matches a filter by its JSON spelling.
        let mut flagged = meter(Aggregation::Count, None);
        flagged.filters.insert("region".into(), "true".into());
        check(&flagged, None, &rows, "1");
        // Each event's amount, for a percentage price.
        assert_eq!(amounts(&by_model, Some("gpt-4o"), &events(&rows)), [Decimal::from(1000), Decimal::from(500)]);
    }

    #[test]
    fn days_merged_in_any_order_give_the_whole() {
        let rows = [(1, json!({"x": "2"})), (2, json!({"x": "9"})), (3, json!({"x": "4"})), (4, json!({"x": "4"}))];
        for aggregation in [
            Aggregation::Sum,
            Aggregation::Max,
            Aggregation::Min,
            Aggregation::Avg,
            Aggregation::Latest,
            Aggregation::UniqueCount,
            Aggregation::Count,
        ] {
            let m = meter(aggregation, (aggregation != Aggregation::Count).then_some("x"));
            let all = events(&rows);
            let whole = aggregate(&m, None, &all).unwrap();
            let fold = |part: &[UsageEvent], offset: i64| {
                let mut acc = Acc::default();
                for (i, e) in part.iter().enumerate() {
                    acc.add(&m, e.ts_ms, offset + i as i64, &&e.properties);
                }
                acc
            };
            let (mut late, early) = (fold(&all[2..], 2), fold(&all[..2], 0));
            late.merge(&early);
            assert_eq!(late.value(aggregation).unwrap(), whole, "{aggregation:?}");
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
        tokens.filters = std::collections::BTreeMap::from([("region".to_string(), "eu".to_string())]);
        check(&tokens, None, &rows, "151");
        check(&tokens, Some("gpt-4o"), &rows, "100");
        let mut numeric_filter = meter(Aggregation::Count, None);
        numeric_filter.filters = std::collections::BTreeMap::from([("tokens".to_string(), "7".to_string())]);
        check(&numeric_filter, None, &rows, "1");
    }
}
