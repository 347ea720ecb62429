//! Search benchmarks: the provider response mappings (an Amadeus and a
//! Duffel search body → offers), merging and ranking both providers'
//! offers, and a 100-offer `searchFlights` response — executed through the
//! schema from the cache (resolvers and the carrier/airport loaders) and
//! serialised to JSON.
//!
//! The bodies come from the bundled sandbox over real HTTP, so they are the
//! wire format the adapters meet. `cargo bench --bench search`; figures and
//! the machine in BENCHMARKS.md.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use chrono::{Days, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use wayfarer::flights::aggregator::rank;
use wayfarer::flights::model::{Cabin, FlightSearch, OfferSort, Passengers, ResultFilters};
use wayfarer::flights::providers::{amadeus, duffel};

/// A long-haul route between two multi-airport cities: the most offers
/// both providers give (each caps a search at 50).
fn search() -> FlightSearch {
    FlightSearch {
        origin: "LON".into(),
        destination: "NYC".into(),
        departure_date: Utc::now().date_naive().checked_add_days(Days::new(30)).unwrap(),
        return_date: None,
        passengers: Passengers { adults: 1, children: 0, infants: 0 },
        cabin: Cabin::Economy,
        non_stop: false,
        currency: "EUR".into(),
    }
}

struct Fixture {
    _app: wayfarer::app::Application,
    _data: tempfile::TempDir,
    state: wayfarer::app::AppState,
    auth: wayfarer::graphql::context::RequestAuth,
    amadeus_body: Vec<u8>,
    duffel_body: Vec<u8>,
}

fn fixture(runtime: &tokio::runtime::Runtime) -> Fixture {
    runtime.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let mut settings = wayfarer::config::Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            ..wayfarer::config::Settings::default()
        };
        // The loops run one session's request hundreds of thousands of
        // times: with its budget on, all but the first 600 would measure
        // the refusal.
        settings.rate_limits.enabled = false;
        let app = wayfarer::app::Application::build(settings).await.unwrap();
        let state = app.state().clone();
        let sandbox = state.sandbox_url().unwrap().to_owned();
        let config = wayfarer::sandbox::SandboxConfig::default();
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{sandbox}/v1/security/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", config.amadeus_client_id.as_str()),
                ("client_secret", config.amadeus_client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let search = search();
        let amadeus_body = http
            .get(format!("{sandbox}/v2/shopping/flight-offers"))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .query(&[
                ("originLocationCode", search.origin.as_str()),
                ("destinationLocationCode", search.destination.as_str()),
                ("departureDate", &search.departure_date.to_string()),
                ("adults", "1"),
                ("max", "250"),
            ])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let duffel_body = http
            .post(format!("{sandbox}/air/offer_requests?return_offers=true"))
            .bearer_auth(&config.duffel_token)
            .header("Duffel-Version", "v2")
            .json(&duffel::offer_request_body(&search))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let (token, _) = state.sessions().start(Some("en"), None).await.unwrap().unwrap();
        let auth = wayfarer::graphql::context::RequestAuth::Session(Box::new(
            state.sessions().authenticate(token.expose()).await.unwrap(),
        ));
        Fixture { _app: app, _data: data, state, auth, amadeus_body, duffel_body }
    })
}

const SEARCH_100: &str = "query($input: FlightSearchInput!) { searchFlights(input: $input) {
  offers { id provider price { amount currency } labels seatsAvailable expiresAt
    itineraries { duration segments { flightNumber carrier { code name }
      departure { at terminal airport { code name cityName countryCode timeZone } }
      arrival { at terminal airport { code name cityName countryCode timeZone } }
      duration aircraft } } }
  providers { name status offerCount latencyMs error } totalCount } }";

