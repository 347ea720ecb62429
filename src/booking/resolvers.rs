//! GraphQL edge of booking and payment: `priceOffer`, `createBooking`,
//! `payForBooking`, `createPaymentLink`, `cancelBooking`, `booking`, `bookings`. Resolvers check
//! the session, call the [`BookingService`], and map its errors once to the
//! contract's codes; a booking of another session answers exactly as an
//! unknown id.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::model::{BookingStatus, PaymentStatus, RefundStatus};
use super::service::{BookingError, BookingService, BookingView, PaymentView, RefundView, TravelerView};
use super::validate::{CreateBookingInput, PayForBookingInput};
use crate::flights::model::{Money, PassengerType};
use crate::flights::resolvers::{FlightOfferObject, MoneyObject, today_for};
use crate::graphql::context::{service, session};
use crate::graphql::errors::{ApiError, Code};
use crate::graphql::scalars::{Date, DateTime};

/// The same message for an unknown booking and another session's.
const NO_SUCH_BOOKING: &str = "No such booking.";

/// A booking.
#[derive(Debug, Clone)]
pub struct BookingObject(BookingView);

impl From<BookingView> for BookingObject {
    fn from(view: BookingView) -> Self {
        Self(view)
    }
}

/// A booking: the offer as booked, its travellers, status and payments.
#[Object(name = "Booking")]
impl BookingObject {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// `PENDING_PAYMENT`, `CONFIRMED`, `CANCELLED`, `EXPIRED`, `FAILED`.
    async fn status(&self) -> BookingStatus {
        self.0.status
    }
    /// The airline's booking reference, once confirmed.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    /// When it was made.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the unpaid hold lapses.
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }
    /// The total for all travellers.
    async fn total(&self) -> MoneyObject {
        (&self.0.total).into()
    }
    /// The offer as it was booked.
    async fn offer(&self) -> FlightOfferObject {
        FlightOfferObject::single(self.0.offer.clone())
    }
    /// The travellers, in order.
    async fn travelers(&self) -> Vec<Traveler> {
        self.0.travelers.iter().map(Traveler::from).collect()
    }
    /// Who the airline contacts.
    async fn contact(&self) -> Contact {
        Contact { email: self.0.contact.email.clone(), phone: self.0.contact.phone.clone() }
    }
    /// Its payment attempts, oldest first.
    async fn payments(&self) -> Vec<Payment> {
        self.0.payments.iter().map(Payment::from).collect()
    }
}

/// A traveller of a booking.
#[derive(Debug, Clone, SimpleObject)]
pub struct Traveler {
    /// Given name(s).
    pub first_name: String,
    /// Family name(s).
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// Adult, child or infant.
    #[graphql(name = "type")]
    pub kind: PassengerType,
}

impl From<&TravelerView> for Traveler {
    fn from(t: &TravelerView) -> Self {
        Self {
            first_name: t.first_name.clone(),
            last_name: t.last_name.clone(),
            date_of_birth: Date(t.date_of_birth),
            kind: t.kind,
        }
    }
}

/// Who the airline contacts about a booking.
#[derive(Debug, Clone, SimpleObject)]
pub struct Contact {
    /// Email address.
    pub email: String,
    /// Phone number in E.164.
    pub phone: Option<String>,
}

/// A payment attempt.
#[derive(Debug, Clone, SimpleObject)]
pub struct Payment {
    /// Its id.
    pub id: ID,
    /// `SUCCEEDED`, `DECLINED`, `REFUNDED`, `PROCESSING`.
    pub status: PaymentStatus,
    /// How much.
    pub amount: MoneyObject,
    /// Why it was declined (`insufficient_funds`, …).
    pub decline_code: Option<String>,
}

impl From<&PaymentView> for Payment {
    fn from(p: &PaymentView) -> Self {
        Self {
            id: ID(p.id.clone()),
            status: p.status,
            amount: (&p.amount).into(),
            decline_code: p.decline_code.clone(),
        }
    }
}

