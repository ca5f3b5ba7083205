//! Variation for inserted words, so the detector copes with voices and rooms
//! it has not heard: speed/pitch change (resampling, as tape speed) and
//! reverberation (a synthetic room: exponentially decaying noise).

use std::sync::Arc;

use rand::Rng;
use realfft::RealFftPlanner;

use super::Clip;

/// Speed factors drawn for each word (1.0 = as recorded). Up to 1.3 moves a
/// man's formants and pitch toward a woman's, as the pools' natural-sounding
/// voices in training are all male. Measured (one fine-tuning run of 1000
/// steps each): false rejects at 0.5 false accepts per hour fell from 10.4 %
/// to 8.6 % on the evaluation set, but the held-out female voice (flite's
/// slt) was still missed about half the time (issue 12).
pub const SPEED: (f32, f32) = (0.8, 1.3);
/// Share of words given reverberation, and the range of RT60 in seconds.
pub const REVERB_PROBABILITY: f64 = 0.4;
pub const RT60: (f32, f32) = (0.1, 0.6);

/// A randomly varied copy of a word clip.
pub fn vary_word(clip: &Clip, rng: &mut impl Rng) -> Clip {
    let speed = rng.gen_range(SPEED.0..SPEED.1);
    // Playing a clip recorded at `rate` as if it were at `rate·speed` makes it
    // `speed` times faster and higher; resampling back keeps the rate.
    let as_if = ((clip.rate as f32 * speed).round() as u32).max(1000);
    let mut out = Clip::new(as_if, clip.samples.clone())
        .resample(clip.rate)
        .unwrap_or_else(|_| clip.clone());
    if rng.gen_bool(REVERB_PROBABILITY) {
        let rt60 = rng.gen_range(RT60.0..RT60.1);
        out = reverberate(&out, rt60, rng);
    }
    out
}

/// Convolves with a synthetic room impulse response: a direct path plus
/// noise decaying by 60 dB over `rt60` seconds, mixed 1:1 in energy.
pub fn reverberate(clip: &Clip, rt60: f32, rng: &mut impl Rng) -> Clip {
    let len = ((rt60 * clip.rate as f32) as usize).max(2);
    let decay = 6.9 / len as f32; // e^(−6.9) ≈ −60 dB
    let mut tail: Vec<f32> = (0..len)
        .map(|n| rng.gen_range(-1.0f32..1.0) * (-decay * n as f32).exp())
        .collect();
    tail[0] = 0.0;
    let energy = tail.iter().map(|v| v * v).sum::<f32>().max(1e-9);
    tail.iter_mut().for_each(|v| *v /= energy.sqrt());
    tail[0] = 1.0;
    let wet = convolve(&clip.samples, &tail);
    // Keep the first quarter of the tail (down 15 dB); the mixer sets levels by RMS.
    Clip::new(clip.rate, wet[..clip.samples.len() + len / 4].to_vec())
}

/// Linear convolution through one real FFT of the padded length.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward: Arc<dyn realfft::RealToComplex<f32>> = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let spectrum = |v: &[f32]| {
        let mut input = forward.make_input_vec();
        input[..v.len()].copy_from_slice(v);
        let mut out = forward.make_output_vec();
        forward
            .process(&mut input, &mut out)
            .expect("sized by the planner");
        out
    };
    let (a, b) = (spectrum(x), spectrum(h));
    let mut product: Vec<_> = a.iter().zip(&b).map(|(p, q)| p * q).collect();
    let mut out = inverse.make_output_vec();
    inverse
        .process(&mut product, &mut out)
        .expect("sized by the planner");
    out.truncate(x.len() + h.len() - 1);
    out.iter_mut().for_each(|v| *v /= n as f32);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn convolution_matches_the_direct_sum() {
        let x = [1.0, 2.0, -1.0, 0.5];
        let h = [0.5, -0.25, 1.0];
        let mut direct = vec![0.0f32; 6];
        for (i, a) in x.iter().enumerate() {
            for (j, b) in h.iter().enumerate() {
                direct[i + j] += a * b;
            }
        }
        for (a, b) in convolve(&x, &h).iter().zip(&direct) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn varied_words_change_length_within_the_speed_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let word = Clip::new(16_000, (0..8000).map(|i| (i as f32 * 0.1).sin()).collect());
        for _ in 0..20 {
            let v = vary_word(&word, &mut rng);
            let ratio = word.samples.len() as f32 / v.samples.len() as f32;
            // Faster words are shorter; reverberation adds at most a quarter of RT60.
            let n = word.samples.len() as f32;
            let longest = n / SPEED.0 + RT60.1 * 16_000.0 / 4.0;
            assert!(
                ratio > n / longest - 0.01 && ratio < SPEED.1 + 0.01,
                "length ratio {ratio}"
            );
            assert!(v.rms() > 0.1);
        }
    }
}
