//! The notification channels against real endpoints: e-mail through a real
//! SMTP server (aiosmtpd, [`SmtpSink`]) whose received messages the tests
//! read back; SMS and push through the sandbox's Twilio-style and FCM-style
//! sinks over real HTTP, read back from `/_sandbox/sms/messages` and
//! `/_sandbox/push/messages`; and `wayfarer doctor` checking each channel.
//! Each `send` is one attempt, so every failure here is one classification.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use wayfarer::app::SandboxEndpoint;
use wayfarer::config::{HttpClientSettings, NotificationSettings};
use wayfarer::notifications::channels::{
    ChannelError, ChannelKind, Channels, NotificationChannel, OutboundMessage, SANDBOX_SMS_FROM,
};
use wayfarer::sandbox::{SandboxConfig, serve};

use crate::helpers::free_port;
use crate::smtp_sink::SmtpSink;

/// A sandbox on a loopback port, stopped when dropped.
struct Sandbox {
    endpoint: SandboxEndpoint,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start_sandbox() -> Sandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let config = SandboxConfig::default();
    let endpoint = SandboxEndpoint::new(format!("http://{addr}"), &config);
    tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Sandbox { endpoint, http: reqwest::Client::new(), _stop: stop }
}

impl Sandbox {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base_url)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.expect("JSON")
    }

    async fn put(&self, path: &str, body: Value) {
        let response = self.http.put(self.url(path)).json(&body).send().await.expect("PUT");
        assert!(response.status().is_success(), "PUT {path}: {}", response.text().await.unwrap_or_default());
    }

    async fn post(&self, path: &str) {
        let response = self.http.post(self.url(path)).send().await.expect("POST");
        assert!(response.status().is_success(), "POST {path}: {}", response.status());
    }

    async fn calls(&self, sink: &str, kind: &str) -> u64 {
        self.get("/_sandbox/calls").await[sink][kind].as_u64().expect("a count")
    }

    async fn sms_messages(&self) -> Vec<Value> {
        self.get("/_sandbox/sms/messages").await["messages"].as_array().expect("messages").clone()
    }

    async fn push_messages(&self) -> Vec<Value> {
        self.get("/_sandbox/push/messages").await["messages"].as_array().expect("messages").clone()
    }

    /// Settings with SMS and push configured explicitly at this sandbox,
    /// the push key in a file under `dir`; no e-mail.
    fn explicit_settings(&self, dir: &std::path::Path) -> NotificationSettings {
        let mut settings = NotificationSettings::default();
        settings.sms.base_url = Some(self.endpoint.base_url.clone());
        settings.sms.account_sid = Some(self.endpoint.twilio_account_sid.clone());
        settings.sms.auth_token = Some(SecretString::from(self.endpoint.twilio_auth_token.clone()));
        settings.sms.from = Some(SANDBOX_SMS_FROM.to_owned());
        let key_file = dir.join("service-account.json");
        std::fs::write(&key_file, &self.endpoint.fcm_service_account_json).expect("write key file");
        settings.push.base_url = Some(self.endpoint.base_url.clone());
        settings.push.project_id = Some(self.endpoint.fcm_project_id.clone());
        settings.push.service_account_file = Some(key_file);
        settings
    }
}

fn channels(settings: &NotificationSettings, sandbox: Option<&SandboxEndpoint>) -> Channels {
    Channels::from_settings(settings, &HttpClientSettings::default(), sandbox).expect("channels build")
}

fn channel(channels: &Channels, kind: ChannelKind) -> Arc<dyn NotificationChannel> {
    channels.get(kind).unwrap_or_else(|| panic!("{kind:?} is on")).clone()
}

