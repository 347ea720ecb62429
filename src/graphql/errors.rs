//! The error codes of the contract and the one place they are attached.
//!
//! Resolvers return [`ApiError`], which always carries a [`Code`]. Errors that
//! arise before execution (parse, validation, limits) get theirs in
//! [`super::extension`]. Anything that still reaches the client without a
//! code is unexpected: it is logged in full and replaced by an `INTERNAL`
//! error whose message says nothing about internals.

use async_graphql::{ErrorExtensionValues, ServerError};

/// `extensions.code` values, exactly as `contract/CONTRACT.md` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A value is malformed or out of range (`extensions.field` names it).
    BadUserInput,
    /// No, unknown, expired or revoked session token.
    Unauthenticated,
    /// No such id visible to this session.
    NotFound,
    /// The operation does not apply to the object's current status.
    InvalidState,
    /// The offer can no longer be priced or booked.
    OfferExpired,
    /// The provider's price differs from the one the client saw.
    PriceChanged,
    /// The same idempotency key was used with a different request.
    IdempotencyKeyReused,
    /// An upstream failed.
    ProviderUnavailable,
    /// An upstream did not answer in time.
    ProviderTimeout,
    /// Too many requests (`extensions.retryAfterSeconds`).
    RateLimited,
    /// Depth, complexity, alias or size limits exceeded.
    QueryTooComplex,
    /// Anything else.
    Internal,
}

impl Code {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidState => "INVALID_STATE",
            Self::OfferExpired => "OFFER_EXPIRED",
            Self::PriceChanged => "PRICE_CHANGED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Self::ProviderTimeout => "PROVIDER_TIMEOUT",
            Self::RateLimited => "RATE_LIMITED",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::Internal => "INTERNAL",
        }
    }

    /// Every code, for metrics and tests.
    pub const ALL: [Code; 12] = [
        Self::BadUserInput,
        Self::Unauthenticated,
        Self::NotFound,
        Self::InvalidState,
        Self::OfferExpired,
        Self::PriceChanged,
        Self::IdempotencyKeyReused,
        Self::ProviderUnavailable,
        Self::ProviderTimeout,
        Self::RateLimited,
        Self::QueryTooComplex,
        Self::Internal,
    ];

    /// The code named by a wire value.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// The message every unexpected failure shows the client.
pub const INTERNAL_MESSAGE: &str = "Something went wrong on our side. It has been logged; please try again.";

/// An error a resolver returns: a code, a message meant for the client, and
/// any extra `extensions` entries.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: Code,
    message: String,
    extensions: Vec<(String, async_graphql::Value)>,
}

impl ApiError {
    /// An error with `code` and a client-facing `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), extensions: Vec::new() }
    }

    /// `BAD_USER_INPUT` naming the input path in `extensions.field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::BadUserInput, message).with("field", field)
    }

    /// `UNAUTHENTICATED`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    /// `INTERNAL`: logs `cause` in full and tells the client nothing about it.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %cause, cause_chain = %cause_chain(cause), "internal error");
        Self::new(Code::Internal, INTERNAL_MESSAGE)
    }

    /// Adds an `extensions` entry.
    pub fn with(mut self, key: &str, value: impl Into<async_graphql::Value>) -> Self {
        self.extensions.push((key.to_owned(), value.into()));
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", error.code.as_str());
        for (key, value) in error.extensions {
            extensions.set(key, value);
        }
        async_graphql::Error { message: error.message, source: None, extensions: Some(extensions) }
    }
}

/// Every `source()` of an error, joined, for logs.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// The code an error already carries.
pub fn code_of(error: &ServerError) -> Option<Code> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Code::parse(code),
        _ => None,
    }
}

/// Sets `extensions.code` on an error, keeping its other extensions.
pub fn set_code(error: &mut ServerError, code: Code) {
    error.extensions.get_or_insert_with(ErrorExtensionValues::default).set("code", code.as_str());
}

