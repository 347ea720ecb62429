//! One chat turn, end to end: clean the text, understand it (cached; the
//! LLM extractor when configured, the built-in engine always behind it),
//! move the dialogue, search when the trip is complete, and write the reply
//! with its cards, chips and timings.
//!
//! The session is the caller's to load and save: this service changes the
//! dialogue state and conversation it is given and nothing else, so a turn
//! can never touch another session's state.
//!
//! Extraction runs inline on the async worker: it takes microseconds (see
//! BENCHMARKS.md), less than a hop to the blocking pool would cost. Only the
//! LLM extractor waits, and it waits on I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::dataloader::DataLoader;
use chrono::NaiveDate;

use super::cache::{ExtractionCache, cache_key};
use super::dialogue;
use super::extract::{self, ExtractContext};
use super::llm::LlmExtractor;
use super::model::{DateMention, DialogueState, Extraction, Intent, Language, NextStep, Slot, Stage};
use super::reply::{self, BookingBrief, Refusal, SearchSummary};
use crate::booking::BookingService;
use crate::clock::SharedClock;
use crate::config::ChatSettings;
use crate::flights::aggregator::{ProviderOutcome, ProviderStatus, rank};
use crate::flights::model::{FlightSearch, Offer, OfferLabel, ResultFilters};
use crate::flights::resolvers::{CheapestDate, FlightOfferObject, MoneyObject, cards};
use crate::flights::search::{CheapestDatesInput, FlightSearchInput, InputError};
use crate::flights::{FlightService, SearchLoader};
use crate::graphql::scalars::Date;
use crate::reference::ReferenceData;
use crate::sessions::{ConversationMessage, Role, Session};
use crate::telemetry::performance::PerformanceWindow;

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// How long each part of a turn took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Understanding the message.
    pub nlp: Duration,
    /// Searching (zero when no search ran).
    pub search: Duration,
    /// Writing the reply and building the cards.
    pub response: Duration,
    /// The whole turn.
    pub total: Duration,
}

/// What one turn produced.
#[derive(Debug, Clone)]
pub struct ChatTurn {
    /// The reply, plain text.
    pub reply: String,
    /// Its language (the traveller's).
    pub language: Language,
    /// What the message was understood to want.
    pub intent: Intent,
    /// The dialogue after the turn.
    pub state: DialogueState,
    /// Slots still needed before a search can run.
    pub missing: Vec<Slot>,
    /// Quick replies.
    pub suggested_replies: Vec<String>,
    /// Flight cards.
    pub offers: Vec<FlightOfferObject>,
    /// The price calendar, when the traveller gave a range.
    pub cheapest_dates: Vec<CheapestDate>,
    /// Where the time went.
    pub timings: Timings,
}

/// How messages were understood since start, for tests and `/api/status`.
#[derive(Debug, Default)]
pub struct UnderstandingCounts {
    /// Answered from the extraction cache.
    pub cached: AtomicU64,
    /// By the built-in engine.
    pub builtin: AtomicU64,
    /// By the LLM extractor.
    pub llm: AtomicU64,
    /// LLM attempts that failed and fell back to the built-in engine.
    pub llm_fallbacks: AtomicU64,
}

/// The conversational agent.
#[derive(Debug, Clone)]
pub struct ChatService {
    counts: Arc<UnderstandingCounts>,
    flights: FlightService,
    clock: SharedClock,
    cache: Arc<dyn ExtractionCache>,
    llm: Option<Arc<LlmExtractor>>,
    settings: ChatSettings,
    performance: Arc<PerformanceWindow>,
    bookings: Option<BookingService>,
}

/// Strips control characters and surrounding space; refuses empty or over-long text.
pub fn clean_message(text: &str) -> Result<String, InputError> {
    let cleaned: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
    if cleaned.is_empty() {
        return Err(InputError { field: "text".into(), message: "`text` must not be empty".into() });
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(InputError {
            field: "text".into(),
            message: format!("`text` may have at most {MAX_MESSAGE_CHARS} characters"),
        });
    }
    Ok(cleaned)
}

impl ChatService {
    /// An agent searching through `flights`.
    pub fn new(
        flights: FlightService,
        clock: SharedClock,
        cache: Arc<dyn ExtractionCache>,
        llm: Option<Arc<LlmExtractor>>,
        settings: ChatSettings,
        performance: Arc<PerformanceWindow>,
    ) -> Self {
        Self { counts: Arc::default(), flights, clock, cache, llm, settings, performance, bookings: None }
    }

