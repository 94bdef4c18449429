//! Reading usage events from files: CSV, NDJSON and CloudEvents 1.0 (structured
//! JSON), streamed row by row into one normalized form. Each row becomes either
//! a [`FileEvent`] or a [`RowError`] naming its line, field and reason; nothing
//! here knows the workspace (unknown customers and meters are checked later).

use std::io::{BufRead, Read};
use std::ops::ControlFlow;

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::import::{RowError, csv_with_header};

pub const MAX_ID_CHARS: usize = 256;
pub const MAX_CUSTOMER_CHARS: usize = 128;
pub const MAX_TYPE_CHARS: usize = 64;
pub const MAX_PROPERTY_KEY_CHARS: usize = 64;
pub const MAX_PROPERTY_VALUE_CHARS: usize = 4096;
/// A line longer than this is refused rather than read into memory.
pub use crate::import::MAX_LINE_BYTES;

/// The three event file formats of docs/interfaces.md "Event files".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    CloudEvents,
}

impl Format {
    /// The format a file name implies: `.csv`, `.ndjson`/`.jsonl`, `.json` (CloudEvents).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "json" => Some(Format::CloudEvents),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::CloudEvents => "cloudevents",
        }
    }

    pub fn parse(name: &str) -> std::result::Result<Format, String> {
        match name {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            "cloudevents" => Ok(Format::CloudEvents),
            other => Err(format!("unknown format \"{other}\" (csv, ndjson or cloudevents)")),
        }
    }
}

/// One event as a file states it, validated for shape but not yet against the
/// workspace. It borrows from the reader's buffers: a reader allocates nothing
/// per CSV row. [`FileEvent::to_owned_event`] keeps one beyond the callback.
#[derive(Debug, Clone)]
pub struct FileEvent<'a> {
    /// 1-based line where the event starts (for a JSON array: where it ends).
    pub line: u64,
    pub id: Cow<'a, str>,
    pub customer: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    pub timestamp: DateTime<Utc>,
    pub properties: Props<'a>,
    /// CloudEvents `source`, kept as given.
    pub source: Option<&'a str>,
}

/// The same event, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedEvent {
    pub line: u64,
    pub id: String,
    pub customer: String,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub properties: Map<String, Value>,
    pub source: Option<String>,
}

impl FileEvent<'_> {
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent {
            line: self.line,
            id: self.id.to_string(),
            customer: self.customer.to_string(),
            event_type: self.event_type.to_string(),
            timestamp: self.timestamp,
            properties: self.properties.to_map(),
            source: self.source.map(str::to_string),
        }
    }
}

/// An event's properties: the other cells of a CSV row, or a JSON object.
#[derive(Debug, Clone, Copy)]
pub enum Props<'a> {
    Csv(&'a CsvProps, &'a csv::StringRecord),
    Json(&'a Map<String, Value>),
}

pub use meterdesk_rules::aggregate::{MAX_EVENT_VALUE, PropValue};

/// The property columns of a CSV file, in name order, with their names already
/// written as JSON strings.
#[derive(Debug, Clone)]
pub struct CsvProps {
    /// (column index, name, name as a JSON string)
    columns: Vec<(usize, String, String)>,
}

impl<'a> meterdesk_rules::aggregate::Properties<'a> for Props<'a> {
    fn get(&self, key: &str) -> Option<PropValue<'a>> {
        Props::get(self, key)
    }
}

impl<'a> Props<'a> {
    pub fn get(&self, key: &str) -> Option<PropValue<'a>> {
        match *self {
            Props::Csv(columns, record) => {
                let (at, _, _) = columns.columns.iter().find(|(_, name, _)| name == key)?;
                Some(cell(record, *at)).filter(|c| !c.is_empty()).map(PropValue::Text)
            }
            Props::Json(map) => map.get(key).map(PropValue::Json),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every property present, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, PropValue<'a>)> + 'a {
        let (csv, json) = match *self {
            Props::Csv(columns, record) => (Some((columns, record)), None),
            Props::Json(map) => (None, Some(map)),
        };
        let csv = csv.into_iter().flat_map(|(columns, record)| {
            columns.columns.iter().filter_map(move |(at, name, _)| {
                Some(cell(record, *at)).filter(|c| !c.is_empty()).map(|c| (name.as_str(), PropValue::Text(c)))
            })
        });
        let json = json.into_iter().flat_map(|map| map.iter().map(|(k, v)| (k.as_str(), PropValue::Json(v))));
        csv.chain(json)
    }

    /// Appends the properties as one JSON object, keys in name order.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match *self {
            Props::Csv(columns, record) => {
                out.push(b'{');
                let mut first = true;
                for (at, _, json_name) in &columns.columns {
                    let cell = cell(record, *at);
                    if cell.is_empty() {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(json_name.as_bytes());
                    out.push(b':');
                    json_string(cell, out);
                }
                out.push(b'}');
            }
            Props::Json(map) => serde_json::to_writer(out, map).expect("writing JSON to memory cannot fail"),
        }
    }

    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| {
                let v = match v {
                    PropValue::Text(s) => Value::String(s.to_string()),
                    PropValue::Json(v) => v.clone(),
                };
                (k.to_string(), v)
            })
            .collect()
    }
}

/// Cell `i` of a CSV record ("" when absent).
fn cell(record: &csv::StringRecord, i: usize) -> &str {
    record.get(i).unwrap_or("")
}

