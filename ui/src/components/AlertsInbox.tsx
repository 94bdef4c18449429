import { useCallback, useEffect, useState } from "react";
import { formatMoment } from "../api/format";
import { ActionIcon, Badge, Button, Drawer, Group, Indicator, Paper, Stack, Switch, Text } from "@mantine/core";
import { IconBell } from "@tabler/icons-react";
import { listen } from "@tauri-apps/api/event";
import { call } from "../api/invoke";
import type { Alert } from "../api/generated/Alert";
import type { AlertKind } from "../api/generated/AlertKind";
import type { LateUsage } from "../api/generated/LateUsage";
import type { ImportRecord } from "../api/generated/ImportRecord";
import { notifyError } from "../notify";
import { SIGNAL } from "./Signals";

const KIND: Record<AlertKind, { label: string; color: string }> = {
  low_balance: { label: "Low balance", color: "red" },
  expiring: { label: "Credit expiring", color: "orange" },
  topup: { label: "Automatic top-up", color: "teal" },
  churn_risk: SIGNAL.churn_risk,
  power_user: SIGNAL.power_user,
  usage: { label: "Usage alert", color: "blue" },
  spend: { label: "Spend alert", color: "grape" },
};

/** Signals and usage or spend alerts lead to the customer's page; the rest to its wallet. */
const OPENS_CUSTOMER: Record<AlertKind, boolean> = {
  low_balance: false, expiring: false, topup: false, churn_risk: true, power_user: true, usage: true, spend: true,
};

/**
 * The header's alerts inbox: wallet alerts (low balance, credit expiring,
 * automatic top-ups) and the usage and spend alerts of the alert rules,
 * raised after imports and finalizing, and the business
 * signals (churn risk, power user) the dashboard raises, each once, shown
 * until acknowledged. Reloads when the Rust side says new alerts were raised.
 */
