//! The Stripe-style adapter (`reference/providers.md` §4): PaymentIntents
//! created with `confirm=true`, Refunds, Checkout Sessions, and the
//! PaymentIntent search that reconciliation needs, over the shared
//! [`ProviderHttp`] plumbing (pooled client, connection caps, token bucket).
//!
//! Wire rules kept here: form-encoded bodies with bracket keys
//! ([`super::form`]), amounts in minor units, lowercase currencies,
//! `Authorization: Bearer sk_…`, a pinned `Stripe-Version`, and an
//! `Idempotency-Key` on every POST. Because every POST carries a key, every
//! call may be resent: connection failures, 409 (key still in use), 429 and
//! 5xx are retried with backoff inside the request timeout. A 402
//! `card_error` is a decline, read from the PaymentIntent the error embeds,
//! not an error.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::form::FormBody;
use super::money::{from_minor_units, to_minor_units, wire_currency};
use super::{
    Charge, ChargeRequest, ChargeStatus, CheckoutRequest, CheckoutSession, CheckoutStatus, GatewayError,
    PaymentGateway, Refund, RefundStatus, booking_metadata,
};
use crate::flights::model::Money;
use crate::flights::providers::{HttpReply, ProviderError, ProviderHttp};

/// The API version this adapter speaks (sent on every call, so the
/// account's default version cannot change the wire format under us).
pub const STRIPE_VERSION: &str = "2024-06-20";

/// Payments through a Stripe-style API.
#[derive(Debug)]
pub struct StripeGateway {
    base_url: String,
    secret_key: SecretString,
    http: ProviderHttp,
}

/// Stripe's error body.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: WireError,
}

#[derive(Debug, Default, Deserialize)]
struct WireError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    payment_intent: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WirePaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    payment_method: Option<Value>,
    #[serde(default)]
    latest_charge: Option<Value>,
    #[serde(default)]
    last_payment_error: Option<WireError>,
    #[serde(default)]
    created: i64,
}

#[derive(Debug, Deserialize)]
struct WireRefund {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    payment_intent: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireSession {
    id: String,
    #[serde(default)]
    url: Option<String>,
    expires_at: i64,
    status: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    payment_intent: Option<Value>,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    amount_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireSearch {
    data: Vec<WirePaymentIntent>,
}

impl StripeGateway {
    /// An adapter for the API at `base_url` (no trailing slash) with a secret key.
    pub fn new(base_url: &str, secret_key: SecretString, http: ProviderHttp) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), secret_key, http }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .client()
            .request(method, url)
            .bearer_auth(self.secret_key.expose_secret())
            .header("Stripe-Version", STRIPE_VERSION)
            .header("accept", "application/json")
    }

    /// A POST, resent as needed under its idempotency key.
    async fn post(&self, path: &str, body: &FormBody, idempotency_key: &str) -> Result<HttpReply, GatewayError> {
        let url = format!("{}{path}", self.base_url);
        let encoded = body.encode();
        let reply = self
            .http
            .send_retrying(
                || {
                    self.request(reqwest::Method::POST, &url)
                        .header("Idempotency-Key", idempotency_key)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(encoded.clone())
                },
                retryable,
            )
            .await
            .map_err(transport)?;
        Ok(reply)
    }

    async fn get(&self, url: &str) -> Result<HttpReply, GatewayError> {
        self.http.send_retrying(|| self.request(reqwest::Method::GET, url), retryable).await.map_err(transport)
    }
}

/// Statuses worth resending under the same key: 409 (the key's first request
/// is still running), 429 (limited before idempotency) and 5xx.
fn retryable(status: u16) -> bool {
    status == 409 || status == 429 || status >= 500
}

fn transport(error: ProviderError) -> GatewayError {
    match error {
        ProviderError::Timeout => GatewayError::Timeout,
        other => GatewayError::Network(other.to_string()),
    }
}

/// A path segment from an id the caller passed: ids are `pi_…`-like, so
/// anything else is refused rather than spliced into the URL.
fn segment(id: &str) -> Result<&str, GatewayError> {
    if !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        Err(GatewayError::InvalidRequest { code: None, param: Some("id".into()), message: format!("bad id {id:?}") })
    }
}

