//! The decision-log hook receives every decision, from `authorize`, `decide` and
//! `decide_page`, with the digest of the set that made it; the JSON Lines writer writes one
//! line per decision; a reload keeps the hook.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::{edited_copy, policies_dir};
use gatekeeper::decision_log::LoggedDecision;
use gatekeeper::probes::{team, usage_page};
use gatekeeper::{
    ActionRequest, Actor, DecisionLog, Gatekeeper, JsonLinesLog, Region, Request, Role,
    SharedGatekeeper, Target,
};

/// What the recorder keeps of one decision: action, verdict, deciding ids, digest.
type Seen = (String, bool, Vec<String>, String);

/// Keeps what it receives.
#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl DecisionLog for Recorder {
    fn record(&self, entry: &LoggedDecision<'_>) {
        let d = entry.decision;
        self.0.lock().unwrap().push((
            entry.action.name().to_owned(),
            d.is_allowed(),
            d.policies().iter().map(|p| p.id.clone()).collect(),
            d.digest().to_owned(),
        ));
    }
}

fn invite_at(members: i64) -> Request {
    Request::new(
        Actor::member("olga", Role::Owner),
        team(Region::Overseas, false, members, 0),
        ActionRequest::Invite {
            target: Target::outsider("nina"),
            role: Role::Reader,
        },
    )
}

#[test]
fn the_hook_receives_each_decision_with_the_digest_of_its_set() {
    let recorder = Arc::new(Recorder::default());
    let gate = Gatekeeper::from_dir(policies_dir())
        .unwrap()
        .with_decision_log(recorder.clone());
    let digest = gate.digest().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64);

    let allowed = gate.authorize(&invite_at(3)).unwrap();
    let denied = gate.decide(&invite_at(100));
    let page = gate.decide_page(
        &Actor::member("rae", Role::Reader),
        &team(Region::Overseas, false, 3, 0),
        &usage_page("rae", 3),
    );
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2 + page.len(),
        "one entry per decision: {seen:?}"
    );
    assert_eq!(
        seen[0],
        ("invite".into(), true, ids(&allowed), digest.clone())
    );
    assert_eq!(
        seen[1],
        ("invite".into(), false, ids(&denied), digest.clone())
    );
    assert_eq!(ids(&denied), ["member-limit"]);
    for (entry, decision) in seen[2..].iter().zip(&page) {
        assert_eq!(entry.0, "view_usage");
        assert_eq!(entry.1, decision.is_allowed());
        assert_eq!(entry.3, digest);
    }
}

fn ids(decision: &gatekeeper::Decision) -> Vec<String> {
    decision.policies().iter().map(|p| p.id.clone()).collect()
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_json_lines_log_writes_one_line_per_decision_and_a_reload_keeps_it() {
    let buffer = Buffer::default();
    let log = Arc::new(JsonLinesLog::new(buffer.clone()));
    let shared = SharedGatekeeper::new(
        Gatekeeper::from_dir(policies_dir())
            .unwrap()
            .with_decision_log(log.clone()),
    );
    let first = shared.current().decide(&invite_at(100));
    let edited = edited_copy("teams.cedar", |t| format!("{t}\n// reviewed again\n"));
    shared.reload_from_dir(edited.path()).unwrap();
    let second = shared.current().decide(&invite_at(3));
    log.finish().unwrap();

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["digest"], first.digest());
    assert_eq!(lines[1]["digest"], second.digest());
    assert_ne!(first.digest(), second.digest());
    assert_eq!(lines[0]["allowed"], false);
    assert_eq!(lines[0]["policies"], serde_json::json!(["member-limit"]));
    assert_eq!(lines[0]["rules"], serde_json::json!(["T5"]));
    assert_eq!(lines[0]["action"], "invite");
    assert_eq!(lines[0]["team"]["member_count"], 100);
    assert_eq!(lines[0]["actor"]["member"]["role"], "owner");
    assert_eq!(lines[0]["request"]["invite"]["target"]["user"], "nina");
    assert_eq!(lines[1]["allowed"], true);
    let at = lines[1]["at"].as_str().unwrap();
    assert!(at.len() == 24 && at.ends_with('Z'), "{at}");
}

/// A writer that always fails.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_log_that_cannot_write_keeps_its_error_and_the_decision_stands() {
    let log = Arc::new(JsonLinesLog::new(Broken));
    let gate = Gatekeeper::bundled()
        .unwrap()
        .with_decision_log(log.clone());
    assert!(!gate.decide(&invite_at(100)).is_allowed());
    assert!(gate.decide(&invite_at(3)).is_allowed());
    assert_eq!(log.finish().unwrap_err().to_string(), "disk full");
}
