import { useCallback, useEffect, useMemo, useState } from "react";
import { ActionIcon, Button, Card, Group, SegmentedControl, Select, SimpleGrid, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { IconTrash } from "@tabler/icons-react";
import { call, CommandError } from "../api/invoke";
import { formatDay, parseTypedDay } from "../api/format";
import { groupDigits, pricePer, unitPriceOf } from "../api/decimal";
import type { Meter } from "../api/generated/Meter";
import type { StoredCostRate } from "../api/generated/StoredCostRate";
import type { FxRate } from "../api/generated/FxRate";
import type { ReferenceData } from "../api/generated/ReferenceData";
import { notifyError, notifyOk } from "../notify";

type Errors = Record<string, string>;

/** Problems of a save keyed by field, or a notification for anything else. */
function fieldErrors(e: unknown, what: string): Errors {
  if (e instanceof CommandError && e.problems.length > 0) {
    return Object.fromEntries(e.problems.map((p) => [p.path, p.message]));
  }
  notifyError(e, what);
  return {};
}

const PER: { value: string; label: string }[] = [
  { value: "1", label: "per unit" }, { value: "1000", label: "per 1K" }, { value: "1000000", label: "per 1M" },
];

/**
 * A rate as a person reads it: per 1M units when a unit costs less than a
 * cent ("1.4 USD per 1M token"), else per unit ("0.35 USD per conversation").
 * The point is moved as text, never through a float.
 */
function costText(r: StoredCostRate, unit = "unit"): string {
  const tiny = /^0\.00\d*[1-9]/.test(r.unit_cost); // below a cent, and not zero
  return tiny ? `${groupDigits(pricePer(r.unit_cost, 1_000_000))} ${r.currency} per 1M ${unit}` : `${groupDigits(r.unit_cost)} ${r.currency} per ${unit}`;
}

/**
 * What usage costs the company: a rate per meter (and model, for a meter that
 * splits by one) from a day on, until a later rate of the same meter and model.
 * Drafts price each usage line with the rates in force on its days; a
 * finalized invoice keeps the costs it was issued with. Exchange rates convert
 * costs in another currency in reports only.
 */
export function CostsPage({ today }: { today: string }) {
  const [rates, setRates] = useState<StoredCostRate[] | null>(null);
  const [fx, setFx] = useState<FxRate[]>([]);
  const [meters, setMeters] = useState<Meter[]>([]);
  const [groups, setGroups] = useState<string[]>([]);
  const [currencies, setCurrencies] = useState<string[]>([]);
  const [per, setPer] = useState("1000000");
  const [form, setForm] = useState({ meter: "", group: "", currency: "USD", price: "", from: today });
  const [errors, setErrors] = useState<Errors>({});
  const [fxForm, setFxForm] = useState({ from: "USD", to: "EUR", rate: "", as_of: today });
  const [fxErrors, setFxErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    void call("costs_list").then(setRates).catch((e) => notifyError(e, "Cost rates could not be loaded"));
    void call("fx_list").then(setFx).catch((e) => notifyError(e, "Exchange rates could not be loaded"));
  }, []);
  useEffect(() => {
    load();
    void call("meters_list").then(setMeters).catch(notifyError);
    void call("reference_data").then((r: ReferenceData) => setCurrencies(r.currencies.map((c) => c.code))).catch(notifyError);
  }, [load]);

  const meter = meters.find((m) => m.code === form.meter);
  useEffect(() => {
    if (!meter?.group_by) { setGroups([]); return; }
    void call("usage_groups", { meter: meter.code, customer: null }).then(setGroups).catch(notifyError);
  }, [meter]);
  const nameOf = useMemo(() => new Map(meters.map((m) => [m.code, m.name])), [meters]);
  const splits = useMemo(() => new Set(meters.filter((m) => m.group_by).map((m) => m.code)), [meters]);
  const unitOf = useMemo(() => new Map(meters.map((m) => [m.code, m.unit ?? "unit"])), [meters]);

  const save = async () => {
    setBusy(true);
    try {
      const stored = await call("cost_save", { rate: {
        meter: form.meter, group: form.group.trim() || undefined, currency: form.currency,
        unit_cost: unitPriceOf(form.price, Number(per)), from: form.from,
      } });
      setRates(stored);
      setErrors({});
      notifyOk(`Cost of ${nameOf.get(form.meter) ?? form.meter}${form.group ? ` (${form.group})` : ""} from ${formatDay(form.from)} saved`);
    } catch (e) {
      setErrors(fieldErrors(e, "The cost rate was not saved"));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (r: StoredCostRate) => {
    try {
      setRates(await call("cost_remove", { meter: r.meter, group: r.group ?? null, from: r.from }));
      notifyOk(`Rate from ${formatDay(r.from)} removed: the one before it runs on`);
    } catch (e) {
      notifyError(e, "The rate was not removed");
    }
  };

  const saveFx = async () => {
    setBusy(true);
    try {
      setFx(await call("fx_save", { rate: { from: fxForm.from, to: fxForm.to, rate: fxForm.rate.trim(), as_of: fxForm.as_of } }));
      setFxErrors({});
      notifyOk(`1 ${fxForm.from} = ${fxForm.rate} ${fxForm.to} as of ${formatDay(fxForm.as_of)} saved`);
    } catch (e) {
      setFxErrors(fieldErrors(e, "The exchange rate was not saved"));
    } finally {
      setBusy(false);
    }
  };

  const perLabel = PER.find((p) => p.value === per)?.label ?? "";
  return (
    <Stack>
      <Title order={2}>Costs</Title>
      <Text size="sm" c="dimmed">
        What usage costs you, so every draft and invoice shows its margin. A rate applies from its day until a later rate of
        the same meter and model; a rate for every model applies where a model has none. Finalized invoices keep the costs
        they were issued with.
      </Text>
      <Card withBorder>
        <Stack gap="sm">
          <Title order={4}>Cost rates</Title>
          {rates && rates.length === 0 && <Text c="dimmed" size="sm">No cost rates yet: margins are not shown.</Text>}
          {rates && rates.length > 0 && (
            <Table striped data-testid="costs-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Meter</Table.Th><Table.Th>Model</Table.Th><Table.Th>From</Table.Th><Table.Th>Until</Table.Th>
                  <Table.Th ta="right">Cost</Table.Th><Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rates.map((r) => (
                  <Table.Tr key={`${r.meter}/${r.group ?? ""}/${r.from}`} data-testid={`cost-row-${r.meter}-${r.group ?? "all"}-${r.from}`}>
                    <Table.Td>{nameOf.get(r.meter) ?? r.meter}</Table.Td>
                    <Table.Td>{r.group ?? (splits.has(r.meter) ? <Text span c="dimmed" size="sm">every model</Text> : null)}</Table.Td>
                    <Table.Td>{formatDay(r.from)}</Table.Td>
                    <Table.Td>{r.until ? formatDay(r.until) : <Text span c="dimmed" size="sm">in force</Text>}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{costText(r, unitOf.get(r.meter))}</Table.Td>
                    <Table.Td w={40}>
                      <Tooltip label="Remove this rate">
                        <ActionIcon variant="subtle" color="red" onClick={() => void remove(r)} aria-label="Remove this rate"><IconTrash size={16} /></ActionIcon>
                      </Tooltip>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          <Group justify="space-between" mt="xs">
            <Text size="sm" fw={500}>Add a rate, or change the one of a meter, model and day</Text>
            <SegmentedControl size="xs" data={PER} value={per} onChange={setPer} data-testid="costs-per" />
          </Group>
          <SimpleGrid cols={{ base: 2, md: 5 }}>
            <Select label="Meter" searchable allowDeselect={false} data-testid="cost-meter" error={errors.meter}
              data={meters.map((m) => ({ value: m.code, label: m.name }))} value={form.meter || null}
              onChange={(v) => setForm({ ...form, meter: v ?? "", group: "" })} />
            <Select label="Model" placeholder={meter?.group_by ? "every model" : "not split"} clearable searchable disabled={!meter?.group_by}
              data-testid="cost-group" error={errors.group} data={groups} value={form.group || null}
              onChange={(v) => setForm({ ...form, group: v ?? "" })} />
            <Select label="Currency" searchable allowDeselect={false} data={currencies} value={form.currency} error={errors.currency}
              onChange={(v) => setForm({ ...form, currency: v ?? "USD" })} data-testid="cost-currency" />
            <TextInput label={`Cost ${perLabel}`} placeholder="2.50" value={form.price} error={errors.unit_cost} data-testid="cost-price"
              onChange={(e) => setForm({ ...form, price: e.currentTarget.value })} />
            <DateInput label="From" valueFormat="MMM D, YYYY" value={form.from} error={errors.from} data-testid="cost-from"
              dateParser={(t) => parseTypedDay(t)} onChange={(v) => v && setForm({ ...form, from: String(v).slice(0, 10) })} />
          </SimpleGrid>
          <Group>
            <Button onClick={() => void save()} loading={busy} disabled={!form.meter || !form.price.trim()} data-testid="cost-save">Save rate</Button>
          </Group>
        </Stack>
      </Card>
      <Card withBorder>
        <Stack gap="sm">
          <Title order={4}>Exchange rates</Title>
          <Text size="sm" c="dimmed">Used by reports for costs in another currency than the revenue, and always named there. Invoices never convert.</Text>
          {fx.length > 0 && (
            <Table striped data-testid="fx-table">
              <Table.Thead><Table.Tr><Table.Th>Rate</Table.Th><Table.Th>As of</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {fx.map((r) => (
                  <Table.Tr key={`${r.from}/${r.to}/${r.as_of}`}>
                    <Table.Td ff="monospace">1 {r.from} = {r.rate} {r.to}</Table.Td>
                    <Table.Td>{formatDay(r.as_of)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          <SimpleGrid cols={{ base: 2, md: 4 }}>
            <Select label="1 unit of" searchable allowDeselect={false} data={currencies} value={fxForm.from} error={fxErrors.from}
              onChange={(v) => setFxForm({ ...fxForm, from: v ?? "USD" })} />
            <Select label="In" searchable allowDeselect={false} data={currencies} value={fxForm.to} error={fxErrors.to}
              onChange={(v) => setFxForm({ ...fxForm, to: v ?? "EUR" })} />
            <TextInput label="Rate" placeholder="0.92" value={fxForm.rate} error={fxErrors.rate} data-testid="fx-rate"
              onChange={(e) => setFxForm({ ...fxForm, rate: e.currentTarget.value })} />
            <DateInput label="As of" valueFormat="MMM D, YYYY" value={fxForm.as_of} error={fxErrors.as_of}
              dateParser={(t) => parseTypedDay(t)} onChange={(v) => v && setFxForm({ ...fxForm, as_of: String(v).slice(0, 10) })} />
          </SimpleGrid>
          <Group>
            <Button variant="light" onClick={() => void saveFx()} loading={busy} disabled={!fxForm.rate.trim()} data-testid="fx-save">Save exchange rate</Button>
          </Group>
        </Stack>
      </Card>
    </Stack>
  );
}