fn parse<T: serde::de::DeserializeOwned>(reply: &HttpReply) -> Result<T, GatewayError> {
    serde_json::from_slice(&reply.body).map_err(|e| GatewayError::Protocol(format!("HTTP {}: {e}", reply.status)))
}

/// The error a non-2xx answer stands for.
pub(crate) fn error_of(reply: &HttpReply) -> GatewayError {
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    let error = body.error;
    let message = error.message.clone().unwrap_or_else(|| format!("HTTP {}", reply.status));
    match (reply.status, error.kind.as_deref(), error.code.as_deref()) {
        (409, _, _) | (_, _, Some("idempotency_key_in_use")) => GatewayError::KeyInUse,
        (_, Some("idempotency_error"), _) => GatewayError::IdempotencyConflict(message),
        (401 | 403, _, _) => GatewayError::Auth(message),
        (404, _, _) => GatewayError::NotFound(message),
        (429, _, _) => GatewayError::RateLimited,
        (500.., _, _) => GatewayError::Server { status: reply.status, message },
        _ => GatewayError::InvalidRequest { code: error.code, param: error.param, message },
    }
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// An expandable field: an id string, or the expanded object's `id`.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) => Some(id.clone()),
        object => object["id"].as_str().map(str::to_owned),
    }
}

fn charge_of(pi: WirePaymentIntent) -> Charge {
    let status = match pi.status.as_str() {
        "succeeded" => ChargeStatus::Succeeded,
        "processing" => ChargeStatus::Processing,
        "requires_action" => ChargeStatus::RequiresAction,
        "canceled" => ChargeStatus::Canceled,
        // A failed confirm leaves the PI waiting for another method, with the reason.
        _ => match &pi.last_payment_error {
            Some(error) => ChargeStatus::Declined {
                code: error
                    .decline_code
                    .clone()
                    .or_else(|| error.code.clone())
                    .unwrap_or_else(|| "card_declined".to_owned()),
                message: error.message.clone().unwrap_or_default(),
            },
            None => ChargeStatus::RequiresPaymentMethod,
        },
    };
    Charge {
        id: pi.id,
        status,
        amount: from_minor_units(pi.amount, &pi.currency),
        booking_id: pi.metadata.get("booking_id").cloned(),
        payment_method: id_of(pi.payment_method.as_ref()),
        latest_charge: id_of(pi.latest_charge.as_ref()),
        created: timestamp(pi.created),
    }
}

/// A PaymentIntent answer: 200, or a 402 decline carrying the PI.
pub(crate) fn charge_reply(reply: &HttpReply) -> Result<Charge, GatewayError> {
    match reply.status {
        200 => Ok(charge_of(parse(reply)?)),
        402 => {
            let body: ErrorBody = parse(reply)?;
            let error = body.error;
            let Some(pi) = error.payment_intent.clone() else {
                return Err(GatewayError::Protocol("a 402 decline without its payment_intent".into()));
            };
            let pi: WirePaymentIntent =
                serde_json::from_value(pi).map_err(|e| GatewayError::Protocol(format!("HTTP 402: {e}")))?;
            let mut charge = charge_of(pi);
            // The top-level error is the authoritative reason for this attempt.
            charge.status = ChargeStatus::Declined {
                code: error.decline_code.or(error.code).unwrap_or_else(|| "card_declined".to_owned()),
                message: error.message.unwrap_or_default(),
            };
            Ok(charge)
        }
        _ => Err(error_of(reply)),
    }
}

fn session_of(session: WireSession) -> CheckoutSession {
    let status = match session.status.as_deref() {
        Some("complete") => CheckoutStatus::Complete,
        Some("expired") => CheckoutStatus::Expired,
        _ => CheckoutStatus::Open,
    };
    let amount = match (session.amount_total, &session.currency) {
        (Some(minor), Some(currency)) => Some(from_minor_units(minor, currency)),
        _ => None,
    };
    CheckoutSession {
        id: session.id,
        url: session.url,
        expires_at: timestamp(session.expires_at),
        status,
        paid: session.payment_status.as_deref() == Some("paid"),
        payment_id: id_of(session.payment_intent.as_ref()),
        booking_id: session.client_reference_id,
        amount,
    }
}

