import { useEffect, useMemo, useState } from "react";
import { formatDay } from "../api/format";
import { Autocomplete, Badge, Button, Group, Loader, Stack, Table, Text, Title } from "@mantine/core";
import { IconWallet } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { compareDecimals, groupDigits } from "../api/decimal";
import type { WalletRow } from "../api/generated/WalletRow";
import { SortHeader } from "../components/SortHeader";
import { WalletSheet } from "../components/WalletSheet";
import { notifyError } from "../notify";

type SortKey = "name" | "balance" | "projected" | "runs_out";

/** Never-running-out sorts after every date. */
function compareRunsOut(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

const ORDER: Record<SortKey, (a: WalletRow, b: WalletRow) => number> = {
  name: (a, b) => a.name.localeCompare(b.name),
  balance: (a, b) => compareDecimals(a.balance, b.balance),
  projected: (a, b) => compareDecimals(a.projected, b.projected),
  runs_out: (a, b) => compareRunsOut(a.runs_out, b.runs_out),
};

/**
 * Every customer's wallet: balance, what the running periods' drafts would
 * take, the projected balance and the day it runs out, sortable. A row (or a
 * customer picked by id) opens that customer's wallet.
 */
export function WalletsPage({ initial }: { initial: string | null }) {
  const [rows, setRows] = useState<WalletRow[] | null>(null);
  const [opened, setOpened] = useState<string | null>(initial);
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "runs_out", desc: false });
  const [pick, setPick] = useState("");
  const [options, setOptions] = useState<string[]>([]);

  useEffect(() => {
    if (opened) return;
    call("wallets_overview").then(setRows).catch((e) => notifyError(e, "The wallets could not be read"));
  }, [opened]);
  useEffect(() => {
    void call("customers_page", { search: pick, includeArchived: false, offset: 0, limit: 20 })
      .then((p) => setOptions(p.rows.map((c) => c.id))).catch(() => setOptions([]));
  }, [pick]);
  const sorted = useMemo(() => {
    const list = [...(rows ?? [])].sort(ORDER[sort.key]);
    return sort.desc ? list.reverse() : list;
  }, [rows, sort]);

  if (opened) return <WalletSheet customer={opened} onBack={() => setOpened(null)} />;
  const onSort = (key: SortKey) => setSort((s) => ({ key, desc: s.key === key ? !s.desc : false }));
  const sorting = { sortedBy: sort.key, ascending: !sort.desc, onSort, testid: "wallets-sort" };
  return (
    <Stack>
      <Group justify="space-between" align="flex-end">
        <Title order={3}>Wallets</Title>
        <Group align="flex-end">
          <Autocomplete label="Open a customer's wallet" placeholder="customer id" data={options} value={pick} onChange={setPick}
            data-testid="wallets-customer" w={260} />
          <Button leftSection={<IconWallet size={16} />} disabled={!pick.trim()} onClick={() => setOpened(pick.trim())}
            data-testid="wallets-open">Open</Button>
        </Group>
      </Group>
      {!rows ? <Loader /> : rows.length === 0 ? (
        <Text c="dimmed" data-testid="wallets-empty">No customer has prepaid credit yet. Open a customer's wallet to grant some.</Text>
      ) : (
        <Table striped highlightOnHover fz="sm" data-testid="wallets-table">
          <Table.Thead>
            <Table.Tr>
              <SortHeader label="Customer" k="name" {...sorting} />
              <SortHeader label="Balance" k="balance" {...sorting} right />
              <Table.Th ta="right">This period's drafts</Table.Th>
              <SortHeader label="Projected" k="projected" {...sorting} right />
              <SortHeader label="Runs out" k="runs_out" {...sorting} />
              <Table.Th>Next expiry</Table.Th>
              <Table.Th>Grants</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {sorted.map((r) => (
              <Table.Tr key={r.customer} onClick={() => setOpened(r.customer)} style={{ cursor: "pointer" }}
                data-testid={`wallet-row-${r.customer}`}>
                <Table.Td><Text size="sm">{r.name}</Text><Text size="xs" c="dimmed">{r.customer}</Text></Table.Td>
                <Table.Td ta="right" ff="monospace" data-testid={`wallet-row-balance-${r.customer}`}>{groupDigits(r.balance)} {r.currency}</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(r.draft_total)}</Table.Td>
                <Table.Td ta="right" ff="monospace" c={r.projected.startsWith("-") ? "red" : undefined}>{groupDigits(r.projected)}</Table.Td>
                <Table.Td>{r.runs_out ?? "—"}</Table.Td>
                <Table.Td>{r.next_expiry ? formatDay(r.next_expiry) : "—"}</Table.Td>
                <Table.Td><Badge variant="light" color={r.active_grants ? "teal" : "gray"}>{r.active_grants} active</Badge></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
