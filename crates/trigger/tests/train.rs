//! Training end to end on the built-in pools: the loss falls and the run
//! folder holds a usable model and report. (Kill and `--resume` is tested
//! through the CLI in `crates/cli/tests/trigger.rs`.)

use casebook_core::run::RunDir;
use casebook_trigger::infer::TriggerModel;
use casebook_trigger::model::Preset;
use casebook_trigger::train::{train, TrainConfig};

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
    let outcome = train(&config(60), run, true).unwrap();
    let first = &outcome.history[0];
    let last = outcome.history.last().unwrap();
    assert!(
        last.train_loss < first.train_loss && last.val_loss < 0.9 * first.val_loss,
        "loss did not fall: {:?}",
        outcome
            .history
            .iter()
            .map(|r| (r.train_loss, r.val_loss))
            .collect::<Vec<_>>()
    );
    let model = TriggerModel::load(&outcome.run.model_path()).unwrap();
    assert_eq!(model.word, "activate");
    let report = std::fs::read_to_string(outcome.run.report_path()).unwrap();
    assert!(report.contains("DET curve") && report.contains("<svg"));
}
