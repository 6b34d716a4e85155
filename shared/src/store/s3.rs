//! The S3 adapter of [`ArtifactStore`]: a run's artifacts and reports as objects of the
//! run bucket (`RunBucket` in template.yaml, named by `RAPPORT_RUN_BUCKET`), one object
//! per key.
//!
//! Keys live under the prefixes the bucket's lifecycle knows ([`PREFIXES`]: `runs/`
//! kept a week, `reports/` kept `ReportRetentionDays`), and the job's role may read
//! and write objects there only; a key outside them is refused here, before S3 would
//! refuse it. [`S3_METHODS`] lists what each method calls, as `store::dynamo::access`
//! does for the table; `tests/policies.rs` proves it against the S3 emulator.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;

use super::StoreError;
use super::artifacts::{ArtifactStore, ReportFile, ReportStore};
use crate::access::{Action, Grant, MethodGrants, Port, Resource};
use crate::domain::RunId;

/// The key prefixes of the run bucket: a run's intermediate results, and reports.
pub const PREFIXES: &[&str] = &[RUNS, REPORTS];
/// What one phase of a run leaves for the next (`runs/<run id>/…`).
pub const RUNS: &str = "runs/";
/// What the merchant reads (`reports/<run id>/…`).
pub const REPORTS: &str = "reports/";

/// What each method of [`S3Artifacts`] calls. S3 answers a `GetObject` of a key that
/// does not exist with 404 only to a caller that may `ListBucket` the bucket, and with
/// 403 (access denied) to any other: `get`, which answers `None` for a missing key,
/// needs both.
pub const S3_METHODS: &[MethodGrants] = &[
    MethodGrants::new(
        Port::ArtifactStore,
        "put",
        &[
            Grant::on(Action::PutObject, Resource::RunObjects(RUNS)),
            Grant::on(Action::PutObject, Resource::RunObjects(REPORTS)),
        ],
    ),
    MethodGrants::new(
        Port::ArtifactStore,
        "get",
        &[
            Grant::on(Action::GetObject, Resource::RunObjects(RUNS)),
            Grant::on(Action::GetObject, Resource::RunObjects(REPORTS)),
            Grant::on(Action::ListBucket, Resource::RunBucket),
        ],
    ),
    // The report function reads reports, and only reports.
    MethodGrants::new(
        Port::ReportStore,
        "report_file",
        &[
            Grant::on(Action::GetObject, Resource::RunObjects(REPORTS)),
            Grant::on(Action::ListBucket, Resource::RunBucket),
        ],
    ),
];

/// Error codes after which the same request may succeed later. The SDK retries them
/// itself first (standard mode); what is left is the caller's to retry.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
];

/// Maps an SDK failure to what the caller can do about it: retry later or give up.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    err: SdkError<E, R>,
) -> StoreError {
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c)),
        _ => false,
    };
    let detail = format!("{what}: {}", DisplayErrorContext(&err));
    if retryable {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

/// Objects of one bucket.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    client: Client,
    bucket: String,
}

impl S3Artifacts {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `key`, if it lies under one of [`PREFIXES`].
    fn checked<'k>(&self, key: &'k str) -> Result<&'k str, StoreError> {
        let named = PREFIXES
            .iter()
            .any(|p| key.len() > p.len() && key.starts_with(p));
        if named {
            Ok(key)
        } else {
            Err(StoreError::Internal(format!(
                "artifact key {key:?} is not under {PREFIXES:?}"
            )))
        }
    }
}

#[async_trait]
impl ArtifactStore for S3Artifacts {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let key = self.checked(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&format!("PutObject {key}"), e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.checked(key)?;
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                return Ok(None);
            }
            Err(e) => return Err(classify(&format!("GetObject {key}"), e)),
        };
        // The body streams after the headers: a connection lost half-way is worth
        // another try.
        let body = object.body.collect().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "GetObject {key}: reading the body: {}",
                DisplayErrorContext(&e)
            ))
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }
}

#[async_trait]
impl ReportStore for S3Artifacts {
    async fn report_file(
        &self,
        run: &RunId,
        file: ReportFile,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&file.key(run)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifacts() -> S3Artifacts {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        S3Artifacts::new(Client::from_conf(config), "runs")
    }

    #[test]
    fn keys_stay_under_the_bucket_prefixes() {
        let store = artifacts();
        for key in [
            "runs/r1/plan.json",
            "runs/r1/digests/0-of-4.json",
            "reports/r1/report.html",
        ] {
            assert_eq!(store.checked(key).ok(), Some(key));
        }
        for key in ["plan.json", "runs/", "reports", "/runs/r1/plan.json", ""] {
            assert!(
                matches!(store.checked(key), Err(StoreError::Internal(_))),
                "{key}"
            );
        }
    }
}
