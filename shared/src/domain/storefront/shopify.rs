//! Shopify's webhook payloads, read into Rapport's own events. Pure: the handler checks
//! the signature and the shop, reads state, and runs the usual commands on what this
//! module returns.
//!
//! The rules, chosen once for every topic:
//! - **Customers** are `shopify-<customer.id>`. A guest checkout (no customer) is
//!   `shopify-guest-<h>`, where `h` is the first 24 hex digits of the address's keyed
//!   hash under the tombstone key: the same address is always the same guest, and the
//!   id does not give the address away.
//! - **Orders** are `shopify-<order.id>`; an order is paid once (`orders/paid`, event
//!   `shopify-order-<order.id>`), refunded per refund (`shopify-refund-<refund.id>`) and
//!   cancelled once (`shopify-cancel-<order.id>`), so a redelivery or a concurrent
//!   duplicate of any of them is the same event and counts once.
//! - **Money** is read from the `shop_money` of each money set (the shop's currency,
//!   whatever the customer paid in), as decimal strings into minor units by the
//!   currency's exponent — never through a float.
//! - **What earns** is what the goods cost after discounts: each line's price times its
//!   quantity less the discounts allocated to it (order-level codes included), without
//!   shipping, duties or tips. A refund takes back the refunded lines' subtotals on the
//!   same basis, or, for a refund of an amount without lines, its successful refund
//!   transactions in the shop's currency; a cancellation takes back whatever the order
//!   still holds. Each takes at most what is left, in whatever order they arrive.
//! - A line's SKU is its `sku`, or `variant-<variant_id>` when the SKU is empty; gift
//!   card lines earn nothing (the purchases they later pay for do).

use serde::Deserialize;

use super::{ContactUpdate, GoodsLine, guest_id, line_items, read, refund_event};
use crate::domain::fields::parse_time;
use crate::domain::{
    Currency, CustomerId, Email, FieldError, FirstName, Locale, Money, ProductName, PurchaseEvent,
    PurchaseInput, TombstoneKey,
};

/// The topics Rapport acts on; any other is acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    OrdersPaid,
    OrdersCancelled,
    RefundsCreate,
    CustomersCreate,
    CustomersUpdate,
    CustomersRedact,
    CustomersDataRequest,
    ShopRedact,
    Other(String),
}

