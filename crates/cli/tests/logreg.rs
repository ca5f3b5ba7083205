//! End-to-end tests of `casebook logreg` and `casebook data tabular`.

mod common;

use common::{casebook, fails, ok};

fn test_accuracy(out: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("test "))
        .unwrap_or_else(|| panic!("no test line:\n{out}"));
    line.split("accuracy ")
        .nth(1)
        .and_then(|t| t.split('%').next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn three_modes_train_evaluate_and_predict_label_strings() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // (kind, target, expected mode, chance-level accuracy to beat by a margin)
    for (kind, target, mode, chance) in [
        ("binary", "approved", "binary", 55.0),
        ("multiclass", "species", "multiclass", 40.0),
        ("multilabel", "tags", "multilabel", 20.0),
    ] {
        let csv = format!("{kind}.csv");
        ok(
            &[
                "data", "tabular", "--kind", kind, "--count", "1500", "--out", &csv,
            ],
            w,
        );
        let out = ok(
            &[
                "logreg", "train", &csv, "--target", target, "--ignore", "id", "--run", kind,
                "--quiet",
            ],
            w,
        );
        assert!(
            out.contains(&format!("mode: {mode} (picked from the targets)")),
            "{out}"
        );
        assert!(out.contains("converged"), "{out}");
        let acc = test_accuracy(&out);
        assert!(acc > chance + 15.0, "{kind}: held-out accuracy {acc}%");
        for file in [
            "config.json",
            "metrics.json",
            "report.html",
            "model.casebook",
        ] {
            assert!(
                w.join("runs").join(kind).join(file).exists(),
                "{kind}: {file} missing"
            );
        }
        let model = format!("runs/{kind}/model.casebook");
        let eval = ok(
            &[
                "logreg",
                "eval",
                &model,
                &csv,
                "--run",
                &format!("{kind}-eval"),
            ],
            w,
        );
        assert!(eval.contains("accuracy"), "{eval}");
        // Each row's result, named by its line in the CSV (the header is line 1).
        let run = w.join("runs").join(format!("{kind}-eval"));
        let mut rows = csv::Reader::from_path(run.join("predictions.csv")).unwrap();
        assert_eq!(&rows.headers().unwrap()[0], "line");
        let lines: Vec<u64> = rows
            .records()
            .map(|r| r.unwrap()[0].parse().unwrap())
            .collect();
        assert!(lines.iter().all(|&l| l >= 2), "{lines:?}");
        let json: serde_json::Value = serde_json::from_str(&ok(
            &[
                "logreg",
                "eval",
                &model,
                &csv,
                "--json",
                "--run",
                &format!("{kind}-eval-json"),
            ],
            w,
        ))
        .unwrap();
        assert_eq!(json["items"].as_array().unwrap().len(), lines.len());
        assert_eq!(json["items"][0]["line"], lines[0]);
        assert!(json["metrics"]["accuracy"].as_f64().unwrap() > 0.0);

        // New rows: an unseen colour and missing values predict, with a warning.
        std::fs::write(
            w.join("new.csv"),
            "id,x1,x2,x3,color\nq1,0.5,-1,1,purple\nq2,,1,0,\n",
        )
        .unwrap();
        let out = casebook(
            &["logreg", "predict", &model, "new.csv", "--out", "pred.csv"],
            w,
        );
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("'purple'"),
            "no unseen-category warning"
        );
        let pred = std::fs::read_to_string(w.join("pred.csv")).unwrap();
        let header = pred.lines().next().unwrap();
        assert!(header.ends_with(&format!("predicted_{target}")), "{header}");
        let labels: Vec<&str> = pred
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap())
            .collect();
        let allowed: &[&str] = match kind {
            "binary" => &["yes", "no"],
            "multiclass" => &["bird", "cat", "dog"],
            _ => &["", "politics", "sports", "tech"],
        };
        for label in labels {
            assert!(
                label.split(';').all(|l| allowed.contains(&l)),
                "{kind}: predicted '{label}'"
            );
        }
    }
}

#[test]
fn label_encoding_and_drop_are_honoured() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(
        &[
            "data",
            "tabular",
            "--kind",
            "multiclass",
            "--count",
            "600",
            "--out",
            "t.csv",
        ],
        w,
    );
    let out = ok(
        &[
            "logreg",
            "train",
            "t.csv",
            "--target",
            "species",
            "--ignore",
            "id",
            "--encode",
            "label",
            "--missing",
            "drop",
            "--run",
            "l",
            "--quiet",
        ],
        w,
    );
    assert!(
        out.contains("dropped") && out.contains("--missing drop"),
        "{out}"
    );
    let config = std::fs::read_to_string(w.join("runs/l/config.json")).unwrap();
    assert!(config.contains("\"encoding\": \"label\""), "{config}");
}

