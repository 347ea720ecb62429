//! Deterministic flight offers: from a search (slices, passengers, cabin,
//! connections, currency), the personality asking and the current date, the
//! same offers every time, byte for byte. Nothing here touches a clock, a
//! random generator or a hash map's iteration order: every choice comes from
//! a SHA-256 of what it depends on.
//!
//! The model is a plausible airline world rather than a random one: each
//! curated carrier runs a daily schedule on the legs touching its hubs
//! (departures spread over the day in the origin's local time, arrival in
//! the destination's zone, about 800 km/h plus 30 minutes), connections
//! chain two of its legs through a hub with a realistic layover, and fares
//! grow with distance, cabin, passengers and demand. The schedule does not
//! depend on the personality, so both personalities see the same flights;
//! each then keeps its own overlapping subset and prices it its own way.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, NaiveDateTime, TimeZone as _, Utc, Weekday};
use rust_decimal::Decimal;
use sha2::{Digest as _, Sha256};

use super::carriers::{self, Aircraft, CARRIERS, Carrier};
use crate::generations::{Bounds, Generations};
use crate::reference::{Airport, AirportSize, ReferenceData, distance_km};

/// Which provider is asking: each keeps a different subset and prices differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Personality {
    Amadeus,
    Duffel,
}

impl Personality {
    /// Lower-case name, as the control API spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Amadeus => "amadeus",
            Self::Duffel => "duffel",
        }
    }
}

/// Cabin class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cabin {
    Economy,
    PremiumEconomy,
    Business,
    First,
}

impl Cabin {
    /// Amadeus spelling (`PREMIUM_ECONOMY`).
    pub(crate) fn amadeus(self) -> &'static str {
        match self {
            Self::Economy => "ECONOMY",
            Self::PremiumEconomy => "PREMIUM_ECONOMY",
            Self::Business => "BUSINESS",
            Self::First => "FIRST",
        }
    }

    /// Duffel spelling (`premium_economy`).
    pub(crate) fn duffel(self) -> &'static str {
        match self {
            Self::Economy => "economy",
            Self::PremiumEconomy => "premium_economy",
            Self::Business => "business",
            Self::First => "first",
        }
    }

    /// From either spelling.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "ECONOMY" => Some(Self::Economy),
            "PREMIUM_ECONOMY" => Some(Self::PremiumEconomy),
            "BUSINESS" => Some(Self::Business),
            "FIRST" => Some(Self::First),
            _ => None,
        }
    }

    /// Marketing name for Duffel's `cabin_class_marketing_name`.
    pub(crate) fn marketing_name(self) -> &'static str {
        match self {
            Self::Economy => "Economy",
            Self::PremiumEconomy => "Premium Economy",
            Self::Business => "Business",
            Self::First => "First",
        }
    }

    fn multiplier(self) -> f64 {
        match self {
            Self::Economy => 1.0,
            Self::PremiumEconomy => 1.7,
            Self::Business => 3.8,
            Self::First => 6.5,
        }
    }

    fn booking_classes(self) -> &'static [char] {
        match self {
            Self::Economy => &['Q', 'V', 'L', 'K', 'M', 'B', 'Y'],
            Self::PremiumEconomy => &['W', 'E', 'N'],
            Self::Business => &['Z', 'D', 'C', 'J'],
            Self::First => &['A', 'F'],
        }
    }
}

/// Who travels, by fare type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Passengers {
    /// Age 12 and over.
    pub(crate) adults: u8,
    /// Age 2–11, own seat.
    pub(crate) children: u8,
    /// Under 2, on an adult's lap.
    pub(crate) infants: u8,
}

impl Passengers {
    /// Travellers who need a seat.
    pub(crate) fn seated(self) -> u8 {
        self.adults.saturating_add(self.children)
    }
}

/// Fare type of one traveller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PassengerKind {
    Adult,
    Child,
    Infant,
}

/// One leg of the journey asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SliceRequest {
    /// IATA airport or city code.
    pub(crate) origin: String,
    /// IATA airport or city code.
    pub(crate) destination: String,
    /// Departure date, local to the origin.
    pub(crate) date: NaiveDate,
}

/// A search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SearchRequest {
    /// One per itinerary (one-way: 1, round trip: 2).
    pub(crate) slices: Vec<SliceRequest>,
    /// Who travels.
    pub(crate) passengers: Passengers,
    /// Cabin asked for.
    pub(crate) cabin: Cabin,
    /// 0 = non-stop only.
    pub(crate) max_connections: u8,
    /// ISO 4217, one of [`carriers::CURRENCIES`].
    pub(crate) currency: &'static str,
}

/// Why a search cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GenerateError {
    /// A code names no airport or city.
    UnknownLocation { slice: usize, destination: bool, code: String },
    /// Origin and destination are the same place.
    SameLocation { slice: usize },
    /// A departure date is before today.
    PastDate { slice: usize },
    /// More than nine seated travellers, none, or more infants than adults.
    Passengers,
    /// The currency is not one the sandbox prices in.
    Currency,
}

