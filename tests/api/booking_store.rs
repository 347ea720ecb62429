//! The booking store's contract, one set of bodies run on SQLite and on
//! PostgreSQL: bookings scoped to their session, transitions that win once,
//! sweeper claims split between two instances (two pools on one database),
//! idempotency keys under concurrency, the one-success-per-booking backstop,
//! webhook events processed once, amounts exact to the cent, and the
//! notifications tables: gap-free numbering under concurrent inserts, outbox
//! events and deliveries claimed once, preferences.

use std::collections::HashSet;
use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use wayfarer::booking::model::{BookingStatus, PaymentStatus, RefundStatus, SagaStep};
use wayfarer::config::DatabaseSettings;
use wayfarer::flights::model::{
    Itinerary, Money, Offer, OrderContact, OrderTraveler, PassengerType, ProviderOffer, Segment, SegmentEnd,
    TravelDocument,
};
use wayfarer::store::bookings::{BookingChange, BookingGuard, NewBooking, new_booking_id};
use wayfarer::store::idempotency::{KeyClaim, RecoveryPoint, StoredResponse, request_fingerprint};
use wayfarer::store::notifications::{
    DeliveryOutcome, DeliveryStatus, NewDelivery, NewEvent, NewNotification, PendingEvent, PreferencesRecord,
};
use wayfarer::store::payments::{
    ChargeOutcome, ChargeStart, ExternalCharge, KeyLock, NewPayment, NewRefund, PaymentChange, new_payment_id,
    new_refund_id,
};
use wayfarer::store::{Store, StoreError, from_millis};

use crate::helpers::fresh_postgres_database;

const LEASE: Duration = Duration::from_secs(60);

/// A database for one test: a SQLite file in a temporary directory, or a fresh PostgreSQL database.
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("wayfarer.db").display());
        Self { url, _dir: Some(dir) }
    }

    async fn postgres() -> Self {
        Self { url: fresh_postgres_database().await, _dir: None }
    }
}

fn settings() -> DatabaseSettings {
    // Two pools per test and tests in parallel: stay well under the server's connection limit.
    DatabaseSettings { max_connections: 8, ..DatabaseSettings::default() }
}

/// A pool on `url`, migrated.
async fn open(url: &str) -> Store {
    let store = Store::connect(&SecretString::from(url.to_owned()), &settings()).await.expect("connects");
    store.migrate().await.expect("migrates");
    store
}

/// Two "instances": two pools on one database.
async fn two_instances(url: &str) -> (Store, Store) {
    (open(url).await, Store::connect(&SecretString::from(url.to_owned()), &settings()).await.expect("second pool"))
}

fn now() -> DateTime<Utc> {
    from_millis(Utc::now().timestamp_millis())
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

fn money(amount: &str) -> Money {
    Money { amount: Decimal::from_str(amount).expect("decimal"), currency: "EUR".to_owned() }
}

fn offer(id: &str, amount: &str, expires_at: DateTime<Utc>) -> Offer {
    let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").expect("time");
    Offer {
        id: id.to_owned(),
        provider: "duffel".to_owned(),
        price: money(amount),
        seats_available: Some(4),
        expires_at,
        itineraries: vec![Itinerary {
            duration_minutes: 155,
            segments: vec![Segment {
                carrier: "TP".to_owned(),
                flight_number: "TP1350".to_owned(),
                operating_carrier: None,
                departure: SegmentEnd {
                    airport: "LIS".to_owned(),
                    terminal: Some("1".to_owned()),
                    at: at("2027-03-01T07:05"),
                },
                arrival: SegmentEnd {
                    airport: "LHR".to_owned(),
                    terminal: Some("2".to_owned()),
                    at: at("2027-03-01T09:40"),
                },
                duration_minutes: 155,
                aircraft: Some("32N".to_owned()),
            }],
        }],
        provider_offer: ProviderOffer::from_value(
            &json!({ "id": format!("off_{id}"), "total_amount": amount, "slices": [{ "segments": [1, 2] }] }),
        ),
        passengers: vec![PassengerType::Adult, PassengerType::Adult],
    }
}

fn travelers() -> Vec<OrderTraveler> {
    vec![
        OrderTraveler {
            first_name: "Ana".to_owned(),
            last_name: "Silva".to_owned(),
            date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 17).expect("date"),
            kind: PassengerType::Adult,
            document: Some(TravelDocument {
                number: "P1234567".to_owned(),
                expiry_date: NaiveDate::from_ymd_opt(2031, 1, 31).expect("date"),
                issuing_country: "PT".to_owned(),
                nationality: "PT".to_owned(),
            }),
        },
        OrderTraveler {
            first_name: "Rui".to_owned(),
            last_name: "Silva".to_owned(),
            date_of_birth: NaiveDate::from_ymd_opt(2019, 2, 3).expect("date"),
            kind: PassengerType::Child,
            document: None,
        },
    ]
}

fn new_booking(session: &str, amount: &str, step: SagaStep, expires_at: DateTime<Utc>) -> NewBooking {
    let id = new_booking_id();
    NewBooking {
        offer: offer(&format!("of_{id}"), amount, expires_at),
        id,
        session_id: session.to_owned(),
        total: money(amount),
        travelers: travelers(),
        contact: OrderContact { email: "ana@example.com".to_owned(), phone: Some("+351912345678".to_owned()) },
        language: "pt".to_owned(),
        provider_order_id: (step != SagaStep::HoldRequested).then(|| format!("ord_{}", uuid::Uuid::new_v4().simple())),
        step,
        expires_at,
    }
}

/// Inserts a held booking in `session` expiring at `expires_at`; its id.
async fn held(store: &Store, session: &str, expires_at: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let booking = new_booking(session, "342.20", SagaStep::Held, expires_at);
    store.insert_booking(&booking, at).await.expect("insert");
    booking.id
}

fn payment(booking_id: &str, session: &str, amount: &str, key: Option<&str>) -> NewPayment {
    NewPayment {
        id: new_payment_id(),
        booking_id: booking_id.to_owned(),
        session_id: session.to_owned(),
        status: PaymentStatus::Processing,
        amount: money(amount),
        method: "pm_card_visa".to_owned(),
        gateway_payment_id: None,
        decline_code: None,
        idempotency_key: key.map(str::to_owned),
    }
}

async fn step_of(store: &Store, id: &str) -> (BookingStatus, SagaStep) {
    let booking = store.booking(id).await.expect("read").expect("exists");
    (booking.status, booking.step)
}

// ------------------------------------------------------------------ migrations

