//! The property every event reader must keep on any input: no panic, no hang,
//! and every row is an event or a reject located on a line of the input.

use std::ops::ControlFlow;

use meterdesk_engine::event_file::{self, CsvColumns, Format};

pub fn check_reader(format: Format, data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let _ = event_file::read(format, &CsvColumns::default(), data, &mut |row, _raw| {
        let line = match &row {
            Ok(e) => e.line,
            Err(e) => e.line,
        };
        assert!((1..=lines).contains(&line), "line {line} outside 1..={lines}");
        ControlFlow::Continue(())
    });
}
