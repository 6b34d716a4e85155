//! Unit tests of the readers and writers in `io.rs`.

use super::*;
use crate::score::Segment;

fn error_text(result: Result<impl std::fmt::Debug, InputError>) -> String {
    result.unwrap_err().to_string()
}

const SAMPLE: &str = " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00021 0002 19970101  3   63.34\r\n";

#[test]
fn reads_both_cdnow_layouts() {
    let sample = read_transactions(SAMPLE.as_bytes(), TransactionFormat::Cdnow).unwrap();
    assert_eq!(sample.len(), 2);
    assert_eq!(sample.customers()[0].id(), "0001");
    assert_eq!(sample.customers()[0].purchase_days().len(), 2);
    let master = " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n 00002 19970112  5   77.00\r\n";
    let master = read_transactions(master.as_bytes(), TransactionFormat::Cdnow).unwrap();
    assert_eq!(master.len(), 2);
    assert_eq!(master.customers()[1].purchase_days()[0].amount, 89.0);
}

#[test]
fn cdnow_errors_name_the_line() {
    let bad_date = " 00004 0001 19970101  2   29.33\n 00004 0001 19971301  2   29.73\n";
    assert_eq!(
        error_text(read_transactions(
            bad_date.as_bytes(),
            TransactionFormat::Cdnow
        )),
        "line 2: bad date '19971301' (expected YYYYMMDD)"
    );
    let negative = " 00004 0001 19970101  2   29.33\n\n 00004 0001 19970102  2   -1\n";
    assert!(
        error_text(read_transactions(
            negative.as_bytes(),
            TransactionFormat::Cdnow
        ))
        .starts_with("line 3: negative amount")
    );
    let ragged = " 00004 0001 19970101  2   29.33\n 0001 19970102  2\n";
    assert_eq!(
        error_text(read_transactions(
            ragged.as_bytes(),
            TransactionFormat::Cdnow
        )),
        "line 2: expected 5 whitespace-separated columns like the first line, found 3"
    );
    assert_eq!(
        error_text(read_transactions(b"\r\n\r\n", TransactionFormat::Cdnow)),
        "the input is empty"
    );
}

#[test]
fn reads_csv_transactions_with_dates_and_rfc3339() {
    let csv = "amount,customer_id,timestamp\n10.5,a,2024-03-01\n2,a,2024-03-01T23:30:00-05:00\n4,\"b,c\",2024-03-02T01:00:00Z\n";
    let transactions = read_transactions(csv.as_bytes(), TransactionFormat::Csv).unwrap();
    assert_eq!(transactions.len(), 2);
    assert_eq!(transactions.customers()[0].purchase_days()[0].amount, 12.5);
    assert_eq!(transactions.customers()[1].id(), "b,c");
}

#[test]
fn csv_errors_name_the_line_and_column() {
    let missing = "customer_id,timestamp\na,2024-03-01\n";
    assert!(
        error_text(read_transactions(
            missing.as_bytes(),
            TransactionFormat::Csv
        ))
        .starts_with("line 1: missing column 'amount'")
    );
    let bad_date = "customer_id,timestamp,amount\na,2024-03-01,1\na,2024-02-30,1\n";
    assert_eq!(
        error_text(read_transactions(
            bad_date.as_bytes(),
            TransactionFormat::Csv
        )),
        "line 3: bad timestamp '2024-02-30' (expected YYYY-MM-DD or RFC 3339)"
    );
    let negative = "customer_id,timestamp,amount\na,2024-03-01,-5\n";
    assert!(
        error_text(read_transactions(
            negative.as_bytes(),
            TransactionFormat::Csv
        ))
        .starts_with("line 2: negative amount")
    );
    let short = "customer_id,timestamp,amount\na,2024-03-01\n";
    assert_eq!(
        error_text(read_transactions(short.as_bytes(), TransactionFormat::Csv)),
        "line 2: expected at least 3 fields, found 2"
    );
    assert_eq!(
        error_text(read_transactions(b"", TransactionFormat::Csv)),
        "the input is empty"
    );
    assert_eq!(
        error_text(read_transactions(
            b"customer_id,timestamp,amount\n",
            TransactionFormat::Csv
        )),
        "the input is empty"
    );
}

