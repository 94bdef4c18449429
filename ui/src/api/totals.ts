// Totals of amounts the window picked or filtered, per currency, computed by
// the engine (the UI adds no money itself).
import { useEffect, useState } from "react";
import type { Amount } from "./generated/Amount";
import type { CurrencyTotal } from "./generated/CurrencyTotal";
import { call } from "./invoke";

/** The engine's per-currency totals of `amounts`, refreshed when they change. */
export function useTotals(amounts: Amount[]): CurrencyTotal[] {
  const [totals, setTotals] = useState<CurrencyTotal[]>([]);
  const key = JSON.stringify(amounts);
  useEffect(() => {
    let live = true;
    call("totals_by_currency", { amounts: JSON.parse(key) as Amount[] })
      .then((t) => { if (live) setTotals(t); })
      .catch(() => { if (live) setTotals([]); });
    return () => { live = false; };
  }, [key]);
  return totals;
}
