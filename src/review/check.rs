//! `policy diff`'s samples: the matrix cells and limit probes two policy sets decide
//! differently.

use gatekeeper::Gatekeeper;
use gatekeeper::matrix::{CellDifference, RoleMatrix, YesNo};
use gatekeeper::probes::limit_probes;

/// A limit probe whose decision differs between two policy sets.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeChange {
    /// What the probe asks.
    pub name: &'static str,
    /// The rule it tests.
    pub rule: &'static str,
    /// Allowed under the old policies.
    pub old: bool,
    /// Allowed under the new policies.
    pub new: bool,
}

/// What changed between two policy sets.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyDiff {
    /// Matrix cells, old → new.
    pub cells: Vec<CellDifference>,
    /// Limit boundaries, old → new.
    pub limits: Vec<ProbeChange>,
}

impl PolicyDiff {
    /// Compares the decisions of `old` and `new`.
    pub fn between(old: &Gatekeeper, new: &Gatekeeper) -> PolicyDiff {
        let cells = RoleMatrix::evaluate(old).differences(&RoleMatrix::evaluate(new));
        let limits = limit_probes()
            .into_iter()
            .filter_map(|probe| {
                let before = old.decide(&probe.request).is_allowed();
                let after = new.decide(&probe.request).is_allowed();
                (before != after).then_some(ProbeChange {
                    name: probe.name,
                    rule: probe.rule,
                    old: before,
                    new: after,
                })
            })
            .collect();
        PolicyDiff { cells, limits }
    }

    /// Whether any sampled decision changed.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.limits.is_empty()
    }

    /// Whether any decision went from deny to allow.
    pub fn loosens(&self) -> bool {
        self.cells
            .iter()
            .any(|c| c.actual == Some(YesNo::Yes) && c.expected != Some(YesNo::Yes))
            || self.limits.iter().any(|l| l.new && !l.old)
    }

    /// One line per change, or one saying that none changed.
    pub fn render(&self) -> String {
        let word = |allowed: bool| if allowed { "allowed" } else { "denied" };
        let mut lines: Vec<String> = self.cells.iter().map(|c| format!("matrix  {c}")).collect();
        lines.extend(self.limits.iter().map(|l| {
            format!(
                "limit   {} ({}): {} → {}",
                l.name,
                l.rule,
                word(l.old),
                word(l.new)
            )
        }));
        if lines.is_empty() {
            "matrix  no cell and no limit probe changed".to_owned()
        } else {
            lines.join("\n")
        }
    }
}
