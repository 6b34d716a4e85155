//! An in-memory store with the same atomicity and version checks as DynamoDB, for unit
//! tests of the rules; other crates' tests get it with the `testing` feature. Every
//! behaviour is also tested against DynamoDB Local.

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use super::{
    Claim, CommitError, CustomerPage, IdempotencyRecord, IdempotencyStore, LedgerStore,
    MessageStore, PrivacyStore, ProductRating, ProfileStore, PurchaseSnapshot, PurchaseStore,
    RedemptionStore, ReferralSnapshot, ReferralStore, ReviewSnapshot, ReviewStore, RewardStore,
    ScanCursor, ScannedCustomer, ScoreStore, StoreError, SuppressionStore, Versioned,
};
use crate::domain::{
    CustomerData, CustomerId, CustomerScores, ErasurePlan, ErasureRecord, JobState, LedgerEntry,
    Order, OrderId, Profile, PurchaseOutcome, Redemption, RedemptionOutcome, ReferralOutcome,
    ReferralRecord, Review, ReviewOutcome, Sku, Suppression,
    outreach::{MessageRecord, MessageStatus},
};

#[derive(Default)]
struct State {
    profiles: HashMap<CustomerId, Versioned<Profile>>,
    orders: HashMap<(CustomerId, OrderId), Order>,
    ledger: HashMap<CustomerId, Vec<LedgerEntry>>,
    records: HashMap<String, IdempotencyRecord>,
    coupons: HashSet<String>,
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

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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
            let referrer = &update.profile.customer_id;
            state.at_version(referrer, referrer_expected)?;
            state.put_profile(&update.profile, referrer_expected);
            state.append_ledger(referrer, &update.ledger);
            if let Some(r) = state
                .referrals
                .iter_mut()
                .find(|r| r.event_id == update.referral)
            {
                r.status = update.status;
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
        if !state.coupons.insert(outcome.redemption.coupon_code.clone()) {
            return Err(CommitError::CodeTaken);
        }
        state.redemptions.push((
            outcome.profile.customer_id.clone(),
            outcome.redemption.clone(),
        ));
        state.write_event(&outcome.profile, Some(expected), &outcome.ledger, record);
        Ok(())
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

    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        let state = self.lock()?;
        Ok(of_customer(&state.reviews, customer)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError> {
        Ok(self.lock()?.products.get(sku).copied().unwrap_or_default())
    }
}

#[async_trait]
impl ReferralStore for MemoryStore {
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

    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError> {
        Ok(self
            .lock()?
            .referrals
            .iter()
            .filter(|r| &r.referrer == referrer)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ScoreStore for MemoryStore {
    async fn scan_customers(
        &self,
        segment: u32,
        total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<CustomerPage, StoreError> {
        const PAGE: usize = 100;
        let state = self.lock()?;
        let mut ids: Vec<&CustomerId> = state
            .profiles
            .keys()
            .filter(|id| {
                // A stable split of customers over segments, like DynamoDB's hash ranges.
                let hash = id
                    .as_str()
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                hash % total.max(1) == segment
            })
            .collect();
        ids.sort();
        let start = match &cursor {
            Some(cursor) => offset_of(cursor)?,
            None => 0,
        };
        let customers: Vec<ScannedCustomer> = ids
            .iter()
            .skip(start)
            .take(PAGE)
            .filter_map(|id| {
                let profile = state.profiles.get(*id)?.value.clone();
                Some(ScannedCustomer {
                    profile,
                    job: state.jobs.get(*id).cloned(),
                })
            })
            .collect();
        let end = start + customers.len();
        let next = (end < ids.len()).then(|| cursor_at(end));
        // The whole list once, with the first page of the first segment.
        let suppressed = if segment == 0 && start == 0 {
            state.suppressed.keys().cloned().collect()
        } else {
            Vec::new()
        };
        Ok(CustomerPage {
            customers,
            suppressed,
            next,
        })
    }

    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        for s in states {
            state.jobs.insert(s.customer_id.clone(), s.clone());
        }
        Ok(())
    }

    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError> {
        let state = self.lock()?;
        let scores = state.jobs.get(customer).and_then(|j| j.scores.clone());
        Ok((state.profile(customer), scores))
    }
}

/// A scan cursor of this store: the offset into the sorted customers.
fn cursor_at(offset: usize) -> ScanCursor {
    ScanCursor::from_token(format!("{CURSOR_PREFIX}{offset}"))
}

fn offset_of(cursor: &ScanCursor) -> Result<usize, StoreError> {
    cursor
        .as_token()
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|offset| offset.parse().ok())
        .ok_or_else(|| StoreError::Internal("not a scan cursor of this store".into()))
}

const CURSOR_PREFIX: &str = "memory:";

fn message_key(record: &MessageRecord) -> (CustomerId, String) {
    (
        record.customer_id.clone(),
        format!("{}#{}", record.kind, record.period),
    )
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn claim_message(&self, record: &MessageRecord) -> Result<Claim, StoreError> {
        let mut state = self.lock()?;
        let key = message_key(record);
        if let Some(existing) = state.messages.get(&key)
            && existing.status != MessageStatus::Failed
        {
            return Ok(Claim::Taken(Box::new(existing.clone())));
        }
        if let Some(code) = &record.coupon_code {
            if state.coupons.contains(code)
                && !state
                    .messages
                    .values()
                    .any(|m| m.coupon_code.as_ref() == Some(code))
            {
                return Err(StoreError::Internal("coupon code collision".into()));
            }
            state.coupons.insert(code.clone());
        }
        let attempts = state.messages.get(&key).map_or(0, |m| m.attempts);
        state.messages.insert(
            key,
            MessageRecord {
                attempts: attempts + record.attempts,
                ..record.clone()
            },
        );
        Ok(Claim::Claimed)
    }

    async fn reclaim_message(
        &self,
        stale: &MessageRecord,
        record: &MessageRecord,
    ) -> Result<Claim, StoreError> {
        let mut state = self.lock()?;
        let key = message_key(record);
        match state.messages.get(&key) {
            Some(now) if now != stale => Ok(Claim::Taken(Box::new(now.clone()))),
            _ => {
                state.messages.insert(key, record.clone());
                Ok(Claim::Claimed)
            }
        }
    }

    async fn finish_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let key = message_key(record);
        let attempts = state
            .messages
            .get(&key)
            .map_or(record.attempts, |m| m.attempts);
        state.messages.insert(
            key,
            MessageRecord {
                attempts,
                ..record.clone()
            },
        );
        Ok(())
    }

    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError> {
        let state = self.lock()?;
        Ok(of_customer(&state.messages, customer)
            .map(|(_, m)| m.clone())
            .collect())
    }
}

#[async_trait]
impl SuppressionStore for MemoryStore {
    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        state
            .suppressed
            .entry(suppression.address_key.clone())
            .or_insert_with(|| suppression.clone());
        Ok(())
    }

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError> {
        Ok(self.lock()?.suppressed.get(address_key).cloned())
    }
}

#[async_trait]
impl RewardStore for MemoryStore {
    async fn commit_reward(
        &self,
        expected: u64,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        state.check_event(&record.key, &profile.customer_id, Some(expected))?;
        state.write_event(profile, Some(expected), ledger, record);
        Ok(())
    }
}

#[async_trait]
impl PrivacyStore for MemoryStore {
    async fn export(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<CustomerData>>, StoreError> {
        let state = self.lock()?;
        let Some(profile) = state.profile(customer) else {
            return Ok(None);
        };
        let orders = sorted(
            of_customer(&state.orders, customer).map(|(_, o)| o.clone()),
            |o: &Order| o.order_id.clone(),
        );
        let redemptions = sorted(
            state
                .redemptions
                .iter()
                .filter(|(c, _)| c == customer)
                .map(|(_, r)| r.clone()),
            |r: &Redemption| r.redemption_id.clone(),
        );
        let reviews = sorted(
            of_customer(&state.reviews, customer).map(|(_, r)| r.clone()),
            |r: &Review| r.sku.clone(),
        );
        let referrals_made = sorted(
            state
                .referrals
                .iter()
                .filter(|r| &r.referrer == customer)
                .cloned(),
            |r: &ReferralRecord| r.event_id.clone(),
        );
        let referral_received = profile.value.referred_by.as_ref().and_then(|a| {
            state
                .referrals
                .iter()
                .find(|r| r.referrer == a.referrer && r.event_id == a.event_id)
                .cloned()
        });
        let messages = sorted(of_customer(&state.messages, customer), |(k, _)| *k);
        let suppression = profile
            .value
            .email
            .as_ref()
            .and_then(|e| state.suppressed.get(&e.address_key()).cloned());
        Ok(Some(Versioned {
            version: profile.version,
            value: CustomerData {
                orders,
                ledger: state.ledger.get(customer).cloned().unwrap_or_default(),
                redemptions,
                reviews,
                referrals_made,
                referral_received,
                messages: messages.into_iter().map(|(_, m)| m.clone()).collect(),
                job_state: state.jobs.get(customer).cloned(),
                suppression,
                erasure: state.erasures.get(customer).cloned(),
                profile: profile.value,
            },
        }))
    }

    async fn erase(&self, plan: &ErasurePlan) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        let customer = &plan.customer;
        // Every check first, so that a refused erasure changes nothing.
        if let Some(mark) = &plan.mark {
            if state.erasures.contains_key(customer) {
                return Err(CommitError::AlreadyRecorded);
            }
            state.at_version(customer, Some(mark.expected_version))?;
            let suppressed = mark
                .tombstone
                .as_ref()
                .is_some_and(|t| state.suppressed.contains_key(&t.address_key));
            if suppressed {
                return Err(CommitError::Conflict);
            }
        }
        let exists = |sku| state.reviews.contains_key(&(customer.clone(), sku));
        let missing_review = plan.reviews.iter().any(|s| !exists(s.clone()));
        let missing_message = plan
            .messages
            .iter()
            .any(|m| !state.messages.contains_key(&message_key(m)));
        let missing_answer = plan
            .answers
            .iter()
            .any(|a| !state.records.contains_key(&a.key));
        if missing_review || missing_message || missing_answer {
            return Err(CommitError::Conflict);
        }
        if let Some(mark) = &plan.mark {
            state.erasures.insert(customer.clone(), mark.record.clone());
            state.put_profile(&mark.profile, Some(mark.expected_version));
            if let Some(tombstone) = &mark.tombstone {
                state
                    .suppressed
                    .insert(tombstone.address_key.clone(), tombstone.clone());
            }
        }
        for sku in &plan.reviews {
            if let Some(review) = state.reviews.get_mut(&(customer.clone(), sku.clone())) {
                review.title = None;
                review.body = None;
            }
        }
        for message in &plan.messages {
            if let Some(stored) = state.messages.get_mut(&message_key(message)) {
                stored.error = None;
            }
        }
        for answer in &plan.answers {
            if let Some(record) = state.records.get_mut(&answer.key) {
                record.response = answer.response.clone();
            }
        }
        if plan.drop_job_state {
            state.jobs.remove(customer);
        }
        Ok(())
    }
}
