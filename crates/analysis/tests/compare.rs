//! `analysis compare` on hand-made summaries: means, sample stds, differences, verdicts, tally,
//! the CSV and the exit status.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use analysis::compare::{compare, CompareOptions, Tally, Task, Verdict};

const CLASSIFICATION: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params\n";
const SEGMENTATION: &str = "model,dataset,method,rank,seed,trainable_params,dice,iou,zero_shot_dice,steps,train_seconds,peak_rss_mb\n";

/// Classification rows `(method, rank, seed, accuracy)` on one backbone, data set and shot count.
fn classification(rows: &[(&str, usize, u64, f64)]) -> String {
    let mut text = CLASSIFICATION.to_string();
    for (method, rank, seed, acc) in rows {
        text.push_str(&format!(
            "vit,pets,16,{seed},{method},{rank},10,{acc},0.4,100,1.5,300,3840\n"
        ));
    }
    text
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn options(results: &Path, task: Task) -> CompareOptions {
    CompareOptions {
        task,
        results: results.to_path_buf(),
        reference: None,
        ours: None,
    }
}

/// The written CSV as maps from column to value, one per row.
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
    (a - b).abs() < 1e-12
}

/// Ours and the reference: every kind of verdict once.
fn classification_fixture(results: &Path) {
    write(
        &results.join("classification/summary.csv"),
        &classification(&[
            // lora r8: 0.70, 0.74 (mean 0.72, std 0.028284…); the first seed-1 row was re-run.
            ("lora", 8, 1, 0.10),
            ("lora", 8, 1, 0.70),
            ("lora", 8, 2, 0.74),
            // serial_lora r8: 0.80, 0.82 (mean 0.81, std 0.014142…).
            ("serial_lora", 8, 1, 0.80),
            ("serial_lora", 8, 2, 0.82),
            // probe and lora_plus: one seed each.
            ("probe", 0, 1, 0.55),
            ("lora_plus", 8, 1, 0.61),
            // Only in ours.
            ("lora", 16, 1, 0.75),
        ]),
    );
    write(
        &results.join("reference/classification/summary.csv"),
        &classification(&[
            ("lora", 8, 1, 0.71),
            ("lora", 8, 2, 0.73),
            ("serial_lora", 8, 1, 0.70),
            ("serial_lora", 8, 2, 0.72),
            ("probe", 0, 1, 0.55),
            ("lora_plus", 8, 1, 0.60),
            // Only in the reference.
            ("serial_lora_plus", 8, 1, 0.66),
        ]),
    );
}

