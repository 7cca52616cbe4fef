//! `analysis report` on hand-made summaries and run folders in a temporary folder: the table, the
//! paired differences and their t intervals, the chosen learning rates, the resolution study, the
//! loss figure, the default folder and bad input.

use std::collections::BTreeMap;
use std::path::Path;

use analysis::compare::Task;
use analysis::report::{report, ReportOptions};
use analysis::Error;

const CLASSIFICATION: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params,resolution,lr,plus_ratio,evaluated_on\n";
const SEGMENTATION: &str = "model,dataset,method,rank,seed,trainable_params,dice,iou,zero_shot_dice,steps,train_seconds,peak_rss_mb\n";

/// LoRA on q,k,v,o at rank r (d = 4, one block): 8·d·r; LoRA on q,k,v: 6·d·r; Serial: 2·d·r.
fn params(method: &str, rank: usize) -> usize {
    let per_rank = match method {
        "lora" | "lora_plus" => 32,
        "lora_qkv" => 24,
        "serial_lora" | "serial_lora_plus" => 8,
        _ => 0,
    };
    per_rank * rank
}

/// A new-format classification row of backbone `vit` on `pets`.
fn row(method: &str, rank: usize, seed: u64, accuracy: f64, seconds: f64) -> String {
    format!(
        "vit,pets,16,{seed},{method},{rank},{},{accuracy},0.4,100,{seconds},300,40,56,0.001,1,test\n",
        params(method, rank)
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn options(dir: &Path, from: &Path) -> ReportOptions {
    ReportOptions {
        task: Task::Classification,
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

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The paired row of `comparison` between `a` at `a_rank` and `b` at `b_rank`.
fn pair<'a>(
    rows: &'a [BTreeMap<String, String>],
    comparison: &str,
    (a, a_rank): (&str, usize),
    (b, b_rank): (&str, usize),
) -> Option<&'a BTreeMap<String, String>> {
    rows.iter().find(|r| {
        r["comparison"] == comparison
            && r["a"] == a
            && r["a_rank"] == a_rank.to_string()
            && r["b"] == b
            && r["b_rank"] == b_rank.to_string()
    })
}

/// The grid: LoRA at ranks 8 and 16 (seeds 1–3), Serial LoRA at 8, 16, 32 and 64 (seeds 1–2
/// at rank 8, so seed 3 has no partner there; 1–3 elsewhere), LoRA (q,k,v) at 8, a probe.
/// Serial − LoRA at rank 16 is 0.01, 0.02, 0.03 over seeds 1–3.
fn grid() -> String {
    let mut text = CLASSIFICATION.to_string();
    for seed in 1..=3u64 {
        let s = seed as f64;
        text += &row("probe", 0, seed, 0.5 + 0.01 * s, 2.0);
        text += &row("lora", 8, seed, 0.70 + 0.01 * s, 10.0 * s);
        text += &row("lora", 16, seed, 0.80, 5.0);
        text += &row("lora_qkv", 8, seed, 0.60 + 0.02 * s, 5.0);
        text += &row("serial_lora", 16, seed, 0.80 + 0.01 * s, 5.0);
        text += &row("serial_lora", 32, seed, 0.75, 5.0);
        text += &row("serial_lora", 64, seed, 0.90, 5.0);
        if seed < 3 {
            text += &row("serial_lora", 8, seed, 0.72 + 0.01 * s, 5.0);
        }
    }
    text
}

#[test]
fn table_holds_seed_means_sample_stds_and_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    write(&from.join("summary.csv"), &grid());
    report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/table.csv"));
    let lora8 = rows
        .iter()
        .find(|r| r["method"] == "lora" && r["rank"] == "8")
        .unwrap();
    // 0.71, 0.72, 0.73: mean 0.72, sample std 0.01; train_seconds 10, 20, 30.
    assert_eq!(lora8["n"], "3");
    assert_eq!(lora8["trainable_params"], "256");
    assert!(
        (num(lora8, "accuracy_mean") - 0.72).abs() < 1e-12,
        "{lora8:?}"
    );
    assert!(
        (num(lora8, "accuracy_std") - 0.01).abs() < 1e-12,
        "{lora8:?}"
    );
    assert!(close(num(lora8, "zero_shot_accuracy_mean"), 0.4));
    assert!(close(num(lora8, "train_seconds_mean"), 20.0));
    let serial8 = rows
        .iter()
        .find(|r| r["method"] == "serial_lora" && r["rank"] == "8")
        .unwrap();
    assert_eq!(serial8["n"], "2");
    // 0.73, 0.74: sample std = 0.01/√2.
    assert!((num(serial8, "accuracy_std") - 0.01 / 2f64.sqrt()).abs() < 1e-12);
    let probe = rows.iter().find(|r| r["method"] == "probe").unwrap();
    assert_eq!(
        (probe["rank"].as_str(), probe["shots"].as_str()),
        ("0", "16")
    );
    assert_eq!(rows.len(), 8, "one row per (method, rank)");
}

#[test]
fn paired_differences_pair_by_seed_with_t_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    write(&from.join("summary.csv"), &grid());
    report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/paired.csv"));

    // Serial − LoRA at rank 16: 0.01, 0.02, 0.03 → mean 0.02, sd 0.01,
    // 0.02 ∓ t_{0.975,2}·0.01/√3 = 0.02 ∓ 4.3027·0.01/√3 → [−0.004842, 0.044842].
    let same16 = pair(&rows, "same_rank", ("serial_lora", 16), ("lora", 16)).unwrap();
    assert_eq!(
        (same16["n"].as_str(), same16["left_out"].as_str()),
        ("3", "0")
    );
    assert!((num(same16, "mean_diff") - 0.02).abs() < 1e-12);
    assert!((num(same16, "std_diff") - 0.01).abs() < 1e-12);
    assert!(
        (num(same16, "ci95_low") + 0.004842).abs() < 1e-6,
        "{same16:?}"
    );
    assert!(
        (num(same16, "ci95_high") - 0.044842).abs() < 1e-6,
        "{same16:?}"
    );
    assert_eq!(
        (same16["params_a"].as_str(), same16["params_b"].as_str()),
        ("128", "512")
    );
    // TOST against one accuracy point: 0.02 ∓ t_{0.95,2}·0.01/√3 = 0.02 ∓ 2.9200·0.01/√3 →
    // [0.003141, 0.036859], not inside ±0.01; the 95 % interval holds 0: undecided.
    assert_eq!(same16["margin"], "0.01");
    assert!(
        (num(same16, "ci90_low") - 0.003141).abs() < 1e-6,
        "{same16:?}"
    );
    assert!(
        (num(same16, "ci90_high") - 0.036859).abs() < 1e-6,
        "{same16:?}"
    );
    assert_eq!(same16["verdict"], "undecided");

    // Serial at rank 8 lacks seed 3: it is left out, and n says so. Differences: 0.02, 0.02.
    let same8 = pair(&rows, "same_rank", ("serial_lora", 8), ("lora", 8)).unwrap();
    assert_eq!(
        (same8["n"].as_str(), same8["left_out"].as_str()),
        ("2", "1")
    );
    assert!((num(same8, "mean_diff") - 0.02).abs() < 1e-12);

    // Parameter-matched: Serial at 4r against LoRA at r (32 vs 8, 64 vs 16), never 16 vs 8.
    let matched8 = pair(&rows, "parameter_matched", ("serial_lora", 32), ("lora", 8)).unwrap();
    assert_eq!(matched8["params_a"], matched8["params_b"]);
    // 0.75 − (0.71, 0.72, 0.73) = 0.04, 0.03, 0.02.
    assert!((num(matched8, "mean_diff") - 0.03).abs() < 1e-12);
    let matched16 = pair(
        &rows,
        "parameter_matched",
        ("serial_lora", 64),
        ("lora", 16),
    )
    .unwrap();
    assert!((num(matched16, "mean_diff") - 0.10).abs() < 1e-12);
    let matched_rows = rows
        .iter()
        .filter(|r| r["comparison"] == "parameter_matched");
    assert_eq!(matched_rows.count(), 2);

    // Against LoRA (q,k,v) at the same rank; no LoRA+ rows, so no + pairs.
    let qkv = pair(&rows, "vs_lora_qkv", ("serial_lora", 8), ("lora_qkv", 8)).unwrap();
    // (0.73, 0.74) − (0.62, 0.64) = 0.11, 0.10.
    assert!((num(qkv, "mean_diff") - 0.105).abs() < 1e-12);
    assert!(rows.iter().all(|r| !r["a"].ends_with("_plus")));
    assert_eq!(rows.len(), 5, "{rows:?}");
}

