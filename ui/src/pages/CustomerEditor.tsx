import { useEffect } from "react";
import { Button, Drawer, Group, Select, SegmentedControl, Stack, TextInput, Textarea, Badge } from "@mantine/core";
import { useForm } from "@mantine/form";
import { call, CommandError } from "../api/invoke";
import type { Customer } from "../api/generated/Customer";
import type { CustomerFields } from "../api/generated/CustomerFields";
import type { CurrencyInfo } from "../api/generated/CurrencyInfo";
import { fractionToPercent, percentToFraction } from "../api/decimal";
import { notifyError, notifyOk } from "../notify";

interface FormValues {
  id: string;
  name: string;
  email: string;
  currency: string;
  taxMode: "rate" | "exempt";
  taxPercent: string;
  taxExempt: string;
  taxId: string;
  address: string;
}

function toForm(c: Customer | null, defaultCurrency: string): FormValues {
  return {
    id: c?.id ?? "",
    name: c?.name ?? "",
    email: c?.email ?? "",
    currency: c?.currency ?? defaultCurrency,
    taxMode: c?.tax_exempt ? "exempt" : "rate",
    taxPercent: c?.tax_rate ? fractionToPercent(c.tax_rate) : "0",
    taxExempt: c?.tax_exempt ?? "",
    taxId: c?.tax_id ?? "",
    address: (c?.address ?? []).join("\n"),
  };
}

/** Creates a customer (customer = null) or edits one; the engine validates. */
export function CustomerEditor(props: {
  opened: boolean;
  customer: Customer | null;
  currencies: CurrencyInfo[];
  defaultCurrency: string;
  onClose: () => void;
  /** After a save: the customer's id (a new customer's page opens next, to put it on a plan). */
  onSaved: (id: string) => void;
}) {
  const { customer } = props;
  const form = useForm<FormValues>({ initialValues: toForm(customer, props.defaultCurrency) });

  useEffect(() => {
    form.setValues(toForm(customer, props.defaultCurrency));
    form.clearErrors();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [customer, props.opened]);

  const save = async (v: FormValues) => {
    const taxRate = v.taxMode === "rate" ? percentToFraction(v.taxPercent) : null;
    if (v.taxMode === "rate" && taxRate === null) {
      form.setFieldError("taxPercent", "Enter a percentage such as 20 or 8.25");
      return;
    }
    const fields: CustomerFields = {
      id: v.id,
      name: v.name,
      email: v.email.trim() === "" ? null : v.email,
      currency: v.currency,
      tax_rate: taxRate,
      tax_exempt: v.taxMode === "exempt" ? v.taxExempt : null,
      tax_id: v.taxId.trim() === "" ? null : v.taxId,
      address: v.address.split("\n"),
      archived: customer?.archived ?? false,
    };
    try {
      const saved = await (customer ? call("customer_update", { fields }) : call("customer_create", { fields }));
      notifyOk(customer ? `Saved ${v.name}` : `Created ${v.name}: put it on a plan from its page`);
      props.onSaved(saved.id);
    } catch (e) {
      if (e instanceof CommandError && e.problems.length > 0) {
        const formField: Record<string, keyof FormValues> = { tax_rate: "taxPercent", tax_exempt: "taxExempt", tax_id: "taxId" };
        for (const p of e.problems) {
          const key = formField[p.path] ?? (p.path.replace(/\[\d+\]$/, "") as keyof FormValues);
          form.setFieldError(key, p.message);
        }
      } else if (e instanceof CommandError && e.code === "conflict" && !customer) {
        form.setFieldError("id", e.message); // the id is taken
      } else {
        notifyError(e, "The customer was not saved");
      }
    }
  };

  const setArchived = async (archived: boolean) => {
    if (!customer) return;
    try {
      await call("customer_set_archived", { id: customer.id, archived });
      notifyOk(archived ? `Archived ${customer.name}` : `Restored ${customer.name}`);
      props.onSaved(customer.id);
    } catch (e) {
      notifyError(e);
    }
  };

  return (
    <Drawer opened={props.opened} onClose={props.onClose} position="right" size="md"
      title={customer ? <Group gap="xs">Edit customer {customer.archived && <Badge color="gray">archived</Badge>}</Group> : "New customer"}>
      <form onSubmit={form.onSubmit(save)} data-testid="customer-form">
        <Stack>
          <TextInput label="Customer id" description="The id your usage events use. It cannot change later." required
            disabled={customer !== null} data-testid="customer-id" {...form.getInputProps("id")} />
          <TextInput label="Name" required data-testid="customer-name" {...form.getInputProps("name")} />
          <TextInput label="Billing email" data-testid="customer-email" {...form.getInputProps("email")} />
          <Select label="Currency" searchable allowDeselect={false}
            data={props.currencies.map((c) => ({ value: c.code, label: `${c.code} — ${c.name}` }))}
            {...form.getInputProps("currency")} />
          <SegmentedControl data={[{ value: "rate", label: "Tax rate" }, { value: "exempt", label: "Tax exempt" }]}
            {...form.getInputProps("taxMode")} />
          {form.values.taxMode === "rate" ? (
            <TextInput label="Tax rate (%)" rightSection="%" data-testid="customer-tax" {...form.getInputProps("taxPercent")} />
          ) : (
            <TextInput label="Exemption reason" description="Printed on invoices" {...form.getInputProps("taxExempt")} />
          )}
          <TextInput label="Tax id" description="The customer's VAT or GST number, printed on invoices"
            data-testid="customer-tax-id" {...form.getInputProps("taxId")} />
          <Textarea label="Billing address" description="One line per row" autosize minRows={3} {...form.getInputProps("address")} />
          <Group justify="space-between">
            {customer ? (
              <Button variant="subtle" color={customer.archived ? "teal" : "red"} onClick={() => setArchived(!customer.archived)}>
                {customer.archived ? "Restore" : "Archive"}
              </Button>
            ) : <span />}
            <Group>
              <Button variant="default" onClick={props.onClose}>Cancel</Button>
              <Button type="submit" data-testid="customer-save">Save</Button>
            </Group>
          </Group>
        </Stack>
      </form>
    </Drawer>
  );
}
