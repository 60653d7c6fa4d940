//! Every decision is Cedar's own. For generated requests of every action, the gatekeeper's
//! inputs are what Cedar's public constructors build from them (the schema checked, the
//! transitive closure computed), and its verdict, deciding policies and errors are what
//! Cedar's authorizer answers on the whole policy set, and what `decide_cedar` answers on
//! Cedar's inputs; on the reviewed policies, and on a copy with a policy whose evaluation can
//! fail.

use std::collections::BTreeSet;

use cedar_policy::{Authorizer, Context, Entities};
use gatekeeper::probes::{limit_probes, team};
use gatekeeper::{
    ActionRequest, Actor, Gatekeeper, KeyFacts, PaygKeyFacts, Region, Request, Role,
    SubscriptionChange, Target, TeamFacts, TokenPlanKeyFacts,
};
use proptest::prelude::*;

use crate::support::edited_copy;

/// Cedar's inputs for `request`, rebuilt from the gatekeeper's through Cedar's public
/// constructors: the entities parsed against the schema with their closure computed, the
/// context re-evaluated from its expressions, and the request checked against the schema.
/// Each must equal the gatekeeper's. `None` when the schema refuses the request (an outsider
/// creating a Team, say): Cedar's own check refuses it, since a refused shape is checked every
/// time.
fn cedar_inputs(gate: &Gatekeeper, request: &Request) -> Option<(cedar_policy::Request, Entities)> {
    let (cedar, entities) = match gate.cedar_inputs(request) {
        Ok(inputs) => inputs,
        Err(gatekeeper::RequestError::Schema { .. }) => return None,
        Err(e) => panic!("{request:?}: {e}"),
    };
    let json = entities.to_json_value().unwrap();
    let parsed = Entities::from_json_value(json, Some(gate.schema()))
        .unwrap_or_else(|e| panic!("{request:?}: entities against the schema: {e}"));
    for entity in entities.iter() {
        let theirs = parsed.get(&entity.uid()).unwrap();
        assert!(
            entity.deep_eq(theirs),
            "{request:?}: {entity} is not {theirs}"
        );
    }
    let context = Context::from_pairs(cedar.context().unwrap().clone()).unwrap();
    let checked = cedar_policy::Request::new(
        cedar.principal().unwrap().clone(),
        cedar.action().unwrap().clone(),
        cedar.resource().unwrap().clone(),
        context,
        Some(gate.schema()),
    )
    .unwrap_or_else(|e| panic!("{request:?} conforms to the schema: {e}"));
    assert_eq!(checked, cedar, "{request:?}");
    Some((checked, parsed))
}

/// The gatekeeper decides `request` as Cedar's authorizer does on every policy: the same
/// errors; without errors, the same verdict and the same deciding policies; with any, a denial.
/// A request the schema refuses is denied.
fn assert_decides_as_cedar(gate: &Gatekeeper, request: &Request) {
    let decision = gate.decide(request);
    let Some((cedar, entities)) = cedar_inputs(gate, request) else {
        assert!(!decision.is_allowed(), "{request:?}");
        assert!(
            decision
                .explain()
                .contains("does not conform to the schema"),
            "{request:?}: {}",
            decision.explain()
        );
        return;
    };
    // Decided from Cedar's inputs (as `policy coverage` decides a test case): the same.
    let from_cedar = gate.decide_cedar(&cedar, &entities);
    let errors_of = |d: &gatekeeper::Decision| d.errors().iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        (
            from_cedar.is_allowed(),
            from_cedar.policies(),
            from_cedar.digest()
        ),
        (
            decision.is_allowed(),
            decision.policies(),
            decision.digest()
        ),
        "{request:?}"
    );
    assert_eq!(errors_of(&from_cedar), errors_of(&decision), "{request:?}");
    let response = Authorizer::new().is_authorized(&cedar, gate.policy_set(), &entities);
    let errors: BTreeSet<String> = response
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    let ours: BTreeSet<String> = decision.errors().iter().cloned().collect();
    assert_eq!(ours, errors, "{request:?}");
    if !errors.is_empty() {
        assert!(!decision.is_allowed(), "an error must deny: {request:?}");
        return;
    }
    assert_eq!(
        decision.is_allowed(),
        response.decision() == cedar_policy::Decision::Allow,
        "{request:?}"
    );
    let reasons: BTreeSet<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    let deciding: BTreeSet<String> = decision.policies().iter().map(|p| p.id.clone()).collect();
    assert_eq!(deciding, reasons, "{request:?}");
}

