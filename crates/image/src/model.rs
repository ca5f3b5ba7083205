//! The network: a small VGG-style CNN. Each block is conv 3×3 → batch norm →
//! ReLU, with 2×2 max-pooling between blocks; then global average pooling,
//! dropout and a linear classifier. Global pooling makes the same weights
//! work at any input resolution, which the resolution study relies on.
//!
//! The conv blocks are `casebook_vision::layers::ConvBlock`, shared with the
//! other image cases; the rest are burn's `nn` modules, used only here.

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use casebook_vision::layers::ConvBlock;
use casebook_vision::pool::max_pool2d_forward;

/// Architecture hyper-parameters, stored in the model file.
#[derive(Config, Debug, PartialEq)]
pub struct CnnConfig {
    pub num_classes: usize,
    /// Output channels of each conv block.
    #[config(default = "vec![16, 32, 64, 64]")]
    pub widths: Vec<usize>,
    #[config(default = 0.2)]
    pub dropout: f64,
}

#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    pool: MaxPool2d,
    global_pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    head: Linear,
}

impl CnnConfig {
    pub fn init(&self, device: &Device) -> Cnn {
        let mut blocks = Vec::new();
        let mut channels = 3;
        for &w in &self.widths {
            blocks.push(ConvBlock::new(channels, w, device));
            channels = w;
        }
        Cnn {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            global_pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(channels, self.num_classes).init(device),
        }
    }
}

impl Cnn {
    /// Images `[batch, 3, h, w]` → class logits `[batch, classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            // Pool between blocks while the map is still large enough.
            let [_, _, h, w] = x.dims();
            if i < last && h >= 2 && w >= 2 {
                x = max_pool2d_forward(&self.pool, x);
            }
        }
        let x = self.global_pool.forward(x).flatten::<2>(1, 3);
        self.head.forward(self.dropout.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_resolution_gives_one_logit_per_class() {
        let device = Device::flex();
        let model = CnnConfig::new(3).with_widths(vec![4, 8]).init(&device);
        for r in [8, 16, 33] {
            let out = model.forward(Tensor::zeros([2, 3, r, r], &device));
            assert_eq!(out.dims(), [2, 3]);
        }
    }
}
