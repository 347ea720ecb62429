//! The ops endpoints: `/api/health` (liveness and readiness, 503 when a
//! required component is down), `/api/status` (backends, pools, sockets,
//! instances), `/api/metrics` (Prometheus text) and `/api/performance`
//! (per-operation latency over the last minute).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::health::HealthStatus;

/// `GET /api/health`.
pub(super) async fn health(State(app): State<AppState>) -> Response {
    let snapshot = app.health().snapshot().await;
    let ready = snapshot.status != HealthStatus::Down;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": snapshot.status,
        "live": true,
        "ready": ready,
        "instance": snapshot.instance,
        "version": snapshot.version,
        "at": snapshot.at,
        "components": snapshot.components,
    });
    (status, Json(body)).into_response()
}

/// `GET /api/status`.
pub(super) async fn status(State(app): State<AppState>) -> Response {
    let settings = app.settings();
    let live = app.live_counts();
    let since = app.clock().now()
        - chrono::Duration::from_std(settings.status.interval * 3).unwrap_or(chrono::Duration::seconds(15));
    let instances = match app.store().live_instances(since).await {
        Ok(instances) => json!(instances),
        Err(error) => {
            tracing::warn!(%error, "could not list instances");
            serde_json::Value::Null
        }
    };
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "instance": app.health().instance(),
        "uptimeSeconds": app.health().uptime().as_secs(),
        "backends": {
            "sessions": app.sessions().store().backend(),
            "eventBus": app.bus().backend(),
            "store": app.store().engine().name(),
        },
        "redis": app.redis().map(|r| json!({ "url": r.display_url(), "pool": r.stats() })),
        "sql": { "url": app.store().display_url(), "pool": app.store().stats(), "writer": app.store().writer_stats() },
        "websocket": { "connections": live.connections(), "subscriptions": live.subscriptions() },
        "instances": instances,
        "providers": app.flights().aggregator().slots().iter().map(|slot| json!({
            "name": slot.name(),
            "circuit": slot.circuit(),
            "lastLatencyMs": slot.last_latency_ms(),
            "http": slot.http_stats(),
        })).collect::<Vec<_>>(),
        "chat": app.chat().status(),
        "notifications": notification_status(&app).await,
        "features": settings.features,
    });
    Json(body).into_response()
}

/// `GET /api/metrics`.
pub(super) async fn metrics(State(app): State<AppState>) -> Response {
    let live = app.live_counts();
    metrics::gauge!("wayfarer_websocket_connections").set(live.connections() as f64);
    metrics::gauge!("wayfarer_websocket_subscriptions").set(live.subscriptions() as f64);
    let sql = app.store().stats();
    metrics::gauge!("wayfarer_sql_pool_connections", "state" => "open").set(f64::from(sql.size));
    metrics::gauge!("wayfarer_sql_pool_connections", "state" => "idle").set(sql.idle as f64);
    metrics::gauge!("wayfarer_sql_pool_connections", "state" => "max").set(f64::from(sql.max_size));
    if let Some(writer) = app.store().writer_stats() {
        metrics::gauge!("wayfarer_sql_writer_connections", "state" => "open").set(f64::from(writer.size));
        metrics::gauge!("wayfarer_sql_writer_connections", "state" => "idle").set(writer.idle as f64);
    }
    if let Some(redis) = app.redis() {
        let stats = redis.stats();
        metrics::gauge!("wayfarer_redis_pool_connections", "state" => "open").set(stats.size as f64);
        metrics::gauge!("wayfarer_redis_pool_connections", "state" => "idle").set(stats.available as f64);
        metrics::gauge!("wayfarer_redis_pool_connections", "state" => "waiting").set(stats.waiting as f64);
        metrics::gauge!("wayfarer_redis_pool_connections", "state" => "max").set(stats.max_size as f64);
    }
    let body = crate::telemetry::metrics::prometheus().map(|h| h.render()).unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// `GET /api/performance`.
pub(super) async fn performance(State(app): State<AppState>) -> Response {
    Json(app.performance().report()).into_response()
}

/// The notifications worker's figures, with the store's view of the work
/// (`null` fields when the store does not answer).
async fn notification_status(app: &AppState) -> serde_json::Value {
    let store = app.store();
    let pending = store.pending_event_count().await.ok();
    let deliveries = store.delivery_counts().await.ok();
    serde_json::json!({
        "worker": app.notifications().status(),
        "outboxPending": pending,
        "deliveries": deliveries.map(|(pending, sent, dead)| serde_json::json!({
            "pending": pending, "sent": sent, "deadLetters": dead,
        })),
    })
}
