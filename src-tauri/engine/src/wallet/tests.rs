//! Wallet rules: burn order, expiry at local midnights, rollover caps, the
//! ledger never negative, and the ledger's sums under random operations.

use std::str::FromStr;

use rust_decimal_macros::dec;

use super::*;
use crate::alert::{AlertKind, acknowledge, alerts};
use crate::bill;
use crate::catalog;
use crate::invoice;
use crate::projection::{Evaluation, evaluate, history, overview, projection};
use crate::rng::Rng;
use crate::stored::DecColumns;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::from_str(text).unwrap()
}

/// A flat 100.00 a month plan in arrears and 0.10 a call, 20% tax: a period
/// without calls is invoiced 120.00.
fn catalog_text(zone: &str) -> String {
    format!(
        r#"{{
      "workspace": {{ "name": "Acme AI", "currency": "USD", "timezone": "{zone}" }},
      "customers": [ {{ "id": "acme", "name": "Acme", "tax_rate": "0.20" }},
                     {{ "id": "yen", "name": "Yen Co", "currency": "JPY", "tax_exempt": "Export" }} ],
      "meters": [ {{ "code": "calls", "name": "Calls", "aggregation": "count" }} ],
      "plans": [ {{ "code": "flat", "name": "Flat", "currency": "USD", "interval": "month",
                   "fees": [ {{ "name": "Platform fee", "amount": "100.00", "timing": "arrears" }} ],
                   "charges": [ {{ "meter": "calls", "model": "per_unit", "unit_price": "0.10" }} ] }},
                 {{ "code": "flat2", "name": "Flat two", "currency": "USD", "interval": "month",
                   "fees": [ {{ "name": "Support", "amount": "100.00", "timing": "arrears" }} ] }} ],
      "subscriptions": [ {{ "id": "sub_acme", "customer": "acme", "plan": "flat", "start": "2026-01-01" }} ]
    }}"#
    )
}

fn workspace_in(zone: &str) -> Workspace {
    let mut ws = Workspace::in_memory().unwrap();
    let c = catalog::parse(&catalog_text(zone)).unwrap();
    ws.write(|tx| catalog::apply(tx, c, utc("2025-12-01T00:00:00Z"))).unwrap();
    ws
}

fn workspace() -> Workspace {
    workspace_in("America/New_York")
}

fn fields(id: &str, amount: &str, kind: GrantKind, expires: Option<&str>, priority: i64) -> GrantFields {
    GrantFields {
        id: id.into(),
        amount: Dec::from_str(amount).unwrap(),
        kind,
        expires: expires.map(day),
        priority,
        rollover: None,
        reference: None,
        note: String::new(),
    }
}

fn give(ws: &mut Workspace, f: &GrantFields, at: &str) -> Grant {
    ws.write(|tx| grant(tx, "acme", f, Origin::Manual, utc(at))).unwrap()
}

fn remaining(ws: &Workspace, code: &str) -> String {
    get_grant(ws.conn(), "acme", code).unwrap().unwrap().remaining.to_string()
}

/// Finalizes acme's invoice of the period starting in `month`, issued at `at`.
fn finalize(ws: &mut Workspace, month: &str, at: &str) -> invoice::Invoice {
    let drafts = bill::preview_customer(ws, "acme", crate::month(month)).unwrap();
    let draft = drafts.iter().find(|d| d.subscription == "sub_acme").unwrap().clone();
    ws.write(|tx| invoice::finalize(tx, &draft, utc(at))).unwrap()
}

fn acme_id(ws: &Workspace) -> i64 {
    ws.conn().query_row("SELECT id FROM customers WHERE external_id = 'acme'", [], |r| r.get(0)).unwrap()
}

