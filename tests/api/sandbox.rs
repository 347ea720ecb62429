//! The provider sandbox over real HTTP: each test starts its own sandbox on
//! port 0 through `wayfarer::sandbox::serve` and speaks the Amadeus and
//! Duffel wire formats to it with reqwest, as the provider adapters will.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use wayfarer::sandbox::{SandboxConfig, serve};

const AMADEUS_JSON: &str = "application/vnd.amadeus+json";

struct Sandbox {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Sandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, SandboxConfig::default(), async move {
        let _ = stopped.await;
    }));
    Sandbox { base: format!("http://{addr}"), http: reqwest::Client::new(), _stop: stop }
}

/// A departure date comfortably ahead of today.
fn day(ahead: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(ahead)).format("%Y-%m-%d").to_string()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

impl Sandbox {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token(&self) -> String {
        let response = self
            .http
            .post(self.url("/v1/security/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "sandbox-client"),
                ("client_secret", "sandbox-secret"),
            ])
            .send()
            .await
            .expect("token call");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    async fn amadeus_get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.expect("GET")
    }

    async fn amadeus_post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", AMADEUS_JSON)
            .header("x-http-method-override", "GET")
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .expect("POST")
    }

    async fn duffel(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth("duffel_test_sandbox")
            .header("duffel-version", "v2")
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("Duffel call")
    }

    async fn control(&self, name: &str, settings: Value) -> Value {
        let response = self
            .http
            .put(self.url(&format!("/_sandbox/personalities/{name}")))
            .json(&settings)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("settings json")
    }

    async fn calls(&self) -> Value {
        self.http.get(self.url("/_sandbox/calls")).send().await.expect("calls").json().await.expect("calls json")
    }

    async fn search(&self, token: &str, query: &str) -> Value {
        let response = self.amadeus_get(token, &format!("/v2/shopping/flight-offers?{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("search json")
    }
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap_or_else(|| panic!("money is a string: {value}")).parse().expect("decimal")
}

#[tokio::test]
async fn amadeus_tokens_are_issued_checked_and_really_expire() {
    let sandbox = start().await;
    let token_url = sandbox.url("/v1/security/oauth2/token");

    let bad_grant = sandbox.http.post(&token_url).form(&[("grant_type", "password")]).send().await.expect("call");
    assert_eq!(bad_grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_type(&bad_grant), "application/json");
    let body: Value = bad_grant.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
    assert_eq!(body["code"], 38187);

    let bad_secret = sandbox
        .http
        .post(&token_url)
        .form(&[("grant_type", "client_credentials"), ("client_id", "sandbox-client"), ("client_secret", "nope")])
        .send()
        .await
        .expect("call");
    assert_eq!(bad_secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad_secret.json::<Value>().await.expect("json")["error"], "invalid_client");

    let good = sandbox
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
        ])
        .send()
        .await
        .expect("call");
    assert_eq!(content_type(&good), "application/json");
    let body: Value = good.json().await.expect("json");
    assert_eq!(body["type"], "amadeusOAuth2Token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["expires_in"], 1799);
    let token = body["access_token"].as_str().expect("token").to_owned();

    let path = "/v1/reference-data/airlines?airlineCodes=BA";
    let ok = sandbox.amadeus_get(&token, path).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let missing = sandbox.http.get(sandbox.url(path)).send().await.expect("call");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(content_type(&missing), AMADEUS_JSON);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "38191", "string-typed, as in the docs");

    let unknown = sandbox.amadeus_get("not-a-token", path).await;
    assert_eq!(unknown.json::<Value>().await.expect("json")["errors"][0]["code"], 38190);

    sandbox.control("amadeus", json!({ "tokenExpiresIn": 0 })).await;
    let short = sandbox.token().await;
    let expired = sandbox.amadeus_get(&short, path).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json::<Value>().await.expect("json")["errors"][0]["code"], 38192);
    // The first token keeps its own 1799 s lifetime.
    assert_eq!(sandbox.amadeus_get(&token, path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn amadeus_search_is_deterministic_and_wire_shaped() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let query = format!(
        "originLocationCode=LIS&destinationLocationCode=FRA&departureDate={}&adults=2&children=1&max=30",
        day(40)
    );
    let path = format!("/v2/shopping/flight-offers?{query}");
    let first = sandbox.amadeus_get(&token, &path).await;
    assert_eq!(content_type(&first), AMADEUS_JSON, "exact, no charset");
    let first = first.bytes().await.expect("bytes");
    let second = sandbox.amadeus_get(&token, &path).await.bytes().await.expect("bytes");
    assert_eq!(first, second, "same search, same bytes");

    let body: Value = serde_json::from_slice(&first).expect("json");
    let offers = body["data"].as_array().expect("data");
    assert!(!offers.is_empty() && offers.len() <= 30);
    assert_eq!(body["meta"]["count"], offers.len());
    assert!(body["meta"]["links"]["self"].as_str().is_some_and(|s| s.contains("originLocationCode=LIS")));
    let dictionaries = &body["dictionaries"];
    let mut carriers = BTreeSet::new();
    for offer in offers {
        assert_eq!(offer["type"], "flight-offer");
        let price = &offer["price"];
        assert_eq!(decimal(&price["grandTotal"]), decimal(&price["total"]));
        assert!(decimal(&price["total"]) > decimal(&price["base"]));
        let travelers = offer["travelerPricings"].as_array().expect("travelerPricings");
        assert_eq!(travelers.len(), 3);
        let sum: Decimal = travelers.iter().map(|t| decimal(&t["price"]["total"])).sum();
        assert_eq!(sum, decimal(&price["total"]), "traveller prices add up");
        let seats = offer["numberOfBookableSeats"].as_u64().expect("seats");
        assert!((3..=9).contains(&seats));
        for itinerary in offer["itineraries"].as_array().expect("itineraries") {
            assert!(itinerary["duration"].as_str().is_some_and(|d| d.starts_with("PT") && !d.contains("PT0")));
            for segment in itinerary["segments"].as_array().expect("segments") {
                let at = segment["departure"]["at"].as_str().expect("at");
                assert_eq!(at.len(), 19, "local time without offset: {at}");
                chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S").expect("local datetime");
                let carrier = segment["carrierCode"].as_str().expect("carrier");
                carriers.insert(carrier.to_owned());
                assert!(dictionaries["carriers"][carrier].is_string(), "{carrier} in dictionaries");
                assert!(dictionaries["aircraft"][segment["aircraft"]["code"].as_str().expect("aircraft")].is_string());
                for end in ["departure", "arrival"] {
                    let code = segment[end]["iataCode"].as_str().expect("iata");
                    assert!(dictionaries["locations"][code]["cityCode"].is_string(), "{code} in dictionaries");
                }
                assert!(segment["number"].is_string());
            }
        }
    }
    assert_eq!(dictionaries["currencies"]["EUR"], "EURO");
    assert!(carriers.contains("TP"), "{carriers:?}");

    // POST with either media type, with or without the override header, finds the same offers.
    let post = json!({
        "currencyCode": "EUR",
        "originDestinations": [{ "id": "1", "originLocationCode": "LIS", "destinationLocationCode": "FRA",
                                 "departureDateTimeRange": { "date": day(40) } }],
        "travelers": [{ "id": "1", "travelerType": "ADULT" }, { "id": "2", "travelerType": "ADULT" },
                      { "id": "3", "travelerType": "CHILD" }],
        "sources": ["GDS"],
        "searchCriteria": { "maxFlightOffers": 30 }
    });
    let vnd = sandbox.amadeus_post(&token, "/v2/shopping/flight-offers", &post).await;
    assert_eq!(vnd.status(), StatusCode::OK);
    assert_eq!(content_type(&vnd), AMADEUS_JSON);
    let vnd: Value = vnd.json().await.expect("json");
    assert_eq!(vnd["data"], body["data"]);
    assert!(vnd["meta"].get("links").is_none(), "POST meta has no links");
    let plain = sandbox
        .http
        .post(sandbox.url("/v2/shopping/flight-offers"))
        .bearer_auth(&token)
        .json(&post)
        .send()
        .await
        .expect("POST");
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.json::<Value>().await.expect("json")["data"], body["data"]);
}

