//! The price list (B2): currencies and zones per region, seat prices and quotas per tier,
//! token prices per model.

use std::collections::BTreeMap;
use std::path::Path;

use gatekeeper::Region;
use rust_decimal::Decimal;
use serde::de::value::StrDeserializer;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::money;

/// The price list compiled into the binary.
pub const BUNDLED: &str = include_str!("../fixtures/prices.yaml");

/// How the bundled price list is named in errors and plans.
pub const BUNDLED_NAME: &str = "fixtures/prices.yaml (bundled)";

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
}

/// The highest price a list may hold, per seat-month or per million tokens, in either
/// currency. It keeps every product the billing job forms far below a decimal's largest
/// value (about 7.9 × 10²⁸): a usage line's token counts are sums held in `i64`, at most
/// 9.2 × 10¹⁸ each (a single billed event has at most 100,000,000 tokens, B13), so input and
/// output priced together stay below 2 × 9.2 × 10¹⁸ × 10⁶ ≈ 1.8 × 10²⁵ before dividing by a
/// million; seats (`u32`) × a seat price × the days of a cycle stay below 1.4 × 10¹⁷. Sums of
/// many lines are still checked ([`crate::money`]).
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

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
    #[serde(rename = "USD", deserialize_with = "price")]
    pub usd: Decimal,
    /// In Chinese yuan.
    #[serde(rename = "CNY", deserialize_with = "price")]
    pub cny: Decimal,
}

/// A price, from 0 to [`MAX_PRICE`]: refused while its scalar is read, so the error names
/// its line.
fn price<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    struct Price;

    impl Visitor<'_> for Price {
        type Value = Decimal;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a price as a decimal string, like \"20.00\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
            let price = <Decimal as Deserialize>::deserialize(StrDeserializer::<E>::new(text))?;
            if price.is_sign_negative() {
                Err(E::custom(format_args!("price `{price}` is negative")))
            } else if price > MAX_PRICE {
                Err(E::custom(format_args!(
                    "price `{price}` is over the highest price a list may hold, {MAX_PRICE} (prices are per seat-month or per million tokens)"
                )))
            } else {
                Ok(price)
            }
        }
    }

    deserializer.deserialize_str(Price)
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
        Self::parse(BUNDLED_NAME, BUNDLED)
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
    /// fix them, and every price given in every region's currency, from 0 to [`MAX_PRICE`].
    pub fn parse(path: &str, text: &str) -> Result<Self, PricesError> {
        let path = || path.to_owned();
        let prices: Prices =
            crate::unique_keys::from_yaml(text).map_err(|source| PricesError::Yaml {
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
        for (tier, t) in &prices.tiers {
            if t.quota_tokens < 0 {
                return Err(PricesError::NegativeQuota {
                    path: path(),
                    tier: tier.clone(),
                });
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
    ) -> Result<Option<Decimal>, money::Overflow> {
        let Some(m) = self.models.get(model) else {
            return Ok(None);
        };
        let input = money::mul(Decimal::from(input), m.input_per_million.get(currency))?;
        let output = money::mul(Decimal::from(output), m.output_per_million.get(currency))?;
        money::div(money::add(input, output)?, Decimal::from(1_000_000)).map(Some)
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

    #[test]
    fn b2_a_price_over_the_bound_is_refused_and_the_bound_keeps_usage_priceable() {
        let text = BUNDLED.replace(r#"CNY: "140.00" }"#, r#"CNY: "1000000.01" }"#);
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(
            err.contains("price `1000000.01` is over the highest"),
            "{err}"
        );
        assert!(
            err.contains("tiers.plus.seat_price.CNY") && err.contains("at line 10"),
            "{err}"
        );
        let text = BUNDLED.replace(r#""0.30""#, r#""-0.30""#);
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(
            err.contains("price `-0.30` is negative") && err.contains("at line 16"),
            "{err}"
        );
        let text = BUNDLED.replace(r#"CNY: "140.00" }"#, r#"CNY: "1000000" }"#);
        Prices::parse("p.yaml", &text).unwrap();
        // The largest token counts a line can hold, at the highest price, still fit.
        let mut prices = Prices::bundled().unwrap();
        for m in prices.models.values_mut() {
            m.input_per_million.usd = MAX_PRICE;
            m.output_per_million.usd = MAX_PRICE;
        }
        let model = prices.models.keys().next().unwrap().clone();
        let price = prices.usage_price(&model, Currency::Usd, i64::MAX, i64::MAX);
        assert_eq!(price, Ok(Some(Decimal::from(i64::MAX) * Decimal::TWO)));
    }

    #[test]
    fn a_tier_defined_twice_is_refused_naming_the_line() {
        let text = BUNDLED.replacen("tiers:\n", "tiers:\n  plus:\n    quota_tokens: 1\n    seat_price: { USD: \"0.01\", CNY: \"0.01\" }\n", 1);
        let err = crate::error_chain(&Prices::parse("p.yaml", &text).unwrap_err());
        assert!(
            err.contains("duplicate key `plus`") && err.contains("at line"),
            "{err}"
        );
    }
}
