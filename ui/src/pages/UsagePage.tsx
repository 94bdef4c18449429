import { useEffect, useRef, useState } from "react";
import {
  Alert, Badge, Button, Card, Code, Group, Progress, Select, SimpleGrid, Stack, Table, Text, TextInput, Title,
} from "@mantine/core";
import { IconDeviceFloppy, IconFolderOpen, IconUpload } from "@tabler/icons-react";
import { BarChart } from "@mantine/charts";
import { Channel } from "@tauri-apps/api/core";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import {
  chartNumber, compactNumber, countOf, formatDay, formatDays, formatMoment, formatMonth, lastDayOf, unitFor, workspaceZone,
} from "../api/format";
import { MonthPickerInput } from "@mantine/dates";
import type { ImportPreview } from "../api/generated/ImportPreview";
import type { ImportProgress } from "../api/generated/ImportProgress";
import type { CsvColumns } from "../api/generated/CsvColumns";
import type { EventImport } from "../api/generated/EventImport";
import type { NamedMapping } from "../api/generated/NamedMapping";
import type { Format } from "../api/generated/Format";
import type { Meter } from "../api/generated/Meter";
import type { MonthUsage } from "../api/generated/MonthUsage";
import type { RowError } from "../api/generated/RowError";
import { notifyError, notifyOk } from "../notify";
import { EventsExplorer } from "./EventsExplorer";
import { ImportHistory } from "../components/ImportHistory";
import type { ExploreFilter } from "../components/DraftView";

const FORMAT_LABELS: Record<Format, string> = { csv: "CSV", ndjson: "NDJSON", cloudevents: "CloudEvents" };
const FORMATS = [
  { value: "auto", label: "From the file name" },
  ...(Object.keys(FORMAT_LABELS) as Format[]).map((f) => ({ value: f, label: FORMAT_LABELS[f] })),
];

