//! The storefront HTTP API (v1): signature check, body parsing, the handlers, and the
//! route table the local server mounts. Lambda functions call one handler each; API
//! Gateway routes to them by the same paths.
//!
//! Every response is `Cache-Control: no-store` ([`no_store`]): most carry personal
//! data (profiles, receipts with balances, referral codes, exports, erasure receipts),
//! no shared cache between a storefront and Rapport may keep any of it, and marking
//! every response costs nothing and cannot miss one.

mod activity;
mod coupons;
mod params;
mod privacy;
mod problem;
mod program;
mod reports;
mod unsubscribe;
mod views;
mod webhooks;

pub use coupons::CouponView;
use params::{customer_in_path, percent_decode, query_param};
pub use problem::{ApiError, PROBLEM_BASE};
pub use views::ProfileView;
pub use webhooks::WebhookReceipt;

use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Config;
use crate::auth::keys::{ApiKeys, Keys, KeysUnavailable, Scope, SecretReader, UnsubscribeKeys};
use crate::auth::signature::{self, SignatureHeader, SignedRequest};
use crate::auth::webhook::WebhookSecrets;
use crate::domain::{
    CustomerId, PurchaseInput, RedemptionInput, ReferralInput, ReviewInput, TombstoneKey,
};
use crate::mail::{AlertSender, LogAlerts};
use crate::service;
use crate::store::{
    CouponUseStore, ProfileStore, ProfileViewStore, ProgramReadStore, PurchaseStore,
    RedemptionStore, ReferralCodeStore, ReferralStore, ReviewStore, Store,
};
use std::sync::Arc;

/// The OpenAPI 3.1 description of this API (the v1 contract).
pub const OPENAPI: &str = include_str!("../../openapi.yaml");

/// Largest accepted body. Events are small; this bounds the work an unauthenticated
/// caller can cause before the signature is checked.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The v1 API's operations, one per Lambda function (the two report operations share
/// one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Purchase,
    Customer,
    Redemption,
    Review,
    Recovery,
    ReferralCode,
    Referral,
    /// Both methods of the unsubscribe link.
    Unsubscribe,
    /// Data rights: the export and the erasure of a customer's data.
    Privacy,
    /// Whether a coupon code may be used, for a checkout.
    Coupon,
    /// A Shopify shop's webhooks, signed with the shop's webhook secret.
    ShopifyWebhook,
    /// A WooCommerce shop's webhooks, signed the same way.
    WooCommerceWebhook,
    /// The merchant's program document: read, replace, history, rollback.
    Program,
    /// What a customer did besides buying: a signup, a follow, an activity of the
    /// merchant's own.
    Activity,
    /// A run's HTML report, opened from the link mailed to the merchant.
    ReportPage,
    /// A run's summary, for the merchant's tools.
    Report,
}

impl Operation {
    /// The scope a key needs for it; `None` for the unsubscribe and report links, which
    /// carry their own tokens instead of a signature, and for platforms' webhooks,
    /// signed the platform's way.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Operation::Purchase
            | Operation::Customer
            | Operation::Redemption
            | Operation::Review
            | Operation::ReferralCode
            | Operation::Referral
            | Operation::Activity
            | Operation::Coupon => Some(Scope::Events),
            Operation::Recovery | Operation::Privacy | Operation::Program | Operation::Report => {
                Some(Scope::Admin)
            }
            Operation::Unsubscribe
            | Operation::ReportPage
            | Operation::ShopifyWebhook
            | Operation::WooCommerceWebhook => None,
        }
    }
}

