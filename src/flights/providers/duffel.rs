//! The Duffel-style adapter (`reference/providers.md` §3): an offer request
//! with `return_offers=true`, `Duffel-Version: v2` on every call, bearer
//! token auth, `{ "data": … }` envelopes, offers mapped to the domain model;
//! re-pricing by the single-offer GET, hold orders, paying for a held order
//! (`POST /air/payments`), and the two-step cancellation (quote, then
//! confirm).
//!
//! Order states come from the order itself: `cancelled_at` set is
//! cancelled — or lapsed, when it fell at or after `payment_required_by`
//! with nothing paid (the airline released an unpaid hold); unpaid
//! (`payment_status.awaiting_payment`) is held until `payment_required_by`
//! and lapsed after it; paid is confirmed. Our booking id travels in the
//! order's `metadata.wayfarer_booking_id`.
//!
//! Confirming reads the order first and pays only a held one, so a repeat
//! after a crash never pays twice; the payment itself is sent once.
//!
//! Duffel prices in the currency its airline sells in and has no currency
//! parameter; offers keep the currency they come in.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{FlightProvider, HttpReply, HttpStats, ProviderError, ProviderHttp, offer_id};
use crate::flights::model::{
    FlightSearch, Itinerary, Money, Offer, OrderContact, OrderTraveler, PassengerType, PricedOffer, ProviderOffer,
    ProviderOrder, ProviderOrderStatus, Segment, SegmentEnd, parse_iso_duration,
};

/// The API version this adapter speaks.
const DUFFEL_VERSION: &str = "v2";
/// The order `metadata` key that carries our booking id.
const CLIENT_REFERENCE_KEY: &str = "wayfarer_booking_id";

/// Flight offers from a Duffel-style API.
#[derive(Debug)]
pub struct DuffelProvider {
    base_url: String,
    token: SecretString,
    http: ProviderHttp,
}

// An answer is read in one typed pass into the fields below — never into a
// `serde_json::Value` tree. Should that fail (one offer of an unexpected
// shape fails the whole pass), it is read again offer by offer from
// borrowed slices of its text, and only the offers that do not read are
// dropped.
#[derive(Deserialize)]
struct Envelope {
    data: OfferRequest,
}

#[derive(Deserialize)]
struct OfferRequest {
    #[serde(default)]
    offers: Vec<WireOffer>,
}

#[derive(Deserialize)]
struct LenientEnvelope<'a> {
    #[serde(borrow)]
    data: LenientOfferRequest<'a>,
}

#[derive(Deserialize)]
struct LenientOfferRequest<'a> {
    #[serde(default, borrow)]
    offers: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireOffer {
    id: String,
    total_amount: String,
    total_currency: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    slices: Vec<WireSlice>,
    #[serde(default)]
    available_seats: Option<u8>,
    #[serde(default)]
    passengers: Vec<WirePassenger>,
}

#[derive(Deserialize, Serialize)]
struct WirePassenger {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    age: Option<u64>,
}

/// What is kept of a Duffel offer ([`ProviderOffer`]): all that pricing and
/// ordering send back — the offer's id and its passengers' ids and types —
/// and the price it was quoted at. Duffel names an offer by its id (unlike
/// Amadeus, which must be sent the whole offer), and the rest of an offer
/// (≈ 4.7 KiB: places, carriers, conditions, baggage) is already in the
/// domain model or never read; keeping it verbatim was three quarters of
/// the offer caches' memory.
#[derive(Serialize)]
struct KeptOffer<'a> {
    id: &'a str,
    total_amount: &'a str,
    total_currency: &'a str,
    passengers: &'a [WirePassenger],
}

#[derive(Deserialize)]
struct WireSlice {
    #[serde(default)]
    duration: Option<String>,
    segments: Vec<WireSegment>,
}

#[derive(Deserialize)]
struct WireSegment {
    origin: WirePlace,
    destination: WirePlace,
    departing_at: NaiveDateTime,
    arriving_at: NaiveDateTime,
    marketing_carrier: WireCarrier,
    marketing_carrier_flight_number: String,
    #[serde(default)]
    operating_carrier: Option<WireCarrier>,
    #[serde(default)]
    origin_terminal: Option<String>,
    #[serde(default)]
    destination_terminal: Option<String>,
    #[serde(default)]
    aircraft: Option<WireAircraft>,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Deserialize)]
struct WirePlace {
    iata_code: String,
}

#[derive(Deserialize)]
struct WireCarrier {
    iata_code: String,
}

#[derive(Deserialize)]
struct WireAircraft {
    #[serde(default)]
    iata_code: Option<String>,
}

