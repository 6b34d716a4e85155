//! Mail sent through the SDK to a real SES emulator, read back from its store. The
//! emulator is the one every test shares, so each test mails addresses of its own.

use anyhow::Result;
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::{Body, Content, Destination, Message, RawMessage};
use rapport_integration::sent_to;
use rapport_local::ses::SentEmail;
use rapport_local::shared_ses;

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
