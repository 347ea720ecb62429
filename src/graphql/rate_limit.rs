//! Operation budgets: who may run how many root fields per window.
//!
//! Counting happens in the GraphQL layer ([`super::policy`]), once the
//! document is parsed, because HTTP request counting misses aliases and
//! batches: every root field of the selected operation counts once against
//! the caller's session and client IP, and `startSession`, `createBooking`
//! and `payForBooking` also count against their own, stricter budgets.
//!
//! Windows are fixed: a bucket's window opens at its first hit and lasts
//! `rate_limits.window`; a refused caller is told when it ends. A refused
//! operation consumes nothing, so a client that waits `retryAfterSeconds`
//! gets in. Without Redis the counters are in-process, in a sharded map so
//! concurrent requests do not queue on one lock. With Redis they are shared
//! by every instance: one Lua script checks every bucket of an operation and
//! only then increments them all, atomically.
//!
//! When Redis fails, the limiter falls back to its in-process counters (and
//! skips Redis for a second before trying again) rather than failing open or
//! closed. Failing closed would turn a Redis blip into refusing every
//! operation, `{ __typename }` health probes included; failing open would
//! leave `startSession` and `payForBooking` unbounded exactly while the
//! system is degraded. Local counters keep every budget per instance, so N
//! instances admit at most N times the budget until Redis is back.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName};

use crate::config::RateLimitSettings;
use crate::redis_pool::RedisPool;

/// Shards of the in-process counters: enough that two cores never meet on one.
const SHARDS: usize = 64;
/// A shard holding this many buckets drops the expired ones before adding another.
const PRUNE_AT: usize = 4096;
/// How long Redis is skipped after it failed.
const REDIS_BACKOFF: Duration = Duration::from_secs(1);

/// Checks every bucket (KEYS) before incrementing any: ARGV[1] is the window
/// in ms, then a (cost, limit) pair per key. Returns `{0, 0}` when admitted,
/// else `{index of the full bucket (1-based), its remaining ms}`. A key
/// without an expiry (written by something else) is given one, so no bucket
/// can stay full forever.
const ADMIT_SCRIPT: &str = r"
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local cost = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  local used = tonumber(redis.call('GET', key) or '0')
  if used + cost > limit then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    return {i, ttl}
  end
end
for i, key in ipairs(KEYS) do
  local cost = tonumber(ARGV[2 * i])
  local used = redis.call('INCRBY', key, cost)
  if used == cost or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, window)
  end
end
return {0, 0}
";

/// The client address an operation is counted under (none when the server
/// cannot know it, e.g. a request not from a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

/// What one operation costs: its root fields, and how many of them are
/// the sensitive mutations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCost {
    /// Every root field (aliases each count).
    pub fields: u32,
    /// `startSession` fields.
    pub start_session: u32,
    /// `createBooking` fields.
    pub create_booking: u32,
    /// `payForBooking` fields.
    pub pay_for_booking: u32,
}

impl OperationCost {
    /// Adds one root field named `name`.
    pub fn add(&mut self, name: &str) {
        self.fields = self.fields.saturating_add(1);
        let sensitive = match name {
            "startSession" => &mut self.start_session,
            "createBooking" => &mut self.create_booking,
            "payForBooking" => &mut self.pay_for_booking,
            _ => return,
        };
        *sensitive = sensitive.saturating_add(1);
    }
}

/// An operation the budgets refuse, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Until the full bucket's window ends.
    pub retry_after: Duration,
}

impl Refusal {
    /// Whole seconds to wait, rounded up, at least 1 (what `Retry-After` and
    /// `extensions.retryAfterSeconds` say).
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1).try_into().unwrap_or(u64::MAX)
    }
}

/// One bucket an operation draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Draw {
    key: String,
    cost: u32,
    limit: u32,
}

/// The budgets, with their counters.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    local: LocalCounters,
    redis: Option<RedisCounters>,
}

impl RateLimiter {
    /// Budgets from `settings`, counted in Redis when `redis` is given.
    pub fn new(settings: &RateLimitSettings, redis: Option<RedisPool>) -> Self {
        Self {
            settings: settings.clone(),
            local: LocalCounters::new(),
            redis: redis.map(|pool| RedisCounters {
                pool,
                epoch: Instant::now(),
                skip_until_ms: AtomicU64::new(0),
                degraded: AtomicBool::new(false),
            }),
        }
    }

    /// Admits an operation of `cost` by `session` (its id) from `client`, or
    /// says when to retry.
    pub async fn admit(&self, session: Option<&str>, client: ClientAddr, cost: OperationCost) -> Result<(), Refusal> {
        if !self.settings.enabled {
            return Ok(());
        }
        let draws = self.draws(session, client, cost);
        if draws.is_empty() {
            return Ok(());
        }
        if let Some(redis) = &self.redis
            && let Some(result) = redis.admit(&draws, self.settings.window).await
        {
            return result;
        }
        self.local.admit(&draws, self.settings.window, Instant::now())
    }

