//! Payment links: the hosted payment pages (Checkout Sessions) opened for
//! bookings. A row is written once the gateway has answered, so every row
//! names a page that exists; `createPaymentLink` hands the newest open one
//! out again, and the webhook accepts a completed checkout only for a page
//! it finds here.

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Store, StoreError, from_millis, write_error};

/// A hosted payment page opened for a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLinkRecord {
    /// The gateway's id (`cs_…`).
    pub checkout_id: String,
    /// The booking it collects for.
    pub booking_id: String,
    /// The page.
    pub url: String,
    /// When the gateway stops taking payments on it.
    pub expires_at: DateTime<Utc>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
}

const LINK_COLUMNS: &str = "checkout_id, booking_id, url, expires_at, created_at";

impl Store {
    /// Stores a payment link; `false` when one with this checkout id is
    /// stored already (a replayed gateway answer).
    pub async fn insert_payment_link(&self, link: &PaymentLinkRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO payment_links (checkout_id, booking_id, url, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (checkout_id) DO NOTHING",
        )
        .bind(link.checkout_id.as_str())
        .bind(link.booking_id.as_str())
        .bind(link.url.as_str())
        .bind(link.expires_at.timestamp_millis())
        .bind(link.created_at.timestamp_millis())
        .execute(self.writer())
        .await
        .map_err(write_error)?;
        Ok(result.rows_affected() == 1)
    }

    /// The payment link with this checkout id.
    pub async fn payment_link(&self, checkout_id: &str) -> Result<Option<PaymentLinkRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM payment_links WHERE checkout_id = $1"))
            .bind(checkout_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    /// A booking's payment links, oldest first.
    pub async fn payment_links_for_booking(&self, booking_id: &str) -> Result<Vec<PaymentLinkRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM payment_links WHERE booking_id = $1 ORDER BY created_at, checkout_id"
        ))
        .bind(booking_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(link_from_row).collect()
    }
}

fn link_from_row(row: &AnyRow) -> Result<PaymentLinkRecord, StoreError> {
    Ok(PaymentLinkRecord {
        checkout_id: row.try_get("checkout_id")?,
        booking_id: row.try_get("booking_id")?,
        url: row.try_get("url")?,
        expires_at: from_millis(row.try_get("expires_at")?),
        created_at: from_millis(row.try_get("created_at")?),
    })
}
