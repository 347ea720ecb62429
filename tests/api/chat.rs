//! The chat agent end to end over HTTP: the contract's `SendMessage`,
//! `ResetConversation` and `CurrentSession` in all six languages, searches
//! counted at the sandbox, bad input, session isolation, and the dialogue
//! surviving a restart on Redis.

use serde_json::{Value, json};

use crate::flights::searches;
use crate::helpers::{Backend, CURRENT_SESSION, START_SESSION, TestApp};

/// The contract's `SendMessage`, verbatim.
pub(crate) const SEND_MESSAGE: &str = "mutation SendMessage($text: String!) {
  sendMessage(text: $text) {
    reply { text language }
    understanding {
      intent
      language
      origin { code kind name cityName countryCode }
      destination { code kind name cityName countryCode }
      departureDate
      returnDate
      passengers { adults children infants }
      cabin
      nonStop
      maxPrice { amount currency }
      sort
      departureTimeOfDay
    }
    missing
    stage
    suggestedReplies
    offers { ...OfferCard }
    cheapestDates { date price { amount currency } }
    timings { nlpMs searchMs responseMs totalMs }
  }
}";

/// The contract's `ResetConversation`, verbatim.
pub(crate) const RESET_CONVERSATION: &str = "mutation ResetConversation {
  resetConversation
}";

/// `SendMessage` with the `OfferCard` fragment it spreads.
pub(crate) fn send_message_document() -> String {
    crate::booking::document(SEND_MESSAGE)
}

/// Starts a session with a locale and time zone; returns its token.
pub(crate) async fn session_in(app: &TestApp, locale: &str) -> String {
    let (status, body) =
        app.graphql(START_SESSION, json!({ "locale": locale, "timeZone": "Europe/Lisbon" }), None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["startSession"]["token"].as_str().expect("token").to_owned()
}

/// Sends one message; returns the whole response body.
pub(crate) async fn say(app: &TestApp, token: &str, text: &str) -> Value {
    let (status, body) = app.graphql(&send_message_document(), json!({ "text": text }), Some(token)).await;
    assert_eq!(status, 200, "{text}: {body}");
    body
}

/// Sends one message that must succeed; returns `data.sendMessage`.
pub(crate) async fn turn(app: &TestApp, token: &str, text: &str) -> Value {
    let body = say(app, token, text).await;
    assert!(body["errors"].is_null(), "{text}: {body}");
    body["data"]["sendMessage"].clone()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_search_in_each_language_answers_in_that_language_with_cards() {
    let app = TestApp::spawn(Backend::Memory).await;
    let cases = [
        ("en", "I want to fly from Lisbon to London tomorrow", "LIS", "LON"),
        ("es", "quiero volar de Madrid a Londres mañana", "MAD", "LON"),
        ("fr", "je voudrais un vol de Paris à Lisbonne demain", "PAR", "LIS"),
        ("de", "Ich möchte morgen von Berlin nach London fliegen", "BER", "LON"),
        ("it", "vorrei un volo da Roma a Parigi domani", "ROM", "PAR"),
        ("pt", "quero voar de Lisboa para Madrid amanhã", "LIS", "MAD"),
    ];
    for (language, text, origin, destination) in cases {
        // An English session locale: the language comes from the text, not the prior.
        let token = session_in(&app, "en").await;
        let before = searches(&app).await;
        let answer = turn(&app, &token, text).await;
        assert_eq!(answer["reply"]["language"], language, "{text}: {answer}");
        assert_eq!(answer["understanding"]["language"], language);
        assert_eq!(answer["understanding"]["intent"], "SEARCH_FLIGHTS", "{text}");
        assert_eq!(answer["understanding"]["origin"]["code"], origin, "{text}");
        assert_eq!(answer["understanding"]["destination"]["code"], destination, "{text}");
        assert_eq!(answer["stage"], "RESULTS", "{text}: {answer}");
        assert_eq!(answer["missing"], json!([]));
        let offers = answer["offers"].as_array().expect("offers");
        assert!(!offers.is_empty() && offers.len() <= 5, "{text}: {} cards", offers.len());
        assert!(offers[0]["itineraries"][0]["segments"][0]["carrier"]["name"].is_string());
        let after = searches(&app).await;
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "one search per provider for {text}");
        let chips = answer["suggestedReplies"].as_array().expect("chips");
        assert!((2..=4).contains(&chips.len()));
        let timings = &answer["timings"];
        assert!(timings["totalMs"].as_f64() >= timings["nlpMs"].as_f64());
        assert!(timings["searchMs"].as_f64().is_some_and(|ms| ms > 0.0));
    }
    let performance: Value =
        app.http.get(app.url("/api/performance")).send().await.expect("get").json().await.expect("json");
    assert!(performance["operations"]["chat:total"]["count"].as_u64() >= Some(6), "{performance}");
    app.stop().await;
}

#[tokio::test]
async fn slots_are_filled_one_question_at_a_time_then_an_offer_is_selected() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "es").await;
    let first = turn(&app, &token, "hola, quiero volar").await;
    assert_eq!(first["stage"], "COLLECTING");
    assert_eq!(first["missing"][0], "DESTINATION", "{first}");
    assert_eq!(first["reply"]["language"], "es");
    assert!(first["reply"]["text"].as_str().is_some_and(|t| t.contains('?')), "a question: {first}");

    let second = turn(&app, &token, "a Londres").await;
    assert_eq!(second["understanding"]["destination"]["code"], "LON");
    assert_eq!(second["missing"][0], "ORIGIN", "{second}");

    let third = turn(&app, &token, "desde Madrid").await;
    assert_eq!(third["missing"], json!(["DEPARTURE_DATE"]), "{third}");
    let before = searches(&app).await;
    let results = turn(&app, &token, "pasado mañana, 2 adultos").await;
    assert_eq!(results["stage"], "RESULTS", "{results}");
    assert_eq!(results["understanding"]["passengers"]["adults"], 2);
    assert_eq!(searches(&app).await.0, before.0 + 1);
    let offers = results["offers"].as_array().expect("offers").clone();
    assert!(offers.len() >= 2);

    let selected = turn(&app, &token, "reservar la opción 2").await;
    assert_eq!(selected["stage"], "TRAVELLER_DETAILS", "{selected}");
    assert_eq!(selected["reply"]["language"], "es");
    // Selecting searched nothing more.
    assert_eq!(searches(&app).await.0, before.0 + 1);

    let (_, session) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    let messages = session["data"]["session"]["conversation"]["messages"].as_array().expect("messages").clone();
    assert_eq!(messages.len(), 10, "five turns, two messages each");
    assert_eq!(messages[0]["role"], "USER");
    assert_eq!(messages[0]["text"], "hola, quiero volar");
    assert_eq!(messages[1]["role"], "ASSISTANT");
    assert!(messages.iter().all(|m| m["language"] == "es"));

    let (_, reset) = app.graphql(RESET_CONVERSATION, json!({}), Some(&token)).await;
    assert_eq!(reset["data"]["resetConversation"], true, "{reset}");
    let (_, session) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    assert_eq!(session["data"]["session"]["conversation"]["messages"], json!([]));
    let fresh = turn(&app, &token, "hola").await;
    assert_eq!(fresh["understanding"]["destination"], Value::Null, "the trip was forgotten: {fresh}");
    assert_eq!(fresh["stage"], "COLLECTING");
    app.stop().await;
}

