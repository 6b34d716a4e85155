//! The read–decide–commit loops. Each request reads the state it needs in one round
//! trip, lets the domain decide, and commits the outcome in one transaction together
//! with its idempotency record. A lost race re-reads and decides again; a request seen
//! before answers what it answered the first time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::time::Duration;
use thiserror::Error;

use crate::domain::privacy::{self, ErasureRecord};
use crate::domain::{
    CustomerId, DomainError, LedgerReason, LoyaltyRules, Profile, PurchaseEvent, PurchaseReceipt,
    RedemptionReceipt, RedemptionRequest, ReferralEvent, ReferralReceipt, ReferralRules,
    ReviewEvent, ReviewReceipt, ReviewRules, Tier, redemption::readable_code, referral::CODE_LEN,
};
use crate::mail::RecoveryAlert;
use crate::store::{
    CommitError, IdempotencyRecord, PrivacyStore, ProfileStore, PurchaseStore, RedemptionStore,
    ReferralStore, ReviewStore, RewardStore, StoreError,
};
use crate::turns;

/// How long a request waits behind other writers of the same customer in this process
/// before answering 503: half the function timeout, leaving the rest for its own write.
const TURN_PATIENCE: Duration = Duration::from_secs(5);

/// How often a request re-reads after losing a race before giving up with 503. Many
/// concurrent events for one customer serialise on its profile, so this is generous.
const MAX_ATTEMPTS: u32 = 40;

/// How long a request goes on re-reading after lost races: well inside the functions'
/// 10 s timeout, so that a customer written from many Lambda instances at once gets a
/// 503 with `Retry-After` rather than a timed-out function.
const RETRY_BUDGET: Duration = Duration::from_secs(4);

/// The attempts of one read–decide–commit loop: at most [`MAX_ATTEMPTS`], and none
/// begun after [`RETRY_BUDGET`] has passed (the first always runs).
fn attempts() -> impl Iterator<Item = u32> {
    attempts_within(RETRY_BUDGET)
}

fn attempts_within(budget: Duration) -> impl Iterator<Item = u32> {
    let started = std::time::Instant::now();
    (0..MAX_ATTEMPTS).take_while(move |&attempt| attempt == 0 || started.elapsed() < budget)
}

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

/// Identifies a validated request, so a retry can be told from a reused key.
fn fingerprint(request: &impl Serialize) -> Result<String, ServiceError> {
    let json = serde_json::to_vec(request)
        .map_err(|e| StoreError::Internal(format!("fingerprint: {e}")))?;
    Ok(hex::encode(Sha256::digest(json)))
}

fn record(
    key: String,
    fingerprint: String,
    response: &impl Serialize,
) -> Result<IdempotencyRecord, ServiceError> {
    let response = serde_json::to_string(response)
        .map_err(|e| StoreError::Internal(format!("response: {e}")))?;
    Ok(IdempotencyRecord {
        key,
        fingerprint,
        response,
    })
}

/// The first answer for a key, provided the request is the same one.
fn replay<T: DeserializeOwned>(
    prior: &IdempotencyRecord,
    fingerprint: &str,
    field: &'static str,
) -> Result<T, ServiceError> {
    if prior.fingerprint != fingerprint {
        return Err(ServiceError::KeyReused(field));
    }
    serde_json::from_str(&prior.response)
        .map_err(|e| StoreError::Internal(format!("stored response: {e}")).into())
}

/// Jittered exponential backoff so that racing writers spread out.
async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(6);
    let jitter = u64::from(rand_u32()) % base;
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

