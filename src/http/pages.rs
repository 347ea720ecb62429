//! The HTML pages: `/playground` (GraphiQL) and `/` (the chat demo).
//!
//! Their assets are built from `playground/`; until they are, both pages say
//! how to build them and point at the API, so the server is usable without them.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::graphql::errors::Code;
use crate::http::graphql::{MediaType, error_response};

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wayfarer</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}code{background:#f2f2f2;padding:.1rem .3rem}</style>
</head><body>
<h1>Wayfarer</h1>
<p>The GraphQL API is at <code>POST /graphql</code> (and WebSocket, subprotocol <code>graphql-transport-ws</code>, on the same path).</p>
<p>The playground and chat pages are not built into this server yet. Build them with
<code>npm ci &amp;&amp; npm run build</code> in <code>playground/</code>, then restart the server.</p>
<p>Ops: <a href="/api/health">/api/health</a> · <a href="/api/status">/api/status</a> ·
<a href="/api/metrics">/api/metrics</a> · <a href="/api/performance">/api/performance</a></p>
</body></html>"#;

/// `GET /playground`.
pub(super) async fn playground() -> Response {
    Html(NOT_BUILT).into_response()
}

/// `GET /`.
pub(super) async fn index() -> Response {
    Html(NOT_BUILT).into_response()
}

/// Anything unrouted.
pub(super) async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, MediaType::Json, Code::NotFound, "No such endpoint.")
}