#[test]
fn the_design_example_burns_a_then_b_and_nothing_is_due() {
    let mut ws = workspace();
    give(&mut ws, &fields("A", "100", GrantKind::Free, Some("2026-12-31"), 0), "2026-10-01T12:00:00Z");
    give(&mut ws, &fields("B", "50", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    let inv = finalize(&mut ws, "2026-10", "2026-11-02T15:00:00Z");
    let d = &inv.frozen.draft;
    assert_eq!(
        (d.total.to_string(), d.credits_applied.to_string(), d.amount_due.to_string()),
        ("120.00".into(), "120.00".into(), "0.00".into())
    );
    assert_eq!((remaining(&ws, "A"), remaining(&ws, "B")), ("0.00".into(), "30.00".into()));
    let used =
        ledger(ws.conn(), "acme", &LedgerQuery { kinds: vec![EntryKind::Consumption], ..Default::default() }).unwrap();
    let got: Vec<(String, String, Option<String>)> =
        used.iter().rev().map(|e| (e.grant.clone(), e.amount.to_string(), e.invoice.clone())).collect();
    let number = d.number.clone();
    assert_eq!(got, [("A".into(), "-100.00".into(), number.clone()), ("B".into(), "-20.00".into(), number)]);
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "30.00");
    // Stored as it was frozen: the register owes nothing.
    let amount_due: String = ws.conn().query_row("SELECT amount_due FROM invoices", [], |r| r.get(0)).unwrap();
    assert_eq!(amount_due, "0.00");
    let today = day("2026-12-31");
    let entry = crate::register::entries(ws.conn(), today).unwrap().remove(0);
    assert_eq!((entry.standing, entry.outstanding.to_string()), (crate::register::Standing::Paid, "0.00".into()));
}

#[test]
fn burn_order_soonest_expiry_then_priority_then_oldest() {
    // Each case: grants (id, expires, priority, granted at), what an invoice of 70 takes from each.
    type Case =
        (&'static str, Vec<(&'static str, Option<&'static str>, i64, &'static str)>, Vec<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        (
            "sooner expiry first, whatever the priority",
            vec![
                ("late", Some("2027-06-30"), 9, "2026-10-01T00:00:00Z"),
                ("soon", Some("2026-12-31"), 0, "2026-10-02T00:00:00Z"),
            ],
            vec![("soon", "50.00"), ("late", "20.00")],
        ),
        (
            "never-expiring last, whatever the priority",
            vec![
                ("forever", None, 9, "2026-09-01T00:00:00Z"),
                ("dated", Some("2030-01-31"), 0, "2026-10-02T00:00:00Z"),
            ],
            vec![("dated", "50.00"), ("forever", "20.00")],
        ),
        (
            "same expiry: higher priority first",
            vec![
                ("low", Some("2026-12-31"), 1, "2026-09-01T00:00:00Z"),
                ("high", Some("2026-12-31"), 5, "2026-10-02T00:00:00Z"),
            ],
            vec![("high", "50.00"), ("low", "20.00")],
        ),
        (
            "same expiry and priority: oldest first",
            vec![
                ("newer", Some("2026-12-31"), 1, "2026-10-02T00:00:00Z"),
                ("older", Some("2026-12-31"), 1, "2026-10-01T00:00:00Z"),
            ],
            vec![("older", "50.00"), ("newer", "20.00")],
        ),
        (
            "granted the same second: the first written first",
            vec![("first", None, 0, "2026-10-01T00:00:00Z"), ("second", None, 0, "2026-10-01T00:00:00Z")],
            vec![("first", "50.00"), ("second", "20.00")],
        ),
    ];
    for (name, grants, expected) in cases {
        let mut ws = workspace();
        for (id, expires, priority, at) in &grants {
            give(&mut ws, &fields(id, "50", GrantKind::Free, *expires, *priority), at);
        }
        let id = acme_id(&ws);
        let burn =
            ws.write(|tx| plan_burn(tx, zone(tx)?, id, "USD", dec!(70.00), utc("2026-11-02T15:00:00Z"))).unwrap();
        let got: Vec<(String, String)> = burn.parts().map(|(g, a)| (g.to_string(), a.to_string())).collect();
        let want: Vec<(String, String)> = expected.iter().map(|(g, a)| (g.to_string(), a.to_string())).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_grant_made_after_the_issue_time_or_in_another_currency_gives_nothing() {
    let mut ws = workspace();
    give(&mut ws, &fields("later", "50", GrantKind::Free, None, 0), "2026-11-03T00:00:00Z");
    let id = acme_id(&ws);
    let burn = ws.write(|tx| plan_burn(tx, zone(tx)?, id, "USD", dec!(10), utc("2026-11-02T15:00:00Z"))).unwrap();
    assert_eq!(burn.applied(), Decimal::ZERO);
    let burn = ws.write(|tx| plan_burn(tx, zone(tx)?, id, "EUR", dec!(10), utc("2026-11-04T15:00:00Z"))).unwrap();
    assert_eq!(burn.applied(), Decimal::ZERO);
    let burn = ws.write(|tx| plan_burn(tx, zone(tx)?, id, "USD", dec!(0), utc("2026-11-04T15:00:00Z"))).unwrap();
    assert_eq!(burn.applied(), Decimal::ZERO, "a zero total takes nothing");
}

#[test]
fn a_grant_expires_at_the_local_midnight_after_its_last_day() {
    // (zone, last day, the last instant it is usable, the instant it expires)
    let cases = [
        ("America/New_York", "2026-12-31", "2027-01-01T04:59:59Z", "2027-01-01T05:00:00Z"),
        // The night clocks spring forward (2:00 → 3:00): midnight itself exists, still EST.
        ("America/New_York", "2027-03-13", "2027-03-14T04:59:59Z", "2027-03-14T05:00:00Z"),
        // Santiago skips midnight (00:00 → 01:00, 2026-09-06): the day starts at 01:00 -03.
        ("America/Santiago", "2026-09-05", "2026-09-06T03:59:59Z", "2026-09-06T04:00:00Z"),
        // A leap February's last day.
        ("Europe/Berlin", "2028-02-29", "2028-02-29T22:59:59Z", "2028-02-29T23:00:00Z"),
    ];
    for (zone, last, usable, gone) in cases {
        let mut ws = workspace_in(zone);
        give(&mut ws, &fields("g", "40", GrantKind::Free, Some(last), 0), "2026-01-01T12:00:00Z");
        let id = acme_id(&ws);
        let at_usable = ws
            .write(|tx| {
                let burn = plan_burn(tx, super::zone(tx)?, id, "USD", dec!(10), utc(usable))?;
                Err::<(), _>(Error::Conflict(format!("{}", burn.applied())))
            })
            .unwrap_err()
            .to_string();
        assert_eq!(at_usable, "10", "{zone} {last}: usable at {usable}");
        let burn = ws.write(|tx| plan_burn(tx, super::zone(tx)?, id, "USD", dec!(10), utc(gone))).unwrap();
        assert_eq!(burn.applied(), Decimal::ZERO, "{zone} {last}: expired at {gone}");
        let expiry =
            ledger(ws.conn(), "acme", &LedgerQuery { kinds: vec![EntryKind::Expiry], ..Default::default() }).unwrap();
        assert_eq!(expiry.len(), 1, "{zone}: one expiry entry");
        assert_eq!((expiry[0].amount.to_string(), expiry[0].at), ("-40.00".into(), utc(gone)), "{zone}");
        let g = get_grant(ws.conn(), "acme", "g").unwrap().unwrap();
        assert_eq!((g.state, g.remaining.to_string()), (GrantState::Expired, "0.00".into()));
    }
}

#[test]
fn an_invoice_issued_after_the_expiry_gets_nothing_from_the_grant() {
    let mut ws = workspace();
    give(&mut ws, &fields("dec", "100", GrantKind::Free, Some("2026-12-31"), 0), "2026-10-01T12:00:00Z");
    // October's invoice, issued on January 1st in New York.
    let inv = finalize(&mut ws, "2026-10", "2027-01-01T05:00:00Z");
    assert_eq!(inv.frozen.draft.credits_applied.to_string(), "0.00");
    assert_eq!(inv.frozen.draft.amount_due.to_string(), "120.00");
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "0.00");
}

#[test]
fn rollover_caps_by_percent_and_amount_and_the_rest_expires() {
    // (rule percent, rule max, rule months, rolled, expired, the rolled grant's last day)
    let cases = [
        (Some("50"), Some("300"), None, "300.00", "500.00", "2026-12-31"),
        (Some("25"), None, None, "200.00", "600.00", "2026-12-31"),
        (None, Some("120.50"), Some(2), "120.50", "679.50", "2027-01-31"),
        (None, None, None, "800.00", "0.00", "2026-12-31"),
        // 33.3333% of 800.00 is 266.66664: cut to the cent, never rounded up.
        (Some("33.3333"), None, None, "266.66", "533.34", "2026-12-31"),
    ];
    for (percent, max, months, rolled, expired, last_day) in cases {
        let mut ws = workspace();
        let mut f = fields("commit", "1000", GrantKind::Paid, Some("2026-11-30"), 3);
        f.rollover = Some(Rollover {
            percent: percent.map(|p| Dec::from_str(p).unwrap()),
            max: max.map(|p| Dec::from_str(p).unwrap()),
            months,
        });
        give(&mut ws, &f, "2026-11-01T12:00:00Z");
        ws.write(|tx| adjust(tx, "acme", "commit", dec!(-200), "usage billed elsewhere", utc("2026-11-10T12:00:00Z")))
            .unwrap();
        let w = read(&mut ws, "acme", utc("2026-12-01T05:00:00Z")).unwrap();
        let new = w.grants.iter().find(|g| g.origin == Origin::Rollover).map(|g| {
            (
                g.fields.amount.to_string(),
                g.fields.expires.unwrap().to_string(),
                g.fields.priority,
                g.rolled_from.clone(),
            )
        });
        assert_eq!(
            new,
            Some((rolled.to_string(), last_day.to_string(), 3, Some("commit".to_string()))),
            "{percent:?} {max:?}"
        );
        let kinds: Vec<(EntryKind, String)> =
            ledger(ws.conn(), "acme", &LedgerQuery { grant: Some("commit".into()), ..Default::default() })
                .unwrap()
                .iter()
                .rev()
                .map(|e| (e.kind, e.amount.to_string()))
                .collect();
        assert_eq!(
            kinds,
            [
                (EntryKind::Grant, "1000.00".into()),
                (EntryKind::Adjustment, "-200.00".into()),
                (EntryKind::Rollover, format!("-{rolled}")),
                (EntryKind::Expiry, if expired == "0.00" { expired.to_string() } else { format!("-{expired}") }),
            ],
            "{percent:?} {max:?}"
        );
        assert_eq!(w.balance.to_string(), rolled);
        // The rolled credit does not roll again: it expires whole after its last day.
        let later = read(&mut ws, "acme", utc("2027-03-01T05:00:00Z")).unwrap();
        assert_eq!(later.balance.to_string(), "0.00");
        assert_eq!(later.grants.iter().filter(|g| g.origin == Origin::Rollover).count(), 1);
    }
}

#[test]
fn months_later_keeps_the_end_of_a_month() {
    for (from, months, to) in [
        ("2026-11-30", 1, "2026-12-31"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-02-28", 1, "2026-03-31"),
        ("2026-01-15", 1, "2026-02-15"),
        ("2026-12-31", 3, "2027-03-31"),
    ] {
        assert_eq!(months_later(day(from), months), Some(day(to)), "{from} + {months}");
    }
}

#[test]
fn the_ledger_refuses_to_go_negative_or_be_rewritten() {
    let mut ws = workspace();
    give(&mut ws, &fields("g", "50", GrantKind::Free, None, 0), "2026-10-01T12:00:00Z");
    let err =
        ws.write(|tx| adjust(tx, "acme", "g", dec!(-50.01), "too much", utc("2026-10-02T00:00:00Z"))).unwrap_err();
    assert!(err.to_string().contains("never goes below zero"), "{err}");
    // Even a hand-written row cannot carry a negative balance, and no row can change.
    let id = acme_id(&ws);
    for sql in [
        format!(
            "INSERT INTO wallet_entries (customer_id, grant_id, kind, amount, grant_balance, balance, at)
             VALUES ({id}, 1, 'adjustment', '-60.00', '-10.00', '-10.00', '2026-10-02T00:00:00Z')"
        ),
        "UPDATE wallet_entries SET amount = '500.00'".to_string(),
        "DELETE FROM wallet_entries".to_string(),
        "UPDATE wallet_grants SET amount = '500.00'".to_string(),
    ] {
        assert!(ws.conn().execute(&sql, []).is_err(), "{sql}");
    }
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "50.00");
    // A void takes what is left; nothing can be adjusted onto it afterwards.
    ws.write(|tx| void_grant(tx, "acme", "g", "sold by mistake", utc("2026-10-03T00:00:00Z"))).unwrap();
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "0.00");
    let err = ws.write(|tx| adjust(tx, "acme", "g", dec!(5), "revive", utc("2026-10-04T00:00:00Z"))).unwrap_err();
    assert_eq!(err.code(), crate::ErrorCode::Conflict);
}

