//! Places in a message: city and airport names in local and foreign forms
//! (the reference data's curated names in six languages, airports' cities
//! and distinctive airport names), IATA codes, small typos, and the roles the
//! sentence gives them ("from X to Y", "de X a Y", "X nach Y", "X - Y").
//!
//! Only airports with scheduled service (large and medium) lend their names,
//! and a name that is also an ordinary word ("nice", "split", "male") counts
//! only where a place is expected — after "to"/"from"/"nach"/"desde"…, or as
//! the whole answer to "where to?". Typos are corrected only in those
//! positions and only when one major place is clearly closest; otherwise the
//! text comes back as [`PlaceMention::Unknown`] with suggestions, never as a
//! silent guess.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::text::{Kind, Token};
use crate::chat::model::{PendingQuestion, PlaceMention, PlaceRole};
use crate::reference::{AirportSize, ReferenceData, fold};

/// Curated names and multi-airport cities.
const CURATED: u16 = 100;
/// A large scheduled airport's city.
const LARGE_CITY: u16 = 60;
/// A large scheduled airport's own name ("heathrow").
const LARGE_NAME: u16 = 50;
/// A medium scheduled airport's city.
const MEDIUM_CITY: u16 = 30;
/// A medium scheduled airport's own name.
const MEDIUM_NAME: u16 = 25;
/// The weight from which a name is a major place (typo-correctable, found anywhere).
const MAJOR: u16 = LARGE_CITY;

/// Other names travellers use, each for one code.
const ALIASES: &[(&str, &str)] = &[
    ("frankfurt", "FRA"),
    ("palma", "PMI"),
    ("medellin", "MDE"),
    ("fiumicino", "FCO"),
    ("ciampino", "CIA"),
    ("guarulhos", "GRU"),
    ("congonhas", "CGH"),
    ("galeao", "GIG"),
    ("barajas", "MAD"),
    ("el prat", "BCN"),
    ("schiphol", "AMS"),
    ("malpensa", "MXP"),
    ("linate", "LIN"),
    ("roissy", "CDG"),
    ("kastrup", "CPH"),
    ("arlanda", "ARN"),
    ("zaventem", "BRU"),
    ("ezeiza", "EZE"),
    ("aeroparque", "AEP"),
    ("nyc", "NYC"),
    ("new york city", "NYC"),
    ("nova york", "NYC"),
    ("nova iorque", "NYC"),
    ("big apple", "NYC"),
    ("la", "LAX"),
    ("sf", "SFO"),
    ("san fran", "SFO"),
    ("san francisco", "SFO"),
    ("rio", "RIO"),
    ("sampa", "SAO"),
    ("sao paulo", "SAO"),
    ("mexico df", "MEX"),
    ("cdmx", "MEX"),
    ("ciudad de mexico", "MEX"),
    ("mexico city", "MEX"),
    ("washington dc", "WAS"),
    ("dc", "WAS"),
    ("st petersburg", "LED"),
    ("saint petersburg", "LED"),
    ("san petersburgo", "LED"),
    ("bali", "DPS"),
    ("santiago de chile", "SCL"),
    ("santiago do chile", "SCL"),
    ("santiago du chili", "SCL"),
    ("santiago del cile", "SCL"),
    ("la habana", "HAV"),
    ("habana", "HAV"),
    ("el cairo", "CAI"),
    ("le caire", "CAI"),
    ("kairo", "CAI"),
    ("il cairo", "CAI"),
    ("tenerife", "TCI"),
    ("gran canaria", "LPA"),
    ("las palmas", "LPA"),
    ("mallorca", "PMI"),
    ("majorque", "PMI"),
    ("maiorca", "PMI"),
    ("palma de mallorca", "PMI"),
    ("ibiza", "IBZ"),
    ("menorca", "MAH"),
    ("malaga", "AGP"),
    ("cancun", "CUN"),
    ("punta cana", "PUJ"),
    ("orlando", "ORL"),
    ("las vegas", "LAS"),
    ("vegas", "LAS"),
    ("madeira", "FNC"),
    ("funchal", "FNC"),
    ("acores", "PDL"),
    ("azores", "PDL"),
    ("ponta delgada", "PDL"),
    ("abu dhabi", "AUH"),
    ("doha", "DOH"),
    ("tel aviv", "TLV"),
    ("hongkong", "HKG"),
    ("munchen", "MUC"),
    ("muenchen", "MUC"),
    ("koln", "CGN"),
    ("koeln", "CGN"),
    ("dusseldorf", "DUS"),
    ("duesseldorf", "DUS"),
    ("zurich", "ZRH"),
    ("zuerich", "ZRH"),
    ("geneve", "GVA"),
    ("genf", "GVA"),
    ("ginevra", "GVA"),
    ("wien", "VIE"),
    ("viena", "VIE"),
    ("vienne", "VIE"),
    ("praha", "PRG"),
    ("lisbonne", "LIS"),
    ("oporto", "OPO"),
    ("porto", "OPO"),
    ("sevilla", "SVQ"),
    ("seville", "SVQ"),
    ("bruxelles", "BRU"),
    ("brussel", "BRU"),
    ("bruselas", "BRU"),
    ("amsterdam", "AMS"),
    ("dubai", "DXB"),
    ("marrakech", "RAK"),
    ("marrakesh", "RAK"),
    ("napoli", "NAP"),
    ("neapel", "NAP"),
    ("venezia", "VCE"),
    ("venedig", "VCE"),
    ("firenze", "FLR"),
    ("florenz", "FLR"),
    ("torino", "TRN"),
    ("turin", "TRN"),
    ("milano", "MIL"),
    ("bombay", "BOM"),
    ("peking", "BJS"),
    ("pekin", "BJS"),
    ("nueva delhi", "DEL"),
    ("new delhi", "DEL"),
    ("cape town", "CPT"),
    ("ciudad del cabo", "CPT"),
    ("le cap", "CPT"),
    ("kapstadt", "CPT"),
    ("citta del capo", "CPT"),
    ("cidade do cabo", "CPT"),
];

