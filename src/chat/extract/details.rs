//! Traveller details in a message, read while the agent asks for them:
//! names, dates of birth, an e-mail address and a phone number, in any
//! order and any number in one message ("Ana García Pérez, 14/05/1990,
//! ana@example.com"). Works on the message's whitespace-separated chunks as
//! written, because names keep their accents, hyphens and apostrophes and an
//! address its `@` — the word tokens the rest of the engine reads fold those
//! away. Nothing is checked here: the dialogue checks what was read with the
//! booking rules.
//!
//! - An e-mail is a chunk with an `@`; a phone a chunk starting with `+`
//!   (digit groups after it join it: "+34 600 000 000").
//! - A date of birth is a run of up to five chunks that is one whole date
//!   with its year (see [`super::dates::birth_date`]); a day and month
//!   without a year counts only when a date of birth was asked.
//! - What is left, cut at commas, semicolons, the details above and "and"
//!   words ("y", "et", "und", "e"), is one name per piece, once the words
//!   around names are taken off ("me llamo", "my name is", "nacida el",
//!   "correo", "please" …).
//!
//! A name is split into given and family names: at a slash when the
//! traveller wrote one ("José María / García Pérez"); else at the first
//! particle after the first word ("Ana de la Cruz": Ana / de la Cruz);
//! else two words are one of each, and longer names follow the
//! conversation's language — Spanish and Portuguese names carry two
//! surnames ("Ana García Pérez": Ana / García Pérez; four words: two and
//! two), the others one ("Mary Ann Smith": Mary Ann / Smith). Such a
//! guess is marked so the reply says how it was read and how to correct it.
//! Asked for a surname, the whole answer is the surname.

use chrono::NaiveDate;

use super::dates::{NumericOrder, birth_date};
use crate::chat::model::{BirthDateMention, DetailsMention, Language, NameMention, PendingQuestion};

/// What a message gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Read {
    /// The details, unchecked.
    pub(crate) details: DetailsMention,
    /// The message without the e-mails, phones and dates read (the name
    /// words kept), for the rest of the engine to read.
    pub(crate) rest: String,
    /// The words around the details ("me llamo", "y"), for language detection.
    pub(crate) around: String,
    /// Every chunk left for names is letters (with hyphens, apostrophes and
    /// slashes): the message could be a name as it stands.
    pub(crate) name_shaped: bool,
}

/// Words that sit around names and details, folded. Taken off the start and
/// the end of each piece before what is left is read as a name.
const AROUND: &[&str] = &[
    // English
    "my name is",
    "name is",
    "my name s",
    "name",
    "full name",
    "first name",
    "last name",
    "surname",
    "family name",
    "i am",
    "i m",
    "im",
    "it is",
    "it s",
    "this is",
    "he is",
    "she is",
    "born on",
    "born on the",
    "born",
    "i was born on",
    "date of birth",
    "dob",
    "birthday",
    "my email is",
    "email",
    "e mail",
    "email address",
    "e mail address",
    "my e mail is",
    "my phone is",
    "phone",
    "mobile",
    "please",
    "thanks",
    "thank you",
    "hi",
    "hello",
    "ok",
    "okay",
    "traveller",
    "traveler",
    "passenger",
    // Spanish
    "me llamo",
    "mi nombre es",
    "nombre",
    "nombre completo",
    "nombre y apellidos",
    "soy",
    "se llama",
    "nacido el",
    "nacida el",
    "nacido",
    "nacida",
    "naci el",
    "nacio el",
    "fecha de nacimiento",
    "mi fecha de nacimiento es",
    "su fecha de nacimiento es",
    "mi correo es",
    "correo",
    "correo electronico",
    "mi email es",
    "mi e mail es",
    "mi telefono es",
    "telefono",
    "movil",
    "por favor",
    "gracias",
    "hola",
    "apellido",
    "apellidos",
    "vale",
    "viajero",
    "pasajero",
    // French
    "je m appelle",
    "je suis",
    "mon nom est",
    "nom",
    "nom complet",
    "prenom",
    "c est",
    "ne le",
    "nee le",
    "nee",
    "date de naissance",
    "ma date de naissance est",
    "sa date de naissance est",
    "mon email est",
    "mon e mail est",
    "mon adresse est",
    "mon adresse e mail est",
    "adresse",
    "adresse e mail",
    "courriel",
    "telephone",
    "s il vous plait",
    "s il te plait",
    "merci",
    "bonjour",
    "voyageur",
    "passager",
    // German
    "ich heisse",
    "mein name ist",
    "ich bin",
    "vorname",
    "nachname",
    "geboren am",
    "geboren",
    "geburtsdatum",
    "mein geburtsdatum ist",
    "sein geburtsdatum ist",
    "ihr geburtsdatum ist",
    "meine e mail ist",
    "meine email ist",
    "meine e mail adresse ist",
    "e mail adresse",
    "telefon",
    "handy",
    "bitte",
    "danke",
    "hallo",
    "reisender",
    "reisende",
    "passagier",
    // Italian
    "mi chiamo",
    "il mio nome e",
    "sono",
    "cognome",
    "nato il",
    "nata il",
    "nato",
    "nata",
    "data di nascita",
    "la mia data di nascita e",
    "la sua data di nascita e",
    "la mia email e",
    "la mia e mail e",
    "il mio telefono e",
    "cellulare",
    "per favore",
    "grazie",
    "ciao",
    "viaggiatore",
    "passeggero",
    // Portuguese
    "chamo me",
    "me chamo",
    "o meu nome e",
    "meu nome e",
    "nome",
    "sou",
    "nascido em",
    "nascida em",
    "nascido",
    "nascida",
    "data de nascimento",
    "a minha data de nascimento e",
    "minha data de nascimento e",
    "o meu email e",
    "meu email e",
    "o meu e mail e",
    "meu e mail e",
    "telemovel",
    "celular",
    "telefone",
    "obrigado",
    "obrigada",
    "ola",
    "apelido",
    "sobrenome",
    "viajante",
    "passageiro",
];

