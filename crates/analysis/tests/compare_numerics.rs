//! `analysis compare` with the numerics each side recorded: exact demanded on the same signature,
//! the measured band on another, the selection compared by what it chose, and `analysis noise`
//! writing the band it reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use analysis::compare::{compare, CompareOptions, Task, Verdict};
use formats::numerics::{Cpu, Numerics, NumericsMode};
use formats::Precision;

const HEADER: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn machine(vendor: &str, family: u32, model: u32) -> Numerics {
    Numerics {
        cpu: Cpu {
            vendor: vendor.into(),
            model_name: format!("{vendor} test CPU"),
            family: Some(family),
            model: Some(model),
            isa: "avx512".into(),
        },
        aten_cpu_capability: "AVX512".into(),
        mode: NumericsMode::Native,
        settings: BTreeMap::new(),
        libtorch: "2.13.0".into(),
        mkl: "MKL".into(),
        onednn: "oneDNN".into(),
        threads: Some(1),
        precision: Precision::Fp32,
        device: "cpu".into(),
        mixed: false,
        note: None,
    }
}

/// A task folder `dir` with one seed-1 run per `(method, accuracy)` on backbone `vit`, data set
/// `pets`: its summary.csv and run folders (config.json, and numerics.json when given).
fn side(dir: &Path, cells: &[(&str, f64)], numerics: Option<&Numerics>) {
    let mut summary = HEADER.to_string();
    for (method, accuracy) in cells {
        summary.push_str(&format!(
            "vit,pets,16,1,{method},8,10,{accuracy},0.4,100,1.5,300,3840\n"
        ));
        let run = dir.join(format!("vit_pets_{method}_r8_seed1"));
        write(
            &run.join("config.json"),
            &format!(
                r#"{{"backbone": "vit", "model_dir": "m", "method": "{method}", "rank": 8, "seed": 1}}"#
            ),
        );
        if let Some(n) = numerics {
            n.write(&run).unwrap();
        }
    }
    write(&dir.join("summary.csv"), &summary);
}

/// A band file: `test` for the grid's cells, `selection` for every candidate at lr 0.001 and
/// 0.003 of lora, serial_lora and lora_plus.
fn band_file(dir: &Path, test: f64, selection: f64) {
    let mut text = format!(
        "backbone,dataset,stage,cell,metric,cells,settings,max_spread,factor,floor,band,measured_on\n\
         vit,pets,test,*,accuracy,2,3,0,2,{test},{test},test machine\n"
    );
    for method in ["lora", "serial_lora", "lora_plus"] {
        for lr in ["0.001", "0.003"] {
            text.push_str(&format!(
                "vit,pets,selection,method={method} rank=8 lr={lr} plus_ratio=1,validation_accuracy,1,3,0,2,{selection},{selection},test machine\n"
            ));
        }
    }
    write(&dir.join("numerics_band.csv"), &text);
}

fn options(results: &Path) -> CompareOptions {
    CompareOptions {
        task: Task::Classification,
        results: results.to_path_buf(),
        reference: None,
        ours: None,
    }
}

fn verdicts(results: &Path) -> Vec<(String, Verdict)> {
    compare(&options(results))
        .unwrap()
        .cells
        .iter()
        .map(|c| (c.key[3].clone(), c.verdict()))
        .collect()
}

#[test]
fn the_same_numerics_demand_exact_and_other_numerics_the_measured_band() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    let (intel, amd) = (
        machine("GenuineIntel", 6, 85),
        machine("AuthenticAMD", 25, 17),
    );
    let reference = results.join("reference/classification");
    side(
        &reference,
        &[("lora", 0.50), ("serial_lora", 0.60)],
        Some(&intel),
    );
    band_file(&reference, 0.02, 0.025);
    let ours = results.join("classification");

    // Same signature: 0.01 apart is a failed exact reproduction, whatever the band.
    side(
        &ours,
        &[("lora", 0.50), ("serial_lora", 0.61)],
        Some(&intel),
    );
    assert_eq!(
        verdicts(results),
        [
            ("lora".to_string(), Verdict::Exact),
            ("serial_lora".to_string(), Verdict::NotExact)
        ]
    );
    let comparison = compare(&options(results)).unwrap();
    assert!(comparison.machines[0].same());
    assert!(
        comparison.render().contains("same numerics on both sides"),
        "{}",
        comparison.render()
    );

    // Another machine: within the band is reproduced, beyond it outside the noise.
    side(&ours, &[("lora", 0.50), ("serial_lora", 0.61)], Some(&amd));
    assert_eq!(
        verdicts(results),
        [
            ("lora".to_string(), Verdict::Reproduced),
            ("serial_lora".to_string(), Verdict::Reproduced)
        ]
    );
    let comparison = compare(&options(results)).unwrap();
    let text = comparison.render();
    assert!(
        text.contains("ours AuthenticAMD 25/17") && text.contains("reference GenuineIntel 6/85"),
        "both machines are named when they differ: {text}"
    );
    let csv = std::fs::read_to_string(&comparison.csv).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("within_spread,same_numerics,band,verdict"),
        "{csv}"
    );
    assert!(csv.contains(",true,false,0.02,reproduced\n"), "{csv}");
    side(&ours, &[("lora", 0.50), ("serial_lora", 0.63)], Some(&amd));
    assert_eq!(verdicts(results)[1].1, Verdict::OutsideNoise);

    // A run without numerics.json (made before they were recorded): not the same signature.
    side(&ours, &[("lora", 0.50), ("serial_lora", 0.61)], None);
    assert_eq!(verdicts(results)[1].1, Verdict::Reproduced);
    // A run resumed under other numerics is mixed: never the same signature.
    let mut mixed = intel.clone();
    mixed.mixed = true;
    side(
        &ours,
        &[("lora", 0.50), ("serial_lora", 0.50)],
        Some(&mixed),
    );
    assert!(!compare(&options(results)).unwrap().machines[0].same());
}

