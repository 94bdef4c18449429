//! How events are stored: packed in chunks, and their ids in sorted key runs.
//!
//! Cost: SQLite writes a row per chunk and per key run, not per event.
//! - `event_chunks`: the events of one customer, one type and one import batch
//!   within [`CHUNK_DAYS`] UTC days, in time order, packed in one blob (format
//!   below). A chunk is written once and never rewritten; `usage` reads the
//!   chunks of one customer, type and day range through `event_chunks_by_customer`.
//! - `event_keys`: every stored id's 128-bit xxh3 hash, in sorted runs. A batch
//!   adds one run per bucket (a hash's first byte); when a bucket holds
//!   [`MAX_RUNS`] runs they are merged into one. Checking a batch reads the
//!   runs of the buckets its keys fall in, never a B-tree per event. Two
//!   different ids are taken for one only if their 128-bit hashes are equal:
//!   about 1.5e-21 for 10^9 stored ids.
//!
//! Chunk format, version 1: the byte 1, the varint length of the events' bytes,
//! then those bytes compressed as one LZ4 block. The events' bytes: per event,
//! in time order (ties in file order), the zigzag varint of its time in unix ms
//! minus the previous event's (the first: minus 0), the varint length and bytes
//! of its id, the varint length and bytes of its properties as a JSON object.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, params};
use xxhash_rust::xxh3::xxh3_128;

use crate::error::{Error, Result};

/// Groups (customer and type) whose memory a batch keeps for the next.
const KEPT_GROUPS: usize = 50_000;
/// Runs a bucket may hold before they are merged into one.
pub const MAX_RUNS: usize = 8;
/// Events a chunk holds at most.
pub const MAX_CHUNK_EVENTS: usize = 4096;
/// UTC days a chunk's events span at most: a range read starts this many days early.
pub const CHUNK_DAYS: i64 = 7;
const CHUNK_VERSION: u8 = 1;
const DAY_MS: i64 = 86_400_000;

/// The key of an event id.
#[inline]
pub fn key(id: &str) -> u128 {
    xxh3_128(id.as_bytes())
}

fn bucket(key: u128) -> u8 {
    (key >> 120) as u8
}

/// A hasher for the import's lookup tables (customer ids, event types, batch
/// groups): multiply and fold, far cheaper than the default SipHash, which
/// guards against keys chosen to collide; these tables are built from the
/// workspace, and a crafted file can at worst slow its own import.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuildFastHasher;

#[derive(Debug, Default)]
pub struct FastHasher(u64);

impl std::hash::BuildHasher for BuildFastHasher {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        self.write_u64(u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56));
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// An event checked and waiting for its batch to be written.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub key: u128,
    pub type_id: i64,
    pub ts_ms: i64,
    pub line: u64,
    /// It falls in a period already invoiced: that invoiced window's start
    /// (unix ms). A late chunk holds one window's events, so a void that
    /// gives the window back un-flags exactly its chunks.
    pub late: Option<i64>,
    /// Where its encoded id and properties lie in the batch's arena.
    start: u32,
    length: u32,
}

/// The rows of one customer and type in a batch, in file order.
#[derive(Debug)]
struct Group {
    customer_id: i64,
    type_id: i64,
    rows: Vec<u32>,
}

/// The events of one transaction. Each event's id and properties are
/// appended to one arena, already encoded as the chunk format's event body,
/// and its row number to its customer's and type's group: writing is
/// sequential, and the chunks are later gathered group by group.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Pending>,
    arena: Vec<u8>,
    groups: Vec<Group>,
    group_of: HashMap<(i64, i64), u32, BuildFastHasher>,
}

impl Batch {
    pub fn with_capacity(events: usize) -> Batch {
        Batch { rows: Vec::with_capacity(events), arena: Vec::with_capacity(events * 64), ..Batch::default() }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of ids and properties held.
    pub fn bytes(&self) -> usize {
        self.arena.len()
    }

    /// Empties the batch, keeping its groups' memory for the next one (up to
    /// [`KEPT_GROUPS`] groups: many customers' worth is let go).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.arena.clear();
        if self.groups.len() > KEPT_GROUPS {
            self.groups.clear();
            self.group_of.clear();
        }
        for group in &mut self.groups {
            group.rows.clear();
        }
    }