    /// Answers "how is my booking?" from these bookings.
    pub fn with_bookings(mut self, bookings: BookingService) -> Self {
        self.bookings = Some(bookings);
        self
    }

    /// The session's latest booking, briefly; `None` without any (or when they cannot be read).
    async fn latest_booking_for(&self, session_id: &str) -> Option<BookingBrief> {
        let bookings = self.bookings.as_ref()?;
        let latest = match bookings.bookings(session_id).await {
            Ok(views) => views.into_iter().next()?,
            Err(error) => {
                tracing::warn!(%error, "could not read bookings for the chat");
                return None;
            }
        };
        let first = latest.offer.itineraries.first()?;
        let departure = first.segments.first()?;
        let arrival = first.segments.last()?;
        Some(BookingBrief {
            status: latest.status,
            reference: latest.reference,
            route: (departure.departure.airport.clone(), arrival.arrival.airport.clone()),
            date: departure.departure.at.date(),
        })
    }

    /// How messages were understood since start.
    pub fn counts(&self) -> &UnderstandingCounts {
        &self.counts
    }

    /// How messages were understood, and whether an LLM is configured, for `/api/status`.
    pub fn status(&self) -> serde_json::Value {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "extractor": if self.llm.is_some() { "llm" } else { "builtin" },
            "understood": {
                "cached": load(&self.counts.cached),
                "builtin": load(&self.counts.builtin),
                "llm": load(&self.counts.llm),
                "llmFallbacks": load(&self.counts.llm_fallbacks),
            },
        })
    }

    /// Today in the session's time zone, from the injected clock.
    pub fn today(&self, session: &Session) -> NaiveDate {
        let tz = session.time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
        self.clock.now().with_timezone(&tz).date_naive()
    }

    /// Understands a cleaned message in its session's context, through the cache.
    pub async fn understand(&self, text: &str, session: &Session, today: NaiveDate) -> Extraction {
        let context = ExtractContext::for_state(&session.dialogue, Some(&session.locale), today);
        // Everything the extractor reads, so a hit is exactly what it would say again.
        let normalised = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        let pending = context.pending.and_then(|p| serde_json::to_string(p).ok()).unwrap_or_default();
        let departure = context.current_departure.map(|d| d.to_string()).unwrap_or_default();
        let key = cache_key(
            &normalised,
            &[
                context.language.map_or("", Language::code),
                &session.locale,
                &today.to_string(),
                &pending,
                if context.offers_shown { "shown" } else { "" },
                &departure,
            ],
        );
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        if let Some(hit) = self.cache.get(&key).await {
            count(&self.counts.cached);
            return hit;
        }
        let from_llm = match &self.llm {
            Some(llm) => {
                let answer = llm.extract(text, &context).await;
                count(if answer.is_some() { &self.counts.llm } else { &self.counts.llm_fallbacks });
                answer
            }
            None => None,
        };
        let extraction = match from_llm {
            Some(extraction) => extraction,
            None => {
                count(&self.counts.builtin);
                extract::extract(text, &context)
            }
        };
        self.cache.put(&key, &extraction, self.settings.extraction_cache_ttl).await;
        extraction
    }

    /// One turn: the session's dialogue and conversation are updated in place.
    pub async fn send(
        &self,
        session: &mut Session,
        text: &str,
        loader: Option<&DataLoader<SearchLoader>>,
    ) -> Result<ChatTurn, InputError> {
        let started = Instant::now();
        let text = clean_message(text)?;
        let today = self.today(session);

        let extraction = self.understand(&text, session, today).await;
        let nlp = started.elapsed();

        let session_id = session.id.0.clone();
        let state = &mut session.dialogue;
        let step = dialogue::advance(state, &extraction, today);
        let language = extraction.language;
        state.language = Some(language);

        let search_started = Instant::now();
        let mut found = Found::default();
        match step {
            NextStep::Search => found = self.search(state, today, loader).await,
            NextStep::CheapestDates => found = self.cheapest_day(state, today, loader).await,
            _ => {}
        }
        let search = if found.ran { search_started.elapsed() } else { Duration::ZERO };

        let response_started = Instant::now();
        if found.ran {
            state.shown_offers =
                found.ranked.iter().flat_map(|r| r.offers.iter().map(|(o, _, _)| o.id.clone())).collect();
            let labelled = |label: OfferLabel| {
                found.ranked.as_ref().and_then(|r| r.offers.iter().position(|(_, labels, _)| labels.contains(&label)))
            };
            state.cheapest_shown = labelled(OfferLabel::Cheapest);
            state.fastest_shown = labelled(OfferLabel::Fastest);
            state.selected_offer = None;
            state.stage = Stage::Results;
        }
        let reply = match step {
            NextStep::Handoff { intent: intent @ (Intent::BookingStatus | Intent::CancelBooking) } => {
                let brief = self.latest_booking_for(&session_id).await;
                reply::booking_reply(language, intent == Intent::CancelBooking, brief.as_ref())
            }
            _ => reply::reply(language, &step, state, found.summary.as_ref()),
        };
        let missing = if found.ran { Vec::new() } else { dialogue::missing(state) };
        let suggested_replies = reply::suggested_replies(language, state, &missing);
        let offers = found.ranked.map(cards).unwrap_or_default();
        let intent = extraction.intent.unwrap_or(match step {
            NextStep::Search | NextStep::CheapestDates => Intent::SearchFlights,
            _ => Intent::Unknown,
        });
        let now = self.clock.now();
        session.conversation.push(ConversationMessage {
            role: Role::User,
            text,
            language: language.code().into(),
            at: now,
        });
        session.conversation.push(ConversationMessage {
            role: Role::Assistant,
            text: reply.clone(),
            language: language.code().into(),
            at: now,
        });
        let excess = session.conversation.len().saturating_sub(self.settings.history_limit);
        session.conversation.drain(..excess);
        let response = response_started.elapsed();
        let timings = Timings { nlp, search, response, total: started.elapsed() };
        self.performance.record("chat:nlp", nlp);
        if found.ran {
            self.performance.record("chat:search", search);
        }
        self.performance.record("chat:response", response);
        self.performance.record("chat:total", timings.total);
        Ok(ChatTurn {
            reply,
            language,
            intent,
            state: session.dialogue.clone(),
            missing,
            suggested_replies,
            offers,
            cheapest_dates: found.calendar,
            timings,
        })
    }

    /// The day in the slots, searched like `searchFlights`.
    async fn search(
        &self,
        state: &mut DialogueState,
        today: NaiveDate,
        loader: Option<&DataLoader<SearchLoader>>,
    ) -> Found {
        let slots = &state.slots;
        let (Some(origin), Some(destination), Some(DateMention::Day(day))) =
            (&slots.origin, &slots.destination, slots.departure)
        else {
            return Found::default();
        };
        let input = self.search_input(state, origin, destination, day);
        let (search, filters) = match input.validate(today, ReferenceData::embedded()) {
            Ok(valid) => valid,
            Err(error) => return Found::refused(state, day, &error),
        };
        let outcomes = self.outcomes(&search, loader).await;
        let providers_down = outcomes.iter().all(|o| o.status != ProviderStatus::Ok);
        let ranked = rank(&outcomes, &filters);
        let summary = SearchSummary {
            origin: origin.clone(),
            destination: destination.clone(),
            date: day,
            return_date: search.return_date,
            found: ranked.total_count,
            best: ranked.offers.first().map(|(o, _, _)| (o.price.clone(), carrier_name(o))),
            providers_down,
            range: None,
            refused: None,
        };
        Found { ran: true, ranked: Some(ranked), summary: Some(summary), calendar: Vec::new() }
    }

    /// The cheapest day of the range in the slots, then that day's offers.
    async fn cheapest_day(
        &self,
        state: &mut DialogueState,
        today: NaiveDate,
        loader: Option<&DataLoader<SearchLoader>>,
    ) -> Found {
        let slots = &state.slots;
        let (Some(origin), Some(destination), Some(DateMention::Range { from, to })) =
            (slots.origin.clone(), slots.destination.clone(), slots.departure)
        else {
            return Found::default();
        };
        let from = from.max(today);
        let calendar_input = CheapestDatesInput {
            origin: origin.clone(),
            destination: destination.clone(),
            from: Date(from),
            to: Date(to.max(from)),
            adults: Some(i32::from(slots.adults)),
            cabin: slots.cabin,
            non_stop: slots.non_stop,
            currency: Some(self.currency(state)),
        };
        let days = match calendar_input.validate(today, ReferenceData::embedded()) {
            Ok(days) => days,
            Err(error) => return Found::refused(state, from, &error),
        };
        let answers = futures_util::future::join_all(days.iter().map(|d| self.outcomes(d, loader))).await;
        let cheapest_first = ResultFilters { first: 1, ..ResultFilters::default() };
        let mut calendar = Vec::with_capacity(days.len());
        let mut best_day: Option<(NaiveDate, rust_decimal::Decimal)> = None;
        for (day, outcomes) in days.iter().zip(&answers) {
            let best = rank(outcomes, &cheapest_first).offers.into_iter().next().map(|(offer, _, _)| offer);
            if let Some(offer) = &best
                && best_day.is_none_or(|(_, price)| offer.price.amount < price)
            {
                best_day = Some((day.departure_date, offer.price.amount));
            }
            calendar.push(CheapestDate {
                date: Date(day.departure_date),
                price: best.as_ref().map(|o| MoneyObject::from(&o.price)),
                offer_id: best.map(|o| async_graphql::ID(o.id)),
            });
        }
        let providers_down = answers.iter().all(|outcomes| outcomes.iter().all(|o| o.status != ProviderStatus::Ok));
        let Some((day, _)) = best_day else {
            let summary = SearchSummary {
                origin,
                destination,
                date: from,
                return_date: None,
                found: 0,
                best: None,
                providers_down,
                range: Some((from, to)),
                refused: None,
            };
            return Found { ran: true, calendar, summary: Some(summary), ..Found::default() };
        };
        // The best day becomes the trip's day, so "the day after" moves from it.
        state.slots.departure = Some(DateMention::Day(day));
        let mut found = self.search(state, today, loader).await;
        if let Some(summary) = &mut found.summary {
            summary.range = Some((from, to));
        }
        found.calendar = calendar;
        found
    }

    fn currency(&self, state: &DialogueState) -> String {
        state.slots.max_price.as_ref().map_or_else(|| "EUR".to_owned(), |m| m.currency.clone())
    }

    fn search_input(
        &self,
        state: &DialogueState,
        origin: &str,
        destination: &str,
        day: NaiveDate,
    ) -> FlightSearchInput {
        let slots = &state.slots;
        FlightSearchInput {
            origin: origin.to_owned(),
            destination: destination.to_owned(),
            departure_date: Date(day),
            return_date: slots.return_date.map(Date),
            adults: Some(i32::from(slots.adults.max(1))),
            children: Some(i32::from(slots.children)),
            infants: Some(i32::from(slots.infants)),
            cabin: slots.cabin,
            non_stop: slots.non_stop,
            max_price: slots.max_price.as_ref().map(|m| m.amount.to_string()),
            currency: Some(self.currency(state)),
            carriers: None,
            departure_time_of_day: slots.time_of_day,
            sort: slots.sort,
            first: Some(i32::try_from(self.settings.offers_per_reply).unwrap_or(5)),
        }
    }

    async fn outcomes(
        &self,
        search: &FlightSearch,
        loader: Option<&DataLoader<SearchLoader>>,
    ) -> Arc<Vec<ProviderOutcome>> {
        match loader {
            Some(loader) => match loader.load_one(search.clone()).await {
                Ok(Some(outcomes)) => outcomes,
                Ok(None) | Err(_) => self.flights.search(search).await,
            },
            None => self.flights.search(search).await,
        }
    }
}

