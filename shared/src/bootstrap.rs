//! Cold-start wiring shared by every binary: configuration from the environment and the
//! SDK clients, built once, each with the bounds its caller needs. SDK endpoints come
//! from the standard `AWS_ENDPOINT_URL_*` variables, so the same code reaches DynamoDB
//! Local, the SES emulator and AWS. Nothing else builds a client.

use anyhow::Context;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use lambda_http::{Error, service_fn};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::access::{Everything, Port, Wiring};
use crate::auth::keys::{KeySource, Keys, SecretReader};
use crate::config::JobConfig;
use crate::domain::TombstoneKey;
use crate::http::Api;
use crate::mail::pace::SesAccount;
use crate::mail::{AlertSender, SesAlerts, SesSender};
use crate::store::{DynamoStore, S3Artifacts};
use crate::wiring;
use crate::{Config, telemetry};

/// Loads the AWS configuration the usual way (environment, profile, instance role).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Bounds on each DynamoDB call made for a request. The functions time out after 10 s
/// (template.yaml) and API Gateway after 30 s; an unreachable or stalled database must
/// become a 503 with `Retry-After` well before either, never a hang. Generous enough
/// for a busy DynamoDB Local on a small CI machine.
const DYNAMODB_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
const DYNAMODB_OPERATION_TIMEOUT: Duration = Duration::from_secs(7);
/// The SDK's own retries back off from 1 s; on a request path the storefront retries
/// after `Retry-After` anyway, so a short in-process backoff answers sooner.
const DYNAMODB_INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const DYNAMODB_MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The scheduled job and the SES feedback function are not on a request path: a scan
/// page of a large table or a batch write under throttling may take seconds, and
/// nobody waits on them but the schedule. Their bounds only rule out a hang.
const JOB_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
const JOB_OPERATION_TIMEOUT: Duration = Duration::from_secs(180);

/// The timeouts set in `sdk`, the bounds filling in the rest (the SDK's defaults leave
/// a call free to wait forever).
fn bounded_timeouts(
    sdk: &aws_config::SdkConfig,
    attempt: Duration,
    operation: Duration,
) -> TimeoutConfig {
    let bounds = TimeoutConfig::builder()
        .connect_timeout(DYNAMODB_CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation);
    match sdk.timeout_config() {
        Some(configured) => configured.to_builder().take_unset_from(bounds).build(),
        None => bounds.build(),
    }
}

/// A DynamoDB client with these bounds: timeouts set in `sdk` win, the bounds fill in
/// the rest (the SDK's defaults leave a call free to wait forever); the retry mode and
/// attempts stay as configured, with `backoff` (initial, most) when given.
fn bounded_dynamodb_client(
    sdk: &aws_config::SdkConfig,
    attempt: Duration,
    operation: Duration,
    backoff: Option<(Duration, Duration)>,
) -> aws_sdk_dynamodb::Client {
    let timeouts = bounded_timeouts(sdk, attempt, operation);
    let mut retry = sdk
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard);
    if let Some((initial, most)) = backoff {
        retry = retry.with_initial_backoff(initial).with_max_backoff(most);
    }
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(retry)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A DynamoDB client for request paths: an unreachable or stalled database becomes a
/// 503 well inside the function's timeout.
pub fn request_dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    bounded_dynamodb_client(
        sdk,
        DYNAMODB_ATTEMPT_TIMEOUT,
        DYNAMODB_OPERATION_TIMEOUT,
        Some((DYNAMODB_INITIAL_BACKOFF, DYNAMODB_MAX_BACKOFF)),
    )
}

/// A DynamoDB client for the scheduled job and other background work.
pub fn background_dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    bounded_dynamodb_client(sdk, JOB_ATTEMPT_TIMEOUT, JOB_OPERATION_TIMEOUT, None)
}

/// The SES client every sender uses.
pub fn ses_client(sdk: &aws_config::SdkConfig) -> aws_sdk_ses::Client {
    aws_sdk_ses::Client::new(sdk)
}

/// The variable naming the bucket of the job's run artifacts and reports.
pub const RUN_BUCKET_ENV: &str = "RAPPORT_RUN_BUCKET";