impl Topic {
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "orders/paid" => Self::OrdersPaid,
            "orders/cancelled" => Self::OrdersCancelled,
            "refunds/create" => Self::RefundsCreate,
            "customers/create" => Self::CustomersCreate,
            "customers/update" => Self::CustomersUpdate,
            "customers/redact" => Self::CustomersRedact,
            "customers/data_request" => Self::CustomersDataRequest,
            "shop/redact" => Self::ShopRedact,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The event id an order's payment is recorded under: a refund finds its order's
/// customer through it.
pub fn order_event_id(order_id: u64) -> String {
    format!("shopify-order-{order_id}")
}

#[derive(Debug, Clone, Deserialize)]
struct MoneySet {
    shop_money: Amount,
}

#[derive(Debug, Clone, Deserialize)]
struct Amount {
    amount: String,
    currency_code: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Order {
    id: u64,
    email: Option<String>,
    created_at: Option<String>,
    processed_at: Option<String>,
    cancelled_at: Option<String>,
    customer_locale: Option<String>,
    customer: Option<Customer>,
    #[serde(default)]
    line_items: Vec<Line>,
    #[serde(default)]
    discount_codes: Vec<DiscountCode>,
}

#[derive(Debug, Clone, Deserialize)]
struct DiscountCode {
    code: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Line {
    sku: Option<String>,
    variant_id: Option<u64>,
    title: Option<String>,
    /// A gift card sold is money kept for later, not a purchase: it earns nothing
    /// (what it buys later does).
    #[serde(default)]
    gift_card: bool,
    quantity: i64,
    price_set: MoneySet,
    #[serde(default)]
    discount_allocations: Vec<Allocation>,
}

#[derive(Debug, Clone, Deserialize)]
struct Allocation {
    amount_set: MoneySet,
}

#[derive(Debug, Clone, Deserialize)]
struct Customer {
    id: Option<u64>,
    email: Option<String>,
    first_name: Option<String>,
    locale: Option<String>,
    email_marketing_consent: Option<MarketingConsent>,
}

#[derive(Debug, Clone, Deserialize)]
struct MarketingConsent {
    state: Option<String>,
    consent_updated_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Refund {
    id: u64,
    order_id: u64,
    created_at: Option<String>,
    processed_at: Option<String>,
    #[serde(default)]
    refund_line_items: Vec<RefundLine>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(Debug, Clone, Deserialize)]
struct RefundLine {
    subtotal_set: MoneySet,
}

#[derive(Debug, Clone, Deserialize)]
struct Transaction {
    kind: Option<String>,
    status: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Redact {
    customer: Option<Customer>,
}

#[derive(Debug, Clone, Deserialize)]
struct DataRequestPayload {
    customer: Option<Customer>,
    #[serde(default)]
    orders_requested: Vec<u64>,
    data_request: Option<RequestId>,
}

#[derive(Debug, Clone, Deserialize)]
struct RequestId {
    id: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct ShopRedactPayload {
    shop_domain: Option<String>,
    shop_id: Option<u64>,
}

/// `customers/data_request`: whose data, and what Shopify named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    pub customer: CustomerId,
    pub email: Option<String>,
    pub orders: Vec<u64>,
    pub request_id: Option<u64>,
}

/// `customers/data_request`, for the merchant to answer.
pub fn data_request(body: &[u8], guests: &TombstoneKey) -> Result<DataRequest, FieldError> {
    let request: DataRequestPayload = read(body)?;
    Ok(DataRequest {
        customer: customer_id(request.customer.as_ref(), None, guests)?,
        email: request.customer.and_then(|c| c.email),
        orders: request.orders_requested,
        request_id: request.data_request.map(|r| r.id),
    })
}

/// `shop/redact`: the shop (domain, id) whose data is to be erased.
pub fn shop_redact(body: &[u8]) -> Result<(String, Option<u64>), FieldError> {
    let request: ShopRedactPayload = read(body)?;
    let domain = request
        .shop_domain
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| FieldError::new("shop_domain", "is required"))?;
    Ok((domain, request.shop_id))
}

fn money(field: &str, set: &MoneySet, shop: Currency) -> Result<i64, FieldError> {
    let amount = &set.shop_money;
    if amount.currency_code != shop.code() {
        return Err(FieldError::new(
            format!("{field}.shop_money.currency_code"),
            format!(
                "is {}, but this shop accounts in {shop}",
                amount.currency_code
            ),
        ));
    }
    Ok(Money::parse_decimal(&format!("{field}.shop_money.amount"), &amount.amount, shop)?.minor)
}

fn time(
    field: &str,
    first: &Option<String>,
    second: &Option<String>,
) -> Result<String, FieldError> {
    let raw = first
        .as_ref()
        .or(second.as_ref())
        .ok_or_else(|| FieldError::new(field, "is required"))?;
    // Validated here so that the error names Shopify's field.
    parse_time(field, raw)?;
    Ok(raw.clone())
}

/// The Rapport customer a Shopify customer, or a guest's address, is.
fn customer_id(
    customer: Option<&Customer>,
    email: Option<&str>,
    guests: &TombstoneKey,
) -> Result<CustomerId, FieldError> {
    if let Some(id) = customer.and_then(|c| c.id) {
        return CustomerId::parse("customer.id", &format!("shopify-{id}"));
    }
    guest_id(
        "shopify",
        customer.and_then(|c| c.email.as_deref()).or(email),
        guests,
    )
}

/// The lines at what their goods cost after discounts.
fn lines(lines: &[Line], shop: Currency) -> Result<Vec<GoodsLine>, FieldError> {
    let mut goods = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("line_items[{n}].{name}");
        let sku = match line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(sku) => sku.to_owned(),
            None => match line.variant_id {
                Some(variant) => format!("variant-{variant}"),
                None => {
                    return Err(FieldError::new(
                        field("sku"),
                        "and variant_id are both empty",
                    ));
                }
            },
        };
        if line.quantity <= 0 || line.gift_card {
            continue; // a line removed by an edit, or a gift card
        }
        let price = money(&field("price_set"), &line.price_set, shop)?;
        let mut discount: i64 = 0;
        for (d, allocation) in line.discount_allocations.iter().enumerate() {
            discount += money(
                &field(&format!("discount_allocations[{d}].amount_set")),
                &allocation.amount_set,
                shop,
            )?;
        }
        let net = price
            .checked_mul(line.quantity)
            .map(|gross| (gross - discount).max(0))
            .ok_or_else(|| FieldError::new(field("quantity"), "is out of range"))?;
        goods.push(GoodsLine {
            sku,
            quantity: line.quantity,
            net,
            name: ProductName::lenient(line.title.as_deref()),
        });
    }
    Ok(goods)
}

/// `orders/paid`: the purchase, with the contact details the order carries.
pub fn paid_order(
    body: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<PurchaseEvent, FieldError> {
    let order: Order = read(body)?;
    let customer = customer_id(order.customer.as_ref(), order.email.as_deref(), guests)?;
    let (items, total) = line_items(&lines(&order.line_items, shop)?);
    if items.is_empty() {
        return Err(FieldError::new("line_items", "has no line with a quantity"));
    }
    let locale = order
        .customer_locale
        .as_deref()
        .filter(|l| Locale::parse("customer_locale", l).is_ok())
        .map(str::to_owned);
    PurchaseInput {
        event_id: Some(order_event_id(order.id)),
        kind: Some("purchase".into()),
        customer_id: Some(customer.to_string()),
        order_id: Some(format!("shopify-{}", order.id)),
        occurred_at: Some(time(
            "processed_at",
            &order.processed_at,
            &order.created_at,
        )?),
        currency: Some(shop.code().into()),
        total_minor: Some(total),
        items: Some(items),
        email: order
            .customer
            .as_ref()
            .and_then(|c| c.email.clone())
            .or(order.email)
            .filter(|e| !e.trim().is_empty()),
        first_name: order
            .customer
            .as_ref()
            .and_then(|c| FirstName::lenient(c.first_name.as_deref()))
            .map(|n| n.as_str().to_owned()),
        locale,
        coupon_codes: Some(order.discount_codes.into_iter().map(|d| d.code).collect()),
        ..Default::default()
    }
    .validate()
}

/// `orders/cancelled`: a refund of whatever the order still holds.
pub fn cancelled_order(
    body: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<Option<PurchaseEvent>, FieldError> {
    let order: Order = read(body)?;
    let customer = customer_id(order.customer.as_ref(), order.email.as_deref(), guests)?;
    let (_, total) = line_items(&lines(&order.line_items, shop)?);
    refund_event(
        format!("shopify-cancel-{}", order.id),
        customer,
        format!("shopify-{}", order.id),
        time("cancelled_at", &order.cancelled_at, &order.processed_at)?,
        total,
        shop,
    )
}

/// The order a `refunds/create` payload refunds, to find its customer by.
pub fn refunded_order(body: &[u8]) -> Result<u64, FieldError> {
    Ok(read::<Refund>(body)?.order_id)
}

/// `refunds/create`, for the customer the order belongs to.
pub fn refund(
    body: &[u8],
    shop: Currency,
    customer: CustomerId,
) -> Result<Option<PurchaseEvent>, FieldError> {
    let refund: Refund = read(body)?;
    let mut amount: i64 = 0;
    for (n, line) in refund.refund_line_items.iter().enumerate() {
        amount += money(
            &format!("refund_line_items[{n}].subtotal_set"),
            &line.subtotal_set,
            shop,
        )?;
    }
    if refund.refund_line_items.is_empty() {
        for (n, t) in refund.transactions.iter().enumerate() {
            let counts = t.kind.as_deref() == Some("refund")
                && t.status.as_deref() == Some("success")
                && t.currency.as_deref() == Some(shop.code());
            if let (true, Some(raw)) = (counts, t.amount.as_deref()) {
                amount +=
                    Money::parse_decimal(&format!("transactions[{n}].amount"), raw, shop)?.minor;
            }
        }
    }
    refund_event(
        format!("shopify-refund-{}", refund.id),
        customer,
        format!("shopify-{}", refund.order_id),
        time("processed_at", &refund.processed_at, &refund.created_at)?,
        amount,
        shop,
    )
}

pub fn contact(body: &[u8]) -> Result<ContactUpdate, FieldError> {
    let customer: Customer = read(body)?;
    let id = customer
        .id
        .ok_or_else(|| FieldError::new("id", "is required"))?;
    let email = customer
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", e))
        .transpose()?;
    let locale = customer
        .locale
        .as_deref()
        .and_then(|l| Locale::parse("locale", l).ok());
    let marketing = match &customer.email_marketing_consent {
        Some(consent) => {
            let subscribed = match consent.state.as_deref() {
                Some("subscribed") => Some(true),
                Some("not_subscribed" | "unsubscribed" | "redacted" | "invalid") => Some(false),
                _ => None,
            };
            match (subscribed, consent.consent_updated_at.as_deref()) {
                (Some(s), Some(at)) => Some((
                    s,
                    parse_time("email_marketing_consent.consent_updated_at", at)?,
                )),
                _ => None,
            }
        }
        None => None,
    };
    Ok(ContactUpdate {
        source: "shopify",
        customer: CustomerId::parse("id", &format!("shopify-{id}"))?,
        email,
        first_name: FirstName::lenient(customer.first_name.as_deref()),
        locale,
        marketing,
    })
}

/// `customers/redact`: the customer to erase.
pub fn redacted_customer(body: &[u8], guests: &TombstoneKey) -> Result<CustomerId, FieldError> {
    let redact: Redact = read(body)?;
    customer_id(redact.customer.as_ref(), None, guests)
}

#[cfg(test)]
mod tests;
