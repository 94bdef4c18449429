//! The command line: parse, call one engine function, print. No business
//! logic here. One module per group of subcommands, each holding its
//! arguments, its handler and how its results read: `workspace` (catalog,
//! demo, backups), `events` (import, its history, mappings, usage), `customers`,
//! `invoice`, `subscription`, `wallet`, `report`. This file holds the top-level arguments, the
//! dispatch and what every group shares (the outcome, printing, reports).

mod alerts;
mod customers;
mod events;
mod invoice;
mod mail;
mod report;
mod subscription;
mod wallet;
mod workspace;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use meterdesk_engine::import::ImportReport;
use meterdesk_engine::{Error, projection};
use serde::Serialize;
use serde_json::json;

use crate::wire::IpcError;
use crate::{clock, paths};

/// Meterdesk: billing operations for usage-based pricing. Without a subcommand,
/// opens the console window.
#[derive(Debug, Parser)]
#[command(name = "meterdesk", version)]
pub struct Args {
    /// The workspace file (default: workspace.meterdesk in the user's data directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub workspace: Option<PathBuf>,
    /// Machine-readable JSON on stdout (progress and notes go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update everything in a catalog file, in one transaction.
    Apply(workspace::ApplyArgs),
    /// Export the workspace.
    Export {
        #[command(subcommand)]
        what: workspace::ExportWhat,
    },
    /// Write a consistent copy of the workspace to OUT (never over a file).
    Backup(workspace::BackupArgs),
    /// The workspace's automatic backups (before migrations and finalize runs), newest first.
    Backups,
    /// Replace the workspace's content with the backup FROM; what it held is kept in its backups folder.
    Restore(workspace::RestoreArgs),
    /// Build the demo workspace at PATH.
    Demo(workspace::DemoArgs),
    /// Import usage events from a CSV, NDJSON or CloudEvents file.
    Import(events::ImportArgs),
    /// The import history: list imports, roll one back.
    Imports {
        #[command(subcommand)]
        action: events::ImportsAction,
    },
    /// Saved CSV column mappings.
    Mapping {
        #[command(subcommand)]
        action: events::MappingAction,
    },
    /// One meter's value for one customer over [from, to).
    Usage(events::UsageArgs),
    /// Work with customers.
    Customers {
        #[command(subcommand)]
        action: customers::CustomersAction,
    },
    /// Invoices: preview drafts, finalize them, verify the finalized.
    Invoice {
        #[command(subcommand)]
        action: invoice::InvoiceAction,
    },
    /// Subscriptions: list, put a customer on a plan, change plan on a date, end.
    Subscription {
        #[command(subcommand)]
        action: subscription::SubscriptionAction,
    },
    /// The alerts inbox: list, acknowledge, evaluate the usage and spend rules.
    Alerts {
        #[command(subcommand)]
        action: alerts::AlertsAction,
    },
    /// Spend caps: what every capped customer may still use this period.
    Limits {
        #[command(subcommand)]
        action: subscription::LimitsAction,
    },
    /// Credit wallets: balances, grants and their ledger.
    Wallet {
        #[command(subcommand)]
        action: wallet::WalletAction,
    },
    /// Business figures: revenue, MRR and NRR; margin; receivables; signals.
    Report {
        #[command(subcommand)]
        action: report::ReportAction,
    },
    /// The outbox: every message sent or waiting; retry the waiting ones.
    Outbox {
        #[command(subcommand)]
        action: mail::OutboxAction,
    },
    /// Payment reminders of overdue invoices: preview, run.
    Reminders {
        #[command(subcommand)]
        action: mail::RemindersAction,
    },
    /// The mail server: keep its password (outside the workspace), test the connection.
    Mail {
        #[command(subcommand)]
        action: mail::MailAction,
    },
}

/// What a subcommand produced: its JSON form, its human form, and whether it
/// fully succeeded (an import with rejected rows did not).
struct Outcome {
    json: serde_json::Value,
    human: String,
    success: bool,
}

