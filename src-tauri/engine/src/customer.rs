//! Customers: the accounts that are billed, keyed by the company's own external id.

mod from_csv;
pub use from_csv::customers_csv;

use chrono::{DateTime, Utc};

use crate::stored::{Columns, located, time_text};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::money::{Currency, Dec};
use crate::settings::{MAX_TEXT_CHARS, address_problems, normalize_address, required_text_problem};
use crate::stored::{DecColumns, StoredDec};

pub const MAX_ID_CHARS: usize = 128;

/// A customer as entered in a form, a catalog file or a CSV row: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CustomerFields {
    /// The company's own id for the customer (what usage events name). Immutable.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// ISO 4217; absent means the workspace's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A fraction: 20% is "0.20". Absent means 0 (or exempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<Dec>,
    /// The reason the customer is exempt from tax, printed on invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_exempt: Option<String>,
    /// The customer's own tax id (VAT or GST number), printed on invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

/// How tax applies to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tax {
    Rate(Decimal),
    Exempt(String),
}

/// A customer that passed validation: every field is known to be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCustomer {
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub currency: Currency,
    pub tax: Tax,
    pub tax_id: Option<String>,
    pub address: Vec<String>,
    pub archived: bool,
}

/// A stored customer, as lists and editors show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Customer {
    #[serde(flatten)]
    #[ts(flatten)]
    pub fields: CustomerFields,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

/// One page of a (possibly filtered) customer list, for virtualized tables.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CustomerPage {
    /// How many customers match the filter in all.
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<Customer>,
}

impl CustomerFields {
    /// Validates the fields; problems are keyed by field name.
    pub fn validate(&self, default_currency: &str) -> std::result::Result<ValidCustomer, Vec<Problem>> {
        let mut problems = Vec::new();
        let id = self.id.trim();
        if let Some(problem) = required_text_problem("id", "the customer id", id, MAX_ID_CHARS) {
            problems.push(problem);
        } else if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.:@/+".contains(*c))) {
            problems
                .push(Problem::new("id", format!("\"{id}\" contains {bad:?}; use letters, digits and _ - . : @ / +")));
        }
        let name = self.name.trim();
        problems.extend(required_text_problem("name", "the customer name", name, MAX_TEXT_CHARS));
        let email = self.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        if let Some(email) = email
            && let Some(why) = meterdesk_rules::mail::addresses_problem(email)
        {
            problems.push(Problem::new("email", why));
        }
        let currency = match Currency::parse(self.currency.as_deref().unwrap_or(default_currency)) {
            Ok(c) => Some(c),
            Err(message) => {
                problems.push(Problem::new("currency", message));
                None
            }
        };
        let rate = self.tax_rate.map(|d| d.0).unwrap_or(Decimal::ZERO);
        if rate < Decimal::ZERO || rate > Decimal::ONE {
            problems.push(Problem::new(
                "tax_rate",
                format!("{rate} is not a rate between 0 and 1 (write 20% as \"0.20\")"),
            ));
        }
        let exempt = self.tax_exempt.as_deref().map(str::trim);
        let tax = match exempt {
            Some("") => {
                problems.push(Problem::new("tax_exempt", "give the reason the customer is exempt"));
                Tax::Rate(rate)
            }
            Some(reason) if !rate.is_zero() => {
                problems.push(Problem::new("tax_exempt", "a tax-exempt customer cannot also have a tax rate"));
                Tax::Exempt(reason.to_string())
            }
            Some(reason) => Tax::Exempt(reason.to_string()),
            None => Tax::Rate(rate),
        };
        let tax_id = self.tax_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if tax_id.is_some_and(|t| t.chars().count() > 64) {
            problems.push(Problem::new("tax_id", "at most 64 characters"));
        }
        problems.extend(address_problems(&self.address, "address"));
        match (problems.is_empty(), currency) {
            (true, Some(currency)) => Ok(ValidCustomer {
                external_id: id.to_string(),
                name: name.to_string(),
                email: email.map(str::to_string),
                currency,
                tax,
                tax_id: tax_id.map(str::to_string),
                address: normalize_address(self.address.clone()),
                archived: self.archived,
            }),
            _ => Err(problems),
        }
    }
}

impl ValidCustomer {
    fn tax_columns(&self) -> (Dec, Option<&str>) {
        match &self.tax {
            Tax::Rate(rate) => (Dec(*rate), None),
            Tax::Exempt(reason) => (Dec::ZERO, Some(reason.as_str())),
        }
    }

