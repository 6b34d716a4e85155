//! A coupon as a store's checkout must know it for the customer to use it there. Rapport
//! issues codes (redemptions, offers with messages); where the merchant has given Rapport
//! the store's API credentials, each code is also created in the store, once, and the
//! coupon records which store confirmed it and when.
//!
//! What a store can express is less than what Rapport records: neither Shopify's basic
//! code discounts nor WooCommerce coupons cap a percentage off, so a capped percentage is
//! created uncapped there (the cap stays in Rapport's `GET /v1/coupons/{code}` answer),
//! and WooCommerce restricts a code to an e-mail address rather than a customer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Coupon, CouponTerms, Currency, Email};

/// A storefront platform whose stores Rapport creates codes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    Woocommerce,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Shopify, Platform::Woocommerce];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
        }
    }

    /// The coupon attribute that records this platform's confirmation.
    pub fn sync_attribute(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify_sync",
            Platform::Woocommerce => "woocommerce_sync",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store's confirmation that it holds a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSync {
    pub at: DateTime<Utc>,
    /// The store's id for the code (Shopify's discount GID, WooCommerce's coupon id);
    /// unknown when the store answered that it already had the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
}

/// Which stores have confirmed a coupon, one attribute per platform so that each is
/// recorded on its own with a condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSyncs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopify_sync: Option<StoreSync>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub woocommerce_sync: Option<StoreSync>,
}

impl StoreSyncs {
    pub fn get(&self, platform: Platform) -> Option<&StoreSync> {
        match platform {
            Platform::Shopify => self.shopify_sync.as_ref(),
            Platform::Woocommerce => self.woocommerce_sync.as_ref(),
        }
    }

    pub fn set(&mut self, platform: Platform, sync: StoreSync) {
        match platform {
            Platform::Shopify => self.shopify_sync = Some(sync),
            Platform::Woocommerce => self.woocommerce_sync = Some(sync),
        }
    }
}

/// What a code takes off, in the store's terms: amounts as decimal strings in major
/// units, exactly, as both platforms take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreValue {
    AmountOff { amount: String },
    PercentOff { percent: u32 },
    FreeShipping,
}

/// The code to create in a store for one coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCode {
    pub code: String,
    /// How the merchant's discount list names it.
    pub title: String,
    pub value: StoreValue,
    pub currency: Currency,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Shopify's customer id when the coupon's customer came from Shopify
    /// (`shopify-<id>`): the code is then for that customer only.
    pub shopify_customer: Option<u64>,
    /// The customer's address, for WooCommerce's e-mail restriction.
    pub email: Option<Email>,
    /// The least an order must spend, as a decimal in major units.
    pub min_order: Option<String>,
}

/// Why a coupon is not created in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForStore {
    /// Issued before coupons carried their terms: nothing says what it is worth.
    NoTerms,
    /// An order already used it, or it has expired: the store has no use for it.
    Spent,
    /// Free products: the stores name them by their own product ids (Rapport's check
    /// still answers for them).
    Unsupported,
}

impl NotForStore {
    pub fn as_str(self) -> &'static str {
        match self {
            NotForStore::NoTerms => "no-terms",
            NotForStore::Spent => "spent",
            NotForStore::Unsupported => "unsupported",
        }
    }
}

/// Minor units as a decimal string in major units: 1250 USD → "12.50", 1500 JPY →
/// "1500", 1250 KWD → "1.250".
pub fn decimal(minor: i64, currency: Currency) -> String {
    let per_major = currency.minor_per_major();
    let places = per_major.ilog10() as usize;
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let per_major = per_major.unsigned_abs();
    match places {
        0 => format!("{sign}{minor}"),
        _ => format!("{sign}{}.{:0places$}", minor / per_major, minor % per_major),
    }
}

