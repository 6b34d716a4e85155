//! Rapport's integration tests, one binary: the API over HTTP through the local server
//! into DynamoDB Local, the job against DynamoDB Local and the SES emulator, and the
//! hardening runs (soak, hot customer, database outage, Schemathesis).
//!
//! Every test of the process shares one DynamoDB Local and one SES emulator (see
//! `rapport_integration`); each test works in a table of its own and reads back only the
//! mail addressed to recipients of its own. `cargo test --test integration purchase::`
//! runs one area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod contract;
mod deliver;
mod faults;
mod feedback;
mod fuzz;
mod hot;
mod job;
mod messages;
mod outreach;
mod privacy;
mod purchase;
mod redemption;
mod referral;
mod report;
mod review;
mod rules;
mod samples;
mod schemathesis;
mod scores;
mod ses;
mod signatures;
mod soak;
mod stack;
mod tables;
mod unsubscribe;
