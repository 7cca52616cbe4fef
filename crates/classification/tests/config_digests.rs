//! Every committed experiment file of this task expands to the same runs, in the same order,
//! with byte-identical `config.json` files as when `tests/fixtures/config_digests.txt` was
//! written (`BLESS_CONFIG_DIGESTS=1` rewrites it when a change is meant to alter them).

use std::path::Path;

#[test]
fn every_experiment_file_expands_to_the_runs_and_configurations_it_did() {
    let root = formats::paths::repo_root();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config_digests.txt");
    runner::check_config_digests::<classification::Experiment>(
        &root.join("experiments"),
        &["clip_", "dinov2_"],
        &root,
        &golden,
    )
    .unwrap();
}
