//! `schema.graphql` is the generated SDL, and the contract's operations that
//! exist so far validate against the schema.

use std::path::Path;

/// The contract operations this build serves, verbatim from `contract/operations.graphql`.
const CONTRACT_OPERATIONS: [&str; 7] = [
    crate::helpers::START_SESSION,
    crate::helpers::CURRENT_SESSION,
    crate::helpers::END_SESSION,
    crate::helpers::SERVICE_STATUS,
    crate::helpers::ON_SERVICE_STATUS,
    crate::chat::SEND_MESSAGE,
    crate::chat::RESET_CONVERSATION,
];

#[test]
fn schema_graphql_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let checked_in = std::fs::read_to_string(&path).expect("schema.graphql exists");
    let generated = wayfarer::graphql::sdl();
    assert!(
        checked_in == generated,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn contract_operations_are_quoted_verbatim() {
    // CI lays the shared contract beside the checkout; where it is present,
    // the copies here must not have drifted from it.
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/contract/operations.graphql");
    let Ok(text) = std::fs::read_to_string(&contract) else { return };
    for operation in CONTRACT_OPERATIONS {
        assert!(text.contains(operation), "operation drifted from the contract:\n{operation}");
    }
}

#[tokio::test]
async fn contract_operations_validate_against_the_schema() {
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Memory).await;
    for operation in CONTRACT_OPERATIONS {
        let document = async_graphql::parser::parse_query(operation).expect("parses");
        assert!(document.operations.iter().count() == 1);
        if operation.trim_start().starts_with("subscription") {
            continue;
        }
        // Operations that spread the contract's `OfferCard` are sent with it.
        let document = match operation.contains("...OfferCard") {
            true => {
                format!("{operation}\n\n{}", crate::flights::SEARCH_FLIGHTS.split("\n\nquery").next().unwrap_or(""))
            }
            false => operation.to_owned(),
        };
        let (_, body) = app.graphql(&document, serde_json::json!({}), None).await;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        for error in errors {
            assert!(!error["path"].is_null() && error["path"].is_array(), "a document error for {operation}: {error}");
        }
    }
    app.stop().await;
}
