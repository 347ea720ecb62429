//! The Amadeus-style adapter (Self-Service APIs, `reference/providers.md` §1):
//! an OAuth2 client-credentials token cached and refreshed single-flight
//! before expiry, re-authentication once on a 401, and Flight Offers Search v2
//! mapped to the domain model; Flight Offers Price, and Flight Create
//! Orders / Order Management for holding, reading, confirming and
//! cancelling orders.
//!
//! **Holds and confirmation.** Self-Service has no payment or ticketing
//! call: tickets are issued by a consolidator, off the API. An order is
//! therefore created as a hold with `ticketingAgreement: {option:
//! "DELAY_TO_CANCEL", delay: "1D"}` (the airline cancels it unless it is
//! ticketed in time), and its deadline is read back from the agreement —
//! `ticketingAgreement.dateTime` when the answer carries one (the bundled
//! sandbox does, to the second), else the record's creation date plus the
//! delay in days. Confirmation is modelled as the agreement changing to
//! `CONFIRM`: `PATCH /v1/booking/flight-orders/{id}` with `{data: {type:
//! "flight-order", ticketingAgreement: {option: "CONFIRM"}}}`, answered 200
//! with the order, its agreement `CONFIRM` and its `tickets` issued. That
//! PATCH is **a sandbox extension** standing in for the consolidator step;
//! against the real API it is where a consolidator integration would go.
//! Re-creating the order with `CONFIRM` instead would book the seats twice
//! (two PNRs), so it is never done. Amadeus forgets cancelled and lapsed
//! orders (GET and PATCH answer 404), so `confirm_order` reports a 404 as
//! [`ProviderError::OrderGone`]: it is only asked about orders we created.
//!
//! **Client reference.** The booking id travels as a general remark,
//! `remarks.general[{subType: "GENERAL_MISCELLANEOUS", text: "WAYFARER
//! <id>"}]`, and is read back from the order's remarks.
//!
//! Amadeus error bodies are not type-stable (`code` and `status` come as
//! numbers or strings), so they are read loosely. Segment times are local to
//! their airport, without offset, exactly as the domain keeps them.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDateTime, Utc};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock};

use super::{FlightProvider, HttpReply, HttpStats, ProviderError, ProviderHttp, offer_id};
use crate::flights::model::{
    FlightSearch, Itinerary, Money, Offer, OrderContact, OrderTraveler, PassengerType, PricedOffer, ProviderOffer,
    ProviderOrder, ProviderOrderStatus, Segment, SegmentEnd, parse_iso_duration,
};

/// Media type of Amadeus API bodies.
const AMADEUS_JSON: &str = "application/vnd.amadeus+json";
/// Offers are held this long after a search.
const OFFER_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Most offers asked for per search.
const MAX_OFFERS: u32 = 50;
/// The ticketing delay a hold asks for: the shortest the agreement can say
/// (whole days). The booking layer's own, shorter, expiry cancels earlier.
const HOLD_DELAY: &str = "1D";
/// What a general remark carrying our booking id starts with.
const REMARK_PREFIX: &str = "WAYFARER ";

#[derive(Debug, Clone)]
struct Token {
    value: String,
    refresh_at: tokio::time::Instant,
}

/// An airline's name as the Airline Code Lookup gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirlineName {
    /// IATA code.
    pub code: String,
    /// Common (or business) name.
    pub name: String,
}

/// One Airport & City Search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationHit {
    /// IATA code.
    pub code: String,
    /// `AIRPORT` or `CITY`.
    pub sub_type: String,
    /// Name as the API spells it.
    pub name: String,
    /// The city an airport belongs to.
    pub city_code: Option<String>,
}

/// Flight offers from an Amadeus-style API.
#[derive(Debug)]
pub struct AmadeusProvider {
    base_url: String,
    client_id: String,
    client_secret: SecretString,
    http: ProviderHttp,
    token: RwLock<Option<Token>>,
    refreshing: Mutex<()>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
}