/// What a turn's search found.
#[derive(Debug, Default)]
struct Found {
    ran: bool,
    ranked: Option<crate::flights::aggregator::RankedOffers>,
    summary: Option<SearchSummary>,
    calendar: Vec<CheapestDate>,
}

impl Found {
    /// The conversation built a search the flight rules refuse: say why, search nothing.
    fn refused(state: &DialogueState, day: NaiveDate, error: &InputError) -> Self {
        let refusal =
            if error.field.contains("adults") || error.field.contains("children") || error.field.contains("infants") {
                Refusal::Passengers
            } else {
                Refusal::Dates
            };
        let summary = SearchSummary {
            origin: state.slots.origin.clone().unwrap_or_default(),
            destination: state.slots.destination.clone().unwrap_or_default(),
            date: day,
            return_date: state.slots.return_date,
            found: 0,
            best: None,
            providers_down: false,
            range: None,
            refused: Some(refusal),
        };
        Self { summary: Some(summary), ..Self::default() }
    }
}

/// The first flight's marketing carrier, by name.
fn carrier_name(offer: &Offer) -> String {
    let code = offer.itineraries.first().and_then(|i| i.segments.first()).map(|s| s.carrier.as_str()).unwrap_or("");
    ReferenceData::embedded().airline(code).map_or_else(|| code.to_owned(), |a| a.name.clone())
}
