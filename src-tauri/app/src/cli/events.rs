//! Usage: importing event files (with progress on a terminal), saved CSV
//! column mappings, and one meter's value over a range.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::{Error, Workspace, api, event_file, events, history, usage};
use serde_json::json;

use super::{Outcome, import_outcome, report_evaluation};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// csv, ndjson or cloudevents (default: from the file's extension).
    #[arg(long)]
    pub format: Option<String>,
    /// Read CSV columns through this saved mapping (see `mapping save`).
    #[arg(long)]
    pub mapping: Option<String>,
    /// Write the rejected rows, as the file wrote them, to this file (to fix and import again).
    #[arg(long, value_name = "OUT")]
    pub rejects: Option<PathBuf>,
}

pub(super) fn import(args: ImportArgs, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let ImportArgs { file, format, mapping, rejects } = args;
    let format =
        format.map(|f| event_file::Format::parse(&f)).transpose().map_err(|m| Error::invalid("--format", m))?;
    let mut ws = Workspace::open(workspace)?;
    let started = std::time::Instant::now();
    let show_progress = std::io::stderr().is_terminal();
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let columns = mapping.as_deref().map_or(api::Columns::Standard, api::Columns::Saved);
    let followed = api::import_events(&mut ws, &file, format, columns, now, &mut |p| {
        if show_progress {
            eprint!("\r{}", progress_line(p, size, started.elapsed().as_secs_f64()));
        }
        ControlFlow::Continue(())
    })?;
    if show_progress {
        eprintln!();
    }
    report_evaluation(&followed.wallets);
    let report = followed.done;
    if let (Some(out), Some(import_id)) = (rejects, report.import_id)
        && report.rejected > 0
    {
        let mut writer = std::io::BufWriter::new(
            std::fs::File::create(&out).map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?,
        );
        events::write_rejects(ws.conn(), import_id, &mut writer)?;
        std::io::Write::flush(&mut writer).map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
    }
    import_outcome(&file, &report)
}

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    #[arg(long)]
    pub meter: String,
    #[arg(long)]
    pub customer: String,
    /// Start (inclusive): RFC 3339 with an offset, or unix seconds/milliseconds.
    #[arg(long)]
    pub from: String,
    /// End (exclusive).
    #[arg(long)]
    pub to: String,
    /// One group of a grouped meter (e.g. a model).
    #[arg(long)]
    pub group: Option<String>,
}

pub(super) fn usage(args: UsageArgs, workspace: &Path) -> Result<Outcome, Error> {
    let UsageArgs { meter, customer, from, to, group } = args;
    let instant = |flag: &str, text: &str| {
        event_file::parse_timestamp(&serde_json::Value::String(text.to_string())).map_err(|m| Error::invalid(flag, m))
    };
    let (from, to) = (instant("--from", &from)?, instant("--to", &to)?);
    let ws = Workspace::open(workspace)?;
    let value = usage::value(ws.conn(), &meter, &customer, from, to, group.as_deref())?;
    Outcome::ok(json!({ "value": value.to_string() }), value.to_string())
}

/// An import's report: its counts and every listed reject; a reject fails the command.
/// `[#########...........]  45%  900000 rows  1100000 rows/s  3 s left  2 rejected`
fn progress_line(p: &events::ImportProgress, size: u64, seconds: f64) -> String {
    let done = if size == 0 { 0.0 } else { (p.bytes as f64 / size as f64).min(1.0) };
    let filled = (done * 20.0).round() as usize;
    let rate = p.rows as f64 / seconds.max(1e-9);
    let left = if done > 0.0 { seconds * (1.0 - done) / done } else { 0.0 };
    format!(
        "[{}{}] {:>3.0}%  {} rows  {rate:.0} rows/s  {left:.0} s left  {} rejected   ",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        done * 100.0,
        p.rows,
        p.rejected
    )
}

#[derive(Debug, Subcommand)]
pub enum MappingAction {
    /// Save (or replace) a mapping: which CSV columns hold the id, customer, type and time.
    Save {
        name: String,
        #[arg(long, default_value = "id")]
        id: String,
        #[arg(long, default_value = "customer")]
        customer: String,
        #[arg(long = "type", default_value = "type")]
        event_type: String,
        #[arg(long, default_value = "timestamp")]
        timestamp: String,
    },
    /// List saved mappings.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ImportsAction {
    /// Every import of events, newest first, with its counts and whether it can be rolled back.
    List,
    /// Roll back import ID: its events and their ids are removed (the file, fixed,
    /// imports again). Refused once any of its events is in an invoiced period.
    Rollback { id: i64 },
}

pub(super) fn imports(action: ImportsAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        ImportsAction::List => {
            let ws = Workspace::open(workspace)?;
            let records = history::list(ws.conn())?;
            let human = if records.is_empty() {
                "no imports yet".to_string()
            } else {
                records.iter().map(record_line).collect::<Vec<_>>().join("\n")
            };
            Outcome::ok(&records, human)
        }
        ImportsAction::Rollback { id } => {
            let mut ws = Workspace::open(workspace)?;
            let done = ws.write(|tx| history::rollback(tx, id, now))?;
            let human = format!(
                "rolled back import #{id} ({}): {} removed",
                done.file_name,
                meterdesk_engine::text::count(done.rolled_back_events.unwrap_or(0), "event", "events")
            );
            Outcome::ok(&done, human)
        }
    }
}

/// `#3  2026-11-24 15:00  october.csv  1,000 accepted, 2 duplicates, 0 rejected, 0 late  (can be rolled back)`
fn record_line(r: &history::ImportRecord) -> String {
    let state = match (&r.rolled_back_at, &r.locked) {
        (Some(at), _) => format!("rolled back {}", at.format("%Y-%m-%d %H:%M UTC")),
        (None, Some(why)) => format!("stays: {why}"),
        (None, None) => "can be rolled back".to_string(),
    };
    format!(
        "#{:<4} {}  {}  {}: {} accepted, {} duplicates, {} rejected, {} late  ({state})",
        r.id,
        r.started_at.format("%Y-%m-%d %H:%M UTC"),
        r.file_name,
        r.outcome.as_str(),
        r.accepted,
        r.duplicates,
        r.rejected,
        r.late
    )
}

pub(super) fn mapping(action: MappingAction, workspace: &Path) -> Result<Outcome, Error> {
    match action {
        MappingAction::Save { name, id, customer, event_type, timestamp } => {
            let columns = event_file::CsvColumns { id, customer, event_type, timestamp };
            let mut ws = Workspace::open(workspace)?;
            ws.write(|tx| events::save_mapping(tx, &name, &columns))?;
            Outcome::ok(json!({ "name": name, "columns": columns }), format!("saved mapping \"{name}\""))
        }
        MappingAction::List => {
            let ws = Workspace::open(workspace)?;
            let names = events::mapping_names(ws.conn())?;
            let human = names.join("\n");
            Outcome::ok(names, human)
        }
    }
}