/// Names several real places share, with the candidates most likely first.
const AMBIGUOUS: &[(&str, &[&str])] = &[
    ("santiago", &["SCL", "SCQ", "SCU", "STI"]),
    ("san jose", &["SJO", "SJC"]),
    ("portland", &["PDX", "PWM"]),
    ("birmingham", &["BHX", "BHM"]),
    ("san juan", &["SJU", "UAQ"]),
    ("cordoba", &["COR", "ODB"]),
];

/// Words that settle which of several places: a country, region or part of a name.
const QUALIFIERS: &[(&str, &str)] = &[
    ("chile", "CL"),
    ("chili", "CL"),
    ("cile", "CL"),
    ("spain", "ES"),
    ("espana", "ES"),
    ("espagne", "ES"),
    ("spanien", "ES"),
    ("spagna", "ES"),
    ("espanha", "ES"),
    ("galicia", "ES"),
    ("compostela", "ES"),
    ("cuba", "CU"),
    ("kuba", "CU"),
    ("dominican", "DO"),
    ("dominicana", "DO"),
    ("usa", "US"),
    ("us", "US"),
    ("america", "US"),
    ("eeuu", "US"),
    ("eua", "US"),
    ("states", "US"),
    ("unidos", "US"),
    ("unis", "US"),
    ("california", "US"),
    ("oregon", "US"),
    ("maine", "US"),
    ("alabama", "US"),
    ("costa", "CR"),
    ("rica", "CR"),
    ("philippines", "PH"),
    ("filipinas", "PH"),
    ("uk", "GB"),
    ("england", "GB"),
    ("inglaterra", "GB"),
    ("angleterre", "GB"),
    ("inghilterra", "GB"),
    ("britain", "GB"),
    ("argentina", "AR"),
    ("argentine", "AR"),
    ("argentinien", "AR"),
    ("puerto", "PR"),
    ("rico", "PR"),
    ("mexico", "MX"),
    ("mexique", "MX"),
    ("mexiko", "MX"),
    ("messico", "MX"),
];

/// Names inside a qualifier that point at one code directly ("Portland, Oregon").
const QUALIFIER_CODES: &[(&str, &str)] = &[
    ("oregon", "PDX"),
    ("maine", "PWM"),
    ("california", "SJC"),
    ("alabama", "BHM"),
    ("compostela", "SCQ"),
    ("galicia", "SCQ"),
];

/// Ordinary words that are also names of scheduled airports' towns or parts
/// of airport names: they never count as places outside a place position.
const COMMON_WORDS: &[&str] = &[
    "nice",
    "male",
    "split",
    "bath",
    "mar",
    "dia",
    "man",
    "van",
    "mobile",
    "eagle",
    "natal",
    "sale",
    "hope",
    "orange",
    "reading",
    "best",
    "college",
    "mount",
    "page",
    "sun",
    "city",
    "university",
    "independence",
    "fortune",
    "fair",
    "gay",
    "can",
    "may",
    "grand",
    "del",
    "big",
    "river",
    "lake",
    "island",
    "islands",
    "bay",
    "beach",
    "valley",
    "springs",
    "falls",
    "port",
    "fort",
    "north",
    "south",
    "east",
    "west",
    "central",
    "centre",
    "center",
    "santa",
    "san",
    "saint",
    "st",
    "sao",
    "los",
    "las",
    "el",
    "la",
    "le",
    "les",
    "de",
    "do",
    "da",
    "di",
    "du",
    "des",
    "al",
    "new",
    "old",
    "great",
    "long",
    "little",
    "green",
    "red",
    "white",
    "black",
    "rock",
    "palm",
    "love",
    "field",
    "union",
    "victoria",
    "alexandria",
    "georgetown",
    "kingston",
    "mesa",
    "como",
    "para",
    "sur",
    "norte",
    "lima",
    "cancel",
    "status",
    "help",
    "book",
    "bus",
    "any",
    "all",
    "not",
    "and",
    "the",
    "for",
    "one",
    "two",
    "yes",
    "oui",
    "ok",
    "okay",
    "hello",
    "hola",
    "ciao",
    "hallo",
    "oi",
    "ola",
    "moin",
    "hey",
    "hi",
    "flight",
    "flights",
    "vuelo",
    "vuelos",
    "vol",
    "vols",
    "flug",
    "fluge",
    "volo",
    "voli",
    "voo",
    "voos",
    "trip",
    "viaje",
    "voyage",
    "reise",
    "viaggio",
    "viagem",
    "ticket",
    "tickets",
    "please",
    "thanks",
    "price",
    "cheap",
    "direct",
    "morning",
    "evening",
    "night",
    "noon",
    "time",
    "date",
    "day",
    "week",
    "month",
    "year",
    "home",
    "casa",
    "maison",
    "hause",
    "house",
    "work",
    "office",
    "airport",
    "aeropuerto",
    "aeroport",
    "flughafen",
    "aeroporto",
    "people",
    "adult",
    "adults",
    "kids",
    "child",
    "baby",
    "wife",
    "husband",
    "family",
    "familia",
    "famille",
    "familie",
    "famiglia",
    "amigos",
    "friends",
    "vacation",
    "holiday",
    "holidays",
    "vacaciones",
    "vacances",
    "urlaub",
    "vacanze",
    "ferias",
    "business",
    "economy",
    "first",
    "premium",
    "class",
    "seat",
    "window",
    "aisle",
    "bag",
    "bags",
    "luggage",
    "hotel",
    "car",
    "train",
    "bus",
    "beach",
    "playa",
    "plage",
    "strand",
    "spiaggia",
    "praia",
    "mountains",
    "sea",
    "mer",
    "meer",
    "mare",
    "ski",
    "paradise",
    "sunny",
    "warm",
    "somewhere",
    "anywhere",
    "everywhere",
    "there",
    "here",
    "aqui",
    "ici",
    "hier",
    "qui",
    "alli",
    "la",
    "deutschland",
    "asia",
    "europe",
    "europa",
    "africa",
    "france",
    "italy",
    "italia",
    "spain",
    "germany",
    "portugal",
    "brazil",
    "brasil",
    "mexico",
    "canada",
    "japan",
    "china",
    "india",
    "morocco",
    "greece",
    "turkey",
    "egypt",
    "peru",
    "colombia",
    "argentina",
    "chile",
    "cuba",
    "usa",
    "uk",
    "england",
    "ireland",
    "scotland",
    "wales",
    "hawaii",
    "florida",
    "texas",
    "california",
    "man",
    "wolf",
    "bear",
    "deer",
    "moose",
    "elk",
    "fox",
    "hawk",
    "eagle",
    "leon",
    "marco",
    "mario",
    "anna",
    "maria",
    "jose",
    "juan",
    "luis",
    "carlos",
    "pedro",
    "paul",
    "pau",
    "gap",
    "bar",
    "ende",
    "end",
    "max",
    "von",
    "aus",
    "ab",
    "vol",
    "sale",
    "salt",
    "mine",
    "mines",
];

