//! The words for what the code may do in AWS: the IAM actions and resources an adapter
//! calls ([`Grant`]), the ports a binary can be wired with ([`Port`]), and the type-level
//! grant ([`Grants`]) that lets a store implement only the ports its binary declares.
//!
//! The DynamoDB adapter lists, beside its code, the grants of every port method
//! (`store::dynamo::access`); the SES senders (`mail::SES_METHODS`) and the S3 store
//! (`store::s3::S3_METHODS`) do the same;
//! [`crate::wiring`] names the ports of each deployed binary. `tests/policies.rs`
//! proves the lists against the SDK calls the code really makes and compares them with
//! the policies in template.yaml, both ways.

/// An IAM action the code's SDK calls need. `TransactWriteItems` is no IAM action: each
/// of its items is authorised as the `PutItem`, `UpdateItem`, `DeleteItem` or
/// `ConditionCheckItem` it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    GetItem,
    BatchGetItem,
    Query,
    Scan,
    PutItem,
    UpdateItem,
    DeleteItem,
    ConditionCheckItem,
    BatchWriteItem,
    SendEmail,
    SendRawEmail,
    GetAccount,
    PutObject,
    GetObject,
    ListBucket,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 15] = [
        Action::GetItem,
        Action::BatchGetItem,
        Action::Query,
        Action::Scan,
        Action::PutItem,
        Action::UpdateItem,
        Action::DeleteItem,
        Action::ConditionCheckItem,
        Action::BatchWriteItem,
        Action::SendEmail,
        Action::SendRawEmail,
        Action::GetAccount,
        Action::PutObject,
        Action::GetObject,
        Action::ListBucket,
    ];

    /// The action as an IAM policy names it (`dynamodb:GetItem`).
    pub fn iam(self) -> &'static str {
        match self {
            Action::GetItem => "dynamodb:GetItem",
            Action::BatchGetItem => "dynamodb:BatchGetItem",
            Action::Query => "dynamodb:Query",
            Action::Scan => "dynamodb:Scan",
            Action::PutItem => "dynamodb:PutItem",
            Action::UpdateItem => "dynamodb:UpdateItem",
            Action::DeleteItem => "dynamodb:DeleteItem",
            Action::ConditionCheckItem => "dynamodb:ConditionCheckItem",
            Action::BatchWriteItem => "dynamodb:BatchWriteItem",
            Action::SendEmail => "ses:SendEmail",
            Action::SendRawEmail => "ses:SendRawEmail",
            Action::GetAccount => "ses:GetAccount",
            Action::PutObject => "s3:PutObject",
            Action::GetObject => "s3:GetObject",
            Action::ListBucket => "s3:ListBucket",
        }
    }

    /// The action an IAM policy names `iam`, if the code knows it.
    pub fn from_iam(iam: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.iam() == iam)
    }
}

/// What an action is allowed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// The table (`RapportTable`): every item operation, scan and query of the table.
    Table,
    /// A global secondary index of the table, by name: a query of the index.
    Index(&'static str),
    /// The SES identity mail is sent from (`RAPPORT_SENDER_EMAIL`).
    SenderIdentity,
    /// The SES configuration set the job's mail goes through.
    ConfigurationSet,
    /// The account itself (`*`): an action IAM scopes to no resource, such as reading
    /// the SES account's sending quota.
    Account,
    /// The job's run bucket (`RunBucket`) itself.
    RunBucket,
    /// The run bucket's objects under a key prefix (`runs/`).
    RunObjects(&'static str),
}

/// One action on one resource, and on a DynamoDB resource the partitions it reaches,
/// by partition-key prefix (`CUSTOMER#`). A scan names none: it reaches all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub action: Action,
    pub resource: Resource,
    pub partitions: &'static [&'static str],
}

impl Grant {
    /// `action` on the table, reaching `partitions`.
    pub const fn table(action: Action, partitions: &'static [&'static str]) -> Self {
        Self {
            action,
            resource: Resource::Table,
            partitions,
        }
    }

    /// `action` on the index `name`, reaching `partitions` of its partition key.
    pub const fn index(
        action: Action,
        name: &'static str,
        partitions: &'static [&'static str],
    ) -> Self {
        Self {
            action,
            resource: Resource::Index(name),
            partitions,
        }
    }

    /// `action` on `resource`, which has no partitions (an SES or S3 resource).
    pub const fn on(action: Action, resource: Resource) -> Self {
        Self {
            action,
            resource,
            partitions: &[],
        }
    }
}

