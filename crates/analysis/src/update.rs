//! Which q/k/v/o weights an adapter changes, where their pre-trained values live, and the merge.

use std::collections::BTreeMap;

use ndarray::{s, Array2};

use crate::adapter::{Adapter, AdapterKind, Pair};
use crate::error::{Error, Result};
use crate::merge;
use crate::site::{locate, Proj, Site};
use crate::tensors::TensorFile;

/// Where a site's pre-trained weight lives in the base checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSlice {
    /// The base tensor, `[d_out, d_in]`, or a fused `[3d, d]` qkv weight.
    pub tensor: String,
    /// For a fused qkv weight, the projection whose row block this site is.
    pub part: Option<Proj>,
}

impl BaseSlice {
    /// Loads the pre-trained weight of the site from `base`.
    pub fn load(&self, base: &TensorFile) -> Result<Array2<f64>> {
        let w = base.matrix(&self.tensor)?;
        let Some(part) = self.part else { return Ok(w) };
        if w.nrows() % 3 != 0 || w.nrows() / 3 != w.ncols() {
            return Err(Error::Shape {
                path: base.path().to_path_buf(),
                tensor: self.tensor.clone(),
                got: w.shape().to_vec(),
                expected: "a fused qkv weight [3d, d]".into(),
            });
        }
        let d = w.ncols();
        Ok(
            w.slice(s![part.row_block() * d..(part.row_block() + 1) * d, ..])
                .to_owned(),
        )
    }
}

/// How one adapter changes one site.
#[derive(Debug, Clone)]
pub struct SiteUpdate<'a> {
    /// The pre-trained weight.
    pub source: BaseSlice,
    /// The trained pair.
    pub pair: &'a Pair,
    /// Serial (`W(I + sBA)`) rather than parallel (`W + sBA`).
    pub serial: bool,
}

impl SiteUpdate<'_> {
    /// The merged weight from the pre-trained `w`; `adapter` is named in shape errors.
    pub fn apply(&self, w: &Array2<f64>, adapter: &Adapter) -> Result<Array2<f64>> {
        let (a, b, scale) = (&self.pair.a, &self.pair.b, adapter.config.scale);
        let (want_b_rows, want_a_cols) = if self.serial {
            (w.ncols(), w.ncols())
        } else {
            (w.nrows(), w.ncols())
        };
        let suffix = if self.serial { "serial_lora" } else { "lora" };
        let name = |m: &str| format!("base_model.model.{}.{suffix}_{m}.weight", self.pair.module);
        let shape = |tensor: String, got: &Array2<f64>, expected: String| Error::Shape {
            path: adapter.path.clone(),
            tensor,
            got: got.shape().to_vec(),
            expected,
        };
        if a.ncols() != want_a_cols {
            return Err(shape(
                name("A"),
                a,
                format!("[r, {want_a_cols}] to match `{}`", self.source.tensor),
            ));
        }
        if b.nrows() != want_b_rows {
            return Err(shape(
                name("B"),
                b,
                format!("[{want_b_rows}, r] to match `{}`", self.source.tensor),
            ));
        }
        Ok(if self.serial {
            merge::serial(w, a, b, scale)
        } else {
            merge::lora(w, a, b, scale)
        })
    }
}

/// The virtual module an MMDiT's context-stream Serial pair sits at, `<attention>.context`
/// (before `add_q_proj`/`add_k_proj`/`add_v_proj`).
const CONTEXT_STREAM: &str = ".context";

/// Every q/k/v/o site `adapter` changes, with where its base weight lives in `base`. LoRA pairs on
/// other modules (MLP) are skipped: the spectra cover the attention projections. Serial LoRA
/// changes q, k and v only. An MMDiT's context (text) stream, LoRA on `add_q_proj`/`add_k_proj`/
/// `add_v_proj`/`to_add_out` or Serial LoRA at `attn.context`, is skipped too: the spectra cover
/// its image stream (`attn.to_q`/`to_k`/`to_v`/`to_out.0`, Serial LoRA at `attn`).
pub fn site_updates<'a>(
    base: &TensorFile,
    adapter: &'a Adapter,
) -> Result<BTreeMap<Site, SiteUpdate<'a>>> {
    let mut sites = BTreeMap::new();
    for pair in &adapter.pairs {
        let (tower, block) = locate(&pair.module).ok_or_else(|| {
            Error::tensor(
                &adapter.path,
                &pair.module,
                "module path has no `layers.<i>`, `layer.<i>` or `blocks.<i>` component",
            )
        })?;
        let serial = adapter.config.kind == AdapterKind::SerialLora;
        if serial && pair.module.ends_with(CONTEXT_STREAM) {
            continue;
        }
        let sources = if serial {
            serial_sources(base, &pair.module)?
        } else {
            lora_source(&pair.module)
        };
        for (proj, source) in sources {
            sites.insert(
                Site {
                    tower: tower.clone(),
                    block,
                    proj,
                },
                SiteUpdate {
                    source,
                    pair,
                    serial,
                },
            );
        }
    }
    Ok(sites)
}

/// A LoRA module `<m>` adapts `<m>.weight`; a slice `<m>.q` adapts row block q of the fused `<m>.weight`.
fn lora_source(module: &str) -> Vec<(Proj, BaseSlice)> {
    let (parent, leaf) = module.rsplit_once('.').unwrap_or(("", module));
    let Some(proj) = Proj::from_module(module) else {
        return Vec::new();
    };
    let source = if matches!(leaf, "q" | "k" | "v") {
        BaseSlice {
            tensor: format!("{parent}.weight"),
            part: Some(proj),
        }
    } else {
        BaseSlice {
            tensor: format!("{module}.weight"),
            part: None,
        }
    };
    vec![(proj, source)]
}

/// The q/k/v weights under attention module `<a>`: `q_proj`/`k_proj`/`v_proj` (CLIP),
/// `query`/`key`/`value` (DINOv2), `to_q`/`to_k`/`to_v` (an MMDiT's image stream), or the fused
/// `qkv` (SAM).
fn serial_sources(base: &TensorFile, module: &str) -> Result<Vec<(Proj, BaseSlice)>> {
    for names in [
        ["q_proj", "k_proj", "v_proj"],
        ["query", "key", "value"],
        ["to_q", "to_k", "to_v"],
    ] {
        if base.contains(&format!("{module}.{}.weight", names[0]))? {
            let slices = Proj::ALL.into_iter().zip(names);
            return Ok(slices
                .map(|(p, n)| {
                    (
                        p,
                        BaseSlice {
                            tensor: format!("{module}.{n}.weight"),
                            part: None,
                        },
                    )
                })
                .collect());
        }
    }
    let fused = format!("{module}.qkv.weight");
    if base.contains(&fused)? {
        return Ok(Proj::ALL
            .into_iter()
            .map(|p| {
                (
                    p,
                    BaseSlice {
                        tensor: fused.clone(),
                        part: Some(p),
                    },
                )
            })
            .collect());
    }
    Err(Error::MissingTensor {
        path: base.path().to_path_buf(),
        tensor: format!(
            "{module}.q_proj.weight, {module}.query.weight, {module}.to_q.weight or {module}.qkv.weight"
        ),
    })
}
