//! The loyalty program as the merchant's own document: what purchases earn, the tier
//! ladder, what a point is worth, what reviews and referrals earn. One document per
//! shop, versioned: every change is a new version (kept, with who made it and when),
//! and a rollback is a new version holding an old one's content.
//!
//! A document is checked as a whole before it is accepted; every problem is reported
//! with the JSON path of the value it is about (`tiers[1].multiplier_pct`), so a
//! merchant's editor can point at each. Until the merchant first saves one, the program
//! is the deployment's settings (`RAPPORT_TIERS`, `RAPPORT_POINTS_PER_UNIT`…), shown as
//! version 0.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::loyalty::{Basis, EarningRules, Qualification, Rounding, TierPerks};
use super::outreach::OutreachRules;
use super::outreach::festivals::{Festival, calendar_problems};
use super::outreach::tips::{Tip, tip_problems};
use super::{FieldError, LoyaltyRules, ReferralRules, ReviewRules, Sku, Tier, TierRule};

mod activities;
mod messages;
mod rewards;

pub use activities::{
    Activity, ActivityLimit, BUILT_IN_ACTIVITIES, MAX_ACTIVITIES, is_activity_id,
};
pub use messages::{
    BirthdayRule, Expiry, LANGUAGES, MessageWording, Messages, QuietHours, WinBackRule, Wording,
};
pub use rewards::{MAX_REWARDS, MAX_SPEND_GIFTS, Reward, RewardOffer, SpendGift};

/// Most SKUs or prefixes the earning section may exclude.
const MAX_EXCLUDED: usize = 100;

/// Most tiers a ladder may have.
pub const MAX_TIERS: usize = 10;

/// The program document as the admin API reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub earning: Earning,
    /// How customers qualify for the tiers; absent: net spend over a rolling year,
    /// without grace.
    #[serde(default)]
    pub qualification: Qualification,
    pub tiers: Vec<TierLevel>,
    pub redemption: Redemption,
    pub reviews: ReviewEarning,
    pub referrals: ReferralProgram,
    /// What customers can redeem points for, by `reward_id` (besides points for their
    /// value off, at `redemption.point_value_minor` each).
    #[serde(default)]
    pub rewards: Vec<Reward>,
    /// When points lapse; absent: never.
    #[serde(default)]
    pub expiry: Expiry,
    /// When and how often customers hear from the shop, and what the moments give;
    /// absent: the deployment's settings.
    #[serde(default)]
    pub messages: Messages,
    /// The merchant's own words for mail, by language and message kind; whatever is
    /// not overridden keeps Rapport's wording.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wording: Wording,
    /// What customers earn for more than buying; absent: nothing.
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Festival and seasonal greetings; absent: the calendar Rapport ships.
    #[serde(default = "shipped_festivals")]
    pub festivals: Vec<Festival>,
    /// Rewards given free for spending a threshold within the qualification window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend_gifts: Vec<SpendGift>,
    /// How-to content mailed after the order that bought a product; absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tips: Vec<Tip>,
}

