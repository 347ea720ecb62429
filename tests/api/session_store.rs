//! The `SessionStore` contract, run against the Redis and the in-memory store.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use wayfarer::clock::{ManualClock, SystemClock};
use wayfarer::config::RedisSettings;
use wayfarer::events::MemoryEventBus;
use wayfarer::redis_pool::RedisPool;
use wayfarer::sessions::{
    AuthError, ConversationMessage, MemorySessionStore, RedisSessionStore, Role, SessionService, SessionStore,
};

use crate::helpers::{redis_url, unique_prefix};

/// How a backend lets time pass beyond a TTL.
enum Time {
    Manual(Arc<ManualClock>),
    Real,
}

impl Time {
    async fn pass(&self, by: Duration) {
        match self {
            Self::Manual(clock) => clock.advance(by),
            Self::Real => tokio::time::sleep(by).await,
        }
    }
}

async fn contract(store: Arc<dyn SessionStore>, time: Time, clock: wayfarer::clock::SharedClock) {
    let ttl = Duration::from_secs(1);
    let service = SessionService::new(store.clone(), Arc::new(MemoryEventBus::new()), clock, ttl);

    // A started session authenticates by its token, and only by it.
    let (token, session) = service.start(Some("fr"), Some("Europe/Paris")).await.expect("store").expect("valid input");
    let auth = service.authenticate(token.expose()).await.expect("authenticates");
    assert_eq!(auth.session.id, session.id);
    assert_eq!(auth.session.locale, "fr");
    let (other, _) = service.start(None, None).await.expect("store").expect("valid");
    assert_ne!(service.authenticate(other.expose()).await.expect("other").session.id, session.id);
    assert!(matches!(service.authenticate("x").await, Err(AuthError::Malformed)));
    let never_issued = "B".repeat(43);
    assert!(matches!(service.authenticate(&never_issued).await, Err(AuthError::Unknown)));

    // Updates persist; an update never resurrects an ended session.
    let mut changed = auth.clone();
    changed.session.conversation.push(ConversationMessage {
        role: Role::User,
        text: "Bonjour".into(),
        language: "fr".into(),
        at: chrono::Utc::now(),
    });
    assert!(service.save(&changed).await.expect("saved"));
    let again = service.authenticate(token.expose()).await.expect("still there");
    assert_eq!(again.session.conversation.len(), 1);
    assert_eq!(again.session.conversation[0].text, "Bonjour");

    // Use slides the TTL: touched at 0.6 s and 1.2 s, it outlives 1 s.
    time.pass(Duration::from_millis(600)).await;
    service.authenticate(other.expose()).await.expect("before expiry");
    time.pass(Duration::from_millis(600)).await;
    service.authenticate(other.expose()).await.expect("slid");

    // Idle past the TTL: gone.
    time.pass(Duration::from_millis(2100)).await;
    assert!(matches!(service.authenticate(token.expose()).await, Err(AuthError::Unknown)));
    assert!(!service.save(&changed).await.expect("store answers"), "no resurrection by update");
    assert!(matches!(service.authenticate(token.expose()).await, Err(AuthError::Unknown)));

    // Ending removes at once.
    let (third, _) = service.start(None, None).await.expect("store").expect("valid");
    let third_auth = service.authenticate(third.expose()).await.expect("live");
    assert!(service.end(&third_auth).await.expect("ended"));
    assert!(matches!(service.authenticate(third.expose()).await, Err(AuthError::Unknown)));
    assert!(!service.end(&third_auth).await.expect("answers"), "second end finds nothing");

    store.ping().await.expect("ping");
}

#[tokio::test]
async fn memory_store_keeps_the_session_store_contract() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let store = Arc::new(MemorySessionStore::new(clock.clone()));
    contract(store, Time::Manual(clock.clone()), clock).await;
}

fn redis_pool(prefix: &str) -> RedisPool {
    let settings = RedisSettings { key_prefix: prefix.to_owned(), ..RedisSettings::default() };
    RedisPool::new(&SecretString::from(redis_url()), &settings).expect("pool")
}

#[tokio::test]
async fn redis_store_keeps_the_session_store_contract() {
    let store = Arc::new(RedisSessionStore::new(redis_pool(&unique_prefix())));
    contract(store, Time::Real, Arc::new(SystemClock)).await;
}

#[tokio::test]
async fn redis_holds_only_token_hashes() {
    let prefix = unique_prefix();
    let pool = redis_pool(&prefix);
    let store = Arc::new(RedisSessionStore::new(pool.clone()));
    let service =
        SessionService::new(store, Arc::new(MemoryEventBus::new()), Arc::new(SystemClock), Duration::from_secs(60));
    let (token, _) = service.start(None, None).await.expect("store").expect("valid");
    let keys: Vec<String> = pool.query(redis::cmd("KEYS").arg(format!("{prefix}:*"))).await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].contains(token.expose()), "the key is not the token");
    assert!(keys[0].ends_with(token.hash().as_str()), "the key is the token's hash");
    let value: String = pool.query(redis::cmd("GET").arg(&keys[0])).await.expect("get");
    assert!(!value.contains(token.expose()), "the record does not hold the token");
    let ttl: i64 = pool.query(redis::cmd("TTL").arg(&keys[0])).await.expect("ttl");
    assert!((1..=60).contains(&ttl), "expires by Redis TTL: {ttl}");
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_instead_of_hanging() {
    // Nothing listens on this port: every call must fail within the configured bounds.
    let settings = RedisSettings {
        connection_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        ..RedisSettings::default()
    };
    let url = format!("redis://127.0.0.1:{}", crate::helpers::free_port());
    let pool = RedisPool::new(&SecretString::from(url), &settings).expect("pool builds lazily");
    let store = RedisSessionStore::new(pool);
    let result = tokio::time::timeout(Duration::from_secs(5), store.ping()).await.expect("bounded");
    assert!(result.is_err());
}
