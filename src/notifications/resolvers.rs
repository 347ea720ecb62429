//! GraphQL edge of notifications: the `notifications` and
//! `notificationPreferences` queries, `markNotificationsRead` and
//! `updateNotificationPreferences`, and the `notificationAdded` and
//! `bookingStatusChanged` subscriptions — both fed by the event bus, so they
//! work whichever instance the change happened on.
//!
//! A subscriber that falls so far behind that the bus's per-topic buffer
//! overflows is told with an error on that operation (`RATE_LIMITED`, reason
//! `SLOW_CONSUMER`) and the operation ends; it catches up through
//! `notifications(after:)` and subscribes again. Silently skipping would be a
//! gap the client could not know about.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt as _};

use super::NotificationMessage;
use super::service::{NotificationError, NotificationService, PreferencesUpdate};
use crate::booking::BookingService;
use crate::booking::model::{BookingEventKind, BookingStatus};
use crate::events::{BusEvent, EventBus, Topic};
use crate::graphql::context::{service, session};
use crate::graphql::errors::{ApiError, Code};
use crate::graphql::scalars::DateTime;
use crate::store::notifications::PreferencesRecord;

/// Notifications one `notifications` query returns when `first` is not given.
const DEFAULT_PAGE: i32 = 20;

/// A notification.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Notification")]
pub struct NotificationObject {
    /// Stable, and ordered as the notifications were stored (`ntf_…`).
    pub id: ID,
    /// What happened.
    pub kind: BookingEventKind,
    /// A few words, in the session's language.
    pub title: String,
    /// One or two sentences, in the session's language.
    pub body: String,
    /// The booking concerned.
    pub booking_id: Option<ID>,
    /// When it was stored.
    pub at: DateTime,
    /// Marked read by `markNotificationsRead`.
    pub read: bool,
}

impl From<NotificationMessage> for NotificationObject {
    fn from(n: NotificationMessage) -> Self {
        Self {
            id: ID(n.id),
            kind: n.kind,
            title: n.title,
            body: n.body,
            booking_id: n.booking_id.map(ID),
            at: n.at.into(),
            read: n.read,
        }
    }
}

/// Which channels the session's notifications go out on.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "NotificationPreferences")]
pub struct PreferencesObject {
    /// E-mail to the booking's contact address (on by default).
    pub email: bool,
    /// SMS to the booking's contact phone.
    pub sms: bool,
    /// Push to the registered device.
    pub push: bool,
}

impl From<PreferencesRecord> for PreferencesObject {
    fn from(p: PreferencesRecord) -> Self {
        Self { email: p.email, sms: p.sms, push: p.push }
    }
}

/// Channel choices; omitted fields keep their value.
#[derive(Debug, Clone, InputObject)]
#[graphql(name = "NotificationPreferencesInput")]
pub struct NotificationPreferencesInput {
    /// E-mail on or off.
    pub email: Option<bool>,
    /// SMS on or off.
    pub sms: Option<bool>,
    /// Push on or off (needs a `pushToken`, now or before).
    pub push: Option<bool>,
    /// The device's push registration token.
    pub push_token: Option<String>,
}

/// A booking's status moved.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "BookingStatusChange")]
pub struct BookingStatusChangeObject {
    /// The booking.
    pub booking_id: ID,
    /// Its status now.
    pub status: BookingStatus,
    /// Its status before; null on the subscription's first message, which
    /// is the status at the time of subscribing.
    pub previous_status: Option<BookingStatus>,
    /// When the change was recorded.
    pub at: DateTime,
}

fn api_error(error: NotificationError) -> ApiError {
    match error {
        NotificationError::BadInput { field, message } => ApiError::bad_input(field, message),
        NotificationError::Store(error) => ApiError::internal(&error),
    }
}

fn slow_consumer(skipped: u64) -> ApiError {
    ApiError::new(
        Code::RateLimited,
        format!(
            "This subscription fell {skipped} events behind and was stopped; fetch notifications(after:) to catch up, then subscribe again."
        ),
    )
    .with("reason", "SLOW_CONSUMER")
    .with("retryAfterSeconds", 1)
}

/// Notification queries.
#[derive(Debug, Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// This session's notifications, newest first. Without `after`, the
    /// newest `first` (1–100, default 20). With `after` (a notification id),
    /// the `first` stored right after it — still newest first — so a client
    /// that pages with the highest id it has seen gets everything it missed,
    /// with no gap and no repeat.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> Result<Vec<NotificationObject>, ApiError> {
        let auth = session(ctx)?;
        let notifications = service::<NotificationService>(ctx)?;
        let after = after.as_ref().map(|id| id.as_str());
        let list = notifications
            .notifications(&auth.session.id.0, after, first.unwrap_or(DEFAULT_PAGE))
            .await
            .map_err(api_error)?;
        Ok(list.into_iter().map(NotificationObject::from).collect())
    }

    /// This session's channel preferences.
    async fn notification_preferences(&self, ctx: &Context<'_>) -> Result<PreferencesObject, ApiError> {
        let auth = session(ctx)?;
        let notifications = service::<NotificationService>(ctx)?;
        Ok(notifications.preferences(&auth.session.id.0).await.map_err(api_error)?.into())
    }
}

