//! The price list (B2): currencies and zones per region, seat prices and quotas per tier,
//! token prices per model.

use std::collections::BTreeMap;
use std::path::Path;

use gatekeeper::Region;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The price list compiled into the binary.
pub const BUNDLED: &str = include_str!("../fixtures/prices.yaml");

/// A price list that can't be used.
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    /// The file could not be read.
    #[error("cannot read prices `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML of a price list's shape (a missing or unknown field, a currency not priced).
    #[error("prices `{path}` is not a valid price list")]
    Yaml {
        /// The file.
        path: String,
        /// What the parser said.
        source: serde_yaml::Error,
    },
    /// A region is not priced.
    #[error("prices `{path}`: missing region `{}`", region.as_str())]
    MissingRegion {
        /// The file.
        path: String,
        /// The region.
        region: Region,
    },
    /// A region bills in another currency or zone than B1 and B3 fix.
    #[error(
        "prices `{path}`: region `{}` must bill in {} at {zone} (B1, B3), not {found} at {found_zone}",
        region.as_str(),
        Currency::of(*region)
    )]
    WrongRegion {
        /// The file.
        path: String,
        /// The region.
        region: Region,
        /// Its zone as B3 fixes it.
        zone: &'static str,
        /// The currency the file gives.
        found: Currency,
        /// The zone the file gives.
        found_zone: String,
    },
    /// A tier's quota is negative.
    #[error("prices `{path}`: tier `{tier}`: `quota_tokens` is negative")]
    NegativeQuota {
        /// The file.
        path: String,
        /// The tier.
        tier: String,
    },
    /// A price is negative.
    #[error("prices `{path}`: {what} {currency} price is negative")]
    NegativePrice {
        /// The file.
        path: String,
        /// The price (`tier `plus` seat_price`, ...).
        what: String,
        /// Its currency.
        currency: Currency,
    },
}

/// A tier the price list does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier `{tier}`; the price list has {known}")]
pub struct UnknownTier {
    /// The tier named.
    pub tier: String,
    /// The tiers priced, for people.
    pub known: String,
}

/// A currency of the price list (B1); serialized as its ISO code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Currency {
    /// Chinese yuan: domestic Teams. (Variants in the order of their codes, so maps keyed by
    /// currency keep the order they had as strings.)
    #[serde(rename = "CNY")]
    Cny,
    /// US dollars: overseas Teams.
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    /// The currency a region bills in (B1).
    pub fn of(region: Region) -> Currency {
        match region {
            Region::Overseas => Currency::Usd,
            Region::Domestic => Currency::Cny,
        }
    }

    /// The ISO code.
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Cny => "CNY",
        }
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One price in every currency: a price list can't leave one out.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCurrency {
    /// In US dollars.
    #[serde(rename = "USD")]
    pub usd: Decimal,
    /// In Chinese yuan.
    #[serde(rename = "CNY")]
    pub cny: Decimal,
}

impl PerCurrency {
    /// The price in `currency`.
    pub fn get(self, currency: Currency) -> Decimal {
        match currency {
            Currency::Usd => self.usd,
            Currency::Cny => self.cny,
        }
    }
}

/// A region's currency and billing zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// `USD` or `CNY` (B1).
    pub currency: Currency,
    /// The billing zone's UTC offset (B3), e.g. `+08:00`.
    pub timezone: String,
}

/// A tier's seat price and quota.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPrices {
    /// Tokens (input + output) per seat per cycle (B9).
    pub quota_tokens: i64,
    /// Monthly seat price (B5).
    pub seat_price: PerCurrency,
}

/// A model's token prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrices {
    /// Per million input tokens.
    pub input_per_million: PerCurrency,
    /// Per million output tokens.
    pub output_per_million: PerCurrency,
}

/// The whole price list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// By region.
    pub regions: BTreeMap<Region, RegionPrices>,
    /// By tier name.
    pub tiers: BTreeMap<String, TierPrices>,
    /// By model name.
    pub models: BTreeMap<String, ModelPrices>,
}

impl Prices {
    /// The bundled `fixtures/prices.yaml`.
    pub fn bundled() -> Result<Self, PricesError> {
        Self::parse("fixtures/prices.yaml (bundled)", BUNDLED)
    }

