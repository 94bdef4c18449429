//! The command line: parse, call one engine function, print. No business logic here.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use meterdesk_engine::import::ImportReport;
use meterdesk_engine::period::Month;
use meterdesk_engine::{
    Error, Workspace, api, backup, bill, catalog, credit, customer, demo, event_file, events, invoice, pdf, projection,
    register, settings, usage, wallet,
};
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
    Apply { file: PathBuf },
    /// Export the workspace.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Write a consistent copy of the workspace to OUT (never over a file).
    Backup { out: PathBuf },
    /// The workspace's automatic backups (before migrations and finalize runs), newest first.
    Backups,
    /// Replace the workspace's content with the backup FROM; what it held is kept in its backups folder.
    Restore { from: PathBuf },
    /// Build the demo workspace at PATH.
    Demo {
        path: PathBuf,
        /// Replace an existing workspace at PATH.
        #[arg(long)]
        force: bool,
        /// Customers and meters only, no usage events.
        #[arg(long)]
        no_usage: bool,
        /// The day the demo is built as of (YYYY-MM-DD; default today): usage
        /// covers the three calendar months before it.
        #[arg(long, value_name = "DATE")]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Import usage events from a CSV, NDJSON or CloudEvents file.
    Import {
        file: PathBuf,
        /// csv, ndjson or cloudevents (default: from the file's extension).
        #[arg(long)]
        format: Option<String>,
        /// Read CSV columns through this saved mapping (see `mapping save`).
        #[arg(long)]
        mapping: Option<String>,
        /// Write the rejected rows, as the file wrote them, to this file (to fix and import again).
        #[arg(long, value_name = "OUT")]
        rejects: Option<PathBuf>,
    },
    /// Saved CSV column mappings.
    Mapping {
        #[command(subcommand)]
        action: MappingAction,
    },
    /// One meter's value for one customer over [from, to).
    Usage {
        #[arg(long)]
        meter: String,
        #[arg(long)]
        customer: String,
        /// Start (inclusive): RFC 3339 with an offset, or unix seconds/milliseconds.
        #[arg(long)]
        from: String,
        /// End (exclusive).
        #[arg(long)]
        to: String,
        /// One group of a grouped meter (e.g. a model).
        #[arg(long)]
        group: Option<String>,
    },
    /// Work with customers.
    Customers {
        #[command(subcommand)]
        action: CustomersAction,
    },
    /// Invoices: preview drafts, finalize them, verify the finalized.
    Invoice {
        #[command(subcommand)]
        action: InvoiceAction,
    },
    /// Credit wallets: balances, grants and their ledger.
    Wallet {
        #[command(subcommand)]
        action: WalletAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalletAction {
    /// A customer's balance and grants (expiries due are written first).
    Balance {
        #[arg(long)]
        customer: String,
    },
    /// Grant credit to a customer's wallet.
    Grant {
        #[arg(long)]
        customer: String,
        /// In the customer's currency.
        #[arg(long)]
        amount: meterdesk_engine::Dec,
        /// paid (a top-up: give --reference) or free (promotional).
        #[arg(long, default_value = "paid")]
        kind: String,
        /// The grant's id (default: grant-N).
        #[arg(long)]
        id: Option<String>,
        /// The last day it can be used (YYYY-MM-DD, workspace zone); default: never expires.
        #[arg(long)]
        expires: Option<chrono::NaiveDate>,
        /// Among grants expiring the same day, the higher is used first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        /// A paid top-up's invoice or payment reference.
        #[arg(long)]
        reference: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        /// At expiry, roll over at most this percentage of what is left...
        #[arg(long, value_name = "PERCENT")]
        rollover_percent: Option<meterdesk_engine::Dec>,
        /// ...and at most this amount...
        #[arg(long, value_name = "AMOUNT")]
        rollover_max: Option<meterdesk_engine::Dec>,
        /// ...into a grant that lasts this many months more (default 1).
        #[arg(long, value_name = "N")]
        rollover_months: Option<u32>,
    },
    /// A customer's ledger, newest first.
    Ledger {
        #[arg(long)]
        customer: String,
        /// Only these kinds (grant, consumption, expiry, rollover, void, adjustment; repeatable).
        #[arg(long)]
        kind: Vec<String>,
        /// Only this grant's entries.
        #[arg(long)]
        grant: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Void what is left of a grant.
    Void {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        grant: String,
        #[arg(long)]
        reason: String,
    },
    /// Show a customer's rules, or set them (the options given replace all of them).
    Rules {
        #[arg(long)]
        customer: String,
        /// When the projected balance drops below this...
        #[arg(long, requires = "topup_amount")]
        topup_below: Option<meterdesk_engine::Dec>,
        /// ...grant this as a paid top-up, billed on the next invoice.
        #[arg(long, requires = "topup_below")]
        topup_amount: Option<meterdesk_engine::Dec>,
        /// Alert when the projected balance drops below this amount...
        #[arg(long)]
        alert_below: Option<meterdesk_engine::Dec>,
        /// ...or below this percentage of the credit in active grants.
        #[arg(long)]
        alert_percent: Option<meterdesk_engine::Dec>,
        /// Alert when a grant with credit left ends within this many days.
        #[arg(long)]
        expiry_days: Option<u32>,
        /// Remove every rule.
        #[arg(long, conflicts_with_all = ["topup_below", "alert_below", "alert_percent", "expiry_days"])]
        clear: bool,
    },
    /// Evaluate the rules now, then list the open alerts (or acknowledge them).
    Alerts {
        /// Acknowledge this alert.
        #[arg(long)]
        ack: Option<i64>,
        /// Acknowledge every open alert.
        #[arg(long, conflicts_with = "ack")]
        ack_all: bool,
    },
    /// Correct a grant up or down (a new ledger entry; never below zero).
    Adjust {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        grant: String,
        /// Signed: -12.50 takes credit away.
        #[arg(long, allow_negative_numbers = true)]
        amount: meterdesk_engine::Dec,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvoiceAction {
    /// The draft invoice of a customer's subscription period that starts in
    /// month YYYY-MM (computed now, never stored). Without --customer: every
    /// customer's drafts, as a list.
    Preview {
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        /// Which subscription, when two periods start in the month (a plan change).
        #[arg(long)]
        subscription: Option<String>,
        /// The fee-only invoice of the periods' advance fees (billed at their start).
        #[arg(long)]
        advance: bool,
    },
    /// Finalize the drafts of the periods starting in month YYYY-MM (every
    /// customer's, or one's): numbered, frozen, never changed. Each invoice is
    /// its own transaction; a failure is reported and the others go on.
    Finalize {
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        #[arg(long)]
        customer: Option<String>,
        /// Finalize the fee-only invoices of the periods' advance fees; the
        /// periods' invoices then leave those fees out.
        #[arg(long)]
        advance: bool,
        /// Also finalize periods that have not ended yet (usage may still come;
        /// later events become late usage).
        #[arg(long)]
        include_open: bool,
    },
    /// Re-check the hash chain of every finalized invoice; report the first break.
    Verify,
    /// Void a finalized invoice (its number stays used); not once paid.
    Void {
        number: String,
        #[arg(long)]
        reason: String,
    },
    /// Record the payment of a finalized invoice.
    Paid {
        number: String,
        /// The payment's date (YYYY-MM-DD).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// The bank or processor reference.
        #[arg(long)]
        reference: String,
    },
    /// One finalized invoice.
    Show { number: String },
    /// Every finalized invoice, newest first: its standing (open, overdue,
    /// paid, credited, void) and what is still owed.
    List,
    /// Issue a credit note (series CN) against a finalized invoice: --full for
    /// all that is left, --line N=NET (repeatable) for line amounts, or
    /// --amount GROSS (tax included); never more than what is left.
    Credit {
        number: String,
        #[arg(long)]
        reason: String,
        #[arg(long, conflicts_with_all = ["line", "amount"])]
        full: bool,
        #[arg(long, value_name = "N=NET")]
        line: Vec<String>,
        #[arg(long, conflicts_with = "line")]
        amount: Option<meterdesk_engine::Dec>,
    },
    /// The invoices issued from --from to --to (dates, both included) as CSV
    /// for an accounting import: a row per line with net, tax and gross.
    Export {
        #[arg(long)]
        from: chrono::NaiveDate,
        #[arg(long)]
        to: chrono::NaiveDate,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the PDF of a finalized invoice or a credit note.
    Pdf {
        number: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// a4 or letter (default: the workspace's paper setting).
        #[arg(long)]
        paper: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// The workspace as a catalog file (stdout, or --out FILE).
    Catalog {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
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
pub enum CustomersAction {
    /// Import customers from a CSV file (columns: id, name, email, currency, tax_rate, tax_exempt, address).
    Import { file: PathBuf },
    /// List customers (active ones unless --archived).
    List {
        /// Only customers whose id, name or email contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Include archived customers.
        #[arg(long)]
        archived: bool,
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
                eprintln!("wallet alert, {} ({}): {}", a.customer_name, a.customer, a.message);
            }
        }
        Err(e) => eprintln!("the wallet rules were not evaluated: {e}"),
    }
}

/// A wallet as a person reads it: the balance, then each grant.
fn wallet_text(w: &wallet::Wallet) -> String {
    let mut out = format!("{}: {} {}", w.customer, w.balance, w.currency);
    for g in &w.grants {
        let expires = g.fields.expires.map_or("never expires".to_string(), |d| format!("last day {d}"));
        out.push_str(&format!(
            "\n  {:<24} {:<5} {:>12} granted, {:>12} left  {:<9} priority {}  {expires}",
            g.fields.id,
            g.fields.kind.as_str(),
            g.fields.amount.to_string(),
            g.remaining.to_string(),
            format!("{:?}", g.state).to_lowercase(),
            g.fields.priority,
        ));
    }
    out
}

/// A draft as a person reads it: one row per line, then the totals.
fn draft_text(d: &bill::Draft) -> String {
    let mut out = format!(
        "Draft invoice for {} ({} on plan {} v{})\nPeriod {} to {}, {} of {} days active, {}\n",
        d.customer,
        d.subscription,
        d.plan,
        d.plan_version,
        d.first_day,
        d.last_day(),
        d.active_days,
        d.period_days,
        d.currency
    );
    for l in &d.lines {
        out.push_str(&format!("  {:<40} {:>16} {:>14}\n", l.description, l.quantity.to_string(), l.amount.to_string()));
    }
    let tax = match d.tax_rate {
        Some(r) => format!("Tax {}%", r.0.saturating_mul(100.into()).normalize()),
        None => "Tax (exempt)".to_string(),
    };
    for (label, amount) in [
        ("Subtotal", d.subtotal),
        (tax.as_str(), d.tax),
        ("Total", d.total),
        ("Credits applied", d.credits_applied),
        ("Amount due", d.amount_due),
    ] {
        out.push_str(&format!("  {label:<57} {:>14}\n", amount.to_string()));
    }
    if d.unbilled_events > 0 {
        out.push_str(&format!(
            "  Not billed: {} event{} of {} in this period fall{} outside every subscription\n",
            d.unbilled_events,
            if d.unbilled_events == 1 { "" } else { "s" },
            d.customer,
            if d.unbilled_events == 1 { "s" } else { "" },
        ));
    }
    out.trim_end().to_string()
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))
}

fn execute(command: Command, workspace: &Path) -> Result<Outcome, Error> {
    let now = clock::now();
    match command {
        Command::Apply { file } => {
            let bytes = read_file(&file)?;
            let text =
                String::from_utf8(bytes).map_err(|e| Error::invalid("$", format!("the file is not UTF-8: {e}")))?;
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
        Command::Export { what: ExportWhat::Catalog { out } } => {
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
        Command::Demo { path, force, no_usage, as_of } => {
            if path.exists() {
                if !force {
                    return Err(Error::Conflict(format!(
                        "{} already exists; pass --force to replace it",
                        path.display()
                    )));
                }
                // Only ever a Meterdesk workspace, never some other file, and not while in use.
                meterdesk_engine::workspace::remove(&path)?;
            }
            let now = as_of.and_then(|d| d.and_hms_opt(12, 0, 0)).map_or(now, |t| t.and_utc());
            let mut ws = Workspace::create(&path)?;
            ws.write(|tx| demo::build(tx, now))?;
            let events = if no_usage { 0 } else { demo::import_usage(&mut ws, now)?.accepted };
            let summary = ws.summary()?;
            let human = format!(
                "built the demo workspace at {} ({} customers, {events} usage events)",
                summary.path, summary.customers
            );
            Outcome::ok(json!({ "path": summary.path }), human)
        }
        Command::Backup { out } => {
            let ws = Workspace::open(workspace)?;
            let written = backup::write(&ws, &out)?;
            let human = format!("wrote {} ({} bytes)", written.path, written.bytes);
            Outcome::ok(json!({ "path": written.path, "bytes": written.bytes }), human)
        }
        Command::Backups => {
            let ws = Workspace::open(workspace)?;
            let listed = backup::list(ws.path())?;
            let human = listed.iter().map(|b| format!("{}  {} bytes", b.path, b.bytes)).collect::<Vec<_>>().join("\n");
            Outcome::ok(&listed, human)
        }
        Command::Restore { from } => {
            let mut ws = Workspace::open(workspace)?;
            let done = backup::restore(&mut ws, &from, now)?;
            let human =
                format!("restored {} into {}; what it held is kept as {}", done.restored, done.path, done.kept.path);
            Outcome::ok(&done, human)
        }
        Command::Mapping { action: MappingAction::Save { name, id, customer, event_type, timestamp } } => {
            let columns = event_file::CsvColumns { id, customer, event_type, timestamp };
            let mut ws = Workspace::open(workspace)?;
            ws.write(|tx| events::save_mapping(tx, &name, &columns))?;
            Outcome::ok(json!({ "name": name, "columns": columns }), format!("saved mapping \"{name}\""))
        }
        Command::Mapping { action: MappingAction::List } => {
            let ws = Workspace::open(workspace)?;
            let names = events::mapping_names(ws.conn())?;
            let human = names.join("\n");
            Outcome::ok(names, human)
        }
        Command::Import { file, format, mapping, rejects } => {
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
                    std::fs::File::create(&out)
                        .map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?,
                );
                events::write_rejects(ws.conn(), import_id, &mut writer)?;
                std::io::Write::flush(&mut writer)
                    .map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
            }
            import_outcome(&file, &report)
        }
        Command::Usage { meter, customer, from, to, group } => {
            let instant = |flag: &str, text: &str| {
                event_file::parse_timestamp(&serde_json::Value::String(text.to_string()))
                    .map_err(|m| Error::invalid(flag, m))
            };
            let (from, to) = (instant("--from", &from)?, instant("--to", &to)?);
            let ws = Workspace::open(workspace)?;
            let value = usage::value(ws.conn(), &meter, &customer, from, to, group.as_deref())?;
            Outcome::ok(json!({ "value": value.to_string() }), value.to_string())
        }
        Command::Customers { action: CustomersAction::Import { file } } => {
            let bytes = read_file(&file)?;
            let mut ws = Workspace::open_or_create(workspace)?;
            let report = ws.write(|tx| customer::customers_csv(tx, bytes.as_slice(), now))?;
            import_outcome(&file, &report)
        }
        Command::Invoice {
            action: InvoiceAction::Preview { customer: Some(customer), period, subscription, advance },
        } => {
            let mut ws = Workspace::open(workspace)?;
            let mut drafts =
                bill::preview(&mut ws, Month::parse(&period, "period")?, Some(&customer), bill::Kind::of(advance))?;
            if let Some(id) = &subscription {
                drafts.retain(|d| &d.subscription == id);
            }
            let names = || drafts.iter().map(|d| format!("\"{}\"", d.subscription)).collect::<Vec<_>>().join(", ");
            match drafts.len() {
                0 => Err(Error::NotFound(match subscription {
                    Some(id) => format!("subscription \"{id}\" of \"{customer}\" has no period starting in {period}"),
                    None => format!("customer \"{customer}\" has no subscription period starting in {period}"),
                })),
                1 => {
                    let draft = drafts.pop().unwrap_or_else(|| unreachable!());
                    let human = draft_text(&draft);
                    Outcome::ok(draft, human)
                }
                _ => Err(Error::invalid(
                    "--subscription",
                    format!(
                        "customer \"{customer}\" has {} subscription periods starting in {period} ({}): choose one with --subscription",
                        drafts.len(),
                        names()
                    ),
                )),
            }
        }
        Command::Invoice { action: InvoiceAction::Preview { customer: None, period, subscription, advance } } => {
            let mut ws = Workspace::open(workspace)?;
            let mut drafts = bill::preview(&mut ws, Month::parse(&period, "period")?, None, bill::Kind::of(advance))?;
            if let Some(id) = &subscription {
                drafts.retain(|d| &d.subscription == id);
            }
            let width = |f: fn(&bill::Draft) -> usize| drafts.iter().map(f).max().unwrap_or(0);
            let (wc, ws) = (width(|d| d.customer.len()), width(|d| d.subscription.len()));
            let human = drafts
                .iter()
                .map(|d| {
                    format!("{:<wc$}  {:<ws$}  {} {:>14}", d.customer, d.subscription, d.currency, d.total.to_string())
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(drafts, human)
        }
        Command::Invoice { action: InvoiceAction::Finalize { period, customer, advance, include_open } } => {
            let mut ws = Workspace::open(workspace)?;
            let open = if include_open { invoice::Open::Include } else { invoice::Open::Refuse };
            let month = Month::parse(&period, "period")?;
            let selection = invoice::Selection::Every { customer: customer.as_deref(), open };
            let followed = api::finalize(&mut ws, month, bill::Kind::of(advance), selection, now)?;
            report_evaluation(&followed.wallets);
            let done = followed.done;
            let mut human: Vec<String> = done
                .invoices
                .iter()
                .map(|i| {
                    let d = &i.frozen.draft;
                    format!("{}  {}  {} {}", d.number.as_deref().unwrap_or("?"), d.customer, d.total, d.currency)
                })
                .collect();
            for f in &done.failures {
                eprintln!("not finalized: {} ({}): {}", f.customer, f.subscription, f.message);
            }
            if done.invoices.is_empty() && done.failures.is_empty() {
                human.push(format!("no subscription period starts in {period}"));
            }
            Ok(Outcome { success: done.failures.is_empty(), ..Outcome::ok(&done.invoices, human.join("\n"))? })
        }
        Command::Invoice { action: InvoiceAction::Verify } => {
            let ws = Workspace::open(workspace)?;
            let checked = invoice::verify(ws.conn())?;
            let human = match &checked.first_break {
                None => format!("{} invoices checked: the chain is intact", checked.invoices),
                Some(b) => format!("the chain breaks at {b}"),
            };
            Ok(Outcome { success: checked.first_break.is_none(), ..Outcome::ok(&checked, human)? })
        }
        Command::Invoice { action: InvoiceAction::Void { number, reason } } => {
            let mut ws = Workspace::open(workspace)?;
            let voided = ws.write(|tx| invoice::void(tx, &number, &reason, now))?;
            Outcome::ok(&voided, format!("voided {number}: {reason}"))
        }
        Command::Invoice { action: InvoiceAction::Paid { number, date, reference } } => {
            let mut ws = Workspace::open(workspace)?;
            let paid = ws.write(|tx| invoice::mark_paid(tx, &number, date, &reference, now))?;
            Outcome::ok(&paid, format!("{number} paid on {date} ({reference})"))
        }
        Command::Invoice { action: InvoiceAction::List } => {
            let ws = Workspace::open(workspace)?;
            let entries = register::entries(ws.conn(), settings::today(ws.conn(), now)?)?;
            let human = entries
                .iter()
                .map(|e| {
                    format!(
                        "{:<16} {:<28} {}  {:<8} {:>14} {}  owed {}",
                        e.number,
                        e.customer,
                        e.first_day,
                        format!("{:?}", e.standing).to_lowercase(),
                        e.total.to_string(),
                        e.currency,
                        e.outstanding
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&entries, human)
        }
        Command::Invoice { action: InvoiceAction::Show { number } } => {
            let ws = Workspace::open(workspace)?;
            let found = invoice::get(ws.conn(), &number)?
                .ok_or_else(|| Error::NotFound(format!("no finalized invoice {number}")))?;
            let mut human = format!(
                "{number} ({:?}), issued {}, due {}\n",
                found.frozen.draft.status, found.frozen.issue_date, found.frozen.due_date
            )
            .to_lowercase();
            human.push_str(&draft_text(&found.frozen.draft));
            Outcome::ok(&found, human)
        }
        Command::Invoice { action: InvoiceAction::Credit { number, reason, full, line, amount } } => {
            let request = match (full, line.is_empty(), amount) {
                (true, _, _) => credit::Request::Full,
                (false, true, Some(a)) => credit::Request::Amount(a.0),
                (false, false, None) => {
                    let mut lines = Vec::new();
                    for (i, text) in line.iter().enumerate() {
                        let parsed = text.split_once('=').and_then(|(n, v)| {
                            Some((n.trim().parse::<usize>().ok()?, v.trim().parse::<meterdesk_engine::Dec>().ok()?.0))
                        });
                        let bad = || {
                            Error::invalid(format!("--line[{i}]"), format!("\"{text}\" is not N=NET, such as 3=12.50"))
                        };
                        lines.push(parsed.ok_or_else(bad)?);
                    }
                    credit::Request::Lines(lines)
                }
                _ => {
                    return Err(Error::invalid("--full", "say what to credit: --full, --line N=NET or --amount GROSS"));
                }
            };
            let mut ws = Workspace::open(workspace)?;
            let note = ws.write(|tx| credit::issue(tx, &number, &reason, &request, now))?;
            let mut human = format!("{}: {} {} credited on {number}", note.number, note.total, note.currency);
            if !note.credits_returned.0.is_zero() {
                human += &format!(", {} {} of it returned to prepaid credit", note.credits_returned, note.currency);
            }
            Outcome::ok(&note, human)
        }
        Command::Invoice { action: InvoiceAction::Export { from, to, out } } => {
            let ws = Workspace::open(workspace)?;
            let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", out.display()));
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out).map_err(io)?);
            let n = register::accounting_csv(ws.conn(), from, to, settings::today(ws.conn(), now)?, &mut file)?;
            std::io::Write::flush(&mut file).map_err(io)?;
            Outcome::ok(
                json!({ "path": out.display().to_string(), "invoices": n.invoices, "credit_notes": n.credit_notes,
                        "voids": n.voids }),
                format!(
                    "wrote {} invoices, {} credit notes and {} voids to {}",
                    n.invoices,
                    n.credit_notes,
                    n.voids,
                    out.display()
                ),
            )
        }
        Command::Invoice { action: InvoiceAction::Pdf { number, out, paper } } => {
            let paper = paper.map(|p| pdf::Paper::parse(&p).map_err(|m| Error::invalid("--paper", m))).transpose()?;
            let ws = Workspace::open(workspace)?;
            let bytes = pdf::document(ws.conn(), &number, paper)?;
            std::fs::write(&out, bytes).map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
            Outcome::ok(json!({ "path": out.display().to_string() }), format!("wrote {}", out.display()))
        }
        Command::Wallet { action: WalletAction::Balance { customer } } => {
            let mut ws = Workspace::open(workspace)?;
            let w = wallet::read(&mut ws, &customer, now)?;
            let human = wallet_text(&w);
            Outcome::ok(&w, human)
        }
        Command::Wallet {
            action:
                WalletAction::Grant {
                    customer,
                    amount,
                    kind,
                    id,
                    expires,
                    priority,
                    reference,
                    note,
                    rollover_percent,
                    rollover_max,
                    rollover_months,
                },
        } => {
            let kind = match kind.as_str() {
                "paid" => wallet::GrantKind::Paid,
                "free" => wallet::GrantKind::Free,
                other => return Err(Error::invalid("--kind", format!("\"{other}\" is not paid or free"))),
            };
            let rollover = (rollover_percent.is_some() || rollover_max.is_some() || rollover_months.is_some())
                .then_some(wallet::Rollover { percent: rollover_percent, max: rollover_max, months: rollover_months });
            let mut ws = Workspace::open(workspace)?;
            let fields = wallet::GrantFields {
                id: id.unwrap_or_default(),
                amount,
                kind,
                expires,
                priority,
                rollover,
                reference,
                note,
            };
            let granted = ws.write(|tx| wallet::grant(tx, &customer, &fields, wallet::Origin::Manual, now))?;
            let human = format!(
                "granted {} {} to {customer} as \"{}\"",
                granted.fields.amount, granted.currency, granted.fields.id
            );
            Outcome::ok(&granted, human)
        }
        Command::Wallet { action: WalletAction::Ledger { customer, kind, grant, limit } } => {
            let kinds = kind
                .iter()
                .map(|k| wallet::EntryKind::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| Error::invalid("--kind", m))?;
            let mut ws = Workspace::open(workspace)?;
            wallet::read(&mut ws, &customer, now)?;
            let entries = wallet::ledger(ws.conn(), &customer, &wallet::LedgerQuery { kinds, grant, limit })?;
            let human = entries
                .iter()
                .map(|e| {
                    format!(
                        "{}  {:<11} {:<20} {:>12} balance {:>12}  {}{}",
                        e.at.format("%Y-%m-%d %H:%M"),
                        e.kind.as_str(),
                        e.grant,
                        e.amount.to_string(),
                        e.balance.to_string(),
                        e.invoice.as_deref().map(|n| format!("{n} ")).unwrap_or_default(),
                        e.note
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&entries, human)
        }
        Command::Wallet {
            action:
                WalletAction::Rules { customer, topup_below, topup_amount, alert_below, alert_percent, expiry_days, clear },
        } => {
            let mut ws = Workspace::open(workspace)?;
            let wanted = wallet::Rules { topup_below, topup_amount, alert_below, alert_percent, expiry_days };
            let rules = if clear || wanted != wallet::Rules::default() {
                let followed = api::set_wallet_rules(&mut ws, &customer, &wanted, now)?;
                report_evaluation(&followed.wallets);
                followed.done
            } else {
                wallet::rules(ws.conn(), &customer)?
            };
            let show = |v: Option<meterdesk_engine::Dec>| v.map_or("-".to_string(), |d| d.to_string());
            let human = format!(
                "{customer}: top up {} below {}; alert below {} or {}%; expiry alert {} days ahead",
                show(rules.topup_amount),
                show(rules.topup_below),
                show(rules.alert_below),
                show(rules.alert_percent),
                rules.expiry_days.map_or("-".to_string(), |d| d.to_string())
            );
            Outcome::ok(&rules, human)
        }
        Command::Wallet { action: WalletAction::Alerts { ack, ack_all } } => {
            let mut ws = Workspace::open(workspace)?;
            if ack.is_some() || ack_all {
                let n = ws.write(|tx| wallet::acknowledge(tx, ack, now))?;
                return Outcome::ok(json!({ "acknowledged": n }), format!("acknowledged {n}"));
            }
            projection::evaluate(&mut ws, now)?;
            let open = wallet::alerts(ws.conn(), false)?;
            let human = open
                .iter()
                .map(|a| {
                    format!("#{:<5} {}  {:<28} {}", a.id, a.created_at.format("%Y-%m-%d %H:%M"), a.customer, a.message)
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&open, human)
        }
        Command::Wallet { action: WalletAction::Void { customer, grant, reason } } => {
            let mut ws = Workspace::open(workspace)?;
            let g = ws.write(|tx| wallet::void_grant(tx, &customer, &grant, &reason, now))?;
            Outcome::ok(&g, format!("voided what was left of \"{grant}\" for {customer}: {reason}"))
        }
        Command::Wallet { action: WalletAction::Adjust { customer, grant, amount, reason } } => {
            let mut ws = Workspace::open(workspace)?;
            let g = ws.write(|tx| wallet::adjust(tx, &customer, &grant, amount.0, &reason, now))?;
            Outcome::ok(&g, format!("\"{grant}\" of {customer} adjusted by {amount}: {} left", g.remaining))
        }
        Command::Customers { action: CustomersAction::List { search, archived } } => {
            let ws = Workspace::open(workspace)?;
            let page = customer::page(ws.conn(), search.as_deref().unwrap_or(""), archived, 0, u32::MAX)?;
            let human = page
                .rows
                .iter()
                .map(|c| {
                    let mark = if c.fields.archived { "  (archived)" } else { "" };
                    format!("{:<28} {}{mark}", c.fields.id, c.fields.name)
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&page.rows, human)
        }
    }
}
