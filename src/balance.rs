//! The two balances a Team's usage draws from, named one way everywhere.

use serde::{Deserialize, Serialize};

/// A Team's balance: the Credits pool or the pay-as-you-go wallet. Serialized as in a
/// statement (`credits`, `wallet`); shown to people as [`Balance::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    Credits,
    Wallet,
}

impl Balance {
    /// What a person reads: "Credits pool" or "wallet".
    pub fn name(self) -> &'static str {
        match self {
            Balance::Credits => "Credits pool",
            Balance::Wallet => "wallet",
        }
    }
}

impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_is_written_as_in_a_statement_and_read_back() {
        for (balance, json) in [
            (Balance::Credits, "\"credits\""),
            (Balance::Wallet, "\"wallet\""),
        ] {
            assert_eq!(serde_json::to_string(&balance).unwrap(), json);
            assert_eq!(serde_json::from_str::<Balance>(json).unwrap(), balance);
        }
    }
}