/// The reviewed policies, and a copy with a forbid that overflows on large Teams.
fn gates() -> [Gatekeeper; 2] {
    let overflowing = edited_copy("credits.cedar", |text| {
        text + "\n@id(\"overflowing-limit\")\n@rule(\"C2\")\nforbid (principal, action, resource is Team)\nwhen { resource.member_count * 4611686018427387904 > 100 };\n"
    });
    [
        Gatekeeper::bundled().unwrap(),
        Gatekeeper::from_dir(overflowing.path()).unwrap(),
    ]
}

#[test]
fn every_limit_probe_and_every_kind_of_actor_is_decided_as_cedar_decides() {
    let mut requests: Vec<Request> = limit_probes().into_iter().map(|p| p.request).collect();
    for actor in [
        Actor::member("rita", Role::Reader),
        Actor::member("olga", Role::Owner),
        Actor::Outsider("mallory".into()),
        Actor::User("uma".into()),
        Actor::Operator("fin".into()),
    ] {
        for action in [
            ActionRequest::ViewBilling,
            ActionRequest::AdjustStatement,
            ActionRequest::TopUpCredits,
            ActionRequest::CreateTeam,
            ActionRequest::Leave,
        ] {
            requests.push(Request::new(
                actor.clone(),
                team(Region::Domestic, false, 4, 1),
                action,
            ));
        }
    }
    assert!(requests.len() > 40);
    for gate in &gates() {
        for request in &requests {
            assert_decides_as_cedar(gate, request);
        }
    }
}

#[test]
fn an_evaluation_error_is_reported_in_cedars_words() {
    let [_, overflowing] = gates();
    let request = Request::new(
        Actor::member("olga", Role::Owner),
        team(Region::Overseas, false, 4, 0),
        ActionRequest::TopUpCredits,
    );
    let decision = overflowing.decide(&request);
    assert!(!decision.is_allowed());
    assert_eq!(decision.errors().len(), 1, "{decision:?}");
    assert!(
        decision.errors()[0].starts_with("error while evaluating policy `overflowing-limit`"),
        "{}",
        decision.errors()[0]
    );
    assert_decides_as_cedar(&overflowing, &request);
}

/// User ids that collide with each other, with Team ids and with the separators the
/// encoding uses, and that need escaping.
fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ada".to_owned()),
        Just("bo".to_owned()),
        Just("team".to_owned()),
        Just("a@team".to_owned()),
        Just("tp:team:ada".to_owned()),
        Just("zoë \"quoted\" \\ user with a name longer than twenty-three bytes".to_owned()),
        "[a-z]{1,3}",
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

/// Counts around every limit, and the extremes.
fn count() -> impl Strategy<Value = i64> {
    prop_oneof![
        -2i64..=6,
        95i64..=105,
        Just(i64::MAX),
        Just(i64::MIN),
        any::<i64>(),
    ]
}

fn team_facts() -> impl Strategy<Value = TeamFacts> {
    (
        prop_oneof![Just("team".to_owned()), Just("owner".to_owned()), user()],
        prop::sample::select(Region::ALL.to_vec()),
        any::<bool>(),
        count(),
        count(),
    )
        .prop_map(
            |(id, region, is_default, member_count, seat_count)| TeamFacts {
                id,
                region,
                is_default,
                member_count,
                seat_count,
            },
        )
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        user().prop_map(Actor::User),
        user().prop_map(Actor::Outsider),
        (user(), role()).prop_map(|(user, role)| Actor::member(user, role)),
        user().prop_map(Actor::Operator),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        user().prop_map(Target::outsider),
        (user(), role(), any::<bool>())
            .prop_map(|(user, role, has_seat)| Target::member(user, role, has_seat)),
    ]
}

fn tier() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["plus", "max", "pro", ""]).prop_map(str::to_owned)
}

