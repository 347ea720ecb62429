//! The flight domain: what a search asks for and what providers offer, in
//! types that cannot hold nonsense — IATA codes checked against the dataset,
//! dates as dates, money as decimals, durations in minutes, local times with
//! their airport.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Travel class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Cabin {
    /// Economy.
    #[default]
    Economy,
    /// Premium economy.
    PremiumEconomy,
    /// Business.
    Business,
    /// First.
    First,
}

impl Cabin {
    /// The Amadeus `travelClass` value.
    pub fn amadeus(self) -> &'static str {
        match self {
            Self::Economy => "ECONOMY",
            Self::PremiumEconomy => "PREMIUM_ECONOMY",
            Self::Business => "BUSINESS",
            Self::First => "FIRST",
        }
    }

    /// The Duffel `cabin_class` value.
    pub fn duffel(self) -> &'static str {
        match self {
            Self::Economy => "economy",
            Self::PremiumEconomy => "premium_economy",
            Self::Business => "business",
            Self::First => "first",
        }
    }
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfferSort {
    /// Cheapest first.
    #[default]
    Price,
    /// Shortest total travel time first.
    Duration,
    /// Earliest departure first.
    Departure,
}

/// A part of the day, in the departure airport's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeOfDay {
    /// 05:00–12:00.
    Morning,
    /// 12:00–18:00.
    Afternoon,
    /// 18:00–24:00.
    Evening,
    /// 00:00–05:00.
    Night,
}

impl TimeOfDay {
    /// Whether a local hour (0–23) falls in this part of the day.
    pub fn contains_hour(self, hour: u32) -> bool {
        match self {
            Self::Morning => (5..12).contains(&hour),
            Self::Afternoon => (12..18).contains(&hour),
            Self::Evening => (18..24).contains(&hour),
            Self::Night => hour < 5,
        }
    }
}

/// A label an offer earns within one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfferLabel {
    /// The lowest price in the result.
    Cheapest,
    /// The shortest travel time in the result.
    Fastest,
    /// No connections.
    Nonstop,
}

/// An amount of money in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, exact.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

impl Money {
    /// `amount` in `currency`, rounded to cents.
    pub fn new(amount: Decimal, currency: &str) -> Self {
        Self { amount: amount.round_dp(2), currency: currency.to_owned() }
    }
}

/// Who travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Passengers {
    /// Aged 12 and over.
    pub adults: u8,
    /// Aged 2 to 11, with a seat.
    pub children: u8,
    /// Under 2, on an adult's lap.
    pub infants: u8,
}

impl Passengers {
    /// Travellers who take a seat.
    pub fn seated(&self) -> u8 {
        self.adults + self.children
    }
}

/// A validated search: what providers are asked. Equal searches are the same
/// provider call, so this is the key for batching, caching and coalescing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlightSearch {
    /// IATA airport or city code.
    pub origin: String,
    /// IATA airport or city code.
    pub destination: String,
    /// Outbound date.
    pub departure_date: NaiveDate,
    /// Return date for a round trip.
    pub return_date: Option<NaiveDate>,
    /// Who travels.
    pub passengers: Passengers,
    /// Travel class.
    pub cabin: Cabin,
    /// Only flights without connections.
    pub non_stop: bool,
    /// Currency prices are asked in.
    pub currency: String,
}

/// What is applied to provider results, not sent to providers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResultFilters {
    /// Only non-stop offers (providers are asked too; this holds even if one ignores it).
    pub non_stop: bool,
    /// Highest total price, in the search currency.
    pub max_price: Option<Decimal>,
    /// Only these marketing carriers (IATA), when given.
    pub carriers: Option<Vec<String>>,
    /// Outbound departure within this part of the day.
    pub departure_time_of_day: Option<TimeOfDay>,
    /// Order.
    pub sort: OfferSort,
    /// How many offers to return.
    pub first: usize,
}

/// One end of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentEnd {
    /// IATA airport code.
    pub airport: String,
    /// Terminal, when known.
    pub terminal: Option<String>,
    /// Local time at that airport.
    pub at: NaiveDateTime,
}

/// One flight.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// Marketing carrier, IATA.
    pub carrier: String,
    /// Carrier code plus number, `TP1350`.
    pub flight_number: String,
    /// Operating carrier, when different.
    pub operating_carrier: Option<String>,
    /// Departure.
    pub departure: SegmentEnd,
    /// Arrival.
    pub arrival: SegmentEnd,
    /// Flying time in minutes.
    pub duration_minutes: u32,
    /// IATA aircraft code, when known.
    pub aircraft: Option<String>,
}

/// One direction of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Itinerary {
    /// Door to door in minutes, connections included.
    pub duration_minutes: u32,
    /// Its flights, in order.
    pub segments: Vec<Segment>,
}

impl Itinerary {
    /// Connections on the way.
    pub fn stops(&self) -> usize {
        self.segments.len().saturating_sub(1)
    }
}

