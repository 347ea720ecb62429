//! The provider and payment-gateway answer mappings: the functions that turn
//! an Amadeus, Duffel or Stripe body (and status) into offers, priced
//! offers, orders, charges, checkout sessions and errors, plus the payment
//! webhook's signature check and event reading. A provider is a trust
//! boundary: whatever it sends must map to a value or a typed error, never a
//! panic. Mapped offers and charges are then taken where the server takes
//! them next (the amount in minor units that a charge is made for), so an
//! amount a mapping lets through cannot panic later.
//!
//! Input: [selector][status hi][status lo][body…]
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use wayfarer::flights::model::{Money, Offer};
use wayfarer::flights::providers::{HttpReply, amadeus, duffel};
use wayfarer::fuzzing;
use wayfarer::payments::money::to_minor_units;
use wayfarer::payments::webhook;

/// A searched offer for the pricing mappings to land on.
static SEARCHED: LazyLock<Offer> = LazyLock::new(|| Offer {
    id: "amadeus:seed".into(),
    provider: "amadeus".into(),
    price: Money::new(Decimal::from(100), "EUR"),
    seats_available: Some(9),
    expires_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
    itineraries: Vec::new(),
    provider_offer: wayfarer::flights::model::ProviderOffer::from_value(&serde_json::json!({ "id": "off_seed" })),
    passengers: Vec::new(),
});

const SECRET: &str = "whsec_fuzz";

/// What the server does with a mapped offer's price next: charge it.
fn charge_amounts(offers: &[Offer]) {
    for offer in offers {
        let _ = to_minor_units(&offer.price);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((header, body)) = data.split_first_chunk::<3>() else { return };
    let status = u16::from_be_bytes([header[1], header[2]]) % 600;
    let reply = HttpReply { status, body: body.to_vec().into() };
    match header[0] % 14 {
        0 => {
            if let Ok(offers) = amadeus::map_search(body) {
                charge_amounts(&offers);
            }
        }
        1 => {
            if let Ok(priced) = fuzzing::amadeus_pricing(body, &SEARCHED) {
                charge_amounts(&[priced.offer]);
            }
        }
        2 => {
            if let Ok(order) = fuzzing::amadeus_order(body) {
                let _ = to_minor_units(&order.price);
            }
        }
        3 => {
            let _ = fuzzing::amadeus_pricing_error(&reply);
            let _ = fuzzing::amadeus_order_error(&reply, "EUR");
            let _ = amadeus::error_detail(&reply);
        }
        4 => {
            if let Ok(offers) = duffel::map_offer_request(body) {
                charge_amounts(&offers);
            }
        }
        5 => {
            if let Ok(priced) = fuzzing::duffel_priced_offer(body, &SEARCHED) {
                charge_amounts(&[priced.offer]);
            }
        }
        6 => {
            if let Ok(order) = fuzzing::duffel_order(body) {
                let _ = to_minor_units(&order.price);
            }
        }
        7 => {
            let _ = fuzzing::duffel_error(&reply, true);
            let _ = fuzzing::duffel_error(&reply, false);
            let _ = duffel::error_detail(&reply);
        }
        8 | 9 => {
            // 200 and 402 are the bodies that carry a PaymentIntent.
            let reply = HttpReply { status: if header[0] % 14 == 8 { 200 } else { 402 }, body: body.to_vec().into() };
            if let Ok(charge) = fuzzing::stripe_charge(&reply) {
                let _ = to_minor_units(&charge.amount);
            }
        }
        10 => {
            let reply = HttpReply { status: 200, body: body.to_vec().into() };
            if let Ok(session) = fuzzing::stripe_session(&reply)
                && let Some(amount) = session.amount
            {
                let _ = to_minor_units(&amount);
            }
        }
        11 => {
            let _ = fuzzing::stripe_error(&reply);
            let _ = fuzzing::stripe_charge(&reply);
        }
        12 => {
            // A correctly signed delivery, so the body reaches event parsing.
            let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
            let header = webhook::sign(body, SECRET, now.timestamp());
            if let Ok(event) = webhook::verify_signature(body, &header, SECRET, Duration::from_secs(300), now) {
                let _ = event.payment_event();
            }
        }
        _ => {
            // The signature header itself is attacker-controlled: the body's
            // first line is the header, the rest the payload.
            let text = String::from_utf8_lossy(body);
            let (header, payload) = text.split_once('\n').unwrap_or((&text, ""));
            let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
            let _ = webhook::verify_signature(payload.as_bytes(), header, SECRET, Duration::from_secs(300), now);
        }
    }
});
