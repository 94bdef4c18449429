import { useCallback, useEffect, useRef, useState } from "react";
import { Badge, Box, Button, Group, Stack, Switch, Text, TextInput, Title, UnstyledButton, Alert, Table } from "@mantine/core";
import { useDebouncedValue, useHotkeys } from "@mantine/hooks";
import { IconPlus, IconSearch, IconUpload } from "@tabler/icons-react";
import { call } from "../api/invoke";
import type { Customer } from "../api/generated/Customer";
import type { CustomerListRow } from "../api/generated/CustomerListRow";
import type { CurrencyInfo } from "../api/generated/CurrencyInfo";
import type { ImportReport } from "../api/generated/ImportReport";
import { compareDecimals, groupDigits } from "../api/decimal";
import { notifyError, notifyOk } from "../notify";
import { CustomerEditor } from "./CustomerEditor";
import { CustomerPage } from "./CustomerPage";
import { usePagedRows } from "../components/usePagedRows";

const PAGE_SIZE = 200;
const ROW_HEIGHT = 44;
const GRID = "minmax(180px, 2fr) minmax(120px, 1.3fr) minmax(110px, 1fr) minmax(110px, 1fr) minmax(160px, 1.6fr)";

/**
 * Customers, virtualized: only the rows on screen are in the DOM, and rows are
 * fetched from the workspace a page at a time as they scroll into view, so the
 * list stays fast with 100,000 customers.
 */
