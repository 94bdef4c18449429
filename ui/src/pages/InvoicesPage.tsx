import { useEffect, useMemo, useState } from "react";
import { formatDay } from "../api/format";
import { Alert, Badge, Button, Drawer, Group, Loader, Select, Stack, Table, Tabs, Text, TextInput, Title } from "@mantine/core";
import { IconFileExport, IconLock } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { compareDecimals, groupDigits } from "../api/decimal";
import { useTotals } from "../api/totals";
import type { BillingMonths } from "../api/generated/BillingMonths";
import type { Draft } from "../api/generated/Draft";
import type { Meter } from "../api/generated/Meter";
import { DraftView, type ExploreFilter } from "../components/DraftView";
import { FinalizeReview } from "../components/FinalizeReview";
import { SortHeader } from "../components/SortHeader";
import { LateUsagePanel } from "../components/LateUsagePanel";
import { CreditNotesList } from "../components/CreditNotesList";
import { InvoiceRegister } from "./InvoiceRegister";
import { OutboxPanel } from "../components/OutboxPanel";
import { notifyError, notifySaved } from "../notify";

type SortKey = "customer" | "plan" | "subtotal" | "tax" | "total";

/** One customer's drafts for a month, with its own period picker. */
function CustomerDrafts({ customer, months, month: initial, meters, onExplore }: {
  customer: string; months: string[]; month: string; meters: Meter[]; onExplore: (f: ExploreFilter) => void;
}) {
  const [month, setMonth] = useState(initial);
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setDrafts(null);
    setError(null);
    call("invoice_preview", { customer, month }).then(setDrafts).catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, [customer, month]);
  return (
    <Stack>
      <Select label="Period starting in" data={months} value={month} onChange={(m) => m && setMonth(m)} w={200}
        allowDeselect={false} data-testid="customer-draft-month" />
      {error && <Alert color="red">{error}</Alert>}
      {!drafts && !error && <Loader size="sm" />}
      {drafts && drafts.length === 0 && <Text c="dimmed">No subscription period of {customer} starts in {month}.</Text>}
      {drafts?.map((d) => <DraftView key={d.subscription} draft={d} meters={meters} onExplore={onExplore} />)}
    </Stack>
  );
}

/**
 * Invoices: the drafts of a month (to review and finalize) and the register of
 * finalized invoices.
 */
