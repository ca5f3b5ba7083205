//! Stratified, seeded train/validation/test splits and the JSON manifest that
//! lets a later run reuse exactly the same split (`--split FILE`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Fractions of each class that go to train, validation and test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitFractions {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

/// Indices into the item list for each part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitIndices {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits items per class so each part keeps the class proportions. Each class
/// is shuffled with a generator seeded from `seed`, so the split depends only
/// on the seed and the labels, not on the machine or the run.
pub fn stratified_split(labels: &[usize], fractions: SplitFractions, seed: u64) -> SplitIndices {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = SplitIndices::default();
    let total = fractions.train + fractions.val + fractions.test;
    for (_, mut members) in by_class {
        members.shuffle(&mut rng);
        let n = members.len();
        // Round validation and test, give train the rest; a class with at least
        // three items keeps at least one in each part.
        let mut n_val = ((fractions.val / total) * n as f64).round() as usize;
        let mut n_test = ((fractions.test / total) * n as f64).round() as usize;
        if n >= 3 {
            n_val = n_val.max(usize::from(fractions.val > 0.0));
            n_test = n_test.max(usize::from(fractions.test > 0.0));
        }
        let n_train = n.saturating_sub(n_val + n_test);
        let (train, rest) = members.split_at(n_train);
        let (val, test) = rest.split_at(n_val.min(rest.len()));
        out.train.extend_from_slice(train);
        out.val.extend_from_slice(val);
        out.test.extend_from_slice(test);
    }
    out.train.sort_unstable();
    out.val.sort_unstable();
    out.test.sort_unstable();
    out
}

/// Splits items by group (e.g. identity: every photo of one person on one
/// side), so a test never shows the model a group it trained on. Groups are
/// shuffled with `seed`, then whole groups fill validation and test up to
/// their fractions of the items; train takes the rest. With at least three
/// groups, each part with a non-zero fraction gets at least one.
pub fn group_split(groups: &[usize], fractions: SplitFractions, seed: u64) -> SplitIndices {
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &group) in groups.iter().enumerate() {
        by_group.entry(group).or_default().push(i);
    }
    let mut members: Vec<Vec<usize>> = by_group.into_values().collect();
    members.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let total = fractions.train + fractions.val + fractions.test;
    let target = |fraction: f64| ((fraction / total) * groups.len() as f64).round() as usize;
    let enough_groups = members.len() >= 3;
    let mut out = SplitIndices::default();
    let mut rest = members.into_iter().peekable();
    for (part, fraction) in [
        (&mut out.val, fractions.val),
        (&mut out.test, fractions.test),
    ] {
        let wanted = target(fraction);
        while rest.peek().is_some()
            && (part.len() < wanted || (part.is_empty() && fraction > 0.0 && enough_groups))
        {
            part.extend(rest.next().expect("peeked"));
        }
    }
    out.train.extend(rest.flatten());
    out.train.sort_unstable();
    out.val.sort_unstable();
    out.test.sort_unstable();
    out
}

/// One labelled item of a split manifest (a path relative to the data root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestItem {
    pub path: String,
    pub label: String,
}

/// A split written to disk: which file is in which part, with class counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitManifest {
    pub seed: u64,
    pub fractions: SplitFractions,
    pub classes: Vec<String>,
    pub train: Vec<ManifestItem>,
    pub val: Vec<ManifestItem>,
    pub test: Vec<ManifestItem>,
    /// part -> class -> count, for reading at a glance.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
}

