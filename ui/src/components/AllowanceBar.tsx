import { Group, Progress, Stack, Text } from "@mantine/core";
import { compareDecimals, groupDigits } from "../api/decimal";
import type { Allowance } from "../api/generated/Allowance";

/** A period's usage against its spend cap or commitment, in words and as a bar:
 * "Usage 8,412.00 of the 10,000.00 USD cap". */
export function allowanceWords(a: Allowance, currency: string): string {
  const used = groupDigits(a.used);
  const limit = groupDigits(a.limit);
  if (a.kind === "commitment") return `Usage ${used} of the ${limit} ${currency} minimum commitment`;
  if (compareDecimals(a.unbilled, "0") > 0) {
    return `Usage ${used} of the ${limit} ${currency} cap: ${groupDigits(a.unbilled)} above the cap is not billed`;
  }
  return `Usage ${used} of the ${limit} ${currency} cap`;
}

export function AllowanceBar({ allowance, currency, testId }: { allowance: Allowance; currency: string; testId?: string }) {
  const used = Number(allowance.used);
  const limit = Number(allowance.limit);
  // For display only: the amounts themselves stay decimal text.
  const percent = limit > 0 ? Math.min(100, Math.max(0, (used / limit) * 100)) : 100;
  const color = allowance.kind === "commitment" ? "grape" : percent >= 100 ? "red" : percent >= 80 ? "orange" : "teal";
  return (
    <Stack gap={4} data-testid={testId}>
      <Group justify="space-between" gap="xs">
        <Text size="sm">{allowanceWords(allowance, currency)}</Text>
        <Text size="xs" c="dimmed">{allowance.kind === "cap" ? `${groupDigits(allowance.remaining)} left` : ""}</Text>
      </Group>
      <Progress value={percent} color={color} size="sm" aria-label="usage against the limit" />
    </Stack>
  );
}
