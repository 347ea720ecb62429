//! The booking inputs as the client sends them (`CreateBookingInput`,
//! `PayForBookingInput` and their parts) and their rules. A value that breaks
//! one is refused with `BAD_USER_INPUT` and the input path of the offending
//! field (`input.travelers.1.dateOfBirth`) before anything is stored or any
//! provider is called.
//!
//! The rules that need the offer (how many travellers of which type, their
//! ages on the travel dates, documents valid beyond the last flight) are in
//! [`check_travelers`]; the rest only need "today".

use async_graphql::{ID, InputObject};
use chrono::{Datelike as _, NaiveDate};

use crate::flights::model::{Offer, OrderContact, OrderTraveler, PassengerType, TravelDocument};
use crate::graphql::scalars::Date;
use crate::payments::card::contains_card_number;

/// Shortest and longest client idempotency key.
pub const IDEMPOTENCY_KEY_LENGTH: std::ops::RangeInclusive<usize> = 8..=255;

/// A traveller's identity document.
#[derive(Debug, Clone, InputObject)]
pub struct TravelDocumentInput {
    /// Passport number: 5 to 20 letters and digits.
    pub number: String,
    /// Last day it is valid; must be after the last travel date.
    pub expiry_date: Date,
    /// ISO 3166-1 alpha-2 country that issued it.
    pub issuing_country: String,
    /// ISO 3166-1 alpha-2 nationality of its holder.
    pub nationality: String,
}

/// One traveller, as on their document.
#[derive(Debug, Clone, InputObject)]
pub struct TravelerInput {
    /// Given name(s): 1 to 50 letters (accents allowed), spaces, hyphens, apostrophes.
    pub first_name: String,
    /// Family name(s), same rules.
    pub last_name: String,
    /// Date of birth; not in the future, and agreeing with `type` on every travel date.
    pub date_of_birth: Date,
    /// `ADULT` (12 and over), `CHILD` (2–11) or `INFANT` (under 2).
    #[graphql(name = "type", default_with = "Some(PassengerType::Adult)")]
    pub kind: Option<PassengerType>,
    /// The document they fly on, when the route needs one.
    pub document: Option<TravelDocumentInput>,
}

/// Who the airline contacts.
#[derive(Debug, Clone, InputObject)]
pub struct ContactInput {
    /// Email address.
    pub email: String,
    /// Phone number in E.164 (`+351912345678`).
    pub phone: Option<String>,
}

/// A booking of a priced offer.
#[derive(Debug, Clone, InputObject)]
pub struct CreateBookingInput {
    /// The offer (from a search or `priceOffer`).
    pub offer_id: ID,
    /// Exactly the offer's passenger count and types.
    pub travelers: Vec<TravelerInput>,
    /// Who the airline contacts.
    pub contact: ContactInput,
}

/// A payment for a booking.
#[derive(Clone, InputObject)]
pub struct PayForBookingInput {
    /// The booking.
    pub booking_id: ID,
    /// A payment-method token (`pm_card_visa`), never a card number.
    pub payment_method: String,
    /// 8 to 255 characters chosen by the client; the same key with the same
    /// input returns the first result again.
    pub idempotency_key: String,
}

impl std::fmt::Debug for PayForBookingInput {
    // The payment method is withheld: a client may have sent a card number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayForBookingInput")
            .field("booking_id", &self.booking_id.as_str())
            .field("payment_method", &"[withheld]")
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// A refused value: the input path and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// `input.travelers.0.firstName`.
    pub field: String,
    /// What is expected.
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError { field: field.into(), message: message.into() }
}

/// Checks the payment input's shape. The card-number check comes first and
/// its message never repeats the value.
pub fn check_payment(input: &PayForBookingInput) -> Result<(), InputError> {
    let method = input.payment_method.trim();
    if contains_card_number(&input.payment_method) {
        return Err(refuse(
            "input.paymentMethod",
            "Card numbers are not accepted: send a payment-method token from the payment provider.",
        ));
    }
    let token_like = (1..=255).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !token_like {
        return Err(refuse("input.paymentMethod", "a payment-method token like pm_card_visa"));
    }
    if !IDEMPOTENCY_KEY_LENGTH.contains(&input.idempotency_key.chars().count()) {
        return Err(refuse("input.idempotencyKey", "8 to 255 characters"));
    }
    if input.idempotency_key.chars().any(char::is_control) {
        return Err(refuse("input.idempotencyKey", "printable characters only"));
    }
    Ok(())
}

