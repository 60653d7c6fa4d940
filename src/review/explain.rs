//! Requests for `policy explain`: an action named on the command line, against a Team's state.

use gatekeeper::{Action, ActionRequest, Request, Role, TokenPlanKeyId};

use crate::ids::{IdError, PaygKeyId, TeamId, UserId, escaped};
use crate::teams::{
    Operation, QuantityError, Seats, TeamState, TopUp, actor as actor_facts, key_facts, payg_key,
    request as operation_request, team_facts, token_plan_key,
};

/// The optional fields of an explained action.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// The user the action is about.
    pub target: Option<UserId>,
    pub role: Option<Role>,
    pub tier: Option<String>,
    pub seats: Option<u32>,
    /// A Token Plan Key id `tp:TEAM:USER` or a pay-as-you-go key id.
    pub key: Option<String>,
    /// The member a seat is reassigned from.
    pub from: Option<UserId>,
    /// What statements billed to the Team's Credits before the day asked about.
    pub credits_spent: rust_decimal::Decimal,
}

/// An action that can't be explained as asked: nothing is decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// A flag the action needs is missing.
    #[error("`{action}` needs --{flag}")]
    Missing { action: Action, flag: &'static str },
    /// A flag was given that the action does not read.
    #[error("`{action}` does not use --{flag}; leave it out")]
    Unused { action: Action, flag: &'static str },
    /// A key that the Team does not have.
    #[error("Team `{team}` has no key `{}`", escaped(key))]
    UnknownKey {
        team: String,
        /// The key id given.
        key: String,
    },
    /// `--key` of `use_token_plan_key` is not a member's Token Plan Key in this Team.
    #[error(
        "`{}` is not a Token Plan Key of Team `{team}`: one is `tp:{team}:USER`, USER a member",
        escaped(key)
    )]
    NotTokenPlanKey {
        team: String,
        /// The key id given.
        key: String,
    },
    /// `--key` of `create_payg_key` breaks rule T7.
    #[error("--key")]
    KeyId(#[source] IdError),
    /// `--members` below the members the other facts name.
    #[error(
        "--members {members} is fewer than the {named} member(s) the other flags name (the Owner, the actor and a member target)"
    )]
    TooFewMembers {
        /// `--members`.
        members: usize,
        /// The Owner, the actor and the target, those who are members.
        named: usize,
    },
    /// `--seats 0`.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// `--target-seat` in a Team without seats.
    #[error("--target-seat needs seats to hold: give --team-seats 1 or more")]
    SeatWithoutSeats,
    /// `create_payg_key` with an id the Team already has.
    #[error("Team `{team}` already has a key `{key}`; choose another id")]
    KeyTaken { team: String, key: PaygKeyId },
}

/// The flags of [`Fields`], each marked when the action reads it.
struct Flags<'a> {
    fields: &'a Fields,
    action: Action,
    read: std::cell::RefCell<Vec<&'static str>>,
}

impl Flags<'_> {
    /// `value` of `--flag`, which may be absent.
    fn optional<T: Clone>(&self, value: &Option<T>, flag: &'static str) -> Option<T> {
        self.read.borrow_mut().push(flag);
        value.clone()
    }

    /// `value` of `--flag`, which the action needs.
    fn need<T: Clone>(&self, value: &Option<T>, flag: &'static str) -> Result<T, ExplainError> {
        self.optional(value, flag).ok_or(ExplainError::Missing {
            action: self.action,
            flag,
        })
    }

    /// An error naming the first flag given that neither the action nor `also_read` reads.
    fn refuse_unread(&self, also_read: &[&str]) -> Result<(), ExplainError> {
        let f = self.fields;
        let given = [
            ("target", f.target.is_some()),
            ("role", f.role.is_some()),
            ("tier", f.tier.is_some()),
            ("seats", f.seats.is_some()),
            ("key", f.key.is_some()),
            ("from", f.from.is_some()),
        ];
        let read = self.read.borrow();
        match given
            .into_iter()
            .find(|(flag, given)| *given && !read.contains(flag) && !also_read.contains(flag))
        {
            Some((flag, _)) => Err(ExplainError::Unused {
                action: self.action,
                flag,
            }),
            None => Ok(()),
        }
    }
}

