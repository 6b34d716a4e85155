//! Festival and seasonal greetings: a calendar of dated festivals, each for the
//! customers whose language (and, if the merchant chooses, segment) fits, with optional
//! bonus points. Lunar festivals move, so every festival lists its dates year by year;
//! Rapport ships expected dates for the four languages it writes, which the merchant can
//! correct or extend in the program.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::domain::{FieldError, Segment};

/// The calendar Rapport ships (Diwali and Holi for Hindi, the two Eids for Urdu, the
/// Christmas season for Tagalog and English, the New Year), as expected dates.
pub const SHIPPED_CALENDAR: &str = include_str!("../../../templates/calendar/festivals.json");

/// One festival of the calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Festival {
    /// Lower-case letters, digits and `-`: names the greeting's period with the date.
    pub id: String,
    /// As mail names it, and in other languages where it is called otherwise.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    /// The languages (`en`, `hi`, `ur`, `tl`) of the customers greeted; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// The segments greeted (`vip`, `loyal`, …); empty: every customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// The day it falls on in each year listed (the customer's local date).
    pub dates: Vec<NaiveDate>,
    /// Points given with the greeting.
    #[serde(default)]
    pub bonus_points: i64,
}

impl Festival {
    /// Its name in `language`.
    pub fn name_in(&self, language: &str) -> &str {
        self.names.get(language).unwrap_or(&self.name)
    }
}

/// The shipped calendar.
pub fn shipped_calendar() -> Result<Vec<Festival>, FieldError> {
    serde_json::from_str(SHIPPED_CALENDAR)
        .map_err(|e| FieldError::new("festivals", format!("the shipped calendar: {e}")))
}

/// Most festivals a calendar holds, and dates per festival.
pub const MAX_FESTIVALS: usize = 40;
pub const MAX_DATES: usize = 30;

/// What is wrong with a calendar, each with its path.
pub fn calendar_problems(festivals: &[Festival], languages: &[&str]) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if festivals.len() > MAX_FESTIVALS {
        problems.push(FieldError::new(
            "festivals",
            format!("must list at most {MAX_FESTIVALS} festivals"),
        ));
    }
    for (n, f) in festivals.iter().enumerate() {
        let at = |field: &str| format!("festivals[{n}].{field}");
        let id_sound = (1..=40).contains(&f.id.len())
            && f.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_sound {
            problems.push(FieldError::new(
                at("id"),
                "must be 1 to 40 lower-case letters, digits or '-'",
            ));
        }
        if festivals[..n].iter().any(|g| g.id == f.id) {
            problems.push(FieldError::new(
                at("id"),
                "is the id of an earlier festival",
            ));
        }
        let name_sound = |s: &str| !s.trim().is_empty() && s.chars().count() <= 60;
        if !name_sound(&f.name) || f.names.values().any(|s| !name_sound(s)) {
            problems.push(FieldError::new(at("name"), "must be 1 to 60 characters"));
        }
        for (l, language) in f.languages.iter().chain(f.names.keys()).enumerate() {
            if !languages.contains(&language.as_str()) {
                problems.push(FieldError::new(
                    format!("festivals[{n}].languages[{l}]"),
                    format!("{language:?} is not a language mail is written in"),
                ));
            }
        }
        if f.dates.is_empty() || f.dates.len() > MAX_DATES {
            problems.push(FieldError::new(
                at("dates"),
                format!("must list 1 to {MAX_DATES} dates"),
            ));
        }
        if !(0..=1_000_000).contains(&f.bonus_points) {
            problems.push(FieldError::new(
                at("bonus_points"),
                "must be between 0 and 1000000",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_calendar_reads_and_covers_each_language_every_year_to_2030() {
        let calendar = shipped_calendar().unwrap();
        assert!(calendar_problems(&calendar, &["en", "hi", "ur", "tl"]).is_empty());
        for language in ["en", "hi", "ur", "tl"] {
            for year in 2027..=2030 {
                let dated = calendar.iter().any(|f| {
                    f.languages.iter().any(|l| l == language)
                        && f.dates
                            .iter()
                            .any(|d| d.format("%Y").to_string() == year.to_string())
                });
                assert!(dated, "{language} {year}");
            }
        }
        let diwali = calendar.iter().find(|f| f.id == "diwali").unwrap();
        assert_eq!(diwali.name_in("hi"), "दीपावली");
        assert_eq!(diwali.name_in("en"), "Diwali");
    }
}
