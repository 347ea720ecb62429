//! Dates in six languages, resolved against the caller's `today` and never
//! in the past: ISO and numeric dates (month/day or day/month by locale),
//! written dates ("Dec 20th", "20 de diciembre", "20. Dezember", "le 1er
//! juin"), relative ones ("tomorrow", "übermorgen", "in 3 days", "next
//! Friday", "the 15th"), ranges to pick the cheapest day from ("next week",
//! "en marzo"), departure–return pairs ("del 20 al 27", "back on the 27th")
//! and shifts of the current date ("the day after?").
//!
//! A day and month without a year that already passed this year is next
//! year's; a bare day of the month that passed is next month's; a bare
//! weekday or "this Friday" is the soonest one after today, "next Friday" is
//! the Friday of next week (Monday to Sunday).

use std::ops::RangeInclusive;
use std::sync::LazyLock;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

use super::phrases::{Phrases, mark};
use super::text::{Kind, Token, tokenize};
use crate::chat::model::{BirthDateMention, DateMention, TripKind};

/// Folded month names and abbreviations; `true` marks forms that are also
/// ordinary words ("may", "mar", "set", "out") and count only next to a day.
const MONTHS: &[(&str, u32, bool)] = &[
    ("january", 1, false),
    ("jan", 1, true),
    ("enero", 1, false),
    ("ene", 1, true),
    ("janvier", 1, false),
    ("janv", 1, true),
    ("januar", 1, false),
    ("gennaio", 1, false),
    ("gen", 1, true),
    ("janeiro", 1, false),
    ("february", 2, false),
    ("feb", 2, true),
    ("febrero", 2, false),
    ("fevrier", 2, false),
    ("fev", 2, true),
    ("fevr", 2, true),
    ("februar", 2, false),
    ("febbraio", 2, false),
    ("fevereiro", 2, false),
    ("march", 3, false),
    ("mar", 3, true),
    ("marzo", 3, false),
    ("mars", 3, false),
    ("marz", 3, false),
    ("maerz", 3, false),
    ("marco", 3, false),
    ("april", 4, false),
    ("apr", 4, true),
    ("abril", 4, false),
    ("abr", 4, true),
    ("avril", 4, false),
    ("avr", 4, true),
    ("aprile", 4, false),
    ("may", 5, true),
    ("mayo", 5, false),
    ("mai", 5, false),
    ("maggio", 5, false),
    ("mag", 5, true),
    ("maio", 5, false),
    ("june", 6, false),
    ("jun", 6, true),
    ("junio", 6, false),
    ("juin", 6, false),
    ("juni", 6, false),
    ("giugno", 6, false),
    ("giu", 6, true),
    ("junho", 6, false),
    ("july", 7, false),
    ("jul", 7, true),
    ("julio", 7, false),
    ("juillet", 7, false),
    ("juil", 7, true),
    ("juli", 7, false),
    ("luglio", 7, false),
    ("lug", 7, true),
    ("julho", 7, false),
    ("august", 8, false),
    ("aug", 8, true),
    ("agosto", 8, false),
    ("ago", 8, true),
    ("aout", 8, false),
    ("september", 9, false),
    ("sep", 9, true),
    ("sept", 9, true),
    ("septiembre", 9, false),
    ("setiembre", 9, false),
    ("septembre", 9, false),
    ("settembre", 9, false),
    ("set", 9, true),
    ("setembro", 9, false),
    ("october", 10, false),
    ("oct", 10, true),
    ("octubre", 10, false),
    ("octobre", 10, false),
    ("oktober", 10, false),
    ("okt", 10, true),
    ("ottobre", 10, false),
    ("ott", 10, true),
    ("outubro", 10, false),
    ("out", 10, true),
    ("november", 11, false),
    ("nov", 11, true),
    ("noviembre", 11, false),
    ("novembre", 11, false),
    ("novembro", 11, false),
    ("december", 12, false),
    ("dec", 12, true),
    ("diciembre", 12, false),
    ("dic", 12, true),
    ("decembre", 12, false),
    ("dezember", 12, false),
    ("dez", 12, true),
    ("dicembre", 12, false),
    ("dezembro", 12, false),
];

/// Folded weekday names; `true` marks Portuguese forms that are also
/// ordinals ("a segunda" is the second one) and need "feira" or a preposition.
const WEEKDAYS: &[(&str, Weekday, bool)] = &[
    ("monday", Weekday::Mon, false),
    ("mon", Weekday::Mon, true),
    ("lunes", Weekday::Mon, false),
    ("lundi", Weekday::Mon, false),
    ("montag", Weekday::Mon, false),
    ("lunedi", Weekday::Mon, false),
    ("segunda", Weekday::Mon, true),
    ("tuesday", Weekday::Tue, false),
    ("tue", Weekday::Tue, true),
    ("tues", Weekday::Tue, false),
    ("martes", Weekday::Tue, false),
    ("mardi", Weekday::Tue, false),
    ("dienstag", Weekday::Tue, false),
    ("martedi", Weekday::Tue, false),
    ("terca", Weekday::Tue, false),
    ("wednesday", Weekday::Wed, false),
    ("wed", Weekday::Wed, true),
    ("miercoles", Weekday::Wed, false),
    ("mercredi", Weekday::Wed, false),
    ("mittwoch", Weekday::Wed, false),
    ("mercoledi", Weekday::Wed, false),
    ("quarta", Weekday::Wed, true),
    ("thursday", Weekday::Thu, false),
    ("thu", Weekday::Thu, true),
    ("thur", Weekday::Thu, false),
    ("thurs", Weekday::Thu, false),
    ("jueves", Weekday::Thu, false),
    ("jeudi", Weekday::Thu, false),
    ("donnerstag", Weekday::Thu, false),
    ("giovedi", Weekday::Thu, false),
    ("quinta", Weekday::Thu, true),
    ("friday", Weekday::Fri, false),
    ("fri", Weekday::Fri, true),
    ("viernes", Weekday::Fri, false),
    ("vendredi", Weekday::Fri, false),
    ("freitag", Weekday::Fri, false),
    ("venerdi", Weekday::Fri, false),
    ("sexta", Weekday::Fri, true),
    ("saturday", Weekday::Sat, false),
    ("sat", Weekday::Sat, true),
    ("sabado", Weekday::Sat, false),
    ("samedi", Weekday::Sat, false),
    ("samstag", Weekday::Sat, false),
    ("sonnabend", Weekday::Sat, false),
    ("sabato", Weekday::Sat, false),
    ("sunday", Weekday::Sun, false),
    ("sun", Weekday::Sun, true),
    ("domingo", Weekday::Sun, false),
    ("dimanche", Weekday::Sun, false),
    ("sonntag", Weekday::Sun, false),
    ("domenica", Weekday::Sun, false),
];

