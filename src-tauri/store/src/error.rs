//! The engine's error type and the small code enum that crosses every boundary.

use serde::Serialize;
use ts_rs::TS;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure happened; the UI and scripts branch on this, never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    Invalid,
    Conflict,
    NotAWorkspace,
    NewerWorkspace,
    Locked,
    ReadOnly,
    DiskFull,
    Io,
    Internal,
}

pub use meterdesk_rules::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{}", summarize(.0))]
    Invalid(Vec<Problem>),
    #[error("{0}")]
    Conflict(String),
    #[error("{path} is not a Meterdesk workspace ({reason}); it was left untouched")]
    NotAWorkspace { path: String, reason: String },
    #[error(
        "{path} was written by a newer Meterdesk (workspace schema {found}; this build knows up to {known}); update Meterdesk to open it"
    )]
    NewerWorkspace { path: String, found: i64, known: i64 },
    #[error("the workspace file is locked by another program or window; close it there and try again")]
    Locked,
    #[error("the workspace file is read-only: {0}")]
    ReadOnly(String),
    /// What was saved before the disk filled, when anything was (an import
    /// commits in batches); none: nothing was.
    #[error("the disk is full: {}; free some space and try again", .saved.as_deref().unwrap_or("nothing was saved"))]
    DiskFull { saved: Option<String> },
    #[error("{0}")]
    Io(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A computation would pass `Decimal`'s range: the message says whose and where.
    #[error("{0}")]
    Overflow(String),
}

fn summarize(problems: &[Problem]) -> String {
    match problems {
        [] => "invalid input".to_string(),
        [one] => format!("{}: {}", one.path, one.message),
        [first, rest @ ..] => {
            format!("{}: {} (and {} more problems)", first.path, first.message, rest.len())
        }
    }
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Invalid(_) => ErrorCode::Invalid,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::NotAWorkspace { .. } => ErrorCode::NotAWorkspace,
            Error::NewerWorkspace { .. } => ErrorCode::NewerWorkspace,
            Error::Locked => ErrorCode::Locked,
            Error::ReadOnly(_) => ErrorCode::ReadOnly,
            Error::DiskFull { .. } => ErrorCode::DiskFull,
            Error::Io(_) => ErrorCode::Io,
            Error::Internal(_) => ErrorCode::Internal,
            Error::Overflow(_) => ErrorCode::Invalid,
        }
    }

    /// The located problems, for errors that have them (empty otherwise).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid(problems) => problems,
            _ => &[],
        }
    }

    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Problem::new(path, message)])
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match err.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => Error::Locked,
            Some(C::ReadOnly) => Error::ReadOnly("SQLite refused to write".into()),
            Some(C::DiskFull) => Error::DiskFull { saved: None },
            Some(C::CannotOpen) => Error::Io(format!("cannot open the workspace file: {err}")),
            Some(C::NotADatabase) => {
                Error::NotAWorkspace { path: "the file".into(), reason: "not an SQLite database".into() }
            }
            _ => match err {
                rusqlite::Error::FromSqlConversionFailure(_, _, why) => {
                    Error::Internal(format!("the workspace holds a value that cannot be read: {why}"))
                }
                err => Error::Internal(format!("database: {err}")),
            },
        }
    }
}

impl From<crate::money::Overflow> for Error {
    fn from(err: crate::money::Overflow) -> Self {
        Error::Overflow(err.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::StorageFull {
            return Error::DiskFull { saved: None };
        }
        Error::Io(err.to_string())
    }
}

/// A problem from a JSON reader's error at `path`. A charge's price names its
/// field first ("tiers[0].unit_price: reason", see `plan::ChargeFields`): the
/// field joins the path.
pub fn json_problem(path: String, message: String) -> Problem {
    if let Some((field, rest)) = message.split_once(": ")
        && !field.is_empty()
        && field.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
    {
        let joined = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        return Problem::new(joined, rest);
    }
    Problem::new(path, message)
}

/// A rule's problem is an invalid input of the engine.
impl From<Problem> for Error {
    fn from(problem: Problem) -> Self {
        Error::Invalid(vec![problem])
    }
}
