//! The seams between features, proved by random operation sequences (issue
//! "Money safety sweep"): imports (with duplicates, unknown customers and late
//! events), finalize (also of a draft computed before an import), advance
//! finalize, void and reissue, credit notes, payments, wallet grants, time
//! zone change attempts, catalog applies (round trips and price changes) and
//! subscription changes (a plan change on a date, an end), late-usage
//! adjustments and import rollbacks, spend caps set and removed, and the
//! alert rules evaluated, in a seeded order. After every step the invariants below must hold.
//!
//! Every accepted event is billed on exactly one standing invoice — the one
//! of its window with its standing adjustments, which together billed exactly
//! the events imported before the last of them — or is flagged late (imported
//! into a standing invoice's window afterwards) and waits for an adjustment,
//! or waits in a window no standing invoice covers. No advance
//! fee is billed twice for one period. Numbers are gapless per series and
//! year. The chain verifies. Each wallet's balance is its ledger's sum and
//! never negative. The accountants' CSV over all dates adds up, per
//! currency, to the standing invoices less the credit notes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::Error;
use crate::Workspace;
use crate::bill::Kind;
use crate::catalog;
use crate::event_file::Format;
use crate::events::{ImportOptions, import};
use crate::invoice::{self, Invoice, Open};
use crate::outbox::Kind as MailKind;
use crate::rng::Rng;

const CATALOG: &str = r#"{
  "workspace": { "name": "Seams Ltd", "currency": "USD", "timezone": "America/New_York",
                 "mail": { "host": "mail.seams.test", "port": 587, "from": "billing@seams.test" } },
  "customers": [
    { "id": "acme", "name": "Acme", "currency": "USD", "tax_rate": "0.20", "email": "ap@acme.test" },
    { "id": "bolt", "name": "Bolt", "currency": "USD", "tax_exempt": "Reverse charge",
      "email": "ap@bolt.test, cfo@bolt.test" },
    { "id": "cobra", "name": "Cobra", "currency": "EUR", "tax_rate": "0.19" }
  ],
  "meters": [
    { "code": "api_calls", "name": "API calls", "aggregation": "count" },
    { "code": "units", "name": "Units", "aggregation": "sum", "property": "units", "event": "api_calls" }
  ],
  "plans": [
    { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
      "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" },
                { "name": "Support", "amount": "20.00", "timing": "arrears" } ],
      "charges": [
        { "meter": "api_calls", "model": "per_unit", "unit_price": "0.01", "included": "10" },
        { "meter": "units", "model": "graduated",
          "tiers": [ { "up_to": "1000", "unit_price": "0.002" }, { "up_to": null, "unit_price": "0.001", "flat_fee": "1" } ] } ] },
    { "code": "eu", "name": "EU", "currency": "EUR", "interval": "month",
      "fees": [ { "name": "Platform fee", "amount": "50.00", "timing": "advance" } ],
      "minimum_commitment": "30.00",
      "charges": [ { "meter": "api_calls", "model": "per_unit", "unit_price": "0.02" } ] },
    { "code": "basic", "name": "Basic", "currency": "USD", "interval": "month",
      "fees": [ { "name": "Basic fee", "amount": "31.00", "timing": "arrears" } ],
      "charges": [ { "meter": "api_calls", "model": "per_unit", "unit_price": "0.03" } ] }
  ],
  "subscriptions": [
    { "id": "sub_acme", "customer": "acme", "plan": "pro", "start": "2026-08-10", "anchor_day": 1 },
    { "id": "sub_bolt", "customer": "bolt", "plan": "pro", "start": "2026-08-01" },
    { "id": "sub_cobra", "customer": "cobra", "plan": "eu", "start": "2026-08-15", "anchor_day": 15 }
  ],
  "costs": [
    { "meter": "api_calls", "currency": "USD", "unit_cost": "0.004", "from": "2026-01-01" },
    { "meter": "units", "currency": "USD", "unit_cost": "0.0005", "from": "2026-08-01" }
  ],
  "alerts": [
    { "id": "calls_20", "kind": "usage", "meter": "api_calls", "threshold": "20" },
    { "id": "cap_80", "kind": "spend", "percent_of_maximum": "80" },
    { "id": "pro_150", "kind": "spend", "threshold": "150.00", "plan": "pro" }
  ]
}"#;

const CUSTOMERS: [&str; 3] = ["acme", "bolt", "cobra"];
const MONTHS: [&str; 5] = ["2026-08", "2026-09", "2026-10", "2026-11", "2026-12"];

/// What the test knows of the workspace besides the workspace itself.
struct Harness {
    ws: Workspace,
    rng: Rng,
    now: DateTime<Utc>,
    step: u64,
    /// Accepted events: id → (customer, unix ms, step imported).
    events: HashMap<String, (String, i64, u64)>,
    next_id: u64,
    /// Invoice number → the step that finalized it.
    finalized_at: HashMap<String, u64>,
    /// Accepted event id → the import that stored it.
    import_of: HashMap<String, i64>,
    /// Each change of the payment details: the step and the IBAN set (none: no details).
    payments: Vec<(u64, Option<String>)>,
    counts: BTreeMap<&'static str, u32>,
    /// The mail server the outbox hands messages to.
    mail: FakeServer,
}

/// A mail server that refuses a message when told to, and keeps the
/// Message-ID of every one it accepted.
#[derive(Default)]
struct FakeServer {
    refuse: bool,
    accepted: Vec<String>,
}

