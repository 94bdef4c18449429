//! The alerts inbox from the command line (docs/interfaces.md §4): usage and
//! spend alerts of the alert rules, wallet alerts and business signals, each
//! shown until acknowledged.

use std::path::Path;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::alert::{self, Alert};
use meterdesk_engine::{Error, Workspace, alert_rules};
use serde_json::{Value, json};

use super::Outcome;

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// The open alerts, newest first (with --all, the acknowledged too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge alert ID (or every open one with --all).
    Ack {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
    /// Evaluate the usage and spend alert rules now; prints what they raised.
    Evaluate,
}

/// An alert as §4 gives it.
fn shown(a: &Alert) -> Value {
    json!({
        "id": a.id,
        "rule": a.rule,
        "customer": a.customer,
        "kind": a.kind,
        "period": a.period,
        "threshold": a.threshold,
        "value": a.value,
        "message": a.message,
        "raised_at": a.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "acknowledged": a.acknowledged_at.is_some(),
    })
}

fn listed(alerts: &[Alert], empty: &str) -> Result<Outcome, Error> {
    let human = if alerts.is_empty() {
        empty.to_string()
    } else {
        alerts
            .iter()
            .map(|a| {
                let done = if a.acknowledged_at.is_some() { " (acknowledged)" } else { "" };
                format!(
                    "#{:<5} {}  {:<24} {}{done}",
                    a.id,
                    a.created_at.format("%Y-%m-%d %H:%M"),
                    a.customer,
                    a.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Outcome::ok(alerts.iter().map(shown).collect::<Vec<_>>(), human)
}

pub(super) fn run(action: AlertsAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let mut ws = Workspace::open(workspace)?;
    match action {
        AlertsAction::List { all } => listed(&alert::alerts(ws.conn(), all)?, "no open alert"),
        AlertsAction::Ack { id, all: _ } => {
            let before: Vec<Alert> =
                alert::alerts(ws.conn(), false)?.into_iter().filter(|a| id.is_none_or(|id| a.id == id)).collect();
            ws.write(|tx| alert::acknowledge(tx, id, now))?;
            let ids: Vec<i64> = before.iter().map(|a| a.id).collect();
            let after: Vec<Alert> =
                alert::alerts(ws.conn(), true)?.into_iter().filter(|a| ids.contains(&a.id)).collect();
            listed(&after, "no open alert to acknowledge")
        }
        AlertsAction::Evaluate => listed(&alert_rules::evaluate(&mut ws, now)?, "no rule raised an alert"),
    }
}
