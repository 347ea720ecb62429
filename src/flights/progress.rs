//! `flightSearchProgress` through the event bus: one run of a search feeds
//! every subscriber of it, on every instance.
//!
//! The first subscriber of a search (by its canonical key) claims it on the
//! progress board — Redis `SET NX` when configured, this process otherwise —
//! and runs it: each provider's answer is appended to the board's list for
//! that key and then published on the search's bus topic, and a final entry
//! marks it finished. Every subscriber (the runner's own included) subscribes
//! to the topic first, then reads the list, so an answer is either in the list
//! or arrives on the topic — never lost, repeats dropped by provider name. A
//! subscriber whose runner vanished (an instance killed mid-search) waits no
//! longer than the search timeout, then runs the search itself and passes on
//! the answers it had not yet had.
//! Identical concurrent progress subscriptions on two instances therefore cost
//! one call per provider, not two.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::aggregator::{Aggregator, ProviderOutcome};
use super::cache::StoredOutcome;
use super::model::FlightSearch;
use crate::events::{BusEvent, EventBus, Topic};
use crate::redis_pool::RedisPool;

/// One entry of a search's progress: a provider's answer, or the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEntry {
    /// The search's key.
    pub key: String,
    /// A provider's answer; `None` marks the run finished.
    pub outcome: Option<StoredOutcome>,
}

/// Where runs are claimed and their answers listed, shared by the instances.
#[async_trait]
pub trait ProgressBoard: Send + Sync + std::fmt::Debug {
    /// Claims the run of `key` for `ttl`; `false` when someone else holds it.
    async fn claim(&self, key: &str, ttl: Duration) -> bool;
    /// Appends an entry to `key`'s list (kept for `ttl`).
    async fn append(&self, entry: &ProgressEntry, ttl: Duration);
    /// `key`'s entries so far.
    async fn entries(&self, key: &str) -> Vec<ProgressEntry>;
}

/// The board of a single process.
#[derive(Debug, Default)]
pub struct MemoryProgressBoard {
    runs: Mutex<HashMap<String, (Instant, Vec<ProgressEntry>)>>,
}