/// A server error with a code, for failures before execution.
pub fn request_error(code: Code, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, code);
    error
}

/// Gives every error in `errors` a contract code: unexpected ones become a
/// masked `INTERNAL` after being logged.
pub fn enforce_codes(errors: &mut [ServerError]) {
    for error in errors {
        if code_of(error).is_some() {
            continue;
        }
        if error.path.is_empty() || is_argument_error(&error.message) {
            // Before execution, async-graphql's own messages (unknown field,
            // bad variable) describe the client's document: keep them.
            set_code(error, classify_request_error(&error.message));
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "unexpected resolver error");
            error.message = INTERNAL_MESSAGE.to_owned();
            error.extensions = None;
            set_code(error, Code::Internal);
        }
    }
}

/// async-graphql's messages for an argument that could not be coerced at
/// execution time: the client's value, not our failure. That includes a
/// required variable the request left out of `variables`: async-graphql does
/// not check that before execution and reports it from the resolver as
/// "Variable x is not defined." (found by `fuzz/` target `graphql_request`).
fn is_argument_error(message: &str) -> bool {
    message.starts_with("Failed to parse")
        || message.starts_with("Invalid value for argument")
        || (message.starts_with("Variable ") && message.ends_with(" is not defined."))
}

/// Limits exceeded → `QUERY_TOO_COMPLEX`; any other pre-execution failure is
/// the client's document → `BAD_USER_INPUT`.
pub fn classify_request_error(message: &str) -> Code {
    const LIMIT_MESSAGES: [&str; 4] =
        ["nested too deep", "too complex", "recursion depth", "number of directives on the field"];
    if LIMIT_MESSAGES.iter().any(|m| message.contains(m)) { Code::QueryTooComplex } else { Code::BadUserInput }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncoded_execution_errors_are_masked_as_internal() {
        let mut errors = vec![
            ServerError::new("connection refused to 10.0.0.7:5432", None)
                .with_path(vec![async_graphql::PathSegment::Field("session".to_owned())]),
            ServerError::new("Unknown field \"sesion\" on type \"Query\".", None),
            ServerError::new("Query is nested too deep.", None),
            request_error(Code::NotFound, "No such booking."),
        ];
        enforce_codes(&mut errors);
        assert_eq!(errors[0].message, INTERNAL_MESSAGE);
        assert_eq!(code_of(&errors[0]), Some(Code::Internal));
        assert_eq!(code_of(&errors[1]), Some(Code::BadUserInput));
        assert!(errors[1].message.contains("sesion"), "the client's own mistake is explained");
        assert_eq!(code_of(&errors[2]), Some(Code::QueryTooComplex));
        assert_eq!(code_of(&errors[3]), Some(Code::NotFound));
    }

    #[test]
    fn a_required_variable_left_out_is_the_clients_mistake() {
        // What async-graphql reports for `mutation($upTo: ID!) { markNotificationsRead(upTo: $upTo) }`
        // sent without `variables` (fuzz/artifacts crash-189638fe…).
        let mut errors = vec![
            ServerError::new("Variable upTo is not defined.", None)
                .with_path(vec![async_graphql::PathSegment::Field("markNotificationsRead".to_owned())]),
        ];
        enforce_codes(&mut errors);
        assert_eq!(code_of(&errors[0]), Some(Code::BadUserInput));
        assert_eq!(errors[0].message, "Variable upTo is not defined.");
    }

    #[test]
    fn api_errors_carry_their_code_and_field() {
        let error: async_graphql::Error = ApiError::bad_input("input.adults", "1 to 9 adults").into();
        let extensions = error.extensions.expect("extensions");
        assert_eq!(extensions.get("code"), Some(&async_graphql::Value::from("BAD_USER_INPUT")));
        assert_eq!(extensions.get("field"), Some(&async_graphql::Value::from("input.adults")));
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
    }
}