fn shipped_festivals() -> Vec<Festival> {
    // Checked by the calendar's own test; a calendar that did not read greets nobody.
    crate::domain::outreach::festivals::shipped_calendar().unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Earning {
    /// Points per whole currency unit spent, before the tier's multiplier.
    pub points_per_unit: i64,
    /// `down` (never a point not fully paid for), `nearest` or `up`.
    #[serde(default)]
    pub rounding: Rounding,
    /// Orders below this total, in minor units, earn nothing.
    #[serde(default)]
    pub min_order_minor: i64,
    /// SKUs that earn nothing (gift cards, donations): exact, or a prefix ending in
    /// `*` (`GIFT-*`) for a whole family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_skus: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    pub name: String,
    /// Net spend, in minor units, over the qualification window from which the tier
    /// holds (a ladder on spend).
    #[serde(default)]
    pub min_spend_minor: i64,
    /// Points earned over the window from which the tier holds (a ladder on points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_points: Option<i64>,
    /// Points multiplier in percent (125 = ×1.25).
    pub multiplier_pct: i64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub perks: TierPerks,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redemption {
    /// What one point is worth off an order, in minor units.
    pub point_value_minor: i64,
    /// How long a coupon bought with points stays valid.
    pub coupon_valid_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewEarning {
    /// For a verified rating without text.
    pub rating_points: i64,
    /// For a verified review with text.
    pub body_points: i64,
    /// Days after which an uncleared service-recovery flag lapses.
    pub recovery_expiry_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralProgram {
    /// Smallest referee order, in minor units, that converts a referral.
    pub min_order_minor: i64,
    pub referrer_points: i64,
    pub referee_points: i64,
    /// Return window the rewards are held for; 0 grants them at once.
    pub hold_days: i64,
    /// Most referrals one referrer may collect in 30 days.
    pub cap_per_30_days: i64,
    /// Converted referrals that make a referrer an ambassador.
    pub ambassador_after: i64,
}

/// One version of the program: its content and who saved it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramVersion {
    /// 0 for the deployment's settings, never saved.
    pub version: u64,
    pub program: Program,
    /// When and by which key it was saved; absent for version 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<String>,
    /// For a rollback, the version whose content it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
}

/// Most characters of a tier name.
const MAX_NAME: usize = 40;
/// Bounds that keep sums of points and money far from overflow.
const MAX_POINTS: i64 = 1_000_000;
const MAX_MINOR: i64 = 10_000_000_000_000;
const MAX_DAYS: i64 = 3_650;

impl Program {
    /// The program a deployment's settings describe (version 0).
    pub fn from_rules(
        rules: &LoyaltyRules,
        reviews: &ReviewRules,
        referrals: &ReferralRules,
        outreach: &OutreachRules,
    ) -> Self {
        Self {
            earning: Earning {
                points_per_unit: rules.points_per_unit,
                rounding: rules.earning.rounding,
                min_order_minor: rules.earning.min_order_minor,
                excluded_skus: rules.earning.excluded_skus.clone(),
            },
            qualification: rules.qualification,
            tiers: rules
                .tiers()
                .iter()
                .map(|t| {
                    let (spend, points) = match rules.qualification.basis {
                        Basis::Spend => (t.threshold, None),
                        Basis::Points => (0, Some(t.threshold)),
                    };
                    TierLevel {
                        name: t.tier.0.clone(),
                        min_spend_minor: spend,
                        min_points: points,
                        multiplier_pct: t.multiplier_pct,
                        perks: t.perks.clone(),
                    }
                })
                .collect(),
            redemption: Redemption {
                point_value_minor: rules.point_value_minor,
                coupon_valid_days: rules.coupon_valid_days,
            },
            reviews: ReviewEarning {
                rating_points: reviews.rating_points,
                body_points: reviews.body_points,
                recovery_expiry_days: reviews.recovery_expiry_days,
            },
            referrals: ReferralProgram {
                min_order_minor: referrals.min_order_minor,
                referrer_points: referrals.referrer_points,
                referee_points: referrals.referee_points,
                hold_days: referrals.hold_days,
                cap_per_30_days: i64::try_from(referrals.cap_per_30_days).unwrap_or(i64::MAX),
                ambassador_after: i64::from(referrals.ambassador_after),
            },
            rewards: Vec::new(),
            expiry: Expiry {
                after_inactive_months: outreach.expiry_months,
                reminder_days_before: outreach.expiry_reminder_days.clone(),
            },
            messages: Messages::from_rules(outreach),
            wording: Wording::new(),
            activities: Vec::new(),
            festivals: outreach.festivals.clone(),
            tips: outreach.tips.clone(),
            spend_gifts: Vec::new(),
        }
    }

    /// Every problem of the document, each with its JSON path; empty when it is sound.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut range = |path: String, value: i64, low: i64, high: i64| {
            if !(low..=high).contains(&value) {
                problems.push(FieldError::new(
                    path,
                    format!("must be between {low} and {high}"),
                ));
            }
        };
        range(
            "earning.points_per_unit".into(),
            self.earning.points_per_unit,
            0,
            1_000,
        );
        for (n, tier) in self.tiers.iter().enumerate() {
            range(
                format!("tiers[{n}].min_spend_minor"),
                tier.min_spend_minor,
                0,
                MAX_MINOR,
            );
            range(
                format!("tiers[{n}].multiplier_pct"),
                tier.multiplier_pct,
                1,
                1_000,
            );
        }
        let r = &self.redemption;
        range(
            "redemption.point_value_minor".into(),
            r.point_value_minor,
            1,
            MAX_MINOR,
        );
        range(
            "redemption.coupon_valid_days".into(),
            r.coupon_valid_days,
            1,
            MAX_DAYS,
        );
        let v = &self.reviews;
        range(
            "reviews.rating_points".into(),
            v.rating_points,
            0,
            MAX_POINTS,
        );
        range("reviews.body_points".into(), v.body_points, 0, MAX_POINTS);
        range(
            "reviews.recovery_expiry_days".into(),
            v.recovery_expiry_days,
            1,
            MAX_DAYS,
        );
        let f = &self.referrals;
        range(
            "referrals.min_order_minor".into(),
            f.min_order_minor,
            0,
            MAX_MINOR,
        );
        range(
            "referrals.referrer_points".into(),
            f.referrer_points,
            0,
            MAX_POINTS,
        );
        range(
            "referrals.referee_points".into(),
            f.referee_points,
            0,
            MAX_POINTS,
        );
        range("referrals.hold_days".into(), f.hold_days, 0, 365);
        range(
            "referrals.cap_per_30_days".into(),
            f.cap_per_30_days,
            0,
            10_000,
        );
        range(
            "referrals.ambassador_after".into(),
            f.ambassador_after,
            1,
            10_000,
        );
        problems.extend(self.ladder_problems());
        problems.extend(self.earning_problems());
        problems.extend(self.activity_problems());
        problems.extend(calendar_problems(&self.festivals, &LANGUAGES));
        problems.extend(tip_problems(&self.tips));
        problems.extend(self.gift_problems());
        problems.extend(self.catalogue_problems());
        problems.extend(self.expiry.problems());
        problems.extend(messages::wording_problems(&self.wording));
        problems.extend(self.messages.problems());
        problems
    }

    /// The ladder's own rules: names, one entry tier, rising thresholds.
    fn ladder_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            problems.push(FieldError::new(
                "tiers",
                format!("must list 1 to {MAX_TIERS} tiers"),
            ));
        }
        for (n, tier) in self.tiers.iter().enumerate() {
            let name = tier.name.trim();
            let sound = !name.is_empty()
                && name.len() <= MAX_NAME
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !sound || name != tier.name {
                problems.push(FieldError::new(
                    format!("tiers[{n}].name"),
                    format!("must be 1 to {MAX_NAME} letters, digits, '-' or '_'"),
                ));
            }
            if self.tiers[..n].iter().any(|t| t.name == tier.name) {
                problems.push(FieldError::new(
                    format!("tiers[{n}].name"),
                    "is the name of an earlier tier",
                ));
            }
            // The threshold of the ladder's basis: present, 0 for the entry tier, rising.
            let (field, threshold) = match self.qualification.basis {
                Basis::Spend => ("min_spend_minor", Some(tier.min_spend_minor)),
                Basis::Points => ("min_points", tier.min_points),
            };
            let previous = n.checked_sub(1).map(|p| match self.qualification.basis {
                Basis::Spend => Some(self.tiers[p].min_spend_minor),
                Basis::Points => self.tiers[p].min_points,
            });
            let at = format!("tiers[{n}].{field}");
            match (threshold, previous) {
                (None, _) => problems.push(FieldError::new(
                    at,
                    "is required: the ladder qualifies on points",
                )),
                (Some(t), None) if t != 0 => problems.push(FieldError::new(
                    at,
                    "must be 0: the first tier is every customer's entry tier",
                )),
                (Some(t), Some(Some(p))) if t <= p => {
                    problems.push(FieldError::new(at, "must be above the previous tier's"))
                }
                _ => {}
            }
            let mut range = |field: &str, value: i64, high: i64| {
                if !(0..=high).contains(&value) {
                    problems.push(FieldError::new(
                        format!("tiers[{n}].{field}"),
                        format!("must be between 0 and {high}"),
                    ));
                }
            };
            range("min_points", tier.min_points.unwrap_or(0), MAX_MINOR);
            range(
                "perks.birthday_points",
                tier.perks.birthday_points.unwrap_or(0),
                MAX_POINTS,
            );
            range(
                "perks.welcome_points",
                tier.perks.welcome_points,
                MAX_POINTS,
            );
        }
        let max_grace = super::profile::MAX_GRACE_DAYS as i64;
        if !(0..=max_grace).contains(&self.qualification.grace_days) {
            problems.push(FieldError::new(
                "qualification.grace_days",
                format!("must be between 0 and {max_grace}"),
            ));
        }
        problems
    }

    /// Exclusions and the minimum order of the earning section.
    fn earning_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let e = &self.earning;
        if !(0..=MAX_MINOR).contains(&e.min_order_minor) {
            problems.push(FieldError::new(
                "earning.min_order_minor",
                format!("must be between 0 and {MAX_MINOR}"),
            ));
        }
        if e.excluded_skus.len() > MAX_EXCLUDED {
            problems.push(FieldError::new(
                "earning.excluded_skus",
                format!("must list at most {MAX_EXCLUDED} SKUs or prefixes"),
            ));
        }
        for (n, pattern) in e.excluded_skus.iter().enumerate() {
            let sku = pattern.strip_suffix('*').unwrap_or(pattern);
            if Sku::parse("sku", sku).is_err() || sku.contains('*') {
                problems.push(FieldError::new(
                    format!("earning.excluded_skus[{n}]"),
                    "must be a SKU, or a SKU prefix ending in '*'",
                ));
            }
        }
        problems
    }

    /// The outreach rules the program sets: its messages section, the expiry's
    /// reminders, the reviews' recovery lapse and the tiers' birthday perks.
    pub fn outreach_rules(&self) -> OutreachRules {
        let mut rules = self
            .messages
            .rules(&self.expiry, self.reviews.recovery_expiry_days);
        rules.tier_birthday_points = self
            .tiers
            .iter()
            .filter_map(|t| Some((Tier(t.name.clone()), t.perks.birthday_points?)))
            .collect();
        rules.festivals = self.festivals.clone();
        rules.tips = self.tips.clone();
        rules
    }

    /// The rules the program sets, over the deployment's currency and event window.
    /// `problems()` must be empty.
    pub fn rules(
        &self,
        base: &LoyaltyRules,
    ) -> Result<(LoyaltyRules, ReviewRules, ReferralRules), FieldError> {
        let tiers = self
            .tiers
            .iter()
            .map(|t| TierRule {
                tier: Tier(t.name.clone()),
                threshold: match self.qualification.basis {
                    Basis::Spend => t.min_spend_minor,
                    Basis::Points => t.min_points.unwrap_or(0),
                },
                multiplier_pct: t.multiplier_pct,
                perks: t.perks.clone(),
            })
            .collect();
        let loyalty = LoyaltyRules::new(
            base.currency,
            self.earning.points_per_unit,
            tiers,
            self.redemption.point_value_minor,
            self.redemption.coupon_valid_days,
        )?
        .with_event_window(base.events)
        .with_earning(
            EarningRules {
                rounding: self.earning.rounding,
                min_order_minor: self.earning.min_order_minor,
                excluded_skus: self.earning.excluded_skus.clone(),
            },
            self.qualification,
        );
        let reviews = ReviewRules {
            rating_points: self.reviews.rating_points,
            body_points: self.reviews.body_points,
            recovery_expiry_days: self.reviews.recovery_expiry_days,
        };
        let f = &self.referrals;
        let referrals = ReferralRules {
            min_order_minor: f.min_order_minor,
            referrer_points: f.referrer_points,
            referee_points: f.referee_points,
            hold_days: f.hold_days,
            cap_per_30_days: usize::try_from(f.cap_per_30_days).map_err(|_| {
                FieldError::new("referrals.cap_per_30_days", "must not be negative")
            })?,
            ambassador_after: u32::try_from(f.ambassador_after)
                .map_err(|_| FieldError::new("referrals.ambassador_after", "is out of range"))?,
        };
        Ok((loyalty, reviews, referrals))
    }
}

