//! The event bus: every state change a subscription may want is published
//! here, never sent straight to a socket, so it reaches subscribers on every
//! server instance.
//!
//! Two backends share one local fan-out ([`LocalFanout`]): the in-process
//! [`MemoryEventBus`] of the default run delivers directly, and the
//! [`RedisEventBus`] publishes through Redis pub/sub and delivers what its
//! dedicated subscriber connection receives — its own messages included, so an
//! event is delivered exactly once per instance either way. Redis pub/sub is
//! at-most-once: consumers that must not miss anything (notifications) keep a
//! durable copy and let clients catch up by query.

mod memory;
mod redis;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::health::StatusSnapshot;
use crate::redis_pool::RedisError;
use crate::sessions::SessionId;

pub use self::memory::MemoryEventBus;
pub use self::redis::RedisEventBus;

/// Events buffered per topic for a slow local subscriber before it skips ahead.
const TOPIC_CAPACITY: usize = 256;

/// A named stream of events (`service-status`, `session:<id>:notifications`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// Health snapshots of every instance.
    pub fn service_status() -> Self {
        Self("service-status".to_owned())
    }

    /// One session's end (revocation): what its open sockets wait for.
    ///
    /// A session's events travel on one topic per kind, not one topic for
    /// all: every local subscriber of a topic is woken by each event on it,
    /// and a socket with 10,000 siblings would otherwise be woken for every
    /// status change and notification only to drop it.
    pub fn session_ended(id: &SessionId) -> Self {
        Self(format!("session:{id}:ended"))
    }

    /// Notifications stored for one session: `notificationAdded`.
    pub fn session_notifications(id: &SessionId) -> Self {
        Self(format!("session:{id}:notifications"))
    }

    /// Status moves of one session's bookings: `bookingStatusChanged`.
    pub fn session_booking_status(id: &SessionId) -> Self {
        Self(format!("session:{id}:booking-status"))
    }

    /// Every booking's domain events, whoever owns the booking: what the
    /// notifications worker consumes.
    pub fn bookings() -> Self {
        Self("bookings".to_owned())
    }

    /// The providers' answers to one search (by its canonical key), for
    /// every `flightSearchProgress` subscriber of it.
    pub fn search_progress(key: &str) -> Self {
        Self(format!("search:{key}"))
    }

    /// The topic's name as it travels on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_wire(name: &str) -> Self {
        Self(name.to_owned())
    }
}

/// What travels on the bus: `{"type": …, "event": …}`. Adjacently tagged,
/// not internally: an internally tagged enum is read through serde's
/// buffered `Content`, which cannot carry a verbatim provider offer
/// ([`crate::flights::model::ProviderOffer`], a raw JSON value) — search
/// progress would not parse. With the tag first, the event is read directly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "event", rename_all = "camelCase")]
pub enum BusEvent {
    /// An instance's periodic health snapshot.
    ServiceStatus(StatusSnapshot),
    /// A session was ended; sockets authenticated by it must close.
    #[serde(rename_all = "camelCase")]
    SessionEnded {
        /// The session's public id.
        session_id: String,
    },
    /// A booking changed (created, paid, confirmed, cancelled, refunded,
    /// expiring, expired).
    Booking(crate::booking::model::BookingEvent),
    /// A booking's status moved.
    BookingStatus(crate::booking::model::BookingStatusChange),
    /// A provider's answer to a search, or the end of the search.
    SearchProgress(crate::flights::progress::ProgressEntry),
    /// A notification was stored for the session of the topic.
    Notification(crate::notifications::NotificationMessage),
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The Redis publish did not go through.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// The event could not be encoded.
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The bus's view of itself, for health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusHealth {
    /// Delivering normally.
    pub connected: bool,
    /// Human-readable state.
    pub detail: String,
}

/// Publish/subscribe across instances. Implementations: [`MemoryEventBus`], [`RedisEventBus`].
#[async_trait]
pub trait EventBus: Send + Sync + std::fmt::Debug {
    /// Sends an event to every subscriber of `topic` on every instance.
    async fn publish(&self, topic: &Topic, event: &BusEvent) -> Result<(), BusError>;
    /// Events published on `topic` from now on.
    fn subscribe(&self, topic: &Topic) -> EventStream;
    /// Whether delivery currently works.
    fn health(&self) -> BusHealth;
    /// `redis` or `memory`.
    fn backend(&self) -> &'static str;
}

/// A subscription to one topic. A subscriber that falls more than
/// [`TOPIC_CAPACITY`] events behind skips the oldest instead of holding memory.
pub struct EventStream {
    inner: BroadcastStream<Arc<BusEvent>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl Stream for EventStream {
    type Item = Arc<BusEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => return Poll::Ready(Some(event)),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(skipped)))) => {
                    metrics::counter!("wayfarer_event_bus_lagged_total").increment(skipped);
                    tracing::debug!(skipped, "slow event subscriber skipped events");
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl EventStream {
    /// The same events, but a skip is reported as `Err(skipped)` instead of
    /// passed over: for subscribers that must tell their client it fell
    /// behind (and so should catch up by query) rather than silently miss events.
    pub fn reporting_lag(self) -> LagReportingStream {
        LagReportingStream { inner: self.inner }
    }
}

/// An [`EventStream`] that yields `Err(skipped)` where its subscriber fell
/// more than [`TOPIC_CAPACITY`] events behind.
pub struct LagReportingStream {
    inner: BroadcastStream<Arc<BusEvent>>,
}

impl std::fmt::Debug for LagReportingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LagReportingStream")
    }
}

