//! Picking one of the offers shown: "the second one", "option 2", "la
//! segunda", "die zweite", "book it", "that one" — and whether the traveller
//! means to book it.

use std::sync::LazyLock;

use super::phrases::{Phrases, mark};
use super::text::{Kind, Token};
use crate::chat::model::OfferChoice;

/// Ordinal words (folded) → position; 0 means the last one.
const ORDINALS: &[(&str, u8)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("last", 0),
    ("primero", 1),
    ("primera", 1),
    ("primer", 1),
    ("segundo", 2),
    ("segunda", 2),
    ("tercero", 3),
    ("tercera", 3),
    ("tercer", 3),
    ("cuarto", 4),
    ("cuarta", 4),
    ("quinto", 5),
    ("quinta", 5),
    ("ultimo", 0),
    ("ultima", 0),
    ("premier", 1),
    ("premiere", 1),
    ("deuxieme", 2),
    ("seconde", 2),
    ("troisieme", 3),
    ("quatrieme", 4),
    ("cinquieme", 5),
    ("dernier", 0),
    ("derniere", 0),
    ("erste", 1),
    ("ersten", 1),
    ("erster", 1),
    ("erstes", 1),
    ("zweite", 2),
    ("zweiten", 2),
    ("zweiter", 2),
    ("zweites", 2),
    ("dritte", 3),
    ("dritten", 3),
    ("drittes", 3),
    ("vierte", 4),
    ("vierten", 4),
    ("funfte", 5),
    ("funften", 5),
    ("letzte", 0),
    ("letzten", 0),
    ("primo", 1),
    ("prima", 1),
    ("secondo", 2),
    ("seconda", 2),
    ("terzo", 3),
    ("terza", 3),
    ("quarto", 4),
    ("quarta", 4),
    ("primeiro", 1),
    ("primeira", 1),
    ("terceiro", 3),
    ("terceira", 3),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("sexto", 6),
    ("septimo", 7),
    ("octavo", 8),
    ("noveno", 9),
    ("decimo", 10),
    ("decima", 10),
    ("sixieme", 6),
    ("septieme", 7),
    ("huitieme", 8),
    ("neuvieme", 9),
    ("dixieme", 10),
    ("sechste", 6),
    ("siebte", 7),
    ("achte", 8),
    ("neunte", 9),
    ("zehnte", 10),
    ("sesto", 6),
    ("sesta", 6),
    ("settimo", 7),
    ("settima", 7),
    ("ottavo", 8),
    ("ottava", 8),
    ("nono", 9),
    ("nona", 9),
    ("setimo", 7),
    ("setima", 7),
    ("oitavo", 8),
    ("oitava", 8),
];

/// Nouns after an ordinal that make it a pick ("the second one", "la segunda opción").
const CHOICE_NOUNS: &[&str] = &[
    "one", "option", "flight", "offer", "choice", "uno", "una", "opcion", "vuelo", "oferta", "vol", "offre", "option",
    "flug", "angebot", "opzione", "volo", "offerta", "opcao", "voo", "proposta",
];
/// Determiners before an ordinal that make it a pick ("the second", "la segunda").
const CHOICE_LEADS: &[&str] = &[
    "the", "la", "el", "le", "die", "der", "das", "den", "il", "lo", "a", "o", "l", "take", "want", "quiero",
    "prefiero", "nehme", "prendo", "quero", "choose", "pick",
];
/// Words after an ordinal that make it something else ("first class", "la primera semana").
const NOT_CHOICE: &[&str] = &[
    "class",
    "clase",
    "classe",
    "klasse",
    "week",
    "semana",
    "semaine",
    "woche",
    "settimana",
    "time",
    "vez",
    "fois",
    "mal",
    "volta",
    "day",
    "dia",
    "jour",
    "tag",
    "giorno",
    "of",
    "de",
    "quincena",
    "feira",
];
/// Words before a number that make it a pick ("option 2", "#3").
const NUMBER_LEADS: &[&str] = &[
    "option", "number", "no", "nr", "nummer", "opcion", "numero", "opzione", "opcao", "flight", "vuelo", "vol", "flug",
    "volo", "voo", "offer", "oferta", "offre", "angebot", "offerta", "choice",
];