    /// Adds an event; `write_properties` appends its properties as a JSON object.
    /// (Eight plain arguments: this is the import's hottest call, kept flat.)
    /// Inlined into the engine's import loop, across the crate boundary.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn push(
        &mut self,
        line: u64,
        customer_id: i64,
        type_id: i64,
        ts_ms: i64,
        late: Option<i64>,
        id: &str,
        write_properties: impl FnOnce(&mut Vec<u8>),
    ) {
        let groups = &mut self.groups;
        let g = *self.group_of.entry((customer_id, type_id)).or_insert_with(|| {
            groups.push(Group { customer_id, type_id, rows: Vec::new() });
            (groups.len() - 1) as u32
        });
        self.groups[g as usize].rows.push(self.rows.len() as u32);
        let arena = &mut self.arena;
        let start = arena.len();
        put_varint(arena, id.len() as u64);
        arena.extend_from_slice(id.as_bytes());
        // The properties' length comes first: room for it is kept as a
        // two-byte varint (lengths under 16 KiB), moved over when longer.
        let length_at = arena.len();
        arena.extend_from_slice(&[0, 0]);
        write_properties(arena);
        let length = arena.len() - length_at - 2;
        if length < 1 << 14 {
            arena[length_at] = (length as u8 & 0x7f) | 0x80;
            arena[length_at + 1] = (length >> 7) as u8;
        } else {
            let mut prefix = Vec::with_capacity(4);
            put_varint(&mut prefix, length as u64);
            arena.splice(length_at..length_at + 2, prefix);
        }
        let length = (arena.len() - start) as u32;
        self.rows.push(Pending { key: key(id), type_id, ts_ms, line, late, start: start as u32, length });
    }

    fn body(&self, p: &Pending) -> &[u8] {
        &self.arena[p.start as usize..(p.start + p.length) as usize]
    }
}

