//! What each port method of this adapter calls in DynamoDB: the IAM actions, on the
//! table or an index, and the kinds of partition they reach (by partition-key prefix,
//! [`keys::PARTITIONS`]). A transaction counts as the item actions inside it.
//!
//! Kept beside the calls and proven against them: `tests/policies.rs` runs every
//! method against DynamoDB Local through an SDK interceptor that records the
//! operation, the items and the keys of each call, and fails on a call this list does
//! not name and on an entry no call needed. A binary's policy in template.yaml is the
//! union of these entries over the ports of its wiring (`crate::wiring`).

use super::keys::{
    self,
    prefix::{COUPON, CUSTOMER, EVENT, PRODUCT, PROGRAM, REFCODE, SUPPRESSED},
};
use crate::access::Action::{
    BatchGetItem, ConditionCheckItem, DeleteItem, GetItem, PutItem, Query, Scan, UpdateItem,
};
use crate::access::{Grant, MethodGrants, Port};

/// Every port method of [`super::DynamoStore`] and what it calls.
pub const METHODS: &[MethodGrants] = &[
    // IdempotencyStore
    MethodGrants::new(
        Port::IdempotencyStore,
        "prior",
        &[Grant::table(GetItem, &[EVENT])],
    ),
    // ProfileStore
    MethodGrants::new(
        Port::ProfileStore,
        "profile",
        &[Grant::table(GetItem, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::ProfileStore,
        "save_profile",
        &[Grant::table(PutItem, &[CUSTOMER])],
    ),
    // ProfileViewStore
    MethodGrants::new(
        Port::ProfileViewStore,
        "profile_and_scores",
        &[Grant::table(BatchGetItem, &[CUSTOMER])],
    ),
    // PurchaseStore: the referrer's referral record is updated in place.
    MethodGrants::new(
        Port::PurchaseStore,
        "load_purchase",
        &[Grant::table(BatchGetItem, &[CUSTOMER, EVENT])],
    ),
    MethodGrants::new(
        Port::PurchaseStore,
        "commit_purchase",
        &[
            Grant::table(PutItem, &[CUSTOMER, EVENT]),
            Grant::table(UpdateItem, &[CUSTOMER]),
        ],
    ),
    // CouponStore: a coupon is read and marked in its own partition.
    MethodGrants::new(
        Port::CouponStore,
        "coupon",
        &[Grant::table(GetItem, &[COUPON])],
    ),
    MethodGrants::new(
        Port::CouponUseStore,
        "use_coupon",
        &[Grant::table(UpdateItem, &[COUPON])],
    ),
    MethodGrants::new(
        Port::CouponUseStore,
        "refuse_coupon",
        &[Grant::table(UpdateItem, &[COUPON])],
    ),
    // CodeSyncStore: the coupon's holder's profile is read for their address.
    MethodGrants::new(
        Port::CodeSyncStore,
        "holder_email",
        &[Grant::table(GetItem, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::CodeSyncStore,
        "mark_synced",
        &[Grant::table(UpdateItem, &[COUPON])],
    ),
    // ProgramStore: the program's own partition; a save writes the version and the
    // latest copy together.
    MethodGrants::new(
        Port::ProgramReadStore,
        "current_program",
        &[Grant::table(GetItem, &[PROGRAM])],
    ),
    MethodGrants::new(
        Port::ProgramStore,
        "program_version",
        &[Grant::table(GetItem, &[PROGRAM])],
    ),
    MethodGrants::new(
        Port::ProgramStore,
        "program_history",
        &[Grant::table(Query, &[PROGRAM])],
    ),
    MethodGrants::new(
        Port::ProgramStore,
        "save_program",
        &[Grant::table(PutItem, &[PROGRAM])],
    ),
    // ProgramStatsStore: one item in the program's partition.
    MethodGrants::new(
        Port::ProgramStatsStore,
        "program_stats",
        &[Grant::table(GetItem, &[PROGRAM])],
    ),
    MethodGrants::new(
        Port::ProgramStatsStore,
        "save_program_stats",
        &[Grant::table(PutItem, &[PROGRAM])],
    ),
    // CodeRepairStore: a scan of the whole table, keys of coupons only.
    MethodGrants::new(
        Port::CodeRepairStore,
        "unconfirmed_codes",
        &[Grant::table(Scan, &[])],
    ),
    // ImportStore: profiles and records in batches, a known customer's orders by query,
    // many customers in one transaction.
    MethodGrants::new(
        Port::ImportStore,
        "load_import",
        &[
            Grant::table(BatchGetItem, &[CUSTOMER, EVENT]),
            Grant::table(Query, &[CUSTOMER]),
        ],
    ),
    MethodGrants::new(
        Port::ImportStore,
        "commit_import",
        &[Grant::table(PutItem, &[CUSTOMER, EVENT])],
    ),
    // RedemptionStore: the coupon code is claimed in its own partition.
    MethodGrants::new(
        Port::RedemptionStore,
        "load_redemption",
        &[Grant::table(BatchGetItem, &[CUSTOMER, EVENT])],
    ),
    MethodGrants::new(
        Port::RedemptionStore,
        "commit_redemption",
        &[Grant::table(PutItem, &[CUSTOMER, EVENT, COUPON])],
    ),
    // ReviewStore: the product's rating aggregate is an ADD update.
    MethodGrants::new(
        Port::ReviewStore,
        "load_review",
        &[Grant::table(BatchGetItem, &[CUSTOMER, EVENT])],
    ),
    MethodGrants::new(
        Port::ReviewStore,
        "commit_review",
        &[
            Grant::table(PutItem, &[CUSTOMER, EVENT]),
            Grant::table(UpdateItem, &[PRODUCT]),
        ],
    ),
    // ReferralCodeStore
    MethodGrants::new(
        Port::ReferralCodeStore,
        "claim_referral_code",
        &[Grant::table(PutItem, &[CUSTOMER, REFCODE])],
    ),
    // ReferralStore: the code's owner is found through the index.
    MethodGrants::new(
        Port::ReferralStore,
        "customer_by_code",
        &[Grant::index(Query, keys::GSI1, &[REFCODE])],
    ),
    MethodGrants::new(
        Port::ReferralStore,
        "load_referral",
        &[Grant::table(BatchGetItem, &[CUSTOMER, EVENT])],
    ),
    MethodGrants::new(
        Port::ReferralStore,
        "commit_referral",
        &[Grant::table(PutItem, &[CUSTOMER, EVENT])],
    ),
    // RewardStore
    MethodGrants::new(
        Port::RewardStore,
        "commit_reward",
        &[Grant::table(PutItem, &[CUSTOMER, EVENT])],
    ),
    // ScoreStore: a scan of the customer index reaches every partition it holds.
    MethodGrants::new(
        Port::ScoreStore,
        "scan_customers",
        &[Grant::index(Scan, keys::GSI2, &[])],
    ),
    // A state replaces the one there with a conditional put; a customer's first is
    // written in a transaction that checks the profile is not erased.
    MethodGrants::new(
        Port::ScoreStore,
        "write_job_states",
        &[
            Grant::table(PutItem, &[CUSTOMER]),
            Grant::table(ConditionCheckItem, &[CUSTOMER]),
        ],
    ),
    // Straight to those transactions; a cancelled one falls back to the put.
    MethodGrants::new(
        Port::ScoreStore,
        "write_first_job_states",
        &[
            Grant::table(PutItem, &[CUSTOMER]),
            Grant::table(ConditionCheckItem, &[CUSTOMER]),
        ],
    ),
    // CustomerIndexStore: a scan of the whole table; the items it finds are given the
    // customer index's keys in place, customers' and suppressed addresses'.
    MethodGrants::new(
        Port::CustomerIndexStore,
        "index_customers",
        &[
            Grant::table(Scan, &[]),
            Grant::table(UpdateItem, &[CUSTOMER, SUPPRESSED]),
        ],
    ),
    // MessageStore: an offer's coupon code is claimed with the message; a claim, and
    // the takeover of a stale one, check that the customer is not erased.
    MethodGrants::new(
        Port::MessageStore,
        "claim_message",
        &[
            Grant::table(PutItem, &[CUSTOMER, COUPON]),
            Grant::table(ConditionCheckItem, &[CUSTOMER]),
        ],
    ),
    MethodGrants::new(
        Port::MessageStore,
        "finish_message",
        &[Grant::table(PutItem, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::MessageStore,
        "reclaim_message",
        &[
            Grant::table(PutItem, &[CUSTOMER]),
            Grant::table(ConditionCheckItem, &[CUSTOMER]),
        ],
    ),
    // SuppressionStore
    MethodGrants::new(
        Port::SuppressionStore,
        "suppress",
        &[Grant::table(PutItem, &[SUPPRESSED])],
    ),
    // PrivacyStore: the export reads the referral that brought the customer (under the
    // referrer) and the suppression of their address; the erasure redacts stored answers.
    MethodGrants::new(
        Port::PrivacyStore,
        "export",
        &[
            Grant::table(Query, &[CUSTOMER]),
            Grant::table(BatchGetItem, &[CUSTOMER, SUPPRESSED]),
        ],
    ),
    MethodGrants::new(
        Port::PrivacyStore,
        "erase",
        &[
            Grant::table(PutItem, &[CUSTOMER, SUPPRESSED]),
            Grant::table(UpdateItem, &[CUSTOMER, EVENT]),
            Grant::table(DeleteItem, &[CUSTOMER]),
        ],
    ),
    // LedgerStore and ReadBackStore: no deployed binary is wired with them.
    MethodGrants::new(
        Port::LedgerStore,
        "ledger",
        &[Grant::table(Query, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::ReadBackStore,
        "reviews",
        &[Grant::table(Query, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::ReadBackStore,
        "product_rating",
        &[Grant::table(GetItem, &[PRODUCT])],
    ),
    MethodGrants::new(
        Port::ReadBackStore,
        "referrals",
        &[Grant::table(Query, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::ReadBackStore,
        "messages",
        &[Grant::table(Query, &[CUSTOMER])],
    ),
    MethodGrants::new(
        Port::ReadBackStore,
        "suppression",
        &[Grant::table(GetItem, &[SUPPRESSED])],
    ),
];
