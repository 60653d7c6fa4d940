//! Checked arithmetic on amounts of money: an amount that would not fit in a decimal (about
//! 7.9 × 10²⁸) is an error naming the operation, never a panic or a wrapped value. An
//! [`Amount`] is what a statement shows: rounded once, to the cent.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An operation on amounts whose result does not fit in a decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{left} {operator} {right}` does not fit in a decimal amount")]
pub struct Overflow {
    /// The left operand.
    pub left: Decimal,
    /// `+`, `-`, `×` or `÷`.
    pub operator: char,
    /// The right operand.
    pub right: Decimal,
}

fn checked(
    left: Decimal,
    operator: char,
    right: Decimal,
    operation: fn(Decimal, Decimal) -> Option<Decimal>,
) -> Result<Decimal, Overflow> {
    operation(left, right).ok_or(Overflow {
        left,
        operator,
        right,
    })
}

/// `left + right`.
pub fn add(left: Decimal, right: Decimal) -> Result<Decimal, Overflow> {
    checked(left, '+', right, Decimal::checked_add)
}

/// `left - right`.
pub fn sub(left: Decimal, right: Decimal) -> Result<Decimal, Overflow> {
    checked(left, '-', right, Decimal::checked_sub)
}

/// `left × right`.
pub fn mul(left: Decimal, right: Decimal) -> Result<Decimal, Overflow> {
    checked(left, '×', right, Decimal::checked_mul)
}

/// `left ÷ right`; dividing by zero is an error too.
pub fn div(left: Decimal, right: Decimal) -> Result<Decimal, Overflow> {
    checked(left, '÷', right, Decimal::checked_div)
}

/// An amount as a statement shows it: rounded once to the cent, a line's half away from zero
/// (B7), a balance's half up (B25). Made only by rounding or by reading a statement, so an amount on a statement has
/// been rounded, and is never rounded again: a sum of amounts is an amount as it stands.
/// Written as a decimal string with exactly two decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// `exact` rounded to the cent, half away from zero (B7).
    pub fn round(exact: Decimal) -> Amount {
        Amount(exact.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    }

    /// A balance rounded to the cent, half up (a tie toward more left): unlike [`Amount::round`]
    /// it moves with whole cents (`round_balance(x - c) == round_balance(x) - c` for any `c` in
    /// cents), so a balance's movements shown in cents add up to it exactly (B25).
    pub fn round_balance(exact: Decimal) -> Result<Amount, Overflow> {
        let half_cent = Decimal::new(5, 3);
        add(exact, half_cent).map(|shifted| {
            Amount(shifted.round_dp_with_strategy(2, RoundingStrategy::ToNegativeInfinity))
        })
    }

    /// The amount as a decimal, for exact arithmetic beside amounts not rounded yet.
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// `self + other`.
    pub fn checked_add(self, other: Amount) -> Result<Amount, Overflow> {
        add(self.0, other.0).map(Amount)
    }

    /// `self - other`.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, Overflow> {
        sub(self.0, other.0).map(Amount)
    }

    /// The sum of `amounts`.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Amount>) -> Result<Amount, Overflow> {
        amounts
            .into_iter()
            .try_fold(Amount::ZERO, Amount::checked_add)
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether the amount is below zero: one rounded to zero from below is not.
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

impl std::fmt::Display for Amount {
    /// Exactly two decimals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut cents = self.0;
        cents.rescale(2);
        f.pad(&cents.to_string())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// A decimal string with at most two decimals: a statement's amount was rounded.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        let text = String::deserialize(d)?;
        let amount: Decimal = text.parse().map_err(serde::de::Error::custom)?;
        if amount.scale() > 2 {
            return Err(serde::de::Error::custom(format_args!(
                "the amount `{text}` has more than two decimals"
            )));
        }
        Ok(Amount(amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::round(text.parse().unwrap())
    }

    #[test]
    fn b25_a_balance_rounds_half_up_so_whole_cents_move_it_exactly() {
        let balance = |text: &str| Amount::round_balance(text.parse().unwrap()).unwrap();
        for (exact, shown) in [
            ("1.005", "1.01"),
            ("-1.005", "-1.00"),
            ("-0.005", "0.00"),
            ("-0.0051", "-0.01"),
            ("1.004999", "1.00"),
            ("-7", "-7.00"),
        ] {
            assert_eq!(balance(exact).to_string(), shown, "{exact}");
        }
        // Half away from zero would give 0.01 - 0.01 = 0.00 but round(-0.005) = -0.01.
        let exact: Decimal = "0.005".parse().unwrap();
        for cents in ["0.01", "0.02", "-3.00", "12.34"] {
            let cents: Decimal = cents.parse().unwrap();
            assert_eq!(
                balance(&(exact - cents).to_string()).decimal(),
                balance(&exact.to_string()).decimal() - cents,
            );
        }
    }

    #[test]
    fn b7_an_amount_is_rounded_once_half_away_from_zero_and_shown_with_two_decimals() {
        for (exact, shown) in [
            ("1.005", "1.01"),
            ("-1.005", "-1.01"),
            ("1.004999", "1.00"),
            ("2", "2.00"),
            ("1.5", "1.50"),
            ("-0.004", "0.00"),
        ] {
            assert_eq!(amount(exact).to_string(), shown, "{exact}");
        }
        assert!(amount("-0.01").is_negative());
        assert!(
            !amount("-0.004").is_negative(),
            "rounded to zero from below"
        );
        let sum = Amount::checked_sum([amount("0.10"), amount("0.20"), amount("1.005")]);
        assert_eq!(sum, Ok(amount("1.31")));
        assert!(
            amount("1")
                .checked_sub(amount("2.50"))
                .unwrap()
                .is_negative()
        );
        assert!(Amount::checked_sum([Amount(Decimal::MAX), amount("1")]).is_err());
    }

    #[test]
    fn an_amount_is_written_with_two_decimals_and_read_back_with_at_most_two() {
        let json = |a: Amount| serde_json::to_string(&a).unwrap();
        assert_eq!(json(amount("1.5")), r#""1.50""#);
        assert_eq!(json(amount("-0.004")), r#""0.00""#);
        for text in ["1.50", "1.5", "-3", "0.00"] {
            let read: Amount = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(read, amount(text));
        }
        let error = serde_json::from_str::<Amount>(r#""1.005""#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`1.005` has more than two decimals"),
            "{error}"
        );
        assert!(serde_json::from_str::<Amount>(r#""1.500""#).is_err());
    }

    #[test]
    fn an_amount_beyond_a_decimal_is_an_error_naming_the_operation() {
        let error = mul(Decimal::MAX, Decimal::TWO).unwrap_err();
        assert_eq!(error.operator, '×');
        assert!(error.to_string().contains("does not fit"), "{error}");
        assert!(add(Decimal::MAX, Decimal::ONE).is_err());
        assert!(sub(Decimal::MIN, Decimal::ONE).is_err());
        assert!(div(Decimal::ONE, Decimal::ZERO).is_err());
    }
}
