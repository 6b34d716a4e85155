//! Mail sent through the SDK to a real SES emulator, read back from its store. The
//! emulator is the one every test shares, so each test mails addresses of its own.
//! What the emulator cannot show — the request the SDK sends, and the errors SES
//! answers when an account may send no more — is checked against a stand-in endpoint.

use anyhow::Result;
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::{Body, Content, Destination, Message, RawMessage};
use rapport_integration::sent_to;
use rapport_local::ses::SentEmail;
use rapport_local::shared_ses;
use rapport_shared::domain::Email;
use rapport_shared::mail::{MessageSender, OutgoingMail, SendError, SesSender};
use std::sync::{Arc, Mutex};

async fn only_mail_to(endpoint: &str, recipient: &str) -> SentEmail {
    let mut mails = sent_to(endpoint, recipient).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    mails.remove(0)
}

#[tokio::test]
async fn send_email_is_listed_with_its_parts() -> Result<()> {
    let ses = shared_ses().await?;
    let ann = format!("ann-{}@example.com", uuid::Uuid::new_v4().simple());
    let sent = ses
        .client()
        .send_email()
        .source("shop@example.com")
        .destination(Destination::builder().to_addresses(&ann).build())
        .reply_to_addresses("care@example.com")
        .message(
            Message::builder()
                .subject(Content::builder().data("We miss you").build()?)
                .body(
                    Body::builder()
                        .text(Content::builder().data("Come back for 10% off.").build()?)
                        .html(
                            Content::builder()
                                .data("<p>Come back for <b>10%</b> off.</p>")
                                .build()?,
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;

    let mail = only_mail_to(&ses.endpoint(), &ann).await;
    assert_eq!(mail.message_id, sent.message_id());
    assert_eq!(mail.from, "shop@example.com");
    assert_eq!(mail.to_addresses(), [ann]);
    assert_eq!(mail.reply_to, ["care@example.com"]);
    assert_eq!(mail.subject, "We miss you");
    assert_eq!(mail.text.as_deref(), Some("Come back for 10% off."));
    assert_eq!(
        mail.html.as_deref(),
        Some("<p>Come back for <b>10%</b> off.</p>")
    );
    assert!(mail.sent_at > 1_700_000_000);
    Ok(())
}

#[tokio::test]
async fn send_raw_email_is_parsed_into_the_same_fields() -> Result<()> {
    let ses = shared_ses().await?;
    let tag = uuid::Uuid::new_v4().simple();
    let (bob, carol) = (
        format!("bob-{tag}@example.com"),
        format!("carol-{tag}@example.com"),
    );
    let to = format!("To: {bob}, \"Cho, Carol\" <{carol}>\r\n");
    let mime = [
        "From: \"Rapport Shop\" <shop@example.com>\r\n",
        &to,
        "Subject: Your gold tier\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        "\r\n",
        "--b1\r\n",
        "Content-Type: multipart/alternative; boundary=\"b2\"\r\n",
        "\r\n",
        "--b2\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "\r\n",
        "You reached gold.\r\n",
        "--b2\r\n",
        "Content-Type: text/html; charset=utf-8\r\n",
        "\r\n",
        "<p>You reached <b>gold</b>.</p>\r\n",
        "--b2--\r\n",
        "--b1\r\n",
        "Content-Type: text/csv; name=\"points.csv\"\r\n",
        "Content-Disposition: attachment; filename=\"points.csv\"\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "cG9pbnRzCjEyMAo=\r\n",
        "--b1--\r\n",
    ]
    .concat();
    ses.client()
        .send_raw_email()
        .raw_message(
            RawMessage::builder()
                .data(Blob::new(mime.as_bytes()))
                .build()?,
        )
        .send()
        .await?;

    let mail = only_mail_to(&ses.endpoint(), &carol).await;
    assert_eq!(mail.from, "\"Rapport Shop\" <shop@example.com>");
    assert_eq!(mail.to_addresses(), [bob, carol]);
    assert_eq!(mail.subject, "Your gold tier");
    assert_eq!(
        mail.text.as_deref().map(str::trim),
        Some("You reached gold.")
    );
    assert_eq!(
        mail.html.as_deref().map(str::trim),
        Some("<p>You reached <b>gold</b>.</p>")
    );
    let attachment = &mail.attachments[0];
    assert_eq!(attachment.filename.as_deref(), Some("points.csv"));
    assert_eq!(attachment.content_type.as_deref(), Some("text/csv"));
    assert_eq!(attachment.content, b"points\n120\n");
    Ok(())
}

/// A stand-in for the SES endpoint: answers every request with `status` and `body`
/// and keeps each request's form body, to show what the SDK sent.
async fn fake_ses(status: u16, body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let requests = Arc::clone(&requests);
            let body = body.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                // Headers, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while raw.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                }
                let form = String::from_utf8_lossy(&raw[head_end..]).into_owned();
                requests.lock().unwrap().push(form);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (endpoint, seen)
}

/// An SES client of the fake endpoint, without the SDK's own retries.
fn client_of(endpoint: &str) -> aws_sdk_ses::Client {
    let sdk = rapport_local::sdk_config("http://127.0.0.1:9", endpoint);
    let config = aws_sdk_ses::config::Builder::from(&sdk)
        .retry_config(aws_sdk_ses::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ses::Client::from_conf(config)
}

/// The values of form parameters named `prefix` followed by a number.
fn members(form: &str, prefix: &str) -> Vec<String> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| {
            name.strip_prefix(prefix)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, value)| form_decode(value))
        .collect()
}

/// A form value, percent-decoded.
fn form_decode(value: &str) -> String {
    let bytes = value.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn customer_mail(to: &str) -> OutgoingMail {
    OutgoingMail {
        from: "Chai & Co <hello@chai.example>".into(),
        to: Email::parse("to", to).unwrap(),
        subject: "Your order".into(),
        html: "<p>Thanks</p>".into(),
        text: "Thanks".into(),
        unsubscribe_url: "https://api.chai.example/v1/unsubscribe?token=t".into(),
        message_key: "c1|post_purchase|o1".into(),
    }
}

const SENT: &str = r#"<SendRawEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><SendRawEmailResult><MessageId>fake-1</MessageId></SendRawEmailResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></SendRawEmailResponse>"#;

#[tokio::test]
async fn a_customer_message_names_exactly_one_destination() {
    let (endpoint, requests) = fake_ses(200, SENT.into()).await;
    let sender = SesSender::new(client_of(&endpoint));
    let id = sender.send(&customer_mail("ann@x.example")).await.unwrap();
    assert_eq!(id, "fake-1");
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].contains("Action=SendRawEmail"),
        "{}",
        requests[0]
    );
    // SES delivers to the destinations it is given, whatever the headers say.
    assert_eq!(
        members(&requests[0], "Destinations.member."),
        ["ann@x.example"]
    );
}

/// SES v1's answer when the account's daily quota is used up: the throttling code, and
/// a message that tells it from a moment over the send rate.
fn ses_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"#
    )
}

