//! The perceptual losses of style transfer (Gatys et al., 2016; Johnson et
//! al., 2016): content as squared differences of activations, style as
//! squared differences of Gram matrices, and total variation for
//! smoothness. Written with burn tensor ops, so autodiff gives their
//! gradients with respect to the picture; the tests check those gradients
//! against finite differences.

use burn::tensor::Tensor;
use casebook_core::tensor::values;

/// Gram matrices of feature maps `[batch, c, h, w]` → `[batch, c, c]`:
/// the correlations of every pair of channels over all positions,
/// normalised by the map's size `c·h·w` so that layers and picture sizes
/// are comparable.
pub fn gram(features: Tensor<4>) -> Tensor<3> {
    let [batch, c, h, w] = features.dims();
    let flat = features.reshape([batch, c, h * w]);
    flat.clone().matmul(flat.swap_dims(1, 2)) / (c * h * w) as f64
}

/// Mean squared difference, `[1]`.
pub fn mean_squared_error<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<1> {
    let d = a - b;
    (d.clone() * d).mean()
}

/// Total variation of pictures `[batch, 3, h, w]`: the mean squared
/// difference of vertically and of horizontally neighbouring pixels, `[1]`.
pub fn total_variation(pictures: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = pictures.dims();
    let down = pictures.clone().slice([0..b, 0..c, 1..h, 0..w])
        - pictures.clone().slice([0..b, 0..c, 0..h - 1, 0..w]);
    let right = pictures.clone().slice([0..b, 0..c, 0..h, 1..w])
        - pictures.slice([0..b, 0..c, 0..h, 0..w - 1]);
    (down.clone() * down).mean() + (right.clone() * right).mean()
}

/// The mean square of a tensor's values (at least 1e-12): the size a
/// relative loss divides by.
pub fn mean_square<const D: usize>(t: Tensor<D>) -> f64 {
    let v = values(t);
    let m = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len().max(1) as f64;
    m.max(1e-12)
}

/// The content loss relative to the target's size: 1 means "as far off as
/// the target is large", on any feature network.
pub fn relative_content_loss(features: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let scale = mean_square(target.clone());
    mean_squared_error(features, target) / scale
}

/// A style as target Gram matrices at some layers, blended over style
/// pictures by share, each with the mean square that makes its loss
/// relative.
pub struct StyleGrams {
    grams: Vec<Tensor<3>>,
    scales: Vec<f64>,
}

impl StyleGrams {
    /// `styles` holds each style picture's activations at the style layers
    /// (batch 1) and its share (shares are normalised to sum to 1).
    pub fn blend(styles: Vec<(Vec<Tensor<4>>, f32)>) -> Self {
        let total: f32 = styles.iter().map(|(_, share)| share).sum();
        let mut grams: Vec<Tensor<3>> = Vec::new();
        for (features, share) in styles {
            let share = (share / total) as f64;
            for (layer, f) in features.into_iter().enumerate() {
                let g = gram(f).detach() * share;
                match grams.get_mut(layer) {
                    Some(sum) => *sum = sum.clone() + g,
                    None => grams.push(g),
                }
            }
        }
        let scales = grams.iter().map(|g| mean_square(g.clone())).collect();
        Self { grams, scales }
    }

    /// The style loss of `features` (one tensor per style layer, any batch):
    /// each layer's relative Gram error, averaged over layers and pictures.
    pub fn loss(&self, features: &[Tensor<4>]) -> Tensor<1> {
        let layers = self.grams.len() as f64;
        features
            .iter()
            .zip(&self.grams)
            .zip(&self.scales)
            .map(|((f, target), scale)| {
                let g = gram(f.clone());
                let target = target.clone().expand(g.dims());
                mean_squared_error(g, target) / (scale * layers)
            })
            .reduce(|a, b| a + b)
            .expect("at least one style layer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use casebook_core::tensor::values;

    fn tensor4(values: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
    }

    #[test]
    fn gram_matches_a_hand_computation() {
        // Two channels over a 1×3 map: f0 = (1, 2, 3), f1 = (0, 1, -1).
        let f = tensor4(
            &[1.0, 2.0, 3.0, 0.0, 1.0, -1.0],
            [1, 2, 1, 3],
            &Device::flex(),
        );
        // f0·f0 = 14, f0·f1 = 2 − 3 = −1, f1·f1 = 2; divided by 2·1·3.
        let g = values(gram(f));
        let want = [14.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, 2.0 / 6.0];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn total_variation_of_a_ramp() {
        // A horizontal ramp 0, 1, 2 in every row of 2 rows, one channel:
        // right differences are all 1, down differences all 0.
        let x = tensor4(
            &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
            [1, 1, 2, 3],
            &Device::flex(),
        );
        assert!((values(total_variation(x))[0] - 1.0).abs() < 1e-6);
    }

    /// Compares autodiff's gradient of `loss` at `x` with central
    /// differences, component by component.
    fn check_gradient(loss: impl Fn(Tensor<4>) -> Tensor<1>, x: &[f32], shape: [usize; 4]) {
        let device = Device::flex().autodiff();
        let input = tensor4(x, shape, &device).require_grad();
        let grads = loss(input.clone()).backward();
        let analytic = values(input.grad(&grads).unwrap());
        let at = |v: &[f32]| values(loss(tensor4(v, shape, &Device::flex())))[0] as f64;
        let h = 1e-2;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            let numeric = (at(&up) - at(&down)) / (2.0 * h as f64);
            let tolerance = 1e-3 + 1e-2 * numeric.abs();
            assert!(
                (numeric - analytic[i] as f64).abs() < tolerance,
                "component {i}: finite differences {numeric}, autodiff {}",
                analytic[i]
            );
        }
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((((i as u32 + 1).wrapping_mul(2654435761)) ^ seed) % 1000) as f32 / 1000.0 - 0.5
            })
            .collect()
    }

    #[test]
    fn each_loss_has_the_gradient_of_finite_differences() {
        let shape = [1, 3, 4, 5];
        let x = pseudo_random(60, 7);
        let target = pseudo_random(60, 11);
        let target_gram = {
            let device = Device::flex().autodiff();
            gram(tensor4(&target, shape, &device))
        };
        let t = target.clone();
        check_gradient(
            move |x| mean_squared_error(x.clone(), tensor4(&t, shape, &x.device())),
            &x,
            shape,
        );
        check_gradient(
            move |x| {
                let device = x.device();
                let g = Tensor::<3>::from_data(target_gram.to_data(), &device);
                mean_squared_error(gram(x), g)
            },
            &x,
            shape,
        );
        check_gradient(total_variation, &x, shape);
    }
}
