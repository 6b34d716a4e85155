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
    fn money_bounds() {
        let usd = Currency::parse("c", "USD").unwrap();
        assert!(Money::new("total_minor", -1, usd).is_err());
        assert!(Money::new("total_minor", MAX_AMOUNT_MINOR + 1, usd).is_err());
        assert_eq!(Money::new("total_minor", 0, usd).unwrap().minor, 0);
    }
}
