//! `POST /webhooks/payments`: the payment gateway's signed event deliveries.
//! The raw body (under the server's body limit) is verified against the
//! `Stripe-Signature` header with the webhook secret and the configured
//! tolerance on the injected clock; each event id is claimed once in the
//! store, applied by the booking service, and marked processed.
//!
//! Answers: 400 for a missing, bad or stale signature (logged, body never
//! echoed); 2xx for an event processed, ignored, or seen before; 500 only
//! when applying it failed and a redelivery should try again (the claim is
//! released first, so the redelivery is not taken for a duplicate).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use secrecy::ExposeSecret as _;

use crate::app::AppState;
use crate::booking::links::WebhookOutcome;
use crate::payments::webhook::{SIGNATURE_HEADER, verify_signature};

/// Verifies, de-duplicates and applies one delivery.
pub(super) async fn payments(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(header) = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok()) else {
        tracing::warn!("a payment webhook without a Stripe-Signature header was refused");
        return (StatusCode::BAD_REQUEST, "missing signature").into_response();
    };
    let settings = state.settings();
    let now = state.clock().now();
    let secret = state.webhook_secret().expose_secret();
    let event = match verify_signature(&body, header, secret, settings.payments.webhook_tolerance, now) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, bytes = body.len(), "a payment webhook was refused");
            return (StatusCode::BAD_REQUEST, "invalid signature").into_response();
        }
    };
    let store = state.store();
    let lease = settings.booking.recovery_after;
    match store.claim_webhook_event(&event.id, &event.kind, now, lease).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(event = %event.id, kind = %event.kind, "a payment webhook seen before");
            return (StatusCode::OK, "duplicate").into_response();
        }
        Err(error) => {
            tracing::error!(event = %event.id, %error, "claiming a payment webhook failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "retry").into_response();
        }
    }
    match state.bookings().handle_payment_event(&event).await {
        Ok(outcome) => {
            match outcome {
                WebhookOutcome::Processed => {
                    tracing::info!(event = %event.id, kind = %event.kind, "payment webhook applied")
                }
                WebhookOutcome::Ignored(why) => {
                    tracing::debug!(event = %event.id, kind = %event.kind, why, "payment webhook acknowledged");
                }
            }
            if let Err(error) = store.mark_webhook_event_processed(&event.id, state.clock().now()).await {
                // Applied already; a redelivery finds the payment recorded and does nothing.
                tracing::warn!(event = %event.id, %error, "marking a payment webhook processed failed");
            }
            (StatusCode::OK, "ok").into_response()
        }
        Err(error) => {
            tracing::error!(event = %event.id, kind = %event.kind, %error, "applying a payment webhook failed; it will be redelivered");
            if let Err(error) = store.release_webhook_event(&event.id).await {
                tracing::warn!(event = %event.id, %error, "releasing a payment webhook's claim failed");
            }
            (StatusCode::INTERNAL_SERVER_ERROR, "retry").into_response()
        }
    }
}
