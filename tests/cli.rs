//! The CLI end to end: the real binary, a real workspace file, its stdout/stderr and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

#[path = "support/smtp.rs"]
mod smtp;

/// The instant every command runs at, unless a test says otherwise.
const NOW: &str = "2026-11-24T15:00:00Z";

struct Sandbox {
    dir: tempfile::TempDir,
    /// Variables every command of this sandbox runs with.
    env: std::cell::RefCell<Vec<(String, String)>>,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().unwrap(), env: Default::default() }
    }

    fn set_env(&self, name: &str, value: &str) {
        self.env.borrow_mut().push((name.into(), value.into()));
    }

    /// The command `meterdesk ARGS` would run as, at `now`.
    fn command(&self, now: &str, args: &[&str]) -> Command {
        let home = self.dir.path().join("home");
        let mut command = Command::new(env!("CARGO_BIN_EXE_meterdesk"));
        command
            .args(args)
            .env("METERDESK_NOW", now)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            // No session bus, so no system keychain: the mail password goes to its file
            // (a test with a keychain starts its own bus).
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .envs(self.env.borrow().iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs `meterdesk ARGS` with HOME and the XDG folders inside the sandbox,
    /// at the fixed instant [`NOW`].
    fn run(&self, args: &[&str]) -> Output {
        self.run_at(NOW, args)
    }

    /// Runs `meterdesk ARGS` as if the clock said `now`.
    fn run_at(&self, now: &str, args: &[&str]) -> Output {
        self.command(now, args).output().unwrap()
    }

    /// Runs with `--workspace ws.meterdesk --json` and parses stdout.
    fn json(&self, args: &[&str]) -> (i32, Value) {
        self.json_at(NOW, args)
    }

    fn json_at(&self, now: &str, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--workspace", "ws.meterdesk", "--json"];
        all.extend_from_slice(args);
        let out = self.run_at(now, &all);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout of {args:?} is not JSON ({e}): {stdout:?}"));
        (out.status.code().unwrap(), value)
    }
}

/// Imports Globex's 1,500,000 gpt-4o tokens of Oct 20.
fn import_tokens(sb: &Sandbox) {
    let events = sb.write(
        "e.ndjson",
        &json!({"id": "t1", "customer": "globex", "type": "tokens", "timestamp": "2026-10-20T12:00:00Z",
                "properties": {"model": "gpt-4o", "tokens": "1500000"}})
        .to_string(),
    );
    assert_eq!(sb.json(&["import", events.to_str().unwrap()]).0, 0);
}

fn catalog() -> Value {
    json!({
        "workspace": {
            "name": "Acme AI", "currency": "USD", "timezone": "America/New_York", "invoice_prefix": "INV",
            "address": ["500 Market St", "San Francisco, CA 94105"], "tax_id": "US 12-3456789",
            "payment_terms_days": 30
        },
        "customers": [
            { "id": "globex", "name": "Globex Corp", "email": "ap@globex.test", "currency": "USD",
              "tax_rate": "0.20", "address": ["1 Main St", "Springfield", "グローベックス株式会社 서울 🚀"] },
            { "id": "initech", "name": "Initech GmbH", "currency": "EUR", "tax_exempt": "Reverse charge" },
            { "id": "umbrella", "name": "Umbrella", "currency": "JPY", "tax_rate": "0.10", "archived": true }
        ],
        "meters": [
            { "code": "api_calls", "name": "API calls", "aggregation": "count" },
            { "code": "eu_calls", "name": "EU API calls", "aggregation": "count",
              "event": "api_calls", "filters": { "region": "eu" } },
            { "code": "tokens", "name": "LLM tokens", "unit": "token",
              "aggregation": "sum", "property": "tokens", "group_by": "model" }
        ],
        "plans": [
            { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
              "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
              "minimum_commitment": "500.00",
              "charges": [
                { "meter": "tokens", "group": "gpt-4o", "model": "graduated",
                  "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" },
                             { "up_to": null, "unit_price": "0.000004", "flat_fee": "0" } ] },
                { "meter": "api_calls", "model": "per_unit", "unit_price": "0.001", "included": "10000" }
              ] }
        ],
        "subscriptions": [
            { "id": "sub_globex", "customer": "globex", "plan": "pro", "start": "2026-10-15", "anchor_day": 1,
              "overrides": [ { "meter": "api_calls", "unit_price": "0.0008" } ],
              "discounts": [ { "name": "Launch", "percent": "10" } ] }
        ]
    })
}

#[test]
fn apply_then_export_gives_the_catalog_back() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    let (code, out) = sb.json(&["apply", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, json!({ "created": 8, "updated": 1, "unchanged": 0 }));

    let (code, exported) = sb.json(&["export", "catalog"]);
    assert_eq!(code, 0);
    assert_eq!(exported, catalog());

    // Applying the export again changes nothing.
    let again = sb.write("again.json", &exported.to_string());
    let (_, out) = sb.json(&["apply", again.to_str().unwrap()]);
    assert_eq!(out, json!({ "created": 0, "updated": 0, "unchanged": 9 }));

    // Human export without --json is the same catalog, pretty-printed.
    let human = sb.run(&["--workspace", "ws.meterdesk", "export", "catalog"]);
    assert_eq!(serde_json::from_slice::<Value>(&human.stdout).unwrap(), catalog());
}