#[tokio::test]
async fn corrections_carry_the_rest_of_the_trip_over() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "en").await;
    let first = turn(&app, &token, "London to Paris next friday").await;
    assert_eq!(first["stage"], "RESULTS", "{first}");
    let day = first["understanding"]["departureDate"].as_str().expect("date").to_owned();
    let later = turn(&app, &token, "what about the day after?").await;
    let next = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").expect("date") + chrono::Duration::days(1);
    assert_eq!(later["understanding"]["departureDate"], next.to_string(), "{later}");
    assert_eq!(later["understanding"]["origin"]["code"], "LON");
    let rome = turn(&app, &token, "actually to Rome").await;
    assert_eq!(rome["understanding"]["destination"]["code"], "ROM", "{rome}");
    assert_eq!(rome["understanding"]["departureDate"], next.to_string());
    let four = turn(&app, &token, "make it 4 people").await;
    assert_eq!(four["understanding"]["passengers"]["adults"], 4, "{four}");
    assert_eq!(four["understanding"]["destination"]["code"], "ROM");
    assert_eq!(four["stage"], "RESULTS");
    app.stop().await;
}

#[tokio::test]
async fn a_range_answers_with_the_price_calendar_and_the_best_days_offers() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "en").await;
    let answer = turn(&app, &token, "cheapest day next week from Lisbon to Madrid").await;
    let calendar = answer["cheapestDates"].as_array().expect("calendar");
    assert_eq!(calendar.len(), 7, "{answer}");
    assert!(!answer["offers"].as_array().expect("offers").is_empty());
    let best = calendar
        .iter()
        .filter_map(|d| Some((d["date"].as_str()?, d["price"]["amount"].as_str()?.parse::<f64>().ok()?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a priced day");
    assert_eq!(answer["understanding"]["departureDate"], best.0, "the best day is the one shown");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_or_answered_without_harm() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "en").await;
    let other = session_in(&app, "en").await;
    for text in ["", "   \n\t  "] {
        let body = say(&app, &token, text).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{text:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "text");
    }
    let body = say(&app, &token, &"a".repeat(2_001)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("2000")), "{body}");

    for text in ["😀😀🎉", "asdkjh qwpoeiru zxmcnv", "!!!???"] {
        let answer = turn(&app, &token, text).await;
        assert_eq!(answer["understanding"]["intent"], "UNKNOWN", "{text}: {answer}");
        assert!(answer["reply"]["text"].as_str().is_some_and(|t| t.len() > 20), "a helpful reply");
        assert!(answer["offers"].as_array().is_some_and(Vec::is_empty));
    }
    let answer = turn(&app, &token, "<script>alert('x')</script> to <b>Xqzzyville</b>").await;
    let reply = answer["reply"]["text"].as_str().expect("reply");
    assert!(!reply.contains('<') && !reply.contains('>'), "inert: {reply}");
    assert!(answer["offers"].as_array().is_some_and(Vec::is_empty), "nonsense is never searched");

    let answer = turn(&app, &token, "hello\u{0007}\u{0000} there").await;
    assert_eq!(answer["understanding"]["intent"], "GREETING", "{answer}");
    let (_, session) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    let stored = session["data"]["session"]["conversation"]["messages"].as_array().expect("messages").clone();
    assert!(stored.iter().all(|m| !m["text"].as_str().unwrap_or("").chars().any(char::is_control)));

    let (_, untouched) = app.graphql(CURRENT_SESSION, json!({}), Some(&other)).await;
    assert_eq!(untouched["data"]["session"]["conversation"]["messages"], json!([]), "the other session is untouched");
    let (_, anonymous) = app.graphql(&send_message_document(), json!({ "text": "hola" }), None).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn understood_messages_are_cached() {
    let app = TestApp::spawn(Backend::Memory).await;
    let token = session_in(&app, "en").await;
    let other = session_in(&app, "en").await;
    turn(&app, &token, "hello").await;
    turn(&app, &other, "Hello").await;
    let counts = app.state.chat().counts();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((load(&counts.builtin), load(&counts.cached)), (1, 1), "same text, language and day: one extraction");
    let status: Value = app.http.get(app.url("/api/status")).send().await.expect("get").json().await.expect("json");
    assert_eq!(status["chat"]["understood"]["cached"], 1, "{status}");
    assert_eq!(status["chat"]["extractor"], "builtin");
    app.stop().await;
}

#[tokio::test]
async fn the_dialogue_lives_in_redis_and_survives_a_restart() {
    let first = TestApp::spawn(Backend::Redis).await;
    let prefix = first.state.settings().redis.key_prefix.clone();
    let database = first.state.settings().database.url.clone();
    let token = session_in(&first, "fr").await;
    let asked = turn(&first, &token, "je veux aller à Rome").await;
    assert_eq!(asked["missing"][0], "ORIGIN", "{asked}");
    first.stop().await;

    let second = TestApp::spawn_with(Backend::Redis, |s| {
        s.redis.key_prefix = prefix;
        s.database.url = database;
    })
    .await;
    let answer = turn(&second, &token, "de Paris demain").await;
    assert_eq!(answer["understanding"]["destination"]["code"], "ROM", "carried over: {answer}");
    assert_eq!(answer["stage"], "RESULTS");
    assert_eq!(answer["reply"]["language"], "fr");
    second.stop().await;
}

#[tokio::test]
async fn the_conversation_history_is_capped_oldest_first() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.chat.history_limit = 4).await;
    let token = session_in(&app, "it").await;
    for text in ["ciao", "vorrei andare a Roma", "da Milano"] {
        turn(&app, &token, text).await;
    }
    let (_, session) = app.graphql(CURRENT_SESSION, json!({}), Some(&token)).await;
    let messages = session["data"]["session"]["conversation"]["messages"].as_array().expect("messages").clone();
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[0]["text"], "vorrei andare a Roma", "the oldest turn went first");
    assert_eq!(messages[2]["text"], "da Milano");
    assert!(messages.iter().all(|m| m["language"] == "it"));
    app.stop().await;
}

