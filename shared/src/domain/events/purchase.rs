//! Purchase and refund events: the wire shape, its validation, and the rule that turns
//! one event into a new profile, order and ledger entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fields::{optional, parse_time, required};
use crate::domain::loyalty::SELF_REFERRAL_BY_EMAIL;
use crate::domain::profile::ContactDetails;
use crate::domain::{
    AttributionStatus, Birthday, CouponOutcome, Currency, CustomerId, DomainError, Email, EventId,
    FieldError, FirstName, LedgerEntry, LedgerReason, LineItem, Locale, LoyaltyRules, Money, Order,
    OrderId, OrderSummary, ProductName, Profile, ReferralRules, ReferralStatus, Sku, Tier,
};

/// Most line items one order may carry.
pub const MAX_ITEMS: usize = 500;

/// The JSON body of `POST /v1/events/purchase` as sent. Every field is optional here so
/// that a missing one is reported by name from [`PurchaseInput::validate`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PurchaseInput {
    pub event_id: Option<String>,
    pub kind: Option<String>,
    pub customer_id: Option<String>,
    pub order_id: Option<String>,
    pub occurred_at: Option<String>,
    pub currency: Option<String>,
    pub total_minor: Option<i64>,
    pub items: Option<Vec<LineItemInput>>,
    pub email: Option<String>,
    /// The name the customer goes by, for greetings.
    pub first_name: Option<String>,
    pub locale: Option<String>,
    pub birthday: Option<String>,
    pub referral_code: Option<String>,
    /// The customer's marketing opt-in (true) or opt-out (false) at checkout.
    pub marketing_consent: Option<bool>,
    /// IANA time zone, e.g. `Asia/Kolkata`.
    pub timezone: Option<String>,
    /// Coupon codes the order used at checkout; Rapport's own are marked used by it.
    pub coupon_codes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LineItemInput {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price_minor: Option<i64>,
    /// The product's name as customers know it, for mail that names it.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseKind {
    Purchase,
    Refund,
}

/// A validated purchase or refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseEvent {
    pub event_id: EventId,
    pub kind: PurchaseKind,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub occurred_at: DateTime<Utc>,
    pub total: Money,
    pub items: Vec<LineItem>,
    pub email: Option<Email>,
    pub first_name: Option<FirstName>,
    pub locale: Option<Locale>,
    pub birthday: Option<Birthday>,
    pub referral_code: Option<String>,
    pub marketing_consent: Option<bool>,
    pub timezone: Option<String>,
    /// The codes the order used, normalised (see `coupons::order_codes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coupon_codes: Vec<String>,
    /// A refund of at most what the order still holds: more is not an error but the
    /// rest. Storefront platforms report refunds and cancellations of one order
    /// separately (a cancellation then its refund, or the other way round), so each
    /// takes what is left and the second finds nothing. Never set from the native API,
    /// where a refund larger than the order is a mistake to report.
    #[serde(skip)]
    pub up_to_refundable: bool,
}

impl PurchaseInput {
    pub fn validate(self) -> Result<PurchaseEvent, FieldError> {
        let event_id = EventId::parse("event_id", &required("event_id", self.event_id)?)?;
        let kind = match required("kind", self.kind)?.as_str() {
            "purchase" => PurchaseKind::Purchase,
            "refund" => PurchaseKind::Refund,
            other => {
                return Err(FieldError::new(
                    "kind",
                    format!("{other:?} is not one of \"purchase\", \"refund\""),
                ));
            }
        };
        let customer_id =
            CustomerId::parse("customer_id", &required("customer_id", self.customer_id)?)?;
        let order_id = OrderId::parse("order_id", &required("order_id", self.order_id)?)?;
        let occurred_at = parse_time("occurred_at", &required("occurred_at", self.occurred_at)?)?;
        let currency = Currency::parse("currency", &required("currency", self.currency)?)?;
        let total = Money::new(
            "total_minor",
            required("total_minor", self.total_minor)?,
            currency,
        )?;

        let items = match (kind, self.items) {
            (PurchaseKind::Purchase, None) => return Err(FieldError::new("items", "is required")),
            (_, None) => Vec::new(),
            (_, Some(items)) => validate_items(items, currency)?,
        };
        if kind == PurchaseKind::Purchase {
            if items.is_empty() {
                return Err(FieldError::new("items", "must list at least one item"));
            }
            let sum: i128 = items
                .iter()
                .map(|i| i128::from(i.quantity) * i128::from(i.unit_price_minor))
                .sum();
            if sum != i128::from(total.minor) {
                return Err(FieldError::new(
                    "items",
                    format!("add up to {sum}, but total_minor is {}", total.minor),
                ));
            }
        } else if total.minor == 0 {
            return Err(FieldError::new("total_minor", "a refund must be positive"));
        }

        let referral_code = self
            .referral_code
            .map(|code| {
                let code = code.trim().to_ascii_uppercase();
                if (4..=32).contains(&code.len())
                    && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    Ok(code)
                } else {
                    Err(FieldError::new(
                        "referral_code",
                        "must be 4-32 letters, digits or -",
                    ))
                }
            })
            .transpose()?;

