import { Group, Table, Text, UnstyledButton } from "@mantine/core";
import { IconChevronDown, IconChevronUp, IconSelector } from "@tabler/icons-react";

/**
 * A table column header that sorts by `k`: the chevron shows the direction of
 * the column sorted by, the selector the columns that can be.
 */
export function SortHeader<K extends string>({ label, k, sortedBy, ascending, onSort, right, testid }: {
  label: string;
  k: K;
  sortedBy: K;
  ascending: boolean;
  onSort: (k: K) => void;
  right?: boolean;
  /** The button's test id, before `-${k}`. */
  testid: string;
}) {
  const Icon = sortedBy !== k ? IconSelector : ascending ? IconChevronUp : IconChevronDown;
  return (
    <Table.Th ta={right ? "right" : undefined}>
      <UnstyledButton onClick={() => onSort(k)} data-testid={`${testid}-${k}`}>
        <Group gap={4} justify={right ? "flex-end" : "flex-start"} wrap="nowrap">
          <Text size="sm" fw={700}>{label}</Text><Icon size={14} />
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
}