#[tokio::test]
async fn asked_about_a_booking_the_agent_tells_where_the_latest_stands() {
    let app = TestApp::spawn(Backend::Memory).await;
    let client = crate::booking::Client::new(&app).await;
    let none = turn(&app, &client.token, "¿cómo va mi reserva?").await;
    assert_eq!(none["understanding"]["intent"], "BOOKING_STATUS", "{none}");
    assert!(none["reply"]["text"].as_str().is_some_and(|t| t.contains("no tienes reservas")), "{none}");

    let offer = client.offers("amadeus", "MAD", 20, json!({})).await[0].clone();
    let booking = client.book(offer["id"].as_str().expect("id")).await;
    let pending = turn(&app, &client.token, "¿cómo va mi reserva?").await;
    let text = pending["reply"]["text"].as_str().expect("text");
    assert!(text.contains("pendiente de pago") && text.contains("Madrid"), "{text}");

    let paid = client.pay(booking["id"].as_str().expect("id"), "pm_card_visa", "chat-status-key").await;
    let reference = paid["data"]["payForBooking"]["booking"]["reference"].as_str().expect("reference").to_owned();
    let confirmed = turn(&app, &client.token, "cancel my booking").await;
    assert_eq!(confirmed["understanding"]["intent"], "CANCEL_BOOKING", "{confirmed}");
    let text = confirmed["reply"]["text"].as_str().expect("text");
    assert!(text.contains(&reference) && text.contains("confirmed") && text.contains("Cancel"), "{text}");
    app.stop().await;
}
