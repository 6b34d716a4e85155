//! Data rights: the export reads a customer's whole partition and the two records
//! kept elsewhere; the erasure writes its mark and redactions in transactions of at
//! most [`TRANSACT_MAX`] actions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::items::{
    Item, erasure_item, key, keyed, parse, record_key, suppression_item, suppression_key,
    versioned_profile,
};
use super::keys::{self, CustomerItem, SCORES};
use super::transaction::{TRANSACT_MAX, Transaction};
use crate::access::{Grants, port};
use crate::domain::{CustomerData, CustomerId, ErasurePlan, Profile, TombstoneKey};
use crate::store::{CommitError, PrivacyStore, StoreError, Versioned};

/// Everything in `items` (one customer's partition), sorted into its kinds; `None`
/// without a profile.
fn customer_data(items: Vec<Item>) -> Result<Option<Versioned<CustomerData>>, StoreError> {
    let mut profile = None;
    let (mut orders, mut ledger, mut redemptions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut reviews, mut referrals_made, mut messages) = (Vec::new(), Vec::new(), Vec::new());
    let (mut job_state, mut erasure) = (None, None);
    for (_, sk, item) in keyed(items) {
        let Some(kind) = CustomerItem::of(&sk) else {
            let kind = sk.split_once('#').map_or(sk.as_str(), |(kind, _)| kind);
            tracing::warn!(kind, "unknown item kind in a customer partition");
            continue;
        };
        match kind {
            CustomerItem::Profile => profile = Some(versioned_profile(item)?),
            CustomerItem::Order => orders.push(parse(item)?),
            CustomerItem::Ledger => ledger.push(parse(item)?),
            CustomerItem::Redemption => redemptions.push(parse(item)?),
            CustomerItem::Review => reviews.push(parse(item)?),
            CustomerItem::Referral => referrals_made.push(parse(item)?),
            CustomerItem::Message => messages.push(parse(item)?),
            CustomerItem::Scores => job_state = Some(parse(item)?),
            CustomerItem::Erasure => erasure = Some(parse(item)?),
        }
    }
    Ok(profile.map(|p: Versioned<Profile>| Versioned {
        version: p.version,
        value: CustomerData {
            profile: p.value,
            orders,
            ledger,
            redemptions,
            reviews,
            referrals_made,
            referral_received: None,
            messages,
            job_state,
            suppression: None,
            erasure,
        },
    }))
}

impl<W> DynamoStore<W> {
    /// The erasure of `plan` as one transaction: the mark (audit record first, the
    /// record that makes a second erasure [`CommitError::AlreadyRecorded`]), then the
    /// redactions.
    fn erasure(&self, plan: &ErasurePlan) -> Result<Transaction<'_, W>, StoreError> {
        let pk = keys::customer_pk(&plan.customer);
        let mut tx = self.transaction();
        if let Some(mark) = &plan.mark {
            tx = tx
                .record(erasure_item(&plan.customer, &mark.record)?)?
                .profile(&mark.profile, Some(mark.expected_version))?;
            if let Some(tombstone) = &mark.tombstone {
                tx = tx.insert(suppression_item(tombstone)?)?;
            }
        }
        for sku in &plan.reviews {
            tx = tx.update_existing(
                key(pk.clone(), keys::review_sk(sku)),
                "REMOVE title, body",
                &[],
                Vec::new(),
            )?;
        }
        for message in &plan.messages {
            tx = tx.update_existing(
                key(pk.clone(), keys::message_sk(message.kind, &message.period)),
                "REMOVE #error",
                &[("#error", "error")],
                Vec::new(),
            )?;
        }
        for answer in &plan.answers {
            tx = tx.update_existing(
                record_key(&answer.key),
                "SET #response = :response",
                &[("#response", "response")],
                vec![(":response", AttributeValue::S(answer.response.clone()))],
            )?;
        }
        if plan.drop_job_state {
            tx = tx.delete(key(pk, SCORES))?;
        }
        Ok(tx)
    }
}

#[async_trait]
impl<W> PrivacyStore for DynamoStore<W>
where
    W: Grants<port::PrivacyStore> + Grants<port::IdempotencyStore>,
{
    async fn export(
        &self,
        customer: &CustomerId,
        tombstones: &TombstoneKey,
    ) -> Result<Option<Versioned<CustomerData>>, StoreError> {
        let Some(mut found) = customer_data(self.query(customer, None).await?)? else {
            return Ok(None);
        };
        // Two records live outside the partition: the referral that brought the
        // customer (under the referrer) and the suppression of their address.
        let profile = &found.value.profile;
        let referral_key = profile.referred_by.as_ref().map(|a| {
            (
                keys::customer_pk(&a.referrer),
                keys::referral_sk(&a.event_id),
            )
        });
        let address_keys = profile
            .email
            .as_ref()
            .map(|e| tombstones.lookups(e))
            .unwrap_or_default();
        let wanted: Vec<Item> = referral_key
            .iter()
            .map(|(pk, sk)| key(pk.clone(), sk.clone()))
            .chain(address_keys.iter().map(|k| suppression_key(k)))
            .collect();
        if !wanted.is_empty() {
            let mut outside = self.get_many(wanted).await?;
            if let Some((pk, sk)) = &referral_key {
                found.value.referral_received = outside.parsed(pk, sk)?;
            }
            for address_key in &address_keys {
                let pk = keys::suppressed_pk(address_key);
                if let Some(suppression) = outside.parsed(&pk, keys::SUPPRESSED)? {
                    found.value.suppression = Some(suppression);
                    break;
                }
            }
        }
        Ok(Some(found))
    }

    async fn erase(&self, plan: &ErasurePlan) -> Result<(), CommitError> {
        // The mark and, for any ordinary customer, every redaction commit together. A
        // customer with more records than one transaction holds gets the rest in
        // further transactions (without the audit record, which is in the first);
        // were one of those lost, the next erasure request finds the leftovers and
        // finishes the job.
        for part in self.erasure(plan)?.split(TRANSACT_MAX) {
            part.commit().await?;
        }
        Ok(())
    }
}
