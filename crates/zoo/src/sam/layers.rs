//! Small pieces SAM's modules share: the channels-first LayerNorm and the ReLU feed-forward head.

use tch::{nn, nn::Module, Tensor};

/// LayerNorm over the channels of an NCHW tensor (`SamLayerNorm(data_format="channels_first")`,
/// the original SAM's `LayerNorm2d`): `weight`, `bias`.
#[derive(Debug)]
pub struct LayerNorm2d(nn::LayerNorm);

impl LayerNorm2d {
    /// `channels` wide, epsilon `eps`, at `p`.
    pub fn new(p: &nn::Path, channels: i64, eps: f64) -> Self {
        let config = nn::LayerNormConfig {
            eps,
            ..Default::default()
        };
        Self(nn::layer_norm(p, vec![channels], config))
    }

    /// Normalises `x` `[B, C, H, W]` over `C`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.0
            .forward(&x.permute([0, 2, 3, 1]))
            .permute([0, 3, 1, 2])
    }
}

/// `SamFeedForward`: `proj_in`, ReLU, `layers.<i>` (ReLU after each), `proj_out`.
#[derive(Debug)]
pub struct FeedForward {
    proj_in: nn::Linear,
    layers: Vec<nn::Linear>,
    proj_out: nn::Linear,
}

impl FeedForward {
    /// `depth` linears in all (at least 2): `d_in → hidden → … → d_out`.
    pub fn new(p: &nn::Path, d_in: i64, hidden: i64, d_out: i64, depth: usize) -> Self {
        let c = Default::default();
        Self {
            proj_in: nn::linear(p / "proj_in", d_in, hidden, c),
            layers: (0..depth.saturating_sub(2))
                .map(|i| nn::linear(p / "layers" / i, hidden, hidden, c))
                .collect(),
            proj_out: nn::linear(p / "proj_out", hidden, d_out, c),
        }
    }

    /// Applies the head to the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.proj_in.forward(x).relu();
        let x = self
            .layers
            .iter()
            .fold(x, |x, layer| layer.forward(&x).relu());
        self.proj_out.forward(&x)
    }
}
