//! The demo workspace: a small AI company with customers and meters, so a newcomer sees a
//! live console at once. Deterministic: the same call builds the same workspace.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

use crate::catalog::{self, ApplyReport, Catalog, CatalogWorkspace};
use crate::customer::CustomerFields;
use crate::error::Result;
use crate::meter::{Aggregation, MeterFields};
use crate::money::Dec;
use crate::plan::PlanFields;
use crate::pricing::PriceFields;
use crate::subscription::{DiscountFields, SubscriptionFields};
use crate::wallet::{GrantFields, GrantKind, Rollover, WalletFields};

const BRANDS: &[&str] = &[
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
    "Monarch",
    "Oscorp",
    "Aperture",
    "Black Mesa",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
    "Prestige",
    "Nakatomi",
    "Virtucon",
    "Zorg",
    "Sirius",
    "Krusty",
];
const KINDS: &[&str] = &["Labs", "Analytics"];
const CITIES: &[(&str, &str, &str)] = &[
    ("San Francisco, CA 94107", "United States", "USD"),
    ("Berlin 10115", "Germany", "EUR"),
    ("London EC1A 1BB", "United Kingdom", "GBP"),
    ("Austin, TX 78701", "United States", "USD"),
    ("Paris 75002", "France", "EUR"),
    ("Tokyo 100-0005", "Japan", "JPY"),
    ("New York, NY 10001", "United States", "USD"),
];

/// The demo catalog as of `now`: company settings, 50 customers, 6 meters,
/// plans, and subscriptions from the first month of usage.
pub fn catalog(now: DateTime<Utc>) -> Catalog {
    let workspace = CatalogWorkspace {
        name: Some("Acme AI".into()),
        currency: Some("USD".into()),
        timezone: Some("America/New_York".into()),
        invoice_prefix: Some("INV".into()),
        address: Some(vec!["500 Market St".into(), "San Francisco, CA 94105".into(), "United States".into()]),
        tax_id: Some("US 12-3456789".into()),
        payment_terms_days: Some(30),
        // A US bank account (the routing number is a valid ABA test number).
        payment: Some(crate::settings::PaymentDetails {
            payee: "Acme AI Inc.".into(),
            account_number: Some("000123456789".into()),
            routing_number: Some("021000021".into()),
            note: Some("ACH or wire transfer in USD; other currencies: ask billing@acme.example".into()),
            ..Default::default()
        }),
        // A mail relay on this machine (none runs by default: messages wait in the outbox).
        mail: Some(crate::settings::MailSettings {
            host: "localhost".into(),
            port: 2525,
            security: crate::settings::Security::None,
            username: None,
            from: "Acme AI Billing <billing@acme.example>".into(),
            templates: Default::default(),
        }),
        reminder_days: None,
    };
    let mut customers = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        for (b, brand) in BRANDS.iter().enumerate() {
            let n = k * BRANDS.len() + b;
            let (city, country, currency) = CITIES[n % CITIES.len()];
            let slug = format!("{brand} {kind}").to_lowercase().replace(' ', "-");
            let exempt = currency == "EUR" && n.is_multiple_of(3);
            let tax_rate = match (exempt, currency) {
                (true, _) => None,
                (false, "EUR") => Some("0.19"),
                (false, "GBP") => Some("0.20"),
                (false, "JPY") => Some("0.10"),
                _ => Some(if n.is_multiple_of(2) { "0.0825" } else { "0" }),
            };
            customers.push(CustomerFields {
                id: slug.clone(),
                name: format!("{brand} {kind}"),
                email: Some(format!("billing@{slug}.test")),
                currency: Some(currency.into()),
                tax_rate: tax_rate.map(|r| r.parse::<Dec>().expect("demo rates are decimals")),
                tax_exempt: exempt.then(|| "Reverse charge: VAT due by the recipient".into()),
                // European customers give their VAT numbers.
                tax_id: match currency {
                    "EUR" => Some(format!("DE{}", 100_000_000 + n * 7_919)),
                    "GBP" => Some(format!("GB{}", 200_000_000 + n * 7_919)),
                    _ => None,
                },
                address: vec![format!("{} Demo Street", 10 + n), city.into(), country.into()],
                archived: n == 49,
            });
        }
    }
    let subscriptions = subscriptions(&customers, now);
    let wallets = wallets(&customers, now);
    Catalog {
        workspace: Some(workspace),
        customers,
        meters: meters(),
        plans: plans(),
        subscriptions,
        wallets,
        plan_versions: Vec::new(),
        costs: costs(now),
        fx_rates: fx_rates(),
        alerts: Vec::new(),
    }
}

