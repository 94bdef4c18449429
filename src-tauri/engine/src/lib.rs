//! Meterdesk's engine: all billing logic and storage, with no knowledge of
//! windows, IPC or terminals. The Tauri commands and the CLI are thin callers.

pub mod api;
pub mod bill;
pub mod catalog;
pub mod credit;
pub mod customer;
pub mod demo;
mod error;
pub mod event_file;
pub mod event_store;
pub mod events;
pub mod explore;
pub mod history;
pub mod import;
pub mod invoice;
pub mod late;
mod logo;
pub mod meter;
pub mod overview;
pub mod pdf;
pub mod plan;
pub mod pricing;
pub mod projection;
pub mod register;
pub mod rollup;
pub mod settings;
mod spreadsheet;
mod stored;
pub mod subscription;
pub mod usage;
pub mod wallet;
pub mod workspace;

#[cfg(test)]
mod seams_tests;

/// The rules the engine stores and loads (the `meterdesk-rules` crate), at
/// the paths the rest of the engine and its callers use.
pub use meterdesk_rules::{money, period, rating, rng, text};

/// Backups are part of the workspace file's life (a migration takes one).
pub use workspace::backup;

pub use error::{Error, ErrorCode, Problem, Result};
pub use money::{Currency, Dec};
pub use workspace::Workspace;

/// Month `YYYY-MM` in a test.
#[cfg(test)]
pub(crate) fn month(text: &str) -> period::Month {
    period::Month::parse(text, "month").unwrap()
}
