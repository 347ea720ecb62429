//! The axum router: `/graphql` (POST, GET, WebSocket), the ops endpoints under
//! `/api`, the payment webhooks at `/webhooks/payments`, the playground and
//! the chat page with their embedded files under `/assets/`, and the layer
//! stack around them.
//!
//! Layers, outermost first: a request id is set (or kept from the client) →
//! the trace span opens with it → the id is echoed on the response → HTTP
//! metrics are counted → CORS → the request timeout (408) → the body limit
//! (413). The timeout wraps only the HTTP exchange: an upgraded WebSocket
//! lives on in its own task.

mod assets;
pub mod graphql;
mod ops;
mod pages;
mod webhooks;
pub mod ws;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let settings = state.settings().clone();
    let allowed = settings.server.allowed_origins.clone();
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT, REQUEST_ID])
        .expose_headers([REQUEST_ID])
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, parts| {
            let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok());
            origin.to_str().is_ok_and(|o| ws::origin_allowed(o, host, &allowed))
        }));

    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post).fallback(graphql::method_not_allowed))
        .route("/api/health", get(ops::health))
        .route("/api/status", get(ops::status))
        .route("/api/metrics", get(ops::metrics))
        .route("/api/performance", get(ops::performance))
        .route(crate::app::WEBHOOK_PATH, post(webhooks::payments))
        .route("/playground", get(pages::playground))
        .route("/", get(pages::index))
        .route("/assets/{*path}", get(pages::asset))
        .fallback(pages::not_found)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                        graphql.operation = tracing::field::Empty,
                        graphql.type = tracing::field::Empty,
                    )
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(count_requests))
                .layer(cors)
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    settings.server.request_timeout,
                ))
                .layer(DefaultBodyLimit::max(settings.server.body_limit)),
        )
        .with_state(state)
}

async fn count_requests(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [("route", route), ("method", method), ("status", response.status().as_u16().to_string())];
    metrics::counter!("wayfarer_http_requests_total", &labels).increment(1);
    metrics::histogram!("wayfarer_http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}
