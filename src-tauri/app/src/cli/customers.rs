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
}

pub(super) fn run(action: CustomersAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        CustomersAction::Import { file } => {
            let bytes = read_file(&file)?;
            let mut ws = Workspace::open_or_create(workspace)?;
            let report = ws.write(|tx| customer::customers_csv(tx, bytes.as_slice(), now))?;
            import_outcome(&file, &report)
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
