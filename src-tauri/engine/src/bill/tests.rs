//! Drafts on docs/interfaces.md's example catalog, with hand-computed totals.

use std::ops::ControlFlow;

use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::Workspace;
use crate::catalog;
use crate::event_file::Format;
use crate::events::{ImportOptions, import};
use crate::rating::LineKind;
use crate::usage::{self, UsageEvent};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
}

/// docs/interfaces.md's meters and Pro plan, a pay-as-you-go plan, and two customers.
pub(crate) const CATALOG: &str = r#"{
  "workspace": { "name": "Acme AI", "currency": "USD", "timezone": "America/New_York" },
  "customers": [
    { "id": "globex", "name": "Globex Corp", "tax_rate": "0.20" },
    { "id": "initech", "name": "Initech", "tax_exempt": "Reverse charge" }
  ],
  "meters": [
    { "code": "tokens", "name": "LLM tokens", "unit": "token",
      "aggregation": "sum", "property": "tokens", "group_by": "model" },
    { "code": "api_calls", "name": "API calls", "aggregation": "count" },
    { "code": "storage_gb", "name": "Storage", "unit": "GB", "aggregation": "max", "property": "gb" },
    { "code": "seats", "name": "Active seats", "aggregation": "unique_count", "property": "user_id" }
  ],
  "plans": [
    { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
      "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
      "minimum_commitment": "500.00",
      "charges": [
        { "meter": "tokens", "group": "gpt-4o", "model": "graduated",
          "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" },
                     { "up_to": null, "unit_price": "0.000004", "flat_fee": "0" } ] },
        { "meter": "api_calls", "model": "per_unit", "unit_price": "0.001", "included": "10000" },
        { "meter": "storage_gb", "model": "package", "package_size": "10", "package_price": "5.00", "free": "0" },
        { "meter": "seats", "model": "volume",
          "tiers": [ { "up_to": "10", "unit_price": "20" },
                     { "up_to": null, "unit_price": "15", "flat_fee": "0" } ] }
      ] },
    { "code": "payg", "name": "Pay as you go", "currency": "USD", "interval": "month",
      "charges": [ { "meter": "tokens", "model": "per_unit", "unit_price": "0.00001" } ] }
  ],
  "subscriptions": [
    { "id": "sub_globex", "customer": "globex", "plan": "pro", "start": "2026-10-15", "anchor_day": 1,
      "overrides": [ { "meter": "api_calls", "unit_price": "0.0008" } ],
      "discounts": [ { "name": "Launch", "percent": "10" } ] }
  ]
}"#;

pub(crate) fn apply(ws: &mut Workspace, text: &str) {
    let c = catalog::parse(text).unwrap();
    ws.write(|tx| catalog::apply(tx, c, now())).unwrap();
}

