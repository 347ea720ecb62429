//! The pages in headless Chromium (Debian's `chromium`, driven by the
//! `playwright-core` script in `tests/browser/`), against a test server:
//! GraphiQL loads, runs a query and receives a subscription event; the
//! chat searches in Spanish, shows cards, books with a validation error
//! shown and corrected, pays and shows the booking confirmed, and comes
//! back by itself when its WebSocket drops; and the confirmation
//! notification appears live. Any request that leaves
//! localhost, any CSP violation and any uncaught page error fails the test.
//! Screenshots of every step are saved in `target/browser-screenshots/`.
//!
//! Chromium or the npm packages missing is a failure, never a skip:
//! `bash .ci/test` installs both.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// One Chromium at a time: the machines have two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs one scenario of `tests/browser/run.mjs` against a fresh server; its report.
async fn run(scenario: &str) -> Value {
    let tool = tool();
    assert!(
        tool.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash .ci/test`, or `npm ci` in tests/browser"
    );
    assert!(
        ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].iter().any(|p| Path::new(p).exists())
            || std::env::var_os("WAYFARER_CHROMIUM").is_some(),
        "Chromium is missing: `apt-get install chromium` (bash .ci/test installs it)"
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let _one_at_a_time = BROWSER.lock().await;
    let app = TestApp::spawn(Backend::Memory).await;
    let output = tokio::process::Command::new("node")
        .arg(tool.join("run.mjs"))
        .arg(scenario)
        .arg(app.url(""))
        .arg(&shots)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    app.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| {
        panic!("no report from the browser run ({}):\n{stdout}\n{stderr}", output.status);
    });
    let report: Value = serde_json::from_str(line).expect("one JSON report line");
    let clean = |key: &str| report[key].as_array().is_some_and(Vec::is_empty);
    assert!(clean("outside"), "requests left localhost: {}", report["outside"]);
    assert!(clean("csp"), "Content-Security-Policy violations: {}", report["csp"]);
    assert!(clean("pageErrors"), "uncaught errors in the page: {}", report["pageErrors"]);
    report
}

/// Asserts that each of `steps` ran, in order, and passed.
fn assert_steps(report: &Value, steps: &[&str]) {
    let ran = report["steps"].as_array().cloned().unwrap_or_default();
    for (i, name) in steps.iter().enumerate() {
        let step = ran.get(i).unwrap_or_else(|| panic!("step {name} did not run: {}", report["steps"]));
        assert_eq!(step["name"], *name, "{}", report["steps"]);
        assert!(step["ok"] == true, "step {name} failed: {}", step["error"].as_str().unwrap_or_default());
    }
}

const CHAT_STEPS: [&str; 10] = [
    "chat-loads",
    "start-session",
    "search-in-spanish",
    "flight-cards",
    "keyboard-navigation",
    "booking-form",
    "validation-error-shown",
    "validation-corrected",
    "payment-confirmed",
    "reconnects-and-catches-up",
];

#[tokio::test]
async fn graphiql_runs_a_query_and_receives_a_subscription_event() {
    let report = run("graphiql").await;
    assert_steps(&report, &["graphiql-loads", "start-session", "runs-a-query", "receives-a-subscription-event"]);
    let examples = report["steps"][0]["detail"]["examples"].as_u64().unwrap_or(0);
    let contract = std::fs::read_to_string(tool().join("../../playground/src/operations.graphql")).expect("contract");
    let operations =
        contract.lines().filter(|l| ["query ", "mutation ", "subscription "].iter().any(|k| l.starts_with(k))).count();
    assert_eq!(examples as usize, operations, "every contract operation is an example");
    assert!(report["socketInit"].as_array().is_some_and(|i| i.iter().all(|a| a == true)), "{}", report["socketInit"]);
}

#[tokio::test]
async fn the_chat_searches_in_spanish_books_and_pays() {
    let report = run("chat").await;
    assert_steps(&report, &CHAT_STEPS);
    let reply = report["steps"][2]["detail"]["reply"].as_str().unwrap_or("");
    assert!(reply.contains("Madrid") && reply.contains("Londres"), "the reply is not in Spanish: {reply}");
    assert!(report["steps"][2]["detail"]["cards"].as_u64().unwrap_or(0) >= 1);
    assert!(!report["steps"][6]["detail"]["message"].as_str().unwrap_or("").is_empty());
}

/// Needs the notifications (`notificationAdded`) of the notification
/// system; it fails against a server without them.
#[tokio::test]
async fn the_chat_shows_the_confirmation_notification_live() {
    let report = run("notification").await;
    let mut steps = CHAT_STEPS.to_vec();
    steps.extend(["confirmation-notification-live", "notifications-caught-up-after-reconnect"]);
    assert_steps(&report, &steps);
}
