//! PostgreSQL crashed (`pg_ctl stop -m immediate`, every backend killed)
//! and restarted while payments are in flight, on a private cluster: every
//! booking the client was told is confirmed exists once and confirmed,
//! every booking is charged at most once (exactly once when confirmed, and
//! refunded when not), its provider order exists once, and paying again
//! with the same idempotency key converges. Reconciled against the
//! sandbox's payment ledger and orders ledger, never by timing.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::booking::{Client, MY_BOOKINGS, ledger, sandbox, set_personality};
use crate::helpers::{Backend, TestApp, eventually};
use crate::services::PrivatePostgres;

const BOOKINGS: usize = 6;

fn status_of(body: &Value) -> Option<String> {
    body["data"]["payForBooking"]["booking"]["status"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_postgres_crash_during_payments_loses_and_duplicates_nothing() {
    let postgres = PrivatePostgres::start().await;
    let url = postgres.url();
    let app = TestApp::spawn_with(Backend::Memory, |s| {
        s.database.url = Some(SecretString::from(url.clone()));
        s.database.acquire_timeout = Duration::from_secs(1);
        s.payments.request_timeout = Duration::from_secs(2);
        s.booking.recovery_after = Duration::from_secs(3);
        s.booking.sweep_interval = Duration::from_millis(500);
    })
    .await;
    let client = Client::new(&app).await;
    let mut ids = Vec::new();
    for n in 0..BOOKINGS {
        let provider = if n % 2 == 0 { "amadeus" } else { "duffel" };
        let offer = client.offers(provider, "MAD", 60 + i64::try_from(n).expect("small"), json!({})).await[0].clone();
        ids.push(client.book(offer["id"].as_str().expect("offer id")).await["id"].as_str().expect("id").to_owned());
    }
    // The first ones are paid and confirmed before the crash: the crash must not lose them.
    let before_crash = 2;
    for (n, id) in ids.iter().enumerate().take(before_crash) {
        let paid = client.pay(id, "pm_card_visa", &format!("pg-crash-{n}")).await;
        assert_eq!(status_of(&paid).as_deref(), Some("CONFIRMED"), "{paid}");
    }
    // The others' charges take a while, so the crash lands while they are in flight.
    set_personality(&app, "stripe", json!({ "chargeDelayMs": 700 })).await;

    let pays = ids.iter().enumerate().skip(before_crash).map(|(n, id)| {
        let client = &client;
        async move { client.pay(id, "pm_card_visa", &format!("pg-crash-{n}")).await }
    });
    let crash = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        postgres.crash();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        postgres.restart().await;
    };
    let (answers, ()) =
        tokio::time::timeout(Duration::from_secs(60), futures_util::future::join(join_all(pays), crash))
            .await
            .expect("every payment answered within the bound across the crash");

    let mut told_confirmed: Vec<&String> = ids.iter().take(before_crash).collect();
    told_confirmed.extend(
        ids.iter()
            .skip(before_crash)
            .zip(&answers)
            .filter(|(_, a)| status_of(a).as_deref() == Some("CONFIRMED"))
            .map(|(id, _)| id),
    );
    for answer in &answers {
        // An in-flight payment the crash hit answers the contract's retryable INTERNAL, nothing worse.
        if let Some(code) = answer["errors"][0]["extensions"]["code"].as_str() {
            assert_eq!(code, "INTERNAL", "{answer}");
        }
    }

    // Retrying each with its own key converges on one outcome.
    let mut finals: HashMap<String, Value> = HashMap::new();
    for (n, id) in ids.iter().enumerate() {
        let key = format!("pg-crash-{n}");
        let mut last = Value::Null;
        let settled = eventually(Duration::from_secs(60), async || {
            last = client.pay(id, "pm_card_visa", &key).await;
            last.get("errors").is_none() && status_of(&last).is_some()
        })
        .await;
        assert!(settled, "paying {id} again with its key converges: {last}");
        let again = client.pay(id, "pm_card_visa", &key).await;
        assert_eq!(again["data"], last["data"], "the same key answers the same");
        finals.insert(id.clone(), last);
    }
    for id in &told_confirmed {
        assert_eq!(status_of(&finals[*id]).as_deref(), Some("CONFIRMED"), "told confirmed, stays confirmed: {id}");
    }

    // The system of record lists each booking once.
    let listed = client.run(MY_BOOKINGS, json!({})).await;
    let listed: Vec<String> = listed["data"]["bookings"]
        .as_array()
        .expect("bookings")
        .iter()
        .filter_map(|b| b["id"].as_str().map(str::to_owned))
        .collect();
    for id in &ids {
        assert_eq!(listed.iter().filter(|l| *l == id).count(), 1, "{id} listed once in {listed:?}");
    }

    // The bank and the airline agree, to the booking.
    let orders = sandbox(&app, reqwest::Method::GET, "/_sandbox/orders", None).await;
    for id in &ids {
        let charges = ledger(&app, id, "charge").await.len();
        let refunds = ledger(&app, id, "refund").await.len();
        let theirs: Vec<&Value> = orders["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .filter(|o| o["clientReference"] == id.as_str())
            .collect();
        assert_eq!(theirs.len(), 1, "one provider order for {id}: {theirs:?}");
        match status_of(&finals[id]).as_deref() {
            Some("CONFIRMED") => {
                assert_eq!((charges, refunds), (1, 0), "{id} charged exactly once");
                assert_eq!(theirs[0]["status"].as_str().map(str::to_ascii_uppercase).as_deref(), Some("CONFIRMED"));
            }
            other => assert!(
                charges <= 1 && charges == refunds,
                "{id} ended {other:?}: {charges} charges, {refunds} refunds"
            ),
        }
    }
    app.stop().await;
}
