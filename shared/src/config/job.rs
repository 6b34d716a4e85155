//! The scheduled job's settings, read on top of the functions' [`Config`].

use super::{Config, ConfigError, KeySource, env_lookup, setting};
use crate::domain::outreach::OutreachRules;
use crate::domain::{Email, LoyaltyRules, TombstoneKey};
use crate::service::deliver::DeliverySettings;

/// Buyers the models are fitted on at most, unless `RAPPORT_FIT_SAMPLE` says otherwise:
/// enough that the parameters and the CLV cut-offs move less than a day's new data
/// moves them, few enough that the fit takes seconds and a few hundred MB whatever the
/// shop's size.
pub const DEFAULT_FIT_SAMPLE: usize = 200_000;

/// The scheduled job's settings, on top of [`Config`].
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Parallel scan segments (`RAPPORT_SCAN_SEGMENTS`).
    pub scan_segments: u32,
    /// CLV horizon (`RAPPORT_HORIZON_WEEKS`).
    pub horizon_weeks: f64,
    /// Churn label window and backtest length (`RAPPORT_CHURN_WINDOW_WEEKS`).
    pub churn_window_weeks: f64,
    /// Most buyers the models are fitted on (`RAPPORT_FIT_SAMPLE`): a shop with more
    /// is fitted on a sample of this many, the same whatever the scan's split, and every
    /// customer is still scored.
    pub fit_sample: usize,
    pub rules: OutreachRules,
    pub delivery: DeliverySettings,
    /// The loyalty rules (the program's; the settings' until one is saved): what a
    /// point is worth for the liability in the figures, the tier ladder for demotions.
    pub loyalty: LoyaltyRules,
    /// The program's spend gifts (none until a program gives some).
    pub spend_gifts: Vec<crate::domain::program::SpendGift>,
    /// Messages delivered at once (`RAPPORT_SEND_CONCURRENCY`).
    pub send_concurrency: usize,
    /// Customers whose outreach is done before their job state (scores and message
    /// history) is written back (`RAPPORT_WRITE_BATCH`): a run stopped at any point
    /// has written all but at most one batch of what it did.
    pub write_batch: usize,
    /// The SES configuration set whose events report bounces and complaints.
    pub ses_configuration_set: Option<String>,
    /// The share of the SES account's send rate the job uses (`RAPPORT_SES_RATE_SHARE`,
    /// 0–1): the rest is left to the functions' alerts and anything else that sends
    /// from the account.
    pub ses_rate_share: f64,
    /// A send rate, messages per second, the job never exceeds whatever the account
    /// allows (`RAPPORT_SES_MAX_SEND_RATE`).
    pub ses_max_send_rate: Option<f64>,
    /// Where the link to each run's report is mailed (`RAPPORT_REPORT_EMAIL`); unset:
    /// none is mailed. Only a run by steps stores its report where a link can reach it.
    pub report_to: Option<Email>,
    /// How long that link works, in days (`RAPPORT_REPORT_LINK_DAYS`).
    pub report_link_days: i64,
    /// To look up erased customers' tombstones (the functions' `RAPPORT_TOMBSTONE_KEY`);
    /// read from its secret when the job starts (bootstrap).
    pub tombstone_key: TombstoneKey,
}

impl JobConfig {
    pub fn from_env(config: &Config) -> Result<Self, ConfigError> {
        Self::from_lookup(config, env_lookup)
    }

    /// The job's settings from `get`, on top of the functions' `config`.
    pub fn from_lookup(
        config: &Config,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let rules = OutreachRules {
            recovery_expiry_days: config.reviews.recovery_expiry_days,
            ..config.outreach.clone()
        };
        let tips = config.outreach.tips.clone();
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            scan_segments: setting(&get, "RAPPORT_SCAN_SEGMENTS", 4u32)?.max(1),
            horizon_weeks: setting(&get, "RAPPORT_HORIZON_WEEKS", 52.0)?,
            churn_window_weeks: setting(&get, "RAPPORT_CHURN_WINDOW_WEEKS", 13.0)?,
            fit_sample: setting(&get, "RAPPORT_FIT_SAMPLE", DEFAULT_FIT_SAMPLE)?.max(1),
            rules,
            delivery: DeliverySettings {
                shop_name: optional("RAPPORT_SHOP_NAME").unwrap_or_else(|| "Rapport".into()),
                from: config.sender_email.clone().unwrap_or_default(),
                public_base_url: optional("RAPPORT_PUBLIC_URL").unwrap_or_default(),
                unsubscribe_keys: match &config.unsubscribe_keys {
                    KeySource::Inline(keys) => Some(keys.clone()),
                    // Read from the secret when the job starts (bootstrap).
                    KeySource::Secret(_) | KeySource::Absent => None,
                },
                coupon_valid_days: config.rules.coupon_valid_days,
                review_points: config.reviews.body_points,
                tips,
                rewards: Vec::new(),
                festivals: config.outreach.festivals.clone(),
                points_expiry_months: None,
                wording: Default::default(),
                max_send_attempts: 6,
                claim_lease: chrono::Duration::minutes(setting(
                    &get,
                    "RAPPORT_CLAIM_LEASE_MINUTES",
                    30i64,
                )?),
            },
            send_concurrency: setting(&get, "RAPPORT_SEND_CONCURRENCY", 8usize)?.max(1),
            write_batch: setting(&get, "RAPPORT_WRITE_BATCH", 200usize)?.max(1),
            loyalty: config.rules.clone(),
            spend_gifts: Vec::new(),
            ses_configuration_set: optional("RAPPORT_SES_CONFIGURATION_SET"),
            ses_rate_share: setting(&get, "RAPPORT_SES_RATE_SHARE", 0.9f64)?.clamp(0.01, 1.0),
            ses_max_send_rate: optional("RAPPORT_SES_MAX_SEND_RATE")
                .map(|_| setting(&get, "RAPPORT_SES_MAX_SEND_RATE", 0.0f64))
                .transpose()?
                .filter(|r| *r > 0.0),
            report_to: optional("RAPPORT_REPORT_EMAIL")
                .map(|raw| {
                    Email::parse("RAPPORT_REPORT_EMAIL", raw.trim()).map_err(|e| {
                        ConfigError::Invalid {
                            name: "RAPPORT_REPORT_EMAIL",
                            reason: e.reason,
                        }
                    })
                })
                .transpose()?,
            report_link_days: config.report_link_days,
            tombstone_key: match &config.tombstone_key {
                KeySource::Inline(key) => key.as_ref().clone(),
                KeySource::Secret(_) | KeySource::Absent => TombstoneKey::unset(),
            },
        })
    }

    /// Whether mail can be sent: a From address and the public URL unsubscribe links
    /// point to.
    pub fn can_send(&self) -> Result<(), ConfigError> {
        if self.delivery.from.is_empty() {
            return Err(ConfigError::Missing("RAPPORT_SENDER_EMAIL"));
        }
        if self.delivery.public_base_url.is_empty() {
            return Err(ConfigError::Missing("RAPPORT_PUBLIC_URL"));
        }
        if self.delivery.unsubscribe_keys.is_none() {
            return Err(ConfigError::Missing("RAPPORT_UNSUBSCRIBE_KEYS"));
        }
        Ok(())
    }
}
