//! Shared pieces of casebook, written once and used by every case study:
//! dataset splits, class balance, label encoding, metrics, the self-describing
//! model file, run folders with their HTML report, training checkpoints and
//! progress display.

pub mod balance;
pub mod checkpoint;
pub mod device;
pub mod encoding;
pub mod fsx;
pub mod human;
pub mod metrics;
pub mod model_file;
pub mod plot;
pub mod progress;
pub mod report;
pub mod run;
pub mod split;

/// The casebook version written into every model file and run config.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
