//! Typed access to what a request carries: who is asking.
//!
//! The HTTP and WebSocket layers resolve the bearer token once per request
//! (or once per connection) into a [`RequestAuth`]; resolvers ask for the
//! session through [`session`], which turns every failure into the contract's
//! `UNAUTHENTICATED` — or `INTERNAL` when the session store itself is down, so
//! clients do not discard a good token during an outage.

use async_graphql::Context;

use super::errors::{ApiError, Code};
use crate::sessions::{AuthError, AuthenticatedSession};

/// The outcome of authenticating a request.
#[derive(Debug, Clone)]
pub enum RequestAuth {
    /// No token was sent.
    Anonymous,
    /// A live session.
    Session(Box<AuthenticatedSession>),
    /// A token was sent but did not authenticate; the reason is for the client.
    Rejected(RejectReason),
}

/// Why a sent token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Not a bearer token of ours.
    Malformed,
    /// Unknown, expired or ended.
    Unknown,
    /// The session store could not answer.
    StoreUnavailable,
}

impl RequestAuth {
    /// From the result of [`crate::sessions::SessionService::authenticate`].
    pub fn from_result(result: Result<AuthenticatedSession, AuthError>) -> Self {
        match result {
            Ok(session) => Self::Session(Box::new(session)),
            Err(AuthError::Missing) => Self::Anonymous,
            Err(AuthError::Malformed) => Self::Rejected(RejectReason::Malformed),
            Err(AuthError::Unknown) => Self::Rejected(RejectReason::Unknown),
            Err(AuthError::Unavailable(error)) => {
                tracing::error!(%error, "session store unavailable while authenticating");
                Self::Rejected(RejectReason::StoreUnavailable)
            }
        }
    }

    /// The session, or the error a resolver should return.
    pub fn require(&self) -> Result<&AuthenticatedSession, ApiError> {
        match self {
            Self::Session(session) => Ok(session),
            Self::Anonymous => Err(ApiError::unauthenticated(AuthError::Missing.to_string())),
            Self::Rejected(RejectReason::Malformed) => Err(ApiError::unauthenticated(AuthError::Malformed.to_string())),
            Self::Rejected(RejectReason::Unknown) => Err(ApiError::unauthenticated(AuthError::Unknown.to_string())),
            Self::Rejected(RejectReason::StoreUnavailable) => {
                Err(ApiError::new(Code::Internal, "Sessions are temporarily unavailable; please retry shortly."))
            }
        }
    }
}

/// The caller's session, or `UNAUTHENTICATED`.
pub fn session<'c>(ctx: &'c Context<'_>) -> Result<&'c AuthenticatedSession, ApiError> {
    match ctx.data_opt::<RequestAuth>() {
        Some(auth) => auth.require(),
        None => Err(ApiError::unauthenticated(AuthError::Missing.to_string())),
    }
}

/// A service registered on the schema. Missing one is a wiring bug, reported as INTERNAL.
pub fn service<'c, T: std::any::Any + Send + Sync>(ctx: &'c Context<'_>) -> Result<&'c T, ApiError> {
    ctx.data_opt::<T>().ok_or_else(|| {
        tracing::error!(service = std::any::type_name::<T>(), "service missing from schema data");
        ApiError::new(Code::Internal, super::errors::INTERNAL_MESSAGE)
    })
}