/// Prepaid credit for four customers (never customer 0, whose invoices the
/// window tests finalize at their full total): a large paid commitment with a
/// free bonus ending next month, a commitment that rolls half over (at most
/// 500), and two small top-ups that will run out.
fn wallets(customers: &[CustomerFields], now: DateTime<Utc>) -> Vec<WalletFields> {
    let local = now.with_timezone(&DEMO_ZONE).date_naive();
    let next_month_end = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
        .and_then(|d| d.checked_add_months(Months::new(2)))
        .and_then(|d| d.pred_opt())
        .expect("a month's last day");
    let grant = |id: &str, amount: i64, kind: GrantKind, expires: Option<NaiveDate>, priority: i64| GrantFields {
        id: id.into(),
        amount: Dec(amount.into()),
        kind,
        expires,
        priority,
        rollover: None,
        reference: (kind == GrantKind::Paid).then(|| format!("PO-{}-{id}", local.year())),
        note: String::new(),
    };
    let mut commitment = grant("commitment", 2000, GrantKind::Paid, Some(next_month_end), 0);
    commitment.rollover = Some(Rollover { percent: Some(Dec(50.into())), max: Some(Dec(500.into())), months: None });
    let plans = [
        (
            1,
            vec![
                grant("prepaid", 5000, GrantKind::Paid, None, 0),
                grant("bonus", 250, GrantKind::Free, Some(next_month_end), 1),
            ],
        ),
        (2, vec![commitment]),
        (8, vec![grant("top-up", 300, GrantKind::Paid, None, 0)]),
        (12, vec![grant("launch", 150, GrantKind::Free, Some(next_month_end), 0)]),
    ];
    plans
        .into_iter()
        .filter_map(|(n, grants)| {
            customers.get(n).map(|c| WalletFields { customer: c.id.clone(), grants, rules: None })
        })
        .collect()
}

/// The demo customers' ids (in catalog order).
fn customer_ids() -> Vec<String> {
    catalog(DateTime::UNIX_EPOCH).customers.into_iter().map(|c| c.id).collect()
}

/// Every active customer subscribes from the first usage month, on the 1st:
/// customers 0 (a power user) and 7 (whose usage drops off, so its commitment
/// shows a true-up) on Enterprise, other US customers on Pro or
/// pay-as-you-go, the rest on pay-as-you-go in their currency. Customer 3
/// moves from pay-as-you-go to Pro on the 15th of the second month; customer
/// 6 has a 20% startup discount for two periods; customer 10 pays 15.00 a
/// seat instead of 20.00.
fn subscriptions(customers: &[CustomerFields], now: DateTime<Utc>) -> Vec<SubscriptionFields> {
    let months = usage_months(now);
    let first = |m: &str| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").expect("a usage month");
    let start = first(&months[0]);
    let change = first(&months[1]).with_day(15).expect("the 15th");
    let mut out = Vec::new();
    for (n, c) in customers.iter().enumerate().filter(|(_, c)| !c.archived) {
        let currency = c.currency.as_deref().unwrap_or("USD");
        let plan = match (n, currency) {
            (0 | 7, _) => "enterprise".to_string(),
            (_, "USD") if n % 2 == 0 => "pro".to_string(),
            (_, "USD") => "payg".to_string(),
            (_, other) => format!("payg_{}", other.to_lowercase()),
        };
        let sub = |id: String, plan: &str, start: NaiveDate| SubscriptionFields {
            id,
            customer: c.id.clone(),
            plan: plan.to_string(),
            plan_version: None,
            start,
            end: None,
            anchor_day: Some(1),
            overrides: Vec::new(),
            discounts: Vec::new(),
            maximum: None,
        };
        let mut main = sub(format!("sub_{}", c.id), &plan, start);
        match n {
            3 => {
                out.push(SubscriptionFields { end: Some(change), ..sub(format!("sub_{}_payg", c.id), "payg", start) });
                main = sub(format!("sub_{}", c.id), "pro", change);
            }
            6 => main.discounts.push(DiscountFields {
                name: "Startup program".into(),
                percent: Some(Dec(rust_decimal::Decimal::from(20))),
                amount: None,
                meter: None,
                periods: Some(2),
            }),
            10 => main.overrides.push(
                serde_json::from_value(serde_json::json!({ "meter": "active_seats", "unit_price": "15.00" }))
                    .expect("a well-formed override"),
            ),
            _ => {}
        }
        out.push(main);
    }
    out
}

