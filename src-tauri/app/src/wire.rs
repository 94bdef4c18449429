//! Types that cross IPC only (the engine's records cross as they are), and the
//! test that keeps the generated TypeScript in ui/src/api/generated/ fresh.

use meterdesk_engine::credit::Request;
use meterdesk_engine::{Currency, Dec, Error, ErrorCode, Problem};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every command error, as the UI receives it: branch on `code`, show `message`,
/// put `problems` next to the fields they name.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
    pub problems: Vec<Problem>,
}

impl From<Error> for IpcError {
    fn from(err: Error) -> Self {
        IpcError { code: err.code(), message: err.to_string(), problems: err.problems().to_vec() }
    }
}

/// An event import's report, and its number in the import log (to save its rejects).
#[derive(Debug, Clone, Serialize, TS)]
pub struct EventImport {
    pub report: meterdesk_engine::import::ImportReport,
    pub import_id: i64,
    /// Accepted events that fall in a period already invoiced.
    pub late: u64,
    /// Where the rejected rows may be saved without asking (beside the file
    /// the user chose), when any were rejected.
    pub rejects_path: Option<String>,
}

/// What a credit note credits, as the form asks it.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreditAsk {
    /// Everything left to credit.
    Full,
    /// Net amounts of some lines (1-based).
    Lines { lines: Vec<CreditLineAsk> },
    /// An amount, tax included.
    Amount { amount: Dec },
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct CreditLineAsk {
    pub line: usize,
    pub net: Dec,
}

