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
//!
//! Booking by chat ([`super::travellers`] collects the details):
//! - "book option 2" looks the offer up (gone or expired: say so and offer
//!   the search again) and starts the draft from its passengers.
//! - With every detail in, `createBooking` runs with the session's id and
//!   language; then `createPaymentLink`, and the reply carries the link
//!   (`stage = PAYMENT`). An expired offer is said and the search offered
//!   again; a changed price is told and booked only after a yes; an airline
//!   that does not answer (or our own failure) is said, nothing booked, and
//!   a retry offered; details the airline refuses are asked again.
//! - While in `PAYMENT` (and `CONFIRMED`), every turn first reads the
//!   booking: once the payment webhook has confirmed it, the turn's reply
//!   gives the airline reference (`stage = CONFIRMED`); expired, cancelled
//!   or failed, it says so and offers the search again. Until then a turn
//!   that is not about something else reminds of the link (opening it again
//!   when it could not be opened before). The chat never cancels a booking:
//!   "cancel my booking" says where it stands and how (an unpaid hold lapses
//!   by itself), as before.
//! - Answers to the booking's questions are read by the built-in engine
//!   only: the details carry personal data, never cached or sent to the
//!   LLM, and the LLM's schema has no details and no bare yes or no.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::dataloader::DataLoader;
use chrono::NaiveDate;

use super::cache::{ExtractionCache, cache_key};
use super::dialogue;
use super::extract::{self, ExtractContext};
use super::llm::LlmExtractor;
use super::model::{DateMention, DialogueState, Extraction, Intent, Language, NextStep, PendingQuestion, Slot, Stage};
use super::reply::{self, BookingBrief, BookingNews, Refusal, SearchSummary};
use super::travellers;
use crate::booking::links::PaymentLinkView;
use crate::booking::model::BookingStatus;
use crate::booking::service::BookingView;
use crate::booking::{BookingError, BookingService};
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
    /// The booking the conversation made, as read this turn (from the
    /// payment stage on).
    pub booking: Option<BookingView>,
    /// Its hosted payment page, while it waits for payment.
    pub payment_link: Option<PaymentLinkView>,
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

