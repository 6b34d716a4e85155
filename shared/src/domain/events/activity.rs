//! What a customer did besides buying — signed up, subscribed, followed the shop on a
//! network, completed a profile, gave a birthday, or an activity of the merchant's own —
//! and the points the program gives for it within its limit. A signup creates the
//! customer before any order, with the contact details it brings.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::fields::{parse_time, required};
use crate::domain::profile::ContactDetails;
use crate::domain::program::{Activity, ActivityLimit, BUILT_IN_ACTIVITIES, is_activity_id};
use crate::domain::{
    Birthday, CustomerId, Email, EventId, FieldError, FirstName, LedgerEntry, LedgerReason, Locale,
    Profile, Tier,
};

/// The JSON body of `POST /v1/events/activity` as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActivityInput {
    pub event_id: Option<String>,
    pub customer_id: Option<String>,
    pub activity: Option<String>,
    pub occurred_at: Option<String>,
    /// The network of a `social_follow` (`instagram`, `tiktok`…).
    pub network: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub locale: Option<String>,
    pub marketing_consent: Option<bool>,
    /// MM-DD, for `birthday_added` (and welcome with any activity).
    pub birthday: Option<String>,
}

/// A validated activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityEvent {
    pub event_id: EventId,
    pub customer_id: CustomerId,
    pub activity: String,
    pub occurred_at: DateTime<Utc>,
    pub network: Option<String>,
    pub email: Option<Email>,
    pub first_name: Option<FirstName>,
    pub locale: Option<Locale>,
    pub marketing_consent: Option<bool>,
    pub birthday: Option<Birthday>,
}

impl ActivityInput {
    pub fn validate(self) -> Result<ActivityEvent, FieldError> {
        let activity = required("activity", self.activity)?
            .trim()
            .to_ascii_lowercase();
        if !is_activity_id(&activity) {
            return Err(FieldError::new(
                "activity",
                "must be an activity id: lower-case letters, digits, '-' or '_'",
            ));
        }
        let network = self
            .network
            .map(|n| {
                let n = n.trim().to_ascii_lowercase();
                if is_activity_id(&n) {
                    Ok(n)
                } else {
                    Err(FieldError::new(
                        "network",
                        "must be a network name such as instagram",
                    ))
                }
            })
            .transpose()?;
        if activity == "social_follow" && network.is_none() {
            return Err(FieldError::new(
                "network",
                "is required for social_follow (the network followed)",
            ));
        }
        let birthday = self
            .birthday
            .map(|b| Birthday::parse("birthday", &b))
            .transpose()?;
        if activity == "birthday_added" && birthday.is_none() {
            return Err(FieldError::new(
                "birthday",
                "is required for birthday_added (MM-DD)",
            ));
        }
        Ok(ActivityEvent {
            event_id: EventId::parse("event_id", &required("event_id", self.event_id)?)?,
            customer_id: CustomerId::parse(
                "customer_id",
                &required("customer_id", self.customer_id)?,
            )?,
            occurred_at: parse_time("occurred_at", &required("occurred_at", self.occurred_at)?)?,
            activity,
            network,
            email: self.email.map(|e| Email::parse("email", &e)).transpose()?,
            first_name: self
                .first_name
                .map(|n| FirstName::parse("first_name", &n))
                .transpose()?,
            locale: self
                .locale
                .map(|l| Locale::parse("locale", &l))
                .transpose()?,
            marketing_consent: self.marketing_consent,
            birthday,
        })
    }
}

/// What an activity did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityReceipt {
    pub event_id: EventId,
    pub duplicate: bool,
    pub customer_id: CustomerId,
    pub activity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Whether the customer was new to Rapport.
    pub created: bool,
    pub points_delta: i64,
    pub points_balance: i64,
    /// Why the activity earned nothing, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_earned: Option<String>,
}

impl ActivityReceipt {
    pub fn replayed(mut self, replayed: bool) -> Self {
        self.duplicate = replayed;
        self
    }
}

/// The profile to write, with the activity's ledger entry if it earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityOutcome {
    pub profile: Profile,
    pub ledger: Option<LedgerEntry>,
    pub receipt: ActivityReceipt,
}

