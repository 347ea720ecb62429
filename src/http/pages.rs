//! The HTML pages: `/` (the chat demo), `/playground` (GraphiQL) and their
//! files under `/assets/`, all from the build embedded in the binary
//! ([`super::assets`]), so nothing is ever loaded from another origin.
//!
//! Each page is sent under a Content-Security-Policy that allows this
//! origin only: scripts, styles, fonts, images, and `connect-src 'self'`,
//! which covers both `fetch('/graphql')` and the WebSocket to the same host.
//! GraphiQL's editor (Monaco) writes `<style>` elements at run time and has
//! no nonce support, so `/playground` alone also allows inline styles —
//! never inline scripts. Files are revalidated by ETag (`no-cache` + 304).
//! Every page also refuses framing (`frame-ancestors 'none'` and
//! `X-Frame-Options: DENY`), MIME sniffing, referrers and the powerful
//! browser features it never uses (`Permissions-Policy`), and, when this
//! server's public URL (`payments.public_base_url`) is `https://`, asks
//! browsers to use https only (HSTS) — never over plain http, where the
//! header would pin a name that may not serve TLS at all.
//!
//! When the pages were not built (no npm at build time), both routes answer
//! with a page that says how to build them, and the API works without them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::assets::{self, Asset};
use crate::app::AppState;
use crate::graphql::errors::Code;
use crate::http::graphql::{MediaType, error_response};

/// The policy of the chat page: this origin for everything, nothing inline.
const CHAT_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy of GraphiQL: as the chat's, plus Monaco's web workers, its
/// run-time `<style>` elements, and the fonts and images GraphiQL's
/// stylesheet carries inline as `data:` URLs.
const PLAYGROUND_POLICY: &str = "default-src 'none'; script-src 'self'; worker-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of the "not built" page: its one inline stylesheet and nothing else.
const NOT_BUILT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wayfarer</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}code{background:#f2f2f2;padding:.1rem .3rem}</style>
</head><body>
<h1>Wayfarer</h1>
<p>The GraphQL API is at <code>POST /graphql</code> (and WebSocket, subprotocol <code>graphql-transport-ws</code>, on the same path).</p>
<p>The GraphiQL playground and the chat page are not built into this server.
They are built from <code>playground/</code> with Node 20 and npm: install them and run
<code>cargo run --release</code> again (its build script runs <code>npm ci</code> and
<code>npm run build</code> there), or run <code>npm ci &amp;&amp; npm run build</code> in
<code>playground/</code> yourself and then rebuild the server.</p>
<p>Ops: <a href="/api/health">/api/health</a> · <a href="/api/status">/api/status</a> ·
<a href="/api/metrics">/api/metrics</a> · <a href="/api/performance">/api/performance</a></p>
</body></html>"#;

/// Browser features the pages never use, denied to them and anything they embed.
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()";

/// HSTS for a year, sent only when the public URL is https.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// `GET /playground`.
pub(super) async fn playground(State(app): State<AppState>, headers: HeaderMap) -> Response {
    with_transport_security(page(built("playground.html"), PLAYGROUND_POLICY, &headers), &app)
}

/// `GET /`.
pub(super) async fn index(State(app): State<AppState>, headers: HeaderMap) -> Response {
    with_transport_security(page(built("index.html"), CHAT_POLICY, &headers), &app)
}

fn with_transport_security(mut response: Response, app: &AppState) -> Response {
    if serves_https(app.settings().payments.public_base_url.as_deref()) {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    }
    response
}

/// Whether the server's public URL is https (a TLS-terminating proxy in front).
fn serves_https(public_base_url: Option<&str>) -> bool {
    public_base_url.and_then(|u| url::Url::parse(u).ok()).is_some_and(|u| u.scheme() == "https")
}

/// `GET /assets/{*path}`: a script, stylesheet, font, worker or image of the pages.
pub(super) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match assets::get(&format!("assets/{path}")) {
        Some(asset) => file(asset, None, &headers),
        None => not_found().await,
    }
}

/// Anything unrouted.
pub(super) async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, MediaType::Json, Code::NotFound, "No such endpoint.")
}

/// A page of the build, when both pages were built.
fn built(name: &str) -> Option<Asset> {
    assets::get(name).filter(|_| assets::built())
}

fn page(asset: Option<Asset>, policy: &'static str, headers: &HeaderMap) -> Response {
    match asset {
        Some(asset) => file(asset, Some(policy), headers),
        None => {
            let mut response = Html(NOT_BUILT).into_response();
            protect(&mut response, NOT_BUILT_POLICY);
            response
        }
    }
}

/// The file, or 304 when the client holds this version (`If-None-Match`).
fn file(asset: Asset, policy: Option<&'static str>, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag || tag.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(policy) = policy {
        protect(&mut response, policy);
    }
    response
}

/// The headers every page carries: its CSP, and no framing, sniffing or referrers.
fn protect(response: &mut Response, policy: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    headers.insert(HeaderName::from_static("permissions-policy"), HeaderValue::from_static(PERMISSIONS_POLICY));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_build_the_pages_say_how_to_build_them() {
        let response = page(None, CHAT_POLICY, &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], NOT_BUILT_POLICY);
        assert!(NOT_BUILT.contains("npm ci &amp;&amp; npm run build") && NOT_BUILT.contains("playground/"));
    }

    #[test]
    fn a_page_is_sent_with_its_policy_and_answered_304_when_unchanged() {
        let asset = Asset { bytes: b"<!doctype html>", etag: "\"abc\"", content_type: "text/html; charset=utf-8" };
        let fresh = page(Some(asset), PLAYGROUND_POLICY, &HeaderMap::new());
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::CONTENT_SECURITY_POLICY], PLAYGROUND_POLICY);
        assert_eq!(fresh.headers()[header::ETAG], "\"abc\"");
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", \"abc\""));
        let cached = page(Some(asset), PLAYGROUND_POLICY, &request);
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(cached.headers()[header::CONTENT_SECURITY_POLICY], PLAYGROUND_POLICY);
        assert!(cached.headers()["permissions-policy"].to_str().expect("ascii").contains("camera=()"));
    }

    #[test]
    fn hsts_only_behind_https() {
        assert!(serves_https(Some("https://wayfarer.example")));
        assert!(!serves_https(Some("http://wayfarer.example")));
        assert!(!serves_https(None));
    }
}
