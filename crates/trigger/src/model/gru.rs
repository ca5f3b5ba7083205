//! `SequenceGru`: a GRU layer that runs a whole sequence as one operation,
//! registered with burn as a backend extension (`gru_sequence`) whose
//! backward pass is the hand-written BPTT in [`super::gru_kernel`].
//!
//! Only the `flex` (CPU) backend implements the operation, so the trigger
//! model always runs on flex, also in builds with a GPU feature.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

use super::gru_kernel::{self, GruDims};

#[backend_extension(Flex, Autodiff)]
pub trait GruBackend: Backend {
    /// Hidden states `[batch, steps, hidden]` of the recurrence driven by the
    /// input projection `xp` `[batch, steps, 3·hidden]`, from a zero state.
    fn gru_sequence(
        xp: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn values(tensor: &FloatTensor<Flex>) -> Vec<f32> {
    tensor
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor")
}

fn flex_tensor(values: Vec<f32>, shape: impl Into<Vec<usize>>) -> FloatTensor<Flex> {
    FloatTensor::<Flex>::from_data(TensorData::new(values, shape.into()))
}

fn dims_of(xp: &FloatTensor<Flex>) -> GruDims {
    let shape = xp.shape();
    GruDims {
        batch: shape[0],
        steps: shape[1],
        hidden: shape[2] / 3,
    }
}

impl GruBackend for Flex {
    fn gru_sequence(
        xp: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let dims = dims_of(&xp);
        let h = gru_kernel::forward(&values(&xp), &values(&w_hh), &values(&b_hh), dims);
        flex_tensor(h, [dims.batch, dims.steps, dims.hidden])
    }
}

#[derive(Debug)]
struct GruSequenceBackward;

impl Backward<Flex, 3> for GruSequenceBackward {
    /// xp, w_hh, b_hh and the output h, kept for the backward pass.
    type State = (
        FloatTensor<Flex>,
        FloatTensor<Flex>,
        FloatTensor<Flex>,
        FloatTensor<Flex>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_xp, node_w, node_b] = ops.parents;
        let grad_h = grads.consume::<Flex>(&ops.node);
        let (xp, w_hh, b_hh, h) = ops.state;
        let dims = dims_of(&xp);
        let g = gru_kernel::backward(
            &values(&xp),
            &values(&w_hh),
            &values(&b_hh),
            &values(&h),
            &values(&grad_h),
            dims,
        );
        let gates = 3 * dims.hidden;
        if let Some(node) = node_xp {
            grads.register::<Flex>(node.id, flex_tensor(g.xp, [dims.batch, dims.steps, gates]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex_tensor(g.w_hh, [dims.hidden, gates]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex_tensor(g.b_hh, [gates]));
        }
    }
}

impl<C: CheckpointStrategy> GruBackend for Autodiff<Flex, C> {
    fn gru_sequence(
        xp: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (xp, xp_node) = xp.into_parts();
        let (w_hh, w_node) = w_hh.into_parts();
        let (b_hh, b_node) = b_hh.into_parts();
        let h = Flex::gru_sequence(xp.clone(), w_hh.clone(), b_hh.clone());
        match GruSequenceBackward
            .prepare::<C>([xp_node, w_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, w_hh, b_hh, h.clone()), h),
            OpsKind::UnTracked(prep) => prep.finish(h),
        }
    }
}

/// Runs the recurrence on any flex tensor (plain or autodiff).
pub fn gru_sequence(xp: Tensor<3>, w_hh: Tensor<2>, b_hh: Tensor<1>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as GruBackend>::gru_sequence(
        xp.into_dispatch(),
        w_hh.into_dispatch(),
        b_hh.into_dispatch(),
    ))
}

#[derive(Config, Debug)]
pub struct SequenceGruConfig {
    pub d_input: usize,
    pub d_hidden: usize,
}

/// A GRU layer (PyTorch / burn `reset_after` convention, gates `[z | r | n]`).
#[derive(Module, Debug)]
pub struct SequenceGru {
    /// x ↦ x·W_ih + b_ih for all three gates at once.
    pub input: Linear,
    /// `[hidden, 3·hidden]`
    pub w_hh: Param<Tensor<2>>,
    /// `[3·hidden]`
    pub b_hh: Param<Tensor<1>>,
}

impl SequenceGruConfig {
    pub fn init(&self, device: &Device) -> SequenceGru {
        // PyTorch's GRU initialisation: U(−1/√H, 1/√H) for every weight.
        let bound = 1.0 / (self.d_hidden as f64).sqrt();
        let uniform = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        let gates = 3 * self.d_hidden;
        SequenceGru {
            input: LinearConfig::new(self.d_input, gates)
                .with_initializer(uniform.clone())
                .init(device),
            w_hh: uniform.init([self.d_hidden, gates], device),
            b_hh: uniform.init([gates], device),
        }
    }
}

impl SequenceGru {
    /// `[batch, steps, d_input]` → hidden states `[batch, steps, d_hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        gru_sequence(self.input.forward(x), self.w_hh.val(), self.b_hh.val())
    }