pub(crate) fn events(ws: &mut Workspace, rows: &[serde_json::Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let report = import(ws, text.as_bytes(), &ImportOptions::new("e.ndjson", Format::Ndjson), now(), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(report.rejected, 0, "{:?}", report.errors.first());
}

fn event(
    id: impl std::fmt::Display,
    customer: &str,
    kind: &str,
    at: &str,
    props: serde_json::Value,
) -> serde_json::Value {
    json!({ "id": id.to_string(), "customer": customer, "type": kind, "timestamp": at, "properties": props })
}

/// Globex's October: usage before its start, on Oct 31 local after midnight UTC, and on Nov 1.
pub(crate) fn october(ws: &mut Workspace) {
    let mut rows = vec![
        event("t0", "globex", "tokens", "2026-10-10T12:00:00Z", json!({"model": "gpt-4o", "tokens": 999})),
        event("t1", "globex", "tokens", "2026-10-20T12:00:00Z", json!({"model": "gpt-4o", "tokens": 1_000_000})),
        event("t2", "globex", "tokens", "2026-10-21T12:00:00Z", json!({"model": "gpt-4o", "tokens": "500000"})),
        event("t3", "globex", "tokens", "2026-10-22T12:00:00Z", json!({"model": "claude", "tokens": 300_000})),
        // Oct 31, 23:30 in New York: October.
        event("t4", "globex", "tokens", "2026-11-01T03:30:00Z", json!({"model": "gpt-4o", "tokens": 100_000})),
        // Nov 1, 00:00 in New York: November.
        event("t5", "globex", "tokens", "2026-11-01T04:00:00Z", json!({"model": "gpt-4o", "tokens": 7})),
        event("g1", "globex", "storage_gb", "2026-10-16T00:00:00Z", json!({"gb": 23})),
        event("g2", "globex", "storage_gb", "2026-10-17T00:00:00Z", json!({"gb": "41"})),
    ];
    for i in 0..10_500 {
        rows.push(event(format!("c{i}"), "globex", "api_calls", "2026-10-25T10:00:00Z", json!({})));
    }
    for i in 0..30 {
        rows.push(event(
            format!("s{i}"),
            "globex",
            "seats",
            "2026-10-26T10:00:00Z",
            json!({"user_id": format!("u{}", i % 12)}),
        ));
    }
    events(ws, &rows);
}

fn amounts(d: &Draft) -> Vec<(LineKind, &str, String)> {
    d.lines.iter().map(|l| (l.kind, l.description.as_str(), l.amount.to_string())).collect()
}

fn one(ws: &mut Workspace, customer: &str, month: &str) -> Draft {
    let mut drafts = preview_customer(ws, customer, crate::month(month)).unwrap();
    assert_eq!(drafts.len(), 1, "{customer} {month}");
    drafts.pop().unwrap()
}

#[test]
fn the_interface_examples_subscription_previews_to_the_cent() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    let d = one(&mut ws, "globex", "2026-10");
    // Fee 99 × 17/31 = 54.29 (the subscription starts Oct 15 in a 31-day October).
    // Tokens gpt-4o: 1,600,000 (not the 999 before the start, not claude, not Nov 1):
    //   1,000,000 × 0.000005 + 600,000 × 0.000004 = 7.40.
    // API calls 10,500, 10,000 included, overridden at 0.0008: 0.40.
    // Storage max 41 GB: 5 packages of 10 at 5.00 = 25.00. Seats 12 users > 10: 12 × 15 = 180.00.
    // Commitment 500 × 17/31 = 274.19 − 212.80 usage = 61.39.
    // Launch 10% of 328.48 = 32.85 → subtotal 295.63; tax 20% = 59.13; total 354.76.
    assert_eq!(
        amounts(&d),
        [
            (LineKind::Fee, "Platform fee", "54.29".into()),
            (LineKind::Usage, "LLM tokens — gpt-4o", "7.40".into()),
            (LineKind::Usage, "API calls", "0.40".into()),
            (LineKind::Usage, "Storage", "25.00".into()),
            (LineKind::Usage, "Active seats", "180.00".into()),
            (LineKind::Commitment, "Minimum commitment true-up", "61.39".into()),
            (LineKind::Discount, "Launch", "-32.85".into()),
        ]
    );
    let quantities: Vec<String> = d.lines.iter().map(|l| l.quantity.to_string()).collect();
    assert_eq!(quantities[1..5], ["1600000", "10500", "41", "12"]);
    assert_eq!(
        (d.subtotal.to_string(), d.tax.to_string(), d.total.to_string()),
        ("295.63".into(), "59.13".into(), "354.76".into())
    );
    assert_eq!((d.credits_applied.to_string(), d.amount_due.to_string()), ("0.00".into(), "354.76".into()));
    assert_eq!((d.active_days, d.period_days), (17, 31));
    // The 999 tokens of Oct 10 came before the subscription: stored, billed on nothing, and said so.
    assert_eq!(d.unbilled_events, 1);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["period"], json!({ "start": "2026-10-01T04:00:00Z", "end": "2026-11-01T04:00:00Z" }));
    assert_eq!(json["usage_window"]["start"], "2026-10-15T04:00:00Z");
    assert_eq!((json["number"].clone(), json["status"].clone()), (json!(null), json!("draft")));
    assert_eq!(json["lines"][1]["quantity"], "1600000", "amounts and quantities are strings");

    // November: a whole period, no usage but the 7 tokens at midnight; the commitment is all true-up.
    let nov = one(&mut ws, "globex", "2026-11");
    assert_eq!(nov.lines[0].amount.to_string(), "99.00");
    assert_eq!(nov.lines[1].quantity.to_string(), "7");
    assert_eq!(nov.period_days, 30);
    // No period of the subscription starts in September (it had not started).
    assert!(preview_customer(&mut ws, "globex", crate::month("2026-09")).unwrap().is_empty());
}

