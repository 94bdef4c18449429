import { useEffect, useMemo, useState } from "react";
import { formatDay } from "../api/format";
import { Alert, Anchor, Badge, Button, Checkbox, Group, List, Loader, Modal, SegmentedControl, Stack, Table, Text, Tooltip } from "@mantine/core";
import { IconAlertTriangle, IconLock } from "@tabler/icons-react";
import { call } from "../api/invoke";
import { compareDecimals, groupDigits } from "../api/decimal";
import { useTotals } from "../api/totals";
import type { Finalized } from "../api/generated/Finalized";
import type { Reviewed } from "../api/generated/Reviewed";
import type { WarningKind } from "../api/generated/WarningKind";
import { notifyError } from "../notify";

const WARNING_LABEL: Record<WarningKind, string> = {
  already_finalized: "finalized",
  not_begun: "not begun",
  period_open: "period open",
  zero_usage: "no usage",
  unbilled_events: "unbilled events",
  late_events: "late events",
  cannot_be_billed: "cannot be billed",
};

/** Chosen at first: nothing to check (every warning is for a person to weigh). */
function chosenByDefault(r: Reviewed): boolean {
  return r.warnings.length === 0;
}

/**
 * The review before finalizing a month: every draft with its total and what
 * to check (open periods, no usage, unbilled or late events, already
 * finalized), the totals of what is chosen, then one confirmation. Each
 * chosen draft is finalized in its own transaction, at the total shown here:
 * a draft whose total changed meanwhile is reported, not finalized.
 */
