//! GraphQL edge of flight search: `searchFlights`, `flightOffer`, `places`.
//!
//! When some providers fail and others answer, `searchFlights` returns the
//! offers it has **and** one error per failed provider (`PROVIDER_TIMEOUT` or
//! `PROVIDER_UNAVAILABLE`, `extensions.provider` naming it), so clients show
//! partial results and know they are partial.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ErrorExtensionValues, ID, Object, ServerError, SimpleObject};
use chrono::TimeZone as _;

use super::aggregator::{Alternative, ProviderOutcome, ProviderStatus, rank};
use super::model::{
    FlightSearch, Itinerary, Money, Offer, OfferLabel, ResultFilters, Segment, SegmentEnd, iso_duration,
};
use super::rendered::OfferPage;
use super::search::{CheapestDatesInput, FlightSearchInput};
use super::{CarrierCode, FlightService, OfferLoader, ReferenceLoader, SearchLoader};
use crate::clock::SharedClock;
use crate::graphql::context::{service, session};
use crate::graphql::errors::{ApiError, Code};
use crate::graphql::scalars::DateTime;
use crate::reference::{Place, ReferenceData};

/// An amount of money.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Money")]
pub struct MoneyObject {
    /// Decimal string, e.g. `"342.20"`.
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
}

impl From<&Money> for MoneyObject {
    fn from(m: &Money) -> Self {
        Self { amount: format!("{:.2}", m.amount), currency: m.currency.clone() }
    }
}

/// A flight offer.
#[derive(Debug, Clone)]
pub struct FlightOfferObject {
    offer: Offer,
    labels: Vec<OfferLabel>,
    alternatives: Vec<Alternative>,
}

impl FlightOfferObject {
    /// An offer on its own, outside a search result (no labels, no alternatives).
    pub fn single(offer: Offer) -> Self {
        Self { offer, labels: Vec::new(), alternatives: Vec::new() }
    }

    /// An offer of a ranked page, with the labels it earned and its journey's other offers.
    pub fn ranked(offer: Offer, labels: Vec<OfferLabel>, alternatives: Vec<Alternative>) -> Self {
        Self { offer, labels, alternatives }
    }
}

/// A bookable offer: price, flights and what it earned in its result.
#[Object(name = "FlightOffer")]
impl FlightOfferObject {
    /// Stable id; `flightOffer(id)`, pricing and booking take it.
    async fn id(&self) -> ID {
        ID(self.offer.id.clone())
    }
    /// Which provider offers it.
    async fn provider(&self) -> &str {
        &self.offer.provider
    }
    /// Total for all travellers.
    async fn price(&self) -> MoneyObject {
        (&self.offer.price).into()
    }
    /// `CHEAPEST`, `FASTEST`, `NONSTOP` as earned in the result it came in.
    async fn labels(&self) -> &[OfferLabel] {
        &self.labels
    }
    /// Seats left at this price, when known.
    async fn seats_available(&self) -> Option<i32> {
        self.offer.seats_available.map(i32::from)
    }
    /// When the provider stops honouring it.
    async fn expires_at(&self) -> DateTime {
        self.offer.expires_at.into()
    }
    /// The same flights offered by other providers, dearest last (empty outside a search result).
    async fn alternatives(&self) -> Vec<OfferAlternative> {
        self.alternatives
            .iter()
            .map(|a| OfferAlternative {
                provider: a.provider.clone(),
                offer_id: ID(a.offer_id.clone()),
                price: (&a.price).into(),
            })
            .collect()
    }
    /// Outbound, then return.
    async fn itineraries(&self) -> &[Itinerary] {
        // Resolved straight from the offer: the model types are the GraphQL
        // objects, so a response borrows its itineraries and segments
        // instead of copying each into a wrapper first.
        &self.offer.itineraries
    }
}

/// Another provider's offer for the same flights.
#[derive(Debug, Clone, SimpleObject)]
pub struct OfferAlternative {
    /// That provider.
    pub provider: String,
    /// Its offer id.
    pub offer_id: ID,
    /// Its price.
    pub price: MoneyObject,
}

