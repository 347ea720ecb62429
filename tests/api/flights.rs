//! Flight search end to end against the bundled sandbox, proved by counting
//! the sandbox's calls — never by timing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// The contract's `SearchFlights` with its `OfferCard` fragment, verbatim.
pub(crate) const SEARCH_FLIGHTS: &str = "fragment OfferCard on FlightOffer {
  id
  provider
  price { amount currency }
  labels
  seatsAvailable
  expiresAt
  itineraries {
    duration
    segments {
      flightNumber
      carrier { code name }
      departure { at terminal airport { code name cityName countryCode timeZone } }
      arrival { at terminal airport { code name cityName countryCode timeZone } }
      duration
      aircraft
    }
  }
}

query SearchFlights($input: FlightSearchInput!) {
  searchFlights(input: $input) {
    offers { ...OfferCard }
    providers { name status offerCount latencyMs error }
    totalCount
  }
}";

/// The contract's `FlightOffer` (the fragment is sent with it).
const FLIGHT_OFFER: &str = "query FlightOffer($id: ID!) {
  flightOffer(id: $id) { ...OfferCard }
}";

/// The contract's `Places`.
pub(crate) const PLACES: &str = "query Places($query: String!, $first: Int) {
  places(query: $query, first: $first) { code kind name cityName countryCode }
}";

fn in_days(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

fn input(origin: &str, destination: &str, days: i64) -> Value {
    json!({ "origin": origin, "destination": destination, "departureDate": in_days(days) })
}

async fn sandbox(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", app.state.sandbox_url().expect("the default run has a sandbox"));
    let mut request = app.http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sandbox answers");
    assert!(response.status().is_success(), "sandbox control {path}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

async fn calls(app: &TestApp) -> Value {
    sandbox(app, reqwest::Method::GET, "/_sandbox/calls", None).await
}

pub(crate) async fn searches(app: &TestApp) -> (u64, u64) {
    let calls = calls(app).await;
    (calls["amadeus"]["search"].as_u64().unwrap_or(0), calls["duffel"]["search"].as_u64().unwrap_or(0))
}

async fn set_personality(app: &TestApp, name: &str, settings: Value) {
    sandbox(app, reqwest::Method::PUT, &format!("/_sandbox/personalities/{name}"), Some(settings)).await;
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn search_flights_fans_out_to_both_sandbox_providers() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let (status, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "NYC", 30) }), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let result = &body["data"]["searchFlights"];
    let providers: Vec<(&str, &str)> = result["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or(""), p["status"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(providers, [("amadeus", "OK"), ("duffel", "OK")]);
    let offers = result["offers"].as_array().expect("offers");
    assert!(!offers.is_empty() && offers.len() <= 20, "{}", offers.len());
    assert!(result["totalCount"].as_u64().unwrap_or(0) >= offers.len() as u64);
    assert!(offers.iter().any(|o| o["provider"] == "amadeus") && offers.iter().any(|o| o["provider"] == "duffel"));
    let first = &offers[0];
    assert!(first["labels"].as_array().expect("labels").contains(&json!("CHEAPEST")), "sorted by price: {first}");
    let amount: f64 = first["price"]["amount"].as_str().expect("decimal string").parse().expect("number");
    assert!(amount > 0.0);
    let segment = &first["itineraries"][0]["segments"][0];
    assert!(["LIS"].contains(&segment["departure"]["airport"]["code"].as_str().unwrap_or("")), "{segment}");
    assert_eq!(segment["departure"]["airport"]["timeZone"], "Europe/Lisbon");
    let at = segment["departure"]["at"].as_str().expect("at");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "RFC 3339 with offset: {at}");
    assert!(first["itineraries"][0]["duration"].as_str().unwrap_or("").starts_with("PT"));
    let prices: Vec<f64> =
        offers.iter().filter_map(|o| o["price"]["amount"].as_str().and_then(|a| a.parse().ok())).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "cheapest first: {prices:?}");

    // The offer is retrievable by id afterwards.
    let id = first["id"].as_str().expect("id");
    let fragment = SEARCH_FLIGHTS.split("\n\nquery").next().unwrap_or("");
    let (_, got) = app.graphql(&format!("{fragment}\n\n{FLIGHT_OFFER}"), json!({ "id": id }), Some(&token)).await;
    assert_eq!(got["data"]["flightOffer"]["id"], id, "{got}");
    let (_, missing) =
        app.graphql(&format!("{fragment}\n\n{FLIGHT_OFFER}"), json!({ "id": "amadeus_nope" }), Some(&token)).await;
    assert_eq!(codes(&missing), ["NOT_FOUND"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_search_input_is_refused_without_calling_any_provider() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let before = searches(&app).await;
    let cases = [
        (json!({ "origin": "XQX", "destination": "MAD", "departureDate": in_days(10) }), "input.origin"),
        (json!({ "origin": "LIS", "destination": "LIS", "departureDate": in_days(10) }), "input.destination"),
        (json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(-1) }), "input.departureDate"),
        (
            json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "returnDate": in_days(9) }),
            "input.returnDate",
        ),
        (json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "adults": 0 }), "input.adults"),
        (
            json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "adults": 5, "children": 5 }),
            "input.children",
        ),
        (
            json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "adults": 1, "infants": 2 }),
            "input.infants",
        ),
        (json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "first": 101 }), "input.first"),
        (
            json!({ "origin": "LIS", "destination": "MAD", "departureDate": in_days(10), "maxPrice": "-1" }),
            "input.maxPrice",
        ),
    ];
    for (bad, field) in cases {
        let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": bad }), Some(&token)).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{field}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": { "origin": "LIS" } }), Some(&token)).await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "a missing field fails validation: {body}");
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "MAD", 10) }), None).await;
    assert_eq!(codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(searches(&app).await, before, "no provider was called");
    app.stop().await;
}

