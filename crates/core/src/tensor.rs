//! Tensor values as plain vectors, whatever float type the backend computes in.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// The tensor's values in row-major order as `f32` (converted from the
/// backend's float type, so an f16 or f64 backend reads the same values).
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .try_into_vec_as::<f32>()
        .expect("a float tensor reads back as f32")
}

/// The device a module's weights live on.
pub fn device_of<M: Module>(module: &M) -> Device {
    module
        .devices()
        .into_iter()
        .next()
        .expect("a module with weights")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn values_come_back_in_row_major_order() {
        let device = Device::flex();
        let t = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
            &device,
        );
        assert_eq!(values(t.transpose()), [1.0, 3.0, 2.0, 4.0]);
    }
}
