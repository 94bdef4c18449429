//! Late usage (docs/billing.md "Corrections after finalizing"): events that
//! arrived in a period already invoiced. Each period invoice with late events
//! not yet billed is listed with what they would add: the whole period is
//! re-rated with them (on the plan version the invoice billed) and the
//! difference to what its invoices billed is offered as an adjustment
//! invoice, numbered in the main series and naming the invoice it adjusts.
//! Each late event is billed once: an adjustment records how many it billed,
//! and only later arrivals make the period listed again.

use chrono::NaiveDate;
use rusqlite::{Connection, Transaction, params};
use serde::Serialize;
use ts_rs::TS;

use crate::bill::{Book, Draft, Kind, Status};
use crate::error::{Error, Result};
use crate::invoice::{self, Adjusting, Invoice};
use crate::money::Dec;
use crate::period::Month;
use crate::rating::{Line, Rated};
use crate::rollup::{self, Rollups};
use crate::settings;
use crate::stored::not_void;
use crate::subscription;
use crate::workspace::Workspace;

/// What an adjustment would add to a period's invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Adds {
    pub subtotal: Dec,
    pub tax: Dec,
    pub total: Dec,
}

/// A period invoice with late events not yet billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct LateUsage {
    pub invoice: String,
    pub customer: String,
    pub customer_name: String,
    pub subscription: String,
    pub currency: String,
    #[ts(type = "string")]
    pub first_day: NaiveDate,
    #[ts(type = "string")]
    pub last_day: NaiveDate,
    /// Late events in the period not billed by an adjustment yet.
    pub late_events: u64,
    pub adds: Adds,
    /// The adjustment's lines: each with the re-rated line and what was billed.
    pub lines: Vec<Line>,
    /// The adjustments already issued for the period, oldest first.
    pub adjusted_by: Vec<String>,
    /// Why no adjustment can be issued (the late events add nothing, or the
    /// period can no longer be re-rated as billed); none when it can.
    pub problem: Option<String>,
}

/// A period invoice, re-rated with its late events.
struct Assessed {
    late: LateUsage,
    /// The re-rated period as a draft of the adjustment (its lines and totals
    /// are the adjustment's), when one can be issued.
    draft: Option<Draft>,
}

fn rated(d: &Draft) -> Rated {
    Rated { lines: d.lines.clone(), subtotal: d.subtotal, tax: d.tax, total: Dec(d.subtotal.0 + d.tax.0) }
}

/// Late events of a customer inside `[from, to)` (a late chunk holds one
/// invoiced window's events).
fn late_events(conn: &Connection, customer_id: i64, from: i64, to: i64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(events), 0) FROM event_chunks
             WHERE customer_id = ?1 AND late = 1 AND first_ms >= ?2 AND last_ms < ?3",
        )?
        .query_row(params![customer_id, from, to], |r| r.get(0))?;
    Ok(n as u64)
}