fn rand_u32() -> u32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Records a purchase or refund exactly once.
pub async fn record_purchase<S: PurchaseStore>(
    store: &S,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    event: &PurchaseEvent,
    now: DateTime<Utc>,
) -> Result<PurchaseReceipt, ServiceError> {
    let key = event.event_id.to_string();
    let fp = fingerprint(event)?;
    let _turn = turns::take(&event.customer_id, TURN_PATIENCE)
        .await
        .ok_or(ServiceError::Contention)?;
    for attempt in attempts() {
        let snapshot = store
            .load_purchase(&event.customer_id, &event.order_id, &key)
            .await?;
        if let Some(prior) = &snapshot.prior {
            return replay(prior, &fp, "event_id").map(|r: PurchaseReceipt| PurchaseReceipt {
                duplicate: true,
                ..r
            });
        }
        let expected = snapshot.profile.as_ref().map(|p| p.version);
        // Only an order that converts (or a refund that may cancel) a referral needs the
        // referrer too: a second read on those rare events, none on the others.
        let referrer =
            match event.referrer_affected(snapshot.profile.as_ref().map(|p| &p.value), referrals) {
                Some(id) => store.profile(&id).await?,
                None => None,
            };
        let referrer_version = referrer.as_ref().map(|p| p.version);
        let outcome = event.apply(
            snapshot.profile.map(|p| p.value),
            snapshot.order,
            referrer.map(|p| p.value),
            rules,
            referrals,
            now,
        )?;
        let rec = record(key.clone(), fp.clone(), &outcome.receipt)?;
        match store
            .commit_purchase(expected, referrer_version, &outcome, &rec)
            .await
        {
            Ok(()) => return Ok(outcome.receipt),
            Err(CommitError::Conflict | CommitError::AlreadyRecorded | CommitError::CodeTaken) => {
                // Someone else won the race: re-read, which replays their answer if it
                // was this same event, or applies ours on top of theirs.
                backoff(attempt).await;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// Spends points on a coupon exactly once per redemption id.
pub async fn redeem<S: RedemptionStore>(
    store: &S,
    rules: &LoyaltyRules,
    request: &RedemptionRequest,
    now: DateTime<Utc>,
) -> Result<RedemptionReceipt, ServiceError> {
    let key = format!(
        "redemption:{}:{}",
        request.customer_id, request.redemption_id
    );
    let fp = fingerprint(request)?;
    let _turn = turns::take(&request.customer_id, TURN_PATIENCE)
        .await
        .ok_or(ServiceError::Contention)?;
    for attempt in attempts() {
        let (profile, prior) = store.load_redemption(&request.customer_id, &key).await?;
        if let Some(prior) = &prior {
            return replay(prior, &fp, "redemption_id").map(|r: RedemptionReceipt| {
                RedemptionReceipt {
                    duplicate: true,
                    ..r
                }
            });
        }
        let profile = profile.ok_or(ServiceError::UnknownCustomer)?;
        let code = format!("RP-{}", readable_code(uuid::Uuid::new_v4().as_bytes(), 10));
        let outcome = request.apply(profile.value, code, rules, now)?;
        let rec = record(key.clone(), fp.clone(), &outcome.receipt)?;
        match store
            .commit_redemption(profile.version, &outcome, &rec)
            .await
        {
            Ok(()) => return Ok(outcome.receipt),
            Err(CommitError::Conflict | CommitError::AlreadyRecorded) => backoff(attempt).await,
            // A fresh random code will not collide again; no need to wait.
            Err(CommitError::CodeTaken) => {}
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// A recorded review, and the alert to send when it opened a service-recovery flag.
/// Only the request that committed the review gets the alert, so support hears of it
/// once however often the event is delivered.
#[derive(Debug)]
pub struct ReviewResult {
    pub receipt: ReviewReceipt,
    pub alert: Option<RecoveryAlert>,
}

/// Records a review exactly once.
pub async fn record_review<S: ReviewStore>(
    store: &S,
    base_tier: &Tier,
    rules: &ReviewRules,
    event: &ReviewEvent,
    now: DateTime<Utc>,
) -> Result<ReviewResult, ServiceError> {
    let key = event.event_id.to_string();
    let fp = fingerprint(event)?;
    let _turn = turns::take(&event.customer_id, TURN_PATIENCE)
        .await
        .ok_or(ServiceError::Contention)?;
    for attempt in attempts() {
        let snapshot = store
            .load_review(&event.customer_id, &event.order_id, &event.sku, &key)
            .await?;
        if let Some(prior) = &snapshot.prior {
            let receipt: ReviewReceipt = replay(prior, &fp, "event_id")?;
            return Ok(ReviewResult {
                receipt: ReviewReceipt {
                    duplicate: true,
                    ..receipt
                },
                alert: None,
            });
        }
        let expected = snapshot.profile.as_ref().map(|p| p.version);
        let outcome = event.apply(
            snapshot.profile.map(|p| p.value),
            snapshot.order.as_ref(),
            snapshot.review,
            base_tier,
            rules,
            now,
        );
        let rec = record(key.clone(), fp.clone(), &outcome.receipt)?;
        match store.commit_review(expected, &outcome, &rec).await {
            Ok(()) => {
                let alert = outcome.raise_alert.then(|| RecoveryAlert {
                    customer_id: event.customer_id.clone(),
                    customer_email: outcome.profile.email.clone(),
                    sku: event.sku.clone(),
                    order_id: event.order_id.clone(),
                    rating: event.rating,
                    title: outcome.review.title.clone(),
                    body: outcome.review.body.clone(),
                    opened_at: now,
                });
                return Ok(ReviewResult {
                    receipt: outcome.receipt,
                    alert,
                });
            }
            Err(CommitError::Conflict | CommitError::AlreadyRecorded | CommitError::CodeTaken) => {
                backoff(attempt).await;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// Closes a customer's service-recovery flag (support has followed up). Idempotent.
pub async fn clear_recovery<S: ProfileStore>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<Profile, ServiceError> {
    for attempt in attempts() {
        let current = store
            .profile(customer)
            .await?
            .ok_or(ServiceError::UnknownCustomer)?;
        if current.value.service_recovery.is_none() {
            return Ok(current.value);
        }
        let mut profile = current.value;
        profile.service_recovery = None;
        profile.updated_at = now;
        match store.save_profile(current.version, &profile).await {
            Ok(()) => return Ok(profile),
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(_) => backoff(attempt).await,
        }
    }
    Err(ServiceError::Contention)
}

/// The customer's referral code, created on first request. Stable afterwards.
pub async fn referral_code<S: ReferralStore>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    for attempt in attempts() {
        let current = store
            .profile(customer)
            .await?
            .ok_or(ServiceError::UnknownCustomer)?;
        if let Some(code) = &current.value.referral_code {
            return Ok(code.clone());
        }
        let mut profile = current.value;
        let code = readable_code(uuid::Uuid::new_v4().as_bytes(), CODE_LEN);
        profile.referral_code = Some(code.clone());
        profile.updated_at = now;
        match store.claim_referral_code(current.version, &profile).await {
            Ok(()) => return Ok(code),
            // Another request created one first: the next read returns it.
            Err(CommitError::Conflict | CommitError::AlreadyRecorded) => backoff(attempt).await,
            // Taken by another customer: draw again.
            Err(CommitError::CodeTaken) => {}
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// Records a referral exactly once; rejected referrals are recorded with their reason.
pub async fn record_referral<S: ReferralStore>(
    store: &S,
    base_tier: &Tier,
    rules: &ReferralRules,
    event: &ReferralEvent,
    now: DateTime<Utc>,
) -> Result<ReferralReceipt, ServiceError> {
    let key = event.event_id.to_string();
    let fp = fingerprint(event)?;
    for attempt in attempts() {
        // Checked before anything else so that an unknown code is a clean 404, but a
        // retry of a recorded event still replays even if the code was reassigned.
        if let Some(prior) = store.prior(&key).await? {
            let receipt: ReferralReceipt = replay(&prior, &fp, "event_id")?;
            return Ok(ReferralReceipt {
                duplicate: true,
                ..receipt
            });
        }
        let referrer_id = store
            .customer_by_code(&event.code)
            .await?
            .ok_or(ServiceError::UnknownReferralCode)?;
        let snapshot = store
            .load_referral(&referrer_id, &event.referee, &key)
            .await?;
        if let Some(prior) = &snapshot.prior {
            let receipt: ReferralReceipt = replay(prior, &fp, "event_id")?;
            return Ok(ReferralReceipt {
                duplicate: true,
                ..receipt
            });
        }
        let referrer = snapshot.referrer.ok_or(ServiceError::UnknownReferralCode)?;
        let referee_version = snapshot.referee.as_ref().map(|p| p.version);
        let outcome = event.apply(
            referrer.value,
            snapshot.referee.map(|p| p.value),
            base_tier,
            rules,
            now,
        );
        let rec = record(key.clone(), fp.clone(), &outcome.receipt)?;
        match store
            .commit_referral(referrer.version, referee_version, &outcome, &rec)
            .await
        {
            Ok(()) => return Ok(outcome.receipt),
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(_) => backoff(attempt).await,
        }
    }
    Err(ServiceError::Contention)
}

/// Credits `points` to a customer once per `key` (e.g. one birthday reward per year):
/// a ledger entry and the balance in one transaction with the key's record, so a re-run
/// or a resent message never credits twice. Returns the balance after.
pub async fn grant_reward<S: RewardStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    points: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    #[derive(Serialize, serde::Deserialize)]
    struct Granted {
        points: i64,
        balance: i64,
    }
    let fp = fingerprint(&(customer.as_str(), points))?;
    for attempt in attempts() {
        if let Some(prior) = store.prior(key).await? {
            return replay(&prior, &fp, "reward").map(|g: Granted| g.balance);
        }
        let mut profile = store
            .profile(customer)
            .await?
            .ok_or(ServiceError::UnknownCustomer)?;
        let entry = profile.value.post(
            points,
            LedgerReason::Reward,
            key.to_owned(),
            key.to_owned(),
            now,
        );
        profile.value.updated_at = now;
        let granted = Granted {
            points,
            balance: profile.value.points_balance,
        };
        let rec = record(key.to_owned(), fp.clone(), &granted)?;
        match store
            .commit_reward(profile.version, &profile.value, &[entry], &rec)
            .await
        {
            Ok(()) => return Ok(granted.balance),
            Err(CommitError::Conflict | CommitError::AlreadyRecorded | CommitError::CodeTaken) => {
                backoff(attempt).await
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// Withdraws marketing consent (the unsubscribe link). Idempotent; a customer Rapport
/// does not know has nothing to withdraw.
pub async fn unsubscribe<S: ProfileStore>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    for attempt in attempts() {
        let Some(current) = store.profile(customer).await? else {
            return Ok(());
        };
        if current.value.consent.as_ref().is_some_and(|c| !c.marketing) {
            return Ok(());
        }
        let mut profile = current.value;
        profile.set_marketing_consent(false, "unsubscribe".into(), now);
        profile.updated_at = now;
        match store.save_profile(current.version, &profile).await {
            Ok(()) => return Ok(()),
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(_) => backoff(attempt).await,
        }
    }
    Err(ServiceError::Contention)
}

/// Erases a customer's personal data, keeping the accounting (see
/// [`crate::domain::privacy`]). Idempotent: an erased customer answers the receipt of
/// the first erasure, after finishing any redaction an interrupted erasure left over.
pub async fn erase_customer<S: PrivacyStore>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<ErasureRecord, ServiceError> {
    for attempt in attempts() {
        let data = store
            .export(customer)
            .await?
            .ok_or(ServiceError::UnknownCustomer)?;
        let mut answers = Vec::new();
        for key in privacy::review_event_keys(&data.value) {
            if let Some(record) = store.prior(&key).await? {
                answers.push((record.key, record.response));
            }
        }
        let receipt_id = format!("erasure-{}", uuid::Uuid::new_v4().simple());
        let (plan, receipt) =
            privacy::plan_erasure(&data.value, data.version, &answers, receipt_id, now);
        if plan.is_empty() {
            return Ok(receipt);
        }
        match store.erase(&plan).await {
            Ok(()) => return Ok(receipt),
            // An event changed the customer, or a concurrent erasure won: re-read, which
            // plans on top of the new state or answers the winner's receipt.
            Err(CommitError::Conflict | CommitError::AlreadyRecorded | CommitError::CodeTaken) => {
                backoff(attempt).await
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_stop_at_the_count_or_the_budget() {
        assert_eq!(
            attempts_within(Duration::from_secs(3600)).collect::<Vec<_>>(),
            (0..MAX_ATTEMPTS).collect::<Vec<_>>()
        );
        // A spent budget still leaves the first attempt, and only that one.
        let mut spent = attempts_within(Duration::ZERO);
        assert_eq!(spent.next(), Some(0));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(spent.next(), None);
    }
}