async fn migrations_are_additive(url: String) {
    // A database as the previous release left it: only the instances migration applied.
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = if url.starts_with("sqlite") { "sqlite" } else { "postgres" };
    let first = format!("{}/src/store/migrations/{engine}/20261203000001_instances.sql", env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(&first, dir.path().join("20261203000001_instances.sql")).expect("copy the first migration");
    let store = Store::connect(&SecretString::from(url.clone()), &settings()).await.expect("connects");
    let previous = sqlx::migrate::Migrator::new(dir.path()).await.expect("previous migrator");
    previous.run(store.pool()).await.expect("previous release migrates");
    store.register_instance("old", "0.9.0", now()).await.expect("the old table works");

    let state = store.migration_state().await.expect("state");
    assert_eq!(state.applied, 1);
    assert!(state.known >= 2, "{state:?}");
    assert!(!state.is_current());
    assert_eq!(store.migrate().await.expect("migrates on top"), state.known - 1);
    assert!(store.migration_state().await.expect("state").is_current());
    assert_eq!(store.live_instances(now() - minutes(1)).await.expect("instances kept").len(), 1);
    let id = held(&store, "s1", now() + minutes(10), now()).await;
    assert!(store.booking(&id).await.expect("read").is_some(), "the new tables work");
    store.close().await;

    // And on a fresh database, all at once.
    let fresh = if engine == "sqlite" { Db::sqlite() } else { Db::postgres().await };
    let store = Store::connect(&SecretString::from(fresh.url.clone()), &settings()).await.expect("connects");
    let known = store.migration_state().await.expect("state").known;
    assert_eq!(store.migrate().await.expect("migrates"), known);
    assert_eq!(store.migrate().await.expect("again"), 0);
    store.close().await;
}

// ------------------------------------------------------------------ bookings

async fn bookings_round_trip_and_stay_in_their_session(url: String) {
    let store = open(&url).await;
    let t0 = now();
    let first = new_booking("session-a", "342.20", SagaStep::HoldRequested, t0 + minutes(20));
    let second = new_booking("session-a", "0.10", SagaStep::Held, t0 + minutes(30));
    let other = new_booking("session-b", "99.99", SagaStep::Held, t0 + minutes(30));
    store.insert_booking(&first, t0).await.expect("insert first");
    store.insert_booking(&second, t0 + minutes(1)).await.expect("insert second");
    store.insert_booking(&other, t0 + minutes(2)).await.expect("insert other");

    let read = store.booking_for_session("session-a", &first.id).await.expect("read").expect("own booking");
    assert_eq!(read.id, first.id);
    assert_eq!(read.session_id, "session-a");
    assert_eq!(read.status, BookingStatus::PendingPayment);
    assert_eq!(read.step, SagaStep::HoldRequested);
    assert_eq!(read.offer, first.offer, "the snapshot and the verbatim provider offer come back whole");
    assert_eq!(read.total, money("342.20"));
    assert_eq!(read.total.amount.to_string(), "342.20");
    assert_eq!(read.provider_order_id, None);
    assert_eq!(read.reference, None);
    assert_eq!(read.contact, first.contact);
    assert_eq!(read.language, "pt");
    assert_eq!(read.created_at, t0);
    assert_eq!(read.updated_at, t0);
    assert_eq!(read.expires_at, t0 + minutes(20));
    assert_eq!(read.expiring_notified_at, None);
    assert_eq!(read.claimed_by, None);
    assert_eq!(read.version, 0);
    assert_eq!(read.travelers.len(), 2);
    assert_eq!(read.travelers[0].first_name, "Ana");
    assert_eq!(read.travelers[0].kind, PassengerType::Adult);
    assert_eq!(read.travelers[0].date_of_birth, NaiveDate::from_ymd_opt(1990, 5, 17).expect("date"));
    let document = read.travelers[0].document.as_ref().expect("document summary");
    assert_eq!(document.expiry_date, NaiveDate::from_ymd_opt(2031, 1, 31).expect("date"));
    assert_eq!((document.issuing_country.as_str(), document.nationality.as_str()), ("PT", "PT"));
    assert_eq!(read.travelers[1].first_name, "Rui");
    assert_eq!(read.travelers[1].kind, PassengerType::Child);
    assert_eq!(read.travelers[1].document, None);

    // Another session's id reads exactly as an unknown one.
    assert!(store.booking_for_session("session-b", &first.id).await.expect("read").is_none());
    assert!(store.booking_for_session("session-a", "bk_nope").await.expect("read").is_none());
    assert!(store.booking(&other.id).await.expect("read").is_some(), "sweepers read any session's");

    let listed = store.bookings_for_session("session-a").await.expect("list");
    assert_eq!(listed.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), [second.id.as_str(), first.id.as_str()]);
    assert!(listed.iter().all(|b| b.travelers.len() == 2), "each listed booking has its own travellers");
    assert_eq!(store.bookings_for_session("session-b").await.expect("list").len(), 1);
    assert!(store.bookings_for_session("session-c").await.expect("list").is_empty());

    // A duplicate id is a conflict, and leaves the first booking untouched.
    let mut duplicate = new_booking("session-b", "1.00", SagaStep::Held, t0);
    duplicate.id = first.id.clone();
    assert!(matches!(store.insert_booking(&duplicate, t0).await, Err(StoreError::Conflict(_))));
    let again = store.booking(&first.id).await.expect("read").expect("exists");
    assert_eq!((again.session_id.as_str(), again.travelers.len()), ("session-a", 2));

    // The refused insert added no travellers either (3 bookings × 2).
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM travelers").fetch_one(store.pool()).await.expect("count");
    assert_eq!(stored, 6);

    // Document numbers are not stored anywhere.
    let rows = sqlx::query("SELECT * FROM travelers").fetch_all(store.pool()).await.expect("rows");
    let mut texts = 0;
    for row in &rows {
        use sqlx::{Column as _, Row as _};
        for column in row.columns() {
            if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                texts += 1;
                assert!(!text.contains("P1234567"), "{} holds the document number", column.name());
            }
        }
    }
    assert!(texts >= 6 * 4, "the text columns were read ({texts})");
    store.close().await;
}

