//! Changes to a customer's own standing that touch only the profile and are idempotent
//! by nature: support closing a service-recovery flag, and the unsubscribe link
//! withdrawing marketing consent.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute};
use crate::domain::{CustomerId, Profile};
use crate::store::{CommitError, IdempotencyRecord, ProfileStore, Versioned};

/// A profile-only change: `change` edits the profile and says whether anything changed.
struct EditProfile<'a, F> {
    customer: &'a CustomerId,
    /// What to answer for a customer Rapport does not know: an error, or a profile-less
    /// success (`None`).
    unknown: Option<fn() -> ServiceError>,
    change: F,
}

#[async_trait]
impl<S, F> Command<S> for EditProfile<'_, F>
where
    S: ProfileStore + ?Sized,
    F: Fn(&mut Profile, DateTime<Utc>) -> bool + Sync,
{
    type State = Option<Versioned<Profile>>;
    type Change = (u64, Profile);
    type Answer = Option<Profile>;

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
    ) -> Result<Decided<Self::Change, Option<Profile>>, ServiceError> {
        let Some(current) = current else {
            return match self.unknown {
                Some(error) => Err(error()),
                None => Ok(Decided::Done(None)),
            };
        };
        let mut profile = current.value;
        if !(self.change)(&mut profile, now) {
            return Ok(Decided::Done(Some(profile)));
        }
        profile.updated_at = now;
        Ok(Decided::Write {
            answer: Some(profile.clone()),
            change: (current.version, profile),
        })
    }

    async fn commit(
        &self,
        store: &S,
        (version, profile): &Self::Change,
        _: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store.save_profile(*version, profile).await
    }
}

/// Closes a customer's service-recovery flag (support has followed up). Idempotent.
pub async fn clear_recovery<S: ProfileStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<Profile, ServiceError> {
    let command = EditProfile {
        customer,
        unknown: Some(|| ServiceError::UnknownCustomer),
        change: |profile: &mut Profile, _| profile.service_recovery.take().is_some(),
    };
    execute(&command, store, now)
        .await?
        .answer
        .ok_or(ServiceError::UnknownCustomer)
}

/// Withdraws marketing consent (the unsubscribe link). Idempotent; a customer Rapport
/// does not know has nothing to withdraw.
pub async fn unsubscribe<S: ProfileStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let command = EditProfile {
        customer,
        unknown: None,
        change: |profile: &mut Profile, now| {
            if profile.consent.as_ref().is_some_and(|c| !c.marketing) {
                return false;
            }
            profile.set_marketing_consent(false, "unsubscribe".into(), now);
            true
        },
    };
    execute(&command, store, now).await.map(drop)
}
