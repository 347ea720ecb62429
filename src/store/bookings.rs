//! Bookings and their travellers in the system of record: insertion in one
//! transaction, reads scoped to the owning session, conditional status and
//! saga-step transitions, and the claims the expiry, expiring-warning and
//! recovery sweepers take so that several instances never work one row at
//! once.
//!
//! Claims are a lease (`claimed_by`, `claimed_until`) set by a conditional
//! `UPDATE` per candidate row: SQLite has no `FOR UPDATE SKIP LOCKED`, and a
//! per-row `UPDATE … WHERE <still due> AND <lease free>` is atomic on both
//! engines, so of two instances racing for a row exactly one sees it affected.
//! Claiming never touches `updated_at`, which keeps meaning "the saga last
//! moved", the clock the recovery sweep reads.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{
    Param, Store, StoreError, bind_all, decimal_from, from_millis, millis, opt_millis, parsed, placeholders,
    write_error,
};
use crate::booking::model::{BookingStatus, SagaStep};
use crate::flights::model::{Money, Offer, OrderContact, OrderTraveler, PassengerType};

/// A new booking id: `bk_` and a time-ordered UUID.
pub fn new_booking_id() -> String {
    format!("bk_{}", uuid::Uuid::now_v7().simple())
}

/// What a booking is created with. It starts `PENDING_PAYMENT`.
#[derive(Debug, Clone)]
pub struct NewBooking {
    /// Its id (see [`new_booking_id`]).
    pub id: String,
    /// The session that owns it.
    pub session_id: String,
    /// The offer booked; its `provider_offer` is kept as the adapter made it.
    pub offer: Offer,
    /// The price confirmed with the provider, for all travellers.
    pub total: Money,
    /// The travellers, in the offer's order. Document numbers are not stored.
    pub travelers: Vec<OrderTraveler>,
    /// Who the airline contacts.
    pub contact: OrderContact,
    /// The language notifications are written in.
    pub language: String,
    /// The first saga step: `HOLD_REQUESTED` when the row is written before
    /// the provider order, `HELD` when after it.
    pub step: SagaStep,
    /// The provider's order id, when the hold exists already.
    pub provider_order_id: Option<String>,
    /// When the hold lapses.
    pub expires_at: DateTime<Utc>,
}

/// What is kept of a traveller's document: not its number (see the migration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSummary {
    /// Last day it is valid.
    pub expiry_date: NaiveDate,
    /// ISO 3166-1 alpha-2 country that issued it.
    pub issuing_country: String,
    /// ISO 3166-1 alpha-2 nationality of its holder.
    pub nationality: String,
}

/// A stored traveller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TravelerRecord {
    /// Given name(s).
    pub first_name: String,
    /// Family name(s).
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Adult, child or infant.
    pub kind: PassengerType,
    /// The document they fly on, without its number.
    pub document: Option<DocumentSummary>,
}

/// A stored booking with its travellers.
#[derive(Debug, Clone)]
pub struct BookingRecord {
    /// Its id.
    pub id: String,
    /// The owning session.
    pub session_id: String,
    /// Where it stands for the client.
    pub status: BookingStatus,
    /// The saga's recovery point.
    pub step: SagaStep,
    /// The offer as booked, `provider_offer` included.
    pub offer: Offer,
    /// The total, exact.
    pub total: Money,
    /// The provider's order id, once held.
    pub provider_order_id: Option<String>,
    /// The airline's booking reference (PNR), once confirmed.
    pub reference: Option<String>,
    /// Who the airline contacts.
    pub contact: OrderContact,
    /// The language notifications are written in.
    pub language: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last status or step change.
    pub updated_at: DateTime<Utc>,
    /// When the hold lapses.
    pub expires_at: DateTime<Utc>,
    /// When the `BOOKING_EXPIRING` warning was claimed.
    pub expiring_notified_at: Option<DateTime<Utc>>,
    /// Who holds the lease, if anyone ever did.
    pub claimed_by: Option<String>,
    /// Until when.
    pub claimed_until: Option<DateTime<Utc>>,
    /// Bumped by every change.
    pub version: i64,
    /// In order.
    pub travelers: Vec<TravelerRecord>,
}

