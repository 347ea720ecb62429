//! The Duffel personality under `/air/…`: offer requests that return
//! offers, single-offer re-pricing with real expiry, offer listing, hold
//! and instant orders, and the two-step order cancellation, in Duffel's
//! wire format (`{"data":…}` envelopes, `orq_`/`off_`/`pas_`/`ord_`/`ore_`
//! ids, zero-padded `PT02H26M` durations, string money, and the
//! `{meta:{status, request_id}, errors:[…]}` error body).
//!
//! Hold orders lapse `holdExpiresIn` seconds after creation (their
//! `payment_required_by`) unless paid with `POST /air/payments`; a lapsed
//! hold then reads as released by the airline at that moment
//! (`cancelled_at` = `payment_required_by`, nothing paid). Paying twice,
//! or paying a cancelled or lapsed order, is refused (422
//! `invalid_state_error`), as is paying another amount (`price_changed`).
//! Every order is in the [`super::ledger`].
//!
//! Every call must carry `Duffel-Version: v2` (400 otherwise, as Duffel
//! rejects unversioned calls) and the configured Bearer token. Offers are
//! the generator's, priced the Duffel way; ids are unique per offer request
//! (as Duffel's are) while the offers' content stays deterministic.

#![allow(
    clippy::result_large_err,
    reason = "validation returns the ready error response; it is the cold path and 128 bytes"
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::generator::{self, Cabin, GenerateError, Offer, Passengers, Personality, SearchRequest, SliceRequest};
use super::ledger::{self, OrderRecord, OrderState};
use super::{Fault, Sandbox, json_response, lock};
use crate::reference::{Airport, ReferenceData};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Offers kept after they expire, so a late GET still says "expired", not "unknown".
const KEEP_EXPIRED: Duration = Duration::hours(2);
/// The order `metadata` key Wayfarer's adapter puts its booking id under,
/// read into the ledger.
const CLIENT_REFERENCE_KEY: &str = "wayfarer_booking_id";

/// The Duffel routes (state: the sandbox).
pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/air/offer_requests", post(create_offer_request))
        .route("/air/offers", get(list_offers))
        .route("/air/offers/{id}", get(get_offer))
        .route("/air/orders", post(create_order))
        .route("/air/orders/{id}", get(get_order))
        .route("/air/payments", post(create_payment))
        .route("/air/order_cancellations", post(create_cancellation))
        .route("/air/order_cancellations/{id}/actions/confirm", post(confirm_cancellation))
}

/// Offer requests, offers, orders and cancellations in memory.
#[derive(Debug, Default)]
pub(super) struct Store {
    offers: Mutex<HashMap<String, StoredOffer>>,
    requests: Mutex<HashMap<String, Vec<String>>>,
    orders: Mutex<HashMap<String, StoredOrder>>,
    cancellations: Mutex<HashMap<String, StoredCancellation>>,
    sequence: AtomicU64,
    /// Offers held when expired ones are next swept: twice what the last
    /// sweep left, so sweeping stays amortised O(1) per offer instead of a
    /// scan of every offer on every request.
    sweep_at: std::sync::atomic::AtomicUsize,
}

impl Store {
    /// Every order's lifecycle, for the ledger.
    pub(super) fn order_records(&self) -> Vec<OrderRecord> {
        lock(&self.orders).values().map(|o| o.record.clone()).collect()
    }

    /// Forgets every order and cancellation (`/_sandbox/reset`).
    pub(super) fn clear_orders(&self) {
        lock(&self.orders).clear();
        lock(&self.cancellations).clear();
    }

    /// A fresh id: unique (sequence and randomness), hex like Duffel's.
    fn id(&self, prefix: &str) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}", generator::hash_hex(format_args!("{prefix}|{n}|{}", uuid::Uuid::new_v4()), 22))
    }
}

#[derive(Debug, Clone)]
struct Passenger {
    id: String,
    /// `adult`, `child` or `infant_without_seat`.
    kind: &'static str,
    age: Option<u64>,
}

#[derive(Debug, Clone)]
struct StoredOffer {
    offer: Offer,
    passengers: Vec<Passenger>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct StoredOrder {
    id: String,
    kind: String,
    offer: Offer,
    offer_id: String,
    passengers: Vec<Value>,
    metadata: Value,
    /// Reference, times and state (`pnr` is the booking reference).
    record: OrderRecord,
}

impl StoredOrder {
    /// When it was cancelled, by us or — a lapsed hold — by the airline at
    /// its deadline.
    fn cancelled_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.record.cancelled_at.or_else(|| self.record.lapsed_at(now))
    }
}

