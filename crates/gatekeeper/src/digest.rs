//! The policy-set digest: the name of one exact set of files, carried by every decision it
//! makes, printed by `policy report`, recorded in `audit_log` and in decision logs.

use sha2::{Digest as _, Sha256};

use crate::source::PolicySources;

/// `sha256:` and 64 lowercase hex digits: SHA-256 over the schema and every `.cedar` file,
/// in byte order of their names, each as its name (UTF-8), a NUL byte, its text (UTF-8), a
/// NUL byte. The order files are read in does not matter; any change to a name or a byte
/// of text changes it.
pub fn digest(sources: &PolicySources) -> String {
    let mut files: Vec<_> = std::iter::once(&sources.schema)
        .chain(&sources.policies)
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hash = Sha256::new();
    for file in files {
        hash.update(file.name.as_bytes());
        hash.update([0]);
        hash.update(file.text.as_bytes());
        hash.update([0]);
    }
    let hex: String = hash
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_digest_changes_with_any_file_and_not_with_their_order() {
        let bundled = PolicySources::bundled();
        let mut reversed = bundled.clone();
        reversed.policies.reverse();
        assert_eq!(digest(&bundled), digest(&reversed));
        let mut edited = bundled.clone();
        edited.policies[0].text.push(' ');
        assert_ne!(digest(&bundled), digest(&edited));
        let mut renamed = bundled.clone();
        renamed.policies[0].name.insert(0, 'x');
        assert_ne!(digest(&bundled), digest(&renamed));
        // The reviewed directory and the compiled-in copy are the same set.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        assert_eq!(
            digest(&PolicySources::from_dir(&dir).unwrap()),
            digest(&bundled)
        );
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let file = |name: &str, text: &str| crate::PolicyFile {
            name: name.into(),
            text: text.into(),
        };
        let sources = PolicySources {
            schema: file("tokenplan.cedarschema", "S"),
            policies: vec![file("a.cedar", "P")],
        };
        let expected = Sha256::digest(b"a.cedar\0P\0tokenplan.cedarschema\0S\0");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest(&sources), format!("sha256:{hex}"));
    }
}
