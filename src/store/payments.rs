//! Payments and refunds in the system of record, and the charge's atomic
//! phases: the local writes around one gateway call made in one transaction
//! each, so the booking's saga step, the payment row and the idempotency
//! key's recovery point never disagree.
//!
//! Two unique indexes are the backstop the services build on: at most one
//! `SUCCEEDED` payment per booking (a payment link and a direct payment can
//! never both stand as the booking's charge) and at most one refund that is
//! not `FAILED` per payment (refunds are whole). A write they refuse is
//! [`StoreError::Conflict`].

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::idempotency::RecoveryPoint;
use super::{Param, Store, StoreError, bind_all, decimal_from, from_millis, parsed, placeholders, write_error};
use crate::booking::model::{BookingStatus, PaymentStatus, RefundStatus, SagaStep};
use crate::flights::model::Money;

/// A new payment id: `pay_` and a time-ordered UUID.
pub fn new_payment_id() -> String {
    format!("pay_{}", uuid::Uuid::now_v7().simple())
}

/// A new refund id: `re_` and a time-ordered UUID.
pub fn new_refund_id() -> String {
    format!("re_{}", uuid::Uuid::now_v7().simple())
}

/// What a payment is created with.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// Its id (see [`new_payment_id`]); also the base of the gateway idempotency key.
    pub id: String,
    /// The booking paid for.
    pub booking_id: String,
    /// The session paying.
    pub session_id: String,
    /// Its first status: `PROCESSING` before a direct charge, or the outcome a
    /// webhook reported for a payment link.
    pub status: PaymentStatus,
    /// The amount, exact.
    pub amount: Money,
    /// The payment-method token (`pm_card_visa`) or `payment_link`. The
    /// caller has refused anything that looks like a card number.
    pub method: String,
    /// The gateway's id, when known already.
    pub gateway_payment_id: Option<String>,
    /// The gateway's decline code, for a payment created `DECLINED`.
    pub decline_code: Option<String>,
    /// The client idempotency key (in `session_id`'s scope) that started it.
    pub idempotency_key: Option<String>,
}

/// A stored payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Its id.
    pub id: String,
    /// The booking paid for.
    pub booking_id: String,
    /// The session that paid.
    pub session_id: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The amount, exact.
    pub amount: Money,
    /// The payment-method token or `payment_link`.
    pub method: String,
    /// The gateway's id.
    pub gateway_payment_id: Option<String>,
    /// Why the gateway declined it.
    pub decline_code: Option<String>,
    /// The client idempotency key that started it.
    pub idempotency_key: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a payment update changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct PaymentChange {
    /// The gateway's id.
    pub gateway_payment_id: Option<String>,
    /// The decline code.
    pub decline_code: Option<String>,
}

/// What a refund is created with; it starts `PENDING`.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// Its id (see [`new_refund_id`]); also the base of the gateway idempotency key.
    pub id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// Its booking.
    pub booking_id: String,
    /// The amount: the payment's, refunds being whole.
    pub amount: Money,
}

/// A stored refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    /// Its id.
    pub id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// Its booking.
    pub booking_id: String,
    /// Where it stands.
    pub status: RefundStatus,
    /// The amount, exact.
    pub amount: Money,
    /// The gateway's id.
    pub gateway_refund_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The client idempotency key a charge runs under, and who holds its lock.
#[derive(Debug, Clone, Copy)]
pub struct KeyLock<'a> {
    /// The key's session scope.
    pub session_id: &'a str,
    /// The key.
    pub key: &'a str,
    /// The lock owner that claimed it.
    pub owner: &'a str,
}

/// How [`Store::begin_charge`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeStart {
    /// The booking is `CHARGE_REQUESTED`, the payment `PROCESSING`, and the
    /// key (if any) at `CHARGE_REQUESTED`: make the gateway call now.
    Started,
    /// The booking is not `PENDING_PAYMENT` at `HELD` with an unexpired hold
    /// (already being charged, paid, expired, cancelled); nothing was written.
    NotPayable,
    /// The idempotency key's lock is no longer this owner's; nothing was written.
    KeyLockLost,
}

/// How [`Store::record_external_charge`] went; the payment is stored in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalCharge {
    /// The booking was held and is `CHARGED` now: confirm it with the provider.
    Applied,
    /// The booking was final; its step is `REFUND_REQUESTED`: refund the payment.
    RefundOwed,
    /// The booking is mid-saga (another charge in flight, or being
    /// confirmed or cancelled); the caller decides, usually a refund.
    NotApplied,
}

