//! E-mail over SMTP (lettre, async on tokio, TLS by rustls with the webpki
//! roots): one message per [`NotificationChannel::send`], a
//! `multipart/alternative` of the text and HTML parts, its `Message-ID`
//! derived from the idempotency key so a retried send is recognisable as the
//! same message.
//!
//! **The URL.** `notifications.email.smtp_url` names the relay and how to
//! reach it:
//!
//! - `smtp://[user:pass@]host[:port]` — submission with STARTTLS **required**
//!   (port 587). A server that does not offer STARTTLS is refused rather than
//!   spoken to in the clear: opportunistic STARTTLS can be stripped by anyone
//!   on the path, credentials and all.
//! - `smtps://…` — implicit TLS from the first byte (port 465).
//! - `smtp+plain://…` — no TLS at all (port 25), for a trusted relay on the
//!   same host or network (a local Postfix, a test sink). Chosen by name, so
//!   plain text is never a fallback.
//!
//! User and password are percent-encoded in the URL, as usual; with them the
//! client authenticates (PLAIN or LOGIN, whichever the server offers).
//!
//! **Errors.** An SMTP 4xx, a refused or dropped connection, a TLS failure
//! and a timeout are [`ChannelError::Transient`]; a 5xx is
//! [`ChannelError::Permanent`], except the "no such mailbox" family (550,
//! 551, 553 without an enhanced status, or with one of the X.1.y
//! destination-address codes), which is [`ChannelError::InvalidDestination`].
//! An address that does not parse never reaches the wire and is
//! `InvalidDestination` too.
//!
//! Connections are pooled (lettre's pool, ten at most, closed after a minute
//! idle), each checked with `NOOP` before reuse.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::{ChannelError, ChannelKind, NotificationChannel, OutboundMessage, SentMessage};

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: plain TCP upgraded with STARTTLS, which the server must offer.
    StartTls,
    /// `smtps://`: TLS from the start.
    ImplicitTls,
    /// `smtp+plain://`: no TLS (trusted local relays only).
    Plain,
}

impl SmtpSecurity {
    fn describe(self) -> &'static str {
        match self {
            Self::StartTls => "STARTTLS",
            Self::ImplicitTls => "implicit TLS",
            Self::Plain => "no TLS",
        }
    }
}

/// A parsed `notifications.email.smtp_url`.
#[derive(Clone)]
pub struct SmtpTarget {
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// The relay's host name or address.
    pub host: String,
    /// Its port (the scheme's default when the URL has none).
    pub port: u16,
    user: Option<String>,
    password: Option<SecretString>,
}

impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SmtpTarget {
    /// Parses an SMTP URL; the error is the expected form, for a
    /// configuration message.
    pub fn parse(raw: &str) -> Result<Self, String> {
        const EXPECTED: &str = "an smtp://, smtps:// or smtp+plain:// URL like smtp://user:pass@mail.example.com:587";
        let url = url::Url::parse(raw).map_err(|_| EXPECTED.to_owned())?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (SmtpSecurity::StartTls, 587),
            "smtps" => (SmtpSecurity::ImplicitTls, 465),
            "smtp+plain" => (SmtpSecurity::Plain, 25),
            _ => return Err(EXPECTED.to_owned()),
        };
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            _ => return Err(format!("{EXPECTED} (the host is missing)")),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(format!("{EXPECTED} (no path or query)"));
        }
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| format!("{EXPECTED} (user and password percent-encoded UTF-8)"));
        let user = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?.map(SecretString::from);
        if password.is_some() && user.is_none() {
            return Err(format!("{EXPECTED} (a password needs a user)"));
        }
        Ok(Self { security, host, port: url.port().unwrap_or(default_port), user, password })
    }

    /// `smtp+plain://host:port (no TLS, as user)`, without the password.
    pub fn describe(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::StartTls => "smtp",
            SmtpSecurity::ImplicitTls => "smtps",
            SmtpSecurity::Plain => "smtp+plain",
        };
        let who = match &self.user {
            Some(user) => format!(", as {user}"),
            None => String::new(),
        };
        format!("{scheme}://{}:{} ({}{who})", self.host, self.port, self.security.describe())
    }

    fn tls(&self) -> Result<Tls, String> {
        let parameters = || TlsParameters::new(self.host.clone()).map_err(|e| format!("TLS set-up: {e}"));
        Ok(match self.security {
            SmtpSecurity::StartTls => Tls::Required(parameters()?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(parameters()?),
            SmtpSecurity::Plain => Tls::None,
        })
    }

    fn credentials(&self) -> Option<Credentials> {
        let user = self.user.clone()?;
        let password = self.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
        Some(Credentials::new(user, password))
    }
}

fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The e-mail channel.
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    target: SmtpTarget,
    tls: Tls,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel").field("target", &self.target).field("from", &self.from.to_string()).finish()
    }
}