/// Pay-as-you-go in another currency: the USD prices times a rate.
fn payg_in(usd: &PlanFields, currency: &str, rate: &str) -> PlanFields {
    let rate: rust_decimal::Decimal = rate.parse().expect("a rate");
    let mut plan = usd.clone();
    plan.code = format!("payg_{}", currency.to_lowercase());
    plan.name = format!("Pay as you go ({currency})");
    plan.currency = currency.to_string();
    for charge in &mut plan.charges {
        if let PriceFields::PerUnit { unit_price, .. } = &mut charge.price {
            unit_price.0 = (unit_price.0 * rate).normalize();
        }
    }
    plan
}

/// Pay as you go; Pro with graduated token prices per model and a platform fee;
/// Enterprise with a commitment and volume tiers.
fn plans() -> Vec<PlanFields> {
    let text = r#"[
      { "code": "payg", "name": "Pay as you go", "currency": "USD", "interval": "month",
        "charges": [
          { "meter": "input_tokens", "model": "per_unit", "unit_price": "0.000003" },
          { "meter": "output_tokens", "model": "per_unit", "unit_price": "0.000012" },
          { "meter": "api_calls", "model": "per_unit", "unit_price": "0.0005", "included": "1000" } ] },
      { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
        "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
        "charges": [
          { "meter": "input_tokens", "group": "gpt-4o", "model": "graduated",
            "tiers": [ { "up_to": "10000000", "unit_price": "0.0000025" }, { "up_to": null, "unit_price": "0.000002" } ] },
          { "meter": "input_tokens", "group": "gpt-4o-mini", "model": "graduated",
            "tiers": [ { "up_to": "10000000", "unit_price": "0.00000015" }, { "up_to": null, "unit_price": "0.0000001" } ] },
          { "meter": "input_tokens", "group": "o3", "model": "per_unit", "unit_price": "0.00001" },
          { "meter": "output_tokens", "group": "gpt-4o", "model": "graduated",
            "tiers": [ { "up_to": "5000000", "unit_price": "0.00001" }, { "up_to": null, "unit_price": "0.000008" } ] },
          { "meter": "output_tokens", "group": "gpt-4o-mini", "model": "per_unit", "unit_price": "0.0000006" },
          { "meter": "output_tokens", "group": "o3", "model": "per_unit", "unit_price": "0.00004" },
          { "meter": "resolved_conversations", "model": "per_unit", "unit_price": "0.99" },
          { "meter": "active_seats", "model": "per_unit", "unit_price": "20.00", "included": "5" } ] },
      { "code": "enterprise", "name": "Enterprise", "currency": "USD", "interval": "month",
        "fees": [ { "name": "Support", "amount": "500.00", "timing": "arrears" } ],
        "minimum_commitment": "5000.00",
        "charges": [
          { "meter": "input_tokens", "model": "volume",
            "tiers": [ { "up_to": "100000000", "unit_price": "0.000002" },
                       { "up_to": "1000000000", "unit_price": "0.0000015" },
                       { "up_to": null, "unit_price": "0.000001" } ] },
          { "meter": "output_tokens", "model": "volume",
            "tiers": [ { "up_to": "50000000", "unit_price": "0.000008" }, { "up_to": null, "unit_price": "0.000006" } ] },
          { "meter": "storage_gb", "model": "package", "package_size": "100", "package_price": "25.00", "free": "100" },
          { "meter": "active_seats", "model": "volume",
            "tiers": [ { "up_to": "50", "unit_price": "15.00" }, { "up_to": null, "unit_price": "10.00", "flat_fee": "0" } ] } ] }
    ]"#;
    let mut plans: Vec<PlanFields> = serde_json::from_str(text).expect("the demo plans are well formed");
    let usd = plans[0].clone();
    plans.extend([payg_in(&usd, "EUR", "0.92"), payg_in(&usd, "GBP", "0.79"), payg_in(&usd, "JPY", "150")]);
    plans
}