#[test]
fn parameter_matching_follows_the_counts_not_a_fixed_factor() {
    // LoRA on two projections (4·d·r): Serial at 2r has its parameters, Serial at 4r twice them.
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    let text = CLASSIFICATION.to_string()
        + "vit,pets,16,1,lora,4,64,0.5,0.4,1,1,1,1,56,0.001,1,test\n"
        + "vit,pets,16,1,serial_lora,8,64,0.6,0.4,1,1,1,1,56,0.001,1,test\n"
        + "vit,pets,16,1,serial_lora,16,128,0.7,0.4,1,1,1,1,56,0.001,1,test\n";
    write(&from.join("summary.csv"), &text);
    report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/paired.csv"));
    let matched: Vec<_> = rows
        .iter()
        .filter(|r| r["comparison"] == "parameter_matched")
        .collect();
    assert_eq!(matched.len(), 1, "{rows:?}");
    assert_eq!(
        (matched[0]["a_rank"].as_str(), matched[0]["b_rank"].as_str()),
        ("8", "4")
    );
}

#[test]
fn one_pair_has_no_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    let text = CLASSIFICATION.to_string()
        + &row("lora", 8, 1, 0.5, 1.0)
        + &row("serial_lora", 8, 1, 0.6, 1.0)
        + &row("serial_lora", 8, 2, 0.7, 1.0);
    write(&from.join("summary.csv"), &text);
    let out = report(&options(tmp.path(), &from)).unwrap();
    let rows = read_rows(&from.join("report/paired.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["n"].as_str(), rows[0]["left_out"].as_str()),
        ("1", "1")
    );
    assert!((num(&rows[0], "mean_diff") - 0.1).abs() < 1e-12);
    assert_eq!(
        (rows[0]["std_diff"].as_str(), rows[0]["ci95_low"].as_str()),
        ("", "")
    );
    assert!(
        out.markdown.contains("| 1 (1 left out) | +10.0 | – |"),
        "{}",
        out.markdown
    );
}