export function CustomersPage({ initial, onChanged, onOpenInvoice, onOpenWallet }: {
  /** A customer whose page opens at once (from the dashboard). */
  initial?: string | null;
  onChanged: () => void;
  onOpenInvoice: (number: string) => void;
  onOpenWallet: (customer: string) => void;
}) {
  // The customer whose page is open (the list stays mounted below it).
  const [viewing, setViewing] = useState<string | null>(initial ?? null);
  const [pageVersion, setPageVersion] = useState(0);
  const [search, setSearch] = useState("");
  const [query] = useDebouncedValue(search, 200);
  const [showArchived, setShowArchived] = useState(false);
  const [listVersion, setListVersion] = useState(0);
  const [editing, setEditing] = useState<Customer | null>(null);
  const [editorOpen, setEditorOpen] = useState(false);
  const [currencies, setCurrencies] = useState<CurrencyInfo[]>([]);
  const [defaultCurrency, setDefaultCurrency] = useState("USD");
  const [lastImport, setLastImport] = useState<ImportReport | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    void call("reference_data").then((r) => setCurrencies(r.currencies)).catch(notifyError);
    void call("settings_get").then((s) => setDefaultCurrency(s.currency)).catch(notifyError);
  }, []);

  const fetchPage = useCallback(
    (offset: number, limit: number) => call("customers_list", { search: query, includeArchived: showArchived, offset, limit }),
    [query, showArchived],
  );
  const onError = useCallback((e: unknown) => notifyError(e, "Customers could not be loaded"), []);
  const { total, items, totalSize, rowAt } = usePagedRows<CustomerListRow>({
    fetchPage, onError, scrollRef, pageSize: PAGE_SIZE, rowHeight: ROW_HEIGHT, version: listVersion,
  });

  const openEditor = (c: Customer | null) => {
    setEditing(c);
    setEditorOpen(true);
  };

  const saved = (id: string) => {
    // A new customer's page opens, where it is put on a plan.
    if (editing === null) setViewing(id);
    setEditorOpen(false);
    setListVersion((v) => v + 1);
    setPageVersion((v) => v + 1);
    onChanged();
  };

  const importCsv = async () => {
    try {
      const report = await call("customers_import_dialog");
      if (!report) return;
      setLastImport(report);
      notifyOk(`Imported ${report.accepted} customers (${report.duplicates} duplicates, ${report.rejected} rejected)`);
      setListVersion((v) => v + 1);
      onChanged();
    } catch (e) {
      notifyError(e, "The import failed; nothing was imported");
    }
  };

  // Ctrl+F searches the list, Ctrl+N starts a new customer (from any field).
  useHotkeys([
    ["mod+F", () => { if (!viewing) searchRef.current?.focus(); }],
    ["mod+N", () => { if (!viewing) openEditor(null); }],
  ], []);

  const editor = (
    <CustomerEditor opened={editorOpen} customer={editing} currencies={currencies} defaultCurrency={defaultCurrency}
      onClose={() => setEditorOpen(false)} onSaved={saved} />
  );
  if (viewing) {
    return (
      <>
        <CustomerPage key={`${viewing}#${pageVersion}`} id={viewing} onBack={() => setViewing(null)}
          onEdit={(o) => openEditor(o.customer)} onOpenInvoice={onOpenInvoice} onOpenWallet={onOpenWallet} />
        {editor}
      </>
    );
  }

  return (
    <Stack h="calc(100vh - 52px - 2 * var(--mantine-spacing-md))" gap="sm">
      <Group justify="space-between">
        <Title order={2}>Customers</Title>
        <Group>
          <Button variant="default" leftSection={<IconUpload size={16} />} onClick={importCsv}>Import CSV…</Button>
          <Button leftSection={<IconPlus size={16} />} onClick={() => openEditor(null)} data-testid="customer-new">New customer</Button>
        </Group>
      </Group>
      <Group>
        <TextInput ref={searchRef} placeholder="Search id, name or email (Ctrl+F)" leftSection={<IconSearch size={16} />} w={360}
          value={search} onChange={(e) => setSearch(e.currentTarget.value)} data-testid="customer-search" aria-label="Search customers" />
        <Switch label="Show archived" checked={showArchived} onChange={(e) => setShowArchived(e.currentTarget.checked)} />
        <Text size="sm" c="dimmed" data-testid="customer-total">{total === null ? "Loading…" : total === 0 ? "No customers" : total === 1 ? "1 customer" : `${total.toLocaleString()} customers`}</Text>
      </Group>
      {lastImport && lastImport.errors.length > 0 && (
        <Alert color="orange" title={`${lastImport.rejected} rows were rejected`} withCloseButton onClose={() => setLastImport(null)}>
          <Table fz="xs">
            <Table.Tbody>
              {lastImport.errors.slice(0, 50).map((e, i) => (
                <Table.Tr key={i}><Table.Td>line {e.line}</Table.Td><Table.Td>{e.field}</Table.Td><Table.Td>{e.reason}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Alert>
      )}
      <Box style={{ display: "grid", gridTemplateColumns: GRID, gap: 12, padding: "0 12px" }}>
        {["Customer", "Plan", "Owed", "Wallet", "Email"].map((h) => (
          <Text key={h} size="xs" fw={700} c="dimmed" tt="uppercase" ta={h === "Owed" || h === "Wallet" ? "right" : undefined}>{h}</Text>
        ))}
      </Box>
      <Box ref={scrollRef} style={{ flex: 1, overflow: "auto", border: "1px solid var(--mantine-color-default-border)", borderRadius: 4 }}
        data-testid="customer-list" role="list">
        {total === 0 && <Text p="md" c="dimmed">{query ? "No customer matches this search." : "No customers yet."}</Text>}
        <div style={{ height: totalSize, position: "relative" }}>
          {items.map((item) => {
            const c = rowAt(item.index);
            return (
              <UnstyledButton key={item.key} role="listitem" onClick={() => c && setViewing(c.id)} data-testid={c ? `customer-row-${c.id}` : undefined}
                style={{ position: "absolute", top: 0, left: 0, width: "100%", height: ROW_HEIGHT, transform: `translateY(${item.start}px)`,
                  display: "grid", gridTemplateColumns: GRID, gap: 12, alignItems: "center", padding: "0 12px",
                  borderBottom: "1px solid var(--mantine-color-default-border)" }}>
                {c ? (
                  <>
                    <div style={{ minWidth: 0 }}>
                      <Group gap={6} wrap="nowrap"><Text size="sm" fw={500} truncate>{c.name}</Text>{c.archived && <Badge size="xs" color="gray">archived</Badge>}</Group>
                      <Text size="xs" c="dimmed" ff="monospace" truncate>{c.id}</Text>
                    </div>
                    <Text size="sm" truncate c={c.plans.length ? undefined : "dimmed"}>{c.plans.length ? c.plans.join(", ") : "no plan"}</Text>
                    <Text size="sm" ff="monospace" ta="right" c={compareDecimals(c.overdue, "0") > 0 ? "red" : compareDecimals(c.owed, "0") > 0 ? undefined : "dimmed"}
                      title={compareDecimals(c.overdue, "0") > 0 ? `${groupDigits(c.overdue)} ${c.billing_currency} overdue` : undefined}>
                      {groupDigits(c.owed)} {c.billing_currency}
                    </Text>
                    <Text size="sm" ff="monospace" ta="right" c={compareDecimals(c.wallet_balance, "0") > 0 ? undefined : "dimmed"}>{groupDigits(c.wallet_balance)} {c.billing_currency}</Text>
                    <Text size="sm" c="dimmed" truncate>{c.email ?? ""}</Text>
                  </>
                ) : <Text size="sm" c="dimmed">…</Text>}
              </UnstyledButton>
            );
          })}
        </div>
      </Box>
      {editor}
    </Stack>
  );
}