async fn transitions_win_once_and_only_from_allowed_states(url: String) {
    let store = open(&url).await;
    let t0 = now();
    let booking = new_booking("s", "342.20", SagaStep::HoldRequested, t0 + minutes(5));
    store.insert_claimed_booking(&booking, "creator", Duration::from_secs(30), t0).await.expect("insert");
    let id = booking.id.as_str();
    let read = store.booking(id).await.expect("read").expect("exists");
    assert_eq!(read.claimed_by.as_deref(), Some("creator"), "leased by its insert");
    // Another owner may not take it while the lease runs.
    assert!(!store.claim_booking(id, "sweeper", t0, Duration::from_secs(30)).await.expect("claim"));

    assert!(!store.confirm_booking(id, "ABC123", t0).await.expect("confirm"), "not from HOLD_REQUESTED");
    let t1 = t0 + minutes(1);
    // Fenced: only the lease holder marks the hold …
    assert!(!store.mark_booking_held(id, "ord_0", t0 + minutes(15), "sweeper", t1).await.expect("held by another"));
    assert!(store.mark_booking_held(id, "ord_1", t0 + minutes(15), "creator", t1).await.expect("held"));
    let twice = store.mark_booking_held(id, "ord_2", t0 + minutes(15), "creator", t1).await.expect("held again");
    assert!(!twice, "wins once");
    let read = store.booking(id).await.expect("read").expect("exists");
    assert_eq!((read.step, read.provider_order_id.as_deref()), (SagaStep::Held, Some("ord_1")));
    // … and gives the lease up in the same write.
    assert_eq!(read.claimed_by, None);
    assert_eq!((read.expires_at, read.updated_at, read.version), (t0 + minutes(15), t1, 1));

    // A guard on expiry: an expired hold cannot move to CHARGE_REQUESTED.
    let to_charge = BookingChange { step: Some(SagaStep::ChargeRequested), ..BookingChange::default() };
    let unexpired = |at| BookingGuard {
        statuses: &[BookingStatus::PendingPayment],
        steps: &[SagaStep::Held],
        unexpired_at: Some(at),
        ..BookingGuard::default()
    };
    assert!(!store.transition_booking(id, &unexpired(t0 + minutes(15)), &to_charge, t1).await.expect("expired"));
    assert!(store.transition_booking(id, &unexpired(t1), &to_charge, t1).await.expect("charge"));
    let to_confirming = BookingChange { step: Some(SagaStep::ConfirmRequested), ..BookingChange::default() };
    let from = |steps: &'static [SagaStep]| BookingGuard { steps, ..BookingGuard::default() };
    assert!(!store.transition_booking(id, &from(&[SagaStep::Charged]), &to_confirming, t1).await.expect("skip"));
    let charged = BookingChange { step: Some(SagaStep::Charged), ..BookingChange::default() };
    assert!(store.transition_booking(id, &from(&[SagaStep::ChargeRequested]), &charged, t1).await.expect("charged"));
    assert!(store.transition_booking(id, &from(&[SagaStep::Charged]), &to_confirming, t1).await.expect("confirming"));
    assert!(store.confirm_booking(id, "ABC123", t1).await.expect("confirm"));
    assert!(!store.confirm_booking(id, "XYZ999", t1).await.expect("confirm twice"));
    let read = store.booking(id).await.expect("read").expect("exists");
    assert_eq!(
        (read.status, read.step, read.reference.as_deref()),
        (BookingStatus::Confirmed, SagaStep::Done, Some("ABC123"))
    );

    // A confirmed booking cancels through CANCEL_REQUESTED; a final one moves no more.
    assert!(
        !store.settle_booking(id, &[SagaStep::CancelRequested], BookingStatus::Cancelled, t1).await.expect("settle")
    );
    let cancel = BookingChange { step: Some(SagaStep::CancelRequested), ..BookingChange::default() };
    let confirmed =
        BookingGuard { statuses: &[BookingStatus::Confirmed], steps: &[SagaStep::Done], ..BookingGuard::default() };
    assert!(store.transition_booking(id, &confirmed, &cancel, t1).await.expect("cancel requested"));
    assert!(
        store.settle_booking(id, &[SagaStep::CancelRequested], BookingStatus::Cancelled, t1).await.expect("settle")
    );
    assert_eq!(step_of(&store, id).await, (BookingStatus::Cancelled, SagaStep::Done));
    for to in BookingStatus::ALL {
        assert!(!store.settle_booking(id, &SagaStep::ALL, to, t1).await.expect("final"), "{to:?} from CANCELLED");
    }
    let any = BookingChange { status: Some(BookingStatus::Confirmed), ..BookingChange::default() };
    let live = BookingGuard {
        statuses: &[BookingStatus::PendingPayment, BookingStatus::Confirmed],
        ..BookingGuard::default()
    };
    assert!(!store.transition_booking(id, &live, &any, t1).await.expect("final"));
    assert!(!store.transition_booking("bk_nope", &BookingGuard::default(), &any, t1).await.expect("unknown id"));
    store.close().await;
}

async fn concurrent_transitions_have_one_winner(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let id = held(&a, "s", t0 + minutes(10), t0).await;

    // 20 charges for one booking at once, from two instances: one starts.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let attempt = payment(&id, "s", "342.20", None);
        tasks.push(tokio::spawn(async move { store.begin_charge(&attempt, None, t0).await }));
    }
    let mut started = 0;
    for task in tasks {
        match task.await.expect("joined").expect("charge claim") {
            ChargeStart::Started => started += 1,
            ChargeStart::NotPayable => {}
            ChargeStart::KeyLockLost => panic!("no key was given"),
        }
    }
    assert_eq!(started, 1);
    assert_eq!(a.payments_for_booking(&id).await.expect("payments").len(), 1, "the losers wrote nothing");
    assert_eq!(step_of(&a, &id).await, (BookingStatus::PendingPayment, SagaStep::ChargeRequested));

    // 20 settlements of another booking at once: one wins, and its status sticks.
    let other = held(&a, "s", t0 + minutes(10), t0).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let other = other.clone();
        let to = if i % 3 == 0 { BookingStatus::Expired } else { BookingStatus::Cancelled };
        tasks.push(tokio::spawn(async move {
            store.settle_booking(&other, &[SagaStep::Held], to, t0).await.map(|won| won.then_some(to))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let Some(to) = task.await.expect("joined").expect("settle") {
            winners.push(to);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(step_of(&a, &other).await, (winners[0], SagaStep::Done));
    b.close().await;
    a.close().await;
}

// ------------------------------------------------------------------ sweeper claims

async fn expired_claims_split_between_instances_and_leases_lapse(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let mut expired = HashSet::new();
    for i in 0..30 {
        expired.insert(held(&a, &format!("s{}", i % 3), t0 - minutes(1 + i), t0 - minutes(60)).await);
    }
    let live = held(&a, "s0", t0 + minutes(5), t0).await;
    let holding = new_booking("s0", "10.00", SagaStep::HoldRequested, t0 - minutes(5));
    a.insert_booking(&holding, t0 - minutes(60)).await.expect("insert");

    // Two instances sweep at once, a few at a time, until nothing is left.
    let sweep = |store: Store, owner: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim_expired(t0, 4, owner, LEASE).await.expect("claim");
                if claimed.is_empty() {
                    return mine;
                }
                for booking in claimed {
                    assert_eq!(booking.claimed_by.as_deref(), Some(owner));
                    assert_eq!(booking.claimed_until, Some(t0 + chrono::Duration::from_std(LEASE).expect("lease")));
                    mine.push(booking.id);
                }
            }
        })
    };
    let (from_a, from_b) = tokio::join!(sweep(a.clone(), "instance-a"), sweep(b.clone(), "instance-b"));
    let (from_a, from_b) = (from_a.expect("joined"), from_b.expect("joined"));
    let all: Vec<&String> = from_a.iter().chain(from_b.iter()).collect();
    assert_eq!(all.len(), 30, "each expired booking claimed exactly once: a {} b {}", from_a.len(), from_b.len());
    assert_eq!(all.iter().map(|id| (*id).clone()).collect::<HashSet<_>>(), expired);
    assert!(!all.contains(&&live) && !all.contains(&&holding.id), "only held bookings past their expiry");

    // While leased nothing is claimable; once the lease lapses, another instance may reclaim.
    assert!(
        b.claim_expired(t0 + minutes(1) - chrono::Duration::milliseconds(1), 100, "instance-c", LEASE)
            .await
            .expect("claim")
            .is_empty()
    );
    let some = from_a.first().or(from_b.first()).expect("one claimed").clone();
    assert!(!b.claim_booking(&some, "instance-c", t0, LEASE).await.expect("claim one"), "leased by another");
    let after = t0 + minutes(1);
    let reclaimed = b.claim_expired(after, 100, "instance-c", LEASE).await.expect("reclaim");
    assert_eq!(reclaimed.len(), 30);

    // Fencing: the old owner's guarded transition no longer applies.
    let old_owner = if from_a.contains(&some) { "instance-a" } else { "instance-b" };
    let expire = BookingChange {
        status: Some(BookingStatus::Expired),
        step: Some(SagaStep::Done),
        release_claim: true,
        ..BookingChange::default()
    };
    assert!(!a.transition_booking(&some, &fenced(old_owner), &expire, after).await.expect("fenced"));
    assert!(b.transition_booking(&some, &fenced("instance-c"), &expire, after).await.expect("owner"));
    let read = a.booking(&some).await.expect("read").expect("exists");
    assert_eq!((read.status, read.claimed_by, read.claimed_until), (BookingStatus::Expired, None, None));

    // A released lease is free at once; claim_booking renews for its holder.
    let next = reclaimed.iter().map(|r| r.id.clone()).find(|id| *id != some).expect("another");
    assert!(b.claim_booking(&next, "instance-c", after, LEASE).await.expect("renew"));
    assert!(!a.release_booking(&next, "instance-a").await.expect("not theirs"));
    assert!(b.release_booking(&next, "instance-c").await.expect("release"));
    assert!(a.claim_booking(&next, "instance-a", after, LEASE).await.expect("free"));
    b.close().await;
    a.close().await;
}

