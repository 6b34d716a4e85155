//! Money as integer minor units with an ISO 4217 currency. Floats never touch money.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::FieldError;

/// An ISO 4217 currency that has minor units (so not e.g. `XAU`), e.g. `USD`, `JPY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let currency = iso_currency::Currency::from_code(raw).ok_or_else(|| {
            FieldError::new(field, format!("{raw:?} is not an ISO 4217 currency code"))
        })?;
        if currency.exponent().is_none() {
            return Err(FieldError::new(
                field,
                format!("{raw} has no minor unit and cannot be used for payments"),
            ));
        }
        Ok(Self(currency))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// How many minor units make one major unit: 100 for USD, 1 for JPY, 1000 for KWD.
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.0.exponent().unwrap_or(0)))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse("currency", &raw).map_err(serde::de::Error::custom)
    }
}

/// A non-negative amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// Largest amount accepted on one event: 10^13 minor units keeps every sum of a
/// customer's history far from `i64` overflow.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

impl Money {
    pub fn new(field: &str, minor: i64, currency: Currency) -> Result<Self, FieldError> {
        if minor < 0 {
            return Err(FieldError::new(field, "must not be negative"));
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_AMOUNT_MINOR}"),
            ));
        }
        Ok(Self { minor, currency })
    }

    /// An amount written as a decimal string in major units (`"19.99"`, `"1500"` for
    /// JPY, `"1.250"` for KWD), as storefront platforms send money, read exactly: digits
    /// only, at most the currency's minor digits after the point (more only if they are
    /// zeros), never through a float.
    pub fn parse_decimal(field: &str, raw: &str, currency: Currency) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                format!("{raw:?} is not an amount in {currency} such as \"12.34\""),
            )
        };
        let (whole, fraction) = raw.trim().split_once('.').unwrap_or((raw.trim(), ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) {
            return Err(invalid());
        }
        let minor_per_major = currency.minor_per_major();
        let places = minor_per_major.ilog10() as usize;
        let (kept, dropped) = fraction.split_at(fraction.len().min(places));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(FieldError::new(
                field,
                format!("{raw:?} has more than {places} decimal places for {currency}"),
            ));
        }
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let kept_value: i64 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| invalid())?
        };
        let scale = 10_i64.pow((places - kept.len()) as u32);
        let minor = whole
            .checked_mul(minor_per_major)
            .and_then(|m| m.checked_add(kept_value * scale))
            .ok_or_else(invalid)?;
        Self::new(field, minor, currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_exponents() {
        assert_eq!(Currency::parse("c", "USD").unwrap().minor_per_major(), 100);
        assert_eq!(Currency::parse("c", "JPY").unwrap().minor_per_major(), 1);
        assert_eq!(Currency::parse("c", "KWD").unwrap().minor_per_major(), 1000);
    }

    #[test]
    fn rejects_unknown_and_unitless_currencies() {
        assert_eq!(
            Currency::parse("currency", "usd").unwrap_err().field,
            "currency"
        );
        assert!(Currency::parse("currency", "XXX").is_err());
        assert!(Currency::parse("currency", "XAU").is_err());
    }

    #[test]
    fn decimal_strings_become_minor_units_by_the_currencys_exponent() {
        let c = |code| Currency::parse("c", code).unwrap();
        let minor = |raw, code| Money::parse_decimal("amount", raw, c(code)).map(|m| m.minor);
        assert_eq!(minor("19.99", "USD"), Ok(1999));
        assert_eq!(minor("19.9", "USD"), Ok(1990));
        assert_eq!(minor("19", "USD"), Ok(1900));
        assert_eq!(minor("0.10", "USD"), Ok(10));
        assert_eq!(minor("19.990", "USD"), Ok(1999), "trailing zeros");
        assert_eq!(minor("1500", "JPY"), Ok(1500));
        assert_eq!(minor("1500.00", "JPY"), Ok(1500));
        assert_eq!(minor("1.250", "KWD"), Ok(1250));
        assert_eq!(minor("0.005", "KWD"), Ok(5));
        // 0.1 + 0.2 is not 0.30000000000000004 here.
        assert_eq!(minor("0.30", "USD"), Ok(30));
        for bad in [
            "", ".5", "-1.00", "1,00", "1e3", "1.2.3", "19.999", " ", "abc",
        ] {
            let e = Money::parse_decimal("amount", bad, c("USD")).unwrap_err();
            assert_eq!(e.field, "amount", "{bad:?}");
        }
        assert!(minor("1500.5", "JPY").is_err());
        assert!(minor("99999999999999999999", "USD").is_err());
        assert!(
            minor("100000000000.01", "USD").is_err(),
            "above the largest amount"
        );
    }

    #[test]
    fn money_bounds() {
        let usd = Currency::parse("c", "USD").unwrap();
        assert!(Money::new("total_minor", -1, usd).is_err());
        assert!(Money::new("total_minor", MAX_AMOUNT_MINOR + 1, usd).is_err());
        assert_eq!(Money::new("total_minor", 0, usd).unwrap().minor, 0);
    }
}
