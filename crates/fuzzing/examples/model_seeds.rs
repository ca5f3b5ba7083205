//! Writes a small model file of each case into `fuzz/corpus/model_file/`
//! (`seed-TASK.casebook`): starting points from which the `model_file`
//! fuzz target reaches every case's header checks, not only the logistic
//! regression the corpus first grew from. AdaIN is left out (its encoder
//! alone is megabytes); its header edits are tested in its crate.
//!
//! `cargo run --release -p casebook-fuzzing --example model_seeds`

use std::path::Path;

use casebook_core::device::compute_device;
use casebook_core::model_file::SavedModel;

fn main() -> anyhow::Result<()> {
    let device = compute_device();
    let image = {
        use casebook_image::infer::{Classifier, Preprocessing};
        use casebook_image::model::CnnConfig;
        let config = CnnConfig::new(2).with_widths(vec![2, 4]);
        let norm = casebook_vision::Normalization {
            mean: [0.4; 3],
            std: [0.2; 3],
        };
        Classifier::new(
            &config.init(&device),
            config,
            vec!["day".into(), "night".into()],
            Preprocessing::new(16, norm),
        )
        .to_file(serde_json::json!({}))?
    };
    let trigger = {
        use casebook_trigger::data::features::{FeatureConfig, MODEL_SPECTROGRAM};
        use casebook_trigger::infer::TriggerModel;
        use casebook_trigger::model::TriggerNetConfig;
        let architecture = TriggerNetConfig::new(MODEL_SPECTROGRAM.bins())
            .with_filters(2)
            .with_hidden(2);
        let noise: Vec<f32> = (0..16_000)
            .map(|i| ((i * 7919) % 200) as f32 / 1000.0 - 0.1)
            .collect();
        let features = FeatureConfig::fit(MODEL_SPECTROGRAM, &[&noise]);
        TriggerModel::new(
            &architecture.init(&device),
            architecture,
            features,
            "activate".into(),
        )
        .to_file(serde_json::json!({}))?
    };
    let fast_style = {
        use casebook_style::model::transform::{FastStyle, TransformArch, TransformNet};
        let arch = TransformArch {
            width: 1,
            residual_blocks: 1,
        };
        FastStyle {
            arch,
            net: TransformNet::new(&arch, 3, &device),
            record: serde_json::json!({}),
        }
        .to_file(serde_json::json!({}))?
    };
    let encoder = {
        use casebook_faces::model::encoder::{
            ChipInput, Encoder, EncoderArch, FaceEncoder, Stage, Threshold,
        };
        let arch = EncoderArch {
            input_size: 32,
            stem_filters: 2,
            stages: vec![Stage {
                filters: 2,
                blocks: 1,
                downsample: true,
            }],
            embedding: 4,
            normalize: true,
        };
        let threshold = Threshold {
            distance: 0.6,
            source: "a fuzzing seed".into(),
        };
        FaceEncoder::new(
            arch.clone(),
            Encoder::new(&arch, &device),
            ChipInput { mean: [120.0; 3] },
            threshold,
            "0123456789abcdef".into(),
            serde_json::json!({}),
        )
        .to_file(serde_json::json!({}))?
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/model_file");
    for file in [image, trigger, fast_style, encoder] {
        let path = corpus.join(format!("seed-{}.casebook", file.meta.task));
        file.save(&path)?;
        println!(
            "{} ({} bytes)",
            path.display(),
            std::fs::metadata(&path)?.len()
        );
    }
    let gallery_path = corpus.join("seed-face-gallery.casebook");
    let mut gallery =
        casebook_faces::gallery::Gallery::with_identity(casebook_faces::gallery::EncoderIdentity {
            id: "0123456789abcdef".into(),
            dimension: 4,
        });
    gallery.enroll("ada", &[0.1, 0.9, 0.3, 0.0], "a.png")?;
    gallery.enroll("bo", &[0.5, 0.5, 0.3, 0.0], "b.png")?;
    gallery.save(&gallery_path)?;
    println!("{}", gallery_path.display());
    Ok(())
}
