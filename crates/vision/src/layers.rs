//! Network building blocks shared by the image cases. They are burn's `nn`
//! modules, used only through these types, so faster kernels can be swapped
//! in here without touching the cases' data, training or reports.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Conv 3×3 (same padding, no bias: batch norm has one) → batch norm → ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    pub fn new(channels_in: usize, channels_out: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([channels_in, channels_out], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(channels_out).init(device),
        }
    }

    /// `[batch, channels_in, h, w]` → `[batch, channels_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(crate::norm::batch_norm(
            &self.norm,
            crate::conv::conv2d_forward(&self.conv, x),
        ))
    }
}

/// Sets a convolution's weights to He-normal values (std √(2 / fan-in)) from
/// `rng`, and its bias to zero. Networks built this way from a seeded
/// generator are the same everywhere, whatever else draws from burn's
/// generator (one per device, shared by all work on it).
pub fn he_normal(conv: &mut Conv2d, rng: &mut impl Rng) {
    let device = conv.weight.val().device();
    let [c_out, c_in, kh, kw] = conv.weight.val().dims();
    let normal = Normal::new(0.0, (2.0 / (c_in * kh * kw) as f32).sqrt())
        .expect("a positive standard deviation");
    let values: Vec<f32> = (0..c_out * c_in * kh * kw)
        .map(|_| normal.sample(rng))
        .collect();
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [c_out, c_in, kh, kw]),
        &device,
    ));
    if let Some(bias) = &conv.bias {
        conv.bias = Some(Param::from_tensor(bias.val().zeros_like()));
    }
}

pub use crate::pad::reflect_pad;
