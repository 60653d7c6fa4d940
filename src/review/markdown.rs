//! `policy diff --format markdown`: the diff as a pull-request comment. The verdict comes first
//! (proved unchanged, nothing loosened, loosened, not compared, or only sampled), then each
//! loosening with its counterexample as a table of the reviewer's facts and the policies that
//! decided it at `file:line`, what became denied, and the matrix cells and limit probes that
//! changed.

use gatekeeper::matrix::YesNo;

use super::check::PolicyDiff;
use super::diff::{EnvProof, Example, ProofDiff};
use super::set::ReviewedSet;

/// What the diff says, first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// NEW allows something OLD denies (proved, or sampled without a proof).
    Loosened,
    /// Nothing loosened was found, but some environment could not be compared.
    NotCompared,
    /// Proved: NEW allows nothing OLD denies, and some decision became a denial.
    NothingLoosened,
    /// Proved: NEW decides every request as OLD does.
    Unchanged,
    /// No proof ran (`--probes-only`), and no sampled decision was loosened.
    NotProved,
}

impl Verdict {
    /// The verdict on `proof` (none with `--probes-only`) and the samples.
    pub fn of(proof: Option<&ProofDiff>, probes: &PolicyDiff) -> Verdict {
        let Some(proof) = proof else {
            return if probes.loosens() {
                Verdict::Loosened
            } else {
                Verdict::NotProved
            };
        };
        if probes.loosens() || proof.envs.iter().any(|e| e.loosened.is_some()) {
            Verdict::Loosened
        } else if proof.envs.iter().any(|e| e.not_compared.is_some()) {
            Verdict::NotCompared
        } else if probes.is_empty()
            && proof.added.is_empty()
            && proof.removed.is_empty()
            && proof
                .envs
                .iter()
                .all(|e| e.tightened.is_none() && e.may_fail.is_none())
        {
            Verdict::Unchanged
        } else {
            Verdict::NothingLoosened
        }
    }

    fn headline(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Loosened => (
                "LOOSENED",
                "NEW allows requests that OLD denies: each is below with a counterexample. Ask for a second review before merging.",
            ),
            Verdict::NotCompared => (
                "NOT COMPARED",
                "No loosening was found, but the proof could not compare some request environments, so nothing is proved there (below).",
            ),
            Verdict::NothingLoosened => (
                "nothing loosened",
                "Proved over every entity store and request the schema allows: NEW allows nothing that OLD denies. What changed otherwise is below.",
            ),
            Verdict::Unchanged => (
                "proved unchanged",
                "Proved over every entity store and request the schema allows: NEW decides every request as OLD does.",
            ),
            Verdict::NotProved => (
                "not proved",
                "Only samples were compared (`--probes-only`: the role matrix and the limit probes), and none was loosened; samples prove nothing.",
            ),
        }
    }
}

/// The diff of `old` and `new` as Markdown.
pub fn diff(
    old: &ReviewedSet,
    new: &ReviewedSet,
    proof: Option<&ProofDiff>,
    probes: &PolicyDiff,
) -> String {
    let verdict = Verdict::of(proof, probes);
    let (headline, summary) = verdict.headline();
    let mut out = vec![
        format!("## Policy diff: {headline}"),
        String::new(),
        summary.to_owned(),
        String::new(),
        "| | policies |".to_owned(),
        "|---|---|".to_owned(),
        format!("| OLD | {} |", code(&old.sources.describe())),
        format!("| NEW | {} |", code(&new.sources.describe())),
    ];
    if let Some(proof) = proof {
        let proved = proof
            .envs
            .iter()
            .filter(|e| e.loosened.is_none() && e.not_compared.is_none())
            .count();
        out.push(String::new());
        out.push(format!(
            "NEW allows nothing OLD denies in {proved} of {} request environment(s).",
            proof.envs.len()
        ));
        for env in &proof.envs {
            out.extend(environment(env));
        }
        out.extend(listed(
            "New request environments (compared with denying all of them)",
            &proof.added,
        ));
        out.extend(listed(
            "Request environments gone from NEW's schema (every such request is refused)",
            &proof.removed,
        ));
    }
    out.extend(samples(probes));
    out.push(String::new());
    out.join("\n")
}

/// The sections of one environment of the proof.
fn environment(env: &EnvProof) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(example) = &env.loosened {
        let lead = "NEW allows what OLD denies, for example:".to_owned();
        out.extend(section("Loosened", env, lead, Some(example)));
    }
    if let Some(reason) = &env.not_compared {
        out.extend(section("Not compared", env, one_line(reason), None));
    }
    if let Some(may_fail) = env.may_fail.as_ref().filter(|_| env.not_compared.is_none()) {
        let policies: Vec<String> = may_fail.policies.iter().map(|p| code(p)).collect();
        let lead = format!(
            "{} can fail to evaluate here, and the gatekeeper denies where one does; for example, where the first fails:",
            policies.join(", ")
        );
        out.extend(section(
            "Tightenings not all proved",
            env,
            lead,
            Some(&may_fail.example),
        ));
    }
    if let Some(example) = &env.tightened {
        let lead = "NEW denies what OLD allows, for example:".to_owned();
        out.extend(section("Tightened", env, lead, Some(example)));
    }
    out
}