#[tokio::test]
async fn aliased_searches_cost_one_call_per_distinct_input() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.features.caching = false).await;
    let token = app.start_session().await;
    let before = searches(&app).await;
    let query = "query Many($a: FlightSearchInput!, $b: FlightSearchInput!) {
      a1: searchFlights(input: $a) { totalCount }
      a2: searchFlights(input: $a) { totalCount }
      b1: searchFlights(input: $b) { totalCount }
      a3: searchFlights(input: $a) { totalCount }
      b2: searchFlights(input: $b) { totalCount }
    }";
    let vars = json!({ "a": input("LIS", "MAD", 20), "b": input("LIS", "PAR", 20) });
    let (_, body) = app.graphql(query, vars, Some(&token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["a1"], body["data"]["a3"]);
    let after = searches(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 2), "two distinct inputs, two calls per provider");
    app.stop().await;
}

#[tokio::test]
async fn a_hundred_concurrent_identical_searches_make_one_call_per_provider() {
    // Single-flight shares the call among those that overlap it and the cache
    // serves any that arrive after: one call either way, however the machine
    // schedules the hundred requests. (The unit test isolates single-flight.)
    let app = TestApp::spawn(Backend::Memory).await;
    for name in ["amadeus", "duffel"] {
        set_personality(&app, name, json!({ "latencyMs": 300 })).await;
    }
    let tokens: Vec<String> = futures_util::future::join_all((0..10).map(|_| app.start_session())).await;
    let before = searches(&app).await;
    let vars = json!({ "input": input("LIS", "LON", 40) });
    let bodies = futures_util::future::join_all(
        (0..100).map(|i| app.graphql(SEARCH_FLIGHTS, vars.clone(), Some(&tokens[i % tokens.len()]))),
    )
    .await;
    assert!(bodies.iter().all(|(_, b)| b.get("errors").is_none()), "{:?}", bodies.first());
    let after = searches(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn one_provider_down_gives_partial_results_and_an_error_naming_it() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    set_personality(&app, "duffel", json!({ "outage": true })).await;
    let (status, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "MAD", 12) }), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["PROVIDER_UNAVAILABLE"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "duffel");
    assert_eq!(body["errors"][0]["path"], json!(["searchFlights"]));
    let result = &body["data"]["searchFlights"];
    assert!(result["offers"].as_array().is_some_and(|o| !o.is_empty()), "amadeus offers intact: {body}");
    assert!(result["offers"].as_array().is_some_and(|o| o.iter().all(|o| o["provider"] == "amadeus")));
    let duffel = result["providers"].as_array().and_then(|p| p.iter().find(|p| p["name"] == "duffel")).cloned();
    assert_eq!(duffel.map(|d| d["status"].clone()), Some(json!("ERROR")));
    app.stop().await;
}

