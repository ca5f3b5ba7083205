//! Identification over large galleries: the HNSW index against exact search.
//!
//! For each size (default 10^4, 10^5, 10^6; or `GALLERY_SIZES=10000,100000`)
//! it enrolls that many people, one 128-d vector each, saves the gallery
//! (which builds the index), loads it back, and asks `GALLERY_QUERIES`
//! (default 1000) queries: a new photo of an enrolled person, i.e. their
//! vector plus fresh noise. It prints build, save and load times, the file
//! size, the median and 99th-percentile query latency through the index and
//! exactly, and recall@1: how often the index's nearest vector is the exact
//! nearest one; for each search breadth in `GALLERY_EF` (default the
//! built-in one, e.g. `GALLERY_EF=128,256,512`). Run with `cargo bench -p casebook-faces --bench gallery_index`.
//!
//! The vectors mimic dlib's: a centre per person, centres about 1.0 apart and
//! two photos of one person about 0.4 apart. Real face vectors vary along far
//! fewer directions than their 128 (PCA of dlib's vectors puts most of the
//! variance in a few dozen), so by default the centres lie in a random
//! 32-dimensional subspace and the photo noise is in all 128;
//! `GALLERY_DATA=isotropic` spreads the centres in all 128 dimensions, the
//! hardest case for a graph index.

use std::time::Instant;

use casebook_faces::gallery::{EncoderIdentity, Gallery};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

const DIMENSION: usize = 128;
/// Per-component spread of the centres: ‖c1 − c2‖ ≈ √(2·128)·σ ≈ 1.0.
const CENTRE_SIGMA: f32 = 0.0625;
/// Dimensions the centres vary along by default.
const LATENT: usize = 32;
/// Per-component noise of a photo: two photos ≈ √(2·128)·σ ≈ 0.4 apart.
const PHOTO_SIGMA: f32 = 0.025;

/// A comma-separated list of numbers from the environment, or `default`.
fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .map(|s| {
            s.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: numbers"))
                })
                .collect()
        })
        .unwrap_or_else(|_| default.to_vec())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    casebook_core::memory::reuse_freed_memory();
    let queries: usize = std::env::var("GALLERY_QUERIES")
        .map(|q| q.parse().unwrap())
        .unwrap_or(1000);
    let breadths = env_list("GALLERY_EF", &[casebook_faces::gallery::index::EF_SEARCH]);
    let isotropic = std::env::var("GALLERY_DATA").is_ok_and(|d| d == "isotropic");
    println!(
        "centres {}; {queries} queries per size",
        if isotropic {
            "isotropic in 128-d"
        } else {
            "in a 32-d subspace of 128-d"
        }
    );
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:>9} {:>8} {:>8} {:>8} {:>8} {:>5} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "vectors",
        "build_s",
        "save_s",
        "load_s",
        "file_MB",
        "ef",
        "hnsw_p50",
        "hnsw_p99",
        "exact_p50",
        "exact_p99",
        "recall@1"
    );
    for n in env_list("GALLERY_SIZES", &[10_000, 100_000, 1_000_000]) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
        let photo = Normal::new(0.0, PHOTO_SIGMA).unwrap();
        let centres = if isotropic {
            let centre = Normal::new(0.0, CENTRE_SIGMA).unwrap();
            (0..n)
                .map(|_| (0..DIMENSION).map(|_| centre.sample(&mut rng)).collect())
                .collect()
        } else {
            // centre = W z, z ~ N(0, I_32): E‖W(z1 − z2)‖² = 2·32·128·σ_W² = 1.
            let weight =
                Normal::new(0.0, 1.0 / (2.0 * LATENT as f32 * DIMENSION as f32).sqrt()).unwrap();
            let w: Vec<f32> = (0..DIMENSION * LATENT)
                .map(|_| weight.sample(&mut rng))
                .collect();
            (0..n)
                .map(|_| {
                    let z: Vec<f32> = (0..LATENT)
                        .map(|_| rng.sample(rand_distr::StandardNormal))
                        .collect();
                    w.chunks(LATENT)
                        .map(|row| row.iter().zip(&z).map(|(a, b)| a * b).sum())
                        .collect()
                })
                .collect::<Vec<Vec<f32>>>()
        };
        let mut gallery = Gallery::with_identity(EncoderIdentity {
            id: "benchmark".into(),
            dimension: DIMENSION,
        });
        for (i, c) in centres.iter().enumerate() {
            let v: Vec<f32> = c.iter().map(|x| x + photo.sample(&mut rng)).collect();
            gallery
                .enroll(&format!("person{i}"), &v, "synthetic")
                .unwrap();
        }
        let path = dir.path().join(format!("g{n}.gallery"));
        let t = Instant::now();
        gallery.index_if_large();
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        gallery.save(&path).unwrap();
        let save = t.elapsed().as_secs_f64();
        drop(gallery);
        let t = Instant::now();
        let gallery = Gallery::load(&path).unwrap();
        let load = t.elapsed().as_secs_f64();
        let size_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

        let questions: Vec<(Vec<f32>, Option<String>, f64)> = (0..queries)
            .map(|q| {
                let person = (q * 7919) % n;
                let query: Vec<f32> = centres[person]
                    .iter()
                    .map(|x| x + photo.sample(&mut rng))
                    .collect();
                let t = Instant::now();
                let exact = gallery.identify_exact(&query, f32::INFINITY);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                (query, exact.nearest.map(|c| c.name), ms)
            })
            .collect();
        let mut exact_ms: Vec<f64> = questions.iter().map(|q| q.2).collect();
        exact_ms.sort_by(f64::total_cmp);
        let mut gallery = gallery;
        for &ef in &breadths {
            gallery.set_search_breadth(ef).unwrap();
            let mut hnsw_ms = Vec::new();
            let mut hits = 0;
            for (query, exact, _) in &questions {
                let t = Instant::now();
                let found = gallery.identify(query, f32::INFINITY);
                hnsw_ms.push(t.elapsed().as_secs_f64() * 1e3);
                if found.nearest.map(|c| c.name) == *exact {
                    hits += 1;
                }
            }
            hnsw_ms.sort_by(f64::total_cmp);
            println!(
                "{n:>9} {build:>8.1} {save:>8.1} {load:>8.1} {size_mb:>8.1} {ef:>5} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9.4}",
                percentile(&hnsw_ms, 0.5),
                percentile(&hnsw_ms, 0.99),
                percentile(&exact_ms, 0.5),
                percentile(&exact_ms, 0.99),
                hits as f64 / queries as f64
            );
        }
    }
    println!("(latencies in ms per query; recall@1 = index's nearest person is the exact nearest)");
}