/// The rules one program version sets, as decisions take them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramRules {
    pub version: u64,
    pub loyalty: LoyaltyRules,
    pub reviews: ReviewRules,
    pub referrals: ReferralRules,
    pub rewards: Vec<Reward>,
    pub activities: Vec<Activity>,
    pub spend_gifts: Vec<SpendGift>,
    /// The outreach policy, expiry and its reminders included.
    pub outreach: OutreachRules,
}

impl ProgramRules {
    /// The deployment's settings, version 0.
    pub fn settings(
        loyalty: &LoyaltyRules,
        reviews: &ReviewRules,
        referrals: &ReferralRules,
        outreach: &OutreachRules,
    ) -> Self {
        Self {
            version: 0,
            loyalty: loyalty.clone().with_program_version(0),
            reviews: reviews.clone(),
            referrals: referrals.clone(),
            rewards: Vec::new(),
            activities: Vec::new(),
            spend_gifts: Vec::new(),
            outreach: OutreachRules {
                recovery_expiry_days: reviews.recovery_expiry_days,
                ..outreach.clone()
            },
        }
    }

    /// The catalogue's reward `id`.
    pub fn reward(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id == id)
    }
}

impl ProgramVersion {
    /// The rules this version sets, over the deployment's currency and event window.
    pub fn rules(&self, base: &LoyaltyRules) -> Result<ProgramRules, FieldError> {
        let (loyalty, reviews, referrals) = self.program.rules(base)?;
        Ok(ProgramRules {
            version: self.version,
            loyalty: loyalty.with_program_version(self.version),
            outreach: self.program.outreach_rules(),
            reviews,
            referrals,
            rewards: self.program.rewards.clone(),
            activities: self.program.activities.clone(),
            spend_gifts: self.program.spend_gifts.clone(),
        })
    }
}

