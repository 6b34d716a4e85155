//! Erasure of a customer's personal data (see [`crate::domain::privacy`]). Idempotent
//! by nature: an erased customer answers the receipt of the first erasure, after
//! finishing any redaction an interrupted erasure left over.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ServiceError;
use super::driver::{Command, Decided, Key, Loaded, execute};
use crate::domain::privacy::{self, ErasureRecord};
use crate::domain::{CustomerData, CustomerId, ErasurePlan, TombstoneKey};
use crate::store::{CommitError, IdempotencyRecord, PrivacyStore, Versioned};

struct Erase<'a> {
    customer: &'a CustomerId,
    tombstones: &'a TombstoneKey,
}

struct State {
    data: Versioned<CustomerData>,
    /// Stored answers of review events that may echo review text: (key, response).
    answers: Vec<(String, String)>,
}

#[async_trait]
impl<S: PrivacyStore + ?Sized> Command<S> for Erase<'_> {
    type State = State;
    type Change = ErasurePlan;
    type Answer = ErasureRecord;

    fn key(&self) -> Result<Key<'_>, ServiceError> {
        Key::of(self.customer)
    }

    async fn load(&self, store: &S, _: Option<&str>) -> Result<Loaded<State>, ServiceError> {
        let data = store
            .export(self.customer, self.tombstones)
            .await?
            .ok_or(ServiceError::UnknownCustomer)?;
        let mut answers = Vec::new();
        for key in privacy::review_event_keys(&data.value) {
            if let Some(record) = store.prior(&key).await? {
                answers.push((record.key, record.response));
            }
        }
        Ok(Loaded::Fresh(State { data, answers }))
    }

    fn decide(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Decided<ErasurePlan, ErasureRecord>, ServiceError> {
        let receipt_id = format!("erasure-{}", uuid::Uuid::new_v4().simple());
        let (plan, receipt) = privacy::plan_erasure(
            &state.data.value,
            state.data.version,
            &state.answers,
            receipt_id,
            self.tombstones,
            now,
        );
        Ok(if plan.is_empty() {
            Decided::Done(receipt)
        } else {
            Decided::Write {
                change: plan,
                answer: receipt,
            }
        })
    }

    /// An event that changed the customer meanwhile, or a concurrent erasure that won,
    /// fails the commit: the next read plans on top of the new state or answers the
    /// winner's receipt.
    async fn commit(
        &self,
        store: &S,
        plan: &ErasurePlan,
        _: Option<&IdempotencyRecord>,
    ) -> Result<(), CommitError> {
        store.erase(plan).await
    }
}

/// Erases a customer's personal data, keeping the accounting; the address's tombstone
/// is keyed with `tombstones`.
pub async fn erase_customer<S: PrivacyStore + ?Sized>(
    store: &S,
    customer: &CustomerId,
    tombstones: &TombstoneKey,
    now: DateTime<Utc>,
) -> Result<ErasureRecord, ServiceError> {
    let command = Erase {
        customer,
        tombstones,
    };
    Ok(execute(&command, store, now).await?.answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Currency, LoyaltyRules, PurchaseEvent, PurchaseInput, ReferralRules, Tier, TierRule,
    };
    use crate::service::record_purchase;
    use crate::store::{MemoryStore, ReadBackStore};

    fn id(s: &str) -> CustomerId {
        CustomerId::parse("id", s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn rules() -> LoyaltyRules {
        let usd = Currency::parse("currency", "USD").unwrap();
        let tiers = vec![TierRule {
            tier: Tier("bronze".into()),
            threshold: 0,
            multiplier_pct: 100,
            ..TierRule::default()
        }];
        LoyaltyRules::new(usd, 1, tiers, 1, 30).unwrap()
    }

    fn order(event: &str, email: Option<&str>) -> PurchaseEvent {
        let mut body = serde_json::json!({
            "event_id": event, "kind": "purchase", "customer_id": "c1", "order_id": event,
            "occurred_at": "2026-11-30T12:00:00Z", "currency": "USD", "total_minor": 1000,
            "items": [{"sku": "TEA", "quantity": 1, "unit_price_minor": 1000}],
        });
        if let Some(email) = email {
            body["email"] = email.into();
        }
        serde_json::from_value::<PurchaseInput>(body)
            .unwrap()
            .validate()
            .unwrap()
    }

    #[tokio::test]
    async fn the_memory_store_erases_once_and_answers_the_same_receipt() {
        let store = MemoryStore::new();
        let c1 = id("c1");
        let tombstones = TombstoneKey::new(b"tombstone secret 0001");
        let unknown = erase_customer(&store, &c1, &tombstones, now()).await;
        assert!(matches!(unknown, Err(ServiceError::UnknownCustomer)));
        let referrals = ReferralRules::default();
        let first = order("p1", Some("asha@example.com"));
        record_purchase(&store, &rules(), &referrals, &first, now())
            .await
            .unwrap();

        let receipt = erase_customer(&store, &c1, &tombstones, now())
            .await
            .unwrap();
        assert_eq!(receipt.address, privacy::AddressOutcome::Suppressed);
        let exported = store.export(&c1, &tombstones).await.unwrap().unwrap().value;
        assert!(exported.profile.is_erased() && exported.profile.email.is_none());
        assert_eq!(exported.erasure.as_ref(), Some(&receipt));
        assert_eq!(exported.orders.len(), 1);
        let asha = crate::domain::Email::parse("email", "asha@example.com").unwrap();
        let tombstone = store
            .suppression(&tombstones.tombstone(&asha))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tombstone.cause, crate::domain::SuppressionCause::Erased);

        let later = erase_customer(&store, &c1, &tombstones, now())
            .await
            .unwrap();
        assert_eq!(later, receipt);
        record_purchase(
            &store,
            &rules(),
            &referrals,
            &order("p2", Some("asha@example.com")),
            now(),
        )
        .await
        .unwrap();
        let exported = store.export(&c1, &tombstones).await.unwrap().unwrap().value;
        assert_eq!(exported.orders.len(), 2);
        assert_eq!(exported.profile.points_balance, 20);
        assert!(exported.profile.email.is_none());
    }
}
