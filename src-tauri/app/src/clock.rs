//! The time the app acts at: the system clock, unless `METERDESK_NOW` fixes it
//! (an RFC 3339 instant). Tests and demos fix it so that issue dates, due dates
//! and what counts as overdue do not depend on the day they run.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

pub const NOW_VAR: &str = "METERDESK_NOW";

/// Now, or the fixed instant.
pub fn now() -> DateTime<Utc> {
    static FIXED: OnceLock<Option<DateTime<Utc>>> = OnceLock::new();
    let fixed = FIXED.get_or_init(|| {
        let text = std::env::var(NOW_VAR).ok()?;
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                eprintln!("meterdesk: {NOW_VAR}=\"{text}\" is not an RFC 3339 instant ({e}); using the system clock");
                None
            }
        }
    });
    fixed.unwrap_or_else(Utc::now)
}
