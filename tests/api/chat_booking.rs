//! Booking by chat end to end over HTTP, against the bundled sandbox: a
//! Spanish conversation from "quiero volar" to a confirmed booking (one
//! answer refused and corrected, the payment made on the sandbox's hosted
//! page, whose signed webhook confirms the booking), a German one giving
//! every detail in one message (on Redis and PostgreSQL), a changed price asked about before booking
//! at it, and an offer that expired or a hold that lapsed sending the
//! traveller back to the search.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike as _;
use serde_json::{Value, json};
use wayfarer::clock::ManualClock;

use crate::booking::set_personality;
use crate::chat::session_in;
use crate::helpers::{Backend, TestApp, eventually};
use crate::payment_links::pay_on_page;

/// The contract's `SendMessage` with the booking fields this server adds.
const SEND_MESSAGE_WITH_BOOKING: &str = "mutation SendMessage($text: String!) {
  sendMessage(text: $text) {
    reply { text language }
    understanding { intent language }
    missing
    stage
    suggestedReplies
    offers { id price { amount currency } }
    booking { id status reference total { amount currency } }
    paymentLink { url expiresAt }
  }
}";

const BOOKING: &str = "query Booking($id: ID!) {
  booking(id: $id) {
    id status reference
    travelers { firstName lastName dateOfBirth type }
    contact { email }
    offer { id itineraries { segments { departure { at } } } }
  }
}";

const WITHIN: Duration = Duration::from_secs(10);

/// Sends one message that must succeed; `data.sendMessage`.
async fn say(app: &TestApp, token: &str, text: &str) -> Value {
    let (status, body) = app.graphql(SEND_MESSAGE_WITH_BOOKING, json!({ "text": text }), Some(token)).await;
    assert_eq!(status, 200, "{text}: {body}");
    assert!(body["errors"].is_null(), "{text}: {body}");
    body["data"]["sendMessage"].clone()
}

fn text(turn: &Value) -> &str {
    turn["reply"]["text"].as_str().unwrap_or("")
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    let (_, body) = app.graphql(BOOKING, json!({ "id": id }), Some(token)).await;
    body["data"]["booking"].clone()
}

/// A day about a month ahead, as Spanish ("15 de enero") and German ("15. Januar") write it.
fn month_ahead() -> (chrono::NaiveDate, String, String) {
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
    let es = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let de = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    let month = day.month0() as usize;
    (day, format!("{} de {}", day.day(), es[month]), format!("{}. {}", day.day(), de[month]))
}

