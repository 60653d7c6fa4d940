//! The reviewed policies, evaluated: limits at their boundaries, the role matrix, the Cedar CLI
//! test files, and failing closed.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use crate::support::{edited_copy, policies_dir, repo};
use cedar_policy::{Authorizer, Context, Entities, EntityUid};
use gatekeeper::matrix::RoleMatrix;
use gatekeeper::probes::{limit_probes, team};
use gatekeeper::{ActionRequest, Actor, Gatekeeper, LoadError, Region, Request, Role, Target};

/// Loading `dir` fails with a problem at `at` (`file:` or `file:line:`) that says `naming`.
fn assert_refused(dir: &Path, at: &str, naming: &str) {
    let problems = problems(Gatekeeper::from_dir(dir).unwrap_err());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(at) && p.contains(naming)),
        "{at} {naming}: {problems:?}"
    );
}

fn problems(err: LoadError) -> Vec<String> {
    match err {
        LoadError::Invalid { problems } => problems.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other}"),
    }
}

#[test]
fn bundled_and_directory_policies_load() {
    Gatekeeper::bundled().unwrap();
    Gatekeeper::from_dir(policies_dir()).unwrap();
}

#[test]
fn every_limit_holds_at_its_boundary_t2_t3_t4_t5_t6_p3_p5_s1_s2_s4_o1_o3_o4_d1_d3_d4_d5_k2_c4_m2_v1()
 {
    let gate = Gatekeeper::bundled().unwrap();
    let wrong: Vec<String> = limit_probes()
        .into_iter()
        .filter_map(|probe| {
            let decision = gate.authorize(&probe.request).unwrap();
            (decision.is_allowed() != probe.allowed)
                .then(|| format!("{} ({}): {}", probe.name, probe.rule, decision.explain()))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "probes decided against the rules:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn m1_s3_c2_c5_p2_b24_role_matrix_matches_the_expected_matrix() {
    let gate = Gatekeeper::bundled().unwrap();
    let text = std::fs::read_to_string(repo().join("fixtures/role-matrix.yaml")).unwrap();
    let expected: RoleMatrix = serde_yaml::from_str(&text).unwrap();
    let actual = RoleMatrix::evaluate(&gate);
    let differences = expected.differences(&actual);
    assert!(
        differences.is_empty(),
        "{}",
        differences
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(actual.rows.len(), 11);
}

#[test]
fn matrix_differences_name_the_cell() {
    let gate = Gatekeeper::bundled().unwrap();
    let actual = RoleMatrix::evaluate(&gate);
    let mut loosened = actual.clone();
    loosened.rows[0].admin = gatekeeper::matrix::Cell::Uniform(gatekeeper::matrix::YesNo::Yes);
    let differences = actual.differences(&loosened);
    assert_eq!(differences.len(), 4, "one per Team kind and region");
    assert_eq!(
        differences[0].to_string(),
        "`purchase subscriptions` × admin (regular overseas): no → yes"
    );
}

/// Runs a test file of `cedar run-tests` through this crate's policy set and schema.
fn run_cedar_test_file(gate: &Gatekeeper, path: &Path) -> Vec<String> {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = gate.schema();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap().to_owned();
        let request = &case["request"];
        let uid = |field: &str| EntityUid::from_str(request[field].as_str().unwrap()).unwrap();
        let action = uid("action");
        let context =
            Context::from_json_value(request["context"].clone(), Some((schema, &action))).unwrap();
        let request = cedar_policy::Request::new(
            uid("principal"),
            action,
            uid("resource"),
            context,
            Some(schema),
        )
        .unwrap();
        let entities_file = path
            .parent()
            .unwrap()
            .join(case["entities"].as_str().unwrap());
        let entities = Entities::from_json_str(
            &std::fs::read_to_string(entities_file).unwrap(),
            Some(schema),
        )
        .unwrap();
        let response = Authorizer::new().is_authorized(&request, gate.policy_set(), &entities);
        let decision = format!("{:?}", response.decision()).to_lowercase();
        let reason: BTreeSet<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        let expected_reason: BTreeSet<String> = case["reason"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        if decision != case["decision"].as_str().unwrap() || reason != expected_reason {
            failures.push(format!("{name}: {decision} by {reason:?}"));
        }
    }
    failures
}

#[test]
fn cedar_cli_test_files_pass_through_the_library() {
    let gate = Gatekeeper::from_dir(policies_dir()).unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(policies_dir().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "entities.json" {
            continue;
        }
        files += 1;
        let failures = run_cedar_test_file(&gate, &path);
        assert!(failures.is_empty(), "{}: {failures:#?}", path.display());
    }
    assert!(files >= 3);
}

#[test]
fn a_parse_error_refuses_to_start_naming_file_and_line() {
    let dir = edited_copy("teams.cedar", |text| {
        text.replacen(
            "permit (principal, action == Action::\"create_account\", resource);",
            "permit (principal, action == , resource);",
            1,
        )
    });
    let err = Gatekeeper::from_dir(dir.path()).unwrap_err();
    let problems = problems(err);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("teams.cedar:5: does not parse")),
        "{problems:?}"
    );
}

#[test]
fn a_policy_without_rule_or_with_an_unknown_rule_refuses_to_start() {
    let dir = edited_copy("credits.cedar", |text| {
        text.replacen("@rule(\"C2\")\n", "", 1)
            .replacen("@rule(\"C5\")", "@rule(\"Z9\")", 1)
    });
    let problems = problems(Gatekeeper::from_dir(dir.path()).unwrap_err());
    assert_eq!(
        problems,
        vec![
            "credits.cedar:3: policy `owner-tops-up-credits` has no `@rule`; name the rule of rules.md it enforces",
            "credits.cedar:7: policy `owner-admin-manage-credits-access` names `@rule(\"Z9\")`, which is not a rule of rules.md",
        ]
    );
}

#[test]
fn duplicate_ids_and_unscoped_permits_are_refused() {
    let dir = edited_copy("extra.cedar", |_| {
        "@id(\"owner-tops-up-credits\")\n@rule(\"C2\")\npermit (principal, action, resource is Team);\n".into()
    });
    let problems = problems(Gatekeeper::from_dir(dir.path()).unwrap_err());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("applies to every action")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("is already used at")),
        "{problems:?}"
    );
}

