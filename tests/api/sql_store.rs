//! The SQL store's contract, run against SQLite and PostgreSQL: migrations,
//! and the conditional updates the domains build on.

use chrono::{Duration, Utc};
use secrecy::SecretString;
use wayfarer::config::DatabaseSettings;
use wayfarer::store::Store;

use crate::helpers::fresh_postgres_database;

async fn contract(url: String) {
    let settings = DatabaseSettings::default();
    let store = Store::connect(&SecretString::from(url.clone()), &settings).await.expect("connects");

    // Migrations: pending on a new database, then current, and idempotent.
    let before = store.migration_state().await.expect("state");
    assert_eq!(before.applied, 0);
    assert!(before.known >= 1);
    assert_eq!(store.migrate().await.expect("migrates"), before.known);
    assert!(store.migration_state().await.expect("state").is_current());
    assert_eq!(store.migrate().await.expect("again"), 0, "nothing left to apply");
    store.ping().await.expect("ping");

    // A second pool on the same database sees the same rows (the file or server is shared).
    let peer = Store::connect(&SecretString::from(url), &settings).await.expect("second pool");
    let now = Utc::now();
    store.register_instance("a", "1.0.0", now).await.expect("register a");
    peer.register_instance("b", "1.0.0", now).await.expect("register b");
    let live = store.live_instances(now - Duration::seconds(1)).await.expect("list");
    assert_eq!(live.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(live[0].started_at.timestamp_millis(), now.timestamp_millis());

    // Conditional updates: a heartbeat moves forward only for a live instance.
    let later = now + Duration::seconds(10);
    assert!(store.heartbeat("a", later).await.expect("heartbeat"));
    assert!(!store.heartbeat("nobody", later).await.expect("no row"));
    store.deregister_instance("b", later).await.expect("stop b");
    assert!(!peer.heartbeat("b", later).await.expect("stopped instances do not beat"));
    let live = peer.live_instances(later - Duration::seconds(1)).await.expect("list");
    assert_eq!(live.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["a"]);

    // Re-registering an id resets it rather than duplicating it.
    store.register_instance("b", "1.1.0", later).await.expect("re-register");
    let live = store.live_instances(later - Duration::seconds(1)).await.expect("list");
    assert_eq!(live.len(), 2);
    assert_eq!(live.iter().find(|i| i.id == "b").map(|i| i.version.as_str()), Some("1.1.0"));

    peer.close().await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("wayfarer.db");
    contract(format!("sqlite://{}?mode=rwc", path.display())).await;
    assert!(path.exists(), "the file and its directory were created");
}

#[tokio::test]
async fn postgres_keeps_the_store_contract() {
    contract(fresh_postgres_database().await).await;
}