#[test]
fn a_malformed_catalog_names_the_json_path_and_changes_nothing() {
    let sb = Sandbox::new();
    let good = sb.write("good.json", &catalog().to_string());
    sb.json(&["apply", good.to_str().unwrap()]);
    let (_, before) = sb.json(&["export", "catalog"]);

    for (text, path, words) in [
        (r#"{"customers": [{"id": "x", "name": "X", "tax_rate": 0.2}]}"#, "$.customers[0].tax_rate", "string"),
        (r#"{"customers": [{"id": "x", "name": "X", "currency": "DOLLAR"}]}"#, "$.customers[0].currency", "ISO 4217"),
        (r#"{"customers": [{"id": "x", "name": "X"}, {"id": "x", "name": "Y"}]}"#, "$.customers[1].id", "duplicate"),
        (r#"{"workspace": {"timezone": "Moon/Base"}}"#, "$.workspace.timezone", "IANA"),
        (r#"{"workspace": {"name": "A"}, "wallets": [{"customer": "x"}]}"#, "$.wallets[0].customer", "no customer"),
        (
            r#"{"customers": [{"id": "x", "name": "X"}],
                "wallets": [{"customer": "x", "grants": [{"id": "g", "amount": "-5", "kind": "free"}]}]}"#,
            "$.wallets[0].grants[0].amount",
            "more than 0",
        ),
        (
            r#"{"wallets": [{"customer": "x", "grants": [{"id": "g", "amount": "5", "kind": "gift"}]}]}"#,
            "$.wallets[0].grants[0].kind",
            "unknown variant",
        ),
        (
            r#"{"plans": [{"code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
                "charges": [{"meter": "nope", "model": "per_unit", "unit_price": "1"}]}]}"#,
            "$.plans[0].charges[0].meter",
            "no meter",
        ),
        (
            r#"{"meters": [{"code": "t", "name": "T", "aggregation": "sum"}]}"#,
            "$.meters[0].property",
            "needs the property",
        ),
        (r#"{"customers": [ {"id": "x""#, "$.customers[0]", "EOF"),
    ] {
        let file = sb.write("bad.json", text);
        let (code, out) = sb.json(&["apply", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{text}");
        assert_eq!(out["error"]["code"], "invalid", "{text}: {out}");
        let problem = &out["error"]["problems"][0];
        assert_eq!(problem["path"], path, "{text}: {out}");
        assert!(problem["message"].as_str().unwrap().contains(words), "{text}: {out}");
    }
    let (_, after) = sb.json(&["export", "catalog"]);
    assert_eq!(after, before, "no failed apply wrote anything");

    // Without --json the same error goes to stderr, naming the path.
    let file = sb.write("bad.json", r#"{"customers": [{"id": "", "name": "X"}]}"#);
    let out = sb.run(&["--workspace", "ws.meterdesk", "apply", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("$.customers[0].id"));
}

#[test]
fn customers_import_reports_rows_and_exits_nonzero_on_rejects() {
    let sb = Sandbox::new();
    let csv = sb.write(
        "customers.csv",
        "id,name,email,currency,tax_rate\nglobex,Globex,ap@globex.test,USD,0.20\nbad id,Bad,,USD,\ninitech,Initech,,EUR,twenty\n",
    );
    let (code, out) = sb.json(&["customers", "import", csv.to_str().unwrap()]);
    assert_eq!(code, 1, "a rejected row makes the exit non-zero");
    assert_eq!(
        out,
        json!({ "accepted": 1, "duplicates": 0, "rejected": 2, "late": 0, "errors": [
            { "line": 3, "field": "id", "reason": "\"bad id\" contains ' '; use letters, digits and _ - . : @ / +" },
            { "line": 4, "field": "tax_rate", "reason": "\"twenty\" is not a decimal number (write it like \"12.50\")" }
        ]})
    );
    let clean = sb.write("clean.csv", "id,name\nglobex,Globex\n");
    let (code, out) = sb.json(&["customers", "import", clean.to_str().unwrap()]);
    assert_eq!((code, &out["rejected"]), (1, &json!(1)), "same id, other details: rejected: {out}");
    let same = sb.write("same.csv", "id,name,email,currency,tax_rate\nglobex,Globex,ap@globex.test,USD,0.20\n");
    let (code, out) = sb.json(&["customers", "import", same.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(out, json!({ "accepted": 0, "duplicates": 1, "rejected": 0, "late": 0, "errors": [] }));
    let (_, list) = sb.json(&["customers", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "globex");
    assert_eq!(list[0]["tax_rate"], "0.20");
}

#[test]
fn demo_builds_a_workspace_and_never_overwrites_by_accident() {
    let sb = Sandbox::new();
    let (code, out) = sb.json(&["demo", "demo.meterdesk", "--as-of", "2026-11-24"]);
    assert_eq!(code, 0);
    let path = Path::new(out["path"].as_str().unwrap());
    assert!(path.is_absolute() && path.exists());
    let list = sb.run(&["--workspace", "demo.meterdesk", "--json", "customers", "list", "--archived"]);
    let customers: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(customers.as_array().unwrap().len(), 50);

    // Three months of usage, August to October: a power user, a customer dropping off.
    let tokens = |customer: &str, month: &str| -> u64 {
        let (from, to) = match month {
            "08" => ("2026-08-01T04:00:00Z", "2026-09-01T04:00:00Z"),
            _ => ("2026-10-01T04:00:00Z", "2026-11-01T04:00:00Z"),
        };
        let args = ["usage", "--meter", "input_tokens", "--customer", customer, "--from", from, "--to", to];
        let out = sb.run(&[&["--workspace", "demo.meterdesk", "--json"][..], &args[..]].concat());
        let value: Value = serde_json::from_slice(&out.stdout).unwrap();
        value["value"].as_str().unwrap().parse().unwrap()
    };
    assert!(tokens("globex-labs", "10") > 8 * tokens("oscorp-labs", "10"), "a power user");
    assert!(tokens("stark-labs", "10") * 2 < tokens("stark-labs", "08"), "usage dropping off");
    assert!(tokens("oscorp-labs", "08") > 0);
    let (events, imports): (i64, i64) = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT (SELECT sum(events) FROM event_chunks), (SELECT count(*) FROM imports)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(events > 1_000_000 && imports == 2, "{events} events in {imports} imports (history, then usage)");

    // Fourteen months of invoices before August: NRR and receivables are real at once.
    let report = |args: &[&str]| -> Value {
        let out = sb.run(&[&["--workspace", "demo.meterdesk", "--json", "report"][..], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let july = report(&["revenue", "--from", "2026-07", "--to", "2026-07"]);
    let usd = july.as_array().unwrap().iter().find(|r| r["currency"] == "USD").unwrap();
    assert!(usd["nrr"].is_string() && usd["billed"] != "0.00" && usd["unbilled"] == "0.00", "{usd}");
    // The history's last invoices fell due on Sep 1 (84 days before): 61–90 days and older.
    let owed = report(&["receivables", "--on", "2026-11-24"]);
    let rows = owed.as_array().unwrap();
    let some = |field: &str| rows.iter().any(|r| r[field].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    assert!(some("over_90") && some("d61_90") && !some("d1_30"), "{owed}");
    assert!(rows.iter().any(|r| r["currency"] == "USD"), "US customers owe too: {owed}");
    let signals = report(&["signals"]);
    let of = |kind: &str| signals.as_array().unwrap().iter().filter(|s| s["kind"] == kind).count();
    assert!(of("churn_risk") >= 2 && of("churn_risk") <= 10, "a few churn risks, not everyone: {signals}");

    let (code, out) = sb.json(&["demo", "demo.meterdesk"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")));
    let (code, _) = sb.json(&["demo", "demo.meterdesk", "--force", "--no-usage"]);
    assert_eq!(code, 0);

    // --force replaces a workspace, never another file.
    let notes = sb.write("notes.txt", "my notes");
    let (code, out) = sb.json(&["demo", notes.to_str().unwrap(), "--force"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_a_workspace")));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
}

#[test]
fn foreign_and_newer_files_are_refused_untouched() {
    let sb = Sandbox::new();
    let notes = sb.write("notes.meterdesk", "not a database");
    let out = sb.run(&["--workspace", notes.to_str().unwrap(), "--json", "customers", "list"]);
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "not_a_workspace");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "not a database");

    let (code, _) = sb.json(&["demo", "new.meterdesk", "--no-usage"]);
    assert_eq!(code, 0);
    let conn = rusqlite_free_bump_version(&sb.path("new.meterdesk"));
    let out = sb.run(&["--workspace", "new.meterdesk", "--json", "customers", "list"]);
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "newer_workspace", "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains(&format!("schema {conn}")));
}

/// Sets the file's schema version to one this build does not know, by editing
/// the SQLite header (user_version lives at byte offset 60, big-endian).
fn rusqlite_free_bump_version(path: &Path) -> u32 {
    let mut bytes = std::fs::read(path).unwrap();
    let future = 999u32;
    bytes[60..64].copy_from_slice(&future.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
    future
}

#[test]
fn missing_files_and_bad_arguments_are_clear_errors() {
    let sb = Sandbox::new();
    let (code, out) = sb.json(&["apply", "nope.json"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["code"], "io");
    assert!(out["error"]["message"].as_str().unwrap().contains("nope.json"));
    let (code, out) = sb.json(&["export", "catalog"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_found")), "export does not create a workspace");
    assert!(!sb.path("ws.meterdesk").exists());
    let out = sb.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A workspace with two customers and meters for tokens (grouped by model) and API calls.
fn usage_workspace() -> Sandbox {
    let sb = Sandbox::new();
    let catalog = json!({
        "workspace": { "timezone": "America/New_York" },
        "customers": [ { "id": "globex", "name": "Globex" }, { "id": "initech", "name": "Initech" } ],
        "meters": [
            { "code": "tokens", "name": "Tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "api_calls", "name": "API calls", "aggregation": "count" }
        ]
    });
    let file = sb.write("catalog.json", &catalog.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    sb
}

fn october_usage(sb: &Sandbox, meter: &str, customer: &str, group: Option<&str>) -> Value {
    let mut args = vec![
        "usage",
        "--meter",
        meter,
        "--customer",
        customer,
        "--from",
        "2026-10-01T00:00:00-04:00",
        "--to",
        "2026-11-01T00:00:00-04:00",
    ];
    if let Some(g) = group {
        args.extend(["--group", g]);
    }
    let (code, out) = sb.json(&args);
    assert_eq!(code, 0, "{out}");
    out
}

#[test]
fn import_then_usage_in_each_format() {
    let sb = usage_workspace();
    let csv = sb.write(
        "october.csv",
        "id,customer,type,timestamp,tokens,model\n\
         e1,globex,tokens,2026-10-05T12:00:00Z,1200,gpt-4o\n\
         e2,globex,tokens,2026-11-01T03:30:00Z,300,gpt-4o-mini\n\
         e3,hooli,tokens,2026-10-05T12:00:00Z,1,gpt-4o\n\
         e4,globex,tokens,2026-10-05T12:00:00Z,many,gpt-4o\n",
    );
    let (code, out) = sb.json(&["import", csv.to_str().unwrap()]);
    assert_eq!(code, 1, "rejected rows make the exit non-zero");
    assert_eq!(
        out,
        json!({ "accepted": 2, "duplicates": 0, "rejected": 2, "late": 0, "errors": [
            { "line": 4, "field": "customer", "reason": "no customer with id \"hooli\"" },
            { "line": 5, "field": "tokens", "reason": "\"many\" is not a number; meter \"tokens\" sums it" }
        ]})
    );
    let ndjson = sb.write(
        "calls.ndjson",
        "{\"id\": \"n1\", \"customer\": \"globex\", \"type\": \"api_calls\", \"timestamp\": \"2026-10-10T10:00:00Z\"}\n\
         {\"id\": \"n2\", \"customer\": \"globex\", \"type\": \"tokens\", \"timestamp\": 1791201600, \"properties\": {\"tokens\": \"5\", \"model\": \"gpt-4o\"}}\n",
    );
    assert_eq!(
        sb.json(&["import", ndjson.to_str().unwrap()]),
        (0, json!({ "accepted": 2, "duplicates": 0, "rejected": 0, "late": 0, "errors": [] }))
    );
    let cloudevents = sb.write(
        "events.json",
        r#"[{"specversion": "1.0", "id": "c1", "source": "/gateway", "type": "api_calls", "subject": "initech",
             "time": "2026-10-11T10:00:00Z"}]"#,
    );
    assert_eq!(sb.json(&["import", cloudevents.to_str().unwrap()]).0, 0);

    // 2026-11-01T03:30Z is October 31 in New York: October usage.
    assert_eq!(october_usage(&sb, "tokens", "globex", None), json!({ "value": "1505" }));
    assert_eq!(october_usage(&sb, "tokens", "globex", Some("gpt-4o")), json!({ "value": "1205" }));
    assert_eq!(october_usage(&sb, "api_calls", "globex", None), json!({ "value": "1" }));
    assert_eq!(october_usage(&sb, "api_calls", "initech", None), json!({ "value": "1" }));

    // The same file again: a counted no-op; its rejects saved, fixed and imported.
    let rejects = sb.path("october-rejects.csv");
    let (_, out) = sb.json(&["import", csv.to_str().unwrap(), "--rejects", rejects.to_str().unwrap()]);
    assert_eq!((&out["accepted"], &out["duplicates"]), (&json!(0), &json!(2)));
    assert_eq!(october_usage(&sb, "tokens", "globex", None), json!({ "value": "1505" }));
    let saved = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        saved,
        "id,customer,type,timestamp,tokens,model\n\
         e3,hooli,tokens,2026-10-05T12:00:00Z,1,gpt-4o\n\
         e4,globex,tokens,2026-10-05T12:00:00Z,many,gpt-4o\n"
    );
    std::fs::write(&rejects, saved.replace("hooli", "initech").replace("many", "20")).unwrap();
    let (code, out) = sb.json(&["import", rejects.to_str().unwrap()]);
    assert_eq!((code, &out["accepted"]), (0, &json!(2)), "{out}");
    assert_eq!(october_usage(&sb, "tokens", "globex", None), json!({ "value": "1525" }));
}

#[test]
fn import_and_usage_errors_are_clear() {
    let sb = usage_workspace();
    let txt = sb.write("usage.txt", "id,customer,type,timestamp\n");
    let (code, out) = sb.json(&["import", txt.to_str().unwrap()]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("--format")), "{out}");
    let (code, out) = sb.json(&["import", txt.to_str().unwrap(), "--format", "xml"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("invalid")), "{out}");
    let (code, out) = sb.json(&["import", txt.to_str().unwrap(), "--format", "csv"]);
    assert_eq!((code, &out["accepted"]), (0, &json!(0)), "a header alone imports nothing: {out}");

    for (args, path) in [
        (vec!["--meter", "tokens", "--customer", "globex", "--from", "last week", "--to", "1791201600"], "--from"),
        (vec!["--meter", "tokens", "--customer", "globex", "--from", "1791201600", "--to", "1791201600"], "--to"),
        (
            vec!["--meter", "api_calls", "--customer", "globex", "--from", "0", "--to", "1791201600", "--group", "x"],
            "--group",
        ),
    ] {
        let mut all = vec!["usage"];
        all.extend(args);
        let (code, out) = sb.json(&all);
        assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some(path)), "{out}");
    }
    let (code, out) = sb.json(&["usage", "--meter", "nope", "--customer", "globex", "--from", "0", "--to", "1"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_found")));
}

#[test]
fn a_killed_import_leaves_whole_batches_and_a_reimport_completes_it_once() {
    const EVENTS: usize = 1_000_000; // five batches of the importer
    let sb = Sandbox::new();
    let catalog = json!({
        "customers": (0..50).map(|i| json!({ "id": format!("c{i}"), "name": format!("C{i}") })).collect::<Vec<_>>(),
        "meters": [ { "code": "api_calls", "name": "API calls", "aggregation": "count" } ]
    });
    let file = sb.write("catalog.json", &catalog.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let mut csv = String::from("id,customer,type,timestamp\n");
    for i in 0..EVENTS {
        csv.push_str(&format!("ev{i:07},c{},api_calls,{}\n", i % 50, 1_791_201_600 + i));
    }
    let big = sb.write("big.csv", &csv);

    let mut child = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", "ws.meterdesk", "--json", "import", big.to_str().unwrap()])
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = rusqlite::Connection::open_with_flags(sb.path("ws.meterdesk"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let committed = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT coalesce(max(accepted), 0) FROM imports", [], |r| r.get(0)).unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while committed(&db) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed");
        assert!(std::time::Instant::now() < deadline, "no batch was committed in time");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let check = rusqlite::Connection::open(sb.path("ws.meterdesk")).unwrap();
    let integrity: String = check.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let (logged, outcome): (i64, String) =
        check.query_row("SELECT accepted, outcome FROM imports", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let stored: i64 = check.query_row("SELECT coalesce(sum(events), 0) FROM event_chunks", [], |r| r.get(0)).unwrap();
    let ids: i64 =
        check.query_row("SELECT coalesce(sum(length(keys)), 0) / 16 FROM event_keys", [], |r| r.get(0)).unwrap();
    assert_eq!((stored, ids), (logged, logged), "only whole batches, as logged");
    assert!(logged > 0 && (logged as usize) < EVENTS, "killed mid-way: {logged}");
    assert_eq!(outcome, "running", "the log shows the import never finished");
    drop(check);

    let (code, out) = sb.json(&["import", big.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!((out["accepted"].as_i64(), out["duplicates"].as_i64()), (Some(EVENTS as i64 - logged), Some(logged)));
    // The next import found no importer holding the lock: the killed one is logged as interrupted.
    let check = rusqlite::Connection::open(sb.path("ws.meterdesk")).unwrap();
    let outcomes: Vec<String> = check
        .prepare("SELECT outcome FROM imports ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(outcomes, ["interrupted", "completed"]);
    drop(check);
    let out = october_count(&sb);
    assert_eq!(out, json!({ "value": EVENTS.to_string() }));
}

fn october_count(sb: &Sandbox) -> Value {
    let mut total = 0u64;
    for c in 0..50 {
        let customer = format!("c{c}");
        let (_, out) =
            sb.json(&["usage", "--meter", "api_calls", "--customer", &customer, "--from", "0", "--to", "1800000000"]);
        total += out["value"].as_str().unwrap().parse::<u64>().unwrap();
    }
    json!({ "value": total.to_string() })
}

#[test]
fn a_saved_mapping_imports_a_csv_with_other_column_names() {
    let sb = usage_workspace();
    let (code, out) = sb.json(&[
        "mapping",
        "save",
        "gateway",
        "--id",
        "event_id",
        "--customer",
        "account",
        "--type",
        "kind",
        "--timestamp",
        "at",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["columns"],
        json!({ "id": "event_id", "customer": "account", "event_type": "kind", "timestamp": "at" })
    );
    assert_eq!(sb.json(&["mapping", "list"]), (0, json!(["gateway"])));
    let csv = sb.write("gateway.csv", "event_id,account,kind,at\ng1,initech,api_calls,2026-10-10T10:00:00Z\n");
    let (code, out) = sb.json(&["import", csv.to_str().unwrap()]);
    assert_eq!(
        (code, out["error"]["message"].as_str().map(|m| m.contains("\"id\" is missing"))),
        (1, Some(true)),
        "{out}"
    );
    let (code, out) = sb.json(&["import", csv.to_str().unwrap(), "--mapping", "gateway"]);
    assert_eq!((code, &out["accepted"]), (0, &json!(1)), "{out}");
    assert_eq!(october_usage(&sb, "api_calls", "initech", None), json!({ "value": "1" }));
    let (code, out) = sb.json(&["mapping", "save", "bad", "--id", "x", "--customer", "x"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("id")), "{out}");
}

#[test]
fn invoice_preview_prints_the_interface_invoice_object_to_the_cent() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let mut lines = vec![
        // Before the subscription starts: not billed on it.
        json!({"id": "t0", "customer": "globex", "type": "tokens", "timestamp": "2026-10-14T12:00:00Z",
               "properties": {"model": "gpt-4o", "tokens": 5000}}),
        json!({"id": "t1", "customer": "globex", "type": "tokens", "timestamp": "2026-10-20T12:00:00Z",
               "properties": {"model": "gpt-4o", "tokens": "1500000"}}),
        json!({"id": "t2", "customer": "globex", "type": "tokens", "timestamp": "2026-10-21T12:00:00Z",
               "properties": {"model": "o3", "tokens": 9}}),
        // Oct 31, 23:30 in New York.
        json!({"id": "t3", "customer": "globex", "type": "tokens", "timestamp": "2026-11-01T03:30:00Z",
               "properties": {"model": "gpt-4o", "tokens": 100000}}),
    ];
    for i in 0..10_500 {
        lines.push(json!({"id": format!("c{i}"), "customer": "globex", "type": "api_calls",
                          "timestamp": "2026-10-25T10:00:00Z", "properties": {}}));
    }
    let events: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let events = sb.write("october.ndjson", &events);
    assert_eq!(sb.json(&["import", events.to_str().unwrap()]).0, 0);

    let (code, draft) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-10"]);
    assert_eq!(code, 0, "{draft}");
    // Fee 99 × 17/31 = 54.29. Tokens 1,600,000: 1,000,000 × 0.000005 + 600,000 × 0.000004 = 7.40.
    // API calls (10,500 − 10,000) × 0.0008 = 0.40. Commitment 500 × 17/31 = 274.19 − 7.80 = 266.39.
    // Launch 10% of 328.48 = 32.85. Subtotal 295.63, tax 20% 59.13, total 354.76.
    let line = |kind: &str, description: &str, meter: Value, group: Value, quantity: &str, amount: &str| {
        json!({ "kind": kind, "description": description, "meter": meter, "group": group,
                "quantity": quantity, "amount": amount })
    };
    let expected = [
        line("fee", "Platform fee", Value::Null, Value::Null, "1", "54.29"),
        line("usage", "LLM tokens — gpt-4o", json!("tokens"), json!("gpt-4o"), "1600000", "7.40"),
        line("usage", "API calls", json!("api_calls"), Value::Null, "10500", "0.40"),
        line("commitment", "Minimum commitment true-up", Value::Null, Value::Null, "1", "266.39"),
        line("discount", "Launch", Value::Null, Value::Null, "1", "-32.85"),
    ];
    let got: Vec<Value> = draft["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().retain(|k, _| k != "steps");
            l
        })
        .collect();
    assert_eq!(got, expected);
    for (field, value) in [
        ("number", Value::Null),
        ("status", json!("draft")),
        ("customer", json!("globex")),
        ("currency", json!("USD")),
        ("period", json!({"start": "2026-10-01T04:00:00Z", "end": "2026-11-01T04:00:00Z"})),
        ("subtotal", json!("295.63")),
        ("tax", json!("59.13")),
        ("total", json!("354.76")),
        ("credits_applied", json!("0.00")),
        ("amount_due", json!("354.76")),
    ] {
        assert_eq!(draft[field], value, "{field}");
    }
    assert!(draft["lines"][1]["steps"].as_array().unwrap().len() == 2, "the tier arithmetic is explained");

    // The same draft for people.
    let human =
        sb.run(&["--workspace", "ws.meterdesk", "invoice", "preview", "--customer", "globex", "--period", "2026-10"]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("17 of 31 days active") && text.contains("354.76"), "{text}");
    assert!(text.contains("Not billed: 1 event of globex in this period falls outside every subscription"), "{text}");
    assert_eq!(draft["unbilled_events"], 1, "the tokens of Oct 14 came before the start");
    // Every customer's drafts for the month: a list.
    let (code, all) = sb.json(&["invoice", "preview", "--period", "2026-10"]);
    assert_eq!((code, all.as_array().unwrap().len(), all[0]["total"].clone()), (0, 1, json!("354.76")));

    // No subscription, a malformed month, an unknown customer.
    let (code, out) = sb.json(&["invoice", "preview", "--customer", "initech", "--period", "2026-10"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_found")), "{out}");
    let (code, out) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "10/2026"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("period")), "{out}");
    let (code, out) = sb.json(&["invoice", "preview", "--customer", "nobody", "--period", "2026-10"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_found")), "{out}");
}

#[test]
fn spend_caps_from_the_catalog_and_the_subscription_show_as_a_cap_line() {
    let sb = Sandbox::new();
    let mut cat = catalog();
    cat["plans"][0]["maximum"] = json!("600.00");
    let file = sb.write("catalog.json", &cat.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let events = sb.write(
        "e.ndjson",
        &json!({"id": "t1", "customer": "globex", "type": "tokens", "timestamp": "2026-10-20T12:00:00Z",
                "properties": {"model": "gpt-4o", "tokens": "200000000"}})
        .to_string(),
    );
    assert_eq!(sb.json(&["import", events.to_str().unwrap()]).0, 0);
    // Tokens 1,000,000 × 0.000005 + 199,000,000 × 0.000004 = 801.00 against 600 × 17/31 = 329.03.
    let cap = |sb: &Sandbox| {
        let (code, draft) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-10"]);
        assert_eq!(code, 0, "{draft}");
        let lines = draft["lines"].as_array().unwrap();
        let caps: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "cap").collect();
        assert!(caps.len() <= 1, "{draft}");
        (caps.first().map(|l| l["amount"].as_str().unwrap().to_string()), draft["allowance"].clone())
    };
    let (amount, allowance) = cap(&sb);
    assert_eq!(amount.as_deref(), Some("-471.97"));
    let human =
        sb.run(&["--workspace", "ws.meterdesk", "invoice", "preview", "--customer", "globex", "--period", "2026-10"]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("Spend cap") && text.contains("-471.97"), "{text}");
    assert!(text.contains("Usage 801.00 of the 329.03 USD cap: 471.97 above the cap is not billed"), "{text}");
    assert_eq!(
        allowance,
        json!({"kind": "cap", "used": "801.00", "limit": "329.03", "remaining": "0.00", "unbilled": "471.97"})
    );
    // The subscription's own cap: refused below the plan's commitment, by its field.
    let (code, out) = sb.json(&["subscription", "cap", "sub_globex", "--maximum", "400"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("maximum")), "{out}");
    let (code, out) = sb.json(&["subscription", "cap", "sub_globex", "--maximum", "700.00"]);
    assert_eq!((code, out["maximum"].as_str()), (0, Some("700.00")), "{out}");
    // 700 × 17/31 = 383.87: 801.00 − 383.87.
    assert_eq!(cap(&sb).0.as_deref(), Some("-417.13"));
    // The gateway's allowance: November runs today (Nov 24) with no usage yet.
    let (code, limits) = sb.json(&["limits", "export", "--out", "limits.json"]);
    assert_eq!(code, 0, "{limits}");
    assert_eq!(
        limits,
        json!([{ "customer": "globex", "subscription": "sub_globex", "currency": "USD", "maximum": "700.00",
                 "used": "0.00", "remaining": "700.00", "unbilled": "0.00",
                 "period": { "start": "2026-11-01T04:00:00Z", "end": "2026-12-01T05:00:00Z" },
                 "first_day": "2026-11-01", "last_day": "2026-11-30" }])
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("limits.json")).unwrap()).unwrap();
    assert_eq!(saved, limits);
    // Both caps travel with the catalog.
    let (_, exported) = sb.json(&["export", "catalog"]);
    assert_eq!(
        (exported["plans"][0]["maximum"].as_str(), exported["subscriptions"][0]["maximum"].as_str()),
        (Some("600.00"), Some("700.00"))
    );
    // Without its own, the plan's applies again.
    let (code, out) = sb.json(&["subscription", "cap", "sub_globex", "--none"]);
    assert_eq!((code, out.get("maximum")), (0, None), "{out}");
    assert_eq!(cap(&sb).0.as_deref(), Some("-471.97"));
    // A plan's maximum below its commitment is refused by its path; nothing changes.
    cat["plans"][0]["maximum"] = json!("450.00");
    let file = sb.write("catalog.json", &cat.to_string());
    let (code, out) = sb.json(&["apply", file.to_str().unwrap()]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("$.plans[0].maximum")), "{out}");
    assert_eq!(cap(&sb).0.as_deref(), Some("-471.97"));
}

#[test]
fn a_usage_alert_rule_fires_once_per_period_after_imports_and_is_acknowledged() {
    let sb = Sandbox::new();
    let mut cat = catalog();
    cat["alerts"] = json!([
        { "id": "gpt4o_2m", "kind": "usage", "meter": "tokens", "group": "gpt-4o", "threshold": "2000000", "customer": "globex" },
        { "id": "pro_commit", "kind": "spend", "percent_of_commitment": "100", "plan": "pro" }
    ]);
    // A rule on a meter that does not exist is refused by its path, and nothing is applied.
    let mut bad = cat.clone();
    bad["alerts"][0]["meter"] = json!("nope");
    let file = sb.write("bad.json", &bad.to_string());
    let (code, out) = sb.json(&["apply", file.to_str().unwrap()]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("$.alerts[0].meter")), "{out}");
    let file = sb.write("catalog.json", &cat.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let (_, exported) = sb.json(&["export", "catalog"]);
    assert_eq!(exported["alerts"], cat["alerts"], "the rules travel with the catalog");
    let import = |sb: &Sandbox, id: &str, at: &str, tokens: u64, now: &str| {
        let file = sb.write(
            &format!("{id}.ndjson"),
            &json!({"id": id, "customer": "globex", "type": "tokens", "timestamp": at,
                    "properties": {"model": "gpt-4o", "tokens": tokens}})
            .to_string(),
        );
        assert_eq!(sb.json_at(now, &["import", file.to_str().unwrap()]).0, 0);
    };
    // Three imports in November (NOW is Nov 24): 1,500,000, then 1,000,000 (past 2,000,000), then more.
    import(&sb, "n1", "2026-11-02T12:00:00Z", 1_500_000, NOW);
    assert_eq!(sb.json(&["alerts", "list"]).1, json!([]));
    import(&sb, "n2", "2026-11-03T12:00:00Z", 1_000_000, NOW);
    import(&sb, "n3", "2026-11-04T12:00:00Z", 1_000_000, NOW);
    let (code, open) = sb.json(&["alerts", "list"]);
    assert_eq!(code, 0);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let a = &open[0];
    for (field, value) in [
        ("rule", json!("gpt4o_2m")),
        ("customer", json!("globex")),
        ("kind", json!("usage")),
        ("period", json!("2026-11-01")),
        ("threshold", json!("2000000")),
        ("value", json!("2500000")),
        ("acknowledged", json!(false)),
        ("raised_at", json!("2026-11-24T15:00:00Z")),
    ] {
        assert_eq!(a[field], value, "{field}: {a}");
    }
    assert!(a["message"].as_str().unwrap().contains("2,500,000 tokens"), "{a}");
    // Evaluated on demand: nothing new. The wallet's own list leaves it out.
    assert_eq!(sb.json(&["alerts", "evaluate"]).1, json!([]));
    assert_eq!(sb.json(&["wallet", "alerts"]).1, json!([]));
    assert_eq!(sb.json(&["wallet", "alerts", "--ack-all"]).1, json!({ "acknowledged": 0 }));
    let id = a["id"].as_i64().unwrap().to_string();
    let (code, acked) = sb.json(&["alerts", "ack", &id]);
    assert_eq!((code, acked[0]["acknowledged"].clone()), (0, json!(true)), "{acked}");
    assert_eq!(sb.json(&["alerts", "list"]).1, json!([]));
    assert_eq!(sb.json(&["alerts", "list", "--all"]).1.as_array().unwrap().len(), 1);
    let (code, out) = sb.json(&["alerts", "ack", &id]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("not_found")), "{out}");
    // December is a new period: the rule fires again once it is passed.
    import(&sb, "d1", "2026-12-02T12:00:00Z", 2_000_000, "2026-12-03T15:00:00Z");
    let (_, open) = sb.json_at("2026-12-03T15:00:00Z", &["alerts", "list"]);
    assert_eq!(open.as_array().unwrap().iter().map(|a| a["period"].clone()).collect::<Vec<_>>(), [json!("2026-12-01")]);
}

#[test]
fn invoice_finalize_numbers_once_and_verify_checks_the_chain() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    import_tokens(&sb);
    let (code, preview) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-10"]);
    assert_eq!(code, 0);

    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(code, 0, "{done}");
    let invoices = done.as_array().unwrap();
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice["status"], "finalized");
    let number = invoice["number"].as_str().unwrap();
    assert!(number.starts_with("INV-") && number.ends_with("-00001"), "{number}");
    for field in ["customer", "currency", "period", "lines", "subtotal", "tax", "total", "amount_due"] {
        assert_eq!(invoice[field], preview[field], "{field} is the draft's");
    }

    // Again: refused, reported, and the exit status says so.
    let out = sb.run(&["--workspace", "ws.meterdesk", "--json", "invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("already finalized as {number}")));

    let (code, verified) = sb.json(&["invoice", "verify"]);
    assert_eq!((code, verified), (0, json!({ "invoices": 1, "first_break": null })));

    // An event arriving in the invoiced October is late, and the pipeline's JSON says so;
    // CloudEvents in a JSON lines file are read as CloudEvents.
    let late = sb.write(
        "late.jsonl",
        &json!({"specversion": "1.0", "id": "late1", "source": "/gw", "type": "tokens", "subject": "globex",
                "time": "2026-10-21T12:00:00Z", "data": {"model": "gpt-4o", "tokens": "10"}})
        .to_string(),
    );
    let (code, out) = sb.json(&["import", late.to_str().unwrap()]);
    assert_eq!((code, &out["accepted"], &out["late"]), (0, &json!(1), &json!(1)), "{out}");

    // Its PDF says the same, and a voided invoice's PDF says it is void.
    let pdf_text = |number: &str, name: &str| -> String {
        let out = sb.path(name);
        let (code, written) = sb.json(&["invoice", "pdf", number, "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{written}");
        let text = Command::new("pdftotext").args(["-layout"]).arg(&out).arg("-").output().unwrap();
        let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name.replace(".pdf", ""));
        Command::new("pdftoppm").args(["-png", "-r", "70", "-singlefile"]).arg(&out).arg(&png).status().unwrap();
        String::from_utf8(text.stdout).unwrap()
    };
    let text = pdf_text(number, "invoice.pdf");
    let total = preview["total"].as_str().unwrap();
    for needle in [
        number,
        "Globex Corp",
        "1 Main St",
        "グローベックス株式会社 서울 🚀",
        "Platform fee",
        "LLM tokens — gpt-4o",
        "1,500,000",
        total,
        "Amount due",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    for line in preview["lines"].as_array().unwrap() {
        let amount = line["amount"].as_str().unwrap();
        assert!(text.contains(line["description"].as_str().unwrap()) && text.contains(amount), "{line} missing");
    }

    // The accountants' CSV: this invoice's rows add up to its total, to the cent.
    let issued = invoice["issue_date"].as_str().unwrap();
    let csv_path = sb.path("invoices.csv");
    let (code, written) =
        sb.json(&["invoice", "export", "--from", issued, "--to", issued, "--out", csv_path.to_str().unwrap()]);
    assert_eq!((code, &written["invoices"]), (0, &json!(1)), "{written}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    // Gross is the fourth column from the end (document, its type and date follow).
    let gross_cents = |csv: &str| -> i64 {
        csv.lines().skip(1).map(|l| l.rsplit(',').nth(3).unwrap().replace('.', "").parse::<i64>().unwrap()).sum()
    };
    assert_eq!(gross_cents(&csv).to_string(), total.replace('.', ""), "{csv}");

    let (code, shown) = sb.json(&["invoice", "show", number]);
    assert_eq!((code, &shown["total"]), (0, &preview["total"]));
    let (code, out) = sb.json(&["invoice", "void", number, "--reason", ""]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("reason")));
    let (code, voided) = sb.json(&["invoice", "void", number, "--reason", "Wrong entity"]);
    assert_eq!(
        (code, voided["status"].as_str(), voided["void_reason"].as_str()),
        (0, Some("void"), Some("Wrong entity"))
    );
    let (code, out) = sb.json(&["invoice", "paid", number, "--date", "2030-01-01", "--reference", "w1"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")));
    let text = pdf_text(number, "voided.pdf");
    assert!(text.contains("INVOICE — VOID") && text.contains("Voided: Wrong entity"), "{text}");
    let (code, out) = sb.json(&["invoice", "credit", number, "--reason", "x", "--full"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")), "a void invoice is not credited");

    // November is still running on the 24th: refused without a word from the operator, and a
    // month that has not begun is refused whatever they say.
    let out = sb.run(&["--workspace", "ws.meterdesk", "--json", "invoice", "finalize", "--period", "2026-11"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("the period runs until 2026-11-30: usage may still come"), "{said}");
    let out = sb.run(&[
        "--workspace",
        "ws.meterdesk",
        "--json",
        "invoice",
        "finalize",
        "--period",
        "2027-01",
        "--include-open",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the period starting 2027-01-01 has not begun"));

    // November's invoice, finalized early on purpose, gets a credit note.
    let (code, november) = sb.json(&["invoice", "finalize", "--period", "2026-11", "--include-open"]);
    assert_eq!(code, 0, "{november}");
    let number = november[0]["number"].as_str().unwrap();
    // A credit note: too much is refused by its field; a line amount is credited in series CN.
    let (code, out) = sb.json(&["invoice", "credit", number, "--reason", "Goodwill", "--line", "1=999"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("lines[0]")), "{out}");
    let (code, note) = sb.json(&["invoice", "credit", number, "--reason", "Goodwill", "--line", "1=1.00"]);
    assert_eq!(code, 0, "{note}");
    assert!(note["number"].as_str().unwrap().starts_with("CN-"), "{note}");
    assert_eq!(
        (note["subtotal"].as_str(), note["tax"].as_str(), note["total"].as_str()),
        (Some("1.00"), Some("0.20"), Some("1.20"))
    );
    let (code, out) = sb.json(&["invoice", "void", number, "--reason", "Too late"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")), "a credited invoice is not voided");
    // December's advance fee: invoiced alone, then left out of December's invoice.
    let (code, advance) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-12", "--advance"]);
    assert_eq!((code, advance["kind"].as_str()), (0, Some("advance")), "{advance}");
    assert_eq!(advance["lines"][0]["description"], "Platform fee");
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-12", "--advance"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done[0]["kind"], "advance");
    let (_, december) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-12"]);
    let described: Vec<&str> =
        december["lines"].as_array().unwrap().iter().map(|l| l["description"].as_str().unwrap()).collect();
    assert!(!described.contains(&"Platform fee"), "{described:?}");
    let out =
        sb.run(&["--workspace", "ws.meterdesk", "--json", "invoice", "finalize", "--period", "2026-12", "--advance"]);
    assert_eq!(out.status.code(), Some(1), "the advance fees of a period are invoiced once");

    // The credit note has its own PDF.
    let text = pdf_text(note["number"].as_str().unwrap(), "credit-note.pdf");
    for needle in ["CREDIT NOTE", note["number"].as_str().unwrap(), number, "Reason: Goodwill", "1.20 USD"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    // Over all dates the accountants' CSV reconciles with the register: the
    // invoices issued, less the credit notes issued and the invoices voided.
    let (_, list) = sb.json(&["invoice", "list"]);
    let cents = |v: &Value| v.as_str().unwrap().replace('.', "").parse::<i64>().unwrap();
    let mut expected = -cents(&note["total"]);
    for inv in list.as_array().unwrap() {
        if inv["standing"] != "void" {
            expected += cents(&inv["total"]);
        }
    }
    let (code, written) = sb.json(&[
        "invoice",
        "export",
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
        "--out",
        csv_path.to_str().unwrap(),
    ]);
    assert_eq!((code, &written["credit_notes"], &written["voids"]), (0, &json!(1), &json!(1)), "{written}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(gross_cents(&csv), expected, "{csv}");
}

#[test]
fn json_into_a_closed_pipe_ends_quietly_without_a_panic() {
    let sb = Sandbox::new();
    // 3,000 customers: their list is far more than a pipe holds (64 KiB), so the
    // command is still writing when the reader takes 10 bytes and leaves.
    let mut csv = String::from("id,name,email\n");
    for i in 0..3000 {
        csv += &format!("c{i:05},Customer number {i} of a long list,billing{i}@example.test\n");
    }
    let file = sb.write("customers.csv", &csv);
    assert_eq!(sb.json(&["customers", "import", file.to_str().unwrap()]).0, 0);
    let home = sb.path("home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", "ws.meterdesk", "--json", "customers", "list"])
        .env("METERDESK_NOW", NOW)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .current_dir(sb.path(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first[..2], b"[{");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn demo_force_deleted_a_workspace_an_import_was_writing_into() {
    let sb = Sandbox::new();
    assert!(sb.run(&["demo", "ws.meterdesk", "--as-of", "2026-11-24", "--no-usage"]).status.success());
    // An import in another process holds the workspace's import lock (shared) while it runs.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sb.path("ws.meterdesk-lock"))
        .unwrap();
    lock.lock_shared().unwrap();
    let (code, out) = sb.json(&["demo", "ws.meterdesk", "--force", "--as-of", "2026-11-24", "--no-usage"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")), "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("an import is writing into it"), "{out}");
    let (code, customers) = sb.json(&["customers", "list"]);
    assert_eq!(code, 0, "the workspace is still there: {customers}");
    // Once the import is over, it is replaced.
    drop(lock);
    let (code, out) = sb.json(&["demo", "ws.meterdesk", "--force", "--as-of", "2026-11-24", "--no-usage"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_kill_between_taking_a_number_and_committing_leaves_no_gap_and_no_duplicate() {
    let sb = Sandbox::new();
    let built = sb.run(&["demo", "ws.meterdesk", "--as-of", "2026-11-24", "--no-history"]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let (_, drafts) = sb.json(&["invoice", "preview", "--period", "2026-10"]);
    let drafts = drafts.as_array().unwrap().len();
    assert!(drafts > 10, "{drafts} drafts");

    // Finalize the month and stop for good right after number 00004 is taken
    // (its invoice not yet written, the transaction open); then SIGKILL.
    let marker = sb.path("paused");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", "ws.meterdesk", "--json", "invoice", "finalize", "--period", "2026-10"])
        .env("METERDESK_NOW", NOW)
        .env("METERDESK_PAUSE_AFTER_NUMBER", format!("INV-2026-00004:{}", marker.display()))
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "finalize ended before it took number 00004");
        assert!(std::time::Instant::now() < deadline, "number 00004 was never taken");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL between the number and the commit
    child.wait().unwrap();

    // The three committed invoices are there, the fourth number is not used up.
    let list = |sb: &Sandbox| -> Vec<String> {
        let (code, listed) = sb.json(&["invoice", "list"]);
        assert_eq!(code, 0, "{listed}");
        let mut numbers: Vec<String> =
            listed.as_array().unwrap().iter().map(|e| e["number"].as_str().unwrap().to_string()).collect();
        numbers.sort();
        numbers
    };
    assert_eq!(list(&sb), ["INV-2026-00001", "INV-2026-00002", "INV-2026-00003"]);
    let (code, verified) = sb.json(&["invoice", "verify"]);
    assert_eq!((code, verified), (0, json!({ "invoices": 3, "first_break": null })));

    // Finalizing again refuses the three and numbers the rest from 00004: no gap, no duplicate.
    let again = Command::new(env!("CARGO_BIN_EXE_meterdesk"))
        .args(["--workspace", "ws.meterdesk", "--json", "invoice", "finalize", "--period", "2026-10"])
        .env("METERDESK_NOW", NOW)
        .current_dir(sb.dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "three subscriptions were refused");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.matches("already finalized as").count(), 3, "{stderr}");
    let expected: Vec<String> = (1..=drafts).map(|n| format!("INV-2026-{n:05}")).collect();
    assert_eq!(list(&sb), expected);
    let (_, listed) = sb.json(&["invoice", "list"]);
    let mut subscriptions: Vec<&str> =
        listed.as_array().unwrap().iter().map(|e| e["subscription"].as_str().unwrap()).collect();
    subscriptions.sort();
    subscriptions.dedup();
    assert_eq!(subscriptions.len(), drafts, "one invoice per subscription");
    let (code, verified) = sb.json(&["invoice", "verify"]);
    assert_eq!((code, verified), (0, json!({ "invoices": drafts, "first_break": null })));
}

#[test]
fn wallet_credits_are_granted_applied_at_finalize_and_exported() {
    let sb = Sandbox::new();
    let mut with_wallet = catalog();
    with_wallet["wallets"] = json!([{ "customer": "globex", "grants": [
        { "id": "g1", "amount": "100.00", "kind": "free", "expires": "2026-12-31", "priority": 1 } ] }]);
    let file = sb.write("catalog.json", &with_wallet.to_string());
    let (code, out) = sb.json(&["apply", file.to_str().unwrap()]);
    assert_eq!((code, &out["created"]), (0, &json!(9)), "{out}");

    let (code, granted) =
        sb.json(&["wallet", "grant", "--customer", "globex", "--amount", "50", "--reference", "PAY-1"]);
    assert_eq!(code, 0, "{granted}");
    assert_eq!(
        (&granted["id"], &granted["kind"], &granted["amount"]),
        (&json!("grant-2"), &json!("paid"), &json!("50.00"))
    );
    let (code, balance) = sb.json(&["wallet", "balance", "--customer", "globex"]);
    assert_eq!(code, 0, "{balance}");
    assert_eq!(balance["balance"], "150.00");
    let remaining: Vec<&Value> = balance["grants"].as_array().unwrap().iter().map(|g| &g["remaining"]).collect();
    assert_eq!(remaining, [&json!("100.00"), &json!("50.00")]);

    // October's invoice takes all 150.00: g1 (it expires first) then grant-2.
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(code, 0, "{done}");
    let invoice = &done[0];
    let dec = |text: &str| text.parse::<meterdesk_engine::Dec>().unwrap().0;
    let total = dec(invoice["total"].as_str().unwrap());
    assert!(total > dec("150"), "{total}");
    assert_eq!(invoice["credits_applied"], "150.00");
    assert_eq!(invoice["amount_due"], json!((total - dec("150.00")).to_string()));
    let number = invoice["number"].as_str().unwrap();
    let (_, balance) = sb.json(&["wallet", "balance", "--customer", "globex"]);
    assert_eq!(balance["balance"], "0.00");
    let (code, ledger) = sb.json(&["wallet", "ledger", "--customer", "globex", "--kind", "consumption"]);
    assert_eq!(code, 0, "{ledger}");
    let used: Vec<(&str, &str, &str)> = ledger
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| (e["grant"].as_str().unwrap(), e["amount"].as_str().unwrap(), e["invoice"].as_str().unwrap()))
        .collect();
    assert_eq!(used, [("g1", "-100.00", number), ("grant-2", "-50.00", number)]);
    let human = sb.run(&["--workspace", "ws.meterdesk", "invoice", "show", number]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("Credits applied") && human.contains("150.00"), "{human}");

    // The export carries both grants; applied again it changes nothing.
    let (_, exported) = sb.json(&["export", "catalog"]);
    let ids: Vec<&str> =
        exported["wallets"][0]["grants"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["g1", "grant-2"]);
    let again = sb.write("again.json", &exported.to_string());
    let (_, out) = sb.json(&["apply", again.to_str().unwrap()]);
    assert_eq!(out["created"], 0, "{out}");

    // A credit note takes off the amount due first, then gives the wallet back the rest:
    // the grant burned last (grant-2) is refilled first.
    let owed = total - dec("150.00");
    let gross = (owed + dec("30.00")).to_string();
    let (code, note) = sb.json(&["invoice", "credit", number, "--reason", "Goodwill", "--amount", &gross]);
    assert_eq!((code, &note["credits_returned"]), (0, &json!("30.00")), "{note}");
    let (_, balance) = sb.json(&["wallet", "balance", "--customer", "globex"]);
    let remaining: Vec<&Value> = balance["grants"].as_array().unwrap().iter().map(|g| &g["remaining"]).collect();
    assert_eq!(remaining, [&json!("0.00"), &json!("30.00")]);
    let said =
        sb.run(&["--workspace", "ws.meterdesk", "invoice", "credit", number, "--reason", "More", "--amount", "5"]);
    let said = String::from_utf8_lossy(&said.stdout);
    assert!(said.contains("5.00 USD of it returned to prepaid credit"), "{said}");
    let (_, balance) = sb.json(&["wallet", "balance", "--customer", "globex"]);
    assert_eq!(balance["balance"], "35.00");
    // The customer's currency stays while the wallet holds credit.
    let mut euro = catalog();
    euro["customers"][0]["currency"] = json!("EUR");
    let euro = sb.write("euro.json", &euro.to_string());
    let (code, err) = sb.json(&["apply", euro.to_str().unwrap()]);
    assert_eq!((code, &err["error"]["problems"][0]["path"]), (1, &json!("$.customers[0].currency")), "{err}");

    // Errors name what is wrong; nothing goes below zero.
    let (code, err) = sb.json(&["wallet", "grant", "--customer", "nobody", "--amount", "5"]);
    assert_eq!((code, &err["error"]["code"]), (1, &json!("not_found")));
    let (code, err) = sb.json(&["wallet", "grant", "--customer", "globex", "--amount", "5.001", "--kind", "free"]);
    assert_eq!((code, &err["error"]["problems"][0]["path"]), (1, &json!("amount")), "{err}");
    let (code, err) =
        sb.json(&["wallet", "adjust", "--customer", "globex", "--grant", "g1", "--amount", "-0.01", "--reason", "x"]);
    assert_eq!((code, &err["error"]["code"]), (1, &json!("conflict")), "{err}");

    // A grant with a last day expires at the next local midnight (New York).
    let (code, _) = sb.json(&[
        "wallet",
        "grant",
        "--customer",
        "globex",
        "--amount",
        "20",
        "--kind",
        "free",
        "--id",
        "dec",
        "--expires",
        "2026-12-31",
    ]);
    assert_eq!(code, 0);
    let (_, before) = sb.json_at("2027-01-01T04:59:59Z", &["wallet", "balance", "--customer", "globex"]);
    let (_, after) = sb.json_at("2027-01-01T05:00:00Z", &["wallet", "balance", "--customer", "globex"]);
    assert_eq!((&before["balance"], &after["balance"]), (&json!("55.00"), &json!("35.00")));
    let text = sb.run(&["--workspace", "ws.meterdesk", "wallet", "ledger", "--customer", "globex", "--kind", "expiry"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2027-01-01 05:00  expiry") && text.contains("-20.00"), "{text}");
}

#[test]
fn wallet_rules_top_up_once_and_raise_alerts_after_an_import() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    // October invoiced first: an ended period not finalized would take credit first, and
    // this test is about November's draft.
    assert_eq!(sb.json(&["invoice", "finalize", "--period", "2026-10"]).0, 0);
    assert_eq!(sb.json(&["wallet", "grant", "--customer", "globex", "--amount", "2000"]).0, 0);
    let (code, rules) = sb.json(&[
        "wallet",
        "rules",
        "--customer",
        "globex",
        "--topup-below",
        "1000",
        "--topup-amount",
        "500",
        "--alert-below",
        "1200",
    ]);
    assert_eq!(code, 0, "{rules}");
    assert_eq!(rules, json!({ "topup_below": "1000.00", "topup_amount": "500.00", "alert_below": "1200.00" }));
    let (code, err) = sb.json(&["wallet", "rules", "--customer", "globex", "--alert-percent", "150"]);
    assert_eq!((code, &err["error"]["problems"][0]["path"]), (1, &json!("alert_percent")));

    // Setting the rules evaluated them: November's draft without usage (the
    // prorated fee and commitment) leaves more than either line, so nothing yet.
    let (_, open) = sb.json(&["wallet", "alerts"]);
    assert_eq!(open, json!([]));
    let import = |id: &str, tokens: u64| -> String {
        let events = sb.write(
            &format!("{id}.ndjson"),
            &json!({"id": id, "customer": "globex", "type": "tokens", "timestamp": "2026-11-20T12:00:00Z",
                    "properties": {"tokens": tokens, "model": "gpt-4o"}})
            .to_string(),
        );
        let out = sb.run(&["--workspace", "ws.meterdesk", "import", events.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // 300M tokens take November's draft past the commitment: the projected
    // balance falls under 1,000.00, is topped up once, and stays under 1,200.00.
    let first = import("n1", 300_000_000);
    assert_eq!(first.matches("Topped up 500.00 USD").count(), 1, "{first}");
    assert_eq!(first.matches("The projected balance is").count(), 1, "{first}");
    let again = import("n2", 1);
    assert!(first.contains("alert, Globex Corp (globex): "), "{first}");
    assert!(!again.contains("alert, "), "nothing new on the next import: {again}");
    let (_, balance) = sb.json(&["wallet", "balance", "--customer", "globex"]);
    assert_eq!(balance["balance"], "2500.00");
    let (_, draft) = sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-11"]);
    assert_eq!(draft["topups"][0]["amount"], "500.00", "{draft}");

    let (_, open) = sb.json(&["wallet", "alerts"]);
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
    let (_, acked) = sb.json(&["wallet", "alerts", "--ack-all"]);
    assert_eq!(acked, json!({ "acknowledged": 2 }));
    let (_, open) = sb.json(&["wallet", "alerts"]);
    assert_eq!(open, json!([]));

    // The rules travel with the catalog: exported, applied back unchanged, and
    // applied to a fresh workspace as they were.
    let (_, exported) = sb.json(&["export", "catalog"]);
    let wallet = &exported["wallets"][0];
    assert_eq!(wallet["rules"], rules, "{wallet}");
    let again = sb.write("again.json", &exported.to_string());
    let (_, out) = sb.json(&["apply", again.to_str().unwrap()]);
    assert_eq!(out["updated"], 0, "{out}");
    let fresh = Sandbox::new();
    let copied = fresh.write("catalog.json", &exported.to_string());
    assert_eq!(fresh.json(&["apply", copied.to_str().unwrap()]).0, 0);
    let (_, copied_rules) = fresh.json(&["wallet", "rules", "--customer", "globex"]);
    assert_eq!(copied_rules, rules);
}

#[test]
fn backup_and_restore_keep_what_the_workspace_held() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let out = sb.path("copy.meterdesk");
    let (code, written) = sb.json(&["backup", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{written}");
    assert!(written["bytes"].as_u64().unwrap() > 0 && out.exists(), "{written}");
    let (code, again) = sb.json(&["backup", out.to_str().unwrap()]);
    assert_eq!((code, again["error"]["code"].as_str()), (1, Some("conflict")), "never over a file");
    // A customer added after the backup is gone once it is restored, and kept aside.
    let more = sb.write("more.csv", "id,name\nhooli,Hooli\n");
    assert_eq!(sb.json(&["customers", "import", more.to_str().unwrap()]).0, 0);
    let (code, restored) = sb.json(&["restore", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{restored}");
    let (_, customers) = sb.json(&["customers", "list", "--archived"]);
    assert!(customers.as_array().unwrap().iter().all(|c| c["id"] != "hooli"), "{customers}");
    let kept = restored["kept"]["path"].as_str().unwrap();
    let out = sb.run(&["--workspace", kept, "--json", "customers", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hooli"), "the workspace as it was is kept");
    let (code, listed) = sb.json(&["backups"]);
    assert_eq!((code, listed.as_array().unwrap().len()), (0, 1), "{listed}");
    let (code, err) = sb.json(&["restore", file.to_str().unwrap()]);
    assert_eq!((code, err["error"]["code"].as_str()), (1, Some("not_a_workspace")), "{err}");
}

#[test]
fn subscriptions_are_created_changed_on_a_date_and_ended_from_the_cli() {
    let sb = Sandbox::new();
    let mut c = catalog();
    c["plans"].as_array_mut().unwrap().push(json!({
        "code": "basic", "name": "Basic", "currency": "USD", "interval": "month",
        "fees": [ { "name": "Basic fee", "amount": "31.00", "timing": "arrears" } ],
        "charges": [ { "meter": "api_calls", "model": "per_unit", "unit_price": "0.002" } ] }));
    let file = sb.write("catalog.json", &c.to_string());
    let applied = sb.json(&["apply", file.to_str().unwrap()]);
    assert_eq!(applied.0, 0, "{}", applied.1);

    let (code, list) = sb.json(&["subscription", "list"]);
    assert_eq!(code, 0);
    assert_eq!(list[0]["id"], "sub_globex");
    assert_eq!((list[0]["plan_version"].clone(), list[0]["anchor_day"].clone()), (json!(1), json!(1)));
    assert_eq!(list[0]["discounts"][0]["name"], "Launch", "as in the catalog");

    // Every catalog rule applies, named by field: Initech is billed in EUR, Pro in USD.
    let (code, out) =
        sb.json(&["subscription", "create", "--customer", "initech", "--plan", "pro", "--start", "2026-11-01"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["problems"][0]["path"], "plan");
    assert!(out["error"]["problems"][0]["message"].as_str().unwrap().contains("is billed in EUR"), "{out}");
    let bad = sb.run(&["--workspace", "ws.meterdesk", "subscription", "create", "--customer", "initech"]);
    assert_ne!(bad.status.code(), Some(0), "missing --plan and --start");

    // Globex moves to Basic on Nov 10: Pro ends that day, Basic starts on it, same rhythm.
    let (code, both) = sb.json(&["subscription", "change", "sub_globex", "--plan", "basic", "--on", "2026-11-10"]);
    assert_eq!(code, 0, "{both}");
    assert_eq!(both[0]["end"], "2026-11-10");
    assert_eq!(both[1]["id"], "sub_globex_2");
    assert_eq!((both[1]["start"].clone(), both[1]["anchor_day"].clone()), (json!("2026-11-10"), json!(1)));
    // November's two drafts: Pro's fee for 9 of 30 days (99 × 9/30 = 29.70), Basic's for 21 (31 × 21/30 = 21.70).
    for (sub, fee) in [("sub_globex", "29.70"), ("sub_globex_2", "21.70")] {
        let (code, draft) =
            sb.json(&["invoice", "preview", "--customer", "globex", "--period", "2026-11", "--subscription", sub]);
        assert_eq!(code, 0, "{draft}");
        assert_eq!(draft["lines"][0]["amount"], fee, "{sub}");
    }

    let (code, ended) = sb.json(&["subscription", "end", "sub_globex_2", "--on", "2026-12-01"]);
    assert_eq!((code, ended["end"].clone()), (0, json!("2026-12-01")));
    let (_, globex) = sb.json(&["subscription", "list", "--customer", "globex"]);
    assert_eq!(globex.as_array().unwrap().len(), 2);
    let human = sb.run(&["--workspace", "ws.meterdesk", "subscription", "list"]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("from 2026-10-15, until 2026-11-10 (not included), periods begin on day 1"), "{text}");

    // Once October is invoiced, no edit reaches into it.
    let (code, _) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(code, 0);
    let (code, out) = sb.json(&["subscription", "end", "sub_globex", "--on", "2026-10-20"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["problems"][0]["path"], "on");
    assert_eq!(
        out["error"]["problems"][0]["message"],
        "periods through 2026-10-31 are invoiced (INV-2026-00001); it can end on 2026-11-01 at the earliest"
    );
    let (code, out) = sb.json(&["subscription", "end", "nope", "--on", "2026-12-01"]);
    assert_eq!((code, out["error"]["code"].clone()), (1, json!("not_found")));
}

#[test]
fn late_usage_is_listed_and_billed_once_by_an_adjustment_invoice() {
    let sb = Sandbox::new();
    let c = json!({
        "workspace": { "name": "Acme AI", "currency": "USD", "timezone": "America/New_York" },
        "customers": [ { "id": "hooli", "name": "Hooli", "tax_rate": "0.10" } ],
        "meters": [ { "code": "tokens", "name": "LLM tokens", "aggregation": "sum", "property": "tokens" } ],
        "plans": [ { "code": "tok", "name": "Tokens", "currency": "USD", "interval": "month",
            "charges": [ { "meter": "tokens", "model": "graduated",
                "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" },
                           { "up_to": null, "unit_price": "0.000004" } ] } ] } ],
        "subscriptions": [ { "id": "sub_hooli", "customer": "hooli", "plan": "tok", "start": "2026-10-01" } ]
    });
    let file = sb.write("catalog.json", &c.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let event = |id: &str, tokens: u64| {
        json!({"id": id, "customer": "hooli", "type": "tokens", "timestamp": "2026-10-20T12:00:00Z",
               "properties": {"tokens": tokens}})
        .to_string()
    };
    let on_time = sb.write("on_time.ndjson", &event("a", 1_000_000));
    assert_eq!(sb.json(&["import", on_time.to_str().unwrap()]).0, 0);
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!((code, done[0]["total"].clone()), (0, json!("5.50")), "5.00 and 10% tax");
    let (code, none) = sb.json(&["invoice", "late"]);
    assert_eq!((code, none), (0, json!([])));

    // docs/billing.md: 250,000 late re-rate the period to 6.00: the adjustment is 1.00 (+ 0.10 tax).
    let late = sb.write("late.ndjson", &event("b", 250_000));
    let (_, imported) = sb.json(&["import", late.to_str().unwrap()]);
    assert_eq!(imported["late"], 1);
    let (code, waiting) = sb.json(&["invoice", "late"]);
    assert_eq!(code, 0);
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(
        (waiting[0]["invoice"].clone(), waiting[0]["customer"].clone()),
        (json!("INV-2026-00001"), json!("hooli"))
    );
    assert_eq!(waiting[0]["late_events"], 1);
    assert_eq!(waiting[0]["adds"], json!({"subtotal": "1.00", "tax": "0.10", "total": "1.10"}));
    let human = sb.run(&["--workspace", "ws.meterdesk", "invoice", "late"]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("INV-2026-00001  Hooli (hooli)  2026-10-01 to 2026-10-31: 1 late event, adds 1.10 USD"),
        "{text}"
    );

    let (code, adj) = sb.json(&["invoice", "adjust", "INV-2026-00001"]);
    assert_eq!(code, 0, "{adj}");
    assert_eq!((adj["number"].clone(), adj["adjusts"].clone()), (json!("INV-2026-00002"), json!("INV-2026-00001")));
    assert_eq!((adj["kind"].clone(), adj["total"].clone()), (json!("adjustment"), json!("1.10")));
    assert_eq!(adj["lines"][0]["quantity"], "250000");
    // Once: nothing waits, and a second adjust is refused with why.
    assert_eq!(sb.json(&["invoice", "late"]).1, json!([]));
    let (code, again) = sb.json(&["invoice", "adjust", "INV-2026-00001"]);
    assert_eq!((code, again["error"]["message"].clone()), (1, json!("no late events wait on INV-2026-00001")));
    // The register and the chain hold it like any invoice; the period invoice is not voided under it.
    let (_, verified) = sb.json(&["invoice", "verify"]);
    assert_eq!(verified["first_break"], Value::Null);
    let (code, refused) = sb.json(&["invoice", "void", "INV-2026-00001", "--reason", "test"]);
    assert_eq!(code, 1);
    assert!(refused["error"]["message"].as_str().unwrap().contains("INV-2026-00002 bills late usage"), "{refused}");

    // Its PDF says what it adjusts and shows the re-rating.
    let out = sb.path("adjustment.pdf");
    assert_eq!(sb.json(&["invoice", "pdf", "INV-2026-00002", "--out", out.to_str().unwrap()]).0, 0);
    let text = Command::new("pdftotext").args(["-layout"]).arg(&out).arg("-").output().unwrap();
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("adjustment");
    Command::new("pdftoppm").args(["-png", "-r", "70", "-singlefile"]).arg(&out).arg(&png).status().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for needle in [
        "Late usage for INV-2026-00001: 1 event",
        "the period re-rated with the late events: 1,250,000 → 6.00",
        "billed before (INV-2026-00001): -1,000,000 → -5.00",
        "1.10 USD",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

#[test]
fn an_import_is_listed_rolled_back_and_its_fixed_file_imports_again() {
    let sb = Sandbox::new();
    let file = sb.write("catalog.json", &catalog().to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let calls = |name: &str, ids: std::ops::Range<u32>, day: &str| {
        let text: String = ids
            .map(|i| {
                format!(
                    "{}\n",
                    json!({"id": format!("c{i}"), "customer": "globex", "type": "api_calls",
                           "timestamp": format!("2026-{day}T12:00:00Z"), "properties": {}})
                )
            })
            .collect();
        sb.write(name, &text)
    };
    let october = calls("october.ndjson", 0..50, "10-20");
    let wrong = calls("wrong.ndjson", 50..80, "10-21");
    assert_eq!(sb.json(&["import", october.to_str().unwrap()]).0, 0);
    assert_eq!(sb.json(&["import", wrong.to_str().unwrap()]).0, 0);
    let (code, history) = sb.json(&["imports", "list"]);
    assert_eq!(code, 0);
    let seen: Vec<(Value, Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].clone(), r["file_name"].clone(), r["accepted"].clone()))
        .collect();
    assert_eq!(seen, [(json!(2), json!("wrong.ndjson"), json!(30)), (json!(1), json!("october.ndjson"), json!(50))]);
    assert_eq!(history[0]["locked"], Value::Null);

    let (code, done) = sb.json(&["imports", "rollback", "2"]);
    assert_eq!((code, done["rolled_back_events"].clone()), (0, json!(30)), "{done}");
    let usage = |sb: &Sandbox| {
        sb.json(&[
            "usage",
            "--meter",
            "api_calls",
            "--customer",
            "globex",
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-11-01T00:00:00Z",
        ])
        .1["value"]
            .clone()
    };
    assert_eq!(usage(&sb), json!("50"));
    // The same file imports again: its ids were released.
    let (code, again) = sb.json(&["import", wrong.to_str().unwrap()]);
    assert_eq!((code, again["accepted"].clone(), again["duplicates"].clone()), (0, json!(30), json!(0)));
    assert_eq!(usage(&sb), json!("80"));
    let text = String::from_utf8(sb.run(&["--workspace", "ws.meterdesk", "imports", "list"]).stdout).unwrap();
    assert!(text.contains("wrong.ndjson") && text.contains("(rolled back 2026-11-24 15:00 UTC)"), "{text}");

    // Invoiced: it stays, and says why.
    assert_eq!(sb.json(&["invoice", "finalize", "--period", "2026-10"]).0, 0);
    let (code, refused) = sb.json(&["imports", "rollback", "1"]);
    assert_eq!((code, refused["error"]["code"].clone()), (1, json!("conflict")));
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("fall in periods already invoiced (INV-2026-00001"), "{message}");
}

#[test]
fn reports_print_the_interfaces_json_and_write_csv() {
    let sb = Sandbox::new();
    let mut with_costs = catalog();
    with_costs["costs"] = json!([{ "meter": "tokens", "group": "gpt-4o", "currency": "USD",
                                   "unit_cost": "0.000002", "from": "2026-01-01" }]);
    let file = sb.write("catalog.json", &with_costs.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    import_tokens(&sb);
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(code, 0, "{done}");
    let invoice = &done[0];
    // The token line carries its cost: 1,500,000 × 0.000002 = 3.00.
    let tokens = invoice["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "tokens").unwrap();
    assert_eq!((&tokens["cost"], &tokens["cost_currency"]), (&json!("3.00"), &json!("USD")));

    let (code, revenue) = sb.json(&["report", "revenue", "--from", "2026-10", "--to", "2026-10"]);
    assert_eq!(code, 0, "{revenue}");
    let row = &revenue[0];
    let mut keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["arr", "billed", "credited", "currency", "month", "mrr", "net", "nrr", "unbilled"]);
    assert_eq!(
        (&row["month"], &row["billed"], &row["net"], &row["nrr"]),
        (&json!("2026-10"), &invoice["subtotal"], &invoice["subtotal"], &Value::Null)
    );

    let (code, margin) = sb.json(&["report", "margin", "--period", "2026-10", "--customer", "globex"]);
    assert_eq!(code, 0, "{margin}");
    let m = &margin[0];
    assert_eq!((&m["customer"], &m["revenue"], &m["cost"]), (&json!("globex"), &invoice["subtotal"], &json!("3.00")));
    for field in ["currency", "margin", "margin_percent", "lines"] {
        assert!(m.get(field).is_some(), "{field} in {m}");
    }
    let line = m["lines"].as_array().unwrap().iter().find(|l| l["meter"] == "tokens").unwrap();
    assert_eq!(
        (&line["group"], &line["quantity"], &line["cost"]),
        (&json!("gpt-4o"), &json!("1500000"), &json!("3.00"))
    );

    // Due 30 days after Nov 24: not due on Dec 24, 1–30 days past on Dec 25.
    let csv = sb.path("receivables.csv");
    let (code, on_due) = sb.json(&["report", "receivables", "--on", "2026-12-24", "--csv", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{on_due}");
    assert_eq!((&on_due[0]["not_due"], &on_due[0]["total"]), (&invoice["amount_due"], &invoice["amount_due"]));
    let (_, after) = sb.json(&["report", "receivables", "--on", "2026-12-25"]);
    assert_eq!((&after[0]["not_due"], &after[0]["d1_30"]), (&json!("0.00"), &invoice["amount_due"]));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("currency,not_due,d1_30,d31_60,d61_90,over_90,total"));
    assert!(lines.next().unwrap().starts_with("USD,"), "{text}");

    let (code, signals) = sb.json(&["report", "signals"]);
    assert_eq!(code, 0, "{signals}");
    for s in signals.as_array().unwrap() {
        assert!(s["kind"] == "churn_risk" || s["kind"] == "power_user", "{s}");
        assert!(!s["reason"].as_str().unwrap().is_empty() && s["customer"].is_string(), "{s}");
    }

    // Bad input names its field.
    let (code, out) = sb.json(&["report", "revenue", "--from", "2026-13", "--to", "2026-10"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("from")), "{out}");
    let (code, out) = sb.json(&["report", "receivables", "--on", "tomorrow"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("on")), "{out}");
}

#[test]
fn payments_in_part_are_recorded_listed_reversed_and_keep_a_void_away() {
    // docs/billing.md: 1,481.47 paid 500.00 then 981.47 → paid; the second reversed → partially paid, 981.47 owed.
    let sb = Sandbox::new();
    let file = sb.write(
        "catalog.json",
        &json!({ "workspace": { "timezone": "UTC" },
                 "customers": [ { "id": "acme", "name": "Acme", "tax_rate": "0.20" } ],
                 "plans": [ { "code": "flat", "name": "Flat", "currency": "USD", "interval": "month",
                              "fees": [ { "name": "Platform", "amount": "1234.56", "timing": "arrears" } ] } ],
                 "subscriptions": [ { "id": "s1", "customer": "acme", "plan": "flat", "start": "2026-10-01",
                                      "anchor_day": 1 } ] })
        .to_string(),
    );
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!((code, &done[0]["total"]), (0, &json!("1481.47")), "{done}");
    let number = done[0]["number"].as_str().unwrap().to_string();
    let issued = done[0]["issue_date"].as_str().unwrap().to_string();
    let pay = |amount: &str, method: &str, reference: &str| {
        sb.json(&[
            "invoice",
            "pay",
            &number,
            "--amount",
            amount,
            "--date",
            &issued,
            "--method",
            method,
            "--reference",
            reference,
        ])
    };

    let (code, first) = pay("500.00", "bank_transfer", "wire 1");
    assert_eq!(code, 0, "{first}");
    assert_eq!(
        (&first["standing"], &first["paid_amount"], &first["outstanding"], &first["number"]),
        (&json!("partially_paid"), &json!("500.00"), &json!("981.47"), &json!(number))
    );
    assert_eq!(
        first["payments"],
        json!([{ "id": 1, "amount": "500.00", "date": issued, "method": "bank_transfer", "reference": "wire 1",
                 "reversed": null }])
    );
    // Wrong fields are named; more than is owed is refused.
    let (code, out) = pay("981.48", "cheque", " ");
    let paths: Vec<&str> =
        out["error"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!((code, paths), (1, vec!["amount", "method", "reference"]), "{out}");
    assert_eq!(out["error"]["problems"][0]["message"], "981.48 USD is more than the 981.47 USD still owed");
    let (code, out) = sb.json(&["invoice", "void", &number, "--reason", "wrong customer"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("conflict")), "{out}");

    let (code, second) = pay("981.47", "card", "slip 7");
    assert_eq!((code, &second["standing"], &second["outstanding"]), (0, &json!("paid"), &json!("0.00")), "{second}");
    let (code, listed) = sb.json(&["invoice", "list"]);
    assert_eq!((code, &listed[0]["standing"], &listed[0]["paid"]), (0, &json!("paid"), &json!("1481.47")));

    let (code, out) = sb.json(&["invoice", "payment-reverse", &number, "--payment", "2", "--reason", ""]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("reason")), "{out}");
    let (code, back) =
        sb.json(&["invoice", "payment-reverse", &number, "--payment", "2", "--reason", "card charged back"]);
    assert_eq!(code, 0, "{back}");
    assert_eq!(
        (&back["standing"], &back["paid_amount"], &back["outstanding"], &back["payments"][1]["reversed"]),
        (&json!("partially_paid"), &json!("500.00"), &json!("981.47"), &json!("card charged back"))
    );
    let (code, listed) = sb.json(&["invoice", "list"]);
    assert_eq!(
        (code, &listed[0]["standing"], &listed[0]["outstanding"]),
        (0, &json!("partially_paid"), &json!("981.47"))
    );
    // `invoice paid` records the rest, by other means.
    let (code, rest) = sb.json(&["invoice", "paid", &number, "--date", &issued, "--reference", "cash desk"]);
    assert_eq!((code, rest["payments"][2]["amount"].as_str()), (0, Some("981.47")), "{rest}");
    let out = sb.run(&["--workspace", "ws.meterdesk", "invoice", "show", &number]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("payment #2: 981.47 USD on") && text.contains("reversed: card charged back"), "{text}");
    // Paid in full, then credited 81.47: that much was overpaid, into the wallet.
    let (code, out) =
        sb.json(&["invoice", "credit", &number, "--reason", "goodwill", "--amount", "81.47", "--refund-to", "bank"]);
    assert_eq!((code, out["error"]["problems"][0]["path"].as_str()), (1, Some("--refund-to")), "{out}");
    let (code, note) =
        sb.json(&["invoice", "credit", &number, "--reason", "goodwill", "--amount", "81.47", "--refund-to", "wallet"]);
    assert_eq!((code, &note["refund"]), (0, &json!({ "amount": "81.47", "to": "wallet" })), "{note}");
    let (code, wallet) = sb.json(&["wallet", "balance", "--customer", "acme"]);
    assert_eq!((code, &wallet["balance"]), (0, &json!("81.47")), "{wallet}");
    // The accountants' CSV: the money after the revenue, reconciling to nothing owed.
    let csv_path = sb.path("payments.csv");
    let (code, written) =
        sb.json(&["invoice", "export", "--from", &issued, "--to", "2026-11-30", "--out", csv_path.to_str().unwrap()]);
    assert_eq!((code, &written["payments"], &written["payment_reversals"]), (0, &json!(3), &json!(1)), "{written}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let cents = |l: &str| l.rsplit(',').nth(3).unwrap().replace('.', "").parse::<i64>().unwrap();
    let revenue: i64 = csv.lines().skip(1).filter(|l| !l.contains(",payment,")).map(cents).sum();
    let money: i64 = csv.lines().skip(1).filter(|l| l.contains(",payment,")).map(cents).sum();
    assert_eq!((revenue, money), (148147 - 8147, 148147), "{csv}");
    let (code, verified) = sb.json(&["invoice", "verify"]);
    assert_eq!(code, 0, "{verified}");
}

/// Globex's October invoice (INV-2026-00001, due 2026-12-24) in a workspace
/// that sends through `server` with STARTTLS and a login (the server's
/// certificate trusted), to `addresses`; no password kept yet.
fn mailing_setup(server: &smtp::SmtpServer, addresses: &str) -> (Sandbox, String) {
    let sb = Sandbox::new();
    // The server's certificate, to trust (a restarted server's replaces it).
    std::fs::copy(server.ca_file(), sb.path("ca.pem")).unwrap();
    sb.set_env("METERDESK_MAIL_CA_FILE", sb.path("ca.pem").to_str().unwrap());
    let mut c = catalog();
    c["customers"][0]["email"] = json!(addresses);
    c["workspace"]["mail"] = json!({ "host": "localhost", "port": server.port, "security": "starttls",
                                     "username": "billing", "from": "Acme AI Billing <billing@acme.test>" });
    let file = sb.write("catalog.json", &c.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    import_tokens(&sb);
    let (code, done) = sb.json(&["invoice", "finalize", "--period", "2026-10"]);
    assert_eq!(code, 0, "{done}");
    (sb, done[0]["number"].as_str().unwrap().to_string())
}

/// `mail password`, given `password` on its standard input.
fn keep_password(sb: &Sandbox, password: &str) {
    let mut child = sb
        .command(NOW, &["--workspace", "ws.meterdesk", "mail", "password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// [`mailing_setup`] to Globex's two addresses, with the login's password kept.
fn mailing_workspace(server: &smtp::SmtpServer) -> (Sandbox, String) {
    let (sb, number) = mailing_setup(server, "ap@globex.test, cfo@globex.test");
    keep_password(&sb, "correct horse");
    (sb, number)
}

#[test]
fn invoices_are_sent_through_the_outbox_with_their_pdf_and_the_password_stays_outside() {
    let server = smtp::SmtpServer::start(smtp::Secure::Starttls, Some(("billing", "correct horse")));
    let (sb, number) = mailing_workspace(&server);
    // The password is in a file only this user reads, outside the workspace, its backups and exports.
    let kept = sb.path("home/config/meterdesk/mail-passwords.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&kept).unwrap().contains("correct horse"));
    assert_eq!(sb.json(&["backup", "copy.meterdesk"]).0, 0);
    let (code, exported) = sb.json(&["export", "catalog"]);
    assert_eq!((code, &exported["workspace"]["mail"]["username"]), (0, &json!("billing")), "{exported}");
    assert!(!exported.to_string().contains("correct horse"));
    for file in ["ws.meterdesk", "ws.meterdesk-wal", "copy.meterdesk"] {
        let bytes = std::fs::read(sb.path(file)).unwrap_or_default();
        assert!(!bytes.windows(13).any(|w| w == b"correct horse"), "the password is in {file}");
    }
    let (code, ok) = sb.json(&["mail", "test"]);
    assert_eq!((code, &ok["ok"]), (0, &json!(true)), "{ok}");

    let (code, sent) = sb.json(&["invoice", "send", &number]);
    assert_eq!(code, 0, "{sent}");
    assert_eq!(
        (&sent["document"], &sent["to"], &sent["status"], &sent["error"]),
        (&json!(number), &json!(["ap@globex.test", "cfo@globex.test"]), &json!("sent"), &Value::Null)
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    let message = mail_parser::MessageParser::default().parse(&received[0].raw).unwrap();
    assert_eq!(received[0].rcpt, ["ap@globex.test", "cfo@globex.test"]);
    assert_eq!(message.subject(), Some(format!("Invoice {number} from Acme AI").as_str()));
    assert_eq!(format!("<{}>", message.message_id().unwrap()), sent["message_id"].as_str().unwrap());
    let pdf = sb.path("exported.pdf");
    assert_eq!(sb.json(&["invoice", "pdf", &number, "--out", pdf.to_str().unwrap()]).0, 0);
    assert_eq!(message.attachment(0).unwrap().contents(), std::fs::read(&pdf).unwrap().as_slice());
    // Once only.
    let (code, again) = sb.json(&["invoice", "send", &number]);
    assert_eq!((code, again["error"]["code"].as_str()), (1, Some("conflict")), "{again}");
    assert_eq!(server.received().len(), 1);
    let (code, listed) = sb.json(&["outbox", "list"]);
    assert_eq!(code, 0);
    assert_eq!(
        [&listed[0]["document"], &listed[0]["kind"], &listed[0]["to"], &listed[0]["status"], &listed[0]["attempts"]],
        [&json!(number), &json!("invoice"), &json!(["ap@globex.test", "cfo@globex.test"]), &json!("sent"), &json!(1)]
    );
    let out = sb.run(&["--workspace", "ws.meterdesk", "invoice", "show", &number]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Sent invoice {number} to ap@globex.test, cfo@globex.test")), "{text}");

    // Reminders: none before 7 days past the due date; then the first level, once.
    let (code, none) = sb.json(&["reminders", "preview", "--on", "2026-12-30"]);
    assert_eq!((code, none), (0, json!([])));
    let (code, due) = sb.json(&["reminders", "preview", "--on", "2026-12-31"]);
    assert_eq!(
        (code, &due[0]["invoice"], &due[0]["level"], &due[0]["status"]),
        (0, &json!(number), &json!(1), &json!("queued"))
    );
    assert_eq!(server.received().len(), 1, "a preview sends nothing");
    let (code, ran) = sb.json(&["reminders", "run", "--on", "2026-12-31"]);
    assert_eq!(
        (code, &ran[0]["level"], &ran[0]["status"], &ran[0]["to"]),
        (0, &json!(1), &json!("sent"), &json!(["ap@globex.test", "cfo@globex.test"])),
        "{ran}"
    );
    let (code, ran) = sb.json(&["reminders", "run", "--on", "2027-01-13"]);
    assert_eq!((code, ran), (0, json!([])));
    assert_eq!(server.received().len(), 2);

    // The customer's statement: written and sent once, the attachment the same PDF.
    let total = listed_total(&sb, &number);
    let statement_pdf = sb.path("statement.pdf");
    let args = ["customers", "statement", "globex", "--from", "2026-11-01", "--to", "2026-12-31"];
    let (code, statement) = sb.json(&[&args[..], &["--out", statement_pdf.to_str().unwrap(), "--send"]].concat());
    assert_eq!(code, 0, "{statement}");
    let usd = &statement["currencies"][0];
    assert_eq!(
        (&usd["opening_balance"], &usd["closing_balance"], &usd["total_owed"]),
        (&json!("0.00"), &json!(total), &json!(total))
    );
    assert_eq!(usd["lines"][0]["document"], json!(number));
    assert_eq!(statement["sent"]["status"], "sent", "{statement}");
    let received = server.received();
    assert_eq!(received.len(), 3);
    let message = mail_parser::MessageParser::default().parse(&received[2].raw).unwrap();
    assert_eq!(message.subject(), Some("Statement of account from Acme AI"));
    assert_eq!(message.attachment(0).unwrap().contents(), std::fs::read(&statement_pdf).unwrap().as_slice());
    let (code, again) = sb.json(&[&args[..], &["--send"]].concat());
    assert_eq!((code, again["error"]["code"].as_str()), (1, Some("conflict")), "{again}");
}

/// What the register says invoice `number` totals.
fn listed_total(sb: &Sandbox, number: &str) -> String {
    let (_, listed) = sb.json(&["invoice", "list"]);
    let entry = listed.as_array().unwrap().iter().find(|e| e["number"] == number).unwrap().clone();
    entry["total"].as_str().unwrap().to_string()
}

#[test]
fn with_a_system_keychain_the_mail_password_is_kept_there_and_not_in_a_file() {
    let server = smtp::SmtpServer::start(smtp::Secure::Starttls, Some(("billing", "correct horse")));
    let (sb, number) = mailing_setup(&server, "ap@globex.test");
    // A desktop session: its own bus and an unlocked GNOME keyring (the Secret Service),
    // in which the password is kept and from which the send reads it.
    std::fs::create_dir_all(sb.path("home/run")).unwrap();
    let bin = env!("CARGO_BIN_EXE_meterdesk");
    let script = format!(
        "printf 'login keyring password' | gnome-keyring-daemon --unlock --components=secrets > /dev/null && \
         printf 'correct horse\\n' | {bin} --workspace ws.meterdesk --json mail password && \
         {bin} --workspace ws.meterdesk --json invoice send {number}"
    );
    let session = sb.command(NOW, &[]);
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .envs(session.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .current_dir(sb.dir.path())
        .output()
        .expect("dbus-run-session (scripts/install.sh installs dbus and gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["kept"], "keychain", "{stdout}");
    assert_eq!(lines[1]["status"], "sent", "{stdout}");
    assert_eq!(server.received().len(), 1);
    // Nothing in the file: outside that session there is no password to log in with.
    assert!(!sb.path("home/config/meterdesk/mail-passwords.json").exists());
    let (code, refused) = sb.json(&["outbox", "list"]);
    assert_eq!((code, &refused[0]["status"]), (0, &json!("sent")));
    let (code, test) = sb.json(&["mail", "test"]);
    assert_eq!(code, 1, "{test}");
    assert!(test["error"]["message"].as_str().unwrap().contains("refused the login"), "{test}");
}

#[test]
fn a_message_waits_in_the_outbox_while_the_server_is_down_and_a_kill_after_acceptance_sends_it_once_more_with_the_same_id()
 {
    let server = smtp::SmtpServer::start(smtp::Secure::Starttls, Some(("billing", "correct horse")));
    let (sb, number) = mailing_workspace(&server);
    // A wrong password: a clear error, the message kept.
    keep_password(&sb, "wrong");
    let (code, queued) = sb.json(&["invoice", "send", &number]);
    assert_eq!((code, &queued["status"]), (1, &json!("queued")), "{queued}");
    assert!(queued["error"].as_str().unwrap().contains("refused the login (535"), "{queued}");

    // The server goes away: still queued, nothing lost, the error names the server.
    let port = server.port;
    drop(server);
    let (code, waiting) = sb.json(&["outbox", "retry"]);
    assert_eq!((code, &waiting[0]["status"], &waiting[0]["attempts"]), (1, &json!("queued"), &json!(2)), "{waiting}");
    let why = waiting[0]["last_error"].as_str().unwrap();
    assert!(why.contains(&format!("the mail server localhost:{port} could not be reached")), "{why}");

    // It comes back (on another port, with the right password): a retry that is
    // killed (SIGKILL) after the server accepted the message, before it is marked sent.
    let server = smtp::SmtpServer::start(smtp::Secure::Starttls, Some(("billing", "correct horse")));
    std::fs::copy(server.ca_file(), sb.path("ca.pem")).unwrap();
    let mut c: Value = sb.json(&["export", "catalog"]).1;
    c["workspace"]["mail"]["port"] = json!(server.port);
    let file = sb.write("moved.json", &c.to_string());
    assert_eq!(sb.json(&["apply", file.to_str().unwrap()]).0, 0);
    keep_password(&sb, "correct horse");
    let marker = sb.path("accepted");
    let mut child = sb
        .command(NOW, &["--workspace", "ws.meterdesk", "--json", "outbox", "retry"])
        .env("METERDESK_PAUSE_AFTER_ACCEPT", &marker)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the retry ended before the server accepted the message");
        assert!(std::time::Instant::now() < deadline, "the server never accepted the message");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(server.received().len(), 1);
    let (_, listed) = sb.json(&["outbox", "list"]);
    assert_eq!((&listed[0]["status"], &listed[0]["attempts"]), (&json!("sending"), &json!(3)), "{listed}");

    // The next retry hands it over again, with the same Message-ID, and marks it sent; then nothing more.
    let (code, done) = sb.json(&["outbox", "retry"]);
    assert_eq!((code, &done[0]["status"], &done[0]["attempts"]), (0, &json!("sent"), &json!(4)), "{done}");
    let received = server.received();
    assert_eq!(received.len(), 2);
    let id = |raw: &[u8]| mail_parser::MessageParser::default().parse(raw).unwrap().message_id().unwrap().to_string();
    assert_eq!(id(&received[0].raw), id(&received[1].raw));
    assert_eq!(format!("<{}>", id(&received[0].raw)), queued["message_id"].as_str().unwrap());
    let (code, nothing) = sb.json(&["outbox", "retry"]);
    assert_eq!((code, nothing), (0, json!([])));
    assert_eq!(server.received().len(), 2);
}