#[test]
fn malformed_csv_gives_one_line_naming_the_problem() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(w.join("ragged.csv"), "a,b,y\n1,2,yes\n3,no\n").unwrap();
    let err = fails(&["logreg", "train", "ragged.csv", "--target", "y"], w);
    assert!(err.contains("line 3"), "{err}");

    std::fs::write(w.join("empty.csv"), "").unwrap();
    let err = fails(&["logreg", "train", "empty.csv", "--target", "y"], w);
    assert!(err.contains("empty"), "{err}");

    let mut text = String::from("a,y\n");
    for i in 0..20 {
        text.push_str(&format!("{i},{}\n", if i % 2 == 0 { "yes" } else { "no" }));
    }
    text.push_str("twelve,yes\n");
    std::fs::write(w.join("words.csv"), &text).unwrap();
    let err = fails(&["logreg", "train", "words.csv", "--target", "y"], w);
    assert!(
        err.contains("line 22") && err.contains("'twelve'") && err.contains("column 'a'"),
        "{err}"
    );

    let err = fails(&["logreg", "train", "words.csv", "--target", "nope"], w);
    assert!(err.contains("'nope'") && err.contains("a, y"), "{err}");
    for l2 in ["NaN", "inf", "-1"] {
        let flag = format!("--l2={l2}");
        let err = fails(&["logreg", "train", "words.csv", "--target", "y", &flag], w);
        assert!(err.contains("--l2"), "{err}");
    }
    assert!(
        !w.join("runs").exists() || std::fs::read_dir(w.join("runs")).unwrap().count() == 0,
        "failed runs left folders"
    );

    // Too few rows to hold any back: said, not silently scored on nothing.
    std::fs::write(w.join("tiny.csv"), "a,y\n1,x\n2,z\n").unwrap();
    let out = casebook(&["logreg", "train", "tiny.csv", "--target", "y"], w);
    assert!(out.status.success());
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("test holdout is empty"), "{said}");

    let err = fails(&["logreg", "predict", "words.csv", "words.csv"], w);
    assert!(err.contains("not a casebook model file"), "{err}");
}

/// Prediction streams its input in parts (issue 16: a 200 MB CSV held whole
/// peaked at 2.3 GB): every row comes out in order, a bad row far into the
/// file names its own line, and a failed prediction writes no file.
#[test]
fn predict_streams_long_files_in_parts() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let row = |i: usize| {
        format!(
            "{},{},{}\n",
            i % 97,
            (i * 7) % 13,
            ["a", "b"][(i % 97 > 48) as usize]
        )
    };
    let train: String = (0..200).map(row).collect();
    std::fs::write(w.join("train.csv"), format!("x,z,y\n{train}")).unwrap();
    let train = [
        "logreg",
        "train",
        "train.csv",
        "--target",
        "y",
        "--run",
        "m",
        "--quiet",
    ];
    ok(&train, w);
    // logreg train has no --resume, so it does not suggest one.
    let err = fails(&train, w);
    assert!(
        err.contains("already holds a run") && !err.contains("--resume"),
        "{err}"
    );
    let long: String = (0..40_000).map(row).collect();
    std::fs::write(w.join("long.csv"), format!("x,z,y\n{long}")).unwrap();
    ok(
        &[
            "logreg",
            "predict",
            "runs/m/model.casebook",
            "long.csv",
            "--out",
            "p.csv",
        ],
        w,
    );
    let predicted = std::fs::read_to_string(w.join("p.csv")).unwrap();
    let lines: Vec<&str> = predicted.lines().collect();
    assert_eq!(lines.len(), 40_001);
    assert!(
        lines[0].starts_with("x,z,y,p_")
            && lines[40_000].starts_with(&row(39_999).trim_end().to_string())
    );
    // Line 35,002 of the file (row 35,000) is ragged.
    let mut ragged: Vec<String> = (0..40_000).map(row).collect();
    ragged[35_000] = "1,2\n".into();
    std::fs::write(w.join("ragged.csv"), format!("x,z,y\n{}", ragged.concat())).unwrap();
    let err = fails(
        &[
            "logreg",
            "predict",
            "runs/m/model.casebook",
            "ragged.csv",
            "--out",
            "r.csv",
        ],
        w,
    );
    assert!(err.contains("line 35002"), "{err}");
    assert!(!w.join("r.csv").exists());
}

