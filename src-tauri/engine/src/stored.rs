//! How instants and decimals are written in the workspace: RFC 3339 UTC
//! text, and a decimal's exact text.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rust_decimal::Decimal;

use crate::money::Dec;

/// An instant as stored (seconds precision).
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An instant read back; text that is not RFC 3339 reads as the epoch.
pub(crate) fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// A decimal as stored: its exact text. (`Dec` belongs to the rules crate,
/// which knows no database; this is where it crosses.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredDec(pub Dec);

impl ToSql for StoredDec {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.0.to_string()))
    }
}

impl FromSql for StoredDec {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Decimal::from_str_exact(text).map(|d| StoredDec(Dec(d))).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Reads decimals from a row: a stored value that is not a decimal is an error
/// of the read (naming its column), never a zero.
pub(crate) trait DecColumns {
    fn dec(&self, column: usize) -> rusqlite::Result<Dec>;
    fn opt_dec(&self, column: usize) -> rusqlite::Result<Option<Dec>>;
}

impl DecColumns for rusqlite::Row<'_> {
    fn dec(&self, column: usize) -> rusqlite::Result<Dec> {
        Ok(self.get::<_, StoredDec>(column)?.0)
    }

    fn opt_dec(&self, column: usize) -> rusqlite::Result<Option<Dec>> {
        Ok(self.get::<_, Option<StoredDec>>(column)?.map(|d| d.0))
    }
}

/// The SQL condition "invoice `alias` is not void".
macro_rules! not_void {
    ($alias:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM invoice_status st WHERE st.invoice_id = ",
            $alias,
            ".id AND st.status = 'void')"
        )
    };
}
pub(crate) use not_void;

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_decimal_round_trips_through_sqlite_text_and_bad_text_is_an_error() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v TEXT) STRICT").unwrap();
        let d = Dec::from_str("123456789.000000000001").unwrap();
        conn.execute("INSERT INTO t (v) VALUES (?1)", [StoredDec(d)]).unwrap();
        let back = conn.query_row("SELECT v FROM t", [], |r| r.dec(0)).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.to_string(), "123456789.000000000001");
        conn.execute("UPDATE t SET v = 'ten'", []).unwrap();
        assert!(conn.query_row("SELECT v FROM t", [], |r| r.dec(0)).is_err(), "not a zero");
        conn.execute("UPDATE t SET v = NULL", []).unwrap();
        assert_eq!(conn.query_row("SELECT v FROM t", [], |r| r.opt_dec(0)).unwrap(), None);
    }
}
