//! Preprocessing numerics on synthetic images: normalisation, resize + centre crop, gray to RGB.

use data::{Backbone, Normalization, Preprocess};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};

const TOL: f32 = 1e-5;

#[test]
fn constant_image_normalises_to_known_values_for_both_backbones() {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 30, Rgb([128, 64, 255])));
    for (backbone, norm) in [
        (Backbone::Clip, Normalization::CLIP),
        (Backbone::Dinov2, Normalization::IMAGENET),
    ] {
        let pre = Preprocess::new(backbone, 16).unwrap();
        let out = pre.eval(&img);
        assert_eq!(out.dim(), (3, 16, 16));
        for (c, raw) in [128.0f32, 64.0, 255.0].into_iter().enumerate() {
            let want = (raw / 255.0 - norm.mean[c]) / norm.std[c];
            for &v in out.index_axis(ndarray::Axis(0), c) {
                assert!(
                    (v - want).abs() < TOL,
                    "{backbone:?} channel {c}: {v} vs {want}"
                );
            }
        }
    }
    assert_eq!(
        Normalization::CLIP.mean,
        [0.481_454_66, 0.457_827_5, 0.408_210_73]
    );
    assert_eq!(Normalization::IMAGENET.std, [0.229, 0.224, 0.225]);
}

#[test]
fn shorter_side_is_resized_and_the_centre_is_cropped() {
    // 80×20: white bands in the outer 20 columns, black in the middle 40. Resized to 40×10 and
    // centre-cropped to 10×10 (source columns 30..50), only black may remain.
    let img = GrayImage::from_fn(80, 20, |x, _| {
        Luma([if (20..60).contains(&x) { 0 } else { 255 }])
    });
    let pre = Preprocess::new(Backbone::Dinov2, 10).unwrap();
    let out = pre.eval(&DynamicImage::ImageLuma8(img));
    assert_eq!(out.dim(), (3, 10, 10));
    let norm = Normalization::IMAGENET;
    for ((c, _, _), &v) in out.indexed_iter() {
        let black = -norm.mean[c] / norm.std[c];
        assert!((v - black).abs() < TOL, "channel {c}: {v} is not black");
    }
    // Portrait input: output is still square.
    let tall = DynamicImage::ImageRgb8(RgbImage::new(30, 61));
    assert_eq!(pre.eval(&tall).dim(), (3, 10, 10));
}

#[test]
fn grayscale_is_replicated_to_three_equal_channels() {
    let img =
        DynamicImage::ImageLuma8(GrayImage::from_fn(28, 28, |x, y| Luma([(x * 9 + y) as u8])));
    let pre = Preprocess::new(Backbone::Clip, 56).unwrap();
    let norm = Normalization::CLIP;
    let out = pre.eval(&img);
    assert_eq!(out.dim(), (3, 56, 56));
    let mut varied = false;
    for y in 0..56 {
        for x in 0..56 {
            let raw: Vec<f32> = (0..3)
                .map(|c| out[[c, y, x]] * norm.std[c] + norm.mean[c])
                .collect();
            assert!((raw[0] - raw[1]).abs() < TOL && (raw[1] - raw[2]).abs() < TOL);
            varied |= (raw[0] - (out[[0, 0, 0]] * norm.std[0] + norm.mean[0])).abs() > 0.1;
        }
    }
    assert!(varied, "the gradient must survive the upsampling");
}

#[test]
fn invalid_parameters_are_rejected() {
    let msg = Preprocess::new(Backbone::Clip, 0).unwrap_err().to_string();
    assert!(msg.contains("size"), "{msg}");
    let aug = data::Augment {
        scale: (0.5, 0.1),
        ..Default::default()
    };
    let msg = Preprocess::custom(32, Normalization::CLIP, aug)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("augment.scale"), "{msg}");
}
