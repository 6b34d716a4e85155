//! Storefront platforms' webhook signatures: Shopify (`X-Shopify-Hmac-Sha256`) and
//! WooCommerce (`X-WC-Webhook-Signature`) both send the base64 HMAC-SHA256 of the raw
//! body under a secret shared with the shop. Neither signs a timestamp, so a captured
//! delivery can be sent again: what absorbs that is exactly-once processing by the
//! platform's own ids, not the signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::keys::{KeyError, MIN_SECRET_BYTES, SecretSet};

pub const SHOPIFY_WEBHOOK_SECRET: &str = "RAPPORT_SHOPIFY_WEBHOOK_SECRET";
pub const WOOCOMMERCE_WEBHOOK_SECRET: &str = "RAPPORT_WOOCOMMERCE_WEBHOOK_SECRET";

/// The secrets webhooks are checked against. Several may be listed, comma separated,
/// while a platform's secret is being rotated.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecrets {
    shopify: Vec<Vec<u8>>,
    woocommerce: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("shopify", &format!("{} secret(s)", self.shopify.len()))
            .field(
                "woocommerce",
                &format!("{} secret(s)", self.woocommerce.len()),
            )
            .finish()
    }
}

impl WebhookSecrets {
    pub fn shopify(secrets: &[&[u8]]) -> Self {
        Self {
            shopify: secrets.iter().map(|s| s.to_vec()).collect(),
            woocommerce: Vec::new(),
        }
    }

    /// Whether `header` is the base64 HMAC-SHA256 of `body` under one of the shop's
    /// secrets. Constant time in the comparison; a header that is not base64 fails.
    pub fn shopify_signed(&self, body: &[u8], header: &str) -> bool {
        verify_any(&self.shopify, body, header)
    }

    /// The same for WooCommerce's `X-WC-Webhook-Signature`.
    pub fn woocommerce_signed(&self, body: &[u8], header: &str) -> bool {
        verify_any(&self.woocommerce, body, header)
    }

    pub fn takes_shopify(&self) -> bool {
        !self.shopify.is_empty()
    }

    pub fn takes_woocommerce(&self) -> bool {
        !self.woocommerce.is_empty()
    }
}

impl SecretSet for WebhookSecrets {
    const SETTINGS: &'static [&'static str] = &[SHOPIFY_WEBHOOK_SECRET, WOOCOMMERCE_WEBHOOK_SECRET];

    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError> {
        let shopify = secrets(get, SHOPIFY_WEBHOOK_SECRET)?;
        let woocommerce = secrets(get, WOOCOMMERCE_WEBHOOK_SECRET)?;
        if shopify.is_empty() && woocommerce.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            shopify,
            woocommerce,
        }))
    }

    /// Webhooks name no key: a secret set is read again only when the process starts.
    fn knows(&self, _: &str) -> bool {
        true
    }
}

/// The comma-separated secrets of `setting`, each 16 bytes or more.
fn secrets(
    get: &dyn Fn(&str) -> Option<String>,
    setting: &'static str,
) -> Result<Vec<Vec<u8>>, KeyError> {
    let Some(raw) = get(setting).filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .map(|secret| match secret.len() >= MIN_SECRET_BYTES {
            true => Ok(secret.as_bytes().to_vec()),
            false => Err(KeyError {
                setting,
                reason: format!("each secret must be at least {MIN_SECRET_BYTES} bytes"),
            }),
        })
        .collect()
}

/// The header a platform sends for `body` under `secret` (tests, samples).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    STANDARD.encode(mac(secret, body).finalize().into_bytes())
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    mac
}

fn verify_any(secrets: &[Vec<u8>], body: &[u8], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    // verify_slice compares in constant time.
    secrets
        .iter()
        .any(|secret| mac(secret, body).verify_slice(&given).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"shopify-webhook-secret-0123";

    #[test]
    fn a_body_verifies_under_its_secret_only() {
        let secrets = WebhookSecrets::shopify(&[SECRET]);
        let body = br#"{"id":820982911946154508}"#;
        let header = sign(SECRET, body);
        assert!(secrets.shopify_signed(body, &header));
        assert!(!secrets.shopify_signed(br#"{"id":820982911946154509}"#, &header));
        assert!(!secrets.shopify_signed(body, &sign(b"another-secret-0123456", body)));
        assert!(!secrets.shopify_signed(body, "not base64!"));
        assert!(!secrets.shopify_signed(body, ""));
        // A truncated MAC is not accepted.
        let short = STANDARD.encode(&STANDARD.decode(&header).unwrap()[..16]);
        assert!(!secrets.shopify_signed(body, &short));
    }

    #[test]
    fn several_secrets_verify_while_rotating_and_short_ones_are_refused() {
        let get = |value: &'static str| {
            move |name: &str| (name == SHOPIFY_WEBHOOK_SECRET).then(|| value.to_owned())
        };
        let secrets = WebhookSecrets::from_settings(&get(
            "new-secret-0123456789, shopify-webhook-secret-0123",
        ))
        .unwrap()
        .unwrap();
        let body = b"{}";
        assert!(secrets.shopify_signed(body, &sign(SECRET, body)));
        assert!(secrets.shopify_signed(body, &sign(b"new-secret-0123456789", body)));
        let e = WebhookSecrets::from_settings(&get("short")).unwrap_err();
        assert_eq!(e.setting, SHOPIFY_WEBHOOK_SECRET);
        assert!(WebhookSecrets::from_settings(&get("")).unwrap().is_none());
        assert!(!format!("{secrets:?}").contains("0123"));
        assert!(secrets.takes_shopify() && !secrets.takes_woocommerce());
        // One platform's secret does not sign for the other.
        assert!(!secrets.woocommerce_signed(body, &sign(SECRET, body)));
    }
}
