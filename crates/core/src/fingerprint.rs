//! Fingerprints of files' contents: what a model remembers of the data it
//! was trained on, so that an evaluation on those same files (under any
//! name, in any folder) can be told apart from one on new data.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// The first 8 bytes of the contents' SHA-256: one collision in ~10¹⁹
/// pairs, at 8 bytes a file in a model file.
pub fn of_bytes(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_le_bytes(digest[..8].try_into().expect("a SHA-256 is 32 bytes"))
}

/// A set of fingerprints, stored as little-endian `u64`s in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints(BTreeSet<u64>);

impl Fingerprints {
    pub fn insert(&mut self, fingerprint: u64) {
        self.0.insert(fingerprint);
    }

    pub fn contains(&self, fingerprint: u64) -> bool {
        self.0.contains(&fingerprint)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    /// The set [`Self::to_bytes`] wrote; `None` for bytes it could not
    /// have written (a length not a multiple of 8, or out of order).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(8) {
            return None;
        }
        let values: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        values
            .windows(2)
            .all(|w| w[0] < w[1])
            .then(|| Self(values.into_iter().collect()))
    }
}

impl FromIterator<u64> for Fingerprints {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_contents_apart_and_round_trip() {
        // SHA-256("abc") starts ba 78 16 bf 8f 01 cf ea (FIPS 180-2's example).
        assert_eq!(
            of_bytes(b"abc"),
            u64::from_le_bytes([0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea])
        );
        assert_ne!(of_bytes(b"abc"), of_bytes(b"abd"));
        let set: Fingerprints = [of_bytes(b"b"), of_bytes(b"a"), of_bytes(b"a")]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 2);
        let back = Fingerprints::from_bytes(&set.to_bytes()).unwrap();
        assert_eq!(back, set);
        assert!(back.contains(of_bytes(b"a")) && !back.contains(of_bytes(b"c")));
        assert!(Fingerprints::from_bytes(&[1, 2, 3]).is_none());
        let mut reversed = set.to_bytes();
        reversed.rotate_left(8);
        assert!(Fingerprints::from_bytes(&reversed).is_none());
    }
}
