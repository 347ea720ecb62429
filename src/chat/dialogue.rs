//! The dialogue: how one [`Extraction`] changes the conversation's
//! [`DialogueState`], and what the agent does next ([`NextStep`]).
//!
//! Slots fill in any order and carry over between messages; a later message
//! corrects one slot and keeps the rest ("from Singapore", "make it 4
//! people", "what about the day after?"). Origin, destination and departure
//! are required, the return date only for a round trip, and passengers only
//! when children were mentioned without a count (adults default to 1). One
//! question at a time — destination, origin, departure, return, passengers —
//! and the question asked is remembered in `pending`, so a bare "London" or
//! "tomorrow" answers it.
//!
//! When the search is complete and something changed (or it never ran),
//! the step is [`NextStep::Search`] (a day) or [`NextStep::CheapestDates`] (a
//! range); the caller runs it, then sets `stage = Results`, `shown_offers`
//! (and `cheapest_shown`/`fastest_shown` when known). A change to the search
//! from any later stage (results, a selected offer, or the booking stages)
//! goes back to `Collecting` and drops the offers shown, the selection and
//! the booking draft; a booking already held lapses unpaid unless the
//! traveller pays its link (it stays their latest booking).
//!
//! Picking an offer with a booking verb ("book option 2", "reservar la
//! opción 2", or "book it" once one is selected) is [`NextStep::Book`]: the
//! caller looks the offer up and starts the booking draft
//! ([`travellers::start`]); from then on, until the booking is made,
//! [`travellers::answer`] takes each message ("book it" with several offers
//! shown and none picked asks which one).

use chrono::{Days, NaiveDate};

use super::model::{
    DateMention, DialogueState, Extraction, Intent, NextStep, OfferChoice, PendingQuestion, PlaceMention, PlaceRole,
    Slot, Stage, TripKind, TripSlots,
};
use super::travellers;
use crate::reference::ReferenceData;

/// The slots a search still needs, in the order they are asked.
pub fn missing(state: &DialogueState) -> Vec<Slot> {
    let slots = &state.slots;
    let mut missing = Vec::new();
    if slots.destination.is_none() {
        missing.push(Slot::Destination);
    }
    if slots.origin.is_none() {
        missing.push(Slot::Origin);
    }
    if slots.departure.is_none() {
        missing.push(Slot::DepartureDate);
    }
    if slots.trip == Some(TripKind::RoundTrip) && slots.return_date.is_none() {
        missing.push(Slot::ReturnDate);
    }
    if slots.children_uncounted {
        missing.push(Slot::Passengers);
    }
    missing
}

/// Forget the conversation (a new trip, same language).
pub fn reset(state: &mut DialogueState) {
    let language = state.language;
    *state = DialogueState { language, ..DialogueState::default() };
    state.slots.adults = 1;
}

/// The city a code belongs to, so LHR and LON count as the same place.
fn city_of(code: &str) -> String {
    ReferenceData::embedded().airport(code).map(|a| a.city_code.clone()).unwrap_or_else(|| code.to_owned())
}

fn role_slot(role: PlaceRole) -> Slot {
    match role {
        PlaceRole::Origin => Slot::Origin,
        PlaceRole::Destination => Slot::Destination,
    }
}

fn set_place(slots: &mut TripSlots, role: PlaceRole, code: String) {
    match role {
        PlaceRole::Origin => slots.origin = Some(code),
        PlaceRole::Destination => slots.destination = Some(code),
    }
}

/// The role an unlabelled place takes: the one asked for, else the one missing.
fn role_for_bare_place(state: &DialogueState) -> PlaceRole {
    match &state.pending {
        Some(PendingQuestion::Slot(Slot::Origin)) => PlaceRole::Origin,
        Some(PendingQuestion::Slot(Slot::Destination)) => PlaceRole::Destination,
        Some(PendingQuestion::WhichPlace { role, .. } | PendingQuestion::DidYouMean { role, .. }) => *role,
        _ if state.slots.destination.is_none() => PlaceRole::Destination,
        _ if state.slots.origin.is_none() => PlaceRole::Origin,
        _ => PlaceRole::Destination,
    }
}