#[tokio::test]
async fn a_slow_provider_times_out_and_the_other_answers() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.providers.search_timeout = Duration::from_millis(400)).await;
    let token = app.start_session().await;
    set_personality(&app, "amadeus", json!({ "latencyMs": 3000 })).await;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("MAD", "ROM", 15) }), Some(&token)).await;
    assert_eq!(codes(&body), ["PROVIDER_TIMEOUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "amadeus");
    let offers = body["data"]["searchFlights"]["offers"].as_array().cloned().unwrap_or_default();
    assert!(!offers.is_empty() && offers.iter().all(|o| o["provider"] == "duffel"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_circuit_opens_skips_then_closes_after_a_good_probe() {
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.features.caching = false;
        s.providers.breaker_failures = 2;
        s.providers.breaker_cool_down = Duration::from_secs(2);
    })
    .await;
    let token = app.start_session().await;
    set_personality(&app, "duffel", json!({ "outage": true })).await;
    let status_of = |body: &Value| {
        body["data"]["searchFlights"]["providers"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "duffel"))
            .map(|p| p["status"].as_str().unwrap_or("").to_owned())
    };
    for day in 0..2 {
        let (_, body) =
            app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "BCN", 20 + day) }), Some(&token)).await;
        assert_eq!(status_of(&body).as_deref(), Some("ERROR"), "{body}");
    }
    let before = searches(&app).await.1;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "BCN", 25) }), Some(&token)).await;
    assert_eq!(status_of(&body).as_deref(), Some("SKIPPED"), "{body}");
    assert_eq!(searches(&app).await.1, before, "an open circuit sends nothing");

    set_personality(&app, "duffel", json!({ "outage": false })).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "BCN", 26) }), Some(&token)).await;
    assert_eq!(status_of(&body).as_deref(), Some("OK"), "the half-open probe succeeded: {body}");
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "BCN", 27) }), Some(&token)).await;
    assert_eq!(status_of(&body).as_deref(), Some("OK"), "closed again: {body}");
    app.stop().await;
}

#[tokio::test]
async fn places_autocomplete_over_the_dataset() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let (_, body) = app.graphql(PLACES, json!({ "query": "Londres", "first": 3 }), Some(&token)).await;
    let first = &body["data"]["places"][0];
    assert_eq!((first["code"].as_str(), first["kind"].as_str()), (Some("LON"), Some("CITY")), "{body}");
    let (_, body) = app.graphql(PLACES, json!({ "query": "münch" }), Some(&token)).await;
    assert_eq!(body["data"]["places"][0]["code"], "MUC", "{body}");
    let (_, body) = app.graphql(PLACES, json!({ "query": "", "first": 3 }), Some(&token)).await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
    let (_, body) = app.graphql(PLACES, json!({ "query": "par", "first": 500 }), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");
    app.stop().await;
}

/// The Amadeus adapter alone against a sandbox of its own, so the count
/// depends on the token logic only.
#[tokio::test]
async fn fifty_concurrent_searches_with_an_expiring_token_fetch_one_token() {
    use crate::provider_orders::{Sandbox, search};

    let sandbox = Sandbox::start().await;
    sandbox.set("amadeus", json!({ "tokenExpiresIn": 2 })).await;
    let provider = sandbox.provider("amadeus");
    provider.search(&search(0)).await.expect("first search fetches a token");
    assert_eq!(sandbox.calls("amadeus", "token").await, 1);
    // The next token lives long, so however slow the burst, one refresh serves it.
    sandbox.set("amadeus", json!({ "tokenExpiresIn": 1799 })).await;
    // The 2 s token is refreshed half a second early: at 1.7 s every caller needs a new one.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let results = futures_util::future::join_all((1..=50).map(|day| {
        let provider = &provider;
        async move { provider.search(&search(day)).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(sandbox.calls("amadeus", "token").await, 2, "fifty concurrent searches shared one refresh");
}

#[tokio::test]
async fn a_rate_limited_search_is_retried_to_success() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.features.caching = false).await;
    let token = app.start_session().await;
    let before = searches(&app).await.0;
    set_personality(&app, "amadeus", json!({ "rateLimitNext": 2 })).await;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "AMS", 33) }), Some(&token)).await;
    assert!(body.get("errors").is_none(), "retried past two 429s: {body}");
    let amadeus = body["data"]["searchFlights"]["providers"][0].clone();
    assert_eq!((amadeus["name"].as_str(), amadeus["status"].as_str()), (Some("amadeus"), Some("OK")));
    assert_eq!(searches(&app).await.0 - before, 3, "two 429s, then success");
    app.stop().await;
}

/// The contract's `CheapestDates`.
const CHEAPEST_DATES: &str = "query CheapestDates($input: CheapestDatesInput!) {
  cheapestDates(input: $input) { date price { amount currency } offerId }
}";

