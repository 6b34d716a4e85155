//! WooCommerce's webhook payloads (the REST API's order and customer resources), read
//! into Rapport's own events.
//!
//! - **Customers** are `woo-<customer_id>`; a guest (`customer_id` 0) is
//!   `woo-guest-<h>` by billing address, as for Shopify.
//! - **Orders** are `woo-<id>`. WooCommerce sends the whole order on every change
//!   (`order.created`, `order.updated`), so one delivery may carry several events,
//!   each recorded once: the payment (`woo-order-<id>`) when the status is
//!   `processing`, `completed` or `refunded` (an order is refunded only after it was
//!   paid); each entry of `refunds[]` (`woo-refund-<refund id>`), by its amount; and
//!   for `cancelled`, whatever the order still holds (`woo-cancel-<id>`).
//! - **What earns** is each line's `total` — after discounts, before tax and shipping.
//!   A refund entry names only its total (tax and shipping included), so it takes back
//!   at most what is left of the goods.
//! - Times are the `*_gmt` fields (WooCommerce writes them without an offset).
//! - A line's SKU is its `sku`, or `variation-<id>` / `product-<id>` when it is empty.

use serde::Deserialize;

use super::{ContactUpdate, GoodsLine, guest_id, line_items, read, refund_event};
use crate::domain::{
    Currency, CustomerId, Email, FieldError, FirstName, Money, ProductName, PurchaseEvent,
    PurchaseInput, TombstoneKey,
};

/// The topics Rapport acts on (`X-WC-Webhook-Topic`); any other is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `order.created` and `order.updated`: the order as it stands.
    Order,
    /// `customer.created` and `customer.updated`.
    Customer,
    Other(String),
}

impl Topic {
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "order.created" | "order.updated" | "order.restored" => Self::Order,
            "customer.created" | "customer.updated" => Self::Customer,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Whether a body is the ping WooCommerce sends when a webhook is saved
/// (`webhook_id=<id>`, form-encoded and unsigned): answered 200, changing nothing.
pub fn is_ping(body: &[u8]) -> bool {
    body.strip_prefix(b"webhook_id=")
        .is_some_and(|id| !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit))
}

#[derive(Debug, Clone, Deserialize)]
struct Order {
    id: u64,
    status: String,
    currency: String,
    #[serde(default)]
    customer_id: u64,
    date_created_gmt: Option<String>,
    date_paid_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    billing: Option<Billing>,
    #[serde(default)]
    line_items: Vec<Line>,
    #[serde(default)]
    refunds: Vec<RefundEntry>,
    #[serde(default)]
    coupon_lines: Vec<CouponLine>,
}

