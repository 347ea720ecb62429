//! The booking service: pricing, booking (the provider hold), payment with
//! client idempotency keys, provider confirmation, cancellation and refunds
//! — one saga whose every external call is recorded in the system of record
//! before it is made (`SagaStep::*_REQUESTED`) and whose outcome is recorded
//! after, so a crash anywhere leaves a row the recovery sweep can finish or
//! compensate ([`BookingService::drive`] is the one place that moves a
//! booking on from an in-flight step; requests, the recovery sweep and the
//! expiry sweeper all go through it).
//!
//! Money rules the code keeps:
//! - A charge is made only after the store's booking-level claim
//!   (`begin_charge`: `HELD` → `CHARGE_REQUESTED`, one winner per booking)
//!   and the client key's recovery point moved in the same transaction; the
//!   gateway call carries a key derived from the client's, so a repeat is
//!   replayed by the gateway, never charged again.
//! - An unknown charge outcome (timeout, 5xx) is resent with the same key,
//!   then reconciled by booking id at the gateway; when still unknown the
//!   booking stays `CHARGE_REQUESTED` and the key keeps its recovery point,
//!   so a client retry with the same key or the recovery sweep settles it.
//! - A charge whose provider order cannot be confirmed (gone, lapsed) is
//!   refunded, and the booking ends `FAILED`; a cancelled paid booking is
//!   refunded through the gateway with a key derived from the refund's id.
//!
//! Decisions (see the report): a provider hold that times out cannot be
//! looked up (the trait has no lookup by our reference yet), so the booking
//! is `FAILED` and an orphan hold lapses at the provider on its own; a
//! concurrent `payForBooking` with a key in use waits up to
//! `booking.idempotency_wait`, then answers `RATE_LIMITED` with
//! `retryAfterSeconds` (a code the client already retries on).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::model::{
    BookingEvent, BookingEventKind, BookingStatus, BookingStatusChange, PaymentStatus, RefundStatus, SagaStep,
};
use super::orders::{OrderFailure, ProviderOrders};
use super::validate::{
    CreateBookingInput, InputError, PayForBookingInput, check_booking, check_payment, check_travelers,
};
use crate::clock::SharedClock;
use crate::config::BookingSettings;
use crate::events::{BusEvent, EventBus, Topic};
use crate::flights::FlightService;
use crate::flights::model::{Money, Offer, OrderContact, PassengerType};
use crate::payments::{ChargeRequest, ChargeStatus, GatewayError, PaymentGateway, idempotency_key};
use crate::sessions::SessionId;
use crate::store::bookings::{BookingChange, BookingGuard, BookingRecord, NewBooking, new_booking_id};
use crate::store::idempotency::{KeyClaim, RecoveryPoint, StoredResponse, request_fingerprint};
use crate::store::notifications::NewEvent;
use crate::store::payments::{
    ChargeOutcome, ChargeStart, KeyLock, NewPayment, NewRefund, PaymentRecord, RefundRecord, new_payment_id,
    new_refund_id,
};
use crate::store::{Store, StoreError};

/// How often the provider confirmation is tried within one request.
const CONFIRM_ATTEMPTS: u32 = 3;

/// Why a booking operation failed; mapped to the contract's codes at the GraphQL edge.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// A refused input value.
    #[error("{}", .0.message)]
    Input(InputError),
    /// No such booking or offer visible to this session.
    #[error("not found")]
    NotFound,
    /// The offer can no longer be priced or booked.
    #[error("the offer is no longer available")]
    OfferExpired,
    /// The provider's price differs from the one the client saw.
    #[error("the price changed")]
    PriceChanged {
        /// The price now.
        current: Money,
        /// The price the client saw.
        previous: Money,
    },
    /// The operation does not apply in the booking's current status.
    #[error("{0}")]
    InvalidState(String),
    /// The idempotency key was used with another request.
    #[error("the idempotency key was used with a different request")]
    KeyReused,
    /// Another request works on this key or booking right now: retry shortly.
    #[error("{0}")]
    Busy(String),
    /// An upstream did not answer in time (the message is for the client).
    #[error("{0}")]
    Timeout(String),
    /// An upstream failed (the message is for the client).
    #[error("{0}")]
    Unavailable(String),
    /// The system of record failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an impossible state; logged, shown as `INTERNAL`.
    #[error("{0}")]
    Internal(String),
}

impl From<InputError> for BookingError {
    fn from(error: InputError) -> Self {
        Self::Input(error)
    }
}

/// A traveller as a booking shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TravelerView {
    /// Given name(s).
    pub first_name: String,
    /// Family name(s).
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Adult, child or infant.
    pub kind: PassengerType,
}

/// A payment as a booking shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// Our id.
    pub id: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// How much.
    pub amount: Money,
    /// Why it was declined.
    pub decline_code: Option<String>,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(p: &PaymentRecord) -> Self {
        Self { id: p.id.clone(), status: p.status, amount: p.amount.clone(), decline_code: p.decline_code.clone() }
    }
}

/// A refund as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// Our id.
    pub id: String,
    /// Where it stands.
    pub status: RefundStatus,
    /// How much goes back.
    pub amount: Money,
}

impl From<&RefundRecord> for RefundView {
    fn from(r: &RefundRecord) -> Self {
        Self { id: r.id.clone(), status: r.status, amount: r.amount.clone() }
    }
}

/// A booking as the client sees it (`BookingDetail`): a snapshot that can be
/// stored and replayed verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingView {
    /// Its id.
    pub id: String,
    /// Where it stands.
    pub status: BookingStatus,
    /// The airline reference, once confirmed.
    pub reference: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When the unpaid hold lapses.
    pub expires_at: DateTime<Utc>,
    /// The total.
    pub total: Money,
    /// The offer as booked (the provider's own JSON left out).
    pub offer: Offer,
    /// In order.
    pub travelers: Vec<TravelerView>,
    /// Who the airline contacts.
    pub contact: OrderContact,
    /// Its payments, oldest first.
    pub payments: Vec<PaymentView>,
}

/// What `payForBooking` answers (and what a replay answers again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentResult {
    /// The payment this request made.
    pub payment: PaymentView,
    /// The booking after it.
    pub booking: BookingView,
}