/// An AI company's meters: tokens in and out by model, API calls, resolved
/// conversations (an outcome), peak storage and active seats.
fn meters() -> Vec<MeterFields> {
    let meter =
        |code: &str, name: &str, unit: &str, aggregation, property: Option<&str>, group_by: Option<&str>| MeterFields {
            code: code.into(),
            name: name.into(),
            unit: Some(unit.into()),
            event: None,
            aggregation,
            property: property.map(str::to_string),
            filters: Default::default(),
            group_by: group_by.map(str::to_string),
        };
    vec![
        meter("input_tokens", "Input tokens", "token", Aggregation::Sum, Some("tokens"), Some("model")),
        meter("output_tokens", "Output tokens", "token", Aggregation::Sum, Some("tokens"), Some("model")),
        meter("api_calls", "API calls", "call", Aggregation::Count, None, None),
        meter("resolved_conversations", "Resolved conversations", "conversation", Aggregation::Count, None, None),
        meter("storage_gb", "Storage", "GB", Aggregation::Max, Some("gb"), None),
        meter("active_seats", "Active seats", "seat", Aggregation::UniqueCount, Some("user_id"), None),
    ]
}

/// What the demo company pays its model providers and hosts, in USD: the
/// provider cut gpt-4o's prices on the 15th of last month, and gpt-4o-mini's
/// input costs more than Pro's second tier charges, so its heaviest users run
/// at a thin or negative margin.
fn costs(now: DateTime<Utc>) -> Vec<crate::cost::CostRateFields> {
    let local = now.with_timezone(&DEMO_ZONE).date_naive();
    let cut = NaiveDate::from_ymd_opt(local.year(), local.month(), 15)
        .and_then(|d| d.checked_sub_months(Months::new(1)))
        .expect("the 15th of last month");
    let since = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    let rate = |meter: &str, group: Option<&str>, unit_cost: &str, from: NaiveDate| crate::cost::CostRateFields {
        meter: meter.into(),
        group: group.map(str::to_string),
        currency: "USD".into(),
        unit_cost: unit_cost.parse().expect("demo costs are decimals"),
        from,
    };
    vec![
        rate("input_tokens", None, "0.0000018", since),
        rate("input_tokens", Some("gpt-4o"), "0.0000022", since),
        rate("input_tokens", Some("gpt-4o"), "0.0000014", cut),
        rate("input_tokens", Some("gpt-4o-mini"), "0.00000012", since),
        rate("input_tokens", Some("o3"), "0.000008", since),
        rate("output_tokens", None, "0.000007", since),
        rate("output_tokens", Some("gpt-4o"), "0.000009", since),
        rate("output_tokens", Some("gpt-4o"), "0.000006", cut),
        rate("output_tokens", Some("gpt-4o-mini"), "0.0000004", since),
        rate("output_tokens", Some("o3"), "0.000032", since),
        rate("api_calls", None, "0.0001", since),
        rate("resolved_conversations", None, "0.35", since),
        rate("storage_gb", None, "0.02", since),
    ]
}

/// What a US dollar was worth in the demo's other currencies, for the
/// margin of customers billed in them.
fn fx_rates() -> Vec<crate::cost::FxRate> {
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    [("EUR", "0.92"), ("GBP", "0.79"), ("JPY", "150")]
        .into_iter()
        .map(|(to, rate)| crate::cost::FxRate {
            from: "USD".into(),
            to: to.into(),
            rate: rate.parse().expect("demo rates are decimals"),
            as_of,
        })
        .collect()
}

/// Fills a (new) workspace with the demo catalog, in the caller's transaction.
/// The demo company's logo, printed on its invoices.
const DEMO_LOGO: &[u8] = include_bytes!("../../../assets/demo-logo.png");

pub fn build(conn: &rusqlite::Transaction, now: DateTime<Utc>) -> Result<ApplyReport> {
    let report = catalog::apply(conn, catalog(now), now)?;
    crate::settings::set_logo(conn, Some(DEMO_LOGO), now)?;
    Ok(report)
}

/// How many months of invoiced history come before the usage months.
pub const HISTORY_MONTHS: usize = 14;

