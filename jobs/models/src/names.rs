//! The names reports key their measures by (`bgnbd`, `last_period`, `own_gaps`, `vip`,
//! …) are `&'static str`: reading a stored report back maps each name to the code's own
//! copy from the list of names the field may hold, and an unknown name is an error
//! rather than a new key.

use std::collections::BTreeMap;

/// The code's copy of `name` from `names`; an error naming it if it is not there.
pub(crate) fn known(name: &str, names: &[&'static str]) -> Result<&'static str, String> {
    (names.iter().find(|known| **known == name).copied())
        .ok_or_else(|| format!("unknown name {name:?}"))
}

/// `map` keyed by the code's copies of its names from `names`.
pub(crate) fn known_keys<V>(
    map: BTreeMap<String, V>,
    names: &[&'static str],
) -> Result<BTreeMap<&'static str, V>, String> {
    map.into_iter()
        .map(|(name, value)| Ok((known(&name, names)?, value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_read_back_and_unknown_ones_are_refused() {
        const NAMES: [&str; 3] = ["bgnbd", "last_period", "vip"];
        let map = BTreeMap::from([("vip".to_owned(), 3), ("bgnbd".to_owned(), 1)]);
        let keyed = known_keys(map, &NAMES).unwrap();
        assert_eq!(keyed.keys().copied().collect::<Vec<_>>(), ["bgnbd", "vip"]);
        assert_eq!(known("last_period", &NAMES), Ok("last_period"));
        let unknown = known_keys(BTreeMap::from([("nope".to_owned(), 1)]), &NAMES);
        assert_eq!(unknown.unwrap_err(), "unknown name \"nope\"");
    }
}
