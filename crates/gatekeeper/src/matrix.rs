//! The role matrix of rule M1, computed by evaluating the policies, never by reading them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::gatekeeper::Gatekeeper;
use crate::probes::{plus_change, team};
use crate::request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, Target, TeamFacts,
    TokenPlanKeyFacts,
};

/// The Team kinds and regions a cell is evaluated in, in this order.
pub const CONTEXTS: [(&str, bool, Region); 4] = [
    ("regular overseas", false, Region::Overseas),
    ("regular domestic", false, Region::Domestic),
    ("default overseas", true, Region::Overseas),
    ("default domestic", true, Region::Domestic),
];

/// The rows of M1, in its order.
pub const ACTIONS: [&str; 11] = [
    "purchase subscriptions",
    "top up Credits",
    "top up the pay-as-you-go wallet",
    "create / delete own pay-as-you-go API keys",
    "delete any member's pay-as-you-go API keys",
    "assign subscriptions (seats) to members",
    "manage members' access to shared Credits",
    "invite / remove members",
    "view member usage (Team-wide)",
    "use assigned or shared resources",
    "adjust issued statements",
];

/// The requests one row stands for, made by `actor` in `team`: the row is allowed when all are.
fn row_requests(row: &str, actor: &Actor, team: &TeamFacts) -> Vec<ActionRequest> {
    let me = actor.user().to_owned();
    let other = || Target::member("other", Role::Reader, false);
    let key = |creator: &str| PaygKeyFacts {
        id: format!("key-of-{creator}"),
        creator: creator.to_owned(),
    };
    let tp_key = |holder: &str, has_seat, credits_access| TokenPlanKeyFacts {
        holder: holder.to_owned(),
        has_seat,
        credits_access,
    };
    match row {
        "purchase subscriptions" => {
            vec![ActionRequest::BuySubscription(plus_change(
                1,
                team.seat_count + 1,
                false,
            ))]
        }
        "top up Credits" => vec![ActionRequest::TopUpCredits],
        "top up the pay-as-you-go wallet" => vec![ActionRequest::TopUpWallet],
        "create / delete own pay-as-you-go API keys" => {
            vec![
                ActionRequest::CreatePaygKey { live_keys: 0 },
                ActionRequest::DeletePaygKey(key(&me)),
            ]
        }
        "delete any member's pay-as-you-go API keys" => {
            vec![ActionRequest::DeletePaygKey(key("other"))]
        }
        "assign subscriptions (seats) to members" => vec![ActionRequest::AssignSeat {
            target: other(),
            tier: "plus".into(),
            free_seats: 1,
        }],
        "manage members' access to shared Credits" => {
            vec![ActionRequest::SetCreditsAccess { target: other() }]
        }
        "invite / remove members" => vec![
            ActionRequest::Invite {
                target: Target::outsider("newcomer"),
                role: Role::Reader,
            },
            ActionRequest::RemoveMember { target: other() },
        ],
        "view member usage (Team-wide)" => vec![
            ActionRequest::ViewUsage(KeyFacts::TokenPlan(tp_key("other", true, true))),
            ActionRequest::ViewUsage(KeyFacts::Payg(key("other"))),
            ActionRequest::ViewBilling,
        ],
        "use assigned or shared resources" => vec![
            ActionRequest::UseTokenPlanKey {
                key: tp_key(&me, true, true),
                credits_available: false,
            },
            ActionRequest::UseTokenPlanKey {
                key: tp_key(&me, false, true),
                credits_available: true,
            },
        ],
        "adjust issued statements" => vec![ActionRequest::AdjustStatement],
        _ => Vec::new(),
    }
}

/// Yes or no, as the matrix writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    /// Allowed.
    Yes,
    /// Denied.
    No,
}

impl From<bool> for YesNo {
    fn from(allowed: bool) -> Self {
        if allowed { YesNo::Yes } else { YesNo::No }
    }
}

/// One cell: one answer, or answers that differ by Team kind and/or region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// The same in every kind and region.
    Uniform(YesNo),
    /// Keyed by `regular`/`default`, `overseas`/`domestic`, or both (`regular overseas`, ...).
    Split(BTreeMap<String, YesNo>),
}

