//! A backtest stored as JSON reads back as it was: the job's fit step stores it for the
//! report step.

use chrono::NaiveDate;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, Evaluation, evaluate};

#[test]
fn a_stored_backtest_reads_back_as_it_was() {
    let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let truth = BgNbdCoefficients {
        r: 0.6,
        alpha: 4.0,
        a: 0.8,
        b: 2.5,
    };
    let shop = Simulation::new(truth, day("2023-01-01"), day("2025-02-28"))
        .seed(3)
        .transactions(400)
        .unwrap();
    let backtest = evaluate(&shop, day("2024-11-29"), day("2025-02-28")).unwrap();
    let stored = serde_json::to_string(&backtest).unwrap();
    let read: Evaluation = serde_json::from_str(&stored).unwrap();
    assert_eq!(serde_json::to_string(&read).unwrap(), stored);
    assert_eq!(read.clv_metrics, backtest.clv_metrics);
    assert_eq!(read.next_order, backtest.next_order);
    // A name the code does not know is refused, not kept.
    let renamed = stored.replacen("\"last_period\"", "\"next_period\"", 1);
    let refused = serde_json::from_str::<Evaluation>(&renamed).unwrap_err();
    assert!(
        refused.to_string().contains("unknown name \"next_period\""),
        "{refused}"
    );
}
