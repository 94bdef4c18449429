import { useEffect, useState } from "react";
import { Badge, Button, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import { call } from "../api/invoke";
import type { Meter } from "../api/generated/Meter";
import type { PlanRow } from "../api/generated/PlanRow";
import { MODELS } from "../api/plan";
import { notifyError } from "../notify";
import { PlanEditor } from "./PlanEditor";

/** The workspace's plans; a click opens one in the visual editor. */
export function PlansPage() {
  const [plans, setPlans] = useState<PlanRow[] | null>(null);
  const [meters, setMeters] = useState<Meter[]>([]);
  const [currencies, setCurrencies] = useState<string[]>(["USD"]);
  const [months, setMonths] = useState<string[]>([]);
  const [editing, setEditing] = useState<PlanRow | "new" | null>(null);
  const load = () => void call("plans_list").then(setPlans).catch((e) => notifyError(e, "Plans could not be loaded"));
  useEffect(() => {
    load();
    void call("meters_list").then(setMeters).catch(() => setMeters([]));
    void call("reference_data").then((r) => setCurrencies(r.currencies.map((c) => c.code))).catch(() => undefined);
    void call("billing_months").then((m) => {
      // The month with the latest usage first: "last month's usage".
      const first = m.latest_usage && m.months.includes(m.latest_usage) ? [m.latest_usage] : [];
      setMonths([...first, ...m.months.filter((x) => x !== m.latest_usage)]);
    }).catch(() => setMonths([]));
  }, []);

  if (editing) {
    return (
      <PlanEditor key={editing === "new" ? "new" : `${editing.fields.code}@${editing.version}`} row={editing === "new" ? null : editing}
        meters={meters} currencies={currencies} months={months} onBack={() => setEditing(null)}
        onSaved={(row) => { setEditing(row); load(); }} />
    );
  }
  return (
    <Stack maw={1100}>
      <Group justify="space-between">
        <Title order={2}>Plans</Title>
        <Button leftSection={<IconPlus size={16} />} onClick={() => setEditing("new")} data-testid="plan-new">New plan</Button>
      </Group>
      <Text size="sm" c="dimmed">
        A plan prices usage: fixed fees, a minimum commitment and charges on meters. Changing a plan that subscriptions hold makes a new
        version; they keep theirs until moved. Catalog files (<Code>meterdesk apply</Code>) define plans too.
      </Text>
      {plans && plans.length === 0 && <Text c="dimmed">No plans yet.</Text>}
      {plans && plans.length > 0 && (
        <Table striped highlightOnHover data-testid="plan-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Plan</Table.Th><Table.Th>Billed</Table.Th><Table.Th>Charges</Table.Th>
              <Table.Th ta="right">Version</Table.Th><Table.Th ta="right">Subscriptions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {plans.map((p) => (
              <Table.Tr key={p.fields.code} data-testid={`plan-row-${p.fields.code}`} onClick={() => setEditing(p)} style={{ cursor: "pointer" }}>
                <Table.Td>
                  <Text size="sm">{p.fields.name}</Text>
                  <Text size="xs" c="dimmed" ff="monospace">{p.fields.code}</Text>
                </Table.Td>
                <Table.Td>in {p.fields.currency}, every {p.fields.interval}</Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {p.fields.charges.map((c, i) => (
                      <Badge key={i} variant="light" tt="none">
                        {meters.find((m) => m.code === c.meter)?.name ?? c.meter}{c.group ? `, ${c.group}` : ""}:{" "}
                        {MODELS.find((m) => m.value === c.model)?.label.toLowerCase()}
                      </Badge>
                    ))}
                  </Group>
                </Table.Td>
                <Table.Td ta="right">{p.version}</Table.Td>
                <Table.Td ta="right">{p.subscriptions}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