impl Outcome {
    fn ok(value: impl Serialize, human: String) -> Result<Outcome, Error> {
        let json = serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Outcome { json, human, success: true })
    }
}

pub fn run(command: Command, workspace: Option<PathBuf>, json: bool) -> i32 {
    let workspace = workspace.unwrap_or_else(paths::default_workspace);
    match execute(command, &workspace) {
        Ok(outcome) => {
            if json {
                say(&outcome.json.to_string());
            } else if !outcome.human.is_empty() {
                say(&outcome.human);
            }
            if outcome.success { 0 } else { 1 }
        }
        Err(err) => {
            let wire = IpcError::from(err);
            if json {
                say(&json!({ "error": wire }).to_string());
            } else {
                eprintln!("error: {}", wire.message);
                for p in wire.problems.iter().skip(usize::from(wire.problems.len() == 1)) {
                    eprintln!("  {}: {}", p.path, p.message);
                }
            }
            1
        }
    }
}

/// Prints a line on stdout. A reader that went away (`meterdesk … | head`)
/// ends the output quietly instead of a panic on the broken pipe.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn import_outcome(file: &Path, report: &ImportReport) -> Result<Outcome, Error> {
    let mut human = format!(
        "{}: {} accepted, {} duplicates, {} rejected",
        file.display(),
        report.accepted,
        report.duplicates,
        report.rejected
    );
    if report.late > 0 {
        human.push_str(&format!(" ({} accepted events fall in periods already invoiced: flagged late)", report.late));
    }
    for e in &report.errors {
        human.push_str(&format!("\n  line {}, {}: {}", e.line, e.field, e.reason));
    }
    for note in &report.notes {
        human.push_str(&format!("\n  ({note})"));
    }
    Ok(Outcome { success: report.rejected == 0, ..Outcome::ok(report, human)? })
}

/// The wallet rules' top-ups and alerts, on stderr (stdout keeps the command's
/// own output). A failed evaluation does not fail the import or finalize that
/// ran it: it is said, and `wallet alerts` evaluates again.
fn report_evaluation(evaluated: &Result<projection::Evaluation, String>) {
    match evaluated {
        Ok(e) => {
            for a in &e.alerts {
                eprintln!("alert, {} ({}): {}", a.customer_name, a.customer, a.message);
            }
        }
        Err(e) => eprintln!("the wallet and alert rules were not evaluated: {e}"),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))
}

fn execute(command: Command, workspace: &Path) -> Result<Outcome, Error> {
    let now = clock::now();
    match command {
        Command::Apply(args) => workspace::apply(args, workspace, now),
        Command::Export { what } => workspace::export(what, workspace),
        Command::Backup(args) => workspace::backup(args, workspace),
        Command::Backups => workspace::backups(workspace),
        Command::Restore(args) => workspace::restore(args, workspace, now),
        Command::Demo(args) => workspace::demo(args, now),
        Command::Import(args) => events::import(args, workspace, now),
        Command::Imports { action } => events::imports(action, workspace, now),
        Command::Mapping { action } => events::mapping(action, workspace),
        Command::Usage(args) => events::usage(args, workspace),
        Command::Customers { action } => customers::run(action, workspace, now),
        Command::Invoice { action } => invoice::run(action, workspace, now),
        Command::Subscription { action } => subscription::run(action, workspace, now),
        Command::Alerts { action } => alerts::run(action, workspace, now),
        Command::Limits { action } => subscription::limits(action, workspace, now),
        Command::Wallet { action } => wallet::run(action, workspace, now),
        Command::Report { action } => report::run(action, workspace, now),
        Command::Outbox { action } => mail::outbox(action, workspace, now),
        Command::Reminders { action } => mail::reminders(action, workspace, now),
        Command::Mail { action } => mail::run(action, workspace),
    }
}
