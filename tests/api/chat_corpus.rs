//! The chat evaluation corpus: conversations in six languages, written the
//! way travellers write (typos, lower case, missing accents), run through
//! the extractor and the dialogue turn by turn against a fixed "today"
//! (2026-12-03, a Thursday). Each turn lists the slots to check; the test
//! prints per-language and per-slot accuracy and holds the bar: 95 % of the
//! checked slots overall, 90 % in every language.
//!
//! Booking turns are part of it: where the dialogue says to book an offer,
//! the runner starts the booking as the service would, for the case's
//! `passengers` (one adult unless the case says) on the trip's day, and the
//! traveller-detail turns are checked like any other (`pending`, `stage`,
//! `traveller1`… as "first|last|date of birth", `email`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use wayfarer::chat::dialogue::advance;
use wayfarer::chat::extract::{ExtractContext, extract};
use wayfarer::chat::model::{
    BookingDraft, DateMention, DetailProblem, DialogueState, Extraction, NextStep, PendingQuestion, Stage,
};
use wayfarer::chat::travellers;
use wayfarer::flights::model::{Money, PassengerType};

#[derive(Debug, Deserialize)]
struct CorpusFile {
    language: String,
    /// The session locale of every case that does not name its own (`""`: none).
    locale: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    locale: Option<String>,
    /// Who the offers the case books are for (default: one adult).
    #[serde(default)]
    passengers: Vec<PassengerType>,
    turns: Vec<Turn>,
}

#[derive(Debug, Deserialize)]
struct Turn {
    text: String,
    #[serde(default)]
    expect: BTreeMap<String, Value>,
}

#[derive(Debug, Default)]
struct Tally {
    right: usize,
    checked: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.checked += 1;
        self.right += usize::from(ok);
    }

    fn percent(&self) -> f64 {
        if self.checked == 0 { 100.0 } else { 100.0 * self.right as f64 / self.checked as f64 }
    }
}

fn date(d: NaiveDate) -> Value {
    Value::String(d.to_string())
}

fn date_mention(mention: Option<DateMention>) -> Value {
    match mention {
        Some(DateMention::Day(d)) => date(d),
        Some(DateMention::Range { from, to }) => Value::Array(vec![date(from), date(to)]),
        Some(DateMention::Shift(n)) => Value::String(format!("shift {n}")),
        None => Value::Null,
    }
}

fn enum_name<T: serde::Serialize>(value: Option<T>) -> Value {
    value.map(|v| serde_json::to_value(v).unwrap_or(Value::Null)).unwrap_or(Value::Null)
}

fn step_name(step: &NextStep) -> String {
    match step {
        NextStep::Ask(slot) => format!("ASK:{}", enum_name(Some(slot)).as_str().unwrap_or("?")),
        NextStep::WhichPlace { .. } => "WHICH_PLACE".into(),
        NextStep::DidYouMean { .. } => "DID_YOU_MEAN".into(),
        NextStep::SamePlace => "SAME_PLACE".into(),
        NextStep::Search => "SEARCH".into(),
        NextStep::CheapestDates => "CHEAPEST_DATES".into(),
        NextStep::Select { index } => format!("SELECT:{}", index + 1),
        NextStep::NoSuchOption { .. } => "NO_SUCH_OPTION".into(),
        NextStep::NothingToSelect => "NOTHING_TO_SELECT".into(),
        NextStep::Greet => "GREET".into(),
        NextStep::Farewell => "FAREWELL".into(),
        NextStep::Help => "HELP".into(),
        NextStep::NotUnderstood => "NOT_UNDERSTOOD".into(),
        NextStep::Handoff { intent } => format!("HANDOFF:{}", enum_name(Some(intent)).as_str().unwrap_or("?")),
        NextStep::Book { index } => format!("BOOK:{}", index + 1),
        NextStep::AskDetail { problem: None, .. } => "ASK_DETAIL".into(),
        NextStep::AskDetail { problem: Some(problem), .. } => format!("ASK_DETAIL:{}", problem_name(problem)),
        NextStep::CreateBooking => "CREATE_BOOKING".into(),
        NextStep::LeaveBooking => "LEAVE_BOOKING".into(),
    }
}