/// The routes of the v1 API: method, path pattern, the operation that serves it.
pub const ROUTES: &[(&str, &str, Operation)] = &[
    ("POST", "/v1/events/purchase", Operation::Purchase),
    ("GET", "/v1/customers/{id}", Operation::Customer),
    (
        "POST",
        "/v1/customers/{id}/redemptions",
        Operation::Redemption,
    ),
    ("POST", "/v1/events/review", Operation::Review),
    ("POST", "/v1/customers/{id}/recovery", Operation::Recovery),
    (
        "GET",
        "/v1/customers/{id}/referral-code",
        Operation::ReferralCode,
    ),
    ("POST", "/v1/events/referral", Operation::Referral),
    ("GET", "/v1/unsubscribe", Operation::Unsubscribe),
    ("POST", "/v1/unsubscribe", Operation::Unsubscribe),
    ("GET", "/v1/customers/{id}/export", Operation::Privacy),
    ("DELETE", "/v1/customers/{id}", Operation::Privacy),
    ("GET", "/v1/coupons/{code}", Operation::Coupon),
    ("POST", "/v1/webhooks/shopify", Operation::ShopifyWebhook),
    (
        "POST",
        "/v1/webhooks/woocommerce",
        Operation::WooCommerceWebhook,
    ),
    ("GET", "/v1/admin/program", Operation::Program),
    ("PUT", "/v1/admin/program", Operation::Program),
    ("GET", "/v1/admin/program/versions", Operation::Program),
    ("GET", "/v1/admin/program/stats", Operation::Program),
    ("POST", "/v1/admin/program/rollback", Operation::Program),
    ("POST", "/v1/events/activity", Operation::Activity),
    ("GET", "/v1/reports/{run_id}", Operation::ReportPage),
    ("GET", "/v1/admin/reports/{run_id}", Operation::Report),
];

/// The operation serving `method` on `path` (without the query), if any.
pub fn operation_for(method: &str, path: &str) -> Option<Operation> {
    ROUTES
        .iter()
        .find(|(m, pattern, _)| *m == method && matches(pattern, path))
        .map(|(_, _, operation)| *operation)
}

/// A handler's state: the store it needs and the configuration, built once per cold
/// start and shared by every invocation.
pub struct Api<S> {
    pub store: S,
    pub config: Config,
    /// Where service-recovery alerts go; [`LogAlerts`] until one is attached.
    pub alerts: Arc<dyn AlertSender>,
    /// The API keys requests are checked against.
    pub keys: Arc<Keys<ApiKeys>>,
    /// The keys unsubscribe links are checked against.
    pub unsubscribe_keys: Arc<Keys<UnsubscribeKeys>>,
    /// The secret erased customers' tombstones are keyed with, read on first use.
    pub tombstone_key: Arc<Keys<TombstoneKey>>,
    /// The secrets storefront platforms sign webhooks with.
    pub webhook_secrets: Arc<Keys<WebhookSecrets>>,
    /// The program in force, read again at most every `RAPPORT_PROGRAM_CACHE_SECS`.
    pub(crate) program: program::ProgramCache,
    /// The reports the job stored; none until attached ([`Api::with_reports`]).
    pub reports: Option<Arc<dyn crate::store::ReportStore>>,
}

/// Marks a response as one no cache may keep (see the module's header).
pub(crate) fn no_store(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => {
            let mut response = Response::new(Body::from(text));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            no_store(headers);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            ApiError::Internal.into_response()
        }
    }
}

fn respond<T: Serialize>(status: StatusCode, result: Result<T, ApiError>) -> Response<Body> {
    match result {
        Ok(body) => json_response(status, &body),
        Err(e) => e.into_response(),
    }
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Maps a serde error on an already well-formed JSON document to the field it concerns.
fn field_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_data() {
        let field = if path == "." { "body".to_owned() } else { path };
        // serde's own wording ("invalid type: floating point `1.5`, expected i64") is
        // precise and contains only what the client sent.
        let reason = inner.to_string();
        let reason = reason
            .split(" at line ")
            .next()
            .unwrap_or(&reason)
            .to_owned();
        ApiError::Invalid(crate::domain::FieldError::new(field, reason))
    } else {
        ApiError::MalformedJson(format!("{inner}"))
    }
}

/// Parses a JSON object body into `T`, naming the failing field.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::Encoding)?;
    // Syntax first, then shape: every error of the first pass is about the document as
    // a whole, every error of the second names a field.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::Invalid(crate::domain::FieldError::new(
            "body",
            "must be a JSON object",
        )));
    }
    serde_path_to_error::deserialize(value).map_err(field_error)
}

