//! Notifications on the SQL store: the outbox of booking events, the
//! notifications made from them (numbered gap-free per session), the
//! traveller's channel preferences, and one delivery row per notification and
//! channel with its attempts — the dead letters are the rows that gave up.
//!
//! Every piece of work is claimed with a conditional `UPDATE` (owner and lease
//! until), so several instances share the work and each event and delivery is
//! handled by one of them; a claimer that crashed loses its lease and another
//! takes over.

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError, from_millis, millis, opt_millis, write_error};

/// Tries to find a free per-session number before giving up; each failure
/// means another insert for the same session committed in between.
const SEQ_ATTEMPTS: usize = 32;

/// A booking event, as written to the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The event's id (unique).
    pub id: &'a str,
    /// The session that owns the booking.
    pub session_id: &'a str,
    /// The booking.
    pub booking_id: &'a str,
    /// `BOOKING_CONFIRMED`, …
    pub kind: &'a str,
    /// The event as JSON.
    pub payload: &'a str,
}

/// An unprocessed outbox row, as the worker's poll finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// The event's id.
    pub id: String,
    /// The session that owns the booking: the worker's lane.
    pub session_id: String,
}

/// An outbox row claimed for processing.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    /// The event's id.
    pub id: String,
    /// The event as JSON.
    pub payload: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// A notification about to be stored.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// The event it reports (one notification per event).
    pub event_id: String,
    /// Whose.
    pub session_id: String,
    /// `Notification.kind`.
    pub kind: String,
    /// Short title, in `language`.
    pub title: String,
    /// One or two sentences, in `language`.
    pub body: String,
    /// The booking concerned.
    pub booking_id: Option<String>,
    /// The language it is written in.
    pub language: String,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Whose.
    pub session_id: String,
    /// Its number within the session: 1, 2, 3, … in the order they were stored.
    pub seq: i64,
    /// The event it reports.
    pub event_id: String,
    /// `Notification.kind`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The booking concerned.
    pub booking_id: Option<String>,
    /// Its language.
    pub language: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When the traveller marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

/// A session's channel choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferencesRecord {
    /// E-mail to the booking's contact address.
    pub email: bool,
    /// SMS to the booking's contact phone.
    pub sms: bool,
    /// Push to `push_token`.
    pub push: bool,
    /// The device's push registration token.
    pub push_token: Option<String>,
}

impl Default for PreferencesRecord {
    /// E-mail on (it goes out once a booking gives a contact address), the rest off.
    fn default() -> Self {
        Self { email: true, sms: false, push: false, push_token: None }
    }
}

/// Where one channel delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Accepted by the channel.
    Sent,
    /// Gave up: the last try failed or the failure was permanent (a dead letter).
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Dead => "DEAD",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Dead].into_iter().find(|s| s.as_str() == value)
    }
}

/// A delivery about to be stored.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Its id.
    pub id: String,
    /// The event whose notification it carries.
    pub event_id: String,
    /// Whose.
    pub session_id: String,
    /// The notification's number.
    pub seq: i64,
    /// `email`, `sms`, `push`.
    pub channel: String,
    /// The rendered message as JSON.
    pub message: String,
}

/// A stored delivery.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: String,
    /// The event whose notification it carries.
    pub event_id: String,
    /// Whose.
    pub session_id: String,
    /// The notification's number.
    pub seq: i64,
    /// `email`, `sms`, `push`.
    pub channel: String,
    /// The rendered message as JSON.
    pub message: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts started so far (a claim counts as one, so a crash mid-send does too).
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The channel's id of the sent message.
    pub provider_id: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    /// Sent.
    Sent {
        /// The channel's message id.
        provider_id: Option<String>,
    },
    /// Failed; try again at `next_attempt_at`.
    Retry {
        /// Why.
        error: String,
        /// When.
        next_attempt_at: DateTime<Utc>,
    },
    /// Failed for good: dead-lettered.
    Dead {
        /// Why.
        error: String,
    },
}

impl Store {
    // ------------------------------------------------------------ outbox