/// What `cancelBooking` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelResult {
    /// The booking after it.
    pub booking: BookingView,
    /// The refund, when the booking had been paid.
    pub refund: Option<RefundView>,
}

/// What `priceOffer` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedOfferView {
    /// The offer at its confirmed price.
    pub offer: Offer,
    /// Whether the price differs from the one seen before.
    pub price_changed: bool,
    /// The price seen before, when it changed.
    pub previous_price: Option<Money>,
}

/// What a stored `payForBooking` error looks like (a replay answers it again).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredError {
    code: String,
    message: String,
}

/// The booking service.
#[derive(Clone, Debug)]
pub struct BookingService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    flights: FlightService,
    gateway: Arc<dyn PaymentGateway>,
    bus: Arc<dyn EventBus>,
    clock: SharedClock,
    settings: BookingSettings,
    instance: String,
}

impl BookingService {
    /// A service over the store, flights, the gateway and the bus.
    pub fn new(
        store: Store,
        flights: FlightService,
        gateway: Arc<dyn PaymentGateway>,
        bus: Arc<dyn EventBus>,
        clock: SharedClock,
        settings: BookingSettings,
        instance: String,
    ) -> Self {
        Self { inner: Arc::new(Inner { store, flights, gateway, bus, clock, settings, instance }) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &BookingSettings {
        &self.inner.settings
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// A lease owner name unique to one piece of work on this instance.
    pub(super) fn owner(&self, what: &str) -> String {
        format!("{}:{what}:{}", self.inner.instance, uuid::Uuid::new_v4().simple())
    }

    pub(super) fn lease(&self) -> Duration {
        self.inner.settings.recovery_after
    }

    pub(super) fn gateway(&self) -> &Arc<dyn PaymentGateway> {
        &self.inner.gateway
    }

    fn orders_for(&self, provider: &str) -> Result<ProviderOrders, BookingError> {
        self.inner
            .flights
            .provider(provider)
            .map(ProviderOrders::new)
            .ok_or_else(|| BookingError::Unavailable(format!("The provider {provider} is not available right now.")))
    }

    // ------------------------------------------------------------ pricing

    /// Re-prices an offer with its provider and keeps the re-priced offer, so
    /// a later `createBooking` compares against what the client saw last.
    pub async fn price_offer(&self, offer_id: &str) -> Result<PricedOfferView, BookingError> {
        let offer = self.live_offer(offer_id).await?;
        let priced = self.orders_for(&offer.provider)?.price(&offer).await.map_err(pricing_error)?;
        self.inner.flights.keep_offer(&priced.offer).await;
        let changed = priced.offer.price != offer.price;
        Ok(PricedOfferView {
            offer: priced.offer,
            price_changed: changed,
            previous_price: changed.then_some(offer.price),
        })
    }

    async fn live_offer(&self, offer_id: &str) -> Result<Offer, BookingError> {
        let offer = self.inner.flights.offer(offer_id).await.ok_or(BookingError::NotFound)?;
        if offer.expires_at <= self.now() {
            return Err(BookingError::OfferExpired);
        }
        Ok(offer)
    }

    // ------------------------------------------------------------ booking

    /// Validates, re-prices, stores the booking (`HOLD_REQUESTED`), holds the
    /// seats at the provider and marks it `HELD` / `PENDING_PAYMENT`.
    pub async fn create_booking(
        &self,
        session_id: &str,
        language: &str,
        input: &CreateBookingInput,
        today: NaiveDate,
    ) -> Result<BookingView, BookingError> {
        let (travelers, contact) = check_booking(input, today)?;
        let offer = self.live_offer(input.offer_id.as_str()).await?;
        check_travelers(&travelers, &offer)?;
        let orders = self.orders_for(&offer.provider)?;
        let priced = orders.price(&offer).await.map_err(pricing_error)?;
        if priced.offer.price != offer.price {
            let current = priced.offer.price.clone();
            self.inner.flights.keep_offer(&priced.offer).await;
            return Err(BookingError::PriceChanged { current, previous: offer.price });
        }
        let offer = priced.offer;
        let id = new_booking_id();
        let now = self.now();
        let booking = NewBooking {
            id: id.clone(),
            session_id: session_id.to_owned(),
            total: offer.price.clone(),
            offer: offer.clone(),
            travelers: travelers.clone(),
            contact: contact.clone(),
            language: language.to_owned(),
            step: SagaStep::HoldRequested,
            provider_order_id: None,
            expires_at: now + chrono_duration(self.inner.settings.hold_window),
        };
        let owner = self.owner("create");
        self.inner.store.insert_claimed_booking(&booking, &owner, self.lease(), now).await?;
        let held = orders.hold(&offer, &travelers, &contact, &id).await;
        match held {
            Ok(hold) => {
                let now = self.now();
                // Our window, or the provider's deadline when it is sooner: a
                // booking must never be payable after its seats are released.
                let window = now + chrono_duration(self.inner.settings.hold_window);
                let expires_at = hold.expires_at.map_or(window, |provider| provider.min(window));
                if !self.inner.store.mark_booking_held(&id, &hold.order_id, expires_at, &owner, now).await? {
                    return Err(BookingError::Internal(format!("booking {id} moved while its hold was made")));
                }
                let record = self.record(&id).await?;
                self.publish(&record, BookingEventKind::BookingCreated, None, |e| {
                    e.expires_at = Some(record.expires_at);
                    e.amount = Some(record.total.clone());
                })
                .await;
                self.view(&record).await
            }
            Err(failure) => {
                self.fail_unheld(&id).await?;
                Err(match failure {
                    OrderFailure::Gone => BookingError::OfferExpired,
                    OrderFailure::PriceChanged { current } => {
                        BookingError::PriceChanged { current, previous: offer.price.clone() }
                    }
                    OrderFailure::Timeout => {
                        tracing::warn!(booking = %id, "the provider hold timed out; the booking failed, an orphan hold lapses");
                        BookingError::Timeout(
                            "The airline did not answer in time; nothing was booked. Please try again.".into(),
                        )
                    }
                    OrderFailure::Unavailable(detail) => {
                        tracing::warn!(booking = %id, %detail, "the provider hold failed; the booking failed");
                        BookingError::Unavailable(
                            "The airline could not be reached; nothing was booked. Please try again.".into(),
                        )
                    }
                    OrderFailure::Refused(detail) => {
                        tracing::warn!(booking = %id, %detail, "the provider refused the hold");
                        BookingError::Unavailable(
                            "The airline refused this booking. Please choose another offer.".into(),
                        )
                    }
                })
            }
        }
    }

    /// `HOLD_REQUESTED` → `FAILED` (nothing held, nothing charged).
    async fn fail_unheld(&self, id: &str) -> Result<bool, BookingError> {
        let guard = BookingGuard {
            statuses: &[BookingStatus::PendingPayment],
            steps: &[SagaStep::HoldRequested],
            ..BookingGuard::default()
        };
        let change = BookingChange {
            status: Some(BookingStatus::Failed),
            step: Some(SagaStep::Done),
            release_claim: true,
            ..BookingChange::default()
        };
        let failed = self.inner.store.transition_booking(id, &guard, &change, self.now()).await?;
        if failed {
            self.publish_failed(id).await;
        }
        Ok(failed)
    }

    // ------------------------------------------------------------ reading

    /// The session's booking `id` (another session's answers `NotFound`).
    pub async fn booking(&self, session_id: &str, id: &str) -> Result<BookingView, BookingError> {
        let record = self.inner.store.booking_for_session(session_id, id).await?.ok_or(BookingError::NotFound)?;
        self.view(&record).await
    }

    /// The session's bookings, newest first.
    pub async fn bookings(&self, session_id: &str) -> Result<Vec<BookingView>, BookingError> {
        let records = self.inner.store.bookings_for_session(session_id).await?;
        let mut views = Vec::with_capacity(records.len());
        for record in &records {
            views.push(self.view(record).await?);
        }
        Ok(views)
    }

    pub(super) async fn record(&self, id: &str) -> Result<BookingRecord, BookingError> {
        self.inner.store.booking(id).await?.ok_or_else(|| BookingError::Internal(format!("booking {id} vanished")))
    }

    async fn view(&self, record: &BookingRecord) -> Result<BookingView, BookingError> {
        let payments = self.inner.store.payments_for_booking(&record.id).await?;
        let mut offer = record.offer.clone();
        offer.provider_offer = crate::flights::model::ProviderOffer::default();
        Ok(BookingView {
            id: record.id.clone(),
            status: record.status,
            reference: record.reference.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            total: record.total.clone(),
            offer,
            travelers: record
                .travelers
                .iter()
                .map(|t| TravelerView {
                    first_name: t.first_name.clone(),
                    last_name: t.last_name.clone(),
                    date_of_birth: t.date_of_birth,
                    kind: t.kind,
                })
                .collect(),
            contact: record.contact.clone(),
            payments: payments.iter().map(PaymentView::from).collect(),
        })
    }

    // ------------------------------------------------------------ paying

    /// Pays for a booking under the client's idempotency key (see the module docs).
    pub async fn pay(&self, session_id: &str, input: &PayForBookingInput) -> Result<PaymentResult, BookingError> {
        check_payment(input)?;
        let booking_id = input.booking_id.as_str();
        let booking =
            self.inner.store.booking_for_session(session_id, booking_id).await?.ok_or(BookingError::NotFound)?;
        let fingerprint = request_fingerprint(
            "payForBooking",
            &serde_json::json!({ "bookingId": booking_id, "paymentMethod": input.payment_method }),
        );
        let owner = self.owner("pay");
        let lock = KeyLock { session_id, key: &input.idempotency_key, owner: &owner };
        let waited_until = tokio::time::Instant::now() + self.inner.settings.idempotency_wait;
        let mut pause = Duration::from_millis(25);
        loop {
            let claim = self.inner.store.claim_key(lock, &fingerprint, self.now(), self.lease()).await?;
            match claim {
                KeyClaim::New | KeyClaim::Resume(RecoveryPoint::Started) => {
                    return self.pay_fresh(&booking, input, lock).await;
                }
                KeyClaim::Resume(RecoveryPoint::ChargeRequested) => return self.pay_resume(&booking, lock).await,
                KeyClaim::Resume(RecoveryPoint::Finished) => {
                    return Err(BookingError::Internal("a finished key without a stored response".into()));
                }
                KeyClaim::Replay(stored) => return replay(stored),
                KeyClaim::Mismatch => return Err(BookingError::KeyReused),
                KeyClaim::InProgress => {
                    if tokio::time::Instant::now() >= waited_until {
                        return Err(BookingError::Busy(
                            "A payment with this idempotency key is still in progress; retry shortly with the same key."
                                .into(),
                        ));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// First run under a key: the charge claim, the charge, and what follows.
    async fn pay_fresh(
        &self,
        booking: &BookingRecord,
        input: &PayForBookingInput,
        lock: KeyLock<'_>,
    ) -> Result<PaymentResult, BookingError> {
        let now = self.now();
        if booking.status != BookingStatus::PendingPayment
            || booking.step != SagaStep::Held
            || booking.expires_at <= now
        {
            self.inner.store.release_key(lock).await?;
            return Err(not_payable(booking, now));
        }
        if !self.inner.store.claim_booking(&booking.id, lock.owner, now, self.lease()).await? {
            self.inner.store.release_key(lock).await?;
            return Err(BookingError::Busy("This booking is being worked on; retry shortly.".into()));
        }
        let payment = NewPayment {
            id: new_payment_id(),
            booking_id: booking.id.clone(),
            session_id: booking.session_id.clone(),
            status: PaymentStatus::Processing,
            amount: booking.total.clone(),
            method: input.payment_method.trim().to_owned(),
            gateway_payment_id: None,
            decline_code: None,
            idempotency_key: Some(lock.key.to_owned()),
        };
        let started = self.inner.store.begin_charge(&payment, Some(lock), now).await;
        let started = match started {
            Ok(started) => started,
            Err(error) => {
                self.inner.store.release_booking(&booking.id, lock.owner).await?;
                self.inner.store.release_key(lock).await?;
                return Err(error.into());
            }
        };
        match started {
            ChargeStart::Started => {}
            ChargeStart::NotPayable => {
                self.inner.store.release_booking(&booking.id, lock.owner).await?;
                self.inner.store.release_key(lock).await?;
                let current = self.record(&booking.id).await?;
                return Err(not_payable(&current, now));
            }
            ChargeStart::KeyLockLost => {
                self.inner.store.release_booking(&booking.id, lock.owner).await?;
                return Err(BookingError::Busy("The idempotency key was taken over; retry with the same key.".into()));
            }
        }
        let settled = self.drive(&booking.id).await;
        self.inner.store.release_booking(&booking.id, lock.owner).await?;
        self.answer_payment(&payment.id, &booking.id, lock, settled).await
    }

    /// A key whose request stopped after requesting the charge: settle it.
    async fn pay_resume(&self, booking: &BookingRecord, lock: KeyLock<'_>) -> Result<PaymentResult, BookingError> {
        let Some(payment) = self.inner.store.payment_for_key(lock.session_id, lock.key).await? else {
            return Err(BookingError::Internal("a key at CHARGE_REQUESTED without its payment".into()));
        };
        if !self.inner.store.claim_booking(&booking.id, lock.owner, self.now(), self.lease()).await? {
            self.inner.store.unlock_key(lock, self.now()).await?;
            return Err(BookingError::Busy("This payment is being settled; retry shortly with the same key.".into()));
        }
        let settled = self.drive(&booking.id).await;
        self.inner.store.release_booking(&booking.id, lock.owner).await?;
        self.answer_payment(&payment.id, &booking.id, lock, settled).await
    }

    /// The request's answer once the saga has moved as far as it could:
    /// stored under the key when the booking rests, else the key is unlocked
    /// (keeping its recovery point) and the client told to retry with it.
    async fn answer_payment(
        &self,
        payment_id: &str,
        booking_id: &str,
        lock: KeyLock<'_>,
        settled: Result<SagaStep, BookingError>,
    ) -> Result<PaymentResult, BookingError> {
        let step = match settled {
            Ok(step) => step,
            Err(error) => {
                self.inner.store.unlock_key(lock, self.now()).await?;
                return Err(error);
            }
        };
        if SagaStep::IN_FLIGHT.contains(&step) {
            self.inner.store.unlock_key(lock, self.now()).await?;
            return Err(if step == SagaStep::ChargeRequested {
                BookingError::Timeout(
                    "The payment provider did not confirm the charge yet; retry with the same idempotency key.".into(),
                )
            } else {
                BookingError::Unavailable(
                    "The payment is still being settled with the airline; retry with the same idempotency key.".into(),
                )
            });
        }
        let payment = self
            .inner
            .store
            .payment(payment_id)
            .await?
            .ok_or_else(|| BookingError::Internal(format!("payment {payment_id} vanished")))?;
        let record = self.record(booking_id).await?;
        let result = PaymentResult { payment: PaymentView::from(&payment), booking: self.view(&record).await? };
        let body = serde_json::to_value(&result).map_err(|e| BookingError::Internal(e.to_string()))?;
        if !self.inner.store.finish_key(lock, &StoredResponse { status: 200, body }, self.now()).await? {
            tracing::warn!(booking = %booking_id, "the idempotency key's lock was lost before its result was stored");
        }
        Ok(result)
    }

    // ------------------------------------------------------------ cancelling

    /// Cancels a booking: a held one releases its seats; a confirmed one is
    /// cancelled at the provider and its payment refunded.
    pub async fn cancel(&self, session_id: &str, id: &str) -> Result<CancelResult, BookingError> {
        let booking = self.inner.store.booking_for_session(session_id, id).await?.ok_or(BookingError::NotFound)?;
        let owner = self.owner("cancel");
        let now = self.now();
        let resumable = matches!(booking.status, BookingStatus::Cancelled | BookingStatus::Confirmed)
            && matches!(booking.step, SagaStep::CancelRequested | SagaStep::RefundRequested);
        let (statuses, steps, to): (&[BookingStatus], &[SagaStep], Option<BookingStatus>) =
            match (booking.status, booking.step) {
                // The seats are released at once for the traveller; the provider call follows.
                (BookingStatus::PendingPayment, SagaStep::Held) => {
                    (&[BookingStatus::PendingPayment], &[SagaStep::Held], Some(BookingStatus::Cancelled))
                }
                // Paid: cancelled for good only once the provider agrees (see `drive`).
                (BookingStatus::Confirmed, SagaStep::Done) => (&[BookingStatus::Confirmed], &[SagaStep::Done], None),
                _ if resumable => (&[], &[], None),
                _ => return Err(not_cancellable(&booking)),
            };
        if !self.inner.store.claim_booking(id, &owner, now, self.lease()).await? {
            return Err(BookingError::Busy("This booking is being worked on; retry shortly.".into()));
        }
        if !resumable {
            let guard = BookingGuard { statuses, steps, ..BookingGuard::default() };
            let change =
                BookingChange { status: to, step: Some(SagaStep::CancelRequested), ..BookingChange::default() };
            if !self.inner.store.transition_booking(id, &guard, &change, now).await? {
                self.inner.store.release_booking(id, &owner).await?;
                let current = self.record(id).await?;
                return Err(not_cancellable(&current));
            }
            if to.is_some() {
                let record = self.record(id).await?;
                self.publish(&record, BookingEventKind::BookingCancelled, Some(booking.status), |_| {}).await;
            }
        }
        let driven = self.drive(id).await;
        self.inner.store.release_booking(id, &owner).await?;
        let record = self.record(id).await?;
        match driven {
            Ok(_) => {}
            // The cancellation is recorded; the recovery sweep finishes the provider call or refund.
            Err(error) if record.status == BookingStatus::Cancelled => {
                tracing::warn!(booking = %id, %error, "cancellation recorded; the rest is left to the recovery sweep");
            }
            Err(error) => return Err(error),
        }
        if record.status == BookingStatus::Confirmed {
            return Err(if record.step == SagaStep::Done {
                // The provider refused to cancel a confirmed order; `drive` put it back.
                BookingError::InvalidState("The airline refused to cancel this booking; it stays confirmed.".into())
            } else {
                BookingError::Unavailable("The airline did not answer the cancellation; please retry shortly.".into())
            });
        }
        let refund = self.inner.store.refunds_for_booking(id).await?.last().map(RefundView::from);
        Ok(CancelResult { booking: self.view(&record).await?, refund })
    }

    // ------------------------------------------------------------ the saga

    /// Moves a booking on from wherever its saga stands until it rests
    /// (`HELD`, `DONE`) or an outside call leaves its outcome unknown; returns
    /// the step it stopped at. Every path that moves a booking forward after
    /// an external call comes through here, so a request, the recovery sweep
    /// and the expiry sweeper agree on what each step means.
    pub async fn drive(&self, id: &str) -> Result<SagaStep, BookingError> {
        // Each round makes one external call at most; a healthy saga rests in a few.
        for _ in 0..8 {
            let booking = self.record(id).await?;
            let moved = match booking.step {
                SagaStep::Held | SagaStep::Done => return Ok(booking.step),
                SagaStep::HoldRequested => self.recover_hold(&booking).await?,
                SagaStep::ChargeRequested => self.settle_charge(&booking).await?,
                SagaStep::Charged | SagaStep::ConfirmRequested => self.confirm(&booking).await?,
                SagaStep::CancelRequested => self.cancel_at_provider(&booking).await?,
                SagaStep::RefundRequested => self.refund_owed(&booking).await?,
            };
            if !moved {
                return Ok(self.record(id).await?.step);
            }
        }
        Ok(self.record(id).await?.step)
    }

    /// An interrupted hold: the order id never reached the store, so the
    /// booking fails; nothing was charged, and an orphan hold lapses.
    async fn recover_hold(&self, booking: &BookingRecord) -> Result<bool, BookingError> {
        tracing::warn!(booking = %booking.id, "an interrupted provider hold: the booking fails");
        self.fail_unheld(&booking.id).await
    }

    /// `CHARGE_REQUESTED`: (re)sends the charge of the booking's processing
    /// payment with its gateway key and records the outcome. `false` when the
    /// outcome is still unknown.
    async fn settle_charge(&self, booking: &BookingRecord) -> Result<bool, BookingError> {
        let payments = self.inner.store.payments_for_booking(&booking.id).await?;
        let Some(payment) = payments.iter().rev().find(|p| p.status == PaymentStatus::Processing).cloned() else {
            // A payment link's charge stands (the direct one was refunded as
            // its duplicate): confirm with it.
            if self.succeeded_payment(&booking.id).await?.is_some() {
                return self.charged_by_another(&booking.id).await;
            }
            // The payment row is written in the claim's transaction, so this is a
            // bug; put the booking back to payable rather than strand it.
            tracing::error!(booking = %booking.id, "CHARGE_REQUESTED without a processing payment");
            let guard = BookingGuard { steps: &[SagaStep::ChargeRequested], ..BookingGuard::default() };
            let change = BookingChange { step: Some(SagaStep::Held), ..BookingChange::default() };
            return Ok(self.inner.store.transition_booking(&booking.id, &guard, &change, self.now()).await?);
        };
        let client_key = payment.idempotency_key.clone().unwrap_or_else(|| payment.id.clone());
        let request = ChargeRequest {
            amount: payment.amount.clone(),
            payment_method: payment.method.clone(),
            booking_id: booking.id.clone(),
            idempotency_key: idempotency_key("pay", &booking.id, &client_key),
            description: Some(format!("Wayfarer booking {}", booking.id)),
        };
        let outcome = match self.charge(&request).await {
            Charged::Outcome(outcome) => outcome,
            Charged::Unknown(error) => {
                let age = self.now() - payment.created_at;
                if age < chrono_duration(self.inner.settings.recovery_after) {
                    tracing::warn!(booking = %booking.id, %error, "the charge's outcome is unknown; left for a retry");
                    return Ok(false);
                }
                // Long past any gateway search lag and still nothing charged:
                // the charge never happened.
                tracing::warn!(booking = %booking.id, %error, "no charge found after the recovery window: not charged");
                ChargeOutcome::Declined { gateway_payment_id: None, decline_code: "processing_error".into() }
            }
        };
        let recorded = self.inner.store.finish_charge(&booking.id, &payment.id, &outcome, self.now()).await;
        match recorded {
            Ok(true) => {}
            Ok(false) => return Ok(true),
            Err(StoreError::Conflict(index)) => {
                // Another payment (a payment link) already stands as the charge:
                // this one is refunded at once.
                tracing::error!(booking = %booking.id, %index, "a second successful charge: refunding it");
                if let ChargeOutcome::Succeeded { gateway_payment_id } = &outcome
                    && !self.refund_duplicate(booking, &payment, gateway_payment_id).await?
                {
                    // Still charged twice: the step stays, so a retry refunds it.
                    return Ok(false);
                }
                return self.charged_by_another(&booking.id).await;
            }
            Err(error) => return Err(error.into()),
        }
        let record = self.record(&booking.id).await?;
        match &outcome {
            ChargeOutcome::Succeeded { .. } => {
                self.publish(&record, BookingEventKind::PaymentSucceeded, None, |e| {
                    e.payment_id = Some(payment.id.clone());
                    e.amount = Some(payment.amount.clone());
                })
                .await;
            }
            ChargeOutcome::Declined { decline_code, .. } => {
                self.publish(&record, BookingEventKind::PaymentFailed, None, |e| {
                    e.payment_id = Some(payment.id.clone());
                    e.amount = Some(payment.amount.clone());
                    e.decline_code = Some(decline_code.clone());
                })
                .await;
            }
        }
        Ok(true)
    }

    /// `CHARGE_REQUESTED` → `CHARGED` because another payment (a payment
    /// link's, recorded by its webhook while this charge was in flight)
    /// stands as the booking's charge: the booking is confirmed with it.
    async fn charged_by_another(&self, id: &str) -> Result<bool, BookingError> {
        let guard = BookingGuard {
            statuses: &[BookingStatus::PendingPayment],
            steps: &[SagaStep::ChargeRequested],
            ..BookingGuard::default()
        };
        let change = BookingChange { step: Some(SagaStep::Charged), ..BookingChange::default() };
        Ok(self.inner.store.transition_booking(id, &guard, &change, self.now()).await?)
    }

    /// One charge, resent once with the same key when the answer was lost,
    /// then reconciled by booking id.
    async fn charge(&self, request: &ChargeRequest) -> Charged {
        let gateway = &self.inner.gateway;
        let mut last = None;
        for _ in 0..2 {
            match gateway.create_payment(request).await {
                Ok(charge) => return Charged::Outcome(charge_outcome(&charge)),
                Err(error) if error.outcome_unknown() => last = Some(error),
                // The key is known with other parameters: a charge may exist
                // under it, so only the search can tell.
                Err(error @ GatewayError::IdempotencyConflict(_)) => {
                    tracing::error!(booking = %request.booking_id, %error, "the gateway key was used with other parameters");
                    last = Some(error);
                    break;
                }
                Err(error) => {
                    // The gateway refused the request itself: nothing was charged.
                    tracing::warn!(booking = %request.booking_id, %error, "the gateway refused the charge");
                    let code = match &error {
                        GatewayError::InvalidRequest { code: Some(code), .. } => code.clone(),
                        _ => "processing_error".to_owned(),
                    };
                    return Charged::Outcome(ChargeOutcome::Declined { gateway_payment_id: None, decline_code: code });
                }
            }
        }
        match gateway.find_payments(&request.booking_id).await {
            Ok(found) => {
                if let Some(paid) =
                    found.iter().find(|c| c.status == ChargeStatus::Succeeded && c.amount == request.amount)
                {
                    return Charged::Outcome(ChargeOutcome::Succeeded { gateway_payment_id: paid.id.clone() });
                }
                Charged::Unknown(last.map_or_else(|| "no answer".to_owned(), |e| e.to_string()))
            }
            Err(error) => Charged::Unknown(error.to_string()),
        }
    }

    /// `CHARGED` / `CONFIRM_REQUESTED`: confirms the provider order; a gone
    /// order is refunded and the booking fails. `false` when the provider
    /// did not answer.
    async fn confirm(&self, booking: &BookingRecord) -> Result<bool, BookingError> {
        let now = self.now();
        if booking.step == SagaStep::Charged {
            let guard = BookingGuard {
                statuses: &[BookingStatus::PendingPayment],
                steps: &[SagaStep::Charged],
                ..BookingGuard::default()
            };
            let change = BookingChange { step: Some(SagaStep::ConfirmRequested), ..BookingChange::default() };
            if !self.inner.store.transition_booking(&booking.id, &guard, &change, now).await? {
                return Ok(true);
            }
        }
        let Some(order_id) = booking.provider_order_id.clone() else {
            return Err(BookingError::Internal(format!("booking {} charged without a provider order", booking.id)));
        };
        let orders = self.orders_for(&booking.offer.provider)?;
        let mut outcome = Err(OrderFailure::Timeout);
        for attempt in 0..CONFIRM_ATTEMPTS {
            outcome = orders.confirm(&order_id, &booking.total).await;
            match &outcome {
                Err(OrderFailure::Timeout | OrderFailure::Unavailable(_)) if attempt + 1 < CONFIRM_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                _ => break,
            }
        }
        match outcome {
            Ok(reference) => {
                if self.inner.store.confirm_booking(&booking.id, &reference, self.now()).await? {
                    let record = self.record(&booking.id).await?;
                    self.publish(
                        &record,
                        BookingEventKind::BookingConfirmed,
                        Some(BookingStatus::PendingPayment),
                        |e| {
                            e.reference = Some(reference.clone());
                            e.amount = Some(record.total.clone());
                        },
                    )
                    .await;
                }
                Ok(true)
            }
            Err(OrderFailure::Timeout | OrderFailure::Unavailable(_)) => {
                tracing::warn!(booking = %booking.id, "the provider confirmation did not answer; left for a retry");
                Ok(false)
            }
            Err(failure) => {
                tracing::warn!(booking = %booking.id, ?failure, "the provider order cannot be confirmed: refunding");
                self.begin_refund_of_charge(&booking.id, &[SagaStep::ConfirmRequested]).await
            }
        }
    }

    /// `CANCEL_REQUESTED`: cancels the provider order, then refunds a
    /// succeeded payment or finishes. `false` when the provider did not answer.
    async fn cancel_at_provider(&self, booking: &BookingRecord) -> Result<bool, BookingError> {
        if let Some(order_id) = &booking.provider_order_id {
            match self.orders_for(&booking.offer.provider)?.cancel(order_id).await {
                Ok(()) => {}
                Err(OrderFailure::Timeout | OrderFailure::Unavailable(_)) => {
                    tracing::warn!(booking = %booking.id, "the provider cancellation did not answer; left for a retry");
                    return Ok(false);
                }
                Err(failure) if booking.status == BookingStatus::Confirmed => {
                    // A confirmed order the airline will not cancel stays confirmed, unrefunded.
                    tracing::warn!(booking = %booking.id, ?failure, "the provider refused to cancel a confirmed order");
                    let guard = BookingGuard {
                        statuses: &[BookingStatus::Confirmed],
                        steps: &[SagaStep::CancelRequested],
                        ..BookingGuard::default()
                    };
                    let change =
                        BookingChange { step: Some(SagaStep::Done), release_claim: true, ..BookingChange::default() };
                    self.inner.store.transition_booking(&booking.id, &guard, &change, self.now()).await?;
                    return Ok(false);
                }
                Err(failure) => {
                    // An unpaid hold the provider will not cancel lapses on its own.
                    tracing::warn!(booking = %booking.id, ?failure, "the provider refused to cancel a hold; it lapses");
                }
            }
        }
        if booking.status == BookingStatus::Confirmed {
            let guard = BookingGuard {
                statuses: &[BookingStatus::Confirmed],
                steps: &[SagaStep::CancelRequested],
                ..BookingGuard::default()
            };
            let change = BookingChange { status: Some(BookingStatus::Cancelled), ..BookingChange::default() };
            if self.inner.store.transition_booking(&booking.id, &guard, &change, self.now()).await? {
                let record = self.record(&booking.id).await?;
                self.publish(&record, BookingEventKind::BookingCancelled, Some(BookingStatus::Confirmed), |_| {}).await;
            }
        }
        let paid = self.succeeded_payment(&booking.id).await?;
        if paid.is_some() {
            return self.begin_refund_of_charge(&booking.id, &[SagaStep::CancelRequested]).await;
        }
        self.finish_saga(&booking.id, &[SagaStep::CancelRequested]).await
    }

    /// Stores a `PENDING` refund of the booking's succeeded payment and moves
    /// the step to `REFUND_REQUESTED` (one transaction), then makes it.
    async fn begin_refund_of_charge(&self, id: &str, from: &[SagaStep]) -> Result<bool, BookingError> {
        let Some(payment) = self.succeeded_payment(id).await? else {
            return self.finish_saga(id, from).await;
        };
        let refund = NewRefund {
            id: new_refund_id(),
            payment_id: payment.id.clone(),
            booking_id: id.to_owned(),
            amount: payment.amount,
        };
        match self.inner.store.begin_refund(&refund, from, self.now()).await {
            Ok(_) => Ok(true),
            // A live refund exists already: move the step on and let it settle.
            Err(StoreError::Conflict(_)) => {
                let guard = BookingGuard { steps: from, ..BookingGuard::default() };
                let change = BookingChange { step: Some(SagaStep::RefundRequested), ..BookingChange::default() };
                Ok(self.inner.store.transition_booking(id, &guard, &change, self.now()).await?)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// `REFUND_REQUESTED`: makes (or repeats, with its key) the booking's
    /// pending refund; once settled the saga is done. `false` when the
    /// gateway did not answer or refused.
    async fn refund_owed(&self, booking: &BookingRecord) -> Result<bool, BookingError> {
        let refunds = self.inner.store.refunds_for_booking(&booking.id).await?;
        let pending = refunds.iter().rev().find(|r| r.status == RefundStatus::Pending).cloned();
        let refund = match pending {
            Some(refund) => refund,
            None => match self.succeeded_payment(&booking.id).await? {
                // Owed but not yet written (a webhook charge on a final booking, or a failed attempt).
                Some(payment) => {
                    let refund = NewRefund {
                        id: new_refund_id(),
                        payment_id: payment.id.clone(),
                        booking_id: booking.id.clone(),
                        amount: payment.amount,
                    };
                    match self.inner.store.insert_refund(&refund, self.now()).await {
                        Ok(()) | Err(StoreError::Conflict(_)) => {}
                        Err(error) => return Err(error.into()),
                    }
                    return Ok(true);
                }
                None => return self.finish_saga(&booking.id, &[SagaStep::RefundRequested]).await,
            },
        };
        let payment = self
            .inner
            .store
            .payment(&refund.payment_id)
            .await?
            .ok_or_else(|| BookingError::Internal(format!("refund {} without its payment", refund.id)))?;
        let Some(gateway_payment_id) = payment.gateway_payment_id.clone() else {
            return Err(BookingError::Internal(format!("payment {} refunded without a gateway id", payment.id)));
        };
        let key = idempotency_key("refund", &booking.id, &refund.id);
        match self.inner.gateway.refund(&gateway_payment_id, None, &key).await {
            Ok(done) => match done.status {
                crate::payments::RefundStatus::Succeeded | crate::payments::RefundStatus::Pending => {
                    let now = self.now();
                    self.inner
                        .store
                        .update_refund(
                            &refund.id,
                            &[RefundStatus::Pending],
                            RefundStatus::Succeeded,
                            Some(&done.id),
                            now,
                        )
                        .await?;
                    self.finish_saga(&booking.id, &[SagaStep::RefundRequested]).await?;
                    let record = self.record(&booking.id).await?;
                    self.publish(&record, BookingEventKind::RefundIssued, None, |e| {
                        e.refund_id = Some(refund.id.clone());
                        e.payment_id = Some(payment.id.clone());
                        e.amount = Some(refund.amount.clone());
                    })
                    .await;
                    Ok(true)
                }
                other => {
                    tracing::error!(booking = %booking.id, refund = %refund.id, status = ?other, "the gateway failed a refund");
                    self.inner
                        .store
                        .update_refund(
                            &refund.id,
                            &[RefundStatus::Pending],
                            RefundStatus::Failed,
                            Some(&done.id),
                            self.now(),
                        )
                        .await?;
                    Ok(false)
                }
            },
            Err(error) if error.outcome_unknown() => {
                tracing::warn!(booking = %booking.id, %error, "the refund's outcome is unknown; left for a retry");
                Ok(false)
            }
            Err(error) => {
                tracing::error!(booking = %booking.id, refund = %refund.id, %error, "the gateway refused a refund");
                self.inner
                    .store
                    .update_refund(&refund.id, &[RefundStatus::Pending], RefundStatus::Failed, None, self.now())
                    .await?;
                Ok(false)
            }
        }
    }

    /// A second successful charge for one booking (it cannot stand as the
    /// booking's payment): refunded through the gateway at once, recorded as
    /// a refunded payment. `false` when the refund failed (retried by recovery).
    async fn refund_duplicate(
        &self,
        booking: &BookingRecord,
        payment: &PaymentRecord,
        gateway_payment_id: &str,
    ) -> Result<bool, BookingError> {
        let key = idempotency_key("refund", &booking.id, &payment.id);
        let refunded = self.inner.gateway.refund(gateway_payment_id, None, &key).await;
        if let Err(error) = &refunded {
            tracing::error!(booking = %booking.id, %error, "refunding a duplicate charge failed; retried by recovery");
            return Ok(false);
        }
        let change = crate::store::payments::PaymentChange {
            gateway_payment_id: Some(gateway_payment_id.to_owned()),
            decline_code: None,
        };
        self.inner
            .store
            .update_payment(&payment.id, &[PaymentStatus::Processing], PaymentStatus::Refunded, &change, self.now())
            .await?;
        Ok(true)
    }

    /// The step → `DONE` (lease released); a booking still `PENDING_PAYMENT`
    /// (a confirmation that failed and was refunded) becomes `FAILED`.
    async fn finish_saga(&self, id: &str, from: &[SagaStep]) -> Result<bool, BookingError> {
        let now = self.now();
        let pending =
            BookingGuard { statuses: &[BookingStatus::PendingPayment], steps: from, ..BookingGuard::default() };
        let failed = BookingChange {
            status: Some(BookingStatus::Failed),
            step: Some(SagaStep::Done),
            release_claim: true,
            ..BookingChange::default()
        };
        if self.inner.store.transition_booking(id, &pending, &failed, now).await? {
            self.publish_failed(id).await;
            return Ok(true);
        }
        let guard = BookingGuard { steps: from, ..BookingGuard::default() };
        let done = BookingChange { step: Some(SagaStep::Done), release_claim: true, ..BookingChange::default() };
        Ok(self.inner.store.transition_booking(id, &guard, &done, now).await?)
    }

    async fn succeeded_payment(&self, id: &str) -> Result<Option<PaymentRecord>, BookingError> {
        Ok(self.inner.store.payments_for_booking(id).await?.into_iter().find(|p| p.status == PaymentStatus::Succeeded))
    }

    // ------------------------------------------------------------ events

    /// Records a booking event in the outbox, then publishes it on the
    /// bookings topic (and the status change it makes, if any, on the owner's
    /// booking-status topic). The outbox row is what the notifications worker relies
    /// on; the bus only makes it prompt. A failure is logged and never fails
    /// the booking.
    pub(super) async fn publish(
        &self,
        booking: &BookingRecord,
        kind: BookingEventKind,
        previous_status: Option<BookingStatus>,
        fill: impl FnOnce(&mut BookingEvent),
    ) {
        let mut event = BookingEvent {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            booking_id: booking.id.clone(),
            session_id: booking.session_id.clone(),
            status: booking.status,
            previous_status,
            at: booking.updated_at,
            payment_id: None,
            refund_id: None,
            amount: None,
            reference: booking.reference.clone(),
            expires_at: None,
            decline_code: None,
            language: booking.language.clone(),
        };
        fill(&mut event);
        match serde_json::to_string(&event) {
            Ok(payload) => {
                let row = NewEvent {
                    id: &event.id,
                    session_id: &event.session_id,
                    booking_id: &event.booking_id,
                    kind: kind.as_str(),
                    payload: &payload,
                };
                if let Err(error) = self.inner.store.record_event(&row, self.now()).await {
                    tracing::error!(booking = %booking.id, ?kind, %error, "recording a booking event failed");
                }
            }
            Err(error) => tracing::error!(booking = %booking.id, ?kind, %error, "encoding a booking event failed"),
        }
        let moved = kind == BookingEventKind::BookingCreated || previous_status.is_some_and(|p| p != event.status);
        if moved {
            self.publish_status(booking, if kind == BookingEventKind::BookingCreated { None } else { previous_status })
                .await;
        }
        if let Err(error) = self.inner.bus.publish(&Topic::bookings(), &BusEvent::Booking(event)).await {
            tracing::warn!(booking = %booking.id, ?kind, %error, "publishing a booking event failed");
        }
    }

    /// Publishes a status change on the owner's booking-status topic.
    async fn publish_status(&self, booking: &BookingRecord, previous_status: Option<BookingStatus>) {
        let change = BusEvent::BookingStatus(BookingStatusChange {
            booking_id: booking.id.clone(),
            session_id: booking.session_id.clone(),
            status: booking.status,
            previous_status,
            at: booking.updated_at,
        });
        let topic = Topic::session_booking_status(&SessionId(booking.session_id.clone()));
        if let Err(error) = self.inner.bus.publish(&topic, &change).await {
            tracing::warn!(booking = %booking.id, %error, "publishing a booking status change failed");
        }
    }

    /// Publishes the move to `FAILED` that `id` just made, which no
    /// notification reports but `bookingStatusChanged` must.
    async fn publish_failed(&self, id: &str) {
        match self.record(id).await {
            Ok(record) => self.publish_status(&record, Some(BookingStatus::PendingPayment)).await,
            Err(error) => tracing::warn!(booking = %id, %error, "reading a failed booking failed"),
        }
    }
}

/// A charge's outcome, or why it is still unknown.
enum Charged {
    Outcome(ChargeOutcome),
    Unknown(String),
}

fn charge_outcome(charge: &crate::payments::Charge) -> ChargeOutcome {
    let declined = |code: &str| ChargeOutcome::Declined {
        gateway_payment_id: Some(charge.id.clone()),
        decline_code: code.to_owned(),
    };
    match &charge.status {
        ChargeStatus::Succeeded => ChargeOutcome::Succeeded { gateway_payment_id: charge.id.clone() },
        ChargeStatus::Declined { code, .. } => declined(code),
        // We cannot take the payer through 3-D Secure here: nothing is charged.
        ChargeStatus::RequiresAction => declined("authentication_required"),
        ChargeStatus::RequiresPaymentMethod | ChargeStatus::Processing => declined("processing_error"),
        ChargeStatus::Canceled => declined("canceled"),
    }
}

fn pricing_error(failure: OrderFailure) -> BookingError {
    match failure {
        OrderFailure::Gone => BookingError::OfferExpired,
        OrderFailure::PriceChanged { current } => BookingError::Unavailable(format!(
            "The fare changed to {} {}; search again.",
            current.amount, current.currency
        )),
        OrderFailure::Timeout => BookingError::Timeout("The airline did not answer in time; please try again.".into()),
        OrderFailure::Unavailable(detail) | OrderFailure::Refused(detail) => {
            tracing::warn!(%detail, "pricing failed");
            BookingError::Unavailable("The airline could not price this offer right now; please try again.".into())
        }
    }
}

pub(super) fn not_payable(booking: &BookingRecord, now: DateTime<Utc>) -> BookingError {
    let message = match (booking.status, booking.step) {
        (BookingStatus::PendingPayment, SagaStep::Held) if booking.expires_at <= now => {
            "This booking's hold has lapsed; it can no longer be paid.".to_owned()
        }
        (BookingStatus::PendingPayment, _) => "This booking is already being paid.".to_owned(),
        (status, _) => format!("This booking is {} and cannot be paid.", status.as_str()),
    };
    BookingError::InvalidState(message)
}

fn not_cancellable(booking: &BookingRecord) -> BookingError {
    match booking.status {
        BookingStatus::PendingPayment => BookingError::InvalidState(
            "This booking is being paid right now; cancel it once the payment is settled.".into(),
        ),
        status => BookingError::InvalidState(format!("This booking is {} and cannot be cancelled.", status.as_str())),
    }
}

fn replay(stored: StoredResponse) -> Result<PaymentResult, BookingError> {
    if stored.status == 200 {
        return serde_json::from_value(stored.body).map_err(|e| BookingError::Internal(e.to_string()));
    }
    let error: StoredError = serde_json::from_value(stored.body).map_err(|e| BookingError::Internal(e.to_string()))?;
    Err(BookingError::InvalidState(format!("{} ({})", error.message, error.code)))
}

pub(super) fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
