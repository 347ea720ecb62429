//! Payments: the [`PaymentGateway`] trait the booking saga charges through,
//! its domain types, and the building blocks around it — the Stripe-style
//! adapter ([`stripe`]), minor-unit conversion ([`money`]), Stripe's
//! form encoding ([`form`]), webhook signatures and events ([`webhook`]),
//! and the card-number guard ([`card`]).
//!
//! # How the booking saga should call it
//!
//! - **Charging** ([`PaymentGateway::create_payment`]): derive the gateway's
//!   `Idempotency-Key` from the client's key with [`idempotency_key`]
//!   (`"pay"`, booking id, client key): the same GraphQL retry then reaches
//!   the gateway with the same key and is replayed, not charged again. A
//!   decline is `Ok` with [`ChargeStatus::Declined`]; paying again with
//!   another method is a new client request, so a new key.
//! - **Outcome unknown** ([`GatewayError::outcome_unknown`]: timeout,
//!   network, 5xx, key still in use): record "payment pending" first, then
//!   resend the *same* request with the *same* key. Stripe stores the first
//!   response and replays it, so a charge whose answer was lost comes back
//!   as the original PaymentIntent. A stored 5xx is replayed too, though,
//!   so when the resend still gives no answer, reconcile with
//!   [`PaymentGateway::find_payments`] (PaymentIntents whose
//!   `metadata.booking_id` is the booking): a succeeded one means the
//!   booking is paid; none means nothing was charged, and a fresh attempt
//!   must use a fresh key (`idempotency_key("pay", booking, "{client key}:retry1")`).
//!   Stripe's search index lags by up to a minute in live mode; the sandbox's
//!   does not, so a reconciler should wait that long before concluding "none".
//! - **Refunds**: key `idempotency_key("refund", booking id, reason or client key)`.
//! - **Payment links**: [`PaymentGateway::create_checkout`] with key
//!   `idempotency_key("checkout", booking id, client key)`; the outcome
//!   arrives as a signed webhook ([`webhook::verify_signature`]); process
//!   each event id once, and order by the event's `created` (events arrive
//!   duplicated and out of order).

pub mod card;
pub mod form;
pub mod money;
pub mod stripe;
pub mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use card::looks_like_card_number;
pub use money::AmountError;

use crate::app::SandboxEndpoint;
use crate::config::{PaymentsSettings, Settings};
use crate::flights::model::Money;
use crate::flights::providers::ProviderHttp;

/// A charge to make: a PaymentIntent created and confirmed at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// How much, in major units (`342.20 EUR`); sent in minor units.
    pub amount: Money,
    /// The gateway's payment-method token (`pm_card_visa`), never a card number.
    pub payment_method: String,
    /// Stored as `metadata[booking_id]`, which is what reconciliation searches by.
    pub booking_id: String,
    /// The gateway `Idempotency-Key`, derived by the caller ([`idempotency_key`]).
    pub idempotency_key: String,
    /// Shown on the statement and in the gateway's dashboard.
    pub description: Option<String>,
}

/// Where a charge stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeStatus {
    /// The money is taken.
    Succeeded,
    /// The issuer refused; nothing was taken. Pay again with another method.
    Declined {
        /// The issuer's reason (`generic_decline`, `insufficient_funds`,
        /// `expired_card`), else the error code.
        code: String,
        /// A message safe to show the payer.
        message: String,
    },
    /// The gateway is still working on it; a webhook or a later retrieve says how it ends.
    Processing,
    /// The payer must authenticate (3-D Secure) before it can go on.
    RequiresAction,
    /// Created without (or not yet confirmed with) a payment method.
    RequiresPaymentMethod,
    /// Cancelled; nothing was or will be taken.
    Canceled,
}

/// A payment at the gateway (a PaymentIntent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The gateway's id (`pi_…`).
    pub id: String,
    /// Where it stands.
    pub status: ChargeStatus,
    /// The amount asked.
    pub amount: Money,
    /// `metadata.booking_id`, when set.
    pub booking_id: Option<String>,
    /// The payment method used, when one was.
    pub payment_method: Option<String>,
    /// The card charge behind it (`ch_…`), once attempted.
    pub latest_charge: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// The money is on its way back.
    Succeeded,
    /// Accepted, not yet settled.
    Pending,
    /// The payer must act (rare; some bank transfers).
    RequiresAction,
    /// Failed; the money stays charged.
    Failed,
    /// Cancelled before it settled.
    Canceled,
}

/// A refund at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The gateway's id (`re_…`).
    pub id: String,
    /// Where it stands.
    pub status: RefundStatus,
    /// How much goes back.
    pub amount: Money,
    /// The payment refunded.
    pub payment_id: String,
}

