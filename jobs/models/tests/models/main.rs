//! The models' integration tests, one binary: acceptance on the CDNOW data and on the
//! Complete Journey, the `rapport-score` CLI end to end, and parameter recovery on
//! simulated shops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cdnow;
mod cli;
mod complete_journey;
mod recovery;
mod small_shops;
mod stored;
mod support;
