//! The console's inbox: wallet alerts (low balance, credit expiring,
//! automatic top-ups), business signals (churn risk, power user) and the
//! usage and spend alerts of the alert rules, each raised once for what it
//! is about and shown until acknowledged.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::stored::{Columns, located, time_text};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    LowBalance,
    Expiring,
    Topup,
    /// A business signal: usage falling, or no events for weeks.
    ChurnRisk,
    /// A business signal: a margin below the workspace's floor, or negative.
    PowerUser,
    /// An alert rule: a meter passed a quantity in the running period.
    Usage,
    /// An alert rule: a draft passed an amount or a percent of its cap or commitment.
    Spend,
}

impl AlertKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertKind::LowBalance => "low_balance",
            AlertKind::Expiring => "expiring",
            AlertKind::Topup => "topup",
            AlertKind::ChurnRisk => "churn_risk",
            AlertKind::PowerUser => "power_user",
            AlertKind::Usage => "usage",
            AlertKind::Spend => "spend",
        }
    }

    fn parse(text: &str) -> Option<AlertKind> {
        Some(match text {
            "low_balance" => AlertKind::LowBalance,
            "expiring" => AlertKind::Expiring,
            "topup" => AlertKind::Topup,
            "churn_risk" => AlertKind::ChurnRisk,
            "power_user" => AlertKind::PowerUser,
            "usage" => AlertKind::Usage,
            "spend" => AlertKind::Spend,
            _ => return None,
        })
    }
}

/// One alert of the console's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Alert {
    pub id: i64,
    pub customer: String,
    pub customer_name: String,
    pub kind: AlertKind,
    /// What it is about, raised once: the grant, or the signal and its
    /// period (`falling:2026-10-01`); empty for a low balance.
    pub subject: String,
    pub message: String,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[ts(type = "string | null")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// A usage or spend alert's rule, period (its first local day),
    /// threshold and the value that passed it; none for the others.
    pub rule: Option<String>,
    pub period: Option<String>,
    pub threshold: Option<String>,
    pub value: Option<String>,
}

const ALERT_SQL: &str =
    "SELECT a.id, c.external_id, c.name, a.kind, a.subject, a.message, a.created_at, a.acknowledged_at,
            a.rule, a.period, a.threshold, a.value
     FROM alerts a JOIN customers c ON c.id = a.customer_id";

fn alert_from_row(r: &rusqlite::Row) -> rusqlite::Result<Alert> {
    located(r, "alerts", 0, |r| {
        Ok(Alert {
            id: r.get(0)?,
            customer: r.get(1)?,
            customer_name: r.get(2)?,
            kind: r.parsed(
                3,
                "an alert kind (low_balance, expiring, topup, churn_risk, power_user, usage, spend)",
                AlertKind::parse,
            )?,
            subject: r.get(4)?,
            message: r.get(5)?,
            created_at: r.time(6)?,
            acknowledged_at: r.opt_time(7)?,
            rule: r.get(8)?,
            period: r.get(9)?,
            threshold: r.get(10)?,
            value: r.get(11)?,
        })
    })
}

/// The inbox, newest first: the open alerts, or (with `acknowledged`) all.
pub fn alerts(conn: &Connection, acknowledged: bool) -> Result<Vec<Alert>> {
    let filter = if acknowledged { "" } else { " WHERE a.acknowledged_at IS NULL" };
    let mut stmt = conn.prepare(&format!("{ALERT_SQL}{filter} ORDER BY a.id DESC LIMIT 1000"))?;
    let rows = stmt.query_map([], alert_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Acknowledges one alert, or (none) every open one; returns how many. An
/// alert that is not open is not found.
pub fn acknowledge(conn: &Transaction, id: Option<i64>, now: DateTime<Utc>) -> Result<usize> {
    let n = conn.execute(
        "UPDATE alerts SET acknowledged_at = ?1 WHERE acknowledged_at IS NULL AND (?2 IS NULL OR id = ?2)",
        params![time_text(now), id],
    )?;
    match id {
        Some(id) if n == 0 => Err(Error::NotFound(format!("no open alert #{id}"))),
        _ => Ok(n),
    }
}

pub(crate) fn raise(
    conn: &Transaction,
    customer_id: i64,
    kind: AlertKind,
    subject: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let written = conn.execute(
        "INSERT OR IGNORE INTO alerts (customer_id, kind, subject, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![customer_id, kind.as_str(), subject, message, time_text(now)],
    )?;
    Ok((written == 1).then(|| conn.last_insert_rowid()))
}

/// What an alert rule found: the rule, the period's first day, the
/// threshold as written and the value that passed it.
pub(crate) struct RuleHit<'a> {
    pub rule: &'a str,
    pub period: chrono::NaiveDate,
    pub threshold: String,
    pub value: String,
}

/// Raises a usage or spend alert once per (rule, customer, period, threshold).
pub(crate) fn raise_rule(
    conn: &Transaction,
    customer_id: i64,
    kind: AlertKind,
    hit: &RuleHit,
    message: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let subject = format!("{}:{}:{}", hit.rule, hit.period, hit.threshold);
    let written = conn.execute(
        "INSERT OR IGNORE INTO alerts (customer_id, kind, subject, message, created_at, rule, period, threshold, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            customer_id,
            kind.as_str(),
            subject,
            message,
            time_text(now),
            hit.rule,
            hit.period.to_string(),
            hit.threshold,
            hit.value
        ],
    )?;
    Ok((written == 1).then(|| conn.last_insert_rowid()))
}

/// The alerts of these ids, in id order.
pub(crate) fn alerts_by_id(conn: &Connection, ids: &[i64]) -> Result<Vec<Alert>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(ids).map_err(|e| Error::Internal(e.to_string()))?;
    let mut stmt =
        conn.prepare(&format!("{ALERT_SQL} WHERE a.id IN (SELECT value FROM json_each(?1)) ORDER BY a.id"))?;
    Ok(stmt.query_map([ids], alert_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
}