/// A row as the file wrote it, to save rejected rows for fixing and re-importing.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// A CSV record, and the file's header.
    Csv { header: &'a [String], record: &'a csv::ByteRecord },
    /// JSON text as read (a line; a value spanning lines).
    Text(&'a [u8]),
    /// An element of a JSON array.
    Value(&'a Value),
    /// Nothing could be read.
    None,
}

/// Appends `s` as a JSON string.
fn json_string(s: &str, out: &mut Vec<u8>) {
    let plain = s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, s).expect("writing JSON to memory cannot fail");
    }
}

/// Column names of a CSV event file; every other column is a property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CsvColumns {
    pub id: String,
    pub customer: String,
    pub event_type: String,
    pub timestamp: String,
}

impl Default for CsvColumns {
    fn default() -> Self {
        CsvColumns {
            id: "id".into(),
            customer: "customer".into(),
            event_type: "type".into(),
            timestamp: "timestamp".into(),
        }
    }
}

type Row<'a> = std::result::Result<FileEvent<'a>, RowError>;

/// Where every row goes: each is an event or a reject, in file order.
pub type Sink<'s> = dyn for<'a> FnMut(Row<'a>, Raw<'a>) -> ControlFlow<()> + 's;

fn row_error(line: u64, field: &str, reason: impl Into<String>) -> RowError {
    RowError { line, field: field.to_string(), reason: reason.into() }
}

/// Reads every event of `input` in `format`, calling `sink` for each row in file
/// order; `sink` may stop the read early by returning `Break`. A file whose
/// structure is unusable (no header, not JSON at all) is an error.
pub fn read(format: Format, columns: &CsvColumns, input: impl BufRead, sink: &mut Sink) -> Result<()> {
    match format {
        Format::Csv => read_csv(columns, input, sink),
        Format::Ndjson => {
            let mut input = lone_crs_as_lf(input);
            if first_line_is_cloudevent(&mut input)? {
                read_cloudevents(input, sink)
            } else {
                read_lines(input, 1, false, sink, ndjson_event)
            }
        }
        Format::CloudEvents => read_cloudevents(lone_crs_as_lf(input), sink),
    }
}

/// Whether a JSON lines file (`.ndjson`, `.jsonl`) holds CloudEvents: its first
/// non-blank line is an object with `specversion` (read ahead, not consumed).
fn first_line_is_cloudevent(input: &mut impl BufRead) -> Result<bool> {
    let ahead = input.fill_buf()?;
    let text = ahead.strip_prefix(b"\xef\xbb\xbf").unwrap_or(ahead);
    let Some(line) = text.split(|b| *b == b'\n').find(|l| l.iter().any(|b| !b.is_ascii_whitespace())) else {
        return Ok(false);
    };
    Ok(serde_json::from_slice::<Value>(line).is_ok_and(|v| v.get("specversion").is_some()))
}

/// A JSON lines file whose lines may end in a lone CR, read as LF-ended.
fn lone_crs_as_lf(input: impl BufRead) -> impl BufRead {
    std::io::BufReader::with_capacity(64 * 1024, crate::import::LineEnds::new(input))
}

/// Parses a timestamp: RFC 3339 with an offset, or unix seconds or milliseconds
/// (an integer of 11 digits or more is milliseconds).
pub fn parse_timestamp(value: &Value) -> std::result::Result<DateTime<Utc>, String> {
    match value {
        Value::String(s) => parse_timestamp_text(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => timestamp_from_integer(i),
            None => Err(format!("{n} is not a whole number of seconds or milliseconds")),
        },
        other => Err(format!("{other} is not a timestamp")),
    }
}

/// [`parse_timestamp`] for text.
pub fn parse_timestamp_text(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return timestamp_from_integer(s.parse::<i64>().map_err(|_| format!("{s} is out of range"))?);
    }
    let t = DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        format!("\"{s}\" is not RFC 3339 with an offset (2026-10-31T23:30:00-04:00) nor unix seconds or milliseconds")
    })?;
    in_years(t)
}

fn timestamp_from_integer(n: i64) -> std::result::Result<DateTime<Utc>, String> {
    let ms = if n.unsigned_abs() < 100_000_000_000 { n.checked_mul(1000) } else { Some(n) };
    in_years(ms.and_then(DateTime::from_timestamp_millis).ok_or_else(|| format!("{n} is out of range"))?)
}

fn in_years(t: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    if !(1970..=9999).contains(&t.year()) {
        return Err(format!("{} is outside the years 1970–9999", t.to_rfc3339()));
    }
    Ok(t)
}

/// Over `max_chars` characters? (Counting bytes first: most values are short.)
fn too_long(s: &str, max_chars: usize) -> bool {
    s.len() > max_chars && s.chars().count() > max_chars
}

fn required_text<'a>(
    line: u64,
    field: &str,
    value: Option<PropValue<'a>>,
    max_chars: usize,
) -> std::result::Result<Cow<'a, str>, RowError> {
    let text = match value {
        None | Some(PropValue::Json(Value::Null)) => return Err(row_error(line, field, "missing")),
        Some(PropValue::Text(s)) => s.trim(),
        Some(PropValue::Json(Value::String(s))) => s.trim(),
        Some(PropValue::Json(Value::Number(n))) => return Ok(Cow::Owned(n.to_string())),
        Some(PropValue::Json(other)) => return Err(row_error(line, field, format!("{other} is not text"))),
    };
    if text.is_empty() {
        return Err(row_error(line, field, "empty"));
    }
    if too_long(text, max_chars) {
        return Err(row_error(line, field, format!("longer than {max_chars} characters")));
    }
    Ok(Cow::Borrowed(text))
}

