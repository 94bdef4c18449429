//! Customers: importing them from CSV and listing them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::{Error, Workspace, customer};

use super::{Outcome, import_outcome, read_file};

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
    /// A customer's statement of account from --from to --to (dates, both
    /// included): opening balance, each invoice, credit note and payment,
    /// closing balance, open items and their ages. --out writes the PDF;
    /// --send e-mails it (to --to, or the billing addresses), once per range.
    Statement {
        id: String,
        #[arg(long)]
        from: chrono::NaiveDate,
        #[arg(long)]
        to: chrono::NaiveDate,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long)]
        send: bool,
        /// Addresses to send to instead of the billing addresses (with --send).
        #[arg(long = "address", value_name = "ADDR", requires = "send")]
        address: Vec<String>,
    },
}

pub(super) fn run(action: CustomersAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        CustomersAction::Import { file } => {
            let bytes = read_file(&file)?;
            let mut ws = Workspace::open_or_create(workspace)?;
            let report = ws.write(|tx| customer::customers_csv(tx, bytes.as_slice(), now))?;
            import_outcome(&file, &report)
        }
        CustomersAction::Statement { id, from, to, out, send, address } => {
            let mut ws = Workspace::open(workspace)?;
            let today = meterdesk_engine::settings::today(ws.conn(), now)?;
            let (statement, bytes) = meterdesk_engine::pdf::statement_document(ws.conn(), &id, from, to, today)?;
            let mut human = statement
                .currencies
                .iter()
                .map(|c| {
                    format!(
                        "{} {}: {} on {from}, {} lines, {} on {to}; owed {}",
                        statement.customer_name,
                        c.currency,
                        c.opening_balance,
                        c.lines.len(),
                        c.closing_balance,
                        c.total_owed
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            if statement.currencies.is_empty() {
                human = format!("{}: nothing issued, paid or owed from {from} to {to}", statement.customer_name);
            }
            let mut json = serde_json::to_value(&statement).map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(out) = &out {
                std::fs::write(out, &bytes).map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
                human.push_str(&format!("\nwrote {}", out.display()));
            }
            let mut success = true;
            if send {
                let mail = meterdesk_engine::mailing::mail_settings(ws.conn())?;
                let mut transport = crate::mail::transport(&mail)?;
                let to_addresses = (!address.is_empty())
                    .then(|| address.iter().flat_map(|a| meterdesk_engine::mail::addresses(a)).collect());
                let report = meterdesk_engine::mailing::send_statement(
                    &mut ws,
                    &id,
                    (from, to),
                    to_addresses,
                    &mut transport,
                    now,
                )?;
                success = report.status == meterdesk_engine::outbox::Status::Sent;
                human.push_str(&match &report.error {
                    None => format!("\nsent to {} ({})", report.to.join(", "), report.message_id),
                    Some(e) => format!("\nqueued in the outbox, not sent: {e}"),
                });
                json["sent"] = serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?;
            }
            Ok(Outcome { json, human, success })
        }
        CustomersAction::List { search, archived } => {
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
