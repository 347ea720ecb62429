//! The booking saga's calls to the flight provider, in one place: price,
//! hold, confirm, cancel. Each answer is reduced to what the saga branches
//! on, so the saga reads the same whatever the provider.
//!
//! Confirmation pays for (tickets) the held order with `confirm_order`,
//! which is safe to repeat; its request is sent once, so when it times out
//! the order is read back with `get_order` to learn whether it went through
//! before the saga decides anything. Our booking id travels with the hold
//! as the provider's client reference.

use std::sync::Arc;

use crate::flights::model::{Money, Offer, OrderContact, OrderTraveler, PricedOffer, ProviderOrderStatus};
use crate::flights::providers::{FlightProvider, ProviderError};

/// How a provider call failed, as the saga sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderFailure {
    /// The offer (or order) is gone: expired, sold out, cancelled, lapsed.
    Gone,
    /// The price is now `current`.
    PriceChanged {
        /// What the provider asks now.
        current: Money,
    },
    /// No answer in time: the outcome is unknown.
    Timeout,
    /// Unreachable, rate limited, 5xx: the outcome of a write is unknown.
    Unavailable(String),
    /// The provider refused the request itself; nothing happened.
    Refused(String),
}

impl From<ProviderError> for OrderFailure {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::OfferExpired
            | ProviderError::SoldOut
            | ProviderError::NotFound
            | ProviderError::OrderGone => Self::Gone,
            ProviderError::PriceChanged { current } => Self::PriceChanged { current },
            ProviderError::Timeout => Self::Timeout,
            ProviderError::RateLimited => Self::Unavailable("rate limited".to_owned()),
            ProviderError::Unavailable(detail) => Self::Unavailable(detail),
            ProviderError::Rejected(detail) | ProviderError::Unauthorized(detail) => Self::Refused(detail),
        }
    }
}

/// A held order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The provider's order id.
    pub order_id: String,
    /// When the provider releases the seats unless confirmed, when it says.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The provider side of the saga for one provider.
#[derive(Debug, Clone)]
pub struct ProviderOrders {
    provider: Arc<dyn FlightProvider>,
}

impl ProviderOrders {
    /// Calls to `provider`.
    pub fn new(provider: Arc<dyn FlightProvider>) -> Self {
        Self { provider }
    }

    /// The offer re-priced (safe to repeat).
    pub async fn price(&self, offer: &Offer) -> Result<PricedOffer, OrderFailure> {
        self.provider.price(offer).await.map_err(OrderFailure::from)
    }

    /// Holds the priced offer for the travellers, our booking id travelling
    /// with it; sent once (a timeout leaves the outcome unknown).
    pub async fn hold(
        &self,
        offer: &Offer,
        travelers: &[OrderTraveler],
        contact: &OrderContact,
        booking_id: &str,
    ) -> Result<Hold, OrderFailure> {
        let order = self.provider.create_order(offer, travelers, contact, booking_id).await?;
        Ok(Hold { order_id: order.id, expires_at: order.expires_at })
    }

    /// Confirms the held order for `amount`; returns the airline reference.
    /// Safe to repeat: a confirmed order comes back as it is.
    pub async fn confirm(&self, order_id: &str, amount: &Money) -> Result<String, OrderFailure> {
        let order = match self.provider.confirm_order(order_id, amount).await {
            Ok(order) => order,
            // The confirmation was sent once and its answer lost: read the
            // order back; a retry confirms it only if it is still held.
            Err(ProviderError::Timeout) => match self.provider.get_order(order_id).await? {
                order if order.status == ProviderOrderStatus::Confirmed => order,
                order if order.status == ProviderOrderStatus::Held => return Err(OrderFailure::Timeout),
                _ => return Err(OrderFailure::Gone),
            },
            Err(error) => return Err(error.into()),
        };
        match order.status {
            ProviderOrderStatus::Confirmed => Ok(order.reference.unwrap_or_else(|| order.id.clone())),
            ProviderOrderStatus::Held => Err(OrderFailure::Unavailable("the order is still held".to_owned())),
            ProviderOrderStatus::Cancelled | ProviderOrderStatus::Lapsed => Err(OrderFailure::Gone),
        }
    }

    /// Cancels the order; one already cancelled or gone counts as done.
    pub async fn cancel(&self, order_id: &str) -> Result<(), OrderFailure> {
        match self.provider.cancel_order(order_id).await {
            Ok(()) | Err(ProviderError::NotFound) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