#[derive(Debug, Clone)]
struct StoredCancellation {
    id: String,
    order_id: String,
    refund_amount: Decimal,
    refund_currency: &'static str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// A JSON response with Duffel's `x-request-id`.
fn respond(status: StatusCode, body: &impl Serialize, request_id: &str) -> Response {
    let mut response = json_response(status, "application/json", body);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// `{ "data": … }`.
#[derive(Serialize)]
struct DataBody<T> {
    data: T,
}

fn ok(status: StatusCode, data: impl Serialize) -> Response {
    respond(status, &DataBody { data }, &request_id())
}

/// A Duffel error body.
pub(super) fn error(status: StatusCode, kind: &str, code: &str, title: &str, message: &str) -> Response {
    error_at(status, kind, code, title, message, None)
}

fn error_at(status: StatusCode, kind: &str, code: &str, title: &str, message: &str, field: Option<&str>) -> Response {
    let id = request_id();
    let mut item = json!({
        "type": kind,
        "title": title,
        "message": message,
        "documentation_url": format!("https://duffel.com/docs/api/overview/errors#{code}"),
        "code": code
    });
    if let (Some(field), Some(map)) = (field, item.as_object_mut()) {
        map.insert("source".to_owned(), json!({ "field": field, "pointer": format!("/{}", field.replace('.', "/")) }));
    }
    respond(status, &json!({ "meta": { "status": status.as_u16(), "request_id": id }, "errors": [item] }), &id)
}

fn invalid(field: &str, message: &str) -> Response {
    error_at(StatusCode::BAD_REQUEST, "validation_error", "invalid_value", "Invalid value", message, Some(field))
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "not_found",
        "Not found",
        &format!("The {what} was not found"),
    )
}

fn invalid_state(code: &str, title: &str, message: &str) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_state_error", code, title, message)
}

/// Injected faults in Duffel's shapes.
pub(super) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Outage => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "service_unavailable",
            "Service unavailable",
            "The service is temporarily unavailable (sandbox outage); retry later",
        ),
        Fault::RateLimited => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            "Rate limit exceeded",
            "Too many requests; retry after a short wait",
        ),
        Fault::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_server_error",
            "Internal server error",
            "Injected by the sandbox",
        ),
    }
}

/// Version header first (Duffel refuses unversioned calls), then the token.
fn authorize(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
    let version = headers.get("duffel-version").and_then(|v| v.to_str().ok());
    if version != Some("v2") {
        let message = match version {
            None => "The Duffel-Version header is required; the supported version is v2".to_owned(),
            Some(v) => format!("Version {v:?} is not supported; use Duffel-Version: v2"),
        };
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported_version",
            "Unsupported version",
            &message,
        ));
    }
    let header = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing_authorization_header",
            "Missing authorization header",
            "Send Authorization: Bearer <access token>",
        ));
    };
    if token != sandbox.config().duffel_token {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "access_token_not_found",
            "Access token not found",
            "The access token was not recognised",
        ));
    }
    Ok(())
}

fn parse_body(body: &[u8]) -> Result<Value, Response> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "malformed_json",
            "Malformed JSON",
            "The body is not valid JSON",
        )
    })?;
    match value.get("data") {
        Some(data) if data.is_object() => Ok(data.clone()),
        _ => Err(invalid("data", "The body must be {\"data\": {...}}")),
    }
}

// ---------------------------------------------------------------- rendering

fn place(code: &str) -> Value {
    let reference = ReferenceData::embedded();
    if let Some(city) = reference.city(code) {
        return json!({
            "type": "city",
            "id": format!("cit_{}_{}", code.to_ascii_lowercase(), city.country.to_ascii_lowercase()),
            "iata_code": city.code,
            "iata_city_code": city.code,
            "iata_country_code": city.country,
            "name": city.name
        });
    }
    match reference.airport(code) {
        Some(airport) => json!(airport_place(airport)),
        None => json!({ "type": "airport", "iata_code": code }),
    }
}

// Offers, slices and their parts are typed structs serialised straight to
// the wire: a search answers dozens of offers of ≈ 5 KiB each, and building
// them as `json!` trees (an IndexMap per object) was most of the sandbox's
// CPU under load.

#[derive(Serialize)]
struct AirportBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    iata_code: &'a str,
    icao_code: &'a str,
    name: &'a str,
    city_name: &'a str,
    iata_city_code: &'a str,
    iata_country_code: &'a str,
    latitude: f64,
    longitude: f64,
    time_zone: &'static str,
}

fn airport_place(airport: &Airport) -> AirportBody<'_> {
    AirportBody {
        kind: "airport",
        id: format!("arp_{}_{}", airport.code.to_ascii_lowercase(), airport.country.to_ascii_lowercase()),
        iata_code: &airport.code,
        icao_code: &airport.icao,
        name: &airport.name,
        city_name: &airport.city_name,
        iata_city_code: &airport.city_code,
        iata_country_code: &airport.country,
        latitude: airport.latitude,
        longitude: airport.longitude,
        time_zone: airport.time_zone.name(),
    }
}

#[derive(Serialize)]
struct CarrierBody<'a> {
    id: String,
    iata_code: &'a str,
    name: &'a str,
    logo_symbol_url: Option<&'a str>,
    logo_lockup_url: Option<&'a str>,
    conditions_of_carriage_url: Option<&'a str>,
}

fn carrier<'a>(code: &'a str, name: &'a str) -> CarrierBody<'a> {
    CarrierBody {
        id: format!("arl_{}", generator::hash_hex(code, 22)),
        iata_code: code,
        name,
        logo_symbol_url: None,
        logo_lockup_url: None,
        conditions_of_carriage_url: None,
    }
}