/// `### TITLE: ENV`, a paragraph, and the example's table.
fn section(title: &str, env: &EnvProof, lead: String, example: Option<&Example>) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!("### {title}: {}", code(&env.env)),
        String::new(),
        lead,
    ];
    out.extend(example.map(table).unwrap_or_default());
    out
}

/// A counterexample as a table: the request's facts, then each side's decision and the
/// policies that made it.
fn table(example: &Example) -> Vec<String> {
    let request = &example.request;
    let decision = |allowed: bool, policies: &[String]| {
        let word = if allowed { "allowed" } else { "denied" };
        if policies.is_empty() {
            format!("{word} (no policy permits it)")
        } else {
            let by: Vec<String> = policies.iter().map(|p| code(p)).collect();
            format!("{word} by {}", by.join(", "))
        }
    };
    vec![
        String::new(),
        "| | counterexample |".to_owned(),
        "|---|---|".to_owned(),
        format!("| action | {} |", code(&request.action)),
        format!("| principal | {} |", code(&request.principal)),
        format!("| resource | {} |", code(&request.resource)),
        format!("| context | {} |", code(&request.context)),
        format!(
            "| OLD | {} |",
            decision(example.old_allowed, &example.old_policies)
        ),
        format!(
            "| NEW | {} |",
            decision(example.new_allowed, &example.new_policies)
        ),
    ]
}

fn listed(title: &str, envs: &[String]) -> Vec<String> {
    if envs.is_empty() {
        return Vec::new();
    }
    let mut out = vec![String::new(), format!("### {title}"), String::new()];
    out.extend(envs.iter().map(|env| format!("- {}", code(env))));
    out
}

/// The matrix cells and limit probes that changed.
fn samples(probes: &PolicyDiff) -> Vec<String> {
    let mut out = vec![
        String::new(),
        "### Role matrix and limit probes".to_owned(),
        String::new(),
    ];
    if probes.is_empty() {
        out.push("No matrix cell and no limit probe changed.".to_owned());
        return out;
    }
    let word = |answer: Option<YesNo>| match answer {
        Some(YesNo::Yes) => "yes",
        Some(YesNo::No) => "no",
        None => "missing",
    };
    if !probes.cells.is_empty() {
        out.push("| action | role | Team | OLD | NEW |".to_owned());
        out.push("|---|---|---|---|---|".to_owned());
        out.extend(probes.cells.iter().map(|c| {
            format!(
                "| {} | {} | {} | {} | {} |",
                code(&c.action),
                c.role.as_str(),
                c.context,
                word(c.expected),
                word(c.actual)
            )
        }));
        out.push(String::new());
    }
    if !probes.limits.is_empty() {
        let word = |allowed: bool| if allowed { "allowed" } else { "denied" };
        out.push("| limit probe | rule | OLD | NEW |".to_owned());
        out.push("|---|---|---|---|".to_owned());
        out.extend(probes.limits.iter().map(|l| {
            format!(
                "| {} | {} | {} | {} |",
                one_line(l.name),
                l.rule,
                word(l.old),
                word(l.new)
            )
        }));
    }
    out
}

/// `text` as a code span inside a table cell: a fence longer than any run of backticks in it,
/// `|` escaped (GitHub splits cells before it reads code spans), on one line.
fn code(text: &str) -> String {
    let text = one_line(text);
    let longest = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `text` on one line, `|` escaped for a table cell.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_backticks_pipes_and_newlines() {
        assert_eq!(code("invite"), "`invite`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a | b\nc"), "`a \\| b c`");
    }

    #[test]
    fn without_a_proof_the_verdict_is_never_proved() {
        let empty = PolicyDiff {
            cells: Vec::new(),
            limits: Vec::new(),
        };
        assert_eq!(Verdict::of(None, &empty), Verdict::NotProved);
        let proof = ProofDiff {
            envs: Vec::new(),
            removed: Vec::new(),
            added: Vec::new(),
        };
        assert_eq!(Verdict::of(Some(&proof), &empty), Verdict::Unchanged);
        let gone = ProofDiff {
            removed: vec!["leave (Member, Team)".into()],
            ..proof
        };
        assert_eq!(Verdict::of(Some(&gone), &empty), Verdict::NothingLoosened);
    }
}
