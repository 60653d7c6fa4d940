//! Documents whose mappings repeat no key. serde's derive refuses a struct field given twice,
//! but a map (a price list's tiers, a JSON object) keeps the last value silently: every YAML
//! file and JSON Lines object the product reads goes through [`UniqueKeys`] first, so a
//! repeated key is an error at the repeat's line, at any depth.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// Parses YAML `text` as a `T`, refusing a mapping that repeats a key (the error names the
/// line of the repeat).
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
    serde_yaml::from_str::<UniqueKeys>(text)?;
    serde_yaml::from_str(text)
}

/// Any document, walked only to check that no mapping in it repeats a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Walk)
    }
}

/// Visits any value, checking the keys of each mapping in it.
struct Walk;

impl<'de> Visitor<'de> for Walk {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i128<E>(self, _: i128) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u128<E>(self, _: u128) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_none<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_some<D: Deserializer<'de>>(self, value: D) -> Result<UniqueKeys, D::Error> {
        UniqueKeys::deserialize(value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<UniqueKeys, A::Error> {
        while items.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = BTreeSet::new();
        while entries.next_key_seed(NewKey(&mut seen))?.is_some() {
            entries.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    /// A tagged value (`!tag value` in YAML): its contents are walked.
    fn visit_enum<A: EnumAccess<'de>>(self, tagged: A) -> Result<UniqueKeys, A::Error> {
        let (_, contents) = tagged.variant::<de::IgnoredAny>()?;
        contents.newtype_variant::<UniqueKeys>()
    }
}

/// A mapping's key, refused if the mapping had it already. Scalar keys compare by their text
/// (`1` and `"1"` are the same key once a map of strings reads them); a sequence or mapping
/// used as a key is walked, not compared.
struct NewKey<'a>(&'a mut BTreeSet<String>);

impl NewKey<'_> {
    fn insert<E: de::Error>(self, key: String) -> Result<UniqueKeys, E> {
        if self.0.contains(&key) {
            return Err(E::custom(format_args!(
                "duplicate key `{}`: each key may appear once in a mapping",
                key.escape_debug()
            )));
        }
        self.0.insert(key);
        Ok(UniqueKeys)
    }
}

impl<'de> DeserializeSeed<'de> for NewKey<'_> {
    type Value = UniqueKeys;

    fn deserialize<D: Deserializer<'de>>(self, key: D) -> Result<UniqueKeys, D::Error> {
        key.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NewKey<'_> {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, key: bool) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_i64<E: de::Error>(self, key: i64) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_i128<E: de::Error>(self, key: i128) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_u64<E: de::Error>(self, key: u64) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_u128<E: de::Error>(self, key: u128) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_f64<E: de::Error>(self, key: f64) -> Result<UniqueKeys, E> {
        self.insert(key.to_string())
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<UniqueKeys, E> {
        self.insert(key.to_owned())
    }

    fn visit_unit<E: de::Error>(self) -> Result<UniqueKeys, E> {
        self.insert("null".to_owned())
    }

    fn visit_none<E: de::Error>(self) -> Result<UniqueKeys, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, key: D) -> Result<UniqueKeys, D::Error> {
        key.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, items: A) -> Result<UniqueKeys, A::Error> {
        Walk.visit_seq(items)
    }

    fn visit_map<A: MapAccess<'de>>(self, entries: A) -> Result<UniqueKeys, A::Error> {
        Walk.visit_map(entries)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, tagged: A) -> Result<UniqueKeys, A::Error> {
        Walk.visit_enum(tagged)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_repeated_yaml_key_is_refused_at_the_repeat_s_line_at_any_depth() {
        let text = "tiers:\n  plus: 1\n  max: 2\n  plus: 3\n";
        let error = from_yaml::<BTreeMap<String, BTreeMap<String, i64>>>(text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("duplicate key `plus`"), "{error}");
        assert!(error.contains("line 4"), "{error}");
        let nested = "- at: x\n  do: top_up\n  fields:\n    amount: 1\n    amount: 2\n";
        let error = from_yaml::<serde_yaml::Value>(nested)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("duplicate key `amount`") && error.contains("line 5"),
            "{error}"
        );
    }

    #[test]
    fn scalar_keys_compare_by_their_text_and_control_characters_are_escaped() {
        let error = from_yaml::<serde_yaml::Value>("1: a\n\"1\": b\n").unwrap_err();
        assert!(error.to_string().contains("duplicate key `1`"), "{error}");
        let error = from_yaml::<serde_yaml::Value>("\"\\e\": a\n\"\\e\": b\n").unwrap_err();
        assert!(error.to_string().contains("`\\u{1b}`"), "{error}");
    }

    #[test]
    fn unique_keys_parse_as_before() {
        let text = "a: [1, {b: 2, c: 3}]\nd: !tag {e: 4}\n? [x]\n: y\n";
        assert_eq!(
            from_yaml::<serde_yaml::Value>(text).unwrap(),
            serde_yaml::from_str::<serde_yaml::Value>(text).unwrap()
        );
    }

    #[test]
    fn a_repeated_json_key_is_refused() {
        let error =
            serde_json::from_str::<UniqueKeys>(r#"{"ts": 1, "a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(error.to_string().contains("duplicate key `b`"), "{error}");
        assert!(
            serde_json::from_str::<UniqueKeys>(r#"{"ts": 1, "a": [{"b": 1}, {"b": 2}]}"#).is_ok()
        );
    }
}