fn passenger_kind(kind: &str) -> &'static str {
    match kind {
        "child" => "child",
        "infant_without_seat" => "infant_without_seat",
        _ => "adult",
    }
}

#[derive(Serialize)]
struct Baggage {
    #[serde(rename = "type")]
    kind: &'static str,
    quantity: u32,
}

#[derive(Serialize)]
struct SegmentPassengerBody<'a> {
    passenger_id: &'a str,
    cabin_class: &'static str,
    cabin_class_marketing_name: &'static str,
    fare_basis_code: &'a str,
    baggages: [Baggage; 2],
}

#[derive(Serialize)]
struct AircraftBody {
    iata_code: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
struct SegmentBody<'a> {
    id: String,
    origin: AirportBody<'a>,
    destination: AirportBody<'a>,
    origin_terminal: Option<&'static str>,
    destination_terminal: Option<&'static str>,
    departing_at: String,
    arriving_at: String,
    duration: String,
    distance: String,
    marketing_carrier: CarrierBody<'a>,
    marketing_carrier_flight_number: String,
    operating_carrier: CarrierBody<'a>,
    operating_carrier_flight_number: String,
    aircraft: AircraftBody,
    stops: [(); 0],
    passengers: Vec<SegmentPassengerBody<'a>>,
}

#[derive(Serialize)]
struct SliceBody<'a> {
    id: String,
    origin: AirportBody<'a>,
    destination: AirportBody<'a>,
    origin_type: &'static str,
    destination_type: &'static str,
    duration: String,
    fare_brand_name: String,
    segments: Vec<SegmentBody<'a>>,
}

fn render_slices<'a>(offer: &'a Offer, id: &str, passengers: &'a [Passenger]) -> Vec<SliceBody<'a>> {
    offer
        .itineraries
        .iter()
        .enumerate()
        // The generator never builds an itinerary without segments.
        .filter_map(|(i, itinerary)| {
            let (first, last) = (itinerary.segments.first()?, itinerary.segments.last()?);
            let segments = itinerary
                .segments
                .iter()
                .enumerate()
                .map(|(j, s)| SegmentBody {
                    id: format!("seg_{}", generator::hash_hex(format_args!("{id}|{i}|{j}"), 22)),
                    origin: airport_place(s.from),
                    destination: airport_place(s.to),
                    origin_terminal: s.from_terminal,
                    destination_terminal: s.to_terminal,
                    departing_at: s.departure_local().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    arriving_at: s.arrival_local().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    duration: generator::padded_duration(s.minutes()),
                    distance: s.distance_km.to_string(),
                    marketing_carrier: carrier(s.carrier.code, s.carrier.name),
                    marketing_carrier_flight_number: s.number.to_string(),
                    operating_carrier: carrier(s.carrier.code, s.carrier.name),
                    operating_carrier_flight_number: s.number.to_string(),
                    aircraft: AircraftBody { iata_code: s.aircraft.code, name: s.aircraft.name },
                    stops: [],
                    passengers: passengers
                        .iter()
                        .map(|p| SegmentPassengerBody {
                            passenger_id: &p.id,
                            cabin_class: offer.cabin.duffel(),
                            cabin_class_marketing_name: offer.cabin.marketing_name(),
                            fare_basis_code: &s.fare_basis,
                            baggages: [
                                Baggage {
                                    kind: "checked",
                                    quantity: if p.kind == "infant_without_seat" {
                                        0
                                    } else {
                                        u32::from(offer.checked_bags)
                                    },
                                },
                                Baggage { kind: "carry_on", quantity: 1 },
                            ],
                        })
                        .collect(),
                })
                .collect();
            Some(SliceBody {
                id: format!("sli_{}", generator::hash_hex(format_args!("{id}|{i}"), 22)),
                origin: airport_place(first.from),
                destination: airport_place(last.to),
                origin_type: "airport",
                destination_type: "airport",
                duration: generator::padded_duration(itinerary.minutes()),
                fare_brand_name: capitalize(&offer.brand.to_ascii_lowercase()),
                segments,
            })
        })
        .collect()
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[derive(Serialize)]
struct PassengerBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    age: Option<u64>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
}

fn render_passengers(passengers: &[Passenger]) -> Vec<PassengerBody<'_>> {
    passengers
        .iter()
        .map(|p| PassengerBody { id: &p.id, kind: p.kind, age: p.age, given_name: None, family_name: None })
        .collect()
}

#[derive(Serialize)]
struct ConditionBody<'a> {
    allowed: bool,
    penalty_amount: String,
    penalty_currency: &'a str,
}

#[derive(Serialize)]
struct ConditionsBody<'a> {
    refund_before_departure: ConditionBody<'a>,
    change_before_departure: ConditionBody<'a>,
}

fn conditions(offer: &Offer) -> ConditionsBody<'_> {
    let penalty = if offer.refundable { "0.00".to_owned() } else { offer.base_total().to_string() };
    ConditionsBody {
        refund_before_departure: ConditionBody {
            allowed: offer.refundable,
            penalty_amount: penalty,
            penalty_currency: offer.currency,
        },
        change_before_departure: ConditionBody {
            allowed: true,
            penalty_amount: if offer.refundable { "0.00" } else { "50.00" }.to_owned(),
            penalty_currency: offer.currency,
        },
    }
}

