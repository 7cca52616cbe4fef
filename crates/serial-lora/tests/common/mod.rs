//! A tiny encoder shaped like transformers' `CLIPVisionModel` (same module names), used to test
//! the adapter core without the model zoo: pre-LN blocks of self-attention and an MLP whose
//! projections are adapter sites. `fused` swaps in a SAM-style fused `attn.qkv` + `attn.proj`.
#![allow(dead_code)]

use std::path::PathBuf;

use serial_lora::{
    AdaptedLinear, AdapterPlan, ModelStore, QkvProjection, Result, SelfAttention, SitePath, Target,
};
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// Width, heads and depth of the test encoder.
pub const DIM: i64 = 48;
pub const HEADS: i64 = 3;
pub const LAYERS: usize = 2;

pub struct Block {
    norm: nn::LayerNorm,
    attn: SelfAttention,
    norm2: nn::LayerNorm,
    fc1: AdaptedLinear,
    fc2: AdaptedLinear,
}

impl Block {
    fn new(p: &SitePath, dim: i64, fused: bool) -> Result<Self> {
        let attn = if fused {
            let a = p / "attn";
            SelfAttention::new(
                QkvProjection::fused(&a, "qkv", dim, true)?,
                AdaptedLinear::new(&(&a / "proj"), Target::O, dim, dim, true)?,
                HEADS,
            )
        } else {
            let a = p / "self_attn";
            let qkv = QkvProjection::separate(&a, ["q_proj", "k_proj", "v_proj"], dim, true)?;
            SelfAttention::new(
                qkv,
                AdaptedLinear::new(&(&a / "out_proj"), Target::O, dim, dim, true)?,
                HEADS,
            )
        };
        let mlp = p / "mlp";
        Ok(Self {
            norm: nn::layer_norm(p.base() / "layer_norm1", vec![dim], Default::default()),
            attn,
            norm2: nn::layer_norm(p.base() / "layer_norm2", vec![dim], Default::default()),
            fc1: AdaptedLinear::new(&(&mlp / "fc1"), Target::Mlp, dim, 2 * dim, true)?,
            fc2: AdaptedLinear::new(&(&mlp / "fc2"), Target::Mlp, 2 * dim, dim, true)?,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x + self
            .attn
            .forward_t(&self.norm.forward(x), None, false, train);
        let h = self
            .fc1
            .forward_t(&self.norm2.forward(&x), train)
            .gelu("none");
        &x + self.fc2.forward_t(&h, train)
    }
}

pub struct Encoder {
    blocks: Vec<Block>,
}

impl Encoder {
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.blocks
            .iter()
            .fold(x.shallow_clone(), |x, b| b.forward_t(&x, train))
    }
}

/// Builds the encoder with `layers` blocks of width `dim` under `encoder.layers`.
pub fn build_sized(
    plan: Option<AdapterPlan>,
    fused: bool,
    dim: i64,
    layers: usize,
) -> (ModelStore, Encoder) {
    ModelStore::build(Device::Cpu, plan, |root| {
        let layers_path = root / "encoder" / "layers";
        let blocks = (0..layers)
            .map(|i| Block::new(&layers_path.layer(i, i), dim, fused))
            .collect::<Result<_>>()?;
        Ok(Encoder { blocks })
    })
    .expect("test encoder builds")
}

/// The default test encoder.
pub fn build(plan: Option<AdapterPlan>, fused: bool) -> (ModelStore, Encoder) {
    build_sized(plan, fused, DIM, LAYERS)
}

/// Random input `[2, 5, DIM]`.
pub fn input() -> Tensor {
    Tensor::randn([2, 5, DIM], (Kind::Float, Device::Cpu))
}

/// Gives every `B` matrix random values so adapters change the output.
pub fn randomize_b(store: &ModelStore) {
    tch::no_grad(|| {
        for (name, mut t) in store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.copy_(&(Tensor::randn_like(&t) * 0.2));
            }
        }
    });
}

/// Copies every base weight of `from` into `to` (same architecture) through a safetensors file.
pub fn copy_base(from: &ModelStore, to: &ModelStore) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    let tensors: Vec<(String, Tensor)> = from.base().variables().into_iter().collect();
    serial_lora::checkpoint::save_tensors(&file, &tensors).unwrap();
    to.load_base(&file, str::to_string).unwrap();
}

/// Largest absolute difference relative to the largest magnitude of `reference`.
/// Zero when the tensors are equal (also for an all-zero reference).
pub fn rel_diff(a: &Tensor, reference: &Tensor) -> f64 {
    let diff = (a - reference).abs().max().double_value(&[]);
    if diff == 0.0 {
        0.0
    } else {
        diff / reference.abs().max().double_value(&[])
    }
}

/// The workspace root (for tools/ and .venv).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Snapshot of every variable of a var store, deep-copied.
pub fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Serialises the tests of one file that seed or draw from libtorch's global RNG, so that one test's
/// draws cannot interleave with another's seeded builds.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