fn message(to: &str, key: &str) -> OutboundMessage {
    OutboundMessage {
        to: to.to_owned(),
        subject: "Reserva confirmada: Lisboa → Paris".to_owned(),
        text: "Olá Ana, a sua reserva WF-7Q2K está confirmada.".to_owned(),
        html: Some("<p>Olá Ana, a sua reserva <b>WF-7Q2K</b> está confirmada.</p>".to_owned()),
        data: BTreeMap::from([
            ("bookingId".to_owned(), "bk_42".to_owned()),
            ("kind".to_owned(), "confirmed".to_owned()),
        ]),
        idempotency_key: key.to_owned(),
    }
}

fn email_settings(smtp_url: &str) -> NotificationSettings {
    let mut settings = NotificationSettings::default();
    settings.email.smtp_url = Some(SecretString::from(smtp_url.to_owned()));
    settings.email.timeout = Duration::from_secs(5);
    settings
}

// ---------------------------------------------------------------- e-mail

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_both_parts_and_its_message_id() {
    let sink = SmtpSink::start_with_auth("wayfarer", "s3cret").await;
    let channels = channels(&email_settings(&sink.url()), None);
    assert!(!channels.is_enabled(ChannelKind::Sms) && !channels.is_enabled(ChannelKind::Push), "no sandbox, no SMS");
    let email = channel(&channels, ChannelKind::Email);
    let sent = email.send(&message("Ana Silva <ana@example.com>", "ntf_42.email")).await.expect("sent");
    assert_eq!(sent.provider_id.as_deref(), Some("SINK0001"), "the relay's queue id");

    let mut text_only = message("bob@example.com", "ntf_43.email");
    text_only.html = None;
    email.send(&text_only).await.expect("sent");

    let received = sink.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 2);
    let mail = &received[0];
    assert_eq!(mail.queue_id, "SINK0001");
    assert_eq!(mail.auth_user.as_deref(), Some("wayfarer"), "authenticated with the URL's credentials");
    assert_eq!(mail.mail_from, "bookings@wayfarer.example");
    assert_eq!(mail.rcpt_tos, vec!["ana@example.com".to_owned()]);
    assert_eq!(mail.subject.as_deref(), Some("Reserva confirmada: Lisboa → Paris"));
    assert_eq!(mail.message_id.as_deref(), Some("<ntf_42.email@wayfarer.example>"));
    assert_eq!(mail.from, "Wayfarer <bookings@wayfarer.example>");
    assert_eq!(mail.to, "Ana Silva <ana@example.com>");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.text.as_deref().map(str::trim_end), Some("Olá Ana, a sua reserva WF-7Q2K está confirmada."));
    let html = mail.html.as_deref().expect("an HTML part");
    assert!(html.contains("<b>WF-7Q2K</b>"), "{html}");
    assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    assert!(mail.header("Date").is_some(), "{:?}", mail.headers);
    assert!(mail.raw.contains("text/plain") && mail.raw.contains("text/html"), "{}", mail.raw);

    let plain = &received[1];
    assert_eq!(plain.content_type, "text/plain");
    assert!(plain.html.is_none());
    assert_eq!(plain.message_id.as_deref(), Some("<ntf_43.email@wayfarer.example>"));
}

#[tokio::test]
async fn smtp_replies_and_failures_are_classified() {
    let sink = SmtpSink::start().await;
    let email = channel(&channels(&email_settings(&sink.url()), None), ChannelKind::Email);
    let outcome = |to: &'static str| {
        let email = email.clone();
        async move { email.send(&message(to, "ntf_1.email")).await }
    };
    assert!(
        matches!(outcome("reject-550@example.com").await, Err(ChannelError::InvalidDestination(_))),
        "550 5.1.1: no such mailbox"
    );
    assert!(matches!(outcome("policy-550@example.com").await, Err(ChannelError::Permanent(_))), "550 5.7.1: policy");
    assert!(matches!(outcome("defer-451@example.com").await, Err(ChannelError::Transient(_))), "451: try again");
    assert!(matches!(outcome("not an address").await, Err(ChannelError::InvalidDestination(_))));
    assert!(sink.messages().is_empty(), "nothing was accepted");
    outcome("fine@example.com").await.expect("the connection pool recovers after refusals");
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);

    // Nobody listening: worth retrying.
    let dead = channel(
        &channels(&email_settings(&format!("smtp+plain://127.0.0.1:{}", free_port())), None),
        ChannelKind::Email,
    );
    assert!(matches!(dead.send(&message("a@example.com", "k")).await, Err(ChannelError::Transient(_))));
    assert!(dead.check().await.is_err());
}

