//! The command line: `schema`, `doctor`, and start-up failures that say what to do.

use std::process::Output;

use crate::helpers::{free_port, fresh_postgres_database, redis_url};

async fn wayfarer(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfarer"));
    command.args(["--data-dir", &dir.path().join("data").display().to_string()]).args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), command.output()).await.expect("finishes").expect("runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn doctor_reports_healthy_components_and_redacts_secrets() {
    let database = fresh_postgres_database().await;
    let output = wayfarer(&["doctor"], &[("REDIS_URL", &redis_url()), ("DATABASE_URL", &database)]).await;
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("Resolved configuration"), "{report}");
    assert!(report.contains("[ok  ] redis") && report.contains("PING"), "{report}");
    assert!(report.contains("version"), "{report}");
    assert!(report.contains("maxmemory-policy"), "{report}");
    assert!(report.contains("persistence"), "{report}");
    assert!(report.contains("[ok  ] store") || report.contains("[warn] store"), "{report}");
    assert!(report.contains("pending"), "a fresh database has its migrations pending: {report}");

    let with_password =
        format!("postgres://postgres:sekret-pw@{}", database.trim_start_matches("postgres://postgres@"));
    let output = wayfarer(&["doctor"], &[("DATABASE_URL", &with_password)]).await;
    assert!(!text(&output).contains("sekret-pw"), "{}", text(&output));
}

#[tokio::test]
async fn doctor_fails_when_a_required_component_is_down() {
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let output = wayfarer(&["doctor"], &[("REDIS_URL", &dead), ("WAYFARER_REDIS__CONNECTION_TIMEOUT", "300ms")]).await;
    let report = text(&output);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("[FAIL] redis"), "{report}");
}

#[tokio::test]
async fn serve_refuses_bad_config_naming_the_key() {
    let output = wayfarer(&["serve"], &[("WAYFARER_REDIS__MAX_CONNECTIONS", "lots")]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("redis.max_connections"), "{}", text(&output));
}

#[tokio::test]
async fn serve_says_what_to_do_when_redis_is_down() {
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let output = wayfarer(
        &["serve", "--listen", &listen],
        &[("REDIS_URL", &dead), ("WAYFARER_REDIS__CONNECTION_TIMEOUT", "300ms")],
    )
    .await;
    assert!(!output.status.success());
    let message = text(&output);
    assert!(message.contains("Start redis-server") && message.contains("unset it"), "{message}");
}

#[tokio::test]
async fn help_is_there_for_a_newcomer() {
    let output = wayfarer(&["--help"], &[]).await;
    let help = text(&output);
    assert!(output.status.success());
    for word in ["serve", "schema", "doctor", "--config", "REDIS_URL"] {
        assert!(help.contains(word), "{word} in {help}");
    }
    let serve = text(&wayfarer(&["serve", "--help"], &[]).await);
    assert!(serve.contains("--listen"), "{serve}");
}
