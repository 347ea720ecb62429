//! Payment links: `createPaymentLink` opens (or hands out again) the
//! gateway's hosted payment page for a held booking, and the payment
//! webhooks' events are applied to bookings here, so a page paid moves the
//! booking exactly as `payForBooking` does — through
//! [`BookingService::drive`].
//!
//! Decisions (see the report):
//! - The gateway takes pages that stay open 30 min to 24 h, and holds are
//!   usually shorter (20 min). A page then opens for the gateway's minimum,
//!   and `expiresAt` answers the sooner of the page's end and the hold's: a
//!   payment made after the hold lapsed is recorded and refunded by the saga
//!   (`record_external_charge` → `REFUND_REQUESTED`).
//! - One open page per booking: the newest stored page is handed out again
//!   while the gateway says it is open; the gateway key is
//!   `idempotency_key("checkout", booking, "link-{n}")` for the booking's
//!   n-th page, and the expiry is rounded up to the minute, so a concurrent
//!   or retried call within the minute is replayed by the gateway.
//! - `checkout.session.completed` (paid, for a page stored here) is what
//!   records a link payment. `payment_intent.succeeded` is never one: the
//!   same event is sent for our own direct charges, possibly before their
//!   answer is recorded, and treating it as a link payment could record our
//!   own charge twice. An out-of-order `payment_intent.succeeded` is simply
//!   acknowledged; the checkout event (or the next `createPaymentLink`,
//!   which finds the page paid) settles the booking.
//! - A link charge that cannot stand (the booking already has its charge)
//!   is refunded at once with a key derived from the PaymentIntent, and
//!   stored `REFUNDED`, so a redelivery finds it and does nothing.

use std::time::Duration;

use chrono::{DateTime, DurationRound as _, Utc};

use super::model::{BookingEventKind, BookingStatus, PaymentStatus, SagaStep};
use super::service::{BookingError, BookingService, chrono_duration, not_payable};
use crate::flights::model::Money;
use crate::payments::webhook::{PaymentEvent, WebhookEvent};
use crate::payments::{CheckoutRequest, CheckoutStatus, GatewayError, idempotency_key};
use crate::store::StoreError;
use crate::store::bookings::BookingRecord;
use crate::store::links::PaymentLinkRecord;
use crate::store::payments::{ExternalCharge, NewPayment, new_payment_id};

/// The shortest a hosted page may stay open (Stripe's rule).
const GATEWAY_MIN_OPEN: Duration = Duration::from_secs(30 * 60);
/// The longest a hosted page may stay open (Stripe's rule), less a margin.
const GATEWAY_MAX_OPEN: Duration = Duration::from_secs(24 * 3600 - 60);
/// The payment method stored for link payments.
pub const PAYMENT_LINK_METHOD: &str = "payment_link";
/// How long a webhook waits for a request working on the booking to let go.
const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// A hosted payment page as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLinkView {
    /// The page.
    pub url: String,
    /// Until when paying there settles the booking: the sooner of the
    /// page's end and the hold's.
    pub expires_at: DateTime<Utc>,
}

/// What a webhook event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// It changed a booking or a payment.
    Processed,
    /// Nothing to do, and why.
    Ignored(&'static str),
}

