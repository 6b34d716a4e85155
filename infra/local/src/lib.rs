//! The local stack: DynamoDB Local and an SES emulator started on demand from a
//! git-ignored cache, the application's table created from template.yaml, and access
//! to the mail the emulator has accepted.
//!
//! Tests use [`stack::shared_dynamodb`] / [`stack::shared_ses`] / [`stack::shared_s3`]
//! (one instance per test process, or the one named by `AWS_ENDPOINT_URL_DYNAMODB` /
//! `AWS_ENDPOINT_URL_SES` / `AWS_ENDPOINT_URL_S3`);
//! `rapport-local up` uses [`stack::LocalStack`] and [`tables::create_table`].

pub mod client;
pub mod datasets;
pub mod demo;
pub mod import;
pub mod install;
mod process;
pub mod server;
pub mod ses;
pub mod shop;
pub mod shop_admin;
pub mod stack;
pub mod storefront;
pub mod streams;
pub mod tables;

pub use stack::{
    DynamoDbLocal, LocalStack, S3Emulator, SesEmulator, env_vars, sdk_config, shared_dynamodb,
    shared_s3, shared_ses,
};
pub use tables::create_table;