/// The [`HISTORY_MONTHS`] months before the first usage month, oldest first.
pub fn history_months(now: DateTime<Utc>) -> Vec<crate::period::Month> {
    let first = crate::period::Month::parse(&usage_months(now)[0], "month").expect("a usage month");
    let mut out: Vec<crate::period::Month> =
        std::iter::successors(first.previous().ok(), |m| m.previous().ok()).take(HISTORY_MONTHS).collect();
    out.reverse();
    out
}

/// The demo with a year and more of invoiced history before its usage months
/// (docs/billing.md "Business figures" has something to measure on first
/// start): every active customer was subscribed to its plan for the
/// [`HISTORY_MONTHS`] before (a subscription `sub_<id>_prior` ending where
/// the current one starts), with aggregate usage per month (a few events
/// carrying a month's tokens), each month finalized on the 2nd of the next.
/// Most invoices are paid a few days before they are due; customer 4 got a
/// tenth of one invoice back as goodwill, customer 8 a full credit note;
/// customers 5 and 9 left their last three unpaid, customer 12 one from five
/// months before, and the first two US customers from customer 8 on their
/// last two (overdue).
/// The wallets are granted after the history, so no past invoice spends
/// credit bought later.
pub fn build_with_history(ws: &mut crate::Workspace, now: DateTime<Utc>) -> Result<ApplyReport> {
    let full = catalog(now);
    let history = history_months(now);
    let usage_start =
        NaiveDate::parse_from_str(&format!("{}-01", usage_months(now)[0]), "%Y-%m-%d").expect("a usage month");
    let mut subscriptions = full.subscriptions.clone();
    let active: Vec<(usize, CustomerFields)> =
        full.customers.iter().cloned().enumerate().filter(|(_, c)| !c.archived).collect();
    for (_, c) in &active {
        let current =
            full.subscriptions.iter().find(|s| s.customer == c.id && s.start == usage_start).expect("a subscription");
        subscriptions.push(SubscriptionFields {
            id: format!("sub_{}_prior", c.id),
            start: history[0].first_day(),
            end: Some(usage_start),
            overrides: Vec::new(),
            discounts: Vec::new(),
            ..current.clone()
        });
    }
    let wallets = full.wallets.clone();
    let without_wallets = Catalog { subscriptions, wallets: Vec::new(), ..full };
    let mut report = ws.write(|tx| {
        let report = catalog::apply(tx, without_wallets, now)?;
        crate::settings::set_logo(tx, Some(DEMO_LOGO), now)?;
        // No automatic backup before each of the history's finalize runs.
        let mut s = crate::settings::get(tx)?;
        s.backups_keep = 0;
        crate::settings::update(tx, s)?;
        Ok(report)
    })?;
    let mut rows = String::from("id,customer,type,timestamp,tokens,model,gb,user_id,channel\n");
    for (h, month) in history.iter().enumerate() {
        let mid = DEMO_ZONE
            .from_local_datetime(&(month.first_day() + chrono::Duration::days(14)).and_hms_opt(12, 0, 0).expect("noon"))
            .earliest()
            .expect("New York has every noon")
            .timestamp_millis();
        for (n, c) in &active {
            let (per_day, _) = profile(*n);
            // Power users grew into their size; the rest moved a little.
            let growth = if *n <= 2 {
                0.55 + 0.45 * h as f64 / HISTORY_MONTHS as f64
            } else {
                0.92 + ((n + h) % 5) as f64 * 0.03
            };
            let requests = (per_day * 30.0 * 0.85 * growth) as u64;
            if requests == 0 {
                continue;
            }
            let mut line = |k: usize, ty: &str, rest: &str| {
                rows.push_str(&format!("hist_{month}_{}_{ty}_{k},{},{ty},{mid},{rest}\n", c.id, c.id));
            };
            for (m, ((model, _), weight)) in MODELS.iter().zip(model_weights(*n)).enumerate() {
                let share = requests * weight / 16;
                line(m, "input_tokens", &format!("{},{model},,,", share * 2_100));
                line(m, "output_tokens", &format!("{},{model},,,", share * 640));
            }
            for k in 0..requests / 8 {
                line(k as usize, "api_calls", ",,,u1,");
            }
            for k in 0..requests / 9 {
                line(k as usize, "resolved_conversations", ",,,,chat");
            }
            let seats = if *n <= 2 { 40 } else { 3 + (n * 5 % 17) as u64 };
            for user in 1..=seats {
                line(user as usize, "active_seats", &format!(",,,u{user},"));
            }
            line(0, "storage_gb", &format!(",,{:.2},,", (5 + n % 11) as f64 * growth));
        }
    }
    let options = crate::events::ImportOptions::new("demo-history.csv", crate::event_file::Format::Csv);
    let first = history[0].first_day().and_hms_opt(12, 0, 0).expect("noon").and_utc();
    crate::events::import(ws, rows.as_bytes(), &options, first, &mut |_| std::ops::ControlFlow::Continue(()))?;
    let at_second = |m: crate::period::Month| -> Result<DateTime<Utc>> {
        let next = m.next()?.first_day();
        Ok(Utc.with_ymd_and_hms(next.year(), next.month(), 2, 17, 0, 0).single().expect("the 2nd at 17:00"))
    };
    for month in &history {
        crate::invoice::finalize_month(ws, *month, None, at_second(*month)?)?;
    }
    // Payments, credit notes and what stays owed.
    let ids = customer_ids();
    let index = |customer: &str| ids.iter().position(|c| c == customer).unwrap_or(usize::MAX);
    let invoices = crate::invoice::all(ws.conn())?;
    let last = history.len();
    // Two customers billed in the workspace's own currency leave their last two invoices unpaid.
    let late_payers: Vec<usize> = active
        .iter()
        .filter(|(n, c)| *n >= 8 && c.currency.as_deref() == Some("USD"))
        .map(|(n, _)| *n)
        .take(2)
        .collect();
    ws.write(|tx| {
        for inv in &invoices {
            let d = &inv.frozen.draft;
            let number = d.number.clone().unwrap_or_default();
            let n = index(&d.customer);
            let h = history.iter().position(|m| *m == crate::period::Month::of(d.first_day)).unwrap_or(0);
            let when = |day: NaiveDate| day.and_hms_opt(16, 0, 0).expect("16:00").and_utc();
            if n == 4 && h == 3 {
                // A tenth of the invoice back.
                let currency = crate::money::Currency::parse(&d.currency).map_err(crate::Error::Internal)?;
                let note = crate::credit::Request::Amount(currency.round(d.total.0 / rust_decimal::Decimal::TEN));
                crate::credit::issue(
                    tx,
                    &number,
                    "Goodwill: service outage on the 12th",
                    &note,
                    when(inv.frozen.issue_date + chrono::Duration::days(9)),
                )?;
            }
            if n == 8 && h == 6 {
                crate::credit::issue(
                    tx,
                    &number,
                    "Billed twice by mistake",
                    &crate::credit::Request::Full,
                    when(inv.frozen.issue_date + chrono::Duration::days(4)),
                )?;
                continue;
            }
            let unpaid = ((n == 5 || n == 9) && h + 3 >= last)
                || (n == 12 && h + 5 == last)
                || (late_payers.contains(&n) && h + 2 >= last);
            if unpaid || d.amount_due.0 <= rust_decimal::Decimal::ZERO {
                continue;
            }
            let paid_on = inv.frozen.due_date - chrono::Duration::days((n % 7) as i64);
            crate::invoice::mark_paid(tx, &number, paid_on, &format!("ACH {}", 40_000 + n * 100 + h), when(paid_on))?;
        }
        let mut s = crate::settings::get(tx)?;
        s.backups_keep = 10;
        crate::settings::update(tx, s)?;
        let granted = catalog::apply(tx, Catalog { wallets, ..Catalog::default() }, now)?;
        report.created += granted.created;
        Ok(())
    })?;
    Ok(report)
}

