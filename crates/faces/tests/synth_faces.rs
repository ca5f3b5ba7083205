//! The synthetic face generator: determinism, identities, the LFW layout,
//! option checks, and (slow, ignored) whether the built-in detector finds its
//! faces.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use casebook_core::config::InvalidConfig;
use casebook_core::observe::{Event, Observer, Silent};
use casebook_faces::data::synth::{generate, person_name, render, FacesOptions, LFW_SIZE};
use image::RgbImage;

fn options(people: usize, min_images: usize, max_images: usize, seed: u64) -> FacesOptions {
    FacesOptions {
        people,
        min_images,
        max_images,
        seed,
        size: LFW_SIZE,
    }
}

/// Mean absolute difference per channel over the centre of the image, where
/// the face is (the background and clothes change from photo to photo).
fn face_distance(a: &RgbImage, b: &RgbImage) -> f64 {
    let (lo, hi) = (LFW_SIZE / 4, LFW_SIZE * 3 / 4);
    let mut sum = 0.0;
    let mut count = 0.0;
    for y in lo..hi {
        for x in lo..hi {
            for c in 0..3 {
                sum += (a.get_pixel(x, y)[c] as f64 - b.get_pixel(x, y)[c] as f64).abs();
                count += 1.0;
            }
        }
    }
    sum / count
}

