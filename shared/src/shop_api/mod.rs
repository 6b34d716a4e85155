//! The stores' own admin APIs, for creating Rapport's codes at the store's checkout:
//! Shopify's Admin GraphQL API and WooCommerce's REST API, one adapter each behind
//! [`ShopApi`]. Each answers with what the store confirmed or why it did not, in terms
//! the caller can act on: try again later ([`ShopApiError::Throttled`],
//! [`ShopApiError::Unavailable`]) or not without the merchant ([`ShopApiError::Refused`]).

pub mod shopify;
pub mod woocommerce;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

use crate::auth::keys::{KeyError, SecretSet};
use crate::domain::storefront::codes::{Platform, StoreCode};

/// A store confirmed it holds a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The store's id for it, when this call created it.
    pub remote_id: Option<String>,
    /// The store already had the code: an earlier attempt created it and its answer was
    /// lost. Rapport's codes are random, so a code of the same name is that attempt's.
    pub existed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShopApiError {
    /// The store asks for fewer calls; `retry_after` when it said how long to wait.
    #[error("the store is throttling calls")]
    Throttled { retry_after: Option<Duration> },
    /// The store could not be reached or failed on its side.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the call (a bad token, a missing permission, an input it does
    /// not take): trying again changes nothing until the merchant does something.
    #[error("the store refused the call: {0}")]
    Refused(String),
}

impl ShopApiError {
    pub fn is_transient(&self) -> bool {
        !matches!(self, ShopApiError::Refused(_))
    }
}

/// A store's admin API, as far as Rapport uses it.
#[async_trait]
pub trait ShopApi: Send + Sync {
    fn platform(&self) -> Platform;
    /// Creates `code` in the store, for one use.
    async fn create_code(&self, code: &StoreCode) -> Result<Created, ShopApiError>;
}

/// How long one call to a store may take; a stalled store is tried again later.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// An HTTP client for stores' APIs: TLS with the system's roots on the AWS SDK's
/// crypto provider (plain HTTP only where configured for a local stand-in), bounded
/// calls.
#[derive(Clone)]
pub struct HttpClient {
    inner: hyper_util::client::legacy::Client<Connector, http_body_util::Full<bytes::Bytes>>,
}

/// What a store answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl HttpClient {
    pub fn new() -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(https);
        Ok(Self { inner })
    }

    /// POSTs `body` as JSON to `url` with `headers`; the answer, or why there was none.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &serde_json::Value,
    ) -> Result<Reply, String> {
        use http_body_util::BodyExt;
        let mut request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("rapport/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .map_err(|e| format!("building the request: {e}"))?;
        let exchange = async {
            let response = self.inner.request(request).await.map_err(|e| {
                // The error names the cause, never the request's headers.
                format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            })?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))?
    }
}

/// What a failed HTTP exchange means for the caller.
fn transport_error(platform: Platform, e: &str) -> ShopApiError {
    ShopApiError::Unavailable(format!("{platform}: {e}"))
}

/// `Retry-After` in seconds, as both platforms send it.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(60.0)))
}

/// The stores' API credentials: `RAPPORT_SHOPIFY_ADMIN_TOKEN`,
/// `RAPPORT_WOOCOMMERCE_KEY` and `RAPPORT_WOOCOMMERCE_SECRET`, or a Secrets Manager
/// secret holding them (`RAPPORT_SHOP_API_SECRET`).
#[derive(Clone, Default)]
pub struct ShopCredentials {
    pub shopify_admin_token: Option<String>,
    pub woocommerce: Option<(String, String)>,
}

impl std::fmt::Debug for ShopCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopCredentials")
            .field("shopify", &self.shopify_admin_token.is_some())
            .field("woocommerce", &self.woocommerce.is_some())
            .finish()
    }
}

pub const SHOPIFY_ADMIN_TOKEN: &str = "RAPPORT_SHOPIFY_ADMIN_TOKEN";
pub const WOOCOMMERCE_KEY: &str = "RAPPORT_WOOCOMMERCE_KEY";
pub const WOOCOMMERCE_SECRET: &str = "RAPPORT_WOOCOMMERCE_SECRET";

impl SecretSet for ShopCredentials {
    const SETTINGS: &'static [&'static str] =
        &[SHOPIFY_ADMIN_TOKEN, WOOCOMMERCE_KEY, WOOCOMMERCE_SECRET];

    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError> {
        let value = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let shopify_admin_token = value(SHOPIFY_ADMIN_TOKEN);
        let woocommerce = match (value(WOOCOMMERCE_KEY), value(WOOCOMMERCE_SECRET)) {
            (Some(key), Some(secret)) => Some((key, secret)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(KeyError {
                    setting: WOOCOMMERCE_SECRET,
                    reason: format!("is required with {WOOCOMMERCE_KEY}"),
                });
            }
            (None, Some(_)) => {
                return Err(KeyError {
                    setting: WOOCOMMERCE_KEY,
                    reason: format!("is required with {WOOCOMMERCE_SECRET}"),
                });
            }
        };
        if shopify_admin_token.is_none() && woocommerce.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            shopify_admin_token,
            woocommerce,
        }))
    }

    /// Read once per process: the APIs name no key.
    fn knows(&self, _: &str) -> bool {
        true
    }
}

/// Where the stores are: Shopify's admin API base (`https://<shop domain>` unless
/// `RAPPORT_SHOPIFY_ADMIN_URL` says otherwise) and the WooCommerce store's URL
/// (`RAPPORT_WOOCOMMERCE_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopEndpoints {
    pub shopify: Option<String>,
    pub woocommerce: Option<String>,
}

/// The APIs of the stores that have both an endpoint and credentials.
pub fn apis(
    endpoints: &ShopEndpoints,
    credentials: &ShopCredentials,
    client: &HttpClient,
) -> Vec<Box<dyn ShopApi>> {
    let mut apis: Vec<Box<dyn ShopApi>> = Vec::new();
    if let (Some(base), Some(token)) = (&endpoints.shopify, &credentials.shopify_admin_token) {
        apis.push(Box::new(shopify::ShopifyAdmin::new(
            client.clone(),
            base,
            token,
        )));
    }
    if let (Some(base), Some((key, secret))) = (&endpoints.woocommerce, &credentials.woocommerce) {
        apis.push(Box::new(woocommerce::WooCommerceApi::new(
            client.clone(),
            base,
            key,
            secret,
        )));
    }
    apis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_as_a_whole_or_not_at_all() {
        let read = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            ShopCredentials::from_settings(&|name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        assert!(read(&[]).unwrap().is_none());
        let shopify = read(&[(SHOPIFY_ADMIN_TOKEN, "shpat_1")]).unwrap().unwrap();
        assert_eq!(shopify.shopify_admin_token.as_deref(), Some("shpat_1"));
        assert!(shopify.woocommerce.is_none());
        let half = read(&[(WOOCOMMERCE_KEY, "ck_1")]).unwrap_err();
        assert_eq!(half.setting, WOOCOMMERCE_SECRET);
        let debug = format!("{shopify:?}");
        assert!(!debug.contains("shpat_1"), "{debug}");
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_bounded() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(http::header::RETRY_AFTER, "2.0".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(http::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
    }
}
