//! Settings read once at cold start from the environment that template.yaml sets:
//! [`Config`] for every function, [`JobConfig`] on top of it for the scheduled job.
//! Resource names and secrets are never hard-coded, and nothing else reads the
//! environment.

use thiserror::Error;

use crate::auth::keys::{ApiKeys, KeySource, UnsubscribeKeys};
use crate::auth::webhook::WebhookSecrets;
use crate::domain::outreach::OutreachRules;
use crate::domain::outreach::festivals::shipped_calendar;
use crate::domain::outreach::tips::{Tip, tip_problems};
use crate::domain::program::{Program, ProgramRules};
use crate::domain::{
    Currency, EventWindow, LoyaltyRules, ReferralRules, ReviewRules, Sku, Tier, TierRule,
    TombstoneKey,
};
use crate::shop_api::{ShopCredentials, ShopEndpoints};

mod job;

pub use job::{DEFAULT_FIT_SAMPLE, JobConfig};

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
    /// The API keys requests are signed with: `RAPPORT_EVENTS_KEY` and
    /// `RAPPORT_ADMIN_KEY`, or the Secrets Manager secret `RAPPORT_API_KEYS_SECRET` names.
    pub api_keys: KeySource<ApiKeys>,
    /// The keys of unsubscribe links: `RAPPORT_UNSUBSCRIBE_KEYS`, or the secret
    /// `RAPPORT_UNSUBSCRIBE_KEYS_SECRET` names.
    pub unsubscribe_keys: KeySource<UnsubscribeKeys>,
    /// How often, at most, a request naming an unknown key id makes a function read its
    /// keys' secret again (`RAPPORT_KEYS_REFRESH_SECS`).
    pub keys_refresh: std::time::Duration,
    /// How far a signature's timestamp may be from now, in seconds.
    pub signature_tolerance_secs: i64,
    pub rules: LoyaltyRules,
    pub reviews: ReviewRules,
    pub referrals: ReferralRules,
    /// The outreach policy's settings, the program's `messages` until one is saved.
    pub outreach: OutreachRules,
    /// The From address of mail Rapport sends (`RAPPORT_SENDER_EMAIL`).
    pub sender_email: Option<String>,
    /// Where service-recovery alerts go (`RAPPORT_SUPPORT_EMAIL`); unset: logged only.
    pub support_email: Option<String>,
    /// The API's public base URL (`RAPPORT_PUBLIC_URL`), that links in mail point to.
    pub public_url: Option<String>,
    /// How long a link to a run's report works, in days (`RAPPORT_REPORT_LINK_DAYS`).
    pub report_link_days: i64,
    /// The most an export page may hold, in bytes (`RAPPORT_EXPORT_PAGE_BYTES`): under
    /// the 6 MB a Lambda function may answer, with room for headers.
    pub export_page_bytes: usize,
    /// Keys erased customers' addresses on the suppression list:
    /// `RAPPORT_TOMBSTONE_KEY`, or the secret `RAPPORT_TOMBSTONE_KEY_SECRET` names;
    /// neither: bare SHA-256, as before there was one.
    pub tombstone_key: KeySource<TombstoneKey>,
    /// The secrets storefront platforms sign webhooks with:
    /// `RAPPORT_SHOPIFY_WEBHOOK_SECRET`, or the secret `RAPPORT_STOREFRONT_SECRET` names.
    pub webhook_secrets: KeySource<WebhookSecrets>,
    /// The one Shopify shop whose webhooks are taken (`RAPPORT_SHOPIFY_SHOP_DOMAIN`,
    /// e.g. `tea-house.myshopify.com`); unset: none are.
    pub shopify_shop_domain: Option<String>,
    /// How long a function decides by the program version it read before reading the
    /// version in force again (`RAPPORT_PROGRAM_CACHE_SECS`).
    pub program_cache: std::time::Duration,
    /// Where the stores' admin APIs are, for creating Rapport's codes there.
    pub shop_endpoints: ShopEndpoints,
    /// The stores' API credentials (`RAPPORT_SHOPIFY_ADMIN_TOKEN`,
    /// `RAPPORT_WOOCOMMERCE_KEY`/`SECRET`, or the secret `RAPPORT_SHOP_API_SECRET`
    /// names); absent: codes exist in Rapport only.
    pub shop_credentials: KeySource<ShopCredentials>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("api_keys", &self.api_keys)
            .field("unsubscribe_keys", &self.unsubscribe_keys)
            .field("keys_refresh", &self.keys_refresh)
            .field("signature_tolerance_secs", &self.signature_tolerance_secs)
            .field("rules", &self.rules)
            .field("reviews", &self.reviews)
            .field("referrals", &self.referrals)
            .field("sender_email", &self.sender_email)
            .field("support_email", &self.support_email)
            .field("public_url", &self.public_url)
            .field("report_link_days", &self.report_link_days)
            .field("export_page_bytes", &self.export_page_bytes)
            .field("tombstone_key", &self.tombstone_key)
            .field("webhook_secrets", &self.webhook_secrets)
            .field("shopify_shop_domain", &self.shopify_shop_domain)
            .field("shop_endpoints", &self.shop_endpoints)
            .field("shop_credentials", &self.shop_credentials)
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
                threshold: parse_num("RAPPORT_TIERS", min)?,
                multiplier_pct: parse_num("RAPPORT_TIERS", mult)?,
                ..TierRule::default()
            })
        })
        .collect()
}

