import { useEffect, useState } from "react";
import {
  Alert, Button, Group, Image, Loader, NumberInput, Paper, SegmentedControl, Select, SimpleGrid, Stack, Switch, TextInput, Textarea, Title, Text,
  useMantineColorScheme, type MantineColorScheme,
} from "@mantine/core";
import { IconPhotoUp, IconShieldCheck, IconTrash } from "@tabler/icons-react";
import { useForm } from "@mantine/form";
import { call, CommandError } from "../api/invoke";
import type { PaymentDetails } from "../api/generated/PaymentDetails";
import type { MailSettings } from "../api/generated/MailSettings";
import type { MailSecurity } from "../api/generated/MailSecurity";
import type { MailTemplates } from "../api/generated/MailTemplates";
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
/** The mail server as the form edits it; the templates keep their shape. */
type MailForm = {
  mail_on: boolean; mail_host: string; mail_port: number | string; mail_security: MailSecurity; mail_username: string; mail_from: string;
  templates: MailTemplates; reminder_days: string;
};
type FormValues = Omit<Settings, "address" | "tax_id" | "payment" | "mail" | "reminder_days"> & { address: string; tax_id: string } & PayForm & MailForm;

/** The templates a new mail setup starts with (the engine's defaults, as Settings returns them once saved). */
const NO_TEMPLATES: MailTemplates = {
  invoice: { subject: "Invoice {number} from {company}", body: "Hello {customer},\n\nplease find attached invoice {number} for {amount}, due on {due_date}.\n\nThank you,\n{company}" },
  credit_note: { subject: "Credit note {number} from {company}", body: "Hello {customer},\n\nplease find attached credit note {number} for {amount}, which corrects invoice {invoice}.\n\nThank you,\n{company}" },
  reminder: { subject: "Reminder: invoice {number} is overdue", body: "Hello {customer},\n\nour records show {amount} still owed on invoice {number}, which was due on {due_date} ({days_overdue} days ago). The invoice is attached. If you have paid it already, please disregard this message.\n\nThank you,\n{company}" },
  statement: { subject: "Statement of account from {company}", body: "Hello {customer},\n\nplease find attached your statement of account from {from} to {to}. Owed in total: {amount}.\n\nThank you,\n{company}" },
};

function mailForm(m: MailSettings | null, days: number[]): MailForm {
  return {
    mail_on: m !== null, mail_host: m?.host ?? "", mail_port: m?.port ?? 587, mail_security: m?.security ?? "starttls",
    mail_username: m?.username ?? "", mail_from: m?.from ?? "", templates: m?.templates ?? NO_TEMPLATES, reminder_days: days.join(", "),
  };
}

function mailOf(v: MailForm): MailSettings | null {
  if (!v.mail_on) return null;
  return {
    host: v.mail_host, port: Number(v.mail_port), security: v.mail_security, from: v.mail_from, templates: v.templates,
    ...(v.mail_username.trim() ? { username: v.mail_username } : {}),
  };
}

/** "7, 21, 45" as days; what does not read is left for the engine to name. */
function reminderDays(text: string): number[] {
  return text.split(/[,;\s]+/).filter((d) => d !== "").map((d) => (/^\d+$/.test(d) ? Number(d) : -1));
}

const KIND_LABELS: Record<keyof MailTemplates, string> = {
  invoice: "Invoice", credit_note: "Credit note", reminder: "Reminder", statement: "Statement",
};

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
const PAY_FIELDS: Record<string, keyof PayForm | keyof MailForm> = {
  "payment.payee": "pay_payee", "payment.iban": "pay_iban", "payment.bic": "pay_bic", "payment.account_number": "pay_account",
  "payment.routing_number": "pay_routing", "payment.note": "pay_note",
  "mail.host": "mail_host", "mail.port": "mail_port", "mail.username": "mail_username", "mail.from": "mail_from",
};

/** The form's field of an engine problem's path. */
function fieldOf(path: string): string {
  if (PAY_FIELDS[path]) return PAY_FIELDS[path];
  if (path.startsWith("mail.templates.")) return path.slice("mail.".length);
  return path.replace(/\[\d+\]$/, "");
}

