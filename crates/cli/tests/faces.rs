//! End-to-end tests of `casebook face ...` on the committed, licensed test
//! photos (crates/faces/tests/fixtures/images, see SOURCES.md there).

mod common;

use std::path::{Path, PathBuf};

use common::{casebook, fails, ok};

fn photo(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../faces/tests/fixtures/images")
        .join(name);
    path.to_str().unwrap().to_string()
}

/// `dir/<person>/<photo>` copies of the fixture photos: the LFW layout that
/// cluster, eval and enroll --people read.
fn people_folder(dir: &Path, people: &[(&str, &[&str])]) {
    for (person, files) in people {
        std::fs::create_dir_all(dir.join(person)).unwrap();
        for f in *files {
            std::fs::copy(photo(f), dir.join(person).join(f)).unwrap();
        }
    }
}

fn write_png(path: &Path, size: u32, value: u8) -> String {
    image::RgbImage::from_pixel(size, size, image::Rgb([value; 3]))
        .save(path)
        .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn verify_enroll_identify_with_an_unknown() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    let out = ok(
        &[
            "face",
            "verify",
            &photo("edwin_a.png"),
            &photo("edwin_b.png"),
            "--upsample",
            "0",
        ],
        cwd,
    );
    assert!(out.starts_with("same person: distance 0.2"), "{out}");
    assert!(
        out.contains("threshold 0.600 (dlib's published threshold"),
        "{out}"
    );
    let out = ok(
        &[
            "face",
            "verify",
            &photo("grace_hopper.png"),
            &photo("sally_ride.png"),
            "--json",
        ],
        cwd,
    );
    let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(verdict["same_person"], false);
    assert!(verdict["distance"].as_f64().unwrap() > 0.6);

    let gallery = cwd.join("people.gallery");
    let g = gallery.to_str().unwrap();
    ok(
        &[
            "face",
            "enroll",
            "--gallery",
            g,
            "edwin",
            &photo("edwin_a.png"),
        ],
        cwd,
    );
    let out = ok(
        &[
            "face",
            "enroll",
            "--gallery",
            g,
            "grace",
            &photo("grace_hopper.png"),
        ],
        cwd,
    );
    assert!(out.contains("(2 people, 2 vectors"), "{out}");
    let out = ok(
        &[
            "face",
            "identify",
            "--gallery",
            g,
            &photo("edwin_b.png"),
            &photo("hopper_small.png"),
            &photo("cameraman.png"),
        ],
        cwd,
    );
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').nth(2).unwrap()).collect();
    assert_eq!(names, ["edwin", "grace", "unknown"], "{out}");
    assert!(out.lines().all(|l| l.contains("runner-up ")), "{out}");

    // Everyone at once from a folder per person; a photo without a face is
    // noted and left out, and the rest are enrolled.
    let data = cwd.join("staff");
    people_folder(
        &data,
        &[
            ("edwin", &["edwin_a.png"]),
            ("grace", &["grace_hopper.png"]),
        ],
    );
    write_png(&data.join("grace").join("blank.png"), 200, 128);
    let staff = cwd.join("staff.gallery");
    let out = casebook(
        &[
            "face",
            "enroll",
            "--gallery",
            staff.to_str().unwrap(),
            "--people",
            data.to_str().unwrap(),
        ],
        cwd,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("enrolled 2 people from 2 photos (2 people, 2 vectors"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("blank.png"),
        "{out:?}"
    );
    let out = ok(
        &[
            "face",
            "identify",
            "--gallery",
            staff.to_str().unwrap(),
            &photo("edwin_b.png"),
        ],
        cwd,
    );
    assert!(out.contains("\tedwin\t"), "{out}");
    // A name and --people do not mix.
    assert!(fails(
        &[
            "face",
            "enroll",
            "--gallery",
            "x.gallery",
            "ada",
            "--people",
            "staff"
        ],
        cwd
    )
    .contains("cannot be used with"));
}

#[test]
fn detect_finds_every_face_of_a_group_and_writes_aligned_crops() {
    let work = tempfile::tempdir().unwrap();
    let crops = work.path().join("crops");
    let out = ok(
        &[
            "face",
            "detect",
            &photo("group_pif.png"),
            "--crops",
            crops.to_str().unwrap(),
            "--json",
        ],
        work.path(),
    );
    let faces: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(faces.len(), 8, "{out}");
    assert!(faces
        .iter()
        .all(|f| f["landmarks"].as_array().unwrap().len() == 5));
    let chip = image::open(crops.join("group_pif_7.png")).unwrap();
    assert_eq!((chip.width(), chip.height()), (150, 150));
}

#[test]
fn cluster_groups_a_labelled_folder_and_scores_it() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("people");
    people_folder(
        &data,
        &[
            ("edwin", &["edwin_a.png", "edwin_b.png"]),
            ("grace", &["grace_hopper.png", "hopper_small.png"]),
        ],
    );
    let out = casebook(
        &[
            "face",
            "cluster",
            data.to_str().unwrap(),
            "--truth",
            "--runs-dir",
            "runs",
            "--run",
            "c",
        ],
        work.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let groups: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(groups.len(), 4);
    assert!(
        groups[0] == groups[1] && groups[2] == groups[3] && groups[0] != groups[2],
        "{stdout}"
    );
    assert!(
        stderr.contains("purity 1.000, NMI 1.000, ARI 1.000"),
        "{stderr}"
    );
    assert!(
        work.path().join("runs/c/report.html").exists()
            && work.path().join("runs/c/clusters.csv").exists()
    );
}

#[test]
fn bad_input_gives_one_error_line() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    let tiny = write_png(&cwd.join("tiny.png"), 16, 128);
    let blank = write_png(&cwd.join("blank.png"), 120, 128);
    std::fs::write(cwd.join("notes.png"), "not an image").unwrap();
    assert!(fails(&["face", "verify", &tiny, &photo("edwin_a.png")], cwd).contains("too small"));
    assert!(
        fails(&["face", "verify", &blank, &photo("edwin_a.png")], cwd).contains("no face found in")
    );
    assert!(
        fails(&["face", "verify", "notes.png", &photo("edwin_a.png")], cwd)
            .contains("cannot read notes.png as an image")
    );
    assert!(fails(&["face", "detect", "missing.jpg"], cwd).contains("missing.jpg does not exist"));
    std::fs::create_dir(cwd.join("empty")).unwrap();
    assert!(fails(&["face", "cluster", "empty"], cwd).contains("no .png or .jpg images in empty"));
    assert!(
        !cwd.join("runs")
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "a failed run left a folder"
    );

    // A gallery made by another encoder, and a damaged gallery.
    let gallery = cwd.join("g.gallery");
    let g = gallery.to_str().unwrap();
    assert!(fails(
        &["face", "identify", "--gallery", g, &photo("edwin_a.png")],
        cwd
    )
    .contains("g.gallery"));
    ok(
        &[
            "face",
            "enroll",
            "--gallery",
            g,
            "edwin",
            &photo("edwin_a.png"),
            "--upsample",
            "0",
        ],
        cwd,
    );
    let mut book = casebook_faces::gallery::Gallery::load(&gallery).unwrap();
    book.encoder.id = "0000000000000000".into();
    let other = cwd.join("other.gallery");
    book.save(&other).unwrap();
    let err = fails(
        &[
            "face",
            "identify",
            "--gallery",
            other.to_str().unwrap(),
            &photo("edwin_b.png"),
        ],
        cwd,
    );
    assert!(err.contains("built with encoder 0000000000000000"), "{err}");
    let mut bytes = std::fs::read(&gallery).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&gallery, bytes).unwrap();
    assert!(fails(
        &["face", "identify", "--gallery", g, &photo("edwin_b.png")],
        cwd
    )
    .contains("damaged"));
    // Enrolling from photos without faces writes nothing.
    let fresh: PathBuf = cwd.join("fresh.gallery");
    fails(
        &[
            "face",
            "enroll",
            "--gallery",
            fresh.to_str().unwrap(),
            "nobody",
            &blank,
        ],
        cwd,
    );
    assert!(!fresh.exists());
}