impl<S> Api<S> {
    pub fn new(store: S, config: Config) -> Self {
        let keys = Arc::new(Keys::new(config.api_keys.clone()));
        let unsubscribe_keys = Arc::new(Keys::new(config.unsubscribe_keys.clone()));
        let tombstone_key = Arc::new(Keys::new(config.tombstone_key.clone()));
        let webhook_secrets = Arc::new(Keys::new(config.webhook_secrets.clone()));
        Self {
            store,
            config,
            alerts: Arc::new(LogAlerts),
            keys,
            unsubscribe_keys,
            tombstone_key,
            webhook_secrets,
            program: program::ProgramCache::default(),
            reports: None,
        }
    }

    /// Reads keys kept in secrets (see [`KeySource::Secret`]) through `reader`.
    pub fn with_secret_reader(self, reader: Arc<dyn SecretReader>) -> Self {
        let every = self.config.keys_refresh;
        let keys = Keys::new(self.config.api_keys.clone())
            .with_reader(reader.clone())
            .refresh_at_most_every(every);
        let unsubscribe_keys = Keys::new(self.config.unsubscribe_keys.clone())
            .with_reader(reader.clone())
            .refresh_at_most_every(every);
        let tombstone_key =
            Keys::new(self.config.tombstone_key.clone()).with_reader(reader.clone());
        let webhook_secrets = Keys::new(self.config.webhook_secrets.clone()).with_reader(reader);
        Self {
            keys: Arc::new(keys),
            unsubscribe_keys: Arc::new(unsubscribe_keys),
            tombstone_key: Arc::new(tombstone_key),
            webhook_secrets: Arc::new(webhook_secrets),
            ..self
        }
    }

    /// The tombstone secret: read from its secret on first use, never again (it does
    /// not change); unset when none is configured. A secret that cannot be read is a
    /// 503: erasing under the wrong key would leave a tombstone nothing finds.
    async fn tombstones(&self) -> Result<Arc<TombstoneKey>, ApiError> {
        match self.tombstone_key.get().await {
            Ok(key) => Ok(key),
            Err(KeysUnavailable::NotConfigured(_)) => Ok(Arc::new(TombstoneKey::unset())),
            Err(e @ KeysUnavailable::Unreadable(_)) => {
                tracing::error!(error = %e, "tombstone key unavailable");
                Err(ApiError::Unavailable)
            }
        }
    }

    pub fn with_alerts(self, alerts: Arc<dyn AlertSender>) -> Self {
        Self { alerts, ..self }
    }

    /// Serves the reports `reports` holds.
    pub fn with_reports(self, reports: Arc<dyn crate::store::ReportStore>) -> Self {
        Self {
            reports: Some(reports),
            ..self
        }
    }

    /// Checks size, signature, the key's scope for `operation` and the media type;
    /// returns the raw body on success.
    async fn authenticate<'r>(
        &self,
        req: &'r Request,
        operation: Operation,
    ) -> Result<&'r [u8], ApiError> {
        self.authenticate_key(req, operation)
            .await
            .map(|(body, _)| body)
    }

    /// [`Self::authenticate`], also answering the id of the key that signed.
    async fn authenticate_key<'r>(
        &self,
        req: &'r Request,
        operation: Operation,
    ) -> Result<(&'r [u8], String), ApiError> {
        let body = body_bytes(req);
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::TooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        // Nothing to read, and nothing that could stand for the end of the signed path.
        if matches!(*req.method(), http::Method::GET | http::Method::DELETE) && !body.is_empty() {
            return Err(ApiError::Invalid(crate::domain::FieldError::new(
                "body",
                "must be empty for GET and DELETE",
            )));
        }
        let header = req
            .headers()
            .get(signature::HEADER)
            .ok_or(ApiError::Unauthorized(signature::SignatureError::Missing))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized(signature::SignatureError::Malformed))?;
        let header = SignatureHeader::parse(header).map_err(ApiError::Unauthorized)?;
        let keys = self.keys.knowing(&header.key_id).await.map_err(|e| {
            tracing::error!(error = %e, "API keys unavailable");
            ApiError::Internal
        })?;
        let path_and_query = signed_path(req);
        let request = SignedRequest {
            method: req.method().as_str(),
            path_and_query: &path_and_query,
            body,
        };
        let key = signature::verify(
            &keys,
            &header,
            &request,
            Utc::now().timestamp(),
            self.config.signature_tolerance_secs,
        )
        .map_err(ApiError::Unauthorized)?;
        if let Some(needed) = operation.scope()
            && !key.scope.allows(needed)
        {
            tracing::warn!(key = %key.id, needed = needed.as_str(), "key lacks the scope");
            return Err(ApiError::Forbidden { needed });
        }
        if !body.is_empty() {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json");
            if !content_type.to_ascii_lowercase().contains("json") {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
        Ok((body, key.id.clone()))
    }
}

