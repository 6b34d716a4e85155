//! A history import: profiles and event records of many customers in one consistent
//! batch read, their orders only where a customer already has history, and many
//! customers' writes in one transaction.

use async_trait::async_trait;
use std::collections::BTreeSet;

use super::DynamoStore;
use super::items::{Found, Item, key, order_item, parse, record_item, record_key};
use super::keys::{self, prefix};
use crate::access::{Grants, port};
use crate::domain::{CustomerId, Order};
use crate::store::{
    CommitError, ImportSnapshot, ImportStore, ImportWrite, MAX_TRANSACTION_ITEMS, StoreError,
};

/// Keys one `BatchGetItem` may ask for.
const BATCH_GET_MAX: usize = 100;

#[async_trait]
impl<W: Grants<port::ImportStore>> ImportStore for DynamoStore<W> {
    async fn load_import(
        &self,
        customers: &[(CustomerId, Vec<String>)],
    ) -> Result<Vec<ImportSnapshot>, StoreError> {
        // Profiles first: an event is recorded only with its customer's profile, so a
        // customer without one (the bulk of a first import) has no records to look for.
        let profiles: Vec<Item> = customers
            .iter()
            .map(|(customer, _)| key(keys::customer_pk(customer), keys::PROFILE))
            .collect();
        let mut found = Found::new(Vec::new());
        for chunk in profiles.chunks(BATCH_GET_MAX) {
            found.extend(self.get_many(chunk.to_vec()).await?);
        }
        let mut known = Vec::new();
        for (customer, events) in customers {
            let pk = keys::customer_pk(customer);
            if found.has(&pk, keys::PROFILE) {
                known.extend(events.iter().map(|e| record_key(e)));
            }
        }
        for chunk in known.chunks(BATCH_GET_MAX) {
            found.extend(self.get_many(chunk.to_vec()).await?);
        }
        let mut snapshots = Vec::with_capacity(customers.len());
        for (customer, events) in customers {
            let pk = keys::customer_pk(customer);
            let profile = found.profile(&pk)?;
            let mut recorded = BTreeSet::new();
            for event in events {
                if found.prior(event)?.is_some() {
                    recorded.insert(event.clone());
                }
            }
            // A customer seen before may have orders the new events refund or repeat.
            let orders = match (&profile, recorded.len() < events.len()) {
                (Some(_), true) => self
                    .query(customer, Some(prefix::ORDER))
                    .await?
                    .into_iter()
                    .map(parse::<Order>)
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            snapshots.push(ImportSnapshot {
                profile,
                orders,
                recorded,
            });
        }
        Ok(snapshots)
    }

    async fn commit_import(&self, writes: &[ImportWrite]) -> Result<(), CommitError> {
        let items: usize = writes.iter().map(ImportWrite::items).sum();
        if items > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Internal(format!(
                "an import transaction of {items} items, above {MAX_TRANSACTION_ITEMS}"
            ))
            .into());
        }
        let mut tx = self.transaction();
        for write in writes {
            let customer = &write.profile.customer_id;
            tx = tx.profile(&write.profile, write.expected)?;
            for order in &write.orders {
                tx = tx.put(order_item(customer, order)?)?;
            }
            tx = tx.ledger(customer, &write.ledger)?;
            for record in &write.records {
                tx = tx.record(record_item(record, customer))?;
            }
        }
        tx.commit().await
    }
}
