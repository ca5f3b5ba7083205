//! Module weights as bytes (for model files) and training checkpoints: module,
//! optimizer state and loop state, replaced as a whole so a killed run resumes
//! from the last complete epoch.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{de::DeserializeOwned, Serialize};

/// Serialises a module's parameters (burn's burnpack format).
pub fn module_to_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow!("cannot serialise weights: {e}"))?;
    Ok(bytes.to_vec())
}

/// Loads parameters saved by [`module_to_bytes`] into `module`, checking shapes.
pub fn module_from_bytes<M: Module>(module: M, bytes: &[u8]) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow!("weights are damaged: {e}"))?;
    module
        .try_load_record(record)
        .map_err(|e| anyhow!("weights do not fit the architecture in the model file: {e}"))
}

const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "state.json";

/// Whether `dir` holds a checkpoint (or the one a kill left half-replaced).
pub fn exists(dir: &Path) -> bool {
    dir.join(STATE).exists() || dir.with_extension("old").join(STATE).exists()
}

/// Saves a checkpoint to `dir`, replacing any previous one in one rename.
pub fn save<M: Module, S: Serialize>(
    dir: &Path,
    module: &M,
    optimizer: &ModuleOptimizer,
    state: &S,
) -> Result<()> {
    let staging = dir.with_extension("new");
    let previous = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    std::fs::write(staging.join(MODEL), module_to_bytes(module)?)?;
    let optim_bytes = optimizer
        .into_bytes()
        .map_err(|e| anyhow!("cannot serialise optimizer: {e}"))?;
    std::fs::write(staging.join(OPTIMIZER), &optim_bytes[..])?;
    std::fs::write(staging.join(STATE), serde_json::to_vec_pretty(state)?)?;
    let _ = std::fs::remove_dir_all(&previous);
    if dir.exists() {
        std::fs::rename(dir, &previous)?;
    }
    std::fs::rename(&staging, dir)?;
    let _ = std::fs::remove_dir_all(&previous);
    Ok(())
}

/// Loads the checkpoint in `dir` (or the one a kill left half-replaced) into
/// a freshly initialised module and optimizer.
pub fn load<M: Module, S: DeserializeOwned>(
    dir: &Path,
    module: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, S)> {
    let previous = dir.with_extension("old");
    let dir = if dir.join(STATE).exists() {
        dir.to_path_buf()
    } else {
        previous
    };
    if !dir.join(STATE).exists() {
        return Err(anyhow!(
            "no checkpoint in {}: the run stopped before its first epoch ended; start it again",
            dir.display()
        ));
    }
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .with_context(|| format!("cannot read checkpoint {}", dir.join(name).display()))
    };
    let module = module_from_bytes(module, &read(MODEL)?)?;
    let optimizer = optimizer
        .from_bytes(Bytes::from_bytes_vec(read(OPTIMIZER)?))
        .map_err(|e| anyhow!("optimizer checkpoint is damaged: {e}"))?;
    let state = serde_json::from_slice(&read(STATE)?).context("checkpoint state is damaged")?;
    Ok((module, optimizer, state))
}
