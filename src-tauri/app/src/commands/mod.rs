//! Tauri commands: parse, call one engine function, map the error. Nothing else.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use meterdesk_engine::alert::{self, Alert};
use meterdesk_engine::alert_rule::AlertRuleFields;
use meterdesk_engine::alert_rules;
use meterdesk_engine::backup;
use meterdesk_engine::bill::{self, BillingMonths, Draft, TrialReport};
use meterdesk_engine::cost::{self, CostRateFields, FxRate, StoredCostRate};
use meterdesk_engine::credit::{self, CreditNote, RefundTo};
use meterdesk_engine::customer::{self, Customer, CustomerFields, CustomerPage};
use meterdesk_engine::event_file::{self, CsvColumns};
use meterdesk_engine::events::{self, ImportPreview, ImportProgress, NamedMapping};
use meterdesk_engine::explore::{self, EventPage};
use meterdesk_engine::history::{self, ImportRecord};
use meterdesk_engine::import::ImportReport;
use meterdesk_engine::invoice::{self, Finalized, Invoice, Pick};
use meterdesk_engine::late::{self, LateUsage};
use meterdesk_engine::limits::{self, Limit};
use meterdesk_engine::mailing::{self, Reminder as ReminderDue, SendReport};
use meterdesk_engine::meter::{self, Meter, MeterFields};
use meterdesk_engine::money::{self, Amount, CurrencyTotal};
use meterdesk_engine::outbox::{self, Entry as OutboxEntry};
use meterdesk_engine::overview::{self, CustomerListPage, CustomerOverview, UnitPriceOverride};
use meterdesk_engine::payment::PaymentFields;
use meterdesk_engine::pdf;
use meterdesk_engine::period::Month;
use meterdesk_engine::plan::{self, PlanRow};
use meterdesk_engine::pricing::{self, Quote};
use meterdesk_engine::projection::{self, WalletRow, WalletView};
use meterdesk_engine::register::{self, Entry, InvoiceDetail, Reviewed};
use meterdesk_engine::report::{Dashboard, Detail, Figure};
use meterdesk_engine::settings::{self, Settings};
use meterdesk_engine::statement::{self, Statement};
use meterdesk_engine::subscription::{self, DiscountFields, SubscriptionFields};
use meterdesk_engine::usage::{self, MonthUsage};
use meterdesk_engine::wallet::{self, GrantFields, LedgerQuery, Rules};
use meterdesk_engine::workspace::WorkspaceSummary;
use meterdesk_engine::{Error, Workspace, api};
use tauri::State;
use tauri::ipc::Channel;
use tauri_plugin_dialog::DialogExt;

use crate::files::{self, Granted, Use};
use crate::wire::{CreditAsk, EventImport, IpcError, ReferenceData};
use crate::{clock, paths};

type Reply<T> = Result<T, IpcError>;

/// The open workspace, or why none is open; and whether the running import
/// should stop (read without the workspace lock, which the import holds).
pub struct AppState {
    workspace: Mutex<Result<Workspace, IpcError>>,
    cancel_import: AtomicBool,
    /// The files the user chose in this session's dialogs: the only ones a
    /// command reads or writes.
    files: Granted,
}

impl AppState {
    /// Opens (or creates) the workspace the console starts on; a failure is kept
    /// and shown by the UI, which then offers to open another.
    pub fn start(path: &Path) -> AppState {
        let opened = Workspace::open_or_create(path).map_err(IpcError::from);
        if opened.is_ok() {
            paths::remember(path);
        }
        AppState { workspace: Mutex::new(opened), cancel_import: AtomicBool::new(false), files: Granted::from_env() }
    }

    /// Runs `f` on the open workspace. A panic in it (a bug) is reported as an
    /// internal error and never poisons the workspace for the commands after
    /// it: a write it was in the middle of rolled back with its transaction.
    fn with<T>(&self, f: impl FnOnce(&mut Workspace) -> Result<T, Error>) -> Reply<T> {
        let mut guard = self.workspace.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_mut() {
            Ok(ws) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ws))) {
                Ok(done) => done.map_err(IpcError::from),
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(internal(&format!("the command failed unexpectedly ({why}); nothing it was writing was saved")))
                }
            },
            Err(why) => Err(why.clone()),
        }
    }

    fn switch(&self, opened: Result<Workspace, Error>) -> Reply<WorkspaceSummary> {
        let ws = opened.map_err(IpcError::from)?;
        paths::remember(ws.path());
        let summary = ws.summary(clock::now()).map_err(IpcError::from)?;
        let mut guard = self.workspace.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Ok(ws);
        Ok(summary)
    }
}

fn internal(message: &str) -> IpcError {
    IpcError::from(Error::Internal(message.into()))
}

const PAGE_MAX: u32 = 1000;
/// Rows shown when previewing an event file.
const PREVIEW_ROWS: usize = 20;

/// Asks where to save a file named `file_name` (`filter`: its kind and
/// extension, none: any) and grants the answer to be written; `None` if
/// cancelled. In the scoped folder, answers there without asking.
fn save_dialog(
    app: &tauri::AppHandle,
    files: &Granted,
    title: &str,
    file_name: &str,
    filter: Option<(&str, &str)>,
) -> Reply<Option<String>> {
    let file_name = paths::file_name(file_name);
    if let Some(dir) = files.scope() {
        return Ok(Some(dir.join(file_name).display().to_string()));
    }
    let mut dialog = app.dialog().file().set_title(title).set_file_name(&file_name);
    if let Some(folder) = paths::save_folder() {
        dialog = dialog.set_directory(folder);
    }
    if let Some((kind, extension)) = filter {
        dialog = dialog.add_filter(kind, &[extension]);
    }
    let picked = picked_path(dialog.blocking_save_file())?;
    Ok(picked.map(|p| {
        files.grant(&p, Use::Write);
        paths::remember_save_folder(&p);
        p.display().to_string()
    }))
}

/// `path` if the user chose it for `use_` (see `files`), else why not.
fn chosen(state: &AppState, path: &Path, use_: Use, what: &str) -> Reply<PathBuf> {
    state.files.check(path, use_, what).map_err(IpcError::from)
}

/// Writes the file at `path` through `write`, naming the path in any I/O error.
fn write_file<T>(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> Result<T, Error>) -> Result<T, Error> {
    let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let done = write(&mut out)?;
    std::io::Write::flush(&mut out).map_err(io)?;
    Ok(done)
}

/// The file a native dialog returned as a local path; `None` if it was cancelled.
fn picked_path(picked: Option<tauri_plugin_dialog::FilePath>) -> Reply<Option<PathBuf>> {
    picked.map(|p| p.into_path().map_err(|e| IpcError::from(Error::Io(e.to_string())))).transpose()
}