#[test]
fn grants_are_validated_field_by_field() {
    let usd = Currency::parse("USD").unwrap();
    let jpy = Currency::parse("JPY").unwrap();
    let mut bad = fields(" ", "0", GrantKind::Free, None, 0);
    bad.rollover = Some(Rollover { percent: Some(Dec(dec!(0))), max: Some(Dec(dec!(1.001))), months: Some(0) });
    let paths: Vec<String> = bad.validate(usd).unwrap_err().into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["id", "amount", "rollover", "rollover.percent", "rollover.max", "rollover.months"]);
    let err = fields("y", "100.5", GrantKind::Paid, None, 0).validate(jpy).unwrap_err();
    assert_eq!(err[0].path, "amount");
    assert!(err[0].message.contains("JPY"), "{}", err[0].message);
    let ok = fields(" g1 ", "100", GrantKind::Paid, None, 0).validate(usd).unwrap();
    assert_eq!((ok.id.as_str(), ok.amount.to_string()), ("g1", "100.00".into()));
    // A manual grant cannot expire in the past; the same id twice is a conflict.
    let mut ws = workspace();
    let past = fields("p", "10", GrantKind::Free, Some("2026-10-31"), 0);
    let err = ws.write(|tx| grant(tx, "acme", &past, Origin::Manual, utc("2026-11-02T00:00:00Z"))).unwrap_err();
    assert_eq!(err.problems()[0].path, "expires");
    give(&mut ws, &fields("g1", "10", GrantKind::Free, None, 0), "2026-11-02T00:00:00Z");
    let err = ws
        .write(|tx| {
            grant(
                tx,
                "acme",
                &fields("g1", "10", GrantKind::Free, None, 0),
                Origin::Manual,
                utc("2026-11-02T00:00:00Z"),
            )
        })
        .unwrap_err();
    assert_eq!(err.code(), crate::ErrorCode::Conflict);
    let err = ws.write(|tx| grant(tx, "nobody", &ok, Origin::Manual, utc("2026-11-02T00:00:00Z"))).unwrap_err();
    assert_eq!(err.code(), crate::ErrorCode::NotFound);
}

