//! A `*.cedar` entry that can't be read (a dangling symlink, a symlink loop, a directory) is a
//! load error naming it, never skipped: a skipped `forbid` fails open. A reload from such a
//! directory keeps the policies in force.

use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::{edited_copy, policies_dir};
use gatekeeper::probes::team;
use gatekeeper::{
    ActionRequest, Actor, Gatekeeper, LoadError, Region, ReloadError, Request, Role,
    SharedGatekeeper, Target,
};

/// An Admin inviting a 101st member: denied by T5's `member-limit` in `teams.cedar`.
fn hundred_and_first_member() -> Request {
    Request::new(
        Actor::member("ada", Role::Admin),
        team(Region::Overseas, false, 100, 0),
        ActionRequest::Invite {
            target: Target::outsider("cy"),
            role: Role::Reader,
        },
    )
}

/// The reviewed policies with `teams.cedar` replaced by what `replace` makes at its path.
fn without_readable_teams_file(replace: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = edited_copy("teams.cedar", |text| text);
    let path = dir.path().join("teams.cedar");
    std::fs::remove_file(&path).unwrap();
    replace(&path);
    dir
}

/// Every way an entry named `*.cedar` can be unreadable, with the entry's name.
fn unreadable_directories() -> Vec<(&'static str, tempfile::TempDir)> {
    vec![
        (
            "dangling symlink",
            without_readable_teams_file(|path| symlink("gone.cedar", path).unwrap()),
        ),
        (
            "symlink loop",
            without_readable_teams_file(|path| symlink("teams.cedar", path).unwrap()),
        ),
        (
            "directory",
            without_readable_teams_file(|path| std::fs::create_dir(path).unwrap()),
        ),
    ]
}

fn assert_names_teams_file(kind: &str, error: LoadError) {
    match &error {
        LoadError::Read { path, .. } => assert!(path.ends_with("teams.cedar"), "{kind}: {error}"),
        other => panic!("{kind}: expected a read error, got {other}"),
    }
    assert!(error.to_string().contains("teams.cedar"), "{kind}: {error}");
}

#[test]
fn an_unreadable_policy_entry_refuses_to_load_naming_it() {
    let gate = Gatekeeper::from_dir(policies_dir()).unwrap();
    assert!(!gate.decide(&hundred_and_first_member()).is_allowed());
    for (kind, dir) in unreadable_directories() {
        let error = Gatekeeper::from_dir(dir.path())
            .err()
            .unwrap_or_else(|| panic!("{kind}: loaded without `teams.cedar`, failing open"));
        assert_names_teams_file(kind, error);
    }
}

#[test]
fn a_reload_from_a_directory_with_an_unreadable_entry_keeps_the_policies_in_force() {
    let shared = SharedGatekeeper::new(Gatekeeper::from_dir(policies_dir()).unwrap());
    for (kind, dir) in unreadable_directories() {
        let ReloadError::Load(error) = shared.reload_from_dir(dir.path()).unwrap_err() else {
            panic!("{kind}: an unpinned handle refuses only what does not load");
        };
        assert_names_teams_file(kind, error);
        assert!(
            !shared
                .current()
                .decide(&hundred_and_first_member())
                .is_allowed(),
            "{kind}: the reload must keep the member limit in force"
        );
    }
}