#[test]
fn a_plan_change_splits_usage_at_the_change_and_counts_it_once() {
    let mut ws = Workspace::in_memory().unwrap();
    let text = CATALOG.replace(
        r#"{ "id": "sub_globex", "customer": "globex", "plan": "pro", "start": "2026-10-15", "anchor_day": 1,"#,
        r#"{ "id": "sub_globex_payg", "customer": "globex", "plan": "payg", "start": "2026-09-01", "end": "2026-10-15" },
           { "id": "sub_globex", "customer": "globex", "plan": "pro", "start": "2026-10-15", "anchor_day": 1,"#,
    );
    apply(&mut ws, &text);
    october(&mut ws);
    let drafts = preview_customer(&mut ws, "globex", crate::month("2026-10")).unwrap();
    let subs: Vec<&str> = drafts.iter().map(|d| d.subscription.as_str()).collect();
    assert_eq!(subs, ["sub_globex_payg", "sub_globex"]);
    let (payg, pro) = (&drafts[0], &drafts[1]);
    // Pay as you go, Oct 1–14: every model's tokens, only the 999 before the change.
    assert_eq!((payg.active_days, payg.lines.len()), (14, 1));
    assert_eq!((payg.lines[0].quantity.to_string(), payg.lines[0].amount.to_string()), ("999".into(), "0.01".into()));
    assert_eq!(payg.usage_window.end, pro.usage_window.start, "the windows meet at the change");
    assert_eq!((payg.unbilled_events, pro.unbilled_events), (0, 0), "the two subscriptions cover October");
    assert_eq!(pro.lines[1].quantity.to_string(), "1600000");
    // Summed over both, October's gpt-4o tokens are counted once: 999 + 1,600,000.
    let total =
        usage::value(ws.conn(), "tokens", "globex", payg.period.start, payg.period.end, Some("gpt-4o")).unwrap();
    assert_eq!(total.to_string(), "1600999");
}

#[test]
fn a_quarterly_plan_has_one_period_per_quarter() {
    let mut ws = Workspace::in_memory().unwrap();
    let text = CATALOG
        .replace(
            r#""currency": "USD", "interval": "month",
      "charges""#,
            r#""currency": "USD", "interval": "quarter",
      "charges""#,
        )
        .replace(
            r#""subscriptions": ["#,
            r#""subscriptions": [
        { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01" },"#,
        );
    apply(&mut ws, &text);
    let q = one(&mut ws, "initech", "2026-10");
    assert_eq!(
        (q.first_day.to_string(), q.end_day.to_string(), q.period_days),
        ("2026-10-01".into(), "2027-01-01".into(), 92)
    );
    assert!(
        preview_customer(&mut ws, "initech", crate::month("2026-11")).unwrap().is_empty(),
        "no quarter starts in November"
    );
    assert_eq!(one(&mut ws, "initech", "2027-01").first_day.to_string(), "2027-01-01");
}

#[test]
fn a_changed_plan_becomes_a_new_version_and_subscribers_keep_theirs() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    let dearer = CATALOG.replace(r#""amount": "99.00""#, r#""amount": "129.00""#);
    apply(&mut ws, &dearer);
    assert_eq!(plan::get(ws.conn(), "pro").unwrap().unwrap().version, 2);
    let d = one(&mut ws, "globex", "2026-11");
    assert_eq!((d.plan_version, d.lines[0].amount.to_string()), (1, "99.00".into()), "globex keeps version 1");
    let exported = catalog::export(ws.conn()).unwrap();
    assert_eq!(exported.subscriptions[0].plan_version, Some(1), "an older version is named in the export");
    // Moving it to the latest version, by naming it.
    let moved = dearer.replace(
        r#""start": "2026-10-15", "anchor_day": 1,"#,
        r#""start": "2026-10-15", "anchor_day": 1, "plan_version": 2,"#,
    );
    apply(&mut ws, &moved);
    let d = one(&mut ws, "globex", "2026-11");
    assert_eq!((d.plan_version, d.lines[0].amount.to_string()), (2, "129.00".into()));
    assert_eq!(catalog::export(ws.conn()).unwrap().subscriptions[0].plan_version, None, "the latest goes unnamed");
    // A plan nobody holds changes in place.
    apply(&mut ws, &moved.replace(r#""unit_price": "0.00001""#, r#""unit_price": "0.00002""#));
    assert_eq!(plan::get(ws.conn(), "payg").unwrap().unwrap().version, 1);
}

#[test]
fn a_discount_for_n_periods_stops_after_them() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, &CATALOG.replace(r#""percent": "10" }"#, r#""percent": "10", "periods": 2 }"#));
    let mut has_launch = |month: &str| one(&mut ws, "globex", month).lines.iter().any(|l| l.kind == LineKind::Discount);
    assert_eq!([has_launch("2026-10"), has_launch("2026-11"), has_launch("2026-12")], [true, true, false]);
}

#[test]
fn exempt_customers_pay_no_tax_and_a_percentage_prices_each_event() {
    let mut ws = Workspace::in_memory().unwrap();
    let text = CATALOG.replace(
        r#""subscriptions": ["#,
        r#""subscriptions": [
        { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01",
          "overrides": [ { "meter": "tokens", "model": "percentage", "percent": "1", "fixed_fee": "0.10", "min_fee": "0.50" } ] },"#,
    );
    apply(&mut ws, &text);
    events(
        &mut ws,
        &[
            event("i1", "initech", "tokens", "2026-10-02T12:00:00Z", json!({"model": "a", "tokens": 1000})),
            event("i2", "initech", "tokens", "2026-10-03T12:00:00Z", json!({"model": "b", "tokens": 10})),
        ],
    );
    let d = one(&mut ws, "initech", "2026-10");
    // 1% of 1000 + 0.10 = 10.10; 1% of 10 + 0.10 = 0.20, raised to the 0.50 minimum: 10.60.
    assert_eq!(d.lines[0].amount.to_string(), "10.60");
    assert_eq!((d.tax.to_string(), d.total.to_string(), d.tax_rate), ("0.00".into(), "10.60".into(), None));
}

#[test]
fn bad_requests_are_named() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    assert!(matches!(preview_customer(&mut ws, "nobody", crate::month("2026-10")), Err(Error::NotFound(_))));
    for month in ["2026-13", "October", "2026-1", ""] {
        // A month is checked where it enters, before any preview.
        let err = crate::Error::from(crate::period::Month::parse(month, "period").unwrap_err());
        assert_eq!(err.problems()[0].path, "period", "{month}");
    }
    assert!(
        preview_customer(&mut ws, "initech", crate::month("2026-10")).unwrap().is_empty(),
        "no subscription, no draft"
    );
}

#[test]
fn drafts_export_as_csv_rows_that_reconcile() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    let drafts = preview_all(&mut ws, crate::month("2026-10")).unwrap();
    let mut out = Vec::new();
    drafts_csv(&drafts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[1],
        "globex,sub_globex,pro,1,USD,2026-10-01T04:00:00Z,2026-11-01T04:00:00Z,2026-10-01,2026-10-31,17,\
         54.29,212.80,61.39,-32.85,295.63,59.13,354.76,354.76,0.00"
    );
    assert!(lines[0].ends_with(",amount_due,spend_cap"), "the spend cap came last, after every older column");
}

#[test]
fn billing_months_run_from_the_first_start_to_the_last_usage() {
    let mut ws = Workspace::in_memory().unwrap();
    assert_eq!(billing_months(ws.conn()).unwrap(), BillingMonths { months: vec![], latest_usage: None });
    apply(&mut ws, CATALOG);
    assert_eq!(billing_months(ws.conn()).unwrap().months, ["2026-10"]);
    october(&mut ws);
    // The last event is Nov 1, 00:00 in New York.
    let m = billing_months(ws.conn()).unwrap();
    assert_eq!((m.months, m.latest_usage.as_deref()), (vec!["2026-11".to_string(), "2026-10".into()], Some("2026-11")));
}

#[test]
fn a_draft_plan_prices_its_subscribers_real_usage_before_it_is_saved() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    let mut pro = catalog::parse(CATALOG).unwrap().plans.remove(0);
    // No commitment, and the first token tier at 0.00001: tokens 1,000,000 × 0.00001 + 600,000 × 0.000004 = 12.40;
    // 54.29 + 12.40 + 0.40 + 25.00 + 180.00 = 272.09; Launch 10% = 27.21 → 244.88; tax 48.98 → 293.86.
    pro.minimum_commitment = None;
    let crate::pricing::PriceFields::Graduated { tiers } = &mut pro.charges[0].price else { panic!("graduated") };
    tiers[0].unit_price = "0.00001".parse().unwrap();
    let report = try_plan(&mut ws, &pro, crate::month("2026-10")).unwrap();
    let trials = &report.rows;
    assert_eq!(trials.len(), 1);
    let t = &trials[0];
    assert_eq!((t.subscription.as_str(), t.current.to_string()), ("sub_globex", "354.76".to_string()));
    assert_eq!((t.proposed.map(|p| p.to_string()), t.problem.clone()), (Some("293.86".into()), None));
    // 293.86 − 354.76 = −60.90, −17.166… % of 354.76.
    let said = |d: Option<Dec>| d.map(|d| d.to_string());
    assert_eq!((said(t.difference), said(t.change_percent)), (Some("-60.90".into()), Some("-17.2".into())));
    assert_eq!(t.customer_name, "Globex Corp");
    let total = &report.totals[..];
    assert_eq!(total.len(), 1);
    assert_eq!(
        (
            total[0].currency.as_str(),
            total[0].subscriptions,
            total[0].current.to_string(),
            total[0].proposed.to_string()
        ),
        ("USD", 1, "354.76".into(), "293.86".into())
    );
    assert_eq!(
        (total[0].difference.to_string(), said(total[0].change_percent)),
        ("-60.90".into(), Some("-17.2".into()))
    );
    // The calculator of each charge starts from its subscriber's quantity: 1,600,000 tokens.
    let typical = report.typical[0].as_ref().unwrap();
    assert_eq!(
        (typical.quantity.to_string(), typical.of, typical.basis),
        ("1600000".into(), 1, TypicalBasis::Subscribers)
    );
    assert_eq!(
        plan::get(ws.conn(), "pro").unwrap().unwrap().fields.minimum_commitment.unwrap().to_string(),
        "500.00",
        "nothing saved"
    );

    // A plan nobody is on yet starts its calculator from every customer's usage in the
    // calendar month: Globex's gpt-4o tokens with the 999 of October 10, before its subscription.
    let mut fresh = pro.clone();
    fresh.code = "pro_next".into();
    let report = try_plan(&mut ws, &fresh, crate::month("2026-10")).unwrap();
    assert!(report.rows.is_empty() && report.totals.is_empty());
    let typical = report.typical[0].as_ref().unwrap();
    assert_eq!(
        (typical.quantity.to_string(), typical.of, typical.basis),
        ("1600999".into(), 1, TypicalBasis::Customers)
    );

    // A draft that drops the overridden charge cannot bill the subscription: said, not hidden.
    let mut no_calls = pro.clone();
    no_calls.charges.retain(|c| c.meter != "api_calls");
    let report = try_plan(&mut ws, &no_calls, crate::month("2026-10")).unwrap();
    let t = &report.rows[0];
    assert_eq!((t.proposed, t.difference, t.change_percent), (None, None, None));
    assert!(report.totals.is_empty(), "a subscription the draft cannot bill is in no total");
    assert!(t.problem.as_deref().unwrap().contains("no charge on meter \"api_calls\""), "{:?}", t.problem);
    // A value of the wrong type is named by its field, as the editor shows it.
    let mut json = serde_json::to_value(&pro).unwrap();
    json["charges"][0]["tiers"][0]["unit_price"] = json!("0.0000o5");
    let err = plan::fields_from_json(json).unwrap_err();
    assert_eq!(err.problems()[0].path, "charges[0].tiers[0].unit_price");
    // An invalid draft is refused with its problems.
    pro.charges[0].meter = "gone".into();
    let err = try_plan(&mut ws, &pro, crate::month("2026-10")).unwrap_err();
    assert_eq!(err.problems()[0].path, "charges[0].meter");
}

#[test]
fn the_editor_saves_plans_as_versions_and_quotes_prices() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    let mut pro = plan::get(ws.conn(), "pro").unwrap().unwrap().fields;
    pro.name = "Pro 2027".into();
    let now = now();
    let row = ws.write(|tx| plan::save_edited(tx, &pro, false, now)).unwrap();
    assert_eq!((row.version, row.subscriptions), (2, 1), "globex holds version 1");
    assert!(matches!(ws.write(|tx| plan::save_edited(tx, &pro, true, now)), Err(Error::Conflict(_))));
    pro.code = "gold".into();
    assert!(matches!(ws.write(|tx| plan::save_edited(tx, &pro, false, now)), Err(Error::NotFound(_))));
    let created = ws.write(|tx| plan::save_edited(tx, &pro, true, now)).unwrap();
    assert_eq!((created.version, created.subscriptions), (1, 0));
    let rows = plan::rows(ws.conn()).unwrap();
    assert_eq!(rows.iter().map(|r| r.fields.code.as_str()).collect::<Vec<_>>(), ["gold", "payg", "pro"]);

    // The calculator: docs/billing.md's graduated example at 0, 10.5 and 12.
    let price = json!({ "model": "graduated", "tiers": [
        { "up_to": "10", "unit_price": "0.10", "flat_fee": "0.02" }, { "up_to": null, "unit_price": "0.05", "flat_fee": "0.03" } ] });
    let d = |s: &str| s.parse::<crate::Dec>().unwrap().0;
    let usd = Currency::parse("USD").unwrap();
    let quoted = crate::pricing::quote(price, &usd, &[d("0"), d("10.5"), d("12")]).unwrap();
    let amounts: Vec<String> = quoted.iter().map(|q| q.amount.to_string()).collect();
    assert_eq!(amounts, ["0.00", "1.08", "1.15"]);
    assert_eq!(quoted[1].priced.amount.to_string(), "1.075", "unrounded: 1.02 + 0.5 × 0.05 + 0.03");
    let bad = crate::pricing::quote(
        json!({ "model": "volume", "tiers": [ { "up_to": "10", "unit_price": "1" } ] }),
        &usd,
        &[],
    );
    assert_eq!(bad.unwrap_err().problems()[0].path, "tiers[0].up_to");
    let typo = crate::pricing::quote(json!({ "model": "per_unit", "unit_price": "x" }), &usd, &[]);
    assert_eq!(typo.unwrap_err().problems()[0].path, "unit_price");
    let tier_typo = json!({ "model": "graduated", "tiers": [ { "up_to": null, "unit_price": "1", "flat": "2" } ] });
    assert_eq!(crate::pricing::quote(tier_typo, &usd, &[]).unwrap_err().problems()[0].path, "tiers[0].flat");
}

