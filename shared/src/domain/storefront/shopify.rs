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
//! - A line's SKU is its `sku`, or `variant-<variant_id>` when the SKU is empty.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fields::parse_time;
use crate::domain::{
    Currency, CustomerId, Email, FieldError, LineItemInput, Locale, LoyaltyRules, Money, Profile,
    PurchaseEvent, PurchaseInput, TombstoneKey,
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
}

#[derive(Debug, Clone, Deserialize)]
struct Line {
    sku: Option<String>,
    variant_id: Option<u64>,
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

fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FieldError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        FieldError::new(field, e.into_inner().to_string())
    })
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
    let address = customer
        .and_then(|c| c.email.as_deref())
        .or(email)
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| FieldError::new("email", "is required for a guest checkout"))?;
    let address = Email::parse("email", address)?;
    let hash = guests.tombstone(&address);
    CustomerId::parse("email", &format!("shopify-guest-{}", &hash[..24]))
}

/// The lines as Rapport line items whose amounts add up exactly to what the goods cost
/// after discounts: a line whose net does not divide by its quantity is split in two
/// (the same SKU at two unit prices a minor unit apart).
fn items(lines: &[Line], shop: Currency) -> Result<(Vec<LineItemInput>, i64), FieldError> {
    let mut items = Vec::new();
    let mut total: i64 = 0;
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
        if line.quantity <= 0 {
            continue; // a line removed by an edit
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
        let (unit, rest) = (net / line.quantity, net % line.quantity);
        // `rest` units cost one minor unit more than the others.
        if rest > 0 {
            items.push(LineItemInput {
                sku: Some(sku.clone()),
                quantity: Some(rest),
                unit_price_minor: Some(unit + 1),
            });
        }
        if line.quantity > rest {
            items.push(LineItemInput {
                sku: Some(sku),
                quantity: Some(line.quantity - rest),
                unit_price_minor: Some(unit),
            });
        }
        total += net;
    }
    Ok((items, total))
}

/// `orders/paid`: the purchase, with the contact details the order carries.
pub fn paid_order(
    body: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<PurchaseEvent, FieldError> {
    let order: Order = read(body)?;
    let customer = customer_id(order.customer.as_ref(), order.email.as_deref(), guests)?;
    let (items, total) = items(&order.line_items, shop)?;
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
        locale,
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
    let (_, total) = items(&order.line_items, shop)?;
    refund_event(
        format!("shopify-cancel-{}", order.id),
        customer,
        order.id,
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
        refund.order_id,
        time("processed_at", &refund.processed_at, &refund.created_at)?,
        amount,
        shop,
    )
}

/// A refund of `amount`, at most what the order still holds; `None` when the goods are
/// refunded nothing (a refund of shipping alone changes no points).
fn refund_event(
    event_id: String,
    customer: CustomerId,
    order: u64,
    occurred_at: String,
    amount: i64,
    shop: Currency,
) -> Result<Option<PurchaseEvent>, FieldError> {
    if amount == 0 {
        return Ok(None);
    }
    let event = PurchaseInput {
        event_id: Some(event_id),
        kind: Some("refund".into()),
        customer_id: Some(customer.to_string()),
        order_id: Some(format!("shopify-{order}")),
        occurred_at: Some(occurred_at),
        currency: Some(shop.code().into()),
        total_minor: Some(amount),
        ..Default::default()
    }
    .validate()?;
    Ok(Some(event.up_to_refundable()))
}

/// What `customers/create` and `customers/update` say about a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactUpdate {
    pub customer: CustomerId,
    pub email: Option<Email>,
    pub locale: Option<Locale>,
    /// Subscribed (`true`) or not (`false`), and when the customer decided; `None`
    /// while a double opt-in is pending or the state is unknown.
    pub marketing: Option<(bool, DateTime<Utc>)>,
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
        customer: CustomerId::parse("id", &format!("shopify-{id}"))?,
        email,
        locale,
        marketing,
    })
}

impl ContactUpdate {
    /// The customer's profile with this update applied — created if Rapport has not
    /// seen them yet (a sign-up before any order) — and whether anything changed.
    /// An erased customer's contact data is not stored again. A consent decision
    /// older than the one on file (the one-click unsubscribe, say) does not undo it.
    pub fn apply(
        &self,
        profile: Option<Profile>,
        rules: &LoyaltyRules,
        now: DateTime<Utc>,
    ) -> (Profile, bool) {
        let (mut profile, mut changed) = match profile {
            Some(p) => (p, false),
            None => (
                Profile::new(self.customer.clone(), rules.base_tier().clone(), now),
                true,
            ),
        };
        if profile.is_erased() {
            return (profile, changed);
        }
        if let Some(email) = &self.email
            && profile.email.as_ref() != Some(email)
        {
            profile.email = Some(email.clone());
            changed = true;
        }
        if let Some(locale) = &self.locale
            && profile.locale.as_ref() != Some(locale)
        {
            profile.locale = Some(locale.clone());
            changed = true;
        }
        if let Some((marketing, at)) = self.marketing {
            let newer = profile.consent.as_ref().is_none_or(|c| c.updated_at < at);
            let different = profile.consent.as_ref().map(|c| c.marketing) != Some(marketing);
            if newer && different {
                profile.set_marketing_consent(marketing, "shopify".into(), at);
                changed = true;
            }
        }
        if changed {
            profile.updated_at = now;
        }
        (profile, changed)
    }
}

/// `customers/redact`: the customer to erase.
pub fn redacted_customer(body: &[u8], guests: &TombstoneKey) -> Result<CustomerId, FieldError> {
    let redact: Redact = read(body)?;
    customer_id(redact.customer.as_ref(), None, guests)
}

#[cfg(test)]
mod tests;
