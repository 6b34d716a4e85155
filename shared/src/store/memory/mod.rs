//! An in-memory store with the same atomicity and version checks as DynamoDB, for unit
//! tests of the rules; other crates' tests get it with the `testing` feature. Every
//! behaviour is also tested against DynamoDB Local.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Claim, CodeRepairStore, CodeSyncStore, CommitError, CouponStore, CouponUseStore, CustomerPage,
    IdempotencyRecord, IdempotencyStore, ImportSnapshot, ImportStore, ImportWrite, LedgerStore,
    MessageStore, PrivacyStore, ProductRating, ProfileStore, ProfileViewStore, ProgramReadStore,
    ProgramStatsStore, ProgramStore, PurchaseSnapshot, PurchaseStore, ReadBackStore,
    RedemptionStore, ReferralCodeStore, ReferralSnapshot, ReferralStore, ReviewSnapshot,
    ReviewStore, RewardStore, ScanCursor, ScanRead, ScannedCustomer, ScoreStore, StoreError,
    SuppressionStore, Versioned,
};
use crate::domain::program::ProgramVersion;
use crate::domain::stats::ProgramStats;
use crate::domain::storefront::codes::{Platform, StoreSync};
use crate::domain::{
    Coupon, CouponRefusal, CouponUse, CustomerData, CustomerId, CustomerScores, Email, ErasurePlan,
    ErasureRecord, JobState, LedgerEntry, Order, OrderId, Profile, PurchaseOutcome, Redemption,
    RedemptionOutcome, ReferralOutcome, ReferralRecord, Review, ReviewOutcome, Sku, Suppression,
    TombstoneKey,
    outreach::{MessageRecord, MessageStatus},
};

#[derive(Default)]
struct State {
    /// In id order, so a scan pages through them by the last id it returned.
    profiles: BTreeMap<CustomerId, Versioned<Profile>>,
    orders: HashMap<(CustomerId, OrderId), Order>,
    ledger: HashMap<CustomerId, Vec<LedgerEntry>>,
    records: HashMap<String, IdempotencyRecord>,
    coupons: HashMap<String, Coupon>,
    /// Every saved program version, oldest first.
    programs: Vec<ProgramVersion>,
    program_stats: Option<ProgramStats>,
    redemptions: Vec<(CustomerId, Redemption)>,
    reviews: HashMap<(CustomerId, Sku), Review>,
    products: HashMap<Sku, ProductRating>,
    referrals: Vec<ReferralRecord>,
    codes: HashMap<String, CustomerId>,
    jobs: HashMap<CustomerId, JobState>,
    messages: HashMap<(CustomerId, String), MessageRecord>,
    suppressed: HashMap<String, Suppression>,
    erasures: HashMap<CustomerId, ErasureRecord>,
}

impl State {
    fn profile(&self, customer: &CustomerId) -> Option<Versioned<Profile>> {
        self.profiles.get(customer).cloned()
    }

    /// The customer has a profile that is not erased, as the job's writes require.
    fn live(&self, customer: &CustomerId) -> bool {
        self.profiles
            .get(customer)
            .is_some_and(|p| !p.value.is_erased())
    }

    fn order(&self, customer: &CustomerId, order: &OrderId) -> Option<Order> {
        self.orders.get(&(customer.clone(), order.clone())).cloned()
    }

    fn prior(&self, key: &str) -> Option<IdempotencyRecord> {
        self.records.get(key).cloned()
    }

    /// The profile is at `expected` (`None`: there is none), as the version condition
    /// of a DynamoDB put requires.
    fn at_version(&self, customer: &CustomerId, expected: Option<u64>) -> Result<(), CommitError> {
        if self.profiles.get(customer).map(|p| p.version) == expected {
            Ok(())
        } else {
            Err(CommitError::Conflict)
        }
    }

    /// The checks every event's commit makes: the key is new and the version matches.
    fn check_event(
        &self,
        key: &str,
        customer: &CustomerId,
        expected: Option<u64>,
    ) -> Result<(), CommitError> {
        if self.records.contains_key(key) {
            return Err(CommitError::AlreadyRecorded);
        }
        self.at_version(customer, expected)
    }

    /// Stores the profile at the version after `expected`.
    fn put_profile(&mut self, profile: &Profile, expected: Option<u64>) {
        self.profiles.insert(
            profile.customer_id.clone(),
            Versioned {
                value: profile.clone(),
                version: expected.map_or(1, |v| v + 1),
            },
        );
    }

