//! A night across machines (B23): `billing plan` decides the days and cuts, for each of N
//! shards, a store holding only what the run of those days reads for the shard's Teams;
//! `billing shard` bills one cut with the code of `billing run` and writes what it committed;
//! `billing commit` checks that every shard of the plan is there and whole and that the counts
//! add up, then commits the days in one transaction. Teams are independent (a key, a seat, a
//! balance and a duplicate belong to one Team), so N shards bill what one run bills, byte for
//! byte. Everything passes through a stage: a directory or `s3://bucket/prefix`.

mod commit;
mod error;
mod plan;
mod shard;
mod stage;

pub use commit::{CommitOptions, commit};
pub use error::ShardError;
pub use plan::{PlanOptions, Planned, plan};
pub use shard::{ShardDone, shard};

/// A Team's bucket: FNV-1a, 64 bits, over the UTF-8 bytes of its id. Never changed between
/// versions: a Team's shard is its bucket modulo N.
pub fn bucket(team: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    team.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The shard, of `of`, that bills `team`.
pub fn shard_of(team: &str, of: u32) -> u32 {
    u32::try_from(bucket(team) % u64::from(of.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b23_the_bucket_is_fnv_1a_and_never_changes() {
        // FNV-1a's published test vectors.
        assert_eq!(bucket(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(bucket("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(bucket("foobar"), 0x8594_4171_f739_67e8);
        // Teams of the demo, pinned: a change here moves Teams between shards.
        assert_eq!(shard_of("acme", 7), (bucket("acme") % 7) as u32);
        assert_eq!(shard_of("anything", 1), 0);
    }
}
