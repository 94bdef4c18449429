//! The catalog file: the workspace's pricing-as-code, applied whole or not at all.
//!
//! It carries the workspace settings, customers, meters, plans, subscriptions,
//! the wallets' grants, cost rates and exchange rates. A grant is never changed by a catalog: a new id
//! adds one, the same id with the same terms changes nothing, other terms are
//! a problem.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::cost;
use crate::customer::{self, CustomerFields};
use crate::error::{Error, Problem, Result};
use crate::meter::{self, MeterFields};
use crate::money::Currency;
use crate::plan::{self, PlanFields};
use crate::settings::{self, Settings};
use crate::subscription::{self, SubscriptionFields};
use crate::wallet::{self, GrantFields, Origin, WalletFields};

/// A catalog file (see docs/interfaces.md "The catalog file").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<CatalogWorkspace>,
    #[serde(default)]
    pub customers: Vec<CustomerFields>,
    #[serde(default)]
    pub meters: Vec<MeterFields>,
    #[serde(default)]
    pub plans: Vec<PlanFields>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionFields>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<WalletFields>,
    /// Earlier versions of the plans that subscriptions still hold, so that a
    /// fresh workspace bills them on the terms they were sold on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_versions: Vec<PlanVersionFields>,
    /// What usage costs the company (docs/billing.md "Costs and margin"):
    /// rates are added or changed by meter, group and first day, never removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<cost::CostRateFields>,
    /// Exchange rates for reports; added or changed by pair and day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fx_rates: Vec<cost::FxRate>,
    /// Usage and spend alert rules (docs/billing.md "Alerts"), by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<meterdesk_rules::alert_rule::AlertRuleFields>,
}

/// An earlier version of a plan, as a catalog carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanVersionFields {
    pub version: i64,
    pub definition: PlanFields,
}

/// The `workspace` section: every field optional; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogWorkspace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms_days: Option<u32>,
    /// Where customers pay (docs/interfaces.md "The catalog file").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::settings::PaymentDetails>,
    /// The mail server and the messages' templates; its password is never in a catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<crate::settings::MailSettings>,
    /// The reminder levels, in days after the due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_days: Option<Vec<u32>>,
}

/// What `apply` did, by entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct ApplyReport {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

impl CatalogWorkspace {
    fn merged_into(self, current: Settings) -> Settings {
        Settings {
            company_name: self.name.unwrap_or(current.company_name),
            address: self.address.unwrap_or(current.address),
            tax_id: self.tax_id.or(current.tax_id),
            currency: self.currency.unwrap_or(current.currency),
            timezone: self.timezone.unwrap_or(current.timezone),
            invoice_prefix: self.invoice_prefix.unwrap_or(current.invoice_prefix),
            payment_terms_days: self.payment_terms_days.unwrap_or(current.payment_terms_days),
            payment: self.payment.or(current.payment),
            mail: self.mail.or(current.mail),
            reminder_days: self.reminder_days.unwrap_or(current.reminder_days),
            // Not part of the catalog: how PDFs look is a console setting.
            paper: current.paper,
            usage_appendix: current.usage_appendix,
            backups_keep: current.backups_keep,
            margin_floor_percent: current.margin_floor_percent,
        }
    }

    fn from_settings(s: Settings) -> CatalogWorkspace {
        CatalogWorkspace {
            name: Some(s.company_name),
            currency: Some(s.currency),
            timezone: Some(s.timezone),
            invoice_prefix: Some(s.invoice_prefix),
            address: Some(s.address),
            tax_id: s.tax_id,
            payment_terms_days: Some(s.payment_terms_days),
            payment: s.payment,
            mail: s.mail,
            // The default levels are left out, as a catalog written by hand would.
            reminder_days: (s.reminder_days != meterdesk_rules::mail::DEFAULT_REMINDER_DAYS).then_some(s.reminder_days),
        }
    }
}

/// Parses a catalog, naming the JSON path of the first syntax or type error.
pub fn parse(text: &str) -> Result<Catalog> {
    // serde would also read a struct from an array; a catalog is an object.
    if let Some(first) = text.trim_start_matches('\u{feff}').trim_start().chars().next()
        && first != '{'
    {
        return Err(Error::invalid("$", format!("a catalog is a JSON object {{ ... }}, found {first:?}")));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let catalog: Catalog = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde_path_to_error writes "?" for a key it had not read yet.
        let raw = e.path().to_string();
        let path = match raw.trim_end_matches(".?") {
            "." | "?" => "$".to_string(),
            p => format!("$.{p}"),
        };
        Error::Invalid(vec![crate::error::json_problem(path, e.into_inner().to_string())])
    })?;
    de.end().map_err(|e| Error::invalid("$", e.to_string()))?;
    Ok(catalog)
}

