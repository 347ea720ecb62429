//! GraphQL over HTTP: the bad inputs the foundation must answer well, each
//! with its status, media type and `extensions.code`.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const GQL: &str = "application/graphql-response+json";

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    accept: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut request = app.http.post(app.url("/graphql")).header("accept", accept).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text:?}"));
    (status, media, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn malformed_requests_are_400_with_a_code_and_no_data() {
    let app = TestApp::spawn(Backend::Memory).await;
    let cases: [(&str, &str); 5] = [
        ("malformed JSON", r#"{"query": "#),
        ("no query", r#"{"variables": {}}"#),
        ("query not a string", r#"{"query": 42}"#),
        ("variables not an object", r#"{"query": "{ __typename }", "variables": "x"}"#),
        ("not an object", r#""just a string""#),
    ];
    for (what, body) in cases {
        for accept in [GQL, "application/json"] {
            let (status, media, json) = post_raw(&app, Some("application/json"), accept, body).await;
            assert_eq!(status, 400, "{what} ({accept}): {json}");
            assert!(media.starts_with(accept), "{what}: answered as {media}");
            assert_eq!(code(&json), "BAD_USER_INPUT", "{what}: {json}");
            assert!(json.get("data").is_none(), "{what}: {json}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn document_errors_are_400_under_graphql_response_json_and_200_under_json() {
    let app = TestApp::spawn(Backend::Memory).await;
    for (what, query) in [("syntax error", "{ session { id "), ("unknown field", "{ sesion { id } }")] {
        let body = json!({ "query": query }).to_string();
        let (status, _, json) = post_raw(&app, Some("application/json"), GQL, body.clone()).await;
        assert_eq!(status, 400, "{what}: {json}");
        assert_eq!(code(&json), "BAD_USER_INPUT", "{what}: {json}");
        assert!(json.get("data").is_none(), "{what}: no data key: {json}");
        let (status, _, json) = post_raw(&app, Some("application/json"), "application/json", body).await;
        assert_eq!(status, 200, "{what}: {json}");
        assert!(json.get("data").is_none(), "{what}: {json}");
        assert!(json["errors"][0]["locations"].is_array(), "{what}: {json}");
    }
    // Suggestions are on in the default run (introspection on)…
    let (_, _, json) =
        post_raw(&app, Some("application/json"), GQL, json!({ "query": "{ sesion { id } }" }).to_string()).await;
    assert!(json["errors"][0]["message"].as_str().unwrap_or("").contains("Did you mean"), "{json}");
    app.stop().await;

    // …and off, with introspection, when configured.
    let app = TestApp::spawn_with(Backend::Memory, |s| s.graphql.introspection = false).await;
    let (_, _, json) =
        post_raw(&app, Some("application/json"), GQL, json!({ "query": "{ sesion { id } }" }).to_string()).await;
    let message = json["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("Unknown field") && !message.contains("Did you mean"), "{json}");
    let (_, _, json) = post_raw(
        &app,
        Some("application/json"),
        GQL,
        json!({ "query": "{ __schema { types { name } } }" }).to_string(),
    )
    .await;
    assert!(json["data"]["__schema"].is_null(), "introspection is off: {json}");
    app.stop().await;
}

#[tokio::test]
async fn the_standard_introspection_query_passes_the_depth_limit() {
    // graphql-js's getIntrospectionQuery() shape: TypeRef nests `ofType`
    // seven times, 13 levels in all — what GraphiQL and codegen send.
    let app = TestApp::spawn(Backend::Memory).await;
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let query = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }} \
         types {{ kind name fields(includeDeprecated: true) {{ name args {{ name type {{ {type_ref} }} }} type {{ {type_ref} }} }} \
         inputFields {{ name type {{ {type_ref} }} }} interfaces {{ {type_ref} }} enumValues(includeDeprecated: true) {{ name }} \
         possibleTypes {{ {type_ref} }} }} directives {{ name locations args {{ name type {{ {type_ref} }} }} }} }} }}"
    );
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, json!({ "query": query }).to_string()).await;
    assert_eq!(status, 200, "{json}");
    assert!(json["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 20), "{json}");
    // Outside introspection the limit holds: eleven levels of real fields.
    let eleven = "{ bookings { offer { itineraries { segments { departure { airport { city { country { a { b { c } } } } } } } } } } }";
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, json!({ "query": eleven }).to_string()).await;
    assert_eq!((status, code(&json)), (400, "QUERY_TOO_COMPLEX"), "{json}");
    app.stop().await;
}

#[tokio::test]
async fn deep_wide_and_long_documents_are_query_too_complex() {
    let app = TestApp::spawn(Backend::Memory).await;
    let deep = "{ session { conversation { messages { role text } } } }";
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, json!({ "query": deep }).to_string()).await;
    assert_ne!(code(&json), "QUERY_TOO_COMPLEX", "a normal depth passes: {status} {json}");

    let fifty_deep = format!("query {{ {}id{} }}", "a { ".repeat(50), " }".repeat(50));
    let aliases: String = (0..500).map(|i| format!("a{i}: __typename ")).collect();
    let directives: String = "@include(if: true) ".repeat(60);
    let cases = [
        ("50 levels deep", fifty_deep),
        ("500 aliases", format!("{{ {aliases} }}")),
        ("1500 tokens", format!("{{ {} }}", "__typename ".repeat(1500))),
        ("60 directives", format!("{{ __typename {directives} }}")),
    ];
    for (what, query) in cases {
        let (status, _, json) =
            post_raw(&app, Some("application/json"), GQL, json!({ "query": query }).to_string()).await;
        assert_eq!(status, 400, "{what}: {json}");
        assert_eq!(code(&json), "QUERY_TOO_COMPLEX", "{what}: {json}");
        assert!(json.get("data").is_none(), "{what}: {json}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::spawn(Backend::Memory).await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = json!({ "query": "{ __typename }", "extensions": { "padding": padding } }).to_string();
    let (status, media, json) = post_raw(&app, Some("application/json"), GQL, body).await;
    assert_eq!(status, 413, "{json}");
    assert!(media.starts_with(GQL));
    assert_eq!(code(&json), "QUERY_TOO_COMPLEX");
    // Just under the limit is fine.
    let padding = "x".repeat(1024 * 1024 - 100);
    let body = json!({ "query": "{ __typename }", "extensions": { "padding": padding } }).to_string();
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, body).await;
    assert_eq!(status, 200, "{json}");
    app.stop().await;
}

#[tokio::test]
async fn simple_content_types_are_415_so_forms_cannot_forge_requests() {
    let app = TestApp::spawn(Backend::Memory).await;
    let body = json!({ "query": "mutation { startSession { token } }" }).to_string();
    for content_type in
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None]
    {
        let (status, _, json) = post_raw(&app, content_type, GQL, body.clone()).await;
        assert_eq!(status, 415, "{content_type:?}: {json}");
        assert_eq!(code(&json), "BAD_USER_INPUT");
        assert!(json.get("data").is_none());
    }
    let (status, _, _) = post_raw(&app, Some("application/json; charset=latin1"), GQL, body).await;
    assert_eq!(status, 415, "only UTF-8 JSON");
    app.stop().await;
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations_with_405() {
    let app = TestApp::spawn(Backend::Memory).await;
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { startSession { token } }")])
        .header("accept", GQL)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let json: Value = response.json().await.expect("json");
    assert_eq!(code(&json), "BAD_USER_INPUT");

    // A document holding a mutation but selecting its query runs.
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "query Q { __typename } mutation M { endSession }"), ("operationName", "Q")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.expect("json");
    assert_eq!(json["data"]["__typename"], "Query");
    app.stop().await;
}

#[tokio::test]
async fn batches_are_refused_by_default_and_capped_when_enabled() {
    let app = TestApp::spawn(Backend::Memory).await;
    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string();
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, batch.clone()).await;
    assert_eq!(status, 400, "{json}");
    app.stop().await;

    let app = TestApp::spawn_with(Backend::Memory, |s| s.graphql.max_batch_size = 2).await;
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, batch).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    let three = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }])
        .to_string();
    let (status, _, json) = post_raw(&app, Some("application/json"), GQL, three).await;
    assert_eq!((status, code(&json)), (400, "QUERY_TOO_COMPLEX"), "{json}");
    app.stop().await;
}

