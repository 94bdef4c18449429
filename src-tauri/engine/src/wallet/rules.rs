//! A customer's wallet rules — an automatic top-up, low-balance and expiry
//! alerts — and their evaluation after imports and finalization, against the
//! projected balance (the balance less the running periods' drafts).
//!
//! A top-up or low-balance rule fires once when the projected balance drops
//! below its line, and again only after the balance was back at or above it:
//! an import that leaves the balance low does not fire it again.

use std::collections::HashMap;

use chrono::{DateTime, Days, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{
    GrantFields, GrantKind, GrantState, Origin, customer_row, free_code, grants_of, insert_grant, money_problem,
};
use crate::alert::{AlertKind, raise};
use crate::error::{Error, Problem, Result};
use crate::money::{Currency, Dec};
use crate::stored::time_text;
use crate::stored::{DecColumns, StoredDec};

/// A customer's wallet rules; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// When the projected balance drops below this...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topup_below: Option<Dec>,
    /// ...grant this as a paid top-up, billed on the customer's next invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topup_amount: Option<Dec>,
    /// Alert when the projected balance drops below this amount...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_below: Option<Dec>,
    /// ...or below this percentage of the credit granted in active grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_percent: Option<Dec>,
    /// Alert when a grant with credit left ends within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_days: Option<u32>,
}

impl Rules {
    /// Checks the rules in the customer's currency; problems name fields.
    pub fn validate(&self, currency: Currency) -> std::result::Result<Rules, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut out = self.clone();
        let mut amount = |field: &str, v: Option<Dec>, zero_ok: bool| -> Option<Dec> {
            let v = v?;
            if zero_ok && v.0.is_zero() {
                return Some(v);
            }
            money_problem(field, v.0, currency).map(Dec).map_err(|p| problems.push(p)).ok()
        };
        out.topup_below = amount("topup_below", self.topup_below, true);
        out.topup_amount = amount("topup_amount", self.topup_amount, false);
        out.alert_below = amount("alert_below", self.alert_below, true);
        match (self.topup_below, self.topup_amount) {
            (Some(_), None) => problems.push(Problem::new("topup_amount", "say how much to top up")),
            (None, Some(_)) => problems.push(Problem::new("topup_below", "say below which balance to top up")),
            _ => {}
        }
        if let Some(p) = self.alert_percent
            && (p.0 <= Decimal::ZERO || p.0 > Decimal::ONE_HUNDRED)
        {
            problems.push(Problem::new("alert_percent", format!("must be more than 0 and at most 100 (got {p})")));
        }
        if let Some(d) = self.expiry_days
            && !(1..=365).contains(&d)
        {
            problems.push(Problem::new("expiry_days", format!("must be 1 to 365 (got {d})")));
        }
        if problems.is_empty() { Ok(out) } else { Err(problems) }
    }

    fn is_empty(&self) -> bool {
        *self == Rules::default()
    }
}