#[tokio::test]
async fn smtp_credentials_and_starttls_are_enforced() {
    let sink = SmtpSink::start_with_auth("wayfarer", "s3cret").await;
    let wrong = format!("smtp+plain://wayfarer:guess@127.0.0.1:{}", sink.port);
    let email = channel(&channels(&email_settings(&wrong), None), ChannelKind::Email);
    let refused = email.send(&message("ana@example.com", "k")).await;
    assert!(matches!(refused, Err(ChannelError::Permanent(_))), "535 bad credentials: {refused:?}");
    let check = email.check().await.expect_err("the check sees the refusal");
    assert!(check.contains("authentication refused"), "{check}");

    // smtp:// requires STARTTLS, which this relay does not offer: nothing goes in the clear.
    let starttls = format!("smtp://wayfarer:s3cret@127.0.0.1:{}", sink.port);
    let email = channel(&channels(&email_settings(&starttls), None), ChannelKind::Email);
    assert!(email.send(&message("ana@example.com", "k")).await.is_err());
    let check = email.check().await.expect_err("no STARTTLS");
    assert!(check.contains("STARTTLS"), "{check}");

    let good = channel(&channels(&email_settings(&sink.url()), None), ChannelKind::Email);
    let check = good.check().await.expect("the check passes");
    assert!(check.contains("sink.wayfarer.test") && check.contains("credentials accepted"), "{check}");
    assert!(sink.messages().is_empty(), "checks and refusals send nothing");
}

// ---------------------------------------------------------------- SMS

#[tokio::test]
async fn sms_reaches_the_twilio_sink_and_is_recorded() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let channels = channels(&sandbox.explicit_settings(dir.path()), None);
    let sms = channel(&channels, ChannelKind::Sms);
    let sent = sms.send(&message("+351912345678", "ntf_7.sms")).await.expect("sent");
    let sid = sent.provider_id.expect("a sid");
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");

    let recorded = sandbox.sms_messages().await;
    assert_eq!(recorded.len(), 1);
    let m = &recorded[0];
    assert_eq!(m["sid"], sid.as_str());
    assert_eq!(m["to"], "+351912345678");
    assert_eq!(m["from"], SANDBOX_SMS_FROM);
    assert_eq!(m["body"], "Olá Ana, a sua reserva WF-7Q2K está confirmada.");
    assert_eq!(m["status"], "queued");
    assert_eq!(m["account_sid"], sandbox.endpoint.twilio_account_sid.as_str());

    // The message resource is there under Twilio's API too.
    let fetched: Value = sandbox
        .http
        .get(sandbox.url(&format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", sandbox.endpoint.twilio_account_sid)))
        .basic_auth(&sandbox.endpoint.twilio_account_sid, Some(&sandbox.endpoint.twilio_auth_token))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(fetched["sid"], sid.as_str());

    // A Messaging Service sender goes as MessagingServiceSid.
    let mut settings = sandbox.explicit_settings(dir.path());
    settings.sms.from = Some("MG0123456789abcdef0123456789abcdef".to_owned());
    channel(&self::channels(&settings, None), ChannelKind::Sms)
        .send(&message("+14155550100", "ntf_8.sms"))
        .await
        .expect("sent");
    let recorded = sandbox.sms_messages().await;
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1]["messaging_service_sid"], "MG0123456789abcdef0123456789abcdef");
    assert_eq!(recorded[1]["from"], Value::Null);
    assert_eq!(recorded[1]["status"], "accepted");

    let check = sms.check().await.expect("the account answers");
    assert!(check.contains("Wayfarer sandbox"), "{check}");
    assert_eq!(sandbox.sms_messages().await.len(), 2, "the check sends nothing");
}

