import { useEffect, useState } from "react";
import { formatDay, formatMoment } from "../api/format";
import {
  Alert, Badge, Button, Group, Loader, Menu, Modal, MultiSelect, Paper, Select, SimpleGrid, Stack, Table, Text, TextInput, Title,
} from "@mantine/core";
import { AreaChart } from "@mantine/charts";
import { IconArrowLeft, IconBellCog, IconDots, IconPlus } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { EntryKind } from "../api/generated/EntryKind";
import type { Grant } from "../api/generated/Grant";
import type { GrantState } from "../api/generated/GrantState";
import type { LedgerEntry } from "../api/generated/LedgerEntry";
import type { WalletView } from "../api/generated/WalletView";
import { notifyError, notifyOk } from "../notify";
import { GrantForm, fieldErrors } from "./GrantForm";
import { RulesForm } from "./RulesForm";

const STATE_COLOR: Record<GrantState, string> = { active: "teal", used_up: "gray", expired: "orange", void: "red" };
const KINDS: EntryKind[] = ["grant", "consumption", "expiry", "rollover", "void", "adjustment"];
/** The ledger shows this many entries at most; filters narrow it. */
const LEDGER_LIMIT = 500;

function Stat({ label, value, testid, color }: { label: string; value: string; testid: string; color?: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed">{label}</Text>
      <Text fw={700} ff="monospace" c={color} data-testid={testid}>{value}</Text>
    </Paper>
  );
}

/** Void or adjust one grant, with the reason the ledger keeps. */
function GrantAction({ customer, grant, action, onDone }: {
  customer: string; grant: Grant; action: "void" | "adjust"; onDone: (v: WalletView) => void;
}) {
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string | null }>({ fields: {}, other: null });
  const submit = async () => {
    try {
      onDone(action === "void"
        ? await call("wallet_void", { customer, grant: grant.id, reason })
        : await call("wallet_adjust", { customer, grant: grant.id, amount, reason }));
    } catch (e) {
      setErrors(fieldErrors(e));
    }
  };
  return (
    <Stack>
      {action === "void"
        ? <Text size="sm">The {groupDigits(grant.remaining)} {grant.currency} left of “{grant.id}” is voided; what was used stays used.</Text>
        : <TextInput label="Amount" description="Signed: −25.00 takes credit away" value={amount}
            onChange={(e) => setAmount(e.currentTarget.value)} error={errors.fields.amount} data-testid="adjust-amount" />}
      <TextInput label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={errors.fields.reason}
        data-testid="grant-action-reason" />
      {errors.other && <Alert color="red">{errors.other}</Alert>}
      <Group justify="flex-end">
        <Button color={action === "void" ? "red" : undefined} onClick={submit} data-testid="grant-action-confirm">
          {action === "void" ? "Void what is left" : "Adjust"}
        </Button>
      </Group>
    </Stack>
  );
}

/**
 * One customer's wallet: balance, projection and run-out date, the balance
 * over time, its grants (grant, void, adjust) and its ledger with filters.
 */