/// The three calendar months (workspace zone) before `now`'s, oldest first.
pub fn usage_months(now: DateTime<Utc>) -> Vec<String> {
    let local = now.with_timezone(&DEMO_ZONE);
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("a month's first day");
    (1..=3).rev().map(|back| (first - Months::new(back)).format("%Y-%m").to_string()).collect()
}

const DEMO_ZONE: chrono_tz::Tz = chrono_tz::America::New_York;
const MODELS: [(&str, u64); 3] = [("gpt-4o", 5), ("gpt-4o-mini", 9), ("o3", 2)];

/// Each model's share of a customer's requests, in sixteenths: customer 1,
/// a power user on pay-as-you-go, runs o3 for 6 of 16 requests and costs
/// more than it pays (a negative margin).
fn model_weights(n: usize) -> [u64; 3] {
    if n == 1 { [5, 5, 6] } else { MODELS.map(|(_, w)| w) }
}

/// How a demo customer uses the product: requests per day, and how that moves
/// month to month.
/// The fourth month is the current one, when the demo runs up to today.
fn profile(n: usize) -> (f64, [f64; 4]) {
    match n {
        0..=2 => (520.0, [1.0, 1.1, 1.25, 1.3]), // power users, growing
        7 => (90.0, [1.0, 0.55, 0.25, 0.0]),     // dropping off, then gone quiet
        5..=6 => (90.0, [1.0, 0.55, 0.25, 0.2]), // usage dropping off
        49 => (0.0, [0.0; 4]),                   // archived: nothing
        _ => {
            let t = [1.0, 1.0 + (n % 4) as f64 * 0.05, 1.0 + (n % 3) as f64 * 0.07];
            (35.0 + (n * 37 % 60) as f64, [t[0], t[1], t[2], t[2]])
        }
    }
}

