//! The GraphQL schema: each domain's query, mutation and subscription roots
//! merged into one, with the limits and policies every request passes
//! through. Knows nothing about HTTP; `http` attaches per-request data.

pub mod context;
pub mod errors;
pub mod policy;
pub mod prerendered;
pub mod rate_limit;
pub mod scalars;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder, ValidationMode};

use crate::booking::BookingService;
use crate::booking::resolvers::{BookingMutation, BookingQuery};
use crate::chat::resolvers::ChatMutation;
use crate::chat::service::ChatService;
use crate::clock::SharedClock;
use crate::config::GraphqlSettings;
use crate::events::EventBus;
use crate::flights::FlightService;
use crate::flights::resolvers::{FlightQuery, FlightSubscription};
use crate::health::HealthChecker;
use crate::health::resolvers::{HealthQuery, HealthSubscription};
use crate::notifications::NotificationService;
use crate::notifications::resolvers::{NotificationMutation, NotificationQuery, NotificationSubscription};
use crate::sessions::SessionService;
use crate::sessions::resolvers::{SessionMutation, SessionQuery};
use crate::telemetry::performance::PerformanceWindow;

use self::policy::{DocumentLimits, RequestPolicy};

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(SessionQuery, HealthQuery, FlightQuery, BookingQuery, NotificationQuery);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(SessionMutation, ChatMutation, BookingMutation, NotificationMutation);

/// The root subscription type.
#[derive(MergedSubscription, Default)]
pub struct Subscription(HealthSubscription, FlightSubscription, NotificationSubscription);

/// The application's schema.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The long-lived services resolvers use.
#[derive(Clone, Debug)]
pub struct SchemaServices {
    /// Sessions.
    pub sessions: SessionService,
    /// Health snapshots.
    pub health: HealthChecker,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
    /// Flight search.
    pub flights: FlightService,
    /// The time source ("today" for date rules).
    pub clock: SharedClock,
    /// The conversational agent.
    pub chat: ChatService,
    /// Booking and payment.
    pub bookings: BookingService,
    /// Notifications.
    pub notifications: NotificationService,
    /// Where hosted payment pages send the payer back to.
    pub public_base: crate::booking::resolvers::PublicBase,
}

fn builder(settings: &GraphqlSettings) -> SchemaBuilder<Query, Mutation, Subscription> {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_complexity(settings.max_complexity)
        .limit_directives(settings.max_directives);
    if !settings.introspection {
        // Suggestions leak the schema as surely as introspection does.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// The policy every operation on the schema runs under (limits from
/// `settings`, latency into `performance`, budgets in `rate_limiter`).
pub fn request_policy(
    settings: &GraphqlSettings,
    performance: Arc<PerformanceWindow>,
    rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
) -> RequestPolicy {
    RequestPolicy::new(
        DocumentLimits {
            max_tokens: settings.max_tokens,
            max_aliases: settings.max_aliases,
            max_directives: settings.max_directives,
            max_depth: settings.max_depth,
        },
        performance,
        rate_limiter,
    )
}

/// Builds the schema over the application's services.
pub fn build_schema(settings: &GraphqlSettings, services: SchemaServices) -> AppSchema {
    with_services(builder(settings), services).finish()
}

/// The schema and its twin for requests already validated: the same
/// types and services, async-graphql's `ValidationMode::Fast` (only the
/// rules execution cannot do without). [`RequestPolicy`] sends a request
/// there only when the very same request (operation, variables, document)
/// passed the full validation before, which a validation cannot answer
/// differently the second time.
pub fn build_schemas(settings: &GraphqlSettings, services: SchemaServices) -> Schemas {
    Schemas {
        fast: with_services(builder(settings).validation_mode(ValidationMode::Fast), services.clone()).finish(),
        strict: build_schema(settings, services),
    }
}

/// The schema, validating fully, and its twin for requests validated before ([`build_schemas`]).
#[derive(Clone)]
pub struct Schemas {
    /// Every rule of the GraphQL validation.
    pub strict: AppSchema,
    /// Only the rules execution needs.
    pub fast: AppSchema,
}

fn with_services(
    builder: SchemaBuilder<Query, Mutation, Subscription>,
    services: SchemaServices,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    builder
        .data(services.sessions)
        .data(services.health)
        .data(services.bus)
        .data(services.flights)
        .data(services.clock)
        .data(services.chat)
        .data(services.bookings)
        .data(services.notifications)
        .data(services.public_base)
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder(&GraphqlSettings::default()).finish().sdl()
}