/// How far from the clock event times may be: `RAPPORT_EVENT_MAX_AHEAD_SECS` ahead,
/// `RAPPORT_EVENT_MAX_AGE_DAYS` back (raised for an import of older history).
fn event_window(
    number: &impl Fn(&'static str, i64) -> Result<i64, ConfigError>,
) -> Result<EventWindow, ConfigError> {
    let defaults = EventWindow::default();
    let ahead = number(
        "RAPPORT_EVENT_MAX_AHEAD_SECS",
        defaults.max_ahead.num_seconds(),
    )?;
    let age = number("RAPPORT_EVENT_MAX_AGE_DAYS", defaults.max_age.num_days())?;
    let invalid = |name, reason: &str| ConfigError::Invalid {
        name,
        reason: reason.into(),
    };
    let max_ahead = chrono::Duration::try_seconds(ahead)
        .filter(|d| *d >= chrono::Duration::zero())
        .ok_or_else(|| invalid("RAPPORT_EVENT_MAX_AHEAD_SECS", "must be 0 or more seconds"))?;
    let max_age = chrono::Duration::try_days(age)
        .filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(|| invalid("RAPPORT_EVENT_MAX_AGE_DAYS", "must be 1 or more days"))?;
    Ok(EventWindow { max_ahead, max_age })
}

/// The process environment as a name → value lookup.
/// A store's base URL: HTTPS, or plain HTTP to this machine (a local stand-in). The
/// credentials travel with every call.
fn store_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            url.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let https = url
        .strip_prefix("https://")
        .is_some_and(|host| !host.is_empty());
    match https || local {
        true => Ok(url.to_owned()),
        false => Err(ConfigError::Invalid {
            name,
            reason: "must be an https:// URL (plain http only to this machine)".into(),
        }),
    }
}

pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads one setting of any type that parses, with a default.
fn setting<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a valid value"),
        }),
        None => Ok(default),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_lookup)
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
        if get("RAPPORT_SIGNING_SECRET").is_some() {
            return Err(ConfigError::Invalid {
                name: "RAPPORT_SIGNING_SECRET",
                reason: "one shared secret no longer signs requests: set RAPPORT_EVENTS_KEY and \
                         RAPPORT_ADMIN_KEY (<key id>:<secret>) and RAPPORT_UNSUBSCRIBE_KEYS \
                         (1:<the old secret> keeps links already mailed working), or their \
                         secrets (README, Keys)"
                    .into(),
            });
        }
        let keys_error = |e: crate::auth::keys::KeyError| ConfigError::Invalid {
            name: e.setting,
            reason: e.reason,
        };
        let api_keys =
            KeySource::from_lookup(&get, "RAPPORT_API_KEYS_SECRET").map_err(keys_error)?;
        let unsubscribe_keys =
            KeySource::from_lookup(&get, "RAPPORT_UNSUBSCRIBE_KEYS_SECRET").map_err(keys_error)?;
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
        })?
        .with_event_window(event_window(&number)?);
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
        // A separate secret, not derived from a signing key: those rotate, and this one
        // must not change (tombstones written under another secret no longer match).
        let tombstone_key =
            KeySource::from_lookup(&get, "RAPPORT_TOMBSTONE_KEY_SECRET").map_err(keys_error)?;
        if let KeySource::Absent = tombstone_key {
            tracing::warn!(
                "RAPPORT_TOMBSTONE_KEY is not set: erased addresses are kept as bare SHA-256"
            );
        }
        let webhook_secrets =
            KeySource::from_lookup(&get, "RAPPORT_STOREFRONT_SECRET").map_err(keys_error)?;
        let shopify_shop_domain =
            optional("RAPPORT_SHOPIFY_SHOP_DOMAIN").map(|d| d.trim().to_ascii_lowercase());
        let shopify_admin = match optional("RAPPORT_SHOPIFY_ADMIN_URL") {
            Some(url) => Some(store_url("RAPPORT_SHOPIFY_ADMIN_URL", &url)?),
            None => shopify_shop_domain.as_ref().map(|d| format!("https://{d}")),
        };
        let shop_endpoints = ShopEndpoints {
            shopify: shopify_admin,
            woocommerce: optional("RAPPORT_WOOCOMMERCE_URL")
                .map(|url| store_url("RAPPORT_WOOCOMMERCE_URL", &url))
                .transpose()?,
        };
        let shop_credentials =
            KeySource::from_lookup(&get, "RAPPORT_SHOP_API_SECRET").map_err(keys_error)?;
        Ok(Self {
            table,
            api_keys,
            unsubscribe_keys,
            keys_refresh: std::time::Duration::from_secs(setting(
                &get,
                "RAPPORT_KEYS_REFRESH_SECS",
                crate::auth::keys::REFRESH_AT_MOST_EVERY.as_secs(),
            )?),
            signature_tolerance_secs: number("RAPPORT_SIGNATURE_TOLERANCE_SECS", 300)?,
            rules,
            reviews,
            referrals,
            outreach: outreach_rules(&get)?,
            sender_email: optional("RAPPORT_SENDER_EMAIL"),
            support_email: optional("RAPPORT_SUPPORT_EMAIL"),
            public_url: optional("RAPPORT_PUBLIC_URL"),
            report_link_days: number(
                "RAPPORT_REPORT_LINK_DAYS",
                crate::auth::report_link::DEFAULT_LINK_DAYS,
            )?
            .clamp(1, 366),
            export_page_bytes: setting(&get, "RAPPORT_EXPORT_PAGE_BYTES", 4usize << 20)?
                .clamp(1024, 5 << 20),
            tombstone_key,
            webhook_secrets,
            shopify_shop_domain,
            program_cache: std::time::Duration::from_secs(setting(
                &get,
                "RAPPORT_PROGRAM_CACHE_SECS",
                30u64,
            )?),
            shop_endpoints,
            shop_credentials,
        })
    }
}

/// A tips catalogue file: the program's `tips` (a JSON array of tips), or a JSON object
/// of sku → how-to lines, each line a tip with only a title.
pub fn read_tips(path: &std::path::Path) -> Result<Vec<Tip>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "RAPPORT_TIPS_FILE",
        reason: format!("{}: {reason}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(format!("reading: {e}")))?;
    let tips = match serde_json::from_str::<Vec<Tip>>(&text) {
        Ok(tips) => tips,
        Err(_) => {
            let lines: std::collections::BTreeMap<String, Vec<String>> =
                serde_json::from_str(&text).map_err(|e| {
                    invalid(format!(
                        "neither an array of tips nor an object of sku → lines: {e}"
                    ))
                })?;
            let mut tips = Vec::new();
            for (sku, lines) in lines {
                let sku = Sku::parse("sku", &sku).map_err(|e| invalid(e.to_string()))?;
                tips.extend(lines.into_iter().map(|line| Tip::line(&sku, line)));
            }
            tips
        }
    };
    match tip_problems(&tips).first() {
        Some(problem) => Err(invalid(problem.to_string())),
        None => Ok(tips),
    }
}

