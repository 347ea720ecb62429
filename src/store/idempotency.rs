//! Client idempotency keys (the pattern of `reference/reliability.md` §B2)
//! and payment webhook events, both kept in the system of record rather than
//! Redis, whose keys can expire or be lost mid-request.
//!
//! A key is scoped to a session and carries a fingerprint of the request it
//! was first used with, a recovery point, a lock (owner and time) while a
//! request works under it, and the stored response once it finished. The
//! first claim is an `INSERT … ON CONFLICT DO NOTHING`, so of any number of
//! concurrent claims exactly one creates the row; the rest read it and learn
//! whether to replay, wait, refuse a mismatch, or take over a stale lock.
//! Webhook events work alike: the first delivery of an event id claims it,
//! and only a lapsed claim on an unprocessed event lets a redelivery in.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;

use super::payments::KeyLock;
use super::{Store, StoreError, millis, parsed};

/// Keys are kept at least this long (the contract's 24 h).
pub const MIN_KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How far the request running under a key got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecoveryPoint {
    /// Claimed; nothing irreversible done yet. Only here may a key be released.
    Started,
    /// The charge was requested from the gateway (a `PROCESSING` payment
    /// carries this key); a resumed request repeats it with the payment's
    /// gateway idempotency key.
    ChargeRequested,
    /// Finished; the stored response is replayed.
    Finished,
}

impl RecoveryPoint {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::ChargeRequested => "CHARGE_REQUESTED",
            Self::Finished => "FINISHED",
        }
    }

    /// The point named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Started, Self::ChargeRequested, Self::Finished].into_iter().find(|p| p.as_str() == name)
    }
}

/// The response a finished request stored, replayed verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// An HTTP-like status (200 for a result, 4xx/5xx for a stored error).
    pub status: u16,
    /// The response body.
    pub body: serde_json::Value,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyClaim {
    /// The key is new and now locked by the caller: run the request.
    New,
    /// The key's earlier request stopped at this point without finishing and
    /// its lock lapsed (or was released); the caller holds the lock now and
    /// continues from there.
    Resume(RecoveryPoint),
    /// Another request holds the key's lock: tell the client to retry later.
    InProgress,
    /// The request finished before: return this again.
    Replay(StoredResponse),
    /// The key was used with a different request (`IDEMPOTENCY_KEY_REUSED`).
    Mismatch,
}