// The search body is read once into borrowed slices of its own text: each
// offer's JSON is kept verbatim (`ProviderOffer`) and parsed once more, into
// the typed fields below only — never into a `serde_json::Value` tree.
#[derive(Deserialize)]
struct SearchBody<'a> {
    #[serde(default, borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct PricingBody<'a> {
    #[serde(borrow)]
    data: PricingData<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PricingData<'a> {
    #[serde(default, borrow)]
    flight_offers: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOffer {
    #[serde(default)]
    number_of_bookable_seats: Option<u8>,
    itineraries: Vec<WireItinerary>,
    price: WirePrice,
    #[serde(default)]
    traveler_pricings: Vec<WireTravelerPricing>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTravelerPricing {
    #[serde(default)]
    traveler_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePrice {
    currency: String,
    total: String,
    #[serde(default)]
    grand_total: Option<String>,
}

#[derive(Deserialize)]
struct WireItinerary {
    #[serde(default)]
    duration: Option<String>,
    segments: Vec<WireSegment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSegment {
    departure: WireEnd,
    arrival: WireEnd,
    carrier_code: String,
    number: String,
    #[serde(default)]
    aircraft: Option<WireAircraft>,
    #[serde(default)]
    operating: Option<WireOperating>,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEnd {
    iata_code: String,
    #[serde(default)]
    terminal: Option<String>,
    at: NaiveDateTime,
}

#[derive(Deserialize)]
struct WireAircraft {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOperating {
    #[serde(default)]
    carrier_code: Option<String>,
}

impl AmadeusProvider {
    /// An adapter for the API at `base_url` (no trailing slash).
    pub fn new(base_url: &str, client_id: String, client_secret: SecretString, http: ProviderHttp) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            http,
            token: RwLock::new(None),
            refreshing: Mutex::new(()),
        }
    }

    /// A valid access token: the cached one, or one fetched by a single
    /// refresh that every concurrent caller waits for.
    pub async fn access_token(&self) -> Result<String, ProviderError> {
        if let Some(token) = self.cached_token().await {
            return Ok(token);
        }
        let _refresh = self.refreshing.lock().await;
        if let Some(token) = self.cached_token().await {
            return Ok(token);
        }
        let url = format!("{}/v1/security/oauth2/token", self.base_url);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let reply = self.http.send_idempotent(|| self.http.client().post(&url).form(&form)).await?;
        if reply.status == 401 || reply.status == 400 {
            return Err(ProviderError::Unauthorized(error_detail(&reply)));
        }
        if reply.status != 200 {
            return Err(ProviderError::Unavailable(format!("token endpoint answered {}", reply.status)));
        }
        let body: TokenBody = serde_json::from_slice(&reply.body)
            .map_err(|e| ProviderError::Unavailable(format!("unreadable token: {e}")))?;
        // Refresh a minute early, or a quarter of the lifetime for short tokens.
        let lifetime = Duration::from_secs(body.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 4);
        let token = Token { value: body.access_token, refresh_at: tokio::time::Instant::now() + lifetime - margin };
        let value = token.value.clone();
        *self.token.write().await = Some(token);
        Ok(value)
    }

    async fn cached_token(&self) -> Option<String> {
        let token = self.token.read().await;
        token.as_ref().filter(|t| tokio::time::Instant::now() < t.refresh_at).map(|t| t.value.clone())
    }

    async fn forget_token(&self, used: &str) {
        let mut token = self.token.write().await;
        if token.as_ref().is_some_and(|t| t.value == used) {
            *token = None;
        }
    }

    /// Airline Code Lookup (`GET /v1/reference-data/airlines`): names for IATA codes.
    pub async fn airlines(&self, codes: &[String]) -> Result<Vec<AirlineName>, ProviderError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let data = self.get_data("/v1/reference-data/airlines", &[("airlineCodes", codes.join(","))]).await?;
        Ok(data
            .iter()
            .filter_map(|a| {
                let code = a.get("iataCode")?.as_str()?.to_owned();
                let name = a.get("commonName").or_else(|| a.get("businessName"))?.as_str()?.to_owned();
                Some(AirlineName { code, name })
            })
            .collect())
    }

    /// Airport & City Search (`GET /v1/reference-data/locations`): the first
    /// page of places whose name or code starts with `keyword`.
    pub async fn locations(&self, keyword: &str) -> Result<Vec<LocationHit>, ProviderError> {
        let query = [("subType", "AIRPORT,CITY".to_owned()), ("keyword", keyword.to_owned())];
        let data = self.get_data("/v1/reference-data/locations", &query).await?;
        Ok(data
            .iter()
            .filter_map(|l| {
                Some(LocationHit {
                    code: l.get("iataCode")?.as_str()?.to_owned(),
                    sub_type: l.get("subType")?.as_str()?.to_owned(),
                    name: l.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    city_code: l
                        .get("address")
                        .and_then(|a| a.get("cityCode"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            })
            .collect())
    }

    /// The `data` array of a reference-data GET.
    async fn get_data(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, ProviderError> {
        let reply = self.get(path, query).await?;
        if reply.status != 200 {
            return Err(ProviderError::Rejected(error_detail(&reply)));
        }
        let mut body: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| ProviderError::Unavailable(format!("unreadable {path}: {e}")))?;
        match body.get_mut("data").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Ok(Vec::new()),
        }
    }

    /// GETs an API path with the bearer token, re-authenticating once on 401.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<HttpReply, ProviderError> {
        self.call(reqwest::Method::GET, path, query, None, Delivery::Idempotent).await
    }

    /// Calls an API path with the bearer token, re-authenticating once on 401.
    /// A 401 is refused before anything is done, so even an order may be sent
    /// again with a fresh token: that is not a retry of a booking.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        delivery: Delivery,
    ) -> Result<HttpReply, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ProviderError::Unavailable(format!("cannot encode the request: {e}")))?;
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let build = || {
                let mut request = self
                    .http
                    .client()
                    .request(method.clone(), &url)
                    .query(query)
                    .bearer_auth(&token)
                    .header("accept", AMADEUS_JSON);
                if let Some(body) = &body {
                    request = request.header(reqwest::header::CONTENT_TYPE, AMADEUS_JSON).body(body.clone());
                }
                if delivery == Delivery::IdempotentPost {
                    // Pricing is a read that needs a body: Amadeus takes it as
                    // a POST that says it is a GET.
                    request = request.header("X-HTTP-Method-Override", "GET");
                }
                request
            };
            let reply = match delivery {
                Delivery::Idempotent | Delivery::IdempotentPost => self.http.send_idempotent(build).await?,
                Delivery::Once => self.http.send_once(build()).await?,
            };
            if reply.status == 401 && attempt == 0 {
                self.forget_token(&token).await;
                continue;
            }
            return Ok(reply);
        }
        Err(ProviderError::Unauthorized("the API refused a fresh token".into()))
    }
}

