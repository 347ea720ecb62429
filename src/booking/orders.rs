//! The booking saga's calls to the flight provider, in one place: price,
//! hold, confirm, cancel. Each answer is reduced to what the saga branches
//! on, so the saga reads the same whatever the provider.
//!
//! Confirmation: the provider trait on this branch has no confirm call yet
//! (it is being added on the `orders` branch). Until it lands, "confirm"
//! reads the order back with `get_order`: a held or confirmed order counts
//! as confirmed with its reference, a cancelled or missing one as gone.
//! That is the one function to change when `confirm_order` arrives.

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
            ProviderError::OfferExpired | ProviderError::SoldOut | ProviderError::NotFound => Self::Gone,
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

    /// Holds the priced offer for the travellers; sent once (a timeout leaves
    /// the outcome unknown).
    pub async fn hold(
        &self,
        offer: &Offer,
        travelers: &[OrderTraveler],
        contact: &OrderContact,
        booking_id: &str,
    ) -> Result<Hold, OrderFailure> {
        // The booking id travels with the order once the provider trait takes
        // a client reference (the `orders` branch); until then it is unused.
        let _ = booking_id;
        let order = self.provider.create_order(offer, travelers, contact).await?;
        Ok(Hold { order_id: order.id })
    }

    /// Confirms the held order for `amount`; returns the airline reference.
    /// Safe to repeat.
    pub async fn confirm(&self, order_id: &str, amount: &Money) -> Result<String, OrderFailure> {
        let _ = amount;
        let order = self.provider.get_order(order_id).await?;
        match order.status {
            ProviderOrderStatus::Held | ProviderOrderStatus::Confirmed => {
                Ok(order.reference.unwrap_or_else(|| order.id.clone()))
            }
            ProviderOrderStatus::Cancelled => Err(OrderFailure::Gone),
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
