//! Meterdesk's store: the workspace file and what is written in it, below
//! the engine's use cases and above the rules. It opens, migrates and backs
//! up the file, hands out its transactions, writes and strictly reads stored
//! values (times, decimals), keeps the events (chunks and keys) and the
//! settings row. It knows nothing of meters, plans or invoices.

pub mod error;
pub mod event_store;
pub mod settings;
pub mod stored;
pub mod workspace;

pub use error::{Error, ErrorCode, Problem, Result};
pub use workspace::{Workspace, backup};

/// The rules the store writes and reads (money for stored decimals, months
/// for the workspace summary).
use meterdesk_rules::{money, period};
