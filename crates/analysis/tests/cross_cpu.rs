//! QUICK results made on other CPUs (`tests/fixtures/cross-cpu/`: an Intel Xeon with AVX-512 and
//! an AMD Zen 3 with AVX2 only, native and pinned to AVX2) against the committed reference: every
//! cell is *reproduced* within the measured numerical noise and every learning-rate choice agrees;
//! a cell moved beyond the band is *outside_noise*.

use std::path::{Path, PathBuf};

use analysis::compare::{compare, Choice, CompareOptions, Task, Verdict};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(machine: &str, task: Task) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cross-cpu")
        .join(machine)
        .join(task.name())
}

/// `analysis compare` of a copy of the fixture's task folder (its summary.csv, its
/// lr_selection.csv if any, with `edit` applied to the summary) against the committed reference.
fn compare_fixture(
    machine: &str,
    task: Task,
    edit: impl Fn(String) -> String,
) -> analysis::compare::Comparison {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join(task.name());
    std::fs::create_dir_all(&ours).unwrap();
    let from = fixture(machine, task);
    let summary = std::fs::read_to_string(from.join("summary.csv")).unwrap();
    std::fs::write(ours.join("summary.csv"), edit(summary)).unwrap();
    if from.join("lr_selection.csv").is_file() {
        std::fs::copy(from.join("lr_selection.csv"), ours.join("lr_selection.csv")).unwrap();
    }
    let comparison = compare(&CompareOptions {
        task,
        results: tmp.path().to_path_buf(),
        reference: Some(
            repo()
                .join("results/reference")
                .join(task.name())
                .join("summary.csv"),
        ),
        ours: Some(ours.join("summary.csv")),
    })
    .unwrap();
    // The temporary folder goes; the comparison keeps what the test reads.
    drop(tmp);
    comparison
}

const MACHINES: [(&str, &[Task]); 3] = [
    (
        "intel-avx512",
        &[Task::Classification, Task::Segmentation, Task::Generation],
    ),
    (
        "amd-zen3-native",
        &[Task::Classification, Task::Segmentation, Task::Generation],
    ),
    ("amd-zen3-avx2", &[Task::Classification, Task::Segmentation]),
];

#[test]
fn other_cpus_reproduce_the_reference_within_the_measured_noise() {
    for (machine, tasks) in MACHINES {
        for &task in tasks {
            let comparison = compare_fixture(machine, task, |s| s);
            assert!(!comparison.cells.is_empty(), "{machine} {task}");
            for cell in &comparison.cells {
                assert_eq!(
                    cell.verdict(),
                    Verdict::Reproduced,
                    "{machine} {task} {:?}: {}",
                    cell.key,
                    comparison.render()
                );
            }
            for row in &comparison.selection {
                assert!(
                    matches!(row.choice, Choice::Same | Choice::Equivalent),
                    "{machine} {task} {:?}: {}",
                    row.key,
                    comparison.render()
                );
            }
        }
    }
}

#[test]
fn a_difference_beyond_the_band_is_outside_the_noise() {
    // The AMD Zen 3 CamVid probe (0.2137) moved down by 0.02, more than the QUICK CamVid band.
    let comparison = compare_fixture("amd-zen3-native", Task::Segmentation, |s| {
        s.replace(",probe,0,1,5180908,0.2137,", ",probe,0,1,5180908,0.1937,")
    });
    let probe = comparison
        .cells
        .iter()
        .find(|c| c.key[2] == "probe")
        .unwrap();
    let band = probe
        .numerics
        .band
        .expect("the reference has a measured band");
    assert!(
        (probe.difference().unwrap()).abs() > band,
        "{band}: {}",
        comparison.render()
    );
    assert_eq!(probe.verdict(), Verdict::OutsideNoise);
    // Classification: one digits test example (1/196) more than the band of one example.
    let comparison = compare_fixture("intel-avx512", Task::Classification, |s| {
        s.replace(
            "dinov2-s14-quick,digits,16,1,lora,8,294912,0.857143,",
            "dinov2-s14-quick,digits,16,1,lora,8,294912,0.867347,",
        )
    });
    let lora = comparison
        .cells
        .iter()
        .find(|c| c.key[1] == "digits" && c.key[3] == "lora" && c.key[4] == "8")
        .unwrap();
    assert_eq!(
        lora.verdict(),
        Verdict::OutsideNoise,
        "{}",
        comparison.render()
    );
}