async fn stuck_sagas_are_claimed_for_recovery(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let old = t0 - minutes(30);
    let mut stuck = HashSet::new();
    for step in SagaStep::IN_FLIGHT {
        let booking = new_booking("s", "5.00", step, t0 + minutes(10));
        a.insert_booking(&booking, old).await.expect("insert");
        stuck.insert(booking.id);
    }
    // Recent in-flight rows, and resting ones however old, are not taken.
    let recent = new_booking("s", "5.00", SagaStep::ChargeRequested, t0 + minutes(10));
    a.insert_booking(&recent, t0 - minutes(1)).await.expect("insert");
    for step in [SagaStep::Held, SagaStep::Done] {
        a.insert_booking(&new_booking("s", "5.00", step, t0 + minutes(10)), old).await.expect("insert");
    }
    let stale_before = t0 - minutes(5);
    let (ca, cb) = tokio::join!(
        a.claim_stuck(t0, stale_before, 100, "recover-a", LEASE),
        b.claim_stuck(t0, stale_before, 100, "recover-b", LEASE)
    );
    let (ca, cb) = (ca.expect("claim"), cb.expect("claim"));
    assert_eq!(ca.len() + cb.len(), SagaStep::IN_FLIGHT.len(), "each stuck booking once");
    assert_eq!(ca.iter().chain(cb.iter()).map(|r| r.id.clone()).collect::<HashSet<_>>(), stuck);
    assert!(a.claim_stuck(t0, stale_before, 100, "recover-c", LEASE).await.expect("claim").is_empty());
    // A recovery worker that died: its lease lapses and the row is taken again.
    let later = t0 + minutes(2);
    assert_eq!(b.claim_stuck(later, stale_before, 100, "recover-c", LEASE).await.expect("claim").len(), stuck.len());
    b.close().await;
    a.close().await;
}

async fn expiring_warnings_are_claimed_once(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let mut soon = HashSet::new();
    for i in 0..12 {
        soon.insert(held(&a, "s", t0 + minutes(1 + i % 4), t0).await);
    }
    let later = held(&a, "s", t0 + minutes(30), t0).await;
    let gone = held(&a, "s", t0 - minutes(1), t0).await;
    let horizon = t0 + minutes(5);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { store.claim_expiring(t0, horizon, 5).await }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        for booking in task.await.expect("joined").expect("claim") {
            assert_eq!(booking.expiring_notified_at, Some(t0));
            seen.push(booking.id);
        }
    }
    // Six calls of five may leave some unclaimed; keep calling until none are left.
    loop {
        let more = a.claim_expiring(t0, horizon, 5).await.expect("claim");
        if more.is_empty() {
            break;
        }
        seen.extend(more.into_iter().map(|b| b.id));
    }
    assert_eq!(seen.len(), 12, "once each");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), soon);
    let rest = b.claim_expiring(t0 + minutes(1), t0 + minutes(60), 100).await.expect("claim");
    assert_eq!(rest.into_iter().map(|r| r.id).collect::<Vec<_>>(), [later], "the others were claimed already");
    assert!(a.booking(&gone).await.expect("read").expect("exists").expiring_notified_at.is_none());
    b.close().await;
    a.close().await;
}

// ------------------------------------------------------------------ idempotency

fn fenced(owner: &str) -> BookingGuard<'_> {
    BookingGuard { steps: &[SagaStep::Held], claimed_by: Some(owner), ..BookingGuard::default() }
}

fn lock<'a>(session: &'a str, key: &'a str, owner: &'a str) -> KeyLock<'a> {
    KeyLock { session_id: session, key, owner }
}