impl DuffelProvider {
    /// An adapter for the API at `base_url` (no trailing slash).
    pub fn new(base_url: &str, token: SecretString, http: ProviderHttp) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), token, http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .client()
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(self.token.expose_secret())
            .header("Duffel-Version", DUFFEL_VERSION)
            .header("accept", "application/json")
    }
}

/// The offer request body for a search.
pub fn offer_request_body(search: &FlightSearch) -> Value {
    let mut slices = vec![json!({
        "origin": search.origin,
        "destination": search.destination,
        "departure_date": search.departure_date.to_string(),
    })];
    if let Some(back) = search.return_date {
        slices.push(json!({
            "origin": search.destination,
            "destination": search.origin,
            "departure_date": back.to_string(),
        }));
    }
    let mut passengers = Vec::new();
    passengers.extend((0..search.passengers.adults).map(|_| json!({ "type": "adult" })));
    // Duffel identifies children and infants by age.
    passengers.extend((0..search.passengers.children).map(|_| json!({ "age": 8 })));
    passengers.extend((0..search.passengers.infants).map(|_| json!({ "age": 1 })));
    let mut data = json!({ "slices": slices, "passengers": passengers, "cabin_class": search.cabin.duffel() });
    if search.non_stop {
        data["max_connections"] = json!(0);
    }
    json!({ "data": data })
}

#[async_trait]
impl FlightProvider for DuffelProvider {
    fn name(&self) -> &str {
        "duffel"
    }

    fn http_stats(&self) -> Option<HttpStats> {
        Some(self.http.stats())
    }

    async fn search(&self, search: &FlightSearch) -> Result<Vec<Offer>, ProviderError> {
        let body = offer_request_body(search);
        // Creating an offer request books nothing, so retrying it is safe.
        let reply = self
            .http
            .send_idempotent(|| {
                self.request(reqwest::Method::POST, "/air/offer_requests?return_offers=true").json(&body)
            })
            .await?;
        match reply.status {
            200 | 201 => map_offer_request(&reply.body),
            401 | 403 => Err(ProviderError::Unauthorized(error_detail(&reply))),
            _ => Err(ProviderError::Rejected(error_detail(&reply))),
        }
    }