/// Prepositions and verbs around a place that give it a role. `true` marks
/// markers strong enough that an unknown word after them is reported as a
/// possible misspelt place.
const ORIGIN_MARKERS: &[(&str, bool)] = &[
    ("from", true),
    ("frm", true),
    ("leaving", true),
    ("departing", true),
    ("desde", true),
    ("saliendo", true),
    ("depuis", true),
    ("von", true),
    ("ab", true),
    ("partindo", false),
    ("saindo", false),
    ("partendo", false),
    ("de", false),
    ("del", false),
    ("du", false),
    ("d", false),
    ("des", false),
    ("aus", false),
    ("da", false),
    ("dal", false),
    ("dalla", false),
    ("do", false),
];
const DESTINATION_MARKERS: &[(&str, bool)] = &[
    ("to", true),
    ("into", true),
    ("towards", true),
    ("hasta", true),
    ("hacia", true),
    ("nach", true),
    ("para", true),
    ("pra", true),
    ("vers", true),
    ("verso", true),
    ("ate", true),
    ("→", true),
    ("pour", false),
    ("per", false),
    ("a", false),
    ("al", false),
    ("au", false),
    ("aux", false),
    ("ao", false),
    ("zu", false),
    ("zum", false),
    ("en", false),
    ("ad", false),
];
/// Verbs of going: after them a weak "a"/"à"/"en" is a strong destination marker.
const MOTION_VERBS: &[&str] = &[
    "go",
    "fly",
    "ir",
    "volar",
    "viajar",
    "vamos",
    "voy",
    "aller",
    "voler",
    "voyager",
    "partir",
    "rentrer",
    "andare",
    "volare",
    "viaggiare",
    "vado",
    "fliegen",
    "reisen",
    "viajar",
    "voar",
    "vou",
    "ir",
    "irmos",
    "llegar",
    "arriver",
    "arrivare",
    "chegar",
    "venir",
    "get",
];
/// Words skipped right after a marker ("to the", "para o").
const ARTICLES: &[&str] = &["the", "o", "el", "la", "le", "l", "il", "lo", "dem", "der"];

#[derive(Debug)]
struct Candidate {
    code: String,
    weight: u16,
}

#[derive(Debug)]
struct Index {
    /// Folded name → candidates, heaviest first (one entry per code).
    names: HashMap<String, Vec<Candidate>>,
    /// Names to correct typos against, by length in bytes.
    fuzzy: Vec<Vec<(String, u16)>>,
    /// Most words in a name.
    max_words: usize,
    /// Ordinary words (never a place outside a place position).
    common: HashSet<&'static str>,
    /// Country by code.
    country: HashMap<String, String>,
    /// Folded words of each code's names (airport, city, curated), to tell candidates apart.
    name_words: HashMap<String, HashSet<String>>,
}

const GENERIC: &[&str] = &[
    "airport",
    "international",
    "intl",
    "regional",
    "municipal",
    "national",
    "domestic",
    "aeropuerto",
    "aeroporto",
    "aeroport",
    "flughafen",
    "airfield",
    "field",
    "county",
    "air",
    "base",
    "terminal",
    "jetport",
    "airpark",
];

fn without_generic(name: &str) -> String {
    name.split(' ').filter(|w| !GENERIC.contains(w)).collect::<Vec<_>>().join(" ")
}

static INDEX: LazyLock<Index> = LazyLock::new(build);