/// The grants one method of a port needs.
#[derive(Debug, Clone, Copy)]
pub struct MethodGrants {
    pub port: Port,
    pub method: &'static str,
    pub grants: &'static [Grant],
}

impl MethodGrants {
    pub const fn new(port: Port, method: &'static str, grants: &'static [Grant]) -> Self {
        Self {
            port,
            method,
            grants,
        }
    }
}

/// Declares [`Port`], its type-level twins in [`port`] and `Port::ALL`, from one list.
macro_rules! ports {
    ($($(#[$doc:meta])* $port:ident,)+) => {
        /// A capability a binary is wired with: a store trait or a mail sender.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Port {
            $($(#[$doc])* $port,)+
        }

        impl Port {
            /// Every port, in order.
            pub const ALL: &'static [Port] = &[$(Port::$port,)+];
        }

        /// One uninhabited type per [`Port`], so that a wiring can grant a port in a
        /// trait bound: `W: Grants<port::ProfileStore>`.
        pub mod port {
            $(
                #[derive(Debug)]
                pub enum $port {}
            )+
        }
    };
}

ports!(
    /// `store::IdempotencyStore`
    IdempotencyStore,
    /// `store::ProfileStore`
    ProfileStore,
    /// `store::ProfileViewStore`
    ProfileViewStore,
    /// `store::PurchaseStore`
    PurchaseStore,
    /// `store::CouponStore`
    CouponStore,
    /// `store::ImportStore`: wired by no deployed binary (the `rapport-import` tool).
    ImportStore,
    /// `store::CouponUseStore`
    CouponUseStore,
    /// `store::CodeSyncStore`
    CodeSyncStore,
    /// `store::CodeRepairStore`: wired by no deployed binary (`rapport-sync-codes`).
    CodeRepairStore,
    /// `store::ProgramReadStore`
    ProgramReadStore,
    /// `store::ProgramStore`
    ProgramStore,
    /// `store::ProgramStatsStore`
    ProgramStatsStore,
    /// `store::RedemptionStore`
    RedemptionStore,
    /// `store::ReviewStore`
    ReviewStore,
    /// `store::ReferralCodeStore`
    ReferralCodeStore,
    /// `store::ReferralStore`
    ReferralStore,
    /// `store::RewardStore`
    RewardStore,
    /// `store::ScoreStore`
    ScoreStore,
    /// `store::CustomerIndexStore`: wired by no deployed binary (`rapport-job
    /// index-customers`, from a shell).
    CustomerIndexStore,
    /// `store::MessageStore`
    MessageStore,
    /// `store::SuppressionStore`
    SuppressionStore,
    /// `store::PrivacyStore`
    PrivacyStore,
    /// `store::LedgerStore`: wired by no deployed binary.
    LedgerStore,
    /// `store::ReadBackStore`: wired by no deployed binary.
    ReadBackStore,
    /// `mail::AlertSender` over SES.
    AlertSender,
    /// `mail::MessageSender` over SES.
    MessageSender,
    /// `mail::pace::QuotaSource` over SES (v2 `GetAccount`).
    SendQuota,
    /// `store::ArtifactStore` over S3 (`store::S3Artifacts`).
    ArtifactStore,
    /// `store::ReportStore` over S3: reading the reports the job stored.
    ReportStore,
);

/// What a binary is wired with: its ports, as a list and (through [`Grants`]) as types.
pub trait Wiring: Send + Sync + 'static {
    const PORTS: &'static [Port];

    /// Whether the wiring includes `port`.
    fn wires(port: Port) -> bool {
        Self::PORTS.contains(&port)
    }
}

/// The wiring `W` includes the port `P`: a store wired with `W` implements `P`.
pub trait Grants<P>: Wiring {}

/// Every port: what the local server, the tests and the tools are wired with.
#[derive(Debug)]
pub enum Everything {}

impl Wiring for Everything {
    const PORTS: &'static [Port] = Port::ALL;
}

impl<P> Grants<P> for Everything {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_iam_name() {
        for action in Action::ALL {
            assert_eq!(Action::from_iam(action.iam()), Some(action));
        }
        assert_eq!(Action::from_iam("dynamodb:*"), None);
    }
}
