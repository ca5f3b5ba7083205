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
    let outcome = TrainConfig::resume(run, &Silent).unwrap();
    let steps: Vec<usize> = outcome.history.iter().map(|r| r.step).collect();
    assert_eq!(steps, [5, 10, 12]);
    assert!(outcome.run.model_path().exists());
}