impl EmailChannel {
    /// A channel sending through `target` as `from`; `timeout` bounds one
    /// whole message (connection, TLS, authentication and transaction).
    /// Made and dropped inside a Tokio runtime: the pool runs a task there.
    pub fn new(target: SmtpTarget, from: Mailbox, timeout: Duration) -> Result<Self, String> {
        let tls = target.tls()?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
            .port(target.port)
            .tls(tls.clone())
            .timeout(Some(timeout));
        if let Some(credentials) = target.credentials() {
            builder = builder.credentials(credentials);
        }
        Ok(Self { transport: builder.build(), target, tls, from, timeout })
    }

    /// Where it sends, without credentials.
    pub fn target(&self) -> &SmtpTarget {
        &self.target
    }

    /// The message as it goes on the wire.
    pub fn build_message(&self, message: &OutboundMessage) -> Result<Message, ChannelError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| ChannelError::InvalidDestination(format!("{:?} is not an e-mail address: {e}", message.to)))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(message_id(&message.idempotency_key, self.from.email.domain())))
            .date_now()
            // RFC 3834: an automatic message, so auto-responders stay quiet.
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
        let built = match &message.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(message.text.clone(), html.clone())),
            None => builder.singlepart(SinglePart::plain(message.text.clone())),
        };
        built.map_err(|e| ChannelError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// `<key@domain>`: the idempotency key itself when it is a valid
/// `id-left` (RFC 5322 dot-atom text), else its safe characters and a digest
/// of the whole key, so distinct keys never share an id.
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let is_atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = !idempotency_key.is_empty()
        && idempotency_key.split('.').all(|part| !part.is_empty() && part.chars().all(is_atext));
    let left = if dot_atom {
        idempotency_key.to_owned()
    } else {
        let safe: String = idempotency_key.chars().filter(|c| is_atext(*c)).take(64).collect();
        let digest = hex::encode(&Sha256::digest(idempotency_key.as_bytes())[..8]);
        if safe.is_empty() { digest } else { format!("{safe}.{digest}") }
    };
    format!("<{left}@{domain}>")
}

/// How an SMTP failure is classified.
pub fn classify(error: &lettre::transport::smtp::Error) -> ChannelError {
    let text = error.to_string();
    if error.is_permanent() {
        let code = error.status().map(|c| c.to_string()).unwrap_or_default();
        return if matches!(code.as_str(), "550" | "551" | "553") && names_a_bad_mailbox(&text) {
            ChannelError::InvalidDestination(text)
        } else {
            ChannelError::Permanent(text)
        };
    }
    if error.is_client() {
        // Something lettre refused before sending (a message it cannot encode).
        return ChannelError::Permanent(text);
    }
    // 4xx, timeouts, refused or dropped connections, TLS handshakes, a pool shut down.
    ChannelError::Transient(text)
}

/// Whether a 550/551/553 reply is about the recipient's mailbox: no
/// enhanced status code (RFC 3463) to say otherwise, or one of the
/// destination-address codes (5.1.1 bad mailbox, 5.1.2 bad domain, 5.1.3
/// bad syntax, 5.1.4 ambiguous, 5.1.6 moved, 5.1.10 null MX). 5.1.7 and
/// 5.1.8 are the *sender's* address, and 5.7.x is policy: permanent, but not
/// the destination's fault.
fn names_a_bad_mailbox(reply: &str) -> bool {
    let enhanced = reply.split_whitespace().find(|word| {
        let mut parts = word.split('.');
        matches!(parts.next(), Some("5"))
            && parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_none()
    });
    match enhanced {
        None => true,
        Some(code) => matches!(code, "5.1.1" | "5.1.2" | "5.1.3" | "5.1.4" | "5.1.6" | "5.1.10"),
    }
}

/// The queue id in a `250 … queued as ID` reply, as Postfix and most relays
/// give it.
fn queue_id(response: &lettre::transport::smtp::response::Response) -> Option<String> {
    response.message().find_map(|line| {
        let (_, after) = line.split_once("queued as ")?;
        let id = after.split_whitespace().next()?.trim_end_matches(['.', ')', ']']);
        (!id.is_empty()).then(|| id.to_owned())
    })
}

