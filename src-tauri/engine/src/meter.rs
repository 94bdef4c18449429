//! Meters: how the usage events of one type aggregate per customer and period.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::stored::{Columns, located, time_text};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params_from_iter};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::settings::{MAX_TEXT_CHARS, required_text_problem};

pub const MAX_CODE_CHARS: usize = 64;
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

    fn parse(text: &str) -> Option<Aggregation> {
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

/// A stored meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Meter {
    #[serde(flatten)]
    #[ts(flatten)]
    pub fields: MeterFields,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

fn is_code(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// A code (of a meter, a plan): present, short, and a–z, 0–9, _ . - only.
pub(crate) fn code_problem(what: &str, code: &str, example: &str) -> Option<Problem> {
    required_text_problem("code", what, code, MAX_CODE_CHARS).or_else(|| {
        (!is_code(code))
            .then(|| Problem::new("code", format!("\"{code}\" must use a–z, 0–9, _ . or - (e.g. {example})")))
    })
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

const COLUMNS: &str = "code, name, unit, event_type, aggregation, property, filters, group_by, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Meter> {
    located(r, "meters", 0, fields_from_row)
}

fn fields_from_row(r: &Row) -> rusqlite::Result<Meter> {
    let code: String = r.get(0)?;
    let event_type: String = r.get(3)?;
    Ok(Meter {
        fields: MeterFields {
            event: (event_type != code).then_some(event_type),
            code,
            name: r.get(1)?,
            unit: r.get(2)?,
            aggregation: r.parsed(4, "an aggregation", Aggregation::parse)?,
            property: r.get(5)?,
            filters: r.parsed(6, "a JSON object of filters", |t| serde_json::from_str(t).ok())?,
            group_by: r.get(7)?,
        },
        created_at: r.time(8)?,
        updated_at: r.time(9)?,
    })
}

pub fn get(conn: &Connection, code: &str) -> Result<Option<Meter>> {
    let sql = format!("SELECT {COLUMNS} FROM meters WHERE code = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([code], from_row).optional()?)
}

/// The meter with this code, or a not-found error naming it.
pub fn require(conn: &Connection, code: &str) -> Result<Meter> {
    get(conn, code)?.ok_or_else(|| Error::NotFound(format!("no meter with code \"{code}\"")))
}

/// Every meter, ordered by code.
pub fn all(conn: &Connection) -> Result<Vec<Meter>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM meters ORDER BY code"))?;
    let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// ?1..?9 of the insert and update: code, name, unit, event type, aggregation,
/// property, filters, group-by, and the time of writing.
fn row_values(m: &ValidMeter, now: DateTime<Utc>) -> Result<[Value; 9]> {
    let filters = serde_json::to_string(&m.filters).map_err(|e| Error::Internal(e.to_string()))?;
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    Ok([
        Value::Text(m.code.clone()),
        Value::Text(m.name.clone()),
        text(&m.unit),
        Value::Text(m.event_type.clone()),
        Value::Text(m.aggregation.as_str().to_string()),
        text(&m.property),
        Value::Text(filters),
        text(&m.group_by),
        Value::Text(time_text(now)),
    ])
}

/// Whether events of the type this meter counts are stored.
fn has_events(conn: &Connection, meter: &MeterFields) -> Result<bool> {
    let event_type = meter.event.as_deref().unwrap_or(&meter.code);
    let stored: Option<i64> =
        conn.query_row("SELECT events FROM event_types WHERE name = ?1", [event_type], |r| r.get(0)).optional()?;
    Ok(stored.unwrap_or(0) > 0)
}

/// Inserts a new meter; a taken code is a conflict.
pub fn insert(conn: &Transaction, m: &ValidMeter, now: DateTime<Utc>) -> Result<()> {
    let result = conn.execute(
        "INSERT INTO meters (code, name, unit, event_type, aggregation, property, filters, group_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params_from_iter(row_values(m, now)?),
    );
    match result {
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Err(Error::Conflict(format!("a meter with code \"{}\" already exists", m.code)))
        }
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// Replaces a meter's definition; returns whether anything changed.
pub fn update(conn: &Transaction, m: &ValidMeter, now: DateTime<Utc>) -> Result<bool> {
    let current = get(conn, &m.code)?.ok_or_else(|| Error::NotFound(format!("no meter with code \"{}\"", m.code)))?;
    let wanted = m.to_fields();
    if current.fields == wanted {
        return Ok(false);
    }
    let computes = |f: &MeterFields| {
        (
            f.event.clone().unwrap_or_else(|| f.code.clone()),
            f.aggregation,
            f.property.clone(),
            f.filters.clone(),
            f.group_by.clone(),
        )
    };
    if computes(&current.fields) != computes(&wanted) && has_events(conn, &current.fields)? {
        return Err(Error::Conflict(format!(
            "meter \"{}\" already counts stored events: its event type, aggregation, property, filters and \
             group-by cannot change (create a new meter instead; name and unit can change)",
            m.code
        )));
    }
    conn.execute(
        "UPDATE meters SET name = ?2, unit = ?3, event_type = ?4, aggregation = ?5, property = ?6, filters = ?7,
             group_by = ?8, updated_at = ?9
         WHERE code = ?1",
        params_from_iter(row_values(m, now)?),
    )?;
    Ok(true)
}

/// Creates (`create`) or changes a meter from a form, under the same rules as a
/// catalog: every problem by field name; a meter counting stored events keeps
/// how it computes. Returns the stored meter.
pub fn save(conn: &rusqlite::Transaction, fields: &MeterFields, create: bool, now: DateTime<Utc>) -> Result<Meter> {
    let valid = fields.validate().map_err(Error::Invalid)?;
    if create {
        insert(conn, &valid, now)?;
    } else {
        update(conn, &valid, now)?;
    }
    get(conn, &valid.code)?.ok_or_else(|| Error::Internal(format!("meter \"{}\" was not stored", valid.code)))
}

/// A plain meter for tests: no unit, event type, filters or group.
#[cfg(test)]
pub(crate) fn test_meter(code: &str, aggregation: Aggregation, property: Option<&str>) -> MeterFields {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;

    use super::test_meter as meter;

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

    #[test]
    fn the_event_type_defaults_to_the_code_and_reads_back_unchanged() {
        let mut ws = Workspace::in_memory().unwrap();
        let mut tokens = meter("tokens", Aggregation::Sum, Some("tokens"));
        tokens.group_by = Some("model".into());
        tokens.unit = Some("token".into());
        let mut eu = meter("eu_calls", Aggregation::Count, None);
        eu.event = Some("api_calls".into());
        eu.filters = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        let now = DateTime::UNIX_EPOCH;
        for m in [&tokens, &eu] {
            ws.write(|tx| insert(tx, &m.validate().unwrap(), now)).unwrap();
        }
        let valid = tokens.validate().unwrap();
        assert_eq!(valid.event_type, "tokens");
        assert_eq!(get(ws.conn(), "tokens").unwrap().unwrap().fields, tokens);
        assert_eq!(get(ws.conn(), "eu_calls").unwrap().unwrap().fields, eu);
        assert!(!ws.write(|tx| update(tx, &valid, now)).unwrap(), "same definition: unchanged");
        let err = ws.write(|tx| insert(tx, &valid, now)).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Conflict);
        let codes: Vec<String> = all(ws.conn()).unwrap().into_iter().map(|m| m.fields.code).collect();
        assert_eq!(codes, ["eu_calls", "tokens"]);
    }

    #[test]
    fn the_database_refuses_a_property_less_sum() {
        let ws = Workspace::in_memory().unwrap();
        let err = ws.conn().execute(
            "INSERT INTO meters (code, name, event_type, aggregation, created_at, updated_at)
             VALUES ('t', 'T', 't', 'sum', '', '')",
            [],
        );
        assert!(err.is_err());
    }
}
