//! The Amadeus Self-Service personality: OAuth2 client-credentials tokens
//! that really expire, Flight Offers Search (GET and POST), Flight Offers
//! Price, Flight Create Orders and Order Management, Airline Code Lookup and
//! Airport & City Search, in the wire format the official SDKs parse.
//!
//! Wire rules kept here: every body is `application/vnd.amadeus+json`
//! exactly (the token endpoint `application/json`), never with a charset,
//! because the Python SDK compares the whole header; money is decimal
//! strings; segment times are local without offset; errors use the
//! `{"errors":[…]}` envelope except the token endpoint's flat body.
//!
//! Pricing and booking trust only offers this sandbox produced: every
//! rendered offer's canonical fingerprint is remembered, and an offer that
//! comes back altered is refused (400 4926), as the real API refuses
//! trimmed offers; so is one older than `offerExpiresIn` (searched or last
//! priced), with a detail that says it expired.
//!
//! Orders are holds unless created with `ticketingAgreement.option
//! CONFIRM`: they lapse `holdExpiresIn` seconds after creation (whatever
//! `delay` was asked; the echoed agreement gains the exact `dateTime`, in
//! UTC). `PATCH /v1/booking/flight-orders/{id}` with `{data:
//! {ticketingAgreement: {option: "CONFIRM"}}}` confirms a held order and
//! issues its tickets — a sandbox extension standing in for the
//! consolidator's ticketing, which the real API leaves off-line; repeating
//! it is harmless. DELETE cancels held and confirmed orders alike (for a
//! ticketed one it stands in for voiding through the consolidator).
//! Cancelled and lapsed orders answer 404 like the real API's forgotten
//! ones, but stay in the [`super::ledger`].

#![allow(
    clippy::result_large_err,
    reason = "validation returns the ready error response; it is the cold path and 128 bytes"
)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::carriers::{self, Region};
use super::generator::{
    self, Cabin, GenerateError, Offer, PassengerKind, Passengers, Personality, SearchRequest, SliceRequest,
};
use super::ledger::{self, OrderRecord, OrderState};
use super::{Fault, Sandbox, json_response, lock};
use crate::reference::{AirportSize, PlaceKind, ReferenceData};

const AMADEUS_JSON: &str = "application/vnd.amadeus+json";
const TOKEN_JSON: &str = "application/json";
/// How many rendered offers pricing and booking remember.
const REMEMBERED_OFFERS: usize = 50_000;
/// What a general remark carrying the client's booking id starts with (the
/// convention of Wayfarer's adapter), read into the ledger.
const CLIENT_REMARK: &str = "WAYFARER ";

/// The Amadeus routes (state: the sandbox).
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/v1/security/oauth2/token", post(token))
        .route("/v1/security/oauth2/token/{token}", get(token_info))
        .route("/v2/shopping/flight-offers", get(search_get).post(search_post))
        .route("/v1/shopping/flight-offers/pricing", post(pricing))
        .route("/v1/booking/flight-orders", post(create_order))
        .route("/v1/booking/flight-orders/{id}", get(get_order).delete(delete_order).patch(confirm_order))
        .route("/v1/reference-data/airlines", get(airlines))
        .route("/v1/reference-data/locations", get(locations))
        .route("/v1/reference-data/locations/{id}", get(location))
}

/// Tokens, remembered offers and orders.
#[derive(Debug, Default)]
pub(super) struct Store {
    tokens: std::sync::Mutex<HashMap<String, Token>>,
    offers: std::sync::Mutex<Remembered>,
    orders: std::sync::Mutex<HashMap<String, StoredOrder>>,
    sequence: AtomicU64,
}

/// An order: its envelope as last rendered, and its lifecycle.
#[derive(Debug, Clone)]
struct StoredOrder {
    envelope: Value,
    record: OrderRecord,
}

impl Store {
    /// Every order's lifecycle, for the ledger.
    pub(super) fn order_records(&self) -> Vec<OrderRecord> {
        lock(&self.orders).values().map(|o| o.record.clone()).collect()
    }

    /// Forgets every order (`/_sandbox/reset`).
    pub(super) fn clear_orders(&self) {
        lock(&self.orders).clear();
    }
}

#[derive(Debug, Clone)]
struct Token {
    issued: Instant,
    expires_in: u64,
    client_id: String,
}

impl Token {
    fn remaining(&self) -> u64 {
        self.expires_in.saturating_sub(self.issued.elapsed().as_secs())
    }
    fn expired(&self) -> bool {
        self.issued.elapsed() >= Duration::from_secs(self.expires_in)
    }
}

/// An offer as searched (undrifted), with the travellers it was priced for.
#[derive(Debug)]
struct Quote {
    offer: Offer,
    travelers: Vec<Traveler>,
}

#[derive(Debug, Clone)]
struct Traveler {
    id: String,
    kind: PassengerKind,
    /// As the client spelled it (`SENIOR` prices as an adult).
    traveler_type: String,
    associated_adult: Option<String>,
}

#[derive(Debug, Default)]
struct Remembered {
    /// Each rendered offer's quote, and when it stops being honoured.
    quotes: HashMap<[u8; 32], (Arc<Quote>, Instant)>,
    order: VecDeque<[u8; 32]>,
}

impl Remembered {
    fn insert(&mut self, fingerprint: [u8; 32], quote: Arc<Quote>, lifetime: u64) {
        let expires = Instant::now() + Duration::from_secs(lifetime.min(10 * 365 * 86_400));
        if self.quotes.insert(fingerprint, (quote, expires)).is_none() {
            self.order.push_back(fingerprint);
        }
        while self.order.len() > REMEMBERED_OFFERS {
            if let Some(old) = self.order.pop_front() {
                self.quotes.remove(&old);
            }
        }
    }
}

/// SHA-256 of `value` with object keys sorted, so a client that reorders
/// keys still matches and one that changes or drops a field does not.
fn fingerprint(value: &Value) -> [u8; 32] {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(key) {
                        write(v, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    write(value, &mut text);
    Sha256::digest(text.as_bytes()).into()
}

// ---------------------------------------------------------------- errors

/// An `{"errors":[…]}` response.
pub(super) fn error(status: StatusCode, code: u32, title: &str, detail: &str, source: Option<Value>) -> Response {
    let mut item = json!({ "status": status.as_u16(), "code": code, "title": title, "detail": detail });
    if let (Some(source), Some(map)) = (source, item.as_object_mut()) {
        map.insert("source".to_owned(), source);
    }
    json_response(status, AMADEUS_JSON, &json!({ "errors": [item] }))
}

fn bad_parameter(code: u32, title: &str, detail: &str, parameter: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, title, detail, Some(json!({ "parameter": parameter })))
}

fn bad_pointer(code: u32, title: &str, detail: &str, pointer: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, title, detail, Some(json!({ "pointer": pointer })))
}

fn invalid_format(detail: &str, parameter: &str) -> Response {
    bad_parameter(477, "INVALID FORMAT", detail, parameter)
}

fn missing(parameter: &str) -> Response {
    bad_parameter(32171, "MANDATORY DATA MISSING", &format!("{parameter} is required"), parameter)
}

fn not_found(detail: &str) -> Response {
    error(StatusCode::NOT_FOUND, 1797, "NOT FOUND", detail, None)
}

