//! The sandbox against the official Amadeus Python SDK (`amadeus==12.0.0`):
//! `tests/amadeus-sdk/check.py` authenticates, searches (GET and POST),
//! prices (with and without `?include=`), books, reads, cancels, looks up
//! airlines and locations, pages, and fails authentication, asserting every
//! answer as the SDK parses it. The SDK is stricter than our own reqwest
//! tests (exact Content-Type before it parses JSON, the literal
//! `page%5Boffset%5D=` in links), so this is what holds the sandbox to the
//! real wire format.
//!
//! The venv comes from `bash .ci/test`; without it this test fails rather
//! than skips, so a missing SDK can never pass for a compatible sandbox.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use wayfarer::sandbox::{SandboxConfig, serve};

/// Generous: the script makes about fifteen local calls, each under 10 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn official_amadeus_python_sdk_authenticates_searches_prices_and_books() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/amadeus-sdk");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/test` once (it creates the venv and installs tests/amadeus-sdk/requirements.txt)",
        python.display()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, SandboxConfig::default(), async move {
        let _ = stopped.await;
    }));

    let run = tokio::process::Command::new(&python)
        .arg(dir.join("check.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        // No proxy may sit between the SDK and 127.0.0.1, and the SDK must
        // not pick up credentials or a host from the developer's shell.
        .env("NO_PROXY", "*")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("AMADEUS_CLIENT_ID")
        .env_remove("AMADEUS_CLIENT_SECRET")
        .env_remove("AMADEUS_HOSTNAME")
        .env_remove("AMADEUS_HOST")
        .env_remove("AMADEUS_PORT")
        .env_remove("AMADEUS_SSL")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("check.py did not finish within {SCRIPT_TIMEOUT:?}"))
        .expect("start the venv's python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "check.py failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}", output.status);

    let summary: Value =
        stdout.lines().last().and_then(|line| serde_json::from_str(line).ok()).unwrap_or_else(|| {
            panic!("check.py printed no JSON summary line\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
        });
    assert_eq!(summary["ok"], true, "{summary}");
    // Shown with --nocapture: what the SDK got back (order id, PNR, prices).
    println!("amadeus SDK check: {summary}");

    // The sandbox saw exactly the calls the script made, so the SDK talked
    // to this sandbox and nothing else; and one token served the good
    // client's every call (the SDK refreshes only near expiry), plus the
    // bad-secret client's refused token call.
    let calls: Value =
        reqwest::get(format!("http://{addr}/_sandbox/calls")).await.expect("calls").json().await.expect("calls json");
    assert_eq!(
        calls["amadeus"],
        json!({
            "token": 2,
            "search": 2,
            "price": 2,
            "orderCreate": 1,
            "orderGet": 2,
            "orderConfirm": 0,
            "orderCancel": 1,
            "airlines": 1,
            "locations": 4
        }),
        "summary: {summary}"
    );

    let _ = stop.send(());
    server.await.expect("sandbox task").expect("sandbox serve");
}
