//! The built-in extractor: one message in, an [`Extraction`] out — intent,
//! places and their roles, dates, travellers, class, direct flights, budget,
//! preferences and offer picks, in English, Spanish, French, German, Italian
//! and Portuguese. Pure and cheap: no I/O, indexes built once, and no input
//! can make it panic.
//!
//! The finders run in an order that settles overlaps: greetings and
//! farewells first ("good morning" is not a time of day), then preferences
//! ("primera clase" is not an offer pick), offer positions ("the 2nd one" is
//! not a date), dates, budget ("under 300" is not a headcount), travellers,
//! and places last, over the words nobody claimed.

mod choice;
mod dates;
mod details;
mod numbers;
mod phrases;
mod places;
mod prefs;
mod text;

use std::sync::LazyLock;

use chrono::NaiveDate;

use self::dates::{DateContext, NumericOrder};
use self::phrases::{Phrases, mark};
use self::text::{Kind, Token};
use super::language;
use super::model::{
    DateMention, DialogueState, Extraction, Intent, Language, OfferChoice, PassengerMention, PendingQuestion, Slot,
    Stage,
};
use crate::flights::model::OfferSort;

/// What the extractor knows besides the text.
#[derive(Debug, Clone, Copy)]
pub struct ExtractContext<'a> {
    /// The session's language, used when the text is neutral ("Paris").
    pub language: Option<Language>,
    /// The session's locale tag (`en-US`, `pt-BR`): numeric date order and
    /// the currency of a budget written without one. Month/day for `en-US`,
    /// `en-PH` and bare `en`; day/month for every other tag. Without a tag,
    /// the detected language decides (English: month/day).
    pub locale: Option<&'a str>,
    /// Today in the session's time zone.
    pub today: NaiveDate,
    /// The question the agent is waiting on, so a bare answer fills it.
    pub pending: Option<&'a PendingQuestion>,
    /// Offers are on screen: "the cheapest" and a bare "2" pick one.
    pub offers_shown: bool,
    /// The departure already chosen, for a bare return day ("back on the 5th").
    pub current_departure: Option<NaiveDate>,
}

impl<'a> ExtractContext<'a> {
    /// A context with only `today` known.
    pub fn new(today: NaiveDate) -> Self {
        Self { language: None, locale: None, today, pending: None, offers_shown: false, current_departure: None }
    }

    /// The context a conversation in `state` gives, for a session with `locale`.
    pub fn for_state(state: &'a DialogueState, locale: Option<&'a str>, today: NaiveDate) -> Self {
        let departure = match state.slots.departure {
            Some(DateMention::Day(day)) => Some(day),
            Some(DateMention::Range { from, .. }) => Some(from),
            _ => None,
        };
        Self {
            language: state.language.or_else(|| locale.and_then(Language::from_tag)),
            locale,
            today,
            pending: state.pending.as_ref(),
            offers_shown: matches!(state.stage, Stage::Results | Stage::Selected) && !state.shown_offers.is_empty(),
            current_departure: departure,
        }
    }

    fn region(&self) -> Option<String> {
        self.locale?.split(['-', '_']).nth(1).map(str::to_ascii_uppercase)
    }

    fn numeric_order(&self, language: Language) -> NumericOrder {
        let tag_language = self.locale.and_then(Language::from_tag);
        let month_first = match (tag_language, self.region()) {
            (Some(Language::En), None) => true,
            (Some(Language::En), Some(region)) => matches!(region.as_str(), "US" | "PH"),
            (Some(_), _) => false,
            (None, _) => language == Language::En,
        };
        if month_first { NumericOrder::MonthDay } else { NumericOrder::DayMonth }
    }

    fn default_currency(&self, language: Language) -> &'static str {
        match self.region().as_deref() {
            Some("US") => "USD",
            Some("GB") => "GBP",
            Some("BR") => "BRL",
            Some("MX") => "MXN",
            Some("CA") => "CAD",
            Some("AU") => "AUD",
            Some("CH") => "CHF",
            Some("AR") => "ARS",
            Some("CL") => "CLP",
            Some("CO") => "COP",
            _ => match self.locale.and_then(Language::from_tag).unwrap_or(language) {
                Language::En => "USD",
                _ => "EUR",
            },
        }
    }
}