#[tauri::command(async)]
pub fn workspace_summary(state: State<AppState>) -> Reply<WorkspaceSummary> {
    state.with(|ws| ws.summary(clock::now()))
}

/// Opens a workspace of the recent list (which only the app writes, after an
/// open the user chose); any other path is refused.
#[tauri::command(async)]
pub fn workspace_open(state: State<AppState>, path: PathBuf) -> Reply<WorkspaceSummary> {
    if !paths::recent().iter().any(|p| Path::new(p) == path) {
        return Err(IpcError::from(Error::invalid(
            "path",
            format!("{} is not a recently opened workspace: choose it with Open Workspace…", path.display()),
        )));
    }
    state.switch(Workspace::open(&path))
}

/// Asks for a workspace file in the native dialog and opens it; `None` if cancelled.
#[tauri::command(async)]
pub fn workspace_open_dialog(app: tauri::AppHandle, state: State<AppState>) -> Reply<Option<WorkspaceSummary>> {
    let picked = app
        .dialog()
        .file()
        .set_title("Open workspace")
        .add_filter("Meterdesk workspace", &["meterdesk"])
        .blocking_pick_file();
    match picked_path(picked)? {
        None => Ok(None),
        Some(path) => state.switch(Workspace::open(&path)).map(Some),
    }
}

/// Asks where to save a new workspace in the native dialog and creates it.
#[tauri::command(async)]
pub fn workspace_create_dialog(app: tauri::AppHandle, state: State<AppState>) -> Reply<Option<WorkspaceSummary>> {
    let picked = app
        .dialog()
        .file()
        .set_title("New workspace")
        .set_file_name("workspace.meterdesk")
        .add_filter("Meterdesk workspace", &["meterdesk"])
        .blocking_save_file();
    match picked_path(picked)? {
        None => Ok(None),
        Some(path) => state.switch(Workspace::create(&path)).map(Some),
    }
}

#[tauri::command(async)]
pub fn workspace_recent() -> Vec<String> {
    paths::recent()
}

#[tauri::command(async)]
pub fn reference_data() -> ReferenceData {
    ReferenceData::load()
}

#[tauri::command(async)]
pub fn settings_get(state: State<AppState>) -> Reply<Settings> {
    state.with(|ws| settings::get(ws.conn()))
}

#[tauri::command(async)]
pub fn settings_update(state: State<AppState>, settings: Settings) -> Reply<Settings> {
    state.with(|ws| {
        ws.write(|tx| settings::update(tx, settings))?;
        settings::get(ws.conn())
    })
}

#[tauri::command(async)]
pub fn customers_page(
    state: State<AppState>,
    search: String,
    include_archived: bool,
    offset: u32,
    limit: u32,
) -> Reply<CustomerPage> {
    state.with(|ws| customer::page(ws.conn(), &search, include_archived, offset, limit.min(PAGE_MAX)))
}

#[tauri::command(async)]
pub fn customer_get(state: State<AppState>, id: String) -> Reply<Customer> {
    state.with(|ws| {
        customer::get(ws.conn(), &id)?.ok_or_else(|| Error::NotFound(format!("no customer with id \"{id}\"")))
    })
}

#[tauri::command(async)]
pub fn customer_create(state: State<AppState>, fields: CustomerFields) -> Reply<Customer> {
    state.with(|ws| ws.write(|tx| customer::create(tx, &fields, clock::now())))
}

#[tauri::command(async)]
pub fn customer_update(state: State<AppState>, fields: CustomerFields) -> Reply<Customer> {
    state.with(|ws| ws.write(|tx| customer::edit(tx, &fields, clock::now())))
}

#[tauri::command(async)]
pub fn customer_set_archived(state: State<AppState>, id: String, archived: bool) -> Reply<Customer> {
    state.with(|ws| ws.write(|tx| customer::set_archived(tx, &id, archived, clock::now())))
}

