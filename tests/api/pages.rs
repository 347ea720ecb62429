//! The pages and their files as the server sends them: built into the
//! binary, under a same-origin Content-Security-Policy, revalidated by ETag,
//! and referring to nothing outside this origin. The playground's copy of
//! the contract's operations has not drifted from the contract.

use std::path::Path;

use crate::helpers::{Backend, TestApp};

const NOT_BUILT: &str = "the pages are not built into this test binary: install Node 20 and npm and rebuild \
    (build.rs runs npm in playground/), or run `npm ci && npm run build` in playground/";

#[test]
fn the_playgrounds_contract_copy_is_the_contract() {
    // CI lays the shared contract beside the checkout; where it is present,
    // the copy the pages are built from must be the same text.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(contract) = std::fs::read_to_string(root.join("../shared/contract/operations.graphql")) else { return };
    let copy = std::fs::read_to_string(root.join("playground/src/operations.graphql")).expect("the copy exists");
    assert!(copy == contract, "playground/src/operations.graphql drifted: copy contract/operations.graphql over it");
}

#[tokio::test]
async fn the_pages_are_served_from_the_binary_under_a_same_origin_policy() {
    let app = TestApp::spawn(Backend::Memory).await;
    for (path, script, inline_styles) in [("/", "/assets/chat.js", false), ("/playground", "/assets/graphiql.js", true)]
    {
        let response = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let policy = headers["content-security-policy"].to_str().expect("ascii").to_owned();
        let body = response.text().await.expect("body");
        assert!(!body.contains("not built into this server"), "{NOT_BUILT}");
        assert!(body.contains(&format!("src=\"{script}\"")), "{path} does not load {script}:\n{body}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        for directive in ["default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {directive} missing from {policy}");
        }
        assert!(!policy.contains("unsafe-eval") && !policy.contains("script-src 'self' 'unsafe-inline'"), "{policy}");
        assert_eq!(policy.contains("style-src 'self' 'unsafe-inline'"), inline_styles, "{path}: {policy}");
        // Every file the page names is served from here; no URL leaves the origin.
        for reference in body.split(['"', '\'']).filter(|s| s.starts_with("/assets/")) {
            let file = app.http.get(app.url(reference)).send().await.expect("sent");
            assert_eq!(file.status(), 200, "{reference}");
        }
        assert!(!body.contains("http://") && !body.contains("https://"), "{path} names another origin:\n{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn assets_carry_their_type_and_are_revalidated_by_etag() {
    let app = TestApp::spawn(Backend::Memory).await;
    let first = app.http.get(app.url("/assets/chat.js")).send().await.expect("sent");
    assert_eq!(first.status(), 200, "{NOT_BUILT}");
    assert_eq!(first.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
    let length = first.bytes().await.expect("body").len();
    assert!(length > 1000, "chat.js is {length} bytes");

    let again = app.http.get(app.url("/assets/chat.js")).header("if-none-match", &etag).send().await.expect("sent");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
    let stale =
        app.http.get(app.url("/assets/chat.js")).header("if-none-match", "\"other\"").send().await.expect("sent");
    assert_eq!(stale.status(), 200);

    for (path, kind) in [
        ("/assets/graphiql.css", "text/css; charset=utf-8"),
        ("/assets/graphql.worker.js", "text/javascript; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let response = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!((response.status().as_u16(), response.headers()["content-type"].to_str().ok()), (200, Some(kind)));
    }
    for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/assets/BUILT", "/assets/"] {
        let response = app.http.get(app.url(missing)).send().await.expect("sent");
        assert_eq!(response.status(), 404, "{missing}");
    }
    app.stop().await;
}
