//! The Duffel-style adapter (`reference/providers.md` §3): an offer request
//! with `return_offers=true`, `Duffel-Version: v2` on every call, bearer
//! token auth, `{ "data": … }` envelopes, offers mapped to the domain model.
//!
//! Duffel prices in the currency its airline sells in and has no currency
//! parameter; offers keep the currency they come in.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FlightProvider, HttpReply, HttpStats, ProviderError, ProviderHttp, offer_id};
use crate::flights::model::{FlightSearch, Itinerary, Money, Offer, Segment, SegmentEnd, parse_iso_duration};

/// The API version this adapter speaks.
const DUFFEL_VERSION: &str = "v2";

/// Flight offers from a Duffel-style API.
#[derive(Debug)]
pub struct DuffelProvider {
    base_url: String,
    token: SecretString,
    http: ProviderHttp,
}

#[derive(Deserialize)]
struct Envelope {
    data: OfferRequest,
}

#[derive(Deserialize)]
struct OfferRequest {
    #[serde(default)]
    offers: Vec<Value>,
}

#[derive(Deserialize)]
struct WireOffer {
    total_amount: String,
    total_currency: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    slices: Vec<WireSlice>,
    #[serde(default)]
    available_seats: Option<u8>,
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
}

/// Maps an offer request body to domain offers.
pub fn map_offer_request(body: &[u8]) -> Result<Vec<Offer>, ProviderError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Unavailable(format!("unreadable offer request: {e}")))?;
    let fallback_expiry = Utc::now() + chrono::Duration::minutes(30);
    Ok(envelope
        .data
        .offers
        .into_iter()
        .filter_map(|raw| {
            let wire: WireOffer = serde_json::from_value(raw.clone()).ok()?;
            map_offer(wire, raw, fallback_expiry)
        })
        .collect())
}

fn map_offer(wire: WireOffer, raw: Value, fallback_expiry: DateTime<Utc>) -> Option<Offer> {
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
    Some(Offer {
        id: offer_id("duffel", &raw),
        provider: "duffel".to_owned(),
        price: Money::new(total, &wire.total_currency),
        seats_available: wire.available_seats,
        expires_at: wire.expires_at.unwrap_or(fallback_expiry),
        itineraries,
        provider_offer: raw,
    })
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
}
