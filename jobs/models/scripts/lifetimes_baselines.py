#!/usr/bin/env python3
"""lifetimes 0.11.3's CLV forecasts of a holdout, measured as `rapport-score evaluate`
measures its own (`clv_metrics`), printed as JSON.

The data and split are `evaluate`'s: purchases bucketed by calendar day (amounts of one
day summed), customers = those who bought on or before the calibration end, frequency =
repeat purchase days, recency and T in weeks to the calibration end, monetary value = the
mean of the repeat days' spend, the holdout = the days after the calibration end up to
the holdout end (inclusive). On these summaries it fits lifetimes' BetaGeoFitter,
ParetoNBDFitter and ModifiedBetaGeoFitter (penalizer 0) and GammaGammaFitter (penalizer
0, on the customers with repeat purchases and positive spend), and forecasts each
customer's holdout spend as the model's conditional expected purchases over the holdout
times Gamma-Gamma's conditional expected spend per purchase. `last_period` (the
calibration repeat spend per week carried over the holdout) is measured too, to check
the measures against `evaluate`'s.

The measures are those of `jobs/models/src/metrics.rs` (`ClvMetrics::of`), ties
included: customers with equal forecasts count as in random order (a tied group's actual
spend is spread evenly over its positions), shares of customers are exact fractions.

Usage (inside a virtual environment with lifetimes, see `lifetimes_baselines.sh`):

    python lifetimes_baselines.py --transactions CDNOW_sample.txt --format cdnow \
        --calibration-end 1997-09-30 --holdout-end 1998-06-30
"""

import argparse
import csv
import datetime as dt
import json
import math
import sys
import time
import warnings
from collections import defaultdict


def read_days(path, fmt):
    """customer -> {date: summed amount}."""
    days = defaultdict(lambda: defaultdict(float))
    if fmt == "cdnow":
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if not fields or not fields[-1].replace(".", "", 1).isdigit():
                    continue  # blank line or the master file's header
                if len(fields) == 5:
                    customer, day, amount = fields[1], fields[2], fields[4]
                elif len(fields) == 4:
                    customer, day, amount = fields[0], fields[1], fields[3]
                else:
                    sys.exit(f"{path}: line {number}: expected 4 or 5 fields")
                date = dt.datetime.strptime(day, "%Y%m%d").date()
                days[customer][date] += float(amount)
    else:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                stamp = row["timestamp"].strip()
                date = dt.date.fromisoformat(stamp[:10])
                days[row["customer_id"].strip()][date] += float(row["amount"])
    return days


def summaries(days, calibration_end, holdout_end):
    """Rows (frequency, recency, T, monetary, holdout spend) in weeks."""
    rows = []
    for history in days.values():
        seen = sorted(d for d in history if d <= calibration_end)
        if not seen:
            continue
        first, last = seen[0], seen[-1]
        repeats = seen[1:]
        monetary = sum(history[d] for d in repeats) / len(repeats) if repeats else 0.0
        holdout = sum(v for d, v in history.items() if calibration_end < d <= holdout_end)
        rows.append(
            (
                float(len(repeats)),
                (last - first).days / 7.0,
                (calibration_end - first).days / 7.0,
                monetary,
                holdout,
            )
        )
    return rows


def ranking(score, actual):
    """Groups of equal score, highest first: (size, Σ score, Σ actual)."""
    order = sorted(range(len(score)), key=lambda i: -score[i])
    groups = []
    previous = None
    for i in order:
        if groups and score[i] == previous:
            size, s, a = groups[-1]
            groups[-1] = (size + 1, s + score[i], a + actual[i])
        else:
            groups.append((1, score[i], actual[i]))
        previous = score[i]
    return groups


def between(groups, start_at, end_at):
    start = 0.0
    predicted = actual = 0.0
    for size, s, a in groups:
        overlap = max(0.0, min(end_at, start + size) - max(start_at, start))
        predicted += s * overlap / size
        actual += a * overlap / size
        start += size
    return predicted, actual


