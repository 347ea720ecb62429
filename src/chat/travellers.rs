//! The booking part of the dialogue: from "book option 2" to a complete
//! `CreateBookingInput`, one question at a time, each answer checked with
//! the booking rules themselves ([`crate::booking::validate`]) so the chat
//! never takes what `createBooking` would refuse.
//!
//! - The picked offer decides who is asked for: its passenger types (adults
//!   first), or the search's counts when the provider did not say.
//! - Per traveller, in order: the full name (a one-word answer is a given
//!   name, and the surname is asked next), then the date of birth; then one
//!   contact e-mail. The question asked is kept in `pending`, but a message
//!   may answer several at once ("Ana García Pérez, 14/05/1990,
//!   ana@example.com"), for one traveller or more: each name goes to the
//!   first traveller without one, a date of birth written after a name to
//!   that traveller, any other to the one asked (else the first without
//!   one). A name written with a slash ("José María / García Pérez")
//!   corrects the name of the traveller being asked about.
//! - A date of birth must fit a place the offer still has: the age on every
//!   travel day makes the traveller an adult, a child or an infant (the
//!   booking rules' boundaries), and that type must be left over, so the
//!   order travellers are given in does not matter.
//! - Something not taken is answered with why (in the traveller's
//!   language, by the reply writer) and the same question; what else the
//!   message gave is kept.
//!
//! A change of the search (new places, dates, travellers …) goes back to a
//! search as before and drops the draft; "cancel" stops the booking and
//! goes back to the offers shown; "search another flight" runs the search
//! again. The draft holds personal details only until the booking does.

use chrono::NaiveDate;

use super::model::{
    BirthDateMention, BookingDraft, DetailProblem, DetailsMention, DialogueState, Extraction, Intent, NextStep,
    PendingQuestion, Stage, TravellerDraft, TripSlots,
};
use crate::booking::validate::{
    BirthDateError, ContactInput, CreateBookingInput, TravelerInput, check_date_of_birth, is_email, is_phone,
    passenger_type_on, person_name, years_between,
};
use crate::flights::model::{Offer, PassengerType};
use crate::graphql::scalars::Date;

/// The draft for booking `offer`, shown at `index`: its passengers (from
/// the search in `slots` when the offer does not list them) and travel days.
pub fn draft_for(offer: &Offer, index: usize, slots: &TripSlots) -> BookingDraft {
    let mut passengers = offer.passengers.clone();
    if passengers.is_empty() {
        passengers.extend(std::iter::repeat_n(PassengerType::Adult, usize::from(slots.adults.max(1))));
        passengers.extend(std::iter::repeat_n(PassengerType::Child, usize::from(slots.children)));
        passengers.extend(std::iter::repeat_n(PassengerType::Infant, usize::from(slots.infants)));
    }
    passengers.sort_by_key(|kind| match kind {
        PassengerType::Adult => 0,
        PassengerType::Child => 1,
        PassengerType::Infant => 2,
    });
    BookingDraft {
        offer_id: offer.id.clone(),
        index,
        passengers,
        travel_dates: offer
            .itineraries
            .iter()
            .filter_map(|i| i.segments.first())
            .map(|s| s.departure.at.date())
            .collect(),
        price: Some(offer.price.clone()),
        ..BookingDraft::default()
    }
}

/// Starts collecting details for `draft`: the stage, the draft and the first question.
pub fn start(state: &mut DialogueState, mut draft: BookingDraft) {
    draft.travellers = vec![TravellerDraft::default(); draft.passengers.len()];
    state.selected_offer = state.shown_offers.get(draft.index).cloned().or(Some(draft.offer_id.clone()));
    state.pending = next_question(&draft);
    state.booking = Some(draft);
    state.stage = Stage::TravellerDetails;
}

