//! GraphQL edge of health: the `serviceStatus` query and subscription.
//!
//! The subscription starts with this instance's current snapshot, then
//! carries every snapshot published on the bus — from every instance sharing
//! it, which is how a client sees the whole deployment.

use async_graphql::{Context, Object, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt as _};

use super::{ComponentStatus, HealthChecker, HealthStatus, StatusSnapshot};
use crate::events::{BusEvent, EventBus, Topic};
use crate::graphql::context::{service, session};
use crate::graphql::errors::ApiError;
use crate::graphql::scalars::DateTime;

/// Health of the service as one instance sees it.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "ServiceStatus")]
pub struct ServiceStatusObject {
    /// Worst of the components.
    pub status: HealthStatus,
    /// When the snapshot was taken.
    pub at: DateTime,
    /// Wayfarer version.
    pub version: String,
    /// Seconds since the reporting instance started.
    pub uptime_seconds: u64,
    /// Id of the reporting instance.
    pub instance: String,
    /// Each component.
    pub components: Vec<ComponentStatusObject>,
}

/// One component's health.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "ComponentStatus")]
pub struct ComponentStatusObject {
    /// `store`, `sessions`, `eventBus`, …
    pub name: String,
    /// Its state.
    pub status: HealthStatus,
    /// Round trip of the check in milliseconds, when it reached the component.
    pub latency_ms: Option<f64>,
    /// Backend and, when not OK, what is wrong.
    pub detail: Option<String>,
}

impl From<&StatusSnapshot> for ServiceStatusObject {
    fn from(s: &StatusSnapshot) -> Self {
        Self {
            status: s.status,
            at: s.at.into(),
            version: s.version.clone(),
            uptime_seconds: s.uptime_seconds,
            instance: s.instance.clone(),
            components: s.components.iter().map(ComponentStatusObject::from).collect(),
        }
    }
}

impl From<&ComponentStatus> for ComponentStatusObject {
    fn from(c: &ComponentStatus) -> Self {
        Self { name: c.name.clone(), status: c.status, latency_ms: c.latency_ms, detail: c.detail.clone() }
    }
}

/// Health queries.
#[derive(Debug, Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// The current health of this instance's components.
    async fn service_status(&self, ctx: &Context<'_>) -> Result<ServiceStatusObject, ApiError> {
        session(ctx)?;
        let checker = service::<HealthChecker>(ctx)?;
        Ok((&checker.snapshot().await).into())
    }
}

/// Health subscriptions.
#[derive(Debug, Default)]
pub struct HealthSubscription;

#[Subscription]
impl HealthSubscription {
    /// This instance's snapshot now, then every instance's periodic snapshots.
    async fn service_status(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = ServiceStatusObject> + use<>, ApiError> {
        session(ctx)?;
        let checker = service::<HealthChecker>(ctx)?.clone();
        let bus = service::<std::sync::Arc<dyn EventBus>>(ctx)?.clone();
        // Subscribe before taking the first snapshot so nothing published in
        // between is lost.
        let updates = bus.subscribe(&Topic::service_status()).filter_map(|event| async move {
            match &*event {
                BusEvent::ServiceStatus(snapshot) => Some(ServiceStatusObject::from(snapshot)),
                _ => None,
            }
        });
        let first = futures_util::stream::once(async move { ServiceStatusObject::from(&checker.snapshot().await) });
        Ok(first.chain(updates))
    }
}
