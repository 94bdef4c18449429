//! Stored cost rates and exchange rates (migration 0019; the rules are
//! `rules::cost`, docs/billing.md "Costs and margin"). A rate is keyed by its
//! meter, group and first day: saving one with a stored key changes its
//! currency or unit cost, a new key adds it; the whole set must stay valid
//! (one currency per meter). Every change is written to the audit trail.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::money::Dec;
use crate::stored::{Columns, DecColumns, StoredDec, located, time_text};

pub use meterdesk_rules::cost::*;

/// A stored cost rate, as the Costs page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StoredCostRate {
    #[serde(flatten)]
    #[ts(flatten)]
    pub fields: CostRateFields,
    /// The day the next rate of its meter and group replaces it, if one does.
    #[ts(type = "string | null")]
    pub until: Option<NaiveDate>,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

/// Every stored rate, by meter, group (meter-wide first) and first day.
pub fn rates(conn: &Connection) -> Result<Vec<StoredCostRate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, meter, group_value, currency, unit_cost, from_day, updated_at FROM cost_rates
         ORDER BY meter, group_value IS NOT NULL, group_value, from_day",
    )?;
    let mut out: Vec<StoredCostRate> = stmt
        .query_map([], |r| {
            located(r, "cost_rates", 0, |r| {
                Ok(StoredCostRate {
                    fields: CostRateFields {
                        meter: r.get(1)?,
                        group: r.get(2)?,
                        currency: r.get(3)?,
                        unit_cost: r.dec(4)?,
                        from: r.parsed(5, "a date (YYYY-MM-DD)", |t| t.parse().ok())?,
                    },
                    until: None,
                    updated_at: r.time(6)?,
                })
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for i in 1..out.len() {
        let (before, after) = out.split_at_mut(i);
        let (prev, next) = (&mut before[i - 1], &after[0]);
        if prev.fields.meter == next.fields.meter && prev.fields.group == next.fields.group {
            prev.until = Some(next.fields.from);
        }
    }
    Ok(out)
}

/// Which meters may be priced: code → whether it groups its events.
fn meters(conn: &Connection) -> Result<BTreeMap<String, bool>> {
    Ok(crate::meter::all(conn)?.into_iter().map(|m| (m.fields.code, m.fields.group_by.is_some())).collect())
}

/// The stored rates, ready to price lines.
pub fn load(conn: &Connection) -> Result<CostRates> {
    let fields: Vec<CostRateFields> = rates(conn)?.into_iter().map(|r| r.fields).collect();
    let valid = validate(&fields, &meters(conn)?).map_err(|problems| {
        Error::Internal(format!(
            "the stored cost rates do not hold together: {}",
            problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ))
    })?;
    Ok(CostRates::new(valid))
}

/// The problems of saving `wanted` over the stored rates (with `meters`,
/// code → grouped, as they will be), keyed `costs[i].field` by `wanted`'s
/// places: the stored rates are checked first, so a new rate that breaks the
/// set is the one named; a stored rate's own problem (its meter stopped
/// grouping) names it by meter, group and day.
pub fn save_problems(
    conn: &Connection,
    wanted: &[CostRateFields],
    meters: &BTreeMap<String, bool>,
) -> Result<Vec<Problem>> {
    let key = |r: &CostRateFields| {
        (
            r.meter.trim().to_string(),
            r.group.as_deref().map(str::trim).filter(|g| !g.is_empty()).map(str::to_string),
            r.from,
        )
    };
    let wanted_keys: Vec<_> = wanted.iter().map(key).collect();
    let kept: Vec<CostRateFields> =
        rates(conn)?.into_iter().map(|r| r.fields).filter(|r| !wanted_keys.contains(&key(r))).collect();
    let all: Vec<CostRateFields> = kept.iter().chain(wanted).cloned().collect();
    let Err(problems) = validate(&all, meters) else { return Ok(Vec::new()) };
    Ok(problems
        .into_iter()
        .map(|p| {
            let Some((index, field)) = p
                .path
                .strip_prefix("costs[")
                .and_then(|rest| rest.split_once("]."))
                .and_then(|(n, field)| Some((n.parse::<usize>().ok()?, field.to_string())))
            else {
                return p;
            };
            // A message may point at another entry ("costs[3] already sets …").
            let renumber = |text: &str| {
                let mut out = String::new();
                let mut rest = text;
                while let Some(at) = rest.find("costs[") {
                    out.push_str(&rest[..at]);
                    let after = &rest[at + "costs[".len()..];
                    let digits = after.find(']').filter(|n| *n > 0 && after[..*n].bytes().all(|b| b.is_ascii_digit()));
                    match digits.and_then(|n| Some((n, after[..n].parse::<usize>().ok()?))) {
                        Some((n, i)) if i < all.len() => {
                            match i.checked_sub(kept.len()) {
                                Some(w) => out.push_str(&format!("costs[{w}]")),
                                None => out.push_str(&format!("the stored rate of {}", described(&kept[i]))),
                            }
                            rest = &after[n + 1..];
                        }
                        _ => {
                            out.push_str("costs[");
                            rest = after;
                        }
                    }
                }
                out.push_str(rest);
                out
            };
            match index.checked_sub(kept.len()) {
                Some(w) => Problem::new(format!("costs[{w}].{field}"), renumber(&p.message)),
                None => Problem::new(
                    format!("costs.{field}"),
                    format!("the stored rate of {}: {}", described(&kept[index]), renumber(&p.message)),
                ),
            }
        })
        .collect())
}

/// "tokens (gpt-4o) from 2026-01-01" of a rate as given.
fn described(r: &CostRateFields) -> String {
    subject(r.meter.trim(), r.group.as_deref(), r.from)
}

/// Saves `wanted` (checked with [`save_problems`] first): each rate's key
/// (meter, group, first day) stored already changes its currency and unit
/// cost, a new key is added. Returns (added, changed, unchanged).
pub fn save(tx: &Transaction, wanted: &[CostRateFields], now: DateTime<Utc>) -> Result<(u32, u32, u32)> {
    let problems = save_problems(tx, wanted, &meters(tx)?)?;
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let (mut added, mut changed, mut unchanged) = (0, 0, 0);
    for r in wanted {
        let meter = r.meter.trim();
        let group = r.group.as_deref().map(str::trim).filter(|g| !g.is_empty());
        let currency = r.currency.trim();
        let unit_cost = Dec(r.unit_cost.0.normalize());
        let from = r.from.to_string();
        let stored: Option<(i64, String, Dec)> = tx
            .prepare_cached(
                "SELECT id, currency, unit_cost FROM cost_rates
                 WHERE meter = ?1 AND coalesce(group_value, '') = coalesce(?2, '') AND from_day = ?3",
            )?
            .query_row(params![meter, group, from], |r| Ok((r.get(0)?, r.get(1)?, r.dec(2)?)))
            .optional()?;
        let subject = subject(meter, group, r.from);
        match stored {
            Some((_, c, u)) if c == currency && u.0 == unit_cost.0 => unchanged += 1,
            Some((id, c, u)) => {
                tx.execute(
                    "UPDATE cost_rates SET currency = ?2, unit_cost = ?3, updated_at = ?4 WHERE id = ?1",
                    params![id, currency, StoredDec(unit_cost).value(), time_text(now)],
                )?;
                audit(
                    tx,
                    "cost_rate_changed",
                    &subject,
                    serde_json::json!({ "from": format!("{u} {c}"), "to": format!("{unit_cost} {currency}") }),
                    now,
                )?;
                changed += 1;
            }
            None => {
                tx.execute(
                    "INSERT INTO cost_rates (meter, group_value, currency, unit_cost, from_day, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![meter, group, currency, StoredDec(unit_cost).value(), from, time_text(now)],
                )?;
                audit(
                    tx,
                    "cost_rate_added",
                    &subject,
                    serde_json::json!({ "unit_cost": format!("{unit_cost} {currency}") }),
                    now,
                )?;
                added += 1;
            }
        }
    }
    Ok((added, changed, unchanged))
}

/// Removes the rate of `meter` and `group` from day `from` (the one before it
/// then runs on); an invoice finalized with it keeps the cost it froze.
pub fn remove(tx: &Transaction, meter: &str, group: Option<&str>, from: NaiveDate, now: DateTime<Utc>) -> Result<()> {
    let removed = tx.execute(
        "DELETE FROM cost_rates WHERE meter = ?1 AND coalesce(group_value, '') = coalesce(?2, '') AND from_day = ?3",
        params![meter, group, from.to_string()],
    )?;
    let subject = subject(meter, group, from);
    if removed == 0 {
        return Err(Error::NotFound(format!("no cost rate of {subject}")));
    }
    audit(tx, "cost_rate_removed", &subject, serde_json::json!({}), now)
}

/// "tokens (gpt-4o) from 2026-01-01".
fn subject(meter: &str, group: Option<&str>, from: NaiveDate) -> String {
    match group {
        Some(g) => format!("{meter} ({g}) from {from}"),
        None => format!("{meter} from {from}"),
    }
}

fn audit(tx: &Transaction, action: &str, subject: &str, detail: serde_json::Value, now: DateTime<Utc>) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, ?2, ?3, ?4, (SELECT name FROM temp.session_actor))",
        params![time_text(now), action, subject, detail.to_string()],
    )?;
    Ok(())
}

