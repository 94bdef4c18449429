//! Meterdesk's engine: the use cases over the rules and the store, with no
//! knowledge of windows, IPC or terminals. The Tauri commands and the CLI
//! are thin callers.

pub mod alert;
pub mod alert_rules;
pub mod api;
pub mod bill;
pub mod catalog;
pub mod cost;
pub mod credit;
pub mod customer;
pub mod demo;
pub mod event_file;
pub mod events;
pub mod explore;
pub mod history;
pub mod import;
pub mod invoice;
pub mod late;
pub mod limits;
mod logo;
pub mod mailing;
pub mod meter;
pub mod outbox;
pub mod overview;
pub mod pdf;
pub mod plan;
pub mod pricing;
pub mod projection;
pub mod register;
pub mod report;
pub mod rollup;
pub mod settings;
mod spreadsheet;
pub mod statement;
pub mod subscription;
pub mod usage;
pub mod wallet;

#[cfg(test)]
mod seams_tests;

/// The rules the engine stores and loads (the `meterdesk-rules` crate), at
/// the paths the rest of the engine and its callers use.
pub use meterdesk_rules::{alert_rule, mail, money, payment, period, rating, rng, text};

/// The workspace file and what is stored in it (the `meterdesk-store`
/// crate), at the paths the engine and its callers use.
pub use meterdesk_store::{backup, event_store, workspace};
use meterdesk_store::{error, stored};

pub use error::{Error, ErrorCode, Problem, Result};
pub use money::{Currency, Dec};
pub use workspace::Workspace;

/// Month `YYYY-MM` in a test.
#[cfg(test)]
pub(crate) fn month(text: &str) -> period::Month {
    period::Month::parse(text, "month").unwrap()
}
