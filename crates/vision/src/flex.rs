//! Moving values between flex tensors and the CPU kernels of [`crate::conv`],
//! [`crate::norm`] and [`crate::pool`].

use burn::backend::tensor::FloatTensor;
use burn::backend::Flex;
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
