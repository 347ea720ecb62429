//! The Redis pub/sub event bus.
//!
//! Publishing goes through the shared pool (bounded by its timeouts). Receiving
//! uses one dedicated pub/sub connection per instance, owned by a background
//! task that pattern-subscribes to `<prefix>:events:*` and hands each message
//! to the local fan-out. redis-rs ends a pub/sub stream silently when Redis
//! restarts and a half-open TCP peer never ends it at all, so the task pings
//! its connection, and on any failure reconnects with jittered backoff and
//! subscribes again; health reports the gap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use rand::Rng as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BusError, BusEvent, BusHealth, EventBus, EventStream, LocalFanout, Topic};
use crate::redis_pool::RedisPool;

/// How often the subscriber connection proves it is alive.
const LIVENESS_PING: Duration = Duration::from_secs(5);
/// Longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Shared {
    fanout: LocalFanout,
    health: Mutex<BusHealth>,
    connected: tokio::sync::watch::Sender<bool>,
    reconnects: AtomicU64,
}

impl Shared {
    fn set_health(&self, connected: bool, detail: String) {
        *self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = BusHealth { connected, detail };
        self.connected.send_replace(connected);
    }
}

/// Events through Redis pub/sub, shared by every instance on the same Redis.
#[derive(Debug, Clone)]
pub struct RedisEventBus {
    redis: RedisPool,
    shared: Arc<Shared>,
}

impl RedisEventBus {
    /// Starts the subscriber task (tracked, stopped by `shutdown`) and returns the bus.
    pub fn start(redis: RedisPool, shutdown: CancellationToken, tasks: &TaskTracker) -> Self {
        let shared = Arc::new(Shared {
            fanout: LocalFanout::default(),
            health: Mutex::new(BusHealth { connected: false, detail: "connecting".to_owned() }),
            connected: tokio::sync::watch::Sender::new(false),
            reconnects: AtomicU64::new(0),
        });
        tasks.spawn(listen(redis.clone(), shared.clone(), shutdown));
        Self { redis, shared }
    }

    fn channel(&self, topic: &Topic) -> String {
        self.redis.key(&format!("events:{}", topic.as_str()))
    }

    /// Waits until the subscriber connection is up; `false` if not within `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.shared.connected.subscribe();
        matches!(tokio::time::timeout(timeout, connected.wait_for(|c| *c)).await, Ok(Ok(_)))
    }

    /// How many times the subscriber connection was re-established.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, topic: &Topic, event: &BusEvent) -> Result<(), BusError> {
        let payload = serde_json::to_string(event)?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.channel(topic)).arg(payload);
        let _receivers: u64 = self.redis.query(&cmd).await?;
        Ok(())
    }

    fn subscribe(&self, topic: &Topic) -> EventStream {
        self.shared.fanout.subscribe(topic)
    }

    fn health(&self) -> BusHealth {
        self.shared.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

async fn listen(redis: RedisPool, shared: Arc<Shared>, shutdown: CancellationToken) {
    let pattern = redis.key("events:*");
    let prefix = redis.key("events:");
    let mut backoff = Duration::from_millis(100);
    let mut ever_connected = false;
    while !shutdown.is_cancelled() {
        let connect = async {
            let pubsub = tokio::time::timeout(redis.connection_timeout(), redis.client().get_async_pubsub())
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            let (mut sink, stream) = pubsub.split();
            tokio::time::timeout(redis.connection_timeout(), sink.psubscribe(&pattern))
                .await
                .map_err(|_| "subscribe timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((sink, stream))
        };
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return,
            attempt = connect => attempt,
        };
        match attempt {
            Ok((mut sink, mut stream)) => {
                if ever_connected {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("wayfarer_event_bus_reconnects_total").increment(1);
                    tracing::info!(url = redis.display_url(), "event bus resubscribed to Redis");
                }
                ever_connected = true;
                backoff = Duration::from_millis(100);
                shared.set_health(true, format!("subscribed to {pattern}"));
                let mut liveness = tokio::time::interval(LIVENESS_PING);
                liveness.tick().await;
                let reason = loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = stream.next() => match message {
                            Some(message) => dispatch(&shared.fanout, &prefix, &message),
                            None => break "subscription stream ended".to_owned(),
                        },
                        _ = liveness.tick() => {
                            let ping = tokio::time::timeout(redis.connection_timeout(), sink.ping::<redis::Value>());
                            match ping.await {
                                Ok(Ok(_)) => {}
                                Ok(Err(e)) => break format!("liveness ping failed: {e}"),
                                Err(_) => break "liveness ping timed out".to_owned(),
                            }
                        }
                    }
                };
                tracing::warn!(%reason, "event bus lost its Redis subscription; reconnecting");
                shared.set_health(false, format!("reconnecting: {reason}"));
            }
            Err(error) => {
                tracing::debug!(%error, "event bus cannot subscribe to Redis yet");
                shared.set_health(false, format!("reconnecting: {error}"));
            }
        }
        let jitter = rand::rng().random_range(0.5..1.5);
        let pause = backoff.mul_f64(jitter);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn dispatch(fanout: &LocalFanout, prefix: &str, message: &redis::Msg) {
    let Some(topic) = message.get_channel_name().strip_prefix(prefix) else {
        return;
    };
    match serde_json::from_slice::<BusEvent>(message.get_payload_bytes()) {
        Ok(event) => fanout.deliver(&Topic::from_wire(topic), Arc::new(event)),
        Err(error) => {
            // Another version of Wayfarer on the same Redis may publish events
            // this one does not know; skip them rather than fail.
            tracing::debug!(%error, topic, "skipping undecodable bus event");
        }
    }
}
