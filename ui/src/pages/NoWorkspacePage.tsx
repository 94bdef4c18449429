import { Alert, Button, Center, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { IconAlertTriangle, IconFilePlus, IconFolderOpen } from "@tabler/icons-react";
import type { CommandError } from "../api/invoke";

/** Shown when no workspace could be opened at start: why, and ways out. */
export function NoWorkspacePage(props: {
  error: CommandError | null;
  recent: string[];
  onOpen: () => void;
  onCreate: () => void;
  onOpenRecent: (path: string) => void;
}) {
  return (
    <Center h="100vh">
      <Paper withBorder p="xl" w={560}>
        <Stack>
          <Title order={2}>Meterdesk</Title>
          {props.error && (
            <Alert color="red" icon={<IconAlertTriangle />} title="The workspace could not be opened" data-testid="start-error">
              {props.error.message}
            </Alert>
          )}
          <Group>
            <Button leftSection={<IconFolderOpen size={16} />} onClick={props.onOpen}>Open workspace…</Button>
            <Button variant="light" leftSection={<IconFilePlus size={16} />} onClick={props.onCreate}>New workspace…</Button>
          </Group>
          {props.recent.length > 0 && (
            <Stack gap={4}>
              <Text size="sm" fw={600}>Recent</Text>
              {props.recent.map((p) => (
                <Button key={p} variant="subtle" justify="start" onClick={() => props.onOpenRecent(p)}>{p}</Button>
              ))}
            </Stack>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}