#[test]
fn classification_cells_means_stds_and_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    classification_fixture(&results);
    let comparison = compare(&options(&results, Task::Classification)).unwrap();
    assert_eq!(
        comparison.csv,
        results.join("comparison/classification.csv")
    );
    assert_eq!(
        comparison.key_columns,
        ["backbone", "dataset", "shots", "method", "rank"]
    );

    let rows = read_rows(&comparison.csv);
    let cell = |method: &str, rank: &str| {
        rows.iter()
            .find(|r| r["method"] == method && r["rank"] == rank)
            .unwrap_or_else(|| panic!("no {method} r{rank}"))
    };
    // Cells in method order (Method::ALL), then rank.
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["method"].as_str(), r["rank"].as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("probe", "0"),
            ("lora", "8"),
            ("lora", "16"),
            ("serial_lora", "8"),
            ("lora_plus", "8"),
            ("serial_lora_plus", "8")
        ]
    );

    let lora = cell("lora", "8");
    assert_eq!(
        (
            lora["seeds_ours"].as_str(),
            lora["seeds_reference"].as_str()
        ),
        ("2", "2")
    );
    assert!(close(num(lora, "mean_ours"), 0.72), "{lora:?}");
    assert!(close(num(lora, "std_ours"), 0.02 * 2f64.sqrt()), "{lora:?}");
    assert!(close(num(lora, "mean_reference"), 0.72), "{lora:?}");
    assert!(
        close(num(lora, "std_reference"), 0.01 * 2f64.sqrt()),
        "{lora:?}"
    );
    assert!(num(lora, "difference").abs() < 1e-12, "{lora:?}");
    assert_eq!(
        (lora["within_spread"].as_str(), lora["verdict"].as_str()),
        ("true", "within_spread")
    );

    // 0.10 > 2 · 0.014142: outside.
    let serial = cell("serial_lora", "8");
    assert!(close(num(serial, "mean_ours"), 0.81), "{serial:?}");
    assert!(close(num(serial, "mean_reference"), 0.71), "{serial:?}");
    assert!(close(num(serial, "difference"), 0.10), "{serial:?}");
    assert_eq!(
        (serial["within_spread"].as_str(), serial["verdict"].as_str()),
        ("false", "outside_spread")
    );

    let probe = cell("probe", "0");
    assert_eq!(
        (probe["seeds_ours"].as_str(), probe["std_ours"].as_str()),
        ("1", "0")
    );
    assert!(close(num(probe, "difference"), 0.0));
    assert_eq!(
        (probe["within_spread"].as_str(), probe["verdict"].as_str()),
        ("true", "exact")
    );

    // One seed each and 0.01 apart: not an exact reproduction.
    let plus = cell("lora_plus", "8");
    assert!(close(num(plus, "difference"), 0.01), "{plus:?}");
    assert_eq!(
        (plus["within_spread"].as_str(), plus["verdict"].as_str()),
        ("false", "not_exact")
    );

    let only_ref = cell("serial_lora_plus", "8");
    assert_eq!(
        (
            only_ref["seeds_ours"].as_str(),
            only_ref["mean_ours"].as_str(),
            only_ref["difference"].as_str(),
            only_ref["within_spread"].as_str(),
            only_ref["verdict"].as_str()
        ),
        ("0", "", "", "", "missing_in_ours")
    );
    assert!(close(num(only_ref, "mean_reference"), 0.66));
    let only_ours = cell("lora", "16");
    assert_eq!(
        (
            only_ours["seeds_reference"].as_str(),
            only_ours["verdict"].as_str()
        ),
        ("0", "missing_in_reference")
    );

    let tally = comparison.tally();
    assert_eq!(
        tally,
        Tally {
            shared: 4,
            within: 2,
            exact: 1,
            reproduced: 0,
            outside: 2,
            missing_in_ours: 1,
            missing_in_reference: 1
        }
    );
    let text = comparison.render();
    assert!(
        text.contains("2 of 4 cells reproduce the reference (1 exact, 0 within measured numerical noise, 1 within the seeds' spread), 2 do not; 1 only in the reference (missing_in_ours), 1 only in yours (missing_in_reference)"),
        "{text}"
    );
    assert!(text.contains("2 x max(std_ours, std_reference)"), "{text}");
    // Aligned: every table line has its verdict at the same column.
    let table: Vec<&str> = text.lines().skip(2).take(7).collect();
    let at: Vec<usize> = table
        .iter()
        .map(|l| {
            let verdict = l.split_whitespace().last().unwrap();
            l.chars().count() - verdict.chars().count()
        })
        .collect();
    assert!(at.iter().all(|&c| c == at[0]), "{text}");
    assert!(
        table[2].contains("0.7200 ± 0.0283 (n=2)  0.7200 ± 0.0141 (n=2)  +0.0000"),
        "{text}"
    );
}

