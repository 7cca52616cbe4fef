//! RandomResizedCrop + flip: bounds, and determinism of the seeded training loader.

mod common;

use data::{Augment, Backbone, FewShot, Preprocess, TrainLoader};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn crops_stay_inside_the_image_within_scale_and_ratio() {
    let aug = Augment::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (w, h) = (200u32, 100u32);
    let mut flips = 0;
    for _ in 0..2000 {
        let b = aug.sample_crop(w, h, &mut rng);
        assert!(b.width > 0 && b.height > 0);
        assert!(b.x + b.width <= w && b.y + b.height <= h, "{b:?}");
        let frac = f64::from(b.width * b.height) / f64::from(w * h);
        assert!((0.07..=1.0).contains(&frac), "{b:?} covers {frac}");
        let ratio = f64::from(b.width) / f64::from(b.height);
        assert!((0.70..=1.45).contains(&ratio), "{b:?} ratio {ratio}");
        flips += usize::from(aug.sample_flip(&mut rng));
    }
    assert!((800..1200).contains(&flips), "{flips} flips of 2000");
}

#[test]
fn extreme_aspect_falls_back_to_a_centred_clamped_crop() {
    let aug = Augment {
        scale: (1.0, 1.0),
        ..Augment::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let b = aug.sample_crop(400, 100, &mut rng);
    assert_eq!((b.width, b.height), (133, 100));
    assert_eq!((b.x, b.y), (133, 0));
}

fn batches(seed: u64, n: usize) -> Vec<data::Batch> {
    let ds = common::memory_dataset(&[5, 5, 5]);
    let shots = FewShot::sample(&ds, 3, 1).unwrap();
    let pre = Preprocess::new(Backbone::Clip, 16).unwrap();
    let mut loader = TrainLoader::new(shots.items(&ds), 4, pre, seed).unwrap();
    (0..n).map(|_| loader.next_batch().unwrap()).collect()
}

#[test]
fn same_seed_same_batches_other_seed_other_batches() {
    let (a, b, c) = (batches(3, 5), batches(3, 5), batches(4, 5));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.images.dim(), (4, 3, 16, 16));
        assert_eq!(x.images, y.images);
        assert_eq!(x.labels, y.labels);
        assert_eq!(x.indices, y.indices);
    }
    assert!(a.iter().zip(&c).any(|(x, y)| x.images != y.images));
}

#[test]
fn epochs_reshuffle_and_drop_the_incomplete_batch() {
    // 9 items, batch 4: two full batches per epoch, each epoch a permutation without repeats.
    let got = batches(11, 6);
    for epoch in got.chunks(2) {
        let mut seen: Vec<usize> = epoch.iter().flat_map(|b| b.indices.clone()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 8);
    }
    for b in &got {
        let labels: Vec<i64> = b.indices.iter().map(|&i| (i / 3) as i64).collect();
        assert_eq!(
            b.labels, labels,
            "few-shot items are class-ordered, 3 per class"
        );
    }
}

#[test]
fn fewer_items_than_a_batch_give_whole_epochs() {
    let ds = common::memory_dataset(&[1, 1]);
    let pre = Preprocess::new(Backbone::Dinov2, 8).unwrap();
    let mut loader = TrainLoader::new(ds.train.clone(), 32, pre, 0).unwrap();
    assert_eq!(loader.batches_per_epoch(), 1);
    let b = loader.next_batch().unwrap();
    assert_eq!(b.images.dim(), (2, 3, 8, 8));
    let mut idx = b.indices.clone();
    idx.sort_unstable();
    assert_eq!(idx, vec![0, 1]);
}
