//! The daily rollups kept current by the import itself: each row's
//! contribution to the meters of its type is read while the row's properties
//! are in hand (no second parse of the stored events); once its batch is
//! written, a second thread folds the batch's rows into their days, in the
//! chunks' order, while the import reads on; the days are merged into the
//! stored blocks at the end of the import (or when many are held), in the
//! same transaction that moves the meters' watermark past the chunks
//! folded. A preview or alert evaluation after an import then has nothing
//! to refresh.
//!
//! Only meters already current when the import begins are kept (a meter
//! that was changed, or is behind, is left to [`super::refresh`], as before).
//! Each transaction first checks that nothing else wrote chunks, refreshed
//! or rebuilt a meter since: a meter found otherwise is dropped with what
//! was held for it, and other writers' chunks end the upkeep (what was held
//! is stored up to them). Whatever is not kept, a refresh folds later. What
//! the upkeep writes is what a refresh of the same chunks writes (the rollup
//! tests compare the two row by row).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono_tz::Tz;
use rusqlite::{OptionalExtension, Transaction, params};
use rust_decimal::Decimal;

use super::{Days, Fresh, GroupKeys, Held, merge_into_store, signature};
use crate::error::Result;
use crate::event_file::Props;
use crate::event_store::BuildFastHasher;
use crate::meter::{self, Aggregation, MeterFields};
use crate::usage::{Acc, selects};

/// A meter kept current by this import.
struct Kept {
    id: i64,
    fields: MeterFields,
    signature: String,
    /// It has no stored days (set up empty at the start, nothing written since).
    empty: bool,
}

/// What one row adds to one meter's day; a unique count's value is held as
/// its place in the batch's text, then read as text.
#[derive(Debug, Clone, Copy)]
enum Value<T = (u32, u32)> {
    /// A count meter's event.
    Count,
    /// A numeric meter's value.
    Number(Decimal),
    /// A unique count's value.
    Text(T),
    /// Selected, but without a value the meter reads: the group still shows (as in a refresh).
    Nothing,
}

#[derive(Debug, Clone, Copy)]
struct Contribution {
    /// Index into the kept meters.
    meter: u16,
    /// The group key's number in what is held.
    group: u32,
    value: Value,
}

/// One row of the batch: its customer and local day, and its contributions.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    customer: i64,
    day: i64,
    from: u32,
    to: u32,
}

/// Day-and-group aggregates held before they are merged into the stored
/// days: past this many, a batch's transaction merges them (memory stays
/// bounded; fewer, larger merges write each stored page fewer times).
const MAX_HELD: usize = 200_000;

#[cfg(test)]
thread_local! {
    /// A test's own [`MAX_HELD`], to merge often.
    pub(crate) static HELD_IN_TESTS: std::cell::Cell<usize> = const { std::cell::Cell::new(MAX_HELD) };
}

fn max_held() -> usize {
    #[cfg(test)]
    return HELD_IN_TESTS.with(|h| h.get());
    #[cfg(not(test))]
    MAX_HELD
}

/// The rollup upkeep of one import (see the module's documentation).
pub struct Upkeep {
    kept: Vec<Option<Kept>>,
    /// The kept meters' ids, by index (a meter dropped keeps its place).
    ids: Vec<i64>,
    /// Event type → the kept meters reading it.
    by_type: HashMap<i64, Vec<u16>, BuildFastHasher>,
    days: Days,
    /// Where the kept meters' stored days stand: every chunk up to here.
    through: i64,
    /// The newest chunk folded (or seen when nothing was held): the chunks
    /// after `through` up to here are this import's, all folded.
    last_chunk: i64,
    /// The batch being read: its rows, their contributions and texts.
    batch: Batch,
    /// Group keys, numbered as the rows meet them.
    groups: GroupKeys,
    /// Group keys already sent to the folder.
    sent_keys: usize,
    folder: Option<Folder>,
    /// Nothing more is kept by this import (a row's day could not be told,
    /// another writer's chunks came in between, or a batch failed).
    off: bool,
}

/// One batch's rows for the folder, and where its chunks put them.
#[derive(Debug, Default)]
struct Batch {
    rows: Vec<Row>,
    contributions: Vec<Contribution>,
    text: String,
    /// (row, its order in the store, its time), chunk by chunk as written.
    placed: Vec<(u32, i64, i64)>,
    /// Group keys numbered since the last batch sent.
    new_keys: Vec<String>,
}

impl Batch {
    fn clear(&mut self) {
        self.rows.clear();
        self.contributions.clear();
        self.text.clear();
        self.placed.clear();
        self.new_keys.clear();
    }
}

