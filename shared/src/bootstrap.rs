//! Cold-start wiring shared by every binary: configuration from the environment and the
//! SDK clients, built once. SDK endpoints come from the standard `AWS_ENDPOINT_URL_*`
//! variables, so the same code reaches DynamoDB Local, the SES emulator and AWS.

use anyhow::Context;
use lambda_http::{Error, Request, service_fn};
use std::sync::Arc;

use crate::http::{Api, Operation};
use crate::mail::SesAlerts;
use crate::store::DynamoStore;
use crate::{Config, telemetry};

/// Loads the AWS configuration the usual way (environment, profile, instance role).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The API over DynamoDB for `config`, mailing alerts through SES when both a sender
/// and a support address are configured.
pub fn api(sdk: &aws_config::SdkConfig, config: Config) -> Api<DynamoStore> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone());
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
