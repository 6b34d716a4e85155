//! The program's outreach: when points lapse and the reminders before, the message
//! rules (caps, quiet hours, the control group, each moment's timing and gift), and the
//! merchant's own wording of mail.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::MAX_POINTS;
use crate::domain::FieldError;
use crate::domain::outreach::{MakeGood, MessageKind, OutreachRules};

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
pub(super) fn wording_problems(wording: &Wording) -> Vec<FieldError> {
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

fn default_welcome_second() -> i64 {
    OutreachRules::default().welcome_second_after_days
}

fn default_reminders() -> Vec<u32> {
    vec![30, 7]
}

impl Expiry {
    pub(super) fn problems(&self) -> Vec<FieldError> {
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
    /// Days after the welcome for its follow-up with the referral code.
    #[serde(default = "default_welcome_second")]
    pub welcome_second_after_days: i64,
    /// The apology after a low rating: `points`, or a `percent_off` coupon; absent: no
    /// apology mail (support is alerted either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub make_good: Option<MakeGood>,
    pub win_back: WinBackRule,
    pub birthday: BirthdayRule,
    /// Points given with the anniversary greeting; 0 or absent: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anniversary_points: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
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
            welcome_second_after_days: rules.welcome_second_after_days,
            make_good: rules.make_good,
            win_back: WinBackRule {
                min_churn_pct: (rules.win_back_min_churn * 100.0).round().clamp(0.0, 100.0) as u32,
                min_discount_pct: rules.win_back_min_discount_pct,
                max_discount_pct: rules.win_back_max_discount_pct,
            },
            birthday: BirthdayRule {
                points: rules.birthday_points,
                min_days_on_file: rules.birthday_min_age_days,
            },
            anniversary_points: rules.anniversary_points,
        }
    }

    pub(super) fn problems(&self) -> Vec<FieldError> {
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
        range(
            "welcome_second_after_days",
            self.welcome_second_after_days,
            1,
            30,
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
        range("anniversary_points", self.anniversary_points, 0, MAX_POINTS);
        range(
            "birthday.min_days_on_file",
            self.birthday.min_days_on_file,
            0,
            365,
        );
        match self.make_good {
            Some(MakeGood::Points { points }) if !(1..=MAX_POINTS).contains(&points) => problems
                .push(FieldError::new(
                    "messages.make_good.points",
                    format!("must be between 1 and {MAX_POINTS}"),
                )),
            Some(MakeGood::PercentOff { percent, .. }) if !(1..=90).contains(&percent) => problems
                .push(FieldError::new(
                    "messages.make_good.percent",
                    "must be between 1 and 90",
                )),
            Some(MakeGood::PercentOff {
                max_value_minor, ..
            }) if max_value_minor < 1 => problems.push(FieldError::new(
                "messages.make_good.max_value_minor",
                "must be at least 1",
            )),
            _ => {}
        }
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
            welcome_second_after_days: self.welcome_second_after_days,
            make_good: self.make_good,
            // The program's calendar and tips, set beside the messages by the document.
            festivals: Vec::new(),
            tips: Vec::new(),
            win_back_min_churn: f64::from(self.win_back.min_churn_pct) / 100.0,
            win_back_min_discount_pct: self.win_back.min_discount_pct,
            win_back_max_discount_pct: self.win_back.max_discount_pct,
            birthday_points: self.birthday.points,
            tier_birthday_points: Default::default(),
            birthday_min_age_days: self.birthday.min_days_on_file,
            anniversary_points: self.anniversary_points,
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