/// Validates the whole catalog against the workspace, then applies it. Run it
/// inside one transaction: on any problem nothing is written, and every problem
/// is listed by JSON path.
pub fn apply(conn: &rusqlite::Transaction, catalog: Catalog, now: DateTime<Utc>) -> Result<ApplyReport> {
    let mut problems = Vec::new();
    let current = settings::get(conn)?;
    let wanted = match catalog.workspace {
        Some(section) => section.merged_into(current.clone()).normalized(),
        None => current.clone(),
    };
    for p in wanted.problems().into_iter().chain(settings::change_problems(conn, &wanted)?) {
        let field = if p.path == "company_name" { "name".to_string() } else { p.path };
        problems.push(Problem::new(format!("$.workspace.{field}"), p.message));
    }
    // A bad workspace currency is reported once, not again for every customer using it.
    let default_currency =
        if Currency::parse(&wanted.currency).is_ok() { wanted.currency.clone() } else { current.currency.clone() };
    let valid = validate_section(
        "customers",
        "id",
        &catalog.customers,
        |c| c.validate(&default_currency),
        |v| v.external_id.clone(),
        &mut problems,
    );
    for v in &valid {
        if let Some(message) = customer::currency_change_problem(conn, &v.external_id, v.currency)? {
            let i = catalog.customers.iter().position(|c| c.id.trim() == v.external_id).unwrap_or_default();
            problems.push(Problem::new(format!("$.customers[{i}].currency"), message));
        }
    }
    let meters =
        validate_section("meters", "code", &catalog.meters, MeterFields::validate, |m| m.code.clone(), &mut problems);
    // Plans may charge the stored meters and the catalog's (code → grouped).
    let mut chargeable: HashMap<String, bool> =
        meter::all(conn)?.into_iter().map(|m| (m.fields.code, m.fields.group_by.is_some())).collect();
    chargeable.extend(catalog.meters.iter().map(|m| (m.code.trim().to_string(), m.group_by.is_some())));
    let plans = validate_section(
        "plans",
        "code",
        &catalog.plans,
        |p| p.validate(&chargeable),
        |v| v.fields.code.clone(),
        &mut problems,
    );
    let earlier = validate_plan_versions(conn, &catalog.plan_versions, &catalog.plans, &chargeable, &mut problems)?;
    // Subscriptions see the customers and plans as they will be after this catalog.
    let mut context = subscription::context(conn)?;
    context.versions.extend(earlier.iter().map(|(v, p)| ((p.fields.code.clone(), *v), p.fields.clone())));
    context.customers.extend(valid.iter().map(|c| (c.external_id.clone(), c.currency.code())));
    context.latest.extend(plans.iter().map(|p| (p.fields.code.clone(), p.fields.clone())));
    let subscriptions = validate_section(
        "subscriptions",
        "id",
        &catalog.subscriptions,
        |s| s.validate(&context),
        |v| v.fields.id.clone(),
        &mut problems,
    );
    let entries: Vec<(usize, SubscriptionFields)> = subscriptions
        .iter()
        .filter_map(|v| {
            let i = catalog.subscriptions.iter().position(|s| s.id.trim() == v.fields.id)?;
            Some((i, v.fields.clone()))
        })
        .collect();
    let zone = settings::zone(conn)?;
    for (i, p) in subscription::invoiced_problems(conn, zone, &entries, &context.existing)? {
        problems.push(Problem::new(format!("$.subscriptions[{i}].{}", p.path), p.message));
    }
    let stored: Vec<_> = context.existing.into_values().collect();
    for (i, p) in subscription::overlap_problems(&entries, &stored) {
        problems.push(Problem::new(format!("$.subscriptions[{i}].{}", p.path), p.message));
    }
    let wallets = validate_wallets(conn, &catalog.wallets, &context.customers, &mut problems)?;
    let priced: std::collections::BTreeMap<String, bool> = chargeable.into_iter().collect();
    for p in cost::save_problems(conn, &catalog.costs, &priced)? {
        problems.push(Problem::new(format!("$.{}", p.path), p.message));
    }
    for p in cost::validate_fx(&catalog.fx_rates) {
        problems.push(Problem::new(format!("$.{}", p.path), p.message));
    }
    // Rules see the meters, customers and plans as they will be after this catalog.
    let rule_context = crate::alert_rules::context(
        conn,
        meterdesk_rules::alert_rule::RuleContext {
            meters: priced.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            customers: context.customers.keys().cloned().collect(),
            plans: context.latest.keys().cloned().collect(),
        },
    )?;
    let alert_rules = validate_section(
        "alerts",
        "id",
        &catalog.alerts,
        |r| r.validate(&rule_context).map(|(fields, _)| fields),
        |r| r.id.clone(),
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }

    let mut report = ApplyReport::default();
    let mut count = |changed: bool| if changed { report.updated += 1 } else { report.unchanged += 1 };
    count(settings::update(conn, wanted)?);
    for v in &valid {
        if customer::get(conn, &v.external_id)?.is_some() {
            count(customer::update(conn, v, now)?);
        } else {
            customer::insert(conn, v, now)?;
            report.created += 1;
        }
    }
    for m in &meters {
        if meter::get(conn, &m.code)?.is_some() {
            count(meter::update(conn, m, now)?);
        } else {
            meter::insert(conn, m, now)?;
            report.created += 1;
        }
    }
    for p in &plans {
        if plan::get(conn, &p.fields.code)?.is_some() {
            count(plan::save(conn, p, now)?);
        } else {
            let versions: Vec<(i64, &plan::ValidPlan)> =
                earlier.iter().filter(|(_, e)| e.fields.code == p.fields.code).map(|(v, e)| (*v, e)).collect();
            plan::create_with_earlier(conn, &versions, p, now)?;
            report.created += 1;
        }
    }
    for s in &subscriptions {
        if subscription::get(conn, &s.fields.id)?.is_some() {
            count(subscription::save(conn, s, now)?);
        } else {
            subscription::save(conn, s, now)?;
            report.created += 1;
        }
    }
    for (customer, grant) in &wallets.grants {
        match grant {
            Some(g) => {
                wallet::grant(conn, customer, g, Origin::Catalog, now)?;
                report.created += 1;
            }
            None => report.unchanged += 1,
        }
    }
    for (customer, rules) in &wallets.rules {
        match rules {
            Some(r) => {
                wallet::set_rules(conn, customer, r, now)?;
                report.updated += 1;
            }
            None => report.unchanged += 1,
        }
    }
    for (added, changed, unchanged) in [
        cost::save(conn, &catalog.costs, now)?,
        cost::save_fx(conn, &catalog.fx_rates, now)?,
        crate::alert_rules::save(conn, &alert_rules, now)?,
    ] {
        report.created += added;
        report.updated += changed;
        report.unchanged += unchanged;
    }
    Ok(report)
}

