//! Rapport's library: everything the Lambda functions, the local server and the
//! scoring job have in common.
//!
//! - [`domain`]: validated types and the loyalty rules. Pure: no SDK, no I/O.
//! - [`store`]: one trait per capability, and the DynamoDB adapter (an in-memory one
//!   for unit tests behind the `testing` feature).
//! - [`service`]: one exactly-once driver and a command per request; delivering the
//!   job's messages; SES feedback.
//! - [`mail`]: rendering customer mail in its language, MIME, SES senders.
//! - [`http`]: request parsing, `problem+json` errors, the handlers the functions mount
//!   and the route table.
//! - [`auth`]: request signatures and unsubscribe tokens.
//! - [`config`] and [`bootstrap`]: settings from the environment and the SDK clients,
//!   built once; [`telemetry`]: logging; [`retry`]: the one backoff.
//! - [`wiring`]: the ports each deployed binary is wired with; [`access`]: the IAM
//!   actions they stand for, which template.yaml's policies must grant.

pub mod access;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod http;
pub mod mail;
pub mod retry;
pub mod service;
pub mod shop_api;
pub mod store;
pub mod telemetry;
pub mod wiring;

pub use config::Config;
