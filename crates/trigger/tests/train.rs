//! Training end to end on the built-in pools: the loss falls, the run folder
//! holds a usable model and report, and a resumed run continues exactly.

use casebook_core::run::RunDir;
use casebook_trigger::infer::TriggerModel;
use casebook_trigger::model::Preset;
use casebook_trigger::train::{resume, train, TrainConfig};

/// burn's random state is per device and global: runs in parallel tests
/// would draw each other's dropout masks, so these tests take turns.
static DEVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config(steps: usize) -> TrainConfig {
    TrainConfig {
        preset: Preset::Small,
        steps,
        batch_size: 4,
        eval_every: 10,
        val_clips: 8,
        seed: 7,
        ..TrainConfig::default()
    }
}

#[test]
fn loss_falls_and_the_run_folder_is_complete() {
    let _turn = DEVICE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), Some("t"), "trigger").unwrap();
    let outcome = train(&config(40), run, true).unwrap();
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

#[test]
fn resumed_run_continues_exactly() {
    let _turn = DEVICE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let whole = train(
        &config(20),
        RunDir::create(dir.path(), Some("whole"), "trigger").unwrap(),
        true,
    )
    .unwrap();
    // Stop after the first checkpoint, then resume with the full step count.
    let run = RunDir::create(dir.path(), Some("split"), "trigger").unwrap();
    let path = run.path().to_path_buf();
    train(&config(10), run, true).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("config.json")).unwrap()).unwrap();
    cfg["steps"] = 20.into();
    std::fs::write(path.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    let resumed = resume(RunDir::open(&path).unwrap(), true).unwrap();
    let losses = |h: &[casebook_core::run::EpochRecord]| {
        h.iter()
            .map(|r| (r.train_loss, r.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&resumed.history), losses(&whole.history));
}