/// What a catalog's `wallets` section changes, by customer: each grant (none
/// when stored already with the same terms) and each wallet's rules (none
/// when they are the stored ones).
#[derive(Default)]
struct WalletChanges {
    grants: Vec<(String, Option<GrantFields>)>,
    rules: Vec<(String, Option<wallet::Rules>)>,
}

/// Validates the `wallets` section against the customers as they will be
/// (external id → currency code).
fn validate_wallets(
    conn: &rusqlite::Connection,
    wallets: &[WalletFields],
    currencies: &HashMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Result<WalletChanges> {
    let mut out = WalletChanges::default();
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for (i, w) in wallets.iter().enumerate() {
        let customer = w.customer.trim();
        if let Some(j) = first_at.insert(customer, i) {
            problems.push(Problem::new(
                format!("$.wallets[{i}].customer"),
                format!("\"{customer}\" has its wallet at $.wallets[{j}] already: put all its grants there"),
            ));
            continue;
        }
        let Some(currency) = currencies.get(customer).and_then(|c| Currency::parse(c).ok()) else {
            problems.push(Problem::new(
                format!("$.wallets[{i}].customer"),
                format!("no customer \"{customer}\" in the workspace or this catalog"),
            ));
            continue;
        };
        let known = customer::get(conn, customer)?.is_some();
        let stored: HashMap<String, wallet::Grant> = match known {
            true => wallet::grants(conn, customer)?.into_iter().map(|g| (g.fields.id.clone(), g)).collect(),
            false => HashMap::new(),
        };
        if let Some(rules) = &w.rules {
            match rules.validate(currency) {
                Ok(valid) => {
                    let same = known && wallet::rules(conn, customer)? == valid;
                    out.rules.push((customer.to_string(), (!same).then_some(valid)));
                }
                Err(ps) => problems.extend(
                    ps.into_iter().map(|p| Problem::new(format!("$.wallets[{i}].rules.{}", p.path), p.message)),
                ),
            }
        }
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (j, g) in w.grants.iter().enumerate() {
            let at = format!("$.wallets[{i}].grants[{j}]");
            let valid = match g.validate(currency) {
                Ok(v) => v,
                Err(ps) => {
                    problems.extend(ps.into_iter().map(|p| Problem::new(format!("{at}.{}", p.path), p.message)));
                    continue;
                }
            };
            if let Some(k) = ids.insert(valid.id.clone(), j) {
                problems.push(Problem::new(
                    format!("{at}.id"),
                    format!("duplicate id \"{}\" (also at $.wallets[{i}].grants[{k}])", valid.id),
                ));
                continue;
            }
            match stored.get(&valid.id) {
                Some(existing) if existing.fields == valid => out.grants.push((customer.to_string(), None)),
                Some(_) => problems.push(Problem::new(
                    at,
                    format!(
                        "grant \"{}\" exists with other terms; a grant never changes: void it (or adjust it) and grant anew under a new id",
                        valid.id
                    ),
                )),
                None => out.grants.push((customer.to_string(), Some(valid))),
            }
        }
    }
    Ok(out)
}

/// Validates every entry of a catalog section. Each problem is placed under the
/// entry's JSON path (`$.customers[2].email`), and a key used twice is a problem
/// at the second entry. Returns the valid entries.
fn validate_section<F, V>(
    section: &str,
    key_field: &str,
    entries: &[F],
    validate: impl Fn(&F) -> std::result::Result<V, Vec<Problem>>,
    key: impl Fn(&V) -> String,
    problems: &mut Vec<Problem>,
) -> Vec<V> {
    let mut valid = Vec::with_capacity(entries.len());
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        match validate(entry) {
            Ok(v) => {
                if let Some(j) = first_at.insert(key(&v), i) {
                    problems.push(Problem::new(
                        format!("$.{section}[{i}].{key_field}"),
                        format!("duplicate {key_field} \"{}\" (also at $.{section}[{j}])", key(&v)),
                    ));
                }
                valid.push(v);
            }
            Err(ps) => {
                problems.extend(ps.into_iter().map(|p| Problem::new(format!("$.{section}[{i}].{}", p.path), p.message)))
            }
        }
    }
    valid
}

