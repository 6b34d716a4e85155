//! `GET /v1/coupons/{code}`: what a storefront's checkout (or its extension) asks before
//! taking one of Rapport's codes — valid or not and why, what it is worth, until when.
//! `?customer_id=` also checks that the code is that customer's.

use chrono::{DateTime, Utc};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{Api, ApiError, Operation, percent_decode, query_param, respond};
use crate::domain::{CouponProblem, CouponTerms, Currency, CustomerId, FieldError, OrderId};
use crate::service;
use crate::store::CouponStore;

/// The answer about one code.
#[derive(Debug, Serialize)]
pub struct CouponView {
    pub code: String,
    pub valid: bool,
    /// Why not: `unknown`, `expired`, `used` or `wrong-customer`.
    pub reason: Option<CouponProblem>,
    /// `amount_off` or `percent_off`, with its value; `null` for a code issued before
    /// coupons carried their terms.
    pub terms: Option<CouponTerms>,
    pub currency: Currency,
    /// The least an order must spend on goods to use it, when the reward sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_order_minor: Option<i64>,
    pub customer_id: Option<CustomerId>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The order that used it.
    pub used_by_order: Option<OrderId>,
}

impl<S: CouponStore> Api<S> {
    /// `GET /v1/coupons/{code}`
    pub async fn coupon(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::Coupon).await?;
            let code = code_in_path(&req)?;
            let customer = query_param(&req, "customer_id")
                .map(|c| CustomerId::parse("customer_id", &c))
                .transpose()?;
            let check =
                service::check_coupon(&self.store, &code, customer.as_ref(), Utc::now()).await?;
            let coupon = check.coupon.as_ref();
            Ok(CouponView {
                code: check.code.clone(),
                valid: check.problem.is_none(),
                reason: check.problem,
                terms: coupon.and_then(|c| c.terms.clone()),
                min_order_minor: coupon.and_then(|c| c.min_order_minor),
                currency: self.config.rules.currency,
                customer_id: coupon.map(|c| c.customer_id.clone()),
                expires_at: coupon.and_then(|c| c.expires_at),
                used_by_order: coupon.and_then(|c| c.used.as_ref().map(|u| u.order_id.clone())),
            })
        }
        .await;
        respond(StatusCode::OK, result)
    }
}

fn code_in_path(req: &Request) -> Result<String, ApiError> {
    let raw = req
        .uri()
        .path()
        .strip_prefix("/v1/coupons/")
        .unwrap_or_default();
    let code = percent_decode(raw)
        .ok_or_else(|| FieldError::new("code", "is not valid percent-encoding"))?;
    let fine = (1..=64).contains(&code.trim().len())
        && code
            .trim()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !fine {
        return Err(FieldError::new("code", "must be 1-64 letters, digits, - or _").into());
    }
    Ok(code)
}
