//! Daily rollups: each meter's partial aggregate ([`Acc`]) per customer, local
//! day of the workspace zone and group value, so that a bill preview reads at
//! most one row per day instead of every event.
//!
//! The rollups are derived data, kept in step with the append-only event
//! chunks by [`refresh`]: it folds the chunks written since the last refresh
//! into the days they touch (in chunk order, so "latest" ties resolve as the
//! raw path does). A meter whose computation or the workspace zone changed is
//! rebuilt from all its chunks. Billing periods and subscriptions start and
//! end at local midnights, so whole days are all a draft needs.
//!
//! Cost: a refresh decodes each new event once; a read is one index range per
//! (meter, customer) over the period's days.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::event_file::Props;
use crate::event_store;
use crate::meter::{self, MeterFields};
use crate::usage::{Acc, selects};

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// A local date as the rollups number it: days since 1970-01-01.
pub fn day_number(d: NaiveDate) -> i64 {
    (d - epoch()).num_days()
}

/// The group key of a group value: '' when the meter is not grouped or the
/// event has no group value, else '=' and the value.
fn group_key(value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!("={v}"))
}

/// Reads only the properties some meter of an event type needs (its property,
/// filters and group), skipping the rest unparsed: the same values a full
/// parse gives for those keys, without building the others.
struct Needed<'k>(&'k HashSet<String>);

impl<'de> serde::de::DeserializeSeed<'de> for Needed<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Needed<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.0.contains(key.as_ref()) {
                let value: Value = map.next_value()?;
                out.insert(key.into_owned(), value);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// The properties of one stored event that `needed` names.
fn parse_needed(text: &str, needed: &HashSet<String>) -> serde_json::Result<Map<String, Value>> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let map = Needed(needed).deserialize(&mut de)?;
    de.end()?;
    Ok(map)
}

/// What a meter's rollups depend on: how it computes, and the zone.
fn signature(meter: &MeterFields, zone: &str) -> String {
    let how = serde_json::json!([
        meter.event.as_deref().unwrap_or(&meter.code),
        meter.aggregation.as_str(),
        meter.property,
        meter.filters,
        meter.group_by
    ]);
    format!("{zone} {how}")
}

/// Local days of one zone, remembering the last day looked up (events come in
/// time order within a chunk).
struct Days {
    tz: Tz,
    /// [start, end) in unix ms, and the day's number.
    current: Option<(i64, i64, i64)>,
}

impl Days {
    fn of(&mut self, ts_ms: i64) -> Result<i64> {
        if let Some((start, end, day)) = self.current
            && (start..end).contains(&ts_ms)
        {
            return Ok(day);
        }
        let local = self
            .tz
            .timestamp_millis_opt(ts_ms)
            .single()
            .ok_or_else(|| Error::Internal(format!("event time {ts_ms} is out of range")))?
            .date_naive();
        let next = local.succ_opt().ok_or_else(|| Error::Internal("a date is out of range".into()))?;
        let start = crate::period::day_start(self.tz, local)?.timestamp_millis();
        let end = crate::period::day_start(self.tz, next)?.timestamp_millis();
        let day = day_number(local);
        self.current = Some((start, end, day));
        Ok(day)
    }
}

/// (meter id, customer id, local day), then the day's aggregate per group key.
type DayKey = (i64, i64, i64);
type Fresh = HashMap<DayKey, Vec<(String, Acc)>, event_store::BuildFastHasher>;

/// What [`refresh`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Meters rebuilt from all their chunks (new, changed, or a new zone).
    pub rebuilt: u32,
    /// Events decoded.
    pub events: u64,
    /// Day rows written.
    pub days: u64,
}

/// Brings every meter's rollups up to the last stored chunk, in the caller's
/// transaction.
pub fn refresh(conn: &Transaction, tz: Tz) -> Result<Refreshed> {
    refresh_split(conn, tz, 64)
}

/// How many bytes of stored chunks are read before they are decoded.
const BLOCK_BYTES: usize = 32 << 20;

/// What one thread of [`refresh`] aggregates: the days of the chunks it decoded.
struct Aggregator<'a> {
    meters: &'a [(i64, MeterFields, i64)],
    needed: &'a HashSet<String>,
    days: Days,
    fresh: Fresh,
    events: u64,
}