/// How a call may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Safe to repeat: retried on 429, 5xx and connection failures.
    Idempotent,
    /// A read sent as POST with `X-HTTP-Method-Override: GET`; retried too.
    IdempotentPost,
    /// Creates something: sent exactly once.
    Once,
}

#[async_trait]
impl FlightProvider for AmadeusProvider {
    fn name(&self) -> &str {
        "amadeus"
    }

    fn http_stats(&self) -> Option<HttpStats> {
        Some(self.http.stats())
    }

    async fn search(&self, search: &FlightSearch) -> Result<Vec<Offer>, ProviderError> {
        let mut query = vec![
            ("originLocationCode", search.origin.clone()),
            ("destinationLocationCode", search.destination.clone()),
            ("departureDate", search.departure_date.to_string()),
            ("adults", search.passengers.adults.to_string()),
            ("travelClass", search.cabin.amadeus().to_owned()),
            ("nonStop", search.non_stop.to_string()),
            ("currencyCode", search.currency.clone()),
            ("max", MAX_OFFERS.to_string()),
        ];
        if let Some(back) = search.return_date {
            query.push(("returnDate", back.to_string()));
        }
        if search.passengers.children > 0 {
            query.push(("children", search.passengers.children.to_string()));
        }
        if search.passengers.infants > 0 {
            query.push(("infants", search.passengers.infants.to_string()));
        }
        let reply = self.get("/v2/shopping/flight-offers", &query).await?;
        match reply.status {
            200 => map_search(&reply.body),
            401 | 403 => Err(ProviderError::Unauthorized(error_detail(&reply))),
            _ => Err(ProviderError::Rejected(error_detail(&reply))),
        }
    }

    async fn price(&self, offer: &Offer) -> Result<PricedOffer, ProviderError> {
        let body = pricing_body(offer);
        let reply = self
            .call(
                reqwest::Method::POST,
                "/v1/shopping/flight-offers/pricing",
                &[],
                Some(&body),
                Delivery::IdempotentPost,
            )
            .await?;
        match reply.status {
            200 => map_pricing(&reply.body, offer),
            _ => Err(pricing_error(&reply)),
        }
    }

    async fn create_order(
        &self,
        offer: &Offer,
        travelers: &[OrderTraveler],
        contact: &OrderContact,
        client_reference: &str,
    ) -> Result<ProviderOrder, ProviderError> {
        let body = order_body(offer, travelers, contact, client_reference)?;
        // Never retried: Flight Create Orders has no idempotency key, so a
        // second attempt after a lost answer could book the seats twice
        // (two PNRs). A timeout goes back to the caller, who reconciles.
        let reply =
            self.call(reqwest::Method::POST, "/v1/booking/flight-orders", &[], Some(&body), Delivery::Once).await?;
        match reply.status {
            200 | 201 => map_order(&reply.body),
            _ => Err(order_error(&reply, &offer.price.currency)),
        }
    }

    async fn confirm_order(&self, id: &str, amount: &Money) -> Result<ProviderOrder, ProviderError> {
        // The consolidator is paid off the API, so `amount` is not sent; the
        // held price is checked against it instead, so nothing is ticketed
        // at a price the traveller was not charged.
        let order = match self.get_order(id).await {
            Ok(order) => order,
            Err(ProviderError::NotFound) => return Err(ProviderError::OrderGone),
            Err(error) => return Err(error),
        };
        match order.status {
            ProviderOrderStatus::Confirmed => return Ok(order),
            ProviderOrderStatus::Cancelled | ProviderOrderStatus::Lapsed => return Err(ProviderError::OrderGone),
            ProviderOrderStatus::Held => {}
        }
        if order.price != *amount {
            return Err(ProviderError::PriceChanged { current: order.price });
        }
        let body = json!({ "data": { "type": "flight-order", "ticketingAgreement": { "option": "CONFIRM" } } });
        // Sent once: after a lost answer the caller reads the order back
        // (a confirmed order then comes back from the check above).
        let path = format!("/v1/booking/flight-orders/{id}");
        let reply = self.call(reqwest::Method::PATCH, &path, &[], Some(&body), Delivery::Once).await?;
        match reply.status {
            200 => map_order(&reply.body),
            404 => Err(ProviderError::OrderGone),
            _ => Err(order_error(&reply, &amount.currency)),
        }
    }

    async fn get_order(&self, id: &str) -> Result<ProviderOrder, ProviderError> {
        // Spliced in as is: Amadeus ids come percent-encoded already, and
        // encoding them again (`%2F` → `%252F`) names another order.
        let reply = self.get(&format!("/v1/booking/flight-orders/{id}"), &[]).await?;
        match reply.status {
            200 => map_order(&reply.body).map(|order| super::lapse_if_due(order, Utc::now())),
            404 => Err(ProviderError::NotFound),
            401 | 403 => Err(ProviderError::Unauthorized(error_detail(&reply))),
            _ => Err(ProviderError::Rejected(error_detail(&reply))),
        }
    }

    async fn cancel_order(&self, id: &str) -> Result<(), ProviderError> {
        // Deleting is safe to repeat: a retry after a lost 204 finds nothing.
        let path = format!("/v1/booking/flight-orders/{id}");
        let reply = self.call(reqwest::Method::DELETE, &path, &[], None, Delivery::Idempotent).await?;
        match reply.status {
            200 | 204 => Ok(()),
            // Amadeus forgets a cancelled or lapsed order, so "already
            // cancelled", "lapsed" and "never existed" all answer 404; for a
            // caller cancelling an id it was given, either way there is
            // nothing left to cancel.
            404 => Ok(()),
            401 | 403 => Err(ProviderError::Unauthorized(error_detail(&reply))),
            _ => Err(ProviderError::Rejected(error_detail(&reply))),
        }
    }
}

