//! The curated carrier table the sandbox flies: real major airlines with
//! their real IATA codes, home countries and hub airports, plus the coarse
//! world regions that decide which carriers plausibly serve a route, and the
//! aircraft types offers are flown with.
//!
//! The table is small on purpose: offers should look like real ones
//! (British Airways through Heathrow, LATAM through São Paulo), not cover
//! every airline. A route no curated carrier serves still gets offers from
//! the nearest plausible carrier (see `generator`).

/// A coarse world region: carriers of a region (and the global connectors
/// between regions) serve routes touching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Region {
    Europe,
    NorthAmerica,
    LatinAmerica,
    MiddleEast,
    Africa,
    Asia,
    Oceania,
}

/// One curated airline.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Carrier {
    /// IATA code (`LH`).
    pub(crate) code: &'static str,
    /// Display name (`Lufthansa`).
    pub(crate) name: &'static str,
    /// ISO 3166-1 alpha-2 home country: domestic routes elsewhere are not
    /// flown (cabotage).
    pub(crate) country: &'static str,
    /// Home region.
    pub(crate) region: Region,
    /// Hubs: non-stop anywhere plausible, and connections through them.
    pub(crate) hubs: &'static [&'static str],
    /// Secondary bases: short-haul non-stops only, no connections.
    pub(crate) bases: &'static [&'static str],
    /// Sixth-freedom carriers (Gulf, Turkish) that sell connections between
    /// two other regions through their hub.
    pub(crate) global: bool,
}

impl Carrier {
    /// Whether `airport` is one of this carrier's hubs.
    pub(crate) fn is_hub(&self, airport: &str) -> bool {
        self.hubs.contains(&airport)
    }

    /// Whether `airport` is a secondary base.
    pub(crate) fn is_base(&self, airport: &str) -> bool {
        self.bases.contains(&airport)
    }
}

const fn carrier(
    code: &'static str,
    name: &'static str,
    country: &'static str,
    region: Region,
    hubs: &'static [&'static str],
    bases: &'static [&'static str],
) -> Carrier {
    Carrier { code, name, country, region, hubs, bases, global: false }
}

const fn connector(
    code: &'static str,
    name: &'static str,
    country: &'static str,
    region: Region,
    hubs: &'static [&'static str],
) -> Carrier {
    Carrier { code, name, country, region, hubs, bases: &[], global: true }
}

use Region::{Africa, Asia, Europe, LatinAmerica, MiddleEast, NorthAmerica, Oceania};