/// The outreach policy's settings (`RAPPORT_QUIET_HOURS`, `RAPPORT_MAX_PER_7_DAYS`,
/// `RAPPORT_MAX_PER_30_DAYS`, `RAPPORT_HOLDOUT_PCT`, and `RAPPORT_FESTIVALS`: `shipped`,
/// the default, or `none`): the defaults of the program's `messages` and `festivals`
/// until the merchant saves a program.
fn outreach_rules(get: &impl Fn(&str) -> Option<String>) -> Result<OutreachRules, ConfigError> {
    let (quiet_start, quiet_end) = match get("RAPPORT_QUIET_HOURS") {
        Some(raw) => {
            let invalid = || ConfigError::Invalid {
                name: "RAPPORT_QUIET_HOURS",
                reason: format!("{raw:?} is not START-END in hours 0-23, e.g. 21-9"),
            };
            let (a, b) = raw.split_once('-').ok_or_else(invalid)?;
            let hour = |h: &str| h.trim().parse::<u32>().ok().filter(|h| *h <= 23);
            (hour(a).ok_or_else(invalid)?, hour(b).ok_or_else(invalid)?)
        }
        None => (21, 9),
    };
    let defaults = OutreachRules::default();
    let rules = OutreachRules {
        max_per_7_days: setting(get, "RAPPORT_MAX_PER_7_DAYS", defaults.max_per_7_days)?,
        max_per_30_days: setting(get, "RAPPORT_MAX_PER_30_DAYS", defaults.max_per_30_days)?,
        quiet_start,
        quiet_end,
        holdout_pct: setting(get, "RAPPORT_HOLDOUT_PCT", defaults.holdout_pct)?,
        tips: match get("RAPPORT_TIPS_FILE").filter(|p| !p.trim().is_empty()) {
            Some(path) => read_tips(std::path::Path::new(&path))?,
            None => Vec::new(),
        },
        festivals: match get("RAPPORT_FESTIVALS").as_deref().map(str::trim) {
            None | Some("" | "shipped") => {
                shipped_calendar().map_err(|e| ConfigError::Invalid {
                    name: "RAPPORT_FESTIVALS",
                    reason: e.to_string(),
                })?
            }
            Some("none") => Vec::new(),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "RAPPORT_FESTIVALS",
                    reason: format!("{other:?} is not \"shipped\" or \"none\""),
                });
            }
        },
        ..defaults
    };
    if rules.holdout_pct > 100 {
        return Err(ConfigError::Invalid {
            name: "RAPPORT_HOLDOUT_PCT",
            reason: "must be 0-100".into(),
        });
    }
    Ok(rules)
}

impl Config {
    /// The deployment's settings as a program document (version 0).
    pub fn settings_program(&self) -> Program {
        Program::from_rules(&self.rules, &self.reviews, &self.referrals, &self.outreach)
    }