/// Maps a Flight Offers Search body to domain offers.
pub fn map_search(body: &[u8]) -> Result<Vec<Offer>, ProviderError> {
    let body: SearchBody<'_> =
        serde_json::from_slice(body).map_err(|e| ProviderError::Unavailable(format!("unreadable search: {e}")))?;
    let expires_at = Utc::now() + OFFER_LIFETIME;
    let mut offers = Vec::with_capacity(body.data.len());
    for raw in body.data {
        let wire: WireOffer = match serde_json::from_str(raw.get()) {
            Ok(wire) => wire,
            Err(error) => {
                tracing::debug!(%error, "skipping an offer that does not parse");
                continue;
            }
        };
        let Some(offer) = map_offer(wire, raw, expires_at) else { continue };
        offers.push(offer);
    }
    Ok(offers)
}

fn map_offer(wire: WireOffer, raw: &RawValue, expires_at: chrono::DateTime<Utc>) -> Option<Offer> {
    let total = wire.price.grand_total.as_deref().unwrap_or(&wire.price.total).parse::<Decimal>().ok()?;
    let mut itineraries = Vec::with_capacity(wire.itineraries.len());
    for itinerary in wire.itineraries {
        let mut segments = Vec::with_capacity(itinerary.segments.len());
        for s in itinerary.segments {
            let duration = s
                .duration
                .as_deref()
                .and_then(parse_iso_duration)
                .unwrap_or_else(|| minutes_between(s.departure.at, s.arrival.at));
            let operating = s.operating.and_then(|o| o.carrier_code).filter(|c| *c != s.carrier_code);
            segments.push(Segment {
                flight_number: format!("{}{}", s.carrier_code, s.number),
                carrier: s.carrier_code,
                operating_carrier: operating,
                departure: SegmentEnd {
                    airport: s.departure.iata_code,
                    terminal: s.departure.terminal,
                    at: s.departure.at,
                },
                arrival: SegmentEnd { airport: s.arrival.iata_code, terminal: s.arrival.terminal, at: s.arrival.at },
                duration_minutes: duration,
                aircraft: s.aircraft.map(|a| a.code),
            });
        }
        if segments.is_empty() {
            return None;
        }
        let duration = itinerary
            .duration
            .as_deref()
            .and_then(parse_iso_duration)
            .unwrap_or_else(|| segments.iter().map(|s| s.duration_minutes).sum::<u32>());
        itineraries.push(Itinerary { duration_minutes: duration, segments });
    }
    if itineraries.is_empty() {
        return None;
    }
    let passengers =
        wire.traveler_pricings.iter().map(|t| passenger_type(t.traveler_type.as_deref().unwrap_or("ADULT"))).collect();
    Some(Offer {
        id: offer_id("amadeus", raw.get()),
        provider: "amadeus".to_owned(),
        price: Money::new(total, &wire.price.currency),
        seats_available: wire.number_of_bookable_seats,
        expires_at,
        itineraries,
        provider_offer: ProviderOffer::from_raw(raw.to_owned()),
        passengers,
    })
}

/// Local times on both ends, so only an approximation across time zones;
/// used when a provider omits the duration.
fn minutes_between(from: NaiveDateTime, to: NaiveDateTime) -> u32 {
    u32::try_from((to - from).num_minutes().max(0)).unwrap_or(0)
}

/// The Flight Offers Price body: the searched offer sent back verbatim.
pub(crate) fn pricing_body(offer: &Offer) -> Value {
    json!({ "data": { "type": "flight-offers-pricing", "flightOffers": [offer.provider_offer] } })
}

/// Maps a Flight Offers Price answer onto the searched `offer`.
pub(crate) fn map_pricing(body: &[u8], searched: &Offer) -> Result<PricedOffer, ProviderError> {
    let body: PricingBody<'_> =
        serde_json::from_slice(body).map_err(|e| ProviderError::Unavailable(format!("unreadable pricing: {e}")))?;
    let raw = *body
        .data
        .flight_offers
        .first()
        .ok_or_else(|| ProviderError::Unavailable("pricing without a flight offer".into()))?;
    let wire: WireOffer = serde_json::from_str(raw.get())
        .map_err(|e| ProviderError::Unavailable(format!("unreadable priced offer: {e}")))?;
    let mut offer = map_offer(wire, raw, searched.expires_at)
        .ok_or_else(|| ProviderError::Unavailable("a priced offer without flights or price".into()))?;
    offer.id.clone_from(&searched.id);
    let price_changed = offer.price != searched.price;
    Ok(PricedOffer { offer, price_changed })
}

/// The first error of an Amadeus body: code (as text), detail, source pointer.
fn first_error(reply: &HttpReply) -> Option<(String, String, Option<String>)> {
    let body = serde_json::from_slice::<Value>(&reply.body).ok()?;
    let first = body.get("errors")?.get(0)?;
    let code = match first.get("code")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let detail = first.get("detail").or_else(|| first.get("title")).and_then(Value::as_str).unwrap_or("").to_owned();
    let pointer = first.get("source").and_then(|s| s.get("pointer")).and_then(Value::as_str).map(str::to_owned);
    Some((code, detail, pointer))
}

