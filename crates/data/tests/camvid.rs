//! The CamVid reader on tiny fixture folders (8×6 pairs written here): both places it is looked
//! for, the pixels and labels of a pair, grey and CMYK JPEGs read as RGB, and its checks, each an
//! error naming the file (a missing partner, a size mismatch, a label outside 0–11, a colour or
//! lossy label map, a corrupt file, two files with one stem, an unknown split).

mod common;

use std::path::{Path, PathBuf};

use common::err_msg;
use data::{
    camvid_dir, load_camvid, LabelledImage, CAMVID, CAMVID_CLASSES, CAMVID_SPLITS, CAMVID_VOID,
};
use image::{GrayImage, Luma, Rgb, RgbImage};

const W: u32 = 8;
const H: u32 = 6;

/// The RGB pixel written at `(x, y)` of image `seed`: a smooth gradient (JPEG keeps it closely).
fn pixel(x: u32, y: u32, seed: u8) -> [u8; 3] {
    [(40 + x * 20) as u8, (30 + y * 25) as u8, 60 + seed * 10]
}

/// The label written at `(x, y)` of label map `seed`: every value 0–11 occurs.
fn label(x: u32, y: u32, seed: u8) -> u8 {
    ((x + 3 * y + u32::from(seed)) % 12) as u8
}

/// Writes `path` as a JPEG at quality 100, creating parent folders.
fn write_jpeg(path: &Path, img: &image::DynamicImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        file, 100,
    ))
    .unwrap();
}

/// Writes an 8-bit grey PNG label map, creating parent folders.
fn write_labels(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_fn(w, h, |x, y| Luma([f(x, y)]))
        .save(path)
        .unwrap();
}

/// `split/images/<stem>.jpg` and `split/labels/<stem>.png` of pair `seed` (8×6).
fn write_pair(split: &Path, stem: &str, seed: u8) {
    let img = RgbImage::from_fn(W, H, |x, y| Rgb(pixel(x, y, seed)));
    write_jpeg(
        &split.join("images").join(format!("{stem}.jpg")),
        &img.into(),
    );
    write_labels(
        &split.join("labels").join(format!("{stem}.png")),
        W,
        H,
        |x, y| label(x, y, seed),
    );
}

/// A CamVid folder `dir` with pairs `a`, `b`, `c` in train, `a`, `b` in val and `a` in test.
fn camvid_folder(dir: &Path) {
    for (split, n) in [("train", 3u8), ("val", 2), ("test", 1)] {
        for i in 0..n {
            let stem = ["a", "b", "c"][usize::from(i)];
            write_pair(&dir.join(split), stem, i);
        }
    }
}

/// The error of loading split `split` under `root`, which must fail; it is one line.
fn load_err(root: &Path, split: &str) -> String {
    let msg = err_msg(load_camvid(root, split));
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

/// A fixture folder in a new tempdir: (the tempdir, `<tmp>/camvid/train`).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    camvid_folder(&tmp.path().join(CAMVID));
    let train = tmp.path().join("camvid/train");
    (tmp, train)
}

#[test]
fn camvid_loads_from_the_data_root_or_its_own_folder_under_its_name() {
    let (tmp, _) = fixture();
    let nested = tmp.path().join(CAMVID);
    for root in [tmp.path(), nested.as_path()] {
        assert_eq!(camvid_dir(root), nested);
        for (split, n) in CAMVID_SPLITS.iter().zip([3, 2, 1]) {
            let s = load_camvid(root, split).unwrap();
            assert_eq!(s.name, CAMVID, "the name, never the path");
            assert_eq!(s.split, *split);
            assert_eq!(s.classnames, CAMVID_CLASSES);
            assert_eq!(s.void, CAMVID_VOID);
            let names: Vec<&str> = s.pairs.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["a", "b", "c"][..n]);
            for p in &s.pairs {
                assert_eq!((p.width, p.height), (W as usize, H as usize));
                assert!(p.image.ends_with(format!("{split}/images/{}.jpg", p.name)));
                assert!(p.labels.ends_with(format!("{split}/labels/{}.png", p.name)));
            }
        }
    }
    assert_eq!(CAMVID_CLASSES[0], "Sky");
    assert_eq!(CAMVID_CLASSES[10], "Bicyclist");
    assert_eq!(usize::from(CAMVID_VOID), CAMVID_CLASSES.len());
}