/// One direction of a journey.
#[Object(name = "Itinerary")]
impl Itinerary {
    /// ISO 8601 duration, connections included (`PT7H25M`).
    #[graphql(name = "duration")]
    async fn iso_duration(&self) -> String {
        iso_duration(self.duration_minutes)
    }
    /// Connections.
    #[graphql(name = "stops")]
    async fn stop_count(&self) -> i32 {
        i32::try_from(self.stops()).unwrap_or(i32::MAX)
    }
    /// Its flights.
    #[graphql(name = "segments")]
    async fn flights(&self) -> &[Segment] {
        &self.segments
    }
}

/// One flight.
#[Object(name = "Segment")]
impl Segment {
    /// Carrier code and number, `TP1350`.
    #[graphql(name = "flightNumber")]
    async fn flight_number_field(&self) -> &str {
        &self.flight_number
    }
    /// Marketing carrier.
    #[graphql(name = "carrier")]
    async fn marketing_carrier(&self, ctx: &Context<'_>) -> Carrier {
        carrier(ctx, &self.carrier).await
    }
    /// Operating carrier when it differs.
    #[graphql(name = "operatingCarrier")]
    async fn operating_carrier_field(&self, ctx: &Context<'_>) -> Option<Carrier> {
        match self.operating_carrier.as_deref() {
            Some(code) => Some(carrier(ctx, code).await),
            None => None,
        }
    }
    /// Departure.
    #[graphql(name = "departure")]
    async fn departure_end(&self) -> &SegmentEnd {
        &self.departure
    }
    /// Arrival.
    #[graphql(name = "arrival")]
    async fn arrival_end(&self) -> &SegmentEnd {
        &self.arrival
    }
    /// ISO 8601 flying time.
    #[graphql(name = "duration")]
    async fn iso_duration(&self) -> String {
        iso_duration(self.duration_minutes)
    }
    /// IATA aircraft code.
    #[graphql(name = "aircraft")]
    async fn aircraft_code(&self) -> Option<&str> {
        self.aircraft.as_deref()
    }
}

/// An airline.
#[derive(Debug, Clone, SimpleObject)]
pub struct Carrier {
    /// IATA code.
    pub code: String,
    /// Name, when the dataset knows it.
    pub name: Option<String>,
}

/// A carrier: from the embedded dataset when it names it (a map lookup, no
/// reason to queue it), otherwise through the request's reference loader,
/// which asks the Airline Code Lookup for every unknown code of the response
/// in one batch.
async fn carrier(ctx: &Context<'_>, code: &str) -> Carrier {
    if let Some(airline) = ReferenceData::embedded().airline(code) {
        return Carrier { code: code.to_owned(), name: Some(airline.name.clone()) };
    }
    match ctx.data_opt::<DataLoader<ReferenceLoader>>() {
        Some(loader) => {
            loader.load_one(CarrierCode(code.to_owned())).await.ok().flatten().unwrap_or_else(|| Carrier::of(code))
        }
        None => Carrier::of(code),
    }
}

impl Carrier {
    /// From the embedded dataset.
    pub fn of(code: &str) -> Self {
        Self { code: code.to_owned(), name: ReferenceData::embedded().airline(code).map(|a| a.name.clone()) }
    }
}

/// Where a flight leaves or lands.
#[Object(name = "FlightEndpoint")]
impl SegmentEnd {
    /// Local time at the airport, with its UTC offset.
    #[graphql(name = "at")]
    async fn local_at(&self) -> DateTime {
        local_time(self)
    }
    /// Terminal, when known.
    #[graphql(name = "terminal")]
    async fn terminal_name(&self) -> Option<&str> {
        self.terminal.as_deref()
    }
    /// The airport.
    #[graphql(name = "airport")]
    async fn airport_object(&self) -> AirportObject {
        // Airports come from the embedded dataset only: a lookup, nothing
        // to batch (a loader per endpoint cost more than the lookup).
        AirportObject::of(&self.airport)
    }
}