/// The curated table, in a fixed order (offers are generated in this order
/// before sorting, so it is part of the determinism).
pub(crate) static CARRIERS: &[Carrier] = &[
    // Europe
    carrier("TP", "TAP Air Portugal", "PT", Europe, &["LIS"], &["OPO", "FAO", "FNC"]),
    carrier("IB", "Iberia", "ES", Europe, &["MAD"], &["BCN"]),
    carrier("BA", "British Airways", "GB", Europe, &["LHR"], &["LGW", "LCY"]),
    carrier("AF", "Air France", "FR", Europe, &["CDG"], &["ORY", "NCE", "LYS", "MRS", "TLS"]),
    carrier("KL", "KLM Royal Dutch Airlines", "NL", Europe, &["AMS"], &[]),
    carrier("LH", "Lufthansa", "DE", Europe, &["FRA", "MUC"], &["DUS", "HAM", "BER", "STR"]),
    carrier("LX", "Swiss International Air Lines", "CH", Europe, &["ZRH"], &["GVA"]),
    carrier("OS", "Austrian Airlines", "AT", Europe, &["VIE"], &[]),
    carrier("SN", "Brussels Airlines", "BE", Europe, &["BRU"], &[]),
    carrier("AZ", "ITA Airways", "IT", Europe, &["FCO"], &["LIN"]),
    carrier("SK", "SAS Scandinavian Airlines", "DK", Europe, &["CPH", "ARN", "OSL"], &["BGO", "GOT"]),
    carrier("AY", "Finnair", "FI", Europe, &["HEL"], &[]),
    carrier("EI", "Aer Lingus", "IE", Europe, &["DUB"], &[]),
    carrier("LO", "LOT Polish Airlines", "PL", Europe, &["WAW"], &[]),
    carrier("A3", "Aegean Airlines", "GR", Europe, &["ATH"], &[]),
    connector("TK", "Turkish Airlines", "TR", Europe, &["IST"]),
    // North America
    carrier(
        "AA",
        "American Airlines",
        "US",
        NorthAmerica,
        &["DFW", "CLT", "ORD", "MIA", "PHL", "PHX"],
        &["LAX", "JFK", "LGA", "DCA", "BOS"],
    ),
    carrier("UA", "United Airlines", "US", NorthAmerica, &["ORD", "DEN", "IAH", "EWR", "SFO", "IAD"], &["LAX"]),
    carrier(
        "DL",
        "Delta Air Lines",
        "US",
        NorthAmerica,
        &["ATL", "DTW", "MSP", "SLC", "JFK", "LAX", "SEA"],
        &["BOS", "LGA"],
    ),
    carrier("AS", "Alaska Airlines", "US", NorthAmerica, &["SEA"], &["PDX", "SFO", "LAX"]),
    carrier("AC", "Air Canada", "CA", NorthAmerica, &["YYZ", "YVR", "YUL"], &["YYC"]),
    // Latin America
    carrier("LA", "LATAM Airlines", "CL", LatinAmerica, &["SCL", "LIM", "GRU"], &["GIG", "BSB"]),
    carrier("AV", "Avianca", "CO", LatinAmerica, &["BOG"], &["MDE", "SAL"]),
    carrier("AM", "Aeromexico", "MX", LatinAmerica, &["MEX"], &["GDL", "MTY", "CUN"]),
    carrier("CM", "Copa Airlines", "PA", LatinAmerica, &["PTY"], &[]),
    carrier("AR", "Aerolineas Argentinas", "AR", LatinAmerica, &["EZE", "AEP"], &[]),
    carrier("G3", "GOL Linhas Aereas", "BR", LatinAmerica, &["GRU", "GIG", "BSB"], &["CGH"]),
    // Middle East
    connector("EK", "Emirates", "AE", MiddleEast, &["DXB"]),
    connector("QR", "Qatar Airways", "QA", MiddleEast, &["DOH"]),
    connector("EY", "Etihad Airways", "AE", MiddleEast, &["AUH"]),
    carrier("SV", "Saudia", "SA", MiddleEast, &["JED", "RUH"], &[]),
    // Asia
    carrier("JL", "Japan Airlines", "JP", Asia, &["HND", "NRT"], &["ITM", "KIX", "FUK", "CTS"]),
    carrier("NH", "All Nippon Airways", "JP", Asia, &["NRT", "HND"], &["ITM", "KIX", "FUK", "CTS"]),
    carrier("SQ", "Singapore Airlines", "SG", Asia, &["SIN"], &[]),
    carrier("CX", "Cathay Pacific", "HK", Asia, &["HKG"], &[]),
    carrier("KE", "Korean Air", "KR", Asia, &["ICN"], &["GMP"]),
    carrier("CA", "Air China", "CN", Asia, &["PEK"], &["PVG", "CTU"]),
    carrier("MU", "China Eastern Airlines", "CN", Asia, &["PVG"], &["SHA", "KMG"]),
    carrier("AI", "Air India", "IN", Asia, &["DEL", "BOM"], &["BLR", "MAA"]),
    carrier("TG", "Thai Airways", "TH", Asia, &["BKK"], &[]),
    // Africa
    carrier("ET", "Ethiopian Airlines", "ET", Africa, &["ADD"], &[]),
    carrier("SA", "South African Airways", "ZA", Africa, &["JNB"], &["CPT"]),
    carrier("MS", "EgyptAir", "EG", Africa, &["CAI"], &[]),
    carrier("KQ", "Kenya Airways", "KE", Africa, &["NBO"], &[]),
    carrier("AT", "Royal Air Maroc", "MA", Africa, &["CMN"], &[]),
    // Oceania
    carrier("QF", "Qantas", "AU", Oceania, &["SYD", "MEL"], &["BNE", "PER", "ADL"]),
    carrier("NZ", "Air New Zealand", "NZ", Oceania, &["AKL"], &["WLG", "CHC"]),
];