    pub fn hidden(&self) -> usize {
        self.w_hh.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::GruConfig;
    use burn::tensor::Distribution;

    /// Copies burn's per-gate weights into one packed SequenceGru.
    fn from_burn(gru: &burn::nn::Gru, device: &Device) -> SequenceGru {
        let gates = [&gru.update_gate, &gru.reset_gate, &gru.new_gate];
        let cat_w = |f: &dyn Fn(&burn::nn::GateController) -> Tensor<2>| {
            Tensor::cat(gates.iter().map(|g| f(g)).collect(), 1).detach()
        };
        let cat_b = |f: &dyn Fn(&burn::nn::GateController) -> Tensor<1>| {
            Tensor::cat(gates.iter().map(|g| f(g)).collect(), 0).detach()
        };
        let mut layer = SequenceGruConfig::new(1, 1).init(device);
        layer.input.weight = Param::from_tensor(cat_w(&|g| g.input_transform.weight.val()));
        layer.input.bias = Some(Param::from_tensor(cat_b(&|g| {
            g.input_transform.bias.as_ref().unwrap().val()
        })));
        layer.w_hh = Param::from_tensor(cat_w(&|g| g.hidden_transform.weight.val()));
        layer.b_hh =
            Param::from_tensor(cat_b(&|g| g.hidden_transform.bias.as_ref().unwrap().val()));
        layer
    }

    fn assert_close(name: &str, ours: Tensor<2>, theirs: Tensor<2>) {
        let a = ours.into_data().try_into_vec::<f32>().unwrap();
        let b = theirs.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * scale,
                "{name}[{i}]: ours {x} vs burn {y} (scale {scale})"
            );
        }
    }

    #[test]
    fn matches_burn_gru_outputs_and_gradients() {
        let device = Device::flex().autodiff();
        let (batch, steps, d_in, hidden) = (3, 40, 6, 8);
        let burn_gru = GruConfig::new(d_in, hidden, true).init(&device);
        let ours = from_burn(&burn_gru, &device);
        let x = Tensor::<3>::random(
            [batch, steps, d_in],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let x_ours = x.clone().require_grad();
        let x_burn = x.require_grad();
        // A loss that weights every output differently.
        let weights = Tensor::<3>::random(
            [batch, steps, hidden],
            Distribution::Normal(0.0, 1.0),
            &device,
        );

        let out_ours = ours.forward(x_ours.clone());
        let out_burn = burn_gru.forward(x_burn.clone(), None);
        assert_close(
            "output",
            out_ours.clone().reshape([batch * steps, hidden]),
            out_burn.clone().reshape([batch * steps, hidden]),
        );

        let g_ours = (out_ours * weights.clone()).sum().backward();
        let g_burn = (out_burn * weights).sum().backward();
        let grad2 = |t: &Tensor<2>, g| t.grad(g).unwrap();
        assert_close(
            "d x",
            x_ours.grad(&g_ours).unwrap().reshape([batch * steps, d_in]),
            x_burn.grad(&g_burn).unwrap().reshape([batch * steps, d_in]),
        );
        let gates = [
            &burn_gru.update_gate,
            &burn_gru.reset_gate,
            &burn_gru.new_gate,
        ];
        for (i, gate) in gates.iter().enumerate() {
            let cols = i * hidden..(i + 1) * hidden;
            let w_ih = grad2(&ours.input.weight.val(), &g_ours).slice([0..d_in, cols.clone()]);
            assert_close(
                "d W_ih",
                w_ih,
                grad2(&gate.input_transform.weight.val(), &g_burn),
            );
            let w_hh = grad2(&ours.w_hh.val(), &g_ours).slice([0..hidden, cols.clone()]);
            assert_close(
                "d W_hh",
                w_hh,
                grad2(&gate.hidden_transform.weight.val(), &g_burn),
            );
            let bias_grad = |bias: &Param<Tensor<1>>, grads| bias.val().grad(grads).unwrap();
            let ours_b = |bias: &Param<Tensor<1>>| {
                bias_grad(bias, &g_ours)
                    .slice([cols.clone()])
                    .unsqueeze::<2>()
            };
            let theirs_b = |bias: &Option<Param<Tensor<1>>>| {
                bias_grad(bias.as_ref().unwrap(), &g_burn).unsqueeze::<2>()
            };
            assert_close(
                "d b_hh",
                ours_b(&ours.b_hh),
                theirs_b(&gate.hidden_transform.bias),
            );
            assert_close(
                "d b_ih",
                ours_b(ours.input.bias.as_ref().unwrap()),
                theirs_b(&gate.input_transform.bias),
            );
        }
    }

    #[test]
    fn inference_device_runs_without_autodiff() {
        let device = Device::flex();
        let layer = SequenceGruConfig::new(4, 5).init(&device);
        let out = layer.forward(Tensor::zeros([2, 9, 4], &device));
        assert_eq!(out.dims(), [2, 9, 5]);
    }
}
