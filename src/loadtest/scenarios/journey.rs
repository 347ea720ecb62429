//! *journey*: whole travellers — start a session, subscribe to its
//! `notificationAdded` as the chat page does, ask the chat for a flight
//! (the chat searches), price the first offer, book it, pay with a test
//! card, and wait until the `BOOKING_CONFIRMED` notification arrives on the
//! subscription — as closed loops of increasing numbers of concurrent
//! travellers, each step timed on its own.
//!
//! The wait was once a `notifications` query every 25 ms: at 50 travellers
//! that was about 1,700 queries a second, most of the server's work, and
//! the slower the notifications the more polls, so it measured its own load.
//!
//! The providers answer at once here unless `--latency` says otherwise, so
//! every millisecond measured is beyond provider latency. A level "holds"
//! when every step's p99 stays under 1 s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use serde_json::json;

use super::{Context, Report, ServerOptions, Table, errors, ms};
use crate::loadtest::client::{GraphqlClient, Reply, SandboxControl, Subscriber, http_client};
use crate::loadtest::drive::{Stop, closed_loop};
use crate::loadtest::stats::{Outcome, Recorder};

/// The steps, in order.
const STEPS: &[&str] = &[
    "startSession",
    "subscribe",
    "sendMessage (search)",
    "priceOffer",
    "createBooking",
    "payForBooking",
    "notification",
];

/// What the traveller's page subscribes to.
const ON_NOTIFICATION: &str = "subscription { notificationAdded { kind bookingId } }";

/// Places the chat is asked about (names, as a traveller writes them).
const CITIES: &[&str] = &[
    "London",
    "Madrid",
    "Paris",
    "Rome",
    "Berlin",
    "Lisbon",
    "Amsterdam",
    "Barcelona",
    "Vienna",
    "Dublin",
    "Milan",
    "Munich",
];

/// Per-step recorders shared by the travellers of one level.
type Steps = Arc<Mutex<BTreeMap<&'static str, Recorder>>>;

