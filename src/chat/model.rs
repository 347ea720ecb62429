//! The chat pipeline's vocabulary: what one message was understood to say
//! ([`Extraction`]), what the conversation knows so far ([`DialogueState`]),
//! and what the agent decided to do next ([`NextStep`]). The extractor, the
//! dialogue and the reply writer meet only through these types, so each can be
//! tested — and replaced (the optional LLM extractor) — on its own.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::flights::model::{Cabin, Money, OfferSort, TimeOfDay};

/// A language the agent understands and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Spanish.
    Es,
    /// French.
    Fr,
    /// German.
    De,
    /// Italian.
    It,
    /// Portuguese.
    Pt,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Self; 6] = [Self::En, Self::Es, Self::Fr, Self::De, Self::It, Self::Pt];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
            Self::Fr => "fr",
            Self::De => "de",
            Self::It => "it",
            Self::Pt => "pt",
        }
    }

    /// The language of an ISO 639-1 code or a BCP 47 tag (`pt-BR` → `Pt`).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == primary)
    }
}

/// What the traveller wants, from the contract's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Intent {
    /// Find flights (or change the search).
    SearchFlights,
    /// Pick one of the offers shown.
    SelectOffer,
    /// Go ahead and book.
    Book,
    /// Pay for a booking.
    Pay,
    /// Cancel a booking.
    CancelBooking,
    /// Ask how a booking stands.
    BookingStatus,
    /// Hello.
    Greeting,
    /// Bye, thanks.
    Goodbye,
    /// What can you do?
    Help,
    /// Not understood.
    Unknown,
}

/// The role a place plays in a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlaceRole {
    /// Where the trip starts.
    Origin,
    /// Where it goes.
    Destination,
}

/// A place the text names, and how it was recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaceMention {
    /// One place: an IATA city code when the city has several airports
    /// (`LON`), else the airport's code.
    Resolved {
        /// The IATA code.
        code: String,
    },
    /// Several different places carry this name (Santiago: SCL, SCQ, …):
    /// the candidates, most likely first.
    Ambiguous {
        /// What the traveller wrote.
        text: String,
        /// Candidate codes, most likely first (two to four).
        candidates: Vec<String>,
    },
    /// Not a place we know: the closest real ones, for "did you mean …?"
    /// (possibly empty). Never searched.
    Unknown {
        /// What the traveller wrote (raw; the reply writer makes it inert).
        text: String,
        /// Closest real place codes, best first (up to three).
        suggestions: Vec<String>,
    },
}

/// A date the text names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateMention {
    /// One day.
    Day(NaiveDate),
    /// A span to pick the cheapest day from ("next week", "sometime in
    /// March"), inclusive, at most 31 days.
    Range {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// Move the current departure by this many days ("the day after?" → +1).
    Shift(i64),
}

/// Travellers as stated; `None` fields were not mentioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PassengerMention {
    /// Adults.
    pub adults: Option<u8>,
    /// Children.
    pub children: Option<u8>,
    /// Infants.
    pub infants: Option<u8>,
    /// Children were mentioned without a count ("with the kids"): ask.
    pub children_uncounted: bool,
}

/// Which of the offers shown the traveller picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OfferChoice {
    /// 1-based position in the list shown ("the second one", "option 2").
    Position(u8),
    /// The cheapest shown.
    Cheapest,
    /// The fastest shown.
    Fastest,
    /// "book it", "that one": the one already selected, else the first.
    Current,
    /// The last one shown ("the last one", "la última").
    Last,
}

/// Whether the trip is one-way or a round trip, when stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TripKind {
    /// One-way.
    OneWay,
    /// Round trip ("return", "ida y vuelta").
    RoundTrip,
}

/// Everything one message was understood to say. `None` means "not
/// mentioned", so the dialogue can tell "keep what we had" from "changed".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Extraction {
    /// The language the message is written in.
    pub language: Language,
    /// What the traveller wants.
    pub intent: Option<Intent>,
    /// Where from.
    pub origin: Option<PlaceMention>,
    /// Where to.
    pub destination: Option<PlaceMention>,
    /// A place named without a role ("London" as a bare answer): the
    /// dialogue puts it in the slot it just asked for.
    pub place: Option<PlaceMention>,
    /// Outbound date.
    pub departure: Option<DateMention>,
    /// Return date.
    pub return_date: Option<DateMention>,
    /// One-way or round trip, when stated.
    pub trip: Option<TripKind>,
    /// Who travels.
    pub passengers: PassengerMention,
    /// Travel class.
    pub cabin: Option<Cabin>,
    /// `Some(true)` for "direct only", `Some(false)` for "stops are fine".
    pub non_stop: Option<bool>,
    /// Budget ceiling.
    pub max_price: Option<Money>,
    /// Stated preference.
    pub sort: Option<OfferSort>,
    /// Part of the day for departure.
    pub time_of_day: Option<TimeOfDay>,
    /// An offer picked from the list shown.
    pub offer_choice: Option<OfferChoice>,
    /// A bare yes (`Some(true)`) or no (`Some(false)`).
    pub affirmation: Option<bool>,
}

