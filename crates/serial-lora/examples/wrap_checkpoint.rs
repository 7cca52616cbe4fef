//! Serial LoRA on the encoder of a transformers ViT checkpoint of your own:
//!
//! ```text
//! cargo run --release -p serial-lora --example wrap_checkpoint -- [model.safetensors]
//! ```
//!
//! The example reads the file's tensor names and shapes (transformers' `ViTModel` /
//! `ViTForImageClassification` names: `vit.encoder.layer.<i>.attention.attention.query.weight`, …),
//! rebuilds its encoder blocks in `tch` under the same names with the attention projections from
//! this crate, copies the checkpoint's weights in, attaches Serial LoRA (one pair per block, before
//! q, k, v), checks that the adapted encoder starts exactly at the pre-trained one (`B = 0`) and
//! writes the adapter folder. The file's other tensors (patch embedding, classifier) are left to
//! your code. Without an argument it first writes a small random ViT checkpoint and wraps that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serial_lora::checkpoint::{read_tensors, save_tensors};
use serial_lora::{
    AdaptedLinear, AdapterConfig, AdapterPlan, Error, ModelStore, QkvProjection, Result,
    SelfAttention, SitePath, Target,
};
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// The prefix of encoder layer `i` in a transformers ViT checkpoint.
fn layer_prefix(i: usize) -> String {
    format!("vit.encoder.layer.{i}")
}

/// One transformers `ViTLayer`, its variables named as the checkpoint names them.
struct ViTLayer {
    before: nn::LayerNorm,
    attn: SelfAttention,
    after: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
}

impl ViTLayer {
    fn new(p: &SitePath, dim: i64, hidden: i64, heads: i64) -> Result<Self> {
        let attention = p / "attention";
        let qkv = QkvProjection::separate(
            &(&attention / "attention"),
            ["query", "key", "value"],
            dim,
            true,
        )?;
        let out = AdaptedLinear::new(
            &(&attention / "output" / "dense"),
            Target::O,
            dim,
            dim,
            true,
        )?;
        let base = p.base();
        let eps = nn::LayerNormConfig {
            eps: 1e-12,
            ..Default::default()
        };
        Ok(Self {
            before: nn::layer_norm(base / "layernorm_before", vec![dim], eps),
            attn: SelfAttention::new(qkv, out, heads),
            after: nn::layer_norm(base / "layernorm_after", vec![dim], eps),
            intermediate: nn::linear(
                base / "intermediate" / "dense",
                dim,
                hidden,
                Default::default(),
            ),
            output: nn::linear(base / "output" / "dense", hidden, dim, Default::default()),
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x + self
            .attn
            .forward_t(&self.before.forward(x), None, false, train);
        let h = self
            .intermediate
            .forward(&self.after.forward(&x))
            .gelu("none");
        &x + self.output.forward(&h)
    }
}

/// Width, MLP width and depth of the checkpoint's encoder, read from its tensor shapes.
fn shape_of(tensors: &BTreeMap<String, Tensor>, file: &Path) -> Result<(i64, i64, usize)> {
    let get = |name: &str| {
        tensors.get(name).ok_or_else(|| {
            Error::config(
                "checkpoint",
                format!(
                    "{}: no tensor `{name}` (not a transformers ViT?)",
                    file.display()
                ),
            )
        })
    };
    let dim = get(&format!(
        "{}.attention.attention.query.weight",
        layer_prefix(0)
    ))?
    .size()[0];
    let hidden = get(&format!("{}.intermediate.dense.weight", layer_prefix(0)))?.size()[0];
    let layers = (0..)
        .take_while(|&i| {
            tensors.contains_key(&format!("{}.layernorm_before.weight", layer_prefix(i)))
        })
        .count();
    Ok((dim, hidden, layers))
}

/// A small random ViT checkpoint (2 layers of width 64) in transformers' names, at `path`.
fn write_example_checkpoint(path: &Path) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut random = |size: &[i64]| {
        let n: i64 = size.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        Tensor::from_slice(&values).view(size)
    };
    let (dim, hidden) = (64, 256);
    let mut tensors = vec![
        ("vit.embeddings.cls_token".to_string(), random(&[1, 1, dim])),
        ("classifier.weight".to_string(), random(&[10, dim])),
    ];
    for i in 0..2 {
        let l = layer_prefix(i);
        let mut linear = |name: &str, d_in: i64, d_out: i64| {
            tensors.push((format!("{l}.{name}.weight"), random(&[d_out, d_in])));
            tensors.push((format!("{l}.{name}.bias"), random(&[d_out])));
        };
        for name in ["query", "key", "value"] {
            linear(&format!("attention.attention.{name}"), dim, dim);
        }
        linear("attention.output.dense", dim, dim);
        linear("intermediate.dense", dim, hidden);
        linear("output.dense", hidden, dim);
        for norm in ["layernorm_before", "layernorm_after"] {
            tensors.push((
                format!("{l}.{norm}.weight"),
                Tensor::ones([dim], (tch::Kind::Float, Device::Cpu)),
            ));
            tensors.push((
                format!("{l}.{norm}.bias"),
                Tensor::zeros([dim], (tch::Kind::Float, Device::Cpu)),
            ));
        }
    }
    save_tensors(path, &tensors)
}

fn main() -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("serial-lora-wrap-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
    let file = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => {
            let path = scratch.join("vit.safetensors");
            write_example_checkpoint(&path)?;
            path
        }
    };
    let tensors = read_tensors(&file)?;
    let (dim, hidden, layers) = shape_of(&tensors, &file)?;
    // Heads of width 64, as in every ViT size transformers ships (ViT-S: 6, ViT-B: 12, ViT-L: 16).
    let heads = (dim / 64).max(1);
    println!(
        "{}: ViT encoder, {layers} layers of width {dim} (MLP {hidden}, {heads} heads)",
        file.display()
    );

