//! Storefront platforms' webhook payloads, read into Rapport's own events so that a
//! shop connects with no code of its own: one module per platform, and here what they
//! share — reading a payload so that an error names the platform's field, goods lines
//! whose amounts add up exactly, guests as one customer per address, refunds that take
//! at most what is left, contact updates. Each only reads: signatures are checked in
//! `auth::webhook`, state is read by the handler.

pub mod codes;
pub mod shopify;
pub mod woocommerce;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Currency, CustomerId, Email, FieldError, FirstName, LineItemInput, Locale, LoyaltyRules,
    ProductName, Profile, PurchaseEvent, PurchaseInput, TombstoneKey,
};

/// A line of an order at what its goods cost after discounts, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodsLine {
    pub sku: String,
    pub quantity: i64,
    pub net: i64,
    /// The product's name, when the platform gives a usable one.
    pub name: Option<ProductName>,
}

/// The lines as Rapport line items whose amounts add up exactly to the goods' total:
/// a line whose net does not divide by its quantity is split in two (the same SKU at
/// two unit prices a minor unit apart).
pub fn line_items(lines: &[GoodsLine]) -> (Vec<LineItemInput>, i64) {
    let mut items = Vec::new();
    let mut total: i64 = 0;
    for line in lines.iter().filter(|l| l.quantity > 0) {
        let (unit, rest) = (line.net / line.quantity, line.net % line.quantity);
        // `rest` units cost one minor unit more than the others.
        if rest > 0 {
            items.push(LineItemInput {
                sku: Some(line.sku.clone()),
                quantity: Some(rest),
                unit_price_minor: Some(unit + 1),
                name: line.name.as_ref().map(|n| n.as_str().to_owned()),
            });
        }
        if line.quantity > rest {
            items.push(LineItemInput {
                sku: Some(line.sku.clone()),
                quantity: Some(line.quantity - rest),
                unit_price_minor: Some(unit),
                name: line.name.as_ref().map(|n| n.as_str().to_owned()),
            });
        }
        total += line.net;
    }
    (items, total)
}

/// A guest checkout's customer: `<platform>-guest-<h>`, `h` the first 24 hex digits of
/// the address's keyed hash under the tombstone key — the same address (in any case)
/// is always the same guest, and the id does not give the address away.
pub fn guest_id(
    platform: &str,
    email: Option<&str>,
    guests: &TombstoneKey,
) -> Result<CustomerId, FieldError> {
    let address = email
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| FieldError::new("email", "is required for a guest checkout"))?;
    let address = Email::parse("email", address)?;
    let hash = guests.tombstone(&address);
    CustomerId::parse("email", &format!("{platform}-guest-{}", &hash[..24]))
}

pub(crate) fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FieldError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        FieldError::new(field, e.into_inner().to_string())
    })
}

/// A refund of `amount`, at most what the order still holds; `None` when the goods are
/// refunded nothing (a refund of shipping alone changes no points).
pub(crate) fn refund_event(
    event_id: String,
    customer: CustomerId,
    order: String,
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
        order_id: Some(order),
        occurred_at: Some(occurred_at),
        currency: Some(shop.code().into()),
        total_minor: Some(amount),
        ..Default::default()
    }
    .validate()?;
    Ok(Some(event.up_to_refundable()))
}

/// What a platform says about a customer's contact details and consent
/// (Shopify's `customers/create` and `customers/update`, WooCommerce's `customer.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactUpdate {
    /// The platform, recorded as the consent's source.
    pub source: &'static str,
    pub customer: CustomerId,
    pub email: Option<Email>,
    pub first_name: Option<FirstName>,
    pub locale: Option<Locale>,
    /// Subscribed (`true`) or not (`false`), and when the customer decided; `None`
    /// while a double opt-in is pending or the state is unknown.
    pub marketing: Option<(bool, DateTime<Utc>)>,
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
        if let Some(name) = &self.first_name
            && profile.first_name.as_ref() != Some(name)
        {
            profile.first_name = Some(name.clone());
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
                profile.set_marketing_consent(marketing, self.source.into(), at);
                changed = true;
            }
        }
        if changed {
            profile.updated_at = now;
        }
        (profile, changed)
    }
}