/// Notification mutations.
#[derive(Debug, Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks this session's notifications up to and including `upTo` read;
    /// returns how many were unread.
    async fn mark_notifications_read(&self, ctx: &Context<'_>, up_to: ID) -> Result<i32, ApiError> {
        let auth = session(ctx)?;
        let notifications = service::<NotificationService>(ctx)?;
        let marked = notifications.mark_read(&auth.session.id.0, &up_to).await.map_err(api_error)?;
        Ok(i32::try_from(marked).unwrap_or(i32::MAX))
    }

    /// Chooses the channels: e-mail (to the booking's contact address, on by
    /// default), SMS (to its phone), push (to `pushToken`).
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: NotificationPreferencesInput,
    ) -> Result<PreferencesObject, ApiError> {
        let auth = session(ctx)?;
        let notifications = service::<NotificationService>(ctx)?;
        let update =
            PreferencesUpdate { email: input.email, sms: input.sms, push: input.push, push_token: input.push_token };
        Ok(notifications.update_preferences(&auth.session.id.0, update).await.map_err(api_error)?.into())
    }
}

/// Notification subscriptions.
#[derive(Debug, Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// This session's notifications as they are stored, on whichever
    /// instance. After a disconnect, `notifications(after: lastSeenId)`
    /// returns what was missed.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<NotificationObject, ApiError>> + use<>, ApiError> {
        let auth = session(ctx)?;
        let bus = service::<std::sync::Arc<dyn EventBus>>(ctx)?;
        let events = bus.subscribe(&Topic::session_notifications(&auth.session.id)).reporting_lag();
        // Ends right after reporting a lag: the client must catch up first.
        let stream = futures_util::stream::unfold(Some(events), |events| async move {
            let mut events = events?;
            loop {
                match events.next().await? {
                    Ok(event) => {
                        if let BusEvent::Notification(n) = &*event {
                            return Some((Ok(NotificationObject::from(n.clone())), Some(events)));
                        }
                    }
                    Err(skipped) => return Some((Err(slow_consumer(skipped)), None)),
                }
            }
        });
        Ok(stream)
    }

    /// One of this session's bookings: its status now (with
    /// `previousStatus: null`), then every transition, on whichever instance
    /// it happens. Completes once the booking reaches a final status
    /// (`CANCELLED`, `EXPIRED`, `FAILED`). Another session's booking answers
    /// `NOT_FOUND`, as an unknown id does.
    async fn booking_status_changed(
        &self,
        ctx: &Context<'_>,
        booking_id: ID,
    ) -> Result<impl Stream<Item = Result<BookingStatusChangeObject, ApiError>> + use<>, ApiError> {
        let auth = session(ctx)?;
        let bus = service::<std::sync::Arc<dyn EventBus>>(ctx)?;
        let bookings = service::<BookingService>(ctx)?;
        // Subscribe before reading the current status, so a change between
        // the two is not lost (a repeat of the current status is dropped below).
        let events = bus.subscribe(&Topic::session_booking_status(&auth.session.id)).reporting_lag();
        let current =
            bookings.booking(&auth.session.id.0, &booking_id).await.map_err(crate::booking::resolvers::api_error)?;
        let first = BookingStatusChangeObject {
            booking_id: booking_id.clone(),
            status: current.status,
            previous_status: None,
            at: current.created_at.into(),
        };
        let state = StatusStream { id: booking_id.0.clone(), events, first: Some(first), last: None };
        // Ends after a final status, or right after reporting a lag.
        let stream = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            if let Some(first) = state.first.take() {
                state.last = Some(first.status);
                let more = !first.status.is_final();
                return Some((Ok(first), more.then_some(state)));
            }
            loop {
                match state.events.next().await? {
                    Ok(event) => match &*event {
                        BusEvent::BookingStatus(change)
                            if change.booking_id == state.id && state.last != Some(change.status) =>
                        {
                            state.last = Some(change.status);
                            let item = BookingStatusChangeObject {
                                booking_id: ID(change.booking_id.clone()),
                                status: change.status,
                                previous_status: change.previous_status,
                                at: change.at.into(),
                            };
                            let more = !change.status.is_final();
                            return Some((Ok(item), more.then_some(state)));
                        }
                        _ => {}
                    },
                    Err(skipped) => return Some((Err(slow_consumer(skipped)), None)),
                }
            }
        });
        Ok(stream)
    }
}

/// Where a `bookingStatusChanged` stream stands.
struct StatusStream {
    id: String,
    events: crate::events::LagReportingStream,
    first: Option<BookingStatusChangeObject>,
    last: Option<BookingStatus>,
}