#[tokio::test]
async fn sms_failures_are_classified() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sms = channel(&channels(&sandbox.explicit_settings(dir.path()), None), ChannelKind::Sms);
    for (to, dead) in [
        ("+15005550001", true),  // 21211 invalid number
        ("+15005550002", true),  // 21612 unroutable
        ("+15005550004", true),  // 21610 unsubscribed
        ("+15005550009", true),  // 21614 not SMS-capable
        ("+15005550003", false), // 21408 no permission for the region: the account's problem
        ("0912345678", true),    // not E.164
    ] {
        let outcome = sms.send(&message(to, "k")).await;
        match (dead, &outcome) {
            (true, Err(ChannelError::InvalidDestination(_))) | (false, Err(ChannelError::Permanent(_))) => {}
            _ => panic!("{to}: {outcome:?}"),
        }
    }
    sandbox.put("/_sandbox/personalities/twilio", json!({ "rateLimitNext": 1, "errorNext": 1 })).await;
    let limited = sms.send(&message("+351912345678", "k")).await;
    assert!(matches!(&limited, Err(ChannelError::Transient(d)) if d.contains("20429")), "{limited:?}");
    let failed = sms.send(&message("+351912345678", "k")).await;
    assert!(matches!(&failed, Err(ChannelError::Transient(d)) if d.contains("500")), "{failed:?}");
    sandbox.put("/_sandbox/personalities/twilio", json!({ "outage": true })).await;
    assert!(matches!(sms.send(&message("+351912345678", "k")).await, Err(ChannelError::Transient(_))));
    assert!(sms.check().await.is_err(), "the check sees the outage");
    sandbox.put("/_sandbox/personalities/twilio", json!({ "outage": false })).await;
    sms.send(&message("+351912345678", "k")).await.expect("back");

    // The sender's queue is full (21611): it drains, so retry.
    let mut settings = sandbox.explicit_settings(dir.path());
    settings.sms.from = Some("+15005550008".to_owned());
    let full = channel(&channels(&settings, None), ChannelKind::Sms).send(&message("+351912345678", "k")).await;
    assert!(matches!(full, Err(ChannelError::Transient(_))), "{full:?}");

    // Bad credentials: permanent, and the check says so.
    let mut settings = sandbox.explicit_settings(dir.path());
    settings.sms.auth_token = Some(SecretString::from("wrong".to_owned()));
    let unauthorised = channel(&channels(&settings, None), ChannelKind::Sms);
    let refused = unauthorised.send(&message("+351912345678", "k")).await;
    assert!(matches!(&refused, Err(ChannelError::Permanent(d)) if d.contains("20003")), "{refused:?}");
    assert!(unauthorised.check().await.is_err());

    // Nobody listening.
    settings.sms.base_url = Some(format!("http://127.0.0.1:{}", free_port()));
    let dead = channel(&channels(&settings, None), ChannelKind::Sms).send(&message("+351912345678", "k")).await;
    assert!(matches!(dead, Err(ChannelError::Transient(_))), "{dead:?}");

    assert_eq!(sandbox.sms_messages().await.len(), 1, "only the accepted message is recorded");
    assert_eq!(sandbox.calls("twilio", "messageCreate").await, 12, "every attempt reached the sink");
}

// ---------------------------------------------------------------- push

