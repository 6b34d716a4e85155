//! Outgoing mail: the service-recovery alert to the shop's support address, and customer
//! messages as complete MIME (HTML and text alternatives, one-click unsubscribe headers)
//! sent with SES `SendRawEmail`. Sending goes through traits so callers do not depend on
//! SES, and tests read the real thing back from the SES emulator.

pub mod pace;
pub mod render;
pub mod wording;

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use chrono::{DateTime, Utc};
use sha2::Digest;
use thiserror::Error;

use crate::access::{Action, Grant, MethodGrants, Port, Resource};
use crate::domain::{CustomerId, Email, OrderId, Sku};

/// What the SES senders call, per method, as `store::dynamo::access` does for the
/// store; `tests/policies.rs` proves it against the SES emulator. Alerts go out with
/// `SendEmail` from the sender identity; customer mail with `SendRawEmail` from the
/// sender identity, through the configuration set. SES keeps no log the sender could
/// ask, so [`MessageSender::accepted`] calls nothing. The job reads the account's
/// sending quota ([`pace::SesAccount`]).
pub const SES_METHODS: &[MethodGrants] = &[
    MethodGrants::new(
        Port::AlertSender,
        "send_recovery_alert",
        &[Grant::on(Action::SendEmail, Resource::SenderIdentity)],
    ),
    MethodGrants::new(
        Port::AlertSender,
        "send_notice",
        &[Grant::on(Action::SendEmail, Resource::SenderIdentity)],
    ),
    MethodGrants::new(
        Port::MessageSender,
        "send",
        &[
            Grant::on(Action::SendRawEmail, Resource::SenderIdentity),
            Grant::on(Action::SendRawEmail, Resource::ConfigurationSet),
        ],
    ),
    MethodGrants::new(Port::MessageSender, "accepted", &[]),
    // The job paces its mail to the account's quota.
    MethodGrants::new(
        Port::SendQuota,
        "send_quota",
        &[Grant::on(Action::GetAccount, Resource::Account)],
    ),
];

#[derive(Debug, Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

/// What support needs to follow up a low rating.
#[derive(Debug, Clone)]
pub struct RecoveryAlert {
    pub customer_id: CustomerId,
    pub customer_email: Option<Email>,
    pub sku: Sku,
    pub order_id: OrderId,
    pub rating: u8,
    pub title: Option<String>,
    pub body: Option<String>,
    pub opened_at: DateTime<Utc>,
}

impl RecoveryAlert {
    pub fn subject(&self) -> String {
        format!(
            "Service recovery: {}-star review of {} by {}",
            self.rating, self.sku, self.customer_id
        )
    }

    pub fn text(&self) -> String {
        let email = self
            .customer_email
            .as_ref()
            .map_or("(no email on file)", Email::as_str);
        format!(
            "A customer left a {rating}-star review. Please reach out personally.\n\n\
             Customer: {customer} <{email}>\nProduct:  {sku}\nOrder:    {order}\nOpened:   {opened}\n\n\
             Title: {title}\n\n{body}\n\n\
             Promotional messages to this customer are paused until the flag is cleared\n\
             (POST /v1/customers/{customer}/recovery) or expires.\n",
            rating = self.rating,
            customer = self.customer_id,
            sku = self.sku,
            order = self.order_id,
            opened = self.opened_at.to_rfc3339(),
            title = self.title.as_deref().unwrap_or("(none)"),
            body = self.body.as_deref().unwrap_or("(no text)"),
        )
    }
}

/// Something the merchant must act on that Rapport cannot do alone (a customer's data
/// request forwarded by a platform), mailed to the support address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantNotice {
    pub subject: String,
    pub text: String,
}

#[async_trait]
pub trait AlertSender: Send + Sync {
    async fn send_recovery_alert(&self, alert: &RecoveryAlert) -> Result<(), MailError>;

    async fn send_notice(&self, notice: &MerchantNotice) -> Result<(), MailError>;
}

/// Used where no support address is configured: the alert is logged, not mailed.
pub struct LogAlerts;

#[async_trait]
impl AlertSender for LogAlerts {
    async fn send_recovery_alert(&self, alert: &RecoveryAlert) -> Result<(), MailError> {
        tracing::warn!(customer = %alert.customer_id, sku = %alert.sku, rating = alert.rating,
            "service-recovery flag raised; RAPPORT_SUPPORT_EMAIL is not set, so no alert was mailed");
        Ok(())
    }

    async fn send_notice(&self, notice: &MerchantNotice) -> Result<(), MailError> {
        tracing::warn!(subject = %notice.subject, text = %notice.text,
            "a notice for the merchant; RAPPORT_SUPPORT_EMAIL is not set, so it was not mailed");
        Ok(())
    }
}

/// Sends alerts with SES `SendEmail`.
pub struct SesAlerts {
    client: aws_sdk_ses::Client,
    from: String,
    to: String,
}

impl SesAlerts {
    pub fn new(
        client: aws_sdk_ses::Client,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            to: to.into(),
        }
    }
}

