import { Alert, Stack, Title, Text } from "@mantine/core";
import { IconHourglass } from "@tabler/icons-react";

/** A page whose feature has not landed yet: says so plainly, shows no pretend data. */
export function ComingPage({ title, what, issue }: { title: string; what: string; issue: number }) {
  return (
    <Stack maw={720}>
      <Title order={2}>{title}</Title>
      <Alert icon={<IconHourglass />} color="gray" title="Coming" data-testid="coming">
        <Text size="sm">{what}</Text>
        <Text size="sm" c="dimmed" mt="xs">Not available in this version yet (tracked as issue #{issue}).</Text>
      </Alert>
    </Stack>
  );
}
