//! Shared pieces of casebook, written once and used by every case study:
//! dataset splits, class balance, label encoding, metrics, the self-describing
//! model file, run folders with their HTML report, training checkpoints,
//! seeded random streams, and the observer through which long work reports
//! progress (core, like every library crate, knows nothing of terminals).

pub mod balance;
pub mod checkpoint;
pub mod choice;
pub mod classification;
pub mod config;
pub mod device;
pub mod encoding;
pub mod fingerprint;
pub mod fsx;
pub mod human;
pub mod interval;
pub mod memory;
pub mod metrics;
pub mod model_file;
pub mod observe;
pub mod plot;
pub mod report;
pub mod run;
pub mod seed;
pub mod split;
pub mod tensor;

/// The casebook version written into every model file and run config.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
