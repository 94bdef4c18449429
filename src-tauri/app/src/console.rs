//! The console window: the Tauri app, its native menu and its command handler.

use std::path::PathBuf;

use tauri::Emitter;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};

use crate::commands::{self, AppState};
use crate::paths;

/// Opens the console on `workspace` (default: the user's workspace) and runs
/// until the window closes.
pub fn run(workspace: Option<PathBuf>) -> i32 {
    let path = workspace.unwrap_or_else(paths::default_workspace);
    // The workspace is opened (created, migrated) first; then what waits in its outbox goes.
    let state = AppState::start(&path);
    commands::retry_outbox_at_start(path.clone());
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .menu(|app| {
            let file = Submenu::with_items(
                app,
                "File",
                true,
                &[
                    &MenuItem::with_id(app, "workspace-new", "New Workspace…", true, Some("CmdOrCtrl+Shift+N"))?,
                    &MenuItem::with_id(app, "workspace-open", "Open Workspace…", true, Some("CmdOrCtrl+O"))?,
                    &PredefinedMenuItem::separator(app)?,
                    &MenuItem::with_id(app, "customers-import", "Import Customers…", true, None::<&str>)?,
                    &PredefinedMenuItem::separator(app)?,
                    &PredefinedMenuItem::quit(app, None)?,
                ],
            )?;
            let edit = Submenu::with_items(
                app,
                "Edit",
                true,
                &[
                    &PredefinedMenuItem::undo(app, None)?,
                    &PredefinedMenuItem::redo(app, None)?,
                    &PredefinedMenuItem::separator(app)?,
                    &PredefinedMenuItem::cut(app, None)?,
                    &PredefinedMenuItem::copy(app, None)?,
                    &PredefinedMenuItem::paste(app, None)?,
                    &PredefinedMenuItem::select_all(app, None)?,
                ],
            )?;
            let go = Submenu::with_items(
                app,
                "Go",
                true,
                &[
                    &MenuItem::with_id(app, "go-dashboard", "Dashboard", true, Some("CmdOrCtrl+1"))?,
                    &MenuItem::with_id(app, "go-customers", "Customers", true, Some("CmdOrCtrl+2"))?,
                    &MenuItem::with_id(app, "go-settings", "Settings", true, Some("CmdOrCtrl+,"))?,
                ],
            )?;
            Menu::with_items(app, &[&file, &edit, &go])
        })
        // The UI acts on menu choices (it owns navigation and the open dialogs).
        .on_menu_event(|app, event| {
            if let Err(e) = app.emit("menu", event.id().0.as_str()) {
                eprintln!("meterdesk: menu event not delivered: {e}");
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::workspace_summary,
            commands::workspace_open,
            commands::workspace_open_dialog,
            commands::workspace_create_dialog,
            commands::workspace_recent,
            commands::reference_data,
            commands::settings_get,
            commands::settings_update,
            commands::dashboard,
            commands::dashboard_detail,
            commands::alert_rules_list,
            commands::alert_rule_save,
            commands::alert_rule_remove,
            commands::limits_list,
            commands::json_save_dialog,
            commands::limits_save,
            commands::costs_list,
            commands::cost_save,
            commands::cost_remove,
            commands::fx_list,
            commands::fx_save,
            commands::customers_page,
            commands::customer_get,
            commands::customer_create,
            commands::customer_update,
            commands::customer_set_archived,
            commands::customers_import_dialog,
            commands::meters_list,
            commands::event_file_pick,
            commands::events_preview,
            commands::events_import,
            commands::events_import_cancel,
            commands::usage_month,
            commands::usage_groups,
            commands::mappings_list,
            commands::mapping_save,
            commands::rejects_save_dialog,
            commands::events_rejects_save,
            commands::meter_save,
            commands::meter_preview,
            commands::events_page,
            commands::invoice_preview,
            commands::invoice_preview_all,
            commands::billing_months,
            commands::drafts_csv_save,
            commands::csv_save_dialog,
            commands::plans_list,
            commands::plan_check,
            commands::plan_save,
            commands::plan_try,
            commands::price_quote,
            commands::pdf_save_dialog,
            commands::folder_pick_dialog,
            commands::invoices_list,
            commands::invoice_detail,
            commands::invoice_review,
            commands::invoice_finalize,
            commands::document_pdf,
            commands::document_pdf_save,
            commands::documents_pdf_save,
            commands::invoice_void,
            commands::invoice_mark_paid,
            commands::invoice_pay,
            commands::invoice_send,
            commands::statement_view,
            commands::statement_pdf_save,
            commands::statement_send,
            commands::outbox_list,
            commands::outbox_retry,
            commands::reminders_preview,
            commands::reminders_run,
            commands::mail_password_set,
            commands::mail_password_kept,
            commands::mail_test,
            commands::invoice_payment_reverse,
            commands::invoice_credit,
            commands::invoices_verify,
            commands::invoices_csv_save,
            commands::settings_logo,
            commands::settings_logo_pick,
            commands::settings_logo_clear,
            commands::backups_list,
            commands::backup_restore,
            commands::totals_by_currency,
            commands::wallets_overview,
            commands::wallet_view,
            commands::wallet_ledger,
            commands::wallet_grant,
            commands::wallet_void,
            commands::wallet_adjust,
            commands::wallet_rules,
            commands::wallet_rules_set,
            commands::alerts_list,
            commands::alerts_acknowledge,
            commands::show_in_folder,
            commands::credit_notes_list,
            commands::imports_list,
            commands::imports_rejections,
            commands::imports_rejections_seen,
            commands::import_rollback,
            commands::customers_list,
            commands::customer_overview,
            commands::subscription_create,
            commands::subscription_change_preview,
            commands::subscription_change,
            commands::subscription_end,
            commands::subscription_terms,
            commands::late_list,
            commands::late_adjust,
            commands::notifications_get,
            commands::notifications_set,
        ])
        .run(tauri::generate_context!());
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("meterdesk: the console could not start: {e}");
            1
        }
    }
}
