import { useCallback, useEffect, useState } from "react";
import { Alert, Badge, Button, Group, Loader, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import { IconMailForward, IconSend } from "@tabler/icons-react";
import { call, errorText } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import { formatMoment } from "../api/format";
import type { InvoiceDetail } from "../api/generated/InvoiceDetail";
import type { OutboxEntry } from "../api/generated/OutboxEntry";
import type { OutboxStatus } from "../api/generated/OutboxStatus";
import type { ReminderDue } from "../api/generated/ReminderDue";
import type { SendReport } from "../api/generated/SendReport";
import { notifyError, notifyOk } from "../notify";

const STATUS_COLOR: Record<OutboxStatus, string> = { queued: "orange", sending: "yellow", sent: "teal" };
const KIND_WORDS: Record<OutboxEntry["kind"], string> = {
  invoice: "Invoice", credit_note: "Credit note", reminder: "Reminder", statement: "Statement",
};

/**
 * Sending an invoice (or a credit note) by e-mail: to the customer's billing
 * addresses unless others are given, after a confirmation; the message goes
 * through the outbox and stays there with the server's error if it fails.
 */
export function SendForm({ detail, document, onDone }: { detail: InvoiceDetail; document: string; onDone: (r: SendReport) => void }) {
  const [to, setTo] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const send = async () => {
    setSending(true);
    setError(null);
    try {
      const addresses = to.split(/[,;]/).map((a) => a.trim()).filter((a) => a !== "");
      const report = await call("invoice_send", { number: document, to: addresses.length ? addresses : null });
      if (report.status === "sent") notifyOk(`${document} sent to ${report.to.join(", ")}`);
      else notifyError(new Error(report.error ?? "not sent"), `${document} waits in the outbox`);
      onDone(report);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSending(false);
    }
  };
  return (
    <Stack>
      <Text size="sm">
        {document} goes by e-mail with its PDF attached, to {detail.entry.customer_name}'s billing
        addresses{detail.invoice.buyer.email ? ` (${detail.invoice.buyer.email} when it was issued)` : ""}, or to the addresses
        given here. A document is sent once.
      </Text>
      <TextInput label="Other addresses (optional)" placeholder="ap@customer.com, cfo@customer.com" value={to}
        onChange={(e) => setTo(e.currentTarget.value)} data-testid="send-to" />
      {error && <Alert color="red" data-testid="send-error">{error}</Alert>}
      <Group justify="flex-end">
        <Button leftSection={<IconSend size={16} />} loading={sending} onClick={send} data-testid="send-confirm">Send {document}</Button>
      </Group>
    </Stack>
  );
}

/** The outbox (every message, sent or waiting, with retry) and the reminders (preview, run). */
export function OutboxPanel() {
  const [entries, setEntries] = useState<OutboxEntry[] | null>(null);
  const [due, setDue] = useState<ReminderDue[] | null>(null);
  const [on, setOn] = useState<string | null>(null);
  const [busy, setBusy] = useState<"retry" | "run" | null>(null);
  const load = useCallback(() => {
    void call("outbox_list", { unsent: false }).then(setEntries).catch(notifyError);
  }, []);
  const preview = useCallback(() => {
    void call("reminders_preview", { on }).then(setDue).catch((e) => { setDue([]); notifyError(e, "The reminders could not be computed"); });
  }, [on]);
  useEffect(load, [load]);
  useEffect(preview, [preview]);

  const retry = async () => {
    setBusy("retry");
    try {
      const tried = await call("outbox_retry");
      const sent = tried.filter((e) => e.status === "sent").length;
      notifyOk(tried.length === 0 ? "Nothing waits in the outbox" : `${sent} of ${tried.length} sent`);
    } catch (e) {
      notifyError(e, "The outbox was not retried");
    } finally {
      setBusy(null);
      load();
    }
  };
  const run = async () => {
    setBusy("run");
    try {
      const ran = await call("reminders_run", { on });
      const sent = ran.filter((r) => r.status === "sent" && r.error === null).length;
      notifyOk(`${sent} of ${ran.length} reminders sent`);
    } catch (e) {
      notifyError(e, "The reminders were not sent");
    } finally {
      setBusy(null);
      load();
      preview();
    }
  };

  const waiting = entries?.filter((e) => e.status !== "sent").length ?? 0;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={4}>Reminders</Title>
        <Group>
          <DatePickerInput size="xs" placeholder="Today" value={on} onChange={setOn} clearable valueFormat="YYYY-MM-DD" w={150}
            data-testid="reminders-on" />
          <Button size="xs" leftSection={<IconMailForward size={14} />} disabled={!due || due.length === 0} loading={busy === "run"}
            onClick={run} data-testid="reminders-run">Send {due?.length ?? 0} reminders</Button>
        </Group>
      </Group>
      {due === null ? <Loader size="sm" /> : due.length === 0 ? (
        <Text size="sm" c="dimmed" data-testid="reminders-none">No reminder is due{on ? ` on ${on}` : " today"}.</Text>
      ) : (
        <Table data-testid="reminders-preview">
          <Table.Thead><Table.Tr><Table.Th>Invoice</Table.Th><Table.Th>Customer</Table.Th><Table.Th>Level</Table.Th><Table.Th ta="right">Owed</Table.Th><Table.Th>To</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {due.map((r) => (
              <Table.Tr key={r.invoice}>
                <Table.Td>{r.invoice}</Table.Td>
                <Table.Td>{r.customer_name}</Table.Td>
                <Table.Td>{r.level} ({r.days_overdue} days overdue)</Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(r.owed)} {r.currency}</Table.Td>
                <Table.Td>{r.to.length ? r.to.join(", ") : <Text size="sm" c="red">no billing address</Text>}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Group justify="space-between" mt="md">
        <Title order={4}>Outbox</Title>
        <Button size="xs" variant="light" disabled={waiting === 0} loading={busy === "retry"} onClick={retry} data-testid="outbox-retry">
          Retry {waiting} waiting
        </Button>
      </Group>
      {entries === null ? <Loader size="sm" /> : entries.length === 0 ? (
        <Text size="sm" c="dimmed">Nothing was sent yet.</Text>
      ) : (
        <Table data-testid="outbox-list">
          <Table.Thead><Table.Tr><Table.Th>Message</Table.Th><Table.Th>To</Table.Th><Table.Th>Status</Table.Th><Table.Th>When</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {entries.map((e) => (
              <Table.Tr key={e.id} data-testid={`outbox-${e.kind}-${e.document}-${e.level}`}>
                <Table.Td>
                  <Text size="sm">{KIND_WORDS[e.kind]}{e.level > 0 ? ` ${e.level}` : ""} · {e.document}</Text>
                  <Text size="xs" c="dimmed">{e.subject}</Text>
                </Table.Td>
                <Table.Td><Text size="sm">{e.to.join(", ")}</Text></Table.Td>
                <Table.Td>
                  <Badge color={STATUS_COLOR[e.status]} data-testid="outbox-status">{e.status}</Badge>
                  {e.last_error && <Text size="xs" c="red" maw={320}>{e.last_error}</Text>}
                </Table.Td>
                <Table.Td>
                  <Text size="xs">{formatMoment(e.sent_at ?? e.queued_at)}</Text>
                  <Text size="xs" c="dimmed">{e.attempts} attempt{e.attempts === 1 ? "" : "s"}</Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