/// Imports three months of generated usage (over a million events) into a
/// workspace built by [`build`], through the normal importer. Deterministic.
pub fn import_usage(ws: &mut crate::Workspace, now: DateTime<Utc>) -> Result<crate::import::ImportReport> {
    import_usage_through(ws, now, None)
}

/// [`import_usage`], and with `until` (a local day) the current month's
/// usage up to the day before it, as a live workspace has it: customer 7,
/// whose usage was dropping off, sends nothing more.
pub fn import_usage_through(
    ws: &mut crate::Workspace,
    now: DateTime<Utc>,
    until: Option<NaiveDate>,
) -> Result<crate::import::ImportReport> {
    let customers = customer_ids();
    let mut rows = DemoRows::new(customers, &usage_months(now));
    if let Some(until) = until {
        let first = until.with_day(1).expect("a month's first day");
        rows.days.extend(first.iter_days().take_while(|d| *d < until).map(|d| (3, d)));
    }
    let options = crate::events::ImportOptions::new("demo-usage.csv", crate::event_file::Format::Csv);
    let report = crate::events::import(ws, &mut rows, &options, now, &mut |_| std::ops::ControlFlow::Continue(()))?;
    // The daily rollups built now, with the demo, so its first dashboard reads them.
    let tz = crate::settings::zone(ws.conn())?;
    ws.write(|tx| crate::rollup::refresh(tx, tz))?;
    Ok(report)
}

/// The demo's usage as a CSV stream, generated day by day as it is read.
struct DemoRows {
    customers: Vec<String>,
    days: Vec<(usize, NaiveDate)>,
    day: usize,
    rng: crate::rng::Rng,
    seq: u64,
    text: Vec<u8>,
    at: usize,
}

impl DemoRows {
    fn new(customers: Vec<String>, months: &[String]) -> DemoRows {
        let mut days = Vec::new();
        for (m, month) in months.iter().enumerate() {
            let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").expect("a month");
            days.extend(first.iter_days().take_while(|d| d.month() == first.month()).map(|d| (m, d)));
        }
        let text = b"id,customer,type,timestamp,tokens,model,gb,user_id,channel\n".to_vec();
        DemoRows { customers, days, day: 0, rng: crate::rng::Rng::new(0x5eed_1234_abcd_9876), seq: 0, text, at: 0 }
    }

