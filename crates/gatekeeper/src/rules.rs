//! The rule ids of `spec/rules.md`, which every policy names in `@rule`.

/// Every rule id, in the order of the rules document.
pub const RULE_IDS: &[&str] = &[
    "T1", "T2", "T3", "T4", "T5", "T6", "T7", "K1", "K2", "K3", "S1", "S2", "S3", "S4", "C1", "C2",
    "C3", "C4", "C5", "P1", "P2", "P3", "P4", "P5", "M1", "M2", "V1", "V2", "V3", "O1", "O2", "O3",
    "O4", "D1", "D2", "D3", "D4", "D5", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9",
    "B10", "B11", "B12", "B13", "B14", "B15", "B16", "B17", "B18", "B19", "B20", "B21", "B22",
    "B23", "B24", "B25",
];

/// Whether `id` names a rule of the rules document.
pub fn is_known(id: &str) -> bool {
    RULE_IDS.contains(&id)
}
