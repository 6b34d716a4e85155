//! Measures for backtests and scoring: ROC AUC, mean absolute error, and the top share
//! of customers by a score — who is in it, where it starts and what revenue it brings.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
