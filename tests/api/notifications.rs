//! Notifications end to end: stored once per booking event in the session's
//! language, listed newest first with gap-free paging, marked read, pushed
//! live to the session's own subscribers only, caught up after a forced
//! disconnect while events keep flowing, booking status streams, the outbox
//! path that works without the bus, preferences, slow subscribers told, the
//! subscription gauge after 1,000 churned connections, and two instances on
//! one Redis acting as one.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use wayfarer::booking::model::{BookingEvent, BookingEventKind, BookingStatus};
use wayfarer::events::{BusEvent, Topic};
use wayfarer::graphql::context::RequestAuth;
use wayfarer::store::notifications::NewEvent;

use crate::booking::{Client, document};
use crate::helpers::{Backend, START_SESSION, TestApp, Ws, eventually};

/// The contract's `Notifications`.
pub(crate) const NOTIFICATIONS: &str = "query Notifications($after: ID, $first: Int) {
  notifications(after: $after, first: $first) {
    id kind title body bookingId at read
  }
}";

/// The contract's `MarkNotificationsRead`.
pub(crate) const MARK_NOTIFICATIONS_READ: &str = "mutation MarkNotificationsRead($upTo: ID!) {
  markNotificationsRead(upTo: $upTo)
}";

/// The contract's `UpdateNotificationPreferences`.
pub(crate) const UPDATE_NOTIFICATION_PREFERENCES: &str =
    "mutation UpdateNotificationPreferences($input: NotificationPreferencesInput!) {
  updateNotificationPreferences(input: $input) { email sms push }
}";

/// The contract's `OnNotification`.
pub(crate) const ON_NOTIFICATION: &str = "subscription OnNotification {
  notificationAdded { id kind title body bookingId at }
}";

/// The contract's `OnBookingStatus`.
pub(crate) const ON_BOOKING_STATUS: &str = "subscription OnBookingStatus($bookingId: ID!) {
  bookingStatusChanged(bookingId: $bookingId) { bookingId status previousStatus at }
}";

/// A client whose session speaks `locale`.
async fn client_in<'a>(app: &'a TestApp, locale: &str) -> Client<'a> {
    let (status, body) = app.graphql(START_SESSION, json!({ "locale": locale }), None).await;
    assert_eq!(status, 200, "{body}");
    Client { app, token: body["data"]["startSession"]["token"].as_str().unwrap().to_owned() }
}

async fn list(client: &Client<'_>, after: Option<&str>, first: Option<i64>) -> Vec<Value> {
    let body = client.run(NOTIFICATIONS, json!({ "after": after, "first": first })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["notifications"].as_array().unwrap().clone()
}

fn kinds(list: &[Value]) -> Vec<String> {
    list.iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

/// Waits until the session has `count` notifications; returns them, newest first.
async fn wait_for(client: &Client<'_>, count: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let arrived = eventually(Duration::from_secs(10), async || {
        seen = list(client, None, Some(100)).await;
        seen.len() >= count
    })
    .await;
    assert!(arrived, "expected {count} notifications, have {}: {seen:?}", seen.len());
    seen
}

/// An offer LIS → MAD `days` ahead, from whichever provider has one.
async fn any_offer(client: &Client<'_>, days: i64) -> String {
    let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string();
    let body = client
        .run(
            "query($i: FlightSearchInput!) { searchFlights(input: $i) { offers { id } } }",
            json!({ "i": { "origin": "LIS", "destination": "MAD", "departureDate": day } }),
        )
        .await;
    body["data"]["searchFlights"]["offers"][0]["id"].as_str().unwrap_or_else(|| panic!("no offers: {body}")).to_owned()
}

/// A booking of an offer, paid with the test card; returns its id.
async fn book_and_pay(client: &Client<'_>, key: &str) -> String {
    let offer = any_offer(client, 30).await;
    let booking = client.book(&offer).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    let paid = client.pay(&id, "pm_card_visa", key).await;
    assert_eq!(paid["data"]["payForBooking"]["booking"]["status"], "CONFIRMED", "{paid}");
    id
}

async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    ws.send_json(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
}