impl SplitManifest {
    /// Builds a manifest from items (path, label index) and class names.
    pub fn new(
        items: &[(String, usize)],
        classes: &[String],
        fractions: SplitFractions,
        seed: u64,
    ) -> Self {
        let labels: Vec<usize> = items.iter().map(|(_, l)| *l).collect();
        let idx = stratified_split(&labels, fractions, seed);
        let part = |ids: &[usize]| -> Vec<ManifestItem> {
            ids.iter()
                .map(|&i| ManifestItem {
                    path: items[i].0.clone(),
                    label: classes[items[i].1].clone(),
                })
                .collect()
        };
        let mut manifest = Self {
            seed,
            fractions,
            classes: classes.to_vec(),
            train: part(&idx.train),
            val: part(&idx.val),
            test: part(&idx.test),
            counts: BTreeMap::new(),
        };
        for (name, items) in [
            ("train", &manifest.train),
            ("val", &manifest.val),
            ("test", &manifest.test),
        ] {
            let mut counts: BTreeMap<String, usize> =
                classes.iter().map(|c| (c.clone(), 0)).collect();
            for item in items {
                *counts.entry(item.label.clone()).or_default() += 1;
            }
            manifest.counts.insert(name.to_string(), counts);
        }
        manifest
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsx::write_json(path, self)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let manifest: Self = crate::fsx::read_json(path)?;
        if manifest.train.is_empty() {
            bail!("split manifest {} has no training items", path.display());
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_split_keeps_every_group_on_one_side() {
        // 20 people with 1-9 photos each.
        let groups: Vec<usize> = (0..20).flat_map(|g| vec![g; 1 + g % 9]).collect();
        let split = group_split(&groups, SplitFractions::default(), 7);
        let side = |ids: &[usize]| -> std::collections::BTreeSet<usize> {
            ids.iter().map(|&i| groups[i]).collect()
        };
        let (train, val, test) = (side(&split.train), side(&split.val), side(&split.test));
        assert!(train.is_disjoint(&val) && train.is_disjoint(&test) && val.is_disjoint(&test));
        assert_eq!(
            split.train.len() + split.val.len() + split.test.len(),
            groups.len()
        );
        assert!(!val.is_empty() && !test.is_empty());
        // Whole groups overshoot the fractions by less than one group (≤ 9 photos).
        let tenth = groups.len() / 10;
        assert!(
            split.val.len() >= tenth && split.val.len() < tenth + 9,
            "{split:?}"
        );
        assert_eq!(split, group_split(&groups, SplitFractions::default(), 7));
        assert_ne!(split, group_split(&groups, SplitFractions::default(), 8));
    }

    fn labels(counts: &[usize]) -> Vec<usize> {
        counts
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
            .collect()
    }

    #[test]
    fn split_keeps_class_proportions() {
        let labels = labels(&[300, 100]);
        let s = stratified_split(&labels, SplitFractions::default(), 7);
        let count = |ids: &[usize], c| ids.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!(
            (count(&s.train, 0), count(&s.val, 0), count(&s.test, 0)),
            (240, 30, 30)
        );
        assert_eq!(
            (count(&s.train, 1), count(&s.val, 1), count(&s.test, 1)),
            (80, 10, 10)
        );
        // Every item is in exactly one part.
        let mut all: Vec<usize> = [s.train.clone(), s.val.clone(), s.test.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<_>>());
    }

    #[test]
    fn split_is_deterministic_in_the_seed() {
        let labels = labels(&[50, 50, 20]);
        let a = stratified_split(&labels, SplitFractions::default(), 1);
        assert_eq!(a, stratified_split(&labels, SplitFractions::default(), 1));
        assert_ne!(a, stratified_split(&labels, SplitFractions::default(), 2));
    }

    #[test]
    fn tiny_classes_still_reach_every_part() {
        let s = stratified_split(&labels(&[3, 40]), SplitFractions::default(), 0);
        for part in [&s.train, &s.val, &s.test] {
            assert!(
                part.iter().any(|&i| i < 3),
                "class 0 missing from a part: {s:?}"
            );
        }
    }

    #[test]
    fn manifest_round_trips_with_counts() {
        let classes = vec!["day".to_string(), "night".to_string()];
        let items: Vec<(String, usize)> = (0..20).map(|i| (format!("f{i}.png"), i % 2)).collect();
        let m = SplitManifest::new(&items, &classes, SplitFractions::default(), 3);
        assert_eq!(
            m.counts["train"]["day"] + m.counts["val"]["day"] + m.counts["test"]["day"],
            10
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("split.json");
        m.save(&path).unwrap();
        assert_eq!(SplitManifest::load(&path).unwrap(), m);
    }
}
