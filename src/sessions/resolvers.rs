//! GraphQL edge of sessions: `startSession`, `session`, `endSession`.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::{ConversationMessage, Role, Session, SessionInputError, SessionService};
use crate::graphql::context::{service, session};
use crate::graphql::errors::ApiError;
use crate::graphql::scalars::DateTime;

/// A traveller's session.
#[derive(Debug, Clone)]
pub struct SessionObject(pub Session);

/// A traveller's session: preferences and the conversation so far.
#[Object(name = "Session")]
impl SessionObject {
    /// Public id of the session (not a credential).
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }

    /// BCP 47 language tag, e.g. `en` or `pt-BR`.
    async fn locale(&self) -> &str {
        &self.0.locale
    }

    /// IANA time zone in which relative dates are resolved.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// When the session started.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When the session expires unless used again (each use slides it).
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }

    /// The conversation with the agent.
    async fn conversation(&self) -> Conversation {
        Conversation { messages: self.0.conversation.iter().map(Message::from).collect() }
    }
}

/// The messages exchanged in a session.
#[derive(Debug, Clone, SimpleObject)]
pub struct Conversation {
    /// Oldest first.
    pub messages: Vec<Message>,
}

/// One conversation message.
#[derive(Debug, Clone, SimpleObject)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// ISO 639-1 language.
    pub language: String,
    /// When.
    pub at: DateTime,
}

impl From<&ConversationMessage> for Message {
    fn from(m: &ConversationMessage) -> Self {
        Self { role: m.role, text: m.text.clone(), language: m.language.clone(), at: m.at.into() }
    }
}

/// What `startSession` returns.
#[derive(Debug, Clone, SimpleObject)]
pub struct StartSessionPayload {
    /// The bearer token: send it as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// The new session.
    pub session: SessionObject,
}

/// Session queries.
#[derive(Debug, Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The caller's session.
    async fn session(&self, ctx: &Context<'_>) -> Result<SessionObject, ApiError> {
        Ok(SessionObject(session(ctx)?.session.clone()))
    }
}

/// Session mutations.
#[derive(Debug, Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Starts a session; needs no token. `locale` defaults to `en`, `timeZone` to `UTC`.
    async fn start_session(
        &self,
        ctx: &Context<'_>,
        locale: Option<String>,
        time_zone: Option<String>,
    ) -> Result<StartSessionPayload, ApiError> {
        let sessions = service::<SessionService>(ctx)?;
        match sessions.start(locale.as_deref(), time_zone.as_deref()).await {
            Ok(Ok((token, session))) => {
                Ok(StartSessionPayload { token: token.expose().to_owned(), session: SessionObject(session) })
            }
            Ok(Err(error @ SessionInputError::Locale)) => Err(ApiError::bad_input("locale", error.to_string())),
            Ok(Err(error @ SessionInputError::TimeZone)) => Err(ApiError::bad_input("timeZone", error.to_string())),
            Err(error) => Err(ApiError::internal(&error)),
        }
    }

    /// Ends the caller's session at once; the token stops working everywhere.
    async fn end_session(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        let auth = session(ctx)?;
        let sessions = service::<SessionService>(ctx)?;
        sessions.end(auth).await.map_err(|e| ApiError::internal(&e))
    }
}
