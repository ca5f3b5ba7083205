//! Seeded random streams. Every random draw of a run derives from its one
//! `seed` and the names of what is drawn (an epoch, an image index, a purpose),
//! so any part can be redrawn alone (a resumed epoch, the 500th generated
//! image, the 3rd clip of step 12) and gives exactly what a full run draws.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seed of every command unless the user gives another.
pub const DEFAULT: u64 = 42;

/// The random stream of `seed` for the sub-stream named by `path`.
///
/// Each element is mixed in with SplitMix64's finaliser, so neighbouring
/// paths (`[epoch, 1]`, `[epoch, 2]`) and seeds give unrelated streams, and the
/// order of the elements matters.
pub fn stream(seed: u64, path: &[u64]) -> ChaCha8Rng {
    let state = path
        .iter()
        .fold(mix(seed), |state, &part| mix(state ^ mix(part)));
    ChaCha8Rng::seed_from_u64(state)
}

/// Names of sub-streams used by more than one index, so purposes never collide.
pub mod purpose {
    /// Statistics fitted before training (e.g. feature standardisation).
    pub const FIT: u64 = 0x4649_5400;
    /// Fixed validation data of a run.
    pub const VALIDATION: u64 = 0x5641_4C00;
    /// Training batches (with the step or epoch).
    pub const TRAIN: u64 = 0x5452_4E00;
    /// Data augmentation of training batches.
    pub const AUGMENT: u64 = 0x4155_4700;
    /// Items generated for a dataset.
    pub const GENERATE: u64 = 0x4745_4E00;
    /// Questions of a human-baseline page.
    pub const HUMAN_PAGE: u64 = 0x4855_4D00;
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn first(seed: u64, path: &[u64]) -> u64 {
        stream(seed, path).gen()
    }

    #[test]
    fn streams_repeat_and_differ_by_seed_path_and_order() {
        assert_eq!(first(42, &[1, 2]), first(42, &[1, 2]));
        let draws = [
            first(42, &[1, 2]),
            first(42, &[2, 1]),
            first(43, &[1, 2]),
            first(42, &[1, 3]),
            first(42, &[1]),
            first(42, &[]),
            first(0, &[]),
        ];
        for (i, a) in draws.iter().enumerate() {
            for b in &draws[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
