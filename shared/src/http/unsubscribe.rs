//! `GET /v1/unsubscribe?token=…` shows a confirmation page; `POST` (a mail client's
//! RFC 8058 one-click request, or the page's button) withdraws marketing consent.
//!
//! These are the only routes without a request signature: the customer's browser or
//! mail client calls them, and the token in the link is the credential.

use chrono::Utc;
use http::{HeaderValue, Method, header};
use lambda_http::{Body, Request, Response};

use super::{Api, ApiError};
use crate::auth::unsubscribe;
use crate::domain::{CustomerId, Profile};
use crate::mail::render::{UnsubscribePage, unsubscribe_page};
use crate::service;
use crate::store::ProfileStore;

/// The page as an HTML response, never cached: it is per customer.
fn page(locale: Option<&str>, state: UnsubscribePage) -> Result<Response<Body>, ApiError> {
    let html = unsubscribe_page(locale, state).map_err(|e| {
        tracing::error!(error = %e, "unsubscribe page not rendered");
        ApiError::Internal
    })?;
    let mut response = Response::new(Body::from(html));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

impl<S: ProfileStore> Api<S> {
    /// `GET` and `POST /v1/unsubscribe?token=…`
    pub async fn unsubscribe(&self, req: Request) -> Response<Body> {
        let result = async {
            let token = super::query_param(&req, "token").ok_or(ApiError::InvalidToken)?;
            let keys = self.unsubscribe_keys.get().await.map_err(|e| {
                tracing::error!(error = %e, "unsubscribe keys unavailable");
                ApiError::Internal
            })?;
            let customer: CustomerId =
                unsubscribe::verify(&keys, &token, Utc::now()).ok_or(ApiError::InvalidToken)?;
            let profile = self.store.profile(&customer).await?.map(|p| p.value);
            let locale = profile
                .as_ref()
                .and_then(|p: &Profile| p.locale.as_ref())
                .map(|l| l.as_str().to_owned());
            if req.method() == Method::POST {
                service::unsubscribe(&self.store, &customer, Utc::now()).await?;
                tracing::info!(customer = %customer, "unsubscribed");
                return page(locale.as_deref(), UnsubscribePage::Done);
            }
            page(locale.as_deref(), UnsubscribePage::Ask)
        }
        .await;
        let result: Result<Response<Body>, ApiError> = result;
        match result {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    }
}
