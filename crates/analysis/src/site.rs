//! Where a q/k/v weight sits in a vision transformer: tower, block and projection.

use std::fmt;

/// One of the three projections an adapter can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proj {
    /// Query.
    Q,
    /// Key.
    K,
    /// Value.
    V,
}

impl Proj {
    /// All three, in order (also the row-block order of a fused qkv weight).
    pub const ALL: [Proj; 3] = [Proj::Q, Proj::K, Proj::V];

    /// `q`, `k` or `v`.
    pub fn name(self) -> &'static str {
        match self {
            Proj::Q => "q",
            Proj::K => "k",
            Proj::V => "v",
        }
    }

    /// The row block of a fused `[3d, d]` qkv weight that holds this projection.
    pub fn row_block(self) -> usize {
        self as usize
    }

    /// The projection a module name ends in: `q_proj` (CLIP), `query` (DINOv2), `to_q` (diffusers),
    /// or the slice name `q` of a fused qkv; `None` for any other module (output, MLP).
    pub fn from_module_leaf(leaf: &str) -> Option<Self> {
        match leaf {
            "q_proj" | "query" | "to_q" | "q" => Some(Proj::Q),
            "k_proj" | "key" | "to_k" | "k" => Some(Proj::K),
            "v_proj" | "value" | "to_v" | "v" => Some(Proj::V),
            _ => None,
        }
    }
}

impl fmt::Display for Proj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A q/k/v weight of one block of one tower.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The module path before the block list, e.g. `vision_model.encoder` (tells CLIP's towers apart).
    pub tower: String,
    /// The block index.
    pub block: usize,
    /// The projection.
    pub proj: Proj,
}

/// Splits a module path into its tower and block: the tower is everything before the last
/// `layers`/`layer`/`blocks` component that is followed by an integer, the block is that integer
/// (so TinyViT's `image_encoder.layers.2.blocks.3` is block 3 of tower `image_encoder.layers.2`).
pub fn locate(module: &str) -> Option<(String, usize)> {
    let parts: Vec<&str> = module.split('.').collect();
    parts.windows(2).enumerate().rev().find_map(|(i, w)| {
        let block = w[1]
            .parse()
            .ok()
            .filter(|_| matches!(w[0], "layers" | "layer" | "blocks"))?;
        Some((parts[..i].join("."), block))
    })
}
