import { useEffect, useMemo, useState } from "react";
import { formatDay } from "../api/format";
import { Badge, Button, Checkbox, Drawer, Group, Loader, Modal, SegmentedControl, Select, Stack, Table, Text, TextInput } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import { IconFileSpreadsheet, IconFolderDown } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import { useTotals } from "../api/totals";
import type { Entry } from "../api/generated/Entry";
import type { Meter } from "../api/generated/Meter";
import type { Standing } from "../api/generated/Standing";
import type { ExploreFilter } from "../components/DraftView";
import { InvoiceSheet, STANDING_COLOR } from "../components/InvoiceSheet";
import { notifyError, notifyOk, notifySaved } from "../notify";

type Filter = "all" | Standing;

/**
 * Every finalized invoice, newest first: number, customer, period, dates,
 * standing, total and what is still owed; filtered by standing, period month
 * and text. A row opens the invoice; chosen rows (or all shown) export as PDFs
 * into a folder.
 */
const NOWRAP = { whiteSpace: "nowrap" } as const;
/** A badge as wide as its word: never shortened to "PA…" in a narrow table. */
const UNCUT = { root: { overflow: "visible", flexShrink: 0 }, label: { overflow: "visible", textOverflow: "clip" } } as const;

export function InvoiceRegister({ meters, generation, opened, onOpen, onExplore }: {
  meters: Meter[];
  generation: number;
  opened: string | null;
  onOpen: (number: string | null) => void;
  onExplore: (f: ExploreFilter) => void;
}) {
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [filter, setFilter] = useState<Filter>("all");
  const [month, setMonth] = useState<string | null>(null);
  const [search, setSearch] = useState("");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [changes, setChanges] = useState(0);
  const [exporting, setExporting] = useState(false);
  const [csvOpen, setCsvOpen] = useState(false);
  const [range, setRange] = useState<[string | null, string | null]>([null, null]);

  useEffect(() => {
    call("invoices_list").then(setEntries).catch((e) => notifyError(e, "The invoices could not be read"));
  }, [generation, changes]);

  const months = useMemo(() => [...new Set((entries ?? []).map((e) => e.first_day.slice(0, 7)))].sort().reverse(), [entries]);
  const rows = useMemo(() => {
    const needle = search.trim().toLowerCase();
    return (entries ?? []).filter((e) =>
      (filter === "all" || e.standing === filter)
      && (!month || e.first_day.startsWith(month))
      && (!needle || e.number.toLowerCase().includes(needle) || e.customer.includes(needle) || e.customer_name.toLowerCase().includes(needle)));
  }, [entries, filter, month, search]);
  const owed = useTotals(useMemo(() => rows.map((e) => ({ currency: e.currency, amount: e.outstanding })), [rows]));
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const e of entries ?? []) c[e.standing] = (c[e.standing] ?? 0) + 1;
    return c;
  }, [entries]);

  const shownChosen = rows.filter((e) => chosen.has(e.number));
  const toExport = shownChosen.length ? shownChosen : rows;
  const exportPdfs = async () => {
    try {
      const folder = await call("folder_pick_dialog", { title: `Save ${toExport.length} PDFs into` });
      if (!folder) return;
      setExporting(true);
      const n = await call("documents_pdf_save", { numbers: toExport.map((e) => e.number), folder });
      notifyOk(`Saved ${n === 1 ? "1 PDF" : `${n} PDFs`} into ${folder}`);
    } catch (e) {
      notifyError(e, "The PDFs were not saved");
    } finally {
      setExporting(false);
    }
  };

  const openCsv = () => {
    // The issue dates of what is shown, by default.
    const dates = rows.map((e) => e.issue_date).sort();
    setRange([dates[0] ?? null, dates[dates.length - 1] ?? null]);
    setCsvOpen(true);
  };
  const exportCsv = async () => {
    const [from, to] = range;
    if (!from || !to) return;
    try {
      const path = await call("csv_save_dialog", { title: "Export the invoices for accounting", fileName: `invoices-${from}-${to}.csv` });
      if (!path) return;
      const n = await call("invoices_csv_save", { from, to, path });
      setCsvOpen(false);
      notifySaved(`Exported ${n === 1 ? "1 invoice" : `${n} invoices`} to ${path}`, path);
    } catch (e) {
      notifyError(e, "The invoices were not exported");
    }
  };

  const label = (s: Filter, text: string) => ({ value: s, label: s === "all" ? `${text} (${entries?.length ?? 0})` : `${text} (${counts[s] ?? 0})` });

  return (
    <Stack>
      <Group align="end" justify="space-between">
        <Group align="end">
          <SegmentedControl value={filter} onChange={(v) => setFilter(v as Filter)} data-testid="register-filter"
            data={[label("all", "All"), label("open", "Open"), label("overdue", "Overdue"), label("partially_paid", "Partially paid"), label("paid", "Paid"), label("credited", "Credited"), label("void", "Void")]} />
          <Select placeholder="Any period" data={months} value={month} onChange={setMonth} clearable w={150} data-testid="register-month" />
          <TextInput placeholder="number or customer" value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={220}
            data-testid="register-search" />
        </Group>
        <Group gap="xs">
          <Button variant="light" leftSection={<IconFileSpreadsheet size={16} />} onClick={openCsv} disabled={!entries?.length}
            data-testid="register-export-csv">Accounting CSV…</Button>
          <Button variant="light" leftSection={<IconFolderDown size={16} />} onClick={exportPdfs} loading={exporting}
            disabled={toExport.length === 0} data-testid="register-export-pdfs">
            {shownChosen.length === 1 ? "Save 1 PDF…" : shownChosen.length ? `Save ${shownChosen.length} PDFs…` : rows.length === 1 ? "Save the PDF…" : `Save all ${rows.length} PDFs…`}
          </Button>
        </Group>
      </Group>
      <Modal opened={csvOpen} onClose={() => setCsvOpen(false)} title="Export invoices for accounting">
        <Stack>
          <Text size="sm" c="dimmed">
            One row per invoice line with its net amount, its share of the tax and the gross amount; each invoice's rows add
            up to its subtotal, tax and total, to the cent.
          </Text>
          <DatePickerInput type="range" label="Issued between" value={range} onChange={(v) => setRange(v as [string | null, string | null])}
            valueFormat="YYYY-MM-DD" allowSingleDateInRange data-testid="register-csv-range" />
          <Group justify="flex-end">
            <Button onClick={exportCsv} disabled={!range[0] || !range[1]} data-testid="register-csv-save">Export…</Button>
          </Group>
        </Stack>
      </Modal>
      <Group gap="xs" data-testid="register-owed">
        {owed.map((o) => <Badge key={o.currency} variant="light" size="lg" tt="none">owed {groupDigits(o.total)} {o.currency}</Badge>)}
      </Group>
      {!entries && <Loader size="sm" />}
      {entries && entries.length === 0 && <Text c="dimmed">No finalized invoices yet: review the drafts of a month and finalize them.</Text>}
      {entries && entries.length > 0 && (
        <Table striped highlightOnHover stickyHeader stickyHeaderOffset={52} data-testid="register-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36}>
                <Checkbox aria-label="Choose every invoice shown" checked={rows.length > 0 && shownChosen.length === rows.length}
                  indeterminate={shownChosen.length > 0 && shownChosen.length < rows.length}
                  onChange={(e) => setChosen(new Set(e.currentTarget.checked ? rows.map((r) => r.number) : []))} />
              </Table.Th>
              <Table.Th>Number</Table.Th>
              <Table.Th>Customer</Table.Th>
              <Table.Th>Period</Table.Th>
              <Table.Th>Issued</Table.Th>
              <Table.Th>Due</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th ta="right">Total</Table.Th>
              <Table.Th ta="right">Owed</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((e) => (
              <Table.Tr key={e.number} style={{ cursor: "pointer" }} onClick={() => onOpen(e.number)} data-testid={`register-row-${e.number}`}>
                <Table.Td onClick={(ev) => ev.stopPropagation()}>
                  <Checkbox aria-label={`Choose ${e.number}`} checked={chosen.has(e.number)} onChange={(ev) => {
                    const on = ev.currentTarget.checked;
                    setChosen((c) => { const n = new Set(c); if (on) n.add(e.number); else n.delete(e.number); return n; });
                  }} />
                </Table.Td>
                <Table.Td ff="monospace" style={NOWRAP}>
                  {e.number}{e.kind === "advance" && <Badge ml={6} size="xs" variant="outline" tt="none">advance</Badge>}
                  {e.kind === "adjustment" && <Badge ml={6} size="xs" variant="outline" tt="none">late usage</Badge>}
                </Table.Td>
                <Table.Td><Text size="sm" truncate maw={180} title={e.customer_name}>{e.customer_name}</Text></Table.Td>
                <Table.Td style={NOWRAP}>{formatDay(e.first_day)}</Table.Td>
                <Table.Td style={NOWRAP}>{formatDay(e.issue_date)}</Table.Td>
                <Table.Td style={NOWRAP}>{formatDay(e.due_date)}</Table.Td>
                <Table.Td style={NOWRAP}><Badge color={STANDING_COLOR[e.standing]} variant="light" styles={UNCUT}
                  data-testid={`register-standing-${e.number}`}>{e.standing}</Badge></Table.Td>
                <Table.Td ta="right" ff="monospace" style={NOWRAP}>{groupDigits(e.total)} {e.currency}</Table.Td>
                <Table.Td ta="right" ff="monospace" style={NOWRAP} data-testid={`register-owed-${e.number}`}>{groupDigits(e.outstanding)} {e.currency}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Drawer opened={opened !== null} onClose={() => onOpen(null)} position="right" size="xl" title="Invoice">
        {opened && (
          <InvoiceSheet number={opened} meters={meters} onChanged={() => setChanges((c) => c + 1)}
            onExplore={(f) => { onOpen(null); onExplore(f); }} />
        )}
      </Drawer>
    </Stack>
  );
}