        Ok(PurchaseEvent {
            event_id,
            kind,
            customer_id,
            order_id,
            occurred_at,
            total,
            items,
            email: optional("email", self.email.as_deref(), Email::parse)?,
            first_name: optional("first_name", self.first_name.as_deref(), FirstName::parse)?,
            locale: optional("locale", self.locale.as_deref(), Locale::parse)?,
            birthday: optional("birthday", self.birthday.as_deref(), Birthday::parse)?,
            referral_code,
            marketing_consent: self.marketing_consent,
            timezone: self
                .timezone
                .map(|tz| {
                    tz.parse::<chrono_tz::Tz>().map(|_| tz).map_err(|_| {
                        FieldError::new(
                            "timezone",
                            "must be an IANA time zone such as Asia/Kolkata",
                        )
                    })
                })
                .transpose()?,
            coupon_codes: match self.coupon_codes {
                Some(codes) => crate::domain::coupons::order_codes("coupon_codes", &codes)?,
                None => Vec::new(),
            },
            up_to_refundable: false,
        })
    }
}

impl PurchaseEvent {
    /// This refund, taking at most what its order still holds (see
    /// [`PurchaseEvent::up_to_refundable`]).
    pub fn up_to_refundable(self) -> Self {
        Self {
            up_to_refundable: true,
            ..self
        }
    }
}

fn validate_items(
    items: Vec<LineItemInput>,
    currency: Currency,
) -> Result<Vec<LineItem>, FieldError> {
    if items.len() > MAX_ITEMS {
        return Err(FieldError::new(
            "items",
            format!("must have at most {MAX_ITEMS} entries"),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(n, item)| {
            let field = |name: &str| format!("items[{n}].{name}");
            let sku = Sku::parse(&field("sku"), &required(&field("sku"), item.sku)?)?;
            let quantity = required(&field("quantity"), item.quantity)?;
            let quantity = u32::try_from(quantity)
                .ok()
                .filter(|q| (1..=100_000).contains(q))
                .ok_or_else(|| {
                    FieldError::new(field("quantity"), "must be between 1 and 100000")
                })?;
            let price = required(&field("unit_price_minor"), item.unit_price_minor)?;
            let price = Money::new(&field("unit_price_minor"), price, currency)?;
            let name = item
                .name
                .map(|n| ProductName::parse(&field("name"), &n))
                .transpose()?;
            Ok(LineItem {
                sku,
                quantity,
                unit_price_minor: price.minor,
                name,
            })
        })
        .collect()
}

/// What the storefront gets back, and what a duplicate delivery gets back again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseReceipt {
    pub event_id: EventId,
    pub duplicate: bool,
    pub kind: PurchaseKind,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    /// Points this event added (negative for a refund).
    pub points_delta: i64,
    pub points_balance: i64,
    pub points_pending: i64,
    pub tier: Tier,
    pub previous_tier: Tier,
    pub orders: u64,
    pub net_spend_minor: i64,
    pub currency: Currency,
    /// The customer's own referral, when this event converted, cancelled or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<ReferralChange>,
    /// What the order did with Rapport's coupon codes it named: found on every
    /// delivery, not stored with the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<CouponOutcome>,
}

/// What an event did to the referral that brought the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralChange {
    pub status: ReferralStatus,
    /// Why it was rejected.
    pub reason: Option<String>,
}