#[test]
fn events_outside_every_subscription_are_counted_as_unbilled() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(
        &mut ws,
        &CATALOG.replace(
            r#""start": "2026-10-15", "anchor_day": 1,"#,
            r#""start": "2026-10-15", "end": "2026-10-25", "anchor_day": 1,"#,
        ),
    );
    october(&mut ws);
    let d = one(&mut ws, "globex", "2026-10");
    assert_eq!(d.active_days, 10, "Oct 15 to 24");
    // Before the start: 1 token event. From Oct 25 on: 10,500 calls, 30 seat events and Oct 31's tokens.
    assert_eq!(d.unbilled_events, 1 + 10_500 + 30 + 1);
    assert_eq!(d.lines[2].quantity.to_string(), "0", "the calls came after the end");
}

#[test]
fn an_overflowing_customer_bricked_the_month_for_everyone() {
    let mut ws = Workspace::in_memory().unwrap();
    // Initech pays a price no real plan has, on the largest usage an event may carry.
    let text = CATALOG
        .replace(r#""unit_price": "0.00001""#, r#""unit_price": "1000000000000""#)
        .replace(r#""tax_exempt": "Reverse charge""#, r#""tax_exempt": "Reverse charge", "currency": "USD""#)
        .replace(
            r#""subscriptions": ["#,
            r#""subscriptions": [
            { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01" },"#,
        );
    apply(&mut ws, &text);
    october(&mut ws);
    // One number past what an event may carry is rejected, naming its field; the rest is kept.
    let rows = [
        event("big1", "initech", "tokens", "2026-10-20T12:00:00Z", json!({"model": "x", "tokens": "999999999999999"})),
        event("big2", "initech", "tokens", "2026-10-20T12:00:00Z", json!({"model": "x", "tokens": 999999999999999u64})),
        event(
            "huge",
            "initech",
            "tokens",
            "2026-10-20T12:00:00Z",
            json!({"model": "x", "tokens": "79000000000000000000000000000"}),
        ),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let report = import(&mut ws, text.as_bytes(), &ImportOptions::new("e.ndjson", Format::Ndjson), now(), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!((report.accepted, report.rejected), (2, 1));
    assert_eq!((report.errors[0].line, report.errors[0].field.as_str()), (3, "tokens"));
    assert_eq!(
        report.errors[0].reason,
        "\"79000000000000000000000000000\" is larger than one event may carry (at most 999999999999999 either way)"
    );
    // 2e15 tokens at 1e12 each passes 10^24: Initech's draft says it cannot be billed, Globex's is as always.
    let drafts = preview_all(&mut ws, crate::month("2026-10")).unwrap();
    let by = |c: &str| drafts.iter().find(|d| d.customer == c).unwrap();
    assert_eq!(by("globex").total.to_string(), "354.76");
    assert_eq!(by("globex").problem, None);
    let initech = by("initech");
    assert!(initech.lines.is_empty() && initech.total.0.is_zero());
    assert_eq!(
        initech.problem.as_deref(),
        Some(
            "the period of sub_initech from 2026-10-01 to 2026-10-31 cannot be billed: the amounts are too large \
             to compute (past 10^24); check the customer's usage"
        )
    );
    // The review blocks it.
    let review = crate::register::review(&mut ws, crate::month("2026-10"), None, Kind::Period, now()).unwrap();
    let initech = review.iter().find(|r| r.draft.customer == "initech").unwrap();
    assert!(initech.warnings.iter().any(|w| w.kind == crate::register::WarningKind::CannotBeBilled && w.blocking));
    // Finalizing the month invoices Globex and reports Initech; nothing panics.
    let done = crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now()).unwrap();
    assert_eq!(done.invoices.len(), 1);
    assert_eq!(done.failures.len(), 1);
    assert!(done.failures[0].message.contains("cannot be billed"), "{:?}", done.failures);
    // The usage itself still reads (2e15 is far from Decimal's limit).
    let from = "2026-10-01T04:00:00Z".parse().unwrap();
    let to = "2026-11-01T04:00:00Z".parse().unwrap();
    let value = usage::value(ws.conn(), "tokens", "initech", from, to, None).unwrap();
    assert_eq!(value.to_string(), "1999999999999998");
}

#[test]
fn sums_past_decimals_range_are_an_overflow_not_a_panic() {
    use crate::meter::Aggregation;
    let meter: MeterFields = serde_json::from_value(json!({
        "code": "tokens", "name": "Tokens", "aggregation": "sum", "property": "tokens"
    }))
    .unwrap();
    let huge = |ts: i64| UsageEvent {
        ts_ms: ts,
        properties: json!({"tokens": "70000000000000000000000000000"}).as_object().unwrap().clone(),
    };
    // Stored before imports bounded values: two of them pass Decimal's limit.
    let events = [huge(1), huge(2)];
    assert_eq!(usage::aggregate(&meter, None, &events), Err(crate::money::Overflow));
    let mut acc = usage::Acc::default();
    let mut other = usage::Acc::default();
    for (i, e) in events.iter().enumerate() {
        let props = crate::event_file::Props::Json(&e.properties);
        if i == 0 { acc.add(&meter, e.ts_ms, 0, &props) } else { other.add(&meter, e.ts_ms, 1, &props) }
    }
    acc.merge(&other);
    assert_eq!(acc.value(Aggregation::Sum), Err(crate::money::Overflow));
    assert!(acc.value(Aggregation::Max).is_ok(), "the largest value is still known");
}

#[test]
fn an_export_after_a_plan_change_was_refused_by_a_fresh_workspace() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    // Globex holds version 1; the Platform fee changes, so the plan gets version 2.
    apply(&mut ws, &CATALOG.replace(r#""amount": "99.00""#, r#""amount": "199.00""#));
    let exported = crate::catalog::export(ws.conn()).unwrap();
    assert_eq!(exported.plan_versions.len(), 1);
    assert_eq!(
        (exported.plan_versions[0].version, exported.plan_versions[0].definition.fees[0].amount.to_string()),
        (1, "99.00".into())
    );
    let text = serde_json::to_string(&exported).unwrap();
    // Into the same workspace: nothing changes.
    let report = ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now())).unwrap();
    assert_eq!((report.created, report.updated), (0, 0));
    // Into a fresh one: Globex is billed on version 1 as before, new subscribers on version 2.
    let mut fresh = Workspace::in_memory().unwrap();
    fresh.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now())).unwrap();
    october(&mut fresh);
    let (a, b) = (one(&mut ws, "globex", "2026-10"), one(&mut fresh, "globex", "2026-10"));
    assert_eq!((b.plan_version, b.total.to_string()), (1, "354.76".into()));
    assert_eq!(a.total, b.total);
    assert_eq!(crate::plan::get(fresh.conn(), "pro").unwrap().unwrap().fields.fees[0].amount.to_string(), "199.00");
    // And the fresh workspace exports the same catalog again.
    assert_eq!(crate::catalog::export(fresh.conn()).unwrap(), exported);
    // A stored version never changes.
    let changed = text.replacen(r#""amount":"99.00""#, r#""amount":"98.00""#, 1);
    let err = ws.write(|tx| catalog::apply(tx, catalog::parse(&changed)?, now())).unwrap_err();
    assert_eq!(err.problems()[0].path, "$.plan_versions[0]");
    assert_eq!(err.problems()[0].message, "plan \"pro\" version 1 is stored with other terms: a version never changes");
}

#[test]
fn reads_were_blocked_for_seconds_by_another_process_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ws.meterdesk");
    let mut ws = Workspace::create(&path).unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    let before = preview_all(&mut ws, crate::month("2026-10")).unwrap();
    // More usage arrives (the rollups are behind it), then another process starts writing.
    events(
        &mut ws,
        &[event("x1", "globex", "tokens", "2026-10-22T12:00:00Z", json!({"model": "gpt-4o", "tokens": 90_000_000}))],
    );
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Opening, listing and previewing go on at once, from the raw events: nothing waits.
    let mut other = Workspace::open(&path).unwrap();
    assert!(crate::invoice::all(other.conn()).unwrap().is_empty());
    let during = preview_all(&mut other, crate::month("2026-10")).unwrap();
    assert_ne!(during[0].total, before[0].total, "the new usage is priced");
    writer.execute_batch("COMMIT").unwrap();
    // Once the writer is done, the rollups catch up and say the same.
    let after = preview_all(&mut other, crate::month("2026-10")).unwrap();
    assert_eq!(after, during);
}

#[test]
fn a_finalize_run_is_backed_up_and_a_restore_keeps_the_current_file_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acme.meterdesk");
    let mut ws = Workspace::create(&path).unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    let at = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 15, 0, 0).unwrap();
    crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), None, at(2)).unwrap();
    let listed = crate::workspace::backup::list(&path).unwrap();
    assert_eq!(
        listed.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["acme-20261102T150000Z-before-finalize.meterdesk"]
    );
    // The backup was taken before the run: it has no invoice.
    let before = rusqlite::Connection::open(&listed[0].path).unwrap();
    assert_eq!(before.query_row("SELECT count(*) FROM invoices", [], |r| r.get::<_, i64>(0)).unwrap(), 0);
    // A backup on demand, never over an existing file.
    let mine = dir.path().join("mine.meterdesk");
    let written = crate::workspace::backup::write(&ws, &mine).unwrap();
    assert!(written.bytes > 0);
    assert_eq!(crate::workspace::backup::write(&ws, &mine).unwrap_err().code(), crate::ErrorCode::Conflict);
    // Later: the invoice is voided and usage arrives. Then the backup is restored.
    ws.write(|tx| crate::invoice::void(tx, "INV-2026-00001", "Wrong", at(3))).unwrap();
    events(&mut ws, &[event("after", "globex", "api_calls", "2026-10-29T12:00:00Z", json!({}))]);
    let restored = crate::workspace::backup::restore(&mut ws, &mine, at(4)).unwrap();
    assert_eq!(restored.kept.name, "acme-20261104T150000Z-before-restore.meterdesk");
    let inv = crate::invoice::get(ws.conn(), "INV-2026-00001").unwrap().unwrap();
    assert_eq!(inv.frozen.draft.status, Status::Finalized, "as it was when backed up");
    assert_eq!(crate::events::count(ws.conn()).unwrap(), 10_538, "the later event is not in the backup");
    // What the workspace held before the restore is kept: the void and the event.
    let kept = Workspace::open(std::path::Path::new(&restored.kept.path)).unwrap();
    assert_eq!(crate::invoice::get(kept.conn(), "INV-2026-00001").unwrap().unwrap().frozen.draft.status, Status::Void);
    assert_eq!(crate::events::count(kept.conn()).unwrap(), 10_539);
    // Another process opening the workspace sees the restored content.
    let other = Workspace::open(&path).unwrap();
    assert_eq!(crate::invoice::get(other.conn(), "INV-2026-00001").unwrap().unwrap().void_reason, None);
    // Not a workspace, or while an import writes: refused, nothing changed.
    let junk = dir.path().join("junk.meterdesk");
    std::fs::write(&junk, "not a database at all, just text").unwrap();
    assert_eq!(
        crate::workspace::backup::restore(&mut ws, &junk, at(5)).unwrap_err().code(),
        crate::ErrorCode::NotAWorkspace
    );
    let lock = std::fs::File::create(ws.import_lock_path().unwrap()).unwrap();
    lock.lock_shared().unwrap();
    assert_eq!(
        crate::workspace::backup::restore(&mut ws, &mine, at(5)).unwrap_err().code(),
        crate::ErrorCode::Conflict
    );
    drop(lock);
    // Only the newest N automatic backups stay.
    let mut s = crate::settings::get(ws.conn()).unwrap();
    s.backups_keep = 2;
    ws.write(|tx| crate::settings::update(tx, s)).unwrap();
    for d in 6..10 {
        crate::invoice::finalize_month(&mut ws, crate::month("2026-11"), None, at(d)).unwrap();
    }
    let names: Vec<String> = crate::workspace::backup::list(&path).unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"acme-20261109T150000Z-before-finalize.meterdesk".to_string()), "{names:?}");
}

