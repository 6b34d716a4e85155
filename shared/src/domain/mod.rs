//! The domain: validated value types and the loyalty rules. Nothing here knows about
//! DynamoDB, HTTP or the clock; callers pass time in.
//!
//! Layers, each importing only from those above it:
//! 1. leaves: [`fields`] (validation errors and helpers), [`codes`], [`ids`],
//!    [`money`], [`contact`], [`suppression`], [`scores`], [`coupons`];
//! 2. the programme's rules: [`loyalty`];
//! 3. the customer: [`profile`], then [`ledger`] (the only code that moves a balance);
//! 4. one module per event under [`events`] — they never import each other;
//! 5. what spans them: [`privacy`] (export and erasure), [`outreach`] (which message,
//!    and what is remembered of messages) and [`storefront`] (platforms' webhook
//!    payloads read into events).

pub mod codes;
pub mod contact;
pub mod coupons;
pub mod events;
pub mod expiry;
pub mod fields;
pub mod gifts;
pub mod ids;
pub mod ledger;
pub mod loyalty;
pub mod money;
pub mod outreach;
pub mod privacy;
pub mod profile;
pub mod program;
pub mod scores;
pub mod stats;
pub mod storefront;
pub mod suppression;
pub mod tiers;

pub use contact::{Birthday, Email, FirstName, Locale, ProductName};
pub use coupons::{
    Coupon, CouponOutcome, CouponOutcomeKind, CouponProblem, CouponRefusal, CouponTerms, CouponUse,
};
pub use events::purchase::{
    LineItemInput, PurchaseEvent, PurchaseInput, PurchaseKind, PurchaseOutcome, PurchaseReceipt,
    ReferralChange,
};
pub use events::redemption::{
    Redemption, RedemptionInput, RedemptionOutcome, RedemptionReceipt, RedemptionRequest,
};
pub use events::referral::{
    ReferralEvent, ReferralInput, ReferralOutcome, ReferralReceipt, ReferralRecord,
};
pub use events::review::{Review, ReviewEvent, ReviewInput, ReviewOutcome, ReviewReceipt};
pub use fields::{EventWindow, FieldError};
pub use ids::{CustomerId, EventId, OrderId, RedemptionId, RunId, Sku};
pub use ledger::{LedgerEntry, LedgerReason};
pub use loyalty::{LoyaltyRules, ReferralRules, ReviewRules, Tier, TierRule};
pub use money::{Currency, Money};
pub use outreach::JobState;
pub use privacy::{CustomerData, ErasurePlan, ErasureRecord};
pub use profile::{
    Attribution, AttributionStatus, Consent, LineItem, Order, OrderSummary, PendingReward, Profile,
    RecentSkus, ReferralStatus, ServiceRecovery,
};
pub use scores::{CustomerScores, Segment};
pub use suppression::{Suppression, SuppressionCause, TombstoneKey, address_key};

use thiserror::Error;

/// Why the loyalty rules refused an otherwise well-formed request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("order {0} was already recorded by another event")]
    OrderExists(String),
    #[error("order {0} is not known for this customer")]
    UnknownOrder(String),
    #[error("the balance is {balance} points, {requested} requested")]
    InsufficientPoints { balance: i64, requested: i64 },
}