/// The SHA-256 (hex) of an operation name and its input as canonical JSON
/// (object keys sorted at every level), so equal inputs match whatever order
/// their fields came in.
pub fn request_fingerprint(operation: &str, input: &serde_json::Value) -> String {
    let mut canonical = String::new();
    write_canonical(input, &mut canonical);
    let mut hash = Sha256::new();
    hash.update(operation.as_bytes());
    hash.update([0]);
    hash.update(canonical.as_bytes());
    hex::encode(hash.finalize())
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// Moves a locked key's recovery point, on `conn` (so inside a caller's transaction).
pub(super) async fn set_recovery_point_on(
    conn: &mut sqlx::AnyConnection,
    lock: KeyLock<'_>,
    point: RecoveryPoint,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE idempotency_keys SET recovery_point = $1, updated_at = $2 \
         WHERE session_id = $3 AND idempotency_key = $4 AND locked_by = $5 AND response_body IS NULL",
    )
    .bind(point.as_str())
    .bind(now.timestamp_millis())
    .bind(lock.session_id)
    .bind(lock.key)
    .bind(lock.owner)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

impl Store {
    /// Claims `lock.key` in `lock.session_id`'s scope for `lock.owner`, for a
    /// request whose [`request_fingerprint`] is `fingerprint`. A lock older
    /// than `lock_timeout` counts as abandoned and is taken over.
    pub async fn claim_key(
        &self,
        lock: KeyLock<'_>,
        fingerprint: &str,
        now: DateTime<Utc>,
        lock_timeout: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let ms = now.timestamp_millis();
        let stale = ms.saturating_sub(millis(lock_timeout));
        // Each round either decides or saw the row change under it (purged,
        // finished or taken over meanwhile); a few rounds settle any race.
        for _ in 0..4 {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (session_id, idempotency_key, fingerprint, recovery_point, locked_by, \
                 locked_at, response_status, response_body, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $8) \
                 ON CONFLICT (session_id, idempotency_key) DO NOTHING",
            )
            .bind(lock.session_id)
            .bind(lock.key)
            .bind(fingerprint)
            .bind(RecoveryPoint::Started.as_str())
            .bind(lock.owner)
            .bind(ms)
            .bind(ms)
            .bind(ms)
            .execute(self.writer())
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(KeyClaim::New);
            }
            let Some(row) = sqlx::query(
                "SELECT fingerprint, recovery_point, locked_by, locked_at, response_status, response_body \
                 FROM idempotency_keys WHERE session_id = $1 AND idempotency_key = $2",
            )
            .bind(lock.session_id)
            .bind(lock.key)
            .fetch_optional(&self.pool)
            .await?
            else {
                continue;
            };
            if row.try_get::<String, _>("fingerprint")? != fingerprint {
                return Ok(KeyClaim::Mismatch);
            }
            let status: Option<i64> = row.try_get("response_status")?;
            let body: Option<String> = row.try_get("response_body")?;
            if let (Some(status), Some(body)) = (status, body) {
                return Ok(KeyClaim::Replay(StoredResponse {
                    status: u16::try_from(status)
                        .map_err(|e| StoreError::Corrupt { column: "response_status", detail: e.to_string() })?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Corrupt { column: "response_body", detail: e.to_string() })?,
                }));
            }
            let locked_by: Option<String> = row.try_get("locked_by")?;
            let locked_at: Option<i64> = row.try_get("locked_at")?;
            if locked_at.is_some_and(|at| at > stale) && locked_by.as_deref() != Some(lock.owner) {
                return Ok(KeyClaim::InProgress);
            }
            let point = parsed("recovery_point", &row.try_get::<String, _>("recovery_point")?, RecoveryPoint::parse)?;
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET locked_by = $1, locked_at = $2, updated_at = $3 \
                 WHERE session_id = $4 AND idempotency_key = $5 AND response_body IS NULL AND recovery_point = $6 \
                 AND (locked_at IS NULL OR locked_at <= $7 OR locked_by = $8)",
            )
            .bind(lock.owner)
            .bind(ms)
            .bind(ms)
            .bind(lock.session_id)
            .bind(lock.key)
            .bind(point.as_str())
            .bind(stale)
            .bind(lock.owner)
            .execute(self.writer())
            .await?;
            if taken.rows_affected() == 1 {
                return Ok(KeyClaim::Resume(point));
            }
        }
        Ok(KeyClaim::InProgress)
    }

    /// Moves the recovery point of a key `lock.owner` holds; `false` when the
    /// lock is no longer theirs or the key finished.
    pub async fn set_recovery_point(
        &self,
        lock: KeyLock<'_>,
        point: RecoveryPoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer().acquire().await?;
        set_recovery_point_on(&mut conn, lock, point, now).await
    }

    /// Stores the response of the request `lock.owner` ran under the key and
    /// unlocks it; later claims replay it. `false` when the lock was lost.
    pub async fn finish_key(
        &self,
        lock: KeyLock<'_>,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(&response.body)
            .map_err(|e| StoreError::Corrupt { column: "response_body", detail: e.to_string() })?;
        let result = sqlx::query(
            "UPDATE idempotency_keys SET response_status = $1, response_body = $2, recovery_point = $3, \
             locked_by = NULL, locked_at = NULL, updated_at = $4 \
             WHERE session_id = $5 AND idempotency_key = $6 AND locked_by = $7 AND response_body IS NULL",
        )
        .bind(i64::from(response.status))
        .bind(body)
        .bind(RecoveryPoint::Finished.as_str())
        .bind(now.timestamp_millis())
        .bind(lock.session_id)
        .bind(lock.key)
        .bind(lock.owner)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Forgets a key whose request failed before anything irreversible (still
    /// `STARTED`), so the client may retry it with any input. `false` — and
    /// the key kept — when past `STARTED`, finished, or not `lock.owner`'s.
    pub async fn release_key(&self, lock: KeyLock<'_>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "DELETE FROM idempotency_keys WHERE session_id = $1 AND idempotency_key = $2 AND locked_by = $3 \
             AND response_body IS NULL AND recovery_point = $4",
        )
        .bind(lock.session_id)
        .bind(lock.key)
        .bind(lock.owner)
        .bind(RecoveryPoint::Started.as_str())
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Drops `lock.owner`'s lock but keeps the key and its recovery point, so
    /// a retry with the same input resumes at once instead of waiting for the
    /// lock to go stale.
    pub async fn unlock_key(&self, lock: KeyLock<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE idempotency_keys SET locked_by = NULL, locked_at = NULL, updated_at = $1 \
             WHERE session_id = $2 AND idempotency_key = $3 AND locked_by = $4 AND response_body IS NULL",
        )
        .bind(now.timestamp_millis())
        .bind(lock.session_id)
        .bind(lock.key)
        .bind(lock.owner)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes keys created more than `retention` before `now` (never less
    /// than [`MIN_KEY_RETENTION`]); returns how many.
    pub async fn purge_idempotency_keys(&self, now: DateTime<Utc>, retention: Duration) -> Result<u64, StoreError> {
        let cutoff = now.timestamp_millis().saturating_sub(millis(retention.max(MIN_KEY_RETENTION)));
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(self.writer())
            .await?;
        Ok(result.rows_affected())
    }

    /// Claims webhook event `id` for processing for `lease`: `true` for its
    /// first delivery, or for a redelivery of an event whose earlier claim
    /// lapsed unprocessed; `false` when processed or being processed. Call
    /// [`Store::mark_webhook_event_processed`] after processing.
    pub async fn claim_webhook_event(
        &self,
        id: &str,
        event_type: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let ms = now.timestamp_millis();
        let until = ms.saturating_add(millis(lease));
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (id, event_type, received_at, claimed_until, processed_at) \
             VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(event_type)
        .bind(ms)
        .bind(until)
        .execute(self.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        let taken = sqlx::query(
            "UPDATE webhook_events SET claimed_until = $1 WHERE id = $2 AND processed_at IS NULL \
             AND (claimed_until IS NULL OR claimed_until <= $3)",
        )
        .bind(until)
        .bind(id)
        .bind(ms)
        .execute(self.writer())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Marks a claimed webhook event processed; later deliveries are ignored.
    pub async fn mark_webhook_event_processed(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE webhook_events SET processed_at = $1, claimed_until = NULL WHERE id = $2 AND processed_at IS NULL",
        )
        .bind(now.timestamp_millis())
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives up the claim on an unprocessed webhook event after a failure, so
    /// the provider's next delivery processes it.
    pub async fn release_webhook_event(&self, id: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE webhook_events SET claimed_until = NULL WHERE id = $1 AND processed_at IS NULL")
                .bind(id)
                .execute(self.writer())
                .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_but_not_values_or_operation() {
        let a = serde_json::json!({ "bookingId": "bk_1", "paymentMethod": "pm_card_visa", "nested": { "b": 1, "a": [1, 2] } });
        let b = serde_json::json!({ "nested": { "a": [1, 2], "b": 1 }, "paymentMethod": "pm_card_visa", "bookingId": "bk_1" });
        let c = serde_json::json!({ "bookingId": "bk_1", "paymentMethod": "pm_card_mastercard", "nested": { "b": 1, "a": [1, 2] } });
        assert_eq!(request_fingerprint("payForBooking", &a), request_fingerprint("payForBooking", &b));
        assert_ne!(request_fingerprint("payForBooking", &a), request_fingerprint("payForBooking", &c));
        assert_ne!(request_fingerprint("payForBooking", &a), request_fingerprint("cancelBooking", &a));
        assert_eq!(request_fingerprint("x", &a).len(), 64);
    }

    #[test]
    fn recovery_points_round_trip() {
        for point in [RecoveryPoint::Started, RecoveryPoint::ChargeRequested, RecoveryPoint::Finished] {
            assert_eq!(RecoveryPoint::parse(point.as_str()), Some(point));
        }
    }
}
