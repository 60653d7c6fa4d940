//! Which policy set a reviewer's command reads, where its files are, and its digest: every
//! `file:line` names the files actually read, and every command says which set it checked.

use std::fmt;
use std::path::{Path, PathBuf};

use gatekeeper::{Gatekeeper, LoadError, PolicySources, Problem, digest};

/// How `--policies` names the set compiled into the binary.
pub const COMPILED_IN: &str = "compiled-in";

/// A policy set named on the command line: a directory, or the compiled-in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `DIR/tokenplan.cedarschema` and `DIR/*.cedar`.
    Dir(PathBuf),
    /// The reviewed `policies/` compiled into the binary.
    CompiledIn,
}

impl std::str::FromStr for Choice {
    type Err = std::convert::Infallible;

    /// `compiled-in`, or a directory (`./compiled-in` names a directory of that name).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            COMPILED_IN => Choice::CompiledIn,
            dir => Choice::Dir(PathBuf::from(dir)),
        })
    }
}

impl Choice {
    /// The set a reviewer means when naming none: `./policies` when it exists, else the
    /// compiled-in set.
    pub fn reviewed_default() -> Choice {
        let here = Path::new("policies");
        if here.is_dir() {
            Choice::Dir(here.to_owned())
        } else {
            Choice::CompiledIn
        }
    }

    /// Where the files of this set are read from.
    pub fn origin(&self) -> Origin {
        match self {
            Choice::Dir(dir) => Origin::Dir(dir.clone()),
            Choice::CompiledIn => Origin::CompiledIn,
        }
    }
}

/// Where a set's files were read from; it names them in every `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A directory on disk.
    Dir(PathBuf),
    /// The compiled-in copy of the reviewed `policies/`.
    CompiledIn,
    /// `policies/` of a git revision (checked out into a temporary directory).
    Git {
        /// The revision, as given.
        rev: String,
        /// The temporary directory its files were written to.
        checkout: PathBuf,
    },
}

impl Origin {
    /// How `file` of this set is named in `file:line`.
    pub fn path(&self, file: &str) -> String {
        match self {
            Origin::Dir(dir) => dir.join(file).display().to_string(),
            Origin::CompiledIn => format!("{COMPILED_IN}:{file}"),
            Origin::Git { rev, .. } => format!("{rev}:policies/{file}"),
        }
    }

    /// The command that lists every problem of this set with `file:line`.
    pub fn check_command(&self) -> String {
        match self {
            Origin::Dir(dir) => format!("tokenplan policy check --policies {}", dir.display()),
            Origin::CompiledIn => format!("tokenplan policy check --policies {COMPILED_IN}"),
            Origin::Git { rev, .. } => {
                format!("tokenplan policy check --policies policies` in a checkout of `{rev}")
            }
        }
    }

    /// The files of this set.
    pub fn read(&self) -> Result<Sources, LoadError> {
        let sources = match self {
            Origin::Dir(dir) | Origin::Git { checkout: dir, .. } => PolicySources::from_dir(dir)?,
            Origin::CompiledIn => PolicySources::bundled(),
        };
        Ok(Sources {
            digest: digest(&sources),
            origin: self.clone(),
            sources,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Dir(dir) => write!(f, "{}", dir.display()),
            Origin::CompiledIn => f.write_str(COMPILED_IN),
            Origin::Git { rev, .. } => write!(f, "git {rev}:policies"),
        }
    }
}

/// The files of one set, read, with where they came from and their digest.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Where they were read from.
    pub origin: Origin,
    /// The schema and the policy files.
    pub sources: PolicySources,
    /// `sha256:HEX` of the schema and policy files ([`gatekeeper::digest`]: the digest every
    /// decision of this set carries).
    pub digest: String,
}

impl Sources {
    /// `DIR (sha256:...)`: what a command says it checked.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.origin, self.digest)
    }

    /// `path:line: message`, the file named as it was read.
    pub fn problem(&self, problem: &Problem) -> String {
        let file = self.origin.path(&problem.file);
        match problem.line {
            0 => format!("{file}: {}", problem.message),
            line => format!("{file}:{line}: {}", problem.message),
        }
    }

    /// The set loaded, validated strictly.
    pub fn load(&self) -> Result<ReviewedSet, LoadError> {
        let gate = Gatekeeper::from_sources(&self.sources)?;
        Ok(ReviewedSet {
            gate,
            sources: self.clone(),
        })
    }
}

/// A loaded policy set with where its files are.
#[derive(Debug)]
pub struct ReviewedSet {
    /// The policies, ready to decide.
    pub gate: Gatekeeper,
    /// Their files.
    pub sources: Sources,
}

impl ReviewedSet {
    /// Reads and loads the set at `origin`.
    pub fn load(origin: &Origin) -> Result<ReviewedSet, LoadError> {
        origin.read()?.load()
    }

    /// Where the policy `id` is written: `path:line`.
    pub fn locate(&self, id: &str) -> Option<String> {
        let at = self.gate.locations().get(id)?;
        Some(format!(
            "{}:{}",
            self.sources.origin.path(&at.file),
            at.line
        ))
    }

    /// `id (rule) at path:line`.
    pub fn policy_name(&self, id: &str) -> String {
        let rule = self
            .gate
            .policy_refs()
            .find(|p| p.id == id)
            .map_or("?", |p| p.rule.as_str());
        match self.locate(id) {
            Some(at) => format!("{id} ({rule}) at {at}"),
            None => format!("{id} ({rule})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_is_named_and_anything_else_is_a_directory() {
        assert_eq!("compiled-in".parse(), Ok(Choice::CompiledIn));
        assert_eq!(
            "./compiled-in".parse(),
            Ok(Choice::Dir(PathBuf::from("./compiled-in")))
        );
    }
}