/// Words that make the weekday after (or before) them next week's.
const NEXT_BEFORE: &[&str] =
    &["next", "proximo", "proxima", "nachsten", "nachster", "naechsten", "prossimo", "prossima"];
const NEXT_AFTER: &[&[&str]] =
    &[&["prochain"], &["prochaine"], &["prossimo"], &["prossima"], &["que", "viene"], &["que", "vem"]];
/// Prepositions that make a Portuguese ordinal-like weekday a weekday ("na segunda").
const PT_WEEKDAY_LEAD: &[&str] = &["na", "nesta", "essa", "nessa", "proxima", "esta", "ate", "de", "segunda", "dia"];

/// Relative expressions, resolved against today.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Relative {
    Days(u64),
    NextWeek,
    ThisWeek,
    Weekend { next: bool },
    NextMonth,
    Shift(i64),
}

static RELATIVE: LazyLock<Phrases<Relative>> = LazyLock::new(|| {
    use Relative::*;
    Phrases::new(&[
        ("today", Days(0)),
        ("2day", Days(0)),
        ("tonight", Days(0)),
        ("hoy", Days(0)),
        ("esta noche", Days(0)),
        ("aujourd hui", Days(0)),
        ("aujourdhui", Days(0)),
        ("ce soir", Days(0)),
        ("heute", Days(0)),
        ("oggi", Days(0)),
        ("stasera", Days(0)),
        ("hoje", Days(0)),
        ("esta noite", Days(0)),
        ("tomorrow", Days(1)),
        ("tmrw", Days(1)),
        ("tmr", Days(1)),
        ("tmrow", Days(1)),
        ("tomorow", Days(1)),
        ("tommorow", Days(1)),
        ("tommorrow", Days(1)),
        ("tomorrw", Days(1)),
        ("2moro", Days(1)),
        ("2morrow", Days(1)),
        ("2morow", Days(1)),
        ("manana", Days(1)),
        ("demain", Days(1)),
        ("morgen", Days(1)),
        ("domani", Days(1)),
        ("amanha", Days(1)),
        ("day after tomorrow", Days(2)),
        ("the day after tomorrow", Days(2)),
        ("overmorrow", Days(2)),
        ("pasado manana", Days(2)),
        ("apres demain", Days(2)),
        ("apresdemain", Days(2)),
        ("ubermorgen", Days(2)),
        ("uebermorgen", Days(2)),
        ("dopodomani", Days(2)),
        ("depois de amanha", Days(2)),
        ("next week", NextWeek),
        ("la semana que viene", NextWeek),
        ("semana que viene", NextWeek),
        ("la proxima semana", NextWeek),
        ("proxima semana", NextWeek),
        ("la semana proxima", NextWeek),
        ("la semaine prochaine", NextWeek),
        ("semaine prochaine", NextWeek),
        ("nachste woche", NextWeek),
        ("nachsten woche", NextWeek),
        ("naechste woche", NextWeek),
        ("kommende woche", NextWeek),
        ("la prossima settimana", NextWeek),
        ("prossima settimana", NextWeek),
        ("settimana prossima", NextWeek),
        ("semana que vem", NextWeek),
        ("this week", ThisWeek),
        ("esta semana", ThisWeek),
        ("cette semaine", ThisWeek),
        ("diese woche", ThisWeek),
        ("questa settimana", ThisWeek),
        ("nesta semana", ThisWeek),
        ("this weekend", Weekend { next: false }),
        ("the weekend", Weekend { next: false }),
        ("next weekend", Weekend { next: true }),
        ("el fin de semana", Weekend { next: false }),
        ("este fin de semana", Weekend { next: false }),
        ("el finde", Weekend { next: false }),
        ("el proximo fin de semana", Weekend { next: true }),
        ("ce week end", Weekend { next: false }),
        ("ce weekend", Weekend { next: false }),
        ("le week end", Weekend { next: false }),
        ("le weekend", Weekend { next: false }),
        ("le week end prochain", Weekend { next: true }),
        ("am wochenende", Weekend { next: false }),
        ("dieses wochenende", Weekend { next: false }),
        ("nachstes wochenende", Weekend { next: true }),
        ("nachste wochenende", Weekend { next: true }),
        ("questo fine settimana", Weekend { next: false }),
        ("il fine settimana", Weekend { next: false }),
        ("nel fine settimana", Weekend { next: false }),
        ("questo weekend", Weekend { next: false }),
        ("il prossimo fine settimana", Weekend { next: true }),
        ("este fim de semana", Weekend { next: false }),
        ("no fim de semana", Weekend { next: false }),
        ("fim de semana", Weekend { next: false }),
        ("next month", NextMonth),
        ("el mes que viene", NextMonth),
        ("el proximo mes", NextMonth),
        ("le mois prochain", NextMonth),
        ("nachsten monat", NextMonth),
        ("nachster monat", NextMonth),
        ("il mese prossimo", NextMonth),
        ("il prossimo mese", NextMonth),
        ("o mes que vem", NextMonth),
        ("mes que vem", NextMonth),
        ("o proximo mes", NextMonth),
        ("the day after", Shift(1)),
        ("day after", Shift(1)),
        ("a day later", Shift(1)),
        ("one day later", Shift(1)),
        ("1 day later", Shift(1)),
        ("the next day", Shift(1)),
        ("the following day", Shift(1)),
        ("two days later", Shift(2)),
        ("2 days later", Shift(2)),
        ("a week later", Shift(7)),
        ("one week later", Shift(7)),
        ("1 week later", Shift(7)),
        ("una semana despues", Shift(7)),
        ("una semana mas tarde", Shift(7)),
        ("une semaine plus tard", Shift(7)),
        ("une semaine apres", Shift(7)),
        ("eine woche spater", Shift(7)),
        ("eine woche spaeter", Shift(7)),
        ("una settimana dopo", Shift(7)),
        ("uma semana depois", Shift(7)),
        ("uma semana mais tarde", Shift(7)),
        ("the day before", Shift(-1)),
        ("day before", Shift(-1)),
        ("a day earlier", Shift(-1)),
        ("one day earlier", Shift(-1)),
        ("a day before", Shift(-1)),
        ("el dia siguiente", Shift(1)),
        ("el dia despues", Shift(1)),
        ("el dia de despues", Shift(1)),
        ("un dia despues", Shift(1)),
        ("un dia mas tarde", Shift(1)),
        ("el dia antes", Shift(-1)),
        ("el dia anterior", Shift(-1)),
        ("un dia antes", Shift(-1)),
        ("le lendemain", Shift(1)),
        ("lendemain", Shift(1)),
        ("le jour suivant", Shift(1)),
        ("le jour d apres", Shift(1)),
        ("un jour plus tard", Shift(1)),
        ("un jour apres", Shift(1)),
        ("la veille", Shift(-1)),
        ("le jour d avant", Shift(-1)),
        ("le jour avant", Shift(-1)),
        ("un jour plus tot", Shift(-1)),
        ("un jour avant", Shift(-1)),
        ("am tag danach", Shift(1)),
        ("den tag danach", Shift(1)),
        ("tag danach", Shift(1)),
        ("einen tag spater", Shift(1)),
        ("einen tag spaeter", Shift(1)),
        ("am folgetag", Shift(1)),
        ("am tag davor", Shift(-1)),
        ("den tag davor", Shift(-1)),
        ("tag davor", Shift(-1)),
        ("einen tag fruher", Shift(-1)),
        ("einen tag frueher", Shift(-1)),
        ("einen tag vorher", Shift(-1)),
        ("il giorno dopo", Shift(1)),
        ("il giorno seguente", Shift(1)),
        ("il giorno successivo", Shift(1)),
        ("un giorno dopo", Shift(1)),
        ("il giorno prima", Shift(-1)),
        ("un giorno prima", Shift(-1)),
        ("o dia seguinte", Shift(1)),
        ("no dia seguinte", Shift(1)),
        ("o dia depois", Shift(1)),
        ("um dia depois", Shift(1)),
        ("o dia anterior", Shift(-1)),
        ("no dia anterior", Shift(-1)),
        ("um dia antes", Shift(-1)),
    ])
});