impl CreditAsk {
    pub fn request(&self) -> Request {
        match self {
            CreditAsk::Full => Request::Full,
            CreditAsk::Lines { lines } => Request::Lines(lines.iter().map(|l| (l.line, l.net.0)).collect()),
            CreditAsk::Amount { amount } => Request::Amount(amount.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct CurrencyInfo {
    pub code: String,
    pub name: String,
    pub minor_units: u32,
}

/// Choices for pickers: billable currencies and IANA zones.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ReferenceData {
    pub currencies: Vec<CurrencyInfo>,
    pub timezones: Vec<String>,
}

impl ReferenceData {
    pub fn load() -> ReferenceData {
        ReferenceData {
            currencies: Currency::all()
                .into_iter()
                .map(|c| CurrencyInfo { code: c.code(), name: c.name(), minor_units: c.minor_units() })
                .collect(),
            timezones: meterdesk_engine::settings::timezone_names().into_iter().map(String::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meterdesk_engine::{catalog, customer, events, import, meter, settings, usage, workspace};
    use std::path::PathBuf;

    fn generated_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/src/api/generated")
    }

    /// Each wire type's file name and freshly generated TypeScript.
    fn bindings() -> Vec<(String, String)> {
        let cfg = ts_rs::Config::new().with_large_int("number");
        macro_rules! gen_all {
            ($($t:ty),* $(,)?) => {
                vec![$((
                    <$t as TS>::output_path().expect("exportable").display().to_string(),
                    <$t as TS>::export_to_string(&cfg).expect("generates"),
                )),*]
            };
        }
        let mut files = gen_all![
            ErrorCode,
            Problem,
            IpcError,
            meterdesk_engine::Dec,
            settings::Settings,
            meterdesk_engine::backup::BackupFile,
            meterdesk_engine::backup::Restored,
            customer::CustomerFields,
            customer::Customer,
            customer::CustomerPage,
            import::ImportReport,
            import::RowError,
            catalog::ApplyReport,
            meter::Aggregation,
            meter::MeterFields,
            meter::Meter,
            events::ImportProgress,
            events::ImportPreview,
            events::PreviewRow,
            events::NamedMapping,
            meterdesk_engine::event_file::CsvColumns,
            EventImport,
            meterdesk_engine::explore::EventPage,
            meterdesk_engine::explore::EventRow,
            usage::MonthUsage,
            usage::DayUsage,
            meterdesk_engine::bill::Draft,
            meterdesk_engine::bill::Bounds,
            meterdesk_engine::bill::Status,
            meterdesk_engine::bill::Kind,
            meterdesk_engine::bill::BillingMonths,
            meterdesk_engine::rating::Line,
            meterdesk_engine::rating::LineKind,
            meterdesk_engine::rating::Allowance,
            meterdesk_engine::alert_rule::AlertRuleFields,
            meterdesk_engine::alert_rule::RuleKind,
            meterdesk_engine::limits::Limit,
            meterdesk_engine::rating::AllowanceKind,
            meterdesk_engine::pricing::Step,
            meterdesk_engine::pricing::StepKind,
            meterdesk_engine::pricing::PriceFields,
            meterdesk_engine::pricing::TierFields,
            meterdesk_engine::money::Amount,
            meterdesk_engine::event_file::Format,
            meterdesk_engine::money::CurrencyTotal,
            meterdesk_engine::plan::PlanFields,
            meterdesk_engine::plan::ChargeFields,
            meterdesk_engine::plan::FeeFields,
            meterdesk_engine::plan::Timing,
            meterdesk_engine::period::Interval,
            meterdesk_engine::pricing::Priced,
            meterdesk_engine::pricing::Quote,
            meterdesk_engine::bill::Trial,
            meterdesk_engine::bill::TrialTotal,
            meterdesk_engine::bill::TrialReport,
            meterdesk_engine::bill::TypicalQuantity,
            meterdesk_engine::bill::TypicalBasis,
            meterdesk_engine::plan::PlanRow,
            workspace::WorkspaceSummary,
            settings::Paper,
            settings::PaymentDetails,
            settings::MailSettings,
            settings::Security,
            settings::Template,
            settings::Templates,
            meterdesk_engine::outbox::Kind,
            meterdesk_engine::outbox::Status,
            meterdesk_engine::outbox::Entry,
            meterdesk_engine::mailing::SendReport,
            meterdesk_engine::mailing::Reminder,
            meterdesk_engine::statement::Statement,
            meterdesk_engine::statement::CurrencyStatement,
            meterdesk_engine::statement::Line,
            meterdesk_engine::statement::LineKind,
            meterdesk_engine::statement::OpenItem,
            meterdesk_engine::invoice::Invoice,
            meterdesk_engine::invoice::Frozen,
            meterdesk_engine::invoice::Party,
            meterdesk_engine::invoice::Payment,
            meterdesk_engine::payment::PaymentRecord,
            meterdesk_engine::payment::PaymentFields,
            meterdesk_engine::payment::Method,
            meterdesk_engine::invoice::Finalized,
            meterdesk_engine::invoice::Failure,
            meterdesk_engine::invoice::Verified,
            meterdesk_engine::invoice::LineDays,
            meterdesk_engine::invoice::DayQuantity,
            meterdesk_engine::credit::CreditNote,
            meterdesk_engine::credit::CreditLine,
            meterdesk_engine::credit::Refund,
            meterdesk_engine::credit::RefundTo,
            meterdesk_engine::register::Entry,
            meterdesk_engine::register::Standing,
            meterdesk_engine::register::AuditEntry,
            meterdesk_engine::register::Reviewed,
            meterdesk_engine::register::Warning,
            meterdesk_engine::register::WarningKind,
            meterdesk_engine::invoice::Pick,
            meterdesk_engine::register::InvoiceDetail,
            meterdesk_engine::wallet::GrantKind,
            meterdesk_engine::wallet::Origin,
            meterdesk_engine::wallet::EntryKind,
            meterdesk_engine::wallet::Rollover,
            meterdesk_engine::wallet::GrantFields,
            meterdesk_engine::wallet::GrantState,
            meterdesk_engine::wallet::Grant,
            meterdesk_engine::wallet::Entry,
            meterdesk_engine::wallet::Wallet,
            meterdesk_engine::wallet::LedgerQuery,
            meterdesk_engine::cost::Margin,
            meterdesk_engine::report::Dashboard,
            meterdesk_engine::report::Detail,
            meterdesk_engine::report::DetailRow,
            meterdesk_engine::report::Figure,
            meterdesk_engine::report::RevenueRow,
            meterdesk_engine::report::ReceivablesRow,
            meterdesk_engine::report::MarginRow,
            meterdesk_engine::report::MarginLine,
            meterdesk_engine::report::ModelMargin,
            meterdesk_engine::report::SignalRow,
            meterdesk_engine::report::SignalKind,
            meterdesk_engine::report::Age,
            meterdesk_engine::cost::CostRateFields,
            meterdesk_engine::cost::StoredCostRate,
            meterdesk_engine::cost::FxRate,
            meterdesk_engine::projection::Projection,
            meterdesk_engine::projection::BalancePoint,
            meterdesk_engine::projection::WalletRow,
            meterdesk_engine::projection::WalletView,
            meterdesk_engine::wallet::Rules,
            meterdesk_engine::alert::Alert,
            meterdesk_engine::alert::AlertKind,
            meterdesk_engine::bill::TopUp,
            meterdesk_engine::subscription::SubscriptionFields,
            meterdesk_engine::subscription::OverrideFields,
            meterdesk_engine::subscription::DiscountFields,
            meterdesk_engine::overview::CustomerOverview,
            meterdesk_engine::overview::CustomerListRow,
            meterdesk_engine::overview::ChargeRef,
            meterdesk_engine::overview::UnitPriceOverride,
            meterdesk_engine::history::ImportRecord,
            meterdesk_engine::history::ImportOutcome,
            meterdesk_engine::overview::CustomerListPage,
            meterdesk_engine::overview::SubscriptionRow,
            meterdesk_engine::overview::SubscriptionState,
            meterdesk_engine::overview::UsageTrend,
            meterdesk_engine::overview::MonthValue,
            meterdesk_engine::late::LateUsage,
            meterdesk_engine::late::Adds,
            CreditAsk,
            CreditLineAsk,
            CurrencyInfo,
            ReferenceData,
        ];
        // Two types of one name would write one file, the second over the first.
        let mut names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        let twice: Vec<&&str> = names.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
        assert!(twice.is_empty(), "two wire types generate {twice:?}: give one a #[ts(rename)]");
        // The command map names the generated types it uses.
        let known: Vec<String> = files.iter().map(|(name, _)| name.trim_end_matches(".ts").to_string()).collect();
        files.push(("commands.ts".to_string(), crate::command_map::typescript(&cfg, &known)));
        files
    }

    /// Fails when the committed bindings differ from a fresh generation.
    /// Regenerate with `UPDATE_BINDINGS=1 cargo test -p meterdesk bindings`.
    #[test]
    fn generated_bindings_are_fresh() {
        let dir = generated_dir();
        let update = std::env::var_os("UPDATE_BINDINGS").is_some();
        let mut stale = Vec::new();
        let mut expected_files = Vec::new();
        for (name, text) in bindings() {
            let path = dir.join(&name);
            expected_files.push(name.clone());
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        let mut extra: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".ts") && !expected_files.contains(n))
                    .collect()
            })
            .unwrap_or_default();
        extra.sort();
        assert!(
            stale.is_empty() && extra.is_empty(),
            "ui/src/api/generated is out of date (stale: {stale:?}, not generated by Rust: {extra:?}); \
             run `UPDATE_BINDINGS=1 cargo test -p meterdesk bindings` and commit the result"
        );
    }
}