fn build() -> Index {
    let data = ReferenceData::embedded();
    let mut common: HashSet<&'static str> = COMMON_WORDS.iter().copied().collect();
    for words in [
        super::super::language::all_words(),
        super::dates::vocabulary(),
        super::numbers::vocabulary(),
        super::prefs::vocabulary(),
        super::choice::vocabulary(),
        super::intent_vocabulary(),
    ] {
        common.extend(words);
    }
    let mut weights: HashMap<String, HashMap<String, u16>> = HashMap::new();
    let mut add = |name: String, code: &str, weight: u16| {
        if name.is_empty() {
            return;
        }
        let entry = weights.entry(name).or_default().entry(code.to_owned()).or_insert(0);
        *entry = (*entry).max(weight);
    };
    for (code, _, name) in data.curated_city_names() {
        add(fold(name), code, CURATED);
    }
    for city in data.cities() {
        add(fold(&city.name), &city.code, CURATED);
    }
    for (name, code) in ALIASES {
        add((*name).to_owned(), code, CURATED);
    }
    let mut country = HashMap::new();
    for airport in data.airports() {
        country.insert(airport.code.clone(), airport.country.clone());
        if !airport.scheduled || !matches!(airport.size, AirportSize::Large | AirportSize::Medium) {
            continue;
        }
        let large = airport.size == AirportSize::Large;
        let city = without_generic(&fold(&airport.city_name));
        add(city.clone(), &airport.city_code, if large { LARGE_CITY } else { MEDIUM_CITY });
        // "Toulouse/Blagnac", "Bordeaux/Merignac": the town before the slash.
        if let Some((town, _)) = airport.city_name.split_once('/') {
            add(without_generic(&fold(town)), &airport.city_code, if large { LARGE_CITY } else { MEDIUM_CITY });
        }
        let name = without_generic(&fold(&airport.name));
        let name_weight = if large { LARGE_NAME } else { MEDIUM_NAME };
        if name != city && name.len() >= 4 {
            add(name.clone(), &airport.code, name_weight);
        }
        // The name without the city: "orly", "heathrow", "charles de gaulle".
        let rest: Vec<&str> = name.split(' ').filter(|w| !city.split(' ').any(|c| c == *w)).collect();
        let rest = rest.join(" ");
        if rest != name && rest.len() >= 4 && !common.contains(rest.as_str()) {
            add(rest, &airport.code, name_weight);
        }
    }
    for city in data.cities() {
        country.insert(city.code.clone(), city.country.clone());
    }
    // Two large airports of one town with no city code between them (Seattle:
    // SEA and Boeing Field; Atlanta: ATL and Peachtree) are one place: the
    // town's international airport wins, the other steps back.
    for (name, codes) in weights.iter_mut() {
        let top: Vec<String> = codes.iter().filter(|(_, w)| **w == LARGE_CITY).map(|(c, _)| c.clone()).collect();
        if top.len() < 2 {
            continue;
        }
        let score = |code: &str| {
            data.airport(code).map_or(0, |a| {
                let folded = fold(&a.name);
                usize::from(folded.contains("international")) + usize::from(folded.contains(name.as_str()))
            })
        };
        let Some(best) = top.iter().max_by_key(|c| (score(c), std::cmp::Reverse((*c).clone()))).cloned() else {
            continue;
        };
        let Some(best_airport) = data.airports_for(&best).first().copied() else { continue };
        for code in top.iter().filter(|c| **c != best) {
            let near =
                data.airports_for(code).first().is_some_and(|a| crate::reference::distance_km(a, best_airport) < 150.0);
            if near && score(code) < score(&best) {
                codes.insert(code.clone(), MEDIUM_CITY);
            }
        }
    }
    let mut names = HashMap::new();
    let mut fuzzy: Vec<Vec<(String, u16)>> = vec![Vec::new(); 40];
    let mut max_words = 1;
    for (name, codes) in weights {
        let mut candidates: Vec<Candidate> =
            codes.into_iter().map(|(code, weight)| Candidate { code, weight }).collect();
        candidates.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.code.cmp(&b.code)));
        let top = candidates.first().map(|c| c.weight).unwrap_or(0);
        let words = name.split(' ').count();
        max_words = max_words.max(words.min(5));
        if top >= MEDIUM_CITY
            && name.len() >= 4
            && (words > 1 || !common.contains(name.as_str()))
            && let Some(bucket) = fuzzy.get_mut(name.len())
        {
            bucket.push((name.clone(), top));
        }
        names.insert(name, candidates);
    }
    let mut name_words: HashMap<String, HashSet<String>> = HashMap::new();
    let mut add_words = |code: &str, name: &str| {
        name_words.entry(code.to_owned()).or_default().extend(fold(name).split(' ').map(str::to_owned));
    };
    for (code, _, name) in data.curated_city_names() {
        add_words(code, name);
    }
    for airport in data.airports().filter(|a| a.scheduled) {
        add_words(&airport.code, &airport.name);
        add_words(&airport.code, &airport.city_name);
    }
    for city in data.cities() {
        add_words(&city.code, &city.name);
    }
    Index { names, fuzzy, max_words, common, country, name_words }
}

/// Builds the place index now rather than on the first message.
pub(crate) fn warm_up() {
    LazyLock::force(&INDEX);
}

/// Whether a folded word is an ordinary word of any of the six languages.
pub(crate) fn is_common(word: &str) -> bool {
    INDEX.common.contains(word)
}

/// Longest text the typo matcher compares (bytes).
const MAX_FUZZY_LEN: usize = 40;

/// Edit distance with adjacent transpositions (optimal string alignment),
/// giving up above `bound`. Three rows on the stack: no allocation per pair.
fn distance(a: &[u8], b: &[u8], bound: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > bound || a.len() > MAX_FUZZY_LEN || b.len() > MAX_FUZZY_LEN {
        return None;
    }
    let mut before = [0usize; MAX_FUZZY_LEN + 1];
    let mut previous = [0usize; MAX_FUZZY_LEN + 1];
    let mut current = [0usize; MAX_FUZZY_LEN + 1];
    for (j, cell) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
            row_min = row_min.min(best);
        }
        if row_min > bound {
            return None;
        }
        before = previous;
        previous = current;
    }
    let d = previous[b.len()];
    (d <= bound).then_some(d)
}

