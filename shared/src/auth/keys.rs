//! Who holds which key: API keys with scopes for signed requests, and the versioned keys
//! of unsubscribe links.
//!
//! Both sets are written the same way wherever they come from — an environment
//! variable locally, a field of a Secrets Manager secret (a JSON object of the same
//! names) in AWS:
//!
//! - `RAPPORT_EVENTS_KEY` / `RAPPORT_ADMIN_KEY`: `<key id>:<secret>`, several separated
//!   by commas while a key is being rotated (the first is the one a client signs with).
//! - `RAPPORT_UNSUBSCRIBE_KEYS`: `<version>:<secret>[:<retired on, YYYY-MM-DD>]`, several
//!   separated by commas. The highest version signs new links; every listed version
//!   verifies, a retired one for [`RETIRED_KEY_GRACE_DAYS`] after the day it was retired.
//! - `RAPPORT_TOMBSTONE_KEY`: the secret erased addresses are kept under, 16 bytes or
//!   more; never changed once set.
//!
//! [`Keys`] keeps a set in memory and, for a secret, looks again when a request names a
//! key id it does not know (at most once per [`REFRESH_AT_MOST_EVERY`], so unknown ids
//! cannot flood Secrets Manager).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

use crate::domain::TombstoneKey;

/// Secrets shorter than this are refused: an HMAC key should carry at least 128 bits.
pub const MIN_SECRET_BYTES: usize = 16;
/// How long links signed with a retired unsubscribe key keep working: more than a year,
/// so a mail found in an archive still unsubscribes (the law asks for 30 days).
pub const RETIRED_KEY_GRACE_DAYS: i64 = 400;
/// Secrets Manager is asked again for an unknown key id at most this often.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

pub const EVENTS_KEY: &str = "RAPPORT_EVENTS_KEY";
pub const ADMIN_KEY: &str = "RAPPORT_ADMIN_KEY";
pub const UNSUBSCRIBE_KEYS: &str = "RAPPORT_UNSUBSCRIBE_KEYS";
pub const TOMBSTONE_KEY: &str = "RAPPORT_TOMBSTONE_KEY";
pub use crate::auth::webhook::{SHOPIFY_WEBHOOK_SECRET, WOOCOMMERCE_WEBHOOK_SECRET};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The storefront: post events, read profiles and referral codes, redeem.
    Events,
    /// The merchant's tools: export, erase, recovery, program, reports — and everything
    /// `events` may do.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Events => "events",
            Scope::Admin => "admin",
        }
    }

    /// Whether a key of this scope may call an operation that needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{setting}: {reason}")]
pub struct KeyError {
    pub setting: &'static str,
    pub reason: String,
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> KeyError {
    KeyError {
        setting,
        reason: reason.into(),
    }
}

/// Key ids travel in a header: short, and made of characters that need no escaping.
pub fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One API key. Its secret never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub scope: Scope,
    secret: Vec<u8>,
}

impl ApiKey {
    pub fn new(id: &str, scope: Scope, secret: &[u8]) -> Result<Self, KeyError> {
        let setting = match scope {
            Scope::Events => EVENTS_KEY,
            Scope::Admin => ADMIN_KEY,
        };
        if !valid_key_id(id) {
            return Err(invalid(
                setting,
                format!("key id {id:?} must be 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'"),
            ));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                setting,
                format!("the secret of key {id} must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            scope,
            secret: secret.to_vec(),
        })
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Splits `a:b,c:d` into its entries, each at most `parts` fields on `:`.
fn entries(raw: &str) -> impl Iterator<Item = Vec<&str>> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| e.splitn(3, ':').collect())
}