#[test]
fn a_meters_groups_are_picked_from_the_values_its_events_carried() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    october(&mut ws);
    // Read after the import without a preview first: the rollups are brought up to date.
    assert_eq!(crate::api::groups_seen(&mut ws, "tokens", None).unwrap(), ["claude", "gpt-4o"]);
    assert_eq!(crate::api::groups_seen(&mut ws, "tokens", Some("globex")).unwrap(), ["claude", "gpt-4o"]);
    assert!(crate::api::groups_seen(&mut ws, "tokens", Some("initech")).unwrap().is_empty());
    assert!(crate::api::groups_seen(&mut ws, "api_calls", None).unwrap().is_empty(), "not grouped");
    let err = crate::api::groups_seen(&mut ws, "nope", None).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn the_workspace_summary_says_its_zone_today_and_the_last_complete_month() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    // 03:00 UTC on November 1 is still October 31 in New York.
    let s = ws.summary(Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap()).unwrap();
    assert_eq!(
        (s.timezone.as_str(), s.today.to_string(), s.last_complete_month.to_string()),
        ("America/New_York", "2026-10-31".into(), "2026-09".into())
    );
    let s = ws.summary(Utc.with_ymd_and_hms(2026, 11, 1, 5, 0, 0).unwrap()).unwrap();
    assert_eq!((s.today.to_string(), s.last_complete_month.to_string()), ("2026-11-01".into(), "2026-10".into()));
}

