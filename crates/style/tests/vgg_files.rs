//! Loading VGG-19 weights from the files people have: PyTorch `.pth` (zip
//! and legacy formats) and safetensors in torchvision's key layout, checked
//! against PyTorch's own forward pass of the same tiny network (fixtures
//! made by scripts/style/vgg_fixtures.py).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use casebook_style::model::{layer_index, FeatureNet, Pool};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("vgg_tiny_expected.json")).unwrap())
        .unwrap()
}

fn input(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..3 * 20 * 24)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 3, 20, 24]), device)
}

#[test]
fn pth_legacy_pth_and_safetensors_give_pytorchs_activations() {
    let device = Device::flex();
    let want = expected();
    for file in [
        "vgg_tiny.pth",
        "vgg_tiny_legacy.pth",
        "vgg_tiny.safetensors",
    ] {
        for (pool, key) in [(Pool::Max, "max"), (Pool::Average, "avg")] {
            let net = FeatureNet::from_file(&fixture(file), pool, &device)
                .unwrap_or_else(|e| panic!("{file}: {e:#}"));
            assert_eq!(net.vgg.widths()[..3], [4, 4, 5]);
            let layers = ["conv1_1", "conv3_1", "conv4_2"];
            let wanted: Vec<usize> = layers.iter().map(|l| layer_index(l).unwrap()).collect();
            let got = net.activations(input(&device), &wanted);
            for (layer, activation) in layers.iter().zip(got) {
                let reference = &want[key][layer];
                let shape: Vec<usize> = reference["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(activation.dims().to_vec(), shape, "{file} {key} {layer}");
                let values = casebook_core::tensor::values(activation);
                for (i, (a, b)) in values
                    .iter()
                    .zip(reference["values"].as_array().unwrap())
                    .enumerate()
                {
                    let b = b.as_f64().unwrap() as f32;
                    assert!(
                        (a - b).abs() <= 1e-4 + 1e-4 * b.abs(),
                        "{file} {key} {layer}[{i}]: casebook {a}, PyTorch {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn files_that_are_not_vgg19_say_what_was_expected() {
    let device = Device::flex();
    let err = FeatureNet::from_file(&fixture("vgg16_tiny.pth"), Pool::Max, &device).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("does not hold VGG-19"), "{text}");
    assert!(
        text.contains("features.34.weight [512, 512, 3, 3]"),
        "{text}"
    );
    // VGG-16 has a pooling where VGG-19 has its 7th convolution.
    assert!(text.contains("features.16.weight"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.pth");
    std::fs::write(&notes, "not weights at all").unwrap();
    let text = format!(
        "{:#}",
        FeatureNet::from_file(&notes, Pool::Max, &device).unwrap_err()
    );
    assert!(text.contains("notes.pth"), "{text}");
    let missing = dir.path().join("missing.pth");
    let text = format!(
        "{:#}",
        FeatureNet::from_file(&missing, Pool::Max, &device).unwrap_err()
    );
    assert!(text.contains("cannot read"), "{text}");
}
