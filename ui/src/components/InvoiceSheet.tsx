import { useCallback, useEffect, useState } from "react";
import { formatDay, formatDays, formatMoment } from "../api/format";
import {
  Alert, Badge, Button, Group, Loader, Modal, SegmentedControl, Stack, Table, Tabs, Text, TextInput, Textarea, Timeline,
} from "@mantine/core";
import { IconCash, IconDownload, IconReceiptRefund, IconBan, IconSend } from "@tabler/icons-react";
import { call, errorText } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { CreditAsk } from "../api/generated/CreditAsk";
import type { RefundTo } from "../api/generated/RefundTo";
import type { PaymentRecord } from "../api/generated/PaymentRecord";
import { PaymentForm, PaymentsList, ReverseForm } from "./PaymentForm";
import { SendForm } from "./OutboxPanel";
import type { InvoiceDetail } from "../api/generated/InvoiceDetail";
import type { Meter } from "../api/generated/Meter";
import type { Standing } from "../api/generated/Standing";
import { DraftView, type ExploreFilter } from "./DraftView";
import { PdfPreview } from "./PdfPreview";
import { notifyError, notifyOk, notifySaved } from "../notify";

export const STANDING_COLOR: Record<Standing, string> = {
  open: "blue", overdue: "red", partially_paid: "cyan", paid: "teal", credited: "grape", void: "gray",
};

/** Saves a document's PDF where the native dialog says ("INV-2026-00001 Globex Corp.pdf" suggested). */
export async function savePdf(number: string, customerName: string) {
  try {
    const path = await call("pdf_save_dialog", { title: `Save ${number}`, fileName: `${number} ${customerName}.pdf` });
    if (!path) return;
    await call("document_pdf_save", { number, path });
    notifySaved(`Saved ${number} to ${path}`, path);
  } catch (e) {
    notifyError(e, "The PDF was not saved");
  }
}

type Action = "pay" | "void" | "credit" | null;

