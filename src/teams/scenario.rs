//! Scenario files: a YAML list of steps, parsed with errors that name the step and field.

use chrono::{DateTime, Utc};
use serde_yaml::{Mapping, Value};

use super::operation::{ID_FIELDS, Operation, Step};
use crate::ids::{self, IdError, escaped};

/// A scenario file that can't be run as written.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("`{file}` is not a YAML list of steps")]
    Yaml {
        file: String,
        source: serde_yaml::Error,
    },
    /// YAML, but not a list.
    #[error("`{file}` is not a YAML list of steps: the top level must be a list (`- at: ...`)")]
    NotAList { file: String },
    /// One step is malformed.
    #[error("`{file}` step {step}")]
    Step {
        file: String,
        /// 1-based step number.
        step: usize,
        /// What is wrong, naming the field.
        source: StepError,
    },
}

/// What is wrong with one step, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("a step must be a mapping with `at`, `as` and `do`")]
    NotAMapping,
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field is blank.
    #[error("`{0}` is empty")]
    Empty(&'static str),
    /// A field that must be a string is not.
    #[error("`{field}` must be a string, not `{}`", escaped(value))]
    NotAString {
        field: &'static str,
        /// What it holds, as YAML.
        value: String,
    },
    /// `at` is not a time.
    #[error(
        "`at` is not an RFC 3339 time like `2026-11-23T09:00:00Z` (`{}`)",
        escaped(text)
    )]
    Time {
        /// The text given.
        text: String,
        /// Why it does not parse.
        source: chrono::ParseError,
    },
    /// `expect` holds something other than `denied`.
    #[error("`expect` must be `denied`, not `{}`", escaped(.0))]
    Expect(String),
    /// An id that breaks rule T7.
    #[error("`{field}`")]
    Id {
        /// The field that holds it (`as`, `team`, `user`, `from`, `to`, `key`).
        field: &'static str,
        #[source]
        source: IdError,
    },
    /// `do` is not a string.
    #[error("`do` must be an operation name, not `{}`", escaped(.0))]
    NotAnOperation(String),
    /// The operation's fields don't fit it (an unknown operation, a missing or unknown field,
    /// a field's value of the wrong type).
    #[error("`do: {}`: {}", escaped(name), escaped(message))]
    Operation {
        /// The operation named.
        name: String,
        /// What the parser said, without its own `do: ` prefix.
        message: String,
    },
}

/// Parses a scenario's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Step>, ScenarioError> {
    let value: Value =
        crate::unique_keys::from_yaml(text).map_err(|source| ScenarioError::Yaml {
            file: file.to_owned(),
            source,
        })?;
    let Value::Sequence(items) = value else {
        return Err(ScenarioError::NotAList {
            file: file.to_owned(),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            parse_step(item).map_err(|source| ScenarioError::Step {
                file: file.to_owned(),
                step: i + 1,
                source,
            })
        })
        .collect()
}

fn take_string(map: &mut Mapping, field: &'static str) -> Result<String, StepError> {
    match map.remove(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(StepError::Empty(field)),
        Some(other) => Err(StepError::NotAString {
            field,
            value: render(&other),
        }),
        None => Err(StepError::Missing(field)),
    }
}

fn render(value: &Value) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn parse_step(item: Value) -> Result<Step, StepError> {
    let Value::Mapping(mut map) = item else {
        return Err(StepError::NotAMapping);
    };
    let text = take_string(&mut map, "at")?;
    let at = DateTime::parse_from_rfc3339(&text)
        .map_err(|source| StepError::Time {
            text: text.clone(),
            source,
        })?
        .with_timezone(&Utc);
    let actor = take_string(&mut map, "as")?
        .try_into()
        .map_err(|source| StepError::Id {
            field: "as",
            source,
        })?;
    let id = if map.contains_key("id") {
        Some(take_string(&mut map, "id")?)
    } else {
        None
    };
    let expect_denied = match map.remove("expect") {
        None => false,
        Some(Value::String(s)) if s == "denied" => true,
        Some(other) => return Err(StepError::Expect(render(&other))),
    };
    let name = match map.get("do") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(StepError::NotAnOperation(render(other))),
        None => return Err(StepError::Missing("do")),
    };
    let operation: Operation = match serde_yaml::from_value(Value::Mapping(map.clone())) {
        Ok(operation) => operation,
        Err(e) => {
            let misfit = misfit_field(&name, &map);
            if let Some(refusal) = misfit.as_deref().and_then(|field| id_refusal(&map, field)) {
                return Err(refusal);
            }
            let message = e.to_string().replace("do: ", "");
            let message = match misfit {
                Some(field) if !message.contains(&format!("`{field}`")) => {
                    format!("`{field}`: {message}")
                }
                _ => message,
            };
            return Err(StepError::Operation { name, message });
        }
    };
    Ok(Step {
        id,
        at,
        actor,
        operation,
        expect_denied,
    })
}

