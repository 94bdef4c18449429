import { useCallback, useEffect, useState } from "react";
import { AppShell, Group, NavLink, Text, Title, Menu, Button, Badge, Stack, Modal, Tooltip } from "@mantine/core";
import { useHotkeys, useMediaQuery } from "@mantine/hooks";
import { listen } from "@tauri-apps/api/event";
import {
  IconLayoutDashboard, IconUsers, IconGauge, IconChartBar, IconListDetails, IconFileInvoice,
  IconWallet, IconSettings, IconShieldCheck, IconChevronDown, IconFolderOpen, IconFilePlus, IconHistory, IconReceiptTax,
} from "@tabler/icons-react";
import { call, CommandError } from "./api/invoke";
import { setWorkspaceZone } from "./api/format";
import type { WorkspaceSummary } from "./api/generated/WorkspaceSummary";
import { notifyError } from "./notify";
import { setUnsaved, unsavedWork } from "./leave";
import { DashboardPage } from "./pages/DashboardPage";
import { CustomersPage } from "./pages/CustomersPage";
import { SettingsPage } from "./pages/SettingsPage";
import { MetersPage } from "./pages/MetersPage";
import { UsagePage } from "./pages/UsagePage";
import { NoWorkspacePage } from "./pages/NoWorkspacePage";
import { InvoicesPage } from "./pages/InvoicesPage";
import { PlansPage } from "./pages/PlansPage";
import { WalletsPage } from "./pages/WalletsPage";
import { CostsPage } from "./pages/CostsPage";
import { GuardrailsPage } from "./pages/GuardrailsPage";
import { AlertsInbox } from "./components/AlertsInbox";
import { PageBoundary } from "./components/PageBoundary";
import type { ExploreFilter } from "./components/DraftView";

export type PageKey = "dashboard" | "customers" | "meters" | "usage" | "plans" | "costs" | "invoices" | "wallets" | "guardrails" | "settings";

/** The sidebar's pages and their Ctrl+digit (Settings keeps 9; the later Guardrails took 0). */
const PAGES: { key: PageKey; label: string; icon: typeof IconUsers; digit: string }[] = [
  { key: "dashboard", label: "Dashboard", icon: IconLayoutDashboard, digit: "1" },
  { key: "customers", label: "Customers", icon: IconUsers, digit: "2" },
  { key: "meters", label: "Meters", icon: IconGauge, digit: "3" },
  { key: "usage", label: "Usage", icon: IconChartBar, digit: "4" },
  { key: "plans", label: "Plans", icon: IconListDetails, digit: "5" },
  { key: "costs", label: "Costs", icon: IconReceiptTax, digit: "6" },
  { key: "invoices", label: "Invoices", icon: IconFileInvoice, digit: "7" },
  { key: "wallets", label: "Wallets", icon: IconWallet, digit: "8" },
  { key: "guardrails", label: "Guardrails", icon: IconShieldCheck, digit: "0" },
  { key: "settings", label: "Settings", icon: IconSettings, digit: "9" },
];