/// Small words that are names too ("Le", "Ma", "Mia", "Su"): dropped only
/// when a piece is nothing else ("el" before a date, "my" before an address).
const ALONE: &[&str] = &[
    "the", "on", "is", "its", "my", "el", "la", "es", "mi", "su", "le", "est", "mon", "ma", "am", "ist", "mein",
    "meine", "il", "e", "mio", "mia", "o", "a", "em", "meu", "minha", "de",
];

/// Words that join two names or two details ("Ana y Juan").
const AND: &[&str] = &["and", "y", "et", "und", "e", "plus"];

/// Small words that start a family name ("de la Cruz", "van der Berg", "da Silva").
const PARTICLES: &[&str] = &[
    "de", "del", "della", "di", "da", "das", "do", "dos", "du", "van", "von", "der", "den", "ter", "zu", "dal",
    "degli", "le", "la", "los", "las", "y",
];

/// At most this many chunks make one date of birth ("14 de mayo de 1990").
const LONGEST_DATE: usize = 5;

/// One whitespace-separated piece of the message.
#[derive(Debug, Clone)]
struct Chunk {
    /// As written.
    raw: String,
    /// Without surrounding quotes, brackets and sentence marks (a final dot kept).
    core: String,
    /// Folded words: lower-case ASCII, split at anything else.
    words: Vec<String>,
    /// A comma or semicolon follows it.
    boundary: bool,
    /// Taken as an e-mail, phone or date.
    taken: bool,
}