    fn next(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Appends one day of every customer's events.
    fn fill_day(&mut self) {
        use std::io::Write;
        let (month, date) = self.days[self.day];
        self.day += 1;
        let midnight = DEMO_ZONE
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .expect("New York has every midnight")
            .timestamp_millis();
        let weekend = date.weekday().number_from_monday() >= 6;
        for n in 0..self.customers.len() {
            let (per_day, trend) = profile(n);
            let mut requests = per_day * trend[month] * if weekend { 0.45 } else { 1.0 };
            requests *= 0.8 + (self.next() % 400) as f64 / 1000.0;
            let customer = self.customers[n].clone();
            // Working hours, 08:00 to 20:00 local.
            let at = |rng: u64| midnight + 8 * 3_600_000 + (rng % (12 * 3_600_000)) as i64;
            let line = |seq: &mut u64, text: &mut Vec<u8>, ty: &str, ts: i64, rest: std::fmt::Arguments| {
                *seq += 1;
                let _ = writeln!(text, "evt_{:08x},{customer},{ty},{ts},{rest}", *seq);
            };
            for _ in 0..requests as u64 {
                let r = self.next();
                let ts = at(r);
                let pick = (r >> 40) % 16;
                let w = model_weights(n);
                let model = if pick < w[0] {
                    MODELS[0].0
                } else if pick < w[0] + w[1] {
                    MODELS[1].0
                } else {
                    MODELS[2].0
                };
                let input = 200 + (r >> 8) % 3800;
                let output = 40 + (r >> 20) % 1200;
                let user = 1 + (r >> 30) % 12;
                let (seq, text) = (&mut self.seq, &mut self.text);
                line(seq, text, "api_calls", ts, format_args!(",,,u{user},"));
                line(seq, text, "input_tokens", ts, format_args!("{input},{model},,,"));
                line(seq, text, "output_tokens", ts + 1500, format_args!("{output},{model},,,"));
                if r.is_multiple_of(9) {
                    let channel = ["chat", "email", "voice"][(r % 3) as usize];
                    line(seq, text, "resolved_conversations", ts + 60_000, format_args!(",,,,{channel}"));
                }
            }
            if requests >= 1.0 {
                let seats = if n <= 2 { 40 } else { 3 + (n * 5 % 17) as u64 };
                for user in 1..=seats {
                    let r = self.next();
                    if !r.is_multiple_of(4) {
                        let (seq, text) = (&mut self.seq, &mut self.text);
                        line(seq, text, "active_seats", at(r), format_args!(",,,u{user},"));
                    }
                }
                let gb = (5 + n % 11) as f64 * (1.0 + self.day as f64 / 120.0) * trend[month];
                let (seq, text) = (&mut self.seq, &mut self.text);
                line(seq, text, "storage_gb", midnight + 23 * 3_600_000, format_args!(",,{gb:.2},,"));
            }
        }
    }
}

impl std::io::Read for DemoRows {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.text.len() {
            if self.day == self.days.len() {
                return Ok(0);
            }
            self.text.clear();
            self.at = 0;
            self.fill_day();
        }
        let n = out.len().min(self.text.len() - self.at);
        out[..n].copy_from_slice(&self.text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Workspace, customer, settings};
    use chrono::TimeZone;

    #[test]
    fn the_demo_has_a_company_and_fifty_customers() {
        let mut ws = Workspace::in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let report = ws.write(|tx| build(tx, now)).unwrap();
        assert_eq!(
            report.created, 133,
            "50 customers, 6 meters, 6 plans, 50 subscriptions, 5 grants, 13 cost rates and 3 exchange rates"
        );
        let wallets = crate::projection::overview(&mut ws, now).unwrap();
        let balances: Vec<(&str, String)> =
            wallets.iter().map(|w| (w.customer.as_str(), w.projection.balance.to_string())).collect();
        assert_eq!(balances.len(), 4, "{balances:?}");
        assert!(!balances.iter().any(|(c, _)| *c == customer_ids()[0]), "customer 0 has no wallet");
        assert_eq!(crate::plan::all(ws.conn()).unwrap().len(), 6);
        let subs = crate::subscription::all(ws.conn()).unwrap();
        assert_eq!(subs.len(), 50, "49 active customers, one of them changing plan");
        assert_eq!(crate::meter::all(ws.conn()).unwrap().len(), 6);
        assert_eq!(customer::count(ws.conn()).unwrap(), 50);
        assert_eq!(settings::get(ws.conn()).unwrap().company_name, "Acme AI");
        let page = customer::page(ws.conn(), "", false, 0, 100).unwrap();
        assert_eq!(page.total, 49, "one demo customer is archived");
    }

    #[test]
    fn the_demo_usage_is_three_months_over_a_million_events() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        assert_eq!(usage_months(now), ["2026-08", "2026-09", "2026-10"]);
        // Count the generated rows without importing them (the import itself is
        // covered by the CLI test of `demo`).
        let customers = customer_ids();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut DemoRows::new(customers, &usage_months(now)), &mut text).unwrap();
        let rows = text.lines().count() - 1;
        assert!(rows > 1_000_000, "{rows} events");
        let power = text.matches(",globex-labs,").count();
        let quiet = text.matches(",oscorp-labs,").count();
        assert!(power > 8 * quiet, "a power user: {power} events against {quiet}");
        assert!(!text.contains(",krusty-analytics,"), "the archived customer has no usage");
    }
}
