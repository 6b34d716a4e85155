//! Measures for backtests and scoring: ROC AUC, mean absolute error, the top share
//! of customers by a score — who is in it, where it starts and what revenue it brings —
//! and the CLV forecast measures of [`ClvMetrics`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Area under the ROC curve of `scores` for the `true` labels: the probability that a
/// random positive scores above a random negative, ties counting one half
/// (Mann-Whitney). `None` without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = order.iter().filter(|&&i| labels[i]).count() as f64;
    let negatives = order.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of the positives' ranks, tied scores sharing their average rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + end + 1) as f64 / 2.0;
        rank_sum += average_rank * order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Mean of `|predicted - actual|`; 0 for no data.
pub fn mean_absolute_error(predicted: &[f64], actual: &[f64]) -> f64 {
    let n = predicted.len().min(actual.len());
    if n == 0 {
        return 0.0;
    }
    predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / n as f64
}

/// The share of customers counted as the top by CLV: the Pareto measures, the VIP
/// segment and the job's VIP cut-off all mean this fifth.
pub const PARETO_SHARE: f64 = 0.2;

/// How many of `n` customers make up the top `share`: rounded up to whole customers.
pub fn top_count(n: usize, share: f64) -> usize {
    ((n as f64 * share).ceil() as usize).min(n)
}

/// Indices of `score` from the highest score to the lowest. Equal scores keep their
/// order, so the top of a ranking with ties does not depend on the sort algorithm.
pub fn rank_descending(score: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    order
}

/// The lowest of the top `share` of `values` (at least one of them): a value at or above
/// it is in the top. Infinity for no values, so nothing is.
pub fn top_share_cutoff(values: &[f64], share: f64) -> f64 {
    if values.is_empty() {
        return f64::INFINITY;
    }
    let top = top_count(values.len(), share).max(1);
    let mut values = values.to_vec();
    let (_, cutoff, _) = values.select_nth_unstable_by(top - 1, |a, b| b.total_cmp(a));
    *cutoff
}

/// How much of the revenue the top customers by a score bring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pareto {
    /// Customers marked as top.
    pub top_customers: usize,
    /// Their share of all customers (the requested share, rounded up to whole customers).
    pub top_share_customers: f64,
    /// Their share of the revenue.
    pub revenue_share: f64,
}

/// Marks the top `share` of customers by `score` and measures their share of `revenue`.
pub fn pareto(score: &[f64], revenue: &[f64], share: f64) -> Pareto {
    let n = score.len().min(revenue.len());
    let top = top_count(n, share);
    let order = rank_descending(&score[..n]);
    let total: f64 = revenue[..n].iter().sum();
    let top_revenue: f64 = order[..top].iter().map(|&i| revenue[i]).sum();
    Pareto {
        top_customers: top,
        top_share_customers: if n == 0 { 0.0 } else { top as f64 / n as f64 },
        revenue_share: if total > 0.0 {
            top_revenue / total
        } else {
            0.0
        },
    }
}

/// Root mean squared error; 0 for no data.
pub fn root_mean_squared_error(predicted: &[f64], actual: &[f64]) -> f64 {
    let n = predicted.len().min(actual.len());
    if n == 0 {
        return 0.0;
    }
    let squares: f64 = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a) * (p - a))
        .sum();
    (squares / n as f64).sqrt()
}

/// How well a per-customer forecast of holdout value (spend) matches what happened:
/// accuracy (`rmse`, `mae`), bias (`total_error_pct`), ranking (`normalized_gini`,
/// `spearman`, the captures) and calibration by predicted decile (`decile_mape`).
///
/// Rankings are by prediction, highest first. Customers with equal predictions count as
/// if in random order among themselves (each tied group's actual value is spread evenly
/// over the positions it occupies), so a constant forecast ranks nobody: its top 10 %
/// captures 10 %, and its raw Gini is that of a random order (`1/n` in this
/// convention, which counts each position's cumulative share at its end). Shares of customers are exact fractions of the count
/// (the top 10 % of 25 customers is 2.5 of them), so deciles are of equal size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvMetrics {
    pub rmse: f64,
    pub mae: f64,
    /// `100 · (Σ predicted − Σ actual) / Σ actual`: signed, negative for a forecast
    /// that falls short. `None` when nothing actual was spent.
    pub total_error_pct: Option<f64>,
    /// The Gini coefficient of the actual values ordered by prediction, divided by
    /// that of the actual values ordered by themselves (the convention of Wang, Liu &
    /// Miao 2019): 1 for a perfect ranking, 0 for a random one, negative for one worse
    /// than random. `None` when the actual values are all equal.
    pub normalized_gini: Option<f64>,
    /// Spearman's rank correlation (ties at their average rank); `None` when either
    /// side is constant.
    pub spearman: Option<f64>,
    /// Share of the actual total (0–1) in the top 10 % by prediction.
    pub top_decile_capture: Option<f64>,
    /// Share of the actual total (0–1) in the top 20 % by prediction.
    pub top20_capture: Option<f64>,
    /// Mean over the ten deciles by prediction of `|Σ predicted − Σ actual| / Σ actual`,
    /// as a fraction (0.25 is 25 %). Deciles where nothing actual was spent have no
    /// percentage error and are left out; `None` if that is all of them.
    pub decile_mape: Option<f64>,
}

