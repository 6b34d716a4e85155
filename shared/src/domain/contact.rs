//! Contact details a storefront may send with an event: email, locale and birthday.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::FieldError;

/// A syntactically plausible email address. Deliverability is SES's business; this
/// only keeps obvious garbage out of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let valid = raw.len() <= 254
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(raw.rsplit_once('@'), Some((local, domain))
                if !local.is_empty() && local.len() <= 64 && domain.contains('.')
                    && !domain.starts_with('.') && !domain.ends_with('.'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, "is not a valid email address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mailbox the address delivers to, for telling one person's addresses apart:
    /// lower-cased, `+tag` removed, and at Gmail the dots of the local part ignored.
    pub fn mailbox(&self) -> String {
        let lower = self.0.to_lowercase();
        let Some((local, domain)) = lower.rsplit_once('@') else {
            return lower;
        };
        let local = local.split('+').next().unwrap_or(local);
        let (local, domain) = match domain {
            "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
            _ => (local.to_owned(), domain),
        };
        format!("{local}@{domain}")
    }
}

/// A BCP 47 language tag such as `en`, `hi-IN`, `ur` or `fil-PH`, normalised to the
/// usual case (`language-REGION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be a language tag such as en or hi-IN");
        let mut parts = raw.split(['-', '_']);
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
        let language = language.ok_or_else(bad)?.to_ascii_lowercase();
        let mut tag = language;
        for part in parts {
            if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(bad());
            }
            tag.push('-');
            if part.len() == 2 {
                tag.push_str(&part.to_ascii_uppercase());
            } else {
                tag.push_str(part);
            }
        }
        Ok(Self(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A birthday as month and day, without the year: shops should not need to know age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birthday {
    pub month: u32,
    pub day: u32,
}

impl Birthday {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be a date as MM-DD, e.g. 07-31");
        let (m, d) = raw.split_once('-').ok_or_else(bad)?;
        // `u32::from_str` also takes a sign, so "+1-05" would pass a length check alone.
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(m) || !two_digits(d) {
            return Err(bad());
        }
        let month: u32 = m.parse().map_err(|_| bad())?;
        let day: u32 = d.parse().map_err(|_| bad())?;
        // 2000 is a leap year, so 02-29 is a valid birthday.
        if chrono::NaiveDate::from_ymd_opt(2000, month, day).is_none() {
            return Err(bad());
        }
        Ok(Self { month, day })
    }
}

impl fmt::Display for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

impl Serialize for Birthday {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Birthday {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Birthday::parse("birthday", &raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("email", "a.b+tag@example.com").is_ok());
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert_eq!(
                Email::parse("email", bad).unwrap_err().field,
                "email",
                "{bad}"
            );
        }
    }

    #[test]
    fn locales_are_normalised() {
        assert_eq!(Locale::parse("l", "hi_in").unwrap().as_str(), "hi-IN");
        assert_eq!(Locale::parse("l", "ur").unwrap().as_str(), "ur");
        assert_eq!(Locale::parse("l", "fil-PH").unwrap().as_str(), "fil-PH");
        assert!(Locale::parse("l", "english").is_err());
        assert!(Locale::parse("l", "en-").is_err());
    }

    #[test]
    fn birthdays() {
        assert_eq!(Birthday::parse("b", "02-29").unwrap().to_string(), "02-29");
        for bad in ["2-3", "13-01", "02-30", "0101", "aa-bb", "+1-05", "01-+5"] {
            assert!(Birthday::parse("b", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_normalise_tags_case_and_gmail_dots() {
        let n = |s: &str| Email::parse("e", s).unwrap().mailbox();
        assert_eq!(n("Asha.Rao+promo@GMail.com"), "asharao@gmail.com");
        assert_eq!(n("asharao@googlemail.com"), "asharao@gmail.com");
        assert_eq!(n("a.b+x@example.com"), "a.b@example.com");
        assert_ne!(n("a.b@example.com"), n("ab@example.com"));
    }
}