/// The path with its query as the client sent them: API Gateway's raw path when the
/// request came through it, percent-encoding untouched.
fn signed_path(req: &Request) -> String {
    use lambda_http::RequestExt;
    let raw = req.raw_http_path();
    let path = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

impl<S: PurchaseStore + CouponUseStore + ProgramReadStore> Api<S> {
    /// `POST /v1/events/purchase`
    pub async fn purchase(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.authenticate(&req, Operation::Purchase).await?;
            let event = parse_json::<PurchaseInput>(body)?.validate()?;
            let rules = self.rules().await?;
            let mut receipt = service::record_purchase(&self.store, &rules.loyalty, &rules.referrals, &event, Utc::now()).await?;
            // After the purchase, on every delivery: a retry finds the same use again.
            receipt.coupons = service::use_coupons(&self.store, &event, Utc::now()).await?;
            tracing::info!(event_id = %event.event_id, duplicate = receipt.duplicate, points = receipt.points_delta, "purchase event");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

impl<S: ProfileViewStore + ProgramReadStore> Api<S> {
    /// `GET /v1/customers/{id}`
    pub async fn customer(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::Customer).await?;
            let id = customer_in_path(&req)?;
            let (profile, scores) = self.store.profile_and_scores(&id).await?;
            let profile = profile
                .ok_or_else(|| ApiError::NotFound(format!("customer {id} does not exist")))?;
            let rules = self.rules().await?;
            let expiry = rules.reviews.recovery_expiry_days;
            let view = ProfileView::new(&profile.value, rules.loyalty.currency, expiry, Utc::now());
            Ok(view
                .with_scores(scores)
                .under_program(&profile.value, &rules))
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

impl<S: RedemptionStore + ProgramReadStore> Api<S> {
    /// `POST /v1/customers/{id}/redemptions`
    pub async fn redemption(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.authenticate(&req, Operation::Redemption).await?;
            let id = customer_in_path(&req)?;
            let request = parse_json::<RedemptionInput>(body)?.validate(id)?;
            let rules = self.rules().await?;
            let receipt = service::redeem(
                &self.store,
                &rules.loyalty,
                &rules.rewards,
                &request,
                Utc::now(),
            )
            .await?;
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

impl<S: ReviewStore + ProgramReadStore> Api<S> {
    /// `POST /v1/events/review`
    pub async fn review(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.authenticate(&req, Operation::Review).await?;
            let event = parse_json::<ReviewInput>(body)?.validate()?;
            let rules = self.rules().await?;
            let result = service::record_review(
                &self.store,
                &rules.loyalty,
                &rules.reviews,
                &event,
                Utc::now(),
            )
            .await?;
            if let Some(alert) = &result.alert {
                // The review is recorded either way; a failed alert is logged for
                // operators rather than failing the storefront's request.
                if let Err(e) = self.alerts.send_recovery_alert(alert).await {
                    tracing::error!(error = %e, customer = %alert.customer_id, "service-recovery alert not sent");
                }
            }
            tracing::info!(event_id = %event.event_id, duplicate = result.receipt.duplicate,
                verified = result.receipt.verified, points = result.receipt.points_awarded, "review event");
            Ok(result.receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

impl<S: ProfileStore> Api<S> {
    /// `POST /v1/customers/{id}/recovery`: support has followed up; promotions resume.
    pub async fn recovery(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::Recovery).await?;
            let id = customer_in_path(&req)?;
            let profile = service::clear_recovery(&self.store, &id, Utc::now()).await?;
            // The flag is cleared: when it would have lapsed does not matter.
            let expiry = self.config.reviews.recovery_expiry_days;
            Ok(ProfileView::new(
                &profile,
                self.config.rules.currency,
                expiry,
                Utc::now(),
            ))
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

/// `GET /v1/customers/{id}/referral-code`.
#[derive(Serialize)]
struct ReferralCodeView {
    customer_id: CustomerId,
    code: String,
}

impl<S: ReferralCodeStore> Api<S> {
    /// `GET /v1/customers/{id}/referral-code`: created on first call, stable after.
    pub async fn referral_code(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::ReferralCode).await?;
            let id = customer_in_path(&req)?;
            let code = service::referral_code(&self.store, &id, Utc::now()).await?;
            Ok(ReferralCodeView {
                customer_id: id,
                code,
            })
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

impl<S: ReferralStore + ProgramReadStore> Api<S> {
    /// `POST /v1/events/referral`
    pub async fn referral(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.authenticate(&req, Operation::Referral).await?;
            let event = parse_json::<ReferralInput>(body)?.validate()?;
            let rules = self.rules().await?;
            let receipt = service::record_referral(
                &self.store,
                &rules.loyalty,
                &rules.referrals,
                &event,
                Utc::now(),
            )
            .await?;
            tracing::info!(event_id = %event.event_id, duplicate = receipt.duplicate,
                status = ?receipt.status, "referral event");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

/// Whether `path` matches a route pattern with `{param}` segments.
fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(pat), Some(seg)) if pat.starts_with('{') => {
                if seg.is_empty() {
                    return false;
                }
            }
            (Some(pat), Some(seg)) if pat == seg => {}
            _ => return false,
        }
    }
}

impl<S: Store> Api<S> {
    /// Serves one operation; what a Lambda function does with every invocation.
    pub async fn call(&self, operation: Operation, req: Request) -> Response<Body> {
        match operation {
            Operation::Purchase => self.purchase(req).await,
            Operation::Customer => self.customer(req).await,
            Operation::Redemption => self.redemption(req).await,
            Operation::Review => self.review(req).await,
            Operation::Recovery => self.recovery(req).await,
            Operation::ReferralCode => self.referral_code(req).await,
            Operation::Referral => self.referral(req).await,
            Operation::Unsubscribe => self.unsubscribe(req).await,
            Operation::Privacy => self.privacy(req).await,
            Operation::Coupon => self.coupon(req).await,
            Operation::ShopifyWebhook => self.shopify(req).await,
            Operation::WooCommerceWebhook => self.woocommerce(req).await,
            Operation::Program => self.program(req).await,
            Operation::Activity => self.activity(req).await,
            Operation::ReportPage | Operation::Report => self.report(req).await,
        }
    }

    /// Dispatches by method and path, as API Gateway does in the cloud. Used by the
    /// local server and by tests that exercise the whole API.
    pub async fn route(&self, req: Request) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let candidates: Vec<_> = ROUTES
            .iter()
            .filter(|(_, pattern, _)| matches(pattern, &path))
            .collect();
        match candidates
            .iter()
            .find(|(m, _, _)| *m == req.method().as_str())
        {
            Some((_, _, operation)) => self.call(*operation, req).await,
            None if candidates.is_empty() => {
                ApiError::NotFound(format!("no route for {path}")).into_response()
            }
            // `Allow` names every method the path has, not just the first.
            None => ApiError::MethodNotAllowed {
                allow: candidates
                    .iter()
                    .map(|(m, _, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns() {
        assert!(matches("/v1/customers/{id}", "/v1/customers/c1"));
        assert!(!matches("/v1/customers/{id}", "/v1/customers/"));
        assert!(!matches(
            "/v1/customers/{id}",
            "/v1/customers/c1/redemptions"
        ));
        assert!(matches(
            "/v1/customers/{id}/redemptions",
            "/v1/customers/c1/redemptions"
        ));
    }
}
