//! Every on-disk layout on tiny synthetic folders, and each bad-input error message.

mod common;

use std::path::Path;

use common::{err_msg, write_png};
use data::{eval_batches, load_image_folder, Backbone, ClipDataset, ImageSource, Preprocess};
use serde_json::json;

/// `root/{train,test}/{cat,dog}/*.png` (3 + 2 train, 1 + 1 test).
fn image_folder(root: &Path) {
    for (split, class, n) in [
        ("train", "cat", 3),
        ("train", "dog", 2),
        ("test", "cat", 1),
        ("test", "dog", 1),
    ] {
        for i in 0..n {
            write_png(
                &root.join(split).join(class).join(format!("{i}.png")),
                20,
                16,
                i,
            );
        }
    }
    std::fs::write(root.join("train/cat/notes.txt"), "not an image").unwrap();
}

#[test]
fn image_folder_layout_loads_and_batches() {
    let tmp = tempfile::tempdir().unwrap();
    image_folder(tmp.path());
    let ds = load_image_folder(tmp.path()).unwrap();
    assert_eq!(ds.classnames, ["cat", "dog"]);
    let labels: Vec<usize> = ds.train.iter().map(|i| i.label).collect();
    assert_eq!(labels, [0, 0, 0, 1, 1], "notes.txt is skipped");
    assert_eq!(ds.test.len(), 2);
    let pre = Preprocess::new(Backbone::Clip, 8).unwrap();
    let batches: Vec<_> = eval_batches(&ds.train, 2, &pre)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].images.dim(), (2, 3, 8, 8));
    assert_eq!(batches[2].labels, [1]);
}

#[test]
fn image_folder_errors_name_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    assert!(err_msg(load_image_folder(&missing)).contains("nope does not exist"));

    image_folder(tmp.path());
    std::fs::create_dir_all(tmp.path().join("test/bird")).unwrap();
    let msg = err_msg(load_image_folder(tmp.path()));
    assert!(
        msg.contains("test/bird") && msg.contains("no counterpart"),
        "{msg}"
    );

    std::fs::create_dir_all(tmp.path().join("train/bird")).unwrap();
    let msg = err_msg(load_image_folder(tmp.path()));
    assert!(msg.contains("train/bird holds no images"), "{msg}");
}

#[test]
fn corrupt_image_is_named_when_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let msg = err_msg(ImageSource::File(bad).load());
    assert!(
        msg.contains("cannot decode image") && msg.contains("broken.png"),
        "{msg}"
    );
    let msg = err_msg(ImageSource::File(tmp.path().join("gone.jpg")).load());
    assert!(msg.contains("gone.jpg"), "{msg}");
}

/// `root/oxford_pets` with `split_zhou_OxfordPets.json` written from `split` and 4 images.
fn pets(root: &Path, split: &serde_json::Value) {
    let dir = root.join("oxford_pets");
    for name in ["a.jpg", "b.jpg", "c.jpg", "d.jpg"] {
        write_png(&dir.join("images").join(name), 10, 10, 1);
    }
    std::fs::write(dir.join("split_zhou_OxfordPets.json"), split.to_string()).unwrap();
}

#[test]
fn coop_layout_loads_train_and_test() {
    let tmp = tempfile::tempdir().unwrap();
    pets(
        tmp.path(),
        &json!({
            "train": [["a.jpg", 0, "abyssinian"], ["b.jpg", 1, "beagle"]],
            "val": [["c.jpg", 1, "beagle"]],
            "test": [["d.jpg", 0, "abyssinian"]]
        }),
    );
    let ds = ClipDataset::OxfordPets.load(tmp.path()).unwrap();
    assert_eq!(ds.name, "oxford_pets");
    assert_eq!(ds.classnames, ["abyssinian", "beagle"]);
    assert_eq!(ds.train.len(), 2);
    assert_eq!(ds.test.len(), 1);
    match &ds.train[1].source {
        ImageSource::File(p) => assert!(p.ends_with("oxford_pets/images/b.jpg")),
        other => panic!("{other:?}"),
    }
    ds.train[1].source.load().unwrap();
    assert_eq!(
        ClipDataset::from_name("Oxford_Pets"),
        Some(ClipDataset::OxfordPets)
    );
    assert_eq!(
        ClipDataset::from_name("food-101"),
        Some(ClipDataset::Food101)
    );
    assert_eq!(
        ClipDataset::from_name("euro_sat"),
        Some(ClipDataset::EuroSat)
    );
    assert_eq!(
        ClipDataset::ALL
            .iter()
            .filter(|d| d.coop_split().is_some())
            .count(),
        9
    );
}