#[test]
fn a_huge_grant_overflowed_every_later_grant() {
    let usd = Currency::parse("USD").unwrap();
    let huge = fields("huge", "79000000000000000000000000000", GrantKind::Paid, None, 0);
    let err = huge.validate(usd).unwrap_err();
    assert_eq!(err[0].path, "amount");
    assert_eq!(
        err[0].message,
        "79000000000000000000000000000 is more than one entry may carry (at most 1000000000000)"
    );
    // The largest grants allowed still add up, and later grants and adjustments work.
    let mut ws = workspace();
    for i in 0..3 {
        give(&mut ws, &fields(&format!("max{i}"), "1000000000000", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    }
    let t = utc("2026-10-02T00:00:00Z");
    ws.write(|tx| adjust(tx, "acme", "max0", dec!(-5), "typo", t)).unwrap();
    assert_eq!(crate::wallet::balance(ws.conn(), "acme").unwrap(), dec!(2999999999995.00));
    let err = ws.write(|tx| adjust(tx, "acme", "max1", dec!(1000000000001), "too much", t)).unwrap_err();
    assert_eq!(err.problems()[0].path, "amount");
}

/// A (100.00, last day November 30th) and B (50.00 paid) pay all of
/// October's 120.00: A 100.00, B 20.00. Returns the invoice's number.
fn october_paid_by_a_and_b(ws: &mut Workspace) -> String {
    give(ws, &fields("A", "100", GrantKind::Free, Some("2026-11-30"), 0), "2026-10-01T12:00:00Z");
    give(ws, &fields("B", "50", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    finalize(ws, "2026-10", "2026-11-02T15:00:00Z").frozen.draft.number.unwrap()
}

/// A grant's ledger entries, oldest first: kind and amount.
fn entries_of(ws: &Workspace, code: &str) -> Vec<(EntryKind, String)> {
    let found = ledger(ws.conn(), "acme", &LedgerQuery { grant: Some(code.into()), ..Default::default() }).unwrap();
    found.iter().rev().map(|e| (e.kind, e.amount.to_string())).collect()
}

#[test]
fn voiding_an_invoice_gives_its_credits_back_unless_the_grant_has_expired() {
    let mut ws = workspace();
    let number = october_paid_by_a_and_b(&mut ws);
    // Voided in December: A has expired meanwhile, B gets its 20.00 back.
    ws.write(|tx| invoice::void(tx, &number, "wrong plan", utc("2026-12-05T15:00:00Z"))).unwrap();
    assert_eq!((remaining(&ws, "A"), remaining(&ws, "B")), ("0.00".into(), "50.00".into()));
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "50.00");
    assert_eq!(
        entries_of(&ws, "A"),
        [
            (EntryKind::Grant, "100.00".into()),
            (EntryKind::Consumption, "-100.00".into()),
            (EntryKind::Expiry, "0.00".into()),
            (EntryKind::Consumption, "100.00".into()),
            (EntryKind::Expiry, "-100.00".into()),
        ]
    );
}

fn credit_note(
    ws: &mut Workspace,
    number: &str,
    request: crate::credit::Request,
    at: &str,
) -> crate::credit::CreditNote {
    ws.write(|tx| crate::credit::issue(tx, number, "Disputed", &request, utc(at))).unwrap()
}

fn outstanding(ws: &Workspace) -> (crate::register::Standing, String) {
    let e = crate::register::entries(ws.conn(), day("2026-11-20")).unwrap().remove(0);
    (e.standing, e.outstanding.to_string())
}

#[test]
fn credit_notes_take_off_the_amount_due_first_then_give_the_wallet_back_what_it_paid() {
    use crate::credit::Request;
    use crate::register::Standing;
    let mut ws = workspace();
    give(&mut ws, &fields("A", "100", GrantKind::Free, Some("2026-12-31"), 0), "2026-10-01T12:00:00Z");
    let inv = finalize(&mut ws, "2026-10", "2026-11-02T15:00:00Z");
    let number = inv.frozen.draft.number.clone().unwrap();
    // 120.00: 100.00 paid by credits, 20.00 due.
    assert_eq!(inv.frozen.draft.amount_due.to_string(), "20.00");
    let cases = [
        // (tax included, returned by this note, A's remaining, owed after, standing)
        ("12.00", "0.00", "0.00", "8.00", Standing::Open),
        // Nothing owed after its credit notes: credited (docs/billing.md "Payments, reminders and sending").
        ("24.00", "16.00", "16.00", "0.00", Standing::Credited),
        ("84.00", "84.00", "100.00", "0.00", Standing::Credited),
    ];
    for (k, (amount, returned, left, owed, standing)) in cases.into_iter().enumerate() {
        let note = credit_note(&mut ws, &number, Request::Amount(amount.parse().unwrap()), "2026-11-10T15:00:00Z");
        assert_eq!(note.credits_returned.to_string(), returned, "note {k}");
        assert_eq!(remaining(&ws, "A"), left, "note {k}");
        assert_eq!(outstanding(&ws), (standing, owed.to_string()), "note {k}");
        check_ledger(&ws);
    }
    let back: Vec<(String, Option<String>, String)> =
        ledger(ws.conn(), "acme", &LedgerQuery { kinds: vec![EntryKind::Consumption], ..Default::default() })
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| (e.amount.to_string(), e.invoice, e.note))
            .collect();
    let inv_no = Some(number.clone());
    assert_eq!(
        back,
        [
            ("-100.00".into(), inv_no.clone(), format!("applied to {number}")),
            ("16.00".into(), inv_no.clone(), format!("given back: CN-2026-00002 credits {number}")),
            ("84.00".into(), inv_no, format!("given back: CN-2026-00003 credits {number}")),
        ]
    );
    // Nothing is left to credit, so nothing more comes back.
    let err = ws.write(|tx| crate::credit::issue(tx, &number, "again", &Request::Full, utc("2026-11-11T15:00:00Z")));
    assert!(err.is_err());
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "100.00");
}

#[test]
fn a_credit_note_refills_the_grant_burned_last_first_and_an_expired_grant_expires_again() {
    let mut ws = workspace();
    let number = october_paid_by_a_and_b(&mut ws);
    // All 120.00 paid by credits (A 100, B 20): a 30.00 note refills B's 20.00, then 10.00 of A.
    let amount = crate::credit::Request::Amount("30.00".parse().unwrap());
    let note = credit_note(&mut ws, &number, amount, "2026-11-10T15:00:00Z");
    assert_eq!(note.credits_returned.to_string(), "30.00");
    assert_eq!((remaining(&ws, "A"), remaining(&ws, "B")), ("10.00".into(), "50.00".into()));
    // In December A has expired: what a note gives back to it expires again at once.
    let note = credit_note(&mut ws, &number, crate::credit::Request::Full, "2026-12-05T15:00:00Z");
    assert_eq!(note.credits_returned.to_string(), "90.00");
    assert_eq!((remaining(&ws, "A"), remaining(&ws, "B")), ("0.00".into(), "50.00".into()));
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "50.00");
    assert_eq!(
        entries_of(&ws, "A"),
        [
            (EntryKind::Grant, "100.00".into()),
            (EntryKind::Consumption, "-100.00".into()),
            (EntryKind::Consumption, "10.00".into()),
            (EntryKind::Expiry, "-10.00".into()),
            (EntryKind::Consumption, "90.00".into()),
            (EntryKind::Expiry, "-90.00".into()),
        ]
    );
    check_ledger(&ws);
}

#[test]
fn concurrent_finalizes_never_take_more_than_the_wallet_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.meterdesk");
    {
        let mut ws = Workspace::create(&path).unwrap();
        let c = catalog::parse(&catalog_text("America/New_York")).unwrap();
        ws.write(|tx| catalog::apply(tx, c, utc("2025-12-01T00:00:00Z"))).unwrap();
        give(&mut ws, &fields("g", "150", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    }
    // Three windows finalize acme's invoices of two months (one of them twice) at once.
    for round in 0..4 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let handles: Vec<_> = [1, 2, 1]
            .into_iter()
            .map(|k| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut ws = Workspace::open(&path).unwrap();
                    let month = format!("2026-{:02}", 2 * round + k);
                    let draft = bill::preview_customer(&mut ws, "acme", crate::month(&month)).unwrap().remove(0);
                    barrier.wait();
                    ws.write(|tx| invoice::finalize(tx, &draft, utc("2026-11-02T15:00:00Z"))).ok()
                })
            })
            .collect();
        let done: Vec<invoice::Invoice> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(done.len(), 2, "round {round}: one of the two attempts at the same month is refused");
    }
    let ws = Workspace::open(&path).unwrap();
    let credits: Decimal = invoice::all(ws.conn()).unwrap().iter().map(|i| i.frozen.draft.credits_applied.0).sum();
    assert_eq!(credits, dec!(150.00), "8 invoices of 120.00 took exactly the 150.00 there was");
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "0.00");
    check_ledger(&ws);
}