/// Checks the catalog's earlier plan versions: valid definitions of a plan the
/// catalog or the workspace has; a stored version only as stored (a version
/// never changes); a version not stored only for a plan the workspace does not
/// have yet (it is created with them). Returns those to create, in order.
fn validate_plan_versions(
    conn: &rusqlite::Connection,
    entries: &[PlanVersionFields],
    plans: &[PlanFields],
    chargeable: &HashMap<String, bool>,
    problems: &mut Vec<Problem>,
) -> Result<Vec<(i64, plan::ValidPlan)>> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = |field: &str| format!("$.plan_versions[{i}]{field}");
        let code = e.definition.code.trim().to_string();
        let valid = match e.definition.validate(chargeable) {
            Ok(v) => v,
            Err(ps) => {
                problems
                    .extend(ps.into_iter().map(|p| Problem::new(at(&format!(".definition.{}", p.path)), p.message)));
                continue;
            }
        };
        if e.version < 1 {
            problems.push(Problem::new(at(".version"), format!("a version is 1 or more (got {})", e.version)));
            continue;
        }
        let stored = plan::get(conn, &code)?;
        match (&stored, plan::version(conn, &code, e.version)) {
            (Some(_), Ok(fields)) if fields == valid.fields => {}
            (Some(_), Ok(_)) => problems.push(Problem::new(
                at(""),
                format!("plan \"{code}\" version {} is stored with other terms: a version never changes", e.version),
            )),
            (Some(_), Err(_)) => problems.push(Problem::new(
                at(".version"),
                format!(
                    "plan \"{code}\" has no stored version {}: earlier versions come only with a new plan",
                    e.version
                ),
            )),
            (None, _) if !plans.iter().any(|p| p.code.trim() == code) => {
                problems.push(Problem::new(at(".definition.code"), format!("no plan with code \"{code}\"")))
            }
            (None, _) => {
                if out.iter().any(|(v, p): &(i64, plan::ValidPlan)| p.fields.code == code && *v == e.version) {
                    problems.push(Problem::new(at(".version"), format!("plan \"{code}\" version {} twice", e.version)));
                } else {
                    out.push((e.version, valid));
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.1.fields.code, a.0).cmp(&(&b.1.fields.code, b.0)));
    Ok(out)
}