/// A refund.
#[derive(Debug, Clone, SimpleObject)]
pub struct Refund {
    /// Its id.
    pub id: ID,
    /// `SUCCEEDED`, `PENDING`, `FAILED`.
    pub status: RefundStatus,
    /// How much goes back.
    pub amount: MoneyObject,
}

impl From<&RefundView> for Refund {
    fn from(r: &RefundView) -> Self {
        Self { id: ID(r.id.clone()), status: r.status, amount: (&r.amount).into() }
    }
}

/// The answer to `priceOffer`.
#[derive(Debug, Clone, SimpleObject)]
pub struct PriceOfferPayload {
    /// The offer at its confirmed price.
    pub offer: FlightOfferObject,
    /// Whether the price differs from the one seen before.
    pub price_changed: bool,
    /// The price seen before, when it changed.
    pub previous_price: Option<MoneyObject>,
}

/// The answer to `createBooking`.
#[derive(Debug, Clone, SimpleObject)]
pub struct CreateBookingPayload {
    /// The booking, `PENDING_PAYMENT` until paid or expired.
    pub booking: BookingObject,
}

/// The answer to `payForBooking`.
#[derive(Debug, Clone, SimpleObject)]
pub struct PayForBookingPayload {
    /// The payment this request made (a decline is a `DECLINED` payment, not an error).
    pub payment: Payment,
    /// The booking after it.
    pub booking: BookingObject,
}

/// The answer to `createPaymentLink`: the provider's hosted payment page.
#[derive(Debug, Clone, SimpleObject)]
pub struct PaymentLink {
    /// The page to send the payer to.
    pub url: String,
    /// Until when paying there settles the booking (the sooner of the page's
    /// end and the booking's hold).
    pub expires_at: DateTime,
}

/// The answer to `cancelBooking`.
#[derive(Debug, Clone, SimpleObject)]
pub struct CancelBookingPayload {
    /// The booking after it.
    pub booking: BookingObject,
    /// The refund, when the booking had been paid.
    pub refund: Option<Refund>,
}

/// Booking queries.
#[derive(Debug, Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
    /// One of this session's bookings.
    async fn booking(&self, ctx: &Context<'_>, id: ID) -> Result<BookingObject, ApiError> {
        let auth = session(ctx)?;
        let bookings = service::<BookingService>(ctx)?;
        bookings.booking(&auth.session.id.0, &id).await.map(BookingObject).map_err(api_error)
    }

    /// This session's bookings, newest first.
    async fn bookings(&self, ctx: &Context<'_>) -> Result<Vec<BookingObject>, ApiError> {
        let auth = session(ctx)?;
        let bookings = service::<BookingService>(ctx)?;
        Ok(bookings.bookings(&auth.session.id.0).await.map_err(api_error)?.into_iter().map(BookingObject).collect())
    }
}

