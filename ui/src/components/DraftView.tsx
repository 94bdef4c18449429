import { Accordion, Alert, Badge, Button, Code, Group, Stack, Table, Text, Tooltip } from "@mantine/core";
import { addDays, formatDays, localDay, workspaceZone } from "../api/format";
import { IconListSearch } from "@tabler/icons-react";
import { fractionToPercent, groupDigits } from "../api/decimal";
import type { Draft } from "../api/generated/Draft";
import type { Line } from "../api/generated/Line";
import type { Meter } from "../api/generated/Meter";
import { AllowanceBar } from "./AllowanceBar";

/** Which stored events a usage line was read from, for the events explorer. */
export interface ExploreFilter {
  customer: string;
  meter: string | null;
  from: string;
  to: string;
}

/** A negative margin in red (the engine's sign, read from its text). */
function marginColor(percent: string | undefined): string {
  if (percent === undefined) return "dimmed";
  return percent.startsWith("-") ? "red" : "teal";
}

const KIND_COLOR: Record<Line["kind"], string> = { fee: "blue", usage: "teal", commitment: "grape", cap: "red", discount: "orange" };

const AGGREGATION: Record<Meter["aggregation"], string> = {
  count: "the count of", sum: "the sum of", max: "the maximum of", min: "the minimum of", avg: "the average of",
  unique_count: "the number of distinct", latest: "the latest",
};

/** How a usage line's quantity was read: the meter's rule, its group and the window. */
function UsageExplanation({ line, meter, draft }: { line: Line; meter: Meter | undefined; draft: Draft }) {
  if (!meter) return null;
  const filters = Object.entries(meter.filters ?? {});
  return (
    <Text size="sm">
      {groupDigits(line.quantity)}{meter.unit ? ` (${meter.unit})` : ""} = {AGGREGATION[meter.aggregation]}{" "}
      {meter.property ? <Code>{meter.property}</Code> : "events"} of type <Code>{meter.event ?? meter.code}</Code>
      {filters.map(([k, v]) => <span key={k}> where <Code>{k}</Code> = {v}</span>)}
      {line.group && meter.group_by && <span> for <Code>{meter.group_by}</Code> = {line.group}</span>}
      {!line.group && meter.group_by && <span> over every <Code>{meter.group_by}</Code></span>}
      , over {formatDays(localDay(draft.usage_window.start), addDays(localDay(draft.usage_window.end), -1))} ({workspaceZone()} days).
    </Text>
  );
}

