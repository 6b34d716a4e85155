//! The domain: validated value types and the loyalty rules. Nothing here knows about
//! DynamoDB, HTTP or the clock; callers pass time in.

pub mod contact;
pub mod ids;
pub mod loyalty;
pub mod money;
pub mod outreach;
pub mod privacy;
pub mod profile;
pub mod purchase;
pub mod redemption;
pub mod referral;
pub mod review;
pub mod scores;
pub mod suppression;

pub use contact::{Birthday, Email, Locale};
pub use ids::{CustomerId, EventId, OrderId, RedemptionId, Sku};
pub use loyalty::{LoyaltyRules, Tier, TierRule};
pub use money::{Currency, Money};
pub use privacy::{CustomerData, ErasurePlan, ErasureRecord};
pub use profile::{Consent, LedgerEntry, LedgerReason, Order, Profile, ServiceRecovery};
pub use purchase::{PurchaseEvent, PurchaseInput, PurchaseKind, PurchaseOutcome, PurchaseReceipt};
pub use redemption::{
    Redemption, RedemptionInput, RedemptionOutcome, RedemptionReceipt, RedemptionRequest,
};
pub use referral::{
    Attribution, AttributionStatus, PendingReward, ReferralEvent, ReferralInput, ReferralOutcome,
    ReferralReceipt, ReferralRecord, ReferralRules, ReferralStatus,
};
pub use review::{Review, ReviewEvent, ReviewInput, ReviewOutcome, ReviewReceipt, ReviewRules};
pub use scores::{CustomerScores, JobState};
pub use suppression::{Suppression, SuppressionCause, address_key};

use thiserror::Error;

/// A field that failed validation at the edge. `field` is the JSON path the client sent
/// (`items[2].quantity`), so the error can name it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

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
