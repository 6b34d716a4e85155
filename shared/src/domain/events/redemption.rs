//! Spending points on a coupon.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fields::required;
use crate::domain::{
    Coupon, CouponTerms, Currency, CustomerId, DomainError, FieldError, LedgerEntry, LedgerReason,
    LoyaltyRules, Profile, RedemptionId, program::Reward,
};

/// Most points one redemption may spend; bounds the coupon value a single call mints.
pub const MAX_REDEMPTION_POINTS: i64 = 1_000_000;

/// The JSON body of `POST /v1/customers/{id}/redemptions` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RedemptionInput {
    pub redemption_id: Option<String>,
    /// Must name the customer of the path, so a captured body means nothing on
    /// another customer's path.
    pub customer_id: Option<String>,
    /// Points for their value off; or, instead, a reward of the program's catalogue.
    pub points: Option<i64>,
    pub reward_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedemptionRequest {
    pub customer_id: CustomerId,
    pub redemption_id: RedemptionId,
    /// The points spent for their value; 0 for a reward, whose price the program sets.
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_id: Option<String>,
}

impl RedemptionInput {
    /// Validates the body sent to `customer_id`'s path.
    pub fn validate(self, customer_id: CustomerId) -> Result<RedemptionRequest, FieldError> {
        let redemption_id = RedemptionId::parse(
            "redemption_id",
            &required("redemption_id", self.redemption_id)?,
        )?;
        let named = CustomerId::parse("customer_id", &required("customer_id", self.customer_id)?)?;
        if named != customer_id {
            return Err(FieldError::new(
                "customer_id",
                "must be the customer in the path",
            ));
        }
        if let Some(reward) = self.reward_id {
            if self.points.is_some() {
                return Err(FieldError::new(
                    "points",
                    "must not be given with reward_id: the reward sets its price",
                ));
            }
            let sound = (1..=40).contains(&reward.len())
                && reward
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !sound {
                return Err(FieldError::new("reward_id", "is not a reward id"));
            }
            return Ok(RedemptionRequest {
                customer_id,
                redemption_id,
                points: 0,
                reward_id: Some(reward),
            });
        }
        let points = required("points", self.points)?;
        if !(1..=MAX_REDEMPTION_POINTS).contains(&points) {
            return Err(FieldError::new(
                "points",
                format!("must be between 1 and {MAX_REDEMPTION_POINTS}"),
            ));
        }
        Ok(RedemptionRequest {
            customer_id,
            redemption_id,
            points,
            reward_id: None,
        })
    }
}

/// A stored redemption and its coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub redemption_id: RedemptionId,
    pub coupon_code: String,
    pub points: i64,
    /// The value off for points; 0 for a reward that is not an amount off.
    pub value_minor: i64,
    /// The catalogue's reward it bought, with its coupon's terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<CouponTerms>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_minor: Option<i64>,
    pub currency: Currency,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The response body; a retry with the same redemption id gets it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionReceipt {
    pub customer_id: CustomerId,
    pub duplicate: bool,
    #[serde(flatten)]
    pub redemption: Redemption,
    pub points_balance: i64,
}

impl RedemptionReceipt {
    /// The receipt as answered to a delivery: `replayed` when it is the stored answer of
    /// an earlier delivery of the same event.
    pub fn replayed(mut self, replayed: bool) -> Self {
        self.duplicate = replayed;
        self
    }
}

