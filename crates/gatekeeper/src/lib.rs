//! `gatekeeper` evaluates the Token Plan Teams Cedar policies for every operation.
//!
//! The policies in `policies/` decide who may do what and the limits; the caller computes the
//! facts (a Team's member and seat counts, a member's role, a key's holder) and asks:
//!
//! ```
//! use gatekeeper::{Gatekeeper, Request, Actor, Role, TeamFacts, Region, ActionRequest};
//!
//! let gate = Gatekeeper::bundled()?;
//! let team = TeamFacts { id: "acme".into(), region: Region::Overseas, is_default: false,
//!                        member_count: 3, seat_count: 0 };
//! let request = Request::new(Actor::member("bob", Role::Admin), team, ActionRequest::TopUpCredits);
//! let decision = gate.authorize(&request)?;
//! assert!(!decision.is_allowed());
//! println!("{}", decision.explain());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Loading validates every policy strictly against the schema and refuses to start on any
//! problem, and on a schema that does not describe the entities and requests the gatekeeper
//! builds; an evaluation error denies (fail closed). Every request is checked against the
//! schema; the check depends only on a request's shape (its action, entity types, context
//! fields and roles), so a shape the schema accepted once skips it, and a shape it rejects is
//! denied every time. Decisions are Cedar's: each policy's condition is built once, at load,
//! and evaluated by Cedar's evaluator.
//!
//! A page of requests by one actor in one Team (a Reader's view of a statement's keys) is
//! decided in one call, the Team and the actor built once, each request as it would be alone:
//!
//! ```
//! use gatekeeper::{ActionRequest, Actor, Gatekeeper, KeyFacts, PaygKeyFacts, Region, Role,
//!                  TeamFacts};
//!
//! let gate = Gatekeeper::bundled()?;
//! let team = TeamFacts { id: "acme".into(), region: Region::Overseas, is_default: false,
//!                        member_count: 3, seat_count: 0 };
//! let key = |id: &str, creator: &str| ActionRequest::ViewUsage(KeyFacts::Payg(PaygKeyFacts {
//!     id: id.into(), creator: creator.into() }));
//! let page = gate.decide_page(&Actor::member("rae", Role::Reader), &team,
//!                             &[key("k1", "rae"), key("k2", "olga")]);
//! assert!(page[0].is_allowed() && !page[1].is_allowed()); // V1: only their own keys
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Gatekeeper`] is `Send + Sync`: build it once and decide from any number of threads.
//! [`SharedGatekeeper`] adds reloading a reviewed policy directory while they decide
//! (`examples/service.rs` is a service's loop to copy).
//!
//! A denial names what decided it, for a log line or an error message:
//!
//! ```
//! use gatekeeper::{Gatekeeper, Request, Actor, Role, TeamFacts, Region, ActionRequest};
//!
//! let gate = Gatekeeper::bundled()?;
//! let team = TeamFacts { id: "acme".into(), region: Region::Overseas, is_default: false,
//!                        member_count: 100, seat_count: 0 };
//! let invite = ActionRequest::Invite { target: gatekeeper::Target::outsider("nina"),
//!                                      role: Role::Reader };
//! let decision = gate.authorize(&Request::new(Actor::member("olga", Role::Owner), team, invite))?;
//! assert!(!decision.is_allowed());
//! assert_eq!(decision.rules(), ["T5"]);
//! assert!(decision.explain().contains("at most 100 members"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The role matrix of rule M1, by evaluating the policies for every action and role:
//!
//! ```
//! use gatekeeper::{Gatekeeper, matrix::RoleMatrix};
//!
//! let matrix = RoleMatrix::evaluate(&Gatekeeper::bundled()?);
//! assert!(matrix.to_markdown().contains("| top up Credits |"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod action;
pub mod clauses;
mod conformance;
mod decision;
pub mod decision_log;
mod digest;
mod encode;
mod error;
mod evaluate;
mod gatekeeper;
pub mod matrix;
pub mod probes;
mod request;
pub mod rules;
mod shared;
mod source;

pub use action::Action;
pub use decision::{Decision, Effect, PolicyRef};
pub use decision_log::{DecisionLog, JsonLinesLog};
pub use digest::digest;
pub use error::{LoadError, Problem, RequestError, UnknownName, error_chain};
pub use gatekeeper::Gatekeeper;
pub use request::{
    ActionRequest, Actor, KeyFacts, PaygKeyFacts, Region, Request, Role, SubscriptionChange,
    Target, TeamFacts, TokenPlanKeyFacts, TokenPlanKeyId,
};
pub use shared::{ReloadError, SharedGatekeeper};
pub use source::{PolicyFile, PolicySources};

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