#[test]
fn eval_measures_a_threshold_that_verify_then_uses() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("people");
    people_folder(
        &data,
        &[
            ("edwin", &["edwin_a.png", "edwin_b.png"]),
            ("grace", &["grace_hopper.png", "hopper_small.png"]),
            ("sally", &["sally_ride.png"]),
            ("eileen", &["astronaut.png"]),
            ("lav", &["cameraman.png"]),
        ],
    );
    let args = [
        "face",
        "eval",
        "people",
        "--folds",
        "2",
        "--per-fold",
        "1",
        "--seed",
        "1",
        "--run",
        "e",
        "--save-threshold",
        "enc.casebook",
    ];
    let out = ok(&args, work.path());
    assert!(
        out.contains("accuracy 100.00% ± 0.00 over 2 folds (2 same, 2 different pairs)"),
        "{out}"
    );
    // Each pair's distance and verdict, in the run folder and with --json.
    let scored = std::fs::read_to_string(work.path().join("runs/e/predictions.csv")).unwrap();
    assert!(
        scored.starts_with("file_a,file_b,label,prediction,distance,fold\n")
            && scored.lines().count() == 5,
        "{scored}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &[
            "face",
            "eval",
            "people",
            "--pairs",
            "runs/e/pairs.txt",
            "--run",
            "e-json",
            "--json",
        ],
        work.path(),
    ))
    .unwrap();
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(
        items.iter().all(|i| i["label"] == i["prediction"]),
        "{items:?}"
    );
    assert_eq!(json["metrics"]["mean_accuracy"], 1.0);
    let pairs = std::fs::read_to_string(work.path().join("runs/e/pairs.txt")).unwrap();
    assert!(
        pairs.starts_with("2\t1\n") && pairs.lines().count() == 5,
        "{pairs}"
    );
    let again = ok(
        &[
            "face",
            "eval",
            "people",
            "--pairs",
            "runs/e/pairs.txt",
            "--run",
            "again",
        ],
        work.path(),
    );
    assert_eq!(again.lines().next(), out.lines().next());
    let verdict = ok(
        &[
            "face",
            "verify",
            &photo("edwin_a.png"),
            &photo("edwin_b.png"),
            "--model",
            "enc.casebook",
        ],
        work.path(),
    );
    assert!(
        verdict.contains("(casebook face eval on people: 100.00% ± 0.00 over 2 folds of 4 pairs)"),
        "{verdict}"
    );
}