/// Whether an error says the offer sent is unknown or was altered: 4926
/// INVALID DATA RECEIVED, or 32171 MANDATORY DATA MISSING inside the offer.
fn offer_unknown(code: &str, pointer: Option<&str>) -> bool {
    code == "4926" || (code == "32171" && pointer.is_some_and(|p| p.starts_with("/data/flightOffers")))
}

pub(crate) fn pricing_error(reply: &HttpReply) -> ProviderError {
    match (reply.status, first_error(reply)) {
        (400, Some((code, _, pointer))) if offer_unknown(&code, pointer.as_deref()) => ProviderError::OfferExpired,
        (401 | 403, _) => ProviderError::Unauthorized(error_detail(reply)),
        _ => ProviderError::Rejected(error_detail(reply)),
    }
}

pub(crate) fn order_error(reply: &HttpReply, currency: &str) -> ProviderError {
    if let Some(error) = super::server_trouble(reply.status) {
        return error;
    }
    match (reply.status, first_error(reply)) {
        (400, Some((code, _, pointer))) if offer_unknown(&code, pointer.as_deref()) => ProviderError::OfferExpired,
        (400, Some((code, _, _))) if code == "34651" => ProviderError::SoldOut,
        (400, Some((code, detail, _))) if code == "37200" => match current_price(&detail) {
            Some(amount) => ProviderError::PriceChanged { current: Money::new(amount, currency) },
            // Without the new amount the caller could only guess; it must price again.
            None => ProviderError::Rejected(error_detail(reply)),
        },
        (401 | 403, _) => ProviderError::Unauthorized(error_detail(reply)),
        _ => ProviderError::Rejected(error_detail(reply)),
    }
}

/// The current price in a 37200 detail: "Current grandTotal price (1342.20)
/// is different from request one (1300.00)" — the first amount in brackets.
fn current_price(detail: &str) -> Option<Decimal> {
    let start = detail.find('(')? + 1;
    let end = start + detail[start..].find(')')?;
    detail[start..end].trim().parse().ok()
}

/// What a traveller pricing's `travelerType` books as.
fn passenger_type(traveler_type: &str) -> PassengerType {
    match traveler_type {
        "CHILD" => PassengerType::Child,
        "HELD_INFANT" | "SEATED_INFANT" => PassengerType::Infant,
        // ADULT, SENIOR, YOUNG, STUDENT… all take an adult's place.
        _ => PassengerType::Adult,
    }
}

/// The Flight Create Orders body for a priced offer: each traveller takes the
/// id of a traveller pricing of the same type, in order; a hold's ticketing
/// agreement, and our booking id as a remark.
pub(crate) fn order_body(
    offer: &Offer,
    travelers: &[OrderTraveler],
    contact: &OrderContact,
    client_reference: &str,
) -> Result<Value, ProviderError> {
    let mut slots: Vec<(String, PassengerType)> = offer
        .provider_offer
        .to_value()
        .get("travelerPricings")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|t| {
                    let id = match t.get("travelerId")? {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let kind = passenger_type(t.get("travelerType").and_then(Value::as_str).unwrap_or("ADULT"));
                    Some((id, kind))
                })
                .collect()
        })
        .unwrap_or_default();
    if slots.len() != travelers.len() {
        return Err(ProviderError::Rejected(format!(
            "the offer is for {} travellers, {} given",
            slots.len(),
            travelers.len()
        )));
    }
    let phones = match contact.phone.as_deref() {
        None => Vec::new(),
        Some(phone) => {
            let (code, number) = super::split_e164(phone)
                .ok_or_else(|| ProviderError::Rejected("the contact phone must be in E.164 form".into()))?;
            vec![json!({ "deviceType": "MOBILE", "countryCallingCode": code, "number": number })]
        }
    };
    let mut body_travelers = Vec::with_capacity(travelers.len());
    for traveler in travelers {
        let slot = slots.iter().position(|(_, kind)| *kind == traveler.kind).ok_or_else(|| {
            ProviderError::Rejected(format!("the offer has no {:?} place left", traveler.kind).to_lowercase())
        })?;
        let (id, _) = slots.remove(slot);
        let mut entry = json!({
            "id": id,
            "dateOfBirth": traveler.date_of_birth.to_string(),
            // Amadeus names are upper-case Latin, as on the ticket.
            "name": { "firstName": traveler.first_name.to_uppercase(), "lastName": traveler.last_name.to_uppercase() },
            "contact": { "emailAddress": contact.email, "phones": phones },
        });
        if let (Some(document), Some(map)) = (&traveler.document, entry.as_object_mut()) {
            map.insert(
                "documents".to_owned(),
                json!([{
                    "documentType": "PASSPORT",
                    "number": document.number,
                    "expiryDate": document.expiry_date.to_string(),
                    "issuanceCountry": document.issuing_country,
                    "nationality": document.nationality,
                    "holder": true
                }]),
            );
        }
        body_travelers.push(entry);
    }
    Ok(json!({
        "data": {
            "type": "flight-order",
            "flightOffers": [offer.provider_offer],
            "travelers": body_travelers,
            "remarks": { "general": [{
                "subType": "GENERAL_MISCELLANEOUS",
                "text": format!("{REMARK_PREFIX}{client_reference}")
            }] },
            "ticketingAgreement": { "option": "DELAY_TO_CANCEL", "delay": HOLD_DELAY }
        }
    }))
}