/// The injected faults, in the shapes the real gateway sends (429 38194
/// with string-typed `code`/`status`, as seen in the wild).
pub(super) fn fault_response(fault: Fault, token_endpoint: bool) -> Response {
    let content_type = if token_endpoint { TOKEN_JSON } else { AMADEUS_JSON };
    let (status, body) = match fault {
        Fault::Outage => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "errors": [{ "status": 503, "code": 38189, "title": "Internal error",
                                 "detail": "The service is unavailable (sandbox outage)" }] }),
        ),
        Fault::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "errors": [{ "code": "38194", "title": "Too many requests",
                                 "detail": "The network rate limit is exceeded, please try again later",
                                 "status": "429" }] }),
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "errors": [{ "status": 500, "code": 141, "title": "SYSTEM ERROR HAS OCCURRED",
                                 "detail": "Injected by the sandbox" }] }),
        ),
    };
    json_response(status, content_type, &body)
}

// ---------------------------------------------------------------- auth

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn token(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let form = form(&body);
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_response(
            StatusCode::BAD_REQUEST,
            TOKEN_JSON,
            &json!({ "error": "unsupported_grant_type",
                     "error_description": "Only client_credentials value is allowed for the body parameter grant_type",
                     "code": 38187, "title": "Invalid parameters" }),
        );
    }
    let config = sandbox.config();
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let secret = form.get("client_secret").cloned().unwrap_or_default();
    if client_id != config.amadeus_client_id || secret != config.amadeus_client_secret {
        return json_response(
            StatusCode::UNAUTHORIZED,
            TOKEN_JSON,
            &json!({ "error": "invalid_client", "error_description": "Client credentials are invalid",
                     "code": 38187, "title": "Invalid parameters" }),
        );
    }
    let expires_in = sandbox.personality(Personality::Amadeus).settings().token_expires_in;
    // 28 characters like the real ones; randomness only needs to be unique.
    let access_token: String = uuid::Uuid::new_v4().simple().to_string().chars().take(28).collect();
    let record = Token { issued: Instant::now(), expires_in, client_id: client_id.clone() };
    lock(&sandbox.amadeus_store().tokens).insert(access_token.clone(), record);
    json_response(StatusCode::OK, TOKEN_JSON, &token_body(&access_token, &client_id, expires_in, "approved"))
}

fn token_body(access_token: &str, client_id: &str, expires_in: u64, state: &str) -> Value {
    json!({
        "type": "amadeusOAuth2Token",
        "username": "sandbox@wayfarer.invalid",
        "application_name": "wayfarer-sandbox",
        "client_id": client_id,
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": expires_in,
        "state": state,
        "scope": ""
    })
}

async fn token_info(State(sandbox): State<Sandbox>, Path(token): Path<String>) -> Response {
    let record = lock(&sandbox.amadeus_store().tokens).get(&token).cloned();
    match record {
        Some(record) => {
            let state = if record.expired() { "expired" } else { "approved" };
            json_response(StatusCode::OK, TOKEN_JSON, &token_body(&token, &record.client_id, record.remaining(), state))
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            TOKEN_JSON,
            &json!({ "error": "invalid_token", "error_description": "The access token is unknown",
                     "code": 38190, "title": "Invalid access token" }),
        ),
    }
}

/// The Bearer check every API call passes (38191 missing/malformed header
/// with string-typed fields as in the docs, 38190 unknown, 38192 expired).
fn authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
    let header = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or("");
    let token = header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(json_response(
            StatusCode::UNAUTHORIZED,
            AMADEUS_JSON,
            &json!({ "errors": [{ "code": "38191", "title": "Invalid HTTP header",
                                  "detail": "Missing or invalid format for mandatory Authorization header",
                                  "status": "401" }] }),
        ));
    };
    let record = lock(&sandbox.amadeus_store().tokens).get(token).cloned();
    match record {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            38190,
            "Invalid access token",
            "The access token provided in the Authorization header is invalid",
            None,
        )),
        Some(record) if record.expired() => {
            Err(error(StatusCode::UNAUTHORIZED, 38192, "Access token expired", "The access token is expired", None))
        }
        Some(_) => Ok(()),
    }
}

// ---------------------------------------------------------------- search

/// What a search asks beyond the generator's input.
#[derive(Debug)]
struct Search {
    request: SearchRequest,
    travelers: Vec<Traveler>,
    included: Vec<String>,
    excluded: Vec<String>,
    max_price: Option<Decimal>,
    max: usize,
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    query.map(|q| form(q.as_bytes())).unwrap_or_default()
}

fn is_code(code: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn iata(value: Option<&String>, parameter: &str) -> Result<String, Response> {
    let value = value.ok_or_else(|| missing(parameter))?;
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.clone())
    } else {
        Err(invalid_format("a 3-letter IATA location code is expected (PAR)", parameter))
    }
}

fn date(value: &str, parameter: &str) -> Result<NaiveDate, Response> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid_format("Date format is YYYY-MM-DD", parameter))
}

fn count(value: Option<&String>, parameter: &str) -> Result<u8, Response> {
    match value {
        None => Ok(0),
        Some(v) => v.parse::<u8>().ok().filter(|n| *n <= 9).ok_or_else(|| invalid_format("0 to 9 expected", parameter)),
    }
}

fn carrier_list(value: Option<&String>, parameter: &str) -> Result<Vec<String>, Response> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let codes: Vec<String> = value.split(',').map(|c| c.trim().to_ascii_uppercase()).collect();
    if codes.iter().all(|c| is_code(c, 2..=2)) {
        Ok(codes)
    } else {
        Err(invalid_format("comma-separated 2-character IATA airline codes expected", parameter))
    }
}

fn travelers_for(passengers: Passengers) -> Vec<Traveler> {
    let mut travelers = Vec::new();
    let mut next = 1;
    for (kind, n, name) in [
        (PassengerKind::Adult, passengers.adults, "ADULT"),
        (PassengerKind::Child, passengers.children, "CHILD"),
        (PassengerKind::Infant, passengers.infants, "HELD_INFANT"),
    ] {
        for i in 0..n {
            let associated_adult = (kind == PassengerKind::Infant).then(|| (i + 1).to_string());
            travelers.push(Traveler { id: next.to_string(), kind, traveler_type: name.to_owned(), associated_adult });
            next += 1;
        }
    }
    travelers
}

fn parse_get(query: &HashMap<String, String>) -> Result<Search, Response> {
    let origin = iata(query.get("originLocationCode"), "originLocationCode")?;
    let destination = iata(query.get("destinationLocationCode"), "destinationLocationCode")?;
    let departure = date(query.get("departureDate").ok_or_else(|| missing("departureDate"))?, "departureDate")?;
    let adults = match query.get("adults") {
        None => return Err(missing("adults")),
        Some(a) => a
            .parse::<u8>()
            .ok()
            .filter(|n| (1..=9).contains(n))
            .ok_or_else(|| invalid_format("1 to 9 expected", "adults"))?,
    };
    let children = count(query.get("children"), "children")?;
    let infants = count(query.get("infants"), "infants")?;
    let cabin = match query.get("travelClass") {
        None => Cabin::Economy,
        Some(c) => Cabin::parse(c).filter(|_| c == &c.to_ascii_uppercase()).ok_or_else(|| {
            invalid_format("one of ECONOMY, PREMIUM_ECONOMY, BUSINESS, FIRST expected", "travelClass")
        })?,
    };
    let included = carrier_list(query.get("includedAirlineCodes"), "includedAirlineCodes")?;
    let excluded = carrier_list(query.get("excludedAirlineCodes"), "excludedAirlineCodes")?;
    if !included.is_empty() && !excluded.is_empty() {
        return Err(bad_parameter(
            2668,
            "PARAMETER COMBINATION INVALID/RESTRICTED",
            "includedAirlineCodes and excludedAirlineCodes cannot be combined",
            "excludedAirlineCodes",
        ));
    }
    let non_stop = match query.get("nonStop").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(invalid_format("true or false expected", "nonStop")),
    };
    let currency = currency(query.get("currencyCode"), "currencyCode", true)?;
    let max_price = match query.get("maxPrice") {
        None => None,
        Some(p) => Some(
            p.parse::<u32>()
                .ok()
                .filter(|p| *p > 0)
                .map(Decimal::from)
                .ok_or_else(|| invalid_format("a positive integer expected", "maxPrice"))?,
        ),
    };
    let max = match query.get("max") {
        None => 250,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|m| *m >= 1)
            .ok_or_else(|| invalid_format("an integer ≥ 1 expected", "max"))?,
    };
    let mut slices = vec![SliceRequest { origin: origin.clone(), destination: destination.clone(), date: departure }];
    if let Some(back) = query.get("returnDate") {
        let back = date(back, "returnDate")?;
        if back < departure {
            return Err(bad_parameter(425, "INVALID DATE", "returnDate is before departureDate", "returnDate"));
        }
        slices.push(SliceRequest { origin: destination, destination: origin, date: back });
    }
    let passengers = Passengers { adults, children, infants };
    Ok(Search {
        request: SearchRequest { slices, passengers, cabin, max_connections: if non_stop { 0 } else { 2 }, currency },
        travelers: travelers_for(passengers),
        included,
        excluded,
        max_price,
        max: max.min(250),
    })
}