impl<'a> Aggregator<'a> {
    fn new(meters: &'a [(i64, MeterFields, i64)], needed: &'a HashSet<String>, tz: Tz) -> Aggregator<'a> {
        Aggregator { meters, needed, days: Days { tz, current: None }, fresh: HashMap::default(), events: 0 }
    }

    /// Adds one stored chunk's events to the days of the meters behind it.
    fn chunk(&mut self, chunk: i64, customer: i64, data: &[u8]) -> Result<()> {
        let parse = !self.needed.is_empty();
        let empty = Map::new();
        let mut failure = None;
        let mut position = 0i64;
        event_store::decode(data, |e| {
            if failure.is_some() {
                return;
            }
            self.events += 1;
            position += 1;
            // The raw path's order: chunk, then place in the chunk.
            let order = chunk * (1 << 16) + position;
            let map: Map<String, Value>;
            let properties = if parse {
                match parse_needed(e.properties, self.needed) {
                    Ok(m) => {
                        map = m;
                        Props::Json(&map)
                    }
                    Err(err) => {
                        failure = Some(Error::Internal(format!("stored properties of event \"{}\": {err}", e.id)));
                        return;
                    }
                }
            } else {
                Props::Json(&empty)
            };
            let day = match self.days.of(e.ts_ms) {
                Ok(d) => d,
                Err(err) => {
                    failure = Some(err);
                    return;
                }
            };
            for (id, m, through) in self.meters {
                if chunk <= *through || !selects(m, None, &properties) {
                    continue;
                }
                let value = m.group_by.as_ref().and_then(|g| properties.get(g)).and_then(|v| v.text());
                let want = value.as_deref();
                let groups = self.fresh.entry((*id, customer, day)).or_default();
                let at = match groups.iter().position(|(k, _)| k.strip_prefix('=') == want) {
                    Some(at) => at,
                    None => {
                        groups.push((group_key(want), Acc::default()));
                        groups.len() - 1
                    }
                };
                groups[at].1.add(m, e.ts_ms, order, &properties);
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Merges what it aggregated into `fresh`.
    fn into(self, fresh: &mut Fresh, done: &mut Refreshed) {
        done.events += self.events;
        if fresh.is_empty() {
            *fresh = self.fresh;
            return;
        }
        for (key, groups) in self.fresh {
            match fresh.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(groups);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let into = o.get_mut();
                    for (group, acc) in groups {
                        match into.iter_mut().find(|(g, _)| *g == group) {
                            Some((_, a)) => a.merge(&acc),
                            None => into.push((group, acc)),
                        }
                    }
                }
            }
        }
    }
}

/// [`refresh`], a block of `split_from` chunks or more decoded on two cores.
pub(crate) fn refresh_split(conn: &Transaction, tz: Tz, split_from: usize) -> Result<Refreshed> {
    let mut done = Refreshed::default();
    let last_chunk: i64 =
        conn.prepare_cached("SELECT coalesce(max(id), 0) FROM event_chunks")?.query_row([], |r| r.get(0))?;
    let ids: HashMap<String, i64> = conn
        .prepare_cached("SELECT code, id FROM meters")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // (meter id, fields, built through) of the meters behind the last chunk, by event type.
    let mut behind: HashMap<String, Vec<(i64, MeterFields, i64)>> = HashMap::new();
    // Meters rebuilt from nothing have no stored days to merge with.
    let mut from_scratch: HashSet<i64> = HashSet::new();
    for m in meter::all(conn)? {
        let id =
            *ids.get(&m.fields.code).ok_or_else(|| Error::Internal(format!("meter {} has no id", m.fields.code)))?;
        let sig = signature(&m.fields, tz.name());
        let state: Option<(i64, String)> = conn
            .prepare_cached("SELECT through_chunk, signature FROM usage_days_state WHERE meter_id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let through = match state {
            Some((through, s)) if s == sig => through,
            other => {
                if other.is_some() {
                    done.rebuilt += 1;
                }
                conn.execute("DELETE FROM usage_days WHERE meter_id = ?1", [id])?;
                conn.execute(
                    "INSERT INTO usage_days_state (meter_id, through_chunk, signature) VALUES (?1, 0, ?2)
                     ON CONFLICT (meter_id) DO UPDATE SET through_chunk = 0, signature = ?2",
                    params![id, sig],
                )?;
                0
            }
        };
        if through == 0 {
            from_scratch.insert(id);
        }
        if through < last_chunk {
            let event_type = m.fields.event.clone().unwrap_or_else(|| m.fields.code.clone());
            behind.entry(event_type).or_default().push((id, m.fields, through));
        }
    }
    let mut fresh: Fresh = HashMap::default();
    for (event_type, meters) in &behind {
        let type_id: Option<i64> =
            conn.query_row("SELECT id FROM event_types WHERE name = ?1", [event_type], |r| r.get(0)).optional()?;
        let Some(type_id) = type_id else { continue };
        let from = meters.iter().map(|(_, _, through)| *through).min().unwrap_or(0);
        // The properties the meters read (none for plain counts).
        let needed: HashSet<String> = meters
            .iter()
            .flat_map(|(_, m, _)| m.property.iter().chain(m.filters.keys()).chain(m.group_by.iter()).cloned())
            .collect();
        let mut stmt = conn.prepare(
            "SELECT id, customer_id, data FROM event_chunks WHERE id > ?1 AND id <= ?2 AND type_id = ?3 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![from, last_chunk, type_id])?;
        // Chunks are read in blocks; a block of many is decoded on two cores,
        // each taking half of the customers into its own days, merged after.
        let mut block: Vec<(i64, i64, Vec<u8>)> = Vec::new();
        let mut bytes = 0usize;
        loop {
            let row = rows.next()?;
            if let Some(row) = row {
                let data = row.get_ref(2)?.as_blob().map_err(|e| Error::Internal(format!("event_chunks: {e}")))?;
                bytes += data.len();
                block.push((row.get(0)?, row.get(1)?, data.to_vec()));
                if bytes < BLOCK_BYTES {
                    continue;
                }
            }
            if block.is_empty() {
                break;
            }
            let aggregator = || Aggregator::new(meters, &needed, tz);
            if block.len() < split_from.max(2) {
                let mut one = aggregator();
                for (chunk, customer, data) in &block {
                    one.chunk(*chunk, *customer, data)?;
                }
                one.into(&mut fresh, &mut done);
            } else {
                // Split by customer, so that the two halves' days never share a key.
                let run = |odd: i64| -> Result<Aggregator> {
                    let mut a = aggregator();
                    for (chunk, customer, data) in block.iter().filter(|(_, c, _)| c.rem_euclid(2) == odd) {
                        a.chunk(*chunk, *customer, data)?;
                    }
                    Ok(a)
                };
                let (mine, theirs) = std::thread::scope(|s| {
                    let other = s.spawn(|| run(1));
                    (run(0), other.join().unwrap_or_else(|_| Err(Error::Internal("decoding usage failed".into()))))
                });
                mine?.into(&mut fresh, &mut done);
                theirs?.into(&mut fresh, &mut done);
            }
            block.clear();
            bytes = 0;
            if row.is_none() {
                break;
            }
        }
    }
    done.days = fresh.values().map(|g| g.len() as u64).sum();
    merge_into_store(conn, fresh, &from_scratch)?;
    conn.execute("UPDATE usage_days_state SET through_chunk = ?1 WHERE through_chunk < ?1", [last_chunk])?;
    Ok(done)
}

fn blob(d: Decimal) -> Vec<u8> {
    d.serialize().to_vec()
}

fn decimal(bytes: Option<&[u8]>) -> rusqlite::Result<Option<Decimal>> {
    bytes
        .map(|b| {
            let raw: [u8; 16] = b.try_into().map_err(|_| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, "not a decimal".into())
            })?;
            Ok(Decimal::deserialize(raw))
        })
        .transpose()
}

