//! Few-shot sampling: exactly k per class, determinism per seed, error on too few images.

mod common;

use data::{class_counts, FewShot};

#[test]
fn exactly_k_distinct_images_per_class() {
    let ds = common::memory_dataset(&[10, 7, 16]);
    for k in [1, 2, 4, 7] {
        let fs = FewShot::sample(&ds, k, 5).unwrap();
        assert_eq!(fs.indices.len(), 3 * k);
        assert_eq!(class_counts(&fs.items(&ds), 3), vec![k; 3]);
        let mut uniq = fs.indices.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(uniq.len(), 3 * k, "no index twice");
        for (pos, &i) in fs.indices.iter().enumerate() {
            assert_eq!(ds.train[i].label, pos / k, "class-ordered indices");
        }
    }
}

#[test]
fn same_seed_same_subset_other_seed_other_subset() {
    let ds = common::memory_dataset(&[30, 30]);
    let a = FewShot::sample(&ds, 4, 1).unwrap();
    assert_eq!(a, FewShot::sample(&ds, 4, 1).unwrap());
    assert_ne!(a.indices, FewShot::sample(&ds, 4, 2).unwrap().indices);
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains("\"indices\""), "{json}");
}

#[test]
fn too_few_images_is_an_error_naming_the_class() {
    let ds = common::memory_dataset(&[16, 3]);
    let msg = common::err_msg(FewShot::sample(&ds, 4, 0));
    assert!(
        msg.contains("class 1 (class1) has 3 training images"),
        "{msg}"
    );
    assert!(msg.contains("4 shots"), "{msg}");
}

#[test]
fn hold_out_splits_every_class_disjointly_and_deterministically() {
    let ds = common::memory_dataset(&[20, 20, 20]);
    let fs = FewShot::sample(&ds, 8, 3).unwrap();
    let (train, validation) = fs.hold_out(2).unwrap();
    assert_eq!((train.len(), validation.len()), (18, 6));
    for label in 0..3 {
        let count = |set: &[usize]| set.iter().filter(|&&i| ds.train[i].label == label).count();
        assert_eq!((count(&train), count(&validation)), (6, 2), "class {label}");
    }
    let mut all: Vec<usize> = train.iter().chain(&validation).copied().collect();
    all.sort_unstable();
    let mut drawn = fs.indices.clone();
    drawn.sort_unstable();
    assert_eq!(all, drawn, "the split partitions the draw");
    assert_eq!(fs.hold_out(2).unwrap(), (train, validation));
    for bad in [0, 8, 9] {
        let msg = common::err_msg(fs.hold_out(bad));
        assert!(
            msg.contains(&format!("cannot hold out {bad} of 8")),
            "{msg}"
        );
    }
}

#[test]
fn validation_outside_the_draw_is_disjoint_balanced_and_deterministic() {
    let ds = common::memory_dataset(&[20, 20, 12]);
    let fs = FewShot::sample(&ds, 8, 3).unwrap();
    let validation = fs.outside(&ds, 4).unwrap();
    assert_eq!(validation.len(), 12);
    for label in 0..3 {
        let count = validation
            .iter()
            .filter(|&&i| ds.train[i].label == label)
            .count();
        assert_eq!(count, 4, "class {label}");
    }
    assert!(
        validation.iter().all(|i| !fs.indices.contains(i)),
        "no validation image is one of the draw's"
    );
    assert_eq!(fs.outside(&ds, 4).unwrap(), validation);
    // Class 2 has 12 images, 8 drawn: 4 left, not 5.
    let msg = common::err_msg(fs.outside(&ds, 5));
    assert!(
        msg.contains("class 2") && msg.contains("4 training images outside"),
        "{msg}"
    );
    assert!(common::err_msg(fs.outside(&ds, 0)).contains("at least one"));
}
