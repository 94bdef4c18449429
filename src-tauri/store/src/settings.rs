//! Workspace settings: the company that bills, its currency, zone and invoice series.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::money::{Currency, Dec};

/// The billing company's settings; one row per workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    pub company_name: String,
    pub address: Vec<String>,
    pub tax_id: Option<String>,
    /// Default ISO 4217 currency for new customers and plans.
    pub currency: String,
    /// IANA time zone in which billing periods are computed.
    pub timezone: String,
    pub invoice_prefix: String,
    pub payment_terms_days: u32,
    /// The paper invoices and credit notes are laid out on.
    pub paper: Paper,
    /// Invoice PDFs end with each usage line's quantity by day.
    pub usage_appendix: bool,
    /// How many automatic backups (before each migration and finalize run)
    /// are kept; 0 takes none.
    #[serde(default = "default_backups_keep")]
    pub backups_keep: u32,
    /// Where customers pay, printed on every invoice; none until set.
    #[serde(default)]
    pub payment: Option<PaymentDetails>,
    /// A customer whose margin % in its last ended period is below this is a
    /// power user (docs/billing.md "Business figures"); 0 to 100.
    #[serde(default = "default_margin_floor")]
    pub margin_floor_percent: Dec,
    /// The mail server invoices, credit notes, reminders and statements go
    /// through, and their templates; none until set. Its password is never here.
    #[serde(default)]
    pub mail: Option<MailSettings>,
    /// The reminder levels: days after the due date (default 7, 21, 45).
    #[serde(default = "default_reminder_days")]
    pub reminder_days: Vec<u32>,
}

fn default_reminder_days() -> Vec<u32> {
    meterdesk_rules::mail::DEFAULT_REMINDER_DAYS.to_vec()
}

fn default_backups_keep() -> u32 {
    10
}

fn default_margin_floor() -> Dec {
    Dec(rust_decimal::Decimal::from(meterdesk_rules::figures::DEFAULT_MARGIN_FLOOR_PERCENT))
}

/// The paper a PDF is laid out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

impl Paper {
    pub fn parse(text: &str) -> std::result::Result<Paper, String> {
        match text {
            "a4" => Ok(Paper::A4),
            "letter" => Ok(Paper::Letter),
            other => Err(format!("\"{other}\" is not a paper size: a4 or letter")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Paper::A4 => "a4",
            Paper::Letter => "letter",
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            company_name: "My company".into(),
            address: Vec::new(),
            tax_id: None,
            currency: "USD".into(),
            timezone: "UTC".into(),
            invoice_prefix: "INV".into(),
            payment_terms_days: 30,
            paper: Paper::A4,
            usage_appendix: false,
            backups_keep: default_backups_keep(),
            payment: None,
            margin_floor_percent: default_margin_floor(),
            mail: None,
            reminder_days: default_reminder_days(),
        }
    }
}

pub use meterdesk_rules::mail::{MailSettings, Security, Template, Templates};
pub use meterdesk_rules::payment::PaymentDetails;
pub use meterdesk_rules::text::{MAX_ADDRESS_LINES, MAX_TEXT_CHARS, address_problems, required_text_problem};

impl Settings {
    /// Every problem with these settings, keyed by field name.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        problems.extend(required_text_problem("company_name", "the company name", &self.company_name, MAX_TEXT_CHARS));
        problems.extend(address_problems(&self.address, "address"));
        if let Some(tax_id) = &self.tax_id
            && tax_id.chars().count() > 64
        {
            problems.push(Problem::new("tax_id", "at most 64 characters"));
        }
        if let Err(message) = Currency::parse(&self.currency) {
            problems.push(Problem::new("currency", message));
        }
        if let Err(message) = parse_timezone(&self.timezone) {
            problems.push(Problem::new("timezone", message));
        }
        let prefix_ok = (1..=10).contains(&self.invoice_prefix.len())
            && self.invoice_prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !prefix_ok {
            problems.push(Problem::new(
                "invoice_prefix",
                format!("\"{}\" must be 1 to 10 characters of A–Z, 0–9 or '-' (e.g. INV)", self.invoice_prefix),
            ));
        }
        if self.payment_terms_days > 365 {
            problems.push(Problem::new("payment_terms_days", "payment terms are 0 to 365 days"));
        }
        if self.backups_keep > 1000 {
            problems.push(Problem::new("backups_keep", "keep 0 to 1,000 automatic backups"));
        }
        if let Some(payment) = &self.payment {
            problems.extend(payment.problems());
        }
        let floor = self.margin_floor_percent.0;
        if floor.is_sign_negative() && !floor.is_zero()
            || floor > rust_decimal::Decimal::ONE_HUNDRED
            || floor.scale() > 1
        {
            problems
                .push(Problem::new("margin_floor_percent", "a margin floor is 0 to 100 %, with at most one decimal"));
        }
        if let Some(mail) = &self.mail {
            problems.extend(mail.problems());
        }
        if let Some(why) = meterdesk_rules::mail::reminder_days_problem(&self.reminder_days) {
            problems.push(Problem::new("reminder_days", why));
        }
        problems
    }

