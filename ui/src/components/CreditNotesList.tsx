import { useEffect, useState } from "react";
import { formatDay } from "../api/format";
import { Anchor, Loader, Table, Text } from "@mantine/core";
import { call } from "../api/invoke";
import { compareDecimals, groupDigits } from "../api/decimal";
import type { CreditNote } from "../api/generated/CreditNote";
import { notifyError, notifySaved } from "../notify";

const NOWRAP = { whiteSpace: "nowrap" } as const;

/** Every credit note: its invoice, customer, date, reason, what it took off and what it gave back to the wallet. */
export function CreditNotesList({ onOpenInvoice }: { onOpenInvoice: (number: string) => void }) {
  const [notes, setNotes] = useState<CreditNote[] | null>(null);
  useEffect(() => {
    call("credit_notes_list").then(setNotes).catch((e) => notifyError(e, "The credit notes could not be read"));
  }, []);
  const save = async (n: CreditNote) => {
    try {
      const path = await call("pdf_save_dialog", { title: `Save ${n.number}`, fileName: `${n.number} ${n.customer}.pdf` });
      if (!path) return;
      await call("document_pdf_save", { number: n.number, path });
      notifySaved(`Saved ${n.number} to ${path}`, path);
    } catch (e) {
      notifyError(e, "The PDF was not saved");
    }
  };
  if (!notes) return <Loader size="sm" />;
  if (notes.length === 0) return <Text c="dimmed" data-testid="credit-notes-empty">No credit notes yet: an invoice's page issues them.</Text>;
  return (
    <Table striped stickyHeader stickyHeaderOffset={52} data-testid="credit-notes-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Number</Table.Th><Table.Th>Invoice</Table.Th><Table.Th>Customer</Table.Th><Table.Th>Issued</Table.Th>
          <Table.Th>Reason</Table.Th><Table.Th ta="right">Credited</Table.Th><Table.Th ta="right">To prepaid credit</Table.Th><Table.Th />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {notes.map((n) => (
          <Table.Tr key={n.number} data-testid={`credit-note-row-${n.number}`}>
            <Table.Td ff="monospace" style={NOWRAP}>{n.number}</Table.Td>
            <Table.Td style={NOWRAP}><Anchor component="button" size="sm" ff="monospace" onClick={() => onOpenInvoice(n.invoice)}>{n.invoice}</Anchor></Table.Td>
            <Table.Td><Text size="sm" truncate maw={200}>{n.customer}</Text></Table.Td>
            <Table.Td style={NOWRAP}>{formatDay(n.issue_date)}</Table.Td>
            <Table.Td><Text size="sm" lineClamp={2}>{n.reason}</Text></Table.Td>
            <Table.Td ta="right" ff="monospace" style={NOWRAP}>−{groupDigits(n.total)} {n.currency}</Table.Td>
            <Table.Td ta="right" ff="monospace" style={NOWRAP} c={compareDecimals(n.credits_returned, "0") > 0 ? undefined : "dimmed"}>
              {groupDigits(n.credits_returned)} {n.currency}
            </Table.Td>
            <Table.Td><Anchor component="button" size="sm" onClick={() => void save(n)}>PDF…</Anchor></Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
