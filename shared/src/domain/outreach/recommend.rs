//! "Customers who bought X also bought Y": products bought by the same customers, from
//! the products each profile keeps, so a mail can suggest at most a few a customer has
//! not bought yet.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::{Profile, Sku};

/// Products of one customer paired with each other: the most recent ones only, so a
/// customer of hundreds of products costs what one of twenty does.
const PAIRED_PER_CUSTOMER: usize = 20;
/// Customers who must have bought both for a pair to count.
pub const MIN_SUPPORT: u32 = 3;
/// Products remembered per product, and suggested per mail.
const KEPT_PER_PRODUCT: usize = 10;
pub const SUGGESTED: usize = 3;

/// For each product, the products its buyers also bought, most often first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CoPurchases {
    also: BTreeMap<Sku, Vec<(Sku, u32)>>,
    /// Products' names, as their buyers' latest orders gave them.
    names: BTreeMap<Sku, String>,
}

/// How many customers bought each pair of products, and the products' names: what
/// [`CoPurchases`] are found from, counted per part of the customers (scan segments)
/// and merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairCounts {
    pairs: BTreeMap<Sku, BTreeMap<Sku, u32>>,
    names: BTreeMap<Sku, String>,
}

impl PairCounts {
    /// Counted over `profiles`.
    pub fn from_profiles<'a>(profiles: impl Iterator<Item = &'a Profile>) -> Self {
        let mut counts = PairCounts::default();
        for p in profiles {
            for (sku, h) in &p.sku_history {
                if let Some(name) = &h.name {
                    counts.names.insert(sku.clone(), name.as_str().to_owned());
                }
            }
            let mut recent: Vec<(&Sku, chrono::NaiveDate)> =
                p.sku_history.iter().map(|(sku, h)| (sku, h.last)).collect();
            recent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            recent.truncate(PAIRED_PER_CUSTOMER);
            for (i, (a, _)) in recent.iter().enumerate() {
                for (b, _) in &recent[i + 1..] {
                    counts.add(a, b, 1);
                    counts.add(b, a, 1);
                }
            }
        }
        counts
    }

    fn add(&mut self, a: &Sku, b: &Sku, n: u32) {
        let row = match self.pairs.get_mut(a) {
            Some(row) => row,
            None => self.pairs.entry(a.clone()).or_default(),
        };
        match row.get_mut(b) {
            Some(count) => *count += n,
            None => {
                row.insert(b.clone(), n);
            }
        }
    }

    /// Adds `other`'s customers' pairs and names (a name `other` knows wins).
    pub fn merge(&mut self, other: PairCounts) {
        for (a, row) in other.pairs {
            for (b, n) in row {
                self.add(&a, &b, n);
            }
        }
        self.names.extend(other.names);
    }

    /// The pairs bought by at least [`MIN_SUPPORT`] customers, most often first.
    pub fn finish(self) -> CoPurchases {
        let also = self
            .pairs
            .into_iter()
            .filter_map(|(a, row)| {
                let mut list: Vec<(Sku, u32)> =
                    row.into_iter().filter(|(_, n)| *n >= MIN_SUPPORT).collect();
                list.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                list.truncate(KEPT_PER_PRODUCT);
                (!list.is_empty()).then_some((a, list))
            })
            .collect();
        CoPurchases {
            also,
            names: self.names,
        }
    }
}

impl CoPurchases {
    /// Counted over `profiles`.
    pub fn from_profiles<'a>(profiles: impl Iterator<Item = &'a Profile>) -> Self {
        PairCounts::from_profiles(profiles).finish()
    }

    /// How a mail names `sku`: its product name where an order gave one.
    pub fn display(&self, sku: &Sku) -> String {
        self.names
            .get(sku)
            .cloned()
            .unwrap_or_else(|| sku.as_str().to_owned())
    }

    /// At most [`SUGGESTED`] products this customer has not bought, that the buyers of
    /// what they bought bought most.
    pub fn for_customer(&self, profile: &Profile) -> Vec<Sku> {
        let owned: BTreeSet<&Sku> = profile.sku_history.keys().collect();
        let mut score: BTreeMap<&Sku, u32> = BTreeMap::new();
        for sku in &owned {
            for (other, n) in self.also.get(*sku).into_iter().flatten() {
                if !owned.contains(other) {
                    *score.entry(other).or_default() += n;
                }
            }
        }
        let mut ranked: Vec<(&Sku, u32)> = score.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked
            .into_iter()
            .take(SUGGESTED)
            .map(|(sku, _)| sku.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, Tier};

    fn buyer(id: &str, skus: &[&str]) -> Profile {
        let mut p = Profile::new(
            CustomerId::parse("c", id).unwrap(),
            Tier("bronze".into()),
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        let items: Vec<crate::domain::LineItem> = skus
            .iter()
            .map(|s| crate::domain::LineItem {
                sku: Sku::parse("s", s).unwrap(),
                quantity: 1,
                unit_price_minor: 100,
                name: None,
            })
            .collect();
        p.note_skus_bought(&items, "2026-02-01".parse().unwrap());
        p
    }

    #[test]
    fn suggestions_are_what_buyers_of_the_same_products_bought_and_never_owned() {
        let mut shop: Vec<Profile> = (0..4)
            .map(|n| buyer(&format!("a{n}"), &["TEA", "MUG", "STRAINER"]))
            .collect();
        shop.extend((0..3).map(|n| buyer(&format!("b{n}"), &["TEA", "HONEY"])));
        shop.push(buyer("c0", &["TEA", "KETTLE"]));
        let co = CoPurchases::from_profiles(shop.iter());
        let tea_only = buyer("new", &["TEA"]);
        let names = |v: Vec<Sku>| {
            v.into_iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        // KETTLE was bought with TEA once: below the support; the rest by count.
        assert_eq!(
            names(co.for_customer(&tea_only)),
            ["MUG", "STRAINER", "HONEY"]
        );
        let has_mug = buyer("m", &["TEA", "MUG"]);
        assert_eq!(names(co.for_customer(&has_mug)), ["STRAINER", "HONEY"]);
        assert!(co.for_customer(&buyer("z", &["SOAP"])).is_empty());
    }

    #[test]
    fn pairs_counted_in_parts_and_merged_suggest_what_the_whole_does() {
        let mut shop: Vec<Profile> = (0..4)
            .map(|n| buyer(&format!("a{n}"), &["TEA", "MUG", "STRAINER"]))
            .collect();
        shop.extend((0..3).map(|n| buyer(&format!("b{n}"), &["TEA", "HONEY"])));
        shop.push(buyer("c0", &["TEA", "KETTLE"]));
        let whole = CoPurchases::from_profiles(shop.iter());
        let mut merged = PairCounts::default();
        for part in shop.chunks(3) {
            let stored = serde_json::to_string(&PairCounts::from_profiles(part.iter())).unwrap();
            merged.merge(serde_json::from_str(&stored).unwrap());
        }
        assert_eq!(merged.finish(), whole);
    }
}