/// A day and group's aggregate as the folder holds it: only what the
/// meter's aggregation reads (what a stored block keeps of an [`Acc`]).
#[derive(Debug, Default, Clone, PartialEq)]
enum Tally {
    /// Selected events without a value read so far.
    #[default]
    Empty,
    Count(u64),
    /// Sum and average: values, their sum, whether it passed Decimal's range.
    Sum(u64, Decimal, bool),
    Max(u64, Decimal),
    Min(u64, Decimal),
    /// Values, and the latest one's (time, order, value).
    Latest(u64, i64, i64, Decimal),
    /// A unique count's values, by number, in order.
    Distinct(Vec<u32>),
}

impl Tally {
    /// Adds one selected event's value, as the meter's aggregation reads it.
    fn add(&mut self, aggregation: Aggregation, value: Value<&str>, ts_ms: i64, order: i64, distinct: &mut Distinct) {
        match (value, aggregation) {
            (Value::Count, _) => match self {
                Tally::Count(n) => *n += 1,
                _ => *self = Tally::Count(1),
            },
            (Value::Number(v), Aggregation::Sum | Aggregation::Avg) => match self {
                Tally::Sum(n, sum, overflowed) => {
                    *n += 1;
                    match sum.checked_add(v) {
                        Some(s) => *sum = s,
                        None => *overflowed = true,
                    }
                }
                _ => *self = Tally::Sum(1, v, false),
            },
            (Value::Number(v), Aggregation::Max) => match self {
                Tally::Max(n, m) => {
                    *n += 1;
                    *m = (*m).max(v);
                }
                _ => *self = Tally::Max(1, v),
            },
            (Value::Number(v), Aggregation::Min) => match self {
                Tally::Min(n, m) => {
                    *n += 1;
                    *m = (*m).min(v);
                }
                _ => *self = Tally::Min(1, v),
            },
            (Value::Number(v), _) => match self {
                Tally::Latest(n, ts, o, latest) => {
                    *n += 1;
                    if (ts_ms, order) > (*ts, *o) {
                        (*ts, *o, *latest) = (ts_ms, order, v);
                    }
                }
                _ => *self = Tally::Latest(1, ts_ms, order, v),
            },
            (Value::Text(text), _) => {
                let id = distinct.id(text);
                match self {
                    Tally::Distinct(ids) => {
                        if let Err(at) = ids.binary_search(&id) {
                            ids.insert(at, id);
                        }
                    }
                    _ => *self = Tally::Distinct(vec![id]),
                }
            }
            (Value::Nothing, _) => {}
        }
    }

    /// The aggregate a stored block keeps of the same events.
    fn into_acc(self, distinct: &[String]) -> Acc {
        match self {
            Tally::Empty => Acc::default(),
            Tally::Count(count) => Acc { count, ..Acc::default() },
            Tally::Sum(count, sum, overflowed) => Acc { count, sum, overflowed, ..Acc::default() },
            Tally::Max(count, max) => Acc { count, max: Some(max), ..Acc::default() },
            Tally::Min(count, min) => Acc { count, min: Some(min), ..Acc::default() },
            Tally::Latest(count, ts, order, v) => Acc { count, latest: Some((ts, order, v)), ..Acc::default() },
            Tally::Distinct(ids) => {
                Acc { distinct: ids.into_iter().map(|id| distinct[id as usize].clone()).collect(), ..Acc::default() }
            }
        }
    }
}

impl Held for Tally {
    fn absorb(&mut self, other: Tally) {
        *self = match (std::mem::take(self), other) {
            (Tally::Empty, t) | (t, Tally::Empty) => t,
            (Tally::Count(a), Tally::Count(b)) => Tally::Count(a + b),
            (Tally::Sum(a, x, o), Tally::Sum(b, y, p)) => match x.checked_add(y) {
                Some(sum) => Tally::Sum(a + b, sum, o || p),
                None => Tally::Sum(a + b, x, true),
            },
            (Tally::Max(a, x), Tally::Max(b, y)) => Tally::Max(a + b, x.max(y)),
            (Tally::Min(a, x), Tally::Min(b, y)) => Tally::Min(a + b, x.min(y)),
            (Tally::Latest(a, t, o, x), Tally::Latest(b, u, p, y)) => {
                if (u, p) > (t, o) {
                    Tally::Latest(a + b, u, p, y)
                } else {
                    Tally::Latest(a + b, t, o, x)
                }
            }
            (Tally::Distinct(mut x), Tally::Distinct(y)) => {
                x.extend(y);
                x.sort_unstable();
                x.dedup();
                Tally::Distinct(x)
            }
            // One meter's tallies are all of its aggregation's kind.
            (t, _) => t,
        };
    }
}

