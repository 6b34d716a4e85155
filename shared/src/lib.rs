//! Rapport's shared library: everything the Lambda functions, the local server and the
//! scoring job have in common.
//!
//! - [`domain`]: validated types and the loyalty rules (points, tiers, refunds,
//!   redemptions). Pure: no SDK, no I/O.
//! - [`store`]: one trait per capability, a DynamoDB adapter and an in-memory one.
//! - [`service`]: the read–decide–commit loops that join the two with exactly-once
//!   semantics.
//! - [`http`]: signature checks, request parsing, `problem+json` errors and the
//!   handlers the functions mount.
//! - [`config`]: settings read from the environment the template sets.

pub mod bootstrap;
pub mod config;
pub mod deliver;
pub mod domain;
pub mod feedback;
pub mod http;
pub mod mail;
pub mod render;
pub mod retry;
pub mod service;
pub mod signature;
pub mod store;
pub mod telemetry;
mod turns;
pub mod unsubscribe;

pub use config::Config;
