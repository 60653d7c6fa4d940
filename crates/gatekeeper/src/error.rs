//! Errors of loading policies and of building requests.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a policy directory, located at a file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the policy directory.
    pub file: String,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong, and where the text allows, what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// Why a policy directory could not be loaded. Loading fails closed: no gatekeeper is built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The path that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The directory has no schema file.
    #[error("no schema `tokenplan.cedarschema` in `{}`", dir.display())]
    NoSchema {
        /// The directory searched.
        dir: PathBuf,
    },
    /// Parsing, strict validation or the lint found problems.
    #[error("{} problem(s) in the policies:\n{}", problems.len(), render(problems))]
    Invalid {
        /// Every problem found, in file and line order.
        problems: Vec<Problem>,
    },
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a typed request could not be turned into a Cedar request. The caller must deny.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request does not conform to the schema.
    #[error("request for `{action}` does not conform to the schema")]
    Schema {
        /// The action being authorized.
        action: &'static str,
        /// Cedar's error.
        source: Box<cedar_policy::RequestValidationError>,
    },
    /// The request's entities do not form a valid entity store.
    #[error("invalid entities for `{action}`")]
    Entities {
        /// The action being authorized.
        action: &'static str,
        /// Cedar's error.
        source: Box<cedar_policy::entities_errors::EntitiesError>,
    },
}

/// A role, region or action name that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`; expected {expected}")]
pub struct UnknownName {
    /// What was named: `role`, `region`, `action`.
    pub kind: &'static str,
    /// The name given.
    pub name: String,
    /// The names that are known, for people.
    pub expected: &'static str,
}

impl UnknownName {
    pub(crate) fn new(kind: &'static str, name: &str, expected: &'static str) -> Self {
        UnknownName {
            kind,
            name: name.to_owned(),
            expected,
        }
    }
}

/// An error and its causes on one line, each said once (`what failed: why: deeper why`), for
/// a log line: every error of this crate says only its own part and keeps its cause as
/// `source()`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}
