//! Bad inputs named at the boundary: a model that is not a segmenter (its type and folder), and
//! lossy or ambiguous masks in an `images/` + `masks/` folder (the file). Boxes are checked where
//! they are made (data's `check_box`, samples' tests).

use std::path::{Path, PathBuf};

use segmentation::predict::segmenter;
use segmentation::samples::SegData;
use tch::Device;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../zoo/tests/fixtures")
        .join(name)
}

#[test]
fn a_model_that_is_not_a_segmenter_is_named() {
    let dir = fixture("dinov2");
    let loaded = zoo::build(&dir, None, Device::Cpu).unwrap();
    let e = format!("{:#}", segmenter(&loaded.model, &dir).err().unwrap());
    assert!(e.contains("model_type sam or lite_medsam"), "{e}");
    assert!(
        e.contains(&dir.join("config.json").display().to_string())
            && e.contains("model_type `dinov2` is not a segmenter"),
        "{e}"
    );

    let sam = zoo::build(&fixture("sam_tiny"), None, Device::Cpu).unwrap();
    assert!(segmenter(&sam.model, &fixture("sam_tiny")).is_ok());
}

/// `root/images/a.png` (64×64) and its two-instance label map, returned unsaved.
fn folder(root: &Path) -> image::GrayImage {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("masks")).unwrap();
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([x as u8]))
        .save(root.join("images/a.png"))
        .unwrap();
    image::GrayImage::from_fn(64, 64, |x, y| {
        let near = |cx: u32| x.abs_diff(cx) < 5 && y.abs_diff(30) < 5;
        image::Luma([if near(10) {
            1
        } else if near(50) {
            2
        } else {
            0
        }])
    })
}

#[test]
fn lossy_and_ambiguous_masks_are_named_when_the_data_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = folder(root);
    let spec = format!("folder:{}", root.display());
    mask.save(root.join("masks/a.png")).unwrap();
    SegData::load(&spec, root, None).unwrap();

    mask.save(root.join("masks/a.tif")).unwrap();
    let e = format!("{:#}", SegData::load(&spec, root, None).unwrap_err());
    assert!(
        e.contains("masks/a.png") && e.contains("masks/a.tif") && e.contains("ambiguous"),
        "{e}"
    );

    std::fs::remove_file(root.join("masks/a.tif")).unwrap();
    mask.save_with_format(root.join("masks/a.png"), image::ImageFormat::Jpeg)
        .unwrap();
    let e = format!("{:#}", SegData::load(&spec, root, None).unwrap_err());
    assert!(
        e.contains("masks/a.png") && e.contains("JPEG") && e.contains("losslessly"),
        "{e}"
    );
    assert!(e.contains("PNG or TIFF"), "{e}");
}
