//! Linear-RGB colour arithmetic for the scene and face generators: colours
//! are `[r, g, b]` in 0–1 (or above, for light), mixed in floating point
//! before the final 8-bit image.

use rand::Rng;

pub type Rgb = [f32; 3];

/// `a` at `t = 0`, `b` at `t = 1`.
pub fn lerp(a: Rgb, b: Rgb, t: f32) -> Rgb {
    std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t)
}

pub fn scale(c: Rgb, k: f32) -> Rgb {
    c.map(|v| v * k)
}

/// Channel by channel (light of one colour on a surface of another).
pub fn mul(a: Rgb, b: Rgb) -> Rgb {
    std::array::from_fn(|i| a[i] * b[i])
}

/// Each channel scaled by its own random factor in `1 ± amount` (drawn in
/// channel order, so a seed gives the same colours as before the lift).
pub fn jitter(rng: &mut impl Rng, c: Rgb, amount: f32) -> Rgb {
    c.map(|v| v * (1.0 + rng.gen_range(-amount..amount)))
}

/// Paints `src` over `dst` with opacity `alpha`.
pub fn blend(dst: &mut Rgb, src: Rgb, alpha: f32) {
    *dst = lerp(*dst, src, alpha);
}

/// Hermite smoothstep from `e0` to `e1`.
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_rules() {
        assert_eq!(
            lerp([0.0, 1.0, 2.0], [2.0, 1.0, 0.0], 0.25),
            [0.5, 1.0, 1.5]
        );
        let mut c = [1.0, 0.0, 0.0];
        blend(&mut c, [0.0, 0.0, 1.0], 0.5);
        assert_eq!(c, [0.5, 0.0, 0.5]);
        assert_eq!(mul([0.5, 2.0, 1.0], [2.0, 0.5, 0.0]), [1.0, 1.0, 0.0]);
        assert_eq!(smoothstep(0.0, 2.0, 1.0), 0.5);
        assert_eq!(smoothstep(0.0, 2.0, 3.0), 1.0);
    }
}
