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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::event_file::Props;
use crate::event_store::{self, get_varint, put_varint, take_text, unzigzag, zigzag};
use crate::meter::{self, Aggregation, MeterFields};
use crate::usage::{Acc, selects};

mod upkeep;
pub use upkeep::Upkeep;

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

/// (meter id, customer id, local day).
type DayKey = (i64, i64, i64);

/// Group keys ('' or '=' and the value), numbered as first seen.
#[derive(Debug, Default)]
struct GroupKeys {
    keys: Vec<String>,
    none: Option<u32>,
    values: HashMap<String, u32>,
}

impl GroupKeys {
    /// The number of a group value's key (no value: the key '').
    fn id(&mut self, value: Option<&str>) -> u32 {
        let next = self.keys.len() as u32;
        match value {
            None => *self.none.get_or_insert_with(|| {
                self.keys.push(String::new());
                next
            }),
            Some(v) => match self.values.get(v) {
                Some(id) => *id,
                None => {
                    self.keys.push(group_key(Some(v)));
                    self.values.insert(v.to_string(), next);
                    next
                }
            },
        }
    }

    fn key(&self, id: u32) -> &str {
        &self.keys[id as usize]
    }

    /// Keys numbered elsewhere, in their order.
    fn listed(keys: Vec<String>) -> GroupKeys {
        let mut listed = GroupKeys::default();
        for k in &keys {
            listed.id(k.strip_prefix('='));
        }
        debug_assert_eq!(listed.keys, keys);
        listed
    }
}

/// An aggregate as it is held before a merge: the full [`Acc`] (a refresh),
/// or the upkeep's smaller tally.
trait Held: Default {
    /// Adds another aggregate of the same meter, day and group.
    fn absorb(&mut self, other: Self);
}

impl Held for Acc {
    fn absorb(&mut self, other: Acc) {
        Acc::absorb(self, other);
    }
}

/// New day aggregates, by (meter, customer, day) and group key number,
/// waiting to be merged into the stored blocks.
#[derive(Debug)]
struct Fresh<T = Acc> {
    days: HashMap<DayKey, Vec<(u32, T)>, event_store::BuildFastHasher>,
    groups: GroupKeys,
    /// Aggregates held (day and group pairs).
    held: usize,
}

impl<T> Default for Fresh<T> {
    fn default() -> Fresh<T> {
        Fresh { days: HashMap::default(), groups: GroupKeys::default(), held: 0 }
    }
}

impl<T: Held> Fresh<T> {
    /// The aggregate of a day and group, made when first asked for.
    fn acc(&mut self, key: DayKey, group: u32) -> &mut T {
        // Most days of most meters have one group: room for one (growing past one makes room for four).
        let day = self.days.entry(key).or_insert_with(|| Vec::with_capacity(1));
        let at = match day.iter().position(|(g, _)| *g == group) {
            Some(at) => at,
            None => {
                day.push((group, T::default()));
                self.held += 1;
                day.len() - 1
            }
        };
        &mut day[at].1
    }

    /// Adds another aggregate of a day and group (numbered by `self`).
    fn absorb(&mut self, key: DayKey, group: u32, acc: T) {
        let day = self.days.entry(key).or_insert_with(|| Vec::with_capacity(1));
        match day.iter_mut().find(|(g, _)| *g == group) {
            Some((_, a)) => a.absorb(acc),
            None => {
                day.push((group, acc));
                self.held += 1;
            }
        }
    }

    fn held(&self) -> usize {
        self.held
    }

    /// Leaves out one meter's aggregates.
    fn drop_meter(&mut self, meter: i64) {
        self.days.retain(|(m, _, _), _| *m != meter);
        self.held = self.days.values().map(Vec::len).sum();
    }

    /// Takes in what another thread aggregated.
    fn take_in(&mut self, other: Fresh<T>) {
        if self.days.is_empty() {
            *self = other;
            return;
        }
        let ids: Vec<u32> = other.groups.keys.iter().map(|k| self.groups.id(k.strip_prefix('='))).collect();
        for (key, day) in other.days {
            for (group, acc) in day {
                self.absorb(key, ids[group as usize], acc);
            }
        }
    }
}

