//! The Amadeus-style adapter (Self-Service APIs, `reference/providers.md` §1):
//! an OAuth2 client-credentials token cached and refreshed single-flight
//! before expiry, re-authentication once on a 401, and Flight Offers Search v2
//! mapped to the domain model.
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
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::{FlightProvider, HttpReply, HttpStats, ProviderError, ProviderHttp, offer_id};
use crate::flights::model::{FlightSearch, Itinerary, Money, Offer, Segment, SegmentEnd, parse_iso_duration};

/// Media type of Amadeus API bodies.
const AMADEUS_JSON: &str = "application/vnd.amadeus+json";
/// Offers are held this long after a search.
const OFFER_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Most offers asked for per search.
const MAX_OFFERS: u32 = 50;

#[derive(Debug, Clone)]
struct Token {
    value: String,
    refresh_at: tokio::time::Instant,
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

#[derive(Deserialize)]
struct SearchBody {
    #[serde(default)]
    data: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOffer {
    #[serde(default)]
    number_of_bookable_seats: Option<u8>,
    itineraries: Vec<WireItinerary>,
    price: WirePrice,
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

    /// GETs an API path with the bearer token, re-authenticating once on 401.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<HttpReply, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let reply = self
                .http
                .send_idempotent(|| {
                    self.http.client().get(&url).query(query).bearer_auth(&token).header("accept", AMADEUS_JSON)
                })
                .await?;
            if reply.status == 401 && attempt == 0 {
                self.forget_token(&token).await;
                continue;
            }
            return Ok(reply);
        }
        Err(ProviderError::Unauthorized("the API refused a fresh token".into()))
    }
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
}

/// Maps a Flight Offers Search body to domain offers.
pub fn map_search(body: &[u8]) -> Result<Vec<Offer>, ProviderError> {
    let body: SearchBody =
        serde_json::from_slice(body).map_err(|e| ProviderError::Unavailable(format!("unreadable search: {e}")))?;
    let expires_at = Utc::now() + OFFER_LIFETIME;
    let mut offers = Vec::with_capacity(body.data.len());
    for raw in body.data {
        let wire: WireOffer = match serde_json::from_value(raw.clone()) {
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

fn map_offer(wire: WireOffer, raw: Value, expires_at: chrono::DateTime<Utc>) -> Option<Offer> {
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
    Some(Offer {
        id: offer_id("amadeus", &raw),
        provider: "amadeus".to_owned(),
        price: Money::new(total, &wire.price.currency),
        seats_available: wire.number_of_bookable_seats,
        expires_at,
        itineraries,
        provider_offer: raw,
    })
}

/// Local times on both ends, so only an approximation across time zones;
/// used when a provider omits the duration.
fn minutes_between(from: NaiveDateTime, to: NaiveDateTime) -> u32 {
    u32::try_from((to - from).num_minutes().max(0)).unwrap_or(0)
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
        assert_eq!(offer.provider_offer["id"], "1", "kept verbatim for pricing");
    }

    #[test]
    fn error_bodies_of_either_shape_are_described() {
        let reply = |status, body: &str| HttpReply { status, body: body.as_bytes().to_vec() };
        let numeric =
            reply(400, r#"{"errors":[{"status":400,"code":477,"title":"INVALID FORMAT","detail":"bad date"}]}"#);
        assert_eq!(error_detail(&numeric), "HTTP 400 477 bad date");
        let stringy = reply(401, r#"{"errors":[{"status":"401","code":"38191","title":"Invalid HTTP header"}]}"#);
        assert_eq!(error_detail(&stringy), "HTTP 401 38191 Invalid HTTP header");
        let token = reply(401, r#"{"error":"invalid_client","error_description":"Client credentials are invalid"}"#);
        assert_eq!(error_detail(&token), "HTTP 401 Client credentials are invalid");
        assert_eq!(error_detail(&reply(502, "<html>")), "HTTP 502");
    }
}