/// Lower-case ASCII words of `text`, split at anything that is not a letter or digit.
fn fold(text: &str) -> Vec<String> {
    deunicode::deunicode(text)
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn chunks(text: &str) -> Vec<Chunk> {
    text.split_whitespace()
        .take(200)
        .map(|raw| {
            let closing = |c: char| matches!(c, '"' | '\'' | ')' | ']' | '}' | '»' | '”' | '’' | '!' | '?');
            let boundary = raw.trim_end_matches(closing).ends_with([',', ';']);
            let core = raw
                .trim_matches(|c: char| {
                    matches!(
                        c,
                        ',' | ';'
                            | ':'
                            | '('
                            | ')'
                            | '['
                            | ']'
                            | '{'
                            | '}'
                            | '<'
                            | '>'
                            | '"'
                            | '«'
                            | '»'
                            | '“'
                            | '”'
                            | '!'
                            | '?'
                            | '¿'
                            | '¡'
                    )
                })
                .to_owned();
            Chunk { raw: raw.to_owned(), words: fold(&core), core, boundary, taken: false }
        })
        .collect()
}

/// `+34 600 000 000` starting at chunk `i`: the number without separators and the chunks it spans.
fn phone_at(chunks: &[Chunk], i: usize) -> Option<(String, usize)> {
    let first = chunks[i].core.trim_end_matches('.');
    let digits = first.strip_prefix('+')?;
    let is_group = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !is_group(digits) {
        return None;
    }
    let mut number = format!("+{}", digits.replace(['-', '.'], ""));
    let mut end = i + 1;
    while let Some(next) = chunks.get(end) {
        let part = next.core.trim_end_matches('.');
        if chunks[end - 1].boundary || !is_group(part) || number.len() > 16 {
            break;
        }
        number.push_str(&part.replace(['-', '.'], ""));
        end += 1;
    }
    Some((number, end))
}

/// Reads the details in `text`. `pending` is the question asked (a
/// yearless date counts only as the answer to a date of birth; a whole
/// answer to "and the surname?" is one); `language` is the conversation's,
/// for splitting long names; `order` the locale's numeric date order.
pub(crate) fn read(
    text: &str,
    pending: &PendingQuestion,
    language: Language,
    order: NumericOrder,
    today: NaiveDate,
) -> Read {
    let mut chunks = chunks(text);
    let mut details = DetailsMention::default();
    // Where each date of birth and name starts, to keep them in the order written.
    let mut dates: Vec<(usize, BirthDateMention)> = Vec::new();

    for chunk in chunks.iter_mut() {
        if chunk.core.contains('@') {
            if details.email.is_none() {
                details.email = Some(chunk.core.trim_end_matches('.').to_owned());
            }
            chunk.taken = true;
        }
    }
    let mut i = 0;
    while i < chunks.len() {
        if !chunks[i].taken
            && let Some((number, end)) = phone_at(&chunks, i)
        {
            if details.phone.is_none() {
                details.phone = Some(number);
            }
            for chunk in &mut chunks[i..end] {
                chunk.taken = true;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    let asked_birth_date = matches!(pending, PendingQuestion::BirthDate { .. });
    let mut i = 0;
    while i < chunks.len() {
        let mut found = None;
        for len in (1..=LONGEST_DATE.min(chunks.len() - i)).rev() {
            let window = &chunks[i..i + len];
            if window.iter().any(|c| c.taken) {
                continue;
            }
            let joined = window.iter().map(|c| c.core.as_str()).collect::<Vec<_>>().join(" ");
            match birth_date(&joined, order, today) {
                Some(BirthDateMention::NoYear) if !asked_birth_date => {}
                Some(date) => {
                    found = Some((date, len));
                    break;
                }
                None => {}
            }
        }
        match found {
            Some((date, len)) => {
                dates.push((i, date));
                for chunk in &mut chunks[i..i + len] {
                    chunk.taken = true;
                }
                i += len;
            }
            None => i += 1,
        }
    }

    // The pieces left, cut at commas, details and "and".
    let mut pieces: Vec<Vec<usize>> = vec![Vec::new()];
    for (index, chunk) in chunks.iter().enumerate() {
        let joins = chunk.words.len() == 1 && AND.contains(&chunk.words[0].as_str());
        let marks_only = chunk.words.is_empty() && !chunk.core.contains('/');
        if chunk.taken || joins || marks_only {
            pieces.push(Vec::new());
        } else if let Some(piece) = pieces.last_mut() {
            piece.push(index);
        }
        if chunk.boundary {
            pieces.push(Vec::new());
        }
    }
    let mut around: Vec<&str> = Vec::new();
    let mut name_chunks: Vec<&Chunk> = Vec::new();
    // Where each name starts, to give it the date of birth written after it.
    let mut starts: Vec<usize> = Vec::new();
    for indexes in pieces.iter().filter(|p| !p.is_empty()) {
        let piece: Vec<&Chunk> = indexes.iter().map(|i| &chunks[*i]).collect();
        let (start, end) = strip_around(&piece);
        let name = &piece[start..end];
        if name.iter().all(|c| c.words.iter().all(|w| ALONE.contains(&w.as_str()))) {
            around.extend(piece.iter().map(|c| c.raw.as_str()));
            continue;
        }
        around.extend(piece[..start].iter().chain(&piece[end..]).map(|c| c.raw.as_str()));
        name_chunks.extend(name.iter().copied());
        starts.push(indexes[start]);
        details.names.push(name_of(name, pending, language));
    }
    for (at, date) in dates {
        let before = starts.iter().rposition(|start| *start < at);
        match before.and_then(|n| details.names.get_mut(n)).filter(|name| name.birth_date.is_none()) {
            Some(name) => name.birth_date = Some(date),
            None => details.birth_dates.push(date),
        }
    }
    // Taking the "and" words and marks as part of the surroundings.
    for chunk in &chunks {
        let joins = chunk.words.len() == 1 && AND.contains(&chunk.words[0].as_str());
        if !chunk.taken && (joins || (chunk.words.is_empty() && !chunk.core.contains('/'))) {
            around.push(chunk.raw.as_str());
        }
    }
    let name_shaped = name_chunks.len() <= 8
        && name_chunks.iter().all(|c| {
            c.core.trim_end_matches('.').chars().all(|ch| ch.is_alphabetic() || matches!(ch, '-' | '\'' | '’' | '/'))
        });
    let rest = chunks.iter().filter(|c| !c.taken).map(|c| c.raw.as_str()).collect::<Vec<_>>().join(" ");
    Read { details, rest, around: around.join(" "), name_shaped }
}

/// The words of `chunks` flattened.
fn words_of(chunks: &[&Chunk]) -> Vec<String> {
    chunks.iter().flat_map(|c| c.words.iter().cloned()).collect()
}

fn is_around(words: &[String]) -> bool {
    let joined = words.join(" ");
    !joined.is_empty() && AROUND.contains(&joined.as_str())
}

/// The range of `piece` left once the words around names are taken off both ends.
fn strip_around(piece: &[&Chunk]) -> (usize, usize) {
    let (mut start, mut end) = (0, piece.len());
    'front: while start < end {
        for len in (1..=(end - start).min(6)).rev() {
            if is_around(&words_of(&piece[start..start + len])) {
                start += len;
                continue 'front;
            }
        }
        break;
    }
    'back: while start < end {
        for len in (1..=(end - start).min(4)).rev() {
            if is_around(&words_of(&piece[end - len..end])) {
                end -= len;
                continue 'back;
            }
        }
        break;
    }
    (start, end)
}

/// A name from its chunks (see the module docs for the split).
fn name_of(chunks: &[&Chunk], pending: &PendingQuestion, language: Language) -> NameMention {
    // "Ana/García" and "Ana / García" both split at the slash.
    let mut words: Vec<String> = Vec::new();
    let mut slash = None;
    for chunk in chunks {
        let core = chunk.core.trim_end_matches('.');
        let mut parts = core.split('/').peekable();
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                words.push(part.to_owned());
            }
            if parts.peek().is_some() && slash.is_none() {
                slash = Some(words.len());
            }
        }
    }
    let join = |w: &[String]| (!w.is_empty()).then(|| w.join(" "));
    if let Some(at) = slash.filter(|at| *at > 0 && *at < words.len()) {
        return NameMention {
            first: join(&words[..at]),
            last: join(&words[at..]),
            explicit: true,
            guessed: false,
            birth_date: None,
        };
    }
    if matches!(pending, PendingQuestion::TravellerSurname { .. }) {
        return NameMention { first: None, last: join(&words), explicit: false, guessed: false, birth_date: None };
    }
    let n = words.len();
    if n <= 1 {
        return NameMention { first: join(&words), last: None, explicit: false, guessed: false, birth_date: None };
    }
    let folded: Vec<String> = words.iter().map(|w| fold(w).join(" ")).collect();
    let particle = (1..n - 1).find(|i| PARTICLES.contains(&folded[*i].as_str()));
    let at = match particle {
        Some(at) => at,
        None if n == 2 => 1,
        None => match language {
            Language::Es | Language::Pt => {
                if n == 3 {
                    1
                } else {
                    2
                }
            }
            _ => n - 1,
        },
    };
    NameMention {
        first: join(&words[..at]),
        last: join(&words[at..]),
        explicit: false,
        guessed: n >= 3,
        birth_date: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")
    }

    fn day(y: i32, m: u32, d: u32) -> BirthDateMention {
        BirthDateMention::Day(NaiveDate::from_ymd_opt(y, m, d).expect("date"))
    }

    const NAME: PendingQuestion = PendingQuestion::TravellerName { traveller: 0 };

    fn read_in(text: &str, language: Language) -> Read {
        read(text, &NAME, language, NumericOrder::DayMonth, today())
    }

    fn names(read: &Read) -> Vec<(Option<&str>, Option<&str>)> {
        read.details.names.iter().map(|n| (n.first.as_deref(), n.last.as_deref())).collect()
    }

    #[test]
    fn everything_in_one_message() {
        let read = read_in("Ana García Pérez, 14/05/1990, ana@example.com", Language::Es);
        assert_eq!(names(&read), [(Some("Ana"), Some("García Pérez"))]);
        assert!(read.details.names[0].guessed);
        assert_eq!(read.details.names[0].birth_date, Some(day(1990, 5, 14)));
        assert_eq!(read.details.birth_dates, []);
        assert_eq!(read.details.email.as_deref(), Some("ana@example.com"));
        assert_eq!(read.rest, "Ana García Pérez,");
        assert!(read.name_shaped);
    }

    #[test]
    fn the_words_around_details_are_not_names_in_any_language() {
        for (text, language) in [
            ("Me llamo Ana García y nací el 14 de mayo de 1990, mi correo es ana@example.com", Language::Es),
            ("My name is Ana García, born on May 14, 1990, email ana@example.com", Language::En),
            ("Je m'appelle Ana García, née le 14 mai 1990, courriel : ana@example.com", Language::Fr),
            ("Ich heiße Ana García, geboren am 14. Mai 1990, E-Mail ana@example.com", Language::De),
            ("Mi chiamo Ana García, nata il 14 maggio 1990, la mia email è ana@example.com", Language::It),
            ("Chamo-me Ana García, nascida em 14 de maio de 1990, o meu email é ana@example.com", Language::Pt),
        ] {
            let read = read_in(text, language);
            assert_eq!(names(&read), [(Some("Ana"), Some("García"))], "{text}");
            assert_eq!(read.details.names[0].birth_date, Some(day(1990, 5, 14)), "{text}");
            assert_eq!(read.details.email.as_deref(), Some("ana@example.com"), "{text}");
        }
    }

    #[test]
    fn names_split_by_particle_language_or_slash() {
        let split = |text: &str, language| {
            let name = read_in(text, language).details.names.first().cloned().unwrap_or_default();
            (name.first.unwrap_or_default(), name.last.unwrap_or_default())
        };
        let pair = |first: &str, last: &str| (first.to_owned(), last.to_owned());
        assert_eq!(split("Ana de la Cruz", Language::En), pair("Ana", "de la Cruz"));
        assert_eq!(split("Hans van der Berg", Language::De), pair("Hans", "van der Berg"));
        assert_eq!(split("João da Silva", Language::Pt), pair("João", "da Silva"));
        assert_eq!(split("Mary Ann Smith", Language::En), pair("Mary Ann", "Smith"));
        assert_eq!(split("Jean-Luc Picard", Language::Fr), pair("Jean-Luc", "Picard"));
        assert_eq!(split("José María García Pérez", Language::Es), pair("José María", "García Pérez"));
        assert_eq!(split("José María / García", Language::Es), pair("José María", "García"));
        assert_eq!(split("Giulia/Rossi Bianchi", Language::It), pair("Giulia", "Rossi Bianchi"));
        assert_eq!(split("Seán O'Neill", Language::En), pair("Seán", "O'Neill"));
        assert_eq!(split("Ana", Language::Es), pair("Ana", ""));
        assert!(read_in("José María / García", Language::Es).details.names[0].explicit);
        let surname = read(
            "García Pérez",
            &PendingQuestion::TravellerSurname { traveller: 0 },
            Language::Es,
            NumericOrder::DayMonth,
            today(),
        );
        assert_eq!(names(&surname), [(None, Some("García Pérez"))]);
    }

    #[test]
    fn several_travellers_and_a_phone() {
        let read = read_in("Ana García, 14/05/1990 and Leo García, 02/03/2018; +34 600 000 000", Language::En);
        assert_eq!(names(&read), [(Some("Ana"), Some("García")), (Some("Leo"), Some("García"))]);
        let dates: Vec<_> = read.details.names.iter().map(|n| n.birth_date).collect();
        assert_eq!(dates, [Some(day(1990, 5, 14)), Some(day(2018, 3, 2))]);
        let first = read_in("14/05/1990 Ana García", Language::En);
        assert_eq!((first.details.birth_dates.len(), first.details.names[0].birth_date), (1, None));
        assert_eq!(read.details.phone.as_deref(), Some("+34600000000"));
    }

    #[test]
    fn a_yearless_date_counts_only_when_a_birth_date_was_asked() {
        let asked = PendingQuestion::BirthDate { traveller: 0 };
        let read_as =
            |pending: &PendingQuestion| read("14 de mayo", pending, Language::Es, NumericOrder::DayMonth, today());
        assert_eq!(read_as(&asked).details.birth_dates, [BirthDateMention::NoYear]);
        assert_eq!(read_as(&NAME).details.birth_dates, []);
        assert_eq!(read_as(&NAME).rest, "14 de mayo", "left for the rest of the engine");
    }

    #[test]
    fn what_is_not_a_name_shape_is_said() {
        assert!(!read_in("a Roma el 20", Language::Es).name_shaped);
        assert!(read_in("buscar otro vuelo", Language::Es).name_shaped, "shape alone does not decide");
        assert!(!read_in("R2D2 Pérez", Language::Es).name_shaped);
        assert_eq!(read_in("hola", Language::Es).details.names, [], "only words around names");
        assert_eq!(read_in("", Language::Es), Read { name_shaped: true, ..Read::default() });
    }
}