/// Asks for a customers CSV in the native dialog and imports it; `None` if cancelled.
#[tauri::command(async)]
pub fn customers_import_dialog(app: tauri::AppHandle, state: State<AppState>) -> Reply<Option<ImportReport>> {
    let picked = app.dialog().file().set_title("Import customers").add_filter("CSV", &["csv"]).blocking_pick_file();
    let Some(path) = picked_path(picked)? else { return Ok(None) };
    state.with(|ws| {
        let file = std::fs::File::open(&path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        ws.write(|tx| customer::customers_csv(tx, std::io::BufReader::new(file), clock::now())).map(Some)
    })
}

#[tauri::command(async)]
pub fn meters_list(state: State<AppState>) -> Reply<Vec<Meter>> {
    state.with(|ws| meter::all(ws.conn()))
}

/// Creates (`create`) or changes a meter; problems come back by field name.
#[tauri::command(async)]
pub fn meter_save(state: State<AppState>, fields: MeterFields, create: bool) -> Reply<Meter> {
    state.with(|ws| ws.write(|tx| meter::save(tx, &fields, create, clock::now())))
}

/// What a meter being edited reads for one customer and month, before it is saved.
#[tauri::command(async)]
pub fn meter_preview(
    state: State<AppState>,
    fields: MeterFields,
    customer: String,
    month: String,
    group: Option<String>,
) -> Reply<MonthUsage> {
    state.with(|ws| {
        usage::preview_month(ws.conn(), &fields, &customer, Month::parse(&month, "month")?, group.as_deref())
    })
}

const EVENT_FILES: [&str; 4] = ["csv", "ndjson", "jsonl", "json"];

/// Asks for an event file in the native dialog and grants it to be read;
/// `None` if cancelled.
#[tauri::command(async)]
pub fn event_file_pick(app: tauri::AppHandle, state: State<AppState>) -> Reply<Option<String>> {
    let picked = if state.files.scope().is_some() {
        state.files.scoped_pick(&EVENT_FILES)
    } else {
        let dialog = app.dialog().file().set_title("Import usage events").add_filter("Usage events", &EVENT_FILES);
        picked_path(dialog.blocking_pick_file())?
    };
    Ok(picked.map(|p| {
        state.files.grant(&p, Use::Read);
        p.display().to_string()
    }))
}

/// The first rows of an event file as the import would read them (CSV columns
/// through `columns`, the standard names when absent).
#[tauri::command(async)]
pub fn events_preview(
    state: State<AppState>,
    path: PathBuf,
    format: Option<event_file::Format>,
    columns: Option<CsvColumns>,
) -> Reply<ImportPreview> {
    let path = chosen(&state, &path, Use::Read, "The event file")?;
    state.with(|ws| events::preview(ws.conn(), &path, format, &columns.unwrap_or_default(), PREVIEW_ROWS))
}

/// Imports an event file, sending progress on `on_progress` until done or cancelled.
#[tauri::command(async)]
pub fn events_import(
    app: tauri::AppHandle,
    state: State<AppState>,
    path: PathBuf,
    format: Option<event_file::Format>,
    columns: Option<CsvColumns>,
    on_progress: Channel<ImportProgress>,
) -> Reply<EventImport> {
    let path = chosen(&state, &path, Use::Read, "The event file")?;
    state.cancel_import.store(false, Ordering::SeqCst);
    let columns = columns.unwrap_or_default();
    let (followed, import_id, read_as) = state.with(|ws| {
        let followed = api::import_events(ws, &path, format, api::Columns::Given(&columns), clock::now(), &mut |p| {
            // A closed window only loses the progress display, never the import.
            let _ = on_progress.send(*p);
            if state.cancel_import.load(Ordering::SeqCst) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })?;
        let id = followed.done.import_id.ok_or_else(|| Error::Internal("the import was not logged".into()))?;
        Ok((followed, id, events::imported_format(ws.conn(), id)?))
    })?;
    announce(&app, &followed.wallets);
    let report = followed.done;
    // The rejected rows may be saved beside the file the user chose.
    let rejects_path = (report.rejected > 0).then(|| {
        let beside = files::rejects_beside(&path, &read_as);
        state.files.grant(&beside, Use::Write);
        beside.display().to_string()
    });
    Ok(EventImport { late: report.late, report, import_id, rejects_path })
}

#[tauri::command(async)]
pub fn mappings_list(state: State<AppState>) -> Reply<Vec<NamedMapping>> {
    state.with(|ws| events::mappings(ws.conn()))
}

#[tauri::command(async)]
pub fn mapping_save(state: State<AppState>, name: String, columns: CsvColumns) -> Reply<()> {
    state.with(|ws| ws.write(|tx| events::save_mapping(tx, &name, &columns)))
}

/// Asks where to save an import's rejected rows; `None` if cancelled.
#[tauri::command(async)]
pub fn rejects_save_dialog(app: tauri::AppHandle, state: State<AppState>, file_name: String) -> Reply<Option<String>> {
    save_dialog(&app, &state.files, "Save the rejected rows", &file_name, None)
}

/// Writes the rows import `import_id` rejected to `path`; returns how many.
#[tauri::command(async)]
pub fn events_rejects_save(state: State<AppState>, import_id: i64, path: PathBuf) -> Reply<u64> {
    let path = chosen(&state, &path, Use::Write, "The rejected rows' file")?;
    state.with(|ws| write_file(&path, |mut out| events::write_rejects(ws.conn(), import_id, &mut out)))
}

/// A page of stored events for the explorer. Bounds are `YYYY-MM-DD` (the
/// workspace zone's day start), RFC 3339 or unix time; empty means open.
#[tauri::command(async)]
#[allow(clippy::too_many_arguments)]
pub fn events_page(
    state: State<AppState>,
    customer: Option<String>,
    meter: Option<String>,
    from: Option<String>,
    to: Option<String>,
    offset: u64,
    limit: u32,
) -> Reply<EventPage> {
    let given = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    state.with(|ws| {
        let zone = settings::zone(ws.conn())?;
        let bound = |field: &str, text: Option<String>| {
            given(text).map(|t| explore::parse_bound(&t, zone).map_err(|m| Error::invalid(field, m))).transpose()
        };
        let query = explore::EventQuery {
            customer: given(customer),
            meter: given(meter),
            from: bound("from", from)?,
            to: bound("to", to)?,
        };
        explore::page(ws.conn(), &query, offset, limit.min(1000) as usize)
    })
}

#[tauri::command(async)]
pub fn events_import_cancel(state: State<AppState>) {
    state.cancel_import.store(true, Ordering::SeqCst);
}

#[tauri::command(async)]
pub fn usage_month(
    state: State<AppState>,
    meter: String,
    customer: String,
    month: String,
    group: Option<String>,
) -> Reply<MonthUsage> {
    state.with(|ws| usage::for_month(ws.conn(), &meter, &customer, Month::parse(&month, "month")?, group.as_deref()))
}

/// The group values a meter has seen, for one customer or any: what the usage
/// lookup's group is picked from.
#[tauri::command(async)]
pub fn usage_groups(state: State<AppState>, meter: String, customer: Option<String>) -> Reply<Vec<String>> {
    state.with(|ws| api::groups_seen(ws, &meter, customer.as_deref().filter(|c| !c.is_empty())))
}

/// The draft invoices of a customer's subscription periods starting in month `YYYY-MM`.
#[tauri::command(async)]
pub fn invoice_preview(state: State<AppState>, customer: String, month: String) -> Reply<Vec<Draft>> {
    state.with(|ws| bill::preview_customer(ws, &customer, Month::parse(&month, "period")?))
}

/// Every customer's draft invoices for the periods starting in month `YYYY-MM`.
#[tauri::command(async)]
pub fn invoice_preview_all(state: State<AppState>, month: String) -> Reply<Vec<Draft>> {
    state.with(|ws| bill::preview_all(ws, Month::parse(&month, "period")?))
}

/// The months a preview can be asked for, and the last with usage.
#[tauri::command(async)]
pub fn billing_months(state: State<AppState>) -> Reply<BillingMonths> {
    state.with(|ws| bill::billing_months(ws.conn()))
}

/// Writes every customer's drafts for month `YYYY-MM` as CSV to `path`; returns how many.
#[tauri::command(async)]
pub fn drafts_csv_save(state: State<AppState>, month: String, path: PathBuf) -> Reply<usize> {
    let path = chosen(&state, &path, Use::Write, "The drafts' CSV")?;
    state.with(|ws| {
        let drafts = bill::preview_all(ws, Month::parse(&month, "period")?)?;
        write_file(&path, |out| bill::drafts_csv(&drafts, out))?;
        Ok(drafts.len())
    })
}

/// Asks where to save a CSV file; none when cancelled.
#[tauri::command(async)]
pub fn csv_save_dialog(
    app: tauri::AppHandle,
    state: State<AppState>,
    title: String,
    file_name: String,
) -> Reply<Option<String>> {
    save_dialog(&app, &state.files, &title, &file_name, Some(("CSV", "csv")))
}

/// Asks where to save a PDF file; none when cancelled.
#[tauri::command(async)]
pub fn pdf_save_dialog(
    app: tauri::AppHandle,
    state: State<AppState>,
    title: String,
    file_name: String,
) -> Reply<Option<String>> {
    save_dialog(&app, &state.files, &title, &file_name, Some(("PDF", "pdf")))
}

/// Shows a file the user saved in the system's file manager (its folder opened).
#[tauri::command(async)]
pub fn show_in_folder(state: State<AppState>, path: PathBuf) -> Reply<()> {
    let path = chosen(&state, &path, Use::Write, "The file")?;
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_else(|| path.clone());
    let opened = if cfg!(target_os = "macos") {
        std::process::Command::new("open").arg("-R").arg(&path).spawn()
    } else if cfg!(target_os = "windows") {
        std::process::Command::new("explorer").arg(format!("/select,{}", path.display())).spawn()
    } else {
        std::process::Command::new("xdg-open").arg(&folder).spawn()
    };
    opened
        .map(|_| ())
        .map_err(|e| IpcError::from(Error::Io(format!("the folder {} could not be opened: {e}", folder.display()))))
}

/// Asks for a folder; none when cancelled.
#[tauri::command(async)]
pub fn folder_pick_dialog(app: tauri::AppHandle, state: State<AppState>, title: String) -> Reply<Option<String>> {
    if let Some(dir) = state.files.scope() {
        return Ok(Some(dir.display().to_string()));
    }
    let picked = picked_path(app.dialog().file().set_title(&title).blocking_pick_folder())?;
    Ok(picked.map(|p| {
        state.files.grant(&p, Use::Folder);
        p.display().to_string()
    }))
}

/// The logo new invoices print, as bytes (empty: none).
#[tauri::command(async)]
pub fn settings_logo(state: State<AppState>) -> Reply<tauri::ipc::Response> {
    state
        .with(|ws| Ok(settings::logo(ws.conn())?.map(|(_, bytes)| bytes).unwrap_or_default()))
        .map(tauri::ipc::Response::new)
}

/// Asks for a PNG or JPEG file and makes it the logo; false when cancelled.
#[tauri::command(async)]
pub fn settings_logo_pick(app: tauri::AppHandle, state: State<AppState>) -> Reply<bool> {
    let picked = app
        .dialog()
        .file()
        .set_title("Choose the logo")
        .add_filter("Image", &["png", "jpg", "jpeg"])
        .blocking_pick_file();
    let Some(path) = picked_path(picked)? else { return Ok(false) };
    state.with(|ws| {
        let bytes = std::fs::read(&path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        ws.write(|tx| settings::set_logo(tx, Some(&bytes), clock::now()))?;
        Ok(true)
    })
}

/// Removes the logo (invoices finalized with it keep it).
#[tauri::command(async)]
pub fn settings_logo_clear(state: State<AppState>) -> Reply<()> {
    state.with(|ws| ws.write(|tx| settings::set_logo(tx, None, clock::now())))
}

/// Every finalized invoice, newest first, as it stands today.
#[tauri::command(async)]
pub fn invoices_list(state: State<AppState>) -> Reply<Vec<Entry>> {
    state.with(|ws| register::entries(ws.conn(), settings::today(ws.conn(), clock::now())?))
}

fn detail(ws: &Workspace, number: &str) -> Result<InvoiceDetail, Error> {
    register::detail(ws.conn(), number, settings::today(ws.conn(), clock::now())?)
}

/// A finalized invoice with its standing, credit notes and audit trail.
#[tauri::command(async)]
pub fn invoice_detail(state: State<AppState>, number: String) -> Reply<InvoiceDetail> {
    state.with(|ws| detail(ws, &number))
}

/// The drafts of the periods starting in month `YYYY-MM`, with what to check before finalizing.
#[tauri::command(async)]
pub fn invoice_review(state: State<AppState>, month: String, advance: bool) -> Reply<Vec<Reviewed>> {
    state.with(|ws| register::review(ws, Month::parse(&month, "period")?, None, bill::Kind::of(advance), clock::now()))
}

/// Finalizes the reviewed drafts, each in its own transaction.
#[tauri::command(async)]
pub fn invoice_finalize(
    app: tauri::AppHandle,
    state: State<AppState>,
    month: String,
    advance: bool,
    picks: Vec<Pick>,
) -> Reply<Finalized> {
    let followed = state.with(|ws| {
        let month = Month::parse(&month, "period")?;
        api::finalize(ws, month, bill::Kind::of(advance), invoice::Selection::Picked(&picks), clock::now())
    })?;
    announce(&app, &followed.wallets);
    Ok(followed.done)
}

/// The PDF of a finalized invoice or credit note, as bytes (the preview).
#[tauri::command(async)]
pub fn document_pdf(state: State<AppState>, number: String) -> Reply<tauri::ipc::Response> {
    state.with(|ws| pdf::document(ws.conn(), &number, None)).map(tauri::ipc::Response::new)
}

/// Writes the PDF of an invoice or credit note to `path`.
#[tauri::command(async)]
pub fn document_pdf_save(state: State<AppState>, number: String, path: PathBuf) -> Reply<()> {
    let path = chosen(&state, &path, Use::Write, "The PDF")?;
    state.with(|ws| {
        let bytes = pdf::document(ws.conn(), &number, None)?;
        write_file(&path, |out| out.write_all(&bytes).map_err(|e| Error::Io(e.to_string())))
    })
}

/// Writes each document's PDF into `folder` as `NUMBER.pdf`; returns how many.
#[tauri::command(async)]
pub fn documents_pdf_save(state: State<AppState>, numbers: Vec<String>, folder: PathBuf) -> Reply<usize> {
    let folder = chosen(&state, &folder, Use::Folder, "The folder")?;
    state.with(|ws| {
        for number in &numbers {
            // A document number is one file name, never a way out of the folder.
            let path = folder.join(Path::new(&format!("{number}.pdf")).file_name().unwrap_or_default());
            let bytes = pdf::document(ws.conn(), number, None)?;
            write_file(&path, |out| out.write_all(&bytes).map_err(|e| Error::Io(e.to_string())))?;
        }
        Ok(numbers.len())
    })
}

/// Writes the invoices, credit notes and voids dated from `from` to `to`
/// (dates, both included) as the accountants' CSV to `path`; returns how many
/// invoices.
#[tauri::command(async)]
pub fn invoices_csv_save(state: State<AppState>, from: String, to: String, path: PathBuf) -> Reply<usize> {
    let date = |field: &str, text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| IpcError::from(Error::invalid(field, format!("\"{text}\" is not a date (YYYY-MM-DD)"))))
    };
    let (from, to) = (date("from", &from)?, date("to", &to)?);
    let path = chosen(&state, &path, Use::Write, "The accounting CSV")?;
    state.with(|ws| {
        let today = settings::today(ws.conn(), clock::now())?;
        write_file(&path, |out| register::accounting_csv(ws.conn(), from, to, today, out)).map(|n| n.invoices as usize)
    })
}

