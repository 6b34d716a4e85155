//! A customer's profile and what it refers to: orders, the referral that brought the
//! customer, rewards still held.
//!
//! The profile carries the aggregates the scoring job needs (first/last purchase, the
//! distinct purchase days with their net spend, the oldest folded into [`FoldedDays`];
//! order count, net and repeat spend) so that one scan of profiles is enough to score
//! every customer. Changes of the points balance are in [`super::ledger`], the only
//! place that moves it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{
    Birthday, CustomerId, Email, EventId, FirstName, Locale, OrderId, ProductName, Sku, Tier,
};

mod days;
pub use days::{DaySpend, FoldedDays, PURCHASE_DAYS_KEPT, SpendSpan};

/// Days in the trailing window that decides the tier.
pub const TIER_WINDOW_DAYS: u64 = 365;
/// The longest grace a program may give a tier after its holder last qualified for it.
pub const MAX_GRACE_DAYS: u64 = 365;
/// Products of the latest order the profile keeps (distinct, in order): enough for the
/// check-in, tips and review request, and bounded however large an order is.
pub const LAST_ORDER_SKUS: usize = 50;
/// Products whose purchase days a profile keeps for replenishment.
pub const SKU_HISTORY: usize = 100;
/// Reviewed products the profile remembers, most recent last. Older ones are forgotten:
/// a customer who buys again a product reviewed that many reviews ago may be asked to
/// review it again. Each review itself is its own item, kept in full.
pub const REMEMBERED_REVIEWS: usize = 100;

/// The products a customer reviewed most recently, at most [`REMEMBERED_REVIEWS`],
/// oldest first; a profile item's size must not grow with the number of reviews.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecentSkus(Vec<Sku>);

impl RecentSkus {
    pub fn contains(&self, sku: &Sku) -> bool {
        self.0.contains(sku)
    }

