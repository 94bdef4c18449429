import { Button, Card, Group, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import type { WorkspaceSummary } from "../api/generated/WorkspaceSummary";
import type { PageKey } from "../App";

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <Card withBorder>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>{label}</Text>
      <Text size="xl" fw={700} data-testid={testId}>{value}</Text>
    </Card>
  );
}

export function DashboardPage({ summary, onNavigate }: { summary: WorkspaceSummary; onNavigate: (p: PageKey) => void }) {
  const active = summary.customers - summary.archived_customers;
  return (
    <Stack maw={960}>
      <Title order={2}>{summary.company_name}</Title>
      <Text size="sm" c="dimmed">Workspace {summary.path} · times in {summary.timezone}</Text>
      <SimpleGrid cols={2}>
        <Stat label="Active customers" value={active.toLocaleString()} testId="stat-active-customers" />
        <Stat label="Archived customers" value={summary.archived_customers.toLocaleString()} />
      </SimpleGrid>
      <Group>
        <Button variant="light" onClick={() => onNavigate("customers")}>Customers</Button>
        <Button variant="light" onClick={() => onNavigate("usage")}>Import usage</Button>
        <Button variant="light" onClick={() => onNavigate("invoices")}>Invoices</Button>
        <Button variant="light" onClick={() => onNavigate("wallets")}>Wallets</Button>
        <Button variant="light" onClick={() => onNavigate("settings")}>Company settings</Button>
      </Group>
    </Stack>
  );
}
