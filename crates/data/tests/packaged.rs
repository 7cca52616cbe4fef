//! The packaged real data sets (fetched by `make setup` into `.cache/assets`) load with the right
//! counts and classes; missing or altered assets give clear errors.

use std::path::{Path, PathBuf};

use data::{
    class_counts, default_assets_dir, digits, faces, fashion_mnist, Backbone, Dataset, Preprocess,
};

/// The assets folder; a clear failure if `make setup` has not fetched it.
fn assets() -> PathBuf {
    let dir = default_assets_dir();
    assert!(
        dir.join(".fetched").is_file(),
        "packaged assets not found in {}; run `make setup` (tools/fetch_assets.sh) first",
        dir.display()
    );
    dir
}

/// Loads one image of each split through the preprocessing, as a runner would.
fn smoke(ds: &Dataset) {
    let pre = Preprocess::new(Backbone::Clip, 32).unwrap();
    for item in [&ds.train[0], &ds.test[ds.test.len() - 1]] {
        let view = pre.eval(&item.source.load().unwrap());
        assert_eq!(view.dim(), (3, 32, 32));
        assert!(view.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn fashion_mnist_has_70000_images_in_10_named_classes() {
    let ds = fashion_mnist::load(&assets()).unwrap();
    assert_eq!(ds.classnames[0], "T-shirt/top");
    assert_eq!(ds.classnames[9], "Ankle boot");
    assert_eq!(class_counts(&ds.train, 10), vec![6000; 10]);
    assert_eq!(class_counts(&ds.test, 10), vec![1000; 10]);
    let first = ds.train[0].source.load().unwrap();
    assert_eq!((first.width(), first.height()), (28, 28));
    assert_eq!(
        ds.train[0].label, 9,
        "the first Fashion-MNIST training image is an ankle boot"
    );
    smoke(&ds);
}

#[test]
fn digits_split_stratified_and_fixed() {
    let ds = digits::load(&assets()).unwrap();
    assert_eq!(ds.classnames.len(), 10);
    let per_class = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
    let test = class_counts(&ds.test, 10);
    let train = class_counts(&ds.train, 10);
    for c in 0..10 {
        assert_eq!(test[c], per_class[c] / 2);
        assert_eq!(train[c] + test[c], per_class[c]);
    }
    assert_eq!((ds.train.len(), ds.test.len()), (901, 896));
    let img = ds.train[0].source.load().unwrap().to_rgb32f();
    assert_eq!(img.dimensions(), (8, 8));
    assert!(img.pixels().all(|p| (0.0..=1.0).contains(&p.0[0])));
    let again = digits::load(&assets()).unwrap();
    let labels = |d: &Dataset| d.test.iter().map(|i| i.label).collect::<Vec<_>>();
    assert_eq!(labels(&ds), labels(&again));
    smoke(&ds);
}

#[test]
fn faces_split_half_and_half() {
    let ds = faces::load(&assets()).unwrap();
    assert_eq!(ds.classnames, ["face", "non-face"]);
    assert_eq!(class_counts(&ds.train, 2), vec![50, 50]);
    assert_eq!(class_counts(&ds.test, 2), vec![50, 50]);
    let img = ds.test[0].source.load().unwrap();
    assert_eq!((img.width(), img.height()), (25, 25));
    smoke(&ds);
}

#[test]
fn missing_and_altered_assets_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = digits::load(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("digits.csv.gz") && msg.contains("make setup"),
        "{msg}"
    );

    let rel = Path::new("scikit-image/skimage/data/lfw_subset.npy");
    let copy = tmp.path().join(rel);
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(assets().join(rel)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&copy, bytes).unwrap();
    let msg = faces::load(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("lfw_subset.npy"),
        "{msg}"
    );
}

#[test]
fn missing_unreadable_and_corrupt_assets_are_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let rel = Path::new("scikit-learn/sklearn/datasets/data/digits.csv.gz");
    let file = tmp.path().join(rel);

    let missing = digits::load(tmp.path()).unwrap_err().to_string();
    assert!(
        missing.contains("digits.csv.gz")
            && missing.contains("is missing: run `make setup`")
            && missing.contains("scikit-learn"),
        "{missing}"
    );
    assert!(!missing.contains("unreadable"), "{missing}");

    // Present but unreadable: a folder where the file should be (chmod 000 does not stop root).
    std::fs::create_dir_all(&file).unwrap();
    let e = digits::load(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("digits.csv.gz") && e.contains("exists but is unreadable"),
        "{e}"
    );
    assert!(
        e.contains("Is a directory") && e.contains("os error"),
        "the OS reason: {e}"
    );
    assert!(!e.contains("missing") && !e.contains("checksum"), "{e}");

    // Present but truncated: a checksum mismatch, with the folder to remove before `make setup`.
    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, [0x1f, 0x8b, 0x08]).unwrap();
    let e = digits::load(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("digits.csv.gz") && e.contains("checksum mismatch"),
        "{e}"
    );
    assert!(
        e.contains("corrupt or truncated")
            && e.contains(&format!(
                "remove {} and re-run `make setup`",
                tmp.path().join("scikit-learn").display()
            )),
        "{e}"
    );
    assert!(!e.contains("missing") && !e.contains("unreadable"), "{e}");

    // The stardist nuclei go through the same checks.
    let e = data::stardist_nuclei(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("img2d.tif") && e.contains("is missing: run `make setup`"),
        "{e}"
    );
    let img = tmp.path().join("stardist/stardist/data/images/img2d.tif");
    std::fs::create_dir_all(&img).unwrap();
    let e = data::stardist_nuclei(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("img2d.tif") && e.contains("unreadable") && e.contains("Is a directory"),
        "{e}"
    );
}
