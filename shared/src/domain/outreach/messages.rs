//! What the outreach rules decide about and remember: the message kinds, a planned
//! message with its offer, the stored record of each message (the exactly-once claim),
//! and the job's state per customer (latest scores and recent messages).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::domain::{Coupon, CouponTerms, CustomerId, CustomerScores};

/// The messages Rapport can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    WinBack,
    VipAppreciation,
    PostPurchase,
    ReviewRequest,
    Birthday,
    Anniversary,
    ProductTips,
    TierChange,
    ReferralReward,
    ReferralAsk,
    /// Points about to lapse under the program's expiry.
    PointsExpiring,
    /// A new customer's welcome: what the program is, the balance, what points buy.
    Welcome,
    /// The welcome's follow-up a few days later: the customer's referral code.
    WelcomeReferral,
    /// An apology after a low rating, with the program's make-good (points or a
    /// coupon), within hours of the flag.
    MakeGood,
    /// A festival or seasonal greeting of the program's calendar.
    Festival,
    /// A spend gift the customer was just granted, with its coupon.
    SpendGift,
    /// A product bought at a steady rhythm is due again.
    Replenishment,
}

impl MessageKind {
    pub const ALL: [MessageKind; 17] = [
        MessageKind::WinBack,
        MessageKind::VipAppreciation,
        MessageKind::PostPurchase,
        MessageKind::ReviewRequest,
        MessageKind::Birthday,
        MessageKind::Anniversary,
        MessageKind::ProductTips,
        MessageKind::TierChange,
        MessageKind::ReferralReward,
        MessageKind::ReferralAsk,
        MessageKind::PointsExpiring,
        MessageKind::Welcome,
        MessageKind::WelcomeReferral,
        MessageKind::MakeGood,
        MessageKind::Festival,
        MessageKind::SpendGift,
        MessageKind::Replenishment,
    ];

    /// The kind a slug names.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    pub fn slug(self) -> &'static str {
        match self {
            MessageKind::WinBack => "win_back",
            MessageKind::VipAppreciation => "vip_appreciation",
            MessageKind::PostPurchase => "post_purchase",
            MessageKind::ReviewRequest => "review_request",
            MessageKind::Birthday => "birthday",
            MessageKind::Anniversary => "anniversary",
            MessageKind::ProductTips => "product_tips",
            MessageKind::TierChange => "tier_change",
            MessageKind::ReferralReward => "referral_reward",
            MessageKind::ReferralAsk => "referral_ask",
            MessageKind::PointsExpiring => "points_expiring",
            MessageKind::Welcome => "welcome",
            MessageKind::WelcomeReferral => "welcome_referral",
            MessageKind::MakeGood => "make_good",
            MessageKind::Festival => "festival",
            MessageKind::SpendGift => "spend_gift",
            MessageKind::Replenishment => "replenishment",
        }
    }

    /// Whether this is a marketing message: one Rapport sends on its own initiative, to
    /// sell, engage or greet. Marketing needs consent — so the one-click unsubscribe,
    /// which withdraws it, stops every such message — and pauses while a
    /// service-recovery flag is open.
    ///
    /// The others are notices of a change to the customer's own account, as a
    /// statement would show it: a new tier, points a referral earned, the apology and
    /// make-good after the customer's own complaint (which the open service-recovery
    /// flag must not hold back). They need no
    /// consent and still go after an unsubscribe. None of the messages is one the
    /// customer asked for; a post-purchase check-in asks how an order went and is
    /// marketing, and so is the reminder that points will lapse (it asks for an order).
    /// Every kind is listed, so a new one must be placed.
    pub fn marketing(self) -> bool {
        match self {
            MessageKind::WinBack
            | MessageKind::VipAppreciation
            | MessageKind::PostPurchase
            | MessageKind::ReviewRequest
            | MessageKind::Birthday
            | MessageKind::Anniversary
            | MessageKind::ProductTips
            | MessageKind::ReferralAsk
            | MessageKind::PointsExpiring
            | MessageKind::Welcome
            | MessageKind::WelcomeReferral
            | MessageKind::Festival
            | MessageKind::Replenishment => true,
            MessageKind::TierChange
            | MessageKind::ReferralReward
            | MessageKind::MakeGood
            | MessageKind::SpendGift => false,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A message sent (or held out) before, as far as the rules need to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastMessage {
    pub kind: MessageKind,
    pub period: String,
    pub at: DateTime<Utc>,
    /// Held out as the control group. Such a message still takes its slot under the
    /// frequency cap: were the control group to get the next-best message instead, it
    /// would no longer show what happens without a message.
    pub held_out: bool,
}

/// A win-back discount, sized by what the customer is worth and how likely they are
/// to leave, and paid from the run's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub discount_pct: u32,
    /// Most the coupon can be worth, in minor units; what the budget is charged.
    pub max_value_minor: i64,
}

/// A message the rules would send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    pub kind: MessageKind,
    /// With the customer and kind, identifies the message: at most one per period.
    pub period: String,
    pub expected_value_minor: i64,
    pub offer: Option<Offer>,
    /// Points granted with the message (birthday).
    pub reward_points: i64,
    /// For the report: what triggered it.
    pub reason: String,
    /// Products to suggest with it (customers who bought what they bought also bought).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<String>,
}

