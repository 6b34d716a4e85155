//! Settings read once at cold start from the environment that template.yaml sets.
//! Resource names and secrets are never hard-coded.

use thiserror::Error;

use crate::domain::{Currency, LoyaltyRules, ReferralRules, ReviewRules, Tier, TierRule};

pub const DEFAULT_TIERS: &str = "bronze:0:100,silver:50000:125,gold:150000:150";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything a function needs besides its SDK client.
#[derive(Clone)]
pub struct Config {
    /// The single DynamoDB table (`RAPPORT_TABLE`).
    pub table: String,
    /// The shared secret requests are signed with (`RAPPORT_SIGNING_SECRET`).
    pub signing_secret: Vec<u8>,
    /// How far a signature's timestamp may be from now, in seconds.
    pub signature_tolerance_secs: i64,
    pub rules: LoyaltyRules,
    pub reviews: ReviewRules,
    pub referrals: ReferralRules,
    /// The From address of mail Rapport sends (`RAPPORT_SENDER_EMAIL`).
    pub sender_email: Option<String>,
    /// Where service-recovery alerts go (`RAPPORT_SUPPORT_EMAIL`); unset: logged only.
    pub support_email: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("signing_secret", &"<redacted>")
            .field("signature_tolerance_secs", &self.signature_tolerance_secs)
            .field("rules", &self.rules)
            .field("reviews", &self.reviews)
            .field("referrals", &self.referrals)
            .field("sender_email", &self.sender_email)
            .field("support_email", &self.support_email)
            .finish()
    }
}

fn parse_num(name: &'static str, raw: &str) -> Result<i64, ConfigError> {
    raw.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: format!("{raw:?} is not an integer"),
    })
}

/// Parses `name:min_spend_minor:multiplier_pct,...`, e.g. the default
/// `bronze:0:100,silver:50000:125,gold:150000:150`.
pub fn parse_tiers(raw: &str) -> Result<Vec<TierRule>, ConfigError> {
    raw.split(',')
        .map(|part| {
            let fields: Vec<&str> = part.trim().split(':').collect();
            let [name, min, mult] = fields.as_slice() else {
                return Err(ConfigError::Invalid {
                    name: "RAPPORT_TIERS",
                    reason: format!("{part:?} is not name:min_spend_minor:multiplier_pct"),
                });
            };
            Ok(TierRule {
                tier: Tier((*name).to_owned()),
                min_spend_minor: parse_num("RAPPORT_TIERS", min)?,
                multiplier_pct: parse_num("RAPPORT_TIERS", mult)?,
            })
        })
        .collect()
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any name → value lookup, so tests need not touch
    /// the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let number = |name: &'static str, default: i64| {
            get(name).map_or(Ok(default), |raw| parse_num(name, &raw))
        };

        let table = required("RAPPORT_TABLE")?;
        let secret = required("RAPPORT_SIGNING_SECRET")?;
        if secret.len() < 16 {
            return Err(ConfigError::Invalid {
                name: "RAPPORT_SIGNING_SECRET",
                reason: "must be at least 16 bytes".into(),
            });
        }
        let currency_code = get("RAPPORT_CURRENCY").unwrap_or_else(|| "USD".into());
        let currency = Currency::parse("RAPPORT_CURRENCY", &currency_code).map_err(|e| {
            ConfigError::Invalid {
                name: "RAPPORT_CURRENCY",
                reason: e.reason,
            }
        })?;
        let tiers = parse_tiers(&get("RAPPORT_TIERS").unwrap_or_else(|| DEFAULT_TIERS.into()))?;
        let rules = LoyaltyRules::new(
            currency,
            number("RAPPORT_POINTS_PER_UNIT", 1)?,
            tiers,
            number("RAPPORT_POINT_VALUE_MINOR", 1)?,
            number("RAPPORT_COUPON_VALID_DAYS", 90)?,
        )
        .map_err(|e| ConfigError::Invalid {
            name: "RAPPORT_TIERS",
            reason: e.to_string(),
        })?;
        let defaults = ReviewRules::default();
        let reviews = ReviewRules {
            rating_points: number("RAPPORT_REVIEW_POINTS", defaults.rating_points)?,
            body_points: number("RAPPORT_REVIEW_BODY_POINTS", defaults.body_points)?,
            recovery_expiry_days: number(
                "RAPPORT_RECOVERY_EXPIRY_DAYS",
                defaults.recovery_expiry_days,
            )?,
        };
        if reviews.rating_points < 0 || reviews.body_points < 0 || reviews.recovery_expiry_days <= 0
        {
            return Err(ConfigError::Invalid {
                name: "RAPPORT_REVIEW_POINTS",
                reason: "review points must be >= 0 and the recovery expiry > 0 days".into(),
            });
        }
        let d = ReferralRules::default();
        let count = |name: &'static str, default: i64| -> Result<i64, ConfigError> {
            let value = number(name, default)?;
            if value < 0 {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must not be negative".into(),
                });
            }
            Ok(value)
        };
        let referrals = ReferralRules {
            min_order_minor: count("RAPPORT_REFERRAL_MIN_ORDER_MINOR", d.min_order_minor)?,
            referrer_points: count("RAPPORT_REFERRAL_REFERRER_POINTS", d.referrer_points)?,
            referee_points: count("RAPPORT_REFERRAL_REFEREE_POINTS", d.referee_points)?,
            hold_days: count("RAPPORT_REFERRAL_HOLD_DAYS", d.hold_days)?,
            cap_per_30_days: usize::try_from(count(
                "RAPPORT_REFERRAL_CAP_30D",
                d.cap_per_30_days as i64,
            )?)
            .unwrap_or(usize::MAX),
            ambassador_after: u32::try_from(count(
                "RAPPORT_AMBASSADOR_AFTER",
                i64::from(d.ambassador_after),
            )?)
            .unwrap_or(u32::MAX),
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            table,
            signing_secret: secret.into_bytes(),
            signature_tolerance_secs: number("RAPPORT_SIGNATURE_TOLERANCE_SECS", 300)?,
            rules,
            reviews,
            referrals,
            sender_email: optional("RAPPORT_SENDER_EMAIL"),
            support_email: optional("RAPPORT_SUPPORT_EMAIL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_SIGNING_SECRET", "0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.table, "t");
        assert_eq!(c.rules.tiers().len(), 3);
        assert_eq!(c.rules.currency.code(), "USD");
        assert_eq!(c.signature_tolerance_secs, 300);
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn errors_name_the_variable() {
        let e = Config::from_lookup(lookup(&[("RAPPORT_SIGNING_SECRET", "0123456789abcdef")]))
            .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_TABLE"));
        let e = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_SIGNING_SECRET", "0123456789abcdef"),
            ("RAPPORT_TIERS", "bronze:0"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_TIERS"), "{e}");
    }
}