/// The request `actor` would make for `action` in Team `team`, whose state is `state`. Every
/// flag of `fields` is read by the action, or by the caller (`also_read`), or refused.
pub fn request(
    state: &TeamState,
    team: &TeamId,
    actor: &UserId,
    action: Action,
    fields: &Fields,
    also_read: &[&str],
) -> Result<Request, ExplainError> {
    let flags = Flags {
        fields,
        action,
        read: std::cell::RefCell::default(),
    };
    let request = read_request(state, team, actor, &flags)?;
    flags.refuse_unread(also_read)?;
    Ok(request)
}

fn read_request(
    state: &TeamState,
    team: &TeamId,
    actor: &UserId,
    flags: &Flags<'_>,
) -> Result<Request, ExplainError> {
    let fields = flags.fields;
    let action = flags.action;
    let team = team.clone();
    let target = || flags.need(&fields.target, "target");
    let tier = || flags.need(&fields.tier, "tier");
    let seats = || flags.need(&fields.seats, "seats");
    let key = || flags.need(&fields.key, "key");
    let role = || flags.need(&fields.role, "role");
    let view = |action_request| {
        Ok(Request::new(
            actor_facts(state, actor.as_str()),
            team_facts(state),
            action_request,
        ))
    };
    let operation = match action {
        Action::ViewBilling => return view(ActionRequest::ViewBilling),
        // As the user's Team role (or as an outsider): an operator is not a member.
        Action::AdjustStatement => return view(ActionRequest::AdjustStatement),
        Action::ViewPaygKey => {
            let key = existing_payg_key(state, key()?)?;
            return view(ActionRequest::ViewPaygKey(payg_key(state, key.as_str())));
        }
        Action::ViewUsage => {
            return view(ActionRequest::ViewUsage(key_facts(
                state,
                &existing_key(state, key()?)?,
            )));
        }
        Action::UseTokenPlanKey => {
            let holder = match flags.optional(&fields.key, "key") {
                Some(key) => token_plan_key_holder(state, key)?,
                None => actor.to_string(),
            };
            return view(ActionRequest::UseTokenPlanKey {
                key: token_plan_key(state, &holder),
                credits_available: state.credits_topped_up - fields.credits_spent
                    > rust_decimal::Decimal::ZERO,
            });
        }
        Action::CreateAccount => Operation::CreateAccount {
            region: state.region,
        },
        Action::CreateTeam => Operation::CreateTeam {
            team,
            region: state.region,
        },
        Action::Invite => Operation::Invite {
            team,
            user: target()?,
            role: role()?,
        },
        Action::RemoveMember => Operation::RemoveMember {
            team,
            user: target()?,
        },
        Action::Leave => Operation::Leave { team },
        Action::ChangeRole => Operation::ChangeRole {
            team,
            user: target()?,
            role: role()?,
        },
        Action::BuySubscription => Operation::BuySubscription {
            team,
            tier: tier()?,
            seats: Seats::new(seats()?)?,
        },
        Action::AddSeats => Operation::AddSeats {
            team,
            tier: tier()?,
            seats: Seats::new(seats()?)?,
        },
        Action::RemoveSeats => Operation::RemoveSeats {
            team,
            tier: tier()?,
            seats: Seats::new(seats()?)?,
        },
        Action::CancelRenewal => Operation::CancelRenewal {
            team,
            tier: tier()?,
        },
        Action::RestoreRenewal => Operation::RestoreRenewal {
            team,
            tier: tier()?,
        },
        Action::AssignSeat => Operation::AssignSeat {
            team,
            tier: tier()?,
            user: target()?,
        },
        Action::UnassignSeat => Operation::UnassignSeat {
            team,
            user: target()?,
        },
        Action::ReassignSeat => Operation::ReassignSeat {
            team,
            from: flags.need(&fields.from, "from")?,
            to: target()?,
        },
        Action::TopUpCredits => Operation::TopUpCredits {
            team,
            amount: TopUp::new(rust_decimal::Decimal::ONE)?,
        },
        Action::TopUpWallet => Operation::TopUpWallet {
            team,
            amount: TopUp::new(rust_decimal::Decimal::ONE)?,
        },
        Action::SetCreditsAccess => Operation::SetCreditsAccess {
            team,
            user: target()?,
            enabled: false,
        },
        Action::CreatePaygKey => Operation::CreatePaygKey {
            key: new_payg_key(state, key()?)?,
            team,
        },
        Action::DeletePaygKey => Operation::DeletePaygKey {
            key: existing_payg_key(state, key()?)?,
            team,
        },
    };
    Ok(operation_request(state, actor, &operation))
}