/// Words that put the date after them on the way back.
const RETURN_MARKERS: &[&str] = &[
    "return",
    "returning",
    "back",
    "coming",
    "inbound",
    "vuelta",
    "regreso",
    "regresando",
    "volver",
    "volviendo",
    "vuelvo",
    "retour",
    "rentrer",
    "revenir",
    "rentre",
    "zuruck",
    "zurueck",
    "ruckflug",
    "rueckflug",
    "ruckreise",
    "ritorno",
    "tornare",
    "torno",
    "rientro",
    "volta",
    "regresso",
    "voltar",
    "voltando",
    "volto",
];
/// Words that put the date after them on the way out.
const DEPARTURE_MARKERS: &[&str] = &[
    "leaving",
    "departing",
    "depart",
    "outbound",
    "salida",
    "saliendo",
    "salir",
    "ida",
    "aller",
    "depart",
    "partir",
    "hinflug",
    "abflug",
    "andata",
    "partenza",
    "partire",
    "partindo",
    "saindo",
];
/// Between two dates: the first is the departure, the second the return.
const RANGE_LINKS: &[&str] = &["to", "until", "till", "through", "al", "hasta", "au", "bis", "a", "ao", "ate", "and"];
/// Before two dates: a window to pick the departure from.
const WINDOW_LEADS: &[&str] = &["between", "entre", "zwischen", "tra", "fra"];

/// Round-trip and one-way wording.
static TRIP_WORDS: LazyLock<Phrases<TripKind>> = LazyLock::new(|| {
    use TripKind::*;
    Phrases::new(&[
        ("round trip", RoundTrip),
        ("roundtrip", RoundTrip),
        ("return trip", RoundTrip),
        ("return flight", RoundTrip),
        ("return flights", RoundTrip),
        ("return ticket", RoundTrip),
        ("and back", RoundTrip),
        ("there and back", RoundTrip),
        ("ida y vuelta", RoundTrip),
        ("ida e vuelta", RoundTrip),
        ("aller retour", RoundTrip),
        ("allerretour", RoundTrip),
        ("hin und zuruck", RoundTrip),
        ("hin und ruckflug", RoundTrip),
        ("hin und zurueck", RoundTrip),
        ("andata e ritorno", RoundTrip),
        ("a r", RoundTrip),
        ("ida e volta", RoundTrip),
        ("one way", OneWay),
        ("oneway", OneWay),
        ("one way only", OneWay),
        ("single", OneWay),
        ("solo ida", OneWay),
        ("sola ida", OneWay),
        ("ida solamente", OneWay),
        ("solo de ida", OneWay),
        ("aller simple", OneWay),
        ("nur hinflug", OneWay),
        ("einfacher flug", OneWay),
        ("einfache strecke", OneWay),
        ("nur hin", OneWay),
        ("solo andata", OneWay),
        ("sola andata", OneWay),
        ("so ida", OneWay),
        ("somente ida", OneWay),
        ("apenas ida", OneWay),
    ])
});

/// Every folded word the date tables use (for the place matcher's stop list).
pub(crate) fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = MONTHS.iter().map(|m| m.0).chain(WEEKDAYS.iter().map(|w| w.0)).collect();
    words.extend(RELATIVE.words());
    words.extend(TRIP_WORDS.words());
    words.extend(RETURN_MARKERS);
    words.extend(DEPARTURE_MARKERS);
    words
}

/// How the locale orders a numeric date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumericOrder {
    /// 12/20 (en-US and bare English).
    MonthDay,
    /// 20/12 (everyone else).
    DayMonth,
}