/// The ledger's invariants: each entry's balances are the running sums of the
/// amounts before it (the wallet's and its grant's), never negative; each
/// invoice's credits are what its consumption entries took.
fn check_ledger(ws: &Workspace) {
    let conn = ws.conn();
    let mut stmt = conn
        .prepare("SELECT customer_id, grant_id, amount, grant_balance, balance FROM wallet_entries ORDER BY id")
        .unwrap();
    let rows: Vec<(i64, i64, Dec, Dec, Dec)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.dec(2)?, r.dec(3)?, r.dec(4)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut wallets: std::collections::HashMap<i64, Decimal> = Default::default();
    let mut grants: std::collections::HashMap<i64, Decimal> = Default::default();
    for (customer, grant, amount, grant_balance, balance) in rows {
        let w = wallets.entry(customer).or_default();
        *w += amount.0;
        let g = grants.entry(grant).or_default();
        *g += amount.0;
        assert_eq!((*g, *w), (grant_balance.0, balance.0));
        assert!(*g >= Decimal::ZERO && *w >= Decimal::ZERO);
    }
    for inv in invoice::all(conn).unwrap() {
        let number = inv.frozen.draft.number.clone().unwrap();
        let consumed: Vec<Dec> = conn
            .prepare(
                "SELECT e.amount FROM wallet_entries e JOIN invoices i ON i.id = e.invoice_id
                 WHERE i.number = ?1 AND e.kind = 'consumption' AND e.amount LIKE '-%'",
            )
            .unwrap()
            .query_map([&number], |r| r.dec(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let taken: Decimal = consumed.iter().map(|d| -d.0).sum();
        assert_eq!(taken, inv.frozen.draft.credits_applied.0, "{number}");
        assert_eq!(inv.frozen.draft.amount_due.0, inv.frozen.draft.total.0 - taken, "{number}");
        // Given back: what its credit notes returned, or all of it once void.
        let given: Vec<Dec> = conn
            .prepare(
                "SELECT e.amount FROM wallet_entries e JOIN invoices i ON i.id = e.invoice_id
                 WHERE i.number = ?1 AND e.kind = 'consumption' AND e.amount NOT LIKE '-%'",
            )
            .unwrap()
            .query_map([&number], |r| r.dec(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let back: Decimal = given.iter().map(|d| d.0).sum();
        let notes = crate::credit::of_invoice(conn, &number).unwrap();
        let returned: Decimal = notes.iter().map(|n| n.credits_returned.0).sum();
        let expected = if inv.void_reason.is_some() { taken } else { returned };
        assert_eq!(back, expected, "{number}");
        // Notes never give back more than the wallet paid, nor before the amount due is credited.
        let credited: Decimal = notes.iter().map(|n| n.total.0).sum();
        assert_eq!(returned, inv.frozen.draft.dues().returned_by(credited), "{number}");
    }
    for (customer, sum) in wallets {
        let external: String =
            conn.query_row("SELECT external_id FROM customers WHERE id = ?1", [customer], |r| r.get(0)).unwrap();
        let w = wallet(conn, &external).unwrap();
        assert_eq!(w.balance.0, sum);
        assert_eq!(w.grants.iter().map(|g| g.remaining.0).sum::<Decimal>(), sum);
    }
}

#[test]
fn random_sequences_keep_the_ledger_sum_equal_to_the_balance() {
    let mut returns = 0; // credit notes that gave credit back, over every seed
    for seed in 1..=12u64 {
        let mut rng = Rng::new(seed);
        let mut ws = workspace();
        let mut now = utc("2026-01-01T12:00:00Z");
        let mut invoiced = 0u32; // months of 2026 finalized
        let mut n = 0;
        for _ in 0..160 {
            now += chrono::Duration::hours((rng.next_u64() % 60) as i64);
            let local = now.with_timezone(&chrono_tz::America::New_York).date_naive();
            match rng.next_u64() % 7 {
                0 | 1 => {
                    n += 1;
                    let amount = Decimal::new((rng.next_u64() % 20_000) as i64 + 1, 2);
                    let expires =
                        (!rng.next_u64().is_multiple_of(3)).then(|| local + chrono::Days::new(rng.next_u64() % 40));
                    let mut f = fields(
                        &format!("g{n}"),
                        &amount.to_string(),
                        GrantKind::Free,
                        None,
                        (rng.next_u64() % 3) as i64,
                    );
                    f.expires = expires;
                    if expires.is_some() && rng.next_u64().is_multiple_of(2) {
                        f.rollover = Some(Rollover {
                            percent: Some(Dec(Decimal::from(rng.next_u64() % 100 + 1))),
                            max: rng.next_u64().is_multiple_of(2).then(|| Dec(dec!(25.00))),
                            months: None,
                        });
                    }
                    ws.write(|tx| grant(tx, "acme", &f, Origin::Manual, now)).unwrap();
                }
                2 if n > 0 => {
                    let code = format!("g{}", rng.next_u64() % n + 1);
                    let amount = Decimal::new((rng.next_u64() % 10_000) as i64 - 5_000, 2);
                    // Refusals (below zero, expired, zero) are part of the test: they must write nothing.
                    let before = balance(ws.conn(), "acme").unwrap();
                    if ws.write(|tx| adjust(tx, "acme", &code, amount, "correction", now)).is_err() {
                        assert_eq!(balance(ws.conn(), "acme").unwrap(), before);
                    }
                }
                3 if n > 0 => {
                    let code = format!("g{}", rng.next_u64() % n + 1);
                    let _ = ws.write(|tx| void_grant(tx, "acme", &code, "cancelled", now));
                }
                4 if invoiced > 0 => {
                    // A credit note of up to 60.00, or a void, on one of the invoices:
                    // refusals (more than is left, a void after a note) write nothing.
                    let number = format!("INV-2026-{:05}", rng.next_u64() % u64::from(invoiced) + 1);
                    let before = balance(ws.conn(), "acme").unwrap();
                    let done = if rng.next_u64().is_multiple_of(4) {
                        ws.write(|tx| invoice::void(tx, &number, "wrong", now)).map(|_| ())
                    } else {
                        let gross =
                            crate::credit::Request::Amount(Decimal::new((rng.next_u64() % 6_000) as i64 + 1, 2));
                        let note = ws.write(|tx| crate::credit::issue(tx, &number, "disputed", &gross, now));
                        returns += u32::from(note.as_ref().is_ok_and(|n| !n.credits_returned.0.is_zero()));
                        note.map(|_| ())
                    };
                    if done.is_err() {
                        assert_eq!(balance(ws.conn(), "acme").unwrap(), before);
                    }
                }
                _ => {
                    // Finalize every month that has ended, issued now.
                    while invoiced < 12
                        && local >= NaiveDate::from_ymd_opt(2026, invoiced + 2, 1).unwrap_or(day("2027-01-01"))
                    {
                        invoiced += 1;
                        let month = format!("2026-{invoiced:02}");
                        finalize(&mut ws, &month, &time_text(now));
                    }
                    ws.write(|tx| settle(tx, now)).unwrap();
                }
            }
            check_ledger(&ws);
        }
        assert!(invoiced > 0, "seed {seed} finalized something");
    }
    assert!(returns >= 10, "only {returns} credit notes gave credit back");
}

#[test]
fn a_catalog_adds_grants_once_and_never_changes_them() {
    let mut ws = workspace();
    let text = r#"{ "wallets": [ { "customer": "acme", "grants": [
        { "id": "g1", "amount": "100", "kind": "free", "expires": "2026-12-31", "priority": 1 },
        { "id": "g2", "amount": "50.00", "kind": "paid", "reference": "PO-7", "expires": "2026-11-30",
          "rollover": { "percent": "50", "max": "20.00" } } ] } ] }"#;
    let apply = |ws: &mut Workspace, text: &str| {
        let c = catalog::parse(text)?;
        ws.write(|tx| catalog::apply(tx, c, utc("2026-11-01T12:00:00Z")))
    };
    let first = apply(&mut ws, text).unwrap();
    assert_eq!(first.created, 2);
    let again = apply(&mut ws, text).unwrap();
    assert_eq!(again.created, 0);
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "150.00");
    let changed = text.replace(r#""amount": "100""#, r#""amount": "120""#);
    let err = apply(&mut ws, &changed).unwrap_err();
    assert_eq!(err.problems()[0].path, "$.wallets[0].grants[0]");
    assert!(err.problems()[0].message.contains("never changes"), "{}", err.problems()[0].message);
    // Exported and applied to a fresh workspace: the same grants (a rollover is not exported).
    read(&mut ws, "acme", utc("2026-12-01T06:00:00Z")).unwrap();
    let exported = catalog::export(ws.conn()).unwrap();
    let ids: Vec<&str> = exported.wallets[0].grants.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["g1", "g2"]);
    let text = serde_json::to_string(&exported).unwrap();
    assert!(text.contains(r#""wallets":[{"customer":"acme","grants":[{"id":"g1","amount":"100.00","kind":"free","expires":"2026-12-31","priority":1}"#), "{text}");
    assert_eq!(apply(&mut ws, &text).unwrap().created, 0);
    let mut fresh = workspace();
    assert_eq!(apply(&mut fresh, &text).unwrap().created, 2);
}

#[test]
fn a_catalog_sets_a_wallets_rules_and_exports_them() {
    let mut ws = workspace();
    let apply = |ws: &mut Workspace, text: &str| {
        let c = catalog::parse(text)?;
        ws.write(|tx| catalog::apply(tx, c, utc("2026-11-01T12:00:00Z")))
    };
    let text = r#"{ "wallets": [ { "customer": "acme",
        "rules": { "topup_below": "100", "topup_amount": "200.00", "alert_percent": "20", "expiry_days": 7 } } ] }"#;
    let first = apply(&mut ws, text).unwrap();
    assert_eq!((first.created, first.updated), (0, 1));
    let want = Rules {
        topup_below: usd("100.00"),
        topup_amount: usd("200.00"),
        alert_percent: usd("20"),
        expiry_days: Some(7),
        ..Rules::default()
    };
    assert_eq!(rules(ws.conn(), "acme").unwrap(), want);
    // The same rules again change nothing (and do not re-arm them).
    let again = apply(&mut ws, text).unwrap();
    assert_eq!((again.updated, again.unchanged), (0, first.unchanged + 1));
    // Exported with the wallet, even one without grants, and applied back unchanged.
    let exported = catalog::export(ws.conn()).unwrap();
    assert_eq!(exported.wallets.len(), 1);
    assert_eq!((exported.wallets[0].grants.len(), exported.wallets[0].rules.as_ref()), (0, Some(&want)));
    let round = serde_json::to_string(&exported).unwrap();
    assert!(
        round.contains(
            r#""rules":{"topup_below":"100.00","topup_amount":"200.00","alert_percent":"20","expiry_days":7}"#
        ),
        "{round}"
    );
    assert_eq!(apply(&mut ws, &round).unwrap().updated, 0);
    // A wallet without "rules" leaves them; bad fields are named by path; {} removes them.
    apply(&mut ws, r#"{ "wallets": [ { "customer": "acme", "grants": [] } ] }"#).unwrap();
    assert_eq!(rules(ws.conn(), "acme").unwrap(), want);
    let bad =
        r#"{ "wallets": [ { "customer": "acme", "rules": { "topup_below": "100.001", "alert_percent": "120" } } ] }"#;
    let paths: Vec<String> = apply(&mut ws, bad).unwrap_err().problems().iter().map(|p| p.path.clone()).collect();
    assert_eq!(
        paths,
        ["$.wallets[0].rules.topup_below", "$.wallets[0].rules.topup_amount", "$.wallets[0].rules.alert_percent"]
    );
    let unknown = apply(&mut ws, r#"{ "wallets": [ { "customer": "acme", "rules": { "topup_at": "1" } } ] }"#);
    assert!(unknown.unwrap_err().problems()[0].path.starts_with("$.wallets[0].rules"));
    assert_eq!(apply(&mut ws, r#"{ "wallets": [ { "customer": "acme", "rules": {} } ] }"#).unwrap().updated, 1);
    assert_eq!(rules(ws.conn(), "acme").unwrap(), Rules::default());
    assert!(catalog::export(ws.conn()).unwrap().wallets.is_empty());
}

#[test]
fn a_customer_holding_credit_keeps_its_currency_until_the_credit_is_gone() {
    let mut ws = workspace();
    let at = utc("2026-11-01T12:00:00Z");
    ws.write(|tx| grant(tx, "yen", &fields("y1", "5000", GrantKind::Paid, None, 0), Origin::Manual, at)).unwrap();
    let mut yen = crate::customer::get(ws.conn(), "yen").unwrap().unwrap().fields;
    yen.currency = Some("USD".into());
    let err = ws.write(|tx| crate::customer::edit(tx, &yen, at)).unwrap_err();
    assert_eq!(err.problems()[0].path, "currency");
    assert_eq!(
        err.problems()[0].message,
        "the wallet holds 5000 JPY of prepaid credit: void or use it before the currency becomes USD"
    );
    // The catalog names the customer's field; nothing is written.
    let text = r#"{ "customers": [ { "id": "yen", "name": "Yen Co", "currency": "USD", "tax_exempt": "Export" } ] }"#;
    let err = ws.write(|tx| catalog::apply(tx, catalog::parse(text)?, at)).unwrap_err();
    assert_eq!(err.problems()[0].path, "$.customers[0].currency");
    assert_eq!(crate::customer::get(ws.conn(), "yen").unwrap().unwrap().fields.currency.as_deref(), Some("JPY"));
    // Other edits go through; once the credit is voided, so does the currency.
    let mut renamed = crate::customer::get(ws.conn(), "yen").unwrap().unwrap().fields;
    renamed.name = "Yen Company".into();
    ws.write(|tx| crate::customer::edit(tx, &renamed, at)).unwrap();
    ws.write(|tx| void_grant(tx, "yen", "y1", "refunded", at)).unwrap();
    renamed.currency = Some("USD".into());
    let changed = ws.write(|tx| crate::customer::edit(tx, &renamed, at)).unwrap();
    assert_eq!(changed.fields.currency.as_deref(), Some("USD"));
}

#[test]
fn a_balance_is_read_from_one_row_however_long_the_ledger() {
    let mut ws = workspace();
    give(&mut ws, &fields("g", "1000000", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    ws.write(|tx| {
        for _ in 0..2000 {
            adjust(tx, "acme", "g", dec!(-0.01), "tick", utc("2026-10-02T00:00:00Z"))?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "999980.00");
    let plan: String = ws
        .conn()
        .query_row(
            "EXPLAIN QUERY PLAN SELECT balance FROM wallet_entries WHERE customer_id = 1 ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("wallet_entries_by_customer"), "{plan}");
    check_ledger(&ws);
}

#[test]
fn the_projection_takes_the_running_period_the_ended_ones_not_finalized_and_the_pace() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    finalize(&mut ws, "2026-09", "2026-10-01T15:00:00Z");
    // 100 calls from November 1st to 10th: 10.00 of usage, 12.00 with tax, over 10 days.
    calls(&mut ws, 0, 100);
    // Without a wallet nothing is projected (no alarming negative balance): drafts are invoiced.
    let none = projection(&mut ws, "acme", now).unwrap();
    assert_eq!((none.has_wallet, none.projected.to_string(), none.runs_out), (false, "0.00".into(), None));
    give(&mut ws, &fields("g", "200", GrantKind::Paid, None, 0), "2026-10-20T12:00:00Z");
    let p = projection(&mut ws, "acme", now).unwrap();
    // October ended unfinalized (100.00 + 20% = 120.00) takes credit first, then November's
    // running draft (100.00 + 10.00, tax 22.00 = 132.00): 252.00 against 200.00.
    assert_eq!(
        (p.has_wallet, p.balance.to_string(), p.draft_total.to_string(), p.projected.to_string()),
        (true, "200.00".into(), "252.00".into(), "-52.00".into())
    );
    assert_eq!(p.runs_out, Some(day("2026-11-10")), "already short");
    // The pace: November's 12.00 over its 10 days and October's whole 31 days without usage.
    assert_eq!(p.daily_burn.to_string(), "0.29");
    let rows = overview(&mut ws, now).unwrap();
    assert_eq!(rows.len(), 1, "only customers with a wallet");
    assert_eq!((rows[0].customer.as_str(), &rows[0].projection), ("acme", &p));
    // October finalized: the wallet paid 120.00 of it; November's draft alone is ahead.
    finalize(&mut ws, "2026-10", "2026-11-10T15:00:00Z");
    give(&mut ws, &fields("more", "300", GrantKind::Paid, None, 0), "2026-11-10T16:00:00Z");
    let p = projection(&mut ws, "acme", now).unwrap();
    assert_eq!(
        (p.balance.to_string(), p.draft_total.to_string(), p.projected.to_string()),
        ("380.00".into(), "132.00".into(), "248.00".into())
    );
    // 248.00 at 12.00 per 41 days lasts 847 days.
    assert_eq!(p.runs_out, day("2026-11-10").checked_add_days(chrono::Days::new(847)));
}

#[test]
fn the_history_is_the_balance_at_the_end_of_each_local_day() {
    let mut ws = workspace();
    give(&mut ws, &fields("a", "100", GrantKind::Paid, None, 0), "2026-10-01T12:00:00Z");
    give(&mut ws, &fields("b", "50", GrantKind::Free, Some("2026-10-01"), 0), "2026-10-01T20:00:00Z");
    // 03:00 UTC on the 2nd is still the 1st in New York; b expires at its end.
    ws.write(|tx| adjust(tx, "acme", "a", dec!(-10), "x", utc("2026-10-02T03:00:00Z"))).unwrap();
    ws.write(|tx| adjust(tx, "acme", "a", dec!(-5), "y", utc("2026-10-03T15:00:00Z"))).unwrap();
    let points: Vec<(String, String)> =
        history(ws.conn(), "acme").unwrap().iter().map(|p| (p.date.to_string(), p.balance.to_string())).collect();
    assert_eq!(
        points,
        [
            ("2026-10-01".into(), "140.00".into()),
            ("2026-10-02".into(), "90.00".into()),
            ("2026-10-03".into(), "85.00".into())
        ]
    );
}

/// Imports calls `from..from + n` of acme, spread over November 1st to 10th.
fn calls(ws: &mut Workspace, from: usize, n: usize) {
    let rows: String = (from..from + n)
        .map(|i| {
            let at = format!("2026-11-{:02}T15:00:00Z", 1 + i % 10);
            format!("{}\n", serde_json::json!({ "id": format!("c{i}"), "customer": "acme", "type": "calls", "timestamp": at, "properties": {} }))
        })
        .collect();
    let options = crate::events::ImportOptions::new("e.ndjson", crate::event_file::Format::Ndjson);
    let report = crate::events::import(ws, rows.as_bytes(), &options, utc("2026-11-10T20:00:00Z"), &mut |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(report.accepted as usize, n);
}

fn rule_set(ws: &mut Workspace, r: Rules) {
    ws.write(|tx| set_rules(tx, "acme", &r, utc("2026-11-01T00:00:00Z"))).unwrap();
}

fn usd(text: &str) -> Option<Dec> {
    Some(Dec::from_str(text).unwrap())
}

#[test]
fn an_automatic_top_up_fires_once_per_drop_and_is_billed_on_the_next_invoice() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    // The periods before November are invoiced: only November's draft is ahead.
    finalize(&mut ws, "2026-09", "2026-10-01T15:00:00Z");
    finalize(&mut ws, "2026-10", "2026-11-01T15:00:00Z");
    give(&mut ws, &fields("prepaid", "300", GrantKind::Paid, None, 0), "2026-11-01T12:00:00Z");
    rule_set(&mut ws, Rules { topup_below: usd("100"), topup_amount: usd("200"), ..Rules::default() });
    // November so far: the 100.00 fee, 120.00 with tax: 180.00 projected.
    assert_eq!(evaluate(&mut ws, now).unwrap(), Evaluation::default());
    calls(&mut ws, 0, 500); // 50.00 of usage: 180.00 with tax, 120.00 projected
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 0);
    calls(&mut ws, 500, 300); // 80.00 of usage: 216.00, 84.00 projected: below 100.00
    let fired = evaluate(&mut ws, now).unwrap();
    assert_eq!(fired.topups, ["auto-topup-20261110"]);
    assert_eq!(fired.alerts.len(), 1, "the top-up is announced");
    assert!(fired.alerts[0].message.contains("Topped up 200.00 USD"), "{}", fired.alerts[0].message);
    // Later imports and evaluations do not fire it again.
    calls(&mut ws, 800, 10);
    assert_eq!(evaluate(&mut ws, now).unwrap(), Evaluation::default());
    assert_eq!(evaluate(&mut ws, now).unwrap(), Evaluation::default());
    assert_eq!(balance(ws.conn(), "acme").unwrap().to_string(), "500.00");
    let g = get_grant(ws.conn(), "acme", "auto-topup-20261110").unwrap().unwrap();
    assert_eq!((g.origin, g.fields.kind), (Origin::AutoTopup, GrantKind::Paid));

    // November's invoice bills the top-up after tax; the wallet pays only the usage invoice.
    let inv = finalize(&mut ws, "2026-11", "2026-12-01T15:00:00Z");
    let d = &inv.frozen.draft;
    assert_eq!(d.topups.len(), 1);
    assert_eq!(
        (d.subtotal.to_string(), d.tax.to_string(), d.total.to_string()),
        ("181.00".into(), "36.20".into(), "417.20".into())
    );
    assert_eq!((d.credits_applied.to_string(), d.amount_due.to_string()), ("217.20".into(), "200.00".into()));
    // Billed once: December's draft does not carry it again.
    let december = bill::preview_customer(&mut ws, "acme", crate::month("2026-12")).unwrap();
    assert!(december.iter().all(|d| d.topups.is_empty()));
    check_ledger(&ws);

    // Credited in full, the invoice gives the wallet back the 217.20 it paid; the
    // 200.00 top-up bought stays owed.
    let number = d.number.clone().unwrap();
    let note = credit_note(&mut ws, &number, crate::credit::Request::Full, "2026-12-02T15:00:00Z");
    assert_eq!((note.total.to_string(), note.credits_returned.to_string()), ("217.20".into(), "217.20".into()));
    let e = crate::register::entries(ws.conn(), day("2026-12-02")).unwrap().remove(0);
    assert_eq!((e.standing, e.outstanding.to_string()), (crate::register::Standing::Open, "200.00".into()));
    check_ledger(&ws);
}

#[test]
fn a_pending_top_up_shows_on_the_draft_that_will_bill_it_not_on_a_finalized_month() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    let october = finalize(&mut ws, "2026-10", "2026-11-02T15:00:00Z");
    give(&mut ws, &fields("prepaid", "130", GrantKind::Paid, None, 0), "2026-11-03T12:00:00Z");
    rule_set(&mut ws, Rules { topup_below: usd("100"), topup_amount: usd("200"), ..Rules::default() });
    // 130.00 less November's 120.00 so far: 10.00 projected, below 100.00.
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 1);
    let look_back = bill::preview_customer(&mut ws, "acme", crate::month("2026-10")).unwrap();
    assert_eq!(crate::bill::finalized_as(ws.conn(), &look_back[0]).unwrap(), october.frozen.draft.number);
    assert!(look_back[0].topups.is_empty(), "October is invoiced already: the top-up waits for November");
    assert_eq!(look_back[0].total, october.frozen.draft.total);
    let november = bill::preview_customer(&mut ws, "acme", crate::month("2026-11")).unwrap();
    assert_eq!(november[0].topups.len(), 1);
    assert_eq!(november[0].total.to_string(), "320.00");
}

#[test]
fn a_top_up_too_small_to_lift_the_balance_still_fires_only_once() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    give(&mut ws, &fields("prepaid", "50", GrantKind::Paid, None, 0), "2026-11-01T12:00:00Z");
    rule_set(&mut ws, Rules { topup_below: usd("1000"), topup_amount: usd("25"), ..Rules::default() });
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 1);
    calls(&mut ws, 0, 20);
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 0, "still below: not again");
    // Back above the line (a large grant), then below again: it fires again.
    give(&mut ws, &fields("big", "2000", GrantKind::Paid, None, 0), "2026-11-10T12:00:00Z");
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 0);
    ws.write(|tx| adjust(tx, "acme", "big", dec!(-2000), "refunded", now)).unwrap();
    assert_eq!(evaluate(&mut ws, now).unwrap().topups.len(), 1);
}

