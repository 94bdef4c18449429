import { useCallback, useEffect, useState } from "react";
import { formatDay, formatDays, formatMonth } from "../api/format";
import {
  Alert, Anchor, Badge, Button, Card, Group, Loader, Modal, NumberInput, Select, SimpleGrid, Stack, Table, Text, TextInput, Title,
} from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { Sparkline } from "@mantine/charts";
import { IconArrowLeft, IconEdit, IconFileText, IconPlus } from "@tabler/icons-react";
import { useHotkeys } from "@mantine/hooks";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { CustomerOverview } from "../api/generated/CustomerOverview";
import type { Draft } from "../api/generated/Draft";
import { AllowanceBar } from "../components/AllowanceBar";
import type { PlanRow } from "../api/generated/PlanRow";
import type { SubscriptionRow } from "../api/generated/SubscriptionRow";
import type { SubscriptionState } from "../api/generated/SubscriptionState";
import { STANDING_COLOR } from "../components/InvoiceSheet";
import { fieldErrors } from "../components/GrantForm";
import { SignalList } from "../components/Signals";
import { StatementDialog } from "../components/StatementDialog";
import { notifyError, notifyOk } from "../notify";

const STATE_COLOR: Record<SubscriptionState, string> = { upcoming: "blue", active: "teal", ended: "gray" };
const NOWRAP = { whiteSpace: "nowrap" } as const;

/** "1,234.50 USD" */
function money(amount: string, currency: string): string {
  return `${groupDigits(amount)} ${currency}`;
}

type Dialog =
  | { kind: "create" }
  | { kind: "change"; sub: SubscriptionRow }
  | { kind: "end"; sub: SubscriptionRow }
  | null;

/**
 * One customer at a glance: details, subscriptions (current and past, with
 * their terms), the running period's draft, invoices and what is owed, credit
 * notes, the wallet, six months of usage per meter, late usage and alerts.
 * Subscriptions are started, changed on a date (both drafts shown before
 * saving) and ended here.
 */
