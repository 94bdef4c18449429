// How the console writes numbers, days, months and moments for people: in the
// user's own format (the system locale), times in the workspace's zone. Pure
// text around what the engine computed; no arithmetic on money.

let zone = "UTC";

/** The workspace's IANA zone, in which moments are shown (set when a workspace opens). */
export function setWorkspaceZone(z: string) {
  zone = z || "UTC";
}

export function workspaceZone(): string {
  return zone;
}

/** "2026-10-31" as a Date at UTC midnight (a calendar day, no zone), or null. */
function dayAt(day: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
}

const DAY_FORMAT = () => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

/** A local date "2026-10-31" as the user writes dates: "Oct 31, 2026" (no zone: it is already a day). */
export function formatDay(day: string | null | undefined): string {
  if (!day) return "";
  const d = dayAt(day);
  return d ? DAY_FORMAT().format(d) : day;
}

/** "2026-10" → "October 2026". */
export function formatMonth(month: string | null | undefined): string {
  if (!month) return "";
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) return month;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  return new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" }).format(d);
}

/** "2026-10" → "2026-10-31": the month's last day. */
export function lastDayOf(month: string): string {
  return /^\d{4}-\d{2}$/.test(month) ? addDays(addDays(`${month}-28`, 4).slice(0, 7) + "-01", -1) : month;
}

/** A first and last local day as a range: "Oct 1 – 31, 2026" in the user's format. */
export function formatDays(first: string, last: string): string {
  const a = dayAt(first);
  const b = dayAt(last);
  return a && b ? DAY_FORMAT().formatRange(a, b) : `${first} to ${last}`;
}

/** An instant (RFC 3339) in the workspace's zone: "Nov 24, 2026, 10:00 AM EST". */
export function formatMoment(instant: string | null | undefined): string {
  if (!instant) return "";
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) return instant;
  // (dateStyle and timeStyle cannot be combined with a zone name: the fields are spelled out.)
  return new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZone: zone, timeZoneName: "short",
  }).format(d);
}

/** A count with its unit, grouped and pluralized: "1 event", "12,480 events". */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** A unit after a quantity, pluralized when it is not exactly one: "1 token", "2.5 tokens". */
export function unitFor(quantity: string | number, unit: string): string {
  if (!unit) return "";
  const one = String(quantity) === "1";
  if (one || /s$|[²³%]$|^[A-Z]{2,}$/.test(unit)) return unit;
  return `${unit}s`;
}

/** An axis tick: 1,200,000 → "1.2M", 45,000 → "45K", 12.5 → "12.5" (the user's digits). */
export function compactNumber(v: number): string {
  return new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(v);
}

/** A chart's hover value: grouped digits in the user's format, up to 6 decimals. */
export function chartNumber(v: number): string {
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 }).format(v);
}

/** A chart's hover amount in a currency: "1,234.56 USD". */
export function chartAmount(v: number, currency: string): string {
  return `${new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v)} ${currency}`;
}

/** The workspace-zone day an instant falls on, as "YYYY-MM-DD". */
export function localDay(instant: string): string {
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) return instant;
  const parts = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: zone }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** The day `n` days after "YYYY-MM-DD" (a calendar step, no zone involved). */
export function addDays(day: string, n: number): string {
  const d = dayAt(day);
  if (!d) return day;
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/**
 * A day typed by hand: "2026-10-01", or as the user writes dates ("Oct 1, 2026",
 * "10/1/2026"); "YYYY-MM-DD", or null when it is not a day.
 */
export function parseTypedDay(text: string): string | null {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return t;
  if (!/\d{4}/.test(t)) return null; // a year must be written: "Oct 1" alone is not a day yet
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) return null;
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Words for the fields of the engine's problem paths. */
const FIELD_WORDS: Record<string, string> = {
  up_to: "units up to", unit_price: "price", flat_fee: "flat fee", package_size: "package size", package_price: "package price",
  fixed_fee: "fixed fee per event", min_fee: "minimum per event", max_fee: "maximum per event", minimum_commitment: "minimum commitment",
  group_by: "split by", event: "event type", anchor_day: "anchor day", plan_version: "plan version", tax_rate: "tax rate",
  tax_exempt: "tax exemption", tax_id: "tax id", invoice_prefix: "invoice prefix", payment_terms_days: "payment terms",
  account_number: "account number", routing_number: "routing number", iban: "IBAN", bic: "BIC",
};
const LIST_WORDS: Record<string, string> = {
  charges: "charge", fees: "fee", tiers: "tier", discounts: "discount", overrides: "price override", filters: "filter",
  address: "address line", grants: "grant",
};

/**
 * A problem's field as people name it: "charges[0].tiers[1].up_to" → "Charge 1, tier 2, units up to".
 * `name` may name a list item better ("charges", 0 → "Charge 1 (Input tokens, gpt-4o)").
 */
export function fieldName(path: string, name?: (list: string, index: number) => string | undefined): string {
  const parts = path.split(".").map((segment, i) => {
    const item = /^(\w+)\[(\d+)\]$/.exec(segment);
    if (item) {
      const index = Number(item[2]);
      const own = name?.(item[1], index);
      if (own) return own;
      return `${LIST_WORDS[item[1]] ?? item[1].replace(/_/g, " ")} ${index + 1}`;
    }
    return FIELD_WORDS[segment] ?? (i === 0 && segment === "$" ? "the file" : segment.replace(/_/g, " "));
  });
  const text = parts.join(", ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
