//! GraphQL over HTTP, to the GraphQL-over-HTTP spec.
//!
//! async-graphql-axum's service answers everything 200 with one media type,
//! runs mutations over GET, executes `text/plain` and form bodies (a CSRF
//! hole), ignores axum's body limit and keeps `"data": null` on request
//! errors. This handler does it properly: it negotiates
//! `application/graphql-response+json` or `application/json` from `Accept`
//! (406 when neither is acceptable), takes POST bodies only as
//! `application/json` (415 otherwise), answers 413 over the body limit,
//! 400 for malformed requests, 405 with `Allow: POST` for a mutation over GET,
//! and 400 without a `data` key for request errors under
//! `application/graphql-response+json`. Every error body has the contract's
//! `extensions.code`. An operation refused by the rate limits is answered
//! 429 (when nothing else ran) with a `Retry-After` header that agrees with
//! `extensions.retryAfterSeconds`; the client address the limits count
//! under is resolved here, from the TCP peer (and a trusted proxy's header).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::graphql::context::RequestAuth;
use crate::graphql::errors::{Code, code_of};
use crate::graphql::policy::Caller;
use crate::graphql::prerendered;
use crate::graphql::rate_limit::ClientAddr;
use crate::sessions::AuthError;

/// The response media types the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes carry meaning.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; 200 for every well-formed request.
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// Picks the response type from `Accept` (highest q first; no header → JSON).
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    if accept.trim().is_empty() {
        return Some(MediaType::Json);
    }
    let mut ranges: Vec<(f32, usize, &str)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, range))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().find_map(|(_, _, range)| match range.to_ascii_lowercase().as_str() {
        "application/graphql-response+json" => Some(MediaType::GraphqlResponseJson),
        "application/json" | "application/*" | "*/*" => Some(MediaType::Json),
        _ => None,
    })
}

/// A JSON error body `{ "errors": [...] }` with the given status.
pub fn error_response(status: StatusCode, media: MediaType, code: Code, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// The TCP peer, when the server was started with connect info.
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// `POST /graphql`.
pub async fn post(
    State(app): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    if !is_json_content_type(&headers) {
        let mut response = error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            Code::BadUserInput,
            "POST bodies must be sent as Content-Type: application/json.",
        );
        response.headers_mut().insert("accept-post", HeaderValue::from_static("application/json"));
        return response;
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = app.settings().server.body_limit;
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                Code::QueryTooComplex,
                &format!("The request body is larger than the limit of {limit} bytes."),
            );
        }
        Err(rejection) => {
            return error_response(StatusCode::BAD_REQUEST, media, Code::BadUserInput, &rejection.body_text());
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                media,
                Code::BadUserInput,
                &format!("The body is not valid JSON: {error}."),
            );
        }
    };
    let auth = authenticate(&app, &headers).await;
    let client = app.client_addrs().resolve(peer.map(|Extension(ConnectInfo(addr))| addr), &headers);
    match value {
        Value::Array(items) => {
            let max = app.settings().graphql.max_batch_size;
            if max <= 1 {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    media,
                    Code::BadUserInput,
                    "Batched requests are not enabled on this server.",
                );
            }
            if items.is_empty() || items.len() > max {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    media,
                    Code::QueryTooComplex,
                    &format!("A batch must hold between 1 and {max} operations."),
                );
            }
            let mut requests = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(map) => match parse_request(&map) {
                        Ok(request) => requests.push(app.request_data(request, auth.clone()).data(client)),
                        Err(message) => {
                            return error_response(StatusCode::BAD_REQUEST, media, Code::BadUserInput, &message);
                        }
                    },
                    _ => {
                        return error_response(
                            StatusCode::BAD_REQUEST,
                            media,
                            Code::BadUserInput,
                            "Each batched operation must be a JSON object.",
                        );
                    }
                }
            }
            // One after another, as async-graphql's own batches run.
            let caller = Caller::of(&auth, client);
            let mut list = Vec::with_capacity(requests.len());
            for request in requests {
                list.push(app.execute(request, &caller).await);
            }
            let bodies: Vec<ResponseBody<'_>> = list.iter().map(ResponseBody::of).collect();
            let body = ResponseBody::batch_json(&bodies);
            let mut extra = HeaderMap::new();
            if let Some(seconds) = list.iter().filter_map(retry_after_seconds).max() {
                extra.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            json_response(StatusCode::OK, media, body, extra)
        }
        Value::Object(map) => match parse_request(&map) {
            Ok(request) => {
                let caller = Caller::of(&auth, client);
                execute(&app, media, app.request_data(request, auth).data(client), &caller).await
            }
            Err(message) => error_response(StatusCode::BAD_REQUEST, media, Code::BadUserInput, &message),
        },
        _ => error_response(
            StatusCode::BAD_REQUEST,
            media,
            Code::BadUserInput,
            "The body must be a JSON object with a `query`.",
        ),
    }
}

