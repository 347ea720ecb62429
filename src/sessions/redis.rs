//! The Redis session store: one JSON string per session under
//! `<prefix>:session:<sha256(token)>`, expiring by Redis TTL.
//!
//! `GETEX … EX ttl` reads and slides the TTL in one round trip, so an
//! authenticated request costs a single command.

use std::time::Duration;

use async_trait::async_trait;

use super::{Session, SessionStore, SessionStoreError, TokenHash};
use crate::redis_pool::RedisPool;

/// Sessions in Redis.
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: RedisPool,
}

impl RedisSessionStore {
    /// A store over the shared pool.
    pub fn new(redis: RedisPool) -> Self {
        Self { redis }
    }

    fn key(&self, key: &TokenHash) -> String {
        self.redis.key(&format!("session:{}", key.as_str()))
    }
}

fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn insert(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<(), SessionStoreError> {
        let json = serde_json::to_string(session)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(json).arg("EX").arg(ttl_secs(ttl));
        let _: () = self.redis.query(&cmd).await?;
        Ok(())
    }

    async fn touch(&self, key: &TokenHash, ttl: Duration) -> Result<Option<Session>, SessionStoreError> {
        let mut cmd = redis::cmd("GETEX");
        cmd.arg(self.key(key)).arg("EX").arg(ttl_secs(ttl));
        let json: Option<String> = self.redis.query(&cmd).await?;
        match json {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    async fn update(&self, key: &TokenHash, session: &Session, ttl: Duration) -> Result<bool, SessionStoreError> {
        let json = serde_json::to_string(session)?;
        // XX: never resurrect a session that expired or was ended meanwhile.
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(json).arg("EX").arg(ttl_secs(ttl)).arg("XX");
        let reply: Option<String> = self.redis.query(&cmd).await?;
        Ok(reply.is_some())
    }

    async fn remove(&self, key: &TokenHash) -> Result<bool, SessionStoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        let removed: u64 = self.redis.query(&cmd).await?;
        Ok(removed > 0)
    }

    async fn ping(&self) -> Result<Duration, SessionStoreError> {
        Ok(self.redis.ping().await?)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