#[test]
fn a_pair_loads_its_rgb_pixels_and_labels_height_by_width() {
    let (tmp, _) = fixture();
    let split = load_camvid(tmp.path(), "train").unwrap();
    let pair: &LabelledImage = &split.pairs[2];
    let sample = pair.load().unwrap();
    assert_eq!(sample.image.dim(), (H as usize, W as usize, 3));
    assert_eq!(sample.labels.dim(), (H as usize, W as usize));
    let decoded = image::open(&pair.image).unwrap().to_rgb8();
    let mut worst = 0i32;
    for y in 0..H {
        for x in 0..W {
            let (r, c) = (y as usize, x as usize);
            assert_eq!(sample.labels[[r, c]], label(x, y, 2), "label at ({x}, {y})");
            for ch in 0..3 {
                let ours = sample.image[[r, c, ch]];
                assert_eq!(
                    ours,
                    decoded.get_pixel(x, y)[ch],
                    "the decoder's own pixels"
                );
                worst = worst.max((i32::from(ours) - i32::from(pixel(x, y, 2)[ch])).abs());
            }
        }
    }
    assert!(worst <= 8, "JPEG at quality 100 is {worst}/255 off");
    assert!(sample.labels.iter().any(|&l| l == CAMVID_VOID));
}

#[test]
fn grey_and_cmyk_jpeg_images_are_converted_to_rgb_not_refused() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("jpeg_modes_rgb.json")).unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train");
    for name in ["cmyk.jpg", "grey.jpg"] {
        // The fixtures are 8×8 grey (1 component) and CMYK (4 components) JPEGs.
        let stem = name.trim_end_matches(".jpg");
        std::fs::create_dir_all(train.join("images")).unwrap();
        std::fs::copy(fixtures.join(name), train.join("images").join(name)).unwrap();
        write_labels(&train.join(format!("labels/{stem}.png")), 8, 8, |x, _| {
            x as u8
        });
    }
    let split = load_camvid(tmp.path(), "train").unwrap();
    assert_eq!(split.pairs.len(), 2);
    for pair in &split.pairs {
        let sample = pair.load().unwrap();
        assert_eq!(sample.image.dim(), (8, 8, 3));
        let name = format!("{}.jpg", pair.name);
        let mut worst = 0i64;
        for (y, row) in expected[&name].as_array().unwrap().iter().enumerate() {
            for (x, px) in row.as_array().unwrap().iter().enumerate() {
                for (c, v) in px.as_array().unwrap().iter().enumerate() {
                    let ours = i64::from(sample.image[[y, x, c]]);
                    worst = worst.max((ours - v.as_i64().unwrap()).abs());
                }
            }
        }
        assert!(worst <= 2, "{name}: {worst}/255 from Pillow's RGB");
        if pair.name == "grey" {
            assert!(sample
                .image
                .lanes(ndarray::Axis(2))
                .into_iter()
                .all(|px| px[0] == px[1] && px[1] == px[2]));
        }
    }
}

#[test]
fn an_image_without_its_label_map_and_a_label_map_without_its_image_are_named() {
    let (tmp, train) = fixture();
    std::fs::remove_file(train.join("labels/b.png")).unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/images/b.jpg")
            && msg.contains("image has no label map")
            && msg.contains("train/labels/b.png"),
        "{msg}"
    );

    write_pair(&train, "b", 1);
    std::fs::remove_file(train.join("images/c.jpg")).unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/c.png") && msg.contains("label map has no image"),
        "{msg}"
    );
    // The other splits are untouched.
    assert_eq!(load_camvid(tmp.path(), "val").unwrap().pairs.len(), 2);
}

#[test]
fn a_label_map_of_another_size_than_its_image_is_named() {
    let (tmp, train) = fixture();
    write_labels(&train.join("labels/b.png"), W, H + 1, |_, _| 0);
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/b.png")
            && msg.contains("8x7")
            && msg.contains("train/images/b.jpg is 8x6"),
        "{msg}"
    );
}

#[test]
fn a_label_value_outside_0_to_11_is_named_with_its_pixel() {
    let (tmp, train) = fixture();
    write_labels(&train.join("labels/c.png"), W, H, |x, y| {
        if (x, y) == (5, 3) {
            12
        } else {
            label(x, y, 2)
        }
    });
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/c.png")
            && msg.contains("label value 12 at pixel (5, 3)")
            && msg.contains("outside 0..=11"),
        "{msg}"
    );
    write_labels(&train.join("labels/c.png"), W, H, |_, _| 255);
    let msg = load_err(tmp.path(), "train");
    assert!(msg.contains("label value 255 at pixel (0, 0)"), "{msg}");
}