    /// Writes a booking event to the outbox (a repeated id is ignored).
    pub async fn record_event(&self, event: &NewEvent<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO domain_events (id, session_id, booking_id, kind, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id)
        .bind(event.session_id)
        .bind(event.booking_id)
        .bind(event.kind)
        .bind(event.payload)
        .bind(now.timestamp_millis())
        .execute(self.writer())
        .await
        .map_err(write_error)?;
        Ok(())
    }

    /// Leases an unprocessed event to `owner` until `now + lease`; `None` when
    /// it is processed, unknown, or leased to someone else.
    pub async fn claim_event(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Option<ClaimedEvent>, StoreError> {
        if !claim_event_on(&mut *self.writer().acquire().await?, id, owner, now, lease).await? {
            return Ok(None);
        }
        // Read on the pool: the writer (one connection on SQLite) is free again.
        let row = sqlx::query("SELECT id, payload, created_at FROM domain_events WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(ClaimedEvent {
                id: row.try_get("id")?,
                payload: row.try_get("payload")?,
                created_at: from_millis(row.try_get("created_at")?),
            })
        })
        .transpose()
    }

    /// Unprocessed events written at or before `written_before` whose
    /// lease is free, oldest first: what the bus did not bring, or what a
    /// crashed claimer left.
    pub async fn pending_events(
        &self,
        written_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, session_id FROM domain_events WHERE processed_at IS NULL AND created_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY created_at LIMIT $3",
        )
        .bind(written_before.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok(PendingEvent { id: row.try_get("id")?, session_id: row.try_get("session_id")? }))
            .collect()
    }

    /// Marks `owner`'s claimed event processed; `false` when the lease was lost.
    pub async fn finish_event(&self, id: &str, owner: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        finish_event_on(&mut *self.writer().acquire().await?, id, owner, now).await
    }

    /// Unprocessed events in the outbox (for `/api/status`).
    pub async fn pending_event_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM domain_events WHERE processed_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes processed events and finished deliveries last changed before
    /// `before` (the notifications themselves stay); returns the rows removed.
    pub async fn prune_notification_work(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let ms = before.timestamp_millis();
        let events = sqlx::query("DELETE FROM domain_events WHERE processed_at IS NOT NULL AND processed_at < $1")
            .bind(ms)
            .execute(self.writer())
            .await?;
        let deliveries = sqlx::query("DELETE FROM notification_deliveries WHERE status = $1 AND updated_at < $2")
            .bind(DeliveryStatus::Sent.as_str())
            .bind(ms)
            .execute(self.writer())
            .await?;
        Ok(events.rows_affected() + deliveries.rows_affected())
    }

    // ------------------------------------------------------------ notifications

    /// Stores the notification of an event under the session's next number.
    /// Returns it and whether it is new; a second call for the same event
    /// returns the stored one.
    pub async fn insert_notification(
        &self,
        notification: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<(NotificationRecord, bool), StoreError> {
        insert_numbered(&mut *self.writer().acquire().await?, notification, now).await
    }

    /// The notification made from `event_id`.
    pub async fn notification_for_event(&self, event_id: &str) -> Result<Option<NotificationRecord>, StoreError> {
        notification_for_event_on(&mut *self.pool().acquire().await?, event_id).await
    }

    /// A session's notifications, newest first: with `after`, the `first`
    /// numbered just above it (so paging with the highest number seen walks
    /// forward without a gap); without, the newest `first`.
    pub async fn notifications(
        &self,
        session_id: &str,
        after: Option<i64>,
        first: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let limit = i64::from(first);
        let rows =
            match after {
                Some(after) => {
                    let mut rows = sqlx::query(&format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE session_id = $1 AND seq > $2 \
                     ORDER BY seq ASC LIMIT $3"
                    ))
                    .bind(session_id)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                    rows.reverse();
                    rows
                }
                None => sqlx::query(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE session_id = $1 ORDER BY seq DESC LIMIT $2"
                ))
                .bind(session_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
            };
        rows.iter().map(notification_from_row).collect()
    }

    /// Marks a session's notifications numbered up to `up_to` read; returns
    /// how many were unread.
    pub async fn mark_notifications_read(
        &self,
        session_id: &str,
        up_to: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE notifications SET read_at = $1 WHERE session_id = $2 AND seq <= $3 AND read_at IS NULL",
        )
        .bind(now.timestamp_millis())
        .bind(session_id)
        .bind(up_to)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected())
    }

    // ------------------------------------------------------------ preferences

    /// A session's preferences; the defaults when it never chose.
    pub async fn notification_preferences(&self, session_id: &str) -> Result<PreferencesRecord, StoreError> {
        let row =
            sqlx::query("SELECT email, sms, push, push_token FROM notification_preferences WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            Some(row) => PreferencesRecord {
                email: row.try_get::<i64, _>("email")? != 0,
                sms: row.try_get::<i64, _>("sms")? != 0,
                push: row.try_get::<i64, _>("push")? != 0,
                push_token: row.try_get("push_token")?,
            },
            None => PreferencesRecord::default(),
        })
    }

    /// Replaces a session's preferences.
    pub async fn save_notification_preferences(
        &self,
        session_id: &str,
        preferences: &PreferencesRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_preferences (session_id, email, sms, push, push_token, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO UPDATE SET email = excluded.email, \
             sms = excluded.sms, push = excluded.push, push_token = excluded.push_token, \
             updated_at = excluded.updated_at",
        )
        .bind(session_id)
        .bind(i64::from(preferences.email))
        .bind(i64::from(preferences.sms))
        .bind(i64::from(preferences.push))
        .bind(preferences.push_token.as_deref())
        .bind(now.timestamp_millis())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Forgets a push token the push service called dead, if it is still the session's.
    pub async fn forget_push_token(
        &self,
        session_id: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE notification_preferences SET push_token = NULL, push = 0, updated_at = $1 \
             WHERE session_id = $2 AND push_token = $3",
        )
        .bind(now.timestamp_millis())
        .bind(session_id)
        .bind(token)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    // ------------------------------------------------------------ deliveries

    /// Stores a pending delivery, due now; `false` when this notification
    /// already has one on this channel.
    pub async fn insert_delivery(&self, delivery: &NewDelivery, now: DateTime<Utc>) -> Result<bool, StoreError> {
        insert_delivery_on(&mut *self.writer().acquire().await?, delivery, now).await
    }

    /// Leases a due, pending delivery to `owner` and counts the attempt;
    /// `None` when it is not due, finished, or leased to someone else.
    pub async fn claim_delivery(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let ms = now.timestamp_millis();
        let claimed = sqlx::query(
            "UPDATE notification_deliveries SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id = $4 AND status = $5 AND next_attempt_at <= $6 \
             AND (claimed_until IS NULL OR claimed_until <= $7)",
        )
        .bind(owner)
        .bind(ms.saturating_add(millis(lease)))
        .bind(ms)
        .bind(id)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(ms)
        .bind(ms)
        .execute(self.writer())
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        self.delivery(id).await
    }

    /// One delivery.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// Ids of pending deliveries due by `now` whose lease is free, oldest due first.
    pub async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>, StoreError> {
        let ms = now.timestamp_millis();
        let rows = sqlx::query(
            "SELECT id FROM notification_deliveries WHERE status = $1 AND next_attempt_at <= $2 \
             AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY next_attempt_at LIMIT $4",
        )
        .bind(DeliveryStatus::Pending.as_str())
        .bind(ms)
        .bind(ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }

    /// Records how `owner`'s attempt ended and releases the lease; `false`
    /// when the lease was lost (another instance took the delivery over).
    pub async fn finish_delivery(
        &self,
        id: &str,
        owner: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ms = now.timestamp_millis();
        let (status, error, provider_id, next) = match outcome {
            DeliveryOutcome::Sent { provider_id } => (DeliveryStatus::Sent, None, provider_id.as_deref(), ms),
            DeliveryOutcome::Retry { error, next_attempt_at } => {
                (DeliveryStatus::Pending, Some(error.as_str()), None, next_attempt_at.timestamp_millis())
            }
            DeliveryOutcome::Dead { error } => (DeliveryStatus::Dead, Some(error.as_str()), None, ms),
        };
        let result = sqlx::query(
            "UPDATE notification_deliveries SET status = $1, last_error = COALESCE($2, last_error), \
             provider_id = COALESCE($3, provider_id), next_attempt_at = $4, claimed_by = NULL, \
             claimed_until = NULL, updated_at = $5 WHERE id = $6 AND claimed_by = $7 AND status = $8",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(provider_id)
        .bind(next)
        .bind(ms)
        .bind(id)
        .bind(owner)
        .bind(DeliveryStatus::Pending.as_str())
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The deliveries of one session's notifications, oldest first (tests, support).
    pub async fn deliveries_for_session(&self, session_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE session_id = $1 ORDER BY seq, channel"
        ))
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Deliveries per status (for `/api/status`): pending, sent, dead.
    pub async fn delivery_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM notification_deliveries GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        let mut counts = (0, 0, 0);
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match DeliveryStatus::parse(&row.try_get::<String, _>("status")?) {
                Some(DeliveryStatus::Pending) => counts.0 += n,
                Some(DeliveryStatus::Sent) => counts.1 += n,
                Some(DeliveryStatus::Dead) => counts.2 += n,
                None => {}
            }
        }
        Ok(counts)
    }
}