#[tokio::test]
async fn push_reaches_the_fcm_sink_with_a_signed_token() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let push = channel(&channels(&sandbox.explicit_settings(dir.path()), None), ChannelKind::Push);
    let token = "dGVzdC1kZXZpY2UtdG9rZW4:APA91bH-sandbox_device_1";
    let sent = push.send(&message(token, "ntf_9.push")).await.expect("sent");
    let name = sent.provider_id.expect("a name");
    assert!(name.starts_with("projects/wayfarer-sandbox/messages/"), "{name}");

    let recorded = sandbox.push_messages().await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["name"], name.as_str());
    let m = &recorded[0]["message"];
    assert_eq!(m["token"], token);
    assert_eq!(m["notification"]["title"], "Reserva confirmada: Lisboa → Paris");
    assert_eq!(m["notification"]["body"], "Olá Ana, a sua reserva WF-7Q2K está confirmada.");
    assert_eq!(m["data"], json!({ "bookingId": "bk_42", "kind": "confirmed" }));
    assert_eq!(m["android"]["collapse_key"], "ntf_9.push");
    assert_eq!(m["apns"]["headers"]["apns-collapse-id"], "ntf_9.push");
    assert_eq!(sandbox.calls("fcm", "token").await, 1);

    // An oversized body is cut to fit FCM's 4096 bytes, not refused.
    let mut long = message(token, "ntf_10.push");
    long.text = "Itinerário completo. ".repeat(400);
    push.send(&long).await.expect("fitted and sent");
    let recorded = sandbox.push_messages().await;
    let notification = &recorded[1]["message"]["notification"];
    let body = notification["body"].as_str().expect("body");
    assert!(body.ends_with('…') && body.len() < long.text.len(), "{}", body.len());
    let size = serde_json::to_vec(notification).expect("json").len()
        + serde_json::to_vec(&recorded[1]["message"]["data"]).expect("json").len();
    assert!(size <= 4096, "{size}");

    let check = push.check().await.expect("the check passes");
    assert!(check.contains("validated"), "{check}");
    assert_eq!(sandbox.push_messages().await.len(), 2, "validate_only records nothing");
    assert_eq!(sandbox.calls("fcm", "token").await, 1, "one token served every call");
}

#[tokio::test]
async fn concurrent_pushes_share_one_token_exchange() {
    let sandbox = start_sandbox().await;
    // Slow token answers widen the window in which senders pile up.
    sandbox.put("/_sandbox/personalities/fcm", json!({ "latencyMs": 200 })).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let push = channel(&channels(&sandbox.explicit_settings(dir.path()), None), ChannelKind::Push);
    let sends =
        (0..20).map(|i| {
            let push = push.clone();
            async move {
                push.send(&message(&format!("device-token-{i:04}-abcdefghijklmnop"), &format!("ntf_{i}.push"))).await
            }
        });
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(sandbox.calls("fcm", "token").await, 1, "single-flight: one exchange for twenty senders");
    assert_eq!(sandbox.calls("fcm", "send").await, 20);
    assert_eq!(sandbox.push_messages().await.len(), 20);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_send_tried_once_more() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let push = channel(&channels(&sandbox.explicit_settings(dir.path()), None), ChannelKind::Push);
    let token = "device-token-abcdefghijklmnop";
    push.send(&message(token, "ntf_1.push")).await.expect("first");
    // The sink expires the token the client still trusts: 401 ACCESS_TOKEN_EXPIRED.
    sandbox.post("/_sandbox/push/tokens/expire").await;
    push.send(&message(token, "ntf_2.push")).await.expect("refreshed inside the send");
    assert_eq!(sandbox.calls("fcm", "token").await, 2);
    assert_eq!(sandbox.calls("fcm", "send").await, 3, "first, refused, retried");
    assert_eq!(sandbox.push_messages().await.len(), 2);

    // A short-lived token is replaced before it runs out, without a refusal.
    sandbox.put("/_sandbox/personalities/fcm", json!({ "tokenExpiresIn": 2 })).await;
    sandbox.post("/_sandbox/push/tokens/expire").await;
    push.send(&message(token, "ntf_3.push")).await.expect("refreshed after a refusal");
    assert_eq!(sandbox.calls("fcm", "token").await, 3);
    // Refreshed at three quarters of its two seconds: sleep past that.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    push.send(&message(token, "ntf_4.push")).await.expect("proactively refreshed");
    assert_eq!(sandbox.calls("fcm", "token").await, 4);
    assert_eq!(sandbox.calls("fcm", "send").await, 6, "the proactive refresh needed no refusal");
}

