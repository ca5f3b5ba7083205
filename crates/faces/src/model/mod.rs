//! The networks: dlib's ResNet encoder and MMOD detector as burn modules
//! (loaded from dlib files or from casebook model files), and the layers
//! they share.

pub mod detector;
pub mod encoder;
pub mod landmarks;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use casebook_vision::conv::{conv2d_forward, conv2d_fused, Fusion};

use crate::dlib::dnn::Layer;

/// dlib's `affine_` layer: y = gamma·x + beta per channel. It is batch norm
/// folded for inference; it stays trainable so a loaded network fine-tunes.
#[derive(Module, Debug)]
pub struct Affine {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
}

impl Affine {
    /// The identity (gamma 1, beta 0), where training starts from scratch.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
        }
    }

    /// `[batch, channels, h, w]` → same shape.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [channels] = self.gamma.dims();
        x * self.gamma.val().reshape([1, channels, 1, 1])
            + self.beta.val().reshape([1, channels, 1, 1])
    }
}

/// A convolution followed by its affine layer, the unit both dlib networks
/// are built from.
#[derive(Module, Debug)]
pub struct ConvAffine {
    conv: Conv2d,
    affine: Affine,
    /// Whether the affine is folded into `conv` ([`ConvAffine::folded`]);
    /// `affine` is then the identity and is skipped.
    folded: bool,
}

impl ConvAffine {
    pub fn new(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(channels, kernel, stride, device),
            affine: Affine::new(channels[1], device),
            folded: false,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_fused(x, false)
    }

    /// `relu(self.forward(x))`; once folded, the ReLU runs inside the
    /// convolution's kernel.
    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_fused(x, true)
    }

    fn forward_fused(&self, x: Tensor<4>, rectify: bool) -> Tensor<4> {
        if self.folded {
            let fusion = Fusion {
                relu: rectify,
                ..Fusion::default()
            };
            return conv2d_fused(&self.conv, x, fusion);
        }
        let out = self.affine.forward(conv2d_forward(&self.conv, x));
        if rectify {
            relu(out)
        } else {
            out
        }
    }

    /// This layer for inference, its affine folded into the convolution:
    /// γ·(w∗x + b) + β = (γ·w)∗x + (γ·b + β). A pass is then one kernel
    /// where it was four passes over the output (convolution, scale, shift,
    /// ReLU), about a tenth of the face encoder's time. Outputs agree to
    /// float rounding. Training keeps the unfolded layer, whose γ and β are
    /// parameters of their own.
    pub fn folded(&self) -> Self {
        let [channels] = self.affine.gamma.dims();
        let gamma = self.affine.gamma.val();
        let shift = self.affine.beta.val();
        let mut conv = self.conv.clone();
        conv.weight =
            Param::from_tensor(self.conv.weight.val() * gamma.clone().reshape([channels, 1, 1, 1]));
        let bias = match &self.conv.bias {
            Some(bias) => bias.val() * gamma + shift,
            None => shift,
        };
        conv.bias = Some(Param::from_tensor(bias));
        Self {
            affine: Affine::new(channels, &conv.weight.device()),
            conv,
            folded: true,
        }
    }
}

/// dlib's convolution padding rule: kernel/2 at stride 1, none otherwise.
fn dlib_padding(kernel: usize, stride: usize) -> usize {
    if stride == 1 {
        kernel / 2
    } else {
        0
    }
}

pub(crate) fn conv(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let padding = dlib_padding(kernel, stride);
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .init(device)
}

fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Takes the next layers of a dlib network in order, checking each against
/// what the module being built expects.
pub(crate) struct LayerQueue<'a> {
    layers: std::slice::Iter<'a, Layer>,
    taken: usize,
}

impl<'a> LayerQueue<'a> {
    pub fn new(layers: &'a [Layer]) -> Self {
        Self {
            layers: layers.iter(),
            taken: 0,
        }
    }