/// What a transition requires of the row; empty lists allow any value.
#[derive(Debug, Clone, Copy, Default)]
pub struct BookingGuard<'a> {
    /// The row's status must be one of these.
    pub statuses: &'a [BookingStatus],
    /// The row's step must be one of these.
    pub steps: &'a [SagaStep],
    /// The row's lease must be held by this owner (a fencing check for sweepers).
    pub claimed_by: Option<&'a str>,
    /// The hold must not have lapsed at this time (`expires_at > t`).
    pub unexpired_at: Option<DateTime<Utc>>,
}

/// What a transition changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct BookingChange {
    /// New status.
    pub status: Option<BookingStatus>,
    /// New saga step.
    pub step: Option<SagaStep>,
    /// The provider's order id.
    pub provider_order_id: Option<String>,
    /// The booking reference.
    pub reference: Option<String>,
    /// A new hold expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Clear the lease.
    pub release_claim: bool,
}

const BOOKING_COLUMNS: &str = "id, session_id, status, step, provider_offer, offer_snapshot, total_amount, currency, \
     provider_order_id, reference, contact_email, contact_phone, language, created_at, updated_at, expires_at, \
     expiring_notified_at, claimed_by, claimed_until, version";

/// The guard's SQL (` AND …`) with its parameters numbered from `next`.
fn guard_sql(guard: &BookingGuard<'_>, next: &mut usize, params: &mut Vec<Param>) -> String {
    let mut sql = String::new();
    if !guard.statuses.is_empty() {
        sql.push_str(&format!(" AND status IN ({})", placeholders(*next, guard.statuses.len())));
        *next += guard.statuses.len();
        params.extend(guard.statuses.iter().map(|s| Param::Text(s.as_str().to_owned())));
    }
    if !guard.steps.is_empty() {
        sql.push_str(&format!(" AND step IN ({})", placeholders(*next, guard.steps.len())));
        *next += guard.steps.len();
        params.extend(guard.steps.iter().map(|s| Param::Text(s.as_str().to_owned())));
    }
    if let Some(owner) = guard.claimed_by {
        sql.push_str(&format!(" AND claimed_by = ${next}"));
        *next += 1;
        params.push(Param::Text(owner.to_owned()));
    }
    if let Some(at) = guard.unexpired_at {
        sql.push_str(&format!(" AND expires_at > ${next}"));
        *next += 1;
        params.push(Param::Int(at.timestamp_millis()));
    }
    sql
}

/// Which rows a sweeper claims.
enum Due {
    /// Held, unpaid, past `expires_at`.
    Expired { now: i64 },
    /// In an in-flight step not moved since `stale_before`.
    Stuck { stale_before: i64 },
}

impl Due {
    /// The predicate with its parameters numbered from `next`.
    fn sql(&self, next: usize) -> (String, Vec<Param>) {
        match self {
            Self::Expired { now } => (
                format!("status = ${} AND step = ${} AND expires_at <= ${}", next, next + 1, next + 2),
                vec![
                    Param::Text(BookingStatus::PendingPayment.as_str().to_owned()),
                    Param::Text(SagaStep::Held.as_str().to_owned()),
                    Param::Int(*now),
                ],
            ),
            Self::Stuck { stale_before } => {
                let steps = SagaStep::IN_FLIGHT;
                let mut params: Vec<Param> = steps.iter().map(|s| Param::Text(s.as_str().to_owned())).collect();
                params.push(Param::Int(*stale_before));
                (
                    format!("step IN ({}) AND updated_at <= ${}", placeholders(next, steps.len()), next + steps.len()),
                    params,
                )
            }
        }
    }

    fn order(&self) -> &'static str {
        match self {
            Self::Expired { .. } => "expires_at, id",
            Self::Stuck { .. } => "updated_at, id",
        }
    }
}

impl Store {
    /// Stores a booking and its travellers in one transaction.
    pub async fn insert_booking(&self, booking: &NewBooking, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.insert_booking_leased(booking, None, now).await
    }