async fn idempotency_keys_claim_once_replay_and_refuse_mismatches(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let input = json!({ "bookingId": "bk_1", "paymentMethod": "pm_card_visa" });
    let fingerprint = request_fingerprint("payForBooking", &input);
    let timeout = Duration::from_secs(90);

    // 200 concurrent claims of one key from two instances: one is new, the rest wait.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let fingerprint = fingerprint.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("request-{i}");
            let claim = store.claim_key(lock("s", "key-00000001", &owner), &fingerprint, t0, timeout).await;
            (owner, claim)
        }));
    }
    let mut new = Vec::new();
    let mut in_progress = 0;
    for task in tasks {
        let (owner, claim) = task.await.expect("joined");
        match claim.expect("claim") {
            KeyClaim::New => new.push(owner),
            KeyClaim::InProgress => in_progress += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(new.len(), 1);
    assert_eq!(in_progress, 199);
    let owner = new[0].as_str();

    // Only the owner finishes; then every claim with the same input replays the body.
    let body = json!({ "payment": { "id": "pay_1", "status": "SUCCEEDED", "amount": { "amount": "342.20", "currency": "EUR" } } });
    let response = StoredResponse { status: 200, body: body.clone() };
    assert!(!a.finish_key(lock("s", "key-00000001", "someone-else"), &response, t0).await.expect("finish"));
    assert!(a.finish_key(lock("s", "key-00000001", owner), &response, t0).await.expect("finish"));
    assert!(!a.finish_key(lock("s", "key-00000001", owner), &response, t0).await.expect("finish twice"));
    let replay = b.claim_key(lock("s", "key-00000001", "later"), &fingerprint, t0 + minutes(1), timeout).await;
    assert_eq!(replay.expect("claim"), KeyClaim::Replay(StoredResponse { status: 200, body }));
    let other_input =
        request_fingerprint("payForBooking", &json!({ "bookingId": "bk_1", "paymentMethod": "pm_card_mastercard" }));
    assert_eq!(
        b.claim_key(lock("s", "key-00000001", "later"), &other_input, t0, timeout).await.expect("claim"),
        KeyClaim::Mismatch
    );
    // Keys are per session.
    assert_eq!(
        b.claim_key(lock("s2", "key-00000001", "x"), &other_input, t0, timeout).await.expect("claim"),
        KeyClaim::New
    );

    // A stale lock is taken over and the request resumes from its recovery point.
    let k = "key-00000002";
    assert_eq!(a.claim_key(lock("s", k, "r1"), &fingerprint, t0, timeout).await.expect("claim"), KeyClaim::New);
    assert_eq!(
        a.claim_key(lock("s", k, "r2"), &fingerprint, t0 + minutes(1), timeout).await.expect("claim"),
        KeyClaim::InProgress
    );
    let stale = t0 + minutes(2);
    assert_eq!(
        a.claim_key(lock("s", k, "r2"), &fingerprint, stale, timeout).await.expect("claim"),
        KeyClaim::Resume(RecoveryPoint::Started)
    );
    assert!(!a.set_recovery_point(lock("s", k, "r1"), RecoveryPoint::ChargeRequested, stale).await.expect("lost lock"));
    assert!(a.set_recovery_point(lock("s", k, "r2"), RecoveryPoint::ChargeRequested, stale).await.expect("point"));
    assert!(!a.release_key(lock("s", k, "r2")).await.expect("release"), "never released after a charge was requested");
    assert!(a.unlock_key(lock("s", k, "r2"), stale).await.expect("unlock"));
    assert_eq!(
        b.claim_key(lock("s", k, "r3"), &fingerprint, stale, timeout).await.expect("claim"),
        KeyClaim::Resume(RecoveryPoint::ChargeRequested)
    );

    // A key released before anything irreversible is forgotten: any input may use it again.
    let k = "key-00000003";
    assert_eq!(a.claim_key(lock("s", k, "r1"), &fingerprint, t0, timeout).await.expect("claim"), KeyClaim::New);
    assert!(!a.release_key(lock("s", k, "r2")).await.expect("not the owner"));
    assert!(a.release_key(lock("s", k, "r1")).await.expect("release"));
    assert_eq!(a.claim_key(lock("s", k, "r2"), &other_input, t0, timeout).await.expect("claim"), KeyClaim::New);
    b.close().await;
    a.close().await;
}

async fn purging_keys_honours_the_retention(url: String) {
    let store = open(&url).await;
    let t0 = now();
    let fingerprint = request_fingerprint("payForBooking", &json!({}));
    let timeout = Duration::from_secs(90);
    for (key, age_hours) in [("old-key-49h", 49), ("old-key-30h", 30), ("new-key-23h", 23), ("new-key-00h", 0)] {
        let at = t0 - chrono::Duration::hours(age_hours);
        assert_eq!(
            store.claim_key(lock("s", key, "r"), &fingerprint, at, timeout).await.expect("claim"),
            KeyClaim::New
        );
    }
    // Asking for less than 24 h still keeps 24 h.
    assert_eq!(store.purge_idempotency_keys(t0, Duration::from_secs(3600)).await.expect("purge"), 2);
    assert_eq!(store.purge_idempotency_keys(t0, Duration::from_secs(3600)).await.expect("purge"), 0);
    let purged = store.claim_key(lock("s", "old-key-49h", "other"), &fingerprint, t0, timeout).await;
    assert_eq!(purged.expect("claim"), KeyClaim::New, "a purged key is new again");
    let kept = store.claim_key(lock("s", "new-key-23h", "other"), &fingerprint, t0, timeout).await;
    assert_eq!(kept.expect("claim"), KeyClaim::Resume(RecoveryPoint::Started), "kept, its stale lock taken over");
    // A longer retention keeps more; the default keeps a day.
    let later = t0 + chrono::Duration::hours(20);
    assert_eq!(store.purge_idempotency_keys(later, Duration::from_secs(48 * 3600)).await.expect("purge"), 0);
    assert_eq!(store.purge_idempotency_keys(later, Duration::from_secs(24 * 3600)).await.expect("purge"), 1);
    let day_later = t0 + chrono::Duration::hours(25);
    assert_eq!(store.purge_idempotency_keys(day_later, Duration::from_secs(24 * 3600)).await.expect("purge"), 2);
    store.close().await;
}

// ------------------------------------------------------------------ payments and refunds

async fn charges_move_booking_and_payment_together(url: String) {
    let store = open(&url).await;
    let t0 = now();
    let id = held(&store, "s", t0 + minutes(10), t0).await;
    let timeout = Duration::from_secs(90);
    let fingerprint = request_fingerprint("payForBooking", &json!({ "bookingId": id }));

    // A declined charge: the payment is DECLINED and the booking payable again.
    assert_eq!(
        store.claim_key(lock("s", "key-decline", "r1"), &fingerprint, t0, timeout).await.expect("claim"),
        KeyClaim::New
    );
    let declined = payment(&id, "s", "342.20", Some("key-decline"));
    let started = store.begin_charge(&declined, Some(lock("s", "key-decline", "r1")), t0).await.expect("begin");
    assert_eq!(started, ChargeStart::Started);
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::ChargeRequested));
    let resumed = store.payment_for_key("s", "key-decline").await.expect("by key").expect("exists");
    assert_eq!((resumed.id.as_str(), resumed.status), (declined.id.as_str(), PaymentStatus::Processing));
    assert_eq!(
        store.claim_key(lock("s", "key-decline", "r2"), &fingerprint, t0 + minutes(2), timeout).await.expect("claim"),
        KeyClaim::Resume(RecoveryPoint::ChargeRequested),
        "the charge's phase moved the key's recovery point"
    );
    let outcome = ChargeOutcome::Declined {
        gateway_payment_id: Some("pi_declined".to_owned()),
        decline_code: "insufficient_funds".to_owned(),
    };
    assert!(store.finish_charge(&id, &declined.id, &outcome, t0).await.expect("finish"));
    assert!(!store.finish_charge(&id, &declined.id, &outcome, t0).await.expect("finish twice"));
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::Held));
    let read = store.payment(&declined.id).await.expect("read").expect("exists");
    assert_eq!((read.status, read.decline_code.as_deref()), (PaymentStatus::Declined, Some("insufficient_funds")));
    assert_eq!(read.gateway_payment_id.as_deref(), Some("pi_declined"));

    // A lost key lock writes nothing.
    let orphan = payment(&id, "s", "342.20", Some("key-decline"));
    assert_eq!(
        store.begin_charge(&orphan, Some(lock("s", "key-decline", "r1")), t0).await.expect("begin"),
        ChargeStart::KeyLockLost
    );
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::Held));
    assert!(store.payment(&orphan.id).await.expect("read").is_none());

    // A successful one: SUCCEEDED and CHARGED.
    let paid = payment(&id, "s", "342.20", None);
    assert_eq!(store.begin_charge(&paid, None, t0).await.expect("begin"), ChargeStart::Started);
    let success = ChargeOutcome::Succeeded { gateway_payment_id: "pi_paid".to_owned() };
    assert!(store.finish_charge(&id, &paid.id, &success, t0).await.expect("finish"));
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::Charged));
    assert_eq!(store.payment_by_gateway_id("pi_paid").await.expect("read").map(|p| p.id), Some(paid.id.clone()));
    let listed = store.payments_for_booking(&id).await.expect("list");
    assert_eq!(
        listed.iter().map(|p| p.status).collect::<Vec<_>>(),
        [PaymentStatus::Declined, PaymentStatus::Succeeded]
    );
    assert!(listed.iter().all(|p| p.method == "pm_card_visa" && p.session_id == "s"));

    // The schema refuses a second success, however it arrives: a payment-link webhook's insert...
    let mut link = payment(&id, "s", "342.20", None);
    link.status = PaymentStatus::Succeeded;
    link.method = "payment_link".to_owned();
    link.gateway_payment_id = Some("pi_link".to_owned());
    assert!(matches!(store.insert_payment(&link, t0).await, Err(StoreError::Conflict(_))));
    // ... or a direct payment's update; and a gateway id is recorded once.
    let mut processing = payment(&id, "s", "342.20", None);
    processing.gateway_payment_id = Some("pi_other".to_owned());
    store.insert_payment(&processing, t0).await.expect("a processing payment is allowed");
    let to_success = store
        .update_payment(
            &processing.id,
            &[PaymentStatus::Processing],
            PaymentStatus::Succeeded,
            &PaymentChange::default(),
            t0,
        )
        .await;
    assert!(matches!(to_success, Err(StoreError::Conflict(_))), "{to_success:?}");
    let mut replayed = payment(&id, "s", "342.20", None);
    replayed.gateway_payment_id = Some("pi_paid".to_owned());
    assert!(matches!(store.insert_payment(&replayed, t0).await, Err(StoreError::Conflict(_))));
    assert!(
        store
            .update_payment(
                &processing.id,
                &[PaymentStatus::Processing],
                PaymentStatus::Declined,
                &PaymentChange { decline_code: Some("generic_decline".to_owned()), ..PaymentChange::default() },
                t0
            )
            .await
            .expect("decline")
    );
    assert!(
        !store
            .update_payment(
                &processing.id,
                &[PaymentStatus::Processing],
                PaymentStatus::Declined,
                &PaymentChange::default(),
                t0
            )
            .await
            .expect("once")
    );

    // Refunds are whole and live once per payment.
    let refund =
        NewRefund { id: new_refund_id(), payment_id: paid.id.clone(), booking_id: id.clone(), amount: money("342.20") };
    store.insert_refund(&refund, t0).await.expect("refund");
    let twice = NewRefund { id: new_refund_id(), ..refund.clone() };
    assert!(matches!(store.insert_refund(&twice, t0).await, Err(StoreError::Conflict(_))));
    assert!(
        store.update_refund(&refund.id, &[RefundStatus::Pending], RefundStatus::Failed, None, t0).await.expect("fail")
    );
    store.insert_refund(&twice, t0 + minutes(1)).await.expect("a failed refund may be retried");
    assert!(
        store
            .update_refund(&twice.id, &[RefundStatus::Pending], RefundStatus::Succeeded, Some("re_gw_1"), t0)
            .await
            .expect("succeed")
    );
    assert!(
        !store.update_refund(&twice.id, &[RefundStatus::Pending], RefundStatus::Failed, None, t0).await.expect("once")
    );
    let refunds = store.refunds_for_booking(&id).await.expect("list");
    assert_eq!(refunds.iter().map(|r| r.status).collect::<Vec<_>>(), [RefundStatus::Failed, RefundStatus::Succeeded]);
    assert_eq!(refunds[1].gateway_refund_id.as_deref(), Some("re_gw_1"));
    assert_eq!(store.refund(&twice.id).await.expect("read").map(|r| r.amount), Some(money("342.20")));
    assert_eq!(store.payment(&paid.id).await.expect("read").map(|p| p.status), Some(PaymentStatus::Refunded));
    store.close().await;
}

