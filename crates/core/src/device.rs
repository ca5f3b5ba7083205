//! The compute device, chosen once for the whole program: a GPU when casebook
//! was built with the `cuda` or `wgpu` feature, else burn's pure-Rust `flex`.

use burn::tensor::Device;

/// The device training and inference run on.
pub fn compute_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        return Device::cuda(0);
    }
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    {
        return Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    }
    #[allow(unreachable_code)]
    Device::flex()
}

/// A short name of the device for reports.
pub fn device_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else if cfg!(feature = "wgpu") {
        "wgpu"
    } else {
        "flex (CPU)"
    }
}