impl ClvMetrics {
    /// The measures of `predicted` against `actual` (paired by index).
    pub fn of(predicted: &[f64], actual: &[f64]) -> ClvMetrics {
        let n = predicted.len().min(actual.len());
        let (predicted, actual) = (&predicted[..n], &actual[..n]);
        let total_actual: f64 = actual.iter().sum();
        let total_predicted: f64 = predicted.iter().sum();
        let by_prediction = Ranking::new(predicted, actual);
        let by_actual = Ranking::new(actual, actual);
        let has_total = total_actual > 0.0;
        let capture = |share: f64| {
            has_total.then(|| by_prediction.actual_between(0.0, share * n as f64) / total_actual)
        };
        let normalized_gini = match (by_prediction.gini(), by_actual.gini()) {
            (Some(model), Some(best)) if best > 0.0 => Some(model / best),
            _ => None,
        };
        ClvMetrics {
            rmse: root_mean_squared_error(predicted, actual),
            mae: mean_absolute_error(predicted, actual),
            total_error_pct: has_total
                .then(|| 100.0 * (total_predicted - total_actual) / total_actual),
            normalized_gini,
            spearman: spearman(predicted, actual),
            top_decile_capture: capture(0.1),
            top20_capture: capture(0.2),
            decile_mape: by_prediction.decile_mape(),
        }
    }
}

/// Groups of customers in the jackknife of a [`Lead`]: customer `i` is in group
/// `i mod 20`.
pub const JACKKNIFE_GROUPS: usize = 20;

/// How much better one forecast ranks the customers than another on the same holdout:
/// the difference of their normalised Ginis and of their top-20 % captures, each with
/// its standard error by the delete-a-group jackknife ([`JACKKNIFE_GROUPS`] groups,
/// each left out in turn and both forecasts measured again without it). The two
/// forecasts are measured on the same customers each time, so what they rank alike
/// cancels and the error is that of the difference, far smaller than either measure's
/// own. A lead of less than about two standard errors could have gone the other way
/// with other customers of the same shop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The first forecast's normalised Gini minus the second's.
    pub gini: f64,
    pub gini_se: f64,
    /// The first forecast's top-20 % capture minus the second's (shares, 0–1).
    pub top20: f64,
    pub top20_se: f64,
}

impl Lead {
    /// The lead of forecast `a` over forecast `b` (paired with `actual` by index);
    /// `None` with fewer than two customers per jackknife group or when nothing actual
    /// was spent in some replicate.
    pub fn of(a: &[f64], b: &[f64], actual: &[f64]) -> Option<Lead> {
        Self::over_each(a, [b], actual).pop().flatten()
    }

