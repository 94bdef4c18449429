//! Any bytes given to the customers CSV import: no panic, and the counts add up
//! to the rows that were stored.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use meterdesk_engine::{Workspace, customer};

fuzz_target!(|data: &[u8]| {
    let mut ws = Workspace::in_memory().unwrap();
    let result = ws.write(|tx| customer::customers_csv(tx, data, DateTime::UNIX_EPOCH));
    if let Ok(report) = result {
        let stored = customer::count(ws.conn()).unwrap() as u64;
        assert_eq!(report.accepted, stored, "{report:?}");
        assert!(report.errors.len() as u64 >= report.rejected);
    }
});
