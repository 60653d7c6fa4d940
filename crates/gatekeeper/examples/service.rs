//! A service's use of the gatekeeper, to copy: load the reviewed policies once, decide from
//! several worker threads, and reload when a policy file changes (a reviewed deployment),
//! keeping the policies in force when the new ones don't load.
//!
//!   cargo run -p gatekeeper --example service -- policies 10
//!
//! watches `policies/` for 10 seconds while four threads decide; edit a file to see a reload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gatekeeper::{
    ActionRequest, Actor, Gatekeeper, Region, Request, Role, SharedGatekeeper, TeamFacts,
};

/// The latest modification time of the directory's files: what a watcher compares.
fn last_change(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
}

/// An Admin of a 12-member overseas Team topping up its Credits (only the Owner may, C2).
fn admin_tops_up(user: &str) -> Request {
    let team = TeamFacts {
        id: "acme".into(),
        region: Region::Overseas,
        is_default: false,
        member_count: 12,
        seat_count: 5,
    };
    Request::new(
        Actor::member(user, Role::Admin),
        team,
        ActionRequest::TopUpCredits,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "policies".to_owned()));
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    // Refuses to start on any problem, with every problem's file:line.
    let shared = SharedGatekeeper::new(Gatekeeper::from_dir(&dir)?);
    let stop = AtomicBool::new(false);
    let decisions = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (shared, stop, decisions) = (&shared, &stop, &decisions);
            scope.spawn(move || {
                let request = admin_tops_up(&format!("user{worker}"));
                while !stop.load(Ordering::Relaxed) {
                    // One set of policies for the whole decision, even if a reload lands now.
                    let gate = shared.current();
                    // An error (a request the schema rejects) denies: fail closed.
                    let allowed = gate.authorize(&request).is_ok_and(|d| d.is_allowed());
                    std::hint::black_box(allowed);
                    decisions.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let started = Instant::now();
        let mut seen = last_change(&dir);
        while started.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_millis(200));
            let now = last_change(&dir);
            if now != seen {
                seen = now;
                match shared.reload_from_dir(&dir) {
                    Ok(()) => eprintln!("reloaded {}", dir.display()),
                    Err(e) => eprintln!("kept the policies in force: {e}"),
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let decision = shared.current().authorize(&admin_tops_up("user0"))?;
    // Explaining a denial: the policies and rules that decided it.
    println!(
        "{} decisions in {seconds} s on 4 threads; an Admin topping up Credits: {}",
        decisions.load(Ordering::Relaxed),
        decision.explain()
    );
    Ok(())
}