    fn next(&mut self, expected: &str) -> anyhow::Result<&'a Layer> {
        self.taken += 1;
        self.layers.next().ok_or_else(|| {
            anyhow::anyhow!(
                "the network ends before layer {} (expected {expected})",
                self.taken
            )
        })
    }

    fn mismatch(&self, expected: &str, found: &Layer) -> anyhow::Error {
        let found = format!("{found:?}");
        let found: String = found.chars().take(60).collect();
        anyhow::anyhow!("layer {} is not {expected} (found {found}…)", self.taken)
    }

    /// A convolution with the given shape, loaded into a burn `Conv2d`.
    pub fn conv(
        &mut self,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &Device,
    ) -> anyhow::Result<Conv2d> {
        let what = format!(
            "a {kernel}×{kernel} convolution {}→{} with stride {stride}",
            channels[0], channels[1]
        );
        let layer = self.next(&what)?;
        let padding = dlib_padding(kernel, stride);
        match layer {
            Layer::Conv {
                filters,
                channels: c,
                kernel: k,
                stride: s,
                padding: p,
                weights,
                bias,
            } if [*c, *filters] == channels
                && *k == [kernel; 2]
                && *s == [stride; 2]
                && *p == [padding; 2] =>
            {
                let mut conv = conv(channels, kernel, stride, device);
                conv.weight = Param::from_tensor(tensor(
                    weights,
                    [channels[1], channels[0], kernel, kernel],
                    device,
                ));
                conv.bias = bias
                    .as_ref()
                    .map(|b| Param::from_tensor(tensor(b, [channels[1]], device)));
                Ok(conv)
            }
            other => Err(self.mismatch(&what, other)),
        }
    }

    pub fn affine(&mut self, channels: usize, device: &Device) -> anyhow::Result<Affine> {
        let what = format!("an affine layer over {channels} channels");
        match self.next(&what)? {
            Layer::Affine { gamma, beta } if gamma.len() == channels => Ok(Affine {
                gamma: Param::from_tensor(tensor(gamma, [channels], device)),
                beta: Param::from_tensor(tensor(beta, [channels], device)),
            }),
            other => Err(self.mismatch(&what, other)),
        }
    }

    pub fn conv_affine(
        &mut self,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &Device,
    ) -> anyhow::Result<ConvAffine> {
        Ok(ConvAffine {
            conv: self.conv(channels, kernel, stride, device)?,
            affine: self.affine(channels[1], device)?,
            folded: false,
        })
    }

    /// A layer without parameters that must equal `expected`.
    pub fn fixed(&mut self, expected: Layer, name: &str) -> anyhow::Result<()> {
        let layer = self.next(name)?;
        if *layer == expected {
            Ok(())
        } else {
            Err(self.mismatch(name, layer))
        }
    }

    pub fn fc(&mut self, inputs: usize, outputs: usize) -> anyhow::Result<&'a [f32]> {
        let what = format!("a fully connected layer {inputs}→{outputs} without bias");
        match self.next(&what)? {
            Layer::Fc {
                inputs: i,
                outputs: o,
                weights,
                bias: None,
            } if (*i, *o) == (inputs, outputs) => Ok(weights),
            other => Err(self.mismatch(&what, other)),
        }
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        match self.layers.next() {
            None => Ok(()),
            Some(extra) => {
                self.taken += 1;
                Err(self.mismatch("the end of the network", extra))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use casebook_core::device::compute_device;

    /// A folded layer gives the unfolded one's outputs, with and without
    /// its ReLU and its convolution's bias, at strides and kernel sizes of
    /// both dlib networks.
    #[test]
    fn folding_the_affine_keeps_the_outputs() {
        let device = compute_device();
        let normal = |dims: Vec<usize>| {
            Tensor::<1>::random(
                [dims.iter().product::<usize>()],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
        };
        for (channels, kernel, stride, with_bias) in [
            ([3, 8], 7, 2, true),
            ([16, 16], 3, 1, false),
            ([16, 32], 3, 2, true),
            ([4, 5], 5, 1, false),
        ] {
            let mut layer = ConvAffine::new(channels, kernel, stride, &device);
            layer.affine.gamma = Param::from_tensor(normal(vec![channels[1]]));
            layer.affine.beta = Param::from_tensor(normal(vec![channels[1]]));
            if !with_bias {
                layer.conv.bias = None;
            }
            let x = normal(vec![2, channels[0], 23, 19]).reshape([2, channels[0], 23, 19]);
            let folded = layer.folded();
            for (plain, fused) in [
                (layer.forward(x.clone()), folded.forward(x.clone())),
                (
                    layer.forward_relu(x.clone()),
                    folded.forward_relu(x.clone()),
                ),
            ] {
                let (plain, fused) = (
                    casebook_core::tensor::values(plain),
                    casebook_core::tensor::values(fused),
                );
                assert_eq!(plain.len(), fused.len());
                let worst = plain
                    .iter()
                    .zip(&fused)
                    .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "{channels:?} {kernel}×{kernel}/{stride}: {worst}"
                );
            }
            assert!(
                casebook_core::tensor::values(folded.forward_relu(x)).contains(&0.0),
                "the fused ReLU should clip"
            );
        }
    }
}