fn acc_from_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Acc> {
    let distinct: Option<String> = r.get(at + 7)?;
    let sum = decimal(Some(r.get_ref(at + 1)?.as_blob()?))?.unwrap_or_default();
    Ok(Acc {
        count: r.get::<_, i64>(at)? as u64,
        overflowed: sum == Decimal::MAX,
        sum,
        max: decimal(r.get_ref(at + 2)?.as_blob_or_null()?)?,
        min: decimal(r.get_ref(at + 3)?.as_blob_or_null()?)?,
        latest: match (
            r.get::<_, Option<i64>>(at + 4)?,
            r.get::<_, Option<i64>>(at + 5)?,
            decimal(r.get_ref(at + 6)?.as_blob_or_null()?)?,
        ) {
            (Some(ts), Some(order), Some(v)) => Some((ts, order, v)),
            _ => None,
        },
        distinct: match distinct {
            Some(text) => serde_json::from_str::<HashSet<String>>(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(at + 7, rusqlite::types::Type::Text, Box::new(e))
            })?,
            None => HashSet::new(),
        },
    })
}

/// Merges new day aggregates with the stored ones (none for meters in `from_scratch`).
fn merge_into_store(conn: &Transaction, fresh: Fresh, from_scratch: &HashSet<i64>) -> Result<()> {
    let mut read = conn.prepare_cached(
        "SELECT count, sum, max, min, latest_ms, latest_order, latest, distinct_values FROM usage_days
         WHERE meter_id = ?1 AND customer_id = ?2 AND day = ?3 AND grp = ?4",
    )?;
    let mut write = conn.prepare_cached(
        "INSERT OR REPLACE INTO usage_days (meter_id, customer_id, day, grp, count, sum, max, min, latest_ms,
         latest_order, latest, distinct_values) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    let mut rows: Vec<(DayKey, Vec<(String, Acc)>)> = fresh.into_iter().collect();
    rows.sort_unstable_by_key(|(k, _)| *k);
    for ((meter, customer, day), groups) in &rows {
        for (grp, new) in groups {
            let stored = if from_scratch.contains(meter) {
                None
            } else {
                read.query_row(params![meter, customer, day, grp], |r| acc_from_row(r, 0)).optional()?
            };
            let acc = match stored {
                Some(mut old) => {
                    old.merge(new);
                    old
                }
                None => new.clone(),
            };
            let distinct = if acc.distinct.is_empty() {
                None
            } else {
                let mut values: Vec<&String> = acc.distinct.iter().collect();
                values.sort_unstable();
                Some(serde_json::to_string(&values).map_err(|e| Error::Internal(e.to_string()))?)
            };
            write.execute(params![
                meter,
                customer,
                day,
                grp,
                acc.count as i64,
                // An overflowed sum is stored as Decimal::MAX, which no real sum reaches.
                blob(if acc.overflowed { Decimal::MAX } else { acc.sum }),
                acc.max.map(blob),
                acc.min.map(blob),
                acc.latest.map(|(ts, _, _)| ts),
                acc.latest.map(|(_, order, _)| order),
                acc.latest.map(|(_, _, v)| blob(v)),
                distinct
            ])?;
        }
    }
    Ok(())
}