    /// Stores a booking already leased to `owner` until `now + lease`: the
    /// caller goes on to work on it (the hold), and the lease is part of the
    /// insert's commit instead of a commit of its own.
    pub async fn insert_claimed_booking(
        &self,
        booking: &NewBooking,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let until = now.timestamp_millis().saturating_add(millis(lease));
        self.insert_booking_leased(booking, Some((owner, until)), now).await
    }

    async fn insert_booking_leased(
        &self,
        booking: &NewBooking,
        lease: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut snapshot = booking.offer.clone();
        let provider_offer = std::mem::take(&mut snapshot.provider_offer);
        let snapshot_json = serde_json::to_string(&snapshot)
            .map_err(|e| StoreError::Corrupt { column: "offer_snapshot", detail: e.to_string() })?;
        let provider_offer_json = serde_json::to_string(&provider_offer)
            .map_err(|e| StoreError::Corrupt { column: "provider_offer", detail: e.to_string() })?;
        let ms = now.timestamp_millis();
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO bookings (id, session_id, status, step, offer_id, provider, provider_offer, offer_snapshot, \
             total_amount, currency, provider_order_id, reference, contact_email, contact_phone, language, \
             created_at, updated_at, expires_at, expiring_notified_at, claimed_by, claimed_until, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13, $14, $15, $16, $17, NULL, $18, $19, 0)",
        )
        .bind(booking.id.as_str())
        .bind(booking.session_id.as_str())
        .bind(BookingStatus::PendingPayment.as_str())
        .bind(booking.step.as_str())
        .bind(booking.offer.id.as_str())
        .bind(booking.offer.provider.as_str())
        .bind(provider_offer_json)
        .bind(snapshot_json)
        .bind(booking.total.amount.to_string())
        .bind(booking.total.currency.as_str())
        .bind(booking.provider_order_id.clone())
        .bind(booking.contact.email.as_str())
        .bind(booking.contact.phone.clone())
        .bind(booking.language.as_str())
        .bind(ms)
        .bind(ms)
        .bind(booking.expires_at.timestamp_millis())
        .bind(lease.map(|(owner, _)| owner))
        .bind(lease.map(|(_, until_ms)| until_ms))
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        for (position, traveler) in booking.travelers.iter().enumerate() {
            let document = traveler.document.as_ref();
            sqlx::query(
                "INSERT INTO travelers (booking_id, position, first_name, last_name, date_of_birth, passenger_type, \
                 document_expiry, document_issuing_country, document_nationality) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(booking.id.as_str())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(traveler.first_name.as_str())
            .bind(traveler.last_name.as_str())
            .bind(traveler.date_of_birth.to_string())
            .bind(passenger_type_name(traveler.kind))
            .bind(document.map(|d| d.expiry_date.to_string()))
            .bind(document.map(|d| d.issuing_country.clone()))
            .bind(document.map(|d| d.nationality.clone()))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The booking `id` if `session_id` owns it; `None` for another session's
    /// id exactly as for an unknown one.
    pub async fn booking_for_session(&self, session_id: &str, id: &str) -> Result<Option<BookingRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 AND session_id = $2"))
            .bind(id)
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        self.with_travelers(row.into_iter().collect()).await.map(|mut found| found.pop())
    }

    /// The booking `id` whoever owns it, for sweepers and webhooks.
    pub async fn booking(&self, id: &str) -> Result<Option<BookingRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        self.with_travelers(row.into_iter().collect()).await.map(|mut found| found.pop())
    }

