//! The request policy every operation passes through, HTTP and WebSocket alike.
//!
//! [`RequestPolicy`] runs an operation on the schema: before execution it
//! refuses documents over the token, alias, depth and directive limits
//! (async-graphql has no such limits) and counts the operation's root fields
//! against the caller's rate limits ([`super::rate_limit`]); after, it gives
//! every error its contract code, masks unexpected ones, names the operation
//! in the request's span, and records the operation's latency and error codes.
//!
//! It wraps `Schema::execute` instead of being an async-graphql extension on
//! purpose: with any extension registered, async-graphql sends every field of
//! every response through `Extensions::resolve` (a registry lookup, a boxed
//! future and, for each list item, two type-name strings), which a policy
//! with no per-field work would pay on the ≈ 1,200 fields of a 20-offer
//! search. The document is parsed here once and handed to the schema parsed;
//! recently seen documents are kept parsed ([`DocumentCache`]): clients send
//! the same few operations over and over, and async-graphql's parser is the
//! larger part of a small operation's cost (≈ 7 % of the server's CPU in
//! an uncached search, more in a cached one).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Request, Response, ServerError};
use futures_util::StreamExt as _;
use futures_util::stream::{self, BoxStream};

use super::context::RequestAuth;
use super::errors::{Code, code_of, enforce_codes, request_error};
use super::rate_limit::{ClientAddr, OperationCost, RateLimiter};
use super::{AppSchema, Schemas};
use crate::generations::{Bounds, Generations};
use crate::telemetry::metrics::{operation_label, record_errors, record_operation};
use crate::telemetry::performance::PerformanceWindow;

/// The document limits that async-graphql does not enforce itself.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    /// Most lexical tokens.
    pub max_tokens: usize,
    /// Most aliases in the selected operation.
    pub max_aliases: usize,
    /// Most directives in the selected operation.
    pub max_directives: usize,
    /// Deepest field nesting in the selected operation, introspection
    /// (`__schema`, `__type`) not counted: the standard introspection query
    /// that GraphiQL and code generators send is 13 levels deep, and its
    /// shape is bounded by the schema, not by the client (GraphQL Armor's
    /// `ignoreIntrospection`). Tokens and complexity still bound it.
    pub max_depth: usize,
}

/// Who sent an operation: the budgets it is counted against.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The live session it authenticated with, if any.
    pub session: Option<String>,
    /// Its client address.
    pub client: ClientAddr,
}

impl Caller {
    /// The caller behind `auth`, from `client`.
    pub fn of(auth: &RequestAuth, client: ClientAddr) -> Self {
        let session = match auth {
            RequestAuth::Session(session) => Some(session.session.id.0.clone()),
            _ => None,
        };
        Self { session, client }
    }
}

/// What makes two requests the same: operation name, variables and document
/// text, compared in full (so no two different requests can collide). Put in
/// every admitted request's data, for resolvers that keep what they
/// resolved per request shape ([`crate::flights::rendered`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey(Arc<str>);

impl RequestKey {
    /// The key of `request`.
    pub fn of(request: &Request) -> Self {
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let operation = request.operation_name.as_deref().unwrap_or("");
        Self(format!("{operation}\u{0}{variables}\u{0}{}", request.query).into())
    }
}

/// Runs operations on the schema under the document limits and rate limits,
/// recording each into the metrics and `performance`.
#[derive(Debug, Clone)]
pub struct RequestPolicy {
    limits: DocumentLimits,
    performance: Arc<PerformanceWindow>,
    rate_limiter: Option<Arc<RateLimiter>>,
    documents: Arc<DocumentCache>,
    validated: Arc<ValidatedRequests>,
}

/// Requests (operation, variables and document, as [`RequestKey`]) that
/// passed the full validation, bounded like [`DocumentCache`]: two
/// generations of [`ValidatedRequests::GENERATION_ENTRIES`] keys and
/// [`ValidatedRequests::GENERATION_BYTES`] of key text. Validation is a pure
/// function of the request and the schema, so the same request validates
/// the same way again: [`RequestPolicy::execute`] sends a known one to the
/// schema that skips the rules (async-graphql's strict validation is
/// ≈ 8 % of a cached search, and it has no way to skip it per request).
#[derive(Debug)]
pub struct ValidatedRequests {
    generations: Mutex<Generations<RequestKey, ()>>,
}

impl Default for ValidatedRequests {
    fn default() -> Self {
        let bounds = Bounds { entries: Self::GENERATION_ENTRIES, bytes: Self::GENERATION_BYTES };
        Self { generations: Mutex::new(Generations::new(bounds, |key: &RequestKey| key.0.len())) }
    }
}