#[derive(Debug, Clone, Deserialize)]
struct CouponLine {
    code: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Billing {
    email: Option<String>,
    first_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Line {
    sku: Option<String>,
    name: Option<String>,
    product_id: Option<u64>,
    variation_id: Option<u64>,
    quantity: i64,
    total: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RefundEntry {
    id: u64,
    total: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Customer {
    id: u64,
    email: Option<String>,
    first_name: Option<String>,
    billing: Option<Billing>,
}

/// What one delivery of an order records, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderEvents {
    pub purchase: Option<PurchaseEvent>,
    pub refunds: Vec<PurchaseEvent>,
    pub cancellation: Option<PurchaseEvent>,
}

/// A `*_gmt` time (no offset, UTC by name) as RFC 3339.
fn gmt(field: &str, raw: &Option<String>) -> Option<Result<String, FieldError>> {
    let raw = raw.as_deref().filter(|r| !r.trim().is_empty())?;
    Some(
        chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S")
            .map(|t| t.and_utc().to_rfc3339())
            .map_err(|_| FieldError::new(field, "must be a time such as 2026-11-28T15:12:40")),
    )
}

fn first_time(candidates: &[(&str, &Option<String>)]) -> Result<String, FieldError> {
    for (field, raw) in candidates {
        if let Some(time) = gmt(field, raw) {
            return time;
        }
    }
    Err(FieldError::new(candidates[0].0, "is required"))
}

fn goods(order: &Order, shop: Currency) -> Result<Vec<GoodsLine>, FieldError> {
    order
        .line_items
        .iter()
        .enumerate()
        .filter(|(_, line)| line.quantity > 0)
        .map(|(n, line)| {
            let field = |name: &str| format!("line_items[{n}].{name}");
            let sku = match line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(sku) => sku.to_owned(),
                None => match (line.variation_id, line.product_id) {
                    (Some(v), _) if v > 0 => format!("variation-{v}"),
                    (_, Some(p)) if p > 0 => format!("product-{p}"),
                    _ => {
                        return Err(FieldError::new(
                            field("sku"),
                            "and product_id are both empty",
                        ));
                    }
                },
            };
            let net = Money::parse_decimal(&field("total"), &line.total, shop)?.minor;
            Ok(GoodsLine {
                sku,
                quantity: line.quantity,
                net,
                name: ProductName::lenient(line.name.as_deref()),
            })
        })
        .collect()
}

/// `order.created` / `order.updated`: the events the order's state calls for.
pub fn order_events(
    body: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<OrderEvents, FieldError> {
    let order: Order = read(body)?;
    if order.currency != shop.code() {
        return Err(FieldError::new(
            "currency",
            format!("is {}, but this shop accounts in {shop}", order.currency),
        ));
    }
    let email = order.billing.as_ref().and_then(|b| b.email.clone());
    let customer = match order.customer_id {
        0 => guest_id("woo", email.as_deref(), guests)?,
        id => CustomerId::parse("customer_id", &format!("woo-{id}"))?,
    };
    let order_id = format!("woo-{}", order.id);
    let paid = matches!(
        order.status.as_str(),
        "processing" | "completed" | "refunded"
    );
    let mut events = OrderEvents::default();
    if paid {
        let (items, total) = line_items(&goods(&order, shop)?);
        if !items.is_empty() {
            events.purchase = Some(
                PurchaseInput {
                    event_id: Some(format!("woo-order-{}", order.id)),
                    kind: Some("purchase".into()),
                    customer_id: Some(customer.to_string()),
                    order_id: Some(order_id.clone()),
                    occurred_at: Some(first_time(&[
                        ("date_paid_gmt", &order.date_paid_gmt),
                        ("date_created_gmt", &order.date_created_gmt),
                    ])?),
                    currency: Some(shop.code().into()),
                    total_minor: Some(total),
                    items: Some(items),
                    email: email.filter(|e| !e.trim().is_empty()),
                    first_name: order
                        .billing
                        .as_ref()
                        .and_then(|b| FirstName::lenient(b.first_name.as_deref()))
                        .map(|n| n.as_str().to_owned()),
                    coupon_codes: Some(order.coupon_lines.iter().map(|c| c.code.clone()).collect()),
                    ..Default::default()
                }
                .validate()?,
            );
        }
    }
    let changed_at = first_time(&[
        ("date_modified_gmt", &order.date_modified_gmt),
        ("date_created_gmt", &order.date_created_gmt),
    ])?;
    for (n, refund) in order.refunds.iter().enumerate() {
        let field = format!("refunds[{n}].total");
        let amount = Money::parse_decimal(&field, refund.total.trim_start_matches('-'), shop)?;
        events.refunds.extend(refund_event(
            format!("woo-refund-{}", refund.id),
            customer.clone(),
            order_id.clone(),
            changed_at.clone(),
            amount.minor,
            shop,
        )?);
    }
    if order.status == "cancelled" {
        let (_, total) = line_items(&goods(&order, shop)?);
        events.cancellation = refund_event(
            format!("woo-cancel-{}", order.id),
            customer,
            order_id,
            changed_at,
            total,
            shop,
        )?;
    }
    Ok(events)
}

/// `customer.created` / `customer.updated`: the address (WooCommerce keeps no
/// marketing consent of its own).
pub fn contact(body: &[u8]) -> Result<ContactUpdate, FieldError> {
    let customer: Customer = read(body)?;
    let first_name = customer
        .first_name
        .as_deref()
        .or(customer
            .billing
            .as_ref()
            .and_then(|b| b.first_name.as_deref()))
        .and_then(|n| FirstName::lenient(Some(n)));
    let email = customer
        .email
        .or_else(|| customer.billing.and_then(|b| b.email))
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", &e))
        .transpose()?;
    Ok(ContactUpdate {
        source: "woocommerce",
        customer: CustomerId::parse("id", &format!("woo-{}", customer.id))?,
        email,
        first_name,
        locale: None,
        marketing: None,
    })
}

#[cfg(test)]
mod tests;
