//! A tiny encoder shaped like transformers' `CLIPVisionModel` (same module names), used to test
//! the adapter core without the model zoo: pre-LN blocks of self-attention and an MLP whose
//! projections are adapter sites. `fused` swaps in a SAM-style fused `attn.qkv` + `attn.proj`.
#![allow(dead_code)]

use std::path::PathBuf;

use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serial_lora::{
    AdaptedLinear, AdapterPlan, ModelStore, QkvProjection, Result, SelfAttention, SitePath, Target,
};
use tch::{nn, nn::Module, Device, Tensor};

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
    let (store, encoder) = ModelStore::build(Device::Cpu, plan, |root| {
        let layers_path = root / "encoder" / "layers";
        let blocks = (0..layers)
            .map(|i| Block::new(&layers_path.layer(i, i), dim, fused))
            .collect::<Result<_>>()?;
        Ok(Encoder { blocks })
    })
    .expect("test encoder builds");
    fill_seeded(store.base(), 0.3, |_| true);
    (store, encoder)
}

/// `[size]` values from U(−scale, scale), drawn from an explicit generator keyed by `key`, so
/// tests never touch libtorch's global generator (and need no lock against each other).
pub fn seeded(size: &[i64], key: &str, scale: f64) -> Tensor {
    let digest: u64 = key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(digest);
    let dist = Uniform::new(-scale as f32, scale as f32);
    let n: i64 = size.iter().product();
    let values: Vec<f32> = (0..n).map(|_| dist.sample(&mut rng)).collect();
    Tensor::from_slice(&values).view(size)
}

/// Overwrites the variables of `vs` whose name passes `keep` with seeded values (keyed by name).
pub fn fill_seeded(vs: &nn::VarStore, scale: f64, keep: impl Fn(&str) -> bool) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if keep(&name) {
                t.copy_(&seeded(&t.size(), &name, scale));
            }
        }
    });
}

/// The default test encoder.
pub fn build(plan: Option<AdapterPlan>, fused: bool) -> (ModelStore, Encoder) {
    build_sized(plan, fused, DIM, LAYERS)
}

/// A fixed pseudo-random input `[2, 5, DIM]`.
pub fn input() -> Tensor {
    seeded(&[2, 5, DIM], "input", 1.0)
}

/// Gives every `B` matrix (seeded) random values so adapters change the output.
pub fn randomize_b(store: &ModelStore) {
    fill_seeded(store.adapters(), 0.3, |name| {
        name.ends_with("lora_B.weight")
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
