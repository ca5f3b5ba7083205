//! A gallery of enrolled people: their face vectors, names, the images they
//! came from, and the identity of the encoder that made them, so a gallery
//! built with one encoder refuses another (their vectors live in different
//! spaces; comparing them gives confident nonsense).
//!
//! Stored in the casebook file container (`casebook_core::model_file`:
//! magic, format version, JSON header, checksummed sections) with task
//! `face-gallery`: the header's `classes` are the people, its `architecture`
//! the [`GalleryHeader`], section `vectors` the f32 vectors (little-endian,
//! row-major) and section `entries` a JSON list saying whose each row is.
//! A gallery of [`INDEX_FROM`] vectors or more also stores an HNSW graph
//! (section `index`, see [`index`]) and is searched through it.

pub mod index;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use casebook_core::model_file::{ModelFile, ModelFileError};
use serde::{Deserialize, Serialize};

use crate::model::encoder::FaceEncoder;
use index::Index;

pub const TASK: &str = "face-gallery";
/// The gallery layout this build writes and reads.
pub const GALLERY_FORMAT: u32 = 1;
const VECTORS: &str = "vectors";
const ENTRIES: &str = "entries";
const INDEX: &str = "index";

/// Galleries this large are saved with an HNSW index and searched through
/// it: below, exact search takes under a millisecond per query.
pub const INDEX_FROM: usize = 10_000;
/// Seed of the graph's layer assignment (insertion runs in parallel, so two
/// builds may still link a few nodes differently).
const INDEX_SEED: u64 = 0x6361_7365;

/// Which encoder made a gallery's vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderIdentity {
    /// SHA-256 (hex, first 16 digits) of the encoder's weights.
    pub id: String,
    /// Length of its vectors.
    pub dimension: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryHeader {
    pub gallery_format: u32,
    pub encoder: EncoderIdentity,
    /// Present when the file has an `index` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexSettings>,
}

/// How the stored HNSW graph was built (for the record; search reads the
/// graph itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSettings {
    pub method: String,
    pub ef_construction: usize,
    pub ef_search: usize,
}

/// One enrolled vector: whose it is and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub person: usize,
    pub source: String,
}

#[derive(Debug)]
pub struct Gallery {
    pub encoder: EncoderIdentity,
    people: Vec<String>,
    /// Name → index in `people` (a linear search per enrolment would make
    /// enrolling n people cost n²).
    person_of: HashMap<String, usize>,
    /// Whose each row is; rows are in the index's order once indexed.
    pub entries: Vec<Entry>,
    /// The rows, row-major.
    vectors: Vec<f32>,
    /// The graph over the rows, once the gallery is large; dropped when a
    /// row is added and rebuilt at save.
    index: Option<Index>,
}

/// A person and how far the query is from their nearest enrolled vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub name: String,
    pub distance: f32,
}

/// The answer to "who is this?": the nearest person if within the
/// threshold (else `None`, i.e. unknown), the nearest person regardless,
/// and the nearest other person (how clear-cut the answer is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identification {
    pub person: Option<String>,
    pub nearest: Option<Candidate>,
    pub runner_up: Option<Candidate>,
}

impl Gallery {
    pub fn new(encoder: &FaceEncoder) -> Self {
        Self::with_identity(encoder.identity())
    }