/// The booking input checked and normalised: travellers (document numbers
/// upper-cased, countries upper-cased, names trimmed) and contact. `today`
/// is the session's date.
pub fn check_booking(
    input: &CreateBookingInput,
    today: NaiveDate,
) -> Result<(Vec<OrderTraveler>, OrderContact), InputError> {
    if input.offer_id.trim().is_empty() || input.offer_id.len() > 200 {
        return Err(refuse("input.offerId", "an offer id from a search"));
    }
    if input.travelers.is_empty() || input.travelers.len() > 9 {
        return Err(refuse("input.travelers", "1 to 9 travellers"));
    }
    let mut travelers = Vec::with_capacity(input.travelers.len());
    for (i, traveler) in input.travelers.iter().enumerate() {
        let at = |name: &str| format!("input.travelers.{i}.{name}");
        let first_name = person_name(&at("firstName"), &traveler.first_name)?;
        let last_name = person_name(&at("lastName"), &traveler.last_name)?;
        let born = traveler.date_of_birth.0;
        match check_date_of_birth(born, today) {
            Ok(()) => {}
            Err(BirthDateError::InFuture) => {
                return Err(refuse(at("dateOfBirth"), "a date of birth that is not in the future"));
            }
            Err(BirthDateError::TooLongAgo) => {
                return Err(refuse(at("dateOfBirth"), "a date of birth within the last 120 years"));
            }
        }
        let document = match &traveler.document {
            None => None,
            Some(document) => Some(travel_document(&at("document"), document, today)?),
        };
        travelers.push(OrderTraveler {
            first_name,
            last_name,
            date_of_birth: born,
            kind: traveler.kind.unwrap_or(PassengerType::Adult),
            document,
        });
    }
    let email = input.contact.email.trim();
    if contains_card_number(email) {
        return Err(refuse("input.contact.email", "an email address, not a card number"));
    }
    if !is_email(email) {
        return Err(refuse("input.contact.email", "an email address like ana@example.com"));
    }
    let phone = match input.contact.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(phone) if is_phone(phone) => Some(phone.to_owned()),
        Some(_) => return Err(refuse("input.contact.phone", "a phone number in E.164 form, like +351912345678")),
    };
    Ok((travelers, OrderContact { email: email.to_owned(), phone }))
}

/// Checks travellers against the offer: its passenger count and types (when
/// the provider said), each age category on every travel date, at least one
/// adult, no more infants than adults, and documents valid beyond the last
/// travel date.
pub fn check_travelers(travelers: &[OrderTraveler], offer: &Offer) -> Result<(), InputError> {
    if !offer.passengers.is_empty() {
        if travelers.len() != offer.passengers.len() {
            return Err(refuse(
                "input.travelers",
                format!("this offer is for {} travellers, {} given", offer.passengers.len(), travelers.len()),
            ));
        }
        let mut open = offer.passengers.clone();
        for (i, traveler) in travelers.iter().enumerate() {
            match open.iter().position(|kind| *kind == traveler.kind) {
                Some(slot) => {
                    open.remove(slot);
                }
                None => {
                    return Err(refuse(
                        format!("input.travelers.{i}.type"),
                        format!("this offer is for {}", describe(&offer.passengers)),
                    ));
                }
            }
        }
    }
    let adults = travelers.iter().filter(|t| t.kind == PassengerType::Adult).count();
    let infants = travelers.iter().filter(|t| t.kind == PassengerType::Infant).count();
    if adults == 0 {
        return Err(refuse("input.travelers", "at least one adult travels"));
    }
    if infants > adults {
        return Err(refuse("input.travelers", "at most one infant per adult"));
    }
    let travel_dates: Vec<NaiveDate> =
        offer.itineraries.iter().filter_map(|i| i.segments.first()).map(|s| s.departure.at.date()).collect();
    let last_date = offer
        .itineraries
        .iter()
        .flat_map(|i| i.segments.iter())
        .map(|s| s.arrival.at.date())
        .max()
        .or_else(|| travel_dates.iter().max().copied());
    for (i, traveler) in travelers.iter().enumerate() {
        for day in &travel_dates {
            let age = years_between(traveler.date_of_birth, *day);
            if passenger_type_on(traveler.date_of_birth, *day) != Some(traveler.kind) {
                return Err(refuse(
                    format!("input.travelers.{i}.dateOfBirth"),
                    format!(
                        "a date of birth making them {} on {day} (they are {age})",
                        match traveler.kind {
                            PassengerType::Adult => "12 or older",
                            PassengerType::Child => "2 to 11",
                            PassengerType::Infant => "under 2",
                        }
                    ),
                ));
            }
        }
        if let (Some(document), Some(last)) = (&traveler.document, last_date)
            && document.expiry_date <= last
        {
            return Err(refuse(
                format!("input.travelers.{i}.document.expiryDate"),
                format!("a document valid beyond the last travel date, {last}"),
            ));
        }
    }
    Ok(())
}

