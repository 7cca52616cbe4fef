//! Parameter counts: Figure 1's SD3 pair, the 1/4 ratio, the CSV, and `--config`.

mod common;

use analysis::params::{
    components_from_config, figure1_label, params, presets, trainable_params, ParamsOptions,
    Placement, RANKS,
};
use analysis::Error;
use common::write_json;
use serde_json::json;

#[test]
fn figure_1_pairs_by_task_row() {
    let find = |model: &str| presets().into_iter().find(|c| c.model == model).unwrap();
    // SD3-medium from its shipped transformer config.json: 24 blocks of width 24·64.
    let sd3 = find("sd3-medium");
    assert_eq!((sd3.towers[0].blocks, sd3.towers[0].width), (24, 1536));
    assert_eq!(trainable_params(&sd3, Placement::LoraQkvo, 64), 18_874_368);
    assert_eq!(trainable_params(&sd3, Placement::SerialLora, 64), 4_718_592);
    // The 18.87M / 4.72M pair is the segmentation row: SAM ViT-B, q,k,v,o at rank 256.
    let sam = find("sam-vit-b");
    assert_eq!(trainable_params(&sam, Placement::LoraQkvo, 256), 18_874_368);
    assert_eq!(
        trainable_params(&sam, Placement::SerialLora, 256),
        4_718_592
    );
    assert!(figure1_label("sam-vit-b", Placement::LoraQkvo, 256)
        .starts_with("segmentation row: 18.87M"));
    assert!(figure1_label("sam-vit-b", Placement::SerialLora, 256)
        .starts_with("segmentation row: 4.72M"));
    // 19.32M / 4.83M is the generation row, 1.0236× the SD3-medium count.
    assert!(figure1_label("sd3-medium", Placement::LoraQkvo, 64)
        .contains("generation row: paper 19.32M"));
    assert!(figure1_label("sd3-medium", Placement::SerialLora, 64)
        .contains("generation row: paper 4.83M"));
    for (paper, ours) in [(19.32e6, 18_874_368.0), (4.83e6, 4_718_592.0)] {
        assert!((paper / ours - 1.0236f64).abs() < 5e-4, "{paper} / {ours}");
    }
    assert_eq!(figure1_label("sd3-medium", Placement::LoraQkvo, 32), "");
}

#[test]
fn serial_is_a_quarter_of_lora_qkvo_everywhere() {
    for c in presets() {
        for r in RANKS {
            let (lora, serial) = (
                trainable_params(&c, Placement::LoraQkvo, r),
                trainable_params(&c, Placement::SerialLora, r),
            );
            assert!(
                serial > 0 && 4 * serial == lora,
                "{}/{} r={r}: {serial} vs {lora}",
                c.model,
                c.component
            );
            assert_eq!(2 * trainable_params(&c, Placement::LoraQv, r), lora);
            assert_eq!(
                2 * trainable_params(&c, Placement::LoraQkv, r),
                3 * trainable_params(&c, Placement::LoraQv, r)
            );
        }
    }
}

#[test]
fn csv_holds_every_model_method_and_rank() {
    let tmp = tempfile::tempdir().unwrap();
    let path = params(&ParamsOptions {
        configs: vec![],
        results: tmp.path().join("results"),
    })
    .unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "model",
            "component",
            "method",
            "rank",
            "blocks",
            "width",
            "trainable_params",
            "paper_figure1"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        presets().len() * Placement::ALL.len() * RANKS.len()
    );
    let find = |model: &str, method: &str, rank: &str| {
        rows.iter()
            .find(|r| &r[0] == model && &r[2] == method && &r[3] == rank)
            .unwrap()[6]
            .to_string()
    };
    assert_eq!(find("sd3-medium", "lora_qkvo", "64"), "18874368");
    assert_eq!(find("sd3-medium", "serial_lora", "64"), "4718592");
    let labelled: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| !r[7].is_empty())
        .map(|r| (&r[0], &r[2], &r[3]))
        .collect();
    assert_eq!(
        labelled,
        [
            ("sam-vit-b", "lora_qkvo", "256"),
            ("sam-vit-b", "serial_lora", "256"),
            ("sd3-medium", "lora_qkvo", "64"),
            ("sd3-medium", "serial_lora", "64")
        ]
    );
    let both = rows
        .iter()
        .find(|r| &r[0] == "clip-vit-b16" && &r[1] == "both")
        .unwrap();
    assert_eq!((&both[4], &both[5]), ("12+12", "768+512"));
}

#[test]
fn config_json_gives_the_same_counts_as_the_presets() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip-vit-b16");
    write_json(
        &clip.join("config.json"),
        &json!({ "model_type": "clip", "vision_config": { "hidden_size": 768, "num_hidden_layers": 12 },
                 "text_config": { "hidden_size": 512, "num_hidden_layers": 12 } }),
    );
    let sd3 = tmp.path().join("sd3-medium");
    write_json(
        &sd3.join("config.json"),
        &json!({ "_class_name": "SD3Transformer2DModel", "num_layers": 24, "attention_head_dim": 64, "num_attention_heads": 24 }),
    );
    let sam = tmp.path().join("sam-vit-b");
    write_json(
        &sam.join("config.json"),
        &json!({ "model_type": "sam", "vision_config": { "hidden_size": 768, "num_hidden_layers": 12 } }),
    );
    let mut got = Vec::new();
    for dir in [&clip, &sam, &sd3] {
        got.extend(components_from_config(dir).unwrap());
    }
    let want = presets();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.model, &g.component, &g.towers),
            (&w.model, &w.component, &w.towers)
        );
    }

    write_json(
        &clip.join("config.json"),
        &json!({ "vision_config": { "hidden_size": 768 }, "text_config": {} }),
    );
    let err = components_from_config(&clip).unwrap_err();
    assert!(
        matches!(&err, Error::Field { field, .. } if field == "vision_config.num_hidden_layers"),
        "{err}"
    );
    let err = components_from_config(&tmp.path().join("nowhere")).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("config.json"),
        "{err}"
    );
}
