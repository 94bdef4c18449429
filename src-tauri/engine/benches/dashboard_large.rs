//! The dashboard at scale (issue 16's second target): 1,000 customers on a
//! usage plan for 24 months, 23 of them finalized (23,000 invoices, history
//! months carrying a few aggregate events each), November 2026 still in
//! draft and December running, 10,000,000 events from September to November.
//! `cargo bench -p meterdesk-engine --bench dashboard_large`
//! (`METERDESK_BENCH_EVENTS`, `METERDESK_BENCH_CUSTOMERS`, `METERDESK_BENCH_ROUNDS`).

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::time::Instant;

use chrono::{Datelike, TimeZone, Utc};
use meterdesk_engine::event_file::Format;
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::period::Month;
use meterdesk_engine::rng::Rng;
use meterdesk_engine::{Workspace, catalog, invoice, report};

mod common;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "o3"];

fn main() {
    let n = env("METERDESK_BENCH_EVENTS", 10_000_000);
    let customers = env("METERDESK_BENCH_CUSTOMERS", 1000);
    let rounds = env("METERDESK_BENCH_ROUNDS", 5) as usize;
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
    let first = Month::parse("2024-12", "month").unwrap();
    let months: Vec<Month> = std::iter::successors(Some(first), |m| m.next().ok()).take(25).collect();
    let history: Vec<Month> =
        months.iter().copied().filter(|m| m.first_day().year() < 2026 || m.first_day().month() < 9).collect();
    println!(
        "customers: {customers}, events: {n} in September–November 2026, months: {} (Dec 2024 – Dec 2026), machine: {} cores",
        months.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let build = Instant::now();
    let mut ws = Workspace::create(&dir.path().join("large.meterdesk")).unwrap();
    let (list, subs) = common::customers_on_pro(customers, "2024-12-01");
    let text = serde_json::json!({
        "workspace": { "timezone": "America/New_York" },
        "customers": list,
        "meters": [
            { "code": "input_tokens", "name": "Input tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "output_tokens", "name": "Output tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "api_calls", "name": "API calls", "aggregation": "count" }
        ],
        "plans": [ { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
            "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "arrears" } ],
            "charges": [
                { "meter": "input_tokens", "group": "gpt-4o", "model": "graduated",
                  "tiers": [ { "up_to": "100000", "unit_price": "0.0000025" }, { "up_to": null, "unit_price": "0.000002" } ] },
                { "meter": "input_tokens", "group": "gpt-4o-mini", "model": "per_unit", "unit_price": "0.0000006" },
                { "meter": "input_tokens", "group": "o3", "model": "per_unit", "unit_price": "0.00001" },
                { "meter": "output_tokens", "model": "volume",
                  "tiers": [ { "up_to": "1000000", "unit_price": "0.00001" }, { "up_to": null, "unit_price": "0.000008" } ] },
                { "meter": "api_calls", "model": "per_unit", "unit_price": "0.0005", "included": "1000" }
            ] } ],
        "costs": [
            { "meter": "input_tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.0000012", "from": "2024-01-01" },
            { "meter": "input_tokens", "group": "gpt-4o-mini", "currency": "USD", "unit_cost": "0.0000002", "from": "2024-01-01" },
            { "meter": "input_tokens", "group": "o3", "currency": "USD", "unit_cost": "0.000008", "from": "2024-01-01" },
            { "meter": "input_tokens", "group": "o3", "currency": "USD", "unit_cost": "0.000006", "from": "2026-06-15" },
            { "meter": "output_tokens", "currency": "USD", "unit_cost": "0.000004", "from": "2024-01-01" }
        ],
        "subscriptions": subs
    })
    .to_string();
    ws.write(|tx| {
        catalog::apply(tx, catalog::parse(&text)?, now)?;
        // No automatic backup before each month's finalize run.
        let mut s = meterdesk_engine::settings::get(tx)?;
        s.backups_keep = 0;
        meterdesk_engine::settings::update(tx, s)
    })
    .unwrap();

    // History: a month's usage in a few aggregate events per customer, mid-month.
    let mut rows = String::from("id,customer,type,timestamp,tokens,model\n");
    let mut rng = Rng::new(0x5eed_2024);
    for m in &history {
        let mid = Utc.from_utc_datetime(&(m.first_day() + chrono::Days::new(14)).and_hms_opt(17, 0, 0).unwrap());
        let ts = mid.timestamp_millis();
        for c in 0..customers {
            for (k, model) in MODELS.iter().enumerate() {
                let tokens = 200_000 + rng.next_u64() % 2_000_000;
                rows.push_str(&format!("h{m}{c}i{k},cus_{c:04},input_tokens,{ts},{tokens},{model}\n"));
                rows.push_str(&format!("h{m}{c}o{k},cus_{c:04},output_tokens,{ts},{},{model}\n", tokens / 3));
            }
            rows.push_str(&format!("h{m}{c}a,cus_{c:04},api_calls,{ts},,\n"));
        }
    }
    let options = ImportOptions::new("history.csv", Format::Csv);
    let at = Utc.with_ymd_and_hms(2024, 12, 15, 0, 0, 0).unwrap();
    events::import(&mut ws, rows.as_bytes(), &options, at, &mut |_| ControlFlow::Continue(())).unwrap();

    // September to November: `n` events, time-ordered.
    let csv = dir.path().join("recent.csv");
    {
        let mut out = BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(out, "id,customer,type,timestamp,tokens,model").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 9, 1, 4, 0, 0).unwrap().timestamp_millis();
        let span = (Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap().timestamp_millis() - start) as u64;
        for i in 0..n {
            let customer = rng.next_u64() % customers;
            let ts = start + (i * (span - 60_000) / n) as i64 + (rng.next_u64() % 60_000) as i64;
            let model = MODELS[(rng.next_u64() % 3) as usize];
            let (ty, tokens) = match rng.next_u64() % 3 {
                0 => ("input_tokens", rng.next_u64() % 5000),
                1 => ("output_tokens", rng.next_u64() % 1500),
                _ => ("api_calls", 0),
            };
            writeln!(out, "r{i:x},cus_{customer:04},{ty},{ts},{tokens},{model}").unwrap();
        }
        out.flush().unwrap();
    }
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let file = std::fs::File::open(&csv).unwrap();
    let report = events::import(&mut ws, file, &ImportOptions::new("recent.csv", Format::Csv), at, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(report.rejected, 0);
    // Finalized through October, each month on the 2nd of the next.
    let finalize = Instant::now();
    for m in months.iter().filter(|m| **m < Month::parse("2026-11", "month").unwrap()) {
        let next = m.next().unwrap().first_day();
        let at = Utc.with_ymd_and_hms(next.year(), next.month(), 2, 17, 0, 0).unwrap();
        let done = invoice::finalize_month(&mut ws, *m, None, at).unwrap();
        assert!(done.failures.is_empty(), "{m}: {:?}", done.failures);
    }
    let invoices = invoice::all(ws.conn()).unwrap().len();
    println!(
        "built in {:.1} s ({invoices} invoices finalized in {:.1} s)",
        build.elapsed().as_secs_f64(),
        finalize.elapsed().as_secs_f64()
    );

    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..rounds {
        let start = Instant::now();
        last = Some(report::dashboard(&mut ws, now).unwrap());
        seconds.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let d = last.expect("a round");
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "dashboard                       {:>8.1} ms  median of {rounds} ({}); {} revenue rows, {} margins, {} signals, {} drafts to finalize",
        sorted[rounds / 2],
        seconds.iter().map(|s| format!("{s:.0}")).collect::<Vec<_>>().join(", "),
        d.revenue.len(),
        d.margins.len(),
        d.signals.len(),
        d.drafts_to_finalize
    );
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64() * 1000.0
    };
    let ms = time(&mut || {
        invoice::figures(ws.conn(), None).unwrap();
    });
    println!("  of which: the invoices' figures {ms:>7.1} ms");
    let ms = time(&mut || {
        invoice::all(ws.conn()).unwrap();
    });
    println!("  (every invoice in full           {ms:>7.1} ms)");
    let ms = time(&mut || {
        meterdesk_engine::bill::preview(
            &mut ws,
            Month::parse("2026-11", "month").unwrap(),
            None,
            meterdesk_engine::bill::Kind::Period,
        )
        .unwrap();
    });
    println!("  of which: November's drafts    {ms:>8.1} ms");
    let open = [Month::parse("2026-11", "month").unwrap(), Month::parse("2026-12", "month").unwrap()];
    let ms = time(&mut || {
        meterdesk_engine::bill::preview_months(&mut ws, &open, None, meterdesk_engine::bill::Kind::Period).unwrap();
    });
    println!("  November's and December's drafts {ms:>6.1} ms (half of the customers on a second connection)");
}
