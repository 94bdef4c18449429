//! The whole CSV import into a workspace, on any bytes, in small batches: it
//! never panics, every row read is accepted, a duplicate or rejected, what is
//! stored is what was accepted, and importing the same bytes again stores
//! nothing more (its accepted and duplicate rows are all duplicates then).
#![no_main]

use std::ops::ControlFlow;
use std::sync::OnceLock;

use chrono::TimeZone;
use meterdesk_engine::event_file::Format;
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::{Workspace, catalog};

const CATALOG: &str = r#"{
  "customers": [ { "id": "a", "name": "A" }, { "id": "b", "name": "B" } ],
  "meters": [
    { "code": "t", "name": "T", "aggregation": "sum", "property": "n", "group_by": "g" },
    { "code": "c", "name": "C", "aggregation": "count", "filters": { "g": "x" } }
  ]
}"#;

fn now() -> chrono::DateTime<chrono::Utc> {
    static NOW: OnceLock<chrono::DateTime<chrono::Utc>> = OnceLock::new();
    *NOW.get_or_init(|| chrono::Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut ws = Workspace::in_memory().unwrap();
    ws.write(|tx| catalog::apply(tx, catalog::parse(CATALOG)?, now())).unwrap();
    let mut options = ImportOptions::new("fuzz.csv", Format::Csv);
    options.batch_size = 3;
    let mut rows = 0;
    let Ok(first) = events::import(&mut ws, data, &options, now(), &mut |p| {
        rows = p.rows;
        ControlFlow::Continue(())
    }) else {
        return; // an unusable file (no header) is an error, not a panic
    };
    assert_eq!(first.accepted + first.duplicates + first.rejected, rows, "{first:?}");
    assert_eq!(events::count(ws.conn()).unwrap(), first.accepted);
    let again = events::import(&mut ws, data, &options, now(), &mut |_| ControlFlow::Continue(())).unwrap();
    // Every row stored or a duplicate before is a duplicate now.
    assert_eq!((again.accepted, again.duplicates), (0, first.accepted + first.duplicates), "{again:?}");
    assert_eq!(events::count(ws.conn()).unwrap(), first.accepted);
});