#[test]
fn a_policy_that_fails_strict_validation_refuses_to_start() {
    let dir = edited_copy("usage.cedar", |text| {
        text.replace(
            "resource.creator == principal.user",
            "resource.creator == principal.team",
        )
    });
    assert_refused(dir.path(), "usage.cedar:", "member-sees-own-payg-usage");
}

#[test]
fn a_missing_schema_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Gatekeeper::from_dir(dir.path()),
        Err(LoadError::NoSchema { .. })
    ));
}

#[test]
fn an_evaluation_error_denies_even_where_a_permit_applies() {
    // The overflow makes this forbid error at evaluation; Cedar would skip it and allow.
    let dir = edited_copy("credits.cedar", |text| {
        text + "\n@id(\"overflowing-limit\")\n@rule(\"C2\")\nforbid (principal, action == Action::\"top_up_credits\", resource)\nwhen { resource.member_count * 9223372036854775807 > 100 };\n"
    });
    let gate = Gatekeeper::from_dir(dir.path()).unwrap();
    let team = team(Region::Overseas, false, 10, 0);
    let request = Request::new(
        Actor::member("olga", Role::Owner),
        team,
        ActionRequest::TopUpCredits,
    );
    let decision = gate.authorize(&request).unwrap();
    assert!(!decision.is_allowed());
    assert_eq!(decision.errors().len(), 1);
    assert!(
        decision.explain().starts_with("denied: evaluation failed"),
        "{}",
        decision.explain()
    );
}

#[test]
fn an_action_the_schema_does_not_know_denies() {
    let dir = edited_copy("tokenplan.cedarschema", |text| {
        text.replace(
            "action top_up_credits, top_up_wallet appliesTo",
            "action top_up_credits appliesTo",
        )
        .replace("action == Action::\"top_up_wallet\"", "")
    });
    let dir_keys = dir.path().join("keys.cedar");
    let keys = std::fs::read_to_string(&dir_keys).unwrap();
    let start = keys.find("@id(\"owner-tops-up-wallet\")").unwrap();
    let end = start + keys[start..].find("};").unwrap() + 2;
    std::fs::write(&dir_keys, format!("{}{}", &keys[..start], &keys[end..])).unwrap();
    let gate = Gatekeeper::from_dir(dir.path()).unwrap();
    let team = team(Region::Overseas, false, 10, 0);
    let request = Request::new(
        Actor::member("olga", Role::Owner),
        team,
        ActionRequest::TopUpWallet,
    );
    assert!(gate.authorize(&request).is_err());
    let decision = gate.decide(&request);
    assert!(!decision.is_allowed());
    assert!(
        decision.explain().contains("top_up_wallet"),
        "{}",
        decision.explain()
    );
}

