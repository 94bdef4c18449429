//! The stored chunk decoder on any bytes: damaged data is an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = meterdesk_engine::event_store::decode(data, |_| {});
});