    /// A session's bookings, newest first.
    pub async fn bookings_for_session(&self, session_id: &str) -> Result<Vec<BookingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE session_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        self.with_travelers(rows).await
    }

    /// Applies `change` if the row passes `guard`; `true` when this call won.
    /// Of concurrent transitions from one state only one sees `true`.
    pub async fn transition_booking(
        &self,
        id: &str,
        guard: &BookingGuard<'_>,
        change: &BookingChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let release = i64::from(change.release_claim);
        let mut params = vec![
            Param::Text(id.to_owned()),
            Param::Int(now.timestamp_millis()),
            Param::Int(release),
            Param::Int(release),
        ];
        let mut sets = String::from(
            "updated_at = $2, version = version + 1, \
             claimed_by = CASE WHEN $3 = 1 THEN NULL ELSE claimed_by END, \
             claimed_until = CASE WHEN $4 = 1 THEN NULL ELSE claimed_until END",
        );
        let mut next = 5;
        let mut set = |column: &str, value: Param| {
            sets.push_str(&format!(", {column} = ${next}"));
            next += 1;
            params.push(value);
        };
        if let Some(status) = change.status {
            set("status", Param::Text(status.as_str().to_owned()));
        }
        if let Some(step) = change.step {
            set("step", Param::Text(step.as_str().to_owned()));
        }
        if let Some(order) = &change.provider_order_id {
            set("provider_order_id", Param::Text(order.clone()));
        }
        if let Some(reference) = &change.reference {
            set("reference", Param::Text(reference.clone()));
        }
        if let Some(expires_at) = change.expires_at {
            set("expires_at", Param::Int(expires_at.timestamp_millis()));
        }
        let guard = guard_sql(guard, &mut next, &mut params);
        let sql = format!("UPDATE bookings SET {sets} WHERE id = $1{guard}");
        let result = bind_all(sqlx::query(&sql), &params).execute(self.writer()).await.map_err(write_error)?;
        Ok(result.rows_affected() == 1)
    }

    /// `HOLD_REQUESTED` → `HELD` with the provider's order id and hold
    /// expiry, by `owner` (whose lease must still be on it), releasing the
    /// lease in the same write.
    pub async fn mark_booking_held(
        &self,
        id: &str,
        provider_order_id: &str,
        expires_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let guard = BookingGuard {
            statuses: &[BookingStatus::PendingPayment],
            steps: &[SagaStep::HoldRequested],
            claimed_by: Some(owner),
            ..BookingGuard::default()
        };
        let change = BookingChange {
            step: Some(SagaStep::Held),
            provider_order_id: Some(provider_order_id.to_owned()),
            expires_at: Some(expires_at),
            release_claim: true,
            ..BookingChange::default()
        };
        self.transition_booking(id, &guard, &change, now).await
    }

    /// `PENDING_PAYMENT` at `CONFIRM_REQUESTED` → `CONFIRMED` with its
    /// reference, saga done, lease released.
    pub async fn confirm_booking(&self, id: &str, reference: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let guard = BookingGuard {
            statuses: &[BookingStatus::PendingPayment],
            steps: &[SagaStep::ConfirmRequested],
            ..BookingGuard::default()
        };
        let change = BookingChange {
            status: Some(BookingStatus::Confirmed),
            step: Some(SagaStep::Done),
            reference: Some(reference.to_owned()),
            release_claim: true,
            ..BookingChange::default()
        };
        self.transition_booking(id, &guard, &change, now).await
    }

    /// A live booking (`PENDING_PAYMENT` or `CONFIRMED`) at one of `from_steps`
    /// → the final status `to` (`CANCELLED`, `EXPIRED`, `FAILED`), saga done,
    /// lease released.
    pub async fn settle_booking(
        &self,
        id: &str,
        from_steps: &[SagaStep],
        to: BookingStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let guard = BookingGuard {
            statuses: &[BookingStatus::PendingPayment, BookingStatus::Confirmed],
            steps: from_steps,
            ..BookingGuard::default()
        };
        let change = BookingChange {
            status: Some(to),
            step: Some(SagaStep::Done),
            release_claim: true,
            ..BookingChange::default()
        };
        self.transition_booking(id, &guard, &change, now).await
    }

    /// Takes (or renews) the lease on one booking for `owner`; `false` when
    /// another owner holds an unexpired lease.
    pub async fn claim_booking(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let ms = now.timestamp_millis();
        let result = sqlx::query(
            "UPDATE bookings SET claimed_by = $1, claimed_until = $2 WHERE id = $3 \
             AND (claimed_until IS NULL OR claimed_until <= $4 OR claimed_by = $5)",
        )
        .bind(owner)
        .bind(ms.saturating_add(millis(lease)))
        .bind(id)
        .bind(ms)
        .bind(owner)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives up `owner`'s lease on a booking; `false` when it held none.
    pub async fn release_booking(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE bookings SET claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(self.writer())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Leases up to `limit` held, unpaid bookings whose hold lapsed by `now`
    /// to `owner` for `lease`, and returns them. Each booking goes to one
    /// claimant however many instances call this at once.
    pub async fn claim_expired(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        self.claim_due(Due::Expired { now: now.timestamp_millis() }, now, limit, owner, lease).await
    }

    /// Leases up to `limit` bookings resting in an in-flight saga step
    /// ([`SagaStep::IN_FLIGHT`]) since `stale_before` or earlier, whose lease
    /// is free or lapsed, for the recovery sweep.
    pub async fn claim_stuck(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        self.claim_due(Due::Stuck { stale_before: stale_before.timestamp_millis() }, now, limit, owner, lease).await
    }

    async fn claim_due(
        &self,
        due: Due,
        now: DateTime<Utc>,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        let ms = now.timestamp_millis();
        let (predicate, mut params) = due.sql(1);
        let free = params.len() + 1;
        params.push(Param::Int(ms));
        let candidates = bind_all(
            sqlx::query(&format!(
                "SELECT id FROM bookings WHERE {predicate} AND (claimed_until IS NULL OR claimed_until <= ${free}) \
                 ORDER BY {} LIMIT {limit}",
                due.order()
            )),
            &params,
        )
        .fetch_all(&self.pool)
        .await?;
        let (predicate, predicate_params) = due.sql(4);
        let free = predicate_params.len() + 4;
        let claim = format!(
            "UPDATE bookings SET claimed_by = $1, claimed_until = $2 WHERE id = $3 AND {predicate} \
             AND (claimed_until IS NULL OR claimed_until <= ${free})"
        );
        let mut won = Vec::new();
        for row in candidates {
            let id: String = row.try_get("id")?;
            let mut params = vec![
                Param::Text(owner.to_owned()),
                Param::Int(ms.saturating_add(millis(lease))),
                Param::Text(id.clone()),
            ];
            params.extend(predicate_params.iter().cloned());
            params.push(Param::Int(ms));
            if bind_all(sqlx::query(&claim), &params).execute(self.writer()).await?.rows_affected() == 1 {
                won.push(id);
            }
        }
        self.bookings_by_ids(&won).await
    }

    /// Marks the `BOOKING_EXPIRING` warning as due for up to `limit` held,
    /// unpaid bookings whose hold lapses after `now` but by `horizon`, and
    /// returns them; each booking is returned once, ever, across instances.
    pub async fn claim_expiring(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        let ms = now.timestamp_millis();
        let predicate = "status = $1 AND step = $2 AND expires_at > $3 AND expires_at <= $4 \
                         AND expiring_notified_at IS NULL";
        let candidates =
            sqlx::query(&format!("SELECT id FROM bookings WHERE {predicate} ORDER BY expires_at, id LIMIT {limit}"))
                .bind(BookingStatus::PendingPayment.as_str())
                .bind(SagaStep::Held.as_str())
                .bind(ms)
                .bind(horizon.timestamp_millis())
                .fetch_all(&self.pool)
                .await?;
        let mut won = Vec::new();
        for row in candidates {
            let id: String = row.try_get("id")?;
            let result = sqlx::query(
                "UPDATE bookings SET expiring_notified_at = $1 WHERE id = $2 AND status = $3 AND step = $4 \
                 AND expires_at > $5 AND expires_at <= $6 AND expiring_notified_at IS NULL",
            )
            .bind(ms)
            .bind(id.as_str())
            .bind(BookingStatus::PendingPayment.as_str())
            .bind(SagaStep::Held.as_str())
            .bind(ms)
            .bind(horizon.timestamp_millis())
            .execute(self.writer())
            .await?;
            if result.rows_affected() == 1 {
                won.push(id);
            }
        }
        self.bookings_by_ids(&won).await
    }

    /// The bookings with these ids, in the given order.
    async fn bookings_by_ids(&self, ids: &[String]) -> Result<Vec<BookingRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<Param> = ids.iter().map(|id| Param::Text(id.clone())).collect();
        let sql = format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id IN ({})", placeholders(1, ids.len()));
        let rows = bind_all(sqlx::query(&sql), &params).fetch_all(&self.pool).await?;
        let mut found = self.with_travelers(rows).await?;
        found.sort_by_key(|b| ids.iter().position(|id| *id == b.id));
        Ok(found)
    }

    /// Decodes booking rows and attaches their travellers (one query for all).
    async fn with_travelers(&self, rows: Vec<AnyRow>) -> Result<Vec<BookingRecord>, StoreError> {
        let mut bookings = rows.iter().map(booking_from_row).collect::<Result<Vec<_>, _>>()?;
        if bookings.is_empty() {
            return Ok(bookings);
        }
        let params: Vec<Param> = bookings.iter().map(|b| Param::Text(b.id.clone())).collect();
        let sql = format!(
            "SELECT booking_id, position, first_name, last_name, date_of_birth, passenger_type, document_expiry, \
             document_issuing_country, document_nationality FROM travelers WHERE booking_id IN ({}) \
             ORDER BY booking_id, position",
            placeholders(1, params.len())
        );
        for row in bind_all(sqlx::query(&sql), &params).fetch_all(&self.pool).await? {
            let booking_id: String = row.try_get("booking_id")?;
            let traveler = traveler_from_row(&row)?;
            if let Some(booking) = bookings.iter_mut().find(|b| b.id == booking_id) {
                booking.travelers.push(traveler);
            }
        }
        Ok(bookings)
    }
}

