//! Distinct values of a column, for working per value rather than per customer: with
//! day-resolution data a million customers share a few hundred values of T, and a few
//! thousand pairs of (x, T).

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

/// Largest grid of two columns' distinct values kept dense when numbering the pairs in
/// use.
const DENSE_CELLS: usize = 1 << 22;

/// The distinct pairs of two non-negative columns in use, numbered in order of first
/// appearance, and each item's number: what a quantity of the pair alone (BG/NBD's
/// expectations given (x, T)) is computed once for.
pub(crate) struct Pairs {
    /// Each item's pair, an index into `values`.
    pub keys: Vec<u32>,
    pub values: Vec<(f64, f64)>,
}

impl Pairs {
    pub fn new<T: Sync>(items: &[T], pair: impl Fn(&T) -> (f64, f64) + Sync) -> Self {
        let firsts = Distinct::new(items, |item| [pair(item).0]);
        let seconds = Distinct::new(items, |item| [pair(item).1]);
        let columns = seconds.values.len();
        let cell_of: Vec<usize> = items
            .par_iter()
            .map(|item| {
                let (first, second) = pair(item);
                firsts.position(first) as usize * columns + seconds.position(second) as usize
            })
            .collect();
        // A dense grid while it is small (it is with day-resolution data), a hash map
        // otherwise.
        let mut cells: Vec<usize> = Vec::new();
        let keys: Vec<u32> = if firsts.values.len() * columns <= DENSE_CELLS {
            let mut grid = vec![u32::MAX; firsts.values.len() * columns];
            cell_of
                .iter()
                .map(|&cell| number_cell(&mut grid[cell], cell, &mut cells))
                .collect()
        } else {
            let mut numbers: FxHashMap<usize, u32> = FxHashMap::default();
            cell_of
                .iter()
                .map(|&cell| number_cell(numbers.entry(cell).or_insert(u32::MAX), cell, &mut cells))
                .collect()
        };
        let values = cells
            .iter()
            .map(|&cell| {
                (
                    firsts.values[cell / columns],
                    seconds.values[cell % columns],
                )
            })
            .collect();
        Pairs { keys, values }
    }

    /// `f` of every distinct pair (in parallel), then each item's value.
    pub fn map<R: Send + Sync + Copy, E: Send>(
        &self,
        f: impl Fn(f64, f64) -> Result<R, E> + Sync,
    ) -> Result<Vec<R>, E> {
        let table = self
            .values
            .par_iter()
            .map(|&(first, second)| f(first, second))
            .collect::<Result<Vec<R>, E>>()?;
        Ok(self
            .keys
            .par_iter()
            .map(|&key| table[key as usize])
            .collect())
    }
}

/// The number of `cell` in `slot`, handing out the next one on first sight.
fn number_cell(slot: &mut u32, cell: usize, cells: &mut Vec<usize>) -> u32 {
    if *slot == u32::MAX {
        *slot = cells.len() as u32;
        cells.push(cell);
    }
    *slot
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

    #[test]
    fn pairs_are_numbered_once_and_mapped_back_to_every_item() {
        let data = [(1.0, 2.0), (0.0, 2.0), (1.0, 2.0), (1.0, 0.5), (0.0, 2.0)];
        let pairs = Pairs::new(&data, |&p| p);
        assert_eq!(pairs.keys, [0, 1, 0, 2, 1]);
        assert_eq!(pairs.values, [(1.0, 2.0), (0.0, 2.0), (1.0, 0.5)]);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let sums = pairs
            .map(|a, b| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, ()>(a + 10.0 * b)
            })
            .unwrap();
        assert_eq!(sums, [21.0, 20.0, 21.0, 6.0, 20.0]);
        assert_eq!(calls.into_inner(), 3);
        assert_eq!(
            Pairs::new(&data, |&p| p).map(|a, _| if a > 0.0 { Err("no") } else { Ok(a) }),
            Err("no")
        );
    }
}