/// What the gateway said about a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Charged.
    Succeeded {
        /// The gateway's payment id.
        gateway_payment_id: String,
    },
    /// Refused; nothing charged.
    Declined {
        /// The gateway's payment id, when it made one.
        gateway_payment_id: Option<String>,
        /// Why (`insufficient_funds`, …).
        decline_code: String,
    },
}

const PAYMENT_COLUMNS: &str = "id, booking_id, session_id, status, amount, currency, method, gateway_payment_id, \
     decline_code, idempotency_key, created_at, updated_at";
const REFUND_COLUMNS: &str =
    "id, payment_id, booking_id, status, amount, currency, gateway_refund_id, created_at, updated_at";

impl Store {
    /// Stores a payment. [`StoreError::Conflict`] when it would be the
    /// booking's second `SUCCEEDED` payment or repeats a gateway id.
    pub async fn insert_payment(&self, payment: &NewPayment, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        insert_payment_on(&mut conn, payment, now).await
    }

    /// Moves a payment from one of `from` to `to` with `change`; `true` when
    /// this call won. [`StoreError::Conflict`] when `to` is `SUCCEEDED` and
    /// the booking has a successful payment already.
    pub async fn update_payment(
        &self,
        id: &str,
        from: &[PaymentStatus],
        to: PaymentStatus,
        change: &PaymentChange,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer().acquire().await?;
        update_payment_on(&mut conn, id, from, to, change, now).await
    }