/// Issue 16: a column of values past ~1e154 made `train` write a model that
/// `eval` and `predict` refused as damaged. It trains, and the model loads.
#[test]
fn huge_numbers_train_a_model_that_loads() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let rows: String = (0..60)
        .map(|i| {
            let x = if i % 2 == 0 { 1e200 } else { -3e300 } * (1.0 + i as f64 / 100.0);
            let y = if i % 2 == 0 { "a" } else { "b" };
            format!("{x:e},{},{y}\n", i % 7)
        })
        .collect();
    std::fs::write(w.join("huge.csv"), format!("big,small,y\n{rows}")).unwrap();
    ok(
        &[
            "logreg", "train", "huge.csv", "--target", "y", "--run", "huge", "--quiet",
        ],
        w,
    );
    let eval = ok(
        &[
            "logreg",
            "eval",
            "runs/huge/model.casebook",
            "huge.csv",
            "--run",
            "huge-eval",
        ],
        w,
    );
    assert!(eval.contains("accuracy"), "{eval}");
}

/// Issue 16: two trainings started with one `--run` both wrote the folder.
/// The second is refused while the first holds it, and leaves it alone.
#[test]
fn a_run_folder_in_use_refuses_a_second_writer() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let rows: String = (0..40).map(|i| format!("{i},{}\n", i % 2)).collect();
    std::fs::write(w.join("t.csv"), format!("x,y\n{rows}")).unwrap();
    let first = casebook_core::run::RunDir::create(&w.join("runs"), Some("s"), "logreg").unwrap();
    let args = ["logreg", "train", "t.csv", "--target", "y", "--run", "s"];
    let err = fails(&args, w);
    assert!(err.contains("in use by another casebook process"), "{err}");
    assert!(!first.config_path().exists() && !first.model_path().exists());
    drop(first);
    ok(&args, w);
}

/// Issue 16: the race itself. Several trainings started at once with one
/// `--run`: exactly one writes the run, the others fail with one error line,
/// and the folder holds the winner's config and model.
#[test]
fn trainings_racing_for_one_run_folder_leave_one_run() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let rows: String = (0..200).map(|i| format!("{i},{}\n", (i / 7) % 2)).collect();
    std::fs::write(w.join("t.csv"), format!("x,y\n{rows}")).unwrap();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
                .args(["logreg", "train", "t.csv", "--target", "y", "--run", "s"])
                .args(["--quiet"])
                .current_dir(w)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = racers
        .into_iter()
        .map(|r| r.wait_with_output().unwrap())
        .collect();
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{} of 4 trainings wrote the run", winners);
    for out in outputs.iter().filter(|o| !o.status.success()) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            errors.len() == 1
                && (errors[0].contains("in use by another") || errors[0].contains("already holds")),
            "{stderr}"
        );
    }
    ok(
        &[
            "logreg",
            "eval",
            "runs/s/model.casebook",
            "t.csv",
            "--run",
            "e",
        ],
        w,
    );
}

/// A column with a different value in every row (the generated tables'
/// `id`) is pointed out with the flag that leaves it out.
#[test]
fn an_id_column_is_pointed_out() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(
        &[
            "data", "tabular", "--kind", "binary", "--count", "200", "--out", "b.csv",
        ],
        w,
    );
    let train = |extra: &[&str], run: &str| {
        let mut args = vec![
            "logreg", "train", "b.csv", "--target", "approved", "--run", run,
        ];
        args.extend(extra);
        ok(&args, w)
    };
    assert!(train(&[], "with-id").contains("--ignore id"));
    assert!(!train(&["--ignore", "id"], "without").contains("like an ID"));
}

/// After measuring on the held-out rows, the saved model is fit again on
/// every row: it predicts as a model trained with no holdout does.
#[test]
fn the_saved_model_is_refit_on_every_row() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(
        &[
            "data", "tabular", "--kind", "binary", "--count", "300", "--out", "b.csv",
        ],
        w,
    );
    let probabilities = |holdout: &str| -> Vec<f64> {
        let run = format!("h{holdout}");
        let args = [
            "logreg",
            "train",
            "b.csv",
            "--target",
            "approved",
            "--ignore",
            "id",
            "--holdout",
            holdout,
            "--run",
            &run,
        ];
        ok(&args, w);
        let model = format!("runs/{run}/model.casebook");
        let out = format!("{run}.csv");
        ok(&["logreg", "predict", &model, "b.csv", "--out", &out], w);
        let mut reader = csv::Reader::from_path(w.join(&out)).unwrap();
        let column = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "p_yes")
            .unwrap();
        reader
            .records()
            .map(|r| r.unwrap()[column].parse().unwrap())
            .collect()
    };
    let (all, refit) = (probabilities("0"), probabilities("0.3"));
    let largest = all
        .iter()
        .zip(&refit)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(largest < 1e-3, "largest difference {largest}");
}
