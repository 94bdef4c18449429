import { Badge, Group, Stack, Text, UnstyledButton } from "@mantine/core";
import type { SignalKind } from "../api/generated/SignalKind";
import type { SignalRow } from "../api/generated/SignalRow";

/** How a signal is named and coloured wherever it shows (dashboard, customer page, inbox). */
export const SIGNAL: Record<SignalKind, { label: string; color: string }> = {
  churn_risk: { label: "Churn risk", color: "orange" },
  power_user: { label: "Power user", color: "red" },
};

/**
 * Churn risks and power users with their reasons in words; with `onOpen`,
 * each opens its customer's page.
 */
export function SignalList({ signals, onOpen, withNames, testId }: {
  signals: SignalRow[];
  onOpen?: (customer: string) => void;
  /** Shows whose signal it is (the dashboard's list of every customer). */
  withNames: boolean;
  testId: string;
}) {
  return (
    <Stack gap={6} data-testid={testId}>
      {signals.map((s, i) => {
        const row = (
          <Group gap="xs" wrap="nowrap" align="flex-start">
            <Badge size="sm" variant="light" color={SIGNAL[s.kind].color} miw={90}>{SIGNAL[s.kind].label}</Badge>
            <Text size="sm">{withNames && <><Text span fw={600}>{s.customer_name}</Text>: </>}{s.reason}</Text>
          </Group>
        );
        return onOpen
          ? <UnstyledButton key={i} onClick={() => onOpen(s.customer)} data-testid={`signal-${s.customer}-${s.kind}`}>{row}</UnstyledButton>
          : <div key={i} data-testid={`signal-${s.customer}-${s.kind}`}>{row}</div>;
      })}
    </Stack>
  );
}