    /// The payment `id`.
    pub async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// The payment the gateway knows as `gateway_payment_id` (webhooks).
    pub async fn payment_by_gateway_id(&self, gateway_payment_id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE gateway_payment_id = $1"))
            .bind(gateway_payment_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// The payment started under a client idempotency key, for resuming it.
    pub async fn payment_for_key(&self, session_id: &str, key: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE session_id = $1 AND idempotency_key = $2 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(session_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// A booking's payments, oldest first.
    pub async fn payments_for_booking(&self, booking_id: &str) -> Result<Vec<PaymentRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE booking_id = $1 ORDER BY created_at, id"
        ))
        .bind(booking_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(payment_from_row).collect()
    }

    /// The charge claim, one transaction: the booking `HELD` →
    /// `CHARGE_REQUESTED` (only while `PENDING_PAYMENT` and unexpired at
    /// `now`), `payment` stored (normally `PROCESSING`), and the key's
    /// recovery point → `CHARGE_REQUESTED`. Of two concurrent charges for one
    /// booking one starts; the other gets [`ChargeStart::NotPayable`].
    pub async fn begin_charge(
        &self,
        payment: &NewPayment,
        key: Option<KeyLock<'_>>,
        now: DateTime<Utc>,
    ) -> Result<ChargeStart, StoreError> {
        let ms = now.timestamp_millis();
        // The first statement writes, so SQLite takes its write lock at once
        // instead of failing to upgrade a read snapshot later.
        let mut tx = self.writer().begin().await?;
        let claimed = sqlx::query(
            "UPDATE bookings SET step = $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND status = $4 AND step = $5 AND expires_at > $6",
        )
        .bind(SagaStep::ChargeRequested.as_str())
        .bind(ms)
        .bind(payment.booking_id.as_str())
        .bind(BookingStatus::PendingPayment.as_str())
        .bind(SagaStep::Held.as_str())
        .bind(ms)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(ChargeStart::NotPayable);
        }
        insert_payment_on(&mut tx, payment, now).await?;
        if let Some(key) = key
            && !super::idempotency::set_recovery_point_on(&mut tx, key, RecoveryPoint::ChargeRequested, now).await?
        {
            tx.rollback().await?;
            return Ok(ChargeStart::KeyLockLost);
        }
        tx.commit().await?;
        Ok(ChargeStart::Started)
    }

    /// Records a charge's outcome, one transaction: the payment `PROCESSING`
    /// → `SUCCEEDED` and the booking `CHARGE_REQUESTED` → `CHARGED`, or the
    /// payment → `DECLINED` and the booking back to `HELD`. `false` (nothing
    /// written) when either row had moved on; [`StoreError::Conflict`] when
    /// the booking has another successful payment.
    pub async fn finish_charge(
        &self,
        booking_id: &str,
        payment_id: &str,
        outcome: &ChargeOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (status, change, step) = match outcome {
            ChargeOutcome::Succeeded { gateway_payment_id } => (
                PaymentStatus::Succeeded,
                PaymentChange { gateway_payment_id: Some(gateway_payment_id.clone()), decline_code: None },
                SagaStep::Charged,
            ),
            ChargeOutcome::Declined { gateway_payment_id, decline_code } => (
                PaymentStatus::Declined,
                PaymentChange {
                    gateway_payment_id: gateway_payment_id.clone(),
                    decline_code: Some(decline_code.clone()),
                },
                SagaStep::Held,
            ),
        };
        let mut tx = self.writer().begin().await?;
        if !update_payment_on(&mut tx, payment_id, &[PaymentStatus::Processing], status, &change, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        let moved = sqlx::query(
            "UPDATE bookings SET step = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND step = $4",
        )
        .bind(step.as_str())
        .bind(now.timestamp_millis())
        .bind(booking_id)
        .bind(SagaStep::ChargeRequested.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a charge made outside the direct flow (a payment link's
    /// webhook), one transaction: `payment` stored (normally `SUCCEEDED`)
    /// and the booking `HELD` → `CHARGED` if still `PENDING_PAYMENT` and
    /// held. When the booking is not payable any more but already final
    /// (expired or cancelled meanwhile), its step becomes `REFUND_REQUESTED`
    /// in the same transaction, so the recovery sweep refunds the money even
    /// if the caller crashes. [`StoreError::Conflict`] (nothing written) when
    /// the booking has a successful payment already or the gateway id is known.
    pub async fn record_external_charge(
        &self,
        payment: &NewPayment,
        now: DateTime<Utc>,
    ) -> Result<ExternalCharge, StoreError> {
        let ms = now.timestamp_millis();
        let mut tx = self.writer().begin().await?;
        insert_payment_on(&mut tx, payment, now).await?;
        let moved = sqlx::query(
            "UPDATE bookings SET step = $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND status = $4 AND step = $5",
        )
        .bind(SagaStep::Charged.as_str())
        .bind(ms)
        .bind(payment.booking_id.as_str())
        .bind(BookingStatus::PendingPayment.as_str())
        .bind(SagaStep::Held.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(ExternalCharge::Applied);
        }
        let owed = sqlx::query(
            "UPDATE bookings SET step = $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND step = $4 AND status IN ($5, $6, $7)",
        )
        .bind(SagaStep::RefundRequested.as_str())
        .bind(ms)
        .bind(payment.booking_id.as_str())
        .bind(SagaStep::Done.as_str())
        .bind(BookingStatus::Cancelled.as_str())
        .bind(BookingStatus::Expired.as_str())
        .bind(BookingStatus::Failed.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if owed.rows_affected() == 1 { ExternalCharge::RefundOwed } else { ExternalCharge::NotApplied })
    }

    /// The refund's first phase, one transaction: `refund` stored `PENDING`
    /// and the booking moved from one of `from_steps` to `REFUND_REQUESTED`,
    /// so the refund is visible to the recovery sweep before the gateway call.
    /// `false` (nothing written) when the booking was not at one of
    /// `from_steps`; [`StoreError::Conflict`] when the payment has a live refund.
    pub async fn begin_refund(
        &self,
        refund: &NewRefund,
        from_steps: &[SagaStep],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if from_steps.is_empty() {
            return Ok(false);
        }
        let mut params = vec![
            Param::Text(SagaStep::RefundRequested.as_str().to_owned()),
            Param::Int(now.timestamp_millis()),
            Param::Text(refund.booking_id.clone()),
        ];
        params.extend(from_steps.iter().map(|s| Param::Text(s.as_str().to_owned())));
        let sql = format!(
            "UPDATE bookings SET step = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND step IN ({})",
            placeholders(4, from_steps.len())
        );
        let mut tx = self.writer().begin().await?;
        if bind_all(sqlx::query(&sql), &params).execute(&mut *tx).await?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refund_on(&mut tx, refund, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a `PENDING` refund. [`StoreError::Conflict`] when the payment
    /// has a refund that is not `FAILED`.
    pub async fn insert_refund(&self, refund: &NewRefund, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        insert_refund_on(&mut conn, refund, now).await
    }

    /// Moves a refund from one of `from` to `to`, recording the gateway's id
    /// when given; `true` when this call won. A refund becoming `SUCCEEDED`
    /// also marks its payment `REFUNDED`, in the same transaction.
    pub async fn update_refund(
        &self,
        id: &str,
        from: &[RefundStatus],
        to: RefundStatus,
        gateway_refund_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ms = now.timestamp_millis();
        let mut params = vec![Param::Text(to.as_str().to_owned()), Param::Int(ms), Param::Text(id.to_owned())];
        let mut sets = String::from("status = $1, updated_at = $2");
        if let Some(gateway_refund_id) = gateway_refund_id {
            sets.push_str(", gateway_refund_id = $4");
            params.push(Param::Text(gateway_refund_id.to_owned()));
        }
        let first = params.len() + 1;
        params.extend(from.iter().map(|s| Param::Text(s.as_str().to_owned())));
        let sql =
            format!("UPDATE refunds SET {sets} WHERE id = $3 AND status IN ({})", placeholders(first, from.len()));
        if from.is_empty() {
            return Ok(false);
        }
        let mut tx = self.writer().begin().await?;
        if bind_all(sqlx::query(&sql), &params).execute(&mut *tx).await.map_err(write_error)?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if to == RefundStatus::Succeeded {
            sqlx::query(
                "UPDATE payments SET status = $1, updated_at = $2 \
                 WHERE id = (SELECT payment_id FROM refunds WHERE id = $3) AND status = $4",
            )
            .bind(PaymentStatus::Refunded.as_str())
            .bind(ms)
            .bind(id)
            .bind(PaymentStatus::Succeeded.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The refund `id`.
    pub async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// A booking's refunds, oldest first.
    pub async fn refunds_for_booking(&self, booking_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE booking_id = $1 ORDER BY created_at, id"))
                .bind(booking_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(refund_from_row).collect()
    }
}

async fn insert_payment_on(
    conn: &mut sqlx::AnyConnection,
    payment: &NewPayment,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ms = now.timestamp_millis();
    sqlx::query(
        "INSERT INTO payments (id, booking_id, session_id, status, amount, currency, method, gateway_payment_id, \
         decline_code, idempotency_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(payment.id.as_str())
    .bind(payment.booking_id.as_str())
    .bind(payment.session_id.as_str())
    .bind(payment.status.as_str())
    .bind(payment.amount.amount.to_string())
    .bind(payment.amount.currency.as_str())
    .bind(payment.method.as_str())
    .bind(payment.gateway_payment_id.clone())
    .bind(payment.decline_code.clone())
    .bind(payment.idempotency_key.clone())
    .bind(ms)
    .bind(ms)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn insert_refund_on(
    conn: &mut sqlx::AnyConnection,
    refund: &NewRefund,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ms = now.timestamp_millis();
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, booking_id, status, amount, currency, gateway_refund_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)",
    )
    .bind(refund.id.as_str())
    .bind(refund.payment_id.as_str())
    .bind(refund.booking_id.as_str())
    .bind(RefundStatus::Pending.as_str())
    .bind(refund.amount.amount.to_string())
    .bind(refund.amount.currency.as_str())
    .bind(ms)
    .bind(ms)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn update_payment_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    from: &[PaymentStatus],
    to: PaymentStatus,
    change: &PaymentChange,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if from.is_empty() {
        return Ok(false);
    }
    let mut params =
        vec![Param::Text(to.as_str().to_owned()), Param::Int(now.timestamp_millis()), Param::Text(id.to_owned())];
    let mut sets = String::from("status = $1, updated_at = $2");
    let mut next = 4;
    if let Some(gateway_payment_id) = &change.gateway_payment_id {
        sets.push_str(&format!(", gateway_payment_id = ${next}"));
        next += 1;
        params.push(Param::Text(gateway_payment_id.clone()));
    }
    if let Some(decline_code) = &change.decline_code {
        sets.push_str(&format!(", decline_code = ${next}"));
        next += 1;
        params.push(Param::Text(decline_code.clone()));
    }
    params.extend(from.iter().map(|s| Param::Text(s.as_str().to_owned())));
    let sql = format!("UPDATE payments SET {sets} WHERE id = $3 AND status IN ({})", placeholders(next, from.len()));
    let result = bind_all(sqlx::query(&sql), &params).execute(&mut *conn).await.map_err(write_error)?;
    Ok(result.rows_affected() == 1)
}

fn payment_from_row(row: &AnyRow) -> Result<PaymentRecord, StoreError> {
    Ok(PaymentRecord {
        id: row.try_get("id")?,
        booking_id: row.try_get("booking_id")?,
        session_id: row.try_get("session_id")?,
        status: parsed("payments.status", &row.try_get::<String, _>("status")?, PaymentStatus::parse)?,
        amount: Money {
            amount: decimal_from("payments.amount", &row.try_get::<String, _>("amount")?)?,
            currency: row.try_get("currency")?,
        },
        method: row.try_get("method")?,
        gateway_payment_id: row.try_get("gateway_payment_id")?,
        decline_code: row.try_get("decline_code")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

fn refund_from_row(row: &AnyRow) -> Result<RefundRecord, StoreError> {
    Ok(RefundRecord {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        booking_id: row.try_get("booking_id")?,
        status: parsed("refunds.status", &row.try_get::<String, _>("status")?, RefundStatus::parse)?,
        amount: Money {
            amount: decimal_from("refunds.amount", &row.try_get::<String, _>("amount")?)?,
            currency: row.try_get("currency")?,
        },
        gateway_refund_id: row.try_get("gateway_refund_id")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}