pub(crate) fn session_reply(reply: &HttpReply) -> Result<CheckoutSession, GatewayError> {
    match reply.status {
        200 => Ok(session_of(parse(reply)?)),
        _ => Err(error_of(reply)),
    }
}

/// The body of a confirmed card PaymentIntent.
pub fn payment_intent_body(request: &ChargeRequest) -> Result<FormBody, GatewayError> {
    let mut body = FormBody::new();
    body.push("amount", to_minor_units(&request.amount)?.to_string())
        .push("currency", wire_currency(&request.amount))
        .push("payment_method", &request.payment_method)
        .push("confirm", "true")
        // Card only: with automatic payment methods Stripe would demand a
        // return_url for redirect-based methods a server cannot follow.
        .push("payment_method_types[]", "card")
        .push_map("metadata", &booking_metadata(&request.booking_id));
    if let Some(description) = &request.description {
        body.push("description", description);
    }
    Ok(body)
}

/// The body of a one-line-item Checkout Session in `payment` mode.
pub fn checkout_body(request: &CheckoutRequest) -> Result<FormBody, GatewayError> {
    let metadata = booking_metadata(&request.booking_id);
    let mut body = FormBody::new();
    body.push("mode", "payment")
        .push("line_items[0][quantity]", "1")
        .push("line_items[0][price_data][currency]", wire_currency(&request.amount))
        .push("line_items[0][price_data][unit_amount]", to_minor_units(&request.amount)?.to_string())
        .push("line_items[0][price_data][product_data][name]", &request.description)
        .push("success_url", &request.success_url)
        .push("client_reference_id", &request.booking_id)
        .push("expires_at", request.expires_at.timestamp().to_string())
        .push("payment_method_types[]", "card")
        .push_map("metadata", &metadata)
        // Session metadata stays on the session; the PaymentIntent needs its
        // own so that reconciliation finds hosted-page payments too.
        .push_map("payment_intent_data[metadata]", &metadata);
    if let Some(cancel) = &request.cancel_url {
        body.push("cancel_url", cancel);
    }
    Ok(body)
}

