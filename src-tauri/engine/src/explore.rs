//! The events explorer: stored events filtered by customer, event type (a
//! meter's) and time, a page at a time, for a virtualized list.
//!
//! Order: by customer, then event type, then time (ties in import order) —
//! the order of the chunk index, so a page reads only the chunks of the
//! (customer, type) groups it shows. Counting reads chunk metadata only,
//! decoding just the chunks a time bound cuts through.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::event_store;
use crate::meter;

/// Which events to list; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// A customer's external id.
    pub customer: Option<String>,
    /// A meter's code: its event type's events are listed (its property
    /// filters apply when it aggregates, not here).
    pub meter: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct EventRow {
    pub customer: String,
    pub event_type: String,
    #[ts(type = "string")]
    pub timestamp: DateTime<Utc>,
    pub id: String,
    /// A JSON object.
    pub properties: String,
    /// The import that stored it.
    pub import_id: i64,
    /// It arrived after its period was invoiced.
    pub late: bool,
}

/// A page of events and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct EventPage {
    pub total: u64,
    pub offset: u64,
    pub rows: Vec<EventRow>,
}

struct Chunk {
    id: i64,
    import_id: i64,
    late: bool,
    first_ms: i64,
    last_ms: i64,
    events: u64,
}

/// The chunks of one customer and type that the query reaches.
struct Group {
    customer_id: i64,
    type_id: i64,
    chunks: Vec<Chunk>,
    count: u64,
}

/// A bound of the explorer's time range: `YYYY-MM-DD` is that day's start in
/// `zone`; otherwise RFC 3339 with an offset, or unix seconds or milliseconds.
pub fn parse_bound(text: &str, zone: chrono_tz::Tz) -> std::result::Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return crate::period::day_start(zone, day).map_err(|e| e.to_string());
    }
    crate::event_file::parse_timestamp_text(text)
}

