//! GraphQL edge of the agent: `sendMessage` and `resetConversation`.
//!
//! Each turn re-reads the session from the store before changing it, so two
//! messages in one request (or on one socket) build on each other, and saves
//! it after; a session ended meanwhile answers `UNAUTHENTICATED`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, SimpleObject};

use super::model::{DateMention, Intent, Slot, Stage};
use super::service::{ChatService, ChatTurn, clean_message};
use crate::booking::resolvers::{BookingObject, PaymentLink, PublicBase};
use crate::flights::SearchLoader;
use crate::flights::model::{Cabin, OfferSort, TimeOfDay};
use crate::flights::resolvers::{CheapestDate, FlightOfferObject, MoneyObject};
use crate::graphql::context::{RequestAuth, service, session};
use crate::graphql::errors::ApiError;
use crate::graphql::scalars::Date;
use crate::reference::{Place, ReferenceData};
use crate::sessions::{AuthenticatedSession, SessionService};

/// The agent's answer to one message.
#[derive(Debug, SimpleObject)]
pub struct ChatResponse {
    /// What the agent says.
    reply: ChatReply,
    /// What it understood of the trip so far.
    understanding: Understanding,
    /// Slots still needed before a search can run; empty when the search ran.
    missing: Vec<Slot>,
    /// Where the conversation is.
    stage: Stage,
    /// Two to four short replies to offer as chips, in the traveller's language.
    suggested_replies: Vec<String>,
    /// Flight cards, when a search ran.
    offers: Vec<FlightOfferObject>,
    /// The cheapest price per day, when the traveller gave a range or no exact day.
    cheapest_dates: Vec<CheapestDate>,
    /// The booking this conversation made, from `PAYMENT` on: its status,
    /// and its airline `reference` once `CONFIRMED`.
    booking: Option<BookingObject>,
    /// The payment provider's hosted page for that booking, while it waits for payment.
    payment_link: Option<PaymentLink>,
    /// Where the time went.
    timings: ChatTimings,
}

/// A reply's text.
#[derive(Debug, SimpleObject)]
pub struct ChatReply {
    /// Plain text.
    text: String,
    /// ISO 639-1 language of the text.
    language: String,
}

/// Travellers as understood.
#[derive(Debug, SimpleObject)]
pub struct PassengerCount {
    /// Aged 12 and over.
    adults: i32,
    /// Aged 2 to 11.
    children: i32,
    /// Under 2.
    infants: i32,
}

/// What the agent understood: this message's intent and the trip so far.
#[derive(Debug, SimpleObject)]
pub struct Understanding {
    /// What this message wanted.
    intent: Intent,
    /// ISO 639-1 language of the message.
    language: String,
    /// Where from.
    origin: Option<Place>,
    /// Where to.
    destination: Option<Place>,
    /// Outbound day (null while only a range is known).
    departure_date: Option<Date>,
    /// Return day.
    return_date: Option<Date>,
    /// Who travels.
    passengers: PassengerCount,
    /// Travel class, when stated (searches use economy otherwise).
    cabin: Option<Cabin>,
    /// Direct flights only, when stated.
    non_stop: Option<bool>,
    /// Budget, when stated.
    max_price: Option<MoneyObject>,
    /// The stated preference ("cheapest" → PRICE), null when none.
    sort: Option<OfferSort>,
    /// Part of the day for departure, when stated.
    departure_time_of_day: Option<TimeOfDay>,
}

/// Milliseconds per part of a turn.
#[derive(Debug, SimpleObject)]
pub struct ChatTimings {
    /// Understanding the message.
    nlp_ms: f64,
    /// Searching (0 without a search).
    search_ms: f64,
    /// Writing the reply and cards.
    response_ms: f64,
    /// The whole turn.
    total_ms: f64,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl From<ChatTurn> for ChatResponse {
    fn from(turn: ChatTurn) -> Self {
        let slots = &turn.state.slots;
        let data = ReferenceData::embedded();
        let understanding = Understanding {
            intent: turn.intent,
            language: turn.language.code().to_owned(),
            origin: slots.origin.as_deref().and_then(|c| data.place(c)),
            destination: slots.destination.as_deref().and_then(|c| data.place(c)),
            departure_date: match slots.departure {
                Some(DateMention::Day(day)) => Some(Date(day)),
                _ => None,
            },
            return_date: slots.return_date.map(Date),
            passengers: PassengerCount {
                adults: i32::from(slots.adults.max(1)),
                children: i32::from(slots.children),
                infants: i32::from(slots.infants),
            },
            cabin: slots.cabin,
            non_stop: slots.non_stop,
            max_price: slots.max_price.as_ref().map(MoneyObject::from),
            sort: slots.sort,
            departure_time_of_day: slots.time_of_day,
        };
        Self {
            reply: ChatReply { text: turn.reply, language: turn.language.code().to_owned() },
            understanding,
            missing: turn.missing,
            stage: turn.state.stage,
            suggested_replies: turn.suggested_replies,
            offers: turn.offers,
            cheapest_dates: turn.cheapest_dates,
            booking: turn.booking.map(BookingObject::from),
            payment_link: turn
                .payment_link
                .map(|link| PaymentLink { url: link.url, expires_at: link.expires_at.into() }),
            timings: ChatTimings {
                nlp_ms: ms(turn.timings.nlp),
                search_ms: ms(turn.timings.search),
                response_ms: ms(turn.timings.response),
                total_ms: ms(turn.timings.total),
            },
        }
    }
}

/// The session as stored now (not as the request found it), or the contract's error.
async fn fresh_session(ctx: &Context<'_>) -> Result<AuthenticatedSession, ApiError> {
    let auth = session(ctx)?;
    let sessions = service::<SessionService>(ctx)?;
    RequestAuth::from_result(sessions.authenticate_key(&auth.key).await).require().cloned()
}

async fn save(ctx: &Context<'_>, auth: &AuthenticatedSession) -> Result<(), ApiError> {
    match service::<SessionService>(ctx)?.save(auth).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::unauthenticated("the session ended while the message was handled")),
        Err(error) => Err(ApiError::internal(&error)),
    }
}

/// Chat mutations.
#[derive(Debug, Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// Sends the traveller's message to the agent; the answer comes in their language.
    async fn send_message(&self, ctx: &Context<'_>, text: String) -> Result<ChatResponse, ApiError> {
        session(ctx)?;
        clean_message(&text).map_err(|e| ApiError::bad_input(&e.field, e.message))?;
        let chat = service::<ChatService>(ctx)?;
        let mut auth = fresh_session(ctx).await?;
        let loader = ctx.data_opt::<DataLoader<SearchLoader>>();
        let base = ctx.data_opt::<PublicBase>().map(|b| b.0.as_str()).unwrap_or_default();
        let turn = chat
            .send(&mut auth.session, &text, loader, base)
            .await
            .map_err(|e| ApiError::bad_input(&e.field, e.message))?;
        save(ctx, &auth).await?;
        Ok(turn.into())
    }

    /// Forgets the conversation and what the agent understood; the session stays.
    async fn reset_conversation(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        let mut auth = fresh_session(ctx).await?;
        auth.session.conversation.clear();
        auth.session.dialogue = super::model::DialogueState::default();
        save(ctx, &auth).await?;
        Ok(true)
    }
}
