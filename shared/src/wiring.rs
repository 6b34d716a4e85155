//! The ports each deployed binary is wired with — and so every AWS action it can make.
//!
//! A binary runs on `DynamoStore<its::Ports>`, which implements only the store ports
//! listed here (a handler that needs another does not compile), and gets an SES client
//! only when a sender port is listed. The actions are those the ports' methods declare
//! (`store::dynamo::access`, `mail::SES_METHODS`, `store::s3::S3_METHODS`);
//! `tests/policies.rs` compares them with each function's policy in template.yaml, and
//! proves the declarations against the calls the code makes.

use crate::access::{MethodGrants, Port};

/// A deployed binary (`BuildProperties.Binary` in template.yaml) and its ports.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub binary: &'static str,
    pub ports: &'static [Port],
}

impl Function {
    /// The binary named `binary`.
    pub fn named(binary: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.binary == binary)
    }

    /// Every method of this binary's ports, with what it calls.
    pub fn methods(&self) -> impl Iterator<Item = &'static MethodGrants> + '_ {
        methods().filter(|m| self.ports.contains(&m.port))
    }
}

/// Every port method of the DynamoDB store, the SES senders and the S3 store, with
/// what it calls.
pub fn methods() -> impl Iterator<Item = &'static MethodGrants> {
    crate::store::dynamo::access::METHODS
        .iter()
        .chain(crate::mail::SES_METHODS)
        .chain(crate::store::s3::S3_METHODS)
}

/// Declares a module per binary with its wiring type `Ports`, and [`FUNCTIONS`].
macro_rules! functions {
    ($($(#[$doc:meta])* $module:ident = $binary:literal: [$($port:ident),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            pub mod $module {
                use crate::access::{Grants, Port, Wiring, port};

                /// The ports this binary is wired with.
                #[derive(Debug)]
                pub enum Ports {}

                impl Wiring for Ports {
                    const PORTS: &'static [Port] = &[$(Port::$port),+];
                }

                $(impl Grants<port::$port> for Ports {})+
            }
        )+

        /// Every deployed binary, with its ports.
        pub const FUNCTIONS: &[Function] = &[$(
            Function {
                binary: $binary,
                ports: <$module::Ports as crate::access::Wiring>::PORTS,
            },
        )+];
    };
}

functions! {
    /// `POST /v1/events/purchase`: the referrer's profile is read by id.
    /// Coupon codes the order names are marked used.
    purchase = "purchase": [
        PurchaseStore,
        IdempotencyStore,
        ProfileStore,
        CouponStore,
        CouponUseStore,
        ProgramReadStore,
    ];
    /// `GET /v1/customers/{id}`
    customer = "customer": [ProfileViewStore, ProgramReadStore];
    /// `POST /v1/customers/{id}/redemptions`
    redemption = "redemption": [RedemptionStore, ProgramReadStore];
    /// `POST /v1/events/activity`: the customer's profile and the activity's points.
    activity = "activity": [RewardStore, IdempotencyStore, ProfileStore, ProgramReadStore];
    /// `POST /v1/events/review`, mailing support a service-recovery alert.
    review = "review": [ReviewStore, AlertSender, ProgramReadStore];
    /// `POST /v1/customers/{id}/recovery`
    recovery = "recovery": [ProfileStore];
    /// `GET /v1/customers/{id}/referral-code`
    referral_code = "referral-code": [ReferralCodeStore, ProfileStore];
    /// `POST /v1/events/referral`
    referral = "referral": [ReferralStore, IdempotencyStore, ProgramReadStore];
    /// `GET` and `POST /v1/unsubscribe`
    unsubscribe = "unsubscribe": [ProfileStore];
    /// `GET /v1/customers/{id}/export` and `DELETE /v1/customers/{id}`
    privacy = "privacy": [PrivacyStore, IdempotencyStore];
    /// `GET /v1/coupons/{code}`
    coupon = "coupon": [CouponStore];
    /// `GET`/`PUT /v1/admin/program`, its versions and rollback.
    program = "program": [ProgramReadStore, ProgramStore, ProgramStatsStore];
    /// `GET /v1/reports/{run_id}` (a mailed link) and `GET /v1/admin/reports/{run_id}`:
    /// the reports the job stored in the run bucket.
    report = "report": [ReportStore];
    /// `POST /v1/webhooks/shopify`: orders and refunds (`prior` finds a refund's
    /// customer), contact updates (`commit_reward`), erasure at the shop's request, and
    /// data and shop erasure requests mailed to the merchant.
    shopify = "shopify": [
        AlertSender,
        PurchaseStore,
        CouponStore,
        CouponUseStore,
        IdempotencyStore,
        ProfileStore,
        RewardStore,
        PrivacyStore,
        ProgramReadStore,
    ];
    /// `POST /v1/webhooks/woocommerce`: orders, refunds and cancellations, contact
    /// updates.
    woocommerce = "woocommerce": [
        PurchaseStore,
        CouponStore,
        CouponUseStore,
        IdempotencyStore,
        ProfileStore,
        RewardStore,
        ProgramReadStore,
    ];
    /// New coupons from the table's stream, created in the stores' checkouts.
    code_sync = "coupon-sync": [CouponStore, CodeSyncStore];
    /// SES bounces and complaints from SNS.
    feedback = "ses-feedback": [SuppressionStore];
    /// The scheduled job: the scan and scores, message claims, the birthday reward
    /// (read by `prior` and `profile`, written by `commit_reward`), customer mail paced
    /// to the account's quota, what its phases pass on in the run bucket, and the
    /// report's link mailed to the merchant.
    job = "rapport-job": [
        AlertSender,
        ScoreStore,
        MessageStore,
        RewardStore,
        IdempotencyStore,
        ProfileStore,
        MessageSender,
        SendQuota,
        ArtifactStore,
        ProgramReadStore,
        ProgramStatsStore,
        ReferralCodeStore,
        RedemptionStore,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn binaries_and_their_ports_are_listed_once() {
        let binaries: BTreeSet<_> = FUNCTIONS.iter().map(|f| f.binary).collect();
        assert_eq!(binaries.len(), FUNCTIONS.len());
        for function in FUNCTIONS {
            let ports: BTreeSet<_> = function.ports.iter().collect();
            assert_eq!(ports.len(), function.ports.len(), "{}", function.binary);
        }
    }

    #[test]
    fn every_port_has_its_methods_declared() {
        for port in Port::ALL {
            assert!(
                methods().any(|m| m.port == *port),
                "{port:?} declares no method"
            );
        }
    }
}