#[tokio::test]
async fn city_codes_expand_and_unknown_codes_are_400_in_each_format() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let body = sandbox
        .search(
            &token,
            &format!("originLocationCode=NYC&destinationLocationCode=LON&departureDate={}&adults=1", day(30)),
        )
        .await;
    let origins: BTreeSet<String> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|o| o["itineraries"][0]["segments"][0]["departure"]["iataCode"].as_str().map(str::to_owned))
        .collect();
    assert!(origins.len() >= 2, "{origins:?}");
    assert!(origins.iter().all(|o| ["JFK", "EWR", "LGA"].contains(&o.as_str())), "{origins:?}");

    let unknown = sandbox
        .amadeus_get(
            &token,
            &format!("/v2/shopping/flight-offers?originLocationCode=QQQ&destinationLocationCode=LON&departureDate={}&adults=1", day(30)),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_type(&unknown), AMADEUS_JSON);
    let error = &unknown.json::<Value>().await.expect("json")["errors"][0];
    assert_eq!(error["status"], 400);
    assert_eq!(error["source"]["parameter"], "originLocationCode");

    let malformed = sandbox.amadeus_get(&token, "/v2/shopping/flight-offers?originLocationCode=lis").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let past = sandbox
        .amadeus_get(&token, "/v2/shopping/flight-offers?originLocationCode=LIS&destinationLocationCode=MAD&departureDate=2020-01-01&adults=1")
        .await;
    assert_eq!(past.json::<Value>().await.expect("json")["errors"][0]["code"], 425);

    let duffel = sandbox
        .duffel(
            reqwest::Method::POST,
            "/air/offer_requests?return_offers=true",
            Some(json!({ "data": { "slices": [{ "origin": "QQQ", "destination": "LHR", "departure_date": day(30) }],
                                   "passengers": [{ "type": "adult" }] } })),
        )
        .await;
    assert_eq!(duffel.status(), StatusCode::BAD_REQUEST);
    let body: Value = duffel.json().await.expect("json");
    assert_eq!(body["errors"][0]["type"], "validation_error");
    assert_eq!(body["meta"]["status"], 400);
    assert!(body["meta"]["request_id"].is_string());
}

