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

    /// Applies the checks every commit shares: the key is new and the version matches.
    fn check(
        state: &State,
        key: &str,
        customer: &CustomerId,
        expected: Option<u64>,
    ) -> Result<(), CommitError> {
        if state.records.contains_key(key) {
            return Err(CommitError::AlreadyRecorded);
        }
        let current = state.profiles.get(customer).map(|p| p.version);
        if current != expected {
            return Err(CommitError::Conflict);
        }
        Ok(())
    }

    fn write_profile(
        state: &mut State,
        profile: &Profile,
        expected: Option<u64>,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) {
        let version = expected.map_or(1, |v| v + 1);
        state.profiles.insert(
            profile.customer_id.clone(),
            Versioned {
                value: profile.clone(),
                version,
            },
        );
        state
            .ledger
            .entry(profile.customer_id.clone())
            .or_default()
            .extend(ledger.iter().cloned());
        state.records.insert(record.key.clone(), record.clone());
    }
}

#[async_trait]
impl ProfileStore for MemoryStore {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError> {
        Ok(self.lock()?.profiles.get(customer).cloned())
    }

    async fn save_profile(&self, expected: u64, profile: &Profile) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        match state.profiles.get_mut(&profile.customer_id) {
            Some(current) if current.version == expected => {
                *current = Versioned {
                    value: profile.clone(),
                    version: expected + 1,
                };
                Ok(())
            }
            _ => Err(CommitError::Conflict),
        }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn prior(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock()?.records.get(key).cloned())
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
            profile: state.profiles.get(customer).cloned(),
            order: state
                .orders
                .get(&(customer.clone(), order.clone()))
                .cloned(),
            prior: state.records.get(key).cloned(),
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
        Self::check(&state, &record.key, customer, expected)?;
        if let Some(update) = &outcome.referrer {
            let referrer = &update.profile.customer_id;
            if state.profiles.get(referrer).map(|p| p.version) != referrer_expected {
                return Err(CommitError::Conflict);
            }
            let version = referrer_expected.map_or(1, |v| v + 1);
            state.profiles.insert(
                referrer.clone(),
                Versioned {
                    value: update.profile.clone(),
                    version,
                },
            );
            state
                .ledger
                .entry(referrer.clone())
                .or_default()
                .extend(update.ledger.iter().cloned());
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
        Self::write_profile(
            &mut state,
            &outcome.profile,
            expected,
            &outcome.ledger,
            record,
        );
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
        Ok((
            state.profiles.get(customer).cloned(),
            state.records.get(key).cloned(),
        ))
    }

    async fn commit_redemption(
        &self,
        expected: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        Self::check(
            &state,
            &record.key,
            &outcome.profile.customer_id,
            Some(expected),
        )?;
        if !state.coupons.insert(outcome.redemption.coupon_code.clone()) {
            return Err(CommitError::CodeTaken);
        }
        state.redemptions.push((
            outcome.profile.customer_id.clone(),
            outcome.redemption.clone(),
        ));
        Self::write_profile(
            &mut state,
            &outcome.profile,
            Some(expected),
            &outcome.ledger,
            record,
        );
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
            profile: state.profiles.get(customer).cloned(),
            order: state
                .orders
                .get(&(customer.clone(), order.clone()))
                .cloned(),
            review: state.reviews.get(&(customer.clone(), sku.clone())).cloned(),
            prior: state.records.get(key).cloned(),
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
        Self::check(&state, &record.key, customer, expected)?;
        let sku = outcome.review.sku.clone();
        state
            .reviews
            .insert((customer.clone(), sku.clone()), outcome.review.clone());
        let product = state.products.entry(sku).or_default();
        product.reviews += outcome.product_delta.0;
        product.rating_sum += outcome.product_delta.1;
        Self::write_profile(
            &mut state,
            &outcome.profile,
            expected,
            &outcome.ledger,
            record,
        );
        Ok(())
    }

    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .reviews
            .iter()
            .filter(|((c, _), _)| c == customer)
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
        if state.profiles.get(&profile.customer_id).map(|p| p.version) != Some(expected) {
            return Err(CommitError::Conflict);
        }
        state.codes.insert(code, profile.customer_id.clone());
        state.profiles.insert(
            profile.customer_id.clone(),
            Versioned {
                value: profile.clone(),
                version: expected + 1,
            },
        );
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
            referrer: state.profiles.get(referrer).cloned(),
            referee: state.profiles.get(referee).cloned(),
            prior: state.records.get(key).cloned(),
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
            let current = |c: &CustomerId| state.profiles.get(c).map(|p| p.version);
            if current(&referrer.customer_id) != Some(referrer_expected)
                || current(&referee.customer_id) != referee_expected
            {
                return Err(CommitError::Conflict);
            }
            for (profile, expected) in [
                (referee, referee_expected),
                (referrer, Some(referrer_expected)),
            ] {
                let version = expected.map_or(1, |v| v + 1);
                state.profiles.insert(
                    profile.customer_id.clone(),
                    Versioned {
                        value: profile.clone(),
                        version,
                    },
                );
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
        Ok((state.profiles.get(customer).cloned(), scores))
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
        Ok(state
            .messages
            .iter()
            .filter(|((c, _), _)| c == customer)
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
        Self::check(&state, &record.key, &profile.customer_id, Some(expected))?;
        Self::write_profile(&mut state, profile, Some(expected), ledger, record);
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
        let Some(profile) = state.profiles.get(customer).cloned() else {
            return Ok(None);
        };
        // The order DynamoDB returns them in: by sort key.
        let mut orders: Vec<Order> = state
            .orders
            .iter()
            .filter(|((c, _), _)| c == customer)
            .map(|(_, o)| o.clone())
            .collect();
        orders.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        let mut redemptions: Vec<Redemption> = state
            .redemptions
            .iter()
            .filter(|(c, _)| c == customer)
            .map(|(_, r)| r.clone())
            .collect();
        redemptions.sort_by(|a, b| a.redemption_id.cmp(&b.redemption_id));
        let mut reviews: Vec<Review> = state
            .reviews
            .iter()
            .filter(|((c, _), _)| c == customer)
            .map(|(_, r)| r.clone())
            .collect();
        reviews.sort_by(|a, b| a.sku.cmp(&b.sku));
        let mut referrals_made: Vec<ReferralRecord> = state
            .referrals
            .iter()
            .filter(|r| &r.referrer == customer)
            .cloned()
            .collect();
        referrals_made.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let referral_received = profile.value.referred_by.as_ref().and_then(|a| {
            state
                .referrals
                .iter()
                .find(|r| r.referrer == a.referrer && r.event_id == a.event_id)
                .cloned()
        });
        let mut messages: Vec<(String, MessageRecord)> = state
            .messages
            .iter()
            .filter(|((c, _), _)| c == customer)
            .map(|((_, k), m)| (k.clone(), m.clone()))
            .collect();
        messages.sort_by(|a, b| a.0.cmp(&b.0));
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
                messages: messages.into_iter().map(|(_, m)| m).collect(),
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
            let current = state.profiles.get(customer).map(|p| p.version);
            let suppressed = mark
                .tombstone
                .as_ref()
                .is_some_and(|t| state.suppressed.contains_key(&t.address_key));
            if current != Some(mark.expected_version) || suppressed {
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
            state.profiles.insert(
                customer.clone(),
                Versioned {
                    value: mark.profile.clone(),
                    version: mark.expected_version + 1,
                },
            );
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