    /// The fields as they would be read back: what "unchanged" compares against.
    pub fn to_fields(&self) -> CustomerFields {
        let (rate, exempt) = self.tax_columns();
        CustomerFields {
            id: self.external_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            currency: Some(self.currency.code()),
            tax_rate: exempt.is_none().then_some(rate),
            tax_exempt: exempt.map(str::to_string),
            tax_id: self.tax_id.clone(),
            address: self.address.clone(),
            archived: self.archived,
        }
    }
}

const COLUMNS: &str = "external_id, name, email, currency, tax_rate, tax_exempt_reason, address, archived_at, created_at, updated_at, tax_id";

fn from_row(r: &Row) -> rusqlite::Result<Customer> {
    located(r, "customers", 0, fields_from_row)
}

fn fields_from_row(r: &Row) -> rusqlite::Result<Customer> {
    let exempt: Option<String> = r.get(5)?;
    let archived_at: Option<String> = r.get(7)?;
    Ok(Customer {
        fields: CustomerFields {
            id: r.get(0)?,
            name: r.get(1)?,
            email: r.get(2)?,
            currency: Some(r.get(3)?),
            tax_rate: if exempt.is_some() { None } else { Some(r.dec(4)?) },
            tax_exempt: exempt,
            tax_id: r.get(10)?,
            address: r.parsed(6, "a JSON list of address lines", |t| serde_json::from_str(t).ok())?,
            archived: archived_at.is_some(),
        },
        created_at: r.time(8)?,
        updated_at: r.time(9)?,
    })
}

pub fn get(conn: &Connection, external_id: &str) -> Result<Option<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE external_id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([external_id], from_row).optional()?)
}

pub fn count(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("SELECT count(*) FROM customers", [], |r| r.get(0))?)
}

/// Every customer, ordered by external id (for exports).
pub fn all(conn: &Connection) -> Result<Vec<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers ORDER BY external_id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Search texts shorter than this scan with LIKE; longer ones use the trigram index.
const TRIGRAM: usize = 3;

/// A page of customers ordered by name, optionally filtered by a search text
/// matched against id, name and email (case-insensitive substring).
///
/// Cost: without a search, the count and the page walk an index (the partial
/// index of active customers by default), never the table; a search of 3+
/// characters looks its rows up in the trigram index.
pub fn page(conn: &Connection, search: &str, include_archived: bool, offset: u32, limit: u32) -> Result<CustomerPage> {
    let search = search.trim();
    let mut filters = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if search.chars().count() >= TRIGRAM {
        filters.push("id IN (SELECT rowid FROM customers_search WHERE customers_search MATCH ?1)".to_string());
        args.push(Value::from(format!("\"{}\"", search.replace('"', "\"\""))));
    } else if !search.is_empty() {
        let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        filters.push(
            "(external_id LIKE ?1 ESCAPE '\\' OR name LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\')".to_string(),
        );
        args.push(Value::from(pattern));
    }
    if !include_archived {
        filters.push("archived_at IS NULL".to_string());
    }
    let filter = if filters.is_empty() { String::new() } else { format!("WHERE {}", filters.join(" AND ")) };
    let total: u32 =
        conn.query_row(&format!("SELECT count(*) FROM customers {filter}"), params_from_iter(&args), |r| r.get(0))?;
    let (limit_at, offset_at) = (args.len() + 1, args.len() + 2);
    let sql = format!(
        "SELECT {COLUMNS} FROM customers {filter} ORDER BY name COLLATE NOCASE, external_id LIMIT ?{limit_at} OFFSET ?{offset_at}"
    );
    args.extend([Value::from(limit), Value::from(offset)]);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(&args), from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(CustomerPage { total, offset, rows })
}

/// Validates and creates a customer (currency defaults to the workspace's).
pub fn create(conn: &rusqlite::Transaction, fields: &CustomerFields, now: DateTime<Utc>) -> Result<Customer> {
    let valid = fields.validate(&crate::settings::get(conn)?.currency).map_err(Error::Invalid)?;
    insert(conn, &valid, now)?;
    get(conn, &valid.external_id)?.ok_or_else(|| Error::Internal("customer vanished".into()))
}

/// Validates and replaces an existing customer's details (its id never changes).
pub fn edit(conn: &rusqlite::Transaction, fields: &CustomerFields, now: DateTime<Utc>) -> Result<Customer> {
    let valid = fields.validate(&crate::settings::get(conn)?.currency).map_err(Error::Invalid)?;
    update(conn, &valid, now)?;
    get(conn, &valid.external_id)?.ok_or_else(|| Error::Internal("customer vanished".into()))
}