/// Whether a session with `locale` writes numeric dates month first (`en-US`), as the extractor reads them.
pub fn month_first(locale: Option<&str>, language: Language) -> bool {
    let context = ExtractContext { locale, ..ExtractContext::new(NaiveDate::MIN) };
    context.numeric_order(language) == NumericOrder::MonthDay
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Social {
    Greeting,
    Goodbye,
    Help,
}

static SOCIAL: LazyLock<Phrases<Social>> = LazyLock::new(|| {
    use Social::*;
    Phrases::new(&[
        ("hi", Greeting),
        ("hello", Greeting),
        ("hey", Greeting),
        ("hiya", Greeting),
        ("howdy", Greeting),
        ("good morning", Greeting),
        ("good afternoon", Greeting),
        ("good evening", Greeting),
        ("hola", Greeting),
        ("buenas", Greeting),
        ("buenos dias", Greeting),
        ("buen dia", Greeting),
        ("buenas tardes", Greeting),
        ("buenas noches", Greeting),
        ("bonjour", Greeting),
        ("salut", Greeting),
        ("coucou", Greeting),
        ("bonsoir", Greeting),
        ("hallo", Greeting),
        ("guten tag", Greeting),
        ("guten morgen", Greeting),
        ("guten abend", Greeting),
        ("moin", Greeting),
        ("servus", Greeting),
        ("gruss gott", Greeting),
        ("gruezi", Greeting),
        ("ciao", Greeting),
        ("salve", Greeting),
        ("buongiorno", Greeting),
        ("buonasera", Greeting),
        ("ola", Greeting),
        ("oi", Greeting),
        ("bom dia", Greeting),
        ("boa tarde", Greeting),
        ("boa noite", Greeting),
        ("bye", Goodbye),
        ("goodbye", Goodbye),
        ("bye bye", Goodbye),
        ("see you", Goodbye),
        ("see ya", Goodbye),
        ("thanks", Goodbye),
        ("thank you", Goodbye),
        ("thanks a lot", Goodbye),
        ("thx", Goodbye),
        ("ty", Goodbye),
        ("cheers", Goodbye),
        ("that s all", Goodbye),
        ("thats all", Goodbye),
        ("nothing else", Goodbye),
        ("adios", Goodbye),
        ("hasta luego", Goodbye),
        ("hasta pronto", Goodbye),
        ("chao", Goodbye),
        ("chau", Goodbye),
        ("gracias", Goodbye),
        ("muchas gracias", Goodbye),
        ("nada mas", Goodbye),
        ("au revoir", Goodbye),
        ("a bientot", Goodbye),
        ("a plus", Goodbye),
        ("merci", Goodbye),
        ("merci beaucoup", Goodbye),
        ("bonne journee", Goodbye),
        ("bonne soiree", Goodbye),
        ("c est tout", Goodbye),
        ("tschuss", Goodbye),
        ("tschuess", Goodbye),
        ("auf wiedersehen", Goodbye),
        ("danke", Goodbye),
        ("danke schon", Goodbye),
        ("dankeschon", Goodbye),
        ("vielen dank", Goodbye),
        ("bis bald", Goodbye),
        ("das wars", Goodbye),
        ("arrivederci", Goodbye),
        ("grazie", Goodbye),
        ("grazie mille", Goodbye),
        ("a presto", Goodbye),
        ("ciao ciao", Goodbye),
        ("tchau", Goodbye),
        ("obrigado", Goodbye),
        ("obrigada", Goodbye),
        ("muito obrigado", Goodbye),
        ("ate logo", Goodbye),
        ("ate mais", Goodbye),
        ("valeu", Goodbye),
        ("so isso", Goodbye),
        ("help", Help),
        ("help me", Help),
        ("what can you do", Help),
        ("what do you do", Help),
        ("how does this work", Help),
        ("how does it work", Help),
        ("ayuda", Help),
        ("ayudame", Help),
        ("que puedes hacer", Help),
        ("que sabes hacer", Help),
        ("como funciona", Help),
        ("aide", Help),
        ("aidez moi", Help),
        ("que peux tu faire", Help),
        ("que pouvez vous faire", Help),
        ("que sais tu faire", Help),
        ("comment ca marche", Help),
        ("hilfe", Help),
        ("was kannst du", Help),
        ("was kannst du tun", Help),
        ("wie funktioniert das", Help),
        ("aiuto", Help),
        ("cosa puoi fare", Help),
        ("che cosa sai fare", Help),
        ("cosa sai fare", Help),
        ("come funziona", Help),
        ("ajuda", Help),
        ("o que voce pode fazer", Help),
        ("o que voce faz", Help),
        ("o que vc faz", Help),
    ])
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Affairs {
    Cancel,
    Pay,
    Status,
}

static AFFAIRS: LazyLock<Phrases<Affairs>> = LazyLock::new(|| {
    use Affairs::*;
    Phrases::new(&[
        ("cancel", Cancel),
        ("cancelar", Cancel),
        ("cancela", Cancel),
        ("cancele", Cancel),
        ("anular", Cancel),
        ("annuler", Cancel),
        ("annule", Cancel),
        ("annulez", Cancel),
        ("stornieren", Cancel),
        ("abbrechen", Cancel),
        ("storniere", Cancel),
        ("stornierung", Cancel),
        ("annullare", Cancel),
        ("annulla", Cancel),
        ("cancellare", Cancel),
        ("cancella", Cancel),
        ("pay", Pay),
        ("payment", Pay),
        ("checkout", Pay),
        ("pagar", Pay),
        ("pago", Pay),
        ("payer", Pay),
        ("paiement", Pay),
        ("bezahlen", Pay),
        ("zahlen", Pay),
        ("zahlung", Pay),
        ("pagare", Pay),
        ("pagamento", Pay),
        ("booking status", Status),
        ("status", Status),
        ("estado", Status),
        ("statut", Status),
        ("buchungsstatus", Status),
        ("stato", Status),
        ("confirmed", Status),
        ("confirmada", Status),
        ("confirmee", Status),
        ("bestatigt", Status),
        ("confermata", Status),
        ("my booking", Status),
        ("my reservation", Status),
        ("mi reserva", Status),
        ("ma reservation", Status),
        ("meine buchung", Status),
        ("la mia prenotazione", Status),
        ("minha reserva", Status),
    ])
});

/// Words that say "flights" without anything else ("I need a flight").
const FLIGHT_WORDS: &[&str] = &[
    "flight",
    "flights",
    "fly",
    "flying",
    "vuelo",
    "vuelos",
    "volar",
    "vol",
    "vols",
    "voler",
    "flug",
    "fluge",
    "fliegen",
    "volo",
    "voli",
    "volare",
    "voo",
    "voos",
    "voar",
    "ticket",
    "tickets",
    "billete",
    "billetes",
    "billet",
    "billets",
    "biglietto",
    "biglietti",
    "passagem",
    "passagens",
    "pasaje",
    "pasajes",
    "trip",
    "viaje",
    "voyage",
    "reise",
    "viaggio",
    "viagem",
    "travel",
    "viajar",
    "voyager",
    "reisen",
    "viaggiare",
];

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "correct",
    "right",
    "exactly",
    "si",
    "claro",
    "vale",
    "correcto",
    "exacto",
    "oui",
    "ouais",
    "exactement",
    "ja",
    "genau",
    "richtig",
    "klar",
    "jawohl",
    "certo",
    "esatto",
    "sim",
    "isso",
    "exato",
    "perfecto",
    "perfect",
    "parfait",
    "perfekt",
    "perfetto",
    "perfeito",
    "yes please",
];
const NO: &[&str] = &["no", "nope", "nah", "non", "nein", "nao", "negativo", "niente"];

/// Words for durations and quantities: "under 2 hours" is not a budget.
const UNIT_WORDS: &[&str] = &[
    "hours", "hour", "hrs", "hr", "h", "horas", "hora", "heures", "heure", "stunden", "stunde", "ore", "ora", "nights",
    "night", "noches", "nuits", "nachte", "notti", "noites", "minutes", "min", "mins", "kg", "km", "days", "dias",
    "jours", "tage", "giorni", "stops", "escalas",
];

fn is_unit_word(word: &str) -> bool {
    UNIT_WORDS.contains(&word)
}

/// Whether a number followed by `word` is a quantity rather than a day ("3 adults", "2 hours").
fn is_quantity_word(word: &str) -> bool {
    is_unit_word(word) || numbers::is_traveller_noun(word)
}

/// Every folded word the intent tables use (for the place matcher's stop list).
fn intent_vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = SOCIAL.words().chain(AFFAIRS.words()).collect();
    words.extend(FLIGHT_WORDS);
    words.extend(YES);
    words.extend(NO);
    words.extend(UNIT_WORDS);
    words
}

const BOOKING_NOUNS: &[&str] =
    &["booking", "reservation", "reserva", "reservacion", "buchung", "prenotazione", "bookings", "reservas"];

/// Builds the extractor's indexes (a few hundred milliseconds in debug
/// builds), so that the first message does not pay for it; call at start-up.
pub fn warm_up() {
    places::warm_up();
}

/// What one message says. Never panics, whatever the input.
pub fn extract(text: &str, context: &ExtractContext<'_>) -> Extraction {
    match context.pending {
        Some(pending) if pending.asks_details() => details_answer(text, pending, context),
        _ => understand(text, context),
    }
}

/// Words that, in a message that could be a name, say it is about the trip
/// instead ("mejor el viernes", "next friday", "otro día"): articles and
/// prepositions names do not have on their own, "instead" words, and words
/// of days.
const STEERING: &[&str] = &[
    "the",
    "to",
    "from",
    "on",
    "at",
    "in",
    "for",
    "el",
    "los",
    "las",
    "al",
    "en",
    "para",
    "desde",
    "hasta",
    "por",
    "con",
    "nach",
    "von",
    "ab",
    "um",
    "im",
    "mit",
    "fur",
    "au",
    "aux",
    "pour",
    "vers",
    "depuis",
    "avec",
    "per",
    "em",
    "no",
    "na",
    "ao",
    "com",
    "better",
    "instead",
    "actually",
    "rather",
    "mejor",
    "plutot",
    "lieber",
    "meglio",
    "melhor",
    "otro",
    "otra",
    "another",
    "other",
    "autre",
    "anderen",
    "andere",
    "anderer",
    "altro",
    "altra",
    "outro",
    "outra",
    "next",
    "proximo",
    "proxima",
    "prochain",
    "prochaine",
    "nachsten",
    "nachste",
    "prossimo",
    "prossima",
    "this",
    "este",
    "esta",
    "ce",
    "cette",
    "diese",
    "dieser",
    "questo",
    "questa",
    "esse",
    "essa",
    "today",
    "tomorrow",
    "tonight",
    "hoy",
    "manana",
    "demain",
    "aujourd",
    "heute",
    "ubermorgen",
    "domani",
    "oggi",
    "dopodomani",
    "amanha",
    "hoje",
    "day",
    "dia",
    "jour",
    "tag",
    "giorno",
    "week",
    "semana",
    "semaine",
    "woche",
    "settimana",
    "weekend",
    "finde",
    "month",
    "mes",
    "mois",
    "monat",
    "mese",
];

/// Verbs of searching: with one, a message is not a name.
const SEARCH_VERBS: &[&str] = &[
    "search", "find", "buscar", "busca", "busque", "chercher", "cherche", "suchen", "suche", "cercare", "cerca",
    "procurar", "procura",
];

/// A message while traveller details are asked for: the details it gives,
/// or — when it gives none, or could be a name but steers elsewhere
/// ("cancelar", "buscar otro vuelo", "a Roma el 20") — what the rest of
/// the engine understands. Names count when a name was asked, or beside a
/// date of birth, an e-mail or a phone. The language comes from the words
/// around the details, so a Spanish name does not switch a French
/// conversation to Spanish.
fn details_answer(text: &str, pending: &PendingQuestion, context: &ExtractContext<'_>) -> Extraction {
    let conversation = context.language.unwrap_or_default();
    let read =
        details::read(&text::clean(text), pending, conversation, context.numeric_order(conversation), context.today);
    let rest = understand(&read.rest, context);
    let details = read.details;
    let firm = details.has_birth_date()
        || details.email.is_some()
        || details.phone.is_some()
        || details.names.iter().any(|n| n.explicit);
    let named = pending.asks_name() && !details.names.is_empty() && !steers_away(&rest, &read.rest, read.name_shaped);
    if !firm && !named {
        return rest;
    }
    Extraction {
        language: language::detect(&read.around, context.language),
        intent: Some(Intent::Book),
        details: Some(details),
        ..Extraction::default()
    }
}

/// Whether `understood` (of `text`, which could be a name when
/// `name_shaped`) is about something other than a name.
fn steers_away(understood: &Extraction, text: &str, name_shaped: bool) -> bool {
    let words: Vec<String> = text::tokenize(text).into_iter().filter(Token::is_word).map(|t| t.norm).collect();
    let control = matches!(
        understood.intent,
        Some(Intent::CancelBooking | Intent::Pay | Intent::BookingStatus | Intent::Help | Intent::Book)
    ) || understood.offer_choice.is_some()
        || understood.affirmation.is_some();
    let roled = understood.origin.is_some() || understood.destination.is_some();
    let flights = words.iter().any(|w| FLIGHT_WORDS.contains(&w.as_str()) || SEARCH_VERBS.contains(&w.as_str()));
    let trip = understood.departure.is_some()
        || understood.return_date.is_some()
        || understood.passengers != PassengerMention::default()
        || understood.cabin.is_some()
        || understood.non_stop.is_some()
        || understood.max_price.is_some()
        || understood.time_of_day.is_some()
        || understood.trip.is_some()
        || understood.sort.is_some();
    let steering = words.iter().any(|w| STEERING.contains(&w.as_str()));
    control || roled || flights || (trip && (!name_shaped || steering)) || (steering && !name_shaped)
}

/// The built-in engine over a message, whatever was asked.
fn understand(text: &str, context: &ExtractContext<'_>) -> Extraction {
    let cleaned = text::clean(text);
    let tokens = text::tokenize(&cleaned);
    // "Rio de Janeiro" keeps its "janeiro" (January) until the places are read,
    // and "Buenos Aires" does not make a message Spanish.
    let protected = places::protected_spans(&tokens);
    let mut for_language = cleaned.clone();
    for (start, end) in &protected {
        for token in &tokens[*start..*end] {
            for_language = for_language.replacen(token.raw.as_str(), " ", 1);
        }
    }
    let language = language::detect(&for_language, context.language);
    let mut used = vec![false; tokens.len()];
    let mut extraction = Extraction { language, ..Extraction::default() };
    for (start, end) in &protected {
        mark(&mut used, *start, *end);
    }

    let mut social = Vec::new();
    while let Some((value, start, end)) = SOCIAL.find(&tokens, &used) {
        mark(&mut used, start, end);
        social.push(value);
    }
    let mut affairs = Vec::new();
    while let Some((value, start, end)) = AFFAIRS.find(&tokens, &used) {
        mark(&mut used, start, end);
        affairs.push(value);
    }

    let preferences = prefs::find(&tokens, &mut used);
    extraction.cabin = preferences.cabin;
    extraction.non_stop = preferences.non_stop;
    extraction.time_of_day = preferences.time_of_day;
    let pending_slot = match context.pending {
        Some(PendingQuestion::Slot(slot)) => Some(*slot),
        _ => None,
    };
    let which_place =
        matches!(context.pending, Some(PendingQuestion::WhichPlace { .. } | PendingQuestion::DidYouMean { .. }));
    let bare_numbers = context.offers_shown && context.pending.is_none();
    let mut choice = if which_place { None } else { choice::find(&tokens, &mut used, bare_numbers) };

    let asked_date = match pending_slot {
        Some(Slot::DepartureDate) => Some(false),
        Some(Slot::ReturnDate) => Some(true),
        _ => None,
    };
    let date_context = DateContext {
        today: context.today,
        order: context.numeric_order(language),
        current_departure: context.current_departure,
        asked: asked_date,
    };
    let mut found = dates::find(&tokens, &mut used, &date_context);
    // Asked when they come back, "a week later" counts from the departure.
    if asked_date == Some(true)
        && found.return_date.is_none()
        && let Some(DateMention::Shift(days)) = found.departure
        && days > 0
    {
        found.return_date = found.departure.take();
    }
    extraction.departure = found.departure;
    extraction.return_date = found.return_date;
    extraction.trip = found.trip;
    if choice.is_none() && !which_place {
        choice = choice::current(&tokens, &mut used);
    }

    extraction.max_price = numbers::budget(&tokens, &mut used, context.default_currency(language));
    extraction.passengers = numbers::passengers(&tokens, &mut used, pending_slot == Some(Slot::Passengers));

    for (start, end) in &protected {
        for u in used.iter_mut().take(*end).skip(*start) {
            *u = false;
        }
    }
    let found_places = places::find(&tokens, &mut used, context.pending);
    extraction.origin = found_places.origin;
    extraction.destination = found_places.destination;
    extraction.place = found_places.place;

    let words: Vec<&Token> = tokens.iter().filter(|t| t.kind == Kind::Word).collect();
    if words.len() <= 4
        && let Some(first) = words.first()
    {
        if YES.contains(&first.norm.as_str()) {
            extraction.affirmation = Some(true);
        } else if NO.contains(&first.norm.as_str()) {
            extraction.affirmation = Some(false);
        }
    }

    let book_verb = choice::has_book_verb(&tokens);
    let other_search = extraction.origin.is_some()
        || extraction.destination.is_some()
        || extraction.place.is_some()
        || extraction.departure.is_some()
        || extraction.return_date.is_some()
        || extraction.passengers != PassengerMention::default()
        || extraction.cabin.is_some()
        || extraction.non_stop.is_some()
        || extraction.max_price.is_some()
        || extraction.time_of_day.is_some()
        || extraction.trip.is_some();
    extraction.sort = preferences.sort;
    // With offers on screen, "the cheapest" picks one; with a new search in the same breath it sorts.
    if context.offers_shown && choice.is_none() && !other_search {
        choice = match extraction.sort {
            Some(OfferSort::Price) => Some(OfferChoice::Cheapest),
            Some(OfferSort::Duration) => Some(OfferChoice::Fastest),
            _ => None,
        };
        if choice.is_some() {
            extraction.sort = None;
        }
    }
    if context.offers_shown && choice.is_none() && book_verb && !other_search {
        choice = Some(OfferChoice::Current);
    }
    extraction.offer_choice = choice;

    let search =
        other_search || extraction.sort.is_some() || words.iter().any(|w| FLIGHT_WORDS.contains(&w.norm.as_str()));
    let booking_noun = words.iter().any(|w| BOOKING_NOUNS.contains(&w.norm.as_str()));
    let intent = if affairs.contains(&Affairs::Cancel) {
        Intent::CancelBooking
    } else if affairs.contains(&Affairs::Pay) {
        Intent::Pay
    } else if extraction.offer_choice.is_some() {
        if book_verb { Intent::Book } else { Intent::SelectOffer }
    } else if affairs.contains(&Affairs::Status) && !search || (booking_noun && !search && !book_verb) {
        Intent::BookingStatus
    } else if search || (context.pending.is_some_and(PendingQuestion::asks_slot) && extraction.affirmation.is_some()) {
        Intent::SearchFlights
    } else if book_verb {
        Intent::Book
    } else if social.contains(&Social::Help) {
        Intent::Help
    } else if social.contains(&Social::Goodbye) {
        Intent::Goodbye
    } else if social.contains(&Social::Greeting) {
        Intent::Greeting
    } else {
        Intent::Unknown
    };
    extraction.intent = Some(intent);
    extraction
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::model::{PlaceMention, TripKind};
    use crate::flights::model::{Cabin, Money, TimeOfDay};
    use rust_decimal::Decimal;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn run(text: &str) -> Extraction {
        extract(text, &ExtractContext::new(today()))
    }

    fn code(c: &str) -> Option<PlaceMention> {
        Some(PlaceMention::Resolved { code: c.to_owned() })
    }

    fn day(m: u32, d: u32) -> Option<DateMention> {
        Some(DateMention::Day(NaiveDate::from_ymd_opt(2026, m, d).expect("date")))
    }

    #[test]
    fn a_full_request() {
        let e = run("hola, quiero ir de Madrid a Londres mañana, 2 adultos, sin escalas, menos de 300 euros");
        assert_eq!(e.language, Language::Es);
        assert_eq!(e.intent, Some(Intent::SearchFlights));
        assert_eq!((e.origin, e.destination), (code("MAD"), code("LON")));
        assert_eq!(e.departure, day(12, 4));
        assert_eq!(e.passengers.adults, Some(2));
        assert_eq!(e.non_stop, Some(true));
        assert_eq!(e.max_price, Some(Money::new(Decimal::from(300), "EUR")));
    }

    #[test]
    fn intents() {
        for (text, intent) in [
            ("hola", Intent::Greeting),
            ("Guten Morgen", Intent::Greeting),
            ("merci", Intent::Goodbye),
            ("grazie, ciao", Intent::Goodbye),
            ("help", Intent::Help),
            ("cancel my booking", Intent::CancelBooking),
            ("what's the status of my booking?", Intent::BookingStatus),
            ("I want to pay", Intent::Pay),
            ("book a flight to Rome", Intent::SearchFlights),
            ("I need a flight", Intent::SearchFlights),
            ("🙂🙂🙂", Intent::Unknown),
            ("asdfgh qwerty", Intent::Unknown),
        ] {
            assert_eq!(run(text).intent, Some(intent), "{text}");
        }
        let e = run("🙂🙂🙂");
        assert_eq!(e, Extraction { intent: Some(Intent::Unknown), ..Extraction::default() });
        let e = run("Guten Morgen");
        assert_eq!(e.time_of_day, None);
        assert_eq!(e.departure, None);
    }

    #[test]
    fn locale_decides_numeric_order_and_currency() {
        let us = ExtractContext { locale: Some("en-US"), ..ExtractContext::new(today()) };
        let gb = ExtractContext { locale: Some("en-GB"), ..ExtractContext::new(today()) };
        let bare = ExtractContext { locale: Some("en"), ..ExtractContext::new(today()) };
        assert_eq!(extract("12/10", &us).departure, day(12, 10));
        assert_eq!(extract("12/10", &bare).departure, day(12, 10));
        assert_eq!(extract("10/12", &gb).departure, day(12, 10));
        assert_eq!(extract("under 300", &gb).max_price, Some(Money::new(Decimal::from(300), "GBP")));
        let br = ExtractContext { locale: Some("pt-BR"), ..ExtractContext::new(today()) };
        assert_eq!(extract("até 300", &br).max_price, Some(Money::new(Decimal::from(300), "BRL")));
    }

    #[test]
    fn pending_questions_take_bare_answers() {
        let asked = PendingQuestion::Slot(Slot::Destination);
        let ctx = ExtractContext { pending: Some(&asked), ..ExtractContext::new(today()) };
        assert_eq!(extract("London", &ctx).place, code("LON"));
        assert_eq!(extract("nice", &ctx).place, code("NCE"));
        assert!(matches!(extract("Lndonnn", &ctx).place, Some(PlaceMention::Unknown { .. })));
        let asked = PendingQuestion::Slot(Slot::DepartureDate);
        let ctx = ExtractContext { pending: Some(&asked), ..ExtractContext::new(today()) };
        assert_eq!(
            extract("3", &ctx).departure,
            Some(DateMention::Day(NaiveDate::from_ymd_opt(2026, 12, 3).expect("d")))
        );
        assert_eq!(extract("tomorrow", &ctx).departure, day(12, 4));
        let asked = PendingQuestion::Slot(Slot::ReturnDate);
        let ctx = ExtractContext {
            pending: Some(&asked),
            current_departure: NaiveDate::from_ymd_opt(2026, 12, 20),
            ..ExtractContext::new(today())
        };
        assert_eq!(extract("the 27th", &ctx).return_date, day(12, 27));
        let asked = PendingQuestion::Slot(Slot::Passengers);
        let ctx = ExtractContext { pending: Some(&asked), ..ExtractContext::new(today()) };
        assert_eq!(extract("2", &ctx).passengers.children, Some(2));
        let asked = PendingQuestion::WhichPlace {
            role: crate::chat::model::PlaceRole::Destination,
            candidates: vec!["SCL".into(), "SCQ".into()],
        };
        let ctx = ExtractContext { pending: Some(&asked), ..ExtractContext::new(today()) };
        for answer in ["the one in Chile", "SCL", "1", "Chile", "the first one"] {
            assert_eq!(extract(answer, &ctx).place, code("SCL"), "{answer}");
        }
        assert_eq!(extract("Compostela", &ctx).place, code("SCQ"));
    }

    #[test]
    fn offers_on_screen() {
        let ctx = ExtractContext { offers_shown: true, ..ExtractContext::new(today()) };
        let e = extract("the cheapest", &ctx);
        assert_eq!((e.offer_choice, e.intent, e.sort), (Some(OfferChoice::Cheapest), Some(Intent::SelectOffer), None));
        let e = extract("book option 2", &ctx);
        assert_eq!((e.offer_choice, e.intent), (Some(OfferChoice::Position(2)), Some(Intent::Book)));
        let e = extract("2", &ctx);
        assert_eq!(e.offer_choice, Some(OfferChoice::Position(2)));
        let e = extract("cheapest flights to Rome next week", &ctx);
        assert_eq!((e.offer_choice, e.sort), (None, Some(OfferSort::Price)));
        assert_eq!(run("the cheapest").sort, Some(OfferSort::Price));
    }

    #[test]
    fn mixed_requests() {
        let e = run("round trip LHR to JFK dec 20 back dec 27 business class for 2 evening flights");
        assert_eq!((e.origin, e.destination), (code("LHR"), code("JFK")));
        assert_eq!((e.departure, e.return_date, e.trip), (day(12, 20), day(12, 27), Some(TripKind::RoundTrip)));
        assert_eq!(
            (e.cabin, e.passengers.adults, e.time_of_day),
            (Some(Cabin::Business), Some(2), Some(TimeOfDay::Evening))
        );
        let e = run("LON CDG 2026-12-20");
        assert_eq!((e.origin, e.destination, e.departure), (code("LON"), code("CDG"), day(12, 20)));
    }

    #[test]
    fn never_panics() {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let alphabet: Vec<char> = "aáàâãäåæçéèêëíìîïñóòôõöøœßúùûüýÿ AZ09-/.,:;!?¿¡'\"€$£→🙂👍🏽\u{0}\u{7}\u{202e}\u{feff}中文한국어مرحبا\n\t#%&()[]{}<>|\\^~`@*_+=".chars().collect();
        for round in 0..2000 {
            let len = (round % 60) + 1;
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = run(&text);
        }
        for text in [
            "",
            " ",
            "\u{0}",
            &"🙂".repeat(5000),
            &"a".repeat(100_000),
            &"to ".repeat(5000),
            &"12/12 ".repeat(3000),
            "99999999999999999999 adults",
            "31/02/2026",
            "9999-99-99",
            "the 0th",
            "option 0",
            "$99999999999999",
        ] {
            let _ = run(text);
        }
    }
}