/// Re-checks the hash chain of every finalized invoice.
#[tauri::command(async)]
pub fn invoices_verify(state: State<AppState>) -> Reply<invoice::Verified> {
    state.with(|ws| invoice::verify(ws.conn()))
}

/// Voids an invoice, with the reason.
#[tauri::command(async)]
pub fn invoice_void(state: State<AppState>, number: String, reason: String) -> Reply<InvoiceDetail> {
    state.with(|ws| {
        ws.write(|tx| invoice::void(tx, &number, &reason, clock::now()))?;
        detail(ws, &number)
    })
}

/// Records an invoice's payment: its date (`YYYY-MM-DD`) and reference.
#[tauri::command(async)]
pub fn invoice_mark_paid(
    state: State<AppState>,
    number: String,
    date: String,
    reference: String,
) -> Reply<InvoiceDetail> {
    state.with(|ws| {
        let date = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| Error::invalid("date", format!("\"{date}\" is not a date (YYYY-MM-DD)")))?;
        ws.write(|tx| invoice::mark_paid(tx, &number, date, &reference, clock::now()))?;
        detail(ws, &number)
    })
}

/// Records a payment of an invoice: part or all of what it still asks for.
#[tauri::command(async)]
pub fn invoice_pay(state: State<AppState>, number: String, fields: PaymentFields) -> Reply<InvoiceDetail> {
    state.with(|ws| {
        ws.write(|tx| invoice::pay(tx, &number, &fields, clock::now()))?;
        detail(ws, &number)
    })
}