impl ValidatedRequests {
    /// Most keys per generation.
    pub const GENERATION_ENTRIES: usize = 1_024;
    /// Most key text per generation.
    pub const GENERATION_BYTES: usize = 1024 * 1024;

    /// Whether `key` validated before (a hit in the old generation moves up).
    pub fn contains(&self, key: &RequestKey) -> bool {
        lock(&self.generations).get(key).is_some()
    }

    /// Remembers that `key` validated.
    pub fn insert(&self, key: RequestKey) {
        if key.0.len() <= DocumentCache::MAX_DOCUMENT_BYTES {
            lock(&self.generations).insert(key, ());
        }
    }

    /// Keys kept, in both generations.
    pub fn len(&self) -> usize {
        lock(&self.generations).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parsed documents by their text, bounded: two generations of at most
/// [`DocumentCache::GENERATION_ENTRIES`] documents and
/// [`DocumentCache::GENERATION_BYTES`] of text each. What a client sends
/// often stays; a flood of distinct documents only costs each its own
/// parse. Only documents that parsed are kept.
#[derive(Debug)]
pub struct DocumentCache {
    generations: Mutex<Generations<String, ExecutableDocument>>,
}

impl Default for DocumentCache {
    fn default() -> Self {
        let bounds = Bounds { entries: Self::GENERATION_ENTRIES, bytes: Self::GENERATION_BYTES };
        Self { generations: Mutex::new(Generations::new(bounds, |text: &String| text.len())) }
    }
}

impl DocumentCache {
    /// Most documents per generation.
    pub const GENERATION_ENTRIES: usize = 128;
    /// Most document text per generation (the parsed tree is ≈ 10–20 × it).
    pub const GENERATION_BYTES: usize = 256 * 1024;
    /// Longest document kept (the introspection query is ≈ 2 KiB).
    pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

    /// The parsed `query`, if it is kept.
    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        lock(&self.generations).get(query).cloned()
    }

    /// Keeps `document`, the parse of `query`.
    pub fn insert(&self, query: String, document: &ExecutableDocument) {
        if query.len() > Self::MAX_DOCUMENT_BYTES {
            return;
        }
        lock(&self.generations).insert(query, document.clone());
    }

    /// Documents kept, in both generations.
    pub fn len(&self) -> usize {
        lock(&self.generations).len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The operation a request selected, once its document parsed.
#[derive(Debug, Clone, Default)]
struct OperationInfo {
    kind: Option<OperationType>,
    name: Option<String>,
}

impl OperationInfo {
    fn kind_label(&self) -> &'static str {
        match self.kind {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "invalid",
        }
    }
}

impl RequestPolicy {
    /// A policy with these limits, recording into `performance`, counting
    /// operations in `rate_limiter` when given.
    pub fn new(
        limits: DocumentLimits,
        performance: Arc<PerformanceWindow>,
        rate_limiter: Option<Arc<RateLimiter>>,
    ) -> Self {
        Self { limits, performance, rate_limiter, documents: Arc::default(), validated: Arc::default() }
    }

    /// The requests it has seen pass the full validation.
    pub fn validated(&self) -> &ValidatedRequests {
        &self.validated
    }

    /// Runs a query or mutation: on the fast-validating schema when the very
    /// same request validated before ([`ValidatedRequests`]).
    pub async fn execute(&self, schemas: &Schemas, mut request: Request, caller: &Caller) -> Response {
        let started = Instant::now();
        let mut info = OperationInfo::default();
        let mut response = match self.admit(&mut request, caller, &mut info).await {
            Ok(key) if self.validated.contains(&key) => schemas.fast.execute(request).await,
            Ok(key) => {
                let response = schemas.strict.execute(request).await;
                // Validation errors are the ones without a path; a
                // resolver's error (a path) means validation passed.
                if response.errors.iter().all(|error| !error.path.is_empty()) {
                    self.validated.insert(key);
                }
                response
            }
            Err(error) => Response::from_errors(vec![error]),
        };
        enforce_codes(&mut response.errors);
        let label = operation_label(info.name.as_deref());
        let elapsed = started.elapsed();
        record_operation(info.kind_label(), &label, elapsed, &codes(&response.errors));
        if info.kind.is_some() {
            self.performance.record(&format!("{}:{label}", info.kind_label()), elapsed);
        }
        response
    }

    /// Runs a subscription (or, over a WebSocket, any operation): the
    /// admission first, then the schema's stream, every response coded.
    pub fn execute_stream(
        &self,
        schema: AppSchema,
        mut request: Request,
        caller: Caller,
    ) -> BoxStream<'static, Response> {
        let policy = self.clone();
        stream::once(async move {
            let mut info = OperationInfo::default();
            // Boxed: the admission's state (a rate-limit round trip) is freed
            // once it is done, not kept for the subscription's lifetime in
            // the stream's own allocation (≈ 7 KiB per subscriber).
            let admitted = Box::pin(policy.admit(&mut request, &caller, &mut info)).await;
            match admitted {
                Ok(_) => schema.execute_stream(request),
                Err(error) => stream::once(async move { Response::from_errors(vec![error]) }).boxed(),
            }
        })
        .flatten()
        .map(|mut response| {
            enforce_codes(&mut response.errors);
            record_errors(&codes(&response.errors));
            response
        })
        .boxed()
    }

    /// Checks `request` before it runs — token limit, parse (the document
    /// stays in the request, so the schema does not parse it again), alias,
    /// depth and directive limits — and draws it from the caller's budgets.
    async fn admit(
        &self,
        request: &mut Request,
        caller: &Caller,
        info: &mut OperationInfo,
    ) -> Result<RequestKey, ServerError> {
        let tokens = count_tokens(&request.query, self.limits.max_tokens);
        if tokens > self.limits.max_tokens {
            return Err(request_error(
                Code::QueryTooComplex,
                format!("The document has more than {} tokens.", self.limits.max_tokens),
            ));
        }
        let requested = request.operation_name.clone();
        match self.documents.get(&request.query) {
            Some(document) => request.set_parsed_query(document),
            // A syntax error is the client's: `enforce_codes` gives it its code.
            None => self.documents.insert(request.query.clone(), request.parsed_query()?),
        }
        let document = request.parsed_query()?;
        let cost = match select_operation(document, requested.as_deref()) {
            Some((kind, name, operation)) => {
                let span = tracing::Span::current();
                span.record("graphql.operation", name.as_deref().unwrap_or("anonymous"));
                span.record("graphql.type", format!("{kind}"));
                info.kind = Some(kind);
                info.name = name;
                let counts = count_selection(document, &operation.selection_set.node);
                let directives = counts.directives + operation.directives.len();
                if counts.aliases > self.limits.max_aliases {
                    return Err(request_error(
                        Code::QueryTooComplex,
                        format!("Aliases limit of {} exceeded, found {}.", self.limits.max_aliases, counts.aliases),
                    ));
                }
                if selection_depth(document, &operation.selection_set.node, &mut Vec::new()) > self.limits.max_depth {
                    return Err(request_error(Code::QueryTooComplex, "Query is nested too deep."));
                }
                if directives > self.limits.max_directives {
                    return Err(request_error(
                        Code::QueryTooComplex,
                        format!("Directives limit of {} exceeded, found {directives}.", self.limits.max_directives),
                    ));
                }
                root_cost(document, &operation.selection_set.node)
            }
            // No operation to run (validation will say why): still one request.
            None => OperationCost { fields: 1, ..OperationCost::default() },
        };
        self.count(caller, cost).await?;
        let key = RequestKey::of(request);
        request.data.insert(key.clone());
        Ok(key)
    }

    /// Draws `cost` from the caller's budgets: its session's (when it sent
    /// a live one) and its client address's.
    async fn count(&self, caller: &Caller, cost: OperationCost) -> Result<(), ServerError> {
        let Some(limiter) = &self.rate_limiter else {
            return Ok(());
        };
        limiter.admit(caller.session.as_deref(), caller.client, cost).await.map_err(|refusal| {
            let seconds = refusal.retry_after_seconds();
            metrics::counter!("wayfarer_rate_limited_total").increment(1);
            let mut error = request_error(Code::RateLimited, format!("Too many requests: retry in {seconds} s."));
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("retryAfterSeconds", async_graphql::Value::from(seconds));
            error
        })
    }
}

fn codes(errors: &[ServerError]) -> Vec<&'static str> {
    errors.iter().map(|e| code_of(e).unwrap_or(Code::Internal).as_str()).collect()
}