/// Every chip of a turn is a short non-empty text.
fn chips(turn: &Value) -> Vec<String> {
    let chips: Vec<String> =
        turn["suggestedReplies"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert!((2..=4).contains(&chips.len()), "{turn}");
    chips
}

#[tokio::test]
async fn a_spanish_conversation_goes_from_quiero_volar_to_a_confirmed_booking() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "es-ES").await;
    let (day, written, _) = month_ahead();

    let first = say(&app, &token, "quiero volar").await;
    assert_eq!((first["stage"].as_str(), first["missing"][0].as_str()), (Some("COLLECTING"), Some("DESTINATION")));

    let results = say(&app, &token, &format!("a Madrid desde Londres el {written}")).await;
    assert_eq!(results["stage"], "RESULTS", "{results}");
    let offers = results["offers"].as_array().unwrap().clone();
    assert!(offers.len() >= 2, "{results}");

    let picked = say(&app, &token, "reservar la opción 2").await;
    assert_eq!(picked["stage"], "TRAVELLER_DETAILS", "{picked}");
    assert_eq!(picked["understanding"]["intent"], "BOOK");
    assert_eq!(picked["reply"]["language"], "es");
    assert!(text(&picked).contains("opción 2") && text(&picked).contains("nombre completo"), "{picked}");
    assert!(text(&picked).contains(&offers[1]["price"]["amount"].as_str().unwrap().replace('.', ",")), "{picked}");
    assert!(chips(&picked).contains(&"Cancelar".to_owned()));

    let named = say(&app, &token, "Ana García Pérez").await;
    assert_eq!(named["stage"], "TRAVELLER_DETAILS");
    assert!(text(&named).contains("nombre Ana, apellidos García Pérez"), "{named}");
    assert!(text(&named).contains("fecha de nacimiento de Ana"), "{named}");

    let refused = say(&app, &token, "31/02/1990").await;
    assert_eq!(refused["stage"], "TRAVELLER_DETAILS");
    assert!(text(&refused).starts_with("Esa fecha no existe."), "{refused}");
    assert!(text(&refused).contains("fecha de nacimiento de Ana"), "the same question again: {refused}");

    let born = say(&app, &token, "14/05/1990").await;
    assert!(text(&born).contains("correo electrónico"), "{born}");
    assert_eq!(born["booking"], Value::Null, "nothing booked yet");

    let held = say(&app, &token, "ana@example.com").await;
    assert_eq!(held["stage"], "PAYMENT", "{held}");
    assert_eq!(held["reply"]["language"], "es");
    let url = held["paymentLink"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(app.state.sandbox_url().unwrap()), "the sandbox hosts the page: {url}");
    assert!(text(&held).contains(&url), "the link is in the reply: {held}");
    assert_eq!(held["booking"]["status"], "PENDING_PAYMENT");
    assert_eq!(held["booking"]["total"], offers[1]["price"], "the offer picked, at its price");
    let id = held["booking"]["id"].as_str().unwrap().to_owned();

    // Still unpaid: a message gets the same link again.
    let reminder = say(&app, &token, "¿y ahora qué?").await;
    assert_eq!(reminder["stage"], "PAYMENT");
    assert_eq!(reminder["paymentLink"]["url"], url.as_str());
    assert!(text(&reminder).contains(&url) && text(&reminder).contains("pendiente de pago"), "{reminder}");

    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    let confirmed = eventually(WITHIN, async || booking(&app, &token, &id).await["status"] == "CONFIRMED").await;
    assert!(confirmed, "the webhook confirmed the booking: {}", booking(&app, &token, &id).await);

    let after = say(&app, &token, "¿ya está?").await;
    assert_eq!(after["stage"], "CONFIRMED", "{after}");
    let stored = booking(&app, &token, &id).await;
    let reference = stored["reference"].as_str().unwrap();
    assert!(!reference.is_empty());
    assert!(text(&after).contains(reference) && text(&after).contains("confirmada"), "{after}");
    assert_eq!(after["booking"]["reference"], reference);
    assert_eq!(after["booking"]["status"], "CONFIRMED");
    assert_eq!(after["paymentLink"], Value::Null);
    assert_eq!(
        stored["travelers"],
        json!([{ "firstName": "Ana", "lastName": "García Pérez", "dateOfBirth": "1990-05-14", "type": "ADULT" }])
    );
    assert_eq!(stored["contact"]["email"], "ana@example.com");
    assert_eq!(stored["offer"]["id"], offers[1]["id"], "option 2 was booked");
    let departure = stored["offer"]["itineraries"][0]["segments"][0]["departure"]["at"].as_str().unwrap();
    assert!(departure.starts_with(&day.to_string()), "{departure} on {day}");

    // And a notification, in Spanish, carries the reference too.
    let mut newest = Value::Null;
    let notified = eventually(WITHIN, async || {
        let (_, body) = app
            .graphql(
                &crate::booking::document(crate::notifications::NOTIFICATIONS),
                json!({ "first": 1 }),
                Some(&token),
            )
            .await;
        newest = body["data"]["notifications"][0].clone();
        newest["kind"] == "BOOKING_CONFIRMED"
    })
    .await;
    assert!(notified, "{newest}");
    assert_eq!(newest["title"], "Reserva confirmada");
    assert!(newest["body"].as_str().unwrap().contains(reference), "{newest}");
    assert_eq!(newest["bookingId"], id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_german_conversation_books_with_every_detail_in_one_message_on_redis_and_postgres() {
    // The dialogue, booking draft included, goes through the Redis session store between turns.
    let app = TestApp::spawn(Backend::Redis).await;
    let token = session_in(&app, "de-DE").await;
    let (day, _, written) = month_ahead();
    let asked = say(&app, &token, "Ich möchte von London nach Paris fliegen").await;
    assert_eq!(asked["missing"], json!(["DEPARTURE_DATE"]), "{asked}");
    let results = say(&app, &token, &format!("am {written}")).await;
    assert_eq!(results["stage"], "RESULTS", "{results}");
    let first = results["offers"][0].clone();

    let picked = say(&app, &token, "das erste buchen").await;
    assert_eq!(picked["stage"], "TRAVELLER_DETAILS", "{picked}");
    assert!(text(&picked).contains("Option 1") && text(&picked).contains("vollständige Name"), "{picked}");

    let held = say(&app, &token, "Ich heiße Hans Müller, geboren am 14.05.1990, E-Mail hans@example.com").await;
    assert_eq!(held["stage"], "PAYMENT", "{held}");
    assert_eq!(held["reply"]["language"], "de");
    let url = held["paymentLink"]["url"].as_str().unwrap().to_owned();
    assert!(text(&held).contains(&url) && text(&held).contains("reserviert"), "{held}");
    assert_eq!(held["booking"]["total"], first["price"]);
    let id = held["booking"]["id"].as_str().unwrap().to_owned();

    assert_eq!(pay_on_page(&url, "pm_card_visa").await, 303);
    assert!(eventually(WITHIN, async || booking(&app, &token, &id).await["status"] == "CONFIRMED").await);
    let thanks = say(&app, &token, "danke").await;
    assert_eq!(thanks["stage"], "CONFIRMED", "{thanks}");
    let reference = booking(&app, &token, &id).await["reference"].as_str().unwrap().to_owned();
    assert!(text(&thanks).contains(&reference) && text(&thanks).contains("bestätigt"), "{thanks}");
    let stored = booking(&app, &token, &id).await;
    assert_eq!(stored["travelers"][0]["lastName"], "Müller");
    assert!(
        stored["offer"]["itineraries"][0]["segments"][0]["departure"]["at"]
            .as_str()
            .is_some_and(|at| at.starts_with(&day.to_string()))
    );
    // Asked again later, the agent says where the booking stands.
    let status = say(&app, &token, "Wie steht es um meine Buchung?").await;
    assert_eq!(status["understanding"]["intent"], "BOOKING_STATUS");
    assert!(text(&status).contains(&reference) && text(&status).contains("bestätigt"), "{status}");
    app.stop().await;
}

#[tokio::test]
async fn a_changed_price_is_told_and_booked_only_after_a_yes() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "it-IT").await;
    let results = say(&app, &token, "vorrei un volo da Roma a Londra tra 20 giorni").await;
    assert_eq!(results["stage"], "RESULTS", "{results}");
    let shown = results["offers"][0]["price"].clone();
    say(&app, &token, "prenota la prima").await;
    for provider in ["amadeus", "duffel"] {
        set_personality(&app, provider, json!({ "priceDriftPercent": 10.0 })).await;
    }
    let asked = say(&app, &token, "Giulia Rossi, 14/05/1990, giulia@example.com").await;
    assert_eq!(asked["stage"], "TRAVELLER_DETAILS", "{asked}");
    assert!(text(&asked).contains("prezzo") && text(&asked).contains("nuovo prezzo?"), "{asked}");
    assert_eq!(chips(&asked), ["Sì", "No"]);
    assert_eq!(asked["booking"], Value::Null, "nothing booked at a price not agreed");
    let held = say(&app, &token, "sì").await;
    assert_eq!(held["stage"], "PAYMENT", "{held}");
    assert_ne!(held["booking"]["total"], shown, "booked at the new price");
    assert!(text(&held).contains(&held["booking"]["total"]["amount"].as_str().unwrap().replace('.', ",")));
    for provider in ["amadeus", "duffel"] {
        set_personality(&app, provider, json!({ "priceDriftPercent": 0.0 })).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn an_offer_that_expired_or_a_hold_that_lapsed_goes_back_to_the_search() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(
        Backend::Memory,
        |s| s.booking.sweep_interval = Duration::from_secs(3600),
        Some(clock.clone()),
    )
    .await;
    let token = session_in(&app, "fr-FR").await;
    let results = say(&app, &token, "un vol de Paris à Lisbonne dans 25 jours").await;
    assert_eq!(results["stage"], "RESULTS", "{results}");
    say(&app, &token, "je réserve le 1").await;
    let held = say(&app, &token, "Anne-Sophie Dupont, 14/05/1990, anne@example.com").await;
    assert_eq!(held["stage"], "PAYMENT", "{held}");
    let id = held["booking"]["id"].as_str().unwrap().to_owned();
    clock.advance(Duration::from_secs(21 * 60));
    assert_eq!(app.state.bookings().sweep_once().await.expired, 1);
    let lapsed = say(&app, &token, "alors ?").await;
    assert_eq!(lapsed["stage"], "COLLECTING", "{lapsed}");
    assert!(text(&lapsed).contains("a expiré") && text(&lapsed).contains("rien n'a été débité"), "{lapsed}");
    assert_eq!(lapsed["booking"]["status"], "EXPIRED");
    assert_eq!(booking(&app, &token, &id).await["status"], "EXPIRED");
    let again = chips(&lapsed)[0].clone();
    assert_eq!(again, "Rechercher des vols");
    let fresh = say(&app, &token, &again).await;
    assert_eq!(fresh["stage"], "RESULTS", "the chip searches again: {fresh}");

    let picked = say(&app, &token, "je réserve le 2").await;
    assert_eq!(picked["stage"], "TRAVELLER_DETAILS", "{picked}");
    say(&app, &token, "Anne-Sophie Dupont, née le 14 mai 1990").await;
    clock.advance(Duration::from_secs(3 * 3600));
    let gone = say(&app, &token, "anne@example.com").await;
    assert_eq!(gone["stage"], "COLLECTING", "{gone}");
    assert!(text(&gone).contains("n'est plus disponible"), "{gone}");
    assert_eq!(gone["booking"], Value::Null);
    assert_eq!(chips(&gone)[0], "Rechercher des vols");
    app.stop().await;
}
