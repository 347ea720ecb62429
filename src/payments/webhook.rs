//! Webhook signatures, exactly as Stripe signs them, and the events they
//! carry. Both ends live here — [`sign`] for the sandbox that sends,
//! [`verify_signature`] for the server that receives — so they cannot drift.
//!
//! The `Stripe-Signature` header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`
//! where each `v1` is HMAC-SHA256, keyed by the endpoint's signing secret
//! (the whole `whsec_…` string), over `"{t}.{raw body}"`. Several `v1`
//! entries appear while a secret is being rolled; any match is accepted.
//! Other schemes (`v0`, test-mode extras) are ignored. The comparison is
//! constant-time (`hmac`'s `verify_slice`), and a timestamp further than the
//! tolerance from now — in either direction, where Stripe's libraries only
//! check the past — is refused, which bounds replays of a captured delivery.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::money::from_minor_units;
use crate::flights::model::Money;

type HmacSha256 = Hmac<Sha256>;

/// The header Stripe signs deliveries with.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The header has no `t=` or it is not a number.
    #[error("the signature header has no valid timestamp")]
    MissingTimestamp,
    /// The header has no `v1=` signature.
    #[error("the signature header has no v1 signature")]
    MissingSignature,
    /// No `v1` matches the payload under the secret.
    #[error("no signature matches the payload")]
    BadSignature,
    /// Signed longer ago (or further ahead) than the tolerance.
    #[error("the signature timestamp is {age_seconds} s from now, beyond the tolerance")]
    Stale {
        /// How far the timestamp is from now, seconds.
        age_seconds: i64,
    },
    /// Signed correctly, but not an event we can read.
    #[error("the payload is not a webhook event: {0}")]
    Payload(String),
}

/// A verified event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    /// `evt_…`: the same on every delivery of one event, so it is the key to
    /// process each event once.
    pub id: String,
    /// `checkout.session.completed`, `payment_intent.succeeded`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (unix seconds): orders events that arrive out of order.
    pub created: i64,
    /// Test or live.
    #[serde(default)]
    pub livemode: bool,
    /// The event's `data`.
    pub data: EventData,
}

/// An event's `data`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventData {
    /// The object the event is about (a Checkout Session, a PaymentIntent), as sent.
    pub object: Value,
}

/// What an event means for a booking, read from its object.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentEvent {
    /// A hosted-page payment went through (`checkout.session.completed`
    /// with `payment_status: paid`).
    CheckoutCompleted {
        /// `cs_…`.
        session_id: String,
        /// The PaymentIntent that paid it.
        payment_intent: Option<String>,
        /// `client_reference_id`, else `metadata.booking_id`.
        booking_id: Option<String>,
        /// `amount_total` in `currency`.
        amount: Option<Money>,
        /// `paid`, `unpaid` or `no_payment_required`.
        payment_status: String,
    },
    /// A hosted page expired unpaid (`checkout.session.expired`).
    CheckoutExpired {
        /// `cs_…`.
        session_id: String,
        /// `client_reference_id`, else `metadata.booking_id`.
        booking_id: Option<String>,
    },
    /// A PaymentIntent succeeded (`payment_intent.succeeded`).
    PaymentSucceeded {
        /// `pi_…`.
        payment_intent: String,
        /// `metadata.booking_id`.
        booking_id: Option<String>,
        /// `amount` in `currency`.
        amount: Option<Money>,
    },
    /// A payment attempt was declined (`payment_intent.payment_failed`).
    PaymentFailed {
        /// `pi_…`.
        payment_intent: String,
        /// `metadata.booking_id`.
        booking_id: Option<String>,
        /// `last_payment_error.decline_code`, else its `code`.
        decline_code: Option<String>,
        /// `last_payment_error.message`.
        message: Option<String>,
    },
    /// Any other event type: acknowledge and ignore.
    Other,
}

impl WebhookEvent {
    /// The event read for what it means to a booking.
    pub fn payment_event(&self) -> PaymentEvent {
        let object = &self.data.object;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let id = text(&object["id"]).unwrap_or_default();
        let metadata_booking = text(&object["metadata"]["booking_id"]);
        let amount = |field: &str| {
            let minor = object[field].as_i64()?;
            let currency = object["currency"].as_str()?;
            Some(from_minor_units(minor, currency))
        };
        match self.kind.as_str() {
            "checkout.session.completed" => PaymentEvent::CheckoutCompleted {
                session_id: id,
                payment_intent: text(&object["payment_intent"]),
                booking_id: text(&object["client_reference_id"]).or(metadata_booking),
                amount: amount("amount_total"),
                payment_status: text(&object["payment_status"]).unwrap_or_default(),
            },
            "checkout.session.expired" => PaymentEvent::CheckoutExpired {
                session_id: id,
                booking_id: text(&object["client_reference_id"]).or(metadata_booking),
            },
            "payment_intent.succeeded" => PaymentEvent::PaymentSucceeded {
                payment_intent: id,
                booking_id: metadata_booking,
                amount: amount("amount"),
            },
            "payment_intent.payment_failed" => {
                let error = &object["last_payment_error"];
                PaymentEvent::PaymentFailed {
                    payment_intent: id,
                    booking_id: metadata_booking,
                    decline_code: text(&error["decline_code"]).or_else(|| text(&error["code"])),
                    message: text(&error["message"]),
                }
            }
            _ => PaymentEvent::Other,
        }
    }
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The hex `v1` signature of `payload` signed at `timestamp`.
pub fn signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    hex::encode(mac(secret, timestamp, payload).finalize().into_bytes())
}