export function CustomerPage({ id, onBack, onEdit, onOpenInvoice, onOpenWallet }: {
  id: string;
  onBack: () => void;
  onEdit: (overview: CustomerOverview) => void;
  onOpenInvoice: (number: string) => void;
  onOpenWallet: (customer: string) => void;
}) {
  const [o, setO] = useState<CustomerOverview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [terms, setTerms] = useState<SubscriptionRow | null>(null);
  const [version, setVersion] = useState(0);
  const [adjusting, setAdjusting] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    call("customer_overview", { customer: id })
      .then((v) => { if (live) { setO(v); setError(null); } })
      .catch((e) => { if (live) setError(e instanceof Error ? e.message : String(e)); });
    return () => { live = false; };
  }, [id, version]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  const [statementOpen, setStatementOpen] = useState(false);
  // Alt+Left goes back to the list, as in a browser.
  useHotkeys([["alt+ArrowLeft", () => { if (!dialog && !terms) onBack(); }]]);

  const adjust = async (number: string) => {
    setAdjusting(number);
    try {
      const adj = await call("late_adjust", { number });
      notifyOk(`${adj.number} bills the late usage of ${number}: ${money(adj.total, adj.currency)}`);
      reload();
    } catch (e) {
      notifyError(e, "The adjustment was not issued");
    } finally {
      setAdjusting(null);
    }
  };

  if (error) return <Stack><Button variant="subtle" w="fit-content" leftSection={<IconArrowLeft size={16} />} onClick={onBack}>Customers</Button><Alert color="red">{error}</Alert></Stack>;
  if (!o) return <Loader data-testid="customer-page-loading" />;
  const c = o.customer;
  // Signals show with their figures under "Worth a look"; the wallet's alerts here.
  const walletAlerts = o.alerts.filter((a) => a.kind !== "churn_risk" && a.kind !== "power_user");

  return (
    <Stack maw={1200} data-testid="customer-page" data-customer={c.id}>
      <Group justify="space-between" align="flex-start">
        <div>
          <Button variant="subtle" size="compact-sm" leftSection={<IconArrowLeft size={16} />} onClick={onBack} data-testid="customer-back">Customers</Button>
          <Group gap="xs" mt={4}>
            <Title order={2} data-testid="customer-page-name">{c.name}</Title>
            {c.archived && <Badge color="gray">archived</Badge>}
          </Group>
          <Text size="sm" c="dimmed">{c.id} · billed in {o.wallet_currency}{c.email ? ` · ${c.email}` : ""}{c.tax_exempt ? ` · tax exempt (${c.tax_exempt})` : ""}</Text>
        </div>
        <Group>
          <Button variant="default" leftSection={<IconEdit size={16} />} onClick={() => onEdit(o)} data-testid="customer-edit">Edit details</Button>
          <Button variant="default" leftSection={<IconFileText size={16} />} onClick={() => setStatementOpen(true)} data-testid="customer-statement">Statement…</Button>
          <Button leftSection={<IconPlus size={16} />} onClick={() => setDialog({ kind: "create" })} data-testid="subscription-new">Put on a plan</Button>
        </Group>
      </Group>

      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Card withBorder data-testid="card-owed">
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Owed</Text>
          {o.owed.length === 0 ? <Text size="lg" fw={600}>Nothing owed</Text> : o.owed.map((t) => (
            <Text key={t.currency} size="lg" fw={600}>{money(t.total, t.currency)}</Text>
          ))}
          {o.overdue.map((t) => <Text key={t.currency} size="sm" c="red">{money(t.total, t.currency)} overdue</Text>)}
        </Card>
        <Card withBorder data-testid="card-wallet" style={{ cursor: "pointer" }} onClick={() => onOpenWallet(c.id)}>
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Wallet</Text>
          <Text size="lg" fw={600}>{money(o.wallet_balance, o.wallet_currency)}</Text>
          <Text size="sm" c="dimmed">Prepaid credit · open the wallet</Text>
        </Card>
        <Card withBorder data-testid="card-running">
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>This period so far</Text>
          {o.running.length === 0 ? <Text size="lg" fw={600}>No active subscription</Text> : o.running.map((d) => (
            <div key={d.subscription}>
              <Text size="lg" fw={600}>{money(d.total, d.currency)}</Text>
              <Text size="sm" c="dimmed">{o.subscriptions.find((s) => s.fields.id === d.subscription)?.plan_name ?? d.plan}, {formatDays(d.first_day, d.last_day)} (draft)</Text>
              {d.allowance && <AllowanceBar allowance={d.allowance} currency={d.currency} testId={`running-allowance-${d.subscription}`} />}
              {d.margin && (
                <Text size="sm" c={d.margin.margin.startsWith("-") ? "red" : "dimmed"} data-testid={`running-margin-${d.subscription}`}>
                  margin {money(d.margin.margin, d.currency)}{d.margin.margin_percent !== null ? ` (${d.margin.margin_percent} %)` : ""}
                </Text>
              )}
            </div>
          ))}
        </Card>
      </SimpleGrid>

      {o.margins.length > 0 && (
        <Card withBorder data-testid="card-margin">
          <Text size="xs" c="dimmed" tt="uppercase" fw={700}>Margin, {formatMonth(o.margin_month)}</Text>
          {o.margins.map((m) => (
            <Group key={m.currency} gap="lg" data-testid={`customer-margin-${m.currency}`}>
              <Text size="sm">Revenue {money(m.revenue, m.currency)}</Text>
              <Text size="sm">Usage cost {money(m.cost, m.currency)}</Text>
              <Text size="sm" fw={600} c={m.margin.startsWith("-") ? "red" : "teal"}>
                Margin {money(m.margin, m.currency)}{m.margin_percent !== null ? ` (${m.margin_percent} %)` : ""}
              </Text>
              {m.converted_with.length > 0 && <Text size="xs" c="dimmed">costs converted at {m.converted_with.join(", ")}</Text>}
            </Group>
          ))}
        </Card>
      )}

      {o.signals.length > 0 && (
        <Card withBorder data-testid="customer-signals">
          <Title order={4} mb="xs">Worth a look</Title>
          <SignalList signals={o.signals} withNames={false} testId="customer-signal-list" />
        </Card>
      )}

      {walletAlerts.length > 0 && (
        <Alert color="orange" title="Open alerts" data-testid="customer-alerts">
          {walletAlerts.map((a) => <Text key={a.id} size="sm">{a.message}</Text>)}
        </Alert>
      )}

      <Card withBorder>
        <Title order={4} mb="xs">Subscriptions</Title>
        {o.subscriptions.length === 0 ? <Text c="dimmed" size="sm">Not on a plan yet. “Put on a plan” starts a subscription.</Text> : (
          <Table data-testid="subscriptions-table" verticalSpacing="xs">
            <Table.Thead>
              <Table.Tr><Table.Th>Plan</Table.Th><Table.Th>From</Table.Th><Table.Th>Until</Table.Th><Table.Th>Periods begin on</Table.Th><Table.Th>Terms</Table.Th><Table.Th>State</Table.Th><Table.Th /></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {o.subscriptions.map((s) => (
                <Table.Tr key={s.fields.id} data-testid={`subscription-row-${s.fields.id}`}>
                  <Table.Td>
                    <Text size="sm" fw={500}>{s.plan_name}</Text>
                    <Text size="xs" c="dimmed">version {s.fields.plan_version}{s.fields.plan_version !== s.latest_version ? ` (latest ${s.latest_version})` : ""} · {s.fields.id}</Text>
                  </Table.Td>
                  <Table.Td style={NOWRAP}><Text size="sm">{formatDay(s.fields.start)}</Text></Table.Td>
                  <Table.Td style={NOWRAP}><Text size="sm">{s.fields.end ? formatDay(s.fields.end) : "open-ended"}</Text>{s.fields.end && <Text size="xs" c="dimmed">not included</Text>}</Table.Td>
                  <Table.Td style={NOWRAP}><Text size="sm">day {s.fields.anchor_day}</Text></Table.Td>
                  <Table.Td>{s.terms.length === 0 ? <Text size="sm" c="dimmed">plan prices</Text> : s.terms.map((t) => <Text key={t} size="xs">{t}</Text>)}</Table.Td>
                  <Table.Td style={NOWRAP}><Badge color={STATE_COLOR[s.state]} variant="light" style={{ overflow: "visible" }}>{s.state}</Badge></Table.Td>
                  <Table.Td style={NOWRAP}>
                    {s.state !== "ended" && (
                      <Group gap={4} wrap="nowrap">
                        <Button size="compact-xs" variant="default" onClick={() => setTerms(s)} data-testid={`subscription-terms-${s.fields.id}`}>Prices, discounts & cap…</Button>
                        <Button size="compact-xs" variant="default" onClick={() => setDialog({ kind: "change", sub: s })} data-testid={`subscription-change-${s.fields.id}`}>Change plan…</Button>
                        <Button size="compact-xs" variant="default" color="red" onClick={() => setDialog({ kind: "end", sub: s })} data-testid={`subscription-end-${s.fields.id}`}>End…</Button>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>

      {o.late.length > 0 && (
        <Card withBorder data-testid="customer-late">
          <Title order={4} mb="xs">Late usage</Title>
          {o.late.map((l) => (
            <Group key={l.invoice} justify="space-between">
              <Text size="sm">
                {l.late_events === 1 ? "1 late event" : `${l.late_events.toLocaleString()} late events`} in {formatDays(l.first_day, l.last_day)} ({l.invoice}):{" "}
                {l.problem ?? `adds ${money(l.adds.total, l.currency)}`}
              </Text>
              {!l.problem && (
                <Button size="compact-sm" loading={adjusting === l.invoice} onClick={() => void adjust(l.invoice)} data-testid={`late-adjust-${l.invoice}`}>
                  Issue adjustment
                </Button>
              )}
            </Group>
          ))}
        </Card>
      )}

      <Card withBorder>
        <Title order={4} mb="xs">Invoices</Title>
        {o.invoices.length === 0 ? <Text c="dimmed" size="sm">No invoice finalized yet.</Text> : (
          <Table data-testid="customer-invoices" verticalSpacing={4}>
            <Table.Thead>
              <Table.Tr><Table.Th>Number</Table.Th><Table.Th>Period</Table.Th><Table.Th>Due</Table.Th><Table.Th ta="right">Total</Table.Th><Table.Th ta="right">Owed</Table.Th><Table.Th>Standing</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {o.invoices.map((e) => (
                <Table.Tr key={e.number}>
                  <Table.Td><Anchor size="sm" component="button" onClick={() => onOpenInvoice(e.number)} data-testid={`customer-invoice-${e.number}`}>{e.number}</Anchor>
                    {e.kind === "adjustment" && <Badge ml={6} size="xs" variant="outline" tt="none">late usage</Badge>}
                    {e.kind === "advance" && <Badge ml={6} size="xs" variant="outline" tt="none">advance</Badge>}
                  </Table.Td>
                  <Table.Td><Text size="sm">{formatDays(e.first_day, e.last_day)}</Text></Table.Td>
                  <Table.Td><Text size="sm">{formatDay(e.due_date)}</Text></Table.Td>
                  <Table.Td ta="right"><Text size="sm" ff="monospace">{money(e.total, e.currency)}</Text></Table.Td>
                  <Table.Td ta="right"><Text size="sm" ff="monospace">{money(e.outstanding, e.currency)}</Text></Table.Td>
                  <Table.Td><Badge color={STANDING_COLOR[e.standing]} variant="light">{e.standing}</Badge></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {o.credit_notes.length > 0 && (
          <>
            <Title order={5} mt="md" mb={4}>Credit notes</Title>
            <Table data-testid="customer-credit-notes" verticalSpacing={4}>
              <Table.Tbody>
                {o.credit_notes.map((n) => (
                  <Table.Tr key={n.number}>
                    <Table.Td><Text size="sm">{n.number}</Text></Table.Td>
                    <Table.Td><Anchor size="sm" component="button" onClick={() => onOpenInvoice(n.invoice)}>{n.invoice}</Anchor></Table.Td>
                    <Table.Td><Text size="sm">{formatDay(n.issue_date)}</Text></Table.Td>
                    <Table.Td><Text size="sm">{n.reason}</Text></Table.Td>
                    <Table.Td ta="right"><Text size="sm" ff="monospace">−{money(n.total, n.currency)}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </>
        )}
      </Card>

      <Card withBorder>
        <Title order={4} mb="xs">Usage, last six months</Title>
        {o.usage.length === 0 ? <Text c="dimmed" size="sm">No metered charges on its plans.</Text> : (
          <Table data-testid="customer-usage" verticalSpacing={4}>
            <Table.Thead>
              <Table.Tr><Table.Th>Meter</Table.Th>{o.usage[0].months.map((m) => <Table.Th key={m.month} ta="right">{m.month}</Table.Th>)}<Table.Th>Trend</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {o.usage.map((u) => (
                <Table.Tr key={u.meter}>
                  <Table.Td><Text size="sm">{u.name}</Text>{u.unit && <Text size="xs" c="dimmed">{u.unit}s</Text>}</Table.Td>
                  {u.months.map((m) => <Table.Td key={m.month} ta="right"><Text size="sm" ff="monospace">{groupDigits(m.value)}</Text></Table.Td>)}
                  <Table.Td w={120}><Sparkline w={110} h={28} data={u.months.map((m) => Number(m.value))} curveType="linear" fillOpacity={0.2} /></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>

      {terms && (
        <TermsDialog sub={terms} currency={o.wallet_currency} onClose={() => setTerms(null)}
          onSaved={() => { setTerms(null); notifyOk(`Saved the prices, discounts and spend cap of ${terms.plan_name}`); reload(); }} />
      )}
      {statementOpen && <StatementDialog customer={c.id} customerName={c.name} today={o.today} onClose={() => setStatementOpen(false)} />}
      <SubscriptionDialog dialog={dialog} customer={c.id} customerName={c.name} currency={o.wallet_currency} today={o.today} onClose={() => setDialog(null)}
        onSaved={(message) => { setDialog(null); notifyOk(message); reload(); }} />
    </Stack>
  );
}

/** One draft in a plan change's preview: the plan, its days and its total. */
function PreviewRow({ d, planName }: { d: Draft; planName: string }) {
  return (
    <Table.Tr>
      <Table.Td><Text size="sm">{planName}</Text></Table.Td>
      <Table.Td><Text size="sm">{formatDays(d.first_day, d.last_day)}</Text></Table.Td>
      <Table.Td><Text size="sm">{d.active_days} of {d.period_days} days</Text></Table.Td>
      <Table.Td ta="right"><Text size="sm" ff="monospace">{money(d.total, d.currency)}</Text></Table.Td>
    </Table.Tr>
  );
}

/**
 * Put on a plan, change plan on a date, or end: the engine checks every rule
 * (the catalog's, and that no invoiced period is touched); its problems show
 * next to their field. A change shows the two drafts around the date first.
 */
function SubscriptionDialog({ dialog, customer, customerName, currency, today, onClose, onSaved }: {
  dialog: Dialog;
  customer: string;
  customerName: string;
  currency: string;
  today: string;
  onClose: () => void;
  onSaved: (message: string) => void;
}) {
  const [plans, setPlans] = useState<PlanRow[]>([]);
  const [plan, setPlan] = useState<string | null>(null);
  const [date, setDate] = useState<string | null>(today);
  const [anchor, setAnchor] = useState<number | string>("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string | null>(null);
  const [preview, setPreview] = useState<Draft[] | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!dialog) return;
    setPlan(null); setDate(today); setAnchor(""); setErrors({}); setOther(null); setPreview(null);
    call("plans_list").then(setPlans).catch(() => setPlans([]));
  }, [dialog, today]);

  if (!dialog) return null;
  const planName = (code: string) => plans.find((p) => p.fields.code === code)?.fields.name ?? code;
  // A customer is billed in one currency: only its plans are offered.
  const options = plans.filter((p) => p.fields.currency === currency).map((p) => ({ value: p.fields.code, label: `${p.fields.name} (${p.fields.code})` }));
  const failed = (e: unknown) => {
    const { fields, other } = fieldErrors(e);
    // The dates of a change or an end are the form's one date field.
    if (fields.start || fields.on) fields.date = fields.start ?? fields.on;
    setErrors(fields);
    setOther(other ?? (Object.keys(fields).some((k) => !["plan", "date", "start", "on", "anchor_day"].includes(k))
      ? Object.values(fields).join("; ") : null));
  };
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setErrors({}); setOther(null);
    try { await f(); } catch (e) { failed(e); } finally { setBusy(false); }
  };

  const title = dialog.kind === "create" ? "Put on a plan" : dialog.kind === "change" ? `Change plan of ${dialog.sub.plan_name}` : `End ${dialog.sub.plan_name}`;
  const submit = () => run(async () => {
    if (dialog.kind === "create") {
      const made = await call("subscription_create", {
        fields: { id: "", customer, plan: plan ?? "", start: date ?? "", anchor_day: anchor === "" ? undefined : Number(anchor) },
      });
      onSaved(`${customerName} is on ${planName(made.plan)} from ${formatDay(made.start)}`);
    } else if (dialog.kind === "change") {
      const [, next] = await call("subscription_change", { id: dialog.sub.fields.id, plan: plan ?? "", on: date ?? "" });
      onSaved(`${customerName} moves to ${planName(next.plan)} on ${formatDay(next.start)}`);
    } else {
      const ended = await call("subscription_end", { id: dialog.sub.fields.id, on: date ?? "" });
      onSaved(`${customerName}'s ${dialog.sub.plan_name} ends on ${formatDay(ended.end)} (its last day is the day before)`);
    }
  });
  const showPreview = () => run(async () => {
    if (dialog.kind !== "change") return;
    setPreview(await call("subscription_change_preview", { id: dialog.sub.fields.id, plan: plan ?? "", on: date ?? "" }));
  });
  const dateLabel = dialog.kind === "create" ? "Start" : dialog.kind === "change" ? "First day on the new plan" : "First day no longer active";
  const invoiced = dialog.kind !== "create" && dialog.sub.invoiced_until
    ? `Invoiced until ${dialog.sub.invoiced_until}: the date can be that day or later.` : undefined;

  return (
    <Modal opened onClose={onClose} title={title} size="lg" data-testid="subscription-dialog">
      <Stack>
        {dialog.kind !== "end" && (
          <Select label="Plan" data={options} value={plan} onChange={(v) => { setPlan(v); setPreview(null); }} searchable
            error={errors.plan} nothingFoundMessage={`No plan bills in ${currency}`} data-testid="subscription-plan" />
        )}
        <DateInput label={dateLabel} value={date} onChange={(v) => { setDate(v); setPreview(null); }} valueFormat="YYYY-MM-DD"
          placeholder="YYYY-MM-DD" description={invoiced} error={errors.date} data-testid="subscription-date" />
        {dialog.kind === "create" && (
          <NumberInput label="Periods begin on day" description="1–31; empty: the start's day of the month" min={1} max={31}
            value={anchor} onChange={setAnchor} error={errors.anchor_day} data-testid="subscription-anchor" />
        )}
        {preview && (
          <Table data-testid="change-preview">
            <Table.Thead><Table.Tr><Table.Th>Plan</Table.Th><Table.Th>Period</Table.Th><Table.Th>Billed for</Table.Th><Table.Th ta="right">Draft total</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>{preview.map((d) => (
              <PreviewRow key={d.subscription} d={d} planName={planName(d.plan)} />
            ))}</Table.Tbody>
          </Table>
        )}
        {other && <Alert color="red">{other}</Alert>}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          {dialog.kind === "change" && !preview && <Button variant="light" onClick={showPreview} loading={busy} data-testid="subscription-preview">Show the drafts</Button>}
          <Button onClick={submit} loading={busy} color={dialog.kind === "end" ? "red" : undefined}
            disabled={dialog.kind === "change" && !preview} data-testid="subscription-save">
            {dialog.kind === "create" ? "Start subscription" : dialog.kind === "change" ? "Save the change" : "End subscription"}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** The discount form's choice for "off the whole invoice". */
const INVOICE = "(invoice)";

type DiscountRow = { name: string; by: "percent" | "amount"; value: string; meter: string | null; periods: number | string };

/**
 * A subscription's own prices, discounts and spend cap: a unit price that replaces the
 * plan's on a per-unit charge, and discounts (a percent or an amount, off the
 * invoice or one charge, every period or the first N). They apply to the
 * periods not invoiced yet. The engine checks every rule; problems show by field.
 */
function TermsDialog({ sub, currency, onClose, onSaved }: {
  sub: SubscriptionRow; currency: string; onClose: () => void; onSaved: () => void;
}) {
  const key = (meter: string, group: string | null | undefined) => `${meter}|${group ?? ""}`;
  const [prices, setPrices] = useState<Record<string, string>>(() =>
    Object.fromEntries(sub.unit_prices.map((u) => [key(u.meter, u.group), u.unit_price])));
  const [discounts, setDiscounts] = useState<DiscountRow[]>(() => (sub.fields.discounts ?? []).map((d) => ({
    name: d.name, by: d.amount !== undefined ? "amount" : "percent", value: d.amount ?? d.percent ?? "",
    meter: d.meter ?? null, periods: d.periods ?? "",
  })));
  const [maximum, setMaximum] = useState(sub.fields.maximum ?? "");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const priced = sub.charges.filter((c) => c.unit_priced);
  // A discount is off the invoice or one meter's charges (each meter once, whatever its groups).
  const meterOptions = [...new Map(sub.charges.map((c) => [c.meter, { value: c.meter, label: c.name.split(" — ")[0] }])).values()];
  const setDiscount = (i: number, patch: Partial<DiscountRow>) =>
    setDiscounts((ds) => ds.map((d, j) => (j === i ? { ...d, ...patch } : d)));

  const save = async () => {
    setBusy(true);
    setErrors({});
    // Unit prices are sent in the charges' order; their problems come back as overrides[i], after the kept ones.
    const unitPrices = priced.filter((c) => (prices[key(c.meter, c.group)] ?? "").trim() !== "")
      .map((c) => ({ meter: c.meter, group: c.group, unit_price: prices[key(c.meter, c.group)].trim() }));
    try {
      await call("subscription_terms", {
        id: sub.fields.id,
        unitPrices,
        discounts: discounts.map((d) => ({
          name: d.name,
          percent: d.by === "percent" ? d.value.trim() : undefined,
          amount: d.by === "amount" ? d.value.trim() : undefined,
          meter: d.meter ?? undefined,
          periods: d.periods === "" ? undefined : Number(d.periods),
        })),
        maximum: maximum.trim() === "" ? null : maximum.trim(),
      });
      onSaved();
    } catch (e) {
      const { fields, other } = fieldErrors(e);
      setErrors(other ? { other, ...fields } : fields);
    } finally {
      setBusy(false);
    }
  };
  // A unit price's problem names the override (overrides[i]); shown under the prices.
  const priceErrors = Object.entries(errors).filter(([p]) => p.startsWith("overrides")).map(([, m]) => m);

  return (
    <Modal opened onClose={onClose} title={`Prices, discounts and spend cap of ${sub.plan_name}`} size="lg" data-testid="terms-dialog">
      <Stack>
        <Text size="sm" c="dimmed">They apply to the periods not invoiced yet; invoices already finalized keep what they billed.</Text>
        <Title order={5}>Unit prices for this customer</Title>
        {priced.length === 0 ? <Text size="sm" c="dimmed">The plan has no per-unit charge.</Text> : priced.map((c) => (
          <TextInput key={key(c.meter, c.group)} label={c.name} placeholder="the plan's price" rightSection={<Text size="xs" c="dimmed">{currency}</Text>}
            rightSectionWidth={44} value={prices[key(c.meter, c.group)] ?? ""}
            onChange={(e) => { const v = e.currentTarget.value; setPrices((p) => ({ ...p, [key(c.meter, c.group)]: v })); }}
            data-testid={`terms-price-${c.meter}`} />
        ))}
        {priceErrors.length > 0 && <Alert color="red" data-testid="terms-price-errors">{priceErrors.join("; ")}</Alert>}
        <Group justify="space-between"><Title order={5}>Discounts</Title>
          <Button size="compact-sm" variant="light" onClick={() => setDiscounts((ds) => [...ds, { name: "", by: "percent", value: "", meter: null, periods: "" }])}
            data-testid="terms-discount-add">Add a discount</Button>
        </Group>
        {discounts.length === 0 && <Text size="sm" c="dimmed">No discount.</Text>}
        {discounts.map((d, i) => (
          <Card key={i} withBorder p="xs" data-testid={`terms-discount-${i}`}>
            <Group align="start" gap="xs">
              <TextInput label="Name" value={d.name} onChange={(e) => setDiscount(i, { name: e.currentTarget.value })} w={150}
                error={errors[`discounts[${i}].name`]} data-testid={`terms-discount-${i}-name`} />
              <Select label="Off" data={[{ value: "percent", label: "percent" }, { value: "amount", label: `amount (${currency})` }]} value={d.by}
                onChange={(v) => v && setDiscount(i, { by: v as DiscountRow["by"] })} allowDeselect={false} w={140} />
              <TextInput label={d.by === "percent" ? "%" : currency} value={d.value} onChange={(e) => setDiscount(i, { value: e.currentTarget.value })} w={90}
                error={errors[`discounts[${i}].${d.by}`]} data-testid={`terms-discount-${i}-value`} />
              <Select label="Of" data={[{ value: INVOICE, label: "the invoice" }, ...meterOptions]}
                value={d.meter ?? INVOICE} onChange={(v) => setDiscount(i, { meter: v && v !== INVOICE ? v : null })} allowDeselect={false} w={170}
                error={errors[`discounts[${i}].meter`]} />
              <NumberInput label="First periods" placeholder="every" min={1} value={d.periods} onChange={(v) => setDiscount(i, { periods: v })} w={100}
                error={errors[`discounts[${i}].periods`]} />
              <Button mt={24} size="compact-sm" variant="subtle" color="red" onClick={() => setDiscounts((ds) => ds.filter((_, j) => j !== i))}
                data-testid={`terms-discount-${i}-remove`}>Remove</Button>
            </Group>
          </Card>
        ))}
        <Title order={5}>Spend cap</Title>
        <TextInput label="Maximum a period" description="The most its usage may come to in a period (prorated for a partial one); above it, a Spend cap line takes the rest off. Empty: the plan's cap, if any."
          placeholder="the plan's" rightSection={<Text size="xs" c="dimmed">{currency}</Text>} rightSectionWidth={44}
          value={maximum} onChange={(e) => setMaximum(e.currentTarget.value)} error={errors.maximum} w={320} data-testid="terms-maximum" />
        {errors.other && <Alert color="red">{errors.other}</Alert>}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Cancel</Button>
          <Button onClick={() => void save()} loading={busy} data-testid="terms-save">Save</Button>
        </Group>
      </Stack>
    </Modal>
  );
}
