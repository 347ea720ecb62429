//! Understood messages, cached beside the sessions: in Redis when it is
//! configured (so every instance shares them), in this process otherwise.
//!
//! The key is a digest of everything the understanding depends on — the
//! normalised text, the language prior, the locale, the reference date and
//! the question pending — so a cached answer is exactly what the extractor
//! would say again. It is a cache, not a record: a Redis failure is logged
//! and the extractor simply runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::model::Extraction;
use crate::redis_pool::RedisPool;

/// Most entries the in-memory cache holds; past it, expired ones are swept
/// and, if still full, the whole cache is dropped (it refills from use).
const MEMORY_CAPACITY: usize = 50_000;

/// Extraction results by key.
#[async_trait]
pub trait ExtractionCache: Send + Sync + std::fmt::Debug {
    /// A live entry.
    async fn get(&self, key: &str) -> Option<Extraction>;
    /// Keeps an entry for `ttl`.
    async fn put(&self, key: &str, extraction: &Extraction, ttl: Duration);
}

/// The cache key for a message in its context.
pub fn cache_key(normalised_text: &str, context_parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    digest.update(normalised_text.as_bytes());
    for part in context_parts {
        // A separator no part contains keeps ("ab","c") and ("a","bc") apart.
        digest.update([0u8]);
        digest.update(part.as_bytes());
    }
    hex::encode(digest.finalize())
}

/// Extractions in this process.
#[derive(Debug, Default)]
pub struct MemoryExtractionCache {
    entries: Mutex<HashMap<String, (Instant, Duration, Extraction)>>,
}

#[async_trait]
impl ExtractionCache for MemoryExtractionCache {
    async fn get(&self, key: &str) -> Option<Extraction> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(key).filter(|(at, ttl, _)| at.elapsed() < *ttl).map(|(_, _, e)| e.clone())
    }

    async fn put(&self, key: &str, extraction: &Extraction, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MEMORY_CAPACITY {
            entries.retain(|_, (at, ttl, _)| at.elapsed() < *ttl);
            if entries.len() >= MEMORY_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (Instant::now(), ttl, extraction.clone()));
    }
}

/// Extractions in Redis under `<prefix>:nlp:<key>`.
#[derive(Debug, Clone)]
pub struct RedisExtractionCache {
    redis: RedisPool,
}

impl RedisExtractionCache {
    /// A cache over the shared pool.
    pub fn new(redis: RedisPool) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl ExtractionCache for RedisExtractionCache {
    async fn get(&self, key: &str) -> Option<Extraction> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis.key(&format!("nlp:{key}")));
        match self.redis.query::<Option<String>>(&cmd).await {
            Ok(json) => serde_json::from_str(&json?).ok(),
            Err(error) => {
                tracing::warn!(%error, "extraction cache unavailable; extracting");
                None
            }
        }
    }

    async fn put(&self, key: &str, extraction: &Extraction, ttl: Duration) {
        let Ok(json) = serde_json::to_string(extraction) else { return };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis.key(&format!("nlp:{key}")))
            .arg(json)
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        if let Err(error) = self.redis.query::<()>(&cmd).await {
            tracing::warn!(%error, "could not cache an extraction");
        }
    }
}
