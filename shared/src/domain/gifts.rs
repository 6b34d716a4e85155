//! Spend gifts: crossing a spend threshold within the program's qualification window
//! grants a reward of the catalogue as a free coupon, once per threshold per window —
//! once a calendar year, once in any 365 days, or once ever — and the customer is told.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};

use super::events::redemption::{Redemption, RedemptionOutcome, RedemptionReceipt};
use super::loyalty::Window;
use super::profile::GiftGrant;
use super::program::{Reward, SpendGift};
use super::{DomainError, LoyaltyRules, Profile, RedemptionId};

impl Profile {
    /// Net spend in the window that ends on `today`.
    pub fn spend_in_window(&self, window: Window, today: NaiveDate) -> i64 {
        let from = match window {
            Window::Lifetime => return self.net_spend_minor,
            Window::CalendarYear => NaiveDate::from_ymd_opt(today.year(), 1, 1),
            Window::Rolling12Months => {
                today.checked_sub_days(Days::new(super::profile::TIER_WINDOW_DAYS - 1))
            }
        }
        .unwrap_or(NaiveDate::MIN);
        self.purchase_days
            .range(from..=today)
            .map(|(_, v)| *v)
            .sum()
    }

    /// The window `gift` is due for on `today`, if the customer crossed its threshold in
    /// it and has not had it for that window.
    pub fn gift_due(&self, gift: &SpendGift, window: Window, today: NaiveDate) -> Option<String> {
        if self.spend_in_window(window, today) < gift.min_spend_minor {
            return None;
        }
        let last = self.gifts.get(&gift.id);
        let key = match window {
            Window::Lifetime => "ever".to_owned(),
            Window::CalendarYear => today.year().to_string(),
            Window::Rolling12Months => {
                if last.is_some_and(|g| {
                    today - g.at.date_naive()
                        < Duration::days(super::profile::TIER_WINDOW_DAYS as i64)
                }) {
                    return None;
                }
                today.to_string()
            }
        };
        (last.map(|g| &g.window) != Some(&key)).then_some(key)
    }

    /// Grants `gift`'s `reward` for `window` as a free coupon `code`: no points spent,
    /// and not counted against the reward's per-customer limit.
    pub fn grant_gift(
        mut self,
        gift: &SpendGift,
        window: &str,
        reward: &Reward,
        coupon_code: String,
        rules: &LoyaltyRules,
        now: DateTime<Utc>,
    ) -> Result<RedemptionOutcome, DomainError> {
        let terms = reward.terms()?;
        let redemption = Redemption {
            redemption_id: RedemptionId::parse("gift", &format!("gift-{}-{window}", gift.id))?,
            coupon_code: coupon_code.clone(),
            points: 0,
            value_minor: match &terms {
                super::CouponTerms::AmountOff { value_minor } => *value_minor,
                _ => 0,
            },
            reward_id: Some(reward.id.clone()),
            terms: Some(terms),
            min_order_minor: (reward.min_order_minor > 0).then_some(reward.min_order_minor),
            currency: rules.currency,
            created_at: now,
            expires_at: now + Duration::days(reward.valid_days),
        };
        let ledger = self.release_due(now);
        self.gifts.insert(
            gift.id.clone(),
            GiftGrant {
                at: now,
                window: window.to_owned(),
                coupon_code,
                expires_at: redemption.expires_at,
                reward: reward.name.clone(),
            },
        );
        self.updated_at = now;
        let receipt = RedemptionReceipt {
            customer_id: self.customer_id.clone(),
            duplicate: false,
            redemption: redemption.clone(),
            points_balance: self.points_balance,
        };
        Ok(RedemptionOutcome {
            profile: self,
            ledger,
            redemption,
            receipt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::program::RewardOffer;
    use crate::domain::{CustomerId, Tier};

    fn gift() -> SpendGift {
        SpendGift {
            id: "gift-300".into(),
            min_spend_minor: 30_000,
            reward_id: "sampler".into(),
        }
    }

    fn reward() -> Reward {
        Reward {
            id: "sampler".into(),
            name: "A tea sampler".into(),
            offer: RewardOffer::FreeProduct {
                sku: "TEA-SAMPLER".into(),
            },
            points: 500,
            min_order_minor: 0,
            valid_days: 60,
            limit_per_customer: Some(1),
            tiers: Vec::new(),
            active_from: None,
            active_until: None,
        }
    }

    fn day(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    #[test]
    fn a_gift_is_due_once_per_window_after_the_threshold() {
        let mut p = Profile::new(
            CustomerId::parse("c", "asha").unwrap(),
            Tier("bronze".into()),
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        p.add_to_day(day("2026-03-01"), 20_000);
        assert_eq!(
            p.gift_due(&gift(), Window::CalendarYear, day("2026-03-01")),
            None
        );
        p.add_to_day(day("2026-06-01"), 12_000);
        let window = p
            .gift_due(&gift(), Window::CalendarYear, day("2026-06-01"))
            .unwrap();
        assert_eq!(window, "2026");
        let rules = crate::domain::loyalty::tests::rules();
        let now: DateTime<Utc> = "2026-06-01T10:00:00Z".parse().unwrap();
        let outcome = p
            .grant_gift(&gift(), &window, &reward(), "RG-1".into(), &rules, now)
            .unwrap();
        assert_eq!(outcome.redemption.points, 0);
        assert!(outcome.ledger.is_empty(), "no points spent");
        let p = outcome.profile;
        assert!(
            p.rewards_redeemed.is_empty(),
            "a gift is not a purchase of the reward"
        );
        assert_eq!(
            p.gift_due(&gift(), Window::CalendarYear, day("2026-12-01")),
            None
        );
        // A new year, spending again: due again.
        let mut next = p.clone();
        next.add_to_day(day("2027-02-01"), 30_000);
        assert_eq!(
            next.gift_due(&gift(), Window::CalendarYear, day("2027-02-01"))
                .as_deref(),
            Some("2027")
        );
        // Rolling: not within 365 days of the last grant; lifetime: never again.
        assert_eq!(
            next.gift_due(&gift(), Window::Rolling12Months, day("2027-02-01")),
            None
        );
        assert_eq!(
            next.gift_due(&gift(), Window::Lifetime, day("2030-01-01")),
            Some("ever".into())
        );
    }
}