fn problem_name(problem: &DetailProblem) -> &'static str {
    match problem {
        DetailProblem::NotUnderstood => "NOT_UNDERSTOOD",
        DetailProblem::InvalidName => "INVALID_NAME",
        DetailProblem::BirthDateWithoutYear => "BIRTH_DATE_WITHOUT_YEAR",
        DetailProblem::ImpossibleDate => "IMPOSSIBLE_DATE",
        DetailProblem::BirthDateInFuture => "BIRTH_DATE_IN_FUTURE",
        DetailProblem::BirthDateTooLongAgo => "BIRTH_DATE_TOO_LONG_AGO",
        DetailProblem::AgeDoesNotFit { .. } => "AGE_DOES_NOT_FIT",
        DetailProblem::InvalidEmail => "INVALID_EMAIL",
        DetailProblem::InvalidPhone => "INVALID_PHONE",
    }
}

fn pending_name(pending: Option<&PendingQuestion>) -> Value {
    let name = match pending {
        None => return Value::Null,
        Some(PendingQuestion::Slot(slot)) => enum_name(Some(slot)).as_str().unwrap_or("?").to_owned(),
        Some(PendingQuestion::WhichPlace { .. }) => "WHICH_PLACE".into(),
        Some(PendingQuestion::DidYouMean { .. }) => "DID_YOU_MEAN".into(),
        Some(PendingQuestion::TravellerName { traveller }) => format!("TRAVELLER_NAME:{}", traveller + 1),
        Some(PendingQuestion::TravellerSurname { traveller }) => format!("TRAVELLER_SURNAME:{}", traveller + 1),
        Some(PendingQuestion::BirthDate { traveller }) => format!("BIRTH_DATE:{}", traveller + 1),
        Some(PendingQuestion::ContactEmail) => "CONTACT_EMAIL".into(),
        Some(PendingQuestion::ConfirmNewPrice) => "CONFIRM_NEW_PRICE".into(),
        Some(PendingQuestion::RetryBooking) => "RETRY_BOOKING".into(),
    };
    Value::String(name)
}

/// Traveller `n` (1-based) of the booking being made: "first|last|date of birth".
fn traveller(state: &DialogueState, n: usize) -> Value {
    let Some(t) = state.booking.as_ref().and_then(|d| d.travellers.get(n.wrapping_sub(1))) else {
        return Value::Null;
    };
    Value::String(format!(
        "{}|{}|{}",
        t.first_name.as_deref().unwrap_or(""),
        t.last_name.as_deref().unwrap_or(""),
        t.date_of_birth.map(|d| d.to_string()).unwrap_or_default()
    ))
}

/// What the pipeline produced for `slot` after a turn.
fn actual(slot: &str, state: &DialogueState, extraction: &Extraction, step: &NextStep) -> Value {
    let slots = &state.slots;
    match slot {
        "intent" => enum_name(extraction.intent),
        "language" => Value::String(extraction.language.code().to_owned()),
        "origin" => slots.origin.clone().map(Value::String).unwrap_or(Value::Null),
        "destination" => slots.destination.clone().map(Value::String).unwrap_or(Value::Null),
        "departure" => date_mention(slots.departure),
        "returnDate" => slots.return_date.map(date).unwrap_or(Value::Null),
        "trip" => enum_name(slots.trip.map(|t| format!("{t:?}"))),
        "adults" => Value::from(slots.adults),
        "children" => Value::from(slots.children),
        "infants" => Value::from(slots.infants),
        "childrenUncounted" => Value::from(slots.children_uncounted),
        "cabin" => enum_name(slots.cabin),
        "nonStop" => slots.non_stop.map(Value::from).unwrap_or(Value::Null),
        "maxPrice" => slots
            .max_price
            .as_ref()
            .map(|m| Value::String(format!("{} {}", m.amount.normalize(), m.currency)))
            .unwrap_or(Value::Null),
        "sort" => enum_name(slots.sort),
        "timeOfDay" => enum_name(slots.time_of_day),
        "step" => Value::String(step_name(step)),
        "suggestions" => match step {
            NextStep::DidYouMean { suggestions, .. } => Value::from(suggestions.clone()),
            _ => Value::Null,
        },
        "candidates" => match step {
            NextStep::WhichPlace { candidates, .. } => Value::from(candidates.clone()),
            _ => Value::Null,
        },
        "selected" => state.selected_offer.clone().map(Value::String).unwrap_or(Value::Null),
        "stage" => enum_name(Some(state.stage)),
        "pending" => pending_name(state.pending.as_ref()),
        "email" => state.booking.as_ref().and_then(|d| d.email.clone()).map(Value::String).unwrap_or(Value::Null),
        other if other.starts_with("traveller") => traveller(state, other["traveller".len()..].parse().unwrap_or(0)),
        other => panic!("unknown slot {other} in the corpus"),
    }
}