/// A curated carrier by IATA code.
pub(crate) fn carrier_by_code(code: &str) -> Option<&'static Carrier> {
    CARRIERS.iter().find(|c| c.code == code)
}

const EUROPE: &[&str] = &[
    "AL", "AD", "AT", "AX", "BY", "BE", "BA", "BG", "HR", "CY", "CZ", "DK", "EE", "FO", "FI", "FR", "DE", "GI", "GR",
    "GG", "HU", "IS", "IE", "IM", "IT", "JE", "XK", "LV", "LI", "LT", "LU", "MT", "MD", "MC", "ME", "NL", "MK", "NO",
    "PL", "PT", "RO", "RU", "SM", "RS", "SK", "SI", "ES", "SE", "CH", "UA", "GB", "VA", "SJ", "TR", "GE", "AM", "AZ",
];
const NORTH_AMERICA: &[&str] = &["US", "CA", "PM", "BM", "GL"];
const LATIN_AMERICA: &[&str] = &[
    "MX", "GT", "BZ", "SV", "HN", "NI", "CR", "PA", "CU", "JM", "HT", "DO", "PR", "BS", "BB", "TT", "AG", "DM", "GD",
    "KN", "LC", "VC", "AW", "CW", "SX", "BQ", "KY", "TC", "VG", "VI", "AI", "MS", "GP", "MQ", "BL", "MF", "CO", "VE",
    "GY", "SR", "GF", "EC", "PE", "BO", "BR", "PY", "UY", "AR", "CL", "FK",
];
const MIDDLE_EAST: &[&str] = &["AE", "QA", "SA", "BH", "KW", "OM", "YE", "IQ", "IR", "JO", "LB", "SY", "IL", "PS"];
const AFRICA: &[&str] = &[
    "DZ", "AO", "BJ", "BW", "BF", "BI", "CM", "CV", "CF", "TD", "KM", "CD", "CG", "CI", "DJ", "EG", "GQ", "ER", "SZ",
    "ET", "GA", "GM", "GH", "GN", "GW", "KE", "LS", "LR", "LY", "MG", "MW", "ML", "MR", "MU", "YT", "MA", "MZ", "NA",
    "NE", "NG", "RE", "RW", "SH", "ST", "SN", "SC", "SL", "SO", "ZA", "SS", "SD", "TZ", "TG", "TN", "UG", "EH", "ZM",
    "ZW",
];
const OCEANIA: &[&str] = &[
    "AU", "NZ", "FJ", "PG", "NC", "PF", "WS", "TO", "VU", "SB", "KI", "FM", "MH", "PW", "NR", "TV", "CK", "NU", "GU",
    "MP", "AS", "WF",
];

/// The region of a country; Asia is the remainder (it has the most countries
/// not worth listing one by one).
pub(crate) fn region_of(country: &str) -> Region {
    let tables: [(&[&str], Region); 6] = [
        (EUROPE, Europe),
        (NORTH_AMERICA, NorthAmerica),
        (LATIN_AMERICA, LatinAmerica),
        (MIDDLE_EAST, MiddleEast),
        (AFRICA, Africa),
        (OCEANIA, Oceania),
    ];
    tables.iter().find(|(countries, _)| countries.contains(&country)).map_or(Asia, |(_, region)| *region)
}

/// One aircraft type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Aircraft {
    /// IATA equipment code (`320`).
    pub(crate) code: &'static str,
    /// Name as Amadeus dictionaries spell it (`AIRBUS A320`).
    pub(crate) name: &'static str,
}

const fn aircraft(code: &'static str, name: &'static str) -> Aircraft {
    Aircraft { code, name }
}