impl BookingService {
    /// The hosted payment page of the session's `PENDING_PAYMENT` booking
    /// `booking_id`: the open one again, else a new one. `return_base` is
    /// where the page sends the payer back to (this server's public URL).
    pub async fn create_payment_link(
        &self,
        session_id: &str,
        booking_id: &str,
        return_base: &str,
    ) -> Result<PaymentLinkView, BookingError> {
        let booking = self.store().booking_for_session(session_id, booking_id).await?.ok_or(BookingError::NotFound)?;
        let now = self.now();
        if booking.status != BookingStatus::PendingPayment
            || booking.step != SagaStep::Held
            || booking.expires_at <= now
        {
            return Err(not_payable(&booking, now));
        }
        let links = self.store().payment_links_for_booking(&booking.id).await?;
        if let Some(link) = links.last().filter(|l| l.expires_at > now) {
            match self.gateway().retrieve_checkout(&link.checkout_id).await {
                Ok(session) if session.status == CheckoutStatus::Open => {
                    return Ok(link_view(session.url.as_deref().unwrap_or(&link.url), session.expires_at, &booking));
                }
                Ok(session) if session.paid => {
                    // Paid, and its webhook not applied yet: apply it now.
                    self.apply_checkout(&session.id, session.payment_id.as_deref(), session.amount.as_ref()).await?;
                    return Err(BookingError::InvalidState(
                        "This booking's payment link has been paid; the booking is being confirmed.".into(),
                    ));
                }
                Ok(_) => {}
                Err(error) if error.outcome_unknown() => return Err(gateway_unavailable(&error)),
                Err(error) => {
                    tracing::warn!(booking = %booking.id, %error, "the stored payment link cannot be read; opening another");
                }
            }
        }
        let ordinal = links.len();
        let request = CheckoutRequest {
            amount: booking.total.clone(),
            booking_id: booking.id.clone(),
            description: format!("Wayfarer flight booking {}", booking.id),
            success_url: format!(
                "{return_base}/?payment=complete&booking={}&checkout={{CHECKOUT_SESSION_ID}}",
                booking.id
            ),
            cancel_url: Some(format!("{return_base}/?payment=cancelled&booking={}", booking.id)),
            expires_at: link_expiry(booking.expires_at, now),
            idempotency_key: idempotency_key("checkout", &booking.id, &format!("link-{ordinal}")),
        };
        let session = match self.gateway().create_checkout(&request).await {
            Ok(session) => session,
            Err(GatewayError::IdempotencyConflict(_)) => {
                // A concurrent call opened this page a minute apart: hand out its page.
                let links = self.store().payment_links_for_booking(&booking.id).await?;
                return match links.get(ordinal) {
                    Some(link) => Ok(link_view(&link.url, link.expires_at, &booking)),
                    None => Err(BookingError::Busy(
                        "A payment link is being opened for this booking; retry shortly.".into(),
                    )),
                };
            }
            Err(error) if error.outcome_unknown() => return Err(gateway_unavailable(&error)),
            Err(error) => {
                tracing::error!(booking = %booking.id, %error, "the gateway refused to open a payment page");
                return Err(BookingError::Unavailable(
                    "The payment provider could not open a payment page; please try again.".into(),
                ));
            }
        };
        let Some(url) = session.url.clone() else {
            return Err(BookingError::Internal(format!("checkout {} opened without a URL", session.id)));
        };
        let record = PaymentLinkRecord {
            checkout_id: session.id.clone(),
            booking_id: booking.id.clone(),
            url: url.clone(),
            expires_at: session.expires_at,
            created_at: now,
        };
        self.store().insert_payment_link(&record).await?;
        Ok(link_view(&url, session.expires_at, &booking))
    }

    /// Applies one verified payment webhook event. An `Err` means the event
    /// should be delivered again (the store failed, or a refund did not go
    /// through); everything else is acknowledged.
    pub async fn handle_payment_event(&self, event: &WebhookEvent) -> Result<WebhookOutcome, BookingError> {
        match event.payment_event() {
            PaymentEvent::CheckoutCompleted { session_id, payment_intent, amount, payment_status, .. } => {
                if payment_status != "paid" {
                    return Ok(WebhookOutcome::Ignored("the checkout completed unpaid"));
                }
                self.apply_checkout(&session_id, payment_intent.as_deref(), amount.as_ref()).await
            }
            PaymentEvent::CheckoutExpired { .. } => Ok(WebhookOutcome::Ignored("an expired page: nothing to undo")),
            PaymentEvent::PaymentSucceeded { payment_intent, .. } => {
                Ok(match self.store().payment_by_gateway_id(&payment_intent).await? {
                    Some(_) => WebhookOutcome::Ignored("a charge recorded already"),
                    None => WebhookOutcome::Ignored("a link payment is recorded from its checkout event"),
                })
            }
            PaymentEvent::PaymentFailed { payment_intent, booking_id, decline_code, .. } => {
                let decline_code = decline_code.unwrap_or_else(|| "card_declined".to_owned());
                self.record_link_decline(&payment_intent, booking_id.as_deref(), &decline_code).await
            }
            PaymentEvent::Other => Ok(WebhookOutcome::Ignored("not a payment event")),
        }
    }