/// Lists match when the expected codes come first, in order.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Array(e), Value::Array(a)) if e.iter().all(|v| v.is_string()) && e.len() <= a.len() => {
            e.iter().zip(a).all(|(x, y)| x == y)
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// Starts booking `shown_offers[index]` as the service does, for an offer for `passengers` on the trip's day.
fn start_booking(state: &mut DialogueState, index: usize, passengers: &[PassengerType]) {
    let day = match state.slots.departure {
        Some(DateMention::Day(day)) => day,
        Some(DateMention::Range { from, .. }) => from,
        _ => NaiveDate::from_ymd_opt(2027, 1, 15).expect("date"),
    };
    let passengers = if passengers.is_empty() { vec![PassengerType::Adult] } else { passengers.to_vec() };
    let draft = BookingDraft {
        offer_id: state.shown_offers.get(index).cloned().unwrap_or_default(),
        index,
        passengers,
        travel_dates: vec![day],
        price: Some(Money::new(rust_decimal::Decimal::from(245), "EUR")),
        ..BookingDraft::default()
    };
    travellers::start(state, draft);
}

#[test]
fn the_corpus_is_understood() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat_corpus");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("corpus dir").filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut by_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_slot: BTreeMap<String, Tally> = BTreeMap::new();
    let mut utterances: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total = Tally::default();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let text = std::fs::read_to_string(path).expect("read corpus file");
        let file: CorpusFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in &file.cases {
            let locale = case.locale.clone().unwrap_or_else(|| file.locale.clone());
            let locale = (!locale.is_empty()).then_some(locale);
            let mut state = DialogueState::default();
            for turn in &case.turns {
                *utterances.entry(file.language.clone()).or_default() += 1;
                let context = ExtractContext::for_state(&state, locale.as_deref(), today);
                let extraction = extract(&turn.text, &context);
                let step = advance(&mut state, &extraction, today);
                if let NextStep::Book { index } = step {
                    start_booking(&mut state, index, &case.passengers);
                }
                let mut expect = turn.expect.clone();
                expect.entry("language".into()).or_insert_with(|| Value::String(file.language.clone()));
                for (slot, expected) in &expect {
                    let got = actual(slot, &state, &extraction, &step);
                    let ok = matches(expected, &got);
                    by_language.entry(file.language.clone()).or_default().add(ok);
                    by_slot.entry(slot.clone()).or_default().add(ok);
                    total.add(ok);
                    if !ok {
                        failures.push(format!(
                            "[{}] {} | {:?} | {slot}: expected {expected}, got {got}",
                            file.language, case.name, turn.text
                        ));
                    }
                }
                // The caller runs the search and shows offers.
                if matches!(step, NextStep::Search | NextStep::CheapestDates) {
                    state.stage = Stage::Results;
                    state.shown_offers = (1..=5).map(|n| format!("offer-{n}")).collect();
                }
            }
        }
    }
    println!("\nchat corpus (today = {today})\n");
    println!("{:<10} {:>10} {:>8} {:>8} {:>8}", "language", "utterances", "slots", "right", "accuracy");
    for (language, tally) in &by_language {
        println!(
            "{language:<10} {:>10} {:>8} {:>8} {:>7.1}%",
            utterances.get(language).copied().unwrap_or(0),
            tally.checked,
            tally.right,
            tally.percent()
        );
    }
    let all_utterances: usize = utterances.values().sum();
    println!("{:<10} {all_utterances:>10} {:>8} {:>8} {:>7.1}%\n", "all", total.checked, total.right, total.percent());
    println!("{:<18} {:>8} {:>8} {:>8}", "slot", "checked", "right", "accuracy");
    for (slot, tally) in &by_slot {
        println!("{slot:<18} {:>8} {:>8} {:>7.1}%", tally.checked, tally.right, tally.percent());
    }
    if !failures.is_empty() {
        println!("\n{} slots wrong:", failures.len());
        for failure in &failures {
            println!("  {failure}");
        }
    }
    assert!(all_utterances >= 300, "at least 300 utterances, found {all_utterances}");
    for language in ["de", "en", "es", "fr", "it", "pt"] {
        let count = utterances.get(language).copied().unwrap_or(0);
        assert!(count >= 40, "at least 40 utterances in {language}, found {count}");
        let accuracy = by_language.get(language).map(Tally::percent).unwrap_or(0.0);
        assert!(accuracy >= 90.0, "{language}: {accuracy:.1}% of slots right, below 90%");
    }
    assert!(total.percent() >= 95.0, "{:.1}% of slots right overall, below 95%", total.percent());
}