#[async_trait]
impl NotificationChannel for EmailChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    /// Sends one message. The provider id is the relay's queue id when its
    /// reply names one, else the `Message-ID` this message carries.
    async fn send(&self, message: &OutboundMessage) -> Result<SentMessage, ChannelError> {
        let email = self.build_message(message)?;
        let id = message_id(&message.idempotency_key, self.from.email.domain());
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Err(_) => Err(ChannelError::Transient(format!("no answer within {:?}", self.timeout))),
            Ok(Err(error)) => Err(classify(&error)),
            Ok(Ok(response)) => Ok(SentMessage { provider_id: Some(queue_id(&response).unwrap_or(id)) }),
        }
    }

    /// Connects on a fresh connection (not the pool's), says EHLO, upgrades
    /// to TLS as configured, authenticates when the URL has credentials, and
    /// says QUIT: proves the relay answers and takes the credentials,
    /// without a message.
    async fn check(&self) -> Result<String, String> {
        let tls = match &self.tls {
            Tls::None => None,
            Tls::Required(parameters) | Tls::Wrapper(parameters) | Tls::Opportunistic(parameters) => {
                Some(parameters.clone())
            }
        };
        let attempt = async {
            let wrapper = matches!(self.tls, Tls::Wrapper(_));
            let mut connection = AsyncSmtpConnection::connect_tokio1(
                (self.target.host.as_str(), self.target.port),
                Some(self.timeout),
                &ClientId::default(),
                if wrapper { tls.clone() } else { None },
                None,
            )
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
            if let (Tls::Required(parameters), false) = (&self.tls, connection.is_encrypted()) {
                if !connection.can_starttls() {
                    connection.abort().await;
                    return Err("the server does not offer STARTTLS, which smtp:// requires".to_owned());
                }
                connection
                    .starttls(parameters.clone(), &ClientId::default())
                    .await
                    .map_err(|e| format!("STARTTLS failed: {e}"))?;
            }
            let server = connection.server_info().name().to_owned();
            if let Some(credentials) = self.target.credentials() {
                let mechanisms = [
                    lettre::transport::smtp::authentication::Mechanism::Plain,
                    lettre::transport::smtp::authentication::Mechanism::Login,
                ];
                if let Err(e) = connection.auth(&mechanisms, &credentials).await {
                    connection.abort().await;
                    return Err(format!("authentication refused: {e}"));
                }
            }
            let _ = connection.quit().await;
            let who = if self.target.user.is_some() { ", credentials accepted" } else { "" };
            Ok(format!("{} answered as {server}{who}", self.target.describe()))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("{}: no answer within {:?}", self.target.describe(), self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_security_and_the_default_port() {
        let t = SmtpTarget::parse("smtp://mail.example.com").expect("parses");
        assert_eq!((t.security, t.port), (SmtpSecurity::StartTls, 587));
        let t = SmtpTarget::parse("smtps://u%40x:p%3Aw@mail.example.com").expect("parses");
        assert_eq!((t.security, t.port), (SmtpSecurity::ImplicitTls, 465));
        assert_eq!(t.user.as_deref(), Some("u@x"));
        assert_eq!(t.password.as_ref().map(|p| p.expose_secret().to_owned()).as_deref(), Some("p:w"));
        assert!(!format!("{t:?} {}", t.describe()).contains("p:w"), "the password never shows");
        let t = SmtpTarget::parse("smtp+plain://127.0.0.1:2525").expect("parses");
        assert_eq!((t.security, t.port, t.host.as_str()), (SmtpSecurity::Plain, 2525, "127.0.0.1"));
        for bad in ["http://mail.example.com", "smtp://", "smtp://:pw@host", "smtp://host/path", "not a url"] {
            assert!(SmtpTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_come_from_the_key_and_never_collide() {
        assert_eq!(message_id("ntf_1.email", "example.com"), "<ntf_1.email@example.com>");
        let a = message_id("booking:1/email", "example.com");
        let b = message_id("booking;1/email", "example.com");
        assert_ne!(a, b);
        assert!(a.starts_with("<booking1/email.") && a.ends_with("@example.com>"), "{a}");
        assert_eq!(message_id("booking:1/email", "example.com"), a, "stable");
        assert!(message_id("..", "x.example").starts_with("<"), "never empty");
    }

    #[test]
    fn mailbox_replies_are_told_from_policy_replies() {
        assert!(names_a_bad_mailbox("permanent error (550): 5.1.1 <a@b>: Recipient address rejected"));
        assert!(names_a_bad_mailbox("permanent error (550): mailbox unavailable"));
        assert!(!names_a_bad_mailbox("permanent error (550): 5.7.1 Message rejected as spam"));
        assert!(!names_a_bad_mailbox("permanent error (553): 5.1.8 Sender address rejected"));
    }

    #[tokio::test]
    async fn messages_carry_both_parts_and_the_derived_id() {
        let target = SmtpTarget::parse("smtp+plain://127.0.0.1:2525").expect("parses");
        let from: Mailbox = "Wayfarer <bookings@wayfarer.example>".parse().expect("mailbox");
        let channel = EmailChannel::new(target, from, Duration::from_secs(1)).expect("builds");
        let message = OutboundMessage {
            to: "Ana <ana@example.com>".into(),
            subject: "Reserva confirmada — Lisboa".into(),
            text: "Olá Ana".into(),
            html: Some("<p>Olá Ana</p>".into()),
            data: Default::default(),
            idempotency_key: "ntf_42.email".into(),
        };
        let raw = String::from_utf8(channel.build_message(&message).expect("builds").formatted()).expect("utf-8");
        assert!(raw.contains("Message-ID: <ntf_42.email@wayfarer.example>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        let bad = OutboundMessage { to: "not an address".into(), ..message };
        assert!(matches!(channel.build_message(&bad), Err(ChannelError::InvalidDestination(_))));
    }
}