/// The S3 endpoint `sdk` names for S3 (`AWS_ENDPOINT_URL_S3`, or `AWS_ENDPOINT_URL`),
/// the way the S3 client resolves it; `None` for AWS's own.
fn s3_endpoint_override(sdk: &aws_config::SdkConfig) -> Option<String> {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// The S3 client of the job's run bucket, with the job's bounds. An endpoint other
/// than AWS's (an emulator on 127.0.0.1) is addressed path-style (`/bucket/key`): a
/// bucket name as a subdomain of `127.0.0.1` resolves nowhere.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .timeout_config(bounded_timeouts(
            sdk,
            JOB_ATTEMPT_TIMEOUT,
            JOB_OPERATION_TIMEOUT,
        ))
        .force_path_style(s3_endpoint_override(sdk).is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The job's run artifacts in the bucket `RAPPORT_RUN_BUCKET` names, through the
/// shared SDK configuration; `None` when it names none (a run in one process keeps
/// them in memory).
pub async fn run_artifacts_from_env() -> anyhow::Result<Option<S3Artifacts>> {
    let bucket = match std::env::var(RUN_BUCKET_ENV) {
        Ok(bucket) if !bucket.trim().is_empty() => bucket.trim().to_owned(),
        Ok(_) | Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {RUN_BUCKET_ENV}")),
    };
    let sdk = aws_config().await;
    Ok(Some(S3Artifacts::new(s3_client(&sdk), bucket)))
}

/// Reads secrets from AWS Secrets Manager (the key sets of [`crate::auth::keys`]).
pub struct SecretsManagerReader {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerReader {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

#[async_trait::async_trait]
impl SecretReader for SecretsManagerReader {
    async fn read(&self, secret_id: &str) -> Result<String, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| format!("GetSecretValue {secret_id}: {}", DisplayErrorContext(&e)))?;
        out.secret_string
            .ok_or_else(|| format!("secret {secret_id} holds no string"))
    }
}

/// The whole API over DynamoDB for `config` (the local server, tests), mailing alerts
/// through SES when both a sender and a support address are configured.
pub fn api(sdk: &aws_config::SdkConfig, config: Config) -> Api<DynamoStore> {
    wired_api::<Everything>(sdk, config)
}

/// The API over a store wired with `W`: what a function serves. Alerts go through SES
/// only if `W` includes the alert sender (and both addresses are configured); any
/// other binary gets no SES client at all.
pub fn wired_api<W: Wiring>(sdk: &aws_config::SdkConfig, config: Config) -> Api<DynamoStore<W>> {
    let store = DynamoStore::new(request_dynamodb_client(sdk), config.table.clone()).wired::<W>();
    let alerts = match (&config.sender_email, &config.support_email) {
        (Some(from), Some(to)) if W::wires(Port::AlertSender) => {
            Some(SesAlerts::new(ses_client(sdk), from, to))
        }
        _ => None,
    };
    // Reports only for a binary that reads them, from the run bucket it is told.
    let reports = match std::env::var(RUN_BUCKET_ENV) {
        Ok(bucket) if W::wires(Port::ReportStore) && !bucket.trim().is_empty() => {
            Some(S3Artifacts::new(s3_client(sdk), bucket.trim()))
        }
        _ => None,
    };
    let mut api =
        Api::new(store, config).with_secret_reader(Arc::new(SecretsManagerReader::new(sdk)));
    if let Some(alerts) = alerts {
        api = api.with_alerts(Arc::new(alerts));
    }
    if let Some(reports) = reports {
        api = api.with_reports(Arc::new(reports));
    }
    api
}

/// The API wired with `W`, configured from the environment; logging initialised.
pub async fn dynamo_api<W: Wiring>() -> anyhow::Result<Api<DynamoStore<W>>> {
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    Ok(wired_api::<W>(&aws_config().await, config))
}

/// A Lambda function's whole `main`: `lambda_function!(purchase)` builds the API once,
/// on a store wired with `wiring::purchase::Ports`, and serves `Api::purchase` for
/// every invocation. Naming the handler, rather than an [`crate::http::Operation`]
/// matched at run time, lets the linker leave the other handlers out of the binary
/// (15.5 MB → 13.4 MB for the purchase function); the handler and the wiring share the
/// name, so a handler that needs a port its wiring lacks does not compile.
#[macro_export]
macro_rules! lambda_function {
    ($handler:ident) => {
        #[tokio::main]
        async fn main() -> Result<(), $crate::bootstrap::lambda_http::Error> {
            use $crate::bootstrap::lambda_http::{self, Error, Request, service_fn};
            let api = $crate::bootstrap::dynamo_api::<$crate::wiring::$handler::Ports>().await?;
            let api = &api;
            lambda_http::run(service_fn(move |req: Request| async move {
                Ok::<_, Error>(api.$handler(req).await)
            }))
            .await
        }
    };
}

/// For [`lambda_function!`]: the functions name the runtime through this library.
pub use lambda_http;

/// The SES feedback function's whole `main`: suppress what each SNS batch reports.
pub async fn run_feedback() -> Result<(), Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    let sdk = aws_config().await;
    let store = DynamoStore::new(background_dynamodb_client(&sdk), config.table)
        .wired::<wiring::feedback::Ports>();
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<crate::service::feedback::SnsEvent>| async move {
            let outcome =
                crate::service::feedback::handle(store, &event.payload, chrono::Utc::now()).await?;
            Ok::<_, Error>(outcome)
        },
    ))
    .await
}

