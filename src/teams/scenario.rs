//! Scenario files: a YAML list of steps, parsed with errors that name the step and field.

use chrono::{DateTime, Utc};
use serde_yaml::{Mapping, Value};

use super::operation::{Operation, Step};

/// A scenario file that can't be run as written.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not YAML, or not a list of steps.
    #[error("`{file}` is not a YAML list of steps: {message}")]
    NotAList {
        /// The file.
        file: String,
        /// What the parser said.
        message: String,
    },
    /// One step is malformed.
    #[error("`{file}` step {step}: {message}")]
    Step {
        /// The file.
        file: String,
        /// 1-based step number.
        step: usize,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Parses a scenario's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Step>, ScenarioError> {
    let not_a_list = |message: String| ScenarioError::NotAList {
        file: file.to_owned(),
        message,
    };
    let value: Value = serde_yaml::from_str(text).map_err(|e| not_a_list(e.to_string()))?;
    let Value::Sequence(items) = value else {
        return Err(not_a_list(
            "the top level must be a list (`- at: ...`)".into(),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            parse_step(item).map_err(|message| ScenarioError::Step {
                file: file.to_owned(),
                step: i + 1,
                message,
            })
        })
        .collect()
}

fn take_string(map: &mut Mapping, field: &str) -> Result<String, String> {
    match map.remove(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("`{field}` is empty")),
        Some(other) => Err(format!(
            "`{field}` must be a string, not `{}`",
            render(&other)
        )),
        None => Err(format!("missing field `{field}`")),
    }
}

fn render(value: &Value) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn parse_step(item: Value) -> Result<Step, String> {
    let Value::Mapping(mut map) = item else {
        return Err("a step must be a mapping with `at`, `as` and `do`".into());
    };
    let at_text = take_string(&mut map, "at")?;
    let at = DateTime::parse_from_rfc3339(&at_text)
        .map_err(|e| {
            format!(
                "`at` is not an RFC 3339 time (`{at_text}`): {e}; write e.g. `2026-11-23T09:00:00Z`"
            )
        })?
        .with_timezone(&Utc);
    let actor = take_string(&mut map, "as")?;
    let expect_denied = match map.remove("expect") {
        None => false,
        Some(Value::String(s)) if s == "denied" => true,
        Some(other) => {
            return Err(format!(
                "`expect` must be `denied`, not `{}`",
                render(&other)
            ));
        }
    };
    let name = match map.get("do") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "`do` must be an operation name, not `{}`",
                render(other)
            ));
        }
        None => return Err("missing field `do`".into()),
    };
    let operation: Operation = serde_yaml::from_value(Value::Mapping(map))
        .map_err(|e| format!("`do: {name}`: {}", e.to_string().replace("do: ", "")))?;
    validate(&operation)?;
    Ok(Step {
        at,
        actor,
        operation,
        expect_denied,
    })
}

/// Checks field values the types alone don't: positive seats and amounts, non-empty ids.
fn validate(operation: &Operation) -> Result<(), String> {
    match operation {
        Operation::BuySubscription { seats, .. }
        | Operation::AddSeats { seats, .. }
        | Operation::RemoveSeats { seats, .. }
            if *seats == 0 =>
        {
            Err("`seats` must be at least 1".into())
        }
        Operation::TopUpCredits { amount, .. } | Operation::TopUpWallet { amount, .. }
            if amount.is_sign_negative() || amount.is_zero() =>
        {
            Err(format!("`amount` must be positive, not `{amount}`"))
        }
        Operation::TopUpCredits { amount, .. } | Operation::TopUpWallet { amount, .. }
            if amount.scale() > 6 =>
        {
            Err(format!("`amount` has more than 6 decimals (`{amount}`)"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse("s.yaml", text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_step() {
        let steps = parse(
            "s.yaml",
            "- { at: '2026-11-23T09:00:00+08:00', as: olga, do: top_up_credits, team: acme, amount: '12.50' }\n",
        )
        .unwrap();
        assert_eq!(steps[0].at.to_rfc3339(), "2026-11-23T01:00:00+00:00");
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
            "`s.yaml` step 2: `at` is not an RFC 3339 time (`yesterday`): premature end of input; write e.g. `2026-11-23T09:00:00Z`"
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
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', do: leave, team: acme }")
                .contains("missing field `as`")
        );
        assert!(
            error("- { at: '2026-11-23T09:00:00Z', as: olga, do: leave, team: acme, colour: red }")
                .contains("unknown field `colour`")
        );
    }
}