/// The next thing to ask, or `None` when the booking has everything.
pub fn next_question(draft: &BookingDraft) -> Option<PendingQuestion> {
    for (traveller, t) in draft.travellers.iter().enumerate() {
        if t.first_name.is_none() {
            return Some(PendingQuestion::TravellerName { traveller });
        }
        if t.last_name.is_none() {
            return Some(PendingQuestion::TravellerSurname { traveller });
        }
        if t.date_of_birth.is_none() {
            return Some(PendingQuestion::BirthDate { traveller });
        }
    }
    draft.email.is_none().then_some(PendingQuestion::ContactEmail)
}

/// Stops the booking before it is made: back to the offers shown, or to the search.
pub fn leave(state: &mut DialogueState) -> NextStep {
    state.booking = None;
    state.pending = None;
    state.selected_offer = None;
    state.stage = if state.shown_offers.is_empty() { Stage::Collecting } else { Stage::Results };
    NextStep::LeaveBooking
}

/// One message while details are collected (the search unchanged). `None`:
/// the traveller wants the search again, or another of the offers shown —
/// the draft is dropped and the dialogue goes on as for that.
pub fn answer(state: &mut DialogueState, extraction: &Extraction, today: NaiveDate) -> Option<NextStep> {
    let Some(draft) = state.booking.as_mut() else {
        return Some(leave(state));
    };
    if let Some(details) = extraction.details.as_ref().filter(|d| !d.is_empty()) {
        let taken = take(draft, details, state.pending.as_ref(), today);
        state.pending = next_question(draft);
        return Some(match state.pending {
            None => NextStep::CreateBooking,
            Some(_) => NextStep::AskDetail {
                problem: taken.problem,
                noted_name: taken.noted_name,
                split_guessed: taken.split_guessed,
            },
        });
    }
    let confirming = matches!(state.pending, Some(PendingQuestion::ConfirmNewPrice | PendingQuestion::RetryBooking));
    match extraction.affirmation {
        Some(true) if confirming => {
            if let Some(price) = draft.new_price.take() {
                draft.price = Some(price);
            }
            return Some(NextStep::CreateBooking);
        }
        Some(false) if confirming => return Some(leave(state)),
        _ => {}
    }
    // Another of the offers shown ("book option 3"): the pick starts over.
    if extraction.offer_choice.is_some() && !state.shown_offers.is_empty() {
        leave(state);
        return None;
    }
    Some(match extraction.intent {
        Some(Intent::CancelBooking) => leave(state),
        Some(Intent::SearchFlights) => {
            state.booking = None;
            state.pending = None;
            state.selected_offer = None;
            state.stage = Stage::Collecting;
            return None;
        }
        Some(Intent::Goodbye) => NextStep::Farewell,
        Some(Intent::Help | Intent::Greeting) => {
            NextStep::AskDetail { problem: None, noted_name: None, split_guessed: false }
        }
        _ => {
            NextStep::AskDetail { problem: Some(DetailProblem::NotUnderstood), noted_name: None, split_guessed: false }
        }
    })
}

/// What one message's details did to the draft.
#[derive(Debug, Default)]
struct Taken {
    problem: Option<DetailProblem>,
    noted_name: Option<usize>,
    split_guessed: bool,
}

/// The traveller a question is about.
fn asked_traveller(pending: Option<&PendingQuestion>) -> Option<usize> {
    match pending {
        Some(
            PendingQuestion::TravellerName { traveller }
            | PendingQuestion::TravellerSurname { traveller }
            | PendingQuestion::BirthDate { traveller },
        ) => Some(*traveller),
        _ => None,
    }
}