/// The next `next` payload for operation `id` (other operations' messages are skipped).
async fn next_for(ws: &mut Ws, id: &str) -> Value {
    loop {
        let message = ws.next_json().await;
        if message["id"] == id {
            return message;
        }
    }
}

#[tokio::test]
async fn each_booking_event_becomes_one_notification_in_the_sessions_language() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = client_in(&app, "es-ES").await;
    let booking = book_and_pay(&client, "notif-lang-0001").await;
    let all = wait_for(&client, 3).await;
    assert_eq!(kinds(&all), ["BOOKING_CONFIRMED", "PAYMENT_SUCCEEDED", "BOOKING_CREATED"], "newest first");
    assert_eq!(all[0]["title"], "Reserva confirmada");
    let reference = client.booking(&booking).await["data"]["booking"]["reference"].as_str().unwrap().to_owned();
    assert!(all[0]["body"].as_str().unwrap().contains(&reference), "{}", all[0]["body"]);
    assert!(all.iter().all(|n| n["bookingId"] == booking.as_str() && n["read"] == false));
    // Ids are stable and sort as stored.
    let ids: Vec<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    // The worker saw each event once: three processed, nothing pending.
    let status = app.state.notifications().status();
    assert_eq!(status.notifications_stored, 3);
    assert_eq!(app.state.store().pending_event_count().await.unwrap(), 0);

    // Another session sees none of them.
    let other = Client::new(&app).await;
    assert!(list(&other, None, None).await.is_empty());
    app.stop().await;
}

/// Every event already queued on `events`, without waiting.
fn queued(events: &mut wayfarer::events::EventStream) -> Vec<std::sync::Arc<BusEvent>> {
    std::iter::from_fn(|| futures_util::FutureExt::now_or_never(events.next()).flatten()).collect()
}