fn search_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let fixture = fixture(&runtime);

    let amadeus_offers = amadeus::map_search(&fixture.amadeus_body).unwrap();
    let duffel_offers = duffel::map_offer_request(&fixture.duffel_body).unwrap();
    println!(
        "search fixture: Amadeus body {} KiB → {} offers, Duffel body {} KiB → {} offers",
        fixture.amadeus_body.len() / 1024,
        amadeus_offers.len(),
        fixture.duffel_body.len() / 1024,
        duffel_offers.len()
    );
    let mut group = c.benchmark_group("providers");
    group.throughput(Throughput::Elements(amadeus_offers.len() as u64));
    group.bench_function("map_amadeus_search", |b| {
        b.iter(|| std::hint::black_box(amadeus::map_search(&fixture.amadeus_body).unwrap()));
    });
    group.throughput(Throughput::Elements(duffel_offers.len() as u64));
    group.bench_function("map_duffel_offer_request", |b| {
        b.iter(|| std::hint::black_box(duffel::map_offer_request(&fixture.duffel_body).unwrap()));
    });
    group.finish();

    let outcomes = runtime.block_on(fixture.state.flights().search(&search()));
    let mut group = c.benchmark_group("rank");
    for first in [20, 100] {
        let filters = ResultFilters { sort: OfferSort::Price, first, ..ResultFilters::default() };
        let ranked = rank(&outcomes, &filters);
        println!(
            "rank: {} offers in, {} matched, {} returned",
            outcomes.iter().map(|o| o.offers.len()).sum::<usize>(),
            ranked.total_count,
            ranked.offers.len()
        );
        group.bench_function(format!("merge_and_rank_first_{first}"), |b| {
            b.iter(|| std::hint::black_box(rank(&outcomes, &filters)));
        });
    }
    group.finish();

    let variables = json!({ "input": {
        "origin": "LON", "destination": "NYC",
        "departureDate": search().departure_date.to_string(), "first": 100 } });
    // Through the request policy, as every HTTP and WebSocket operation runs.
    let caller = wayfarer::graphql::policy::Caller::of(&fixture.auth, wayfarer::graphql::rate_limit::ClientAddr(None));
    let execute = || {
        let request =
            async_graphql::Request::new(SEARCH_100).variables(async_graphql::Variables::from_json(variables.clone()));
        let request = fixture.state.request_data(request, fixture.auth.clone());
        fixture.state.execute(request, &caller)
    };
    let response = runtime.block_on(execute());
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    // As the server writes it (kept pages are spliced in as JSON text).
    let write = |response: &async_graphql::Response| wayfarer::http::graphql::ResponseBody::of(response).to_json();
    let body = write(&response);
    let returned: Value = serde_json::from_slice(&body).unwrap();
    println!(
        "response: {} offers, {} KiB of JSON",
        returned["data"]["searchFlights"]["offers"].as_array().map_or(0, Vec::len),
        body.len() / 1024
    );
    let mut group = c.benchmark_group("response");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("search_100_offers_execute_cached", |b| {
        b.iter(|| std::hint::black_box(runtime.block_on(execute())));
    });
    let last = runtime.block_on(execute());
    assert!(last.errors.is_empty(), "the loop measured errors: {:?}", last.errors);
    group.bench_function("search_100_offers_execute_cached_and_write", |b| {
        b.iter(|| std::hint::black_box(write(&runtime.block_on(execute()))));
    });
    // The page written from the ranked offers (no kept page): the
    // difference from the kept page's answer above is the walk's cost.
    let rendered = fixture.state.flights().rendered().clone();
    group.bench_function("search_100_offers_execute_and_write_page", |b| {
        b.iter(|| {
            rendered.clear();
            std::hint::black_box(write(&runtime.block_on(execute())))
        });
    });
    // Since the page is written during execution, this is the rest: the
    // envelope around a spliced page.
    group.bench_function("serialise_100_offer_response", |b| {
        b.iter(|| std::hint::black_box(write(&response)));
    });
    group.finish();
}

criterion_group!(benches, search_benches);
criterion_main!(benches);