#[tokio::test]
async fn a_used_up_daily_quota_stops_sending_and_a_busy_moment_is_throttling() {
    let quota = ses_error("Throttling", "Daily message quota exceeded.");
    let (endpoint, _) = fake_ses(400, quota).await;
    let sent = SesSender::new(client_of(&endpoint))
        .send(&customer_mail("ann@x.example"))
        .await;
    assert!(
        matches!(&sent, Err(SendError::QuotaExceeded(d)) if d.contains("Daily message quota")),
        "{sent:?}"
    );

    let rate = ses_error("Throttling", "Maximum sending rate exceeded.");
    let (endpoint, _) = fake_ses(400, rate).await;
    let sent = SesSender::new(client_of(&endpoint))
        .send(&customer_mail("ann@x.example"))
        .await;
    assert!(matches!(sent, Err(SendError::Throttled(_))), "{sent:?}");

    let paused = ses_error("AccountSendingPausedException", "Sending is paused.");
    let (endpoint, _) = fake_ses(400, paused).await;
    let sent = SesSender::new(client_of(&endpoint))
        .send(&customer_mail("ann@x.example"))
        .await;
    assert!(matches!(sent, Err(SendError::QuotaExceeded(_))), "{sent:?}");
}

/// The account's limits as the emulator describes them (SES v2 `GetAccount`), and the
/// share of them a job run takes.
#[tokio::test]
async fn the_job_paces_its_mail_to_the_account_the_emulator_describes() -> Result<()> {
    use rapport_shared::mail::pace::{QuotaSource, SesAccount};
    let ses = shared_ses().await?;
    let sdk = rapport_local::sdk_config("http://127.0.0.1:9", &ses.endpoint());
    let account = SesAccount::new(aws_sdk_sesv2::Client::new(&sdk));
    let quota = account.send_quota().await?;
    assert_eq!(quota.max_send_rate, 14.0);
    assert_eq!(quota.max_24_hour_send, 50_000.0);
    assert_eq!(quota.sent_last_24_hours, 0.0);
    assert!(quota.sending_enabled);

    let mut job = job_config();
    job.ses_rate_share = 0.5;
    let pacing = rapport_job::run::pacing(&account, &job).await;
    assert_eq!(pacing.rate, Some(7.0));
    assert_eq!(pacing.budget, Some(50_000));
    // The operator's cap is kept when lower.
    job.ses_max_send_rate = Some(2.0);
    assert_eq!(
        rapport_job::run::pacing(&account, &job).await.rate,
        Some(2.0)
    );
    Ok(())
}

/// Where SES does not answer, the run goes unpaced (SES's own throttling and quota
/// answers still stop it) at the operator's cap, if any.
#[tokio::test]
async fn an_account_ses_does_not_describe_leaves_the_run_unpaced() {
    use rapport_shared::mail::pace::SesAccount;
    let sdk = rapport_local::sdk_config("http://127.0.0.1:9", "http://127.0.0.1:9");
    let account = SesAccount::new(aws_sdk_sesv2::Client::new(&sdk));
    let mut job = job_config();
    job.ses_max_send_rate = Some(3.0);
    let pacing = rapport_job::run::pacing(&account, &job).await;
    assert_eq!(
        (pacing.rate, pacing.budget, pacing.quota),
        (Some(3.0), None, None)
    );
}

/// The job's settings as the environment would give them with nothing set.
fn job_config() -> rapport_shared::config::JobConfig {
    let config = rapport_integration::config("unused", &[]);
    rapport_shared::config::JobConfig::from_lookup(&config, |_| None).unwrap()
}