export function FinalizeReview({ month, opened, onClose, onFinalized, onOpenInvoice }: {
  month: string;
  opened: boolean;
  onClose: () => void;
  onFinalized: (done: Finalized) => void;
  /** Opens a finalized invoice (the numbers in the result). */
  onOpenInvoice: (number: string) => void;
}) {
  const [review, setReview] = useState<Reviewed[] | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<Finalized | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The periods' invoices, or the fee-only invoices of their advance fees.
  const [advance, setAdvance] = useState(false);
  // Which of the two the review shown is of (it loads after a switch).
  const [reviewedAdvance, setReviewedAdvance] = useState(false);

  useEffect(() => {
    if (!opened) return;
    setReview(null);
    setDone(null);
    setError(null);
    call("invoice_review", { month, advance }).then((r) => {
      setReview(r);
      setReviewedAdvance(advance);
      setChosen(new Set(r.filter(chosenByDefault).map((x) => x.draft.subscription)));
    }).catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, [month, opened, advance]);

  const picked = useMemo(() => (review ?? []).filter((r) => chosen.has(r.draft.subscription)), [review, chosen]);
  const totals = useTotals(useMemo(() => picked.map((r) => ({ currency: r.draft.currency, amount: r.draft.total })), [picked]));
  const selectable = (review ?? []).filter((r) => r.warnings.every((w) => !w.blocking));
  const warned = (review ?? []).filter((r) => r.warnings.length > 0).length;

  const toggle = (sub: string, on: boolean) => setChosen((c) => {
    const next = new Set(c);
    if (on) next.add(sub); else next.delete(sub);
    return next;
  });

  const finalize = async () => {
    setBusy(true);
    try {
      const result = await call("invoice_finalize", {
        month, advance, picks: picked.map((r) => ({ subscription: r.draft.subscription, total: r.draft.total })),
      });
      setDone(result);
      onFinalized(result);
    } catch (e) {
      notifyError(e, "Nothing was finalized");
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal opened={opened} onClose={onClose} size="90%" title={`Finalize the periods starting in ${month}`}
      data-testid="finalize-review">
      {!done && (
        <SegmentedControl mb="sm" value={advance ? "advance" : "period"} onChange={(v) => setAdvance(v === "advance")}
          data-testid="review-kind"
          data={[{ value: "period", label: "Period invoices" }, { value: "advance", label: "Advance fees" }]} />
      )}
      {error && <Alert color="red">{error}</Alert>}
      {!review && !error && <Group><Loader size="sm" /><Text size="sm" c="dimmed">Pricing the drafts…</Text></Group>}
      {review && !done && (
        <Stack>
          {advance && (
            <Text size="sm">
              Fee-only invoices of the fees billed in advance, issued at the start of each period; the period's invoice
              will then leave those fees out. {review.length === 0 && "No plan of these periods has an advance fee."}
            </Text>
          )}
          <Text size="sm" c="dimmed">
            Finalizing numbers each chosen draft, freezes it with its lines, prices and both parties, and marks its usage
            invoiced: later events in the period are reported as late. It cannot be undone, only voided or credited.
            {warned > 0 && ` ${warned} of ${review.length} drafts have something to check.`}
          </Text>
          <Table striped data-testid="review-table" data-kind={reviewedAdvance ? "advance" : "period"}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={40}>
                  <Checkbox aria-label="Choose every draft that can be finalized" data-testid="review-all"
                    checked={selectable.length > 0 && picked.length === selectable.length}
                    indeterminate={picked.length > 0 && picked.length < selectable.length}
                    onChange={(e) => setChosen(new Set(e.currentTarget.checked ? selectable.map((r) => r.draft.subscription) : []))} />
                </Table.Th>
                <Table.Th>Customer</Table.Th>
                <Table.Th>Plan</Table.Th>
                <Table.Th>Period</Table.Th>
                <Table.Th>To check</Table.Th>
                <Table.Th ta="right">Total</Table.Th>
                <Table.Th ta="right">Credits</Table.Th>
                <Table.Th ta="right">Amount due</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {review.map((r) => {
                const d = r.draft;
                const blocked = r.warnings.some((w) => w.blocking);
                return (
                  <Table.Tr key={d.subscription} data-testid={`review-row-${d.subscription}`}>
                    <Table.Td>
                      {blocked ? <Tooltip label={r.warnings.find((w) => w.blocking)?.message}><IconLock size={16} /></Tooltip> : (
                        <Checkbox aria-label={`Finalize ${r.customer_name}`} checked={chosen.has(d.subscription)}
                          onChange={(e) => toggle(d.subscription, e.currentTarget.checked)} data-testid={`review-pick-${d.subscription}`} />
                      )}
                    </Table.Td>
                    <Table.Td><Text size="sm">{r.customer_name}</Text><Text size="xs" c="dimmed">{d.customer}</Text></Table.Td>
                    <Table.Td><Badge variant="light" tt="none">{d.plan} v{d.plan_version}</Badge></Table.Td>
                    <Table.Td><Text size="sm">{formatDay(d.first_day)}{d.active_days !== d.period_days ? ` · ${d.active_days}/${d.period_days} days` : ""}</Text></Table.Td>
                    <Table.Td>
                      <Group gap={4}>
                        {r.warnings.map((w) => (
                          <Tooltip key={w.kind} label={w.message}>
                            <Badge size="sm" variant="light" color={w.blocking ? "gray" : "orange"} tt="none"
                              leftSection={w.blocking ? undefined : <IconAlertTriangle size={10} />}
                              data-testid={`review-warning-${d.subscription}-${w.kind}`}>{WARNING_LABEL[w.kind]}</Badge>
                          </Tooltip>
                        ))}
                      </Group>
                    </Table.Td>
                    <Table.Td ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }}>{groupDigits(d.total)} {d.currency}</Table.Td>
                    <Table.Td ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }} c={compareDecimals(r.credits_applied, "0") > 0 ? "teal" : "dimmed"}
                      data-testid={`review-credits-${d.subscription}`}>
                      {compareDecimals(r.credits_applied, "0") > 0 ? `−${groupDigits(r.credits_applied)}` : "—"}
                    </Table.Td>
                    <Table.Td ta="right" ff="monospace" style={{ whiteSpace: "nowrap" }} data-testid={`review-due-${d.subscription}`}>
                      {groupDigits(r.amount_due)} {d.currency}
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
          <Group justify="space-between">
            <Group gap="xs" data-testid="review-totals">
              {totals.length === 0 && <Text size="sm" c="dimmed">Nothing chosen.</Text>}
              {totals.map((t) => (
                <Badge key={t.currency} size="lg" variant="light" tt="none">{t.count} × · {groupDigits(t.total)} {t.currency}</Badge>
              ))}
            </Group>
            <Group>
              <Button variant="default" onClick={onClose} disabled={busy}>Cancel</Button>
              {busy && <Text size="sm" c="dimmed" data-testid="review-busy">Finalizing {picked.length} {picked.length === 1 ? "invoice" : "invoices"}: numbering, freezing, applying credits…</Text>}
              <Button color="teal" onClick={finalize} loading={busy} disabled={picked.length === 0} data-testid="review-confirm">
                Finalize {picked.length} {picked.length === 1 ? "invoice" : "invoices"}
              </Button>
            </Group>
          </Group>
        </Stack>
      )}
      {done && (
        <Stack data-testid="review-done">
          <Alert color={done.failures.length ? "orange" : "teal"} title={`${done.invoices.length} finalized`}>
            {done.invoices.length > 0 && (
              <Group gap={6} data-testid="review-numbers">
                {done.invoices.map((i) => (
                  <Anchor key={i.number} component="button" size="sm" onClick={() => { onClose(); onOpenInvoice(i.number ?? ""); }}
                    data-testid={`review-number-${i.number}`}>
                    {i.number}
                  </Anchor>
                ))}
              </Group>
            )}
          </Alert>
          {done.failures.length > 0 && (
            <Alert color="red" title={`${done.failures.length} not finalized`}>
              <List size="sm">
                {done.failures.map((f) => <List.Item key={f.subscription}>{f.customer || f.subscription}: {f.message}</List.Item>)}
              </List>
            </Alert>
          )}
          <Group justify="flex-end"><Button onClick={onClose} data-testid="review-close">Close</Button></Group>
        </Stack>
      )}
    </Modal>
  );
}