fn check_properties(line: u64, properties: &Props) -> std::result::Result<(), RowError> {
    for (key, value) in properties.iter() {
        if key.is_empty() || too_long(key, MAX_PROPERTY_KEY_CHARS) {
            return Err(row_error(
                line,
                key,
                format!("a property name must be 1 to {MAX_PROPERTY_KEY_CHARS} characters"),
            ));
        }
        let too_long = match value {
            PropValue::Text(s) => too_long(s, MAX_PROPERTY_VALUE_CHARS),
            PropValue::Json(Value::String(s)) => too_long(s, MAX_PROPERTY_VALUE_CHARS),
            PropValue::Json(v @ (Value::Array(_) | Value::Object(_))) => {
                too_long(&v.to_string(), MAX_PROPERTY_VALUE_CHARS)
            }
            PropValue::Json(Value::Null | Value::Bool(_) | Value::Number(_)) => false,
        };
        if too_long {
            return Err(row_error(line, key, format!("longer than {MAX_PROPERTY_VALUE_CHARS} characters")));
        }
    }
    Ok(())
}

/// Builds an event from already-located parts, checking each.
fn event<'a>(
    line: u64,
    id: Option<PropValue<'a>>,
    customer: Option<PropValue<'a>>,
    event_type: Option<PropValue<'a>>,
    timestamp: (&str, Option<PropValue<'a>>),
    properties: Props<'a>,
    source: Option<&'a str>,
) -> Row<'a> {
    let id = required_text(line, "id", id, MAX_ID_CHARS)?;
    let customer = required_text(line, "customer", customer, MAX_CUSTOMER_CHARS)?;
    let event_type = required_text(line, "type", event_type, MAX_TYPE_CHARS)?;
    let (ts_field, ts) = timestamp;
    let timestamp = match ts {
        None | Some(PropValue::Json(Value::Null)) => return Err(row_error(line, ts_field, "missing")),
        Some(PropValue::Text(s)) => parse_timestamp_text(s),
        Some(PropValue::Json(v)) => parse_timestamp(v),
    }
    .map_err(|reason| row_error(line, ts_field, reason))?;
    check_properties(line, &properties)?;
    Ok(FileEvent { line, id, customer, event_type, timestamp, properties, source })
}

/// A CSV event file's column names.
pub fn csv_header(input: impl Read) -> Result<Vec<String>> {
    Ok(csv_with_header(input, "id,customer,type,timestamp")?.1)
}

fn read_csv(columns: &CsvColumns, input: impl Read, sink: &mut Sink) -> Result<()> {
    let (mut reader, names, lines) = csv_with_header(input, "id,customer,type,timestamp")?;
    let position = |name: &str| names.iter().position(|n| n == name);
    let mut located = Vec::new();
    for name in [&columns.id, &columns.customer, &columns.event_type, &columns.timestamp] {
        located.push(position(name).ok_or_else(|| {
            Error::invalid(
                "line 1",
                format!("the required column \"{name}\" is missing (found: {})", crate::import::some_names(&names)),
            )
        })?);
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(Error::invalid(
                format!("line 1, column {}", i + 1),
                format!("column \"{name}\" appears twice"),
            ));
        }
    }
    let at = [located[0], located[1], located[2], located[3]];
    let mut props = CsvProps {
        columns: (0..names.len())
            .filter(|i| !at.contains(i))
            .map(|i| (i, names[i].clone(), Value::String(names[i].clone()).to_string()))
            .collect(),
    };
    props.columns.sort_by(|a, b| a.1.cmp(&b.1));
    // One record buffer, reused: read as bytes, then checked as UTF-8 in place
    // (csv checks ASCII records whole, others field by field) and lent as text.
    let mut buffer = Some(csv::ByteRecord::new());
    loop {
        let mut bytes = buffer.take().expect("the buffer is put back after every row");
        let before = reader.position().byte();
        let flow = match reader.read_byte_record(&mut bytes) {
            Ok(false) => break,
            Err(e) => {
                let row = Err(row_error(lines.line_at(before), "(row)", format!("unreadable CSV: {e}")));
                let flow = sink(row, Raw::None);
                buffer = Some(bytes);
                flow
            }
            // A line past the length limit ended the reading: what was read of it is no row.
            Ok(true) if lines.too_long().is_some() => break,
            Ok(true) => {
                let line = lines.line_at(bytes.position().map_or(before, |p| p.byte()));
                let last = lines.line_of(reader.position().byte().saturating_sub(1)).max(line);
                if lines.ended_inside_quotes() && last > line {
                    // A quote opened in this row was never closed: the csv reader
                    // read every later line into its cell. Each of those lines is
                    // rejected, so the counts still add up to the file's rows.
                    let reason = format!(
                        "a quote opened on line {line} is never closed: lines {line} to {last} were read as one \
                         cell; close the quote and import these lines again"
                    );
                    let mut flow = sink(
                        Err(row_error(line, "(row)", reason.clone())),
                        Raw::Csv { header: &names, record: &bytes },
                    );
                    for swallowed in line + 1..=last {
                        if flow.is_break() {
                            break;
                        }
                        flow = sink(Err(row_error(swallowed, "(row)", reason.clone())), Raw::None);
                    }
                    buffer = Some(bytes);
                    flow
                } else if bytes.len() != names.len() {
                    let row = Err(row_error(
                        line,
                        "(row)",
                        format!("expected {} fields, found {}", names.len(), bytes.len()),
                    ));
                    let flow = sink(row, Raw::Csv { header: &names, record: &bytes });
                    buffer = Some(bytes);
                    flow
                } else {
                    match csv::StringRecord::from_byte_record(bytes) {
                        Ok(text) => {
                            let raw = Raw::Csv { header: &names, record: text.as_byte_record() };
                            let flow = sink(csv_event(line, &names, &text, at, &props), raw);
                            buffer = Some(text.into_byte_record());
                            flow
                        }
                        Err(e) => {
                            let field = e.utf8_error().field();
                            let bytes = e.into_byte_record();
                            let row = Err(row_error(line, &names[field], "not valid UTF-8"));
                            let flow = sink(row, Raw::Csv { header: &names, record: &bytes });
                            buffer = Some(bytes);
                            flow
                        }
                    }
                }
            }
        };
        if flow.is_break() {
            break;
        }
    }
    match lines.too_long() {
        Some(line) => Err(crate::import::line_too_long(line)),
        None => Ok(()),
    }
}