async fn payment_link_charges_and_refunds_move_atomically(url: String) {
    let store = open(&url).await;
    let t0 = now();
    let link = |booking: &str, gateway: &str| NewPayment {
        status: PaymentStatus::Succeeded,
        method: "payment_link".to_owned(),
        gateway_payment_id: Some(gateway.to_owned()),
        ..payment(booking, "s", "342.20", None)
    };

    // A held booking paid through the link is CHARGED with the payment, together.
    let id = held(&store, "s", t0 + minutes(10), t0).await;
    let paid = link(&id, "pi_link_1");
    assert_eq!(store.record_external_charge(&paid, t0).await.expect("record"), ExternalCharge::Applied);
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::Charged));
    // A second link payment, or the same webhook's charge again, writes nothing.
    let again = store.record_external_charge(&link(&id, "pi_link_2"), t0).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let same = store.record_external_charge(&link(&id, "pi_link_1"), t0).await;
    assert!(matches!(same, Err(StoreError::Conflict(_))), "{same:?}");
    assert_eq!(store.payments_for_booking(&id).await.expect("list").len(), 1);

    // Refund phases: only from the given steps, once per payment, and settling marks the payment.
    let refund =
        NewRefund { id: new_refund_id(), payment_id: paid.id.clone(), booking_id: id.clone(), amount: money("342.20") };
    assert!(!store.begin_refund(&refund, &[SagaStep::Held], t0).await.expect("begin"), "not from CHARGED");
    assert!(store.refund(&refund.id).await.expect("read").is_none());
    assert!(store.begin_refund(&refund, &[SagaStep::Charged], t0).await.expect("begin"));
    assert_eq!(step_of(&store, &id).await, (BookingStatus::PendingPayment, SagaStep::RefundRequested));
    let twice = NewRefund { id: new_refund_id(), ..refund.clone() };
    let refused = store.begin_refund(&twice, &[SagaStep::RefundRequested], t0).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert!(store.refund(&twice.id).await.expect("read").is_none());
    assert!(
        store
            .update_refund(&refund.id, &[RefundStatus::Pending], RefundStatus::Succeeded, Some("re_1"), t0)
            .await
            .expect("done")
    );
    assert!(store.settle_booking(&id, &[SagaStep::RefundRequested], BookingStatus::Failed, t0).await.expect("settle"));
    assert_eq!(store.payment(&paid.id).await.expect("read").map(|p| p.status), Some(PaymentStatus::Refunded));

    // Paid through the link after it expired: the payment stands and the refund is owed, visibly to recovery.
    let expired = held(&store, "s", t0 + minutes(10), t0).await;
    assert!(store.settle_booking(&expired, &[SagaStep::Held], BookingStatus::Expired, t0).await.expect("expire"));
    let late = link(&expired, "pi_link_late");
    assert_eq!(store.record_external_charge(&late, t0).await.expect("record"), ExternalCharge::RefundOwed);
    assert_eq!(step_of(&store, &expired).await, (BookingStatus::Expired, SagaStep::RefundRequested));
    let stuck = store.claim_stuck(t0 + minutes(10), t0 + minutes(5), 10, "recover", LEASE).await.expect("claim");
    assert_eq!(stuck.into_iter().map(|b| b.id).collect::<Vec<_>>(), [expired]);

    // Paid through the link while a direct charge is in flight: recorded, not applied; the
    // direct charge's success is then refused and changes nothing.
    let racing = held(&store, "s", t0 + minutes(10), t0).await;
    let direct = payment(&racing, "s", "342.20", None);
    assert_eq!(store.begin_charge(&direct, None, t0).await.expect("begin"), ChargeStart::Started);
    assert_eq!(
        store.record_external_charge(&link(&racing, "pi_link_race"), t0).await.expect("record"),
        ExternalCharge::NotApplied
    );
    assert_eq!(step_of(&store, &racing).await, (BookingStatus::PendingPayment, SagaStep::ChargeRequested));
    let success = ChargeOutcome::Succeeded { gateway_payment_id: "pi_direct".to_owned() };
    let refused = store.finish_charge(&racing, &direct.id, &success, t0).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.payment(&direct.id).await.expect("read").map(|p| p.status), Some(PaymentStatus::Processing));
    assert_eq!(step_of(&store, &racing).await, (BookingStatus::PendingPayment, SagaStep::ChargeRequested));
    store.close().await;
}

