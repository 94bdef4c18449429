import { useCallback, useEffect, useState } from "react";
import { formatMoment } from "../api/format";
import { Badge, Button, Card, Group, Modal, Stack, Table, Text, Title } from "@mantine/core";
import { call } from "../api/invoke";
import type { ImportOutcome } from "../api/generated/ImportOutcome";
import type { ImportRecord } from "../api/generated/ImportRecord";
import { notifyError, notifyOk } from "../notify";

const OUTCOME_COLOR: Record<ImportOutcome, string> = {
  completed: "teal", running: "blue", cancelled: "gray", failed: "red", interrupted: "orange",
};

/** "Nov 24, 2026, 10:00 AM EST": in the workspace's zone. */
const when = (t: string) => formatMoment(t);

/**
 * Every import of events with its counts, file and time. One whose events
 * are not invoiced yet can be rolled back (after a confirmation): its events
 * go, their ids too (the fixed file imports again), and the audit trail says so.
 */
export function ImportHistory({ version, onRolledBack }: { version: number; onRolledBack: () => void }) {
  const [records, setRecords] = useState<ImportRecord[]>([]);
  const [confirm, setConfirm] = useState<ImportRecord | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    call("imports_list").then(setRecords).catch((e) => notifyError(e, "The import history could not be read"));
  }, []);
  useEffect(load, [load, version]);

  const rollback = async (r: ImportRecord) => {
    setBusy(true);
    try {
      const done = await call("import_rollback", { id: r.id });
      notifyOk(`Rolled back ${r.file_name}: ${(done.rolled_back_events ?? 0).toLocaleString()} events removed`);
      setConfirm(null);
      load();
      onRolledBack();
    } catch (e) {
      notifyError(e, "The import was not rolled back");
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card withBorder>
      <Title order={4} mb="xs">Import history</Title>
      {records.length === 0 ? <Text c="dimmed" size="sm" data-testid="imports-empty">No events imported yet.</Text> : (
        <Table data-testid="imports-table" verticalSpacing={4} stickyHeader>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th><Table.Th>File</Table.Th><Table.Th>Started</Table.Th><Table.Th>Outcome</Table.Th>
              <Table.Th ta="right">Accepted</Table.Th><Table.Th ta="right">Duplicates</Table.Th><Table.Th ta="right">Rejected</Table.Th>
              <Table.Th ta="right">Late</Table.Th><Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {records.map((r) => (
              <Table.Tr key={r.id} data-testid={`import-row-${r.id}`}>
                <Table.Td><Text size="sm">{r.id}</Text></Table.Td>
                <Table.Td><Text size="sm" maw={220} truncate title={r.file_name}>{r.file_name}</Text></Table.Td>
                <Table.Td style={{ whiteSpace: "nowrap" }}><Text size="sm">{when(r.started_at)}</Text></Table.Td>
                <Table.Td>
                  {r.rolled_back_at
                    ? <Badge color="gray" variant="light" title={`Rolled back ${when(r.rolled_back_at)}`}>rolled back</Badge>
                    : <Badge color={OUTCOME_COLOR[r.outcome]} variant="light">{r.outcome}</Badge>}
                </Table.Td>
                <Table.Td ta="right"><Text size="sm" ff="monospace">{r.accepted.toLocaleString()}</Text></Table.Td>
                <Table.Td ta="right"><Text size="sm" ff="monospace">{r.duplicates.toLocaleString()}</Text></Table.Td>
                <Table.Td ta="right"><Text size="sm" ff="monospace" c={r.rejected > 0 ? "red" : undefined}>{r.rejected.toLocaleString()}</Text></Table.Td>
                <Table.Td ta="right"><Text size="sm" ff="monospace" c={r.late > 0 ? "orange" : undefined}>{r.late.toLocaleString()}</Text></Table.Td>
                <Table.Td>
                  {r.locked === null ? (
                    <Button size="compact-xs" variant="default" color="red" onClick={() => setConfirm(r)} data-testid={`import-rollback-${r.id}`}>Roll back…</Button>
                  ) : !r.rolled_back_at && r.outcome !== "running" ? (
                    <Text size="xs" c="dimmed" title={r.locked}>invoiced</Text>
                  ) : null}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Modal opened={confirm !== null} onClose={() => setConfirm(null)} title="Roll back this import?" data-testid="rollback-dialog">
        {confirm && (
          <Stack>
            <Text size="sm">
              The {confirm.accepted.toLocaleString()} events {confirm.file_name} added on {when(confirm.started_at)} are removed,
              with their ids, so a corrected file can be imported again. Drafts and usage change at once; no invoice is touched.
              The audit trail records the rollback.
            </Text>
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setConfirm(null)}>Keep it</Button>
              <Button color="red" loading={busy} onClick={() => void rollback(confirm)} data-testid="rollback-confirm">Roll back the import</Button>
            </Group>
          </Stack>
        )}
      </Modal>
    </Card>
  );
}