    async fn price(&self, offer: &Offer) -> Result<PricedOffer, ProviderError> {
        let id = provider_offer_id(offer)?;
        // The single-offer GET re-prices with the airline; reading is safe to repeat.
        let path = format!("/air/offers/{id}");
        let reply = self.http.send_idempotent(|| self.request(reqwest::Method::GET, &path)).await?;
        match reply.status {
            200 => map_priced_offer(&reply.body, offer),
            _ => Err(classify_error(&reply, true)),
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
        // Never retried: a second POST after a lost answer could hold the
        // seats twice. A timeout goes back to the caller, who reconciles.
        let reply = self.http.send_once(self.request(reqwest::Method::POST, "/air/orders").json(&body)).await?;
        match reply.status {
            200 | 201 => map_order(&reply.body),
            _ => Err(classify_error(&reply, true)),
        }
    }

    async fn get_order(&self, id: &str) -> Result<ProviderOrder, ProviderError> {
        let path = format!("/air/orders/{id}");
        let reply = self.http.send_idempotent(|| self.request(reqwest::Method::GET, &path)).await?;
        match reply.status {
            200 => map_order(&reply.body).map(|order| super::lapse_if_due(order, Utc::now())),
            404 => Err(ProviderError::NotFound),
            _ => Err(classify_error(&reply, false)),
        }
    }

    async fn confirm_order(&self, id: &str, amount: &Money) -> Result<ProviderOrder, ProviderError> {
        let order = self.get_order(id).await?;
        match order.status {
            ProviderOrderStatus::Confirmed => return Ok(order),
            ProviderOrderStatus::Cancelled | ProviderOrderStatus::Lapsed => return Err(ProviderError::OrderGone),
            ProviderOrderStatus::Held => {}
        }
        let body = json!({ "data": {
            "order_id": id,
            "payment": { "type": "balance", "amount": amount.amount.to_string(), "currency": amount.currency }
        } });
        // Sent once: a payment repeated after a lost answer could pay twice.
        let reply = self.http.send_once(self.request(reqwest::Method::POST, "/air/payments").json(&body)).await?;
        match reply.status {
            200 | 201 => self.get_order(id).await,
            404 => Err(ProviderError::NotFound),
            422 => {
                // Refused for the order's state: it may have been paid,
                // cancelled or lapsed since it was read. Read it again.
                let error = classify_error(&reply, false);
                let now = self.get_order(id).await?;
                match now.status {
                    ProviderOrderStatus::Confirmed => Ok(now),
                    ProviderOrderStatus::Cancelled | ProviderOrderStatus::Lapsed => Err(ProviderError::OrderGone),
                    ProviderOrderStatus::Held => Err(error),
                }
            }
            _ => Err(classify_error(&reply, false)),
        }
    }

    async fn cancel_order(&self, id: &str) -> Result<(), ProviderError> {
        // Both steps may be retried: a quote changes nothing, and a repeated
        // confirmation answers "already" (taken as done below).
        let body = json!({ "data": { "order_id": id } });
        let reply = self
            .http
            .send_idempotent(|| self.request(reqwest::Method::POST, "/air/order_cancellations").json(&body))
            .await?;
        let cancellation = match reply.status {
            200 | 201 => cancellation_id(&reply.body)?,
            404 => return Err(ProviderError::NotFound),
            _ if already_cancelled(&reply) => return Ok(()),
            _ => return Err(classify_error(&reply, false)),
        };
        let path = format!("/air/order_cancellations/{cancellation}/actions/confirm");
        let reply = self.http.send_idempotent(|| self.request(reqwest::Method::POST, &path)).await?;
        match reply.status {
            200 | 201 => Ok(()),
            _ if already_cancelled(&reply) => Ok(()),
            _ => Err(classify_error(&reply, false)),
        }
    }
}

/// Maps an offer request body to domain offers.
pub fn map_offer_request(body: &[u8]) -> Result<Vec<Offer>, ProviderError> {
    let fallback_expiry = Utc::now() + chrono::Duration::minutes(30);
    // Checked as UTF-8 once, by the standard library (fast over ASCII):
    // reading from bytes, serde_json checks each string again as it goes.
    let body =
        std::str::from_utf8(body).map_err(|e| ProviderError::Unavailable(format!("unreadable offer request: {e}")))?;
    if let Ok(envelope) = serde_json::from_str::<Envelope>(body) {
        return Ok(envelope.data.offers.into_iter().filter_map(|wire| map_offer(wire, fallback_expiry)).collect());
    }
    let envelope: LenientEnvelope<'_> =
        serde_json::from_str(body).map_err(|e| ProviderError::Unavailable(format!("unreadable offer request: {e}")))?;
    Ok(envelope
        .data
        .offers
        .into_iter()
        .filter_map(|raw| map_offer(serde_json::from_str(raw.get()).ok()?, fallback_expiry))
        .collect())
}

fn map_offer(wire: WireOffer, fallback_expiry: DateTime<Utc>) -> Option<Offer> {
    let total = wire.total_amount.parse::<Decimal>().ok()?;
    let mut itineraries = Vec::with_capacity(wire.slices.len());
    for slice in wire.slices {
        let mut segments = Vec::with_capacity(slice.segments.len());
        for s in slice.segments {
            let duration =
                s.duration.as_deref().and_then(parse_iso_duration).unwrap_or_else(|| {
                    u32::try_from((s.arriving_at - s.departing_at).num_minutes().max(0)).unwrap_or(0)
                });
            let carrier = s.marketing_carrier.iata_code;
            let operating = s.operating_carrier.map(|c| c.iata_code).filter(|c| *c != carrier);
            segments.push(Segment {
                flight_number: format!("{carrier}{}", s.marketing_carrier_flight_number),
                carrier,
                operating_carrier: operating,
                departure: SegmentEnd { airport: s.origin.iata_code, terminal: s.origin_terminal, at: s.departing_at },
                arrival: SegmentEnd {
                    airport: s.destination.iata_code,
                    terminal: s.destination_terminal,
                    at: s.arriving_at,
                },
                duration_minutes: duration,
                aircraft: s.aircraft.and_then(|a| a.iata_code),
            });
        }
        if segments.is_empty() {
            return None;
        }
        let duration = slice
            .duration
            .as_deref()
            .and_then(parse_iso_duration)
            .unwrap_or_else(|| segments.iter().map(|s| s.duration_minutes).sum());
        itineraries.push(Itinerary { duration_minutes: duration, segments });
    }
    if itineraries.is_empty() {
        return None;
    }
    let passengers = wire.passengers.iter().map(|p| passenger_kind(p.kind.as_deref(), p.age)).collect();
    let kept = KeptOffer {
        id: &wire.id,
        total_amount: &wire.total_amount,
        total_currency: &wire.total_currency,
        passengers: &wire.passengers,
    };
    // Strings and options only: it always serialises.
    let kept = serde_json::value::to_raw_value(&kept).ok()?;
    Some(Offer {
        // Duffel's offer ids are its own and never reused; the price and
        // passengers are in the digest too, so an offer re-quoted
        // differently is another offer.
        id: offer_id("duffel", kept.get()),
        provider: "duffel".to_owned(),
        price: Money::new(total, &wire.total_currency),
        seats_available: wire.available_seats,
        expires_at: wire.expires_at.unwrap_or(fallback_expiry),
        itineraries,
        provider_offer: ProviderOffer::from_raw(kept),
        passengers,
    })
}

/// The provider's own offer id (`off_…`), from the verbatim offer.
fn provider_offer_id(offer: &Offer) -> Result<String, ProviderError> {
    offer.provider_offer.str_field("id").ok_or_else(|| ProviderError::Rejected("the offer has no Duffel id".into()))
}

/// Maps a single-offer GET onto the searched `offer`.
pub(crate) fn map_priced_offer(body: &[u8], searched: &Offer) -> Result<PricedOffer, ProviderError> {
    #[derive(Deserialize)]
    struct One {
        data: WireOffer,
    }
    let one: One =
        serde_json::from_slice(body).map_err(|e| ProviderError::Unavailable(format!("unreadable offer: {e}")))?;
    let mut offer = map_offer(one.data, searched.expires_at)
        .ok_or_else(|| ProviderError::Unavailable("an offer without flights or price".into()))?;
    offer.id.clone_from(&searched.id);
    let price_changed = offer.price != searched.price;
    Ok(PricedOffer { offer, price_changed })
}

/// The first error of a Duffel body: type, code, message.
fn first_error(reply: &HttpReply) -> Option<(String, String, String)> {
    let body = serde_json::from_slice::<Value>(&reply.body).ok()?;
    let first = body.get("errors")?.get(0)?;
    let text = |name: &str| first.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    Some((text("type"), text("code"), text("message")))
}

fn already_cancelled(reply: &HttpReply) -> bool {
    reply.status == 422
        && first_error(reply)
            .is_some_and(|(_, code, _)| code == "order_already_cancelled" || code == "already_confirmed")
}

/// Maps an error answer to what a caller branches on; `about_offer` when the
/// call named an offer (pricing, ordering), so its 404 or invalid state means
/// the offer is gone.
pub(crate) fn classify_error(reply: &HttpReply, about_offer: bool) -> ProviderError {
    if let Some(error) = super::server_trouble(reply.status) {
        return error;
    }
    let first = first_error(reply);
    let (kind, code, message) =
        first.as_ref().map(|(k, c, m)| (k.as_str(), c.as_str(), m.as_str())).unwrap_or_default();
    match (reply.status, kind, code) {
        (401 | 403, _, _) => ProviderError::Unauthorized(error_detail(reply)),
        (422, _, "price_changed") => match current_price(message) {
            Some(current) => ProviderError::PriceChanged { current },
            // Without the new amount the caller could only guess; it must price again.
            None => ProviderError::Rejected(error_detail(reply)),
        },
        // An expired or vanished offer: Duffel forgets offers, or keeps them
        // and refuses them as being in an invalid state.
        (404, _, _) | (422, "invalid_state_error", _) if about_offer => ProviderError::OfferExpired,
        (422, "invalid_state_error", "offer_no_longer_available") => ProviderError::OfferExpired,
        (404, _, _) => ProviderError::NotFound,
        _ => ProviderError::Rejected(error_detail(reply)),
    }
}

/// The new price in a `price_changed` message ("The offer now costs 1342.20
/// EUR; …"): the first amount followed by a currency code.
fn current_price(message: &str) -> Option<Money> {
    let words: Vec<&str> =
        message.split(|c: char| c.is_whitespace() || c == ';' || c == ',').filter(|w| !w.is_empty()).collect();
    words.windows(2).find_map(|pair| {
        let amount = pair[0].parse::<Decimal>().ok()?;
        let currency = pair[1];
        (currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())).then(|| Money::new(amount, currency))
    })
}

