//! Serial LoRA and LoRA in a model of your own, written with plain `tch::nn`:
//!
//! ```text
//! cargo run --release -p serial-lora --example own_model
//! ```
//!
//! A pre-LN ViT block (LayerNorm, multi-head self-attention, MLP) is defined below. Its attention
//! projections come from this crate ([`QkvProjection`], [`AdaptedLinear`]), so the same code gets
//! LoRA on q, k, v, o or one shared Serial LoRA pair per block, as the [`AdapterPlan`] says. For
//! each method the example trains the adapters a few steps on random data (the base stays frozen),
//! checks that merging them into the weights changes no output, saves them as a PEFT-style adapter
//! folder, reloads that folder into a freshly built model and checks the outputs are the same.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serial_lora::{
    read_adapter_plan, AdamW, AdaptedLinear, AdapterConfig, AdapterPlan, ModelStore, OptimConfig,
    QkvProjection, Result, SelfAttention, SitePath, Target,
};
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// Width, heads and tokens of the example.
const DIM: i64 = 64;
const HEADS: i64 = 4;
const TOKENS: i64 = 17;

/// One pre-LN transformer block; the variable names are those of a transformers checkpoint.
struct Block {
    norm1: nn::LayerNorm,
    attn: SelfAttention,
    norm2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Block {
    /// The block under `p`: frozen base weights go to `p.base()`, adapters where the plan says.
    fn new(p: &SitePath) -> Result<Self> {
        let a = p / "attention";
        let qkv = QkvProjection::separate(&a, ["query", "key", "value"], DIM, true)?;
        let out = AdaptedLinear::new(&(&a / "output"), Target::O, DIM, DIM, true)?;
        let base = p.base();
        Ok(Self {
            norm1: nn::layer_norm(base / "norm1", vec![DIM], Default::default()),
            attn: SelfAttention::new(qkv, out, HEADS),
            norm2: nn::layer_norm(base / "norm2", vec![DIM], Default::default()),
            fc1: nn::linear(base / "fc1", DIM, 4 * DIM, Default::default()),
            fc2: nn::linear(base / "fc2", 4 * DIM, DIM, Default::default()),
        })
    }

    /// `x + Attn(LN(x))`, then `x + MLP(LN(x))`.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x + self
            .attn
            .forward_t(&self.norm1.forward(x), None, false, train);
        let h = self.fc1.forward(&self.norm2.forward(&x)).gelu("none");
        &x + self.fc2.forward(&h)
    }
}

/// Builds the block with `plan`'s adapters (none for `None`) and loads the base weights from the
/// safetensors file `base` (as you would load your pre-trained checkpoint).
fn build(plan: Option<AdapterPlan>, base: &std::path::Path) -> Result<(ModelStore, Block)> {
    let (store, block) =
        ModelStore::build(Device::Cpu, plan, |root| Block::new(&(root / "block")))?;
    store.load_base(base, str::to_string)?;
    Ok((store, block))
}

/// `size` values of N(0, 1)-ish noise from an explicit generator (no global RNG).
fn noise(rng: &mut ChaCha8Rng, size: &[i64]) -> Tensor {
    let n: i64 = size.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.7f32..1.7)).collect();
    Tensor::from_slice(&values).view(size)
}

fn largest_difference(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("serial-lora-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| serial_lora::Error::io(&dir, e))?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);

    // A "pre-trained" checkpoint: the base model's weights, random here, in a safetensors file.
    let base_file = dir.join("model.safetensors");
    let (plain, _) = ModelStore::build(Device::Cpu, None, |root| Block::new(&(root / "block")))?;
    // In name order, so every run draws the same values for the same weights.
    let variables: std::collections::BTreeMap<String, Tensor> =
        plain.base().variables().into_iter().collect();
    let weights: Vec<(String, Tensor)> = variables
        .into_iter()
        .map(|(name, t)| {
            let values = noise(&mut rng, &t.size()) * 0.1;
            (name, values)
        })
        .collect();
    serial_lora::checkpoint::save_tensors(&base_file, &weights)?;

    // A regression task on random tokens: 8 sequences, targets from a fixed random map.
    let x = noise(&mut rng, &[8, TOKENS, DIM]);
    let target = noise(&mut rng, &[8, TOKENS, DIM]) * 0.5;

    for (method, config) in [
        ("lora", AdapterConfig::lora(8)),
        ("serial_lora", AdapterConfig::serial_lora(8)),
    ] {
        let (store, block) = build(Some(AdapterPlan::from(&config)), &base_file)?;
        let trainable = store.parameter_count().total;

        // Train the adapters only (the base was frozen by ModelStore::build).
        let steps = 30;
        let optim = OptimConfig {
            lr: 3e-3,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            eps: 1e-8,
            warmup_steps: 0,
            total_steps: steps,
            min_lr: 3e-3,
            grad_clip: None,
            lr_ratio: 1.0,
        };
        let mut adamw = AdamW::new(&[store.adapters()], optim)?;
        let mut losses = Vec::new();
        for step in 0..steps {
            store.set_step(step as u64);
            let loss = (block.forward_t(&x, true) - &target).square().mean(None);
            losses.push(adamw.step(&loss)?.loss);
        }

        // Merge into the weights (W ← W + s·BA for LoRA, W ← W(I + s·BA) for Serial LoRA):
        // the same outputs without the adapter's extra matrix products.
        let adapted = tch::no_grad(|| block.forward_t(&x, false));
        store.merge();
        let merged = tch::no_grad(|| block.forward_t(&x, false));
        store.unmerge();
        let merge_error = largest_difference(&adapted, &merged);

        // Save as a PEFT-style adapter folder, rebuild a fresh model from its config, reload.
        let adapter_dir = dir.join(format!("{method}-adapter"));
        store.save_adapter(&adapter_dir)?;
        let (fresh, fresh_block) = build(Some(read_adapter_plan(&adapter_dir)?), &base_file)?;
        fresh.load_adapter(&adapter_dir, str::to_string)?;
        let reloaded = tch::no_grad(|| fresh_block.forward_t(&x, false));
        let reload_error = largest_difference(&adapted, &reloaded);

        println!(
            "{method}: {trainable} trainable parameters; loss {:.4} -> {:.4} in {steps} steps; \
             merged vs adapted: {merge_error:.1e}; reloaded vs trained: {reload_error:.1e}",
            losses[0],
            losses[steps - 1],
        );
        assert!(
            losses[steps - 1] < losses[0],
            "{method}: the loss should fall"
        );
        assert!(merge_error < 1e-4, "{method}: merging changed the output");
        assert_eq!(reload_error, 0.0, "{method}: the reloaded adapter differs");
    }
    std::fs::remove_dir_all(&dir).map_err(|e| serial_lora::Error::io(&dir, e))?;
    Ok(())
}
