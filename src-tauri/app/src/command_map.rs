//! The commands the window may call, as one table: name, arguments (their
//! Rust types, and the wire type where the command reads JSON itself) and
//! result. From it the test generates `ui/src/api/generated/commands.ts`
//! (the `Commands` map the UI's `call` is typed by), and checks it against
//! the commands' own signatures, `build.rs`'s `COMMANDS` and the handler in
//! `console.rs`: a command added, renamed or changed in one place and not
//! the others fails `cargo test`.

use std::path::PathBuf;

use meterdesk_engine::alert::Alert;
use meterdesk_engine::alert_rule::AlertRuleFields;
use meterdesk_engine::backup;
use meterdesk_engine::bill::{BillingMonths, Draft, TrialReport};
use meterdesk_engine::cost::{CostRateFields, FxRate, StoredCostRate};
use meterdesk_engine::credit::{CreditNote, RefundTo};
use meterdesk_engine::customer::{Customer, CustomerFields, CustomerPage};
use meterdesk_engine::event_file::{self, CsvColumns};
use meterdesk_engine::events::{ImportPreview, ImportProgress, NamedMapping};
use meterdesk_engine::explore::EventPage;
use meterdesk_engine::history::ImportRecord;
use meterdesk_engine::import::ImportReport;
use meterdesk_engine::invoice::{self, Finalized, Invoice, Pick};
use meterdesk_engine::late::LateUsage;
use meterdesk_engine::limits::Limit;
use meterdesk_engine::mailing::{Reminder as ReminderDue, SendReport};
use meterdesk_engine::meter::{Meter, MeterFields};
use meterdesk_engine::money::{Amount, CurrencyTotal};
use meterdesk_engine::outbox::Entry as OutboxEntry;
use meterdesk_engine::overview::{CustomerListPage, CustomerOverview, UnitPriceOverride};
use meterdesk_engine::payment::PaymentFields;
use meterdesk_engine::plan::{PlanFields, PlanRow};
use meterdesk_engine::pricing::{PriceFields, Quote};
use meterdesk_engine::projection::{WalletRow, WalletView};
use meterdesk_engine::register::{Entry, InvoiceDetail, Reviewed};
use meterdesk_engine::report::{Dashboard, Detail, Figure};
use meterdesk_engine::settings::Settings;
use meterdesk_engine::statement::Statement;
use meterdesk_engine::subscription::{DiscountFields, SubscriptionFields};
use meterdesk_engine::usage::MonthUsage;
use meterdesk_engine::wallet::{self, GrantFields, LedgerQuery, Rules};
use meterdesk_engine::workspace::WorkspaceSummary;
use tauri::ipc::Channel;
use ts_rs::{Config, TS};

use crate::wire::{CreditAsk, EventImport, ReferenceData};

/// Bytes the command returns as they are (`tauri::ipc::Response`).
struct Bytes;

/// The import's progress channel.
struct ProgressChannel;

macro_rules! wire_name {
    ($name:ident, $ts:literal) => {
        impl TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;
            fn name(_: &Config) -> String {
                $ts.to_string()
            }
            fn inline(cfg: &Config) -> String {
                Self::name(cfg)
            }
        }
    };
}
wire_name!(Bytes, "ArrayBuffer");
wire_name!(ProgressChannel, "Channel<ImportProgress>");

/// One argument: its name, its Rust type as written, its TypeScript.
pub struct Arg {
    pub name: &'static str,
    pub rust: &'static str,
    pub ts: String,
}

/// One command of the table.
pub struct Command {
    pub name: &'static str,
    pub args: Vec<Arg>,
    pub rust_result: &'static str,
    pub ts_result: String,
}

macro_rules! ts_of {
    ($cfg:ident, $ty:ty) => {
        <$ty as TS>::name($cfg)
    };
    ($cfg:ident, $ty:ty, $wire:ty) => {{
        // The Rust type is named too, so the table cannot name one that is gone.
        let _: Option<fn() -> $ty> = None;
        <$wire as TS>::name($cfg)
    }};
}

macro_rules! commands {
    ($( $name:ident ( $( $arg:ident : $ty:ty $(=> $wire:ty)? ),* ) -> $ret:ty $(=> $wret:ty)? ; )*) => {
        /// Every command, in the order of the table.
        pub fn table(cfg: &Config) -> Vec<Command> {
            vec![$(
                Command {
                    name: stringify!($name),
                    args: vec![$( Arg { name: stringify!($arg), rust: stringify!($ty), ts: ts_of!(cfg, $ty $(, $wire)?) } ),*],
                    rust_result: stringify!($ret),
                    ts_result: ts_of!(cfg, $ret $(, $wret)?),
                }
            ),*]
        }
    };
}