def gini(groups, n):
    total = sum(a for _, _, a in groups)
    if not total > 0 or n == 0:
        return None
    before = cumulative = 0.0
    for size, _, a in groups:
        cumulative += size * before + a * (size + 1) / 2
        before += a
    return 2 * cumulative / (total * n) - 1


def average_ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and values[order[end]] == values[order[start]]:
            end += 1
        for i in order[start:end]:
            ranks[i] = (start + end + 1) / 2
        start = end
    return ranks


def spearman(x, y):
    n = len(x)
    if n < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    mean = (n + 1) / 2
    sxy = sum((a - mean) * (b - mean) for a, b in zip(rx, ry))
    sxx = sum((a - mean) ** 2 for a in rx)
    syy = sum((b - mean) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def clv_metrics(predicted, actual):
    n = len(actual)
    total_actual, total_predicted = sum(actual), sum(predicted)
    by_prediction = ranking(predicted, actual)
    by_actual = ranking(actual, actual)
    has_total = total_actual > 0
    model, best = gini(by_prediction, n), gini(by_actual, n)
    deciles = []
    for d in range(10):
        p, a = between(by_prediction, n * d / 10, n * (d + 1) / 10)
        if a > 0:
            deciles.append(abs(p - a) / a)
    return {
        "rmse": math.sqrt(sum((p - a) ** 2 for p, a in zip(predicted, actual)) / n),
        "mae": sum(abs(p - a) for p, a in zip(predicted, actual)) / n,
        "total_error_pct": 100 * (total_predicted - total_actual) / total_actual if has_total else None,
        "normalized_gini": model / best if model is not None and best else None,
        "spearman": spearman(predicted, actual),
        "top_decile_capture": between(by_prediction, 0, 0.1 * n)[1] / total_actual if has_total else None,
        "top20_capture": between(by_prediction, 0, 0.2 * n)[1] / total_actual if has_total else None,
        "decile_mape": sum(deciles) / len(deciles) if deciles else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--format", choices=["cdnow", "csv"], required=True)
    parser.add_argument("--calibration-end", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--holdout-end", required=True, type=dt.date.fromisoformat)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

    rows = summaries(read_days(args.transactions, args.format), args.calibration_end, args.holdout_end)
    if not rows:
        sys.exit("nobody bought by the calibration end")
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value", "holdout"])
    weeks = (args.holdout_end - args.calibration_end).days / 7.0
    actual = frame["holdout"].tolist()
    x, t_x, age = frame["frequency"], frame["recency"], frame["T"]

    started = time.perf_counter()
    repeat = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
    gamma_gamma = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])
    spend = gamma_gamma.conditional_expected_average_profit(frame["frequency"], frame["monetary_value"])
    report = {
        "lifetimes_version": lifetimes.__version__,
        "customers": len(frame),
        "holdout_weeks": weeks,
        "gamma_gamma": {k: float(v) for k, v in gamma_gamma.params_.items()},
        "fits": {},
        "clv_metrics": {},
    }
    fitters = {
        "lifetimes_bgnbd": BetaGeoFitter,
        "lifetimes_pareto_nbd": ParetoNBDFitter,
        "lifetimes_mbgnbd": ModifiedBetaGeoFitter,
    }
    for name, fitter_class in fitters.items():
        fit_started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = fitter_class(penalizer_coef=0.0).fit(x, t_x, age)
            purchases = fitter.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, age)
        forecast = np.asarray(purchases, dtype=float) * np.asarray(spend, dtype=float)
        if not np.all(np.isfinite(forecast)):
            sys.exit(f"{name}: the forecast is not finite for every customer")
        report["fits"][name] = {
            "parameters": {k: float(v) for k, v in fitter.params_.items()},
            "seconds": time.perf_counter() - fit_started,
        }
        report["clv_metrics"][name] = clv_metrics(forecast.tolist(), actual)
    last_period = [
        f * m / t * weeks if t > 0 else 0.0
        for f, m, t in zip(frame["frequency"], frame["monetary_value"], frame["T"])
    ]
    report["clv_metrics"]["last_period"] = clv_metrics(last_period, actual)
    report["seconds"] = time.perf_counter() - started
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
