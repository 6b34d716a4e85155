//! One-click unsubscribe links (RFC 8058): a token that names the customer and carries
//! an HMAC, so a link in a mail can opt out exactly that customer and nobody can forge
//! one for another.
//!
//! The key is derived from the shop's signing secret for this purpose only, so a token
//! can never be replayed as a request signature or the other way round. Tokens do not
//! expire: an unsubscribe link must keep working as long as the mail exists.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::CustomerId;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], customer: &str) -> HmacSha256 {
    let mut key = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    key.update(b"rapport-unsubscribe-v1");
    let derived = key.finalize().into_bytes();
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&derived)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(customer.as_bytes());
    mac
}

/// The token for `customer`: `<customer id>.<hex tag>`. Customer ids contain no `.`
/// after the last one we add, so the split is unambiguous (`rsplit_once`).
pub fn token(secret: &[u8], customer: &CustomerId) -> String {
    let tag = mac(secret, customer.as_str()).finalize().into_bytes();
    format!("{customer}.{}", hex::encode(tag))
}

/// The customer a token names, if its tag is right (constant-time check).
pub fn verify(secret: &[u8], token: &str) -> Option<CustomerId> {
    let (customer, tag) = token.rsplit_once('.')?;
    let tag = hex::decode(tag).ok()?;
    mac(secret, customer).verify_slice(&tag).ok()?;
    CustomerId::parse("token", customer).ok()
}

/// The `List-Unsubscribe` URL for `customer` under the API's public base URL.
pub fn url(base_url: &str, secret: &[u8], customer: &CustomerId) -> String {
    let token = token(secret, customer);
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

    const SECRET: &[u8] = b"unsubscribe-test-secret";

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let c = CustomerId::parse("id", "cust.42@shop").unwrap();
        let t = token(SECRET, &c);
        assert_eq!(verify(SECRET, &t), Some(c.clone()));
        assert_eq!(verify(b"another-secret-0000", &t), None);
        let other = t.replacen("cust.42", "cust.43", 1);
        assert_eq!(verify(SECRET, &other), None);
        let mut flipped = t.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(verify(SECRET, &flipped), None);
        for bad in ["", "nodot", ".", "c.zz", "c."] {
            assert_eq!(verify(SECRET, bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_escape_the_token() {
        let c = CustomerId::parse("id", "a@b").unwrap();
        let u = url("https://api.shop.example/", SECRET, &c);
        assert!(
            u.starts_with("https://api.shop.example/v1/unsubscribe?token=a%40b."),
            "{u}"
        );
    }
}