/// A customer's columns as `insert` and `update` bind them: ?1 id, ?2 name,
/// ?3 email, ?4 currency, ?5 tax rate, ?6 exemption, ?7 address, ?8 when
/// archived (now, or NULL when active), ?9 now, ?10 tax id.
fn row_values(c: &ValidCustomer, now: DateTime<Utc>) -> Result<[Value; 10]> {
    let (rate, exempt) = c.tax_columns();
    let address = serde_json::to_string(&c.address).map_err(|e| Error::Internal(e.to_string()))?;
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    let now = time_text(now);
    Ok([
        Value::Text(c.external_id.clone()),
        Value::Text(c.name.clone()),
        text(&c.email),
        Value::Text(c.currency.code()),
        StoredDec(rate).value(),
        exempt.map_or(Value::Null, |e| Value::Text(e.to_string())),
        Value::Text(address),
        if c.archived { Value::Text(now.clone()) } else { Value::Null },
        Value::Text(now),
        text(&c.tax_id),
    ])
}

/// Inserts a new customer; a taken id is a conflict.
pub fn insert(conn: &Transaction, c: &ValidCustomer, now: DateTime<Utc>) -> Result<()> {
    let result = conn.execute(
        "INSERT INTO customers (external_id, name, email, currency, tax_rate, tax_exempt_reason, address, archived_at, created_at, updated_at, tax_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        params_from_iter(row_values(c, now)?),
    );
    match result {
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Err(Error::Conflict(format!("a customer with id \"{}\" already exists", c.external_id)))
        }
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// Replaces a customer's details; returns whether anything changed.
pub fn update(conn: &Transaction, c: &ValidCustomer, now: DateTime<Utc>) -> Result<bool> {
    let current = get(conn, &c.external_id)?
        .ok_or_else(|| Error::NotFound(format!("no customer with id \"{}\"", c.external_id)))?;
    if current.fields == c.to_fields() {
        return Ok(false);
    }
    if let Some(message) = currency_change_problem(conn, &c.external_id, c.currency)? {
        return Err(Error::Invalid(vec![Problem::new("currency", message)]));
    }
    // An archived customer keeps the time it was first archived.
    conn.execute(
        "UPDATE customers SET name = ?2, email = ?3, currency = ?4, tax_rate = ?5, tax_exempt_reason = ?6, address = ?7,
             archived_at = CASE WHEN ?8 IS NULL THEN NULL ELSE coalesce(archived_at, ?8) END, updated_at = ?9, tax_id = ?10
         WHERE external_id = ?1",
        params_from_iter(row_values(c, now)?),
    )?;
    Ok(true)
}

/// Why a stored customer's currency cannot become `wanted`: its wallet holds
/// credit in the currency it has, and prepaid credit is never converted.
pub(crate) fn currency_change_problem(
    conn: &Connection,
    external_id: &str,
    wanted: Currency,
) -> Result<Option<String>> {
    let current: Option<String> = conn
        .query_row("SELECT currency FROM customers WHERE external_id = ?1", [external_id], |r| r.get(0))
        .optional()?;
    let Some(code) = current.filter(|code| code != &wanted.code()) else { return Ok(None) };
    let balance = crate::wallet::balance(conn, external_id)?;
    if balance > Decimal::ZERO {
        return Ok(Some(format!(
            "the wallet holds {balance} {code} of prepaid credit: void or use it before the currency becomes {}",
            wanted.code()
        )));
    }
    // A subscription bills in its plan's currency, which must stay the customer's.
    for sub in crate::subscription::of_customer(conn, external_id)? {
        let plan = crate::plan::version(conn, &sub.fields.plan, sub.version())?;
        if plan.currency != wanted.code() {
            return Ok(Some(format!(
                "subscription {} bills plan \"{}\" in {}: the customer's currency cannot become {}",
                sub.fields.id,
                sub.fields.plan,
                plan.currency,
                wanted.code()
            )));
        }
    }
    Ok(None)
}

/// Archives or restores a customer. Customers are never deleted.
pub fn set_archived(conn: &Transaction, external_id: &str, archived: bool, now: DateTime<Utc>) -> Result<Customer> {
    let changed = conn.execute(
        "UPDATE customers SET archived_at = CASE WHEN ?2 THEN coalesce(archived_at, ?3) ELSE NULL END, updated_at = ?3
         WHERE external_id = ?1",
        params![external_id, archived, time_text(now)],
    )?;
    if changed == 0 {
        return Err(Error::NotFound(format!("no customer with id \"{external_id}\"")));
    }
    get(conn, external_id)?.ok_or_else(|| Error::Internal("customer vanished".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
    }

    fn fields(id: &str, name: &str) -> CustomerFields {
        CustomerFields {
            id: id.into(),
            name: name.into(),
            email: None,
            currency: None,
            tax_rate: None,
            tax_exempt: None,
            tax_id: None,
            address: vec![],
            archived: false,
        }
    }

    fn dec(s: &str) -> Dec {
        s.parse().unwrap()
    }

    fn check(input: CustomerFields, expected: std::result::Result<(), &[&str]>) {
        let got = input.validate("USD").map(|_| ()).map_err(|p| p.iter().map(|p| p.path.clone()).collect::<Vec<_>>());
        match expected {
            Ok(()) => assert!(got.is_ok(), "{input:?} should be valid: {got:?}"),
            Err(paths) => assert_eq!(got.unwrap_err(), paths, "{input:?}"),
        }
    }

    #[test]
    fn validation_names_every_bad_field() {
        let ok = fields("globex", "Globex Corp");
        check(ok.clone(), Ok(()));
        check(CustomerFields { id: "cus_1@acme.test".into(), ..ok.clone() }, Ok(()));
        check(CustomerFields { id: "".into(), ..ok.clone() }, Err(&["id"]));
        check(CustomerFields { id: "has space".into(), ..ok.clone() }, Err(&["id"]));
        check(CustomerFields { id: "x".repeat(129), ..ok.clone() }, Err(&["id"]));
        check(CustomerFields { name: "  ".into(), ..ok.clone() }, Err(&["name"]));
        check(CustomerFields { email: Some("ap@globex.test".into()), ..ok.clone() }, Ok(()));
        check(CustomerFields { email: Some("".into()), ..ok.clone() }, Ok(()));
        check(CustomerFields { email: Some("ap at globex".into()), ..ok.clone() }, Err(&["email"]));
        check(CustomerFields { email: Some("a@b".into()), ..ok.clone() }, Err(&["email"]));
        check(CustomerFields { currency: Some("EURO".into()), ..ok.clone() }, Err(&["currency"]));
        check(CustomerFields { tax_rate: Some(dec("0")), ..ok.clone() }, Ok(()));
        check(CustomerFields { tax_rate: Some(dec("1")), ..ok.clone() }, Ok(()));
        check(CustomerFields { tax_rate: Some(dec("20")), ..ok.clone() }, Err(&["tax_rate"]));
        check(CustomerFields { tax_rate: Some(dec("-0.1")), ..ok.clone() }, Err(&["tax_rate"]));
        check(CustomerFields { tax_exempt: Some("Reverse charge".into()), ..ok.clone() }, Ok(()));
        check(CustomerFields { tax_exempt: Some(" ".into()), ..ok.clone() }, Err(&["tax_exempt"]));
        check(
            CustomerFields { tax_exempt: Some("Charity".into()), tax_rate: Some(dec("0.2")), ..ok.clone() },
            Err(&["tax_exempt"]),
        );
        check(CustomerFields { address: vec!["l".into(); 7], ..ok.clone() }, Err(&["address"]));
        check(CustomerFields { tax_id: Some("DE123456789".into()), ..ok.clone() }, Ok(()));
        check(CustomerFields { tax_id: Some("X".repeat(65)), ..ok.clone() }, Err(&["tax_id"]));
        check(
            CustomerFields { id: "".into(), name: "".into(), currency: Some("X".into()), ..ok },
            Err(&["id", "name", "currency"]),
        );
    }

    #[test]
    fn insert_get_update_archive_round_trip() {
        let mut ws = Workspace::in_memory().unwrap();
        let mut input = fields("globex", " Globex Corp ");
        input.tax_rate = Some(dec("0.20"));
        input.tax_id = Some(" DE123456789 ".into());
        input.address = vec!["1 Main St".into(), "Springfield".into()];
        let valid = input.validate("USD").unwrap();
        ws.write(|tx| insert(tx, &valid, now())).unwrap();
        let stored = get(ws.conn(), "globex").unwrap().unwrap();
        assert_eq!(stored.fields.name, "Globex Corp");
        assert_eq!(stored.fields.currency.as_deref(), Some("USD"));
        assert_eq!(stored.fields.tax_rate.unwrap().to_string(), "0.20");
        assert_eq!(stored.fields.tax_id.as_deref(), Some("DE123456789"), "trimmed");
        assert_eq!(stored.created_at, now());

        assert!(!ws.write(|tx| update(tx, &valid, now())).unwrap(), "same details: unchanged");
        let mut renamed = input.clone();
        renamed.name = "Globex Corporation".into();
        let later = now() + chrono::Duration::hours(1);
        assert!(ws.write(|tx| update(tx, &renamed.validate("USD").unwrap(), later)).unwrap());
        let stored = get(ws.conn(), "globex").unwrap().unwrap();
        assert_eq!(stored.fields.name, "Globex Corporation");
        assert_eq!(stored.updated_at, later);

        let archived = ws.write(|tx| set_archived(tx, "globex", true, later)).unwrap();
        assert!(archived.fields.archived);
        let restored = ws.write(|tx| set_archived(tx, "globex", false, later)).unwrap();
        assert!(!restored.fields.archived);
    }

    #[test]
    fn a_duplicate_id_is_a_conflict_that_names_it() {
        let mut ws = Workspace::in_memory().unwrap();
        let valid = fields("globex", "Globex").validate("USD").unwrap();
        ws.write(|tx| insert(tx, &valid, now())).unwrap();
        let err = ws.write(|tx| insert(tx, &valid, now())).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Conflict);
        assert!(err.to_string().contains("\"globex\" already exists"), "{err}");
        assert_eq!(count(ws.conn()).unwrap(), 1);
    }

    #[test]
    fn the_database_refuses_deleting_or_renaming_a_customer() {
        let mut ws = Workspace::in_memory().unwrap();
        let valid = fields("globex", "Globex").validate("USD").unwrap();
        ws.write(|tx| insert(tx, &valid, now())).unwrap();
        let delete = ws.conn().execute("DELETE FROM customers WHERE external_id = 'globex'", []);
        assert!(delete.unwrap_err().to_string().contains("archived, never deleted"));
        let rename = ws.conn().execute("UPDATE customers SET external_id = 'initech'", []);
        assert!(rename.unwrap_err().to_string().contains("immutable"));
    }

    #[test]
    fn page_filters_orders_and_hides_archived() {
        let mut ws = Workspace::in_memory().unwrap();
        ws.write(|tx| {
            for (id, name, email) in [
                ("c3", "charlie", "c@x.test"),
                ("c1", "Alpha", "ap@alpha.test"),
                ("c2", "bravo_50%", "b@x.test"),
                ("c4", "Delta", "d@x.test"),
            ] {
                let mut f = fields(id, name);
                f.email = Some(email.into());
                insert(tx, &f.validate("USD").unwrap(), now())?;
            }
            set_archived(tx, "c4", true, now())?;
            Ok(())
        })
        .unwrap();
        let names = |p: CustomerPage| p.rows.into_iter().map(|c| c.fields.name).collect::<Vec<_>>();
        let all = page(ws.conn(), "", false, 0, 100).unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(names(all), ["Alpha", "bravo_50%", "charlie"]);
        assert_eq!(page(ws.conn(), "", true, 0, 100).unwrap().total, 4);
        assert_eq!(names(page(ws.conn(), "ALPHA.test", false, 0, 100).unwrap()), ["Alpha"]);
        assert_eq!(names(page(ws.conn(), "50%", false, 0, 100).unwrap()), ["bravo_50%"], "% is literal");
        assert_eq!(names(page(ws.conn(), "o_", false, 0, 100).unwrap()), ["bravo_50%"], "_ is literal");
        assert_eq!(names(page(ws.conn(), "HARL", false, 0, 100).unwrap()), ["charlie"], "trigram substring");
        assert_eq!(page(ws.conn(), "say \"hi\" OR x", false, 0, 100).unwrap().total, 0, "quotes are literal");
        assert_eq!(names(page(ws.conn(), "elt", true, 0, 100).unwrap()), ["Delta"], "archived found on request");
        let mut renamed = fields("c3", "Echo");
        renamed.email = Some("c@x.test".into());
        ws.write(|tx| update(tx, &renamed.validate("USD").unwrap(), now())).unwrap();
        assert_eq!(page(ws.conn(), "charlie", false, 0, 100).unwrap().total, 0, "the old name left the index");
        assert_eq!(names(page(ws.conn(), "ech", false, 0, 100).unwrap()), ["Echo"]);
        let second = page(ws.conn(), "", false, 1, 1).unwrap();
        assert_eq!((second.total, second.offset), (3, 1));
        assert_eq!(names(second), ["bravo_50%"]);
    }
}