/// Cost rates for the catalog's meters: tokens of gpt-4o at 0.000003, cut to
/// 0.000002 from Oct 21 (local); storage at 0.10 a GB; API calls unpriced.
const COSTS: &str = r#"{ "costs": [
    { "meter": "tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.000003", "from": "2026-01-01" },
    { "meter": "tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.000002", "from": "2026-10-21" },
    { "meter": "storage_gb", "currency": "USD", "unit_cost": "0.10", "from": "2026-01-01" }
] }"#;

fn costs(d: &Draft) -> Vec<(&str, Option<String>)> {
    d.lines
        .iter()
        .filter(|l| l.kind == LineKind::Usage)
        .map(|l| (l.description.as_str(), l.cost.map(|c| format!("{c} {}", l.cost_currency.as_deref().unwrap_or("?")))))
        .collect()
}

#[test]
fn usage_lines_carry_their_cost_by_day_and_finalizing_freezes_it() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    apply(&mut ws, COSTS);
    october(&mut ws);
    let d = one(&mut ws, "globex", "2026-10");
    // gpt-4o by local day: Oct 20 1,000,000 × 0.000003 = 3.00; Oct 21 500,000 and
    // Oct 31 100,000 × 0.000002 = 1.20: 4.20 against 7.40 billed. Storage (max)
    // whole at the rate of the period's first day: 41 × 0.10 = 4.10.
    let expected = [
        ("LLM tokens — gpt-4o", Some("4.20 USD".to_string())),
        ("API calls", None),
        ("Storage", Some("4.10 USD".to_string())),
        ("Active seats", None),
    ];
    assert_eq!(costs(&d), expected);
    // Margins: tokens 7.40 − 4.20 = 3.20 (43.2 %); storage 25.00 − 4.10 = 20.90
    // (83.6 %); the draft: subtotal 295.63 − 8.30 = 287.33 (97.2 %).
    let tokens = &d.lines[1];
    assert_eq!(
        (tokens.margin.map(|m| m.to_string()), tokens.margin_percent.map(|m| m.to_string())),
        (Some("3.20".into()), Some("43.2".into()))
    );
    assert_eq!(d.lines[3].margin_percent.map(|m| m.to_string()).as_deref(), Some("83.6"));
    let m = d.margin.unwrap();
    assert_eq!([m.revenue, m.cost, m.margin].map(|x| x.to_string()), ["295.63", "8.30", "287.33"]);
    assert_eq!(m.margin_percent.unwrap().to_string(), "97.2");
    // The raw events give the same costs as the rollups.
    let subs = crate::subscription::of_customer(ws.conn(), "globex").unwrap();
    let raw = drafts(ws.conn(), &mut RawEvents::new(ws.conn()), &subs, crate::month("2026-10")).unwrap();
    assert_eq!(costs(&raw[0]), expected);
    // Finalized, the invoice keeps its costs when the rates change afterwards.
    let done = crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now()).unwrap();
    let number = done.invoices[0].frozen.draft.number.clone().unwrap();
    apply(
        &mut ws,
        r#"{ "costs": [ { "meter": "tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.00001", "from": "2026-10-21" } ] }"#,
    );
    let invoice = crate::invoice::get(ws.conn(), &number).unwrap().unwrap();
    assert_eq!(costs(&invoice.frozen.draft), expected);
    // The look back at the month shows today's rates.
    let now_rates = one(&mut ws, "globex", "2026-10");
    assert_eq!(costs(&now_rates)[0].1.as_deref(), Some("9.00 USD"), "3.00 + 600,000 × 0.00001");
}