export function App() {
  const [summary, setSummary] = useState<WorkspaceSummary | null>(null);
  const [startError, setStartError] = useState<CommandError | null>(null);
  const [page, setPageNow] = useState<PageKey>("dashboard");
  // Under 1100 px the sidebar keeps its icons only (their names as tooltips).
  const narrow = useMediaQuery("(max-width: 1099px)") ?? false;
  // A page asked for while unsaved work is open: asked about first.
  const [pending, setPending] = useState<{ page: PageKey; what: string } | null>(null);
  const setPage = useCallback((p: PageKey) => {
    const what = unsavedWork();
    if (what) setPending({ page: p, what });
    else setPageNow(p);
  }, []);
  const [recent, setRecent] = useState<string[]>([]);
  // Bumped on every workspace switch or edit, so pages reload what they show.
  const [generation, setGeneration] = useState(0);
  // Events to show in the explorer, when a draft's line links to them.
  const [explore, setExplore] = useState<ExploreFilter | null>(null);
  const showEvents = useCallback((f: ExploreFilter) => { setExplore(f); setPage("usage"); }, [setPage]);
  // The wallet to open on the Wallets page (from an alert).
  const [walletCustomer, setWalletCustomer] = useState<string | null>(null);
  const openWallet = useCallback((customer: string) => { setWalletCustomer(customer); setPage("wallets"); }, [setPage]);
  // The invoice to open on the Invoices page (from a customer's page).
  const [invoiceToOpen, setInvoiceToOpen] = useState<string | null>(null);
  const openInvoice = useCallback((number: string) => { setInvoiceToOpen(number); setPage("invoices"); }, [setPage]);
  // Choosing Customers in the sidebar always shows the list (not the last customer's page).
  const [customersVisit, setCustomersVisit] = useState(0);
  // Asks the header's inbox to open (the dashboard's to-dos).
  const [inboxRequest, setInboxRequest] = useState(0);
  // The customer to open on the Customers page (from the dashboard).
  const [customerToOpen, setCustomerToOpen] = useState<string | null>(null);
  const openCustomer = useCallback((id: string) => {
    setCustomerToOpen(id);
    setCustomersVisit((v) => v + 1);
    setPage("customers");
  }, [setPage]);

  const refresh = useCallback(async () => {
    try {
      const s = await call("workspace_summary");
      setWorkspaceZone(s.timezone);
      setSummary(s);
      setStartError(null);
    } catch (e) {
      setSummary(null);
      setStartError(e instanceof CommandError ? e : new CommandError({ code: "internal", message: String(e), problems: [] }));
    }
    setRecent(await call("workspace_recent").catch(() => []));
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const switched = useCallback((s: WorkspaceSummary | null) => {
    if (!s) return; // the dialog was cancelled
    setWorkspaceZone(s.timezone);
    setSummary(s);
    setStartError(null);
    setGeneration((g) => g + 1);
    void call("workspace_recent").then(setRecent);
  }, []);

  const openDialog = useCallback(() => call("workspace_open_dialog").then(switched).catch((e) => notifyError(e, "Could not open the workspace")), [switched]);
  const createDialog = useCallback(() => call("workspace_create_dialog").then(switched).catch((e) => notifyError(e, "Could not create the workspace")), [switched]);
  const openRecent = useCallback((path: string) => call("workspace_open", { path }).then(switched).catch((e) => notifyError(e, "Could not open the workspace")), [switched]);

  // Native menu choices arrive as events named by the menu item id.
  useEffect(() => {
    const unlisten = listen<string>("menu", ({ payload }) => {
      if (payload === "workspace-open") void openDialog();
      else if (payload === "workspace-new") void createDialog();
      else if (payload === "customers-import") setPage("customers");
      else if (payload.startsWith("go-")) setPage(payload.slice(3) as PageKey);
    });
    return () => void unlisten.then((f) => f());
  }, [openDialog, createDialog, setPage]);

  useHotkeys(PAGES.map((p) => [`mod+${p.digit}`, () => setPage(p.key)]));

  if (!summary) {
    return <NoWorkspacePage error={startError} recent={recent} onOpen={openDialog} onCreate={createDialog} onOpenRecent={openRecent} />;
  }

  const current = PAGES.find((p) => p.key === page)!;
  return (
    <AppShell header={{ height: 52 }} navbar={{ width: narrow ? 60 : 220, breakpoint: 0 }} padding="md">
      <Modal opened={pending !== null} onClose={() => setPending(null)} title="Leave without saving?" data-testid="leave-unsaved">
        <Stack>
          <Text size="sm">Leaving this page loses {pending?.what}.</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setPending(null)} data-testid="leave-stay">Keep editing</Button>
            <Button color="red" data-testid="leave-discard" onClick={() => {
              const next = pending?.page;
              setUnsaved(null);
              setPending(null);
              if (next) setPageNow(next);
            }}>Discard the changes</Button>
          </Group>
        </Stack>
      </Modal>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="xs">
            <Title order={4}>Meterdesk</Title>
            <Badge variant="light" color="gray">{current.label}</Badge>
          </Group>
          <Group gap="xs">
          <AlertsInbox generation={generation} openRequest={inboxRequest} onOpenWallet={openWallet} onOpenCustomer={openCustomer} onOpenLate={() => openInvoice("late")}
            onOpenImports={() => setPage("usage")} />
          <Menu position="bottom-end" width={420}>
            <Menu.Target>
              <Button variant="subtle" rightSection={<IconChevronDown size={16} />} data-testid="workspace-menu">
                {summary.company_name}
              </Button>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Label>{summary.path}</Menu.Label>
              <Menu.Item leftSection={<IconFilePlus size={16} />} onClick={createDialog}>New workspace…</Menu.Item>
              <Menu.Item leftSection={<IconFolderOpen size={16} />} onClick={openDialog}>Open workspace…</Menu.Item>
              {recent.length > 1 && <Menu.Divider />}
              {recent.length > 1 && <Menu.Label>Recent</Menu.Label>}
              {recent.filter((p) => p !== summary.path).map((p) => (
                <Menu.Item key={p} leftSection={<IconHistory size={16} />} onClick={() => openRecent(p)} data-testid={`recent-${p}`}>
                  <Text size="sm" truncate="start">{p}</Text>
                </Menu.Item>
              ))}
            </Menu.Dropdown>
          </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main navigation">
        <Stack gap={2}>
          {PAGES.map((p) => (
            <Tooltip key={p.key} label={`${p.label} (Ctrl+${p.digit})`} position="right" disabled={!narrow}>
            <NavLink
              component="button"
              data-testid={`nav-${p.key}`}
              label={narrow ? undefined : p.label}
              aria-label={p.label}
              leftSection={<p.icon size={18} stroke={1.6} />}
              rightSection={narrow ? undefined : <Text size="xs" c="dimmed">{`Ctrl+${p.digit}`}</Text>}
              active={p.key === page}
              onClick={() => { setPage(p.key); if (p.key === "wallets") setWalletCustomer(null); if (p.key === "invoices") setInvoiceToOpen(null); if (p.key === "customers") { setCustomerToOpen(null); setCustomersVisit((v) => v + 1); } }}
              aria-current={p.key === page ? "page" : undefined}
            />
            </Tooltip>
          ))}
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main>
        <PageBoundary key={`${page}#${summary.path}#${generation}`} onLeave={() => setPageNow("dashboard")}>
        <div key={`${summary.path}#${generation}`}>
          {page === "dashboard" && <DashboardPage summary={summary} onNavigate={setPage} onOpenCustomer={openCustomer} onOpenInvoice={openInvoice}
            onOpenInbox={() => setInboxRequest((n) => n + 1)} />}
          {page === "customers" && <CustomersPage key={customersVisit} initial={customerToOpen} onChanged={refresh} onOpenInvoice={openInvoice} onOpenWallet={openWallet} />}
          {page === "settings" && <SettingsPage onSaved={refresh} />}
          {page === "meters" && <MetersPage />}
          {page === "usage" && <UsagePage explore={explore} key={JSON.stringify(explore)} />}
          {page === "plans" && <PlansPage />}
          {page === "costs" && summary && <CostsPage today={summary.today} />}
          {page === "invoices" && <InvoicesPage onExplore={showEvents} initial={invoiceToOpen} key={invoiceToOpen ?? ""} />}
          {page === "guardrails" && <GuardrailsPage />}
          {page === "wallets" && <WalletsPage initial={walletCustomer} key={walletCustomer ?? ""} />}
        </div>
        </PageBoundary>
      </AppShell.Main>
    </AppShell>
  );
}