    /// [`Lead::of`] `a` over each of `others`, `a`'s and the actual values' rankings
    /// measured once for all of them.
    pub fn over_each<'o>(
        a: &[f64],
        others: impl IntoIterator<Item = &'o [f64]>,
        actual: &[f64],
    ) -> Vec<Option<Lead>> {
        let others: Vec<&[f64]> = others.into_iter().collect();
        let n = (others.iter().map(|b| b.len())).fold(a.len().min(actual.len()), usize::min);
        let actual = &actual[..n];
        let best = (n >= 2 * JACKKNIFE_GROUPS)
            .then(|| replicate_measures(actual, actual))
            .flatten();
        // Each forecast's measures, its Gini normalised by the best ranking's in the
        // same replicate.
        let normalised = |score: &[f64]| -> Option<Vec<(f64, f64)>> {
            let best = best.as_ref()?;
            let measures = replicate_measures(&score[..n], actual)?;
            (measures.iter().zip(best))
                .map(|(&(gini, top20), &(best, _))| (best > 0.0).then(|| (gini / best, top20)))
                .collect()
        };
        let by_a = normalised(a);
        others
            .iter()
            .map(|b| {
                let differences: Vec<(f64, f64)> = (by_a.as_ref()?.iter().zip(normalised(b)?))
                    .map(|(&(ga, ta), (gb, tb))| (ga - gb, ta - tb))
                    .collect();
                let (ginis, top20s): (Vec<f64>, Vec<f64>) =
                    differences[1..].iter().copied().unzip();
                Some(Lead {
                    gini: differences[0].0,
                    gini_se: jackknife_se(&ginis),
                    top20: differences[0].1,
                    top20_se: jackknife_se(&top20s),
                })
            })
            .collect()
    }
}

/// The Gini (not normalised) and top-20 % capture of the ranking of `actual` by
/// `score`: over everyone first, then with each jackknife group left out in turn;
/// `None` when nothing actual was spent in one of them.
fn replicate_measures(score: &[f64], actual: &[f64]) -> Option<Vec<(f64, f64)>> {
    let order = rank_descending(score);
    (0..=JACKKNIFE_GROUPS)
        .into_par_iter()
        .map(|replicate| {
            let keep = |i: usize| replicate == 0 || i % JACKKNIFE_GROUPS != replicate - 1;
            let ranking = Ranking::ordered(&order, score, actual, keep);
            let top20 = ranking.actual_between(0.0, 0.2 * ranking.customers) / ranking.total_actual;
            Some((ranking.gini()?, top20))
        })
        .collect()
}

/// `√((G−1)/G · Σ (θ₍g₎ − θ̄)²)` over the `G` leave-one-group-out estimates.
fn jackknife_se(replicates: &[f64]) -> f64 {
    let g = replicates.len() as f64;
    let mean = replicates.iter().sum::<f64>() / g;
    let squares: f64 = replicates.iter().map(|r| (r - mean) * (r - mean)).sum();
    ((g - 1.0) / g * squares).sqrt()
}

/// Predicted and actual totals of one tenth of the customers by prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecileTotals {
    /// 1 for the tenth with the highest predictions, 10 for the lowest.
    pub decile: u8,
    pub predicted: f64,
    pub actual: f64,
}

/// The ten deciles by prediction (highest first) with their predicted and actual
/// totals: the calibration that [`ClvMetrics::decile_mape`] sums up, to be drawn. Ties
/// and fractional shares are handled as there. Empty without customers.
pub fn decile_totals(predicted: &[f64], actual: &[f64]) -> Vec<DecileTotals> {
    let n = predicted.len().min(actual.len());
    if n == 0 {
        return Vec::new();
    }
    let ranking = Ranking::new(&predicted[..n], &actual[..n]);
    (0..10u8)
        .map(|decile| {
            let from = ranking.customers * f64::from(decile) / 10.0;
            let to = ranking.customers * f64::from(decile + 1) / 10.0;
            let (predicted, actual) = ranking.between(from, to);
            DecileTotals {
                decile: decile + 1,
                predicted,
                actual,
            }
        })
        .collect()
}

/// Customers ordered by a score, highest first, in groups of equal score; each group's
/// actual (and predicted) total is spread evenly over the positions it occupies.
struct Ranking {
    /// (positions in the group, Σ predicted, Σ actual), in order.
    groups: Vec<(f64, f64, f64)>,
    customers: f64,
    total_actual: f64,
}

impl Ranking {
    fn new(score: &[f64], actual: &[f64]) -> Self {
        Ranking {
            // Summed in the data's order, as always.
            total_actual: actual.iter().sum(),
            ..Self::ordered(&rank_descending(score), score, actual, |_| true)
        }
    }

