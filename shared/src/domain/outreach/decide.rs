//! Which one message, if any, a customer should get today — and why not, when none.
//!
//! Every candidate message has a trigger (a birthday today, an order a week ago, a
//! valuable customer drifting away…) and an expected value in minor units. The rules
//! then remove what the customer must not get (marketing without consent or while a
//! service-recovery flag is open, a suppressed address, the frequency cap, a message
//! already sent for the same period), pick the most valuable survivor, hold out a deterministic
//! control group, and defer anything that would arrive in the customer's quiet hours.
//!
//! Pure: the caller passes the profile, the latest scores, the message history and the
//! clock, and records the decision.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::festivals::Festival;
use super::messages::{MessageKind, Offer, PastMessage, Planned};
use super::tips::Tip;
use crate::domain::{CustomerScores, Profile, ReviewRules};

/// The make-good of the apology after a low rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MakeGood {
    /// Points credited with the apology.
    Points { points: i64 },
    /// A single-use coupon, percent off up to a value.
    PercentOff { percent: u32, max_value_minor: i64 },
}

/// Hours within which the apology goes after the flag is raised: later it is no longer
/// the quick answer it is meant to be, and support has taken over.
const MAKE_GOOD_WITHIN_HOURS: i64 = 48;

/// Settings of the outreach policy, checked at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct OutreachRules {
    pub max_per_7_days: usize,
    pub max_per_30_days: usize,
    /// Local hours in which nothing is delivered: from `quiet_start` to `quiet_end`.
    pub quiet_start: u32,
    pub quiet_end: u32,
    /// Percentage of each (customer, message, period) held out as a control group.
    pub holdout_pct: u32,
    pub post_purchase_after_days: i64,
    pub tips_after_days: i64,
    pub review_request_after_days: i64,
    /// Churn risk from which a valuable customer is "drifting away".
    pub win_back_min_churn: f64,
    /// Smallest and largest win-back discount, in percent.
    pub win_back_min_discount_pct: u32,
    pub win_back_max_discount_pct: u32,
    /// Points given with a birthday greeting, and the tiers that give other amounts.
    pub birthday_points: i64,
    pub tier_birthday_points: std::collections::BTreeMap<crate::domain::Tier, i64>,
    /// Points given with the anniversary greeting (0: none).
    pub anniversary_points: i64,
    /// Days a birthday must have been on file before it earns a reward.
    pub birthday_min_age_days: i64,
    /// Days an uncleared service-recovery flag stays open (the API's
    /// `RAPPORT_RECOVERY_EXPIRY_DAYS`): the job and the profile the API shows agree
    /// through [`Profile::service_recovery_open`].
    pub recovery_expiry_days: i64,
    /// Days after the welcome for its follow-up with the referral code.
    pub welcome_second_after_days: i64,
    /// What a customer gets with the apology after a low rating; none: no apology mail
    /// (support is alerted either way).
    pub make_good: Option<MakeGood>,
    /// The festival calendar: greetings on their dates to the customers they are for.
    pub festivals: Vec<Festival>,
    /// How-to content for products, sent after the order that bought them.
    pub tips: Vec<Tip>,
    /// Months without an order after which points lapse (none: never), and the days
    /// before the lapse on which the customer is reminded.
    pub expiry_months: Option<u32>,
    pub expiry_reminder_days: Vec<u32>,
}

impl Default for OutreachRules {
    fn default() -> Self {
        Self {
            max_per_7_days: 1,
            max_per_30_days: 4,
            quiet_start: 21,
            quiet_end: 9,
            holdout_pct: 10,
            post_purchase_after_days: 7,
            tips_after_days: 3,
            review_request_after_days: 14,
            win_back_min_churn: 0.6,
            win_back_min_discount_pct: 5,
            win_back_max_discount_pct: 20,
            birthday_points: 100,
            tier_birthday_points: Default::default(),
            birthday_min_age_days: 30,
            anniversary_points: 0,
            recovery_expiry_days: ReviewRules::default().recovery_expiry_days,
            welcome_second_after_days: 7,
            make_good: None,
            festivals: Vec::new(),
            tips: Vec::new(),
            expiry_months: None,
            expiry_reminder_days: vec![30, 7],
        }
    }
}

