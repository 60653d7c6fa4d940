//! The ids of users, Teams and pay-as-you-go keys (rule T7), and the Token Plan Key ids built
//! from them (`tp:TEAM:USER`). [`TeamId`], [`UserId`] and [`PaygKeyId`] are made only through
//! T7's [`check`]: from text, from a `String` or deserialized. Ids name files under `billing run
//! --out`, so only ids that pass [`check`] ever become paths.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use gatekeeper::TokenPlanKeyId;
use serde::{Deserialize, Serialize};

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A user (`as`, `user`, `from`, `to`).
    User,
    /// A Team (`team`; a Default Team's id is its user's id).
    Team,
    /// A pay-as-you-go API key (`key`).
    PaygKey,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::User => "user",
            IdKind::Team => "Team",
            IdKind::PaygKey => "pay-as-you-go key",
        })
    }
}

/// The longest id, in characters (T7).
pub const MAX_LEN: usize = 64;

/// An id that breaks rule T7. The id is shown escaped, so a control character is visible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a {kind} id can't be empty (rule T7)")]
    Empty { kind: IdKind },
    /// Over [`MAX_LEN`] characters.
    #[error(
        "{kind} id `{}…` is {len} characters long; ids have at most 64 (rule T7)",
        shown(id, 24)
    )]
    TooLong {
        kind: IdKind,
        id: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character outside ASCII letters, digits, `-`, `_` and `.`.
    #[error("{kind} id `{}` contains `{}`; ids use only ASCII letters, digits, `-`, `_` and `.` (rule T7)", shown(id, MAX_LEN), character.escape_debug())]
    Character {
        kind: IdKind,
        id: String,
        /// The first character not allowed.
        character: char,
    },
    /// Starts with `.` or `-`.
    #[error(
        "{kind} id `{}` starts with `{first}`; ids start with a letter, a digit or `_` (rule T7)",
        shown(id, MAX_LEN)
    )]
    Start {
        kind: IdKind,
        id: String,
        first: char,
    },
    /// `summary` in any case, the name of a billing day's summary file.
    #[error(
        "`{}` is not a Team id: `summary`, in any case, names the run summary's file (rule T7)",
        shown(id, MAX_LEN)
    )]
    Reserved { id: String },
    /// A key id that is neither a pay-as-you-go key id nor `tp:TEAM:USER` of valid ids.
    #[error(
        "key id `{}` is neither a pay-as-you-go key id nor a Token Plan Key id `tp:TEAM:USER`: {reason}",
        shown(id, MAX_LEN)
    )]
    Key {
        id: String,
        /// What is wrong with its parts.
        reason: Box<IdError>,
    },
}

/// At most `max` characters of `id`, control characters escaped: how any text a user gave is
/// echoed in a message, so that no escape, tab or bell byte reaches a terminal or a log raw.
pub fn shown(id: &str, max: usize) -> String {
    escaped(&id.chars().take(max).collect::<String>())
}

/// `text` with every character a terminal or log could act on (control and format characters,
/// combining marks) escaped as in Rust source (`\t`, `\u{1b}`): input quoted in a message
/// shows as what it is.
pub fn escaped(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '\'' | '"' => shown.push(c),
            c => shown.extend(c.escape_debug()),
        }
    }
    shown
}

/// An id type whose values passed [`check`] for its kind; written and read as a string, a
/// value that breaks T7 refused on deserialize with the same [`IdError`].
macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(id: String) -> Result<Self, IdError> {
                check($kind, &id).map(|()| Self(id))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(id: &str) -> Result<Self, IdError> {
                check($kind, id).map(|()| Self(id.to_owned()))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

checked_id!(
    /// A Team's id: never `summary`, in any case.
    TeamId,
    IdKind::Team
);

checked_id!(UserId, IdKind::User);

checked_id!(
    /// A pay-as-you-go key's id: never of the Token Plan Key form `tp:TEAM:USER`, since T7
    /// refuses `:`.
    PaygKeyId,
    IdKind::PaygKey
);

impl UserId {
    /// The id of the user's Default Team, which is theirs, if T7 takes it as a Team id (it
    /// refuses `summary` there).
    pub fn default_team(&self) -> Result<TeamId, IdError> {
        self.as_str().parse()
    }
}

/// Checks `id` against rule T7.
pub fn check(kind: IdKind, id: &str) -> Result<(), IdError> {
    let Some(first) = id.chars().next() else {
        return Err(IdError::Empty { kind });
    };
    let len = id.chars().count();
    if len > MAX_LEN {
        return Err(IdError::TooLong {
            kind,
            id: id.to_owned(),
            len,
        });
    }
    if matches!(first, '.' | '-') {
        return Err(IdError::Start {
            kind,
            id: id.to_owned(),
            first,
        });
    }
    if let Some(character) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::Character {
            kind,
            id: id.to_owned(),
            character,
        });
    }
    if kind == IdKind::Team && id.eq_ignore_ascii_case("summary") {
        return Err(IdError::Reserved { id: id.to_owned() });
    }
    Ok(())
}

