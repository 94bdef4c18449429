//! Importing usage events from files, exactly once each.
//!
//! Cost: an import reads the file once, streaming, through borrowed rows (no
//! allocation per CSV row). Customers and meters are looked up in memory,
//! loaded once per import. Each batch is one transaction: its ids are claimed
//! against the stored key runs, and its new events are written as chunks
//! (event_store.rs), so SQLite writes a row per chunk, not per event.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use ts_rs::TS;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};
use crate::event_file::{self, CsvColumns, FileEvent, Format, Raw};
use crate::event_store::{self, Batch, BuildFastHasher};
use crate::import::{ImportReport, RowError};
use crate::meter::{self, Aggregation, MeterFields};
use crate::rollup;
use crate::workspace::Workspace;

/// Events written per transaction: a crash or cancel keeps whole batches only.
pub const DEFAULT_BATCH: usize = 200_000;
/// A batch is also committed once its events' ids and properties reach this
/// size, so large properties keep memory bounded too.
pub const MAX_BATCH_BYTES: usize = 64 << 20;
/// Rejected rows kept, as read, per import (for saving them); more are counted.
pub const MAX_STORED_REJECTS: u64 = 100_000;
/// Row errors kept in a report; further rejects are counted, not listed.
pub const MAX_LISTED_ERRORS: usize = 10_000;

/// How to read one file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file_name: String,
    pub format: Format,
    pub columns: CsvColumns,
    pub batch_size: usize,
}

impl ImportOptions {
    pub fn new(file_name: &str, format: Format) -> ImportOptions {
        ImportOptions { file_name: file_name.into(), format, columns: CsvColumns::default(), batch_size: DEFAULT_BATCH }
    }
}

/// What the rows of one event type are checked against: the meters counting it.
struct TypeRules {
    type_id: i64,
    /// (meter code, property) for each meter that reads a property of these events...
    needs: Vec<Need>,
}

/// A property some meter reads, and whether it must be a number.
struct Need {
    meter: MeterFields,
    property: String,
    number: bool,
}

/// The workspace facts an import validates rows against.
struct Context {
    customers: HashMap<String, i64, BuildFastHasher>,
    types: HashMap<String, TypeRules, BuildFastHasher>,
    /// Each customer's invoiced periods, [from, to) in unix ms, in order.
    invoiced: HashMap<i64, Vec<(i64, i64)>, BuildFastHasher>,
}

pub(crate) use meterdesk_rules::aggregate::matches_filters;