fn currency(value: Option<&String>, where_: &str, parameter: bool) -> Result<&'static str, Response> {
    let Some(value) = value else { return Ok("EUR") };
    carriers::currency(value).map(|(code, _, _)| code).ok_or_else(|| {
        let detail = "Currency not supported by the sandbox (EUR, USD, GBP, CHF, CAD, AUD, BRL, MXN)";
        if parameter {
            bad_parameter(572, "INVALID OPTION", detail, where_)
        } else {
            bad_pointer(572, "INVALID OPTION", detail, where_)
        }
    })
}

fn parse_post(body: &Value) -> Result<Search, Response> {
    let format = |detail: &str, pointer: &str| bad_pointer(477, "INVALID FORMAT", detail, pointer);
    let missing = |pointer: &str| {
        bad_pointer(
            32171,
            "MANDATORY DATA MISSING",
            &format!("{} is required", pointer.trim_start_matches('/')),
            pointer,
        )
    };
    let currency =
        currency(body.get("currencyCode").and_then(Value::as_str).map(str::to_owned).as_ref(), "/currencyCode", false)?;
    let legs =
        body.get("originDestinations").and_then(Value::as_array).ok_or_else(|| missing("/originDestinations"))?;
    if legs.is_empty() || legs.len() > 6 {
        return Err(format("1 to 6 originDestinations expected", "/originDestinations"));
    }
    let mut slices = Vec::new();
    for (i, leg) in legs.iter().enumerate() {
        let code = |field: &str| -> Result<String, Response> {
            let pointer = format!("/originDestinations[{i}]/{field}");
            let value = leg.get(field).and_then(Value::as_str).ok_or_else(|| missing(&pointer))?;
            if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(value.to_owned())
            } else {
                Err(format("a 3-letter IATA location code is expected", &pointer))
            }
        };
        let origin = code("originLocationCode")?;
        let destination = code("destinationLocationCode")?;
        let pointer = format!("/originDestinations[{i}]/departureDateTimeRange/date");
        let day = leg
            .get("departureDateTimeRange")
            .and_then(|r| r.get("date"))
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&pointer))?;
        let day =
            NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| format("Date format is YYYY-MM-DD", &pointer))?;
        slices.push(SliceRequest { origin, destination, date: day });
    }
    let list = body.get("travelers").and_then(Value::as_array).ok_or_else(|| missing("/travelers"))?;
    if list.is_empty() || list.len() > 18 {
        return Err(format("1 to 18 travelers expected", "/travelers"));
    }
    let mut travelers = Vec::new();
    for (i, traveler) in list.iter().enumerate() {
        let id = match traveler.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(missing(&format!("/travelers[{i}]/id"))),
        };
        let pointer = format!("/travelers[{i}]/travelerType");
        let traveler_type = traveler.get("travelerType").and_then(Value::as_str).ok_or_else(|| missing(&pointer))?;
        let kind = match traveler_type {
            "ADULT" | "SENIOR" | "YOUNG" | "STUDENT" => PassengerKind::Adult,
            "CHILD" | "SEATED_INFANT" => PassengerKind::Child,
            "HELD_INFANT" => PassengerKind::Infant,
            _ => return Err(format("unknown travelerType", &pointer)),
        };
        let associated_adult = traveler.get("associatedAdultId").and_then(Value::as_str).map(str::to_owned);
        if kind == PassengerKind::Infant && associated_adult.is_none() {
            return Err(missing(&format!("/travelers[{i}]/associatedAdultId")));
        }
        travelers.push(Traveler { id, kind, traveler_type: traveler_type.to_owned(), associated_adult });
    }
    let n = |k: PassengerKind| u8::try_from(travelers.iter().filter(|t| t.kind == k).count()).unwrap_or(u8::MAX);
    let passengers = Passengers {
        adults: n(PassengerKind::Adult),
        children: n(PassengerKind::Child),
        infants: n(PassengerKind::Infant),
    };
    match body.get("sources").and_then(Value::as_array) {
        None => return Err(missing("/sources")),
        Some(sources) if !sources.iter().any(|s| s.as_str() == Some("GDS")) => {
            return Err(bad_pointer(572, "INVALID OPTION", "only GDS is available", "/sources"));
        }
        Some(_) => {}
    }
    let criteria = body.get("searchCriteria");
    let max = criteria.and_then(|c| c.get("maxFlightOffers")).and_then(Value::as_u64).unwrap_or(250).clamp(1, 250);
    let filters = criteria.and_then(|c| c.get("flightFilters"));
    let cabin = filters
        .and_then(|f| f.get("cabinRestrictions"))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("cabin"))
        .and_then(Value::as_str);
    let cabin = match cabin {
        None => Cabin::Economy,
        Some(c) => Cabin::parse(c).ok_or_else(|| {
            format(
                "one of ECONOMY, PREMIUM_ECONOMY, BUSINESS, FIRST expected",
                "/searchCriteria/flightFilters/cabinRestrictions[0]/cabin",
            )
        })?,
    };
    let codes = |name: &str| -> Vec<String> {
        filters
            .and_then(|f| f.get("carrierRestrictions"))
            .and_then(|c| c.get(name))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect())
            .unwrap_or_default()
    };
    let max_connections = filters
        .and_then(|f| f.get("connectionRestriction"))
        .and_then(|c| c.get("maxNumberOfConnections"))
        .and_then(Value::as_u64)
        .map_or(2, |m| u8::try_from(m.min(2)).unwrap_or(2));
    let max_price = criteria.and_then(|c| c.get("maxPrice")).and_then(Value::as_u64).map(Decimal::from);
    Ok(Search {
        request: SearchRequest { slices, passengers, cabin, max_connections, currency },
        travelers,
        included: codes("includedCarrierCodes"),
        excluded: codes("excludedCarrierCodes"),
        max_price,
        max: usize::try_from(max).unwrap_or(250),
    })
}

