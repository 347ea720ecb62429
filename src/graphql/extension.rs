//! The request policy every operation passes through, HTTP and WebSocket alike.
//!
//! One extension instance per request: it refuses documents over the token,
//! alias and directive limits before and right after parsing (async-graphql
//! has no such limits), counts the operation's root fields against the
//! caller's rate limits ([`super::rate_limit`]), gives every pre-execution
//! error its contract code, masks unexpected ones, names the operation in the request's span, and
//! records the operation's latency and error codes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

use super::context::RequestAuth;
use super::errors::{Code, classify_request_error, code_of, enforce_codes, request_error, set_code};
use super::rate_limit::{ClientAddr, OperationCost, RateLimiter};
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

/// Creates the per-request [`RequestPolicy`].
#[derive(Debug, Clone)]
pub struct RequestPolicyFactory {
    limits: DocumentLimits,
    performance: Arc<PerformanceWindow>,
    rate_limiter: Option<Arc<RateLimiter>>,
}

impl RequestPolicyFactory {
    /// A factory recording into `performance`, counting operations in
    /// `rate_limiter` when given.
    pub fn new(
        limits: DocumentLimits,
        performance: Arc<PerformanceWindow>,
        rate_limiter: Option<Arc<RateLimiter>>,
    ) -> Self {
        Self { limits, performance, rate_limiter }
    }
}

impl ExtensionFactory for RequestPolicyFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestPolicy {
            limits: self.limits,
            performance: self.performance.clone(),
            rate_limiter: self.rate_limiter.clone(),
            operation: Mutex::new(OperationInfo::default()),
        })
    }
}

#[derive(Debug, Clone, Default)]
struct OperationInfo {
    requested_name: Option<String>,
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

struct RequestPolicy {
    limits: DocumentLimits,
    performance: Arc<PerformanceWindow>,
    rate_limiter: Option<Arc<RateLimiter>>,
    operation: Mutex<OperationInfo>,
}

impl RequestPolicy {
    /// Draws `cost` from the caller's budgets: its session's (when it sent
    /// a live one) and its client address's.
    async fn count(&self, ctx: &ExtensionContext<'_>, cost: OperationCost) -> ServerResult<()> {
        let Some(limiter) = &self.rate_limiter else {
            return Ok(());
        };
        let session = match ctx.data_opt::<RequestAuth>() {
            Some(RequestAuth::Session(session)) => Some(session.session.id.0.as_str()),
            _ => None,
        };
        let client = ctx.data_opt::<ClientAddr>().copied().unwrap_or(ClientAddr(None));
        limiter.admit(session, client, cost).await.map_err(|refusal| {
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

    fn info(&self) -> std::sync::MutexGuard<'_, OperationInfo> {
        self.operation.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn codes(errors: &[ServerError]) -> Vec<&'static str> {
    errors.iter().map(|e| code_of(e).unwrap_or(Code::Internal).as_str()).collect()
}

#[async_trait::async_trait]
impl Extension for RequestPolicy {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        enforce_codes(&mut response.errors);
        let info = self.info().clone();
        let label = operation_label(info.name.as_deref());
        let elapsed = started.elapsed();
        record_operation(info.kind_label(), &label, elapsed, &codes(&response.errors));
        if info.kind.is_some() {
            self.performance.record(&format!("{}:{label}", info.kind_label()), elapsed);
        }
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                enforce_codes(&mut response.errors);
                record_errors(&codes(&response.errors));
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.info().requested_name = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let tokens = count_tokens(query, self.limits.max_tokens);
        if tokens > self.limits.max_tokens {
            return Err(request_error(
                Code::QueryTooComplex,
                format!("The document has more than {} tokens.", self.limits.max_tokens),
            ));
        }
        let document = next.run(ctx, query, variables).await.map_err(|mut error| {
            if code_of(&error).is_none() {
                let code = classify_request_error(&error.message);
                set_code(&mut error, code);
            }
            error
        })?;
        let requested = self.info().requested_name.clone();
        if let Some((kind, name, operation)) = select_operation(&document, requested.as_deref()) {
            let span = tracing::Span::current();
            span.record("graphql.operation", name.as_deref().unwrap_or("anonymous"));
            span.record("graphql.type", format!("{kind}"));
            let counts = count_selection(&document, &operation.selection_set.node);
            {
                let mut info = self.info();
                info.kind = Some(kind);
                info.name = name;
            }
            let directives = counts.directives + operation.directives.len();
            if counts.aliases > self.limits.max_aliases {
                return Err(request_error(
                    Code::QueryTooComplex,
                    format!("Aliases limit of {} exceeded, found {}.", self.limits.max_aliases, counts.aliases),
                ));
            }
            if selection_depth(&document, &operation.selection_set.node, &mut Vec::new()) > self.limits.max_depth {
                return Err(request_error(Code::QueryTooComplex, "Query is nested too deep."));
            }
            if directives > self.limits.max_directives {
                return Err(request_error(
                    Code::QueryTooComplex,
                    format!("Directives limit of {} exceeded, found {directives}.", self.limits.max_directives),
                ));
            }
            self.count(ctx, root_cost(&document, &operation.selection_set.node)).await?;
        } else {
            // No operation to run (validation will say why): still one request.
            self.count(ctx, OperationCost { fields: 1, ..OperationCost::default() }).await?;
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for error in &mut errors {
                if code_of(error).is_none() {
                    let code = classify_request_error(&error.message);
                    set_code(error, code);
                }
            }
            errors
        })
    }
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
