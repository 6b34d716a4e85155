//! `POST /v1/webhooks/shopify` and `POST /v1/webhooks/woocommerce`: a shop's own
//! webhooks, taken as they come — no glue code on the shop's side. Shopify signs the raw
//! body (base64 HMAC-SHA256 in `X-Shopify-Hmac-Sha256`) and names the shop
//! (`X-Shopify-Shop-Domain`) and the topic (`X-Shopify-Topic`); WooCommerce signs the
//! same way in `X-WC-Webhook-Signature` and names the topic in `X-WC-Webhook-Topic`.
//! What the payloads mean is read in `domain::storefront`.
//!
//! Shopify retries a delivery that is not answered 2xx, for up to 48 hours, and
//! signs no timestamp: a redelivery, a replay and a concurrent duplicate are absorbed
//! by processing each order, refund, cancellation and delivery once, and a delivery
//! that was applied before answers 200 whatever it carries. A refund or cancellation
//! of an order Rapport never recorded answers 200 (`unknown-order`) and changes
//! nothing: Shopify drops a shop's webhook subscriptions after a run of failed
//! deliveries, and one old order must not cost the shop its integration.
//! WooCommerce sends the whole order every time and disables a webhook after five
//! failed deliveries, so a refund or cancellation of an order Rapport never saw paid is
//! answered 200 with nothing to reverse.

use chrono::Utc;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{Api, ApiError, MAX_BODY_BYTES, body_bytes, respond};
use crate::auth::keys::KeysUnavailable;
use crate::auth::webhook::WebhookSecrets;
use crate::domain::storefront::shopify::{self, Topic};
use crate::domain::storefront::woocommerce;
use crate::domain::{CouponOutcome, CustomerId, PurchaseEvent, PurchaseReceipt};
use crate::mail::MerchantNotice;
use crate::service::{self, ServiceError};
use crate::store::{CouponUseStore, PrivacyStore, ProgramReadStore, PurchaseStore, RewardStore};

/// What a webhook delivery did.
#[derive(Debug, Serialize)]
pub struct WebhookReceipt {
    pub topic: String,
    /// `applied`, `duplicate` (applied by an earlier delivery), `unchanged`,
    /// `nothing-to-refund`, `nothing-to-do` (an unpaid order), `unknown-order` (a refund
    /// or cancellation of an order never recorded), `erased`,
    /// `unknown-customer`, `for-the-merchant` (a compliance request logged for the
    /// merchant to answer), `ping` (WooCommerce checking the address) or `ignored` (a
    /// topic Rapport does not act on).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_delta: Option<i64>,
    /// What the order did with Rapport's coupon codes it carried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<CouponOutcome>,
}

