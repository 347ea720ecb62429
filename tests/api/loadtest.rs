//! `wayfarer loadtest --smoke`: every scenario runs end to end against a
//! server it starts, so the tool keeps working. Figures are not asserted
//! (this machine is shared); the counts the scenarios report are.

use serde_json::Value;

#[tokio::test]
async fn every_scenario_runs_and_its_counts_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfarer"))
        .args(["loadtest", "--scenario", "all", "--smoke", "--json"])
        .arg(&json)
        .current_dir(dir.path())
        .output()
        .await
        .expect("run wayfarer loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "loadtest failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json report")).expect("valid json");
    let scenario = |name: &str| {
        report["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["scenario"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} report in {report}"))
    };
    for name in ["old-table", "fan-out", "hot-path", "journey", "subscriptions", "dataloader"] {
        assert!(stdout.contains("## "), "tables printed");
        scenario(name);
    }

    let old = scenario("old-table");
    let modes = old["data"]["modes"].as_array().expect("modes");
    assert_eq!(modes.len(), 2, "the toggle off and on");
    for mode in modes {
        assert!(mode["throughput"]["requests"].as_u64().expect("requests") > 0);
        assert_eq!(mode["throughput"]["errors"], serde_json::json!({}), "{mode}");
    }

    // Two providers: every distinct search costs exactly two provider calls.
    for round in scenario("fan-out")["data"]["rounds"].as_array().expect("rounds") {
        let n = round["n"].as_u64().expect("n");
        assert_eq!(round["providerSearchCalls"], 2 * n, "{round}");
        assert_eq!(round["latency"]["ok"], n, "{round}");
        assert!(round["serverCpuMsPerSearch"].as_f64().is_some(), "CPU read from /proc: {round}");
    }

    let hot = scenario("hot-path");
    for row in ["{ __typename }", "searchFlights, cached (20 offers)", "sendMessage, no search", "session"] {
        let summary = &hot["data"][row];
        assert!(summary["requests"].as_u64().expect("requests") > 0, "{row}: {summary}");
        assert_eq!(summary["errors"], serde_json::json!({}), "{row}: {summary}");
    }
    assert!(hot["data"]["bare axum handler (no GraphQL)"]["requests"].as_u64().expect("bare ran") > 0);
    assert!(hot["notes"][0].as_str().expect("note").contains("provider search calls during the closed loops: 0"));

    let journey = &scenario("journey")["data"]["levels"][0];
    assert!(journey["journeys"]["ok"].as_u64().expect("ok") > 0, "{journey}");
    assert_eq!(journey["journeys"]["errors"], serde_json::json!({}), "{journey}");

    let subscriptions = &scenario("subscriptions")["data"]["levels"][0];
    assert_eq!(subscriptions["connectErrors"], 0, "{subscriptions}");
    assert!(subscriptions["notificationsPublished"].as_u64().expect("published") > 0);
    assert_eq!(subscriptions["delivered"], subscriptions["deliveriesExpected"], "{subscriptions}");

    // The request's search loader: the same search under K aliases is one
    // search; K distinct ones are K; K requests in turn (cache off) are K.
    for row in scenario("dataloader")["data"]["rows"].as_array().expect("rows") {
        let k = row["k"].as_u64().expect("k");
        assert_eq!(row["sameSearchAliased"]["providerCalls"], 2, "{row}");
        assert_eq!(row["distinctAliased"]["providerCalls"], 2 * k, "{row}");
        assert_eq!(row["unbatched"]["providerCalls"], 2 * k, "{row}");
    }
}