#[test]
fn colour_and_lossy_label_maps_are_refused_by_name() {
    let (tmp, train) = fixture();
    // A colour-coded label map (as CamVid's `*_L.png`): channels differ.
    RgbImage::from_fn(W, H, |x, _| {
        if x < 4 {
            Rgb([128, 128, 128])
        } else {
            Rgb([128, 0, 0])
        }
    })
    .save(train.join("labels/b.png"))
    .unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/b.png")
            && msg.contains("label map is a colour image whose channels differ")
            && msg.contains("(4, 0)"),
        "{msg}"
    );

    // Grey stored as RGB (equal channels) is still a label map.
    image::DynamicImage::ImageLuma8(GrayImage::from_fn(W, H, |x, y| Luma([label(x, y, 1)])))
        .to_rgb8()
        .save(train.join("labels/b.png"))
        .unwrap();
    load_camvid(tmp.path(), "train").unwrap();

    // A JPEG label map, even under a .png name.
    std::fs::remove_file(train.join("labels/b.png")).unwrap();
    let grey = GrayImage::from_fn(W, H, |x, y| Luma([label(x, y, 1)]));
    write_jpeg(&train.join("labels/b.jpg"), &grey.clone().into());
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/b.jpg")
            && msg.contains("label map is stored as JPEG")
            && msg.contains("losslessly"),
        "{msg}"
    );
    std::fs::rename(train.join("labels/b.jpg"), train.join("labels/b.png")).unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/b.png") && msg.contains("stored as JPEG"),
        "{msg}"
    );

    // A lossy WebP container (`VP8 ` chunk), refused before its bitstream is decoded.
    std::fs::remove_file(train.join("labels/b.png")).unwrap();
    let vp8 = [0u8; 10];
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + 8 + vp8.len() as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8 ");
    webp.extend_from_slice(&(vp8.len() as u32).to_le_bytes());
    webp.extend_from_slice(&vp8);
    std::fs::write(train.join("labels/b.webp"), &webp).unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/labels/b.webp") && msg.contains("stored as lossy WebP"),
        "{msg}"
    );
}

#[test]
fn corrupt_images_and_label_maps_are_named() {
    let (tmp, train) = fixture();
    let good = std::fs::read(train.join("images/b.jpg")).unwrap();
    std::fs::write(train.join("images/b.jpg"), &good[..good.len() / 3]).unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(msg.contains("train/images/b.jpg"), "{msg}");

    std::fs::write(train.join("images/b.jpg"), &good).unwrap();
    std::fs::write(train.join("labels/c.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let msg = load_err(tmp.path(), "train");
    assert!(msg.contains("train/labels/c.png"), "{msg}");

    // A file corrupted after the check is named when its pair is loaded.
    write_pair(&train, "c", 2);
    let split = load_camvid(tmp.path(), "train").unwrap();
    std::fs::write(train.join("images/a.jpg"), b"not a jpeg").unwrap();
    let msg = err_msg(split.pairs[0].load());
    assert!(msg.contains("train/images/a.jpg"), "{msg}");
}

#[test]
fn unknown_splits_missing_folders_and_ambiguous_stems_are_errors() {
    let (tmp, train) = fixture();
    let msg = load_err(tmp.path(), "validation");
    assert!(
        msg.contains("`validation`") && msg.contains("train, val, test"),
        "{msg}"
    );

    std::fs::remove_dir_all(tmp.path().join("camvid/test/labels")).unwrap();
    let msg = load_err(tmp.path(), "test");
    assert!(msg.contains("camvid/test/labels does not exist"), "{msg}");

    let empty = tempfile::tempdir().unwrap();
    let msg = load_err(empty.path(), "train");
    assert!(msg.contains("camvid/train does not exist"), "{msg}");

    for f in ["a", "b", "c"] {
        std::fs::remove_file(train.join(format!("images/{f}.jpg"))).unwrap();
    }
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("train/images") && msg.contains("holds no images"),
        "{msg}"
    );

    write_pair(&train, "a", 0);
    write_labels(&train.join("labels/a.tif"), W, H, |_, _| 0);
    let msg = load_err(tmp.path(), "train");
    assert!(
        msg.contains("labels/a.tif") && msg.contains("labels/a.png") && msg.contains("ambiguous"),
        "{msg}"
    );
}
