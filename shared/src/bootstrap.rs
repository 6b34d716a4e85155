//! Cold-start wiring shared by every binary: configuration from the environment and one
//! SDK client, built once. SDK endpoints come from the standard `AWS_ENDPOINT_URL_*`
//! variables, so the same code reaches DynamoDB Local and AWS.

use anyhow::Context;

use crate::http::Api;
use crate::store::DynamoStore;
use crate::{Config, telemetry};

/// Loads the AWS configuration the usual way (environment, profile, instance role).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The API over DynamoDB, configured from the environment; logging initialised.
pub async fn dynamo_api() -> anyhow::Result<Api<DynamoStore>> {
    telemetry::init();
    let config = Config::from_env().context("reading configuration")?;
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let store = DynamoStore::new(client, config.table.clone());
    Ok(Api::new(store, config))
}
