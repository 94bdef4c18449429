//! The workspace's settings: the row itself, its validation and the zone
//! are the store's (`meterdesk_store::settings`); the logo is checked here as
//! an image before the store keeps it.

use rusqlite::Transaction;

use crate::error::{Error, Result};
pub use meterdesk_store::settings::*;

/// Sets the logo (PNG or JPEG, at most [`LOGO_MAX_BYTES`]), or removes it
/// with `None`. Invoices finalized earlier keep the logo they had.
pub fn set_logo(conn: &Transaction, bytes: Option<&[u8]>, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    if let Some(bytes) = bytes {
        if bytes.len() > LOGO_MAX_BYTES {
            return Err(Error::invalid(
                "logo",
                format!("the image has {} bytes; a logo has at most {LOGO_MAX_BYTES}", bytes.len()),
            ));
        }
        crate::logo::decode(bytes).map_err(|why| Error::invalid("logo", why))?;
    }
    store_logo(conn, bytes, now)
}
