//! The notifications worker and the queries behind the GraphQL edge.
//!
//! Every instance runs the worker. Booking events reach it two ways: on the
//! bus's bookings topic (prompt) and from the SQL outbox the booking service
//! writes before publishing (durable: what Redis pub/sub dropped, or what an
//! instance that crashed mid-way left, is found by the poll). Either way the
//! event is claimed in SQL first, so one instance turns it into the
//! notification — stored once (one row per event), published once on the
//! owner's notifications topic for `notificationAdded`, and given one delivery row
//! per enabled channel. Deliveries are claimed before each attempt, sent
//! concurrently, retried with jittered exponential backoff, and dead-lettered
//! after the last try or a permanent failure. None of it runs on the booking's
//! path: the booking service only writes the outbox row and publishes.

use std::collections::HashSet;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use rand::Rng as _;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::channels::{ChannelError, ChannelKind, Channels, OutboundMessage};
use super::render::{self, BookingFacts};
use super::{NotificationMessage, parse_id, public_id};
use crate::booking::model::{BookingEvent, BookingEventKind, PaymentStatus};
use crate::clock::SharedClock;
use crate::config::NotificationSettings;
use crate::events::{BusEvent, EventBus, Topic};
use crate::sessions::SessionId;
use crate::store::notifications::{
    DeliveryOutcome, DeliveryRecord, NewDelivery, NewEvent, NewNotification, NotificationRecord, PreferencesRecord,
};
use crate::store::{Store, StoreError};

/// Most notifications one `notifications` query returns.
pub const MAX_PAGE: i32 = 100;
/// Events and deliveries one poll picks up.
const POLL_BATCH: u32 = 100;
/// Events waiting on one worker lane before the worker waits for it.
const LANE_QUEUE: usize = 64;
/// Processed outbox rows and sent deliveries are kept this long.
const WORK_RETENTION: chrono::Duration = chrono::Duration::days(7);
/// How often old work is pruned, in polls.
const PRUNE_EVERY: u64 = 1800;
/// Longest a claimed delivery stays claimed: above any channel's timeout, so
/// a live attempt is never taken over, yet a crashed one is retried.
const DELIVERY_LEASE: Duration = Duration::from_secs(90);

/// Why a notifications operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// An argument is malformed or out of range.
    #[error("{message}")]
    BadInput {
        /// The argument.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the worker did since start (for `/api/status` and tests).
#[derive(Debug, Default)]
struct Counts {
    events: AtomicU64,
    notifications: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
}

/// The worker's figures, as `/api/status` shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatus {
    /// Events this instance claimed and processed.
    pub events_processed: u64,
    /// Notifications this instance stored.
    pub notifications_stored: u64,
    /// Deliveries this instance sent.
    pub deliveries_sent: u64,
    /// Attempts that failed and were rescheduled.
    pub deliveries_retried: u64,
    /// Deliveries this instance dead-lettered.
    pub dead_letters: u64,
    /// The configured channels.
    pub channels: Vec<&'static str>,
}

/// What `updateNotificationPreferences` may change; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct PreferencesUpdate {
    /// E-mail on or off.
    pub email: Option<bool>,
    /// SMS on or off.
    pub sms: Option<bool>,
    /// Push on or off.
    pub push: Option<bool>,
    /// The device's push registration token.
    pub push_token: Option<String>,
}

/// Notifications: the worker and the session-scoped reads and writes.
#[derive(Clone, Debug)]
pub struct NotificationService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    bus: Arc<dyn EventBus>,
    clock: SharedClock,
    settings: NotificationSettings,
    channels: Channels,
    /// This instance's id: the owner of its claims.
    owner: String,
    counts: Counts,
    /// Delivery attempts in flight; the worker's own tracker, joined at shutdown.
    tasks: TaskTracker,
    /// Cancelled when the worker stops: retries waiting for their time give up
    /// (the poll of the next instance, or of this one after a restart, takes them).
    stopping: CancellationToken,
}