/// Checks a key id as a usage event carries it: a pay-as-you-go key id, or a Token Plan Key
/// id whose Team and user ids are valid.
pub fn check_key(key: &str) -> Result<(), IdError> {
    let wrap = |reason: IdError| IdError::Key {
        id: key.to_owned(),
        reason: Box::new(reason),
    };
    match TokenPlanKeyId::parse(key) {
        Some(TokenPlanKeyId { team, user }) => {
            check(IdKind::Team, team).map_err(wrap)?;
            check(IdKind::User, user).map_err(wrap)
        }
        None => check(IdKind::PaygKey, key).map_err(wrap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn t7_accepts_ids_of_the_allowed_alphabet_up_to_64_characters() {
        for id in [
            "a",
            "acme",
            "u_1",
            "_x",
            "9lives",
            "a.b-c_d",
            &"x".repeat(64),
        ] {
            assert_eq!(check(IdKind::Team, id), Ok(()), "{id}");
        }
    }

    #[test]
    fn t7_refuses_empty_long_escaping_reserved_and_non_ascii_ids() {
        let refused = |kind, id: &str| check(kind, id).unwrap_err().to_string();
        assert_eq!(
            refused(IdKind::Team, ""),
            "a Team id can't be empty (rule T7)"
        );
        assert!(refused(IdKind::User, &"x".repeat(65)).contains("is 65 characters long"));
        assert!(refused(IdKind::Team, "../../escape").contains("starts with `.`"));
        assert!(refused(IdKind::Team, "a/b").contains("contains `/`"));
        assert!(refused(IdKind::User, "a\0b").contains("contains `\\0`"));
        assert!(refused(IdKind::User, "-x").contains("starts with `-`"));
        assert!(refused(IdKind::Team, "caf\u{e9}").contains("contains `é`"));
        assert!(refused(IdKind::Team, "cafe\u{301}").contains("contains"));
        assert!(refused(IdKind::PaygKey, "tp:x:y").contains("contains `:`"));
        assert!(refused(IdKind::Team, "summary").contains("`summary` is not a Team id"));
        assert!(refused(IdKind::Team, "Summary").contains("`Summary` is not a Team id"));
        assert!(refused(IdKind::Team, "SUMMARY").contains("in any case"));
        assert_eq!(check(IdKind::User, "summary"), Ok(()));
    }

    #[test]
    fn token_plan_key_ids_round_trip_and_are_checked_by_part() {
        let key = TokenPlanKeyId::new("acme", "bob").to_string();
        assert_eq!(key, "tp:acme:bob");
        assert_eq!(
            TokenPlanKeyId::parse(&key),
            Some(TokenPlanKeyId::new("acme", "bob"))
        );
        assert_eq!(check_key(&key), Ok(()));
        assert_eq!(check_key("k1"), Ok(()));
        assert!(
            check_key("tp:acme:b/ob")
                .unwrap_err()
                .to_string()
                .contains("contains `/`")
        );
        assert!(check_key("tp:summary:bob").is_err());
        assert!(check_key("tp:acme").is_err());
    }

    #[test]
    fn id_types_are_made_only_through_t7_and_refuse_the_same_way_when_deserialized() {
        let team: TeamId = "acme".parse().unwrap();
        assert_eq!(
            (team.as_str(), team.to_string()),
            ("acme", "acme".to_owned())
        );
        assert_eq!(TeamId::try_from("acme".to_owned()), Ok(team.clone()));
        assert_eq!(
            "a/b".parse::<TeamId>(),
            Err(check(IdKind::Team, "a/b").unwrap_err())
        );
        assert_eq!(
            "tp:t:u".parse::<PaygKeyId>(),
            Err(check(IdKind::PaygKey, "tp:t:u").unwrap_err())
        );
        assert!("summary".parse::<UserId>().is_ok());
        assert_eq!(serde_json::to_string(&team).unwrap(), "\"acme\"");
        assert_eq!(serde_json::from_str::<TeamId>("\"acme\"").unwrap(), team);
        let refused = serde_json::from_str::<TeamId>("\"../escape\"").unwrap_err();
        let message = check(IdKind::Team, "../escape").unwrap_err().to_string();
        assert!(refused.to_string().starts_with(&message), "{refused}");
        let by_id = std::collections::BTreeMap::from([(team, 1)]);
        assert_eq!(by_id.get("acme"), Some(&1));
    }

    #[test]
    fn a_default_teams_id_is_its_users_checked_as_a_team_id() {
        let user: UserId = "olga".parse().unwrap();
        assert_eq!(user.default_team().unwrap().as_str(), "olga");
        let summary: UserId = "Summary".parse().unwrap();
        assert_eq!(
            summary.default_team(),
            Err(IdError::Reserved {
                id: "Summary".to_owned()
            })
        );
    }

    #[test]
    fn escaped_shows_control_and_format_characters_and_keeps_the_rest() {
        assert_eq!(escaped("a\u{1b}[31mb\tc\u{7}"), "a\\u{1b}[31mb\\tc\\u{7}");
        assert_eq!(escaped("\u{202e}x\n"), "\\u{202e}x\\n");
        assert_eq!(
            escaped("caf\u{e9} `it's` \"q\" a\\b"),
            "caf\u{e9} `it's` \"q\" a\\b"
        );
    }

    proptest! {
        /// Whatever the bytes, a valid id is a safe file name: no separator, no `..`, not hidden.
        #[test]
        fn t7_a_valid_id_is_a_plain_file_name(id in "\\PC{0,70}") {
            if check(IdKind::Team, &id).is_ok() {
                let path = std::path::Path::new(&id);
                prop_assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(id.as_str()));
                prop_assert!(!id.starts_with('.'));
                prop_assert!(id.len() <= MAX_LEN);
            }
        }
    }
}
