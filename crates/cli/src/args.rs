//! Argument groups that several commands share, flattened into each.

use std::path::PathBuf;

use anyhow::Result;
use casebook_core::run::RunDir;
use clap::Args;

/// Where a command writes its run folder.
#[derive(Args)]
pub struct RunArgs {
    /// Run folder name under --runs-dir [default: <command>-<time>].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

impl RunArgs {
    /// A new run folder; `prefix` names it when --run is not given.
    pub fn create(&self, prefix: &str) -> Result<RunDir> {
        RunDir::create(&self.runs_dir, self.run.as_deref(), prefix)
    }
}

/// The seed every random draw of a command derives from.
#[derive(Args)]
pub struct SeedArg {
    /// Random seed: the same seed gives the same result.
    #[arg(long, default_value_t = casebook_core::seed::DEFAULT)]
    pub seed: u64,
}
