//! End-to-end tests of the `casebook` binary on tiny generated datasets.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{casebook, daynight, fails, ok};

/// A small generated day/night dataset shared by the tests (made once).
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        daynight(&dir, "daynight", 240, 0.5, 3)
    })
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `image split DATA` leaves DATA/split.json, and `image train DATA` then
/// trains on that split, not on a new one (the split's seed differs from
/// training's, so a new split would differ).
#[test]
fn train_reuses_the_split_left_in_the_dataset() {
    let work = tempfile::tempdir().unwrap();
    let data = daynight(work.path(), "data", 40, 0.5, 5);
    let d = data.to_str().unwrap();
    ok(&["image", "split", d, "--seed", "7"], work.path());
    let train = |run: &str| {
        ok(
            &[
                "image",
                "train",
                d,
                "--resolution",
                "16",
                "--epochs",
                "1",
                "--run",
                run,
                "--quiet",
            ],
            work.path(),
        )
    };
    let manifest = |path: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    train("shared");
    let shared = manifest(data.join("split.json"));
    assert_eq!(manifest(work.path().join("runs/shared/split.json")), shared);
    std::fs::remove_file(data.join("split.json")).unwrap();
    train("fresh");
    assert_ne!(manifest(work.path().join("runs/fresh/split.json")), shared);
}