const NOTIFICATION_COLUMNS: &str =
    "session_id, seq, event_id, kind, title, body, booking_id, language, created_at, read_at";

const DELIVERY_COLUMNS: &str = "id, event_id, session_id, seq, channel, message, status, attempts, \
     next_attempt_at, last_error, provider_id, updated_at";

/// One claimed outbox event's writes — the claim, its notification, the
/// notification's deliveries and the mark that it is done — in one
/// transaction: one commit (one fsync of SQLite's WAL) per event instead of
/// four or more, and no half-made notification if the worker stops midway.
/// Dropped without [`finish`], it rolls back: the event stays unclaimed for
/// the next try.
///
/// [`finish`]: EventTransaction::finish
pub struct EventTransaction {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    id: String,
    owner: String,
}

impl std::fmt::Debug for EventTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTransaction").field("id", &self.id).field("owner", &self.owner).finish_non_exhaustive()
    }
}

impl Store {
    /// Claims event `id` for `owner` inside a new transaction; `None` when
    /// it is done or another claimer's lease holds (nothing then stays open).
    /// On PostgreSQL the claim's row lock makes another instance's claim wait
    /// for this commit, after which it finds the event done.
    pub async fn begin_event(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Option<EventTransaction>, StoreError> {
        let mut tx = self.writer().begin().await?;
        if !claim_event_on(&mut tx, id, owner, now, lease).await? {
            return Ok(None);
        }
        Ok(Some(EventTransaction { tx, id: id.to_owned(), owner: owner.to_owned() }))
    }

    /// An outbox event's payload, whatever its state; `None` when unknown.
    pub async fn event_payload(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT payload FROM domain_events WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.map(|row| Ok(row.try_get("payload")?)).transpose()
    }
}

impl EventTransaction {
    /// As [`Store::insert_notification`], inside the transaction.
    pub async fn insert_notification(
        &mut self,
        notification: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<(NotificationRecord, bool), StoreError> {
        insert_numbered(&mut self.tx, notification, now).await
    }

    /// As [`Store::insert_delivery`], inside the transaction.
    pub async fn insert_delivery(&mut self, delivery: &NewDelivery, now: DateTime<Utc>) -> Result<bool, StoreError> {
        insert_delivery_on(&mut self.tx, delivery, now).await
    }

    /// Marks the event processed and commits everything; `false` (and
    /// nothing written) when the lease was lost meanwhile.
    pub async fn finish(mut self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        if !finish_event_on(&mut self.tx, &self.id, &self.owner, now).await? {
            self.tx.rollback().await?;
            return Ok(false);
        }
        self.tx.commit().await?;
        Ok(true)
    }
}

async fn claim_event_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    lease: std::time::Duration,
) -> Result<bool, StoreError> {
    let ms = now.timestamp_millis();
    let claimed = sqlx::query(
        "UPDATE domain_events SET claimed_by = $1, claimed_until = $2 WHERE id = $3 AND processed_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until <= $4)",
    )
    .bind(owner)
    .bind(ms.saturating_add(millis(lease)))
    .bind(id)
    .bind(ms)
    .execute(&mut *conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

async fn finish_event_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE domain_events SET processed_at = $1, claimed_by = NULL, claimed_until = NULL \
         WHERE id = $2 AND claimed_by = $3 AND processed_at IS NULL",
    )
    .bind(now.timestamp_millis())
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// One try at the session's next number; `Conflict` when the number or the
/// event's notification is taken.
async fn insert_notification_on(
    conn: &mut sqlx::AnyConnection,
    notification: &NewNotification,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notifications \
         (session_id, seq, event_id, kind, title, body, booking_id, language, created_at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM notifications \
         WHERE session_id = $9",
    )
    .bind(&notification.session_id)
    .bind(&notification.event_id)
    .bind(&notification.kind)
    .bind(&notification.title)
    .bind(&notification.body)
    .bind(notification.booking_id.as_deref())
    .bind(&notification.language)
    .bind(now.timestamp_millis())
    .bind(&notification.session_id)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Stores `notification` with its session's next number, trying again when a
/// concurrent insert took the number; the stored notification, and whether
/// it is new (`false`: this event's was stored before). Each try is its own
/// transaction, or inside one its own savepoint: a failed statement would
/// otherwise abort a PostgreSQL transaction whole.
async fn insert_numbered(
    conn: &mut sqlx::AnyConnection,
    notification: &NewNotification,
    now: DateTime<Utc>,
) -> Result<(NotificationRecord, bool), StoreError> {
    use sqlx::Connection as _;
    for _ in 0..SEQ_ATTEMPTS {
        let mut attempt = conn.begin().await?;
        match insert_notification_on(&mut attempt, notification, now).await {
            Ok(()) => {
                attempt.commit().await?;
                let stored = notification_for_event_on(conn, &notification.event_id).await?;
                return stored.map(|n| (n, true)).ok_or_else(|| StoreError::Corrupt {
                    column: "notifications.event_id",
                    detail: "an inserted notification cannot be read back".to_owned(),
                });
            }
            Err(StoreError::Conflict(_)) => {
                // Either this event's notification exists (the unique
                // event id), or another insert took the number: look, then retry.
                attempt.rollback().await?;
                if let Some(existing) = notification_for_event_on(conn, &notification.event_id).await? {
                    return Ok((existing, false));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::Conflict("notifications: no free number after repeated attempts".to_owned()))
}

async fn notification_for_event_on(
    conn: &mut sqlx::AnyConnection,
    event_id: &str,
) -> Result<Option<NotificationRecord>, StoreError> {
    let row = sqlx::query(&format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE event_id = $1"))
        .bind(event_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(notification_from_row).transpose()
}

async fn insert_delivery_on(
    conn: &mut sqlx::AnyConnection,
    delivery: &NewDelivery,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let ms = now.timestamp_millis();
    let result = sqlx::query(
        "INSERT INTO notification_deliveries (id, event_id, session_id, seq, channel, message, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10) \
         ON CONFLICT (event_id, channel) DO NOTHING",
    )
    .bind(&delivery.id)
    .bind(&delivery.event_id)
    .bind(&delivery.session_id)
    .bind(delivery.seq)
    .bind(&delivery.channel)
    .bind(&delivery.message)
    .bind(DeliveryStatus::Pending.as_str())
    .bind(ms)
    .bind(ms)
    .bind(ms)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(result.rows_affected() == 1)
}

fn notification_from_row(row: &AnyRow) -> Result<NotificationRecord, StoreError> {
    Ok(NotificationRecord {
        session_id: row.try_get("session_id")?,
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        booking_id: row.try_get("booking_id")?,
        language: row.try_get("language")?,
        created_at: from_millis(row.try_get("created_at")?),
        read_at: opt_millis(row.try_get("read_at")?),
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        session_id: row.try_get("session_id")?,
        seq: row.try_get("seq")?,
        channel: row.try_get("channel")?,
        message: row.try_get("message")?,
        status: super::parsed("notification_deliveries.status", &status, DeliveryStatus::parse)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: from_millis(row.try_get("next_attempt_at")?),
        last_error: row.try_get("last_error")?,
        provider_id: row.try_get("provider_id")?,
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}