#[test]
fn segmentation_cells_with_unequal_seed_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let row = |method: &str, seed: u64, dice: f64| {
        format!("litemedsam,stardist,{method},8,{seed},100,{dice},0.8,0.8,30,400.0,1900\n")
    };
    write(
        &results.join("segmentation/summary.csv"),
        &[
            SEGMENTATION.to_string(),
            row("lora", 1, 0.90),
            row("lora", 2, 0.92),
            row("lora", 3, 0.94),
            row("serial_lora", 1, 0.80),
        ]
        .concat(),
    );
    write(
        &results.join("reference/segmentation/summary.csv"),
        &[
            SEGMENTATION.to_string(),
            row("lora", 1, 0.95),
            row("serial_lora", 1, 0.70),
            row("serial_lora", 2, 0.74),
        ]
        .concat(),
    );
    let comparison = compare(&options(&results, Task::Segmentation)).unwrap();
    assert_eq!(
        comparison.key_columns,
        ["model", "dataset", "method", "rank"]
    );
    let [lora, serial] = comparison.cells.as_slice() else {
        panic!("{:?}", comparison.cells)
    };
    // lora: ours 0.92 ± 0.02 (3 seeds), reference 0.95 (1 seed): |−0.03| ≤ 2 · 0.02.
    let ours = lora.ours.unwrap();
    assert_eq!(ours.seeds, 3);
    assert!(close(ours.mean, 0.92) && close(ours.std, 0.02), "{ours:?}");
    assert!(close(lora.difference().unwrap(), -0.03));
    assert_eq!(lora.verdict(), Verdict::WithinSpread);
    // serial_lora: ours 0.80 (1 seed), reference 0.72 ± 0.028284: 0.08 > 0.056569.
    let reference = serial.reference.unwrap();
    assert!(close(reference.mean, 0.72) && close(reference.std, 0.02 * 2f64.sqrt()));
    assert!(close(serial.difference().unwrap(), 0.08));
    assert_eq!(serial.verdict(), Verdict::OutsideSpread);
    assert_eq!(
        std::fs::read_to_string(results.join("comparison/segmentation.csv"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        "model,dataset,method,rank,seeds_ours,mean_ours,std_ours,seeds_reference,mean_reference,std_reference,difference,within_spread,same_numerics,band,verdict"
    );
}

#[test]
fn missing_or_empty_summaries_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let ours = results.join("classification/summary.csv");
    let reference = results.join("reference/classification/summary.csv");
    write(&reference, &classification(&[("lora", 8, 1, 0.7)]));
    let error = || {
        compare(&options(&results, Task::Classification))
            .unwrap_err()
            .to_string()
    };
    let e = error();
    assert!(
        e.contains(ours.to_str().unwrap()) && e.contains("your summary does not exist"),
        "{e}"
    );
    write(&ours, CLASSIFICATION);
    let e = error();
    assert!(
        e.contains(ours.to_str().unwrap()) && e.contains("holds no runs"),
        "{e}"
    );
    write(
        &ours,
        "backbone,dataset,shots,seed,method,rank\nvit,pets,16,1,lora,8\n",
    );
    let e = error();
    assert!(e.contains("no `accuracy` column"), "{e}");
    write(&ours, &classification(&[("dora", 8, 1, 0.7)]));
    assert!(error().contains("unknown method `dora`"));
    write(
        &ours,
        &classification(&[("lora", 8, 1, 0.7)]).replace("0.7,", "n/a,"),
    );
    let e = error();
    assert!(e.contains("line 2") && e.contains("accuracy `n/a`"), "{e}");
    write(&ours, &classification(&[("lora", 8, 1, 0.7)]));
    std::fs::remove_file(&reference).unwrap();
    let e = error();
    assert!(
        e.contains(reference.to_str().unwrap()) && e.contains("reference summary does not exist"),
        "{e}"
    );
}

#[test]
fn cli_reports_differences_without_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    classification_fixture(&results);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_analysis"))
            .args(["compare", "--results", results.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--task", "classification"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 of 4 cells reproduce the reference (1 exact, 0 within measured numerical noise, 1 within the seeds' spread), 2 do not"),
        "{stdout}"
    );
    assert!(
        stdout.contains("outside_spread") && stdout.contains("wrote "),
        "{stdout}"
    );

    // Explicit files; a summary compared with itself is reproduced exactly or within spread.
    let ours = results.join("classification/summary.csv");
    let out = run(&[
        "--task",
        "classification",
        "--ours",
        ours.to_str().unwrap(),
        "--reference",
        ours.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("5 of 5 cells reproduce the reference (3 exact, 0 within measured numerical noise, 2 within the seeds' spread), 0 do not"),
        "{stdout}"
    );

    std::fs::remove_file(&ours).unwrap();
    let out = run(&["--task", "classification"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("your summary does not exist"));

    let out = run(&["--task", "detection"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("one of classification, segmentation, generation"),
        "{stderr}"
    );
}

#[test]
fn new_columns_and_lora_qkv_compare_with_an_old_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    write(
        &results.join("reference/classification/summary.csv"),
        &classification(&[("lora", 8, 1, 0.7), ("lora_qkv", 8, 1, 0.6)]),
    );
    let new_header = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params,resolution,lr,plus_ratio,evaluated_on\n";
    write(
        &results.join("classification/summary.csv"),
        &format!(
            "{new_header}vit,pets,16,1,lora,8,10,0.7,0.4,100,1.5,300,3840,56,0.001,1,test\n\
             vit,pets,16,1,lora_qkv,8,10,0.65,0.4,100,1.5,300,3840,56,0.003,1,test\n"
        ),
    );
    let comparison = compare(&options(results, Task::Classification)).unwrap();
    let verdicts: Vec<(String, Verdict)> = comparison
        .cells
        .iter()
        .map(|c| (c.key[3].clone(), c.verdict()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("lora".to_string(), Verdict::Exact),
            ("lora_qkv".to_string(), Verdict::NotExact)
        ]
    );
    assert!(comparison.render().contains("lora_qkv"));
}