#[test]
fn alerts_are_raised_once_and_kept_until_acknowledged() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    give(&mut ws, &fields("prepaid", "150", GrantKind::Paid, None, 0), "2026-11-01T12:00:00Z");
    give(&mut ws, &fields("promo", "20", GrantKind::Free, Some("2026-11-15"), 0), "2026-11-01T12:00:00Z");
    give(&mut ws, &fields("later", "20", GrantKind::Free, Some("2026-12-31"), 0), "2026-11-01T12:00:00Z");
    // 190.00 granted; the November draft takes 120.00: 70.00 projected, below 50% (95.00).
    rule_set(&mut ws, Rules { alert_percent: usd("50"), expiry_days: Some(10), ..Rules::default() });
    let first = evaluate(&mut ws, now).unwrap();
    let kinds: Vec<(AlertKind, &str)> = first.alerts.iter().map(|a| (a.kind, a.subject.as_str())).collect();
    assert_eq!(kinds, [(AlertKind::LowBalance, ""), (AlertKind::Expiring, "promo")], "in the order raised");
    assert!(first.alerts[0].message.contains("70.00 USD, below 95.00 USD"), "{}", first.alerts[0].message);
    assert!(
        first.alerts[1].message.contains("ends after 2026-11-15 (5 days from today)"),
        "{}",
        first.alerts[1].message
    );
    assert_eq!(evaluate(&mut ws, now).unwrap(), Evaluation::default(), "nothing new");
    assert_eq!(alerts(ws.conn(), false).unwrap().len(), 2);
    let one = first.alerts[0].id;
    assert_eq!(ws.write(|tx| acknowledge(tx, Some(one), now)).unwrap(), 1);
    assert_eq!(alerts(ws.conn(), false).unwrap().len(), 1);
    let again = ws.write(|tx| acknowledge(tx, Some(one), now)).unwrap_err();
    assert_eq!(again.code(), crate::ErrorCode::NotFound, "{again}");
    assert_eq!(ws.write(|tx| acknowledge(tx, None, now)).unwrap(), 1);
    assert!(alerts(ws.conn(), false).unwrap().is_empty());
    assert_eq!(alerts(ws.conn(), true).unwrap().len(), 2, "acknowledged alerts stay on record");
    // Rules are validated by field.
    let bad = Rules { topup_below: usd("10"), alert_percent: usd("0"), expiry_days: Some(0), ..Rules::default() };
    let err = ws.write(|tx| set_rules(tx, "acme", &bad, now)).unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["topup_amount", "alert_percent", "expiry_days"]);
}