    /// A paid hosted page: its charge recorded (once, by PaymentIntent id)
    /// and the booking driven on, or refunded when it cannot stand.
    async fn apply_checkout(
        &self,
        checkout_id: &str,
        payment_intent: Option<&str>,
        amount: Option<&Money>,
    ) -> Result<WebhookOutcome, BookingError> {
        let Some(link) = self.store().payment_link(checkout_id).await? else {
            tracing::warn!(checkout = %checkout_id, "a paid checkout that is not one of our payment links");
            return Ok(WebhookOutcome::Ignored("not one of our payment links"));
        };
        let Some(payment_intent) = payment_intent else {
            tracing::error!(checkout = %checkout_id, "a paid checkout without its PaymentIntent");
            return Ok(WebhookOutcome::Ignored("a paid checkout without its PaymentIntent"));
        };
        if self.store().payment_by_gateway_id(payment_intent).await?.is_some() {
            // Recorded by an earlier delivery; finish what it may have left in flight.
            self.drive_webhook_booking(&link.booking_id).await?;
            return Ok(WebhookOutcome::Ignored("a link payment recorded already"));
        }
        let booking = self.record(&link.booking_id).await?;
        let payment = NewPayment {
            id: new_payment_id(),
            booking_id: booking.id.clone(),
            session_id: booking.session_id.clone(),
            status: PaymentStatus::Succeeded,
            amount: amount.cloned().unwrap_or_else(|| booking.total.clone()),
            method: PAYMENT_LINK_METHOD.to_owned(),
            gateway_payment_id: Some(payment_intent.to_owned()),
            decline_code: None,
            idempotency_key: None,
        };
        if payment.amount != booking.total {
            tracing::error!(booking = %booking.id, checkout = %checkout_id, "a link paid another amount than the booking's total");
            return self.refund_link_charge(&booking, &payment).await;
        }
        match self.store().record_external_charge(&payment, self.now()).await {
            Ok(outcome) => {
                if outcome == ExternalCharge::NotApplied {
                    // A direct charge is in flight: it finds this one standing and is refunded.
                    tracing::warn!(booking = %booking.id, "a link payment while the booking is mid-saga");
                }
                let record = self.record(&booking.id).await?;
                self.publish(&record, BookingEventKind::PaymentSucceeded, None, |e| {
                    e.payment_id = Some(payment.id.clone());
                    e.amount = Some(payment.amount.clone());
                })
                .await;
                self.drive_webhook_booking(&booking.id).await?;
                Ok(WebhookOutcome::Processed)
            }
            Err(StoreError::Conflict(index)) => {
                if self.store().payment_by_gateway_id(payment_intent).await?.is_some() {
                    return Ok(WebhookOutcome::Ignored("a link payment recorded already"));
                }
                tracing::warn!(booking = %booking.id, %index, "a link payment for a booking paid already: refunding it");
                self.refund_link_charge(&booking, &payment).await
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Refunds a link charge that cannot stand and stores it `REFUNDED`.
    async fn refund_link_charge(
        &self,
        booking: &BookingRecord,
        payment: &NewPayment,
    ) -> Result<WebhookOutcome, BookingError> {
        let Some(gateway_payment_id) = payment.gateway_payment_id.as_deref() else {
            return Err(BookingError::Internal("a link charge without its PaymentIntent".into()));
        };
        let key = idempotency_key("refund", &booking.id, gateway_payment_id);
        if let Err(error) = self.gateway().refund(gateway_payment_id, None, &key).await {
            tracing::error!(booking = %booking.id, %error, "refunding a link charge failed; the webhook is retried");
            return Err(gateway_unavailable(&error));
        }
        let refunded = NewPayment { status: PaymentStatus::Refunded, ..payment.clone() };
        match self.store().insert_payment(&refunded, self.now()).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(WebhookOutcome::Processed),
            Err(error) => Err(error.into()),
        }
    }

    /// A declined attempt on a hosted page: a `DECLINED` payment and
    /// `PAYMENT_FAILED`; the booking stays payable. A decline of our own
    /// direct charge is recorded by that charge's answer, so it is skipped.
    async fn record_link_decline(
        &self,
        payment_intent: &str,
        booking_id: Option<&str>,
        decline_code: &str,
    ) -> Result<WebhookOutcome, BookingError> {
        if self.store().payment_by_gateway_id(payment_intent).await?.is_some() {
            return Ok(WebhookOutcome::Ignored("a decline recorded already"));
        }
        let Some(booking_id) = booking_id else { return Ok(WebhookOutcome::Ignored("no booking in the metadata")) };
        let Some(booking) = self.store().booking(booking_id).await? else {
            return Ok(WebhookOutcome::Ignored("not one of our bookings"));
        };
        // While a direct charge is in flight its own answer records the outcome.
        if booking.status != BookingStatus::PendingPayment || booking.step != SagaStep::Held {
            return Ok(WebhookOutcome::Ignored("the booking is not waiting for a payment"));
        }
        if self.store().payment_links_for_booking(&booking.id).await?.is_empty() {
            return Ok(WebhookOutcome::Ignored("the booking has no payment link"));
        }
        // No gateway id: one page retries on one PaymentIntent, which a later
        // success is recorded under.
        let payment = NewPayment {
            id: new_payment_id(),
            booking_id: booking.id.clone(),
            session_id: booking.session_id.clone(),
            status: PaymentStatus::Declined,
            amount: booking.total.clone(),
            method: PAYMENT_LINK_METHOD.to_owned(),
            gateway_payment_id: None,
            decline_code: Some(decline_code.to_owned()),
            idempotency_key: None,
        };
        self.store().insert_payment(&payment, self.now()).await?;
        self.publish(&booking, BookingEventKind::PaymentFailed, None, |e| {
            e.payment_id = Some(payment.id.clone());
            e.amount = Some(payment.amount.clone());
            e.decline_code = Some(decline_code.to_owned());
        })
        .await;
        Ok(WebhookOutcome::Processed)
    }

    /// Drives a booking a webhook moved, under the booking's claim. A
    /// request holding the claim (a direct payment in flight) moves it on
    /// itself; if it does not let go soon, the recovery sweep does.
    async fn drive_webhook_booking(&self, id: &str) -> Result<(), BookingError> {
        let owner = self.owner("webhook");
        let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
        loop {
            let booking = self.record(id).await?;
            if !SagaStep::IN_FLIGHT.contains(&booking.step) {
                return Ok(());
            }
            if self.store().claim_booking(id, &owner, self.now(), self.lease()).await? {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::info!(booking = %id, "the booking is being worked on; left to that request or the recovery sweep");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let driven = self.drive(id).await;
        self.store().release_booking(id, &owner).await?;
        match driven {
            Ok(step) if SagaStep::IN_FLIGHT.contains(&step) => {
                tracing::warn!(booking = %id, ?step, "a link payment's booking is left in flight for the recovery sweep");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// When a new page should close: the hold's end, within the gateway's
/// bounds, rounded up to the minute so a retry within it sends the same request.
fn link_expiry(hold_ends: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let wanted = hold_ends.clamp(now + chrono_duration(GATEWAY_MIN_OPEN), now + chrono_duration(GATEWAY_MAX_OPEN));
    let minute = chrono::Duration::minutes(1);
    wanted.duration_trunc(minute).map_or(wanted, |t| if t < wanted { t + minute } else { t })
}

fn link_view(url: &str, page_ends: DateTime<Utc>, booking: &BookingRecord) -> PaymentLinkView {
    PaymentLinkView { url: url.to_owned(), expires_at: page_ends.min(booking.expires_at) }
}

fn gateway_unavailable(error: &GatewayError) -> BookingError {
    tracing::warn!(%error, "the payment gateway did not answer");
    BookingError::Unavailable("The payment provider did not answer; please try again.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn a_short_hold_gets_the_gateway_minimum_rounded_up() {
        let now = at("2026-12-03T10:00:20Z");
        assert_eq!(link_expiry(at("2026-12-03T10:20:20Z"), now), at("2026-12-03T10:31:00Z"));
        assert_eq!(link_expiry(at("2026-12-03T10:20:20Z"), at("2026-12-03T10:00:00Z")), at("2026-12-03T10:30:00Z"));
    }

    #[test]
    fn a_long_hold_is_followed_and_capped_at_a_day() {
        let now = at("2026-12-03T10:00:00Z");
        assert_eq!(link_expiry(at("2026-12-03T12:00:30Z"), now), at("2026-12-03T12:01:00Z"));
        assert_eq!(link_expiry(at("2026-12-09T12:00:00Z"), now), at("2026-12-04T09:59:00Z"));
    }
}
