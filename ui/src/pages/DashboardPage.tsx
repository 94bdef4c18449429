import { useEffect, useMemo, useState } from "react";
import { Badge, Button, Card, Group, Loader, SegmentedControl, SimpleGrid, Stack, Table, Text, Title, UnstyledButton } from "@mantine/core";
import { BarChart } from "@mantine/charts";
import type { WorkspaceSummary } from "../api/generated/WorkspaceSummary";
import type { Dashboard } from "../api/generated/Dashboard";
import type { PageKey } from "../App";
import { call } from "../api/invoke";
import { chartAmount, compactNumber, formatDay, formatMonth } from "../api/format";
import { groupDigits } from "../api/decimal";
import { notifyError } from "../notify";
import { SignalList } from "../components/Signals";
import { FigureDetail } from "../components/FigureDetail";
import type { Figure } from "../api/generated/Figure";
import type { Age } from "../api/generated/Age";

/** The receivables table's columns, in order. */
const AGES: Age[] = ["not_due", "d1_to30", "d31_to60", "d61_to90", "over90"];

function Stat({ label, value, hint, testId, onClick }: {
  label: string; value: string; hint?: string; testId?: string; onClick?: () => void;
}) {
  const body = (
    <Card withBorder h="100%">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>{label}</Text>
      <Text size="xl" fw={700} data-testid={testId}>{value}</Text>
      {hint && <Text size="xs" c="dimmed">{hint}</Text>}
    </Card>
  );
  return onClick ? <UnstyledButton onClick={onClick} h="100%">{body}</UnstyledButton> : body;
}

/** A money text from the engine, grouped, with its currency. */
const money = (amount: string, currency: string) => `${groupDigits(amount)} ${currency}`;

/**
 * What a finance lead opens every morning: revenue by month, MRR, ARR and
 * NRR, what is unbilled and overdue, margins by model and by customer, the
 * customers worth a look, and what the month-end still asks for. Every
 * figure is the engine's report (the CLI's `meterdesk report` gives the
 * same), per currency and never added across currencies; each one opens the
 * page behind it.
 */
