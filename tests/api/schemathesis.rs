//! schemathesis (PyPI, pinned in `tests/schemathesis/requirements.txt`) in
//! GraphQL mode against a real server on the embedded defaults with the
//! bundled sandbox as every provider: a few hundred generated queries and
//! mutations, valid and invalid, with a live session's bearer token.
//!
//! The check is `no_internal_error` from `tests/schemathesis/hooks.py`, not
//! schemathesis's `not_a_server_error`, which also fails on every GraphQL
//! error although most errors a generated request earns are the contract's
//! business answers (UNAUTHENTICATED, BAD_USER_INPUT, NOT_FOUND…). What
//! fails here is what must never happen: a 5xx, a body that is not a
//! GraphQL response, an error without `extensions.code`, or one with
//! `INTERNAL`. It reads the SDL in `schema.graphql` (kept equal to the
//! served schema by `schema::`), so it does not depend on introspection;
//! `hooks.py` also gives the `Date` and `DateTime` scalars mostly valid
//! values, and `schemathesis.toml` known airports, messages and payment
//! methods, so cases get past validation into search, chat and payment.
//!
//! The venv comes from `bash .ci/test`; without it this test fails rather
//! than skips.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// Generous: a few hundred local requests, most answered in milliseconds.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

/// Examples per operation; with the schema's root fields, a few hundred cases.
const EXAMPLES_PER_OPERATION: &str = "25";

/// Fewer than this many cases would mean schemathesis tested next to nothing
/// (20 operations × 25 examples make 500).
const MIN_CASES: u64 = 300;

#[tokio::test]
async fn generated_graphql_requests_never_get_a_server_error_or_an_internal_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/schemathesis");
    let st = dir.join(".venv/bin/st");
    assert!(
        st.exists(),
        "{} is missing: run `bash .ci/test` once (it creates the venv and installs tests/schemathesis/requirements.txt)",
        st.display()
    );
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let report = tempfile::tempdir().expect("report dir");
    let report_path = report.path().join("report.ndjson");

    let run = tokio::process::Command::new(&st)
        // Known values (airports, messages, payment methods) for arguments
        // that random strings never get past validation.
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .arg(root.join("schema.graphql"))
        .arg("--url")
        .arg(app.url("/graphql"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["--checks", "no_internal_error"])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        // Reproducible: the same cases on every run and machine.
        .args(["--seed", "20261203"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "60"])
        // Ending the session would turn the rest of the run into UNAUTHENTICATED.
        .args(["--exclude-name", "Mutation.endSession"])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report_path)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &dir)
        .env("NO_PROXY", "*")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .current_dir(report.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("st run did not finish within {RUN_TIMEOUT:?}"))
        .expect("start schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "st run failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}", output.status);

    let cases = cases_run(&std::fs::read_to_string(&report_path).expect("the ndjson report"));
    assert!(cases >= MIN_CASES, "only {cases} cases ran\n--- stdout\n{stdout}");
    println!("schemathesis: {cases} cases, no 5xx, no INTERNAL");
    app.stop().await;
}

/// How many test cases the ndjson report records.
fn cases_run(report: &str) -> u64 {
    report.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).map(|event| count_cases(&event)).sum()
}

/// A finished scenario (one operation) lists the cases it ran.
fn count_cases(event: &Value) -> u64 {
    event["ScenarioFinished"]["recorder"]["cases"].as_object().map_or(0, |cases| cases.len() as u64)
}

/// Found by the `graphql_request` fuzz target: a required variable left out
/// of `variables` reached the resolver as "Variable … is not defined." and
/// was masked as `INTERNAL`; it is the client's mistake.
#[tokio::test]
async fn a_required_variable_left_out_is_bad_user_input_not_internal() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    for (query, token) in [
        ("mutation MarkNotificationsRead($upTo: ID!) { markNotificationsRead(upTo: $upTo) }", None),
        ("mutation MarkNotificationsRead($upTo: ID!) { markNotificationsRead(upTo: $upTo) }", Some(token.as_str())),
        ("query Booking($id: ID!) { booking(id: $id) { id } }", Some(token.as_str())),
        ("query Places($q: String!) { places(query: $q) { code } }", None),
    ] {
        let (status, body) = app.graphql(query, serde_json::json!({}), token).await;
        assert!(status < 500, "{status} {body}");
        let codes: Vec<&str> =
            body["errors"].as_array().into_iter().flatten().filter_map(|e| e["extensions"]["code"].as_str()).collect();
        assert!(!codes.is_empty(), "{body}");
        assert!(!codes.contains(&"INTERNAL"), "{query}: {body}");
    }
    app.stop().await;
}