#[test]
fn line_numbers_stay_right_across_parallel_blocks() {
    let mut csv = String::from("customer_id,frequency,recency,T,monetary_value\n");
    for i in 0..200_000 {
        csv.push_str(&format!("c{i},1,2.5,10,20\n"));
    }
    csv.push_str("bad,1,20,10,5\n");
    assert!(csv.len() > 3 * PARSE_BLOCK);
    let error = error_text(read_summaries(csv.as_bytes()));
    assert!(
        error.starts_with("line 200002: recency 20 is after the cutoff"),
        "{error}"
    );
}

#[test]
fn fast_number_parsing_agrees_with_the_standard_library() {
    for text in [
        "0",
        "1",
        "-3",
        "2.5",
        "30.428571",
        "38.857143",
        "0.1",
        "0.000001",
        "123456789012345",
        "1234567890.12345",
        "9007199254740993",
        "1e3",
        "-0.0",
        ".5",
        "5.",
        "1.2.3",
        "",
        "-",
        "abc",
        "12a",
        "0.30000000000000004",
    ] {
        let ours = parse_number(text.as_bytes());
        let std = text.parse::<f64>().ok();
        assert_eq!(ours.map(f64::to_bits), std.map(f64::to_bits), "{text:?}");
    }
}

#[test]
fn reads_summaries_in_any_column_order() {
    let csv =
        "T,customer_id,monetary_value,frequency,recency\n38.86,1,22.35,2,30.43\n38.86,2,0,0,0\n";
    let table = read_summaries(csv.as_bytes()).unwrap();
    assert_eq!(table.ids.iter().collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(
        table.summaries[0],
        RfmSummary::new(2.0, 30.43, 38.86, 22.35)
    );
    let bad = "customer_id,frequency,recency,T,monetary_value\n1,two,1,2,3\n";
    assert_eq!(
        error_text(read_summaries(bad.as_bytes())),
        "line 2: frequency 'two' is not a number"
    );
}

#[test]
fn writes_scores_with_fixed_decimals_and_quoted_ids() {
    let ids: CustomerIds = ["a", "b,\"c\""].into_iter().collect();
    let score = CustomerScore {
        p_alive: 0.5,
        expected_purchases: 1.234_567_89,
        expected_spend: 10.0,
        churn_risk: 1e-9,
        clv: 1234.5,
        segment: Segment::AtRisk,
    };
    let mut out = Vec::new();
    write_scores(
        &mut out,
        &ids,
        &[
            score,
            CustomerScore {
                clv: -0.25,
                p_alive: f64::NAN,
                ..score
            },
        ],
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "{SCORE_HEADER}a,0.500000,1.234568,0.000000,1234.500000,at_risk\n\
             \"b,\"\"c\"\"\",NaN,1.234568,0.000000,-0.250000,at_risk\n"
        )
    );
}

#[test]
fn scores_with_next_orders_add_the_day_and_the_probability() {
    use crate::next_order::{NextOrder, NextOrderBasis};
    let ids: CustomerIds = ["a", "b", "c"].into_iter().collect();
    let score = CustomerScore {
        p_alive: 0.5,
        expected_purchases: 2.0,
        expected_spend: 5.0,
        churn_risk: 0.25,
        clv: 10.0,
        segment: Segment::Active,
    };
    let due = |days: f64| NextOrder {
        days,
        basis: NextOrderBasis::Model,
        p_alive: 0.5,
        p_order_in_horizon: 0.4,
    };
    let cutoff = NaiveDate::from_ymd_opt(2024, 12, 30).unwrap();
    let mut out = Vec::new();
    write_scores_with_next_orders(
        &mut out,
        &ids,
        &[score; 3],
        &[Some(due(3.0)), None, Some(due(f64::INFINITY))],
        cutoff,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "{SCORE_NEXT_ORDER_HEADER}a,0.500000,2.000000,0.250000,10.000000,active,2025-01-02,0.400000\n\
             b,0.500000,2.000000,0.250000,10.000000,active,,\n\
             c,0.500000,2.000000,0.250000,10.000000,active,,0.400000\n"
        )
    );
}
