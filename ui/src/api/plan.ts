// The plan editor's mirror of the engine's PlanFields (engine/src/plan.rs and
// pricing/mod.rs): a price is tagged by `model`; amounts are decimal strings.
// ts-rs cannot generate the tagged price enum, so this file is kept by hand;
// the editor's WebDriver test saves and reloads a plan through it.

export type Interval = "month" | "quarter" | "year";
export type Timing = "advance" | "arrears";
export type Model = "per_unit" | "graduated" | "volume" | "package" | "percentage";

export interface TierFields {
  up_to: string | null;
  unit_price: string;
  flat_fee?: string;
}

export type PriceFields =
  | { model: "per_unit"; unit_price: string; included?: string }
  | { model: "graduated"; tiers: TierFields[] }
  | { model: "volume"; tiers: TierFields[] }
  | { model: "package"; package_size: string; package_price: string; free?: string }
  | { model: "percentage"; percent: string; fixed_fee?: string; min_fee?: string; max_fee?: string };

export type ChargeFields = { meter: string; group?: string } & PriceFields;

export interface FeeFields {
  name: string;
  amount: string;
  timing: Timing;
}

export interface PlanFields {
  code: string;
  name: string;
  currency: string;
  interval: Interval;
  fees: FeeFields[];
  minimum_commitment?: string;
  charges: ChargeFields[];
}

export const MODELS: { value: Model; label: string }[] = [
  { value: "per_unit", label: "Per unit" },
  { value: "graduated", label: "Graduated tiers" },
  { value: "volume", label: "Volume tiers" },
  { value: "package", label: "Package" },
  { value: "percentage", label: "Percentage" },
];

/** A new price of a model, keeping what carries over (a unit price, the tiers). */
export function priceOf(model: Model, from?: PriceFields): PriceFields {
  const tiers = from && "tiers" in from ? from.tiers : [{ up_to: "1000", unit_price: "0.01" }, { up_to: null, unit_price: "0.008" }];
  const unit = from && "unit_price" in from ? from.unit_price : "0.01";
  switch (model) {
    case "per_unit": return { model, unit_price: unit };
    case "graduated": return { model, tiers };
    case "volume": return { model, tiers };
    case "package": return { model, package_size: "100", package_price: "1.00" };
    case "percentage": return { model, percent: "2.9", fixed_fee: "0.30" };
  }
}

/** The price part of a charge (what the calculator and the curve price). */
export function priceOfCharge(charge: ChargeFields): PriceFields {
  const price: Record<string, unknown> = { ...charge };
  delete price.meter;
  delete price.group;
  return price as PriceFields;
}

/** The plan as the engine reads it: optional fields left empty are omitted. */
export function toWire(plan: PlanFields): PlanFields {
  const clean = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as T;
  return clean({
    ...plan,
    fees: plan.fees.map((f) => ({ ...f })),
    charges: plan.charges.map((c) => {
      const out = clean({ ...c }) as ChargeFields;
      if ("tiers" in out) {
        (out as { tiers: TierFields[] }).tiers = out.tiers.map((t, i, all) =>
          clean({ ...t, up_to: i === all.length - 1 ? null : t.up_to || null }) as TierFields);
      }
      return out;
    }),
  });
}