/// The group values a meter has seen (for one customer, or any), in order: what
/// a group is picked from instead of typed. At most `limit`.
pub fn groups_seen(conn: &Connection, meter: &str, customer: Option<&str>, limit: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT substr(u.grp, 2) FROM usage_days u JOIN meters m ON m.id = u.meter_id
         JOIN customers c ON c.id = u.customer_id
         WHERE m.code = ?1 AND u.grp <> '' AND (?2 IS NULL OR c.external_id = ?2) ORDER BY 1 LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![meter, customer, limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The rollups of one meter for a customer over local days `[from, to)`: one
/// aggregate per group key.
pub fn read(
    conn: &Connection,
    meter_id: i64,
    customer_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<HashMap<String, Acc>> {
    let mut stmt = conn.prepare_cached(
        "SELECT grp, count, sum, max, min, latest_ms, latest_order, latest, distinct_values FROM usage_days
         WHERE meter_id = ?1 AND customer_id = ?2 AND day >= ?3 AND day < ?4 ORDER BY day",
    )?;
    let mut rows = stmt.query(params![meter_id, customer_id, day_number(from), day_number(to)])?;
    let mut out: HashMap<String, Acc> = HashMap::new();
    while let Some(row) = rows.next()? {
        let grp: String = row.get(0)?;
        let acc = acc_from_row(row, 1)?;
        out.entry(grp).or_default().merge(&acc);
    }
    Ok(out)
}

/// One meter's value on each local day of `[from, to)` that has usage, for a
/// customer: for one group, or all groups together.
pub fn by_day(
    conn: &Connection,
    meter: &MeterFields,
    meter_id: i64,
    customer_id: i64,
    (from, to): (NaiveDate, NaiveDate),
    group: Option<&str>,
) -> Result<Vec<(NaiveDate, Decimal)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, grp, count, sum, max, min, latest_ms, latest_order, latest, distinct_values FROM usage_days
         WHERE meter_id = ?1 AND customer_id = ?2 AND day >= ?3 AND day < ?4 ORDER BY day",
    )?;
    let wanted = group.map(|g| group_key(Some(g)));
    let mut rows = stmt.query(params![meter_id, customer_id, day_number(from), day_number(to)])?;
    let mut days: Vec<(i64, Acc)> = Vec::new();
    while let Some(row) = rows.next()? {
        let day: i64 = row.get(0)?;
        let grp: String = row.get(1)?;
        if wanted.as_ref().is_some_and(|w| *w != grp) {
            continue;
        }
        let acc = acc_from_row(row, 2)?;
        match days.last_mut() {
            Some((d, a)) if *d == day => a.merge(&acc),
            _ => days.push((day, acc)),
        }
    }
    Ok(days
        .into_iter()
        .map(|(day, acc)| Ok((epoch() + chrono::Days::new(day.max(0) as u64), acc.value(meter.aggregation)?)))
        .collect::<std::result::Result<_, crate::money::Overflow>>()?)
}

/// Meter id, customer id and local days of one read.
type Read = (i64, i64, NaiveDate, NaiveDate);

/// A (group key, local day)'s fold of a meter's usage.
type DayFold = (String, i64, Acc);

/// A [`crate::usage::UsageSource`] on the rollups; a price that needs each
/// event's amount (a percentage) reads the raw events.
pub struct Rollups<'c> {
    conn: &'c Connection,
    tz: Tz,
    meters: HashMap<String, i64>,
    customers: HashMap<String, i64>,
    /// The windows read for the last customer: each (group key, local
    /// day)'s fold, in that order. A period's lines ask for the same meter,
    /// customer and window once per group, and its costs by day again after
    /// every line is rated: one read per meter serves them all.
    cached: Vec<(Read, Vec<DayFold>)>,
    raw: crate::usage::RawEvents<'c>,
}