/// How long the coupon-sync function starts new records of a batch before it hands the
/// rest back to the stream. A record started just before then may still take about a
/// minute (two stores, each up to 15 s of retries, a 10 s call and a last wait): the
/// function's timeout is 120 s (template.yaml).
pub const CODE_SYNC_BUDGET: Duration = Duration::from_secs(30);

/// The stores' APIs as configured: the credentials read once (from their secret in
/// AWS), one client for all. None configured: an empty list, and codes stay in Rapport.
pub async fn shop_apis(
    config: &Config,
    reader: Arc<dyn SecretReader>,
) -> anyhow::Result<Vec<Box<dyn crate::shop_api::ShopApi>>> {
    let credentials = match Keys::new(config.shop_credentials.clone())
        .with_reader(reader)
        .get()
        .await
    {
        Ok(credentials) => credentials,
        Err(crate::auth::keys::KeysUnavailable::NotConfigured(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e).context("reading the stores' API credentials"),
    };
    let client = crate::shop_api::HttpClient::new().context("building the stores' HTTP client")?;
    Ok(crate::shop_api::apis(
        &config.shop_endpoints,
        &credentials,
        &client,
    ))
}

/// The coupon-sync function's whole `main`: each batch of the table's stream creates
/// its new coupons' codes in the stores.
pub async fn run_code_sync() -> Result<(), Error> {
    use crate::service::code_sync::{CodeSync, StreamEvent, SyncPolicy};
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    let sdk = aws_config().await;
    let apis = shop_apis(&config, Arc::new(SecretsManagerReader::new(&sdk))).await?;
    if apis.is_empty() {
        tracing::warn!(
            "no store has both a URL and credentials: codes are not created in any store"
        );
    }
    let store = DynamoStore::new(background_dynamodb_client(&sdk), config.table.clone())
        .wired::<wiring::code_sync::Ports>();
    let sync = CodeSync {
        apis: &apis,
        currency: config.rules.currency,
        policy: SyncPolicy::default(),
    };
    let (store, sync) = (&store, &sync);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            let response = sync
                .handle_stream(store, &event.payload, CODE_SYNC_BUDGET)
                .await;
            Ok::<_, Error>(response)
        },
    ))
    .await
}

/// The tombstone key as configured: given, read from its secret through `reader`, or
/// unset (bare SHA-256). For tools and the job, which read it once.
pub async fn tombstone_key(
    config: &Config,
    reader: Arc<dyn SecretReader>,
) -> anyhow::Result<TombstoneKey> {
    match Keys::new(config.tombstone_key.clone())
        .with_reader(reader)
        .get()
        .await
    {
        Ok(key) => Ok(key.as_ref().clone()),
        Err(crate::auth::keys::KeysUnavailable::NotConfigured(_)) => Ok(TombstoneKey::unset()),
        Err(e) => Err(e).context("reading the tombstone key"),
    }
}

/// What the scheduled job runs on: a store wired with `wiring::job::Ports`.
pub struct JobWiring {
    pub config: Config,
    pub job: JobConfig,
    pub store: DynamoStore<wiring::job::Ports>,
    pub sender: SesSender,
    /// Where the sender's pace comes from: the account's quota.
    pub account: SesAccount,
    /// Mails the merchant the link to a run's report (`RAPPORT_REPORT_EMAIL`); `None`
    /// when no address is configured.
    pub report_mail: Option<Arc<dyn AlertSender>>,
}

/// The job's configuration, store and sender from the environment.
pub async fn job_from_env() -> anyhow::Result<JobWiring> {
    let config = Config::from_env().context("reading configuration")?;
    let mut job = JobConfig::from_env(&config).context("reading the job's configuration")?;
    let sdk = aws_config().await;
    // Read once per run: the keys sign links, the tombstone key finds erased addresses,
    // and a run is short.
    let reader: Arc<dyn SecretReader> = Arc::new(SecretsManagerReader::new(&sdk));
    if let KeySource::Secret(_) = &config.unsubscribe_keys {
        let keys = Keys::new(config.unsubscribe_keys.clone())
            .with_reader(reader.clone())
            .get()
            .await
            .context("reading the unsubscribe keys")?;
        job.delivery.unsubscribe_keys = Some(keys);
    }
    job.tombstone_key = tombstone_key(&config, reader).await?;
    let store = DynamoStore::new(background_dynamodb_client(&sdk), config.table.clone())
        .wired::<wiring::job::Ports>();
    let sender =
        SesSender::new(ses_client(&sdk)).with_configuration_set(job.ses_configuration_set.clone());
    let account = SesAccount::new(aws_sdk_sesv2::Client::new(&sdk));
    let report_mail = match (&config.sender_email, &job.report_to) {
        (Some(from), Some(to)) => Some(
            Arc::new(SesAlerts::new(ses_client(&sdk), from, to.as_str())) as Arc<dyn AlertSender>,
        ),
        _ => None,
    };
    Ok(JobWiring {
        config,
        job,
        store,
        sender,
        account,
        report_mail,
    })
}