/// What pricing and booking send back to a provider, as JSON text: an
/// Amadeus offer exactly as sent (its pricing is sent the whole offer), a
/// Duffel offer's id, passengers and quoted price (Duffel names an offer by
/// its id; `providers::duffel`). Nothing on the search path reads it.
/// Text rather than a parsed `serde_json::Value` because a parsed tree costs
/// several times the bytes and a dozen allocations per object, for every
/// offer of every search, to serve the few that are booked; those parse it
/// on demand ([`ProviderOffer::to_value`]). Shared, so copies of an offer
/// (cache, progress, ranking) do not copy it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderOffer(std::sync::Arc<serde_json::value::RawValue>);

impl ProviderOffer {
    /// The JSON text as the provider sent it.
    pub fn from_raw(raw: Box<serde_json::value::RawValue>) -> Self {
        Self(raw.into())
    }

    /// A parsed value, written out compactly (tests, and offers built here).
    pub fn from_value(value: &serde_json::Value) -> Self {
        // A Value always serialises, and its text is always valid JSON.
        serde_json::value::to_raw_value(value).map(Self::from_raw).unwrap_or_default()
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The offer parsed, for the booking steps that read or amend it.
    pub fn to_value(&self) -> serde_json::Value {
        // The text was valid JSON when it was stored.
        serde_json::from_str(self.as_str()).unwrap_or_default()
    }

    /// A string member of the top-level object (`id`), without building a tree.
    pub fn str_field(&self, name: &str) -> Option<String> {
        let members: std::collections::HashMap<&str, &serde_json::value::RawValue> =
            serde_json::from_str(self.as_str()).ok()?;
        serde_json::from_str::<String>(members.get(name)?.get()).ok()
    }
}

impl Default for ProviderOffer {
    /// JSON `null`: no provider offer (booking views, stored snapshots).
    fn default() -> Self {
        Self::from_raw(serde_json::value::RawValue::NULL.to_owned())
    }
}

impl PartialEq for ProviderOffer {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for ProviderOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Offers are logged in errors; the provider's JSON is long and says nothing new.
        write!(f, "ProviderOffer({} bytes)", self.as_str().len())
    }
}

/// An offer from a provider, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Our id: stable, opaque, names the provider and its offer.
    pub id: String,
    /// Which provider (`amadeus`, `duffel`).
    pub provider: String,
    /// Total for all travellers.
    pub price: Money,
    /// Seats left at this price, when the provider says.
    pub seats_available: Option<u8>,
    /// When the provider stops honouring it.
    pub expires_at: DateTime<Utc>,
    /// Outbound, then return.
    pub itineraries: Vec<Itinerary>,
    /// The provider's own offer, as far as pricing and booking send it back ([`ProviderOffer`]).
    pub provider_offer: ProviderOffer,
    /// Who it was priced for, one entry per traveller in the provider's
    /// order; a booking must bring exactly these. Empty when the provider
    /// did not say (offers kept from before this field existed).
    #[serde(default)]
    pub passengers: Vec<PassengerType>,
}

impl Offer {
    /// About how many bytes of memory it holds (its provider JSON, strings
    /// and vectors): what the in-process caches budget by.
    pub fn approx_bytes(&self) -> usize {
        let text = |s: &str| s.len();
        let optional = |s: &Option<String>| s.as_deref().map_or(0, str::len);
        let segments: usize = self
            .itineraries
            .iter()
            .flat_map(|i| &i.segments)
            .map(|s| {
                size_of::<Segment>()
                    + text(&s.carrier)
                    + text(&s.flight_number)
                    + optional(&s.operating_carrier)
                    + text(&s.departure.airport)
                    + optional(&s.departure.terminal)
                    + text(&s.arrival.airport)
                    + optional(&s.arrival.terminal)
                    + optional(&s.aircraft)
            })
            .sum();
        size_of::<Self>()
            + text(&self.id)
            + text(&self.provider)
            + text(&self.price.currency)
            + self.itineraries.len() * size_of::<Itinerary>()
            + segments
            + self.passengers.len()
            + self.provider_offer.as_str().len()
    }

    /// Total travel time over all itineraries.
    pub fn total_minutes(&self) -> u32 {
        self.itineraries.iter().map(|i| i.duration_minutes).sum()
    }

    /// Whether every itinerary is non-stop.
    pub fn is_nonstop(&self) -> bool {
        self.itineraries.iter().all(|i| i.segments.len() == 1)
    }

    /// Departure of the first flight, local.
    pub fn departure(&self) -> Option<&SegmentEnd> {
        self.itineraries.first()?.segments.first().map(|s| &s.departure)
    }

    /// What makes two offers the same journey: the same flights on the same days.
    pub fn journey_key(&self) -> Vec<(&str, NaiveDateTime)> {
        self.itineraries
            .iter()
            .flat_map(|i| i.segments.iter().map(|s| (s.flight_number.as_str(), s.departure.at)))
            .collect()
    }
}