/// What [`refresh`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Meters rebuilt from all their chunks (new, changed, or a new zone).
    pub rebuilt: u32,
    /// Events decoded.
    pub events: u64,
    /// Day-and-group aggregates merged into the stored blocks.
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
        Aggregator { meters, needed, days: Days { tz, current: None }, fresh: Fresh::default(), events: 0 }
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
                let group = self.fresh.groups.id(value.as_deref());
                self.fresh.acc((*id, customer, day), group).add(m, e.ts_ms, order, &properties);
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Merges what it aggregated into `fresh`.
    fn into(self, fresh: &mut Fresh, done: &mut Refreshed) {
        done.events += self.events;
        fresh.take_in(self.fresh);
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
                conn.execute("DELETE FROM usage_blocks WHERE meter_id = ?1", [id])?;
                conn.execute("DELETE FROM usage_groups WHERE meter_id = ?1", [id])?;
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
    let mut fresh = Fresh::default();
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
    done.days = fresh.held() as u64;
    let aggregations: HashMap<i64, Aggregation> =
        behind.values().flatten().map(|(id, m, _)| (*id, m.aggregation)).collect();
    merge_into_store(conn, fresh, &aggregations, |_, acc| acc, &from_scratch)?;
    conn.execute("UPDATE usage_days_state SET through_chunk = ?1 WHERE through_chunk < ?1", [last_chunk])?;
    Ok(done)
}

/// Local days per stored block: a period of a month lies in one or two.
const BLOCK_DAYS: i64 = 32;

/// The version byte that starts every stored block.
const BLOCK_FORMAT: u8 = 1;

fn block_of(day: i64) -> i64 {
    day.div_euclid(BLOCK_DAYS)
}

/// A decimal as one byte of sign (0x80) and scale, then its mantissa's
/// magnitude as a varint: 2 to 4 bytes for usage figures, 15 at most.
fn put_decimal(out: &mut Vec<u8>, d: Decimal) {
    out.push(d.scale() as u8 | if d.is_sign_negative() { 0x80 } else { 0 });
    let mut m = d.mantissa().unsigned_abs();
    while m >= 0x80 {
        out.push((m as u8) | 0x80);
        m >>= 7;
    }
    out.push(m as u8);
}

fn take_decimal(input: &mut &[u8]) -> Option<Decimal> {
    let (&head, rest) = input.split_first()?;
    *input = rest;
    let mut m = 0u128;
    for shift in (0..105).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        m |= u128::from(b & 0x7f) << shift;
        if b < 0x80 {
            let mut d = Decimal::try_from_i128_with_scale(i128::try_from(m).ok()?, u32::from(head & 0x7f)).ok()?;
            d.set_sign_negative(head & 0x80 != 0);
            return Some(d);
        }
    }
    None
}

// What an entry holds besides its count (a flag each).
const SUM: u8 = 1;
const MAX: u8 = 2;
const MIN: u8 = 4;
const LATEST: u8 = 8;
const DISTINCT: u8 = 16;
const OVERFLOWED: u8 = 32;

