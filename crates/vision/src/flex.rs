//! Moving values between flex tensors and the CPU kernels of [`crate::conv`],
//! [`crate::norm`], [`crate::pool`] and [`crate::pad`], and the autodiff step
//! that one-input ops share.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::TensorData;
use std::borrow::Cow;

/// A flex tensor's values in row-major order as f32: borrowed when they
/// already are (contiguous f32, the usual case: activations can be tens of
/// megabytes), else converted.
pub(crate) fn f32_values(t: &FloatTensor<Flex>) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            t.clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 values"),
        ),
    }
}

/// A flex tensor of `shape` holding `values` (row-major).
pub(crate) fn flex_tensor(values: Vec<f32>, shape: &[usize]) -> FloatTensor<Flex> {
    FloatTensor::<Flex>::from_data(TensorData::new(values, shape.to_vec()))
}

/// How a one-input flex op of this crate gets its input's gradient: from
/// the output's gradient and what it kept from its forward pass (`State`,
/// which also holds the input's shape).
pub(crate) trait InputGradient: Send + std::fmt::Debug + Sized + 'static {
    type State: Clone + Send + std::fmt::Debug + 'static;

    /// The input's gradient values and shape.
    fn input_gradient(grad: &[f32], state: Self::State) -> (Vec<f32>, [usize; 4]);
}

/// The autodiff step of a one-input op: the output's gradient in, the
/// input's out (pooling, padding).
#[derive(Debug)]
pub(crate) struct OneInput<T>(pub T);

impl<T: InputGradient> Backward<Flex, 1> for OneInput<T> {
    type State = T::State;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let (dx, shape) = T::input_gradient(&f32_values(&grad), ops.state);
            grads.register::<Flex>(node.id, flex_tensor(dx, &shape));
        }
    }
}

/// Runs a one-input op on an autodiff tensor: `forward` gives the output
/// and the state its backward pass needs, kept only when a gradient is
/// wanted.
pub(crate) fn one_input<T: InputGradient, C: CheckpointStrategy>(
    op: T,
    x: FloatTensor<Autodiff<Flex, C>>,
    forward: impl FnOnce(FloatTensor<Flex>) -> (FloatTensor<Flex>, T::State),
) -> FloatTensor<Autodiff<Flex, C>> {
    let (x, node) = x.into_parts();
    match OneInput(op).prepare::<C>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (output, state) = forward(x);
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x).0),
    }
}
