//! Limit probes: requests at each limit's boundary, with the decision the rules require.
//! Tests assert them on the reviewed policies; `policy diff` compares them between two
//! policy directories.

use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, SubscriptionChange,
    Target, TeamFacts, TokenPlanKeyFacts,
};

/// One boundary request and what the rules say of it.
#[derive(Debug, Clone)]
pub struct Probe {
    /// What is asked, for people.
    pub name: &'static str,
    /// The rule that decides it.
    pub rule: &'static str,
    /// Whether the rules allow it.
    pub allowed: bool,
    /// The request.
    pub request: Request,
}

/// The keys of a statement's `lines` lines as `reader` would view them (`view_usage` each):
/// even lines Token Plan Keys of other members (`reader`'s own on lines 4, 14, ...), odd lines
/// pay-as-you-go keys, every third created by `reader`.
pub fn usage_page(reader: &str, lines: usize) -> Vec<ActionRequest> {
    (0..lines)
        .map(|i| {
            ActionRequest::ViewUsage(if i % 2 == 0 {
                KeyFacts::TokenPlan(TokenPlanKeyFacts {
                    holder: if i % 10 == 4 {
                        reader.into()
                    } else {
                        format!("m{i}")
                    },
                    has_seat: i % 3 == 0,
                    credits_access: true,
                })
            } else {
                KeyFacts::Payg(PaygKeyFacts {
                    id: format!("k{i}"),
                    creator: if i % 3 == 0 {
                        reader.into()
                    } else {
                        "olga".into()
                    },
                })
            })
        })
        .collect()
}

/// A Team of `members` members and `seats` seats.
pub fn team(region: Region, is_default: bool, members: i64, seats: i64) -> TeamFacts {
    TeamFacts {
        id: if is_default { "owner" } else { "team" }.to_owned(),
        region,
        is_default,
        member_count: members,
        seat_count: seats,
    }
}

/// A subscription change of `seats` seats of tier `plus`.
pub fn plus_change(seats: i64, seats_after: i64, subscribed: bool) -> SubscriptionChange {
    SubscriptionChange {
        tier: "plus".to_owned(),
        seats,
        seats_after,
        subscribed_tiers: if subscribed {
            vec!["plus".to_owned()]
        } else {
            Vec::new()
        },
        canceled_tiers: Vec::new(),
        renewing_seats: seats_after,
    }
}

fn owner() -> Actor {
    Actor::member("owner", Role::Owner)
}

fn reader() -> Actor {
    Actor::member("rita", Role::Reader)
}

fn regular(region: Region) -> TeamFacts {
    team(region, false, 10, 10)
}

fn probe(
    name: &'static str,
    rule: &'static str,
    allowed: bool,
    actor: Actor,
    team: TeamFacts,
    action: ActionRequest,
) -> Probe {
    Probe {
        name,
        rule,
        allowed,
        request: Request::new(actor, team, action),
    }
}