export function WalletSheet({ customer, onBack }: { customer: string; onBack: () => void }) {
  const [view, setView] = useState<WalletView | null>(null);
  const [ledger, setLedger] = useState<LedgerEntry[] | null>(null);
  const [kinds, setKinds] = useState<string[]>([]);
  const [grantFilter, setGrantFilter] = useState<string | null>(null);
  const [granting, setGranting] = useState(false);
  const [acting, setActing] = useState<{ grant: Grant; action: "void" | "adjust" } | null>(null);
  const [ruling, setRuling] = useState(false);

  useEffect(() => {
    call("wallet_view", { customer }).then(setView).catch((e) => notifyError(e, "The wallet could not be read"));
  }, [customer]);
  useEffect(() => {
    if (!view) return;
    call("wallet_ledger", { customer, query: { kinds: kinds as EntryKind[], grant: grantFilter, limit: LEDGER_LIMIT } })
      .then(setLedger).catch((e) => notifyError(e, "The ledger could not be read"));
  }, [customer, view, kinds, grantFilter]);

  if (!view) return <Loader />;
  const { wallet, projection: p } = view;
  const money = (v: string) => `${groupDigits(v)} ${wallet.currency}`;
  const changed = (v: WalletView, message: string) => {
    setView(v);
    setGranting(false);
    setActing(null);
    notifyOk(message);
  };
  const chart = view.history.map((h) => ({ date: h.date, balance: Number(h.balance) }));
  return (
    <Stack data-testid="wallet-sheet" data-customer={customer}>
      <Group justify="space-between">
        <Group>
          <Button variant="subtle" leftSection={<IconArrowLeft size={16} />} onClick={onBack} data-testid="wallet-back">Wallets</Button>
          <Title order={3}>{view.customer_name}</Title>
          <Text c="dimmed">{customer}</Text>
        </Group>
        <Group>
          <Button variant="light" leftSection={<IconBellCog size={16} />} onClick={() => setRuling(true)} data-testid="wallet-rules">
            Top-up and alerts…
          </Button>
          <Button leftSection={<IconPlus size={16} />} onClick={() => setGranting(true)} data-testid="wallet-grant">Grant credits…</Button>
        </Group>
      </Group>
      <SimpleGrid cols={5}>
        <Stat label="Balance" value={money(wallet.balance)} testid="wallet-balance" />
        <Stat label="Drafts not yet invoiced" value={money(p.draft_total)} testid="wallet-drafts" />
        <Stat label="Projected balance" value={p.has_wallet ? money(p.projected) : "no prepaid credit"} testid="wallet-projected"
          color={p.has_wallet && p.projected.startsWith("-") ? "red" : undefined} />
        <Stat label="Usage pace per day" value={money(p.daily_burn)} testid="wallet-pace" />
        <Stat label="Runs out" value={!p.has_wallet ? "—" : p.runs_out ?? "no usage yet"} testid="wallet-runs-out"
          color={p.has_wallet && p.runs_out === view.today ? "red" : undefined} />
      </SimpleGrid>
      {!p.has_wallet && (
        <Text size="sm" c="dimmed" data-testid="wallet-none">
          No prepaid credit: this customer's invoices are paid in full. Granting credits starts a wallet.
        </Text>
      )}
      {chart.length > 1 ? (
        <AreaChart h={180} data={chart} dataKey="date" curveType="stepAfter" withDots={false} data-testid="wallet-chart"
          series={[{ name: "balance", label: `Balance (${wallet.currency})`, color: "teal.6" }]}
          valueFormatter={(v) => `${groupDigits(v.toFixed(2))} ${wallet.currency}`} />
      ) : (
        <Text size="sm" c="dimmed" ta="center" py="lg" data-testid="wallet-chart-empty"
          style={{ border: "1px dashed var(--mantine-color-default-border)", borderRadius: 4 }}>
          {chart.length === 0 ? "No balance history yet: the chart starts with the first grant." : "One day of history so far: the chart draws from the second."}
        </Text>
      )}

      <Title order={5}>Grants</Title>
      {wallet.grants.length === 0 ? <Text c="dimmed">No credit granted yet.</Text> : (
        <Table striped fz="sm" data-testid="wallet-grants">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Grant</Table.Th><Table.Th>Kind</Table.Th><Table.Th ta="right">Granted</Table.Th>
              <Table.Th ta="right">Left</Table.Th><Table.Th>Last day</Table.Th><Table.Th>Priority</Table.Th>
              <Table.Th>Rollover</Table.Th><Table.Th>State</Table.Th><Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {wallet.grants.map((g) => (
              <Table.Tr key={g.id} data-testid={`grant-row-${g.id}`} data-remaining={g.remaining}>
                <Table.Td>
                  <Text size="sm">{g.id}</Text>
                  {(g.reference || g.rolled_from) && (
                    <Text size="xs" c="dimmed">{g.rolled_from ? `rolled over from ${g.rolled_from}` : g.reference}</Text>
                  )}
                </Table.Td>
                <Table.Td>{g.kind}</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(g.amount)}</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(g.remaining)}</Table.Td>
                <Table.Td>{g.expires ? formatDay(g.expires) : "never"}</Table.Td>
                <Table.Td>{g.priority}</Table.Td>
                <Table.Td>{g.rollover ? `${g.rollover.percent ?? 100}%${g.rollover.max ? `, ≤ ${g.rollover.max}` : ""}` : "—"}</Table.Td>
                <Table.Td><Badge color={STATE_COLOR[g.state]} variant="light">{g.state.replace("_", " ")}</Badge></Table.Td>
                <Table.Td>
                  {(g.state === "active" || g.state === "used_up") && (
                    <Menu position="bottom-end">
                      <Menu.Target>
                        <Button variant="subtle" size="compact-sm" aria-label={`Act on ${g.id}`} data-testid={`grant-menu-${g.id}`}>
                          <IconDots size={16} />
                        </Button>
                      </Menu.Target>
                      <Menu.Dropdown>
                        <Menu.Item onClick={() => setActing({ grant: g, action: "adjust" })}>Adjust…</Menu.Item>
                        <Menu.Item color="red" onClick={() => setActing({ grant: g, action: "void" })}
                          disabled={g.state !== "active"}>Void what is left…</Menu.Item>
                      </Menu.Dropdown>
                    </Menu>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}

      <Group justify="space-between" align="flex-end">
        <Title order={5}>Ledger</Title>
        <Group>
          <MultiSelect placeholder="Every kind" data={KINDS} value={kinds} onChange={setKinds} clearable w={300}
            data-testid="ledger-kinds" />
          <Select placeholder="Every grant" data={wallet.grants.map((g) => g.id)} value={grantFilter} onChange={setGrantFilter}
            clearable w={180} data-testid="ledger-grant" />
        </Group>
      </Group>
      {!ledger ? <Loader size="sm" /> : (
        <Table striped fz="sm" data-testid="wallet-ledger">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>When</Table.Th><Table.Th>Kind</Table.Th><Table.Th>Grant</Table.Th><Table.Th ta="right">Amount</Table.Th>
              <Table.Th ta="right">Balance after</Table.Th><Table.Th>Invoice</Table.Th><Table.Th>Note</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {ledger.map((e) => (
              <Table.Tr key={e.id} data-testid="ledger-row" data-kind={e.kind}>
                <Table.Td style={{ whiteSpace: "nowrap" }}>{formatMoment(e.at)}</Table.Td>
                <Table.Td>{e.kind}</Table.Td>
                <Table.Td>{e.grant}</Table.Td>
                <Table.Td ta="right" ff="monospace" c={e.amount.startsWith("-") ? "red" : undefined}>{groupDigits(e.amount)}</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(e.balance)}</Table.Td>
                <Table.Td>{e.invoice ?? ""}</Table.Td>
                <Table.Td>{e.note}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {ledger?.length === LEDGER_LIMIT && <Text size="xs" c="dimmed">The newest {LEDGER_LIMIT} entries; filter to see others.</Text>}

      <Modal opened={granting} onClose={() => setGranting(false)} title={`Grant credits to ${view.customer_name}`} size="lg">
        <GrantForm customer={customer} currency={wallet.currency} today={view.today}
          onDone={(v) => changed(v, `Granted credits to ${view.customer_name}`)} />
      </Modal>
      <Modal opened={ruling} onClose={() => setRuling(false)} title={`Top-up and alerts for ${view.customer_name}`} size="lg">
        <RulesForm customer={customer} currency={wallet.currency} onDone={() => {
          setRuling(false);
          notifyOk("Rules saved");
          // Saving evaluates them: a top-up may have been granted.
          call("wallet_view", { customer }).then(setView).catch((e) => notifyError(e, "The wallet could not be read"));
        }} />
      </Modal>
      <Modal opened={!!acting} onClose={() => setActing(null)}
        title={acting ? `${acting.action === "void" ? "Void" : "Adjust"} grant “${acting.grant.id}”` : ""}>
        {acting && <GrantAction customer={customer} grant={acting.grant} action={acting.action}
          onDone={(v) => changed(v, acting.action === "void" ? `Voided what was left of ${acting.grant.id}` : `Adjusted ${acting.grant.id}`)} />}
      </Modal>
    </Stack>
  );
}
