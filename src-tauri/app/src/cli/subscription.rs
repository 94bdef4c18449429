//! Subscriptions: listing them, putting a customer on a plan, changing the
//! plan on a date, ending one (docs/interfaces.md §4).

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use meterdesk_engine::Dec;
use meterdesk_engine::subscription::{self, Subscription, SubscriptionFields};
use meterdesk_engine::{Error, Workspace};

use super::Outcome;

#[derive(Debug, Subcommand)]
pub enum SubscriptionAction {
    /// List subscriptions (every customer's, or one's), as in the catalog.
    List {
        #[arg(long)]
        customer: Option<String>,
    },
    /// Put a customer on a plan from a start date.
    Create {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        plan: String,
        /// The first day it is active (YYYY-MM-DD, workspace zone).
        #[arg(long)]
        start: NaiveDate,
        /// The day of the month periods begin on (1–31); default: the start's day.
        #[arg(long)]
        anchor_day: Option<u32>,
        /// A stored version of the plan; default: its latest.
        #[arg(long)]
        plan_version: Option<i64>,
        /// The subscription's id; default: sub_<customer> (numbered when taken).
        #[arg(long)]
        id: Option<String>,
        /// Its spend cap a period, instead of the plan's maximum (e.g. 1000.00).
        #[arg(long)]
        maximum: Option<Dec>,
    },
    /// Set (or with --none remove) subscription S's own spend cap; it applies
    /// to the periods not invoiced yet.
    Cap {
        subscription: String,
        /// The most its usage may come to a period (e.g. 1000.00).
        #[arg(long, required_unless_present = "none", conflicts_with = "none")]
        maximum: Option<Dec>,
        /// Remove its own cap (the plan's maximum applies, if any).
        #[arg(long)]
        none: bool,
    },
    /// Move subscription S to another plan on a date: S ends that day and a new
    /// subscription starts on it (both periods around the date are prorated).
    Change {
        subscription: String,
        #[arg(long)]
        plan: String,
        /// The first day on the new plan (YYYY-MM-DD).
        #[arg(long)]
        on: NaiveDate,
    },
    /// End subscription S: ON is the first day it is no longer active.
    End {
        subscription: String,
        #[arg(long)]
        on: NaiveDate,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsAction {
    /// Every capped subscription's running period: its maximum, what its
    /// usage came to so far and what is left, for an API gateway to enforce.
    Export {
        /// Also write the JSON list to this file.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub(super) fn limits(action: LimitsAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let LimitsAction::Export { out } = action;
    let mut ws = Workspace::open(workspace)?;
    let limits = meterdesk_engine::limits::export(&mut ws, now)?;
    if let Some(out) = &out {
        let text = serde_json::to_string_pretty(&limits).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(out, text + "\n").map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
    }
    let human = if limits.is_empty() {
        "no subscription runs under a spend cap today".to_string()
    } else {
        limits
            .iter()
            .map(|l| {
                format!(
                    "{:<20} {:<24} {} to {}: used {} of {} {}, {} left",
                    l.customer, l.subscription, l.first_day, l.last_day, l.used, l.maximum, l.currency, l.remaining
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Outcome::ok(&limits, human)
}

pub(super) fn run(action: SubscriptionAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        SubscriptionAction::List { customer } => {
            let ws = Workspace::open(workspace)?;
            let list = match &customer {
                Some(c) => subscription::of_customer(ws.conn(), c)?,
                None => subscription::all(ws.conn())?,
            };
            let human = if list.is_empty() {
                "no subscriptions".to_string()
            } else {
                list.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            let fields: Vec<&SubscriptionFields> = list.iter().map(|s| &s.fields).collect();
            Outcome::ok(fields, human)
        }
        SubscriptionAction::Create { customer, plan, start, anchor_day, plan_version, id, maximum } => {
            let mut ws = Workspace::open(workspace)?;
            let fields = SubscriptionFields {
                id: id.unwrap_or_default(),
                customer,
                plan,
                plan_version,
                start,
                end: None,
                anchor_day,
                overrides: Vec::new(),
                discounts: Vec::new(),
                maximum,
            };
            let made = ws.write(|tx| subscription::create(tx, &fields, now))?;
            Outcome::ok(&made.fields, format!("created {}", line(&made)))
        }
        SubscriptionAction::Change { subscription: id, plan, on } => {
            let mut ws = Workspace::open(workspace)?;
            let (ended, next) = ws.write(|tx| subscription::change(tx, &id, &plan, on, now))?;
            let human = format!("ended   {}\nstarted {}", line(&ended), line(&next));
            Outcome::ok([&ended.fields, &next.fields], human)
        }
        SubscriptionAction::Cap { subscription: id, maximum, none: _ } => {
            let mut ws = Workspace::open(workspace)?;
            let capped = ws.write(|tx| {
                let s = subscription::get(tx, &id)?
                    .ok_or_else(|| Error::NotFound(format!("no subscription with id \"{id}\"")))?;
                subscription::set_terms(tx, &id, s.fields.overrides, s.fields.discounts, maximum, now)
            })?;
            let human = match capped.fields.maximum {
                Some(m) => format!("{} is capped at {m} a period", capped.fields.id),
                None => format!("{} has no cap of its own", capped.fields.id),
            };
            Outcome::ok(&capped.fields, human)
        }
        SubscriptionAction::End { subscription: id, on } => {
            let mut ws = Workspace::open(workspace)?;
            let ended = ws.write(|tx| subscription::end(tx, &id, on, now))?;
            Outcome::ok(&ended.fields, format!("ended {}", line(&ended)))
        }
    }
}

/// `sub_globex  globex  pro v2  2026-10-15 → 2026-12-01 (not included)  anchor day 1`
fn line(s: &Subscription) -> String {
    let f = &s.fields;
    let until = f.end.map_or("open-ended".to_string(), |e| format!("until {e} (not included)"));
    format!(
        "{:<24} {:<20} {} v{}  from {}, {until}, periods begin on day {}",
        f.id,
        f.customer,
        f.plan,
        s.version(),
        f.start,
        s.anchor_day()
    )
}
