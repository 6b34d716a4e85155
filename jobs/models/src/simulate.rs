//! Synthetic shops drawn from the models' own generative process, for parameter
//! recovery tests and the benchmark: customers arrive uniformly over the period, buy at
//! a Poisson rate λ ~ Gamma(r, α) per week, drop out after each repeat purchase with
//! probability p ~ Beta(a, b), and spend Gamma(p, ν) per purchase with ν ~ Gamma(q, γ).
//! Purchases land on calendar days, as real data does.

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Gamma};
use rayon::prelude::*;

use crate::bgnbd::BgNbdCoefficients;
use crate::error::ModelError;
use crate::gamma_gamma::GammaGammaCoefficients;
use crate::history::{CustomerHistory, DAYS_PER_WEEK, RfmSummary, Transactions};

/// Customers per independently seeded block: results do not depend on thread count.
const BLOCK: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Simulation {
    bgnbd: BgNbdCoefficients,
    spend: GammaGammaCoefficients,
    start: NaiveDate,
    end: NaiveDate,
    seed: u64,
}

impl Simulation {
    /// An example shop: customers arriving from 2023-01-01 who buy at a modest rate and
    /// lapse within a few purchases (r = 0.6, α = 4 weeks, a = 0.8, b = 2.5), the default
    /// spend, histories to `end` — the shop the model-choice tests of the models and the
    /// job both fit.
    pub fn example_shop(end: NaiveDate) -> Self {
        let truth = BgNbdCoefficients {
            r: 0.6,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
        };
        let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or(end);
        Simulation::new(truth, start, end)
    }

    /// Customers first buy between `start` and `end` (inclusive); histories end at `end`.
    pub fn new(bgnbd: BgNbdCoefficients, start: NaiveDate, end: NaiveDate) -> Self {
        Simulation {
            bgnbd,
            spend: GammaGammaCoefficients {
                p: 6.0,
                q: 4.0,
                gamma: 15.0,
            },
            start,
            end,
            seed: 1,
        }
    }