impl crate::outbox::Transport for FakeServer {
    fn send(&mut self, m: &crate::outbox::Outgoing) -> Result<String, crate::outbox::SendError> {
        if self.refuse {
            return Err(crate::outbox::SendError("the mail server is down".into()));
        }
        self.accepted.push(m.message_id.clone());
        Ok("250 ok".into())
    }
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let mut ws = Workspace::in_memory().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 8, 1, 12, 0, 0).unwrap();
        ws.write(|tx| catalog::apply(tx, catalog::parse(CATALOG)?, start)).unwrap();
        Harness {
            ws,
            rng: Rng::new(seed),
            now: Utc.with_ymd_and_hms(2026, 9, 20, 12, 0, 0).unwrap(),
            step: 0,
            events: HashMap::new(),
            next_id: 0,
            finalized_at: HashMap::new(),
            import_of: HashMap::new(),
            payments: Vec::new(),
            counts: BTreeMap::new(),
            mail: FakeServer::default(),
        }
    }

    fn pick(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// A random instant from late July to early January (some before the
    /// subscriptions start, some in periods already invoiced).
    fn instant(&mut self) -> DateTime<Utc> {
        let from = Utc.with_ymd_and_hms(2026, 7, 25, 0, 0, 0).unwrap();
        from + Duration::minutes(self.pick(165 * 24 * 60) as i64)
    }

    /// A random local date from 20 days before the clock's to 40 after (some
    /// inside invoiced periods, most not yet).
    fn day(&mut self) -> chrono::NaiveDate {
        self.now.date_naive() + Duration::days(self.pick(60) as i64 - 20)
    }

    /// Imports `n` events at random instants (or all inside `within`): new ids,
    /// ids already stored (duplicates) and unknown customers (rejected).
    fn import(&mut self, n: usize, customer: Option<&str>, within: Option<(i64, i64)>) {
        let (mut rows, mut accepted, mut duplicates, mut rejected) = (String::new(), Vec::new(), 0, 0);
        let mut in_file = HashSet::new();
        for _ in 0..n {
            let who = customer.map(str::to_string).unwrap_or_else(|| {
                if self.pick(40) == 0 { "ghost".into() } else { CUSTOMERS[self.pick(3) as usize].to_string() }
            });
            let ts = match within {
                Some((from, to)) => from + (self.pick((to - from) as u64)) as i64,
                None => self.instant().timestamp_millis(),
            };
            let id = if !self.events.is_empty() && self.pick(10) == 0 {
                // An id already stored: a duplicate, whatever else the row says.
                let k = self.pick(self.next_id);
                format!("e{k}")
            } else {
                self.next_id += 1;
                format!("e{}", self.next_id)
            };
            let units = self.pick(2_000);
            rows += &json!({ "id": id, "customer": who, "type": "api_calls", "timestamp": ts,
                             "properties": { "units": units } })
            .to_string();
            rows.push('\n');
            if who == "ghost" {
                rejected += 1;
            } else if self.events.contains_key(&id) || !in_file.insert(id.clone()) {
                duplicates += 1;
            } else {
                accepted.push((id, who, ts));
            }
        }
        let options = ImportOptions::new("events.ndjson", Format::Ndjson);
        let report =
            import(&mut self.ws, rows.as_bytes(), &options, self.now, &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(
            (report.accepted, report.duplicates, report.rejected),
            (accepted.len() as u64, duplicates, rejected),
            "step {}",
            self.step
        );
        let import_id: i64 = self.ws.conn().query_row("SELECT max(id) FROM imports", [], |r| r.get(0)).unwrap();
        for (id, who, ts) in accepted {
            self.import_of.insert(id.clone(), import_id);
            self.events.insert(id, (who, ts, self.step));
        }
    }

    fn invoices(&self) -> Vec<Invoice> {
        invoice::all(self.ws.conn()).unwrap()
    }

    fn standing(&self) -> Vec<Invoice> {
        self.invoices().into_iter().filter(|i| i.void_reason.is_none()).collect()
    }

    fn random_invoice(&mut self) -> Option<String> {
        let all = self.invoices();
        if all.is_empty() {
            return None;
        }
        let i = self.pick(all.len() as u64) as usize;
        all[i].frozen.draft.number.clone()
    }

    fn record(&mut self, done: &invoice::Finalized) {
        for i in &done.invoices {
            self.finalized_at.insert(i.frozen.draft.number.clone().unwrap(), self.step);
        }
    }

    /// One random operation.
    fn operate(&mut self) {
        self.step += 1;
        let hours = self.pick(30) as i64;
        self.now += Duration::hours(hours);
        match self.pick(180) {
            0..=29 => {
                let n = 1 + self.pick(25) as usize;
                self.import(n, None, None);
                self.count("import");
            }
            30..=37 => {
                let month = MONTHS[self.pick(5) as usize];
                let done = invoice::finalize_chosen(
                    &mut self.ws,
                    crate::month(month),
                    Kind::Period,
                    invoice::Selection::Every { customer: None, open: Open::Include },
                    self.now,
                )
                .unwrap();
                self.record(&done);
                self.count("finalize");
            }
            38..=44 => {
                // The window's way: review, pick what has no blocking warning, finalize those at
                // the totals reviewed (the same finalize as the CLI's).
                let month = crate::month(MONTHS[self.pick(5) as usize]);
                let reviewed = crate::register::review(&mut self.ws, month, None, Kind::Period, self.now).unwrap();
                let picks: Vec<invoice::Pick> = reviewed
                    .iter()
                    .filter(|r| r.warnings.iter().all(|w| !w.blocking))
                    .map(|r| invoice::Pick { subscription: r.draft.subscription.clone(), total: r.draft.total })
                    .collect();
                let done = invoice::finalize_chosen(
                    &mut self.ws,
                    month,
                    Kind::Period,
                    invoice::Selection::Picked(&picks),
                    self.now,
                )
                .unwrap();
                assert!(done.failures.is_empty(), "a draft picked at its reviewed total failed: {:?}", done.failures);
                self.record(&done);
                self.count("finalize reviewed");
            }
            45..=51 => {
                let month = MONTHS[self.pick(5) as usize];
                let done = invoice::finalize_chosen(
                    &mut self.ws,
                    crate::month(month),
                    Kind::Advance,
                    invoice::Selection::Every { customer: None, open: Open::Include },
                    self.now,
                )
                .unwrap();
                self.record(&done);
                self.count("advance finalize");
            }
            52..=58 => {
                // A draft computed, then usage imported into its window, then finalized.
                let customer = CUSTOMERS[self.pick(3) as usize];
                let month = MONTHS[self.pick(5) as usize];
                let drafts = crate::bill::preview_customer(&mut self.ws, customer, crate::month(month)).unwrap();
                let Some(seen) = drafts.into_iter().next() else { return };
                let window = (seen.usage_window.start.timestamp_millis(), seen.usage_window.end.timestamp_millis());
                let n = 1 + self.pick(5) as usize;
                self.import(n, Some(customer), Some(window));
                self.step += 1; // the finalize comes after the import
                if let Ok(invoice) = self.ws.write(|tx| invoice::finalize_current(tx, &seen, None, self.now)) {
                    self.finalized_at.insert(invoice.frozen.draft.number.clone().unwrap(), self.step);
                }
                self.count("finalize after an import");
            }
            59..=66 => {
                let Some(number) = self.random_invoice() else { return };
                let before = self.invoices().len();
                if self.ws.write(|tx| invoice::void(tx, &number, "Wrong terms", self.now)).is_ok() {
                    self.count("void");
                }
                assert_eq!(self.invoices().len(), before);
            }
            67..=74 => {
                let Some(number) = self.random_invoice() else { return };
                let request = if self.pick(3) == 0 {
                    crate::credit::Request::Full
                } else {
                    crate::credit::Request::Amount(Decimal::new(1 + self.pick(5_000) as i64, 2))
                };
                if self.ws.write(|tx| crate::credit::issue(tx, &number, "Goodwill", &request, self.now)).is_ok() {
                    self.count("credit note");
                }
            }
            75..=80 => {
                let Some(number) = self.random_invoice() else { return };
                let date = self.now.date_naive();
                if self.ws.write(|tx| invoice::mark_paid(tx, &number, date, "wire", self.now)).is_ok() {
                    self.count("paid");
                }
            }
            81..=84 => {
                // A time zone change: refused while any period stands invoiced.
                let mut settings = crate::settings::get(self.ws.conn()).unwrap();
                let before = settings.timezone.clone();
                settings.timezone =
                    if before == "America/New_York" { "Europe/Paris".into() } else { "America/New_York".into() };
                let invoiced = !self.standing().is_empty();
                let changed = self.ws.write(|tx| crate::settings::update(tx, settings));
                assert_eq!(changed.is_err(), invoiced, "step {}: {changed:?}", self.step);
                self.count(if invoiced { "zone change refused" } else { "zone change" });
            }
            85..=89 => {
                // The workspace's own export applies back unchanged.
                let exported = serde_json::to_string(&catalog::export(self.ws.conn()).unwrap()).unwrap();
                let report = self.ws.write(|tx| catalog::apply(tx, catalog::parse(&exported)?, self.now)).unwrap();
                assert_eq!((report.created, report.updated), (0, 0), "step {}", self.step);
                self.count("catalog round trip");
            }
            90..=92 => {
                // A price change: subscriptions keep the version they hold.
                let cents = 500 + self.pick(2_000) as i64;
                let text = CATALOG.replace("\"20.00\"", &format!("\"{}\"", Decimal::new(cents, 2)));
                let zone = crate::settings::get(self.ws.conn()).unwrap().timezone;
                let text = text.replace("America/New_York", &zone);
                // The subscriptions stay as the operations left them.
                let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                value.as_object_mut().unwrap().remove("subscriptions");
                self.ws.write(|tx| catalog::apply(tx, catalog::parse(&value.to_string())?, self.now)).unwrap();
                self.count("plan change");
            }
            93..=96 => {
                // The provider's price moves from a day (some inside invoiced periods):
                // drafts price the new days at it, invoices keep the costs they froze.
                let frozen: Vec<(String, Vec<Option<crate::money::Dec>>)> = self
                    .invoices()
                    .iter()
                    .map(|i| {
                        (i.frozen.draft.number.clone().unwrap(), i.frozen.draft.lines.iter().map(|l| l.cost).collect())
                    })
                    .collect();
                let meter = ["api_calls", "units"][self.pick(2) as usize];
                let rate = crate::cost::CostRateFields {
                    meter: meter.into(),
                    group: None,
                    currency: "USD".into(),
                    unit_cost: crate::money::Dec(Decimal::new(self.pick(100) as i64, 4)),
                    from: self.day(),
                };
                self.ws.write(|tx| crate::cost::save(tx, &[rate], self.now)).unwrap();
                for (number, costs) in frozen {
                    let now: Vec<_> = invoice::get(self.ws.conn(), &number)
                        .unwrap()
                        .unwrap()
                        .frozen
                        .draft
                        .lines
                        .iter()
                        .map(|l| l.cost)
                        .collect();
                    assert_eq!(now, costs, "step {}: {number}'s costs moved with a rate change", self.step);
                }
                self.count("cost rate changed");
            }
            100..=105 => {
                // A plan change on a date: refused into an invoiced period, else both sides prorated.
                let subs = crate::subscription::all(self.ws.conn()).unwrap();
                let s = &subs[self.pick(subs.len() as u64) as usize].fields;
                let plans: &[&str] = if s.customer == "cobra" { &["eu"] } else { &["pro", "basic"] };
                let plan = plans[self.pick(plans.len() as u64) as usize];
                let on = self.day();
                let (id, now) = (s.id.clone(), self.now);
                match self.ws.write(|tx| crate::subscription::change(tx, &id, plan, on, now)) {
                    Ok(_) => self.count("subscription change"),
                    Err(crate::Error::Invalid(_)) => self.count("subscription change refused"),
                    Err(e) => panic!("step {}: {e}", self.step),
                }
            }
            106..=109 => {
                let subs = crate::subscription::all(self.ws.conn()).unwrap();
                let id = subs[self.pick(subs.len() as u64) as usize].fields.id.clone();
                let on = self.day();
                match self.ws.write(|tx| crate::subscription::end(tx, &id, on, self.now)) {
                    Ok(_) => self.count("subscription end"),
                    Err(crate::Error::Invalid(_)) => self.count("subscription end refused"),
                    Err(e) => panic!("step {}: {e}", self.step),
                }
            }
            110..=117 => {
                // Late usage: the adjustment of a random period invoice with late events.
                let waiting = crate::late::list(&mut self.ws).unwrap();
                if waiting.is_empty() {
                    return;
                }
                let pick = &waiting[self.pick(waiting.len() as u64) as usize];
                let (number, billable) = (pick.invoice.clone(), pick.problem.is_none());
                match self.ws.write(|tx| crate::late::adjust(tx, &number, self.now)) {
                    Ok(adj) => {
                        assert!(billable, "step {}: {number} was listed as not billable", self.step);
                        self.finalized_at.insert(adj.frozen.draft.number.clone().unwrap(), self.step);
                        self.count("late adjustment");
                    }
                    Err(e) => {
                        assert!(!billable, "step {}: {number} was billable, yet: {e}", self.step);
                        self.count("late adjustment refused");
                    }
                }
            }
            118..=124 => {
                // An import rolled back: refused exactly when the history says it is locked.
                let mut history = crate::history::list(self.ws.conn()).unwrap();
                // Mostly one the history offers to roll back, sometimes any.
                if self.pick(3) > 0 {
                    history.retain(|r| r.locked.is_none());
                }
                if history.is_empty() {
                    return;
                }
                let r = &history[self.pick(history.len() as u64) as usize];
                let (id, locked) = (r.id, r.locked.clone());
                match self.ws.write(|tx| crate::history::rollback(tx, id, self.now)) {
                    Ok(done) => {
                        assert!(locked.is_none(), "step {}: import #{id} was listed as locked: {locked:?}", self.step);
                        let gone: Vec<String> =
                            self.import_of.iter().filter(|(_, i)| **i == id).map(|(e, _)| e.clone()).collect();
                        assert_eq!(done.rolled_back_events, Some(gone.len() as u64), "step {}", self.step);
                        for e in gone {
                            self.events.remove(&e);
                            self.import_of.remove(&e);
                        }
                        self.count("import rolled back");
                    }
                    Err(e) => {
                        assert!(locked.is_some(), "step {}: import #{id} was not locked, yet: {e}", self.step);
                        self.count("import rollback refused");
                    }
                }
            }
            125..=129 => {
                // The bank changes (or its details go): invoices finalized from now on print it,
                // those issued before keep theirs.
                const IBANS: [&str; 3] =
                    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"];
                let k = self.pick(4) as usize;
                let iban = IBANS.get(k).map(|i| i.to_string());
                let mut settings = crate::settings::get(self.ws.conn()).unwrap();
                settings.payment = iban.clone().map(|iban| crate::settings::PaymentDetails {
                    payee: "Acme AI".into(),
                    iban: Some(iban),
                    ..Default::default()
                });
                self.ws.write(|tx| crate::settings::update(tx, settings)).unwrap();
                self.payments.push((self.step, iban));
                self.count("payment details changed");
            }
            130..=134 => {
                // A spend cap set on a subscription (or removed): below the EU plan's
                // commitment it is refused by its field and nothing changes.
                let subs = crate::subscription::all(self.ws.conn()).unwrap();
                let open: Vec<_> = subs.into_iter().filter(|s| s.fields.end.is_none()).collect();
                if open.is_empty() {
                    return;
                }
                let k = self.pick(open.len() as u64) as usize;
                let f = open[k].fields.clone();
                let maximum = match self.pick(4) {
                    0 => None,
                    _ => Some(crate::Dec(Decimal::new(50 + self.pick(6_000) as i64, 2))),
                };
                let commitment = crate::plan::version(self.ws.conn(), &f.plan, open[k].version())
                    .unwrap()
                    .minimum_commitment
                    .map(|c| c.0);
                let done = self.ws.write(|tx| {
                    crate::subscription::set_terms(
                        tx,
                        &f.id,
                        f.overrides.clone(),
                        f.discounts.clone(),
                        maximum,
                        self.now,
                    )
                });
                match (done, maximum.zip(commitment)) {
                    (Err(e), Some((m, c))) if m.0 < c => {
                        assert_eq!(e.problems()[0].path, "maximum", "step {}", self.step);
                        self.count("cap refused");
                    }
                    (Ok(saved), _) => {
                        assert_eq!(saved.fields.maximum, maximum, "step {}", self.step);
                        self.count("cap set");
                    }
                    (Err(e), _) => panic!("step {}: a cap of {maximum:?} on {}: {e}", self.step, f.id),
                }
            }
            135..=139 => {
                let raised = crate::alert_rules::evaluate(&mut self.ws, self.now).unwrap();
                self.count("alert rules evaluated");
                if !raised.is_empty() {
                    self.count("alerts raised");
                }
            }
            150..=154 | 170..=174 => {
                // A payment of part of what is owed, all of it, or a cent too much.
                let Some(number) = self.random_invoice() else { return };
                let inv = invoice::get(self.ws.conn(), &number).unwrap().unwrap();
                let id: i64 = self
                    .ws
                    .conn()
                    .query_row("SELECT id FROM invoices WHERE number = ?1", [&number], |r| r.get(0))
                    .unwrap();
                let owed = invoice::owed(self.ws.conn(), id, &inv).unwrap();
                let cents = (owed * Decimal::ONE_HUNDRED).trunc().to_string().parse::<u64>().unwrap_or(0);
                let amount = match self.pick(4) {
                    0 => owed,
                    1 => owed + Decimal::new(1, 2),
                    _ => Decimal::new(1 + self.pick(cents.max(1)) as i64, 2),
                };
                let fields = crate::payment::PaymentFields {
                    amount: amount.to_string(),
                    date: self.now.date_naive().max(inv.frozen.issue_date).to_string(),
                    method: "bank_transfer".into(),
                    reference: format!("wire {}", self.step),
                };
                let paid = self.ws.write(|tx| invoice::pay(tx, &number, &fields, self.now));
                let fits = amount > Decimal::ZERO && amount <= owed && inv.void_reason.is_none();
                assert_eq!(paid.is_ok(), fits, "step {}: {amount} of {owed} owed on {number}: {paid:?}", self.step);
                self.count(if fits { "payment" } else { "payment refused" });
            }
            155..=159 => {
                // An invoice with a payment that stands, when there is one.
                let paid: Vec<Invoice> =
                    self.invoices().into_iter().filter(|i| i.payments.iter().any(|p| p.reversed.is_none())).collect();
                if paid.is_empty() {
                    return;
                }
                let number = paid[self.pick(paid.len() as u64) as usize].frozen.draft.number.clone().unwrap();
                let inv = invoice::get(self.ws.conn(), &number).unwrap().unwrap();
                let Some(p) = inv.payments.iter().find(|p| p.reversed.is_none()) else { return };
                let id = p.id;
                let refunded: Decimal = crate::credit::of_invoice(self.ws.conn(), &number)
                    .unwrap()
                    .iter()
                    .filter_map(|n| n.refund.as_ref())
                    .map(|r| r.amount.0)
                    .sum();
                let left = crate::payment::standing_total(&inv.payments) - p.amount.0;
                match self.ws.write(|tx| invoice::reverse_payment(tx, &number, id, "returned by the bank", self.now)) {
                    Ok(_) => {
                        assert!(left >= refunded, "step {}", self.step);
                        self.count("payment reversed");
                    }
                    Err(Error::Conflict(_)) if left < refunded => self.count("payment reversal refused: refunded"),
                    Err(e) => panic!("step {}: reversing #{id} of {number}: {e}", self.step),
                }
            }
            160..=163 => {
                // Send an invoice or a credit note: once only; cobra has no address.
                let notes = crate::credit::all(self.ws.conn()).unwrap();
                let queued = crate::outbox::list(self.ws.conn(), false).unwrap();
                let queued: Vec<&crate::outbox::Entry> = queued.iter().filter(|e| e.level == 0).collect();
                let number = if !queued.is_empty() && self.pick(4) == 0 {
                    // A document already in the outbox: never a second message.
                    queued[self.pick(queued.len() as u64) as usize].document.clone()
                } else if !notes.is_empty() && self.pick(3) == 0 {
                    notes[self.pick(notes.len() as u64) as usize].number.clone()
                } else {
                    let Some(number) = self.random_invoice() else { return };
                    number
                };
                let kind = if number.starts_with("CN") { MailKind::CreditNote } else { MailKind::Invoice };
                let before = crate::outbox::find(self.ws.conn(), &number, kind, 0).unwrap();
                let void = invoice::get(self.ws.conn(), &number).unwrap().is_some_and(|i| i.void_reason.is_some());
                self.mail.refuse = self.pick(3) == 0;
                let sent = crate::mailing::send_document(&mut self.ws, &number, None, &mut self.mail, self.now);
                match (&before, sent) {
                    (Some(_), Err(Error::Conflict(_))) => self.count("send refused: sent before"),
                    (None, Err(Error::Conflict(_))) if void => self.count("send refused: void"),
                    (None, Err(Error::Invalid(p))) if p[0].message.contains("no billing e-mail") => {
                        self.count("send refused: no address")
                    }
                    (None, Ok(report)) => {
                        let queued = crate::outbox::find(self.ws.conn(), &number, kind, 0).unwrap().unwrap();
                        assert_eq!(queued.message_id, report.message_id, "step {}", self.step);
                        // What went is the document's PDF as it is exported.
                        let attached: Vec<u8> = self
                            .ws
                            .conn()
                            .query_row("SELECT attachment FROM outbox WHERE id = ?1", [queued.id], |r| r.get(0))
                            .unwrap();
                        assert_eq!(attached, crate::pdf::document(self.ws.conn(), &number, None).unwrap());
                        self.count(if self.mail.refuse { "send failed, queued" } else { "sent" });
                    }
                    (before, other) => {
                        panic!("step {}: send {number} (queued before: {before:?}): {other:?}", self.step)
                    }
                }
            }
            164..=165 => {
                self.mail.refuse = self.pick(4) == 0;
                let retried = crate::mailing::retry(&mut self.ws, &mut [&mut self.mail], self.now).unwrap();
                if !retried.is_empty() {
                    self.count("outbox retried");
                }
            }
            166..=169 => {
                self.mail.refuse = self.pick(5) == 0;
                let on = self.now.date_naive();
                let due = crate::mailing::reminders_due(self.ws.conn(), on).unwrap();
                let ran = crate::mailing::run_reminders(&mut self.ws, on, &mut [&mut self.mail], self.now).unwrap();
                assert_eq!(ran.len(), due.len(), "step {}: the preview is what runs", self.step);
                for r in &ran {
                    // Reminded: overdue with something owed, on the day of the run.
                    let e = crate::register::entries(self.ws.conn(), on)
                        .unwrap()
                        .into_iter()
                        .find(|e| e.number == r.invoice)
                        .unwrap();
                    assert_eq!(e.standing, crate::register::Standing::Overdue, "step {}: {r:?}", self.step);
                    assert!(e.outstanding.0 > Decimal::ZERO && e.outstanding == r.owed, "step {}: {r:?}", self.step);
                    self.count("reminder");
                }
            }
            175..=179 => {
                // A statement: it adds up, and up to today it owes what the register says is owed.
                let customer = CUSTOMERS[self.pick(3) as usize];
                let today = self.now.date_naive();
                let from = today - Duration::days(self.pick(150) as i64);
                let to = if self.pick(2) == 0 { today } else { from + Duration::days(self.pick(60) as i64) };
                let s = crate::statement::build(self.ws.conn(), customer, from, to).unwrap();
                for c in &s.currencies {
                    let moved: Decimal = c.lines.iter().map(|l| l.debit.0 - l.credit.0).sum();
                    assert_eq!(c.opening_balance.0 + moved, c.closing_balance.0, "step {}: {c:?}", self.step);
                    let open: Decimal = c.open_items.iter().map(|i| i.owed.0).sum();
                    assert_eq!(open, c.total_owed.0, "step {}", self.step);
                    assert_eq!(c.aging.iter().map(|a| a.0).sum::<Decimal>(), open, "step {}", self.step);
                }
                if to >= today {
                    let mut owed: BTreeMap<String, Decimal> = BTreeMap::new();
                    for e in crate::register::entries_of(self.ws.conn(), customer, today).unwrap() {
                        if e.outstanding.0 > Decimal::ZERO {
                            *owed.entry(e.currency.clone()).or_default() += e.outstanding.0;
                        }
                    }
                    let said: BTreeMap<String, Decimal> = s
                        .currencies
                        .iter()
                        .filter(|c| c.total_owed.0 > Decimal::ZERO)
                        .map(|c| (c.currency.clone(), c.total_owed.0))
                        .collect();
                    assert_eq!(said, owed, "step {}: {customer}'s statement to {to} and the register", self.step);
                    self.count("statement to today");
                } else {
                    self.count("statement");
                }
            }
            _ => {
                let customer = CUSTOMERS[self.pick(3) as usize];
                let n = self.step;
                let grant: crate::wallet::GrantFields = serde_json::from_value(json!({
                    "id": format!("g{n}"), "amount": Decimal::new(1 + self.pick(20_000) as i64, 2).to_string(),
                    "kind": "free"
                }))
                .unwrap();
                self.ws
                    .write(|tx| crate::wallet::grant(tx, customer, &grant, crate::wallet::Origin::Manual, self.now))
                    .unwrap();
                self.count("grant");
            }
        }
    }

    /// Every invariant of the module's documentation.
    fn check(&self) {
        let conn = self.ws.conn();
        let at = format!("step {}", self.step);
        // The outbox: what the server accepted is marked sent, once each; what it
        // did not is still queued; an invoice's reminder levels only rise.
        let all = crate::outbox::list(conn, false).unwrap();
        let mut accepted: HashMap<&str, u32> = HashMap::new();
        for id in &self.mail.accepted {
            *accepted.entry(id.as_str()).or_default() += 1;
        }
        let mut levels: HashMap<&str, u32> = HashMap::new();
        for e in all.iter().rev() {
            let times = accepted.get(e.message_id.as_str()).copied().unwrap_or(0);
            match e.status {
                crate::outbox::Status::Sent => assert_eq!(times, 1, "{at}: {e:?}"),
                _ => assert_eq!((times, e.status), (0, crate::outbox::Status::Queued), "{at}: {e:?}"),
            }
            if e.kind == MailKind::Reminder {
                let last = levels.insert(&e.document, e.level).unwrap_or(0);
                assert!(e.level > last, "{at}: reminder {} of {} after {last}", e.level, e.document);
            }
        }
        assert_eq!(accepted.len(), self.mail.accepted.len(), "{at}: a message went twice");
        // Payments: never more than the amount due, none standing on a void invoice, and
        // what is owed is the amount due less credit notes less the payments that stand.
        for inv in self.invoices() {
            let number = inv.frozen.draft.number.clone().unwrap();
            let paid = crate::payment::standing_total(&inv.payments);
            assert!(paid <= inv.frozen.draft.dues().owed_after(Decimal::ZERO), "{at}: {number} paid {paid}");
            if inv.void_reason.is_some() {
                assert_eq!(paid, Decimal::ZERO, "{at}: void {number} keeps payments");
                continue;
            }
            let notes = crate::credit::of_invoice(conn, &number).unwrap();
            let credited: Decimal = notes.iter().map(|n| n.total.0).sum();
            // A credit note refunds only money that came in.
            let refunded: Decimal = notes.iter().filter_map(|n| n.refund.as_ref()).map(|r| r.amount.0).sum();
            // … and that money stays received: payments that stand cover every refund.
            assert!(refunded <= paid, "{at}: {number} refunds {refunded} of {paid} that stands");
            let e = crate::register::entry(&inv, "", credited, self.now.date_naive());
            let left = (inv.frozen.draft.dues().owed_after(credited) - paid).max(Decimal::ZERO);
            match e.standing {
                crate::register::Standing::Open
                | crate::register::Standing::Overdue
                | crate::register::Standing::PartiallyPaid => {
                    assert_eq!(e.outstanding.0, left, "{at}: {number}");
                    assert!(left > Decimal::ZERO || inv.frozen.draft.amount_due.0 <= Decimal::ZERO, "{at}: {number}");
                }
                _ => assert_eq!(e.outstanding.0, Decimal::ZERO, "{at}: {number}"),
            }
            if inv.paid.is_some() {
                assert_eq!(e.standing, crate::register::Standing::Paid, "{at}: {number}");
            }
        }
        // Every invoice prints the payment details in force when it was finalized.
        for inv in self.invoices() {
            let number = inv.frozen.draft.number.clone().unwrap();
            let Some(&when) = self.finalized_at.get(&number) else { continue };
            let expected = self.payments.iter().rfind(|(s, _)| *s <= when).and_then(|(_, iban)| iban.clone());
            let printed = inv.frozen.payment.as_ref().and_then(|p| p.iban.clone());
            assert_eq!(printed, expected, "{at}: {number}, finalized at step {when}");
        }
        // A line's margin is its amount less its cost, when the cost is in the invoice's currency.
        for inv in self.invoices() {
            let d = &inv.frozen.draft;
            for l in &d.lines {
                let expected = match (l.cost, &l.cost_currency) {
                    (Some(cost), Some(c)) if *c == d.currency => Some(l.amount.0 - cost.0),
                    _ => None,
                };
                assert_eq!(l.margin.map(|m| m.0), expected, "{at}: {:?} line {}", d.number, l.description);
            }
        }
        // Under a spend cap, a period invoice bills its usage up to the prorated maximum.
        for inv in self.standing() {
            let d = &inv.frozen.draft;
            let Some(a) = d.allowance.as_ref().filter(|a| a.kind == crate::rating::AllowanceKind::Cap) else {
                continue;
            };
            if d.kind != Kind::Period {
                continue;
            }
            use crate::rating::LineKind;
            let kept: Decimal = d
                .lines
                .iter()
                .filter(|l| matches!(l.kind, LineKind::Usage | LineKind::Commitment | LineKind::Cap))
                .map(|l| l.amount.0)
                .sum();
            assert!(kept <= a.limit.0, "{at}: {:?} bills {kept} of usage under a cap of {}", d.number, a.limit);
            let cap: Decimal = d.lines.iter().filter(|l| l.kind == LineKind::Cap).map(|l| -l.amount.0).sum();
            assert_eq!(cap, a.unbilled.0, "{at}: {:?}'s cap line and its allowance", d.number);
        }
        // Each (rule, customer, period, threshold) raised once, at or past its threshold.
        let rule_alerts: Vec<(String, String, String, String, String)> = conn
            .prepare("SELECT c.external_id, a.rule, a.period, a.threshold, a.value FROM alerts a JOIN customers c ON c.id = a.customer_id WHERE a.kind IN ('usage', 'spend')")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let mut seen = HashSet::new();
        for (customer, rule, period, threshold, value) in &rule_alerts {
            assert!(
                seen.insert((customer, rule, period, threshold)),
                "{at}: {rule} raised twice for {customer} in {period}"
            );
            if rule != "cap_80" {
                let (v, t): (Decimal, Decimal) = (value.parse().unwrap(), threshold.parse().unwrap());
                assert!(v >= t, "{at}: {rule} raised at {v}, below {t}");
            }
        }
        let standing = self.standing();
        let mut late_expected: HashMap<&str, u64> = HashMap::new();
        let mut windows: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        let mut advance_fees: HashMap<(String, String), u32> = HashMap::new();
        for inv in &standing {
            let d = &inv.frozen.draft;
            let number = d.number.clone().unwrap();
            for line in &d.lines {
                if line.description == "Platform fee" {
                    *advance_fees.entry((d.subscription.clone(), d.first_day.to_string())).or_default() += 1;
                }
            }
            if d.kind != Kind::Period {
                continue;
            }
            let (from, to) = (d.usage_window.start.timestamp_millis(), d.usage_window.end.timestamp_millis());
            windows.entry(d.customer.clone()).or_default().push((from, to));
            // With its standing adjustments, it billed every event of its window once; the
            // late events no standing adjustment billed wait (a void adjustment's wait again).
            let adjustments: Vec<&Invoice> =
                standing.iter().filter(|a| a.frozen.adjusts.as_deref() == Some(number.as_str())).collect();
            let calls = |i: &Invoice| -> Decimal {
                i.frozen
                    .draft
                    .lines
                    .iter()
                    .filter(|l| l.meter.as_deref() == Some("api_calls"))
                    .map(|l| l.quantity.0)
                    .sum()
            };
            let billed: Decimal = calls(inv) + adjustments.iter().map(|a| calls(a)).sum::<Decimal>();
            let covered: u64 = adjustments.iter().map(|a| a.frozen.late_events.unwrap()).sum();
            let flagged: i64 = conn
                .query_row(
                    "SELECT coalesce(sum(k.events), 0) FROM event_chunks k JOIN customers c ON c.id = k.customer_id
                     WHERE c.external_id = ?1 AND k.late = 1 AND k.first_ms >= ?2 AND k.last_ms < ?3",
                    rusqlite::params![d.customer, from, to],
                    |r| r.get(0),
                )
                .unwrap();
            let inside: Vec<u64> = self
                .events
                .values()
                .filter(|(c, ts, _)| c == &d.customer && (from..to).contains(ts))
                .map(|(_, _, s)| *s)
                .collect();
            assert_eq!(
                billed + Decimal::from(flagged as u64 - covered),
                Decimal::from(inside.len() as u64),
                "{at}: {number} and its adjustments billed each event of the period once, or it waits"
            );
            if adjustments.is_empty() {
                let before = inside.iter().filter(|s| **s <= self.finalized_at[&number]).count() as u64;
                assert_eq!(billed, Decimal::from(before), "{at}: {number} billed what was there when finalized");
            }
            // Late: every event imported after the period invoice (adjusted or not).
            let on_time = inside.iter().filter(|s| **s <= self.finalized_at[&number]).count() as u64;
            *late_expected.entry(CUSTOMERS.iter().find(|c| **c == d.customer).unwrap()).or_default() +=
                inside.len() as u64 - on_time;
        }
        for (customer, mut w) in windows {
            w.sort();
            assert!(w.windows(2).all(|p| p[0].1 <= p[1].0), "{at}: {customer}'s standing invoices overlap: {w:?}");
        }
        for (period, n) in advance_fees {
            assert_eq!(n, 1, "{at}: the advance fee of {period:?} is billed {n} times");
        }
        for customer in CUSTOMERS {
            let flagged: i64 = conn
                .query_row(
                    "SELECT coalesce(sum(k.events), 0) FROM event_chunks k JOIN customers c ON c.id = k.customer_id
                     WHERE c.external_id = ?1 AND k.late = 1",
                    [customer],
                    |r| r.get(0),
                )
                .unwrap();
            let expected = late_expected.get(customer).copied().unwrap_or(0);
            assert_eq!(flagged as u64, expected, "{at}: late events of {customer}");
            // The wallet: its balance is its ledger's sum, never negative.
            let wallet = crate::wallet::wallet(conn, customer).unwrap();
            let ledger = crate::wallet::ledger(conn, customer, &Default::default()).unwrap();
            let sum: Decimal = ledger.iter().map(|e| e.amount.0).sum();
            assert_eq!(wallet.balance.0, sum, "{at}: {customer}'s balance");
            assert!(sum >= Decimal::ZERO, "{at}: {customer}'s balance is {sum}");
        }
        // Gapless numbers per series and year.
        let mut stmt = conn
            .prepare(
                "SELECT series, year, group_concat(seq) FROM (SELECT series, year, seq FROM invoices
                 UNION ALL SELECT series, year, seq FROM credit_notes ORDER BY seq) GROUP BY series, year",
            )
            .unwrap();
        let series: Vec<(String, i64, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(|r| r.unwrap()).collect();
        for (name, year, seqs) in series {
            let seqs: Vec<i64> = seqs.split(',').map(|s| s.parse().unwrap()).collect();
            assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{at}: {name}-{year} has a gap");
        }
        assert_eq!(invoice::verify(conn).unwrap().first_break, None, "{at}");
        // The accountants' CSV reconciles with the register, per currency.
        let mut out = Vec::new();
        let far = |y| chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
        crate::register::accounting_csv(conn, far(2000), far(2100), self.now.date_naive(), &mut out).unwrap();
        let (mut csv_sum, mut csv_money): (HashMap<String, Decimal>, HashMap<String, Decimal>) = Default::default();
        for row in csv::Reader::from_reader(out.as_slice()).records() {
            let row = row.unwrap();
            let into = if row[16].starts_with("payment") { &mut csv_money } else { &mut csv_sum };
            *into.entry(row[6].to_string()).or_default() += row[14].parse::<Decimal>().unwrap();
        }
        // Its money rows: the payments that stand.
        let mut paid: HashMap<String, Decimal> = HashMap::new();
        for inv in self.invoices() {
            *paid.entry(inv.frozen.draft.currency.clone()).or_default() +=
                crate::payment::standing_total(&inv.payments);
        }
        paid.retain(|_, v| !v.is_zero());
        csv_money.retain(|_, v| !v.is_zero());
        assert_eq!(csv_money, paid, "{at}: the accounting CSV's payments");
        let mut register: HashMap<String, Decimal> = HashMap::new();
        for inv in &standing {
            *register.entry(inv.frozen.draft.currency.clone()).or_default() += inv.frozen.draft.total.0;
            for note in crate::credit::of_invoice(conn, inv.frozen.draft.number.as_deref().unwrap()).unwrap() {
                *register.entry(note.currency.clone()).or_default() -= note.total.0;
            }
        }
        register.retain(|_, v| !v.is_zero());
        csv_sum.retain(|_, v| !v.is_zero());
        assert_eq!(csv_sum, register, "{at}: the accounting CSV");
    }
}

#[test]
fn random_operations_never_bill_twice_or_lose_an_event() {
    let mut totals: BTreeMap<&'static str, u32> = BTreeMap::new();
    let (seeds, steps) = (6u64, 500);
    for seed in 1..=seeds {
        let mut h = Harness::new(seed);
        for _ in 0..steps {
            h.operate();
            h.check();
        }
        // The rollups the imports kept (rules are evaluated after each) are what
        // all the chunks build again, block for block.
        let tz = crate::settings::zone(h.ws.conn()).unwrap();
        h.ws.write(|tx| crate::rollup::refresh(tx, tz)).unwrap();
        let kept = crate::rollup::stored_blocks(h.ws.conn());
        h.ws.write(|tx| {
            tx.execute("DELETE FROM usage_days_state", [])?;
            crate::rollup::refresh(tx, tz)
        })
        .unwrap();
        assert_eq!(crate::rollup::stored_blocks(h.ws.conn()), kept, "seed {seed}");
        assert!(!kept.is_empty());
        let capped = h
            .invoices()
            .iter()
            .filter(|i| i.frozen.draft.lines.iter().any(|l| l.kind == crate::rating::LineKind::Cap))
            .count();
        *totals.entry("invoices with a spend cap line").or_default() += capped as u32;
        for (k, v) in h.counts {
            *totals.entry(k).or_default() += v;
        }
    }
    // Every kind of operation ran, and the interesting ones often.
    for (what, at_least) in [
        ("import", 300),
        ("finalize", 100),
        ("finalize reviewed", 50),
        ("advance finalize", 50),
        ("finalize after an import", 40),
        ("void", 20),
        ("credit note", 20),
        ("paid", 10),
        ("zone change refused", 10),
        ("catalog round trip", 30),
        ("plan change", 10),
        ("grant", 30),
        ("subscription change", 15),
        ("subscription change refused", 10),
        ("subscription end", 10),
        ("late adjustment", 20),
        ("import rolled back", 10),
        ("import rollback refused", 10),
        ("payment details changed", 20),
        ("cost rate changed", 20),
        ("cap set", 40),
        ("cap refused", 3),
        ("invoices with a spend cap line", 10),
        ("alert rules evaluated", 50),
        ("alerts raised", 10),
        ("payment", 15),
        ("payment refused", 10),
        ("payment reversed", 8),
        ("sent", 15),
        ("send failed, queued", 4),
        ("send refused: sent before", 5),
        ("send refused: no address", 5),
        ("outbox retried", 5),
        ("reminder", 50),
        ("statement", 10),
        ("statement to today", 10),
    ] {
        let n = totals.get(what).copied().unwrap_or(0);
        assert!(n >= at_least, "{what} ran {n} times (fewer than {at_least}): {totals:?}");
    }
    eprintln!("{} seeds × {} steps: {totals:?}", seeds, steps);
}