/// The `Stripe-Signature` header value for `payload` signed at `timestamp`
/// (unix seconds): `t=…,v1=…`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", signature(payload, secret, timestamp))
}

/// Checks a delivery's `Stripe-Signature` header against the raw body and
/// returns the event it carries. `tolerance` bounds how far the signed
/// timestamp may be from `now`.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    tolerance: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<WebhookEvent, WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((scheme, value)) = part.trim().split_once('=') else { continue };
        match scheme {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(WebhookError::MissingSignature);
    }
    let expected = mac(secret, timestamp, payload);
    // Every candidate is checked in constant time; which one matched is not secret.
    let matched = signatures
        .iter()
        .filter_map(|s| hex::decode(s).ok())
        .any(|candidate| expected.clone().verify_slice(&candidate).is_ok());
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    let age_seconds = now.timestamp() - timestamp;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age_seconds.abs() > tolerance {
        return Err(WebhookError::Stale { age_seconds });
    }
    serde_json::from_slice(payload).map_err(|e| WebhookError::Payload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn event() -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "evt_1", "object": "event", "type": "checkout.session.completed", "created": 1_700_000_000,
            "livemode": false,
            "data": { "object": {
                "id": "cs_test_1", "object": "checkout.session", "payment_intent": "pi_1",
                "client_reference_id": "bk_7", "metadata": { "booking_id": "bk_7" },
                "amount_total": 34220, "currency": "eur", "payment_status": "paid"
            } }
        }))
        .expect("json")
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("time")
    }

    #[test]
    fn a_signed_delivery_verifies_and_reads() {
        let payload = event();
        let header = sign(&payload, SECRET, 1_700_000_000);
        let event = verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_700_000_100)).expect("valid");
        assert_eq!(
            (event.id.as_str(), event.kind.as_str(), event.created),
            ("evt_1", "checkout.session.completed", 1_700_000_000)
        );
        assert_eq!(
            event.payment_event(),
            PaymentEvent::CheckoutCompleted {
                session_id: "cs_test_1".into(),
                payment_intent: Some("pi_1".into()),
                booking_id: Some("bk_7".into()),
                amount: Some(Money { amount: "342.20".parse().expect("decimal"), currency: "EUR".into() }),
                payment_status: "paid".into(),
            }
        );
    }

    #[test]
    fn the_signature_matches_a_known_vector() {
        // HMAC-SHA256("whsec_test_secret", "1700000000.{}"), computed independently
        // (`printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test_secret`).
        assert_eq!(
            signature(b"{}", SECRET, 1_700_000_000),
            "ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3"
        );
    }

    #[test]
    fn a_wrong_secret_or_altered_body_is_refused() {
        let payload = event();
        let header = sign(&payload, SECRET, 1_700_000_000);
        let now = at(1_700_000_000);
        assert_eq!(verify_signature(&payload, &header, "whsec_other", TOLERANCE, now), Err(WebhookError::BadSignature));
        let mut altered = payload.clone();
        altered.extend_from_slice(b" ");
        assert_eq!(verify_signature(&altered, &header, SECRET, TOLERANCE, now), Err(WebhookError::BadSignature));
        let other_time = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify_signature(&payload, &other_time, SECRET, TOLERANCE, now), Err(WebhookError::BadSignature));
        let garbage = "t=1700000000,v1=zz-not-hex";
        assert_eq!(verify_signature(&payload, garbage, SECRET, TOLERANCE, now), Err(WebhookError::BadSignature));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let payload = event();
        let header = sign(&payload, SECRET, 1_700_000_000);
        assert_eq!(
            verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_700_000_301)),
            Err(WebhookError::Stale { age_seconds: 301 })
        );
        assert_eq!(
            verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_699_999_000)),
            Err(WebhookError::Stale { age_seconds: -1000 })
        );
        assert!(verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_700_000_300)).is_ok(), "at the edge");
    }

    #[test]
    fn any_of_several_v1_signatures_may_match() {
        let payload = event();
        let good = signature(&payload, SECRET, 1_700_000_000);
        let old = signature(&payload, "whsec_rolled_out", 1_700_000_000);
        let header = format!("t=1700000000,v1={old},v0=ignored,v1={good}");
        assert!(verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_700_000_000)).is_ok());
        let header = format!("t=1700000000, v1={old}");
        assert_eq!(
            verify_signature(&payload, &header, SECRET, TOLERANCE, at(1_700_000_000)),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let payload = event();
        let good = signature(&payload, SECRET, 1_700_000_000);
        let now = at(1_700_000_000);
        assert_eq!(
            verify_signature(&payload, &format!("v1={good}"), SECRET, TOLERANCE, now),
            Err(WebhookError::MissingTimestamp)
        );
        assert_eq!(
            verify_signature(&payload, &format!("t=soon,v1={good}"), SECRET, TOLERANCE, now),
            Err(WebhookError::MissingTimestamp)
        );
        assert_eq!(
            verify_signature(&payload, "t=1700000000", SECRET, TOLERANCE, now),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(verify_signature(&payload, "", SECRET, TOLERANCE, now), Err(WebhookError::MissingTimestamp));
    }

    #[test]
    fn a_signed_non_event_is_a_payload_error() {
        let payload = b"[1,2,3]";
        let header = sign(payload, SECRET, 1_700_000_000);
        assert!(matches!(
            verify_signature(payload, &header, SECRET, TOLERANCE, at(1_700_000_000)),
            Err(WebhookError::Payload(_))
        ));
    }
}
