//! The npm `graphql-http` server audit against the running server: every
//! MUST, SHOULD and MAY it checks passes (0 errors, 0 warnings, 0 notices).

use std::path::Path;

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn the_graphql_http_audit_is_clean() {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/http-audit");
    assert!(
        tool.join("node_modules/graphql-http").exists(),
        "the audit is not installed: run `bash .ci/test`, or `npm ci` in tests/http-audit"
    );
    let app = TestApp::spawn(Backend::Memory).await;
    let output = tokio::process::Command::new("node")
        .arg(tool.join("audit.mjs"))
        .arg(app.url("/graphql"))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "audit failed to run: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["error"], 0, "{report:#}");
    assert_eq!(report["warn"], 0, "{report:#}");
    assert_eq!(report["notice"], 0, "{report:#}");
    assert!(report["ok"].as_u64().unwrap_or(0) >= 60, "{report:#}");
    app.stop().await;
}
