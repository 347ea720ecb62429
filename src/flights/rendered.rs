//! Resolved pages of offers: `searchFlights { offers { … } }` kept per page
//! and request shape, then reused.
//!
//! A cached search answers the same ranked page ([`super::FlightService::ranked`])
//! to every request until the answer expires, and most clients send the
//! same document with the same variables. [`OfferPage`] is the `offers`
//! field: it writes the page as JSON text ([`super::selection`],
//! [`Prerendered`]) and keeps the text for the page, request shape
//! ([`RequestKey`]: operation, variables and document text, compared in
//! full) and field position; the next identical request answers with the
//! text, which the response writer splices in. Keeping costs a map entry
//! (the text is shared, not copied), so a page is kept from its first ask.
//! Nothing in an offer depends on the caller (no session, clock or locale
//! is read below `offers`), and a page resolved with errors is not kept.
//! The kept values are few and bounded ([`RenderedPages`]), held beside a
//! weak reference to their page, so a kept value never outlives its page
//! nor answers for another.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerError, ServerResult, Value};

use super::aggregator::RankedOffers;
use super::resolvers::FlightOfferObject;
use crate::graphql::policy::RequestKey;
use crate::graphql::prerendered::Prerendered;

/// `SearchResult.offers`: a ranked page, resolved as `[FlightOffer!]!`.
#[derive(Debug, Clone)]
pub struct OfferPage {
    page: Arc<RankedOffers>,
    rendered: Arc<RenderedPages>,
}

impl OfferPage {
    /// `page`, its resolved values kept in `rendered`.
    pub fn new(page: Arc<RankedOffers>, rendered: Arc<RenderedPages>) -> Self {
        Self { page, rendered }
    }
}

impl OutputType for OfferPage {
    fn type_name() -> Cow<'static, str> {
        <Vec<FlightOfferObject> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<FlightOfferObject> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<FlightOfferObject> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let key = ctx.data_opt::<RequestKey>().map(|request| RenderKey {
            page: Arc::as_ptr(&self.page).addr(),
            line: field.pos.line,
            column: field.pos.column,
            request: request.clone(),
        });
        let kept = key.as_ref().and_then(|key| self.rendered.get(key, &self.page));
        let text = match kept {
            Some(text) => text,
            None => {
                let errors_before = error_count(ctx);
                let text = super::selection::resolve_page(ctx, field, &self.page).await?;
                if let Some(key) = key
                    && error_count(ctx) == errors_before
                {
                    // The text is shared, not copied: keeping it costs a map entry.
                    self.rendered.insert(key, &self.page, text.clone());
                }
                text
            }
        };
        if super::selection::key_is_unique(ctx) {
            Ok(text.to_value())
        } else {
            // async-graphql merges this value with another of the same key.
            text.to_tree()
                .map_err(|e| ServerError::new(format!("could not read a written page back: {e}"), Some(field.pos)))
        }
    }
}

fn error_count(ctx: &ContextSelectionSet<'_>) -> usize {
    ctx.query_env.errors.lock().map_or(usize::MAX, |errors| errors.len())
}

/// Which page, which request, which `offers` field in its document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RenderKey {
    page: usize,
    line: usize,
    column: usize,
    request: RequestKey,
}

#[derive(Debug)]
struct Rendered {
    /// Keeps the page's allocation, so its address is not reused while kept.
    page: Weak<RankedOffers>,
    value: Prerendered,
}

/// Resolved pages, bounded: two generations of at most
/// [`RenderedPages::GENERATION_ENTRIES`] (a 20-offer page with carriers and
/// airports is ≈ 25 KiB of JSON); a full generation becomes the old one, a
/// hit in the old one moves up.
#[derive(Debug, Default)]
pub struct RenderedPages {
    generations: Mutex<(HashMap<RenderKey, Rendered>, HashMap<RenderKey, Rendered>)>,
}

impl RenderedPages {
    /// Most resolved pages per generation.
    pub const GENERATION_ENTRIES: usize = 32;

    fn get(&self, key: &RenderKey, page: &Arc<RankedOffers>) -> Option<Prerendered> {
        let mut generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (current, previous) = &mut *generations;
        let kept = |kept: &Rendered| {
            kept.page.upgrade().is_some_and(|kept| Arc::ptr_eq(&kept, page)).then(|| kept.value.clone())
        };
        if let Some(found) = current.get(key) {
            return kept(found);
        }
        let (key, found) = previous.remove_entry(key)?;
        let answer = kept(&found);
        if answer.is_some() {
            Self::push(current, previous, key, found);
        }
        answer
    }

    fn insert(&self, key: RenderKey, page: &Arc<RankedOffers>, value: Prerendered) {
        let mut generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (current, previous) = &mut *generations;
        Self::push(current, previous, key, Rendered { page: Arc::downgrade(page), value });
    }

    fn push(
        current: &mut HashMap<RenderKey, Rendered>,
        previous: &mut HashMap<RenderKey, Rendered>,
        key: RenderKey,
        kept: Rendered,
    ) {
        if current.len() >= Self::GENERATION_ENTRIES && !current.contains_key(&key) {
            *previous = std::mem::take(current);
        }
        current.insert(key, kept);
    }

    /// Resolved pages kept.
    pub fn len(&self) -> usize {
        let generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        generations.0.len() + generations.1.len()
    }

    /// Forgets every kept page, so the next ask writes its page again (the
    /// search bench measures that first write).
    pub fn clear(&self) {
        let mut generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        generations.0.clear();
        generations.1.clear();
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