/// A hosted payment page to open (a Checkout Session in `payment` mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The amount to collect.
    pub amount: Money,
    /// `client_reference_id`, `metadata[booking_id]` and the resulting
    /// PaymentIntent's `metadata[booking_id]`.
    pub booking_id: String,
    /// The line item's name, shown on the page.
    pub description: String,
    /// Where the page sends the payer after paying; `{CHECKOUT_SESSION_ID}` is filled in.
    pub success_url: String,
    /// Where "back" goes.
    pub cancel_url: Option<String>,
    /// When the page stops taking payments (Stripe: 30 min to 24 h ahead).
    pub expires_at: DateTime<Utc>,
    /// The gateway `Idempotency-Key`.
    pub idempotency_key: String,
}

/// Where a hosted page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutStatus {
    /// Taking payments.
    Open,
    /// Paid (or otherwise finished).
    Complete,
    /// Expired unpaid.
    Expired,
}

/// A hosted payment page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The gateway's id (`cs_…`).
    pub id: String,
    /// The page to send the payer to (absent once complete or expired).
    pub url: Option<String>,
    /// When it stops taking payments.
    pub expires_at: DateTime<Utc>,
    /// Where it stands.
    pub status: CheckoutStatus,
    /// Whether it has been paid (`payment_status: paid`).
    pub paid: bool,
    /// The PaymentIntent that paid it.
    pub payment_id: Option<String>,
    /// `client_reference_id`.
    pub booking_id: Option<String>,
    /// The amount it collects.
    pub amount: Option<Money>,
}

/// Why a gateway call failed. A card decline is not one of these: it is a
/// [`Charge`] with [`ChargeStatus::Declined`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No answer within the request timeout. **Outcome unknown.**
    #[error("the payment gateway timed out")]
    Timeout,
    /// The connection failed or dropped. **Outcome unknown.**
    #[error("the payment gateway is unreachable: {0}")]
    Network(String),
    /// A 5xx answer. **Outcome unknown**: Stripe stores 500s that happen
    /// after the operation started, and replays them for the same key.
    #[error("the payment gateway failed: HTTP {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// Stripe's message.
        message: String,
    },
    /// 409 `idempotency_key_in_use`: a request with this key is still
    /// running, even after retries. **Outcome unknown**: retry later.
    #[error("a request with this idempotency key is still in progress")]
    KeyInUse,
    /// 400 `idempotency_error`: the key was used with other parameters (or
    /// on another endpoint). A bug in key derivation, or a client reusing a
    /// key for a different request.
    #[error("the idempotency key was used with different parameters: {0}")]
    IdempotencyConflict(String),
    /// The gateway refused the request itself (400 `invalid_request_error`):
    /// unknown payment method, over-refund, bad parameter. Nothing happened.
    #[error("the payment gateway refused the request: {message}")]
    InvalidRequest {
        /// Stripe's `code` (`resource_missing`, `amount_too_large`, …).
        code: Option<String>,
        /// The parameter at fault.
        param: Option<String>,
        /// Stripe's message.
        message: String,
    },
    /// No such object (404).
    #[error("not found at the payment gateway: {0}")]
    NotFound(String),
    /// The secret key was refused (401/403).
    #[error("the payment gateway refused the credentials: {0}")]
    Auth(String),
    /// 429 after retries. Nothing happened (Stripe's limiter sits in front of idempotency).
    #[error("the payment gateway is rate limiting")]
    RateLimited,
    /// The amount cannot be sent exactly.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A 2xx/4xx answer we cannot read. **Outcome unknown** for writes.
    #[error("unreadable answer from the payment gateway: {0}")]
    Protocol(String),
}

impl GatewayError {
    /// Whether the operation may or may not have happened: the saga must
    /// retry with the same key, or reconcile, before deciding anything.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout | Self::Network(_) | Self::Server { .. } | Self::KeyInUse | Self::Protocol(_))
    }
}

/// A payment gateway (Stripe-style).
#[async_trait]
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// Short stable name (`stripe`), for logs and reports.
    fn name(&self) -> &str;

    /// Creates and confirms a payment (`POST /v1/payment_intents`,
    /// `confirm=true`) under the request's idempotency key. Safe to resend
    /// with the same key and parameters: the gateway replays its first answer.
    async fn create_payment(&self, request: &ChargeRequest) -> Result<Charge, GatewayError>;

    /// A payment by its id (`pi_…`).
    async fn retrieve_payment(&self, id: &str) -> Result<Charge, GatewayError>;

    /// Every payment whose `metadata.booking_id` is `booking_id`, newest
    /// first: how a saga that lost an answer finds out what was charged.
    async fn find_payments(&self, booking_id: &str) -> Result<Vec<Charge>, GatewayError>;

    /// Refunds `amount` of a payment (all that is left when `None`).
    async fn refund(
        &self,
        payment_id: &str,
        amount: Option<&Money>,
        idempotency_key: &str,
    ) -> Result<Refund, GatewayError>;

    /// Opens a hosted payment page.
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError>;

    /// A hosted page by its id (`cs_…`).
    async fn retrieve_checkout(&self, id: &str) -> Result<CheckoutSession, GatewayError>;

    /// Closes an open hosted page (the booking expired or was cancelled).
    async fn expire_checkout(&self, id: &str) -> Result<CheckoutSession, GatewayError>;

    /// Whether the gateway answers and accepts the key (`wayfarer doctor`).
    async fn ping(&self) -> Result<(), GatewayError>;
}

