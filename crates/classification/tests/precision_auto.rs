//! `--precision auto`: the start-up probe's pick becomes every run's precision, is kept in
//! `<results>/precision_probe.json` for the grid's other processes, and is what the run's
//! `config.json` records.

use std::path::Path;
use std::process::ExitCode;

use classification::Classification;
use formats::Precision;
use runner::precision_auto::PROBE_FILE;
use runner::RunSpec as _;
use serial_lora::precision_probe::{choose, Probe};

mod common;

/// A probe record for the CPU at the current thread count, picking `chosen`.
fn record(results: &Path, threads: i32, chosen: Precision) {
    let probe = Probe {
        device: "Cpu".into(),
        threads,
        fp32_ms: 1.0,
        bf16_ms: Some(if chosen == Precision::Bf16 { 0.5 } else { 2.0 }),
        chosen,
    };
    std::fs::create_dir_all(results).unwrap();
    std::fs::write(
        results.join(PROBE_FILE),
        serde_json::to_string(&probe).unwrap(),
    )
    .unwrap();
}

fn read_record(results: &Path) -> Probe {
    serde_json::from_str(&std::fs::read_to_string(results.join(PROBE_FILE)).unwrap()).unwrap()
}

#[test]
fn auto_takes_the_probes_pick_and_keeps_it_for_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_tiny(dir.path(), &[]);
    let results = dir.path().join("results");
    let args = || {
        common::grid(&[
            "--config",
            config.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--precision",
            "auto",
            "--method",
            "lora",
        ])
    };
    // No record yet: this process probes, records, and its runs take the pick.
    let (_, runs) = runner::select::<Classification>(&args(), |_| {}).unwrap();
    let probe = read_record(&results);
    assert_eq!(probe.chosen, choose(probe.fp32_ms, probe.bf16_ms));
    assert!(runs.iter().all(|r| r.precision == probe.chosen));
    // A record for this device and thread count decides for every later process …
    let threads = tch::get_num_threads();
    let other = match probe.chosen {
        Precision::Bf16 => Precision::Fp32,
        _ => Precision::Bf16,
    };
    record(&results, threads, other);
    let (_, runs) = runner::select::<Classification>(&args(), |_| {}).unwrap();
    assert!(runs.iter().all(|r| r.precision == other));
    // … one for another thread count does not: it is probed again.
    record(&results, threads + 7, other);
    runner::select::<Classification>(&args(), |_| {}).unwrap();
    assert_eq!(read_record(&results).threads, threads);
    // The run's config.json records the precision it trained in.
    record(&results, threads, Precision::Bf16);
    assert_eq!(
        runner::engine::main::<Classification>(&args(), |_| {}),
        ExitCode::SUCCESS
    );
    let run = runs[0].name();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("classification").join(run).join("config.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["precision"], "bf16");
    // A bad record is named.
    std::fs::write(results.join(PROBE_FILE), "{").unwrap();
    let err = format!(
        "{:#}",
        runner::select::<Classification>(&args(), |_| {}).unwrap_err()
    );
    assert!(err.contains(PROBE_FILE), "{err}");
}
