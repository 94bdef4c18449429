import { useCallback, useEffect, useRef, useState } from "react";
import { Autocomplete, Badge, Box, Card, Code, Group, Select, Stack, Text, Title } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { addDays, formatMoment, localDay, parseTypedDay, workspaceZone } from "../api/format";
import { useDebouncedValue } from "@mantine/hooks";
import { usePagedRows } from "../components/usePagedRows";
import { call } from "../api/invoke";
import type { EventRow } from "../api/generated/EventRow";
import type { Meter } from "../api/generated/Meter";
import type { ExploreFilter } from "../components/DraftView";

const PAGE_SIZE = 200;
const ROW_HEIGHT = 34;
const GRID = "200px minmax(120px, 1fr) minmax(110px, 1fr) minmax(120px, 1.2fr) minmax(200px, 3fr) 90px";

/** The explorer's filters, as debounced together. */
type ExplorerFilter = { customer: string; meter: string | null; from: string; to: string };

/**
 * Stored events, filtered by customer, meter and time; virtualized and fetched
 * a page at a time, so millions of events scroll as fast as a hundred.
 */
export function EventsExplorer({ initial, version }: { initial?: ExploreFilter | null; version?: number }) {
  const [meters, setMeters] = useState<Meter[]>([]);
  const [customer, setCustomer] = useState(initial?.customer ?? "");
  const [options, setOptions] = useState<string[]>([]);
  const [meter, setMeter] = useState<string | null>(initial?.meter ?? null);
  // Local days of the workspace zone: the first and the last shown (a draft's line opens on its window).
  const [from, setFrom] = useState<string | null>(initial?.from ? localDay(initial.from) : null);
  const [to, setTo] = useState<string | null>(initial?.to ? addDays(localDay(initial.to), -1) : null);
  const cardRef = useRef<HTMLDivElement>(null);
  // Opened from a draft's line: bring the explorer into view.
  useEffect(() => { if (initial) cardRef.current?.scrollIntoView({ block: "start" }); }, [initial]);
  const [filter] = useDebouncedValue(JSON.stringify({ customer, meter, from: from ?? "", to: to ? addDays(to, 1) : "" }), 300);
  const [problem, setProblem] = useState<string | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);

  useEffect(() => { void call("meters_list").then(setMeters).catch(() => setMeters([])); }, []);
  useEffect(() => {
    void call("customers_page", { search: customer, includeArchived: true, offset: 0, limit: 20 })
      .then((p) => setOptions(p.rows.map((c) => c.id))).catch(() => setOptions([]));
  }, [customer]);

  const fetchPage = useCallback((offset: number, limit: number) => {
    const f = JSON.parse(filter) as ExplorerFilter;
    setProblem(null);
    return call("events_page", {
      customer: f.customer.trim() || null, meter: f.meter, from: f.from.trim() || null, to: f.to.trim() || null, offset, limit,
    });
  }, [filter]);
  const onError = useCallback((e: unknown) => setProblem(e instanceof Error ? e.message : String(e)), []);
  const { total, items, totalSize, rowAt } = usePagedRows<EventRow>({
    fetchPage, onError, scrollRef, pageSize: PAGE_SIZE, rowHeight: ROW_HEIGHT, overscan: 20, version,
  });
  const chosen = meters.find((m) => m.code === meter);

  return (
    <Card withBorder ref={cardRef}>
      <Stack gap="sm">
        <Title order={4}>Events</Title>
        <Group align="end">
          <Autocomplete label="Customer id" placeholder="all customers" data={options} value={customer} onChange={setCustomer} w={200}
            data-testid="explorer-customer" />
          <Select label="Meter" placeholder="all event types" data={meters.map((m) => ({ value: m.code, label: m.name }))} value={meter}
            onChange={setMeter} clearable searchable w={220} data-testid="explorer-meter" />
          <DateInput label="From" placeholder="the first event" value={from} onChange={setFrom} clearable w={170}
            valueFormat="MMM D, YYYY" dateParser={parseTypedDay} data-testid="explorer-from" />
          <DateInput label="To (last day shown)" placeholder="the last event" value={to} onChange={setTo} clearable w={170}
            valueFormat="MMM D, YYYY" dateParser={parseTypedDay} minDate={from ?? undefined} data-testid="explorer-to" />
          <Text size="sm" c={problem ? "red" : "dimmed"} pb={8} data-testid="explorer-total">
            {problem ?? (total === null ? "Loading…" : `${total.toLocaleString()} events`)}
          </Text>
        </Group>
        {chosen && (chosen.event ?? chosen.code) !== chosen.code && (
          <Text size="xs" c="dimmed">Events of type <Code>{chosen.event}</Code>, which {chosen.name} counts{Object.keys(chosen.filters ?? {}).length > 0 ? " where its filters match" : ""}.</Text>
        )}
        <Box style={{ display: "grid", gridTemplateColumns: GRID, gap: 10, padding: "0 10px" }}>
          {[`Time (${workspaceZone()})`, "Customer", "Type", "Id", "Properties", "Import"].map((h) => <Text key={h} size="xs" fw={700} c="dimmed" tt="uppercase">{h}</Text>)}
        </Box>
        <Box ref={scrollRef} h={420} style={{ overflow: "auto", border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }}
          data-testid="explorer-list" role="list">
          {total === 0 && !problem && <Text p="md" c="dimmed">No events match.</Text>}
          <div style={{ height: totalSize, position: "relative" }}>
            {items.map((item) => {
              const e = rowAt(item.index);
              return (
                <Box key={item.key} role="listitem" data-testid={e ? `explorer-row-${e.id}` : undefined}
                  style={{ position: "absolute", top: 0, left: 0, width: "100%", height: ROW_HEIGHT, transform: `translateY(${item.start}px)`,
                    display: "grid", gridTemplateColumns: GRID, gap: 10, alignItems: "center", padding: "0 10px",
                    borderBottom: "1px solid var(--mantine-color-default-border)" }}>
                  {e ? (
                    <>
                      <Text size="xs" style={{ whiteSpace: "nowrap" }}>{formatMoment(e.timestamp)}</Text>
                      <Text size="sm" truncate>{e.customer}</Text>
                      <Text size="sm" ff="monospace" truncate>{e.event_type}</Text>
                      <Text size="xs" ff="monospace" truncate>{e.id}</Text>
                      <Text size="xs" ff="monospace" c="dimmed" truncate>{e.properties}</Text>
                      <Group gap={4} wrap="nowrap">
                        <Text size="xs" c="dimmed">#{e.import_id}</Text>
                        {e.late && <Badge size="xs" color="orange" title="Arrived after its period was invoiced">late</Badge>}
                      </Group>
                    </>
                  ) : <Text size="xs" c="dimmed">…</Text>}
                </Box>
              );
            })}
          </div>
        </Box>
      </Stack>
    </Card>
  );
}
