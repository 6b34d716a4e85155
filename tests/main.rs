//! Rapport's integration tests, one binary with a module per area: the API over HTTP
//! through the local server into DynamoDB Local, the job and its report, the local stack,
//! the rules on the in-memory store, fuzzing, the load tests (soak, hot customer,
//! database outage, Schemathesis), every binary under the Lambda Runtime API emulator,
//! the IAM policies against the calls the code makes (policies), and the layout of the
//! code itself (architecture).
//!
//! The tests run as threads of one process and share one DynamoDB Local, one SES
//! emulator and one S3 emulator (moto; `rapport_integration`, in tests/support): each
//! works in a table and a bucket of its own and reads back only the mail it addressed;
//! the fault and stack tests start the instances they stop or kill. The load tests take
//! turns (`load_test_turn`). The job's run artifacts are tested in S3 (artifacts).
//! `cargo test --test integration purchase::` runs one area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod activity;
mod architecture;
mod artifacts;
mod bad_input;
mod code_sync;
mod contract;
mod coupons;
mod deliver;
mod expiry;
mod faults;
mod feedback;
mod fuzz;
mod hostile;
mod hot;
mod import;
mod job;
mod lambda_runtime;
mod messages;
mod outreach;
mod policies;
mod privacy;
mod program;
mod purchase;
mod redemption;
mod referral;
mod reindex;
mod report;
mod report_link;
mod review;
mod rules;
mod samples;
mod schemathesis;
mod scores;
mod secrets;
mod segments;
mod ses;
mod shopify;
mod signatures;
mod soak;
mod stack;
mod tables;
mod unsubscribe;
mod woocommerce;
