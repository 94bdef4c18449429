//! Credit wallets: balances, grants, the ledger, rules and alerts.

use std::path::Path;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::{Error, Workspace, alert, api, projection, wallet};
use serde_json::json;

use super::{Outcome, report_evaluation};

#[derive(Debug, Subcommand)]
pub enum WalletAction {
    /// A customer's balance and grants (expiries due are written first).
    Balance {
        #[arg(long)]
        customer: String,
    },
    /// Grant credit to a customer's wallet.
    Grant {
        #[arg(long)]
        customer: String,
        /// In the customer's currency.
        #[arg(long)]
        amount: meterdesk_engine::Dec,
        /// paid (a top-up: give --reference) or free (promotional).
        #[arg(long, default_value = "paid")]
        kind: String,
        /// The grant's id (default: grant-N).
        #[arg(long)]
        id: Option<String>,
        /// The last day it can be used (YYYY-MM-DD, workspace zone); default: never expires.
        #[arg(long)]
        expires: Option<chrono::NaiveDate>,
        /// Among grants expiring the same day, the higher is used first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        /// A paid top-up's invoice or payment reference.
        #[arg(long)]
        reference: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        /// At expiry, roll over at most this percentage of what is left...
        #[arg(long, value_name = "PERCENT")]
        rollover_percent: Option<meterdesk_engine::Dec>,
        /// ...and at most this amount...
        #[arg(long, value_name = "AMOUNT")]
        rollover_max: Option<meterdesk_engine::Dec>,
        /// ...into a grant that lasts this many months more (default 1).
        #[arg(long, value_name = "N")]
        rollover_months: Option<u32>,
    },
    /// A customer's ledger, newest first.
    Ledger {
        #[arg(long)]
        customer: String,
        /// Only these kinds (grant, consumption, expiry, rollover, void, adjustment; repeatable).
        #[arg(long)]
        kind: Vec<String>,
        /// Only this grant's entries.
        #[arg(long)]
        grant: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Void what is left of a grant.
    Void {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        grant: String,
        #[arg(long)]
        reason: String,
    },
    /// Show a customer's rules, or set them (the options given replace all of them).
    Rules {
        #[arg(long)]
        customer: String,
        /// When the projected balance drops below this...
        #[arg(long, requires = "topup_amount")]
        topup_below: Option<meterdesk_engine::Dec>,
        /// ...grant this as a paid top-up, billed on the next invoice.
        #[arg(long, requires = "topup_below")]
        topup_amount: Option<meterdesk_engine::Dec>,
        /// Alert when the projected balance drops below this amount...
        #[arg(long)]
        alert_below: Option<meterdesk_engine::Dec>,
        /// ...or below this percentage of the credit in active grants.
        #[arg(long)]
        alert_percent: Option<meterdesk_engine::Dec>,
        /// Alert when a grant with credit left ends within this many days.
        #[arg(long)]
        expiry_days: Option<u32>,
        /// Remove every rule.
        #[arg(long, conflicts_with_all = ["topup_below", "alert_below", "alert_percent", "expiry_days"])]
        clear: bool,
    },
    /// Evaluate the rules now, then list the open wallet alerts (low balance, credit expiring,
    /// top-ups) or acknowledge them; `meterdesk alerts` lists the whole inbox.
    Alerts {
        /// Acknowledge this alert.
        #[arg(long)]
        ack: Option<i64>,
        /// Acknowledge every open wallet alert.
        #[arg(long, conflicts_with = "ack")]
        ack_all: bool,
    },
    /// Correct a grant up or down (a new ledger entry; never below zero).
    Adjust {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        grant: String,
        /// Signed: -12.50 takes credit away.
        #[arg(long, allow_negative_numbers = true)]
        amount: meterdesk_engine::Dec,
        #[arg(long)]
        reason: String,
    },
}

pub(super) fn run(action: WalletAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        WalletAction::Balance { customer } => {
            let mut ws = Workspace::open(workspace)?;
            let w = wallet::read(&mut ws, &customer, now)?;
            let human = wallet_text(&w);
            Outcome::ok(&w, human)
        }
        WalletAction::Grant {
            customer,
            amount,
            kind,
            id,
            expires,
            priority,
            reference,
            note,
            rollover_percent,
            rollover_max,
            rollover_months,
        } => {
            let kind = match kind.as_str() {
                "paid" => wallet::GrantKind::Paid,
                "free" => wallet::GrantKind::Free,
                other => return Err(Error::invalid("--kind", format!("\"{other}\" is not paid or free"))),
            };
            let rollover = (rollover_percent.is_some() || rollover_max.is_some() || rollover_months.is_some())
                .then_some(wallet::Rollover { percent: rollover_percent, max: rollover_max, months: rollover_months });
            let mut ws = Workspace::open(workspace)?;
            let fields = wallet::GrantFields {
                id: id.unwrap_or_default(),
                amount,
                kind,
                expires,
                priority,
                rollover,
                reference,
                note,
            };
            let granted = ws.write(|tx| wallet::grant(tx, &customer, &fields, wallet::Origin::Manual, now))?;
            let human = format!(
                "granted {} {} to {customer} as \"{}\"",
                granted.fields.amount, granted.currency, granted.fields.id
            );
            Outcome::ok(&granted, human)
        }
        WalletAction::Ledger { customer, kind, grant, limit } => {
            let kinds = kind
                .iter()
                .map(|k| wallet::EntryKind::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| Error::invalid("--kind", m))?;
            let mut ws = Workspace::open(workspace)?;
            wallet::read(&mut ws, &customer, now)?;
            let entries = wallet::ledger(ws.conn(), &customer, &wallet::LedgerQuery { kinds, grant, limit })?;
            let human = entries
                .iter()
                .map(|e| {
                    format!(
                        "{}  {:<11} {:<20} {:>12} balance {:>12}  {}{}",
                        e.at.format("%Y-%m-%d %H:%M"),
                        e.kind.as_str(),
                        e.grant,
                        e.amount.to_string(),
                        e.balance.to_string(),
                        e.invoice.as_deref().map(|n| format!("{n} ")).unwrap_or_default(),
                        e.note
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&entries, human)
        }
        WalletAction::Rules { customer, topup_below, topup_amount, alert_below, alert_percent, expiry_days, clear } => {
            let mut ws = Workspace::open(workspace)?;
            let wanted = wallet::Rules { topup_below, topup_amount, alert_below, alert_percent, expiry_days };
            let rules = if clear || wanted != wallet::Rules::default() {
                let followed = api::set_wallet_rules(&mut ws, &customer, &wanted, now)?;
                report_evaluation(&followed.wallets);
                followed.done
            } else {
                wallet::rules(ws.conn(), &customer)?
            };
            let show = |v: Option<meterdesk_engine::Dec>| v.map_or("-".to_string(), |d| d.to_string());
            let human = format!(
                "{customer}: top up {} below {}; alert below {} or {}%; expiry alert {} days ahead",
                show(rules.topup_amount),
                show(rules.topup_below),
                show(rules.alert_below),
                show(rules.alert_percent),
                rules.expiry_days.map_or("-".to_string(), |d| d.to_string())
            );
            Outcome::ok(&rules, human)
        }
        WalletAction::Alerts { ack, ack_all } => {
            let mut ws = Workspace::open(workspace)?;
            // The wallet's own alerts; `meterdesk alerts` has the whole inbox.
            let wallet_kinds = [alert::AlertKind::LowBalance, alert::AlertKind::Expiring, alert::AlertKind::Topup];
            let open_of_wallets = |ws: &Workspace| -> Result<Vec<alert::Alert>, Error> {
                Ok(alert::alerts(ws.conn(), false)?.into_iter().filter(|a| wallet_kinds.contains(&a.kind)).collect())
            };
            if ack.is_some() || ack_all {
                let ids: Vec<Option<i64>> = match ack {
                    Some(id) => vec![Some(id)],
                    None => open_of_wallets(&ws)?.iter().map(|a| Some(a.id)).collect(),
                };
                let n = ws.write(|tx| ids.iter().try_fold(0, |n, id| Ok(n + alert::acknowledge(tx, *id, now)?)))?;
                return Outcome::ok(json!({ "acknowledged": n }), format!("acknowledged {n}"));
            }
            projection::evaluate(&mut ws, now)?;
            let open = open_of_wallets(&ws)?;
            let human = open
                .iter()
                .map(|a| {
                    format!("#{:<5} {}  {:<28} {}", a.id, a.created_at.format("%Y-%m-%d %H:%M"), a.customer, a.message)
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&open, human)
        }
        WalletAction::Void { customer, grant, reason } => {
            let mut ws = Workspace::open(workspace)?;
            let g = ws.write(|tx| wallet::void_grant(tx, &customer, &grant, &reason, now))?;
            Outcome::ok(&g, format!("voided what was left of \"{grant}\" for {customer}: {reason}"))
        }
        WalletAction::Adjust { customer, grant, amount, reason } => {
            let mut ws = Workspace::open(workspace)?;
            let g = ws.write(|tx| wallet::adjust(tx, &customer, &grant, amount.0, &reason, now))?;
            Outcome::ok(&g, format!("\"{grant}\" of {customer} adjusted by {amount}: {} left", g.remaining))
        }
    }
}

/// A wallet as a person reads it: the balance, then each grant.
fn wallet_text(w: &wallet::Wallet) -> String {
    let mut out = format!("{}: {} {}", w.customer, w.balance, w.currency);
    for g in &w.grants {
        let expires = g.fields.expires.map_or("never expires".to_string(), |d| format!("last day {d}"));
        out.push_str(&format!(
            "\n  {:<24} {:<5} {:>12} granted, {:>12} left  {:<9} priority {}  {expires}",
            g.fields.id,
            g.fields.kind.as_str(),
            g.fields.amount.to_string(),
            g.remaining.to_string(),
            format!("{:?}", g.state).to_lowercase(),
            g.fields.priority,
        ));
    }
    out
}
