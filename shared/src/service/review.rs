//! Reviews, exactly once per event id; the service-recovery alert goes only to the
//! request that committed the flag, so support hears of it once however often the event
//! is delivered.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Loaded, Once, execute, record_of};
use crate::domain::{
    CustomerId, Order, Profile, Review, ReviewEvent, ReviewOutcome, ReviewReceipt, ReviewRules,
    Tier,
};
use crate::mail::RecoveryAlert;
use crate::store::{CommitError, IdempotencyRecord, ReviewStore, Versioned};

/// A recorded review, and the alert to send when it opened a service-recovery flag.
#[derive(Debug)]
pub struct ReviewResult {
    pub receipt: ReviewReceipt,
    pub alert: Option<RecoveryAlert>,
}

struct RecordReview<'a> {
    event: &'a ReviewEvent,
    base_tier: &'a Tier,
    rules: &'a ReviewRules,
    now: DateTime<Utc>,
}

struct State {
    profile: Option<Versioned<Profile>>,
    order: Option<Order>,
    review: Option<Review>,
}

#[async_trait]
impl<S: ReviewStore + ?Sized> Command<S> for RecordReview<'_> {
    type State = State;
    type Change = (Option<u64>, ReviewOutcome);
    type Answer = ReviewReceipt;
    type Output = ReviewResult;

    fn customer(&self) -> &CustomerId {
        &self.event.customer_id
    }

    fn once(&self) -> Result<Option<Once>, ServiceError> {
        Once::new(self.event.event_id.to_string(), "event_id", self.event).map(Some)
    }

    async fn load(&self, store: &S, key: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let e = self.event;
        let snapshot = store
            .load_review(&e.customer_id, &e.order_id, &e.sku, key.unwrap_or_default())
            .await?;
        Ok(match snapshot.prior {
            Some(prior) => Loaded::Answered(prior),
            None => Loaded::Fresh(State {
                profile: snapshot.profile,
                order: snapshot.order,
                review: snapshot.review,
            }),
        })
    }

    fn decide(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, ReviewReceipt>, ServiceError> {
        let expected = state.profile.as_ref().map(|p| p.version);
        let outcome = self.event.apply(
            state.profile.map(|p| p.value),
            state.order.as_ref(),
            state.review,
            self.base_tier,
            self.rules,
            now,
        );
        Ok(Decided::Write {
            answer: outcome.receipt.clone(),
            change: (expected, outcome),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (expected, outcome): &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store
            .commit_review(*expected, outcome, record_of(record)?)
            .await
    }

    fn output(
        &self,
        receipt: ReviewReceipt,
        change: Option<Self::Change>,
        replayed: bool,
    ) -> ReviewResult {
        let e = self.event;
        let alert = change
            .filter(|(_, outcome)| outcome.raise_alert)
            .map(|(_, outcome)| RecoveryAlert {
                customer_id: e.customer_id.clone(),
                customer_email: outcome.profile.email,
                sku: e.sku.clone(),
                order_id: e.order_id.clone(),
                rating: e.rating,
                title: outcome.review.title,
                body: outcome.review.body,
                opened_at: self.now,
            });
        ReviewResult {
            receipt: ReviewReceipt {
                duplicate: replayed,
                ..receipt
            },
            alert,
        }
    }
}

/// Records a review exactly once.
pub async fn record_review<S: ReviewStore + ?Sized>(
    store: &S,
    base_tier: &Tier,
    rules: &ReviewRules,
    event: &ReviewEvent,
    now: DateTime<Utc>,
) -> Result<ReviewResult, ServiceError> {
    let command = RecordReview {
        event,
        base_tier,
        rules,
        now,
    };
    execute(&command, store, now).await
}
