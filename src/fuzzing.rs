//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), and nothing
//! else: the crate-private parsers that turn a provider's or the payment
//! gateway's answer into domain values, re-exported unchanged so the fuzzer
//! exercises the very code the server runs instead of a copy. Hidden from
//! the docs; not an API.

use crate::flights::model::{Offer, PricedOffer, ProviderOrder};
use crate::flights::providers::{HttpReply, ProviderError, amadeus, duffel};
use crate::payments::stripe;
use crate::payments::{Charge, CheckoutSession, GatewayError};

/// Amadeus Flight Offers Price answer onto the searched offer.
pub fn amadeus_pricing(body: &[u8], searched: &Offer) -> Result<PricedOffer, ProviderError> {
    amadeus::map_pricing(body, searched)
}

/// Amadeus Flight Create Orders / retrieve answer.
pub fn amadeus_order(body: &[u8]) -> Result<ProviderOrder, ProviderError> {
    amadeus::map_order(body)
}

/// The error an Amadeus pricing answer that is not 200 stands for.
pub fn amadeus_pricing_error(reply: &HttpReply) -> ProviderError {
    amadeus::pricing_error(reply)
}

/// The error an Amadeus order answer that is not 201 stands for.
pub fn amadeus_order_error(reply: &HttpReply, currency: &str) -> ProviderError {
    amadeus::order_error(reply, currency)
}

/// Duffel single-offer GET onto the searched offer.
pub fn duffel_priced_offer(body: &[u8], searched: &Offer) -> Result<PricedOffer, ProviderError> {
    duffel::map_priced_offer(body, searched)
}

/// Duffel order answer (create or retrieve).
pub fn duffel_order(body: &[u8]) -> Result<ProviderOrder, ProviderError> {
    duffel::map_order(body)
}

/// The error a Duffel answer that is not 2xx stands for.
pub fn duffel_error(reply: &HttpReply, about_offer: bool) -> ProviderError {
    duffel::classify_error(reply, about_offer)
}

/// A Stripe PaymentIntent answer (200, or a 402 decline carrying the PI).
pub fn stripe_charge(reply: &HttpReply) -> Result<Charge, GatewayError> {
    stripe::charge_reply(reply)
}

/// A Stripe Checkout Session answer.
pub fn stripe_session(reply: &HttpReply) -> Result<CheckoutSession, GatewayError> {
    stripe::session_reply(reply)
}

/// The error a Stripe answer that is not 2xx stands for.
pub fn stripe_error(reply: &HttpReply) -> GatewayError {
    stripe::error_of(reply)
}