export function AlertsInbox({ generation, openRequest, onOpenWallet, onOpenCustomer, onOpenLate, onOpenImports }: {
  generation: number;
  /** Opens the inbox each time it changes (from zero). */
  openRequest: number;
  onOpenWallet: (customer: string) => void;
  /** Opens a customer's page (where a signal's figures are). */
  onOpenCustomer: (customer: string) => void;
  /** Opens the late usage list. */
  onOpenLate: () => void;
  /** Opens the import history (where rejected rows are saved to fix). */
  onOpenImports: () => void;
}) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  // Invoices with late usage waiting (imported after they were issued).
  const [late, setLate] = useState<LateUsage[]>([]);
  // Imports with rejected rows nobody has looked at.
  const [rejections, setRejections] = useState<ImportRecord[]>([]);
  const [opened, setOpened] = useState(false);
  const [history, setHistory] = useState(false);

  const load = useCallback(() => {
    call("alerts_list", { acknowledged: history }).then(setAlerts).catch((e) => notifyError(e, "The alerts could not be read"));
    call("late_list").then(setLate).catch(() => setLate([]));
    call("imports_rejections").then(setRejections).catch(() => setRejections([]));
  }, [history]);
  useEffect(load, [load, generation]);
  useEffect(() => { if (openRequest > 0) setOpened(true); }, [openRequest]);
  useEffect(() => {
    const unlisten = listen<number>("alerts", load);
    return () => void unlisten.then((f) => f());
  }, [load]);

  const acknowledge = (id: number | null) =>
    call("alerts_acknowledge", { id }).then(load).catch((e) => notifyError(e, "The alert was not acknowledged"));
  const open = alerts.filter((a) => !a.acknowledged_at);
  const billable = late.filter((l) => !l.problem);
  const waiting = (billable.length > 0 ? 1 : 0) + rejections.length;
  const seen = (id: number) =>
    call("imports_rejections_seen", { id }).then(load).catch((e) => notifyError(e, "The import was not marked as seen"));
  return (
    <>
      <Indicator label={open.length + waiting} size={16} disabled={open.length + waiting === 0} color="red" offset={4}>
        <ActionIcon variant="subtle" size="lg" aria-label="Alerts" onClick={() => { load(); setOpened(true); }} data-testid="alerts-bell"
          data-open={open.length + waiting}>
          <IconBell size={20} />
        </ActionIcon>
      </Indicator>
      <Drawer opened={opened} onClose={() => setOpened(false)} position="right" title="Alerts" size="md">
        <Stack>
          <Group justify="space-between">
            <Switch label="Show acknowledged" checked={history} onChange={(e) => setHistory(e.currentTarget.checked)} />
            <Button size="xs" variant="light" disabled={open.length === 0} onClick={() => acknowledge(null)}
              data-testid="alerts-ack-all">Acknowledge all</Button>
          </Group>
          {billable.length > 0 && (
            <Paper withBorder p="sm" data-testid="inbox-late">
              <Group justify="space-between" mb={4}>
                <Badge color="violet" variant="light">Late usage</Badge>
              </Group>
              <Text size="sm">
                {billable.length === 1 ? "1 invoice has" : `${billable.length} invoices have`} usage that arrived after it was issued,
                {" "}{billable.reduce((n, l) => n + l.late_events, 0).toLocaleString()} events in all.
              </Text>
              <Group justify="flex-end" mt="xs">
                <Button size="xs" variant="light" onClick={() => { setOpened(false); onOpenLate(); }} data-testid="inbox-late-open">Review late usage</Button>
              </Group>
            </Paper>
          )}
          {rejections.map((r) => (
            <Paper key={r.id} withBorder p="sm" data-testid={`inbox-rejected-${r.id}`}>
              <Group justify="space-between" mb={4}>
                <Badge color="red" variant="light">Rows rejected</Badge>
                <Text size="xs" c="dimmed">{formatMoment(r.started_at)}</Text>
              </Group>
              <Text size="sm">
                Import #{r.id} of {r.file_name}: {r.rejected === 1 ? "1 row was" : `${r.rejected.toLocaleString()} rows were`} rejected
                {" "}({r.accepted.toLocaleString()} accepted). Save them from the import to fix and import again.
              </Text>
              <Group justify="flex-end" mt="xs">
                <Button size="xs" variant="subtle" onClick={() => { setOpened(false); onOpenImports(); }}>Open the import history</Button>
                <Button size="xs" variant="light" onClick={() => void seen(r.id)} data-testid={`inbox-rejected-seen-${r.id}`}>Mark as seen</Button>
              </Group>
            </Paper>
          ))}
          {alerts.length === 0 && billable.length === 0 && rejections.length === 0 && <Text c="dimmed" data-testid="alerts-empty">No open alerts.</Text>}
          {alerts.map((a) => (
            <Paper key={a.id} withBorder p="sm" data-testid={`alert-${a.id}`} data-kind={a.kind} opacity={a.acknowledged_at ? 0.6 : 1}>
              <Group justify="space-between" mb={4}>
                <Badge color={KIND[a.kind].color} variant="light">{KIND[a.kind].label}</Badge>
                <Text size="xs" c="dimmed">{formatMoment(a.created_at)}</Text>
              </Group>
              <Text size="sm" fw={600}>{a.customer_name}</Text>
              <Text size="sm" data-testid={`alert-message-${a.id}`}>{a.message}</Text>
              <Group justify="flex-end" mt="xs">
                {OPENS_CUSTOMER[a.kind]
                  ? <Button size="xs" variant="subtle" onClick={() => { setOpened(false); onOpenCustomer(a.customer); }}
                      data-testid={`alert-open-customer-${a.id}`}>Open the customer</Button>
                  : <Button size="xs" variant="subtle" onClick={() => { setOpened(false); onOpenWallet(a.customer); }}>Open the wallet</Button>}
                {!a.acknowledged_at && (
                  <Button size="xs" variant="light" onClick={() => acknowledge(a.id)} data-testid={`alert-ack-${a.id}`}>Acknowledge</Button>
                )}
              </Group>
            </Paper>
          ))}
        </Stack>
      </Drawer>
    </>
  );
}
