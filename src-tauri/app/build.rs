// The app's own commands, declared so that tauri-build generates a permission for
// each; capabilities/default.json grants exactly these and nothing else.
// Keep in sync with `tauri::generate_handler!` in src/console.rs.
const COMMANDS: &[&str] = &[
    "workspace_summary",
    "workspace_open",
    "workspace_create",
    "workspace_open_dialog",
    "workspace_create_dialog",
    "workspace_recent",
    "reference_data",
    "settings_get",
    "settings_update",
    "customers_page",
    "customer_get",
    "customer_create",
    "customer_update",
    "customer_set_archived",
    "customers_import_dialog",
    "meters_list",
    "event_file_pick",
    "events_preview",
    "events_import",
    "events_import_cancel",
    "usage_month",
    "mappings_list",
    "mapping_save",
    "rejects_save_dialog",
    "events_rejects_save",
    "meter_save",
    "meter_preview",
    "events_page",
    "invoice_preview",
    "invoice_preview_all",
    "billing_months",
    "drafts_csv_save",
    "csv_save_dialog",
    "plans_list",
    "plan_check",
    "plan_save",
    "plan_try",
    "price_quote",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