/// Takes back a payment recorded in error, with the reason (it stays listed).
#[tauri::command(async)]
pub fn invoice_payment_reverse(
    state: State<AppState>,
    number: String,
    payment: i64,
    reason: String,
) -> Reply<InvoiceDetail> {
    state.with(|ws| {
        ws.write(|tx| invoice::reverse_payment(tx, &number, payment, &reason, clock::now()))?;
        detail(ws, &number)
    })
}

/// Issues a credit note against an invoice.
#[tauri::command(async)]
pub fn invoice_credit(
    state: State<AppState>,
    number: String,
    reason: String,
    ask: CreditAsk,
    refund_to: RefundTo,
) -> Reply<CreditNote> {
    state.with(|ws| {
        let request = ask.request();
        ws.write(|tx| credit::issue_with(tx, &number, &reason, &request, refund_to, clock::now()))
    })
}

/// Every plan: its latest version and how many subscriptions it has.
#[tauri::command(async)]
pub fn plans_list(state: State<AppState>) -> Reply<Vec<PlanRow>> {
    state.with(|ws| plan::rows(ws.conn()))
}

/// The problems of a plan being edited (none: it can be saved).
#[tauri::command(async)]
pub fn plan_check(state: State<AppState>, fields: serde_json::Value) -> Reply<Vec<meterdesk_engine::Problem>> {
    state.with(|ws| plan::problems(ws.conn(), fields))
}

/// Saves the edited plan (a new version when subscriptions hold the current one).
#[tauri::command(async)]
pub fn plan_save(state: State<AppState>, fields: serde_json::Value, create: bool) -> Reply<PlanRow> {
    state.with(|ws| {
        let fields = plan::fields_from_json(fields)?;
        let now = clock::now();
        ws.write(|tx| plan::save_edited(tx, &fields, create, now))
    })
}

/// The edited (unsaved) plan on its subscribers' usage for month `YYYY-MM`.
#[tauri::command(async)]
pub fn plan_try(state: State<AppState>, fields: serde_json::Value, month: String) -> Reply<TrialReport> {
    state.with(|ws| {
        let fields = plan::fields_from_json(fields)?;
        bill::try_plan(ws, &fields, Month::parse(&month, "period")?)
    })
}

/// Prices quantities with a charge's price in a currency: the calculator and the price curve.
#[tauri::command(async)]
pub fn price_quote(
    price: serde_json::Value,
    currency: String,
    quantities: Vec<meterdesk_engine::Dec>,
) -> Reply<Vec<Quote>> {
    let currency =
        meterdesk_engine::Currency::parse(&currency).map_err(|m| IpcError::from(Error::invalid("currency", m)))?;
    let quantities: Vec<_> = quantities.into_iter().map(|q| q.0).collect();
    pricing::quote(price, &currency, &quantities).map_err(IpcError::from)
}

/// Every customer with a wallet: balance, projection, next expiry.
#[tauri::command(async)]
pub fn wallets_overview(state: State<AppState>) -> Reply<Vec<WalletRow>> {
    state.with(|ws| projection::overview(ws, clock::now()))
}

/// A customer's wallet page.
#[tauri::command(async)]
pub fn wallet_view(state: State<AppState>, customer: String) -> Reply<WalletView> {
    state.with(|ws| projection::view(ws, &customer, clock::now()))
}

/// A customer's ledger entries, newest first, filtered.
#[tauri::command(async)]
pub fn wallet_ledger(state: State<AppState>, customer: String, query: LedgerQuery) -> Reply<Vec<wallet::Entry>> {
    state.with(|ws| wallet::ledger(ws.conn(), &customer, &query))
}

/// Grants credit by hand (a blank id becomes `grant-N`).
#[tauri::command(async)]
pub fn wallet_grant(state: State<AppState>, customer: String, fields: GrantFields) -> Reply<WalletView> {
    state.with(|ws| {
        let now = clock::now();
        ws.write(|tx| wallet::grant(tx, &customer, &fields, wallet::Origin::Manual, now))?;
        projection::view(ws, &customer, now)
    })
}

/// Voids what is left of a grant.
#[tauri::command(async)]
pub fn wallet_void(state: State<AppState>, customer: String, grant: String, reason: String) -> Reply<WalletView> {
    state.with(|ws| {
        let now = clock::now();
        ws.write(|tx| wallet::void_grant(tx, &customer, &grant, &reason, now))?;
        projection::view(ws, &customer, now)
    })
}

/// Adjusts a grant up or down by a signed amount (a decimal string).
#[tauri::command(async)]
pub fn wallet_adjust(
    state: State<AppState>,
    customer: String,
    grant: String,
    amount: String,
    reason: String,
) -> Reply<WalletView> {
    state.with(|ws| {
        let now = clock::now();
        let amount: meterdesk_engine::Dec = amount.trim().parse().map_err(|m: String| Error::invalid("amount", m))?;
        ws.write(|tx| wallet::adjust(tx, &customer, &grant, amount.0, &reason, now))?;
        projection::view(ws, &customer, now)
    })
}

/// Announces what an evaluation raised (the wallet rules after an import or a
/// finalize, the signals after the dashboard): new alerts go
/// to the window (the inbox reloads) and, when enabled, to the desktop. A
/// failure does not fail what ran it (that is done and kept): it is logged,
/// and the next evaluation tries again.
fn announce(app: &tauri::AppHandle, wallets: &Result<projection::Evaluation, String>) {
    use tauri::Emitter;
    use tauri_plugin_notification::NotificationExt;
    let evaluation = match wallets {
        Ok(e) => e,
        Err(e) => return eprintln!("meterdesk: the wallet rules or signals were not evaluated: {e}"),
    };
    if evaluation.alerts.is_empty() {
        return;
    }
    let _ = app.emit("alerts", evaluation.alerts.len());
    if paths::notifications_enabled() {
        for a in &evaluation.alerts {
            let shown =
                app.notification().builder().title(format!("Meterdesk: {}", a.customer_name)).body(&a.message).show();
            // No notification service (a bare X session): the inbox still has it.
            if let Err(e) = shown {
                eprintln!("meterdesk: a desktop notification could not be shown: {e}");
            }
        }
    }
}