/// A date as written, before it is resolved against a base day.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Written {
    /// A day, maybe with month and year ("the 20th", "Dec 20", "20/12/2026").
    Day { day: u32, month: Option<u32>, year: Option<i32> },
    /// A weekday; `next` = next week's.
    Weekday { weekday: Weekday, next: bool },
    /// Days from today.
    Offset(u64),
    /// A whole month ("in March").
    Month { month: u32, year: Option<i32> },
    /// A relative span.
    Span(Relative),
    /// A shift of the current date.
    Shift(i64),
}

#[derive(Debug, Clone, Copy)]
struct Found {
    written: Written,
    start: usize,
    end: usize,
}

/// The dates a message names.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Dates {
    /// Outbound.
    pub(crate) departure: Option<DateMention>,
    /// Return.
    pub(crate) return_date: Option<DateMention>,
    /// Stated trip kind (explicit wording, or implied by a return date).
    pub(crate) trip: Option<TripKind>,
}

/// What the date finder needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DateContext {
    /// Today in the session's zone.
    pub(crate) today: NaiveDate,
    /// Numeric order.
    pub(crate) order: NumericOrder,
    /// The departure already chosen, to resolve a bare return day against.
    pub(crate) current_departure: Option<NaiveDate>,
    /// The traveller was asked for a date (`Some(true)`: the return): a
    /// bare number is a day of the month.
    pub(crate) asked: Option<bool>,
}

fn month_of(word: &str) -> Option<(u32, bool)> {
    MONTHS.iter().find(|m| m.0 == word).map(|m| (m.1, m.2))
}

fn weekday_of(word: &str) -> Option<(Weekday, bool)> {
    WEEKDAYS.iter().find(|w| w.0 == word).map(|w| (w.1, w.2))
}

const ORDINAL_SUFFIXES: &[&str] = &["st", "nd", "rd", "th", "er", "re", "e", "eme", "o", "a", "ro", "do", "to"];

/// A day of the month at `i`: a number 1–31 with no suffix or an ordinal
/// one; also the German ordinal dot. Returns (day, index after, is_ordinal).
fn day_at(tokens: &[Token], i: usize) -> Option<(u32, usize, bool)> {
    let token = tokens.get(i)?;
    let Kind::Number { value, suffix } = &token.kind else { return None };
    if !(1..=31).contains(value) || token.norm.len() > 2 {
        return None;
    }
    if suffix.is_empty() {
        if tokens.get(i + 1).is_some_and(|t| t.is_punct('.'))
            && !tokens.get(i + 2).is_some_and(|t| matches!(t.kind, Kind::Number { .. }))
        {
            return Some((*value, i + 2, true));
        }
        return Some((*value, i + 1, false));
    }
    ORDINAL_SUFFIXES.contains(&suffix.as_str()).then_some((*value, i + 1, true))
}

/// Years a trip can be in.
const TRAVEL_YEARS: RangeInclusive<u32> = 2000..=2100;
/// Years a traveller can be born in (the booking rules narrow it).
const BIRTH_YEARS: RangeInclusive<u32> = 1900..=2100;

/// A four-digit year of a trip at `i` (optionally after "," or "de"/"of").
fn year_at(tokens: &[Token], i: usize) -> Option<(i32, usize)> {
    year_within(tokens, i, &TRAVEL_YEARS)
}

/// A four-digit year in `years` at `i` (optionally after "," or "de"/"of").
fn year_within(tokens: &[Token], mut i: usize, years: &RangeInclusive<u32>) -> Option<(i32, usize)> {
    if tokens.get(i).is_some_and(|t| t.is_punct(',') || t.is("de") || t.is("of") || t.is("del")) {
        i += 1;
    }
    let value = tokens.get(i)?.number()?;
    (years.contains(&value) && tokens[i].norm.len() == 4).then_some((value as i32, i + 1))
}

fn is_free(used: &[bool], start: usize, end: usize) -> bool {
    used.get(start..end).is_some_and(|s| s.iter().all(|u| !u))
}

/// "20 December", "20th of December", "20 de diciembre", "20. Dezember".
fn day_month_at(tokens: &[Token], i: usize, years: &RangeInclusive<u32>) -> Option<(Written, usize)> {
    let (day, mut j, _) = day_at(tokens, i)?;
    if tokens.get(j).is_some_and(|t| t.is("of") || t.is("de") || t.is("di") || t.is("del")) {
        j += 1;
    }
    let (month, _) = month_of(&tokens.get(j)?.norm).filter(|_| tokens[j].is_word())?;
    let (year, end) = match year_within(tokens, j + 1, years) {
        Some((year, end)) => (Some(year), end),
        None => (None, j + 1),
    };
    Some((Written::Day { day, month: Some(month), year }, end))
}

/// "December 20", "Dec 20th", "December the 20th", "dec 20, 2026".
fn month_day_at(tokens: &[Token], i: usize, years: &RangeInclusive<u32>) -> Option<(Written, usize)> {
    let token = tokens.get(i)?;
    let (month, _) = month_of(&token.norm).filter(|_| token.is_word())?;
    let mut j = i + 1;
    if tokens.get(j).is_some_and(|t| t.is("the")) {
        j += 1;
    }
    let (day, end, _) = day_at(tokens, j)?;
    // "March 2026" is a month, not the 20th.
    if tokens[j].norm.len() > 2 {
        return None;
    }
    let (year, end) = match year_within(tokens, end, years) {
        Some((year, end)) => (Some(year), end),
        None => (None, end),
    };
    Some((Written::Day { day, month: Some(month), year }, end))
}

fn numeric(kind: &Kind, order: NumericOrder) -> Option<Written> {
    match *kind {
        Kind::IsoDate { year, month, day } => Some(Written::Day { day, month: Some(month), year: Some(year) }),
        Kind::NumericDate { first, second, year } => {
            let (day, month) = match order {
                // A value over 12 can only be the day, whatever the locale.
                _ if first > 12 && second <= 12 => (first, second),
                _ if second > 12 && first <= 12 => (second, first),
                NumericOrder::MonthDay => (second, first),
                NumericOrder::DayMonth => (first, second),
            };
            ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Written::Day {
                day,
                month: Some(month),
                year,
            })
        }
        _ => None,
    }
}