    fn draws(&self, session: Option<&str>, client: ClientAddr, cost: OperationCost) -> Vec<Draw> {
        let limits = &self.settings;
        let sensitive = [
            ("startSession", cost.start_session, limits.start_session),
            ("createBooking", cost.create_booking, limits.create_booking),
            ("payForBooking", cost.pay_for_booking, limits.pay_for_booking),
        ];
        let mut draws = Vec::with_capacity(2);
        let mut scope = |prefix: String, general: u32| {
            if cost.fields > 0 {
                draws.push(Draw { key: prefix.clone(), cost: cost.fields, limit: general });
            }
            for (name, count, limit) in sensitive {
                if count > 0 {
                    draws.push(Draw { key: format!("{prefix}:{name}"), cost: count, limit });
                }
            }
        };
        if let Some(session) = session {
            scope(format!("s:{session}"), limits.per_session);
        }
        if let Some(ip) = client.0 {
            scope(format!("i:{}", ip_bucket(ip)), limits.per_ip);
        }
        draws
    }
}

/// The per-IP bucket of an address: IPv4 as is, IPv6 by its /64 (one
/// subscriber's allocation; counting single v6 addresses would let a client
/// rotate through 2^64 of them).
fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    used: u32,
    resets_at: Instant,
}

/// In-process counters, sharded by key.
#[derive(Debug)]
struct LocalCounters {
    shards: Vec<Mutex<HashMap<String, Slot>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl LocalCounters {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        // A panic while holding a shard cannot leave a count half-written.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes every draw or none (a refused draw gives the earlier ones back).
    fn admit(&self, draws: &[Draw], window: Duration, now: Instant) -> Result<(), Refusal> {
        for (taken, draw) in draws.iter().enumerate() {
            if let Err(refusal) = self.take(draw, window, now) {
                for earlier in &draws[..taken] {
                    self.give_back(earlier);
                }
                return Err(refusal);
            }
        }
        Ok(())
    }

    fn take(&self, draw: &Draw, window: Duration, now: Instant) -> Result<(), Refusal> {
        let mut shard = self.shard(&draw.key);
        if !shard.contains_key(&draw.key) {
            if shard.len() >= PRUNE_AT {
                shard.retain(|_, slot| slot.resets_at > now);
            }
            shard.insert(draw.key.clone(), Slot { used: 0, resets_at: now + window });
        }
        let Some(slot) = shard.get_mut(&draw.key) else {
            return Ok(());
        };
        if slot.resets_at <= now {
            *slot = Slot { used: 0, resets_at: now + window };
        }
        if u64::from(slot.used) + u64::from(draw.cost) > u64::from(draw.limit) {
            return Err(Refusal { retry_after: slot.resets_at - now });
        }
        slot.used += draw.cost;
        Ok(())
    }

    fn give_back(&self, draw: &Draw) {
        if let Some(slot) = self.shard(&draw.key).get_mut(&draw.key) {
            slot.used = slot.used.saturating_sub(draw.cost);
        }
    }
}

/// Counters shared by every instance.
struct RedisCounters {
    pool: RedisPool,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not tried.
    skip_until_ms: AtomicU64,
    /// Whether the last attempt failed (so the outage is logged once).
    degraded: AtomicBool,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters").field("pool", &self.pool).finish_non_exhaustive()
    }
}

impl RedisCounters {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The verdict, or `None` when Redis could not give one.
    async fn admit(&self, draws: &[Draw], window: Duration) -> Option<Result<(), Refusal>> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ADMIT_SCRIPT).arg(draws.len());
        for draw in draws {
            cmd.arg(self.pool.key(&format!("rl:{}", draw.key)));
        }
        cmd.arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        for draw in draws {
            cmd.arg(draw.cost).arg(draw.limit);
        }
        match self.pool.query::<Vec<i64>>(&cmd).await {
            Ok(answer) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(component = "rateLimits", "rate-limit counters back in Redis");
                }
                Some(match answer.as_slice() {
                    [0, ..] => Ok(()),
                    [_, ttl, ..] => {
                        Err(Refusal { retry_after: Duration::from_millis(u64::try_from(*ttl).unwrap_or(0).max(1)) })
                    }
                    _ => Ok(()),
                })
            }
            Err(error) => {
                metrics::counter!("wayfarer_rate_limit_store_errors_total").increment(1);
                self.skip_until_ms.store(self.now_ms() + REDIS_BACKOFF.as_millis() as u64, Ordering::Relaxed);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        component = "rateLimits",
                        %error,
                        "rate-limit counters unavailable in Redis: counting in this instance until it answers"
                    );
                }
                None
            }
        }
    }
}

/// Finds the client address of a request: the TCP peer, or — only when the
/// peer is a trusted proxy — the last address in the forwarded header that
/// is not itself a trusted proxy.
#[derive(Debug, Clone)]
pub struct ClientAddrResolver {
    trusted: Vec<ipnet::IpNet>,
    header: HeaderName,
}

