//! Request signatures: `Rapport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"` with the shop's shared secret.
//!
//! The timestamp bounds replay to the tolerance window; exactly-once processing of
//! event ids covers replays inside it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

pub const HEADER: &str = "rapport-signature";

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("the Rapport-Signature header is missing")]
    Missing,
    #[error("the Rapport-Signature header is malformed; expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is outside the allowed window")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A parsed header: the timestamp and every `v1` candidate (several are allowed so a
/// sender can sign with an old and a new secret while rotating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub signatures: Vec<Vec<u8>>,
}

impl SignatureHeader {
    pub fn parse(raw: &str) -> Result<Self, SignatureError> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in raw.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match key {
                "t" if timestamp.is_none() => {
                    if value.is_empty()
                        || value.len() > 12
                        || !value.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(SignatureError::Malformed);
                    }
                    timestamp = Some(value.parse().map_err(|_| SignatureError::Malformed)?);
                }
                "v1" => {
                    if value.len() != 64 {
                        return Err(SignatureError::Malformed);
                    }
                    signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
                }
                // Unknown schemes are skipped so a future v2 can be sent alongside v1.
                _ if key != "t" => {}
                _ => return Err(SignatureError::Malformed),
            }
        }
        match timestamp {
            Some(timestamp) if !signatures.is_empty() => Ok(Self {
                timestamp,
                signatures,
            }),
            _ => Err(SignatureError::Malformed),
        }
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value a sender puts on `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a request's header against its raw body at time `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?;
    if (now - header.timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, header.timestamp, body);
    // verify_slice compares in constant time.
    if header
        .signatures
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-0123456789";
    const NOW: i64 = 1_790_000_000;

    #[test]
    fn round_trip() {
        let h = sign(SECRET, NOW, b"{}");
        assert_eq!(verify(SECRET, Some(&h), b"{}", NOW + 10, 300), Ok(()));
    }

    #[test]
    fn rejects_each_kind_of_bad_signature() {
        let h = sign(SECRET, NOW, b"{\"a\":1}");
        assert_eq!(
            verify(SECRET, None, b"{}", NOW, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some(&h), b"{\"a\":2}", NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other-secret-000000", Some(&h), b"{\"a\":1}", NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&h), b"{\"a\":1}", NOW + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(&h), b"{\"a\":1}", NOW - 301, 300),
            Err(SignatureError::Stale)
        );
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=abc,v1=00",
            "t=1,v1=zz",
            "t=1,t=2,v1=00",
            "garbage",
            "t=-5,v1=00",
        ] {
            assert_eq!(
                verify(SECRET, Some(bad), b"{}", NOW, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_any_of_several_v1_during_rotation() {
        let good = sign(SECRET, NOW, b"x");
        let other = sign(b"old-secret-000000000", NOW, b"x");
        let v1_good = good.split("v1=").nth(1).unwrap();
        let header = format!("{other},v1={v1_good},v2=ignored");
        assert_eq!(verify(SECRET, Some(&header), b"x", NOW, 300), Ok(()));
    }
}