fn take(
    draft: &mut BookingDraft,
    details: &DetailsMention,
    pending: Option<&PendingQuestion>,
    today: NaiveDate,
) -> Taken {
    let mut taken = Taken::default();
    let mut refuse = |problem: DetailProblem| {
        if taken.problem.is_none() {
            taken.problem = Some(problem);
        }
    };
    let asked = asked_traveller(pending).filter(|t| *t < draft.travellers.len());
    let mut loose: Vec<BirthDateMention> = details.birth_dates.clone();
    let mut noted = None;
    for name in &details.names {
        let travellers = &draft.travellers;
        let target = if name.first.is_none() {
            match pending {
                Some(PendingQuestion::TravellerSurname { traveller }) => Some(*traveller),
                _ => travellers.iter().position(|t| t.first_name.is_some() && t.last_name.is_none()),
            }
        } else if name.explicit && asked.is_some_and(|t| travellers[t].first_name.is_some()) {
            asked
        } else {
            travellers.iter().position(|t| t.first_name.is_none())
        };
        let Some(t) = target.filter(|t| *t < travellers.len()) else {
            loose.extend(name.birth_date);
            continue;
        };
        let first = name.first.as_deref().map(|f| person_name("firstName", f)).transpose();
        let last = name.last.as_deref().map(|l| person_name("lastName", l)).transpose();
        match (first, last) {
            (Ok(first), Ok(last)) => {
                let traveller = &mut draft.travellers[t];
                if let Some(first) = first {
                    traveller.first_name = Some(first);
                }
                if let Some(last) = last {
                    traveller.last_name = Some(last);
                }
                if traveller.first_name.is_some() && traveller.last_name.is_some() {
                    noted = Some((t, name.guessed));
                }
            }
            _ => refuse(DetailProblem::InvalidName),
        }
        // The date written after a name is that traveller's.
        if let Some(mention) = name.birth_date
            && let Err(problem) = birth_date(draft, t, mention, today)
        {
            refuse(problem);
        }
    }
    for mention in loose {
        let target = match pending {
            Some(PendingQuestion::BirthDate { traveller })
                if draft.travellers.get(*traveller).is_some_and(|t| t.date_of_birth.is_none()) =>
            {
                Some(*traveller)
            }
            _ => draft.travellers.iter().position(|t| t.date_of_birth.is_none()),
        };
        if let Some(t) = target
            && let Err(problem) = birth_date(draft, t, mention, today)
        {
            refuse(problem);
        }
    }
    if let Some(email) = &details.email {
        if is_email(email.trim()) {
            draft.email = Some(email.trim().to_owned());
        } else {
            refuse(DetailProblem::InvalidEmail);
        }
    }
    if let Some(phone) = &details.phone {
        if is_phone(phone) {
            draft.phone = Some(phone.clone());
        } else {
            refuse(DetailProblem::InvalidPhone);
        }
    }
    if let Some((t, guessed)) = noted {
        taken.noted_name = Some(t);
        taken.split_guessed = guessed;
    }
    taken
}

/// Takes `mention` as traveller `t`'s date of birth when the booking rules
/// and the places left in the offer allow it.
fn birth_date(
    draft: &mut BookingDraft,
    t: usize,
    mention: BirthDateMention,
    today: NaiveDate,
) -> Result<(), DetailProblem> {
    let born = match mention {
        BirthDateMention::NoYear => return Err(DetailProblem::BirthDateWithoutYear),
        BirthDateMention::Impossible => return Err(DetailProblem::ImpossibleDate),
        BirthDateMention::Day(born) => born,
    };
    check_date_of_birth(born, today).map_err(|error| match error {
        BirthDateError::InFuture => DetailProblem::BirthDateInFuture,
        BirthDateError::TooLongAgo => DetailProblem::BirthDateTooLongAgo,
    })?;
    let travel_days = if draft.travel_dates.is_empty() { vec![today] } else { draft.travel_dates.clone() };
    let kinds: Vec<Option<PassengerType>> = travel_days.iter().map(|day| passenger_type_on(born, *day)).collect();
    // One type for the whole trip (someone turning 12 on the way back fits neither).
    let kind = kinds.first().copied().flatten().filter(|k| kinds.iter().all(|other| *other == Some(*k)));
    let open = |kind: PassengerType| {
        let places = draft.passengers.iter().filter(|p| **p == kind).count();
        let taken = draft.travellers.iter().enumerate().filter(|(i, d)| *i != t && d.kind == Some(kind)).count();
        places > taken
    };
    let on = travel_days[0];
    let kind = kind.filter(|k| open(*k)).ok_or(DetailProblem::AgeDoesNotFit {
        traveller: t,
        age: years_between(born, on),
        on,
    })?;
    let traveller = draft.travellers.get_mut(t).ok_or(DetailProblem::NotUnderstood)?;
    traveller.date_of_birth = Some(born);
    traveller.kind = Some(kind);
    Ok(())
}

