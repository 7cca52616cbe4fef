//! `analysis report` and `analysis compare` on a hand-made generation summary (FD, lower is
//! better): the table with KID and the classifier's accuracies, the paired differences, the
//! Markdown's direction, the chosen learning rates, Figure 5 (`fig5_<model>.png`) and the loss
//! figure.

use std::collections::BTreeMap;
use std::path::Path;

use analysis::compare::{compare, CompareOptions, Task, Verdict};
use analysis::plot::style::color;
use analysis::report::{report, ReportOptions};
use formats::Method;

const HEADER: &str = "model,dataset,method,rank,seed,lr,plus_ratio,trainable_params,fd_dinov2,kid,instance_accuracy,preservation_accuracy,validation_loss,samples,steps,train_seconds,peak_rss_mb\n";

/// LoRA on q,k,v,o at rank r (d = 4, one block): 8·d·r; Serial: 2·d·r; full fine-tuning 1000.
fn params(method: &str, rank: usize) -> usize {
    match method {
        "lora" | "lora_plus" => 32 * rank,
        "serial_lora" | "serial_lora_plus" => 8 * rank,
        "full" => 1000,
        _ => 0,
    }
}

/// A grid row of model `mmdit` on `fashion`; KID is FD / 1000, instance accuracy 0.5 + seed/10,
/// preservation accuracy 0.9 (empty for the base model, which records none here).
fn row(method: &str, rank: usize, seed: u64, fd: f64) -> String {
    let preservation = if method == "zero_shot" { "" } else { "0.9" };
    format!(
        "mmdit,fashion,{method},{rank},{seed},0.001,1,{},{fd},{},{},{preservation},,500,100,10.0,900\n",
        params(method, rank),
        fd / 1000.0,
        0.5 + seed as f64 / 10.0
    )
}

/// The base model (FD 300), full fine-tuning (150 + seed) and every adapter method at ranks 8 and
/// 32 over seeds 1–3: LoRA r=8 201–203, Serial LoRA r=8 192, 194, 196 (Serial − LoRA = −9, −8, −7),
/// Serial LoRA r=32 (LoRA r=8's parameters) 180 + seed, the + variants 10 below their plain ones.
fn grid() -> String {
    let mut text = HEADER.to_string() + &row("zero_shot", 0, 1, 300.0);
    for seed in 1..=3u64 {
        let s = seed as f64;
        text += &row("full", 0, seed, 150.0 + s);
        for (plus, shift) in [("", 0.0), ("_plus", -10.0)] {
            text += &row(&format!("lora{plus}"), 8, seed, 200.0 + s + shift);
            text += &row(&format!("lora{plus}"), 32, seed, 190.0 + s + shift);
            text += &row(
                &format!("serial_lora{plus}"),
                8,
                seed,
                190.0 + 2.0 * s + shift,
            );
            text += &row(&format!("serial_lora{plus}"), 32, seed, 180.0 + s + shift);
        }
    }
    text
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn options(dir: &Path, from: &Path) -> ReportOptions {
    ReportOptions {
        task: Task::Generation,
        from: Some(from.to_path_buf()),
        results: dir.join("results"),
        figures: dir.join("figures"),
    }
}

/// The CSV at `path` as maps from column to value, one per row.
fn read_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column}: {row:?}"))
}

fn find<'a>(
    rows: &'a [BTreeMap<String, String>],
    method: &str,
    rank: usize,
) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["method"] == method && r["rank"] == rank.to_string())
        .unwrap_or_else(|| panic!("{method} r={rank}: {rows:?}"))
}

#[test]
fn table_carries_fd_kid_and_accuracies_without_a_zero_shot_column() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("generation");
    // A selection run (no samples scored, a validation loss) is left out of the table.
    let selection = "mmdit,fashion,lora,8,9,0.01,1,256,,,,,0.125,0,100,1.0,900\n";
    write(&from.join("summary.csv"), &(grid() + selection));
    report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/table.csv"));
    let header: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    for column in [
        "model",
        "fd_dinov2_mean",
        "fd_dinov2_std",
        "kid_mean",
        "kid_std",
        "instance_accuracy_mean",
        "instance_accuracy_std",
        "preservation_accuracy_mean",
        "preservation_accuracy_std",
        "train_seconds_mean",
    ] {
        assert!(header.contains(&column), "{column}: {header:?}");
    }
    assert!(
        header.iter().all(|h| !h.starts_with("zero_shot")),
        "{header:?}"
    );
    let lora8 = find(&rows, "lora", 8);
    assert_eq!(lora8["n"], "3", "the selection run is not a seed");
    assert!((num(lora8, "fd_dinov2_mean") - 202.0).abs() < 1e-9);
    assert!((num(lora8, "fd_dinov2_std") - 1.0).abs() < 1e-9);
    assert!((num(lora8, "kid_mean") - 0.202).abs() < 1e-12);
    assert!((num(lora8, "instance_accuracy_mean") - 0.7).abs() < 1e-12);
    assert!((num(lora8, "instance_accuracy_std") - 0.1).abs() < 1e-12);
    let base = find(&rows, "zero_shot", 0);
    assert_eq!(base["n"], "1");
    assert!((num(base, "fd_dinov2_mean") - 300.0).abs() < 1e-9);
    assert_eq!(base["preservation_accuracy_mean"], "", "not recorded");
    // Base, full, and 4 methods × 2 ranks.
    assert_eq!(rows.len(), 10);
}

