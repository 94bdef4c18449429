//! Usage and spend alert rules (docs/billing.md "Alerts"): stored from the
//! catalog, and evaluated against the running periods' drafts after every
//! import and finalize and on demand. Each (rule, customer, period,
//! threshold) raises one alert, in words, into the inbox.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;

use crate::Workspace;
use crate::alert::{self, Alert, AlertKind, RuleHit};
use crate::bill;
use crate::error::{Error, Result};
use crate::money::Currency;
use crate::stored::time_text;
use crate::{customer, meter, plan, settings};
use meterdesk_rules::alert_rule::{AlertRuleFields, Measure, RuleContext, RuleKind, passes};
use meterdesk_rules::text::group_digits;

/// Every stored rule, by id.
pub fn all(conn: &Connection) -> Result<Vec<AlertRuleFields>> {
    let mut stmt = conn.prepare_cached("SELECT code, fields FROM alert_rules ORDER BY code")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (code, text) = row?;
        out.push(
            serde_json::from_str(&text)
                .map_err(|e| Error::Internal(format!("alert rule {code} is unreadable: {e}")))?,
        );
    }
    Ok(out)
}

/// What rules are checked against: the stored meters, customers and plans,
/// with those a catalog is about to add (`extra`).
pub fn context(conn: &Connection, extra: RuleContext) -> Result<RuleContext> {
    let mut ctx = extra;
    ctx.meters.extend(meter::all(conn)?.into_iter().map(|m| (m.fields.code, m.fields.group_by.is_some())));
    ctx.customers.extend(customer::all(conn)?.into_iter().map(|c| c.fields.id));
    ctx.plans.extend(plan::all(conn)?.into_iter().map(|p| p.fields.code));
    Ok(ctx)
}

/// Saves validated rules (each by its id: added, changed in place or left
/// as it is); returns (added, changed, unchanged).
pub(crate) fn save(conn: &Transaction, rules: &[AlertRuleFields], now: DateTime<Utc>) -> Result<(u32, u32, u32)> {
    let (mut added, mut changed, mut unchanged) = (0, 0, 0);
    for r in rules {
        let text = serde_json::to_string(r).map_err(|e| Error::Internal(e.to_string()))?;
        let stored: Option<String> = conn
            .prepare_cached("SELECT fields FROM alert_rules WHERE code = ?1")?
            .query_row([&r.id], |row| row.get(0))
            .optional()?;
        match stored {
            Some(s) if s == text => unchanged += 1,
            Some(_) => {
                conn.execute(
                    "UPDATE alert_rules SET fields = ?2, updated_at = ?3 WHERE code = ?1",
                    params![r.id, text, time_text(now)],
                )?;
                changed += 1;
            }
            None => {
                conn.execute(
                    "INSERT INTO alert_rules (code, fields, updated_at) VALUES (?1, ?2, ?3)",
                    params![r.id, text, time_text(now)],
                )?;
                added += 1;
            }
        }
    }
    Ok((added, changed, unchanged))
}

/// Adds a rule, or changes the one with its id, from the console; problems
/// are keyed by the rule's field.
pub fn save_one(conn: &Transaction, rule: &AlertRuleFields, now: DateTime<Utc>) -> Result<AlertRuleFields> {
    let ctx = context(conn, RuleContext::default())?;
    let (valid, _) = rule.validate(&ctx).map_err(Error::Invalid)?;
    save(conn, std::slice::from_ref(&valid), now)?;
    Ok(valid)
}

/// Removes a rule (its alerts stay in the inbox as they were).
pub fn remove(conn: &Transaction, id: &str) -> Result<()> {
    match conn.execute("DELETE FROM alert_rules WHERE code = ?1", [id])? {
        0 => Err(Error::NotFound(format!("no alert rule \"{id}\""))),
        _ => Ok(()),
    }
}

/// One running period a rule watches.
struct Watched {
    customer_id: i64,
    rules: Vec<(AlertRuleFields, Measure)>,
}