/// The values of unique counts, numbered.
#[derive(Debug, Default)]
struct Distinct {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Distinct {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(text.to_string());
        self.ids.insert(text.to_string(), id);
        id
    }
}

/// What the folder held, with the names its numbers stand for.
struct Taken {
    fresh: Fresh<Tally>,
    distinct: Vec<String>,
}

enum Job {
    Fold(Batch),
    /// Send what is held, and start again from nothing.
    Take,
}

/// The thread that folds written batches into their days.
struct Folder {
    /// At most one batch waits while another is folded: the import waits
    /// rather than holding more batches in memory.
    jobs: mpsc::SyncSender<Job>,
    taken: mpsc::Receiver<Taken>,
    /// Aggregates held by the thread.
    held: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Folder {
    /// `meters`: each kept meter's id and aggregation, by its index.
    fn start(meters: Vec<(i64, Aggregation)>) -> Option<Folder> {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(1);
        let (give, taken) = mpsc::channel();
        let held = Arc::new(AtomicUsize::new(0));
        let counted = held.clone();
        let thread = std::thread::Builder::new()
            .name("rollup upkeep".into())
            .spawn(move || {
                let mut fresh = Fresh::default();
                let mut keys: Vec<String> = Vec::new();
                let mut distinct = Distinct::default();
                let mut local: Vec<(i64, u32, Tally)> = Vec::new();
                for job in inbox {
                    match job {
                        Job::Fold(mut batch) => {
                            keys.append(&mut batch.new_keys);
                            fold(&mut fresh, &mut local, &mut distinct, &batch, &meters);
                            counted.store(fresh.held(), Ordering::Relaxed);
                        }
                        Job::Take => {
                            let mut out = std::mem::take(&mut fresh);
                            out.groups = GroupKeys::listed(keys.clone());
                            counted.store(0, Ordering::Relaxed);
                            let names = distinct.names.clone();
                            if give.send(Taken { fresh: out, distinct: names }).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .ok()?;
        Some(Folder { jobs, taken, held, thread: Some(thread) })
    }

    /// What the thread holds, once it has folded every batch sent.
    fn take(&mut self) -> Option<Taken> {
        self.jobs.send(Job::Take).ok()?;
        self.taken.recv().ok()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        // Closing the queue ends the thread.
        let (closed, _) = mpsc::sync_channel(0);
        self.jobs = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Folds a written batch's rows into their days, chunk by chunk: a chunk is
/// one customer's events in time order, so a day is folded apart and then
/// added to what is held.
fn fold(
    fresh: &mut Fresh<Tally>,
    local: &mut Vec<(i64, u32, Tally)>,
    distinct: &mut Distinct,
    batch: &Batch,
    meters: &[(i64, Aggregation)],
) {
    let mut current: Option<(i64, i64)> = None;
    for &(row, order, ts_ms) in &batch.placed {
        let Some(r) = batch.rows.get(row as usize) else { continue };
        if r.from == r.to {
            continue;
        }
        if current != Some((r.customer, r.day)) {
            if let Some((customer, day)) = current {
                for (meter, group, tally) in local.drain(..) {
                    fresh.absorb((meter, customer, day), group, tally);
                }
            }
            current = Some((r.customer, r.day));
        }
        for c in &batch.contributions[r.from as usize..r.to as usize] {
            let (meter, aggregation) = meters[c.meter as usize];
            let at = match local.iter().position(|(m, g, _)| *m == meter && *g == c.group) {
                Some(at) => at,
                None => {
                    local.push((meter, c.group, Tally::Empty));
                    local.len() - 1
                }
            };
            let value = match c.value {
                Value::Text((start, len)) => Value::Text(&batch.text[start as usize..(start + len) as usize]),
                Value::Count => Value::Count,
                Value::Number(v) => Value::Number(v),
                Value::Nothing => Value::Nothing,
            };
            local[at].2.add(aggregation, value, ts_ms, order, distinct);
        }
    }
    if let Some((customer, day)) = current {
        for (meter, group, tally) in local.drain(..) {
            fresh.absorb((meter, customer, day), group, tally);
        }
    }
}

impl Upkeep {
    /// Starts the upkeep in the import's first transaction: the meters that
    /// are current (or whose event type has no events yet, set up empty now),
    /// when the workspace has alert or wallet rules, which price the running
    /// periods right after every import. Without them nothing reads the
    /// rollups at once, and the next read folds the new chunks on two cores
    /// instead (the import keeps its own pace and memory).
    pub fn begin(tx: &Transaction, tz: Tz) -> Result<Upkeep> {
        let last_chunk = newest_chunk(tx)?;
        let mut kept = Vec::new();
        let mut by_type: HashMap<i64, Vec<u16>, BuildFastHasher> = HashMap::default();
        let watched: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM alert_rules) OR EXISTS (SELECT 1 FROM wallet_rules)",
            [],
            |r| r.get(0),
        )?;
        let meters = if watched { meter::all(tx)? } else { Vec::new() };
        for m in meters {
            let id: i64 = tx.query_row("SELECT id FROM meters WHERE code = ?1", [&m.fields.code], |r| r.get(0))?;
            let event_type = m.fields.event.clone().unwrap_or_else(|| m.fields.code.clone());
            // (Counts of a type's events only grow: none counted, none stored.)
            let (type_id, events): (i64, i64) = tx
                .query_row("SELECT id, events FROM event_types WHERE name = ?1", [&event_type], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .unwrap_or((0, 0));
            let sig = signature(&m.fields, tz.name());
            let state: Option<(i64, String)> = tx
                .query_row("SELECT through_chunk, signature FROM usage_days_state WHERE meter_id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let empty = match state {
                Some((through, s)) if s == sig && through == last_chunk => false,
                _ if events == 0 => {
                    // What a refresh would build from no events: nothing, up to the last chunk.
                    tx.execute("DELETE FROM usage_blocks WHERE meter_id = ?1", [id])?;
                    tx.execute("DELETE FROM usage_groups WHERE meter_id = ?1", [id])?;
                    tx.execute(
                        "INSERT INTO usage_days_state (meter_id, through_chunk, signature) VALUES (?1, ?2, ?3)
                         ON CONFLICT (meter_id) DO UPDATE SET through_chunk = ?2, signature = ?3",
                        params![id, last_chunk, sig],
                    )?;
                    true
                }
                _ => continue,
            };
            if type_id != 0 {
                by_type.entry(type_id).or_default().push(kept.len() as u16);
            }
            kept.push(Some(Kept { id, fields: m.fields, signature: sig, empty }));
        }
        let ids: Vec<i64> = kept.iter().flatten().map(|k| k.id).collect();
        let aggregations: Vec<(i64, Aggregation)> =
            kept.iter().flatten().map(|k| (k.id, k.fields.aggregation)).collect();
        let folder = if ids.is_empty() { None } else { Folder::start(aggregations) };
        Ok(Upkeep {
            off: folder.is_none(),
            kept,
            ids,
            by_type,
            days: Days { tz, current: None },
            through: last_chunk,
            last_chunk,
            batch: Batch::default(),
            groups: GroupKeys::default(),
            sent_keys: 0,
            folder,
        })
    }

    /// Notes what the batch's next row adds to the kept meters of its type
    /// (call it for every row pushed to the batch, just before the push).
    pub fn row(&mut self, customer: i64, type_id: i64, ts_ms: i64, properties: &Props) {
        let from = self.batch.contributions.len() as u32;
        let day = match self.by_type.get(&type_id) {
            Some(meters) if !self.off => {
                for &at in meters {
                    let Some(k) = &self.kept[at as usize] else { continue };
                    let m = &k.fields;
                    if !selects(m, None, properties) {
                        continue;
                    }
                    let group = m.group_by.as_ref().and_then(|g| properties.get(g)).and_then(|v| v.text());
                    let group = self.groups.id(group.as_deref());
                    let value = m.property.as_ref().and_then(|p| properties.get(p));
                    let value = match m.aggregation {
                        Aggregation::Count => Value::Count,
                        Aggregation::UniqueCount => match value.and_then(|v| v.text()) {
                            Some(t) => Value::Text(keep_text(&mut self.batch.text, &t)),
                            None => Value::Nothing,
                        },
                        _ => value.and_then(|v| v.decimal()).map_or(Value::Nothing, Value::Number),
                    };
                    self.batch.contributions.push(Contribution { meter: at, group, value });
                }
                if self.batch.contributions.len() as u32 == from {
                    0
                } else {
                    match self.days.of(ts_ms) {
                        Ok(day) => day,
                        Err(_) => {
                            self.off = true;
                            0
                        }
                    }
                }
            }
            _ => 0,
        };
        let to = self.batch.contributions.len() as u32;
        self.batch.rows.push(Row { customer, day, from, to });
    }

    /// Checks, in a batch's transaction before its chunks are written, that
    /// the kept meters still stand where this import left them: a meter
    /// rebuilt or refreshed meanwhile is dropped with what was held for it;
    /// if another writer's chunks came in, what is held is stored up to them
    /// and nothing more is kept.
    pub fn check(&mut self, tx: &Transaction) -> Result<()> {
        if self.off {
            return Ok(());
        }
        let mut state =
            tx.prepare_cached("SELECT through_chunk, signature FROM usage_days_state WHERE meter_id = ?1")?;
        for slot in &mut self.kept {
            let Some(k) = slot else { continue };
            let current: Option<(i64, String)> = state.query_row([k.id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            if current.is_none_or(|(through, s)| through != self.through || s != k.signature) {
                *slot = None;
            }
        }
        if newest_chunk(tx)? != self.last_chunk {
            self.merge(tx)?;
            self.stop();
        }
        Ok(())
    }

    /// Notes where a written chunk put the batch's rows (see
    /// [`crate::event_store::write_chunks`]).
    pub fn chunk(&mut self, chunk: i64, stored: &[(i64, u32)]) {
        if self.off {
            return;
        }
        for (place, &(ts_ms, row)) in stored.iter().enumerate() {
            // The raw path's order: chunk, then place in the chunk (from 1).
            self.batch.placed.push((row, chunk * (1 << 16) + place as i64 + 1, ts_ms));
        }
    }

    /// After a batch's chunks are written, in its transaction: the batch goes
    /// to the folder; what is held is stored once it passes [`MAX_HELD`].
    pub fn written(&mut self, tx: &Transaction) -> Result<()> {
        let Some(folder) = self.folder.as_mut().filter(|_| !self.off) else {
            self.batch.clear();
            return Ok(());
        };
        self.last_chunk = newest_chunk(tx)?;
        let mut batch = std::mem::take(&mut self.batch);
        batch.new_keys.extend(self.groups.keys[self.sent_keys..].iter().cloned());
        self.sent_keys = self.groups.keys.len();
        if folder.jobs.send(Job::Fold(batch)).is_err() {
            self.stop();
            return Ok(());
        }
        if folder.held.load(Ordering::Relaxed) > max_held() {
            self.merge(tx)?;
        }
        Ok(())
    }

    /// At the end of the import, in a transaction of its own: stores what is
    /// held (after the same check as a batch).
    pub fn finish(&mut self, tx: &Transaction) -> Result<()> {
        self.check(tx)?;
        if !self.off {
            self.merge(tx)?;
        }
        self.stop();
        Ok(())
    }

    /// A batch's transaction failed: what was held may include its rows, so
    /// nothing more is kept (its committed batches are left to the refresh).
    pub fn forget(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.off = true;
        self.folder = None;
        self.batch = Batch::default();
    }

    /// Merges what is held into the stored days and moves the kept meters'
    /// watermark to the last chunk folded.
    fn merge(&mut self, tx: &Transaction) -> Result<()> {
        let Some(Taken { mut fresh, distinct }) = self.folder.as_mut().and_then(Folder::take) else {
            // The folder is gone: nothing is stored, the refresh folds the chunks.
            self.stop();
            return Ok(());
        };
        let mut empty = HashSet::new();
        for (at, slot) in self.kept.iter().enumerate() {
            match slot {
                Some(k) if k.empty => {
                    empty.insert(k.id);
                }
                Some(_) => {}
                None => fresh.drop_meter(self.ids[at]),
            }
        }
        let aggregations: HashMap<i64, Aggregation> =
            self.kept.iter().flatten().map(|k| (k.id, k.fields.aggregation)).collect();
        merge_into_store(tx, fresh, &aggregations, |_, tally| tally.into_acc(&distinct), &empty)?;
        let mut moved = tx.prepare_cached("UPDATE usage_days_state SET through_chunk = ?2 WHERE meter_id = ?1")?;
        for k in self.kept.iter_mut().flatten() {
            moved.execute(params![k.id, self.last_chunk])?;
            k.empty = false;
        }
        self.through = self.last_chunk;
        Ok(())
    }
}

fn newest_chunk(tx: &Transaction) -> Result<i64> {
    Ok(tx.prepare_cached("SELECT coalesce(max(id), 0) FROM event_chunks")?.query_row([], |r| r.get(0))?)
}

/// Appends `t` to the arena; its (start, length).
fn keep_text(arena: &mut String, t: &str) -> (u32, u32) {
    let start = arena.len() as u32;
    arena.push_str(t);
    (start, t.len() as u32)
}