/// Every limit probe.
pub fn limit_probes() -> Vec<Probe> {
    use Region::{Domestic, Overseas};
    let invite = || ActionRequest::Invite {
        target: Target::outsider("newcomer"),
        role: Role::Reader,
    };
    let seat_holder = || Target::member("sam", Role::Reader, true);
    let seatless = || Target::member("nia", Role::Reader, false);
    let own_key = |has_seat, credits_access| TokenPlanKeyFacts {
        holder: "rita".into(),
        has_seat,
        credits_access,
    };
    let canceled_plus = SubscriptionChange {
        canceled_tiers: vec!["plus".into()],
        ..plus_change(1, 11, true)
    };
    let domestic_other_tier = SubscriptionChange {
        tier: "max".into(),
        ..plus_change(1, 11, true)
    };
    let remove = |seats, renewing| SubscriptionChange {
        renewing_seats: renewing,
        ..plus_change(seats, 10, true)
    };
    vec![
        probe(
            "invite at 99 members",
            "T5",
            true,
            owner(),
            team(Overseas, false, 99, 0),
            invite(),
        ),
        probe(
            "invite at 100 members",
            "T5",
            false,
            owner(),
            team(Overseas, false, 100, 0),
            invite(),
        ),
        probe(
            "invite into a Default Team",
            "T2",
            false,
            owner(),
            team(Overseas, true, 1, 0),
            invite(),
        ),
        probe(
            "leave a Default Team",
            "T2",
            false,
            owner(),
            team(Overseas, true, 1, 0),
            ActionRequest::Leave,
        ),
        probe(
            "buy 100 seats",
            "T6",
            true,
            owner(),
            team(Overseas, false, 10, 0),
            ActionRequest::BuySubscription(plus_change(100, 100, false)),
        ),
        probe(
            "buy 101 seats",
            "T6",
            false,
            owner(),
            team(Domestic, false, 10, 0),
            ActionRequest::BuySubscription(plus_change(101, 101, false)),
        ),
        probe(
            "add seats up to 100",
            "T6",
            true,
            owner(),
            team(Overseas, false, 10, 99),
            ActionRequest::AddSeats(plus_change(1, 100, true)),
        ),
        probe(
            "add seats beyond 100",
            "T6",
            false,
            owner(),
            team(Overseas, false, 10, 100),
            ActionRequest::AddSeats(plus_change(1, 101, true)),
        ),
        probe(
            "add seats undoing pending removals at 100 seats",
            "O4",
            true,
            owner(),
            team(Overseas, false, 10, 100),
            ActionRequest::AddSeats(plus_change(5, 100, true)),
        ),
        probe(
            "Default Team buys one seat",
            "T3",
            true,
            owner(),
            team(Overseas, true, 1, 0),
            ActionRequest::BuySubscription(plus_change(1, 1, false)),
        ),
        probe(
            "Default Team buys two seats",
            "T3",
            false,
            owner(),
            team(Overseas, true, 1, 0),
            ActionRequest::BuySubscription(plus_change(2, 2, false)),
        ),
        probe(
            "create a 4th pay-as-you-go key",
            "P3",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::CreatePaygKey { live_keys: 3 },
        ),
        probe(
            "create a 5th pay-as-you-go key",
            "P3",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::CreatePaygKey { live_keys: 4 },
        ),
        probe(
            "create a 6th pay-as-you-go key",
            "P3",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::CreatePaygKey { live_keys: 5 },
        ),
        probe(
            "assign a second seat to a member",
            "S2",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::AssignSeat {
                target: seat_holder(),
                tier: "plus".into(),
                free_seats: 3,
            },
        ),
        probe(
            "reassign a seat to a member who has one",
            "S2",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::ReassignSeat {
                from: seat_holder(),
                target: Target::member("tom", Role::Admin, true),
            },
        ),
        probe(
            "reassign a seat to a member without one",
            "S4",
            true,
            owner(),
            regular(Overseas),
            ActionRequest::ReassignSeat {
                from: seat_holder(),
                target: seatless(),
            },
        ),
        probe(
            "assign with no free seat",
            "S1",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::AssignSeat {
                target: seatless(),
                tier: "plus".into(),
                free_seats: 0,
            },
        ),
        probe(
            "overseas: a second subscription",
            "O1",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::BuySubscription(domestic_other_tier.clone()),
        ),
        probe(
            "domestic: a subscription of another tier",
            "D1",
            true,
            owner(),
            regular(Domestic),
            ActionRequest::BuySubscription(domestic_other_tier),
        ),
        probe(
            "domestic: a second subscription of one tier",
            "D1",
            false,
            owner(),
            regular(Domestic),
            ActionRequest::BuySubscription(plus_change(1, 11, true)),
        ),
        probe(
            "overseas: schedule removal of renewing seats",
            "O3",
            true,
            owner(),
            regular(Overseas),
            ActionRequest::RemoveSeats(remove(3, 10)),
        ),
        probe(
            "overseas: remove more seats than renew",
            "O3",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::RemoveSeats(remove(4, 3)),
        ),
        probe(
            "domestic: reduce a tier's seats",
            "D3",
            false,
            owner(),
            regular(Domestic),
            ActionRequest::RemoveSeats(remove(1, 10)),
        ),
        probe(
            "domestic: cancel a tier's renewal",
            "D4",
            true,
            owner(),
            regular(Domestic),
            ActionRequest::CancelRenewal(plus_change(0, 10, true)),
        ),
        probe(
            "overseas: cancel a tier's renewal",
            "D4",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::CancelRenewal(plus_change(0, 10, true)),
        ),
        probe(
            "domestic: restore a canceled renewal",
            "D5",
            false,
            owner(),
            regular(Domestic),
            ActionRequest::RestoreRenewal(canceled_plus.clone()),
        ),
        probe(
            "domestic: add seats to a canceled tier",
            "D5",
            false,
            owner(),
            regular(Domestic),
            ActionRequest::AddSeats(canceled_plus),
        ),
        probe(
            "remove the Owner",
            "M2",
            false,
            Actor::member("ada", Role::Admin),
            regular(Overseas),
            ActionRequest::RemoveMember {
                target: Target::member("owner", Role::Owner, false),
            },
        ),
        probe(
            "demote the Owner",
            "M2",
            false,
            Actor::member("ada", Role::Admin),
            regular(Overseas),
            ActionRequest::ChangeRole {
                target: Target::member("owner", Role::Owner, false),
                role: Role::Reader,
            },
        ),
        probe(
            "the Owner leaves",
            "M2",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::Leave,
        ),
        probe(
            "make a second Owner",
            "T4",
            false,
            owner(),
            regular(Overseas),
            ActionRequest::ChangeRole {
                target: seatless(),
                role: Role::Owner,
            },
        ),
        probe(
            "use a Token Plan Key with a seat",
            "K2",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::UseTokenPlanKey {
                key: own_key(true, false),
                credits_available: false,
            },
        ),
        probe(
            "use a Token Plan Key with Credits access and Credits",
            "C4",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::UseTokenPlanKey {
                key: own_key(false, true),
                credits_available: true,
            },
        ),
        probe(
            "use a Token Plan Key with Credits access and no Credits",
            "K2",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::UseTokenPlanKey {
                key: own_key(false, true),
                credits_available: false,
            },
        ),
        probe(
            "use a Token Plan Key with Credits access off",
            "K2",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::UseTokenPlanKey {
                key: own_key(false, false),
                credits_available: true,
            },
        ),
        probe(
            "a Reader deletes their own key",
            "P5",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::DeletePaygKey(PaygKeyFacts {
                id: "k1".into(),
                creator: "rita".into(),
            }),
        ),
        probe(
            "a Reader sees another member's key",
            "P5",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::ViewPaygKey(PaygKeyFacts {
                id: "k2".into(),
                creator: "sam".into(),
            }),
        ),
        probe(
            "a Reader sees another member's usage",
            "V1",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::ViewUsage(KeyFacts::TokenPlan(TokenPlanKeyFacts {
                holder: "sam".into(),
                has_seat: true,
                credits_access: true,
            })),
        ),
        probe(
            "a Reader sees their own Token Plan usage",
            "V1",
            true,
            reader(),
            regular(Overseas),
            ActionRequest::ViewUsage(KeyFacts::TokenPlan(own_key(true, true))),
        ),
        probe(
            "a Reader sees Team-wide billing",
            "V1",
            false,
            reader(),
            regular(Overseas),
            ActionRequest::ViewBilling,
        ),
    ]
}
