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

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use casebook_core::model_file::{ModelFile, ModelFileError};
use serde::{Deserialize, Serialize};

use crate::model::encoder::FaceEncoder;

pub const TASK: &str = "face-gallery";
/// The gallery layout this build writes and reads.
pub const GALLERY_FORMAT: u32 = 1;
const VECTORS: &str = "vectors";
const ENTRIES: &str = "entries";

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
}

/// One enrolled vector: whose it is and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub person: usize,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gallery {
    pub encoder: EncoderIdentity,
    pub people: Vec<String>,
    pub entries: Vec<Entry>,
    vectors: Vec<f32>,
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
        Self {
            encoder: encoder.identity(),
            people: Vec::new(),
            entries: Vec::new(),
            vectors: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
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
        let person = match self.people.iter().position(|p| p == name) {
            Some(i) => i,
            None => {
                self.people.push(name.to_string());
                self.people.len() - 1
            }
        };
        self.entries.push(Entry {
            person,
            source: source.to_string(),
        });
        self.vectors.extend_from_slice(vector);
        Ok(())
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        let d = self.encoder.dimension;
        &self.vectors[i * d..(i + 1) * d]
    }

    /// Exact nearest-neighbour search over every enrolled vector.
    pub fn identify(&self, query: &[f32], threshold: f32) -> Identification {
        // Best distance per person.
        let mut best = vec![f32::INFINITY; self.people.len()];
        for (i, entry) in self.entries.iter().enumerate() {
            let d = squared_distance(query, self.vector(i));
            if d < best[entry.person] {
                best[entry.person] = d;
            }
        }
        let mut order: Vec<usize> = (0..best.len()).filter(|&p| best[p].is_finite()).collect();
        order.sort_by(|&a, &b| best[a].total_cmp(&best[b]));
        let candidate = |p: usize| Candidate {
            name: self.people[p].clone(),
            distance: best[p].sqrt(),
        };
        let nearest = order.first().map(|&p| candidate(p));
        Identification {
            person: nearest
                .as_ref()
                .filter(|c| c.distance <= threshold)
                .map(|c| c.name.clone()),
            nearest,
            runner_up: order.get(1).map(|&p| candidate(p)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let header = GalleryHeader {
            gallery_format: GALLERY_FORMAT,
            encoder: self.encoder.clone(),
        };
        let vectors = self.vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        ModelFile::new(
            TASK,
            self.people.clone(),
            &serde_json::json!({}),
            &header,
            serde_json::json!({}),
        )?
        .with_section(VECTORS, vectors)
        .with_section(ENTRIES, serde_json::to_vec(&self.entries)?)
        .save(path)
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
        let vectors: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if vectors.iter().any(|v| !v.is_finite()) {
            return Err(damaged("a vector is not finite"));
        }
        Ok(Self {
            encoder: header.encoder,
            people,
            entries,
            vectors,
        })
    }
}

pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
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
        let mut g = Gallery {
            encoder,
            people: Vec::new(),
            entries: Vec::new(),
            vectors: Vec::new(),
        };
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
        let g = gallery();
        g.save(&path).unwrap();
        assert_eq!(Gallery::load(&path).unwrap(), g);
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

    #[test]
    fn wrong_sizes_and_empty_names_are_refused() {
        let mut g = gallery();
        assert!(g.enroll("ada", &[0.0, 0.0, 0.0], "x").is_err());
        assert!(g.enroll("  ", &[0.0, 0.0], "x").is_err());
    }
}