#[derive(Serialize)]
struct PaymentRequirementsBody {
    requires_instant_payment: bool,
    payment_required_by: String,
    price_guarantee_expires_at: String,
}

#[derive(Serialize)]
struct OfferBody<'a> {
    id: &'a str,
    live_mode: bool,
    created_at: String,
    updated_at: String,
    expires_at: String,
    total_amount: String,
    total_currency: &'a str,
    base_amount: String,
    base_currency: &'a str,
    tax_amount: String,
    tax_currency: &'a str,
    total_emissions_kg: String,
    owner: CarrierBody<'a>,
    slices: Vec<SliceBody<'a>>,
    passengers: Vec<PassengerBody<'a>>,
    conditions: ConditionsBody<'a>,
    payment_requirements: PaymentRequirementsBody,
    passenger_identity_documents_required: bool,
    supported_passenger_identity_document_types: [&'static str; 1],
    /// Only the single-offer GET lists services.
    #[serde(skip_serializing_if = "Option::is_none")]
    available_services: Option<[(); 0]>,
}

fn render_offer<'a>(id: &'a str, stored: &'a StoredOffer, offer: &'a Offer) -> OfferBody<'a> {
    let emissions: u32 = offer.segments().map(|s| s.distance_km / 10).sum();
    OfferBody {
        id,
        live_mode: false,
        created_at: timestamp(stored.created_at),
        updated_at: timestamp(stored.created_at),
        expires_at: timestamp(stored.expires_at),
        total_amount: offer.total().to_string(),
        total_currency: offer.currency,
        base_amount: offer.base_total().to_string(),
        base_currency: offer.currency,
        tax_amount: offer.tax_total().to_string(),
        tax_currency: offer.currency,
        total_emissions_kg: emissions.to_string(),
        owner: carrier(offer.carrier.code, offer.carrier.name),
        slices: render_slices(offer, id, &stored.passengers),
        passengers: render_passengers(&stored.passengers),
        conditions: conditions(offer),
        payment_requirements: PaymentRequirementsBody {
            requires_instant_payment: false,
            payment_required_by: timestamp(stored.expires_at),
            price_guarantee_expires_at: timestamp(stored.expires_at),
        },
        passenger_identity_documents_required: false,
        supported_passenger_identity_document_types: ["passport"],
        available_services: None,
    }
}

// ---------------------------------------------------------------- offer requests

struct OfferRequest {
    search: SearchRequest,
    passengers: Vec<(&'static str, Option<u64>)>,
    slices: Vec<Value>,
}

fn parse_offer_request(data: &Value) -> Result<OfferRequest, Response> {
    let slices = data
        .get("slices")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("data.slices", "At least one slice is required"))?;
    if slices.len() > 6 {
        return Err(invalid("data.slices", "At most 6 slices"));
    }
    let mut requested = Vec::new();
    let mut echo = Vec::new();
    for (i, slice) in slices.iter().enumerate() {
        let code = |name: &str| -> Result<String, Response> {
            let field = format!("data.slices.{i}.{name}");
            match slice.get(name).and_then(Value::as_str) {
                Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(c.to_owned()),
                Some(_) => Err(invalid(&field, "must be a 3-letter IATA airport or city code")),
                None => Err(invalid(&field, "is required")),
            }
        };
        let origin = code("origin")?;
        let destination = code("destination")?;
        let field = format!("data.slices.{i}.departure_date");
        let day = slice.get("departure_date").and_then(Value::as_str).ok_or_else(|| invalid(&field, "is required"))?;
        let day =
            NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| invalid(&field, "must be a date (YYYY-MM-DD)"))?;
        echo.push(json!({
            "origin": place(&origin),
            "destination": place(&destination),
            "origin_type": if ReferenceData::embedded().city(&origin).is_some() { "city" } else { "airport" },
            "destination_type": if ReferenceData::embedded().city(&destination).is_some() { "city" } else { "airport" },
            "departure_date": day.format("%Y-%m-%d").to_string()
        }));
        requested.push(SliceRequest { origin, destination, date: day });
    }
    let list = data
        .get("passengers")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid("data.passengers", "At least one passenger is required"))?;
    let mut passengers = Vec::new();
    for (i, passenger) in list.iter().enumerate() {
        let field = format!("data.passengers.{i}");
        let kind = match (passenger.get("type").and_then(Value::as_str), passenger.get("age").and_then(Value::as_u64)) {
            (Some(kind @ ("adult" | "child" | "infant_without_seat")), age) => (passenger_kind(kind), age),
            (Some(_), _) => {
                return Err(invalid(&format!("{field}.type"), "must be adult, child or infant_without_seat"));
            }
            (None, Some(age)) if age < 2 => ("infant_without_seat", Some(age)),
            (None, Some(age)) if age < 12 => ("child", Some(age)),
            (None, Some(age)) if age < 130 => ("adult", Some(age)),
            (None, _) => return Err(invalid(&field, "needs a type or an age")),
        };
        passengers.push(kind);
    }
    let count = |k: &str| u8::try_from(passengers.iter().filter(|(kind, _)| *kind == k).count()).unwrap_or(u8::MAX);
    let counts = Passengers { adults: count("adult"), children: count("child"), infants: count("infant_without_seat") };
    let cabin = match data.get("cabin_class") {
        None | Some(Value::Null) => Cabin::Economy,
        Some(Value::String(c)) if c == &c.to_ascii_lowercase() => Cabin::parse(c)
            .ok_or_else(|| invalid("data.cabin_class", "must be first, business, premium_economy or economy"))?,
        Some(_) => return Err(invalid("data.cabin_class", "must be first, business, premium_economy or economy")),
    };
    let max_connections = match data.get("max_connections") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_u64()
            .filter(|m| *m <= 2)
            .and_then(|m| u8::try_from(m).ok())
            .ok_or_else(|| invalid("data.max_connections", "must be 0, 1 or 2"))?,
    };
    Ok(OfferRequest {
        search: SearchRequest { slices: requested, passengers: counts, cabin, max_connections, currency: "EUR" },
        passengers,
        slices: echo,
    })
}