/// `key`, a pay-as-you-go key of the Team.
fn existing_payg_key(state: &TeamState, key: String) -> Result<PaygKeyId, ExplainError> {
    match key.parse::<PaygKeyId>() {
        Ok(id) if state.payg_keys.contains_key(id.as_str()) => Ok(id),
        _ => Err(ExplainError::UnknownKey {
            team: state.id.clone(),
            key,
        }),
    }
}

/// `key`, an id the Team does not have yet.
fn new_payg_key(state: &TeamState, key: String) -> Result<PaygKeyId, ExplainError> {
    let key: PaygKeyId = key.parse().map_err(ExplainError::KeyId)?;
    if state.payg_keys.contains_key(key.as_str()) {
        return Err(ExplainError::KeyTaken {
            team: state.id.clone(),
            key,
        });
    }
    Ok(key)
}

/// `key`, a member's Token Plan Key or a pay-as-you-go key of the Team.
fn existing_key(state: &TeamState, key: String) -> Result<String, ExplainError> {
    match TokenPlanKeyId::parse(&key) {
        Some(id) if id.team == state.id && state.members.contains_key(id.user) => Ok(key),
        _ => existing_payg_key(state, key).map(String::from),
    }
}

/// The member whose Token Plan Key `key` is in this Team.
fn token_plan_key_holder(state: &TeamState, key: String) -> Result<String, ExplainError> {
    match TokenPlanKeyId::parse(&key) {
        Some(id) if id.team == state.id && state.members.contains_key(id.user) => {
            Ok(id.user.to_owned())
        }
        _ => Err(ExplainError::NotTokenPlanKey {
            team: state.id.clone(),
            key,
        }),
    }
}

/// Facts given on the command line instead of a store.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The actor's role (`None`: not a member).
    pub role: Option<Role>,
    pub region: gatekeeper::Region,
    pub is_default: bool,
    /// Members, the Owner, actor and target included (default: just those).
    pub members: Option<usize>,
    /// Seats of the tier (all free unless the target holds one).
    pub seats: u32,
    /// The tier of those seats.
    pub tier: String,
    /// The target's role, if the target is a member.
    pub target_role: Option<Role>,
    /// Whether the target holds a seat.
    pub target_seat: bool,
    /// The actor's live pay-as-you-go keys.
    pub live_keys: usize,
}

/// A Team state with exactly these facts, at the epoch.
pub fn state_from_facts(
    team: &TeamId,
    actor: &UserId,
    target: Option<&UserId>,
    facts: &Facts,
) -> Result<TeamState, ExplainError> {
    use crate::teams::{Holder, Member, PaygKey, Subscription};
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let owner = if facts.role == Some(Role::Owner) {
        actor.as_str()
    } else {
        "owner"
    };
    let mut state = TeamState::new(team.as_str(), facts.region, facts.is_default, owner, at);
    let member = |role| Member {
        role,
        credits_access: true,
    };
    if let Some(role) = facts.role {
        state.members.insert(actor.to_string(), member(role));
    }
    if let (Some(target), Some(role)) = (target, facts.target_role) {
        state.members.insert(target.to_string(), member(role));
    }
    let named = state.members.len();
    let members = facts.members.unwrap_or(named);
    if members < named {
        return Err(ExplainError::TooFewMembers { members, named });
    }
    if facts.target_seat && facts.seats == 0 {
        return Err(ExplainError::SeatWithoutSeats);
    }
    let mut filler = 0;
    while state.members.len() < members {
        filler += 1;
        state
            .members
            .insert(format!("member-{filler}"), member(Role::Reader));
    }
    if facts.seats > 0 {
        let mut holders = std::collections::BTreeMap::new();
        if let (Some(target), true) = (target, facts.target_seat) {
            holders.insert(
                1,
                Holder {
                    user: target.to_string(),
                    since: at,
                },
            );
        }
        state.subscriptions.insert(
            facts.tier.clone(),
            Subscription {
                anchor: at.date_naive(),
                seats: (1..=facts.seats).collect(),
                next_seat: facts.seats + 1,
                pending_removal: 0,
                renewal_canceled: false,
                holders,
            },
        );
    }
    for i in 0..facts.live_keys {
        state.payg_keys.insert(
            format!("key-{i}"),
            PaygKey {
                creator: actor.to_string(),
                deleted_at: None,
            },
        );
    }
    Ok(state)
}