/// Aircraft by stage length: regional jets and narrow-bodies short, wide-bodies long.
const SHORT_HAUL: &[Aircraft] = &[
    aircraft("320", "AIRBUS A320"),
    aircraft("321", "AIRBUS A321"),
    aircraft("32N", "AIRBUS A320NEO"),
    aircraft("738", "BOEING 737-800"),
    aircraft("E90", "EMBRAER 190"),
    aircraft("223", "AIRBUS A220-300"),
];
const MEDIUM_HAUL: &[Aircraft] = &[
    aircraft("321", "AIRBUS A321"),
    aircraft("32Q", "AIRBUS A321NEO"),
    aircraft("7M8", "BOEING 737 MAX 8"),
    aircraft("738", "BOEING 737-800"),
    aircraft("333", "AIRBUS A330-300"),
];
const LONG_HAUL: &[Aircraft] = &[
    aircraft("789", "BOEING 787-9"),
    aircraft("788", "BOEING 787-8"),
    aircraft("333", "AIRBUS A330-300"),
    aircraft("339", "AIRBUS A330-900NEO"),
    aircraft("359", "AIRBUS A350-900"),
];
const ULTRA_LONG_HAUL: &[Aircraft] = &[
    aircraft("77W", "BOEING 777-300ER"),
    aircraft("359", "AIRBUS A350-900"),
    aircraft("351", "AIRBUS A350-1000"),
    aircraft("388", "AIRBUS A380-800"),
    aircraft("789", "BOEING 787-9"),
];

/// The aircraft types that fly a stage of `distance_km`.
pub(crate) fn aircraft_for(distance_km: f64) -> &'static [Aircraft] {
    if distance_km < 1500.0 {
        SHORT_HAUL
    } else if distance_km < 4500.0 {
        MEDIUM_HAUL
    } else if distance_km < 9500.0 {
        LONG_HAUL
    } else {
        ULTRA_LONG_HAUL
    }
}

/// The currencies the sandbox prices in, with a fixed rate per euro and the
/// name Amadeus dictionaries use. Fixed rates keep prices deterministic.
pub(crate) static CURRENCIES: &[(&str, f64, &str)] = &[
    ("EUR", 1.0, "EURO"),
    ("USD", 1.08, "US DOLLAR"),
    ("GBP", 0.86, "POUND STERLING"),
    ("CHF", 0.95, "SWISS FRANC"),
    ("CAD", 1.47, "CANADIAN DOLLAR"),
    ("AUD", 1.65, "AUSTRALIAN DOLLAR"),
    ("BRL", 5.9, "BRAZILIAN REAL"),
    ("MXN", 18.5, "MEXICAN PESO"),
];

/// A supported currency's code (static), rate per euro and name.
pub(crate) fn currency(code: &str) -> Option<(&'static str, f64, &'static str)> {
    CURRENCIES.iter().find(|(c, _, _)| *c == code).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ReferenceData;

    #[test]
    fn every_hub_and_base_is_a_real_scheduled_airport() {
        let data = ReferenceData::embedded();
        for carrier in CARRIERS {
            assert!(data.airline(carrier.code).is_some(), "{} is a real airline code", carrier.code);
            for code in carrier.hubs.iter().chain(carrier.bases) {
                let airport = data.airport(code).unwrap_or_else(|| panic!("{code} of {} exists", carrier.code));
                assert!(airport.scheduled, "{code} has scheduled service");
            }
        }
    }

    #[test]
    fn regions_cover_the_world() {
        assert_eq!(region_of("PT"), Region::Europe);
        assert_eq!(region_of("US"), Region::NorthAmerica);
        assert_eq!(region_of("BR"), Region::LatinAmerica);
        assert_eq!(region_of("QA"), Region::MiddleEast);
        assert_eq!(region_of("KE"), Region::Africa);
        assert_eq!(region_of("NZ"), Region::Oceania);
        assert_eq!(region_of("JP"), Region::Asia);
    }
}
