//! Import speed: N generated events (random ids) from a CSV file into a fresh
//! workspace, against appending the same rows into an unindexed table, in the
//! same run. `METERDESK_BENCH_EVENTS=10000000 cargo bench -p meterdesk-engine --bench import`.

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use meterdesk_engine::event_file::{self, CsvColumns, Format};
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::{Workspace, catalog, usage};

const CUSTOMERS: u64 = 1000;
const TYPES: [&str; 5] = ["input_tokens", "output_tokens", "api_calls", "storage_gb", "active_seats"];
const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "o3"];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

fn main() {
    let n: u64 = std::env::var("METERDESK_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("events.csv");
    let month_start = Utc.with_ymd_and_hms(2026, 10, 1, 4, 0, 0).unwrap().timestamp_millis();
    let month_ms = 31 * 24 * 3600 * 1000u64;
    {
        let mut out = BufWriter::new(std::fs::File::create(&csv_path).unwrap());
        writeln!(out, "id,customer,type,timestamp,tokens,model,gb,user_id").unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..n {
            let id = rng.next();
            let customer = rng.next() % CUSTOMERS;
            let ty = TYPES[(rng.next() % 5) as usize];
            // Time-ordered through the month, as usage exports are, with up to a minute of jitter.
            let ts = month_start + (i * month_ms / n) as i64 + (rng.next() % 60_000) as i64;
            let model = MODELS[(rng.next() % 3) as usize];
            let amount = rng.next() % 5000;
            writeln!(out, "{id:016x},cus_{customer:04},{ty},{ts},{amount},{model},{},u{}", amount % 100, amount % 40)
                .unwrap();
        }
    }
    let bytes = std::fs::metadata(&csv_path).unwrap().len();
    println!(
        "events: {n}, file {:.0} MB, machine: {} cores",
        bytes as f64 / 1e6,
        std::thread::available_parallelism().unwrap()
    );

    // Parsing alone.
    let start = Instant::now();
    let mut rows = 0u64;
    let file = std::io::BufReader::new(std::fs::File::open(&csv_path).unwrap());
    event_file::read(Format::Csv, &CsvColumns::default(), file, &mut |_| {
        rows += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    let parse_rate = rows as f64 / start.elapsed().as_secs_f64();
    println!("parse only                       {:>10.0} events/s", parse_rate);

    // Baseline: the same rows appended into an unindexed table, in the same batches.
    let baseline_path = dir.path().join("baseline.sqlite");
    let mut conn = rusqlite::Connection::open(&baseline_path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE events (customer TEXT, type TEXT, ts_ms INTEGER, id TEXT, properties TEXT) STRICT;",
    )
    .unwrap();
    let start = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&csv_path).unwrap());
    const BASELINE_BATCH: usize = 50_000;
    let mut batch = Vec::with_capacity(BASELINE_BATCH);
    let flush = |conn: &mut rusqlite::Connection, batch: &mut Vec<event_file::FileEvent>| {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)").unwrap();
            for e in batch.iter() {
                let props = serde_json::to_string(&e.properties).unwrap();
                stmt.execute(rusqlite::params![e.customer, e.event_type, e.timestamp.timestamp_millis(), e.id, props])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        batch.clear();
    };
    event_file::read(Format::Csv, &CsvColumns::default(), file, &mut |row| {
        batch.push(row.unwrap());
        if batch.len() == BASELINE_BATCH {
            flush(&mut conn, &mut batch);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    flush(&mut conn, &mut batch);
    let baseline_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("unindexed append (baseline)      {:>10.0} events/s", baseline_rate);
    drop(conn);

    // Meterdesk: a fresh workspace with the customers and meters the events name.
    let mut ws = Workspace::create(&dir.path().join("bench.meterdesk")).unwrap();
    let customers: Vec<_> = (0..CUSTOMERS)
        .map(|c| serde_json::json!({ "id": format!("cus_{c:04}"), "name": format!("Customer {c}") }))
        .collect();
    let meters = serde_json::json!([
        { "code": "input_tokens", "name": "Input tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
        { "code": "output_tokens", "name": "Output tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
        { "code": "api_calls", "name": "API calls", "aggregation": "count" },
        { "code": "storage_gb", "name": "Storage", "aggregation": "max", "property": "gb" },
        { "code": "active_seats", "name": "Seats", "aggregation": "unique_count", "property": "user_id" }
    ]);
    let text = serde_json::json!({ "workspace": { "timezone": "America/New_York" }, "customers": customers, "meters": meters }).to_string();
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now)).unwrap();

    // Peak memory of the import alone: reset the high-water mark (Linux).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    for pass in ["import (new events)", "re-import (all duplicates)"] {
        let start = Instant::now();
        let file = std::fs::File::open(&csv_path).unwrap();
        let report = events::import(&mut ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "{pass:<32} {rate:>10.0} events/s  ({:.2}x baseline; accepted {}, duplicates {}, rejected {})",
            rate / baseline_rate,
            report.accepted,
            report.duplicates,
            report.rejected
        );
    }
    println!("peak memory (import phases)      {:>10.0} MB", peak_rss_mb());

    let (from, to) =
        (Utc.timestamp_millis_opt(month_start).unwrap(), Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap());
    let mut samples = Vec::new();
    for c in 0..101 {
        let customer = format!("cus_{:04}", c * 7 % CUSTOMERS);
        let start = Instant::now();
        usage::value(ws.conn(), "input_tokens", &customer, from, to, None).unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "usage, one customer, one month   {:>10.2} ms median, {:.2} ms max ({} events per customer-type-month)",
        samples[50].as_secs_f64() * 1e3,
        samples[100].as_secs_f64() * 1e3,
        n / CUSTOMERS / 5
    );
}