/// One flight.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) carrier: &'static Carrier,
    pub(crate) number: u16,
    pub(crate) aircraft: &'static Aircraft,
    pub(crate) from: &'static Airport,
    pub(crate) to: &'static Airport,
    pub(crate) departure: DateTime<Utc>,
    pub(crate) arrival: DateTime<Utc>,
    pub(crate) distance_km: u32,
    pub(crate) from_terminal: Option<&'static str>,
    pub(crate) to_terminal: Option<&'static str>,
    pub(crate) booking_class: char,
    pub(crate) fare_basis: String,
}

impl Segment {
    /// Departure in the origin airport's local time.
    pub(crate) fn departure_local(&self) -> NaiveDateTime {
        self.departure.with_timezone(&self.from.time_zone).naive_local()
    }

    /// Arrival in the destination airport's local time.
    pub(crate) fn arrival_local(&self) -> NaiveDateTime {
        self.arrival.with_timezone(&self.to.time_zone).naive_local()
    }

    /// Block time in minutes.
    pub(crate) fn minutes(&self) -> i64 {
        (self.arrival - self.departure).num_minutes()
    }
}

/// One direction of an offer: its flights in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Itinerary {
    pub(crate) segments: Vec<Segment>,
}

impl Itinerary {
    /// First departure to last arrival, in minutes.
    pub(crate) fn minutes(&self) -> i64 {
        match (self.segments.first(), self.segments.last()) {
            (Some(first), Some(last)) => (last.arrival - first.departure).num_minutes(),
            _ => 0,
        }
    }
}

/// The price of one traveller of a kind, and how many travel at it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PassengerFare {
    pub(crate) kind: PassengerKind,
    pub(crate) count: u8,
    /// Per traveller.
    pub(crate) base: Decimal,
    /// Per traveller.
    pub(crate) taxes: Decimal,
}

impl PassengerFare {
    /// Per traveller, base plus taxes.
    pub(crate) fn total(&self) -> Decimal {
        self.base + self.taxes
    }
}

/// One bookable offer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Offer {
    /// Stable identity of the journey, passengers and cabin (hex), the same
    /// for both personalities: what a merging client would de-duplicate on.
    pub(crate) key: String,
    /// Validating (selling) carrier.
    pub(crate) carrier: &'static Carrier,
    pub(crate) itineraries: Vec<Itinerary>,
    /// 1–9.
    pub(crate) seats: u8,
    pub(crate) cabin: Cabin,
    pub(crate) currency: &'static str,
    /// One entry per passenger kind present.
    pub(crate) fares: Vec<PassengerFare>,
    pub(crate) last_ticketing_date: NaiveDate,
    /// Fare family (`LIGHT`, `CLASSIC`, `FLEX`, `BUSINESS`…).
    pub(crate) brand: &'static str,
    pub(crate) checked_bags: u8,
    pub(crate) refundable: bool,
}

impl Offer {
    /// Sum of base fares.
    pub(crate) fn base_total(&self) -> Decimal {
        self.fares.iter().map(|f| f.base * Decimal::from(f.count)).sum()
    }

    /// Sum of taxes.
    pub(crate) fn tax_total(&self) -> Decimal {
        self.fares.iter().map(|f| f.taxes * Decimal::from(f.count)).sum()
    }

    /// What the travellers pay together.
    pub(crate) fn total(&self) -> Decimal {
        self.base_total() + self.tax_total()
    }

    /// The same offer with base fares moved by `percent` (price drift between
    /// search and pricing); taxes do not drift.
    pub(crate) fn drifted(&self, percent: f64) -> Offer {
        let mut offer = self.clone();
        if percent == 0.0 {
            return offer;
        }
        let factor = 1.0 + percent / 100.0;
        for fare in &mut offer.fares {
            fare.base = money(decimal_to_f64(fare.base) * factor);
        }
        offer
    }

    /// Every segment, in order.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.itineraries.iter().flat_map(|i| &i.segments)
    }
}

fn decimal_to_f64(value: Decimal) -> f64 {
    value.to_string().parse().unwrap_or(0.0)
}

/// Rounds to cents, never below one cent.
fn money(amount: f64) -> Decimal {
    let cents = (amount * 100.0).round().max(1.0);
    // Fares stay far below i64 cents; the cast is exact for them.
    Decimal::new(cents as i64, 2)
}