impl ClientAddrResolver {
    /// From the `rate_limits` settings (already validated; bad entries are skipped).
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            trusted: settings.trusted_networks().unwrap_or_default(),
            header: HeaderName::from_bytes(settings.forwarded_header.as_bytes())
                .unwrap_or(HeaderName::from_static("x-forwarded-for")),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn resolve(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientAddr {
        let Some(peer) = peer.map(|p| p.ip()) else {
            return ClientAddr(None);
        };
        if !self.is_trusted(peer) {
            return ClientAddr(Some(peer));
        }
        // Proxies append, so the rightmost entries are the ones our own
        // proxies wrote; the first untrusted one from the right is the client.
        // Anything left of it was sent by the client and proves nothing.
        let forwarded: Vec<IpAddr> = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| parse_forwarded_ip(entry.trim()))
            .collect();
        let client = forwarded.iter().rev().find(|ip| !self.is_trusted(**ip)).or(forwarded.first()).copied();
        ClientAddr(Some(client.unwrap_or(peer)))
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RateLimitSettings {
        RateLimitSettings { per_session: 5, per_ip: 8, start_session: 2, ..RateLimitSettings::default() }
    }

    fn cost(names: &[&str]) -> OperationCost {
        let mut cost = OperationCost::default();
        for name in names {
            cost.add(name);
        }
        cost
    }

    fn ip(raw: &str) -> ClientAddr {
        ClientAddr(Some(raw.parse().expect("ip")))
    }

    #[tokio::test]
    async fn each_root_field_counts_and_a_refusal_consumes_nothing() {
        let limiter = RateLimiter::new(&settings(), None);
        let client = ip("192.0.2.1");
        assert!(limiter.admit(Some("s1"), client, cost(&["a", "b", "c"])).await.is_ok());
        let refused = limiter.admit(Some("s1"), client, cost(&["a", "b", "c"])).await.expect_err("3 + 3 > 5");
        assert!(refused.retry_after_seconds() >= 1 && refused.retry_after_seconds() <= 60);
        // The refusal took nothing: two more still fit the session's five.
        assert!(limiter.admit(Some("s1"), client, cost(&["a", "b"])).await.is_ok());
        // The IP has used 5 of 8; another session from it gets 3 more.
        assert!(limiter.admit(Some("s2"), client, cost(&["a", "b", "c"])).await.is_ok());
        assert!(limiter.admit(Some("s2"), client, cost(&["a"])).await.is_err(), "the IP's 8 are used");
        assert!(limiter.admit(Some("s2"), ip("192.0.2.2"), cost(&["a"])).await.is_ok());
    }

    #[tokio::test]
    async fn sensitive_fields_have_their_own_budget_and_disabled_admits_all() {
        let limiter = RateLimiter::new(&settings(), None);
        let client = ip("198.51.100.7");
        assert!(limiter.admit(None, client, cost(&["startSession", "startSession"])).await.is_ok());
        assert!(limiter.admit(None, client, cost(&["startSession"])).await.is_err());
        assert!(limiter.admit(None, client, cost(&["health"])).await.is_ok(), "other fields still fit");
        let off = RateLimiter::new(&RateLimitSettings { enabled: false, ..settings() }, None);
        for _ in 0..100 {
            assert!(off.admit(None, client, cost(&["startSession"])).await.is_ok());
        }
    }

    #[test]
    fn windows_reset() {
        let counters = LocalCounters::new();
        let draw = Draw { key: "k".into(), cost: 1, limit: 1 };
        let start = Instant::now();
        let window = Duration::from_secs(10);
        assert!(counters.admit(std::slice::from_ref(&draw), window, start).is_ok());
        let refused = counters.admit(std::slice::from_ref(&draw), window, start + Duration::from_secs(4));
        assert_eq!(refused, Err(Refusal { retry_after: Duration::from_secs(6) }));
        assert!(counters.admit(std::slice::from_ref(&draw), window, start + window).is_ok());
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(ip_bucket("2001:db8:1:2:3:4:5:6".parse().expect("ip")), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket("::ffff:192.0.2.9".parse().expect("ip")), "192.0.2.9");
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.1, 10.0.0.2".parse().expect("header"));
        let peer: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
        let none = ClientAddrResolver::new(&RateLimitSettings::default());
        assert_eq!(none.resolve(Some(peer), &headers), ip("10.0.0.1"), "no trusted proxies: the peer");
        let trusting = ClientAddrResolver::new(&RateLimitSettings {
            trusted_proxies: vec!["10.0.0.0/8".into()],
            ..RateLimitSettings::default()
        });
        assert_eq!(trusting.resolve(Some(peer), &headers), ip("198.51.100.1"), "the client-written entry is ignored");
        let stranger: SocketAddr = "192.0.2.50:4000".parse().expect("addr");
        assert_eq!(
            trusting.resolve(Some(stranger), &headers),
            ip("192.0.2.50"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(trusting.resolve(Some(peer), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(parse_forwarded_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
    }
}
