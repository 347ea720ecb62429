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
//!
//! [`serve`] is the accept loop. It is hyper-util's connection builder with a
//! timer rather than `axum::serve`, which sets none, so hyper's header-read
//! timeout never fires there and a slowloris client holds its connection
//! forever. Here headers must arrive within `server.header_read_timeout`
//! (hyper then closes the connection), a slow body is bounded by the request
//! timeout (408), and graceful shutdown stops accepting, lets each
//! connection finish its in-flight request, and waits for them.

mod assets;
pub mod graphql;
mod ops;
mod pages;
mod webhooks;
pub mod ws;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{ServiceBuilder, ServiceExt as _};
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

/// Serves `router` on `listener` until `shutdown` is cancelled, then waits
/// for the open connections to finish their in-flight requests (upgraded
/// WebSockets are tracked by their own handler, not here). Each request
/// carries [`ConnectInfo`] with the peer address. An HTTP/2 connection
/// carries at most `http2_streams` requests at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    http2_streams: u32,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: keep serving the others, without spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request.map(axum::body::Body::new)
        });
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
            builder.http2().timer(TokioTimer::new()).enable_connect_protocol().max_concurrent_streams(http2_streams);
            let connection =
                builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                result = connection.as_mut() => Some(result),
                () = shutdown.cancelled() => None,
            };
            let result = match finished {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // Header timeouts, resets and malformed requests end here.
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
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
