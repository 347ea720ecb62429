//! Counts and amounts: number words in six languages, who travels ("2
//! adults and a child", "with my wife and our baby", "somos 3", "for 4
//! people") and the budget ("under $300", "menos de 200 euros", "max 500€",
//! "até 300 reais").

use rust_decimal::Decimal;

use super::phrases::{Phrases, mark};
use super::text::{Kind, Token};
use crate::chat::model::PassengerMention;
use crate::flights::model::Money;
use std::sync::LazyLock;

/// Folded number words one to ten (articles that also mean "one" included).
const NUMBER_WORDS: &[(&str, u32)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("uno", 1),
    ("una", 1),
    ("un", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("diez", 10),
    ("une", 1),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("sept", 7),
    ("huit", 8),
    ("neuf", 9),
    ("dix", 10),
    ("ein", 1),
    ("eine", 1),
    ("einen", 1),
    ("einem", 1),
    ("einer", 1),
    ("eins", 1),
    ("zwei", 2),
    ("drei", 3),
    ("vier", 4),
    ("funf", 5),
    ("fuenf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("zehn", 10),
    ("due", 2),
    ("tre", 3),
    ("quattro", 4),
    ("cinque", 5),
    ("sei", 6),
    ("sette", 7),
    ("otto", 8),
    ("nove", 9),
    ("dieci", 10),
    ("um", 1),
    ("uma", 1),
    ("dois", 2),
    ("duas", 2),
    ("quatro", 4),
    ("sete", 7),
    ("oito", 8),
    ("dez", 10),
];

/// The value of a folded number word.
pub(crate) fn number_word(word: &str) -> Option<u32> {
    NUMBER_WORDS.iter().find(|(w, _)| *w == word).map(|(_, n)| *n)
}

/// A count at `i`: digits, a number word, or "a"/"an" when `articles`.
pub(crate) fn count_at(tokens: &[Token], i: usize, articles: bool) -> Option<u32> {
    let token = tokens.get(i)?;
    token
        .number()
        .filter(|_| token.norm.len() <= 2)
        .or_else(|| token.is_word().then(|| number_word(&token.norm)).flatten())
        .or_else(|| (articles && (token.is("a") || token.is("an"))).then_some(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Adult,
    Child,
    Infant,
    People,
}

/// Nouns for travellers: (folded word, who, plural).
const NOUNS: &[(&str, Who, bool)] = &[
    ("adult", Who::Adult, false),
    ("adults", Who::Adult, true),
    ("grownups", Who::Adult, true),
    ("adulto", Who::Adult, false),
    ("adultos", Who::Adult, true),
    ("adulte", Who::Adult, false),
    ("adultes", Who::Adult, true),
    ("erwachsene", Who::Adult, true),
    ("erwachsener", Who::Adult, false),
    ("erwachsenen", Who::Adult, true),
    ("adulti", Who::Adult, true),
    ("child", Who::Child, false),
    ("children", Who::Child, true),
    ("kid", Who::Child, false),
    ("kids", Who::Child, true),
    ("nino", Who::Child, false),
    ("ninos", Who::Child, true),
    ("nina", Who::Child, false),
    ("ninas", Who::Child, true),
    ("menor", Who::Child, false),
    ("menores", Who::Child, true),
    ("hijo", Who::Child, false),
    ("hija", Who::Child, false),
    ("hijos", Who::Child, true),
    ("enfant", Who::Child, false),
    ("enfants", Who::Child, true),
    ("fils", Who::Child, false),
    ("fille", Who::Child, false),
    ("kind", Who::Child, false),
    ("kinder", Who::Child, true),
    ("kindern", Who::Child, true),
    ("sohn", Who::Child, false),
    ("tochter", Who::Child, false),
    ("bambino", Who::Child, false),
    ("bambina", Who::Child, false),
    ("bambini", Who::Child, true),
    ("figlio", Who::Child, false),
    ("figlia", Who::Child, false),
    ("figli", Who::Child, true),
    ("crianca", Who::Child, false),
    ("criancas", Who::Child, true),
    ("filho", Who::Child, false),
    ("filha", Who::Child, false),
    ("filhos", Who::Child, true),
    ("son", Who::Child, false),
    ("daughter", Who::Child, false),
    ("sons", Who::Child, true),
    ("daughters", Who::Child, true),
    ("infant", Who::Infant, false),
    ("infants", Who::Infant, true),
    ("baby", Who::Infant, false),
    ("babies", Who::Infant, true),
    ("babys", Who::Infant, true),
    ("toddler", Who::Infant, false),
    ("bebe", Who::Infant, false),
    ("bebes", Who::Infant, true),
    ("nourrisson", Who::Infant, false),
    ("kleinkind", Who::Infant, false),
    ("saugling", Who::Infant, false),
    ("neonato", Who::Infant, false),
    ("neonati", Who::Infant, true),
    ("neonata", Who::Infant, false),
    ("lattante", Who::Infant, false),
    ("people", Who::People, true),
    ("persons", Who::People, true),
    ("person", Who::People, false),
    ("passengers", Who::People, true),
    ("passenger", Who::People, false),
    ("pax", Who::People, true),
    ("tix", Who::People, true),
    ("pasajes", Who::People, true),
    ("boletos", Who::People, true),
    ("plazas", Who::People, true),
    ("asientos", Who::People, true),
    ("places", Who::People, true),
    ("platze", Who::People, true),
    ("posti", Who::People, true),
    ("lugares", Who::People, true),
    ("travellers", Who::People, true),
    ("travelers", Who::People, true),
    ("tickets", Who::People, true),
    ("seats", Who::People, true),
    ("personas", Who::People, true),
    ("persona", Who::People, false),
    ("pasajeros", Who::People, true),
    ("pasajero", Who::People, false),
    ("viajeros", Who::People, true),
    ("billetes", Who::People, true),
    ("personnes", Who::People, true),
    ("personne", Who::People, false),
    ("passagers", Who::People, true),
    ("voyageurs", Who::People, true),
    ("billets", Who::People, true),
    ("personen", Who::People, true),
    ("leute", Who::People, true),
    ("passagiere", Who::People, true),
    ("reisende", Who::People, true),
    ("tickets", Who::People, true),
    ("persone", Who::People, true),
    ("passeggeri", Who::People, true),
    ("viaggiatori", Who::People, true),
    ("biglietti", Who::People, true),
    ("pessoas", Who::People, true),
    ("pessoa", Who::People, false),
    ("passageiros", Who::People, true),
    ("viajantes", Who::People, true),
    ("passagens", Who::People, true),
];

/// Companions: one more adult each ("with my wife").
const ADULT_COMPANIONS: &[&str] = &[
    "wife",
    "husband",
    "partner",
    "girlfriend",
    "boyfriend",
    "friend",
    "fiance",
    "fiancee",
    "mom",
    "mum",
    "mother",
    "dad",
    "father",
    "brother",
    "sister",
    "colleague",
    "boss",
    "esposa",
    "mujer",
    "marido",
    "esposo",
    "novia",
    "novio",
    "pareja",
    "amigo",
    "amiga",
    "madre",
    "padre",
    "mama",
    "papa",
    "hermano",
    "hermana",
    "femme",
    "mari",
    "copain",
    "copine",
    "ami",
    "amie",
    "compagnon",
    "compagne",
    "mere",
    "pere",
    "frere",
    "soeur",
    "frau",
    "mann",
    "freundin",
    "freund",
    "partnerin",
    "mutter",
    "vater",
    "bruder",
    "schwester",
    "moglie",
    "marito",
    "ragazza",
    "ragazzo",
    "fidanzata",
    "fidanzato",
    "compagno",
    "compagna",
    "amico",
    "fratello",
    "sorella",
    "namorada",
    "namorado",
    "mae",
    "pai",
    "irmao",
    "irma",
];

/// What makes a noun a companion rather than a passing word.
const COMPANION_LEADS: &[&str] = &[
    "my", "our", "the", "with", "mi", "mis", "nuestro", "nuestra", "nuestros", "con", "ma", "mon", "mes", "notre",
    "nos", "avec", "meine", "meiner", "meinem", "meinen", "mein", "unser", "unserem", "unseren", "unsere", "unserer",
    "mit", "mia", "mio", "miei", "mie", "nostro", "nostra", "nostri", "il", "la", "minha", "meu", "meus", "minhas",
    "nosso", "nossa", "nossos", "com", "os", "as", "el", "los", "le", "les", "die", "den", "i", "o",
];

static ALONE: LazyLock<Phrases<()>> = LazyLock::new(|| {
    Phrases::new(&[
        ("just me", ()),
        ("only me", ()),
        ("me alone", ()),
        ("just myself", ()),
        ("by myself", ()),
        ("alone", ()),
        ("solo yo", ()),
        ("yo solo", ()),
        ("yo sola", ()),
        ("solo para mi", ()),
        ("moi seul", ()),
        ("moi seule", ()),
        ("juste moi", ()),
        ("seulement moi", ()),
        ("nur ich", ()),
        ("allein", ()),
        ("alleine", ()),
        ("solo io", ()),
        ("da solo", ()),
        ("da sola", ()),
        ("so eu", ()),
        ("apenas eu", ()),
        ("sozinho", ()),
        ("sozinha", ()),
    ])
});

static PAIR: LazyLock<Phrases<()>> = LazyLock::new(|| {
    Phrases::new(&[
        ("two of us", ()),
        ("both of us", ()),
        ("my wife and i", ()),
        ("nosotros dos", ()),
        ("los dos", ()),
        ("nous deux", ()),
        ("wir zwei", ()),
        ("wir beide", ()),
        ("noi due", ()),
        ("nos dois", ()),
        ("a couple", ()),
    ])
});

/// "we are", "somos", "nous sommes", "on est", "wir sind", "siamo", before a count.
const WE_ARE: &[&[&str]] = &[
    &["we", "are"],
    &["we", "re"],
    &["there", "are"],
    &["there", "will", "be"],
    &["somos"],
    &["seremos"],
    &["vamos"],
    &["nous", "sommes"],
    &["on", "est"],
    &["on", "sera"],
    &["wir", "sind"],
    &["siamo"],
    &["siamo", "in"],
    &["saremo"],
    &["make", "it"],
    &["for"],
    &["para"],
    &["pour"],
    &["fur"],
    &["fuer"],
    &["per"],
];

/// Whether a folded word counts travellers ("adults", "personas").
pub(crate) fn is_traveller_noun(word: &str) -> bool {
    noun_of(word).is_some()
}

fn noun_of(word: &str) -> Option<(Who, bool)> {
    NOUNS.iter().find(|(w, _, _)| *w == word).map(|(_, who, plural)| (*who, *plural))
}

/// Folded words the passenger tables use.
pub(crate) fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = NUMBER_WORDS.iter().map(|(w, _)| *w).collect();
    words.extend(NOUNS.iter().map(|(w, _, _)| *w));
    words.extend(ADULT_COMPANIONS);
    words.extend(ALONE.words());
    words.extend(PAIR.words());
    words
}

/// Who travels, from the tokens `used` leaves free. `asked` means the
/// traveller was just asked how many children: a bare count answers it.
pub(crate) fn passengers(tokens: &[Token], used: &mut [bool], asked: bool) -> PassengerMention {
    let mut mention = PassengerMention::default();
    let mut adults = 0u8;
    let mut children = 0u8;
    let mut infants = 0u8;
    let mut people: Option<u8> = None;
    let mut counted = false;
    let mut companions = 0u8;
    let mut children_counted = false;
    let mut i = 0;
    while i < tokens.len() {
        if used[i] {
            i += 1;
            continue;
        }
        // A count and a noun: "2 adults", "un niño", "zwei Erwachsene", "a child".
        if let Some(count) = count_at(tokens, i, true) {
            let mut j = i + 1;
            // "2 small kids", "dos niños pequeños": one adjective may sit between.
            if tokens
                .get(j)
                .is_some_and(|t| ["small", "little", "young", "kleine", "kleinen", "petits"].contains(&t.norm.as_str()))
            {
                j += 1;
            }
            let kind_of = tokens.get(j).is_some_and(|t| t.is("kind")) && tokens.get(j + 1).is_some_and(|t| t.is("of"));
            if let Some((who, _)) = tokens.get(j).filter(|t| !used[j] && t.is_word()).and_then(|t| noun_of(&t.norm))
                && (1..=9).contains(&count)
                && !kind_of
            {
                let count = count as u8;
                match who {
                    Who::Adult => adults = adults.saturating_add(count),
                    Who::Child => {
                        children = children.saturating_add(count);
                        children_counted = true;
                    }
                    Who::Infant => infants = infants.saturating_add(count),
                    Who::People => people = Some(count),
                }
                counted = true;
                mark(used, i, j + 1);
                i = j + 1;
                continue;
            }
        }
        // "we are 3", "somos 4", "make it 4", "for two".
        if let Some((end, count)) = WE_ARE.iter().find_map(|phrase| {
            let end = super::phrases::matches_at(tokens, i, phrase)?;
            let count = count_at(tokens, end, false)?;
            Some((end, count))
        }) && (1..=9).contains(&count)
            && is_free(used, i, end + 1)
        {
            let after = tokens.get(end + 1);
            if after.is_some_and(|t| t.is_word() && noun_of(&t.norm).is_some()) {
                // "somos 3 adultos": the count and its noun are read at the count.
                i += 1;
                continue;
            }
            let lone = used.get(end + 1).copied().unwrap_or(false)
                || after.is_none_or(|t| {
                    matches!(t.kind, Kind::Punct(c) if c != '$' && c != '€' && c != '£' && c != '/')
                        || ["please", "por", "s", "bitte", "of", "in", "y", "and", "et", "und", "e"]
                            .contains(&t.norm.as_str())
                });
            // "for 2" alone is a headcount, "for 200 euros" or "for 2 nights" is not.
            let needs_lone =
                matches!(tokens[i].norm.as_str(), "for" | "para" | "pour" | "fur" | "fuer" | "per" | "make");
            if !needs_lone || lone {
                people = Some(count as u8);
                counted = true;
                mark(used, i, end + 1);
                i = end + 1;
                continue;
            }
        }
        let token = &tokens[i];
        if token.is_word() {
            let lead = i.checked_sub(1).is_some_and(|p| COMPANION_LEADS.contains(&tokens[p].norm.as_str()));
            if lead && ADULT_COMPANIONS.contains(&token.norm.as_str()) {
                companions = companions.saturating_add(1);
                mark(used, i, i + 1);
            } else if lead && let Some((who, plural)) = noun_of(&token.norm) {
                match (who, plural) {
                    (Who::Child, true) => mention.children_uncounted = true,
                    (Who::Child, false) => {
                        children = children.saturating_add(1);
                        children_counted = true;
                    }
                    (Who::Infant, _) => infants = infants.saturating_add(1),
                    _ => {}
                }
                if who != Who::People && who != Who::Adult {
                    // A child or baby came with someone: the speaker.
                    counted = true;
                }
                mark(used, i, i + 1);
            }
        }
        i += 1;
    }
    if let Some((_, start, end)) = PAIR.find(tokens, used) {
        mark(used, start, end);
        people = Some(2);
        counted = true;
    }
    if let Some((_, start, end)) = ALONE.find(tokens, used) {
        mark(used, start, end);
        adults = adults.max(1);
        counted = true;
    }
    if asked && !counted {
        // The question was how many children: a bare number answers it.
        let words: Vec<&Token> = tokens.iter().filter(|t| !matches!(t.kind, Kind::Punct(_))).collect();
        if let [only] = words.as_slice()
            && let Some(count) = only.number().or_else(|| number_word(&only.norm)).filter(|n| *n <= 9)
        {
            mention.children = Some(count as u8);
            return mention;
        }
    }
    if children_counted {
        mention.children_uncounted = false;
    }
    if companions > 0 && adults == 0 {
        adults = 1 + companions;
    } else if companions > 0 {
        adults = adults.max(1 + companions);
    }
    if let Some(total) = people {
        let others = children.saturating_add(infants);
        adults = if total > others && (children > 0 || infants > 0) { total - others } else { total };
    }
    if counted || companions > 0 {
        if adults == 0 && (children > 0 || infants > 0 || mention.children_uncounted) {
            adults = 1;
        }
        mention.adults = (adults > 0).then_some(adults);
        mention.children = (children > 0 || children_counted).then_some(children);
        mention.infants = (infants > 0).then_some(infants);
    } else if mention.children_uncounted {
        mention.adults = None;
    }
    mention
}

fn is_free(used: &[bool], start: usize, end: usize) -> bool {
    used.get(start..end).is_some_and(|s| s.iter().all(|u| !u))
}

/// Words that introduce a ceiling.
static BUDGET_LEADS: LazyLock<Phrases<()>> = LazyLock::new(|| {
    Phrases::new(&[
        ("under", ()),
        ("below", ()),
        ("less than", ()),
        ("max", ()),
        ("maximum", ()),
        ("up to", ()),
        ("no more than", ()),
        ("not more than", ()),
        ("at most", ()),
        ("budget", ()),
        ("budget of", ()),
        ("budget is", ()),
        ("my budget is", ()),
        ("within", ()),
        ("cheaper than", ()),
        ("menos de", ()),
        ("maximo", ()),
        ("hasta", ()),
        ("no mas de", ()),
        ("presupuesto", ()),
        ("presupuesto de", ()),
        ("por debajo de", ()),
        ("moins de", ()),
        ("jusqu a", ()),
        ("pas plus de", ()),
        ("au maximum", ()),
        ("maxi", ()),
        ("unter", ()),
        ("bis", ()),
        ("bis zu", ()),
        ("hochstens", ()),
        ("hoechstens", ()),
        ("maximal", ()),
        ("nicht mehr als", ()),
        ("weniger als", ()),
        ("meno di", ()),
        ("massimo", ()),
        ("al massimo", ()),
        ("fino a", ()),
        ("sotto i", ()),
        ("sotto", ()),
        ("entro", ()),
        ("ate", ()),
        ("no maximo", ()),
        ("orcamento", ()),
        ("orcamento de", ()),
        ("abaixo de", ()),
    ])
});

/// Currency words and signs → ISO code.
const CURRENCIES: &[(&str, &str)] = &[
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("usd", "USD"),
    ("dollars", "USD"),
    ("dollar", "USD"),
    ("dolares", "USD"),
    ("dollari", "USD"),
    ("bucks", "USD"),
    ("eur", "EUR"),
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("gbp", "GBP"),
    ("pounds", "GBP"),
    ("pound", "GBP"),
    ("quid", "GBP"),
    ("libras", "GBP"),
    ("livres", "GBP"),
    ("pfund", "GBP"),
    ("sterline", "GBP"),
    ("brl", "BRL"),
    ("reais", "BRL"),
    ("real", "BRL"),
    ("mxn", "MXN"),
    ("pesos", "MXN"),
    ("chf", "CHF"),
    ("francs", "CHF"),
    ("franken", "CHF"),
    ("cad", "CAD"),
    ("aud", "AUD"),
    ("jpy", "JPY"),
    ("yen", "JPY"),
];

fn currency_at(tokens: &[Token], i: usize) -> Option<(&'static str, usize)> {
    let token = tokens.get(i)?;
    // "R$ 300" is reais, "US$" dollars.
    if (token.is("r") || token.is("us") || token.is("ca") || token.is("a"))
        && tokens.get(i + 1).is_some_and(|t| t.is_punct('$'))
    {
        let code = match token.norm.as_str() {
            "r" => "BRL",
            "ca" => "CAD",
            "a" => "AUD",
            _ => "USD",
        };
        return Some((code, i + 2));
    }
    CURRENCIES.iter().find(|(w, _)| *w == token.norm).map(|(_, code)| (*code, i + 1))
}

fn amount_at(tokens: &[Token], i: usize) -> Option<u32> {
    match &tokens.get(i)?.kind {
        Kind::Number { value, suffix } if suffix.is_empty() || suffix == "k" => {
            Some(if suffix == "k" { value.saturating_mul(1000) } else { *value })
        }
        Kind::Number { value, suffix }
            if ["eur", "usd", "gbp", "brl", "euros", "euro", "dollars"].contains(&suffix.as_str()) =>
        {
            Some(*value)
        }
        _ => None,
    }
}

/// The budget in the free tokens; `default_currency` when a ceiling has no currency.
pub(crate) fn budget(tokens: &[Token], used: &mut [bool], default_currency: &str) -> Option<Money> {
    for i in 0..tokens.len() {
        if used[i] {
            continue;
        }
        let lead_end = BUDGET_LEADS.at(tokens, i).map(|(_, end)| end);
        let start = lead_end.unwrap_or(i);
        // Sign first: "$300", "R$ 300", "€ 300".
        let (before, amount_index) = match currency_at(tokens, start) {
            Some((code, end)) => (Some(code), end),
            None => (None, start),
        };
        let Some(amount) = amount_at(tokens, amount_index).filter(|_| !used[amount_index]) else { continue };
        let suffix_currency = match &tokens[amount_index].kind {
            Kind::Number { suffix, .. } if !suffix.is_empty() && suffix != "k" => {
                CURRENCIES.iter().find(|(w, _)| *w == suffix).map(|(_, c)| (*c, amount_index + 1))
            }
            _ => None,
        };
        let after = suffix_currency.or_else(|| currency_at(tokens, amount_index + 1));
        let currency = before.or(after.map(|(c, _)| c));
        if lead_end.is_none() && currency.is_none() {
            continue;
        }
        // A ceiling with no currency still needs to look like money, not "under 2 hours".
        if currency.is_none()
            && (amount < 10
                || tokens.get(amount_index + 1).is_some_and(|t| t.is_word() && super::is_unit_word(&t.norm)))
        {
            continue;
        }
        let end = after.map(|(_, e)| e).unwrap_or(amount_index + 1);
        mark(used, i, end);
        return Some(Money::new(Decimal::from(amount), currency.unwrap_or(default_currency)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn who(text: &str) -> PassengerMention {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        passengers(&tokens, &mut used, false)
    }

    fn p(adults: u8, children: Option<u8>, infants: Option<u8>) -> PassengerMention {
        PassengerMention { adults: Some(adults), children, infants, children_uncounted: false }
    }

    #[test]
    fn counts_and_nouns_in_every_language() {
        assert_eq!(who("2 adults and a child"), p(2, Some(1), None));
        assert_eq!(who("dos adultos y un niño"), p(2, Some(1), None));
        assert_eq!(who("deux adultes"), p(2, None, None));
        assert_eq!(who("zwei Erwachsene und ein Kind"), p(2, Some(1), None));
        assert_eq!(who("due adulti"), p(2, None, None));
        assert_eq!(who("dois adultos e uma criança"), p(2, Some(1), None));
        assert_eq!(who("somos 3 adultos y un niño"), p(3, Some(1), None));
        assert_eq!(who("for 4 people"), p(4, None, None));
        assert_eq!(who("make it 4 people"), p(4, None, None));
        assert_eq!(who("we are 3"), p(3, None, None));
        assert_eq!(who("nous sommes 4"), p(4, None, None));
        assert_eq!(who("4 people including 2 kids"), p(2, Some(2), None));
    }

    #[test]
    fn companions_count_the_speaker() {
        assert_eq!(who("with my wife and our baby"), p(2, None, Some(1)));
        assert_eq!(who("me and my husband"), p(2, None, None));
        assert_eq!(who("con mi esposa"), p(2, None, None));
        assert_eq!(who("avec ma femme et mon fils"), p(2, Some(1), None));
        assert_eq!(who("just me"), p(1, None, None));
        let kids = who("with the kids");
        assert!(kids.children_uncounted);
        assert_eq!(kids.adults, Some(1));
        assert_eq!(who("a flight for 200 euros"), PassengerMention::default());
        assert_eq!(who("kind of cheap"), PassengerMention::default());
    }

    fn money(text: &str) -> Option<Money> {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        budget(&tokens, &mut used, "EUR")
    }

    #[test]
    fn budgets_with_currency() {
        let m = |amount: i64, currency: &str| Some(Money::new(Decimal::from(amount), currency));
        assert_eq!(money("under $300"), m(300, "USD"));
        assert_eq!(money("less than 200 euros"), m(200, "EUR"));
        assert_eq!(money("menos de 200 euros"), m(200, "EUR"));
        assert_eq!(money("max 500€"), m(500, "EUR"));
        assert_eq!(money("moins de 300 €"), m(300, "EUR"));
        assert_eq!(money("unter 400 Euro"), m(400, "EUR"));
        assert_eq!(money("meno di 250 euro"), m(250, "EUR"));
        assert_eq!(money("até 300 reais"), m(300, "BRL"));
        assert_eq!(money("£200"), m(200, "GBP"));
        assert_eq!(money("R$ 1.500"), m(1500, "BRL"));
        assert_eq!(money("under 300"), m(300, "EUR"));
        assert_eq!(money("under 2 hours"), None);
        assert_eq!(money("2 adults"), None);
    }
}
