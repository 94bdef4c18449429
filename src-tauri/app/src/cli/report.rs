//! Reports: revenue by month, margin of a month, receivables on a day,
//! signals; as a table, as JSON (`--json`), or written as CSV (`--csv FILE`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use meterdesk_engine::period::Month;
use meterdesk_engine::report::{self, SignalKind};
use meterdesk_engine::{Error, Workspace, settings};

use super::Outcome;

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Billed, credited, net, unbilled, MRR, ARR and NRR by service month and currency.
    Revenue {
        #[arg(long, value_name = "YYYY-MM")]
        from: String,
        #[arg(long, value_name = "YYYY-MM")]
        to: String,
        /// Also write the report as CSV to FILE.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// Revenue, cost and margin of the periods starting in a month, by customer and meter.
    Margin {
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// What invoices still ask for, by days past due, on a day (default today).
    Receivables {
        #[arg(long, value_name = "YYYY-MM-DD")]
        on: Option<String>,
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// Churn risks and power users, with the reason.
    Signals {
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
}

/// Writes `text` to `path` (a new file or one it replaces), naming the file on error.
fn write_csv(path: Option<&Path>, text: impl FnOnce() -> Result<String, Error>) -> Result<(), Error> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(path, text()?).map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))
}

pub(super) fn run(action: ReportAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let mut ws = Workspace::open(workspace)?;
    match action {
        ReportAction::Revenue { from, to, csv } => {
            let rows = report::revenue(&mut ws, Month::parse(&from, "from")?, Month::parse(&to, "to")?)?;
            write_csv(csv.as_deref(), || report::revenue_csv(&rows))?;
            let mut human = format!(
                "{:<8} {:<4} {:>14} {:>12} {:>14} {:>12} {:>14} {:>8}",
                "month", "", "billed", "credited", "net", "unbilled", "MRR", "NRR"
            );
            for r in &rows {
                let nrr = r.nrr.map(|n| format!("{n} %")).unwrap_or_else(|| "–".into());
                human.push_str(&format!(
                    "\n{:<8} {:<4} {:>14} {:>12} {:>14} {:>12} {:>14} {:>8}",
                    r.month.to_string(),
                    r.currency,
                    r.billed.to_string(),
                    r.credited.to_string(),
                    r.net.to_string(),
                    r.unbilled.to_string(),
                    r.mrr.to_string(),
                    nrr
                ));
            }
            Outcome::ok(&rows, human)
        }
        ReportAction::Margin { period, customer, csv } => {
            let rows = report::margin(&mut ws, Month::parse(&period, "period")?, customer.as_deref())?;
            write_csv(csv.as_deref(), || report::margin_csv(&rows))?;
            let human = rows
                .iter()
                .map(|r| {
                    let percent = r.margin_percent.map(|p| format!(" ({p} %)")).unwrap_or_default();
                    let mut line = format!(
                        "{:<28} {} revenue {}, cost {}, margin {}{percent}",
                        r.customer, r.currency, r.revenue, r.cost, r.margin
                    );
                    for with in &r.converted_with {
                        line.push_str(&format!("\n  costs converted at {with}"));
                    }
                    for missing in &r.unconverted {
                        line.push_str(&format!("\n  left out: {missing}"));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&rows, human)
        }
        ReportAction::Receivables { on, csv } => {
            let on: NaiveDate = match on {
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| Error::invalid("on", format!("\"{text}\" is not a date (YYYY-MM-DD)")))?,
                None => settings::today(ws.conn(), now)?,
            };
            let rows = report::receivables(ws.conn(), on)?;
            write_csv(csv.as_deref(), || report::receivables_csv(&rows))?;
            let mut human = format!(
                "on {on}: {:<4} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14}",
                "", "not due", "1-30", "31-60", "61-90", "over 90", "total"
            );
            for r in &rows {
                human.push_str(&format!(
                    "\n{:>14} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14}",
                    r.currency,
                    r.not_due.to_string(),
                    r.d1_30.to_string(),
                    r.d31_60.to_string(),
                    r.d61_90.to_string(),
                    r.over_90.to_string(),
                    r.total.to_string()
                ));
            }
            Outcome::ok(&rows, human)
        }
        ReportAction::Signals { csv } => {
            let rows = report::signals(&mut ws, now)?;
            write_csv(csv.as_deref(), || report::signals_csv(&rows))?;
            let human = rows
                .iter()
                .map(|r| {
                    let kind = match r.kind {
                        SignalKind::ChurnRisk => "churn risk",
                        SignalKind::PowerUser => "power user",
                    };
                    format!("{:<28} {kind:<11} {}", r.customer, r.reason)
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&rows, human)
        }
    }
}