#[test]
fn a_request_shape_the_schema_rejects_is_denied_every_time_though_an_accepted_shape_is_not_checked_again()
 {
    // The schema has no invite by a `User` (only by a `Member`): that shape is refused by
    // Cedar's check every time, while a member's invite, accepted once, is decided by the
    // policies.
    let gate = Gatekeeper::bundled().unwrap();
    let invite = |actor| {
        Request::new(
            actor,
            team(Region::Overseas, false, 3, 0),
            ActionRequest::Invite {
                target: Target::outsider("cy"),
                role: Role::Reader,
            },
        )
    };
    let member = invite(Actor::member("ada", Role::Owner));
    let user = invite(Actor::User("ada".into()));
    for _ in 0..3 {
        assert!(gate.decide(&member).is_allowed());
        assert!(
            matches!(
                gate.authorize(&user),
                Err(gatekeeper::RequestError::Schema { .. })
            ),
            "a user's invite must fail the schema's check"
        );
        let decision = gate.decide(&user);
        assert!(!decision.is_allowed());
        assert!(
            decision
                .explain()
                .contains("does not conform to the schema"),
            "{}",
            decision.explain()
        );
    }
}

#[test]
fn a_schema_that_types_the_requests_otherwise_refuses_to_start() {
    // A `Target` that requires `has_seat`, which the gatekeeper sets for members only: every
    // invite of an outsider would be refused by the schema, where the proofs see it decided.
    let dir = edited_copy("tokenplan.cedarschema", |text| {
        text.replace("  has_seat?: Bool,\n};", "  has_seat: Bool,\n};")
    });
    assert_refused(
        dir.path(),
        "tokenplan.cedarschema:72:",
        "requests the gatekeeper builds for `invite` (Member, Team) do not conform to the schema",
    );
}

#[test]
fn a_page_of_decisions_is_the_decisions_one_by_one() {
    use gatekeeper::{KeyFacts, PaygKeyFacts};
    let gate = Gatekeeper::bundled().unwrap();
    let team = team(Region::Overseas, false, 5, 2);
    let keys = gatekeeper::probes::usage_page("rae", 10);
    for actor in [
        Actor::member("rae", Role::Reader),
        Actor::member("olga", Role::Owner),
        Actor::Outsider("mallory".into()),
    ] {
        let page = gate.decide_page(&actor, &team, &keys);
        let one_by_one: Vec<_> = keys
            .iter()
            .map(|k| gate.decide(&Request::new(actor.clone(), team.clone(), k.clone())))
            .collect();
        assert_eq!(page, one_by_one);
    }
    let reader = gate.decide_page(&Actor::member("rae", Role::Reader), &team, &keys);
    let allowed: Vec<bool> = reader.iter().map(|d| d.is_allowed()).collect();
    assert_eq!(
        allowed,
        [
            false, false, false, true, true, false, false, false, false, true
        ],
        "a Reader sees only their own keys (V1)"
    );
    // One key given two sets of facts: each request is decided on its own.
    let twice = [
        keys[1].clone(),
        ActionRequest::ViewUsage(KeyFacts::Payg(PaygKeyFacts {
            id: "k1".into(),
            creator: "rae".into(),
        })),
    ];
    let rae = Actor::member("rae", Role::Reader);
    let page = gate.decide_page(&rae, &team, &twice);
    assert!(!page[0].is_allowed() && page[1].is_allowed(), "{page:?}");
}