#[test]
fn coop_layout_errors_name_file_and_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = err_msg(ClipDataset::Dtd.load(&tmp.path().join("absent")));
    assert!(msg.contains("absent does not exist"), "{msg}");
    std::fs::create_dir_all(tmp.path().join("dtd")).unwrap();
    let msg = err_msg(ClipDataset::Dtd.load(tmp.path()));
    assert!(
        msg.contains("split file") && msg.contains("split_zhou_DescribableTextures.json"),
        "{msg}"
    );

    let cases = [
        (
            json!({"train": [["a.jpg", 0, "x"], ["b.jpg", 3, "y"]], "test": []}),
            "entry train[1] (b.jpg) has label 3, outside 0..2",
        ),
        (
            json!({"train": [["a.jpg", 0, "x"]], "test": [["b.jpg", 0, "y"]]}),
            "entry test[0] gives label 0 the class name \"y\", but it is \"x\" elsewhere",
        ),
        (
            json!({"train": [["a.jpg", "zero", "x"]], "test": []}),
            "train[0]: expected [image path, label, class name]",
        ),
        (json!({"train": []}), "missing \"test\" list"),
    ];
    for (split, want) in cases {
        pets(tmp.path(), &split);
        let msg = err_msg(ClipDataset::OxfordPets.load(tmp.path()));
        assert!(
            msg.contains(want) && msg.contains("split_zhou_OxfordPets.json"),
            "{msg}"
        );
    }
    std::fs::write(
        tmp.path().join("oxford_pets/split_zhou_OxfordPets.json"),
        "{not json",
    )
    .unwrap();
    assert!(err_msg(ClipDataset::OxfordPets.load(tmp.path())).contains("invalid JSON"));
}

#[test]
fn fgvc_aircraft_text_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fgvc_aircraft");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("variants.txt"), "707-320\nA300B4\n").unwrap();
    std::fs::write(
        dir.join("images_variant_train.txt"),
        "0001 A300B4\n0002 707-320\n",
    )
    .unwrap();
    std::fs::write(dir.join("images_variant_test.txt"), "0003 A300B4\n").unwrap();
    let ds = ClipDataset::FgvcAircraft.load(tmp.path()).unwrap();
    assert_eq!(ds.classnames, ["707-320", "A300B4"]);
    assert_eq!(ds.train.iter().map(|i| i.label).collect::<Vec<_>>(), [1, 0]);
    match &ds.test[0].source {
        ImageSource::File(p) => assert!(p.ends_with("fgvc_aircraft/images/0003.jpg")),
        other => panic!("{other:?}"),
    }
    std::fs::write(dir.join("images_variant_test.txt"), "0003 A380\n").unwrap();
    let msg = err_msg(ClipDataset::FgvcAircraft.load(tmp.path()));
    assert!(
        msg.contains("images_variant_test.txt") && msg.contains("line 1") && msg.contains("A380"),
        "{msg}"
    );
}

#[test]
fn imagenet_folder_layout_with_classnames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imagenet");
    for (split, wnid) in [
        ("train", "n02"),
        ("train", "n01"),
        ("val", "n01"),
        ("val", "n02"),
    ] {
        write_png(
            &dir.join("images").join(split).join(wnid).join("x.JPEG"),
            9,
            9,
            0,
        );
    }
    std::fs::write(dir.join("classnames.txt"), "n01 tench\nn02 goldfish\n").unwrap();
    let ds = ClipDataset::ImageNet.load(tmp.path()).unwrap();
    assert_eq!(ds.classnames, ["tench", "goldfish"]);
    assert_eq!(ds.test.iter().map(|i| i.label).collect::<Vec<_>>(), [0, 1]);
    std::fs::write(dir.join("classnames.txt"), "n01 tench\n").unwrap();
    let msg = err_msg(ClipDataset::ImageNet.load(tmp.path()));
    assert!(
        msg.contains("classnames.txt") && msg.contains("no class name for folder n02"),
        "{msg}"
    );
}