/// What an offer passenger books as: its `type`, or its age when Duffel
/// identified it by age.
fn passenger_type(passenger: &Value) -> PassengerType {
    passenger_kind(passenger.get("type").and_then(Value::as_str), passenger.get("age").and_then(Value::as_u64))
}

/// [`passenger_type`] from an offer passenger's `type` and `age`.
fn passenger_kind(kind: Option<&str>, age: Option<u64>) -> PassengerType {
    match kind {
        Some("adult") => PassengerType::Adult,
        Some("child") => PassengerType::Child,
        Some(kind) if kind.starts_with("infant") => PassengerType::Infant,
        _ => match age {
            Some(age) if age < 2 => PassengerType::Infant,
            Some(age) if age < 12 => PassengerType::Child,
            _ => PassengerType::Adult,
        },
    }
}

/// The hold order body for an offer: each traveller takes the id (`pas_…`)
/// of an offer passenger of the same type, in order.
pub(crate) fn order_body(
    offer: &Offer,
    travelers: &[OrderTraveler],
    contact: &OrderContact,
    client_reference: &str,
) -> Result<Value, ProviderError> {
    let id = provider_offer_id(offer)?;
    let mut slots: Vec<(String, PassengerType)> = offer
        .provider_offer
        .to_value()
        .get("passengers")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|p| Some((p.get("id")?.as_str()?.to_owned(), passenger_type(p)))).collect())
        .unwrap_or_default();
    if slots.len() != travelers.len() {
        return Err(ProviderError::Rejected(format!(
            "the offer is for {} travellers, {} given",
            slots.len(),
            travelers.len()
        )));
    }
    if let Some(phone) = contact.phone.as_deref()
        && super::split_e164(phone).is_none()
    {
        return Err(ProviderError::Rejected("the contact phone must be in E.164 form".into()));
    }
    let mut passengers = Vec::with_capacity(travelers.len());
    for traveler in travelers {
        let slot = slots.iter().position(|(_, kind)| *kind == traveler.kind).ok_or_else(|| {
            ProviderError::Rejected(format!("the offer has no {:?} place left", traveler.kind).to_lowercase())
        })?;
        let (passenger_id, _) = slots.remove(slot);
        let mut passenger = json!({
            "id": passenger_id,
            "given_name": traveler.first_name,
            "family_name": traveler.last_name,
            "born_on": traveler.date_of_birth.to_string(),
            "email": contact.email,
        });
        if let Some(map) = passenger.as_object_mut() {
            if let Some(phone) = &contact.phone {
                map.insert("phone_number".to_owned(), json!(phone));
            }
            if let Some(document) = &traveler.document {
                map.insert(
                    "identity_documents".to_owned(),
                    json!([{
                        "type": "passport",
                        "unique_identifier": document.number,
                        "expires_on": document.expiry_date.to_string(),
                        "issuing_country_code": document.issuing_country
                    }]),
                );
            }
        }
        passengers.push(passenger);
    }
    // A hold reserves without paying, so no payment is sent.
    Ok(json!({ "data": {
        "type": "hold",
        "selected_offers": [id],
        "passengers": passengers,
        "metadata": { CLIENT_REFERENCE_KEY: client_reference }
    } }))
}

