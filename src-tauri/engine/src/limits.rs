//! Allowances a gateway can enforce (docs/billing.md "Spend caps"): every
//! capped subscription's running period, with its (prorated) maximum, what
//! its usage came to so far and what is left, read from the same drafts the
//! invoices will be finalized from.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use ts_rs::TS;

use crate::Workspace;
use crate::bill::{self, Bounds};
use crate::error::{Error, Result};
use crate::rating::AllowanceKind;
use crate::settings;
use meterdesk_rules::money::Dec;

/// One capped subscription's allowance in its running period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Limit {
    pub customer: String,
    pub subscription: String,
    pub currency: String,
    /// The period's maximum (the cap prorated for a partial period).
    pub maximum: Dec,
    /// What its usage lines come to so far.
    pub used: Dec,
    /// What is left under the maximum (0 once reached).
    pub remaining: Dec,
    /// Usage above the maximum, not billed.
    pub unbilled: Dec,
    pub period: Bounds,
    #[ts(type = "string")]
    pub first_day: NaiveDate,
    #[ts(type = "string")]
    pub last_day: NaiveDate,
}

/// The allowance of every subscription under a spend cap whose period runs
/// on `now`'s local day, by customer then subscription.
pub fn export(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Vec<Limit>> {
    let tz = settings::zone(ws.conn())?;
    let today = now.with_timezone(&tz).date_naive();
    let drafts = bill::running_drafts(ws, today, |s, plan| s.fields.maximum_under(plan).is_some())?;
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let a = d.allowance.as_ref().filter(|a| a.kind == AllowanceKind::Cap).ok_or_else(|| {
            Error::Internal(format!("the draft of capped subscription {} has no allowance", d.subscription))
        })?;
        out.push(Limit {
            customer: d.customer.clone(),
            subscription: d.subscription.clone(),
            currency: d.currency.clone(),
            maximum: a.limit,
            used: a.used,
            remaining: a.remaining,
            unbilled: a.unbilled,
            period: d.period,
            first_day: d.first_day,
            last_day: d.last_day,
        });
    }
    out.sort_by(|a, b| (&a.customer, &a.subscription).cmp(&(&b.customer, &b.subscription)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::bill::tests::{CATALOG, apply, events, october};

    #[test]
    fn every_capped_subscription_s_running_period_is_listed_with_what_is_left() {
        let mut ws = Workspace::in_memory().unwrap();
        // Pro capped at 600.00 a month; Initech on pay-as-you-go with no cap.
        let text = CATALOG
            .replace(r#""minimum_commitment": "500.00","#, r#""minimum_commitment": "500.00", "maximum": "600.00","#)
            .replace(
                r#""discounts": [ { "name": "Launch", "percent": "10" } ] }"#,
                r#""discounts": [ { "name": "Launch", "percent": "10" } ] },
    { "id": "sub_initech", "customer": "initech", "plan": "payg", "start": "2026-10-01", "anchor_day": 1 }"#,
            );
        apply(&mut ws, &text);
        october(&mut ws);
        // November so far: 50,000,000 gpt-4o tokens = 5.00 + 49,000,000 × 0.000004 = 201.00.
        events(
            &mut ws,
            &[json!({ "id": "n1", "customer": "globex", "type": "tokens", "timestamp": "2026-11-10T12:00:00Z",
                      "properties": { "model": "gpt-4o", "tokens": 50_000_000 } })],
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        let limits = export(&mut ws, now).unwrap();
        let shown: Vec<_> = limits
            .iter()
            .map(|l| {
                (l.customer.as_str(), l.maximum.to_string(), l.used.to_string(), l.remaining.to_string(), l.first_day)
            })
            .collect();
        // Nov 7's 7 tokens at 0.000005 round to 0.00 inside the line; 201.00 in all.
        assert_eq!(
            shown,
            [("globex", "600.00".into(), "201.00".into(), "399.00".into(), "2026-11-01".parse().unwrap())]
        );
        assert_eq!(limits[0].period.start.to_rfc3339(), "2026-11-01T04:00:00+00:00");
        // Past the cap: nothing left, the excess said.
        events(
            &mut ws,
            &[json!({ "id": "n2", "customer": "globex", "type": "tokens", "timestamp": "2026-11-11T12:00:00Z",
                      "properties": { "model": "gpt-4o", "tokens": 150_000_000 } })],
        );
        let l = export(&mut ws, now).unwrap().remove(0);
        assert_eq!(
            (l.used.to_string(), l.remaining.to_string(), l.unbilled.to_string()),
            ("801.00".into(), "0.00".into(), "201.00".into())
        );
        // Once the subscription ends, it is not listed.
        ws.write(|tx| crate::subscription::end(tx, "sub_globex", "2026-11-20".parse().unwrap(), now)).unwrap();
        assert!(export(&mut ws, now).unwrap().is_empty());
    }
}