fn csv_event<'a>(
    line: u64,
    names: &'a [String],
    record: &'a csv::StringRecord,
    at: [usize; 4],
    props: &'a CsvProps,
) -> Row<'a> {
    let cell = |i: usize| Some(cell(record, i)).filter(|c| !c.is_empty()).map(PropValue::Text);
    event(line, cell(at[0]), cell(at[1]), cell(at[2]), (&names[at[3]], cell(at[3])), Props::Csv(props, record), None)
}

/// Reads `input` line by line (bounded in length), skipping blank lines. With
/// `multiline`, a JSON value that ends on a later line is read on (up to the
/// same bound) and reported at the line where it starts.
fn read_lines(
    mut input: impl BufRead,
    first_line: u64,
    multiline: bool,
    sink: &mut Sink,
    parse: for<'a> fn(u64, &'a Value) -> Row<'a>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut line = first_line - 1;
    let mut start = line + 1;
    loop {
        if buf.is_empty() {
            start = line + 1;
        }
        line += 1;
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len()) as u64;
        let n = (&mut input).take(room).read_until(b'\n', &mut buf)?;
        if n == 0 {
            if buf.iter().any(|b| !b.is_ascii_whitespace()) {
                let row = Err(row_error(start, "(row)", "the JSON value is not finished at the end of the file"));
                let _ = sink(row, Raw::Text(&buf));
            }
            break;
        }
        let flow = if buf.len() > MAX_LINE_BYTES {
            // Skip the rest of the over-long value's line before going on.
            while !buf.ends_with(b"\n") {
                buf.clear();
                if (&mut input).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
            }
            sink(Err(row_error(start, "(row)", format!("the line is longer than {MAX_LINE_BYTES} bytes"))), Raw::None)
        } else {
            let text = if start == first_line { buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf) } else { &buf[..] };
            if text.iter().all(u8::is_ascii_whitespace) {
                buf.clear();
                continue;
            }
            match std::str::from_utf8(text) {
                Err(_) => sink(Err(row_error(start, "(row)", "not valid UTF-8")), Raw::Text(text)),
                Ok(json) => match serde_json::from_str::<Value>(json) {
                    Err(e) if multiline && e.is_eof() => continue,
                    Err(e) => sink(Err(row_error(start, "(row)", format!("not JSON: {e}"))), Raw::Text(text)),
                    Ok(value) => sink(parse(start, &value), Raw::Text(text)),
                },
            }
        };
        buf.clear();
        if flow.is_break() {
            break;
        }
    }
    Ok(())
}

fn as_object(line: u64, value: &Value) -> std::result::Result<&Map<String, Value>, RowError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(row_error(line, "(row)", format!("expected a JSON object, found {}", kind(other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

static NO_PROPERTIES: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

fn properties_of<'a>(line: u64, field: &str, value: Option<&'a Value>) -> std::result::Result<Props<'a>, RowError> {
    match value {
        None | Some(Value::Null) => Ok(Props::Json(&NO_PROPERTIES)),
        Some(Value::Object(map)) => Ok(Props::Json(map)),
        Some(other) => Err(row_error(line, field, format!("expected an object, found {}", kind(other)))),
    }
}

fn ndjson_event(line: u64, value: &Value) -> Row<'_> {
    let map = as_object(line, value)?;
    if let Some(unknown) =
        map.keys().find(|k| !["id", "customer", "type", "timestamp", "properties"].contains(&k.as_str()))
    {
        return Err(row_error(line, unknown, "unknown field (expected id, customer, type, timestamp, properties)"));
    }
    let properties = properties_of(line, "properties", map.get("properties"))?;
    let get = |key: &str| map.get(key).map(PropValue::Json);
    event(line, get("id"), get("customer"), get("type"), ("timestamp", get("timestamp")), properties, None)
}

fn cloudevent(line: u64, value: &Value) -> Row<'_> {
    let map = as_object(line, value)?;
    match map.get("specversion") {
        None | Some(Value::Null) => {
            return Err(row_error(line, "specversion", "missing: a CloudEvent says \"specversion\": \"1.0\""));
        }
        Some(version) if version != "1.0" => {
            return Err(row_error(line, "specversion", format!("{version} is not CloudEvents 1.0")));
        }
        Some(_) => {}
    }
    let properties = properties_of(line, "data", map.get("data"))?;
    let source = match map.get("source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => return Err(row_error(line, "source", format!("expected a string, found {}", kind(other)))),
    };
    let get = |key: &str| map.get(key).map(PropValue::Json);
    event(line, get("id"), get("subject"), get("type"), ("time", get("time")), properties, source).map_err(|mut e| {
        // Name the CloudEvents attribute the person wrote.
        if e.field == "customer" {
            e.field = "subject".into();
        }
        e
    })
}