fn passenger_type_name(kind: PassengerType) -> &'static str {
    match kind {
        PassengerType::Adult => "ADULT",
        PassengerType::Child => "CHILD",
        PassengerType::Infant => "INFANT",
    }
}

fn passenger_type_of(name: &str) -> Option<PassengerType> {
    match name {
        "ADULT" => Some(PassengerType::Adult),
        "CHILD" => Some(PassengerType::Child),
        "INFANT" => Some(PassengerType::Infant),
        _ => None,
    }
}

fn date_from(column: &'static str, text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::Corrupt { column, detail: e.to_string() })
}

fn json_from<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { column, detail: e.to_string() })
}

fn booking_from_row(row: &AnyRow) -> Result<BookingRecord, StoreError> {
    let mut offer: Offer = json_from("offer_snapshot", &row.try_get::<String, _>("offer_snapshot")?)?;
    offer.provider_offer = json_from("provider_offer", &row.try_get::<String, _>("provider_offer")?)?;
    Ok(BookingRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        status: parsed("status", &row.try_get::<String, _>("status")?, BookingStatus::parse)?,
        step: parsed("step", &row.try_get::<String, _>("step")?, SagaStep::parse)?,
        offer,
        total: Money {
            amount: decimal_from("total_amount", &row.try_get::<String, _>("total_amount")?)?,
            currency: row.try_get("currency")?,
        },
        provider_order_id: row.try_get("provider_order_id")?,
        reference: row.try_get("reference")?,
        contact: OrderContact { email: row.try_get("contact_email")?, phone: row.try_get("contact_phone")? },
        language: row.try_get("language")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        expires_at: from_millis(row.try_get("expires_at")?),
        expiring_notified_at: opt_millis(row.try_get("expiring_notified_at")?),
        claimed_by: row.try_get("claimed_by")?,
        claimed_until: opt_millis(row.try_get("claimed_until")?),
        version: row.try_get("version")?,
        travelers: Vec::new(),
    })
}

fn traveler_from_row(row: &AnyRow) -> Result<TravelerRecord, StoreError> {
    let expiry: Option<String> = row.try_get("document_expiry")?;
    let issuing: Option<String> = row.try_get("document_issuing_country")?;
    let nationality: Option<String> = row.try_get("document_nationality")?;
    let document = match (expiry, issuing, nationality) {
        (Some(expiry), Some(issuing_country), Some(nationality)) => {
            Some(DocumentSummary { expiry_date: date_from("document_expiry", &expiry)?, issuing_country, nationality })
        }
        _ => None,
    };
    Ok(TravelerRecord {
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        date_of_birth: date_from("date_of_birth", &row.try_get::<String, _>("date_of_birth")?)?,
        kind: parsed("passenger_type", &row.try_get::<String, _>("passenger_type")?, passenger_type_of)?,
        document,
    })
}
