//! Stored plans: the definitions of `rules::plan`, validated against the
//! workspace's meters and stored as versions of the plan's code (a version a
//! subscription holds is never changed in place).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::error::{Error, Problem, Result};
use crate::stored::time_text;

pub use meterdesk_rules::plan::*;

/// A stored plan: its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub fields: PlanFields,
    pub version: i64,
}

fn definition(fields: &PlanFields) -> Result<String> {
    serde_json::to_string(fields).map_err(|e| Error::Internal(format!("a plan could not be written: {e}")))
}

/// The latest version of the plan with this code.
pub fn get(conn: &Connection, code: &str) -> Result<Option<Plan>> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT v.definition, v.version FROM plans p JOIN plan_versions v ON v.plan_id = p.id
             WHERE p.code = ?1 ORDER BY v.version DESC LIMIT 1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(text, version)| {
        let fields =
            serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored plan \"{code}\": {e}")))?;
        Ok(Plan { fields, version })
    })
    .transpose()
}

/// Every plan's latest version, by code.
pub fn all(conn: &Connection) -> Result<Vec<Plan>> {
    let codes: Vec<String> = conn
        .prepare("SELECT code FROM plans ORDER BY code")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    codes.iter().map(|c| get(conn, c)?.ok_or_else(|| Error::Internal(format!("plan \"{c}\" has no version")))).collect()
}

/// One stored version of a plan.
pub fn version(conn: &Connection, code: &str, version: i64) -> Result<PlanFields> {
    let text: String = conn
        .prepare_cached(
            "SELECT v.definition FROM plans p JOIN plan_versions v ON v.plan_id = p.id
             WHERE p.code = ?1 AND v.version = ?2",
        )?
        .query_row(params![code, version], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("plan \"{code}\" has no version {version}")))?;
    serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored plan \"{code}\" version {version}: {e}")))
}

/// Creates a plan, or changes it; returns whether anything changed. Until
/// subscriptions hold the latest version, a change replaces it; once they do,
/// the change becomes the next version and they keep theirs.
pub fn save(conn: &Transaction, plan: &ValidPlan, now: DateTime<Utc>) -> Result<bool> {
    let text = definition(&plan.fields)?;
    match get(conn, &plan.fields.code)? {
        Some(current) if current.fields == plan.fields => Ok(false),
        Some(current) if held(conn, &plan.fields.code, current.version)? => {
            conn.execute(
                "INSERT INTO plan_versions (plan_id, version, definition, created_at, updated_at)
                 SELECT id, ?2, ?3, ?4, ?4 FROM plans WHERE code = ?1",
                params![plan.fields.code, current.version + 1, text, time_text(now)],
            )?;
            Ok(true)
        }
        Some(current) => {
            conn.execute(
                "UPDATE plan_versions SET definition = ?3, updated_at = ?4
                 WHERE plan_id = (SELECT id FROM plans WHERE code = ?1) AND version = ?2",
                params![plan.fields.code, current.version, text, time_text(now)],
            )?;
            Ok(true)
        }
        None => {
            conn.execute(
                "INSERT INTO plans (code, created_at) VALUES (?1, ?2)",
                params![plan.fields.code, time_text(now)],
            )?;
            conn.execute(
                "INSERT INTO plan_versions (plan_id, version, definition, created_at, updated_at) VALUES (?1, 1, ?2, ?3, ?3)",
                params![conn.last_insert_rowid(), text, time_text(now)],
            )?;
            Ok(true)
        }
    }
}

/// Creates a plan with earlier versions (a catalog exported from a workspace
/// where subscriptions hold them): each under its number, then `latest` as the
/// next.
pub fn create_with_earlier(
    conn: &Transaction,
    earlier: &[(i64, &ValidPlan)],
    latest: &ValidPlan,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute("INSERT INTO plans (code, created_at) VALUES (?1, ?2)", params![latest.fields.code, time_text(now)])?;
    let id = conn.last_insert_rowid();
    let next = earlier.iter().map(|(v, _)| *v).max().unwrap_or(0) + 1;
    let all = earlier.iter().map(|(v, p)| (*v, *p)).chain(std::iter::once((next, latest)));
    for (version, plan) in all {
        conn.execute(
            "INSERT INTO plan_versions (plan_id, version, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id, version, definition(&plan.fields)?, time_text(now)],
        )?;
    }
    Ok(())
}

/// A plan as lists and the editor show it: its latest version and how many
/// subscriptions hold any version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct PlanRow {
    /// The plan editor's mirror type (PriceFields has no generated binding).
    #[ts(type = "import(\"../plan\").PlanFields")]
    pub fields: PlanFields,
    pub version: i64,
    pub subscriptions: u32,
}

/// A plan sent as JSON (the editor), read with the path of a type error.
pub fn fields_from_json(value: serde_json::Value) -> Result<PlanFields> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Error::Invalid(vec![crate::error::json_problem(path, e.into_inner().to_string())])
    })
}

/// The meters a plan may charge: code → whether it is grouped.
pub fn chargeable(conn: &Connection) -> Result<HashMap<String, bool>> {
    Ok(crate::meter::all(conn)?.into_iter().map(|m| (m.fields.code, m.fields.group_by.is_some())).collect())
}

/// Every problem of a plan sent as JSON (none: it can be saved).
pub fn problems(conn: &Connection, value: serde_json::Value) -> Result<Vec<Problem>> {
    let fields = match fields_from_json(value) {
        Ok(f) => f,
        Err(Error::Invalid(problems)) => return Ok(problems),
        Err(e) => return Err(e),
    };
    Ok(fields.validate(&chargeable(conn)?).err().unwrap_or_default())
}

/// Validates a plan against the stored meters; problems keyed by field path.
pub fn check(conn: &Connection, fields: &PlanFields) -> Result<ValidPlan> {
    fields.validate(&chargeable(conn)?).map_err(Error::Invalid)
}

fn subscriptions_of(conn: &Connection, code: &str) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT count(*) FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE p.code = ?1",
        [code],
        |r| r.get(0),
    )?)
}

/// Every plan with its latest version and subscription count, by code.
pub fn rows(conn: &Connection) -> Result<Vec<PlanRow>> {
    all(conn)?
        .into_iter()
        .map(|p| {
            let subscriptions = subscriptions_of(conn, &p.fields.code)?;
            Ok(PlanRow { fields: p.fields, version: p.version, subscriptions })
        })
        .collect()
}

/// Saves a plan from the editor: `create` refuses an existing code, an edit
/// refuses an unknown one. A plan that subscriptions hold gets a new version.
pub fn save_edited(
    conn: &rusqlite::Transaction,
    fields: &PlanFields,
    create: bool,
    now: DateTime<Utc>,
) -> Result<PlanRow> {
    let valid = check(conn, fields)?;
    let code = valid.fields.code.clone();
    match (create, get(conn, &code)?.is_some()) {
        (true, true) => return Err(Error::Conflict(format!("a plan with code \"{code}\" already exists"))),
        (false, false) => return Err(Error::NotFound(format!("no plan with code \"{code}\""))),
        _ => {}
    }
    save(conn, &valid, now)?;
    let plan = get(conn, &code)?.ok_or_else(|| Error::Internal(format!("plan \"{code}\" was not saved")))?;
    Ok(PlanRow { subscriptions: subscriptions_of(conn, &code)?, fields: plan.fields, version: plan.version })
}

/// Whether any subscription holds this version of the plan (then it is
/// never changed in place: a change makes a new version).
fn held(conn: &Connection, plan: &str, version: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE p.code = ?1 AND s.plan_version = ?2 LIMIT 1",
            params![plan, version],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