/// Stripe's search-query string literal: quotes and backslashes escaped.
fn query_literal(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &str {
        "stripe"
    }

    async fn create_payment(&self, request: &ChargeRequest) -> Result<Charge, GatewayError> {
        let body = payment_intent_body(request)?;
        let reply = self.post("/v1/payment_intents", &body, &request.idempotency_key).await?;
        charge_reply(&reply)
    }

    async fn retrieve_payment(&self, id: &str) -> Result<Charge, GatewayError> {
        let reply = self.get(&format!("{}/v1/payment_intents/{}", self.base_url, segment(id)?)).await?;
        charge_reply(&reply)
    }

    async fn find_payments(&self, booking_id: &str) -> Result<Vec<Charge>, GatewayError> {
        let mut url = url::Url::parse(&format!("{}/v1/payment_intents/search", self.base_url))
            .map_err(|e| GatewayError::Protocol(format!("bad base URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("query", &format!("metadata['booking_id']:'{}'", query_literal(booking_id)))
            .append_pair("limit", "100");
        let reply = self.get(url.as_str()).await?;
        match reply.status {
            200 => Ok(parse::<WireSearch>(&reply)?.data.into_iter().map(charge_of).collect()),
            _ => Err(error_of(&reply)),
        }
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount: Option<&Money>,
        idempotency_key: &str,
    ) -> Result<Refund, GatewayError> {
        let mut body = FormBody::new();
        body.push("payment_intent", segment(payment_id)?);
        if let Some(amount) = amount {
            body.push("amount", to_minor_units(amount)?.to_string());
        }
        let reply = self.post("/v1/refunds", &body, idempotency_key).await?;
        if reply.status != 200 {
            return Err(error_of(&reply));
        }
        let refund: WireRefund = parse(&reply)?;
        let status = match refund.status.as_str() {
            "succeeded" => RefundStatus::Succeeded,
            "requires_action" => RefundStatus::RequiresAction,
            "failed" => RefundStatus::Failed,
            "canceled" => RefundStatus::Canceled,
            _ => RefundStatus::Pending,
        };
        Ok(Refund {
            id: refund.id,
            status,
            amount: from_minor_units(refund.amount, &refund.currency),
            payment_id: refund.payment_intent.unwrap_or_else(|| payment_id.to_owned()),
        })
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError> {
        let body = checkout_body(request)?;
        let reply = self.post("/v1/checkout/sessions", &body, &request.idempotency_key).await?;
        session_reply(&reply)
    }

    async fn retrieve_checkout(&self, id: &str) -> Result<CheckoutSession, GatewayError> {
        let reply = self.get(&format!("{}/v1/checkout/sessions/{}", self.base_url, segment(id)?)).await?;
        session_reply(&reply)
    }

    async fn expire_checkout(&self, id: &str) -> Result<CheckoutSession, GatewayError> {
        let path = format!("/v1/checkout/sessions/{}/expire", segment(id)?);
        // Expiring is idempotent in itself; the key only makes the resend a replay.
        let reply = self.post(&path, &FormBody::new(), &super::idempotency_key("expire", id, "")).await?;
        session_reply(&reply)
    }

    async fn ping(&self) -> Result<(), GatewayError> {
        let reply = self.get(&format!("{}/v1/balance", self.base_url)).await?;
        match reply.status {
            200 => Ok(()),
            _ => Err(error_of(&reply)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: serde_json::Value) -> HttpReply {
        HttpReply { status, body: serde_json::to_vec(&body).expect("json").into() }
    }

    #[test]
    fn a_402_decline_is_a_declined_charge() {
        let body = serde_json::json!({ "error": {
            "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": { "id": "pi_1", "amount": 34220, "currency": "eur",
                                "status": "requires_payment_method", "metadata": { "booking_id": "bk_1" },
                                "created": 1_700_000_000 }
        }});
        let charge = charge_reply(&reply(402, body)).expect("a decline is not an error");
        assert_eq!(charge.id, "pi_1");
        assert_eq!(charge.booking_id.as_deref(), Some("bk_1"));
        assert_eq!(charge.amount.amount.to_string(), "342.20");
        assert_eq!(
            charge.status,
            ChargeStatus::Declined {
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into()
            }
        );
    }

    #[test]
    fn error_bodies_map_to_their_kind() {
        let err = |status, kind: &str, code: &str| {
            error_of(&reply(status, serde_json::json!({ "error": { "type": kind, "code": code, "message": "m" } })))
        };
        assert_eq!(err(400, "idempotency_error", ""), GatewayError::IdempotencyConflict("m".into()));
        assert_eq!(err(409, "invalid_request_error", "idempotency_key_in_use"), GatewayError::KeyInUse);
        assert_eq!(err(401, "invalid_request_error", ""), GatewayError::Auth("m".into()));
        assert_eq!(err(404, "invalid_request_error", "resource_missing"), GatewayError::NotFound("m".into()));
        assert_eq!(err(500, "api_error", ""), GatewayError::Server { status: 500, message: "m".into() });
        assert!(matches!(
            err(400, "invalid_request_error", "amount_too_large"),
            GatewayError::InvalidRequest { code: Some(c), .. } if c == "amount_too_large"
        ));
        assert!(matches!(
            error_of(&HttpReply { status: 502, body: b"<html>".to_vec().into() }),
            GatewayError::Server { status: 502, .. }
        ));
    }

    #[test]
    fn the_charge_body_is_form_encoded_in_minor_units() {
        let request = ChargeRequest {
            amount: Money { amount: "1500".parse().expect("decimal"), currency: "JPY".into() },
            payment_method: "pm_card_visa".into(),
            booking_id: "bk_9".into(),
            idempotency_key: "k".into(),
            description: None,
        };
        let body = payment_intent_body(&request).expect("body").encode();
        assert_eq!(
            body,
            "amount=1500&currency=jpy&payment_method=pm_card_visa&confirm=true&payment_method_types%5B%5D=card\
             &metadata%5Bbooking_id%5D=bk_9"
        );
    }

    #[test]
    fn ids_cannot_reshape_the_url() {
        assert!(segment("pi_123abc").is_ok());
        assert!(segment("../v1/balance").is_err());
        assert!(segment("pi_1?x=y").is_err());
        assert!(segment("").is_err());
    }

    #[test]
    fn search_literals_are_escaped() {
        assert_eq!(query_literal("it's"), "it\\'s");
    }
}