/// `GET /graphql`: a WebSocket upgrade, or a query in the URL.
pub async fn get(State(app): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr);
    let client = app.client_addrs().resolve(peer, &parts.headers);
    if super::ws::is_upgrade(&parts.headers) {
        return super::ws::upgrade(app, &mut parts).await;
    }
    let Some(media) = negotiate(&parts.headers) else {
        return not_acceptable();
    };
    let mut map = Map::new();
    for (key, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        let value = match key.as_ref() {
            "variables" | "extensions" => match serde_json::from_str::<Value>(&value) {
                Ok(v) => v,
                Err(_) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        media,
                        Code::BadUserInput,
                        &format!("`{key}` must be a JSON object."),
                    );
                }
            },
            _ => Value::String(value.into_owned()),
        };
        map.insert(key.into_owned(), value);
    }
    let mut request = match parse_request(&map) {
        Ok(request) => request,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, media, Code::BadUserInput, &message);
        }
    };
    if is_mutation_or_subscription(&mut request) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            Code::BadUserInput,
            "Only queries may be sent with GET; send mutations with POST.",
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let auth = authenticate(&app, &parts.headers).await;
    let caller = Caller::of(&auth, client);
    execute(&app, media, app.request_data(request, auth).data(client), &caller).await
}

/// The client address of a request with these parts (the WebSocket upgrade uses it).
pub fn client_of(app: &AppState, parts: &axum::http::request::Parts) -> ClientAddr {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr);
    app.client_addrs().resolve(peer, &parts.headers)
}

/// Any other method on `/graphql`.
pub async fn method_not_allowed() -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        MediaType::Json,
        Code::BadUserInput,
        "Use POST (or GET for queries) on /graphql.",
    );
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        Code::BadUserInput,
        "Accept application/graphql-response+json or application/json.",
    )
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| match param.trim().split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

/// A GraphQL request from its JSON object form (POST body, GET parameters,
/// or a WebSocket `subscribe` payload), checking each parameter's type.
pub fn parse_request(map: &Map<String, Value>) -> Result<async_graphql::Request, String> {
    let query = match map.get("query") {
        Some(Value::String(query)) => query.clone(),
        Some(_) => return Err("`query` must be a string.".to_owned()),
        None => return Err("The request has no `query`.".to_owned()),
    };
    let mut request = async_graphql::Request::new(query);
    match map.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name.clone()),
        Some(_) => return Err("`operationName` must be a string or null.".to_owned()),
    }
    match map.get("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables.clone()));
        }
        Some(_) => return Err("`variables` must be an object or null.".to_owned()),
    }
    match map.get("extensions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extensions)) => {
            for (key, value) in extensions {
                if let Ok(value) = async_graphql::Value::from_json(value.clone()) {
                    request.extensions.insert(key.clone(), value);
                }
            }
        }
        Some(_) => return Err("`extensions` must be an object or null.".to_owned()),
    }
    Ok(request)
}

/// Parses the document (kept in the request, so it is parsed once).
fn is_mutation_or_subscription(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        // Unparseable: execution reports the syntax error.
        return false;
    };
    match crate::graphql::policy::select_operation(document, name.as_deref()) {
        Some((kind, _, _)) => kind != OperationType::Query,
        None => false,
    }
}

