//! Importing customers from CSV: valid rows are kept, each bad row named.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, Utc};

use super::{self as customer, CustomerFields};
use crate::error::{Error, Result};
use crate::import::{ImportReport, csv_with_header, line_too_long};
use crate::money::Dec;
use crate::settings;

const CUSTOMER_COLUMNS: &[&str] = &["id", "name", "email", "currency", "tax_rate", "tax_exempt", "tax_id", "address"];

/// Imports customers from CSV with a header row. Columns: `id`, `name` (required),
/// `email`, `currency`, `tax_rate`, `tax_exempt`, `tax_id`, `address` (lines separated by
/// newlines inside the quoted cell). An id already stored with the same details is
/// a duplicate (no-op); with other details, the row is rejected. Valid rows are
/// kept, in one transaction.
pub fn customers_csv(conn: &rusqlite::Transaction, input: impl Read, now: DateTime<Utc>) -> Result<ImportReport> {
    let (mut reader, header, lines) = csv_with_header(input, "id,name,email")?;
    let header: Vec<String> = header.into_iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if !CUSTOMER_COLUMNS.contains(&name.as_str()) {
            return Err(Error::invalid(
                format!("line 1, column {}", i + 1),
                format!("unknown column \"{name}\"; expected some of {}", CUSTOMER_COLUMNS.join(", ")),
            ));
        }
        if index.insert(name.as_str(), i).is_some() {
            return Err(Error::invalid(
                format!("line 1, column {}", i + 1),
                format!("column \"{name}\" appears twice"),
            ));
        }
    }
    for required in ["id", "name"] {
        if !index.contains_key(required) {
            return Err(Error::invalid("line 1", format!("the required column \"{required}\" is missing")));
        }
    }
    let default_currency = settings::get(conn)?.currency;
    let mut report = ImportReport::default();
    let mut record = csv::ByteRecord::new();
    loop {
        let before = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) if lines.too_long().is_some() => break,
            Ok(true) => {}
            Err(e) => {
                report.reject(lines.line_at(before), "(row)", format!("unreadable CSV: {e}"));
                continue;
            }
        }
        let line = lines.line_at(record.position().map_or(before, |p| p.byte()));
        if record.len() != header.len() {
            report.reject(line, "(row)", format!("expected {} fields, found {}", header.len(), record.len()));
            continue;
        }
        match row_fields(&record, &index) {
            Err((field, reason)) => report.reject(line, field, reason),
            Ok(fields) => match fields.validate(&default_currency) {
                Err(problems) => report.reject_row(line, problems),
                Ok(valid) => match customer::get(conn, &valid.external_id)? {
                    Some(stored) if stored.fields == valid.to_fields() => report.duplicates += 1,
                    Some(_) => report.reject(
                        line,
                        "id",
                        format!(
                            "customer \"{}\" already exists with other details; edit it instead",
                            valid.external_id
                        ),
                    ),
                    None => {
                        customer::insert(conn, &valid, now)?;
                        report.accepted += 1;
                    }
                },
            },
        }
    }
    match lines.too_long() {
        Some(line) => Err(line_too_long(line)),
        None => Ok(report),
    }
}