#[derive(Deserialize)]
struct OrderEnvelope {
    data: WireOrder,
}

#[derive(Deserialize)]
struct WireOrder {
    id: String,
    #[serde(default)]
    booking_reference: Option<String>,
    total_amount: String,
    total_currency: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    payment_status: Option<WirePaymentStatus>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct WirePaymentStatus {
    #[serde(default)]
    awaiting_payment: Option<bool>,
    #[serde(default)]
    payment_required_by: Option<DateTime<Utc>>,
    #[serde(default)]
    paid_at: Option<DateTime<Utc>>,
}

/// Maps an order body (create or retrieve) to the domain.
pub(crate) fn map_order(body: &[u8]) -> Result<ProviderOrder, ProviderError> {
    let order = serde_json::from_slice::<OrderEnvelope>(body)
        .map_err(|e| ProviderError::Unavailable(format!("unreadable order: {e}")))?
        .data;
    let total = order
        .total_amount
        .parse::<Decimal>()
        .map_err(|_| ProviderError::Unavailable("an order total that is not a number".into()))?;
    let payment = order.payment_status.as_ref();
    let awaiting = payment.and_then(|p| p.awaiting_payment);
    let deadline = payment.and_then(|p| p.payment_required_by);
    let paid = payment.and_then(|p| p.paid_at).is_some();
    let status = match order.cancelled_at {
        // An unpaid hold the airline released at its deadline lapsed; we
        // cancel before the deadline or not at all.
        Some(cancelled) if !paid && deadline.is_some_and(|by| cancelled >= by) => ProviderOrderStatus::Lapsed,
        Some(_) => ProviderOrderStatus::Cancelled,
        None if awaiting.unwrap_or(order.kind.as_deref() == Some("hold")) => ProviderOrderStatus::Held,
        None => ProviderOrderStatus::Confirmed,
    };
    let client_reference =
        order.metadata.as_ref().and_then(|m| m.get(CLIENT_REFERENCE_KEY)).and_then(Value::as_str).map(str::to_owned);
    Ok(ProviderOrder {
        id: order.id,
        reference: order.booking_reference.filter(|r| !r.is_empty()),
        price: Money::new(total, &order.total_currency),
        status,
        expires_at: if paid { None } else { deadline },
        client_reference,
    })
}

/// The id (`ore_…`) of a cancellation quote.
fn cancellation_id(body: &[u8]) -> Result<String, ProviderError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("data")?.get("id")?.as_str().map(str::to_owned))
        .ok_or_else(|| ProviderError::Unavailable("a cancellation without an id".into()))
}

