//! The experiment file's `prompt` field: `box` by default (the committed experiments and reference
//! runs keep their meaning and their `config.json`), `none` for the prompt-free mode, and the fields
//! that depend on it refused by name.

use std::path::{Path, PathBuf};

use runner::Experiment as _;
use runner::RunSpec as _;
use segmentation::config::Prompt;
use segmentation::{Experiment, RunSpec};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An experiment with `extra` lines at the top level; `Err` holds the parse or validation error.
fn parse(extra: &str) -> Result<Experiment, String> {
    let text = format!(
        r#"backbone = "b"
model_dir = "m"
dataset = "stardist"
seeds = [1]
methods = ["lora"]
ranks = [4]
iters = 3
normalize = "unit"
{extra}
[adapter]
alpha = 4.0
targets = ["q", "v"]
plus_ratio = 16.0
[optim]
lr = 0.001
weight_decay = 0.01
warmup_steps = 1
grad_clip = 1.0
"#
    );
    let e: Experiment = text.parse().map_err(|e: anyhow::Error| format!("{e:#}"))?;
    e.validate().map_err(|e| format!("{e:#}"))?;
    Ok(e)
}

#[test]
fn prompt_defaults_to_box_and_none_is_prompt_free() {
    let e = parse("boxes_per_step = 2").unwrap();
    assert_eq!(e.task.prompt, Prompt::Box);
    let e = parse("prompt = \"box\"\nboxes_per_step = 2").unwrap();
    assert_eq!(e.task.prompt, Prompt::Box);
    let e = parse("prompt = \"none\"\ntrain_decoder = true").unwrap();
    assert_eq!(e.task.prompt, Prompt::Free);
    let spec = e.grid_runs(Path::new("/"), None).unwrap().remove(0);
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["prompt"], "none");
    assert!(json.get("boxes_per_step").is_none(), "{json}");
}

#[test]
fn fields_that_depend_on_the_prompt_are_named() {
    let e = parse("prompt = \"none\"\ntrain_decoder = true\nboxes_per_step = 2").unwrap_err();
    assert!(
        e.contains("field `boxes_per_step`") && e.contains("prompt = \"none\""),
        "{e}"
    );
    for decoder in ["", "train_decoder = false"] {
        let e = parse(&format!("prompt = \"none\"\n{decoder}")).unwrap_err();
        assert!(
            e.contains("field `train_decoder`") && e.contains("train_decoder = true"),
            "{e}"
        );
    }
    let e = parse("").unwrap_err();
    assert!(e.contains("field `boxes_per_step` is missing"), "{e}");
    let e = parse("boxes_per_step = 0").unwrap_err();
    assert!(e.contains("boxes_per_step"), "{e}");
    let e = parse("prompt = \"points\"\nboxes_per_step = 2").unwrap_err();
    assert!(
        e.contains("points") && e.contains("box") && e.contains("none"),
        "{e}"
    );
    let e = parse("prompts = \"none\"\nboxes_per_step = 2").unwrap_err();
    assert!(e.contains("unknown field `prompts`"), "{e}");
}

#[test]
fn committed_experiments_and_reference_runs_keep_their_meaning() {
    for (file, prompt) in [
        ("segmentation_litemedsam.toml", Prompt::Box),
        ("segmentation_litemedsam_ranks.toml", Prompt::Box),
        ("segmentation_sam.toml", Prompt::Box),
        ("segmentation_litemedsam_noprompt.toml", Prompt::Free),
    ] {
        let e: Experiment = runner::read_toml(&repo().join("experiments").join(file)).unwrap();
        e.validate().unwrap_or_else(|err| panic!("{file}: {err:#}"));
        assert_eq!(e.task.prompt, prompt, "{file}");
    }
    // Every reference run's config.json reads back and writes out unchanged: a box run's has no
    // `prompt` key (so its folder is still the same run as before the field existed), a
    // prompt-free run's says `none`.
    let reference = repo().join("results/reference/segmentation");
    for run in std::fs::read_dir(&reference).unwrap() {
        let path = run.unwrap().path().join("config.json");
        if !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let spec: RunSpec = serde_json::from_str(&text).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let expected = match file.get("prompt") {
            None => Prompt::Box,
            Some(_) => Prompt::Free,
        };
        assert_eq!(spec.prompt, expected, "{}", path.display());
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            file,
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_selection_stage_scores_every_candidate_on_a_split_of_the_training_half() {
    let base = std::fs::read_to_string(repo().join("experiments/segmentation_litemedsam.toml"))
        .unwrap()
        .replace(
            r#"methods = ["lora", "serial_lora", "lora_plus", "serial_lora_plus"]"#,
            r#"methods = ["lora", "lora_plus"]"#,
        );
    let select = "[select]\nlrs = [1e-4, 1e-3]\nplus_ratios = [4.0, 16.0]\nrank = 8\nseed = 7\n\
                  validation_fraction = 0.5\n";
    let e: Experiment = (base + select).parse().unwrap();
    e.validate().unwrap();
    let stage = runner::Stage::Select(e.selection().expect("[select]"));
    let runs = runner::Experiment::runs(&e, &repo(), stage).unwrap();
    assert_eq!(
        runs.len(),
        2 + 2 * 2,
        "LoRA: 2 rates; LoRA+: 2 rates × 2 ratios"
    );
    for spec in &runs {
        assert_eq!((spec.seed, spec.rank), (7, 8));
        assert_eq!(spec.validation_fraction, Some(0.5));
        assert!(spec.name().starts_with("selection/"), "{}", spec.name());
        assert!(runner::RunSpec::scores_validation(spec));
    }
    let data = segmentation::samples::SegData::load("stardist", &repo(), Some(0.5)).unwrap();
    let (train, validation, _) = data.counts();
    assert!(train > 10 && validation > 10, "{train} / {validation}");
    let full = segmentation::samples::SegData::load("stardist", &repo(), None).unwrap();
    assert!(
        full.counts().0 > train,
        "the validation split lies inside the training half"
    );
}