/// How many typos a word of this length may carry.
fn typo_bound(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// A name near a misspelling: (distance, weight, code).
type NearName = (usize, u16, &'static str);

/// Names within `bound` of `text`, best first.
fn near_names(text: &str, bound: usize) -> Vec<NearName> {
    let index = &*INDEX;
    let mut hits: Vec<NearName> = Vec::new();
    let len = text.len();
    let first = text.as_bytes().first().copied();
    for l in len.saturating_sub(bound)..=(len + bound) {
        let Some(bucket) = index.fuzzy.get(l) else { continue };
        for (name, _) in bucket {
            // Most typos keep the first letter; this also keeps the scan short.
            let (n, t) = (name.as_bytes(), text.as_bytes());
            if n.first().copied() != first && (n.get(1) != t.get(1) || n.get(2) != t.get(2)) {
                continue;
            }
            if let Some(d) = distance(text.as_bytes(), name.as_bytes(), bound)
                && let Some(candidates) = index.names.get(name)
                && let Some(best) = candidates.first()
            {
                hits.push((d, best.weight, best.code.as_str()));
            }
        }
    }
    hits.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    let mut seen = HashSet::new();
    hits.retain(|h| seen.insert(h.2));
    hits
}

/// What a folded name means, exactly.
fn exact(name: &str) -> Option<PlaceMention> {
    if let Some((_, codes)) = AMBIGUOUS.iter().find(|(n, _)| *n == name) {
        return Some(PlaceMention::Ambiguous {
            text: name.to_owned(),
            candidates: codes.iter().map(|c| (*c).to_owned()).collect(),
        });
    }
    let candidates = INDEX.names.get(name)?;
    let top = candidates.first()?;
    // Curated names beat airports' towns ("London" is LON, not London, Ontario);
    // two large airports' towns of one name are a real ambiguity (Portland).
    let rivals: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.weight == top.weight || (top.weight < CURATED && top.weight >= MAJOR && c.weight >= MAJOR))
        .collect();
    if rivals.len() > 1 {
        return Some(PlaceMention::Ambiguous {
            text: name.to_owned(),
            candidates: rivals.iter().take(4).map(|c| c.code.clone()).collect(),
        });
    }
    Some(PlaceMention::Resolved { code: top.code.clone() })
}

fn top_weight(name: &str) -> u16 {
    if AMBIGUOUS.iter().any(|(n, _)| *n == name) {
        return CURATED;
    }
    INDEX.names.get(name).and_then(|c| c.first()).map(|c| c.weight).unwrap_or(0)
}

/// How sure the sentence makes us that a place comes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Position {
    /// Anywhere in the text.
    Free,
    /// After a weak marker ("a", "de", "à"): ordinary words need a capital.
    Weak,
    /// After a strong marker ("to", "nach", "desde") or as the answer to "where?".
    Strong,
}

/// A three-letter code at `i`: upper-case anywhere (unless a word), or any case in a place position.
fn code_at(token: &Token, position: Position, shouting: bool) -> Option<PlaceMention> {
    let place_position = position > Position::Free;
    if token.kind != Kind::Word || token.norm.len() != 3 || !token.norm.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let common = is_common(&token.norm);
    let strong = position == Position::Strong;
    let allowed = (token.upper && !shouting && (!common || strong)) || (place_position && !common);
    if !allowed {
        return None;
    }
    let code = token.norm.to_ascii_uppercase();
    let data = ReferenceData::embedded();
    if data.city(&code).is_some() {
        return Some(PlaceMention::Resolved { code });
    }
    let airport = data.airport(&code)?;
    (airport.scheduled || token.upper).then_some(PlaceMention::Resolved { code })
}

/// Where a place read at `start` ends, and what it is.
#[derive(Debug, Clone)]
struct Hit {
    mention: PlaceMention,
    start: usize,
    end: usize,
}

fn free_word(tokens: &[Token], used: &[bool], i: usize) -> bool {
    tokens.get(i).is_some_and(|t| t.kind == Kind::Word) && !used.get(i).copied().unwrap_or(true)
}

/// The longest exact name (or code) starting at `i`.
fn exact_at(tokens: &[Token], used: &[bool], i: usize, position: Position, shouting: bool) -> Option<Hit> {
    let place_position = position > Position::Free;
    let mut words = Vec::new();
    let mut best: Option<Hit> = None;
    let mut j = i;
    while words.len() < INDEX.max_words && free_word(tokens, used, j) {
        words.push(tokens[j].norm.as_str());
        j += 1;
        let name = words.join(" ");
        let single = words.len() == 1;
        if single && let Some(mention) = code_at(&tokens[i], position, shouting) {
            best = Some(Hit { mention, start: i, end: j });
            continue;
        }
        let weight = top_weight(&name);
        if weight == 0 {
            continue;
        }
        // An ordinary word is a place only where a place is expected, and
        // then only if it is a major one ("to nice" is Nice, "a nice flight" is not).
        let ordinary = single && is_common(&name);
        let sure =
            position == Position::Strong || (position == Position::Weak && (tokens[i].capital || tokens[i].upper));
        if ordinary && !(sure && weight >= MAJOR) {
            continue;
        }
        // Outside a place position only major places count, so that a small
        // town named like a word does not fire.
        if !place_position && weight < MAJOR {
            continue;
        }
        if let Some(mention) = exact(&name) {
            best = Some(Hit { mention, start: i, end: j });
        }
    }
    best.map(|hit| qualify(tokens, used, hit))
}

