//! The scoring job's ports of the in-memory store: the customer scan (and its index, which
//! needs no re-indexing here), job state, message claims and suppressions.

use std::ops::Bound;

use async_trait::async_trait;

use super::*;
use crate::store::{CustomerIndexStore, IndexPage};

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
        let after = match &cursor {
            Some(cursor) => Bound::Excluded(id_of(cursor)?),
            None => Bound::Unbounded,
        };
        // A stable split of customers over segments, like DynamoDB's hash ranges.
        let in_segment = |id: &CustomerId| {
            let hash = (id.as_str().bytes())
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            hash % total.max(1) == segment
        };
        let mut page = (state.profiles.range((after, Bound::Unbounded)))
            .filter(|(id, _)| in_segment(id))
            .take(PAGE + 1);
        let customers: Vec<ScannedCustomer> = (&mut page)
            .take(PAGE)
            .map(|(id, profile)| ScannedCustomer {
                profile: profile.value.clone(),
                job: state.jobs.get(id).cloned(),
            })
            .collect();
        let next = match page.next() {
            Some(_) => customers
                .last()
                .map(|c| cursor_after(&c.profile.customer_id)),
            None => None,
        };
        // The whole list once, with the first page of the first segment.
        let suppressed = if segment == 0 && cursor.is_none() {
            state.suppressed.keys().cloned().collect()
        } else {
            Vec::new()
        };
        // The items a table would hold for them; no capacity is consumed here.
        let items = customers.len() + customers.iter().filter(|c| c.job.is_some()).count();
        let read = ScanRead {
            items: (items + suppressed.len()) as u64,
            capacity_units: 0.0,
        };
        Ok(CustomerPage {
            customers,
            suppressed,
            next,
            read,
        })
    }

    async fn write_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        for s in states {
            if state.live(&s.customer_id) {
                state.jobs.insert(s.customer_id.clone(), s.clone());
            }
        }
        Ok(())
    }

    async fn write_first_job_states(&self, states: &[JobState]) -> Result<(), StoreError> {
        self.write_job_states(states).await
    }
}

/// This store keeps no index: its scan of customers reads its maps, which hold every
/// profile, job state and suppression written, so there is never anything to index.
#[async_trait]
impl CustomerIndexStore for MemoryStore {
    async fn index_customers(
        &self,
        _segment: u32,
        _total: u32,
        cursor: Option<ScanCursor>,
    ) -> Result<IndexPage, StoreError> {
        // It never ends a page early, so no cursor is one of its own.
        match cursor {
            Some(_) => Err(StoreError::Internal(
                "not a re-indexing cursor of this store".into(),
            )),
            None => Ok(IndexPage::default()),
        }
    }
}

#[async_trait]
impl ProfileViewStore for MemoryStore {
    async fn profile_and_scores(
        &self,
        customer: &CustomerId,
    ) -> Result<(Option<Versioned<Profile>>, Option<CustomerScores>), StoreError> {
        let state = self.lock()?;
        let scores = state.jobs.get(customer).and_then(|j| j.scores.clone());
        Ok((state.profile(customer), scores))
    }
}

/// A scan cursor of this store: the offset into the sorted customers.
fn cursor_after(id: &CustomerId) -> ScanCursor {
    ScanCursor::from_token(format!("{CURSOR_PREFIX}{id}"))
}

fn id_of(cursor: &ScanCursor) -> Result<CustomerId, StoreError> {
    (cursor.as_token().strip_prefix(CURSOR_PREFIX))
        .and_then(|id| CustomerId::parse("cursor", id).ok())
        .ok_or_else(|| StoreError::Internal("not a scan cursor of this store".into()))
}

const CURSOR_PREFIX: &str = "memory:";

pub(super) fn message_key(record: &MessageRecord) -> (CustomerId, String) {
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
        if !state.live(&record.customer_id) {
            return Ok(Claim::Erased);
        }
        if let Some(coupon) = record.coupon() {
            if state.coupons.contains_key(&coupon.code)
                && !state
                    .messages
                    .values()
                    .any(|m| m.coupon_code.as_ref() == Some(&coupon.code))
            {
                return Err(StoreError::Internal("coupon code collision".into()));
            }
            state.coupons.insert(coupon.code.clone(), coupon);
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
            _ if !state.live(&record.customer_id) => Ok(Claim::Erased),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Tier;

    #[tokio::test]
    async fn segments_page_through_every_customer_exactly_once() {
        let store = MemoryStore::new();
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        store
            .load_profiles((0..1_000).map(|i| {
                let id = CustomerId::parse("c", &format!("c{i}")).unwrap();
                Profile::new(id, Tier("bronze".into()), now)
            }))
            .unwrap();
        let mut seen = Vec::new();
        for segment in 0..3 {
            let mut cursor = None;
            loop {
                let page = store.scan_customers(segment, 3, cursor).await.unwrap();
                assert!(page.customers.len() <= 100);
                seen.extend(page.customers.into_iter().map(|c| c.profile.customer_id));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        assert_eq!(seen.len(), 1_000);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1_000, "no customer twice");
        let foreign = ScanCursor::from_token("elsewhere");
        assert!(store.scan_customers(0, 3, Some(foreign)).await.is_err());
    }
}