/** One draft invoice: its lines, each expanding into the arithmetic behind it, then the totals. */
export function DraftView({ draft, meters, onExplore }: {
  draft: Draft;
  meters: Meter[];
  onExplore?: (f: ExploreFilter) => void;
}) {
  const partial = draft.active_days !== draft.period_days;
  const taxLabel = draft.tax_rate === null ? "Tax (exempt)" : `Tax ${fractionToPercent(draft.tax_rate)}%`;
  return (
    <Stack gap="sm" data-testid={`draft-${draft.subscription}`}>
      <Group gap="xs">
        <Text fw={600}>{draft.customer}</Text>
        <Badge variant="light">{draft.plan} v{draft.plan_version}</Badge>
        <Text size="sm" c="dimmed">{draft.subscription}</Text>
      </Group>
      <Text size="sm" c="dimmed">
        Period {formatDays(draft.first_day, draft.last_day)}
        {partial ? `, active ${draft.active_days} of ${draft.period_days} days (fees and commitment prorated)` : ""}; {draft.currency}
      </Text>
      {draft.allowance && <AllowanceBar allowance={draft.allowance} currency={draft.currency} testId="draft-allowance" />}
      {draft.problem && (
        <Alert color="red" variant="light" data-testid="draft-problem">
          {draft.problem}
        </Alert>
      )}
      {draft.unbilled_events > 0 && (
        <Alert color="orange" variant="light" data-testid="draft-unbilled">
          {draft.unbilled_events.toLocaleString()} events of {draft.customer} in this period fall outside every subscription: they are
          stored and billed on none.
        </Alert>
      )}
      <Accordion multiple variant="separated" chevronPosition="left">
        {draft.lines.map((line, i) => {
          const meter = meters.find((m) => m.code === line.meter);
          return (
            <Accordion.Item key={i} value={String(i)} data-testid={`draft-line-${i}`}>
              <Accordion.Control>
                <Group justify="space-between" wrap="nowrap">
                  <Group gap="xs" wrap="nowrap">
                    <Badge size="sm" variant="light" color={KIND_COLOR[line.kind]}>{line.kind}</Badge>
                    <Text size="sm">{line.description}</Text>
                  </Group>
                  <Group gap="lg" wrap="nowrap">
                    {line.kind === "usage" && <Text size="sm" c="dimmed" ff="monospace">{groupDigits(line.quantity)}</Text>}
                    {line.cost !== undefined && (
                      <Tooltip label={line.margin !== undefined
                        ? `Costs you ${groupDigits(line.cost)} ${line.cost_currency ?? ""}; leaves ${groupDigits(line.margin)} ${draft.currency}`
                        : `Costs you ${groupDigits(line.cost)} ${line.cost_currency ?? ""}: another currency, converted in reports only`}>
                        <Text size="xs" ff="monospace" c={marginColor(line.margin_percent ?? line.margin)} data-testid={`draft-line-${i}-margin`}>
                          {line.margin_percent !== undefined ? `${line.margin_percent} %`
                            : line.margin !== undefined ? `margin ${groupDigits(line.margin)}` : `cost ${groupDigits(line.cost)} ${line.cost_currency ?? ""}`}
                        </Text>
                      </Tooltip>
                    )}
                    <Text size="sm" ff="monospace" fw={500} w={110} ta="right" data-testid={`draft-line-${i}-amount`}>
                      {groupDigits(line.amount)}
                    </Text>
                  </Group>
                </Group>
              </Accordion.Control>
              <Accordion.Panel>
                <Stack gap="xs">
                  {line.kind === "usage" && <UsageExplanation line={line} meter={meter} draft={draft} />}
                  {line.kind !== "usage" && (
                    <Stack gap={2} data-testid={`draft-line-${i}-steps`}>
                      {line.steps.map((s, j) => (
                        <Text key={j} size="sm">
                          {s.kind === "proration" || s.kind === "flat_fee" ? `${s.label} of ${groupDigits(s.unit_price)} = ${groupDigits(s.amount)} (unrounded)` : s.label}
                        </Text>
                      ))}
                    </Stack>
                  )}
                  {line.kind === "usage" && <Table fz="xs" withTableBorder data-testid={`draft-line-${i}-steps`}>
                    <Table.Thead>
                      <Table.Tr><Table.Th>Step</Table.Th><Table.Th ta="right">Quantity</Table.Th><Table.Th ta="right">Unit price</Table.Th>
                        <Table.Th ta="right">Flat fee</Table.Th><Table.Th ta="right">Amount (unrounded)</Table.Th></Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {line.steps.map((s, j) => (
                        <Table.Tr key={j}>
                          <Table.Td>{s.label}</Table.Td>
                          <Table.Td ta="right" ff="monospace">{groupDigits(s.quantity)}</Table.Td>
                          <Table.Td ta="right" ff="monospace">{s.unit_price}</Table.Td>
                          <Table.Td ta="right" ff="monospace">{s.flat_fee}</Table.Td>
                          <Table.Td ta="right" ff="monospace">{groupDigits(s.amount)}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>}
                  <Text size="xs" c="dimmed">Rounded once, half away from zero, to {groupDigits(line.amount)} {draft.currency}.</Text>
                  {line.kind === "usage" && onExplore && (
                    <Group>
                      <Button size="xs" variant="light" leftSection={<IconListSearch size={14} />} data-testid={`draft-line-${i}-events`}
                        onClick={() => onExplore({ customer: draft.customer, meter: line.meter, from: draft.usage_window.start, to: draft.usage_window.end })}>
                        Show the events
                      </Button>
                    </Group>
                  )}
                </Stack>
              </Accordion.Panel>
            </Accordion.Item>
          );
        })}
      </Accordion>
      {draft.margin && (
        <Group justify="flex-end" gap="xs" data-testid="draft-margin">
          <Text size="sm" c="dimmed">Revenue {groupDigits(draft.margin.revenue)} − usage cost {groupDigits(draft.margin.cost)} =</Text>
          <Text size="sm" fw={600} c={marginColor(draft.margin.margin_percent ?? undefined)}>
            margin {groupDigits(draft.margin.margin)} {draft.currency}{draft.margin.margin_percent !== null ? ` (${draft.margin.margin_percent} %)` : ""}
          </Text>
        </Group>
      )}
      <Table w={360} ml="auto" fz="sm">
        <Table.Tbody>
          {([["Subtotal", draft.subtotal], [taxLabel, draft.tax],
            ...(draft.topups ?? []).map((t) => [t.description, t.amount]),
            ["Total", draft.total], ["Credits applied", draft.credits_applied],
            ["Amount due", draft.amount_due]] as [string, string][]).map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Td fw={label === "Amount due" ? 700 : 400}>{label}</Table.Td>
              <Table.Td ta="right" ff="monospace" fw={label === "Amount due" ? 700 : 400}
                data-testid={`draft-${label.split(" ")[0].toLowerCase()}`}>{groupDigits(value)} {draft.currency}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