/// Writes a block's entries, sorted by (day, group key): each is the day's
/// place in the block, the group key, which parts of the aggregate follow
/// (those the meter's aggregation reads), the count, then those parts
/// (decimals as [`put_decimal`] writes them).
fn encode_block<S: AsRef<str>>(block: i64, entries: &[(i64, S, Acc)], aggregation: Aggregation, out: &mut Vec<u8>) {
    // What the aggregation reads of an aggregate (besides its count).
    let read = match aggregation {
        Aggregation::Count => 0,
        Aggregation::Sum | Aggregation::Avg => SUM | OVERFLOWED,
        Aggregation::Max => MAX,
        Aggregation::Min => MIN,
        Aggregation::Latest => LATEST,
        Aggregation::UniqueCount => DISTINCT,
    };
    out.push(BLOCK_FORMAT);
    for (day, grp, acc) in entries {
        let grp = grp.as_ref();
        out.push((day - block * BLOCK_DAYS) as u8);
        put_varint(out, grp.len() as u64);
        out.extend_from_slice(grp.as_bytes());
        let flags = if acc.sum.is_zero() { 0 } else { SUM }
            | if acc.max.is_some() { MAX } else { 0 }
            | if acc.min.is_some() { MIN } else { 0 }
            | if acc.latest.is_some() { LATEST } else { 0 }
            | if acc.distinct.is_empty() { 0 } else { DISTINCT }
            | if acc.overflowed { OVERFLOWED } else { 0 };
        let flags = flags & read;
        out.push(flags);
        put_varint(out, acc.count);
        if flags & SUM != 0 {
            put_decimal(out, acc.sum);
        }
        if flags & MAX != 0 {
            put_decimal(out, acc.max.unwrap_or_default());
        }
        if flags & MIN != 0 {
            put_decimal(out, acc.min.unwrap_or_default());
        }
        if flags & LATEST != 0
            && let Some((ts, order, v)) = acc.latest
        {
            put_varint(out, zigzag(ts));
            put_varint(out, zigzag(order));
            put_decimal(out, v);
        }
        if flags & DISTINCT != 0 {
            let mut values: Vec<&String> = acc.distinct.iter().collect();
            values.sort_unstable();
            put_varint(out, values.len() as u64);
            for v in values {
                put_varint(out, v.len() as u64);
                out.extend_from_slice(v.as_bytes());
            }
        }
    }
}

/// Calls `f` with each (day, group key, aggregate) of a stored block, in order.
fn decode_block(block: i64, data: &[u8], mut f: impl FnMut(i64, &str, Acc)) -> Result<()> {
    let damaged = || Error::Internal(format!("a stored usage block ({block}) is damaged"));
    let (&version, mut rest) = data.split_first().ok_or_else(damaged)?;
    if version != BLOCK_FORMAT {
        return Err(Error::Internal(format!("usage block format {version} is not known to this build")));
    }
    while let Some((&offset, after)) = rest.split_first() {
        rest = after;
        let entry = (|| {
            let grp = take_text(&mut rest)?;
            let (&flags, after) = rest.split_first()?;
            rest = after;
            let mut acc = Acc { count: get_varint(&mut rest)?, ..Acc::default() };
            if flags & SUM != 0 {
                acc.sum = take_decimal(&mut rest)?;
            }
            if flags & MAX != 0 {
                acc.max = Some(take_decimal(&mut rest)?);
            }
            if flags & MIN != 0 {
                acc.min = Some(take_decimal(&mut rest)?);
            }
            if flags & LATEST != 0 {
                let ts = unzigzag(get_varint(&mut rest)?);
                let order = unzigzag(get_varint(&mut rest)?);
                acc.latest = Some((ts, order, take_decimal(&mut rest)?));
            }
            if flags & DISTINCT != 0 {
                let n = get_varint(&mut rest)?;
                for _ in 0..n {
                    acc.distinct.insert(take_text(&mut rest)?.to_string());
                }
            }
            acc.overflowed = flags & OVERFLOWED != 0;
            Some((grp, acc))
        })();
        let (grp, acc) = entry.ok_or_else(damaged)?;
        f(block * BLOCK_DAYS + i64::from(offset), grp, acc);
    }
    Ok(())
}

/// Every (day, group key, aggregate) of one meter and customer over local
/// days `[from, to)`, by day.
fn read_days(
    conn: &Connection,
    meter_id: i64,
    customer_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, String, Acc)>> {
    let mut out = Vec::new();
    if to <= from {
        return Ok(out);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT block, data FROM usage_blocks WHERE meter_id = ?1 AND customer_id = ?2 AND block BETWEEN ?3 AND ?4
         ORDER BY block",
    )?;
    let mut rows = stmt.query(params![meter_id, customer_id, block_of(from), block_of(to - 1)])?;
    while let Some(row) = rows.next()? {
        let block: i64 = row.get(0)?;
        let data = row.get_ref(1)?.as_blob().map_err(|e| Error::Internal(format!("usage_blocks: {e}")))?;
        decode_block(block, data, |day, grp, acc| {
            if (from..to).contains(&day) {
                out.push((day, grp.to_string(), acc));
            }
        })?;
    }
    Ok(out)
}