impl Redemption {
    /// The coupon a checkout sees: this redemption's value off, until it expires.
    pub fn coupon(&self, customer: &CustomerId) -> Coupon {
        Coupon {
            code: self.coupon_code.clone(),
            customer_id: customer.clone(),
            terms: Some(self.terms.clone().unwrap_or(CouponTerms::AmountOff {
                value_minor: self.value_minor,
            })),
            issued_at: Some(self.created_at),
            expires_at: Some(self.expires_at),
            origin: Some(format!("redemption:{}", self.redemption_id)),
            used: None,
            refused: None,
            min_order_minor: self.min_order_minor,
            synced: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionOutcome {
    pub profile: Profile,
    /// Released held rewards, then the redemption's own entry.
    pub ledger: Vec<LedgerEntry>,
    pub redemption: Redemption,
    pub receipt: RedemptionReceipt,
}

impl RedemptionRequest {
    /// Spends the points on the coupon: `reward` is the catalogue's reward the request
    /// names (the caller looks it up; `None` for one the catalogue lacks).
    pub fn apply(
        &self,
        mut profile: Profile,
        coupon_code: String,
        rules: &LoyaltyRules,
        reward: Option<&Reward>,
        now: DateTime<Utc>,
    ) -> Result<RedemptionOutcome, DomainError> {
        let bought = match (&self.reward_id, reward) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(
                    FieldError::new("reward_id", "is not in the program's catalogue").into(),
                );
            }
            (Some(id), Some(reward)) => {
                let times = profile.rewards_redeemed.get(id).copied().unwrap_or(0);
                if let Some(why) = reward.refusal(&profile.tier, times, now) {
                    return Err(FieldError::new("reward_id", why).into());
                }
                Some(reward)
            }
        };
        let price = bought.map_or(self.points, |r| r.points);
        let mut ledger = profile.release_due(now);
        if profile.points_balance < price {
            return Err(DomainError::InsufficientPoints {
                balance: profile.points_balance,
                requested: price,
            });
        }
        ledger.push(profile.post(
            -price,
            LedgerReason::Redemption,
            self.redemption_id.to_string(),
            self.redemption_id.to_string(),
            now,
        ));
        profile.redemption_days.insert(now.date_naive());
        profile.updated_at = now;
        let redemption = match bought {
            None => Redemption {
                redemption_id: self.redemption_id.clone(),
                coupon_code,
                points: price,
                value_minor: price.saturating_mul(rules.point_value_minor),
                reward_id: None,
                terms: None,
                min_order_minor: None,
                currency: rules.currency,
                created_at: now,
                expires_at: now + Duration::days(rules.coupon_valid_days),
            },
            Some(reward) => {
                *profile
                    .rewards_redeemed
                    .entry(reward.id.clone())
                    .or_default() += 1;
                let terms = reward.terms()?;
                Redemption {
                    redemption_id: self.redemption_id.clone(),
                    coupon_code,
                    points: price,
                    value_minor: match &terms {
                        CouponTerms::AmountOff { value_minor } => *value_minor,
                        _ => 0,
                    },
                    reward_id: Some(reward.id.clone()),
                    terms: Some(terms),
                    min_order_minor: (reward.min_order_minor > 0).then_some(reward.min_order_minor),
                    currency: rules.currency,
                    created_at: now,
                    expires_at: now + Duration::days(reward.valid_days),
                }
            }
        };
        let receipt = RedemptionReceipt {
            customer_id: self.customer_id.clone(),
            duplicate: false,
            redemption: redemption.clone(),
            points_balance: profile.points_balance,
        };
        Ok(RedemptionOutcome {
            profile,
            ledger,
            redemption,
            receipt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_points() {
        let c = CustomerId::parse("id", "c1").unwrap();
        let input = |p| RedemptionInput {
            redemption_id: Some("r1".into()),
            customer_id: Some("c1".into()),
            points: p,
            reward_id: None,
        };
        assert_eq!(input(None).validate(c.clone()).unwrap_err().field, "points");
        let elsewhere = RedemptionInput {
            customer_id: Some("c2".into()),
            ..input(Some(10))
        };
        assert_eq!(
            elsewhere.validate(c.clone()).unwrap_err().field,
            "customer_id"
        );
        let unnamed = RedemptionInput {
            customer_id: None,
            ..input(Some(10))
        };
        assert_eq!(
            unnamed.validate(c.clone()).unwrap_err().field,
            "customer_id"
        );
        assert_eq!(
            input(Some(0)).validate(c.clone()).unwrap_err().field,
            "points"
        );
        assert!(input(Some(10)).validate(c).is_ok());
    }
}