impl Cell {
    fn from_answers(answers: [bool; 4]) -> Cell {
        let [ro, rd, dov, dd] = answers;
        if answers.iter().all(|&a| a == ro) {
            return Cell::Uniform(ro.into());
        }
        let split = |pairs: &[(&str, bool)]| {
            Cell::Split(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).into()))
                    .collect(),
            )
        };
        if ro == rd && dov == dd {
            split(&[("regular", ro), ("default", dov)])
        } else if ro == dov && rd == dd {
            split(&[("overseas", ro), ("domestic", rd)])
        } else {
            split(&[
                (CONTEXTS[0].0, ro),
                (CONTEXTS[1].0, rd),
                (CONTEXTS[2].0, dov),
                (CONTEXTS[3].0, dd),
            ])
        }
    }

    /// The answer in each of [`CONTEXTS`]; `None` where a split cell does not say.
    pub fn answers(&self) -> [Option<YesNo>; 4] {
        match self {
            Cell::Uniform(answer) => [Some(*answer); 4],
            Cell::Split(map) => CONTEXTS.map(|(name, _, _)| {
                let (kind, region) = name.split_once(' ').unwrap_or((name, name));
                map.get(name)
                    .or_else(|| map.get(kind))
                    .or_else(|| map.get(region))
                    .copied()
            }),
        }
    }

    fn render(&self) -> String {
        let word = |a: YesNo| match a {
            YesNo::Yes => "yes",
            YesNo::No => "no",
        };
        match self {
            Cell::Uniform(answer) => word(*answer).to_owned(),
            Cell::Split(map) => map
                .iter()
                .map(|(k, v)| format!("{k}: {}", word(*v)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The action, as M1 names it.
    pub action: String,
    /// The Owner's cell.
    pub owner: Cell,
    /// The Admin's cell.
    pub admin: Cell,
    /// The Reader's cell.
    pub reader: Cell,
}

impl Row {
    fn cell(&self, role: Role) -> &Cell {
        match role {
            Role::Owner => &self.owner,
            Role::Admin => &self.admin,
            Role::Reader => &self.reader,
        }
    }
}

/// The role matrix: rows = M1's actions, columns = roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleMatrix {
    /// The rows, in M1's order.
    pub rows: Vec<Row>,
}

/// One cell where two matrices disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellDifference {
    /// The row.
    pub action: String,
    /// The column.
    pub role: Role,
    /// The Team kind and region.
    pub context: &'static str,
    /// The expected (or old) answer; `None` where the other matrix does not say.
    pub expected: Option<YesNo>,
    /// The actual (or new) answer.
    pub actual: Option<YesNo>,
}

impl std::fmt::Display for CellDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = |a: Option<YesNo>| match a {
            Some(YesNo::Yes) => "yes",
            Some(YesNo::No) => "no",
            None => "missing",
        };
        write!(
            f,
            "`{}` × {} ({}): {} → {}",
            self.action,
            self.role.as_str(),
            self.context,
            word(self.expected),
            word(self.actual)
        )
    }
}

impl RoleMatrix {
    /// Evaluates every row × role × Team kind × region through the policies.
    pub fn evaluate(gate: &Gatekeeper) -> RoleMatrix {
        let rows = ACTIONS
            .iter()
            .map(|&action| {
                let cell = |role: Role| {
                    let answers = CONTEXTS.map(|(_, is_default, region)| {
                        let members = if is_default { 1 } else { 10 };
                        let team = team(region, is_default, members, 0);
                        let actor = Actor::member(role.as_str(), role);
                        let requests = row_requests(action, &actor, &team);
                        !requests.is_empty()
                            && requests.into_iter().all(|action| {
                                gate.decide(&Request::new(actor.clone(), team.clone(), action))
                                    .is_allowed()
                            })
                    });
                    Cell::from_answers(answers)
                };
                Row {
                    action: action.to_owned(),
                    owner: cell(Role::Owner),
                    admin: cell(Role::Admin),
                    reader: cell(Role::Reader),
                }
            })
            .collect();
        RoleMatrix { rows }
    }

    /// Every cell, in every kind and region, where `self` (expected) and `actual` differ.
    pub fn differences(&self, actual: &RoleMatrix) -> Vec<CellDifference> {
        let mut differences = Vec::new();
        let mut actions: Vec<&str> = self.rows.iter().map(|r| r.action.as_str()).collect();
        for row in &actual.rows {
            if !actions.contains(&row.action.as_str()) {
                actions.push(&row.action);
            }
        }
        let find = |m: &'_ RoleMatrix, action: &str| -> Option<Row> {
            m.rows.iter().find(|r| r.action == action).cloned()
        };
        for action in actions {
            let (old, new) = (find(self, action), find(actual, action));
            for role in Role::ALL {
                let old_answers = old
                    .as_ref()
                    .map(|r| r.cell(role).answers())
                    .unwrap_or([None; 4]);
                let new_answers = new
                    .as_ref()
                    .map(|r| r.cell(role).answers())
                    .unwrap_or([None; 4]);
                for (i, (context, _, _)) in CONTEXTS.iter().enumerate() {
                    if old_answers[i] != new_answers[i] {
                        differences.push(CellDifference {
                            action: action.to_owned(),
                            role,
                            context,
                            expected: old_answers[i],
                            actual: new_answers[i],
                        });
                    }
                }
            }
        }
        differences
    }

    /// The matrix as a Markdown table, in the shape of M1.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| action | Owner | Admin | Reader |\n|---|---|---|---|\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.action,
                row.owner.render(),
                row.admin.render(),
                row.reader.render()
            );
        }
        out
    }
}