async fn amounts_round_trip_exactly(url: String) {
    let store = open(&url).await;
    let t0 = now();
    for amount in ["342.20", "0.10", "0.01", "1000000.00", "79228162514264337593543950.33", "12345678901234567.89"] {
        let booking = new_booking("s", amount, SagaStep::Held, t0 + minutes(10));
        store.insert_booking(&booking, t0).await.expect("insert");
        let read = store.booking(&booking.id).await.expect("read").expect("exists");
        assert_eq!(read.total.amount.to_string(), amount);
        assert_eq!(read.offer.price.amount.to_string(), amount);
        let paid = payment(&booking.id, "s", amount, None);
        store.insert_payment(&paid, t0).await.expect("payment");
        let read = store.payment(&paid.id).await.expect("read").expect("exists");
        assert_eq!((read.amount.amount.to_string().as_str(), read.amount.currency.as_str()), (amount, "EUR"));
        let refund = NewRefund {
            id: new_refund_id(),
            payment_id: paid.id.clone(),
            booking_id: booking.id,
            amount: money(amount),
        };
        store.insert_refund(&refund, t0).await.expect("refund");
        assert_eq!(
            store.refund(&refund.id).await.expect("read").map(|r| r.amount.amount.to_string()),
            Some(amount.to_owned())
        );
    }
    store.close().await;
}

// ------------------------------------------------------------------ webhook events

async fn webhook_events_are_processed_once(url: String) {
    let (a, b) = two_instances(&url).await;
    let t0 = now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.claim_webhook_event("evt_1", "payment_intent.succeeded", t0, LEASE).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.expect("joined").expect("claim") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert!(a.mark_webhook_event_processed("evt_1", t0).await.expect("processed"));
    assert!(!a.mark_webhook_event_processed("evt_1", t0).await.expect("once"));
    assert!(
        !b.claim_webhook_event("evt_1", "payment_intent.succeeded", t0 + minutes(60), LEASE)
            .await
            .expect("redelivered")
    );

    // A processor that died leaves the event to a redelivery after its lease; one that failed releases it.
    assert!(a.claim_webhook_event("evt_2", "payment_intent.payment_failed", t0, LEASE).await.expect("claim"));
    assert!(
        !b.claim_webhook_event(
            "evt_2",
            "payment_intent.payment_failed",
            t0 + minutes(1) - chrono::Duration::milliseconds(1),
            LEASE
        )
        .await
        .expect("leased")
    );
    assert!(
        b.claim_webhook_event("evt_2", "payment_intent.payment_failed", t0 + minutes(1), LEASE).await.expect("lapsed")
    );
    assert!(b.release_webhook_event("evt_2").await.expect("release"));
    assert!(
        a.claim_webhook_event("evt_2", "payment_intent.payment_failed", t0 + minutes(1), LEASE)
            .await
            .expect("after release")
    );
    b.close().await;
    a.close().await;
}

fn notification(session: &str, event: &str) -> NewNotification {
    NewNotification {
        event_id: event.to_owned(),
        session_id: session.to_owned(),
        kind: "BOOKING_CREATED".to_owned(),
        title: "Booking created".to_owned(),
        body: "Held.".to_owned(),
        booking_id: Some("bk_1".to_owned()),
        language: "en".to_owned(),
    }
}

async fn notifications_number_gap_free_under_concurrent_inserts(url: String) {
    let (a, b) = (open(&url).await, open(&url).await);
    let now = Utc::now();
    let inserts = (0..40).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let session = if i % 4 == 3 { "other" } else { "mine" };
        async move { store.insert_notification(&notification(session, &format!("evt_{i}")), now).await }
    });
    let results = futures_util::future::join_all(inserts).await;
    assert!(results.iter().all(|r| matches!(r, Ok((_, true)))), "{results:?}");
    let mine = a.notifications("mine", None, 100).await.expect("list");
    let seqs: Vec<i64> = mine.iter().rev().map(|n| n.seq).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "one number each, no gap");
    assert_eq!(a.notifications("other", None, 100).await.expect("list").len(), 10);
    // The same event again: the stored one, not a second.
    let (again, fresh) = b.insert_notification(&notification("mine", "evt_0"), now).await.expect("again");
    assert!(!fresh);
    assert_eq!(again.event_id, "evt_0");
    // After 28: 29 and 30, newest first; marking read counts what was unread.
    let after: Vec<i64> = a.notifications("mine", Some(28), 10).await.expect("after").iter().map(|n| n.seq).collect();
    assert_eq!(after, [30, 29]);
    assert_eq!(a.mark_notifications_read("mine", 5, now).await.expect("mark"), 5);
    assert_eq!(b.mark_notifications_read("mine", 5, now).await.expect("mark"), 0);
    assert_eq!(a.mark_notifications_read("other", 100, now).await.expect("mark"), 10);
    b.close().await;
    a.close().await;
}

