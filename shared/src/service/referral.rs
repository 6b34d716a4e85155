//! Referrals: the shareable code (created on first request, stable after) and the
//! attribution of a referee, exactly once per event id; rejected referrals are recorded
//! with their reason.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::codes::{REFERRAL_CODE_LEN, readable_code};
use crate::domain::{
    CustomerId, DomainError, LoyaltyRules, Profile, ReferralEvent, ReferralOutcome,
    ReferralReceipt, ReferralRules,
};
use crate::store::{CommitError, IdempotencyRecord, ReferralCodeStore, ReferralStore, Versioned};

struct RecordReferral<'a> {
    event: &'a ReferralEvent,
    loyalty: &'a LoyaltyRules,
    rules: &'a ReferralRules,
}

struct State {
    referrer: Versioned<Profile>,
    referee: Option<Versioned<Profile>>,
}

struct Change {
    referrer_version: u64,
    referee_version: Option<u64>,
    outcome: ReferralOutcome,
}

#[async_trait]
impl<S: ReferralStore + ?Sized> Command<S> for RecordReferral<'_> {
    type State = State;
    type Change = Change;
    type Answer = ReferralReceipt;

    /// Queued on the referee: the referral is about them, and the referrer is not known
    /// before the code is looked up.
    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::event(&self.event.referee, &self.event.event_id, self.event)
    }

    async fn load(&self, store: &S, key: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let key = key.unwrap_or_default();
        // Checked before the code, so that an unknown code is a clean 404 but a retry of
        // a recorded event still replays even if the code was reassigned since.
        if let Some(prior) = store.prior(key).await? {
            return Ok(Loaded::Answered(prior));
        }
        let referrer = store
            .customer_by_code(&self.event.code)
            .await?
            .ok_or(ServiceError::UnknownReferralCode)?;
        let snapshot = store
            .load_referral(&referrer, &self.event.referee, key)
            .await?;
        if let Some(prior) = snapshot.prior {
            return Ok(Loaded::Answered(prior));
        }
        // An erased customer's code stays on their profile (it is pseudonymous), but it
        // no longer refers anyone: it answers as a code nobody has.
        let referrer = snapshot
            .referrer
            .filter(|p| !p.value.is_erased())
            .ok_or(ServiceError::UnknownReferralCode)?;
        Ok(Loaded::Fresh(State {
            referrer,
            referee: snapshot.referee,
        }))
    }

    fn decide(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Change, ReferralReceipt>, ServiceError> {
        (self.loyalty.events)
            .check("occurred_at", self.event.occurred_at, now)
            .map_err(DomainError::from)?;
        let referee_version = state.referee.as_ref().map(|p| p.version);
        let outcome = self.event.apply(
            state.referrer.value,
            state.referee.map(|p| p.value),
            self.loyalty.base_tier(),
            self.rules,
            now,
        );
        Ok(Decided::Write {
            answer: outcome.receipt.clone(),
            change: Change {
                referrer_version: state.referrer.version,
                referee_version,
                outcome,
            },
        })
    }

    async fn commit(
        &self,
        store: &S,
        change: &Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_referral(
                change.referrer_version,
                change.referee_version,
                &change.outcome,
                record_of(record)?,
            )
            .await
    }
}

/// Records a referral exactly once; rejected referrals are recorded with their reason.
pub async fn record_referral<S: ReferralStore + ?Sized>(
    store: &S,
    loyalty: &LoyaltyRules,
    rules: &ReferralRules,
    event: &ReferralEvent,
    now: DateTime<Utc>,
) -> Result<ReferralReceipt, ServiceError> {
    let command = RecordReferral {
        event,
        loyalty,
        rules,
    };
    let done = execute(&command, store, now).await?;
    Ok(done.answer.replayed(done.replayed))
}

/// The customer's code, minted on the first request.
struct ReferralCode<'a> {
    customer: &'a CustomerId,
}

#[async_trait]
impl<S: ReferralCodeStore + ?Sized> Command<S> for ReferralCode<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (u64, Profile);
    type Answer = String;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::of(self.customer)
    }

    async fn load(&self, store: &S, _: Option<&str>) -> Result<Loaded<Self::State>, ServiceError> {
        Ok(Loaded::Fresh(store.profile(self.customer).await?))
    }

    fn decide(
        &self,
        current: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, String>, ServiceError> {
        let current = current.ok_or(ServiceError::UnknownCustomer)?;
        if let Some(code) = &current.value.referral_code {
            return Ok(Decided::Done(code.clone()));
        }
        let mut profile = current.value;
        // Drawn anew on every attempt: a code another customer holds is drawn again.
        let code = readable_code(uuid::Uuid::new_v4().as_bytes(), REFERRAL_CODE_LEN);
        profile.referral_code = Some(code.clone());
        profile.updated_at = now;
        Ok(Decided::Write {
            answer: code,
            change: (current.version, profile),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, profile): &Self::Change,
        _: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store.claim_referral_code(*version, profile).await
    }
}

/// The customer's referral code, created on first request. Stable afterwards: a
/// concurrent first request that loses the race re-reads and answers the winner's code.
pub async fn referral_code<S: ReferralCodeStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    Ok(execute(&ReferralCode { customer }, store, now)
        .await?
        .answer)
}
