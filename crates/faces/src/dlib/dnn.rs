//! dlib dnn network files (`dlib/dnn/core.h`): a loss wrapping nested
//! `add_layer`s. Serialising the outermost layer writes its version, then its
//! whole sub-network, then its own details, so a file reads as: the loss, one
//! version integer per wrapper from the outside in (tag and skip wrappers
//! included), the input layer, then each computing layer's details from the
//! input outwards, each followed by training state that inference ignores.
//!
//! Tags and skips carry no data of their own and `add_prev_` names no tag, so
//! the file alone does not say where residual branches join: the model that
//! uses a [`Net`] knows its topology and checks the layer list against it.

use super::{DlibError, Reader};

/// A parsed dlib network: its loss, input layer and computing layers in
/// forward order, and the number of wrappers (computing layers + tags + skips).
#[derive(Debug, Clone)]
pub struct Net {
    pub loss: Loss,
    pub input: Input,
    pub layers: Vec<Layer>,
    pub wrappers: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Loss {
    /// `loss_metric_`: metric learning; `distance_threshold` is what dlib's
    /// training pulled same-person pairs under.
    Metric {
        margin: f32,
        distance_threshold: f32,
    },
    /// `loss_mmod_`: max-margin object detection.
    Mmod(super::mmod::MmodOptions),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `input_rgb_image_sized<rows, cols>`: (pixel − mean) / 256 per channel.
    RgbSized {
        mean: [f32; 3],
        rows: usize,
        cols: usize,
    },
    /// `input_rgb_image_pyramid<pyramid_down<N>>`: the image and its smaller
    /// copies tiled into one picture, `padding` apart, `outer_padding` from
    /// the border. N is in the C++ type, not the file.
    RgbPyramid {
        mean: [f32; 3],
        padding: usize,
        outer_padding: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// `con_`: weights `[filters, channels, rows, cols]`, cross-correlation.
    Conv {
        filters: usize,
        channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
    /// `affine_`: per-channel y = gamma·x + beta (dlib's inference form of batch norm).
    Affine {
        gamma: Vec<f32>,
        beta: Vec<f32>,
    },
    Relu,
    MaxPool(Pool),
    AvgPool(Pool),
    AddPrev,
    /// `fc_`: weights `[inputs, outputs]` row-major (y = x·W + b).
    Fc {
        inputs: usize,
        outputs: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
}

/// A pooling window; a zero kernel size means "the whole input" (`avg_pool_everything`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// Largest version number of any wrapper; anything larger is a string length.
const MAX_WRAPPER_VERSION: i64 = 3;

pub fn parse(bytes: &[u8]) -> Result<Net, DlibError> {
    let mut r = Reader::new(bytes);
    r.expect_version(&[1], "add_loss_layer")?;
    let loss = loss(&mut r)?;
    let mut versions = Vec::new();
    while r.peek_int()? <= MAX_WRAPPER_VERSION {
        versions.push(r.int()?);
    }
    let innermost = *versions
        .last()
        .ok_or_else(|| r.unexpected("a network without layers"))?;
    if !(2..=3).contains(&innermost) {
        return Err(r.unexpected(format!(
            "input add_layer version {innermost} (this reader knows 2 and 3)"
        )));
    }
    let input = input(&mut r)?;
    let mut layers = vec![layer(&mut r)?];
    training_state(&mut r, 3)?;
    if innermost == 3 {
        r.int()?; // sample expansion factor
    }
    while !r.at_end() {
        layers.push(layer(&mut r)?);
        training_state(&mut r, 2)?;
        // add_layer version 2 also stores its parameter gradient (a tensor,
        // whose version integer is 2); a following layer starts with a name.
        if !r.at_end() && r.peek_int()? == 2 {
            r.tensor()?;
        }
    }
    Ok(Net {
        loss,
        input,
        layers,
        wrappers: versions.len(),
    })
}

/// The flags and tensors an `add_layer` keeps for training.
fn training_state(r: &mut Reader, tensors: usize) -> Result<(), DlibError> {
    for _ in 0..3 {
        r.bool()?;
    }
    for _ in 0..tensors {
        r.tensor()?;
    }
    Ok(())
}

fn loss(r: &mut Reader) -> Result<Loss, DlibError> {
    let tag = r.tag(&["loss_metric_", "loss_metric_2", "loss_mmod_"])?;
    Ok(match tag.as_str() {
        // The first version hard-coded these values.
        "loss_metric_" => Loss::Metric {
            margin: 0.1,
            distance_threshold: 0.75,
        },
        "loss_metric_2" => Loss::Metric {
            margin: r.float()? as f32,
            distance_threshold: r.float()? as f32,
        },
        _ => Loss::Mmod(super::mmod::MmodOptions::read(r)?),
    })
}

fn mean(r: &mut Reader) -> Result<[f32; 3], DlibError> {
    Ok([r.float()? as f32, r.float()? as f32, r.float()? as f32])
}

fn input(r: &mut Reader) -> Result<Input, DlibError> {
    let tag = r.tag(&[
        "input_rgb_image_sized",
        "input_rgb_image_pyramid",
        "input_rgb_image_pyramid2",
    ])?;
    Ok(if tag == "input_rgb_image_sized" {
        let mean = mean(r)?;
        Input::RgbSized {
            mean,
            rows: r.count("rows")?,
            cols: r.count("cols")?,
        }
    } else {
        let mean = mean(r)?;
        let (padding, outer_padding) = super::mmod::read_pyramid_padding(r, &tag)?;
        Input::RgbPyramid {
            mean,
            padding,
            outer_padding,
        }
    })
}

fn layer(r: &mut Reader) -> Result<Layer, DlibError> {
    let tag = r.tag(&[
        "con_4",
        "con_5",
        "con_6",
        "affine_",
        "affine_2",
        "bn_con2",
        "relu_",
        "relu_2",
        "max_pool_2",
        "avg_pool_2",
        "add_prev_",
        "fc_2",
        "fc_3",
    ])?;
    Ok(match tag.as_str() {
        "con_4" | "con_5" | "con_6" => conv(r, &tag)?,
        "affine_" | "affine_2" => {
            let params = r.tensor()?;
            let gamma = r.alias_tensor()?;
            let beta = r.alias_tensor()?;
            r.int()?; // mode: per channel or per element; both store one value per gamma entry
            if tag == "affine_2" && r.bool()? {
                return Err(r.unexpected("a disabled affine layer"));
            }
            let n: usize = gamma.iter().product();
            if beta != gamma || params.data.len() != 2 * n {
                return Err(r.unexpected("affine parameters of inconsistent sizes"));
            }
            let (gamma, beta) = params.data.split_at(n);
            Layer::Affine {
                gamma: gamma.to_vec(),
                beta: beta.to_vec(),
            }
        }
        "bn_con2" => batch_norm_as_affine(r)?,
        "relu_" => Layer::Relu,
        "relu_2" => {
            if r.bool()? {
                return Err(r.unexpected("a disabled relu layer"));
            }
            Layer::Relu
        }
        "max_pool_2" => Layer::MaxPool(pool(r)?),
        "avg_pool_2" => Layer::AvgPool(pool(r)?),
        "add_prev_" => Layer::AddPrev,
        _ => fc(r, &tag)?,
    })
}

/// `bn_con2`, which dlib's `affine_` reads by folding the running statistics
/// in (`affine_(const bn_&)`, in f32 as dlib does):
/// gamma' = gamma / sqrt(var + eps), beta' = beta − gamma'·mean.
fn batch_norm_as_affine(r: &mut Reader) -> Result<Layer, DlibError> {
    let params = r.tensor()?;
    let gamma_dims = r.alias_tensor()?;
    r.alias_tensor()?;
    r.tensor()?; // batch means and inverse deviations: training only
    r.tensor()?;
    let running_means = r.tensor()?;
    let running_variances = r.tensor()?;
    r.count("batch norm updates")?;
    r.count("batch norm window")?;
    learning_rate_multipliers(r)?;
    let eps = r.float()? as f32;
    let n: usize = gamma_dims.iter().product();
    if params.data.len() != 2 * n
        || running_means.data.len() != n
        || running_variances.data.len() != n
    {
        return Err(r.unexpected("batch norm parameters of inconsistent sizes"));
    }
    let (gamma, beta) = params.data.split_at(n);
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&running_variances.data)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(&scale)
        .zip(&running_means.data)
        .map(|((b, s), m)| b - s * m)
        .collect();
    Ok(Layer::Affine {
        gamma: scale,
        beta: shift,
    })
}

fn pool(r: &mut Reader) -> Result<Pool, DlibError> {
    let kernel = [r.count("pool rows")?, r.count("pool cols")?];
    let stride = [r.count("pool stride")?, r.count("pool stride")?];
    let padding = [r.count("pool padding")?, r.count("pool padding")?];
    if stride.contains(&0) {
        return Err(r.unexpected("a pool with stride 0"));
    }
    Ok(Pool {
        kernel,
        stride,
        padding,
    })
}

fn learning_rate_multipliers(r: &mut Reader) -> Result<(), DlibError> {
    for _ in 0..4 {
        r.float()?;
    }
    Ok(())
}

fn conv(r: &mut Reader, tag: &str) -> Result<Layer, DlibError> {
    let params = r.tensor()?;
    let filters = r.count("filters")?;
    let kernel = [r.count("kernel rows")?, r.count("kernel cols")?];
    let stride = [r.count("stride")?, r.count("stride")?];
    let padding = [r.count("padding")?, r.count("padding")?];
    let weights_dims = r.alias_tensor()?;
    let bias_dims = r.alias_tensor()?;
    learning_rate_multipliers(r)?;
    let use_bias = if tag == "con_4" { true } else { r.bool()? };
    if tag == "con_6" && r.bool()? {
        return Err(r.unexpected("a convolution with a fused relu (con_6 use_relu)"));
    }
    let [f, channels, kr, kc] = weights_dims;
    if f != filters || [kr, kc] != kernel || stride.contains(&0) {
        return Err(r.unexpected("convolution shape does not match its weights"));
    }
    let n_weights = filters * channels * kr * kc;
    let n_bias = if use_bias {
        bias_dims.iter().product()
    } else {
        0
    };
    if (use_bias && n_bias != filters) || params.data.len() != n_weights + n_bias {
        return Err(r.unexpected(format!(
            "convolution holds {} parameters, expected {}",
            params.data.len(),
            n_weights + n_bias
        )));
    }
    let (weights, bias) = params.data.split_at(n_weights);
    Ok(Layer::Conv {
        filters,
        channels,
        kernel,
        stride,
        padding,
        weights: weights.to_vec(),
        bias: use_bias.then(|| bias.to_vec()),
    })
}

fn fc(r: &mut Reader, tag: &str) -> Result<Layer, DlibError> {
    let outputs = r.count("fc outputs")?;
    let inputs = r.count("fc inputs")?;
    let params = r.tensor()?;
    r.alias_tensor()?;
    r.alias_tensor()?;
    // FC_HAS_BIAS = 0 stores a bias row after the weights, FC_NO_BIAS = 1 does not.
    let has_bias_row = r.int()? == 0;
    learning_rate_multipliers(r)?;
    let use_bias = has_bias_row && (tag == "fc_2" || r.bool()?);
    if tag == "fc_3" && !has_bias_row {
        r.bool()?;
    }
    let n_weights = inputs * outputs;
    let n = n_weights + if has_bias_row { outputs } else { 0 };
    if params.data.len() != n {
        return Err(r.unexpected(format!(
            "fc layer holds {} parameters, expected {n}",
            params.data.len()
        )));
    }
    let (weights, bias) = params.data.split_at(n_weights);
    Ok(Layer::Fc {
        inputs,
        outputs,
        weights: weights.to_vec(),
        bias: use_bias.then(|| bias.to_vec()),
    })
}
