//! The ports the API's events use: profiles, idempotency records, purchases,
//! redemptions, rewards, the ledger, reviews and referrals, and the read-backs of what
//! they wrote. Loads are one consistent batch read; commits are one transaction with
//! the idempotency record.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::items::{
    Item, coupon_item, key, number_attr, order_item, parse, record_from, record_item, record_key,
    redemption_item, refcode_claim, referral_item, review_item, suppression_key, to_attr,
    versioned_profile,
};
use super::keys::{self, expr, prefix};
use super::{DynamoStore, classify};
use crate::access::{Grants, port};
use crate::domain::outreach::MessageRecord;
use crate::domain::{
    CustomerId, LedgerEntry, OrderId, Profile, PurchaseOutcome, RedemptionOutcome, ReferralOutcome,
    ReferralRecord, Review, ReviewOutcome, Sku, Suppression,
};
use crate::store::{
    CommitError, IdempotencyRecord, IdempotencyStore, LedgerStore, ProductRating, ProfileStore,
    PurchaseSnapshot, PurchaseStore, ReadBackStore, RedemptionStore, ReferralCodeStore,
    ReferralSnapshot, ReferralStore, ReviewSnapshot, ReviewStore, RewardStore, StoreError,
    Versioned,
};

/// What a query of the code index reads: the index projects the keys and
/// `customer_id` (template.yaml), not the whole profile.
#[derive(Deserialize)]
struct CodeOwner {
    customer_id: CustomerId,
}

fn product_key(sku: &Sku) -> Item {
    key(keys::product_pk(sku), keys::RATING)
}

#[async_trait]
impl<W: Grants<port::ProfileStore>> ProfileStore for DynamoStore<W> {
    async fn profile(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Versioned<Profile>>, StoreError> {
        let found = self
            .get(key(keys::customer_pk(customer), keys::PROFILE), true)
            .await?;
        found.map(versioned_profile).transpose()
    }

    async fn save_profile(&self, expected: u64, profile: &Profile) -> Result<(), CommitError> {
        let put = self.profile_put(profile, Some(expected))?;
        if self.put_if(put).await? {
            Ok(())
        } else {
            Err(CommitError::Conflict)
        }
    }
}

#[async_trait]
impl<W: Grants<port::IdempotencyStore>> IdempotencyStore for DynamoStore<W> {
    async fn prior(&self, key_: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let found = self.get(record_key(key_), true).await?;
        found.map(record_from).transpose()
    }
}

#[async_trait]
impl<W> PurchaseStore for DynamoStore<W>
where
    W: Grants<port::PurchaseStore> + Grants<port::IdempotencyStore> + Grants<port::ProfileStore>,
{
    async fn load_purchase(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        key_: &str,
    ) -> Result<PurchaseSnapshot, StoreError> {
        let (pk, order_sk) = (keys::customer_pk(customer), keys::order_sk(order));
        let mut found = self
            .read_customer(customer, &[keys::PROFILE, &order_sk], Some(key_))
            .await?;
        Ok(PurchaseSnapshot {
            profile: found.profile(&pk)?,
            order: found.parsed(&pk, &order_sk)?,
            prior: found.prior(key_)?,
        })
    }

    async fn commit_purchase(
        &self,
        expected: Option<u64>,
        referrer_expected: Option<u64>,
        outcome: &PurchaseOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        let mut tx = self
            .transaction()
            .event(record, &outcome.profile, expected, &outcome.ledger)?
            .put(order_item(customer, &outcome.order)?)?;
        if let Some(update) = &outcome.referrer {
            let referrer = &update.referrer;
            if let Some(profile) = &update.profile {
                tx = tx
                    .profile(profile, referrer_expected)?
                    .ledger(referrer, &update.ledger)?;
            }
            tx = tx.update_existing(
                key(
                    keys::customer_pk(referrer),
                    keys::referral_sk(&update.referral),
                ),
                "SET #status = :status, #reason = :reason, updated_at = :at",
                &[("#status", "status"), ("#reason", "reason")],
                vec![
                    (":status", to_attr(&update.status)?),
                    (":reason", to_attr(&update.reason)?),
                    (":at", to_attr(&outcome.profile.updated_at)?),
                ],
            )?;
        }
        tx.commit().await
    }
}

#[async_trait]
impl<W: Grants<port::RedemptionStore>> RedemptionStore for DynamoStore<W> {
    async fn load_redemption(
        &self,
        customer: &CustomerId,
        key_: &str,
    ) -> Result<(Option<Versioned<Profile>>, Option<IdempotencyRecord>), StoreError> {
        let mut found = self
            .read_customer(customer, &[keys::PROFILE], Some(key_))
            .await?;
        let pk = keys::customer_pk(customer);
        Ok((found.profile(&pk)?, found.prior(key_)?))
    }

    async fn commit_redemption(
        &self,
        expected: u64,
        outcome: &RedemptionOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        let redemption = &outcome.redemption;
        self.transaction()
            .event(record, &outcome.profile, Some(expected), &outcome.ledger)?
            .claim(coupon_item(&redemption.coupon(customer))?)?
            .put(redemption_item(customer, redemption)?)?
            .commit()
            .await
    }
}

#[async_trait]
impl<W> RewardStore for DynamoStore<W>
where
    W: Grants<port::RewardStore> + Grants<port::IdempotencyStore> + Grants<port::ProfileStore>,
{
    async fn commit_reward(
        &self,
        expected: Option<u64>,
        profile: &Profile,
        ledger: &[LedgerEntry],
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        self.transaction()
            .event(record, profile, expected, ledger)?
            .commit()
            .await
    }
}

#[async_trait]
impl<W: Grants<port::LedgerStore>> LedgerStore for DynamoStore<W> {
    async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.query_prefix(customer, prefix::LEDGER).await
    }
}