/// A customer's rules (all none when it has none).
pub fn rules(conn: &Connection, customer: &str) -> Result<Rules> {
    let (customer_id, _) = customer_row(conn, customer)?;
    Ok(conn
        .query_row(
            "SELECT topup_below, topup_amount, alert_below, alert_percent, expiry_days
             FROM wallet_rules WHERE customer_id = ?1",
            [customer_id],
            |r| {
                Ok(Rules {
                    topup_below: r.opt_dec(0)?,
                    topup_amount: r.opt_dec(1)?,
                    alert_below: r.opt_dec(2)?,
                    alert_percent: r.opt_dec(3)?,
                    expiry_days: r.get(4)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Replaces a customer's rules (re-armed); empty rules remove them.
pub fn set_rules(conn: &Transaction, customer: &str, wanted: &Rules, now: DateTime<Utc>) -> Result<Rules> {
    let (customer_id, currency) = customer_row(conn, customer)?;
    let valid = wanted.validate(currency).map_err(Error::Invalid)?;
    if valid.is_empty() {
        conn.execute("DELETE FROM wallet_rules WHERE customer_id = ?1", [customer_id])?;
        return Ok(valid);
    }
    conn.execute(
        "INSERT INTO wallet_rules (customer_id, topup_below, topup_amount, alert_below, alert_percent, expiry_days,
                                   topup_armed, alert_armed, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 1, ?7)
         ON CONFLICT (customer_id) DO UPDATE SET topup_below = ?2, topup_amount = ?3, alert_below = ?4,
             alert_percent = ?5, expiry_days = ?6, topup_armed = 1, alert_armed = 1, updated_at = ?7",
        params![
            customer_id,
            valid.topup_below.map(StoredDec),
            valid.topup_amount.map(StoredDec),
            valid.alert_below.map(StoredDec),
            valid.alert_percent.map(StoredDec),
            valid.expiry_days,
            time_text(now)
        ],
    )?;
    Ok(valid)
}

/// Applies a customer's rules to its projected balance at `now` (see
/// `projection::evaluate`): a top-up due is granted (once per drop below its
/// line), alerts raised; what was granted and raised is added to the lists.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_rules(
    tx: &rusqlite::Transaction,
    customer_id: i64,
    customer: &str,
    projected: Decimal,
    runs_out: Option<chrono::NaiveDate>,
    now: DateTime<Utc>,
    topups: &mut Vec<String>,
    raised: &mut Vec<i64>,
) -> Result<()> {
    let (_, currency) = customer_row(tx, customer)?;
    let rules = rules(tx, customer)?;
    let (topup_armed, alert_armed): (bool, bool) =
        tx.query_row("SELECT topup_armed, alert_armed FROM wallet_rules WHERE customer_id = ?1", [customer_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let code = currency.code();
    let seen = projected;
    let mut projected = projected;
    if let (Some(below), Some(amount)) = (rules.topup_below, rules.topup_amount) {
        let low = projected < below.0;
        if low && topup_armed {
            let id = free_code(tx, customer_id, &format!("auto-topup-{}", now.format("%Y%m%d")))?;
            let fields = GrantFields {
                id: id.clone(),
                amount,
                kind: GrantKind::Paid,
                expires: None,
                priority: 0,
                rollover: None,
                reference: Some("automatic top-up, billed on the next invoice".into()),
                note: format!("the projected balance {projected} {code} was below {below} {code}"),
            };
            insert_grant(tx, customer_id, currency, &fields, Origin::AutoTopup, None, now)?;
            projected += amount.0;
            let message = format!(
                "Topped up {amount} {code} automatically: the projected balance was {seen} {code}, below {below} {code}. It is billed on the next invoice."
            );
            raised.extend(raise(tx, customer_id, AlertKind::Topup, &id, &message, now)?);
            topups.push(id);
        }
        if low == topup_armed {
            tx.execute("UPDATE wallet_rules SET topup_armed = ?2 WHERE customer_id = ?1", params![customer_id, !low])?;
        }
    }
    let grants = grants_of(tx, customer_id)?;
    let active: Vec<_> = grants.iter().filter(|g| g.state == GrantState::Active).collect();
    let granted: Decimal = active.iter().map(|g| g.fields.amount.0).sum();
    let line = match (rules.alert_below, rules.alert_percent) {
        (Some(b), _) => Some(b.0),
        (None, Some(pct)) => Some(currency.round(granted * pct.0 / Decimal::ONE_HUNDRED)),
        (None, None) => None,
    };
    if let Some(line) = line {
        let low = projected < line;
        if low && alert_armed {
            let message = format!(
                "The projected balance is {} {code}, below {line} {code}{}.",
                currency.round(projected),
                runs_out.map(|d| format!("; at the current pace the credit runs out on {d}")).unwrap_or_default()
            );
            raised.extend(raise(tx, customer_id, AlertKind::LowBalance, "", &message, now)?);
        }
        if low == alert_armed {
            tx.execute("UPDATE wallet_rules SET alert_armed = ?2 WHERE customer_id = ?1", params![customer_id, !low])?;
        }
    }
    if let Some(days) = rules.expiry_days {
        let today = crate::settings::today(tx, now)?;
        let horizon = today.checked_add_days(Days::new(u64::from(days))).unwrap_or(today);
        for g in active.iter().filter(|g| g.fields.expires.is_some_and(|d| d <= horizon)) {
            let last = g.fields.expires.unwrap_or(today);
            let message = format!(
                "{} {code} of grant \"{}\" is unused and ends after {last} ({} days from today).",
                g.remaining,
                g.fields.id,
                (last - today).num_days()
            );
            raised.extend(raise(tx, customer_id, AlertKind::Expiring, &g.fields.id, &message, now)?);
        }
    }
    // An expiry alert about a grant that no longer holds credit (used up,
    // expired or void) has nothing left to warn of: it closes.
    let active_codes: Vec<&str> = active.iter().map(|g| g.fields.id.as_str()).collect();
    let active_codes = serde_json::to_string(&active_codes).map_err(|e| Error::Internal(e.to_string()))?;
    tx.execute(
        "UPDATE alerts SET acknowledged_at = ?3 WHERE customer_id = ?1 AND kind = 'expiring' AND acknowledged_at IS NULL
           AND subject NOT IN (SELECT value FROM json_each(?2))",
        params![customer_id, active_codes, time_text(now)],
    )?;
    Ok(())
}

/// An automatic wallet top-up as a row of the invoice that bills it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TopUp {
    /// The grant it added to the wallet.
    pub grant: String,
    pub description: String,
    pub amount: Dec,
}

/// Every customer's automatic top-ups not yet billed, by (customer, currency).
pub(crate) fn unbilled_topups(conn: &Connection, only: Option<&str>) -> Result<HashMap<(String, String), Vec<TopUp>>> {
    // One customer's through its grants' index (a finalize asks for one, per invoice).
    let mut stmt = conn.prepare_cached(if only.is_some() {
        "SELECT c.external_id, g.currency, g.code, g.amount, g.granted_at
         FROM customers c JOIN wallet_grants g ON g.customer_id = c.id
         WHERE c.external_id = ?1 AND g.origin = 'auto_topup'
           AND NOT EXISTS (SELECT 1 FROM wallet_topups_billed b WHERE b.grant_id = g.id)
         ORDER BY g.id"
    } else {
        "SELECT c.external_id, g.currency, g.code, g.amount, g.granted_at
         FROM wallet_grants g JOIN customers c ON c.id = g.customer_id
         WHERE g.origin = 'auto_topup' AND ?1 IS NULL
           AND NOT EXISTS (SELECT 1 FROM wallet_topups_billed b WHERE b.grant_id = g.id)
         ORDER BY g.id"
    })?;
    let mut out: HashMap<(String, String), Vec<TopUp>> = HashMap::new();
    let rows = stmt.query_map([only], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.dec(3)?, r.get::<_, String>(4)?))
    })?;
    for row in rows {
        let (customer, currency, grant, amount, at) = row?;
        let description = format!("Credit top-up {grant} ({})", &at[..10.min(at.len())]);
        out.entry((customer, currency)).or_default().push(TopUp { grant, description, amount });
    }
    Ok(out)
}

/// Records that an invoice bills these top-ups, in its transaction; a top-up
/// billed already (a stale draft) refuses the invoice.
pub(crate) fn bill_topups(conn: &Transaction, customer_id: i64, topups: &[TopUp], invoice_id: i64) -> Result<()> {
    for t in topups {
        let grant_id: i64 = conn
            .query_row(
                "SELECT id FROM wallet_grants WHERE customer_id = ?1 AND code = ?2 AND origin = 'auto_topup'",
                params![customer_id, t.grant],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no automatic top-up \"{}\"", t.grant)))?;
        let written = conn.execute(
            "INSERT OR IGNORE INTO wallet_topups_billed (grant_id, invoice_id) VALUES (?1, ?2)",
            params![grant_id, invoice_id],
        )?;
        if written == 0 {
            return Err(Error::Conflict(format!(
                "the top-up \"{}\" is already billed on another invoice: preview the draft again",
                t.grant
            )));
        }
    }
    Ok(())
}
