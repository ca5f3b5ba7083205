//! Compares AdaIN models with one judge, the built-in VGG-19: for each model
//! and each (content, style) pair drawn at alpha 1, how far the picture's
//! channel means and spreads at conv1_1 … conv4_1 are from the style's
//! (relative squared error, summed over layers; what AdaIN's style loss
//! asks) and how far its conv4_2 activations are from the content's
//! (relative squared error), and the median time of a draw. The README's
//! comparison of the built-in models comes from this:
//!
//! ```sh
//! cargo run --release -p casebook-style --example adain_judge -- \
//!     SIZE MODEL,MODEL… CONTENT,CONTENT… STYLE,STYLE…
//! ```

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::Tensor;
use casebook_style::data::load_picture;
use casebook_style::loss::relative_content_loss;
use casebook_style::model::adain::{mean_std, style_layer_indices, AdaIn};
use casebook_style::model::{layer_index, FeatureNet, Pool, CONTENT_LAYER};
use casebook_vision::picture::picture_tensor;
use image::RgbImage;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [size, models, contents, styles] = args.as_slice() else {
        bail!("usage: adain_judge SIZE MODEL,MODEL… CONTENT,CONTENT… STYLE,STYLE…");
    };
    let size: u32 = size.parse()?;
    let read = |list: &str| -> Result<Vec<RgbImage>> {
        list.split(',')
            .map(|p| load_picture(Path::new(p), size))
            .collect()
    };
    let (contents, styles) = (read(contents)?, read(styles)?);
    let device = casebook_core::device::compute_device();
    let judge = FeatureNet::builtin(Pool::Max, &device)?;
    let mut style_layers = style_layer_indices();
    style_layers.push(layer_index(CONTENT_LAYER)?);
    let features =
        |picture: &RgbImage| judge.activations(picture_tensor(picture, &device), &style_layers);
    println!("model\tstyle_statistics_error\tcontent_error\tmedian_ms");
    for model_path in models.split(',') {
        let model = AdaIn::open(Path::new(model_path))?;
        let (mut style_error, mut content_error, mut times) = (0.0, 0.0, Vec::new());
        for content in &contents {
            let content_features = features(content);
            for style in &styles {
                let started = Instant::now();
                let drawn = model.apply(content, style, 1.0);
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                let drawn_features = features(&drawn);
                let style_features = features(style);
                let last = style_layers.len() - 1;
                for (d, s) in drawn_features[..last].iter().zip(&style_features[..last]) {
                    style_error += statistics_error(d.clone(), s.clone());
                }
                content_error += relative_content_loss(
                    drawn_features[last].clone(),
                    content_features[last].clone(),
                )
                .into_scalar::<f32>() as f64;
            }
        }
        let pairs = (contents.len() * styles.len()) as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "{model_path}\t{:.4}\t{:.4}\t{:.0}",
            style_error / pairs,
            content_error / pairs,
            times[times.len() / 2]
        );
    }
    Ok(())
}

/// Relative squared error of `drawn`'s channel means and spreads against `style`'s.
fn statistics_error(drawn: Tensor<4>, style: Tensor<4>) -> f64 {
    let ((dm, ds), (sm, ss)) = (mean_std(drawn), mean_std(style));
    let rel = |x: Tensor<4>, y: Tensor<4>| {
        let d = (x - y.clone()).powi_scalar(2).sum().into_scalar::<f32>();
        (d / y.powi_scalar(2).sum().into_scalar::<f32>()) as f64
    };
    rel(dm, sm) + rel(ds, ss)
}