/// Maps a flight order body (create or retrieve) to the domain.
pub(crate) fn map_order(body: &[u8]) -> Result<ProviderOrder, ProviderError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| ProviderError::Unavailable(format!("unreadable order: {e}")))?;
    let data = body.get("data").ok_or_else(|| ProviderError::Unavailable("an order without data".into()))?;
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Unavailable("an order without an id".into()))?
        .to_owned();
    let reference = data
        .get("associatedRecords")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("reference"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let offers = data.get("flightOffers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut total = Decimal::ZERO;
    let mut currency = None;
    for offer in offers {
        let wire: WirePrice = offer
            .get("price")
            .cloned()
            .and_then(|p| serde_json::from_value(p).ok())
            .ok_or_else(|| ProviderError::Unavailable("an order offer without a price".into()))?;
        let amount = wire
            .grand_total
            .as_deref()
            .unwrap_or(&wire.total)
            .parse::<Decimal>()
            .map_err(|_| ProviderError::Unavailable("an order price that is not a number".into()))?;
        total += amount;
        currency.get_or_insert(wire.currency);
    }
    let currency = currency.ok_or_else(|| ProviderError::Unavailable("an order without flight offers".into()))?;
    // Issued tickets or a CONFIRM agreement mean it is confirmed; until
    // then the seats are only held (and cancellable).
    let ticketed = data.get("tickets").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    let agreement = data.get("ticketingAgreement");
    let option = agreement.and_then(|a| a.get("option")).and_then(Value::as_str);
    let confirmed = ticketed || option == Some("CONFIRM");
    let status = if confirmed { ProviderOrderStatus::Confirmed } else { ProviderOrderStatus::Held };
    let expires_at = if confirmed { None } else { hold_deadline(data) };
    let client_reference =
        data.get("remarks").and_then(|r| r.get("general")).and_then(Value::as_array).and_then(|remarks| {
            remarks.iter().find_map(|r| r.get("text")?.as_str()?.strip_prefix(REMARK_PREFIX).map(str::to_owned))
        });
    Ok(ProviderOrder { id, reference, price: Money::new(total, &currency), status, expires_at, client_reference })
}

/// When a held order's ticketing agreement cancels it: its `dateTime` when
/// given (UTC, with or without a zone), else the record's creation date
/// plus the `delay` in days (`6D`).
fn hold_deadline(data: &Value) -> Option<chrono::DateTime<Utc>> {
    let agreement = data.get("ticketingAgreement")?;
    if let Some(text) = agreement.get("dateTime").and_then(Value::as_str) {
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(at.with_timezone(&Utc));
        }
        if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(at.and_utc());
        }
    }
    let days: i64 = agreement.get("delay")?.as_str()?.strip_suffix('D')?.parse().ok()?;
    let record = data.get("associatedRecords")?.get(0)?;
    let created = record.get("creationDate").or_else(|| record.get("creationDateTime"))?.as_str()?;
    let created = NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.f").ok()?.and_utc();
    Some(created + chrono::Duration::days(days))
}