#[test]
fn split_train_eval_predict_end_to_end() {
    let data = dataset();
    let work = tempfile::tempdir().unwrap();
    let d = data.to_str().unwrap();

    let split_file = work.path().join("split.json");
    let out = ok(
        &["image", "split", d, "--out", split_file.to_str().unwrap()],
        work.path(),
    );
    assert!(
        out.contains("imbalance ratio") && split_file.exists(),
        "{out}"
    );

    let out = ok(
        &[
            "image",
            "train",
            d,
            "--resolution",
            "24",
            "--epochs",
            "4",
            "--batch-size",
            "16",
            "--run",
            "r1",
            "--split",
            split_file.to_str().unwrap(),
            "--quiet",
        ],
        work.path(),
    );
    // Held-out test split accuracy well above chance (50%).
    let test_accuracy: f64 = out
        .split("test accuracy ")
        .nth(1)
        .and_then(|t| t.split('%').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        test_accuracy > 80.0,
        "test accuracy {test_accuracy}%:\n{out}"
    );
    let run = work.path().join("runs/r1");
    for file in [
        "config.json",
        "metrics.jsonl",
        "report.html",
        "model.casebook",
        "split.json",
    ] {
        assert!(run.join(file).exists(), "{file} missing; stdout:\n{out}");
    }
    let history = metrics(&run);
    assert_eq!(history.len(), 4);
    let loss = |i: usize| history[i]["train_loss"].as_f64().unwrap();
    assert!(loss(3) < loss(0), "training loss did not fall: {history:?}");
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        report.matches("<svg").count() >= 4,
        "report lacks its plots"
    );

    let model = run.join("model.casebook");
    let m = model.to_str().unwrap();
    let eval = ok(
        &["image", "eval", m, d, "--run", "e1", "--quiet"],
        work.path(),
    );
    let accuracy: f64 = eval
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(accuracy > 80.0, "eval accuracy {accuracy}%:\n{eval}");
    assert!(work.path().join("runs/e1/report.html").exists());
    // Every image's result is in the run folder, and agrees with the accuracy.
    let mut rows = csv::Reader::from_path(work.path().join("runs/e1/predictions.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let right = rows.iter().filter(|r| r[1] == r[2]).count();
    assert!((100.0 * right as f64 / rows.len() as f64 - accuracy).abs() < 0.01);
    assert!(rows.iter().all(|r| std::path::Path::new(&r[0]).exists()));
    // --json: one object with the same metrics and one item per image.
    let json: serde_json::Value = serde_json::from_str(&ok(
        &[
            "image", "eval", m, d, "--run", "e1-json", "--json", "--quiet",
        ],
        work.path(),
    ))
    .unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), rows.len());
    assert_eq!(json["items"][0]["file"], rows[0][0]);
    assert!((100.0 * json["metrics"]["accuracy"].as_f64().unwrap() - accuracy).abs() < 0.01);
    // The macro average F1 is the mean of each class's F1 as the rows give it.
    let f1 = |class: &str| {
        let count = |f: &dyn Fn(&csv::StringRecord) -> bool| rows.iter().filter(|r| f(r)).count();
        let hits = count(&|r| &r[1] == class && &r[2] == class) as f64;
        let (truth, predicted) = (count(&|r| &r[1] == class), count(&|r| &r[2] == class));
        2.0 * hits / (truth + predicted) as f64
    };
    let macro_f1 = json["metrics"]["macro_average"]["f1"].as_f64().unwrap();
    assert!(
        (macro_f1 - (f1("day") + f1("night")) / 2.0).abs() < 1e-9,
        "{macro_f1}"
    );
    // The model remembers the images it learnt from: evaluating on them warns,
    // even with --quiet, and counts exactly the training and validation splits.
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&split_file).unwrap()).unwrap();
    let learnt = split["train"].as_array().unwrap().len() + split["val"].as_array().unwrap().len();
    let out = casebook(
        &["image", "eval", m, d, "--run", "e1-seen", "--quiet"],
        work.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains(&format!("warning: {learnt} of these")),
        "{stderr}"
    );

    // Evaluating on one class folder alone is legitimate (e.g. only night photos).
    let only_night = work.path().join("only-night");
    std::fs::create_dir_all(only_night.join("night")).unwrap();
    for entry in std::fs::read_dir(data.join("night")).unwrap().take(5) {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            only_night.join("night").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let eval = ok(
        &[
            "image",
            "eval",
            m,
            only_night.to_str().unwrap(),
            "--run",
            "e2",
            "--quiet",
        ],
        work.path(),
    );
    assert!(eval.contains("on 5 images"), "{eval}");

    let night = std::fs::read_dir(data.join("night"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let json = ok(
        &["image", "predict", m, night.to_str().unwrap(), "--json"],
        work.path(),
    );
    let p: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(p["label"] == "night" || p["label"] == "day", "{p}");
    let probs: f64 = p["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((probs - 1.0).abs() < 1e-4);
}

/// The accuracy `image eval` prints first ("accuracy 91.67% on ...").
fn printed_accuracy(eval: &str) -> f64 {
    eval.split_whitespace()
        .nth(1)
        .and_then(|a| a.strip_suffix('%'))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {eval}"))
}

#[test]
fn a_val_folder_is_scored_every_epoch_and_its_mistakes_shown() {
    let work = tempfile::tempdir().unwrap();
    let watched = daynight(work.path(), "watched", 30, 0.5, 17);
    let d = dataset().to_str().unwrap();
    let w = watched.to_str().unwrap();
    let train = |run: &str, val: &str| {
        [
            "image",
            "train",
            d,
            "--resolution",
            "24",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--val",
            val,
            "--run",
            run,
            "--quiet",
        ]
        .map(String::from)
    };
    let args = train("watched", w);
    ok(&args.each_ref().map(String::as_str), work.path());
    let run = work.path().join("runs/watched");
    for epoch in metrics(&run) {
        let accuracy = epoch["val_folder_accuracy"].as_f64();
        assert!(
            accuracy.is_some_and(|a| (0.0..=1.0).contains(&a)),
            "{epoch}"
        );
    }
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("The --val folder"), "no --val section");
    assert!(report.contains("--val folder\n</text>"), "no --val curve");
    let record = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(record.contains("watched"), "{record}");

    // A class the training data lacks: refused before training.
    std::fs::create_dir_all(watched.join("dusk")).unwrap();
    let night = std::fs::read_dir(watched.join("night"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&night, watched.join("dusk/x.png")).unwrap();
    let args = train("unknown-class", w);
    let err = fails(&args.each_ref().map(String::as_str), work.path());
    assert!(err.contains("'dusk'"), "{err}");

    // The eval report shows each misclassified image, with its true and predicted class.
    std::fs::remove_dir_all(watched.join("dusk")).unwrap();
    let model = run.join("model.casebook");
    let eval = ok(
        &[
            "image",
            "eval",
            model.to_str().unwrap(),
            w,
            "--run",
            "e",
            "--quiet",
        ],
        work.path(),
    );
    let wrong = (30.0 * (1.0 - printed_accuracy(&eval) / 100.0)).round() as usize;
    let report = std::fs::read_to_string(work.path().join("runs/e/report.html")).unwrap();
    assert!(
        report.contains(&format!("Misclassified images ({wrong})")),
        "{eval}"
    );
    assert_eq!(report.matches("<figcaption>").count(), wrong, "{eval}");
}

#[test]
fn the_built_in_model_trained_on_photographs_sees_day_and_night_in_generated_scenes() {
    // The committed model never saw a generated scene: this is held-out data of
    // another kind altogether, so the bar is well above chance, not the
    // 97 % it aims for on photographs.
    let work = tempfile::tempdir().unwrap();
    let scenes = daynight(work.path(), "scenes", 60, 0.5, 23);
    let out = casebook(
        &[
            "image",
            "eval",
            "builtin",
            scenes.to_str().unwrap(),
            "--run",
            "b",
            "--quiet",
        ],
        work.path(),
    );
    let eval = String::from_utf8_lossy(&out.stdout);
    assert!(printed_accuracy(&eval) > 65.0, "{eval}");
    // None of these images taught the model anything.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let night = std::fs::read_dir(scenes.join("night"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = ok(
        &["image", "predict", "builtin", night.to_str().unwrap()],
        work.path(),
    );
    assert!(out.contains("night") || out.contains("day"), "{out}");
}

/// A resumed run keeps its settings: a flag that would change one (say,
/// more epochs) is refused rather than silently ignored.
#[test]
fn resume_refuses_flags_that_would_change_the_run() {
    let work = tempfile::tempdir().unwrap();
    for flag in [["--epochs", "30"], ["--lr", "0.1"], ["--val", "photos"]] {
        let args = ["image", "train", "--resume", "runs/r", flag[0], flag[1]];
        let err = fails(&args, work.path());
        assert!(err.contains(flag[0]), "{err}");
    }
}

#[test]
fn killed_training_resumes_to_the_same_result() {
    let data = dataset();
    let work = tempfile::tempdir().unwrap();
    let d = data.to_str().unwrap();
    let args = [
        "image",
        "train",
        d,
        "--resolution",
        "40",
        "--epochs",
        "5",
        "--batch-size",
        "16",
        "--patience",
        "10",
        "--quiet",
    ];

    let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(args)
        .args(["--run", "killed"])
        .current_dir(work.path())
        .spawn()
        .unwrap();
    let run = work.path().join("runs/killed");
    let state = run.join("checkpoint/state.json");
    let start = std::time::Instant::now();
    while !state.exists() && start.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let epochs_before_kill = metrics(&run).len();
    assert!(
        epochs_before_kill < 5,
        "the run finished before it could be killed"
    );

    ok(
        &[
            "image",
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--quiet",
        ],
        work.path(),
    );
    ok(
        &args
            .iter()
            .copied()
            .chain(["--run", "straight"])
            .collect::<Vec<_>>(),
        work.path(),
    );
    let losses = |name: &str| -> Vec<f64> {
        metrics(&work.path().join("runs").join(name))
            .iter()
            .map(|r| r["train_loss"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(
        losses("killed"),
        losses("straight"),
        "resumed run differs from an uninterrupted one"
    );
    let m = run.join("model.casebook");
    ok(
        &[
            "image",
            "eval",
            m.to_str().unwrap(),
            d,
            "--run",
            "after-resume",
            "--quiet",
        ],
        work.path(),
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    let err = fails(&["image", "train", "no/such/folder"], w);
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        !w.join("runs").exists() || std::fs::read_dir(w.join("runs")).unwrap().count() == 0,
        "a failed run left files"
    );

    let one_class = daynight(w, "one", 6, 0.0, 42);
    let _ = std::fs::remove_dir(one_class.join("night"));
    let err = fails(&["image", "train", one_class.to_str().unwrap()], w);
    assert!(err.contains("only one class"), "{err}");
    let err = fails(&["image", "split", one_class.to_str().unwrap()], w);
    assert!(err.contains("only one class"), "{err}");

    let not_model = w.join("notes.casebook");
    std::fs::write(&not_model, "hello").unwrap();
    let err = fails(
        &["image", "predict", not_model.to_str().unwrap(), "x.png"],
        w,
    );
    assert!(err.contains("not a casebook model file"), "{err}");

    let err = fails(&["image", "predict", "missing.casebook", "x.png"], w);
    assert!(err.contains("missing.casebook"), "{err}");
    // The reason once, not twice (it was also printed as the error's cause).
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // `builtin` names the committed model where a case has one; elsewhere it is refused.
    let err = fails(&["logreg", "eval", "builtin", "x.csv"], w);
    assert!(err.contains("no built-in model"), "{err}");
    let err = fails(&["image", "split", not_model.to_str().unwrap()], w);
    assert!(err.contains("is not a folder"), "{err}");
    let err = fails(
        &[
            "image",
            "train",
            "--patience",
            "0",
            dataset().to_str().unwrap(),
        ],
        w,
    );
    assert!(err.contains("--patience"), "{err}");

    let err = fails(
        &["image", "train", "--lr=-1", dataset().to_str().unwrap()],
        w,
    );
    assert!(err.contains("--lr"), "{err}");
}

#[test]
fn corrupt_images_are_listed_and_left_out() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let data = daynight(w, "data", 40, 0.5, 42);
    std::fs::write(data.join("day/broken.png"), b"\x89PNG\r\n\x1a\n not really").unwrap();
    std::fs::write(data.join("night/readme.txt"), "not an image").unwrap();
    let out = casebook(
        &[
            "image",
            "train",
            data.to_str().unwrap(),
            "--resolution",
            "16",
            "--epochs",
            "1",
            "--run",
            "c",
        ],
        w,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken.png") && stderr.contains("readme.txt"),
        "skipped files not listed:\n{stderr}"
    );

    // A corrupt file passed to predict fails that file, clearly.
    let model = w.join("runs/c/model.casebook");
    let err = fails(
        &[
            "image",
            "predict",
            model.to_str().unwrap(),
            data.join("day/broken.png").to_str().unwrap(),
        ],
        w,
    );
    assert!(err.contains("could not be read"), "{err}");

    // A truncated model file is named as such.
    let bytes = std::fs::read(&model).unwrap();
    let cut = w.join("cut.casebook");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(
        &[
            "image",
            "predict",
            cut.to_str().unwrap(),
            data.join("day/broken.png").to_str().unwrap(),
        ],
        w,
    );
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn studies_write_their_tables_and_reports() {
    let data = dataset();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let d = data.to_str().unwrap();
    let page = w.join("human.html");
    let watched = daynight(w, "watched", 12, 0.5, 29);
    let out = ok(
        &[
            "image",
            "resolution-study",
            d,
            "--resolutions",
            "12,24",
            "--epochs",
            "2",
            "--run",
            "rs",
            "--human-page",
            page.to_str().unwrap(),
            "--human-count",
            "4",
            "--val",
            watched.to_str().unwrap(),
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("recommended resolution"), "{out}");
    // Each resolution's row ends with its accuracy on the --val folder.
    assert!(
        out.lines().next().unwrap().ends_with("--val accuracy"),
        "{out}"
    );
    let rows: Vec<&str> = out.lines().filter(|l| l.contains('×')).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows.iter()
            .all(|r| r.ends_with('%') && r.matches('%').count() == 2),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<img").count(), 8);
    assert!(
        !html.contains("\"label\""),
        "the human page must not hold the labels"
    );

    // Answer every question "day" and score it.
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.join("runs/rs/human-key.json")).unwrap())
            .unwrap();
    let answers: serde_json::Map<String, serde_json::Value> = key["questions"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), "day".into()))
        .collect();
    // Each photo appears at one resolution only.
    let paths: std::collections::BTreeSet<&str> = key["questions"]
        .as_object()
        .unwrap()
        .values()
        .map(|q| q["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 8);
    let answers_file = w.join("answers.json");
    std::fs::write(
        &answers_file,
        serde_json::json!({ "answers": answers }).to_string(),
    )
    .unwrap();
    let key_file = w.join("runs/rs/human-key.json");
    let table = ok(
        &[
            "image",
            "human-baseline",
            answers_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
        w,
    );
    assert!(table.contains("4/4"), "{table}");
    // The scores go into the study's report, once however often it is scored.
    ok(
        &[
            "image",
            "human-baseline",
            answers_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
        w,
    );
    let report = std::fs::read_to_string(w.join("runs/rs/report.html")).unwrap();
    assert_eq!(report.matches("<h2>Human baseline</h2>").count(), 1);
    assert!(report.contains("<td>4/4</td>") && report.ends_with("</html>\n"));
    // The trigger study's command refuses these answers.
    let refused = casebook(
        &[
            "trigger",
            "human-baseline",
            answers_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
        w,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("image resolution page"),
        "{stderr}"
    );

    let out = ok(
        &[
            "image",
            "learning-curve",
            d,
            "--fractions",
            "0.25,1",
            "--resolution",
            "16",
            "--epochs",
            "2",
            "--run",
            "lc",
            "--val",
            watched.to_str().unwrap(),
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("reading:"), "{out}");
    assert!(
        out.lines().next().unwrap().ends_with("--val accuracy"),
        "{out}"
    );
    let report = std::fs::read_to_string(w.join("runs/lc/report.html")).unwrap();
    assert!(
        report.contains("<th>--val accuracy</th>"),
        "no --val column"
    );
}

#[test]
fn help_explains_every_flag() {
    let w = tempfile::tempdir().unwrap();
    let subcommands: [&[&str]; 28] = [
        &["trigger", "make-voices"],
        &["trigger", "mine"],
        &["trigger", "synth"],
        &["trigger", "train"],
        &["trigger", "detect"],
        &["trigger", "listen"],
        &["trigger", "eval"],
        &["trigger", "human-page"],
        &["trigger", "human-baseline"],
        &["logreg", "train"],
        &["logreg", "eval"],
        &["logreg", "predict"],
        &["data", "tabular"],
        &["image", "split"],
        &["image", "train"],
        &["image", "eval"],
        &["image", "predict"],
        &["image", "resolution-study"],
        &["image", "human-baseline"],
        &["image", "learning-curve"],
        &["data", "daynight"],
        &["style", "transfer"],
        &["style", "train-fast"],
        &["style", "apply"],
        &["style", "train-adain"],
        &["style", "apply-adain"],
        &["style", "distil"],
        &["demo"],
    ];
    for sub in subcommands {
        let cmd: Vec<&str> = sub.iter().copied().chain(["--help"]).collect();
        let text = ok(&cmd, w.path());
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("--"))
        {
            // Short help puts the text after the flag; long help on the next
            // line. A bare "[default: ...]" is not an explanation.
            let same_line = line
                .split("  ")
                .skip(1)
                .map(str::trim)
                .find(|t| !t.is_empty())
                .is_some_and(|t| !t.starts_with("[default"));
            let next_line = lines.get(i + 1).is_some_and(|n| {
                !n.is_empty() && !n.starts_with('-') && !n.starts_with("[default")
            });
            assert!(
                same_line || next_line,
                "{cmd:?}: flag without explanation: {line}"
            );
        }
    }
}

#[test]
fn imbalance_is_reported_and_mitigated() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let data = daynight(w, "skewed", 60, 0.2, 42);
    let out = ok(&["image", "split", data.to_str().unwrap()], w);
    assert!(out.contains("imbalanced"), "{out}");
    for balance in ["weights", "sampler"] {
        let run = format!("b-{balance}");
        ok(
            &[
                "image",
                "train",
                data.to_str().unwrap(),
                "--resolution",
                "16",
                "--epochs",
                "1",
                "--balance",
                balance,
                "--run",
                &run,
                "--quiet",
            ],
            w,
        );
        let config =
            std::fs::read_to_string(w.join("runs").join(&run).join("config.json")).unwrap();
        assert!(
            config.contains(&format!("\"balance\": \"{balance}\"")),
            "{config}"
        );
    }
    let err = fails(
        &[
            "image",
            "train",
            data.to_str().unwrap(),
            "--balance",
            "magic",
        ],
        w,
    );
    assert!(
        err.contains("invalid value 'magic'") && err.contains("--balance"),
        "{err}"
    );
    let out = casebook(
        &[
            "image",
            "train",
            data.to_str().unwrap(),
            "--balance",
            "magic",
        ],
        w,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none, weights, sampler"), "{stderr}");
}

#[test]
fn trigger_synth_writes_labelled_clips_from_the_built_in_voices() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = ok(
        &[
            "trigger",
            "synth",
            "--out-dir",
            "clips",
            "--count",
            "4",
            "--seed",
            "5",
            "--quiet",
        ],
        w,
    );
    assert!(out.contains("wrote 4 clips"), "{out}");
    let wavs = std::fs::read_dir(w.join("clips"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wav")
        })
        .count();
    assert_eq!(wavs, 4);
    let labels = std::fs::read_to_string(w.join("clips/labels.csv")).unwrap();
    assert!(labels.starts_with("file,start_s,end_s"));
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (start, end): (f64, f64) = (cols[1].parse().unwrap(), cols[2].parse().unwrap());
        assert!(0.0 <= start && start < end && end <= 10.0, "{line}");
    }

    // A folder of non-audio "WAVs" is a clear error.
    std::fs::create_dir_all(w.join("bad")).unwrap();
    std::fs::write(w.join("bad/x.wav"), "text").unwrap();
    let err = fails(
        &[
            "trigger",
            "synth",
            "--out-dir",
            "o",
            "--count",
            "1",
            "--positives",
            "bad",
        ],
        w,
    );
    assert!(
        err.contains("x.wav") && err.contains("not a readable WAV"),
        "{err}"
    );
}

/// The README's flag vocabulary: `--count` for how many, `--out-dir` for a
/// folder; the old spellings still work; a run folder is named after its
/// case and command when `--run` is not given.
#[test]
fn one_flag_vocabulary_and_the_old_spellings() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(&["data", "tabular", "--count", "40", "--out", "new.csv"], w);
    ok(&["data", "tabular", "--rows", "40", "--out", "old.csv"], w);
    let new = std::fs::read_to_string(w.join("new.csv")).unwrap();
    assert_eq!(new.lines().count(), 41, "header and 40 rows");
    assert_eq!(new, std::fs::read_to_string(w.join("old.csv")).unwrap());

    ok(
        &[
            "data", "daynight", "--out", "old", "--count", "3", "--quiet",
        ],
        w,
    );
    ok(
        &[
            "data",
            "daynight",
            "--out-dir",
            "new",
            "--count",
            "3",
            "--quiet",
        ],
        w,
    );
    let files = |d: &str| {
        walk(&w.join(d))
            .into_iter()
            .map(|p| p.strip_prefix(w.join(d)).unwrap().to_path_buf())
            .collect::<Vec<_>>()
    };
    assert_eq!(files("old"), files("new"));
    assert!(files("new").len() >= 3);

    ok(
        &[
            "logreg", "train", "new.csv", "--target", "approved", "--quiet",
        ],
        w,
    );
    let runs: Vec<String> = std::fs::read_dir(w.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        runs.len() == 1 && runs[0].starts_with("logreg-train-"),
        "{runs:?}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `casebook serve` says where it listens (the loopback address by default),
/// answers there, and Ctrl-C stops it cleanly; a taken port is one error line.
#[test]
fn serve_listens_on_loopback_answers_and_stops_on_ctrl_c() {
    use std::io::{BufRead, Read, Write};
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["serve", "--addr", "127.0.0.1:0", "--runs-dir", "runs"])
        .current_dir(work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("this computer only"), "{first}");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /runs HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("No run folders"), "{reply}");

    let taken = fails(&["serve", "--addr", &addr], work.path());
    assert!(taken.contains("cannot listen on"), "{taken}");

    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Each request answered is a line on stderr.
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("GET /runs"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.starts_with("20") && line.contains(" GET /runs 200 ") && line.ends_with(" ms"),
        "{line}"
    );
}