/// Reads a program document from JSON: a field of the wrong type or unknown is named
/// by its path; then every rule the content breaks, each with its path, with what
/// `more` finds (the checks the domain cannot make itself: the wording as templates).
pub fn read_program(
    body: &[u8],
    more: impl FnOnce(&Program) -> Vec<FieldError>,
) -> Result<Program, Vec<FieldError>> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let program: Program = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        vec![FieldError::new(field, e.into_inner().to_string())]
    })?;
    let mut problems = program.problems();
    problems.extend(more(&program));
    match problems {
        problems if problems.is_empty() => Ok(program),
        problems => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn base() -> LoyaltyRules {
        let tiers = vec![
            TierRule {
                tier: Tier("bronze".into()),
                threshold: 0,
                multiplier_pct: 100,
                ..TierRule::default()
            },
            TierRule {
                tier: Tier("silver".into()),
                threshold: 50_000,
                multiplier_pct: 125,
                ..TierRule::default()
            },
        ];
        LoyaltyRules::new(Currency::parse("c", "USD").unwrap(), 1, tiers, 1, 90).unwrap()
    }

    fn defaults() -> Program {
        Program::from_rules(
            &base(),
            &ReviewRules::default(),
            &ReferralRules::default(),
            &OutreachRules::default(),
        )
    }

    #[test]
    fn the_settings_read_back_as_the_same_rules() {
        let program = defaults();
        assert!(program.problems().is_empty(), "{:?}", program.problems());
        let (loyalty, reviews, referrals) = program.rules(&base()).unwrap();
        assert_eq!(loyalty, base());
        assert_eq!(reviews, ReviewRules::default());
        assert_eq!(referrals, ReferralRules::default());
        let json = serde_json::to_vec(&program).unwrap();
        assert_eq!(read_program(&json, |_| Vec::new()).unwrap(), program);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let mut program = defaults();
        program.tiers[1].multiplier_pct = 0;
        program.tiers[1].name = "bronze".into();
        program.tiers[0].min_spend_minor = 60_000;
        program.redemption.coupon_valid_days = 0;
        let fields: Vec<String> = program.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "tiers[1].multiplier_pct",
                "redemption.coupon_valid_days",
                "tiers[0].min_spend_minor",
                "tiers[1].name",
                "tiers[1].min_spend_minor",
            ]
        );
    }

    #[test]
    fn unknown_and_mistyped_fields_are_refused_with_their_path() {
        let mut json = serde_json::to_value(defaults()).unwrap();
        json["tiers"][0]["multiplier"] = 2.into();
        let errors = read_program(json.to_string().as_bytes(), |_| Vec::new()).unwrap_err();
        assert_eq!(errors[0].field, "tiers[0].multiplier");
        assert!(errors[0].reason.contains("unknown field"), "{errors:?}");
        let mut json = serde_json::to_value(defaults()).unwrap();
        json["earning"]["points_per_unit"] = "two".into();
        let errors = read_program(json.to_string().as_bytes(), |_| Vec::new()).unwrap_err();
        assert_eq!(errors[0].field, "earning.points_per_unit");
        assert_eq!(
            read_program(b"[]", |_| Vec::new()).unwrap_err()[0].field,
            "body"
        );
    }
}
