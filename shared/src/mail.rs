//! Outgoing mail that the request path sends: today the service-recovery alert to the
//! shop's support address. Sending goes through a trait so handlers do not depend on
//! SES, and tests can read the real thing back from the SES emulator.

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::{CustomerId, Email, OrderId, Sku};

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

#[async_trait]
pub trait AlertSender: Send + Sync {
    async fn send_recovery_alert(&self, alert: &RecoveryAlert) -> Result<(), MailError>;
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
        let message = Message::builder()
            .subject(content(alert.subject())?)
            .body(Body::builder().text(content(alert.text())?).build())
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