/// "Santiago, Chile", "Portland Oregon", "San José (Costa Rica)": a qualifier after an ambiguous name.
fn qualify(tokens: &[Token], used: &[bool], hit: Hit) -> Hit {
    let PlaceMention::Ambiguous { candidates, .. } = &hit.mention else { return hit };
    let mut j = hit.end;
    while tokens.get(j).is_some_and(|t| {
        t.is_punct(',')
            || t.is_punct('(')
            || ["in", "en", "em", "no", "na", "au", "de", "do"].contains(&t.norm.as_str())
    }) {
        j += 1;
    }
    while free_word(tokens, used, j) && j < hit.end + 4 {
        if let Some(code) = pick(candidates, &tokens[j].norm) {
            return Hit { mention: PlaceMention::Resolved { code }, start: hit.start, end: j + 1 };
        }
        j += 1;
    }
    hit
}

/// Which candidate a word points at: a qualifier or a distinctive part of its name.
fn pick(candidates: &[String], word: &str) -> Option<String> {
    if let Some((_, code)) = QUALIFIER_CODES.iter().find(|(w, _)| *w == word)
        && candidates.iter().any(|c| c == code)
    {
        return Some((*code).to_owned());
    }
    if let Some((_, country)) = QUALIFIERS.iter().find(|(w, _)| *w == word) {
        let matching: Vec<&String> =
            candidates.iter().filter(|c| INDEX.country.get(c.as_str()).is_some_and(|k| k == country)).collect();
        if let [only] = matching.as_slice() {
            return Some((*only).clone());
        }
    }
    if word.len() == 3 && candidates.iter().any(|c| c.eq_ignore_ascii_case(word)) {
        return Some(word.to_ascii_uppercase());
    }
    if word.len() >= 4 && !is_common(word) {
        let matching: Vec<&String> = candidates
            .iter()
            .filter(|c| INDEX.name_words.get(c.as_str()).is_some_and(|words| words.contains(word)))
            .collect();
        if let [only] = matching.as_slice() {
            return Some((*only).clone());
        }
    }
    None
}

/// A misspelt name at `i` (one to three words): resolved when one major
/// place is clearly closest, else unknown with suggestions (only when
/// `report`, i.e. after a strong marker).
fn fuzzy_at(tokens: &[Token], used: &[bool], i: usize, report: bool) -> Option<Hit> {
    let mut words: Vec<&str> = Vec::new();
    let mut raws: Vec<&str> = Vec::new();
    let mut best: Option<(usize, usize, Vec<NearName>)> = None;
    let mut j = i;
    while words.len() < 3 && free_word(tokens, used, j) && !(words.is_empty() && is_common(&tokens[j].norm)) {
        if !words.is_empty() && is_common(&tokens[j].norm) {
            // A joiner ("de", "la") continues a name only before another real word: "rio de janiero".
            let joiner =
                ["de", "la", "do", "del", "los", "las", "san", "sao", "new", "el"].contains(&tokens[j].norm.as_str());
            let word_after = free_word(tokens, used, j + 1) && !is_common(&tokens[j + 1].norm);
            if !joiner || !word_after {
                break;
            }
        }
        // Once a window corrects clearly, a longer one is not needed.
        if best.as_ref().is_some_and(|(_, d, _)| *d != usize::MAX) {
            break;
        }
        words.push(tokens[j].norm.as_str());
        raws.push(tokens[j].raw.as_str());
        j += 1;
        let text = words.join(" ");
        if text.len() < 4 {
            continue;
        }
        let bound = typo_bound(text.len());
        let hits = near_names(&text, bound + 1);
        let within: Vec<_> = hits.iter().copied().filter(|h| h.0 <= bound && h.1 >= MAJOR).collect();
        let score = within.first().map(|h| h.0).unwrap_or(usize::MAX);
        if best.as_ref().is_none_or(|(_, d, _)| score < *d)
            || (best.as_ref().is_some_and(|(_, d, _)| score == *d && score != usize::MAX))
        {
            best = Some((j, score, hits));
        }
    }
    let (end, score, hits) = best?;
    if score != usize::MAX {
        let top: Vec<_> = hits.iter().filter(|h| h.0 == score && h.1 >= MAJOR).collect();
        if let [only] = top.as_slice() {
            return Some(Hit { mention: PlaceMention::Resolved { code: only.2.to_owned() }, start: i, end });
        }
    }
    if !report {
        return None;
    }
    let first_raw = raws.first()?;
    // A short run of letters only: "xyzzy" might be a place, "!!" is not.
    if tokens[i].norm.len() < 3 {
        return None;
    }
    let suggestions: Vec<String> = hits.iter().filter(|h| h.1 >= MAJOR).take(3).map(|h| h.2.to_owned()).collect();
    let end = if suggestions.is_empty() { i + 1 } else { end };
    let text = if end == i + 1 { (*first_raw).to_owned() } else { raws[..end - i].join(" ") };
    Some(Hit { mention: PlaceMention::Unknown { text, suggestions }, start: i, end })
}

fn marker(token: &Token, table: &[(&str, bool)]) -> Option<bool> {
    let word = if token.is_punct('→') { "→" } else { token.norm.as_str() };
    if matches!(token.kind, Kind::Punct(c) if c != '→') {
        return None;
    }
    table.iter().find(|(w, _)| *w == word).map(|(_, strong)| *strong)
}

/// A place right after the marker at `i` (articles skipped).
fn after_marker(tokens: &[Token], used: &[bool], i: usize, strong: bool, shouting: bool) -> Option<Hit> {
    let mut j = i + 1;
    let position = if strong { Position::Strong } else { Position::Weak };
    if let Some(hit) = exact_at(tokens, used, j, position, shouting) {
        return Some(hit);
    }
    if tokens.get(j).is_some_and(|t| ARTICLES.contains(&t.norm.as_str())) {
        j += 1;
        if let Some(hit) = exact_at(tokens, used, j, position, shouting) {
            return Some(hit);
        }
    }
    fuzzy_at(tokens, used, j, strong)
}

