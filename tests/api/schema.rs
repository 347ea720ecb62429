//! `schema.graphql` is the generated SDL, and the contract's operations that
//! exist so far validate against the schema.

use std::path::Path;

/// The contract operations this build serves, verbatim from `contract/operations.graphql`.
const CONTRACT_OPERATIONS: [&str; 19] = [
    crate::helpers::START_SESSION,
    crate::helpers::CURRENT_SESSION,
    crate::helpers::END_SESSION,
    crate::helpers::SERVICE_STATUS,
    crate::helpers::ON_SERVICE_STATUS,
    crate::chat::SEND_MESSAGE,
    crate::chat::RESET_CONVERSATION,
    crate::booking::PRICE_OFFER,
    crate::booking::CREATE_BOOKING,
    crate::booking::PAY_FOR_BOOKING,
    crate::booking::CREATE_PAYMENT_LINK,
    crate::booking::CANCEL_BOOKING,
    crate::booking::BOOKING,
    crate::booking::MY_BOOKINGS,
    crate::notifications::NOTIFICATIONS,
    crate::notifications::MARK_NOTIFICATIONS_READ,
    crate::notifications::UPDATE_NOTIFICATION_PREFERENCES,
    crate::notifications::ON_NOTIFICATION,
    crate::notifications::ON_BOOKING_STATUS,
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
    for operation in CONTRACT_OPERATIONS.iter().chain(&CONTRACT_FRAGMENTS) {
        assert!(text.contains(operation), "operation drifted from the contract:\n{operation}");
    }
}

/// The contract's fragments the operations above use, verbatim.
const CONTRACT_FRAGMENTS: [&str; 2] = [crate::booking::OFFER_CARD, crate::booking::BOOKING_DETAIL];

/// Well-typed variables for an operation, so validation reaches the resolvers.
fn variables_for(operation: &str) -> serde_json::Value {
    use serde_json::json;
    if operation.contains("CreateBookingInput") {
        let traveler = json!({ "firstName": "Ana", "lastName": "Silva", "dateOfBirth": "1990-01-01" });
        return json!({ "input": { "offerId": "x", "travelers": [traveler], "contact": { "email": "a@b.co" } } });
    }
    if operation.contains("PayForBookingInput") {
        return json!({ "input": { "bookingId": "x", "paymentMethod": "pm_card_visa", "idempotencyKey": "12345678" } });
    }
    if operation.contains("NotificationPreferencesInput") {
        return json!({ "input": { "email": true } });
    }
    json!({ "offerId": "x", "id": "x", "bookingId": "x", "text": "hola", "upTo": "x", "first": 5 })
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
        let (_, body) = app.graphql(&crate::booking::document(operation), variables_for(operation), None).await;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        for error in errors {
            assert!(!error["path"].is_null() && error["path"].is_array(), "a document error for {operation}: {error}");
        }
    }
    app.stop().await;
}
