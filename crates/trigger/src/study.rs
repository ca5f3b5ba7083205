//! Audio "resolution": what sample rate does a person need to hear the
//! trigger word? A page of short clips from the held-out voices, each played
//! at one of several sample rates, for a person to mark "word present?";
//! scored per rate by `casebook trigger human-baseline` (core's human module).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use base64::Engine;
use casebook_core::human::{self, KeyEntry, PageText, Question};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::mixer::MixConfig;
use crate::data::synth::{draw, PoolSources, Pools};
use crate::data::SUPPORTED_RATES;

/// The kind of study its human page records ([`PageText::study`]).
pub const HUMAN_STUDY: &str = "trigger sample rate";

/// Writes the page to `out` and its key beside it (`<out>.key.json`); returns the key path.
pub fn write_human_page(
    out: &Path,
    rates: &[u32],
    per_rate: usize,
    word: &str,
    seed: u64,
) -> Result<std::path::PathBuf> {
    if rates.is_empty() || rates.iter().any(|r| !SUPPORTED_RATES.contains(r)) {
        bail!(
            "give sample rates of {}–{} Hz, e.g. --rates 4000,8000,16000,44100",
            SUPPORTED_RATES.start(),
            SUPPORTED_RATES.end()
        );
    }
    let pools = Pools::load(&PoolSources {
        test_voices: true,
        ..PoolSources::default()
    })?;
    let mix = MixConfig {
        seconds: 3.0,
        max_positives: 1,
        max_negatives: 1,
        ..MixConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0041_5544_494F);
    let mut questions = Vec::new();
    for &rate in rates {
        for i in 0..per_rate {
            let m = draw(&pools, &mix, &mut rng);
            let present = m.segments.iter().any(|s| s.positive);
            let wav = m.clip.resample(rate)?.to_wav_bytes()?;
            let data = base64::engine::general_purpose::STANDARD.encode(wav);
            questions.push(Question {
                media_html: format!(
                    "<audio controls preload=none src=\"data:audio/wav;base64,{data}\"></audio>"
                ),
                entry: KeyEntry {
                    condition: rate,
                    label: if present { "yes" } else { "no" }.into(),
                    path: format!("clip {i} at {rate} Hz"),
                },
            });
        }
    }
    questions.shuffle(&mut rng);
    let key_path = out.with_extension("key.json");
    let intro = format!(
        "Each 3 s clip is played at one of several sample rates. Does it contain the word \"{}\"? Answer yes or no.",
        casebook_core::report::escape(word)
    );
    let text = PageText {
        study: HUMAN_STUDY,
        heading: "Do you hear the trigger word?",
        intro: &intro,
        command: "casebook trigger human-baseline",
    };
    human::write_page(
        out,
        &key_path,
        &text,
        &["yes".to_string(), "no".to_string()],
        questions,
        BTreeMap::new(),
    )?;
    Ok(key_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_clips_at_every_rate_and_no_labels() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("page.html");
        let key_path = write_human_page(&out, &[4000, 16000], 3, "activate", 1).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert_eq!(html.matches("<audio").count(), 6);
        let key: human::HumanKey = casebook_core::fsx::read_json(&key_path).unwrap();
        let rates: std::collections::BTreeSet<u32> =
            key.questions.values().map(|q| q.condition).collect();
        assert_eq!(rates.into_iter().collect::<Vec<_>>(), vec![4000, 16000]);
        assert!(!html.contains("\"yes\"}") && !html.contains("clip 0 at"));
    }
}