    fn append_ledger(&mut self, customer: &CustomerId, entries: &[LedgerEntry]) {
        self.ledger
            .entry(customer.clone())
            .or_default()
            .extend(entries.iter().cloned());
    }

    /// What every event that changes a profile writes: the profile, its new ledger
    /// entries and the idempotency record.
    fn write_event(
        &mut self,
        profile: &Profile,
        expected: Option<u64>,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) {
        self.put_profile(profile, expected);
        self.append_ledger(&profile.customer_id, ledger);
        self.records.insert(record.key.clone(), record.clone());
    }
}

/// The values of `customer` in a map keyed by customer and something else.
fn of_customer<'a, K, V>(
    map: &'a HashMap<(CustomerId, K), V>,
    customer: &'a CustomerId,
) -> impl Iterator<Item = (&'a K, &'a V)> {
    map.iter()
        .filter(move |((c, _), _)| c == customer)
        .map(|((_, k), v)| (k, v))
}

/// `items` ordered by `key`, as DynamoDB returns a partition's items by sort key.
fn sorted<T, K: Ord>(items: impl IntoIterator<Item = T>, key: impl FnMut(&T) -> K) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort_by_key(key);
    items
}

/// Clones share one store, as clones of a database client share its tables.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `profiles` in as they are (version 1), as a shop's table loaded from
    /// elsewhere would hold them: for benchmarks and tests that need many customers.
    pub fn load_profiles(
        &self,
        profiles: impl IntoIterator<Item = Profile>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        for profile in profiles {
            let versioned = Versioned {
                value: profile,
                version: 1,
            };
            state
                .profiles
                .insert(versioned.value.customer_id.clone(), versioned);
        }
        Ok(())
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Internal("memory store poisoned".into()))
    }
}

#[async_trait]
impl ProfileStore for MemoryStore {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError> {
        Ok(self.lock()?.profile(customer))
    }

    async fn save_profile(&self, expected: u64, profile: &Profile) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        state.at_version(&profile.customer_id, Some(expected))?;
        state.put_profile(profile, Some(expected));
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn prior(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock()?.prior(key))
    }
}

#[async_trait]
impl PurchaseStore for MemoryStore {
    async fn load_purchase(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        key: &str,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let state = self.lock()?;
        Ok(PurchaseSnapshot {
            profile: state.profile(customer),
            order: state.order(customer, order),
            prior: state.prior(key),
        })
    }

    async fn commit_purchase(
        &self,
        expected: Option<u64>,
        referrer_expected: Option<u64>,
        outcome: &PurchaseOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        let customer = &outcome.profile.customer_id;
        state.check_event(&record.key, customer, expected)?;
        if let Some(update) = &outcome.referrer {
            let referrer = &update.referrer;
            if let Some(profile) = &update.profile {
                state.at_version(referrer, referrer_expected)?;
                state.put_profile(profile, referrer_expected);
                state.append_ledger(referrer, &update.ledger);
            }
            if let Some(r) = state
                .referrals
                .iter_mut()
                .find(|r| r.event_id == update.referral)
            {
                r.status = update.status;
                r.reason = update.reason.clone();
                r.updated_at = outcome.profile.updated_at;
            }
        }
        state.orders.insert(
            (customer.clone(), outcome.order.order_id.clone()),
            outcome.order.clone(),
        );
        state.write_event(&outcome.profile, expected, &outcome.ledger, record);
        Ok(())
    }
}

#[async_trait]
impl RedemptionStore for MemoryStore {
    async fn load_redemption(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> Result<(Option<Versioned<Profile>>, Option<IdempotencyRecord>), StoreError> {
        let state = self.lock()?;
        Ok((state.profile(customer), state.prior(key)))
    }

    async fn commit_redemption(
        &self,
        expected: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        state.check_event(&record.key, &outcome.profile.customer_id, Some(expected))?;
        let coupon = outcome.redemption.coupon(&outcome.profile.customer_id);
        if state.coupons.contains_key(&coupon.code) {
            return Err(CommitError::CodeTaken);
        }
        state.coupons.insert(coupon.code.clone(), coupon);
        state.redemptions.push((
            outcome.profile.customer_id.clone(),
            outcome.redemption.clone(),
        ));
        state.write_event(&outcome.profile, Some(expected), &outcome.ledger, record);
        Ok(())
    }
}

impl MemoryStore {
    /// Puts a coupon as if something had issued it (tests).
    pub fn put_coupon(&self, coupon: Coupon) {
        if let Ok(mut state) = self.lock() {
            state.coupons.insert(coupon.code.clone(), coupon);
        }
    }
}

#[async_trait]
impl ImportStore for MemoryStore {
    async fn load_import(
        &self,
        customers: &[(CustomerId, Vec<String>)],
    ) -> Result<Vec<ImportSnapshot>, StoreError> {
        let state = self.lock()?;
        Ok(customers
            .iter()
            .map(|(customer, events)| ImportSnapshot {
                profile: state.profile(customer),
                orders: state
                    .orders
                    .iter()
                    .filter(|((c, _), _)| c == customer)
                    .map(|(_, order)| order.clone())
                    .collect(),
                recorded: events
                    .iter()
                    .filter(|e| state.records.contains_key(*e))
                    .cloned()
                    .collect(),
            })
            .collect())
    }

