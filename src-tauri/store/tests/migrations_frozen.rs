//! Migrations are append-only: a migration that landed is never edited, since
//! a workspace that already ran it would never run the new text. (Before issue
//! 14 several were edited after landing, while no workspace outside the
//! project's own machines existed; the hashes below freeze them as they are.)
//! A schema change is a new file with the next number, added to this list in
//! the same commit; changing a listed file, or removing one, fails here.

use sha2::{Digest, Sha256};

/// Every migration and the SHA-256 of its text, in order.
const LANDED: &[(&str, &str)] = &[
    ("0001_init.sql", "469c4ef8e29cc48a18e4d136b335de460a5a7e529a2175ad12a96e9850100c23"),
    ("0002_meters.sql", "1bedd40a732103b7c1e4c562a8a8353ca0d4448c22f28d962e696cb09d51a4d9"),
    ("0003_events.sql", "75e5d0f18a08a5a55d2a51c8899b3fc1859cbbc95b8ca4f39e41e70a50c172fc"),
    ("0004_event_chunks.sql", "f6ff3721526eb822e2ae75142cbde91e3023a9bdb7cdbbd0e66730f5e836c21d"),
    ("0005_plans.sql", "9f24965f158a6dbc4a24c97475d3228fa2a608754993c89751ef36b88616b69f"),
    ("0006_subscriptions.sql", "d261091b7d65141556ef431244ceccf86e6d9e97c53d976df48a3700033aeb3e"),
    ("0007_usage_days.sql", "5b7eacffd4139370d2b2b95c56f6d83ca2f075a5da99e8d94678df0f6eb41602"),
    ("0008_invoices.sql", "b586b59ac31e3bf90aeed62bfb0c0471881d6bb60391ca4f78f35fd05ed62ec7"),
    ("0009_credit_notes.sql", "844dd8f5228ef1a2045c050eb2c51b9df0da6b6b45bf8b08d7b0535837cef369"),
    ("0010_invoice_details.sql", "cc191a7a29d6a039b2cd837352f4a4d9ddcf8c6aac4e15beb55e77a48924fcb4"),
    ("0011_wallets.sql", "f7a0d74c70c20d57325a2d99ed247c17653863f8e11ed7431f43d866611cb876"),
    ("0012_reissue.sql", "3a2167765c47cc442e4267e52b24c61ccfbe184098073634f6d67a7419a51d32"),
    ("0013_backups.sql", "d76bebb094307bff766a7b6813744bf1d9eb626d6ad299783110ea528174c913"),
    ("0014_adjustments.sql", "d7614fb251bccc5970184548e682b5adcddf0d7c90f1f049cec23dd4bac8fb71"),
    ("0015_import_rollback.sql", "2345d56c1ec6a5fbde226158c6047faab375bc95e5d1cefdc420f56e03eb897e"),
    ("0016_import_rejects_seen.sql", "b5b352a5462a136677c34f9f010ccce568809bcab511bd4ca22efbd100f1391d"),
    ("0017_audit_actor.sql", "f9038eb464c419530b13a59f0ebb6219e4e269884b644fd37fe3d7ff9a940c34"),
    ("0018_payment_details.sql", "4d594ab75c4bdc2acfa07c8ef6b5cc1e486d5188f50301a78d812d0b74a649af"),
    ("0019_costs.sql", "f2bd69a245b0eed47346816bb5682ed19d4da4964f6fe1c0d5571dcb825d0398"),
    ("0020_signal_alerts.sql", "7865d348e27fed34a61d8a416f0f6defbfd228236f04e82ed6b18e918ab361a8"),
    ("0021_read_indexes.sql", "9ddcc13641cb19c39fc55d4dc532c5997773d3647e42d10bb8523eb4f1ca21c7"),
    ("0022_alert_rules.sql", "ee45f34ed689af8f433d2efc1527c32c21e659b51cd333cd7e94e9fdccabed12"),
    ("0023_usage_blocks.sql", "3f87fb8487b72693d102a56af7fc36206bcaa43692425fc2aeebd96e51fc1a6e"),
    ("0024_payments.sql", "f7b85c2566f0b5aef3ae9ceb40c799b837a2999e51a92fd7d4ba9004754ba484"),
    ("0025_outbox.sql", "f48b86f69256e94327fbb0901d9fb98b5bf11f9ff3968970848919077d0eb90c"),
];

#[test]
fn a_landed_migration_is_never_edited_and_new_ones_are_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    found.sort();
    let listed: Vec<&str> = LANDED.iter().map(|(name, _)| *name).collect();
    assert_eq!(found, listed, "the migrations folder and this list differ: a new migration is added to LANDED");
    for (i, (name, hash)) in LANDED.iter().enumerate() {
        assert!(name.starts_with(&format!("{:04}_", i + 1)), "{name} is not number {} of the sequence", i + 1);
        let text = std::fs::read(dir.join(name)).unwrap();
        let actual: String = Sha256::digest(&text).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&actual, hash, "{name} was edited after it landed: add a new migration instead");
    }
}