fn generator_error(error: &GenerateError) -> Response {
    match error {
        GenerateError::UnknownLocation { slice, destination, code } => invalid(
            &format!("data.slices.{slice}.{}", if *destination { "destination" } else { "origin" }),
            &format!("{code} is not a known airport or city"),
        ),
        GenerateError::SameLocation { slice } => {
            invalid(&format!("data.slices.{slice}.destination"), "The destination must differ from the origin")
        }
        GenerateError::PastDate { slice } => {
            invalid(&format!("data.slices.{slice}.departure_date"), "The departure date must not be in the past")
        }
        GenerateError::Passengers => invalid(
            "data.passengers",
            "1 to 9 passengers with seats, at least one adult, and no more infants than adults",
        ),
        GenerateError::Currency => invalid("data", "Unsupported currency"),
    }
}

#[derive(Serialize)]
struct OfferRequestBody<'a> {
    id: &'a str,
    live_mode: bool,
    created_at: String,
    cabin_class: &'static str,
    slices: &'a [Value],
    passengers: Vec<PassengerBody<'a>>,
    offers: Vec<Box<serde_json::value::RawValue>>,
    client_key: String,
}

async fn create_offer_request(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match parse_body(&body) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let request = match parse_offer_request(&data) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let return_offers = !url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "return_offers" && v == "false");
    let mut offers = match generator::generate(Personality::Duffel, &request.search, Utc::now().date_naive()) {
        Ok(offers) => offers,
        Err(e) => return generator_error(&e),
    };
    let settings = sandbox.personality(Personality::Duffel).settings();
    // Cheapest first, as generated: a capped answer keeps the best fares.
    offers.truncate(settings.offer_cap(offers.len()));
    let store = sandbox.duffel_store();
    let request_id = store.id("orq");
    let passengers: Vec<Passenger> =
        request.passengers.iter().map(|(kind, age)| Passenger { id: store.id("pas"), kind, age: *age }).collect();
    let now = Utc::now();
    let lifetime = settings.offer_expires_in;
    let expires_at = now + Duration::seconds(i64::try_from(lifetime).unwrap_or(i64::MAX / 2_000_000));
    let mut rendered = Vec::new();
    let mut ids = Vec::new();
    {
        let mut stored_offers = lock(&store.offers);
        if stored_offers.len() >= store.sweep_at.load(Ordering::Relaxed) {
            stored_offers.retain(|_, o| o.expires_at + KEEP_EXPIRED > now);
            store.sweep_at.store((stored_offers.len() * 2).max(1_024), Ordering::Relaxed);
        }
        for offer in offers {
            let id = store.id("off");
            let stored = StoredOffer { offer, passengers: passengers.clone(), created_at: now, expires_at };
            if return_offers {
                let offer = stored.offer.drifted(settings.drift_for(&stored.offer));
                // Serialised here: the stored offer moves into the store next.
                match serde_json::value::to_raw_value(&render_offer(&id, &stored, &offer)) {
                    Ok(text) => rendered.push(text),
                    Err(error) => tracing::error!(%error, "sandbox: an offer did not serialise"),
                }
            }
            ids.push(id.clone());
            stored_offers.insert(id, stored);
        }
    }
    lock(&store.requests).insert(request_id.clone(), ids);
    let data = OfferRequestBody {
        id: &request_id,
        live_mode: false,
        created_at: timestamp(now),
        cabin_class: request.search.cabin.duffel(),
        slices: &request.slices,
        passengers: render_passengers(&passengers),
        offers: rendered,
        client_key: generator::hash_hex(format_args!("client|{request_id}"), 40),
    };
    ok(StatusCode::CREATED, data)
}

async fn get_offer(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let stored = lock(&sandbox.duffel_store().offers).get(&id).cloned();
    let Some(stored) = stored else { return not_found("offer") };
    if Utc::now() >= stored.expires_at {
        return offer_expired();
    }
    let settings = sandbox.personality(Personality::Duffel).settings();
    let drifted = stored.offer.drifted(settings.drift_for(&stored.offer));
    let offer = OfferBody { available_services: Some([]), ..render_offer(&id, &stored, &drifted) };
    ok(StatusCode::OK, offer)
}

