import { useEffect, useState } from "react";
import {
  Alert, Button, Group, Image, Loader, NumberInput, Paper, SegmentedControl, Select, SimpleGrid, Stack, Switch, TextInput, Textarea, Title, Text,
  useMantineColorScheme, type MantineColorScheme,
} from "@mantine/core";
import { IconPhotoUp, IconShieldCheck, IconTrash } from "@tabler/icons-react";
import { useForm } from "@mantine/form";
import { call, CommandError } from "../api/invoke";
import type { PaymentDetails } from "../api/generated/PaymentDetails";
import type { Settings } from "../api/generated/Settings";
import type { ReferenceData } from "../api/generated/ReferenceData";
import type { Verified } from "../api/generated/Verified";
import { notifyError, notifyOk } from "../notify";
import { BackupsPanel } from "../components/BackupsPanel";

/** The payment details as the form edits them: one account kind at a time. */
type PayForm = {
  pay_kind: "none" | "iban" | "us"; pay_payee: string; pay_iban: string; pay_bic: string; pay_account: string; pay_routing: string;
  pay_note: string;
};
type FormValues = Omit<Settings, "address" | "tax_id" | "payment"> & { address: string; tax_id: string } & PayForm;

function payForm(p: PaymentDetails | null): PayForm {
  return {
    pay_kind: !p ? "none" : p.iban ? "iban" : "us", pay_payee: p?.payee ?? "", pay_iban: p?.iban ?? "", pay_bic: p?.bic ?? "",
    pay_account: p?.account_number ?? "", pay_routing: p?.routing_number ?? "", pay_note: p?.note ?? "",
  };
}

function paymentOf(v: PayForm): PaymentDetails | null {
  if (v.pay_kind === "none") return null;
  const note = v.pay_note.trim() ? { note: v.pay_note } : {};
  return v.pay_kind === "iban"
    ? { payee: v.pay_payee, iban: v.pay_iban, ...(v.pay_bic.trim() ? { bic: v.pay_bic } : {}), ...note }
    : { payee: v.pay_payee, account_number: v.pay_account, routing_number: v.pay_routing, ...note };
}

/** The form's field of an engine problem's path ("payment.iban" → "pay_iban"). */
const PAY_FIELDS: Record<string, keyof PayForm> = {
  "payment.payee": "pay_payee", "payment.iban": "pay_iban", "payment.bic": "pay_bic", "payment.account_number": "pay_account",
  "payment.routing_number": "pay_routing", "payment.note": "pay_note",
};

function toForm(s: Settings): FormValues {
  const { payment, ...rest } = s;
  return { ...rest, address: s.address.join("\n"), tax_id: s.tax_id ?? "", ...payForm(payment) };
}