fn content(text: String) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError(e.to_string()))
}

#[async_trait]
impl AlertSender for SesAlerts {
    async fn send_recovery_alert(&self, alert: &RecoveryAlert) -> Result<(), MailError> {
        self.send(alert.subject(), alert.text()).await
    }

    async fn send_notice(&self, notice: &MerchantNotice) -> Result<(), MailError> {
        self.send(notice.subject.clone(), notice.text.clone()).await
    }
}

impl SesAlerts {
    /// A plain-text mail from the sender to the support address.
    async fn send(&self, subject: String, text: String) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(text)?).build())
            .build();
        self.client
            .send_email()
            .source(&self.from)
            .destination(Destination::builder().to_addresses(&self.to).build())
            .message(message)
            .send()
            .await
            .map_err(|e| MailError(format!("{e:?}")))?;
        Ok(())
    }
}

/// A customer message ready to send.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub from: String,
    /// The one recipient: the `To` header and the only destination SES is given.
    pub to: Email,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The RFC 8058 one-click unsubscribe URL.
    pub unsubscribe_url: String,
    /// A stable id for the message (customer, kind, period), so the mail's own
    /// Message-ID is the same however often it is built.
    pub message_key: String,
}

impl OutgoingMail {
    /// The complete MIME message.
    pub fn to_mime(&self) -> Result<Vec<u8>, MailError> {
        use mail_builder::MessageBuilder;
        use mail_builder::headers::raw::Raw;
        use mail_builder::headers::url::URL;
        // "Shop <hello@shop.example>" or a bare address.
        let (name, address) = match self.from.rsplit_once('<') {
            Some((name, rest)) => (Some(name.trim()), rest.trim_end_matches('>').trim()),
            None => (None, self.from.trim()),
        };
        let domain = address
            .rsplit_once('@')
            .map_or("rapport.invalid", |(_, d)| d);
        let digest = hex::encode(&sha2::Sha256::digest(self.message_key.as_bytes())[..16]);
        let builder = match name.filter(|n| !n.is_empty()) {
            Some(name) => MessageBuilder::new().from((name, address)),
            None => MessageBuilder::new().from(address),
        };
        builder
            .to(self.to.as_str())
            .subject(self.subject.as_str())
            .message_id(format!("{digest}@{domain}"))
            .header("List-Unsubscribe", URL::new(self.unsubscribe_url.as_str()))
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            )
            .text_body(self.text.as_str())
            .html_body(self.html.as_str())
            .write_to_vec()
            .map_err(|e| MailError(e.to_string()))
    }
}

/// Why a customer message was not sent.
#[derive(Debug, Error)]
pub enum SendError {
    /// Over the send rate: back off and try again within this run.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The account may send nothing more for now: its daily quota is used up, or
    /// sending is paused. Retrying within the run only spends requests, so the run stops
    /// sending and a later run sends what is left.
    #[error("sending stopped: {0}")]
    QuotaExceeded(String),
    /// Refused for good (bad address, unverified sender…): a later run may retry.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The provider could not be reached or did not answer: a later run retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl SendError {
    /// What an error SES answered with means, by its code and message (the names of the
    /// v1 and the v2 API alike), which it keeps as its detail.
    ///
    /// SES v1 reports a used-up daily quota with the throttling code, `Throttling`, and
    /// only its message ("Daily message quota exceeded") tells it from a moment over the
    /// send rate ("Maximum sending rate exceeded"); v2 names it `LimitExceededException`.
    pub fn from_ses(code: Option<&str>, message: Option<&str>) -> Self {
        let (code, message) = (code.unwrap_or("unknown"), message.unwrap_or_default());
        let detail = format!("{code}: {message}");
        let lower = message.to_ascii_lowercase();
        match code {
            "Throttling" | "ThrottlingException" if lower.contains("daily message quota") => {
                Self::QuotaExceeded(detail)
            }
            "Throttling" | "ThrottlingException" | "TooManyRequestsException" => {
                Self::Throttled(detail)
            }
            "LimitExceededException"
            | "SendingPausedException"
            | "AccountSendingPausedException"
            | "ConfigurationSetSendingPausedException" => Self::QuotaExceeded(detail),
            _ => Self::Rejected(detail),
        }
    }
}

/// Whether the provider accepted a message, as far as its delivery log tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    Accepted(String),
    NotAccepted,
    /// The sender keeps no log it can ask.
    Unknown,
}

#[async_trait]
pub trait MessageSender: Send + Sync {
    /// Sends the message; returns the provider's message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError>;

    /// Whether `mail` was accepted at or after `since`: asked about a claim whose run
    /// died between claiming and recording the outcome.
    async fn accepted(
        &self,
        _mail: &OutgoingMail,
        _since: DateTime<Utc>,
    ) -> Result<Acceptance, SendError> {
        Ok(Acceptance::Unknown)
    }
}