fn describe(passengers: &[PassengerType]) -> String {
    let count = |kind| passengers.iter().filter(|p| **p == kind).count();
    let mut parts = Vec::new();
    for (kind, one, many) in [
        (PassengerType::Adult, "adult", "adults"),
        (PassengerType::Child, "child", "children"),
        (PassengerType::Infant, "infant", "infants"),
    ] {
        match count(kind) {
            0 => {}
            1 => parts.push(format!("1 {one}")),
            n => parts.push(format!("{n} {many}")),
        }
    }
    parts.join(", ")
}

/// Why a date of birth cannot be anyone's, whatever the trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthDateError {
    /// After today.
    InFuture,
    /// More than 120 years ago.
    TooLongAgo,
}

/// The rules a date of birth keeps on its own: not after `today`, and
/// within the last 120 years.
pub fn check_date_of_birth(born: NaiveDate, today: NaiveDate) -> Result<(), BirthDateError> {
    if born > today {
        return Err(BirthDateError::InFuture);
    }
    if years_between(born, today) > 120 {
        return Err(BirthDateError::TooLongAgo);
    }
    Ok(())
}

/// The traveller type someone born on `born` is on `day`: `ADULT` from 12,
/// `CHILD` from 2 to 11, `INFANT` under 2; `None` before they are born.
pub fn passenger_type_on(born: NaiveDate, day: NaiveDate) -> Option<PassengerType> {
    if born > day {
        return None;
    }
    Some(match years_between(born, day) {
        age if age >= 12 => PassengerType::Adult,
        age if age >= 2 => PassengerType::Child,
        _ => PassengerType::Infant,
    })
}

/// Whole years from `born` to `on` (an age).
pub fn years_between(born: NaiveDate, on: NaiveDate) -> i32 {
    let mut years = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    years
}

/// A name of 1–50 letters (any script, accents included), with single
/// spaces, hyphens and apostrophes between letters; trimmed. `field` names
/// the input path in the error.
pub fn person_name(field: &str, raw: &str) -> Result<String, InputError> {
    let name = raw.trim();
    let length = name.chars().count();
    let allowed = name.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’'));
    let edges =
        name.chars().next().is_some_and(char::is_alphabetic) && name.chars().last().is_some_and(char::is_alphabetic);
    let runs = !name.contains("  ") && !name.contains("--") && !name.contains("''");
    if !(1..=50).contains(&length) || !allowed || !edges || !runs {
        return Err(refuse(field, "1 to 50 letters; spaces, hyphens and apostrophes only between letters"));
    }
    Ok(name.to_owned())
}

