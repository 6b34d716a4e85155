//! Contact details a storefront may send with an event: email, first name, locale and
//! birthday.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::FieldError;

/// An email address as Rapport accepts it: one plain RFC 5322 `addr-spec` in ASCII,
/// so that wherever it is written — a `To` header, an SES destination, the key of a
/// suppression — it names exactly one mailbox and nothing else.
///
/// Accepted, after trimming surrounding whitespace: `local@domain` where
/// - the local part is a dot-atom of 1–64 characters: letters, digits and
///   ``!#$%&'*+-/=?^_`{|}~``, with single dots between them (not first or last);
/// - the domain has at most 253 characters and at least two labels separated by
///   dots; each label has 1–63 letters, digits or hyphens and neither starts nor ends
///   with a hyphen, and the last is not all digits (internationalised domains in their
///   `xn--` form);
/// - the whole address has at most 254 characters.
///
/// Refused: anything else, in particular quoted local parts, comments, IP-literal
/// domains, non-ASCII characters, whitespace and control characters inside, and every
/// one of `<>,;:"()[]\` — the characters that turn one address into a list or a
/// display name. Deliverability is SES's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Longest address (RFC 5321: a path of 256 octets including the angle brackets).
const MAX_ADDRESS: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL: usize = 64;
/// Longest domain name, and longest label in it (RFC 1035).
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// `atext` of RFC 5322: what a dot-atom is made of, besides the dots.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// A dot-atom: atoms of `atext` joined by single dots.
fn is_dot_atom(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A host name of at least two labels, letters, digits and inner hyphens only.
fn is_domain(s: &str) -> bool {
    let label = |l: &str| {
        (1..=MAX_LABEL).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= MAX_DOMAIN
        && labels.len() >= 2
        && labels.iter().all(|l| label(l))
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let valid = raw.len() <= MAX_ADDRESS
            && matches!(raw.split_once('@'), Some((local, domain))
                if local.len() <= MAX_LOCAL && is_dot_atom(local) && is_domain(domain));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "is not a valid email address (one address, local@domain, no display name)",
            ))
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

    /// Whether both addresses deliver to the same [`mailbox`](Self::mailbox).
    pub fn same_mailbox(&self, other: &Email) -> bool {
        self.mailbox() == other.mailbox()
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
        for good in [
            "a.b+tag@example.com",
            "Asha.Rao@Example.COM",
            "o'brien@shop.example",
            "x_y-z!#$%&*/=?^`{|}~@sub-1.example.co.uk",
            "me@xn--bcher-kva.example",
            " padded@example.com ",
        ] {
            assert!(Email::parse("email", good).is_ok(), "{good}");
        }
        assert_eq!(
            Email::parse("email", " padded@example.com ")
                .unwrap()
                .as_str(),
            "padded@example.com"
        );
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@.com",
            "a@com.",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@b-.com",
            "a@b.123",
            "a@[127.0.0.1]",
            "\"a b\"@c.com",
            "a@b@c.com",
            "asha@exämple.com",
            "äsha@example.com",
            "a\u{0}@b.com",
            "a@b.com\r\nBcc: x@y.com",
        ] {
            assert_eq!(
                Email::parse("email", bad).unwrap_err().field,
                "email",
                "{bad}"
            );
        }
    }

    #[test]
    fn an_address_cannot_carry_a_second_recipient_or_a_display_name() {
        for injected in [
            "me@x.com>,<other@y.com",
            "me@x.com,other@y.com",
            "me@x.com;other@y.com",
            "Me <me@x.com>",
            "me@x.com (comment)",
            "me(x)@x.com",
            "me@x.com\\",
            "me:x@x.com",
        ] {
            assert!(Email::parse("email", injected).is_err(), "{injected}");
        }
    }

    #[test]
    fn addresses_are_limited_as_rfc_5321_limits_them() {
        let label = "d".repeat(63);
        let local = "l".repeat(64);
        assert!(Email::parse("e", &format!("{local}@{label}.com")).is_ok());
        assert!(Email::parse("e", &format!("{local}l@{label}.com")).is_err());
        assert!(Email::parse("e", &format!("a@{label}d.com")).is_err());
        // 254 characters in all, but no more.
        let domain = format!("{label}.{label}.{label}.{}.com", "d".repeat(57));
        assert_eq!(domain.len(), 253);
        assert!(Email::parse("e", &format!("l@{domain}")).is_err(), "255");
        let fits = format!("l@{}", &domain[1..]);
        assert_eq!(fits.len(), 254);
        assert!(Email::parse("e", &fits).is_ok(), "{fits}");
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

/// The name a customer goes by, as mail greets them: 1 to 60 characters of any script
/// after trimming, without control characters or markup brackets (mail escapes it
/// anyway; a name has no use for them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FirstName(String);

/// Longest first name kept, in characters.
const MAX_FIRST_NAME: usize = 60;

impl FirstName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let sound = (1..=MAX_FIRST_NAME).contains(&name.chars().count())
            && !name.chars().any(|c| c.is_control() || "<>{}".contains(c));
        if sound {
            Ok(Self(name.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                format!(
                    "must be 1 to {MAX_FIRST_NAME} characters, without control characters or <>{{}}"
                ),
            ))
        }
    }

    /// A name a platform sent, if it is one: blank or unusable names are dropped rather
    /// than refused, since the order they came with still counts.
    pub fn lenient(raw: Option<&str>) -> Option<Self> {
        raw.and_then(|r| Self::parse("first_name", r).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod first_name_tests {
    use super::*;

    #[test]
    fn names_of_any_script_are_kept_and_markup_or_blanks_are_not() {
        assert_eq!(FirstName::parse("f", "  Asha ").unwrap().as_str(), "Asha");
        assert_eq!(FirstName::parse("f", "عائشہ").unwrap().as_str(), "عائشہ");
        assert!(FirstName::parse("f", "   ").is_err());
        assert!(FirstName::parse("f", "<b>x</b>").is_err());
        assert!(FirstName::parse("f", "{{ shop }}").is_err());
        assert!(FirstName::parse("f", &"a".repeat(61)).is_err());
        assert_eq!(FirstName::lenient(Some("")), None);
    }
}

/// The language mail is written in for a BCP 47 locale: its language if Rapport writes
/// it (`fil` is Tagalog), else English.
pub fn mail_language(locale: Option<&str>) -> &'static str {
    match locale
        .map(|l| l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase())
        .as_deref()
    {
        Some("hi") => "hi",
        Some("ur") => "ur",
        Some("tl" | "fil") => "tl",
        _ => "en",
    }
}

/// A product's name as customers know it, for mail that names it: 1 to 200 characters
/// of any script after trimming, without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if (1..=200).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
            Ok(Self(name.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be 1 to 200 characters, without control characters",
            ))
        }
    }

    /// A name a platform sent, if it is one (an unusable one is dropped, the order kept).
    pub fn lenient(raw: Option<&str>) -> Option<Self> {
        raw.and_then(|r| Self::parse("name", r).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
