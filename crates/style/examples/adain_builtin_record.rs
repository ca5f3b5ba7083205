//! Writes a built-in AdaIN model from a `style train-adain` run's model,
//! adding where its data came from to the training record the run wrote
//! (run by `scripts/style/adain_builtin.sh`, and by
//! `scripts/style/adain_fast_builtin.sh` with the distilled encoder the
//! model was trained on, whose training record it adds too):
//!
//! ```sh
//! cargo run --release -p casebook-style --example adain_builtin_record -- \
//!     RUN/model.casebook OUT [DISTIL_RUN/model.casebook]
//! ```

use std::path::Path;

use anyhow::{bail, Result};
use casebook_core::model_file::SavedModel;
use casebook_style::model::adain::AdaIn;
use casebook_style::model::distilled::DistilledEncoder;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, out, encoder) = match args.as_slice() {
        [model, out] => (model, out, None),
        [model, out, encoder] => (
            model,
            out,
            Some(DistilledEncoder::load(Path::new(encoder))?),
        ),
        _ => bail!("usage: adain_builtin_record MODEL OUT [DISTILLED_ENCODER]"),
    };
    let model = AdaIn::load(Path::new(model))?;
    let mut record = model.record.clone();
    record["provenance"] = serde_json::json!({
        "made_by": "scripts/style/adain_builtin.sh",
        "content": "photographs from elementary/wallpapers, linuxdeepin/deepin-wallpapers, getsolus/artwork (CC0, Unsplash, Pexels, CC BY-SA 4.0, public domain) and udacity/CVND_Exercises' webcam frames (MIT), 487 square crops; scripts/style/adain_data.py lists each file's source and licence",
        "styles": "60 square crops of eight public-domain paintings: van Gogh's The Starry Night, Turner's The Shipwreck of the Minotaur, Matisse's Woman with a Hat, Léger's Contrast of Forms, Mondrian's Tableau No. 2, Picabia's Udnie, Kandinsky's Composition VII, Monet's Water Lilies",
        "held_out_styles": "Munch's The Scream and Hokusai's The Great Wave (the README's examples)",
        "encoder": "the built-in VGG-19 up to conv4_1 (crates/style/models/SOURCES.md), referred to by its fingerprint",
    });
    if let Some(encoder) = encoder {
        record["provenance"]["made_by"] = serde_json::json!("scripts/style/adain_fast_builtin.sh");
        record["provenance"]["encoder"] = serde_json::json!("held in this file: 32–256 channels to conv4_1, distilled from the built-in VGG-19 (crates/style/models/SOURCES.md) by `casebook style distil` on the same pictures, content and styles together; its training record is encoder_training. The decoder's style statistics were measured by the built-in VGG-19");
        record["encoder_training"] = encoder.record;
    }
    model.save(Path::new(out), record)?;
    println!("wrote {out}");
    Ok(())
}