/// One page of the events matching `query`: rows `offset..offset + limit`.
pub fn page(conn: &Connection, query: &EventQuery, offset: u64, limit: usize) -> Result<EventPage> {
    let (from_ms, to_ms) =
        (query.from.map_or(i64::MIN, |t| t.timestamp_millis()), query.to.map_or(i64::MAX, |t| t.timestamp_millis()));
    if from_ms >= to_ms {
        return Err(Error::invalid("to", "the end of the range must come after its start"));
    }
    let empty = EventPage { total: 0, offset, rows: Vec::new() };
    let mut sql = String::from(
        "SELECT customer_id, type_id, id, first_ms, last_ms, events, import_id, late FROM event_chunks WHERE 1",
    );
    let mut args: Vec<i64> = Vec::new();
    if let Some(customer) = &query.customer {
        let id: Option<i64> =
            conn.query_row("SELECT id FROM customers WHERE external_id = ?1", [customer], |r| r.get(0)).optional()?;
        let id = id.ok_or_else(|| Error::NotFound(format!("no customer with id \"{customer}\"")))?;
        sql.push_str(" AND customer_id = ?");
        args.push(id);
    }
    if let Some(code) = &query.meter {
        let m = meter::require(conn, code)?;
        let name = m.fields.event.unwrap_or(m.fields.code);
        let Some(type_id) =
            conn.query_row("SELECT id FROM event_types WHERE name = ?1", [&name], |r| r.get::<_, i64>(0)).optional()?
        else {
            return Ok(empty);
        };
        sql.push_str(" AND type_id = ?");
        args.push(type_id);
    }
    if query.from.is_some() {
        sql.push_str(" AND last_ms >= ?");
        args.push(from_ms);
    }
    if query.to.is_some() {
        sql.push_str(" AND first_ms < ?");
        args.push(to_ms);
    }
    sql.push_str(" ORDER BY customer_id, type_id, day, id");

    // The groups, counted: chunks inside the range by their metadata, the ones a bound cuts by decoding.
    let mut groups: Vec<Group> = Vec::new();
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let (customer_id, type_id) = (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?);
        let chunk = Chunk {
            id: r.get(2)?,
            first_ms: r.get(3)?,
            last_ms: r.get(4)?,
            events: r.get::<_, i64>(5)? as u64,
            import_id: r.get(6)?,
            late: r.get(7)?,
        };
        if groups.last().is_none_or(|g| (g.customer_id, g.type_id) != (customer_id, type_id)) {
            groups.push(Group { customer_id, type_id, chunks: Vec::new(), count: 0 });
        }
        let group = groups.last_mut().expect("pushed above");
        group.count += if chunk.first_ms >= from_ms && chunk.last_ms < to_ms {
            chunk.events
        } else {
            let mut n = 0;
            decode_chunk(conn, chunk.id, |ts, _| n += u64::from((from_ms..to_ms).contains(&ts)))?;
            n
        };
        group.chunks.push(chunk);
    }
    drop(rows);
    let total = groups.iter().map(|g| g.count).sum();

    let mut names: HashMap<(&str, i64), String> = HashMap::new();
    let mut name = |table: &'static str, id: i64| -> Result<String> {
        if let Some(n) = names.get(&(table, id)) {
            return Ok(n.clone());
        }
        let sql = if table == "customers" {
            "SELECT external_id FROM customers WHERE id = ?1"
        } else {
            "SELECT name FROM event_types WHERE id = ?1"
        };
        let n: String = conn.query_row(sql, [id], |r| r.get(0))?;
        names.insert((table, id), n.clone());
        Ok(n)
    };
    let mut page = Vec::with_capacity(limit);
    let mut skip = offset;
    for group in &groups {
        if page.len() == limit {
            break;
        }
        if skip >= group.count {
            skip -= group.count;
            continue;
        }
        // The group's events in time order (ties in import order), then the page's slice of them.
        let mut events: Vec<(i64, i64, usize, String, String, &Chunk)> = Vec::new();
        for chunk in &group.chunks {
            let mut at = 0;
            decode_chunk(conn, chunk.id, |ts, e| {
                at += 1;
                if (from_ms..to_ms).contains(&ts) {
                    events.push((ts, chunk.id, at, e.id.to_string(), e.properties.to_string(), chunk));
                }
            })?;
        }
        events.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        let (customer, event_type) = (name("customers", group.customer_id)?, name("event_types", group.type_id)?);
        for (ts, _, _, id, properties, chunk) in events.into_iter().skip(skip as usize).take(limit - page.len()) {
            let timestamp = DateTime::from_timestamp_millis(ts)
                .ok_or_else(|| Error::Internal(format!("a stored time is out of range: {ts}")))?;
            page.push(EventRow {
                customer: customer.clone(),
                event_type: event_type.clone(),
                timestamp,
                id,
                properties,
                import_id: chunk.import_id,
                late: chunk.late,
            });
        }
        skip = 0;
    }
    Ok(EventPage { total, offset, rows: page })
}