#[test]
fn in_a_page_a_policy_sees_only_the_request_s_own_key() {
    use gatekeeper::{KeyFacts, PaygKeyFacts};
    // A permit that reads another key's facts by its id: alone, `k2`'s view fails on the
    // missing `shared` key and is denied; a page holding `shared` must not change that.
    let dir = edited_copy("usage.cedar", |text| {
        text + "\n@id(\"sees-what-shared-sees\")\n@rule(\"V1\")\npermit (principal, action == Action::\"view_usage\", resource is PaygKey)\nwhen { PaygKey::\"shared\".creator == principal.user };\n"
    });
    let gate = Gatekeeper::from_dir(dir.path()).unwrap();
    let team = team(Region::Overseas, false, 5, 2);
    let key = |id: &str, creator: &str| {
        ActionRequest::ViewUsage(KeyFacts::Payg(PaygKeyFacts {
            id: id.into(),
            creator: creator.into(),
        }))
    };
    let rae = Actor::member("rae", Role::Reader);
    let page = [key("shared", "rae"), key("k2", "olga")];
    let alone = gate.decide(&Request::new(rae.clone(), team.clone(), page[1].clone()));
    assert!(!alone.is_allowed());
    assert_eq!(gate.decide_page(&rae, &team, &page)[1], alone);
}

#[test]
fn an_actor_outside_the_team_role_shape_denies() {
    let gate = Gatekeeper::bundled().unwrap();
    let team = team(Region::Overseas, false, 10, 0);
    let request = Request::new(
        Actor::User("mallory".into()),
        team,
        ActionRequest::TopUpCredits,
    );
    assert!(!gate.decide(&request).is_allowed());
}

#[test]
fn t4_an_outsider_is_denied_by_the_team_boundary() {
    let gate = Gatekeeper::bundled().unwrap();
    let team = team(Region::Overseas, false, 10, 0);
    let request = Request::new(
        Actor::Outsider("mallory".into()),
        team,
        ActionRequest::ViewBilling,
    );
    let decision = gate.authorize(&request).unwrap();
    assert!(!decision.is_allowed());
    assert_eq!(decision.policies()[0].id, "member-acts-in-own-team");
}

#[test]
fn decisions_name_their_policies_and_rules() {
    let gate = Gatekeeper::bundled().unwrap();
    let team = team(Region::Domestic, false, 10, 5);
    let remove = ActionRequest::RemoveSeats(gatekeeper::SubscriptionChange {
        renewing_seats: 5,
        ..gatekeeper::probes::plus_change(1, 5, true)
    });
    let decision = gate
        .authorize(&Request::new(
            Actor::member("li", Role::Owner),
            team.clone(),
            remove,
        ))
        .unwrap();
    assert_eq!(decision.rules(), vec!["D3"]);
    assert!(
        decision
            .explain()
            .contains("cancel the tier's renewal instead"),
        "{}",
        decision.explain()
    );

    let denied = gate
        .authorize(&Request::new(
            Actor::member("ada", Role::Admin),
            team.clone(),
            ActionRequest::TopUpCredits,
        ))
        .unwrap();
    assert_eq!(
        denied.explain(),
        "denied: no policy permits an admin to `top_up_credits` [permitted only by owner-tops-up-credits (C2)]"
    );
    assert_eq!(denied.rules(), vec!["C2"]);

    let invite = ActionRequest::Invite {
        target: Target::outsider("nina"),
        role: Role::Reader,
    };
    let allowed = gate
        .authorize(&Request::new(
            Actor::member("ada", Role::Admin),
            team,
            invite,
        ))
        .unwrap();
    assert_eq!(
        allowed.explain(),
        "allowed by owner-admin-manage-members (M2)"
    );
}

#[test]
fn a_policy_that_can_never_apply_is_refused() {
    let dir = edited_copy("extra.cedar", |_| {
        "@id(\"never\")\n@rule(\"T5\")\nforbid (principal, action == Action::\"invite\", resource)\nwhen { false };\n".into()
    });
    assert_refused(dir.path(), "extra.cedar:", "`never`");
}

#[test]
fn a_schema_with_action_groups_refuses_to_start() {
    // A forbid scoped to a group of actions: Cedar applies it to the group's members, so a
    // gatekeeper that sliced by the names in scopes would never evaluate it for them.
    let schema = edited_copy("tokenplan.cedarschema", |text| {
        text.replace(
            "action top_up_credits, top_up_wallet appliesTo",
            "action money;\naction top_up_credits, top_up_wallet in [money] appliesTo",
        )
    });
    std::fs::write(
        schema.path().join("freeze.cedar"),
        "@id(\"money-frozen\")\n@rule(\"C2\")\nforbid (principal, action in Action::\"money\", resource);\n",
    )
    .unwrap();
    assert_refused(schema.path(), "tokenplan.cedarschema:89:", "`money`");
}
