//! Chat benchmarks: the built-in engine's extraction and reply for one
//! message (p99 printed beside criterion's estimates, since the target is a
//! tail latency), and `sendMessage` without a search through the whole
//! schema on the in-memory store, as messages per second.
//!
//! `cargo bench --bench chat`; figures and the machine in BENCHMARKS.md.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wayfarer::chat::dialogue;
use wayfarer::chat::extract::{ExtractContext, extract};
use wayfarer::chat::model::{DialogueState, Language};
use wayfarer::chat::reply;

/// What travellers type, in the six languages: full trips, partial ones, chatter.
const MESSAGES: [&str; 18] = [
    "I want to fly from Lisbon to London tomorrow, 2 adults",
    "cheapest flight nyc to paris next friday in business",
    "hello, what can you do?",
    "quiero volar de Madrid a Buenos Aires el 20 de diciembre, somos 3 adultos y un niño",
    "hola, quiero ir a londres manana por la mañana",
    "la segunda opción",
    "je voudrais un vol de Paris à Lisbonne le 1er juin, sans escale",
    "bonjour",
    "aller-retour Lyon Rome du 10 au 17 janvier",
    "Ich möchte morgen von Berlin nach München fliegen",
    "zwei Erwachsene, nur Direktflüge unter 300 Euro",
    "Hallo",
    "vorrei un volo da Roma a Parigi domani sera",
    "da Milano a New York il 3 marzo, andata e ritorno",
    "grazie, ciao",
    "quero voar de Lisboa para o Rio de Janeiro no dia 20 de dezembro",
    "ida e volta São Paulo Lisboa, 2 adultos e um bebê",
    "obrigado",
];

fn context(language: Language, today: NaiveDate) -> ExtractContext<'static> {
    ExtractContext {
        language: Some(language),
        locale: Some(language.code()),
        today,
        pending: None,
        offers_shown: false,
        current_departure: None,
    }
}

fn one_message(text: &str, today: NaiveDate) -> String {
    let extraction = extract(text, &context(Language::En, today));
    let mut state = DialogueState::default();
    let step = dialogue::advance(&mut state, &extraction, today);
    let missing = dialogue::missing(&state);
    let mut reply = reply::reply(extraction.language, &step, &state, None);
    for chip in reply::suggested_replies(extraction.language, &state, &missing) {
        reply.push_str(&chip);
    }
    reply
}

fn extraction_and_reply(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    // The server builds the indexes at start; so does the bench, outside the samples.
    wayfarer::chat::extract::warm_up();
    // Tail latency first: criterion estimates means, the target is a p99.
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let text = MESSAGES[i % MESSAGES.len()];
        let started = Instant::now();
        std::hint::black_box(one_message(text, today));
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "chat/extract_and_reply over {} messages: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );

    let mut group = c.benchmark_group("chat");
    group.throughput(Throughput::Elements(MESSAGES.len() as u64));
    group.bench_function("extract_and_reply_18_messages", |b| {
        b.iter(|| {
            for text in MESSAGES {
                std::hint::black_box(one_message(text, today));
            }
        });
    });
    group.finish();
}

/// Messages that never complete a trip (no origin, no date), so no search runs.
const NO_SEARCH: [&str; 8] = [
    "hello",
    "I'd like to go to Rome",
    "actually to Paris",
    "quiero ir a Londres",
    "je voudrais aller à Lisbonne",
    "ich möchte nach Berlin",
    "what can you do?",
    "vorrei andare a Milano",
];

fn send_message_throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_app, state, auths) = runtime.block_on(async {
        let settings = wayfarer::config::Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            ..wayfarer::config::Settings::default()
        };
        let app = wayfarer::app::Application::build(settings).await.unwrap();
        let state = app.state().clone();
        let mut auths = Vec::new();
        for _ in 0..64 {
            let (token, _) = state.sessions().start(Some("en"), None).await.unwrap().unwrap();
            auths.push(state.sessions().authenticate(token.expose()).await.unwrap());
        }
        // The application's listener is never served: the schema is driven directly.
        (app, state, auths)
    });
    let document = "mutation SendMessage($text: String!) { sendMessage(text: $text) { reply { text language } stage missing suggestedReplies } }";
    let concurrency = 64;
    let mut group = c.benchmark_group("chat");
    group.throughput(Throughput::Elements(concurrency as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("send_message_no_search_64_concurrent", |b| {
        b.iter_custom(|iterations| {
            let state = state.clone();
            let auths = auths.clone();
            runtime.block_on(async move {
                let started = Instant::now();
                for iteration in 0..iterations {
                    let tasks: Vec<_> = (0..concurrency)
                        .map(|i| {
                            let state = state.clone();
                            let auth = auths[i].clone();
                            let text = NO_SEARCH[(i + iteration as usize) % NO_SEARCH.len()];
                            tokio::spawn(async move {
                                let request = async_graphql::Request::new(document).variables(
                                    async_graphql::Variables::from_json(serde_json::json!({ "text": text })),
                                );
                                let auth = wayfarer::graphql::context::RequestAuth::Session(Box::new(auth));
                                let caller = wayfarer::graphql::policy::Caller::of(
                                    &auth,
                                    wayfarer::graphql::rate_limit::ClientAddr(None),
                                );
                                let request = state.request_data(request, auth);
                                let response = state.execute(request, &caller).await;
                                assert!(response.errors.is_empty(), "{:?}", response.errors);
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, extraction_and_reply, send_message_throughput);
criterion_main!(benches);