#[test]
fn selection_resolution_study_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    let mut text = grid();
    for (px, class_means, probe) in [(28, 0.3, 0.35), (112, 0.5, 0.6)] {
        for seed in 1..=2 {
            text += &format!(
                "vit-{px}px,pets,16,{seed},probe,0,0,{},{class_means},100,1,300,40,{px},0.001,1,test\n",
                probe + 0.01 * seed as f64
            );
        }
    }
    // A validation row (a selection run collected by mistake) is left out.
    text += "vit,pets,16,9,lora,8,256,0.99,0.4,100,1,300,40,56,0.001,1,validation\n";
    write(&from.join("summary.csv"), &text);
    write(
        &from.join("lr_selection.csv"),
        "backbone,dataset,method,rank,seed,lr,plus_ratio,validation_accuracy,chosen\n\
         vit,pets,lora,8,1,0.0001,1,0.500000,false\n\
         vit,pets,lora,8,1,0.001,1,0.700000,true\n\
         vit,pets,lora_plus,8,1,0.001,4,0.650000,false\n\
         vit,pets,lora_plus,8,1,0.001,16,0.750000,true\n",
    );
    let out = report(&options(tmp.path(), &from)).unwrap();

    let selected = read_rows(&from.join("report/selected.csv"));
    assert_eq!(selected.len(), 2);
    assert_eq!(
        (selected[0]["method"].as_str(), selected[0]["lr"].as_str()),
        ("lora", "0.001")
    );
    assert_eq!(selected[0]["candidates"], "2");
    assert_eq!(selected[1]["plus_ratio"], "16");
    assert!(close(num(&selected[1], "validation_accuracy"), 0.75));

    let study = read_rows(&from.join("report/resolution.csv"));
    let resolutions: Vec<&str> = study.iter().map(|r| r["resolution"].as_str()).collect();
    assert_eq!(resolutions, ["28", "112"], "ordered by resolution");
    assert_eq!(study[0]["backbone"], "vit");
    assert!(close(num(&study[0], "class_means_accuracy"), 0.3));
    assert!((num(&study[0], "probe_accuracy_mean") - 0.365).abs() < 1e-12);

    let table = read_rows(&from.join("report/table.csv"));
    let lora8 = table
        .iter()
        .find(|r| r["backbone"] == "vit" && r["method"] == "lora" && r["rank"] == "8")
        .unwrap();
    assert_eq!(lora8["n"], "3", "the validation row is not a seed");

    let md = &out.markdown;
    assert!(md.contains("| pets | LoRA |  | 72.0 ± 1.0 |"), "{md}");
    assert!(md.contains("| pets | before training | 40.0 |"), "{md}");
    assert!(
        md.contains("| vit | pets | same rank | Serial LoRA r=16 − LoRA r=16 | 128 / 512 | 3 | +2.0 | [-0.5, +4.5] |"),
        "{md}"
    );
    assert!(
        md.contains("| pets | LoRA+ | 8 | 0.001 | 16 | 75.0 | 2 |"),
        "{md}"
    );
    assert!(
        md.contains("| vit | pets | 28 px | 30.0 | 36.5 ± 0.7 | 2 |"),
        "{md}"
    );
    assert!(
        !md.contains("vit-28px"),
        "the study has its own section: {md}"
    );

    // No CSV holds a path of this machine.
    let root = tmp.path().to_string_lossy().into_owned();
    for file in ["table", "paired", "selected", "resolution"] {
        let text = std::fs::read_to_string(from.join(format!("report/{file}.csv"))).unwrap();
        assert!(!text.contains(&root), "{file}.csv: {text}");
    }
}