/// The standing adjustments of period invoice `number`, oldest first.
fn adjustments(conn: &Connection, number: &str) -> Result<Vec<Invoice>> {
    let numbers: Vec<String> = conn
        .prepare_cached(concat!(
            "SELECT a.number FROM invoices a WHERE a.adjusts = ?1 AND ",
            not_void!("a"),
            " ORDER BY a.id"
        ))?
        .query_map([number], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    numbers
        .iter()
        .map(|n| invoice::get(conn, n)?.ok_or_else(|| Error::Internal(format!("invoice {n} is gone"))))
        .collect()
}

/// Assesses period invoice `inv` of customer `customer_id`, reading usage from
/// rollups that are up to date; none when no late event waits on it.
fn assess(conn: &Connection, tz: chrono_tz::Tz, inv: &Invoice, customer_id: i64) -> Result<Option<Assessed>> {
    let d = &inv.frozen.draft;
    let number = d.number.clone().unwrap_or_default();
    let (from, to) = (d.usage_window.start.timestamp_millis(), d.usage_window.end.timestamp_millis());
    let late = late_events(conn, customer_id, from, to)?;
    let earlier = adjustments(conn, &number)?;
    let covered: u64 = earlier.iter().map(|a| a.frozen.late_events.unwrap_or(0)).sum();
    if late <= covered {
        return Ok(None);
    }
    let mut sub = subscription::get(conn, &d.subscription)?
        .ok_or_else(|| Error::Internal(format!("the subscription of {number} is gone")))?;
    sub.fields.plan_version = Some(d.plan_version);
    let mut book = Book::load_for(conn, Some(&d.customer))?;
    let billed_advance_fees: bool =
        conn.query_row("SELECT advance_fees FROM invoices WHERE number = ?1", [&number], |r| r.get(0))?;
    book.advance_fees_as_billed(&d.subscription, d.period.start, billed_advance_fees);
    let rerated = book.draft_for_month(conn, &mut Rollups::new(conn, tz)?, &sub, Month::of(d.first_day))?;
    let customer_name = crate::customer::get(conn, &d.customer)?.map_or_else(String::new, |c| c.fields.name);
    let mut billed = vec![rated(d)];
    billed.extend(earlier.iter().map(|a| rated(&a.frozen.draft)));
    let mut names = vec![number.clone()];
    names.extend(earlier.iter().filter_map(|a| a.frozen.draft.number.clone()));
    let mut late = LateUsage {
        invoice: number.clone(),
        customer: d.customer.clone(),
        customer_name,
        subscription: d.subscription.clone(),
        currency: d.currency.clone(),
        first_day: d.first_day,
        last_day: d.last_day,
        late_events: late - covered,
        adds: Adds { subtotal: Dec::default(), tax: Dec::default(), total: Dec::default() },
        lines: Vec::new(),
        adjusted_by: names[1..].to_vec(),
        problem: None,
    };
    let rerated = match rerated {
        Some(r) if r.period == d.period && r.usage_window == d.usage_window => r,
        _ => {
            late.problem = Some(format!(
                "{} no longer covers the period as {number} billed it; it cannot be re-rated",
                d.subscription
            ));
            return Ok(Some(Assessed { late, draft: None }));
        }
    };
    if let Some(problem) = &rerated.problem {
        late.problem = Some(problem.clone());
        return Ok(Some(Assessed { late, draft: None }));
    }
    if rerated.tax_rate != d.tax_rate {
        late.problem = Some(format!(
            "{}'s tax changed since {number}; re-rating would change the tax of the usage billed on time",
            late.customer_name
        ));
        return Ok(Some(Assessed { late, draft: None }));
    }
    let mut adj = meterdesk_rules::adjust::late_adjustment(&rated(&rerated), &billed, &names.join(", "));
    let currency = crate::money::Currency::parse(&d.currency).map_err(Error::Internal)?;
    crate::cost::fill_margins(&mut adj.lines, &currency);
    let margin = crate::cost::invoice_margin(&adj.lines, adj.subtotal.0, &currency);
    late.adds = Adds { subtotal: adj.subtotal, tax: adj.tax, total: adj.total };
    late.lines = adj.lines.clone();
    let total = adj.total.0;
    if total.is_zero() {
        late.problem = Some("the late events add nothing to pay (the period re-rates to what was billed)".into());
    } else if total.is_sign_negative() {
        late.problem = Some(format!(
            "re-rated, the period comes to {} {} less than billed; correct it with a credit note",
            -total, d.currency
        ));
    }
    let draft = late.problem.is_none().then(|| Draft {
        number: None,
        status: Status::Draft,
        kind: Kind::Adjustment,
        lines: adj.lines,
        subtotal: adj.subtotal,
        tax: adj.tax,
        total: adj.total,
        credits_applied: Dec::default(),
        amount_due: adj.total,
        topups: Vec::new(),
        margin,
        ..rerated
    });
    Ok(Some(Assessed { late, draft }))
}

/// Every period invoice with late events not yet billed, by customer and period.
pub fn list(ws: &mut Workspace) -> Result<Vec<LateUsage>> {
    list_of(ws, None)
}

/// [`list`], of one customer (its external id) or of every customer.
pub fn list_of(ws: &mut Workspace, only: Option<&str>) -> Result<Vec<LateUsage>> {
    let tz = settings::zone(ws.conn())?;
    let fresh = ws.try_write(|tx| rollup::refresh(tx, tz))?.is_some();
    if !fresh {
        return Err(Error::Conflict("another program is writing to the workspace; try again in a moment".into()));
    }
    let conn = ws.conn();
    // Only the customers with late events at all.
    let customers: Vec<i64> = conn
        .prepare(
            "SELECT DISTINCT k.customer_id FROM event_chunks k JOIN customers c ON c.id = k.customer_id
             WHERE k.late = 1 AND (?1 IS NULL OR c.external_id = ?1)",
        )?
        .query_map([only], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut found = Vec::new();
    for customer_id in customers {
        let numbers: Vec<String> = conn
            .prepare_cached(concat!(
                "SELECT i.number FROM invoices i WHERE i.customer_id = ?1 AND i.kind = 'period' AND ",
                not_void!("i"),
                " ORDER BY i.period_start"
            ))?
            .query_map([customer_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for number in numbers {
            let inv =
                invoice::get(conn, &number)?.ok_or_else(|| Error::Internal(format!("invoice {number} is gone")))?;
            if let Some(a) = assess(conn, tz, &inv, customer_id)? {
                found.push(a.late);
            }
        }
    }
    found.sort_by(|a, b| (&a.customer, a.first_day).cmp(&(&b.customer, b.first_day)));
    Ok(found)
}

/// Issues the adjustment invoice of period invoice `number`'s late usage, in
/// the caller's transaction (rollups brought up to date there, so an import
/// that just committed is billed): refused when no late event waits, when
/// they add nothing, or when the period cannot be re-rated as billed.
pub fn adjust(tx: &Transaction, number: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Invoice> {
    let tz = settings::zone(tx)?;
    rollup::refresh(tx, tz)?;
    let inv = invoice::get(tx, number)?.ok_or_else(|| Error::NotFound(format!("no invoice {number}")))?;
    let d = &inv.frozen.draft;
    if d.kind != Kind::Period {
        return Err(Error::invalid(
            "invoice",
            format!("{number} is not a period's invoice; late usage is adjusted on the period's invoice"),
        ));
    }
    if inv.void_reason.is_some() {
        return Err(Error::Conflict(format!("{number} is void: its period is billed again by its reissue")));
    }
    let customer_id: i64 =
        tx.query_row("SELECT customer_id FROM invoices WHERE number = ?1", [number], |r| r.get(0))?;
    let Some(assessed) = assess(tx, tz, &inv, customer_id)? else {
        return Err(Error::Conflict(format!("no late events wait on {number}")));
    };
    let (Some(draft), None) = (assessed.draft, &assessed.late.problem) else {
        return Err(Error::Conflict(format!(
            "{number}: {}",
            assessed.late.problem.unwrap_or_else(|| "nothing to adjust".into())
        )));
    };
    // It bills the late events no standing adjustment billed yet.
    let billing = Adjusting { number: number.to_string(), late_events: assessed.late.late_events };
    invoice::finalize_as(tx, &draft, Some(&billing), now)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::bill::tests::{CATALOG, apply, events, october};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 3, 9, 0, 0).unwrap()
    }

    /// docs/billing.md's graduated tokens, alone, for a customer without tax.
    const TOKENS: &str = r#"{
      "workspace": { "name": "Acme AI", "currency": "USD", "timezone": "America/New_York" },
      "customers": [ { "id": "hooli", "name": "Hooli", "tax_rate": "0" } ],
      "meters": [ { "code": "tokens", "name": "LLM tokens", "aggregation": "sum", "property": "tokens" } ],
      "plans": [ { "code": "tok", "name": "Tokens", "currency": "USD", "interval": "month",
        "charges": [ { "meter": "tokens", "model": "graduated",
          "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" }, { "up_to": null, "unit_price": "0.000004" } ] } ] } ],
      "subscriptions": [ { "id": "sub_hooli", "customer": "hooli", "plan": "tok", "start": "2026-10-01" } ]
    }"#;

    fn tokens(ws: &mut Workspace, id: &str, n: u64) {
        events(
            ws,
            &[json!({ "id": id, "customer": "hooli", "type": "tokens", "timestamp": "2026-10-20T12:00:00Z",
                      "properties": { "tokens": n } })],
        );
    }

    fn summary(l: &LateUsage) -> (String, u64, String, Option<String>) {
        (l.invoice.clone(), l.late_events, l.adds.total.to_string(), l.problem.clone())
    }

    #[test]
    fn late_tokens_are_billed_once_by_an_adjustment_that_re_rates_the_period() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, TOKENS);
        tokens(&mut ws, "on-time", 1_000_000);
        let done = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now()).unwrap();
        assert_eq!(done.invoices[0].frozen.draft.total.to_string(), "5.00");
        assert!(list(&mut ws).unwrap().is_empty(), "nothing late yet");

        // docs/billing.md: 250,000 late → the period re-rates to 6.00; the adjustment is 1.00.
        tokens(&mut ws, "late-1", 250_000);
        let waiting = list(&mut ws).unwrap();
        assert_eq!(
            waiting.iter().map(summary).collect::<Vec<_>>(),
            [("INV-2026-00001".into(), 1, "1.00".into(), None)]
        );
        assert_eq!((waiting[0].lines.len(), waiting[0].lines[0].quantity.to_string()), (1, "250000".into()));
        let adj = ws.write(|tx| adjust(tx, "INV-2026-00001", now())).unwrap();
        let d = &adj.frozen.draft;
        assert_eq!(
            (d.number.as_deref(), d.kind, d.total.to_string()),
            (Some("INV-2026-00002"), Kind::Adjustment, "1.00".into())
        );
        assert_eq!((adj.frozen.adjusts.as_deref(), adj.frozen.late_events), (Some("INV-2026-00001"), Some(1)));
        assert_eq!(d.period, waiting[0].lines.first().map(|_| done.invoices[0].frozen.draft.period).unwrap());
        // Billed once: nothing waits, and a second adjustment is refused.
        assert!(list(&mut ws).unwrap().is_empty());
        let again = ws.write(|tx| adjust(tx, "INV-2026-00001", now())).unwrap_err();
        assert_eq!(again.to_string(), "no late events wait on INV-2026-00001");

        // 10 late tokens add 0.00004: nothing to pay, listed with why, not issued.
        tokens(&mut ws, "late-2", 10);
        let tiny = list(&mut ws).unwrap();
        assert_eq!(tiny[0].adds.total.to_string(), "0.00");
        assert!(tiny[0].problem.as_deref().unwrap().contains("add nothing to pay"), "{:?}", tiny[0].problem);
        assert!(ws.write(|tx| adjust(tx, "INV-2026-00001", now())).is_err());
        // 500,000 more: 1,750,010 re-rates to 8.00004 → 8.00, less 5.00 and 1.00 billed: 2.00 for both events.
        tokens(&mut ws, "late-3", 500_000);
        assert_eq!(
            list(&mut ws).unwrap().iter().map(summary).collect::<Vec<_>>(),
            [("INV-2026-00001".into(), 2, "2.00".into(), None)]
        );
        let second = ws.write(|tx| adjust(tx, "INV-2026-00001", now())).unwrap();
        assert_eq!((second.frozen.draft.total.to_string(), second.frozen.late_events), ("2.00".into(), Some(2)));
        assert_eq!(second.frozen.draft.lines[0].steps[1].label, "billed before (INV-2026-00001, INV-2026-00002)");

        // The original cannot be voided under its adjustments; voiding one lists its events again.
        let refused = ws.write(|tx| invoice::void(tx, "INV-2026-00001", "wrong", now())).unwrap_err();
        assert!(refused.to_string().starts_with("INV-2026-00002 bills late usage of INV-2026-00001"), "{refused}");
        ws.write(|tx| invoice::void(tx, "INV-2026-00002", "wrong", now())).unwrap();
        assert_eq!(
            list(&mut ws).unwrap().iter().map(summary).collect::<Vec<_>>(),
            [("INV-2026-00001".into(), 1, "1.00".into(), None)]
        );
        ws.write(|tx| invoice::void(tx, "INV-2026-00003", "wrong", now())).unwrap();
        // 1,750,010 − 1,000,000 billed: 3.00 for all three late events.
        assert_eq!(
            list(&mut ws).unwrap().iter().map(summary).collect::<Vec<_>>(),
            [("INV-2026-00001".into(), 3, "3.00".into(), None)]
        );
        let third = ws.write(|tx| adjust(tx, "INV-2026-00001", now())).unwrap();
        assert_eq!(third.frozen.draft.number.as_deref(), Some("INV-2026-00004"));
        assert_eq!(invoice::verify(ws.conn()).unwrap().first_break, None);
        // Once the adjustments are void, the period invoice can be voided, and its reissue bills everything.
        ws.write(|tx| invoice::void(tx, "INV-2026-00004", "wrong", now())).unwrap();
        ws.write(|tx| invoice::void(tx, "INV-2026-00001", "wrong", now())).unwrap();
        assert!(list(&mut ws).unwrap().is_empty(), "a void period's events are not late");
        let reissue = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now()).unwrap();
        assert_eq!(reissue.invoices[0].frozen.draft.total.to_string(), "8.00");
        // Advance and adjustment invoices are not adjusted themselves.
        let e = ws.write(|tx| adjust(tx, "INV-2026-00002", now())).unwrap_err();
        assert!(e.to_string().contains("not a period's invoice"), "{e}");
    }

    #[test]
    fn an_adjustment_carries_the_cost_its_late_usage_adds() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, TOKENS);
        apply(
            &mut ws,
            r#"{ "costs": [ { "meter": "tokens", "currency": "USD", "unit_cost": "0.000002", "from": "2026-01-01" } ] }"#,
        );
        tokens(&mut ws, "on-time", 1_000_000);
        let done = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now()).unwrap();
        let line = &done.invoices[0].frozen.draft.lines[0];
        assert_eq!(
            (line.cost.map(|c| c.to_string()), line.margin.map(|m| m.to_string())),
            (Some("2.00".into()), Some("3.00".into()))
        );
        // 250,000 late tokens re-rate the period to 6.00 at a cost of 2.50: the
        // adjustment bills 1.00 and costs 0.50, margin 0.50 (50.0 %).
        tokens(&mut ws, "late-1", 250_000);
        let adj = ws.write(|tx| adjust(tx, "INV-2026-00001", now())).unwrap();
        let d = &adj.frozen.draft;
        let l = &d.lines[0];
        assert_eq!(
            [l.amount, l.cost.unwrap(), l.margin.unwrap(), l.margin_percent.unwrap()].map(|x| x.to_string()),
            ["1.00", "0.50", "0.50", "50.0"]
        );
        let m = d.margin.unwrap();
        assert_eq!([m.revenue, m.cost, m.margin].map(|x| x.to_string()), ["1.00", "0.50", "0.50"]);
    }

    #[test]
    fn late_usage_under_a_commitment_or_after_a_tax_change_is_listed_with_why_it_is_not_billed() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now()).unwrap();
        // 1,000 API calls late: beyond the included, but still under the 500.00 commitment.
        let calls: Vec<_> = (0..1000)
            .map(|i| {
                json!({ "id": format!("late{i}"), "customer": "globex", "type": "api_calls",
                             "timestamp": "2026-10-28T12:00:00Z", "properties": {} })
            })
            .collect();
        events(&mut ws, &calls);
        let waiting = list(&mut ws).unwrap();
        assert_eq!(waiting.len(), 1);
        let lines: Vec<(String, String)> =
            waiting[0].lines.iter().map(|l| (l.description.clone(), l.amount.to_string())).collect();
        // 1,000 × 0.0008 = 0.80 more usage, 0.80 less true-up.
        assert_eq!(lines, [("API calls".into(), "0.80".into()), ("Minimum commitment true-up".into(), "-0.80".into())]);
        assert_eq!(waiting[0].adds.total.to_string(), "0.00");
        assert!(waiting[0].problem.is_some());
        // A tax rate changed since the invoice: the re-rate would re-tax on-time usage, so it is not offered.
        let taxed = CATALOG.replace(r#""tax_rate": "0.20""#, r#""tax_rate": "0.19""#);
        apply(&mut ws, &taxed);
        let waiting = list(&mut ws).unwrap();
        assert!(waiting[0].problem.as_deref().unwrap().contains("Globex Corp's tax changed since INV-2026-00001"));
        assert!(ws.write(|tx| adjust(tx, "INV-2026-00001", now())).is_err());
    }

    #[test]
    fn an_adjustment_never_moves_the_fees_even_after_the_advance_invoice_is_voided() {
        // Found by the randomized test: the re-rate read the advance invoice's state now, so
        // voiding it after the period invoice put the advance fee on the adjustment as well.
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let month = crate::month("2026-10");
        let advance = invoice::finalize_chosen(
            &mut ws,
            month,
            Kind::Advance,
            invoice::Selection::Every { customer: Some("globex"), open: invoice::Open::Include },
            now(),
        )
        .unwrap();
        assert_eq!(advance.invoices[0].frozen.draft.lines[0].description, "Platform fee");
        invoice::finalize_month(&mut ws, month, Some("globex"), now()).unwrap();
        ws.write(|tx| invoice::void(tx, "INV-2026-00001", "sent twice", now())).unwrap();
        // 100,000,000 late gpt-4o tokens at 0.000004: 400.00 more usage, past the commitment.
        events(
            &mut ws,
            &[json!({ "id": "big", "customer": "globex", "type": "tokens", "timestamp": "2026-10-28T12:00:00Z",
                      "properties": { "model": "gpt-4o", "tokens": 100_000_000 } })],
        );
        let waiting = list(&mut ws).unwrap();
        let kinds: Vec<crate::rating::LineKind> = waiting[0].lines.iter().map(|l| l.kind).collect();
        assert!(!kinds.contains(&crate::rating::LineKind::Fee), "{:?}", waiting[0].lines);
        let adj = ws.write(|tx| adjust(tx, "INV-2026-00002", now())).unwrap();
        assert!(adj.frozen.draft.lines.iter().all(|l| l.description != "Platform fee"));
    }
}