function toForm(s: Settings): FormValues {
  const { payment, mail, reminder_days, ...rest } = s;
  return { ...rest, address: s.address.join("\n"), tax_id: s.tax_id ?? "", ...payForm(payment), ...mailForm(mail, reminder_days) };
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
      usage_appendix: false, backups_keep: 10, margin_floor_percent: "20", ...payForm(null), ...mailForm(null, [7, 21, 45]),
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
    const { pay_kind: _k, pay_payee: _p, pay_iban: _i, pay_bic: _b, pay_account: _a, pay_routing: _r, pay_note: _n,
      mail_on: _m1, mail_host: _m2, mail_port: _m3, mail_security: _m4, mail_username: _m5, mail_from: _m6, templates: _t,
      reminder_days: _d, ...company } = v;
    const settings: Settings = {
      ...company, address: v.address.split("\n"), tax_id: v.tax_id || null, payment_terms_days: Number(v.payment_terms_days),
      backups_keep: Number(v.backups_keep), payment: paymentOf(v), margin_floor_percent: v.margin_floor_percent.trim(),
      mail: mailOf(v), reminder_days: reminderDays(v.reminder_days),
    };
    try {
      const stored = await call("settings_update", { settings });
      form.setValues(toForm(stored));
      form.resetDirty();
      notifyOk("Settings saved");
      onSaved();
    } catch (e) {
      if (e instanceof CommandError && e.problems.length > 0) {
        for (const p of e.problems) form.setFieldError(fieldOf(p.path), p.message);
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
          <Title order={4} mt="sm">Sending by e-mail</Title>
          <Text size="sm" c="dimmed">
            Invoices, credit notes, reminders and statements go to each customer's billing addresses through this mail server,
            with the PDF attached. The password is kept on this computer, never in the workspace.
          </Text>
          <Switch label="Send e-mail through a mail server" data-testid="settings-mail-on" {...form.getInputProps("mail_on", { type: "checkbox" })} />
          {form.values.mail_on && (
            <>
              <SimpleGrid cols={3}>
                <TextInput label="Mail server" placeholder="smtp.example.com" data-testid="settings-mail-host" {...form.getInputProps("mail_host")} />
                <NumberInput label="Port" min={1} max={65535} allowDecimal={false} data-testid="settings-mail-port" {...form.getInputProps("mail_port")} />
                <Select label="Security" allowDeselect={false} data-testid="settings-mail-security" {...form.getInputProps("mail_security")}
                  data={[{ value: "starttls", label: "STARTTLS (587)" }, { value: "tls", label: "TLS (465)" }, { value: "none", label: "None (local relay)" }]} />
              </SimpleGrid>
              <SimpleGrid cols={2}>
                <TextInput label="Username (optional)" data-testid="settings-mail-username" {...form.getInputProps("mail_username")} />
                <TextInput label="Sender" placeholder="Acme Billing <billing@acme.com>" data-testid="settings-mail-from" {...form.getInputProps("mail_from")} />
              </SimpleGrid>
              <TextInput label="Reminder levels (days after the due date)" description="Each is sent once per invoice while something is owed"
                w={360} data-testid="settings-reminder-days" {...form.getInputProps("reminder_days")} />
              <Text size="sm" fw={500}>Message templates</Text>
              <Text size="xs" c="dimmed">
                Placeholders: {"{number}"}, {"{amount}"}, {"{due_date}"}, {"{customer}"}, {"{company}"}; a credit note has {"{invoice}"},
                a reminder {"{days_overdue}"} and {"{level}"}, a statement {"{from}"} and {"{to}"}.
              </Text>
              {(Object.keys(KIND_LABELS) as (keyof MailTemplates)[]).map((kind) => (
                <Paper key={kind} withBorder p="sm">
                  <Stack gap="xs">
                    <TextInput label={`${KIND_LABELS[kind]}: subject`} data-testid={`settings-template-${kind}-subject`}
                      {...form.getInputProps(`templates.${kind}.subject`)} />
                    <Textarea label={`${KIND_LABELS[kind]}: message`} autosize minRows={3} data-testid={`settings-template-${kind}-body`}
                      {...form.getInputProps(`templates.${kind}.body`)} />
                  </Stack>
                </Paper>
              ))}
            </>
          )}
          <Group justify="flex-end">
            <Button type="submit" disabled={!form.isDirty()} data-testid="settings-save">Save settings</Button>
          </Group>
        </Stack>
      </form>
      )}
      {loaded && form.values.mail_on && !form.isDirty("mail_host") && <MailPassword />}
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

/** The mail server's password (kept on this computer, not in the workspace) and a connection test. */
function MailPassword() {
  const [kept, setKept] = useState<boolean | null>(null);
  const [password, setPassword] = useState("");
  const [testing, setTesting] = useState(false);
  useEffect(() => { void call("mail_password_kept").then(setKept).catch(() => setKept(null)); }, []);
  const keep = async (value: string | null) => {
    try {
      setKept(await call("mail_password_set", { password: value }));
      setPassword("");
      notifyOk(value ? "Password kept on this computer" : "Password forgotten");
    } catch (e) {
      notifyError(e, "The password was not kept");
    }
  };
  const test = async () => {
    setTesting(true);
    try {
      await call("mail_test");
      notifyOk("The mail server answered and took the login");
    } catch (e) {
      notifyError(e, "The mail server could not be used");
    } finally {
      setTesting(false);
    }
  };
  return (
    <Paper withBorder p="sm" data-testid="settings-mail-password">
      <Stack gap="xs">
        <Text size="sm" fw={500}>Mail server password</Text>
        <Text size="xs" c="dimmed">
          {kept ? "A password is kept for this login, on this computer only." : "No password kept (save the server settings first)."}
        </Text>
        <Group align="flex-end">
          <TextInput type="password" label="Password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} w={260}
            data-testid="settings-mail-password-input" autoComplete="new-password" />
          <Button variant="light" disabled={!password} onClick={() => void keep(password)} data-testid="settings-mail-password-keep">Keep password</Button>
          {kept && <Button variant="subtle" color="red" onClick={() => void keep(null)}>Forget</Button>}
          <Button variant="default" loading={testing} onClick={test} data-testid="settings-mail-test">Test connection</Button>
        </Group>
      </Stack>
    </Paper>
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
