//! One-click unsubscribe links (RFC 8058): a token that names the customer and carries
//! an HMAC, so a link in a mail can opt out exactly that customer and nobody can forge
//! one for another.
//!
//! Tokens are `<customer id>.v<version>.<hex tag>`, signed with that version of the
//! unsubscribe key ([`UnsubscribeKeys`]); the key is separate from every API key, so a
//! token can never be replayed as a request signature or the other way round. A link
//! keeps working as long as its version verifies: always for a version in force, for
//! [`RETIRED_KEY_GRACE_DAYS`](super::keys::RETIRED_KEY_GRACE_DAYS) once retired. Links
//! mailed before tokens carried a version (`<customer id>.<hex tag>`) are version 1.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{UnsubscribeKey, UnsubscribeKeys};
use crate::domain::CustomerId;

pub(super) type HmacSha256 = Hmac<Sha256>;

/// An HMAC keyed by `key` derived under `label`: each kind of token the unsubscribe key
/// signs has a label of its own, so no token of one kind verifies as another.
pub(super) fn derived_mac(key: &UnsubscribeKey, label: &[u8]) -> HmacSha256 {
    let mut derive = <HmacSha256 as Mac>::new_from_slice(key.secret())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    derive.update(label);
    let derived = derive.finalize().into_bytes();
    <HmacSha256 as Mac>::new_from_slice(&derived)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

fn mac(key: &UnsubscribeKey, customer: &str) -> HmacSha256 {
    let mut mac = derived_mac(key, b"rapport-unsubscribe-v1");
    mac.update(customer.as_bytes());
    mac
}

/// The token for `customer`, signed with the current key.
pub fn token(keys: &UnsubscribeKeys, customer: &CustomerId) -> String {
    let key = keys.current();
    let tag = mac(key, customer.as_str()).finalize().into_bytes();
    format!("{customer}.v{}.{}", key.version, hex::encode(tag))
}

/// Whether `tag` is `customer`'s under `version`, and that version still verifies.
fn check(
    keys: &UnsubscribeKeys,
    version: u32,
    customer: &str,
    tag: &str,
    now: DateTime<Utc>,
) -> bool {
    let Some(key) = keys.version(version).filter(|k| k.verifies_at(now)) else {
        return false;
    };
    let Ok(tag) = hex::decode(tag) else {
        return false;
    };
    // Constant-time comparison.
    mac(key, customer).verify_slice(&tag).is_ok()
}

/// The customer a token names, if its tag is right for a version that still verifies.
pub fn verify(keys: &UnsubscribeKeys, token: &str, now: DateTime<Utc>) -> Option<CustomerId> {
    let (rest, tag) = token.rsplit_once('.')?;
    // `<customer>.v<N>`, or a customer id that itself ends in `.v<digits>` in a token
    // from before versions (both readings are tried; each is checked by its MAC).
    let versioned = rest.rsplit_once('.').and_then(|(customer, version)| {
        let version = version.strip_prefix('v')?.parse::<u32>().ok()?;
        check(keys, version, customer, tag, now).then_some(customer)
    });
    let customer = versioned.or_else(|| check(keys, 1, rest, tag, now).then_some(rest))?;
    CustomerId::parse("token", customer).ok()
}

/// The `List-Unsubscribe` URL for `customer` under the API's public base URL.
pub fn url(base_url: &str, keys: &UnsubscribeKeys, customer: &CustomerId) -> String {
    let token = token(keys, customer);
    let encoded: String = token
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!(
        "{}/v1/unsubscribe?token={encoded}",
        base_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn keys(spec: &[(u32, &[u8], Option<&str>)]) -> UnsubscribeKeys {
        UnsubscribeKeys::new(
            spec.iter()
                .map(|(v, s, r)| {
                    let retired = r.map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
                    UnsubscribeKey::new(*v, s, retired).unwrap()
                })
                .collect(),
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    const SECRET: &[u8] = b"unsubscribe-test-secret";

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let k = keys(&[(1, SECRET, None)]);
        let c = CustomerId::parse("id", "cust.42@shop").unwrap();
        let t = token(&k, &c);
        assert!(t.starts_with("cust.42@shop.v1."), "{t}");
        assert_eq!(verify(&k, &t, now()), Some(c.clone()));
        assert_eq!(
            verify(&keys(&[(1, b"another-secret-0000", None)]), &t, now()),
            None
        );
        let other = t.replacen("cust.42", "cust.43", 1);
        assert_eq!(verify(&k, &other, now()), None);
        let mut flipped = t.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(verify(&k, &flipped, now()), None);
        for bad in ["", "nodot", ".", "c.zz", "c.", "c.v1.zz", "c.v.00"] {
            assert_eq!(verify(&k, bad, now()), None, "{bad}");
        }
    }

    #[test]
    fn rotation_keeps_old_links_for_the_grace_period() {
        let c = CustomerId::parse("id", "c1").unwrap();
        let before = token(&keys(&[(1, SECRET, None)]), &c);
        let rotated = keys(&[
            (2, b"the-second-secret-0000", None),
            (1, SECRET, Some("2026-11-01")),
        ]);
        let after = token(&rotated, &c);
        assert!(after.starts_with("c1.v2."), "{after}");
        assert_eq!(verify(&rotated, &after, now()), Some(c.clone()));
        assert_eq!(
            verify(&rotated, &before, now()),
            Some(c.clone()),
            "an old link"
        );
        let later = "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + Duration::days(crate::auth::keys::RETIRED_KEY_GRACE_DAYS + 1);
        assert_eq!(
            verify(&rotated, &before, later),
            None,
            "past the grace period"
        );
        assert_eq!(verify(&rotated, &after, later), Some(c.clone()));
        // A version dropped from the list no longer verifies.
        let dropped = keys(&[(2, b"the-second-secret-0000", None)]);
        assert_eq!(verify(&dropped, &before, now()), None);
    }

    #[test]
    fn links_from_before_versions_are_version_1() {
        let k = keys(&[(1, SECRET, None)]);
        for id in ["c1", "odd.v7"] {
            let c = CustomerId::parse("id", id).unwrap();
            let versioned = token(&k, &c);
            let legacy = versioned.replacen(".v1.", ".", 1);
            assert_eq!(verify(&k, &legacy, now()), Some(c.clone()), "{legacy}");
            assert_eq!(verify(&k, &versioned, now()), Some(c), "{versioned}");
        }
    }

    #[test]
    fn urls_escape_the_token() {
        let c = CustomerId::parse("id", "a@b").unwrap();
        let u = url("https://api.shop.example/", &keys(&[(3, SECRET, None)]), &c);
        assert!(
            u.starts_with("https://api.shop.example/v1/unsubscribe?token=a%40b.v3."),
            "{u}"
        );
    }
}
