//! `SamMaskDecoder`: a two-way transformer between prompt tokens and the image embedding, then mask
//! upscaling, per-mask hypernetwork MLPs and the IoU head. Not an adapter site: it is frozen or
//! trained whole.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::MaskDecoderConfig;
use super::layers::{FeedForward, LayerNorm2d};

/// `SamAttention`: q/k/v projections to `hidden / downsample`, heads, `out_proj`.
#[derive(Debug)]
struct Attention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    out_proj: nn::Linear,
    heads: i64,
}

impl Attention {
    fn new(p: &nn::Path, c: &MaskDecoderConfig, downsample: i64) -> Self {
        let (d, inner) = (c.hidden_size, c.hidden_size / downsample);
        let lin = |name: &str, i, o| nn::linear(p / name, i, o, Default::default());
        Self {
            q_proj: lin("q_proj", d, inner),
            k_proj: lin("k_proj", d, inner),
            v_proj: lin("v_proj", d, inner),
            out_proj: lin("out_proj", inner, d),
            heads: c.num_attention_heads,
        }
    }

    /// `q` `[N, Tq, d]`, `k`/`v` `[N, Tk, d]` → `[N, Tq, d]`.
    fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let split = |t: Tensor| {
            let (n, tokens, c) = t.size3().expect("[N, T, C]");
            t.view([n, tokens, self.heads, c / self.heads])
                .transpose(1, 2)
        };
        let q = split(self.q_proj.forward(q));
        let k = split(self.k_proj.forward(k));
        let v = split(self.v_proj.forward(v));
        let hd = q.size()[3];
        let out = (q.matmul(&k.transpose(2, 3)) * (hd as f64).powf(-0.5))
            .softmax(-1, Kind::Float)
            .matmul(&v)
            .transpose(1, 2);
        let (n, tokens) = (out.size()[0], out.size()[1]);
        self.out_proj.forward(&out.reshape([n, tokens, -1]))
    }
}

/// `SamTwoWayAttentionBlock`: token self-attention, token→image and image→token cross-attention.
#[derive(Debug)]
struct TwoWayBlock {
    self_attn: Attention,
    layer_norm1: nn::LayerNorm,
    cross_attn_token_to_image: Attention,
    layer_norm2: nn::LayerNorm,
    lin1: nn::Linear,
    lin2: nn::Linear,
    layer_norm3: nn::LayerNorm,
    layer_norm4: nn::LayerNorm,
    cross_attn_image_to_token: Attention,
    skip_first_layer_pe: bool,
}

fn layer_norm(p: &nn::Path, d: i64, eps: f64) -> nn::LayerNorm {
    let config = nn::LayerNormConfig {
        eps,
        ..Default::default()
    };
    nn::layer_norm(p, vec![d], config)
}

impl TwoWayBlock {
    fn new(p: &nn::Path, c: &MaskDecoderConfig, first: bool) -> Self {
        let (d, eps, r) = (c.hidden_size, c.layer_norm_eps, c.attention_downsample_rate);
        let lin = |name: &str, i, o| nn::linear(p / "mlp" / name, i, o, Default::default());
        Self {
            self_attn: Attention::new(&(p / "self_attn"), c, 1),
            layer_norm1: layer_norm(&(p / "layer_norm1"), d, eps),
            cross_attn_token_to_image: Attention::new(&(p / "cross_attn_token_to_image"), c, r),
            layer_norm2: layer_norm(&(p / "layer_norm2"), d, eps),
            lin1: lin("lin1", d, c.mlp_dim),
            lin2: lin("lin2", c.mlp_dim, d),
            layer_norm3: layer_norm(&(p / "layer_norm3"), d, eps),
            layer_norm4: layer_norm(&(p / "layer_norm4"), d, eps),
            cross_attn_image_to_token: Attention::new(&(p / "cross_attn_image_to_token"), c, r),
            skip_first_layer_pe: first,
        }
    }

    /// `queries` `[N, T, d]` with their embedding `qpe`; `keys` `[N, HW, d]` with `kpe`.
    fn forward(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        qpe: &Tensor,
        kpe: &Tensor,
    ) -> (Tensor, Tensor) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn.forward(queries, queries, queries)
        } else {
            let q = queries + qpe;
            queries + self.self_attn.forward(&q, &q, queries)
        };
        let queries = self.layer_norm1.forward(&queries);
        let (q, k) = (&queries + qpe, keys + kpe);
        let queries = &queries + self.cross_attn_token_to_image.forward(&q, &k, keys);
        let queries = self.layer_norm2.forward(&queries);
        let mlp = self.lin2.forward(&self.lin1.forward(&queries).relu());
        let queries = self.layer_norm3.forward(&(&queries + mlp));
        let (q, k) = (&queries + qpe, keys + kpe);
        let keys = keys + self.cross_attn_image_to_token.forward(&k, &q, &queries);
        (queries, self.layer_norm4.forward(&keys))
    }
}