#[tokio::test]
async fn cheapest_dates_search_each_day_once_through_the_cache() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let before = searches(&app).await;
    let range = json!({ "input": { "origin": "LIS", "destination": "PAR", "from": in_days(50), "to": in_days(56) } });
    let (_, body) = app.graphql(CHEAPEST_DATES, range.clone(), Some(&token)).await;
    let days = body["data"]["cheapestDates"].as_array().cloned().unwrap_or_default();
    assert_eq!(days.len(), 7, "{body}");
    assert_eq!(days[0]["date"], in_days(50));
    assert!(days.iter().all(|d| d["price"]["amount"].is_string() && d["offerId"].is_string()), "{body}");
    let after = searches(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (7, 7), "one call per day per provider");

    // Asked again, every day comes from the cache; a day searched directly too.
    let (_, again) = app.graphql(CHEAPEST_DATES, range, Some(&token)).await;
    assert_eq!(again["data"], body["data"]);
    let day = json!({ "input": input("LIS", "PAR", 53) });
    let (_, search) = app.graphql(SEARCH_FLIGHTS, day, Some(&token)).await;
    assert_eq!(search["data"]["searchFlights"]["offers"][0]["id"], days[3]["offerId"], "the cheapest of that day");
    assert_eq!(searches(&app).await, after, "nothing new was asked");

    for (bad, field) in [
        (json!({ "origin": "LIS", "destination": "PAR", "from": in_days(10), "to": in_days(42) }), "input.to"),
        (json!({ "origin": "LIS", "destination": "PAR", "from": in_days(10), "to": in_days(9) }), "input.to"),
        (json!({ "origin": "LIS", "destination": "PAR", "from": in_days(-2), "to": in_days(3) }), "input.from"),
    ] {
        let (_, body) = app.graphql(CHEAPEST_DATES, json!({ "input": bad }), Some(&token)).await;
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(searches(&app).await, after);
    app.stop().await;
}

/// The contract's `OnSearchProgress` (with the fragment).
fn on_search_progress() -> String {
    let fragment = SEARCH_FLIGHTS.split("\n\nquery").next().unwrap_or("");
    format!(
        "{fragment}\n\nsubscription OnSearchProgress($input: FlightSearchInput!) {{
  flightSearchProgress(input: $input) {{
    provider
    status
    offers {{ ...OfferCard }}
    done
  }}
}}"
    )
}

#[tokio::test]
async fn search_progress_streams_each_provider_then_done() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(json!({
        "id": "p", "type": "subscribe",
        "payload": { "query": on_search_progress(), "variables": { "input": input("LIS", "MUC", 44) } }
    }))
    .await;
    let mut providers = Vec::new();
    loop {
        let message = ws.next_json().await;
        assert_eq!(message["id"], "p", "{message}");
        if message["type"] == "complete" {
            break;
        }
        assert_eq!(message["type"], "next", "{message}");
        let step = &message["payload"]["data"]["flightSearchProgress"];
        if step["done"] == true {
            assert!(step["offers"].as_array().is_some_and(|o| !o.is_empty()), "merged offers at the end: {step}");
            assert!(step["provider"].is_null());
        } else {
            assert_eq!(step["status"], "OK", "{step}");
            providers.push(step["provider"].as_str().unwrap_or("").to_owned());
        }
    }
    providers.sort();
    assert_eq!(providers, ["amadeus", "duffel"]);
    // The answer was cached: a search for the same input asks nobody.
    let before = searches(&app).await;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "MUC", 44) }), Some(&token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(searches(&app).await, before);
    app.stop().await;
}

#[tokio::test]
async fn offers_are_fetched_by_id_in_one_batch_on_redis() {
    let app = TestApp::spawn(Backend::Redis).await;
    let token = app.start_session().await;
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("OPO", "LON", 18) }), Some(&token)).await;
    let ids: Vec<String> = body["data"]["searchFlights"]["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .take(2)
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2, "{body}");
    let query = format!(
        "{{ a: flightOffer(id: \"{}\") {{ id }} b: flightOffer(id: \"{}\") {{ id }} c: flightOffer(id: \"duffel_gone\") {{ id }} }}",
        ids[0], ids[1]
    );
    let (_, body) = app.graphql(&query, json!({}), Some(&token)).await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["c"]));
    assert_eq!(body["data"]["a"]["id"].as_str(), Some(ids[0].as_str()), "the others still resolve: {body}");
    let query =
        format!("{{ a: flightOffer(id: \"{}\") {{ id }} b: flightOffer(id: \"{}\") {{ id }} }}", ids[0], ids[1]);
    let (_, body) = app.graphql(&query, json!({}), Some(&token)).await;
    assert_eq!(
        (body["data"]["a"]["id"].as_str(), body["data"]["b"]["id"].as_str()),
        (Some(ids[0].as_str()), Some(ids[1].as_str()))
    );
    app.stop().await;
}