/// Where a message stands. A message is claimed (`sending`) before it is handed to SES,
/// so no later or concurrent run can send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Sending,
    Sent,
    /// SES refused it; a later run may claim it again.
    Failed,
    HeldOut,
}

/// The stored record of one message (customer, kind, period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub customer_id: CustomerId,
    pub kind: MessageKind,
    pub period: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub decided_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_value_minor: i64,
    pub reason: String,
    pub offer: Option<Offer>,
    /// The unique coupon of an offer.
    pub coupon_code: Option<String>,
    pub coupon_expires_at: Option<DateTime<Utc>>,
    pub reward_points: i64,
    /// The provider's id once sent.
    pub message_id: Option<String>,
    pub error: Option<String>,
}

impl MessageRecord {
    /// The coupon of the message's offer, as a checkout sees it.
    pub fn coupon(&self) -> Option<Coupon> {
        Some(Coupon {
            code: self.coupon_code.clone()?,
            customer_id: self.customer_id.clone(),
            terms: self.offer.map(|offer| CouponTerms::PercentOff {
                percent: offer.discount_pct,
                max_value_minor: offer.max_value_minor,
            }),
            issued_at: Some(self.decided_at),
            expires_at: self.coupon_expires_at,
            origin: Some(format!("message:{}:{}", self.kind, self.period)),
            used: None,
            refused: None,
            min_order_minor: None,
            synced: Default::default(),
        })
    }

    /// The record of `planned` for `customer`, in `status`, decided `now`.
    pub fn new(
        customer: &CustomerId,
        planned: &Planned,
        status: MessageStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            customer_id: customer.clone(),
            kind: planned.kind,
            period: planned.period.clone(),
            status,
            attempts: u32::from(status == MessageStatus::Sending),
            decided_at: now,
            updated_at: now,
            expected_value_minor: planned.expected_value_minor,
            reason: planned.reason.clone(),
            offer: planned.offer,
            coupon_code: None,
            coupon_expires_at: None,
            reward_points: planned.reward_points,
            message_id: None,
            error: None,
        }
    }

    /// What the rules need to remember of it.
    pub fn past(&self) -> PastMessage {
        PastMessage {
            kind: self.kind,
            period: self.period.clone(),
            at: self.decided_at,
            held_out: self.status == MessageStatus::HeldOut,
        }
    }
}

/// Everything the job keeps per customer between runs, in the job-owned item: the
/// latest scores and the recent messages (for frequency caps and once-per-period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub customer_id: CustomerId,
    pub scores: Option<CustomerScores>,
    #[serde(default)]
    pub messages: Vec<PastMessage>,
}