impl NotificationService {
    /// The service over the store and bus; `owner` names this instance's claims.
    pub fn new(
        store: Store,
        bus: Arc<dyn EventBus>,
        clock: SharedClock,
        settings: NotificationSettings,
        channels: Channels,
        owner: String,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                clock,
                settings,
                channels,
                owner,
                counts: Counts::default(),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn event_lease(&self) -> Duration {
        (self.inner.settings.poll_interval * 4).max(Duration::from_secs(10))
    }

    /// Starts the worker: subscribed to the bookings topic before this
    /// returns (so nothing published after start is missed by the prompt
    /// path), polling the outbox and due deliveries every `poll_interval`.
    /// Events are processed on `worker_lanes` lanes at once (each lane in
    /// order, a session's events always on one lane). Stops when `shutdown`
    /// fires, after the lanes have finished what they were handed and after
    /// in-flight deliveries.
    pub fn start(&self, shutdown: CancellationToken, tasks: &TaskTracker) {
        let mut events = self.inner.bus.subscribe(&Topic::bookings());
        let service = self.clone();
        tasks.spawn(async move {
            let lanes = Lanes::start(&service, service.inner.settings.worker_lanes);
            let mut tick = tokio::time::interval(service.inner.settings.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut polls: u64 = 0;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    event = events.next() => match event {
                        Some(event) => {
                            let lane = match &*event {
                                BusEvent::Booking(booking) => Some(lanes.lane_of(&booking.session_id)),
                                _ => None,
                            };
                            if let Some(lane) = lane {
                                lanes.hand(lane, LaneWork::Bus(event), &service).await;
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        polls += 1;
                        service.poll(&lanes, polls.is_multiple_of(PRUNE_EVERY)).await;
                    }
                }
            }
            lanes.finish().await;
            service.inner.stopping.cancel();
            service.inner.tasks.close();
            service.inner.tasks.wait().await;
        });
    }

    /// One lane's piece of work.
    async fn work_on(&self, work: LaneWork) {
        match work {
            LaneWork::Bus(event) => {
                if let BusEvent::Booking(event) = &*event {
                    self.on_bus_event(event).await;
                }
            }
            LaneWork::Outbox(id) => {
                if let Err(error) = self.process_event(&id).await {
                    tracing::warn!(event = %id, %error, "processing a booking event failed");
                }
            }
        }
    }

    /// An event as the bus brought it: processed, after recording it in the
    /// outbox if the publisher could not.
    async fn on_bus_event(&self, event: &BookingEvent) {
        if event.id.is_empty() {
            return;
        }
        if let Err(error) = self.process(&event.id, Some(event)).await {
            tracing::warn!(event = %event.id, %error, "processing a booking event failed; the poll retries it");
        }
    }

    /// The outbox row's payload; for an event the bus brought that has no
    /// row (its publisher's write failed), the row written now. Written only
    /// then: an `INSERT … ON CONFLICT DO NOTHING` for every event took the
    /// store's one writer three times a journey for nothing.
    async fn payload_of(&self, id: &str, carried: Option<&BookingEvent>) -> Result<Option<String>, NotificationError> {
        if let Some(payload) = self.inner.store.event_payload(id).await? {
            return Ok(Some(payload));
        }
        let Some(event) = carried else { return Ok(None) };
        let payload = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt { column: "domain_events.payload", detail: e.to_string() })?;
        let row = NewEvent {
            id: &event.id,
            session_id: &event.session_id,
            booking_id: &event.booking_id,
            kind: event.kind.as_str(),
            payload: &payload,
        };
        self.inner.store.record_event(&row, self.now()).await?;
        Ok(Some(payload))
    }

    /// One pass over what is due: outbox events the bus did not bring (or a
    /// crashed claimer left), and deliveries whose next attempt is due.
    async fn poll(&self, lanes: &Lanes, prune: bool) {
        let now = self.now();
        let grace = chrono::Duration::from_std(self.inner.settings.poll_interval).unwrap_or(chrono::Duration::zero());
        match self.inner.store.pending_events(now - grace, now, POLL_BATCH).await {
            Ok(pending) => {
                for event in pending {
                    // Still waiting on its lane (a backlog older than the
                    // grace): handing it again would only queue a second claim.
                    if lanes.is_queued(&event.id) {
                        continue;
                    }
                    let lane = lanes.lane_of(&event.session_id);
                    lanes.hand(lane, LaneWork::Outbox(event.id), self).await;
                }
            }
            Err(error) => tracing::warn!(%error, "reading the notification outbox failed"),
        }
        match self.inner.store.due_deliveries(now, POLL_BATCH).await {
            Ok(ids) => {
                for id in ids {
                    self.spawn_attempt(id, Duration::ZERO);
                }
            }
            Err(error) => tracing::warn!(%error, "reading due notification deliveries failed"),
        }
        if prune {
            match self.inner.store.prune_notification_work(now - WORK_RETENTION).await {
                Ok(removed) if removed > 0 => tracing::info!(removed, "pruned finished notification work"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "pruning notification work failed"),
            }
        }
    }

    /// Claims one outbox event and turns it into its notification and
    /// deliveries; `false` when another instance has it or it is done.
    ///
    /// What the notification says is read and rendered first, then the
    /// claim, the notification, its deliveries and the event's "done" are
    /// written in one transaction (one commit instead of four or more), and
    /// only after the commit is it published and are its deliveries started.
    pub async fn process_event(&self, id: &str) -> Result<bool, NotificationError> {
        self.process(id, None).await
    }

    /// [`Self::process_event`], with the event itself when the bus brought it.
    async fn process(&self, id: &str, carried: Option<&BookingEvent>) -> Result<bool, NotificationError> {
        let Some(payload) = self.payload_of(id, carried).await? else {
            return Ok(false);
        };
        let event: Option<BookingEvent> = match serde_json::from_str(&payload) {
            Ok(event) => Some(event),
            Err(error) => {
                tracing::error!(event = %id, %error, "an outbox event cannot be read; skipped");
                None
            }
        };
        let booking = match &event {
            Some(event) => self.inner.store.booking(&event.booking_id).await?,
            None => None,
        };
        let payment_reference = match (&booking, &event) {
            (Some(_), Some(event))
                if matches!(event.kind, BookingEventKind::BookingConfirmed | BookingEventKind::PaymentSucceeded) =>
            {
                self.inner
                    .store
                    .payments_for_booking(&event.booking_id)
                    .await?
                    .into_iter()
                    .find(|p| p.status == PaymentStatus::Succeeded)
                    .map(|p| p.gateway_payment_id.unwrap_or(p.id))
            }
            _ => None,
        };
        let preferences = match &event {
            Some(event) => Some(self.inner.store.notification_preferences(&event.session_id).await?),
            None => None,
        };

        let owner = &self.inner.owner;
        let Some(mut work) = self.inner.store.begin_event(id, owner, self.now(), self.event_lease()).await? else {
            return Ok(false);
        };
        let (Some(event), Some(preferences)) = (event, preferences) else {
            // Not ours to fix by retrying: record it as done.
            work.finish(self.now()).await?;
            return Ok(true);
        };
        let facts = BookingFacts { booking: booking.as_ref(), payment_reference };
        let content = render::content(&event, &facts);
        let new = NewNotification {
            event_id: event.id.clone(),
            session_id: event.session_id.clone(),
            kind: event.kind.as_str().to_owned(),
            title: content.title.clone(),
            body: content.body.clone(),
            booking_id: Some(event.booking_id.clone()),
            language: render::language_of(&event).code().to_owned(),
        };
        let (stored, fresh) = work.insert_notification(&new, self.now()).await?;
        let notification_id = public_id(stored.seq);

        // Deliveries: one per enabled, configured channel with a destination.
        let mut deliveries = Vec::new();
        for channel in self.inner.channels.enabled() {
            let Some(to) = destination(channel, &preferences, booking.as_ref()) else { continue };
            let message = render::message(channel, &to, &notification_id, &event, &content, &facts);
            let encoded = serde_json::to_string(&message).map_err(|e| StoreError::Corrupt {
                column: "notification_deliveries.message",
                detail: e.to_string(),
            })?;
            let delivery = NewDelivery {
                id: format!("dlv_{}", uuid::Uuid::now_v7().simple()),
                event_id: event.id.clone(),
                session_id: event.session_id.clone(),
                seq: stored.seq,
                channel: channel.as_str().to_owned(),
                message: encoded,
            };
            if work.insert_delivery(&delivery, self.now()).await? {
                deliveries.push(delivery.id);
            }
        }
        if !work.finish(self.now()).await? {
            // The lease ran out before the commit: the next claimer does it all.
            return Ok(false);
        }
        self.inner.counts.events.fetch_add(1, Ordering::Relaxed);
        if fresh {
            self.inner.counts.notifications.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wayfarer_notifications_total", "kind" => event.kind.as_str()).increment(1);
            let message = BusEvent::Notification(NotificationMessage::from_record(&stored, event.kind));
            let topic = Topic::session_notifications(&SessionId(event.session_id.clone()));
            if let Err(error) = self.inner.bus.publish(&topic, &message).await {
                tracing::warn!(event = %event.id, %error, "publishing a notification failed; clients catch up by query");
            }
        }
        // Each channel on its own task: concurrent, and never holding the worker.
        for delivery in deliveries {
            self.spawn_attempt(delivery, Duration::ZERO);
        }
        Ok(true)
    }

    fn spawn_attempt(&self, id: String, after: Duration) {
        let service = self.clone();
        self.inner.tasks.spawn(async move {
            if !after.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(after) => {}
                    () = service.inner.stopping.cancelled() => return,
                }
            }
            if service.inner.stopping.is_cancelled() {
                return;
            }
            if let Err(error) = service.attempt(&id).await {
                tracing::warn!(delivery = %id, %error, "a notification delivery attempt failed to run");
            }
        });
    }

    /// Claims a due delivery and makes one attempt.
    async fn attempt(&self, id: &str) -> Result<(), NotificationError> {
        let owner = &self.inner.owner;
        let Some(delivery) = self.inner.store.claim_delivery(id, owner, self.now(), DELIVERY_LEASE).await? else {
            return Ok(());
        };
        let channel_kind = ChannelKind::parse(&delivery.channel);
        let channel = channel_kind.and_then(|kind| self.inner.channels.get(kind));
        let result = match (channel, serde_json::from_str::<OutboundMessage>(&delivery.message)) {
            (Some(channel), Ok(message)) => {
                // The channel's own timeout bounds the call; this is the
                // backstop that keeps the lease honest whatever it does.
                match tokio::time::timeout(DELIVERY_LEASE / 2, channel.send(&message)).await {
                    Ok(result) => result.map_err(|e| (e, Some(message))),
                    Err(_) => Err((ChannelError::Transient("the channel did not answer in time".into()), None)),
                }
            }
            (None, _) => {
                Err((ChannelError::Permanent(format!("channel {} is not configured", delivery.channel)), None))
            }
            (_, Err(error)) => Err((ChannelError::Permanent(format!("unreadable stored message: {error}")), None)),
        };
        let label = channel_kind.map_or("unknown", ChannelKind::as_str);
        let outcome = match result {
            Ok(sent) => {
                self.inner.counts.sent.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("wayfarer_notification_deliveries_total", "channel" => label, "outcome" => "sent")
                    .increment(1);
                DeliveryOutcome::Sent { provider_id: sent.provider_id }
            }
            Err((error, message)) => self.failed(&delivery, label, &error, message.as_ref()).await,
        };
        self.inner.store.finish_delivery(id, owner, &outcome, self.now()).await?;
        if let DeliveryOutcome::Retry { next_attempt_at, .. } = outcome {
            let wait = (next_attempt_at - self.now()).to_std().unwrap_or(Duration::ZERO);
            self.spawn_attempt(id.to_owned(), wait);
        }
        Ok(())
    }

    /// What a failed attempt leads to: a retry after backoff, or a dead letter.
    async fn failed(
        &self,
        delivery: &DeliveryRecord,
        label: &'static str,
        error: &ChannelError,
        message: Option<&OutboundMessage>,
    ) -> DeliveryOutcome {
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        if error.is_transient() && attempts < self.inner.settings.max_attempts {
            self.inner.counts.retried.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("wayfarer_notification_deliveries_total", "channel" => label, "outcome" => "retry")
                .increment(1);
            tracing::info!(delivery = %delivery.id, channel = label, attempts, %error, "notification delivery failed; will retry");
            let wait = backoff(&self.inner.settings, attempts);
            let next = self.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
            return DeliveryOutcome::Retry { error: error.to_string(), next_attempt_at: next };
        }
        if let (ChannelError::InvalidDestination(_), Some(message), Some(ChannelKind::Push)) =
            (error, message, ChannelKind::parse(&delivery.channel))
        {
            // A dead push token fails every later send too: forget it.
            if let Err(e) = self.inner.store.forget_push_token(&delivery.session_id, &message.to, self.now()).await {
                tracing::warn!(session = %delivery.session_id, error = %e, "forgetting a dead push token failed");
            }
        }
        self.inner.counts.dead.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("wayfarer_notification_deliveries_total", "channel" => label, "outcome" => "dead")
            .increment(1);
        metrics::counter!("wayfarer_notification_dead_letters_total", "channel" => label).increment(1);
        tracing::warn!(delivery = %delivery.id, channel = label, attempts, %error, "notification delivery dead-lettered");
        DeliveryOutcome::Dead { error: error.to_string() }
    }

    // ------------------------------------------------------------ queries

    /// A session's notifications, newest first (see [`Store::notifications`]).
    pub async fn notifications(
        &self,
        session_id: &str,
        after: Option<&str>,
        first: i32,
    ) -> Result<Vec<NotificationMessage>, NotificationError> {
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(NotificationError::BadInput {
                field: "first",
                message: format!("first must be between 1 and {MAX_PAGE}."),
            });
        }
        let after = after.map(|raw| parse_cursor("after", raw)).transpose()?;
        let records = self.inner.store.notifications(session_id, after, first.unsigned_abs()).await?;
        Ok(records.iter().map(NotificationMessage::from_stored).collect())
    }

    /// Marks the session's notifications up to and including `up_to` read;
    /// returns how many were unread.
    pub async fn mark_read(&self, session_id: &str, up_to: &str) -> Result<u64, NotificationError> {
        let up_to = parse_cursor("upTo", up_to)?;
        Ok(self.inner.store.mark_notifications_read(session_id, up_to, self.now()).await?)
    }

    /// The session's channel preferences.
    pub async fn preferences(&self, session_id: &str) -> Result<PreferencesRecord, NotificationError> {
        Ok(self.inner.store.notification_preferences(session_id).await?)
    }

    /// Changes the session's preferences and returns them.
    pub async fn update_preferences(
        &self,
        session_id: &str,
        update: PreferencesUpdate,
    ) -> Result<PreferencesRecord, NotificationError> {
        let mut preferences = self.inner.store.notification_preferences(session_id).await?;
        if let Some(token) = update.push_token {
            let token = token.trim().to_owned();
            // A card number is never a device token, and must never be stored.
            if token.is_empty()
                || token.len() > 4096
                || token.chars().any(char::is_control)
                || crate::payments::looks_like_card_number(&token)
            {
                return Err(NotificationError::BadInput {
                    field: "input.pushToken",
                    message: "pushToken must be a device registration token (1–4096 printable characters).".into(),
                });
            }
            preferences.push_token = Some(token);
        }
        if let Some(email) = update.email {
            preferences.email = email;
        }
        if let Some(sms) = update.sms {
            preferences.sms = sms;
        }
        if let Some(push) = update.push {
            if push && preferences.push_token.is_none() {
                return Err(NotificationError::BadInput {
                    field: "input.pushToken",
                    message: "Turning push on needs the device's pushToken.".into(),
                });
            }
            preferences.push = push;
        }
        self.inner.store.save_notification_preferences(session_id, &preferences, self.now()).await?;
        Ok(preferences)
    }

    /// The worker's figures since start.
    pub fn status(&self) -> NotificationStatus {
        let c = &self.inner.counts;
        NotificationStatus {
            events_processed: c.events.load(Ordering::Relaxed),
            notifications_stored: c.notifications.load(Ordering::Relaxed),
            deliveries_sent: c.sent.load(Ordering::Relaxed),
            deliveries_retried: c.retried.load(Ordering::Relaxed),
            dead_letters: c.dead.load(Ordering::Relaxed),
            channels: self.inner.channels.enabled().map(ChannelKind::as_str).collect(),
        }
    }

    /// The configured channels.
    pub fn channels(&self) -> &Channels {
        &self.inner.channels
    }
}