/// Runs the scenario.
pub async fn run(ctx: &Context, latency: Duration) -> Result<Report, String> {
    // `--levels` steps through traveller counts; `--concurrency` is one level.
    let levels = ctx
        .levels
        .clone()
        .or_else(|| ctx.concurrency.map(|c| vec![c]))
        .unwrap_or_else(|| if ctx.smoke { vec![2] } else { vec![10, 50, 100, 200] });
    let window = if ctx.smoke { Duration::from_secs(2) } else { ctx.duration };
    let target = ctx.server(&ServerOptions::default()).await?;
    let sandbox = SandboxControl::new(&target.sandbox_url);
    sandbox.set_providers(latency, ctx.offers).await?;
    let largest = levels.iter().copied().max().unwrap_or(1);
    // Travellers take the instances in turn (several with --target A,B).
    let clients: Arc<Vec<GraphqlClient>> =
        Arc::new(target.urls.iter().map(|url| GraphqlClient::new(http_client(largest * 2), url)).collect());
    let mut table = Table::new(
        format!(
            "journey: chat → search → price → book → pay → notification, providers at {} ms, {} s per level",
            latency.as_millis(),
            window.as_secs_f64()
        ),
        &[
            "travellers",
            "journeys/s",
            "journey p50 (ms)",
            "journey p99 (ms)",
            "worst step p99 (ms)",
            "holds (p99 < 1 s)",
            "errors",
        ],
    );
    let mut steps_table =
        Table::new("journey steps, p50 / p99 (ms), per level", &[&["travellers"][..], STEPS].concat());
    let mut data = Vec::new();
    let mut held = None;
    let sequence = Arc::new(std::sync::atomic::AtomicU64::new(ctx.searches.reserve(1_000_000)));
    for &travellers in &levels {
        let steps: Steps = Arc::default();
        let journey_steps = steps.clone();
        let journey_clients = clients.clone();
        let sequence = sequence.clone();
        let run = closed_loop(travellers, Stop::After(window), move |_| {
            let n = sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let client = journey_clients[(n as usize) % journey_clients.len()].clone();
            let steps = journey_steps.clone();
            async move { journey(&client, &steps, n).await }
        })
        .await;
        let summary = run.recorder.summary(run.elapsed);
        let steps = std::mem::take(&mut *steps.lock().unwrap_or_else(PoisonError::into_inner));
        let step_summaries: BTreeMap<&str, _> =
            steps.iter().map(|(name, recorder)| (*name, recorder.summary(run.elapsed))).collect();
        let worst = step_summaries.values().map(|s| s.p99_ms).fold(0.0, f64::max);
        let holds = worst < 1000.0 && summary.ok > 0;
        if holds {
            held = Some(travellers);
        }
        table.row(vec![
            travellers.to_string(),
            format!("{:.1}", summary.ok as f64 / run.elapsed.as_secs_f64()),
            ms(summary.p50_ms),
            ms(summary.p99_ms),
            ms(worst),
            if holds { "yes".into() } else { "no".into() },
            errors(&summary),
        ]);
        let mut cells = vec![travellers.to_string()];
        for step in STEPS {
            cells.push(step_summaries.get(step).map_or("—".into(), |s| format!("{} / {}", ms(s.p50_ms), ms(s.p99_ms))));
        }
        steps_table.row(cells);
        data.push(json!({ "travellers": travellers, "journeys": summary, "steps": step_summaries }));
    }
    let orders = sandbox.get("/_sandbox/orders").await.ok();
    target.stop().await;
    Ok(Report {
        scenario: "journey",
        tables: vec![table, steps_table],
        notes: vec![
            format!(
                "Largest level that held (every step's p99 under 1 s): {}.",
                held.map_or("none".into(), |n| n.to_string())
            ),
            "A journey is an error when any step fails; its code is that step's. The notification step is the wait \
             from the payment's answer until BOOKING_CONFIRMED arrives on the traveller's notificationAdded \
             subscription (opened after startSession, as the chat page does)."
                .into(),
        ],
        data: json!({
            "latencyMs": latency.as_millis() as u64,
            "levels": data,
            "largestLevelHeld": held,
            "sandboxOrders": orders.as_ref().and_then(|o| o["orders"].as_array()).map(Vec::len),
        }),
    })
}

fn record(steps: &Steps, step: &'static str, started: Instant, outcome: &Outcome) {
    let mut steps = steps.lock().unwrap_or_else(PoisonError::into_inner);
    steps.entry(step).or_default().record(started.elapsed(), outcome);
}

/// Runs `step`, records it, and hands back the reply when it succeeded.
async fn step(steps: &Steps, name: &'static str, call: impl Future<Output = Reply>) -> Result<Reply, Outcome> {
    let started = Instant::now();
    let reply = call.await;
    record(steps, name, started, &reply.outcome);
    match reply.outcome {
        Outcome::Ok => Ok(reply),
        ref failed => Err(failed.clone()),
    }
}

/// One traveller's whole journey; its outcome is the first failed step's.
async fn journey(client: &GraphqlClient, steps: &Steps, n: u64) -> Outcome {
    match journey_steps(client, steps, n).await {
        Ok(()) => Outcome::Ok,
        Err(outcome) => outcome,
    }
}