impl MemoryProgressBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<ProgressEntry>)>> {
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ProgressBoard for MemoryProgressBoard {
    async fn claim(&self, key: &str, ttl: Duration) -> bool {
        let mut runs = self.lock();
        let now = Instant::now();
        runs.retain(|_, (until, _)| *until > now);
        if runs.contains_key(key) {
            return false;
        }
        runs.insert(key.to_owned(), (now + ttl, Vec::new()));
        true
    }

    async fn append(&self, entry: &ProgressEntry, _ttl: Duration) {
        if let Some((_, entries)) = self.lock().get_mut(&entry.key) {
            entries.push(entry.clone());
        }
    }

    async fn entries(&self, key: &str) -> Vec<ProgressEntry> {
        self.lock().get(key).map(|(_, entries)| entries.clone()).unwrap_or_default()
    }
}

/// The board in Redis: `<prefix>:progress-run:<key>` (the claim) and
/// `<prefix>:progress:<key>` (the list), both expiring.
#[derive(Debug, Clone)]
pub struct RedisProgressBoard {
    redis: RedisPool,
}

impl RedisProgressBoard {
    /// A board over the shared pool.
    pub fn new(redis: RedisPool) -> Self {
        Self { redis }
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl ProgressBoard for RedisProgressBoard {
    async fn claim(&self, key: &str, ttl: Duration) -> bool {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis.key(&format!("progress-run:{key}"))).arg("1").arg("NX").arg("PX").arg(millis(ttl));
        match self.redis.query::<Option<String>>(&cmd).await {
            Ok(set) => set.is_some(),
            Err(error) => {
                // Without the board, run it here: a duplicate call beats no answer.
                tracing::warn!(%error, "search progress board unavailable; running the search here");
                true
            }
        }
    }

    async fn append(&self, entry: &ProgressEntry, ttl: Duration) {
        let Ok(json) = serde_json::to_string(entry) else { return };
        let list = self.redis.key(&format!("progress:{}", entry.key));
        let mut pipe = redis::pipe();
        pipe.cmd("RPUSH").arg(&list).arg(json).ignore().cmd("PEXPIRE").arg(&list).arg(millis(ttl)).ignore();
        if let Err(error) = self.redis.query_pipeline::<()>(&pipe).await {
            tracing::warn!(%error, "could not record search progress");
        }
    }

    async fn entries(&self, key: &str) -> Vec<ProgressEntry> {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(self.redis.key(&format!("progress:{key}"))).arg(0).arg(-1);
        match self.redis.query::<Vec<String>>(&cmd).await {
            Ok(items) => items.iter().filter_map(|json| serde_json::from_str(json).ok()).collect(),
            Err(error) => {
                tracing::warn!(%error, "could not read search progress");
                Vec::new()
            }
        }
    }
}

/// The canonical key of a search (identical searches, identical keys).
pub fn search_key(search: &FlightSearch) -> String {
    let canonical = serde_json::to_vec(search).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// Search progress shared through the bus and the board.
#[derive(Debug, Clone)]
pub struct SharedProgress {
    bus: Arc<dyn EventBus>,
    board: Arc<dyn ProgressBoard>,
    /// How long a run may take before its listeners stop waiting for it.
    run_timeout: Duration,
}

impl SharedProgress {
    /// Progress over `bus` and `board`; `search_timeout` is the providers' deadline.
    pub fn new(bus: Arc<dyn EventBus>, board: Arc<dyn ProgressBoard>, search_timeout: Duration) -> Self {
        Self { bus, board, run_timeout: search_timeout + Duration::from_secs(2) }
    }

    /// Each provider's answer to `search` as it arrives, from whichever
    /// instance runs it.
    pub fn stream(&self, aggregator: Arc<Aggregator>, search: FlightSearch) -> BoxStream<'static, ProviderOutcome> {
        let shared = self.clone();
        let providers = aggregator.slots().len();
        let key = search_key(&search);
        let topic = Topic::search_progress(&key);
        // Subscribed before anything else, so nothing published from here on is missed.
        let events = self.bus.subscribe(&topic);
        let started = async move {
            if shared.board.claim(&key, shared.run_timeout * 2).await {
                tokio::spawn(shared.clone().run(aggregator.clone(), search.clone(), key.clone()));
            }
            let listened = Listener {
                key: key.clone(),
                board: shared.board.clone(),
                events,
                backlog: None,
                seen: HashSet::new(),
                providers,
                deadline: tokio::time::Instant::now() + shared.run_timeout,
            };
            (listened, aggregator, search)
        };
        futures_util::stream::once(started)
            .flat_map(|(listener, aggregator, search)| {
                let (first, rest) = listener.into_streams(aggregator, search);
                first.chain(rest)
            })
            .boxed()
    }

    /// Runs the search and records each answer, then the end.
    async fn run(self, aggregator: Arc<Aggregator>, search: FlightSearch, key: String) {
        let topic = Topic::search_progress(&key);
        let ttl = self.run_timeout * 2;
        let mut outcomes = aggregator.progress(search);
        while let Some(outcome) = outcomes.next().await {
            self.record(&topic, ProgressEntry { key: key.clone(), outcome: Some(StoredOutcome::from(&outcome)) }, ttl)
                .await;
        }
        self.record(&topic, ProgressEntry { key, outcome: None }, ttl).await;
    }

    async fn record(&self, topic: &Topic, entry: ProgressEntry, ttl: Duration) {
        self.board.append(&entry, ttl).await;
        if let Err(error) = self.bus.publish(topic, &BusEvent::SearchProgress(entry)).await {
            tracing::warn!(%error, "could not publish search progress; listeners read the board");
        }
    }
}

/// One subscriber's view of a run.
struct Listener {
    key: String,
    board: Arc<dyn ProgressBoard>,
    events: crate::events::EventStream,
    backlog: Option<std::vec::IntoIter<ProgressEntry>>,
    seen: HashSet<String>,
    providers: usize,
    deadline: tokio::time::Instant,
}

enum Next {
    Outcome(ProviderOutcome),
    Finished,
    TimedOut,
}

impl Listener {
    /// The run's answers, then — if the run never finished — the missing
    /// providers asked here.
    fn into_streams(
        self,
        aggregator: Arc<Aggregator>,
        search: FlightSearch,
    ) -> (BoxStream<'static, ProviderOutcome>, BoxStream<'static, ProviderOutcome>) {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Option<HashSet<String>>>();
        let first = futures_util::stream::unfold((self, Some(done_tx)), |(mut listener, done)| async move {
            let done = done?;
            match listener.next().await {
                Next::Outcome(outcome) => Some((outcome, (listener, Some(done)))),
                Next::Finished => {
                    let _ = done.send(None);
                    None
                }
                Next::TimedOut => {
                    let _ = done.send(Some(listener.seen.clone()));
                    None
                }
            }
        })
        .boxed();
        let rest = async move {
            match done_rx.await {
                Ok(Some(seen)) => {
                    tracing::warn!("a search's runner did not finish in time; asking the missing providers here");
                    aggregator.progress(search).filter(move |o| std::future::ready(!seen.contains(&o.provider))).boxed()
                }
                _ => futures_util::stream::empty().boxed(),
            }
        }
        .into_stream()
        .flatten()
        .boxed();
        (first, rest)
    }