/// Strips control characters and surrounding space and redacts card
/// numbers (so the transcript, the extraction cache, the logs and any LLM
/// never see one); refuses empty or over-long text.
pub fn clean_message(text: &str) -> Result<String, InputError> {
    let cleaned: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
    let cleaned = crate::payments::card::redact_card_numbers(&cleaned).into_owned();
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
        self.clock.now().with_timezone(&zone(session)).date_naive()
    }

    /// Understands a cleaned message in its session's context, through the cache.
    pub async fn understand(&self, text: &str, session: &Session, today: NaiveDate) -> Extraction {
        let context = ExtractContext::for_state(&session.dialogue, Some(&session.locale), today);
        let count = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        if context.pending.is_some_and(PendingQuestion::about_booking) {
            // Names, dates of birth and addresses are never cached nor sent to a
            // model; the model's schema has neither them nor a bare yes or no.
            count(&self.counts.builtin);
            return extract::extract(text, &context);
        }
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

    /// One turn: the session's dialogue and conversation are updated in
    /// place. `public_base` is this server's public URL, where a payment
    /// page sends the payer back to.
    pub async fn send(
        &self,
        session: &mut Session,
        text: &str,
        loader: Option<&DataLoader<SearchLoader>>,
        public_base: &str,
    ) -> Result<ChatTurn, InputError> {
        let started = Instant::now();
        let text = clean_message(text)?;
        let today = self.today(session);
        let zone = zone(session);
        let locale = session.locale.clone();

        let extraction = self.understand(&text, session, today).await;
        let nlp = started.elapsed();

        let session_id = session.id.0.clone();
        let state = &mut session.dialogue;
        let language = extraction.language;
        let mut booking = Booked::default();
        self.refresh_booking(state, &session_id, &mut booking).await;
        let step = dialogue::advance(state, &extraction, today);
        state.language = Some(language);
        match step {
            NextStep::Book { index } => self.start_booking(state, index, &locale, language, &mut booking).await,
            NextStep::CreateBooking => {
                let requester = Requester { session_id: &session_id, public_base, zone };
                self.make_booking(state, &requester, language, today, &mut booking).await;
            }
            NextStep::Handoff { intent: Intent::Pay | Intent::Book | Intent::SelectOffer }
            | NextStep::NotUnderstood
            | NextStep::Greet
                if state.stage == Stage::Payment && booking.news.is_none() =>
            {
                let requester = Requester { session_id: &session_id, public_base, zone };
                self.remind_payment(state, &requester, &mut booking).await;
            }
            _ => {}
        }

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
        // Where the booking stands answers these (once confirmed, "pay" and "book it" too).
        let about_booking = match step {
            NextStep::Handoff { intent: intent @ (Intent::BookingStatus | Intent::CancelBooking) } => Some(intent),
            NextStep::Handoff { intent: intent @ (Intent::Book | Intent::Pay) } if state.stage == Stage::Confirmed => {
                Some(intent)
            }
            _ => None,
        };
        let reply = match (&booking.news, about_booking) {
            (Some(news), _) if matches!(step, NextStep::Search | NextStep::CheapestDates) => format!(
                "{}\n\n{}",
                reply::booking_news(language, news, state),
                reply::reply(language, &step, state, found.summary.as_ref())
            ),
            (Some(news), _) => reply::booking_news(language, news, state),
            (None, Some(intent)) => {
                let brief = self.latest_booking_for(&session_id).await;
                reply::booking_reply(language, intent == Intent::CancelBooking, brief.as_ref())
            }
            (None, None) => reply::reply(language, &step, state, found.summary.as_ref()),
        };
        let payment_link = match (&state.booking, state.stage) {
            (Some(draft), Stage::Payment) => match (&draft.payment_url, draft.pay_until) {
                (Some(url), Some(expires_at)) => Some(PaymentLinkView { url: url.clone(), expires_at }),
                _ => None,
            },
            _ => None,
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
            booking: booking.view,
            payment_link,
            timings,
        })
    }

    /// In the payment stages, where the conversation's booking stands now:
    /// confirmed (the webhook came) or ended moves the stage and makes news.
    async fn refresh_booking(&self, state: &mut DialogueState, session_id: &str, booked: &mut Booked) {
        if !matches!(state.stage, Stage::Payment | Stage::Confirmed) {
            return;
        }
        let (Some(bookings), Some(id)) = (&self.bookings, state.booking.as_ref().and_then(|d| d.booking_id.clone()))
        else {
            return;
        };
        let view = match bookings.booking(session_id, &id).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(%error, booking = %id, "could not read the conversation's booking");
                return;
            }
        };
        if state.stage == Stage::Payment {
            match view.status {
                BookingStatus::PendingPayment => {}
                BookingStatus::Confirmed => {
                    let reference = view.reference.clone().unwrap_or_default();
                    if let Some(draft) = state.booking.as_mut() {
                        draft.reference = Some(reference.clone());
                    }
                    state.stage = Stage::Confirmed;
                    booked.news = Some(match route_of(&view) {
                        Some((route, date)) => BookingNews::Confirmed { reference, route, date },
                        None => BookingNews::Confirmed {
                            reference,
                            route: (String::new(), String::new()),
                            date: view.created_at.date_naive(),
                        },
                    });
                }
                ended => {
                    booked.news = Some(BookingNews::Ended(ended));
                    search_again(state);
                }
            }
        }
        booked.view = Some(view);
    }

    /// "book option 2": the offer looked up and the draft started, or the news that it is gone.
    async fn start_booking(
        &self,
        state: &mut DialogueState,
        index: usize,
        locale: &str,
        language: Language,
        booked: &mut Booked,
    ) {
        let offer = match state.shown_offers.get(index) {
            Some(id) => self.flights.offer(id).await,
            None => None,
        };
        match offer.filter(|o| o.expires_at > self.clock.now()) {
            Some(offer) => {
                let mut draft = travellers::draft_for(&offer, index, &state.slots);
                draft.month_first = extract::month_first(Some(locale), language);
                travellers::start(state, draft);
            }
            None => {
                search_again(state);
                booked.news = Some(BookingNews::OfferGone);
            }
        }
    }

    /// Every detail is in: the booking, then its payment link.
    async fn make_booking(
        &self,
        state: &mut DialogueState,
        requester: &Requester<'_>,
        language: Language,
        today: NaiveDate,
        booked: &mut Booked,
    ) {
        let input = state.booking.as_ref().and_then(travellers::booking_input);
        let (Some(bookings), Some(input)) = (&self.bookings, input) else {
            travellers::leave(state);
            booked.news = Some(BookingNews::NotBooked);
            return;
        };
        let created = bookings.create_booking(requester.session_id, language.code(), &input, today).await;
        let view = match created {
            Ok(view) => view,
            Err(error) => {
                booked.news = Some(self.not_booked(state, error));
                return;
            }
        };
        travellers::booked(state, &view.id);
        let (url, until) = open_link(bookings, requester, &view).await;
        if let Some(draft) = state.booking.as_mut() {
            draft.payment_url.clone_from(&url);
            draft.pay_until = Some(until);
            draft.price = Some(view.total.clone());
        }
        booked.news = Some(BookingNews::AwaitingPayment {
            fresh: true,
            url,
            until: local_time(until, requester.zone),
            total: view.total.clone(),
        });
        booked.view = Some(view);
    }

    /// Why `createBooking` failed, as the conversation goes on from it.
    fn not_booked(&self, state: &mut DialogueState, error: BookingError) -> BookingNews {
        match error {
            BookingError::OfferExpired | BookingError::NotFound => {
                search_again(state);
                BookingNews::OfferGone
            }
            BookingError::PriceChanged { current, previous } => {
                if let Some(draft) = state.booking.as_mut() {
                    draft.price = Some(previous);
                    draft.new_price = Some(current);
                }
                state.pending = Some(PendingQuestion::ConfirmNewPrice);
                BookingNews::PriceChanged
            }
            BookingError::Input(refused) => {
                tracing::warn!(field = %refused.field, message = %refused.message, "the booking refused details the chat took");
                if let Some(draft) = state.booking.as_mut() {
                    draft.travellers = vec![Default::default(); draft.passengers.len()];
                    draft.email = None;
                    draft.phone = None;
                    state.pending = travellers::next_question(draft);
                }
                BookingNews::DetailsRefused
            }
            BookingError::Timeout(_) | BookingError::Unavailable(_) | BookingError::Busy(_) => {
                state.pending = Some(PendingQuestion::RetryBooking);
                BookingNews::AirlineUnavailable
            }
            error => {
                tracing::error!(%error, "a chat booking failed");
                state.pending = Some(PendingQuestion::RetryBooking);
                BookingNews::NotBooked
            }
        }
    }

    /// Still unpaid: the link again (opened now if it could not be before).
    async fn remind_payment(&self, state: &mut DialogueState, requester: &Requester<'_>, booked: &mut Booked) {
        let (Some(bookings), Some(view)) = (&self.bookings, booked.view.clone()) else { return };
        let known = state.booking.as_ref().and_then(|d| d.payment_url.clone().zip(d.pay_until));
        let (url, until) = match known {
            Some((url, until)) => (Some(url), until),
            None => open_link(bookings, requester, &view).await,
        };
        if let Some(draft) = state.booking.as_mut() {
            draft.payment_url.clone_from(&url);
            draft.pay_until = Some(until);
        }
        booked.news = Some(BookingNews::AwaitingPayment {
            fresh: false,
            url,
            until: local_time(until, requester.zone),
            total: view.total.clone(),
        });
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

/// What a turn did with the conversation's booking.
#[derive(Debug, Default)]
struct Booked {
    /// What to tell about it, instead of (or before) the step's reply.
    news: Option<BookingNews>,
    /// The booking as read or made this turn.
    view: Option<BookingView>,
}

/// Who a turn's booking calls are for, and how to show times to them.
struct Requester<'a> {
    session_id: &'a str,
    /// Where a payment page sends the payer back to.
    public_base: &'a str,
    zone: chrono_tz::Tz,
}

