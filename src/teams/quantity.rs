//! The quantities an operation carries, made only through their checks: a library caller and a
//! scenario file get the same refusal.

use std::fmt;
use std::num::NonZeroU32;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The decimals amounts are kept in.
const AMOUNT_DECIMALS: u32 = 6;

/// A quantity an operation can't carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("`seats` must be at least 1")]
    NoSeats,
    /// A top-up that is zero or negative.
    #[error("`amount` must be positive, not `{0}`")]
    NotPositive(Decimal),
    /// A top-up finer than the decimals amounts are kept in.
    #[error("`amount` has more than 6 decimals (`{0}`)")]
    TooPrecise(Decimal),
}

/// A number of seats, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seats(NonZeroU32);

impl Seats {
    pub const ONE: Seats = Seats(NonZeroU32::MIN);

    /// `seats`, unless it is zero.
    pub fn new(seats: u32) -> Result<Seats, QuantityError> {
        NonZeroU32::new(seats)
            .map(Seats)
            .ok_or(QuantityError::NoSeats)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for Seats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Seats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.get())
    }
}

impl<'de> Deserialize<'de> for Seats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seats, D::Error> {
        Seats::new(u32::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A top-up: positive, in at most six decimals; written as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopUp(Decimal);

impl TopUp {
    /// `amount`, unless it is zero, negative or finer than six decimals.
    pub fn new(amount: Decimal) -> Result<TopUp, QuantityError> {
        if amount.is_sign_negative() || amount.is_zero() {
            return Err(QuantityError::NotPositive(amount));
        }
        if amount.scale() > AMOUNT_DECIMALS {
            return Err(QuantityError::TooPrecise(amount));
        }
        Ok(TopUp(amount))
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for TopUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for TopUp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for TopUp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TopUp, D::Error> {
        let amount = rust_decimal::serde::str::deserialize(deserializer)?;
        TopUp::new(amount).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn zero_seats_are_refused() {
        assert_eq!(Seats::new(0), Err(QuantityError::NoSeats));
        assert_eq!(Seats::new(3).map(Seats::get), Ok(3));
        assert_eq!(
            QuantityError::NoSeats.to_string(),
            "`seats` must be at least 1"
        );
    }

    #[test]
    fn a_top_up_must_be_positive_in_six_decimals() {
        for refused in ["-1", "0", "-0.000001"] {
            assert_eq!(
                TopUp::new(amount(refused)),
                Err(QuantityError::NotPositive(amount(refused)))
            );
        }
        assert_eq!(
            TopUp::new(amount("-1")).unwrap_err().to_string(),
            "`amount` must be positive, not `-1`"
        );
        assert_eq!(
            TopUp::new(amount("0.0000001")).unwrap_err().to_string(),
            "`amount` has more than 6 decimals (`0.0000001`)"
        );
        assert_eq!(
            TopUp::new(amount("12.50")).map(TopUp::get),
            Ok(amount("12.50"))
        );
    }

    #[test]
    fn a_stored_payload_is_checked_as_it_is_read() {
        let top_up: TopUp = serde_json::from_str("\"12.50\"").unwrap();
        assert_eq!(serde_json::to_string(&top_up).unwrap(), "\"12.50\"");
        let refused = serde_json::from_str::<TopUp>("\"-1\"").unwrap_err();
        assert!(
            refused.to_string().contains("must be positive"),
            "{refused}"
        );
        assert!(serde_json::from_str::<Seats>("0").is_err());
        assert_eq!(serde_json::to_string(&Seats::new(2).unwrap()).unwrap(), "2");
    }
}