/** Void: the number stays used, the reason is printed on the PDF. */
function VoidForm({ detail, onDone }: { detail: InvoiceDetail; onDone: (d: InvoiceDetail) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    try {
      onDone(await call("invoice_void", { number: detail.entry.number, reason }));
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <Stack>
      <Text size="sm">{detail.entry.number} keeps its number and is marked void with the reason. Nothing is deleted.</Text>
      <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-testid="void-reason" />
      {error && <Alert color="red">{error}</Alert>}
      <Group justify="flex-end"><Button color="red" onClick={submit} data-testid="void-confirm">Void the invoice</Button></Group>
    </Stack>
  );
}

/** A credit note: what is left, amounts of lines (net), or an amount tax included. */
function CreditForm({ detail, onDone }: { detail: InvoiceDetail; onDone: () => void }) {
  const [mode, setMode] = useState<"full" | "lines" | "amount">("full");
  const [reason, setReason] = useState("");
  const [amount, setAmount] = useState("");
  const [nets, setNets] = useState<Record<number, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [refundTo, setRefundTo] = useState<RefundTo>("customer");
  const paidSome = !/^0(\.0+)?$/.test(detail.entry.paid) || detail.invoice.paid !== null;
  const lines = detail.invoice.lines;
  const submit = async () => {
    const ask: CreditAsk = mode === "full" ? { kind: "full" }
      : mode === "amount" ? { kind: "amount", amount: amount.trim() }
        : { kind: "lines", lines: Object.entries(nets).filter(([, v]) => v.trim() !== "").map(([k, v]) => ({ line: Number(k), net: v.trim() })) };
    try {
      const note = await call("invoice_credit", { number: detail.entry.number, reason, ask, refundTo });
      const returned = /^0(\.0+)?$/.test(note.credits_returned) ? "" : `, ${groupDigits(note.credits_returned)} back to prepaid credit`;
      const refund = note.refund
        ? `, ${groupDigits(note.refund.amount)} overpaid ${note.refund.to === "wallet" ? "added to the wallet" : "to refund to the customer"}`
        : "";
      notifyOk(`Issued ${note.number}: ${groupDigits(note.total)} ${note.currency}${returned}${refund}`);
      onDone();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <Stack>
      <Text size="sm">
        Left to credit: {groupDigits(detail.entry.left_to_credit)} {detail.entry.currency}
      </Text>
      <SegmentedControl value={mode} onChange={(v) => setMode(v as typeof mode)} data-testid="credit-mode"
        data={[{ value: "full", label: "All that is left" }, { value: "lines", label: "Lines" }, { value: "amount", label: "An amount" }]} />
      {mode === "lines" && (
        <Table>
          <Table.Thead><Table.Tr><Table.Th>Line</Table.Th><Table.Th ta="right">Net</Table.Th><Table.Th w={140}>Credit (net)</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {lines.map((l, i) => (
              <Table.Tr key={i}>
                <Table.Td><Text size="sm">{i + 1}. {l.description}</Text></Table.Td>
                <Table.Td ta="right" ff="monospace">{groupDigits(l.amount)}</Table.Td>
                <Table.Td>
                  <TextInput size="xs" value={nets[i + 1] ?? ""} placeholder="0.00" data-testid={`credit-line-${i + 1}`}
                    onChange={(e) => { const v = e.currentTarget.value; setNets((n) => ({ ...n, [i + 1]: v })); }} />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {mode === "amount" && (
        <TextInput label={`Amount, tax included (${detail.entry.currency})`} value={amount} onChange={(e) => setAmount(e.currentTarget.value)}
          data-testid="credit-amount" />
      )}
      {paidSome && (
        <Stack gap={4}>
          <Text size="sm">Money came in for this invoice: what it paid beyond what is then owed goes</Text>
          <SegmentedControl value={refundTo} onChange={(v) => setRefundTo(v as RefundTo)} data-testid="credit-refund-to"
            data={[{ value: "customer", label: "Back to the customer" }, { value: "wallet", label: "Into their wallet" }]} />
        </Stack>
      )}
      <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-testid="credit-reason" />
      {error && <Alert color="red" data-testid="credit-error">{error}</Alert>}
      <Group justify="flex-end"><Button onClick={submit} data-testid="credit-confirm">Issue the credit note</Button></Group>
    </Stack>
  );
}

/**
 * A finalized invoice: where it stands, its frozen lines with their
 * arithmetic, the PDF as exported, its credit notes and the audit trail;
 * mark paid, void or credit it.
 */
export function InvoiceSheet({ number, meters, onChanged, onExplore }: {
  number: string;
  meters: Meter[];
  onChanged: () => void;
  onExplore: (f: ExploreFilter) => void;
}) {
  const [detail, setDetail] = useState<InvoiceDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [action, setAction] = useState<Action>(null);
  const [undoing, setUndoing] = useState<PaymentRecord | null>(null);
  // The invoice or one of its credit notes, to send by e-mail.
  const [sending, setSending] = useState<string | null>(null);
  const [version, setVersion] = useState(0);

  const load = useCallback(() => call("invoice_detail", { number }).then(setDetail).catch((e) => setError(errorText(e))), [number]);
  useEffect(() => { setDetail(null); void load(); }, [load]);

  const changed = (d?: InvoiceDetail) => {
    setAction(null);
    setUndoing(null);
    if (d) setDetail(d); else void load();
    setVersion((v) => v + 1);
    onChanged();
  };

  if (error) return <Alert color="red">{error}</Alert>;
  if (!detail) return <Loader size="sm" />;
  const { entry, invoice } = detail;
  const live = entry.standing === "open" || entry.standing === "overdue" || entry.standing === "partially_paid";
  const standingPayments = invoice.payments.filter((p) => p.reversed === null).length;
  return (
    <Stack data-testid={`invoice-${entry.number}`}>
      <Group justify="space-between" align="start">
        <Stack gap={2}>
          <Group gap="xs">
            <Text fw={700} size="lg" data-testid="invoice-number">{entry.number}</Text>
            <Badge color={STANDING_COLOR[entry.standing]} data-testid="invoice-standing">{entry.standing}</Badge>
            {entry.kind === "advance" && <Badge variant="outline" tt="none">advance fees</Badge>}
            {entry.kind === "adjustment" && <Badge variant="outline" tt="none">late usage</Badge>}
          </Group>
          <Text size="sm">{entry.customer_name} · {formatDays(entry.first_day, entry.last_day)}</Text>
          <Text size="sm" c="dimmed">Issued {formatDay(entry.issue_date)}, due {formatDay(entry.due_date)}</Text>
          {invoice.void_reason && <Text size="sm" c="red">Void: {invoice.void_reason}</Text>}
          {invoice.paid && <Text size="sm" c="teal">Paid on {formatDay(invoice.paid.date)} ({invoice.paid.reference || "no reference"})</Text>}
        </Stack>
        <Stack gap={2} align="end">
          <Text fw={700} ff="monospace" data-testid="invoice-total">{groupDigits(entry.total)} {entry.currency}</Text>
          {!/^0(\.0+)?$/.test(entry.credited) && <Text size="sm" ff="monospace">credited {groupDigits(entry.credited)}</Text>}
          {!/^0(\.0+)?$/.test(entry.paid) && <Text size="sm" ff="monospace" data-testid="invoice-paid-amount">paid {groupDigits(entry.paid)}</Text>}
          <Text size="sm" c="dimmed" ff="monospace" data-testid="invoice-outstanding">owed {groupDigits(entry.outstanding)}</Text>
        </Stack>
      </Group>
      <Group gap="xs">
        <Button size="xs" variant="light" leftSection={<IconDownload size={14} />} onClick={() => savePdf(entry.number, entry.customer_name)}
          data-testid="invoice-pdf-save">Save PDF…</Button>
        <Button size="xs" variant="light" leftSection={<IconSend size={14} />} disabled={entry.standing === "void"} onClick={() => setSending(entry.number)}
          data-testid="invoice-send">Send…</Button>
        <Button size="xs" variant="light" leftSection={<IconCash size={14} />} disabled={!live} onClick={() => setAction("pay")}
          data-testid="invoice-mark-paid">Record payment…</Button>
        <Button size="xs" variant="light" leftSection={<IconReceiptRefund size={14} />} disabled={entry.standing === "void" || entry.standing === "credited"}
          onClick={() => setAction("credit")} data-testid="invoice-credit">Credit note…</Button>
        <Button size="xs" variant="light" color="red" leftSection={<IconBan size={14} />}
          disabled={!live || detail.credit_notes.length > 0 || standingPayments > 0} onClick={() => setAction("void")} data-testid="invoice-void"
          title={standingPayments > 0 ? "Money came in: correct it with a credit note instead" : undefined}>Void…</Button>
      </Group>
      <Tabs defaultValue="lines" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="lines">Lines</Tabs.Tab>
          <Tabs.Tab value="pdf" data-testid="invoice-tab-pdf">PDF</Tabs.Tab>
          <Tabs.Tab value="payments" data-testid="invoice-tab-payments">Payments ({invoice.payments.length})</Tabs.Tab>
          <Tabs.Tab value="credits" data-testid="invoice-tab-credits">Credit notes ({detail.credit_notes.length})</Tabs.Tab>
          <Tabs.Tab value="trail" data-testid="invoice-tab-trail">Audit trail</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="lines" pt="sm">
          <DraftView draft={invoice} meters={meters} onExplore={onExplore} />
        </Tabs.Panel>
        <Tabs.Panel value="pdf" pt="sm"><PdfPreview number={entry.number} version={version} /></Tabs.Panel>
        <Tabs.Panel value="payments" pt="sm"><PaymentsList detail={detail} onUndo={setUndoing} /></Tabs.Panel>
        <Tabs.Panel value="credits" pt="sm">
          {detail.credit_notes.length === 0 ? <Text size="sm" c="dimmed">No credit notes.</Text> : (
            <Table data-testid="invoice-credit-notes">
              <Table.Thead><Table.Tr><Table.Th>Number</Table.Th><Table.Th>Issued</Table.Th><Table.Th>Reason</Table.Th><Table.Th ta="right">Total</Table.Th><Table.Th ta="right">To prepaid credit</Table.Th><Table.Th ta="right">Overpaid</Table.Th><Table.Th /></Table.Tr></Table.Thead>
              <Table.Tbody>
                {detail.credit_notes.map((c) => (
                  <Table.Tr key={c.number}>
                    <Table.Td>{c.number}</Table.Td>
                    <Table.Td>{formatDay(c.issue_date)}</Table.Td>
                    <Table.Td>{c.reason}</Table.Td>
                    <Table.Td ta="right" ff="monospace">{groupDigits(c.total)} {c.currency}</Table.Td>
                    <Table.Td ta="right" ff="monospace" data-testid="credit-note-returned">{groupDigits(c.credits_returned)}</Table.Td>
                    <Table.Td ta="right" ff="monospace" data-testid="credit-note-refund">
                      {c.refund ? `${groupDigits(c.refund.amount)} ${c.refund.to === "wallet" ? "to wallet" : "to refund"}` : "–"}
                    </Table.Td>
                    <Table.Td>
                      <Group gap={4} wrap="nowrap">
                        <Button size="compact-xs" variant="subtle" onClick={() => savePdf(c.number, entry.customer_name)}>PDF…</Button>
                        <Button size="compact-xs" variant="subtle" onClick={() => setSending(c.number)} data-testid={`credit-note-send-${c.number}`}>Send…</Button>
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="trail" pt="sm">
          <Timeline bulletSize={14} lineWidth={2} data-testid="invoice-trail">
            {detail.trail.map((t, i) => (
              <Timeline.Item key={i} title={<Text size="sm">{t.sentence}</Text>}>
                <Text size="xs" c="dimmed">{t.actor ? `By ${t.actor}, ` : ""}{formatMoment(t.at)}</Text>
              </Timeline.Item>
            ))}
          </Timeline>
        </Tabs.Panel>
      </Tabs>
      <Modal opened={action !== null} onClose={() => setAction(null)}
        title={action === "pay" ? `Record a payment of ${entry.number}` : action === "void" ? `Void ${entry.number}` : `Credit ${entry.number}`}>
        {action === "pay" && <PaymentForm detail={detail} onDone={changed} />}
        {action === "void" && <VoidForm detail={detail} onDone={changed} />}
        {action === "credit" && <CreditForm detail={detail} onDone={() => changed()} />}
      </Modal>
      <Modal opened={sending !== null} onClose={() => setSending(null)} title={`Send ${sending ?? ""} by e-mail`}>
        {sending && <SendForm detail={detail} document={sending} onDone={() => { setSending(null); changed(); }} />}
      </Modal>
      <Modal opened={undoing !== null} onClose={() => setUndoing(null)} title={`Reverse payment #${undoing?.id ?? ""}`}>
        {undoing && <ReverseForm detail={detail} payment={undoing} onDone={changed} />}
      </Modal>
    </Stack>
  );
}
