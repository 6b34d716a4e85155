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
use super::outreach::{MessageKind, OutreachRules};
use super::{
    CouponTerms, FieldError, LoyaltyRules, ReferralRules, ReviewRules, Sku, Tier, TierRule,
};

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
}

/// Overrides of mail strings: language (`en`, `hi`, `ur`, `tl`) → message kind
/// (`win_back`, `points_expiring`…) → the strings replaced. Strings are templates with
/// the message's placeholders (`{{ points }}`), checked when the program is saved.
pub type Wording = BTreeMap<String, BTreeMap<String, MessageWording>>;

/// The languages mail is written in.
pub const LANGUAGES: [&str; 4] = ["en", "hi", "ur", "tl"];

/// One message's strings; an absent one keeps Rapport's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageWording {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
}

/// Most paragraphs and characters an overridden string may have.
const MAX_LINES: usize = 10;
const MAX_STRING: usize = 2_000;

/// The wording's shape: known languages and kinds, bounded strings. That each string
/// is a template of the message's placeholders is the mail renderer's to check.
fn wording_problems(wording: &Wording) -> Vec<FieldError> {
    let mut problems = Vec::new();
    for (lang, kinds) in wording {
        if !LANGUAGES.contains(&lang.as_str()) {
            problems.push(FieldError::new(
                format!("wording.{lang}"),
                format!(
                    "is not a language mail is written in ({})",
                    LANGUAGES.join(", ")
                ),
            ));
            continue;
        }
        for (slug, strings) in kinds {
            let at = format!("wording.{lang}.{slug}");
            if MessageKind::from_slug(slug).is_none() {
                problems.push(FieldError::new(at, "is not a message kind"));
                continue;
            }
            let too_long = |s: &String| s.chars().count() > MAX_STRING || s.trim().is_empty();
            for (field, value) in [("subject", &strings.subject), ("heading", &strings.heading)] {
                if value.as_ref().is_some_and(too_long) {
                    problems.push(FieldError::new(
                        format!("{at}.{field}"),
                        format!("must be 1 to {MAX_STRING} characters"),
                    ));
                }
            }
            if let Some(lines) = &strings.lines {
                if lines.is_empty() || lines.len() > MAX_LINES {
                    problems.push(FieldError::new(
                        format!("{at}.lines"),
                        format!("must list 1 to {MAX_LINES} paragraphs"),
                    ));
                }
                for (n, line) in lines.iter().enumerate() {
                    if too_long(line) {
                        problems.push(FieldError::new(
                            format!("{at}.lines[{n}]"),
                            format!("must be 1 to {MAX_STRING} characters"),
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// Points expire after this many months without a qualifying order (the inactivity
/// model): every order restarts the clock; `null` never expires them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    #[serde(default)]
    pub after_inactive_months: Option<u32>,
    /// Days before the lapse on which the customer is reminded (at most 3), each once
    /// per expiry date; an order meanwhile moves the date and so cancels them.
    #[serde(default = "default_reminders")]
    pub reminder_days_before: Vec<u32>,
}

fn default_reminders() -> Vec<u32> {
    vec![30, 7]
}

impl Expiry {
    fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self
            .after_inactive_months
            .is_some_and(|months| !(1..=120).contains(&months))
        {
            problems.push(FieldError::new(
                "expiry.after_inactive_months",
                "must be between 1 and 120, or null for never",
            ));
        }
        if self.reminder_days_before.len() > 3 {
            problems.push(FieldError::new(
                "expiry.reminder_days_before",
                "must list at most 3 reminders",
            ));
        }
        for (n, days) in self.reminder_days_before.iter().enumerate() {
            if !(1..=90).contains(days) {
                problems.push(FieldError::new(
                    format!("expiry.reminder_days_before[{n}]"),
                    "must be between 1 and 90",
                ));
            } else if self.reminder_days_before[..n].contains(days) {
                problems.push(FieldError::new(
                    format!("expiry.reminder_days_before[{n}]"),
                    "is listed twice",
                ));
            }
        }
        problems
    }
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            after_inactive_months: None,
            reminder_days_before: default_reminders(),
        }
    }
}

/// The outreach policy: caps, quiet hours, the control group, and each moment's timing
/// and gift. Every message kind obeys the same caps and hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// Most messages one customer gets in any 7 and any 30 days.
    pub max_per_7_days: u32,
    pub max_per_30_days: u32,
    /// Local hours in which nothing is delivered, e.g. 21 to 9.
    pub quiet_hours: QuietHours,
    /// Percent of each message held out as a control group.
    pub holdout_pct: u32,
    /// Days after an order for the check-in, product tips and review request.
    pub post_purchase_after_days: i64,
    pub product_tips_after_days: i64,
    pub review_request_after_days: i64,
    pub win_back: WinBackRule,
    pub birthday: BirthdayRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

/// Who gets a win-back and how large its discount is (scaled by churn risk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinBackRule {
    /// Churn risk, in percent, from which a customer worth more than the median is
    /// drifting away.
    pub min_churn_pct: u32,
    pub min_discount_pct: u32,
    pub max_discount_pct: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthdayRule {
    /// Points given with the greeting (a tier's perk may give more).
    pub points: i64,
    /// Days a birthday must have been on file before it earns them.
    pub min_days_on_file: i64,
}

impl Messages {
    /// The document's form of the deployment's outreach settings.
    pub fn from_rules(rules: &OutreachRules) -> Self {
        Self {
            max_per_7_days: u32::try_from(rules.max_per_7_days).unwrap_or(u32::MAX),
            max_per_30_days: u32::try_from(rules.max_per_30_days).unwrap_or(u32::MAX),
            quiet_hours: QuietHours {
                start: rules.quiet_start,
                end: rules.quiet_end,
            },
            holdout_pct: rules.holdout_pct,
            post_purchase_after_days: rules.post_purchase_after_days,
            product_tips_after_days: rules.tips_after_days,
            review_request_after_days: rules.review_request_after_days,
            win_back: WinBackRule {
                min_churn_pct: (rules.win_back_min_churn * 100.0).round().clamp(0.0, 100.0) as u32,
                min_discount_pct: rules.win_back_min_discount_pct,
                max_discount_pct: rules.win_back_max_discount_pct,
            },
            birthday: BirthdayRule {
                points: rules.birthday_points,
                min_days_on_file: rules.birthday_min_age_days,
            },
        }
    }

    fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut range = |path: &str, value: i64, low: i64, high: i64| {
            if !(low..=high).contains(&value) {
                problems.push(FieldError::new(
                    format!("messages.{path}"),
                    format!("must be between {low} and {high}"),
                ));
            }
        };
        range("max_per_7_days", self.max_per_7_days.into(), 0, 7);
        range("max_per_30_days", self.max_per_30_days.into(), 0, 30);
        range("quiet_hours.start", self.quiet_hours.start.into(), 0, 23);
        range("quiet_hours.end", self.quiet_hours.end.into(), 0, 23);
        range("holdout_pct", self.holdout_pct.into(), 0, 100);
        range(
            "post_purchase_after_days",
            self.post_purchase_after_days,
            1,
            90,
        );
        range(
            "product_tips_after_days",
            self.product_tips_after_days,
            0,
            90,
        );
        range(
            "review_request_after_days",
            self.review_request_after_days,
            1,
            180,
        );
        let w = &self.win_back;
        range("win_back.min_churn_pct", w.min_churn_pct.into(), 1, 100);
        range(
            "win_back.min_discount_pct",
            w.min_discount_pct.into(),
            0,
            90,
        );
        range(
            "win_back.max_discount_pct",
            w.max_discount_pct.into(),
            0,
            90,
        );
        range("birthday.points", self.birthday.points, 0, MAX_POINTS);
        range(
            "birthday.min_days_on_file",
            self.birthday.min_days_on_file,
            0,
            365,
        );
        if w.max_discount_pct < w.min_discount_pct {
            problems.push(FieldError::new(
                "messages.win_back.max_discount_pct",
                "must not be below min_discount_pct",
            ));
        }
        if self.max_per_30_days < self.max_per_7_days {
            problems.push(FieldError::new(
                "messages.max_per_30_days",
                "must not be below max_per_7_days",
            ));
        }
        problems
    }

    /// The outreach rules this section sets, with `expiry`'s reminders and the
    /// service-recovery lapse of the reviews section.
    pub fn rules(&self, expiry: &Expiry, recovery_expiry_days: i64) -> OutreachRules {
        OutreachRules {
            max_per_7_days: self.max_per_7_days as usize,
            max_per_30_days: self.max_per_30_days as usize,
            quiet_start: self.quiet_hours.start,
            quiet_end: self.quiet_hours.end,
            holdout_pct: self.holdout_pct,
            post_purchase_after_days: self.post_purchase_after_days,
            tips_after_days: self.product_tips_after_days,
            review_request_after_days: self.review_request_after_days,
            win_back_min_churn: f64::from(self.win_back.min_churn_pct) / 100.0,
            win_back_min_discount_pct: self.win_back.min_discount_pct,
            win_back_max_discount_pct: self.win_back.max_discount_pct,
            birthday_points: self.birthday.points,
            tier_birthday_points: Default::default(),
            birthday_min_age_days: self.birthday.min_days_on_file,
            recovery_expiry_days,
            expiry_months: expiry.after_inactive_months,
            expiry_reminder_days: expiry.reminder_days_before.clone(),
        }
    }
}

impl Default for Messages {
    fn default() -> Self {
        Self::from_rules(&OutreachRules::default())
    }
}

/// A reward of the catalogue: what it gives, its price in points and its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// Named by redemptions: letters, digits, `-`, `_`.
    pub id: String,
    /// As the customer sees it ("Free shipping").
    pub name: String,
    pub offer: RewardOffer,
    /// Its price in points.
    pub points: i64,
    /// The least an order must spend on goods to use its coupon (0: any).
    #[serde(default)]
    pub min_order_minor: i64,
    /// How long its coupon stays valid.
    pub valid_days: i64,
    /// How often one customer may redeem it; none: without limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_per_customer: Option<u32>,
    /// The tiers whose members may redeem it; empty: every tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// When it can be redeemed; open-ended where absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_until: Option<DateTime<Utc>>,
}

/// What a reward's coupon gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardOffer {
    AmountOff { value_minor: i64 },
    PercentOff { percent: u32, max_value_minor: i64 },
    FreeShipping,
    FreeProduct { sku: String },
}

/// Most rewards one catalogue holds.
pub const MAX_REWARDS: usize = 50;

impl Reward {
    /// The coupon terms of its offer.
    pub fn terms(&self) -> Result<CouponTerms, FieldError> {
        Ok(match &self.offer {
            RewardOffer::AmountOff { value_minor } => CouponTerms::AmountOff {
                value_minor: *value_minor,
            },
            RewardOffer::PercentOff {
                percent,
                max_value_minor,
            } => CouponTerms::PercentOff {
                percent: *percent,
                max_value_minor: *max_value_minor,
            },
            RewardOffer::FreeShipping => CouponTerms::FreeShipping,
            RewardOffer::FreeProduct { sku } => CouponTerms::FreeProduct {
                sku: Sku::parse("offer.sku", sku)?,
            },
        })
    }

    /// Why a customer in `tier` may not redeem it at `now`, having redeemed it `times`.
    pub fn refusal(&self, tier: &Tier, times: u32, now: DateTime<Utc>) -> Option<&'static str> {
        if self.active_from.is_some_and(|from| now < from)
            || self.active_until.is_some_and(|until| now >= until)
        {
            return Some("is not on offer now");
        }
        if !self.tiers.is_empty() && !self.tiers.contains(&tier.0) {
            return Some("is not offered to the customer's tier");
        }
        if self.limit_per_customer.is_some_and(|limit| times >= limit) {
            return Some("was redeemed as often as one customer may");
        }
        None
    }
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
        problems.extend(self.catalogue_problems());
        problems.extend(self.expiry.problems());
        problems.extend(wording_problems(&self.wording));
        problems.extend(self.messages.problems());
        problems
    }

    /// The catalogue's rules: ids, prices, offers, tiers of the ladder, dates.
    fn catalogue_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.rewards.len() > MAX_REWARDS {
            problems.push(FieldError::new(
                "rewards",
                format!("must list at most {MAX_REWARDS} rewards"),
            ));
        }
        for (n, reward) in self.rewards.iter().enumerate() {
            let at = |field: &str| format!("rewards[{n}].{field}");
            let mut problem =
                |field: &str, reason: String| problems.push(FieldError::new(at(field), reason));
            let id_sound = (1..=MAX_NAME).contains(&reward.id.len())
                && reward
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_sound {
                problem(
                    "id",
                    format!("must be 1 to {MAX_NAME} letters, digits, '-' or '_'"),
                );
            }
            if self.rewards[..n].iter().any(|r| r.id == reward.id) {
                problem("id", "is the id of an earlier reward".into());
            }
            if reward.name.trim().is_empty() || reward.name.chars().count() > 80 {
                problem("name", "must be 1 to 80 characters".into());
            }
            if !(1..=1_000_000).contains(&reward.points) {
                problem("points", "must be between 1 and 1000000".into());
            }
            if !(0..=MAX_MINOR).contains(&reward.min_order_minor) {
                problem(
                    "min_order_minor",
                    format!("must be between 0 and {MAX_MINOR}"),
                );
            }
            if !(1..=MAX_DAYS).contains(&reward.valid_days) {
                problem("valid_days", format!("must be between 1 and {MAX_DAYS}"));
            }
            if reward.limit_per_customer == Some(0) {
                problem(
                    "limit_per_customer",
                    "must be at least 1 (or absent)".into(),
                );
            }
            match &reward.offer {
                RewardOffer::AmountOff { value_minor }
                    if !(1..=MAX_MINOR).contains(value_minor) =>
                {
                    problem(
                        "offer.value_minor",
                        format!("must be between 1 and {MAX_MINOR}"),
                    )
                }
                RewardOffer::PercentOff { percent, .. } if !(1..=100).contains(percent) => {
                    problem("offer.percent", "must be between 1 and 100".into())
                }
                RewardOffer::PercentOff {
                    max_value_minor, ..
                } if !(1..=MAX_MINOR).contains(max_value_minor) => problem(
                    "offer.max_value_minor",
                    format!("must be between 1 and {MAX_MINOR}"),
                ),
                RewardOffer::FreeProduct { sku } if Sku::parse("sku", sku).is_err() => {
                    problem("offer.sku", "is not a valid SKU".into())
                }
                _ => {}
            }
            for (t, tier) in reward.tiers.iter().enumerate() {
                if !self.tiers.iter().any(|level| level.name == *tier) {
                    problems.push(FieldError::new(
                        format!("rewards[{n}].tiers[{t}]"),
                        "is not a tier of the ladder",
                    ));
                }
            }
            if let (Some(from), Some(until)) = (reward.active_from, reward.active_until)
                && until <= from
            {
                problems.push(FieldError::new(
                    at("active_until"),
                    "must be after active_from",
                ));
            }
        }
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
        if !(0..=365).contains(&self.qualification.grace_days) {
            problems.push(FieldError::new(
                "qualification.grace_days",
                "must be between 0 and 365",
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
