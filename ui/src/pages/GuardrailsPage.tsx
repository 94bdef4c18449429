import { useCallback, useEffect, useState } from "react";
import { ActionIcon, Badge, Button, Card, Code, CopyButton, Group, SegmentedControl, Select, Stack, Table, Text, TextInput, Title, Tooltip } from "@mantine/core";
import { IconTrash } from "@tabler/icons-react";
import { call, CommandError } from "../api/invoke";
import { formatDays } from "../api/format";
import { groupDigits } from "../api/decimal";
import type { AlertRuleFields } from "../api/generated/AlertRuleFields";
import type { Limit } from "../api/generated/Limit";
import type { Meter } from "../api/generated/Meter";
import type { PlanRow } from "../api/generated/PlanRow";
import { notifyError, notifyOk } from "../notify";

type Errors = Record<string, string>;
type Measure = "threshold" | "percent_of_maximum" | "percent_of_commitment";
type Target = "everyone" | "customer" | "plan";

interface RuleForm {
  id: string;
  kind: AlertRuleFields["kind"];
  meter: string | null;
  group: string;
  measure: Measure;
  value: string;
  target: Target;
  customer: string;
  plan: string | null;
}

const EMPTY: RuleForm = {
  id: "", kind: "usage", meter: null, group: "", measure: "threshold", value: "", target: "everyone", customer: "", plan: null,
};

/** A rule in words: "LLM tokens (gpt-4o) past 1,000,000 in a period, for globex". */
function ruleWords(r: AlertRuleFields, meterName: (code: string) => string): string {
  const what = r.kind === "usage"
    ? `${meterName(r.meter ?? "")}${r.group ? ` (${r.group})` : ""} past ${groupDigits(r.threshold ?? "")} in a period`
    : r.threshold !== undefined ? `the draft's total past ${groupDigits(r.threshold)}`
    : r.percent_of_maximum !== undefined ? `usage past ${r.percent_of_maximum} % of the spend cap`
    : `usage past ${r.percent_of_commitment ?? ""} % of the minimum commitment`;
  const whom = r.customer ? `customer ${r.customer}` : r.plan ? `plan ${r.plan}'s subscribers` : "every customer";
  return `${what}, for ${whom}`;
}

/** The form's rule as the engine reads it. */
function toRule(f: RuleForm): AlertRuleFields {
  const rule: AlertRuleFields = { id: f.id.trim(), kind: f.kind };
  if (f.kind === "usage") {
    if (f.meter) rule.meter = f.meter;
    if (f.group.trim()) rule.group = f.group.trim();
    rule.threshold = f.value.trim();
  } else {
    rule[f.measure] = f.value.trim();
  }
  if (f.target === "customer") rule.customer = f.customer.trim();
  if (f.target === "plan" && f.plan) rule.plan = f.plan;
  return rule;
}

function fromRule(r: AlertRuleFields): RuleForm {
  const measure: Measure = r.percent_of_maximum !== undefined ? "percent_of_maximum"
    : r.percent_of_commitment !== undefined ? "percent_of_commitment" : "threshold";
  return {
    id: r.id, kind: r.kind, meter: r.meter ?? null, group: r.group ?? "", measure,
    value: r[measure] ?? "", target: r.customer ? "customer" : r.plan ? "plan" : "everyone",
    customer: r.customer ?? "", plan: r.plan ?? null,
  };
}

/**
 * Guardrails: the usage and spend alert rules (saved here or by the catalog's
 * `alerts`; evaluated after every import and finalize, each raising one alert
 * per customer, period and threshold into the inbox), and the allowances of
 * every capped customer in its running period, for the company's API gateway:
 * copied as JSON or saved to a file, as `meterdesk limits export` prints them.
 */
