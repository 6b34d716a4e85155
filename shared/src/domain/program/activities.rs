//! What customers earn for more than buying: signing up, subscribing, following the
//! shop, completing a profile, giving a birthday, and the merchant's own activities,
//! each with its points and how often it earns them.

use serde::{Deserialize, Serialize};

use super::{MAX_NAME, MAX_POINTS, Program};
use crate::domain::FieldError;

/// The activities Rapport knows by name; any other id is the merchant's own.
pub const BUILT_IN_ACTIVITIES: [&str; 5] = [
    "signup",
    "newsletter_signup",
    "social_follow",
    "profile_completed",
    "birthday_added",
];

/// Most activities a program lists.
pub const MAX_ACTIVITIES: usize = 30;

/// One activity of the program: its points and its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// A built-in activity, or the merchant's own: lower-case letters, digits, `-`, `_`.
    pub id: String,
    pub points: i64,
    /// How often it earns; absent: once ever.
    #[serde(default)]
    pub limit: ActivityLimit,
}

/// How often an activity earns points for one customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActivityLimit {
    /// Once ever.
    #[default]
    Once,
    /// Once for each network (`social_follow` on instagram, then on tiktok).
    OncePerNetwork,
    /// At most `count` times in any `days` days.
    PerPeriod { count: u32, days: u32 },
}

impl Activity {
    /// The history key of one earning: the activity, or the activity on a network.
    pub fn key(&self, network: Option<&str>) -> String {
        match (self.limit, network) {
            (ActivityLimit::OncePerNetwork, Some(network)) => format!("{}:{network}", self.id),
            _ => self.id.clone(),
        }
    }
}

/// Whether `id` names an activity: lower-case letters, digits, `-` and `_`.
pub fn is_activity_id(id: &str) -> bool {
    (1..=MAX_NAME).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Program {
    /// The activities' rules: ids, points, limits that can be kept.
    pub(super) fn activity_problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.activities.len() > MAX_ACTIVITIES {
            problems.push(FieldError::new(
                "activities",
                format!("must list at most {MAX_ACTIVITIES} activities"),
            ));
        }
        for (n, activity) in self.activities.iter().enumerate() {
            let at = |field: &str| format!("activities[{n}].{field}");
            if !is_activity_id(&activity.id) {
                problems.push(FieldError::new(
                    at("id"),
                    format!("must be 1 to {MAX_NAME} lower-case letters, digits, '-' or '_'"),
                ));
            }
            if self.activities[..n].iter().any(|a| a.id == activity.id) {
                problems.push(FieldError::new(
                    at("id"),
                    "is the id of an earlier activity",
                ));
            }
            if !(0..=MAX_POINTS).contains(&activity.points) {
                problems.push(FieldError::new(
                    at("points"),
                    format!("must be between 0 and {MAX_POINTS}"),
                ));
            }
            match activity.limit {
                ActivityLimit::OncePerNetwork if activity.id != "social_follow" => {
                    problems.push(FieldError::new(
                        at("limit"),
                        "once_per_network is for social_follow, the activity with a network",
                    ))
                }
                ActivityLimit::PerPeriod { count, days }
                    if !(1..=100).contains(&count) || !(1..=365).contains(&days) =>
                {
                    problems.push(FieldError::new(
                        at("limit"),
                        "per_period needs a count of 1 to 100 and days of 1 to 365",
                    ))
                }
                _ => {}
            }
        }
        problems
    }
}
