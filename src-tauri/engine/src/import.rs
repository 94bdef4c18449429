//! Reading rows from files (CSV headers, line numbers a person sees, lines
//! too long to be rows) and the report of an import, which names every
//! rejected row. The event and customer imports are built on it.

use std::io::Read;

use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Problem, Result};

/// The longest line read as a row; a longer one is not a row of any format.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Why one row of a file was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RowError {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    pub field: String,
    pub reason: String,
}

/// The outcome of one import: every row is accepted, a duplicate, or rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct ImportReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub errors: Vec<RowError>,
    /// The event import's entry in the import log (not part of the CLI's output).
    #[serde(skip)]
    #[ts(skip)]
    pub import_id: Option<i64>,
    /// Accepted events that fall in a period already invoiced: stored, and
    /// flagged late for the invoices.
    pub late: u64,
    /// What the report leaves out, said: errors listed only up to a limit,
    /// rejected rows kept for saving only up to a limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ImportReport {
    pub(crate) fn reject(&mut self, line: u64, field: impl Into<String>, reason: impl Into<String>) {
        self.reject_row(line, vec![Problem::new(field, reason)]);
    }

    /// One rejected row, however many of its fields are wrong.
    pub(crate) fn reject_row(&mut self, line: u64, problems: Vec<Problem>) {
        self.rejected += 1;
        self.errors.extend(problems.into_iter().map(|p| RowError { line, field: p.path, reason: p.message }));
    }
}

/// A CSV reader positioned after the header, the header's column names (BOM and
/// blanks trimmed), and the line index of the file. A file with no header is refused.
pub(crate) fn csv_with_header<R: Read>(
    input: R,
    example: &str,
) -> Result<(csv::Reader<LineIndexed<R>>, Vec<String>, LineIndex)> {
    let (input, lines) = LineIndex::wrap(input);
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(input);
    let raw = reader.byte_headers().map_err(|e| Error::invalid("line 1", format!("cannot read the header: {e}")))?;
    if let Some(line) = lines.too_long() {
        return Err(line_too_long(line));
    }
    let names: Vec<String> = raw
        .iter()
        .enumerate()
        .map(|(i, h)| {
            std::str::from_utf8(h)
                .map(|t| t.trim_start_matches('\u{feff}').trim().to_string())
                .map_err(|_| Error::invalid(format!("line 1, column {}", i + 1), "the column name is not UTF-8"))
        })
        .collect::<Result<_>>()?;
    if names.iter().all(String::is_empty) {
        return Err(Error::invalid("line 1", format!("the file is empty: expected a header such as {example}")));
    }
    Ok((reader, names, lines))
}

/// The error of a file with a line past the length limit: not a CSV row.
pub(crate) fn line_too_long(line: u64) -> Error {
    Error::invalid(
        format!("line {line}"),
        format!(
            "the line is longer than {} bytes: this is not a CSV row; the rest of the file was not read",
            MAX_LINE_BYTES
        ),
    )
}

/// Column names as an error may quote them: the first ten, each cut at 40 characters.
pub(crate) fn some_names(names: &[String]) -> String {
    let mut shown: Vec<String> =
        names
            .iter()
            .take(10)
            .map(|n| {
                if n.chars().count() > 40 {
                    format!("{}…", n.chars().take(40).collect::<String>())
                } else {
                    n.clone()
                }
            })
            .collect();
    if names.len() > 10 {
        shown.push(format!("and {} more", names.len() - 10));
    }
    shown.join(", ")
}

/// Where each line of a streamed file starts, for naming the line a person sees
/// in an editor. (The csv crate's own line numbers are one short after a CRLF.)
/// Memory stays bounded: only newlines read ahead of the current record are kept.
pub(crate) struct LineIndex {
    state: std::rc::Rc<std::cell::RefCell<LineState>>,
}

#[derive(Default)]
struct LineState {
    /// Bytes read so far from the file.
    read: u64,
    /// Offsets of newlines read but not yet passed by `line_at`, and whether
    /// a CR came right before (CRLF).
    pending: std::collections::VecDeque<(u64, bool)>,
    /// Newlines already passed.
    passed: u64,
    /// Quote characters read so far: an odd count at the end of the file
    /// means a quoted cell was never closed.
    quotes: u64,
    /// The file has no more bytes.
    ended: bool,
    /// Bytes since the last newline.
    line_bytes: u64,
    /// The line that passed [`MAX_LINE_BYTES`]: reading
    /// stopped there (a file of one endless line must not fill memory).
    too_long: Option<u64>,
}

/// The reading side of a [`LineIndex`]: passes bytes through (a lone CR as a
/// newline, see [`LineEnds`]), noting newlines.
pub(crate) struct LineIndexed<R> {
    inner: LineEnds<R>,
    state: std::rc::Rc<std::cell::RefCell<LineState>>,
    /// The last byte read was a CR (of a CRLF).
    after_cr: bool,
}

