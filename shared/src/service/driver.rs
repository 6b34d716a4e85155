//! The one read–decide–commit loop every write goes through.
//!
//! A [`Command`] says what to read, lets the domain decide, and what to commit; the
//! driver does the rest the same way for all of them:
//! - writers of one customer in this process take turns ([`super::queue`]);
//! - a request seen before answers what it answered the first time, if it is the same
//!   request (its fingerprint), and is refused if the key was reused for another;
//! - the outcome is committed together with the request's idempotency record, so a
//!   retry or a concurrent duplicate can never apply twice;
//! - a lost race re-reads and decides again after a jittered backoff, within a bounded
//!   number of attempts and time, then gives up with [`ServiceError::Contention`] (a 503
//!   with `Retry-After` at the HTTP edge); a freshly drawn code that is taken is drawn
//!   again at once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::time::Duration;

use super::{ServiceError, queue};
use crate::domain::CustomerId;
use crate::retry::Backoff;
use crate::store::{CommitError, IdempotencyRecord, StoreError};

/// How long a request waits behind other writers of the same customer in this process
/// before answering 503: half the function timeout, leaving the rest for its own write.
const TURN_PATIENCE: Duration = Duration::from_secs(5);

/// How often a request re-reads after losing a race before giving up with 503. Many
/// concurrent events for one customer serialise on its profile, so this is generous.
pub(crate) const MAX_ATTEMPTS: u32 = 40;

/// How long a request goes on re-reading after lost races: well inside the functions'
/// 10 s timeout, so that a customer written from many Lambda instances at once gets a
/// 503 with `Retry-After` rather than a timed-out function.
pub(crate) const RETRY_BUDGET: Duration = Duration::from_secs(4);

/// The backoff between attempts after a lost race: 2.5–7.5 ms at first, doubling to
/// at most 160–480 ms.
fn conflict_backoff() -> Backoff {
    Backoff::new(
        Duration::from_millis(5),
        Duration::from_millis(320),
        MAX_ATTEMPTS,
    )
    .within(RETRY_BUDGET)
}

/// Whose writes a command queues behind, and how it is exactly-once.
pub(crate) struct Key<'a> {
    pub customer: &'a CustomerId,
    pub once: Option<Once>,
}

impl<'a> Key<'a> {
    /// A command idempotent by nature (clearing a flag, erasing): no stored answer.
    pub fn of(customer: &'a CustomerId) -> Result<Self, ServiceError> {
        Ok(Self {
            customer,
            once: None,
        })
    }

    /// A storefront event: its answer stored under its `event_id`.
    pub fn event(
        customer: &'a CustomerId,
        event_id: &impl std::fmt::Display,
        request: &impl Serialize,
    ) -> Result<Self, ServiceError> {
        Self::once(customer, event_id.to_string(), "event_id", request)
    }

    /// A request whose answer is stored under `key`, named by `field` when reused.
    pub fn once(
        customer: &'a CustomerId,
        key: String,
        field: &'static str,
        request: &impl Serialize,
    ) -> Result<Self, ServiceError> {
        Ok(Self {
            customer,
            once: Some(Once::new(key, field, request)?),
        })
    }
}

/// What makes a command exactly-once: the key its first answer is stored under, the
/// request field that carries the key (named when the key is reused), and a fingerprint
/// of the validated request that tells a retry from a reused key.
pub(crate) struct Once {
    pub key: String,
    pub field: &'static str,
    fingerprint: String,
}

impl Once {
    pub(crate) fn new(
        key: String,
        field: &'static str,
        request: &impl Serialize,
    ) -> Result<Self, ServiceError> {
        let json = serde_json::to_vec(request)
            .map_err(|e| StoreError::Internal(format!("fingerprint: {e}")))?;
        Ok(Self {
            key,
            field,
            fingerprint: hex::encode(Sha256::digest(json)),
        })
    }