const IN_WORDS: &[&str] = &["in", "en", "dans", "tra", "fra", "em", "within"];
const DAY_UNITS: &[&str] = &["day", "days", "dias", "dia", "jours", "jour", "tag", "tagen", "tage", "giorni", "giorno"];
const WEEK_UNITS: &[&str] =
    &["week", "weeks", "semana", "semanas", "semaine", "semaines", "woche", "wochen", "settimana", "settimane"];

/// "in 3 days", "en dos semanas", "dans une semaine", "in 3 Tagen", "tra 2 giorni", "daqui a 3 dias".
fn offset_at(tokens: &[Token], i: usize) -> Option<(Written, usize)> {
    let mut j = i;
    if tokens.get(j).is_some_and(|t| t.is("daqui")) && tokens.get(j + 1).is_some_and(|t| t.is("a")) {
        j += 2;
    } else if tokens.get(j).is_some_and(|t| IN_WORDS.contains(&t.norm.as_str())) {
        j += 1;
    } else {
        return None;
    }
    let count = tokens.get(j).and_then(|t| {
        t.number().or_else(|| super::numbers::number_word(&t.norm)).or_else(|| {
            ["a", "an", "one", "un", "une", "una", "uno", "einer", "einem", "um", "uma"]
                .contains(&t.norm.as_str())
                .then_some(1)
        })
    })?;
    let unit = tokens.get(j + 1)?;
    let days = if DAY_UNITS.contains(&unit.norm.as_str()) {
        u64::from(count)
    } else if WEEK_UNITS.contains(&unit.norm.as_str()) {
        u64::from(count) * 7
    } else {
        return None;
    };
    (days <= 366).then_some((Written::Offset(days), j + 2))
}

/// A weekday at `i`, with "next"/"prochain"/"que viene" around it.
fn weekday_at(tokens: &[Token], i: usize) -> Option<(Written, usize, usize)> {
    let token = tokens.get(i)?;
    let (weekday, ordinal_like) = weekday_of(&token.norm).filter(|_| token.is_word())?;
    let mut start = i;
    let mut end = i + 1;
    let feira = tokens.get(end).is_some_and(|t| t.is("feira"))
        || (tokens.get(end).is_some_and(|t| t.is_punct('-')) && tokens.get(end + 1).is_some_and(|t| t.is("feira")));
    if feira {
        end += if tokens[end].is("feira") { 1 } else { 2 };
    }
    let before = i.checked_sub(1).and_then(|p| tokens.get(p));
    if ordinal_like && !feira {
        // "a segunda" is the second one; "na segunda" is Monday. English
        // abbreviations count after "on"/"next"/"this" only.
        let lead = before.is_some_and(|t| {
            PT_WEEKDAY_LEAD.contains(&t.norm.as_str())
                || ["on", "next", "this", "until", "till"].contains(&t.norm.as_str())
        });
        if !lead {
            return None;
        }
    }
    let mut next = false;
    if let Some(b) = before
        && NEXT_BEFORE.contains(&b.norm.as_str())
    {
        next = true;
        start = i - 1;
    }
    for after in NEXT_AFTER {
        if super::phrases::matches_at(tokens, end, after).is_some() {
            next = true;
            end += after.len();
            break;
        }
    }
    // "el próximo viernes" and "la próxima sexta" keep the article out of other matchers' way.
    Some((Written::Weekday { weekday, next }, start, end))
}

