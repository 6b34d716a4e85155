//! Distinct values of a column, for working per value rather than per customer: with
//! day-resolution data a million customers share a few hundred values of T.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

/// The distinct values of a non-negative column, ascending, with an index from value to
/// position.
pub(crate) struct Distinct {
    pub values: Vec<f64>,
    positions: FxHashMap<u64, u32>,
}

/// Items per set while counting: a few large sets beat many small ones.
const CHUNK: usize = 1 << 16;

impl Distinct {
    /// The distinct values among `values(item)` over all items.
    pub fn new<T: Sync, const K: usize>(
        items: &[T],
        values: impl Fn(&T) -> [f64; K] + Sync,
    ) -> Self {
        let set = items
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut set = FxHashSet::default();
                for item in chunk {
                    set.extend(values(item).map(f64::to_bits));
                }
                set
            })
            .reduce(FxHashSet::default, |a, b| {
                let (mut large, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                large.extend(small);
                large
            });
        let mut bits: Vec<u64> = set.into_iter().collect();
        // Bits of non-negative floats order like the floats.
        bits.sort_unstable();
        let positions = bits
            .iter()
            .enumerate()
            .map(|(i, &b)| (b, i as u32))
            .collect();
        Distinct {
            values: bits.into_iter().map(f64::from_bits).collect(),
            positions,
        }
    }

    /// Position of `value`, which must be one of the values counted.
    pub fn position(&self, value: f64) -> u32 {
        let bits = value.to_bits();
        self.positions
            .get(&bits)
            .copied()
            .unwrap_or_else(|| self.values.partition_point(|v| v.to_bits() < bits) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_ascending_order() {
        let data = [3.5, 0.0, 1.25, 3.5, 0.0, 7.0];
        let distinct = Distinct::new(&data, |&v| [v]);
        assert_eq!(distinct.values, [0.0, 1.25, 3.5, 7.0]);
        assert_eq!(data.map(|v| distinct.position(v)), [2, 0, 1, 2, 0, 3]);
    }
}