impl PurchaseReceipt {
    /// The receipt as answered to a delivery: `replayed` when it is the stored answer of
    /// an earlier delivery of the same event.
    pub fn replayed(mut self, replayed: bool) -> Self {
        self.duplicate = replayed;
        self
    }
}

/// Everything one event changes, for the store to write atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseOutcome {
    pub profile: Profile,
    pub order: Order,
    /// New ledger entries of the customer: released held rewards, then this event's.
    pub ledger: Vec<LedgerEntry>,
    /// The referrer's side when this event converts or cancels a referral.
    pub referrer: Option<ReferrerUpdate>,
    pub receipt: PurchaseReceipt,
}

impl PurchaseOutcome {
    /// Records the program version the event was decided under on every entry.
    pub fn under_program(&mut self, version: u64) {
        crate::domain::ledger::under_program(&mut self.ledger, version);
        if let Some(referrer) = &mut self.referrer {
            crate::domain::ledger::under_program(&mut referrer.ledger, version);
        }
    }
}

/// A referrer's side of their referee's order or refund: the referral record's new
/// status and, unless the referral was rejected, their changed profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerUpdate {
    pub referrer: CustomerId,
    /// `None` when the referrer's profile does not change (a rejected referral).
    pub profile: Option<Profile>,
    pub ledger: Vec<LedgerEntry>,
    /// The referral record (by its event id), its new status and why it was rejected.
    pub referral: EventId,
    pub status: ReferralStatus,
    pub reason: Option<String>,
}

impl ReferrerUpdate {
    fn change(&self) -> ReferralChange {
        ReferralChange {
            status: self.status,
            reason: self.reason.clone(),
        }
    }
}

impl PurchaseEvent {
    /// The referrer whose profile this event also changes: on the referee's qualifying
    /// order of a pending referral, or on a refund of the order that converted one.
    pub fn referrer_affected(
        &self,
        profile: Option<&Profile>,
        referrals: &ReferralRules,
    ) -> Option<CustomerId> {
        let attribution = profile?.referred_by.as_ref()?;
        let affected = match self.kind {
            PurchaseKind::Purchase => {
                attribution.status == AttributionStatus::Pending
                    && self.total.minor >= referrals.min_order_minor
            }
            PurchaseKind::Refund => {
                attribution.status == AttributionStatus::Converted
                    && attribution.order_id.as_ref() == Some(&self.order_id)
            }
        };
        affected.then(|| attribution.referrer.clone())
    }

    /// Converts the referee's pending referral on a qualifying order, rewarding both.
    fn convert_referral(
        &self,
        profile: &mut Profile,
        mut referrer: Profile,
        referrals: &ReferralRules,
        now: DateTime<Utc>,
    ) -> (Option<LedgerEntry>, ReferrerUpdate) {
        let mut referrer_ledger = referrer.release_due(now);
        let hold = referrals.hold_days;
        let referee_entry = profile.grant_held(
            referrals.referee_points,
            &self.order_id,
            &self.event_id,
            hold,
            now,
        );
        referrer_ledger.extend(referrer.grant_held(
            referrals.referrer_points,
            &self.order_id,
            &self.event_id,
            hold,
            now,
        ));
        referrer.referrals_converted += 1;
        referrer.referral_rewarded_at = Some(now);
        profile.referral_rewarded_at = Some(now);
        referrer.ambassador = referrer.referrals_converted >= referrals.ambassador_after;
        referrer.updated_at = now;
        let referral = match profile.referred_by.as_mut() {
            Some(a) => {
                a.status = AttributionStatus::Converted;
                a.order_id = Some(self.order_id.clone());
                a.event_id.clone()
            }
            // Unreachable: only called when the profile carries the attribution.
            None => self.event_id.clone(),
        };
        let update = ReferrerUpdate {
            referrer: referrer.customer_id.clone(),
            profile: Some(referrer),
            ledger: referrer_ledger,
            referral,
            status: ReferralStatus::Converted,
            reason: None,
        };
        (referee_entry, update)
    }