/// Resolves the `Authorization` header into a [`RequestAuth`].
pub async fn authenticate(app: &AppState, headers: &HeaderMap) -> RequestAuth {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return RequestAuth::Anonymous;
    };
    match value.to_str().ok().and_then(bearer_token) {
        Some(token) => RequestAuth::from_result(app.sessions().authenticate(token).await),
        None => RequestAuth::from_result(Err(AuthError::Malformed)),
    }
}

/// The token of a `Bearer <token>` credential (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

async fn execute(app: &AppState, media: MediaType, request: async_graphql::Request, caller: &Caller) -> Response {
    let response = app.execute(request, caller).await;
    let body = ResponseBody::of(&response);
    let request_error = body.is_request_error();
    let retry_after = retry_after_seconds(&response);
    let status = match (request_error, retry_after) {
        // Refused before anything ran: the HTTP status says so too, under
        // either media type, so proxies and plain HTTP clients back off.
        (true, Some(_)) if response.errors.iter().all(|e| code_of(e) == Some(Code::RateLimited)) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        (true, _) if media == MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut extra = response.http_headers.clone();
    if let Some(seconds) = retry_after {
        extra.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    json_response(status, media, body.to_json(), extra)
}

/// The longest `extensions.retryAfterSeconds` of a `RATE_LIMITED` error in `response`.
fn retry_after_seconds(response: &async_graphql::Response) -> Option<u64> {
    response
        .errors
        .iter()
        .filter(|e| code_of(e) == Some(Code::RateLimited))
        .filter_map(|e| match e.extensions.as_ref()?.get("retryAfterSeconds")? {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max()
}

/// A response's JSON body, written straight from the response (no
/// intermediate `serde_json::Value` tree: a 20-offer search is ≈ 1,200 of
/// them) by [`prerendered::write_value`], which also splices in values kept
/// as JSON text. A request error — nothing executed — leaves the `data` key
/// out, as the spec asks.
pub struct ResponseBody<'r> {
    data: Option<&'r async_graphql::Value>,
    errors: &'r [async_graphql::ServerError],
    extensions: &'r BTreeMap<String, async_graphql::Value>,
}

impl<'r> ResponseBody<'r> {
    /// The body of `response`.
    pub fn of(response: &'r async_graphql::Response) -> Self {
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        Self {
            data: (!request_error).then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }

    /// Whether it is a request error (nothing executed).
    pub fn is_request_error(&self) -> bool {
        self.data.is_none()
    }

    /// Its errors.
    pub fn errors(&self) -> &'r [async_graphql::ServerError] {
        self.errors
    }

    /// Appends its JSON to `out`: `data`, `errors`, `extensions`, each only
    /// when present.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &[u8]| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(name);
        };
        if let Some(data) = self.data {
            key(out, b"\"data\":");
            prerendered::write_value(out, data);
        }
        if !self.errors.is_empty() {
            key(out, b"\"errors\":");
            prerendered::write_serde(out, self.errors);
        }
        if !self.extensions.is_empty() {
            key(out, b"\"extensions\":");
            prerendered::write_object(out, self.extensions.iter().map(|(name, value)| (name.as_str(), value)));
        }
        out.push(b'}');
    }

    /// As JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// A batch's bodies as one JSON array.
    pub fn batch_json(bodies: &[ResponseBody<'_>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 * bodies.len());
        prerendered::write_list(&mut out, bodies, |out, body| body.write_json(out));
        out
    }
}

fn json_response(status: StatusCode, media: MediaType, body: Vec<u8>, extra: HeaderMap) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in &extra {
        headers.insert(name, value.clone());
    }
    headers.insert(header::CONTENT_TYPE, media.content_type());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn accept_negotiation_follows_quality() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json, application/json;q=0.9")),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(&accept("application/json;q=1, application/graphql-response+json;q=0.5")),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(MediaType::Json));
        assert_eq!(negotiate(&accept("text/html")), None);
        assert_eq!(negotiate(&accept("text/html, application/json;q=0")), None);
    }

    #[test]
    fn bearer_tokens_are_parsed() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