#[test]
fn paired_differences_and_markdown_follow_the_lower_is_better_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("generation");
    write(&from.join("summary.csv"), &grid());
    write(
        &from.join("lr_selection.csv"),
        "backbone,dataset,method,rank,seed,lr,plus_ratio,validation_loss,chosen\n\
         mmdit,fashion,lora,8,1,0.0001,1,0.500000,false\n\
         mmdit,fashion,lora,8,1,0.001,1,0.250000,true\n",
    );
    let out = report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/paired.csv"));
    let pair = |comparison: &str, a: (&str, usize), b: (&str, usize)| {
        rows.iter()
            .find(|r| {
                r["comparison"] == comparison
                    && (r["a"].as_str(), r["a_rank"].as_str()) == (a.0, &a.1.to_string())
                    && (r["b"].as_str(), r["b_rank"].as_str()) == (b.0, &b.1.to_string())
            })
            .unwrap_or_else(|| panic!("{comparison} {a:?} − {b:?}: {rows:?}"))
    };
    // Serial − LoRA at r = 8: −9, −8, −7 → −8 (Serial's FD is lower: Serial is better).
    let same = pair("same_rank", ("serial_lora", 8), ("lora", 8));
    assert!((num(same, "mean_diff") + 8.0).abs() < 1e-9, "{same:?}");
    assert_eq!(rows[0]["model"], "mmdit");
    // Parameter-matched: Serial r = 32 against LoRA r = 8 (256 parameters each): −20.
    let matched = pair("parameter_matched", ("serial_lora", 32), ("lora", 8));
    assert_eq!(matched["params_a"], matched["params_b"]);
    assert!((num(matched, "mean_diff") + 20.0).abs() < 1e-9);
    pair(
        "parameter_matched",
        ("serial_lora_plus", 32),
        ("lora_plus", 8),
    );
    assert_eq!(
        rows.len(),
        6,
        "2 same-rank pairs × 2 ranks, 2 matched: {rows:?}"
    );

    let md = &out.markdown;
    assert!(
        md.contains("### mmdit: FD on DINOv2 features (lower is better), mean ± std over seeds"),
        "{md}"
    );
    assert!(md.contains("| fashion | LoRA |  | 202.00 ± 1.00 |"), "{md}");
    assert!(
        md.contains("| fashion | zero-shot | 300.00 ± 0.00 (n=1) |"),
        "{md}"
    );
    assert!(!md.contains("before training"), "{md}");
    assert!(md.contains("in FD; negative: a is better"), "{md}");
    assert!(
        md.contains(
            "| mmdit | fashion | same rank | Serial LoRA r=8 − LoRA r=8 | 64 / 256 | 3 | -8.00 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("### mmdit: kid, instance_accuracy, preservation_accuracy"),
        "{md}"
    );
    assert!(
        md.contains("| fashion | LoRA | 8 | 0.2020 ± 0.0010 | 0.7000 ± 0.1000 | 0.9000 ± 0.0000 |"),
        "{md}"
    );
    // The selection scores a loss (lower is better), not FD.
    assert!(md.contains("validation loss (lower is better)"), "{md}");
    assert!(
        md.contains("| fashion | LoRA | 8 | 0.001 | – | 0.2500 | 2 |"),
        "{md}"
    );
    let selected = read_rows(&from.join("report/selected.csv"));
    assert_eq!(selected[0]["validation_loss"], "0.25");
}

/// Pixels of exactly `color` in the PNG at `path`: the longest run in one row and the total.
fn color_extent(path: &Path, color: [u8; 3]) -> (usize, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let (mut longest_row, mut total) = (0, 0);
    for y in 0..img.height() {
        let n = (0..img.width())
            .filter(|&x| img.get_pixel(x, y).0 == color)
            .count();
        longest_row = longest_row.max(n);
        total += n;
    }
    (longest_row, total)
}

fn rgb(method: Method) -> [u8; 3] {
    let c = color(Some(method));
    [c.0, c.1, c.2]
}

#[test]
fn figure_5_draws_fd_against_rank_with_the_base_and_full_fine_tuning() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("generation");
    write(&from.join("summary.csv"), &grid());
    let out = report(&options(tmp.path(), &from)).unwrap();
    let png = tmp.path().join("figures/fig5_mmdit.png");
    assert!(out.written.contains(&png), "{:?}", out.written);
    for m in Method::ADAPTERS {
        let (_, total) = color_extent(&png, rgb(m));
        assert!(total > 100, "{m:?}: {total} pixels");
    }
    // Full fine-tuning (FD 152, near the adapters' 170-204): a dashed line across the panel. The
    // base model (FD 300) lies more than the adapters' range above them: the axis stays fitted
    // to the adapters and the base model is a legend note (its short dashes only).
    let (longest, _) = color_extent(&png, rgb(Method::Full));
    assert!(longest > 150, "full fine-tuning: longest row {longest}");
    let (longest, total) = color_extent(&png, rgb(Method::ZeroShot));
    assert!(
        longest <= 20 && total > 0,
        "base model: longest row {longest}, {total} pixels"
    );

    // Without adapter rows there is no figure.
    let plain = tmp.path().join("plain");
    write(
        &plain.join("summary.csv"),
        &(HEADER.to_string() + &row("zero_shot", 0, 1, 300.0)),
    );
    let out = report(&options(tmp.path(), &plain)).unwrap();
    assert!(
        out.written.iter().all(|p| !p.ends_with("fig5_mmdit.png")),
        "{:?}",
        out.written
    );
}