/// The `detail`/`title` of an Amadeus error body (either shape), or the status.
pub fn error_detail(reply: &HttpReply) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(&reply.body) else {
        return format!("HTTP {}", reply.status);
    };
    if let Some(first) = body.get("errors").and_then(|e| e.get(0)) {
        let code = first.get("code").map(|c| c.to_string().trim_matches('"').to_owned()).unwrap_or_default();
        let text = first.get("detail").or_else(|| first.get("title")).and_then(Value::as_str).unwrap_or("");
        return format!("HTTP {} {code} {text}", reply.status).trim().to_owned();
    }
    if let Some(text) = body.get("error_description").and_then(Value::as_str) {
        return format!("HTTP {} {text}", reply.status);
    }
    format!("HTTP {}", reply.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"{
      "meta": { "count": 2 },
      "data": [
        { "type": "flight-offer", "id": "1", "source": "GDS", "numberOfBookableSeats": 4,
          "itineraries": [ { "duration": "PT8H25M", "segments": [
            { "departure": { "iataCode": "LIS", "terminal": "1", "at": "2027-01-10T10:30:00" },
              "arrival": { "iataCode": "JFK", "terminal": "7", "at": "2027-01-10T13:55:00" },
              "carrierCode": "TP", "number": "201", "aircraft": { "code": "339" },
              "operating": { "carrierCode": "TP" }, "duration": "PT8H25M", "id": "1", "numberOfStops": 0 } ] } ],
          "price": { "currency": "EUR", "total": "1342.20", "base": "1100.00", "grandTotal": "1342.20" },
          "travelerPricings": [] },
        { "type": "flight-offer", "id": "2", "itineraries": [ { "segments": [] } ],
          "price": { "currency": "EUR", "total": "10.00" } },
        { "type": "not even an offer" }
      ],
      "dictionaries": { "carriers": { "TP": "TAP PORTUGAL" } }
    }"#;

    #[test]
    fn search_responses_map_to_the_domain() {
        let offers = map_search(FIXTURE.as_bytes()).expect("maps");
        assert_eq!(offers.len(), 1, "empty and malformed offers are skipped");
        let offer = &offers[0];
        assert_eq!(offer.price, Money::new(Decimal::new(134220, 2), "EUR"));
        assert_eq!(offer.seats_available, Some(4));
        assert!(offer.id.starts_with("amadeus_"));
        let segment = &offer.itineraries[0].segments[0];
        assert_eq!(segment.flight_number, "TP201");
        assert_eq!(segment.operating_carrier, None, "same as marketing");
        assert_eq!(segment.duration_minutes, 505);
        assert_eq!(segment.departure.terminal.as_deref(), Some("1"));
        assert_eq!(segment.arrival.at.to_string(), "2027-01-10 13:55:00");
        assert_eq!(offer.provider_offer.to_value()["id"], "1", "kept verbatim for pricing");
    }

    #[test]
    fn error_bodies_of_either_shape_are_described() {
        let reply = |status, body: &str| HttpReply { status, body: body.as_bytes().to_vec().into() };
        let numeric =
            reply(400, r#"{"errors":[{"status":400,"code":477,"title":"INVALID FORMAT","detail":"bad date"}]}"#);
        assert_eq!(error_detail(&numeric), "HTTP 400 477 bad date");
        let stringy = reply(401, r#"{"errors":[{"status":"401","code":"38191","title":"Invalid HTTP header"}]}"#);
        assert_eq!(error_detail(&stringy), "HTTP 401 38191 Invalid HTTP header");
        let token = reply(401, r#"{"error":"invalid_client","error_description":"Client credentials are invalid"}"#);
        assert_eq!(error_detail(&token), "HTTP 401 Client credentials are invalid");
        assert_eq!(error_detail(&reply(502, "<html>")), "HTTP 502");
    }

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply { status, body: body.as_bytes().to_vec().into() }
    }

    fn searched() -> Offer {
        map_search(FIXTURE.as_bytes()).expect("maps").remove(0)
    }

    fn traveler(first: &str, kind: PassengerType) -> OrderTraveler {
        OrderTraveler {
            first_name: first.into(),
            last_name: "López".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1990, 2, 3).expect("date"),
            kind,
            document: None,
        }
    }

    fn contact() -> OrderContact {
        OrderContact { email: "ana@example.com".into(), phone: Some("+34600000000".into()) }
    }

    #[test]
    fn the_pricing_body_sends_the_offer_back_verbatim() {
        let offer = searched();
        let body = pricing_body(&offer);
        assert_eq!(body["data"]["type"], "flight-offers-pricing");
        assert_eq!(body["data"]["flightOffers"][0], offer.provider_offer.to_value());
    }

    #[test]
    fn a_pricing_answer_keeps_the_id_and_reports_drift() {
        let offer = searched();
        let mut priced_json = offer.provider_offer.to_value();
        priced_json["price"]["grandTotal"] = json!("1400.00");
        priced_json["price"]["total"] = json!("1400.00");
        let body = json!({ "data": { "type": "flight-offers-pricing", "flightOffers": [priced_json] } }).to_string();
        let priced = map_pricing(body.as_bytes(), &offer).expect("maps");
        assert!(priced.price_changed);
        assert_eq!(priced.offer.price, Money::new(Decimal::new(140_000, 2), "EUR"));
        assert_eq!(priced.offer.id, offer.id, "one name for the offer");
        assert_eq!(priced.offer.provider_offer.to_value(), priced_json, "the priced JSON is what booking sends");
        let same = json!({ "data": { "flightOffers": [offer.provider_offer] } }).to_string();
        assert!(!map_pricing(same.as_bytes(), &offer).expect("maps").price_changed);
    }

    #[test]
    fn pricing_errors_map_to_what_callers_branch_on() {
        let unknown = reply(400, r#"{"errors":[{"status":400,"code":4926,"title":"INVALID DATA RECEIVED"}]}"#);
        assert_eq!(pricing_error(&unknown), ProviderError::OfferExpired);
        let altered = reply(
            400,
            r#"{"errors":[{"status":"400","code":"32171","title":"MANDATORY DATA MISSING","source":{"pointer":"/data/flightOffers[0]/price"}}]}"#,
        );
        assert_eq!(pricing_error(&altered), ProviderError::OfferExpired);
        let format = reply(400, r#"{"errors":[{"status":400,"code":477,"title":"INVALID FORMAT"}]}"#);
        assert!(matches!(pricing_error(&format), ProviderError::Rejected(_)));
    }

    #[test]
    fn order_bodies_match_travelers_to_the_priced_offer() {
        let mut offer = searched();
        let mut json = offer.provider_offer.to_value();
        json["travelerPricings"] = json!([
            { "travelerId": "1", "travelerType": "ADULT" },
            { "travelerId": "2", "travelerType": "CHILD" }
        ]);
        offer.provider_offer = ProviderOffer::from_value(&json);
        let mut child = traveler("Rui", PassengerType::Child);
        child.document = Some(crate::flights::model::TravelDocument {
            number: "X123".into(),
            expiry_date: chrono::NaiveDate::from_ymd_opt(2030, 1, 1).expect("date"),
            issuing_country: "ES".into(),
            nationality: "ES".into(),
        });
        let travelers = [child, traveler("Ana", PassengerType::Adult)];
        let body = order_body(&offer, &travelers, &contact(), "bk_42").expect("builds");
        let data = &body["data"];
        assert_eq!(data["type"], "flight-order");
        assert_eq!(data["flightOffers"][0], offer.provider_offer.to_value());
        assert_eq!(data["travelers"][0]["id"], "2", "the child takes the child's place");
        assert_eq!(data["travelers"][1]["id"], "1");
        assert_eq!(data["travelers"][1]["name"], json!({ "firstName": "ANA", "lastName": "LÓPEZ" }));
        assert_eq!(data["travelers"][1]["dateOfBirth"], "1990-02-03");
        let phone = &data["travelers"][1]["contact"]["phones"][0];
        assert_eq!((phone["countryCallingCode"].as_str(), phone["number"].as_str()), (Some("34"), Some("600000000")));
        assert_eq!(data["travelers"][0]["documents"][0]["documentType"], "PASSPORT");
        assert_eq!(data["travelers"][0]["documents"][0]["expiryDate"], "2030-01-01");
        assert!(data["travelers"][1].get("documents").is_none());
        assert_eq!(
            data["remarks"]["general"][0],
            json!({ "subType": "GENERAL_MISCELLANEOUS", "text": "WAYFARER bk_42" })
        );
        assert_eq!(data["ticketingAgreement"], json!({ "option": "DELAY_TO_CANCEL", "delay": "1D" }));

        let two_adults = [traveler("Ana", PassengerType::Adult), traveler("Eva", PassengerType::Adult)];
        assert!(matches!(order_body(&offer, &two_adults, &contact(), "bk"), Err(ProviderError::Rejected(_))));
        let bad_phone = OrderContact { email: "a@b.c".into(), phone: Some("600 000 000".into()) };
        assert!(matches!(order_body(&offer, &travelers, &bad_phone, "bk"), Err(ProviderError::Rejected(_))));
    }

    #[test]
    fn order_errors_map_to_what_callers_branch_on() {
        let sold = reply(400, r#"{"errors":[{"status":400,"code":34651,"title":"SEGMENT SELL FAILURE"}]}"#);
        assert_eq!(order_error(&sold, "EUR"), ProviderError::SoldOut);
        let drift = reply(
            400,
            r#"{"errors":[{"status":400,"code":37200,"title":"PRICE DISCREPANCY","detail":"Current grandTotal price (1409.31) is different from request one (1342.20)"}]}"#,
        );
        assert_eq!(
            order_error(&drift, "EUR"),
            ProviderError::PriceChanged { current: Money::new(Decimal::new(140_931, 2), "EUR") }
        );
        let vague = reply(400, r#"{"errors":[{"status":400,"code":"37200","title":"PRICE DISCREPANCY"}]}"#);
        assert!(matches!(order_error(&vague, "EUR"), ProviderError::Rejected(_)));
        let unknown = reply(400, r#"{"errors":[{"status":400,"code":4926,"title":"INVALID DATA RECEIVED"}]}"#);
        assert_eq!(order_error(&unknown, "EUR"), ProviderError::OfferExpired);
        let failed = reply(400, r#"{"errors":[{"status":400,"code":36870,"title":"BOOKING FAILED"}]}"#);
        assert!(matches!(order_error(&failed, "EUR"), ProviderError::Rejected(_)));
        let down = reply(500, r#"{"errors":[{"status":500,"code":141,"title":"SYSTEM ERROR HAS OCCURRED"}]}"#);
        assert_eq!(order_error(&down, "EUR"), ProviderError::Unavailable("HTTP 500".into()), "not a refusal");
        assert_eq!(order_error(&reply(429, ""), "EUR"), ProviderError::RateLimited);
    }

    #[test]
    fn orders_map_to_the_domain() {
        let body = r#"{ "data": { "type": "flight-order", "id": "eJzTd9f3s4gKC%2FMEAAt8Ans%3D",
            "associatedRecords": [ { "reference": "KBFJ8L", "creationDate": "2027-01-01T10:00:00.000",
                                     "originSystemCode": "GDS", "flightOfferId": "1" } ],
            "flightOffers": [ { "price": { "currency": "EUR", "total": "1342.20", "grandTotal": "1342.20" } } ],
            "remarks": { "general": [ { "subType": "GENERAL_MISCELLANEOUS", "text": "WAYFARER bk_7" } ] },
            "ticketingAgreement": { "option": "DELAY_TO_CANCEL", "delay": "6D" },
            "travelers": [] } }"#;
        let order = map_order(body.as_bytes()).expect("maps");
        assert_eq!(order.id, "eJzTd9f3s4gKC%2FMEAAt8Ans%3D", "kept as sent, still encoded");
        assert_eq!(order.reference.as_deref(), Some("KBFJ8L"));
        assert_eq!(order.price, Money::new(Decimal::new(134_220, 2), "EUR"));
        assert_eq!(order.status, ProviderOrderStatus::Held);
        assert_eq!(order.client_reference.as_deref(), Some("bk_7"));
        assert_eq!(order.expires_at.map(|at| at.to_rfc3339()).as_deref(), Some("2027-01-07T10:00:00+00:00"));
        let exact = body.replace(r#""delay": "6D""#, r#""delay": "6D", "dateTime": "2027-01-01T10:20:00Z""#);
        let exact = map_order(exact.as_bytes()).expect("maps");
        assert_eq!(exact.expires_at.map(|at| at.to_rfc3339()).as_deref(), Some("2027-01-01T10:20:00+00:00"));
        let ticketed = body.replace(r#""travelers": []"#, r#""tickets": [ { "documentNumber": "125-1" } ]"#);
        assert_eq!(map_order(ticketed.as_bytes()).expect("maps").status, ProviderOrderStatus::Confirmed);
        let confirmed = body.replace("DELAY_TO_CANCEL", "CONFIRM");
        let confirmed = map_order(confirmed.as_bytes()).expect("maps");
        assert_eq!((confirmed.status, confirmed.expires_at), (ProviderOrderStatus::Confirmed, None));
        assert!(matches!(map_order(b"{}"), Err(ProviderError::Unavailable(_))));
    }
}