    /// The rules of version 0, until the merchant saves a program.
    pub fn settings_rules(&self) -> ProgramRules {
        ProgramRules::settings(&self.rules, &self.reviews, &self.referrals, &self.outreach)
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
            ("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.table, "t");
        assert_eq!(c.rules.tiers().len(), 3);
        assert_eq!(c.rules.currency.code(), "USD");
        assert_eq!(c.signature_tolerance_secs, 300);
        assert!(matches!(c.api_keys, KeySource::Inline(_)));
        assert!(matches!(c.unsubscribe_keys, KeySource::Absent));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        assert!(matches!(c.tombstone_key, KeySource::Absent));
        let c = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef"),
            ("RAPPORT_TOMBSTONE_KEY", "tombstones-fedcba9876"),
        ]))
        .unwrap();
        assert!(matches!(&c.tombstone_key, KeySource::Inline(k) if k.is_set()));
        assert!(!format!("{c:?}").contains("fedcba9876"));
        let c = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef"),
            ("RAPPORT_TOMBSTONE_KEY_SECRET", "rapport/tombstone-key"),
        ]))
        .unwrap();
        assert!(matches!(&c.tombstone_key, KeySource::Secret(id) if id == "rapport/tombstone-key"));
    }

    #[test]
    fn stores_are_reached_over_https_or_on_this_machine_and_credentials_stay_hidden() {
        let base = [
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::from_lookup(lookup(&all))
        };
        let c = with(&[
            ("RAPPORT_SHOPIFY_SHOP_DOMAIN", "Tea-House.myshopify.com"),
            ("RAPPORT_WOOCOMMERCE_URL", "https://shop.example.com/"),
            ("RAPPORT_SHOPIFY_ADMIN_TOKEN", "shpat_0123456789"),
        ])
        .unwrap();
        assert_eq!(
            c.shop_endpoints.shopify.as_deref(),
            Some("https://tea-house.myshopify.com")
        );
        assert_eq!(
            c.shop_endpoints.woocommerce.as_deref(),
            Some("https://shop.example.com")
        );
        assert!(matches!(c.shop_credentials, KeySource::Inline(_)));
        assert!(!format!("{c:?}").contains("shpat_0123456789"));
        let local = with(&[("RAPPORT_SHOPIFY_ADMIN_URL", "http://127.0.0.1:4010")]).unwrap();
        assert_eq!(
            local.shop_endpoints.shopify.as_deref(),
            Some("http://127.0.0.1:4010")
        );
        for (name, url) in [
            ("RAPPORT_WOOCOMMERCE_URL", "http://shop.example.com"),
            ("RAPPORT_SHOPIFY_ADMIN_URL", "http://127.0.0.1.evil.example"),
            ("RAPPORT_WOOCOMMERCE_URL", "ftp://shop.example.com"),
        ] {
            let e = with(&[(name, url)]).unwrap_err();
            assert!(e.to_string().contains(name), "{url}: {e}");
        }
        let secret = with(&[("RAPPORT_SHOP_API_SECRET", "rapport/shop-api")]).unwrap();
        assert!(
            matches!(&secret.shop_credentials, KeySource::Secret(id) if id == "rapport/shop-api")
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let e = Config::from_lookup(lookup(&[("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef")]))
            .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_TABLE"));
        let e = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_TIERS", "bronze:0"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_TIERS"), "{e}");
        let e = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_ADMIN_KEY", "admin-1:short"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_ADMIN_KEY"), "{e}");
        // The one shared secret of before is named, with what replaces it.
        let e = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_SIGNING_SECRET", "0123456789abcdef"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("RAPPORT_EVENTS_KEY"), "{e}");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
    }

    #[test]
    fn keys_from_secrets() {
        let c = Config::from_lookup(lookup(&[
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_API_KEYS_SECRET", "rapport/api-keys"),
            (
                "RAPPORT_UNSUBSCRIBE_KEYS_SECRET",
                "rapport/unsubscribe-keys",
            ),
        ]))
        .unwrap();
        assert!(matches!(&c.api_keys, KeySource::Secret(id) if id == "rapport/api-keys"));
        assert!(
            matches!(&c.unsubscribe_keys, KeySource::Secret(id) if id == "rapport/unsubscribe-keys")
        );
    }

    #[test]
    fn the_event_window_is_configurable_for_history_imports() {
        let base = [
            ("RAPPORT_TABLE", "t"),
            ("RAPPORT_EVENTS_KEY", "shop-1:0123456789abcdef"),
        ];
        let c = Config::from_lookup(lookup(&base)).unwrap();
        assert_eq!(c.rules.events, EventWindow::default());
        let c = Config::from_lookup(lookup(
            &[
                &base[..],
                &[
                    ("RAPPORT_EVENT_MAX_AHEAD_SECS", "60"),
                    ("RAPPORT_EVENT_MAX_AGE_DAYS", "7300"),
                ],
            ]
            .concat(),
        ))
        .unwrap();
        assert_eq!(c.rules.events.max_ahead, chrono::Duration::seconds(60));
        assert_eq!(c.rules.events.max_age, chrono::Duration::days(7300));
        for (name, bad) in [
            ("RAPPORT_TOMBSTONE_KEY", "short"),
            ("RAPPORT_EVENT_MAX_AHEAD_SECS", "-1"),
            ("RAPPORT_EVENT_MAX_AGE_DAYS", "0"),
            ("RAPPORT_EVENT_MAX_AGE_DAYS", "9223372036854775807"),
        ] {
            let e = Config::from_lookup(lookup(&[&base[..], &[(name, bad)]].concat())).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