/// What kind of traveller, as fares distinguish them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "TravelerType")]
pub enum PassengerType {
    /// Aged 12 and over.
    Adult,
    /// Aged 2 to 11, with a seat.
    Child,
    /// Under 2, on an adult's lap.
    Infant,
}

/// An identity document a traveller flies on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TravelDocument {
    /// Passport number.
    pub number: String,
    /// Last day it is valid.
    pub expiry_date: NaiveDate,
    /// ISO 3166-1 alpha-2 country that issued it.
    pub issuing_country: String,
    /// ISO 3166-1 alpha-2 nationality of its holder.
    pub nationality: String,
}

/// One traveller of an order, as the airline must know them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderTraveler {
    /// Given name(s), as on the document.
    pub first_name: String,
    /// Family name(s), as on the document.
    pub last_name: String,
    /// Date of birth: fares depend on age on the day of travel.
    pub date_of_birth: NaiveDate,
    /// Adult, child or infant; must match a traveller the offer was priced for.
    pub kind: PassengerType,
    /// Passport, when the route needs one.
    pub document: Option<TravelDocument>,
}

/// Who the airline contacts about an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderContact {
    /// Email address.
    pub email: String,
    /// Phone number in E.164 (`+351912345678`), when given.
    pub phone: Option<String>,
}

/// Where a provider's order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderOrderStatus {
    /// Seats reserved, not yet paid or ticketed.
    Held,
    /// Paid or ticketed.
    Confirmed,
    /// Cancelled (by us, or by the provider after a confirmed order was voided).
    Cancelled,
    /// A hold that was never confirmed and passed its deadline
    /// ([`ProviderOrder::expires_at`]): the seats are released, and it can
    /// no longer be confirmed.
    Lapsed,
}

/// An order as a provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProviderOrder {
    /// The provider's order id, verbatim (Amadeus ids may be percent-encoded already).
    pub id: String,
    /// The airline's booking reference (PNR), when the provider gives one.
    pub reference: Option<String>,
    /// Total for all travellers.
    pub price: Money,
    /// Where it stands.
    pub status: ProviderOrderStatus,
    /// When an unconfirmed hold lapses (Duffel `payment_required_by`, the
    /// Amadeus ticketing agreement's deadline), when the provider says.
    pub expires_at: Option<DateTime<Utc>>,
    /// Our reference sent with the order (the booking id), as the provider
    /// gives it back: what ties an order found at the provider to a booking.
    pub client_reference: Option<String>,
}

/// An offer as priced right before booking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedOffer {
    /// The offer with the confirmed price, and the provider's priced JSON in
    /// `provider_offer` (what booking must send). Its `id` stays that of the
    /// searched offer, so callers keep one name for it.
    pub offer: Offer,
    /// Whether the confirmed price differs from the searched one.
    pub price_changed: bool,
}

/// Minutes as ISO 8601 (`PT7H25M`).
pub fn iso_duration(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("PT{m}M"),
        (h, 0) => format!("PT{h}H"),
        (h, m) => format!("PT{h}H{m}M"),
    }
}

/// Minutes from an ISO 8601 duration (`PT5H55M`, `PT02H26M`, `P1DT2H`).
pub fn parse_iso_duration(text: &str) -> Option<u32> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut minutes = 0u32;
    if !days.is_empty() {
        minutes += days.strip_suffix('D')?.parse::<u32>().ok()? * 24 * 60;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' => number.push(c),
            'H' => minutes += number.parse::<u32>().ok()? * 60,
            'M' => minutes += number.parse::<u32>().ok()?,
            'S' => {}
            _ => return None,
        }
        if !c.is_ascii_digit() {
            number.clear();
        }
    }
    number.is_empty().then_some(minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_both_providers_styles() {
        assert_eq!(iso_duration(445), "PT7H25M");
        assert_eq!(iso_duration(45), "PT45M");
        assert_eq!(iso_duration(120), "PT2H");
        assert_eq!(parse_iso_duration("PT5H55M"), Some(355));
        assert_eq!(parse_iso_duration("PT02H26M"), Some(146));
        assert_eq!(parse_iso_duration("P1DT2H"), Some(26 * 60));
        assert_eq!(parse_iso_duration("PT45M30S"), Some(45));
        assert_eq!(parse_iso_duration("5H"), None);
        assert_eq!(parse_iso_duration("PT5X"), None);
    }

    #[test]
    fn time_of_day_covers_the_clock_once() {
        for hour in 0..24 {
            let parts = [TimeOfDay::Morning, TimeOfDay::Afternoon, TimeOfDay::Evening, TimeOfDay::Night];
            assert_eq!(parts.iter().filter(|p| p.contains_hour(hour)).count(), 1, "{hour}");
        }
    }
}