commands! {
    workspace_summary() -> WorkspaceSummary;
    workspace_open(path: PathBuf) -> WorkspaceSummary;
    workspace_open_dialog() -> Option<WorkspaceSummary>;
    workspace_create_dialog() -> Option<WorkspaceSummary>;
    workspace_recent() -> Vec<String>;
    reference_data() -> ReferenceData;
    settings_get() -> Settings;
    settings_update(settings: Settings) -> Settings;
    dashboard() -> Dashboard;
    dashboard_detail(figure: Figure) -> Detail;
    alert_rules_list() -> Vec<AlertRuleFields>;
    alert_rule_save(rule: AlertRuleFields) -> Vec<AlertRuleFields>;
    alert_rule_remove(id: String) -> Vec<AlertRuleFields>;
    limits_list() -> Vec<Limit>;
    json_save_dialog(title: String, file_name: String) -> Option<String>;
    limits_save(path: PathBuf) -> usize;
    costs_list() -> Vec<StoredCostRate>;
    cost_save(rate: CostRateFields) -> Vec<StoredCostRate>;
    cost_remove(meter: String, group: Option<String>, from: String) -> Vec<StoredCostRate>;
    fx_list() -> Vec<FxRate>;
    fx_save(rate: FxRate) -> Vec<FxRate>;
    customers_page(search: String, include_archived: bool, offset: u32, limit: u32) -> CustomerPage;
    customer_get(id: String) -> Customer;
    customer_create(fields: CustomerFields) -> Customer;
    customer_update(fields: CustomerFields) -> Customer;
    customer_set_archived(id: String, archived: bool) -> Customer;
    customers_import_dialog() -> Option<ImportReport>;
    meters_list() -> Vec<Meter>;
    meter_save(fields: MeterFields, create: bool) -> Meter;
    meter_preview(fields: MeterFields, customer: String, month: String, group: Option<String>) -> MonthUsage;
    event_file_pick() -> Option<String>;
    events_preview(path: PathBuf, format: Option<event_file::Format>, columns: Option<CsvColumns>) -> ImportPreview;
    events_import(path: PathBuf, format: Option<event_file::Format>, columns: Option<CsvColumns>, on_progress: Channel<ImportProgress> => ProgressChannel) -> EventImport;
    mappings_list() -> Vec<NamedMapping>;
    mapping_save(name: String, columns: CsvColumns) -> ();
    rejects_save_dialog(file_name: String) -> Option<String>;
    events_rejects_save(import_id: i64, path: PathBuf) -> u64;
    events_import_cancel() -> ();
    events_page(customer: Option<String>, meter: Option<String>, from: Option<String>, to: Option<String>, offset: u64, limit: u32) -> EventPage;
    usage_month(meter: String, customer: String, month: String, group: Option<String>) -> MonthUsage;
    usage_groups(meter: String, customer: Option<String>) -> Vec<String>;
    invoice_preview(customer: String, month: String) -> Vec<Draft>;
    invoice_preview_all(month: String) -> Vec<Draft>;
    billing_months() -> BillingMonths;
    drafts_csv_save(month: String, path: PathBuf) -> usize;
    csv_save_dialog(title: String, file_name: String) -> Option<String>;
    pdf_save_dialog(title: String, file_name: String) -> Option<String>;
    folder_pick_dialog(title: String) -> Option<String>;
    settings_logo() -> tauri::ipc::Response => Bytes;
    settings_logo_pick() -> bool;
    settings_logo_clear() -> ();
    invoices_list() -> Vec<Entry>;
    invoice_detail(number: String) -> InvoiceDetail;
    invoice_review(month: String, advance: bool) -> Vec<Reviewed>;
    invoice_finalize(month: String, advance: bool, picks: Vec<Pick>) -> Finalized;
    document_pdf(number: String) -> tauri::ipc::Response => Bytes;
    document_pdf_save(number: String, path: PathBuf) -> ();
    documents_pdf_save(numbers: Vec<String>, folder: PathBuf) -> usize;
    invoices_csv_save(from: String, to: String, path: PathBuf) -> usize;
    invoices_verify() -> invoice::Verified;
    invoice_void(number: String, reason: String) -> InvoiceDetail;
    invoice_mark_paid(number: String, date: String, reference: String) -> InvoiceDetail;
    invoice_pay(number: String, fields: PaymentFields) -> InvoiceDetail;
    invoice_send(number: String, to: Option<Vec<String>>) -> SendReport;
    statement_view(customer: String, from: String, to: String) -> Statement;
    statement_pdf_save(customer: String, from: String, to: String, path: PathBuf) -> ();
    statement_send(customer: String, from: String, to: String) -> SendReport;
    outbox_list(unsent: bool) -> Vec<OutboxEntry>;
    outbox_retry() -> Vec<OutboxEntry>;
    reminders_preview(on: Option<String>) -> Vec<ReminderDue>;
    reminders_run(on: Option<String>) -> Vec<ReminderDue>;
    mail_password_set(password: Option<String>) -> bool;
    mail_password_kept() -> bool;
    mail_test() -> ();
    invoice_payment_reverse(number: String, payment: i64, reason: String) -> InvoiceDetail;
    invoice_credit(number: String, reason: String, ask: CreditAsk, refund_to: RefundTo) -> CreditNote;
    plans_list() -> Vec<PlanRow>;
    plan_check(fields: serde_json::Value => PlanFields) -> Vec<meterdesk_engine::Problem>;
    plan_save(fields: serde_json::Value => PlanFields, create: bool) -> PlanRow;
    plan_try(fields: serde_json::Value => PlanFields, month: String) -> TrialReport;
    price_quote(price: serde_json::Value => PriceFields, currency: String, quantities: Vec<meterdesk_engine::Dec>) -> Vec<Quote>;
    wallets_overview() -> Vec<WalletRow>;
    wallet_view(customer: String) -> WalletView;
    wallet_ledger(customer: String, query: LedgerQuery) -> Vec<wallet::Entry>;
    wallet_grant(customer: String, fields: GrantFields) -> WalletView;
    wallet_void(customer: String, grant: String, reason: String) -> WalletView;
    wallet_adjust(customer: String, grant: String, amount: String, reason: String) -> WalletView;
    wallet_rules(customer: String) -> Rules;
    wallet_rules_set(customer: String, rules: Rules) -> Rules;
    alerts_list(acknowledged: bool) -> Vec<Alert>;
    alerts_acknowledge(id: Option<i64>) -> usize;
    show_in_folder(path: PathBuf) -> ();
    credit_notes_list() -> Vec<CreditNote>;
    imports_list() -> Vec<ImportRecord>;
    imports_rejections() -> Vec<ImportRecord>;
    imports_rejections_seen(id: Option<i64>) -> usize;
    import_rollback(id: i64) -> ImportRecord;
    customers_list(search: String, include_archived: bool, offset: u32, limit: u32) -> CustomerListPage;
    customer_overview(customer: String) -> CustomerOverview;
    subscription_create(fields: SubscriptionFields) -> SubscriptionFields;
    subscription_change_preview(id: String, plan: String, on: String) -> Vec<Draft>;
    subscription_change(id: String, plan: String, on: String) -> Vec<SubscriptionFields>;
    subscription_end(id: String, on: String) -> SubscriptionFields;
    subscription_terms(id: String, unit_prices: Vec<UnitPriceOverride>, discounts: Vec<DiscountFields>, maximum: Option<meterdesk_engine::Dec>) -> SubscriptionFields;
    late_list() -> Vec<LateUsage>;
    late_adjust(number: String) -> Invoice;
    notifications_get() -> bool;
    notifications_set(enabled: bool) -> ();
    backups_list() -> Vec<backup::BackupFile>;
    backup_restore(name: String) -> backup::Restored;
    totals_by_currency(amounts: Vec<Amount>) -> Vec<CurrencyTotal>;
}

