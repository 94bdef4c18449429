// The one typed door to the Rust side: every command, its arguments and its result.
import { invoke, type Channel } from "@tauri-apps/api/core";
import type { BillingMonths } from "./generated/BillingMonths";
import type { Customer } from "./generated/Customer";
import type { Draft } from "./generated/Draft";
import type { CustomerFields } from "./generated/CustomerFields";
import type { CustomerPage } from "./generated/CustomerPage";
import type { ErrorCode } from "./generated/ErrorCode";
import type { CsvColumns } from "./generated/CsvColumns";
import type { EventImport } from "./generated/EventImport";
import type { EventPage } from "./generated/EventPage";
import type { ImportReport } from "./generated/ImportReport";
import type { NamedMapping } from "./generated/NamedMapping";
import type { IpcError } from "./generated/IpcError";
import type { ImportPreview } from "./generated/ImportPreview";
import type { ImportProgress } from "./generated/ImportProgress";
import type { MonthUsage } from "./generated/MonthUsage";
import type { Meter } from "./generated/Meter";
import type { MeterFields } from "./generated/MeterFields";
import type { Problem } from "./generated/Problem";
import type { PlanRow } from "./generated/PlanRow";
import type { Quote } from "./generated/Quote";
import type { Trial } from "./generated/Trial";
import type { PlanFields, PriceFields } from "./plan";
import type { ReferenceData } from "./generated/ReferenceData";
import type { Settings } from "./generated/Settings";
import type { WorkspaceSummary } from "./generated/WorkspaceSummary";
import type { CreditAsk } from "./generated/CreditAsk";
import type { CreditNote } from "./generated/CreditNote";
import type { Entry } from "./generated/Entry";
import type { Finalized } from "./generated/Finalized";
import type { InvoiceDetail } from "./generated/InvoiceDetail";
import type { Pick } from "./generated/Pick";
import type { Reviewed } from "./generated/Reviewed";
import type { Verified } from "./generated/Verified";
import type { LedgerEntry } from "./generated/LedgerEntry";
import type { GrantFields } from "./generated/GrantFields";
import type { LedgerQuery } from "./generated/LedgerQuery";
import type { WalletRow } from "./generated/WalletRow";
import type { WalletView } from "./generated/WalletView";
import type { Alert } from "./generated/Alert";
import type { Rules } from "./generated/Rules";
import type { BackupFile } from "./generated/BackupFile";
import type { Restored } from "./generated/Restored";

type NoArgs = Record<string, never>;

