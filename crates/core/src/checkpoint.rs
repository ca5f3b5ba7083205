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
use std::collections::BTreeMap;

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
    // burn panics loading a tensor of another dtype (I32, say) into a float
    // parameter (found by fuzzing, fuzz/regressions/model_file/
    // weights-int-dtype.casebook); every parameter here is a float.
    let tensors = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .and_then(burn_pack::Reader::into_tensors)
        .map_err(|e| anyhow!("weights are damaged: {e}"))?;
    if let Some(odd) = tensors.iter().find(|t| !t.dtype.is_float()) {
        return Err(anyhow!(
            "weights are damaged: {} holds {:?} values where a float is expected",
            odd.name,
            odd.dtype
        ));
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow!("weights are damaged: {e}"))?;
    module
        .try_load_record(record)
        .map_err(|e| anyhow!("weights do not fit the architecture in the model file: {e}"))
}

/// One tensor of saved weights, as [`weight_values`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightValues {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// The values' bytes, little-endian.
    pub data: Vec<u8>,
}

/// The tensors of weights saved by [`module_to_bytes`], by name: dtype,
/// shape and data, without the parameter ids burn stores beside them. Those
/// are drawn afresh in every process, so the same weights saved twice differ
/// in bytes; these values do not.
pub fn weight_values(bytes: &[u8]) -> Result<BTreeMap<String, WeightValues>> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| anyhow!("weights are damaged: {e}"))?;
    reader
        .into_tensors()
        .map_err(|e| anyhow!("weights are damaged: {e}"))?
        .into_iter()
        .map(|tensor| {
            let (name, dtype, shape, _param_id, data) = tensor
                .into_parts()
                .map_err(|e| anyhow!("weights are damaged: {e}"))?;
            let values = WeightValues {
                dtype: format!("{dtype:?}"),
                shape: shape.to_vec(),
                data: data.to_vec(),
            };
            Ok((name, values))
        })
        .collect()
}

const MODEL: &str = "model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "state.json";
/// CRC-32 of every other file, so a damaged checkpoint is refused rather than
/// resumed into a different model (as model files are checked).
const CHECKSUMS: &str = "checksums.json";

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
    let optim_bytes = optimizer
        .into_bytes()
        .map_err(|e| anyhow!("cannot serialise optimizer: {e}"))?;
    let files = [
        (MODEL, module_to_bytes(module)?),
        (OPTIMIZER, optim_bytes[..].to_vec()),
        (STATE, serde_json::to_vec_pretty(state)?),
    ];
    let checksums: std::collections::BTreeMap<_, _> = files
        .iter()
        .map(|(name, bytes)| (*name, crc32fast::hash(bytes)))
        .collect();
    let written = files
        .into_iter()
        .chain([(CHECKSUMS, serde_json::to_vec_pretty(&checksums)?)])
        .try_for_each(|(name, bytes)| {
            let path = staging.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
        });
    if let Err(e) = written {
        // A full disk: nothing half-written stays behind.
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&previous);
    if dir.exists() {
        std::fs::rename(dir, &previous)
            .with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    std::fs::rename(&staging, dir)
        .with_context(|| format!("cannot move the new checkpoint to {}", dir.display()))?;
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
    // Checkpoints written before the checksums have none to compare.
    let checksums: Option<std::collections::BTreeMap<String, u32>> =
        match std::fs::read(dir.join(CHECKSUMS)) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("checkpoint {} is damaged (its checksums)", dir.display())
            })?),
            Err(_) => None,
        };
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        if let Some(sums) = &checksums {
            if sums.get(name) != Some(&crc32fast::hash(&bytes)) {
                return Err(anyhow!(
                    "checkpoint {} is damaged (checksum mismatch); start the run again",
                    path.display()
                ));
            }
        }
        Ok(bytes)
    };
    let module = module_from_bytes(module, &read(MODEL)?)?;
    let optimizer = optimizer
        .from_bytes(Bytes::from_bytes_vec(read(OPTIMIZER)?))
        .map_err(|e| anyhow!("optimizer checkpoint is damaged: {e}"))?;
    let state = serde_json::from_slice(&read(STATE)?).context("checkpoint state is damaged")?;
    Ok((module, optimizer, state))
}