    let build = |plan: AdapterPlan| {
        ModelStore::build(Device::Cpu, Some(plan), |root| {
            let layer = root / "vit" / "encoder" / "layer";
            (0..layers)
                .map(|i| ViTLayer::new(&layer.layer(i, i), dim, hidden, heads))
                .collect::<Result<Vec<_>>>()
        })
    };
    let (store, encoder) = build(AdapterPlan::from(&AdapterConfig::serial_lora(8)))?;
    // The checkpoint's weights into the store's variables of the same names.
    let mut copied = 0;
    tch::no_grad(|| {
        for (name, mut variable) in store.base().variables() {
            let weight = tensors
                .get(&name)
                .expect("every encoder variable is named as in the file");
            variable.copy_(weight);
            copied += 1;
        }
    });
    let left = tensors.len() - copied;
    println!("{copied} encoder tensors loaded; {left} other tensors of the file left to your code");

    let x =
        Tensor::linspace(-1.0, 1.0, 2 * 5 * dim, (tch::Kind::Float, Device::Cpu)).view([2, 5, dim]);
    let run = |x: &Tensor| {
        encoder
            .iter()
            .fold(x.shallow_clone(), |h, l| l.forward_t(&h, false))
    };
    let adapted = tch::no_grad(|| run(&x));
    store.merge();
    let frozen_equivalent = tch::no_grad(|| run(&x));
    store.unmerge();
    assert!(
        adapted.equal(&frozen_equivalent),
        "B = 0: the adapter starts at the base"
    );
    let count = store.parameter_count();
    println!(
        "Serial LoRA r8: {} trainable parameters in {} sites (one per block; LoRA on q, k, v, o would train {})",
        count.total,
        count.sites.len(),
        4 * count.total
    );
    // The adapter folder (PEFT-style), read back into a model built from its own config.
    let adapter = scratch.join("adapter");
    store.save_adapter(&adapter)?;
    let (again, _) = build(serial_lora::read_adapter_plan(&adapter)?)?;
    again.load_adapter(&adapter, str::to_string)?;
    println!("adapter_config.json and adapter_model.safetensors written and read back");
    std::fs::remove_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
    Ok(())
}
