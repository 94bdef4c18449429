//! The demo workspace: a small AI company with customers and meters, so a newcomer sees a
//! live console at once. Deterministic: the same call builds the same workspace.

use chrono::{DateTime, Utc};

use crate::catalog::{self, ApplyReport, Catalog, CatalogWorkspace};
use crate::customer::CustomerFields;
use crate::error::Result;
use crate::meter::{Aggregation, MeterFields};
use crate::money::Dec;

const BRANDS: &[&str] = &[
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
    "Monarch",
    "Oscorp",
    "Aperture",
    "Black Mesa",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
    "Prestige",
    "Nakatomi",
    "Virtucon",
    "Zorg",
    "Sirius",
    "Krusty",
];
const KINDS: &[&str] = &["Labs", "Analytics"];
const CITIES: &[(&str, &str, &str)] = &[
    ("San Francisco, CA 94107", "United States", "USD"),
    ("Berlin 10115", "Germany", "EUR"),
    ("London EC1A 1BB", "United Kingdom", "GBP"),
    ("Austin, TX 78701", "United States", "USD"),
    ("Paris 75002", "France", "EUR"),
    ("Tokyo 100-0005", "Japan", "JPY"),
    ("New York, NY 10001", "United States", "USD"),
];

/// The demo catalog: company settings, 50 customers and 6 meters.
pub fn catalog() -> Catalog {
    let workspace = CatalogWorkspace {
        name: Some("Acme AI".into()),
        currency: Some("USD".into()),
        timezone: Some("America/New_York".into()),
        invoice_prefix: Some("INV".into()),
        address: Some(vec!["500 Market St".into(), "San Francisco, CA 94105".into(), "United States".into()]),
        tax_id: Some("US 12-3456789".into()),
        payment_terms_days: Some(30),
    };
    let mut customers = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        for (b, brand) in BRANDS.iter().enumerate() {
            let n = k * BRANDS.len() + b;
            let (city, country, currency) = CITIES[n % CITIES.len()];
            let slug = format!("{brand} {kind}").to_lowercase().replace(' ', "-");
            let exempt = currency == "EUR" && n % 3 == 0;
            let tax_rate = match (exempt, currency) {
                (true, _) => None,
                (false, "EUR") => Some("0.19"),
                (false, "GBP") => Some("0.20"),
                (false, "JPY") => Some("0.10"),
                _ => Some(if n % 2 == 0 { "0.0825" } else { "0" }),
            };
            customers.push(CustomerFields {
                id: slug.clone(),
                name: format!("{brand} {kind}"),
                email: Some(format!("billing@{slug}.test")),
                currency: Some(currency.into()),
                tax_rate: tax_rate.map(|r| r.parse::<Dec>().expect("demo rates are decimals")),
                tax_exempt: exempt.then(|| "Reverse charge: VAT due by the recipient".into()),
                address: vec![format!("{} Demo Street", 10 + n), city.into(), country.into()],
                archived: n == 49,
            });
        }
    }
    Catalog { workspace: Some(workspace), customers, meters: meters(), ..Catalog::default() }
}

/// An AI company's meters: tokens in and out by model, API calls, resolved
/// conversations (an outcome), peak storage and active seats.
fn meters() -> Vec<MeterFields> {
    let meter =
        |code: &str, name: &str, unit: &str, aggregation, property: Option<&str>, group_by: Option<&str>| MeterFields {
            code: code.into(),
            name: name.into(),
            unit: Some(unit.into()),
            event: None,
            aggregation,
            property: property.map(str::to_string),
            filters: Default::default(),
            group_by: group_by.map(str::to_string),
        };
    vec![
        meter("input_tokens", "Input tokens", "token", Aggregation::Sum, Some("tokens"), Some("model")),
        meter("output_tokens", "Output tokens", "token", Aggregation::Sum, Some("tokens"), Some("model")),
        meter("api_calls", "API calls", "call", Aggregation::Count, None, None),
        meter("resolved_conversations", "Resolved conversations", "conversation", Aggregation::Count, None, None),
        meter("storage_gb", "Storage", "GB", Aggregation::Max, Some("gb"), None),
        meter("active_seats", "Active seats", "seat", Aggregation::UniqueCount, Some("user_id"), None),
    ]
}

/// Fills a (new) workspace with the demo data, in the caller's transaction.
pub fn build(conn: &rusqlite::Connection, now: DateTime<Utc>) -> Result<ApplyReport> {
    catalog::apply(conn, catalog(), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Workspace, customer, settings};
    use chrono::TimeZone;

    #[test]
    fn the_demo_has_a_company_and_fifty_customers() {
        let mut ws = Workspace::in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let report = ws.write(|tx| build(tx, now)).unwrap();
        assert_eq!(report.created, 56, "50 customers and 6 meters");
        assert_eq!(crate::meter::all(ws.conn()).unwrap().len(), 6);
        assert_eq!(customer::count(ws.conn()).unwrap(), 50);
        assert_eq!(settings::get(ws.conn()).unwrap().company_name, "Acme AI");
        let page = customer::page(ws.conn(), "", false, 0, 100).unwrap();
        assert_eq!(page.total, 49, "one demo customer is archived");
    }
}