impl StoreCode {
    /// The code for `coupon`, held by a customer at `email`, in the shop's `currency`.
    pub fn of(
        coupon: &Coupon,
        email: Option<Email>,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Self, NotForStore> {
        let terms = coupon.terms.clone().ok_or(NotForStore::NoTerms)?;
        if coupon.used.is_some() || coupon.expires_at.is_some_and(|at| at <= now) {
            return Err(NotForStore::Spent);
        }
        let (value, title) = match terms {
            CouponTerms::AmountOff { value_minor } => {
                let amount = decimal(value_minor, currency);
                let title = format!("Rapport {amount} {currency} off ({})", coupon.code);
                (StoreValue::AmountOff { amount }, title)
            }
            CouponTerms::PercentOff { percent, .. } => (
                StoreValue::PercentOff { percent },
                format!("Rapport {percent}% off ({})", coupon.code),
            ),
            CouponTerms::FreeShipping => (
                StoreValue::FreeShipping,
                format!("Rapport free shipping ({})", coupon.code),
            ),
            // Both platforms name free products by their own product ids, which Rapport
            // does not know from a SKU.
            CouponTerms::FreeProduct { .. } => return Err(NotForStore::Unsupported),
        };
        let shopify_customer = coupon
            .customer_id
            .as_str()
            .strip_prefix("shopify-")
            .and_then(|id| id.parse::<u64>().ok());
        Ok(Self {
            code: coupon.code.clone(),
            title,
            value,
            currency,
            starts_at: coupon.issued_at.unwrap_or(now),
            ends_at: coupon.expires_at,
            shopify_customer,
            email,
            min_order: coupon.min_order_minor.map(|m| decimal(m, currency)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CouponUse, CustomerId, OrderId};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn coupon(customer: &str, terms: Option<CouponTerms>) -> Coupon {
        Coupon {
            code: "RP-K7QX2M9PZT".into(),
            customer_id: CustomerId::parse("c", customer).unwrap(),
            terms,
            issued_at: Some(at("2026-11-01T00:00:00Z")),
            expires_at: Some(at("2027-01-30T00:00:00Z")),
            origin: None,
            used: None,
            refused: None,
            min_order_minor: None,
            synced: StoreSyncs::default(),
        }
    }

    #[test]
    fn amounts_are_written_exactly_in_the_currencys_major_units() {
        let usd = Currency::parse("c", "USD").unwrap();
        let jpy = Currency::parse("c", "JPY").unwrap();
        let kwd = Currency::parse("c", "KWD").unwrap();
        assert_eq!(decimal(1250, usd), "12.50");
        assert_eq!(decimal(5, usd), "0.05");
        assert_eq!(decimal(1500, jpy), "1500");
        assert_eq!(decimal(1250, kwd), "1.250");
        assert_eq!(decimal(-5, usd), "-0.05");
    }

    #[test]
    fn a_shopify_customers_code_is_theirs_and_others_are_by_address() {
        let usd = Currency::parse("c", "USD").unwrap();
        let now = at("2026-12-01T00:00:00Z");
        let amount = Some(CouponTerms::AmountOff { value_minor: 500 });
        let shopify = StoreCode::of(&coupon("shopify-7390", amount), None, usd, now).unwrap();
        assert_eq!(shopify.shopify_customer, Some(7390));
        assert_eq!(
            shopify.value,
            StoreValue::AmountOff {
                amount: "5.00".into()
            }
        );
        assert_eq!(shopify.title, "Rapport 5.00 USD off (RP-K7QX2M9PZT)");
        let email = Email::parse("e", "asha@example.com").unwrap();
        let percent = Some(CouponTerms::PercentOff {
            percent: 15,
            max_value_minor: 2000,
        });
        let native =
            StoreCode::of(&coupon("asha", percent), Some(email.clone()), usd, now).unwrap();
        assert_eq!(native.shopify_customer, None);
        assert_eq!(native.email, Some(email));
        assert_eq!(native.value, StoreValue::PercentOff { percent: 15 });
        assert_eq!(native.ends_at, Some(at("2027-01-30T00:00:00Z")));
    }

    #[test]
    fn spent_codes_and_codes_without_terms_are_not_created() {
        let usd = Currency::parse("c", "USD").unwrap();
        let amount = Some(CouponTerms::AmountOff { value_minor: 500 });
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(
            StoreCode::of(&coupon("asha", None), None, usd, now),
            Err(NotForStore::NoTerms)
        );
        let expired = at("2027-02-01T00:00:00Z");
        assert_eq!(
            StoreCode::of(&coupon("asha", amount.clone()), None, usd, expired),
            Err(NotForStore::Spent)
        );
        let used = Coupon {
            used: Some(CouponUse {
                order_id: OrderId::parse("o", "o-1").unwrap(),
                at: now,
            }),
            ..coupon("asha", amount)
        };
        assert_eq!(
            StoreCode::of(&used, None, usd, now),
            Err(NotForStore::Spent)
        );
        let sku = crate::domain::Sku::parse("sku", "TEA-1").unwrap();
        let product = coupon("asha", Some(CouponTerms::FreeProduct { sku }));
        assert_eq!(
            StoreCode::of(&product, None, usd, now),
            Err(NotForStore::Unsupported)
        );
    }

    #[test]
    fn store_confirmations_read_back_per_platform() {
        let stored = serde_json::json!({
            "customer_id": "asha",
            "shopify_sync": {"at": "2026-12-01T00:00:00Z", "remote_id": "gid://shopify/DiscountCodeNode/1"}
        });
        let coupon: Coupon = serde_json::from_value(stored).unwrap();
        assert!(coupon.synced.get(Platform::Shopify).is_some());
        assert!(coupon.synced.get(Platform::Woocommerce).is_none());
    }
}