/// A segment end's local time with its airport's offset (UTC when the airport is unknown).
pub(super) fn local_time(end: &SegmentEnd) -> DateTime {
    let tz = ReferenceData::embedded().airport(&end.airport).map_or(chrono_tz::UTC, |a| a.time_zone);
    match tz.from_local_datetime(&end.at).earliest() {
        Some(at) => DateTime(at.fixed_offset()),
        None => DateTime(chrono::Utc.from_utc_datetime(&end.at).fixed_offset()),
    }
}

/// An airport.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Airport")]
pub struct AirportObject {
    /// IATA code.
    pub code: String,
    /// Name.
    pub name: String,
    /// City served.
    pub city_name: String,
    /// IATA code of that city.
    pub city_code: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// IANA time zone.
    pub time_zone: String,
}

impl AirportObject {
    /// From the embedded dataset (an unknown code stands for itself, in UTC).
    pub fn of(code: &str) -> Self {
        match ReferenceData::embedded().airport(code) {
            Some(a) => Self {
                code: a.code.clone(),
                name: a.name.clone(),
                city_name: a.city_name.clone(),
                city_code: a.city_code.clone(),
                country_code: a.country.clone(),
                time_zone: a.time_zone.name().to_owned(),
            },
            None => Self {
                code: code.to_owned(),
                name: code.to_owned(),
                city_name: String::new(),
                city_code: code.to_owned(),
                country_code: String::new(),
                time_zone: "UTC".to_owned(),
            },
        }
    }
}

/// How one provider did for a search.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProviderReport {
    /// Provider name.
    pub name: String,
    /// `OK`, `ERROR`, `TIMEOUT`, `SKIPPED`.
    pub status: ProviderStatus,
    /// Offers it returned.
    pub offer_count: i32,
    /// Time its call took.
    pub latency_ms: i32,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<&ProviderOutcome> for ProviderReport {
    fn from(o: &ProviderOutcome) -> Self {
        Self {
            name: o.provider.clone(),
            status: o.status,
            offer_count: i32::try_from(o.offers.len()).unwrap_or(i32::MAX),
            latency_ms: i32::try_from(o.latency.as_millis()).unwrap_or(i32::MAX),
            error: o.error.clone(),
        }
    }
}

/// The answer to `searchFlights`.
#[derive(Debug, Clone, SimpleObject)]
pub struct SearchResult {
    /// Offers, merged, filtered, sorted and cut to `first`.
    pub offers: OfferPage,
    /// Each provider's part.
    pub providers: Vec<ProviderReport>,
    /// Offers that matched before `first` cut them.
    pub total_count: i32,
}

/// Flight queries.
#[derive(Debug, Default)]
pub struct FlightQuery;

#[Object]
impl FlightQuery {
    /// Live offers from every provider at once.
    async fn search_flights(&self, ctx: &Context<'_>, input: FlightSearchInput) -> Result<SearchResult, ApiError> {
        let (search, filters) = prepare(ctx, &input)?;
        let outcomes = match ctx.data_opt::<DataLoader<SearchLoader>>() {
            Some(loader) => match loader.load_one(search.clone()).await {
                Ok(Some(outcomes)) => outcomes,
                Ok(None) | Err(_) => service::<FlightService>(ctx)?.search(&search).await,
            },
            None => service::<FlightService>(ctx)?.search(&search).await,
        };
        if outcomes.iter().all(|o| o.status != ProviderStatus::Ok) {
            let timeout = outcomes.iter().any(|o| o.status == ProviderStatus::Timeout);
            let code = if timeout { Code::ProviderTimeout } else { Code::ProviderUnavailable };
            let names: Vec<String> = outcomes.iter().map(|o| o.provider.clone()).collect();
            return Err(ApiError::new(code, "No flight provider answered; please try again shortly.")
                .with("providers", async_graphql::Value::List(names.into_iter().map(Into::into).collect())));
        }
        // Partial results: the offers we have, and an error per provider that failed.
        for failed in outcomes.iter().filter(|o| matches!(o.status, ProviderStatus::Error | ProviderStatus::Timeout)) {
            ctx.add_error(provider_error(ctx, failed));
        }
        let flights = service::<FlightService>(ctx)?;
        let ranked = flights.ranked(&outcomes, &filters);
        let total_count = i32::try_from(ranked.total_count).unwrap_or(i32::MAX);
        Ok(SearchResult {
            offers: OfferPage::new(ranked, flights.rendered().clone()),
            providers: outcomes.iter().map(ProviderReport::from).collect(),
            total_count,
        })
    }

