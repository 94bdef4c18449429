// Exact conversions between a fraction ("0.0825") and the percent people type
// ("8.25"): moving the decimal point as text, never through a float.

const PLAIN = /^\d*\.?\d*$/;

function shift(value: string, places: number): string {
  const [whole, frac = ""] = value.split(".");
  let digits = (whole || "0") + frac;
  let point = (whole || "0").length + places;
  if (point <= 0) {
    digits = "0".repeat(1 - point) + digits;
    point = 1;
  }
  digits = digits.padEnd(point, "0");
  const intPart = digits.slice(0, point).replace(/^0+(?=\d)/, "");
  const fracPart = digits.slice(point).replace(/0+$/, "");
  return fracPart ? `${intPart}.${fracPart}` : intPart;
}

/** "8.25" → "0.0825"; null when the text is not a plain non-negative number. */
export function percentToFraction(percent: string): string | null {
  const t = percent.trim().replace(/%$/, "").trim();
  if (t === "" || !PLAIN.test(t) || t === ".") return null;
  return shift(t, -2);
}

/** "0.0825" → "8.25". */
export function fractionToPercent(fraction: string): string {
  return PLAIN.test(fraction) ? shift(fraction, 2) : fraction;
}

/**
 * A unit price as entered per `per` units (1, 1,000 or 1,000,000): the point
 * moved as text, exactly. "0.000002" per 1,000,000 → "2"; the text itself when
 * it is not a plain number (the engine names what is wrong with it).
 */
export function pricePer(unitPrice: string, per: number): string {
  const t = unitPrice.trim();
  if (per === 1 || t === "" || t === "." || !PLAIN.test(t)) return unitPrice;
  return shift(t, Math.round(Math.log10(per)));
}

/** The unit price of a price entered per `per` units: "2" per 1,000,000 → "0.000002". */
export function unitPriceOf(entered: string, per: number): string {
  const t = entered.trim();
  if (per === 1 || t === "" || t === "." || !PLAIN.test(t)) return entered;
  return shift(t, -Math.round(Math.log10(per)));
}

/** "10982088.5" → "10,982,088.5": thousands grouped as text, the digits untouched. */
export function groupDigits(value: string): string {
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(value);
  if (!m) return value;
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (m[3] ?? "");
}

/** Decimal strings as integers of one scale (the longest of them), exactly. */
function scaled(values: string[]): { scale: number; ints: bigint[] } {
  const scale = Math.max(0, ...values.map((v) => (v.split(".")[1] ?? "").length));
  const ints = values.map((v) => {
    const negative = v.startsWith("-");
    const [w, f = ""] = v.replace("-", "").split(".");
    const n = BigInt((w || "0") + f.padEnd(scale, "0"));
    return negative ? -n : n;
  });
  return { scale, ints };
}

/** Orders two decimal strings exactly: negative, zero or positive like a sort comparator. */
export function compareDecimals(a: string, b: string): number {
  const { ints: [x, y] } = scaled([a, b]);
  return x < y ? -1 : x > y ? 1 : 0;
}
