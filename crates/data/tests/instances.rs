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
fn a_validation_split_lies_inside_the_training_half() {
    let img = stardist_nuclei(&data::default_assets_dir()).unwrap();
    let left = img.left_columns(256);
    assert_eq!((left.width, left.height), (256, 512));
    assert_eq!(left.labels.len(), 256 * 512);
    for y in [0, 100, 511] {
        assert_eq!(
            left.labels[y * 256 + 255],
            img.labels[y * 512 + 255],
            "row {y}"
        );
        assert_eq!(
            left.pixels[y * 256 + 17],
            img.pixels[y * 512 + 17],
            "row {y}"
        );
    }
    let halves = img.split_halves();
    let split = left.split_at(192);
    assert_eq!(split.middle, 192);
    assert!(!split.train.is_empty() && !split.test.is_empty());
    let labels = |v: &[data::Instance]| v.iter().map(|i| i.label).collect::<Vec<_>>();
    let test_half = labels(&halves.test);
    for label in labels(&split.train).iter().chain(&labels(&split.test)) {
        assert!(
            !test_half.contains(label),
            "instance {label} is from the test half"
        );
    }
    assert!(split
        .test
        .iter()
        .all(|i| i.bbox[0] >= 192 && i.bbox[2] < 256));
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

/// A 8×6 folder with `images/a.png` and a two-instance label map; returns the mask's pixels.
fn pair(root: &Path) -> image::GrayImage {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("masks")).unwrap();
    write_png(&root.join("images/a.png"), 8, 6, |x, y| (x + y) as u8);
    image::GrayImage::from_fn(8, 6, |x, _| {
        image::Luma([[1, 1, 1, 0, 0, 0, 2, 2][x as usize]])
    })
}

/// The error of loading `root`, which must fail.
fn load_err(root: &Path) -> String {
    load_instance_folder(root).unwrap_err().to_string()
}

/// The message of a refused lossy mask names the file, the format and the lossless remedy.
fn assert_lossy(e: &str, file: &str, kind: &str) {
    assert!(
        e.contains(file) && e.contains(kind) && e.contains("extra instances"),
        "{e}"
    );
    assert!(e.contains("losslessly") && e.contains("PNG or TIFF"), "{e}");
}

#[test]
fn jpeg_masks_are_refused_by_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = pair(root);
    mask.save_with_format(root.join("masks/a.jpg"), image::ImageFormat::Jpeg)
        .unwrap();
    assert_lossy(&load_err(root), "masks/a.jpg", "stored as JPEG");

    // The same JPEG bytes under a .png name: still refused, by content.
    std::fs::rename(root.join("masks/a.jpg"), root.join("masks/a.png")).unwrap();
    assert_lossy(&load_err(root), "masks/a.png", "stored as JPEG");

    // A PNG under a .jpg name is lossless: accepted, labels as stored.
    std::fs::remove_file(root.join("masks/a.png")).unwrap();
    mask.save_with_format(root.join("masks/a.jpg"), image::ImageFormat::Png)
        .unwrap();
    let images = load_instance_folder(root).unwrap();
    assert_eq!(images[0].instances().len(), 2);
    assert_eq!(images[0].labels[..8], [1, 1, 1, 0, 0, 0, 2, 2]);
}

#[test]
fn lossy_webp_masks_are_refused_and_lossless_webp_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = pair(root);
    // A lossy WebP container (`VP8 ` chunk); it is refused before its bitstream is decoded.
    let vp8 = [0u8; 10];
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + 8 + vp8.len() as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8 ");
    webp.extend_from_slice(&(vp8.len() as u32).to_le_bytes());
    webp.extend_from_slice(&vp8);
    std::fs::write(root.join("masks/a.webp"), &webp).unwrap();
    assert_lossy(&load_err(root), "masks/a.webp", "lossy WebP");

    // image's WebP encoder writes lossless (`VP8L`) files: accepted.
    image::DynamicImage::ImageLuma8(mask)
        .to_rgb8()
        .save_with_format(root.join("masks/a.webp"), image::ImageFormat::WebP)
        .unwrap();
    let images = load_instance_folder(root).unwrap();
    assert_eq!(images[0].labels[..8], [1, 1, 1, 0, 0, 0, 2, 2]);
}

#[test]
fn jpeg_compressed_tiff_masks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = pair(root);
    let mut bytes = std::io::Cursor::new(Vec::new());
    tiff::encoder::TiffEncoder::new(&mut bytes)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray8>(8, 6, mask.as_raw())
        .unwrap();
    let mut bytes = bytes.into_inner();
    std::fs::write(root.join("masks/a.tif"), &bytes).unwrap();
    assert_eq!(load_instance_folder(root).unwrap()[0].instances().len(), 2);

    // Tag 259 (Compression), SHORT, count 1, value 1 (none) → 7 (JPEG).
    let entry = [3u8, 1, 3, 0, 1, 0, 0, 0, 1, 0];
    let at = bytes
        .windows(entry.len())
        .position(|w| w == entry)
        .expect("the compression tag");
    bytes[at + 8] = 7;
    std::fs::write(root.join("masks/a.tif"), &bytes).unwrap();
    assert_lossy(&load_err(root), "masks/a.tif", "lossy JPEG compression");
}