/// Evaluates every rule against the periods running at `now` (one draft per
/// watched subscription, priced once); returns the alerts it raised.
pub fn evaluate(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Vec<Alert>> {
    let rules = all(ws.conn())?;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    // Stored rules were validated when saved.
    let measured: Vec<(AlertRuleFields, Measure)> =
        rules.into_iter().filter_map(|r| r.measure().map(|m| (r, m))).collect();
    let tz = settings::zone(ws.conn())?;
    let today = now.with_timezone(&tz).date_naive();
    let mut watched: HashMap<String, Watched> = HashMap::new();
    let drafts = bill::running_drafts(ws, today, |s, _| {
        let mine: Vec<_> =
            measured.iter().filter(|(r, _)| r.targets(&s.fields.customer, &s.fields.plan)).cloned().collect();
        let any = !mine.is_empty();
        if any {
            watched.insert(s.fields.id.clone(), Watched { customer_id: s.customer_id, rules: mine });
        }
        any
    })?;
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    // Meters a usage rule reads that a draft has no line for: read from the usage itself.
    let (tz, fresh) = bill::refresh(ws)?;
    let conn = ws.conn();
    let mut usage = bill::usage_source(conn, tz, fresh)?;
    let mut meters = HashMap::new();
    let mut hits: Vec<(i64, AlertKind, RuleHit, String)> = Vec::new();
    let mut commitments: HashMap<(String, i64), Option<Decimal>> = HashMap::new();
    for d in &drafts {
        let w = &watched[&d.subscription];
        let days = format!("{} – {}", d.first_day, d.last_day);
        for (rule, measure) in &w.rules {
            let hit = |value: Decimal| RuleHit {
                rule: &rule.id,
                period: d.first_day,
                threshold: measure.threshold().to_string(),
                value: value.to_string(),
            };
            match rule.kind {
                RuleKind::Usage => {
                    let code = rule.meter.as_deref().unwrap_or_default();
                    if !meters.contains_key(code) {
                        meters.insert(code.to_string(), meter::require(conn, code)?.fields);
                    }
                    let m = &meters[code];
                    let group = rule.group.as_deref();
                    let line = d.lines.iter().find(|l| l.meter.as_deref() == Some(code) && l.group.as_deref() == group);
                    let quantity = match line {
                        Some(l) => l.quantity.0,
                        None => usage.quantity(m, &d.customer, d.usage_window.start, d.usage_window.end, group)?,
                    };
                    if passes(*measure, quantity, None) {
                        let what = match group {
                            Some(g) => format!("{} — {g}", m.name),
                            None => m.name.clone(),
                        };
                        let unit = m.unit.as_deref().map_or(String::new(), |u| format!(" {u}s"));
                        let message = format!(
                            "{what}: {}{unit} in the period {days}, past the alert at {} (rule {})",
                            group_digits(&quantity.normalize().to_string()),
                            group_digits(&measure.threshold().normalize().to_string()),
                            rule.id
                        );
                        hits.push((w.customer_id, AlertKind::Usage, hit(quantity), message));
                    }
                }
                RuleKind::Spend => {
                    let currency = Currency::parse(&d.currency).map_err(Error::Internal)?;
                    // The usage lines (each held at its charge's maximum), as the allowance reads them.
                    let used: Decimal =
                        d.lines.iter().filter(|l| l.kind == crate::rating::LineKind::Usage).map(|l| l.amount.0).sum();
                    let (value, limit, of) = match measure {
                        Measure::Total(_) => (d.total.0, None, ""),
                        Measure::PercentOfMaximum(_) => {
                            let cap = d
                                .allowance
                                .as_ref()
                                .filter(|a| a.kind == crate::rating::AllowanceKind::Cap)
                                .map(|a| a.limit.0);
                            (used, cap, "cap")
                        }
                        Measure::PercentOfCommitment(_) => {
                            let key = (d.plan.clone(), d.plan_version);
                            if !commitments.contains_key(&key) {
                                let p = plan::version(conn, &d.plan, d.plan_version)?;
                                commitments.insert(key.clone(), p.minimum_commitment.map(|c| c.0));
                            }
                            let limit = commitments[&key]
                                .map(|c| crate::rating::period_limit(&currency, c, d.active_days, d.period_days));
                            (used, limit, "minimum commitment")
                        }
                        Measure::Quantity(_) => continue,
                    };
                    if passes(*measure, value, limit) {
                        let c = &d.currency;
                        let message = match (measure, limit) {
                            (Measure::Total(t), _) => format!(
                                "the draft for {days} comes to {} {c}, past the alert at {} {c} (rule {})",
                                group_digits(&d.total.to_string()),
                                group_digits(&currency.round(*t).to_string()),
                                rule.id
                            ),
                            (_, Some(l)) => format!(
                                "usage {} {c} is {:.1} % of the {} {c} {of} for {days}, past {} % (rule {})",
                                group_digits(&currency.round(used).to_string()),
                                (used * Decimal::ONE_HUNDRED / l).round_dp(1),
                                group_digits(&l.to_string()),
                                measure.threshold().normalize(),
                                rule.id
                            ),
                            _ => continue,
                        };
                        hits.push((w.customer_id, AlertKind::Spend, hit(value), message));
                    }
                }
            }
        }
    }
    drop(usage);
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let raised = ws.write(|tx| {
        let mut ids = Vec::new();
        for (customer_id, kind, hit, message) in &hits {
            ids.extend(alert::raise_rule(tx, *customer_id, *kind, hit, message, now)?);
        }
        Ok(ids)
    })?;
    alert::alerts_by_id(ws.conn(), &raised)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::bill::tests::{CATALOG, apply, events};

    fn at(day: u32, month: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, 15, 0, 0).unwrap()
    }

    fn tokens(ws: &mut Workspace, id: &str, customer: &str, when: &str, n: u64) {
        events(
            ws,
            &[json!({ "id": id, "customer": customer, "type": "tokens", "timestamp": when,
                      "properties": { "model": "gpt-4o", "tokens": n } })],
        );
    }

    fn with_rules(rules: serde_json::Value) -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let ctx = context(ws.conn(), RuleContext::default()).unwrap();
        let valid: Vec<AlertRuleFields> = serde_json::from_value::<Vec<AlertRuleFields>>(rules)
            .unwrap()
            .into_iter()
            .map(|r| r.validate(&ctx).unwrap().0)
            .collect();
        ws.write(|tx| save(tx, &valid, at(1, 11))).unwrap();
        ws
    }

    #[test]
    fn a_usage_alert_fires_once_across_three_imports_and_again_next_period() {
        let mut ws = with_rules(json!([
            { "id": "gpt4o_1m", "kind": "usage", "meter": "tokens", "group": "gpt-4o", "threshold": "1000000", "customer": "globex" }
        ]));
        // Three imports in November: 600,000, then 300,000 (900,000: not yet), then 200,000 (1,100,000).
        tokens(&mut ws, "n1", "globex", "2026-11-03T12:00:00Z", 600_000);
        assert!(evaluate(&mut ws, at(3, 11)).unwrap().is_empty());
        tokens(&mut ws, "n2", "globex", "2026-11-04T12:00:00Z", 300_000);
        assert!(evaluate(&mut ws, at(4, 11)).unwrap().is_empty());
        tokens(&mut ws, "n3", "globex", "2026-11-05T12:00:00Z", 200_000);
        let raised = evaluate(&mut ws, at(5, 11)).unwrap();
        assert_eq!(raised.len(), 1);
        let a = &raised[0];
        assert_eq!(
            (a.kind, a.rule.as_deref(), a.period.as_deref(), a.threshold.as_deref(), a.value.as_deref()),
            (AlertKind::Usage, Some("gpt4o_1m"), Some("2026-11-01"), Some("1000000"), Some("1100000"))
        );
        assert_eq!(
            a.message,
            "LLM tokens — gpt-4o: 1,100,000 tokens in the period 2026-11-01 – 2026-11-30, past the alert at 1,000,000 (rule gpt4o_1m)"
        );
        // More usage, evaluated again: not twice.
        tokens(&mut ws, "n4", "globex", "2026-11-06T12:00:00Z", 500_000);
        assert!(evaluate(&mut ws, at(6, 11)).unwrap().is_empty());
        // Acknowledged, it stays raised for November.
        ws.write(|tx| alert::acknowledge(tx, Some(a.id), at(6, 11))).unwrap();
        assert!(evaluate(&mut ws, at(7, 11)).unwrap().is_empty());
        // December is another period: it fires again once passed.
        tokens(&mut ws, "d1", "globex", "2026-12-02T12:00:00Z", 1_000_000);
        let december = evaluate(&mut ws, at(2, 12)).unwrap();
        assert_eq!(december.iter().map(|a| a.period.clone().unwrap()).collect::<Vec<_>>(), ["2026-12-01"]);
    }

    #[test]
    fn a_rule_on_a_plan_picks_up_a_new_subscriber_and_spend_rules_read_the_draft() {
        let mut ws = with_rules(json!([
            { "id": "payg_5", "kind": "spend", "threshold": "5.00", "plan": "payg" },
            { "id": "pro_80", "kind": "spend", "percent_of_commitment": "80", "plan": "pro" }
        ]));
        // Globex on Pro: 1,000,000 tokens (5.00) and 99.00 of fees is far below 80 % of 500.00.
        tokens(&mut ws, "g1", "globex", "2026-11-03T12:00:00Z", 1_000_000);
        assert!(evaluate(&mut ws, at(3, 11)).unwrap().is_empty());
        // Initech joins pay-as-you-go on Nov 10 and uses 600,000 tokens: 6.00 past 5.00.
        ws.write(|tx| {
            let s: crate::subscription::SubscriptionFields = serde_json::from_value(json!({
                "id": "", "customer": "initech", "plan": "payg", "start": "2026-11-10" }))
            .unwrap();
            crate::subscription::create(tx, &s, at(10, 11))
        })
        .unwrap();
        tokens(&mut ws, "i1", "initech", "2026-11-11T12:00:00Z", 600_000);
        let raised = evaluate(&mut ws, at(11, 11)).unwrap();
        assert_eq!(
            raised.iter().map(|a| (a.customer.as_str(), a.kind)).collect::<Vec<_>>(),
            [("initech", AlertKind::Spend)]
        );
        assert_eq!(
            raised[0].message,
            "the draft for 2026-11-10 – 2026-12-09 comes to 6.00 EUR, past the alert at 5.00 EUR (rule payg_5)"
                .replace("EUR", &raised_currency(&mut ws))
        );
        // Globex's usage reaches 80 % of its commitment: 400.00 of 500.00 is 100,000,000 tokens more.
        tokens(&mut ws, "g2", "globex", "2026-11-12T12:00:00Z", 100_000_000);
        let raised = evaluate(&mut ws, at(12, 11)).unwrap();
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert!(
            raised[0].message.starts_with("usage 405.00 USD is 81.0 % of the 500.00 USD minimum commitment"),
            "{}",
            raised[0].message
        );
    }

    fn raised_currency(ws: &mut Workspace) -> String {
        customer::get(ws.conn(), "initech").unwrap().unwrap().fields.currency.unwrap_or_else(|| "USD".into())
    }
}