export function InvoicesPage({ onExplore, initial }: {
  onExplore: (f: ExploreFilter) => void;
  /** A finalized invoice to open (from a customer's page), or "late" for the late usage tab. */
  initial: string | null;
}) {
  const [tab, setTab] = useState<string | null>(initial === "late" ? "late" : initial ? "finalized" : "drafts");
  const [meters, setMeters] = useState<Meter[]>([]);
  const [generation, setGeneration] = useState(0);
  const [opened, setOpened] = useState<string | null>(initial === "late" ? null : initial);
  useEffect(() => {
    void call("meters_list").then(setMeters).catch(() => setMeters([]));
  }, []);
  return (
    <Stack maw={1200}>
      <Title order={2}>Invoices</Title>
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="drafts" data-testid="invoices-tab-drafts">Drafts</Tabs.Tab>
          <Tabs.Tab value="finalized" data-testid="invoices-tab-finalized">Finalized</Tabs.Tab>
          <Tabs.Tab value="credit-notes" data-testid="invoices-tab-credit-notes">Credit notes</Tabs.Tab>
          <Tabs.Tab value="late" data-testid="invoices-tab-late">Late usage</Tabs.Tab>
          <Tabs.Tab value="outbox" data-testid="invoices-tab-outbox">Reminders and outbox</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="drafts" pt="md">
          <DraftsPanel meters={meters} onExplore={onExplore} onFinalized={(first) => {
            setGeneration((g) => g + 1);
            setOpened(first);
            setTab("finalized");
          }} />
        </Tabs.Panel>
        <Tabs.Panel value="finalized" pt="md">
          <InvoiceRegister meters={meters} generation={generation} opened={opened} onOpen={setOpened} onExplore={onExplore} />
        </Tabs.Panel>
        <Tabs.Panel value="credit-notes" pt="md">
          <CreditNotesList onOpenInvoice={(number) => { setOpened(number); setTab("finalized"); }} />
        </Tabs.Panel>
        <Tabs.Panel value="late" pt="md">
          <LateUsagePanel onAdjusted={() => setGeneration((g) => g + 1)}
            onOpenInvoice={(number) => { setOpened(number); setTab("finalized"); }} />
        </Tabs.Panel>
        <Tabs.Panel value="outbox" pt="md"><OutboxPanel /></Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

/**
 * Draft invoices: every customer's bill for a month, computed on demand from
 * the plans, subscriptions and usage, never stored. A row opens the customer's
 * draft, where each line explains itself; the review finalizes them.
 */
function DraftsPanel({ meters, onExplore, onFinalized }: {
  meters: Meter[];
  onExplore: (f: ExploreFilter) => void;
  /** After a finalize: the first new invoice's number, to open it. */
  onFinalized: (first: string | null) => void;
}) {
  const [months, setMonths] = useState<BillingMonths | null>(null);
  const [month, setMonth] = useState<string | null>(null);
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [reviewing, setReviewing] = useState(false);
  // The invoice of each period already finalized: subscription and first day → number.
  const [finalized, setFinalized] = useState<Map<string, string>>(new Map());
  const [finalizedNumbers, setFinalizedNumbers] = useState<string[]>([]);
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState<[SortKey, boolean]>(["customer", true]);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    // Standing period invoices: a void one gave its period back to the drafts.
    call("invoices_list").then((entries) => setFinalized(new Map(entries
      .filter((e) => e.kind === "period" && e.standing !== "void")
      .map((e) => [`${e.subscription} ${e.first_day}`, e.number]))))
      .catch(() => setFinalized(new Map()));
    call("billing_months").then((m) => {
      setMonths(m);
      setMonth(m.latest_usage && m.months.includes(m.latest_usage) ? m.latest_usage : m.months[0] ?? null);
    }).catch((e) => notifyError(e, "The billing months could not be read"));
  }, []);
  useEffect(() => {
    if (!month) return;
    setDrafts(null);
    setError(null);
    call("invoice_preview_all", { month }).then(setDrafts).catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, [month]);

  // Periods already invoiced leave the list and its totals; they are listed apart.
  const invoiced = useMemo(() => (drafts ?? []).filter((d) => finalized.has(`${d.subscription} ${d.first_day}`)), [drafts, finalized]);
  const rows = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const list = (drafts ?? []).filter((d) => !finalized.has(`${d.subscription} ${d.first_day}`))
      .filter((d) => !needle || d.customer.includes(needle) || d.plan.includes(needle) || d.subscription.includes(needle));
    const [key, up] = sort;
    const dir = up ? 1 : -1;
    // Amounts compare within a currency: the currencies stay in order, each sorted by the amount.
    const cmp = (a: Draft, b: Draft) =>
      key === "customer" ? dir * (a.customer.localeCompare(b.customer) || a.subscription.localeCompare(b.subscription))
        : key === "plan" ? dir * (a.plan.localeCompare(b.plan) || a.customer.localeCompare(b.customer))
          : a.currency.localeCompare(b.currency) || dir * compareDecimals(a[key], b[key]) || a.customer.localeCompare(b.customer);
    return [...list].sort(cmp);
  }, [drafts, finalized, search, sort]);

  // Per currency, added by the engine.
  const subtotals = useTotals(useMemo(() => rows.map((d) => ({ currency: d.currency, amount: d.subtotal })), [rows]));
  const taxes = useTotals(useMemo(() => rows.map((d) => ({ currency: d.currency, amount: d.tax })), [rows]));
  const sums = useTotals(useMemo(() => rows.map((d) => ({ currency: d.currency, amount: d.total })), [rows]));
  const totals = useMemo(() => sums.map((t) => ({
    currency: t.currency, count: t.count, total: t.total,
    subtotal: subtotals.find((s) => s.currency === t.currency)?.total ?? "",
    tax: taxes.find((s) => s.currency === t.currency)?.total ?? "",
  })), [sums, subtotals, taxes]);

  const onSort = (k: SortKey) => setSort(([key, up]) => [k, key === k ? !up : k === "customer" || k === "plan"]);
  const sorting = { sortedBy: sort[0], ascending: sort[1], onSort, testid: "drafts-sort" };

  const exportCsv = async () => {
    if (!month) return;
    try {
      const path = await call("csv_save_dialog", { title: "Export the drafts", fileName: `drafts-${month}.csv` });
      if (!path) return;
      const n = await call("drafts_csv_save", { month, path });
      notifySaved(`Exported ${n} drafts to ${path}`, path);
    } catch (e) {
      notifyError(e, "The drafts could not be exported");
    }
  };

  const openDraft = drafts?.find((d) => d.subscription === open);

  return (
    <Stack>
      <Group justify="space-between" align="start">
        <Text size="sm" c="dimmed" maw={760}>
          Draft invoices for the subscription periods that start in a month: fees, usage, commitment true-ups, discounts and
          tax, computed now from the plans and the imported usage. Drafts are never stored: review them, then finalize
          them into numbered invoices.
        </Text>
        <Group gap="xs" wrap="nowrap">
          <Button variant="light" leftSection={<IconFileExport size={16} />} onClick={exportCsv} disabled={!drafts?.length}
            data-testid="drafts-export">Export CSV</Button>
          <Button leftSection={<IconLock size={16} />} onClick={() => setReviewing(true)} disabled={!drafts?.length}
            data-testid="drafts-finalize">Review and finalize…</Button>
        </Group>
      </Group>
      {months && months.months.length === 0 && <Text c="dimmed">No subscriptions yet: add them in a catalog file (<code>meterdesk apply</code>).</Text>}
      {months && months.months.length > 0 && (
        <Group align="end">
          <Select label="Periods starting in" data={months.months} value={month} onChange={(m) => m && setMonth(m)} w={200}
            allowDeselect={false} data-testid="drafts-month" />
          <TextInput label="Filter" placeholder="customer, plan or subscription" value={search} onChange={(e) => setSearch(e.currentTarget.value)}
            w={280} data-testid="drafts-search" />
          <Group gap="xs" pb={6} data-testid="drafts-totals">
            {totals.map((t) => (
              <Badge key={t.currency} size="lg" variant="light" tt="none">
                {t.count} drafts · {groupDigits(t.total)} {t.currency}
              </Badge>
            ))}
          </Group>
        </Group>
      )}
      {error && <Alert color="red">{error}</Alert>}
      {month && !drafts && !error && <Group><Loader size="sm" /><Text size="sm" c="dimmed">Pricing the usage…</Text></Group>}
      {drafts && (
        <Table striped highlightOnHover data-testid="drafts-table">
          <Table.Thead>
            <Table.Tr>
              <SortHeader label="Customer" k="customer" {...sorting} />
              <SortHeader label="Plan" k="plan" {...sorting} />
              <Table.Th>Period</Table.Th>
              <SortHeader label="Subtotal" k="subtotal" {...sorting} right />
              <SortHeader label="Tax" k="tax" {...sorting} right />
              <SortHeader label="Total" k="total" {...sorting} right />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((d) => (
              <Table.Tr key={d.subscription} onClick={() => setOpen(d.subscription)} style={{ cursor: "pointer" }}
                data-testid={`drafts-row-${d.subscription}`}>
                <Table.Td>{d.customer}</Table.Td>
                <Table.Td><Badge variant="light" tt="none">{d.plan} v{d.plan_version}</Badge></Table.Td>
                <Table.Td>
                  <Group gap={6} wrap="nowrap">
                    <Text size="sm">{formatDay(d.first_day)}{d.active_days !== d.period_days ? ` · ${d.active_days}/${d.period_days} days` : ""}</Text>
                  </Group>
                </Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(d.subtotal)}</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(d.tax)}</Table.Td>
                <Table.Td ta="right" ff="monospace" data-testid={`drafts-total-${d.subscription}`}>{groupDigits(d.total)} {d.currency}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
          <Table.Tfoot>
            {totals.map((t) => (
              <Table.Tr key={t.currency}>
                <Table.Th colSpan={3}>Total in {t.currency} ({t.count} drafts)</Table.Th>
                <Table.Th ta="right" ff="monospace">{groupDigits(t.subtotal)}</Table.Th>
                <Table.Th ta="right" ff="monospace">{groupDigits(t.tax)}</Table.Th>
                <Table.Th ta="right" ff="monospace" data-testid={`drafts-sum-${t.currency}`}>{groupDigits(t.total)} {t.currency}</Table.Th>
              </Table.Tr>
            ))}
          </Table.Tfoot>
        </Table>
      )}
      {invoiced.length > 0 && (
        <Stack gap={4} data-testid="drafts-invoiced">
          <Text size="sm" fw={600}>Already invoiced ({invoiced.length}): not in the drafts or their totals</Text>
          <Group gap="xs">
            {invoiced.map((d) => {
              const number = finalized.get(`${d.subscription} ${d.first_day}`) ?? "";
              return (
                <Badge key={d.subscription} size="lg" variant="outline" color="gray" tt="none" style={{ cursor: "pointer" }}
                  onClick={() => onFinalized(number)} title={`${d.customer}, ${d.plan}: open ${number}`}>
                  {d.customer} · <span data-testid={`drafts-invoiced-${d.subscription}`}>{number}</span>
                </Badge>
              );
            })}
          </Group>
        </Stack>
      )}
      {month && (
        <FinalizeReview month={month} opened={reviewing} onOpenInvoice={(number) => onFinalized(number)} onClose={() => {
          setReviewing(false);
          if (finalizedNumbers.length) onFinalized(finalizedNumbers[0]);
          setFinalizedNumbers([]);
        }} onFinalized={(done) => setFinalizedNumbers(done.invoices.map((i) => i.number ?? ""))} />
      )}
      <Drawer opened={!!openDraft} onClose={() => setOpen(null)} position="right" size="xl" title="Draft invoice">
        {openDraft && months && month && (
          <CustomerDrafts key={openDraft.customer} customer={openDraft.customer} months={months.months} month={month}
            meters={meters} onExplore={(f) => { setOpen(null); onExplore(f); }} />
        )}
      </Drawer>
    </Stack>
  );
}