/// What the job knows about the whole customer base when it decides for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// CLV from which a customer is in the Pareto top 20 %.
    pub vip_clv_minor: i64,
    /// Median CLV: win-backs are for customers worth more than that.
    pub median_clv_minor: i64,
}

/// Why a customer gets nothing this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    NoEmail,
    AddressSuppressed,
    NoConsent,
    ServiceRecovery,
    FrequencyCap,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Send(Planned),
    /// In the control group: recorded, not sent.
    HoldOut(Planned),
    /// Due, but it is night where the customer is; a later run sends it.
    Defer {
        planned: Planned,
        until: DateTime<Utc>,
    },
    /// Something was due but may not be sent.
    Suppressed {
        kind: MessageKind,
        reason: SuppressReason,
    },
    Nothing,
}

/// Everything the rules look at for one customer.
#[derive(Debug, Clone, Copy)]
pub struct CustomerContext<'a> {
    pub profile: &'a Profile,
    pub scores: Option<&'a CustomerScores>,
    pub history: &'a [PastMessage],
    /// The address bounced, complained, or was erased.
    pub address_suppressed: bool,
    /// The shop's products with a steady rhythm, and their median interval in days.
    pub rhythms: &'a std::collections::BTreeMap<crate::domain::Sku, f64>,
    /// What the buyers of each product also bought, for suggestions.
    pub co_purchases: &'a super::recommend::CoPurchases,
}

fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    (later - earlier).num_days()
}