    /// Remembers `sku` as the most recent, forgetting the oldest beyond the limit.
    pub fn insert(&mut self, sku: Sku) {
        self.0.retain(|s| *s != sku);
        self.0.push(sku);
        let excess = self.0.len().saturating_sub(REMEMBERED_REVIEWS);
        self.0.drain(..excess);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub customer_id: CustomerId,
    pub tier: Tier,
    /// Always the sum of the customer's ledger entries.
    pub points_balance: i64,
    /// Points granted but still held (e.g. during a return window).
    #[serde(default)]
    pub points_pending: i64,
    /// Number of ledger entries written so far; the next entry's sequence number.
    pub ledger_entries: u64,
    /// Purchase orders recorded (refunds do not reduce it).
    pub orders: u64,
    /// Purchases minus refunds, in minor units.
    pub net_spend_minor: i64,
    /// Net spend on every purchase day after the first — the spend the Gamma-Gamma
    /// model explains.
    pub repeat_spend_minor: i64,
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Net spend per distinct purchase day (UTC) of the last [`PURCHASE_DAYS_KEPT`] days
    /// before the latest purchase day; older days are folded into `earlier_days`. It
    /// gives the window spend for tiers and spend gifts and, with `earlier_days`, the
    /// number of purchase days ([`Profile::purchase_day_count`]) and the history the
    /// models read, without reading orders.
    #[serde(default)]
    pub purchase_days: BTreeMap<NaiveDate, i64>,
    /// The purchase days older than `purchase_days` keeps, folded into one aggregate;
    /// absent until a customer's history is that long (and on profiles stored before
    /// there was folding, until they next change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_days: Option<FoldedDays>,
    pub email: Option<Email>,
    pub locale: Option<Locale>,
    pub birthday: Option<Birthday>,
    /// When the birthday was first given or last changed; birthday rewards wait 30 days
    /// after it so that a fresh sign-up cannot claim one at once.
    pub birthday_set_at: Option<DateTime<Utc>>,
    /// Open after a low rating: support follows up, and promotions wait.
    #[serde(default)]
    pub service_recovery: Option<ServiceRecovery>,
    /// A happy reviewer (rating 4 or 5): a good moment to ask for a referral.
    #[serde(default)]
    pub referral_ask: bool,
    /// This customer's shareable code, once asked for.
    #[serde(default)]
    pub referral_code: Option<String>,
    /// Who referred this customer, and how it ended.
    #[serde(default)]
    pub referred_by: Option<Attribution>,
    /// Rewards granted but held; their sum is `points_pending`.
    #[serde(default)]
    pub pending_rewards: Vec<PendingReward>,
    /// When this customer's recent referrals were accepted (the last 30 days).
    #[serde(default)]
    pub referral_log: Vec<DateTime<Utc>>,
    #[serde(default)]
    pub referrals_converted: u32,
    #[serde(default)]
    pub ambassador: bool,
    /// Marketing consent as last given or withdrawn, with when and where.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// IANA time zone, for quiet hours and local dates (birthdays).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The latest order, for post-purchase check-ins, tips and review requests.
    #[serde(default)]
    pub last_order: Option<OrderSummary>,
    /// Products this customer reviewed most recently.
    #[serde(default)]
    pub reviewed_skus: RecentSkus,
    /// When the tier last changed, for the tier-change notice.
    #[serde(default)]
    pub tier_changed_at: Option<DateTime<Utc>>,
    /// When this customer last earned a referral reward, for the referral-reward notice.
    #[serde(default)]
    pub referral_rewarded_at: Option<DateTime<Utc>>,
    /// Days on which points were redeemed, for the control-group comparison of messages.
    #[serde(default)]
    pub redemption_days: std::collections::BTreeSet<NaiveDate>,
    /// How often the customer redeemed each reward of the program's catalogue, by
    /// reward id (for its per-customer limit; bounded by the catalogue's size).
    #[serde(default)]
    pub rewards_redeemed: BTreeMap<String, u32>,
    /// Points earned and redeemed per day over the last month (older days are dropped
    /// as entries are posted), for the program's statistics without reading ledgers.
    #[serde(default)]
    pub recent_points: BTreeMap<NaiveDate, DayPoints>,
    /// When the customer's points last expired: a refund of an order placed before then
    /// takes back at most what the balance holds.
    #[serde(default)]
    pub points_expired_at: Option<DateTime<Utc>>,
    /// Points earned per day (orders, reviews, referrals, less refunds) over about two
    /// years, and in all, for a tier ladder on points.
    #[serde(default)]
    pub earned_days: BTreeMap<NaiveDate, i64>,
    #[serde(default)]
    pub earned_points: i64,
    /// Tiers whose welcome points the customer has had: once per tier, however often
    /// they leave it and come back.
    #[serde(default)]
    pub tiers_welcomed: std::collections::BTreeSet<Tier>,
    /// The name the customer goes by, for greetings.
    #[serde(default)]
    pub first_name: Option<FirstName>,
    /// When each activity (or activity on a network) earned points, latest last and at
    /// most 100 each, for the program's limits.
    #[serde(default)]
    pub activities: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// Each product's purchase days, for replenishment reminders: at most
    /// [`SKU_HISTORY`] products, the least recently bought dropped first.
    #[serde(default)]
    pub sku_history: BTreeMap<Sku, crate::domain::outreach::replenish::SkuHistory>,
    /// The latest grant of each spend gift of the program.
    #[serde(default)]
    pub gifts: BTreeMap<String, GiftGrant>,
    /// When the customer's personal data was erased. An erased profile keeps its
    /// accounting (points, orders, aggregates) but never takes contact data again.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Profile {
    pub fn new(customer_id: CustomerId, tier: Tier, now: DateTime<Utc>) -> Self {
        Self {
            customer_id,
            tier,
            points_balance: 0,
            points_pending: 0,
            ledger_entries: 0,
            orders: 0,
            net_spend_minor: 0,
            repeat_spend_minor: 0,
            first_purchase_at: None,
            last_purchase_at: None,
            purchase_days: BTreeMap::new(),
            earlier_days: None,
            email: None,
            locale: None,
            birthday: None,
            birthday_set_at: None,
            service_recovery: None,
            referral_ask: false,
            referral_code: None,
            referred_by: None,
            pending_rewards: Vec::new(),
            referral_log: Vec::new(),
            referrals_converted: 0,
            ambassador: false,
            consent: None,
            timezone: None,
            last_order: None,
            reviewed_skus: RecentSkus::default(),
            tier_changed_at: None,
            referral_rewarded_at: None,
            redemption_days: std::collections::BTreeSet::new(),
            rewards_redeemed: BTreeMap::new(),
            recent_points: BTreeMap::new(),
            points_expired_at: None,
            earned_days: BTreeMap::new(),
            earned_points: 0,
            tiers_welcomed: std::collections::BTreeSet::new(),
            first_name: None,
            activities: BTreeMap::new(),
            gifts: BTreeMap::new(),
            sku_history: BTreeMap::new(),
            erased_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the customer's personal data was erased.
    pub fn is_erased(&self) -> bool {
        self.erased_at.is_some()
    }

    /// Notes that `skus` were bought on `day`, for their rhythm.
    pub(crate) fn note_skus_bought(&mut self, items: &[LineItem], day: NaiveDate) {
        use crate::domain::outreach::replenish::SkuHistory;
        for item in items {
            let h = self
                .sku_history
                .entry(item.sku.clone())
                .or_insert(SkuHistory {
                    first: day,
                    last: day,
                    days: 0,
                    name: None,
                });
            if item.name.is_some() && day >= h.last {
                h.name = item.name.clone();
            }
            if h.days == 0 || day > h.last || day < h.first {
                h.days += 1;
            }
            h.first = h.first.min(day);
            h.last = h.last.max(day);
        }
        while self.sku_history.len() > SKU_HISTORY {
            let oldest = self
                .sku_history
                .iter()
                .min_by_key(|(_, h)| h.last)
                .map(|(sku, _)| sku.clone());
            match oldest {
                Some(sku) => self.sku_history.remove(&sku),
                None => break,
            };
        }
    }

    /// Records a purchase's time; events may arrive out of order, so both ends move.
    pub(crate) fn note_purchase_time(&mut self, at: DateTime<Utc>) {
        self.first_purchase_at = Some(self.first_purchase_at.map_or(at, |f| f.min(at)));
        self.last_purchase_at = Some(self.last_purchase_at.map_or(at, |l| l.max(at)));
    }
}

/// A gift the customer was granted, as their profile keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftGrant {
    pub at: DateTime<Utc>,
    /// The window it was granted for (`2027`, `ever`, or the day of a rolling grant).
    pub window: String,
    pub coupon_code: String,
    pub expires_at: DateTime<Utc>,
    /// The reward's name, as the announcement names it.
    pub reward: String,
}

/// The contact details an event may bring, each only when it brings it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactDetails<'a> {
    pub email: Option<&'a Email>,
    pub first_name: Option<&'a FirstName>,
    pub locale: Option<&'a Locale>,
    pub birthday: Option<Birthday>,
    pub timezone: Option<&'a String>,
    pub marketing_consent: Option<bool>,
}

impl Profile {
    /// Takes the contact details an event brings; `source` names the event as the
    /// consent decision's origin. An erased customer's events still count for
    /// accounting, but their contact data is not stored again: erasure must not be
    /// undone by the next checkout.
    pub(crate) fn take_contact(
        &mut self,
        details: ContactDetails<'_>,
        source: String,
        now: DateTime<Utc>,
    ) {
        if self.is_erased() {
            return;
        }
        if let Some(tz) = details.timezone {
            self.timezone = Some(tz.clone());
        }
        if let Some(marketing) = details.marketing_consent {
            self.set_marketing_consent(marketing, source, now);
        }
        if let Some(email) = details.email {
            self.email = Some(email.clone());
        }
        if let Some(name) = details.first_name {
            self.first_name = Some(name.clone());
        }
        if let Some(locale) = details.locale {
            self.locale = Some(locale.clone());
        }
        if let Some(birthday) = details.birthday
            && self.birthday != Some(birthday)
        {
            self.birthday = Some(birthday);
            self.birthday_set_at = Some(now);
        }
    }
}

/// Where a referee's referral stands, as their profile records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionStatus {
    Pending,
    Converted,
    Cancelled,
    /// Refused at conversion (the referee's first order gave the referrer's address):
    /// neither side is rewarded.
    Rejected,
}