/// The operation a request runs: by name, or the only one.
pub(crate) fn select_operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, Option<String>, &'d OperationDefinition)> {
    match &document.operations {
        DocumentOperations::Single(op) => Some((op.node.ty, None, &op.node)),
        DocumentOperations::Multiple(ops) => {
            let (op_name, op) = match name {
                Some(name) => ops.iter().find(|(n, _)| n.as_str() == name)?,
                None if ops.len() == 1 => ops.iter().next()?,
                None => return None,
            };
            Some((op.node.ty, Some(op_name.to_string()), &op.node))
        }
    }
}

/// How deeply fields nest in `set` (a field is one level; fragments add
/// none), skipping introspection subtrees; a fragment already on the path (a
/// cycle, reported by validation) adds nothing.
fn selection_depth<'d>(document: &'d ExecutableDocument, set: &'d SelectionSet, path: &mut Vec<&'d str>) -> usize {
    let mut deepest = 0;
    for item in &set.items {
        let depth = match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if name == "__schema" || name == "__type" {
                    1
                } else {
                    1 + selection_depth(document, &field.node.selection_set.node, path)
                }
            }
            Selection::InlineFragment(fragment) => selection_depth(document, &fragment.node.selection_set.node, path),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if !path.contains(&name) => {
                        path.push(name);
                        let depth = selection_depth(document, &fragment.node.selection_set.node, path);
                        path.pop();
                        depth
                    }
                    _ => 0,
                }
            }
        };
        deepest = deepest.max(depth);
    }
    deepest
}

