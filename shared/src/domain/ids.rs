//! Identifier newtypes. Each is parsed once at the edge; afterwards the rest of the code
//! can rely on it being non-empty, bounded and safe to embed in a DynamoDB key.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::FieldError;

/// Longest identifier accepted. Keys embed ids, and DynamoDB caps a sort key at 1 KiB.
pub const MAX_ID_LEN: usize = 128;

fn check_id(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_ID_LEN} bytes"),
        ));
    }
    // '#' separates key segments, so allowing it would let one id impersonate a key
    // prefix of another; whitespace and control characters are never intended.
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@')))
    {
        return Err(FieldError::new(
            field,
            format!("contains {bad:?}; allowed are letters, digits and - _ . : @"),
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `raw` as the value of the JSON field `field`.
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                check_id(field, raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The storefront's own customer identifier.
    CustomerId
);
id_type!(
    /// The storefront's order number.
    OrderId
);
id_type!(
    /// Unique per delivered event; the key of exactly-once processing.
    EventId
);
id_type!(
    /// A product's stock-keeping unit.
    Sku
);
id_type!(
    /// Chosen by the storefront so that a retried redemption is recognised.
    RedemptionId
);

/// A scheduled job run's id: it names the run's objects in the run bucket
/// (`runs/<id>/…`, `reports/<id>/…`) and a Step Functions execution, so 1 to 80
/// letters, digits, `-`, `_`, `.` or `:`, not starting with `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub const MAX_LEN: usize = 80;

    /// Validates `raw` as the value of the field `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || raw.starts_with('.') {
            return Err(FieldError::new(
                field,
                format!(
                    "must be 1 to {} characters, not starting with '.'",
                    Self::MAX_LEN
                ),
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !allowed(*c)) {
            return Err(FieldError::new(
                field,
                format!("contains {bad:?}; allowed are letters, digits and - _ . :"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        RunId::parse("run_id", &raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_name_objects_safely() {
        for ok in ["2026-12-03T07:00:00Z", "run_1", "a.b"] {
            assert_eq!(RunId::parse("run_id", ok).unwrap().as_str(), ok);
        }
        for bad in ["", ".hidden", "a/b", "../x", &"a".repeat(81), "a b"] {
            assert!(RunId::parse("run_id", bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<RunId>("\"a/b\"").is_err());
    }

    #[test]
    fn accepts_typical_ids() {
        for ok in ["c-1", "cust_42", "ORD.2026.11.22", "a:b", "x@y"] {
            assert_eq!(CustomerId::parse("customer_id", ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_empty_long_and_separator() {
        let e = CustomerId::parse("customer_id", "").unwrap_err();
        assert_eq!(e.field, "customer_id");
        assert!(OrderId::parse("order_id", &"a".repeat(129)).is_err());
        let e = EventId::parse("event_id", "a#b").unwrap_err();
        assert!(e.reason.contains("'#'"), "{e}");
        assert!(Sku::parse("sku", "a b").is_err());
    }
}
