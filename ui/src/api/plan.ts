// The plan editor's helpers around the engine's PlanFields. The types are
// generated from Rust (generated/PlanFields.ts and the price fields' tagged
// union, PriceFields.ts), so the drift test covers them; only the editor's
// defaults and the wire clean-up live here.

import type { ChargeFields } from "./generated/ChargeFields";
import type { FeeFields } from "./generated/FeeFields";
import type { Interval } from "./generated/Interval";
import type { PlanFields } from "./generated/PlanFields";
import type { PriceFields } from "./generated/PriceFields";
import type { TierFields } from "./generated/TierFields";
import type { Timing } from "./generated/Timing";

export type { ChargeFields, FeeFields, Interval, PlanFields, PriceFields, TierFields, Timing };
export type Model = PriceFields["model"];

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
  delete price.maximum;
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