fn decode_chunk(conn: &Connection, id: i64, mut f: impl FnMut(i64, event_store::StoredEvent<'_>)) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT data FROM event_chunks WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    let row = rows.next()?.ok_or_else(|| Error::Internal(format!("event chunk {id} is gone")))?;
    let data = row.get_ref(0)?.as_blob().map_err(|e| Error::Internal(format!("event_chunks: {e}")))?;
    event_store::decode(data, |e| f(e.ts_ms, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_file::Format;
    use crate::events::{ImportOptions, import};
    use crate::{Workspace, catalog};
    use chrono::TimeZone;
    use std::ops::ControlFlow;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    fn workspace() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        let text = r#"{ "workspace": { "timezone": "America/New_York" },
            "customers": [ { "id": "globex", "name": "Globex" }, { "id": "initech", "name": "Initech" } ],
            "meters": [ { "code": "api_calls", "name": "API calls", "aggregation": "count" },
                        { "code": "eu_calls", "name": "EU", "aggregation": "count", "event": "api_calls", "filters": { "r": "eu" } },
                        { "code": "gb", "name": "GB", "aggregation": "max", "property": "gb" },
                        { "code": "unused", "name": "Unused", "aggregation": "count" } ] }"#;
        ws.write(|tx| catalog::apply(tx, catalog::parse(text)?, now())).unwrap();
        // Two imports whose times interleave, in small batches: many chunks per group.
        for (file, rows) in [
            (
                "a.csv",
                "a1,globex,api_calls,2026-10-01T10:00:00Z,eu,\na3,globex,api_calls,2026-10-03T10:00:00Z,us,\na5,initech,api_calls,2026-10-05T10:00:00Z,eu,\ng1,globex,gb,2026-10-02T00:00:00Z,,5\n",
            ),
            (
                "b.csv",
                "b2,globex,api_calls,2026-10-02T10:00:00Z,eu,\nb4,globex,api_calls,2026-10-04T10:00:00Z,eu,\nb9,globex,api_calls,2026-10-09T10:00:00Z,eu,\n",
            ),
        ] {
            let mut options = ImportOptions::new(file, Format::Csv);
            options.batch_size = 2;
            let text = format!("id,customer,type,timestamp,r,gb\n{rows}");
            import(&mut ws, text.as_bytes(), &options, now(), &mut |_| ControlFlow::Continue(())).unwrap();
        }
        ws
    }

    fn ids(page: &EventPage) -> Vec<&str> {
        page.rows.iter().map(|r| r.id.as_str()).collect()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn events_list_by_customer_type_and_time_a_page_at_a_time() {
        let ws = workspace();
        let all = page(ws.conn(), &EventQuery::default(), 0, 100).unwrap();
        // globex's api_calls in time order across both imports, then its gb, then initech.
        assert_eq!(ids(&all), ["a1", "b2", "a3", "b4", "b9", "g1", "a5"]);
        assert_eq!(all.total, 7);
        assert_eq!((all.rows[0].customer.as_str(), all.rows[0].event_type.as_str()), ("globex", "api_calls"));
        assert_eq!(all.rows[0].properties, r#"{"r":"eu"}"#);
        for (offset, limit, expected) in
            [(0, 3, vec!["a1", "b2", "a3"]), (3, 3, vec!["b4", "b9", "g1"]), (6, 3, vec!["a5"]), (9, 3, vec![])]
        {
            let p = page(ws.conn(), &EventQuery::default(), offset, limit).unwrap();
            assert_eq!((ids(&p), p.total), (expected, 7), "offset {offset}");
        }
        let q = EventQuery {
            customer: Some("globex".into()),
            meter: Some("eu_calls".into()),
            from: Some(utc("2026-10-02T10:00:00Z")),
            to: Some(utc("2026-10-09T10:00:00Z")),
        };
        let p = page(ws.conn(), &q, 0, 100).unwrap();
        assert_eq!(
            (ids(&p), p.total),
            (vec!["b2", "a3", "b4"], 3),
            "the meter's type, [from, to), cut chunks counted exactly"
        );
        let p = page(ws.conn(), &EventQuery { meter: Some("unused".into()), ..EventQuery::default() }, 0, 10).unwrap();
        assert_eq!(p.total, 0);
        let err = page(ws.conn(), &EventQuery { customer: Some("hooli".into()), ..EventQuery::default() }, 0, 10)
            .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotFound);
    }

    #[test]
    fn a_bound_may_be_a_local_day() {
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(parse_bound("2026-10-01", ny).unwrap(), utc("2026-10-01T04:00:00Z"));
        assert_eq!(parse_bound("2026-10-01T00:00:00Z", ny).unwrap(), utc("2026-10-01T00:00:00Z"));
        assert!(parse_bound("October", ny).is_err());
    }
}