/// Every file under `dir`, relative, sorted, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for person in std::fs::read_dir(dir).unwrap() {
        let person = person.unwrap().path();
        for file in std::fs::read_dir(&person).unwrap() {
            let file = file.unwrap().path();
            let name = file
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((name, std::fs::read(&file).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_images_and_other_seeds_other_images() {
    let image = render(3, 1, 2, LFW_SIZE);
    assert_eq!(image.dimensions(), (LFW_SIZE, LFW_SIZE));
    assert_eq!(image, render(3, 1, 2, LFW_SIZE));
    assert_ne!(image, render(4, 1, 2, LFW_SIZE));
    assert_ne!(image, render(3, 1, 3, LFW_SIZE));
    assert_eq!(render(3, 0, 0, 128).dimensions(), (128, 128));

    // Whole datasets, written by several threads, are byte for byte the same.
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(a.path(), &options(3, 1, 3, 9), &Silent).unwrap();
    generate(b.path(), &options(3, 1, 3, 9), &Silent).unwrap();
    generate(c.path(), &options(3, 1, 3, 10), &Silent).unwrap();
    assert_eq!(files(a.path()), files(b.path()));
    let first = |dir: &Path| std::fs::read(dir.join("person_0000/person_0000_0001.png")).unwrap();
    assert_ne!(first(a.path()), first(c.path()));
}

#[test]
fn images_of_one_person_are_closer_than_images_of_two() {
    let (people, shots) = (6, 3);
    let images: Vec<Vec<RgbImage>> = (0..people)
        .map(|p| (0..shots).map(|i| render(11, p, i, LFW_SIZE)).collect())
        .collect();
    let (mut same, mut same_n, mut other, mut other_n) = (0.0, 0.0, 0.0, 0.0);
    for p in 0..people {
        for i in 0..shots {
            for j in i + 1..shots {
                same += face_distance(&images[p][i], &images[p][j]);
                same_n += 1.0;
            }
            for q in p + 1..people {
                other += face_distance(&images[p][i], &images[q][i]);
                other_n += 1.0;
            }
        }
    }
    let (same, other) = (same / same_n, other / other_n);
    assert!(
        same < other * 0.9,
        "same person {same:.1} vs different people {other:.1}"
    );
}

#[derive(Default)]
struct Counter {
    total: AtomicU64,
    advanced: AtomicU64,
}

impl Observer for Counter {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { total, .. } => self.total.store(total, Ordering::SeqCst),
            Event::Advanced { units } => {
                self.advanced.fetch_add(units, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

#[test]
fn files_land_in_the_lfw_layout_with_the_drawn_counts() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(5, 1, 4, 2);
    let counter = Counter::default();
    let summary = generate(dir.path(), &options, &counter).unwrap();
    let counts: Vec<usize> = (0..5).map(|p| options.images_of(p)).collect();
    assert!(counts.iter().all(|c| (1..=4).contains(c)), "{counts:?}");
    assert_eq!(summary.people, 5);
    assert_eq!(summary.images, counts.iter().sum::<usize>());
    assert_eq!(counter.total.load(Ordering::SeqCst), summary.images as u64);
    assert_eq!(
        counter.advanced.load(Ordering::SeqCst),
        summary.images as u64
    );

    let mut folders: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders, (0..5).map(person_name).collect::<Vec<_>>());
    for (person, &count) in counts.iter().enumerate() {
        let name = person_name(person);
        let mut found: Vec<String> = std::fs::read_dir(dir.path().join(&name))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let want: Vec<String> = (1..=count).map(|i| format!("{name}_{i:04}.png")).collect();
        assert_eq!(found, want);
    }
    let decoded = image::open(dir.path().join("person_0001/person_0001_0001.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(decoded, render(2, 1, 0, LFW_SIZE));

    // Counts vary between people, most near the minimum, as in LFW.
    let wide = FacesOptions {
        people: 200,
        max_images: 20,
        ..FacesOptions::default()
    };
    let counts: Vec<usize> = (0..200).map(|p| wide.images_of(p)).collect();
    let at_most_4 = counts.iter().filter(|&&c| c <= 4).count();
    assert!(at_most_4 > 80, "{counts:?}");
    assert!(counts.iter().any(|&c| c >= 12), "{counts:?}");
}

#[test]
fn invalid_options_name_their_field() {
    let field = |options: FacesOptions| {
        let dir = tempfile::tempdir().unwrap();
        let error = generate(dir.path(), &options, &Silent).unwrap_err();
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        error.downcast::<InvalidConfig>().unwrap().field
    };
    let good = options(4, 1, 3, 1);
    assert!(good.validate().is_ok());
    assert_eq!(
        field(FacesOptions {
            people: 1,
            ..good.clone()
        }),
        "people"
    );
    assert_eq!(
        field(FacesOptions {
            min_images: 0,
            ..good.clone()
        }),
        "min_images"
    );
    assert_eq!(
        field(FacesOptions {
            min_images: 4,
            max_images: 3,
            ..good.clone()
        }),
        "max_images"
    );
    assert_eq!(
        field(FacesOptions {
            size: 10,
            ..good.clone()
        }),
        "size"
    );
    assert_eq!(field(FacesOptions { size: 5000, ..good }), "size");
}

/// The built-in detector (trained on photographs) should find most faces, so
/// the whole pipeline runs on synthetic data. `CASEBOOK_SYNTH_SAMPLES=<dir>`
/// also writes the images tried there.
#[test]
#[ignore = "slow: runs the face detector on 24 images at two scales (about 20 s)"]
fn detector_finds_most_synthetic_faces() {
    let detector = casebook_faces::infer::load_detector("builtin").unwrap();
    let samples = std::env::var("CASEBOOK_SYNTH_SAMPLES").ok();
    let tried = 24;
    let mut found = [0usize; 2];
    for k in 0..tried {
        let (person, image) = (k / 2, k % 2);
        let picture = render(7, person, image, LFW_SIZE);
        if let Some(dir) = &samples {
            std::fs::create_dir_all(dir).unwrap();
            let name = person_name(person);
            picture
                .save(format!("{dir}/{name}_{:04}.png", image + 1))
                .unwrap();
        }
        for (upsample, hits) in found.iter_mut().enumerate() {
            let detections = detector.detect(&picture, upsample);
            println!("{person}/{image} upsample {upsample}: {detections:?}");
            *hits += usize::from(!detections.is_empty());
        }
    }
    println!(
        "found {} / {tried} at upsample 0, {} / {tried} at upsample 1",
        found[0], found[1]
    );
    assert!(found[1] * 10 >= tried * 8, "{found:?} of {tried}");
}
