//! The chat pipeline's vocabulary: what one message was understood to say
//! ([`Extraction`]), what the conversation knows so far ([`DialogueState`]),
//! and what the agent decided to do next ([`NextStep`]). The extractor, the
//! dialogue and the reply writer meet only through these types, so each can be
//! tested — and replaced (the optional LLM extractor) — on its own.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::flights::model::{Cabin, Money, OfferSort, PassengerType, TimeOfDay};

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
    /// Traveller details (names, dates of birth, e-mail), read only while
    /// the agent asks for them.
    #[serde(default)]
    pub details: Option<DetailsMention>,
}

/// The traveller details one message gives, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DetailsMention {
    /// Names, one per traveller.
    pub names: Vec<NameMention>,
    /// Dates of birth written before any name (one written after a name is that name's).
    pub birth_dates: Vec<BirthDateMention>,
    /// Something written as an e-mail address (it has an `@`), unchecked.
    pub email: Option<String>,
    /// Something written as a phone number (it starts with `+`), unchecked.
    pub phone: Option<String>,
}

impl DetailsMention {
    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.birth_dates.is_empty() && self.email.is_none() && self.phone.is_none()
    }

    /// Whether a date of birth was read, on its own or after a name.
    pub fn has_birth_date(&self) -> bool {
        !self.birth_dates.is_empty() || self.names.iter().any(|n| n.birth_date.is_some())
    }
}

/// A traveller's name as written, split into given and family names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NameMention {
    /// Given name(s); `None` when only a surname was given (the answer to "and the surname?").
    pub first: Option<String>,
    /// Family name(s); `None` when only one word was given.
    pub last: Option<String>,
    /// The traveller split it ("José María / García Pérez"), so it may
    /// correct a name already taken.
    pub explicit: bool,
    /// The split was a guess (three words or more, no slash): the reply says how it was read.
    pub guessed: bool,
    /// The date of birth written after this name (before the next one).
    #[serde(default)]
    pub birth_date: Option<BirthDateMention>,
}

/// A date of birth as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BirthDateMention {
    /// A real day.
    Day(NaiveDate),
    /// Day and month without a year.
    NoYear,
    /// Written as a date, but no such day exists ("31/02/1990").
    Impossible,
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
    /// Asked a traveller's full name (0-based traveller).
    TravellerName {
        /// Which traveller.
        traveller: usize,
    },
    /// Asked the surname of a traveller who gave one name only.
    TravellerSurname {
        /// Which traveller.
        traveller: usize,
    },
    /// Asked a traveller's date of birth.
    BirthDate {
        /// Which traveller.
        traveller: usize,
    },
    /// Asked the e-mail address the confirmation goes to.
    ContactEmail,
    /// The price changed while booking: asked whether to book at the new one.
    ConfirmNewPrice,
    /// Booking failed on the way (the airline did not answer): asked whether to try again.
    RetryBooking,
}

impl PendingQuestion {
    /// Whether the answer is traveller details (names, dates of birth,
    /// e-mail), which the extractor reads before anything else — and which
    /// are never cached or sent to the LLM extractor.
    pub fn asks_details(&self) -> bool {
        matches!(
            self,
            Self::TravellerName { .. } | Self::TravellerSurname { .. } | Self::BirthDate { .. } | Self::ContactEmail
        )
    }

    /// Whether it is one of the booking's questions (details, a new price, a retry).
    pub fn about_booking(&self) -> bool {
        self.asks_details() || matches!(self, Self::ConfirmNewPrice | Self::RetryBooking)
    }

    /// Whether it is about the search (a slot or a place), so a bare yes or no answers it.
    pub fn asks_slot(&self) -> bool {
        matches!(self, Self::Slot(_) | Self::WhichPlace { .. } | Self::DidYouMean { .. })
    }

    /// Whether it asks for a name (a bare name answers it).
    pub fn asks_name(&self) -> bool {
        matches!(self, Self::TravellerName { .. } | Self::TravellerSurname { .. })
    }
}

/// One traveller's details as collected so far.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TravellerDraft {
    /// Given name(s), checked.
    pub first_name: Option<String>,
    /// Family name(s), checked.
    pub last_name: Option<String>,
    /// Date of birth, checked against the trip.
    pub date_of_birth: Option<NaiveDate>,
    /// The place in the offer their age takes (set with the date of birth).
    pub kind: Option<PassengerType>,
}

/// A booking the conversation is making: what the picked offer needs,
/// what the traveller has given so far, and, once booked, the booking.
/// The travellers' details are dropped from it as soon as the booking
/// holds them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BookingDraft {
    /// The offer being booked.
    pub offer_id: String,
    /// Its 0-based position in the offers shown.
    pub index: usize,
    /// Who the offer is for, adults first, one entry per traveller.
    pub passengers: Vec<PassengerType>,
    /// The day each flight of the trip leaves (ages are checked on each).
    pub travel_dates: Vec<NaiveDate>,
    /// The price shown.
    pub price: Option<Money>,
    /// One per entry of `passengers`.
    pub travellers: Vec<TravellerDraft>,
    /// The confirmation address, checked.
    pub email: Option<String>,
    /// A contact phone, checked, when given.
    pub phone: Option<String>,
    /// The price the provider quoted instead, while asking whether to take it.
    pub new_price: Option<Money>,
    /// The booking, once made.
    pub booking_id: Option<String>,
    /// Its hosted payment page.
    pub payment_url: Option<String>,
    /// Until when paying there settles the booking.
    pub pay_until: Option<DateTime<Utc>>,
    /// The airline reference, once confirmed.
    pub reference: Option<String>,
    /// The session's locale writes numeric dates month first (`en-US`): the
    /// date-of-birth question shows that format.
    #[serde(default)]
    pub month_first: bool,
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
    /// The booking being made, from the pick to the confirmation.
    #[serde(default)]
    pub booking: Option<BookingDraft>,
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
    /// Book `shown_offers[index]`: the caller looks the offer up, starts the
    /// [`BookingDraft`] and asks for the first detail.
    Book {
        /// Index into `shown_offers`.
        index: usize,
    },
    /// Ask the detail in `pending` (after taking what the message gave).
    AskDetail {
        /// Why the message's answer was not taken, when it was not.
        problem: Option<DetailProblem>,
        /// The traveller whose name was just completed, to say how it was read.
        noted_name: Option<usize>,
        /// That name's split into given and family names was a guess.
        split_guessed: bool,
    },
    /// Every detail is in (or the traveller agreed to retry): make the booking.
    CreateBooking,
    /// The traveller stopped the booking before it was made.
    LeaveBooking,
}

/// Why a traveller detail was not taken; the reply says it in the traveller's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailProblem {
    /// The answer could not be read as what was asked.
    NotUnderstood,
    /// Not a name the booking rules take (letters, spaces, hyphens, apostrophes; 1–50).
    InvalidName,
    /// A date with no year.
    BirthDateWithoutYear,
    /// A day that does not exist.
    ImpossibleDate,
    /// After today.
    BirthDateInFuture,
    /// More than 120 years ago.
    BirthDateTooLongAgo,
    /// The age on the travel day does not fit any place left in the offer.
    AgeDoesNotFit {
        /// The traveller.
        traveller: usize,
        /// Their age on `on`.
        age: i32,
        /// The first travel day.
        on: NaiveDate,
    },
    /// Not an e-mail address.
    InvalidEmail,
    /// Not a phone number in E.164 form.
    InvalidPhone,
}