#[test]
fn train_an_encoder_on_synthetic_people_and_use_it() {
    let work = tempfile::tempdir().unwrap();
    let cwd = work.path();
    let out = ok(
        &[
            "data",
            "faces",
            "--out-dir",
            "people",
            "--people",
            "12",
            "--max-images",
            "4",
            "--seed",
            "3",
        ],
        cwd,
    );
    assert!(out.contains("of 12 people"), "{out}");
    let err = fails(&["face", "train", "people", "--margin", "0"], cwd);
    assert!(err.contains("--margin must be positive"), "{err}");
    let args = [
        "face",
        "train",
        "people",
        "--aligned",
        "--epochs",
        "2",
        "--steps",
        "3",
        "--people-per-batch",
        "4",
        "--run",
        "t",
    ];
    let out = ok(&args, cwd);
    assert!(out.contains("best epoch"), "{out}");
    let metrics = std::fs::read_to_string(cwd.join("runs/t/metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    // A finished run resumes to the same end; the model works in the other commands.
    let again = ok(&["face", "train", "--resume", "runs/t"], cwd);
    assert_eq!(again.lines().next(), out.lines().next());
    let photos = |p: &str| cwd.join("people").join(p).to_str().unwrap().to_string();
    let verdict = ok(
        &[
            "face",
            "verify",
            &photos("person_0000/person_0000_0001.png"),
            &photos("person_0000/person_0000_0002.png"),
            "--model",
            "runs/t/model.casebook",
            "--upsample",
            "0",
        ],
        cwd,
    );
    assert!(
        verdict.contains("(face train validation pairs"),
        "{verdict}"
    );
}