/// A finished generation run folder with `config.json` (as the generation runner writes it, in
/// part), `summary.json` and a `metrics.csv` of `losses` logged every 10 steps.
fn run_folder(task_dir: &Path, method: &str, rank: usize, seed: u64, losses: &[f64]) {
    let dir = task_dir.join(format!("mmdit_fashion_{method}_r{rank}_seed{seed}"));
    let config = serde_json::json!({
        "backbone": "mmdit", "dataset": "fashion", "method": method, "rank": rank,
        "seed": seed, "model_dir": "experiments/tiny-mmdit", "held_out": "Ankle boot",
        "instance_prompt": "a photo of a sks boot", "adapter": null, "optim": { "lr": 1e-3 },
    });
    write(&dir.join("config.json"), &config.to_string());
    write(&dir.join("summary.json"), "{}");
    let mut metrics = "step,loss,lr\n".to_string();
    for (i, loss) in losses.iter().enumerate() {
        metrics += &format!("{},{loss},1e-3\n", 10 * (i + 1));
    }
    write(&dir.join("metrics.csv"), &metrics);
}

#[test]
fn loss_figure_reads_generation_runs_and_leaves_pre_training_out() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("generation");
    write(&from.join("summary.csv"), &grid());
    run_folder(&from, "lora", 8, 1, &[0.5, 0.4, 0.3]);
    run_folder(&from, "serial_lora", 32, 1, &[0.5, 0.45, 0.35]);
    run_folder(&from, "full", 0, 1, &[0.5, 0.3, 0.2]);
    run_folder(&from, "pretrain", 0, 1, &[2.0, 1.0, 0.9, 0.8, 0.7]);
    let summary = from.join("summary.csv");
    let rows = analysis::report::rows::read(&summary, Task::Generation).unwrap();
    let cells = analysis::report::cells::cells(&rows, &summary).unwrap();
    let pairs = analysis::report::paired::pairs(
        &cells,
        Task::Generation,
        analysis::report::paired::Measure::Metric,
    );
    let curves = analysis::report::loss::curves(&from, None, &pairs).unwrap();
    let methods: Vec<(Method, usize, Option<usize>)> = curves["mmdit"]
        .iter()
        .map(|c| (c.method, c.rank, c.matched))
        .collect();
    assert_eq!(
        methods,
        [
            (Method::Lora, 8, None),
            (Method::SerialLora, 32, Some(8)),
            (Method::Full, 0, None)
        ]
    );
    let out = report(&options(tmp.path(), &from)).unwrap();
    let png = tmp.path().join("figures/loss_mmdit.png");
    assert!(out.written.contains(&png), "{:?}", out.written);
}

#[test]
fn compare_matches_generation_cells_on_fd() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    write(&results.join("generation/summary.csv"), &grid());
    // The reference: the same base, LoRA r=8 10 higher, no full fine-tuning.
    let mut reference = HEADER.to_string() + &row("zero_shot", 0, 1, 300.0);
    for seed in 1..=3u64 {
        reference += &row("lora", 8, seed, 210.0 + seed as f64);
    }
    write(
        &results.join("reference/generation/summary.csv"),
        &reference,
    );
    let comparison = compare(&CompareOptions {
        task: Task::Generation,
        results: results.clone(),
        reference: None,
        ours: None,
    })
    .unwrap();
    assert_eq!(
        comparison.key_columns,
        ["model", "dataset", "method", "rank"]
    );
    let cell = |method: &str, rank: &str| {
        comparison
            .cells
            .iter()
            .find(|c| c.key[2] == method && c.key[3] == rank)
            .unwrap_or_else(|| panic!("{method} r={rank}"))
    };
    assert_eq!(cell("zero_shot", "0").verdict(), Verdict::Exact);
    let lora = cell("lora", "8");
    assert!((lora.difference().unwrap() + 10.0).abs() < 1e-9);
    assert_eq!(lora.verdict(), Verdict::OutsideSpread);
    assert_eq!(cell("full", "0").verdict(), Verdict::MissingInReference);
    assert!(
        comparison
            .render()
            .starts_with("generation: fd_dinov2, lower is better"),
        "{}",
        comparison.render()
    );
    let csv = std::fs::read_to_string(results.join("comparison/generation.csv")).unwrap();
    assert!(
        csv.starts_with("model,dataset,method,rank,seeds_ours"),
        "{csv}"
    );
}