fn change() -> impl Strategy<Value = SubscriptionChange> {
    (
        tier(),
        count(),
        count(),
        prop::collection::vec(tier(), 0..3),
        prop::collection::vec(tier(), 0..3),
        count(),
    )
        .prop_map(
            |(tier, seats, seats_after, subscribed_tiers, canceled_tiers, renewing_seats)| {
                SubscriptionChange {
                    tier,
                    seats,
                    seats_after,
                    subscribed_tiers,
                    canceled_tiers,
                    renewing_seats,
                }
            },
        )
}

fn payg_key() -> impl Strategy<Value = PaygKeyFacts> {
    (user(), user()).prop_map(|(id, creator)| PaygKeyFacts { id, creator })
}

fn token_plan_key() -> impl Strategy<Value = TokenPlanKeyFacts> {
    (user(), any::<bool>(), any::<bool>()).prop_map(|(holder, has_seat, credits_access)| {
        TokenPlanKeyFacts {
            holder,
            has_seat,
            credits_access,
        }
    })
}

/// Every action, with its facts.
fn action() -> impl Strategy<Value = ActionRequest> {
    prop_oneof![
        Just(ActionRequest::CreateAccount),
        Just(ActionRequest::CreateTeam),
        (target(), role()).prop_map(|(target, role)| ActionRequest::Invite { target, role }),
        target().prop_map(|target| ActionRequest::RemoveMember { target }),
        Just(ActionRequest::Leave),
        (target(), role()).prop_map(|(target, role)| ActionRequest::ChangeRole { target, role }),
        change().prop_map(ActionRequest::BuySubscription),
        change().prop_map(ActionRequest::AddSeats),
        change().prop_map(ActionRequest::RemoveSeats),
        change().prop_map(ActionRequest::CancelRenewal),
        change().prop_map(ActionRequest::RestoreRenewal),
        (target(), tier(), count()).prop_map(|(target, tier, free_seats)| {
            ActionRequest::AssignSeat {
                target,
                tier,
                free_seats,
            }
        }),
        target().prop_map(|target| ActionRequest::UnassignSeat { target }),
        (target(), target())
            .prop_map(|(from, target)| ActionRequest::ReassignSeat { from, target }),
        Just(ActionRequest::TopUpCredits),
        Just(ActionRequest::TopUpWallet),
        target().prop_map(|target| ActionRequest::SetCreditsAccess { target }),
        count().prop_map(|live_keys| ActionRequest::CreatePaygKey { live_keys }),
        payg_key().prop_map(ActionRequest::DeletePaygKey),
        payg_key().prop_map(ActionRequest::ViewPaygKey),
        (token_plan_key(), any::<bool>()).prop_map(|(key, credits_available)| {
            ActionRequest::UseTokenPlanKey {
                key,
                credits_available,
            }
        }),
        prop_oneof![
            payg_key().prop_map(KeyFacts::Payg),
            token_plan_key().prop_map(KeyFacts::TokenPlan),
        ]
        .prop_map(ActionRequest::ViewUsage),
        Just(ActionRequest::ViewBilling),
        Just(ActionRequest::AdjustStatement),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (actor(), team_facts(), action())
        .prop_map(|(actor, team, action)| Request::new(actor, team, action))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_request_is_decided_as_cedars_authorizer_decides_it(request in request()) {
        thread_local! {
            static GATES: [Gatekeeper; 2] = gates();
        }
        GATES.with(|gates| {
            for gate in gates {
                assert_decides_as_cedar(gate, &request);
            }
        });
    }

    #[test]
    fn a_page_is_decided_as_its_requests_one_by_one(
        actor in actor(),
        team in team_facts(),
        actions in prop::collection::vec(action(), 0..12),
    ) {
        thread_local! {
            static GATE: Gatekeeper = Gatekeeper::bundled().unwrap();
        }
        GATE.with(|gate| {
            let page = gate.decide_page(&actor, &team, &actions);
            prop_assert_eq!(page.len(), actions.len());
            for (decision, action) in page.iter().zip(&actions) {
                let alone = gate.decide(&Request::new(actor.clone(), team.clone(), action.clone()));
                prop_assert_eq!(decision, &alone, "{:?}", action);
            }
            Ok(())
        })?;
    }
}