    async fn commit_import(&self, writes: &[ImportWrite]) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        for write in writes {
            state.at_version(&write.profile.customer_id, write.expected)?;
            if write
                .records
                .iter()
                .any(|r| state.records.contains_key(&r.key))
            {
                return Err(CommitError::AlreadyRecorded);
            }
        }
        for write in writes {
            let customer = &write.profile.customer_id;
            state.put_profile(&write.profile, write.expected);
            state.append_ledger(customer, &write.ledger);
            for order in &write.orders {
                state
                    .orders
                    .insert((customer.clone(), order.order_id.clone()), order.clone());
            }
            for record in &write.records {
                state.records.insert(record.key.clone(), record.clone());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl CouponStore for MemoryStore {
    async fn coupon(&self, code: &str) -> Result<Option<Coupon>, StoreError> {
        Ok(self.lock()?.coupons.get(code).cloned())
    }
}

#[async_trait]
impl CouponUseStore for MemoryStore {
    async fn use_coupon(&self, code: &str, used: &CouponUse) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        match state.coupons.get_mut(code) {
            Some(coupon) if coupon.used.is_none() => {
                coupon.used = Some(used.clone());
                Ok(())
            }
            _ => Err(CommitError::Conflict),
        }
    }

    async fn refuse_coupon(&self, code: &str, refusal: &CouponRefusal) -> Result<(), StoreError> {
        if let Some(coupon) = self.lock()?.coupons.get_mut(code) {
            coupon.refused = Some(refusal.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl CodeSyncStore for MemoryStore {
    async fn holder_email(&self, customer: &CustomerId) -> Result<Option<Email>, StoreError> {
        Ok(self
            .lock()?
            .profiles
            .get(customer)
            .and_then(|p| p.value.email.clone()))
    }

    async fn mark_synced(
        &self,
        code: &str,
        platform: Platform,
        sync: &StoreSync,
    ) -> Result<(), StoreError> {
        if let Some(coupon) = self.lock()?.coupons.get_mut(code)
            && coupon.synced.get(platform).is_none()
        {
            coupon.synced.set(platform, sync.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl ProgramReadStore for MemoryStore {
    async fn current_program(&self) -> Result<Option<ProgramVersion>, StoreError> {
        Ok(self.lock()?.programs.last().cloned())
    }
}

#[async_trait]
impl ProgramStore for MemoryStore {
    async fn program_version(&self, version: u64) -> Result<Option<ProgramVersion>, StoreError> {
        Ok(self
            .lock()?
            .programs
            .iter()
            .find(|p| p.version == version)
            .cloned())
    }

    async fn program_history(&self, limit: usize) -> Result<Vec<ProgramVersion>, StoreError> {
        Ok(self
            .lock()?
            .programs
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn save_program(&self, next: &ProgramVersion) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        let latest = state.programs.last().map_or(0, |p| p.version);
        if next.version != latest + 1 {
            return Err(CommitError::Conflict);
        }
        state.programs.push(next.clone());
        Ok(())
    }
}

#[async_trait]
impl ProgramStatsStore for MemoryStore {
    async fn program_stats(&self) -> Result<Option<ProgramStats>, StoreError> {
        Ok(self.lock()?.program_stats.clone())
    }

    async fn save_program_stats(&self, stats: &ProgramStats) -> Result<(), StoreError> {
        self.lock()?.program_stats = Some(stats.clone());
        Ok(())
    }
}

#[async_trait]
impl CodeRepairStore for MemoryStore {
    /// One page holding every unconfirmed code, in code order.
    async fn unconfirmed_codes(
        &self,
        platforms: &[Platform],
        _after: Option<&ScanCursor>,
    ) -> Result<(Vec<String>, Option<ScanCursor>), StoreError> {
        let state = self.lock()?;
        let mut codes: Vec<String> = state
            .coupons
            .values()
            .filter(|c| platforms.iter().any(|p| c.synced.get(*p).is_none()))
            .map(|c| c.code.clone())
            .collect();
        codes.sort();
        Ok((codes, None))
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .lock()?
            .ledger
            .get(customer)
            .cloned()
            .unwrap_or_default())
    }
}

#[async_trait]
impl ReviewStore for MemoryStore {
    async fn load_review(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        sku: &Sku,
        key: &str,
    ) -> Result<ReviewSnapshot, StoreError> {
        let state = self.lock()?;
        Ok(ReviewSnapshot {
            profile: state.profile(customer),
            order: state.order(customer, order),
            review: state.reviews.get(&(customer.clone(), sku.clone())).cloned(),
            prior: state.prior(key),
        })
    }

    async fn commit_review(
        &self,
        expected: Option<u64>,
        outcome: &ReviewOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        let customer = &outcome.profile.customer_id;
        state.check_event(&record.key, customer, expected)?;
        let sku = outcome.review.sku.clone();
        state
            .reviews
            .insert((customer.clone(), sku.clone()), outcome.review.clone());
        let product = state.products.entry(sku).or_default();
        product.reviews += outcome.product_delta.0;
        product.rating_sum += outcome.product_delta.1;
        state.write_event(&outcome.profile, expected, &outcome.ledger, record);
        Ok(())
    }
}

#[async_trait]
impl ReferralCodeStore for MemoryStore {
    async fn claim_referral_code(
        &self,
        expected: u64,
        profile: &Profile,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        let Some(code) = profile.referral_code.clone() else {
            return Err(StoreError::Internal("profile without a referral code".into()).into());
        };
        if state.codes.contains_key(&code) {
            return Err(CommitError::CodeTaken);
        }
        state.at_version(&profile.customer_id, Some(expected))?;
        state.codes.insert(code, profile.customer_id.clone());
        state.put_profile(profile, Some(expected));
        Ok(())
    }
}

#[async_trait]
impl ReferralStore for MemoryStore {
    async fn customer_by_code(&self, code: &str) -> Result<Option<CustomerId>, StoreError> {
        Ok(self.lock()?.codes.get(code).cloned())
    }

    async fn load_referral(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        key: &str,
    ) -> Result<ReferralSnapshot, StoreError> {
        let state = self.lock()?;
        Ok(ReferralSnapshot {
            referrer: state.profile(referrer),
            referee: state.profile(referee),
            prior: state.prior(key),
        })
    }

    async fn commit_referral(
        &self,
        referrer_expected: u64,
        referee_expected: Option<u64>,
        outcome: &ReferralOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        if state.records.contains_key(&record.key) {
            return Err(CommitError::AlreadyRecorded);
        }
        if let Some((referee, referrer)) = &outcome.profiles {
            let changes = [
                (referee, referee_expected),
                (referrer, Some(referrer_expected)),
            ];
            for (profile, expected) in changes {
                state.at_version(&profile.customer_id, expected)?;
            }
            for (profile, expected) in changes {
                state.put_profile(profile, expected);
            }
        }
        state.referrals.push(outcome.record.clone());
        state.records.insert(record.key.clone(), record.clone());
        Ok(())
    }
}

#[async_trait]
impl ReadBackStore for MemoryStore {
    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        let state = self.lock()?;
        Ok(of_customer(&state.reviews, customer)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError> {
        Ok(self.lock()?.products.get(sku).copied().unwrap_or_default())
    }

    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError> {
        Ok(self
            .lock()?
            .referrals
            .iter()
            .filter(|r| &r.referrer == referrer)
            .cloned()
            .collect())
    }

    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError> {
        let state = self.lock()?;
        Ok(of_customer(&state.messages, customer)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError> {
        Ok(self.lock()?.suppressed.get(address_key).cloned())
    }
}

#[async_trait]
impl RewardStore for MemoryStore {
    async fn commit_reward(
        &self,
        expected: Option<u64>,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        state.check_event(&record.key, &profile.customer_id, expected)?;
        state.write_event(profile, expected, ledger, record);
        Ok(())
    }
}

mod job;
mod privacy;