/// The root fields an operation runs, through fragments at the root.
/// Aliases each count. Every occurrence counts, even of identical fields
/// that execution would merge into one: over-counting a client that repeats
/// itself is harmless, under-counting an alias batch is not.
fn root_cost(document: &ExecutableDocument, root: &SelectionSet) -> OperationCost {
    let mut cost = OperationCost::default();
    let mut stack: Vec<(&SelectionSet, usize)> = vec![(root, 0)];
    // Spreads can fan out exponentially before validation refuses a cycle;
    // this bounds the walk (the token limit already bounds a real document).
    let mut budget = 10_000usize;
    while let Some((set, depth)) = stack.pop() {
        for item in &set.items {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return cost;
            }
            match &item.node {
                Selection::Field(field) => cost.add(field.node.name.node.as_str()),
                Selection::InlineFragment(fragment) => stack.push((&fragment.node.selection_set.node, depth + 1)),
                // A fragment cycle is a validation error; the depth bound only
                // keeps the count finite until validation reports it.
                Selection::FragmentSpread(spread) if depth < 16 => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                        stack.push((&fragment.node.selection_set.node, depth + 1));
                    }
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    cost
}

#[derive(Debug, Default)]
struct SelectionCounts {
    aliases: usize,
    directives: usize,
}

/// Aliases and directives in a selection, following fragment spreads (each
/// fragment counted once; cycles are a validation error reported later).
fn count_selection(document: &ExecutableDocument, root: &SelectionSet) -> SelectionCounts {
    let mut counts = SelectionCounts::default();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&SelectionSet> = vec![root];
    while let Some(set) = stack.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        counts.aliases += 1;
                    }
                    counts.directives += field.node.directives.len();
                    stack.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    counts.directives += fragment.node.directives.len();
                    stack.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    counts.directives += spread.node.directives.len();
                    let name = spread.node.fragment_name.node.as_str();
                    if visited.insert(name)
                        && let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        counts.directives += fragment.node.directives.len();
                        stack.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    counts
}