    /// Trims free text; empty optional text becomes absent.
    pub fn normalized(mut self) -> Settings {
        self.company_name = self.company_name.trim().to_string();
        self.address = normalize_address(self.address);
        self.tax_id = self.tax_id.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        // Details with nothing filled in are no details.
        self.payment = self.payment.map(PaymentDetails::normalized).filter(|p| *p != PaymentDetails::default());
        self.margin_floor_percent = Dec(self.margin_floor_percent.0.normalize());
        self.mail = self.mail.map(MailSettings::normalized);
        self
    }
}

pub fn normalize_address(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

pub fn parse_timezone(name: &str) -> std::result::Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("\"{name}\" is not an IANA time zone (e.g. America/New_York, Europe/Paris, UTC)"))
}

/// The workspace's time zone, in which periods, days and expiries are local.
pub fn zone(conn: &Connection) -> Result<chrono_tz::Tz> {
    parse_timezone(&get(conn)?.timezone).map_err(crate::error::Error::Internal)
}

/// Every IANA zone name, for pickers.
pub fn timezone_names() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

pub fn get(conn: &Connection) -> Result<Settings> {
    conn.prepare_cached(
        "SELECT company_name, address, tax_id, currency, timezone, invoice_prefix, payment_terms_days, paper, usage_appendix,
         backups_keep, payment, margin_floor_percent, mail, reminder_days FROM workspace_settings WHERE id = 1",
    )?
    .query_row(
        [],
        |r| {
            let address: String = r.get(1)?;
            Ok(Settings {
                company_name: r.get(0)?,
                // A stored value that does not read is an error naming its row and column, never a default.
                address: serde_json::from_str(&address).map_err(|e| stored_error(1, "address", &address, e))?,
                tax_id: r.get(2)?,
                currency: r.get(3)?,
                timezone: r.get(4)?,
                invoice_prefix: r.get(5)?,
                payment_terms_days: r.get(6)?,
                paper: {
                    let text: String = r.get(7)?;
                    Paper::parse(&text).map_err(|e| stored_error(7, "paper", &text, e))?
                },
                usage_appendix: r.get(8)?,
                backups_keep: r.get(9)?,
                payment: match r.get::<_, Option<String>>(10)? {
                    None => None,
                    Some(text) => Some(serde_json::from_str(&text).map_err(|e| stored_error(10, "payment", &text, e))?),
                },
                margin_floor_percent: {
                    let text: String = r.get(11)?;
                    text.parse().map_err(|e| stored_error(11, "margin_floor_percent", &text, e))?
                },
                mail: match r.get::<_, Option<String>>(12)? {
                    None => None,
                    Some(text) => Some(serde_json::from_str(&text).map_err(|e| stored_error(12, "mail", &text, e))?),
                },
                reminder_days: {
                    let text: String = r.get(13)?;
                    serde_json::from_str(&text).map_err(|e| stored_error(13, "reminder_days", &text, e))?
                },
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::Internal("the workspace has no settings row".into()))
}

/// A settings column whose stored text does not read.
fn stored_error(index: usize, column: &str, text: &str, why: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("workspace_settings row 1, column {column}: \"{text}\" does not read ({why})").into(),
    )
}

/// Validates and stores the settings; returns whether anything changed.
pub fn update(conn: &rusqlite::Transaction, settings: Settings) -> Result<bool> {
    let settings = settings.normalized();
    let mut problems = settings.problems();
    problems.extend(change_problems(conn, &settings)?);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if get(conn)? == settings {
        return Ok(false);
    }
    write(conn, &settings)?;
    Ok(true)
}

/// What may not change in a workspace that already has invoices: its time
/// zone, while any period stands invoiced (docs/billing.md "Corrections after
/// finalizing"): the periods' local midnights would move, and events near them
/// would be billed again in the next period, or never.
pub fn change_problems(conn: &Connection, wanted: &Settings) -> Result<Vec<Problem>> {
    let current = get(conn)?;
    if current.timezone == wanted.timezone {
        return Ok(Vec::new());
    }
    let invoiced: Option<String> = conn
        .query_row(
            concat!("SELECT number FROM invoices i WHERE ", crate::stored::not_void!("i"), " ORDER BY id LIMIT 1"),
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(invoiced
        .map(|number| {
            Problem::new(
                "timezone",
                format!(
                    "the time zone stays {} while periods are invoiced (e.g. {number}): changing it would move \
                     the periods' midnights and bill events near them twice or never",
                    current.timezone
                ),
            )
        })
        .into_iter()
        .collect())
}

/// The first settings row. Written with the first schema's columns (later
/// columns take their defaults), so tests can build a workspace of any version.
pub fn insert_defaults(conn: &Transaction) -> Result<()> {
    let s = Settings::default();
    conn.execute(
        "INSERT INTO workspace_settings (id, company_name, address, tax_id, currency, timezone, invoice_prefix, payment_terms_days)
         VALUES (1, ?1, '[]', ?2, ?3, ?4, ?5, ?6)",
        params![s.company_name, s.tax_id, s.currency, s.timezone, s.invoice_prefix, s.payment_terms_days],
    )?;
    Ok(())
}

fn write(conn: &Transaction, s: &Settings) -> Result<()> {
    let address = serde_json::to_string(&s.address).map_err(|e| Error::Internal(e.to_string()))?;
    conn.execute(
        "UPDATE workspace_settings SET company_name = ?1, address = ?2, tax_id = ?3, currency = ?4, timezone = ?5,
         invoice_prefix = ?6, payment_terms_days = ?7, paper = ?8, usage_appendix = ?9, backups_keep = ?10, payment = ?11,
         margin_floor_percent = ?12, mail = ?13, reminder_days = ?14
         WHERE id = 1",
        params![
            s.company_name,
            address,
            s.tax_id,
            s.currency,
            s.timezone,
            s.invoice_prefix,
            s.payment_terms_days,
            s.paper.as_str(),
            s.usage_appendix,
            s.backups_keep,
            s.payment.as_ref().map(|p| serde_json::to_string(p).expect("payment details serialize")),
            s.margin_floor_percent.0.normalize().to_string(),
            s.mail.as_ref().map(|m| serde_json::to_string(m).expect("mail settings serialize")),
            serde_json::to_string(&s.reminder_days).expect("reminder days serialize"),
        ],
    )?;
    Ok(())
}

/// Largest logo accepted, in bytes.
pub const LOGO_MAX_BYTES: usize = 1_000_000;

/// The logo new invoices print: its hash (what an invoice records) and bytes.
/// The hash of the logo new invoices print, without its bytes.
pub fn logo_hash(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.prepare_cached("SELECT logo FROM workspace_settings WHERE id = 1")?.query_row([], |r| r.get(0))?)
}

pub fn logo(conn: &Connection) -> Result<Option<(String, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "SELECT i.hash, i.bytes FROM workspace_settings s JOIN images i ON i.hash = s.logo WHERE s.id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A stored image by hash (an invoice's logo).
pub fn image(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn.query_row("SELECT bytes FROM images WHERE hash = ?1", [hash], |r| r.get(0)).optional()?)
}

/// Keeps `bytes` as the logo, or removes it with `None`. The engine checks
/// the image first (`engine::settings::set_logo`: PNG or JPEG, at most
/// [`LOGO_MAX_BYTES`]); this only stores it, once per content. Invoices
/// finalized earlier keep the logo they had.
pub fn store_logo(conn: &Transaction, bytes: Option<&[u8]>, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    let Some(bytes) = bytes else {
        conn.execute("UPDATE workspace_settings SET logo = NULL WHERE id = 1", [])?;
        return Ok(());
    };
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    conn.execute(
        "INSERT INTO images (hash, bytes, added_at) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING",
        params![hash, bytes, crate::stored::time_text(now)],
    )?;
    conn.execute("UPDATE workspace_settings SET logo = ?1 WHERE id = 1", [hash])?;
    Ok(())
}

/// The local date of `now` in the workspace zone.
pub fn today(conn: &Connection, now: chrono::DateTime<chrono::Utc>) -> Result<chrono::NaiveDate> {
    Ok(now.with_timezone(&zone(conn)?).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;

    #[test]
    fn a_new_workspace_has_valid_defaults() {
        let ws = Workspace::in_memory().unwrap();
        let s = get(ws.conn()).unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.problems().is_empty());
    }

    #[test]
    fn a_stored_setting_that_does_not_read_is_an_error_naming_it() {
        let ws = Workspace::in_memory().unwrap();
        // (The paper has a CHECK constraint: SQLite itself refuses a bad one.)
        for (column, text) in [("address", "not json"), ("payment", "{\"payee\": 1}"), ("mail", "{\"host\": 1}")] {
            let sql = format!("UPDATE workspace_settings SET {column} = ?1 WHERE id = 1");
            let before: String = ws
                .conn()
                .query_row(&format!("SELECT {column} FROM workspace_settings"), [], |r| r.get::<_, Option<String>>(0))
                .unwrap()
                .unwrap_or_default();
            ws.conn().execute(&sql, [text]).unwrap();
            let err = get(ws.conn()).unwrap_err().to_string();
            assert!(err.contains(&format!("column {column}")) && err.contains(text), "{err}");
            let restore: Option<&str> = if column == "address" { Some(&before) } else { None };
            ws.conn().execute(&sql, [restore]).unwrap();
        }
        assert!(get(ws.conn()).is_ok());
    }

    #[test]
    fn update_stores_normalized_settings() {
        let mut ws = Workspace::in_memory().unwrap();
        let wanted = Settings {
            company_name: "  Acme AI ".into(),
            address: vec!["1 Main St".into(), "  ".into(), "Springfield".into()],
            tax_id: Some(" ".into()),
            currency: "EUR".into(),
            timezone: "Europe/Paris".into(),
            invoice_prefix: "ACME".into(),
            payment_terms_days: 14,
            paper: Paper::Letter,
            usage_appendix: true,
            backups_keep: 3,
            // Details left blank are no details.
            payment: Some(PaymentDetails { payee: " ".into(), iban: Some(" ".into()), ..Default::default() }),
            margin_floor_percent: "25.50".parse().unwrap(),
            mail: Some(MailSettings {
                host: " SMTP.acme.test".into(),
                port: 587,
                security: Security::Starttls,
                username: Some("billing".into()),
                from: "billing@acme.test ".into(),
                templates: Templates::default(),
            }),
            reminder_days: vec![10, 30],
        };
        assert!(ws.write(|tx| update(tx, wanted.clone())).unwrap());
        let got = get(ws.conn()).unwrap();
        assert_eq!(got.payment, None);
        assert_eq!(got.company_name, "Acme AI");
        assert_eq!(got.address, vec!["1 Main St", "Springfield"]);
        assert_eq!(got.tax_id, None);
        assert_eq!((got.paper, got.usage_appendix, got.backups_keep), (Paper::Letter, true, 3));
        assert_eq!(got.margin_floor_percent.to_string(), "25.5");
        let mail = got.mail.as_ref().unwrap();
        assert_eq!((mail.host.as_str(), mail.from.as_str()), ("smtp.acme.test", "billing@acme.test"));
        assert_eq!(got.reminder_days, [10, 30]);
        assert!(!ws.write(|tx| update(tx, wanted)).unwrap(), "same settings again: no change");
    }

    #[test]
    fn invalid_settings_name_each_field_and_change_nothing() {
        let mut ws = Workspace::in_memory().unwrap();
        let bad = Settings {
            company_name: " ".into(),
            currency: "DOLLARS".into(),
            timezone: "Mars/Olympus_Mons".into(),
            invoice_prefix: "inv 2026".into(),
            payment_terms_days: 400,
            margin_floor_percent: "101".parse().unwrap(),
            reminder_days: vec![21, 7],
            ..Settings::default()
        };
        let err = ws.write(|tx| update(tx, bad)).unwrap_err();
        let fields: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            fields,
            [
                "company_name",
                "currency",
                "timezone",
                "invoice_prefix",
                "payment_terms_days",
                "margin_floor_percent",
                "reminder_days"
            ]
        );
        assert!(err.problems()[1].message.contains("ISO 4217"));
        assert!(err.problems()[2].message.contains("IANA time zone"));
        assert_eq!(get(ws.conn()).unwrap(), Settings::default());
    }
}