/// A finished run folder with `config.json`, `summary.json` and a `metrics.csv` of `losses`
/// logged every 10 steps.
fn run_folder(task_dir: &Path, method: &str, rank: usize, seed: u64, losses: &[f64]) {
    let dir = task_dir.join(format!("vit_pets_{method}_r{rank}_seed{seed}"));
    let config = serde_json::json!({
        "backbone": "vit", "dataset": "pets", "shots": 16, "method": method, "rank": rank,
        "seed": seed, "model_dir": "m", "optim": { "lr": 1e-3 },
    });
    write(&dir.join("config.json"), &config.to_string());
    write(&dir.join("summary.json"), "{}");
    let mut metrics = "step,loss,lr,batch_accuracy\n".to_string();
    for (i, loss) in losses.iter().enumerate() {
        metrics += &format!("{},{loss},1e-3,0.5\n", 10 * (i + 1));
    }
    write(&dir.join("metrics.csv"), &metrics);
}

#[test]
fn loss_curves_average_seeds_at_one_rank_plus_the_matched_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    write(&from.join("summary.csv"), &grid());
    for seed in 1..=2 {
        let s = seed as f64;
        run_folder(&from, "lora", 8, seed, &[2.0 * s, 1.0 * s, 0.5 * s]);
        run_folder(&from, "serial_lora", 8, seed, &[2.0, 1.5, 1.0]);
        run_folder(&from, "serial_lora", 32, seed, &[2.0, 1.2, 0.8]);
        run_folder(&from, "serial_lora", 16, seed, &[9.0, 9.0]);
        run_folder(&from, "probe", 0, seed, &[3.0, 2.0, 1.5]);
    }
    // A second seed-3 run that logged one step fewer: the mean keeps the steps every seed has.
    run_folder(&from, "lora", 8, 3, &[3.0, 3.0]);
    let summary = from.join("summary.csv");
    let rows = analysis::report::rows::read(&summary, Task::Classification).unwrap();
    let cells = analysis::report::cells::cells(&rows, &summary).unwrap();
    let pairs = analysis::report::paired::pairs(
        &cells,
        Task::Classification,
        analysis::report::paired::Measure::Metric,
    );
    let curves = analysis::report::loss::curves(&from, None, &pairs).unwrap();
    let vit = &curves["vit"];
    let find = |method: formats::Method, rank: usize| {
        vit.iter()
            .find(|c| c.method == method && c.rank == rank)
            .unwrap_or_else(|| panic!("{method} r={rank}: {vit:?}"))
    };
    let lora = find(formats::Method::Lora, 8);
    assert_eq!(lora.seeds(), 3);
    assert_eq!(lora.points, [(10, 3.0), (20, 2.0)]);
    assert_eq!(find(formats::Method::SerialLora, 32).matched, Some(8));
    assert_eq!(find(formats::Method::SerialLora, 8).matched, None);
    assert_eq!(find(formats::Method::Probe, 0).points.len(), 3);
    assert!(
        vit.iter().all(|c| c.rank != 16),
        "only r, 4r and the baselines"
    );

    // The selection's rank wins where runs exist at it.
    let at32 = analysis::report::loss::curves(&from, Some(32), &pairs).unwrap();
    assert!(at32["vit"].iter().all(|c| c.rank == 32 || c.rank == 0));

    let out = report(&options(tmp.path(), &from)).unwrap();
    let png = tmp.path().join("figures/loss_vit.png");
    assert!(out.written.contains(&png), "{:?}", out.written);
    let image = image::open(&png).unwrap().to_rgb8();
    let lora_colour = analysis::plot::style::color(Some(formats::Method::Lora));
    let [r, g, b] = [lora_colour.0, lora_colour.1, lora_colour.2];
    assert!(image.pixels().any(|p| p.0 == [r, g, b]), "no LoRA line");
}