impl Context {
    /// With a transaction to write in, event types seen for the first time
    /// are numbered there (an import does that); without, nothing is written
    /// (a preview).
    fn load(conn: &Connection, create_types: Option<&Transaction>) -> Result<Context> {
        let mut customers = HashMap::default();
        let mut stmt = conn.prepare("SELECT external_id, id FROM customers")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (external, id) = row?;
            customers.insert(external, id);
        }
        let mut types: HashMap<String, TypeRules, BuildFastHasher> = HashMap::default();
        for m in meter::all(conn)? {
            let name = m.fields.event.clone().unwrap_or_else(|| m.fields.code.clone());
            if !types.contains_key(&name) {
                let type_id = match create_types {
                    Some(tx) => type_id(tx, &name)?,
                    None => existing_type_id(conn, &name)?,
                };
                types.insert(name.clone(), TypeRules { type_id, needs: Vec::new() });
            }
            if let Some(property) = m.fields.property.clone() {
                let number = match m.fields.aggregation {
                    Aggregation::Count | Aggregation::UniqueCount => false,
                    Aggregation::Sum | Aggregation::Max | Aggregation::Min | Aggregation::Avg | Aggregation::Latest => {
                        true
                    }
                };
                types.get_mut(&name).expect("inserted above").needs.push(Need { meter: m.fields, property, number });
            }
        }
        let mut invoiced: HashMap<i64, Vec<(i64, i64)>, BuildFastHasher> = HashMap::default();
        let mut stmt =
            conn.prepare("SELECT customer_id, from_ms, to_ms FROM invoiced_periods ORDER BY customer_id, from_ms")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))? {
            let (customer, from, to) = row?;
            invoiced.entry(customer).or_default().push((from, to));
        }
        Ok(Context { customers, types, invoiced })
    }

    /// The start of the period already invoiced to the customer that an event
    /// at `ts_ms` falls in, if one is.
    fn late(&self, customer_id: i64, ts_ms: i64) -> Option<i64> {
        if self.invoiced.is_empty() {
            return None;
        }
        let periods = self.invoiced.get(&customer_id)?;
        let after = periods.partition_point(|&(from, _)| from <= ts_ms);
        (after > 0 && ts_ms < periods[after - 1].1).then(|| periods[after - 1].0)
    }

    /// Checks one event against the workspace: a known customer, a type some
    /// meter counts, and the properties those meters read. Returns the
    /// customer's and the type's numbers.
    fn check(&self, e: &FileEvent) -> std::result::Result<(i64, i64), RowError> {
        let reject = |field: &str, reason: String| RowError { line: e.line, field: field.into(), reason };
        let Some(&customer_id) = self.customers.get(e.customer.as_ref()) else {
            return Err(reject("customer", format!("no customer with id \"{}\"", e.customer)));
        };
        let Some(rules) = self.types.get(e.event_type.as_ref()) else {
            return Err(reject("type", format!("no meter counts events of type \"{}\"", e.event_type)));
        };
        for need in &rules.needs {
            if !matches_filters(&need.meter, &e.properties) {
                continue;
            }
            match e.properties.get(&need.property) {
                None => {
                    return Err(reject(&need.property, format!("missing; meter \"{}\" needs it", need.meter.code)));
                }
                Some(v) if v.is_null() => {
                    return Err(reject(&need.property, format!("missing; meter \"{}\" needs it", need.meter.code)));
                }
                Some(v) if need.number && !v.is_number() => {
                    let code = &need.meter.code;
                    return Err(reject(&need.property, format!("{v} is not a number; meter \"{code}\" sums it")));
                }
                Some(v) if need.number && !v.is_within_event_bound() => {
                    return Err(reject(
                        &need.property,
                        format!(
                            "{v} is larger than one event may carry (at most {} either way)",
                            crate::event_file::MAX_EVENT_VALUE
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok((customer_id, rules.type_id))
    }
}

/// The id of an event type if it is numbered already, 0 if not (nothing is stored under 0).
fn existing_type_id(conn: &Connection, name: &str) -> Result<i64> {
    let id: Option<i64> =
        conn.query_row("SELECT id FROM event_types WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    Ok(id.unwrap_or(0))
}

/// The id of an event type, created when first seen.
fn type_id(conn: &Transaction, name: &str) -> Result<i64> {
    conn.execute("INSERT INTO event_types (name) VALUES (?1) ON CONFLICT (name) DO NOTHING", [name])?;
    Ok(conn.query_row("SELECT id FROM event_types WHERE name = ?1", [name], |r| r.get(0))?)
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Feeds everything read through a hash, for the import log.
struct Hashing<R> {
    inner: R,
    hasher: Xxh3,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hasher.update(&out[..n]);
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// How far an import has got, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct ImportProgress {
    /// Rows read so far (accepted or duplicate once committed, or rejected).
    pub rows: u64,
    /// Bytes of the file read so far.
    pub bytes: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// Rows read between two progress reports.
pub const PROGRESS_EVERY: u64 = 10_000;

/// Imports the events of one file. Valid rows are stored once each (an id
/// already stored, in this file or before, counts as a duplicate); every other
/// row is reported with its line, field and reason. Batches are committed one
/// transaction at a time; `progress` hears how far it got every
/// [`PROGRESS_EVERY`] rows and after each commit, and may stop the import
/// (cancel), which keeps the committed batches only.
pub fn import(
    ws: &mut Workspace,
    input: impl Read,
    options: &ImportOptions,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(&ImportProgress) -> ControlFlow<()>,
) -> Result<ImportReport> {
    let _running = Running::begin(ws, now)?;
    let (context, import_id, mut upkeep) = ws.write(|tx| {
        let context = Context::load(tx, Some(tx))?;
        tx.execute(
            "INSERT INTO imports (file_name, format, started_at, outcome) VALUES (?1, ?2, ?3, 'running')",
            params![options.file_name, options.format.name(), time_text(now)],
        )?;
        let import_id = tx.last_insert_rowid();
        Ok((context, import_id, rollup::Upkeep::begin(tx, crate::settings::zone(tx)?)?))
    })?;
    let bytes_read = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let hashing = Hashing { inner: input, hasher: Xxh3::new(), bytes: bytes_read.clone() };
    let mut reader = BufReader::with_capacity(1 << 16, hashing);
    let mut rows_read = 0u64;
    let mut report = ImportReport::default();
    let mut batch = Batch::with_capacity(options.batch_size.min(DEFAULT_BATCH));
    let mut rejects = Rejects { import_id, header: None, rows: Vec::new(), stored: 0 };
    let mut failure: Option<Error> = None;
    let mut cancelled = false;

    let mut tell = |report: &ImportReport, rows: u64| {
        progress(&ImportProgress {
            rows,
            bytes: bytes_read.get(),
            accepted: report.accepted,
            duplicates: report.duplicates,
            rejected: report.rejected,
        })
    };
    let flush = |ws: &mut Workspace,
                 batch: &mut Batch,
                 upkeep: &mut rollup::Upkeep,
                 rejects: &mut Rejects,
                 report: &mut ImportReport| {
        let stored = ws.write(|tx| {
            rejects.write(tx)?;
            upkeep.check(tx)?;
            let written = write_batch(tx, batch, import_id, report, upkeep)?;
            upkeep.written(tx)?;
            Ok(written)
        });
        let (written, duplicates) = stored.inspect_err(|_| upkeep.forget())?;
        report.accepted += written.events;
        report.late += written.late;
        report.duplicates += duplicates;
        batch.clear();
        Ok::<(), Error>(())
    };

    let read = event_file::read(options.format, &options.columns, &mut reader, &mut |row, raw| {
        rows_read += 1;
        match row.and_then(|e| context.check(&e).map(|ids| (e, ids))) {
            Ok((e, (customer_id, type_id))) => {
                let ts = e.timestamp.timestamp_millis();
                let late = context.late(customer_id, ts);
                upkeep.row(customer_id, type_id, ts, &e.properties);
                batch.push(e.line, customer_id, type_id, ts, late, &e.id, |out| e.properties.write_json(out))
            }
            Err(err) => {
                report.rejected += 1;
                rejects.keep(&err, raw);
                if report.errors.len() < MAX_LISTED_ERRORS {
                    report.errors.push(err);
                }
            }
        }
        let committed = batch.len() >= options.batch_size || batch.bytes() >= MAX_BATCH_BYTES;
        if committed && let Err(e) = flush(ws, &mut batch, &mut upkeep, &mut rejects, &mut report) {
            failure = Some(e);
            return ControlFlow::Break(());
        }
        if (committed || rows_read.is_multiple_of(PROGRESS_EVERY)) && tell(&report, rows_read).is_break() {
            cancelled = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if report.rejected > report.errors.len() as u64 {
        report.notes.push(format!(
            "only the first {} of the {} rejected rows are listed",
            report.errors.len(),
            report.rejected
        ));
    }
    if report.rejected > MAX_STORED_REJECTS {
        report
            .notes
            .push(format!("only the first {MAX_STORED_REJECTS} rejected rows are kept to save and import again"));
    }
    if failure.is_none() && !cancelled {
        match read {
            Err(e) => failure = Some(e),
            Ok(()) if !batch.is_empty() || !rejects.rows.is_empty() => {
                match flush(ws, &mut batch, &mut upkeep, &mut rejects, &mut report) {
                    Ok(()) => {
                        let _ = tell(&report, rows_read);
                    }
                    Err(e) => failure = Some(e),
                }
            }
            Ok(()) => {}
        }
    }
    let outcome = match (&failure, cancelled) {
        (Some(_), _) => "failed",
        (None, true) => "cancelled",
        (None, false) => "completed",
    };
    // The rollups of what was committed; should this fail, the next read refreshes them instead.
    let _ = ws.write(|tx| upkeep.finish(tx));
    let hash = (outcome == "completed").then(|| format!("{:032x}", reader.get_ref().hasher.digest128()));
    let logged = ws.write(|tx| {
        tx.execute(
            "UPDATE imports SET outcome = ?2, ended_at = ?3, file_hash = ?4, rejected = ?5 WHERE id = ?1",
            params![import_id, outcome, time_text(now), hash, report.rejected as i64],
        )?;
        Ok(())
    });
    report.import_id = Some(import_id);
    match failure {
        // Earlier batches were committed: say what was kept, and how to go on.
        Some(Error::DiskFull { .. }) if report.accepted + report.duplicates > 0 => Err(Error::DiskFull {
            saved: Some(format!(
                "{} events of this file were saved before it filled ({} accepted, {} duplicates), the rest was \
                 not; import the file again once there is room (what was saved counts as duplicates)",
                report.accepted + report.duplicates,
                report.accepted,
                report.duplicates
            )),
        }),
        Some(e) => Err(e),
        None => logged.map(|()| report),
    }
}

/// An import in progress: it holds the workspace's import lock shared, so
/// imports in other processes run alongside it. Starting one first tries the
/// lock exclusively: when that succeeds no import runs anywhere, and any
/// logged as 'running' was killed or crashed; it is marked 'interrupted'.
struct Running {
    _lock: Option<std::fs::File>,
}

impl Running {
    fn begin(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Running> {
        let Some(path) = ws.import_lock_path() else { return Ok(Running { _lock: None }) };
        // Without a lock file (a read-only folder, say) imports still run; only the clean-up waits.
        let Ok(file) = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path) else {
            return Ok(Running { _lock: None });
        };
        if file.try_lock().is_ok() {
            ws.write(|tx| {
                tx.execute(
                    "UPDATE imports SET outcome = 'interrupted', ended_at = coalesce(ended_at, ?1) WHERE outcome = 'running'",
                    [time_text(now)],
                )?;
                Ok(())
            })?;
            let _ = file.unlock();
        }
        file.lock_shared().map_err(|e| Error::Io(format!("cannot lock {}: {e}", path.display())))?;
        Ok(Running { _lock: Some(file) })
    }
}

/// Rejected rows waiting to be stored with the next batch, as the file wrote them.
struct Rejects {
    import_id: i64,
    /// A CSV file's header row, once seen (stored with the first rejects).
    header: Option<Vec<u8>>,
    /// (seq, line, field, reason, raw)
    rows: Vec<(u64, u64, String, String, Vec<u8>)>,
    stored: u64,
}

impl Rejects {
    fn keep(&mut self, err: &RowError, raw: Raw) {
        if self.stored >= MAX_STORED_REJECTS {
            return;
        }
        if self.header.is_none()
            && let Raw::Csv { header, .. } = raw
        {
            self.header = Some(csv_row(header.iter().map(String::as_bytes)));
        }
        self.stored += 1;
        self.rows.push((self.stored, err.line, err.field.clone(), err.reason.clone(), raw_row(raw)));
    }

    fn write(&mut self, conn: &Connection) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        if let Some(header) = &self.header {
            conn.execute(
                "UPDATE imports SET header = ?2 WHERE id = ?1 AND header IS NULL",
                params![self.import_id, header],
            )?;
        }
        let mut insert = conn.prepare_cached(
            "INSERT INTO import_rejects (import_id, seq, line, field, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (seq, line, field, reason, raw) in self.rows.drain(..) {
            insert.execute(params![self.import_id, seq as i64, line as i64, field, reason, raw])?;
        }
        Ok(())
    }
}

/// Fields written as one CSV row, with its newline; a cell a spreadsheet
/// would run as a formula is written as text.
fn csv_row<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let record: csv::ByteRecord = fields.into_iter().map(crate::spreadsheet::cell_bytes).collect();
    // Writing to memory cannot fail.
    let _ = writer.write_byte_record(&record);
    writer.into_inner().unwrap_or_default()
}

/// A row as the file wrote it, in a form that imports again: a CSV row, or a
/// JSON value on one line.
fn raw_row(raw: Raw) -> Vec<u8> {
    match raw {
        Raw::Csv { record, .. } => csv_row(record.iter()),
        Raw::Value(value) => value.to_string().into_bytes(),
        Raw::Text(text) => match serde_json::from_slice::<serde_json::Value>(text) {
            Ok(value) => value.to_string().into_bytes(),
            // Not JSON: kept as written, on one line.
            Err(_) => {
                let one_line: Vec<u8> = text.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect();
                one_line.trim_ascii().to_vec()
            }
        },
        Raw::None => Vec::new(),
    }
}

/// The format import `import_id` read its file in (`csv`, `ndjson` or
/// `cloudevents`): the format its rejected rows are written in.
pub fn imported_format(conn: &Connection, import_id: i64) -> Result<String> {
    conn.query_row("SELECT format FROM imports WHERE id = ?1", [import_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no import number {import_id}")))
}

/// Writes the rows an import rejected, as the file wrote them, in the import's
/// format (a CSV file's header first), ready to fix and import again. Returns
/// how many rows were written.
pub fn write_rejects(conn: &Connection, import_id: i64, out: &mut impl std::io::Write) -> Result<u64> {
    let (format, header): (String, Option<Vec<u8>>) = conn
        .query_row("SELECT format, header FROM imports WHERE id = ?1", [import_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no import number {import_id}")))?;
    let io = |e: std::io::Error| Error::Io(format!("cannot write the rejected rows: {e}"));
    if format == "csv"
        && let Some(header) = header
    {
        out.write_all(&header).map_err(io)?;
    }
    let mut stmt = conn.prepare("SELECT raw FROM import_rejects WHERE import_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([import_id])?;
    let mut written = 0;
    while let Some(row) = rows.next()? {
        let raw = row.get_ref(0)?.as_blob().map_err(|e| Error::Internal(format!("import_rejects: {e}")))?;
        if raw.is_empty() {
            continue; // nothing of the row could be read
        }
        out.write_all(raw).map_err(io)?;
        if format != "csv" {
            out.write_all(b"\n").map_err(io)?;
        }
        written += 1;
    }
    Ok(written)
}

/// Writes one batch in the caller's transaction; returns what was written and the duplicates.
fn write_batch(
    conn: &Transaction,
    batch: &Batch,
    import_id: i64,
    report: &ImportReport,
    upkeep: &mut rollup::Upkeep,
) -> Result<(event_store::Written, u64)> {
    let new = event_store::claim_keys(conn, batch)?;
    let written = event_store::write_chunks(conn, batch, &new, import_id, |chunk, rows| upkeep.chunk(chunk, rows))?;
    let accepted = written.events;
    let duplicates = batch.len() as u64 - accepted;
    let mut per_type: HashMap<i64, i64> = HashMap::new();
    for (p, _) in batch.rows.iter().zip(&new).filter(|(_, new)| **new) {
        *per_type.entry(p.type_id).or_default() += 1;
    }
    let mut counted = conn.prepare_cached("UPDATE event_types SET events = events + ?2 WHERE id = ?1")?;
    for (type_id, n) in per_type {
        counted.execute(params![type_id, n])?;
    }
    conn.execute(
        "UPDATE imports SET accepted = ?2, duplicates = ?3, rejected = ?4, late = ?5 WHERE id = ?1",
        params![
            import_id,
            (report.accepted + accepted) as i64,
            (report.duplicates + duplicates) as i64,
            report.rejected as i64,
            (report.late + written.late) as i64
        ],
    )?;
    Ok((written, duplicates))
}

/// Saves (or replaces) a named CSV column mapping after checking its names.
pub fn save_mapping(conn: &Transaction, name: &str, columns: &CsvColumns) -> Result<()> {
    let mut problems = Vec::new();
    if name.trim().is_empty() || name.chars().count() > 64 {
        problems.push(crate::Problem::new("name", "a mapping name is 1 to 64 characters"));
    }
    let named = [
        ("id", &columns.id),
        ("customer", &columns.customer),
        ("event_type", &columns.event_type),
        ("timestamp", &columns.timestamp),
    ];
    for (field, column) in named {
        if column.trim().is_empty() {
            problems.push(crate::Problem::new(field, "the column name must not be empty"));
        } else if named.iter().filter(|(_, other)| *other == column).count() > 1 {
            problems.push(crate::Problem::new(field, format!("column \"{column}\" is used for two fields")));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    conn.execute(
        "INSERT INTO column_mappings (name, id_column, customer_column, type_column, time_column) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET id_column = ?2, customer_column = ?3, type_column = ?4, time_column = ?5",
        params![name.trim(), columns.id, columns.customer, columns.event_type, columns.timestamp],
    )?;
    Ok(())
}

/// A saved CSV column mapping by name.
pub fn mapping(conn: &Connection, name: &str) -> Result<CsvColumns> {
    conn.query_row(
        "SELECT id_column, customer_column, type_column, time_column FROM column_mappings WHERE name = ?1",
        [name],
        |r| Ok(CsvColumns { id: r.get(0)?, customer: r.get(1)?, event_type: r.get(2)?, timestamp: r.get(3)? }),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no saved column mapping named \"{name}\"")))
}

/// Every saved mapping's name, sorted.
pub fn mapping_names(conn: &Connection) -> Result<Vec<String>> {
    Ok(mappings(conn)?.into_iter().map(|m| m.name).collect())
}

/// A saved CSV column mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct NamedMapping {
    pub name: String,
    pub columns: CsvColumns,
}

/// Every saved mapping, by name.
pub fn mappings(conn: &Connection) -> Result<Vec<NamedMapping>> {
    let mut stmt = conn.prepare(
        "SELECT name, id_column, customer_column, type_column, time_column FROM column_mappings ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(NamedMapping {
            name: r.get(0)?,
            columns: CsvColumns { id: r.get(1)?, customer: r.get(2)?, event_type: r.get(3)?, timestamp: r.get(4)? },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Opens `path` with its format: the one given, or the one its name implies.
fn open_event_file(path: &std::path::Path, format: Option<Format>) -> Result<(String, Format, std::fs::File)> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let Some(format) = format.or_else(|| Format::from_file_name(&name)) else {
        return Err(Error::invalid(
            "--format",
            format!("cannot tell the format of \"{name}\" from its name; pass --format csv, ndjson or cloudevents"),
        ));
    };
    let file = std::fs::File::open(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    Ok((name, format, file))
}

/// Opens `path` and imports it, the format detected from its name unless
/// given, CSV columns read through `columns` (`api::import_events` also
/// resolves a saved mapping and evaluates the wallet rules after).
pub fn import_file_with(
    ws: &mut Workspace,
    path: &std::path::Path,
    format: Option<Format>,
    columns: &CsvColumns,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(&ImportProgress) -> ControlFlow<()>,
) -> Result<ImportReport> {
    let (name, format, file) = open_event_file(path, format)?;
    let mut options = ImportOptions::new(&name, format);
    options.columns = columns.clone();
    import(ws, file, &options, now, progress)
}

/// One row of a preview, as the import would store it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct PreviewRow {
    pub line: u64,
    pub id: String,
    pub customer: String,
    pub event_type: String,
    #[ts(type = "string")]
    pub timestamp: DateTime<Utc>,
    /// The properties as JSON text.
    pub properties: String,
}

/// The first rows of a file, checked as the import would check them, before
/// anything is written.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ImportPreview {
    /// csv, ndjson or cloudevents.
    pub format: Format,
    /// A CSV file's column names (empty for JSON formats).
    pub header: Vec<String>,
    /// Columns the mapping names that the CSV file lacks; rows are read only when none is.
    pub missing: Vec<String>,
    pub rows: Vec<PreviewRow>,
    pub errors: Vec<RowError>,
    /// The file's size, for progress.
    pub bytes: u64,
}

/// Reads the first `limit` rows of `path` (CSV columns through `columns`) and
/// checks them against the workspace, writing nothing.
pub fn preview(
    conn: &Connection,
    path: &std::path::Path,
    format: Option<Format>,
    columns: &CsvColumns,
    limit: usize,
) -> Result<ImportPreview> {
    let (_, format, file) = open_event_file(path, format)?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut preview =
        ImportPreview { format, header: Vec::new(), missing: Vec::new(), rows: Vec::new(), errors: Vec::new(), bytes };
    if format == Format::Csv {
        preview.header = event_file::csv_header(BufReader::new(&file))?;
        let required = [&columns.id, &columns.customer, &columns.event_type, &columns.timestamp];
        preview.missing = required.into_iter().filter(|c| !preview.header.contains(c)).cloned().collect();
        if !preview.missing.is_empty() {
            return Ok(preview);
        }
    }
    let (_, _, file) = open_event_file(path, Some(format))?;
    let context = Context::load(conn, None)?;
    let mut seen = 0;
    event_file::read(format, columns, BufReader::new(file), &mut |row, _| {
        seen += 1;
        match row.and_then(|e| context.check(&e).map(|_| e)) {
            Err(e) => preview.errors.push(e),
            Ok(e) => {
                let mut properties = Vec::new();
                e.properties.write_json(&mut properties);
                preview.rows.push(PreviewRow {
                    line: e.line,
                    id: e.id.to_string(),
                    customer: e.customer.to_string(),
                    event_type: e.event_type.to_string(),
                    timestamp: e.timestamp,
                    properties: String::from_utf8_lossy(&properties).into_owned(),
                })
            }
        }
        if seen >= limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })?;
    Ok(preview)
}

/// Counts stored events (for summaries and tests).
pub fn count(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT coalesce(sum(events), 0) FROM event_chunks", [], |r| r.get::<_, i64>(0))? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::usage;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn workspace() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        let catalog = catalog::parse(
            r#"{
              "workspace": { "timezone": "America/New_York" },
              "customers": [ { "id": "globex", "name": "Globex" }, { "id": "initech", "name": "Initech" } ],
              "meters": [
                { "code": "tokens", "name": "Tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
                { "code": "api_calls", "name": "API calls", "aggregation": "count" },
                { "code": "eu_calls", "name": "EU calls", "aggregation": "count", "event": "api_calls",
                  "filters": { "region": "eu" } },
                { "code": "storage_gb", "name": "Storage", "aggregation": "max", "property": "gb" }
              ]
            }"#,
        )
        .unwrap();
        ws.write(|tx| catalog::apply(tx, catalog, now())).unwrap();
        ws
    }

    fn import_csv(ws: &mut Workspace, text: &str, batch_size: usize) -> ImportReport {
        let mut options = ImportOptions::new("test.csv", Format::Csv);
        options.batch_size = batch_size;
        import(ws, text.as_bytes(), &options, now(), &mut |_| ControlFlow::Continue(())).unwrap()
    }

    fn usage(ws: &Workspace, meter: &str, customer: &str, group: Option<&str>) -> String {
        usage::value(ws.conn(), meter, customer, utc("2026-10-01T04:00:00Z"), utc("2026-11-01T04:00:00Z"), group)
            .unwrap()
            .to_string()
    }

    const OCTOBER: &str = "id,customer,type,timestamp,tokens,model,region,gb\n\
        e1,globex,tokens,2026-10-05T12:00:00Z,1200,gpt-4o,,\n\
        e2,globex,tokens,2026-10-06T12:00:00Z,300,gpt-4o-mini,,\n\
        e3,globex,api_calls,2026-10-07T12:00:00Z,,,eu,\n\
        e4,globex,api_calls,2026-10-07T13:00:00Z,,,us,\n\
        e5,initech,api_calls,2026-10-07T13:00:00Z,,,eu,\n\
        e6,globex,storage_gb,2026-10-08T00:00:00Z,,,,12.5\n\
        e7,globex,storage_gb,2026-10-09T00:00:00Z,,,,40\n\
        e8,globex,tokens,2026-11-01T03:30:00Z,5,gpt-4o,,\n\
        e9,globex,tokens,2026-11-01T04:00:00Z,1000000,gpt-4o,,\n";

    #[test]
    fn imported_events_aggregate_per_meter_customer_and_period() {
        let mut ws = workspace();
        let report = import_csv(&mut ws, OCTOBER, DEFAULT_BATCH);
        assert_eq!((report.accepted, report.duplicates, report.rejected), (9, 0, 0), "{report:?}");
        // 2026-11-01T03:30Z is Oct 31, 23:30 in New York: October usage. 04:00Z is November.
        assert_eq!(usage(&ws, "tokens", "globex", None), "1505");
        assert_eq!(usage(&ws, "tokens", "globex", Some("gpt-4o")), "1205");
        assert_eq!(usage(&ws, "api_calls", "globex", None), "2");
        assert_eq!(usage(&ws, "eu_calls", "globex", None), "1");
        assert_eq!(usage(&ws, "eu_calls", "initech", None), "1");
        assert_eq!(usage(&ws, "storage_gb", "globex", None), "40");
        assert_eq!(usage(&ws, "tokens", "initech", None), "0");
    }

    #[test]
    fn reimporting_is_a_counted_no_op_and_ids_dedupe_within_a_file() {
        let mut ws = workspace();
        import_csv(&mut ws, OCTOBER, 4);
        let again = import_csv(&mut ws, OCTOBER, 4);
        assert_eq!((again.accepted, again.duplicates, again.rejected), (0, 9, 0));
        assert_eq!(usage(&ws, "tokens", "globex", None), "1505", "nothing counted twice");
        let within = "id,customer,type,timestamp,tokens,model\n\
                      d1,initech,tokens,2026-10-05T12:00:00Z,10,a\n\
                      d1,initech,tokens,2026-10-05T12:00:00Z,10,a\n\
                      d1,initech,tokens,2026-10-20T12:00:00Z,99,a\n";
        let report = import_csv(&mut ws, within, DEFAULT_BATCH);
        assert_eq!((report.accepted, report.duplicates), (1, 2), "the first occurrence wins");
        assert_eq!(usage(&ws, "tokens", "initech", None), "10");
        assert_eq!(count(ws.conn()).unwrap(), 10);
    }

    #[test]
    fn rows_the_workspace_cannot_bill_are_rejected_by_name() {
        let mut ws = workspace();
        let text = "id,customer,type,timestamp,tokens,model,gb\n\
                    r1,hooli,tokens,2026-10-05T12:00:00Z,1,a,\n\
                    r2,globex,refunds,2026-10-05T12:00:00Z,1,a,\n\
                    r3,globex,tokens,2026-10-05T12:00:00Z,lots,a,\n\
                    r4,globex,tokens,2026-10-05T12:00:00Z,,a,\n\
                    r5,globex,storage_gb,2026-10-05T12:00:00Z,,,1e3\n\
                    r6,globex,tokens,2026-10-05T12:00:00Z,2,a,\n";
        let report = import_csv(&mut ws, text, DEFAULT_BATCH);
        assert_eq!((report.accepted, report.rejected), (1, 5));
        let named: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(named, [(2, "customer"), (3, "type"), (4, "tokens"), (5, "tokens"), (6, "gb")]);
        assert!(report.errors[0].reason.contains("no customer with id \"hooli\""));
        assert!(report.errors[1].reason.contains("no meter counts events of type \"refunds\""));
        assert!(report.errors[2].reason.contains("not a number"));
        assert_eq!(usage(&ws, "tokens", "globex", None), "2");
    }

    #[test]
    fn rejected_rows_are_saved_as_written_and_import_once_fixed() {
        let mut ws = workspace();
        let mut text = b"\xef\xbb\xbfid,customer,type,timestamp,tokens,model\r\n\
            ok1,globex,tokens,2026-10-05T12:00:00Z,5,\"gpt-4o, large\"\r\n\
            r1,hooli,tokens,2026-10-05T12:00:00Z,7,\"two\nlines\"\r\n\
            r2,globex,tokens,yesterday,1,a\r\n\
            r3,globex,tokens\r\n"
            .to_vec();
        text.extend_from_slice(b"r4,globex,tokens,2026-10-06T12:00:00Z,1,\xff\r\n");
        let mut options = ImportOptions::new("oct.csv", Format::Csv);
        options.batch_size = 1;
        let report = import(&mut ws, &text[..], &options, now(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!((report.accepted, report.rejected), (1, 4));
        let mut saved = Vec::new();
        assert_eq!(write_rejects(ws.conn(), report.import_id.unwrap(), &mut saved).unwrap(), 4);
        let mut expected = b"id,customer,type,timestamp,tokens,model\n\
            r1,hooli,tokens,2026-10-05T12:00:00Z,7,\"two\nlines\"\n\
            r2,globex,tokens,yesterday,1,a\n\
            r3,globex,tokens\n"
            .to_vec();
        expected.extend_from_slice(b"r4,globex,tokens,2026-10-06T12:00:00Z,1,\xff\n");
        assert_eq!(String::from_utf8_lossy(&saved), String::from_utf8_lossy(&expected));
        assert_eq!(saved, expected, "byte for byte, bad UTF-8 included");

        // Fixed (hooli becomes initech, the time is given), the rejects import.
        let fixed = String::from_utf8_lossy(&saved)
            .replace("hooli", "initech")
            .replace("yesterday", "2026-10-04T12:00:00Z")
            .replace("r3,globex,tokens\n", "r3,globex,tokens,2026-10-06T12:00:00Z,3,a\n")
            .replace('\u{fffd}', "o3");
        let again = import_csv(&mut ws, &fixed, DEFAULT_BATCH);
        assert_eq!((again.accepted, again.rejected), (4, 0), "{again:?}");
        assert_eq!(usage(&ws, "tokens", "globex", None), "10");

        // NDJSON rejects are saved one value per line.
        let ndjson =
            "{\"id\": \"n1\", \"customer\": \"hooli\", \"type\": \"api_calls\", \"timestamp\": 1791201600}\nnot json\n";
        let mut options = ImportOptions::new("x.ndjson", Format::Ndjson);
        options.batch_size = 10;
        let report = import(&mut ws, ndjson.as_bytes(), &options, now(), &mut |_| ControlFlow::Continue(())).unwrap();
        let mut saved = Vec::new();
        write_rejects(ws.conn(), report.import_id.unwrap(), &mut saved).unwrap();
        assert_eq!(
            String::from_utf8(saved).unwrap(),
            "{\"customer\":\"hooli\",\"id\":\"n1\",\"timestamp\":1791201600,\"type\":\"api_calls\"}\nnot json\n"
        );
    }

    #[test]
    fn ids_stay_unique_across_many_batches_as_key_runs_merge() {
        let mut ws = workspace();
        // 600 events in batches of 7: every bucket's runs are merged several times over.
        let mut text = String::from("id,customer,type,timestamp\n");
        for i in 0..600 {
            text.push_str(&format!("k{i},globex,api_calls,{}\n", 1_791_201_600 + i));
        }
        let first = import_csv(&mut ws, &text, 7);
        assert_eq!((first.accepted, first.duplicates), (600, 0));
        let again = import_csv(&mut ws, &text, 13);
        assert_eq!((again.accepted, again.duplicates), (0, 600));
        let (keys, most_runs): (i64, i64) = ws
            .conn()
            .query_row(
                "SELECT sum(length(keys)) / 16, (SELECT max(n) FROM (SELECT count(*) AS n FROM event_keys GROUP BY bucket))
                 FROM event_keys",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(keys, 600, "each id's key is stored once");
        assert!(most_runs < event_store::MAX_RUNS as i64, "{most_runs} runs in one bucket");
        assert_eq!(usage(&ws, "api_calls", "globex", None), "600");
    }

    #[test]
    fn a_cancel_keeps_whole_batches_and_logs_the_import() {
        let mut ws = workspace();
        let mut options = ImportOptions::new("oct.csv", Format::Csv);
        options.batch_size = 4;
        let mut batches = 0;
        let report = import(&mut ws, OCTOBER.as_bytes(), &options, now(), &mut |_| {
            batches += 1;
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!((batches, report.accepted), (1, 4));
        assert_eq!(count(ws.conn()).unwrap(), 4);
        let (outcome, accepted, hash): (String, i64, Option<String>) = ws
            .conn()
            .query_row("SELECT outcome, accepted, file_hash FROM imports", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((outcome.as_str(), accepted, hash), ("cancelled", 4, None));
        // Importing the file again completes it; the committed batch counts as duplicates.
        let rest = import_csv(&mut ws, OCTOBER, 4);
        assert_eq!((rest.accepted, rest.duplicates), (5, 4));
        let (outcome, hash): (String, Option<String>) = ws
            .conn()
            .query_row("SELECT outcome, file_hash FROM imports ORDER BY id DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(outcome, "completed");
        assert_eq!(hash.map(|h| h.len()), Some(32));
    }

    #[test]
    fn a_full_disk_during_an_import_said_nothing_was_saved_after_batches_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::create(&dir.path().join("w.meterdesk")).unwrap();
        let catalog = catalog::parse(
            r#"{ "customers": [ { "id": "globex", "name": "Globex" } ],
                 "meters": [ { "code": "api_calls", "name": "API calls", "aggregation": "count" } ] }"#,
        )
        .unwrap();
        ws.write(|tx| catalog::apply(tx, catalog, now())).unwrap();
        // SQLite's page limit gives the same SQLITE_FULL a full disk gives, a few batches in.
        let pages: i64 = ws.conn().pragma_query_value(None, "page_count", |r| r.get(0)).unwrap();
        ws.conn().pragma_update(None, "max_page_count", pages + 12).unwrap();
        let mut text = String::from("id,customer,type,timestamp,note\n");
        for i in 0..60_000 {
            text += &format!("e{i},globex,api_calls,2026-10-07T13:00:00Z,{}\n", "x".repeat(40 + i % 50));
        }
        let mut options = ImportOptions::new("big.csv", Format::Csv);
        options.batch_size = 1_000;
        let err = import(&mut ws, text.as_bytes(), &options, now(), &mut |_| ControlFlow::Continue(())).unwrap_err();
        let stored = count(ws.conn()).unwrap();
        assert!(stored > 0 && stored < 60_000, "{stored} stored");
        assert_eq!(err.code(), crate::ErrorCode::DiskFull);
        assert!(
            err.to_string()
                .starts_with(&format!("the disk is full: {stored} events of this file were saved before it filled")),
            "{err}"
        );
        // With room again, the same file completes: what was saved counts as duplicates.
        ws.conn().pragma_update(None, "max_page_count", 1_000_000).unwrap();
        let report = import(&mut ws, text.as_bytes(), &options, now(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!((report.duplicates, report.accepted), (stored, 60_000 - stored));
    }

    #[test]
    fn caps_on_listed_errors_and_kept_rejects_were_silent() {
        let mut ws = workspace();
        let mut text = String::from("id,customer,type,timestamp\n");
        for i in 0..(MAX_LISTED_ERRORS + 5) {
            text += &format!("r{i},nobody,api_calls,2026-10-07T13:00:00Z\n");
        }
        let report = import_csv(&mut ws, &text, 50_000);
        assert_eq!((report.rejected, report.errors.len()), (MAX_LISTED_ERRORS as u64 + 5, MAX_LISTED_ERRORS));
        assert_eq!(report.notes, ["only the first 10000 of the 10005 rejected rows are listed"]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            (json["late"].clone(), json["notes"][0].clone()),
            (serde_json::json!(0), serde_json::json!(report.notes[0]))
        );
    }

    #[test]
    fn cloudevents_in_a_json_lines_file_were_read_as_ndjson_and_all_rejected() {
        let mut ws = workspace();
        let text = "{\"specversion\": \"1.0\", \"id\": \"c1\", \"source\": \"/gw\", \"type\": \"api_calls\", \"subject\": \"globex\", \"time\": \"2026-10-05T12:00:00Z\"}\n\
                    {\"id\": \"c2\", \"source\": \"/gw\", \"type\": \"api_calls\", \"subject\": \"globex\", \"time\": \"2026-10-05T12:00:00Z\"}\n";
        for name in ["events.jsonl", "events.ndjson"] {
            let format = Format::from_file_name(name).unwrap();
            assert_eq!(format, Format::Ndjson);
            let report = import(&mut ws, text.as_bytes(), &ImportOptions::new(name, format), now(), &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
            assert_eq!((report.accepted + report.duplicates, report.rejected), (1, 1), "{name}");
            assert_eq!((report.errors[0].line, report.errors[0].field.as_str()), (2, "specversion"), "{name}");
        }
    }

    #[test]
    fn events_in_an_invoiced_period_are_stored_and_flagged_late() {
        let mut ws = workspace();
        // September (New York) is invoiced for globex, not for initech.
        let (from, to) =
            (utc("2026-09-01T04:00:00Z").timestamp_millis(), utc("2026-10-01T04:00:00Z").timestamp_millis());
        ws.conn().execute("INSERT INTO invoiced_periods VALUES (1, ?1, ?2)", [from, to]).unwrap();
        let text = "id,customer,type,timestamp\n\
                    l1,globex,api_calls,2026-09-30T23:00:00-04:00\n\
                    l2,globex,api_calls,2026-10-01T00:00:00-04:00\n\
                    l3,initech,api_calls,2026-09-15T12:00:00Z\n\
                    l4,globex,api_calls,2026-09-01T00:00:00-04:00\n\
                    l5,globex,api_calls,2026-08-31T23:59:59-04:00\n";
        let report = import_csv(&mut ws, text, DEFAULT_BATCH);
        assert_eq!((report.accepted, report.late), (5, 2), "l1 and l4 fall in globex's invoiced September");
        let logged: i64 = ws.conn().query_row("SELECT late FROM imports", [], |r| r.get(0)).unwrap();
        assert_eq!(logged, 2);
        let page = crate::explore::page(ws.conn(), &crate::explore::EventQuery::default(), 0, 10).unwrap();
        let late: Vec<&str> = page.rows.iter().filter(|r| r.late).map(|r| r.id.as_str()).collect();
        assert_eq!(late, ["l4", "l1"]);
        // Late events are stored and counted like any other.
        let september = usage::value(
            ws.conn(),
            "api_calls",
            "globex",
            utc("2026-09-01T04:00:00Z"),
            utc("2026-10-01T04:00:00Z"),
            None,
        );
        assert_eq!(september.unwrap().to_string(), "2");
        let again = import_csv(&mut ws, text, DEFAULT_BATCH);
        assert_eq!((again.duplicates, again.late), (5, 0), "a duplicate is not late again");
    }

    #[test]
    fn a_running_import_is_marked_interrupted_only_when_no_importer_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::create(&dir.path().join("w.meterdesk")).unwrap();
        let catalog = catalog::parse(
            r#"{ "customers": [ { "id": "globex", "name": "G" } ],
            "meters": [ { "code": "api_calls", "name": "Calls", "aggregation": "count" } ] }"#,
        )
        .unwrap();
        ws.write(|tx| catalog::apply(tx, catalog, now())).unwrap();
        ws.conn()
            .execute(
                "INSERT INTO imports (file_name, format, started_at, outcome) VALUES ('other.csv', 'csv', 'x', 'running')",
                [],
            )
            .unwrap();
        let outcome = |ws: &Workspace| -> String {
            ws.conn().query_row("SELECT outcome FROM imports WHERE id = 1", [], |r| r.get(0)).unwrap()
        };
        let text = "id,customer,type,timestamp\nx1,globex,api_calls,1791201600\n";
        // Another process's import holds the lock: its row is left alone.
        let other = std::fs::File::create(ws.import_lock_path().unwrap()).unwrap();
        other.lock_shared().unwrap();
        assert_eq!(import_csv(&mut ws, text, DEFAULT_BATCH).accepted, 1);
        assert_eq!(outcome(&ws), "running");
        drop(other);
        import_csv(&mut ws, text, DEFAULT_BATCH);
        assert_eq!(outcome(&ws), "interrupted");
    }

    #[test]
    fn a_preview_checks_the_first_rows_and_writes_nothing() {
        let ws = workspace();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oct.csv");
        std::fs::write(&path, OCTOBER.replace("e2,globex", "e2,hooli")).unwrap();
        let preview = preview(ws.conn(), &path, None, &CsvColumns::default(), 3).unwrap();
        assert_eq!(preview.format, crate::event_file::Format::Csv);
        assert_eq!(preview.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["e1", "e3"]);
        assert_eq!(preview.rows[0].properties, r#"{"model":"gpt-4o","tokens":"1200"}"#);
        assert_eq!((preview.errors[0].line, preview.errors[0].field.as_str()), (3, "customer"));
        assert_eq!(count(ws.conn()).unwrap(), 0);
        let types: i64 = ws.conn().query_row("SELECT count(*) FROM event_types", [], |r| r.get(0)).unwrap();
        assert_eq!(types, 0, "a preview numbers no event types either");
        assert_eq!(preview.header, ["id", "customer", "type", "timestamp", "tokens", "model", "region", "gb"]);
        let renamed = CsvColumns { customer: "account".into(), ..CsvColumns::default() };
        let unmapped = super::preview(ws.conn(), &path, None, &renamed, 3).unwrap();
        assert_eq!((unmapped.missing, unmapped.rows.len()), (vec!["account".to_string()], 0));
        let err = super::preview(ws.conn(), &dir.path().join("oct.txt"), None, &CsvColumns::default(), 3).unwrap_err();
        assert!(err.to_string().contains("--format"), "{err}");
    }

    #[test]
    fn a_meter_with_events_keeps_how_it_computes() {
        let mut ws = workspace();
        let change = |ws: &mut Workspace, meter: &str| {
            let catalog = catalog::parse(&format!(r#"{{ "meters": [ {meter} ] }}"#)).unwrap();
            ws.write(|tx| catalog::apply(tx, catalog, now()))
        };
        let as_max = r#"{ "code": "tokens", "name": "Tokens", "aggregation": "max", "property": "tokens", "group_by": "model" }"#;
        change(&mut ws, as_max).expect("no events yet: the definition may change");
        let back = r#"{ "code": "tokens", "name": "Tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" }"#;
        change(&mut ws, back).unwrap();
        import_csv(&mut ws, OCTOBER, DEFAULT_BATCH);
        let err = change(&mut ws, as_max).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Conflict);
        assert!(err.to_string().contains("meter \"tokens\" already counts stored events"), "{err}");
        let renamed = r#"{ "code": "tokens", "name": "LLM tokens", "unit": "token", "aggregation": "sum", "property": "tokens", "group_by": "model" }"#;
        change(&mut ws, renamed).expect("name and unit may change");
        assert_eq!(usage(&ws, "tokens", "globex", None), "1505");
    }

    #[test]
    fn a_meter_being_edited_previews_its_month_then_saves() {
        let mut ws = workspace();
        import_csv(&mut ws, OCTOBER, DEFAULT_BATCH);
        let mut draft = crate::meter::MeterFields::plain("gpt4o_tokens", Aggregation::Sum, Some("tokens"));
        draft.event = Some("tokens".into());
        draft.filters.insert("model".into(), "gpt-4o".into());
        let month = usage::preview_month(ws.conn(), &draft, "globex", crate::month("2026-10"), None).unwrap();
        assert_eq!(month.value.to_string(), "1205", "e1 and e8 (Oct 31 local), not e2's gpt-4o-mini");
        assert_eq!(month.days.iter().filter(|d| !d.value.0.is_zero()).count(), 2);
        assert!(crate::meter::get(ws.conn(), "gpt4o_tokens").unwrap().is_none(), "a preview saves nothing");

        let mut bad = draft.clone();
        bad.aggregation = Aggregation::Max;
        bad.property = None;
        let err = usage::preview_month(ws.conn(), &bad, "globex", crate::month("2026-10"), None).unwrap_err();
        assert_eq!(err.problems().iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["property"]);

        let saved = ws.write(|tx| crate::meter::save(tx, &draft, true, now())).unwrap();
        assert_eq!(saved.fields, draft);
        assert_eq!(usage(&ws, "gpt4o_tokens", "globex", None), "1205");
        let again = ws.write(|tx| crate::meter::save(tx, &draft, true, now())).unwrap_err();
        assert_eq!(again.code(), crate::ErrorCode::Conflict);
        let mut as_max = draft.clone();
        as_max.aggregation = Aggregation::Max;
        let err = ws.write(|tx| crate::meter::save(tx, &as_max, false, now())).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Conflict, "it counts stored events: {err}");
        let renamed = MeterFields { name: "GPT-4o tokens".into(), ..draft };
        assert_eq!(ws.write(|tx| crate::meter::save(tx, &renamed, false, now())).unwrap().fields.name, "GPT-4o tokens");
    }

    #[test]
    fn a_saved_mapping_reads_other_column_names() {
        let mut ws = workspace();
        let columns = CsvColumns {
            id: "event_id".into(),
            customer: "account".into(),
            event_type: "kind".into(),
            timestamp: "at".into(),
        };
        ws.write(|tx| save_mapping(tx, "gateway", &columns)).unwrap();
        assert_eq!(mapping(ws.conn(), "gateway").unwrap(), columns);
        assert_eq!(mapping_names(ws.conn()).unwrap(), ["gateway"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.csv");
        std::fs::write(&path, "event_id,account,kind,at,region\ng1,globex,api_calls,1791201600,eu\n").unwrap();
        let report =
            crate::api::import_events(&mut ws, &path, None, crate::api::Columns::Saved("gateway"), now(), &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap()
            .done;
        assert_eq!(report.accepted, 1, "{report:?}");
        assert_eq!(usage(&ws, "eu_calls", "globex", None), "1");
        let err =
            crate::api::import_events(&mut ws, &path, None, crate::api::Columns::Saved("nope"), now(), &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotFound);
        let same_twice = CsvColumns { customer: "event_id".into(), ..columns };
        let err = ws.write(|tx| save_mapping(tx, "bad", &same_twice)).unwrap_err();
        assert_eq!(err.problems().iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["id", "customer"]);
    }

    #[test]
    fn an_unreadable_file_fails_the_import_and_logs_it() {
        let mut ws = workspace();
        let err = import(&mut ws, "".as_bytes(), &ImportOptions::new("empty.csv", Format::Csv), now(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let outcome: String = ws.conn().query_row("SELECT outcome FROM imports", [], |r| r.get(0)).unwrap();
        assert_eq!(outcome, "failed");
    }
}
