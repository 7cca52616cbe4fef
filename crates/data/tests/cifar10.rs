//! The named CIFAR-10 reader on tiny fixture folders: both places it is looked for, its errors
//! (missing, extra or empty class folders, a corrupt image), and JPEG colour modes decoded to RGB
//! as Pillow (torchvision's loader) decodes them.

mod common;

use std::path::Path;

use common::{err_msg, write_png};
use data::{cifar10_dir, load_cifar10, ImageSource, CIFAR10, CIFAR10_CLASSES};

/// `dir/{train,test}/<class>/0.png` for every CIFAR-10 class (two train images, one test image).
fn cifar_folder(dir: &Path) {
    for (c, class) in CIFAR10_CLASSES.iter().enumerate() {
        for (split, n) in [("train", 2), ("test", 1)] {
            for i in 0..n {
                let path = dir.join(split).join(class).join(format!("{i}.png"));
                write_png(&path, 4, 4, (c * 3 + i) as u8);
            }
        }
    }
}

#[test]
fn cifar10_loads_from_the_data_root_or_its_own_folder_under_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = tmp.path().join("cifar10");
    cifar_folder(&nested);
    for root in [tmp.path(), nested.as_path()] {
        assert_eq!(cifar10_dir(root), nested);
        let ds = load_cifar10(root).unwrap();
        assert_eq!(ds.name, CIFAR10, "the name, never the path");
        assert_eq!(ds.classnames, CIFAR10_CLASSES);
        assert_eq!((ds.train.len(), ds.test.len()), (20, 10));
        assert_eq!(ds.train[19].label, 9);
        assert_eq!(ds.test[3].label, 3);
    }
}

#[test]
fn cifar10_layout_errors_name_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = err_msg(load_cifar10(tmp.path()));
    assert!(msg.contains("cifar10 does not exist"), "{msg}");

    let dir = tmp.path().join("cifar10");
    cifar_folder(&dir);
    std::fs::remove_dir_all(dir.join("test/frog")).unwrap();
    let msg = err_msg(load_cifar10(tmp.path()));
    assert!(
        msg.contains("test/frog") && msg.contains("CIFAR-10 class folder is missing"),
        "{msg}"
    );

    cifar_folder(&dir);
    write_png(&dir.join("train/unicorn/0.png"), 4, 4, 1);
    let msg = err_msg(load_cifar10(tmp.path()));
    assert!(
        msg.contains("train/unicorn") && msg.contains("not a CIFAR-10 class folder"),
        "{msg}"
    );
    std::fs::remove_dir_all(dir.join("train/unicorn")).unwrap();

    std::fs::remove_file(dir.join("train/cat/0.png")).unwrap();
    std::fs::remove_file(dir.join("train/cat/1.png")).unwrap();
    let msg = err_msg(load_cifar10(tmp.path()));
    assert!(msg.contains("train/cat holds no images"), "{msg}");
}

#[test]
fn a_corrupt_cifar10_image_is_named_when_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    cifar_folder(tmp.path());
    let bad = tmp.path().join("test/ship/0.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    let ds = load_cifar10(tmp.path()).unwrap();
    let item = ds.test.iter().find(|i| i.label == 8).unwrap();
    let msg = err_msg(item.source.load());
    assert!(msg.contains("test/ship/0.png"), "{msg}");
}

#[test]
fn grey_and_cmyk_jpegs_decode_to_pillows_rgb() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("jpeg_modes_rgb.json")).unwrap(),
    )
    .unwrap();
    for name in ["cmyk.jpg", "grey.jpg"] {
        let rgb = ImageSource::File(fixtures.join(name))
            .load()
            .unwrap()
            .to_rgb8();
        let mut worst = 0i64;
        for (y, row) in expected[name].as_array().unwrap().iter().enumerate() {
            for (x, px) in row.as_array().unwrap().iter().enumerate() {
                for (c, v) in px.as_array().unwrap().iter().enumerate() {
                    let ours = i64::from(rgb.get_pixel(x as u32, y as u32)[c]);
                    worst = worst.max((ours - v.as_i64().unwrap()).abs());
                }
            }
        }
        println!("{name}: largest difference from Pillow {worst}/255");
        assert!(worst <= 2, "{name}: {worst}/255 from Pillow's RGB");
    }
}