/// Claims the ids of `batch` in the caller's transaction: returns, for each
/// row, whether it is new. A row whose id is stored already, or appeared
/// earlier in the batch, is a duplicate.
pub fn claim_keys(conn: &Transaction, batch: &Batch) -> Result<Vec<bool>> {
    let rows = &batch.rows;
    let order = sorted_keys(rows);
    let mut new = vec![false; rows.len()];
    let mut read_runs = conn.prepare_cached("SELECT id, keys FROM event_keys WHERE bucket = ?1")?;
    let mut add_run = conn.prepare_cached("INSERT INTO event_keys (bucket, keys) VALUES (?1, ?2)")?;
    let mut drop_run = conn.prepare_cached("DELETE FROM event_keys WHERE id = ?1")?;
    let mut fresh: Vec<u128> = Vec::new();
    let mut stored: Vec<bool> = Vec::new();
    let mut blob: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < order.len() {
        let b = bucket(order[at].0);
        let end = at + order[at..].partition_point(|&(k, _)| bucket(k) == b);
        let slice = &order[at..end];
        at = end;
        // Stored already?
        stored.clear();
        stored.resize(slice.len(), false);
        let mut run_ids: Vec<i64> = Vec::new();
        let mut runs = read_runs.query([b as i64])?;
        while let Some(run) = runs.next()? {
            run_ids.push(run.get(0)?);
            let keys = run.get_ref(1)?.as_blob().map_err(|e| Error::Internal(format!("event_keys: {e}")))?;
            mark_stored(keys, slice, &mut stored);
        }
        drop(runs);
        fresh.clear();
        for (s, &(k, i)) in slice.iter().enumerate() {
            let repeated = s > 0 && slice[s - 1].0 == k;
            if !stored[s] && !repeated {
                new[i as usize] = true;
                fresh.push(k);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        if run_ids.len() + 1 >= MAX_RUNS {
            // Merge the bucket's runs and the new keys into one run.
            let mut runs = read_runs.query([b as i64])?;
            while let Some(run) = runs.next()? {
                let keys = run.get_ref(1)?.as_blob().map_err(|e| Error::Internal(format!("event_keys: {e}")))?;
                fresh.extend(keys.chunks_exact(16).map(|k| u128::from_be_bytes(k.try_into().expect("16 bytes"))));
            }
            drop(runs);
            // Sorted runs one after another: the stable sort merges them in O(n log runs).
            fresh.sort();
            for id in &run_ids {
                drop_run.execute([id])?;
            }
        }
        blob.clear();
        blob.extend(fresh.iter().flat_map(|k| k.to_be_bytes()));
        add_run.execute(params![b as i64, blob])?;
    }
    Ok(new)
}

/// Forgets stored ids (an import rolled back), in the caller's transaction,
/// so that they import again; returns how many were stored. Each bucket's
/// runs holding any of `keys` are rewritten without them (a run left empty is
/// dropped).
pub fn release_keys(conn: &Transaction, keys: &mut [u128]) -> Result<u64> {
    keys.sort_unstable();
    let mut read_runs = conn.prepare_cached("SELECT id, keys FROM event_keys WHERE bucket = ?1")?;
    let mut rewrite = conn.prepare_cached("UPDATE event_keys SET keys = ?2 WHERE id = ?1")?;
    let mut drop_run = conn.prepare_cached("DELETE FROM event_keys WHERE id = ?1")?;
    let mut released = 0u64;
    let mut at = 0;
    while at < keys.len() {
        let b = bucket(keys[at]);
        let end = at + keys[at..].partition_point(|&k| bucket(k) == b);
        let wanted = &keys[at..end];
        at = end;
        let mut runs: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut rows = read_runs.query([b as i64])?;
        while let Some(row) = rows.next()? {
            runs.push((row.get(0)?, row.get(1)?));
        }
        drop(rows);
        for (id, blob) in runs {
            let kept: Vec<u8> = blob
                .chunks_exact(16)
                .filter(|k| wanted.binary_search(&u128::from_be_bytes((*k).try_into().expect("16 bytes"))).is_err())
                .flatten()
                .copied()
                .collect();
            if kept.len() == blob.len() {
                continue;
            }
            released += ((blob.len() - kept.len()) / 16) as u64;
            if kept.is_empty() {
                drop_run.execute([id])?;
            } else {
                rewrite.execute(params![id, kept])?;
            }
        }
    }
    Ok(released)
}

/// (key, row) in key order; a row's earlier twin in the file sorts first.
/// Hashes are spread evenly: a counting sort on their first 16 bits leaves
/// tiny groups to sort.
fn sorted_keys(rows: &[Pending]) -> Vec<(u128, u32)> {
    let top = |k: u128| (k >> 112) as usize;
    let mut starts = vec![0u32; (1 << 16) + 1];
    for p in rows {
        starts[top(p.key) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![(0u128, 0u32); rows.len()];
    let mut next = starts.clone();
    for (i, p) in rows.iter().enumerate() {
        let at = &mut next[top(p.key)];
        order[*at as usize] = (p.key, i as u32);
        *at += 1;
    }
    for w in starts.windows(2) {
        order[w[0] as usize..w[1] as usize].sort_unstable();
    }
    order
}

/// Marks which keys of `wanted` (ascending) are in `run` (ascending 16-byte
/// keys). Hashes are spread evenly, so a key's place in the run is guessed
/// from its value and found by galloping from there.
fn mark_stored(run: &[u8], wanted: &[(u128, u32)], stored: &mut [bool]) {
    let n = run.len() / 16;
    if n == 0 {
        return;
    }
    let key_at = |j: usize| u128::from_be_bytes(run[j * 16..j * 16 + 16].try_into().expect("16 bytes"));
    if n < wanted.len() * 16 {
        // Few keys per wanted one: walking both in step reads the run once, in order.
        let mut j = 0;
        for (s, &(k, _)) in wanted.iter().enumerate() {
            while j < n && key_at(j) < k {
                j += 1;
            }
            if j == n {
                break;
            }
            if key_at(j) == k {
                stored[s] = true;
            }
        }
        return;
    }
    let (low, high) = (key_at(0), key_at(n - 1));
    let span = (high - low) >> 64;
    for (s, &(k, _)) in wanted.iter().enumerate() {
        if k < low || k > high {
            continue;
        }
        let guess = (((k - low) >> 64) * (n as u128 - 1)).checked_div(span).unwrap_or(0) as usize;
        // Gallop from the guess to bracket k in (lo, hi], then bisect.
        let (mut lo, mut hi);
        if key_at(guess) < k {
            let mut step = 1;
            lo = guess;
            hi = guess + step;
            while hi < n && key_at(hi) < k {
                lo = hi;
                step *= 2;
                hi = guess + step;
            }
            hi = hi.min(n - 1);
            lo += 1;
        } else {
            let mut step = 1;
            hi = guess;
            lo = guess.saturating_sub(step);
            while lo > 0 && key_at(lo) >= k {
                hi = lo;
                step *= 2;
                lo = guess.saturating_sub(step);
            }
        }
        // The first position in [lo, hi] holding a key >= k.
        while lo < hi {
            let m = lo + (hi - lo) / 2;
            if key_at(m) < k { lo = m + 1 } else { hi = m }
        }
        if key_at(lo) == k {
            stored[s] = true;
        }
    }
}

/// What [`write_chunks`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    /// Of them, in a period already invoiced.
    pub late: u64,
}

/// Writes the rows of `batch` marked in `take` as chunks, in the caller's
/// transaction. A chunk's events are all late or all on time. `on_chunk`
/// hears each chunk written: its id, and its events' (time, row of the
/// batch) in the order they are stored (an event's place in the chunk is
/// its index there, from 1).
pub fn write_chunks(
    conn: &Transaction,
    batch: &Batch,
    take: &[bool],
    import_id: i64,
    mut on_chunk: impl FnMut(i64, &[(i64, u32)]),
) -> Result<Written> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO event_chunks (customer_id, type_id, day, first_ms, last_ms, events, import_id, late, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut groups: Vec<&Group> = batch.groups.iter().filter(|g| !g.rows.is_empty()).collect();
    groups.sort_unstable_by_key(|g| (g.customer_id, g.type_id));
    let (mut order, mut raw, mut data) = (Vec::new(), Vec::new(), Vec::new());
    let mut written = Written::default();
    for group in groups {
        // The group's events in time order; files mostly come that way already.
        order.clear();
        order.extend(group.rows.iter().filter(|&&i| take[i as usize]).map(|&i| (batch.rows[i as usize].ts_ms, i)));
        if !order.is_sorted() {
            order.sort_unstable();
        }
        let mut at = 0;
        while at < order.len() {
            let (first_ms, first_row) = order[at];
            let day = first_ms.div_euclid(DAY_MS);
            let late = batch.rows[first_row as usize].late;
            let limit = order.len().min(at + MAX_CHUNK_EVENTS);
            let end = at
                + order[at..limit]
                    .iter()
                    .take_while(|&&(ts, i)| {
                        ts.div_euclid(DAY_MS) < day + CHUNK_DAYS && batch.rows[i as usize].late == late
                    })
                    .count();
            raw.clear();
            let mut previous = 0i64;
            for &(ts, i) in &order[at..end] {
                put_varint(&mut raw, zigzag(ts.wrapping_sub(previous)));
                previous = ts;
                raw.extend_from_slice(batch.body(&batch.rows[i as usize]));
            }
            data.clear();
            data.push(CHUNK_VERSION);
            put_varint(&mut data, raw.len() as u64);
            let packed_from = data.len();
            data.resize(packed_from + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
            let packed = lz4_flex::block::compress_into(&raw, &mut data[packed_from..])
                .map_err(|e| Error::Internal(format!("compressing events: {e}")))?;
            data.truncate(packed_from + packed);
            insert
                .execute(params![
                    group.customer_id,
                    group.type_id,
                    day,
                    first_ms,
                    order[end - 1].0,
                    (end - at) as i64,
                    import_id,
                    late.is_some(),
                    data
                ])
                .map_err(|e| {
                    let line = batch.rows[first_row as usize].line;
                    Error::Internal(format!("line {line}: the events could not be stored: {e}"))
                })?;
            on_chunk(conn.last_insert_rowid(), &order[at..end]);
            written.events += (end - at) as u64;
            if late.is_some() {
                written.late += (end - at) as u64;
            }
            at = end;
        }
    }
    Ok(written)
}

/// One stored event, borrowed from its chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEvent<'a> {
    pub ts_ms: i64,
    pub id: &'a str,
    /// A JSON object.
    pub properties: &'a str,
}

/// Calls `f` for each event of a chunk, in order.
pub fn decode(data: &[u8], mut f: impl FnMut(StoredEvent<'_>)) -> Result<()> {
    let corrupt = || Error::Internal("a stored event chunk is damaged".into());
    let (&version, mut packed) = data.split_first().ok_or_else(corrupt)?;
    if version != CHUNK_VERSION {
        return Err(Error::Internal(format!("event chunk version {version} is not known to this build")));
    }
    let size = usize::try_from(get_varint(&mut packed).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
    if size > MAX_CHUNK_EVENTS * 8192 {
        return Err(corrupt());
    }
    let mut raw = vec![0; size];
    if lz4_flex::block::decompress_into(packed, &mut raw).map_err(|_| corrupt())? != size {
        return Err(corrupt());
    }
    let mut rest = &raw[..];
    let mut ts = 0i64;
    while !rest.is_empty() {
        ts = ts.wrapping_add(unzigzag(get_varint(&mut rest).ok_or_else(corrupt)?));
        let id = take_text(&mut rest).ok_or_else(corrupt)?;
        let properties = take_text(&mut rest).ok_or_else(corrupt)?;
        f(StoredEvent { ts_ms: ts, id, properties });
    }
    Ok(())
}

/// Calls `f` for every event of one customer and type in `[from_ms, to_ms)`,
/// chunk by chunk: each chunk's events in time order, chunks by day and write order.
pub fn scan(
    conn: &Connection,
    customer_id: i64,
    type_id: i64,
    from_ms: i64,
    to_ms: i64,
    mut f: impl FnMut(i64, StoredEvent<'_>),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, data FROM event_chunks
         WHERE customer_id = ?1 AND type_id = ?2 AND day BETWEEN ?3 AND ?4 AND last_ms >= ?5 AND first_ms < ?6
         ORDER BY day, id",
    )?;
    let mut rows = stmt.query(params![
        customer_id,
        type_id,
        from_ms.div_euclid(DAY_MS) - (CHUNK_DAYS - 1),
        (to_ms - 1).div_euclid(DAY_MS),
        from_ms,
        to_ms
    ])?;
    while let Some(row) = rows.next()? {
        let chunk: i64 = row.get(0)?;
        let data = row.get_ref(1)?.as_blob().map_err(|e| Error::Internal(format!("event_chunks: {e}")))?;
        decode(data, |e| {
            if (from_ms..to_ms).contains(&e.ts_ms) {
                f(chunk, e)
            }
        })?;
    }
    Ok(())
}

/// How many events of one customer (every type) lie in `[from_ms, to_ms)`:
/// chunks inside the range count from their metadata; only chunks across an
/// edge are decoded.
pub fn count_between(conn: &Connection, customer_id: i64, from_ms: i64, to_ms: i64) -> Result<u64> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, first_ms, last_ms, events FROM event_chunks
         WHERE customer_id = ?1 AND day BETWEEN ?2 AND ?3 AND last_ms >= ?4 AND first_ms < ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                customer_id,
                from_ms.div_euclid(DAY_MS) - (CHUNK_DAYS - 1),
                (to_ms - 1).div_euclid(DAY_MS),
                from_ms,
                to_ms
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut data = conn.prepare_cached("SELECT data FROM event_chunks WHERE id = ?1")?;
    let mut total = 0u64;
    for (id, first, last, events) in rows {
        if from_ms <= first && last < to_ms {
            total += events as u64;
            continue;
        }
        let blob: Vec<u8> = data.query_row([id], |r| r.get(0))?;
        decode(&blob, |e| total += u64::from((from_ms..to_ms).contains(&e.ts_ms)))?;
    }
    Ok(total)
}

/// A text written as its length (a varint) and its UTF-8 bytes.
#[inline]
pub fn take_text<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let n = usize::try_from(get_varint(rest)?).ok()?;
    let (bytes, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    std::str::from_utf8(bytes).ok()
}

// The chunk format's integers, which the engine's rollup blocks write too:
// zigzag for signed values, then LEB128 varints; texts as length and bytes.

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Converts events stored by schema 3 (a row per event, ids in `event_ids`)
/// into chunks and key runs, then drops the old tables. Runs once, inside the
/// migration to schema 4.
pub(crate) fn convert_legacy(conn: &Transaction) -> Result<()> {
    let imports: Vec<i64> = conn
        .prepare("SELECT DISTINCT import_id FROM events ORDER BY import_id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut read = conn.prepare(
        "SELECT e.customer_id, e.type_id, e.ts_ms, i.event_id, e.properties
         FROM events e JOIN event_ids i ON i.id_key = e.id_key WHERE e.import_id = ?1",
    )?;
    for import_id in imports {
        let mut batch = Batch::default();
        let mut rows = read.query([import_id])?;
        while let Some(r) = rows.next()? {
            let properties: String = r.get(4)?;
            batch.push(0, r.get(0)?, r.get(1)?, r.get(2)?, None, &r.get::<_, String>(3)?, |out| {
                out.extend_from_slice(properties.as_bytes())
            });
        }
        let new = claim_keys(conn, &batch)?;
        write_chunks(conn, &batch, &new, import_id, |_, _| {})?;
    }
    conn.execute_batch("DROP TABLE events; DROP TABLE event_ids;")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            let mut input = &out[..];
            assert_eq!(unzigzag(get_varint(&mut input).unwrap()), v);
            assert!(input.is_empty());
        }
        assert_eq!(get_varint(&mut &[0x80u8, 0x80][..]), None, "a varint cut short");
    }

    #[test]
    fn the_guessing_search_finds_exactly_the_stored_keys() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in [0usize, 1, 2, 3, 10, 1000] {
            // Evenly spread keys, and clustered ones (small values) where guesses are poor.
            for spread in [true, false] {
                let mut draw = || {
                    let k = ((next() as u128) << 64) | next() as u128;
                    if spread { k } else { k % 5000 }
                };
                let mut run: Vec<u128> = (0..n).map(|_| draw()).collect();
                run.sort_unstable();
                run.dedup();
                let mut wanted: Vec<(u128, u32)> = run.iter().step_by(3).map(|&k| (k, 0)).collect();
                wanted.extend((0..50).map(|_| (draw(), 0)));
                wanted.extend([(0, 0), (u128::MAX, 0)]);
                wanted.sort_unstable();
                let blob: Vec<u8> = run.iter().flat_map(|k| k.to_be_bytes()).collect();
                let mut stored = vec![false; wanted.len()];
                mark_stored(&blob, &wanted, &mut stored);
                for (s, (k, _)) in wanted.iter().enumerate() {
                    assert_eq!(stored[s], run.binary_search(k).is_ok(), "n {n}, spread {spread}, key {k}");
                }
            }
        }
    }

    #[test]
    fn events_come_back_from_chunks_as_written_in_time_order() {
        let mut ws = crate::Workspace::in_memory().unwrap();
        let big = format!("{{\"note\":\"{}\"}}", "x".repeat(20_000));
        let mut batch = Batch::default();
        let day = DAY_MS * 20_000;
        // (line, customer, time, id, properties): out of order, over more days than a chunk spans.
        let rows = [
            (1, 1, day + 5, "b", "{}"),
            (2, 1, day + 1, "a", big.as_str()),
            (3, 2, day, "other-customer", "{}"),
            (4, 1, day + 1, "a2", "{\"x\":1}"),
            (5, 1, day + 9 * DAY_MS, "later", "{}"),
            (6, 1, day - 3, "before", "{}"),
        ];
        for (line, customer, ts, id, props) in rows {
            batch.push(line, customer, 7, ts, None, id, |out| out.extend_from_slice(props.as_bytes()));
        }
        let written = ws
            .write(|tx| {
                let take = claim_keys(tx, &batch)?;
                write_chunks(tx, &batch, &take, 1, |_, _| {})
            })
            .unwrap();
        assert_eq!(written.events, 6);
        let mut seen = Vec::new();
        scan(ws.conn(), 1, 7, day - 10, day + 10 * DAY_MS, |_, e| {
            seen.push((e.ts_ms - day, e.id.to_string(), e.properties.len()))
        })
        .unwrap();
        let expected = [(-3, "before", 2), (1, "a", big.len()), (1, "a2", 7), (5, "b", 2), (9 * DAY_MS, "later", 2)];
        let expected: Vec<(i64, String, usize)> = expected.iter().map(|(t, i, n)| (*t, i.to_string(), *n)).collect();
        assert_eq!(seen, expected);
        let mut in_range = Vec::new();
        scan(ws.conn(), 1, 7, day + 1, day + 6, |_, e| in_range.push(e.id.to_string())).unwrap();
        assert_eq!(in_range, ["a", "a2", "b"], "[from, to) is half-open and only this customer's");
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        for data in [&[][..], &[9][..], &[1, 2][..], &[1, 4, 0x40, 2, 5, b'a'][..], &[1, 0xff, 0xff, 0xff, 0x7f, 0][..]]
        {
            assert!(decode(data, |_| {}).is_err(), "{data:?}");
        }
    }
}