/// The message of a Duffel error body, or the status.
pub fn error_detail(reply: &HttpReply) -> String {
    serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|body| {
            let first = body.get("errors")?.get(0)?.clone();
            let kind = first.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
            let message = first.get("message").or_else(|| first.get("title")).and_then(Value::as_str)?.to_owned();
            Some(format!("HTTP {} {kind}: {message}", reply.status))
        })
        .unwrap_or_else(|| format!("HTTP {}", reply.status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flights::model::{Cabin, Passengers};

    const FIXTURE: &str = r#"{ "data": { "id": "orq_1", "offers": [
      { "id": "off_1", "total_amount": "1290.10", "total_currency": "EUR",
        "expires_at": "2027-01-01T10:30:00Z",
        "slices": [ { "duration": "PT10H05M", "segments": [
          { "origin": { "iata_code": "LIS" }, "destination": { "iata_code": "MAD" },
            "departing_at": "2027-01-10T07:00:00", "arriving_at": "2027-01-10T09:15:00",
            "marketing_carrier": { "iata_code": "IB" }, "marketing_carrier_flight_number": "3101",
            "operating_carrier": { "iata_code": "I2" }, "aircraft": { "iata_code": "320" },
            "duration": "PT01H15M" },
          { "origin": { "iata_code": "MAD" }, "destination": { "iata_code": "JFK" },
            "departing_at": "2027-01-10T11:30:00", "arriving_at": "2027-01-10T14:05:00",
            "marketing_carrier": { "iata_code": "IB" }, "marketing_carrier_flight_number": "6251",
            "duration": "PT08H35M" } ] } ] },
      { "id": "off_bad", "total_amount": "not money", "total_currency": "EUR", "slices": [] }
    ] } }"#;

    #[test]
    fn offer_requests_map_to_the_domain() {
        let offers = map_offer_request(FIXTURE.as_bytes()).expect("maps");
        assert_eq!(offers.len(), 1);
        let offer = &offers[0];
        assert_eq!(offer.itineraries[0].duration_minutes, 605);
        assert_eq!(offer.itineraries[0].stops(), 1);
        let first = &offer.itineraries[0].segments[0];
        assert_eq!((first.flight_number.as_str(), first.operating_carrier.as_deref()), ("IB3101", Some("I2")));
        assert_eq!(first.duration_minutes, 75);
        assert_eq!(offer.expires_at.to_rfc3339(), "2027-01-01T10:30:00+00:00");
        assert!(offer.id.starts_with("duffel_"));
    }

    #[test]
    fn the_request_body_describes_the_search() {
        let search = FlightSearch {
            origin: "LIS".into(),
            destination: "NYC".into(),
            departure_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 10).expect("date"),
            return_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 20),
            passengers: Passengers { adults: 2, children: 1, infants: 1 },
            cabin: Cabin::PremiumEconomy,
            non_stop: true,
            currency: "EUR".into(),
        };
        let body = offer_request_body(&search);
        assert_eq!(body["data"]["slices"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["data"]["slices"][1]["origin"], "NYC");
        assert_eq!(body["data"]["passengers"].as_array().map(Vec::len), Some(4));
        assert_eq!(body["data"]["cabin_class"], "premium_economy");
        assert_eq!(body["data"]["max_connections"], 0);
    }

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply { status, body: body.as_bytes().to_vec().into() }
    }

    fn searched() -> Offer {
        let mut offer = map_offer_request(FIXTURE.as_bytes()).expect("maps").remove(0);
        let mut json = offer.provider_offer.to_value();
        json["passengers"] = json!([
            { "id": "pas_a", "type": "adult" },
            { "id": "pas_c", "type": null, "age": 8 },
            { "id": "pas_i", "type": "infant_without_seat" }
        ]);
        offer.provider_offer = ProviderOffer::from_value(&json);
        offer
    }

    fn traveler(first: &str, kind: PassengerType) -> OrderTraveler {
        OrderTraveler {
            first_name: first.into(),
            last_name: "Lopez".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2019, 5, 1).expect("date"),
            kind,
            document: None,
        }
    }

    fn error_body(status: u16, kind: &str, code: &str, message: &str) -> HttpReply {
        let body = json!({ "meta": { "status": status }, "errors": [
            { "type": kind, "code": code, "title": "t", "message": message } ] });
        reply(status, &body.to_string())
    }

    #[test]
    fn a_hold_order_body_names_the_offer_and_its_passengers() {
        let offer = searched();
        let mut adult = traveler("Ana", PassengerType::Adult);
        adult.document = Some(crate::flights::model::TravelDocument {
            number: "X123".into(),
            expiry_date: chrono::NaiveDate::from_ymd_opt(2030, 1, 1).expect("date"),
            issuing_country: "ES".into(),
            nationality: "ES".into(),
        });
        let travelers = [traveler("Bebé", PassengerType::Infant), traveler("Rui", PassengerType::Child), adult];
        let contact = OrderContact { email: "ana@example.com".into(), phone: Some("+34600000000".into()) };
        let body = order_body(&offer, &travelers, &contact, "bk_42").expect("builds");
        let data = &body["data"];
        assert_eq!(data["type"], "hold");
        assert_eq!(data["metadata"], json!({ "wayfarer_booking_id": "bk_42" }));
        assert_eq!(data["selected_offers"], json!(["off_1"]));
        assert!(data.get("payments").is_none(), "a hold pays nothing");
        let ids: Vec<&str> =
            data["passengers"].as_array().expect("list").iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, ["pas_i", "pas_c", "pas_a"], "matched by type; the child by its age");
        let ana = &data["passengers"][2];
        assert_eq!((ana["given_name"].as_str(), ana["family_name"].as_str()), (Some("Ana"), Some("Lopez")));
        assert_eq!(ana["born_on"], "2019-05-01");
        assert_eq!(
            (ana["email"].as_str(), ana["phone_number"].as_str()),
            (Some("ana@example.com"), Some("+34600000000"))
        );
        assert_eq!(ana["identity_documents"][0]["unique_identifier"], "X123");
        assert_eq!(ana["identity_documents"][0]["issuing_country_code"], "ES");

        let wrong = [
            traveler("A", PassengerType::Adult),
            traveler("B", PassengerType::Adult),
            traveler("C", PassengerType::Adult),
        ];
        assert!(matches!(order_body(&offer, &wrong, &contact, "bk"), Err(ProviderError::Rejected(_))));
    }

    /// The fixture's first offer as Duffel sent it.
    fn fixture_offer() -> Value {
        let fixture: Value = serde_json::from_str(FIXTURE).expect("json");
        fixture["data"]["offers"][0].clone()
    }

    #[test]
    fn a_single_offer_get_reprices_the_searched_offer() {
        let offer = searched();
        let mut again = fixture_offer();
        again["total_amount"] = json!("1354.61");
        let body = json!({ "data": again }).to_string();
        let priced = map_priced_offer(body.as_bytes(), &offer).expect("maps");
        assert!(priced.price_changed);
        assert_eq!(priced.offer.price, Money::new(Decimal::new(135_461, 2), "EUR"));
        assert_eq!(priced.offer.id, offer.id);
        assert_eq!(priced.offer.provider_offer.to_value()["total_amount"], "1354.61");
        let same = json!({ "data": fixture_offer() }).to_string();
        assert!(!map_priced_offer(same.as_bytes(), &offer).expect("maps").price_changed);
    }

    #[test]
    fn an_offer_keeps_what_pricing_and_ordering_send_back() {
        let mut with_passengers = fixture_offer();
        with_passengers["passengers"] = json!([{ "id": "pas_a", "type": "adult", "given_name": null }]);
        with_passengers["conditions"] = json!({ "refund_before_departure": { "allowed": false } });
        let body = json!({ "data": { "offers": [with_passengers] } }).to_string();
        let offer = map_offer_request(body.as_bytes()).expect("maps").remove(0);
        assert_eq!(
            offer.provider_offer.to_value(),
            json!({ "id": "off_1", "total_amount": "1290.10", "total_currency": "EUR",
                    "passengers": [{ "id": "pas_a", "type": "adult", "age": null }] })
        );
        assert_eq!(provider_offer_id(&offer).expect("id"), "off_1");
        // Another price for the same Duffel offer is another offer of ours.
        let mut dearer = with_passengers.clone();
        dearer["total_amount"] = json!("1300.00");
        let body = json!({ "data": { "offers": [dearer] } }).to_string();
        assert_ne!(map_offer_request(body.as_bytes()).expect("maps")[0].id, offer.id);
    }

    #[test]
    fn an_offer_of_an_unexpected_shape_is_dropped_and_the_rest_kept() {
        let odd = json!({ "id": "off_odd", "total_amount": 12, "total_currency": "EUR", "slices": "none" });
        let body = json!({ "data": { "offers": [odd, fixture_offer()] } }).to_string();
        let offers = map_offer_request(body.as_bytes()).expect("maps");
        assert_eq!(offers.len(), 1);
        assert_eq!(provider_offer_id(&offers[0]).expect("id"), "off_1");
        let all = map_offer_request(json!({ "data": { "offers": [fixture_offer()] } }).to_string().as_bytes());
        assert_eq!(all.expect("maps")[0].id, offers[0].id, "the same offer, read either way");
        assert!(matches!(map_offer_request(b"<html>"), Err(ProviderError::Unavailable(_))));
    }

    #[test]
    fn errors_map_to_what_callers_branch_on() {
        let expired = error_body(422, "invalid_state_error", "offer_no_longer_available", "expired");
        assert_eq!(classify_error(&expired, true), ProviderError::OfferExpired);
        assert_eq!(classify_error(&expired, false), ProviderError::OfferExpired);
        let gone = error_body(404, "invalid_request_error", "not_found", "The offer was not found");
        assert_eq!(classify_error(&gone, true), ProviderError::OfferExpired);
        assert_eq!(classify_error(&gone, false), ProviderError::NotFound);
        let drift =
            error_body(422, "invalid_state_error", "price_changed", "The offer now costs 1354.61 EUR; get it again");
        assert_eq!(
            classify_error(&drift, true),
            ProviderError::PriceChanged { current: Money::new(Decimal::new(135_461, 2), "EUR") }
        );
        let invalid = error_body(400, "validation_error", "invalid_value", "born_on is required");
        assert!(matches!(classify_error(&invalid, true), ProviderError::Rejected(_)));
        let down = error_body(502, "api_error", "internal_server_error", "oops");
        assert_eq!(classify_error(&down, true), ProviderError::Unavailable("HTTP 502".into()), "not a refusal");
        let auth = error_body(401, "authentication_error", "unauthorized", "bad token");
        assert!(matches!(classify_error(&auth, true), ProviderError::Unauthorized(_)));
        assert!(already_cancelled(&error_body(422, "invalid_state_error", "order_already_cancelled", "done")));
        assert!(!already_cancelled(&expired));
    }

    #[test]
    fn orders_map_to_the_domain() {
        let held = r#"{ "data": { "id": "ord_1", "type": "hold", "booking_reference": "RZPNX8",
            "total_amount": "1290.10", "total_currency": "EUR", "cancelled_at": null,
            "metadata": { "wayfarer_booking_id": "bk_7" },
            "payment_status": { "awaiting_payment": true, "payment_required_by": "2027-01-01T10:20:00Z",
                                "paid_at": null } } }"#;
        let order = map_order(held.as_bytes()).expect("maps");
        assert_eq!(order.id, "ord_1");
        assert_eq!(order.reference.as_deref(), Some("RZPNX8"));
        assert_eq!(order.price, Money::new(Decimal::new(129_010, 2), "EUR"));
        assert_eq!(order.status, ProviderOrderStatus::Held);
        assert_eq!(order.client_reference.as_deref(), Some("bk_7"));
        assert_eq!(order.expires_at.map(|at| at.to_rfc3339()).as_deref(), Some("2027-01-01T10:20:00+00:00"));
        let now = order.expires_at.expect("deadline");
        assert_eq!(super::super::lapse_if_due(order.clone(), now).status, ProviderOrderStatus::Lapsed);
        let before = now - chrono::Duration::seconds(1);
        assert_eq!(super::super::lapse_if_due(order, before).status, ProviderOrderStatus::Held);
        let cancelled = held.replace(r#""cancelled_at": null"#, r#""cancelled_at": "2027-01-01T10:00:00Z""#);
        assert_eq!(map_order(cancelled.as_bytes()).expect("maps").status, ProviderOrderStatus::Cancelled);
        let released = held.replace(r#""cancelled_at": null"#, r#""cancelled_at": "2027-01-01T10:20:00Z""#);
        assert_eq!(map_order(released.as_bytes()).expect("maps").status, ProviderOrderStatus::Lapsed);
        let paid = held
            .replace(r#""awaiting_payment": true"#, r#""awaiting_payment": false"#)
            .replace(r#""paid_at": null"#, r#""paid_at": "2027-01-01T10:05:00Z""#);
        let paid = map_order(paid.as_bytes()).expect("maps");
        assert_eq!((paid.status, paid.expires_at), (ProviderOrderStatus::Confirmed, None));
        let refunded = held
            .replace(r#""awaiting_payment": true"#, r#""awaiting_payment": false"#)
            .replace(r#""paid_at": null"#, r#""paid_at": "2027-01-01T10:05:00Z""#)
            .replace(r#""cancelled_at": null"#, r#""cancelled_at": "2027-01-01T10:30:00Z""#);
        assert_eq!(map_order(refunded.as_bytes()).expect("maps").status, ProviderOrderStatus::Cancelled);
        assert_eq!(cancellation_id(br#"{"data":{"id":"ore_1"}}"#), Ok("ore_1".to_owned()));
    }
}