export function DashboardPage({ summary, onNavigate, onOpenCustomer, onOpenInvoice, onOpenInbox }: {
  summary: WorkspaceSummary; onNavigate: (p: PageKey) => void; onOpenCustomer: (id: string) => void;
  onOpenInvoice: (number: string) => void;
  /** Opens the header's alerts inbox. */
  onOpenInbox: () => void;
}) {
  const active = summary.customers - summary.archived_customers;
  const [data, setData] = useState<Dashboard | null>(null);
  const [currency, setCurrency] = useState<string | null>(null);
  // The figure whose list is open.
  const [figure, setFigure] = useState<Figure | null>(null);
  useEffect(() => {
    void call("dashboard").then(setData).catch((e) => notifyError(e, "The dashboard could not be computed"));
  }, [summary]);

  const currencies = useMemo(() => {
    const seen = [...new Set((data?.revenue ?? []).map((r) => r.currency))];
    // The currency with the most revenue rows first, then by code.
    return seen.sort((a, b) => a.localeCompare(b));
  }, [data]);
  const shown = currency && currencies.includes(currency) ? currency : (currencies.includes("USD") ? "USD" : currencies[0] ?? null);

  if (!data) {
    return (
      <Stack maw={1200}>
        <Title order={2}>{summary.company_name}</Title>
        <Loader size="sm" />
      </Stack>
    );
  }
  const months = data.revenue.filter((r) => r.currency === shown);
  const latest = [...months].reverse().find((r) => r.net !== "0.00" && r.net !== "0" || r.unbilled !== "0.00" && r.unbilled !== "0");
  const withNrr = [...months].reverse().find((r) => r.nrr !== null);
  const thisMonth = months.find((r) => r.month === data.revenue.map((x) => x.month).sort().at(-1));
  const aging = data.receivables.find((r) => r.currency === shown);
  const chart = months.map((r) => ({ month: formatMonth(r.month).replace(/ \d{4}$/, (y) => ` ’${y.slice(3)}`), Net: Number(r.net), Unbilled: Number(r.unbilled) }));
  const margins = data.margins.filter((m) => m.currency === shown && m.margin_percent !== null);
  const byMargin = [...margins].sort((a, b) => Number(a.margin_percent) - Number(b.margin_percent));
  const models = data.models.filter((m) => m.currency === shown);

  return (
    <Stack maw={1200}>
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={2}>{summary.company_name}</Title>
          <Text size="sm" c="dimmed">{formatDay(data.today)} · times in {summary.timezone}</Text>
        </div>
        {currencies.length > 1 && shown && (
          <SegmentedControl data={currencies} value={shown} onChange={setCurrency} data-testid="dashboard-currency" />
        )}
      </Group>
      <SimpleGrid cols={{ base: 2, md: 5 }}>
        <Stat label="Active customers" value={active.toLocaleString()} testId="stat-active-customers" onClick={() => onNavigate("customers")} />
        <Stat label={`MRR${latest ? `, ${formatMonth(latest.month)}` : ""}`} value={latest && shown ? money(latest.mrr, shown) : "–"}
          hint={latest && shown ? `ARR ${money(latest.arr, shown)}` : undefined} testId="stat-mrr"
          onClick={latest && shown ? () => setFigure({ figure: "mrr", month: latest.month, currency: shown }) : undefined} />
        <Stat label={`NRR${withNrr ? `, ${formatMonth(withNrr.month)}` : ""}`} value={withNrr?.nrr ? `${withNrr.nrr} %` : "–"}
          hint={withNrr ? "net revenue of the customers of a year before" : "needs twelve months of invoices"} testId="stat-nrr"
          onClick={withNrr && shown ? () => setFigure({ figure: "nrr", month: withNrr.month, currency: shown }) : undefined} />
        <Stat label="Unbilled this month" value={thisMonth && shown ? money(thisMonth.unbilled, shown) : "–"} testId="stat-unbilled"
          hint="drafts not finalized yet"
          onClick={thisMonth && shown ? () => setFigure({ figure: "revenue", month: thisMonth.month, currency: shown }) : undefined} />
        <Stat label="Overdue" value={aging && shown ? money(aging.overdue, shown) : "–"} testId="stat-overdue"
          hint={aging && shown ? `of ${money(aging.total, shown)} owed` : "nothing owed"}
          onClick={aging && shown ? () => setFigure({ figure: "receivables", currency: shown, age: null }) : undefined} />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 3 }}>
        <Card withBorder style={{ gridColumn: "span 2" }}>
          <Text fw={600} mb="xs">Net revenue by service month{shown ? ` (${shown})` : ""}</Text>
          {chart.length === 0 ? <Text size="sm" c="dimmed">No revenue yet.</Text> : (
            <BarChart h={220} data={chart} dataKey="month" type="stacked" data-testid="dashboard-revenue-chart"
              barChartProps={{
                // A month's bar lists its invoices and drafts.
                onClick: (state) => {
                  const i = typeof state?.activeTooltipIndex === "number" ? state.activeTooltipIndex : Number(state?.activeTooltipIndex);
                  if (shown && months[i]) setFigure({ figure: "revenue", month: months[i].month, currency: shown });
                },
                style: { cursor: "pointer" },
              }}
              series={[{ name: "Net", color: "teal.6" }, { name: "Unbilled", color: "gray.4" }]}
              valueFormatter={(v) => (shown ? chartAmount(v, shown) : String(v))} yAxisProps={{ tickFormatter: compactNumber, width: 60 }} />
          )}
        </Card>
        <Card withBorder>
          <Text fw={600} mb="xs">Month-end to-dos</Text>
          <Stack gap={6} data-testid="dashboard-todos">
            <Button variant="subtle" justify="space-between" onClick={() => onNavigate("invoices")} data-testid="todo-drafts"
              rightSection={<Badge color={data.drafts_to_finalize ? "orange" : "gray"}>{data.drafts_to_finalize}</Badge>}>
              {formatMonth(data.margin_month).split(" ")[0]} drafts to finalize
            </Button>
            <Button variant="subtle" justify="space-between" onClick={() => onNavigate("invoices")}
              rightSection={<Badge color={data.late_invoices ? "orange" : "gray"}>{data.late_invoices ?? "?"}</Badge>}>
              Invoices with late usage
            </Button>
            <Button variant="subtle" justify="space-between" onClick={() => onNavigate("usage")}
              rightSection={<Badge color={data.rejected_imports ? "red" : "gray"}>{data.rejected_imports}</Badge>}>
              Imports with rejected rows
            </Button>
            <Button variant="subtle" justify="space-between" onClick={onOpenInbox} data-testid="todo-alerts"
              rightSection={<Badge color={data.open_alerts ? "orange" : "gray"}>{data.open_alerts}</Badge>}>
              Alerts in the inbox
            </Button>
          </Stack>
        </Card>
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Text fw={600} mb="xs">Receivables by days past due</Text>
          {data.receivables.length === 0 ? <Text size="sm" c="dimmed">Nothing owed.</Text> : (
            <Table fz="sm" data-testid="dashboard-aging">
              <Table.Thead><Table.Tr><Table.Th /><Table.Th ta="right">Not due</Table.Th><Table.Th ta="right">1–30</Table.Th>
                <Table.Th ta="right">31–60</Table.Th><Table.Th ta="right">61–90</Table.Th><Table.Th ta="right">Over 90</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {data.receivables.map((r) => (
                  <Table.Tr key={r.currency} data-testid={`aging-${r.currency}`}>
                    <Table.Td fw={600}>{r.currency}</Table.Td>
                    {[r.not_due, r.d1_30, r.d31_60, r.d61_90, r.over_90].map((v, i) => (
                      <Table.Td key={i} ta="right" ff="monospace" c={i >= 3 && !/^0(\.0+)?$/.test(v) ? "red" : undefined}
                        style={{ cursor: "pointer" }} data-testid={`aging-${r.currency}-${AGES[i]}`}
                        onClick={() => setFigure({ figure: "receivables", currency: r.currency, age: AGES[i] })}>{groupDigits(v)}</Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
        <Card withBorder>
          <Text fw={600} mb="xs">Margin by model, {formatMonth(data.margin_month)}{shown ? ` (${shown})` : ""}</Text>
          {models.length === 0 ? <Text size="sm" c="dimmed">No cost rates price this month's usage.</Text> : (
            <Table fz="sm" data-testid="dashboard-models">
              <Table.Thead><Table.Tr><Table.Th>Meter</Table.Th><Table.Th>Model</Table.Th><Table.Th ta="right">Revenue</Table.Th>
                <Table.Th ta="right">Cost</Table.Th><Table.Th ta="right">Margin</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {models.map((m) => (
                  <Table.Tr key={`${m.meter}/${m.group ?? ""}`} style={{ cursor: "pointer" }} data-testid={`model-${m.meter}-${m.group ?? ""}`}
                    onClick={() => setFigure({ figure: "model", month: data.margin_month, currency: m.currency, meter: m.meter, group: m.group })}>
                    <Table.Td>{m.meter}</Table.Td><Table.Td>{m.group ?? "—"}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(m.revenue)}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(m.cost)}</Table.Td>
                    <Table.Td ta="right" ff="monospace" c={m.margin.startsWith("-") ? "red" : undefined}>
                      {m.margin_percent !== null ? `${m.margin_percent} %` : groupDigits(m.margin)}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Text fw={600} mb="xs">Customers by margin, {formatMonth(data.margin_month)}{shown ? ` (${shown})` : ""}</Text>
          {byMargin.length === 0 ? <Text size="sm" c="dimmed">No margins yet.</Text> : (
            <Table fz="sm" data-testid="dashboard-margins">
              <Table.Tbody>
                {[...byMargin.slice(0, 5), ...byMargin.slice(Math.max(5, byMargin.length - 3))].map((m) => (
                  <Table.Tr key={m.customer} style={{ cursor: "pointer" }} onClick={() => onOpenCustomer(m.customer)} data-testid={`margin-${m.customer}`}>
                    <Table.Td>{m.customer_name}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(m.revenue)}</Table.Td>
                    <Table.Td ta="right" ff="monospace" c={m.margin.startsWith("-") ? "red" : undefined}>{m.margin_percent} %</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
        <Card withBorder>
          <Text fw={600} mb="xs">Worth a look</Text>
          {data.signals.length === 0 ? <Text size="sm" c="dimmed">No churn risks or power users.</Text> : (
            <SignalList signals={data.signals} onOpen={onOpenCustomer} withNames testId="dashboard-signals" />
          )}
        </Card>
      </SimpleGrid>
      <FigureDetail figure={figure} onClose={() => setFigure(null)} onOpenCustomer={onOpenCustomer} onOpenInvoice={onOpenInvoice} />
    </Stack>
  );
}