export function SettingsPage({ onSaved }: { onSaved: () => void }) {
  const [reference, setReference] = useState<ReferenceData | null>(null);
  // The form appears only once the stored settings are in it, so nothing typed is overwritten.
  const [loaded, setLoaded] = useState(false);
  const [verified, setVerified] = useState<Verified | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [logo, setLogo] = useState<string | null>(null);
  const [notifications, setNotifications] = useState(false);
  useEffect(() => { void call("notifications_get").then(setNotifications).catch(notifyError); }, []);

  const loadLogo = async () => {
    const bytes = await call("settings_logo");
    setLogo((old) => {
      if (old) URL.revokeObjectURL(old);
      return bytes.byteLength ? URL.createObjectURL(new Blob([bytes])) : null;
    });
  };
  useEffect(() => { void loadLogo().catch(notifyError); }, []);
  const pickLogo = async () => {
    try {
      if (await call("settings_logo_pick")) {
        await loadLogo();
        notifyOk("Logo saved: invoices finalized from now on print it");
      }
    } catch (e) {
      notifyError(e, "The logo was not saved");
    }
  };
  const clearLogo = async () => {
    try {
      await call("settings_logo_clear");
      await loadLogo();
      notifyOk("Logo removed: invoices finalized from now on have none");
    } catch (e) {
      notifyError(e, "The logo was not removed");
    }
  };
  const form = useForm<FormValues>({
    initialValues: {
      company_name: "", address: "", tax_id: "", currency: "USD", timezone: "UTC", invoice_prefix: "INV", payment_terms_days: 30, paper: "a4",
      usage_appendix: false, backups_keep: 10, margin_floor_percent: "20", ...payForm(null),
    },
  });

  useEffect(() => {
    void call("reference_data").then(setReference).catch(notifyError);
    void call("settings_get")
      .then((s) => {
        form.setValues(toForm(s));
        form.resetDirty();
        setLoaded(true);
      })
      .catch(notifyError);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const save = async (v: FormValues) => {
    const { pay_kind: _k, pay_payee: _p, pay_iban: _i, pay_bic: _b, pay_account: _a, pay_routing: _r, pay_note: _n, ...company } = v;
    const settings: Settings = {
      ...company, address: v.address.split("\n"), tax_id: v.tax_id || null, payment_terms_days: Number(v.payment_terms_days),
      backups_keep: Number(v.backups_keep), payment: paymentOf(v), margin_floor_percent: v.margin_floor_percent.trim(),
    };
    try {
      const stored = await call("settings_update", { settings });
      form.setValues(toForm(stored));
      form.resetDirty();
      notifyOk("Settings saved");
      onSaved();
    } catch (e) {
      if (e instanceof CommandError && e.problems.length > 0) {
        for (const p of e.problems) form.setFieldError(PAY_FIELDS[p.path] ?? p.path.replace(/\[\d+\]$/, ""), p.message);
      } else notifyError(e, "The settings were not saved");
    }
  };

  const verify = async () => {
    setVerifying(true);
    try {
      setVerified(await call("invoices_verify"));
    } catch (e) {
      notifyError(e, "The invoices could not be checked");
    } finally {
      setVerifying(false);
    }
  };

  return (
    <Stack maw={760}>
      <Title order={2}>Settings</Title>
      <Appearance />
      <Text size="sm" c="dimmed">The company that bills: printed on every invoice.</Text>
      {!loaded ? <Loader size="sm" /> : (
      <form onSubmit={form.onSubmit(save)} data-testid="settings-form">
        <Stack>
          <TextInput label="Company name" required data-testid="settings-company" {...form.getInputProps("company_name")} />
          <Textarea label="Address" description="One line per row" autosize minRows={3} {...form.getInputProps("address")} />
          <TextInput label="Tax id" {...form.getInputProps("tax_id")} />
          <SimpleGrid cols={2}>
            <Select label="Default currency" searchable allowDeselect={false} data-testid="settings-currency"
              data={(reference?.currencies ?? []).map((c) => ({ value: c.code, label: `${c.code} — ${c.name} (${c.minor_units} decimals)` }))}
              {...form.getInputProps("currency")} />
            <Select label="Time zone" description="Billing periods are computed in this zone" searchable allowDeselect={false}
              data={reference?.timezones ?? []} limit={200} {...form.getInputProps("timezone")} />
            <TextInput label="Invoice prefix" description="Numbers look like INV-2026-00001" data-testid="settings-prefix" {...form.getInputProps("invoice_prefix")} />
            <NumberInput label="Payment terms (days)" min={0} max={365} allowDecimal={false} {...form.getInputProps("payment_terms_days")} />
            <Select label="Paper" description="The size of invoice and credit note PDFs" allowDeselect={false} data-testid="settings-paper"
              data={[{ value: "a4", label: "A4 (210 × 297 mm)" }, { value: "letter", label: "Letter (8.5 × 11 in)" }]}
              {...form.getInputProps("paper")} />
          </SimpleGrid>
          <NumberInput label="Automatic backups kept" description="Taken before each finalize run and upgrade; 0 takes none"
            min={0} max={1000} allowDecimal={false} w={260} data-testid="settings-backups-keep" {...form.getInputProps("backups_keep")} />
          <TextInput label="Margin floor (%)" description="A customer whose margin in its last ended period is below this is flagged as a power user"
            w={360} data-testid="settings-margin-floor" {...form.getInputProps("margin_floor_percent")} />
          <Switch label="Usage appendix" description="Invoice PDFs end with each usage line's quantity by day"
            data-testid="settings-appendix" {...form.getInputProps("usage_appendix", { type: "checkbox" })} />
          <Title order={4} mt="sm">Payment details</Title>
          <Text size="sm" c="dimmed">
            Printed on every invoice with the amount due and the invoice's number as the reference to quote. An invoice keeps the
            details it was finalized with.
          </Text>
          <SegmentedControl data-testid="settings-pay-kind" {...form.getInputProps("pay_kind")} data={[
            { value: "none", label: "Not printed" }, { value: "iban", label: "IBAN and BIC" }, { value: "us", label: "Account and routing number" },
          ]} />
          {form.values.pay_kind !== "none" && (
            <>
              <TextInput label="Payee" description="The account holder's name, as the bank knows it" data-testid="settings-pay-payee"
                {...form.getInputProps("pay_payee")} />
              {form.values.pay_kind === "iban" ? (
                <SimpleGrid cols={2}>
                  <TextInput label="IBAN" placeholder="DE89 3704 0044 0532 0130 00" data-testid="settings-pay-iban" {...form.getInputProps("pay_iban")} />
                  <TextInput label="BIC (optional)" placeholder="COBADEFFXXX" data-testid="settings-pay-bic" {...form.getInputProps("pay_bic")} />
                </SimpleGrid>
              ) : (
                <SimpleGrid cols={2}>
                  <TextInput label="Account number" data-testid="settings-pay-account" {...form.getInputProps("pay_account")} />
                  <TextInput label="Routing number (ABA)" placeholder="021000021" data-testid="settings-pay-routing" {...form.getInputProps("pay_routing")} />
                </SimpleGrid>
              )}
              <TextInput label="Note (optional)" description="Anything else a customer needs to pay" data-testid="settings-pay-note"
                {...form.getInputProps("pay_note")} />
            </>
          )}
          <Group justify="flex-end">
            <Button type="submit" disabled={!form.isDirty()} data-testid="settings-save">Save settings</Button>
          </Group>
        </Stack>
      </form>
      )}
      <Title order={4} mt="lg">Logo</Title>
      <Text size="sm" c="dimmed">
        A PNG or JPEG printed at the top of invoices and credit notes. An invoice keeps the logo it was finalized with.
      </Text>
      <Group align="center">
        <Paper withBorder p="xs" w={220} h={64} data-testid="settings-logo">
          {logo ? <Image src={logo} h={44} fit="contain" alt="The logo" /> : <Text size="sm" c="dimmed">No logo</Text>}
        </Paper>
        <Button variant="light" leftSection={<IconPhotoUp size={16} />} onClick={pickLogo}>Choose…</Button>
        <Button variant="subtle" color="red" leftSection={<IconTrash size={16} />} onClick={clearLogo} disabled={!logo}>Remove</Button>
      </Group>
      <Title order={4} mt="lg">Desktop notifications</Title>
      <Switch label="Show wallet alerts as desktop notifications" checked={notifications}
        description="Low balance, credit expiring and automatic top-ups, on this computer; the alerts inbox keeps them either way"
        onChange={(e) => { const on = e.currentTarget.checked; call("notifications_set", { enabled: on }).then(() => setNotifications(on)).catch((err) => notifyError(err, "The choice was not saved")); }}
        data-testid="settings-notifications" />
      <Title order={4} mt="lg">Backups</Title>
      <Text size="sm" c="dimmed">
        A copy of the workspace is taken before each finalize run and before Meterdesk upgrades the file, in a folder beside it.
        How many are kept is set above. Restoring one keeps what the workspace holds now as a backup too.
      </Text>
      <BackupsPanel onRestored={onSaved} />
      <Title order={4} mt="lg">Tamper evidence</Title>
      <Text size="sm" c="dimmed">
        Each finalized invoice stores a hash of its content and of the invoice before it. Checking the chain recomputes
        every hash and names the first invoice changed outside Meterdesk.
      </Text>
      <Group>
        <Button variant="light" leftSection={<IconShieldCheck size={16} />} onClick={verify} loading={verifying}
          data-testid="settings-verify">Check the invoice chain</Button>
      </Group>
      {verified && (verified.first_break === null ? (
        <Alert color="green" data-testid="settings-verified">All {verified.invoices} finalized invoices are intact.</Alert>
      ) : (
        <Alert color="red" title="The chain is broken" data-testid="settings-verified">
          {verified.first_break} ({verified.invoices} invoices checked before it).
        </Alert>
      ))}
    </Stack>
  );
}

/** Light, dark, or as the system is (the default): a choice of this machine, kept between sessions. */
function Appearance() {
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  return (
    <Group gap="sm">
      <Text size="sm" fw={500}>Appearance</Text>
      <SegmentedControl size="xs" value={colorScheme} onChange={(v) => setColorScheme(v as MantineColorScheme)} data-testid="settings-appearance"
        data={[{ value: "auto", label: "As the system" }, { value: "light", label: "Light" }, { value: "dark", label: "Dark" }]} />
    </Group>
  );
}
