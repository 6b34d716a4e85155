//! Persistence, one trait per capability. Handlers depend only on the trait they need;
//! [`DynamoStore`] implements them against the single table — each deployed binary's
//! store only the ones its wiring grants (`crate::wiring`) — and `MemoryStore` (with
//! the `testing` feature) implements them all in memory for unit tests of the rules.
//!
//! A port is what a binary can be granted, so a port holds only what the binaries
//! wired with it call: reads that only tests and tools make are in [`ReadBackStore`]
//! and [`LedgerStore`], which no deployed binary is wired with.
//!
//! Adapters never decide business rules: they load state, and commit an outcome the
//! domain computed, atomically and only if nothing changed in between.

pub mod artifacts;
pub mod dynamo;
#[cfg(any(test, feature = "testing"))]
mod memory;
pub mod s3;

pub use artifacts::{ArtifactStore, MemoryArtifacts, ReportFile, ReportStore};
pub use dynamo::DynamoStore;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryStore;
pub use s3::S3Artifacts;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{
    Coupon, CouponRefusal, CouponUse, CustomerData, CustomerId, CustomerScores, Email, ErasurePlan,
    JobState, LedgerEntry, Order, OrderId, Profile, PurchaseOutcome, RedemptionOutcome,
    ReferralOutcome, ReferralRecord, Review, ReviewOutcome, Sku, Suppression, TombstoneKey,
    outreach::MessageRecord,
    program::ProgramVersion,
    stats::ProgramStats,
    storefront::codes::{Platform, StoreSync},
};

/// A value together with the version it was read at, for optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// The stored answer to an idempotent request: what it was (a fingerprint of the
/// validated request) and what was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: String,
    pub fingerprint: String,
    pub response: String,
}

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database is throttling, unreachable or timing out; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other failure. Details are for logs, never for clients.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Why an atomic commit did not happen.
#[derive(Debug, Error)]
pub enum CommitError {
    /// The idempotency key was recorded by another request first.
    #[error("request already recorded")]
    AlreadyRecorded,
    /// The profile changed since it was read (or a concurrent transaction touched it).
    #[error("concurrent update")]
    Conflict,
    /// A freshly minted coupon code is already taken.
    #[error("coupon code taken")]
    CodeTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a purchase or refund needs to decide.
#[derive(Debug, Clone, Default)]
pub struct PurchaseSnapshot {
    pub profile: Option<Versioned<Profile>>,
    pub order: Option<Order>,
    pub prior: Option<IdempotencyRecord>,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError>;

    /// Replaces the profile if it is still at `expected_version`. For changes that
    /// touch nothing but the profile (clearing a flag); returns [`CommitError::Conflict`]
    /// when someone else wrote first.
    async fn save_profile(
        &self,
        expected_version: u64,
        profile: &Profile,
    ) -> Result<(), CommitError>;
}

/// What a review needs to decide.
#[derive(Debug, Clone, Default)]
pub struct ReviewSnapshot {
    pub profile: Option<Versioned<Profile>>,
    pub order: Option<Order>,
    pub review: Option<Review>,
    pub prior: Option<IdempotencyRecord>,
}

/// A product's rating aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProductRating {
    pub reviews: i64,
    pub rating_sum: i64,
}

impl ProductRating {
    pub fn mean(&self) -> Option<f64> {
        (self.reviews > 0).then(|| self.rating_sum as f64 / self.reviews as f64)
    }
}