#[tokio::test]
async fn push_failures_are_classified() {
    let sandbox = start_sandbox().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let push = channel(&channels(&sandbox.explicit_settings(dir.path()), None), ChannelKind::Push);
    for token in ["unregistered-device-0001", "sender-mismatch-device-01", "short"] {
        let outcome = push.send(&message(token, "k")).await;
        assert!(matches!(outcome, Err(ChannelError::InvalidDestination(_))), "{token}: {outcome:?}");
    }
    let quota = push.send(&message("quota-exceeded-device-0001", "k")).await;
    assert!(matches!(&quota, Err(ChannelError::Transient(d)) if d.contains("QUOTA_EXCEEDED")), "{quota:?}");
    let good = "device-token-abcdefghijklmnop";
    sandbox.put("/_sandbox/personalities/fcm", json!({ "rateLimitNext": 1, "errorNext": 1 })).await;
    let limited = push.send(&message(good, "k")).await;
    assert!(matches!(&limited, Err(ChannelError::Transient(d)) if d.contains("429")), "{limited:?}");
    let internal = push.send(&message(good, "k")).await;
    assert!(matches!(&internal, Err(ChannelError::Transient(d)) if d.contains("INTERNAL")), "{internal:?}");
    sandbox.put("/_sandbox/personalities/fcm", json!({ "outage": true })).await;
    let down = push.send(&message(good, "k")).await;
    assert!(matches!(&down, Err(ChannelError::Transient(d)) if d.contains("UNAVAILABLE")), "{down:?}");
    sandbox.put("/_sandbox/personalities/fcm", json!({ "outage": false })).await;
    push.send(&message(good, "k")).await.expect("back");
    assert_eq!(sandbox.push_messages().await.len(), 1, "only the accepted message is recorded");

    // An account the token endpoint does not know: permanent, at the exchange.
    let mut account: Value = serde_json::from_str(&sandbox.endpoint.fcm_service_account_json).expect("json");
    account["client_email"] = json!("intruder@elsewhere.iam.gserviceaccount.com");
    let mut settings = sandbox.explicit_settings(dir.path());
    let stranger = dir.path().join("stranger.json");
    std::fs::write(&stranger, account.to_string()).expect("write");
    settings.push.service_account_file = Some(stranger);
    let outsider = channel(&channels(&settings, None), ChannelKind::Push);
    let refused = outsider.send(&message(good, "k")).await;
    assert!(matches!(&refused, Err(ChannelError::Permanent(d)) if d.contains("invalid_grant")), "{refused:?}");
    assert!(outsider.check().await.is_err());

    // A project the account may not send to.
    let mut settings = sandbox.explicit_settings(dir.path());
    settings.push.project_id = Some("someone-elses-project".to_owned());
    let elsewhere = channel(&channels(&settings, None), ChannelKind::Push).send(&message(good, "k")).await;
    assert!(matches!(&elsewhere, Err(ChannelError::Permanent(d)) if d.contains("PERMISSION_DENIED")), "{elsewhere:?}");

    // Nobody listening.
    settings.push.base_url = Some(format!("http://127.0.0.1:{}", free_port()));
    let dead = channel(&channels(&settings, None), ChannelKind::Push).send(&message(good, "k")).await;
    assert!(matches!(dead, Err(ChannelError::Transient(_))), "{dead:?}");
}

