//! Loading the policies; one decision for a Team of 100 members, and a page of 100: request
//! and entities built from the Team's facts, through the gatekeeper, against the same requests
//! through Cedar's own authorizer on inputs built beforehand, in the same run. The group
//! `hook`: the same decision with a no-op decision log attached and with none.
//!
//! ```text
//! cargo bench -p gatekeeper
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gatekeeper::decision_log::{DecisionLog, LoggedDecision};
use gatekeeper::probes::team;
use gatekeeper::{ActionRequest, Actor, Gatekeeper, Region, Request, Role, Target};

/// A decision log that does nothing with what it receives.
struct NoOp;

impl DecisionLog for NoOp {
    fn record(&self, entry: &LoggedDecision<'_>) {
        std::hint::black_box(entry);
    }
}

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
    c.bench_function(
        "gatekeeper: load, lint, validate and slice the bundled policies",
        |b| b.iter(Gatekeeper::bundled),
    );
    let gate = Gatekeeper::bundled().expect("bundled policies load");
    let authorizer = cedar_policy::Authorizer::new();
    let request = invite_at_100_members();
    c.bench_function("gatekeeper: facts to decision (100 members)", |b| {
        b.iter(|| gate.authorize(std::hint::black_box(&request)))
    });
    c.bench_function(
        "gatekeeper: facts to Cedar request and entities only",
        |b| b.iter(|| gate.cedar_inputs(std::hint::black_box(&request))),
    );
    let (cedar_request, entities) = gate
        .cedar_inputs(&request)
        .expect("the request conforms to the schema");
    c.bench_function(
        "cedar: is_authorized on prebuilt inputs, whole policy set",
        |b| b.iter(|| authorizer.is_authorized(&cedar_request, gate.policy_set(), &entities)),
    );
    let slice = gate.policy_set_for("invite");
    c.bench_function(
        "cedar: is_authorized on prebuilt inputs, the action's policies",
        |b| b.iter(|| authorizer.is_authorized(&cedar_request, slice, &entities)),
    );
    let typed = gate.policy_set_for_request(&request);
    c.bench_function(
        "cedar: is_authorized on prebuilt inputs, the gatekeeper's slice",
        |b| b.iter(|| authorizer.is_authorized(&cedar_request, typed, &entities)),
    );

    let reader = Actor::member("rae", Role::Reader);
    let team = team(Region::Overseas, false, 100, 40);
    // A Reader's view of a 100-line statement.
    let keys = gatekeeper::probes::usage_page("rae", 100);
    c.bench_function("gatekeeper: a page of 100 view_usage, decide_page", |b| {
        b.iter(|| gate.decide_page(&reader, &team, std::hint::black_box(&keys)))
    });
    let requests: Vec<Request> = keys
        .iter()
        .map(|k| Request::new(reader.clone(), team.clone(), k.clone()))
        .collect();
    c.bench_function("gatekeeper: a page of 100 view_usage, one by one", |b| {
        b.iter(|| {
            requests
                .iter()
                .map(|r| gate.decide(std::hint::black_box(r)))
                .collect::<Vec<_>>()
        })
    });
    let prebuilt: Vec<_> = requests
        .iter()
        .map(|r| gate.cedar_inputs(r).expect("conforms"))
        .collect();
    let slice = gate.policy_set_for("view_usage");
    c.bench_function(
        "cedar: a page of 100 view_usage on prebuilt inputs, the action's policies",
        |b| {
            b.iter(|| {
                prebuilt
                    .iter()
                    .map(|(request, entities)| authorizer.is_authorized(request, slice, entities))
                    .collect::<Vec<_>>()
            })
        },
    );
    c.bench_function(
        "cedar: a page of 100 view_usage on prebuilt inputs, the gatekeeper's slices",
        |b| {
            b.iter(|| {
                prebuilt
                    .iter()
                    .zip(&requests)
                    .map(|((cedar, entities), request)| {
                        authorizer.is_authorized(
                            cedar,
                            gate.policy_set_for_request(request),
                            entities,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        },
    );
}

/// One decision with no decision log, and with a no-op one: the hook's own cost. The two
/// gatekeepers decide in turns in both measurements, each timing only its own decisions, so
/// that drift during the run (other work on the machine, the allocator's state) weighs on both
/// alike; run one after the other, the second measured differed by up to 10% either way.
fn hook(c: &mut Criterion) {
    let bare = Gatekeeper::bundled().expect("bundled policies load");
    let hooked = Gatekeeper::bundled()
        .expect("bundled policies load")
        .with_decision_log(Arc::new(NoOp));
    let request = invite_at_100_members();
    let mut group = c.benchmark_group("hook");
    group.bench_function("decision, no decision log", |b| {
        b.iter_custom(|iters| in_turns(&bare, &hooked, &request, iters))
    });
    group.bench_function("decision, a no-op decision log", |b| {
        b.iter_custom(|iters| in_turns(&hooked, &bare, &request, iters))
    });
    group.finish();
}

/// The time `timed` takes to decide `request` `iters` times, each decision followed by one of
/// `other`'s, untimed.
fn in_turns(timed: &Gatekeeper, other: &Gatekeeper, request: &Request, iters: u64) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let decision = timed.decide(std::hint::black_box(request));
        spent += start.elapsed();
        std::hint::black_box(decision);
        std::hint::black_box(other.decide(std::hint::black_box(request)));
    }
    spent
}

criterion_group!(benches, decision, hook);
criterion_main!(benches);