/// A customer's wallet rules.
#[tauri::command(async)]
pub fn wallet_rules(state: State<AppState>, customer: String) -> Reply<Rules> {
    state.with(|ws| wallet::rules(ws.conn(), &customer))
}

/// Replaces a customer's wallet rules, then evaluates them at once.
#[tauri::command(async)]
pub fn wallet_rules_set(app: tauri::AppHandle, state: State<AppState>, customer: String, rules: Rules) -> Reply<Rules> {
    let followed = state.with(|ws| api::set_wallet_rules(ws, &customer, &rules, clock::now()))?;
    announce(&app, &followed.wallets);
    Ok(followed.done)
}

/// The alerts inbox: open alerts, or all with `acknowledged`.
#[tauri::command(async)]
pub fn alerts_list(state: State<AppState>, acknowledged: bool) -> Reply<Vec<Alert>> {
    state.with(|ws| alert::alerts(ws.conn(), acknowledged))
}

/// Acknowledges one alert, or every open one.
#[tauri::command(async)]
pub fn alerts_acknowledge(state: State<AppState>, id: Option<i64>) -> Reply<usize> {
    state.with(|ws| ws.write(|tx| alert::acknowledge(tx, id, clock::now())))
}

/// The dashboard: revenue, receivables, margins, signals and to-dos, as the
/// reports give them; signals new since the last time go to the inbox.
#[tauri::command(async)]
pub fn dashboard(app: tauri::AppHandle, state: State<AppState>) -> Reply<Dashboard> {
    let followed = state.with(|ws| api::dashboard(ws, clock::now()))?;
    announce(&app, &followed.wallets);
    Ok(followed.done)
}

/// The list behind one figure of the dashboard (its totals are the figure).
#[tauri::command(async)]
pub fn dashboard_detail(state: State<AppState>, figure: Figure) -> Reply<Detail> {
    state.with(|ws| meterdesk_engine::report::detail(ws, clock::now(), &figure))
}

/// The usage and spend alert rules, by id.
#[tauri::command(async)]
pub fn alert_rules_list(state: State<AppState>) -> Reply<Vec<AlertRuleFields>> {
    state.with(|ws| alert_rules::all(ws.conn()))
}

/// Adds a rule or changes the one with its id (problems by field), then
/// evaluates the rules: what it raises goes to the inbox at once.
#[tauri::command(async)]
pub fn alert_rule_save(
    app: tauri::AppHandle,
    state: State<AppState>,
    rule: AlertRuleFields,
) -> Reply<Vec<AlertRuleFields>> {
    let (rules, raised) = state.with(|ws| {
        let now = clock::now();
        ws.write(|tx| alert_rules::save_one(tx, &rule, now))?;
        let raised = alert_rules::evaluate(ws, now).map_err(|e| e.to_string());
        Ok((alert_rules::all(ws.conn())?, raised))
    })?;
    announce(&app, &raised.map(|alerts| projection::Evaluation { topups: Vec::new(), alerts }));
    Ok(rules)
}

/// Removes a rule; its alerts stay in the inbox.
#[tauri::command(async)]
pub fn alert_rule_remove(state: State<AppState>, id: String) -> Reply<Vec<AlertRuleFields>> {
    state.with(|ws| {
        ws.write(|tx| alert_rules::remove(tx, &id))?;
        alert_rules::all(ws.conn())
    })
}

/// Every capped subscription's allowance in its running period.
#[tauri::command(async)]
pub fn limits_list(state: State<AppState>) -> Reply<Vec<Limit>> {
    state.with(|ws| limits::export(ws, clock::now()))
}

/// Asks where to save the allowances' JSON; none when cancelled.
#[tauri::command(async)]
pub fn json_save_dialog(
    app: tauri::AppHandle,
    state: State<AppState>,
    title: String,
    file_name: String,
) -> Reply<Option<String>> {
    save_dialog(&app, &state.files, &title, &file_name, Some(("JSON", "json")))
}

/// Writes the allowances as `limits export` prints them to a file the user chose; how many.
#[tauri::command(async)]
pub fn limits_save(state: State<AppState>, path: PathBuf) -> Reply<usize> {
    let path = chosen(&state, &path, Use::Write, "The allowances' file")?;
    state.with(|ws| {
        let limits = limits::export(ws, clock::now())?;
        write_file(&path, |out| {
            serde_json::to_writer_pretty(&mut *out, &limits).map_err(|e| Error::Io(e.to_string()))?;
            out.write_all(b"\n").map_err(|e| Error::Io(e.to_string()))
        })?;
        Ok(limits.len())
    })
}

/// Every cost rate, by meter, group and first day, with the day the next replaces it.
#[tauri::command(async)]
pub fn costs_list(state: State<AppState>) -> Reply<Vec<StoredCostRate>> {
    state.with(|ws| cost::rates(ws.conn()))
}

/// Adds a cost rate, or changes the one of its meter, group and first day;
/// problems are keyed by the form's field.
#[tauri::command(async)]
pub fn cost_save(state: State<AppState>, rate: CostRateFields) -> Reply<Vec<StoredCostRate>> {
    state.with(|ws| {
        ws.write(|tx| cost::save(tx, std::slice::from_ref(&rate), clock::now())).map_err(|e| by_field(e, "costs"))?;
        cost::rates(ws.conn())
    })
}

/// Removes the cost rate of a meter and group from a day.
#[tauri::command(async)]
pub fn cost_remove(
    state: State<AppState>,
    meter: String,
    group: Option<String>,
    from: String,
) -> Reply<Vec<StoredCostRate>> {
    state.with(|ws| {
        let from = date(&from, "from")?;
        ws.write(|tx| cost::remove(tx, &meter, group.as_deref(), from, clock::now()))?;
        cost::rates(ws.conn())
    })
}

/// Every exchange rate, by pair and day.
#[tauri::command(async)]
pub fn fx_list(state: State<AppState>) -> Reply<Vec<FxRate>> {
    state.with(|ws| cost::fx_rates(ws.conn()))
}

/// Adds an exchange rate, or changes the one of its pair and day.
#[tauri::command(async)]
pub fn fx_save(state: State<AppState>, rate: FxRate) -> Reply<Vec<FxRate>> {
    state.with(|ws| {
        ws.write(|tx| cost::save_fx(tx, std::slice::from_ref(&rate), clock::now()))
            .map_err(|e| by_field(e, "fx_rates"))?;
        cost::fx_rates(ws.conn())
    })
}