#[tokio::test]
async fn sink_controls_are_checked_and_reset_forgets_the_records() {
    let sandbox = start_sandbox().await;
    let settings = sandbox.get("/_sandbox/personalities/fcm").await;
    assert_eq!(
        settings,
        json!({ "latencyMs": 0, "outage": false, "rateLimitNext": 0, "errorNext": 0, "tokenExpiresIn": 3599 })
    );
    assert!(sandbox.get("/_sandbox/personalities/twilio").await.get("tokenExpiresIn").is_none());
    for (name, body) in [
        ("twilio", json!({ "tokenExpiresIn": 5 })),
        ("fcm", json!({ "tokenExpiresIn": 0 })),
        ("fcm", json!({ "latencyMs": 500_000 })),
        ("twilio", json!({ "failNext": 1 })),
    ] {
        let response = sandbox
            .http
            .put(sandbox.url(&format!("/_sandbox/personalities/{name}")))
            .json(&body)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 400, "{name} {body}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let channels = channels(&sandbox.explicit_settings(dir.path()), None);
    channel(&channels, ChannelKind::Sms).send(&message("+351912345678", "k")).await.expect("sms");
    channel(&channels, ChannelKind::Push).send(&message("device-token-abcdefghijklmnop", "k")).await.expect("push");
    sandbox.put("/_sandbox/personalities/twilio", json!({ "errorNext": 3 })).await;
    sandbox.post("/_sandbox/reset").await;
    assert!(sandbox.sms_messages().await.is_empty() && sandbox.push_messages().await.is_empty());
    assert_eq!(sandbox.calls("twilio", "messageCreate").await, 0);
    assert_eq!(sandbox.get("/_sandbox/personalities/twilio").await["errorNext"], 0);
    // Tokens outlive a reset, as the flight personalities' do.
    channel(&channels, ChannelKind::Push).send(&message("device-token-abcdefghijklmnop", "k")).await.expect("push");
    assert_eq!(sandbox.calls("fcm", "token").await, 0);
}

// ---------------------------------------------------------------- set-up

#[tokio::test]
async fn without_base_urls_sms_and_push_use_the_running_sandbox_and_are_off_without_it() {
    let sandbox = start_sandbox().await;
    let defaults = NotificationSettings::default();
    let none = channels(&defaults, None);
    assert_eq!(none.enabled().count(), 0, "zero config without a sandbox: every channel off");

    let sandboxed = channels(&defaults, Some(&sandbox.endpoint));
    assert_eq!(sandboxed.enabled().collect::<Vec<_>>(), vec![ChannelKind::Sms, ChannelKind::Push]);
    assert!(sandboxed.describe(ChannelKind::Sms).is_some_and(|d| d.contains("bundled sandbox")));
    channel(&sandboxed, ChannelKind::Sms).send(&message("+351912345678", "ntf_1.sms")).await.expect("sms");
    channel(&sandboxed, ChannelKind::Push)
        .send(&message("device-token-abcdefghijklmnop", "ntf_1.push"))
        .await
        .expect("push");
    assert_eq!(sandbox.sms_messages().await.len(), 1);
    assert_eq!(sandbox.push_messages().await.len(), 1);

    let mut off = NotificationSettings::default();
    off.sms.enabled = false;
    off.push.enabled = false;
    assert_eq!(channels(&off, Some(&sandbox.endpoint)).enabled().count(), 0, "enabled = false wins");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut missing = sandbox.explicit_settings(dir.path());
    missing.push.service_account_file = Some("/nonexistent/key.json".into());
    let error = Channels::from_settings(&missing, &HttpClientSettings::default(), None).expect_err("no key file");
    assert_eq!(error.key, "notifications.push.service_account_file", "{error}");
}

#[tokio::test]
async fn a_test_double_can_stand_in_for_a_channel() {
    #[derive(Debug)]
    struct Refusing;
    #[async_trait::async_trait]
    impl NotificationChannel for Refusing {
        fn kind(&self) -> ChannelKind {
            ChannelKind::Email
        }
        async fn send(
            &self,
            _: &OutboundMessage,
        ) -> Result<wayfarer::notifications::channels::SentMessage, ChannelError> {
            Err(ChannelError::Transient("double".into()))
        }
        async fn check(&self) -> Result<String, String> {
            Ok("double".into())
        }
    }
    let channels = Channels::none().with_channel(Arc::new(Refusing));
    let email = channel(&channels, ChannelKind::Email);
    assert_eq!(email.send(&message("a@example.com", "k")).await, Err(ChannelError::Transient("double".into())));
}

// ---------------------------------------------------------------- doctor

#[tokio::test]
async fn doctor_checks_each_configured_channel_and_says_which_are_off() {
    let sandbox = start_sandbox().await;
    let sink = SmtpSink::start_with_auth("wayfarer", "s3cret").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = sandbox.explicit_settings(dir.path());
    let key_file = settings.push.service_account_file.clone().expect("key file");
    let env = [
        ("WAYFARER_NOTIFICATIONS__EMAIL__SMTP_URL", sink.url()),
        ("WAYFARER_NOTIFICATIONS__SMS__BASE_URL", sandbox.endpoint.base_url.clone()),
        ("WAYFARER_NOTIFICATIONS__SMS__ACCOUNT_SID", sandbox.endpoint.twilio_account_sid.clone()),
        ("WAYFARER_NOTIFICATIONS__SMS__AUTH_TOKEN", sandbox.endpoint.twilio_auth_token.clone()),
        ("WAYFARER_NOTIFICATIONS__SMS__FROM", SANDBOX_SMS_FROM.to_owned()),
        ("WAYFARER_NOTIFICATIONS__PUSH__BASE_URL", sandbox.endpoint.base_url.clone()),
        ("WAYFARER_NOTIFICATIONS__PUSH__PROJECT_ID", sandbox.endpoint.fcm_project_id.clone()),
        ("WAYFARER_NOTIFICATIONS__PUSH__SERVICE_ACCOUNT_FILE", key_file.display().to_string()),
    ];
    let report = doctor(&env).await;
    assert!(report.0, "{}", report.1);
    let report = report.1;
    for line in ["[ok  ] email", "[ok  ] sms", "[ok  ] push"] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert!(report.contains("credentials accepted"), "{report}");
    assert!(!report.contains("s3cret") && !report.contains(&sandbox.endpoint.twilio_auth_token), "{report}");
    assert!(sink.messages().is_empty() && sandbox.sms_messages().await.is_empty(), "doctor sends nothing");
    assert!(sandbox.push_messages().await.is_empty());

    // A broken channel fails the doctor; SMS without a base_url is the
    // bundled sandbox's sink; push turned off says so.
    let env = [
        ("WAYFARER_NOTIFICATIONS__EMAIL__SMTP_URL", format!("smtp+plain://127.0.0.1:{}", free_port())),
        ("WAYFARER_NOTIFICATIONS__PUSH__ENABLED", "false".to_owned()),
    ];
    let (ok, report) = doctor(&env).await;
    assert!(!ok, "{report}");
    assert!(report.contains("[FAIL] email"), "{report}");
    let sms = report.lines().find(|l| l.contains("] sms")).unwrap_or_default();
    assert!(sms.contains("[ok  ]") && sms.ends_with("(bundled sandbox)"), "{report}");
    assert!(report.contains("[ok  ] push      off (notifications.push.enabled = false)"), "{report}");
}

/// Runs `wayfarer doctor` with `env`; whether it passed, and its report.
async fn doctor(env: &[(&str, String)]) -> (bool, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfarer"));
    command.args(["--data-dir", &data.path().join("data").display().to_string(), "doctor"]).env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("doctor finishes")
        .expect("doctor runs");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), report)
}