/// A shared sender sends as the sender it shares.
#[async_trait]
impl<M: MessageSender + ?Sized> MessageSender for std::sync::Arc<M> {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        (**self).send(mail).await
    }

    async fn accepted(
        &self,
        mail: &OutgoingMail,
        since: DateTime<Utc>,
    ) -> Result<Acceptance, SendError> {
        (**self).accepted(mail, since).await
    }
}

/// Sends customer messages with SES `SendRawEmail`.
pub struct SesSender {
    client: aws_sdk_ses::Client,
    configuration_set: Option<String>,
}

impl SesSender {
    pub fn new(client: aws_sdk_ses::Client) -> Self {
        Self {
            client,
            configuration_set: None,
        }
    }

    /// Sends through this SES configuration set, whose event destination reports
    /// bounces and complaints to the feedback function.
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name.filter(|n| !n.is_empty());
        self
    }
}

#[async_trait]
impl MessageSender for SesSender {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        use aws_sdk_ses::error::{ProvideErrorMetadata, SdkError};
        let raw = mail
            .to_mime()
            .map_err(|e| SendError::Rejected(e.to_string()))?;
        let message = aws_sdk_ses::types::RawMessage::builder()
            .data(aws_sdk_ses::primitives::Blob::new(raw))
            .build()
            .map_err(|e| SendError::Rejected(e.to_string()))?;
        // The recipient is named explicitly: SES then delivers to this one address,
        // whatever the message's headers say.
        match self
            .client
            .send_raw_email()
            .destinations(mail.to.as_str())
            .raw_message(message)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
        {
            Ok(out) => Ok(out.message_id().to_owned()),
            Err(e) => {
                tracing::debug!(error = ?e, "SES did not take the message");
                Err(match &e {
                    SdkError::ServiceError(s) => {
                        SendError::from_ses(s.err().code(), s.err().message())
                    }
                    SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                        SendError::Throttled(format!("{e}"))
                    }
                    _ => SendError::Rejected(format!("{e}")),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_mail_carries_one_click_unsubscribe_and_both_alternatives() {
        let mail = OutgoingMail {
            from: "Chai & Co <hello@chai.example>".into(),
            to: Email::parse("to", "asha@example.com").unwrap(),
            subject: "जन्मदिन मुबारक!".into(),
            html: "<p>नमस्ते</p>".into(),
            text: "नमस्ते".into(),
            unsubscribe_url: "https://api.chai.example/v1/unsubscribe?token=asha.ab12".into(),
            message_key: "asha|birthday|2026".into(),
        };
        let raw = mail.to_mime().unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("जन्मदिन मुबारक!"));
        let header = |name: &str| parsed.header_raw(name).map(str::trim).map(str::to_owned);
        assert_eq!(
            header("List-Unsubscribe").as_deref(),
            Some("<https://api.chai.example/v1/unsubscribe?token=asha.ab12>")
        );
        assert_eq!(
            header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(parsed.body_text(0).as_deref().map(str::trim), Some("नमस्ते"));
        assert!(parsed.body_html(0).unwrap().contains("<p>नमस्ते</p>"));
        // Built twice, the same Message-ID.
        let again = mail_parser::MessageParser::default()
            .parse(&mail.to_mime().unwrap())
            .unwrap()
            .message_id()
            .map(str::to_owned);
        assert_eq!(parsed.message_id().map(str::to_owned), again);
        assert!(parsed.message_id().unwrap().ends_with("@chai.example"));
        let from = parsed.from().and_then(|f| f.first()).unwrap();
        assert_eq!(
            (from.name(), from.address()),
            (Some("Chai & Co"), Some("hello@chai.example"))
        );
    }

    #[test]
    fn a_used_up_daily_quota_is_not_throttling() {
        let kind = |code: &str, message: &str| match SendError::from_ses(Some(code), Some(message))
        {
            SendError::Throttled(_) => "throttled",
            SendError::QuotaExceeded(_) => "stopped",
            SendError::Rejected(_) => "rejected",
            SendError::Unavailable(_) => "unavailable",
        };
        assert_eq!(
            kind("Throttling", "Daily message quota exceeded."),
            "stopped"
        );
        assert_eq!(
            kind("Throttling", "Maximum sending rate exceeded."),
            "throttled"
        );
        assert_eq!(kind("ThrottlingException", "Rate exceeded"), "throttled");
        assert_eq!(kind("TooManyRequestsException", ""), "throttled");
        assert_eq!(kind("LimitExceededException", ""), "stopped");
        assert_eq!(kind("SendingPausedException", ""), "stopped");
        assert_eq!(kind("AccountSendingPausedException", ""), "stopped");
        assert_eq!(
            kind("MessageRejected", "Email address is not verified."),
            "rejected"
        );
        assert!(matches!(
            SendError::from_ses(None, None),
            SendError::Rejected(_)
        ));
        let SendError::QuotaExceeded(detail) =
            SendError::from_ses(Some("Throttling"), Some("Daily message quota exceeded."))
        else {
            panic!()
        };
        assert_eq!(detail, "Throttling: Daily message quota exceeded.");
    }
}
