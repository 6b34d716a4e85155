//! WooCommerce's REST API: `POST /wp-json/wc/v3/coupons`, one use per code, for the
//! customer's address, with the REST API key pair over HTTPS (Basic authentication).
//!
//! WooCommerce answers 201 with the coupon; 400 `woocommerce_rest_coupon_code_already_exists`
//! when a coupon has the code; 401 `woocommerce_rest_cannot_create` (or
//! `woocommerce_rest_authentication_error`) for a key pair without write access; hosts
//! in front of it answer 429 when throttling and 5xx when in trouble.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Created, HttpClient, ShopApi, ShopApiError, retry_after, transport_error};
use crate::domain::storefront::codes::{Platform, StoreCode, StoreValue};

/// The coupons endpoint under the store's URL.
pub const COUPONS_PATH: &str = "/wp-json/wc/v3/coupons";

/// The error code of a coupon code already in use.
pub const CODE_EXISTS: &str = "woocommerce_rest_coupon_code_already_exists";

pub struct WooCommerceApi {
    client: HttpClient,
    url: String,
    key: String,
    secret: String,
}

impl WooCommerceApi {
    /// The API of the store at `base` (`https://shop.example.com`).
    pub fn new(client: HttpClient, base: &str, key: &str, secret: &str) -> Self {
        Self {
            client,
            url: format!("{}{COUPONS_PATH}", base.trim_end_matches('/')),
            key: key.to_owned(),
            secret: secret.to_owned(),
        }
    }
}

/// The coupon's body for `code`. WooCommerce keeps codes in lower case and expiry as a
/// date-time in GMT without a zone.
pub fn body(code: &StoreCode) -> Value {
    let (discount_type, amount) = match &code.value {
        StoreValue::AmountOff { amount } => ("fixed_cart", amount.clone()),
        StoreValue::PercentOff { percent } => ("percent", percent.to_string()),
        StoreValue::FreeShipping => ("fixed_cart", "0".to_owned()),
    };
    let emails: Vec<&str> = code.email.iter().map(|e| e.as_str()).collect();
    json!({
        "code": code.code.to_ascii_lowercase(),
        "description": code.title,
        "discount_type": discount_type,
        "amount": amount,
        "individual_use": true,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": emails,
        "date_expires_gmt": code.ends_at.map(|at| at.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "minimum_amount": code.min_order.clone().unwrap_or_default(),
        "free_shipping": code.value == StoreValue::FreeShipping,
    })
}

#[derive(Debug, Deserialize)]
struct Coupon {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[async_trait]
impl ShopApi for WooCommerceApi {
    fn platform(&self) -> Platform {
        Platform::Woocommerce
    }

    async fn create_code(&self, code: &StoreCode) -> Result<Created, ShopApiError> {
        use base64::Engine;
        let pair = format!("{}:{}", self.key, self.secret);
        let basic = base64::engine::general_purpose::STANDARD.encode(pair);
        let headers = [("Authorization", format!("Basic {basic}"))];
        let reply = self
            .client
            .post_json(&self.url, &headers, &body(code))
            .await
            .map_err(|e| transport_error(Platform::Woocommerce, &e))?;
        let (status, wait, bytes) = (reply.status, retry_after(&reply.headers), reply.body);
        if status == 200 || status == 201 {
            let coupon: Coupon = serde_json::from_slice(&bytes).map_err(|e| {
                ShopApiError::Unavailable(format!("woocommerce: unreadable answer: {e}"))
            })?;
            return Ok(Created {
                remote_id: Some(coupon.id.to_string()),
                existed: false,
            });
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let (error_code, message) = error.map(|e| (e.code, e.message)).unwrap_or_default();
        match status {
            400 if error_code == CODE_EXISTS => Ok(Created {
                remote_id: None,
                existed: true,
            }),
            429 => Err(ShopApiError::Throttled { retry_after: wait }),
            s if s >= 500 => Err(ShopApiError::Unavailable(format!("woocommerce: HTTP {s}"))),
            s => Err(ShopApiError::Refused(format!(
                "woocommerce: HTTP {s} {error_code}: {message}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Email};

    #[test]
    fn the_coupon_is_one_use_for_the_customers_address() {
        let code = StoreCode {
            code: "RP-K7QX2M9PZT".into(),
            title: "Rapport 5.00 USD off".into(),
            value: StoreValue::AmountOff {
                amount: "5.00".into(),
            },
            currency: Currency::parse("c", "USD").unwrap(),
            starts_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            ends_at: Some("2027-03-01T12:30:00Z".parse().unwrap()),
            shopify_customer: None,
            email: Some(Email::parse("e", "asha@example.com").unwrap()),
            min_order: None,
        };
        let b = body(&code);
        assert_eq!(b["code"], "rp-k7qx2m9pzt");
        assert_eq!(b["discount_type"], "fixed_cart");
        assert_eq!(b["amount"], "5.00");
        assert_eq!(b["usage_limit"], 1);
        assert_eq!(b["email_restrictions"][0], "asha@example.com");
        assert_eq!(b["date_expires_gmt"], "2027-03-01T12:30:00");
        let percent = body(&StoreCode {
            value: StoreValue::PercentOff { percent: 15 },
            email: None,
            ..code
        });
        assert_eq!(percent["discount_type"], "percent");
        assert_eq!(percent["amount"], "15");
        assert_eq!(percent["email_restrictions"], json!([]));
    }
}
