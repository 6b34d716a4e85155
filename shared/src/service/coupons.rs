//! Coupons at checkout: whether a code may be used, and marking Rapport's codes used by
//! the order that carries them — once, whichever delivery of the order arrives first.

use chrono::{DateTime, Utc};

use super::ServiceError;
use crate::domain::{
    Coupon, CouponOutcome, CouponOutcomeKind, CouponProblem, CouponRefusal, CouponUse, CustomerId,
    PurchaseEvent, PurchaseKind,
};
use crate::store::{CommitError, CouponStore, CouponUseStore};

/// What a checkout learns about a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponCheck {
    pub code: String,
    pub coupon: Option<Coupon>,
    /// Why it may not be used now; `None`: it may.
    pub problem: Option<CouponProblem>,
}

/// Whether `code` may be used now, by `customer` when named.
pub async fn check_coupon<S: CouponStore + ?Sized>(
    store: &S,
    code: &str,
    customer: Option<&CustomerId>,
    now: DateTime<Utc>,
) -> Result<CouponCheck, ServiceError> {
    let code = crate::domain::coupons::normalise(code);
    let coupon = store.coupon(&code).await?;
    let problem = match &coupon {
        Some(coupon) => coupon.problem(customer, None, now),
        None => Some(CouponProblem::Unknown),
    };
    Ok(CouponCheck {
        code,
        coupon,
        problem,
    })
}

/// Marks the Rapport coupons among `event`'s codes used by its order. A code Rapport
/// did not issue (the shop's own) is left alone; one the order may not use (another
/// customer's, expired, used by another order) is refused and recorded on the coupon.
/// Safe to repeat: the same order's use is found again, not made twice.
pub async fn use_coupons<S: CouponUseStore + ?Sized>(
    store: &S,
    event: &PurchaseEvent,
    now: DateTime<Utc>,
) -> Result<Vec<CouponOutcome>, ServiceError> {
    if event.kind != PurchaseKind::Purchase {
        return Ok(Vec::new());
    }
    let mut outcomes = Vec::new();
    for code in &event.coupon_codes {
        if let Some(outcome) = use_coupon(store, code, event, now).await? {
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

async fn use_coupon<S: CouponUseStore + ?Sized>(
    store: &S,
    code: &str,
    event: &PurchaseEvent,
    now: DateTime<Utc>,
) -> Result<Option<CouponOutcome>, ServiceError> {
    let (customer, order) = (&event.customer_id, &event.order_id);
    // Two orders racing for one code: the loser reads again and sees it used.
    for _ in 0..3 {
        let Some(coupon) = store.coupon(code).await? else {
            return Ok(None);
        };
        let below_minimum = coupon.used.is_none()
            && coupon
                .min_order_minor
                .is_some_and(|least| event.total.minor < least);
        let problem = coupon
            .problem(Some(customer), Some(order), now)
            .or(below_minimum.then_some(CouponProblem::BelowMinimum));
        if let Some(problem) = problem {
            let refusal = CouponRefusal {
                order_id: order.clone(),
                problem,
                at: now,
            };
            store.refuse_coupon(code, &refusal).await?;
            tracing::warn!(code, order = %order, ?problem, "an order named a coupon it may not use");
            return Ok(Some(CouponOutcome {
                code: code.to_owned(),
                outcome: CouponOutcomeKind::Refused,
                problem: Some(problem),
            }));
        }
        if coupon.used.is_some() {
            // This order's own use, seen again.
            return Ok(Some(used(code)));
        }
        let use_ = CouponUse {
            order_id: order.clone(),
            at: now,
        };
        match store.use_coupon(code, &use_).await {
            Ok(()) => return Ok(Some(used(code))),
            Err(CommitError::Conflict) => continue,
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(_) => return Err(ServiceError::Contention),
        }
    }
    Err(ServiceError::Contention)
}

fn used(code: &str) -> CouponOutcome {
    CouponOutcome {
        code: code.to_owned(),
        outcome: CouponOutcomeKind::Used,
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CouponTerms;
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn order(order: &str, customer: &str, codes: &[&str]) -> PurchaseEvent {
        let body = serde_json::json!({
            "event_id": order, "kind": "purchase", "customer_id": customer, "order_id": order,
            "occurred_at": "2026-12-01T12:00:00Z", "currency": "USD", "total_minor": 1000,
            "items": [{"sku": "TEA", "quantity": 1, "unit_price_minor": 1000}],
            "coupon_codes": codes,
        });
        serde_json::from_value::<crate::domain::PurchaseInput>(body)
            .unwrap()
            .validate()
            .unwrap()
    }

    #[tokio::test]
    async fn one_order_uses_a_coupon_and_the_next_is_refused_and_recorded() {
        let store = MemoryStore::new();
        store.put_coupon(Coupon {
            code: "K7QX2M9PZT".into(),
            customer_id: CustomerId::parse("c", "asha").unwrap(),
            terms: Some(CouponTerms::AmountOff { value_minor: 500 }),
            issued_at: Some(at("2026-11-01T00:00:00Z")),
            expires_at: Some(at("2027-01-30T00:00:00Z")),
            origin: None,
            used: None,
            refused: None,
            min_order_minor: None,
            synced: Default::default(),
        });
        let now = at("2026-12-01T12:00:00Z");
        let first = order("o-1", "asha", &["k7qx2m9pzt", "SHOPCODE"]);
        let outcomes = use_coupons(&store, &first, now).await.unwrap();
        assert_eq!(
            outcomes,
            [used("K7QX2M9PZT")],
            "the shop's own code is left alone"
        );
        // The same order again (a redelivery): the same use, not a second.
        assert_eq!(use_coupons(&store, &first, now).await.unwrap(), outcomes);
        let second = order("o-2", "asha", &["K7QX2M9PZT"]);
        let refused = use_coupons(&store, &second, now).await.unwrap();
        assert_eq!(refused[0].problem, Some(CouponProblem::Used));
        let coupon = store.coupon("K7QX2M9PZT").await.unwrap().unwrap();
        assert_eq!(coupon.used.unwrap().order_id.as_str(), "o-1");
        assert_eq!(coupon.refused.unwrap().order_id.as_str(), "o-2");
        let check = check_coupon(&store, " k7qx2m9pzt", None, now)
            .await
            .unwrap();
        assert_eq!(check.problem, Some(CouponProblem::Used));
        let unknown = check_coupon(&store, "NOPE", None, now).await.unwrap();
        assert_eq!(unknown.problem, Some(CouponProblem::Unknown));
    }
}
