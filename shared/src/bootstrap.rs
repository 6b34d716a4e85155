//! Cold-start wiring shared by every binary: configuration from the environment and the
//! SDK clients, built once. SDK endpoints come from the standard `AWS_ENDPOINT_URL_*`
//! variables, so the same code reaches DynamoDB Local, the SES emulator and AWS.

use anyhow::Context;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{Api, Operation};
use crate::mail::SesAlerts;
use crate::store::DynamoStore;
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

/// A DynamoDB client for request paths: timeouts set in `sdk` win, the bounds above
/// fill in the rest (the SDK's defaults leave a call free to wait forever); the retry
/// mode and attempts stay as configured, with the shorter backoff.
pub fn request_dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let bounds = TimeoutConfig::builder()
        .connect_timeout(DYNAMODB_CONNECT_TIMEOUT)
        .operation_attempt_timeout(DYNAMODB_ATTEMPT_TIMEOUT)
        .operation_timeout(DYNAMODB_OPERATION_TIMEOUT);
    let timeouts = match sdk.timeout_config() {
        Some(configured) => configured.to_builder().take_unset_from(bounds).build(),
        None => bounds.build(),
    };
    let retry = sdk
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard)
        .with_initial_backoff(DYNAMODB_INITIAL_BACKOFF)
        .with_max_backoff(DYNAMODB_MAX_BACKOFF);
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(retry)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The API over DynamoDB for `config`, mailing alerts through SES when both a sender
/// and a support address are configured.
pub fn api(sdk: &aws_config::SdkConfig, config: Config) -> Api<DynamoStore> {
    let store = DynamoStore::new(request_dynamodb_client(sdk), config.table.clone());
    let alerts = match (&config.sender_email, &config.support_email) {
        (Some(from), Some(to)) => Some(SesAlerts::new(aws_sdk_ses::Client::new(sdk), from, to)),
        _ => None,
    };
    let api = Api::new(store, config);
    match alerts {
        Some(alerts) => api.with_alerts(Arc::new(alerts)),
        None => api,
    }
}

/// The API configured from the environment; logging initialised.
pub async fn dynamo_api() -> anyhow::Result<Api<DynamoStore>> {
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    Ok(api(&aws_config().await, config))
}

/// A Lambda function's whole `main`: build the API once, then serve `operation` for
/// every invocation.
pub async fn run_function(operation: Operation) -> Result<(), Error> {
    let api = dynamo_api().await?;
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.call(operation, req).await)
    }))
    .await
}

/// The SES feedback function's whole `main`: suppress what each SNS batch reports.
pub async fn run_feedback() -> Result<(), Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    let sdk = aws_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table);
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<crate::feedback::SnsEvent>| async move {
            let outcome =
                crate::feedback::handle(store, &event.payload, chrono::Utc::now()).await?;
            Ok::<_, Error>(outcome)
        },
    ))
    .await
}
