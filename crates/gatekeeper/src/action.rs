//! The schema's actions: the one table of their names.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownName;

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// An action of the schema (`Action::"..."`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the schema's order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The action's name in the policies, scenarios and the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    CreateAccount => "create_account",
    CreateTeam => "create_team",
    Invite => "invite",
    RemoveMember => "remove_member",
    Leave => "leave",
    ChangeRole => "change_role",
    BuySubscription => "buy_subscription",
    AddSeats => "add_seats",
    RemoveSeats => "remove_seats",
    CancelRenewal => "cancel_renewal",
    RestoreRenewal => "restore_renewal",
    AssignSeat => "assign_seat",
    UnassignSeat => "unassign_seat",
    ReassignSeat => "reassign_seat",
    TopUpCredits => "top_up_credits",
    TopUpWallet => "top_up_wallet",
    SetCreditsAccess => "set_credits_access",
    CreatePaygKey => "create_payg_key",
    DeletePaygKey => "delete_payg_key",
    ViewPaygKey => "view_payg_key",
    UseTokenPlanKey => "use_token_plan_key",
    ViewUsage => "view_usage",
    ViewBilling => "view_billing",
    AdjustStatement => "adjust_statement",
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| UnknownName::new("action", s, "an action of the schema"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_of_the_schema_has_exactly_one_name_here() {
        let gate = crate::Gatekeeper::bundled().expect("bundled policies load");
        let mut schema: Vec<String> = gate
            .schema()
            .actions()
            .map(|uid| uid.id().unescaped().to_owned())
            .collect();
        schema.sort();
        let mut ours: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        ours.sort();
        assert_eq!(ours, schema);
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(*action));
        }
    }
}