/// On the referee's profile: who referred them and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub referrer: CustomerId,
    pub code: String,
    pub event_id: EventId,
    pub status: AttributionStatus,
    pub attributed_at: DateTime<Utc>,
    /// The order that converted the referral.
    pub order_id: Option<OrderId>,
    /// Why the referral was rejected at conversion.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One day's points: earned (every credit) and redeemed (spent on coupons).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayPoints {
    pub earned: i64,
    pub redeemed: i64,
    #[serde(default)]
    pub expired: i64,
}

/// Days of points activity a profile keeps.
pub const RECENT_POINTS_DAYS: i64 = 31;

/// Where a referral stands, as the referrer's record of it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Pending,
    Rejected,
    Converted,
    Cancelled,
}

/// Points granted but held until `release_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReward {
    pub points: i64,
    pub release_at: DateTime<Utc>,
    /// The order the reward depends on: a refund of it inside the window cancels it.
    pub order_id: OrderId,
    /// The event that granted it.
    pub source: String,
}

/// The latest order in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub order_id: OrderId,
    pub placed_at: DateTime<Utc>,
    /// The order's distinct products, in order, at most [`LAST_ORDER_SKUS`].
    pub skus: Vec<Sku>,
}

impl OrderSummary {
    pub fn new<'a>(
        order_id: OrderId,
        placed_at: DateTime<Utc>,
        skus: impl IntoIterator<Item = &'a Sku>,
    ) -> Self {
        let mut distinct: Vec<Sku> = Vec::new();
        for sku in skus {
            if distinct.len() == LAST_ORDER_SKUS {
                break;
            }
            if !distinct.contains(sku) {
                distinct.push(sku.clone());
            }
        }
        Self {
            order_id,
            placed_at,
            skus: distinct,
        }
    }
}