fn generator_error(error: &GenerateError, post: bool) -> Response {
    let field = |slice: usize, name: &str, parameter: &str| {
        if post { format!("/originDestinations[{slice}]/{name}") } else { parameter.to_owned() }
    };
    let send = |code: u32, title: &str, detail: &str, at: &str| {
        if post { bad_pointer(code, title, detail, at) } else { bad_parameter(code, title, detail, at) }
    };
    match error {
        GenerateError::UnknownLocation { slice, destination, code } => {
            let (name, parameter) = if *destination {
                ("destinationLocationCode", "destinationLocationCode")
            } else {
                ("originLocationCode", "originLocationCode")
            };
            send(
                4926,
                "INVALID DATA RECEIVED",
                &format!("No airport or city has the code {code}"),
                &field(*slice, name, parameter),
            )
        }
        GenerateError::SameLocation { slice } => send(
            2668,
            "PARAMETER COMBINATION INVALID/RESTRICTED",
            "Origin and destination are the same place",
            &field(*slice, "destinationLocationCode", "destinationLocationCode"),
        ),
        GenerateError::PastDate { slice } => send(
            425,
            "INVALID DATE",
            "Date/Time is in the past",
            &field(*slice, "departureDateTimeRange/date", if *slice == 0 { "departureDate" } else { "returnDate" }),
        ),
        GenerateError::Passengers => send(
            2668,
            "PARAMETER COMBINATION INVALID/RESTRICTED",
            "1 to 9 seated travellers (at least one adult) and no more infants than adults",
            if post { "/travelers" } else { "adults" },
        ),
        GenerateError::Currency => {
            send(572, "INVALID OPTION", "Currency not supported", if post { "/currencyCode" } else { "currencyCode" })
        }
    }
}

fn host(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned()
}

async fn search_get(State(sandbox): State<Sandbox>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let query = query_map(raw.as_deref());
    let search = match parse_get(&query) {
        Ok(search) => search,
        Err(response) => return response,
    };
    let own = format!("http://{}/v2/shopping/flight-offers?{}", host(&headers), raw.unwrap_or_default());
    respond_search(&sandbox, &search, Some(own), false)
}

async fn search_post(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let search = match parse_post(&body) {
        Ok(search) => search,
        Err(response) => return response,
    };
    respond_search(&sandbox, &search, None, true)
}

fn respond_search(sandbox: &Sandbox, search: &Search, own: Option<String>, post: bool) -> Response {
    let today = Utc::now().date_naive();
    let offers = match generator::generate(Personality::Amadeus, &search.request, today) {
        Ok(offers) => offers,
        Err(e) => return generator_error(&e, post),
    };
    let seats = f64::from(search.request.passengers.seated().max(1));
    let offers: Vec<Offer> = offers
        .into_iter()
        .filter(|o| search.included.is_empty() || search.included.iter().any(|c| c == o.carrier.code))
        .filter(|o| !search.excluded.iter().any(|c| c == o.carrier.code))
        .filter(|o| {
            search
                .max_price
                .is_none_or(|max| o.total() <= max * Decimal::from_f64_retain(seats).unwrap_or(Decimal::ONE))
        })
        .take(sandbox.personality(Personality::Amadeus).settings().offer_cap(search.max))
        .collect();
    let mut data = Vec::with_capacity(offers.len());
    let mut remembered = Vec::with_capacity(offers.len());
    for (i, offer) in offers.iter().enumerate() {
        let id = (i + 1).to_string();
        let Some((text, print)) = search_text(offer, &search.travelers, &id) else {
            tracing::error!("sandbox: an Amadeus offer did not serialise");
            continue;
        };
        remembered.push((print, offer.clone()));
        data.push(text);
    }
    {
        let lifetime = sandbox.personality(Personality::Amadeus).settings().offer_expires_in;
        let mut store = lock(&sandbox.amadeus_store().offers);
        for (fp, offer) in remembered {
            store.insert(fp, Arc::new(Quote { offer, travelers: search.travelers.clone() }), lifetime);
        }
    }
    let mut meta = json!({ "count": data.len() });
    if let (Some(own), Some(map)) = (own, meta.as_object_mut()) {
        map.insert("links".to_owned(), json!({ "self": own }));
    }
    let dictionaries = dictionaries(offers.iter(), search.request.currency);
    json_response(StatusCode::OK, AMADEUS_JSON, &SearchBody { meta, data, dictionaries })
}

/// A Flight Offers Search answer; its offers are already serialised.
#[derive(Serialize)]
struct SearchBody {
    meta: Value,
    data: Vec<Box<RawValue>>,
    dictionaries: Value,
}

// ---------------------------------------------------------------- rendering

fn at(time: chrono::NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M:%S").to_string()
}

// A FlightOffer is a typed struct serialised straight to the wire (a
// search answers dozens; `json!` trees were most of the sandbox's CPU under
// load). Every object's fields are declared in byte order of their names, so
// the serialised text is already the canonical form [`fingerprint`] hashes:
// a search fingerprints the text it sends without building a `Value`
// (`search_text_is_its_own_fingerprint` checks it).

#[derive(Serialize)]
struct EndpointBody<'a> {
    at: String,
    #[serde(rename = "iataCode")]
    iata_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminal: Option<&'a str>,
}

fn endpoint<'a>(code: &'a str, terminal: Option<&'static str>, time: chrono::NaiveDateTime) -> EndpointBody<'a> {
    EndpointBody { at: at(time), iata_code: code, terminal }
}

#[derive(Serialize)]
struct CodeBody {
    code: &'static str,
}

#[derive(Serialize)]
struct OperatingBody {
    #[serde(rename = "carrierCode")]
    carrier_code: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SegmentBody<'a> {
    aircraft: CodeBody,
    arrival: EndpointBody<'a>,
    #[serde(rename = "blacklistedInEU")]
    blacklisted_in_eu: bool,
    carrier_code: &'static str,
    departure: EndpointBody<'a>,
    duration: String,
    id: String,
    number: String,
    number_of_stops: u32,
    operating: OperatingBody,
}

#[derive(Serialize)]
struct ItineraryBody<'a> {
    duration: String,
    segments: Vec<SegmentBody<'a>>,
}

