import { useCallback, useEffect, useState } from "react";
import { Button, Group, Modal, Table, Text } from "@mantine/core";
import { IconRestore } from "@tabler/icons-react";
import { call } from "../api/invoke";
import type { BackupFile } from "../api/generated/BackupFile";
import { notifyError, notifyOk } from "../notify";

/** The workspace's automatic backups, newest first, each restorable after a confirmation. */
export function BackupsPanel({ onRestored }: { onRestored: () => void }) {
  const [backups, setBackups] = useState<BackupFile[] | null>(null);
  const [chosen, setChosen] = useState<BackupFile | null>(null);
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => { void call("backups_list").then(setBackups).catch(notifyError); }, []);
  useEffect(load, [load]);

  const restore = async () => {
    if (!chosen) return;
    setBusy(true);
    try {
      const done = await call("backup_restore", { name: chosen.name });
      notifyOk(`Restored ${chosen.name}. What the workspace held before is kept as ${done.kept.name}.`);
      setChosen(null);
      load();
      onRestored();
    } catch (e) {
      notifyError(e, "The backup was not restored");
    } finally {
      setBusy(false);
    }
  };

  if (backups === null) return null;
  return (
    <>
      {backups.length === 0 ? (
        <Text size="sm" c="dimmed" data-testid="backups-empty">No backups yet: one is taken before each finalize run.</Text>
      ) : (
        <Table data-testid="backups-table">
          <Table.Thead>
            <Table.Tr><Table.Th>Backup</Table.Th><Table.Th ta="right">Size</Table.Th><Table.Th /></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {backups.map((b) => (
              <Table.Tr key={b.name} data-testid={`backup-${b.name}`}>
                <Table.Td><Text size="sm">{b.name}</Text></Table.Td>
                <Table.Td ta="right"><Text size="sm">{(b.bytes / 1_048_576).toLocaleString(undefined, { maximumFractionDigits: 1 })} MB</Text></Table.Td>
                <Table.Td ta="right">
                  <Button size="xs" variant="light" leftSection={<IconRestore size={14} />} onClick={() => setChosen(b)}
                    data-testid={`backup-restore-${b.name}`}>Restore…</Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Modal opened={chosen !== null} onClose={() => setChosen(null)} title="Restore this backup?">
        <Text size="sm">
          The workspace will hold what {chosen?.name} holds. What it holds now is kept first, as a backup of its own,
          so nothing is lost.
        </Text>
        <Group justify="flex-end" mt="md">
          <Button variant="default" onClick={() => setChosen(null)}>Cancel</Button>
          <Button color="orange" loading={busy} onClick={restore} data-testid="backup-restore-confirm">Restore</Button>
        </Group>
      </Modal>
    </>
  );
}