/// The API keys in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl SecretSet for ApiKeys {
    const SETTINGS: &'static [&'static str] = &[EVENTS_KEY, ADMIN_KEY];

    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError> {
        let mut keys = Vec::new();
        let mut seen = false;
        for (setting, scope) in [(EVENTS_KEY, Scope::Events), (ADMIN_KEY, Scope::Admin)] {
            let Some(raw) = get(setting).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            seen = true;
            for entry in entries(&raw) {
                // A secret may itself contain ':'; only the first one separates.
                let (id, secret) = match entry.as_slice() {
                    [id, secret] => (*id, (*secret).to_owned()),
                    [id, a, b] => (*id, format!("{a}:{b}")),
                    _ => return Err(invalid(setting, "each key is <key id>:<secret>")),
                };
                keys.push(ApiKey::new(id, scope, secret.as_bytes())?);
            }
        }
        if !seen {
            return Ok(None);
        }
        let mut ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(twice) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(
                EVENTS_KEY,
                format!("key id {} is used twice", twice[0]),
            ));
        }
        Ok(Some(Self { keys }))
    }

    fn knows(&self, id: &str) -> bool {
        self.find(id).is_some()
    }
}

impl ApiKeys {
    pub fn new(keys: Vec<ApiKey>) -> Self {
        Self { keys }
    }

    pub fn find(&self, id: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key a client of `scope` signs with: the first one listed.
    pub fn signer(&self, scope: Scope) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.scope == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// One version of the unsubscribe-link key.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubscribeKey {
    pub version: u32,
    secret: Vec<u8>,
    /// From this day on the key signs no new links; its links keep working for
    /// [`RETIRED_KEY_GRACE_DAYS`].
    pub retired: Option<NaiveDate>,
}

impl UnsubscribeKey {
    pub fn new(version: u32, secret: &[u8], retired: Option<NaiveDate>) -> Result<Self, KeyError> {
        if version == 0 {
            return Err(invalid(UNSUBSCRIBE_KEYS, "versions start at 1"));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                UNSUBSCRIBE_KEYS,
                format!(
                    "the secret of version {version} must be at least {MIN_SECRET_BYTES} bytes"
                ),
            ));
        }
        Ok(Self {
            version,
            secret: secret.to_vec(),
            retired,
        })
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Whether links signed with this version still work at `now`.
    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        self.retired
            .is_none_or(|retired| (now.date_naive() - retired).num_days() <= RETIRED_KEY_GRACE_DAYS)
    }
}

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeKey")
            .field("version", &self.version)
            .field("retired", &self.retired)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The versions of the unsubscribe-link key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeKeys {
    /// Highest version first.
    versions: Vec<UnsubscribeKey>,
}

impl SecretSet for UnsubscribeKeys {
    const SETTINGS: &'static [&'static str] = &[UNSUBSCRIBE_KEYS];

    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError> {
        let Some(raw) = get(UNSUBSCRIBE_KEYS).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let mut versions = Vec::new();
        for entry in entries(&raw) {
            let (version, secret, retired) = match entry.as_slice() {
                [v, s] => (*v, *s, None),
                [v, s, r] => (*v, *s, Some(*r)),
                _ => {
                    return Err(invalid(
                        UNSUBSCRIBE_KEYS,
                        "each key is <version>:<secret>[:<retired on, YYYY-MM-DD>]",
                    ));
                }
            };
            let version = version.parse::<u32>().map_err(|_| {
                invalid(
                    UNSUBSCRIBE_KEYS,
                    format!("{version:?} is not a version number"),
                )
            })?;
            let retired = retired
                .map(|r| {
                    NaiveDate::parse_from_str(r, "%Y-%m-%d").map_err(|_| {
                        invalid(UNSUBSCRIBE_KEYS, format!("{r:?} is not a YYYY-MM-DD date"))
                    })
                })
                .transpose()?;
            versions.push(UnsubscribeKey::new(version, secret.as_bytes(), retired)?);
        }
        Self::new(versions).map(Some)
    }

    fn knows(&self, version: &str) -> bool {
        version
            .parse::<u32>()
            .is_ok_and(|v| self.versions.iter().any(|k| k.version == v))
    }
}

impl UnsubscribeKeys {
    pub fn new(mut versions: Vec<UnsubscribeKey>) -> Result<Self, KeyError> {
        versions.sort_by_key(|k| std::cmp::Reverse(k.version));
        if versions.windows(2).any(|w| w[0].version == w[1].version) {
            return Err(invalid(UNSUBSCRIBE_KEYS, "a version is listed twice"));
        }
        if !versions.iter().any(|k| k.retired.is_none()) {
            return Err(invalid(
                UNSUBSCRIBE_KEYS,
                "at least one version must not be retired",
            ));
        }
        Ok(Self { versions })
    }

