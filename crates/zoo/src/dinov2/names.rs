//! DINOv2's two naming eras. Checkpoints (and older PEFT adapters) name a block's attention
//! `attention.attention.{query,key,value}` and `attention.output.dense`; transformers 5 modules, and so
//! PEFT adapters made on them, use `attention.{q,k,v,o}_proj`. The model is built with the checkpoint
//! names; these maps bring the newer names onto them.

use serial_lora::{AdapterPlan, TargetRule};

/// transformers-5 module → checkpoint module, for a name that follows an `attention` segment.
const AFTER_ATTENTION: [(&str, &str); 6] = [
    ("q_proj", "attention.query"),
    ("k_proj", "attention.key"),
    ("v_proj", "attention.value"),
    ("o_proj", "output.dense"),
    ("serial_lora_A", "attention.serial_lora_A"),
    ("serial_lora_B", "attention.serial_lora_B"),
];

/// transformers-5 short module name → checkpoint short name (PEFT `target_modules`).
const SHORT: [(&str, &str); 4] = [
    ("q_proj", "query"),
    ("k_proj", "key"),
    ("v_proj", "value"),
    ("o_proj", "dense"),
];

/// Rewrites a dotted tensor or module name: `…attention.q_proj…` → `…attention.attention.query…`;
/// names already in checkpoint form (`…attention.attention.…`) are returned unchanged.
pub fn checkpoint_name(name: &str) -> String {
    let segments: Vec<&str> = name.split('.').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len() + 1);
    for (i, segment) in segments.iter().enumerate() {
        let after_block_attention =
            i > 0 && segments[i - 1] == "attention" && (i < 2 || segments[i - 2] != "attention");
        let mapped = after_block_attention
            .then(|| AFTER_ATTENTION.iter().find(|(new, _)| new == segment))
            .flatten();
        match mapped {
            Some((_, old)) => out.extend(old.split('.')),
            None => out.push(segment),
        }
    }
    out.join(".")
}

/// `target_modules` of an adapter plan in checkpoint names: full paths through [`checkpoint_name`],
/// short names `q_proj`/`k_proj`/`v_proj`/`o_proj` to `query`/`key`/`value`/`dense`. A regex rule is
/// kept as written (it must use checkpoint names).
pub fn checkpoint_targets(plan: AdapterPlan) -> AdapterPlan {
    let targets = match plan.targets {
        TargetRule::ModuleNames(names) => TargetRule::ModuleNames(
            names
                .iter()
                .map(|n| {
                    SHORT
                        .iter()
                        .find(|(new, _)| new == n)
                        .map_or_else(|| checkpoint_name(n), |(_, old)| old.to_string())
                })
                .collect(),
        ),
        other => other,
    };
    AdapterPlan { targets, ..plan }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_transformers5_names_and_keeps_checkpoint_names() {
        let cases = [
            (
                "base_model.model.encoder.layer.3.attention.q_proj.lora_A.weight",
                "base_model.model.encoder.layer.3.attention.attention.query.lora_A.weight",
            ),
            (
                "encoder.layer.0.attention.o_proj.bias",
                "encoder.layer.0.attention.output.dense.bias",
            ),
            (
                "base_model.model.encoder.layer.1.attention.serial_lora_B.weight",
                "base_model.model.encoder.layer.1.attention.attention.serial_lora_B.weight",
            ),
            (
                "base_model.model.encoder.layer.1.attention.attention.serial_lora_B.weight",
                "base_model.model.encoder.layer.1.attention.attention.serial_lora_B.weight",
            ),
            (
                "encoder.layer.0.attention.attention.key.weight",
                "encoder.layer.0.attention.attention.key.weight",
            ),
            (
                "encoder.layer.0.attention.output.dense.weight",
                "encoder.layer.0.attention.output.dense.weight",
            ),
            (
                "encoder.layer.0.mlp.fc1.weight",
                "encoder.layer.0.mlp.fc1.weight",
            ),
        ];
        for (new, old) in cases {
            assert_eq!(checkpoint_name(new), old);
        }
    }

    #[test]
    fn maps_target_modules() {
        let plan = serial_lora::AdapterPlan::from(&serial_lora::AdapterConfig::lora(2));
        let names = [
            "q_proj",
            "o_proj",
            "fc1",
            "encoder.layer.0.attention.v_proj",
            "query",
        ]
        .map(String::from)
        .to_vec();
        let mapped = checkpoint_targets(AdapterPlan {
            targets: TargetRule::ModuleNames(names),
            ..plan
        });
        let TargetRule::ModuleNames(mapped) = mapped.targets else {
            panic!("rule kind changed")
        };
        assert_eq!(
            mapped,
            [
                "query",
                "dense",
                "fc1",
                "encoder.layer.0.attention.attention.value",
                "query"
            ]
        );
    }
}