    pub(crate) fn record(
        &self,
        answer: &impl Serialize,
    ) -> Result<IdempotencyRecord, ServiceError> {
        let response = serde_json::to_string(answer)
            .map_err(|e| StoreError::Internal(format!("response: {e}")))?;
        Ok(IdempotencyRecord {
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            response,
        })
    }

    /// The first answer for the key, provided the request is the same one.
    fn replay<T: DeserializeOwned>(&self, prior: &IdempotencyRecord) -> Result<T, ServiceError> {
        if prior.fingerprint != self.fingerprint {
            return Err(ServiceError::KeyReused(self.field));
        }
        serde_json::from_str(&prior.response)
            .map_err(|e| StoreError::Internal(format!("stored response: {e}")).into())
    }
}

/// What one read found.
pub(crate) enum Loaded<S> {
    /// The request was answered before: replay that answer.
    Answered(IdempotencyRecord),
    /// The state to decide on.
    Fresh(S),
}

/// What the domain decided.
pub(crate) enum Decided<C, A> {
    /// Nothing to write: the state already is what the request asks for.
    Done(A),
    /// Commit `change`; answer `answer` once it is committed.
    Write { change: C, answer: A },
}

/// One kind of write over a store `S`: what it reads, how the domain decides, what it
/// commits.
#[async_trait]
pub(crate) trait Command<S: ?Sized + Sync>: Sync {
    type State: Send;
    type Change: Send + Sync;
    /// What is answered, and stored for replays.
    type Answer: Serialize + DeserializeOwned + Send;

    /// The customer whose writers take turns, and the stored-answer key if any.
    fn key(&self) -> Result<Key<'_>, ServiceError>;

    /// Reads the state and, for exactly-once commands, the prior answer under `key`.
    async fn load(&self, store: &S, key: Option<&str>)
    -> Result<Loaded<Self::State>, ServiceError>;

    fn decide(
        &self,
        state: Self::State,
        now: DateTime<Utc>,
    ) -> Result<Decided<Self::Change, Self::Answer>, ServiceError>;

