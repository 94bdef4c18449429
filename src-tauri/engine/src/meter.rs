//! Meters: how the usage events of one type aggregate per customer and period.

use chrono::{DateTime, Utc};

use crate::stored::{Columns, located, time_text};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params_from_iter};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};

pub use meterdesk_rules::meter::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;

    fn meter(code: &str, aggregation: Aggregation, property: Option<&str>) -> MeterFields {
        MeterFields::plain(code, aggregation, property)
    }

    #[test]
    fn the_event_type_defaults_to_the_code_and_reads_back_unchanged() {
        let mut ws = Workspace::in_memory().unwrap();
        let mut tokens = meter("tokens", Aggregation::Sum, Some("tokens"));
        tokens.group_by = Some("model".into());
        tokens.unit = Some("token".into());
        let mut eu = meter("eu_calls", Aggregation::Count, None);
        eu.event = Some("api_calls".into());
        eu.filters = std::collections::BTreeMap::from([("region".to_string(), "eu".to_string())]);
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
