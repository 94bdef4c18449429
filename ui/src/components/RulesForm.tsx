import { useEffect, useState } from "react";
import { Alert, Button, Center, Group, Loader, SimpleGrid, Stack, Text, TextInput } from "@mantine/core";
import { call } from "../api/invoke";
import type { Rules } from "../api/generated/Rules";
import { fieldErrors } from "./GrantForm";

type Field = keyof Rules;
const FIELDS: { key: Field; label: string; hint: string }[] = [
  { key: "topup_below", label: "Top up when below", hint: "the projected balance" },
  { key: "topup_amount", label: "Top-up amount", hint: "a paid grant, billed on the next invoice" },
  { key: "alert_below", label: "Alert below (amount)", hint: "the projected balance" },
  { key: "alert_percent", label: "or alert below (%)", hint: "of the credit in active grants" },
  { key: "expiry_days", label: "Alert days before expiry", hint: "a grant with credit left" },
];

/**
 * A customer's wallet rules: an automatic top-up and the alerts. Each fires
 * once when the projected balance drops below its line (checked after
 * imports and finalizing, and when saved); blank fields are off.
 */
export function RulesForm({ customer, currency, onDone }: { customer: string; currency: string; onDone: () => void }) {
  // The stored rules, once read: the fields are not shown before, so nothing typed is overwritten.
  const [values, setValues] = useState<Record<Field, string> | null>(null);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string | null }>({ fields: {}, other: null });
  useEffect(() => {
    setValues(null);
    call("wallet_rules", { customer }).then((r) => setValues({
      topup_below: r.topup_below ?? "", topup_amount: r.topup_amount ?? "", alert_below: r.alert_below ?? "",
      alert_percent: r.alert_percent ?? "", expiry_days: r.expiry_days == null ? "" : String(r.expiry_days),
    })).catch((e) => setErrors(fieldErrors(e)));
  }, [customer]);
  if (values === null) {
    return errors.other ? <Alert color="red">{errors.other}</Alert> : <Center py="md"><Loader size="sm" /></Center>;
  }

  const save = async () => {
    const text = (k: Field) => values[k].trim() || null;
    const days = text("expiry_days");
    if (days !== null && !/^\d+$/.test(days)) return setErrors({ fields: { expiry_days: "a whole number of days" }, other: null });
    try {
      await call("wallet_rules_set", {
        customer,
        rules: {
          topup_below: text("topup_below"), topup_amount: text("topup_amount"), alert_below: text("alert_below"),
          alert_percent: text("alert_percent"), expiry_days: days === null ? null : Number(days),
        },
      });
      onDone();
    } catch (e) {
      setErrors(fieldErrors(e));
    }
  };
  return (
    <Stack>
      <SimpleGrid cols={2}>
        {FIELDS.map((f) => (
          <TextInput key={f.key} label={f.label} description={f.hint} value={values[f.key]} placeholder="off"
            rightSection={f.key === "alert_percent" ? <Text size="xs" c="dimmed">%</Text> : f.key === "expiry_days" ? undefined : <Text size="xs" c="dimmed">{currency}</Text>}
            rightSectionWidth={48}
            onChange={(e) => { const v = e.currentTarget.value; setValues((old) => old && { ...old, [f.key]: v }); }}
            error={errors.fields[f.key]} data-testid={`rules-${f.key}`} />
        ))}
      </SimpleGrid>
      {errors.other && <Alert color="red">{errors.other}</Alert>}
      <Group justify="flex-end"><Button onClick={save} data-testid="rules-save">Save rules</Button></Group>
    </Stack>
  );
}