/// Marketing consent: promotional messages need `marketing: true`; service messages
/// (receipts, alerts) do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub marketing: bool,
    pub updated_at: DateTime<Utc>,
    /// Where it came from, e.g. `purchase:<event id>` or `unsubscribe`.
    pub source: String,
}

impl Profile {
    /// Records a consent decision if it changes anything; the latest decision wins.
    pub fn set_marketing_consent(&mut self, marketing: bool, source: String, at: DateTime<Utc>) {
        if self
            .consent
            .as_ref()
            .is_none_or(|c| c.marketing != marketing)
        {
            self.consent = Some(Consent {
                marketing,
                updated_at: at,
                source,
            });
        }
    }

    pub fn marketing_allowed(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.marketing)
    }
}

/// A service-recovery flag, raised by a low rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecovery {
    pub opened_at: DateTime<Utc>,
    pub sku: Sku,
    pub order_id: OrderId,
    pub rating: u8,
}

impl Profile {
    /// Whether the flag is open at `now`: raised and neither cleared nor expired.
    pub fn service_recovery_open(&self, now: DateTime<Utc>, expiry_days: i64) -> bool {
        self.service_recovery
            .as_ref()
            .is_some_and(|f| now < f.opened_at + chrono::Duration::days(expiry_days))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price_minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ProductName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub placed_at: DateTime<Utc>,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub points_awarded: i64,
    pub points_reversed: i64,
    pub items: Vec<LineItem>,
    pub event_id: EventId,
}

impl Order {
    pub fn day(&self) -> NaiveDate {
        self.placed_at.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn repeat_spend_excludes_the_first_day_even_out_of_order() {
        let mut p = Profile::new(
            CustomerId::parse("c", "c1").unwrap(),
            Tier("bronze".into()),
            Utc::now(),
        );
        p.add_to_day(day("2026-03-01"), 1000);
        p.add_to_day(day("2026-02-01"), 500); // arrives late, becomes the first day
        p.add_to_day(day("2026-03-01"), 200);
        assert_eq!(p.net_spend_minor, 1700);
        assert_eq!(p.repeat_spend_minor, 1200);
        assert_eq!(p.purchase_days.len(), 2);
    }

    #[test]
    fn trailing_window_is_365_days_inclusive() {
        let mut p = Profile::new(
            CustomerId::parse("c", "c1").unwrap(),
            Tier("bronze".into()),
            Utc::now(),
        );
        p.add_to_day(day("2025-01-01"), 100);
        p.add_to_day(day("2025-06-01"), 10);
        let rolling = crate::domain::loyalty::Qualification::default();
        assert_eq!(p.qualifying(&rolling, day("2025-12-31")), 110);
        assert_eq!(p.qualifying(&rolling, day("2026-01-01")), 10);
    }

    fn sku(i: usize) -> Sku {
        Sku::parse("sku", &format!("SKU-{i}")).unwrap()
    }

    #[test]
    fn remembered_reviews_are_bounded_and_most_recent() {
        let mut r = RecentSkus::default();
        for i in 0..REMEMBERED_REVIEWS + 30 {
            r.insert(sku(i));
        }
        assert_eq!(r.len(), REMEMBERED_REVIEWS);
        assert!(!r.contains(&sku(29)), "the oldest are forgotten");
        assert!(r.contains(&sku(30)));
        // Reviewing again makes it the most recent, without a second entry.
        r.insert(sku(30));
        r.insert(sku(10_000));
        assert_eq!(r.len(), REMEMBERED_REVIEWS);
        assert!(r.contains(&sku(30)));
        assert!(!r.contains(&sku(31)));
    }

    #[test]
    fn the_last_order_keeps_its_distinct_products_up_to_the_limit() {
        let order = OrderId::parse("o", "o1").unwrap();
        let many: Vec<Sku> = (0..LAST_ORDER_SKUS * 3)
            .map(|i| sku(i % (LAST_ORDER_SKUS + 5)))
            .collect();
        let summary = OrderSummary::new(order, Utc::now(), &many);
        assert_eq!(summary.skus.len(), LAST_ORDER_SKUS);
        assert_eq!(summary.skus[0], sku(0));
        let few = [sku(1), sku(1), sku(2)];
        let summary = OrderSummary::new(summary.order_id, Utc::now(), &few);
        assert_eq!(summary.skus, vec![sku(1), sku(2)]);
    }
}