    /// The ranking of the customers `keep` accepts, `order` being everyone's
    /// ([`rank_descending`] of `score`).
    fn ordered(
        order: &[usize],
        score: &[f64],
        actual: &[f64],
        keep: impl Fn(usize) -> bool,
    ) -> Self {
        let mut groups: Vec<(f64, f64, f64)> = Vec::new();
        let mut previous: Option<f64> = None;
        let (mut customers, mut total_actual) = (0usize, 0.0);
        for &i in order.iter().filter(|&&i| keep(i)) {
            customers += 1;
            total_actual += actual[i];
            match groups.last_mut() {
                Some(group) if previous == Some(score[i]) => {
                    group.0 += 1.0;
                    group.1 += score[i];
                    group.2 += actual[i];
                }
                _ => groups.push((1.0, score[i], actual[i])),
            }
            previous = Some(score[i]);
        }
        Ranking {
            groups,
            customers: customers as f64,
            total_actual,
        }
    }

    /// (Σ predicted, Σ actual) over positions `[from, to)`, fractions allowed.
    fn between(&self, from: f64, to: f64) -> (f64, f64) {
        let mut start = 0.0;
        let (mut predicted, mut actual) = (0.0, 0.0);
        for &(size, group_predicted, group_actual) in &self.groups {
            let overlap = (to.min(start + size) - from.max(start)).max(0.0);
            predicted += group_predicted * overlap / size;
            actual += group_actual * overlap / size;
            start += size;
        }
        (predicted, actual)
    }

    fn actual_between(&self, from: f64, to: f64) -> f64 {
        self.between(from, to).1
    }

    /// `2 · mean(cumulative share of the actual total) − 1` along the ranking. Within a
    /// group of `k` starting at cumulative `C`, the cumulative values are
    /// `C + j · S / k` for `j = 1..k`: they sum to `k·C + S·(k+1)/2`.
    fn gini(&self) -> Option<f64> {
        if self.total_actual.is_nan() || self.total_actual <= 0.0 || self.customers == 0.0 {
            return None;
        }
        let (mut before, mut sum_cumulative) = (0.0, 0.0);
        for &(size, _, actual) in &self.groups {
            sum_cumulative += size * before + actual * (size + 1.0) / 2.0;
            before += actual;
        }
        Some(2.0 * sum_cumulative / (self.total_actual * self.customers) - 1.0)
    }

    fn decile_mape(&self) -> Option<f64> {
        let errors: Vec<f64> = (0..10)
            .filter_map(|decile| {
                let from = self.customers * f64::from(decile) / 10.0;
                let to = self.customers * f64::from(decile + 1) / 10.0;
                let (predicted, actual) = self.between(from, to);
                (actual > 0.0).then(|| (predicted - actual).abs() / actual)
            })
            .collect();
        (!errors.is_empty()).then(|| errors.iter().sum::<f64>() / errors.len() as f64)
    }
}