#[test]
fn a_charge_on_every_model_is_costed_model_by_model() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    apply(&mut ws, COSTS);
    apply(
        &mut ws,
        r#"{ "costs": [ { "meter": "tokens", "currency": "USD", "unit_cost": "0.000001", "from": "2026-01-01" } ],
             "subscriptions": [ { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01" } ] }"#,
    );
    events(
        &mut ws,
        &[
            event("i1", "initech", "tokens", "2026-10-20T12:00:00Z", json!({"model": "gpt-4o", "tokens": 1_000_000})),
            event("i2", "initech", "tokens", "2026-10-22T12:00:00Z", json!({"model": "gpt-4o", "tokens": 1_000_000})),
            event("i3", "initech", "tokens", "2026-10-22T13:00:00Z", json!({"model": "claude", "tokens": 500_000})),
            event("i4", "initech", "tokens", "2026-10-23T13:00:00Z", json!({"tokens": 250_000})),
        ],
    );
    // One line for every model (2,750,000 tokens at 0.00001 = 27.50); its cost model by model:
    // gpt-4o 1,000,000 × 0.000003 (Oct 20) + 1,000,000 × 0.000002 (after the cut) = 5.00,
    // claude at the rate for every model 500,000 × 0.000001 = 0.50, and the
    // 250,000 tokens without a model at that rate too: 0.25. 5.75 in all.
    let d = one(&mut ws, "initech", "2026-10");
    assert_eq!(costs(&d), [("LLM tokens", Some("5.75 USD".to_string()))]);
    let subs = crate::subscription::of_customer(ws.conn(), "initech").unwrap();
    let raw = drafts(ws.conn(), &mut RawEvents::new(ws.conn()), &subs, crate::month("2026-10")).unwrap();
    assert_eq!(costs(&raw[0]), costs(&d), "the raw events price the models alike");
}

#[test]
fn a_draft_plan_shows_each_subscribers_margin_now_and_on_the_draft() {
    let mut ws = Workspace::in_memory().unwrap();
    apply(&mut ws, CATALOG);
    apply(&mut ws, COSTS);
    october(&mut ws);
    let mut pro = catalog::parse(CATALOG).unwrap().plans.remove(0);
    // The tokens at cost: 1,600,000 × 0.000002 (below the 0.000003 cost of Oct 20) on a plan
    // without its commitment or storage price, so the usage costs more than it brings.
    pro.minimum_commitment = None;
    let crate::pricing::PriceFields::Graduated { tiers } = &mut pro.charges[0].price else { panic!("graduated") };
    tiers[0].unit_price = "0.000002".parse().unwrap();
    tiers[1].unit_price = "0.000002".parse().unwrap();
    let report = try_plan(&mut ws, &pro, crate::month("2026-10")).unwrap();
    let t = &report.rows[0];
    // Now: revenue 295.63 (the subtotal), cost 4.20 + 4.10 = 8.30: 97.2 % (as the draft says).
    let now = t.current_margin.unwrap();
    assert_eq!((now.cost.to_string(), now.margin_percent.unwrap().to_string()), ("8.30".into(), "97.2".into()));
    // On the draft: fee 54.29 + tokens 3.20 + calls 0.40 + storage 25.00 + seats 180.00 = 262.89,
    // Launch 10 % = 26.29: revenue 236.60 against the same 8.30 of cost: 228.30, 96.5 %.
    let draft = t.proposed_margin.unwrap();
    assert_eq!([draft.revenue, draft.cost, draft.margin].map(|d| d.to_string()), ["236.60", "8.30", "228.30"]);
    assert_eq!(draft.margin_percent.unwrap().to_string(), "96.5");
}
