//! Checked arithmetic on amounts of money: an amount that would not fit in a decimal (about
//! 7.9 × 10²⁸) is an error naming the operation, never a panic or a wrapped value.

use rust_decimal::Decimal;

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

/// The sum of `amounts`.
pub fn sum(amounts: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Overflow> {
    amounts.into_iter().try_fold(Decimal::ZERO, add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_beyond_a_decimal_is_an_error_naming_the_operation() {
        let error = mul(Decimal::MAX, Decimal::TWO).unwrap_err();
        assert_eq!(error.operator, '×');
        assert!(error.to_string().contains("does not fit"), "{error}");
        assert!(add(Decimal::MAX, Decimal::ONE).is_err());
        assert!(sub(Decimal::MIN, Decimal::ONE).is_err());
        assert!(div(Decimal::ONE, Decimal::ZERO).is_err());
        assert!(sum([Decimal::MAX, Decimal::ONE]).is_err());
        assert_eq!(sum([Decimal::ONE, Decimal::TWO]), Ok(Decimal::from(3)));
    }
}
