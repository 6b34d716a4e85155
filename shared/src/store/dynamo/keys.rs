//! The table's key layout, spelled once. Every partition and sort key the store
//! writes is built here, so the adapter, the tests and the benchmarks cannot drift
//! apart on a prefix or on the width of a sequence number.
//!
//! | PK | SK | what |
//! |---|---|---|
//! | `CUSTOMER#<id>` | `PROFILE` | [`Profile`](crate::domain::Profile) plus `version` for optimistic locking |
//! | `CUSTOMER#<id>` | `ORDER#<order id>` | [`Order`](crate::domain::Order) |
//! | `CUSTOMER#<id>` | `LEDGER#<seq, 12 digits>` | [`LedgerEntry`](crate::domain::LedgerEntry), append-only |
//! | `CUSTOMER#<id>` | `REDEMPTION#<id>` | [`Redemption`](crate::domain::Redemption) |
//! | `CUSTOMER#<id>` | `REVIEW#<sku>` | [`Review`](crate::domain::Review), one per customer and product |
//! | `PRODUCT#<sku>` | `RATING` | review count and rating sum, kept with atomic `ADD` |
//! | `CUSTOMER#<id>` | `REFERRAL#<event id>` | [`ReferralRecord`](crate::domain::ReferralRecord) under the referrer |
//! | `CUSTOMER#<id>` | `SCORES` | [`JobState`](crate::domain::JobState): scores and recent messages, written only by the scoring job |
//! | `CUSTOMER#<id>` | `MSG#<kind>#<period>` | [`MessageRecord`]: the claim that makes a message go out once |
//! | `CUSTOMER#<id>` | `ERASURE` | [`ErasureRecord`](crate::domain::ErasureRecord): the audit record of an erasure, no personal data |
//! | `SUPPRESSED#<address hash>` | `SUPPRESSED` | [`Suppression`](crate::domain::Suppression): an address never to mail (bounce, complaint, erasure) |
//! | `COUPON#<code>` | `COUPON` | claims a coupon code so it is unique |
//! | `REFCODE#<code>` | `REFCODE` | claims a referral code so it is unique |
//! | `EVENT#<key>` | `EVENT` | idempotency record: fingerprint and the first answer |
//! | `PROGRAM#shop` | `CURRENT` | [`ProgramVersion`](crate::domain::program::ProgramVersion): the program's latest version |
//! | `PROGRAM#shop` | `VERSION#<n, 12 digits>` | every saved version, kept |
//!
//! A profile with a referral code also carries `GSI1PK = REFCODE#<code>` and
//! `GSI1SK = PROFILE`, so the `GSI1` index finds the referrer by code.
//!
//! The customer state the scoring job reads — live profiles, job state and suppressed
//! addresses — also carries `GSI2PK` and `GSI2SK`, copies of its `PK` and `SK`, so the
//! sparse `GSI2` index (every attribute projected) holds those items and nothing else:
//! the job scans it, and its reads do not grow with orders, ledger entries, messages or
//! idempotency records. An erased profile carries neither.
//!
//! Sort keys order a customer's items: `PROFILE` sorts before `SCORES`, so a scan meets
//! a customer's profile first, and the 12 zero-padded digits of a ledger sequence keep
//! the ledger in the order it was written.

use crate::domain::outreach::MessageKind;
use crate::domain::{CustomerId, EventId, OrderId, RedemptionId, Sku};

/// The partition key attribute.
pub const PK: &str = "PK";
/// The sort key attribute.
pub const SK: &str = "SK";
/// The index that finds a profile by its referral code.
pub const GSI1: &str = "GSI1";
/// Partition key attribute of [`GSI1`].
pub const GSI1PK: &str = "GSI1PK";
/// Sort key attribute of [`GSI1`].
pub const GSI1SK: &str = "GSI1SK";
/// The sparse index of the customer state the scoring job reads.
pub const GSI2: &str = "GSI2";
/// Partition key attribute of [`GSI2`]: the item's own `PK`.
pub const GSI2PK: &str = "GSI2PK";
/// Sort key attribute of [`GSI2`]: the item's own `SK`.
pub const GSI2SK: &str = "GSI2SK";

/// Sort key of a customer's profile (and its `GSI1SK`).
pub const PROFILE: &str = "PROFILE";
/// Sort key of the job's state beside a profile.
pub const SCORES: &str = "SCORES";
/// Sort key of an erasure's audit record.
pub const ERASURE: &str = "ERASURE";
/// Sort key of a product's rating aggregate.
pub const RATING: &str = "RATING";
/// Sort key of a suppressed address.
pub const SUPPRESSED: &str = "SUPPRESSED";
/// Sort key of a coupon code's claim.
pub const COUPON: &str = "COUPON";
/// Sort key of a referral code's claim.
pub const REFCODE: &str = "REFCODE";
/// Sort key of an idempotency record.
pub const EVENT: &str = "EVENT";

