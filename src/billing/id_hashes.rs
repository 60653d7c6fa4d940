//! The hashes of a run's event ids, kept while the events stream past, to find the few ids that
//! may repeat: only events whose id hash occurs twice need DuckDB's exact comparison (B13).

use polars::prelude::UInt64Chunked;
use rayon::prelude::*;

/// Buckets by the hash's top bits: each sorts within the CPU cache.
const BUCKET_BITS: u32 = 10;

/// Id hashes, bucketed by their top bits.
#[derive(Debug)]
pub struct IdHashes {
    buckets: Vec<Vec<u64>>,
}

impl Default for IdHashes {
    fn default() -> Self {
        IdHashes {
            buckets: vec![Vec::new(); 1 << BUCKET_BITS],
        }
    }
}

impl IdHashes {
    /// Adds a column of hashes; nulls (events without an id) are left out.
    pub fn extend(&mut self, hashes: &UInt64Chunked) {
        for hash in hashes.iter().flatten() {
            self.buckets[bucket(hash)].push(hash);
        }
    }

    /// Every hash added more than once, ascending.
    pub fn seen_twice(self) -> Vec<u64> {
        self.buckets
            .into_par_iter()
            .flat_map_iter(|mut bucket| {
                bucket.sort_unstable();
                let mut twice: Vec<u64> = bucket
                    .windows(2)
                    .filter(|w| w[0] == w[1])
                    .map(|w| w[0])
                    .collect();
                twice.dedup();
                twice
            })
            .collect()
    }
}

fn bucket(hash: u64) -> usize {
    usize::try_from(hash >> (u64::BITS - BUCKET_BITS)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_hash_added_twice_once() {
        let mut hashes = IdHashes::default();
        let column = |values: &[Option<u64>]| values.iter().copied().collect::<UInt64Chunked>();
        hashes.extend(&column(&[Some(7), Some(u64::MAX), None, Some(7), None]));
        hashes.extend(&column(&[Some(7), Some(1), Some(u64::MAX), Some(2)]));
        assert_eq!(hashes.seen_twice(), vec![7, u64::MAX]);
    }
}