fn row_fields(
    record: &csv::ByteRecord,
    index: &HashMap<&str, usize>,
) -> std::result::Result<CustomerFields, (String, String)> {
    let text = |name: &str| -> std::result::Result<Option<String>, (String, String)> {
        let Some(&i) = index.get(name) else { return Ok(None) };
        let raw = std::str::from_utf8(&record[i]).map_err(|_| (name.to_string(), "not valid UTF-8".to_string()))?;
        Ok(Some(raw.trim().to_string()).filter(|s| !s.is_empty()))
    };
    let tax_rate = match text("tax_rate")? {
        None => None,
        Some(s) => Some(s.parse::<Dec>().map_err(|e| ("tax_rate".to_string(), e))?),
    };
    Ok(CustomerFields {
        id: text("id")?.unwrap_or_default(),
        name: text("name")?.unwrap_or_default(),
        email: text("email")?,
        currency: text("currency")?,
        tax_rate,
        tax_exempt: text("tax_exempt")?,
        tax_id: text("tax_id")?,
        address: text("address")?.map(|a| a.lines().map(str::to_string).collect()).unwrap_or_default(),
        archived: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workspace;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
    }

    fn import(ws: &mut Workspace, csv: &[u8]) -> Result<ImportReport> {
        ws.write(|tx| customers_csv(tx, csv, now()))
    }

    #[test]
    fn valid_rows_are_kept_and_bad_rows_are_named() {
        let mut ws = Workspace::in_memory().unwrap();
        let csv = "\u{feff}id,name,email,currency,tax_rate,tax_exempt,tax_id,address\r\n\
                   globex,Globex Corp,ap@globex.test,USD,0.20,,,\"1 Main St\nSpringfield\"\r\n\
                   initech,\"Initech, Inc.\",,EUR,,Reverse charge,DE811907980,\r\n\
                   ,No Id,,,,,,\r\n\
                   umbrella,Umbrella,not-an-email,DOLLARS,0.2,,,\r\n\
                   hooli,Hooli,,,20%,,,\r\n\
                   short,row\r\n";
        let report = import(&mut ws, csv.as_bytes()).unwrap();
        assert_eq!((report.accepted, report.duplicates, report.rejected), (2, 0, 4), "{report:?}");
        let found: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(found, [(5, "id"), (6, "email"), (6, "currency"), (7, "tax_rate"), (8, "(row)")]);
        let globex = customer::get(ws.conn(), "globex").unwrap().unwrap();
        assert_eq!(globex.fields.address, ["1 Main St", "Springfield"]);
        let initech = customer::get(ws.conn(), "initech").unwrap().unwrap();
        assert_eq!(initech.fields.name, "Initech, Inc.");
        assert_eq!(initech.fields.tax_exempt.as_deref(), Some("Reverse charge"));
        assert_eq!(initech.fields.tax_id.as_deref(), Some("DE811907980"));
        assert_eq!(globex.fields.tax_id, None);
    }

    #[test]
    fn reimporting_a_file_reports_duplicates_and_changes_nothing() {
        let mut ws = Workspace::in_memory().unwrap();
        let csv = b"id,name\na,Alpha\nb,Bravo\na,Alpha\n";
        let first = import(&mut ws, csv).unwrap();
        assert_eq!((first.accepted, first.duplicates, first.rejected), (2, 1, 0));
        let second = import(&mut ws, csv).unwrap();
        assert_eq!((second.accepted, second.duplicates, second.rejected), (0, 3, 0));
        let changed = import(&mut ws, b"id,name\na,Alpha Two\n").unwrap();
        assert_eq!(changed.rejected, 1);
        assert!(changed.errors[0].reason.contains("already exists with other details"));
        assert_eq!(customer::count(ws.conn()).unwrap(), 2);
    }

    #[test]
    fn bad_utf8_rejects_only_its_row() {
        let mut ws = Workspace::in_memory().unwrap();
        let mut csv = b"id,name\nok,Fine\nbad,".to_vec();
        csv.extend_from_slice(&[0xff, 0xfe, b'\n']);
        csv.extend_from_slice(b"ok2,Fine too\n");
        let report = import(&mut ws, &csv).unwrap();
        assert_eq!((report.accepted, report.rejected), (2, 1));
        assert_eq!((report.errors[0].line, report.errors[0].field.as_str()), (3, "name"));
    }

    #[test]
    fn files_whose_header_is_wrong_are_refused_whole() {
        for (csv, needle) in [
            ("", "empty"),
            ("id,nmae\na,b\n", "unknown column \"nmae\""),
            ("id,email\na,a@b.test\n", "\"name\" is missing"),
            ("id,name,id\n", "appears twice"),
        ] {
            let mut ws = Workspace::in_memory().unwrap();
            let err = import(&mut ws, csv.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{csv:?}: {err}");
            assert_eq!(customer::count(ws.conn()).unwrap(), 0);
        }
    }

    #[test]
    fn line_numbers_are_right_in_lf_and_crlf_files_with_newlines_inside_quotes() {
        for ending in ["\n", "\r\n"] {
            let mut ws = Workspace::in_memory().unwrap();
            let csv = [
                "id,name,address",
                "a,A,\"1 Main St\nSpringfield\"",
                "b,B,",
                ",No id,",
                "c,C,\"x\ny\nz\"",
                ",No id either,",
            ]
            .join(ending)
                + ending;
            let report = import(&mut ws, csv.as_bytes()).unwrap();
            let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, [5, 9], "ending {ending:?}");
        }
    }

    #[test]
    fn header_only_imports_nothing() {
        let mut ws = Workspace::in_memory().unwrap();
        assert_eq!(import(&mut ws, b"id,name\n").unwrap(), ImportReport::default());
    }
}
