import { useEffect, useState } from "react";
import { Alert, Badge, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { IconInfoCircle } from "@tabler/icons-react";
import { call } from "../api/invoke";
import type { Meter } from "../api/generated/Meter";
import { notifyError } from "../notify";

const AGGREGATION: Record<Meter["aggregation"], string> = {
  count: "count", sum: "sum", max: "max", min: "min", avg: "average", unique_count: "unique count", latest: "latest",
};

/** The workspace's meters, as defined (editing arrives with usage import). */
export function MetersPage() {
  const [meters, setMeters] = useState<Meter[] | null>(null);
  useEffect(() => {
    void call("meters_list").then(setMeters).catch((e) => notifyError(e, "Meters could not be loaded"));
  }, []);

  return (
    <Stack>
      <Title order={2}>Meters</Title>
      <Alert icon={<IconInfoCircle />} color="gray">
        Meters are defined in a catalog file (<Code>meterdesk apply catalog.json</Code>). Editing them here, with a live
        preview on imported usage, arrives with usage import (issue #3).
      </Alert>
      {meters && meters.length === 0 && <Text c="dimmed">No meters yet.</Text>}
      {meters && meters.length > 0 && (
        <Table striped highlightOnHover data-testid="meter-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Code</Table.Th><Table.Th>Name</Table.Th><Table.Th>Counts events</Table.Th>
              <Table.Th>Aggregation</Table.Th><Table.Th>Filters</Table.Th><Table.Th>Grouped by</Table.Th><Table.Th>Unit</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {meters.map((m) => (
              <Table.Tr key={m.code} data-testid={`meter-row-${m.code}`}>
                <Table.Td><Text ff="monospace" size="sm">{m.code}</Text></Table.Td>
                <Table.Td>{m.name}</Table.Td>
                <Table.Td><Text ff="monospace" size="sm">{m.event ?? m.code}</Text></Table.Td>
                <Table.Td>{AGGREGATION[m.aggregation]}{m.property ? <Text span c="dimmed"> of <Code>{m.property}</Code></Text> : null}</Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {Object.entries(m.filters ?? {}).map(([k, v]) => <Badge key={k} variant="light" tt="none">{k} = {v}</Badge>)}
                  </Group>
                </Table.Td>
                <Table.Td>{m.group_by ? <Code>{m.group_by}</Code> : ""}</Table.Td>
                <Table.Td>{m.unit ?? ""}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