#[test]
fn colour_transparent_and_fractional_masks_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = pair(root);

    // Grey stored as RGB (equal channels) is a label map: accepted.
    image::DynamicImage::ImageLuma8(mask.clone())
        .to_rgb8()
        .save(root.join("masks/a.png"))
        .unwrap();
    assert_eq!(load_instance_folder(root).unwrap()[0].instances().len(), 2);

    // Colour-coded instances: red and green have different channels, and as grey they could merge.
    image::RgbImage::from_fn(8, 6, |x, _| match x {
        0..=2 => image::Rgb([200, 0, 0]),
        6.. => image::Rgb([0, 100, 0]),
        _ => image::Rgb([0, 0, 0]),
    })
    .save(root.join("masks/a.png"))
    .unwrap();
    let e = load_err(root);
    assert!(
        e.contains("masks/a.png") && e.contains("channels differ") && e.contains("(0, 0)"),
        "{e}"
    );
    assert!(
        e.contains("single-channel") && e.contains("PNG or TIFF"),
        "{e}"
    );

    // A transparent alpha channel.
    image::RgbaImage::from_fn(8, 6, |x, _| {
        let v = mask.get_pixel(x, 0).0[0];
        image::Rgba([v, v, v, if x == 4 { 0 } else { 255 }])
    })
    .save(root.join("masks/a.png"))
    .unwrap();
    let e = load_err(root);
    assert!(
        e.contains("masks/a.png") && e.contains("alpha") && e.contains("(4, 0)"),
        "{e}"
    );

    // A float TIFF with a fractional value.
    std::fs::remove_file(root.join("masks/a.png")).unwrap();
    let mut values: Vec<f32> = mask.as_raw().iter().map(|&v| f32::from(v)).collect();
    values[9] = 1.5;
    let file = std::fs::File::create(root.join("masks/a.tif")).unwrap();
    tiff::encoder::TiffEncoder::new(file)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray32Float>(8, 6, &values)
        .unwrap();
    let e = load_err(root);
    assert!(
        e.contains("masks/a.tif") && e.contains("1.5") && e.contains("(1, 1)"),
        "{e}"
    );
    assert!(e.contains("not an integer label"), "{e}");
}

#[test]
fn two_files_with_one_stem_are_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mask = pair(root);
    mask.save(root.join("masks/a.png")).unwrap();
    mask.save(root.join("masks/a.tif")).unwrap();
    let e = load_err(root);
    assert!(
        e.contains("masks/a.png") && e.contains("masks/a.tif") && e.contains("ambiguous"),
        "{e}"
    );

    std::fs::remove_file(root.join("masks/a.tif")).unwrap();
    write_png(&root.join("images/a.PNG"), 8, 6, |_, _| 9);
    let e = load_err(root);
    assert!(
        e.contains("images/a.PNG") && e.contains("images/a.png") && e.contains("same stem `a`"),
        "{e}"
    );
}

#[test]
fn box_validator_names_the_box_and_what_is_wrong() {
    let err = |b: [f64; 4]| {
        data::check_box("instance 7 of a.png", b, 10, 8)
            .unwrap_err()
            .to_string()
    };
    let e = err([1.0, f64::NAN, 3.0, 4.0]);
    assert!(
        e.contains("instance 7 of a.png") && e.contains("NaN") && e.contains("y0 is not finite"),
        "{e}"
    );
    let e = err([1.0, 2.0, 3.0, f64::INFINITY]);
    assert!(e.contains("y1 is not finite"), "{e}");
    let e = err([5.0, 2.0, 3.0, 4.0]);
    assert!(
        e.contains("[5.0, 2.0, 3.0, 4.0]") && e.contains("inverted: x0 5 > x1 3"),
        "{e}"
    );
    let e = err([1.0, 6.0, 3.0, 4.0]);
    assert!(e.contains("inverted: y0 6 > y1 4"), "{e}");
    let e = err([1.0, 2.0, 10.0, 4.0]);
    assert!(e.contains("outside the 10x8 image"), "{e}");
    let e = err([-0.5, 2.0, 3.0, 4.0]);
    assert!(e.contains("outside"), "{e}");
    // Inclusive corners: a one-pixel instance and the full image are valid boxes.
    data::check_box("one pixel", [3.0, 3.0, 3.0, 3.0], 10, 8).unwrap();
    data::check_box("everything", [0.0, 0.0, 9.0, 7.0], 10, 8).unwrap();

    let inst = data::Instance {
        label: 4,
        bbox: [6, 1, 2, 3],
        centroid: (4.0, 2.0),
        area: 3,
    };
    let e = inst
        .check_box("masks/b.png", 10, 8)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("instance 4 of masks/b.png") && e.contains("inverted"),
        "{e}"
    );
}