    /// The cheapest offer for each departure day of a range, for a price
    /// calendar: one search per day, all at once, through the same loader and
    /// cache as `searchFlights`. A day without offers has no price.
    async fn cheapest_dates(
        &self,
        ctx: &Context<'_>,
        input: CheapestDatesInput,
    ) -> Result<Vec<CheapestDate>, ApiError> {
        let auth = session(ctx)?;
        let today = today_for(ctx, &auth.session.time_zone)?;
        let days =
            input.validate(today, ReferenceData::embedded()).map_err(|e| ApiError::bad_input(&e.field, e.message))?;
        let flights = service::<FlightService>(ctx)?;
        let loader = ctx.data_opt::<DataLoader<SearchLoader>>();
        let answers = futures_util::future::join_all(days.iter().map(|day| async move {
            match loader {
                Some(loader) => match loader.load_one(day.clone()).await {
                    Ok(Some(outcomes)) => outcomes,
                    Ok(None) | Err(_) => flights.search(day).await,
                },
                None => flights.search(day).await,
            }
        }))
        .await;
        let cheapest_first = ResultFilters { first: 1, ..ResultFilters::default() };
        Ok(days
            .iter()
            .zip(answers)
            .map(|(day, outcomes)| {
                let best = rank(&outcomes, &cheapest_first).offers.into_iter().next().map(|(offer, _, _)| offer);
                CheapestDate {
                    date: crate::graphql::scalars::Date(day.departure_date),
                    price: best.as_ref().map(|o| MoneyObject::from(&o.price)),
                    offer_id: best.map(|o| ID(o.id)),
                }
            })
            .collect())
    }

    /// An offer seen in an earlier search, while it lasts.
    async fn flight_offer(&self, ctx: &Context<'_>, id: ID) -> Result<FlightOfferObject, ApiError> {
        session(ctx)?;
        let offer = match ctx.data_opt::<DataLoader<OfferLoader>>() {
            Some(loader) => loader.load_one(id.to_string()).await.ok().flatten(),
            None => service::<FlightService>(ctx)?.offer(&id).await,
        };
        match offer {
            Some(offer) if offer.expires_at <= service::<SharedClock>(ctx)?.now() => {
                Err(ApiError::new(Code::OfferExpired, "This offer has expired; search again for current prices."))
            }
            Some(offer) => Ok(FlightOfferObject { offer, labels: Vec::new(), alternatives: Vec::new() }),
            None => Err(ApiError::new(Code::NotFound, "No such offer.")),
        }
    }

    /// Autocomplete over cities and airports: names in the six chat
    /// languages, accent- and case-insensitive, and IATA codes.
    async fn places(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default = 10)] first: Option<i32>,
    ) -> Result<Vec<Place>, ApiError> {
        session(ctx)?;
        let first = first.unwrap_or(10);
        if !(1..=50).contains(&first) {
            return Err(ApiError::bad_input("first", "`first` must be between 1 and 50"));
        }
        let trimmed = query.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 100 {
            return Err(ApiError::bad_input("query", "`query` must have 1 to 100 characters"));
        }
        let first = usize::try_from(first).unwrap_or(10);
        Ok(ReferenceData::embedded().search(trimmed, first))
    }
}

