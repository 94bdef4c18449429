//! What the benches share: the generated usage of October 2026.

use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{TimeZone, Utc};
use meterdesk_engine::rng::Rng;

pub const TYPES: [&str; 5] = ["input_tokens", "output_tokens", "api_calls", "storage_gb", "active_seats"];
pub const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "o3"];

/// Writes `n` events (random ids) of `customers` customers (`cus_0000`…) as a
/// CSV, time-ordered through October 2026 in New York, as usage exports are,
/// with up to a minute of jitter. Deterministic.
#[allow(dead_code)]
pub fn write_october_events(path: &Path, n: u64, customers: u64) {
    let month_start = Utc.with_ymd_and_hms(2026, 10, 1, 4, 0, 0).unwrap().timestamp_millis();
    let month_ms = 31 * 24 * 3600 * 1000u64;
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,customer,type,timestamp,tokens,model,gb,user_id").unwrap();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for i in 0..n {
        let id = rng.next_u64();
        let customer = rng.next_u64() % customers;
        let ty = TYPES[(rng.next_u64() % 5) as usize];
        let ts = month_start + (i * month_ms / n) as i64 + (rng.next_u64() % 60_000) as i64;
        let model = MODELS[(rng.next_u64() % 3) as usize];
        let amount = rng.next_u64() % 5000;
        writeln!(out, "{id:016x},cus_{customer:04},{ty},{ts},{amount},{model},{},u{}", amount % 100, amount % 40)
            .unwrap();
    }
    out.flush().unwrap();
}

/// The meters of the generated events' five types, for a catalog.
#[allow(dead_code)]
pub fn meters() -> serde_json::Value {
    serde_json::json!([
        { "code": "input_tokens", "name": "Input tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
        { "code": "output_tokens", "name": "Output tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
        { "code": "api_calls", "name": "API calls", "aggregation": "count" },
        { "code": "storage_gb", "name": "Storage", "aggregation": "max", "property": "gb" },
        { "code": "active_seats", "name": "Seats", "aggregation": "unique_count", "property": "user_id" }
    ])
}

/// `n` customers (`cus_0000`…, 20 % tax) for a catalog, and a subscription
/// of each to plan `pro` from `start` (`sub_0000`…), periods on the 1st.
#[allow(dead_code)]
pub fn customers_on_pro(n: u64, start: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let customers = (0..n)
        .map(
            |c| serde_json::json!({ "id": format!("cus_{c:04}"), "name": format!("Customer {c}"), "tax_rate": "0.20" }),
        )
        .collect();
    let subscriptions = (0..n)
        .map(|c| {
            serde_json::json!({ "id": format!("sub_{c:04}"), "customer": format!("cus_{c:04}"), "plan": "pro",
                                "start": start, "anchor_day": 1 })
        })
        .collect();
    (customers, subscriptions)
}

/// A workspace at `path` with `n` customers (`cus_00000`…, Berlin, 19% tax), each
/// on a plan of 8 grouped token charges, a fee and a discount (10 lines an
/// invoice), with 8 events each in October 2026.
#[allow(dead_code)]
pub fn invoicing_workspace(path: &Path, n: u64, now: chrono::DateTime<Utc>) -> meterdesk_engine::Workspace {
    use meterdesk_engine::event_file::Format;
    use meterdesk_engine::events::{self, ImportOptions};
    use meterdesk_engine::{Workspace, catalog};
    use std::ops::ControlFlow;
    let mut ws = Workspace::create(path).unwrap();
    // A plan of 8 charges on grouped tokens, with a fee and a discount: 10 lines an invoice.
    let models = ["gpt-4o", "gpt-4o-mini", "o3", "o4-mini"];
    let mut charges = Vec::new();
    for m in models {
        charges.push(serde_json::json!({ "meter": "input_tokens", "group": m, "model": "graduated",
            "tiers": [ { "up_to": "100000", "unit_price": "0.0000025" }, { "up_to": null, "unit_price": "0.000002" } ] }));
        charges.push(
            serde_json::json!({ "meter": "output_tokens", "group": m, "model": "per_unit", "unit_price": "0.00001" }),
        );
    }
    let customers: Vec<_> = (0..n)
        .map(|c| {
            serde_json::json!({ "id": format!("cus_{c:05}"), "name": format!("Customer {c} GmbH & Co. KG"),
            "tax_rate": "0.19", "address": [format!("Hauptstraße {c}"), "10115 Berlin", "Germany"] })
        })
        .collect();
    let subs: Vec<_> = (0..n)
        .map(|c| {
            serde_json::json!({ "id": format!("sub_{c:05}"), "customer": format!("cus_{c:05}"), "plan": "pro",
            "start": "2026-10-01", "discounts": [ { "name": "Partner discount", "percent": "5" } ] })
        })
        .collect();
    let text = serde_json::json!({
        "workspace": { "timezone": "Europe/Berlin", "currency": "EUR", "name": "Acme AI GmbH",
                       "address": ["Friedrichstraße 1", "10117 Berlin"], "tax_id": "DE123456789" },
        "customers": customers,
        "meters": [
            { "code": "input_tokens", "name": "Input tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "output_tokens", "name": "Output tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" }
        ],
        "plans": [ { "code": "pro", "name": "Pro", "currency": "EUR", "interval": "month",
            "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ], "charges": charges } ],
        "subscriptions": subs
    })
    .to_string();
    ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now)).unwrap();
    let mut csv = String::from("id,customer,type,timestamp,tokens,model\n");
    let mut i = 0;
    for c in 0..n {
        for ty in ["input_tokens", "output_tokens"] {
            for m in models {
                i += 1;
                csv.push_str(&format!(
                    "e{i},cus_{c:05},{ty},2026-10-{:02}T12:00:00Z,{},{m}\n",
                    1 + i % 28,
                    1000 + i * 7919 % 900_000
                ));
            }
        }
    }
    events::import(&mut ws, csv.as_bytes(), &ImportOptions::new("e.csv", Format::Csv), now, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();

    ws
}

/// October 2026, the month every bench bills.
#[allow(dead_code)]
pub fn october() -> meterdesk_engine::period::Month {
    meterdesk_engine::period::Month::parse("2026-10", "month").unwrap()
}