fn offer_expired() -> Response {
    invalid_state(
        "offer_no_longer_available",
        "Offer no longer available",
        "The offer has expired; create a new offer request",
    )
}

async fn list_offers(State(sandbox): State<Sandbox>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let Some(offer_request) = query.get("offer_request_id") else {
        return invalid("offer_request_id", "offer_request_id is required");
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(limit)) if (1..=200).contains(&limit) => limit,
        Some(_) => return invalid("limit", "must be between 1 and 200"),
    };
    let start = match query.get("after") {
        None => 0,
        Some(cursor) => match decode_cursor(cursor) {
            Some(start) => start,
            None => return invalid("after", "is not a cursor this API returned"),
        },
    };
    let Some(ids) = lock(&sandbox.duffel_store().requests).get(offer_request).cloned() else {
        return not_found("offer request");
    };
    let settings = sandbox.personality(Personality::Duffel).settings();
    let mut offers: Vec<(String, StoredOffer)> = {
        let stored = lock(&sandbox.duffel_store().offers);
        ids.iter().filter_map(|id| stored.get(id).map(|o| (id.clone(), o.clone()))).collect()
    };
    match query.get("sort").map(String::as_str) {
        None | Some("total_amount") => offers.sort_by_key(|(_, o)| o.offer.total()),
        Some("total_duration") => {
            offers.sort_by_key(|(_, o)| o.offer.itineraries.iter().map(generator::Itinerary::minutes).sum::<i64>());
        }
        Some(_) => return invalid("sort", "must be total_amount or total_duration"),
    }
    let drifted: Vec<(&str, &StoredOffer, Offer)> = offers
        .iter()
        .skip(start)
        .take(limit)
        .map(|(id, stored)| (id.as_str(), stored, stored.offer.drifted(settings.drift_for(&stored.offer))))
        .collect();
    let page: Vec<OfferBody<'_>> = drifted.iter().map(|(id, stored, offer)| render_offer(id, stored, offer)).collect();
    let after = (start + limit < offers.len()).then(|| encode_cursor(start + limit));
    let before = (start > 0).then(|| encode_cursor(start.saturating_sub(limit)));
    respond(
        StatusCode::OK,
        &json!({ "data": page, "meta": { "limit": limit, "after": after, "before": before } }),
        &request_id(),
    )
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("offset:")?.parse().ok()
}

// ---------------------------------------------------------------- orders

fn render_order(order: &StoredOrder) -> Value {
    let now = Utc::now();
    let paid_at = order.record.confirmed_at;
    let cancelled_at = order.cancelled_at(now);
    let documents: Vec<Value> = if paid_at.is_none() {
        Vec::new()
    } else {
        order
            .passengers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let number = generator::hash64(format_args!("{}|ticket|{i}", order.id)) % 10_000_000_000;
                json!({
                    "type": "electronic_ticket",
                    "unique_identifier": format!("125{number:010}"),
                    "passenger_ids": [p.get("id").cloned().unwrap_or(Value::Null)]
                })
            })
            .collect()
    };
    let passengers: Vec<Passenger> = order
        .passengers
        .iter()
        .map(|p| Passenger {
            id: p.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            kind: passenger_kind(p.get("type").and_then(Value::as_str).unwrap_or("adult")),
            age: None,
        })
        .collect();
    let actions: Vec<&str> = match (cancelled_at, paid_at) {
        (Some(_), _) => Vec::new(),
        (None, None) => vec!["cancel", "update"],
        (None, Some(_)) => vec!["cancel", "change", "update"],
    };
    let due = order.record.hold_expires_at;
    json!({
        "id": order.id,
        "live_mode": false,
        "type": order.kind,
        "booking_reference": order.record.pnr,
        "created_at": timestamp(order.record.created_at),
        "offer_id": order.offer_id,
        "total_amount": order.offer.total().to_string(),
        "total_currency": order.offer.currency,
        "base_amount": order.offer.base_total().to_string(),
        "base_currency": order.offer.currency,
        "tax_amount": order.offer.tax_total().to_string(),
        "tax_currency": order.offer.currency,
        "owner": carrier(order.offer.carrier.code, order.offer.carrier.name),
        "slices": render_slices(&order.offer, &order.id, &passengers),
        "passengers": order.passengers,
        "payment_status": {
            "awaiting_payment": paid_at.is_none() && cancelled_at.is_none(),
            "payment_required_by": due.map(timestamp),
            "price_guarantee_expires_at": due.map(timestamp),
            "paid_at": paid_at.map(timestamp)
        },
        "documents": documents,
        "services": [],
        "conditions": conditions(&order.offer),
        "available_actions": actions,
        "cancelled_at": cancelled_at.map(timestamp),
        "metadata": order.metadata
    })
}

