//! The built-in chat extractor and the dialogue over it, on arbitrary text
//! in an arbitrary session: locale tag, time zone, "now" and the question
//! the agent was waiting on are drawn from the input's first eight bytes;
//! the rest, as UTF-8 (lossy), is the conversation, one message per line.
//! Neither `extract` nor `advance` may panic or hang, whatever the input.
//!
//! Input: [locale][tz hi][tz lo][now: 4 bytes][pending, bit 4: offers shown][text…]
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use wayfarer::chat::dialogue::advance;
use wayfarer::chat::extract::{ExtractContext, extract};
use wayfarer::chat::model::{DialogueState, PendingQuestion, PlaceRole, Slot, Stage};

/// Tags sessions carry, then odd ones a client may send.
const LOCALES: &[&str] = &[
    "en-US", "es-ES", "fr-FR", "de-DE", "it-IT", "pt-PT", "en-GB", "pt-BR", "es-MX", "en", "es", "fr", "de", "it",
    "pt", "en-PH", "de-CH", "es-AR", "fr-CA", "en_AU", "zz-ZZ", "", "-", "en-", "x-", "EN-us", "ja-JP",
];

/// 2026-01-01T00:00:00Z: "now" is this plus up to 136 years.
const EPOCH: i64 = 1_767_225_600;

fn pending(selector: u8) -> Option<PendingQuestion> {
    Some(match selector % 16 {
        0 => PendingQuestion::Slot(Slot::Origin),
        1 => PendingQuestion::Slot(Slot::Destination),
        2 => PendingQuestion::Slot(Slot::DepartureDate),
        3 => PendingQuestion::Slot(Slot::ReturnDate),
        4 => PendingQuestion::Slot(Slot::Passengers),
        5 => PendingQuestion::WhichPlace { role: PlaceRole::Destination, candidates: vec!["PAR".into(), "PRG".into()] },
        6 => PendingQuestion::DidYouMean { role: PlaceRole::Origin, suggestions: vec!["LON".into()] },
        7 => PendingQuestion::DidYouMean { role: PlaceRole::Destination, suggestions: Vec::new() },
        8 => PendingQuestion::TravellerName { traveller: 0 },
        9 => PendingQuestion::TravellerSurname { traveller: 1 },
        10 => PendingQuestion::BirthDate { traveller: 0 },
        11 => PendingQuestion::ContactEmail,
        12 => PendingQuestion::ConfirmNewPrice,
        13 => PendingQuestion::RetryBooking,
        _ => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((header, text)) = data.split_first_chunk::<8>() else { return };
    let locale = LOCALES[usize::from(header[0]) % LOCALES.len()];
    let zone =
        chrono_tz::TZ_VARIANTS[usize::from(u16::from_be_bytes([header[1], header[2]])) % chrono_tz::TZ_VARIANTS.len()];
    let seconds = i64::from(u32::from_be_bytes([header[3], header[4], header[5], header[6]]));
    let Some(now) = DateTime::<Utc>::from_timestamp(EPOCH + seconds, 0) else { return };
    let today = now.with_timezone(&zone).date_naive();
    let text = String::from_utf8_lossy(text);

    let mut state = DialogueState { pending: pending(header[7]), ..DialogueState::default() };
    if header[7] & 0x10 != 0 {
        // Offers on screen: "the cheapest", "the 2nd" and a bare "3" pick one.
        state.stage = Stage::Results;
        state.shown_offers = vec!["amadeus:1".into(), "duffel:2".into(), "amadeus:3".into()];
    }
    // Eight turns at most: the point is each message, not endless state.
    for message in text.split('\n').take(8) {
        let extraction = extract(message, &ExtractContext::for_state(&state, Some(locale), today));
        let _ = advance(&mut state, &extraction, today);
    }
});