#[test]
fn a_stored_value_that_does_not_parse_is_an_error_naming_its_table_and_row() {
    // Before, a bad time read as 1970, a bad expiry as "never expires" (which
    // changes the burn order) and an unknown ledger kind as an adjustment.
    let mut ws = workspace();
    let now = utc("2026-01-05T12:00:00Z");
    ws.write(|tx| {
        grant(tx, "acme", &fields("promo", "50", GrantKind::Free, Some("2026-12-31"), 0), Origin::Manual, now)
    })
    .unwrap();
    let conn = ws.conn();
    // The ledger is frozen by triggers; a damaged file may still hold anything.
    conn.execute_batch(
        "DROP TRIGGER wallet_grants_are_frozen_update; DROP TRIGGER wallet_entries_are_frozen_update;
         UPDATE wallet_grants SET expires = 'soon';
         UPDATE customers SET created_at = 'yesterday' WHERE external_id = 'acme';",
    )
    .unwrap();
    let message = |e: crate::Error| {
        assert_eq!(e.code(), crate::ErrorCode::Internal);
        e.to_string()
    };
    let err = message(wallet(conn, "acme").unwrap_err());
    assert!(err.contains("wallet_grants row promo: column") && err.contains("\"soon\", which is not a date"), "{err}");
    let err = message(crate::customer::get(conn, "acme").unwrap_err());
    assert!(err.contains("customers row acme: column created_at holds \"yesterday\""), "{err}");
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON; UPDATE wallet_grants SET expires = '2026-12-31';
         UPDATE wallet_entries SET kind = 'gift';",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = message(ledger(conn, "acme", &LedgerQuery::default()).unwrap_err());
    assert!(err.contains("wallet_entries row") && err.contains("\"gift\", which is not a ledger entry kind"), "{err}");
}

#[test]
fn an_expiry_alert_closes_once_its_grant_is_used_up() {
    let mut ws = workspace();
    let now = utc("2026-11-10T20:00:00Z");
    finalize(&mut ws, "2026-09", "2026-10-01T15:00:00Z");
    give(&mut ws, &fields("soon", "50", GrantKind::Free, Some("2026-11-30"), 0), "2026-11-01T12:00:00Z");
    rule_set(&mut ws, Rules { expiry_days: Some(30), ..Rules::default() });
    let raised = evaluate(&mut ws, now).unwrap();
    assert_eq!(raised.alerts.len(), 1);
    assert_eq!(raised.alerts[0].kind, AlertKind::Expiring);
    // October's invoice takes the 50.00: nothing is left to expire, so the alert closes.
    finalize(&mut ws, "2026-10", "2026-11-10T15:00:00Z");
    evaluate(&mut ws, now).unwrap();
    assert!(alerts(ws.conn(), false).unwrap().is_empty(), "the expiry alert closed");
    assert_eq!(alerts(ws.conn(), true).unwrap().len(), 1, "and stays in the history");
}