/// Most earnings one activity key remembers: enough for the largest per-period count.
const MAX_REMEMBERED: usize = 100;

impl ActivityEvent {
    /// Decides the activity against the customer's profile (`None`: new) and the
    /// program's `activities`. An activity the program does not know is refused unless
    /// it is one of Rapport's own, which still brings its contact details.
    pub fn apply(
        &self,
        profile: Option<Profile>,
        activities: &[Activity],
        base_tier: &Tier,
        now: DateTime<Utc>,
    ) -> Result<ActivityOutcome, FieldError> {
        let known = activities.iter().find(|a| a.id == self.activity);
        if known.is_none() && !BUILT_IN_ACTIVITIES.contains(&self.activity.as_str()) {
            return Err(FieldError::new(
                "activity",
                format!("{:?} is not an activity of the program", self.activity),
            ));
        }
        let created = profile.is_none();
        let mut profile = profile
            .unwrap_or_else(|| Profile::new(self.customer_id.clone(), base_tier.clone(), now));
        self.update_contact(&mut profile, now);
        let refusal = match known {
            None => Some(format!("the program gives no points for {}", self.activity)),
            Some(a) if a.points == 0 => {
                Some(format!("the program gives no points for {}", self.activity))
            }
            Some(a) => self.over_limit(a, &profile),
        };
        let ledger = match (known, &refusal) {
            (Some(activity), None) => {
                let key = activity.key(self.network.as_deref());
                let times = profile.activities.entry(key).or_default();
                times.push(self.occurred_at);
                times.sort();
                let excess = times.len().saturating_sub(MAX_REMEMBERED);
                times.drain(..excess);
                Some(profile.post(
                    activity.points,
                    LedgerReason::Activity,
                    activity.key(self.network.as_deref()),
                    self.event_id.to_string(),
                    now,
                ))
            }
            _ => None,
        };
        profile.updated_at = now;
        let receipt = ActivityReceipt {
            event_id: self.event_id.clone(),
            duplicate: false,
            customer_id: self.customer_id.clone(),
            activity: self.activity.clone(),
            network: self.network.clone(),
            created,
            points_delta: ledger.as_ref().map_or(0, |e| e.delta),
            points_balance: profile.points_balance,
            not_earned: refusal,
        };
        Ok(ActivityOutcome {
            profile,
            ledger,
            receipt,
        })
    }

    /// Why `activity` earns nothing more for this customer now, if it does not.
    fn over_limit(&self, activity: &Activity, profile: &Profile) -> Option<String> {
        let key = activity.key(self.network.as_deref());
        let times = profile.activities.get(&key).map_or(&[][..], Vec::as_slice);
        match activity.limit {
            ActivityLimit::Once if !times.is_empty() => {
                Some(format!("{} earns points once", activity.id))
            }
            ActivityLimit::OncePerNetwork if !times.is_empty() => Some(format!(
                "{} on {} was rewarded already",
                activity.id,
                self.network.as_deref().unwrap_or_default()
            )),
            ActivityLimit::PerPeriod { count, days } => {
                let since = self.occurred_at - Duration::days(i64::from(days));
                let recent = times
                    .iter()
                    .filter(|t| **t > since && **t <= self.occurred_at)
                    .count();
                (recent >= count as usize).then(|| {
                    format!(
                        "{} earns points at most {count} times in {days} days",
                        activity.id
                    )
                })
            }
            _ => None,
        }
    }

