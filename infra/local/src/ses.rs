//! Reads what the SES emulator has "sent", so tests can assert on outgoing mail.
//!
//! The emulator keeps every accepted message in memory and lists them at `GET /store`:
//!
//! ```json
//! {"templates": {}, "emails": [{
//!   "messageId": "ses-116690174", "from": "shop@example.com", "replyTo": [],
//!   "destination": {"to": ["a@example.com"], "cc": [], "bcc": []},
//!   "subject": "Hi", "body": {"text": "…", "html": "<p>…</p>"},
//!   "attachments": [], "headers": [{"name": "…", "value": "…"}], "at": 1795373259}]}
//! ```
//!
//! It parses raw (SendRawEmail) messages into the same fields and does not keep the
//! original MIME text. Two of its quirks matter to tests: for SES v1 SendEmail it
//! records only the first address of each destination list, and for raw messages a
//! header such as `To: a@x, b@x` arrives as one comma-separated entry;
//! [`SentEmail::to_addresses`] splits those.

use std::time::Duration;

/// The SES account the emulator describes (v2 `GetAccount`), in the shape it checks:
/// out of the sandbox at SES's usual first production limits, 14 messages a second and
/// 50,000 a day, none sent yet (the emulator does not count what it takes).
pub const EMULATED_ACCOUNT: &str = r#"{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"MARKETING","ReviewDetails":{"CaseId":"local","Status":"GRANTED"},"UseCaseDescription":"Rapport local stack","WebsiteURL":"https://shop.example"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":50000,"MaxSendRate":14,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":[]}}"#;

use anyhow::{Context, Result};
use base64::Engine;
use serde::Deserialize;

/// One message the emulator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub message_id: String,
    /// As given: a bare address, or `"Name" <address>` for raw messages.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<SentAttachment>,
    /// Extra headers of SES v2 messages; empty for v1.
    pub headers: Vec<(String, String)>,
    /// When the emulator accepted it, in seconds since the Unix epoch.
    pub sent_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAttachment {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub content: Vec<u8>,
}

impl SentEmail {
    /// The bare addresses of every `to` recipient, display names dropped, in order.
    pub fn to_addresses(&self) -> Vec<String> {
        self.to
            .iter()
            .flat_map(|entry| bare_addresses(entry))
            .collect()
    }

    /// True when `address` is among the `to`, `cc` or `bcc` recipients.
    pub fn is_addressed_to(&self, address: &str) -> bool {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .flat_map(|entry| bare_addresses(entry))
            .any(|a| a.eq_ignore_ascii_case(address))
    }
}

/// Splits `"Shop, Inc." <a@x>, b@x` into `a@x` and `b@x`, respecting quotes.
fn bare_addresses(list: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in list.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .iter()
        .filter_map(|part| {
            let part = part.trim();
            let address = match (part.rfind('<'), part.rfind('>')) {
                (Some(open), Some(close)) if open < close => &part[open + 1..close],
                _ => part,
            };
            let address = address.trim();
            (!address.is_empty()).then(|| address.to_owned())
        })
        .collect()
}

/// Every message the emulator at `ses_endpoint` has accepted, oldest first.
pub async fn sent_messages(ses_endpoint: &str) -> Result<Vec<SentEmail>> {
    let url = format!("{}/store", ses_endpoint.trim_end_matches('/'));
    let store: Store = http_client()?
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("reading the mail store from {url}"))?;
    store.emails.into_iter().map(SentEmail::try_from).collect()
}

/// Empties the emulator's mailbox. Tests sharing one emulator should rather tell their
/// mail apart by recipient, as clearing races with the other tests.
pub async fn clear_sent_messages(ses_endpoint: &str) -> Result<()> {
    let url = format!("{}/clear-store", ses_endpoint.trim_end_matches('/'));
    http_client()?
        .post(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("POST {url}"))?;
    Ok(())
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building an HTTP client")
}

#[derive(Deserialize)]
struct Store {
    emails: Vec<StoredEmail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEmail {
    message_id: String,
    from: String,
    #[serde(default)]
    reply_to: Vec<String>,
    destination: StoredDestination,
    subject: String,
    #[serde(default)]
    body: StoredBody,
    #[serde(default)]
    attachments: Vec<StoredAttachment>,
    #[serde(default)]
    headers: Option<Vec<StoredHeader>>,
    at: i64,
}

#[derive(Deserialize, Default)]
struct StoredDestination {
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
}

#[derive(Deserialize, Default)]
struct StoredBody {
    text: Option<String>,
    html: Option<String>,
}

/// Raw messages carry many more fields from the MIME parser; only these are read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAttachment {
    filename: Option<String>,
    content_type: Option<String>,
    /// Base64.
    content: String,
}