/// Every stored exchange rate, by pair and day.
pub fn fx_rates(conn: &Connection) -> Result<Vec<FxRate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, from_currency, to_currency, rate, as_of FROM fx_rates ORDER BY from_currency, to_currency, as_of",
    )?;
    let out = stmt
        .query_map([], |r| {
            located(r, "fx_rates", 0, |r| {
                Ok(FxRate {
                    from: r.get(1)?,
                    to: r.get(2)?,
                    rate: r.dec(3)?,
                    as_of: r.parsed(4, "a date (YYYY-MM-DD)", |t| t.parse().ok())?,
                })
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

/// Saves exchange rates: a pair and day stored already takes the new rate.
/// Returns (added, changed, unchanged).
pub fn save_fx(tx: &Transaction, wanted: &[FxRate], now: DateTime<Utc>) -> Result<(u32, u32, u32)> {
    let problems = validate_fx(wanted);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let (mut added, mut changed, mut unchanged) = (0, 0, 0);
    for r in wanted {
        let rate = Dec(r.rate.0.normalize());
        let stored: Option<Dec> = tx
            .prepare_cached("SELECT rate FROM fx_rates WHERE from_currency = ?1 AND to_currency = ?2 AND as_of = ?3")?
            .query_row(params![r.from, r.to, r.as_of.to_string()], |row| row.dec(0))
            .optional()?;
        let subject = format!("1 {} in {} as of {}", r.from, r.to, r.as_of);
        match stored {
            Some(s) if s.0 == rate.0 => unchanged += 1,
            Some(s) => {
                tx.execute(
                    "UPDATE fx_rates SET rate = ?4 WHERE from_currency = ?1 AND to_currency = ?2 AND as_of = ?3",
                    params![r.from, r.to, r.as_of.to_string(), StoredDec(rate).value()],
                )?;
                audit(
                    tx,
                    "fx_rate_changed",
                    &subject,
                    serde_json::json!({ "from": s.to_string(), "to": rate.to_string() }),
                    now,
                )?;
                changed += 1;
            }
            None => {
                tx.execute(
                    "INSERT INTO fx_rates (from_currency, to_currency, rate, as_of, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.from, r.to, StoredDec(rate).value(), r.as_of.to_string(), time_text(now)],
                )?;
                audit(tx, "fx_rate_added", &subject, serde_json::json!({ "rate": rate.to_string() }), now)?;
                added += 1;
            }
        }
    }
    Ok((added, changed, unchanged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;
    use crate::bill::tests::{CATALOG, apply};
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 3, 9, 0, 0).unwrap()
    }

    fn rate(
        meter: &str,
        group: Option<&str>,
        currency: &str,
        unit_cost: rust_decimal::Decimal,
        from: &str,
    ) -> CostRateFields {
        CostRateFields {
            meter: meter.into(),
            group: group.map(str::to_string),
            currency: currency.into(),
            unit_cost: Dec(unit_cost),
            from: from.parse().unwrap(),
        }
    }

    #[test]
    fn rates_are_added_changed_by_key_and_listed_with_the_day_the_next_replaces_them() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let first = [
            rate("tokens", Some("gpt-4o"), "USD", dec!(0.000003), "2026-01-01"),
            rate("tokens", Some("gpt-4o"), "USD", dec!(0.000002), "2026-10-16"),
            rate("tokens", None, "USD", dec!(0.000001), "2026-01-01"),
        ];
        assert_eq!(ws.write(|tx| save(tx, &first, now())).unwrap(), (3, 0, 0));
        let again = [
            rate("tokens", Some("gpt-4o"), "USD", dec!(0.0000020), "2026-10-16"),
            rate("tokens", None, "USD", dec!(0.0000015), "2026-01-01"),
        ];
        assert_eq!(ws.write(|tx| save(tx, &again, now())).unwrap(), (0, 1, 1), "0.0000020 is 0.000002");
        let listed: Vec<(Option<String>, String, Option<NaiveDate>, String)> = rates(ws.conn())
            .unwrap()
            .into_iter()
            .map(|r| (r.fields.group, r.fields.from.to_string(), r.until, r.fields.unit_cost.to_string()))
            .collect();
        let d = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        assert_eq!(
            listed,
            [
                (None, "2026-01-01".into(), None, "0.0000015".into()),
                (Some("gpt-4o".into()), "2026-01-01".into(), d("2026-10-16"), "0.000003".into()),
                (Some("gpt-4o".into()), "2026-10-16".into(), None, "0.000002".into()),
            ]
        );
        let loaded = load(ws.conn()).unwrap();
        let day = "2026-10-20".parse().unwrap();
        assert_eq!(loaded.in_force("tokens", Some("gpt-4o"), day).unwrap().unit_cost, dec!(0.000002));
        assert_eq!(loaded.in_force("tokens", Some("mini"), day).unwrap().unit_cost, dec!(0.0000015));
        // Removing the October cut lets the January rate run on.
        ws.write(|tx| remove(tx, "tokens", Some("gpt-4o"), "2026-10-16".parse().unwrap(), now())).unwrap();
        assert_eq!(load(ws.conn()).unwrap().in_force("tokens", Some("gpt-4o"), day).unwrap().unit_cost, dec!(0.000003));
        let err =
            ws.write(|tx| remove(tx, "tokens", Some("gpt-4o"), "2026-10-16".parse().unwrap(), now())).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotFound);
        let actions: Vec<String> = ws
            .conn()
            .prepare("SELECT action || ' ' || subject FROM audit_log ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            actions,
            [
                "cost_rate_added tokens (gpt-4o) from 2026-01-01",
                "cost_rate_added tokens (gpt-4o) from 2026-10-16",
                "cost_rate_added tokens from 2026-01-01",
                "cost_rate_changed tokens from 2026-01-01",
                "cost_rate_removed tokens (gpt-4o) from 2026-10-16",
            ]
        );
    }

    #[test]
    fn a_rate_that_breaks_the_set_is_refused_naming_the_stored_one() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        ws.write(|tx| save(tx, &[rate("tokens", None, "USD", dec!(0.000001), "2026-01-01")], now())).unwrap();
        let err = ws
            .write(|tx| save(tx, &[rate("tokens", Some("mini"), "EUR", dec!(0.000001), "2026-02-01")], now()))
            .unwrap_err();
        let Error::Invalid(problems) = err else { panic!("{err}") };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "costs[0].currency");
        assert!(
            problems[0].message.contains("the stored rate of tokens from 2026-01-01 prices meter \"tokens\" in USD"),
            "{}",
            problems[0].message
        );
        assert_eq!(rates(ws.conn()).unwrap().len(), 1, "nothing saved");
        let err = ws.write(|tx| save(tx, &[rate("nope", None, "USD", dec!(1), "2026-01-01")], now())).unwrap_err();
        assert!(err.to_string().contains("there is no meter \"nope\""), "{err}");
    }

    #[test]
    fn exchange_rates_are_kept_per_pair_and_day() {
        let mut ws = Workspace::in_memory().unwrap();
        let fx = |rate: rust_decimal::Decimal, as_of: &str| FxRate {
            from: "USD".into(),
            to: "EUR".into(),
            rate: Dec(rate),
            as_of: as_of.parse().unwrap(),
        };
        assert_eq!(
            ws.write(|tx| save_fx(tx, &[fx(dec!(0.92), "2026-09-30"), fx(dec!(0.90), "2026-10-31")], now())).unwrap(),
            (2, 0, 0)
        );
        assert_eq!(ws.write(|tx| save_fx(tx, &[fx(dec!(0.91), "2026-10-31")], now())).unwrap(), (0, 1, 0));
        let stored = fx_rates(ws.conn()).unwrap();
        assert_eq!(stored.iter().map(|r| r.rate.to_string()).collect::<Vec<_>>(), ["0.92", "0.91"]);
        assert!(ws.write(|tx| save_fx(tx, &[fx(dec!(0), "2026-11-01")], now())).is_err());
    }
}