#[tokio::test]
async fn search_flights_works_over_websocket_too() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(json!({
        "id": "s", "type": "subscribe",
        "payload": { "query": SEARCH_FLIGHTS, "variables": { "input": input("LIS", "DUB", 19) } }
    }))
    .await;
    let next = ws.next_json().await;
    assert_eq!(next["type"], "next", "{next}");
    let result = &next["payload"]["data"]["searchFlights"];
    assert!(result["offers"].as_array().is_some_and(|o| !o.is_empty()), "{next}");
    assert_eq!(ws.next_json().await, json!({ "type": "complete", "id": "s" }));
    app.stop().await;
}

#[tokio::test]
async fn carriers_and_airports_the_dataset_knows_resolve_without_a_loader_batch() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let before = app.state.flights().reference_batches();
    let (_, body) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("NYC", "TYO", 27) }), Some(&token)).await;
    let segments: Vec<Value> = body["data"]["searchFlights"]["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .flat_map(|o| o["itineraries"].as_array().cloned().unwrap_or_default())
        .flat_map(|i| i["segments"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(segments.len() > 10, "many segments in this response: {}", segments.len());
    for segment in &segments {
        assert!(segment["carrier"]["name"].is_string(), "every sandbox carrier is in the dataset: {segment}");
        assert!(segment["departure"]["airport"]["timeZone"].is_string(), "{segment}");
    }
    // The loader is for carriers the dataset lacks (one Airline Code Lookup
    // per response); none here, so no batch at all.
    assert_eq!(app.state.flights().reference_batches() - before, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_same_flights_from_two_providers_show_once_with_the_other_remembered() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let query = "query S($input: FlightSearchInput!) { searchFlights(input: $input) {
      offers { id provider price { amount } alternatives { provider offerId price { amount } } itineraries { segments { flightNumber departure { at } } } }
    } }";
    let (_, body) = app.graphql(query, json!({ "input": input("LIS", "NYC", 30) }), Some(&token)).await;
    let offers = body["data"]["searchFlights"]["offers"].as_array().cloned().unwrap_or_default();
    let journey = |o: &Value| o["itineraries"].to_string();
    let mut seen = std::collections::HashSet::new();
    assert!(offers.iter().all(|o| seen.insert(journey(o))), "no journey twice");
    let with_alternative = offers.iter().find(|o| o["alternatives"].as_array().is_some_and(|a| !a.is_empty()));
    let offer = with_alternative.expect("the providers overlap, so some journey is offered twice");
    let alternative = &offer["alternatives"][0];
    assert_ne!(alternative["provider"], offer["provider"]);
    let price = |v: &Value| v["price"]["amount"].as_str().and_then(|a| a.parse::<f64>().ok()).unwrap_or(f64::MAX);
    assert!(price(offer) <= price(alternative), "the cheaper one is shown: {offer}");
    app.stop().await;
}

#[tokio::test]
async fn the_other_flight_operations_work_over_websocket() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let (_, searched) = app.graphql(SEARCH_FLIGHTS, json!({ "input": input("LIS", "MAD", 22) }), Some(&token)).await;
    let id = searched["data"]["searchFlights"]["offers"][0]["id"].as_str().expect("id").to_owned();
    let fragment = SEARCH_FLIGHTS.split("\n\nquery").next().unwrap_or("");
    let operations = [
        (format!("{fragment}\n\n{FLIGHT_OFFER}"), json!({ "id": id }), "flightOffer"),
        (PLACES.to_owned(), json!({ "query": "Lisboa" }), "places"),
        (
            CHEAPEST_DATES.to_owned(),
            json!({ "input": { "origin": "LIS", "destination": "MAD", "from": in_days(22), "to": in_days(23) } }),
            "cheapestDates",
        ),
    ];
    let mut ws = app.websocket_acked(&token).await;
    for (i, (query, variables, field)) in operations.into_iter().enumerate() {
        let id = format!("op{i}");
        ws.send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
        let next = ws.next_json().await;
        assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some(id.as_str())), "{next}");
        assert!(next["payload"].get("errors").is_none(), "{field}: {next}");
        assert!(!next["payload"]["data"][field].is_null(), "{field}: {next}");
        assert_eq!(ws.next_json().await["type"], "complete");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_cached_page_is_kept_per_request_shape_and_each_shape_gets_its_own_fields() {
    // Batches on, to see a kept page written into one.
    let app = TestApp::spawn_with(Backend::Memory, |settings| settings.graphql.max_batch_size = 2).await;
    let token = app.start_session().await;
    let rendered = app.state.flights().rendered().clone();
    let vars = json!({ "input": input("LIS", "MAD", 24) });
    let (_, first) = app.graphql(SEARCH_FLIGHTS, vars.clone(), Some(&token)).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(rendered.len(), 1, "the written page is kept for this shape");
    let (_, again) = app.graphql(SEARCH_FLIGHTS, vars.clone(), Some(&token)).await;
    assert_eq!(again["data"]["searchFlights"]["offers"], first["data"]["searchFlights"]["offers"]);
    assert_eq!(rendered.len(), 1, "and reused");
    let (_, third) = app.graphql(SEARCH_FLIGHTS, vars.clone(), Some(&token)).await;
    assert_eq!(third["data"]["searchFlights"]["offers"], first["data"]["searchFlights"]["offers"]);
    assert_eq!(rendered.len(), 1, "the same shape reuses it");
    // A kept page is answered as JSON text spliced into the response: in a
    // batch and in a WebSocket message as in a single answer.
    let batch = json!([{ "query": SEARCH_FLIGHTS, "variables": vars }, { "query": SEARCH_FLIGHTS, "variables": vars }]);
    let response = app.http.post(app.url("/graphql")).bearer_auth(&token).json(&batch).send().await.expect("sent");
    let bodies: Value = response.json().await.expect("JSON");
    let bodies = bodies.as_array().expect("a batch answers a list");
    assert_eq!(bodies.len(), 2);
    for body in bodies {
        assert_eq!(body["data"]["searchFlights"]["offers"], first["data"]["searchFlights"]["offers"], "{body}");
    }
    let mut ws = app.websocket_acked(&token).await;
    ws.send_json(
        json!({ "id": "kept", "type": "subscribe", "payload": { "query": SEARCH_FLIGHTS, "variables": vars } }),
    )
    .await;
    let next = ws.next_json().await;
    assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some("kept")), "{next}");
    assert_eq!(next["payload"]["data"]["searchFlights"]["offers"], first["data"]["searchFlights"]["offers"]);
    assert_eq!(ws.next_json().await["type"], "complete");
    assert_eq!(rendered.len(), 1, "still the one kept page");

    // Another document over the same cached page: its own fields, aliases included.
    let slim = "query Slim($input: FlightSearchInput!) {
      searchFlights(input: $input) { offers { id cost: price { amount } } }
      again: searchFlights(input: $input) { offers { provider } }
    }";
    let (_, body) = app.graphql(slim, vars.clone(), Some(&token)).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(rendered.len(), 3, "one per offers field of each shape");
    let (_, repeated) = app.graphql(slim, vars.clone(), Some(&token)).await;
    assert_eq!(repeated, body);
    let offers = body["data"]["searchFlights"]["offers"].as_array().expect("offers");
    let full = first["data"]["searchFlights"]["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), full.len());
    for (slim, full) in offers.iter().zip(full) {
        assert_eq!(slim, &json!({ "id": full["id"], "cost": { "amount": full["price"]["amount"] } }));
    }
    let providers: Vec<&Value> = body["data"]["again"]["offers"].as_array().expect("offers").iter().collect();
    assert!(providers.iter().all(|o| o.as_object().map(|m| m.len()) == Some(1) && o["provider"].is_string()));
    assert_eq!(rendered.len(), 3, "one per offers field of each shape");

    // Other variables are another shape, resolved for themselves.
    let other = json!({ "input": { "origin": "LIS", "destination": "MAD", "departureDate": in_days(24), "first": 3 } });
    let (_, three) = app.graphql(SEARCH_FLIGHTS, other, Some(&token)).await;
    assert_eq!(three["data"]["searchFlights"]["offers"].as_array().map(Vec::len), Some(3.min(full.len())));
    assert_eq!(three["data"]["searchFlights"]["offers"][0]["id"], full[0]["id"]);
    app.stop().await;
}
