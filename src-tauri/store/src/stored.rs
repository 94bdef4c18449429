//! How instants and decimals are written in the workspace: RFC 3339 UTC
//! text, and a decimal's exact text.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rust_decimal::Decimal;

use crate::money::Dec;

/// An instant as stored (seconds precision).
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An instant read back from its stored text, if it is one.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// A stored value that does not read as what its column holds: the workspace
/// was changed outside Meterdesk, or a bug wrote it. Never read as a default.
#[derive(Debug)]
pub struct Unreadable {
    pub column: String,
    pub text: String,
    pub expected: &'static str,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {} holds \"{}\", which is not {}", self.column, self.text, self.expected)
    }
}

impl std::error::Error for Unreadable {}

/// Reads typed values from a row's text columns: a value that does not parse
/// is an error naming its column and text, never the epoch, "never expires"
/// or another kind.
pub trait Columns {
    /// The text in `column` read by `parse` as `expected` ("an RFC 3339 instant").
    fn parsed<T>(
        &self,
        column: usize,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> rusqlite::Result<T>;

    /// [`Columns::parsed`] where the column may be NULL.
    fn opt_parsed<T>(
        &self,
        column: usize,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> rusqlite::Result<Option<T>>;

    fn time(&self, column: usize) -> rusqlite::Result<DateTime<Utc>> {
        self.parsed(column, "an RFC 3339 instant", parse_time)
    }

    fn opt_time(&self, column: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        self.opt_parsed(column, "an RFC 3339 instant", parse_time)
    }

    fn opt_date(&self, column: usize) -> rusqlite::Result<Option<chrono::NaiveDate>> {
        self.opt_parsed(column, "a date (YYYY-MM-DD)", |t| t.parse().ok())
    }
}

impl Columns for rusqlite::Row<'_> {
    fn parsed<T>(
        &self,
        column: usize,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> rusqlite::Result<T> {
        let text: String = self.get(column)?;
        parse(&text).ok_or_else(|| unreadable(self, column, text, expected))
    }

    fn opt_parsed<T>(
        &self,
        column: usize,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> rusqlite::Result<Option<T>> {
        let Some(text) = self.get::<_, Option<String>>(column)? else { return Ok(None) };
        parse(&text).map(Some).ok_or_else(|| unreadable(self, column, text, expected))
    }
}

/// Where an unreadable value is: its table and the row's key.
#[derive(Debug)]
struct Located {
    table: &'static str,
    key: String,
    inner: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row {}: {}", self.table, self.key, self.inner)
    }
}

impl std::error::Error for Located {}

/// Names the table and row of an unreadable value read from `row` (whose
/// `key_column` holds the row's key); other errors pass unchanged.
pub fn located<T>(
    row: &rusqlite::Row,
    table: &'static str,
    key_column: usize,
    read: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    read(row).map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(i, t, inner) => {
            let key = row
                .get_ref(key_column)
                .ok()
                .map(|v| match v {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    _ => "?".to_string(),
                })
                .unwrap_or_else(|| "?".to_string());
            rusqlite::Error::FromSqlConversionFailure(i, t, Box::new(Located { table, key, inner }))
        }
        other => other,
    })
}

fn unreadable(row: &rusqlite::Row, column: usize, text: String, expected: &'static str) -> rusqlite::Error {
    let name = row.as_ref().column_name(column).map_or_else(|_| format!("#{column}"), str::to_string);
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        Box::new(Unreadable { column: name, text, expected }),
    )
}

/// A decimal as stored: its exact text. (`Dec` belongs to the rules crate,
/// which knows no database; this is where it crosses.)
#[derive(Debug, Clone, Copy)]
pub struct StoredDec(pub Dec);

impl StoredDec {
    /// The stored text, as a value to bind among others.
    pub fn value(self) -> rusqlite::types::Value {
        rusqlite::types::Value::Text(self.0.0.to_string())
    }
}

impl ToSql for StoredDec {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(self.value()))
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
pub trait DecColumns {
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
#[macro_export]
macro_rules! not_void {
    ($alias:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM invoice_status st WHERE st.invoice_id = ",
            $alias,
            ".id AND st.status = 'void')"
        )
    };
}
pub use crate::not_void;

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
