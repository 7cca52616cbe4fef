//! Instance data: the stardist nuclei (125 instances, a disjoint half split), the images/ + masks/
//! folder layout, and its errors (size mismatch, empty mask set, unreadable file, missing mask).

use std::path::Path;

use data::{load_instance_folder, stardist_nuclei};

fn write_png(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]))
        .save(path)
        .unwrap();
}

#[test]
fn stardist_has_125_nuclei_split_without_overlap() {
    let img = stardist_nuclei(&data::default_assets_dir()).unwrap();
    assert_eq!((img.width, img.height), (512, 512));
    assert_eq!(img.instances().len(), 125);
    let split = img.split_halves();
    assert_eq!(
        split.train.len() + split.test.len() + split.dropped.len(),
        125
    );
    assert!(
        split.train.len() > 40 && split.test.len() > 40,
        "{} / {}",
        split.train.len(),
        split.test.len()
    );
    assert!(split
        .train
        .iter()
        .all(|i| i.bbox[2] < 256 && i.centroid.0 < 256.0));
    assert!(split.test.iter().all(|i| i.bbox[0] >= 256));
    let max = img.pixels.iter().cloned().fold(0.0f32, f32::max);
    assert!(max > 100.0 && max <= 65535.0);
}

#[test]
fn folder_layout_reads_pairs_and_names_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("masks")).unwrap();
    write_png(&root.join("images/a.png"), 8, 6, |x, y| (x + y) as u8);
    write_png(&root.join("masks/a.png"), 8, 6, |x, _| {
        if x < 3 {
            1
        } else if x > 5 {
            2
        } else {
            0
        }
    });
    let images = load_instance_folder(root).unwrap();
    assert_eq!(images.len(), 1);
    let inst = images[0].instances();
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0].bbox, [0, 0, 2, 5]);

    write_png(&root.join("masks/a.png"), 7, 6, |_, _| 1);
    let e = load_instance_folder(root).unwrap_err().to_string();
    assert!(
        e.contains("masks/a.png") && e.contains("7x6") && e.contains("8x6"),
        "{e}"
    );

    write_png(&root.join("masks/a.png"), 8, 6, |_, _| 0);
    let e = load_instance_folder(root).unwrap_err().to_string();
    assert!(e.contains("every mask is empty"), "{e}");

    std::fs::write(root.join("masks/a.png"), b"not a png").unwrap();
    let e = load_instance_folder(root).unwrap_err().to_string();
    assert!(e.contains("masks/a.png"), "{e}");

    std::fs::remove_file(root.join("masks/a.png")).unwrap();
    let e = load_instance_folder(root).unwrap_err().to_string();
    assert!(e.contains("no mask named a"), "{e}");

    let e = load_instance_folder(&root.join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere/images"), "{e}");
}