/// Applies one place mention; the question to ask (and to remember) comes back when it cannot be used.
fn apply_place(slots: &mut TripSlots, role: PlaceRole, mention: &PlaceMention) -> Option<(NextStep, PendingQuestion)> {
    match mention {
        PlaceMention::Resolved { code } => {
            set_place(slots, role, code.clone());
            None
        }
        PlaceMention::Ambiguous { text, candidates } => Some((
            NextStep::WhichPlace { text: text.clone(), candidates: candidates.clone() },
            PendingQuestion::WhichPlace { role, candidates: candidates.clone() },
        )),
        PlaceMention::Unknown { text, suggestions } => Some((
            NextStep::DidYouMean { text: text.clone(), suggestions: suggestions.clone() },
            PendingQuestion::DidYouMean { role, suggestions: suggestions.clone() },
        )),
    }
}

fn shift(date: DateMention, days: i64, today: NaiveDate) -> Option<DateMention> {
    let move_day = |d: NaiveDate| {
        let moved = if days >= 0 {
            d.checked_add_days(Days::new(days as u64))
        } else {
            d.checked_sub_days(Days::new(days.unsigned_abs()))
        };
        moved.filter(|m| *m >= today)
    };
    match date {
        DateMention::Day(d) => move_day(d).map(DateMention::Day),
        DateMention::Range { from, to } => Some(DateMention::Range { from: move_day(from)?, to: move_day(to)? }),
        DateMention::Shift(_) => None,
    }
}

/// Applies everything but places; returns whether the message carried a date shift that could not apply.
fn apply_slots(state: &mut DialogueState, e: &Extraction, today: NaiveDate) {
    let slots = &mut state.slots;
    match e.departure {
        Some(DateMention::Shift(days)) => {
            if let Some(current) = slots.departure
                && let Some(moved) = shift(current, days, today)
            {
                slots.departure = Some(moved);
                // The trip keeps its length.
                if let Some(back) = slots.return_date {
                    slots.return_date = shift(DateMention::Day(back), days, today).and_then(|d| match d {
                        DateMention::Day(d) => Some(d),
                        _ => None,
                    });
                }
            }
        }
        Some(date) => slots.departure = Some(date),
        None => {}
    }
    match e.return_date {
        Some(DateMention::Day(day)) => {
            slots.return_date = Some(day);
            slots.trip = Some(TripKind::RoundTrip);
        }
        Some(DateMention::Range { from, .. }) => {
            slots.return_date = Some(from);
            slots.trip = Some(TripKind::RoundTrip);
        }
        Some(DateMention::Shift(days)) => {
            // A return shift moves the return, or, with none yet, counts the stay from the departure.
            let base = slots.return_date.map(DateMention::Day).or(match slots.departure {
                Some(DateMention::Day(d)) => Some(DateMention::Day(d)),
                _ => None,
            });
            if let Some(base) = base
                && let Some(DateMention::Day(moved)) = shift(base, days, today)
            {
                slots.return_date = Some(moved);
                slots.trip = Some(TripKind::RoundTrip);
            }
        }
        None => {}
    }
    match e.trip {
        Some(TripKind::OneWay) => {
            slots.trip = Some(TripKind::OneWay);
            slots.return_date = None;
        }
        Some(TripKind::RoundTrip) => slots.trip = Some(TripKind::RoundTrip),
        None => {}
    }
    // A return before the departure no longer fits: ask again.
    let departure_day = match slots.departure {
        Some(DateMention::Day(d)) => Some(d),
        Some(DateMention::Range { from, .. }) => Some(from),
        _ => None,
    };
    if let (Some(back), Some(out)) = (slots.return_date, departure_day)
        && back < out
    {
        slots.return_date = None;
    }
    let p = e.passengers;
    if let Some(adults) = p.adults {
        slots.adults = adults.max(1);
    }
    if let Some(children) = p.children {
        slots.children = children;
        slots.children_uncounted = false;
    } else if p.children_uncounted {
        slots.children_uncounted = true;
    }
    if let Some(infants) = p.infants {
        // An infant travels on an adult's lap.
        slots.infants = infants.min(slots.adults.max(1));
    }
    if e.cabin.is_some() {
        slots.cabin = e.cabin;
    }
    if e.non_stop.is_some() {
        slots.non_stop = e.non_stop;
    }
    if e.max_price.is_some() {
        slots.max_price = e.max_price.clone();
    }
    if e.sort.is_some() {
        slots.sort = e.sort;
    }
    if e.time_of_day.is_some() {
        slots.time_of_day = e.time_of_day;
    }
}