impl Stream for LagReportingStream {
    type Item = Result<Arc<BusEvent>, u64>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => Poll::Ready(Some(Ok(event))),
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(skipped)))) => {
                metrics::counter!("wayfarer_event_bus_lagged_total").increment(skipped);
                Poll::Ready(Some(Err(skipped)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Per-topic broadcast channels of this instance, created on first
/// subscription and dropped when the last subscriber goes.
#[derive(Debug, Default)]
pub struct LocalFanout {
    topics: Mutex<Topics>,
}

/// The channels, and the size at which abandoned ones are next swept.
#[derive(Debug, Default)]
struct Topics {
    channels: HashMap<Topic, broadcast::Sender<Arc<BusEvent>>>,
    sweep_at: usize,
    /// Sweeps so far (each scans every channel).
    sweeps: u64,
}

/// Topics held before the first sweep of abandoned ones.
const SWEEP_FLOOR: usize = 1024;

impl LocalFanout {
    fn lock(&self) -> std::sync::MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new receiver on `topic`.
    pub fn subscribe(&self, topic: &Topic) -> EventStream {
        let mut topics = self.lock();
        if topics.channels.len() >= topics.sweep_at.max(SWEEP_FLOOR) {
            topics.channels.retain(|_, sender| sender.receiver_count() > 0);
            // Next sweep once the map has doubled again: with thousands of
            // live topics (two per open socket) a sweep on every subscribe
            // past a fixed size would scan them all each time.
            topics.sweep_at = topics.channels.len() * 2;
            topics.sweeps += 1;
        }
        let sender = topics.channels.entry(topic.clone()).or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0);
        EventStream { inner: BroadcastStream::new(sender.subscribe()) }
    }

    /// Hands `event` to this instance's subscribers of `topic`.
    pub fn deliver(&self, topic: &Topic, event: Arc<BusEvent>) {
        let mut topics = self.lock();
        if let Some(sender) = topics.channels.get(topic) {
            if sender.receiver_count() == 0 {
                topics.channels.remove(topic);
            } else {
                let _ = sender.send(event);
            }
        }
    }

    /// Topics with at least one live subscriber.
    pub fn active_topics(&self) -> usize {
        self.lock().channels.values().filter(|s| s.receiver_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    #[tokio::test]
    async fn fanout_delivers_only_to_the_topic_and_forgets_empty_topics() {
        let fanout = LocalFanout::default();
        let a = Topic::from_wire("a");
        let mut sub_a = fanout.subscribe(&a);
        let sub_b = fanout.subscribe(&Topic::from_wire("b"));
        fanout.deliver(&a, Arc::new(BusEvent::SessionEnded { session_id: "x".into() }));
        let got = sub_a.next().await.expect("delivered");
        assert!(matches!(&*got, BusEvent::SessionEnded { session_id } if session_id == "x"));
        drop(sub_b);
        fanout.deliver(&Topic::from_wire("b"), Arc::new(BusEvent::SessionEnded { session_id: "y".into() }));
        assert_eq!(fanout.active_topics(), 1);
    }

    #[test]
    fn abandoned_topics_are_swept_without_scanning_the_live_ones_on_every_subscribe() {
        let fanout = LocalFanout::default();
        // 5,000 live topics, each with an abandoned one subscribed beside it.
        let mut live = Vec::new();
        for i in 0..5_000 {
            live.push(fanout.subscribe(&Topic::from_wire(&format!("live:{i}"))));
            drop(fanout.subscribe(&Topic::from_wire(&format!("gone:{i}"))));
        }
        let topics = fanout.lock();
        assert!(topics.channels.len() <= 2 * 5_000 + 1, "abandoned topics swept: {}", topics.channels.len());
        // The map doubles between sweeps: a handful, not one per subscribe past 1,024.
        assert!(topics.sweeps <= 8, "{} sweeps", topics.sweeps);
        drop(topics);
        assert_eq!(fanout.active_topics(), 5_000);
    }

    #[test]
    fn search_progress_with_verbatim_offers_survives_the_wire() {
        use crate::flights::cache::StoredOutcome;
        use crate::flights::model::{Money, Offer, ProviderOffer};
        let raw = r#"{"id":"off_1","total_amount":"10.00","nested":{"a":[1,2.50,"x"]}}"#;
        let offer = Offer {
            id: "duffel_abc".into(),
            provider: "duffel".into(),
            price: Money::new(rust_decimal::Decimal::new(1_000, 2), "EUR"),
            seats_available: Some(3),
            expires_at: chrono::Utc::now(),
            itineraries: Vec::new(),
            provider_offer: ProviderOffer::from_raw(serde_json::value::RawValue::from_string(raw.into()).expect("raw")),
            passengers: Vec::new(),
        };
        let event = BusEvent::SearchProgress(crate::flights::progress::ProgressEntry {
            key: "k".into(),
            outcome: Some(StoredOutcome {
                provider: "duffel".into(),
                status: crate::flights::aggregator::ProviderStatus::Ok,
                offers: vec![offer],
                latency_ms: 5,
                error: None,
            }),
        });
        let wire = serde_json::to_vec(&event).expect("encodes");
        let back: BusEvent = serde_json::from_slice(&wire).expect("decodes");
        let BusEvent::SearchProgress(entry) = back else { panic!("another event") };
        let offers = entry.outcome.expect("an outcome").offers;
        assert_eq!(offers[0].provider_offer.as_str(), raw, "the provider's JSON, byte for byte");
    }
}