/// Booking mutations.
#[derive(Debug, Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Re-prices an offer with its provider before booking.
    async fn price_offer(&self, ctx: &Context<'_>, offer_id: ID) -> Result<PriceOfferPayload, ApiError> {
        session(ctx)?;
        let priced = service::<BookingService>(ctx)?.price_offer(&offer_id).await.map_err(api_error)?;
        Ok(PriceOfferPayload {
            offer: FlightOfferObject::single(priced.offer),
            price_changed: priced.price_changed,
            previous_price: priced.previous_price.as_ref().map(MoneyObject::from),
        })
    }

    /// Books an offer for these travellers: the seats are held, payment is due before `expiresAt`.
    async fn create_booking(
        &self,
        ctx: &Context<'_>,
        input: CreateBookingInput,
    ) -> Result<CreateBookingPayload, ApiError> {
        let auth = session(ctx)?;
        let today = today_for(ctx, &auth.session.time_zone)?;
        let language = auth.session.locale.split('-').next().unwrap_or("en").to_ascii_lowercase();
        let booking = service::<BookingService>(ctx)?
            .create_booking(&auth.session.id.0, &language, &input, today)
            .await
            .map_err(api_error)?;
        Ok(CreateBookingPayload { booking: BookingObject(booking) })
    }

    /// Pays for a booking with a payment-method token, under the client's idempotency key.
    async fn pay_for_booking(
        &self,
        ctx: &Context<'_>,
        input: PayForBookingInput,
    ) -> Result<PayForBookingPayload, ApiError> {
        let auth = session(ctx)?;
        let paid = service::<BookingService>(ctx)?.pay(&auth.session.id.0, &input).await.map_err(api_error)?;
        Ok(PayForBookingPayload { payment: Payment::from(&paid.payment), booking: BookingObject(paid.booking) })
    }

    /// The payment provider's hosted payment page for a `PENDING_PAYMENT`
    /// booking; the same open page again when called twice. The outcome
    /// arrives by webhook and moves the booking as `payForBooking` does.
    async fn create_payment_link(&self, ctx: &Context<'_>, booking_id: ID) -> Result<PaymentLink, ApiError> {
        let auth = session(ctx)?;
        let base = ctx.data::<PublicBase>().map(|b| b.0.clone()).unwrap_or_default();
        let link = service::<BookingService>(ctx)?
            .create_payment_link(&auth.session.id.0, &booking_id, &base)
            .await
            .map_err(api_error)?;
        Ok(PaymentLink { url: link.url, expires_at: link.expires_at.into() })
    }

    /// Cancels a booking: a held one releases its seats, a confirmed one is refunded.
    async fn cancel_booking(&self, ctx: &Context<'_>, id: ID) -> Result<CancelBookingPayload, ApiError> {
        let auth = session(ctx)?;
        let cancelled = service::<BookingService>(ctx)?.cancel(&auth.session.id.0, &id).await.map_err(api_error)?;
        Ok(CancelBookingPayload {
            booking: BookingObject(cancelled.booking),
            refund: cancelled.refund.as_ref().map(Refund::from),
        })
    }
}

/// This server's public base URL (no trailing slash), where a hosted
/// payment page sends the payer back to; schema data.
#[derive(Debug, Clone)]
pub struct PublicBase(pub String);

fn money_value(money: &Money) -> async_graphql::Value {
    let object = MoneyObject::from(money);
    async_graphql::Value::from_json(serde_json::json!({ "amount": object.amount, "currency": object.currency }))
        .unwrap_or(async_graphql::Value::Null)
}

/// The contract code and client message for a service error.
pub fn api_error(error: BookingError) -> ApiError {
    match error {
        BookingError::Input(e) => ApiError::bad_input(&e.field, e.message),
        BookingError::NotFound => ApiError::new(Code::NotFound, NO_SUCH_BOOKING),
        BookingError::OfferExpired => {
            ApiError::new(Code::OfferExpired, "This offer can no longer be booked; please search again.")
        }
        BookingError::PriceChanged { current, previous } => ApiError::new(
            Code::PriceChanged,
            format!("The price changed from {} to {} {}.", previous.amount, current.amount, current.currency),
        )
        .with("price", money_value(&current))
        .with("previousPrice", money_value(&previous)),
        BookingError::InvalidState(message) => ApiError::new(Code::InvalidState, message),
        BookingError::KeyReused => ApiError::new(
            Code::IdempotencyKeyReused,
            "This idempotency key was used with a different request; use a new key for a new payment.",
        ),
        BookingError::Busy(message) => ApiError::new(Code::RateLimited, message)
            .with("retryAfterSeconds", 1)
            .with("reason", "IDEMPOTENCY_KEY_IN_USE"),
        BookingError::Timeout(message) => ApiError::new(Code::ProviderTimeout, message),
        BookingError::Unavailable(message) => ApiError::new(Code::ProviderUnavailable, message),
        BookingError::Store(e) => ApiError::internal(&e),
        BookingError::Internal(message) => {
            let error = std::io::Error::other(message);
            ApiError::internal(&error)
        }
    }
}