/// Tauri passes a command's arguments by their camelCase names.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `ui/src/api/generated/commands.ts`: the `Commands` map, importing the
/// generated types it names (`known`: the generated files' type names).
pub fn typescript(cfg: &Config, known: &[String]) -> String {
    let table = table(cfg);
    let mut body = String::new();
    for c in &table {
        let args = if c.args.is_empty() {
            "NoArgs".to_string()
        } else {
            let fields: Vec<String> = c.args.iter().map(|a| format!("{}: {}", camel(a.name), a.ts)).collect();
            format!("{{ {} }}", fields.join("; "))
        };
        body.push_str(&format!("  {}: [{args}, {}];\n", c.name, c.ts_result));
    }
    let mut used: Vec<&String> = known
        .iter()
        .filter(|t| {
            body.match_indices(t.as_str()).any(|(at, _)| {
                let before = body[..at].chars().last().is_none_or(|c| !c.is_alphanumeric() && c != '_');
                let after = body[at + t.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_');
                before && after
            })
        })
        .collect();
    used.sort();
    let mut out = String::from(
        "// This file was generated from src-tauri/app/src/command_map.rs. Do not edit this file manually.\n\
         import type { Channel } from \"@tauri-apps/api/core\";\n",
    );
    for t in used {
        out.push_str(&format!("import type {{ {t} }} from \"./{t}\";\n"));
    }
    out.push_str(
        "\nexport type NoArgs = Record<string, never>;\n\n\
         /** Command name → [arguments (camelCase, as Tauri maps them), result]. */\n\
         export interface Commands {\n",
    );
    out.push_str(&body);
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
    }

    fn squeeze(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// A command's name, its (argument, type) pairs and its result type.
    type Signature = (String, Vec<(String, String)>, String);

    /// Each `#[tauri::command]` of commands/mod.rs: name, arguments (without
    /// the state and app handles) and result (inside `Reply<…>`).
    fn signatures() -> Vec<Signature> {
        let text = source("src-tauri/app/src/commands/mod.rs");
        let mut out = Vec::new();
        for chunk in text.split("#[tauri::command").skip(1) {
            let after = &chunk[chunk.find("fn ").unwrap() + 3..];
            let name = after[..after.find('(').unwrap()].to_string();
            let open = after.find('(').unwrap();
            // The parenthesis that closes the parameters (types hold none).
            let mut depth = 0;
            let mut close = open;
            for (i, c) in after[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    close = open + i;
                    break;
                }
            }
            let params = &after[open + 1..close];
            let mut args = Vec::new();
            let (mut depth, mut current) = (0, String::new());
            for c in params.chars().chain([',']) {
                match c {
                    '<' | '(' => depth += 1,
                    '>' | ')' => depth -= 1,
                    _ => {}
                }
                if c == ',' && depth == 0 {
                    if let Some((n, t)) = current.trim().split_once(':')
                        && !["state", "app", "window"].contains(&n.trim())
                    {
                        args.push((n.trim().to_string(), squeeze(t)));
                    }
                    current.clear();
                } else {
                    current.push(c);
                }
            }
            let rest = &after[close + 1..after.find('{').unwrap()];
            let result = squeeze(rest.trim().trim_start_matches("->"));
            let result =
                result.strip_prefix("Reply<").and_then(|r| r.strip_suffix('>')).map(str::to_string).unwrap_or(result);
            out.push((name, args, if result.is_empty() { "()".to_string() } else { result }));
        }
        out
    }

    fn quoted_names(text: &str, from: &str, to: &str) -> Vec<String> {
        let start = text.find(from).unwrap();
        let end = start + text[start..].find(to).unwrap();
        text[start..end].split('"').skip(1).step_by(2).map(str::to_string).collect()
    }

    #[test]
    fn the_table_matches_the_commands_the_manifest_and_the_handler() {
        let cfg = Config::new().with_large_int("number");
        let table = table(&cfg);
        let mut names: Vec<String> = table.iter().map(|c| c.name.to_string()).collect();
        names.sort();
        let mut manifest = quoted_names(&source("src-tauri/app/build.rs"), "const COMMANDS", "];");
        manifest.sort();
        assert_eq!(names, manifest, "the table and build.rs's COMMANDS differ");
        let console = source("src-tauri/app/src/console.rs");
        let handler = &console[console.find("generate_handler![").unwrap()..];
        let handler = &handler[..handler.find(']').unwrap()];
        let mut handled: Vec<String> = handler
            .split("commands::")
            .skip(1)
            .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
            .collect();
        handled.sort();
        handled.dedup();
        assert_eq!(names, handled, "the table and console.rs's handler differ");
        let signatures = signatures();
        let mut defined: Vec<String> = signatures.iter().map(|s| s.0.clone()).collect();
        defined.sort();
        assert_eq!(names, defined, "the table and the #[tauri::command] functions differ");
        for c in &table {
            let (_, args, result) = signatures.iter().find(|s| s.0 == c.name).unwrap();
            let listed: Vec<(String, String)> = c.args.iter().map(|a| (a.name.to_string(), squeeze(a.rust))).collect();
            assert_eq!(&listed, args, "the arguments of {}", c.name);
            assert_eq!(squeeze(c.rust_result), *result, "the result of {}", c.name);
        }
    }

    #[test]
    fn arguments_are_camel_case_as_tauri_passes_them() {
        assert_eq!(camel("include_archived"), "includeArchived");
        assert_eq!(camel("on_progress"), "onProgress");
        assert_eq!(camel("path"), "path");
    }
}
