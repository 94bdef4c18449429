//! Meters as defined: the fields a catalog or form gives, validated into a
//! meter that cannot be wrong (docs/billing.md "Events and meters").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::text::{MAX_TEXT_CHARS, code_problem, required_text_problem};

pub use crate::text::MAX_CODE_CHARS;
pub const MAX_PROPERTY_CHARS: usize = 64;

/// How a meter turns a period's events into one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// How many events.
    Count,
    /// The sum of a numeric property.
    Sum,
    /// The largest value of a numeric property.
    Max,
    /// The smallest value of a numeric property.
    Min,
    /// The mean of a numeric property.
    Avg,
    /// How many distinct values a property takes (e.g. active users).
    UniqueCount,
    /// The value of a numeric property in the period's last event.
    Latest,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Max => "max",
            Aggregation::Min => "min",
            Aggregation::Avg => "avg",
            Aggregation::UniqueCount => "unique_count",
            Aggregation::Latest => "latest",
        }
    }

    pub fn parse(text: &str) -> Option<Aggregation> {
        [
            Aggregation::Count,
            Aggregation::Sum,
            Aggregation::Max,
            Aggregation::Min,
            Aggregation::Avg,
            Aggregation::UniqueCount,
            Aggregation::Latest,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }

    /// Whether the aggregation reads a property (all but `count`).
    pub fn needs_property(self) -> bool {
        match self {
            Aggregation::Count => false,
            Aggregation::Sum
            | Aggregation::Max
            | Aggregation::Min
            | Aggregation::Avg
            | Aggregation::UniqueCount
            | Aggregation::Latest => true,
        }
    }
}

/// A meter as written in a catalog or a form: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MeterFields {
    pub code: String,
    pub name: String,
    /// The unit printed next to quantities ("token", "GB").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The event type counted; absent means the meter's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub aggregation: Aggregation,
    /// The event property aggregated; required for all but `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Only events whose property equals the value count (compared as text:
    /// a number or boolean property matches its JSON spelling).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, String>,
    /// Splits the meter's value by this property (e.g. price per model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
}

/// A meter that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMeter {
    pub code: String,
    pub name: String,
    pub unit: Option<String>,
    pub event_type: String,
    pub aggregation: Aggregation,
    pub property: Option<String>,
    pub filters: BTreeMap<String, String>,
    pub group_by: Option<String>,
}

fn name_problems(field: &str, value: &str) -> Option<Problem> {
    if value.trim().is_empty() {
        Some(Problem::new(field, "must not be empty"))
    } else if value.chars().count() > MAX_PROPERTY_CHARS {
        Some(Problem::new(field, format!("at most {MAX_PROPERTY_CHARS} characters")))
    } else {
        None
    }
}