/// The offer a pick points at, if it is on screen.
fn pick(state: &DialogueState, choice: OfferChoice) -> Result<usize, NextStep> {
    let shown = state.shown_offers.len();
    if shown == 0 {
        return Err(NextStep::NothingToSelect);
    }
    let index = match choice {
        OfferChoice::Position(n) => usize::from(n).checked_sub(1).filter(|i| *i < shown),
        OfferChoice::Last => Some(shown - 1),
        // Without the search's word on it, the first: offers are shown cheapest first unless sorted otherwise.
        OfferChoice::Cheapest => Some(state.cheapest_shown.filter(|i| *i < shown).unwrap_or(0)),
        OfferChoice::Fastest => Some(state.fastest_shown.filter(|i| *i < shown).unwrap_or(0)),
        OfferChoice::Current => Some(
            state.selected_offer.as_ref().and_then(|id| state.shown_offers.iter().position(|o| o == id)).unwrap_or(0),
        ),
    };
    index.ok_or(NextStep::NoSuchOption { shown })
}

/// Updates `state` with `extraction` and decides the next step. `today`
/// bounds date shifts (a shift never lands in the past).
pub fn advance(state: &mut DialogueState, extraction: &Extraction, today: NaiveDate) -> NextStep {
    if state.slots.adults == 0 {
        state.slots.adults = 1;
    }
    state.language = Some(extraction.language);
    let before = state.slots.clone();
    let intent = extraction.intent.unwrap_or(Intent::Unknown);

    // "Did you mean London?" — "yes".
    let mut question = None;
    if let Some(PendingQuestion::DidYouMean { role, suggestions }) = state.pending.clone()
        && extraction.place.is_none()
        && extraction.affirmation.is_some()
    {
        match (extraction.affirmation, suggestions.first()) {
            (Some(true), Some(first)) => {
                set_place(&mut state.slots, role, first.clone());
                state.pending = None;
            }
            _ => {
                state.pending = Some(PendingQuestion::Slot(role_slot(role)));
                question = Some(NextStep::Ask(role_slot(role)));
            }
        }
    }

    // Places: the roled ones, then a bare one where it was asked for or is missing.
    let bare_role = role_for_bare_place(state);
    let mut problem = None;
    for (role, mention) in [
        (PlaceRole::Origin, extraction.origin.as_ref()),
        (PlaceRole::Destination, extraction.destination.as_ref()),
        (bare_role, extraction.place.as_ref()),
    ] {
        // Every place that can be used is kept; the first that cannot becomes the question.
        if let Some(mention) = mention
            && let Some(found) = apply_place(&mut state.slots, role, mention)
            && problem.is_none()
            && question.is_none()
        {
            problem = Some(found);
        }
    }
    if let Some((step, pending)) = problem {
        state.pending = Some(pending);
        question = Some(step);
    } else if question.is_none()
        && matches!(state.pending, Some(PendingQuestion::WhichPlace { .. } | PendingQuestion::DidYouMean { .. }))
        && extraction.place.is_some()
    {
        state.pending = None;
    }
    apply_slots(state, extraction, today);
    let changed = state.slots != before;
    if changed && state.stage != Stage::Collecting {
        state.stage = Stage::Collecting;
        state.shown_offers.clear();
        state.selected_offer = None;
        state.cheapest_shown = None;
        state.fastest_shown = None;
        state.booking = None;
        if state.pending.as_ref().is_some_and(PendingQuestion::about_booking) {
            state.pending = None;
        }
    }
    if let Some(question) = question {
        if state.stage == Stage::TravellerDetails {
            // Talking about places again: the booking waits no more.
            let asked = state.pending.take();
            travellers::leave(state);
            state.pending = asked;
        }
        return question;
    }
    if state.stage == Stage::TravellerDetails
        && let Some(step) = travellers::answer(state, extraction, today)
    {
        return step;
    }

    if let Some(choice) = extraction.offer_choice
        && !changed
    {
        // "book it" with several shown and none picked yet: which one?
        if intent == Intent::Book
            && choice == OfferChoice::Current
            && state.selected_offer.is_none()
            && state.shown_offers.len() > 1
        {
            return NextStep::Handoff { intent };
        }
        return match pick(state, choice) {
            Ok(index) => {
                state.selected_offer = state.shown_offers.get(index).cloned();
                state.stage = Stage::Selected;
                state.pending = None;
                if intent == Intent::Book { NextStep::Book { index } } else { NextStep::Select { index } }
            }
            Err(step) => step,
        };
    }
    if matches!(intent, Intent::Pay | Intent::CancelBooking | Intent::BookingStatus) && !changed {
        return NextStep::Handoff { intent };
    }
    if intent == Intent::Book && !changed {
        return match pick(state, OfferChoice::Current) {
            Ok(index) if state.stage == Stage::Selected => NextStep::Book { index },
            Ok(_) if matches!(state.stage, Stage::Payment | Stage::Confirmed) => {
                NextStep::Handoff { intent: Intent::Book }
            }
            Ok(_) if state.selected_offer.is_none() && state.shown_offers.len() > 1 => {
                NextStep::Handoff { intent: Intent::Book }
            }
            Ok(index) => {
                state.selected_offer = state.shown_offers.get(index).cloned();
                state.stage = Stage::Selected;
                NextStep::Book { index }
            }
            Err(step) => step,
        };
    }

    let answering = matches!(state.pending, Some(PendingQuestion::Slot(_)));
    let searching = changed || intent == Intent::SearchFlights;
    if searching {
        if let (Some(origin), Some(destination)) = (&state.slots.origin, &state.slots.destination)
            && city_of(origin) == city_of(destination)
        {
            state.slots.destination = None;
            state.pending = Some(PendingQuestion::Slot(Slot::Destination));
            return NextStep::SamePlace;
        }
        if let Some(slot) = missing(state).first().copied() {
            state.pending = Some(PendingQuestion::Slot(slot));
            return NextStep::Ask(slot);
        }
        let first_time = state.stage == Stage::Collecting;
        if changed || first_time {
            state.pending = None;
            return match state.slots.departure {
                Some(DateMention::Range { .. }) => NextStep::CheapestDates,
                _ => NextStep::Search,
            };
        }
    }
    match intent {
        Intent::Greeting => NextStep::Greet,
        Intent::Goodbye => NextStep::Farewell,
        Intent::Help => NextStep::Help,
        _ if answering => {
            // The question still stands.
            match &state.pending {
                Some(PendingQuestion::Slot(slot)) => NextStep::Ask(*slot),
                _ => NextStep::NotUnderstood,
            }
        }
        _ => NextStep::NotUnderstood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::extract::{ExtractContext, extract};
    use crate::flights::model::Cabin;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn day(m: u32, d: u32) -> Option<DateMention> {
        Some(DateMention::Day(NaiveDate::from_ymd_opt(2026, m, d).expect("date")))
    }

    /// Runs a message through extraction and the dialogue, like the service does.
    fn say(state: &mut DialogueState, text: &str) -> NextStep {
        let extraction = extract(text, &ExtractContext::for_state(state, Some("en-US"), today()));
        let step = advance(state, &extraction, today());
        if matches!(step, NextStep::Search | NextStep::CheapestDates) {
            state.stage = Stage::Results;
            state.shown_offers = (1..=5).map(|n| format!("offer-{n}")).collect();
        }
        step
    }

    #[test]
    fn slots_are_asked_one_at_a_time_and_bare_answers_fill_them() {
        let mut state = DialogueState::default();
        assert_eq!(say(&mut state, "hi"), NextStep::Greet);
        assert_eq!(say(&mut state, "I need a flight"), NextStep::Ask(Slot::Destination));
        assert_eq!(say(&mut state, "London"), NextStep::Ask(Slot::Origin));
        assert_eq!(state.slots.destination.as_deref(), Some("LON"));
        assert_eq!(say(&mut state, "Madrid"), NextStep::Ask(Slot::DepartureDate));
        assert_eq!(state.slots.origin.as_deref(), Some("MAD"));
        assert_eq!(say(&mut state, "tomorrow"), NextStep::Search);
        assert_eq!(state.slots.departure, day(12, 4));
        assert_eq!(state.slots.adults, 1);
        assert_eq!(missing(&state), Vec::<Slot>::new());
    }

    #[test]
    fn corrections_keep_the_rest_and_search_again() {
        let mut state = DialogueState::default();
        assert_eq!(say(&mut state, "London to Paris on Dec 20"), NextStep::Search);
        assert_eq!(say(&mut state, "from Singapore"), NextStep::Search);
        assert_eq!(state.slots.origin.as_deref(), Some("SIN"));
        assert_eq!(state.slots.destination.as_deref(), Some("PAR"));
        assert_eq!(say(&mut state, "what about the day after?"), NextStep::Search);
        assert_eq!(state.slots.departure, day(12, 21));
        assert_eq!(say(&mut state, "make it 4 people"), NextStep::Search);
        assert_eq!(state.slots.adults, 4);
        assert_eq!(say(&mut state, "actually to Rome"), NextStep::Search);
        assert_eq!(state.slots.destination.as_deref(), Some("ROM"));
        assert_eq!(say(&mut state, "only direct flights in business"), NextStep::Search);
        assert_eq!((state.slots.non_stop, state.slots.cabin), (Some(true), Some(Cabin::Business)));
        assert_eq!(say(&mut state, "next monday"), NextStep::Search);
        assert_eq!(state.slots.departure, day(12, 7));
    }

    #[test]
    fn round_trips_need_a_return_and_uncounted_kids_a_count() {
        let mut state = DialogueState::default();
        assert_eq!(say(&mut state, "round trip from Paris to Lisbon on the 20th"), NextStep::Ask(Slot::ReturnDate));
        assert_eq!(say(&mut state, "the 27th"), NextStep::Search);
        assert_eq!(state.slots.return_date, NaiveDate::from_ymd_opt(2026, 12, 27));
        let mut state = DialogueState::default();
        assert_eq!(
            say(&mut state, "Paris to Lisbon tomorrow with my wife and the kids"),
            NextStep::Ask(Slot::Passengers)
        );
        assert_eq!(say(&mut state, "2"), NextStep::Search);
        assert_eq!((state.slots.adults, state.slots.children), (2, 2));
    }

    #[test]
    fn ambiguous_and_unknown_places_are_questions() {
        let mut state = DialogueState::default();
        let step = say(&mut state, "from Madrid to Santiago tomorrow");
        assert!(matches!(step, NextStep::WhichPlace { .. }), "{step:?}");
        assert_eq!(say(&mut state, "the one in Chile"), NextStep::Search);
        assert_eq!(state.slots.destination.as_deref(), Some("SCL"));

        let mut state = DialogueState::default();
        let step = say(&mut state, "from Madrid to Lomdonn tomorrow");
        let NextStep::DidYouMean { suggestions, .. } = step else { panic!("did you mean expected: {step:?}") };
        assert_eq!(suggestions.first().map(String::as_str), Some("LON"));
        assert_eq!(say(&mut state, "yes"), NextStep::Search);
        assert_eq!(state.slots.destination.as_deref(), Some("LON"));
    }

    #[test]
    fn same_place_and_picks() {
        let mut state = DialogueState::default();
        assert_eq!(say(&mut state, "from LHR to London tomorrow"), NextStep::SamePlace);
        assert_eq!(say(&mut state, "Paris"), NextStep::Search);
        assert_eq!(say(&mut state, "the second one"), NextStep::Select { index: 1 });
        assert_eq!((state.stage, state.selected_offer.as_deref()), (Stage::Selected, Some("offer-2")));
        assert_eq!(say(&mut state, "option 9"), NextStep::NoSuchOption { shown: 5 });
        assert_eq!(say(&mut state, "in business"), NextStep::Search, "a change while selected searches again");
        assert_eq!(state.selected_offer, None);
        let mut fresh = DialogueState::default();
        assert_eq!(say(&mut fresh, "book option 2"), NextStep::NothingToSelect);
        assert_eq!(say(&mut fresh, "cancel my booking"), NextStep::Handoff { intent: Intent::CancelBooking });
    }

    #[test]
    fn greeting_with_a_trip_is_a_search_turn() {
        let mut state = DialogueState::default();
        assert_eq!(say(&mut state, "hola, quiero ir a Roma"), NextStep::Ask(Slot::Origin));
        assert_eq!(state.slots.destination.as_deref(), Some("ROM"));
        assert_eq!(say(&mut state, "gracias"), NextStep::Farewell);
        assert_eq!(say(&mut state, "🙂"), NextStep::Ask(Slot::Origin));
        reset(&mut state);
        assert_eq!(state.slots.destination, None);
        assert_eq!(state.language, Some(crate::chat::model::Language::Es));
    }
}
