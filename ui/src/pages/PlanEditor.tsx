import { memo, useCallback, useEffect, useMemo, useState } from "react";
import {
  ActionIcon, Alert, Badge, Button, Card, Grid, Group, Loader, Modal, SegmentedControl, Select, Stack, Table, Text, TextInput, Title,
} from "@mantine/core";
import { LineChart } from "@mantine/charts";
import { useDebouncedValue, useHotkeys } from "@mantine/hooks";
import { IconArrowLeft, IconDeviceFloppy, IconPlus, IconTrash } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { setUnsaved } from "../leave";
import { groupDigits, pricePer, unitPriceOf } from "../api/decimal";
import { chartAmount, chartNumber, compactNumber, countOf, fieldName, formatMonth, unitFor } from "../api/format";
import type { Meter } from "../api/generated/Meter";
import type { PlanRow } from "../api/generated/PlanRow";
import type { Problem } from "../api/generated/Problem";
import type { Quote } from "../api/generated/Quote";
import type { TrialReport } from "../api/generated/TrialReport";
import type { TypicalQuantity } from "../api/generated/TypicalQuantity";
import {
  MODELS, priceOf, priceOfCharge, toWire, type ChargeFields, type FeeFields, type Model, type PlanFields, type PriceFields,
  type TierFields,
} from "../api/plan";
import { notifyError, notifyOk } from "../notify";

type ProblemAt = (path: string) => string | undefined;

const NEW_PLAN: PlanFields = { code: "", name: "", currency: "USD", interval: "month", fees: [], charges: [] };

/** Quantities for a price's curve: 0 to past its last tier (or a sensible span), in 40 steps. */
function curveQuantities(price: PriceFields): string[] {
  let top = 1000;
  if ("tiers" in price) {
    const bounds = price.tiers.map((t) => Number(t.up_to)).filter((n) => Number.isFinite(n) && n > 0);
    if (bounds.length) top = Math.max(...bounds) * 1.5;
  } else if (price.model === "per_unit") {
    top = Math.max(1000, Number(price.included ?? 0) * 2);
  } else if (price.model === "package") {
    top = Math.max(10, Number(price.package_size) * 10);
  }
  if (!Number.isFinite(top) || top <= 0) top = 1000;
  const step = top / 40;
  const whole = step >= 1;
  return Array.from({ length: 41 }, (_, i) => (whole ? String(Math.round(i * step)) : (i * step).toFixed(6)));
}

function DecimalInput({ label, value, onChange, error, testId, w, placeholder, disabled }: {
  label?: string; value: string | undefined; onChange: (v: string) => void; error?: string; testId?: string; w?: number;
  placeholder?: string; disabled?: boolean;
}) {
  return (
    <TextInput label={label} value={value ?? ""} onChange={(e) => onChange(e.currentTarget.value)} error={error} w={w}
      placeholder={placeholder} disabled={disabled} data-testid={testId} styles={{ input: { fontFamily: "monospace" } }} />
  );
}

/** What a unit price may be entered per, and how the choice is labelled ("per 1K tokens"). */
const PER = [{ per: 1, short: "" }, { per: 1000, short: "1K " }, { per: 1_000_000, short: "1M " }];

/** "per 1,000,000 tokens" for a header or a label. */
function perText(per: number, unit: string): string {
  const u = unit || "unit";
  return per === 1 ? `per ${u}` : `per ${per.toLocaleString()} ${unitFor(per, u)}`;
}

/** The scale a price reads best at: per million for fractions of a thousandth, per thousand below a cent. */
function naturalPer(price: PriceFields): number {
  const prices = ("tiers" in price ? price.tiers.map((t) => t.unit_price) : "unit_price" in price ? [price.unit_price] : [])
    .map(Number).filter((n) => Number.isFinite(n) && n > 0);
  if (!prices.length) return 1;
  const top = Math.max(...prices);
  return top < 0.0001 ? 1_000_000 : top < 0.01 ? 1000 : 1;
}

/**
 * A unit price typed per `per` units: what is shown is the price per 1,000
 * (or 1,000,000), what the plan keeps is per unit, the point moved as text.
 * The typed text stays as typed ("2.50") until the plan's value changes from
 * elsewhere or the scale does.
 */