    /// Commits `change` with `record` (for exactly-once commands) atomically, if what
    /// was read is still current.
    async fn commit(
        &self,
        store: &S,
        change: &Self::Change,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError>;
}

/// What a command came to.
pub(crate) struct Executed<C, A> {
    pub answer: A,
    /// The committed change; `None` for a replay or when nothing had to be written.
    pub change: Option<C>,
    /// The answer is the one stored by an earlier delivery of the same request.
    pub replayed: bool,
}

/// Runs `command` exactly once against `store`.
pub(crate) async fn execute<S: ?Sized + Sync, C: Command<S>>(
    command: &C,
    store: &S,
    now: DateTime<Utc>,
) -> Result<Executed<C::Change, C::Answer>, ServiceError> {
    let Key { customer, once } = command.key()?;
    let _turn = queue::take(customer, TURN_PATIENCE)
        .await
        .ok_or(ServiceError::Contention)?;
    let done = |answer, change, replayed| Executed {
        answer,
        change,
        replayed,
    };
    let mut backoff = conflict_backoff();
    loop {
        let key = once.as_ref().map(|o| o.key.as_str());
        let state = match command.load(store, key).await? {
            Loaded::Answered(prior) => {
                let Some(once) = &once else {
                    return Err(StoreError::Internal("an answer without a key".into()).into());
                };
                return Ok(done(once.replay(&prior)?, None, true));
            }
            Loaded::Fresh(state) => state,
        };
        let (change, answer) = match command.decide(state, now)? {
            Decided::Done(answer) => return Ok(done(answer, None, false)),
            Decided::Write { change, answer } => (change, answer),
        };
        let record = once.as_ref().map(|o| o.record(&answer)).transpose()?;
        match command.commit(store, &change, record.as_ref()).await {
            Ok(()) => return Ok(done(answer, Some(change), false)),
            // A freshly drawn code collided: the next draw will not, no need to wait.
            Err(CommitError::CodeTaken) => {
                if backoff.next_delay().is_none() {
                    break;
                }
            }
            // Someone else won the race: re-read, which replays their answer if it was
            // this same request, or decides again on top of theirs.
            Err(CommitError::Conflict | CommitError::AlreadyRecorded) => {
                if !backoff.wait().await {
                    break;
                }
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ServiceError::Contention)
}

/// The idempotency record a commit of an exactly-once command carries; its absence is a
/// bug in the command, reported rather than panicked on.
pub(crate) fn record_of(
    record: Option<&IdempotencyRecord>,
) -> Result<&IdempotencyRecord, CommitError> {
    record.ok_or_else(|| {
        StoreError::Internal("an exactly-once commit without its record".into()).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A command over a counter that loses `losses` races before it commits.
    struct Flaky {
        customer: CustomerId,
        losses: u32,
        commits: AtomicU32,
        once: bool,
    }

    #[derive(Default)]
    struct Store {
        prior: std::sync::Mutex<Option<IdempotencyRecord>>,
    }

    #[async_trait]
    impl Command<Store> for Flaky {
        type State = ();
        type Change = ();
        type Answer = u32;

        fn key(&self) -> Result<Key<'_>, ServiceError> {
            if self.once {
                Key::event(&self.customer, &"k1", &"request")
            } else {
                Key::of(&self.customer)
            }
        }

        async fn load(&self, store: &Store, _: Option<&str>) -> Result<Loaded<()>, ServiceError> {
            Ok(match store.prior.lock().unwrap().clone() {
                Some(prior) => Loaded::Answered(prior),
                None => Loaded::Fresh(()),
            })
        }

        fn decide(&self, _: (), _: DateTime<Utc>) -> Result<Decided<(), u32>, ServiceError> {
            Ok(Decided::Write {
                change: (),
                answer: 7,
            })
        }

        async fn commit(
            &self,
            store: &Store,
            _: &(),
            record: Option<&IdempotencyRecord>,
        ) -> Result<(), CommitError> {
            if self.commits.fetch_add(1, Ordering::SeqCst) < self.losses {
                return Err(CommitError::Conflict);
            }
            *store.prior.lock().unwrap() = record.cloned();
            Ok(())
        }
    }

    fn flaky(name: &str, losses: u32, once: bool) -> Flaky {
        Flaky {
            customer: CustomerId::parse("id", name).unwrap(),
            losses,
            commits: AtomicU32::new(0),
            once,
        }
    }

    #[tokio::test]
    async fn lost_races_are_retried_and_a_second_run_replays() {
        let store = Store::default();
        let command = flaky("driver-a", 3, true);
        let now = Utc::now();
        let first = execute(&command, &store, now).await.unwrap();
        assert_eq!((first.answer, first.replayed), (7, false));
        assert_eq!(command.commits.load(Ordering::SeqCst), 4);
        let again = execute(&command, &store, now).await.unwrap();
        assert_eq!((again.answer, again.replayed), (7, true));
        assert_eq!(
            command.commits.load(Ordering::SeqCst),
            4,
            "a replay commits nothing"
        );
    }

    #[tokio::test]
    async fn a_reused_key_is_refused() {
        let store = Store::default();
        *store.prior.lock().unwrap() = Some(IdempotencyRecord {
            key: "k1".into(),
            fingerprint: "another request".into(),
            response: "7".into(),
        });
        let result = execute(&flaky("driver-b", 0, true), &store, Utc::now()).await;
        assert!(matches!(result, Err(ServiceError::KeyReused("event_id"))));
    }

    #[tokio::test]
    async fn endless_conflicts_end_in_contention() {
        let store = Store::default();
        let command = flaky("driver-c", u32::MAX, false);
        let result = execute(&command, &store, Utc::now()).await;
        assert!(matches!(result, Err(ServiceError::Contention)));
        let tries = command.commits.load(Ordering::SeqCst);
        assert!((2..=MAX_ATTEMPTS).contains(&tries), "{tries} attempts");
    }
}