    /// An empty gallery for the vectors of the encoder with this identity.
    pub fn with_identity(encoder: EncoderIdentity) -> Self {
        Self {
            encoder,
            people: Vec::new(),
            person_of: HashMap::new(),
            entries: Vec::new(),
            vectors: Vec::new(),
            index: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The enrolled people's names.
    pub fn people(&self) -> &[String] {
        &self.people
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Refuses an encoder other than the one that made the gallery.
    pub fn check_encoder(&self, encoder: &FaceEncoder) -> Result<()> {
        let theirs = encoder.identity();
        ensure!(
            theirs == self.encoder,
            "the gallery was built with encoder {} ({}-d), not this one ({}, {}-d); re-enroll with this encoder or pass the gallery's --model",
            self.encoder.id,
            self.encoder.dimension,
            theirs.id,
            theirs.dimension
        );
        Ok(())
    }

    /// Adds one vector of `name` (who is created if new).
    pub fn enroll(&mut self, name: &str, vector: &[f32], source: &str) -> Result<()> {
        ensure!(!name.trim().is_empty(), "a person's name cannot be empty");
        ensure!(
            vector.len() == self.encoder.dimension,
            "a {}-d vector for a {}-d gallery",
            vector.len(),
            self.encoder.dimension
        );
        let person = match self.person_of.get(name) {
            Some(&i) => i,
            None => {
                self.people.push(name.to_string());
                self.person_of
                    .insert(name.to_string(), self.people.len() - 1);
                self.people.len() - 1
            }
        };
        self.entries.push(Entry {
            person,
            source: source.to_string(),
        });
        self.vectors.extend_from_slice(vector);
        self.index = None;
        Ok(())
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        let d = self.encoder.dimension;
        &self.vectors[i * d..(i + 1) * d]
    }

    /// The index's search breadth (see [`Index::set_search_breadth`]);
    /// `None` when the gallery is not indexed.
    pub fn search_breadth(&self) -> Option<usize> {
        self.index.as_ref().map(Index::search_breadth)
    }

    /// Sets the index's search breadth; saved with the gallery, and back to
    /// the default when an enrolment rebuilds the index.
    pub fn set_search_breadth(&mut self, ef: usize) -> Result<()> {
        match &mut self.index {
            Some(index) => index.set_search_breadth(ef),
            None => bail!(
                "the gallery has no index ({} vectors; indexed from {INDEX_FROM})",
                self.len()
            ),
        }
    }

    pub fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    /// Builds the HNSW index if the gallery has reached [`INDEX_FROM`] rows
    /// and has none; reorders the rows into the index's order.
    pub fn index_if_large(&mut self) {
        let d = self.encoder.dimension;
        if self.is_indexed() || self.len() < INDEX_FROM || !Index::fits(d) {
            return;
        }
        let (index, order) = Index::build(&self.vectors, d, INDEX_SEED);
        let mut entries = vec![None; self.entries.len()];
        let mut vectors = vec![0.0; self.vectors.len()];
        for (i, (entry, &at)) in self.entries.drain(..).zip(&order).enumerate() {
            entries[at] = Some(entry);
            vectors[at * d..(at + 1) * d].copy_from_slice(&self.vectors[i * d..(i + 1) * d]);
        }
        self.entries = entries
            .into_iter()
            .map(|e| e.expect("the index order is a permutation"))
            .collect();
        self.vectors = vectors;
        self.index = Some(index);
    }

    /// Nearest enrolled person (within `threshold`, else unknown) and the
    /// runner-up: through the index when there is one, else exactly.
    ///
    /// An index can miss (a person unlike all others may have no links
    /// leading to them), so when it finds no one within the threshold the
    /// answer is checked by exact search: "unknown" is always exact, and a
    /// name is always someone within the threshold (the nearest such person
    /// with the probability the benchmark reports as recall@1).
    pub fn identify(&self, query: &[f32], threshold: f32) -> Identification {
        if let Some(index) = &self.index {
            // The graph ranks by code distance; re-rank its candidates exactly.
            let mut rows: Vec<(usize, f32)> = index
                .search(query)
                .into_iter()
                .map(|row| (row, squared_distance(query, self.vector(row))))
                .collect();
            rows.sort_by(|a, b| a.1.total_cmp(&b.1));
            let found = self.first_two_people(rows.into_iter());
            let answer = self.identification(&found, threshold);
            if answer.person.is_some() {
                return answer;
            }
        }
        self.identify_exact(query, threshold)
    }

    /// Exact search over every enrolled vector, whether indexed or not.
    pub fn identify_exact(&self, query: &[f32], threshold: f32) -> Identification {
        self.identification(&self.nearest_people_exact(query), threshold)
    }

    /// Every person with their nearest squared distance, nearest first.
    fn nearest_people_exact(&self, query: &[f32]) -> Vec<(usize, f32)> {
        let mut best = vec![f32::INFINITY; self.people.len()];
        for (i, entry) in self.entries.iter().enumerate() {
            let d = squared_distance(query, self.vector(i));
            if d < best[entry.person] {
                best[entry.person] = d;
            }
        }
        let mut people: Vec<(usize, f32)> = best
            .into_iter()
            .enumerate()
            .filter(|(_, d)| d.is_finite())
            .collect();
        people.sort_by(|a, b| a.1.total_cmp(&b.1));
        people
    }

    /// The first two people among rows given nearest first.
    fn first_two_people(&self, rows: impl Iterator<Item = (usize, f32)>) -> Vec<(usize, f32)> {
        let mut people: Vec<(usize, f32)> = Vec::with_capacity(2);
        for (row, d) in rows {
            let person = self.entries[row].person;
            if people.iter().all(|&(p, _)| p != person) {
                people.push((person, d));
                if people.len() == 2 {
                    break;
                }
            }
        }
        people
    }

    fn identification(&self, people: &[(usize, f32)], threshold: f32) -> Identification {
        let candidate = |&(p, d): &(usize, f32)| Candidate {
            name: self.people[p].clone(),
            distance: d.sqrt(),
        };
        let nearest = people.first().map(candidate);
        Identification {
            person: nearest
                .as_ref()
                .filter(|c| c.distance <= threshold)
                .map(|c| c.name.clone()),
            nearest,
            runner_up: people.get(1).map(candidate),
        }
    }

    /// Writes the gallery (atomically), indexing it first if it has grown
    /// past [`INDEX_FROM`].
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.index_if_large();
        let header = GalleryHeader {
            gallery_format: GALLERY_FORMAT,
            encoder: self.encoder.clone(),
            index: self.index.as_ref().map(|index| IndexSettings {
                method: "hnsw (instant-distance 0.6.1, simple neighbour selection) over 8-bit codes, exact re-ranking".into(),
                ef_construction: index::EF_CONSTRUCTION,
                ef_search: index.search_breadth(),
            }),
        };
        let vectors = self.vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut file = ModelFile::new(
            TASK,
            self.people.clone(),
            &serde_json::json!({}),
            &header,
            serde_json::json!({}),
        )?
        .with_section(VECTORS, vectors)
        .with_section(ENTRIES, serde_json::to_vec(&self.entries)?);
        if let Some(index) = &self.index {
            file = file.with_section(INDEX, index.graph_bytes()?);
        }
        file.save(path)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let file = ModelFile::load(path).map_err(|e| match e {
            ModelFileError::NotCasebook { .. } => {
                anyhow::anyhow!("{} is not a casebook gallery", path.display())
            }
            other => other.into(),
        })?;
        ensure!(
            file.meta.task == TASK,
            "{} is a '{}' file, not a face gallery",
            path.display(),
            file.meta.task
        );
        let header: GalleryHeader = file.architecture(path)?;
        if header.gallery_format > GALLERY_FORMAT {
            bail!("{} is gallery format {}, newer than this casebook reads ({GALLERY_FORMAT}); upgrade casebook", path.display(), header.gallery_format);
        }
        let damaged = |what: &str| {
            anyhow::anyhow!(
                "{} is damaged ({what}); enroll the people again",
                path.display()
            )
        };
        let entries: Vec<Entry> = serde_json::from_slice(file.section(ENTRIES, path)?)
            .context(damaged("unreadable entries"))?;
        let bytes = file.section(VECTORS, path)?;
        let d = header.encoder.dimension;
        if d == 0 || d > 65536 || bytes.len() != entries.len() * d * 4 {
            return Err(damaged("vectors do not match the entries"));
        }
        let people = file.meta.classes.clone();
        if entries.iter().any(|e| e.person >= people.len()) {
            return Err(damaged("an entry names no enrolled person"));
        }
        let person_of: HashMap<String, usize> = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        if person_of.len() != people.len() {
            return Err(damaged("a person is listed twice"));
        }
        let vectors: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if vectors.iter().any(|v| !v.is_finite()) {
            return Err(damaged("a vector is not finite"));
        }
        let index = match header.index {
            None => None,
            Some(_) => Some(
                Index::from_graph_bytes(file.section(INDEX, path)?, &vectors, d)
                    .map_err(|e| damaged(&format!("{e:#}")))?,
            ),
        };
        Ok(Self {
            encoder: header.encoder,
            people,
            person_of,
            entries,
            vectors,
            index,
        })
    }
}

/// Squared Euclidean distance: the inner loop of exact search, of
/// re-ranking and of every gallery command.
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked on the line above).
        return unsafe { squared_distance_avx2(a, b) };
    }
    squared_distance_portable(a, b)
}

