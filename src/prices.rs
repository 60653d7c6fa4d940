//! The price list (B2): currencies and zones per region, seat prices and quotas per tier,
//! token prices per model.

use std::collections::BTreeMap;
use std::path::Path;

use gatekeeper::Region;
use rust_decimal::Decimal;
use serde::Deserialize;

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
    /// The file is not a valid price list.
    #[error("prices `{path}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A region's currency and billing zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// `USD` or `CNY` (B1).
    pub currency: String,
    /// The billing zone's UTC offset (B3), e.g. `+08:00`.
    pub timezone: String,
}

/// A tier's seat price and quota.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPrices {
    /// Tokens (input + output) per seat per cycle (B9).
    pub quota_tokens: i64,
    /// Monthly seat price per currency (B5).
    pub seat_price: BTreeMap<String, Decimal>,
}

/// A model's token prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrices {
    /// Per million input tokens, per currency.
    pub input_per_million: BTreeMap<String, Decimal>,
    /// Per million output tokens, per currency.
    pub output_per_million: BTreeMap<String, Decimal>,
}

/// The whole price list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// By region name.
    pub regions: BTreeMap<String, RegionPrices>,
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
        let invalid = |message: String| PricesError::Invalid {
            path: path.to_owned(),
            message,
        };
        let prices: Prices = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for (region, currency, zone) in [
            (Region::Overseas, "USD", "+00:00"),
            (Region::Domestic, "CNY", "+08:00"),
        ] {
            let Some(r) = prices.regions.get(region.as_str()) else {
                return Err(invalid(format!("missing region `{}`", region.as_str())));
            };
            if r.currency != currency || r.timezone != zone {
                return Err(invalid(format!(
                    "region `{}` must bill in {currency} at {zone} (B1, B3), not {} at {}",
                    region.as_str(),
                    r.currency,
                    r.timezone
                )));
            }
        }
        for (tier, t) in &prices.tiers {
            if t.quota_tokens < 0 {
                return Err(invalid(format!(
                    "tier `{tier}`: `quota_tokens` is negative"
                )));
            }
            check_currencies(&t.seat_price, &format!("tier `{tier}` seat_price"))
                .map_err(invalid)?;
        }
        for (model, m) in &prices.models {
            check_currencies(
                &m.input_per_million,
                &format!("model `{model}` input_per_million"),
            )
            .map_err(invalid)?;
            check_currencies(
                &m.output_per_million,
                &format!("model `{model}` output_per_million"),
            )
            .map_err(invalid)?;
        }
        Ok(prices)
    }

    /// The currency of a region.
    pub fn currency(region: Region) -> &'static str {
        match region {
            Region::Overseas => "USD",
            Region::Domestic => "CNY",
        }
    }

    /// The exact price of `input` and `output` tokens of `model` in `currency`, unrounded
    /// (B11); zero for a model without a price.
    pub fn usage_price(&self, model: &str, currency: &str, input: i64, output: i64) -> Decimal {
        let Some(m) = self.models.get(model) else {
            return Decimal::ZERO;
        };
        let per_million =
            |prices: &BTreeMap<String, Decimal>| prices.get(currency).copied().unwrap_or_default();
        (Decimal::from(input) * per_million(&m.input_per_million)
            + Decimal::from(output) * per_million(&m.output_per_million))
            / Decimal::from(1_000_000)
    }

    /// A tier, or an error listing the known tiers.
    pub fn tier(&self, tier: &str) -> Result<&TierPrices, String> {
        self.tiers.get(tier).ok_or_else(|| {
            format!(
                "unknown tier `{tier}`; the price list has {}",
                self.tiers
                    .keys()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

fn check_currencies(prices: &BTreeMap<String, Decimal>, what: &str) -> Result<(), String> {
    for currency in ["USD", "CNY"] {
        match prices.get(currency) {
            None => return Err(format!("{what} has no {currency} price")),
            Some(p) if p.is_sign_negative() => {
                return Err(format!("{what} {currency} price is negative"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b2_bundled_prices_parse() {
        let prices = Prices::bundled().unwrap();
        assert_eq!(prices.tiers["plus"].seat_price["USD"].to_string(), "20.00");
        assert!(prices.tier("gold").unwrap_err().contains("`max`, `plus`"));
    }

    #[test]
    fn b1_b3_regions_are_fixed() {
        let text = BUNDLED.replace("currency: CNY", "currency: EUR");
        let err = Prices::parse("p.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("region `domestic` must bill in CNY"), "{err}");
    }
}