function RejectTable({ errors, testId }: { errors: RowError[]; testId: string }) {
  return (
    <Table fz="xs" data-testid={testId}>
      <Table.Thead><Table.Tr><Table.Th>Line</Table.Th><Table.Th>Field</Table.Th><Table.Th>Reason</Table.Th></Table.Tr></Table.Thead>
      <Table.Tbody>
        {errors.slice(0, 200).map((e, i) => (
          <Table.Tr key={i}><Table.Td>{e.line}</Table.Td><Table.Td><Code>{e.field}</Code></Table.Td><Table.Td>{e.reason}</Table.Td></Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

const STANDARD_COLUMNS: CsvColumns = { id: "id", customer: "customer", event_type: "type", timestamp: "timestamp" };
const COLUMN_FIELDS: { key: keyof CsvColumns; label: string }[] = [
  { key: "id", label: "Event id" },
  { key: "customer", label: "Customer" },
  { key: "event_type", label: "Event type" },
  { key: "timestamp", label: "Time" },
];

/** Which CSV columns hold the id, customer, type and time; saved under a name for next time. */
function ColumnMapping({ header, missing, columns, onChange }: {
  header: string[]; missing: string[]; columns: CsvColumns; onChange: (c: CsvColumns) => void;
}) {
  const [mappings, setMappings] = useState<NamedMapping[]>([]);
  const [name, setName] = useState("");
  const load = () => void call("mappings_list").then(setMappings).catch(notifyError);
  useEffect(load, []);
  const save = async () => {
    try {
      await call("mapping_save", { name: name.trim(), columns });
      notifyOk(`Saved the mapping "${name.trim()}"`);
      load();
    } catch (e) {
      notifyError(e, "The mapping was not saved");
    }
  };
  return (
    <Stack gap="xs" data-testid="import-mapping">
      {missing.length > 0 && (
        <Alert color="orange" title="Choose the columns">
          The file has no column named {missing.map((m) => `"${m}"`).join(", ")}. Pick which of its columns holds each field.
        </Alert>
      )}
      <Group align="end">
        {COLUMN_FIELDS.map(({ key, label }) => (
          <Select key={key} label={label} data={header} value={header.includes(columns[key]) ? columns[key] : null} w={170}
            error={!header.includes(columns[key]) ? `no "${columns[key]}"` : undefined} data-testid={`mapping-${key}`}
            onChange={(v) => v && onChange({ ...columns, [key]: v })} allowDeselect={false} />
        ))}
        <Select label="Saved mappings" placeholder={mappings.length ? "Use one…" : "none yet"} w={170} value={null}
          data={mappings.map((m) => m.name)} disabled={mappings.length === 0} data-testid="mapping-use"
          onChange={(v) => { const m = mappings.find((x) => x.name === v); if (m) onChange(m.columns); }} />
      </Group>
      <Group align="end">
        <TextInput label="Save this mapping as" placeholder="gateway export" value={name} w={240} data-testid="mapping-name"
          onChange={(e) => setName(e.currentTarget.value)} />
        <Button variant="default" onClick={save} disabled={!name.trim()} data-testid="mapping-save">Save mapping</Button>
      </Group>
    </Stack>
  );
}

/** Saves an import's rejected rows, as the file wrote them, to fix and import
 * again: beside the imported file (`defaultPath`, which Rust chose) or where
 * the save dialog says. */
function SaveRejects({ importId, defaultPath }: { importId: number; defaultPath: string }) {
  const [path, setPath] = useState(defaultPath);
  const [saved, setSaved] = useState<string | null>(null);
  const browse = async () => {
    const picked = await call("rejects_save_dialog", { fileName: defaultPath.split(/[/\\]/).pop() ?? "rejects.csv" })
      .catch((e) => notifyError(e));
    if (picked) { setPath(picked); setSaved(null); }
  };
  const save = async () => {
    try {
      const rows = await call("events_rejects_save", { importId, path });
      setSaved(`Saved ${countOf(rows, "rejected row")} to ${path}`);
    } catch (e) {
      notifyError(e, "The rejected rows were not saved");
    }
  };
  return (
    <Stack gap={4} mt="sm">
      <Group align="end">
        <TextInput label="Save the rejected rows to fix and import again" w={520} value={path} readOnly data-testid="rejects-path" />
        <Button variant="default" leftSection={<IconFolderOpen size={16} />} onClick={browse}>Browse…</Button>
        <Button leftSection={<IconDeviceFloppy size={16} />} onClick={save} disabled={!path} data-testid="rejects-save">Save</Button>
      </Group>
      {saved && <Text size="sm" data-testid="rejects-saved">{saved}</Text>}
    </Stack>
  );
}

/** Import usage events (choose, preview and map, import with progress, results). */
function ImportEvents({ onImported }: { onImported: () => void }) {
  const [path, setPath] = useState("");
  const [format, setFormat] = useState<Format | "auto">("auto");
  const [columns, setColumns] = useState<CsvColumns>(STANDARD_COLUMNS);
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  // The import's progress and the seconds it had run when that was reported.
  const [progress, setProgress] = useState<(ImportProgress & { seconds: number }) | null>(null);
  const [result, setResult] = useState<EventImport | null>(null);
  const [running, setRunning] = useState(false);
  const started = useRef(0);
  const chosenFormat = format === "auto" ? null : format;

  const browse = async () => {
    const picked = await call("event_file_pick").catch((e) => notifyError(e));
    if (picked) { setPath(picked); setPreview(null); }
  };
  const showPreview = async (mapped: CsvColumns = columns) => {
    setResult(null);
    try {
      setPreview(await call("events_preview", { path, format: chosenFormat, columns: mapped }));
    } catch (e) {
      setPreview(null);
      notifyError(e, "The file cannot be read");
    }
  };
  const remap = (mapped: CsvColumns) => { setColumns(mapped); void showPreview(mapped); };
  const runImport = async () => {
    const onProgress = new Channel<ImportProgress>();
    onProgress.onmessage = (p) => setProgress({ ...p, seconds: (performance.now() - started.current) / 1000 });
    started.current = performance.now();
    setRunning(true);
    setProgress(null);
    try {
      setResult(await call("events_import", { path, format: chosenFormat, columns, onProgress }));
      setPreview(null);
      onImported();
    } catch (e) {
      notifyError(e, "The import stopped");
    } finally {
      setRunning(false);
    }
  };

  const seconds = progress?.seconds ?? 0;
  const total = preview?.bytes ?? 0;
  const percent = progress && total > 0 ? Math.min(100, (progress.bytes / total) * 100) : 0;
  const rate = progress && seconds > 0 ? progress.rows / seconds : 0;
  const left = progress && progress.bytes > 0 && total > progress.bytes ? (seconds * (total - progress.bytes)) / progress.bytes : 0;
  const report = result?.report;

  return (
    <Card withBorder>
      <Stack>
        <Title order={4}>Import usage events</Title>
        <Group align="end">
          {/* Read-only: the console only reads a file chosen in the dialog. */}
          <TextInput label="File" placeholder="Choose an event file with Browse…" w={520} value={path} readOnly data-testid="import-path" />
          <Button variant="default" leftSection={<IconFolderOpen size={16} />} onClick={browse} data-testid="import-browse">Browse…</Button>
          <Select label="Format" data={FORMATS} value={format} onChange={(v) => { setFormat((v ?? "auto") as Format | "auto"); setPreview(null); }} allowDeselect={false} w={200} />
          <Button variant="light" onClick={() => void showPreview()} disabled={!path || running} data-testid="import-preview">Preview</Button>
        </Group>
        {preview && (
          <Stack gap="xs" data-testid="import-preview-result">
            <Text size="sm">Format <Badge variant="light">{FORMAT_LABELS[preview.format]}</Badge>{preview.missing.length === 0 && <> · first {countOf(preview.rows.length + preview.errors.length, "row")}: {preview.rows.length.toLocaleString()} valid, {preview.errors.length.toLocaleString()} rejected</>}</Text>
            {preview.format === "csv" && (
              <ColumnMapping header={preview.header} missing={preview.missing} columns={columns} onChange={remap} />
            )}
            {preview.missing.length === 0 && (
              <Table fz="xs" striped>
                <Table.Thead><Table.Tr><Table.Th>Line</Table.Th><Table.Th>Id</Table.Th><Table.Th>Customer</Table.Th><Table.Th>Type</Table.Th><Table.Th>Time ({workspaceZone()})</Table.Th><Table.Th>Properties</Table.Th></Table.Tr></Table.Thead>
                <Table.Tbody>
                  {preview.rows.slice(0, 8).map((r) => (
                    <Table.Tr key={r.line}><Table.Td>{r.line}</Table.Td><Table.Td>{r.id}</Table.Td><Table.Td>{r.customer}</Table.Td><Table.Td>{r.event_type}</Table.Td><Table.Td style={{ whiteSpace: "nowrap" }}>{formatMoment(r.timestamp)}</Table.Td><Table.Td><Code>{r.properties}</Code></Table.Td></Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
            {preview.errors.length > 0 && <RejectTable errors={preview.errors} testId="import-preview-errors" />}
            <Group><Button leftSection={<IconUpload size={16} />} onClick={runImport} disabled={running || preview.missing.length > 0} data-testid="import-run">Import</Button></Group>
          </Stack>
        )}
        {running && (
          <Stack gap={4} data-testid="import-progress">
            <Progress value={percent} animated />
            <Group justify="space-between">
              <Text size="sm">{(progress?.rows ?? 0).toLocaleString()} rows · {Math.round(rate).toLocaleString()} rows/s · about {Math.ceil(left)} s left</Text>
              <Button size="xs" variant="subtle" color="red" onClick={() => void call("events_import_cancel")}>Cancel</Button>
            </Group>
          </Stack>
        )}
        {result && report && (
          <Alert color={report.rejected > 0 ? "orange" : "teal"} title="Import finished" data-testid="import-report">
            <Text size="sm" data-testid="import-counts">
              {report.accepted.toLocaleString()} accepted, {countOf(report.duplicates, "duplicate")}, {report.rejected.toLocaleString()} rejected
            </Text>
            {result.late > 0 && (
              <Text size="sm" c="orange" data-testid="import-late">
                {result.late === 1 ? "1 accepted event falls in a period" : `${result.late.toLocaleString()} accepted events fall in periods`} already
                invoiced: stored and flagged late (Invoices, Late usage).
              </Text>
            )}
            {report.errors.length > 0 && <RejectTable errors={report.errors} testId="import-errors" />}
            {result.rejects_path && (
              <SaveRejects key={result.import_id} importId={result.import_id} defaultPath={result.rejects_path} />
            )}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}

/** One meter's value for one customer in a calendar month of the workspace zone. */
function UsageLookup({ version }: { version: number }) {
  const [meters, setMeters] = useState<Meter[]>([]);
  const [meter, setMeter] = useState<string | null>(null);
  const [customer, setCustomer] = useState<string | null>(null);
  const [search, setSearch] = useState("");
  const [options, setOptions] = useState<{ value: string; label: string }[]>([]);
  // The last month that has ended in the workspace's zone, once known ("YYYY-MM-01").
  const [month, setMonth] = useState<string | null>(null);
  const [group, setGroup] = useState<string | null>(null);
  const [groups, setGroups] = useState<string[]>([]);
  const [result, setResult] = useState<MonthUsage | null>(null);

  useEffect(() => { void call("meters_list").then(setMeters).catch(notifyError); }, []);
  useEffect(() => {
    // Asked when the page opens (not the app's start): the month may have turned since.
    void call("workspace_summary").then((s) => setMonth((m) => m ?? `${s.last_complete_month}-01`))
      .catch(notifyError);
  }, []);
  useEffect(() => {
    void call("customers_page", { search, includeArchived: true, offset: 0, limit: 20 })
      .then((p) => setOptions((prev) => {
        const rows = p.rows.map((c) => ({ value: c.id, label: `${c.name} (${c.id})` }));
        // The chosen customer stays an option while another search runs.
        const kept = prev.find((o) => o.value === customer);
        return kept && !rows.some((r) => r.value === kept.value) ? [kept, ...rows] : rows;
      })).catch(() => setOptions([]));
  }, [search, customer]);
  const chosen = meters.find((m) => m.code === meter);
  // The group values this meter has seen (for the chosen customer): picked, not typed.
  useEffect(() => {
    if (!chosen?.group_by) { setGroups([]); return; }
    void call("usage_groups", { meter: chosen.code, customer }).then(setGroups).catch(() => setGroups([]));
  }, [chosen, customer, version]);

  const look = async () => {
    if (!meter || !customer || !month) return;
    try {
      setResult(await call("usage_month", { meter, customer, month: month.slice(0, 7), group }));
    } catch (e) {
      setResult(null);
      notifyError(e, "No usage figure");
    }
  };
  const unit = chosen?.unit ?? "";

  return (
    <Card withBorder>
      <Stack>
        <Title order={4}>Usage for a month</Title>
        <SimpleGrid cols={{ base: 2, md: 5 }}>
          <Select label="Meter" data={meters.map((m) => ({ value: m.code, label: m.name }))} value={meter}
            onChange={(v) => { setMeter(v); setGroup(null); }} searchable data-testid="usage-meter" />
          <Select label="Customer" data={options} value={customer} onChange={setCustomer} searchable searchValue={search}
            onSearchChange={setSearch} filter={({ options: o }) => o} placeholder="Search by name or id" nothingFoundMessage="No such customer"
            data-testid="usage-customer" />
          <MonthPickerInput label="Month" value={month} onChange={setMonth} valueFormat="MMMM YYYY" data-testid="usage-month" />
          <Select label="Group" data={groups} value={group} onChange={setGroup} clearable searchable
            placeholder={!chosen?.group_by ? "not grouped" : groups.length ? `every ${chosen.group_by}` : `no ${chosen.group_by} seen`}
            disabled={!chosen?.group_by || groups.length === 0} data-testid="usage-group" />
          <Button mt={24} onClick={look} disabled={!meter || !customer || !month} data-testid="usage-look">Show</Button>
        </SimpleGrid>
        {result && (
          <Stack gap="xs">
            <Text data-testid="usage-result">
              <Text span fw={700} fz="xl" data-testid="usage-value">{groupDigits(result.value)}</Text> {unit && unitFor(result.value, unit)}
              <Text span c="dimmed" size="sm">
                {" "}in {formatMonth(month?.slice(0, 7))}{group ? ` for ${chosen?.group_by} ${group}` : ""} ({formatDays(
                  `${month?.slice(0, 7)}-01`, lastDayOf(month?.slice(0, 7) ?? ""))}, days in {workspaceZone()})
              </Text>
            </Text>
            {/* Values arrive as decimal strings; the chart needs numbers to draw bar heights only. */}
            <BarChart h={220} dataKey="day" data-testid="usage-chart"
              data={result.days.map((d) => ({ day: formatDay(d.day), value: Number(d.value) }))}
              series={[{ name: "value", label: chosen?.name ?? "value", color: "teal.6" }]}
              xAxisProps={{ tickFormatter: (v: string) => v.replace(/,? \d{4}$/, "") }}
              yAxisProps={{ tickFormatter: (v: number) => compactNumber(v) }}
              valueFormatter={(v) => `${chartNumber(v)}${unit ? ` ${unitFor(v, unit)}` : ""}`} tickLine="y" />
          </Stack>
        )}
      </Stack>
    </Card>
  );
}

export function UsagePage({ explore }: { explore: ExploreFilter | null }) {
  // Bumped by each import and rollback: the history reads itself again.
  const [imports, setImports] = useState(0);
  return (
    <Stack maw={1100}>
      <Title order={2}>Usage</Title>
      <ImportEvents onImported={() => setImports((n) => n + 1)} />
      <ImportHistory version={imports} onRolledBack={() => setImports((n) => n + 1)} />
      <UsageLookup version={imports} />
      <EventsExplorer initial={explore} version={imports} />
    </Stack>
  );
}
