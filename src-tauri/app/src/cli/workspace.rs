//! The workspace as a whole: applying and exporting the catalog, the demo,
//! backups and restoring one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::{Error, Workspace, backup, catalog, demo};
use serde_json::json;

use super::{Outcome, read_file};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    pub file: PathBuf,
}

pub(super) fn apply(args: ApplyArgs, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let ApplyArgs { file } = args;
    let bytes = read_file(&file)?;
    let text = String::from_utf8(bytes).map_err(|e| Error::invalid("$", format!("the file is not UTF-8: {e}")))?;
    let parsed = catalog::parse(&text)?;
    let mut ws = Workspace::open_or_create(workspace)?;
    let report = ws.write(|tx| catalog::apply(tx, parsed, now))?;
    let human = format!(
        "applied {}: {} created, {} updated, {} unchanged",
        file.display(),
        report.created,
        report.updated,
        report.unchanged
    );
    Outcome::ok(report, human)
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    pub path: PathBuf,
    /// Replace an existing workspace at PATH.
    #[arg(long)]
    pub force: bool,
    /// Customers and meters only, no usage events (and no history).
    #[arg(long)]
    pub no_usage: bool,
    /// Usage of the last three months only: no invoiced months before them.
    #[arg(long)]
    pub no_history: bool,
    /// The day the demo is built as of (YYYY-MM-DD; default today): usage
    /// covers the three calendar months before it.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
}

pub(super) fn demo(args: DemoArgs, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let DemoArgs { path, force, no_usage, no_history, as_of } = args;
    if path.exists() {
        if !force {
            return Err(Error::Conflict(format!("{} already exists; pass --force to replace it", path.display())));
        }
        // Only ever a Meterdesk workspace, never some other file, and not while in use.
        meterdesk_engine::workspace::remove(&path)?;
    }
    let now = as_of.and_then(|d| d.and_hms_opt(12, 0, 0)).map_or(now, |t| t.and_utc());
    let mut ws = Workspace::create(&path)?;
    let events = if no_usage {
        ws.write(|tx| demo::build(tx, now))?;
        0
    } else if no_history {
        ws.write(|tx| demo::build(tx, now))?;
        demo::import_usage(&mut ws, now)?.accepted
    } else {
        // A live workspace: invoiced history, three months of events, and this month's up to today.
        demo::build_with_history(&mut ws, now)?;
        let today = ws.summary(now)?.today;
        demo::import_usage_through(&mut ws, now, Some(today))?.accepted
    };
    let summary = ws.summary(now)?;
    let human = format!(
        "built the demo workspace at {} ({} customers, {events} usage events)",
        summary.path, summary.customers
    );
    Outcome::ok(json!({ "path": summary.path }), human)
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    pub out: PathBuf,
}

pub(super) fn backup(args: BackupArgs, workspace: &Path) -> Result<Outcome, Error> {
    let BackupArgs { out } = args;
    let ws = Workspace::open(workspace)?;
    let written = backup::write(&ws, &out)?;
    let human = format!("wrote {} ({} bytes)", written.path, written.bytes);
    Outcome::ok(json!({ "path": written.path, "bytes": written.bytes }), human)
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    pub from: PathBuf,
}

pub(super) fn restore(args: RestoreArgs, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let RestoreArgs { from } = args;
    let mut ws = Workspace::open(workspace)?;
    let done = backup::restore(&mut ws, &from, now)?;
    let human = format!("restored {} into {}; what it held is kept as {}", done.restored, done.path, done.kept.path);
    Outcome::ok(&done, human)
}

pub(super) fn backups(workspace: &Path) -> Result<Outcome, Error> {
    let ws = Workspace::open(workspace)?;
    let listed = backup::list(ws.path())?;
    let human = listed.iter().map(|b| format!("{}  {} bytes", b.path, b.bytes)).collect::<Vec<_>>().join("\n");
    Outcome::ok(&listed, human)
}

#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// The workspace as a catalog file (stdout, or --out FILE).
    Catalog {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub(super) fn export(action: ExportWhat, workspace: &Path) -> Result<Outcome, Error> {
    match action {
        ExportWhat::Catalog { out } => {
            let ws = Workspace::open(workspace)?;
            let exported = catalog::export(ws.conn())?;
            let text = serde_json::to_string_pretty(&exported).map_err(|e| Error::Internal(e.to_string()))?;
            match out {
                None => Ok(Outcome {
                    json: serde_json::to_value(&exported).unwrap_or_default(),
                    human: text,
                    success: true,
                }),
                Some(out) => {
                    std::fs::write(&out, text + "\n")
                        .map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
                    Outcome::ok(json!({ "path": out.display().to_string() }), format!("wrote {}", out.display()))
                }
            }
        }
    }
}