impl<'c> Rollups<'c> {
    /// Reads rollups that [`refresh`] brought up to date.
    pub fn new(conn: &'c Connection, tz: Tz) -> Result<Rollups<'c>> {
        let pairs = |sql: &str| -> Result<HashMap<String, i64>> {
            Ok(conn
                .prepare_cached(sql)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        };
        Ok(Rollups {
            conn,
            tz,
            meters: pairs("SELECT code, id FROM meters")?,
            customers: HashMap::new(),
            cached: Vec::new(),
            raw: crate::usage::RawEvents::new(conn),
        })
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Every (group key, day) fold of a meter's and customer's local days
    /// `[from, to)`, by group then day: read once for the window's lines.
    fn window(&mut self, meter_id: i64, customer_id: i64, from: NaiveDate, to: NaiveDate) -> Result<&[DayFold]> {
        let key = (meter_id, customer_id, from, to);
        // Another customer's windows are not asked for again.
        self.cached.retain(|(k, _)| k.1 == customer_id);
        let at = match self.cached.iter().position(|(k, _)| k == &key) {
            Some(at) => at,
            None => {
                let mut stmt = self.conn.prepare_cached(
                "SELECT grp, day, count, sum, max, min, latest_ms, latest_order, latest, distinct_values FROM usage_days
                 WHERE meter_id = ?1 AND customer_id = ?2 AND day >= ?3 AND day < ?4 ORDER BY grp, day",
            )?;
                let mut rows = stmt.query(params![meter_id, customer_id, day_number(from), day_number(to)])?;
                let mut days = Vec::new();
                while let Some(row) = rows.next()? {
                    days.push((row.get(0)?, row.get(1)?, acc_from_row(row, 2)?));
                }
                self.cached.push((key, days));
                self.cached.len() - 1
            }
        };
        Ok(&self.cached[at].1)
    }

    /// A customer's row id, looked up as drafts ask (a finalize reads one
    /// customer, a preview each once).
    fn customer_id(&mut self, customer: &str) -> Result<i64> {
        if let Some(id) = self.customers.get(customer) {
            return Ok(*id);
        }
        let id: i64 = self
            .conn
            .prepare_cached("SELECT id FROM customers WHERE external_id = ?1")?
            .query_row([customer], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no customer with id \"{customer}\"")))?;
        self.customers.insert(customer.to_string(), id);
        Ok(id)
    }
}

impl crate::usage::UsageSource for Rollups<'_> {
    fn quantity(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Decimal> {
        let meter_id = *self
            .meters
            .get(&meter.code)
            .ok_or_else(|| Error::NotFound(format!("no meter with code \"{}\"", meter.code)))?;
        let customer_id = self.customer_id(customer)?;
        let days = self.window(meter_id, customer_id, self.local(from), self.local(to))?;
        let wanted = group.map(|g| group_key(Some(g)));
        let mut acc = Acc::default();
        for (grp, _, a) in days {
            if wanted.as_ref().is_none_or(|w| w == grp) {
                acc.merge(a);
            }
        }
        Ok(acc.value(meter.aggregation)?)
    }

    fn daily(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        group: Option<&str>,
        _tz: Tz,
    ) -> Result<Vec<crate::usage::GroupDays>> {
        let meter_id = *self
            .meters
            .get(&meter.code)
            .ok_or_else(|| Error::NotFound(format!("no meter with code \"{}\"", meter.code)))?;
        let customer_id = self.customer_id(customer)?;
        let wanted = group.map(|g| group_key(Some(g)));
        let days = self.window(meter_id, customer_id, self.local(from), self.local(to))?;
        // (group key, day) → the day's fold; a meter that does not split keeps
        // every row under one key.
        let mut folded: std::collections::BTreeMap<(&str, i64), Acc> = std::collections::BTreeMap::new();
        for (grp, day, acc) in days {
            if wanted.as_ref().is_some_and(|w| w != grp) {
                continue;
            }
            let key = if meter.group_by.is_some() { grp.as_str() } else { "" };
            folded.entry((key, *day)).or_default().merge(acc);
        }
        let mut out: Vec<crate::usage::GroupDays> = Vec::new();
        for ((key, day), acc) in folded {
            let value = acc.value(meter.aggregation)?;
            if value.is_zero() {
                continue;
            }
            let group = key.strip_prefix('=').map(str::to_string);
            let date = epoch() + chrono::Days::new(day.max(0) as u64);
            match out.last_mut() {
                Some((g, days)) if *g == group => days.push((date, value)),
                _ => out.push((group, vec![(date, value)])),
            }
        }
        Ok(out)
    }

    fn amounts(
        &mut self,
        meter: &MeterFields,
        customer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: Option<&str>,
    ) -> Result<Vec<Decimal>> {
        self.raw.amounts(meter, customer, from, to, group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;
    use crate::bill::tests::{apply, events};
    use crate::rng::Rng;
    use crate::usage::{RawEvents, UsageSource};
    use serde_json::json;

    /// A meter of every aggregation on one event type, grouped and filtered.
    const CATALOG: &str = r#"{
      "workspace": { "timezone": "America/New_York" },
      "customers": [ { "id": "a", "name": "A" }, { "id": "b", "name": "B" } ],
      "meters": [
        { "code": "n", "name": "N", "aggregation": "count", "event": "e" },
        { "code": "n_eu", "name": "N EU", "aggregation": "count", "event": "e", "filters": { "region": "eu" } },
        { "code": "s", "name": "S", "aggregation": "sum", "property": "v", "group_by": "model", "event": "e" },
        { "code": "hi", "name": "Hi", "aggregation": "max", "property": "v", "event": "e" },
        { "code": "lo", "name": "Lo", "aggregation": "min", "property": "v", "group_by": "model", "event": "e" },
        { "code": "av", "name": "Av", "aggregation": "avg", "property": "v", "event": "e" },
        { "code": "la", "name": "La", "aggregation": "latest", "property": "v", "group_by": "model", "event": "e" },
        { "code": "u", "name": "U", "aggregation": "unique_count", "property": "user", "group_by": "model", "event": "e" }
      ]
    }"#;

    /// Random events over Oct 20 – Nov 10, 2026 (New York leaves DST on Nov 1):
    /// repeated instants, values that are numbers or decimal strings.
    fn random_events(rng: &mut Rng, first_id: usize, n: usize) -> Vec<serde_json::Value> {
        let start = 1_792_454_400_000i64; // 2026-10-20T00:00:00Z
        let span = 21 * 86_400_000i64;
        (first_id..first_id + n)
            .map(|i| {
                let r = rng.next_u64();
                // A few instants repeat, at the end of a local day (23:59:59 in New York
                // before Nov 1), so "latest" must break ties as the raw path does.
                let ts = if r.is_multiple_of(5) {
                    start + (r % 21) as i64 * 86_400_000 + 14_399_000
                } else {
                    start + (r % span as u64) as i64
                };
                let mut props = serde_json::Map::new();
                props.insert("model".into(), json!(["x", "y", "z"][(r >> 20) as usize % 3]));
                if !(r >> 24).is_multiple_of(4) {
                    props.insert("region".into(), json!(["eu", "us"][(r >> 26) as usize % 2]));
                }
                // (The importer rejects an event without the value its meters read.)
                match (r >> 28) % 3 {
                    0 => {
                        props.insert("v".into(), json!(((r >> 32) % 1000) as i64 - 100));
                    }
                    _ => {
                        props.insert("v".into(), json!(format!("{}.{:03}", (r >> 32) % 500, (r >> 44) % 1000)));
                    }
                }
                props.insert("user".into(), json!(format!("u{}", (r >> 50) % 9)));
                let customer = ["a", "b"][(r >> 60) as usize % 2];
                json!({ "id": format!("e{i}"), "customer": customer, "type": "e",
                        "timestamp": ts, "properties": props })
            })
            .collect()
    }

    /// Every meter, customer and group over windows of local days: the rollups
    /// give what the raw events give.
    fn assert_same(ws: &mut Workspace, tz: Tz) {
        // Decoded on two cores from two chunks on, so the halves' merge is checked too.
        ws.write(|tx| refresh_split(tx, tz, 2)).unwrap();
        let conn = ws.conn();
        let mut rolled = Rollups::new(conn, tz).unwrap();
        let mut raw = RawEvents::new(conn);
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + chrono::Days::new(u64::from(d));
        let mut checked = 0;
        for m in meter::all(conn).unwrap() {
            for customer in ["a", "b"] {
                for (from, to) in [(0, 45), (19, 20), (30, 32), (31, 32), (25, 40), (40, 41)] {
                    let (f, t) = (
                        crate::period::day_start(tz, day(from)).unwrap(),
                        crate::period::day_start(tz, day(to)).unwrap(),
                    );
                    for group in [None, Some("x"), Some("y"), Some("w")] {
                        if group.is_some() && m.fields.group_by.is_none() {
                            continue;
                        }
                        let want = raw.quantity(&m.fields, customer, f, t, group).unwrap();
                        let got = rolled.quantity(&m.fields, customer, f, t, group).unwrap();
                        assert_eq!(got, want, "{} {customer} days {from}..{to} {group:?}", m.fields.code);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 200);
    }

    #[test]
    fn rollups_give_what_the_raw_events_give_across_imports_zones_and_meter_changes() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let ny: Tz = "America/New_York".parse().unwrap();
        let mut rng = Rng::new(7);
        events(&mut ws, &random_events(&mut rng, 0, 3000));
        assert_same(&mut ws, ny);
        // A second import folds into the stored days.
        events(&mut ws, &random_events(&mut rng, 3000, 2000));
        let before: i64 = ws.conn().query_row("SELECT count(*) FROM usage_days", [], |r| r.get(0)).unwrap();
        assert_same(&mut ws, ny);
        let after: i64 = ws.conn().query_row("SELECT count(*) FROM usage_days", [], |r| r.get(0)).unwrap();
        assert!(after >= before && before > 0);
        // Nothing new: nothing to do.
        assert_eq!(ws.write(|tx| refresh(tx, ny)).unwrap(), Refreshed::default());
        // Another zone rebuilds every meter.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let rebuilt = ws.write(|tx| refresh(tx, tokyo)).unwrap();
        assert_eq!((rebuilt.rebuilt, rebuilt.events), (8, 5000), "each event is decoded once for all meters");
        assert_same(&mut ws, tokyo);
        // A meter that computes differently (possible while it counts nothing stored) is rebuilt.
        ws.write(|tx| {
            tx.execute("UPDATE meters SET filters = '{\"region\":\"us\"}' WHERE code = 'n_eu'", [])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(ws.write(|tx| refresh(tx, tokyo)).unwrap().rebuilt, 1);
        assert_same(&mut ws, tokyo);
    }
}