#[test]
fn an_unknown_method_or_missing_column_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("classification");
    let summary = from.join("summary.csv");
    write(&summary, &(grid() + &row("dora", 8, 1, 0.5, 1.0)));
    let err = report(&options(tmp.path(), &from)).unwrap_err();
    assert!(matches!(err, Error::UnknownMethod { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&summary.display().to_string()) && text.contains("`dora`"),
        "{text}"
    );

    write(
        &summary,
        "backbone,dataset,shots,seed,method,rank,accuracy\nvit,pets,16,1,lora,8,0.5\n",
    );
    let text = report(&options(tmp.path(), &from)).unwrap_err().to_string();
    assert!(
        text.contains(&summary.display().to_string()) && text.contains("`trainable_params`"),
        "{text}"
    );

    write(
        &summary,
        &(CLASSIFICATION.to_string() + &row("lora", 8, 1, 0.5, 1.0).replace("0.5,", "high,")),
    );
    let text = report(&options(tmp.path(), &from)).unwrap_err().to_string();
    assert!(
        text.contains("line 2, column `accuracy`: `high` is not a finite number"),
        "{text}"
    );
}

#[test]
fn segmentation_reports_dice_by_model_with_four_decimals() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("segmentation");
    let mut text = SEGMENTATION.to_string();
    for (seed, lora, serial) in [(1, 0.9, 0.91), (2, 0.92, 0.925)] {
        text += &format!("sam,cells,lora,8,{seed},100,{lora},0.8,0.7,30,10,1000\n");
        text += &format!("sam,cells,serial_lora,8,{seed},25,{serial},0.8,0.7,30,10,1000\n");
    }
    write(&from.join("summary.csv"), &text);
    let out = report(&ReportOptions {
        task: Task::Segmentation,
        ..options(tmp.path(), &from)
    })
    .unwrap();
    let table = read_rows(&from.join("report/table.csv"));
    assert!(table[0].contains_key("model") && !table[0].contains_key("shots"));
    assert!((num(&table[0], "dice_mean") - 0.91).abs() < 1e-12);
    assert!(close(num(&table[0], "zero_shot_dice_mean"), 0.7));
    let paired = read_rows(&from.join("report/paired.csv"));
    assert!((num(&paired[0], "mean_diff") - 0.0075).abs() < 1e-12);
    assert!(
        out.markdown.contains("| cells | LoRA | 0.9100 ± 0.0141 |"),
        "{}",
        out.markdown
    );
    assert!(out.markdown.contains("| +0.0075 |"), "{}", out.markdown);
}