#[derive(Serialize)]
struct FeeBody {
    amount: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PriceBody {
    base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_currency: Option<&'static str>,
    currency: &'static str,
    fees: [FeeBody; 2],
    grand_total: String,
    total: String,
}

#[derive(Serialize)]
struct TaxBody {
    amount: String,
    code: &'static str,
}

#[derive(Serialize)]
struct TravelerPriceBody {
    base: String,
    currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    taxes: Option<[TaxBody; 1]>,
    total: String,
}

#[derive(Serialize)]
struct BagsBody {
    quantity: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FareDetailBody<'a> {
    branded_fare: &'static str,
    cabin: &'static str,
    class: String,
    fare_basis: &'a str,
    included_checked_bags: BagsBody,
    segment_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TravelerPricingBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    associated_adult_id: Option<&'a str>,
    fare_details_by_segment: Vec<FareDetailBody<'a>>,
    fare_option: &'static str,
    price: TravelerPriceBody,
    traveler_id: &'a str,
    traveler_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PricingOptionsBody {
    fare_type: [&'static str; 1],
    included_checked_bags_only: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferBody<'a> {
    id: &'a str,
    instant_ticketing_required: bool,
    itineraries: Vec<ItineraryBody<'a>>,
    last_ticketing_date: String,
    last_ticketing_date_time: String,
    non_homogeneous: bool,
    number_of_bookable_seats: u8,
    one_way: bool,
    price: PriceBody,
    pricing_options: PricingOptionsBody,
    source: &'static str,
    traveler_pricings: Vec<TravelerPricingBody<'a>>,
    #[serde(rename = "type")]
    kind: &'static str,
    validating_airline_codes: [&'static str; 1],
}

/// One FlightOffer; `priced` adds what Flight Offers Price confirms.
fn render_offer<'a>(offer: &'a Offer, travelers: &'a [Traveler], id: &'a str, priced: bool) -> OfferBody<'a> {
    let currency = offer.currency;
    let segments: Vec<(String, &generator::Segment)> =
        offer.segments().enumerate().map(|(i, s)| ((i + 1).to_string(), s)).collect();
    let mut numbered = segments.iter();
    let itineraries = offer
        .itineraries
        .iter()
        .map(|itinerary| ItineraryBody {
            duration: generator::iso_duration(itinerary.minutes()),
            segments: numbered
                .by_ref()
                .take(itinerary.segments.len())
                .map(|(id, s)| SegmentBody {
                    aircraft: CodeBody { code: s.aircraft.code },
                    arrival: endpoint(&s.to.code, s.to_terminal, s.arrival_local()),
                    blacklisted_in_eu: false,
                    carrier_code: s.carrier.code,
                    departure: endpoint(&s.from.code, s.from_terminal, s.departure_local()),
                    duration: generator::iso_duration(s.minutes()),
                    id: id.clone(),
                    number: s.number.to_string(),
                    number_of_stops: 0,
                    operating: OperatingBody { carrier_code: s.carrier.code },
                })
                .collect(),
        })
        .collect();
    let total = offer.total().to_string();
    let price = PriceBody {
        base: offer.base_total().to_string(),
        billing_currency: priced.then_some(currency),
        currency,
        fees: [FeeBody { amount: "0.00", kind: "SUPPLIER" }, FeeBody { amount: "0.00", kind: "TICKETING" }],
        grand_total: total.clone(),
        total,
    };
    let traveler_pricings = travelers
        .iter()
        .filter_map(|t| {
            let fare = offer.fares.iter().find(|f| f.kind == t.kind)?;
            let bags = if t.kind == PassengerKind::Infant { 0 } else { offer.checked_bags };
            Some(TravelerPricingBody {
                associated_adult_id: t.associated_adult.as_deref(),
                fare_details_by_segment: segments
                    .iter()
                    .map(|(id, s)| FareDetailBody {
                        branded_fare: offer.brand,
                        cabin: offer.cabin.amadeus(),
                        class: s.booking_class.to_string(),
                        fare_basis: &s.fare_basis,
                        included_checked_bags: BagsBody { quantity: bags },
                        segment_id: id.clone(),
                    })
                    .collect(),
                fare_option: "STANDARD",
                price: TravelerPriceBody {
                    base: fare.base.to_string(),
                    currency,
                    taxes: priced.then(|| [TaxBody { amount: fare.taxes.to_string(), code: "YQ" }]),
                    total: fare.total().to_string(),
                },
                traveler_id: &t.id,
                traveler_type: &t.traveler_type,
            })
        })
        .collect();
    let last_ticketing = offer.last_ticketing_date.format("%Y-%m-%d").to_string();
    OfferBody {
        id,
        instant_ticketing_required: false,
        itineraries,
        last_ticketing_date: last_ticketing.clone(),
        last_ticketing_date_time: last_ticketing,
        non_homogeneous: false,
        number_of_bookable_seats: offer.seats,
        one_way: false,
        price,
        pricing_options: PricingOptionsBody {
            fare_type: ["PUBLISHED"],
            included_checked_bags_only: offer.checked_bags > 0,
        },
        source: "GDS",
        traveler_pricings,
        kind: "flight-offer",
        validating_airline_codes: [offer.carrier.code],
    }
}

/// A search's offer as sent, and its [`fingerprint`]: the typed text is
/// already canonical (fields in byte order), so it is hashed as it is.
fn search_text(offer: &Offer, travelers: &[Traveler], id: &str) -> Option<(Box<RawValue>, [u8; 32])> {
    let text = serde_json::value::to_raw_value(&render_offer(offer, travelers, id, false)).ok()?;
    let print: [u8; 32] = Sha256::digest(text.get().as_bytes()).into();
    Some((text, print))
}

fn to_object<V: Into<Value>>(map: BTreeMap<String, V>) -> Value {
    Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect::<Map<String, Value>>())
}

fn locations_dictionary<'a>(offers: impl Iterator<Item = &'a Offer>) -> Value {
    let mut locations = BTreeMap::new();
    for segment in offers.flat_map(Offer::segments) {
        for airport in [segment.from, segment.to] {
            locations
                .insert(airport.code.clone(), json!({ "cityCode": airport.city_code, "countryCode": airport.country }));
        }
    }
    to_object(locations)
}

/// `dictionaries` built from the segments actually returned.
fn dictionaries<'a>(offers: impl Iterator<Item = &'a Offer> + Clone, currency: &str) -> Value {
    let mut aircraft = BTreeMap::new();
    let mut carriers_used = BTreeMap::new();
    for segment in offers.clone().flat_map(Offer::segments) {
        aircraft.insert(segment.aircraft.code.to_owned(), segment.aircraft.name);
        carriers_used.insert(segment.carrier.code.to_owned(), segment.carrier.name.to_ascii_uppercase());
    }
    let name = carriers::currency(currency).map_or("", |(_, _, name)| name);
    json!({
        "locations": locations_dictionary(offers),
        "aircraft": to_object(aircraft),
        "currencies": { currency: name },
        "carriers": to_object(carriers_used)
    })
}

// ---------------------------------------------------------------- pricing and orders

fn parse_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|_| bad_pointer(477, "INVALID FORMAT", "The request body is not valid JSON", "/"))
}

/// The `data` of a JSON body whose `data.type` is absent or one of `types`.
fn data_of_type(body: &[u8], types: &[&str]) -> Result<Value, Response> {
    let data = parse_body(body)?.get("data").cloned().unwrap_or(Value::Null);
    match data.get("type").and_then(Value::as_str) {
        Some(kind) if !types.contains(&kind) => {
            let detail = format!("type must be {}", types.first().copied().unwrap_or("known"));
            Err(bad_pointer(477, "INVALID FORMAT", &detail, "/data/type"))
        }
        _ => Ok(data),
    }
}

/// The offers of `data.flightOffers`, each matched to what this sandbox rendered.
fn known_offers(sandbox: &Sandbox, data: &Value) -> Result<Vec<(Value, Arc<Quote>)>, Response> {
    let offers = data.get("flightOffers").and_then(Value::as_array).ok_or_else(|| {
        bad_pointer(32171, "MANDATORY DATA MISSING", "flightOffers is required", "/data/flightOffers")
    })?;
    if offers.is_empty() || offers.len() > 6 {
        return Err(bad_pointer(477, "INVALID FORMAT", "1 to 6 flightOffers expected", "/data/flightOffers"));
    }
    let store = lock(&sandbox.amadeus_store().offers);
    offers
        .iter()
        .enumerate()
        .map(|(i, offer)| match store.quotes.get(&fingerprint(offer)) {
            Some((_, expires)) if Instant::now() >= *expires => Err(bad_pointer(
                4926,
                "INVALID DATA RECEIVED",
                "The flight offer has expired: search again",
                &format!("/data/flightOffers[{i}]"),
            )),
            Some((quote, _)) => Ok((offer.clone(), quote.clone())),
            None => Err(bad_pointer(
                4926,
                "INVALID DATA RECEIVED",
                "The flight offer was altered or is unknown: send it back exactly as returned",
                &format!("/data/flightOffers[{i}]"),
            )),
        })
        .collect()
}

fn offer_id(offer: &Value) -> String {
    match offer.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "1".to_owned(),
    }
}