/// The workspace as a catalog that `apply` takes back unchanged.
pub fn export(conn: &rusqlite::Connection) -> Result<Catalog> {
    let plans = plan::all(conn)?;
    let latest: HashMap<String, i64> = plans.iter().map(|p| (p.fields.code.clone(), p.version)).collect();
    // The earlier versions subscriptions hold, in order.
    let held: std::collections::BTreeSet<(String, i64)> = subscription::all(conn)?
        .iter()
        .map(|s| (s.fields.plan.clone(), s.version()))
        .filter(|(code, v)| latest.get(code).is_some_and(|l| v < l))
        .collect();
    Ok(Catalog {
        workspace: Some(CatalogWorkspace::from_settings(settings::get(conn)?)),
        customers: customer::all(conn)?.into_iter().map(|c| c.fields).collect(),
        meters: meter::all(conn)?.into_iter().map(|m| m.fields).collect(),
        plans: plans.into_iter().map(|p| p.fields).collect(),
        subscriptions: subscription::all(conn)?
            .iter()
            .map(|s| subscription::to_catalog(s, latest.get(s.fields.plan.as_str()).copied().unwrap_or(1)))
            .collect(),
        wallets: wallet::to_catalog(conn)?,
        plan_versions: held
            .into_iter()
            .map(|(code, version)| Ok(PlanVersionFields { version, definition: plan::version(conn, &code, version)? }))
            .collect::<Result<_>>()?,
        costs: cost::rates(conn)?.into_iter().map(|r| r.fields).collect(),
        fx_rates: cost::fx_rates(conn)?,
        alerts: crate::alert_rules::all(conn)?,
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

    fn apply_text(ws: &mut Workspace, text: &str) -> Result<ApplyReport> {
        let catalog = parse(text)?;
        ws.write(|tx| apply(tx, catalog, now()))
    }

    fn paths(err: Error) -> Vec<String> {
        err.problems().iter().map(|p| p.path.clone()).collect()
    }

    const GOOD: &str = r#"{
      "workspace": { "name": "Acme AI", "currency": "USD", "timezone": "America/New_York", "invoice_prefix": "INV" },
      "customers": [
        { "id": "globex", "name": "Globex Corp", "email": "ap@globex.test", "currency": "USD",
          "tax_rate": "0.20", "address": ["1 Main St", "Springfield"] },
        { "id": "initech", "name": "Initech", "tax_exempt": "Reverse charge", "tax_id": "DE811907980" }
      ]
    }"#;

    #[test]
    fn apply_creates_then_reapplying_changes_nothing() {
        let mut ws = Workspace::in_memory().unwrap();
        let first = apply_text(&mut ws, GOOD).unwrap();
        assert_eq!(first, ApplyReport { created: 2, updated: 1, unchanged: 0 });
        let again = apply_text(&mut ws, GOOD).unwrap();
        assert_eq!(again, ApplyReport { created: 0, updated: 0, unchanged: 3 });
        let s = settings::get(ws.conn()).unwrap();
        assert_eq!((s.company_name.as_str(), s.timezone.as_str()), ("Acme AI", "America/New_York"));
    }

    #[test]
    fn export_applies_back_unchanged() {
        let mut ws = Workspace::in_memory().unwrap();
        apply_text(&mut ws, GOOD).unwrap();
        let exported = serde_json::to_string(&export(ws.conn()).unwrap()).unwrap();
        let mut other = Workspace::in_memory().unwrap();
        apply_text(&mut other, &exported).unwrap();
        assert_eq!(export(other.conn()).unwrap(), export(ws.conn()).unwrap());
        assert!(exported.contains(r#""tax_id":"DE811907980""#), "the customer's tax id goes out and back: {exported}");
        assert_eq!(
            apply_text(&mut ws, &exported).unwrap().created + apply_text(&mut ws, &exported).unwrap().updated,
            0
        );
    }

    #[test]
    fn syntax_and_type_errors_name_their_json_path() {
        for (text, path, needle) in [
            ("{", "$", "EOF"),
            ("[]", "$", "JSON object"),
            ("", "$", "EOF"),
            (
                r#"{"customers": [{"id": "a", "name": "A", "tax_rate": 0.2}]}"#,
                "$.customers[0].tax_rate",
                "decimal written as a string",
            ),
            (
                r#"{"customers": [{"id": "a", "name": "A", "emial": "x"}]}"#,
                "$.customers[0].emial",
                "unknown field `emial`",
            ),
            (r#"{"workspace": {"payment_terms_days": "thirty"}}"#, "$.workspace.payment_terms_days", "invalid type"),
            (r#"{"custmers": []}"#, "$.custmers", "unknown field `custmers`"),
            (r#"{} {}"#, "$", "trailing"),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(paths(Error::Invalid(err.problems().to_vec())), [path], "{text}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn every_semantic_problem_is_listed_and_nothing_is_written() {
        let mut ws = Workspace::in_memory().unwrap();
        let text = r#"{
          "workspace": { "name": "Acme", "currency": "ZZZ", "timezone": "Nowhere/City" },
          "customers": [
            { "id": "globex", "name": "Globex" },
            { "id": "bad id", "name": "" },
            { "id": "globex", "name": "Globex again", "tax_rate": "15" }
          ],
          "meters": [ { "code": "tokens", "name": "Tokens", "aggregation": "sum" } ],
          "wallets": [
            { "customer": "globex", "grants": [
              { "id": "g1", "amount": "10.001", "kind": "free" },
              { "id": "g2", "amount": "5", "kind": "paid", "rollover": { "percent": "150" } },
              { "id": "g1", "amount": "1", "kind": "free" } ] },
            { "customer": "nobody" }
          ]
        }"#;
        let err = apply_text(&mut ws, text).unwrap_err();
        assert_eq!(
            paths(err),
            [
                "$.workspace.currency",
                "$.workspace.timezone",
                "$.customers[1].id",
                "$.customers[1].name",
                "$.customers[2].tax_rate",
                "$.meters[0].property",
                "$.wallets[0].grants[0].amount",
                "$.wallets[0].grants[1].rollover",
                "$.wallets[0].grants[1].rollover.percent",
                "$.wallets[1].customer",
            ]
        );
        let bad_dup = r#"{ "customers": [ { "id": "a", "name": "A" }, { "id": "a", "name": "B" } ] }"#;
        let err = apply_text(&mut ws, bad_dup).unwrap_err();
        assert_eq!(err.problems()[0].path, "$.customers[1].id");
        assert!(err.problems()[0].message.contains("also at $.customers[0]"));
        assert_eq!(customer::count(ws.conn()).unwrap(), 0);
        assert_eq!(settings::get(ws.conn()).unwrap(), Settings::default(), "settings untouched");
    }

    /// The meters of docs/interfaces.md's example catalog.
    const METERS: &str = r#"{ "meters": [
        { "code": "tokens", "name": "LLM tokens", "unit": "token",
          "aggregation": "sum", "property": "tokens", "group_by": "model" },
        { "code": "api_calls", "name": "API calls", "aggregation": "count" },
        { "code": "storage_gb", "name": "Storage", "unit": "GB",
          "aggregation": "max", "property": "gb" },
        { "code": "seats", "name": "Active seats",
          "aggregation": "unique_count", "property": "user_id" },
        { "code": "eu_calls", "name": "EU API calls", "aggregation": "count",
          "event": "api_calls", "filters": { "region": "eu" } }
    ] }"#;

    #[test]
    fn the_interface_examples_meters_apply_and_export_back() {
        let mut ws = Workspace::in_memory().unwrap();
        assert_eq!(apply_text(&mut ws, METERS).unwrap(), ApplyReport { created: 5, updated: 0, unchanged: 1 });
        let exported = export(ws.conn()).unwrap();
        let mut given = parse(METERS).unwrap().meters;
        given.sort_by(|a, b| a.code.cmp(&b.code));
        assert_eq!(exported.meters, given);
        let eu = exported.meters.iter().find(|m| m.code == "eu_calls").unwrap();
        assert_eq!(eu.event.as_deref(), Some("api_calls"));
        assert_eq!(apply_text(&mut ws, METERS).unwrap().unchanged, 6);
        let renamed = METERS.replace("\"Storage\"", "\"Storage (peak)\"");
        assert_eq!(apply_text(&mut ws, &renamed).unwrap(), ApplyReport { created: 0, updated: 1, unchanged: 5 });
    }

    /// Cost rates and exchange rates as docs/interfaces.md writes them, with
    /// the meter they price in the same catalog.
    const COSTS: &str = r#"{
      "meters": [ { "code": "tokens", "name": "LLM tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" } ],
      "costs": [
        { "meter": "tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.0000025", "from": "2026-01-01" },
        { "meter": "tokens", "group": "gpt-4o", "currency": "USD", "unit_cost": "0.000002", "from": "2026-10-16" },
        { "meter": "tokens", "currency": "USD", "unit_cost": "0.000001", "from": "2026-01-01" }
      ],
      "fx_rates": [ { "from": "USD", "to": "EUR", "rate": "0.92", "as_of": "2026-10-31" } ]
    }"#;

    #[test]
    fn cost_and_exchange_rates_apply_export_back_and_name_their_problems() {
        let mut ws = Workspace::in_memory().unwrap();
        // Settings, the meter, three rates and one exchange rate.
        assert_eq!(apply_text(&mut ws, COSTS).unwrap(), ApplyReport { created: 5, updated: 0, unchanged: 1 });
        let exported = export(ws.conn()).unwrap();
        let mut given = parse(COSTS).unwrap();
        given.costs.sort_by_key(|r| (r.group.is_some(), r.group.clone(), r.from));
        assert_eq!((&exported.costs, &exported.fx_rates), (&given.costs, &given.fx_rates));
        let text = serde_json::to_string(&exported).unwrap();
        assert_eq!(apply_text(&mut ws, &text).unwrap().created, 0, "exported, it applies back unchanged");
        // A cheaper rate from the same day changes that rate.
        let cheaper = COSTS.replace("\"0.000002\"", "\"0.0000018\"");
        assert_eq!(apply_text(&mut ws, &cheaper).unwrap(), ApplyReport { created: 0, updated: 1, unchanged: 5 });
        // Problems name their JSON path, and nothing is written.
        let bad = r#"{ "costs": [
            { "meter": "tokens", "group": "mini", "currency": "EUR", "unit_cost": "0.000001", "from": "2026-03-01" },
            { "meter": "calls", "currency": "USD", "unit_cost": "-1", "from": "2026-03-01" }
          ],
          "fx_rates": [ { "from": "USD", "to": "USD", "rate": "1", "as_of": "2026-10-31" } ] }"#;
        let mut found = paths(apply_text(&mut ws, bad).unwrap_err());
        found.sort();
        assert_eq!(found, ["$.costs[0].currency", "$.costs[1].meter", "$.costs[1].unit_cost", "$.fx_rates[0].to"]);
        assert_eq!(cost::rates(ws.conn()).unwrap().len(), 3);
        let err = apply_text(
            &mut ws,
            r#"{ "costs": [ { "meter": "tokens", "currency": "USD", "unit_cost": 0.5, "from": "2026-03-01" } ] }"#,
        )
        .unwrap_err();
        assert_eq!(paths(err), ["$.costs[0].unit_cost"], "a JSON number is refused: amounts are strings");
    }

    /// docs/interfaces.md's example plan.
    const PLANS: &str = r#"{ "plans": [
        { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
          "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
          "minimum_commitment": "500.00",
          "charges": [
            { "meter": "tokens", "group": "gpt-4o", "model": "graduated",
              "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" },
                         { "up_to": null, "unit_price": "0.000004", "flat_fee": "0" } ] },
            { "meter": "api_calls", "model": "per_unit",
              "unit_price": "0.001", "included": "10000" },
            { "meter": "storage_gb", "model": "package",
              "package_size": "10", "package_price": "5.00", "free": "0" },
            { "meter": "seats", "model": "volume",
              "tiers": [ { "up_to": "10", "unit_price": "20" },
                         { "up_to": null, "unit_price": "15", "flat_fee": "0" } ] }
          ] }
    ] }"#;

    #[test]
    fn the_interface_examples_plan_applies_and_exports_back() {
        let mut ws = Workspace::in_memory().unwrap();
        apply_text(&mut ws, METERS).unwrap();
        assert_eq!(apply_text(&mut ws, PLANS).unwrap(), ApplyReport { created: 1, updated: 0, unchanged: 1 });
        let exported = export(ws.conn()).unwrap();
        assert_eq!(exported.plans, parse(PLANS).unwrap().plans);
        let text = serde_json::to_string(&exported).unwrap();
        let mut again = Workspace::in_memory().unwrap();
        apply_text(&mut again, &text).unwrap();
        assert_eq!(export(again.conn()).unwrap(), exported, "an export applies back unchanged");
        assert_eq!(apply_text(&mut ws, PLANS).unwrap().unchanged, 2);
        let dearer = PLANS.replace("\"99.00\"", "\"129.00\"");
        assert_eq!(apply_text(&mut ws, &dearer).unwrap(), ApplyReport { created: 0, updated: 1, unchanged: 1 });
        assert_eq!(plan::get(ws.conn(), "pro").unwrap().unwrap().version, 1, "no subscription holds version 1 yet");
    }

    #[test]
    fn plan_problems_name_their_json_path_and_nothing_is_written() {
        let mut ws = Workspace::in_memory().unwrap();
        apply_text(&mut ws, METERS).unwrap();
        let bad = r#"{ "plans": [ { "code": "Pro Plan", "name": "", "currency": "XYZ", "interval": "month",
            "fees": [ { "name": "Fee", "amount": "-1", "timing": "arrears" } ],
            "charges": [
              { "meter": "api_calls", "group": "x", "model": "per_unit", "unit_price": "1" },
              { "meter": "tokens", "model": "graduated", "tiers": [ { "up_to": "10", "unit_price": "1" } ] },
              { "meter": "tokens", "model": "volume", "tiers": [ { "up_to": null, "unit_price": "1" } ] },
              { "meter": "gone", "model": "package", "package_size": "0", "package_price": "1" }
            ] } ] }"#;
        let err = apply_text(&mut ws, bad).unwrap_err();
        assert_eq!(
            paths(err),
            [
                "$.plans[0].code",
                "$.plans[0].name",
                "$.plans[0].currency",
                "$.plans[0].fees[0].amount",
                "$.plans[0].charges[0].group",
                "$.plans[0].charges[1].tiers[0].up_to",
                "$.plans[0].charges[2].meter",
                "$.plans[0].charges[3].meter",
                "$.plans[0].charges[3].package_size",
            ]
        );
        assert!(plan::all(ws.conn()).unwrap().is_empty());
        let typo = r#"{ "plans": [ { "code": "p", "name": "P", "currency": "USD", "interval": "week" } ] }"#;
        assert_eq!(parse(typo).unwrap_err().problems()[0].path, "$.plans[0].interval");
        let misspelt = r#"{ "plans": [ { "code": "p", "name": "P", "currency": "USD", "interval": "month",
            "charges": [ { "meter": "api_calls", "model": "per_unit", "unit_price": "1", "include": "5" } ] } ] }"#;
        let err = parse(misspelt).unwrap_err();
        assert!(err.to_string().contains("include"), "an unknown price field is refused: {err}");
        assert_eq!(err.problems()[0].path, "$.plans[0].charges[0].include");
        for (charge, path) in [
            (r#"{ "meter": "a", "model": "per_unit", "unit_price": "abc" }"#, "$.plans[0].charges[0].unit_price"),
            (
                r#"{ "meter": "a", "model": "graduated", "tiers": [ { "up_to": null, "unit_price": 5 } ] }"#,
                "$.plans[0].charges[0].tiers[0].unit_price",
            ),
            (r#"{ "meter": "a", "model": "flat" }"#, "$.plans[0].charges[0].model"),
            (r#"{ "model": "per_unit", "unit_price": "1" }"#, "$.plans[0].charges[0]"),
        ] {
            let text = format!(
                r#"{{ "plans": [ {{ "code": "p", "name": "P", "currency": "USD", "interval": "month", "charges": [ {charge} ] }} ] }}"#
            );
            assert_eq!(parse(&text).unwrap_err().problems()[0].path, path, "{charge}");
        }
    }

    #[test]
    fn subscriptions_apply_export_back_and_name_every_problem() {
        let mut ws = Workspace::in_memory().unwrap();
        let base = crate::bill::tests::CATALOG;
        assert_eq!(apply_text(&mut ws, base).unwrap().created, 2 + 4 + 2 + 1);
        let exported = export(ws.conn()).unwrap();
        let sub = &exported.subscriptions[0];
        assert_eq!((sub.id.as_str(), sub.anchor_day, sub.plan_version), ("sub_globex", Some(1), None));
        let mut again = Workspace::in_memory().unwrap();
        apply_text(&mut again, &serde_json::to_string(&exported).unwrap()).unwrap();
        assert_eq!(export(again.conn()).unwrap(), exported, "an export applies back unchanged");
        assert_eq!(apply_text(&mut ws, base).unwrap().created + apply_text(&mut ws, base).unwrap().updated, 0);

        let bad = r#"{
          "customers": [ { "id": "euro", "name": "Euro GmbH", "currency": "EUR" } ],
          "subscriptions": [
            { "id": "sub globex", "customer": "nobody", "plan": "pro", "start": "2026-10-01" },
            { "id": "s2", "customer": "euro", "plan": "pro", "start": "2026-10-01", "end": "2026-09-01", "anchor_day": 32 },
            { "id": "s3", "customer": "initech", "plan": "gold", "start": "2026-10-01" },
            { "id": "s4", "customer": "initech", "plan": "pro", "start": "2026-10-01", "plan_version": 9,
              "overrides": [ { "meter": "seats", "unit_price": "1" } ] },
            { "id": "s5", "customer": "initech", "plan": "pro", "start": "2026-10-01",
              "overrides": [ { "meter": "storage_gb", "group": "x", "package_price": "1" },
                             { "meter": "api_calls", "unit_price": "-1" },
                             { "meter": "tokens", "group": "gpt-4o", "model": "per_unit" } ],
              "discounts": [ { "name": "", "percent": "0" }, { "name": "D", "percent": "5", "amount": "1" },
                             { "name": "E", "amount": "1", "meter": "gone", "periods": 0 } ] },
            { "id": "sub_globex", "customer": "initech", "plan": "pro", "start": "2026-10-01" },
            { "id": "s6", "customer": "globex", "plan": "pro", "start": "2027-01-01" }
          ] }"#;
        let err = apply_text(&mut ws, bad).unwrap_err();
        let problems: Vec<(String, String)> =
            err.problems().iter().map(|p| (p.path.clone(), p.message.clone())).collect();
        let at: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            at,
            [
                "$.subscriptions[0].id",
                "$.subscriptions[0].customer",
                "$.subscriptions[1].plan",
                "$.subscriptions[1].end",
                "$.subscriptions[1].anchor_day",
                "$.subscriptions[2].plan",
                "$.subscriptions[3].plan_version",
                "$.subscriptions[4].overrides[0].meter",
                "$.subscriptions[4].overrides[1].unit_price",
                "$.subscriptions[4].overrides[2].unit_price",
                "$.subscriptions[4].discounts[0].name",
                "$.subscriptions[4].discounts[0].percent",
                "$.subscriptions[4].discounts[1].amount",
                "$.subscriptions[4].discounts[2].meter",
                "$.subscriptions[4].discounts[2].periods",
                "$.subscriptions[5].customer",
                "$.subscriptions[6].start",
            ],
            "{problems:#?}"
        );
        assert!(problems[2].1.contains("bills in USD, but customer \"euro\" is billed in EUR"), "{}", problems[2].1);
        assert!(problems[16].1.contains("overlaps subscription \"sub_globex\""), "{}", problems[16].1);
        assert!(customer::get(ws.conn(), "euro").unwrap().is_none(), "nothing was applied");
        // Ending the first subscription lets the next one start.
        let next = r#"{ "subscriptions": [
            { "id": "sub_globex", "customer": "globex", "plan": "pro", "start": "2026-10-15", "end": "2027-01-01", "anchor_day": 1,
              "overrides": [ { "meter": "api_calls", "unit_price": "0.0008" } ],
              "discounts": [ { "name": "Launch", "percent": "10" } ] },
            { "id": "s6", "customer": "globex", "plan": "payg", "start": "2027-01-01" } ] }"#;
        assert_eq!(apply_text(&mut ws, next).unwrap(), ApplyReport { created: 1, updated: 1, unchanged: 1 });
    }

    #[test]
    fn meter_problems_name_their_json_path() {
        let mut ws = Workspace::in_memory().unwrap();
        let typo = r#"{ "meters": [ { "code": "t", "name": "T", "aggregation": "total" } ] }"#;
        let err = apply_text(&mut ws, typo).unwrap_err();
        assert_eq!(paths(Error::Invalid(err.problems().to_vec())), ["$.meters[0].aggregation"]);
        assert!(err.to_string().contains("unknown variant `total`"), "{err}");
        let dup = r#"{ "meters": [ { "code": "t", "name": "T", "aggregation": "count" },
                                   { "code": "t", "name": "U", "aggregation": "count" },
                                   { "code": "u", "name": "U", "aggregation": "count", "filters": { "region": "" } } ] }"#;
        let err = apply_text(&mut ws, dup).unwrap_err();
        assert_eq!(paths(err), ["$.meters[1].code", "$.meters[2].filters.region"]);
        assert!(meter::all(ws.conn()).unwrap().is_empty());
    }

    #[test]
    fn customers_default_to_the_catalogs_currency() {
        let mut ws = Workspace::in_memory().unwrap();
        apply_text(&mut ws, r#"{"workspace": {"currency": "EUR"}, "customers": [{"id": "a", "name": "A"}]}"#).unwrap();
        let a = customer::get(ws.conn(), "a").unwrap().unwrap();
        assert_eq!(a.fields.currency.as_deref(), Some("EUR"));
    }
}