/// A 64-bit value from SHA-256 of `text`: the only source of variation.
/// `text` is written straight into the digest (`format_args!` rather than
/// `format!`): the same bytes, so the same value, without building a
/// string for every choice a market makes.
pub(crate) fn hash64(text: impl std::fmt::Display) -> u64 {
    let digest = digest_of(text);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// Hex of SHA-256 of `text`, `len` characters.
pub(crate) fn hash_hex(text: impl std::fmt::Display, len: usize) -> String {
    let digest = hex::encode(digest_of(text));
    digest[..len.min(digest.len())].to_owned()
}

/// SHA-256 of `text` as it displays.
fn digest_of(text: impl std::fmt::Display) -> [u8; 32] {
    struct Digesting(Sha256);
    impl std::fmt::Write for Digesting {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut digesting = Digesting(Sha256::new());
    // Writing into a digest cannot fail; a `Display` that fails would only
    // leave its text short, which still digests deterministically.
    let _ = std::fmt::Write::write_fmt(&mut digesting, format_args!("{text}"));
    digesting.0.finalize().into()
}

/// A value in `[0, 1)` from `text`.
fn unit(text: impl std::fmt::Display) -> f64 {
    (hash64(text) >> 11) as f64 / (1u64 << 53) as f64
}

/// Scheduled airports a code stands for (a city's three largest).
pub(crate) fn resolve(code: &str) -> Option<Vec<&'static Airport>> {
    let data = ReferenceData::embedded();
    let airports = data.airports_for(code);
    if airports.is_empty() {
        return None;
    }
    Some(airports.into_iter().filter(|a| a.scheduled).take(3).collect())
}

/// Generates the offers `personality` returns for `request`, cheapest first.
/// `today` feeds the demand curve and the last ticketing date.
pub(crate) fn generate(
    personality: Personality,
    request: &SearchRequest,
    today: NaiveDate,
) -> Result<Vec<Offer>, GenerateError> {
    let market = MARKETS.market(request, today, personality)?;
    // Each personality sees most, not all, of the market, and prices it its own way.
    let mut offers: Vec<Offer> = market
        .iter()
        .filter(|o| hash64(format_args!("{}|keep|{}", personality.name(), o.key)) % 100 < 80)
        .map(|o| personalize(personality, o.clone()))
        .collect();
    offers.sort_by(|a, b| a.total().cmp(&b.total()).then_with(|| a.key.cmp(&b.key)));
    Ok(offers)
}

/// Markets computed recently, for the other personality.
static MARKETS: Markets = Markets::new();

/// Both providers are asked the same search at once (the server fans out),
/// and the market (every carrier's schedule, connections and fares) does not
/// depend on who asks: most of a search's sandbox CPU, spent twice. A
/// market is kept until the other personality takes it (the one that
/// computed it reuses it meanwhile), so a burst of
/// distinct searches keeps about one per search in flight; a market only
/// one personality asks for is dropped within two generations of
/// [`Markets::GENERATION`]. A pure function of its key, so sharing it
/// across sandboxes in one process changes nothing.
struct Markets {
    generations: std::sync::Mutex<Option<MarketGenerations>>,
}

type MarketKey = (SearchRequest, NaiveDate);

impl Markets {
    /// Markets per generation: a market is ≈ 100 KiB (≈ 200 offers), so
    /// markets one personality alone asks for hold ≈ 100 MiB at most.
    const GENERATION: usize = 512;

    const fn new() -> Self {
        Self { generations: std::sync::Mutex::new(None) }
    }

    fn market(
        &self,
        request: &SearchRequest,
        today: NaiveDate,
        asking: Personality,
    ) -> Result<std::sync::Arc<Vec<Offer>>, GenerateError> {
        let key = (request.clone(), today);
        {
            let mut guard = self.lock();
            let kept = Self::kept(&mut guard);
            match kept.get(&key).map(|(first, market)| (*first == asking, market.clone())) {
                Some((true, market)) => return Ok(market),
                Some((false, _)) => {
                    if let Some((_, market)) = kept.remove(&key) {
                        return Ok(market);
                    }
                }
                None => {}
            }
        }
        // Computed outside the lock: searches generate in parallel.
        let market = std::sync::Arc::new(market(request, today)?);
        Self::kept(&mut self.lock()).insert(key, (asking, market.clone()));
        Ok(market)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MarketGenerations>> {
        self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn kept(generations: &mut Option<MarketGenerations>) -> &mut MarketGenerations {
        generations.get_or_insert_with(|| {
            // Only entries bound a generation: markets count no bytes.
            Generations::new(Bounds { entries: Self::GENERATION, bytes: usize::MAX }, |_| 0)
        })
    }
}

type MarketGenerations = Generations<MarketKey, (Personality, std::sync::Arc<Vec<Offer>>)>;

/// Every carrier's offers for `request`, de-duplicated, before any personality.
fn market(request: &SearchRequest, today: NaiveDate) -> Result<Vec<Offer>, GenerateError> {
    let passengers = request.passengers;
    if passengers.adults == 0 || passengers.seated() > 9 || passengers.infants > passengers.adults {
        return Err(GenerateError::Passengers);
    }
    let (currency, rate, _) = carriers::currency(request.currency).ok_or(GenerateError::Currency)?;
    let mut per_slice = Vec::with_capacity(request.slices.len());
    for (index, slice) in request.slices.iter().enumerate() {
        let origins = resolve(&slice.origin).ok_or_else(|| GenerateError::UnknownLocation {
            slice: index,
            destination: false,
            code: slice.origin.clone(),
        })?;
        let destinations = resolve(&slice.destination).ok_or_else(|| GenerateError::UnknownLocation {
            slice: index,
            destination: true,
            code: slice.destination.clone(),
        })?;
        let same_city = origins.iter().any(|o| destinations.iter().any(|d| o.city_code == d.city_code));
        if slice.origin == slice.destination || same_city {
            return Err(GenerateError::SameLocation { slice: index });
        }
        if slice.date < today {
            return Err(GenerateError::PastDate { slice: index });
        }
        per_slice.push(slice_options(&origins, &destinations, slice.date, request.max_connections));
    }

    let mut offers = Vec::new();
    for carrier in CARRIERS {
        let options: Vec<&Vec<Itinerary>> = per_slice
            .iter()
            .filter_map(|by_carrier| by_carrier.iter().find(|(c, _)| *c == carrier.code))
            .map(|(_, o)| o)
            .collect();
        if options.len() != per_slice.len() || options.is_empty() {
            continue;
        }
        let Some(first) = options.first() else { continue };
        // Pair each outbound option with two of the later slices' options:
        // enough choice without a combinatorial explosion.
        for (i, _) in first.iter().enumerate() {
            let pairings = if options.len() == 1 { 1 } else { 2 };
            for k in 0..pairings {
                let itineraries: Vec<Itinerary> = options
                    .iter()
                    .enumerate()
                    .filter_map(|(s, list)| {
                        let index = if s == 0 { i } else { (i + k * (s + 1)) % list.len().max(1) };
                        list.get(index).cloned()
                    })
                    .collect();
                if itineraries.len() != options.len() {
                    continue;
                }
                if let Some(offer) = price(carrier, itineraries, request, currency, rate, today) {
                    offers.push(offer);
                }
            }
        }
    }

    let mut seen = std::collections::HashSet::new();
    offers.retain(|o| seen.insert(o.key.clone()));
    Ok(offers)
}

fn personalize(personality: Personality, offer: Offer) -> Offer {
    match personality {
        Personality::Amadeus => offer,
        Personality::Duffel => {
            // ±3–5 % per offer, on the base fare (taxes are the airports').
            let seed = hash64(format_args!("duffel|price|{}", offer.key));
            let magnitude = 3.0 + (seed % 201) as f64 / 100.0;
            let percent = if (seed >> 32).is_multiple_of(2) { magnitude } else { -magnitude };
            offer.drifted(percent)
        }
    }
}

/// Itineraries of every carrier for one slice, carriers in table order.
fn slice_options(
    origins: &[&'static Airport],
    destinations: &[&'static Airport],
    date: NaiveDate,
    max_connections: u8,
) -> Vec<(&'static str, Vec<Itinerary>)> {
    let mut result: Vec<(&'static str, Vec<Itinerary>)> = Vec::new();
    for carrier in CARRIERS {
        let mut itineraries = Vec::new();
        for origin in origins {
            for destination in destinations {
                if !eligible(carrier, origin, destination) {
                    continue;
                }
                itineraries.extend(nonstops(carrier, origin, destination, date));
                if max_connections >= 1 {
                    itineraries.extend(connections(carrier, origin, destination, date));
                }
            }
        }
        if !itineraries.is_empty() {
            itineraries.sort_by_key(|i| i.segments.first().map(|s| s.departure));
            result.push((carrier.code, itineraries));
        }
    }
    if result.is_empty() {
        // No curated carrier reaches this pair: the nearest plausible one flies
        // it non-stop, so every real route answers with something.
        if let (Some(origin), Some(destination)) = (origins.first(), destinations.first()) {
            let carrier = fallback_carrier(origin);
            let itineraries: Vec<Itinerary> = schedule(carrier, origin, destination, date)
                .into_iter()
                .map(|segment| Itinerary { segments: vec![segment] })
                .collect();
            if !itineraries.is_empty() {
                result.push((carrier.code, itineraries));
            }
        }
    }
    result
}

fn fallback_carrier(origin: &Airport) -> &'static Carrier {
    let region = carriers::region_of(&origin.country);
    CARRIERS
        .iter()
        .find(|c| c.country == origin.country)
        .or_else(|| CARRIERS.iter().find(|c| c.region == region))
        .unwrap_or(&CARRIERS[0])
}

/// Whether `carrier` plausibly sells `origin` → `destination` at all.
fn eligible(carrier: &Carrier, origin: &Airport, destination: &Airport) -> bool {
    if origin.country == destination.country {
        // Cabotage: domestic routes are for home carriers.
        return carrier.country == origin.country;
    }
    let (from, to) = (carriers::region_of(&origin.country), carriers::region_of(&destination.country));
    carrier.region == from || carrier.region == to || (carrier.global && from != to)
}

fn nonstops(
    carrier: &'static Carrier,
    origin: &'static Airport,
    destination: &'static Airport,
    date: NaiveDate,
) -> Vec<Itinerary> {
    let distance = distance_km(origin, destination);
    let hub = carrier.is_hub(&origin.code) || carrier.is_hub(&destination.code);
    let base = carrier.is_base(&origin.code) || carrier.is_base(&destination.code);
    let other = if carrier.is_hub(&origin.code) || carrier.is_base(&origin.code) { destination } else { origin };
    let served = if hub {
        // Hubs reach large airports anywhere, medium ones within medium haul.
        distance <= 16_000.0
            && (other.size == AirportSize::Large || distance < 4500.0 && other.size == AirportSize::Medium)
    } else {
        base && distance < 4000.0 && matches!(other.size, AirportSize::Large | AirportSize::Medium)
    };
    if !served || distance < 120.0 {
        return Vec::new();
    }
    schedule(carrier, origin, destination, date).into_iter().map(|s| Itinerary { segments: vec![s] }).collect()
}

fn connections(
    carrier: &'static Carrier,
    origin: &'static Airport,
    destination: &'static Airport,
    date: NaiveDate,
) -> Vec<Itinerary> {
    let data = ReferenceData::embedded();
    let direct = distance_km(origin, destination);
    let mut itineraries = Vec::new();
    for hub_code in carrier.hubs {
        let Some(hub) = data.airport(hub_code) else { continue };
        if hub.city_code == origin.city_code || hub.city_code == destination.city_code {
            continue;
        }
        let (first, second) = (distance_km(origin, hub), distance_km(hub, destination));
        if first < 120.0 || second < 120.0 || first + second > 1.45 * direct {
            continue;
        }
        // The legs must themselves be flown: one end of each is the hub, the
        // other must be an airport the carrier serves from a hub.
        let reaches = |other: &Airport, d: f64| {
            other.size == AirportSize::Large
                || (other.size == AirportSize::Medium && d < 4500.0)
                || carrier.is_base(&other.code)
                || other.country == carrier.country
        };
        if !reaches(origin, first) || !reaches(destination, second) {
            continue;
        }
        let long = first > 4500.0 || second > 4500.0;
        let min_connect = Duration::minutes(if long { 90 } else { 55 });
        // The onward legs of one hub day serve every inbound arriving then:
        // each day's schedule is worked out once, not once per inbound.
        let mut onward_days: Vec<(NaiveDate, Vec<Segment>)> = Vec::new();
        for inbound in schedule(carrier, origin, hub, date) {
            let earliest = inbound.arrival + min_connect;
            let latest = inbound.arrival + Duration::hours(7);
            let hub_date = inbound.arrival.with_timezone(&hub.time_zone).date_naive();
            let days = [hub_date, hub_date + Duration::days(1)];
            for day in days {
                if !onward_days.iter().any(|(d, _)| *d == day) {
                    onward_days.push((day, schedule(carrier, hub, destination, day)));
                }
            }
            let onward = onward_days
                .iter()
                .filter(|(day, _)| days.contains(day))
                .flat_map(|(_, legs)| legs)
                .filter(|s| s.departure >= earliest && s.departure <= latest)
                .min_by_key(|s| s.departure)
                .cloned();
            if let Some(outbound) = onward {
                itineraries.push(Itinerary { segments: vec![inbound, outbound] });
            }
        }
    }
    itineraries
}

/// The carrier's flights `from` → `to` departing on local `date`: a pure
/// function of its arguments, so a leg looks the same in every search.
fn schedule(carrier: &'static Carrier, from: &'static Airport, to: &'static Airport, date: NaiveDate) -> Vec<Segment> {
    let distance = distance_km(from, to);
    let route = format!("{}|{}|{}", carrier.code, from.code, to.code);
    let route_seed = hash64(&route);
    let daily = if distance < 1500.0 {
        2 + route_seed % 4
    } else if distance < 4500.0 {
        1 + route_seed % 3
    } else {
        1 + route_seed % 2
    };
    let minutes = (distance / 800.0 * 60.0 + 30.0).round() as i64;
    let minutes = ((minutes + 4) / 5) * 5;
    let types = carriers::aircraft_for(distance);
    let window = 16 * 60 / daily as i64;
    let (from_terminal, to_terminal) = (terminal(from, carrier), terminal(to, carrier));
    let mut segments = Vec::new();
    for slot in 0..daily as i64 {
        let slot_seed = hash64(format_args!("{route}|slot|{slot}"));
        // 06:00–22:00 local, one departure per window, on five-minute steps.
        let offset = (slot_seed % window.max(1) as u64) as i64 / 5 * 5;
        let local = date.and_hms_opt(6, 0, 0).map(|t| t + Duration::minutes(slot * window + offset));
        let Some(local) = local else { continue };
        // A departure in a DST gap moves an hour later, as airlines do.
        let departure = from
            .time_zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| from.time_zone.from_local_datetime(&(local + Duration::hours(1))).earliest());
        let Some(departure) = departure else { continue };
        let departure = departure.with_timezone(&Utc);
        let number = if distance > 4500.0 {
            1 + (route_seed % 499 + slot as u64 * 2) % 998
        } else {
            100 + (route_seed % 2899 + slot as u64 * 2) % 2899
        };
        let aircraft = &types[(slot_seed >> 20) as usize % types.len()];
        segments.push(Segment {
            carrier,
            number: number as u16,
            aircraft,
            from,
            to,
            departure,
            arrival: departure + Duration::minutes(minutes),
            distance_km: distance.round() as u32,
            from_terminal,
            to_terminal,
            booking_class: 'Y',
            fare_basis: String::new(),
        });
    }
    segments
}

fn terminal(airport: &Airport, carrier: &Carrier) -> Option<&'static str> {
    const TERMINALS: &[&str] = &["1", "2", "3", "5"];
    (airport.size == AirportSize::Large).then(|| {
        TERMINALS[hash64(format_args!("{}|{}|terminal", airport.code, carrier.code)) as usize % TERMINALS.len()]
    })
}

/// Demand: late bookings and Friday/Sunday departures cost more.
fn demand(date: NaiveDate, today: NaiveDate) -> f64 {
    let days = (date - today).num_days();
    let ahead = match days {
        ..=2 => 1.6,
        3..=6 => 1.35,
        7..=13 => 1.2,
        14..=29 => 1.08,
        30..=89 => 1.0,
        _ => 0.95,
    };
    let weekday = match date.weekday() {
        Weekday::Fri | Weekday::Sun => 1.12,
        Weekday::Sat => 0.95,
        Weekday::Tue | Weekday::Wed => 0.93,
        _ => 1.0,
    };
    ahead * weekday
}

/// Fare family, bags and refundability by cabin.
fn brand(cabin: Cabin, seed: u64) -> (&'static str, u8, bool) {
    match cabin {
        Cabin::Economy => [("LIGHT", 0, false), ("CLASSIC", 1, false), ("FLEX", 1, true)][seed as usize % 3],
        Cabin::PremiumEconomy => ("PREMIUM", 2, false),
        Cabin::Business => ["BUSINESS", "BUSINESSFLEX"].map(|b| (b, 2, b.ends_with("FLEX")))[seed as usize % 2],
        Cabin::First => ("FIRST", 3, true),
    }
}

fn price(
    carrier: &'static Carrier,
    mut itineraries: Vec<Itinerary>,
    request: &SearchRequest,
    currency: &'static str,
    rate: f64,
    today: NaiveDate,
) -> Option<Offer> {
    let passengers = request.passengers;
    let identity: Vec<String> = itineraries
        .iter()
        .flat_map(|i| &i.segments)
        .map(|s| format!("{}{}@{}{}{}", s.carrier.code, s.number, s.from.code, s.to.code, s.departure.timestamp()))
        .collect();
    let key = hash_hex(
        format_args!(
            "{}|{:?}|{}a{}c{}i|{}",
            identity.join(","),
            request.cabin,
            passengers.adults,
            passengers.children,
            passengers.infants,
            currency
        ),
        20,
    );
    let seed = hash64(&key);
    // Half the offers show the usual nine seats; the rest are filling up.
    let seats = if seed.is_multiple_of(2) { 9 } else { 1 + (seed >> 8) % 8 } as u8;
    if seats < passengers.seated() {
        return None;
    }
    let (brand, checked_bags, refundable) = brand(request.cabin, seed >> 16);
    let classes = request.cabin.booking_classes();
    let class_index = match brand {
        "LIGHT" => 0,
        "CLASSIC" => classes.len() / 2,
        _ => classes.len() - 1,
    };
    let booking_class = classes.get(class_index).copied().unwrap_or('Y');

    let mut adult_base = 0.0;
    let mut adult_taxes = 0.0;
    for itinerary in &mut itineraries {
        let (Some(first), Some(last)) = (itinerary.segments.first(), itinerary.segments.last()) else {
            return None;
        };
        let direct = distance_km(first.from, last.to);
        let connecting = if itinerary.segments.len() > 1 { 0.85 } else { 1.0 };
        let carrier_factor = 0.92 + unit(format_args!("{}|fare", carrier.code)) * 0.23;
        let flight_factor =
            0.9 + unit(format_args!("{}|{}|fare", first.carrier.code, first.departure.timestamp())) * 0.22;
        let date = first.departure_local().date();
        let fare = (28.0 + 0.11 * direct.powf(0.93))
            * request.cabin.multiplier()
            * connecting
            * carrier_factor
            * flight_factor
            * demand(date, today)
            * match brand {
                "LIGHT" => 0.9,
                "FLEX" | "BUSINESSFLEX" => 1.3,
                _ => 1.0,
            };
        adult_base += fare;
        adult_taxes += 14.0 * itinerary.segments.len() as f64 + 0.08 * fare;
        let fare_basis = format!(
            "{booking_class}{}{}",
            &brand[..brand.len().min(3)],
            carriers::region_of(&first.from.country) as u8 + 1
        );
        for segment in &mut itinerary.segments {
            segment.booking_class = booking_class;
            segment.fare_basis.clone_from(&fare_basis);
        }
    }
    if itineraries.len() > 1 {
        adult_base *= 0.92;
    }
    let (adult_base, adult_taxes) = (adult_base * rate, adult_taxes * rate);
    let mut fares = vec![PassengerFare {
        kind: PassengerKind::Adult,
        count: passengers.adults,
        base: money(adult_base),
        taxes: money(adult_taxes),
    }];
    if passengers.children > 0 {
        fares.push(PassengerFare {
            kind: PassengerKind::Child,
            count: passengers.children,
            base: money(adult_base * 0.75),
            taxes: money(adult_taxes * 0.85),
        });
    }
    if passengers.infants > 0 {
        fares.push(PassengerFare {
            kind: PassengerKind::Infant,
            count: passengers.infants,
            base: money(adult_base * 0.10),
            taxes: money(adult_taxes * 0.15),
        });
    }
    let departure = itineraries.first()?.segments.first()?.departure_local().date();
    Some(Offer {
        key,
        carrier,
        itineraries,
        seats,
        cabin: request.cabin,
        currency,
        fares,
        last_ticketing_date: departure.min(today + Duration::days(3)),
        brand,
        checked_bags,
        refundable,
    })
}

/// ISO-8601 duration without padding (`PT5H55M`), as Amadeus writes it.
pub(crate) fn iso_duration(minutes: i64) -> String {
    let (hours, minutes) = (minutes / 60, minutes % 60);
    match (hours, minutes) {
        (0, m) => format!("PT{m}M"),
        (h, 0) => format!("PT{h}H"),
        (h, m) => format!("PT{h}H{m}M"),
    }
}

/// ISO-8601 duration zero-padded (`PT02H26M`), as Duffel writes it.
pub(crate) fn padded_duration(minutes: i64) -> String {
    format!("PT{:02}H{:02}M", minutes / 60, minutes % 60)
}

/// Whether two regions differ (used by tests and callers to describe routes).
#[cfg(test)]
fn intercontinental(a: &Airport, b: &Airport) -> bool {
    carriers::region_of(&a.country) != carriers::region_of(&b.country)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).expect("date")
    }

    fn request(origin: &str, destination: &str) -> SearchRequest {
        SearchRequest {
            slices: vec![SliceRequest {
                origin: origin.to_owned(),
                destination: destination.to_owned(),
                date: NaiveDate::from_ymd_opt(2026, 4, 14).expect("date"),
            }],
            passengers: Passengers { adults: 1, children: 0, infants: 0 },
            cabin: Cabin::Economy,
            max_connections: 1,
            currency: "EUR",
        }
    }

    fn search(personality: Personality, request: &SearchRequest) -> Vec<Offer> {
        generate(personality, request, today()).expect("generates")
    }

    #[test]
    fn the_other_personality_takes_the_market_the_first_computed_and_answers_the_same() {
        // A route no other test asks for, so the shared memo is this test's.
        let mut request = request("OPO", "ATH");
        request.passengers.adults = 3;
        let amadeus = search(Personality::Amadeus, &request);
        let first = MARKETS.market(&request, today(), Personality::Amadeus).expect("market");
        let again = MARKETS.market(&request, today(), Personality::Amadeus).expect("market");
        assert!(std::sync::Arc::ptr_eq(&first, &again), "the personality that computed it reuses it");
        let taken = MARKETS.market(&request, today(), Personality::Duffel).expect("market");
        assert!(std::sync::Arc::ptr_eq(&first, &taken), "the other personality takes it");
        let recomputed = MARKETS.market(&request, today(), Personality::Duffel).expect("market");
        assert!(!std::sync::Arc::ptr_eq(&taken, &recomputed), "taken, so no longer kept");
        assert_eq!(*taken, market(&request, today()).expect("market"), "the kept market is the computed one");
        assert_eq!(amadeus, search(Personality::Amadeus, &request));
        assert!(!amadeus.is_empty());
    }

    #[test]
    fn the_same_search_gives_the_same_offers() {
        let request = request("LIS", "FRA");
        let first = search(Personality::Amadeus, &request);
        let second = search(Personality::Amadeus, &request);
        assert!(!first.is_empty());
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
    }

    #[test]
    fn offers_are_cheapest_first_with_real_carriers_and_hubs() {
        let offers = search(Personality::Amadeus, &request("LIS", "FRA"));
        assert!(offers.windows(2).all(|w| w[0].total() <= w[1].total()));
        let carriers: std::collections::BTreeSet<&str> = offers.iter().map(|o| o.carrier.code).collect();
        assert!(carriers.contains("TP") && carriers.contains("LH"), "{carriers:?}");
        for offer in &offers {
            for itinerary in &offer.itineraries {
                let segments = &itinerary.segments;
                assert_eq!(segments.first().map(|s| s.from.code.as_str()), Some("LIS"));
                assert_eq!(segments.last().map(|s| s.to.code.as_str()), Some("FRA"));
                if segments.len() == 2 {
                    assert!(offer.carrier.is_hub(&segments[0].to.code), "connects at a hub of {}", offer.carrier.code);
                    assert!(segments[1].departure >= segments[0].arrival + Duration::minutes(55));
                }
            }
            assert!((1..=9).contains(&offer.seats));
        }
    }

    #[test]
    fn durations_follow_distance_and_arrivals_are_local() {
        let offers = search(Personality::Amadeus, &request("JFK", "LHR"));
        let nonstop =
            offers.iter().flat_map(|o| &o.itineraries).find(|i| i.segments.len() == 1).expect("a non-stop JFK-LHR");
        let segment = &nonstop.segments[0];
        let expected = (f64::from(segment.distance_km) / 800.0 * 60.0 + 30.0).round() as i64;
        assert!((segment.minutes() - expected).abs() <= 5, "{} vs {expected}", segment.minutes());
        // New York is 4 or 5 hours behind London: local arrival minus local
        // departure is the block time plus the offset.
        let local_gap = (segment.arrival_local() - segment.departure_local()).num_minutes();
        let gap = local_gap - segment.minutes();
        assert!(gap == 240 || gap == 300, "time-zone gap {gap}");
        assert!(intercontinental(segment.from, segment.to));
        assert!(["789", "788", "333", "339", "359"].contains(&segment.aircraft.code));
        assert_eq!(iso_duration(355), "PT5H55M");
        assert_eq!(padded_duration(146), "PT02H26M");
    }

    #[test]
    fn city_codes_expand_to_their_airports() {
        let offers = search(Personality::Amadeus, &request("NYC", "LON"));
        let origins: std::collections::BTreeSet<&str> = offers
            .iter()
            .flat_map(|o| &o.itineraries)
            .filter_map(|i| i.segments.first())
            .map(|s| s.from.code.as_str())
            .collect();
        let destinations: std::collections::BTreeSet<&str> = offers
            .iter()
            .flat_map(|o| &o.itineraries)
            .filter_map(|i| i.segments.last())
            .map(|s| s.to.code.as_str())
            .collect();
        assert!(origins.len() >= 2, "several New York airports: {origins:?}");
        assert!(destinations.contains("LHR"), "{destinations:?}");
        assert!(origins.iter().all(|c| ["JFK", "EWR", "LGA"].contains(c)), "{origins:?}");
    }

    #[test]
    fn passengers_and_cabin_drive_the_price() {
        let solo = request("MAD", "CDG");
        let mut family = solo.clone();
        family.passengers = Passengers { adults: 2, children: 1, infants: 1 };
        let mut business = solo.clone();
        business.cabin = Cabin::Business;
        let solo = search(Personality::Amadeus, &solo);
        let family = search(Personality::Amadeus, &family);
        let business = search(Personality::Amadeus, &business);
        let offer = family.first().expect("an offer");
        let adult = offer.fares.iter().find(|f| f.kind == PassengerKind::Adult).expect("adult fare");
        let child = offer.fares.iter().find(|f| f.kind == PassengerKind::Child).expect("child fare");
        let infant = offer.fares.iter().find(|f| f.kind == PassengerKind::Infant).expect("infant fare");
        let ratio = |a: Decimal, b: Decimal| decimal_to_f64(a) / decimal_to_f64(b);
        assert!((ratio(child.base, adult.base) - 0.75).abs() < 0.01);
        assert!((ratio(infant.base, adult.base) - 0.10).abs() < 0.01);
        assert!(offer.seats >= 3);
        let cheapest = |offers: &[Offer]| offers.first().map(Offer::total).expect("offers");
        assert!(cheapest(&family) > cheapest(&solo) * Decimal::from(2));
        assert!(cheapest(&business) > cheapest(&solo) * Decimal::from(2));
    }

    #[test]
    fn personalities_overlap_but_differ() {
        let request = request("LHR", "CDG");
        let amadeus = search(Personality::Amadeus, &request);
        let duffel = search(Personality::Duffel, &request);
        let keys = |offers: &[Offer]| offers.iter().map(|o| o.key.clone()).collect::<std::collections::BTreeSet<_>>();
        let (a, d) = (keys(&amadeus), keys(&duffel));
        assert!(a.intersection(&d).count() > 0, "overlap");
        assert!(a != d, "different sets");
        for offer in &duffel {
            if let Some(same) = amadeus.iter().find(|o| o.key == offer.key) {
                let percent = (decimal_to_f64(offer.base_total()) / decimal_to_f64(same.base_total()) - 1.0) * 100.0;
                assert!((2.9..=5.1).contains(&percent.abs()), "Duffel differs by 3–5 %: {percent}");
            }
        }
    }

    #[test]
    fn round_trips_have_two_itineraries_and_nonstop_only_is_honoured() {
        let mut round = request("LIS", "GRU");
        round.slices.push(SliceRequest {
            origin: "GRU".to_owned(),
            destination: "LIS".to_owned(),
            date: NaiveDate::from_ymd_opt(2026, 4, 24).expect("date"),
        });
        round.max_connections = 0;
        let offers = search(Personality::Amadeus, &round);
        assert!(!offers.is_empty());
        for offer in &offers {
            assert_eq!(offer.itineraries.len(), 2);
            assert!(offer.itineraries.iter().all(|i| i.segments.len() == 1));
            assert!(offer.segments().all(|s| s.carrier.code == offer.carrier.code));
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            generate(Personality::Amadeus, &request("QQQ", "LHR"), today()),
            Err(GenerateError::UnknownLocation { destination: false, .. })
        ));
        assert!(matches!(
            generate(Personality::Amadeus, &request("LHR", "LON"), today()),
            Err(GenerateError::SameLocation { .. })
        ));
        let mut past = request("LHR", "CDG");
        past.slices[0].date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        assert!(matches!(generate(Personality::Amadeus, &past, today()), Err(GenerateError::PastDate { .. })));
        let mut crowd = request("LHR", "CDG");
        crowd.passengers = Passengers { adults: 1, children: 0, infants: 2 };
        assert_eq!(generate(Personality::Amadeus, &crowd, today()), Err(GenerateError::Passengers));
    }

    #[test]
    fn drift_moves_base_fares_only() {
        let offers = search(Personality::Amadeus, &request("LIS", "MAD"));
        let offer = offers.first().expect("offer");
        let drifted = offer.drifted(10.0);
        assert_eq!(drifted.tax_total(), offer.tax_total());
        let ratio = decimal_to_f64(drifted.base_total()) / decimal_to_f64(offer.base_total());
        assert!((ratio - 1.1).abs() < 0.001);
        assert_eq!(offer.drifted(0.0), *offer);
    }

    #[test]
    fn remote_routes_still_get_offers() {
        // Two domestic Norwegian airports no curated hub connects well.
        let offers = search(Personality::Amadeus, &request("TOS", "BGO"));
        assert!(!offers.is_empty());
    }
}