    /// The key new links are signed with: the highest version not retired.
    pub fn current(&self) -> &UnsubscribeKey {
        // `new` guarantees one; the first version is the fallback all the same.
        self.versions
            .iter()
            .find(|k| k.retired.is_none())
            .unwrap_or_else(|| &self.versions[0])
    }

    pub fn version(&self, version: u32) -> Option<&UnsubscribeKey> {
        self.versions.iter().find(|k| k.version == version)
    }
}

/// The secret erased customers' tombstones are keyed with: one value that never
/// changes, so it knows every name and is never read again once read.
impl SecretSet for TombstoneKey {
    const SETTINGS: &'static [&'static str] = &[TOMBSTONE_KEY];

    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError> {
        match get(TOMBSTONE_KEY).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(secret) if secret.len() < MIN_SECRET_BYTES => Err(invalid(
                TOMBSTONE_KEY,
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            )),
            Some(secret) => Ok(Some(TombstoneKey::new(secret.as_bytes()))),
        }
    }

    fn knows(&self, _: &str) -> bool {
        true
    }
}

/// A set of keys read from settings: how to build it, and whether it knows a name.
pub trait SecretSet: Sized + Send + Sync + 'static {
    /// The settings it is read from.
    const SETTINGS: &'static [&'static str];
    /// `None` when none of the settings is present.
    fn from_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, KeyError>;
    /// Whether a key of this id (or version) is in the set.
    fn knows(&self, id: &str) -> bool;
}

/// Reads a secret's value: the SecretString of a Secrets Manager secret, in AWS.
#[async_trait]
pub trait SecretReader: Send + Sync {
    async fn read(&self, secret_id: &str) -> Result<String, String>;
}

/// Where a set of keys comes from.
#[derive(Debug, Clone)]
pub enum KeySource<K> {
    /// Given in the environment (locally, in tests).
    Inline(Arc<K>),
    /// A Secrets Manager secret holding a JSON object of the same settings.
    Secret(String),
    /// Not configured: the function needs no keys of this kind.
    Absent,
}

impl<K: SecretSet> KeySource<K> {
    /// Reads the set from its settings, or the id of the secret that holds them from
    /// `secret_setting`.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        secret_setting: &str,
    ) -> Result<Self, KeyError> {
        if let Some(keys) = K::from_settings(get)? {
            return Ok(Self::Inline(Arc::new(keys)));
        }
        Ok(match get(secret_setting).filter(|v| !v.trim().is_empty()) {
            Some(id) => Self::Secret(id.trim().to_owned()),
            None => Self::Absent,
        })
    }
}

