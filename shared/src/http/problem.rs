//! The HTTP boundary's one error enum and the one place it becomes a status code and an
//! RFC 9457 `application/problem+json` body. Messages name the offending field; store
//! and SDK details go to the log, never to the client.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::auth::keys::Scope;
use crate::auth::signature::SignatureError;
use crate::domain::{DomainError, FieldError};
use crate::service::ServiceError;
use crate::store::StoreError;

/// Base of every problem `type` URI; the slugs after it are part of the v1 contract.
pub const PROBLEM_BASE: &str = "https://rapport.dev/problems/";

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(SignatureError),
    /// A storefront platform's webhook whose signature or shop is not the configured
    /// one; says which header.
    WebhookRejected(&'static str),
    /// A valid signature by a key whose scope does not cover the operation.
    Forbidden {
        needed: Scope,
    },
    /// The body is not JSON at all (syntax error, truncated).
    MalformedJson(String),
    /// The body is not UTF-8.
    Encoding,
    /// A field is missing, of the wrong type or out of range.
    Invalid(FieldError),
    TooLarge {
        limit: usize,
    },
    UnsupportedMediaType,
    NotFound(String),
    MethodNotAllowed {
        /// Every method the path has, e.g. `GET, POST`.
        allow: String,
    },
    UnknownOrder(String),
    UnknownReferralCode,
    /// A missing, forged or expired link token (unsubscribe, report).
    InvalidToken,
    OrderExists(String),
    KeyReused(&'static str),
    InsufficientPoints {
        balance: i64,
        requested: i64,
    },
    /// A document that breaks rules: every problem, each named by its JSON path.
    InvalidDocument(Vec<FieldError>),
    /// A change that must name the version it edits (`If-Match`) did not.
    PreconditionRequired,
    /// The version the change names is no longer the one in force.
    StaleVersion {
        current: u64,
    },
    /// Busy or unreachable database: retry after a moment.
    Unavailable,
    Internal,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// Every problem of a document, when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, String, Option<&str>) {
        use ApiError::*;
        match self {
            Unauthorized(e) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Request signature rejected",
                e.to_string(),
                None,
            ),
            WebhookRejected(why) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Webhook rejected",
                (*why).to_owned(),
                None,
            ),
            Forbidden { needed } => (
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "The key may not do this",
                format!(
                    "this operation needs a key with the {} scope",
                    needed.as_str()
                ),
                None,
            ),
            MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON",
                detail.clone(),
                Some("body"),
            ),
            Encoding => (
                StatusCode::BAD_REQUEST,
                "invalid-encoding",
                "The body is not UTF-8",
                "request bodies must be UTF-8 encoded JSON".into(),
                Some("body"),
            ),
            Invalid(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "A field is invalid",
                e.to_string(),
                Some(e.field.as_str()),
            ),
            TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
                format!("bodies are limited to {limit} bytes"),
                Some("body"),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send application/json",
                "the Content-Type must be application/json".into(),
                None,
            ),
            NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                what.clone(),
                None,
            ),
            MethodNotAllowed { allow } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                format!("allowed: {allow}"),
                None,
            ),
            UnknownOrder(order) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-order",
                "The order is not known",
                format!("order {order} has not been recorded for this customer"),
                Some("order_id"),
            ),
            InvalidToken => (
                StatusCode::FORBIDDEN,
                "invalid-token",
                "The link is not valid",
                "the link is incomplete, was altered or has expired".into(),
                Some("token"),
            ),
            UnknownReferralCode => (
                StatusCode::NOT_FOUND,
                "unknown-referral-code",
                "The referral code is not known",
                "no customer has this referral code".into(),
                Some("referral_code"),
            ),
            OrderExists(order) => (
                StatusCode::CONFLICT,
                "order-exists",
                "The order was already recorded",
                format!("order {order} was recorded by a different event"),
                Some("order_id"),
            ),
            KeyReused(field) => (
                StatusCode::CONFLICT,
                "idempotency-key-reused",
                "The id was used for a different request",
                format!("{field} was already used with a different body"),
                Some(field),
            ),
            InsufficientPoints { balance, requested } => (
                StatusCode::CONFLICT,
                "insufficient-points",
                "Not enough points",
                format!("the balance is {balance} points, {requested} requested"),
                Some("points"),
            ),
            InvalidDocument(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-document",
                "The document is invalid",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                problems.first().map(|p| p.field.as_str()),
            ),
            PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "Say which version you edit",
                "send If-Match with the ETag of the version you read".into(),
                Some("If-Match"),
            ),
            StaleVersion { current } => (
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "The program changed since you read it",
                format!("version {current} is in force; read it and apply your change to it"),
                Some("If-Match"),
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                "the request was not applied; retry it with the same body".into(),
                None,
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request failed; it is safe to retry with the same body".into(),
                None,
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn into_response(self) -> Response<Body> {
        let (status, slug, title, detail, field) = self.parts();
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail,
            field,
            errors: match &self {
                ApiError::InvalidDocument(problems) => Some(problems.as_slice()),
                _ => None,
            },
        };
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| String::from("{}"));
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        super::no_store(headers);
        match &self {
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::MethodNotAllowed { allow } => {
                // Route methods are plain tokens, so this always converts.
                if let Ok(allow) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, allow);
                }
            }
            ApiError::StaleVersion { current } => {
                if let Ok(etag) = HeaderValue::from_str(&format!("\"{current}\"")) {
                    headers.insert(header::ETAG, etag);
                }
            }
            ApiError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Rapport-Signature"),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Internal(detail) => {
                tracing::error!(%detail, "store failure");
                ApiError::Internal
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Domain(DomainError::Invalid(f)) => ApiError::Invalid(f),
            ServiceError::Domain(DomainError::OrderExists(o)) => ApiError::OrderExists(o),
            ServiceError::Domain(DomainError::UnknownOrder(o)) => ApiError::UnknownOrder(o),
            ServiceError::Domain(DomainError::InsufficientPoints { balance, requested }) => {
                ApiError::InsufficientPoints { balance, requested }
            }
            ServiceError::UnknownCustomer => {
                ApiError::NotFound("the customer does not exist".into())
            }
            ServiceError::UnknownReferralCode => ApiError::UnknownReferralCode,
            ServiceError::KeyReused(field) => ApiError::KeyReused(field),
            ServiceError::Contention => {
                tracing::warn!("gave up after repeated write conflicts");
                ApiError::Unavailable
            }
            ServiceError::Store(e) => e.into(),
        }
    }
}
