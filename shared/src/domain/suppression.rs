//! Addresses Rapport must never mail again: hard bounces and complaints reported by SES,
//! and the addresses of erased customers.
//!
//! Suppressions are keyed by a hash of the address, not the address itself, so the list
//! can outlive the customer data it came from (an erased customer stays unmailable).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// The stable key of an address: SHA-256 of its trimmed, lowercased form, in hex.
/// Mailbox providers treat the domain case-insensitively and, in practice, the local
/// part too.
pub fn address_key(address: &str) -> String {
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Email {
    pub fn address_key(&self) -> String {
        address_key(self.as_str())
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
}
