//! The names reports key their measures by (`bgnbd`, `last_period`, `own_gaps`, `vip`,
//! …) are `&'static str`: reading a stored report back maps each name to the one the
//! code knows, and an unknown name is an error rather than a new key.

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer, Error};

use crate::evaluate::ClvComparison;
use crate::next_order::{NextOrderComparison, NextOrderMethod};
use crate::score::Segment;

/// The code's own copy of `name`, if it knows it.
fn intern(name: &str) -> Option<&'static str> {
    let methods = NextOrderMethod::ALL.map(NextOrderMethod::as_str);
    let segments = Segment::ALL.map(Segment::as_str);
    ClvComparison::CANDIDATES
        .iter()
        .chain(&ClvComparison::BASELINES)
        .chain(&NextOrderComparison::BASELINES)
        .chain(&methods)
        .chain(&segments)
        .find(|known| **known == name)
        .copied()
}

/// The code's own copy of `name`; an error naming it if the code does not know it.
pub(crate) fn known(name: &str) -> Result<&'static str, String> {
    intern(name).ok_or_else(|| format!("unknown name {name:?}"))
}

/// `map` keyed by the code's own copies of its names.
pub(crate) fn known_keys<V>(map: BTreeMap<String, V>) -> Result<BTreeMap<&'static str, V>, String> {
    map.into_iter()
        .map(|(name, value)| Ok((known(&name)?, value)))
        .collect()
}

/// A map keyed by known names (for `deserialize_with`).
pub(crate) fn keys<'de, D, V>(d: D) -> Result<BTreeMap<&'static str, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    known_keys(BTreeMap::<String, V>::deserialize(d)?).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Keyed {
        #[serde(deserialize_with = "keys")]
        entries: BTreeMap<&'static str, u32>,
    }

    #[test]
    fn known_names_read_back_and_unknown_ones_are_refused() {
        let keyed: Keyed =
            serde_json::from_str(r#"{"entries":{"bgnbd":1,"own_gaps":2,"vip":3,"last_period":4}}"#)
                .unwrap();
        let names: Vec<&str> = keyed.entries.keys().copied().collect();
        assert_eq!(names, ["bgnbd", "last_period", "own_gaps", "vip"]);
        let unknown = serde_json::from_str::<Keyed>(r#"{"entries":{"nope":1}}"#);
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown name \"nope\"")
        );
    }

    #[test]
    fn a_stored_backtest_reads_back_as_it_was() {
        use crate::BgNbdCoefficients;
        use crate::simulate::Simulation;
        let day = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
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
        let backtest = crate::evaluate(&shop, day("2024-11-29"), day("2025-02-28")).unwrap();
        let stored = serde_json::to_string(&backtest).unwrap();
        let read: crate::Evaluation = serde_json::from_str(&stored).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), stored);
        assert_eq!(read.clv_metrics, backtest.clv_metrics);
        assert_eq!(read.next_order, backtest.next_order);
    }
}
