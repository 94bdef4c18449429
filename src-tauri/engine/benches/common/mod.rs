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