/// The places in a message and their roles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Places {
    /// Where from.
    pub(crate) origin: Option<PlaceMention>,
    /// Where to.
    pub(crate) destination: Option<PlaceMention>,
    /// A place without a role.
    pub(crate) place: Option<PlaceMention>,
}

fn mark_hit(used: &mut [bool], hit: &Hit) {
    super::phrases::mark(used, hit.start, hit.end);
}

/// The places in the free tokens. `pending` is the question just asked.
pub(crate) fn find(tokens: &[Token], used: &mut [bool], pending: Option<&PendingQuestion>) -> Places {
    let mut places = Places::default();
    let words = tokens.iter().filter(|t| t.is_word()).count();
    let shouting = words >= 3 && tokens.iter().filter(|t| t.is_word() && t.upper).count() * 10 >= words * 6;

    if let Some(
        PendingQuestion::WhichPlace { candidates, .. } | PendingQuestion::DidYouMean { suggestions: candidates, .. },
    ) = pending
        && let Some(code) = which_place(tokens, used, candidates)
    {
        places.place = Some(PlaceMention::Resolved { code });
        return places;
    }

    // Markers: "from X", "to Y", "nach Y", "de X a Y", "X → Y".
    let mut i = 0;
    while i < tokens.len() {
        if used[i] {
            i += 1;
            continue;
        }
        let token = &tokens[i];
        let before = i.checked_sub(1).map(|p| tokens[p].norm.as_str());
        let origin_marker = marker(token, ORIGIN_MARKERS);
        let destination_marker = marker(token, DESTINATION_MARKERS)
            .map(|strong| strong || before.is_some_and(|b| MOTION_VERBS.contains(&b)));
        let (role, strong) = match (origin_marker, destination_marker) {
            (Some(strong), _) if places.origin.is_none() => (PlaceRole::Origin, strong),
            (_, Some(strong)) if places.destination.is_none() => (PlaceRole::Destination, strong),
            _ => {
                i += 1;
                continue;
            }
        };
        // "de" before a date or a number is not "from".
        let Some(hit) = after_marker(tokens, used, i, strong, shouting) else {
            i += 1;
            continue;
        };
        used[i] = true;
        mark_hit(used, &hit);
        let next = hit.end;
        match role {
            PlaceRole::Origin => places.origin = Some(hit.mention),
            PlaceRole::Destination => {
                // "London to Paris", "Madrid nach Berlin": the place just before is the origin.
                if places.origin.is_none()
                    && let Some(before) = place_before(tokens, used, i, shouting)
                {
                    mark_hit(used, &before);
                    places.origin = Some(before.mention);
                }
                places.destination = Some(hit.mention);
            }
        }
        i = next;
    }

    // Everything else: codes and major names anywhere, in order.
    let mut loose: Vec<PlaceMention> = Vec::new();
    let mut i = 0;
    let mut last_end = usize::MAX;
    while i < tokens.len() {
        let hit = exact_at(tokens, used, i, Position::Free, shouting).or_else(|| {
            // "Nice Londres": a capitalised place that is also a word counts next to another place.
            let hit = exact_at(tokens, used, i, Position::Weak, shouting).filter(|h| tokens[h.start].capital)?;
            let beside = last_end == i || exact_at(tokens, used, hit.end, Position::Free, shouting).is_some();
            beside.then_some(hit)
        });
        if let Some(hit) = hit {
            mark_hit(used, &hit);
            i = hit.end;
            last_end = hit.end;
            loose.push(hit.mention);
        } else {
            i += 1;
        }
    }
    let content_words: Vec<usize> = (0..tokens.len()).filter(|i| tokens[*i].is_word() && !used[*i]).collect();
    let asked_place = matches!(
        pending,
        Some(
            PendingQuestion::Slot(crate::chat::model::Slot::Origin | crate::chat::model::Slot::Destination)
                | PendingQuestion::WhichPlace { .. }
                | PendingQuestion::DidYouMean { .. }
        )
    );
    // A bare answer to "where to?": names that are ordinary words and typos count too.
    if loose.is_empty() && places.origin.is_none() && places.destination.is_none() && !content_words.is_empty() {
        let bare = content_words.len() <= 3 && tokens.iter().filter(|t| t.is_word()).count() <= 4;
        if bare {
            let first = content_words[0];
            let position = if asked_place { Position::Strong } else { Position::Weak };
            if let Some(hit) =
                exact_at(tokens, used, first, position, shouting).or_else(|| fuzzy_at(tokens, used, first, asked_place))
            {
                mark_hit(used, &hit);
                loose.push(hit.mention);
            }
        }
    }
    let mut loose = loose.into_iter();
    match (places.origin.is_some(), places.destination.is_some()) {
        (false, false) => {
            let first = loose.next();
            match loose.next() {
                Some(second) => {
                    places.origin = first;
                    places.destination = Some(second);
                }
                None => places.place = first,
            }
        }
        (true, false) => places.destination = loose.next(),
        (false, true) => places.origin = loose.next(),
        (true, true) => {}
    }
    places
}

/// Spans of multi-word names of major places ("Rio de Janeiro", "Mar del
/// Plata"), which the date and number finders must leave alone.
pub(crate) fn protected_spans(tokens: &[Token]) -> Vec<(usize, usize)> {
    let free = vec![false; tokens.len()];
    let mut spans = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match exact_at(tokens, &free, i, Position::Free, false).filter(|h| h.end - h.start >= 2) {
            Some(hit) => {
                spans.push((hit.start, hit.end));
                i = hit.end;
            }
            None => i += 1,
        }
    }
    spans
}