/// Ranks from 1, ties at their average rank.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = average;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation: Pearson's correlation of the average ranks. `None` with
/// fewer than two values or when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (rx, ry) = (average_ranks(&x[..n]), average_ranks(&y[..n]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        let (dx, dy) = (a - mean, b - mean);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|v| (v - expected).abs() < 1e-12)
    }

    #[test]
    fn a_perfect_ranking_has_gini_one_and_a_reversed_one_a_negative_gini() {
        let actual = [5.0, 10.0, 0.0, 30.0, 60.0];
        let perfect = ClvMetrics::of(&[1.0, 2.0, 0.5, 3.0, 4.0], &actual);
        assert!(close(perfect.normalized_gini, 1.0), "{perfect:?}");
        assert!(close(perfect.spearman, 1.0), "{perfect:?}");
        let reversed = ClvMetrics::of(&[4.0, 3.0, 5.0, 2.0, 1.0], &actual);
        // By hand, in 105ths: cumulative reversed 0, 5, 15, 45, 105 (sum 170), best
        // 60, 90, 100, 105, 105 (sum 460); raw Gini 2·sum/(105·5) − 1: −185/525 and
        // 395/525, normalised −185/395.
        assert!(
            close(reversed.normalized_gini, -185.0 / 395.0),
            "{reversed:?}"
        );
        assert!(close(reversed.spearman, -1.0), "{reversed:?}");
    }

    #[test]
    fn a_constant_forecast_ranks_nobody() {
        let actual = [0.0, 10.0, 0.0, 30.0, 60.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let flat = ClvMetrics::of(&[5.0; 10], &actual);
        // A random order's raw Gini is 1/n = 0.1 in this convention; the best order's
        // cumulative shares .6, .9, 1 × 8 give 2 · 9.5 / 10 − 1 = 0.9.
        assert!(close(flat.normalized_gini, 0.1 / 0.9), "{flat:?}");
        assert_eq!(flat.spearman, None);
        assert!(close(flat.top_decile_capture, 0.1));
        assert!(close(flat.top20_capture, 0.2));
        // Σ predicted 50 against 100 actual: −50 %; every decile predicts 5 against an
        // average 10: 50 % off each.
        assert!(close(flat.total_error_pct, -50.0));
        assert!(close(flat.decile_mape, 0.5));
    }

    #[test]
    fn accuracy_and_captures_by_hand() {
        // Ten customers; the forecast puts customer 9 first, then 8, …
        let predicted: Vec<f64> = (0..10).map(f64::from).collect();
        let actual = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 70.0];
        let m = ClvMetrics::of(&predicted, &actual);
        assert!(close(m.top_decile_capture, 0.7));
        assert!(close(m.top20_capture, 0.9));
        // Deciles are single customers; only the top three spent: |9−70|/70, |8−20|/20,
        // |7−10|/10.
        let mape = (61.0 / 70.0 + 12.0 / 20.0 + 3.0 / 10.0) / 3.0;
        assert!(close(m.decile_mape, mape), "{m:?}");
        assert!(close(m.total_error_pct, -55.0));
        let squares: f64 = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a) * (p - a))
            .sum();
        assert!((m.rmse - (squares / 10.0).sqrt()).abs() < 1e-12);
        let absolute: f64 = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a).abs())
            .sum();
        assert!((m.mae - absolute / 10.0).abs() < 1e-12);
        // The top 10 % of 25 customers is two and a half of them.
        let mut predicted = vec![0.0; 25];
        let mut actual = vec![0.0; 25];
        for (i, value) in [(0, 40.0), (1, 30.0), (2, 20.0)] {
            predicted[i] = 100.0 - i as f64;
            actual[i] = value;
        }
        actual[3] = 10.0;
        let m = ClvMetrics::of(&predicted, &actual);
        assert!(
            close(m.top_decile_capture, (40.0 + 30.0 + 10.0) / 100.0),
            "{m:?}"
        );
    }

    #[test]
    fn nothing_spent_leaves_the_relative_measures_undefined() {
        let m = ClvMetrics::of(&[1.0, 2.0], &[0.0, 0.0]);
        assert_eq!(m.total_error_pct, None);
        assert_eq!(m.normalized_gini, None);
        assert_eq!(m.top_decile_capture, None);
        assert_eq!(m.decile_mape, None);
        assert!((m.rmse - (2.5f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        // Ranks x: 1, 2.5, 2.5, 4; y: 1, 2, 3, 4.
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[10.0, 20.0, 30.0, 40.0]).unwrap();
        let (rx, ry) = ([1.0, 2.5, 2.5, 4.0], [1.0, 2.0, 3.0, 4.0]);
        let (sxy, sxx, syy) = rx
            .iter()
            .zip(ry)
            .fold((0.0, 0.0, 0.0), |(a, b, c), (x, y)| {
                (
                    a + (x - 2.5) * (y - 2.5),
                    b + (x - 2.5f64).powi(2),
                    c + (y - 2.5f64).powi(2),
                )
            });
        assert!((rho - sxy / (sxx * syy).sqrt()).abs() < 1e-12);
        assert_eq!(spearman(&[1.0], &[2.0]), None);
    }

    #[test]
    fn auc_counts_ordered_pairs_and_half_ties() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0], &[true, true, false]), Some(0.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn mae_averages_absolute_errors() {
        assert_eq!(
            mean_absolute_error(&[1.0, 2.0, 3.0], &[2.0, 2.0, 0.0]),
            4.0 / 3.0
        );
        assert_eq!(mean_absolute_error(&[], &[]), 0.0);
    }

    #[test]
    fn pareto_marks_the_top_share() {
        let score = [5.0, 1.0, 4.0, 2.0, 3.0];
        let revenue = [50.0, 10.0, 0.0, 20.0, 20.0];
        let result = pareto(&score, &revenue, 0.2);
        assert_eq!(result.top_customers, 1);
        assert_eq!(result.revenue_share, 0.5);
        assert_eq!(pareto(&score, &revenue, 0.4).revenue_share, 0.5);
        assert_eq!(pareto(&score, &revenue, 0.4).top_share_customers, 0.4);
    }

    #[test]
    fn top_share_cutoff_takes_at_least_one() {
        assert_eq!(top_share_cutoff(&[1.0, 5.0, 3.0, 4.0, 2.0], 0.2), 5.0);
        assert_eq!(top_share_cutoff(&[1.0, 5.0, 3.0, 4.0, 2.0], 0.5), 3.0);
        assert_eq!(top_share_cutoff(&[7.0], 0.01), 7.0);
    }

    #[test]
    fn ranking_keeps_ties_in_order() {
        assert_eq!(rank_descending(&[1.0, 3.0, 1.0, 3.0]), [1, 3, 0, 2]);
        assert_eq!(top_count(5, PARETO_SHARE), 1);
        assert_eq!(top_count(6, PARETO_SHARE), 2);
        assert_eq!(top_count(0, PARETO_SHARE), 0);
    }

    #[test]
    fn decile_totals_add_up_and_follow_the_ranking() {
        let predicted: Vec<f64> = (1..=20).map(f64::from).collect();
        let actual: Vec<f64> = predicted.iter().map(|p| 2.0 * p).collect();
        let deciles = decile_totals(&predicted, &actual);
        assert_eq!(deciles.len(), 10);
        assert_eq!(deciles[0].decile, 1);
        // The top tenth is the two highest predictions, 20 and 19.
        assert_eq!((deciles[0].predicted, deciles[0].actual), (39.0, 78.0));
        assert_eq!((deciles[9].predicted, deciles[9].actual), (3.0, 6.0));
        let total: f64 = deciles.iter().map(|d| d.actual).sum();
        assert!((total - actual.iter().sum::<f64>()).abs() < 1e-9);
        assert!(decile_totals(&[], &[]).is_empty());
    }

    #[test]
    fn a_lead_is_the_difference_of_the_measures_with_its_jackknife_error() {
        // 97 customers: spend rising with a noisy signal; `a` sees the signal, `b`
        // half of it, plus ties.
        let actual: Vec<f64> = (0..97)
            .map(|i| f64::from(i % 13) * f64::from(i % 7))
            .collect();
        let a: Vec<f64> = (0..97)
            .map(|i| actual[i] + f64::from((i * 31 % 17) as u32))
            .collect();
        let b: Vec<f64> = (0..97)
            .map(|i| (actual[i] / 2.0).floor() + f64::from((i * 7 % 23) as u32))
            .collect();
        let lead = Lead::of(&a, &b, &actual).unwrap();
        let measures = |keep: &dyn Fn(usize) -> bool| {
            let pick = |v: &[f64]| -> Vec<f64> {
                (0..v.len()).filter(|&i| keep(i)).map(|i| v[i]).collect()
            };
            let actual = pick(&actual);
            let (ma, mb) = (
                ClvMetrics::of(&pick(&a), &actual),
                ClvMetrics::of(&pick(&b), &actual),
            );
            (
                ma.normalized_gini.unwrap() - mb.normalized_gini.unwrap(),
                ma.top20_capture.unwrap() - mb.top20_capture.unwrap(),
            )
        };
        let (gini, top20) = measures(&|_| true);
        assert!(
            (lead.gini - gini).abs() < 1e-12 && gini > 0.0,
            "{lead:?} {gini}"
        );
        assert!((lead.top20 - top20).abs() < 1e-12, "{lead:?} {top20}");
        let replicates: Vec<(f64, f64)> = (0..JACKKNIFE_GROUPS)
            .map(|g| measures(&|i| i % JACKKNIFE_GROUPS != g))
            .collect();
        let se = |values: Vec<f64>| {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            ((n - 1.0) / n * values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()).sqrt()
        };
        let (ginis, top20s): (Vec<f64>, Vec<f64>) = replicates.into_iter().unzip();
        assert!((lead.gini_se - se(ginis)).abs() < 1e-12, "{lead:?}");
        assert!((lead.top20_se - se(top20s)).abs() < 1e-12, "{lead:?}");
        assert!(lead.gini_se > 0.0);

        // A forecast against itself leads by nothing, exactly.
        let same = Lead::of(&a, &a, &actual).unwrap();
        assert_eq!(
            (same.gini, same.gini_se, same.top20, same.top20_se),
            (0.0, 0.0, 0.0, 0.0)
        );
        // Too few customers for the groups, or nothing spent: no lead.
        assert!(Lead::of(&a[..39], &b[..39], &actual[..39]).is_none());
        assert!(Lead::of(&a, &b, &vec![0.0; 97]).is_none());
    }
}