    /// Spend parameters (default p = 6, q = 4, γ = 15: a mean near 30 per purchase).
    pub fn spend(mut self, spend: GammaGammaCoefficients) -> Self {
        self.spend = spend;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// `customers` histories with ids `c0`, `c1`, …, purchases on calendar days.
    pub fn transactions(&self, customers: usize) -> Result<Transactions, ModelError> {
        let histories = self.draw(customers, |index, draw| {
            let date =
                |weeks: f64| self.start + Duration::days((weeks * DAYS_PER_WEEK).floor() as i64);
            let purchases = std::iter::once(draw.birth)
                .chain(draw.repeats.iter().map(|t| draw.birth + t))
                .map(date)
                .zip(draw.amounts.iter().copied());
            CustomerHistory::new(format!("c{index}"), purchases)
        })?;
        Ok(Transactions::new(
            histories.into_iter().collect::<Result<_, _>>()?,
        ))
    }

    /// Summaries at the end of the period in continuous time, as the model describes
    /// them: no rounding to days, so none of the bias that day buckets bring (two
    /// purchases on one day merge; recency and T move by up to a day).
    pub fn exact_summaries(&self, customers: usize) -> Result<Vec<RfmSummary>, ModelError> {
        let period = self.period_weeks();
        self.draw(customers, |_, draw| {
            let repeats = draw.repeats.len();
            let monetary = if repeats == 0 {
                0.0
            } else {
                draw.amounts[1..].iter().sum::<f64>() / repeats as f64
            };
            RfmSummary::new(
                repeats as f64,
                draw.repeats.last().copied().unwrap_or(0.0),
                period - draw.birth,
                monetary,
            )
        })
    }

    /// The period in weeks, from the start of the first day to the end of the last.
    fn period_weeks(&self) -> f64 {
        ((self.end - self.start).num_days() + 1) as f64 / DAYS_PER_WEEK
    }

    /// Draws `customers` in parallel blocks, each from its own seeded generator, and
    /// maps each draw with `keep`.
    fn draw<T: Send>(
        &self,
        customers: usize,
        keep: impl Fn(usize, Draw) -> T + Sync,
    ) -> Result<Vec<T>, ModelError> {
        let distributions = Distributions::new(self)?;
        let period = self.period_weeks();
        let blocks: Vec<Vec<T>> = (0..customers.div_ceil(BLOCK))
            .into_par_iter()
            .map(|block| {
                let mut rng = SmallRng::seed_from_u64(
                    self.seed ^ (block as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let first = block * BLOCK;
                (first..customers.min(first + BLOCK))
                    .map(|index| keep(index, distributions.customer(period, &mut rng)))
                    .collect()
            })
            .collect();
        Ok(blocks.into_iter().flatten().collect())
    }
}

/// One simulated customer in continuous time (weeks).
struct Draw {
    /// First purchase, from the start of the period.
    birth: f64,
    /// Repeat purchases, from the first.
    repeats: Vec<f64>,
    /// Spend of the first purchase, then of each repeat.
    amounts: Vec<f64>,
}

fn positive_spend_shape(p: f64) -> Result<f64, ModelError> {
    if p.is_finite() && p > 0.0 {
        Ok(p)
    } else {
        Err(invalid("p", format!("must be positive, got {p}")))
    }
}

fn invalid(name: &'static str, error: impl std::fmt::Display) -> ModelError {
    ModelError::InvalidParameter {
        name,
        reason: error.to_string(),
    }
}

struct Distributions {
    rate: Gamma<f64>,
    dropout: Beta<f64>,
    spend_rate: Gamma<f64>,
    spend_shape: f64,
}

impl Distributions {
    /// The generative process: arrival uniform over the period, purchases at rate λ until
    /// the period ends or the customer drops out after a repeat purchase.
    fn customer(&self, period: f64, rng: &mut SmallRng) -> Draw {
        let birth = rng.random::<f64>() * period;
        let rate = self.rate.sample(rng);
        let dropout = self.dropout.sample(rng);
        let spend_rate = self.spend_rate.sample(rng);
        // ν is positive and finite for valid parameters; a degenerate draw spends nothing.
        let amount = Gamma::new(self.spend_shape, 1.0 / spend_rate).ok();
        let spend = |rng: &mut SmallRng| amount.as_ref().map_or(0.0, |g| g.sample(rng));
        let mut draw = Draw {
            birth,
            repeats: Vec::new(),
            amounts: vec![spend(rng)],
        };
        let mut weeks = 0.0;
        loop {
            // Inverse-CDF exponential: a rate that underflowed to 0 waits forever.
            weeks += -(1.0 - rng.random::<f64>()).ln() / rate;
            if weeks.is_nan() || birth + weeks >= period {
                return draw;
            }
            draw.repeats.push(weeks);
            draw.amounts.push(spend(rng));
            if rng.random::<f64>() < dropout {
                return draw;
            }
        }
    }

    fn new(simulation: &Simulation) -> Result<Self, ModelError> {
        let BgNbdCoefficients { r, alpha, a, b } = simulation.bgnbd;
        if simulation.end < simulation.start || simulation.start.num_days_from_ce() < 1 {
            return Err(invalid(
                "period",
                format!("{} to {} is not a period", simulation.start, simulation.end),
            ));
        }
        Ok(Distributions {
            rate: Gamma::new(r, 1.0 / alpha).map_err(|e| invalid("r, alpha", e))?,
            dropout: Beta::new(a, b).map_err(|e| invalid("a, b", e))?,
            spend_rate: Gamma::new(simulation.spend.q, 1.0 / simulation.spend.gamma)
                .map_err(|e| invalid("q, gamma", e))?,
            spend_shape: positive_spend_shape(simulation.spend.p)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn simulation_is_reproducible_and_inside_the_period() {
        let truth = BgNbdCoefficients {
            r: 0.5,
            alpha: 5.0,
            a: 0.8,
            b: 2.0,
        };
        let simulation = Simulation::new(truth, date("2024-01-01"), date("2024-06-30")).seed(3);
        let first = simulation.transactions(25_000).unwrap();
        assert_eq!(first, simulation.transactions(25_000).unwrap());
        assert_eq!(first.len(), 25_000);
        let (start, end) = (date("2024-01-01"), date("2024-06-30"));
        for customer in first.customers() {
            for day in customer.purchase_days() {
                let day = day.date().unwrap();
                assert!(start <= day && day <= end);
            }
        }
        assert!(
            first
                .customers()
                .iter()
                .any(|c| c.purchase_days().len() > 3)
        );
    }

    #[test]
    fn invalid_parameters_are_reported() {
        let truth = BgNbdCoefficients {
            r: -1.0,
            alpha: 5.0,
            a: 0.8,
            b: 2.0,
        };
        let simulation = Simulation::new(truth, date("2024-01-01"), date("2024-06-30"));
        assert!(simulation.transactions(10).is_err());
    }
}
