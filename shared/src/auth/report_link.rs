//! Links to a job run's report that a merchant can open from a mail, in a browser that
//! holds no API key: the link carries a token naming the run and when it stops working,
//! with an HMAC over both.
//!
//! Tokens are `<expiry, Unix seconds>.v<version>.<hex tag>`, signed with that version of
//! the unsubscribe key under a label of their own (`rapport-report-link-v1`), so a
//! report token and an unsubscribe token can never stand in for each other, and rotating
//! the unsubscribe key rotates both. A token works until its expiry, and only while its
//! key version still verifies (a retired version for
//! [`RETIRED_KEY_GRACE_DAYS`](super::keys::RETIRED_KEY_GRACE_DAYS)).

use chrono::{DateTime, Duration, Utc};
use hmac::Mac;

use super::keys::{UnsubscribeKey, UnsubscribeKeys};
use super::unsubscribe::{HmacSha256, derived_mac};
use crate::domain::RunId;

/// How long a mailed link works unless configured otherwise (`RAPPORT_REPORT_LINK_DAYS`).
pub const DEFAULT_LINK_DAYS: i64 = 30;

fn mac(key: &UnsubscribeKey, run: &RunId, expires: i64) -> HmacSha256 {
    let mut mac = derived_mac(key, b"rapport-report-link-v1");
    mac.update(run.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// A link to run `run`'s report and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The token for `run`'s report, working until `expires_at` (to the second), signed with
/// the current key.
pub fn token(keys: &UnsubscribeKeys, run: &RunId, expires_at: DateTime<Utc>) -> String {
    let key = keys.current();
    let expires = expires_at.timestamp();
    let tag = mac(key, run, expires).finalize().into_bytes();
    format!("{expires}.v{}.{}", key.version, hex::encode(tag))
}

/// Whether `token` opens `run`'s report at `now`: its tag is right for a key version
/// that still verifies, and it has not expired.
pub fn verify(keys: &UnsubscribeKeys, run: &RunId, token: &str, now: DateTime<Utc>) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(expires), Some(version), Some(tag)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(expires), Some(Ok(version))) = (
        expires.parse::<i64>(),
        version.strip_prefix('v').map(str::parse::<u32>),
    ) else {
        return false;
    };
    if now.timestamp() >= expires {
        return false;
    }
    let Some(key) = keys.version(version).filter(|k| k.verifies_at(now)) else {
        return false;
    };
    let Ok(tag) = hex::decode(tag) else {
        return false;
    };
    // Constant-time comparison.
    mac(key, run, expires).verify_slice(&tag).is_ok()
}

/// The link to `run`'s report under the API's public base URL, working for `days` from
/// `now`.
pub fn link(
    base_url: &str,
    keys: &UnsubscribeKeys,
    run: &RunId,
    now: DateTime<Utc>,
    days: i64,
) -> ReportLink {
    let expires_at = now + Duration::days(days.max(1));
    // Run ids and tokens hold only characters a URL path and query take as they are.
    let url = format!(
        "{}/v1/reports/{run}?token={}",
        base_url.trim_end_matches('/'),
        token(keys, run, expires_at)
    );
    ReportLink { url, expires_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> UnsubscribeKeys {
        UnsubscribeKeys::new(vec![UnsubscribeKey::new(1, secret, None).unwrap()]).unwrap()
    }

    fn run(id: &str) -> RunId {
        RunId::parse("run_id", id).unwrap()
    }

    #[test]
    fn a_link_opens_its_run_until_it_expires() {
        let keys = keys(b"report-link-test-secret-0123456789");
        let now = Utc::now();
        let link = link("https://api.shop.example/", &keys, &run("r-1"), now, 30);
        assert!(
            link.url
                .starts_with("https://api.shop.example/v1/reports/r-1?token="),
            "{}",
            link.url
        );
        let token = link.url.split("token=").nth(1).unwrap();
        assert!(verify(&keys, &run("r-1"), token, now));
        assert!(verify(&keys, &run("r-1"), token, now + Duration::days(29)));
        assert!(!verify(&keys, &run("r-1"), token, now + Duration::days(31)));
        // Another run, another key, a changed expiry or tag: refused.
        assert!(!verify(&keys, &run("r-2"), token, now));
        let other = self::keys(b"another-secret-of-enough-length-000");
        assert!(!verify(&other, &run("r-1"), token, now));
        let (expires, rest) = token.split_once('.').unwrap();
        let later = expires.parse::<i64>().unwrap() + 86_400;
        assert!(!verify(&keys, &run("r-1"), &format!("{later}.{rest}"), now));
        for bad in ["", "x", "1.v1", "1.v1.zz", "abc.v1.00", "1.1.00"] {
            assert!(!verify(&keys, &run("r-1"), bad, now), "{bad:?}");
        }
    }

    #[test]
    fn an_unsubscribe_token_is_no_report_token() {
        let keys = keys(b"report-link-test-secret-0123456789");
        let customer = crate::domain::CustomerId::parse("id", "r-1").unwrap();
        let unsubscribe = crate::auth::unsubscribe::token(&keys, &customer);
        assert!(!verify(&keys, &run("r-1"), &unsubscribe, Utc::now()));
    }
}
