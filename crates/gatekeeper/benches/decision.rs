//! One decision for a Team of 100 members: request and entities built from the Team's facts,
//! through the gatekeeper, against the same request through Cedar's own authorizer on inputs
//! built beforehand.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatekeeper::probes::team;
use gatekeeper::{ActionRequest, Actor, Gatekeeper, Region, Request, Role, Target};

fn invite_at_100_members() -> Request {
    Request::new(
        Actor::member("ada", Role::Admin),
        team(Region::Overseas, false, 100, 40),
        ActionRequest::Invite {
            target: Target::outsider("newcomer"),
            role: Role::Reader,
        },
    )
}

fn decision(c: &mut Criterion) {
    let gate = Gatekeeper::bundled().expect("bundled policies load");
    let request = invite_at_100_members();
    c.bench_function("gatekeeper: facts to decision (100 members)", |b| {
        b.iter(|| gate.authorize(std::hint::black_box(&request)))
    });
    let (cedar_request, entities) = gate
        .cedar_inputs(&request)
        .expect("the request conforms to the schema");
    let authorizer = cedar_policy::Authorizer::new();
    c.bench_function(
        "cedar: is_authorized on prebuilt inputs, whole policy set",
        |b| b.iter(|| authorizer.is_authorized(&cedar_request, gate.policy_set(), &entities)),
    );
    let slice = gate.policy_set_for("invite");
    c.bench_function(
        "cedar: is_authorized on prebuilt inputs, the action's policies",
        |b| b.iter(|| authorizer.is_authorized(&cedar_request, slice, &entities)),
    );
}

criterion_group!(benches, decision);
criterion_main!(benches);
