//! The in-memory session store of the zero-config default run.
//!
//! Sessions vanish with the process. Expiry follows the injected clock, and
//! expired entries are swept as new ones arrive so memory stays bounded by the
//! number of live sessions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Session, SessionStore, SessionStoreError, TokenHash};
use crate::clock::SharedClock;

/// How many inserts pass between sweeps of expired entries.
const SWEEP_EVERY: usize = 1024;

#[derive(Debug)]
struct Entry {
    session: Session,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<TokenHash, Entry>,
    inserts_since_sweep: usize,
}

/// Sessions in a process-local map.
#[derive(Debug)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
    clock: SharedClock,
}

impl MemorySessionStore {
    /// An empty store that reads time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self { inner: Mutex::new(Inner::default()), clock }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every operation is a single insert/remove), so keep serving.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn deadline(&self, ttl: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1))
    }

    /// Live sessions held (for tests and status).
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.lock().entries.values().filter(|e| e.expires_at > now).count()
    }

    /// Whether no live session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<(), SessionStoreError> {
        let expires_at = self.deadline(ttl);
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.inserts_since_sweep += 1;
        if inner.inserts_since_sweep >= SWEEP_EVERY {
            inner.inserts_since_sweep = 0;
            inner.entries.retain(|_, e| e.expires_at > now);
        }
        inner.entries.insert(key.clone(), Entry { session: session.clone(), expires_at });
        Ok(())
    }

    async fn touch(&self, key: &TokenHash, ttl: Duration) -> Result<Option<Session>, SessionStoreError> {
        let now = self.clock.now();
        let expires_at = self.deadline(ttl);
        let mut inner = self.lock();
        match inner.entries.get_mut(key) {
            Some(entry) if entry.expires_at > now => {
                entry.expires_at = expires_at;
                Ok(Some(entry.session.clone()))
            }
            Some(_) => {
                inner.entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn update(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<bool, SessionStoreError> {
        let now = self.clock.now();
        let expires_at = self.deadline(ttl);
        let mut inner = self.lock();
        match inner.entries.get_mut(key) {
            Some(entry) if entry.expires_at > now => {
                *entry = Entry { session: session.clone(), expires_at };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove(&self, key: &TokenHash) -> Result<bool, SessionStoreError> {
        let now = self.clock.now();
        Ok(self.lock().entries.remove(key).is_some_and(|e| e.expires_at > now))
    }

    async fn ping(&self) -> Result<Duration, SessionStoreError> {
        let started = Instant::now();
        drop(self.lock());
        Ok(started.elapsed())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
