import { useEffect, useState } from "react";
import { fieldName } from "../api/format";
import {
  ActionIcon, Alert, Autocomplete, Button, Card, Drawer, Grid, Group, Select, Stack, Text, TextInput, Title,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { useDebouncedValue } from "@mantine/hooks";
import { BarChart } from "@mantine/charts";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { call, CommandError } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { Aggregation } from "../api/generated/Aggregation";
import type { Meter } from "../api/generated/Meter";
import type { MeterFields } from "../api/generated/MeterFields";
import type { MonthUsage } from "../api/generated/MonthUsage";
import { notifyError, notifyOk } from "../notify";

export const AGGREGATIONS: { value: Aggregation; label: string }[] = [
  { value: "count", label: "count of events" },
  { value: "sum", label: "sum of a property" },
  { value: "max", label: "maximum of a property" },
  { value: "min", label: "minimum of a property" },
  { value: "avg", label: "average of a property" },
  { value: "unique_count", label: "unique values of a property" },
  { value: "latest", label: "latest value of a property" },
];

interface FormValues {
  code: string;
  name: string;
  unit: string;
  event: string;
  aggregation: Aggregation;
  property: string;
  filters: { key: string; value: string }[];
  groupBy: string;
}

function toForm(m: Meter | null): FormValues {
  return {
    code: m?.code ?? "",
    name: m?.name ?? "",
    unit: m?.unit ?? "",
    event: m?.event ?? "",
    aggregation: m?.aggregation ?? "count",
    property: m?.property ?? "",
    filters: Object.entries(m?.filters ?? {}).map(([key, value]) => ({ key, value })),
    groupBy: m?.group_by ?? "",
  };
}

function toFields(v: FormValues): MeterFields {
  const blank = (s: string) => (s.trim() === "" ? null : s.trim());
  return {
    code: v.code.trim(),
    name: v.name,
    unit: blank(v.unit),
    event: blank(v.event),
    aggregation: v.aggregation,
    property: v.aggregation === "count" ? null : blank(v.property),
    filters: Object.fromEntries(v.filters.filter((f) => f.key.trim() !== "").map((f) => [f.key.trim(), f.value])),
    group_by: blank(v.groupBy),
  };
}

/** The calendar month before today's, `YYYY-MM`. */
function lastMonth(): string {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

/** What the live preview asks for, as debounced together. */
type PreviewAsked = { fields: MeterFields; customer: string; month: string };

/** What the meter being edited reads for one customer and month, refreshed as it changes. */
function LivePreview({ fields }: { fields: MeterFields }) {
  const [customer, setCustomer] = useState("");
  const [options, setOptions] = useState<string[]>([]);
  const [month, setMonth] = useState(lastMonth);
  const [result, setResult] = useState<MonthUsage | { problem: string } | null>(null);
  const [debounced] = useDebouncedValue(JSON.stringify({ fields, customer, month }), 250);

  useEffect(() => {
    void call("customers_page", { search: customer, includeArchived: true, offset: 0, limit: 20 })
      .then((p) => setOptions(p.rows.map((c) => c.id))).catch(() => setOptions([]));
  }, [customer]);
  useEffect(() => {
    const { fields: f, customer: c, month: m } = JSON.parse(debounced) as PreviewAsked;
    if (!c.trim() || !/^\d{4}-\d{2}$/.test(m.trim())) {
      setResult(null);
      return;
    }
    let live = true;
    call("meter_preview", { fields: f, customer: c.trim(), month: m.trim(), group: null })
      .then((r) => live && setResult(r))
      .catch((e) => {
        if (!live) return;
        const problems = e instanceof CommandError ? e.problems : [];
        setResult({ problem: problems.length ? problems.map((p) => `${fieldName(p.path)}: ${p.message}`).join("; ") : String(e.message ?? e) });
      });
    return () => { live = false; };
  }, [debounced]);

  return (
    <Card withBorder data-testid="meter-preview">
      <Stack gap="xs">
        <Title order={5}>Live preview on imported usage</Title>
        <Group grow>
          <Autocomplete label="Customer id" data={options} value={customer} onChange={setCustomer} data-testid="meter-preview-customer" />
          <TextInput label="Month" value={month} onChange={(e) => setMonth(e.currentTarget.value)} data-testid="meter-preview-month" />
        </Group>
        {result === null && <Text size="sm" c="dimmed">Choose a customer and a month to see this meter's value.</Text>}
        {result && "problem" in result && <Text size="sm" c="orange" data-testid="meter-preview-problem">{result.problem}</Text>}
        {result && "value" in result && (
          <>
            <Text>
              <Text span fw={700} fz="xl" data-testid="meter-preview-value">{groupDigits(result.value)}</Text>{" "}
              <Text span c="dimmed" size="sm">{fields.unit ?? ""}{fields.group_by ? `, all ${fields.group_by} values together` : ""}</Text>
            </Text>
            <BarChart h={160} dataKey="day" data={result.days.map((d) => ({ day: d.day.slice(8), value: Number(d.value) }))}
              series={[{ name: "value", label: fields.name || "value", color: "teal.6" }]} tickLine="y"
              valueFormatter={(v) => v.toLocaleString()} />
          </>
        )}
      </Stack>
    </Card>
  );
}

/** Creates a meter (meter = null) or edits one, with a live preview; the engine validates. */
export function MeterEditor(props: { opened: boolean; meter: Meter | null; onClose: () => void; onSaved: () => void }) {
  const { meter } = props;
  const form = useForm<FormValues>({ initialValues: toForm(meter) });
  const [refused, setRefused] = useState<string | null>(null);

  useEffect(() => {
    form.setValues(toForm(meter));
    form.clearErrors();
    setRefused(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [meter, props.opened]);

  const save = async (v: FormValues) => {
    setRefused(null);
    try {
      const saved = await call("meter_save", { fields: toFields(v), create: meter === null });
      notifyOk(meter ? `Saved ${saved.name}` : `Created ${saved.name}`);
      props.onSaved();
    } catch (e) {
      if (e instanceof CommandError && e.problems.length > 0) {
        const formField: Record<string, keyof FormValues> = { group_by: "groupBy" };
        for (const p of e.problems) {
          const key = p.path.startsWith("filters") ? "filters" : formField[p.path] ?? (p.path as keyof FormValues);
          form.setFieldError(key, p.message);
        }
      } else if (e instanceof CommandError && e.code === "conflict") {
        setRefused(e.message);
      } else {
        notifyError(e, "The meter was not saved");
      }
    }
  };

  const v = form.values;
  const needsProperty = v.aggregation !== "count";
  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" size="xl"
      title={meter ? `Edit meter ${meter.code}` : "New meter"}>
      <Grid>
        <Grid.Col span={6}>
          <form onSubmit={form.onSubmit(save)} data-testid="meter-form">
            <Stack gap="sm">
              <TextInput label="Code" description="Lowercase letters, digits, _ . -; it cannot change later." required
                disabled={meter !== null} data-testid="meter-code" {...form.getInputProps("code")} />
              <TextInput label="Name" required data-testid="meter-name" {...form.getInputProps("name")} />
              <TextInput label="Unit" placeholder="token, call, GB" {...form.getInputProps("unit")} />
              <TextInput label="Event type counted" placeholder={v.code || "the code"} description="Empty: events whose type is the code"
                data-testid="meter-event" {...form.getInputProps("event")} />
              <Select label="Aggregation" data={AGGREGATIONS} allowDeselect={false} data-testid="meter-aggregation"
                {...form.getInputProps("aggregation")} />
              {needsProperty && (
                <TextInput label="Property" placeholder="tokens" required data-testid="meter-property" {...form.getInputProps("property")} />
              )}
              <Stack gap={4}>
                <Text size="sm" fw={500}>Only events where</Text>
                {v.filters.map((_, i) => (
                  <Group key={i} gap="xs" wrap="nowrap">
                    <TextInput placeholder="property" data-testid={`meter-filter-key-${i}`} {...form.getInputProps(`filters.${i}.key`)} />
                    <Text>=</Text>
                    <TextInput placeholder="value" data-testid={`meter-filter-value-${i}`} {...form.getInputProps(`filters.${i}.value`)} />
                    <ActionIcon variant="subtle" color="red" aria-label="Remove the filter" onClick={() => form.removeListItem("filters", i)}>
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Group>
                ))}
                {form.errors.filters && <Text size="xs" c="red">{form.errors.filters}</Text>}
                <Button variant="subtle" size="xs" leftSection={<IconPlus size={14} />} w="fit-content" data-testid="meter-filter-add"
                  onClick={() => form.insertListItem("filters", { key: "", value: "" })}>Add a filter</Button>
              </Stack>
              <TextInput label="Group by property" placeholder="model" description="Priced per value (e.g. per model)"
                {...form.getInputProps("groupBy")} />
              {refused && <Alert color="red" data-testid="meter-refused">{refused}</Alert>}
              <Group justify="flex-end">
                <Button variant="default" onClick={props.onClose}>Cancel</Button>
                <Button type="submit" data-testid="meter-save">Save</Button>
              </Group>
            </Stack>
          </form>
        </Grid.Col>
        <Grid.Col span={6}>
          <LivePreview fields={toFields(v)} />
        </Grid.Col>
      </Grid>
    </Drawer>
  );
}
