import { useEffect, useState } from "react";
import { Badge, Button, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { call } from "../api/invoke";
import type { Meter } from "../api/generated/Meter";
import { notifyError } from "../notify";
import { MeterEditor } from "./MeterEditor";

/** What a meter measures, in words: "the total of tokens", "the number of distinct user_id values". */
function measures(m: Meter): string {
  const p = m.property ?? "";
  switch (m.aggregation) {
    case "count": return "the number of events";
    case "sum": return `the total of ${p}`;
    case "max": return `the highest ${p}`;
    case "min": return `the lowest ${p}`;
    case "avg": return `the average ${p}`;
    case "unique_count": return `the number of distinct ${p} values`;
    case "latest": return `the last ${p} reported`;
  }
}

/** The workspace's meters; a click opens one in the editor with a live preview. */
export function MetersPage() {
  const [meters, setMeters] = useState<Meter[] | null>(null);
  const [editing, setEditing] = useState<Meter | null>(null);
  const [editorOpen, setEditorOpen] = useState(false);
  const load = () => void call("meters_list").then(setMeters).catch((e) => notifyError(e, "Meters could not be loaded"));
  useEffect(load, []);
  const open = (m: Meter | null) => { setEditing(m); setEditorOpen(true); };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Meters</Title>
        <Button leftSection={<IconPlus size={16} />} onClick={() => open(null)} data-testid="meter-new">New meter</Button>
      </Group>
      <Text size="sm" c="dimmed">
        A meter counts one type of usage event per customer and period. A meter that already counts stored events keeps
        how it computes; its name and unit can change. Catalog files (<Code>meterdesk apply</Code>) define meters too.
      </Text>
      {meters && meters.length === 0 && <Text c="dimmed">No meters yet.</Text>}
      {meters && meters.length > 0 && (
        <Table striped highlightOnHover data-testid="meter-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Meter</Table.Th><Table.Th>Measures, per customer and period</Table.Th><Table.Th>Of events of type</Table.Th>
              <Table.Th>Only where</Table.Th><Table.Th>Split by</Table.Th><Table.Th>Unit</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {meters.map((m) => (
              <Table.Tr key={m.code} data-testid={`meter-row-${m.code}`} onClick={() => open(m)} style={{ cursor: "pointer" }}>
                <Table.Td>
                  <Text size="sm">{m.name}</Text>
                  <Text size="xs" c="dimmed" ff="monospace">{m.code}</Text>
                </Table.Td>
                <Table.Td>{measures(m)}</Table.Td>
                <Table.Td><Text ff="monospace" size="sm">{m.event ?? m.code}</Text></Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {Object.entries(m.filters ?? {}).map(([k, v]) => <Badge key={k} variant="light" tt="none">{k} is {v}</Badge>)}
                  </Group>
                </Table.Td>
                <Table.Td>{m.group_by ? `each ${m.group_by}` : ""}</Table.Td>
                <Table.Td>{m.unit ?? ""}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <MeterEditor opened={editorOpen} meter={editing} onClose={() => setEditorOpen(false)}
        onSaved={() => { setEditorOpen(false); load(); }} />
    </Stack>
  );
}