/// Today in the session's time zone.
pub(crate) fn today_for(ctx: &Context<'_>, time_zone: &str) -> Result<chrono::NaiveDate, ApiError> {
    let clock = service::<SharedClock>(ctx)?;
    let tz = time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
    Ok(clock.now().with_timezone(&tz).date_naive())
}

/// The caller's session, then the input's rules against today in the session's time zone.
fn prepare(ctx: &Context<'_>, input: &FlightSearchInput) -> Result<(FlightSearch, ResultFilters), ApiError> {
    let auth = session(ctx)?;
    let today = today_for(ctx, &auth.session.time_zone)?;
    input.validate(today, ReferenceData::embedded()).map_err(|e| ApiError::bad_input(&e.field, e.message))
}

/// The cheapest offer of one day.
#[derive(Debug, Clone, SimpleObject)]
pub struct CheapestDate {
    /// Departure day.
    pub date: crate::graphql::scalars::Date,
    /// Lowest total price that day; null when there are no offers.
    pub price: Option<MoneyObject>,
    /// The offer with that price.
    pub offer_id: Option<ID>,
}

/// One step of `flightSearchProgress`.
#[derive(Debug, Clone, SimpleObject)]
pub struct SearchProgress {
    /// The provider that just answered; null on the final message.
    pub provider: Option<String>,
    /// How it went; null on the final message.
    pub status: Option<ProviderStatus>,
    /// Its offers (filtered, sorted); on the final message, all of them merged and ranked.
    pub offers: Vec<FlightOfferObject>,
    /// True on the final message, after every provider.
    pub done: bool,
}

/// The cards of a ranked result, in order.
pub(crate) fn cards(ranked: super::aggregator::RankedOffers) -> Vec<FlightOfferObject> {
    ranked
        .offers
        .into_iter()
        .map(|(offer, labels, alternatives)| FlightOfferObject { offer, labels, alternatives })
        .collect()
}

/// Flight subscriptions.
#[derive(Debug, Default)]
pub struct FlightSubscription;

#[async_graphql::Subscription]
impl FlightSubscription {
    /// Each provider's offers as they arrive, then the merged result with `done: true`.
    async fn flight_search_progress(
        &self,
        ctx: &Context<'_>,
        input: FlightSearchInput,
    ) -> Result<impl futures_util::Stream<Item = SearchProgress> + use<>, ApiError> {
        use futures_util::StreamExt as _;
        let (search, filters) = prepare(ctx, &input)?;
        let flights = service::<FlightService>(ctx)?.clone();
        let state = (flights.progress(search), filters, Vec::<ProviderOutcome>::new(), false);
        Ok(futures_util::stream::unfold(state, |(mut updates, filters, mut seen, finished)| async move {
            if finished {
                return None;
            }
            match updates.next().await {
                Some(outcome) => {
                    let step = SearchProgress {
                        provider: Some(outcome.provider.clone()),
                        status: Some(outcome.status),
                        offers: cards(rank(std::slice::from_ref(&outcome), &filters)),
                        done: false,
                    };
                    seen.push(outcome);
                    Some((step, (updates, filters, seen, false)))
                }
                None => {
                    let step = SearchProgress {
                        provider: None,
                        status: None,
                        offers: cards(rank(&seen, &filters)),
                        done: true,
                    };
                    Some((step, (updates, filters, seen, true)))
                }
            }
        }))
    }
}

fn provider_error(ctx: &Context<'_>, failed: &ProviderOutcome) -> ServerError {
    let code = if failed.status == ProviderStatus::Timeout { Code::ProviderTimeout } else { Code::ProviderUnavailable };
    let message = failed.error.clone().unwrap_or_else(|| format!("{} failed", failed.provider));
    let mut error = ServerError::new(message, Some(ctx.item.pos));
    if let Some(path) = ctx.path_node {
        error.path = path.to_string_vec().into_iter().map(async_graphql::PathSegment::Field).collect();
    }
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    extensions.set("provider", failed.provider.as_str());
    error.extensions = Some(extensions);
    error
}
