//! A shop's fit sample: the customers whose ids hash lowest, so that every run of the
//! scheduled job and every tool that fits a shop on a sample draws the same customers,
//! and a customer stays in the sample from one day to the next while the shop grows
//! slowly (a bottom-k sample by hash).

use sha2::{Digest, Sha256};

use super::Transactions;

/// Where a customer id falls in the draw: the first 8 bytes of its SHA-256.
pub fn sample_rank(id: &str) -> u64 {
    let hash = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}

impl Transactions {
    /// The at most `capacity` customers whose ids rank lowest by [`sample_rank`], in
    /// their order here: every customer when there are no more than that.
    pub fn sample(&self, capacity: usize) -> Transactions {
        if self.customers.len() <= capacity {
            return self.clone();
        }
        let mut ranked: Vec<(u64, usize)> = (self.customers.iter().enumerate())
            .map(|(index, customer)| (sample_rank(customer.id()), index))
            .collect();
        ranked.select_nth_unstable(capacity);
        let mut kept: Vec<usize> = ranked[..capacity].iter().map(|&(_, i)| i).collect();
        kept.sort_unstable();
        Transactions::new(
            kept.into_iter()
                .map(|i| self.customers[i].clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::history::CustomerHistory;

    fn shop(customers: usize) -> Transactions {
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        Transactions::new(
            (0..customers)
                .map(|i| CustomerHistory::new(format!("c{i}"), [(day, 10.0)]).unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_sample_is_the_lowest_ranked_ids_in_the_shops_order() {
        let all = shop(1000);
        let sample = all.sample(100);
        assert_eq!(sample.len(), 100);
        let mut ranks: Vec<u64> = all
            .customers()
            .iter()
            .map(|c| sample_rank(c.id()))
            .collect();
        ranks.sort_unstable();
        let highest_kept = (sample.customers().iter())
            .map(|c| sample_rank(c.id()))
            .max()
            .unwrap();
        assert_eq!(highest_kept, ranks[99]);
        // Kept in the shop's order, and the same draw every time.
        let positions: Vec<usize> = (sample.customers().iter())
            .map(|c| {
                all.customers()
                    .iter()
                    .position(|a| a.id() == c.id())
                    .unwrap()
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(all.sample(100), sample);
        // At or above the shop's size the sample is the whole shop.
        assert_eq!(all.sample(1000), all);
        assert_eq!(all.sample(5000), all);
    }

    #[test]
    fn the_rank_is_the_first_eight_bytes_of_the_ids_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea …
        assert_eq!(sample_rank("abc"), 0xba78_16bf_8f01_cfea);
    }
}