/// The passengers of an order body, checked against the offer's.
fn order_passengers(data: &Value, offered: &[Passenger]) -> Result<Vec<Value>, Response> {
    let list = data
        .get("passengers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("data.passengers", "The offer's passengers are required"))?;
    let mut passengers = Vec::new();
    for (i, passenger) in list.iter().enumerate() {
        let field = |name: &str| format!("data.passengers.{i}.{name}");
        let text = |name: &str| passenger.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        let id = text("id").ok_or_else(|| invalid(&field("id"), "is required"))?;
        let Some(offered) = offered.iter().find(|p| p.id == id) else {
            return Err(invalid(&field("id"), "is not a passenger of the selected offer"));
        };
        for name in ["given_name", "family_name"] {
            if text(name).is_none() {
                return Err(invalid(&field(name), "is required"));
            }
        }
        let born_on = text("born_on").ok_or_else(|| invalid(&field("born_on"), "is required"))?;
        if NaiveDate::parse_from_str(born_on, "%Y-%m-%d").is_err() {
            return Err(invalid(&field("born_on"), "must be a date (YYYY-MM-DD)"));
        }
        if let Some(gender) = passenger.get("gender")
            && !matches!(gender.as_str(), Some("m" | "f"))
        {
            return Err(invalid(&field("gender"), "must be m or f"));
        }
        let mut echoed = passenger.clone();
        if let Some(map) = echoed.as_object_mut() {
            map.insert("type".to_owned(), json!(offered.kind));
        }
        passengers.push(echoed);
    }
    if let Some(missing) =
        offered.iter().find(|p| !passengers.iter().any(|q| q.get("id").and_then(Value::as_str) == Some(&p.id)))
    {
        return Err(invalid("data.passengers", &format!("passenger {} of the offer is missing", missing.id)));
    }
    Ok(passengers)
}

async fn create_order(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match parse_body(&body) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let kind = match data.get("type").and_then(Value::as_str) {
        Some(kind @ ("instant" | "hold")) => kind.to_owned(),
        None => "instant".to_owned(),
        Some(_) => return invalid("data.type", "must be instant or hold"),
    };
    let selected = data.get("selected_offers").and_then(Value::as_array);
    let offer_id = match selected.map(Vec::as_slice) {
        Some([Value::String(id)]) => id.clone(),
        _ => return invalid("data.selected_offers", "Exactly one offer id is required"),
    };
    let store = sandbox.duffel_store();
    let stored = lock(&store.offers).get(&offer_id).cloned();
    let Some(stored) = stored else { return not_found("offer") };
    if Utc::now() >= stored.expires_at {
        return offer_expired();
    }
    let passengers = match order_passengers(&data, &stored.passengers) {
        Ok(passengers) => passengers,
        Err(response) => return response,
    };
    let settings = sandbox.personality(Personality::Duffel).settings();
    let current = stored.offer.drifted(settings.drift_for(&stored.offer));
    if kind == "instant" {
        let payment = data.get("payments").and_then(Value::as_array).and_then(|p| p.first());
        let Some(payment) = payment else {
            return invalid("data.payments", "An instant order needs one payment");
        };
        if payment.get("type").and_then(Value::as_str) != Some("balance") {
            return invalid("data.payments.0.type", "must be balance");
        }
        let amount = payment.get("amount").and_then(Value::as_str).and_then(|a| a.parse::<Decimal>().ok());
        let currency = payment.get("currency").and_then(Value::as_str);
        if amount != Some(current.total()) || currency != Some(current.currency) {
            return invalid_state(
                "price_changed",
                "Price changed",
                &format!(
                    "The offer now costs {} {}; get the offer again and pay that amount",
                    current.total(),
                    current.currency
                ),
            );
        }
    }
    const PNR: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let order_id = store.id("ord");
    let booking_reference: String = generator::hash_hex(&order_id, 12)
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
            char::from(PNR[usize::from(byte) % PNR.len()])
        })
        .collect();
    let metadata = data.get("metadata").cloned().unwrap_or(Value::Null);
    let created_at = Utc::now();
    let hold = kind == "hold";
    let record = OrderRecord {
        personality: Personality::Duffel,
        id: order_id.clone(),
        client_reference: metadata.get(CLIENT_REFERENCE_KEY).and_then(Value::as_str).map(str::to_owned),
        amount: current.total(),
        currency: current.currency.to_owned(),
        pnr: booking_reference,
        created_at,
        hold_expires_at: hold.then(|| ledger::hold_deadline(created_at, settings.hold_expires_in)),
        confirmed_at: (!hold).then_some(created_at),
        cancelled_at: None,
        confirmations: 0,
    };
    let order = StoredOrder { id: order_id.clone(), kind, offer: current, offer_id, passengers, metadata, record };
    let rendered = render_order(&order);
    lock(&store.orders).insert(order_id, order);
    ledger::hold_answer(settings.order_delay_ms).await;
    ok(StatusCode::CREATED, rendered)
}

async fn get_order(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    match lock(&sandbox.duffel_store().orders).get(&id) {
        Some(order) => ok(StatusCode::OK, render_order(order)),
        None => not_found("order"),
    }
}

fn render_cancellation(cancellation: &StoredCancellation) -> Value {
    json!({
        "id": cancellation.id,
        "live_mode": false,
        "order_id": cancellation.order_id,
        "refund_amount": cancellation.refund_amount.to_string(),
        "refund_currency": cancellation.refund_currency,
        "refund_to": "balance",
        "airline_credits": [],
        "created_at": timestamp(cancellation.created_at),
        "expires_at": timestamp(cancellation.expires_at),
        "confirmed_at": cancellation.confirmed_at.map(timestamp)
    })
}