/// Key prefixes, each followed by an id. The sort-key ones also select a kind of
/// item in a query of one customer's partition.
pub mod prefix {
    pub const CUSTOMER: &str = "CUSTOMER#";
    pub const ORDER: &str = "ORDER#";
    pub const LEDGER: &str = "LEDGER#";
    pub const REDEMPTION: &str = "REDEMPTION#";
    pub const REVIEW: &str = "REVIEW#";
    pub const REFERRAL: &str = "REFERRAL#";
    pub const MESSAGE: &str = "MSG#";
    pub const PRODUCT: &str = "PRODUCT#";
    pub const SUPPRESSED: &str = "SUPPRESSED#";
    pub const COUPON: &str = "COUPON#";
    pub const REFCODE: &str = "REFCODE#";
    pub const EVENT: &str = "EVENT#";
    pub const PROGRAM: &str = "PROGRAM#";
    pub const VERSION: &str = "VERSION#";
}

/// The partition-key prefix of each kind of partition: a customer's items, a
/// product's rating, a suppressed address, a coupon or referral code claim, an
/// idempotency record. What a function may reach is declared in these terms
/// (`dynamo::access`) and checked against `dynamodb:LeadingKeys` in template.yaml.
pub const PARTITIONS: [&str; 7] = [
    prefix::CUSTOMER,
    prefix::PRODUCT,
    prefix::SUPPRESSED,
    prefix::COUPON,
    prefix::REFCODE,
    prefix::EVENT,
    prefix::PROGRAM,
];

/// The partition of the shop's program document (one shop per deployment).
pub fn program_pk() -> String {
    format!("{}shop", prefix::PROGRAM)
}

/// Sort key of the program's figures, as the job last computed them.
pub const PROGRAM_STATS: &str = "STATS";

/// Sort key of the program's latest version.
pub const PROGRAM_CURRENT: &str = "CURRENT";

/// Twelve digits, so that string order is version order.
pub fn program_version_sk(version: u64) -> String {
    format!("{}{version:012}", prefix::VERSION)
}

/// The kind of partition the partition key `pk` names: its entry of [`PARTITIONS`].
pub fn partition_of(pk: &str) -> Option<&'static str> {
    PARTITIONS.into_iter().find(|p| pk.starts_with(p))
}

/// The partition of everything about one customer.
pub fn customer_pk(customer: &CustomerId) -> String {
    format!("{}{customer}", prefix::CUSTOMER)
}

pub fn order_sk(order: &OrderId) -> String {
    format!("{}{order}", prefix::ORDER)
}

/// Twelve digits, so that string order is sequence order.
pub fn ledger_sk(seq: u64) -> String {
    format!("{}{seq:012}", prefix::LEDGER)
}

pub fn redemption_sk(redemption: &RedemptionId) -> String {
    format!("{}{redemption}", prefix::REDEMPTION)
}

pub fn review_sk(sku: &Sku) -> String {
    format!("{}{sku}", prefix::REVIEW)
}

/// A referral, stored under the referrer by the event that made it.
pub fn referral_sk(event: &EventId) -> String {
    format!("{}{event}", prefix::REFERRAL)
}

/// One message slot: a customer gets a kind of message once per period.
pub fn message_sk(kind: MessageKind, period: &str) -> String {
    format!("{}{kind}#{period}", prefix::MESSAGE)
}

pub fn product_pk(sku: &Sku) -> String {
    format!("{}{sku}", prefix::PRODUCT)
}

/// Keyed by the address's hash, so the key holds no address.
pub fn suppressed_pk(address_key: &str) -> String {
    format!("{}{address_key}", prefix::SUPPRESSED)
}

pub fn coupon_pk(code: &str) -> String {
    format!("{}{code}", prefix::COUPON)
}

/// The claim of a referral code, and the `GSI1PK` of the profile that owns it.
pub fn refcode_pk(code: &str) -> String {
    format!("{}{code}", prefix::REFCODE)
}

pub fn event_pk(key: &str) -> String {
    format!("{}{key}", prefix::EVENT)
}

/// The kinds of item in a customer's partition, told apart by sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerItem {
    Profile,
    Order,
    Ledger,
    Redemption,
    Review,
    Referral,
    Message,
    Scores,
    Erasure,
}

