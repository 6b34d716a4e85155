//! Items as the table holds them: domain values serialised with serde_dynamo beside
//! their keys, the profile's `version`, idempotency records and code claims, and the
//! way back. Public where a test or benchmark has to write a table the store can read.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};
use std::collections::HashMap;

use super::keys::{self, EVENT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, PROFILE, SCORES, SK};
use crate::domain::outreach::MessageRecord;
use crate::domain::{
    Coupon, CustomerId, ErasureRecord, JobState, LedgerEntry, Order, Profile, Redemption,
    ReferralRecord, Review, Suppression,
};
use crate::store::{IdempotencyRecord, StoreError, Versioned};

/// One item: attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// The attribute holding a profile's version.
pub(super) const VERSION: &str = "version";
/// The owner of a claimed code, and the customer an idempotency record belongs to.
const CUSTOMER_ID: &str = "customer_id";

/// Just the key attributes, for gets, updates and deletes.
pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// `body` serialised, with the key attributes added.
pub fn item(pk: String, sk: impl Into<String>, body: &impl Serialize) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(body).map_err(|e| StoreError::Internal(format!("serialise: {e}")))?;
    item.extend(key(pk, sk));
    Ok(item)
}

/// `body` serialised with its keys, and the same keys again as the customer index's
/// ([`keys::GSI2`]).
fn indexed_item(pk: String, sk: &str, body: &impl Serialize) -> Result<Item, StoreError> {
    let mut item = item(pk.clone(), sk, body)?;
    item.insert(GSI2PK.into(), AttributeValue::S(pk));
    item.insert(GSI2SK.into(), AttributeValue::S(sk.into()));
    Ok(item)
}

/// The profile at `version`, with the code index's keys when it has a referral code,
/// and in the customer index unless it is erased.
pub fn profile_item(profile: &Profile, version: u64) -> Result<Item, StoreError> {
    let pk = keys::customer_pk(&profile.customer_id);
    let mut body = if profile.is_erased() {
        item(pk, PROFILE, profile)?
    } else {
        indexed_item(pk, PROFILE, profile)?
    };
    if let Some(code) = &profile.referral_code {
        body.insert(GSI1PK.into(), AttributeValue::S(keys::refcode_pk(code)));
        body.insert(GSI1SK.into(), AttributeValue::S(PROFILE.into()));
    }
    body.insert(VERSION.into(), AttributeValue::N(version.to_string()));
    Ok(body)
}

pub fn order_item(customer: &CustomerId, order: &Order) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(customer),
        keys::order_sk(&order.order_id),
        order,
    )
}

pub fn ledger_item(customer: &CustomerId, entry: &LedgerEntry) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(customer),
        keys::ledger_sk(entry.seq),
        entry,
    )
}

/// The job's state, in the customer index.
pub fn job_state_item(state: &JobState) -> Result<Item, StoreError> {
    indexed_item(keys::customer_pk(&state.customer_id), SCORES, state)
}

pub(super) fn redemption_item(
    customer: &CustomerId,
    redemption: &Redemption,
) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(customer),
        keys::redemption_sk(&redemption.redemption_id),
        redemption,
    )
}

pub(super) fn review_item(customer: &CustomerId, review: &Review) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(customer),
        keys::review_sk(&review.sku),
        review,
    )
}

pub(super) fn referral_item(record: &ReferralRecord) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(&record.referrer),
        keys::referral_sk(&record.event_id),
        record,
    )
}

pub(super) fn message_item(record: &MessageRecord) -> Result<Item, StoreError> {
    item(
        keys::customer_pk(&record.customer_id),
        keys::message_sk(record.kind, &record.period),
        record,
    )
}

pub(super) fn suppression_key(address_key: &str) -> Item {
    key(keys::suppressed_pk(address_key), keys::SUPPRESSED)
}

/// A suppressed address, in the customer index.
pub(super) fn suppression_item(suppression: &Suppression) -> Result<Item, StoreError> {
    indexed_item(
        keys::suppressed_pk(&suppression.address_key),
        keys::SUPPRESSED,
        suppression,
    )
}

pub(super) fn erasure_item(
    customer: &CustomerId,
    record: &ErasureRecord,
) -> Result<Item, StoreError> {
    item(keys::customer_pk(customer), keys::ERASURE, record)
}

