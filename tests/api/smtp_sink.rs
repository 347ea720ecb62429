//! A real SMTP server for tests: `tests/smtp-sink/sink.py` (aiosmtpd, in the
//! venv `bash .ci/test` makes) on a loopback port, writing each message it
//! accepts, parsed by Python's own e-mail parser, to a directory the test
//! reads. Being a different implementation from the client under test, it
//! holds lettre's output to what a real server takes.
//!
//! Without the venv [`SmtpSink::start`] fails (never skips) and says how to
//! make it. The server exits when its stdin closes, so a test that panics
//! leaves nothing behind.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncBufReadExt as _;

/// A running SMTP sink.
pub(crate) struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    credentials: Option<(String, String)>,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// One message the sink accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReceivedMail {
    /// The queue id it answered with (`SINK0001`).
    pub(crate) queue_id: String,
    /// The envelope sender (`MAIL FROM`).
    pub(crate) mail_from: String,
    /// The envelope recipients (`RCPT TO`) it accepted.
    pub(crate) rcpt_tos: Vec<String>,
    /// Who authenticated, if anyone.
    pub(crate) auth_user: Option<String>,
    /// The top-level content type (`multipart/alternative`).
    pub(crate) content_type: String,
    /// The decoded subject.
    pub(crate) subject: Option<String>,
    /// The `Message-ID` header.
    pub(crate) message_id: Option<String>,
    /// The `From` header.
    pub(crate) from: String,
    /// The `To` header.
    pub(crate) to: String,
    /// Every header, decoded, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The decoded text/plain part.
    pub(crate) text: Option<String>,
    /// The decoded text/html part.
    pub(crate) html: Option<String>,
    /// The message as received.
    pub(crate) raw: String,
}

impl ReceivedMail {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Deserialize)]
struct Ready {
    port: u16,
}

impl SmtpSink {
    /// A sink that takes mail from anyone.
    pub(crate) async fn start() -> Self {
        Self::launch(None).await
    }

    /// A sink that requires `AUTH` as `user`/`password` (PLAIN or LOGIN, no TLS).
    pub(crate) async fn start_with_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp-sink");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `bash .ci/test` once (it creates the venv and installs tests/smtp-sink/requirements.txt)",
            python.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = tokio::process::Command::new(&python);
        command
            .arg(root.join("sink.py"))
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some((user, password)) = &credentials {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = command.spawn().expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMTP sink starts within 30 s")
            .expect("read its stdout")
            .expect("it prints its port");
        let ready: Ready = serde_json::from_str(&line).expect("{\"port\": N}");
        Self { port: ready.port, credentials, dir, _child: child }
    }

    /// `smtp+plain://[user:password@]127.0.0.1:PORT`, for `notifications.email.smtp_url`.
    pub(crate) fn url(&self) -> String {
        match &self.credentials {
            Some((user, password)) => format!("smtp+plain://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("smtp+plain://127.0.0.1:{}", self.port),
        }
    }

    /// The messages accepted so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<ReceivedMail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink directory")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("message file");
                serde_json::from_str(&text).expect("message JSON")
            })
            .collect()
    }

    /// Waits (up to `within`) until at least `count` messages arrived; all of them.
    pub(crate) async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