/// CloudEvents: one object, an array of them, or one object per line.
fn read_cloudevents(mut input: impl BufRead, sink: &mut Sink) -> Result<()> {
    // Skip a BOM and blank space, counting lines, to tell an array from objects per line.
    let mut skipped_lines = 0u64;
    let mut at_start = true;
    let first = loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Err(Error::invalid("line 1", "the file is empty: expected CloudEvents JSON"));
        }
        let bom = if at_start && buf.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
        at_start = false;
        let blank = buf[bom..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        skipped_lines += buf[bom..bom + blank].iter().filter(|&&b| b == b'\n').count() as u64;
        let first = buf.get(bom + blank).copied();
        input.consume(bom + blank);
        if let Some(first) = first {
            break first;
        }
    };
    if first == b'[' {
        read_cloudevent_array(input, skipped_lines, sink)
    } else {
        read_lines(input, skipped_lines + 1, true, sink, cloudevent)
    }
}

/// Streams the elements of a top-level JSON array, one event at a time.
fn read_cloudevent_array(input: impl BufRead, skipped_lines: u64, sink: &mut Sink) -> Result<()> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts the newlines the JSON parser has consumed, to locate each element.
    struct LineCounter<R> {
        inner: R,
        lines: Rc<Cell<u64>>,
    }
    impl<R: Read> Read for LineCounter<R> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(out)?;
            self.lines.set(self.lines.get() + out[..n].iter().filter(|&&b| b == b'\n').count() as u64);
            Ok(n)
        }
    }

    struct Elements<'a, 's> {
        sink: &'a mut Sink<'s>,
        lines: Rc<Cell<u64>>,
        stopped: &'a Cell<bool>,
    }
    impl<'de> Visitor<'de> for Elements<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of CloudEvents")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(value) = seq.next_element::<Value>()? {
                if (self.sink)(cloudevent(self.lines.get() + 1, &value), Raw::Value(&value)).is_break() {
                    self.stopped.set(true);
                    return Ok(());
                }
            }
            Ok(())
        }
    }

    let lines = Rc::new(Cell::new(skipped_lines));
    let stopped = Cell::new(false);
    let mut de = serde_json::Deserializer::from_reader(LineCounter { inner: input, lines: lines.clone() });
    match de.deserialize_seq(Elements { sink, lines, stopped: &stopped }) {
        // Stopping early leaves the array unfinished; that is not an error.
        Err(_) if stopped.get() => Ok(()),
        Err(e) => Err(Error::invalid(format!("line {}", e.line()), format!("the JSON array is broken: {e}"))),
        Ok(()) => de.end().map_err(|e| Error::invalid(format!("line {}", e.line()), format!("after the array: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads `text` and returns (line, id) for events and (line, field) for rejects.
    fn read_all(format: Format, text: &[u8]) -> Result<(Vec<OwnedEvent>, Vec<RowError>)> {
        let (mut events, mut errors) = (Vec::new(), Vec::new());
        read(format, &CsvColumns::default(), text, &mut |row, _| {
            match row {
                Ok(e) => events.push(e.to_owned_event()),
                Err(e) => errors.push(e),
            }
            ControlFlow::Continue(())
        })?;
        Ok((events, errors))
    }

    fn lines_and_ids(events: &[OwnedEvent]) -> Vec<(u64, &str)> {
        events.iter().map(|e| (e.line, e.id.as_str())).collect()
    }

    fn lines_and_fields(errors: &[RowError]) -> Vec<(u64, &str)> {
        errors.iter().map(|e| (e.line, e.field.as_str())).collect()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let oct31_local = utc("2026-11-01T03:30:00Z");
        for (input, expected) in [
            (json!("2026-11-01T03:30:00Z"), Ok(oct31_local)),
            (json!("2026-10-31T23:30:00-04:00"), Ok(oct31_local)),
            (json!(1_793_503_800), Ok(oct31_local)),
            (json!("1793503800"), Ok(oct31_local)),
            (json!(1_793_503_800_000_i64), Ok(oct31_local)),
            (json!("1793503800000"), Ok(oct31_local)),
            (json!(0), Ok(utc("1970-01-01T00:00:00Z"))),
            (json!("2026-10-31T23:30:00"), Err("RFC 3339")),
            (json!("31/10/2026"), Err("RFC 3339")),
            (json!(""), Err("RFC 3339")),
            (json!(1.5), Err("whole number")),
            (json!(-5), Err("1970")),
            (json!(true), Err("not a timestamp")),
            (json!("99999999999999999999"), Err("out of range")),
        ] {
            match (parse_timestamp(&input), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(reason), Err(needle)) => assert!(reason.contains(needle), "{input}: {reason}"),
                (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn csv_rows_become_events_with_properties_from_other_columns() {
        let text = "\u{feff}id,customer,type,timestamp,model,tokens,note\r\n\
                    e1,globex,tokens,2026-10-05T12:00:00Z,gpt-4o,1200,\r\n\
                    e2,globex,tokens,1791201600,gpt-4o-mini,\"3,000\",\"two\nlines\"\r\n\
                    e3,initech,api_calls,1791201600000,,,\r\n";
        let (events, errors) = read_all(Format::Csv, text.as_bytes()).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(lines_and_ids(&events), [(2, "e1"), (3, "e2"), (5, "e3")]);
        assert_eq!(events[0].properties, json!({"model": "gpt-4o", "tokens": "1200"}).as_object().unwrap().clone());
        assert_eq!(events[1].properties["tokens"], "3,000", "a property is kept as written");
        assert_eq!(events[1].properties["note"], "two\nlines");
        assert!(events[2].properties.is_empty(), "empty cells are absent properties");
        assert_eq!(events[2].timestamp, events[1].timestamp, "seconds and milliseconds agree");
    }

    #[test]
    fn reject_lines_were_wrong_after_blank_lines_and_in_cr_only_files() {
        // Each file: a good row, then a bad customer, then a bad number, with
        // `blank` empty lines before the second row, in every line ending.
        for ending in ["\n", "\r\n", "\r"] {
            for blank in 0..4usize {
                let rows = [
                    "id,customer,type,timestamp,tokens".to_string(),
                    "e1,globex,tokens,2026-10-05T12:00:00Z,1".to_string(),
                ];
                let mut lines: Vec<String> = rows.to_vec();
                lines.extend(std::iter::repeat_n(String::new(), blank));
                lines.push("e2,,tokens,2026-10-05T12:00:00Z,1".into());
                lines.push(String::new());
                lines.push("e3,globex,tokens,2026-10-05T12:00:00Z,".into());
                let text = lines.join(ending) + ending;
                let (events, errors) = read_all(Format::Csv, text.as_bytes()).unwrap();
                let at = format!("{ending:?} with {blank} blank lines");
                assert_eq!(lines_and_ids(&events), [(2, "e1"), (5 + blank as u64, "e3")], "{at}");
                assert_eq!(lines_and_fields(&errors), [(3 + blank as u64, "customer")], "{at}");
                // The same rows as JSON lines.
                let json: Vec<String> = lines
                    .iter()
                    .skip(1)
                    .map(|l| match l.split(',').collect::<Vec<_>>()[..] {
                        [id, customer, kind, ts, _] => {
                            json!({ "id": id, "customer": customer, "type": kind, "timestamp": ts }).to_string()
                        }
                        _ => String::new(),
                    })
                    .collect();
                let text = json.join(ending) + ending;
                let (events, errors) = read_all(Format::Ndjson, text.as_bytes()).unwrap();
                assert_eq!(lines_and_ids(&events), [(1, "e1"), (4 + blank as u64, "e3")], "ndjson {at}");
                assert_eq!(lines_and_fields(&errors), [(2 + blank as u64, "customer")], "ndjson {at}");
            }
        }
    }

    #[test]
    fn lone_crs_read_as_line_ends_whatever_the_read_sizes() {
        /// Gives its bytes one at a time.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for (input, expected) in [
            ("a\rb\r\nc\n\rd\r", "a\nb\r\nc\n\nd\n"),
            ("\r", "\n"),
            ("\r\r\n\r", "\n\r\n\n"),
            ("plain", "plain"),
            ("", ""),
        ] {
            for out_size in [1, 2, 3, 64] {
                let mut reader = crate::import::LineEnds::new(Trickle(input.as_bytes()));
                let mut got = Vec::new();
                let mut chunk = vec![0u8; out_size];
                loop {
                    let n = std::io::Read::read(&mut reader, &mut chunk).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&chunk[..n]);
                }
                assert_eq!(String::from_utf8(got).unwrap(), expected, "{input:?} read {out_size} at a time");
            }
        }
    }

    #[test]
    fn an_endless_line_filled_memory_and_a_huge_header_was_echoed_whole() {
        // /dev/zero as CSV: one line of NULs that never ends. Reading stops at the limit.
        let zeros = std::io::Read::take(std::io::repeat(0), 64 * 1024 * 1024);
        let err = read(Format::Csv, &CsvColumns::default(), std::io::BufReader::new(zeros), &mut |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
        assert_eq!(err.problems()[0].path, "line 1");
        assert!(err.to_string().contains("longer than 1048576 bytes"), "{err}");
        // Rows before an endless line are delivered; the error names its line.
        let mut text = b"id,customer,type,timestamp\ne1,g,t,1\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        let mut seen = 0;
        let err = read(Format::Csv, &CsvColumns::default(), text.as_slice(), &mut |_, _| {
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap_err();
        assert_eq!((seen, err.problems()[0].path.as_str()), (1, "line 3"));
        // A header of 10 MB (well, 900 KB of one name) is quoted briefly.
        let header = format!("id,customer,type,{}\n", "c".repeat(900_000));
        let err = read_all(Format::Csv, header.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 300, "{} characters", err.to_string().len());
        assert!(err.to_string().contains("the required column \"timestamp\" is missing"), "{err}");
    }

    #[test]
    fn an_unterminated_quote_swallowed_every_later_row() {
        for ending in ["\n", ""] {
            let text = format!(
                "id,customer,type,timestamp,note\n\
                 e1,globex,tokens,2026-10-05T12:00:00Z,fine\n\
                 e2,globex,tokens,2026-10-05T12:00:00Z,\"two\nlines\"\n\
                 e3,globex,tokens,2026-10-05T12:00:00Z,\"never closed\n\
                 e4,globex,tokens,2026-10-05T12:00:00Z,x\n\
                 e5,globex,tokens,2026-10-05T12:00:00Z,y{ending}"
            );
            let (events, errors) = read_all(Format::Csv, text.as_bytes()).unwrap();
            assert_eq!(lines_and_ids(&events), [(2, "e1"), (3, "e2")], "{ending:?}");
            assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [5, 6, 7], "{ending:?}");
            assert_eq!(
                errors[0].reason,
                "a quote opened on line 5 is never closed: lines 5 to 7 were read as one cell; \
                 close the quote and import these lines again"
            );
            assert_eq!(events.len() + errors.len(), 5, "every data row is counted once");
        }
    }

    #[test]
    fn bad_csv_rows_are_named_and_the_rest_is_kept() {
        let mut text = b"id,customer,type,timestamp,tokens\n\
                         ok1,globex,tokens,2026-10-05T12:00:00Z,1\n\
                         ,globex,tokens,2026-10-05T12:00:00Z,1\n\
                         e3,,tokens,2026-10-05T12:00:00Z,1\n\
                         e4,globex,tokens,yesterday,1\n\
                         e5,globex,tokens\n\
                         e6,globex,tokens,2026-10-05T12:00:00Z,"
            .to_vec();
        text.extend_from_slice(&[0xff, b'\n']);
        text.extend_from_slice(format!("{},globex,tokens,2026-10-05T12:00:00Z,1\n", "x".repeat(300)).as_bytes());
        text.extend_from_slice(b"ok2,globex,tokens,2026-10-05T12:00:00Z,2\n");
        let (events, errors) = read_all(Format::Csv, &text).unwrap();
        assert_eq!(lines_and_ids(&events), [(2, "ok1"), (9, "ok2")]);
        assert_eq!(
            lines_and_fields(&errors),
            [(3, "id"), (4, "customer"), (5, "timestamp"), (6, "(row)"), (7, "tokens"), (8, "id")]
        );
        assert_eq!(errors[0].reason, "missing");
        assert!(errors[2].reason.contains("\"yesterday\""), "{}", errors[2].reason);
        assert!(errors[5].reason.contains("longer than 256"), "{}", errors[5].reason);
    }

    #[test]
    fn csv_files_without_the_required_columns_are_refused_whole() {
        for (text, needle) in [
            ("", "empty"),
            ("id,customer,timestamp\ne1,a,2026-10-05T12:00:00Z\n", "\"type\" is missing"),
            ("id,customer,type,timestamp,id\n", "appears twice"),
        ] {
            let err = read_all(Format::Csv, text.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{text:?}: {err}");
        }
        let (events, errors) = read_all(Format::Csv, b"id,customer,type,timestamp\n").unwrap();
        assert!(events.is_empty() && errors.is_empty(), "a header alone is an empty import");
    }

    #[test]
    fn csv_column_names_can_be_mapped() {
        let columns = CsvColumns {
            id: "event_id".into(),
            customer: "account".into(),
            event_type: "kind".into(),
            timestamp: "at".into(),
        };
        let text = "event_id,account,kind,at,gb\nx1,globex,storage_gb,1791201600,12.5\n";
        let mut got = Vec::new();
        read(Format::Csv, &columns, text.as_bytes(), &mut |row, _| {
            got.push(row.unwrap().to_owned_event());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!((got[0].id.as_str(), got[0].customer.as_str()), ("x1", "globex"));
        assert_eq!(got[0].properties["gb"], "12.5");
    }

    #[test]
    fn ndjson_lines_and_their_rejects() {
        let text = concat!(
            r#"{"id": "n1", "customer": "globex", "type": "tokens", "timestamp": "2026-10-05T12:00:00Z", "properties": {"tokens": 1200, "model": "gpt-4o"}}"#,
            "\n\n",
            r#"{"id": "n2", "customer": "globex", "type": "api_calls", "timestamp": 1791201600}"#,
            "\n",
            "not json\n",
            "[1, 2]\n",
            r#"{"id": "n5", "customer": "globex", "type": "t", "timestamp": 1791201600, "props": {}}"#,
            "\n",
            r#"{"id": "n6", "customer": "globex", "type": "t", "timestamp": 1791201600, "properties": [1]}"#,
            "\n",
            r#"{"id": "n7", "customer": "globex", "type": "t"}"#,
            "\n",
            r#"{"id": 8, "customer": "globex", "type": "t", "timestamp": 1791201600}"#,
        );
        let (events, errors) = read_all(Format::Ndjson, text.as_bytes()).unwrap();
        assert_eq!(lines_and_ids(&events), [(1, "n1"), (3, "n2"), (9, "8")]);
        assert_eq!(events[0].properties["tokens"], 1200);
        assert_eq!(
            lines_and_fields(&errors),
            [(4, "(row)"), (5, "(row)"), (6, "props"), (7, "properties"), (8, "timestamp")]
        );
        assert!(errors[1].reason.contains("expected a JSON object, found an array"));
    }

    #[test]
    fn cloudevents_as_one_object_an_array_or_one_per_line() {
        let one = r#"{"specversion": "1.0", "id": "c1", "source": "/api", "type": "api_calls",
                      "subject": "globex", "time": "2026-10-05T12:00:00Z", "data": {"region": "eu"}}"#;
        let (events, errors) = read_all(Format::CloudEvents, one.as_bytes()).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((events[0].customer.as_str(), events[0].source.as_deref()), ("globex", Some("/api")));
        assert_eq!(events[0].properties["region"], "eu");

        let array = "\u{feff}\n[\n  {\"specversion\": \"1.0\", \"id\": \"a1\", \"type\": \"t\", \"subject\": \"globex\", \"time\": 1791201600},\n  \
                     {\"specversion\": \"1.0\", \"id\": \"a2\", \"type\": \"t\", \"time\": 1791201600},\n  \
                     {\"id\": \"a3\", \"type\": \"t\", \"subject\": \"initech\", \"time\": 1791201600, \"specversion\": \"0.3\"},\n  \
                     {\"specversion\": \"1.0\", \"id\": \"a4\", \"type\": \"t\", \"subject\": \"initech\", \"time\": 1791201600, \"data\": 5},\n  \
                     {\"specversion\": \"1.0\", \"id\": \"a5\", \"type\": \"t\", \"subject\": \"initech\", \"time\": 1791201600},\n  \
                     {\"id\": \"a6\", \"type\": \"t\", \"subject\": \"initech\", \"time\": 1791201600}\n]\n";
        let (events, errors) = read_all(Format::CloudEvents, array.as_bytes()).unwrap();
        assert_eq!(lines_and_ids(&events), [(3, "a1"), (7, "a5")]);
        assert_eq!(lines_and_fields(&errors), [(4, "subject"), (5, "specversion"), (6, "data"), (8, "specversion")]);

        let per_line = "{\"specversion\": \"1.0\", \"id\": \"l1\", \"type\": \"t\", \"subject\": \"g\", \"time\": 1791201600}\n\
                        {\"specversion\": \"1.0\", \"id\": \"l2\", \"type\": \"t\", \"subject\": \"g\", \"time\": \"bad\"}\n";
        let (events, errors) = read_all(Format::CloudEvents, per_line.as_bytes()).unwrap();
        assert_eq!(lines_and_ids(&events), [(1, "l1")]);
        assert_eq!(lines_and_fields(&errors), [(2, "time")]);
    }

    #[test]
    fn a_broken_cloudevents_array_is_a_file_error_after_the_good_elements() {
        let text = "[{\"specversion\": \"1.0\", \"id\": \"a1\", \"type\": \"t\", \"subject\": \"g\", \"time\": 1791201600},\n{\"id\": ";
        let mut seen = 0;
        let err = read(Format::CloudEvents, &CsvColumns::default(), text.as_bytes(), &mut |_, _| {
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap_err();
        assert_eq!(seen, 1, "the good element before the break was delivered");
        assert!(err.to_string().contains("broken"), "{err}");
        assert!(read_all(Format::CloudEvents, b"   \n").unwrap_err().to_string().contains("empty"));
        let unfinished = "{\"specversion\": \"1.0\", \"id\": \"u0\", \"type\": \"t\", \"subject\": \"g\", \"time\": 1}\n{\"id\": \"u1\",\n \"type\": ";
        let (events, errors) = read_all(Format::CloudEvents, unfinished.as_bytes()).unwrap();
        assert_eq!(lines_and_ids(&events), [(1, "u0")]);
        assert_eq!(lines_and_fields(&errors), [(2, "(row)")]);
        assert!(errors[0].reason.contains("not finished"), "{}", errors[0].reason);
    }

    #[test]
    fn a_reader_can_stop_early() {
        for (format, text) in [
            (Format::Csv, "id,customer,type,timestamp\na,g,t,1\nb,g,t,1\nc,g,t,1\n"),
            (
                Format::Ndjson,
                "{\"id\":\"a\",\"customer\":\"g\",\"type\":\"t\",\"timestamp\":1}\n{\"id\":\"b\",\"customer\":\"g\",\"type\":\"t\",\"timestamp\":1}\n",
            ),
            (
                Format::CloudEvents,
                "[{\"id\":\"a\",\"subject\":\"g\",\"type\":\"t\",\"time\":1},{\"id\":\"b\",\"subject\":\"g\",\"type\":\"t\",\"time\":1}]",
            ),
        ] {
            let mut seen = 0;
            read(format, &CsvColumns::default(), text.as_bytes(), &mut |_, _| {
                seen += 1;
                ControlFlow::Break(())
            })
            .unwrap();
            assert_eq!(seen, 1, "{format:?}");
        }
    }

    #[test]
    fn an_over_long_ndjson_line_is_rejected_and_reading_goes_on() {
        let mut text = vec![b'{'; MAX_LINE_BYTES + 10];
        text.push(b'\n');
        text.extend_from_slice(b"{\"id\":\"ok\",\"customer\":\"g\",\"type\":\"t\",\"timestamp\":1}\n");
        let (events, errors) = read_all(Format::Ndjson, &text).unwrap();
        assert_eq!(lines_and_ids(&events), [(2, "ok")]);
        assert_eq!(lines_and_fields(&errors), [(1, "(row)")]);
    }

    #[test]
    fn formats_are_detected_by_extension() {
        for (name, format) in [
            ("usage.csv", Some(Format::Csv)),
            ("USAGE.CSV", Some(Format::Csv)),
            ("usage.ndjson", Some(Format::Ndjson)),
            ("usage.jsonl", Some(Format::Ndjson)),
            ("events.json", Some(Format::CloudEvents)),
            ("usage.txt", None),
            ("usage", None),
        ] {
            assert_eq!(Format::from_file_name(name), format, "{name}");
        }
    }
}