function PriceInput({ label, value, per, onChange, error, testId, w }: {
  label?: string; value: string | undefined; per: number; onChange: (unitPrice: string) => void; error?: string; testId?: string;
  w?: number;
}) {
  const [text, setText] = useState(() => pricePer(value ?? "", per));
  const [shown, setShown] = useState({ value, per });
  if (shown.value !== value || shown.per !== per) {
    if (shown.per !== per || unitPriceOf(text, per) !== value) setText(pricePer(value ?? "", per));
    setShown({ value, per });
  }
  return (
    <DecimalInput label={label} value={text} error={error} testId={testId} w={w} onChange={(v) => {
      const unitPrice = unitPriceOf(v, per);
      setText(v);
      setShown({ value: unitPrice, per });
      onChange(unitPrice);
    }} />
  );
}

/** A tier table: "up to" (the last is unbounded), unit price and flat fee; validated as you type. */
function TierTable({ tiers, onChange, at, prefix, testId, per, unit }: {
  tiers: TierFields[]; onChange: (t: TierFields[]) => void; at: ProblemAt; prefix: string; testId: string; per: number; unit: string;
}) {
  const set = (i: number, patch: Partial<TierFields>) => onChange(tiers.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  const add = () => {
    const last = tiers.length - 1;
    const before = tiers[last - 1]?.up_to;
    const bound = before && Number.isFinite(Number(before)) ? String(Number(before) * 10) : "1000";
    onChange([...tiers.slice(0, last), { up_to: bound, unit_price: tiers[last].unit_price }, tiers[last]]);
  };
  return (
    <Stack gap={4}>
      <Table withTableBorder fz="sm" data-testid={testId}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{unit ? `${unitFor(2, unit)[0].toUpperCase()}${unitFor(2, unit).slice(1)}` : "Units"} up to</Table.Th>
            <Table.Th>Price {perText(per, unit)}</Table.Th><Table.Th>Flat fee</Table.Th><Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tiers.map((t, i) => {
            const last = i === tiers.length - 1;
            return (
              <Table.Tr key={i}>
                <Table.Td>
                  {last ? <Text size="sm" c="dimmed">and above</Text> : (
                    <DecimalInput value={t.up_to ?? ""} onChange={(v) => set(i, { up_to: v })} error={at(`${prefix}.tiers[${i}].up_to`)}
                      testId={`${testId}-${i}-up-to`} />
                  )}
                </Table.Td>
                <Table.Td>
                  <PriceInput value={t.unit_price} per={per} onChange={(v) => set(i, { unit_price: v })}
                    error={at(`${prefix}.tiers[${i}].unit_price`)} testId={`${testId}-${i}-unit-price`} />
                </Table.Td>
                <Table.Td>
                  <DecimalInput value={t.flat_fee} onChange={(v) => set(i, { flat_fee: v })} error={at(`${prefix}.tiers[${i}].flat_fee`)}
                    placeholder="0" testId={`${testId}-${i}-flat-fee`} />
                </Table.Td>
                <Table.Td w={40}>
                  {!last && (
                    <ActionIcon variant="subtle" color="red" aria-label="Remove the tier" onClick={() => onChange(tiers.filter((_, j) => j !== i))}>
                      <IconTrash size={16} />
                    </ActionIcon>
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      {at(`${prefix}.tiers`) && <Text size="xs" c="red">{at(`${prefix}.tiers`)}</Text>}
      <Group><Button size="xs" variant="subtle" leftSection={<IconPlus size={14} />} onClick={add}>Add a tier</Button></Group>
    </Stack>
  );
}

/**
 * The price's curve (amount against quantity) and a calculator, priced by the
 * engine. The calculator starts from the charge's real usage (the median
 * subscriber's quantity in the month the trial prices) until a quantity is typed.
 */
function PriceTools({ price, currency, unit, testId, typical, month, maximum }: {
  price: PriceFields; currency: string; unit: string; testId: string; typical: TypicalQuantity | null; month: string | null;
  /** The charge's maximum a period: the curve is drawn held at it. */
  maximum?: string;
}) {
  const cap = maximum && Number.isFinite(Number(maximum)) && Number(maximum) > 0 ? Number(maximum) : null;
  const [wire] = useDebouncedValue(JSON.stringify(price), 250);
  const [curve, setCurve] = useState<Quote[] | null>(null);
  const [typed, setTyped] = useState<string | null>(null);
  const quantity = typed ?? typical?.quantity ?? "1000";
  const [quote, setQuote] = useState<Quote | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const p = JSON.parse(wire) as PriceFields;
    call("price_quote", { price: p, currency, quantities: curveQuantities(p) })
      .then((q) => { setCurve(q); setProblem(null); })
      .catch((e) => { setCurve(null); setProblem(e instanceof Error ? e.message : String(e)); });
  }, [wire, currency]);
  useEffect(() => {
    if (!quantity.trim()) { setQuote(null); return; }
    call("price_quote", { price: JSON.parse(wire) as PriceFields, currency, quantities: [quantity.trim()] })
      .then((q) => setQuote(q[0] ?? null)).catch(() => setQuote(null));
  }, [wire, currency, quantity]);
  const whose = typical?.basis === "subscribers" ? "subscriber" : "customer";
  const from = typed !== null || !typical ? undefined : typical.of === 1
    ? `The usage of the one ${whose} who used it in ${formatMonth(month)}`
    : `The median usage of ${countOf(typical.of, whose)} in ${formatMonth(month)}`;
  return (
    <Grid>
      <Grid.Col span={{ base: 12, md: 7 }}>
        {problem ? <Text size="xs" c="dimmed">The curve appears once the price is valid.</Text> : curve && (
          <LineChart h={170} dataKey="quantity" curveType="linear" withDots={false} data-testid={`${testId}-curve`}
            data={curve.map((q) => ({ quantity: Number(q.quantity), amount: cap === null ? Number(q.amount) : Math.min(cap, Number(q.amount)) }))}
            series={[{ name: "amount", label: `Amount (${currency})`, color: "teal.6" }]}
            referenceLines={cap === null ? [] : [{ y: cap, label: `maximum ${groupDigits(maximum ?? "")}`, color: "red.6" }]}
            xAxisProps={{ tickFormatter: (v: number) => compactNumber(v) }} yAxisProps={{ tickFormatter: (v: number) => compactNumber(v) }}
            tooltipProps={{ labelFormatter: (v) => `${chartNumber(Number(v))} ${unitFor(Number(v), unit || "unit")}` }}
            valueFormatter={(v) => chartAmount(v, currency)} />
        )}
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 5 }}>
        <Stack gap={4}>
          <TextInput label={`Calculator: a quantity${unit ? ` (${unitFor(2, unit)})` : ""}`} value={quantity} description={from}
            onChange={(e) => setTyped(e.currentTarget.value)} data-testid={`${testId}-calc`} styles={{ input: { fontFamily: "monospace" } }} />
          {quote && (
            <>
              <Text size="sm" data-testid={`${testId}-calc-amount`}>
                {cap !== null && Number(quote.amount) > cap
                  ? `${groupDigits(maximum ?? "")} ${currency} (held at the maximum; ${groupDigits(quote.amount)} uncapped)`
                  : `${groupDigits(quote.amount)} ${currency}`}
              </Text>
              {quote.priced.steps.map((s, i) => (
                <Text key={i} size="xs" c="dimmed" ff="monospace">
                  {s.label}: {groupDigits(s.quantity)} × {s.unit_price}{s.flat_fee !== "0" ? ` + ${s.flat_fee}` : ""} = {groupDigits(s.amount)}
                </Text>
              ))}
            </>
          )}
        </Stack>
      </Grid.Col>
    </Grid>
  );
}

/** One charge as a card: its meter, group, model and price, with the curve and calculator. */
/**
 * One charge. Memoized: typing elsewhere in the plan (its name, another
 * charge) leaves this card, its price curve and calculator as they were.
 */
const ChargeCard = memo(function ChargeCard({ charge, index, meters, currency, at, onChangeAt, onRemoveAt, typical, month }: {
  charge: ChargeFields; index: number; meters: Meter[]; currency: string; at: ProblemAt;
  onChangeAt: (i: number, c: ChargeFields) => void; onRemoveAt: (i: number) => void;
  typical: TypicalQuantity | null; month: string | null;
}) {
  const onChange = (c: ChargeFields) => onChangeAt(index, c);
  const onRemove = () => onRemoveAt(index);
  const prefix = `charges[${index}]`;
  const meter = meters.find((m) => m.code === charge.meter);
  const price = priceOfCharge(charge);
  const [per, setPer] = useState(() => naturalPer(price));
  const unit = meter?.unit ?? "";
  const setPrice = (p: PriceFields) => onChange({
    meter: charge.meter, ...(charge.group ? { group: charge.group } : {}), ...(charge.maximum ? { maximum: charge.maximum } : {}), ...p,
  } as ChargeFields);
  const field = (name: string, label: string, placeholder?: string) => (
    <DecimalInput label={label} value={(price as unknown as Record<string, string | undefined>)[name]} placeholder={placeholder}
      onChange={(v) => setPrice({ ...price, [name]: v } as PriceFields)} error={at(`${prefix}.${name}`)} testId={`charge-${index}-${name}`} w={160} />
  );
  return (
    <Card withBorder data-testid={`charge-${index}`}>
      <Stack gap="sm">
        <Group align="end" wrap="nowrap">
          <Select label="Meter" data={meters.map((m) => ({ value: m.code, label: `${m.name} (${m.code})` }))} value={charge.meter || null}
            onChange={(v) => onChange({ ...charge, meter: v ?? "" })} error={at(`${prefix}.meter`)} searchable w={240}
            data-testid={`charge-${index}-meter`} />
          <TextInput label="Group" placeholder={meter?.group_by ? `every ${meter.group_by}` : "not grouped"} disabled={!meter?.group_by}
            value={charge.group ?? ""} onChange={(e) => onChange({ ...charge, group: e.currentTarget.value || undefined })}
            error={at(`${prefix}.group`)} w={180} data-testid={`charge-${index}-group`} />
          <Select label="Price model" data={MODELS} value={charge.model} allowDeselect={false}
            onChange={(v) => v && setPrice(priceOf(v as Model, price))} w={190} data-testid={`charge-${index}-model`} />
          <ActionIcon variant="subtle" color="red" mb={6} aria-label="Remove the charge" onClick={onRemove}><IconTrash size={18} /></ActionIcon>
        </Group>
        {(price.model === "per_unit" || price.model === "graduated" || price.model === "volume") && (
          <Group gap="xs">
            <Text size="sm" fw={500}>Prices entered</Text>
            <SegmentedControl size="xs" data={PER.map((p) => ({ value: String(p.per), label: `per ${p.short}${unitFor(p.per, unit || "unit")}` }))}
              value={String(per)} onChange={(v) => setPer(Number(v))} data-testid={`charge-${index}-per`} />
          </Group>
        )}
        {price.model === "per_unit" && (
          <Group align="start">
            <PriceInput label={`Price ${perText(per, unit)}`} value={price.unit_price} per={per} w={200}
              onChange={(v) => setPrice({ ...price, unit_price: v })} error={at(`${prefix}.unit_price`)} testId={`charge-${index}-unit_price`} />
            {field("included", `Included ${unit ? unitFor(2, unit) : "units"}`, "0")}
          </Group>
        )}
        {(price.model === "graduated" || price.model === "volume") && (
          <>
            <Text size="xs" c="dimmed">
              {price.model === "graduated" ? "Each tier prices the units that fall in it." : "The tier the whole quantity falls in prices all of it."}
              {" "}A tier's flat fee is charged when any unit falls in it.
            </Text>
            <TierTable tiers={price.tiers} onChange={(tiers) => setPrice({ ...price, tiers })} at={at} prefix={prefix}
              testId={`charge-${index}-tiers`} per={per} unit={unit} />
          </>
        )}
        {price.model === "package" && (
          <Group>{field("package_size", "Package size")}{field("package_price", "Package price")}{field("free", "Free units", "0")}</Group>
        )}
        {price.model === "percentage" && (
          <Group>{field("percent", "Percent")}{field("fixed_fee", "Fixed fee per event", "0")}{field("min_fee", "Minimum per event")}{field("max_fee", "Maximum per event")}</Group>
        )}
        <Group align="end">
          <DecimalInput label="Maximum a period" value={charge.maximum} placeholder="no cap"
            onChange={(v) => onChange({ ...charge, maximum: v || undefined })} error={at(`${prefix}.maximum`)} w={160}
            testId={`charge-${index}-maximum`} />
          <Text size="xs" c="dimmed" mb={8}>The line is held at it; its steps show what the cap took off.</Text>
        </Group>
        <PriceTools price={price} currency={currency} unit={unit} testId={`charge-${index}`} typical={typical} month={month}
          maximum={charge.maximum} />
      </Stack>
    </Card>
  );
});

/**
 * The draft priced on its subscribers' real usage for a month, next to what
 * they pay now. It takes the plan as the editor's debounced wire text, so
 * typing does not draw it again; pricing runs in the engine, off the UI thread.
 */
const TrialPanel = memo(function TrialPanel({ planWire, valid, months, onPriced }: {
  planWire: string; valid: boolean; months: string[]; onPriced: (report: TrialReport | null, month: string | null) => void;
}) {
  const [month, setMonth] = useState<string | null>(months[0] ?? null);
  const [wire] = useDebouncedValue(planWire, 200);
  const [report, setReport] = useState<TrialReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pricing, setPricing] = useState(false);
  useEffect(() => {
    const fields = JSON.parse(wire) as PlanFields;
    if (!valid || !month || !fields.code) return;
    // Only the latest answer counts: an earlier one arriving late is dropped.
    let current = true;
    setPricing(true);
    call("plan_try", { fields, month })
      .then((r) => { if (current) { setReport(r); setError(null); onPriced(r, month); } })
      .catch((e) => { if (current) setError(e instanceof Error ? e.message : String(e)); })
      .finally(() => { if (current) setPricing(false); });
    return () => { current = false; };
  }, [wire, month, valid, onPriced]);
  const trials = report?.rows ?? null;
  const signed = (d: string) => (d.startsWith("-") ? `−${groupDigits(d.slice(1))}` : d === "0.00" || /^0(\.0+)?$/.test(d) ? groupDigits(d) : `+${groupDigits(d)}`);
  const pct = (p: string | null) => (p === null ? "" : ` (${p.startsWith("-") ? `−${p.slice(1)}` : /^0(\.0)?$/.test(p) ? p : `+${p}`} %)`);
  const tone = (d: string | null) => (d === null || /^-?0(\.0+)?$/.test(d) ? "dimmed" : d.startsWith("-") ? "red" : "teal");
  return (
    <Card withBorder data-testid="plan-trial">
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={4}>This plan on real usage</Title>
          {pricing && <Loader size="xs" data-testid="plan-trial-pricing" aria-label="Pricing" />}
        </Group>
        <Text size="xs" c="dimmed">The draft, before it is saved, priced on its subscribers' imported usage (their overrides and discounts kept), next to what they pay now.</Text>
        <Select label="Periods starting in" data={months.map((m) => ({ value: m, label: formatMonth(m) }))} value={month} onChange={setMonth}
          allowDeselect={false} w={200} data-testid="plan-trial-month" />
        {!valid && <Text size="sm" c="dimmed">Fix the plan's problems to price it.</Text>}
        {error && <Alert color="red">{error}</Alert>}
        {valid && trials && trials.length === 0 && (
          <Text size="sm" c="dimmed">No subscriber of this plan has a period starting in {formatMonth(month)}.</Text>
        )}
        {valid && trials && trials.length > 0 && (
          <Table fz="sm" horizontalSpacing={6} data-testid="plan-trial-table" style={{ opacity: pricing ? 0.6 : 1 }}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Customer</Table.Th><Table.Th ta="right">Now</Table.Th>
                <Table.Th ta="right">Draft{report!.totals.length === 1 ? ` (${report!.totals[0].currency})` : ""}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {trials.map((t) => (
                <Table.Tr key={t.subscription} data-testid={`plan-trial-${t.subscription}`}>
                  <Table.Td style={{ overflowWrap: "anywhere" }}>
                    <Text size="sm">{t.customer_name || t.customer}</Text>
                    <Text size="xs" c="dimmed">{t.customer}, v{t.plan_version}</Text>
                  </Table.Td>
                  <Table.Td ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }}>{groupDigits(t.current)}</Table.Td>
                  <Table.Td ta="right" ff="monospace" data-testid={`plan-trial-${t.subscription}-proposed`}>
                    {t.proposed ? (
                      <>
                        <Text size="sm" ff="monospace" style={{ whiteSpace: "nowrap" }}>
                          {groupDigits(t.proposed)}{report!.totals.length === 1 ? "" : ` ${t.currency}`}
                        </Text>
                        <Text size="xs" ff="monospace" c={tone(t.difference)} style={{ whiteSpace: "nowrap" }}
                          data-testid={`plan-trial-${t.subscription}-difference`}>
                          {t.difference !== null && signed(t.difference)}{pct(t.change_percent)}
                        </Text>
                        {t.proposed_margin?.margin_percent && (
                          <Text size="xs" ff="monospace" data-testid={`plan-trial-${t.subscription}-margin`}
                            c={t.proposed_margin.margin.startsWith("-") ? "red" : "dimmed"}>
                            {t.current_margin?.margin_percent ? `${t.current_margin.margin_percent}→` : ""}{t.proposed_margin.margin_percent} % margin
                          </Text>
                        )}
                      </>
                    ) : <Text span size="xs" c="red">{t.problem ?? "Not billed in this month"}</Text>}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
            <Table.Tfoot>
              {report!.totals.map((x) => (
                <Table.Tr key={x.currency} data-testid={`plan-trial-total-${x.currency}`}>
                  <Table.Th>All {countOf(x.subscriptions, "subscription")}</Table.Th>
                  <Table.Th ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }}>{groupDigits(x.current)}</Table.Th>
                  <Table.Th ta="right" ff="monospace">
                    <Text size="sm" fw={700} ff="monospace" style={{ whiteSpace: "nowrap" }}>{groupDigits(x.proposed)} {x.currency}</Text>
                    <Text size="xs" ff="monospace" c={tone(x.difference)} style={{ whiteSpace: "nowrap" }}
                      data-testid={`plan-trial-total-${x.currency}-difference`}>
                      {signed(x.difference)}{pct(x.change_percent)}
                    </Text>
                  </Table.Th>
                </Table.Tr>
              ))}
            </Table.Tfoot>
          </Table>
        )}
      </Stack>
    </Card>
  );
});

/**
 * The visual plan editor: fees, a commitment and charges as cards (tier
 * tables checked as you type, each price's curve and a calculator), and the
 * draft priced on real usage before it is saved.
 */
export function PlanEditor({ row, meters, currencies, months, onBack, onSaved }: {
  row: PlanRow | null; meters: Meter[]; currencies: string[]; months: string[];
  onBack: () => void; onSaved: (row: PlanRow) => void;
}) {
  const [plan, setPlan] = useState<PlanFields>(row ? row.fields : NEW_PLAN);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [checked] = useDebouncedValue(JSON.stringify(toWire(plan)), 200);
  const [saving, setSaving] = useState(false);
  // What the trial read of each charge's usage: the calculators start from it.
  const [typical, setTypical] = useState<{ of: (TypicalQuantity | null)[]; month: string | null }>({ of: [], month: null });
  // Kept as they were when the same (so the memoized charge cards do not draw again).
  const priced = useCallback((r: TrialReport | null, month: string | null) => setTypical((prev) => {
    const same = (x: TypicalQuantity | null | undefined, y: TypicalQuantity | null) =>
      x === y || (!!x && !!y && x.quantity === y.quantity && x.of === y.of && x.basis === y.basis);
    const of = (r?.typical ?? []).map((t, i) => (same(prev.of[i], t) ? prev.of[i] : t));
    const unchanged = month === prev.month && of.length === prev.of.length && of.every((t, i) => t === prev.of[i]);
    return unchanged ? prev : { of, month };
  }), []);
  useEffect(() => {
    call("plan_check", { fields: JSON.parse(checked) as PlanFields }).then(setProblems).catch((e) => notifyError(e));
  }, [checked]);
  const byPath = useMemo(() => new Map(problems.map((p) => [p.path, p.message])), [problems]);
  // A charge named by its meter and group in the list of problems.
  const chargeName = (list: string, i: number) => {
    const c = list === "charges" ? plan.charges[i] : undefined;
    if (!c) return undefined;
    const meter = meters.find((m) => m.code === c.meter)?.name ?? c.meter;
    return `Charge ${i + 1} (${meter}${c.group ? `, ${c.group}` : ""})`;
  };
  const at: ProblemAt = useCallback((path) => byPath.get(path), [byPath]);
  const set = (patch: Partial<PlanFields>) => setPlan((p) => ({ ...p, ...patch }));
  const setFee = (i: number, patch: Partial<FeeFields>) => set({ fees: plan.fees.map((f, j) => (j === i ? { ...f, ...patch } : f)) });
  // Stable, so that the memoized charge cards draw again only when theirs changes.
  const setChargeAt = useCallback((i: number, c: ChargeFields) =>
    setPlan((p) => ({ ...p, charges: p.charges.map((x, j) => (j === i ? c : x)) })), []);
  const removeChargeAt = useCallback((i: number) =>
    setPlan((p) => ({ ...p, charges: p.charges.filter((_, j) => j !== i) })), []);
  const valid = problems.length === 0 && checked === JSON.stringify(toWire(plan));
  // What the plan was when opened (or saved): "Ready to save" only once something changed.
  const [original, setOriginal] = useState(() => JSON.stringify(toWire(row ? row.fields : NEW_PLAN)));
  const dirty = JSON.stringify(toWire(plan)) !== original;
  const [leaving, setLeaving] = useState(false);
  useEffect(() => {
    setUnsaved(dirty ? `your changes to ${row ? `plan ${row.fields.name}` : "the new plan"}` : null);
    return () => setUnsaved(null);
  }, [dirty, row]);
  const back = () => (dirty ? setLeaving(true) : onBack());

  const save = async () => {
    setSaving(true);
    try {
      const saved = await call("plan_save", { fields: toWire(plan), create: !row });
      setOriginal(JSON.stringify(toWire(plan)));
      setUnsaved(null);
      const kept = row && saved.version > row.version && row.subscriptions > 0
        ? `; its ${row.subscriptions} subscriptions keep version ${row.version} until moved` : "";
      notifyOk(`Saved ${saved.fields.code} as version ${saved.version}${kept}`);
      onSaved(saved);
    } catch (e) {
      notifyError(e, "The plan could not be saved");
    } finally {
      setSaving(false);
    }
  };

  // Ctrl+S saves, from any field.
  useHotkeys([["mod+S", () => { if (valid && dirty && !saving) void save(); }]], []);
  useHotkeys([["alt+ArrowLeft", () => { if (!leaving) back(); }]]);

  return (
    <Stack maw={1200}>
      <Modal opened={leaving} onClose={() => setLeaving(false)} title="Leave without saving?" data-testid="plan-leave">
        <Stack>
          <Text size="sm">The changes to {row ? `plan ${row.fields.name}` : "the new plan"} are not saved; leaving loses them.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setLeaving(false)} data-testid="plan-leave-stay">Keep editing</Button>
            <Button color="red" onClick={() => { setUnsaved(null); setLeaving(false); onBack(); }} data-testid="plan-leave-discard">Discard the changes</Button>
          </Group>
        </Stack>
      </Modal>
      {/* Kept in view while the charges scroll: the plan's state and its save. */}
      <Group justify="space-between" py="xs" style={{ position: "sticky", top: "var(--app-shell-header-height, 52px)", zIndex: 5,
        background: "var(--mantine-color-body)", borderBottom: "1px solid var(--mantine-color-default-border)" }}>
        <Group>
          <ActionIcon variant="subtle" onClick={back} aria-label="Back to the plans" data-testid="plan-back"><IconArrowLeft /></ActionIcon>
          <Title order={2} title={row ? `code ${row.fields.code}` : undefined}>{row ? `Plan ${row.fields.name}` : "New plan"}</Title>
          {row && <Badge variant="light">version {row.version}</Badge>}
          {row && row.subscriptions > 0 && <Badge variant="light" color="gray">{row.subscriptions} subscriptions</Badge>}
        </Group>
        <Group>
          <Text size="sm" c={problems.length ? "red" : dirty ? "orange" : "dimmed"} data-testid="plan-problems">
            {problems.length ? `${problems.length} problem${problems.length > 1 ? "s" : ""}` : dirty ? "Ready to save" : "No changes"}
          </Text>
          <Button leftSection={<IconDeviceFloppy size={16} />} onClick={save} disabled={!valid || !dirty} loading={saving}
            title="Save (Ctrl+S)" data-testid="plan-save">
            Save
          </Button>
        </Group>
      </Group>
      {row && row.subscriptions > 0 && (
        <Text size="sm" c="dimmed">Saving makes version {row.version + 1}; subscriptions keep the version they hold until they are moved.</Text>
      )}
      <Grid>
        <Grid.Col span={{ base: 12, md: 8 }}>
          <Stack>
            <Card withBorder>
              <Group align="start">
                <TextInput label="Code" value={plan.code} onChange={(e) => set({ code: e.currentTarget.value })} disabled={!!row}
                  error={at("code")} w={160} data-testid="plan-code" />
                <TextInput label="Name" value={plan.name} onChange={(e) => set({ name: e.currentTarget.value })} error={at("name")} w={220}
                  data-testid="plan-name" />
                <Select label="Currency" data={currencies} value={plan.currency} onChange={(v) => v && set({ currency: v })} searchable
                  allowDeselect={false} error={at("currency")} w={110} data-testid="plan-currency" />
                <Stack gap={4}>
                  <Text size="sm" fw={500}>Billed every</Text>
                  <SegmentedControl value={plan.interval} onChange={(v) => set({ interval: v as PlanFields["interval"] })}
                    data={[{ value: "month", label: "month" }, { value: "quarter", label: "quarter" }, { value: "year", label: "year" }]} />
                </Stack>
                <DecimalInput label="Minimum commitment" value={plan.minimum_commitment} placeholder="none"
                  onChange={(v) => set({ minimum_commitment: v || undefined })} error={at("minimum_commitment")} w={170} testId="plan-commitment" />
                <DecimalInput label="Spend cap (maximum)" value={plan.maximum} placeholder="no cap"
                  onChange={(v) => set({ maximum: v || undefined })} error={at("maximum")} w={170} testId="plan-maximum" />
              </Group>
            </Card>
            <Card withBorder>
              <Stack gap="xs">
                <Title order={4}>Fixed fees</Title>
                <Text size="xs" c="dimmed">Prorated by days for a partial period. In advance: may also be billed alone at the period's start.</Text>
                {plan.fees.map((f, i) => (
                  <Group key={i} align="end">
                    <TextInput label="Name" value={f.name} onChange={(e) => setFee(i, { name: e.currentTarget.value })} error={at(`fees[${i}].name`)} w={240} />
                    <DecimalInput label="Amount" value={f.amount} onChange={(v) => setFee(i, { amount: v })} error={at(`fees[${i}].amount`)} w={140}
                      testId={`fee-${i}-amount`} />
                    <Select label="Billed" data={[{ value: "advance", label: "in advance" }, { value: "arrears", label: "in arrears" }]} value={f.timing}
                      onChange={(v) => v && setFee(i, { timing: v as FeeFields["timing"] })} allowDeselect={false} w={140} />
                    <ActionIcon variant="subtle" color="red" mb={6} aria-label="Remove the fee" onClick={() => set({ fees: plan.fees.filter((_, j) => j !== i) })}>
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Group>
                ))}
                <Group>
                  <Button size="xs" variant="subtle" leftSection={<IconPlus size={14} />}
                    onClick={() => set({ fees: [...plan.fees, { name: "Platform fee", amount: "0.00", timing: "advance" }] })}>Add a fee</Button>
                </Group>
              </Stack>
            </Card>
            <Title order={4}>Charges</Title>
            {plan.charges.length === 0 && <Text size="sm" c="dimmed">No usage is charged yet.</Text>}
            {plan.charges.map((c, i) => (
              <ChargeCard key={i} charge={c} index={i} meters={meters} currency={plan.currency} at={at}
                onChangeAt={setChargeAt} onRemoveAt={removeChargeAt} typical={typical.of[i] ?? null} month={typical.month} />
            ))}
            <Group>
              <Button variant="light" leftSection={<IconPlus size={16} />} data-testid="charge-add"
                onClick={() => set({ charges: [...plan.charges, { meter: meters[0]?.code ?? "", ...priceOf("per_unit") } as ChargeFields] })}>
                Add a charge
              </Button>
            </Group>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Stack style={{ position: "sticky", top: "calc(var(--app-shell-header-height, 52px) + 64px)" }}>
            <TrialPanel planWire={checked} valid={valid} months={months} onPriced={priced} />
            {problems.length > 0 && (
              <Alert color="red" title="To fix before saving" data-testid="plan-problem-list">
                {problems.map((p) => (
                  <Text key={p.path} size="xs" data-testid="plan-problem">
                    <Text span size="xs" fw={600}>{fieldName(p.path, chargeName)}</Text>: {p.message}
                  </Text>
                ))}
              </Alert>
            )}
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
