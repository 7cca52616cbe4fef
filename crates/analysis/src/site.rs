//! Where a q/k/v/o weight sits in a vision transformer: tower, block and projection.

use std::fmt;

/// One of the attention projections an adapter can change (Serial LoRA: q, k, v; LoRA also o).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proj {
    /// Query.
    Q,
    /// Key.
    K,
    /// Value.
    V,
    /// Output (LoRA only; never part of a fused qkv weight).
    O,
}

impl Proj {
    /// q, k and v, in order (also the row-block order of a fused qkv weight).
    pub const ALL: [Proj; 3] = [Proj::Q, Proj::K, Proj::V];

    /// q, k, v and o, in order.
    pub const WITH_OUTPUT: [Proj; 4] = [Proj::Q, Proj::K, Proj::V, Proj::O];

    /// `q`, `k`, `v` or `o`.
    pub fn name(self) -> &'static str {
        match self {
            Proj::Q => "q",
            Proj::K => "k",
            Proj::V => "v",
            Proj::O => "o",
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

    /// The projection a module path is: q, k or v by its leaf ([`Proj::from_module_leaf`]), or the
    /// attention output `…out_proj`/`…o_proj` (CLIP), `…attention.output.dense` (DINOv2),
    /// `…attn.proj` (SAM) or `…to_out.0` (diffusers); `None` for anything else (MLP).
    pub fn from_module(module: &str) -> Option<Self> {
        let leaf = module.rsplit('.').next().unwrap_or(module);
        if let Some(p) = Self::from_module_leaf(leaf) {
            return Some(p);
        }
        let output = matches!(leaf, "out_proj" | "o_proj")
            || [".attention.output.dense", ".attn.proj", ".to_out.0"]
                .iter()
                .any(|end| format!(".{module}").ends_with(end));
        output.then_some(Proj::O)
    }
}

impl fmt::Display for Proj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A q/k/v/o weight of one block of one tower.
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
/// `layers`/`layer`/`blocks`/`transformer_blocks` (an MMDiT's) component that is followed by an
/// integer, or that component itself when it is the first, the block is that integer (so
/// TinyViT's `image_encoder.layers.2.blocks.3` is block 3 of tower `image_encoder.layers.2`, and
/// an MMDiT's `transformer_blocks.1.attn` block 1 of tower `transformer_blocks`).
pub fn locate(module: &str) -> Option<(String, usize)> {
    let parts: Vec<&str> = module.split('.').collect();
    parts.windows(2).enumerate().rev().find_map(|(i, w)| {
        let block = w[1]
            .parse()
            .ok()
            .filter(|_| matches!(w[0], "layers" | "layer" | "blocks" | "transformer_blocks"))?;
        Some((parts[..i.max(1)].join("."), block))
    })
}

#[cfg(test)]
mod tests {
    use super::{locate, Proj};

    #[test]
    fn a_block_list_at_the_root_is_its_own_tower() {
        assert_eq!(
            locate("transformer_blocks.3.attn"),
            Some(("transformer_blocks".into(), 3))
        );
        assert_eq!(
            locate("transformer_blocks.0.attn.to_out.0"),
            Some(("transformer_blocks".into(), 0))
        );
        assert_eq!(
            locate("image_encoder.blocks.2.attn"),
            Some(("image_encoder".into(), 2))
        );
        assert_eq!(locate("attn.to_q"), None);
    }

    #[test]
    fn output_projections_are_recognised_by_their_module_path() {
        for m in [
            "vision_model.encoder.layers.0.self_attn.out_proj",
            "model.layers.0.self_attn.o_proj",
            "encoder.layer.3.attention.output.dense",
            "image_encoder.blocks.2.attn.proj",
            "transformer_blocks.0.attn.to_out.0",
        ] {
            assert_eq!(Proj::from_module(m), Some(Proj::O), "{m}");
        }
        assert_eq!(
            Proj::from_module("encoder.layer.3.attention.attention.query"),
            Some(Proj::Q)
        );
        for m in [
            "encoder.layer.3.output.dense",
            "encoder.layer.3.mlp.fc1",
            "blocks.2.mlp.proj",
        ] {
            assert_eq!(Proj::from_module(m), None, "{m}");
        }
    }
}