async fn journey_steps(client: &GraphqlClient, steps: &Steps, n: u64) -> Result<(), Outcome> {
    let session = step(steps, "startSession", async {
        client
            .execute(
                "mutation { startSession(locale: \"en-GB\", timeZone: \"Europe/London\") { token } }",
                json!({}),
                None,
            )
            .await
    })
    .await?;
    let token = session.data("startSession")["token"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    let subscribed = match Subscriber::connect(client.base_url(), &token).await {
        Ok(mut socket) => socket.subscribe("n", ON_NOTIFICATION, json!({})).await.map(|()| socket),
        Err(error) => Err(error),
    };
    let outcome = if subscribed.is_ok() { Outcome::Ok } else { Outcome::Error("WEBSOCKET".into()) };
    record(steps, "subscribe", started, &outcome);
    let mut socket = subscribed.map_err(|_| outcome)?;
    let token = Some(token.as_str());

    let origin = CITIES[(n as usize) % CITIES.len()];
    let destination = CITIES[(n as usize / CITIES.len() + 1 + n as usize) % CITIES.len()];
    let destination = if destination == origin { CITIES[(n as usize + 1) % CITIES.len()] } else { destination };
    let days = 14 + (n % 200);
    let date = Utc::now().date_naive().checked_add_days(Days::new(days)).unwrap_or_else(|| Utc::now().date_naive());
    let text = format!("I want to fly from {origin} to {destination} on {} for one adult", date.format("%-d %B %Y"));
    let chat = step(steps, "sendMessage (search)", async {
        client
            .execute(
                "mutation($text: String!) { sendMessage(text: $text) { stage offers { id } } }",
                json!({ "text": text }),
                token,
            )
            .await
    })
    .await?;
    let Some(offer) = chat.data("sendMessage")["offers"][0]["id"].as_str().map(str::to_owned) else {
        return Err(Outcome::Error("NO_OFFERS".into()));
    };

    let priced = step(steps, "priceOffer", async {
        client
            .execute(
                "mutation($id: ID!) { priceOffer(offerId: $id) { offer { id } priceChanged } }",
                json!({ "id": offer }),
                token,
            )
            .await
    })
    .await?;
    let offer = priced.data("priceOffer")["offer"]["id"].as_str().unwrap_or(&offer).to_owned();

    let input = json!({
        "offerId": offer,
        "travelers": [{ "firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1985-04-12" }],
        "contact": { "email": format!("traveller{n}@example.com") },
    });
    let booked = step(steps, "createBooking", async {
        client
            .execute(
                "mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id status } } }",
                json!({ "input": input }),
                token,
            )
            .await
    })
    .await?;
    let booking = booked.data("createBooking")["booking"]["id"].as_str().unwrap_or_default().to_owned();

    let pay = json!({ "bookingId": booking, "paymentMethod": "pm_card_visa", "idempotencyKey": format!("loadtest-pay-{n}-{booking}") });
    step(steps, "payForBooking", async {
        client
            .execute(
                "mutation($input: PayForBookingInput!) { payForBooking(input: $input) { payment { status } booking { status } } }",
                json!({ "input": pay }),
                token,
            )
            .await
    })
    .await?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let confirmed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match socket.next_message(left).await {
            Some(message) if message["type"] == "next" => {
                let added = &message["payload"]["data"]["notificationAdded"];
                if added["kind"] == "BOOKING_CONFIRMED" && added["bookingId"] == booking.as_str() {
                    break true;
                }
            }
            Some(_) => {}
            // Closed, or nothing within the deadline: catch up by query, as the page does.
            None => break confirmed_by_query(client, token, &booking).await,
        }
    };
    socket.close().await;
    let outcome = if confirmed { Outcome::Ok } else { Outcome::Error("NO_CONFIRMATION".into()) };
    record(steps, "notification", started, &outcome);
    if confirmed { Ok(()) } else { Err(outcome) }
}

/// Whether `notifications` lists the booking's `BOOKING_CONFIRMED`.
async fn confirmed_by_query(client: &GraphqlClient, token: Option<&str>, booking: &str) -> bool {
    let reply = client.execute("{ notifications(first: 20) { kind bookingId } }", json!({}), token).await;
    reply
        .data("notifications")
        .as_array()
        .is_some_and(|list| list.iter().any(|n| n["kind"] == "BOOKING_CONFIRMED" && n["bookingId"] == booking))
}