    /// Why the referee's qualifying order must not convert their referral: the address
    /// it brings (or the profile has) is the referrer's mailbox. A referral attributed
    /// without the referee's address passes the check at attribution; this is where it
    /// is made with the address known.
    fn self_referral(profile: &Profile, referrer: &Profile) -> Option<String> {
        let (Some(referee), Some(referrer)) = (&profile.email, &referrer.email) else {
            return None;
        };
        referee
            .same_mailbox(referrer)
            .then(|| SELF_REFERRAL_BY_EMAIL.to_owned())
    }

    /// Rejects the referee's pending referral: no rewards on either side, the reason on
    /// the referee's attribution and the referrer's record; the referrer's profile is
    /// left as it is.
    fn reject_referral(
        &self,
        profile: &mut Profile,
        referrer: &Profile,
        reason: String,
    ) -> ReferrerUpdate {
        let referral = match profile.referred_by.as_mut() {
            Some(a) => {
                a.status = AttributionStatus::Rejected;
                a.reason = Some(reason.clone());
                a.event_id.clone()
            }
            // Unreachable: only called when the profile carries the attribution.
            None => self.event_id.clone(),
        };
        ReferrerUpdate {
            referrer: referrer.customer_id.clone(),
            profile: None,
            ledger: Vec::new(),
            referral,
            status: ReferralStatus::Rejected,
            reason: Some(reason),
        }
    }

    /// A refund that takes the converting order below the qualifying amount while the
    /// rewards are still held cancels them on both sides.
    fn cancel_referral(
        &self,
        profile: &mut Profile,
        order: &Order,
        mut referrer: Profile,
        referrals: &ReferralRules,
        now: DateTime<Utc>,
    ) -> Option<ReferrerUpdate> {
        if order.total_minor - order.refunded_minor >= referrals.min_order_minor
            || !profile.cancel_pending_for(&self.order_id)
        {
            return None;
        }
        let referrer_ledger = referrer.release_due(now);
        referrer.cancel_pending_for(&self.order_id);
        referrer.referrals_converted = referrer.referrals_converted.saturating_sub(1);
        referrer.ambassador = referrer.referrals_converted >= referrals.ambassador_after;
        referrer.updated_at = now;
        let attribution = profile.referred_by.as_mut()?;
        attribution.status = AttributionStatus::Cancelled;
        Some(ReferrerUpdate {
            referrer: referrer.customer_id.clone(),
            profile: Some(referrer),
            ledger: referrer_ledger,
            referral: attribution.event_id.clone(),
            status: ReferralStatus::Cancelled,
            reason: None,
        })
    }