/// Counts GraphQL lexical tokens (punctuators, names, numbers, strings),
/// stopping once past `limit` so a huge document costs little.
pub fn count_tokens(source: &str, limit: usize) -> usize {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= limit {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if bytes.get(i..i + 3) == Some(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() {
                        if bytes.get(i..i + 4) == Some(b"\\\"\"\"") {
                            i += 4;
                        } else if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                            i += 3;
                            break;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'.' if bytes.get(i..i + 3) == Some(b"...") => {
                tokens += 1;
                i += 3;
            }
            c if c.is_ascii_digit() || c == b'-' => {
                // A number: digits, sign, fraction and exponent.
                tokens += 1;
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                    && bytes.get(i..i + 3) != Some(b"...")
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                tokens += 1;
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn validated_requests_are_kept_in_two_bounded_generations() {
        let validated = ValidatedRequests::default();
        let key = |i: usize| RequestKey(format!("\u{0}{{}}\u{0}{{ f{i} }}").into());
        validated.insert(key(0));
        assert!(validated.contains(&key(0)));
        assert!(!validated.contains(&key(1)));
        for i in 1..=ValidatedRequests::GENERATION_ENTRIES {
            validated.insert(key(i));
        }
        assert_eq!(validated.len(), ValidatedRequests::GENERATION_ENTRIES + 1);
        assert!(validated.contains(&key(0)), "in the old generation, and moved up");
        for i in 0..2 * ValidatedRequests::GENERATION_ENTRIES {
            validated.insert(key(10_000 + i));
        }
        assert!(!validated.contains(&key(1)), "two rotations later, forgotten");
        assert!(validated.len() <= 2 * ValidatedRequests::GENERATION_ENTRIES);
        let huge = RequestKey("x".repeat(DocumentCache::MAX_DOCUMENT_BYTES + 1).into());
        validated.insert(huge.clone());
        assert!(!validated.contains(&huge), "over-long requests are not kept");
    }

    #[test]
    fn parsed_documents_are_kept_in_two_bounded_generations() {
        let cache = DocumentCache::default();
        let first = "{ __typename }".to_owned();
        cache.insert(first.clone(), &parse(&first));
        let kept = cache.get(&first).expect("kept");
        assert!(matches!(kept.operations, DocumentOperations::Single(_)));
        assert!(cache.get("{ other }").is_none());
        // Filling a generation moves the first document to the old one...
        for i in 1..DocumentCache::GENERATION_ENTRIES {
            let query = format!("{{ f{i} }}");
            cache.insert(query.clone(), &parse(&query));
        }
        let query = "{ pushes }".to_owned();
        cache.insert(query.clone(), &parse(&query));
        assert_eq!(cache.len(), DocumentCache::GENERATION_ENTRIES + 1);
        // ...where a hit moves it up again, so it outlives the next rotation.
        assert!(cache.get(&first).is_some());
        for i in 0..DocumentCache::GENERATION_ENTRIES - 2 {
            let query = format!("{{ g{i} }}");
            cache.insert(query.clone(), &parse(&query));
        }
        assert!(cache.get(&first).is_some(), "used recently, so still kept");
        assert!(cache.get("{ f1 }").is_some(), "one generation back");
        for i in 0..2 * DocumentCache::GENERATION_ENTRIES {
            let query = format!("{{ h{i} }}");
            cache.insert(query.clone(), &parse(&query));
        }
        assert!(cache.get("{ f2 }").is_none(), "two generations back: dropped");
        assert!(cache.len() <= 2 * DocumentCache::GENERATION_ENTRIES, "bounded");
    }

    #[test]
    fn long_documents_are_not_kept_and_text_bounds_a_generation() {
        let cache = DocumentCache::default();
        let long = format!("{{ {} }}", "a ".repeat(DocumentCache::MAX_DOCUMENT_BYTES));
        cache.insert(long.clone(), &parse(&long));
        assert!(cache.is_empty());
        let field = "x".repeat(DocumentCache::MAX_DOCUMENT_BYTES - 10);
        for i in 0..40 {
            let query = format!("{{ {field}{i} }}");
            cache.insert(query.clone(), &parse(&query));
        }
        let per_generation = DocumentCache::GENERATION_BYTES / (DocumentCache::MAX_DOCUMENT_BYTES - 4);
        assert!(cache.len() <= 2 * per_generation, "{} documents kept", cache.len());
    }

    #[test]
    fn tokens_are_counted_like_a_lexer() {
        assert_eq!(count_tokens("{ __typename }", 100), 3);
        assert_eq!(count_tokens("query Q($a: Int = -1.5e3) { f(a: $a) @skip(if: false) }", 100), 26);
        assert_eq!(count_tokens("# comment only\n", 100), 0);
        assert_eq!(count_tokens("{ f(s: \"a \\\" b\", t: \"\"\"x \"\" y\"\"\") }", 100), 11);
        assert_eq!(count_tokens("{ ...F }", 100), 4);
        assert_eq!(count_tokens(&"{ a ".repeat(10_000), 50), 51);
    }

    #[test]
    fn aliases_and_directives_follow_fragments_once() {
        let doc = async_graphql::parser::parse_query(
            "query { a: x @d ...F ...F } fragment F on Q { b: y c: z @d @e ... on Q { d: w } }",
        )
        .expect("parses");
        let (_, _, op) = select_operation(&doc, None).expect("one operation");
        let counts = count_selection(&doc, &op.selection_set.node);
        assert_eq!(counts.aliases, 4);
        assert_eq!(counts.directives, 3);
    }

    #[test]
    fn root_fields_count_through_aliases_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "mutation { a: startSession { token } b: startSession { token } ...M ... on Mutation { payForBooking(input: {}) { id } } } \
             fragment M on Mutation { createBooking(input: {}) { id } startSession { token } }",
        )
        .expect("parses");
        let (_, _, op) = select_operation(&doc, None).expect("one operation");
        let cost = root_cost(&doc, &op.selection_set.node);
        assert_eq!(cost, OperationCost { fields: 5, start_session: 3, create_booking: 1, pay_for_booking: 1 });
    }
}
