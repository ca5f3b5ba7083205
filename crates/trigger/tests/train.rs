//! Training end to end on the built-in pools: the loss falls and the run
//! folder holds a usable model and report. (Kill and `--resume` is tested
//! through the CLI in `crates/cli/tests/trigger.rs`.)

use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Silent, StopAfter, Stopped};
use casebook_core::run::{RunDir, Training};
use casebook_trigger::infer::TriggerModel;
use casebook_trigger::model::Preset;
use casebook_trigger::train::TrainConfig;

fn config(steps: usize) -> TrainConfig {
    TrainConfig {
        preset: Preset::Small,
        steps,
        batch_size: 4,
        learning_rate: 5e-3,
        eval_every: 20,
        val_clips: 8,
        seed: 7,
        ..TrainConfig::default()
    }
}

#[test]
fn loss_falls_and_the_run_folder_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), Some("t"), "trigger").unwrap();
    let outcome = config(60).train(run, &Silent).unwrap();
    let first = &outcome.history[0];
    let last = outcome.history.last().unwrap();
    assert!(
        last.get("train_loss") < first.get("train_loss")
            && last.get("val_loss") < 0.9 * first.get("val_loss"),
        "loss did not fall: {:?}",
        outcome
            .history
            .iter()
            .map(|r| (r.get("train_loss"), r.get("val_loss")))
            .collect::<Vec<_>>()
    );
    let model = TriggerModel::load(&outcome.run.model_path()).unwrap();
    assert_eq!(model.word, "activate");
    let report = std::fs::read_to_string(outcome.run.report_path()).unwrap();
    assert!(report.contains("DET curve") && report.contains("<svg"));
}

#[test]
fn a_stopped_run_keeps_its_checkpoint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), Some("t"), "trigger").unwrap();
    let config = TrainConfig {
        steps: 12,
        eval_every: 5,
        val_clips: 4,
        ..config(0)
    };
    let stop = StopAfter::new(7);
    let err = config.train(run, &stop).unwrap_err();
    let stopped = err.downcast_ref::<Stopped>().expect("a Stopped error");
    assert!(stopped.kept.contains("step 5"), "{stopped}");
    let run = RunDir::open(&dir.path().join("t")).unwrap();
    assert!(run.has_checkpoint() && !run.model_path().exists());
    // Two flipped bytes in the weights: refused, not resumed into another model.
    let weights = run.checkpoint_dir().join("model.bpk");
    let good = std::fs::read(&weights).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x10;
    bad[middle + 1] ^= 0x01;
    std::fs::write(&weights, &bad).unwrap();
    let err = TrainConfig::resume(run.clone(), &Silent).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    std::fs::write(&weights, &good).unwrap();
    let outcome = TrainConfig::resume(run, &Silent).unwrap();
    let steps: Vec<usize> = outcome.history.iter().map(|r| r.step).collect();
    assert_eq!(steps, [5, 10, 12]);
    assert!(outcome.run.model_path().exists());
}

#[test]
fn fine_tuning_starts_from_the_given_model() {
    let dir = tempfile::tempdir().unwrap();
    let first = config(20)
        .train(
            RunDir::create(dir.path(), Some("a"), "trigger").unwrap(),
            &Silent,
        )
        .unwrap();
    let start = TriggerModel::load(&first.run.model_path()).unwrap();
    // A step with no learning rate to speak of leaves the weights where they were.
    let tuned = TrainConfig {
        init: Some(first.run.model_path().display().to_string()),
        learning_rate: 1e-12,
        steps: 1,
        eval_every: 1,
        seed: 8,
        ..config(0)
    }
    .train(
        RunDir::create(dir.path(), Some("b"), "trigger").unwrap(),
        &Silent,
    )
    .unwrap();
    let record = casebook_core::model_file::ModelFile::load(&tuned.run.model_path())
        .unwrap()
        .meta
        .training;
    assert_eq!(record["started_from"]["config"]["steps"], 20, "{record}");
    let tuned = TriggerModel::load(&tuned.run.model_path()).unwrap();
    assert_eq!(tuned.features, start.features);
    let weights = |m: &TriggerModel| {
        m.net
            .conv
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (weights(&start), weights(&tuned));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    // A fresh run of the same seed starts elsewhere.
    let fresh = TrainConfig {
        steps: 1,
        eval_every: 1,
        seed: 8,
        learning_rate: 1e-12,
        ..config(0)
    }
    .train(
        RunDir::create(dir.path(), Some("c"), "trigger").unwrap(),
        &Silent,
    )
    .unwrap();
    let fresh = TriggerModel::load(&fresh.run.model_path()).unwrap();
    assert!(weights(&fresh)
        .iter()
        .zip(&a)
        .any(|(x, y)| (x - y).abs() > 1e-3));

    // Another network size is refused before training.
    let err = TrainConfig {
        init: Some(first.run.model_path().display().to_string()),
        preset: Preset::Default,
        ..config(1)
    }
    .train(
        RunDir::create(dir.path(), Some("d"), "trigger").unwrap(),
        &Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("same --preset"), "{err}");
}
