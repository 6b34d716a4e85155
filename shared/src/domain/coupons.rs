//! The coupons Rapport issues — for points (a redemption) and with messages (a win-back
//! offer) — as a checkout sees them: whose they are, what they are worth, until when,
//! and whether an order has used them. One order uses a coupon; a second use is refused
//! and recorded, never counted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::storefront::codes::StoreSyncs;
use super::{CustomerId, FieldError, OrderId, Sku};

/// Most codes one order may name.
pub const MAX_CODES_PER_ORDER: usize = 20;

/// What a coupon takes off an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CouponTerms {
    /// A fixed amount, in the shop's minor units.
    AmountOff { value_minor: i64 },
    /// A share of the order, at most `max_value_minor`.
    PercentOff { percent: u32, max_value_minor: i64 },
    /// The order ships free.
    FreeShipping,
    /// One unit of a product, free.
    FreeProduct { sku: Sku },
}

/// The order that used a coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponUse {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
}

/// Why a coupon may not be used (or was not, by the order that named it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CouponProblem {
    Unknown,
    Expired,
    Used,
    WrongCustomer,
    /// The order spends less than the coupon's minimum.
    BelowMinimum,
}

/// The latest order that named a coupon it could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponRefusal {
    pub order_id: OrderId,
    pub problem: CouponProblem,
    pub at: DateTime<Utc>,
}

/// What an order did with one of Rapport's codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponOutcome {
    pub code: String,
    pub outcome: CouponOutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<CouponProblem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponOutcomeKind {
    /// The order used it (now, or on an earlier delivery of the same order).
    Used,
    /// The order may not use it; recorded on the coupon.
    Refused,
}

/// An issued coupon. Codes issued before their terms were stored carry only their
/// customer: such a coupon is valid, with unknown terms and no expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    #[serde(default)]
    pub code: String,
    pub customer_id: CustomerId,
    #[serde(default)]
    pub terms: Option<CouponTerms>,
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// What issued it: `redemption:<id>` or `message:<kind>:<period>`.
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub used: Option<CouponUse>,
    #[serde(default)]
    pub refused: Option<CouponRefusal>,
    /// The least an order must spend (goods, minor units) to use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_minor: Option<i64>,
    /// The stores that confirmed they hold the code.
    #[serde(flatten, default)]
    pub synced: StoreSyncs,
}

/// A code as customers type it and checkouts send it: trimmed, upper case.
pub fn normalise(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// The codes an order names that could be Rapport's, normalised, each once. A code of
/// another shape (the shop's own `SUMMER SALE`, say) cannot be one Rapport issued and is
/// left out rather than refused: the order must count whatever the shop calls its codes.
pub fn order_codes(field: &str, raw: &[String]) -> Result<Vec<String>, FieldError> {
    if raw.len() > MAX_CODES_PER_ORDER {
        return Err(FieldError::new(
            field,
            format!("must have at most {MAX_CODES_PER_ORDER} entries"),
        ));
    }
    let mut codes: Vec<String> = Vec::with_capacity(raw.len());
    for code in raw {
        let code = normalise(code);
        let ours = (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ours && !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

impl Coupon {
    /// Why `order` by `customer` may not use this coupon now; `None` when it may (or
    /// already did — the same order naming it again). Without a customer or an order
    /// (a checkout asking in general), only what holds for everyone is checked.
    pub fn problem(
        &self,
        customer: Option<&CustomerId>,
        order: Option<&OrderId>,
        now: DateTime<Utc>,
    ) -> Option<CouponProblem> {
        if let Some(used) = &self.used {
            return match order {
                Some(order) if *order == used.order_id => None,
                _ => Some(CouponProblem::Used),
            };
        }
        if customer.is_some_and(|c| *c != self.customer_id) {
            return Some(CouponProblem::WrongCustomer);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Some(CouponProblem::Expired);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn coupon() -> Coupon {
        Coupon {
            code: "K7QX2M9PZT".into(),
            customer_id: CustomerId::parse("c", "asha").unwrap(),
            terms: Some(CouponTerms::AmountOff { value_minor: 500 }),
            issued_at: Some(at("2026-11-01T00:00:00Z")),
            expires_at: Some(at("2027-01-30T00:00:00Z")),
            origin: Some("redemption:r-1".into()),
            used: None,
            refused: None,
            min_order_minor: None,
            synced: StoreSyncs::default(),
        }
    }

    #[test]
    fn a_coupon_is_for_its_customer_until_it_expires_or_an_order_uses_it() {
        let now = at("2026-12-01T00:00:00Z");
        let asha = CustomerId::parse("c", "asha").unwrap();
        let kim = CustomerId::parse("c", "kim").unwrap();
        let order = OrderId::parse("o", "o-1").unwrap();
        let other = OrderId::parse("o", "o-2").unwrap();
        let c = coupon();
        assert_eq!(c.problem(None, None, now), None);
        assert_eq!(c.problem(Some(&asha), Some(&order), now), None);
        assert_eq!(
            c.problem(Some(&kim), Some(&order), now),
            Some(CouponProblem::WrongCustomer)
        );
        assert_eq!(
            c.problem(Some(&asha), None, at("2027-01-30T00:00:00Z")),
            Some(CouponProblem::Expired)
        );
        let used = Coupon {
            used: Some(CouponUse {
                order_id: order.clone(),
                at: now,
            }),
            ..c
        };
        assert_eq!(
            used.problem(Some(&asha), Some(&order), now),
            None,
            "the same order"
        );
        assert_eq!(
            used.problem(Some(&asha), Some(&other), now),
            Some(CouponProblem::Used)
        );
        assert_eq!(used.problem(None, None, now), Some(CouponProblem::Used));
    }

    #[test]
    fn codes_are_normalised_once_each_and_only_rapport_shaped_ones_kept() {
        let codes = order_codes(
            "coupon_codes",
            &[
                " k7qx2m9pzt ".into(),
                "K7QX2M9PZT".into(),
                "welcome10".into(),
            ],
        )
        .unwrap();
        assert_eq!(codes, ["K7QX2M9PZT", "WELCOME10"]);
        let shops_own = order_codes("coupon_codes", &["ok".into(), "SUMMER SALE".into()]).unwrap();
        assert_eq!(
            shops_own,
            ["OK"],
            "a code of another shape is the shop's own"
        );
        let many: Vec<String> = (0..21).map(|n| format!("C{n}")).collect();
        assert_eq!(
            order_codes("coupon_codes", &many).unwrap_err().field,
            "coupon_codes"
        );
    }

    #[test]
    fn a_claim_from_before_terms_reads_as_a_valid_coupon_of_unknown_terms() {
        let legacy: Coupon = serde_json::from_str(r#"{"customer_id": "asha"}"#).unwrap();
        assert_eq!(legacy.terms, None);
        assert_eq!(legacy.problem(None, None, at("2030-01-01T00:00:00Z")), None);
    }
}