#[tokio::test]
async fn amadeus_pricing_and_orders_round_trip_with_drift_and_tamper_checks() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let body = sandbox
        .search(
            &token,
            &format!("originLocationCode=MAD&destinationLocationCode=CDG&departureDate={}&adults=1&max=5", day(45)),
        )
        .await;
    let offer = body["data"][0].clone();

    let priced = sandbox
        .amadeus_post(
            &token,
            "/v1/shopping/flight-offers/pricing",
            &json!({ "data": { "type": "flight-offers-pricing", "flightOffers": [offer.clone()] } }),
        )
        .await;
    assert_eq!(priced.status(), StatusCode::OK);
    assert_eq!(content_type(&priced), AMADEUS_JSON);
    let priced: Value = priced.json().await.expect("json");
    let priced_offer = priced["data"]["flightOffers"][0].clone();
    assert_eq!(priced_offer["price"]["grandTotal"], offer["price"]["grandTotal"], "no drift by default");
    assert_eq!(priced_offer["id"], offer["id"]);

    let mut altered = offer.clone();
    altered["price"]["grandTotal"] = json!("1.00");
    let rejected = sandbox
        .amadeus_post(&token, "/v1/shopping/flight-offers/pricing", &json!({ "data": { "flightOffers": [altered] } }))
        .await;
    assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
    let error = &rejected.json::<Value>().await.expect("json")["errors"][0];
    assert_eq!(error["code"], 4926);
    assert_eq!(error["source"]["pointer"], "/data/flightOffers[0]");

    let traveler = json!({ "id": "1", "dateOfBirth": "1990-02-03", "gender": "FEMALE",
                           "name": { "firstName": "ANA", "lastName": "LOPEZ" },
                           "contact": { "emailAddress": "ana@example.com" } });
    let order = |offer: Value| json!({ "data": { "type": "flight-order", "flightOffers": [offer], "travelers": [traveler.clone()] } });
    let created = sandbox.amadeus_post(&token, "/v1/booking/flight-orders", &order(priced_offer.clone())).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(content_type(&created), AMADEUS_JSON);
    let created: Value = created.json().await.expect("json");
    let id = created["data"]["id"].as_str().expect("order id").to_owned();
    let pnr = created["data"]["associatedRecords"][0]["reference"].as_str().expect("PNR");
    assert_eq!(pnr.len(), 6);
    assert!(pnr.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));

    let path = format!("/v1/booking/flight-orders/{id}");
    let fetched = sandbox.amadeus_get(&token, &path).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.json::<Value>().await.expect("json")["data"]["id"], id.as_str());
    let deleted = sandbox.http.delete(sandbox.url(&path)).bearer_auth(&token).send().await.expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = sandbox.amadeus_get(&token, &path).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(gone.json::<Value>().await.expect("json")["errors"][0]["code"], 1797);

    // Fares move by 10 %: the searched price no longer books, pricing shows
    // the new one, and that one books.
    sandbox.control("amadeus", json!({ "priceDriftPercent": 10.0 })).await;
    let stale = sandbox.amadeus_post(&token, "/v1/booking/flight-orders", &order(offer.clone())).await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stale.json::<Value>().await.expect("json")["errors"][0]["code"], 37200);
    let repriced: Value = sandbox
        .amadeus_post(
            &token,
            "/v1/shopping/flight-offers/pricing",
            &json!({ "data": { "flightOffers": [offer.clone()] } }),
        )
        .await
        .json()
        .await
        .expect("json");
    let repriced_offer = repriced["data"]["flightOffers"][0].clone();
    assert!(decimal(&repriced_offer["price"]["grandTotal"]) > decimal(&offer["price"]["grandTotal"]));
    let booked = sandbox.amadeus_post(&token, "/v1/booking/flight-orders", &order(repriced_offer)).await;
    assert_eq!(booked.status(), StatusCode::CREATED);

    let missing_name =
        json!({ "data": { "flightOffers": [offer], "travelers": [{ "id": "1", "dateOfBirth": "1990-02-03" }] } });
    let refused = sandbox.amadeus_post(&token, "/v1/booking/flight-orders", &missing_name).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn amadeus_reference_data_paginates_with_encoded_offsets() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let airlines: Value =
        sandbox.amadeus_get(&token, "/v1/reference-data/airlines?airlineCodes=BA,AF").await.json().await.expect("json");
    let codes: Vec<&str> =
        airlines["data"].as_array().expect("data").iter().filter_map(|a| a["iataCode"].as_str()).collect();
    assert_eq!(codes, ["BA", "AF"]);

    let first = sandbox
        .amadeus_get(&token, "/v1/reference-data/locations?subType=AIRPORT,CITY&keyword=LON&page%5Blimit%5D=2")
        .await;
    assert_eq!(content_type(&first), AMADEUS_JSON);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["data"][0]["id"], "CLON");
    let next = first["meta"]["links"]["next"].as_str().expect("next link");
    assert!(next.contains("page%5Boffset%5D=2"), "{next}");
    let second: Value =
        sandbox.http.get(next).bearer_auth(&token).send().await.expect("next").json().await.expect("json");
    assert_ne!(second["data"][0]["id"], first["data"][0]["id"]);
    assert!(second["data"][0]["id"].as_str().is_some_and(|id| id.starts_with('A') || id.starts_with('C')));

    let airport: Value =
        sandbox.amadeus_get(&token, "/v1/reference-data/locations/AMUC").await.json().await.expect("json");
    assert_eq!(airport["data"]["iataCode"], "MUC");
    assert_eq!(airport["data"]["subType"], "AIRPORT");
    let unknown = sandbox.amadeus_get(&token, "/v1/reference-data/locations/AQQQ").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let malformed = sandbox.amadeus_get(&token, "/v1/reference-data/locations/XMUC").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn duffel_requires_its_version_header_and_token() {
    let sandbox = start().await;
    let url = sandbox.url("/air/orders/ord_unknown");
    let unversioned = sandbox.http.get(&url).bearer_auth("duffel_test_sandbox").send().await.expect("call");
    assert_eq!(unversioned.status(), StatusCode::BAD_REQUEST);
    assert!(unversioned.headers().contains_key("x-request-id"));
    let body: Value = unversioned.json().await.expect("json");
    assert_eq!(body["errors"][0]["type"], "invalid_request_error");
    assert_eq!(body["meta"]["status"], 400);
    let wrong = sandbox
        .http
        .get(&url)
        .header("duffel-version", "v2")
        .bearer_auth("duffel_test_wrong")
        .send()
        .await
        .expect("call");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.expect("json")["errors"][0]["type"], "authentication_error");
    let unknown = sandbox.duffel(reqwest::Method::GET, "/air/orders/ord_unknown", None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn duffel_offers_orders_and_cancellations_round_trip() {
    let sandbox = start().await;
    let request = json!({ "data": {
        "slices": [{ "origin": "LHR", "destination": "JFK", "departure_date": day(50) },
                   { "origin": "JFK", "destination": "LHR", "departure_date": day(57) }],
        "passengers": [{ "type": "adult" }, { "age": 7 }],
        "cabin_class": "economy",
        "max_connections": 1
    } });
    let created = sandbox.duffel(reqwest::Method::POST, "/air/offer_requests?return_offers=true", Some(request)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let orq = created["data"]["id"].as_str().expect("orq id").to_owned();
    assert!(orq.starts_with("orq_"));
    let offers = created["data"]["offers"].as_array().expect("offers");
    assert!(!offers.is_empty());
    let offer = &offers[0];
    let offer_id = offer["id"].as_str().expect("off id").to_owned();
    assert!(offer_id.starts_with("off_"));
    assert_eq!(offer["slices"].as_array().map(Vec::len), Some(2));
    let duration = offer["slices"][0]["duration"].as_str().expect("duration");
    assert!(duration.len() == 8 && duration.starts_with("PT"), "zero-padded: {duration}");
    let total = decimal(&offer["total_amount"]);
    assert_eq!(total, decimal(&offer["base_amount"]) + decimal(&offer["tax_amount"]));
    let passengers = offer["passengers"].as_array().expect("passengers");
    assert_eq!(passengers[1]["type"], "child");

    let fetched = sandbox.duffel(reqwest::Method::GET, &format!("/air/offers/{offer_id}"), None).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(decimal(&fetched["data"]["total_amount"]), total);
    assert!(fetched["data"]["available_services"].is_array());

    let listed: Value = sandbox
        .duffel(reqwest::Method::GET, &format!("/air/offers?offer_request_id={orq}&limit=2"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2.min(offers.len())));

    let order_passengers: Vec<Value> = passengers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({ "id": p["id"], "title": "mr", "gender": "m", "given_name": format!("Tom{i}"), "family_name": "Smith",
                    "born_on": if i == 0 { "1980-01-01" } else { "2018-05-05" }, "email": "tom@example.com",
                    "phone_number": "+442080160509" })
        })
        .collect();
    let wrong_amount = sandbox
        .duffel(
            reqwest::Method::POST,
            "/air/orders",
            Some(json!({ "data": { "type": "instant", "selected_offers": [offer_id], "passengers": order_passengers,
                                   "payments": [{ "type": "balance", "amount": "1.00", "currency": offer["total_currency"] }] } })),
        )
        .await;
    assert_eq!(wrong_amount.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let instant = sandbox
        .duffel(
            reqwest::Method::POST,
            "/air/orders",
            Some(json!({ "data": { "type": "instant", "selected_offers": [offer_id], "passengers": order_passengers,
                                   "payments": [{ "type": "balance", "amount": offer["total_amount"],
                                                  "currency": offer["total_currency"] }] } })),
        )
        .await;
    assert_eq!(instant.status(), StatusCode::CREATED);
    let order: Value = instant.json().await.expect("json");
    let order_id = order["data"]["id"].as_str().expect("ord id").to_owned();
    assert!(order_id.starts_with("ord_"));
    assert_eq!(order["data"]["booking_reference"].as_str().map(str::len), Some(6));
    assert_eq!(order["data"]["documents"].as_array().map(Vec::len), Some(2));

    let hold = sandbox
        .duffel(
            reqwest::Method::POST,
            "/air/orders",
            Some(json!({ "data": { "type": "hold", "selected_offers": [offer_id], "passengers": order_passengers } })),
        )
        .await;
    assert_eq!(hold.status(), StatusCode::CREATED);
    assert_eq!(hold.json::<Value>().await.expect("json")["data"]["payment_status"]["awaiting_payment"], true);

    let quote = sandbox
        .duffel(reqwest::Method::POST, "/air/order_cancellations", Some(json!({ "data": { "order_id": order_id } })))
        .await;
    assert_eq!(quote.status(), StatusCode::CREATED);
    let quote: Value = quote.json().await.expect("json");
    let cancellation = quote["data"]["id"].as_str().expect("ore id").to_owned();
    assert!(quote["data"]["confirmed_at"].is_null());
    let confirm = format!("/air/order_cancellations/{cancellation}/actions/confirm");
    let confirmed = sandbox.duffel(reqwest::Method::POST, &confirm, None).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(confirmed.json::<Value>().await.expect("json")["data"]["confirmed_at"].is_string());
    let again = sandbox.duffel(reqwest::Method::POST, &confirm, None).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let cancelled: Value = sandbox
        .duffel(reqwest::Method::GET, &format!("/air/orders/{order_id}"), None)
        .await
        .json()
        .await
        .expect("json");
    assert!(cancelled["data"]["cancelled_at"].is_string());

    // Offers really expire.
    sandbox.control("duffel", json!({ "offerExpiresIn": 0 })).await;
    let short: Value = sandbox
        .duffel(
            reqwest::Method::POST,
            "/air/offer_requests",
            Some(json!({ "data": { "slices": [{ "origin": "LHR", "destination": "CDG", "departure_date": day(20) }],
                                   "passengers": [{ "type": "adult" }] } })),
        )
        .await
        .json()
        .await
        .expect("json");
    let short_id = short["data"]["offers"][0]["id"].as_str().expect("offer").to_owned();
    let expired = sandbox.duffel(reqwest::Method::GET, &format!("/air/offers/{short_id}"), None).await;
    assert_eq!(expired.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(expired.json::<Value>().await.expect("json")["errors"][0]["type"], "invalid_state_error");
}

#[tokio::test]
async fn personalities_overlap_but_price_differently() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    // Which flights each personality keeps is a hash of the flight and its
    // date, so on one day of a short route the two can keep the same ones
    // by chance (7 non-stop flights LHR–CDG: a few per cent of days). Over
    // a week they overlap every day and differ on some.
    let mut differing_days = 0;
    for offset in 35..42 {
        let date = day(offset);
        let amadeus = sandbox
            .search(
                &token,
                &format!("originLocationCode=LHR&destinationLocationCode=CDG&departureDate={date}&adults=1"),
            )
            .await;
        let duffel: Value = sandbox
            .duffel(
                reqwest::Method::POST,
                "/air/offer_requests",
                Some(json!({ "data": { "slices": [{ "origin": "LHR", "destination": "CDG", "departure_date": date }],
                                   "passengers": [{ "type": "adult" }] } })),
            )
            .await
            .json()
            .await
            .expect("json");
        let key = |carrier: &str, number: &str, at: &str| format!("{carrier}{number}@{at}");
        let amadeus_flights: BTreeSet<String> = amadeus["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|o| o["itineraries"][0]["segments"].as_array().map(Vec::len) == Some(1))
            .map(|o| {
                let s = &o["itineraries"][0]["segments"][0];
                key(
                    s["carrierCode"].as_str().unwrap_or(""),
                    s["number"].as_str().unwrap_or(""),
                    s["departure"]["at"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let duffel_flights: BTreeSet<String> = duffel["data"]["offers"]
            .as_array()
            .expect("offers")
            .iter()
            .filter(|o| o["slices"][0]["segments"].as_array().map(Vec::len) == Some(1))
            .map(|o| {
                let s = &o["slices"][0]["segments"][0];
                key(
                    s["marketing_carrier"]["iata_code"].as_str().unwrap_or(""),
                    s["marketing_carrier_flight_number"].as_str().unwrap_or(""),
                    s["departing_at"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert!(amadeus_flights.intersection(&duffel_flights).count() > 0, "the same flights appear in both on {date}");
        if amadeus_flights != duffel_flights {
            differing_days += 1;
        }
    }
    assert!(differing_days > 0, "each has its own subset on some day of the week");
}

#[tokio::test]
async fn max_offers_caps_each_search_to_its_cheapest_offers_in_both_formats() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let date = day(40);
    let amadeus_query = format!("originLocationCode=LON&destinationLocationCode=NYC&departureDate={date}&adults=1");
    let duffel_body = json!({ "data": { "slices": [{ "origin": "LON", "destination": "NYC", "departure_date": date }],
                                        "passengers": [{ "type": "adult" }] } });
    let amadeus_search =
        || async { sandbox.search(&token, &amadeus_query).await["data"].as_array().cloned().unwrap_or_default() };
    let duffel_search = || async {
        let response = sandbox.duffel(reqwest::Method::POST, "/air/offer_requests", Some(duffel_body.clone())).await;
        let body: Value = response.json().await.expect("json");
        body["data"]["offers"].as_array().cloned().unwrap_or_default()
    };
    let (amadeus_full, duffel_full) = (amadeus_search().await, duffel_search().await);
    assert!(amadeus_full.len() > 25 && duffel_full.len() > 25, "a busy route has more than the cap");

    for personality in ["amadeus", "duffel"] {
        assert_eq!(sandbox.control(personality, json!({ "maxOffers": 25 })).await["maxOffers"], 25);
    }
    let (amadeus, duffel) = (amadeus_search().await, duffel_search().await);
    assert_eq!(amadeus.len(), 25);
    assert_eq!(duffel.len(), 25);
    // The cheapest: the same first offers as the uncapped answer.
    let price = |o: &Value| o["price"]["grandTotal"].as_str().unwrap_or_default().to_owned();
    assert_eq!(amadeus.iter().map(price).collect::<Vec<_>>(), amadeus_full[..25].iter().map(price).collect::<Vec<_>>());
    let amount = |o: &Value| o["total_amount"].as_str().unwrap_or_default().to_owned();
    assert_eq!(duffel.iter().map(amount).collect::<Vec<_>>(), duffel_full[..25].iter().map(amount).collect::<Vec<_>>());
    // A request's own smaller `max` still wins.
    let few = sandbox.search(&token, &format!("{amadeus_query}&max=3")).await;
    assert_eq!(few["data"].as_array().map(Vec::len), Some(3));

    assert_eq!(sandbox.control("duffel", json!({ "maxOffers": 0 })).await["maxOffers"], 0);
    assert_eq!(duffel_search().await.len(), duffel_full.len(), "0 lifts the cap");
}

#[tokio::test]
async fn control_api_counts_every_request_exactly() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    sandbox.amadeus_get(&token, "/v1/reference-data/airlines?airlineCodes=BA").await;
    sandbox.amadeus_get("bogus", "/v1/reference-data/airlines?airlineCodes=BA").await;
    sandbox.amadeus_get(&token, "/v1/reference-data/locations?subType=CITY&keyword=PAR").await;
    sandbox.amadeus_get(&token, "/v2/shopping/flight-offers?originLocationCode=bad").await;
    sandbox.amadeus_get(&token, "/v1/booking/flight-orders/nope").await;
    sandbox
        .http
        .delete(sandbox.url("/v1/booking/flight-orders/nope"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    sandbox.http.patch(sandbox.url("/v1/booking/flight-orders/nope")).bearer_auth(&token).send().await.expect("PATCH");
    sandbox.duffel(reqwest::Method::POST, "/air/payments", Some(json!({ "data": {} }))).await;
    sandbox.http.get(sandbox.url("/air/offers/off_x")).send().await.expect("unversioned Duffel call");
    sandbox.duffel(reqwest::Method::GET, "/air/orders/ord_x", None).await;

    let calls = sandbox.calls().await;
    assert_eq!(
        calls["amadeus"],
        json!({ "airlines": 2, "locations": 1, "orderCancel": 1, "orderConfirm": 1, "orderCreate": 0, "orderGet": 1,
                "price": 0, "search": 1, "token": 1 })
    );
    assert_eq!(calls["duffel"]["orderConfirm"], 1);
    assert_eq!(calls["duffel"]["offerGet"], 1);
    assert_eq!(calls["duffel"]["orderGet"], 1);
    assert_eq!(calls["duffel"]["search"], 0);

    let reset = sandbox.http.post(sandbox.url("/_sandbox/reset")).send().await.expect("reset");
    assert_eq!(reset.status(), StatusCode::OK);
    let calls = sandbox.calls().await;
    assert!(calls["amadeus"].as_object().expect("map").values().all(|v| v == 0));
}

#[tokio::test]
async fn faults_are_injected_in_each_format_and_reproducible() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let path = "/v1/reference-data/airlines?airlineCodes=BA";

    sandbox.control("amadeus", json!({ "outage": true })).await;
    let down = sandbox.amadeus_get(&token, path).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type(&down), AMADEUS_JSON);
    assert!(down.json::<Value>().await.expect("json")["errors"][0]["code"].is_number());
    let duffel_up = sandbox.duffel(reqwest::Method::GET, "/air/orders/ord_x", None).await;
    assert_eq!(duffel_up.status(), StatusCode::NOT_FOUND, "an Amadeus outage leaves Duffel up");

    sandbox.control("amadeus", json!({ "outage": false, "rateLimitRate": 1.0 })).await;
    let limited = sandbox.amadeus_get(&token, path).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json::<Value>().await.expect("json")["errors"][0]["code"], "38194");

    sandbox.control("amadeus", json!({ "rateLimitRate": 0.0, "errorRate": 1.0 })).await;
    assert_eq!(sandbox.amadeus_get(&token, path).await.status(), StatusCode::INTERNAL_SERVER_ERROR);

    sandbox.control("duffel", json!({ "outage": true })).await;
    let down = sandbox.duffel(reqwest::Method::GET, "/air/orders/ord_x", None).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = down.json().await.expect("json");
    assert_eq!(body["meta"]["status"], 503);
    assert_eq!(body["errors"][0]["type"], "api_error");
    sandbox.control("duffel", json!({ "outage": false, "rateLimitRate": 1.0 })).await;
    let limited = sandbox.duffel(reqwest::Method::GET, "/air/orders/ord_x", None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json::<Value>().await.expect("json")["errors"][0]["type"], "rate_limit_error");

    // A 50 % error rate fails the same calls after every reset.
    let mut patterns = Vec::new();
    for _ in 0..2 {
        sandbox.http.post(sandbox.url("/_sandbox/reset")).send().await.expect("reset");
        sandbox.control("amadeus", json!({ "errorRate": 0.5 })).await;
        let mut pattern = Vec::new();
        for _ in 0..16 {
            pattern.push(sandbox.amadeus_get(&token, path).await.status().as_u16());
        }
        patterns.push(pattern);
    }
    assert_eq!(patterns[0], patterns[1]);
    assert!(patterns[0].contains(&500) && patterns[0].contains(&200), "{:?}", patterns[0]);
    let calls = sandbox.calls().await;
    assert_eq!(calls["amadeus"]["airlines"], 16, "failed calls count too");
}

#[tokio::test]
async fn settings_update_partially_and_are_validated() {
    let sandbox = start().await;
    let settings = sandbox.control("amadeus", json!({ "latencyMs": 20, "jitterMs": 5 })).await;
    assert_eq!(settings["latencyMs"], 20);
    assert_eq!(settings["jitterMs"], 5);
    let settings = sandbox.control("amadeus", json!({ "errorRate": 0.0 })).await;
    assert_eq!(settings["latencyMs"], 20, "partial updates keep the rest");
    let fetched: Value = sandbox
        .http
        .get(sandbox.url("/_sandbox/personalities/amadeus"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, settings);
    assert_eq!(fetched["tokenExpiresIn"], 1799);

    // The delayed call still arrives and is counted once.
    let token = sandbox.token().await;
    assert!(!token.is_empty());
    assert_eq!(sandbox.calls().await["amadeus"]["token"], 1);

    assert_eq!(
        (fetched["holdExpiresIn"].as_u64(), fetched["priceChangeRate"].as_f64(), fetched["failConfirmNext"].as_u64()),
        (Some(1200), Some(1.0), Some(0))
    );
    for bad in [
        json!({ "errorRate": 2.0 }),
        json!({ "latency": 5 }),
        json!({ "latencyMs": "slow" }),
        json!({ "priceChangeRate": 1.5 }),
        json!({ "orderDelayMs": 200_000 }),
        json!({ "confirmDelayMs": 200_000 }),
        json!({ "cancelDelayMs": 200_000 }),
    ] {
        let response =
            sandbox.http.put(sandbox.url("/_sandbox/personalities/amadeus")).json(&bad).send().await.expect("PUT");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let unknown = sandbox.http.get(sandbox.url("/_sandbox/personalities/sabre")).send().await.expect("GET");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    sandbox.http.post(sandbox.url("/_sandbox/reset")).send().await.expect("reset");
    let fetched: Value = sandbox
        .http
        .get(sandbox.url("/_sandbox/personalities/amadeus"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched["latencyMs"], 0);
}

/// A Duffel hold on a fresh one-adult offer: (order id, total, currency).
async fn duffel_hold(sandbox: &Sandbox, days: i64, booking: &str) -> (String, String, String) {
    let request = json!({ "data": { "slices": [{ "origin": "LHR", "destination": "CDG", "departure_date": day(days) }],
                                    "passengers": [{ "type": "adult" }] } });
    let created: Value =
        sandbox.duffel(reqwest::Method::POST, "/air/offer_requests", Some(request)).await.json().await.expect("json");
    let offer = &created["data"]["offers"][0];
    let passenger = json!({ "id": offer["passengers"][0]["id"], "given_name": "Ana", "family_name": "Lopez",
                            "born_on": "1990-02-03", "email": "ana@example.com" });
    let body = json!({ "data": { "type": "hold", "selected_offers": [offer["id"]], "passengers": [passenger],
                                 "metadata": { "wayfarer_booking_id": booking } } });
    let hold = sandbox.duffel(reqwest::Method::POST, "/air/orders", Some(body)).await;
    assert_eq!(hold.status(), StatusCode::CREATED);
    let hold: Value = hold.json().await.expect("json");
    let text = |v: &Value| v.as_str().expect("text").to_owned();
    (text(&hold["data"]["id"]), text(&hold["data"]["total_amount"]), text(&hold["data"]["total_currency"]))
}

fn payment(order: &str, amount: &str, currency: &str) -> Option<Value> {
    Some(
        json!({ "data": { "order_id": order, "payment": { "type": "balance", "amount": amount, "currency": currency } } }),
    )
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    (status, body["errors"][0]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn duffel_holds_are_paid_once_at_their_price_and_lapse_unpaid() {
    let sandbox = start().await;
    let (order, amount, currency) = duffel_hold(&sandbox, 30, "bk_1").await;
    let held: Value =
        sandbox.duffel(reqwest::Method::GET, &format!("/air/orders/{order}"), None).await.json().await.expect("json");
    let status = &held["data"]["payment_status"];
    assert_eq!((status["awaiting_payment"].as_bool(), status["paid_at"].is_null()), (Some(true), true));
    assert!(status["payment_required_by"].is_string());
    assert_eq!(held["data"]["documents"].as_array().map(Vec::len), Some(0));
    assert_eq!(held["data"]["metadata"]["wayfarer_booking_id"], "bk_1");

    let cheaper = sandbox.duffel(reqwest::Method::POST, "/air/payments", payment(&order, "1.00", &currency)).await;
    assert_eq!(error_code(cheaper).await, (StatusCode::UNPROCESSABLE_ENTITY, "price_changed".to_owned()));
    let paid = sandbox.duffel(reqwest::Method::POST, "/air/payments", payment(&order, &amount, &currency)).await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    let paid: Value = paid.json().await.expect("json");
    assert!(paid["data"]["id"].as_str().is_some_and(|id| id.starts_with("pay_")));
    assert_eq!(paid["data"]["amount"], amount.as_str());
    let twice = sandbox.duffel(reqwest::Method::POST, "/air/payments", payment(&order, &amount, &currency)).await;
    assert_eq!(error_code(twice).await, (StatusCode::UNPROCESSABLE_ENTITY, "already_paid".to_owned()));
    let confirmed: Value =
        sandbox.duffel(reqwest::Method::GET, &format!("/air/orders/{order}"), None).await.json().await.expect("json");
    assert_eq!(confirmed["data"]["payment_status"]["awaiting_payment"], false);
    assert!(confirmed["data"]["payment_status"]["paid_at"].is_string());
    assert_eq!(confirmed["data"]["documents"].as_array().map(Vec::len), Some(1), "ticketed");
    let unknown = sandbox.duffel(reqwest::Method::POST, "/air/payments", payment("ord_nope", &amount, &currency)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // An unpaid hold reads as released at its deadline, and cannot be paid.
    sandbox.control("duffel", json!({ "holdExpiresIn": 0 })).await;
    let (lapsed, amount, currency) = duffel_hold(&sandbox, 31, "bk_2").await;
    let read: Value =
        sandbox.duffel(reqwest::Method::GET, &format!("/air/orders/{lapsed}"), None).await.json().await.expect("json");
    assert_eq!(read["data"]["cancelled_at"], read["data"]["payment_status"]["payment_required_by"]);
    assert_eq!(read["data"]["payment_status"]["awaiting_payment"], false);
    let late = sandbox.duffel(reqwest::Method::POST, "/air/payments", payment(&lapsed, &amount, &currency)).await;
    assert_eq!(error_code(late).await, (StatusCode::UNPROCESSABLE_ENTITY, "order_expired".to_owned()));
    let quote = sandbox
        .duffel(reqwest::Method::POST, "/air/order_cancellations", Some(json!({ "data": { "order_id": lapsed } })))
        .await;
    assert_eq!(error_code(quote).await, (StatusCode::UNPROCESSABLE_ENTITY, "order_already_cancelled".to_owned()));

    let ledger: Value =
        sandbox.http.get(sandbox.url("/_sandbox/orders")).send().await.expect("orders").json().await.expect("json");
    let states: Vec<(String, String, u64)> = ledger["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| {
            let text = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
            (text("clientReference"), text("status"), o["confirmations"].as_u64().unwrap_or(99))
        })
        .collect();
    assert_eq!(states, [("bk_1".into(), "confirmed".into(), 1), ("bk_2".into(), "lapsed".into(), 0)]);
}

#[tokio::test]
async fn amadeus_holds_confirm_by_patching_the_ticketing_agreement() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let found = sandbox
        .search(
            &token,
            &format!("originLocationCode=LIS&destinationLocationCode=MAD&departureDate={}&adults=1", day(33)),
        )
        .await;
    let offer = found["data"][0].clone();
    let traveler =
        json!({ "id": "1", "dateOfBirth": "1990-02-03", "name": { "firstName": "ANA", "lastName": "LOPEZ" } });
    let order = json!({ "data": { "type": "flight-order", "flightOffers": [offer], "travelers": [traveler],
        "remarks": { "general": [{ "subType": "GENERAL_MISCELLANEOUS", "text": "WAYFARER bk_9" }] },
        "ticketingAgreement": { "option": "DELAY_TO_CANCEL", "delay": "1D" } } });
    let created = sandbox.amadeus_post(&token, "/v1/booking/flight-orders", &order).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let agreement = &created["data"]["ticketingAgreement"];
    assert_eq!((agreement["option"].as_str(), agreement["delay"].as_str()), (Some("DELAY_TO_CANCEL"), Some("1D")));
    let deadline = agreement["dateTime"].as_str().expect("the exact deadline");
    let deadline = chrono::DateTime::parse_from_rfc3339(deadline).expect("UTC time");
    assert!((19..=20).contains(&(deadline.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes()));
    assert!(created["data"].get("tickets").is_none());
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/booking/flight-orders/{id}");
    let patch = |body: Value| {
        sandbox
            .http
            .patch(sandbox.url(&path))
            .bearer_auth(&token)
            .header("content-type", AMADEUS_JSON)
            .body(serde_json::to_vec(&body).expect("json"))
            .send()
    };
    let queue =
        patch(json!({ "data": { "ticketingAgreement": { "option": "DELAY_TO_QUEUE" } } })).await.expect("PATCH");
    assert_eq!(queue.status(), StatusCode::BAD_REQUEST);
    let confirm = json!({ "data": { "type": "flight-order", "ticketingAgreement": { "option": "CONFIRM" } } });
    for _ in 0..2 {
        let confirmed = patch(confirm.clone()).await.expect("PATCH");
        assert_eq!((confirmed.status(), content_type(&confirmed).as_str()), (StatusCode::OK, AMADEUS_JSON));
        let confirmed: Value = confirmed.json().await.expect("json");
        assert_eq!(confirmed["data"]["ticketingAgreement"]["option"], "CONFIRM");
        let ticket = &confirmed["data"]["tickets"][0];
        assert_eq!((ticket["documentType"].as_str(), ticket["travelerId"].as_str()), (Some("ETICKET"), Some("1")));
    }
    let deleted = sandbox.http.delete(sandbox.url(&path)).bearer_auth(&token).send().await.expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        patch(confirm.clone()).await.expect("PATCH").status(),
        StatusCode::NOT_FOUND,
        "forgotten once cancelled"
    );
    assert_eq!(sandbox.amadeus_get(&token, &path).await.status(), StatusCode::NOT_FOUND);

    let ledger: Value =
        sandbox.http.get(sandbox.url("/_sandbox/orders")).send().await.expect("orders").json().await.expect("json");
    let entry = &ledger["orders"][0];
    assert_eq!((entry["orderId"].as_str(), entry["clientReference"].as_str()), (Some(id.as_str()), Some("bk_9")));
    assert_eq!((entry["status"].as_str(), entry["confirmations"].as_u64()), (Some("cancelled"), Some(2)));
}

async fn price(sandbox: &Sandbox, token: &str, offer: &Value) -> reqwest::Response {
    let body = json!({ "data": { "type": "flight-offers-pricing", "flightOffers": [offer] } });
    sandbox.amadeus_post(token, "/v1/shopping/flight-offers/pricing", &body).await
}

#[tokio::test]
async fn amadeus_offers_expire_and_price_changes_hit_a_share_of_offers() {
    let sandbox = start().await;
    let token = sandbox.token().await;
    let query = format!("originLocationCode=LIS&destinationLocationCode=LON&departureDate={}&adults=1", day(34));
    let offers = sandbox.search(&token, &query).await["data"].as_array().expect("offers").clone();
    assert!(offers.len() >= 10, "enough offers to see a share: {}", offers.len());

    sandbox.control("amadeus", json!({ "priceDriftPercent": 10, "priceChangeRate": 0.5 })).await;
    let mut changed = Vec::new();
    for offer in &offers {
        let priced: Value = price(&sandbox, &token, offer).await.json().await.expect("json");
        let moved = priced["data"]["flightOffers"][0]["price"]["grandTotal"] != offer["price"]["grandTotal"];
        changed.push(moved);
    }
    let share = changed.iter().filter(|c| **c).count();
    assert!(share > 0 && share < offers.len(), "some, not all, offers change: {changed:?}");
    let mut again = Vec::new();
    for offer in &offers {
        let priced: Value = price(&sandbox, &token, offer).await.json().await.expect("json");
        again.push(priced["data"]["flightOffers"][0]["price"]["grandTotal"] != offer["price"]["grandTotal"]);
    }
    assert_eq!(again, changed, "the same offers every time");

    sandbox.control("amadeus", json!({ "priceChangeRate": 0.0, "offerExpiresIn": 0 })).await;
    let stale = sandbox.search(&token, &query).await["data"][0].clone();
    let expired = price(&sandbox, &token, &stale).await;
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    let body: Value = expired.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], 4926);
    assert!(body["errors"][0]["detail"].as_str().is_some_and(|d| d.contains("expired")), "{body}");
}
