//! The model: one linear layer `z = xW + b`, read through a sigmoid per
//! output (binary, multilabel) or a softmax across outputs (multiclass).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Tensor};

use crate::data::Mode;

/// The task name written into logistic-regression model files.
pub const TASK: &str = "logistic-regression";

#[derive(Module, Debug)]
pub struct LogisticRegression {
    pub linear: Linear,
}

impl LogisticRegression {
    /// Zero-initialised, as scikit-learn starts L-BFGS (the problem is convex).
    pub fn new(inputs: usize, outputs: usize, device: &Device) -> Self {
        let linear = LinearConfig::new(inputs, outputs)
            .with_initializer(Initializer::Zeros)
            .init(device);
        Self { linear }
    }

    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear.forward(x)
    }

    /// Output probabilities: P(positive) per output, or the class distribution.
    pub fn probabilities(&self, x: Tensor<2>, mode: Mode) -> Tensor<2> {
        match mode {
            Mode::Multiclass => softmax(self.logits(x), 1),
            Mode::Binary | Mode::Multilabel => sigmoid(self.logits(x)),
        }
    }
}
