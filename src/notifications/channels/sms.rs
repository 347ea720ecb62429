//! SMS through a Twilio-style Programmable Messaging API
//! (`reference/providers.md` §5.1): `POST
//! {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic
//! `AccountSid:AuthToken` and a form body `To`, `From` (or
//! `MessagingServiceSid` when the sender is an `MG…` service) and `Body`;
//! answered 201 with the message, whose `sid` is kept. The `.json` suffix
//! matters: without it the 2010 API answers XML.
//!
//! **Errors** come as `{code, message, more_info, status}` and are classified
//! by Twilio's code first, then by status: 20429 and any 429, 21611 (the
//! sender's queue is full — not a 429, but it drains) and 5xx are
//! [`ChannelError::Transient`]; 21211 (invalid `To`), 21610 (the recipient
//! unsubscribed), 21612 (unroutable) and 21614 (not SMS-capable) are
//! [`ChannelError::InvalidDestination`]; 20003 (authentication) and every
//! other 4xx are [`ChannelError::Permanent`]. Connection failures and
//! timeouts are transient.
//!
//! One request per send (the worker retries). A body longer than Twilio's
//! 1600 characters is cut at a character boundary with an ellipsis rather
//! than refused (21617).

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{ChannelError, ChannelKind, NotificationChannel, OutboundMessage, SentMessage, body_excerpt, http_failure};

/// Longest SMS body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// Twilio codes that mean "this number will not take SMS from us".
const DEAD_DESTINATION_CODES: [u32; 4] = [21211, 21610, 21612, 21614];
/// Twilio codes worth retrying although their status is a 4xx.
const TRANSIENT_CODES: [u32; 2] = [20429, 21611];

/// Whether `number` is E.164: `+`, then 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// The SMS channel.
pub struct SmsChannel {
    base_url: String,
    account_sid: String,
    auth_token: SecretString,
    from: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsChannel")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct MessageBody {
    sid: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct AccountBody {
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl SmsChannel {
    /// A channel for the account `account_sid` at `base_url` (no trailing
    /// slash needed), sending from `from` (E.164 or `MG…`); `timeout` bounds
    /// one request.
    pub fn new(
        base_url: &str,
        account_sid: String,
        auth_token: SecretString,
        from: String,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), account_sid, auth_token, from, http, timeout }
    }

    /// The API root it sends to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn account_url(&self, rest: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}{rest}", self.base_url, self.account_sid)
    }

    /// The form fields of one message.
    fn form(&self, message: &OutboundMessage) -> Vec<(&'static str, String)> {
        let sender = if self.from.starts_with("MG") { "MessagingServiceSid" } else { "From" };
        vec![("To", message.to.clone()), (sender, self.from.clone()), ("Body", fit_body(&message.text))]
    }
}

/// `text` cut to [`MAX_BODY_CHARS`], an ellipsis marking the cut.
pub fn fit_body(text: &str) -> String {
    if text.chars().count() <= MAX_BODY_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The error of a non-2xx answer.
pub fn classify(status: u16, body: &[u8]) -> ChannelError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    let detail = match (&code, parsed.as_ref().and_then(|b| b.message.as_deref())) {
        (Some(code), Some(message)) => format!("HTTP {status}, Twilio {code}: {message}"),
        (Some(code), None) => format!("HTTP {status}, Twilio {code}"),
        _ => format!("HTTP {status}: {}", body_excerpt(body)),
    };
    match code {
        Some(code) if DEAD_DESTINATION_CODES.contains(&code) => ChannelError::InvalidDestination(detail),
        Some(code) if TRANSIENT_CODES.contains(&code) => ChannelError::Transient(detail),
        _ if status == 429 || status >= 500 => ChannelError::Transient(detail),
        _ => ChannelError::Permanent(detail),
    }
}

fn transport_error(error: &reqwest::Error) -> ChannelError {
    // Sent once: after a timeout the message may have gone, but a rare
    // duplicate SMS is better than a lost one.
    ChannelError::Transient(http_failure(error))
}

#[async_trait]
impl NotificationChannel for SmsChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    async fn send(&self, message: &OutboundMessage) -> Result<SentMessage, ChannelError> {
        let response = self
            .http
            .post(self.account_url("/Messages.json"))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&self.form(message))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| transport_error(&e))?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &body));
        }
        let sent: MessageBody = serde_json::from_slice(&body).map_err(|e| {
            // Accepted, but unreadable: retrying could send it twice.
            ChannelError::Permanent(format!("HTTP {status} with an unreadable body ({e}): {}", body_excerpt(&body)))
        })?;
        Ok(SentMessage { provider_id: Some(sent.sid) })
    }

    /// Fetches the account (`GET …/Accounts/{sid}.json`): proves the API
    /// answers and takes the credentials, and sends nothing.
    async fn check(&self) -> Result<String, String> {
        let response = self
            .http
            .get(self.account_url(".json"))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| format!("{}: {}", self.base_url, http_failure(&e)))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| http_failure(&e))?;
        if status != 200 {
            return Err(format!("{}: {}", self.base_url, classify(status, &body)));
        }
        let account: AccountBody = serde_json::from_slice(&body).map_err(|e| format!("unreadable account: {e}"))?;
        Ok(format!(
            "{}: account {} ({}) accepts the credentials; sending as {}",
            self.base_url,
            account.friendly_name.as_deref().unwrap_or(&self.account_sid),
            account.status.as_deref().unwrap_or("status unknown"),
            self.from
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_codes_decide_before_statuses() {
        let body = |code: u32, status: u16| {
            serde_json::json!({"code": code, "message": "m", "more_info": "https://www.twilio.com/docs/errors/x", "status": status})
                .to_string()
                .into_bytes()
        };
        assert!(matches!(classify(400, &body(21211, 400)), ChannelError::InvalidDestination(_)));
        assert!(matches!(classify(400, &body(21610, 400)), ChannelError::InvalidDestination(_)));
        assert!(matches!(classify(400, &body(21612, 400)), ChannelError::InvalidDestination(_)));
        assert!(matches!(classify(400, &body(21614, 400)), ChannelError::InvalidDestination(_)));
        assert!(matches!(classify(429, &body(20429, 429)), ChannelError::Transient(_)));
        assert!(matches!(classify(400, &body(21611, 400)), ChannelError::Transient(_)));
        assert!(matches!(classify(401, &body(20003, 401)), ChannelError::Permanent(_)));
        assert!(matches!(classify(400, &body(21212, 400)), ChannelError::Permanent(_)));
        assert!(matches!(classify(503, b"<html>busy</html>"), ChannelError::Transient(_)));
        assert!(matches!(classify(404, b""), ChannelError::Permanent(_)));
        let ChannelError::InvalidDestination(detail) = classify(400, &body(21211, 400)) else {
            panic!("not a dead destination")
        };
        assert_eq!(detail, "HTTP 400, Twilio 21211: m");
    }

    #[test]
    fn long_bodies_are_cut_at_a_character() {
        let long = "é".repeat(2000);
        let fitted = fit_body(&long);
        assert_eq!(fitted.chars().count(), MAX_BODY_CHARS);
        assert!(fitted.ends_with('…'));
        assert_eq!(fit_body("short"), "short");
    }

    #[test]
    fn e164_is_plus_and_digits() {
        assert!(is_e164("+15005550006"));
        assert!(is_e164("+351912345678"));
        assert!(!is_e164("15005550006"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1 500 555"));
    }
}