impl WebhookReceipt {
    fn new(topic: &str, outcome: &'static str) -> Self {
        Self {
            topic: topic.to_owned(),
            outcome,
            customer_id: None,
            points_delta: None,
            coupons: Vec::new(),
        }
    }
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl<S: PurchaseStore + CouponUseStore + RewardStore + PrivacyStore + ProgramReadStore> Api<S> {
    /// `POST /v1/webhooks/shopify`
    pub async fn shopify(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.verify_shopify(&req).await?;
            let topic = header(&req, "X-Shopify-Topic").unwrap_or_default();
            let receipt = self.shopify_topic(&req, topic, body).await?;
            tracing::info!(topic, outcome = receipt.outcome, customer = ?receipt.customer_id, "shopify webhook");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }

    /// The body, once the size, the signature and the shop are right.
    async fn verify_shopify<'r>(&self, req: &'r Request) -> Result<&'r [u8], ApiError> {
        let body = body_bytes(req);
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::TooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let Some(shop) = &self.config.shopify_shop_domain else {
            tracing::error!(
                "a Shopify webhook arrived, but RAPPORT_SHOPIFY_SHOP_DOMAIN is not set"
            );
            return Err(ApiError::WebhookRejected(
                "this deployment takes no Shopify webhooks",
            ));
        };
        let secrets = self
            .webhook_secrets_for(
                WebhookSecrets::takes_shopify,
                "this deployment takes no Shopify webhooks",
            )
            .await?;
        let signature = header(req, "X-Shopify-Hmac-Sha256").ok_or(ApiError::WebhookRejected(
            "the X-Shopify-Hmac-Sha256 header is missing",
        ))?;
        if !secrets.shopify_signed(body, signature) {
            return Err(ApiError::WebhookRejected(
                "X-Shopify-Hmac-Sha256 does not match the body",
            ));
        }
        // Checked after the signature, so that the answer tells an unsigned caller
        // nothing about which shop this is.
        let named = header(req, "X-Shopify-Shop-Domain").unwrap_or_default();
        if !named.trim().eq_ignore_ascii_case(shop) {
            tracing::warn!(shop = named, "a webhook signed for another shop");
            return Err(ApiError::WebhookRejected(
                "X-Shopify-Shop-Domain is not this deployment's shop",
            ));
        }
        Ok(body)
    }

    async fn shopify_topic(
        &self,
        req: &Request,
        topic: &str,
        body: &[u8],
    ) -> Result<WebhookReceipt, ApiError> {
        let shop = self.config.rules.currency;
        let now = Utc::now();
        match Topic::parse(topic) {
            Topic::OrdersPaid => {
                let guests = self.tombstones().await?;
                let event = shopify::paid_order(body, shop, &guests)?;
                self.record_storefront_purchase(topic, &event).await
            }
            Topic::OrdersCancelled => {
                let guests = self.tombstones().await?;
                let Some(event) = shopify::cancelled_order(body, shop, &guests)? else {
                    return Ok(WebhookReceipt::new(topic, "nothing-to-refund"));
                };
                match self.record_storefront_purchase(topic, &event).await {
                    // An order cancelled before it was paid: nothing was recorded.
                    Err(ApiError::UnknownOrder(_)) => Ok(unknown_order(topic, event.order_id)),
                    done => done,
                }
            }
            Topic::RefundsCreate => {
                let order = shopify::refunded_order(body)?;
                let customer = match self.shopify_order_customer(order).await {
                    Ok(customer) => customer,
                    Err(ApiError::UnknownOrder(id)) => return Ok(unknown_order(topic, id)),
                    Err(e) => return Err(e),
                };
                match shopify::refund(body, shop, customer)? {
                    Some(event) => self.record_storefront_purchase(topic, &event).await,
                    None => Ok(WebhookReceipt::new(topic, "nothing-to-refund")),
                }
            }
            Topic::CustomersCreate | Topic::CustomersUpdate => {
                let update = shopify::contact(body)?;
                self.contact_update(
                    topic,
                    &update,
                    &delivery_key(
                        req,
                        &["X-Shopify-Event-Id", "X-Shopify-Webhook-Id"],
                        "shopify",
                    )?,
                )
                .await
            }
            Topic::CustomersRedact => {
                let guests = self.tombstones().await?;
                let customer = shopify::redacted_customer(body, &guests)?;
                let outcome = match service::erase_customer(&self.store, &customer, &guests, now)
                    .await
                {
                    Ok(receipt) => {
                        tracing::info!(customer = %customer, receipt = %receipt.receipt_id, "customer erased at Shopify's request");
                        "erased"
                    }
                    // Nothing stored about them: nothing to erase, and nothing to retry.
                    Err(ServiceError::UnknownCustomer) => "unknown-customer",
                    Err(e) => return Err(e.into()),
                };
                Ok(WebhookReceipt {
                    customer_id: Some(customer),
                    ..WebhookReceipt::new(topic, outcome)
                })
            }
            Topic::CustomersDataRequest => {
                let guests = self.tombstones().await?;
                let request = shopify::data_request(body, &guests)?;
                self.notify(data_request_notice(&request)).await?;
                Ok(WebhookReceipt {
                    customer_id: Some(request.customer),
                    ..WebhookReceipt::new(topic, "for-the-merchant")
                })
            }
            Topic::ShopRedact => {
                let (domain, id) = shopify::shop_redact(body)?;
                self.notify(shop_redact_notice(&domain, id)).await?;
                Ok(WebhookReceipt::new(topic, "for-the-merchant"))
            }
            Topic::Other(_) => {
                tracing::info!(topic, "a Shopify topic Rapport does not act on");
                Ok(WebhookReceipt::new(topic, "ignored"))
            }
        }
    }
}

impl<S: PurchaseStore + CouponUseStore + RewardStore + ProgramReadStore> Api<S> {
    /// `POST /v1/webhooks/woocommerce`
    pub async fn woocommerce(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = body_bytes(&req);
            if body.len() > MAX_BODY_BYTES {
                return Err(ApiError::TooLarge {
                    limit: MAX_BODY_BYTES,
                });
            }
            // Saving a webhook in WooCommerce posts an unsigned `webhook_id=<id>` to
            // check the address: answered, nothing changes.
            if header(&req, "X-WC-Webhook-Signature").is_none() && woocommerce::is_ping(body) {
                return Ok(WebhookReceipt::new("ping", "ping"));
            }
            let secrets = self
                .webhook_secrets_for(
                    WebhookSecrets::takes_woocommerce,
                    "this deployment takes no WooCommerce webhooks",
                )
                .await?;
            let signature = header(&req, "X-WC-Webhook-Signature")
                .ok_or(ApiError::WebhookRejected("the X-WC-Webhook-Signature header is missing"))?;
            if !secrets.woocommerce_signed(body, signature) {
                return Err(ApiError::WebhookRejected(
                    "X-WC-Webhook-Signature does not match the body",
                ));
            }
            let topic = header(&req, "X-WC-Webhook-Topic").unwrap_or_default();
            let receipt = self.woocommerce_topic(&req, topic, body).await?;
            tracing::info!(topic, outcome = receipt.outcome, customer = ?receipt.customer_id, "woocommerce webhook");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }

    async fn woocommerce_topic(
        &self,
        req: &Request,
        topic: &str,
        body: &[u8],
    ) -> Result<WebhookReceipt, ApiError> {
        match woocommerce::Topic::parse(topic) {
            woocommerce::Topic::Order => {
                let guests = self.tombstones().await?;
                let events = woocommerce::order_events(body, self.config.rules.currency, &guests)?;
                let mut receipt = WebhookReceipt::new(topic, "nothing-to-do");
                let (mut applied, mut seen) = (0, 0);
                let all = events
                    .purchase
                    .iter()
                    .chain(&events.refunds)
                    .chain(&events.cancellation);
                for event in all {
                    let done = match self.record_storefront_purchase(topic, event).await {
                        Ok(done) => done,
                        // A refund or cancellation of an order Rapport never saw paid.
                        Err(ApiError::UnknownOrder(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    seen += 1;
                    if done.outcome == "applied" {
                        applied += 1;
                        *receipt.points_delta.get_or_insert(0) += done.points_delta.unwrap_or(0);
                    }
                    receipt.customer_id = done.customer_id;
                    receipt.coupons.extend(done.coupons);
                }
                receipt.outcome = match (applied, seen) {
                    (0, 0) => "nothing-to-do",
                    (0, _) => "duplicate",
                    _ => "applied",
                };
                Ok(receipt)
            }
            woocommerce::Topic::Customer => {
                let update = woocommerce::contact(body)?;
                let delivery = delivery_key(req, &["X-WC-Webhook-Delivery-ID"], "woo")?;
                self.contact_update(topic, &update, &delivery).await
            }
            woocommerce::Topic::Other(_) => {
                tracing::info!(topic, "a WooCommerce topic Rapport does not act on");
                Ok(WebhookReceipt::new(topic, "ignored"))
            }
        }
    }

    async fn contact_update(
        &self,
        topic: &str,
        update: &crate::domain::storefront::ContactUpdate,
        delivery: &str,
    ) -> Result<WebhookReceipt, ApiError> {
        let rules = self.rules().await?;
        let receipt =
            service::update_contact(&self.store, &rules.loyalty, update, delivery, Utc::now())
                .await?;
        let outcome = match (receipt.duplicate, receipt.changed) {
            (true, _) => "duplicate",
            (false, true) => "applied",
            (false, false) => "unchanged",
        };
        Ok(WebhookReceipt {
            customer_id: Some(receipt.customer_id),
            ..WebhookReceipt::new(topic, outcome)
        })
    }

    async fn record_storefront_purchase(
        &self,
        topic: &str,
        event: &PurchaseEvent,
    ) -> Result<WebhookReceipt, ApiError> {
        let rules = self.rules().await?;
        let recorded = service::record_purchase(
            &self.store,
            &rules.loyalty,
            &rules.referrals,
            event,
            Utc::now(),
        )
        .await;
        let receipt: PurchaseReceipt = match recorded {
            Ok(receipt) => receipt,
            // Applied by an earlier delivery that carried other details (an edited
            // order, say): once is what counts, and Shopify must not retry.
            Err(ServiceError::KeyReused(_)) => {
                tracing::warn!(event_id = %event.event_id, "a redelivery that differs from the first; kept the first");
                return Ok(WebhookReceipt {
                    customer_id: Some(event.customer_id.clone()),
                    coupons: service::use_coupons(&self.store, event, Utc::now()).await?,
                    ..WebhookReceipt::new(topic, "duplicate")
                });
            }
            Err(e) => return Err(e.into()),
        };
        let outcome = if receipt.duplicate {
            "duplicate"
        } else {
            "applied"
        };
        // After the purchase, on every delivery: a redelivery finds the same use again.
        let coupons = service::use_coupons(&self.store, event, Utc::now()).await?;
        Ok(WebhookReceipt {
            customer_id: Some(receipt.customer_id),
            points_delta: Some(receipt.points_delta),
            coupons,
            ..WebhookReceipt::new(topic, outcome)
        })
    }

    /// Mails the merchant; a failed send is a 503, so the platform delivers again.
    async fn notify(&self, notice: MerchantNotice) -> Result<(), ApiError> {
        self.alerts.send_notice(&notice).await.map_err(|e| {
            tracing::error!(error = %e, subject = %notice.subject, "a notice for the merchant was not sent");
            ApiError::Unavailable
        })
    }

    /// The webhook secrets, when they include the platform's (`takes`).
    async fn webhook_secrets_for(
        &self,
        takes: fn(&WebhookSecrets) -> bool,
        refused: &'static str,
    ) -> Result<std::sync::Arc<WebhookSecrets>, ApiError> {
        match self.webhook_secrets.get().await {
            Ok(secrets) if takes(&secrets) => Ok(secrets),
            Ok(_) | Err(KeysUnavailable::NotConfigured(_)) => {
                tracing::error!(
                    refused,
                    "a webhook arrived for a platform with no secret configured"
                );
                Err(ApiError::WebhookRejected(refused))
            }
            Err(e) => {
                tracing::error!(error = %e, "webhook secrets unavailable");
                Err(ApiError::Unavailable)
            }
        }
    }

    /// The customer an order was paid by, from the answer its payment stored.
    async fn shopify_order_customer(&self, order: u64) -> Result<CustomerId, ApiError> {
        let unknown = || ApiError::UnknownOrder(format!("shopify-{order}"));
        let record = self
            .store
            .prior(&shopify::order_event_id(order))
            .await?
            .ok_or_else(unknown)?;
        let paid: PurchaseReceipt = serde_json::from_str(&record.response).map_err(|e| {
            tracing::error!(error = %e, order, "a stored order answer does not read back");
            ApiError::Internal
        })?;
        Ok(paid.customer_id)
    }
}

/// The notice of a customer's data request: what Rapport holds and how to get it.
fn data_request_notice(request: &shopify::DataRequest) -> MerchantNotice {
    let orders: Vec<String> = request.orders.iter().map(ToString::to_string).collect();
    MerchantNotice {
        subject: format!(
            "Data request from Shopify for customer {}",
            request.customer
        ),
        text: format!(
            "Shopify forwarded a customer's request for the data held about them{request}.\n\n\
             Customer: {customer} <{email}>\nOrders named: {orders}\n\n\
             Everything Rapport holds about them is the export\n\
             GET /v1/customers/{customer}/export (admin key; long histories come in pages,\n\
             follow next_cursor). Provide it to the customer within 30 days.\n",
            request = request
                .request_id
                .map(|id| format!(" (data request {id})"))
                .unwrap_or_default(),
            customer = request.customer,
            email = request.email.as_deref().unwrap_or("no address given"),
            orders = if orders.is_empty() {
                "none".to_owned()
            } else {
                orders.join(", ")
            },
        ),
    }
}

/// The notice of a shop's erasure request (48 hours after the app was uninstalled).
fn shop_redact_notice(domain: &str, id: Option<u64>) -> MerchantNotice {
    MerchantNotice {
        subject: format!("Shopify asks to erase the data of {domain}"),
        text: format!(
            "Shopify asks that the data of the shop {domain}{id} be erased: the app was\n\
             uninstalled 48 hours ago. Rapport keeps this shop's customers as shopify-<id>\n\
             and shopify-guest-<h>; erase each with DELETE /v1/customers/{{id}} (admin key),\n\
             or delete the deployment's table if it serves no other shop.\n",
            id = id.map(|id| format!(" (shop {id})")).unwrap_or_default(),
        ),
    }
}

/// A refund or cancellation of an order Rapport never recorded (placed before the shop
/// connected and not imported, or never paid): acknowledged, so that Shopify does not
/// retry it for two days and then drop the shop's webhooks, and logged.
fn unknown_order(topic: &str, order: impl std::fmt::Display) -> WebhookReceipt {
    tracing::warn!(topic, order = %order, "a refund or cancellation of an order never recorded");
    WebhookReceipt::new(topic, "unknown-order")
}

/// A delivery's id as an idempotency key: the first of `headers` the request carries
/// (Shopify's `X-Shopify-Event-Id` names the event when a topic has several
/// deliveries, `X-Shopify-Webhook-Id` the delivery; WooCommerce's
/// `X-WC-Webhook-Delivery-ID`), prefixed by the platform.
fn delivery_key(
    req: &Request,
    headers: &[&'static str],
    platform: &str,
) -> Result<String, ApiError> {
    let id = headers
        .iter()
        .find_map(|name| header(req, name))
        .map(str::trim)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 100
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .ok_or_else(|| {
            ApiError::Invalid(crate::domain::FieldError::new(
                headers.last().copied().unwrap_or("delivery id"),
                "is required: letters, digits and -",
            ))
        })?;
    Ok(format!("{platform}-delivery-{id}"))
}