    /// Applies the event to the customer's current state. `profile` is `None` for a
    /// customer seen for the first time; `order` is the stored order with this id, if
    /// any. Pure: the caller commits the outcome atomically or retries on a conflict.
    ///
    /// `referrer` is the profile named by [`Self::referrer_affected`], read by the caller.
    pub fn apply(
        &self,
        profile: Option<Profile>,
        order: Option<Order>,
        referrer: Option<Profile>,
        rules: &LoyaltyRules,
        referrals: &ReferralRules,
        now: DateTime<Utc>,
    ) -> Result<PurchaseOutcome, DomainError> {
        if self.total.currency != rules.currency {
            return Err(FieldError::new(
                "currency",
                format!("this shop accounts in {}", rules.currency),
            )
            .into());
        }
        let mut profile = profile.unwrap_or_else(|| {
            Profile::new(self.customer_id.clone(), rules.base_tier().clone(), now)
        });
        let previous_tier = profile.tier.clone();
        self.update_contact(&mut profile, now);
        let mut ledger = profile.release_due(now);
        let referrer =
            referrer.filter(|_| self.referrer_affected(Some(&profile), referrals).is_some());

        let (order, delta, reason) = match self.kind {
            PurchaseKind::Purchase => {
                if order.is_some() {
                    return Err(DomainError::OrderExists(self.order_id.to_string()));
                }
                let points = rules.points_for_order(self.total.minor, &self.items, &profile.tier);
                profile.orders += 1;
                profile.add_to_day(self.occurred_at.date_naive(), self.total.minor);
                profile.note_skus_bought(&self.items, self.occurred_at.date_naive());
                profile.note_purchase_time(self.occurred_at);
                if profile
                    .last_order
                    .as_ref()
                    .is_none_or(|o| o.placed_at <= self.occurred_at)
                {
                    profile.last_order = Some(OrderSummary::new(
                        self.order_id.clone(),
                        self.occurred_at,
                        self.items.iter().map(|i| &i.sku),
                    ));
                }
                let order = Order {
                    order_id: self.order_id.clone(),
                    placed_at: self.occurred_at,
                    total_minor: self.total.minor,
                    refunded_minor: 0,
                    points_awarded: points,
                    points_reversed: 0,
                    items: self.items.clone(),
                    event_id: self.event_id.clone(),
                };
                (order, points, LedgerReason::Purchase)
            }
            PurchaseKind::Refund => {
                let mut order =
                    order.ok_or_else(|| DomainError::UnknownOrder(self.order_id.to_string()))?;
                let refundable = order.total_minor - order.refunded_minor;
                let amount = match self.up_to_refundable {
                    true => self.total.minor.min(refundable),
                    false if self.total.minor > refundable => {
                        return Err(FieldError::new(
                            "total_minor",
                            format!("exceeds the {refundable} still refundable on this order"),
                        )
                        .into());
                    }
                    false => self.total.minor,
                };
                order.refunded_minor += amount;
                // Reverse the refunded share of the order's points, computed on the
                // cumulative refund so that several partial refunds add up to exactly
                // the points of a full one.
                let reversed_total = if order.total_minor == 0 {
                    0
                } else {
                    i64::try_from(
                        i128::from(order.points_awarded) * i128::from(order.refunded_minor)
                            / i128::from(order.total_minor),
                    )
                    .unwrap_or(order.points_awarded)
                };
                let mut delta = -(reversed_total - order.points_reversed);
                // Points that expired after the order cannot be taken back twice: the
                // refund takes at most what the balance still holds.
                if profile
                    .points_expired_at
                    .is_some_and(|expired| expired > order.placed_at)
                {
                    delta = delta.max(-profile.points_balance.max(0));
                }
                order.points_reversed = reversed_total;
                profile.add_to_day(order.day(), -amount);
                (order, delta, LedgerReason::Refund)
            }
        };

        ledger.extend((delta != 0).then(|| {
            profile.post(
                delta,
                reason,
                self.order_id.to_string(),
                self.event_id.to_string(),
                now,
            )
        }));
        let referrer = match (self.kind, referrer) {
            (PurchaseKind::Purchase, Some(referrer)) => {
                match Self::self_referral(&profile, &referrer) {
                    Some(reason) => Some(self.reject_referral(&mut profile, &referrer, reason)),
                    None => {
                        let (entry, update) =
                            self.convert_referral(&mut profile, referrer, referrals, now);
                        ledger.extend(entry);
                        Some(update)
                    }
                }
            }
            (PurchaseKind::Refund, Some(referrer)) => {
                self.cancel_referral(&mut profile, &order, referrer, referrals, now)
            }
            (_, None) => None,
        };
        let as_of = profile
            .last_purchase_at
            .map_or(self.occurred_at, |l| l.max(self.occurred_at))
            .date_naive();
        ledger.extend(profile.settle_tier(rules, as_of, self.event_id.as_str(), now));
        profile.updated_at = now;

        let receipt = PurchaseReceipt {
            event_id: self.event_id.clone(),
            duplicate: false,
            kind: self.kind,
            customer_id: self.customer_id.clone(),
            order_id: self.order_id.clone(),
            points_delta: delta,
            points_balance: profile.points_balance,
            points_pending: profile.points_pending,
            tier: profile.tier.clone(),
            previous_tier,
            orders: profile.orders,
            net_spend_minor: profile.net_spend_minor,
            currency: rules.currency,
            referral: referrer.as_ref().map(ReferrerUpdate::change),
            coupons: Vec::new(),
        };
        Ok(PurchaseOutcome {
            profile,
            order,
            ledger,
            referrer,
            receipt,
        })
    }

    fn update_contact(&self, profile: &mut Profile, now: DateTime<Utc>) {
        let details = ContactDetails {
            email: self.email.as_ref(),
            first_name: self.first_name.as_ref(),
            locale: self.locale.as_ref(),
            birthday: self.birthday,
            timezone: self.timezone.as_ref(),
            marketing_consent: self.marketing_consent,
        };
        profile.take_contact(details, format!("purchase:{}", self.event_id), now);
    }
}