/// The booking input the draft makes, once [`next_question`] is `None`.
pub fn booking_input(draft: &BookingDraft) -> Option<CreateBookingInput> {
    let travelers = draft
        .travellers
        .iter()
        .map(|t| {
            Some(TravelerInput {
                first_name: t.first_name.clone()?,
                last_name: t.last_name.clone()?,
                date_of_birth: Date(t.date_of_birth?),
                kind: Some(t.kind?),
                document: None,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CreateBookingInput {
        offer_id: async_graphql::ID(draft.offer_id.clone()),
        travelers,
        contact: ContactInput { email: draft.email.clone()?, phone: draft.phone.clone() },
    })
}

/// The booking was made: the draft keeps its id and forgets the personal details.
pub fn booked(state: &mut DialogueState, booking_id: &str) {
    if let Some(draft) = state.booking.as_mut() {
        draft.booking_id = Some(booking_id.to_owned());
        draft.travellers.clear();
        draft.email = None;
        draft.phone = None;
        draft.new_price = None;
    }
    state.pending = None;
    state.stage = Stage::Payment;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::dialogue::advance;
    use crate::chat::extract::{ExtractContext, extract};
    use crate::chat::model::Language;
    use crate::flights::model::Money;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    /// A conversation with five offers shown and option 2 being booked for `passengers`.
    fn booking(language: Language, locale: &str, passengers: Vec<PassengerType>) -> (DialogueState, String) {
        let mut state = DialogueState {
            stage: Stage::Results,
            language: Some(language),
            shown_offers: (1..=5).map(|n| format!("offer-{n}")).collect(),
            ..DialogueState::default()
        };
        let draft = BookingDraft {
            offer_id: "offer-2".into(),
            index: 1,
            passengers,
            travel_dates: vec![date(2027, 1, 15)],
            price: Some(Money::new(rust_decimal::Decimal::from(245), "EUR")),
            ..BookingDraft::default()
        };
        start(&mut state, draft);
        (state, locale.to_owned())
    }

    fn say(state: &mut DialogueState, locale: &str, text: &str) -> NextStep {
        let extraction = extract(text, &ExtractContext::for_state(state, Some(locale), today()));
        advance(state, &extraction, today())
    }

    fn travellers(state: &DialogueState) -> Vec<TravellerDraft> {
        state.booking.as_ref().map(|d| d.travellers.clone()).unwrap_or_default()
    }

    fn ana() -> TravellerDraft {
        TravellerDraft {
            first_name: Some("Ana".into()),
            last_name: Some("García Pérez".into()),
            date_of_birth: Some(date(1990, 5, 14)),
            kind: Some(PassengerType::Adult),
        }
    }

    #[test]
    fn one_question_at_a_time_in_every_language() {
        for (language, locale, name, (first, last), born, address) in [
            (
                Language::En,
                "en-GB",
                "Mary Ann Smith",
                ("Mary Ann", "Smith"),
                "14/05/1990",
                "my email is ana@example.com",
            ),
            (
                Language::Es,
                "es-ES",
                "me llamo Ana García Pérez",
                ("Ana", "García Pérez"),
                "14 de mayo de 1990",
                "ana@example.com",
            ),
            (
                Language::Fr,
                "fr-FR",
                "Anne-Sophie Dupont",
                ("Anne-Sophie", "Dupont"),
                "née le 14 mai 1990",
                "mon email est ana@example.com",
            ),
            (Language::De, "de-DE", "Hans van der Berg", ("Hans", "van der Berg"), "14.05.1990", "ana@example.com"),
            (Language::It, "it-IT", "mi chiamo Giulia Rossi", ("Giulia", "Rossi"), "14/05/1990", "ana@example.com"),
            (
                Language::Pt,
                "pt-PT",
                "Maria Silva Santos",
                ("Maria", "Silva Santos"),
                "14/05/1990",
                "o meu email é ana@example.com",
            ),
        ] {
            let (mut state, locale) = booking(language, locale, vec![PassengerType::Adult]);
            assert_eq!(state.pending, Some(PendingQuestion::TravellerName { traveller: 0 }));
            let step = say(&mut state, &locale, name);
            assert!(
                matches!(step, NextStep::AskDetail { problem: None, noted_name: Some(0), .. }),
                "{language:?}: {step:?}"
            );
            assert_eq!(state.pending, Some(PendingQuestion::BirthDate { traveller: 0 }), "{language:?}");
            let step = say(&mut state, &locale, born);
            assert!(matches!(step, NextStep::AskDetail { problem: None, .. }), "{language:?} {born}: {step:?}");
            assert_eq!(state.pending, Some(PendingQuestion::ContactEmail), "{language:?}");
            assert_eq!(say(&mut state, &locale, address), NextStep::CreateBooking, "{language:?}");
            let expected = TravellerDraft { first_name: Some(first.into()), last_name: Some(last.into()), ..ana() };
            assert_eq!(travellers(&state), [expected], "{language:?}");
            assert_eq!(state.booking.as_ref().and_then(|d| d.email.as_deref()), Some("ana@example.com"));
            assert_eq!(state.stage, Stage::TravellerDetails);
            let input = state.booking.as_ref().and_then(booking_input).expect("complete");
            assert_eq!((input.travelers.len(), input.contact.email.as_str()), (1, "ana@example.com"));
            assert_eq!(state.language, Some(language), "the names did not change the language");
        }
    }

    #[test]
    fn several_details_in_one_message() {
        let (mut state, locale) = booking(Language::Es, "es-ES", vec![PassengerType::Adult]);
        assert_eq!(say(&mut state, &locale, "Ana García Pérez, 14/05/1990, ana@example.com"), NextStep::CreateBooking);
        assert_eq!(travellers(&state), [ana()]);
    }

    #[test]
    fn invalid_answers_get_a_reason_and_the_same_question() {
        let (mut state, locale) = booking(Language::Es, "es-ES", vec![PassengerType::Adult]);
        let problem = |step: NextStep| match step {
            NextStep::AskDetail { problem, .. } => problem,
            other => panic!("a question expected: {other:?}"),
        };
        assert_eq!(problem(say(&mut state, &locale, "R2D2 Pérez")), Some(DetailProblem::InvalidName));
        assert_eq!(state.pending, Some(PendingQuestion::TravellerName { traveller: 0 }));
        assert_eq!(problem(say(&mut state, &locale, "Ana")), None);
        assert_eq!(state.pending, Some(PendingQuestion::TravellerSurname { traveller: 0 }));
        assert_eq!(problem(say(&mut state, &locale, "García Pérez")), None);
        for (answer, expected) in [
            ("31/02/1990", DetailProblem::ImpossibleDate),
            ("14 de mayo", DetailProblem::BirthDateWithoutYear),
            ("14/05/2030", DetailProblem::BirthDateInFuture),
            ("14/05/1890", DetailProblem::BirthDateTooLongAgo),
            ("14/05/2020", DetailProblem::AgeDoesNotFit { traveller: 0, age: 6, on: date(2027, 1, 15) }),
            ("ni idea", DetailProblem::NotUnderstood),
        ] {
            assert_eq!(problem(say(&mut state, &locale, answer)), Some(expected), "{answer}");
            assert_eq!(state.pending, Some(PendingQuestion::BirthDate { traveller: 0 }), "{answer}");
        }
        assert_eq!(problem(say(&mut state, &locale, "14/05/1990")), None);
        assert_eq!(problem(say(&mut state, &locale, "ana@example")), Some(DetailProblem::InvalidEmail));
        assert_eq!(state.pending, Some(PendingQuestion::ContactEmail));
        assert_eq!(say(&mut state, &locale, "ana@example.com"), NextStep::CreateBooking);
        assert_eq!(travellers(&state), [ana()]);
    }

    #[test]
    fn ages_take_the_places_left_in_any_order() {
        let family = vec![PassengerType::Child, PassengerType::Adult, PassengerType::Infant];
        let (mut state, locale) = booking(Language::En, "en-GB", family);
        assert_eq!(state.booking.as_ref().map(|d| d.passengers.clone()).unwrap_or_default().len(), 3);
        // The child first, then the baby, then the adult: each takes the place their age fits.
        say(&mut state, &locale, "Leo Smith, 02/03/2018");
        say(&mut state, &locale, "Mia Smith 10/10/2025");
        let step = say(&mut state, &locale, "Tom Smith 01/01/1961, 01/01/1985");
        let kinds: Vec<Option<PassengerType>> = travellers(&state).iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [Some(PassengerType::Child), Some(PassengerType::Infant), Some(PassengerType::Adult)]);
        // A second date of birth had no traveller left to go to; nothing else changed.
        assert!(matches!(step, NextStep::AskDetail { problem: None, .. }), "{step:?}");
        assert_eq!(state.pending, Some(PendingQuestion::ContactEmail));

        let (mut state, locale) = booking(Language::En, "en-GB", vec![PassengerType::Adult, PassengerType::Child]);
        say(&mut state, &locale, "Tom Smith 01/01/1985");
        let step = say(&mut state, &locale, "Ann Smith 01/01/1988");
        assert!(
            matches!(
                step,
                NextStep::AskDetail { problem: Some(DetailProblem::AgeDoesNotFit { traveller: 1, age: 39, .. }), .. }
            ),
            "the only adult place is taken: {step:?}"
        );
    }

    #[test]
    fn a_date_of_birth_belongs_to_the_name_before_it() {
        let two = vec![PassengerType::Adult, PassengerType::Adult];
        let (mut state, locale) = booking(Language::Es, "es-ES", two);
        say(&mut state, &locale, "Ana García");
        assert_eq!(state.pending, Some(PendingQuestion::BirthDate { traveller: 0 }));
        // Asked Ana's, the traveller gives the second traveller's details instead.
        say(&mut state, &locale, "Juan Pérez, 02/03/1988");
        let dates: Vec<Option<NaiveDate>> = travellers(&state).iter().map(|t| t.date_of_birth).collect();
        assert_eq!(dates, [None, Some(date(1988, 3, 2))]);
        assert_eq!(state.pending, Some(PendingQuestion::BirthDate { traveller: 0 }));
    }

    #[test]
    fn a_slash_corrects_the_name_split() {
        let (mut state, locale) = booking(Language::Es, "es-ES", vec![PassengerType::Adult]);
        let step = say(&mut state, &locale, "José María García");
        assert!(matches!(step, NextStep::AskDetail { noted_name: Some(0), split_guessed: true, .. }), "{step:?}");
        assert_eq!(travellers(&state)[0].first_name.as_deref(), Some("José"));
        say(&mut state, &locale, "José María / García");
        let t = &travellers(&state)[0];
        assert_eq!((t.first_name.as_deref(), t.last_name.as_deref()), (Some("José María"), Some("García")));
    }

    #[test]
    fn cancel_search_again_or_change_the_search() {
        let (mut state, locale) = booking(Language::Es, "es-ES", vec![PassengerType::Adult]);
        say(&mut state, &locale, "Ana García");
        assert_eq!(say(&mut state, &locale, "cancelar"), NextStep::LeaveBooking);
        assert_eq!((state.stage, state.booking.is_none(), state.pending.is_none()), (Stage::Results, true, true));

        let (mut state, locale) = booking(Language::Fr, "fr-FR", vec![PassengerType::Adult]);
        state.slots = TripSlots {
            origin: Some("LON".into()),
            destination: Some("MAD".into()),
            departure: Some(crate::chat::model::DateMention::Day(date(2027, 1, 15))),
            adults: 1,
            ..TripSlots::default()
        };
        assert_eq!(say(&mut state, &locale, "chercher un autre vol"), NextStep::Search);
        assert_eq!((state.stage, state.booking.is_none()), (Stage::Collecting, true));

        let (mut state, locale) = booking(Language::En, "en-GB", vec![PassengerType::Adult]);
        say(&mut state, &locale, "Ana Garcia");
        assert_eq!(say(&mut state, &locale, "book option 4 instead"), NextStep::Book { index: 3 });
        assert_eq!((state.stage, state.booking.is_none()), (Stage::Selected, true), "the caller starts option 4");

        let (mut state, locale) = booking(Language::De, "de-DE", vec![PassengerType::Adult]);
        state.slots = TripSlots {
            origin: Some("LON".into()),
            destination: Some("MAD".into()),
            adults: 1,
            ..TripSlots::default()
        };
        state.slots.departure = Some(crate::chat::model::DateMention::Day(date(2027, 1, 15)));
        assert_eq!(say(&mut state, &locale, "lieber nach Rom"), NextStep::Search);
        assert_eq!(state.slots.destination.as_deref(), Some("ROM"));
        assert!(state.booking.is_none() && state.stage == Stage::Collecting);
    }

    #[test]
    fn names_that_look_like_dates_or_places_are_names_when_a_name_is_asked() {
        for name in ["Domingo Pérez", "Mai Nguyen", "Jack London", "Paris Hilton"] {
            let (mut state, locale) = booking(Language::En, "en-GB", vec![PassengerType::Adult]);
            let step = say(&mut state, &locale, name);
            assert!(matches!(step, NextStep::AskDetail { problem: None, noted_name: Some(0), .. }), "{name}: {step:?}");
        }
    }

    #[test]
    fn a_new_price_is_asked_about_before_booking_at_it() {
        let (mut state, locale) = booking(Language::It, "it-IT", vec![PassengerType::Adult]);
        say(&mut state, &locale, "Giulia Rossi, 14/05/1990, giulia@example.com");
        let new = Money::new(rust_decimal::Decimal::from(260), "EUR");
        if let Some(draft) = state.booking.as_mut() {
            draft.new_price = Some(new.clone());
        }
        state.pending = Some(PendingQuestion::ConfirmNewPrice);
        assert_eq!(say(&mut state, &locale, "sì"), NextStep::CreateBooking);
        assert_eq!(state.booking.as_ref().and_then(|d| d.price.clone()), Some(new));
        state.pending = Some(PendingQuestion::ConfirmNewPrice);
        assert_eq!(say(&mut state, &locale, "no"), NextStep::LeaveBooking);
    }

    #[test]
    fn sessions_saved_before_booking_by_chat_still_load() {
        let (state, _) = booking(Language::Es, "es-ES", vec![PassengerType::Adult]);
        let mut old = serde_json::to_value(DialogueState { booking: None, pending: None, ..state }).expect("json");
        if let Some(map) = old.as_object_mut() {
            map.remove("booking");
        }
        let loaded: DialogueState = serde_json::from_value(old).expect("an old session loads");
        assert_eq!((loaded.booking, loaded.stage), (None, Stage::TravellerDetails));
        let (state, _) = booking(Language::Es, "es-ES", vec![PassengerType::Adult, PassengerType::Child]);
        let round: DialogueState =
            serde_json::from_str(&serde_json::to_string(&state).expect("json")).expect("a new one round-trips");
        assert_eq!(round, state);
    }

    #[test]
    fn booked_drafts_forget_the_personal_details() {
        let (mut state, locale) = booking(Language::Pt, "pt-PT", vec![PassengerType::Adult]);
        say(&mut state, &locale, "João Silva, 14/05/1990, joao@example.com");
        booked(&mut state, "bk_1");
        let draft = state.booking.as_ref().expect("draft");
        assert_eq!(
            (draft.booking_id.as_deref(), draft.travellers.len(), draft.email.as_deref()),
            (Some("bk_1"), 0, None)
        );
        assert_eq!(state.stage, Stage::Payment);
    }
}