impl MeterFields {
    /// Validates the fields; problems are keyed by field name.
    pub fn validate(&self) -> std::result::Result<ValidMeter, Vec<Problem>> {
        let mut problems = Vec::new();
        let code = self.code.trim();
        problems.extend(code_problem("the meter code", code, "api_calls"));
        problems.extend(required_text_problem("name", "the meter name", &self.name, MAX_TEXT_CHARS));
        let event = self.event.as_deref().map(str::trim).unwrap_or(code);
        if self.event.is_some()
            && let Some(p) = required_text_problem("event", "the event type", event, MAX_CODE_CHARS)
        {
            problems.push(p);
        }
        let property = self.property.as_deref().map(str::trim);
        match (self.aggregation.needs_property(), property) {
            (true, None) => problems.push(Problem::new(
                "property",
                format!("{} needs the property it aggregates", self.aggregation.as_str()),
            )),
            (false, Some(_)) => problems.push(Problem::new("property", "count takes no property: remove it")),
            (true, Some(p)) => problems.extend(name_problems("property", p)),
            (false, None) => {}
        }
        if let Some(group_by) = &self.group_by {
            problems.extend(name_problems("group_by", group_by));
        }
        for (key, value) in &self.filters {
            problems.extend(name_problems(&format!("filters.{key}"), key));
            if value.is_empty() {
                problems.push(Problem::new(format!("filters.{key}"), "the value to match must not be empty"));
            }
        }
        if let Some(unit) = &self.unit
            && unit.chars().count() > 32
        {
            problems.push(Problem::new("unit", "at most 32 characters"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ValidMeter {
            code: code.to_string(),
            name: self.name.trim().to_string(),
            unit: self.unit.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string),
            event_type: event.to_string(),
            aggregation: self.aggregation,
            property: property.map(str::to_string),
            filters: self.filters.clone(),
            group_by: self.group_by.as_deref().map(str::trim).map(str::to_string),
        })
    }
}

impl MeterFields {
    /// The plainest meter of an aggregation: named after its code, no unit,
    /// event type, filters or group.
    pub fn plain(code: &str, aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        MeterFields {
            code: code.into(),
            name: format!("{code} meter"),
            unit: None,
            event: None,
            aggregation,
            property: property.map(str::to_string),
            filters: BTreeMap::new(),
            group_by: None,
        }
    }
}

impl ValidMeter {
    /// The fields as they would be read back: what "unchanged" compares against.
    pub fn to_fields(&self) -> MeterFields {
        MeterFields {
            code: self.code.clone(),
            name: self.name.clone(),
            unit: self.unit.clone(),
            event: (self.event_type != self.code).then(|| self.event_type.clone()),
            aggregation: self.aggregation,
            property: self.property.clone(),
            filters: self.filters.clone(),
            group_by: self.group_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(code: &str, aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        MeterFields::plain(code, aggregation, property)
    }

    fn check(input: MeterFields, expected: std::result::Result<(), &[&str]>) {
        let got = input.validate().map(|_| ()).map_err(|p| p.iter().map(|p| p.path.clone()).collect::<Vec<_>>());
        match expected {
            Ok(()) => assert!(got.is_ok(), "{input:?} should be valid: {got:?}"),
            Err(paths) => assert_eq!(got.unwrap_err(), paths, "{input:?}"),
        }
    }

    #[test]
    fn every_aggregation_but_count_needs_a_property() {
        use Aggregation::*;
        for (aggregation, property, expected) in [
            (Count, None, Ok(())),
            (Count, Some("tokens"), Err(&["property"][..])),
            (Sum, Some("tokens"), Ok(())),
            (Sum, None, Err(&["property"][..])),
            (Max, Some("gb"), Ok(())),
            (Max, None, Err(&["property"][..])),
            (Min, Some("gb"), Ok(())),
            (Min, None, Err(&["property"][..])),
            (Avg, Some("ms"), Ok(())),
            (Avg, None, Err(&["property"][..])),
            (UniqueCount, Some("user_id"), Ok(())),
            (UniqueCount, None, Err(&["property"][..])),
            (Latest, Some("gb"), Ok(())),
            (Latest, None, Err(&["property"][..])),
            (Sum, Some("  "), Err(&["property"][..])),
        ] {
            check(meter("m", aggregation, property), expected);
        }
    }

    #[test]
    fn codes_names_filters_and_groups_are_checked() {
        let ok = meter("api_calls", Aggregation::Count, None);
        check(ok.clone(), Ok(()));
        check(MeterFields { code: "API Calls".into(), ..ok.clone() }, Err(&["code"]));
        check(MeterFields { code: "".into(), ..ok.clone() }, Err(&["code"]));
        check(MeterFields { code: "x".repeat(65), ..ok.clone() }, Err(&["code"]));
        check(MeterFields { name: " ".into(), ..ok.clone() }, Err(&["name"]));
        check(MeterFields { event: Some("".into()), ..ok.clone() }, Err(&["event"]));
        check(MeterFields { group_by: Some("".into()), ..ok.clone() }, Err(&["group_by"]));
        let filters = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        check(MeterFields { filters, ..ok.clone() }, Ok(()));
        let empty_value = BTreeMap::from([("region".to_string(), "".to_string())]);
        check(MeterFields { filters: empty_value, ..ok.clone() }, Err(&["filters.region"]));
        check(MeterFields { unit: Some("u".repeat(33)), ..ok }, Err(&["unit"]));
    }
}