/// Every date expression in the tokens, in order, marking what they use.
fn find_all(tokens: &[Token], used: &mut [bool], ctx: &DateContext) -> Vec<Found> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if used[i] {
            i += 1;
            continue;
        }
        let token = &tokens[i];
        let mut hit: Option<(Written, usize, usize)> = None;
        if let Some(written) = numeric(&token.kind, ctx.order) {
            hit = Some((written, i, i + 1));
        } else if let Some((relative, end)) = RELATIVE.at(tokens, i).filter(|(_, end)| is_free(used, i, *end)) {
            let morning_context = (token.is("manana") || token.is("morgen"))
                && i.checked_sub(1)
                    .is_some_and(|p| ["la", "am", "guten", "jeden", "de"].contains(&tokens[p].norm.as_str()));
            if !morning_context {
                let written = match relative {
                    Relative::Days(n) => Written::Offset(n),
                    Relative::Shift(n) => Written::Shift(n),
                    span => Written::Span(span),
                };
                hit = Some((written, i, end));
            }
        }
        if hit.is_none() {
            hit = day_month_at(tokens, i, &TRAVEL_YEARS)
                .or_else(|| month_day_at(tokens, i, &TRAVEL_YEARS))
                .or_else(|| offset_at(tokens, i))
                .map(|(w, end)| (w, i, end))
                .or_else(|| weekday_at(tokens, i));
        }
        if hit.is_none()
            && token.is_word()
            && let Some((month, ambiguous)) = month_of(&token.norm)
            && !ambiguous
        {
            let (year, end) = match year_at(tokens, i + 1) {
                Some((year, end)) => (Some(year), end),
                None => (None, i + 1),
            };
            hit = Some((Written::Month { month, year }, i, end));
        }
        if hit.is_none()
            && let Some((day, end, ordinal)) = day_at(tokens, i)
        {
            // A bare day of the month needs an article, an ordinal suffix, or to be the answer asked for.
            let before = i.checked_sub(1).map(|p| tokens[p].norm.as_str());
            let lead = before.is_some_and(|b| {
                [
                    "the", "el", "le", "il", "am", "den", "dia", "on", "o", "al", "au", "bis", "ao", "ate", "lo",
                    "del", "du", "vom", "dal", "do",
                ]
                .contains(&b)
            });
            let alone = ctx.asked.is_some() && tokens.iter().filter(|t| !matches!(t.kind, Kind::Punct(_))).count() <= 3;
            let followed_by_unit = tokens.get(end).is_some_and(|t| t.is_word() && super::is_quantity_word(&t.norm));
            // "20-27 December": a day linked to the next one.
            let linked = tokens.get(end).is_some_and(|t| t.is_punct('-') || RANGE_LINKS.contains(&t.norm.as_str()))
                && day_at(tokens, end + 1).is_some();
            if (ordinal || lead || alone || linked) && !followed_by_unit {
                hit = Some((Written::Day { day, month: None, year: None }, i, end));
            }
        }
        match hit {
            Some((written, start, end)) if is_free(used, start, end) && end > start => {
                mark(used, start, end);
                found.push(Found { written, start, end });
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// `text`, when all of it is one date of birth: `14/05/1990` (the
/// locale's numeric order, as for travel dates), `14.05.1990`, `1990-05-14`,
/// `14/05/90`, `14 de mayo de 1990`, `14. Mai 1990`, `May 14, 1990`, `14th
/// of May 1990`. A two-digit year is the latest one not after `today`'s.
/// Unlike travel dates, nothing rolls forward: a day without a year is
/// [`BirthDateMention::NoYear`], one that does not exist
/// [`BirthDateMention::Impossible`].
pub(crate) fn birth_date(text: &str, order: NumericOrder, today: NaiveDate) -> Option<BirthDateMention> {
    let tokens = tokenize(text);
    let whole =
        |end: usize| tokens.get(end..).is_some_and(|rest| rest.iter().all(|t| matches!(t.kind, Kind::Punct(_))));
    let first = tokens.first()?;
    let real = |year: i32, month: u32, day: u32| {
        NaiveDate::from_ymd_opt(year, month, day).map_or(BirthDateMention::Impossible, BirthDateMention::Day)
    };
    match first.kind {
        Kind::IsoDate { year, month, day } if whole(1) => return Some(real(year, month, day)),
        Kind::NumericDate { year, .. } if whole(1) => {
            let Some(Written::Day { day, month: Some(month), .. }) = numeric(&first.kind, order) else {
                return Some(BirthDateMention::Impossible);
            };
            let Some(mut year) = year else { return Some(BirthDateMention::NoYear) };
            let short_year = first.raw.rsplit(['/', '.', '-']).next().is_some_and(|y| y.len() == 2);
            if short_year && year > today.year() {
                year -= 100;
            }
            return Some(real(year, month, day));
        }
        _ => {}
    }
    let (written, end) = day_month_at(&tokens, 0, &BIRTH_YEARS).or_else(|| month_day_at(&tokens, 0, &BIRTH_YEARS))?;
    if !whole(end) {
        return None;
    }
    match written {
        Written::Day { day, month: Some(month), year: Some(year) } => Some(real(year, month, day)),
        Written::Day { year: None, .. } => Some(BirthDateMention::NoYear),
        _ => None,
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)?.checked_add_months(Months::new(1))?.pred_opt()
}

/// A day-of-month (with optional month/year) on or after `base`.
fn resolve_day(day: u32, month: Option<u32>, year: Option<i32>, base: NaiveDate) -> Option<NaiveDate> {
    match (month, year) {
        (Some(month), Some(year)) => NaiveDate::from_ymd_opt(year, month, day),
        (Some(month), None) => {
            (0..=4).filter_map(|n| NaiveDate::from_ymd_opt(base.year() + n, month, day)).find(|date| *date >= base)
        }
        (None, _) => (0..=12)
            .filter_map(|n| {
                let first =
                    NaiveDate::from_ymd_opt(base.year(), base.month(), 1)?.checked_add_months(Months::new(n))?;
                NaiveDate::from_ymd_opt(first.year(), first.month(), day)
            })
            .find(|date| *date >= base),
    }
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn resolve(written: Written, base: NaiveDate, today: NaiveDate) -> Option<DateMention> {
    Some(match written {
        Written::Day { day, month, year } => DateMention::Day(resolve_day(day, month, year, base)?),
        Written::Offset(days) => DateMention::Day(today.checked_add_days(Days::new(days))?),
        Written::Weekday { weekday, next } => {
            if next {
                let monday = monday_of(base).checked_add_days(Days::new(7))?;
                DateMention::Day(monday + Days::new(u64::from(weekday.num_days_from_monday())))
            } else {
                let ahead = (7 + weekday.num_days_from_monday() - base.weekday().num_days_from_monday()) % 7;
                let ahead = if ahead == 0 && base == today { 7 } else { ahead };
                DateMention::Day(base + Days::new(u64::from(ahead)))
            }
        }
        Written::Month { month, year } => {
            let year = year.unwrap_or(if month < today.month() { today.year() + 1 } else { today.year() });
            let from = NaiveDate::from_ymd_opt(year, month, 1)?.max(today);
            let to = last_day_of_month(year, month)?;
            if to < today {
                return None;
            }
            DateMention::Range { from, to }
        }
        Written::Span(span) => match span {
            Relative::NextWeek => {
                let from = monday_of(today) + Days::new(7);
                DateMention::Range { from, to: from + Days::new(6) }
            }
            Relative::ThisWeek => DateMention::Range { from: today, to: monday_of(today) + Days::new(6) },
            Relative::Weekend { next } => {
                let saturday = monday_of(today) + Days::new(if next { 12 } else { 5 });
                let sunday = saturday + Days::new(1);
                if sunday < today {
                    return None;
                }
                DateMention::Range { from: saturday.max(today), to: sunday }
            }
            Relative::NextMonth => {
                let first =
                    NaiveDate::from_ymd_opt(today.year(), today.month(), 1)?.checked_add_months(Months::new(1))?;
                DateMention::Range { from: first, to: last_day_of_month(first.year(), first.month())? }
            }
            Relative::Days(n) => DateMention::Day(today.checked_add_days(Days::new(n))?),
            Relative::Shift(n) => DateMention::Shift(n),
        },
        Written::Shift(n) => DateMention::Shift(n),
    })
}

fn near(tokens: &[Token], start: usize, words: &[&str], reach: usize) -> bool {
    (start.saturating_sub(reach)..start).any(|k| tokens.get(k).is_some_and(|t| words.contains(&t.norm.as_str())))
}

/// The dates in `tokens` that `used` leaves free.
pub(crate) fn find(tokens: &[Token], used: &mut [bool], ctx: &DateContext) -> Dates {
    let mut dates = Dates::default();
    if let Some((trip, start, end)) = TRIP_WORDS.find(tokens, used) {
        // "single" alone is too common a word; only "single ticket/flight" or a short answer counts.
        let single_ok = !tokens[start].is("single")
            || tokens.get(end).is_some_and(|t| ["ticket", "flight", "fare"].contains(&t.norm.as_str()));
        if single_ok {
            mark(used, start, end);
            dates.trip = Some(trip);
        }
    }
    let found = find_all(tokens, used, ctx);
    let today = ctx.today;
    let mut departure: Option<Written> = None;
    let mut ret: Option<Written> = None;
    let mut window = false;
    let mut k = 0;
    while k < found.len() {
        let current = found[k];
        let is_day = |w: &Written| matches!(w, Written::Day { .. } | Written::Weekday { .. } | Written::Offset(_));
        // Two dates joined by "to"/"al"/"-": out and back (or a window after "between").
        if let Some(next) = found.get(k + 1)
            && is_day(&current.written)
            && is_day(&next.written)
            && next.start > current.end
            && next.start - current.end <= 2
            && tokens[current.end..next.start].iter().all(|t| {
                t.is_punct('-') || RANGE_LINKS.contains(&t.norm.as_str()) || t.is("the") || t.is("le") || t.is("el")
            })
        {
            let mut first = current.written;
            // "del 20 al 27 de diciembre": the first day takes the second's month.
            if let (Written::Day { day, month: None, year: None }, Written::Day { month: Some(m), year: y, .. }) =
                (first, next.written)
            {
                first = Written::Day { day, month: Some(m), year: y };
            }
            if near(tokens, current.start, WINDOW_LEADS, 2) {
                window = true;
            }
            departure = Some(first);
            ret = Some(next.written);
            k += 2;
            continue;
        }
        let to_return = near(tokens, current.start, RETURN_MARKERS, 4)
            && !near(tokens, current.start, DEPARTURE_MARKERS, 1)
            || ctx.asked == Some(true);
        if to_return && ret.is_none() {
            ret = Some(current.written);
        } else if departure.is_none() {
            departure = Some(current.written);
        } else if ret.is_none() {
            ret = Some(current.written);
        }
        k += 1;
    }
    let departure = departure.and_then(|w| resolve(w, today, today));
    let departure_day = match departure {
        Some(DateMention::Day(d)) => Some(d),
        Some(DateMention::Range { from, .. }) => Some(from),
        _ => ctx.current_departure,
    };
    if window {
        if let (Some(DateMention::Day(from)), Some(to)) =
            (departure, ret.and_then(|w| resolve(w, departure_day.unwrap_or(today).max(today), today)))
            && let DateMention::Day(to) = to
            && to >= from
            && (to - from).num_days() <= 30
        {
            dates.departure = Some(DateMention::Range { from, to });
        }
        return dates;
    }
    dates.departure = departure;
    let base = departure_day.unwrap_or(today).max(today);
    dates.return_date = ret.and_then(|w| resolve(w, base, today));
    if dates.return_date.is_some() && dates.trip.is_none() {
        dates.trip = Some(TripKind::RoundTrip);
    }
    dates
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn day(m: u32, d: u32) -> DateMention {
        let year = if m >= 12 { 2026 } else { 2027 };
        DateMention::Day(NaiveDate::from_ymd_opt(year, m, d).expect("date"))
    }

    fn range(from: (u32, u32), to: (u32, u32)) -> DateMention {
        let date = |(m, d): (u32, u32)| NaiveDate::from_ymd_opt(if m >= 12 { 2026 } else { 2027 }, m, d).expect("d");
        DateMention::Range { from: date(from), to: date(to) }
    }

    fn dates_in(text: &str, order: NumericOrder) -> Dates {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        find(&tokens, &mut used, &DateContext { today: today(), order, current_departure: None, asked: None })
    }

    fn departure(text: &str) -> Option<DateMention> {
        dates_in(text, NumericOrder::DayMonth).departure
    }

    #[test]
    fn absolute_dates_in_every_language() {
        for text in [
            "2026-12-20",
            "December 20",
            "Dec 20th",
            "dec 20, 2026",
            "20 December",
            "20th of December",
            "20 de diciembre",
            "20. Dezember",
            "am 20. Dezember",
            "20 dicembre",
            "20 de dezembro",
            "le 20 décembre",
            "20/12",
            "20.12.",
            "20/12/2026",
            "20.12.2026",
        ] {
            assert_eq!(departure(text), Some(day(12, 20)), "{text}");
        }
        assert_eq!(departure("le 1er juin"), Some(day(6, 1)));
        assert_eq!(departure("3rd of April"), Some(day(4, 3)));
    }

    #[test]
    fn numeric_order_follows_the_locale_unless_the_value_decides() {
        assert_eq!(dates_in("12/10", NumericOrder::MonthDay).departure, Some(day(12, 10)));
        assert_eq!(dates_in("12/10", NumericOrder::DayMonth).departure, Some(day(10, 12)));
        assert_eq!(dates_in("20/12", NumericOrder::MonthDay).departure, Some(day(12, 20)));
        assert_eq!(dates_in("12/20", NumericOrder::DayMonth).departure, Some(day(12, 20)));
        assert_eq!(departure("13/13"), None);
    }

    #[test]
    fn past_days_roll_forward() {
        // Today is 2026-12-03: 1 December is next year's, the 2nd is January's.
        assert_eq!(departure("December 1"), Some(DateMention::Day(NaiveDate::from_ymd_opt(2027, 12, 1).expect("d"))));
        assert_eq!(departure("the 2nd"), Some(day(1, 2)));
        assert_eq!(departure("the 15th"), Some(day(12, 15)));
        assert_eq!(departure("el 3"), Some(day(12, 3)));
        assert_eq!(departure("March 5"), Some(day(3, 5)));
        assert_eq!(departure("31/11"), None, "no 31 November");
    }

    #[test]
    fn relative_dates() {
        for (text, expected) in [
            ("tomorrow", day(12, 4)),
            ("tmrw", day(12, 4)),
            ("2moro", day(12, 4)),
            ("manana", day(12, 4)),
            ("demain", day(12, 4)),
            ("morgen", day(12, 4)),
            ("domani", day(12, 4)),
            ("amanhã", day(12, 4)),
            ("the day after tomorrow", day(12, 5)),
            ("pasado mañana", day(12, 5)),
            ("après-demain", day(12, 5)),
            ("übermorgen", day(12, 5)),
            ("dopodomani", day(12, 5)),
            ("depois de amanhã", day(12, 5)),
            ("today", day(12, 3)),
            ("in 3 days", day(12, 6)),
            ("in two weeks", day(12, 17)),
            ("dans une semaine", day(12, 10)),
            ("in 3 Tagen", day(12, 6)),
            ("tra 2 giorni", day(12, 5)),
            ("daqui a 3 dias", day(12, 6)),
            ("friday", day(12, 4)),
            ("this Saturday", day(12, 5)),
            ("next friday", day(12, 11)),
            ("next monday", day(12, 7)),
            ("thursday", day(12, 10)),
            ("el viernes", day(12, 4)),
            ("el próximo viernes", day(12, 11)),
            ("el viernes que viene", day(12, 11)),
            ("vendredi prochain", day(12, 11)),
            ("nächsten Freitag", day(12, 11)),
            ("am Samstag", day(12, 5)),
            ("venerdì", day(12, 4)),
            ("na sexta", day(12, 4)),
            ("segunda-feira", day(12, 7)),
        ] {
            assert_eq!(departure(text), Some(expected), "{text}");
        }
        assert_eq!(departure("la segunda"), None, "an ordinal, not Monday");
        assert_eq!(departure("por la mañana"), None, "the morning, not tomorrow");
        assert_eq!(departure("Guten Morgen"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(departure("next week"), Some(range((12, 7), (12, 13))));
        assert_eq!(departure("la semana que viene"), Some(range((12, 7), (12, 13))));
        assert_eq!(departure("sometime in March"), Some(range((3, 1), (3, 31))));
        assert_eq!(departure("en marzo"), Some(range((3, 1), (3, 31))));
        assert_eq!(departure("im März"), Some(range((3, 1), (3, 31))));
        assert_eq!(departure("in December"), Some(range((12, 3), (12, 31))), "clipped to today");
        assert_eq!(departure("this weekend"), Some(range((12, 5), (12, 6))));
        assert_eq!(departure("between the 10th and the 14th"), Some(range((12, 10), (12, 14))));
        assert_eq!(departure("may I fly"), None, "\"may\" alone is a verb");
    }

    #[test]
    fn departure_and_return() {
        let both = |text: &str| {
            let d = dates_in(text, NumericOrder::DayMonth);
            (d.departure, d.return_date, d.trip)
        };
        let rt = Some(TripKind::RoundTrip);
        for text in [
            "from the 20th to the 27th",
            "del 20 al 27",
            "du 20 au 27 décembre",
            "vom 20. bis 27. Dezember",
            "dal 20 al 27 dicembre",
            "Dec 20 - Dec 27",
            "20-27 December",
            "leaving dec 20 returning on the 27th",
            "el 20 de diciembre, vuelta el 27",
            "le 20, retour le 27",
            "am 20.12., zurück am 27.",
            "il 20 dicembre, ritorno il 27",
            "dia 20, volta dia 27",
        ] {
            assert_eq!(both(text), (Some(day(12, 20)), Some(day(12, 27)), rt), "{text}");
        }
        // A return day before the departure's day is next month's.
        assert_eq!(both("Dec 28 back on the 5th"), (Some(day(12, 28)), Some(day(1, 5)), rt));
        assert_eq!(dates_in("round trip", NumericOrder::DayMonth).trip, rt);
        assert_eq!(dates_in("solo ida", NumericOrder::DayMonth).trip, Some(TripKind::OneWay));
        assert_eq!(dates_in("hin und zurück", NumericOrder::DayMonth).trip, rt);
    }

    #[test]
    fn dates_of_birth_are_whole_dates_in_the_past_or_not_at_all() {
        let born = |text: &str, order| birth_date(text, order, today());
        let day = |y, m, d| Some(BirthDateMention::Day(NaiveDate::from_ymd_opt(y, m, d).expect("date")));
        for text in [
            "14/05/1990",
            "14.05.1990",
            "14-05-1990",
            "1990-05-14",
            "14/05/90",
            "14 de mayo de 1990",
            "14 mai 1990",
            "14. Mai 1990",
            "14 maggio 1990",
            "14 de maio de 1990",
            "14th of May 1990",
            "May 14, 1990",
        ] {
            assert_eq!(born(text, NumericOrder::DayMonth), day(1990, 5, 14), "{text}");
        }
        assert_eq!(born("05/14/1990", NumericOrder::MonthDay), day(1990, 5, 14));
        assert_eq!(born("03/04/2015", NumericOrder::MonthDay), day(2015, 3, 4));
        assert_eq!(born("03/04/2015", NumericOrder::DayMonth), day(2015, 4, 3));
        assert_eq!(born("01/02/24", NumericOrder::DayMonth), day(2024, 2, 1), "a short year up to this one");
        assert_eq!(born("31/02/1990", NumericOrder::DayMonth), Some(BirthDateMention::Impossible));
        assert_eq!(born("14/13/1990", NumericOrder::DayMonth), Some(BirthDateMention::Impossible));
        assert_eq!(born("14/05", NumericOrder::DayMonth), Some(BirthDateMention::NoYear));
        assert_eq!(born("14 de mayo", NumericOrder::DayMonth), Some(BirthDateMention::NoYear));
        for text in ["Ana", "14", "mayo 1990", "Ana 14/05/1990", "tomorrow", ""] {
            assert_eq!(born(text, NumericOrder::DayMonth), None, "{text}");
        }
    }

    #[test]
    fn shifts() {
        for (text, n) in [
            ("what about the day after?", 1),
            ("y el día siguiente?", 1),
            ("the day before", -1),
            ("le lendemain ?", 1),
            ("und am Tag danach?", 1),
            ("il giorno dopo?", 1),
            ("e o dia seguinte?", 1),
        ] {
            assert_eq!(departure(text), Some(DateMention::Shift(n)), "{text}");
        }
    }
}