    /// The contact details the activity brings, with the event as consent's source.
    fn update_contact(&self, profile: &mut Profile, now: DateTime<Utc>) {
        let details = ContactDetails {
            email: self.email.as_ref(),
            first_name: self.first_name.as_ref(),
            locale: self.locale.as_ref(),
            birthday: self.birthday,
            timezone: None,
            marketing_consent: self.marketing_consent,
        };
        profile.take_contact(details, format!("activity:{}", self.event_id), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn event(id: &str, activity: &str, network: Option<&str>, when: &str) -> ActivityEvent {
        ActivityInput {
            event_id: Some(id.into()),
            customer_id: Some("asha".into()),
            activity: Some(activity.into()),
            occurred_at: Some(when.into()),
            network: network.map(Into::into),
            first_name: Some("Asha".into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    fn program() -> Vec<Activity> {
        vec![
            Activity {
                id: "signup".into(),
                points: 100,
                limit: ActivityLimit::Once,
            },
            Activity {
                id: "social_follow".into(),
                points: 25,
                limit: ActivityLimit::OncePerNetwork,
            },
            Activity {
                id: "watched_video".into(),
                points: 5,
                limit: ActivityLimit::PerPeriod { count: 2, days: 7 },
            },
        ]
    }

    #[test]
    fn limits_once_per_network_and_per_period_are_kept_with_a_reason() {
        let tier = Tier("bronze".into());
        let now = at("2026-12-01T10:00:00Z");
        let signup = event("e1", "signup", None, "2026-12-01T09:00:00Z")
            .apply(None, &program(), &tier, now)
            .unwrap();
        assert!(signup.receipt.created);
        assert_eq!(signup.receipt.points_delta, 100);
        assert_eq!(signup.profile.first_name.as_ref().unwrap().as_str(), "Asha");
        let again = event("e2", "signup", None, "2026-12-01T09:30:00Z")
            .apply(Some(signup.profile), &program(), &tier, now)
            .unwrap();
        assert_eq!(again.receipt.points_delta, 0);
        assert_eq!(
            again.receipt.not_earned.as_deref(),
            Some("signup earns points once")
        );
        let insta = event(
            "e3",
            "social_follow",
            Some("Instagram"),
            "2026-12-01T09:40:00Z",
        )
        .apply(Some(again.profile), &program(), &tier, now)
        .unwrap();
        assert_eq!(insta.receipt.points_delta, 25);
        let twice = event(
            "e4",
            "social_follow",
            Some("instagram"),
            "2026-12-01T09:41:00Z",
        )
        .apply(Some(insta.profile), &program(), &tier, now)
        .unwrap();
        assert_eq!(
            twice.receipt.not_earned.as_deref(),
            Some("social_follow on instagram was rewarded already")
        );
        let tiktok = event(
            "e5",
            "social_follow",
            Some("tiktok"),
            "2026-12-01T09:42:00Z",
        )
        .apply(Some(twice.profile), &program(), &tier, now)
        .unwrap();
        assert_eq!(tiktok.receipt.points_delta, 25);
        let mut p = tiktok.profile;
        let mut earned = Vec::new();
        for (n, when) in ["2026-11-20", "2026-11-28", "2026-11-29", "2026-12-01"]
            .iter()
            .enumerate()
        {
            let o = event(
                &format!("v{n}"),
                "watched_video",
                None,
                &format!("{when}T08:00:00Z"),
            )
            .apply(Some(p), &program(), &tier, now)
            .unwrap();
            earned.push(o.receipt.points_delta);
            p = o.profile;
        }
        assert_eq!(earned, [5, 5, 5, 0], "two in any 7 days");
        assert_eq!(p.points_balance, 100 + 25 + 25 + 15);
    }

    #[test]
    fn unknown_activities_are_refused_and_built_in_ones_without_points_still_sign_up() {
        let tier = Tier("bronze".into());
        let now = at("2026-12-01T10:00:00Z");
        let unknown = event("e1", "dance", None, "2026-12-01T09:00:00Z")
            .apply(None, &program(), &tier, now)
            .unwrap_err();
        assert_eq!(unknown.field, "activity");
        let newsletter = event("e2", "newsletter_signup", None, "2026-12-01T09:00:00Z")
            .apply(None, &program(), &tier, now)
            .unwrap();
        assert!(newsletter.receipt.created && newsletter.ledger.is_none());
        assert!(newsletter.receipt.not_earned.unwrap().contains("no points"));
        let missing = ActivityInput {
            event_id: Some("e".into()),
            customer_id: Some("c".into()),
            activity: Some("social_follow".into()),
            occurred_at: Some("2026-12-01T09:00:00Z".into()),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(missing.field, "network");
    }
}