#[derive(Deserialize)]
struct StoredHeader {
    name: String,
    value: String,
}

impl TryFrom<StoredEmail> for SentEmail {
    type Error = anyhow::Error;

    fn try_from(stored: StoredEmail) -> Result<Self> {
        let attachments = stored
            .attachments
            .into_iter()
            .map(|a| {
                let content = base64::engine::general_purpose::STANDARD
                    .decode(a.content.trim())
                    .with_context(|| {
                        format!(
                            "attachment {:?} of {} is not base64",
                            a.filename, stored.message_id
                        )
                    })?;
                Ok(SentAttachment {
                    filename: a.filename,
                    content_type: a.content_type,
                    content,
                })
            })
            .collect::<Result<_>>()?;
        Ok(SentEmail {
            message_id: stored.message_id,
            from: stored.from,
            to: stored.destination.to,
            cc: stored.destination.cc,
            bcc: stored.destination.bcc,
            reply_to: stored.reply_to,
            subject: stored.subject,
            text: stored.body.text,
            html: stored.body.html,
            attachments,
            headers: stored
                .headers
                .unwrap_or_default()
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            sent_at: stored.at,
        })
    }
}

/// SES through the emulator, with the emulator's mailbox as the delivery log: a message
/// counts as accepted when the emulator holds mail to the same address with the same
/// subject from `since` on. In AWS the same question is answered by SES's own sending
/// events; here it lets a re-run after a crash send every due message exactly once.
pub struct EmulatorSender {
    inner: rapport_shared::mail::SesSender,
    endpoint: String,
}

impl EmulatorSender {
    pub fn new(client: aws_sdk_ses::Client, endpoint: impl Into<String>) -> Self {
        Self {
            inner: rapport_shared::mail::SesSender::new(client),
            endpoint: endpoint.into(),
        }
    }
}

#[async_trait::async_trait]
impl rapport_shared::mail::MessageSender for EmulatorSender {
    async fn send(
        &self,
        mail: &rapport_shared::mail::OutgoingMail,
    ) -> Result<String, rapport_shared::mail::SendError> {
        self.inner.send(mail).await
    }

    async fn accepted(
        &self,
        mail: &rapport_shared::mail::OutgoingMail,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<rapport_shared::mail::Acceptance, rapport_shared::mail::SendError> {
        use rapport_shared::mail::{Acceptance, SendError};
        let outbox = sent_messages(&self.endpoint)
            .await
            .map_err(|e| SendError::Unavailable(format!("{e:#}")))?;
        // The emulator keeps whole seconds.
        let found = outbox.into_iter().find(|m| {
            m.sent_at >= since.timestamp()
                && m.subject == mail.subject
                && m.is_addressed_to(mail.to.as_str())
        });
        Ok(match found {
            Some(m) => Acceptance::Accepted(m.message_id),
            None => Acceptance::NotAccepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_store_shape() {
        let json = r#"{"templates":{},"emails":[
          {"messageId":"ses-1","from":"shop@example.com","replyTo":[],
           "destination":{"to":["a@example.com"],"cc":[],"bcc":[]},
           "subject":"Hi","body":{"text":"t","html":"<p>h</p>"},"attachments":[],"at":1795373259},
          {"messageId":"ses-2","from":"\"Shop\" <shop@example.com>","replyTo":[],
           "destination":{"to":["c@example.com, \"D, Dee\" <d@example.com>"],"cc":[],"bcc":["e@example.com"]},
           "subject":"Raw","body":{"text":"raw body\n"},
           "attachments":[{"type":"attachment","content":"aGk=","contentType":"text/plain",
                           "filename":"a.txt","size":2,"headers":{},"checksum":"x"}],
           "headers":[{"name":"X-Campaign","value":"win-back"}],"at":1795373260}]}"#;
        let store: Store = serde_json::from_str(json).unwrap();
        let mails: Vec<SentEmail> = store
            .emails
            .into_iter()
            .map(|e| e.try_into().unwrap())
            .collect();
        assert_eq!(mails[0].html.as_deref(), Some("<p>h</p>"));
        assert_eq!(mails[1].html, None);
        assert_eq!(mails[1].to_addresses(), ["c@example.com", "d@example.com"]);
        assert!(mails[1].is_addressed_to("E@example.com"));
        assert_eq!(mails[1].attachments[0].content, b"hi");
        assert_eq!(
            mails[1].headers,
            [("X-Campaign".to_owned(), "win-back".to_owned())]
        );
        assert_eq!(mails[1].sent_at, 1795373260);
    }
}
