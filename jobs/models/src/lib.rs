//! Churn and customer-lifetime-value models for Rapport's scoring job.
//!
//! - [`BgNbd`]: how many purchases a customer will make, and P(alive);
//! - [`GammaGamma`]: how much they spend per purchase;
//! - [`ParetoNbd`]: the Pareto/NBD alternative to BG/NBD, and [`MbgNbd`], BG/NBD with
//!   dropout possible at the first purchase too; both compared in the backtest;
//! - [`ChurnModel`]: a linfa logistic regression for "no purchase in the next window",
//!   trained on a time split of the shop's own history;
//! - [`ValueModel`]: a direct regression of each customer's future spend (zero-inflated
//!   lognormal), trained on the same time split; compared in the backtest;
//! - [`ScoreParams::fit`] / [`ScoringModel::score`]: all of it per customer, with CLV
//!   over a horizon and a marketing [`Segment`];
//! - [`NextOrderForecaster`]: when a customer is due, from BG/NBD's purchase-rate
//!   posterior or the customer's own gaps between purchases ([`next_order`]);
//! - [`evaluate()`]: a backtest on a calibration/holdout split, with every CLV forecast
//!   and trivial baseline compared ([`metrics::ClvMetrics`]), and the next-order dates;
//! - [`ShopParams`]: one shop end to end — the backtest over the churn window that just
//!   ended, the count model it chooses ([`shop::choose_model`]), the classifier, the fit
//!   and the next-order method, as the scheduled job runs them;
//! - [`estimation`]: how a shop too small to fit is scored all the same.
//!
//! Time is in weeks. Purchases are bucketed by calendar day. Settings follow linfa's
//! [`ParamGuard`] pattern: builder methods on an unchecked params type, `check()` to get
//! the validated one; every fitted model is serde-serialisable, so one fit can score
//! many batches.
//!
//! ```no_run
//! # fn main() -> Result<(), rapport_models::ModelError> {
//! use chrono::NaiveDate;
//! use rapport_models::{ChurnModel, CustomerHistory, ScoreParams, Transactions};
//!
//! let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
//! let shop = Transactions::new(vec![
//!     CustomerHistory::new("c1", [(day("2024-01-05"), 30.0), (day("2024-03-02"), 12.5)])?,
//!     // … every customer
//! ]);
//! let today = day("2024-12-31");
//! let cohort = shop.cohort_at(today);
//! let churn = ChurnModel::params().max_window_weeks(13.0).fit(&shop, today)?;
//! let scored = ScoreParams::default().horizon_weeks(52.0).fit(&cohort.summaries, Some(churn))?;
//! for (customer, score) in cohort.members.iter().zip(&scored.scores) {
//!     println!("{} {} clv={:.2} churn={:.2}", customer.id(), score.segment, score.clv, score.churn_risk);
//! }
//! # Ok(())
//! # }
//! ```

/// The models' version, recorded with every score they produce.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod bgnbd;
pub mod churn;
mod distinct;
pub mod error;
pub mod estimation;
pub mod evaluate;
pub mod gamma_gamma;
pub mod history;
pub mod hybrid;
pub mod io;
pub mod mbgnbd;
pub mod metrics;
mod names;
pub mod next_order;
mod optim;
pub mod pareto_nbd;
pub mod recent_rate;
pub mod score;
pub mod shop;
pub mod simulate;
pub mod special;
mod split;
pub mod value;

pub use bgnbd::{BgNbd, BgNbdCoefficients, BgNbdParams, BgNbdValidParams, FittedBgNbd};
pub use churn::{ChurnModel, ChurnParams, ChurnValidParams, FittedChurnModel};
pub use error::{InputError, ModelError};
pub use estimation::Estimation;
pub use evaluate::{Evaluation, evaluate};
pub use gamma_gamma::{
    FittedGammaGamma, GammaGamma, GammaGammaCoefficients, GammaGammaParams, GammaGammaValidParams,
};
pub use history::{Activity, Cohort, CustomerHistory, EarlierDays, RfmSummary, Transactions};
pub use hybrid::{FittedHybrid, Hybrid, HybridParams};
pub use linfa::ParamGuard;
pub use mbgnbd::{FittedMbgNbd, MbgNbd, MbgNbdParams};
pub use metrics::PARETO_SHARE;
pub use next_order::{
    NextOrder, NextOrderBasis, NextOrderComparison, NextOrderForecaster, NextOrderMethod,
};
pub use pareto_nbd::{
    FittedParetoNbd, ParetoNbd, ParetoNbdCoefficients, ParetoNbdParams, ParetoNbdValidParams,
};
pub use recent_rate::{FittedRecentRate, RecentRate, RecentRateParams};
pub use score::{
    ChurnScorer, CountModel, CountModelKind, CustomerScore, ScoreParams, ScoreValidParams, Scored,
    ScoringModel, Segment, Trained,
};
pub use shop::{ShopFit, ShopParams};
pub use value::{FittedValueModel, ValueCoefficients, ValueModel, ValueParams, ValueValidParams};