/// The refusal of `field` when it holds an id that breaks rule T7: the operation's own error
/// is a parser's message, without the id's [`IdError`].
fn id_refusal(map: &Mapping, field: &str) -> Option<StepError> {
    let (field, kind) = ID_FIELDS.into_iter().find(|(name, _)| *name == field)?;
    let Some(Value::String(id)) = map.get(field) else {
        return None;
    };
    let source = ids::check(kind, id).err()?;
    Some(StepError::Id { field, source })
}

/// The field of `map` whose value operation `name` can't take: deserialized alone with `do`,
/// a field that fits leaves at most "missing field" errors. None when `do` itself is wrong.
fn misfit_field(name: &str, map: &Mapping) -> Option<String> {
    let fits = |field: Option<(&Value, &Value)>| {
        let mut alone = Mapping::new();
        alone.insert("do".into(), name.into());
        alone.extend(field.map(|(k, v)| (k.clone(), v.clone())));
        match serde_yaml::from_value::<Operation>(Value::Mapping(alone)) {
            Ok(_) => true,
            Err(e) => e.to_string().contains("missing field"),
        }
    };
    if !fits(None) {
        return None;
    }
    map.iter()
        .filter(|(key, _)| key.as_str() != Some("do"))
        .find(|field| !fits(Some(*field)))
        .and_then(|(key, _)| key.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error and its causes, as the command line prints them.
    fn error(text: &str) -> String {
        crate::error_chain(&parse("s.yaml", text).unwrap_err())
    }

    #[test]
    fn parses_a_step() {
        let steps = parse(
            "s.yaml",
            "- { at: '2026-11-23T09:00:00+08:00', as: olga, do: top_up_credits, team: acme, amount: '12.50' }\n",
        )
        .unwrap();
        assert_eq!(steps[0].at.to_rfc3339(), "2026-11-23T01:00:00+00:00");
        assert_eq!(steps[0].id, None);
        let with_id = parse(
            "s.yaml",
            "- { id: top-up-7, at: '2026-11-23T09:00:00Z', as: olga, do: create_account }\n",
        )
        .unwrap();
        assert_eq!(with_id[0].id.as_deref(), Some("top-up-7"));
        assert!(
            matches!(&steps[0].operation, Operation::TopUpCredits { amount, .. } if amount.to_string() == "12.50")
        );
    }

    #[test]
    fn malformed_steps_name_the_step_and_field() {
        let ok = "- { at: '2026-11-23T09:00:00Z', as: olga, do: create_account }\n";
        assert_eq!(
            error(&format!(
                "{ok}- {{ at: yesterday, as: olga, do: leave, team: acme }}\n"
            )),
            "`s.yaml` step 2: `at` is not an RFC 3339 time like `2026-11-23T09:00:00Z` (`yesterday`): premature end of input"
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: fly }")
                .contains("step 1: `do: fly`: unknown variant `fly`")
        );
        assert!(
            error(
                "- { at: '2026-11-23T09:00:00Z', as: olga, do: invite, team: acme, role: admin }"
            )
            .contains("missing field `user`")
        );
        assert!(error("- { at: '2026-11-23T09:00:00Z', as: olga, do: top_up_wallet, team: acme, amount: 'ten' }").contains("step 1: `do: top_up_wallet`"));
        assert!(error("- { at: '2026-11-23T09:00:00Z', as: olga, do: top_up_wallet, team: acme, amount: '-1' }").contains("`amount` must be positive"));
        assert!(error("- { at: '2026-11-23T09:00:00Z', as: olga, do: add_seats, team: acme, tier: plus, seats: 0 }").contains("`seats` must be at least 1"));
        assert!(error("- { at: '2026-11-23T09:00:00Z', as: olga, do: add_seats, team: acme, tier: plus, seats: -1 }").contains("`do: add_seats`: `seats`: invalid value: integer `-1`"));
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: create_account, region: mars }")
                .contains("`do: create_account`: `region`: ")
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: leave, team: [a] }")
                .contains("`do: leave`: `team`: invalid type: sequence")
        );
        assert!(
            error("- { id: '', at: '2026-11-23T09:00:00Z', as: olga, do: create_account }")
                .contains("`id` is empty")
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', do: leave, team: acme }")
                .contains("missing field `as`")
        );
        assert_eq!(
            error("- { at: '2026-11-23T09:00:00Z', as: a/b, do: create_account }"),
            "`s.yaml` step 1: `as`: user id `a/b` contains `/`; ids use only ASCII letters, digits, `-`, `_` and `.` (rule T7)"
        );
        assert_eq!(
            error(
                "- { at: '2026-11-23T09:00:00Z', as: olga, do: invite, team: acme, user: '-x', role: admin }"
            ),
            "`s.yaml` step 1: `user`: user id `-x` starts with `-`; ids start with a letter, a digit or `_` (rule T7)"
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: create_payg_key, team: acme, key: 'tp:acme:olga' }")
                .starts_with("`s.yaml` step 1: `key`: pay-as-you-go key id `tp:acme:olga` contains `:`")
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: reassign_seat, team: acme, from: ann, to: '' }")
                .starts_with("`s.yaml` step 1: `to`: a user id can't be empty")
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: leave, team: acme, colour: red }")
                .contains("unknown field `colour`")
        );
    }
}
