//! The services: every write of the API goes through one exactly-once driver
//! ([`driver`]) as a small command per request type, each in its own module; the
//! scheduled job's delivery of a message ([`deliver`]) and the SES feedback consumer
//! ([`feedback`]) build on the same store ports.
//!
//! Each request reads the state it needs in one round trip, lets the domain decide,
//! and commits the outcome in one transaction together with its idempotency record. A
//! lost race re-reads and decides again; a request seen before answers what it
//! answered the first time.

mod account;
mod activity;
pub mod code_sync;
mod contact;
mod coupons;
pub mod deliver;
mod driver;
pub mod expiry;
pub mod feedback;
pub mod gifts;
pub mod import;
mod privacy;
pub mod program;
mod purchase;
mod queue;
mod redemption;
mod referral;
mod review;
mod reward;
pub mod tiers;

pub use account::{clear_recovery, unsubscribe};
pub use activity::record_activity;
pub use contact::{ContactReceipt, update_contact};
pub use coupons::{CouponCheck, check_coupon, use_coupons};
pub use privacy::erase_customer;
pub use purchase::record_purchase;
pub use redemption::redeem;
pub use referral::{record_referral, referral_code};
pub use review::{ReviewResult, record_review};
pub use reward::grant_reward;

use thiserror::Error;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the customer does not exist")]
    UnknownCustomer,
    #[error("no customer has this referral code")]
    UnknownReferralCode,
    /// The idempotency key was used before for a different request.
    #[error("{0} was already used for a different request")]
    KeyReused(&'static str),
    /// Too many concurrent writers on one customer; the client should retry.
    #[error("too much contention")]
    Contention,
    #[error(transparent)]
    Store(#[from] StoreError),
}