#[test]
fn the_default_folder_is_yours_else_the_committed_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let mut opts = options(tmp.path(), tmp.path());
    opts.from = None;
    let err = report(&opts).unwrap_err().to_string();
    assert!(err.contains("--from"), "{err}");

    let reference = results.join("reference/classification");
    write(&reference.join("summary.csv"), &grid());
    write(&results.join("classification/summary.csv"), CLASSIFICATION);
    let out = report(&opts).unwrap();
    assert!(out.written[0].starts_with(&reference), "{:?}", out.written);

    let own = results.join("classification");
    write(&own.join("summary.csv"), &grid());
    let out = report(&opts).unwrap();
    assert!(
        out.written[0].starts_with(own.join("report")),
        "{:?}",
        out.written
    );
}

#[test]
fn multi_class_segmentation_gets_per_class_iou_and_paired_differences_against_the_decoder_alone() {
    // Two seeds of the decoder alone (probe), LoRA r8 and Serial LoRA r8 and r16 on CamVid; the
    // `iou` column holds the mIoU, the run folders' summary.json the per-class IoU.
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("segmentation");
    let header = SEGMENTATION.trim_end().to_string() + ",pixel_accuracy\n";
    let cells: [(&str, usize, usize, [f64; 2]); 4] = [
        ("probe", 0, 100, [0.30, 0.32]),
        ("lora", 8, 140, [0.40, 0.41]),
        ("serial_lora", 8, 120, [0.43, 0.45]),
        ("serial_lora", 16, 140, [0.44, 0.47]),
    ];
    let mut text = header;
    for (method, rank, params, miou) in cells {
        for (i, seed) in [1u64, 2].into_iter().enumerate() {
            let m = miou[i];
            text += &format!(
                "sam,camvid,{method},{rank},{seed},{params},{},{m},,10,1,100,{}\n",
                m + 0.1,
                m + 0.4
            );
            let class_iou: Vec<f64> = (0..11).map(|k| if k == 0 { 2.0 * m } else { m }).collect();
            let json = serde_json::json!({
                "model": "sam", "dataset": "camvid", "method": method, "rank": rank, "seed": seed,
                "classes": {"miou": m, "mean_dice": m + 0.1, "pixel_accuracy": m + 0.4,
                            "class_iou": class_iou, "pixels": 10},
            });
            let run = from.join(format!("sam_camvid_{method}_r{rank}_seed{seed}_dec"));
            write(&run.join("summary.json"), &json.to_string());
        }
    }
    write(&from.join("summary.csv"), &text);
    let mut opts = options(tmp.path(), &from);
    opts.task = Task::Segmentation;
    let out = report(&opts).unwrap();

    let classes = read_rows(&from.join("report/classes.csv"));
    assert_eq!(classes.len(), 4);
    let lora = classes.iter().find(|r| r["method"] == "lora").unwrap();
    assert!(close(num(lora, "miou_mean"), 0.405));
    assert!(close(num(lora, "iou_Sky"), 0.81), "{lora:?}");
    assert!(close(num(lora, "iou_Bicyclist"), 0.405));
    assert!(close(num(lora, "pixel_accuracy_mean"), 0.805));

    // mIoU differences: every adapter at each rank against the decoder alone, and Serial vs LoRA.
    let iou = read_rows(&from.join("report/paired_iou.csv"));
    let vs = |a: (&str, usize)| pair(&iou, "vs_decoder_only", a, ("probe", 0)).unwrap();
    assert!(close(num(vs(("lora", 8)), "mean_diff"), 0.095));
    assert!(close(num(vs(("serial_lora", 16)), "mean_diff"), 0.145));
    let same = pair(&iou, "same_rank", ("serial_lora", 8), ("lora", 8)).unwrap();
    assert!(close(num(same, "mean_diff"), 0.035));
    let matched = pair(&iou, "parameter_matched", ("serial_lora", 16), ("lora", 8)).unwrap();
    assert!(close(num(matched, "mean_diff"), 0.05));
    // The Dice table pairs the same way; the Markdown shows the per-class table and both.
    let dice = read_rows(&from.join("report/paired.csv"));
    assert!(close(
        num(
            pair(&dice, "vs_decoder_only", ("lora", 8), ("probe", 0)).unwrap(),
            "mean_diff"
        ),
        0.095
    ));
    for text in ["Sky", "IoU per class", "mIoU", "vs the decoder alone"] {
        assert!(out.markdown.contains(text), "{text}: {}", out.markdown);
    }
}
