import { useEffect, useState } from "react";
import { Alert, Button, Group, Loader, Modal, SimpleGrid, Stack, Table, Text } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { IconDownload, IconSend } from "@tabler/icons-react";
import { call, errorText } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import { formatDay } from "../api/format";
import type { Statement } from "../api/generated/Statement";
import { notifyError, notifyOk, notifySaved } from "../notify";

const AGES = ["Not due", "1–30 days", "31–60 days", "61–90 days", "Over 90 days"];

/**
 * A customer's statement of account for a date range (from the first of the
 * year to today at first): balances, lines, open items and ages as the PDF
 * prints them; save the PDF or send it by e-mail (once per range).
 */
export function StatementDialog({ customer, customerName, today, onClose }: {
  customer: string; customerName: string; today: string; onClose: () => void;
}) {
  const [from, setFrom] = useState<string | null>(`${today.slice(0, 4)}-01-01`);
  const [to, setTo] = useState<string | null>(today);
  const [statement, setStatement] = useState<Statement | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    if (!from || !to) return;
    let live = true;
    setStatement(null);
    call("statement_view", { customer, from, to })
      .then((s) => { if (live) { setStatement(s); setError(null); } })
      .catch((e) => { if (live) setError(errorText(e)); });
    return () => { live = false; };
  }, [customer, from, to]);

  const save = async () => {
    if (!from || !to) return;
    try {
      const path = await call("pdf_save_dialog", { title: "Save the statement", fileName: `Statement ${customerName} ${from} to ${to}.pdf` });
      if (!path) return;
      await call("statement_pdf_save", { customer, from, to, path });
      notifySaved(`Saved the statement to ${path}`, path);
    } catch (e) {
      notifyError(e, "The statement was not saved");
    }
  };
  const send = async () => {
    if (!from || !to) return;
    setSending(true);
    try {
      const report = await call("statement_send", { customer, from, to });
      if (report.status === "sent") notifyOk(`Statement sent to ${report.to.join(", ")}`);
      else notifyError(new Error(report.error ?? "not sent"), "The statement waits in the outbox");
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSending(false);
    }
  };

  return (
    <Modal opened onClose={onClose} title={`Statement of account: ${customerName}`} size="xl" data-testid="statement-dialog">
      <Stack>
        <SimpleGrid cols={2}>
          <DateInput label="From" value={from} onChange={setFrom} valueFormat="YYYY-MM-DD" data-testid="statement-from" />
          <DateInput label="To" value={to} onChange={setTo} valueFormat="YYYY-MM-DD" data-testid="statement-to" />
        </SimpleGrid>
        {error && <Alert color="red" data-testid="statement-error">{error}</Alert>}
        {!statement && !error && <Loader size="sm" />}
        {statement && statement.currencies.length === 0 && (
          <Text size="sm" c="dimmed">Nothing was issued, paid or owed in this range.</Text>
        )}
        {statement?.currencies.map((c) => (
          <Stack key={c.currency} gap="xs" data-testid={`statement-${c.currency}`}>
            <Table verticalSpacing={2} data-testid="statement-lines">
              <Table.Thead>
                <Table.Tr><Table.Th>Date</Table.Th><Table.Th>Document</Table.Th><Table.Th>Description</Table.Th>
                  <Table.Th ta="right">Debit</Table.Th><Table.Th ta="right">Credit</Table.Th><Table.Th ta="right">Balance ({c.currency})</Table.Th></Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                <Table.Tr><Table.Td colSpan={5}>Balance on {formatDay(statement.from)}</Table.Td><Table.Td ta="right" ff="monospace">{groupDigits(c.opening_balance)}</Table.Td></Table.Tr>
                {c.lines.map((l, i) => (
                  <Table.Tr key={i}>
                    <Table.Td>{formatDay(l.date)}</Table.Td>
                    <Table.Td>{l.document}</Table.Td>
                    <Table.Td><Text size="sm">{l.description}</Text></Table.Td>
                    <Table.Td ta="right" ff="monospace">{/^0(\.0+)?$/.test(l.debit) ? "" : groupDigits(l.debit)}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{/^0(\.0+)?$/.test(l.credit) ? "" : groupDigits(l.credit)}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(l.balance)}</Table.Td>
                  </Table.Tr>
                ))}
                <Table.Tr>
                  <Table.Td colSpan={5} fw={700}>Balance on {formatDay(statement.to)}</Table.Td>
                  <Table.Td ta="right" ff="monospace" fw={700} data-testid="statement-closing">{groupDigits(c.closing_balance)}</Table.Td>
                </Table.Tr>
              </Table.Tbody>
            </Table>
            <SimpleGrid cols={6} data-testid="statement-aging">
              {AGES.map((label, i) => (
                <Stack key={label} gap={0}><Text size="xs" c="dimmed">{label}</Text><Text ff="monospace" size="sm">{groupDigits(c.aging[i])}</Text></Stack>
              ))}
              <Stack gap={0}><Text size="xs" c="dimmed">Total owed</Text><Text ff="monospace" size="sm" fw={700} data-testid="statement-owed">{groupDigits(c.total_owed)}</Text></Stack>
            </SimpleGrid>
          </Stack>
        ))}
        <Group justify="flex-end">
          <Button variant="light" leftSection={<IconDownload size={16} />} disabled={!statement} onClick={save} data-testid="statement-save">Save PDF…</Button>
          <Button leftSection={<IconSend size={16} />} disabled={!statement} loading={sending} onClick={send} data-testid="statement-send">Send by e-mail</Button>
        </Group>
      </Stack>
    </Modal>
  );
}
