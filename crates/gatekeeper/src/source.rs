//! The text of a policy directory: the schema and the `.cedar` files, read from disk or
//! compiled in, and where each policy statement starts.

use std::path::{Path, PathBuf};

use crate::error::LoadError;

/// The schema's file name inside a policy directory.
pub const SCHEMA_FILE: &str = "tokenplan.cedarschema";

/// One file of a policy directory.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    /// The file name, relative to the directory.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// The schema and policy files of one policy directory.
#[derive(Debug, Clone)]
pub struct PolicySources {
    /// `tokenplan.cedarschema`.
    pub schema: PolicyFile,
    /// Every `*.cedar` file, sorted by name.
    pub policies: Vec<PolicyFile>,
}

macro_rules! bundled_file {
    ($name:literal) => {
        ($name, include_str!(concat!("../policies/", $name)))
    };
}

/// The reviewed policy files, compiled in.
const BUNDLED: &[(&str, &str)] = &[
    bundled_file!("billing.cedar"),
    bundled_file!("credits.cedar"),
    bundled_file!("keys.cedar"),
    bundled_file!("roles.cedar"),
    bundled_file!("seats.cedar"),
    bundled_file!("teams.cedar"),
    bundled_file!("usage.cedar"),
];

const BUNDLED_SCHEMA: &str = include_str!("../policies/tokenplan.cedarschema");

impl PolicySources {
    /// The reviewed files of `policies/`, as compiled into this crate.
    pub fn bundled() -> Self {
        PolicySources {
            schema: PolicyFile {
                name: SCHEMA_FILE.to_owned(),
                text: BUNDLED_SCHEMA.to_owned(),
            },
            policies: BUNDLED
                .iter()
                .map(|(name, text)| PolicyFile {
                    name: (*name).to_owned(),
                    text: (*text).to_owned(),
                })
                .collect(),
        }
    }

    /// Reads `dir/tokenplan.cedarschema` and every `dir/*.cedar`. An entry named `*.cedar`
    /// that can't be read as a file (a dangling symlink, a symlink loop, a directory, no
    /// permission) is an error naming it: skipping it would leave its policies out, and a
    /// left-out `forbid` fails open.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let schema_path = dir.join(SCHEMA_FILE);
        if !schema_path.is_file() {
            return Err(LoadError::NoSchema {
                dir: dir.to_owned(),
            });
        }
        let policies = policy_paths(dir)?
            .into_iter()
            .map(|(name, path)| {
                Ok(PolicyFile {
                    name,
                    text: read_text(&path)?,
                })
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        Ok(PolicySources {
            schema: PolicyFile {
                name: SCHEMA_FILE.to_owned(),
                text: read_text(&schema_path)?,
            },
            policies,
        })
    }
}

/// The name and path of every entry of `dir` named `*.cedar`, whatever it is, sorted by name.
fn policy_paths(dir: &Path) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let unreadable = |source| LoadError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|ext| ext == "cedar")
            && let Some(name) = path.file_name()
        {
            paths.push((name.to_string_lossy().into_owned(), path));
        }
    }
    paths.sort();
    Ok(paths)
}

/// The text of the file at `path`.
fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The 1-based line where each top-level statement of a Cedar policy file starts (its first
/// annotation, or its `permit`/`forbid`), in order. Comments and strings are skipped.
pub(crate) fn statement_lines(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let (mut i, mut line, mut in_statement) = (0, 1, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if !in_statement {
                    in_statement = true;
                    lines.push(line);
                }
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'\n' => line += 1,
                        _ => {}
                    }
                    i += 1;
                }
            }
            b';' => in_statement = false,
            b if b.is_ascii_whitespace() => {}
            _ => {
                if !in_statement {
                    in_statement = true;
                    lines.push(line);
                }
            }
        }
        i += 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_lines_skip_comments_strings_and_semicolons_inside_them() {
        let text = "// a; comment\n@id(\"a;b\")\npermit (principal, action, resource);\n\n\
                    forbid (principal, action, resource)\nwhen { \"x;\" == \"y\" };\n";
        assert_eq!(statement_lines(text), vec![2, 5]);
    }

    #[test]
    fn line_of_counts_newlines_before_the_offset() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn bundled_sources_are_the_policy_directory() {
        // `policies` in the crate is a link to the reviewed `policies/` (it packages them).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let on_disk = PolicySources::from_dir(&dir).unwrap();
        let bundled = PolicySources::bundled();
        let names = |s: &PolicySources| {
            s.policies
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&on_disk),
            names(&bundled),
            "add new policy files to BUNDLED"
        );
    }
}