/// `SamMaskDecoder` (`mask_decoder`).
#[derive(Debug)]
pub struct MaskDecoder {
    iou_token: Tensor,
    mask_tokens: Tensor,
    layers: Vec<TwoWayBlock>,
    final_attn_token_to_image: Attention,
    layer_norm_final_attn: nn::LayerNorm,
    upscale_conv1: nn::ConvTranspose2D,
    upscale_layer_norm: LayerNorm2d,
    upscale_conv2: nn::ConvTranspose2D,
    hypernetworks: Vec<FeedForward>,
    iou_prediction_head: FeedForward,
}

impl MaskDecoder {
    /// The decoder at `p` (`mask_decoder`).
    pub fn new(p: &nn::Path, c: &MaskDecoderConfig) -> Self {
        let d = c.hidden_size;
        let masks = c.num_multimask_outputs + 1;
        let t = p / "transformer";
        let up = nn::ConvTransposeConfig {
            stride: 2,
            ..Default::default()
        };
        let zeros = nn::Init::Const(0.0);
        Self {
            iou_token: p.sub("iou_token").var("weight", &[1, d], zeros),
            mask_tokens: p.sub("mask_tokens").var("weight", &[masks, d], zeros),
            layers: (0..c.num_hidden_layers)
                .map(|i| TwoWayBlock::new(&(&t / "layers" / i), c, i == 0))
                .collect(),
            final_attn_token_to_image: Attention::new(
                &(&t / "final_attn_token_to_image"),
                c,
                c.attention_downsample_rate,
            ),
            // transformers builds it with LayerNorm's default epsilon.
            layer_norm_final_attn: layer_norm(&(&t / "layer_norm_final_attn"), d, 1e-5),
            upscale_conv1: nn::conv_transpose2d(p / "upscale_conv1", d, d / 4, 2, up),
            upscale_layer_norm: LayerNorm2d::new(&(p / "upscale_layer_norm"), d / 4, 1e-6),
            upscale_conv2: nn::conv_transpose2d(p / "upscale_conv2", d / 4, d / 8, 2, up),
            hypernetworks: (0..masks)
                .map(|i| FeedForward::new(&(p / "output_hypernetworks_mlps" / i), d, d, d / 8, 3))
                .collect(),
            iou_prediction_head: FeedForward::new(
                &(p / "iou_prediction_head"),
                d,
                c.iou_head_hidden_dim,
                masks,
                c.iou_head_depth,
            ),
        }
    }

    /// Masks `[B, P, M, 4e, 4e]` and IoU predictions `[B, P, M]` (M = 1 or the multimask outputs)
    /// from the image embedding `[B, d, e, e]`, its positional encoding `[1, d, e, e]`, sparse
    /// prompts `[B, P, T, d]` and dense prompts `[B, d, e, e]`.
    pub fn forward(
        &self,
        image: &Tensor,
        image_pe: &Tensor,
        sparse: Option<&Tensor>,
        dense: &Tensor,
        multimask: bool,
    ) -> (Tensor, Tensor) {
        let (b, d, h, w) = image.size4().expect("checked image embedding");
        let p = sparse.map_or(1, |s| s.size()[1]);
        let output = Tensor::cat(&[&self.iou_token, &self.mask_tokens], 0);
        let output = output
            .unsqueeze(0)
            .unsqueeze(0)
            .expand([b, p, -1, -1], false);
        let tokens = match sparse {
            Some(s) => Tensor::cat(&[&output, &s.to_kind(output.kind())], 2),
            None => output,
        };
        let t = tokens.size()[2];
        let tokens = tokens.reshape([b * p, t, d]);
        let src = (image + dense).repeat_interleave_self_int(p, 0, None);
        let keys = src.flatten(2, 3).transpose(1, 2);
        let kpe = image_pe
            .expand([b * p, -1, -1, -1], false)
            .flatten(2, 3)
            .transpose(1, 2);
        let (mut queries, mut keys) = (tokens.shallow_clone(), keys);
        for layer in &self.layers {
            (queries, keys) = layer.forward(&queries, &keys, &tokens, &kpe);
        }
        let (q, k) = (&queries + &tokens, &keys + &kpe);
        let queries = &queries + self.final_attn_token_to_image.forward(&q, &k, &keys);
        let queries = self.layer_norm_final_attn.forward(&queries);
        let masks = self.hypernetworks.len() as i64;
        let src = keys.transpose(1, 2).reshape([b * p, d, h, w]);
        let up = self.upscale_conv1.forward(&src);
        let up = self.upscale_layer_norm.forward(&up).gelu("none");
        let up = self.upscale_conv2.forward(&up).gelu("none");
        let (c, uh, uw) = (up.size()[1], up.size()[2], up.size()[3]);
        let hyper = Tensor::stack(
            &self
                .hypernetworks
                .iter()
                .enumerate()
                .map(|(i, mlp)| mlp.forward(&queries.select(1, 1 + i as i64)))
                .collect::<Vec<_>>(),
            1,
        );
        let out = hyper
            .matmul(&up.view([b * p, c, uh * uw]))
            .view([b, p, masks, uh, uw]);
        let iou = self
            .iou_prediction_head
            .forward(&queries.select(1, 0))
            .view([b, p, masks]);
        let (start, len) = if multimask { (1, masks - 1) } else { (0, 1) };
        (out.narrow(2, start, len), iou.narrow(2, start, len))
    }
}