#[async_trait]
impl<W: Grants<port::ReviewStore>> ReviewStore for DynamoStore<W> {
    async fn load_review(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        sku: &Sku,
        key_: &str,
    ) -> Result<ReviewSnapshot, StoreError> {
        let pk = keys::customer_pk(customer);
        let (order_sk, review_sk) = (keys::order_sk(order), keys::review_sk(sku));
        let mut found = self
            .read_customer(
                customer,
                &[keys::PROFILE, &order_sk, &review_sk],
                Some(key_),
            )
            .await?;
        Ok(ReviewSnapshot {
            profile: found.profile(&pk)?,
            order: found.parsed(&pk, &order_sk)?,
            review: found.parsed(&pk, &review_sk)?,
            prior: found.prior(key_)?,
        })
    }

    async fn commit_review(
        &self,
        expected: Option<u64>,
        outcome: &ReviewOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let customer = &outcome.profile.customer_id;
        // ADD needs no read and commutes, so reviews of one product by many customers
        // never conflict on the aggregate.
        let (count, sum) = outcome.product_delta;
        self.transaction()
            .event(record, &outcome.profile, expected, &outcome.ledger)?
            .put(review_item(customer, &outcome.review)?)?
            .upsert(
                product_key(&outcome.review.sku),
                "ADD reviews :c, rating_sum :s",
                vec![
                    (":c", AttributeValue::N(count.to_string())),
                    (":s", AttributeValue::N(sum.to_string())),
                ],
            )?
            .commit()
            .await
    }
}

#[async_trait]
impl<W> ReferralCodeStore for DynamoStore<W>
where
    W: Grants<port::ReferralCodeStore> + Grants<port::ProfileStore>,
{
    async fn claim_referral_code(
        &self,
        expected: u64,
        profile: &Profile,
    ) -> Result<(), CommitError> {
        let Some(code) = &profile.referral_code else {
            return Err(StoreError::Internal("profile without a referral code".into()).into());
        };
        self.transaction()
            .claim(refcode_claim(code, &profile.customer_id))?
            .claimant(profile, expected)?
            .commit()
            .await
    }
}

#[async_trait]
impl<W> ReferralStore for DynamoStore<W>
where
    W: Grants<port::ReferralStore> + Grants<port::IdempotencyStore>,
{
    async fn customer_by_code(&self, code: &str) -> Result<Option<CustomerId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression(expr::CODE_OWNER)
            .expression_attribute_values(":code", AttributeValue::S(keys::refcode_pk(code)))
            .limit(1)
            .send()
            .await
            .map_err(classify)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|item| parse::<CodeOwner>(item).map(|owner| owner.customer_id))
            .transpose()
    }

    async fn load_referral(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        key_: &str,
    ) -> Result<ReferralSnapshot, StoreError> {
        let (referrer_pk, referee_pk) = (keys::customer_pk(referrer), keys::customer_pk(referee));
        let mut wanted = vec![key(referrer_pk.clone(), keys::PROFILE), record_key(key_)];
        if referee != referrer {
            wanted.push(key(referee_pk.clone(), keys::PROFILE));
        }
        let mut found = self.get_many(wanted).await?;
        let referrer_profile = found.profile(&referrer_pk)?;
        let referee = if referee == referrer {
            referrer_profile.clone()
        } else {
            found.profile(&referee_pk)?
        };
        Ok(ReferralSnapshot {
            referrer: referrer_profile,
            referee,
            prior: found.prior(key_)?,
        })
    }

    async fn commit_referral(
        &self,
        referrer_expected: u64,
        referee_expected: Option<u64>,
        outcome: &ReferralOutcome,
        record: &IdempotencyRecord,
    ) -> Result<(), CommitError> {
        let r = &outcome.record;
        let mut tx = self
            .transaction()
            .record(record_item(record, &r.referee))?
            .insert(referral_item(r)?)?;
        if let Some((referee, referrer)) = &outcome.profiles {
            tx = tx
                .profile(referee, referee_expected)?
                .profile(referrer, Some(referrer_expected))?;
        }
        tx.commit().await
    }
}

#[async_trait]
impl<W: Grants<port::ReadBackStore>> ReadBackStore for DynamoStore<W> {
    async fn reviews(&self, customer: &CustomerId) -> Result<Vec<Review>, StoreError> {
        self.query_prefix(customer, prefix::REVIEW).await
    }

    async fn product_rating(&self, sku: &Sku) -> Result<ProductRating, StoreError> {
        let found = self.get(product_key(sku), true).await?;
        Ok(
            found.map_or_else(ProductRating::default, |item| ProductRating {
                reviews: number_attr(&item, "reviews"),
                rating_sum: number_attr(&item, "rating_sum"),
            }),
        )
    }

    async fn referrals(&self, referrer: &CustomerId) -> Result<Vec<ReferralRecord>, StoreError> {
        self.query_prefix(referrer, prefix::REFERRAL).await
    }

    async fn messages(&self, customer: &CustomerId) -> Result<Vec<MessageRecord>, StoreError> {
        self.query_prefix(customer, prefix::MESSAGE).await
    }

    async fn suppression(&self, address_key: &str) -> Result<Option<Suppression>, StoreError> {
        let found = self.get(suppression_key(address_key), false).await?;
        found.map(parse).transpose()
    }
}