/// A slot a search needs, as the contract names them in `missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Slot {
    /// Where from.
    Origin,
    /// Where to.
    Destination,
    /// Outbound date.
    DepartureDate,
    /// Return date (round trips).
    ReturnDate,
    /// How many travel.
    Passengers,
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// Gathering what a search needs.
    #[default]
    Collecting,
    /// Offers shown.
    Results,
    /// One offer picked.
    Selected,
    /// Collecting travellers' details for the booking.
    TravellerDetails,
    /// Booking held, waiting for payment.
    Payment,
    /// Booked and paid.
    Confirmed,
}

/// The search the conversation has built so far.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TripSlots {
    /// Origin code.
    pub origin: Option<String>,
    /// Destination code.
    pub destination: Option<String>,
    /// Outbound date or range.
    pub departure: Option<DateMention>,
    /// Return date.
    pub return_date: Option<NaiveDate>,
    /// One-way or round trip, when stated.
    pub trip: Option<TripKind>,
    /// Adults (1 when never stated).
    pub adults: u8,
    /// Children.
    pub children: u8,
    /// Infants.
    pub infants: u8,
    /// Children mentioned but not counted: `PASSENGERS` is missing.
    pub children_uncounted: bool,
    /// Travel class.
    pub cabin: Option<Cabin>,
    /// Direct flights only.
    pub non_stop: Option<bool>,
    /// Budget.
    pub max_price: Option<Money>,
    /// Preference.
    pub sort: Option<OfferSort>,
    /// Part of the day.
    pub time_of_day: Option<TimeOfDay>,
}

/// A question the agent is waiting on, so a bare answer fills the right slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingQuestion {
    /// Asked for a slot.
    Slot(Slot),
    /// Asked which of several places was meant.
    WhichPlace {
        /// The slot the place fills.
        role: PlaceRole,
        /// The candidates offered.
        candidates: Vec<String>,
    },
    /// Asked "did you mean …?" about a name that is not a place: a "yes"
    /// takes the first suggestion, a position or a name picks another.
    DidYouMean {
        /// The slot the place fills.
        role: PlaceRole,
        /// The places suggested, best first (possibly empty).
        suggestions: Vec<String>,
    },
}

/// What the conversation knows; kept in the session between messages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DialogueState {
    /// Where the conversation is.
    pub stage: Stage,
    /// The language of the last message.
    pub language: Option<Language>,
    /// The search so far.
    pub slots: TripSlots,
    /// The question last asked, if any.
    pub pending: Option<PendingQuestion>,
    /// Ids of the offers last shown, in the order shown.
    pub shown_offers: Vec<String>,
    /// The offer picked.
    pub selected_offer: Option<String>,
    /// Index into `shown_offers` of the cheapest one, when the search knew
    /// it (set with `shown_offers`); "the cheapest" picks it. Without it the
    /// first offer is taken when the list is sorted by price.
    #[serde(default)]
    pub cheapest_shown: Option<usize>,
    /// Index into `shown_offers` of the fastest one, like `cheapest_shown`.
    #[serde(default)]
    pub fastest_shown: Option<usize>,
}

/// What the agent does with a message, decided by the dialogue from the
/// state and the extraction; the reply writer turns it into words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NextStep {
    /// Ask for one missing slot.
    Ask(Slot),
    /// Several places carry the name the traveller used.
    WhichPlace {
        /// What they wrote.
        text: String,
        /// The candidates.
        candidates: Vec<String>,
    },
    /// A name that is not a place: propose the closest ones.
    DidYouMean {
        /// What they wrote.
        text: String,
        /// Closest real places (possibly empty).
        suggestions: Vec<String>,
    },
    /// Origin and destination are the same place.
    SamePlace,
    /// Everything is known: search the day in the slots.
    Search,
    /// Search the cheapest day of the range in the slots.
    CheapestDates,
    /// The traveller picked an offer (`shown_offers[index]`).
    Select {
        /// Index into `shown_offers`.
        index: usize,
    },
    /// They picked an offer by a position that was not shown.
    NoSuchOption {
        /// How many are shown.
        shown: usize,
    },
    /// They want to book but nothing is shown yet.
    NothingToSelect,
    /// Hello back.
    Greet,
    /// Goodbye.
    Farewell,
    /// What the agent can do.
    Help,
    /// Not understood.
    NotUnderstood,
    /// Booking, paying, cancelling or asking how a booking stands: the
    /// booking flow's business; the dialogue leaves the state alone.
    Handoff {
        /// What the traveller asked for.
        intent: Intent,
    },
}
