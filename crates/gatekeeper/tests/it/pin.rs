//! A shared handle pinned to a reviewed set's digest refuses to reload any other set, keeps
//! deciding on the set in force, and still takes the set it is pinned to.

use crate::support::{edited_copy, policies_dir};
use gatekeeper::probes::team;
use gatekeeper::{
    ActionRequest, Actor, Gatekeeper, Region, ReloadError, Request, Role, SharedGatekeeper,
};

/// An Admin topping up Credits: denied by the reviewed policies (C2).
fn admin_tops_up() -> Request {
    Request::new(
        Actor::member("ada", Role::Admin),
        team(Region::Overseas, false, 3, 0),
        ActionRequest::TopUpCredits,
    )
}

#[test]
fn a_pinned_handle_refuses_a_changed_set_and_takes_the_pinned_one() {
    let reviewed = Gatekeeper::from_dir(policies_dir()).unwrap();
    let digest = reviewed.digest().to_owned();
    let shared = SharedGatekeeper::new(reviewed);
    shared.pin(digest.clone());
    assert_eq!(shared.pinned().as_deref(), Some(digest.as_str()));

    let loosened = edited_copy("credits.cedar", |t| {
        t.replace(
            "when { principal.role == Role::\"owner\" };",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
        )
    });
    let found = Gatekeeper::from_dir(loosened.path()).unwrap();
    assert!(
        found.decide(&admin_tops_up()).is_allowed(),
        "the edit loosens"
    );
    match shared.reload_from_dir(loosened.path()) {
        Err(ReloadError::NotPinned {
            pinned,
            found: refused,
        }) => {
            assert_eq!(pinned, digest);
            assert_eq!(refused, found.digest());
        }
        other => panic!("a pinned handle took another set: {other:?}"),
    }
    let decision = shared.current().decide(&admin_tops_up());
    assert!(!decision.is_allowed(), "the reviewed set stays in force");
    assert_eq!(decision.digest(), digest);

    // A copy with the same bytes is the same set: taken.
    let same = edited_copy("credits.cedar", |t| t);
    shared.reload_from_dir(same.path()).unwrap();
    assert_eq!(shared.current().digest(), digest);
}

#[test]
fn an_unpinned_handle_takes_any_set_that_loads_and_decisions_carry_its_digest() {
    let shared = SharedGatekeeper::new(Gatekeeper::from_dir(policies_dir()).unwrap());
    let before = shared.current().digest().to_owned();
    let edited = edited_copy("credits.cedar", |t| format!("{t}\n// reviewed again\n"));
    shared.reload_from_dir(edited.path()).unwrap();
    let after = shared.current().decide(&admin_tops_up());
    assert_ne!(after.digest(), before);
    assert_eq!(
        after.digest(),
        gatekeeper::digest(&gatekeeper::PolicySources::from_dir(edited.path()).unwrap())
    );
}