#[tokio::test]
async fn unacceptable_accept_is_406_and_other_methods_405() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (status, _, _) = post_raw(&app, Some("application/json"), "text/html", r#"{"query":"{ __typename }"}"#).await;
    assert_eq!(status, 406);
    let response = app.http.put(app.url("/graphql")).send().await.expect("sent");
    assert_eq!(response.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn a_subscription_over_http_is_refused_clearly() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let (status, body) = app.graphql("subscription { serviceStatus { status } }", json!({}), Some(&token)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT");
    app.stop().await;
}

#[tokio::test]
async fn responses_keep_field_order_and_carry_a_request_id() {
    let app = TestApp::spawn(Backend::Memory).await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("x-request-id", "trace-me-123")
        .json(&json!({ "query": "{ b: __typename a: __typename }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-me-123"));
    let text = response.text().await.expect("text");
    assert!(text.find("\"b\"") < text.find("\"a\""), "fields in request order: {text}");
    app.stop().await;
}

#[tokio::test]
async fn a_request_validated_before_skips_the_rules_and_any_other_request_is_validated_in_full() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let validated = || app.state.policy().validated().len();
    let query = "query P($q: String!, $n: Int) { places(query: $q, first: $n) { code } }";
    let (_, first) = app.graphql(query, json!({ "q": "lis", "n": 2 }), Some(&token)).await;
    assert!(first.get("errors").is_none(), "{first}");
    let known = validated();
    let (_, again) = app.graphql(query, json!({ "q": "lis", "n": 2 }), Some(&token)).await;
    assert_eq!(again, first, "the same request, the same answer");
    assert_eq!(validated(), known, "known already: nothing new to remember");

    // The same document with variables of the wrong type is another
    // request: validated in full, refused as the first such request is.
    for _ in 0..2 {
        let (status, wrong) = app.graphql(query, json!({ "q": "lis", "n": "two" }), Some(&token)).await;
        assert_eq!(status, 400, "a request error: {wrong}");
        assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{wrong}");
        assert!(wrong["data"].is_null(), "{wrong}");
    }
    // An unknown field in a document never validates, however often it is sent.
    for _ in 0..2 {
        let (_, unknown) = app.graphql("{ places(query: \"lis\") { nope } }", json!({}), Some(&token)).await;
        assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{unknown}");
    }
    assert_eq!(validated(), known, "refused requests are not remembered");

    // A resolver's own error (a path) still means the request validated.
    let (_, refused) = app.graphql(query, json!({ "q": "lis", "n": 99 }), Some(&token)).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(validated(), known + 1);
    let (_, refused_again) = app.graphql(query, json!({ "q": "lis", "n": 99 }), Some(&token)).await;
    assert_eq!(refused_again, refused);
    app.stop().await;
}