async fn outbox_events_and_deliveries_are_claimed_once(url: String) {
    let (a, b) = (open(&url).await, open(&url).await);
    let t0 = Utc::now();
    let event = NewEvent { id: "evt_x", session_id: "s", booking_id: "bk_1", kind: "BOOKING_CREATED", payload: "{}" };
    a.record_event(&event, t0).await.expect("record");
    b.record_event(&event, t0).await.expect("a repeat is ignored");
    let pending = a.pending_events(t0, t0, 10).await.expect("pending");
    assert_eq!(pending, [PendingEvent { id: "evt_x".into(), session_id: "s".into() }]);
    let (first, second) = tokio::join!(a.claim_event("evt_x", "A", t0, LEASE), b.claim_event("evt_x", "B", t0, LEASE));
    let claims = [first.expect("claim"), second.expect("claim")];
    assert_eq!(claims.iter().filter(|c| c.is_some()).count(), 1, "one claimant");
    let winner = if claims[0].is_some() { "A" } else { "B" };
    let loser = if winner == "A" { "B" } else { "A" };
    assert!(a.pending_events(t0, t0, 10).await.expect("pending").is_empty(), "leased events are not offered");
    // A lapsed lease is taken over; the old owner can no longer finish.
    let later = t0 + minutes(2);
    assert!(b.claim_event("evt_x", loser, later, LEASE).await.expect("take over").is_some());
    assert!(!a.finish_event("evt_x", winner, later).await.expect("fenced"));
    assert!(a.finish_event("evt_x", loser, later).await.expect("finish"));
    assert!(a.claim_event("evt_x", "C", later + minutes(5), LEASE).await.expect("done").is_none());
    assert_eq!(a.pending_event_count().await.expect("count"), 0);

    let delivery = NewDelivery {
        id: "dlv_1".to_owned(),
        event_id: "evt_x".to_owned(),
        session_id: "s".to_owned(),
        seq: 1,
        channel: "sms".to_owned(),
        message: "{}".to_owned(),
    };
    assert!(a.insert_delivery(&delivery, t0).await.expect("insert"));
    let twin = NewDelivery { id: "dlv_2".to_owned(), ..delivery.clone() };
    assert!(!b.insert_delivery(&twin, t0).await.expect("one per channel"));
    let (first, second) =
        tokio::join!(a.claim_delivery("dlv_1", "A", t0, LEASE), b.claim_delivery("dlv_1", "B", t0, LEASE));
    let (first, second) = (first.expect("claim"), second.expect("claim"));
    assert_eq!(usize::from(first.is_some()) + usize::from(second.is_some()), 1);
    let owner = if first.is_some() { "A" } else { "B" };
    let claimed = first.or(second).expect("claimed");
    assert_eq!(claimed.attempts, 1);
    let retry = DeliveryOutcome::Retry { error: "503".to_owned(), next_attempt_at: t0 + minutes(1) };
    assert!(a.finish_delivery("dlv_1", owner, &retry, t0).await.expect("retry"));
    assert!(a.due_deliveries(t0, 10).await.expect("due").is_empty(), "not due before its time");
    assert_eq!(a.due_deliveries(t0 + minutes(1), 10).await.expect("due"), ["dlv_1"]);
    let again = b.claim_delivery("dlv_1", "B", t0 + minutes(1), LEASE).await.expect("claim").expect("due");
    assert_eq!(again.attempts, 2);
    let dead = DeliveryOutcome::Dead { error: "gave up".to_owned() };
    assert!(b.finish_delivery("dlv_1", "B", &dead, t0 + minutes(1)).await.expect("dead"));
    assert!(a.due_deliveries(t0 + minutes(60), 10).await.expect("due").is_empty(), "dead letters are not retried");
    let stored = a.deliveries_for_session("s").await.expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, DeliveryStatus::Dead);
    assert_eq!(stored[0].last_error.as_deref(), Some("gave up"));
    assert_eq!(a.delivery_counts().await.expect("counts"), (0, 0, 1));
    b.close().await;
    a.close().await;
}

async fn an_events_writes_commit_together_or_not_at_all(url: String) {
    let (a, b) = (open(&url).await, open(&url).await);
    let t0 = Utc::now();
    let event = NewEvent { id: "evt_t", session_id: "s_t", booking_id: "bk_t", kind: "BOOKING_CREATED", payload: "{}" };
    a.record_event(&event, t0).await.expect("record");
    assert_eq!(a.event_payload("evt_t").await.expect("payload").as_deref(), Some("{}"));
    let notification = NewNotification {
        event_id: "evt_t".to_owned(),
        session_id: "s_t".to_owned(),
        kind: "BOOKING_CREATED".to_owned(),
        title: "Booking created".to_owned(),
        body: "…".to_owned(),
        booking_id: Some("bk_t".to_owned()),
        language: "en".to_owned(),
    };
    let delivery = NewDelivery {
        id: "dlv_t".to_owned(),
        event_id: "evt_t".to_owned(),
        session_id: "s_t".to_owned(),
        seq: 1,
        channel: "email".to_owned(),
        message: "{}".to_owned(),
    };

    // Written, then dropped before `finish` (a failure midway): nothing
    // stays — no notification, no delivery, and the claim is gone too.
    let mut work = a.begin_event("evt_t", "A", t0, LEASE).await.expect("begin").expect("claimable");
    let (stored, fresh) = work.insert_notification(&notification, t0).await.expect("insert");
    assert!(fresh);
    assert_eq!(stored.seq, 1);
    assert!(work.insert_delivery(&delivery, t0).await.expect("delivery"));
    drop(work);
    assert!(a.notification_for_event("evt_t").await.expect("read").is_none(), "rolled back");
    assert!(a.deliveries_for_session("s_t").await.expect("list").is_empty(), "rolled back");
    let pending = a.pending_events(t0, t0, 10).await.expect("pending");
    assert_eq!(pending, [PendingEvent { id: "evt_t".into(), session_id: "s_t".into() }], "claimable again at once");

    // Another instance's claim waits for this one's commit, then finds it done.
    let mut work = a.begin_event("evt_t", "A", t0, LEASE).await.expect("begin").expect("claimable");
    let rival = tokio::spawn(async move {
        let claimed = b.begin_event("evt_t", "B", t0, LEASE).await.expect("begin").is_some();
        b.close().await;
        claimed
    });
    work.insert_notification(&notification, t0).await.expect("insert");
    work.insert_delivery(&delivery, t0).await.expect("delivery");
    assert!(work.finish(t0).await.expect("commit"));
    assert!(!rival.await.expect("rival"), "the event is done by the time the rival's claim runs");
    assert_eq!(a.notification_for_event("evt_t").await.expect("read").expect("stored").seq, 1);
    assert_eq!(a.deliveries_for_session("s_t").await.expect("list").len(), 1);
    assert_eq!(a.pending_event_count().await.expect("count"), 0);
    assert!(a.begin_event("evt_t", "C", t0 + minutes(5), LEASE).await.expect("begin").is_none(), "done");
    a.close().await;
}

async fn notification_preferences_round_trip(url: String) {
    let store = open(&url).await;
    let now = Utc::now();
    assert_eq!(store.notification_preferences("s").await.expect("default"), PreferencesRecord::default());
    let chosen = PreferencesRecord { email: false, sms: true, push: true, push_token: Some("tok".to_owned()) };
    store.save_notification_preferences("s", &chosen, now).await.expect("save");
    assert_eq!(store.notification_preferences("s").await.expect("read"), chosen);
    assert!(!store.forget_push_token("s", "other-token", now).await.expect("not that one"));
    assert!(store.forget_push_token("s", "tok", now).await.expect("forget"));
    let after = store.notification_preferences("s").await.expect("read");
    assert_eq!((after.push, after.push_token), (false, None));
    store.close().await;
}

/// Runs each contract body as a test on SQLite and one on PostgreSQL.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::Db::sqlite();
                    super::$name(db.url.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(db.url.clone()).await;
                }
            )*
        }
    };
}

on_both_engines!(
    migrations_are_additive,
    bookings_round_trip_and_stay_in_their_session,
    transitions_win_once_and_only_from_allowed_states,
    concurrent_transitions_have_one_winner,
    expired_claims_split_between_instances_and_leases_lapse,
    stuck_sagas_are_claimed_for_recovery,
    expiring_warnings_are_claimed_once,
    idempotency_keys_claim_once_replay_and_refuse_mismatches,
    purging_keys_honours_the_retention,
    charges_move_booking_and_payment_together,
    payment_link_charges_and_refunds_move_atomically,
    amounts_round_trip_exactly,
    webhook_events_are_processed_once,
    notifications_number_gap_free_under_concurrent_inserts,
    outbox_events_and_deliveries_are_claimed_once,
    an_events_writes_commit_together_or_not_at_all,
    notification_preferences_round_trip,
);