#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Reads the profile, the named order, the customer's review of the sku and any
    /// prior result for `key` in one round trip.
    async fn load_review(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        sku: &Sku,
        key: &str,
    ) -> Result<ReviewSnapshot, StoreError>;

    /// Writes the outcome, the product aggregate change and the idempotency record
    /// atomically, if the profile is still at `expected_version`.
    async fn commit_review(
        &self,
        expected_version: Option<u64>,
        outcome: &ReviewOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError>;
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn prior(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;
}

#[async_trait]
pub trait PurchaseStore: IdempotencyStore + ProfileStore {
    /// Reads the profile, the order and any prior result for `key` in one round trip.
    async fn load_purchase(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        key: &str,
    ) -> Result<PurchaseSnapshot, StoreError>;

    /// Writes the outcome and the idempotency record atomically, if the profile is still
    /// at `expected_version` (`None`: it must not exist yet).
    /// A referrer changed by the event (see [`PurchaseOutcome::referrer`]) must still be
    /// at `referrer_version`.
    async fn commit_purchase(
        &self,
        expected_version: Option<u64>,
        referrer_version: Option<u64>,
        outcome: &PurchaseOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError>;
}

#[async_trait]
pub trait RedemptionStore: Send + Sync {
    /// Reads the profile and any prior result for `key` in one round trip.
    async fn load_redemption(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> Result<(Option<Versioned<Profile>>, Option<IdempotencyRecord>), StoreError>;

    async fn commit_redemption(
        &self,
        expected_version: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError>;
}

#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// The customer's ledger, oldest first.
    async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, StoreError>;
}

/// What a referral event needs to decide.
#[derive(Debug, Clone, Default)]
pub struct ReferralSnapshot {
    pub referrer: Option<Versioned<Profile>>,
    pub referee: Option<Versioned<Profile>>,
    pub prior: Option<IdempotencyRecord>,
}

/// A customer's shareable referral code.
#[async_trait]
pub trait ReferralCodeStore: ProfileStore {
    /// Saves the profile with its new `referral_code`, claiming the code so that no other
    /// customer can have it ([`CommitError::CodeTaken`] if one does).
    async fn claim_referral_code(
        &self,
        expected_version: u64,
        profile: &Profile,
    ) -> Result<(), CommitError>;
}

/// Referral events: attribution by code.
#[async_trait]
pub trait ReferralStore: IdempotencyStore {
    /// The owner of a referral code, looked up through the code index.
    async fn customer_by_code(&self, code: &str) -> Result<Option<CustomerId>, StoreError>;

    /// Reads both profiles and any prior result for `key` in one round trip.
    async fn load_referral(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        key: &str,
    ) -> Result<ReferralSnapshot, StoreError>;

    /// Writes the referral record, the idempotency record and, for an accepted
    /// referral, both profiles, atomically.
    async fn commit_referral(
        &self,
        referrer_version: u64,
        referee_version: Option<u64>,
        outcome: &ReferralOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError>;
}

/// Where a paged scan of one segment stopped, as an opaque token. Only the store that
/// made it can continue from it (any other token is [`StoreError::Internal`]), but it
/// is plain text, so it can travel between processes: a fan-out that hands each page
/// to the next invocation passes the token along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScanCursor(String);

impl ScanCursor {
    /// A token as [`Self::as_token`] gave it.
    pub fn from_token(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn as_token(&self) -> &str {
        &self.0
    }
}

/// A customer as the scoring job sees it.
#[derive(Debug, Clone)]
pub struct ScannedCustomer {
    pub profile: Profile,
    pub job: Option<JobState>,
}

/// One page of a segment scan.
#[derive(Debug, Clone, Default)]
pub struct CustomerPage {
    pub customers: Vec<ScannedCustomer>,
    /// Address keys of suppressed addresses met on this page.
    pub suppressed: Vec<String>,
    /// `None` when the segment is exhausted.
    pub next: Option<ScanCursor>,
    /// What reading the page cost.
    pub read: ScanRead,
}

/// What a scan read: the items the store examined and the read capacity it consumed
/// (DynamoDB's `ScannedCount` and `ConsumedCapacity`; an eventually consistent read
/// costs half a unit per 4 KiB of items, so one unit is about 8 KiB read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanRead {
    pub items: u64,
    pub capacity_units: f64,
}

impl std::ops::AddAssign for ScanRead {
    fn add_assign(&mut self, other: Self) {
        self.items += other.items;
        self.capacity_units += other.capacity_units;
    }
}

/// What the scoring job reads and writes.
#[async_trait]
pub trait ScoreStore: Send + Sync {
    /// One page of the customers in scan segment `segment` of `total_segments`
    /// (DynamoDB's parallel scan), each with the job's state; `cursor` continues.
    async fn scan_customers(
        &self,
        segment: u32,
        total_segments: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<CustomerPage, StoreError>;

    /// Stores the job's state per customer, replacing earlier state (batched;
    /// idempotent). A state is written only while its customer's profile exists and is
    /// not erased: a customer erased while the run was under way keeps no state, and
    /// the others are written all the same.
    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError>;

    /// As [`Self::write_job_states`], for customers the run found without a state: it
    /// does not first look for one to replace, so a shop's first run writes its states
    /// in fewer requests. A state written meanwhile (by an overlapping run) is replaced
    /// all the same.
    async fn write_first_job_states(&self, states: &[JobState]) -> Result<(), StoreError>;
}

/// What re-indexing found and did: the items read, those the customer index should
/// hold but that lacked its keys (`examined`), and of those, the ones given the keys
/// (`indexed`) and the ones left as they were (`skipped`: an erased profile, or an item
/// deleted, erased or rewritten with the keys since the scan read it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexTally {
    pub scanned: u64,
    pub examined: u64,
    pub indexed: u64,
    pub skipped: u64,
}

impl std::ops::AddAssign for IndexTally {
    fn add_assign(&mut self, other: Self) {
        self.scanned += other.scanned;
        self.examined += other.examined;
        self.indexed += other.indexed;
        self.skipped += other.skipped;
    }
}

/// One page of a segment of re-indexing.
#[derive(Debug, Clone, Default)]
pub struct IndexPage {
    pub tally: IndexTally,
    /// `None` when the segment is exhausted.
    pub next: Option<ScanCursor>,
}

/// Bringing the customer index up to date with items written before it existed
/// (`rapport-job index-customers`, run from a shell; wired by no deployed binary).
#[async_trait]
pub trait CustomerIndexStore: Send + Sync {
    /// One page of scan segment `segment` of `total_segments` of everything stored,
    /// giving each live profile, job state and suppressed address that lacks the
    /// scoring job's index keys those keys; `cursor` continues. An item that changed
    /// since it was read is skipped, not overwritten, and an item that has the keys is
    /// not touched, so running it again changes nothing.
    async fn index_customers(
        &self,
        segment: u32,
        total_segments: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<IndexPage, StoreError>;
}

/// What `GET /v1/customers/{id}` shows: a profile and the job's latest scores.
#[async_trait]
pub trait ProfileViewStore: Send + Sync {
    /// A profile and its latest scores in one round trip.
    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError>;
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This run owns the message now.
    Claimed,
    /// Another run sent, is sending, or held out this message already.
    Taken(Box<MessageRecord>),
    /// The customer has no profile any more, or was erased since the run read them:
    /// nothing was recorded, and nothing may be sent.
    Erased,
}

/// Message records: the exactly-once guard of the outreach job.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Records `record` (status `sending` or `held_out`) unless a record for the same
    /// customer, kind and period exists that did not fail, or the customer was erased
    /// ([`Claim::Erased`]). With a coupon code, the code is claimed in the same
    /// transaction so that it is unique.
    async fn claim_message(&self, record: &MessageRecord) -> Result<Claim, StoreError>;

    /// Marks a claimed message sent (with the provider's id) or failed.
    async fn finish_message(&self, record: &MessageRecord) -> Result<(), StoreError>;

    /// Replaces the in-doubt claim `stale` with `record`, unless another run changed it
    /// since it was read (then [`Claim::Taken`] with what is there now) or the customer
    /// was erased ([`Claim::Erased`]).
    async fn reclaim_message(
        &self,
        stale: &MessageRecord,
        record: &MessageRecord,
    ) -> Result<Claim, StoreError>;
}

/// A change of one profile and its ledger, once per idempotency key: points given with
/// a message (the birthday reward), and any event that touches nothing else.
#[async_trait]
pub trait RewardStore: IdempotencyStore + ProfileStore {
    /// Writes the profile (if still at `expected`; `None`: it must not exist yet), its
    /// new ledger entries and `record` in one transaction;
    /// [`CommitError::AlreadyRecorded`] if the key was used.
    async fn commit_reward(
        &self,
        expected: Option<u64>,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError>;
}

/// Suppressed addresses (SES bounces and complaints). The scan of [`ScoreStore`] returns
/// them too, so the job learns the whole list without extra reads.
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// Records the suppression; suppressing an address again keeps the first record.
    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError>;
}

/// Reads of what the API and the job wrote that no deployed binary makes: tests and
/// the local tools read records back with them. (A customer's whole record, for the
/// customer, is [`PrivacyStore::export`].)
#[async_trait]
pub trait ReadBackStore: Send + Sync {
    /// The customer's reviews.
    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError>;

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError>;

    /// Every referral recorded for a referrer, accepted or rejected.
    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError>;

    /// Every message record of a customer.
    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError>;

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError>;
}

/// Data rights: read everything stored about a customer, erase their personal data.
#[async_trait]
pub trait PrivacyStore: IdempotencyStore {
    /// Every record of the customer, with the profile's version; `None` when there is
    /// no profile. Also the referral that brought them (stored under the referrer) and
    /// the suppression of their address, under any of its keys
    /// ([`TombstoneKey::lookups`]).
    async fn export(
        &self,
        customer: &CustomerId,
        tombstones: &TombstoneKey,
    ) -> Result<Option<Versioned<CustomerData>>, StoreError>;

    /// Applies `plan`: the erasure mark (profile if still at the planned version, audit
    /// record if none exists, tombstone if the address is not yet suppressed) in one
    /// transaction with as many of the redactions as fit, the rest after it. A failed
    /// condition is [`CommitError::Conflict`], or [`CommitError::AlreadyRecorded`] when
    /// another erasure of the customer was recorded first.
    async fn erase(&self, plan: &ErasurePlan) -> Result<(), CommitError>;
}

/// Issued coupons as a checkout sees them. (They are written with what issues them: a
/// redemption, a message's claim.)
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// The coupon with this (normalised) code.
    async fn coupon(&self, code: &str) -> Result<Option<Coupon>, StoreError>;
}

/// The orders that use coupons.
#[async_trait]
pub trait CouponUseStore: CouponStore {
    /// Marks the coupon used by `used.order_id` if no order has used it yet;
    /// [`CommitError::Conflict`] when one has (or the code is not there).
    async fn use_coupon(&self, code: &str, used: &CouponUse) -> Result<(), CommitError>;

    /// Records the latest order that named the coupon but could not use it.
    async fn refuse_coupon(&self, code: &str, refusal: &CouponRefusal) -> Result<(), StoreError>;
}

/// Coupons being created in the stores' own checkouts.
#[async_trait]
pub trait CodeSyncStore: CouponStore {
    /// The address of the customer a coupon is for (a store may restrict the code to
    /// it); `None` when the customer has none or is gone.
    async fn holder_email(&self, customer: &CustomerId) -> Result<Option<Email>, StoreError>;

    /// Records that `platform`'s store confirmed the code. A confirmation already
    /// recorded is kept; a code that is not there (erased meanwhile) is left alone.
    async fn mark_synced(
        &self,
        code: &str,
        platform: Platform,
        sync: &StoreSync,
    ) -> Result<(), StoreError>;
}

/// The program in force, for everything that decides by it.
#[async_trait]
pub trait ProgramReadStore: Send + Sync {
    /// The latest saved version; `None` before the first save.
    async fn current_program(&self) -> Result<Option<ProgramVersion>, StoreError>;
}

/// The shop's program document and its history, for the merchant's edits.
#[async_trait]
pub trait ProgramStore: ProgramReadStore {
    /// One saved version.
    async fn program_version(&self, version: u64) -> Result<Option<ProgramVersion>, StoreError>;

    /// Saved versions, newest first, at most `limit`.
    async fn program_history(&self, limit: usize) -> Result<Vec<ProgramVersion>, StoreError>;

    /// Saves `next` as the latest version if the latest is still `next.version - 1`
    /// (none for version 1), keeping it in the history; [`CommitError::Conflict`] when
    /// another save came first.
    async fn save_program(&self, next: &ProgramVersion) -> Result<(), CommitError>;
}

/// The program's figures: written by the scheduled job each run, read by the merchant.
#[async_trait]
pub trait ProgramStatsStore: Send + Sync {
    /// The figures of the latest run; `None` before the first.
    async fn program_stats(&self) -> Result<Option<ProgramStats>, StoreError>;

    /// Replaces the figures with this run's.
    async fn save_program_stats(&self, stats: &ProgramStats) -> Result<(), StoreError>;
}

/// Finding the coupons a store never confirmed, after the stream gave up on them (the
/// `rapport-sync-codes` tool; wired by no deployed binary).
#[async_trait]
pub trait CodeRepairStore: Send + Sync {
    /// One page of a scan of the table for coupons that one of `platforms` has not
    /// confirmed: their codes, and where the next page starts (`None`: the last).
    async fn unconfirmed_codes(
        &self,
        platforms: &[Platform],
        after: Option<&ScanCursor>,
    ) -> Result<(Vec<String>, Option<ScanCursor>), StoreError>;
}

/// What a history import found for one customer.
#[derive(Debug, Clone, Default)]
pub struct ImportSnapshot {
    pub profile: Option<Versioned<Profile>>,
    /// The customer's orders — read only when they have a profile and some of the
    /// events asked about are not recorded yet (a fresh customer has none).
    pub orders: Vec<Order>,
    /// Which of the event keys asked about are recorded already.
    pub recorded: std::collections::BTreeSet<String>,
}

/// One customer's part of an import transaction.
#[derive(Debug, Clone)]
pub struct ImportWrite {
    /// The profile's version as read (`None`: it must not exist yet).
    pub expected: Option<u64>,
    pub profile: Profile,
    pub orders: Vec<Order>,
    pub ledger: Vec<LedgerEntry>,
    pub records: Vec<IdempotencyRecord>,
}

impl ImportWrite {
    /// The items it writes.
    pub fn items(&self) -> usize {
        1 + self.orders.len() + self.ledger.len() + self.records.len()
    }
}

/// Bringing a shop's past orders in: many customers read in one round trip, many
/// written in one transaction.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Each customer's profile, the events among theirs that are recorded, and (when
    /// needed) their orders.
    async fn load_import(
        &self,
        customers: &[(CustomerId, Vec<String>)],
    ) -> Result<Vec<ImportSnapshot>, StoreError>;

    /// Writes every customer's part in one transaction (at most
    /// [`MAX_TRANSACTION_ITEMS`] items, each customer once); [`CommitError::Conflict`]
    /// or [`CommitError::AlreadyRecorded`] when any profile moved or any event was
    /// recorded since it was read.
    async fn commit_import(&self, writes: &[ImportWrite]) -> Result<(), CommitError>;
}

/// The most items one DynamoDB transaction may write.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// What the scheduled job reads and writes: the scan and the scores, message claims,
/// and the rewards some messages carry.
pub trait JobStore:
    ScoreStore + MessageStore + RewardStore + ReferralCodeStore + RedemptionStore
{
}

impl<T: ScoreStore + MessageStore + RewardStore + ReferralCodeStore + RedemptionStore> JobStore
    for T
{
}

/// Declares [`Store`] from the list of capabilities, written once.
macro_rules! every_capability {
    ($($port:ident),+ $(,)?) => {
        /// Every capability at once, for code that serves the whole API (the local
        /// server) and for the tests.
        pub trait Store: $($port +)+ {}

        impl<T: $($port +)+> Store for T {}
    };
}

every_capability!(
    PurchaseStore,
    ImportStore,
    CouponUseStore,
    CodeSyncStore,
    CodeRepairStore,
    ProgramStore,
    ProgramReadStore,
    ProgramStatsStore,
    RedemptionStore,
    ReviewStore,
    ReferralCodeStore,
    ReferralStore,
    LedgerStore,
    ScoreStore,
    CustomerIndexStore,
    ProfileViewStore,
    MessageStore,
    RewardStore,
    SuppressionStore,
    PrivacyStore,
    ReadBackStore,
);
