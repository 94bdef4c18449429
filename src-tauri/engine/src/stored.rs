//! How instants are written in the workspace: RFC 3339 UTC text.

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant as stored (seconds precision).
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An instant read back; text that is not RFC 3339 reads as the epoch.
pub(crate) fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}
