//! Deciding from many threads while another reloads a loosened, a broken and a good policy
//! directory: every decision is made whole by one policy set, a broken directory changes
//! nothing, and a reload is seen by every later decision.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::{edited_copy, policies_dir};
use gatekeeper::{
    ActionRequest, Actor, Gatekeeper, Region, Request, Role, SharedGatekeeper, TeamFacts,
};

const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Gatekeeper>();
    send_and_sync::<SharedGatekeeper>();
};

/// An Admin topping up Credits: denied by the reviewed policies (C2).
fn admin_tops_up() -> Request {
    let team = TeamFacts {
        id: "acme".into(),
        region: Region::Overseas,
        is_default: false,
        member_count: 3,
        seat_count: 0,
    };
    Request::new(
        Actor::member("ada", Role::Admin),
        team,
        ActionRequest::TopUpCredits,
    )
}

#[test]
fn threads_decide_while_policies_are_reloaded_and_a_broken_directory_changes_nothing() {
    let shared = SharedGatekeeper::new(Gatekeeper::from_dir(policies_dir()).unwrap());
    let loosened = edited_copy("credits.cedar", |t| {
        t.replace(
            "when { principal.role == Role::\"owner\" };",
            "when { principal.role in [Role::\"owner\", Role::\"admin\"] };",
        )
    });
    let broken = edited_copy("credits.cedar", |t| t.replace("permit", "permt"));
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let deciders: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (mut allowed, mut denied) = (0u32, 0u32);
                    while !stop.load(Ordering::Relaxed) {
                        let gate = shared.current();
                        let decision = gate.authorize(&admin_tops_up()).unwrap();
                        // The same set decides the same request the same way.
                        assert_eq!(
                            decision.is_allowed(),
                            gate.authorize(&admin_tops_up()).unwrap().is_allowed()
                        );
                        if decision.is_allowed() {
                            allowed += 1;
                        } else {
                            denied += 1;
                        }
                    }
                    (allowed, denied)
                })
            })
            .collect();
        let decide = || {
            shared
                .current()
                .authorize(&admin_tops_up())
                .unwrap()
                .is_allowed()
        };
        assert!(!decide());
        shared.reload_from_dir(loosened.path()).unwrap();
        assert!(decide(), "a reload is seen by every later decision");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let error = shared
            .reload_from_dir(broken.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("credits.cedar:"), "{error}");
        assert!(decide(), "a broken directory keeps the policies in force");
        std::thread::sleep(std::time::Duration::from_millis(50));
        shared.reload_from_dir(&policies_dir()).unwrap();
        assert!(!decide());
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let (allowed, denied): (u32, u32) = deciders
            .into_iter()
            .map(|d| d.join().unwrap())
            .fold((0, 0), |(a, d), (x, y)| (a + x, d + y));
        assert!(
            allowed > 0 && denied > 0,
            "{allowed} allowed, {denied} denied"
        );
    });
}