/// A coupon, under the key that makes its code unique.
pub(super) fn coupon_item(coupon: &Coupon) -> Result<Item, StoreError> {
    item(keys::coupon_pk(&coupon.code), keys::COUPON, coupon)
}

/// The claim that makes a referral code unique.
pub(super) fn refcode_claim(code: &str, customer: &CustomerId) -> Item {
    claim(keys::refcode_pk(code), keys::REFCODE, customer)
}

fn claim(pk: String, sk: &str, customer: &CustomerId) -> Item {
    let mut claim = key(pk, sk);
    claim.insert(CUSTOMER_ID.into(), customer_attr(customer));
    claim
}

/// The customer as the claims and records name it.
pub(super) fn customer_attr(customer: &CustomerId) -> AttributeValue {
    AttributeValue::S(customer.to_string())
}

pub(super) fn record_key(key_: &str) -> Item {
    key(keys::event_pk(key_), EVENT)
}

/// The idempotency record, with the customer it concerns (for the erasure of their
/// stored answers).
pub(super) fn record_item(record: &IdempotencyRecord, customer: &CustomerId) -> Item {
    let mut body = record_key(&record.key);
    let text = |s: &str| AttributeValue::S(s.to_owned());
    body.insert("key".into(), text(&record.key));
    body.insert("fingerprint".into(), text(&record.fingerprint));
    body.insert("response".into(), text(&record.response));
    body.insert(CUSTOMER_ID.into(), customer_attr(customer));
    body
}

pub(super) fn record_from(item: Item) -> Result<IdempotencyRecord, StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Internal(format!(
            "idempotency record without {name}"
        ))),
    };
    Ok(IdempotencyRecord {
        key: text("key")?,
        fingerprint: text("fingerprint")?,
        response: text("response")?,
    })
}

pub(super) fn to_attr(value: &impl Serialize) -> Result<AttributeValue, StoreError> {
    to_attribute_value(value).map_err(|e| StoreError::Internal(format!("serialise: {e}")))
}

pub(super) fn parse<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Internal(format!("deserialise: {e}")))
}

pub(super) fn versioned_profile(item: Item) -> Result<Versioned<Profile>, StoreError> {
    let version = match item.get(VERSION) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::Internal("profile version is not a number".into()))?,
        _ => return Err(StoreError::Internal("profile without version".into())),
    };
    Ok(Versioned {
        value: parse(item)?,
        version,
    })
}

/// A numeric attribute kept with `ADD`; absent counts as zero.
pub(super) fn number_attr(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
        _ => 0,
    }
}

/// The item's partition and sort key; `None` for an item without both.
pub(super) fn key_of(item: &Item) -> Option<(String, String)> {
    let text = |name| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((text(PK)?, text(SK)?))
}

/// `items` with their keys, leaving out any without.
pub(super) fn keyed(items: Vec<Item>) -> impl Iterator<Item = (String, String, Item)> {
    items
        .into_iter()
        .filter_map(|item| key_of(&item).map(|(pk, sk)| (pk, sk, item)))
}

/// The items a batch read found, by key, for a loader to take what it asked for.
#[derive(Debug, Default)]
pub(super) struct Found(HashMap<(String, String), Item>);

impl Found {
    pub(super) fn new(items: Vec<Item>) -> Self {
        Self(
            keyed(items)
                .map(|(pk, sk, item)| ((pk, sk), item))
                .collect(),
        )
    }

    /// Whether the read found the item.
    pub(super) fn has(&self, pk: &str, sk: &str) -> bool {
        self.0.contains_key(&(pk.to_owned(), sk.to_owned()))
    }

    /// Adds what another read found.
    pub(super) fn extend(&mut self, other: Found) {
        self.0.extend(other.0);
    }

    fn take(&mut self, pk: &str, sk: &str) -> Option<Item> {
        self.0.remove(&(pk.to_owned(), sk.to_owned()))
    }

    pub(super) fn parsed<T: DeserializeOwned>(
        &mut self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        self.take(pk, sk).map(parse).transpose()
    }

    /// The profile in partition `pk`, with its version.
    pub(super) fn profile(&mut self, pk: &str) -> Result<Option<Versioned<Profile>>, StoreError> {
        self.take(pk, PROFILE).map(versioned_profile).transpose()
    }

    /// The idempotency record of `key_`.
    pub(super) fn prior(&mut self, key_: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.take(&keys::event_pk(key_), EVENT)
            .map(record_from)
            .transpose()
    }
}