/// Parses a secret's value: a JSON object whose fields are the set's settings.
pub fn parse_secret<K: SecretSet>(value: &str) -> Result<K, KeyError> {
    let setting = K::SETTINGS.first().copied().unwrap_or("secret");
    let fields: BTreeMap<String, String> = serde_json::from_str(value).map_err(|_| {
        invalid(
            setting,
            format!(
                "the secret must be a JSON object of strings with {}",
                K::SETTINGS.join(", ")
            ),
        )
    })?;
    K::from_settings(&|name| fields.get(name).cloned())?.ok_or_else(|| {
        invalid(
            setting,
            format!("the secret has none of {}", K::SETTINGS.join(", ")),
        )
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeysUnavailable {
    #[error("no keys are configured ({0})")]
    NotConfigured(&'static str),
    #[error("the key secret could not be read: {0}")]
    Unreadable(String),
}

struct Cached<K> {
    keys: Option<Arc<K>>,
    /// When the secret was last read (or a read last failed).
    read_at: Option<Instant>,
}

/// A set of keys in memory, read from its source on first use and again when a
/// request names a key the set does not know.
pub struct Keys<K> {
    source: KeySource<K>,
    reader: Option<Arc<dyn SecretReader>>,
    cached: RwLock<Cached<K>>,
    /// Serialises reads of the secret, so a burst of cold requests reads it once.
    reading: tokio::sync::Mutex<()>,
    refresh_every: Duration,
}

impl<K> std::fmt::Debug for Keys<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            KeySource::Inline(_) => "inline".to_owned(),
            KeySource::Secret(id) => format!("secret {id}"),
            KeySource::Absent => "absent".to_owned(),
        };
        f.debug_struct("Keys").field("source", &source).finish()
    }
}

impl<K: SecretSet> Keys<K> {
    pub fn new(source: KeySource<K>) -> Self {
        let keys = match &source {
            KeySource::Inline(keys) => Some(keys.clone()),
            _ => None,
        };
        Self {
            source,
            reader: None,
            cached: RwLock::new(Cached {
                keys,
                read_at: None,
            }),
            reading: tokio::sync::Mutex::new(()),
            refresh_every: REFRESH_AT_MOST_EVERY,
        }
    }

    /// Fixed keys, for tests and tools.
    pub fn fixed(keys: K) -> Self {
        Self::new(KeySource::Inline(Arc::new(keys)))
    }

    /// Reads a [`KeySource::Secret`] through `reader`.
    pub fn with_reader(mut self, reader: Arc<dyn SecretReader>) -> Self {
        self.reader = Some(reader);
        self
    }

    /// Changes how often an unknown id may trigger a read (tests shorten it).
    pub fn refresh_at_most_every(self, every: Duration) -> Self {
        Self {
            refresh_every: every,
            ..self
        }
    }

    pub fn source(&self) -> &KeySource<K> {
        &self.source
    }

    fn cached(&self) -> (Option<Arc<K>>, Option<Instant>) {
        match self.cached.read() {
            Ok(c) => (c.keys.clone(), c.read_at),
            Err(poisoned) => {
                let c = poisoned.into_inner();
                (c.keys.clone(), c.read_at)
            }
        }
    }

    /// The keys as known now, read from the secret on first use.
    pub async fn get(&self) -> Result<Arc<K>, KeysUnavailable> {
        if let (Some(keys), _) = self.cached() {
            return Ok(keys);
        }
        self.read(None).await
    }

    /// The keys, read again from the secret first if they do not know `id` and the
    /// last read is old enough.
    pub async fn knowing(&self, id: &str) -> Result<Arc<K>, KeysUnavailable> {
        let keys = self.get().await?;
        if keys.knows(id) || !matches!(self.source, KeySource::Secret(_)) {
            return Ok(keys);
        }
        self.read(Some(id)).await
    }

    async fn read(&self, wanted: Option<&str>) -> Result<Arc<K>, KeysUnavailable> {
        let secret_id = match &self.source {
            KeySource::Inline(keys) => return Ok(keys.clone()),
            KeySource::Absent => {
                return Err(KeysUnavailable::NotConfigured(
                    K::SETTINGS.first().copied().unwrap_or("keys"),
                ));
            }
            KeySource::Secret(id) => id,
        };
        let _reading = self.reading.lock().await;
        // Someone else may have read it while this caller waited.
        let (known, read_at) = self.cached();
        if let Some(keys) = &known {
            let fresh_enough = wanted.is_none_or(|id| keys.knows(id));
            let too_soon = read_at.is_some_and(|at| at.elapsed() < self.refresh_every);
            if fresh_enough || too_soon {
                return Ok(keys.clone());
            }
        }
        let reader = self.reader.as_ref().ok_or_else(|| {
            KeysUnavailable::Unreadable(format!("no reader for secret {secret_id}"))
        })?;
        let outcome = match reader.read(secret_id).await {
            Ok(value) => parse_secret::<K>(&value)
                .map(Arc::new)
                .map_err(|e| KeysUnavailable::Unreadable(e.to_string())),
            Err(e) => Err(KeysUnavailable::Unreadable(e)),
        };
        let mut cached = match self.cached.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        cached.read_at = Some(Instant::now());
        match outcome {
            Ok(keys) => {
                cached.keys = Some(keys.clone());
                Ok(keys)
            }
            // Keys read before keep working while the secret cannot be read.
            Err(e) => match &cached.keys {
                Some(keys) => {
                    tracing::warn!(error = %e, "keeping the keys read before");
                    Ok(keys.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests;
