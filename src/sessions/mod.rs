//! Traveller sessions: the model, opaque bearer tokens, the [`SessionStore`]
//! trait with its Redis and in-memory backends, and the [`SessionService`]
//! that starts, authenticates and ends sessions.
//!
//! A token is 256 random bits, base64url without padding. Stores key sessions
//! by the SHA-256 of the token, never the token itself, so a Redis dump or a
//! memory snapshot holds nothing that authenticates. Sessions expire after an
//! idle TTL that every authenticated use slides forward; `endSession` deletes
//! the record at once and publishes a revocation so open WebSockets close.

mod memory;
mod redis;
pub mod resolvers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::events::{BusEvent, EventBus, Topic};
use crate::redis_pool::RedisError;

pub use self::memory::MemorySessionStore;
pub use self::redis::RedisSessionStore;

/// Random bytes in a token: 256 bits, well above the 128 the contract asks for.
const TOKEN_BYTES: usize = 32;
/// Length of a token's base64url text.
const TOKEN_LEN: usize = 43;

/// A session's public identifier (not a credential).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub String);

impl SessionId {
    fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bearer token as the client holds it. Never logged, never stored.
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(REDACTED)")
    }
}

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks the shape of a token the client sent, before any store lookup.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let well_formed =
            raw.len() == TOKEN_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed { Ok(Self(SecretString::from(raw.to_owned()))) } else { Err(AuthError::Malformed) }
    }

    /// The token text, for the one response that hands it to the client.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The store key derived from this token.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(self.0.expose_secret().as_bytes())))
    }
}

/// SHA-256 of a token, hex: what stores use as the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who wrote a conversation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// The traveller.
    User,
    /// Wayfarer.
    Assistant,
}

/// One message of the conversation kept in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationMessage {
    /// Who wrote it.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// ISO 639-1 language of the text.
    pub language: String,
    /// When it was said.
    pub at: DateTime<Utc>,
}

/// A traveller's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Public id.
    pub id: SessionId,
    /// BCP 47 language tag the client asked for (`en`, `pt-BR`).
    pub locale: String,
    /// IANA time zone for relative dates (`Europe/Lisbon`).
    pub time_zone: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it expires unless used again.
    pub expires_at: DateTime<Utc>,
    /// The conversation so far, oldest first.
    #[serde(default)]
    pub conversation: Vec<ConversationMessage>,
    /// What the agent has understood of the trip so far.
    #[serde(default)]
    pub dialogue: crate::chat::model::DialogueState,
}

/// A failure of a session backend.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// Redis could not be reached or answered badly.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// A stored record could not be decoded.
    #[error("stored session is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Where sessions live. Implementations: [`RedisSessionStore`], [`MemorySessionStore`].
///
/// Every method takes the TTL so the policy stays in [`SessionService`]; a
/// backend only has to expire records that were not touched within it.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new session under `key`.
    async fn insert(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<(), SessionStoreError>;
    /// Fetches a live session and restarts its TTL; `None` when unknown or expired.
    async fn touch(&self, key: &TokenHash, ttl: Duration) -> Result<Option<Session>, SessionStoreError>;
    /// Replaces a live session's record (restarting its TTL); `false` when it is gone.
    async fn update(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<bool, SessionStoreError>;
    /// Deletes a session; `false` when there was none.
    async fn remove(&self, key: &TokenHash) -> Result<bool, SessionStoreError>;
    /// Round-trip time to the backend.
    async fn ping(&self) -> Result<Duration, SessionStoreError>;
    /// `redis` or `memory`.
    fn backend(&self) -> &'static str;
}

/// Why a token did not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header or init payload.
    #[error("this operation needs a session: send `Authorization: Bearer <token>` from startSession")]
    Missing,
    /// Not the shape of a Wayfarer token.
    #[error("the session token is malformed")]
    Malformed,
    /// Never issued, expired, or revoked by endSession.
    #[error("the session is unknown, expired or ended: start a new one")]
    Unknown,
    /// The store could not answer.
    #[error("session store unavailable: {0}")]
    Unavailable(#[from] SessionStoreError),
}

/// Why `startSession` input was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionInputError {
    /// Not a BCP 47 tag.
    #[error("locale must be a BCP 47 language tag such as \"en\" or \"pt-BR\"")]
    Locale,
    /// Not an IANA zone.
    #[error("timeZone must be an IANA time zone such as \"Europe/Lisbon\" or \"UTC\"")]
    TimeZone,
}

/// A session that authenticated, with the key to update it.
#[derive(Debug, Clone)]
pub struct AuthenticatedSession {
    /// The store key.
    pub key: TokenHash,
    /// The session as of this request (TTL already slid).
    pub session: Session,
}