fn travel_document(field: &str, input: &TravelDocumentInput, today: NaiveDate) -> Result<TravelDocument, InputError> {
    let number: String = input.number.trim().to_ascii_uppercase();
    if contains_card_number(&number) {
        // Never stored, and the message does not repeat it.
        return Err(refuse(format!("{field}.number"), "a passport or ID number, not a card number"));
    }
    if !(5..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(refuse(format!("{field}.number"), "5 to 20 letters and digits"));
    }
    if input.expiry_date.0 <= today {
        return Err(refuse(format!("{field}.expiryDate"), "a document that has not expired"));
    }
    let issuing_country = country(&format!("{field}.issuingCountry"), &input.issuing_country)?;
    let nationality = country(&format!("{field}.nationality"), &input.nationality)?;
    Ok(TravelDocument { number, expiry_date: input.expiry_date.0, issuing_country, nationality })
}

fn country(field: &str, raw: &str) -> Result<String, InputError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err(refuse(field, "an ISO 3166-1 alpha-2 country code, like PT"))
    }
}

/// Whether `email` has the shape of an address: one `@`, a local part of
/// 1–64 permitted characters without leading, trailing or double dots, and
/// a domain of at least two dot-separated labels (letters, digits, inner
/// hyphens) ending in a top-level domain of two or more letters.
pub fn is_email(email: &str) -> bool {
    if email.len() > 254 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else { return false };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// Whether `phone` is a number in E.164 form (`+351912345678`).
pub fn is_phone(phone: &str) -> bool {
    crate::flights::providers::split_e164(phone).is_some()
}

/// The officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO \
BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET \
FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS \
IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP \
MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn names_allow_accents_hyphens_and_apostrophes_between_letters() {
        for ok in ["Ana", "José María", "O'Neill", "Anne-Marie", "Zoë", "D’Almeida", "Łukasz", "李"] {
            assert!(person_name("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "-Ana", "Ana-", "A  B", "R2D2", "Ana!", &"a".repeat(51), "'O"] {
            assert!(person_name("f", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for ok in ["ana@example.com", "a.b+tag@mail.example.pt", "x@y.io"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a..b@x.com",
            "ana@-x.com",
            "ana@x.c0m",
            "a b@x.com",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn ages_are_whole_years_on_the_day() {
        assert_eq!(years_between(date("2014-06-10"), date("2026-06-09")), 11);
        assert_eq!(years_between(date("2014-06-10"), date("2026-06-10")), 12);
        assert_eq!(years_between(date("2024-02-29"), date("2026-02-28")), 1);
    }

    #[test]
    fn traveller_types_follow_the_age_on_the_day() {
        let born = date("2014-06-10");
        assert_eq!(passenger_type_on(born, date("2026-06-09")), Some(PassengerType::Child));
        assert_eq!(passenger_type_on(born, date("2026-06-10")), Some(PassengerType::Adult));
        assert_eq!(passenger_type_on(date("2025-01-01"), date("2026-12-31")), Some(PassengerType::Infant));
        assert_eq!(passenger_type_on(date("2025-01-01"), date("2027-01-01")), Some(PassengerType::Child));
        assert_eq!(passenger_type_on(date("2027-01-01"), date("2026-12-31")), None);
        let today = date("2026-12-03");
        assert_eq!(check_date_of_birth(date("2026-12-04"), today), Err(BirthDateError::InFuture));
        assert_eq!(check_date_of_birth(date("1900-01-01"), today), Err(BirthDateError::TooLongAgo));
        assert_eq!(check_date_of_birth(date("1990-05-14"), today), Ok(()));
    }

    #[test]
    fn countries_are_iso_alpha2() {
        assert_eq!(country("f", "pt"), Ok("PT".to_owned()));
        assert!(country("f", "XX").is_err());
        assert!(country("f", "PRT").is_err());
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
    }

    #[test]
    fn card_numbers_are_refused_before_any_other_rule_and_not_echoed() {
        let input = PayForBookingInput {
            booking_id: ID("bk".into()),
            payment_method: "4242 4242 4242 4242".into(),
            idempotency_key: "short".into(),
        };
        let error = check_payment(&input).expect_err("refused");
        assert_eq!(error.field, "input.paymentMethod");
        assert!(!error.message.contains("4242"));
        assert!(!format!("{input:?}").contains("4242"));
    }
}
