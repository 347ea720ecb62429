//! The booking sweeper, a background task of every instance: it warns of
//! holds about to lapse (`BOOKING_EXPIRING`, once per booking), expires
//! lapsed unpaid holds (the provider order cancelled, `EXPIRED`,
//! `BOOKING_EXPIRED`), finishes or compensates sagas interrupted in an
//! in-flight step (the recovery sweep, which also runs at start), and purges
//! idempotency keys past their retention.
//!
//! Several instances sweep at once safely: every booking is taken through
//! the store's claims (a lease per row, or a once-only mark for the
//! warning), and every move after that is a conditional transition. Time
//! comes from the injected clock, so tests move it instead of waiting.

use tokio_util::sync::CancellationToken;

use super::model::{BookingEventKind, BookingStatus, SagaStep};
use super::service::BookingService;
use crate::store::bookings::{BookingChange, BookingGuard};

/// Bookings taken per claim.
const BATCH: u32 = 50;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `BOOKING_EXPIRING` warnings published.
    pub warned: usize,
    /// Holds expired.
    pub expired: usize,
    /// Interrupted sagas driven to rest.
    pub recovered: usize,
    /// Of those taken up, still not at rest (an outside call failed again).
    pub still_in_flight: usize,
    /// Idempotency keys purged.
    pub purged_keys: u64,
}

impl BookingService {
    /// One pass: warnings, expiries, recovery, key purge. Errors are logged
    /// and the pass goes on with the next part.
    pub async fn sweep_once(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let now = self.now();
        let settings = self.settings().clone();
        let notice = chrono::Duration::from_std(settings.expiring_notice).unwrap_or(chrono::Duration::MAX);
        match self.store().claim_expiring(now, now + notice, BATCH).await {
            Ok(due) => {
                for booking in due {
                    self.publish(&booking, BookingEventKind::BookingExpiring, None, |e| {
                        e.expires_at = Some(booking.expires_at);
                        e.amount = Some(booking.total.clone());
                    })
                    .await;
                    report.warned += 1;
                }
            }
            Err(error) => tracing::warn!(%error, "claiming expiring bookings failed"),
        }

        let owner = self.owner("sweep");
        match self.store().claim_expired(now, BATCH, &owner, settings.recovery_after).await {
            Ok(lapsed) => {
                for booking in lapsed {
                    let guard = BookingGuard {
                        statuses: &[BookingStatus::PendingPayment],
                        steps: &[SagaStep::Held],
                        claimed_by: Some(&owner),
                        ..BookingGuard::default()
                    };
                    let change = BookingChange {
                        status: Some(BookingStatus::Expired),
                        step: Some(SagaStep::CancelRequested),
                        ..BookingChange::default()
                    };
                    match self.store().transition_booking(&booking.id, &guard, &change, self.now()).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(error) => {
                            tracing::warn!(booking = %booking.id, %error, "expiring a booking failed");
                            continue;
                        }
                    }
                    report.expired += 1;
                    match self.record(&booking.id).await {
                        Ok(record) => {
                            self.publish(
                                &record,
                                BookingEventKind::BookingExpired,
                                Some(BookingStatus::PendingPayment),
                                |e| {
                                    e.expires_at = Some(record.expires_at);
                                },
                            )
                            .await;
                        }
                        Err(error) => {
                            tracing::warn!(booking = %booking.id, %error, "reading an expired booking failed")
                        }
                    }
                    self.drive_leased(&booking.id, &owner).await;
                }
            }
            Err(error) => tracing::warn!(%error, "claiming lapsed holds failed"),
        }

        let stale_before = now - chrono::Duration::from_std(settings.recovery_after).unwrap_or(chrono::Duration::MAX);
        match self.store().claim_stuck(now, stale_before, BATCH, &owner, settings.recovery_after).await {
            Ok(stuck) => {
                for booking in stuck {
                    tracing::info!(booking = %booking.id, step = booking.step.as_str(), "recovering an interrupted booking");
                    if self.drive_leased(&booking.id, &owner).await {
                        report.recovered += 1;
                    } else {
                        report.still_in_flight += 1;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "claiming interrupted bookings failed"),
        }

        match self.store().purge_idempotency_keys(now, settings.idempotency_retention).await {
            Ok(purged) => report.purged_keys = purged,
            Err(error) => tracing::warn!(%error, "purging idempotency keys failed"),
        }
        if report != SweepReport::default() {
            tracing::info!(?report, "booking sweep");
        }
        report
    }

    /// Drives a booking this sweep leased, then gives the lease up so the
    /// next sweep may retry what is left; `true` when it came to rest.
    async fn drive_leased(&self, id: &str, owner: &str) -> bool {
        let rested = match self.drive(id).await {
            Ok(step) => !SagaStep::IN_FLIGHT.contains(&step),
            Err(error) => {
                tracing::warn!(booking = %id, %error, "driving a booking failed; the next sweep retries");
                false
            }
        };
        if let Err(error) = self.store().release_booking(id, owner).await {
            tracing::warn!(booking = %id, %error, "releasing a booking lease failed");
        }
        rested
    }

    /// Sweeps every `booking.sweep_interval`, the first time at once (the
    /// recovery at start), until `shutdown`.
    pub async fn run_sweeper(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings().sweep_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = self.sweep_once() => {}
            }
        }
    }
}