/// Where `channel` goes for this session and booking, when it is on and known.
/// What a worker lane is handed: an event as the bus brought it, or the id
/// of one the poll found in the outbox.
enum LaneWork {
    Bus(Arc<BusEvent>),
    Outbox(String),
}

impl LaneWork {
    /// The event's id.
    fn id(&self) -> &str {
        match self {
            Self::Bus(event) => match &**event {
                BusEvent::Booking(booking) => &booking.id,
                _ => "",
            },
            Self::Outbox(id) => id,
        }
    }
}

/// The worker's lanes. One worker taking events one after another made every
/// event wait for all the store round trips of the events before it (the
/// journey benchmark's wait for `BOOKING_CONFIRMED` at 10 travellers: p50
/// 101 ms on one lane, 10 ms on eight); lanes overlap those round trips, and
/// keying them by session keeps each session's notifications in the order
/// its events came (`seq` is numbered in commit order).
struct Lanes {
    senders: Vec<mpsc::Sender<LaneWork>>,
    running: Vec<tokio::task::JoinHandle<()>>,
    /// Ids handed to a lane and not yet worked on.
    queued: Arc<Mutex<HashSet<String>>>,
}

impl Lanes {
    fn start(service: &NotificationService, count: usize) -> Self {
        let queued = Arc::new(Mutex::new(HashSet::new()));
        let (senders, running) = (0..count.max(1))
            .map(|_| {
                let (sender, mut receiver) = mpsc::channel::<LaneWork>(LANE_QUEUE);
                let service = service.clone();
                let queued = queued.clone();
                let task = tokio::spawn(async move {
                    while let Some(work) = receiver.recv().await {
                        lock(&queued).remove(work.id());
                        service.work_on(work).await;
                    }
                });
                (sender, task)
            })
            .unzip();
        Self { senders, running, queued }
    }

