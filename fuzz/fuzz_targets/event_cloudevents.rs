//! The cloudevents event reader on any bytes (see common.rs for the property).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::check_reader(
    meterdesk_engine::event_file::Format::CloudEvents,
    data
));
