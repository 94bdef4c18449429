import { useCallback, useEffect, useState } from "react";
import { formatDays } from "../api/format";
import { Alert, Anchor, Button, Loader, Table, Text } from "@mantine/core";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { LateUsage } from "../api/generated/LateUsage";
import { notifyError, notifyOk } from "../notify";

/**
 * Late usage: events that arrived in periods already invoiced. Each invoice
 * with some waiting says what the re-rated period would add, or why it cannot
 * be billed; "Issue adjustment" bills it once, as an invoice in the main series.
 */
export function LateUsagePanel({ onOpenInvoice, onAdjusted }: {
  onOpenInvoice: (number: string) => void;
  onAdjusted: () => void;
}) {
  const [rows, setRows] = useState<LateUsage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [issued, setIssued] = useState<Record<string, string>>({});

  const load = useCallback(() => {
    call("late_list").then((r) => { setRows(r); setError(null); }).catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, []);
  useEffect(load, [load]);

  const adjust = async (number: string) => {
    setBusy(number);
    try {
      const adj = await call("late_adjust", { number });
      const made = adj.number ?? "";
      setIssued((m) => ({ ...m, [number]: made }));
      notifyOk(`${made} bills the late usage of ${number}: ${groupDigits(adj.total)} ${adj.currency}`);
      onAdjusted();
      load();
    } catch (e) {
      notifyError(e, "The adjustment was not issued");
    } finally {
      setBusy(null);
    }
  };

  if (error) return <Alert color="red">{error}</Alert>;
  if (!rows) return <Loader />;
  const done = Object.entries(issued);
  return (
    <>
      {done.length > 0 && (
        <Alert color="teal" mb="sm" data-testid="late-issued">
          {done.map(([of, made]) => (
            <Text key={of} size="sm">Issued <Anchor component="button" size="sm" onClick={() => onOpenInvoice(made)}>{made}</Anchor> for the late usage of {of}.</Text>
          ))}
        </Alert>
      )}
      {rows.length === 0 ? (
        <Text c="dimmed" data-testid="late-empty">No late usage waits: every event is billed, or in a period not invoiced yet.</Text>
      ) : (
        <Table data-testid="late-table" stickyHeader>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Invoice</Table.Th><Table.Th>Customer</Table.Th><Table.Th>Period</Table.Th><Table.Th ta="right">Late events</Table.Th>
              <Table.Th ta="right">Adds</Table.Th><Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((l) => (
              <Table.Tr key={l.invoice} data-testid={`late-row-${l.invoice}`}>
                <Table.Td><Anchor component="button" size="sm" onClick={() => onOpenInvoice(l.invoice)}>{l.invoice}</Anchor></Table.Td>
                <Table.Td><Text size="sm">{l.customer_name}</Text><Text size="xs" c="dimmed">{l.customer}</Text></Table.Td>
                <Table.Td><Text size="sm">{formatDays(l.first_day, l.last_day)}</Text></Table.Td>
                <Table.Td ta="right"><Text size="sm" ff="monospace">{l.late_events.toLocaleString()}</Text></Table.Td>
                <Table.Td ta="right">
                  {l.problem ? <Text size="xs" c="dimmed" maw={320}>{l.problem}</Text> : (
                    <>
                      <Text size="sm" ff="monospace">{groupDigits(l.adds.total)} {l.currency}</Text>
                      <Text size="xs" c="dimmed">{groupDigits(l.adds.subtotal)} + tax {groupDigits(l.adds.tax)}</Text>
                    </>
                  )}
                </Table.Td>
                <Table.Td>
                  {!l.problem && (
                    <Button size="compact-sm" loading={busy === l.invoice} disabled={busy !== null}
                      onClick={() => void adjust(l.invoice)} data-testid={`late-issue-${l.invoice}`}>Issue adjustment</Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </>
  );
}
