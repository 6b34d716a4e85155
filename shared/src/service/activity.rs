//! Activities, exactly once per event id: the customer's profile (created by a signup)
//! and the activity's ledger entry, when it earned, in one transaction with the answer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute, record_of};
use crate::domain::events::activity::{ActivityEvent, ActivityOutcome, ActivityReceipt};
use crate::domain::ledger::under_program;
use crate::domain::program::ProgramRules;
use crate::domain::{DomainError, Profile};
use crate::store::{CommitError, IdempotencyRecord, RewardStore, Versioned};

struct RecordActivity<'a> {
    event: &'a ActivityEvent,
    rules: &'a ProgramRules,
}

#[async_trait]
impl<S: RewardStore + ?Sized> Command<S> for RecordActivity<'_> {
    type State = Option<Versioned<Profile>>;
    type Change = (Option<u64>, ActivityOutcome);
    type Answer = ActivityReceipt;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::event(&self.event.customer_id, &self.event.event_id, self.event)
    }

    async fn load(
        &self,
        store: &S,
        key: Option<&str>,
    ) -> Result<Loaded<Self::State>, ServiceError> {
        if let Some(prior) = store.prior(key.unwrap_or_default()).await? {
            return Ok(Loaded::Answered(prior));
        }
        Ok(Loaded::Fresh(store.profile(&self.event.customer_id).await?))
    }

    fn decide(
        &self,
        current: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, ActivityReceipt>, ServiceError> {
        // After the replay check: a retry of an event recorded once is answered.
        (self.rules.loyalty.events)
            .check("occurred_at", self.event.occurred_at, now)
            .map_err(DomainError::from)?;
        let version = current.as_ref().map(|p| p.version);
        let mut outcome = self
            .event
            .apply(
                current.map(|p| p.value),
                &self.rules.activities,
                self.rules.loyalty.base_tier(),
                now,
            )
            .map_err(DomainError::from)?;
        under_program(outcome.ledger.as_mut_slice(), self.rules.version);
        Ok(Decided::Write {
            answer: outcome.receipt.clone(),
            change: (version, outcome),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, outcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_reward(
                *version,
                &outcome.profile,
                outcome.ledger.as_slice(),
                record_of(record)?,
            )
            .await
    }
}

/// Records an activity exactly once, under the program `rules` in force.
pub async fn record_activity<S: RewardStore + ?Sized>(
    store: &S,
    rules: &ProgramRules,
    event: &ActivityEvent,
    now: DateTime<Utc>,
) -> Result<ActivityReceipt, ServiceError> {
    let done = execute(&RecordActivity { event, rules }, store, now).await?;
    Ok(done.answer.replayed(done.replayed))
}