    async fn next(&mut self) -> Next {
        if self.seen.len() >= self.providers {
            return Next::Finished;
        }
        loop {
            if self.backlog.is_none() {
                self.backlog = Some(self.board.entries(&self.key).await.into_iter());
            }
            let from_backlog = self.backlog.as_mut().and_then(Iterator::next);
            let entry = match from_backlog {
                Some(entry) => entry,
                None => match tokio::time::timeout_at(self.deadline, self.events.next()).await {
                    Ok(Some(event)) => match &*event {
                        BusEvent::SearchProgress(entry) if entry.key == self.key => entry.clone(),
                        _ => continue,
                    },
                    Ok(None) | Err(_) => return Next::TimedOut,
                },
            };
            match entry.outcome {
                None => return Next::Finished,
                Some(stored) => {
                    if self.seen.insert(stored.provider.clone()) {
                        return Next::Outcome(stored.into());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use chrono::NaiveDate;

    use super::*;
    use crate::events::MemoryEventBus;
    use crate::flights::aggregator::{ProviderSlot, ProviderStatus};
    use crate::flights::model::{Cabin, Offer, Passengers};
    use crate::flights::providers::{FlightProvider, ProviderError};

    /// A provider that counts its calls and answers, empty, after a pause.
    #[derive(Debug)]
    struct Counting {
        name: &'static str,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl FlightProvider for Counting {
        fn name(&self) -> &str {
            self.name
        }
        async fn search(&self, _search: &FlightSearch) -> Result<Vec<Offer>, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Vec::new())
        }
    }

    fn search() -> FlightSearch {
        FlightSearch {
            origin: "LIS".into(),
            destination: "MAD".into(),
            departure_date: NaiveDate::from_ymd_opt(2027, 1, 10).expect("date"),
            return_date: None,
            passengers: Passengers { adults: 1, children: 0, infants: 0 },
            cabin: Cabin::Economy,
            non_stop: false,
            currency: "EUR".into(),
        }
    }

    fn setup() -> (Arc<Counting>, Arc<Counting>, Arc<Aggregator>) {
        let a = Arc::new(Counting { name: "a", calls: AtomicUsize::new(0) });
        let b = Arc::new(Counting { name: "b", calls: AtomicUsize::new(0) });
        let aggregator = Arc::new(Aggregator::new(
            vec![
                ProviderSlot::new(a.clone(), Duration::from_secs(5)),
                ProviderSlot::new(b.clone(), Duration::from_secs(5)),
            ],
            true,
            None,
        ));
        (a, b, aggregator)
    }

    async fn providers_of(stream: BoxStream<'static, ProviderOutcome>) -> Vec<String> {
        let mut names: Vec<String> = stream.map(|o| o.provider).collect().await;
        names.sort();
        names
    }

    #[tokio::test]
    async fn identical_concurrent_subscriptions_share_one_run() {
        let (a, b, aggregator) = setup();
        let shared = SharedProgress::new(
            Arc::new(MemoryEventBus::new()),
            Arc::new(MemoryProgressBoard::default()),
            Duration::from_secs(5),
        );
        let streams: Vec<_> = (0..10).map(|_| shared.stream(aggregator.clone(), search())).map(providers_of).collect();
        let all = futures_util::future::join_all(streams).await;
        assert!(all.iter().all(|names| names == &["a", "b"]), "{all:?}");
        assert_eq!((a.calls.load(Ordering::SeqCst), b.calls.load(Ordering::SeqCst)), (1, 1));
        // A late subscriber within the run's lifetime reads the finished list.
        assert_eq!(providers_of(shared.stream(aggregator.clone(), search())).await, ["a", "b"]);
        assert_eq!(a.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_run_whose_runner_vanished_is_finished_here() {
        let (a, b, aggregator) = setup();
        let board = Arc::new(MemoryProgressBoard::default());
        // Claimed by an instance that then died, with one answer recorded.
        let key = search_key(&search());
        assert!(board.claim(&key, Duration::from_secs(60)).await);
        let answered = ProviderOutcome {
            provider: "a".into(),
            status: ProviderStatus::Ok,
            offers: Arc::new(Vec::new()),
            latency: Duration::from_millis(5),
            error: None,
        };
        board
            .append(&ProgressEntry { key, outcome: Some(StoredOutcome::from(&answered)) }, Duration::from_secs(60))
            .await;
        let shared = SharedProgress::new(Arc::new(MemoryEventBus::new()), board, Duration::from_millis(100));
        let names = providers_of(shared.stream(aggregator, search())).await;
        assert_eq!(names, ["a", "b"], "the recorded answer, then the missing provider asked here");
        // Only the missing provider's answer is passed on; both were asked once.
        assert_eq!(b.calls.load(Ordering::SeqCst), 1);
        assert!(a.calls.load(Ordering::SeqCst) <= 1);
    }
}
