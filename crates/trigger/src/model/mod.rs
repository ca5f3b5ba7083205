//! The trigger-word network, as in the lecture:
//!
//! ```text
//! spectrogram [batch, frames, bins]
//!   → Conv1D(filters, kernel, stride) → BatchNorm → ReLU → dropout
//!   → GRU → dropout → BatchNorm
//!   → GRU → dropout → BatchNorm → dropout
//!   → per-step Dense(1) → sigmoid          [batch, steps]
//! ```
//!
//! The convolution has no padding, so `steps = (frames − kernel) / stride + 1`
//! (1375 for the lecture's 5511 frames). The GRU layers are [`gru::SequenceGru`].

pub mod gru;
pub mod gru_kernel;
pub mod stream;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use gru::{SequenceGru, SequenceGruConfig};

/// Architecture hyper-parameters, stored in the model file.
#[derive(Config, Debug, PartialEq)]
pub struct TriggerNetConfig {
    /// Spectrogram bins per frame (network input width).
    pub bins: usize,
    #[config(default = 196)]
    pub filters: usize,
    #[config(default = 15)]
    pub kernel: usize,
    #[config(default = 4)]
    pub stride: usize,
    #[config(default = 128)]
    pub hidden: usize,
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// Named sizes: the lecture's model, and one that trains in minutes on 2 cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Default,
    Small,
}

impl casebook_core::choice::Choice for Preset {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Default,
            "default",
            "the lecture's network: Conv1D of 196 filters, two GRUs of 128",
        ),
        (
            Self::Small,
            "small",
            "64 filters and GRUs of 64: trains in minutes on 2 cores",
        ),
    ];
}

impl Preset {
    pub fn config(self, bins: usize) -> TriggerNetConfig {
        match self {
            Preset::Default => TriggerNetConfig::new(bins),
            Preset::Small => TriggerNetConfig::new(bins).with_filters(64).with_hidden(64),
        }
    }
}

impl TriggerNetConfig {
    /// Output steps for `frames` input frames.
    pub fn steps(&self, frames: usize) -> usize {
        if frames < self.kernel {
            0
        } else {
            (frames - self.kernel) / self.stride + 1
        }
    }

    pub fn init(&self, device: &Device) -> TriggerNet {
        TriggerNet {
            conv: Conv1dConfig::new(self.bins, self.filters, self.kernel)
                .with_stride(self.stride)
                .init(device),
            conv_norm: BatchNormConfig::new(self.filters).init(device),
            gru1: SequenceGruConfig::new(self.filters, self.hidden).init(device),
            norm1: BatchNormConfig::new(self.hidden).init(device),
            gru2: SequenceGruConfig::new(self.hidden, self.hidden).init(device),
            norm2: BatchNormConfig::new(self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(self.hidden, 1).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct TriggerNet {
    pub conv: Conv1d,
    pub conv_norm: BatchNorm,
    pub gru1: SequenceGru,
    pub norm1: BatchNorm,
    pub gru2: SequenceGru,
    pub norm2: BatchNorm,
    pub dropout: Dropout,
    pub head: Linear,
}

/// Batch norm over channels of a `[batch, steps, channels]` sequence.
fn norm_steps(norm: &BatchNorm, x: Tensor<3>) -> Tensor<3> {
    norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2)
}

impl TriggerNet {
    /// Features `[batch, frames, bins]` → per-step logits `[batch, steps]`.
    pub fn forward(&self, features: Tensor<3>) -> Tensor<2> {
        let x = self.conv.forward(features.swap_dims(1, 2)); // [b, filters, steps]
        let x = self.dropout.forward(relu(self.conv_norm.forward(x)));
        let x = x.swap_dims(1, 2); // [b, steps, filters]
        let x = norm_steps(&self.norm1, self.dropout.forward(self.gru1.forward(x)));
        let x = norm_steps(&self.norm2, self.dropout.forward(self.gru2.forward(x)));
        let x = self.dropout.forward(x);
        let [batch, steps, _] = x.dims();
        self.head.forward(x).reshape([batch, steps])
    }
}