export function GuardrailsPage() {
  const [rules, setRules] = useState<AlertRuleFields[] | null>(null);
  const [limits, setLimits] = useState<Limit[] | null>(null);
  const [meters, setMeters] = useState<Meter[]>([]);
  const [plans, setPlans] = useState<PlanRow[]>([]);
  const [form, setForm] = useState<RuleForm>(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    void call("alert_rules_list").then(setRules).catch((e) => notifyError(e, "The alert rules could not be loaded"));
    void call("limits_list").then(setLimits).catch((e) => notifyError(e, "The allowances could not be computed"));
  }, []);
  useEffect(() => {
    load();
    void call("meters_list").then(setMeters).catch(notifyError);
    void call("plans_list").then(setPlans).catch(notifyError);
  }, [load]);
  const meterName = (code: string) => meters.find((m) => m.code === code)?.name ?? code;
  const set = (patch: Partial<RuleForm>) => setForm((f) => ({ ...f, ...patch }));

  const save = async () => {
    setBusy(true);
    setErrors({});
    try {
      setRules(await call("alert_rule_save", { rule: toRule(form) }));
      notifyOk(`Saved the alert rule ${form.id.trim()}`);
      setForm(EMPTY);
    } catch (e) {
      if (e instanceof CommandError && e.problems.length > 0) {
        setErrors(Object.fromEntries(e.problems.map((p) => [p.path, p.message])));
      } else notifyError(e, "The rule could not be saved");
    } finally {
      setBusy(false);
    }
  };
  const remove = async (id: string) => {
    try {
      setRules(await call("alert_rule_remove", { id }));
    } catch (e) {
      notifyError(e, "The rule could not be removed");
    }
  };
  const saveLimits = async () => {
    try {
      const path = await call("json_save_dialog", { title: "Save the allowances", fileName: "limits.json" });
      if (!path) return;
      const n = await call("limits_save", { path });
      notifyOk(`Saved ${n} allowance${n === 1 ? "" : "s"} to ${path}`);
    } catch (e) {
      notifyError(e, "The allowances could not be saved");
    }
  };
  const valueLabel = form.kind === "usage" ? "Quantity" : form.measure === "threshold" ? "Amount" : "Percent";

  return (
    <Stack>
      <Title order={2}>Guardrails</Title>
      <Text c="dimmed" size="sm">
        Alert rules watch each customer's running period: a meter passing a quantity, or the draft passing an amount or a
        percent of its spend cap or commitment. Each fires once per customer, period and threshold, after an import or a
        finalize, into the inbox.
      </Text>
      <Card withBorder>
        <Stack gap="xs">
          <Title order={4}>Alert rules</Title>
          {rules && rules.length === 0 && <Text size="sm" c="dimmed" data-testid="rules-empty">No alert rule yet.</Text>}
          {rules && rules.length > 0 && (
            <Table data-testid="rules-table">
              <Table.Thead><Table.Tr><Table.Th>Rule</Table.Th><Table.Th>Kind</Table.Th><Table.Th>Watches</Table.Th><Table.Th /></Table.Tr></Table.Thead>
              <Table.Tbody>
                {rules.map((r) => (
                  <Table.Tr key={r.id} data-testid={`rule-row-${r.id}`} style={{ cursor: "pointer" }} onClick={() => { setForm(fromRule(r)); setErrors({}); }}>
                    <Table.Td ff="monospace">{r.id}</Table.Td>
                    <Table.Td><Badge variant="light" color={r.kind === "usage" ? "blue" : "grape"}>{r.kind}</Badge></Table.Td>
                    <Table.Td>{ruleWords(r, meterName)}</Table.Td>
                    <Table.Td>
                      <ActionIcon variant="subtle" color="red" aria-label={`Remove rule ${r.id}`} data-testid={`rule-remove-${r.id}`}
                        onClick={(e) => { e.stopPropagation(); void remove(r.id); }}><IconTrash size={16} /></ActionIcon>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          <Group align="start" gap="xs" data-testid="rule-form">
            <TextInput label="Rule id" placeholder="tokens_80" value={form.id} onChange={(e) => set({ id: e.currentTarget.value })}
              error={errors.id} w={140} data-testid="rule-id" />
            <Stack gap={4}>
              <Text size="sm" fw={500}>Watches</Text>
              <SegmentedControl value={form.kind} onChange={(v) => set({ kind: v as RuleForm["kind"], measure: "threshold" })}
                data={[{ value: "usage", label: "usage" }, { value: "spend", label: "spend" }]} data-testid="rule-kind" />
            </Stack>
            {form.kind === "usage" ? (
              <>
                <Select label="Meter" data={meters.map((m) => ({ value: m.code, label: m.name }))} value={form.meter}
                  onChange={(v) => set({ meter: v })} error={errors.meter} w={180} searchable data-testid="rule-meter" />
                <TextInput label="Group" placeholder="every group" value={form.group} onChange={(e) => set({ group: e.currentTarget.value })}
                  error={errors.group} w={120} />
              </>
            ) : (
              <Select label="Passes" w={230} allowDeselect={false} value={form.measure} onChange={(v) => v && set({ measure: v as Measure })}
                data={[{ value: "threshold", label: "an amount (the draft's total)" },
                  { value: "percent_of_maximum", label: "a percent of the spend cap" },
                  { value: "percent_of_commitment", label: "a percent of the commitment" }]} data-testid="rule-measure" />
            )}
            <TextInput label={valueLabel} value={form.value} onChange={(e) => set({ value: e.currentTarget.value })}
              error={errors[form.kind === "usage" ? "threshold" : form.measure]} w={120} styles={{ input: { fontFamily: "monospace" } }}
              data-testid="rule-value" />
            <Select label="For" w={150} allowDeselect={false} value={form.target} onChange={(v) => v && set({ target: v as Target })}
              data={[{ value: "everyone", label: "every customer" }, { value: "customer", label: "one customer" }, { value: "plan", label: "a plan's subscribers" }]}
              data-testid="rule-target" />
            {form.target === "customer" && (
              <TextInput label="Customer id" value={form.customer} onChange={(e) => set({ customer: e.currentTarget.value })}
                error={errors.customer} w={150} data-testid="rule-customer" />
            )}
            {form.target === "plan" && (
              <Select label="Plan" data={plans.map((p) => ({ value: p.fields.code, label: p.fields.name }))} value={form.plan}
                onChange={(v) => set({ plan: v })} error={errors.plan} w={160} data-testid="rule-plan" />
            )}
            <Button mt={25} onClick={() => void save()} loading={busy} data-testid="rule-save">Save rule</Button>
          </Group>
        </Stack>
      </Card>
      <Card withBorder>
        <Stack gap="xs">
          <Group justify="space-between">
            <Title order={4}>Allowances this period</Title>
            <Group gap="xs">
              <CopyButton value={JSON.stringify(limits ?? [], null, 2)}>
                {({ copied, copy }) => (
                  <Button size="xs" variant="light" onClick={copy} disabled={!limits} data-testid="limits-copy">{copied ? "Copied" : "Copy JSON"}</Button>
                )}
              </CopyButton>
              <Button size="xs" variant="light" onClick={() => void saveLimits()} disabled={!limits} data-testid="limits-save">Save…</Button>
            </Group>
          </Group>
          <Text size="xs" c="dimmed">Every customer under a spend cap: its maximum for the period running today, what its usage came to and what is left — for the API gateway to enforce (as <Code>meterdesk limits export</Code>).</Text>
          {limits && limits.length === 0 && <Text size="sm" c="dimmed" data-testid="limits-empty">No subscription runs under a spend cap today.</Text>}
          {limits && limits.length > 0 && (
            <Table data-testid="limits-table">
              <Table.Thead><Table.Tr><Table.Th>Customer</Table.Th><Table.Th>Period</Table.Th><Table.Th ta="right">Maximum</Table.Th>
                <Table.Th ta="right">Used</Table.Th><Table.Th ta="right">Remaining</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {limits.map((l) => (
                  <Table.Tr key={l.subscription} data-testid={`limit-row-${l.subscription}`}>
                    <Table.Td>{l.customer}</Table.Td>
                    <Table.Td>{formatDays(l.first_day, l.last_day)}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(l.maximum)} {l.currency}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(l.used)}</Table.Td>
                    <Table.Td ta="right" ff="monospace">
                      <Tooltip label={`${groupDigits(l.unbilled)} ${l.currency} above the cap is not billed`} disabled={l.unbilled === "0.00"}>
                        <Text span inherit c={l.remaining.replace(/[0.]/g, "") === "" ? "red" : undefined}>{groupDigits(l.remaining)}</Text>
                      </Tooltip>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