#[tokio::test]
async fn a_sessions_events_travel_one_kind_per_topic_so_a_socket_wakes_only_for_its_own() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let session = app.state.sessions().authenticate(&client.token).await.unwrap().session.id;
    let bus = app.state.bus();
    let mut ended = bus.subscribe(&Topic::session_ended(&session));
    let mut notified = bus.subscribe(&Topic::session_notifications(&session));
    let mut moved = bus.subscribe(&Topic::session_booking_status(&session));
    let booking = book_and_pay(&client, "topics-kind-0001").await;
    wait_for(&client, 3).await;
    // The notification is published right after the commit that stored it.
    let mut notifications = Vec::new();
    let all_three = eventually(Duration::from_secs(5), async || {
        notifications.extend(queued(&mut notified));
        notifications.len() >= 3
    })
    .await;
    assert!(all_three, "{notifications:?}");
    assert_eq!(notifications.len(), 3, "one message per notification: {notifications:?}");
    assert!(notifications.iter().all(|e| matches!(&**e, BusEvent::Notification(n) if n.session_id == session.0)));
    let statuses: Vec<BookingStatus> = queued(&mut moved)
        .iter()
        .map(|e| match &**e {
            BusEvent::BookingStatus(change) if change.booking_id == booking => change.status,
            other => panic!("not this booking's status move: {other:?}"),
        })
        .collect();
    assert_eq!(statuses.first(), Some(&BookingStatus::PendingPayment), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&BookingStatus::Confirmed), "{statuses:?}");
    // Nothing of the booking woke what waits for the session's end …
    assert!(queued(&mut ended).is_empty());
    // … which hears exactly the end, and nothing else does.
    let body = client.run(crate::helpers::END_SESSION, json!({})).await;
    assert_eq!(body["data"]["endSession"], true, "{body}");
    let end = tokio::time::timeout(Duration::from_secs(5), ended.next()).await.expect("in time").expect("an event");
    assert!(matches!(&*end, BusEvent::SessionEnded { session_id } if *session_id == session.0));
    assert!(queued(&mut ended).is_empty() && queued(&mut notified).is_empty() && queued(&mut moved).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn paging_marking_read_and_bad_arguments() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    book_and_pay(&client, "notif-page-0001").await;
    book_and_pay(&client, "notif-page-0002").await;
    let all = wait_for(&client, 6).await;
    let ids: Vec<String> = all.iter().rev().map(|n| n["id"].as_str().unwrap().to_owned()).collect();

    // `first` alone: the newest. `after`: the ones right after it, newest first.
    assert_eq!(list(&client, None, Some(2)).await, all[..2].to_vec());
    let after_first = list(&client, Some(&ids[0]), Some(2)).await;
    assert_eq!(after_first.iter().map(|n| n["id"].as_str().unwrap()).collect::<Vec<_>>(), [&ids[2], &ids[1]]);
    // Paging forward with the highest id seen walks everything exactly once.
    let mut cursor = ids[0].clone();
    let mut walked = vec![ids[0].clone()];
    loop {
        let page = list(&client, Some(&cursor), Some(2)).await;
        if page.is_empty() {
            break;
        }
        let mut page_ids: Vec<String> = page.iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
        page_ids.reverse();
        cursor = page_ids.last().unwrap().clone();
        walked.extend(page_ids);
    }
    assert_eq!(walked, ids);

    // Mark read up to the third: three were unread, then none.
    let marked = client.run(MARK_NOTIFICATIONS_READ, json!({ "upTo": ids[2] })).await;
    assert_eq!(marked["data"]["markNotificationsRead"], 3, "{marked}");
    let again = client.run(MARK_NOTIFICATIONS_READ, json!({ "upTo": ids[2] })).await;
    assert_eq!(again["data"]["markNotificationsRead"], 0);
    let read: Vec<bool> = list(&client, None, None).await.iter().rev().map(|n| n["read"].as_bool().unwrap()).collect();
    assert_eq!(read, [true, true, true, false, false, false]);

    // Bad arguments: a clear BAD_USER_INPUT naming the argument.
    for (variables, field) in [
        (json!({ "first": 0 }), "first"),
        (json!({ "first": 101 }), "first"),
        (json!({ "after": "not-an-id" }), "after"),
        (json!({ "after": "ntf_-1" }), "after"),
    ] {
        let body = client.run(NOTIFICATIONS, variables.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{variables}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = client.run(MARK_NOTIFICATIONS_READ, json!({ "upTo": "x" })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "upTo", "{body}");
    // Without a session: UNAUTHENTICATED.
    let (_, body) = app.graphql(&document(NOTIFICATIONS), json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn preferences_default_to_email_and_push_needs_a_token() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let current = client.run("{ notificationPreferences { email sms push } }", json!({})).await;
    assert_eq!(current["data"]["notificationPreferences"], json!({ "email": true, "sms": false, "push": false }));

    let refused = client.run(UPDATE_NOTIFICATION_PREFERENCES, json!({ "input": { "push": true } })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "input.pushToken");
    let blank = client.run(UPDATE_NOTIFICATION_PREFERENCES, json!({ "input": { "pushToken": "  " } })).await;
    assert_eq!(blank["errors"][0]["extensions"]["field"], "input.pushToken", "{blank}");

    let updated = client
        .run(
            UPDATE_NOTIFICATION_PREFERENCES,
            json!({ "input": { "push": true, "pushToken": "device-1", "sms": true } }),
        )
        .await;
    assert_eq!(updated["data"]["updateNotificationPreferences"], json!({ "email": true, "sms": true, "push": true }));
    let partial = client.run(UPDATE_NOTIFICATION_PREFERENCES, json!({ "input": { "email": false } })).await;
    assert_eq!(partial["data"]["updateNotificationPreferences"], json!({ "email": false, "sms": true, "push": true }));
    // Stored per session.
    let other = Client::new(&app).await;
    let theirs = other.run("{ notificationPreferences { email sms push } }", json!({})).await;
    assert_eq!(theirs["data"]["notificationPreferences"]["email"], true);
    app.stop().await;
}

#[tokio::test]
async fn notification_added_is_the_sessions_own_and_catch_up_after_a_disconnect_misses_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let stranger = Client::new(&app).await;
    let mut mine = app.websocket_acked(&client.token).await;
    subscribe(&mut mine, "n", ON_NOTIFICATION, json!({})).await;
    let mut theirs = app.websocket_acked(&stranger.token).await;
    subscribe(&mut theirs, "n", ON_NOTIFICATION, json!({})).await;

    // Events keep flowing from another task while this client disconnects and comes back.
    let flow = {
        let token = client.token.clone();
        let addr = app.addr;
        tokio::spawn(async move {
            let app_client = reqwest::Client::new();
            let graphql = |query: String, variables: Value| {
                let request = app_client
                    .post(format!("http://{addr}/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({ "query": query, "variables": variables }));
                async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
            };
            for round in 0..4 {
                let day = (chrono::Utc::now().date_naive() + chrono::Duration::days(40 + round)).to_string();
                let search = graphql(
                    "query($i: FlightSearchInput!) { searchFlights(input: $i) { offers { id provider } } }".into(),
                    json!({ "i": { "origin": "LIS", "destination": "MAD", "departureDate": day } }),
                )
                .await;
                let offer = search["data"]["searchFlights"]["offers"][0]["id"].clone();
                let input = json!({ "offerId": offer, "travelers": [crate::booking::adult("Ana", "Silva")], "contact": crate::booking::contact() });
                let created = graphql(document(crate::booking::CREATE_BOOKING), json!({ "input": input })).await;
                let id = created["data"]["createBooking"]["booking"]["id"].as_str().unwrap().to_owned();
                let pay = json!({ "bookingId": id, "paymentMethod": "pm_card_visa", "idempotencyKey": format!("flow-key-{round}") });
                graphql(document(crate::booking::PAY_FOR_BOOKING), json!({ "input": pay })).await;
                graphql(document(crate::booking::CANCEL_BOOKING), json!({ "id": id })).await;
            }
        })
    };

    // Live until the first two arrive, then the socket vanishes.
    let mut seen: Vec<String> = Vec::new();
    while seen.len() < 2 {
        let message = next_for(&mut mine, "n").await;
        seen.push(message["payload"]["data"]["notificationAdded"]["id"].as_str().unwrap().to_owned());
    }
    mine.vanish();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Back: subscribe first, then ask for what was missed since the last id seen.
    let mut again = app.websocket_acked(&client.token).await;
    subscribe(&mut again, "n", ON_NOTIFICATION, json!({})).await;
    let last_seen = seen.last().unwrap().clone();
    let mut missed = list(&client, Some(&last_seen), Some(100)).await;
    missed.reverse();
    seen.extend(missed.iter().map(|n| n["id"].as_str().unwrap().to_owned()));
    flow.await.unwrap();
    // 4 rounds × (created, payment, confirmed, cancelled, refund) = 20.
    let all = wait_for(&client, 20).await;
    while seen.len() < all.len() {
        let message = next_for(&mut again, "n").await;
        let id = message["payload"]["data"]["notificationAdded"]["id"].as_str().unwrap().to_owned();
        if !seen.contains(&id) {
            seen.push(id);
        }
    }
    let stored: Vec<String> = all.iter().rev().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, stored, "live + catch-up = everything stored, in order, once");
    assert_eq!(stored.iter().collect::<BTreeSet<_>>().len(), 20);

    // The stranger's subscription got nothing of this session's: its first
    // message is about its own booking.
    let own = book_and_pay(&stranger, "stranger-key-01").await;
    let first = next_for(&mut theirs, "n").await;
    assert_eq!(first["payload"]["data"]["notificationAdded"]["bookingId"], own.as_str(), "{first}");
    app.stop().await;
}

#[tokio::test]
async fn booking_status_changed_follows_every_transition_and_hides_other_sessions_bookings() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let offer = any_offer(&client, 31).await;
    let booking = client.book(&offer).await["id"].as_str().unwrap().to_owned();

    let mut ws = app.websocket_acked(&client.token).await;
    subscribe(&mut ws, "s", ON_BOOKING_STATUS, json!({ "bookingId": booking })).await;
    let first = next_for(&mut ws, "s").await;
    let change = |m: &Value| {
        let c = &m["payload"]["data"]["bookingStatusChanged"];
        (c["status"].as_str().unwrap_or("").to_owned(), c["previousStatus"].as_str().map(str::to_owned))
    };
    assert_eq!(change(&first), ("PENDING_PAYMENT".to_owned(), None), "{first}");

    client.pay(&booking, "pm_card_visa", "status-key-0001").await;
    let confirmed = next_for(&mut ws, "s").await;
    assert_eq!(change(&confirmed), ("CONFIRMED".to_owned(), Some("PENDING_PAYMENT".to_owned())), "{confirmed}");
    client.cancel(&booking).await;
    let cancelled = next_for(&mut ws, "s").await;
    assert_eq!(change(&cancelled), ("CANCELLED".to_owned(), Some("CONFIRMED".to_owned())), "{cancelled}");
    // A final status completes the subscription.
    assert_eq!(next_for(&mut ws, "s").await["type"], "complete");

    // Another session's booking answers exactly as an unknown id.
    let stranger = Client::new(&app).await;
    let mut theirs = app.websocket_acked(&stranger.token).await;
    for (id, target) in [("x1", booking.as_str()), ("x2", "bk_does_not_exist")] {
        subscribe(&mut theirs, id, ON_BOOKING_STATUS, json!({ "bookingId": target })).await;
        // As graphql-ws does for a subscription that fails to start: one
        // result carrying the error, then `complete`.
        let refused = next_for(&mut theirs, id).await;
        assert_eq!(refused["type"], "next", "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["message"], "No such booking.");
        assert_eq!(next_for(&mut theirs, id).await["type"], "complete");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_event_the_bus_never_carried_is_found_in_the_outbox() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let offer = any_offer(&client, 32).await;
    let booking = client.book(&offer).await["id"].as_str().unwrap().to_owned();
    wait_for(&client, 1).await;
    // An expiring warning written to the outbox only, as if the publish
    // after it had been lost: the worker's poll still turns it into a notification.
    let session = app.state.store().booking(&booking).await.unwrap().unwrap().session_id;
    let event = event_of(&session, &booking, BookingEventKind::BookingExpiring);
    let payload = serde_json::to_string(&event).unwrap();
    let row = NewEvent {
        id: &event.id,
        session_id: &session,
        booking_id: &booking,
        kind: "BOOKING_EXPIRING",
        payload: &payload,
    };
    app.state.store().record_event(&row, chrono::Utc::now()).await.unwrap();
    let all = wait_for(&client, 2).await;
    assert_eq!(all[0]["kind"], "BOOKING_EXPIRING");
    assert_eq!(all[0]["title"], "Hold ends soon");
    // Processing it again (another instance racing) changes nothing.
    assert!(!app.state.notifications().process_event(&event.id).await.unwrap());
    assert_eq!(list(&client, None, None).await.len(), 2);
    app.stop().await;
}

/// A booking event of `session` about `booking`, as the booking service
/// writes it to the outbox.
fn event_of(session: &str, booking: &str, kind: BookingEventKind) -> BookingEvent {
    BookingEvent {
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        booking_id: booking.to_owned(),
        session_id: session.to_owned(),
        status: BookingStatus::PendingPayment,
        previous_status: None,
        at: chrono::Utc::now(),
        payment_id: None,
        refund_id: None,
        amount: None,
        reference: None,
        expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(4)),
        decline_code: None,
        language: "en".into(),
    }
}

#[tokio::test]
async fn events_published_at_once_by_many_sessions_are_each_stored_once_and_in_order_per_session() {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut clients = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let client = Client::new(&app).await;
        let session = app.state.sessions().authenticate(&client.token).await.unwrap().session.id.0.clone();
        clients.push(client);
        sessions.push(session);
    }
    // Interleaved across sessions and published back to back, as the
    // booking service does (outbox row, then the bus): the worker's lanes
    // run several at once, yet each session's come out in its order.
    const PER_SESSION: usize = 12;
    for n in 0..PER_SESSION {
        for session in &sessions {
            let event = event_of(session, &format!("bk_{n:02}"), BookingEventKind::BookingExpiring);
            let payload = serde_json::to_string(&event).unwrap();
            let row = NewEvent {
                id: &event.id,
                session_id: session,
                booking_id: &event.booking_id,
                kind: "BOOKING_EXPIRING",
                payload: &payload,
            };
            app.state.store().record_event(&row, chrono::Utc::now()).await.unwrap();
            app.state.bus().publish(&Topic::bookings(), &BusEvent::Booking(event)).await.unwrap();
        }
    }
    for client in &clients {
        let all = wait_for(client, PER_SESSION).await;
        let bookings: Vec<&str> = all.iter().rev().map(|n| n["bookingId"].as_str().unwrap()).collect();
        let expected: Vec<String> = (0..PER_SESSION).map(|n| format!("bk_{n:02}")).collect();
        assert_eq!(bookings, expected, "a session's notifications in the order of its events (oldest first)");
    }
    let status = app.state.notifications().status();
    assert_eq!(status.notifications_stored, (PER_SESSION * sessions.len()) as u64, "each event stored once");
    assert_eq!(status.events_processed, (PER_SESSION * sessions.len()) as u64);
    assert_eq!(app.state.store().pending_event_count().await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_event_whose_outbox_row_was_never_written_is_recorded_by_the_worker_and_notified_once() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = Client::new(&app).await;
    let session = app.state.sessions().authenticate(&client.token).await.unwrap().session.id.0.clone();
    // Published as if the booking service's outbox write had failed.
    let event = event_of(&session, "bk_bus_only", BookingEventKind::BookingExpiring);
    app.state.bus().publish(&Topic::bookings(), &BusEvent::Booking(event.clone())).await.unwrap();
    let all = wait_for(&client, 1).await;
    assert_eq!(all[0]["bookingId"], "bk_bus_only");
    let payload = app.state.store().event_payload(&event.id).await.unwrap().expect("the worker wrote the row");
    assert_eq!(serde_json::from_str::<BookingEvent>(&payload).unwrap().id, event.id);
    assert_eq!(app.state.store().pending_event_count().await.unwrap(), 0, "and marked it done");
    // The same event again (a second delivery by the bus) changes nothing.
    app.state.bus().publish(&Topic::bookings(), &BusEvent::Booking(event)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(list(&client, None, None).await.len(), 1);
    assert_eq!(app.state.notifications().status().notifications_stored, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_and_stopped() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let auth = app.state.sessions().authenticate(&token).await.unwrap();
    let session = auth.session.id.clone();
    let request =
        app.state.request_data(async_graphql::Request::new(ON_NOTIFICATION), RequestAuth::Session(Box::new(auth)));
    let mut stream = app.state.schema().execute_stream(request);
    // Poll once so the subscription is registered, then flood it without reading.
    assert!(futures_util::FutureExt::now_or_never(stream.next()).is_none());
    let topic = Topic::session_notifications(&session);
    for seq in 1..=400 {
        let message = wayfarer::notifications::NotificationMessage {
            id: wayfarer::notifications::public_id(seq),
            session_id: session.0.clone(),
            seq,
            kind: BookingEventKind::BookingCreated,
            title: "t".into(),
            body: "b".into(),
            booking_id: None,
            at: chrono::Utc::now(),
            read: false,
        };
        app.state.bus().publish(&topic, &BusEvent::Notification(message)).await.unwrap();
    }
    let told = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap();
    let error = &told.errors[0];
    let extensions = serde_json::to_value(&error.extensions).unwrap();
    assert_eq!(extensions["code"], "RATE_LIMITED", "{error:?}");
    assert_eq!(extensions["reason"], "SLOW_CONSUMER");
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().is_none(), "then it ends");
    app.stop().await;
}

#[tokio::test]
async fn the_subscription_gauge_returns_to_zero_after_1000_churned_connections() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = app.start_session().await;
    let addr = app.addr;
    let churn = futures_util::stream::iter(0..1000)
        .map(|i| {
            let token = token.clone();
            async move {
                let mut ws = crate::helpers::connect_ws(addr, "graphql-transport-ws", &[]).await;
                ws.send_json(
                    json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
                )
                .await;
                assert_eq!(ws.next_json().await["type"], "connection_ack");
                subscribe(&mut ws, "n", ON_NOTIFICATION, json!({})).await;
                subscribe(&mut ws, "s", "subscription { serviceStatus { status } }", json!({})).await;
                // The status subscription answers at once: both are live now.
                let _ = next_for(&mut ws, "s").await;
                // Half leave politely, half just vanish.
                if i % 2 == 0 {
                    ws.send(tokio_tungstenite::tungstenite::Message::Close(None)).await;
                } else {
                    ws.vanish();
                }
            }
        })
        .buffer_unordered(50)
        .collect::<Vec<()>>();
    churn.await;
    let live = app.state.live_counts().clone();
    let drained = eventually(Duration::from_secs(20), async || live.subscriptions() == 0).await;
    assert!(drained, "subscriptions left: {}", live.subscriptions());
    app.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_redis_notify_once_and_stream_across() {
    let smtp = crate::smtp_sink::SmtpSink::start().await;
    let smtp_url = smtp.url();
    let (a, b, _sandbox) = crate::helpers::two_instances_on_one_sandbox(|settings| {
        settings.notifications.poll_interval = Duration::from_millis(200);
        settings.notifications.email.smtp_url = Some(secrecy::SecretString::from(smtp_url.clone()));
    })
    .await;
    let on_a = Client::new(&a).await;
    let on_b = Client { app: &b, token: on_a.token.clone() };

    let offer = any_offer(&on_a, 33).await;
    let booking = on_a.book(&offer).await["id"].as_str().unwrap().to_owned();
    // B's subscribers: the notifications and the booking's status.
    let mut ws = b.websocket_acked(&on_a.token).await;
    subscribe(&mut ws, "n", ON_NOTIFICATION, json!({})).await;
    subscribe(&mut ws, "s", ON_BOOKING_STATUS, json!({ "bookingId": booking })).await;
    let first = next_for(&mut ws, "s").await;
    assert_eq!(first["payload"]["data"]["bookingStatusChanged"]["status"], "PENDING_PAYMENT");

    // Paid through A.
    let paid = on_a.pay(&booking, "pm_card_visa", "two-instances-01").await;
    assert_eq!(paid["data"]["payForBooking"]["booking"]["status"], "CONFIRMED", "{paid}");
    let mut notified = Vec::new();
    let mut statuses = Vec::new();
    while notified.len() < 2 || statuses.is_empty() {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next_json()).await.expect("B hears it");
        match message["id"].as_str() {
            Some("n") => {
                notified.push(message["payload"]["data"]["notificationAdded"]["kind"].as_str().unwrap().to_owned())
            }
            Some("s") => statuses.push(message["payload"]["data"]["bookingStatusChanged"].clone()),
            _ => {}
        }
    }
    assert_eq!(notified, ["PAYMENT_SUCCEEDED", "BOOKING_CONFIRMED"]);
    assert_eq!(statuses[0]["status"], "CONFIRMED");
    assert_eq!(statuses[0]["previousStatus"], "PENDING_PAYMENT");
    // Cancelled through B; the status stream follows.
    on_b.cancel(&booking).await;
    let mut cancelled = next_for(&mut ws, "s").await;
    assert_eq!(cancelled["payload"]["data"]["bookingStatusChanged"]["status"], "CANCELLED", "{cancelled}");
    cancelled = next_for(&mut ws, "s").await;
    assert_eq!(cancelled["type"], "complete");

    // Both instances saw every event; each was stored once.
    let all = wait_for(&on_b, 5).await;
    assert_eq!(
        kinds(&all),
        ["REFUND_ISSUED", "BOOKING_CANCELLED", "BOOKING_CONFIRMED", "PAYMENT_SUCCEEDED", "BOOKING_CREATED"]
    );
    let processed =
        || a.state.notifications().status().events_processed + b.state.notifications().status().events_processed;
    assert!(eventually(Duration::from_secs(5), async || processed() >= 5).await);
    assert_eq!(processed(), 5, "each event processed by exactly one instance");
    assert_eq!(a.state.store().pending_event_count().await.unwrap(), 0);

    // E-mailed once each, though both instances saw every event.
    let mails = smtp.wait_for(5, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 5, "one mail per notification");
    assert!(mails.iter().all(|m| m.rcpt_tos == ["ana.silva@example.com"]), "{mails:?}");
    let reference = on_a.booking(&booking).await["data"]["booking"]["reference"].as_str().unwrap().to_owned();
    let confirmation = mails
        .iter()
        .find(|m| m.subject.as_deref().is_some_and(|s| s.starts_with("Booking confirmed")))
        .expect("the confirmation mail");
    assert!(confirmation.subject.as_deref().unwrap().contains(&reference), "{:?}", confirmation.subject);
    let text = confirmation.text.as_deref().unwrap();
    assert!(text.contains(&format!("Booking reference: {reference}")), "{text}");
    assert!(text.contains("Itinerary") && text.contains("Amount paid") && text.contains("Ana Silva"), "{text}");
    let html = confirmation.html.as_deref().unwrap();
    assert!(html.contains(&reference) && html.contains("Receipt"), "{html}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_failing_sms_sink_is_retried_then_dead_lettered_while_the_booking_confirms() {
    let app = TestApp::spawn_with(Backend::Memory, |settings| {
        settings.notifications.retry_base = Duration::from_millis(50);
        settings.notifications.retry_max = Duration::from_millis(200);
        settings.notifications.max_attempts = 3;
    })
    .await;
    let client = Client::new(&app).await;
    let on = client.run(UPDATE_NOTIFICATION_PREFERENCES, json!({ "input": { "sms": true } })).await;
    assert_eq!(on["data"]["updateNotificationPreferences"]["sms"], true, "{on}");
    crate::booking::sandbox(
        &app,
        reqwest::Method::PUT,
        "/_sandbox/personalities/twilio",
        Some(json!({ "outage": true })),
    )
    .await;

    // The booking is not held up by the channel: it confirms.
    let booking = book_and_pay(&client, "sms-outage-0001").await;
    assert_eq!(client.booking(&booking).await["data"]["booking"]["status"], "CONFIRMED");
    let notifications = wait_for(&client, 3).await;
    assert_eq!(notifications.len(), 3);

    // Each notification's SMS: three tries, then a dead letter with the error.
    let session = app.state.store().booking(&booking).await.unwrap().unwrap().session_id;
    let mut deliveries = Vec::new();
    let settled = eventually(Duration::from_secs(10), async || {
        deliveries = app.state.store().deliveries_for_session(&session).await.unwrap();
        deliveries.len() == 3
            && deliveries.iter().all(|d| d.status == wayfarer::store::notifications::DeliveryStatus::Dead)
    })
    .await;
    assert!(settled, "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d.channel == "sms" && d.attempts == 3), "{deliveries:?}");
    assert!(
        deliveries.iter().all(|d| d.last_error.as_deref().is_some_and(|e| e.contains("temporary"))),
        "{deliveries:?}"
    );
    let calls = crate::booking::sandbox(&app, reqwest::Method::GET, "/_sandbox/calls", None).await;
    assert_eq!(calls["twilio"]["messageCreate"], 9, "3 notifications × 3 tries: {calls}");
    assert_eq!(app.state.notifications().status().dead_letters, 3);
    let status: Value = reqwest::get(app.url("/api/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["notifications"]["deliveries"]["deadLetters"], 3, "{status}");

    // Back up: the next notification's SMS goes through at once.
    crate::booking::sandbox(
        &app,
        reqwest::Method::PUT,
        "/_sandbox/personalities/twilio",
        Some(json!({ "outage": false })),
    )
    .await;
    client.cancel(&booking).await;
    let sent = eventually(Duration::from_secs(10), async || {
        let messages = crate::booking::sandbox(&app, reqwest::Method::GET, "/_sandbox/sms/messages", None).await;
        messages["messages"].as_array().map_or(0, Vec::len) >= 2
    })
    .await;
    assert!(sent, "the cancellation and refund texts were sent");
    let messages = crate::booking::sandbox(&app, reqwest::Method::GET, "/_sandbox/sms/messages", None).await;
    let bodies: Vec<&str> =
        messages["messages"].as_array().unwrap().iter().filter_map(|m| m["body"].as_str()).collect();
    assert!(bodies.iter().any(|b| b.contains("Booking cancelled")), "{bodies:?}");
    assert!(messages["messages"].as_array().unwrap().iter().all(|m| m["to"] == "+351912345678"), "{messages}");
    app.stop().await;
}
