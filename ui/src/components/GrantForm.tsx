import { useState } from "react";
import { Alert, Button, Group, NumberInput, SegmentedControl, SimpleGrid, Stack, Switch, Text, TextInput } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import { call, CommandError } from "../api/invoke";
import type { GrantKind } from "../api/generated/GrantKind";
import type { WalletView } from "../api/generated/WalletView";

/** Field → message, from a command's located problems ("amount", "rollover.percent"). */
export function fieldErrors(e: unknown): { fields: Record<string, string>; other: string | null } {
  if (e instanceof CommandError && e.problems.length) {
    const fields: Record<string, string> = {};
    for (const p of e.problems) fields[p.path] = p.message;
    return { fields, other: null };
  }
  return { fields: {}, other: e instanceof Error ? e.message : String(e) };
}

/**
 * Grants credit to a customer's wallet: amount, paid (with its payment or
 * invoice reference) or free, an optional last day and priority, and an
 * optional rollover rule. The engine validates; its problems show by field.
 */
export function GrantForm({ customer, currency, today, onDone }: {
  customer: string;
  currency: string;
  /** Today in the workspace zone: a grant's last day cannot be earlier. */
  today: string | null;
  onDone: (v: WalletView) => void;
}) {
  const [id, setId] = useState("");
  const [amount, setAmount] = useState("");
  const [kind, setKind] = useState<GrantKind>("paid");
  const [expires, setExpires] = useState<string | null>(null);
  const [priority, setPriority] = useState<number>(0);
  const [reference, setReference] = useState("");
  const [note, setNote] = useState("");
  const [rolls, setRolls] = useState(false);
  const [percent, setPercent] = useState("");
  const [max, setMax] = useState("");
  const [months, setMonths] = useState<number | string>("");
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string | null }>({ fields: {}, other: null });
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    if (!amount.trim()) return setErrors({ fields: { amount: "Say how much credit to grant" }, other: null });
    setBusy(true);
    setErrors({ fields: {}, other: null });
    try {
      const view = await call("wallet_grant", {
        customer,
        fields: {
          id: id.trim(), amount: amount.trim(), kind, expires, priority: Number(priority) || 0,
          reference: reference.trim() || null, note: note.trim(),
          rollover: rolls ? { percent: percent.trim() || null, max: max.trim() || null, months: months === "" ? null : Number(months) } : null,
        },
      });
      onDone(view);
    } catch (e) {
      setErrors(fieldErrors(e));
    } finally {
      setBusy(false);
    }
  };
  const f = errors.fields;
  return (
    <Stack>
      <SimpleGrid cols={2}>
        <TextInput label="Amount" rightSection={<Text size="xs" c="dimmed">{currency}</Text>} rightSectionWidth={48}
          value={amount} onChange={(e) => setAmount(e.currentTarget.value)} error={f.amount} data-testid="grant-amount" />
        <Stack gap={4}>
          <Text size="sm" fw={500}>Kind</Text>
          <SegmentedControl value={kind} onChange={(v) => setKind(v as GrantKind)} data-testid="grant-kind"
            data={[{ value: "paid", label: "Paid top-up" }, { value: "free", label: "Free credit" }]} />
        </Stack>
        <DatePickerInput label="Last day it can be used" placeholder="Never expires" clearable value={expires}
          onChange={setExpires} minDate={today ?? undefined} valueFormat="YYYY-MM-DD" error={f.expires} data-testid="grant-expires" />
        <NumberInput label="Priority" description="Among grants ending the same day, higher is used first"
          value={priority} onChange={(v) => setPriority(Number(v) || 0)} allowDecimal={false} data-testid="grant-priority" />
        <TextInput label="Reference" description={kind === "paid" ? "The payment or invoice it was bought with" : "Optional"}
          value={reference} onChange={(e) => setReference(e.currentTarget.value)} error={f.reference} data-testid="grant-reference" />
        <TextInput label="Id" description="Unique for the customer" placeholder="grant-N (automatic)"
          value={id} onChange={(e) => setId(e.currentTarget.value)} error={f.id} data-testid="grant-id" />
      </SimpleGrid>
      <TextInput label="Note" value={note} onChange={(e) => setNote(e.currentTarget.value)} error={f.note} />
      <Switch label="Unused credit rolls over at the end" checked={rolls} onChange={(e) => setRolls(e.currentTarget.checked)}
        disabled={!expires} description={expires ? undefined : "Only a grant with a last day can roll over"} />
      {rolls && (
        <SimpleGrid cols={3}>
          <TextInput label="At most %" placeholder="100" value={percent} onChange={(e) => setPercent(e.currentTarget.value)}
            error={f["rollover.percent"]} />
          <TextInput label="At most" placeholder="no cap" value={max} onChange={(e) => setMax(e.currentTarget.value)}
            error={f["rollover.max"]} />
          <NumberInput label="Lasting months" placeholder="1" value={months} onChange={setMonths} min={1} max={120}
            allowDecimal={false} error={f["rollover.months"]} />
        </SimpleGrid>
      )}
      {(errors.other || f.rollover) && <Alert color="red" data-testid="grant-error">{errors.other ?? f.rollover}</Alert>}
      <Group justify="flex-end">
        <Button onClick={submit} loading={busy} data-testid="grant-confirm">Grant</Button>
      </Group>
    </Stack>
  );
}