fn selection(dir: &Path, rows: &[(&str, f64, f64, bool)]) {
    let mut text =
        "backbone,dataset,method,rank,seed,lr,plus_ratio,validation_accuracy,chosen\n".to_string();
    for (method, lr, score, chosen) in rows {
        text.push_str(&format!("vit,pets,{method},8,1,{lr},1,{score},{chosen}\n"));
    }
    write(&dir.join("lr_selection.csv"), &text);
}

#[test]
fn the_selection_is_compared_by_what_it_chose() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    let reference = results.join("reference/classification");
    let ours = results.join("classification");
    side(&reference, &[("lora", 0.5)], None);
    side(&ours, &[("lora", 0.5)], None);
    band_file(&reference, 0.02, 0.025);
    selection(
        &reference,
        &[
            ("lora", 0.001, 0.775, true),
            ("lora", 0.003, 0.750, false),
            ("serial_lora", 0.001, 0.700, true),
            ("serial_lora", 0.003, 0.600, false),
            ("lora_plus", 0.001, 0.700, true),
            ("lora_plus", 0.003, 0.600, false),
        ],
    );
    selection(
        &ours,
        &[
            // The same choice, another score: same_choice.
            ("lora", 0.001, 0.800, true),
            ("lora", 0.003, 0.750, false),
            // Another choice, 0.025 above ours at the reference's choice: equivalent.
            ("serial_lora", 0.001, 0.700, false),
            ("serial_lora", 0.003, 0.725, true),
            // Another choice, 0.05 above: different.
            ("lora_plus", 0.001, 0.600, false),
            ("lora_plus", 0.003, 0.650, true),
        ],
    );
    let comparison = compare(&options(results)).unwrap();
    let choices: Vec<(String, &str)> = comparison
        .selection
        .iter()
        .map(|r| (r.key.2.to_string(), r.choice.name()))
        .collect();
    assert_eq!(
        choices,
        [
            ("lora".to_string(), "same_choice"),
            ("serial_lora".to_string(), "equivalent_choice"),
            ("lora_plus".to_string(), "different_choice"),
        ]
    );
    let csv = std::fs::read_to_string(comparison.selection_csv.as_ref().unwrap()).unwrap();
    assert!(
        csv.contains("vit,pets,serial_lora,0.003,1,0.001,1,0.725,0.7,0.025,equivalent_choice\n"),
        "{csv}"
    );
    assert!(
        comparison
            .render()
            .contains("1 of 3 choices the same, 1 equivalent"),
        "{}",
        comparison.render()
    );
}

#[test]
fn noise_writes_the_band_compare_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path();
    // Two settings of one grid: 4 test examples (0.25 steps); one cell moves by one example.
    for (setting, serial) in [("native", 0.5), ("portable", 0.75)] {
        side(
            &results.join(setting).join("classification"),
            &[("lora", 0.5), ("serial_lora", serial)],
            None,
        );
    }
    let out = results.join("reference/classification");
    let run = Command::new(env!("CARGO_BIN_EXE_analysis"))
        .args([
            "noise",
            "--task",
            "classification",
            "--measured-on",
            "a test CPU",
        ])
        .arg("--setting")
        .arg(format!("native={}", results.join("native").display()))
        .arg("--setting")
        .arg(format!("portable={}", results.join("portable").display()))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let band = std::fs::read_to_string(out.join("numerics_band.csv")).unwrap();
    assert_eq!(
        band,
        "backbone,dataset,stage,cell,metric,cells,settings,max_spread,factor,floor,band,measured_on\n\
         vit,pets,test,*,accuracy,2,2,0.25,2,0.25,0.5,a test CPU\n"
    );
    let noise = std::fs::read_to_string(out.join("numerics_noise.csv")).unwrap();
    assert!(
        noise.contains("test,vit,pets,shots=16 method=serial_lora rank=8,1,portable,0.75\n"),
        "{noise}"
    );
    // compare reads it: the reference is the native run, ours 0.5 away on serial_lora.
    side(&out, &[("lora", 0.5), ("serial_lora", 0.5)], None);
    side(
        &results.join("classification"),
        &[("lora", 0.5), ("serial_lora", 1.0)],
        None,
    );
    assert_eq!(verdicts(results)[1].1, Verdict::Reproduced);
    // One setting is not a measurement.
    let one = Command::new(env!("CARGO_BIN_EXE_analysis"))
        .args(["noise", "--task", "classification", "--measured-on", "x"])
        .arg("--setting")
        .arg(format!("native={}", results.join("native").display()))
        .output()
        .unwrap();
    assert!(!one.status.success());
    assert!(String::from_utf8_lossy(&one.stderr).contains("at least two --setting"));
}