/// Merges new day aggregates with the stored ones (none for meters in
/// `from_scratch`): each block touched is read once, merged and written back,
/// keeping of each aggregate what its meter's aggregation reads.
fn merge_into_store<T>(
    conn: &Transaction,
    fresh: Fresh<T>,
    aggregations: &HashMap<i64, Aggregation>,
    acc_of: impl Fn(i64, T) -> Acc,
    from_scratch: &HashSet<i64>,
) -> Result<()> {
    let mut read =
        conn.prepare_cached("SELECT data FROM usage_blocks WHERE meter_id = ?1 AND customer_id = ?2 AND block = ?3")?;
    let mut write = conn.prepare_cached(
        "INSERT INTO usage_blocks (meter_id, customer_id, block, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (meter_id, customer_id, block) DO UPDATE SET data = excluded.data",
    )?;
    let mut seen =
        conn.prepare_cached("INSERT OR IGNORE INTO usage_groups (meter_id, customer_id, grp) VALUES (?1, ?2, ?3)")?;
    let Fresh { mut days, groups: keys, .. } = fresh;
    // In key order, each taken out of the map as it is merged (no second copy of what is held).
    let mut order: Vec<DayKey> = days.keys().copied().collect();
    order.sort_unstable();
    let mut rows = order.into_iter().filter_map(|k| days.remove(&k).map(|v| (k, v))).peekable();
    // (meter, customer, group number) registered in usage_groups by this merge.
    let mut registered: HashSet<(i64, i64, u32)> = HashSet::new();
    let mut data = Vec::new();
    let mut entries: Vec<(i64, Cow<str>, Acc)> = Vec::with_capacity(256);
    while let Some(((meter, customer, day), first)) = rows.next() {
        let block = block_of(day);
        entries.clear();
        if !from_scratch.contains(&meter)
            && let Some(stored) =
                read.query_row(params![meter, customer, block], |r| r.get::<_, Vec<u8>>(0)).optional()?
        {
            decode_block(block, &stored, |d, g, acc| entries.push((d, Cow::Owned(g.to_string()), acc)))?;
        }
        let stored = entries.len();
        let mut add = |day: i64, group: u32, held: T| -> Result<()> {
            let acc = acc_of(meter, held);
            let grp = keys.key(group);
            if !grp.is_empty() && registered.insert((meter, customer, group)) {
                seen.execute(params![meter, customer, grp])?;
            }
            match entries[..stored].binary_search_by(|(d, g, _)| (*d, g.as_ref()).cmp(&(day, grp))) {
                Ok(at) => entries[at].2.absorb(acc),
                Err(_) => entries.push((day, Cow::Borrowed(grp), acc)),
            }
            Ok(())
        };
        for (group, acc) in first {
            add(day, group, acc)?;
        }
        while let Some(((m, c, d), _)) = rows.peek()
            && (*m, *c, block_of(*d)) == (meter, customer, block)
        {
            let Some(((_, _, d), new)) = rows.next() else { break };
            for (group, acc) in new {
                add(d, group, acc)?;
            }
        }
        entries.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let aggregation =
            *aggregations.get(&meter).ok_or_else(|| Error::Internal(format!("no aggregation for meter {meter}")))?;
        data.clear();
        encode_block(block, &entries, aggregation, &mut data);
        write.execute(params![meter, customer, block, &data[..]])?;
    }
    Ok(())
}