/// Reads a file whose lines may end in LF, CRLF or a lone CR (old Mac files,
/// some exports) as if each lone CR were an LF, so that lines are numbered as
/// an editor shows them. JSON never holds a raw CR inside a string; in a
/// quoted CSV cell a lone CR reads as a line break, which it is.
pub(crate) struct LineEnds<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[start..ready]` is translated and waits to be read; `buf[ready..end]`
    /// is a CR whose next byte is not read yet.
    start: usize,
    ready: usize,
    end: usize,
}

impl<R: Read> LineEnds<R> {
    pub(crate) fn new(inner: R) -> LineEnds<R> {
        LineEnds { inner, buf: vec![0; 64 * 1024], start: 0, ready: 0, end: 0 }
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.start == self.ready {
            // Keep a held CR at the front, then read on behind it.
            let held = self.end - self.ready;
            self.buf.copy_within(self.ready..self.end, 0);
            let n = self.inner.read(&mut self.buf[held..])?;
            let total = held + n;
            // At the end of the file a held CR is a line end; otherwise the last
            // CR waits for the byte after it.
            let ready = if n > 0 && total > 0 && self.buf[total - 1] == b'\r' { total - 1 } else { total };
            for i in memchr::memchr_iter(b'\r', &self.buf[..ready]).collect::<Vec<_>>() {
                if self.buf.get(i + 1).filter(|_| i + 1 < total) != Some(&b'\n') {
                    self.buf[i] = b'\n';
                }
            }
            (self.start, self.ready, self.end) = (0, ready, total);
            if ready == 0 && total > 0 {
                // Only a CR was read: read on to learn what follows it.
                return self.read(out);
            }
        }
        let n = out.len().min(self.ready - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl LineIndex {
    pub(crate) fn wrap<R: Read>(inner: R) -> (LineIndexed<R>, LineIndex) {
        let state = std::rc::Rc::new(std::cell::RefCell::new(LineState::default()));
        (LineIndexed { inner: LineEnds::new(inner), state: state.clone(), after_cr: false }, LineIndex { state })
    }

    /// The 1-based line of the record the csv reader places at byte `offset`
    /// (it points at the `\n` of a CRLF, hence "at or before"). Offsets must not decrease.
    /// Blank lines before the record (the csv reader skips them, its position
    /// stays before them) are passed over.
    pub(crate) fn line_at(&self, offset: u64) -> u64 {
        let mut state = self.state.borrow_mut();
        let mut offset = offset;
        while let Some(&(nl, cr_before)) = state.pending.front() {
            if nl <= offset {
                state.pending.pop_front();
                state.passed += 1;
                // A newline right at the record's start is a blank line: the record begins after it.
                if nl == offset {
                    offset = nl + 1;
                }
            } else if nl == offset + 1 && cr_before {
                // A blank line ending in CRLF.
                state.pending.pop_front();
                state.passed += 1;
                offset = nl + 1;
            } else {
                break;
            }
        }
        state.passed + 1
    }

    /// The line of byte `offset`, counting the newlines before it, without
    /// passing them (for the end of a record that spans lines).
    pub(crate) fn line_of(&self, offset: u64) -> u64 {
        let state = self.state.borrow();
        state.passed + state.pending.iter().take_while(|&&(nl, _)| nl < offset).count() as u64 + 1
    }

    /// The line reading stopped at because it passed the length limit, if one did.
    pub(crate) fn too_long(&self) -> Option<u64> {
        self.state.borrow().too_long
    }

    /// Whether the whole file was read and it ended inside a quoted cell.
    pub(crate) fn ended_inside_quotes(&self) -> bool {
        let state = self.state.borrow();
        state.ended && state.quotes % 2 == 1
    }
}

impl<R: Read> Read for LineIndexed<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.state.borrow().too_long.is_some() {
            return Ok(0);
        }
        let n = self.inner.read(out)?;
        let mut state = self.state.borrow_mut();
        if n == 0 && !out.is_empty() {
            state.ended = true;
        }
        state.line_bytes = match memchr::memrchr(b'\n', &out[..n]) {
            Some(last) => (n - last - 1) as u64,
            None => state.line_bytes + n as u64,
        };
        if state.line_bytes > MAX_LINE_BYTES as u64 {
            let line = state.passed + state.pending.len() as u64 + 1;
            state.too_long = Some(line + memchr::memchr_iter(b'\n', &out[..n]).count() as u64);
            return Ok(0);
        }
        state.quotes += memchr::memchr_iter(b'"', &out[..n]).count() as u64;
        let start = state.read;
        for i in memchr::memchr_iter(b'\n', &out[..n]) {
            let cr_before = if i == 0 { self.after_cr } else { out[i - 1] == b'\r' };
            state.pending.push_back((start + i as u64, cr_before));
        }
        if n > 0 {
            self.after_cr = out[n - 1] == b'\r';
        }
        state.read += n as u64;
        Ok(n)
    }
}