impl CustomerItem {
    /// The kind of the item with sort key `sk`; `None` for a sort key this layout
    /// does not have.
    pub fn of(sk: &str) -> Option<Self> {
        let fixed = [
            (PROFILE, Self::Profile),
            (SCORES, Self::Scores),
            (ERASURE, Self::Erasure),
        ];
        let prefixed = [
            (prefix::ORDER, Self::Order),
            (prefix::LEDGER, Self::Ledger),
            (prefix::REDEMPTION, Self::Redemption),
            (prefix::REVIEW, Self::Review),
            (prefix::REFERRAL, Self::Referral),
            (prefix::MESSAGE, Self::Message),
        ];
        fixed
            .iter()
            .find(|(key, _)| sk == *key)
            .or_else(|| prefixed.iter().find(|(p, _)| sk.starts_with(p)))
            .map(|(_, kind)| *kind)
    }
}

/// Conditions and key expressions name the key attributes; they are kept here so that
/// the names are spelled where the attributes are.
pub(crate) mod expr {
    /// The item does not exist yet.
    pub(crate) const ABSENT: &str = "attribute_not_exists(PK)";
    /// The item exists: an update never creates a stub of an item that is gone.
    pub(crate) const PRESENT: &str = "attribute_exists(PK)";
    /// A partition, `:pk`.
    pub(crate) const PARTITION: &str = "PK = :pk";
    /// The items of partition `:pk` whose sort key starts with `:prefix`.
    pub(crate) const PARTITION_PREFIX: &str = "PK = :pk AND begins_with(SK, :prefix)";
    /// The profile that owns referral code `:code` in [`GSI1`](super::GSI1).
    pub(crate) const CODE_OWNER: &str = "GSI1PK = :code";
    /// A profile that exists and is not erased (`:null` = `NULL`: an unset `erased_at`
    /// is stored as a null attribute).
    pub(crate) const LIVE_CUSTOMER: &str = "attribute_exists(PK) AND (attribute_not_exists(erased_at) OR attribute_type(erased_at, :null))";
    /// The items the customer index ([`GSI2`](super::GSI2)) should hold — profiles
    /// (`:profile`), job state (`:job`) and suppressed addresses (`:suppressed`) — that
    /// lack its keys: written before it existed.
    pub(crate) const UNINDEXED: &str =
        "SK IN (:profile, :job, :suppressed) AND attribute_not_exists(GSI2PK)";
    /// An item that (still) lacks the customer index's keys.
    pub(crate) const NOT_INDEXED: &str = "attribute_not_exists(GSI2PK)";
    /// Gives an item the customer index's keys, copies of its own (`:pk`, `:sk`).
    pub(crate) const SET_INDEX_KEYS: &str = "SET GSI2PK = :pk, GSI2SK = :sk";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> CustomerId {
        CustomerId::parse("id", s).unwrap()
    }

    #[test]
    fn ledger_keys_sort_in_sequence_order() {
        assert_eq!(ledger_sk(7), "LEDGER#000000000007");
        assert!(ledger_sk(9) < ledger_sk(10));
    }

    #[test]
    fn every_sort_key_of_a_customer_has_its_kind() {
        let c = cid("asha");
        assert_eq!(customer_pk(&c), "CUSTOMER#asha");
        let sku = Sku::parse("sku", "SKU-1").unwrap();
        let cases = [
            (PROFILE.to_owned(), CustomerItem::Profile),
            (SCORES.to_owned(), CustomerItem::Scores),
            (ERASURE.to_owned(), CustomerItem::Erasure),
            (ledger_sk(1), CustomerItem::Ledger),
            (review_sk(&sku), CustomerItem::Review),
            (
                message_sk(MessageKind::PostPurchase, "2024-05"),
                CustomerItem::Message,
            ),
        ];
        for (sk, kind) in cases {
            assert_eq!(CustomerItem::of(&sk), Some(kind), "{sk}");
        }
        assert_eq!(CustomerItem::of("SOMETHING#else"), None);
    }

    #[test]
    fn every_partition_key_has_its_kind() {
        let sku = Sku::parse("sku", "SKU-1").unwrap();
        let cases = [
            (customer_pk(&cid("asha")), prefix::CUSTOMER),
            (product_pk(&sku), prefix::PRODUCT),
            (suppressed_pk("ab12"), prefix::SUPPRESSED),
            (coupon_pk("RW-1"), prefix::COUPON),
            (refcode_pk("ASHA7"), prefix::REFCODE),
            (event_pk("purchase:e1"), prefix::EVENT),
        ];
        for (pk, kind) in cases {
            assert_eq!(partition_of(&pk), Some(kind), "{pk}");
        }
        assert_eq!(partition_of("TIER#gold"), None);
    }
}