async fn pricing(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    // The schema says `flight-offer-pricing`, the examples and SDKs
    // `flight-offers-pricing`: both pass.
    let data = match data_of_type(&body, &["flight-offers-pricing", "flight-offer-pricing"]) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let offers = match known_offers(&sandbox, &data) {
        Ok(offers) => offers,
        Err(response) => return response,
    };
    let settings = sandbox.personality(Personality::Amadeus).settings();
    let mut priced = Vec::new();
    let mut quotes = Vec::new();
    for (sent, quote) in &offers {
        let current = quote.offer.drifted(settings.drift_for(&quote.offer));
        let id = offer_id(sent);
        let rendered = serde_json::to_value(render_offer(&current, &quote.travelers, &id, true)).unwrap_or_default();
        quotes.push((fingerprint(&rendered), quote.clone()));
        priced.push((rendered, current));
    }
    {
        let mut store = lock(&sandbox.amadeus_store().offers);
        for (fp, quote) in quotes {
            store.insert(fp, quote, settings.offer_expires_in);
        }
    }
    let travelers: Vec<Value> = offers
        .first()
        .map(|(_, q)| {
            q.travelers
                .iter()
                .map(|t| json!({ "travelerId": t.id, "genderRequired": true, "documentRequired": false,
                                  "dateOfBirthRequired": true, "redressRequiredIfAny": false, "residenceRequired": false }))
                .collect()
        })
        .unwrap_or_default();
    let body = json!({
        "data": {
            "type": "flight-offers-pricing",
            "flightOffers": priced.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
            "bookingRequirements": {
                "emailAddressRequired": true,
                "mobilePhoneNumberRequired": true,
                "travelerRequirements": travelers
            }
        },
        "dictionaries": { "locations": locations_dictionary(priced.iter().map(|(_, o)| o)) }
    });
    json_response(StatusCode::OK, AMADEUS_JSON, &body)
}

fn validate_travelers(data: &Value, offers: &[(Value, Arc<Quote>)]) -> Result<Vec<Value>, Response> {
    let travelers = data
        .get("travelers")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad_pointer(32171, "MANDATORY DATA MISSING", "travelers is required", "/data/travelers"))?;
    let id_of = |t: &Value| match t.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    for (i, traveler) in travelers.iter().enumerate() {
        if id_of(traveler).is_none() {
            return Err(bad_pointer(
                32171,
                "MANDATORY DATA MISSING",
                "id is required",
                &format!("/data/travelers[{i}]/id"),
            ));
        }
        for field in ["firstName", "lastName"] {
            let present = traveler
                .get("name")
                .and_then(|n| n.get(field))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty());
            if !present {
                return Err(bad_pointer(
                    32171,
                    "MANDATORY DATA MISSING",
                    &format!("{field} is required"),
                    &format!("/data/travelers[{i}]/name/{field}"),
                ));
            }
        }
        let pointer = format!("/data/travelers[{i}]/dateOfBirth");
        let birth = traveler
            .get("dateOfBirth")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_pointer(32171, "MANDATORY DATA MISSING", "dateOfBirth is required", &pointer))?;
        if NaiveDate::parse_from_str(birth, "%Y-%m-%d").is_err() {
            return Err(bad_pointer(477, "INVALID FORMAT", "Date format is YYYY-MM-DD", &pointer));
        }
    }
    let ids: Vec<String> = travelers.iter().filter_map(id_of).collect();
    for (_, quote) in offers {
        if let Some(missing) = quote.travelers.iter().find(|t| !ids.contains(&t.id)) {
            return Err(bad_pointer(
                32171,
                "MANDATORY DATA MISSING",
                &format!("traveler {} of the offer has no traveler data", missing.id),
                "/data/travelers",
            ));
        }
    }
    Ok(travelers.clone())
}