/// The same loop compiled for AVX2 (twice the lanes of the SSE2 baseline
/// that x86-64 builds target). Without FMA, so both builds add in the same
/// order and give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn squared_distance_avx2(a: &[f32], b: &[f32]) -> f32 {
    squared_distance_portable(a, b)
}

#[inline(always)]
fn squared_distance_portable(a: &[f32], b: &[f32]) -> f32 {
    // Eight running sums, so the compiler can keep them in one SIMD register
    // (one sum is a chain of dependent adds that it may not reorder).
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            sums[i] += d * d;
        }
    }
    sums.iter().sum::<f32>() + tail
}

pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    squared_distance(a, b).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Gallery {
        let encoder = EncoderIdentity {
            id: "0123456789abcdef".into(),
            dimension: 2,
        };
        let mut g = Gallery::with_identity(encoder);
        g.enroll("ada", &[0.0, 0.0], "ada1.jpg").unwrap();
        g.enroll("ada", &[0.1, 0.0], "ada2.jpg").unwrap();
        g.enroll("grace", &[1.0, 0.0], "grace.jpg").unwrap();
        g
    }

    #[test]
    fn nearest_person_within_the_threshold_else_unknown() {
        let g = gallery();
        let near_ada = g.identify(&[0.12, 0.0], 0.6);
        assert_eq!(near_ada.person.as_deref(), Some("ada"));
        assert!((near_ada.nearest.unwrap().distance - 0.02).abs() < 1e-6);
        let runner_up = near_ada.runner_up.unwrap();
        assert_eq!(runner_up.name, "grace");
        assert!((runner_up.distance - 0.88).abs() < 1e-6);
        let stranger = g.identify(&[0.5, 3.0], 0.6);
        assert_eq!(stranger.person, None);
        assert_eq!(stranger.nearest.unwrap().name, "ada");
    }

    #[test]
    fn round_trip_and_damage_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("people.gallery");
        let mut g = gallery();
        g.save(&path).unwrap();
        assert_same(&Gallery::load(&path).unwrap(), &g);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Gallery::load(&path).is_err());
        std::fs::write(&path, b"not a gallery").unwrap();
        assert!(Gallery::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a casebook gallery"));
    }

    fn assert_same(a: &Gallery, b: &Gallery) {
        assert_eq!(a.encoder, b.encoder);
        assert_eq!(a.people, b.people);
        assert_eq!(a.entries, b.entries);
        assert_eq!(a.is_indexed(), b.is_indexed());
        for i in 0..a.len() {
            assert_eq!(a.vector(i), b.vector(i));
        }
    }

    /// `people` people with `per_person` vectors each, spread around a
    /// centre per person as face vectors are.
    fn large_gallery(people: usize, per_person: usize) -> Gallery {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let d = 16;
        let mut g = Gallery::with_identity(EncoderIdentity {
            id: "0123456789abcdef".into(),
            dimension: d,
        });
        for p in 0..people {
            let centre: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for k in 0..per_person {
                let v: Vec<f32> = centre
                    .iter()
                    .map(|c| c + rng.gen_range(-0.05..0.05))
                    .collect();
                g.enroll(&format!("p{p}"), &v, &format!("p{p}_{k}.jpg"))
                    .unwrap();
            }
        }
        g
    }

    #[test]
    fn large_galleries_are_indexed_at_save_and_agree_with_exact_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.gallery");
        let mut g = large_gallery(INDEX_FROM / 4, 4);
        let queries: Vec<Vec<f32>> = (0..50)
            .map(|i| g.vector(i * 97).iter().map(|v| v + 0.01).collect())
            .collect();
        let before: Vec<Identification> = queries.iter().map(|q| g.identify(q, 0.5)).collect();
        assert!(!g.is_indexed());
        g.save(&path).unwrap();
        assert!(g.is_indexed());
        let loaded = Gallery::load(&path).unwrap();
        assert_same(&loaded, &g);
        let agree = queries
            .iter()
            .zip(&before)
            .filter(|(q, exact)| loaded.identify(q, 0.5).person == exact.person)
            .count();
        assert!(agree >= 49, "index agrees with exact search on {agree}/50");
        for q in &queries {
            assert_eq!(
                loaded.identify_exact(q, 0.5).person,
                g.identify_exact(q, 0.5).person
            );
        }
        // Enrolling unpacks the index; the next save rebuilds it.
        let mut more = loaded;
        more.enroll("newcomer", &[0.0; 16], "new.jpg").unwrap();
        assert!(!more.is_indexed());
        assert_eq!(
            more.identify(&[0.001; 16], 0.5).person.as_deref(),
            Some("newcomer")
        );
        more.save(&path).unwrap();
        let again = Gallery::load(&path).unwrap();
        assert_eq!(again.len(), INDEX_FROM + 1);
        // The newcomer is far from everyone, so the graph often has no link
        // to them; the exact check behind an "unknown" still finds them.
        assert_eq!(
            again.identify(&[0.001; 16], 0.5).person.as_deref(),
            Some("newcomer")
        );
    }

    #[test]
    fn squared_distance_adds_every_component() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| (i * i) as f32 / 10.0).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((squared_distance(&a, &b) - plain).abs() <= plain * 1e-6);
        assert_eq!(squared_distance(&a, &b), squared_distance_portable(&a, &b));
        assert_eq!(squared_distance(&[3.0], &[1.0]), 4.0);
    }

    #[test]
    fn wrong_sizes_and_empty_names_are_refused() {
        let mut g = gallery();
        assert!(g.enroll("ada", &[0.0, 0.0, 0.0], "x").is_err());
        assert!(g.enroll("  ", &[0.0, 0.0], "x").is_err());
    }
}