async fn create_cancellation(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match parse_body(&body) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let Some(order_id) = data.get("order_id").and_then(Value::as_str) else {
        return invalid("data.order_id", "is required");
    };
    let store = sandbox.duffel_store();
    let order = lock(&store.orders).get(order_id).cloned();
    let Some(order) = order else { return not_found("order") };
    if order.cancelled_at(Utc::now()).is_some() {
        return invalid_state("order_already_cancelled", "Order already cancelled", "This order is already cancelled");
    }
    // Unpaid holds refund nothing; paid fares refund fully when refundable,
    // else the taxes only.
    let refund_amount = match (order.record.confirmed_at, order.offer.refundable) {
        (None, _) => Decimal::ZERO,
        (_, true) => order.offer.total(),
        (_, false) => order.offer.tax_total(),
    };
    let now = Utc::now();
    let cancellation = StoredCancellation {
        id: store.id("ore"),
        order_id: order.id.clone(),
        refund_amount: refund_amount.round_dp(2),
        refund_currency: order.offer.currency,
        created_at: now,
        expires_at: now + Duration::minutes(30),
        confirmed_at: None,
    };
    let rendered = render_cancellation(&cancellation);
    lock(&store.cancellations).insert(cancellation.id.clone(), cancellation);
    ok(StatusCode::CREATED, rendered)
}

async fn confirm_cancellation(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let store = sandbox.duffel_store();
    let rendered = {
        let mut cancellations = lock(&store.cancellations);
        let Some(cancellation) = cancellations.get_mut(&id) else { return not_found("order cancellation") };
        if cancellation.confirmed_at.is_some() {
            return invalid_state("already_confirmed", "Already confirmed", "This cancellation is already confirmed");
        }
        let now = Utc::now();
        {
            let mut orders = lock(&store.orders);
            let Some(order) = orders.get_mut(&cancellation.order_id) else { return not_found("order") };
            if order.cancelled_at(now).is_some() {
                return invalid_state(
                    "order_already_cancelled",
                    "Order already cancelled",
                    "This order is already cancelled",
                );
            }
            order.record.cancelled_at = Some(now);
        }
        cancellation.confirmed_at = Some(now);
        render_cancellation(cancellation)
    };
    ledger::hold_answer(sandbox.personality(Personality::Duffel).settings().cancel_delay_ms).await;
    ok(StatusCode::OK, rendered)
}

/// Pays for a held order from the balance: `{data: {order_id, payment:
/// {type: "balance", amount, currency}}}` → 201 with the payment.
async fn create_payment(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&sandbox, &headers) {
        return response;
    }
    let data = match parse_body(&body) {
        Ok(data) => data,
        Err(response) => return response,
    };
    let Some(order_id) = data.get("order_id").and_then(Value::as_str) else {
        return invalid("data.order_id", "is required");
    };
    let payment = data.get("payment").filter(|p| p.is_object());
    let Some(payment) = payment else { return invalid("data.payment", "is required") };
    if payment.get("type").and_then(Value::as_str) != Some("balance") {
        return invalid("data.payment.type", "must be balance");
    }
    let amount = payment.get("amount").and_then(Value::as_str).and_then(|a| a.parse::<Decimal>().ok());
    let Some(amount) = amount else { return invalid("data.payment.amount", "must be a decimal string") };
    let Some(currency) = payment.get("currency").and_then(Value::as_str) else {
        return invalid("data.payment.currency", "is required");
    };
    let store = sandbox.duffel_store();
    let now = Utc::now();
    let rendered = {
        let mut orders = lock(&store.orders);
        let Some(order) = orders.get_mut(order_id) else { return not_found("order") };
        match order.record.state(now) {
            OrderState::Cancelled => {
                return invalid_state(
                    "order_already_cancelled",
                    "Order already cancelled",
                    "This order is cancelled and cannot be paid",
                );
            }
            OrderState::Lapsed => {
                return invalid_state(
                    "order_expired",
                    "Order expired",
                    "The order was not paid before payment_required_by; its space was released",
                );
            }
            OrderState::Confirmed => {
                return invalid_state("already_paid", "Already paid", "This order has already been paid for");
            }
            OrderState::Held => {}
        }
        if amount.round_dp(2) != order.record.amount || currency != order.record.currency {
            return invalid_state(
                "price_changed",
                "Price changed",
                &format!("The order now costs {} {}; pay that amount", order.record.amount, order.record.currency),
            );
        }
        order.record.confirmed_at = Some(now);
        order.record.confirmations += 1;
        json!({
            "id": store.id("pay"),
            "live_mode": false,
            "type": "balance",
            "amount": order.record.amount.to_string(),
            "currency": order.record.currency,
            "created_at": timestamp(now)
        })
    };
    ledger::hold_answer(sandbox.personality(Personality::Duffel).settings().confirm_delay_ms).await;
    ok(StatusCode::CREATED, rendered)
}