fn new_order_id(store: &Store) -> (String, String, String) {
    let n = store.sequence.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(format!("order|{n}|{}", uuid::Uuid::new_v4()).as_bytes());
    let raw = format!("eJz{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..18]));
    // Real ids arrive already percent-encoded (`…%2FMEAAt8Ans%3D`); clients
    // paste them into the path as is, and the router decodes them back.
    let wire = raw.replace('/', "%2F").replace('+', "%2B");
    const PNR: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let pnr: String = digest[18..24].iter().map(|b| char::from(PNR[usize::from(*b) % PNR.len()])).collect();
    (raw, wire, pnr)
}

async fn create_order(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match data_of_type(&body, &["flight-order"]) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let offers = match known_offers(&sandbox, &data) {
        Ok(offers) => offers,
        Err(response) => return response,
    };
    let travelers = match validate_travelers(&data, &offers) {
        Ok(travelers) => travelers,
        Err(response) => return response,
    };
    let settings = sandbox.personality(Personality::Amadeus).settings();
    for (i, (sent, quote)) in offers.iter().enumerate() {
        let current = quote.offer.drifted(settings.drift_for(&quote.offer)).total();
        let requested = sent.get("price").and_then(|p| p.get("grandTotal")).and_then(Value::as_str).unwrap_or("");
        if requested.parse::<Decimal>().ok() != Some(current) {
            return bad_pointer(
                37200,
                "PRICE DISCREPANCY",
                &format!("Current grandTotal price ({current}) is different from request one ({requested})"),
                &format!("/data/flightOffers[{i}]/price/grandTotal"),
            );
        }
    }
    if settings.sell_failure {
        return bad_pointer(34651, "SEGMENT SELL FAILURE", "Could not sell segment 1", "/data/flightOffers[0]");
    }
    let store = sandbox.amadeus_store();
    let (raw, wire, pnr) = new_order_id(store);
    let created_at = Utc::now();
    let now = created_at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    let mut agreement = data
        .get("ticketingAgreement")
        .filter(|a| a.is_object())
        .cloned()
        .unwrap_or_else(|| json!({ "option": "DELAY_TO_CANCEL", "delay": "6D" }));
    let confirmed = agreement.get("option").and_then(Value::as_str) == Some("CONFIRM");
    let hold_expires_at = (!confirmed).then(|| ledger::hold_deadline(created_at, settings.hold_expires_in));
    if let (Some(deadline), Some(map)) = (hold_expires_at, agreement.as_object_mut()) {
        map.insert("dateTime".to_owned(), json!(deadline.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
    }
    let amount: Decimal = offers
        .iter()
        .filter_map(|(sent, _)| sent.get("price")?.get("grandTotal")?.as_str()?.parse::<Decimal>().ok())
        .sum();
    let currency = offers.first().map_or("EUR", |(_, q)| q.offer.currency).to_owned();
    let client_reference =
        data.get("remarks").and_then(|r| r.get("general")).and_then(Value::as_array).and_then(|remarks| {
            remarks.iter().find_map(|r| r.get("text")?.as_str()?.strip_prefix(CLIENT_REMARK).map(str::to_owned))
        });
    let record = OrderRecord {
        personality: Personality::Amadeus,
        id: wire.clone(),
        client_reference,
        amount,
        currency,
        pnr: pnr.clone(),
        created_at,
        hold_expires_at,
        confirmed_at: confirmed.then_some(created_at),
        cancelled_at: None,
        confirmations: 0,
    };
    let flight_offers: Vec<Value> = offers.iter().map(|(sent, _)| sent.clone()).collect();
    let mut order = json!({
        "type": "flight-order",
        "id": wire,
        "queuingOfficeId": "NCE4D31SB",
        "associatedRecords": [{
            "reference": pnr,
            "creationDate": now,
            "originSystemCode": "GDS",
            "flightOfferId": offers.first().map(|(o, _)| offer_id(o)).unwrap_or_default()
        }],
        "flightOffers": flight_offers,
        "travelers": travelers,
        "ticketingAgreement": agreement,
        "automatedProcess": [{ "code": "IMMEDIATE", "queue": { "number": "0", "category": "0" }, "officeId": "NCE4D31SB" }]
    });
    for field in ["remarks", "contacts"] {
        if let (Some(value), Some(map)) = (data.get(field), order.as_object_mut()) {
            map.insert(field.to_owned(), value.clone());
        }
    }
    let envelope = json!({
        "data": order,
        "dictionaries": { "locations": locations_dictionary(offers.iter().map(|(_, q)| &q.offer)) }
    });
    let envelope = if confirmed { ticketed(&envelope) } else { envelope };
    lock(&store.orders).insert(raw, StoredOrder { envelope: envelope.clone(), record });
    ledger::hold_answer(settings.order_delay_ms).await;
    json_response(StatusCode::CREATED, AMADEUS_JSON, &envelope)
}

/// The envelope of a confirmed order: agreement `CONFIRM`, one issued
/// e-ticket per traveller.
fn ticketed(envelope: &Value) -> Value {
    let mut envelope = envelope.clone();
    let Some(order) = envelope.get_mut("data").and_then(Value::as_object_mut) else { return envelope };
    let id = order.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let segment_ids: Vec<Value> = order
        .get("flightOffers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("itineraries")?.as_array().cloned())
        .flatten()
        .filter_map(|i| i.get("segments")?.as_array().cloned())
        .flatten()
        .filter_map(|s| s.get("id").cloned())
        .collect();
    let tickets: Vec<Value> = order
        .get("travelers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            let number = generator::hash64(format_args!("{id}|ticket|{i}")) % 10_000_000_000;
            json!({
                "documentType": "ETICKET",
                "documentNumber": format!("125-{number:010}"),
                "documentStatus": "ISSUED",
                "travelerId": t.get("id").cloned().unwrap_or(Value::Null),
                "segmentIds": segment_ids
            })
        })
        .collect();
    order.insert("ticketingAgreement".to_owned(), json!({ "option": "CONFIRM" }));
    order.insert("tickets".to_owned(), json!(tickets));
    envelope
}

/// The envelope of an order the API still shows (held or confirmed); `None`
/// for unknown, cancelled and lapsed ones, which answer 404.
fn live_order(sandbox: &Sandbox, id: &str) -> Option<Value> {
    let orders = lock(&sandbox.amadeus_store().orders);
    let order = orders.get(id)?;
    matches!(order.record.state(Utc::now()), OrderState::Held | OrderState::Confirmed).then(|| order.envelope.clone())
}

async fn confirm_order(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match data_of_type(&body, &["flight-order"]) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let option = data.get("ticketingAgreement").and_then(|a| a.get("option")).and_then(Value::as_str);
    if option != Some("CONFIRM") {
        return bad_pointer(
            477,
            "INVALID FORMAT",
            "Only ticketingAgreement.option CONFIRM can be set on an existing order",
            "/data/ticketingAgreement/option",
        );
    }
    let envelope = {
        let mut orders = lock(&sandbox.amadeus_store().orders);
        let now = Utc::now();
        let Some(order) = orders.get_mut(&id) else { return not_found("Order not found") };
        match order.record.state(now) {
            OrderState::Cancelled | OrderState::Lapsed => return not_found("Order not found"),
            OrderState::Confirmed => {}
            OrderState::Held => {
                order.envelope = ticketed(&order.envelope);
                order.record.confirmed_at = Some(now);
            }
        }
        order.record.confirmations += 1;
        order.envelope.clone()
    };
    let delay = sandbox.personality(Personality::Amadeus).settings().confirm_delay_ms;
    ledger::hold_answer(delay).await;
    json_response(StatusCode::OK, AMADEUS_JSON, &envelope)
}

async fn get_order(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    match live_order(&sandbox, &id) {
        Some(order) => json_response(StatusCode::OK, AMADEUS_JSON, &order),
        None => not_found("Order not found"),
    }
}

async fn delete_order(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let cancelled = {
        let mut orders = lock(&sandbox.amadeus_store().orders);
        let now = Utc::now();
        match orders.get_mut(&id) {
            Some(order) if matches!(order.record.state(now), OrderState::Held | OrderState::Confirmed) => {
                order.record.cancelled_at = Some(now);
                true
            }
            _ => false,
        }
    };
    if !cancelled {
        return not_found("Order not found");
    }
    ledger::hold_answer(sandbox.personality(Personality::Amadeus).settings().cancel_delay_ms).await;
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

// ---------------------------------------------------------------- reference data

async fn airlines(State(sandbox): State<Sandbox>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let query = query_map(raw.as_deref());
    let Some(codes) = query.get("airlineCodes").filter(|c| !c.is_empty()) else {
        return missing("airlineCodes");
    };
    let codes: Vec<String> = codes.split(',').map(|c| c.trim().to_ascii_uppercase()).collect();
    if !codes.iter().all(|c| is_code(c, 2..=3)) {
        return invalid_format("comma-separated IATA (2) or ICAO (3) airline codes expected", "airlineCodes");
    }
    let reference = ReferenceData::embedded();
    let data: Vec<Value> = codes
        .iter()
        .filter_map(|code| {
            let airline = if code.len() == 2 {
                reference.airline(code)
            } else {
                reference.airlines().filter(|a| &a.icao == code).min_by(|a, b| a.code.cmp(&b.code))
            }?;
            let name = carriers::carrier_by_code(&airline.code).map_or(airline.name.as_str(), |c| c.name);
            Some(json!({
                "type": "airline",
                "iataCode": airline.code,
                "icaoCode": airline.icao,
                "businessName": airline.name.to_ascii_uppercase(),
                "commonName": name.to_ascii_uppercase()
            }))
        })
        .collect();
    let own = format!("http://{}/v1/reference-data/airlines?{}", host(&headers), raw.unwrap_or_default());
    json_response(
        StatusCode::OK,
        AMADEUS_JSON,
        &json!({ "meta": { "count": data.len(), "links": { "self": own } }, "data": data }),
    )
}

fn region_code(country: &str) -> &'static str {
    match carriers::region_of(country) {
        Region::Europe => "EUROP",
        Region::NorthAmerica => "NAMER",
        Region::LatinAmerica => "SAMER",
        Region::MiddleEast => "MEAST",
        Region::Africa => "AFRIC",
        Region::Asia => "ASIA",
        Region::Oceania => "SWPAC",
    }
}

fn utc_offset(zone: chrono_tz::Tz) -> String {
    use chrono::Offset as _;
    let seconds = Utc::now().with_timezone(&zone).offset().fix().local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A Location (`A`+IATA airport or `C`+IATA city), or None for an unknown id.
fn location_by_id(id: &str, host: &str) -> Option<Value> {
    let reference = ReferenceData::embedded();
    let (kind, code) = id.split_at_checked(1)?;
    match kind {
        "A" => {
            let airport = reference.airport(code)?;
            let score = match airport.size {
                AirportSize::Large => 30 + generator::hash64(code) % 70,
                AirportSize::Medium => 5 + generator::hash64(code) % 25,
                _ => generator::hash64(code) % 5,
            };
            let city_name = if airport.city_name.is_empty() { &airport.name } else { &airport.city_name };
            Some(json!({
                "type": "location",
                "subType": "AIRPORT",
                "name": airport.name.to_ascii_uppercase(),
                "detailedName": format!("{}/{}:{}", city_name.to_ascii_uppercase(), airport.country, airport.name.to_ascii_uppercase()),
                "id": id,
                "self": { "href": format!("http://{host}/v1/reference-data/locations/{id}"), "methods": ["GET"] },
                "timeZoneOffset": utc_offset(airport.time_zone),
                "iataCode": airport.code,
                "geoCode": { "latitude": airport.latitude, "longitude": airport.longitude },
                "address": {
                    "cityName": city_name.to_ascii_uppercase(),
                    "cityCode": airport.city_code,
                    "countryCode": airport.country,
                    "regionCode": region_code(&airport.country)
                },
                "analytics": { "travelers": { "score": score } }
            }))
        }
        "C" => {
            // A multi-airport city, or a city one airport serves under its own code.
            let (name, country, first) = match reference.city(code) {
                Some(city) => (city.name.clone(), city.country.clone(), reference.airports_for(code).first().copied()),
                None => {
                    let airport = reference.airport(code).filter(|a| a.city_code == a.code)?;
                    let name =
                        if airport.city_name.is_empty() { airport.name.clone() } else { airport.city_name.clone() };
                    (name, airport.country.clone(), Some(airport))
                }
            };
            let first = first?;
            Some(json!({
                "type": "location",
                "subType": "CITY",
                "name": name.to_ascii_uppercase(),
                "detailedName": format!("{}/{}", name.to_ascii_uppercase(), country),
                "id": id,
                "self": { "href": format!("http://{host}/v1/reference-data/locations/{id}"), "methods": ["GET"] },
                "timeZoneOffset": utc_offset(first.time_zone),
                "iataCode": code,
                "geoCode": { "latitude": first.latitude, "longitude": first.longitude },
                "address": {
                    "cityName": name.to_ascii_uppercase(),
                    "countryCode": country,
                    "regionCode": region_code(&country)
                },
                "analytics": { "travelers": { "score": 50 + generator::hash64(code) % 50 } }
            }))
        }
        _ => None,
    }
}

fn location_link(host: &str, query: &HashMap<String, String>, limit: usize, offset: usize) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for key in ["subType", "keyword", "countryCode", "view", "sort"] {
        if let Some(value) = query.get(key) {
            pairs.append_pair(key, value);
        }
    }
    // The SDKs split on this literal, brackets encoded in upper case.
    format!(
        "http://{host}/v1/reference-data/locations?{}&page%5Blimit%5D={limit}&page%5Boffset%5D={offset}",
        pairs.finish()
    )
}

async fn locations(State(sandbox): State<Sandbox>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let query = query_map(raw.as_deref());
    let Some(sub_types) = query.get("subType").filter(|s| !s.is_empty()) else { return missing("subType") };
    let mut want_airports = false;
    let mut want_cities = false;
    for sub_type in sub_types.split(',') {
        match sub_type.trim() {
            "AIRPORT" => want_airports = true,
            "CITY" => want_cities = true,
            _ => return bad_parameter(572, "INVALID OPTION", "subType is a list of AIRPORT, CITY", "subType"),
        }
    }
    let Some(keyword) = query.get("keyword").filter(|k| !k.trim().is_empty()) else { return missing("keyword") };
    if !keyword.chars().all(|c| c.is_alphanumeric() || " ./:-'()\"".contains(c)) {
        return invalid_format("keyword has characters outside A-Za-z0-9./:-'()\"", "keyword");
    }
    let number = |name: &str, default: usize, min: usize| -> Result<usize, Response> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => {
                v.parse::<usize>().ok().filter(|n| *n >= min).ok_or_else(|| invalid_format("an integer expected", name))
            }
        }
    };
    let limit = match number("page[limit]", 10, 1) {
        Ok(limit) => limit.min(100),
        Err(response) => return response,
    };
    let offset = match number("page[offset]", 0, 0) {
        Ok(offset) => offset,
        Err(response) => return response,
    };
    let country = query.get("countryCode");
    let host = host(&headers);
    let reference = ReferenceData::embedded();
    let mut ids: Vec<String> = Vec::new();
    for place in reference.search(keyword, 200) {
        if country.is_some_and(|c| c != &place.country_code) {
            continue;
        }
        let mut push = |id: String| {
            if !ids.contains(&id) {
                ids.push(id);
            }
        };
        match place.kind {
            PlaceKind::City => {
                if want_cities {
                    push(format!("C{}", place.code));
                }
                if want_airports {
                    for airport in reference.airports_for(&place.code).into_iter().filter(|a| a.scheduled) {
                        push(format!("A{}", airport.code));
                    }
                }
            }
            PlaceKind::Airport => {
                let own_city = reference.airport(&place.code).is_some_and(|a| a.city_code == a.code);
                if want_cities && own_city {
                    push(format!("C{}", place.code));
                }
                if want_airports {
                    push(format!("A{}", place.code));
                }
            }
        }
    }
    let total = ids.len();
    let data: Vec<Value> = ids.iter().skip(offset).take(limit).filter_map(|id| location_by_id(id, &host)).collect();
    let mut links = Map::new();
    links.insert("self".to_owned(), json!(location_link(&host, &query, limit, offset)));
    if offset + limit < total {
        links.insert("next".to_owned(), json!(location_link(&host, &query, limit, offset + limit)));
    }
    if offset > 0 {
        links.insert("previous".to_owned(), json!(location_link(&host, &query, limit, offset.saturating_sub(limit))));
    }
    links.insert("first".to_owned(), json!(location_link(&host, &query, limit, 0)));
    let last = if total == 0 { 0 } else { (total - 1) / limit * limit };
    links.insert("last".to_owned(), json!(location_link(&host, &query, limit, last)));
    json_response(StatusCode::OK, AMADEUS_JSON, &json!({ "meta": { "count": total, "links": links }, "data": data }))
}

async fn location(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let well_formed = id.len() == 4 && (id.starts_with('A') || id.starts_with('C')) && is_code(&id[1..], 3..=3);
    if !well_formed {
        return error(
            StatusCode::BAD_REQUEST,
            572,
            "INVALID OPTION",
            "A location id is A or C followed by an IATA code (AMUC, CPAR)",
            Some(json!({ "parameter": "locationId" })),
        );
    }
    let host = host(&headers);
    match location_by_id(&id, &host) {
        Some(location) => json_response(
            StatusCode::OK,
            AMADEUS_JSON,
            &json!({ "meta": { "links": { "self": format!("http://{host}/v1/reference-data/locations/{id}") } },
                     "data": location }),
        ),
        None => not_found("No location has this id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::generator::{Cabin, Passengers, Personality, SearchRequest, SliceRequest};

    #[test]
    fn search_text_is_its_own_fingerprint() {
        let today = Utc::now().date_naive();
        let date = today + chrono::Days::new(30);
        let passengers = Passengers { adults: 2, children: 1, infants: 1 };
        let slice = |from: &str, to: &str, date| SliceRequest { origin: from.into(), destination: to.into(), date };
        let request = SearchRequest {
            slices: vec![slice("LON", "NYC", date), slice("NYC", "LON", date + chrono::Days::new(7))],
            passengers,
            cabin: Cabin::Economy,
            max_connections: 2,
            currency: "EUR",
        };
        let offers = generator::generate(Personality::Amadeus, &request, today).expect("offers");
        let travelers = travelers_for(passengers);
        assert!(offers.len() > 10 && travelers.iter().any(|t| t.associated_adult.is_some()));
        for (i, offer) in offers.iter().take(20).enumerate() {
            let (text, print) = search_text(offer, &travelers, &(i + 1).to_string()).expect("serialises");
            // What pricing computes from the offer a client sends back, keys in any order.
            let sent: Value = serde_json::from_str(text.get()).expect("json");
            assert_eq!(fingerprint(&sent), print, "offer {i}: the typed fields are not in byte order");
            assert_eq!(sent["type"], "flight-offer");
            assert_eq!(sent["travelerPricings"].as_array().map(Vec::len), Some(travelers.len()));
            assert!(sent["price"].get("billingCurrency").is_none(), "only priced offers carry it");
        }
    }
}