/// A gateway idempotency key derived from the client's: `wf_{scope}_` and
/// a SHA-256 digest of the scope, the booking id and the client key, so it
/// is stable across retries, distinct per operation and booking, at most
/// 255 characters whatever the client sent, and carries no personal data.
pub fn idempotency_key(scope: &str, booking_id: &str, client_key: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let mut digest = Sha256::new();
    for part in [scope, booking_id, client_key] {
        // Length-prefixed, so ("a","bc") and ("ab","c") differ.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    format!("wf_{scope}_{}", hex::encode(digest.finalize()))
}

/// Where the gateway is and the keys it takes, from config.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    /// API root.
    pub base_url: String,
    /// The secret API key.
    pub secret_key: SecretString,
    /// The secret webhooks are signed with: what `/webhooks/payments`
    /// verifies against ([`webhook::verify_signature`]).
    pub webhook_secret: SecretString,
    /// Whether it is the bundled sandbox.
    pub sandbox: bool,
}

impl GatewayTarget {
    /// The configured gateway, or the bundled sandbox with its own keys when
    /// `payments.base_url` is unset; `None` when neither is available.
    pub fn resolve(settings: &PaymentsSettings, sandbox: Option<&SandboxEndpoint>) -> Option<Self> {
        match (&settings.base_url, sandbox) {
            (Some(url), _) => Some(Self {
                base_url: url.clone(),
                secret_key: settings.secret_key.clone().unwrap_or_else(|| SecretString::from(String::new())),
                webhook_secret: settings.webhook_secret.clone().unwrap_or_else(|| SecretString::from(String::new())),
                sandbox: false,
            }),
            (None, Some(sandbox)) => Some(Self {
                base_url: sandbox.base_url.clone(),
                secret_key: SecretString::from(sandbox.stripe_secret_key.clone()),
                webhook_secret: SecretString::from(sandbox.stripe_webhook_secret.clone()),
                sandbox: true,
            }),
            (None, None) => None,
        }
    }
}

/// The Stripe adapter for `target`, on its own HTTP plumbing: the
/// `http_client` connection settings, with `payments.request_timeout` and
/// `payments.rate_limit_per_second`.
pub fn stripe_gateway(settings: &Settings, target: &GatewayTarget) -> Result<stripe::StripeGateway, GatewayError> {
    let mut http_settings = settings.http_client.clone();
    http_settings.timeout = settings.payments.request_timeout;
    let global = Arc::new(tokio::sync::Semaphore::new(http_settings.max_connections));
    let http = ProviderHttp::new(
        &http_settings,
        settings.features.connection_pooling,
        settings.payments.rate_limit_per_second,
        global,
    )
    .map_err(|e| GatewayError::Network(e.to_string()))?;
    Ok(stripe::StripeGateway::new(&target.base_url, target.secret_key.clone(), http))
}

/// Metadata every payment carries.
pub(crate) fn booking_metadata(booking_id: &str) -> BTreeMap<String, String> {
    [("booking_id".to_owned(), booking_id.to_owned())].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_and_scoped() {
        let a = idempotency_key("pay", "bk_1", "client-key");
        assert_eq!(a, idempotency_key("pay", "bk_1", "client-key"));
        assert_ne!(a, idempotency_key("refund", "bk_1", "client-key"));
        assert_ne!(a, idempotency_key("pay", "bk_2", "client-key"));
        assert_ne!(idempotency_key("pay", "a", "bc"), idempotency_key("pay", "ab", "c"));
        assert!(a.starts_with("wf_pay_") && a.len() <= 255);
        assert!(idempotency_key("pay", "bk", &"k".repeat(10_000)).len() <= 255);
    }

    #[test]
    fn only_lost_answers_count_as_unknown_outcomes() {
        assert!(GatewayError::Timeout.outcome_unknown());
        assert!(GatewayError::Server { status: 500, message: String::new() }.outcome_unknown());
        assert!(GatewayError::KeyInUse.outcome_unknown());
        assert!(!GatewayError::IdempotencyConflict(String::new()).outcome_unknown());
        assert!(!GatewayError::RateLimited.outcome_unknown());
        assert!(!GatewayError::Auth(String::new()).outcome_unknown());
    }
}