/// The booking's payment page (`None` when it could not be opened) and until when it settles the booking.
async fn open_link(
    bookings: &BookingService,
    requester: &Requester<'_>,
    view: &BookingView,
) -> (Option<String>, chrono::DateTime<chrono::Utc>) {
    match bookings.create_payment_link(requester.session_id, &view.id, requester.public_base).await {
        Ok(link) => (Some(link.url), link.expires_at),
        Err(error) => {
            tracing::warn!(%error, booking = %view.id, "could not open a payment page for a chat booking");
            (None, view.expires_at)
        }
    }
}

/// "16:05" in the session's zone.
fn local_time(at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%H:%M").to_string()
}

/// The booking cannot go on: back to a search with the trip as it was, offers and draft dropped.
fn search_again(state: &mut DialogueState) {
    state.booking = None;
    state.pending = None;
    state.selected_offer = None;
    state.shown_offers.clear();
    state.cheapest_shown = None;
    state.fastest_shown = None;
    state.stage = Stage::Collecting;
}

/// A booking's first and last airport, and its first flight's day.
fn route_of(view: &BookingView) -> Option<((String, String), NaiveDate)> {
    let first = view.offer.itineraries.first()?;
    let departure = first.segments.first()?;
    let arrival = first.segments.last()?;
    Some(((departure.departure.airport.clone(), arrival.arrival.airport.clone()), departure.departure.at.date()))
}

/// The session's time zone (UTC when it names none we know).
fn zone(session: &Session) -> chrono_tz::Tz {
    session.time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC)
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