    /// Reads a price list file.
    pub fn from_file(path: &Path) -> Result<Self, PricesError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PricesError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&name, &text)
    }

    /// Parses and checks a price list: both regions, their currencies and zones as B1 and B3
    /// fix them, and every price given in every region's currency.
    pub fn parse(path: &str, text: &str) -> Result<Self, PricesError> {
        let path = || path.to_owned();
        let prices: Prices = serde_yaml::from_str(text).map_err(|source| PricesError::Yaml {
            path: path(),
            source,
        })?;
        for (region, zone) in [(Region::Overseas, "+00:00"), (Region::Domestic, "+08:00")] {
            let Some(r) = prices.regions.get(&region) else {
                return Err(PricesError::MissingRegion {
                    path: path(),
                    region,
                });
            };
            if r.currency != Currency::of(region) || r.timezone != zone {
                return Err(PricesError::WrongRegion {
                    path: path(),
                    region,
                    zone,
                    found: r.currency,
                    found_zone: r.timezone.clone(),
                });
            }
        }
        let negative = |what: String, prices: &PerCurrency| {
            [Currency::Cny, Currency::Usd]
                .into_iter()
                .find(|c| prices.get(*c).is_sign_negative())
                .map(|currency| PricesError::NegativePrice {
                    path: path(),
                    what,
                    currency,
                })
        };
        for (tier, t) in &prices.tiers {
            if t.quota_tokens < 0 {
                return Err(PricesError::NegativeQuota {
                    path: path(),
                    tier: tier.clone(),
                });
            }
            if let Some(e) = negative(format!("tier `{tier}` seat_price"), &t.seat_price) {
                return Err(e);
            }
        }
        for (model, m) in &prices.models {
            for (what, p) in [
                ("input_per_million", &m.input_per_million),
                ("output_per_million", &m.output_per_million),
            ] {
                if let Some(e) = negative(format!("model `{model}` {what}"), p) {
                    return Err(e);
                }
            }
        }
        Ok(prices)
    }

    /// The exact price of `input` and `output` tokens of `model` in `currency`, unrounded
    /// (B11); `None` for a model the list does not price.
    pub fn usage_price(
        &self,
        model: &str,
        currency: Currency,
        input: i64,
        output: i64,
    ) -> Option<Decimal> {
        let m = self.models.get(model)?;
        Some(
            (Decimal::from(input) * m.input_per_million.get(currency)
                + Decimal::from(output) * m.output_per_million.get(currency))
                / Decimal::from(1_000_000),
        )
    }

    /// A tier, or an error listing the known tiers.
    pub fn tier(&self, tier: &str) -> Result<&TierPrices, UnknownTier> {
        self.tiers.get(tier).ok_or_else(|| UnknownTier {
            tier: tier.to_owned(),
            known: self
                .tiers
                .keys()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b2_the_bundled_price_list_parses_and_names_its_tiers() {
        let prices = Prices::bundled().unwrap();
        assert_eq!(prices.tiers["plus"].seat_price.usd.to_string(), "20.00");
        assert!(
            prices
                .tier("gold")
                .unwrap_err()
                .to_string()
                .contains("`max`, `plus`")
        );
    }

    #[test]
    fn b1_b3_each_region_bills_in_its_own_currency_and_zone() {
        let text = BUNDLED.replace("currency: CNY", "currency: USD");
        let err = Prices::parse("p.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("region `domestic` must bill in CNY"), "{err}");
        let text = BUNDLED.replace("currency: CNY", "currency: EUR");
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(err.contains("unknown variant `EUR`"), "{err}");
    }

    #[test]
    fn a_price_missing_a_currency_or_in_an_unknown_one_is_refused() {
        let text = BUNDLED.replace(r#"{ USD: "20.00", CNY: "140.00" }"#, r#"{ USD: "20.00" }"#);
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(err.contains("missing field `CNY`"), "{err}");
        let text = BUNDLED.replace(r#"CNY: "140.00" }"#, r#"CNY: "140.00", EUR: "1" }"#);
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(err.contains("unknown field `EUR`"), "{err}");
    }
}