/// The place that ends right before token `i` ("London" in "London to Paris").
fn place_before(tokens: &[Token], used: &[bool], i: usize, shouting: bool) -> Option<Hit> {
    for n in (1..=INDEX.max_words.min(i)).rev() {
        let start = i - n;
        if let Some(hit) = exact_at(tokens, used, start, Position::Weak, shouting).filter(|h| h.end == i) {
            // Ordinary words right before "to" ("want to", "going to") never get here: they are not names.
            return Some(hit);
        }
    }
    // A misspelt name starting the message: "Londn to Paris".
    let start = (0..i).rev().take_while(|k| free_word(tokens, used, *k)).last()?;
    if start == 0 || tokens.get(start - 1).is_some_and(|t| matches!(t.kind, Kind::Punct(_))) {
        return fuzzy_at(tokens, used, start, false).filter(|h| h.end == i);
    }
    None
}

/// The answer to "which Santiago?": a code, a position, a country or a part of the name.
fn which_place(tokens: &[Token], used: &mut [bool], candidates: &[String]) -> Option<String> {
    for (i, token) in tokens.iter().enumerate() {
        if used[i] {
            continue;
        }
        let choice = match &token.kind {
            Kind::Number { value, .. } => {
                usize::try_from(*value).ok().and_then(|n| n.checked_sub(1)).and_then(|n| candidates.get(n)).cloned()
            }
            Kind::Word => super::choice::ordinal(&token.norm)
                .and_then(|n| usize::from(n).checked_sub(1))
                .and_then(|n| candidates.get(n))
                .cloned()
                .or_else(|| pick(candidates, &token.norm)),
            _ => None,
        };
        if let Some(code) = choice {
            used[i] = true;
            return Some(code);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn places(text: &str) -> Places {
        let tokens = tokenize(text);
        let mut used = vec![false; tokens.len()];
        find(&tokens, &mut used, None)
    }

    fn code(c: &str) -> Option<PlaceMention> {
        Some(PlaceMention::Resolved { code: c.to_owned() })
    }

    #[test]
    fn routes_in_every_language() {
        for text in [
            "from London to Paris",
            "London to Paris",
            "london - paris",
            "London → Paris",
            "LON PAR",
            "de Londres a París",
            "desde Londres hasta Paris",
            "von London nach Paris",
            "London nach Paris",
            "da Londra a Parigi",
            "de Londres para Paris",
            "de Londres à Paris",
            "lhr to paris",
        ] {
            let p = places(text);
            let origin = if text.starts_with("lhr") { code("LHR") } else { code("LON") };
            assert_eq!((p.origin, p.destination), (origin, code("PAR")), "{text}");
        }
    }

    #[test]
    fn one_sided_trips() {
        assert_eq!(places("I'd like to go to Dubai").destination, code("DXB"));
        assert_eq!(places("quiero ir a Londres").destination, code("LON"));
        assert_eq!(places("je voudrais aller à Rome").destination, code("ROM"));
        assert_eq!(places("ich möchte nach Berlin").destination, code("BER"));
        assert_eq!(places("vorrei andare a Roma").destination, code("ROM"));
        assert_eq!(places("quero ir para Lisboa").destination, code("LIS"));
        assert_eq!(places("from Singapore").origin, code("SIN"));
        assert_eq!(places("desde Madrid").origin, code("MAD"));
        assert_eq!(places("partindo de Lisboa").origin, code("LIS"));
        assert_eq!(places("depuis Lyon").origin, code("LYS"));
        assert_eq!(places("London").place, code("LON"));
    }

    #[test]
    fn local_forms_and_multi_word_names() {
        for (text, expected) in [
            ("to Lisbonne", "LIS"),
            ("nach München", "MUC"),
            ("to Nueva York", "NYC"),
            ("nach Rom", "ROM"),
            ("to Rio de Janeiro", "RIO"),
            ("a Ciudad de México", "MEX"),
            ("to Santiago de Chile", "SCL"),
            ("to Buenos Aires", "BUE"),
            ("to New York", "NYC"),
            ("para São Paulo", "SAO"),
            ("to Los Angeles", "LAX"),
            ("to Hong Kong", "HKG"),
            ("to heathrow", "LHR"),
            ("to JFK", "JFK"),
            ("to Tokyo", "TYO"),
            ("a Milano", "MIL"),
        ] {
            assert_eq!(places(text).destination, code(expected), "{text}");
        }
    }

    #[test]
    fn typos_are_corrected_only_when_clear() {
        for (text, expected) in
            [("to Londn", "LON"), ("to Pariss", "PAR"), ("to Barcelna", "BCN"), ("to Amsterdma", "AMS")]
        {
            assert_eq!(places(text).destination, code(expected), "{text}");
        }
        match places("to Xyzzyville").destination {
            Some(PlaceMention::Unknown { text, .. }) => assert_eq!(text, "Xyzzyville"),
            other => panic!("unknown expected, got {other:?}"),
        }
    }

    #[test]
    fn ambiguous_names() {
        for text in ["to Santiago", "to Portland", "to San José"] {
            assert!(matches!(places(text).destination, Some(PlaceMention::Ambiguous { .. })), "{text}");
        }
        assert_eq!(places("to Santiago, Chile").destination, code("SCL"));
        assert_eq!(places("to Portland Oregon").destination, code("PDX"));
    }

    #[test]
    fn ordinary_words_are_not_places() {
        assert_eq!(places("nice flight please"), Places::default());
        assert_eq!(places("to nice").destination, code("NCE"));
        assert_eq!(places("I want to split the cost"), Places::default());
        assert_eq!(places("THE AND FOR NOT"), Places::default());
        assert_eq!(places("flights for two"), Places::default());
        assert_eq!(places("what a nice day"), Places::default());
        assert_eq!(places("FOR"), Places::default());
        assert_eq!(places("to FOR").destination, code("FOR"));
    }
}
