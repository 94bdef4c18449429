import { useState } from "react";
import { Alert, Badge, Button, Group, Select, Stack, Table, Text, TextInput, Textarea } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import { call, errorText } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import { formatDay } from "../api/format";
import type { InvoiceDetail } from "../api/generated/InvoiceDetail";
import type { Method } from "../api/generated/Method";
import type { PaymentRecord } from "../api/generated/PaymentRecord";
import { fieldErrors } from "./GrantForm";

export const METHODS: { value: Method; label: string }[] = [
  { value: "bank_transfer", label: "Bank transfer" },
  { value: "card", label: "Card" },
  { value: "cash", label: "Cash" },
  { value: "other", label: "Other" },
];

const methodLabel = (m: Method) => METHODS.find((x) => x.value === m)?.label ?? m;

/**
 * A payment of an invoice: the amount prefilled with what is still owed, the
 * day the money came in, the method and the reference; then a confirmation
 * that says what will be left owed. The engine refuses more than is owed,
 * each refused field shown under it.
 */
export function PaymentForm({ detail, onDone }: { detail: InvoiceDetail; onDone: (d: InvoiceDetail) => void }) {
  const { entry, invoice } = detail;
  const [amount, setAmount] = useState(entry.outstanding);
  const [date, setDate] = useState<string | null>(invoice.issue_date);
  const [method, setMethod] = useState<Method>("bank_transfer");
  const [reference, setReference] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string | null }>({ fields: {}, other: null });
  const left = (() => {
    // What stays owed after this payment, in the currency's decimals (display only: the engine decides).
    const places = (entry.outstanding.split(".")[1] ?? "").length;
    const scale = 10 ** places;
    const owed = Math.round(Number(entry.outstanding) * scale);
    const paying = Math.round(Number(amount) * scale);
    if (!Number.isFinite(paying)) return null;
    return ((owed - paying) / scale).toFixed(places);
  })();
  const submit = async () => {
    try {
      onDone(await call("invoice_pay", { number: entry.number, fields: { amount, date: date ?? "", method, reference } }));
    } catch (e) {
      setErrors(fieldErrors(e));
      setConfirming(false);
    }
  };
  if (confirming) {
    return (
      <Stack>
        <Text size="sm" data-testid="payment-confirm-text">
          Record a payment of {groupDigits(amount)} {entry.currency} by {methodLabel(method).toLowerCase()} on {formatDay(date)}
          {" "}(reference {reference.trim()}) for {entry.number}?{" "}
          {left !== null && (Number(left) <= 0 ? "Nothing will be left owed." : `${groupDigits(left)} ${entry.currency} will still be owed.`)}
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={() => setConfirming(false)}>Back</Button>
          <Button onClick={submit} data-testid="payment-confirm">Record payment</Button>
        </Group>
      </Stack>
    );
  }
  return (
    <Stack>
      <Text size="sm" c="dimmed">{groupDigits(entry.outstanding)} {entry.currency} is owed on {entry.number}.</Text>
      <TextInput label={`Amount (${entry.currency})`} value={amount} onChange={(e) => setAmount(e.currentTarget.value)}
        error={errors.fields.amount} data-testid="payment-amount" />
      <DatePickerInput label="Received on" value={date} onChange={setDate} minDate={invoice.issue_date}
        valueFormat="YYYY-MM-DD" error={errors.fields.date} data-testid="payment-date" />
      <Select label="Method" data={METHODS} value={method} onChange={(v) => v && setMethod(v as Method)} allowDeselect={false}
        error={errors.fields.method} data-testid="payment-method" />
      <TextInput label="Reference" description="The bank transfer's reference, a receipt or card slip number" value={reference}
        onChange={(e) => setReference(e.currentTarget.value)} error={errors.fields.reference} data-testid="payment-reference" />
      {errors.other && <Alert color="red">{errors.other}</Alert>}
      <Group justify="flex-end"><Button onClick={() => setConfirming(true)} data-testid="payment-next">Next…</Button></Group>
    </Stack>
  );
}

/** Undo a payment: a reversal with its reason; the payment stays listed. */
export function ReverseForm({ detail, payment, onDone }: { detail: InvoiceDetail; payment: PaymentRecord; onDone: (d: InvoiceDetail) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    try {
      onDone(await call("invoice_payment_reverse", { number: detail.entry.number, payment: payment.id, reason }));
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <Stack>
      <Text size="sm">
        Payment #{payment.id} of {groupDigits(payment.amount)} {detail.entry.currency} ({payment.reference}) stays listed as
        reversed, and what it paid is owed again. Nothing is deleted.
      </Text>
      <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-testid="reverse-reason" />
      {error && <Alert color="red">{error}</Alert>}
      <Group justify="flex-end"><Button color="red" onClick={submit} data-testid="reverse-confirm">Reverse the payment</Button></Group>
    </Stack>
  );
}

/** The invoice's payments, reversed ones with their reason; each standing one can be undone. */
export function PaymentsList({ detail, onUndo }: { detail: InvoiceDetail; onUndo: (p: PaymentRecord) => void }) {
  const payments = detail.invoice.payments;
  if (payments.length === 0) return <Text size="sm" c="dimmed">No payments recorded.</Text>;
  return (
    <Table data-testid="invoice-payments">
      <Table.Thead>
        <Table.Tr><Table.Th>#</Table.Th><Table.Th>Received</Table.Th><Table.Th>Method</Table.Th><Table.Th>Reference</Table.Th>
          <Table.Th ta="right">Amount</Table.Th><Table.Th /></Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {payments.map((p) => (
          <Table.Tr key={p.id} data-testid={`payment-${p.id}`}>
            <Table.Td>{p.id}</Table.Td>
            <Table.Td style={{ whiteSpace: "nowrap" }}>{formatDay(p.date)}</Table.Td>
            <Table.Td>{methodLabel(p.method)}</Table.Td>
            <Table.Td>{p.reference}</Table.Td>
            <Table.Td ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }} td={p.reversed ? "line-through" : undefined}>{groupDigits(p.amount)} {detail.entry.currency}</Table.Td>
            <Table.Td>
              {p.reversed
                ? <Badge color="gray" variant="light" tt="none" title={p.reversed} data-testid={`payment-reversed-${p.id}`}>reversed: {p.reversed}</Badge>
                : <Button size="compact-xs" variant="subtle" color="red" onClick={() => onUndo(p)} data-testid={`payment-undo-${p.id}`}>Undo…</Button>}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