/// A list's problems (`costs[0].unit_cost`) keyed by the one entry's field (`unit_cost`).
fn by_field(err: Error, list: &str) -> Error {
    match err {
        Error::Invalid(problems) => Error::Invalid(
            problems
                .into_iter()
                .map(|p| {
                    let path = p.path.strip_prefix(&format!("{list}[0].")).map(str::to_string).unwrap_or(p.path);
                    meterdesk_engine::Problem::new(path, p.message)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A local date typed in a form (`YYYY-MM-DD`), named by its field on error.
fn date(text: &str, field: &str) -> Result<chrono::NaiveDate, Error> {
    text.trim().parse().map_err(|_| Error::invalid(field, format!("\"{}\" is not a date (YYYY-MM-DD)", text.trim())))
}

/// Every credit note, newest first.
#[tauri::command(async)]
pub fn credit_notes_list(state: State<AppState>) -> Reply<Vec<CreditNote>> {
    state.with(|ws| credit::all(ws.conn()))
}

/// Every import of events, newest first.
#[tauri::command(async)]
pub fn imports_list(state: State<AppState>) -> Reply<Vec<ImportRecord>> {
    state.with(|ws| history::list(ws.conn()))
}

/// Imports with rejected rows nobody has looked at yet (the inbox).
#[tauri::command(async)]
pub fn imports_rejections(state: State<AppState>) -> Reply<Vec<ImportRecord>> {
    state.with(|ws| history::unseen_rejections(ws.conn()))
}

/// Marks an import's rejected rows (or every import's) as seen.
#[tauri::command(async)]
pub fn imports_rejections_seen(state: State<AppState>, id: Option<i64>) -> Reply<usize> {
    state.with(|ws| ws.write(|tx| history::see_rejections(tx, id, clock::now())))
}

/// Rolls back an import whose events are not invoiced yet.
#[tauri::command(async)]
pub fn import_rollback(state: State<AppState>, id: i64) -> Reply<ImportRecord> {
    state.with(|ws| ws.write(|tx| history::rollback(tx, id, clock::now())))
}

/// A page of the Customers list: with plans today, what is owed and the wallet.
#[tauri::command(async)]
pub fn customers_list(
    state: State<AppState>,
    search: String,
    include_archived: bool,
    offset: u32,
    limit: u32,
) -> Reply<CustomerListPage> {
    state.with(|ws| overview::customer_list(ws.conn(), &search, include_archived, offset, limit, clock::now()))
}

/// The customer page: details, subscriptions, running drafts, invoices,
/// credit notes, wallet, usage trend, late usage and alerts.
#[tauri::command(async)]
pub fn customer_overview(state: State<AppState>, customer: String) -> Reply<CustomerOverview> {
    state.with(|ws| overview::customer_overview(ws, &customer, clock::now()))
}

/// Puts a customer on a plan (every catalog rule applies).
#[tauri::command(async)]
pub fn subscription_create(state: State<AppState>, fields: SubscriptionFields) -> Reply<SubscriptionFields> {
    state.with(|ws| Ok(ws.write(|tx| subscription::create(tx, &fields, clock::now()))?.fields))
}

/// The drafts around a plan change, before it is saved.
#[tauri::command(async)]
pub fn subscription_change_preview(state: State<AppState>, id: String, plan: String, on: String) -> Reply<Vec<Draft>> {
    state.with(|ws| api::preview_plan_change(ws, &id, &plan, date(&on, "on")?, clock::now()))
}

/// Moves a subscription to another plan on a date: the ended one and the new one.
#[tauri::command(async)]
pub fn subscription_change(
    state: State<AppState>,
    id: String,
    plan: String,
    on: String,
) -> Reply<Vec<SubscriptionFields>> {
    state.with(|ws| {
        let on = date(&on, "on")?;
        let (ended, next) = ws.write(|tx| subscription::change(tx, &id, &plan, on, clock::now()))?;
        Ok(vec![ended.fields, next.fields])
    })
}

/// Replaces a subscription's unit-price overrides and discounts.
#[tauri::command(async)]
pub fn subscription_terms(
    state: State<AppState>,
    id: String,
    unit_prices: Vec<UnitPriceOverride>,
    discounts: Vec<DiscountFields>,
    maximum: Option<meterdesk_engine::Dec>,
) -> Reply<SubscriptionFields> {
    state.with(|ws| ws.write(|tx| overview::set_terms(tx, &id, &unit_prices, discounts, maximum, clock::now())))
}

/// Ends a subscription: `on` is the first day it is no longer active.
#[tauri::command(async)]
pub fn subscription_end(state: State<AppState>, id: String, on: String) -> Reply<SubscriptionFields> {
    state.with(|ws| {
        let on = date(&on, "on")?;
        Ok(ws.write(|tx| subscription::end(tx, &id, on, clock::now()))?.fields)
    })
}

/// Period invoices with late usage waiting, and what it would add.
#[tauri::command(async)]
pub fn late_list(state: State<AppState>) -> Reply<Vec<LateUsage>> {
    state.with(late::list)
}

/// Issues the adjustment invoice of an invoice's late usage.
#[tauri::command(async)]
pub fn late_adjust(state: State<AppState>, number: String) -> Reply<Invoice> {
    state.with(|ws| Ok(api::adjust_late(ws, &number, clock::now())?.done))
}

/// Whether alerts are also desktop notifications on this machine.
#[tauri::command]
pub fn notifications_get() -> bool {
    paths::notifications_enabled()
}

#[tauri::command]
pub fn notifications_set(enabled: bool) -> Reply<()> {
    paths::set_notifications(enabled).map_err(|e| IpcError::from(Error::Io(format!("the choice was not saved: {e}"))))
}

/// The workspace's automatic backups, newest first.
#[tauri::command(async)]
pub fn backups_list(state: State<AppState>) -> Reply<Vec<backup::BackupFile>> {
    state.with(|ws| backup::list(ws.path()))
}

/// Restores the backup `name` of the workspace's backups folder; what the
/// workspace held is kept there first.
#[tauri::command(async)]
pub fn backup_restore(state: State<AppState>, name: String) -> Reply<backup::Restored> {
    state.with(|ws| backup::restore_named(ws, &name, clock::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_command_poisoned_the_workspace_until_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::start(&dir.path().join("ws.meterdesk"));
        let failed: Reply<()> = state.with(|_| panic!("Multiplication overflowed"));
        let err = failed.unwrap_err();
        assert_eq!(err.code, meterdesk_engine::ErrorCode::Internal);
        assert!(err.message.contains("Multiplication overflowed"), "{}", err.message);
        // The next command works on the same open workspace.
        let summary = state.with(|ws| ws.summary(clock::now())).unwrap();
        assert_eq!(summary.customers, 0);
    }
}

/// The totals per currency of amounts the window picked or filtered (the
/// drafts chosen to finalize, the invoices a filter shows): the UI adds no
/// money itself.
#[tauri::command]
pub fn totals_by_currency(amounts: Vec<Amount>) -> Vec<CurrencyTotal> {
    money::totals_by_currency(&amounts)
}

/// Sends the invoice or credit note `number` by e-mail (to `to`, else the
/// customer's billing addresses) through the outbox: sent, or queued with why.
#[tauri::command(async)]
pub fn invoice_send(state: State<AppState>, number: String, to: Option<Vec<String>>) -> Reply<SendReport> {
    state.with(|ws| {
        let mut transport = crate::mail::transport(&mailing::mail_settings(ws.conn())?)?;
        mailing::send_document(ws, &number, to, &mut transport, clock::now())
    })
}

/// The outbox, newest first (only the messages not sent yet with `unsent`).
#[tauri::command(async)]
pub fn outbox_list(state: State<AppState>, unsent: bool) -> Reply<Vec<OutboxEntry>> {
    state.with(|ws| outbox::list(ws.conn(), unsent))
}

/// Hands every message not sent yet to the mail server again.
#[tauri::command(async)]
pub fn outbox_retry(state: State<AppState>) -> Reply<Vec<OutboxEntry>> {
    state.with(|ws| {
        let mut transports = crate::mail::transports(&mailing::mail_settings(ws.conn())?, crate::mail::LANES)?;
        mailing::retry(ws, &mut crate::mail::lanes(&mut transports), clock::now())
    })
}

fn reminder_day(ws: &Workspace, on: Option<String>) -> Result<chrono::NaiveDate, Error> {
    match on {
        Some(text) => text.parse().map_err(|_| Error::invalid("on", format!("\"{text}\" is not a date (YYYY-MM-DD)"))),
        None => settings::today(ws.conn(), clock::now()),
    }
}

/// The reminders a run on `on` (default today) would send.
#[tauri::command(async)]
pub fn reminders_preview(state: State<AppState>, on: Option<String>) -> Reply<Vec<ReminderDue>> {
    state.with(|ws| mailing::reminders_due(ws.conn(), reminder_day(ws, on)?))
}

/// Sends the reminders due on `on` (default today).
#[tauri::command(async)]
pub fn reminders_run(state: State<AppState>, on: Option<String>) -> Reply<Vec<ReminderDue>> {
    state.with(|ws| {
        let on = reminder_day(ws, on)?;
        let mut transports = crate::mail::transports(&mailing::mail_settings(ws.conn())?, crate::mail::LANES)?;
        mailing::run_reminders(ws, on, &mut crate::mail::lanes(&mut transports), clock::now())
    })
}

/// Keeps the mail server's password outside the workspace (none: forgets
/// it); returns whether one is kept.
#[tauri::command(async)]
pub fn mail_password_set(state: State<AppState>, password: Option<String>) -> Reply<bool> {
    state.with(|ws| {
        let mail = mailing::mail_settings(ws.conn())?;
        crate::mail::set_password(&mail, password.as_deref().filter(|p| !p.is_empty()))?;
        Ok(crate::mail::has_password(&mail))
    })
}

/// Whether a password is kept for the workspace's mail server login.
#[tauri::command(async)]
pub fn mail_password_kept(state: State<AppState>) -> Reply<bool> {
    state.with(|ws| Ok(settings::get(ws.conn())?.mail.is_some_and(|m| crate::mail::has_password(&m))))
}

/// Connects to the mail server and logs in, sending nothing.
#[tauri::command(async)]
pub fn mail_test(state: State<AppState>) -> Reply<()> {
    state.with(|ws| {
        let transport = crate::mail::transport(&mailing::mail_settings(ws.conn())?)?;
        transport.check().map_err(|e| Error::Conflict(e.0))
    })
}

/// At start: hands what waits in the outbox to the mail server, on a
/// connection of its own (the console stays free meanwhile). Failures stay
/// queued with their error, shown on the outbox page.
pub fn retry_outbox_at_start(path: PathBuf) {
    std::thread::spawn(move || {
        let retried = (|| -> Result<usize, Error> {
            let mut ws = Workspace::open(&path)?;
            if outbox::list(ws.conn(), true)?.is_empty() {
                return Ok(0);
            }
            let mut transports = crate::mail::transports(&mailing::mail_settings(ws.conn())?, crate::mail::LANES)?;
            Ok(mailing::retry(&mut ws, &mut crate::mail::lanes(&mut transports), clock::now())?.len())
        })();
        if let Err(e) = retried {
            eprintln!("meterdesk: the outbox was not retried at start: {e}");
        }
    });
}

fn statement_range(from: &str, to: &str) -> Result<(chrono::NaiveDate, chrono::NaiveDate), Error> {
    let day = |field: &str, text: &str| {
        text.parse::<chrono::NaiveDate>()
            .map_err(|_| Error::invalid(field, format!("\"{text}\" is not a date (YYYY-MM-DD)")))
    };
    Ok((day("from", from)?, day("to", to)?))
}

/// A customer's statement of account from `from` to `to` (both included).
#[tauri::command(async)]
pub fn statement_view(state: State<AppState>, customer: String, from: String, to: String) -> Reply<Statement> {
    state.with(|ws| {
        let (from, to) = statement_range(&from, &to)?;
        statement::build(ws.conn(), &customer, from, to)
    })
}

/// Writes the statement's PDF to `path` (a file the user chose).
#[tauri::command(async)]
pub fn statement_pdf_save(
    state: State<AppState>,
    customer: String,
    from: String,
    to: String,
    path: PathBuf,
) -> Reply<()> {
    let path = chosen(&state, &path, Use::Write, "The PDF")?;
    state.with(|ws| {
        let (from, to) = statement_range(&from, &to)?;
        let today = settings::today(ws.conn(), clock::now())?;
        let (_, bytes) = pdf::statement_document(ws.conn(), &customer, from, to, today)?;
        write_file(&path, |out| out.write_all(&bytes).map_err(|e| Error::Io(e.to_string())))
    })
}

/// Sends the statement by e-mail to the customer's billing addresses (once per range).
#[tauri::command(async)]
pub fn statement_send(state: State<AppState>, customer: String, from: String, to: String) -> Reply<SendReport> {
    state.with(|ws| {
        let range = statement_range(&from, &to)?;
        let mut transport = crate::mail::transport(&mailing::mail_settings(ws.conn())?)?;
        mailing::send_statement(ws, &customer, range, None, &mut transport, clock::now())
    })
}