/// Starts, authenticates and ends sessions.
#[derive(Clone, Debug)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    bus: Arc<dyn EventBus>,
    clock: SharedClock,
    idle_ttl: Duration,
}

impl SessionService {
    /// A service over `store` with the given idle TTL.
    pub fn new(store: Arc<dyn SessionStore>, bus: Arc<dyn EventBus>, clock: SharedClock, idle_ttl: Duration) -> Self {
        Self { store, bus, clock, idle_ttl }
    }

    /// The backend, for health checks and status.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// Starts a session; `locale` defaults to `en`, `time_zone` to `UTC`.
    pub async fn start(
        &self,
        locale: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Result<(SessionToken, Session), SessionInputError>, SessionStoreError> {
        let locale = match locale.map(normalise_locale) {
            None => "en".to_owned(),
            Some(Some(l)) => l,
            Some(None) => return Ok(Err(SessionInputError::Locale)),
        };
        let time_zone = match time_zone.map(|tz| tz.parse::<chrono_tz::Tz>()) {
            None => "UTC".to_owned(),
            Some(Ok(tz)) => tz.name().to_owned(),
            Some(Err(_)) => return Ok(Err(SessionInputError::TimeZone)),
        };
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate(),
            locale,
            time_zone,
            created_at: now,
            expires_at: self.expiry_from(now),
            conversation: Vec::new(),
            dialogue: crate::chat::model::DialogueState::default(),
        };
        let token = SessionToken::generate();
        self.store.insert(&token.hash(), &session, self.idle_ttl).await?;
        Ok(Ok((token, session)))
    }

    /// Resolves a raw bearer token to its live session, sliding the TTL.
    pub async fn authenticate(&self, raw_token: &str) -> Result<AuthenticatedSession, AuthError> {
        let token = SessionToken::parse(raw_token)?;
        self.authenticate_key(&token.hash()).await
    }

    /// Re-checks a session already authenticated by its key (a long-lived
    /// socket does this per operation), sliding the TTL.
    pub async fn authenticate_key(&self, key: &TokenHash) -> Result<AuthenticatedSession, AuthError> {
        match self.store.touch(key, self.idle_ttl).await? {
            Some(mut session) => {
                session.expires_at = self.expiry_from(self.clock.now());
                Ok(AuthenticatedSession { key: key.clone(), session })
            }
            None => Err(AuthError::Unknown),
        }
    }

    /// Saves a changed session (conversation, preferences); `false` if it ended meanwhile.
    pub async fn save(&self, auth: &AuthenticatedSession) -> Result<bool, SessionStoreError> {
        self.store.update(&auth.key, &auth.session, self.idle_ttl).await
    }

    /// Ends a session at once and tells every instance to drop its sockets.
    pub async fn end(&self, auth: &AuthenticatedSession) -> Result<bool, SessionStoreError> {
        let removed = self.store.remove(&auth.key).await?;
        let event = BusEvent::SessionEnded { session_id: auth.session.id.0.clone() };
        if let Err(error) = self.bus.publish(&Topic::session_ended(&auth.session.id), &event).await {
            // The record is gone, so the token no longer works anywhere; an open
            // socket on another instance notices at its next operation.
            tracing::warn!(%error, "could not publish session revocation");
        }
        Ok(removed)
    }

    fn expiry_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.idle_ttl).unwrap_or(chrono::Duration::days(1))
    }
}

/// `en`, `pt-br` → `en`, `pt-BR`; `None` when not a BCP 47 shape.
fn normalise_locale(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 35 {
        return None;
    }
    let mut parts = raw.split(['-', '_']);
    let language = parts.next()?;
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = language.to_ascii_lowercase();
    for part in parts {
        if !(1..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        match part.len() {
            2 => out.push_str(&part.to_ascii_uppercase()),
            4 => {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                }
                out.push_str(&chars.as_str().to_ascii_lowercase());
            }
            _ => out.push_str(&part.to_ascii_lowercase()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(SessionToken::parse(a.expose()).is_ok());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_ne!(a.hash().as_str(), a.expose());
        assert_eq!(a.hash().as_str().len(), 64);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for raw in ["", "short", "has space in it and is long enough to be fun!!", &"a".repeat(44)] {
            assert!(matches!(SessionToken::parse(raw), Err(AuthError::Malformed)), "{raw}");
        }
    }

    #[test]
    fn locales_are_normalised_or_refused() {
        assert_eq!(normalise_locale("pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(normalise_locale("EN").as_deref(), Some("en"));
        assert_eq!(normalise_locale("zh_hant_tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(normalise_locale("english!"), None);
        assert_eq!(normalise_locale(""), None);
    }
}