/// The customer's time zone: their own, else UTC.
fn zone(profile: &Profile) -> chrono_tz::Tz {
    profile
        .timezone
        .as_deref()
        .and_then(|tz| tz.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

fn local_date(profile: &Profile, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone(profile)).date_naive()
}

/// Whether `date` is the yearly recurrence of month/day (29 February falls on the 28th
/// in other years, so nobody waits four years for a greeting).
fn is_recurrence(date: NaiveDate, month: u32, day: u32) -> bool {
    let leap_shift =
        month == 2 && day == 29 && NaiveDate::from_ymd_opt(date.year(), 2, 29).is_none();
    let day = if leap_shift { 28 } else { day };
    date.month() == month && date.day() == day
}

fn quarter(date: NaiveDate) -> String {
    format!("{}-Q{}", date.year(), date.month0() / 3 + 1)
}

/// Candidate messages with their triggers, before any rule removes one.
pub fn candidates(
    ctx: &CustomerContext<'_>,
    pop: &Population,
    rules: &OutreachRules,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let p = ctx.profile;
    let today = local_date(p, now);
    let clv = ctx.scores.map_or(0, |s| s.clv_minor);
    let plan = |kind, period: String, ev: i64, reason: String| Planned {
        kind,
        period,
        expected_value_minor: ev.max(1),
        offer: None,
        reward_points: 0,
        reason,
        recommendations: Vec::new(),
    };
    let mut out = Vec::new();

    if let Some(s) = ctx.scores
        && s.churn_risk >= rules.win_back_min_churn
        && s.clv_minor > pop.median_clv_minor
    {
        // Larger discounts for customers more likely to leave, capped; the coupon's
        // value is bounded by what the customer is expected to be worth.
        let discount_pct =
            ((s.churn_risk * f64::from(rules.win_back_max_discount_pct)).round() as u32).clamp(
                rules.win_back_min_discount_pct,
                rules.win_back_max_discount_pct,
            );
        let max_value_minor = (s.clv_minor / 4).max(100);
        let uplift = 0.15 * s.churn_risk;
        let ev = (s.clv_minor as f64 * uplift) as i64
            - max_value_minor * i64::from(discount_pct) / 100 / 2;
        if ev > 0 {
            let mut planned = plan(
                MessageKind::WinBack,
                quarter(today),
                ev,
                format!("churn risk {:.2}, CLV {}", s.churn_risk, s.clv_minor),
            );
            planned.offer = Some(Offer {
                discount_pct,
                max_value_minor,
            });
            out.push(planned);
        }
    }
    if ctx.scores.is_some() && clv >= pop.vip_clv_minor && pop.vip_clv_minor > 0 {
        out.push(plan(
            MessageKind::VipAppreciation,
            quarter(today),
            clv / 50,
            "Pareto top 20 % by CLV".into(),
        ));
    }
    if let Some(order) = &p.last_order {
        let age = days_between(order.placed_at, now);
        let order_period = order.order_id.to_string();
        if (rules.post_purchase_after_days..rules.post_purchase_after_days + 3).contains(&age) {
            out.push(plan(
                MessageKind::PostPurchase,
                order_period.clone(),
                150,
                format!("order {} {age} days ago", order.order_id),
            ));
        }
        if (rules.tips_after_days..rules.tips_after_days + 3).contains(&age)
            && order
                .skus
                .iter()
                .any(|s| rules.tips.iter().any(|t| t.covers(s.as_str())))
        {
            out.push(plan(
                MessageKind::ProductTips,
                order_period.clone(),
                80,
                "tips for products just bought".into(),
            ));
        }
        if (rules.review_request_after_days..rules.review_request_after_days + 7).contains(&age)
            && order.skus.iter().any(|s| !p.reviewed_skus.contains(s))
        {
            out.push(plan(
                MessageKind::ReviewRequest,
                order_period,
                100,
                format!("order {} not reviewed", order.order_id),
            ));
        }
    }
    if let Some(b) = p.birthday
        && is_recurrence(today, b.month, b.day)
    {
        let established = p
            .birthday_set_at
            .is_some_and(|set| days_between(set, now) >= rules.birthday_min_age_days);
        let mut planned = plan(
            MessageKind::Birthday,
            today.year().to_string(),
            200 + clv / 100,
            if established {
                "birthday, with reward".into()
            } else {
                "birthday set recently: no reward".into()
            },
        );
        planned.reward_points = if established {
            rules
                .tier_birthday_points
                .get(&p.tier)
                .copied()
                .unwrap_or(rules.birthday_points)
        } else {
            0
        };
        out.push(planned);
    }
    if let Some(first) = p.first_purchase_at {
        let first_local = local_date(p, first);
        let years = today.year() - first_local.year();
        if years >= 1 && is_recurrence(today, first_local.month(), first_local.day()) {
            let mut planned = plan(
                MessageKind::Anniversary,
                today.year().to_string(),
                150 + clv / 100,
                format!("{years} years a customer"),
            );
            planned.reward_points = rules.anniversary_points;
            out.push(planned);
        }
    }
    if let Some(at) = p.tier_changed_at
        && days_between(at, now) < 7
    {
        out.push(plan(
            MessageKind::TierChange,
            format!("{}-{}", p.tier, at.date_naive()),
            120,
            format!("now {}", p.tier),
        ));
    }
    if let Some((sku, on)) = super::replenish::due(p, ctx.rhythms, today) {
        out.push(plan(
            MessageKind::Replenishment,
            format!("{sku}:{on}"),
            130 + clv / 200,
            format!("{sku} due again around {on}"),
        ));
    }
    for (id, gift) in &p.gifts {
        if days_between(gift.at, now) < 7 {
            out.push(plan(
                MessageKind::SpendGift,
                format!("{id}:{}", gift.window),
                250,
                format!("{} for spending in {}", gift.reward, gift.window),
            ));
        }
    }
    if let Some(at) = p.referral_rewarded_at
        && days_between(at, now) < 7
    {
        out.push(plan(
            MessageKind::ReferralReward,
            at.date_naive().to_string(),
            120,
            "referral reward earned".into(),
        ));
    }
    if let Some(planned) = expiry_reminder(p, rules, now) {
        out.push(planned);
    }
    out.extend(welcome(ctx, rules, now));
    let language = crate::domain::contact::mail_language(p.locale.as_ref().map(|l| l.as_str()));
    let segment = ctx.scores.map(|s| s.segment);
    for festival in rules.festivals.iter().filter(|f| {
        f.dates.contains(&today)
            && (f.languages.is_empty() || f.languages.iter().any(|l| l == language))
            && (f.segments.is_empty() || segment.is_some_and(|s| f.segments.contains(&s)))
    }) {
        let mut planned = plan(
            MessageKind::Festival,
            format!("{}:{today}", festival.id),
            160 + clv / 100,
            format!("{} greeting", festival.name),
        );
        planned.reward_points = festival.bonus_points;
        out.push(planned);
    }
    if let (Some(make_good), Some(flag)) = (rules.make_good, &p.service_recovery)
        && p.service_recovery_open(now, rules.recovery_expiry_days)
        && (now - flag.opened_at).num_hours() < MAKE_GOOD_WITHIN_HOURS
    {
        let mut planned = plan(
            MessageKind::MakeGood,
            flag.opened_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            400,
            format!("{}-star review of {}", flag.rating, flag.sku),
        );
        match make_good {
            MakeGood::Points { points } => planned.reward_points = points,
            MakeGood::PercentOff {
                percent,
                max_value_minor,
            } => {
                planned.offer = Some(Offer {
                    discount_pct: percent,
                    max_value_minor,
                })
            }
        }
        out.push(planned);
    }
    if p.referral_ask && !p.service_recovery_open(now, rules.recovery_expiry_days) {
        let half = if today.month() <= 6 { 1 } else { 2 };
        out.push(plan(
            MessageKind::ReferralAsk,
            format!("{}-H{half}", today.year()),
            90,
            "happy reviewer".into(),
        ));
    }
    out
}

/// The reminder that the balance lapses soon: once per expiry date and reminder, the
/// nearest reminder whose days have begun. An order moves the expiry date, so a
/// reminder of the old date is never sent.
fn expiry_reminder(p: &Profile, rules: &OutreachRules, now: DateTime<Utc>) -> Option<Planned> {
    let months = rules.expiry_months?;
    let at = p.points_expire_at(months)?;
    if p.points_balance <= 0 || at <= now {
        return None;
    }
    let left = (at - now).num_days();
    let days = rules
        .expiry_reminder_days
        .iter()
        .filter(|d| left < i64::from(**d))
        .min()?;
    Some(Planned {
        kind: MessageKind::PointsExpiring,
        period: format!("{}-{days}d", at.date_naive()),
        expected_value_minor: 140 + p.points_balance.min(10_000) / 10,
        offer: None,
        reward_points: 0,
        reason: format!("{} points lapse on {}", p.points_balance, at.date_naive()),
        recommendations: Vec::new(),
    })
}

/// Days within which a new customer is welcomed.
const WELCOME_WITHIN_DAYS: i64 = 3;
/// Days after which the welcome's follow-up is no longer timely.
const WELCOME_FOLLOW_UP_WINDOW_DAYS: i64 = 10;

/// The welcome series: a welcome for a customer new in the last few days (signed up or
/// first ordered; customers whose history was imported are not new), then, once the
/// welcome was sent some days before, the referral code — unless they ordered again.
fn welcome(
    ctx: &CustomerContext<'_>,
    rules: &OutreachRules,
    now: DateTime<Utc>,
) -> Option<Planned> {
    let p = ctx.profile;
    let recent = |at: DateTime<Utc>| days_between(at, now) < WELCOME_WITHIN_DAYS;
    let plan = |kind, ev: i64, reason: &str| Planned {
        kind,
        period: "once".into(),
        expected_value_minor: ev,
        offer: None,
        reward_points: 0,
        reason: reason.into(),
        recommendations: Vec::new(),
    };
    if recent(p.created_at) && p.first_purchase_at.is_none_or(recent) {
        return Some(plan(MessageKind::Welcome, 300, "new customer"));
    }
    let welcomed = ctx
        .history
        .iter()
        .find(|h| h.kind == MessageKind::Welcome && !h.held_out)?;
    let since = days_between(welcomed.at, now);
    let due = rules.welcome_second_after_days;
    (p.orders <= 1 && (due..due + WELCOME_FOLLOW_UP_WINDOW_DAYS).contains(&since)).then(|| {
        plan(
            MessageKind::WelcomeReferral,
            110,
            "welcomed, not ordered again",
        )
    })
}

/// The control-group draw: stable for (customer, message, period), uniform over 0..100.
pub fn held_out(customer: &str, kind: MessageKind, period: &str, holdout_pct: u32) -> bool {
    let digest = Sha256::digest(format!("{customer}|{kind}|{period}").as_bytes());
    let bucket = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100;
    bucket < holdout_pct
}

/// The end of the quiet hours, if `now` is inside them for this customer.
fn quiet_until(
    profile: &Profile,
    rules: &OutreachRules,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = zone(profile);
    let local = now.with_timezone(&tz);
    let hour = local.hour();
    let quiet = if rules.quiet_start > rules.quiet_end {
        hour >= rules.quiet_start || hour < rules.quiet_end
    } else {
        (rules.quiet_start..rules.quiet_end).contains(&hour)
    };
    if !quiet {
        return None;
    }
    let day = if hour >= rules.quiet_end {
        local.date_naive() + Duration::days(1)
    } else {
        local.date_naive()
    };
    let end = day.and_time(NaiveTime::from_hms_opt(rules.quiet_end, 0, 0).unwrap_or_default());
    // A gap from a daylight-saving change: try an hour later.
    tz.from_local_datetime(&end)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// The one decision for this customer today.
pub fn decide(
    ctx: &CustomerContext<'_>,
    pop: &Population,
    rules: &OutreachRules,
    now: DateTime<Utc>,
) -> Decision {
    let mut due: Vec<Planned> = candidates(ctx, pop, rules, now)
        .into_iter()
        .filter(|c| {
            !ctx.history
                .iter()
                .any(|h| h.kind == c.kind && h.period == c.period)
        })
        .collect();
    if due.is_empty() {
        return Decision::Nothing;
    }
    due.sort_by(|a, b| {
        b.expected_value_minor
            .cmp(&a.expected_value_minor)
            .then(a.kind.cmp(&b.kind))
    });
    let top = due[0].kind;
    let suppressed = |reason| Decision::Suppressed { kind: top, reason };
    if ctx.profile.email.is_none() {
        return suppressed(SuppressReason::NoEmail);
    }
    if ctx.address_suppressed {
        return suppressed(SuppressReason::AddressSuppressed);
    }
    let seen = |days: i64| {
        ctx.history
            .iter()
            .filter(|h| days_between(h.at, now) < days)
            .count()
    };
    if seen(7) >= rules.max_per_7_days || seen(30) >= rules.max_per_30_days {
        return suppressed(SuppressReason::FrequencyCap);
    }
    let recovery = ctx
        .profile
        .service_recovery_open(now, rules.recovery_expiry_days);
    let consent = ctx.profile.marketing_allowed();
    let allowed = |c: &Planned| !c.kind.marketing() || (consent && !recovery);
    let Some(mut chosen) = due.iter().find(|c| allowed(c)).cloned() else {
        return suppressed(if recovery && consent {
            SuppressReason::ServiceRecovery
        } else {
            SuppressReason::NoConsent
        });
    };
    // The check-in, the win-back and the welcome suggest what the buyers of what the
    // customer bought also bought.
    if matches!(
        chosen.kind,
        MessageKind::PostPurchase | MessageKind::WinBack | MessageKind::Welcome
    ) {
        chosen.recommendations = (ctx.co_purchases.for_customer(ctx.profile).iter())
            .map(|sku| ctx.co_purchases.display(sku))
            .collect();
    }
    if held_out(
        ctx.profile.customer_id.as_str(),
        chosen.kind,
        &chosen.period,
        rules.holdout_pct,
    ) {
        return Decision::HoldOut(chosen);
    }
    match quiet_until(ctx.profile, rules, now) {
        Some(until) => Decision::Defer {
            planned: chosen,
            until,
        },
        None => Decision::Send(chosen),
    }
}