static CURRENT: LazyLock<Phrases<()>> = LazyLock::new(|| {
    Phrases::new(&[
        ("book it", ()),
        ("book that", ()),
        ("book this", ()),
        ("book that one", ()),
        ("that one", ()),
        ("this one", ()),
        ("i ll take it", ()),
        ("ill take it", ()),
        ("i ll take that", ()),
        ("take it", ()),
        ("that s the one", ()),
        ("let s book it", ()),
        ("lets book it", ()),
        ("reserve it", ()),
        ("la reservo", ()),
        ("lo reservo", ()),
        ("reservalo", ()),
        ("reservala", ()),
        ("me lo quedo", ()),
        ("me quedo con ese", ()),
        ("me quedo con esa", ()),
        ("ese", ()),
        ("esa", ()),
        ("ese mismo", ()),
        ("esa misma", ()),
        ("je le prends", ()),
        ("je la prends", ()),
        ("celui la", ()),
        ("celle la", ()),
        ("celui ci", ()),
        ("celle ci", ()),
        ("reserve le", ()),
        ("reservez le", ()),
        ("das nehme ich", ()),
        ("den nehme ich", ()),
        ("die nehme ich", ()),
        ("diesen", ()),
        ("buch das", ()),
        ("buche das", ()),
        ("den buchen", ()),
        ("das buchen", ()),
        ("prendo quello", ()),
        ("prendo questo", ()),
        ("lo prendo", ()),
        ("quello", ()),
        ("questo", ()),
        ("prenotalo", ()),
        ("quero esse", ()),
        ("quero essa", ()),
        ("esse", ()),
        ("essa", ()),
        ("esse mesmo", ()),
        ("fico com esse", ()),
        ("vou ficar com esse", ()),
        ("pode reservar", ()),
        ("reserva esse", ()),
    ])
});

/// Verbs that mean "book it".
const BOOK_VERBS: &[&str] = &[
    "book",
    "reserve",
    "booking",
    "reservar",
    "reserva",
    "reservo",
    "reservame",
    "reserver",
    "reservez",
    "reserve",
    "buchen",
    "buche",
    "buch",
    "prenotare",
    "prenota",
    "prenoto",
    "prenotami",
    "reservalo",
    "reservala",
    "prenotalo",
    "prenotala",
];

/// Every folded word the choice tables use.
pub(crate) fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = ORDINALS.iter().map(|(w, _)| *w).collect();
    words.extend(CHOICE_NOUNS);
    words.extend(NUMBER_LEADS);
    words.extend(CURRENT.words());
    words.extend(BOOK_VERBS);
    words
}

/// The position an ordinal word names (0: the last).
pub(crate) fn ordinal(word: &str) -> Option<u8> {
    ORDINALS.iter().find(|(w, _)| *w == word).map(|(_, n)| *n).filter(|n| *n > 0)
}

/// Whether the message says to book.
pub(crate) fn has_book_verb(tokens: &[Token]) -> bool {
    tokens.iter().any(|t| t.is_word() && BOOK_VERBS.contains(&t.norm.as_str()))
}

