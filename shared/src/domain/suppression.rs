//! Addresses Rapport must never mail again: hard bounces and complaints reported by SES,
//! and the addresses of erased customers.
//!
//! Suppressions are keyed by a hash of the address, not the address itself, so the list
//! can outlive the customer data it came from (an erased customer stays unmailable).
//!
//! Bounces and complaints are keyed by the bare SHA-256 of the address. An erased
//! customer's tombstone is keyed by an HMAC with a secret ([`TombstoneKey`]): addresses
//! are easy to guess, so a bare hash would let anyone who reads the table test
//! candidates and find who was erased. Tombstones written before the secret was set are
//! bare SHA-256 too, so lookups ask for both forms ([`TombstoneKey::lookups`]).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::Email;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionCause {
    /// A permanent bounce: the mailbox does not exist or refuses mail for good.
    Bounce,
    /// The recipient marked a message as spam.
    Complaint,
    /// The customer's personal data was erased: the address is kept only as this
    /// hash, so that it is never mailed again.
    Erased,
}

/// One suppressed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// [`address_key`] of the address.
    pub address_key: String,
    pub cause: SuppressionCause,
    /// The provider's detail (bounce subtype, complaint feedback type).
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// The address as it is hashed: trimmed and lowercased. Mailbox providers treat the
/// domain case-insensitively and, in practice, the local part too.
fn normalised(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The bare key of an address: SHA-256 of its normalised form, in hex. Bounces and
/// complaints are kept under it, and so are tombstones from before [`TombstoneKey`].
pub fn address_key(address: &str) -> String {
    hex::encode(Sha256::digest(normalised(address).as_bytes()))
}

impl Email {
    pub fn address_key(&self) -> String {
        address_key(self.as_str())
    }
}

/// The secret an erased customer's address is hashed with for its tombstone
/// (`RAPPORT_TOMBSTONE_KEY`). It must stay the same for as long as tombstones matter:
/// under another secret, the tombstones written before no longer match.
#[derive(Clone, Default)]
pub struct TombstoneKey(Option<Arc<[u8]>>);

impl std::fmt::Debug for TombstoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "TombstoneKey(<redacted>)",
            None => "TombstoneKey(unset: bare SHA-256)",
        })
    }
}

impl TombstoneKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(Some(secret.into()))
    }

    /// Without a secret: tombstones are written as bare SHA-256, as before there was one.
    pub fn unset() -> Self {
        Self(None)
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The key `address`'s tombstone is written under: HMAC-SHA256 of its normalised
    /// form with the secret, in hex; the bare [`address_key`] when no secret is set.
    pub fn tombstone(&self, address: &Email) -> String {
        let Some(secret) = &self.0 else {
            return address.address_key();
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(normalised(address.as_str()).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Every key `address` may be suppressed under, the keyed one first: its
    /// tombstone, and the bare SHA-256 of bounces, complaints and tombstones written
    /// before the secret was set. Whatever asks whether an address is suppressed asks
    /// for all of them.
    pub fn lookups(&self, address: &Email) -> Vec<String> {
        let bare = address.address_key();
        let keyed = self.tombstone(address);
        if keyed == bare {
            vec![bare]
        } else {
            vec![keyed, bare]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_ignores_case_and_surrounding_space() {
        assert_eq!(
            address_key(" Asha@Example.COM "),
            address_key("asha@example.com")
        );
        assert_ne!(
            address_key("asha@example.com"),
            address_key("asha2@example.com")
        );
        assert_eq!(address_key("a@b.co").len(), 64);
    }

    #[test]
    fn tombstones_are_keyed_and_lookups_also_find_the_bare_hash() {
        let asha = Email::parse("email", "Asha@Example.com").unwrap();
        let key = TombstoneKey::new(b"0123456789abcdef0123");
        let tombstone = key.tombstone(&asha);
        assert_eq!(tombstone.len(), 64);
        assert_ne!(
            tombstone,
            address_key("asha@example.com"),
            "not the bare hash"
        );
        assert_eq!(
            tombstone,
            key.tombstone(&Email::parse("email", "asha@example.COM").unwrap())
        );
        assert_ne!(
            tombstone,
            TombstoneKey::new(b"another secret, another key").tombstone(&asha)
        );
        assert_eq!(
            key.lookups(&asha),
            [tombstone, address_key("asha@example.com")]
        );
        // Without a secret, as before.
        let unset = TombstoneKey::unset();
        assert_eq!(unset.tombstone(&asha), address_key("asha@example.com"));
        assert_eq!(unset.lookups(&asha), [address_key("asha@example.com")]);
        assert!(!format!("{key:?}").contains("0123456789"));
    }
}