    fn lane_of(&self, session_id: &str) -> usize {
        let mut hasher = std::hash::DefaultHasher::new();
        session_id.hash(&mut hasher);
        // The remainder is below the lane count, which is a usize.
        usize::try_from(hasher.finish() % self.senders.len() as u64).unwrap_or(0)
    }

    fn is_queued(&self, id: &str) -> bool {
        lock(&self.queued).contains(id)
    }

    /// Queues `work` on `lane`, waiting while the lane is full (the bus
    /// buffers behind it, and what it drops the poll finds).
    async fn hand(&self, lane: usize, work: LaneWork, service: &NotificationService) {
        let Some(sender) = self.senders.get(lane) else { return };
        lock(&self.queued).insert(work.id().to_owned());
        if let Err(mpsc::error::SendError(work)) = sender.send(work).await {
            // The lane's task is gone (it panicked): do the work here.
            lock(&self.queued).remove(work.id());
            service.work_on(work).await;
        }
    }

    /// Lets every lane finish what it was handed, then ends them.
    async fn finish(self) {
        drop(self.senders);
        for task in self.running {
            let _ = task.await;
        }
    }
}

fn lock(queued: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn destination(
    channel: ChannelKind,
    preferences: &PreferencesRecord,
    booking: Option<&crate::store::bookings::BookingRecord>,
) -> Option<String> {
    match channel {
        ChannelKind::Email if preferences.email => booking.map(|b| b.contact.email.clone()),
        ChannelKind::Sms if preferences.sms => booking.and_then(|b| b.contact.phone.clone()),
        ChannelKind::Push if preferences.push => preferences.push_token.clone(),
        _ => None,
    }
}

/// The pause before attempt `attempts + 1`: base × 2^(attempts − 1), capped,
/// with ±25 % jitter so retries from many deliveries do not arrive together.
fn backoff(settings: &NotificationSettings, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let raw = settings.retry_base.saturating_mul(1 << exponent).min(settings.retry_max);
    let jitter = rand::rng().random_range(0.75..=1.25);
    raw.mul_f64(jitter).min(settings.retry_max)
}

fn parse_cursor(field: &'static str, raw: &str) -> Result<i64, NotificationError> {
    parse_id(raw).ok_or_else(|| NotificationError::BadInput {
        field,
        message: format!("{field} must be a notification id (ntf_…)."),
    })
}

impl NotificationMessage {
    fn from_record(record: &NotificationRecord, kind: BookingEventKind) -> Self {
        Self {
            id: public_id(record.seq),
            session_id: record.session_id.clone(),
            seq: record.seq,
            kind,
            title: record.title.clone(),
            body: record.body.clone(),
            booking_id: record.booking_id.clone(),
            at: record.created_at,
            read: record.read_at.is_some(),
        }
    }

    fn from_stored(record: &NotificationRecord) -> Self {
        // Kinds are written from the enum; an unknown one would be a newer
        // binary's, shown as the closest general kind rather than failing the page.
        let kind = BookingEventKind::parse(&record.kind).unwrap_or(BookingEventKind::BookingCreated);
        Self::from_record(record, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let settings = NotificationSettings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..NotificationSettings::default()
        };
        for _ in 0..50 {
            let first = backoff(&settings, 1);
            assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125), "{first:?}");
            let third = backoff(&settings, 3);
            assert!(third >= Duration::from_millis(300) && third <= Duration::from_millis(500), "{third:?}");
            assert!(backoff(&settings, 30) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn destinations_follow_preferences() {
        let mut preferences = PreferencesRecord::default();
        assert_eq!(destination(ChannelKind::Push, &preferences, None), None);
        preferences.push = true;
        preferences.push_token = Some("tok".into());
        assert_eq!(destination(ChannelKind::Push, &preferences, None).as_deref(), Some("tok"));
        // No booking, no address.
        assert_eq!(destination(ChannelKind::Email, &preferences, None), None);
    }
}
