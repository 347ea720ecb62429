//! *subscriptions*: N WebSocket connections on one instance, each
//! subscribed to `notificationAdded` of one session; bookings made,
//! paid and cancelled on that session publish notifications, and every
//! connection's delivery latency is measured from the notification's `at`
//! (the event's time on the server's clock — this machine's) to its arrival.
//! Server memory per idle subscribed connection is the RSS growth from
//! before the first connection to all N subscribed and settled, ÷ N.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Context, Report, ServerOptions, Table, distinct_search, errors, ms};
use crate::loadtest::client::{GraphqlClient, SandboxControl, Subscriber, http_client};
use crate::loadtest::stats::{Outcome, Recorder};
use crate::loadtest::target::{ProcessSample, read_process};

const SUBSCRIPTION: &str = "subscription { notificationAdded { id kind bookingId at } }";

/// Runs the scenario.
pub async fn run(ctx: &Context) -> Result<Report, String> {
    let levels = ctx.levels.clone().unwrap_or_else(|| if ctx.smoke { vec![20] } else { vec![10_000] });
    let bookings = if ctx.smoke { 1 } else { 4 };
    let target = ctx.server(&ServerOptions::default()).await?;
    let sandbox = SandboxControl::new(&target.sandbox_url);
    sandbox.set_providers(Duration::ZERO, ctx.offers).await?;
    let url = target.urls[0].clone();
    let client = GraphqlClient::new(http_client(16), &url);
    let mut table = Table::new(
        "subscriptions: notificationAdded on N connections of one session, one instance",
        &[
            "connections",
            "connect errors",
            "server RSS idle → subscribed (MiB)",
            "KiB per idle subscribed connection",
            "notifications × connections",
            "delivered",
            "fan-out p50 (ms)",
            "fan-out p99 (ms)",
            "max (ms)",
            "server CPU / delivery (µs)",
            "loadtest CPU / delivery (µs)",
        ],
    );
    let mut data = Vec::new();
    for &n in &levels {
        let token = client.start_session().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = target.sample();
        let (sockets, connect_errors) = connect_all(&url, &token, n).await;
        // Let the server settle: buffers allocated, nothing in flight.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let subscribed = target.sample();
        let connected = sockets.len();
        let recorder = Arc::new(std::sync::Mutex::new(Recorder::new()));
        let arrived = Arc::new(AtomicU64::new(0));
        let own_before = read_process(std::process::id());
        let mut readers = tokio::task::JoinSet::new();
        for mut socket in sockets {
            let recorder = recorder.clone();
            let arrived = arrived.clone();
            readers.spawn(async move {
                let mut latencies = Vec::new();
                while let Some(message) = socket.next_message(Duration::from_secs(10)).await {
                    if message["type"] != "next" {
                        continue;
                    }
                    arrived.fetch_add(1, Ordering::Relaxed);
                    let at = message["payload"]["data"]["notificationAdded"]["at"].as_str().unwrap_or_default();
                    if let Ok(at) = DateTime::parse_from_rfc3339(at) {
                        let lag = (Utc::now() - at.with_timezone(&Utc)).to_std().unwrap_or_default();
                        latencies.push(lag);
                    }
                }
                let mut recorder = recorder.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for lag in &latencies {
                    recorder.record(*lag, &Outcome::Ok);
                }
                latencies.len() as u64
            });
        }
        let published = publish(&client, &token, bookings, ctx.searches.reserve(bookings as u64)).await?;
        // CPU is read once the last delivery is in, not after the readers'
        // idle timeout: what the fan-out cost, with the bookings that made
        // the notifications and the sockets' keep-alives in the same span.
        let expected = published * connected as u64;
        let mut last = (0, Instant::now());
        while arrived.load(Ordering::Relaxed) < expected && last.1.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = arrived.load(Ordering::Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
        let fanned = target.sample();
        let own_after = read_process(std::process::id());
        let per_delivery_us = |b: Option<ProcessSample>, a: Option<ProcessSample>| match (b, a) {
            (Some(b), Some(a)) if expected > 0 => Some((a.cpu_s - b.cpu_s) * 1e6 / expected as f64),
            _ => None,
        };
        let server_us = per_delivery_us(subscribed, fanned);
        let own_us = per_delivery_us(own_before, own_after);
        let mut delivered = 0;
        while let Some(result) = readers.join_next().await {
            delivered += result.unwrap_or(0);
        }
        let recorder = recorder.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let summary = recorder.summary(Duration::from_secs(1));
        let per_connection_kib = match (before, subscribed) {
            (Some(b), Some(s)) if connected > 0 => Some((s.rss_mib - b.rss_mib) * 1024.0 / connected as f64),
            _ => None,
        };
        table.row(vec![
            n.to_string(),
            connect_errors.to_string(),
            match (before, subscribed) {
                (Some(b), Some(s)) => format!("{:.0} → {:.0}", b.rss_mib, s.rss_mib),
                _ => "—".into(),
            },
            per_connection_kib.map_or("—".into(), |v| format!("{v:.1}")),
            (published * connected as u64).to_string(),
            delivered.to_string(),
            ms(summary.p50_ms),
            ms(summary.p99_ms),
            ms(summary.max_ms),
            server_us.map_or("—".into(), |v| format!("{v:.1}")),
            own_us.map_or("—".into(), |v| format!("{v:.1}")),
        ]);
        data.push(json!({
            "connections": n,
            "connected": connected,
            "connectErrors": connect_errors,
            "rssBefore": before.map(|s| s.rss_mib),
            "rssSubscribed": subscribed.map(|s| s.rss_mib),
            "kibPerIdleConnection": per_connection_kib,
            "notificationsPublished": published,
            "deliveriesExpected": published * connected as u64,
            "delivered": delivered,
            "fanOut": summary,
            "serverCpuUsPerDelivery": server_us,
            "loadtestCpuUsPerDelivery": own_us,
            "errors": errors(&summary),
        }));
    }
    target.stop().await;
    Ok(Report {
        scenario: "subscriptions",
        tables: vec![table],
        notes: vec![
            "Notifications come from bookings created, paid and cancelled on the subscribed session; every one the \
             session stored must reach every connection. Latency runs from the notification's `at` to its arrival \
             at each connection, so it includes the outbox worker and the bus."
                .into(),
            "All connections and the load generator share the two cores with the server.".into(),
            "CPU per delivery: the process's CPU time from all connections subscribed to the last delivery, ÷ \
             deliveries; the bookings that publish the notifications and the sockets' keep-alives fall in the \
             same span. The loadtest's figure is the load generator (10,000 reading sockets) and the sandbox."
                .into(),
        ],
        data: json!({ "levels": data }),
    })
}

/// Opens and subscribes `n` connections, 200 handshakes at a time.
async fn connect_all(url: &str, token: &str, n: usize) -> (Vec<Subscriber>, usize) {
    let mut sockets = Vec::with_capacity(n);
    let mut failed = 0;
    let mut pending = tokio::task::JoinSet::new();
    for _ in 0..n {
        let url = url.to_owned();
        let token = token.to_owned();
        pending.spawn(async move {
            let mut socket = Subscriber::connect(&url, &token).await?;
            socket.subscribe("n", SUBSCRIPTION, json!({})).await?;
            Ok::<_, String>(socket)
        });
        if pending.len() >= 200
            && let Some(result) = pending.join_next().await
        {
            match result {
                Ok(Ok(socket)) => sockets.push(socket),
                _ => failed += 1,
            }
        }
    }
    while let Some(result) = pending.join_next().await {
        match result {
            Ok(Ok(socket)) => sockets.push(socket),
            _ => failed += 1,
        }
    }
    (sockets, failed)
}

/// Books, pays and cancels `bookings` flights on the session; returns the
/// notifications the session then has (each one fanned out to every connection).
async fn publish(client: &GraphqlClient, token: &str, bookings: usize, base: u64) -> Result<u64, String> {
    let token = Some(token);
    for i in 0..bookings {
        let mut search = distinct_search(base + i as u64);
        search["adults"] = json!(1);
        let found = client
            .execute(
                "query($input: FlightSearchInput!) { searchFlights(input: $input) { offers { id } } }",
                json!({ "input": search }),
                token,
            )
            .await;
        let offer = found.data("searchFlights")["offers"][0]["id"].as_str().ok_or("no offers to book")?.to_owned();
        let input = json!({
            "offerId": offer,
            "travelers": [{ "firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1985-04-12" }],
            "contact": { "email": "fanout@example.com" },
        });
        let booked = client
            .execute(
                "mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id } } }",
                json!({ "input": input }),
                token,
            )
            .await;
        let booking = booked.data("createBooking")["booking"]["id"]
            .as_str()
            .ok_or_else(|| format!("createBooking failed: {}", booked.body()))?
            .to_owned();
        let pay = json!({ "bookingId": booking, "paymentMethod": "pm_card_visa", "idempotencyKey": format!("fanout-{base}-{i}") });
        let paid = client
            .execute(
                "mutation($input: PayForBookingInput!) { payForBooking(input: $input) { booking { status } } }",
                json!({ "input": pay }),
                token,
            )
            .await;
        if paid.outcome != Outcome::Ok {
            return Err(format!("payForBooking failed: {}", paid.body()));
        }
        // Cancel after the confirmation has gone out, as a traveller would.
        tokio::time::sleep(Duration::from_millis(500)).await;
        client
            .execute(
                "mutation($id: ID!) { cancelBooking(id: $id) { booking { status } } }",
                json!({ "id": booking }),
                token,
            )
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What the worker stored is what every connection must receive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stored = client.execute("{ notifications(first: 100) { id } }", json!({}), token).await;
    Ok(stored.data("notifications").as_array().map_or(0, |list| list.len() as u64))
}