/// An offer pick in the free tokens. `bare_numbers` when offers are on
/// screen: a message that is only a number ("2") picks that one.
pub(crate) fn find(tokens: &[Token], used: &mut [bool], bare_numbers: bool) -> Option<OfferChoice> {
    let booking = has_book_verb(tokens);
    for i in 0..tokens.len() {
        if used[i] {
            continue;
        }
        let token = &tokens[i];
        let before = i.checked_sub(1).map(|p| tokens[p].norm.as_str());
        let after = tokens.get(i + 1);
        // "option 2", "#3", "number 1", "la opción 2".
        if let Some(n) = token.number().filter(|n| (1..=20).contains(n))
            && (before.is_some_and(|b| NUMBER_LEADS.contains(&b)) || before == Some("#"))
        {
            mark(used, i.saturating_sub(1), i + 1);
            return Some(OfferChoice::Position(n as u8));
        }
        // "je réserve le 2", "book the 3": a number after an article, with
        // offers on screen and a booking verb, ending the message (else
        // "reservar el 20 de enero" would be a pick).
        if let Some(n) = token.number().filter(|n| (1..=20).contains(n))
            && booking
            && bare_numbers
            && before.is_some_and(|b| CHOICE_LEADS.contains(&b))
            && after.is_none_or(|t| matches!(t.kind, Kind::Punct(_)))
        {
            mark(used, i.saturating_sub(1), i + 1);
            return Some(OfferChoice::Position(n as u8));
        }
        // "the 2nd one", "2nd option", "die 2.", "a 2ª".
        let ordinal = match &token.kind {
            Kind::Number { value, suffix }
                if (1..=20).contains(value)
                    && ["st", "nd", "rd", "th", "o", "a", "e", "eme", "er"].contains(&suffix.as_str()) =>
            {
                Some(*value as u8)
            }
            Kind::Word => ORDINALS.iter().find(|(w, _)| *w == token.norm).map(|(_, n)| *n),
            _ => None,
        };
        if let Some(n) = ordinal {
            let noun = after.is_some_and(|t| CHOICE_NOUNS.contains(&t.norm.as_str()));
            // "the 20th" is a date; "the 2nd" picks only with offers on screen and nothing else said.
            let numeric = token.kind != Kind::Word;
            let short = tokens.iter().filter(|t| t.is_word() || t.number().is_some()).count() <= 3;
            let lead = before.is_some_and(|b| CHOICE_LEADS.contains(&b)) && (!numeric || (bare_numbers && short));
            let blocked = after.is_some_and(|t| NOT_CHOICE.contains(&t.norm.as_str()));
            if (noun || lead) && !blocked {
                let end = if noun { i + 2 } else { i + 1 };
                mark(used, i, end);
                return Some(if n == 0 { OfferChoice::Last } else { OfferChoice::Position(n) });
            }
        }
    }
    if bare_numbers {
        let words: Vec<usize> = (0..tokens.len()).filter(|i| !matches!(tokens[*i].kind, Kind::Punct(_))).collect();
        if let [only] = words.as_slice()
            && let Some(n) = tokens[*only].number().filter(|n| (1..=20).contains(n))
        {
            mark(used, *only, *only + 1);
            return Some(OfferChoice::Position(n as u8));
        }
    }
    None
}

/// "book it", "that one", "je le prends": the offer in focus. Read after the
/// dates, so that "essa sexta" stays a Friday.
pub(crate) fn current(tokens: &[Token], used: &mut [bool]) -> Option<OfferChoice> {
    let (_, start, end) = CURRENT.find(tokens, used)?;
    mark(used, start, end);
    Some(OfferChoice::Current)
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn choice(text: &str) -> Option<OfferChoice> {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        find(&tokens, &mut used, true).or_else(|| current(&tokens, &mut used))
    }

    #[test]
    fn picks_in_every_language() {
        for (text, n) in [
            ("the second one", 2),
            ("option 2", 2),
            ("number 3", 3),
            ("la segunda", 2),
            ("reservar la opción 2", 2),
            ("la deuxième", 2),
            ("die zweite", 2),
            ("la seconda", 2),
            ("a segunda", 2),
            ("book option 2", 2),
            ("je réserve le 2", 2),
            ("book the 3", 3),
            ("the 3rd one", 3),
            ("#4", 4),
            ("2", 2),
        ] {
            assert_eq!(choice(text), Some(OfferChoice::Position(n)), "{text}");
        }
        assert_eq!(choice("book it"), Some(OfferChoice::Current));
        assert_eq!(choice("that one"), Some(OfferChoice::Current));
        assert_eq!(choice("the last one"), Some(OfferChoice::Last));
        assert_eq!(choice("first class"), None);
        assert_eq!(choice("la primera semana"), None);
        assert_eq!(choice("2 adults"), None);
        assert_eq!(choice("the 2"), None, "a bare \"the 2\" is not a pick without a booking verb");
        assert_eq!(choice("reservar el 20 de enero"), None, "a day");
    }
}
