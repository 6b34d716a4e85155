//! Data rights in the in-memory store: the export of a customer's records and their erasure.

use async_trait::async_trait;

use super::job::message_key;
use super::*;

#[async_trait]
impl PrivacyStore for MemoryStore {
    async fn export(
        &self,
        customer: &CustomerId,
        tombstones: &TombstoneKey,
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
        let suppression = profile.value.email.as_ref().and_then(|e| {
            tombstones
                .lookups(e)
                .iter()
                .find_map(|k| state.suppressed.get(k).cloned())
        });
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
