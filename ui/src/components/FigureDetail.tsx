import { useEffect, useState } from "react";
import { Alert, Drawer, Loader, ScrollArea, Table, Text } from "@mantine/core";
import { call } from "../api/invoke";
import { groupDigits } from "../api/decimal";
import type { Detail } from "../api/generated/Detail";
import type { Figure } from "../api/generated/Figure";

/** A cell as the engine gives it: amounts grouped, the rest as is. */
const shown = (cell: string) => (/^-?\d+(\.\d+)?$/.test(cell) ? groupDigits(cell) : cell);

/**
 * The list behind one figure of the dashboard, with its totals (the figure
 * itself). A row with an invoice opens the invoice, any other its customer.
 */
export function FigureDetail({ figure, onClose, onOpenCustomer, onOpenInvoice }: {
  figure: Figure | null;
  onClose: () => void;
  onOpenCustomer: (id: string) => void;
  onOpenInvoice: (number: string) => void;
}) {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!figure) return;
    let current = true;
    call("dashboard_detail", { figure })
      .then((d) => { if (current) { setDetail(d); setError(null); } })
      .catch((e) => { if (current) setError(String(e)); });
    return () => { current = false; setDetail(null); };
  }, [figure]);
  const withDocuments = detail?.rows.some((r) => r.document !== null) ?? false;
  return (
    <Drawer opened={figure !== null} onClose={onClose} position="right" size="xl" title={detail?.title ?? "…"}>
      {error && <Alert color="red">{error}</Alert>}
      {!detail && !error && <Loader size="sm" />}
      {detail && (detail.rows.length === 0 ? <Text c="dimmed">Nothing behind this figure.</Text> : (
        <ScrollArea>
          <Table fz="sm" highlightOnHover data-testid="figure-detail">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Customer</Table.Th>
                {withDocuments && <Table.Th>Invoice</Table.Th>}
                {detail.columns.map((c) => <Table.Th key={c} ta="right">{c}</Table.Th>)}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {detail.rows.map((r, i) => (
                <Table.Tr key={i} style={{ cursor: "pointer" }} data-testid={`figure-row-${i}`} data-document={r.document ?? ""}
                  onClick={() => { onClose(); if (r.document) onOpenInvoice(r.document); else onOpenCustomer(r.customer); }}>
                  <Table.Td>{r.customer_name}</Table.Td>
                  {withDocuments && <Table.Td ff="monospace">{r.document ?? "draft"}</Table.Td>}
                  {r.cells.map((c, j) => <Table.Td key={j} ta="right" ff="monospace">{shown(c)}</Table.Td>)}
                </Table.Tr>
              ))}
            </Table.Tbody>
            <Table.Tfoot>
              <Table.Tr data-testid="figure-totals">
                <Table.Th>Total</Table.Th>
                {withDocuments && <Table.Th />}
                {detail.totals.map((t, j) => <Table.Th key={j} ta="right" ff="monospace">{shown(t)}</Table.Th>)}
              </Table.Tr>
            </Table.Tfoot>
          </Table>
        </ScrollArea>
      ))}
    </Drawer>
  );
}