/** Command name → [arguments (camelCase, as Tauri maps them), result]. */
interface Commands {
  workspace_summary: [NoArgs, WorkspaceSummary];
  workspace_open: [{ path: string }, WorkspaceSummary];
  workspace_open_dialog: [NoArgs, WorkspaceSummary | null];
  workspace_create_dialog: [NoArgs, WorkspaceSummary | null];
  workspace_recent: [NoArgs, string[]];
  reference_data: [NoArgs, ReferenceData];
  settings_get: [NoArgs, Settings];
  settings_update: [{ settings: Settings }, Settings];
  customers_page: [{ search: string; includeArchived: boolean; offset: number; limit: number }, CustomerPage];
  customer_get: [{ id: string }, Customer];
  customer_create: [{ fields: CustomerFields }, Customer];
  customer_update: [{ fields: CustomerFields }, Customer];
  customer_set_archived: [{ id: string; archived: boolean }, Customer];
  customers_import_dialog: [NoArgs, ImportReport | null];
  meters_list: [NoArgs, Meter[]];
  meter_save: [{ fields: MeterFields; create: boolean }, Meter];
  meter_preview: [{ fields: MeterFields; customer: string; month: string; group: string | null }, MonthUsage];
  event_file_pick: [NoArgs, string | null];
  events_preview: [{ path: string; format: string | null; columns: CsvColumns | null }, ImportPreview];
  events_import: [{ path: string; format: string | null; columns: CsvColumns | null; onProgress: Channel<ImportProgress> }, EventImport];
  events_import_cancel: [NoArgs, null];
  events_page: [{ customer: string | null; meter: string | null; from: string | null; to: string | null; offset: number; limit: number }, EventPage];
  mappings_list: [NoArgs, NamedMapping[]];
  mapping_save: [{ name: string; columns: CsvColumns }, null];
  rejects_save_dialog: [{ fileName: string }, string | null];
  events_rejects_save: [{ importId: number; path: string }, number];
  usage_month: [{ meter: string; customer: string; month: string; group: string | null }, MonthUsage];
  invoice_preview: [{ customer: string; month: string }, Draft[]];
  invoice_preview_all: [{ month: string }, Draft[]];
  billing_months: [NoArgs, BillingMonths];
  drafts_csv_save: [{ month: string; path: string }, number];
  csv_save_dialog: [{ title: string; fileName: string }, string | null];
  plans_list: [NoArgs, PlanRow[]];
  plan_check: [{ fields: PlanFields }, Problem[]];
  plan_save: [{ fields: PlanFields; create: boolean }, PlanRow];
  plan_try: [{ fields: PlanFields; month: string }, Trial[]];
  price_quote: [{ price: PriceFields; currency: string; quantities: string[] }, Quote[]];
  pdf_save_dialog: [{ title: string; fileName: string }, string | null];
  folder_pick_dialog: [{ title: string }, string | null];
  invoices_list: [NoArgs, Entry[]];
  invoice_detail: [{ number: string }, InvoiceDetail];
  invoice_review: [{ month: string; advance: boolean }, Reviewed[]];
  invoice_finalize: [{ month: string; advance: boolean; picks: Pick[] }, Finalized];
  document_pdf: [{ number: string }, ArrayBuffer];
  document_pdf_save: [{ number: string; path: string }, null];
  documents_pdf_save: [{ numbers: string[]; folder: string }, number];
  invoice_void: [{ number: string; reason: string }, InvoiceDetail];
  invoice_mark_paid: [{ number: string; date: string; reference: string }, InvoiceDetail];
  invoice_credit: [{ number: string; reason: string; ask: CreditAsk }, CreditNote];
  invoices_verify: [NoArgs, Verified];
  invoices_csv_save: [{ from: string; to: string; path: string }, number];
  settings_logo: [NoArgs, ArrayBuffer];
  settings_logo_pick: [NoArgs, boolean];
  settings_logo_clear: [NoArgs, null];
  wallets_overview: [NoArgs, WalletRow[]];
  wallet_view: [{ customer: string }, WalletView];
  wallet_ledger: [{ customer: string; query: LedgerQuery }, LedgerEntry[]];
  wallet_grant: [{ customer: string; fields: GrantFields }, WalletView];
  wallet_void: [{ customer: string; grant: string; reason: string }, WalletView];
  wallet_adjust: [{ customer: string; grant: string; amount: string; reason: string }, WalletView];
  wallet_rules: [{ customer: string }, Rules];
  wallet_rules_set: [{ customer: string; rules: Rules }, Rules];
  alerts_list: [{ acknowledged: boolean }, Alert[]];
  alerts_acknowledge: [{ id: number | null }, number];
  notifications_get: [NoArgs, boolean];
  notifications_set: [{ enabled: boolean }, null];
  backups_list: [NoArgs, BackupFile[]];
  backup_restore: [{ name: string }, Restored];
}

/** A command's failure: branch on `code`, never on `message`. */
export class CommandError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  constructor(e: IpcError) {
    super(e.message);
    this.code = e.code;
    this.problems = e.problems;
  }
}

function isIpcError(e: unknown): e is IpcError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export async function call<K extends keyof Commands>(
  command: K,
  ...args: Commands[K][0] extends NoArgs ? [] : [Commands[K][0]]
): Promise<Commands[K][1]> {
  try {
    return await invoke<Commands[K][1]>(command, args[0] ?? {});
  } catch (e) {
    if (isIpcError(e)) throw new CommandError(e);
    throw new CommandError({ code: "internal", message: String(e), problems: [] });
  }
}