/// The group values a meter has seen (for one customer, or any), in order: what
/// a group is picked from instead of typed. At most `limit`.
pub fn groups_seen(conn: &Connection, meter: &str, customer: Option<&str>, limit: u32) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT substr(g.grp, 2) FROM usage_groups g JOIN meters m ON m.id = g.meter_id
         JOIN customers c ON c.id = g.customer_id
         WHERE m.code = ?1 AND (?2 IS NULL OR c.external_id = ?2) ORDER BY 1 LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![meter, customer, limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
    let wanted = group.map(|g| group_key(Some(g)));
    let mut days: Vec<(i64, Acc)> = Vec::new();
    for (day, grp, acc) in read_days(conn, meter_id, customer_id, day_number(from), day_number(to))? {
        if wanted.as_ref().is_some_and(|w| *w != grp) {
            continue;
        }
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
                let days = read_days(self.conn, meter_id, customer_id, day_number(from), day_number(to))?
                    .into_iter()
                    .map(|(day, grp, acc)| (grp, day, acc))
                    .collect();
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

/// Every stored block and group, as text: what two ways of building them are compared by.
#[cfg(test)]
pub(crate) fn stored_blocks(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT meter_id, customer_id, block, hex(data) FROM usage_blocks
             UNION ALL SELECT meter_id, customer_id, -1, grp FROM usage_groups ORDER BY 1, 2, 3, 4",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((0..4).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join(" ")))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
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

    /// Random events over Oct 20 – Nov 16, 2026 (New York leaves DST on Nov 1;
    /// the stored blocks change on Nov 11): repeated instants, values that are
    /// numbers or decimal strings.
    fn random_events(rng: &mut Rng, first_id: usize, n: usize) -> Vec<serde_json::Value> {
        let start = 1_792_454_400_000i64; // 2026-10-20T00:00:00Z
        let span = 28 * 86_400_000i64;
        (first_id..first_id + n)
            .map(|i| {
                let r = rng.next_u64();
                // A few instants repeat, at the end of a local day (23:59:59 in New York
                // before Nov 1), so "latest" must break ties as the raw path does.
                let ts = if r.is_multiple_of(5) {
                    start + (r % 28) as i64 * 86_400_000 + 14_399_000
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
                for (from, to) in [(0, 50), (19, 20), (30, 32), (31, 32), (25, 40), (40, 41), (38, 44), (41, 42)] {
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
        let before: i64 = ws.conn().query_row("SELECT count(*) FROM usage_blocks", [], |r| r.get(0)).unwrap();
        assert_same(&mut ws, ny);
        let after: i64 = ws.conn().query_row("SELECT count(*) FROM usage_blocks", [], |r| r.get(0)).unwrap();
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

    /// A rule that prices the running periods after each import: imports then keep the rollups.
    fn watched(ws: &mut Workspace) {
        ws.write(|tx| {
            tx.execute(
                r#"INSERT INTO alert_rules (code, fields, updated_at) VALUES ('n_1', '{"id":"n_1","kind":"usage","meter":"n","threshold":"1","customer":"a"}', '')"#,
                [],
            )?;
            Ok(())
        })
        .unwrap();
    }

    fn import_with(ws: &mut Workspace, text: &str, format: crate::event_file::Format, batch_size: usize) -> u64 {
        let mut options = crate::events::ImportOptions::new("e", format);
        options.batch_size = batch_size;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let report =
            crate::events::import(ws, text.as_bytes(), &options, now, &mut |_| std::ops::ControlFlow::Continue(()))
                .unwrap();
        assert_eq!(report.rejected, 0, "{:?}", report.errors.first());
        report.duplicates
    }

    /// The same events as a CSV file (an absent property is an empty cell).
    fn as_csv(events: &[serde_json::Value]) -> String {
        let mut out = String::from("id,customer,type,timestamp,model,region,v,user\n");
        for e in events {
            let p = &e["properties"];
            let cell = |k: &str| p.get(k).map_or(String::new(), |v| v.as_str().map_or(v.to_string(), str::to_string));
            out += &format!(
                "{},{},{},{},{},{},{},{}\n",
                e["id"].as_str().unwrap(),
                e["customer"].as_str().unwrap(),
                e["type"].as_str().unwrap(),
                e["timestamp"],
                cell("model"),
                cell("region"),
                cell("v"),
                cell("user")
            );
        }
        out
    }

    #[test]
    fn an_import_keeps_the_rollups_current_as_a_refresh_would_build_them() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let ny: Tz = "America/New_York".parse().unwrap();
        let mut rng = Rng::new(11);
        let ndjson = |events: &[serde_json::Value]| events.iter().map(|e| format!("{e}\n")).collect::<String>();
        // Without a rule to evaluate after it, an import leaves the rollups to the next read.
        import_with(&mut ws, &ndjson(&random_events(&mut rng, 9000, 300)), crate::event_file::Format::Ndjson, 100);
        assert_eq!(ws.write(|tx| refresh(tx, ny)).unwrap().events, 300);
        watched(&mut ws);
        // Several batches a file, ids repeated within and across files, NDJSON and CSV;
        // the days held merged every few batches.
        upkeep::HELD_IN_TESTS.with(|h| h.set(1500));
        let first = random_events(&mut rng, 0, 3000);
        assert_eq!(import_with(&mut ws, &ndjson(&first), crate::event_file::Format::Ndjson, 700), 0);
        let mut second = random_events(&mut rng, 2500, 2000);
        second.push(second[3].clone());
        assert_eq!(import_with(&mut ws, &as_csv(&second), crate::event_file::Format::Csv, 450), 501);
        // The import left nothing for a refresh to do.
        assert_eq!(ws.write(|tx| refresh(tx, ny)).unwrap(), Refreshed::default());
        let kept = stored_blocks(ws.conn());
        assert!(kept.len() > 20, "{}", kept.len());
        // Built again from every chunk: the same rows, byte for byte.
        ws.write(|tx| {
            tx.execute("DELETE FROM usage_days_state", [])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(ws.write(|tx| refresh_split(tx, ny, 2)).unwrap().events, 4800);
        assert_eq!(stored_blocks(ws.conn()), kept);
        assert_same(&mut ws, ny);
        // After a zone change the meters are behind: the import leaves them to the refresh.
        ws.write(|tx| {
            tx.execute("UPDATE workspace_settings SET timezone = 'Asia/Tokyo' WHERE id = 1", [])?;
            Ok(())
        })
        .unwrap();
        let tokyo = crate::settings::zone(ws.conn()).unwrap();
        assert_eq!(tokyo.name(), "Asia/Tokyo");
        import_with(&mut ws, &ndjson(&random_events(&mut rng, 6000, 500)), crate::event_file::Format::Ndjson, 200);
        assert_eq!(ws.write(|tx| refresh(tx, tokyo)).unwrap().rebuilt, 8);
        assert_same(&mut ws, tokyo);
        // Current again, the next import keeps them; a meter changed since is rebuilt alone.
        ws.write(|tx| {
            tx.execute("UPDATE meters SET filters = '{\"region\":\"us\"}' WHERE code = 'n_eu'", [])?;
            Ok(())
        })
        .unwrap();
        import_with(&mut ws, &ndjson(&random_events(&mut rng, 7000, 500)), crate::event_file::Format::Ndjson, 200);
        let done = ws.write(|tx| refresh(tx, tokyo)).unwrap();
        assert_eq!((done.rebuilt, done.events), (1, 5800), "only the changed meter reads the events again");
        assert_same(&mut ws, tokyo);
    }

    /// Another writer during an import: its chunks, or a refresh, between two batches.
    #[test]
    fn an_import_alongside_another_writer_leaves_the_rollups_right() {
        let ny: Tz = "America/New_York".parse().unwrap();
        for other in ["imports", "refreshes"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("w.meterdesk");
            let mut ws = Workspace::create(&path).unwrap();
            apply(&mut ws, CATALOG);
            watched(&mut ws);
            let mut rng = Rng::new(5);
            let ndjson = |events: &[serde_json::Value]| events.iter().map(|e| format!("{e}\n")).collect::<String>();
            import_with(&mut ws, &ndjson(&random_events(&mut rng, 0, 1000)), crate::event_file::Format::Ndjson, 400);
            let mine = ndjson(&random_events(&mut rng, 1000, 2000));
            let theirs = ndjson(&random_events(&mut rng, 5000, 300));
            let mut options = crate::events::ImportOptions::new("mine", crate::event_file::Format::Ndjson);
            options.batch_size = 400;
            let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
            let mut commits = 0;
            let report = crate::events::import(&mut ws, mine.as_bytes(), &options, now, &mut |p| {
                if p.accepted > 0 && p.accepted.is_multiple_of(400) {
                    commits += 1;
                    if commits == 2 {
                        let mut second = Workspace::open(&path).unwrap();
                        match other {
                            "imports" => {
                                import_with(&mut second, &theirs, crate::event_file::Format::Ndjson, 100);
                            }
                            _ => {
                                second.write(|tx| refresh(tx, ny)).unwrap();
                            }
                        }
                    }
                }
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
            assert_eq!(report.accepted, 2000);
            assert!(commits >= 2, "{other}");
            ws.write(|tx| refresh(tx, ny)).unwrap();
            let kept = stored_blocks(ws.conn());
            ws.write(|tx| {
                tx.execute("DELETE FROM usage_days_state", [])?;
                Ok(())
            })
            .unwrap();
            ws.write(|tx| refresh(tx, ny)).unwrap();
            assert_eq!(stored_blocks(ws.conn()), kept, "another writer {other}");
            assert_same(&mut ws, ny);
        }
    }

    #[test]
    fn a_stored_block_reads_back_what_was_written_and_a_damaged_one_is_an_error() {
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        let block = 649;
        let entries = vec![
            (block * 32, String::new(), Acc { count: 3, ..Acc::default() }),
            (
                block * 32,
                "=gpt-4o".to_string(),
                Acc {
                    count: 2,
                    sum: d("-12.345"),
                    max: Some(d("0.5")),
                    min: Some(d("-12.845")),
                    latest: Some((-5, -(1 << 40), d("0.5"))),
                    ..Acc::default()
                },
            ),
            (
                block * 32 + 31,
                "=é ü".to_string(),
                Acc {
                    count: 0,
                    distinct: ["u1", "", "u3"].into_iter().map(String::from).collect(),
                    overflowed: true,
                    sum: Decimal::MAX,
                    max: Some(d("0.0000000000000000000000000001")),
                    min: Some(Decimal::MIN),
                    ..Acc::default()
                },
            ),
        ];
        // Each aggregation keeps what it reads: its value comes back.
        for aggregation in [
            Aggregation::Count,
            Aggregation::Sum,
            Aggregation::Avg,
            Aggregation::Max,
            Aggregation::Min,
            Aggregation::Latest,
            Aggregation::UniqueCount,
        ] {
            let mut data = Vec::new();
            encode_block(block, &entries, aggregation, &mut data);
            let mut back = Vec::new();
            decode_block(block, &data, |day, grp, acc| back.push((day, grp.to_string(), acc))).unwrap();
            assert_eq!(back.len(), entries.len());
            for ((day, grp, acc), (d, g, a)) in back.iter().zip(&entries) {
                assert_eq!((day, grp), (d, g));
                assert_eq!(
                    format!("{:?}", acc.value(aggregation)),
                    format!("{:?}", a.value(aggregation)),
                    "{aggregation:?}"
                );
            }
        }
        // Everything an aggregate can hold, read back as written.
        let mut data = Vec::new();
        encode_block(block, &entries[2..], Aggregation::UniqueCount, &mut data);
        let mut back = Vec::new();
        decode_block(block, &data, |_, _, acc| back.push(acc)).unwrap();
        assert_eq!(back[0].distinct, entries[2].2.distinct);
        let mut data = Vec::new();
        encode_block(block, &entries, Aggregation::Latest, &mut data);
        for cut in [3, 8, data.len() - 1] {
            let err = decode_block(block, &data[..cut], |_, _, _| {}).unwrap_err();
            assert!(err.to_string().contains("damaged"), "{err}");
        }
        let mut other = data.clone();
        other[0] = 9;
        assert!(decode_block(block, &other, |_, _, _| {}).unwrap_err().to_string().contains("format 9"));
    }
}
