//! From instance images to model inputs: square crops of the model's input size at native
//! resolution (zero-padded where the image is smaller), box prompts of the instances that lie wholly
//! inside a crop, and their target masks. Training crops come from the left half of each image
//! (random position and flips, drawn from `(seed, step)` so a resumed run sees the same crops);
//! test tiles overlap by half and cover the right half, each test instance scored once. The
//! prompt-free (semantic) samples are in `semantic`.

use anyhow::{bail, Result};
use data::{Instance, InstanceImage, RegionSplit};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::config::Normalize;

mod semantic;

/// One model input: an image crop and the instances prompted in it, or its semantic mask.
#[derive(Debug)]
pub struct Sample {
    /// `[1, 3, S, S]`, scaled as configured.
    pub pixels: Tensor,
    /// `[1, P, 4]` boxes `(x0, y0, x1, y1)` in crop pixels (inclusive corners); `None` for a
    /// prompt-free sample.
    pub boxes: Option<Tensor>,
    /// `[P, S, S]` binary target masks, one per box; a prompt-free sample's `[1, S, S]` semantic
    /// mask (every labelled pixel).
    pub masks: Tensor,
    /// The grey crop in `[0, 1]`, for figures.
    pub grey: Vec<f32>,
}

impl Sample {
    /// The sample with its tensors on `device` (data is decoded on the CPU and moved once).
    pub fn to_device(self, device: tch::Device) -> Self {
        Self {
            pixels: self.pixels.to_device(device),
            boxes: self.boxes.map(|b| b.to_device(device)),
            masks: self.masks.to_device(device),
            grey: self.grey,
        }
    }
}

/// The loaded data set with its half split.
#[derive(Debug)]
pub struct SegData {
    images: Vec<(InstanceImage, RegionSplit, f32)>,
}

/// A square window `[x0, x0 + size) × [y0, y0 + size)` of an image, optionally flipped.
#[derive(Debug, Clone, Copy)]
struct Window {
    x0: usize,
    y0: usize,
    size: usize,
    flip_x: bool,
    flip_y: bool,
}

impl Window {
    fn contains(&self, inst: &Instance) -> bool {
        let [x0, y0, x1, y1] = inst.bbox;
        x0 >= self.x0 && y0 >= self.y0 && x1 < self.x0 + self.size && y1 < self.y0 + self.size
    }

    /// Source pixel of crop pixel `(u, v)`, if inside the image.
    fn source(&self, u: usize, v: usize, w: usize, h: usize) -> Option<usize> {
        self.source_xy(u, v, w, h).map(|(x, y)| y * w + x)
    }

    /// Source pixel `(x, y)` of crop pixel `(u, v)`, if inside the image.
    fn source_xy(&self, u: usize, v: usize, w: usize, h: usize) -> Option<(usize, usize)> {
        let u = if self.flip_x { self.size - 1 - u } else { u };
        let v = if self.flip_y { self.size - 1 - v } else { v };
        let (x, y) = (self.x0 + u, self.y0 + v);
        (x < w && y < h).then_some((x, y))
    }

    /// An image box in crop pixels (signed arithmetic: a bad box stays bad rather than wrapping).
    fn map_box(&self, b: [usize; 4]) -> [f64; 4] {
        let s = (self.size - 1) as f64;
        let [bx0, by0, bx1, by1] = b.map(|v| v as f64);
        let (wx, wy) = (self.x0 as f64, self.y0 as f64);
        let (mut x0, mut y0, mut x1, mut y1) = (bx0 - wx, by0 - wy, bx1 - wx, by1 - wy);
        if self.flip_x {
            (x0, x1) = (s - x1, s - x0);
        }
        if self.flip_y {
            (y0, y1) = (s - y1, s - y0);
        }
        [x0, y0, x1, y1]
    }
}

impl SegData {
    /// `stardist` (the packaged nuclei image) or `folder:<path>` (`images/` + `masks/`; a
    /// relative path is taken from `root`, the repository root). With `validation`, a selection
    /// run's split: each image is cut to its training (left) half, whose last `validation` share
    /// of columns becomes the "test" side; the test half is never seen.
    pub fn load(dataset: &str, root: &std::path::Path, validation: Option<f64>) -> Result<Self> {
        let images = match dataset.strip_prefix("folder:") {
            Some(path) => data::load_instance_folder(&formats::paths::resolve(
                std::path::Path::new(path),
                root,
            ))?,
            None if dataset == "stardist" => {
                vec![data::stardist_nuclei(&data::default_assets_dir())?]
            }
            None => bail!("dataset `{dataset}` is not `stardist` or `folder:<path>`"),
        };
        let images: Vec<_> = images
            .into_iter()
            .map(|img| -> Result<_> {
                let (img, split) = match validation {
                    Some(share) => {
                        let left = img.left_columns(img.width / 2);
                        let middle = (left.width as f64 * (1.0 - share)).round() as usize;
                        let split = left.split_at(middle);
                        (left, split)
                    }
                    None => {
                        let split = img.split_halves();
                        (img, split)
                    }
                };
                for inst in split.train.iter().chain(&split.test) {
                    inst.check_box(&img.name, img.width, img.height)?;
                }
                let scale = grey_scale(&img.pixels);
                Ok((img, split, scale))
            })
            .collect::<Result<_>>()?;
        let (train, test): (usize, usize) = images.iter().fold((0, 0), |(a, b), (_, s, _)| {
            (a + s.train.len(), b + s.test.len())
        });
        if train == 0 || test == 0 {
            bail!("{dataset}: {train} training and {test} test instances after the half split; need both");
        }
        Ok(Self { images })
    }

    /// `(train, test, dropped)` instance counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.images.iter().fold((0, 0, 0), |(a, b, c), (_, s, _)| {
            (a + s.train.len(), b + s.test.len(), c + s.dropped.len())
        })
    }

    /// The sample of `insts` in window `win` of image `index`; each box is checked
    /// ([`data::check_box`] in crop pixels) before it becomes a tensor.
    fn sample(
        &self,
        index: usize,
        win: Window,
        insts: &[&Instance],
        norm: Normalize,
    ) -> Result<Sample> {
        let (img, _, scale) = &self.images[index];
        let s = win.size;
        let boxes = crop_boxes(&img.name, win, insts)?;
        let mut grey = vec![0f32; s * s];
        let mut masks = vec![0f32; insts.len() * s * s];
        for v in 0..s {
            for u in 0..s {
                let Some(src) = win.source(u, v, img.width, img.height) else {
                    continue;
                };
                grey[v * s + u] = img.pixels[src] / scale;
                for (k, inst) in insts.iter().enumerate() {
                    if img.labels[src] == inst.label {
                        masks[(k * s + v) * s + u] = 1.0;
                    }
                }
            }
        }
        let n = insts.len() as i64;
        let si = s as i64;
        Ok(Sample {
            pixels: pixels(&grey, norm),
            boxes: Some(Tensor::from_slice(&boxes).view([1, n, 4])),
            masks: Tensor::from_slice(&masks).view([n, si, si]),
            grey,
        })
    }

    /// A random window of `size` over the training (left) half of a random image, with random
    /// flips: the image's index and the window.
    fn random_window(&self, rng: &mut ChaCha8Rng, size: usize) -> (usize, Window) {
        let index = rng.gen_range(0..self.images.len());
        let (img, split, _) = &self.images[index];
        let mut span = |extent: usize| rng.gen_range(0..=extent.saturating_sub(size));
        let win = Window {
            x0: span(split.middle),
            y0: span(img.height),
            size,
            flip_x: rng.gen(),
            flip_y: rng.gen(),
        };
        (index, win)
    }

    /// The training crop of step `step`: a random window of the left half holding at least one
    /// training instance, random flips, at most `max_boxes` of its instances.
    pub fn train_sample(
        &self,
        seed: u64,
        step: usize,
        size: usize,
        max_boxes: usize,
        norm: Normalize,
    ) -> Result<Sample> {
        let mut rng = step_rng(seed, step);
        for _ in 0..1000 {
            let (index, win) = self.random_window(&mut rng, size);
            let (_, split, _) = &self.images[index];
            let mut insts: Vec<&Instance> =
                split.train.iter().filter(|i| win.contains(i)).collect();
            if insts.is_empty() {
                continue;
            }
            insts.shuffle(&mut rng);
            insts.truncate(max_boxes);
            return self.sample(index, win, &insts, norm);
        }
        bail!("no training crop of {size} px holds a whole training instance")
    }

    /// Test tiles (windows of `size` at stride `size / 2` over the right half), each with the
    /// test instances first wholly inside it; every test instance that fits a tile is scored once.
    /// Errors name the instance, its image and the box when a box is not finite, inverted or
    /// outside its tile.
    pub fn test_samples(&self, size: usize, norm: Normalize) -> Result<Vec<Sample>> {
        let starts = |from, to| tile_starts(from, to, size);
        let mut out = Vec::new();
        for (index, (img, split, _)) in self.images.iter().enumerate() {
            let mut left: Vec<&Instance> = split.test.iter().collect();
            for y0 in starts(0, img.height) {
                for x0 in starts(split.middle, img.width) {
                    let win = Window {
                        x0,
                        y0,
                        size,
                        flip_x: false,
                        flip_y: false,
                    };
                    let (inside, rest): (Vec<&Instance>, Vec<&Instance>) =
                        left.into_iter().partition(|i| win.contains(i));
                    left = rest;
                    if !inside.is_empty() {
                        out.push(self.sample(index, win, &inside, norm)?);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// What an image's stored values are divided by to give grey values in `[0, 1]`: the larger of
/// its maximum and 255 (8-bit images keep their scale, 16-bit ones are brought into range).
pub(crate) fn grey_scale(pixels: &[f32]) -> f32 {
    pixels.iter().cloned().fold(0.0f32, f32::max).max(255.0)
}

/// The generator of step `step`'s training crops: a resumed run draws the same ones.
pub(crate) fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64)
}

/// Starts of windows of `size` at stride `size / 2` over `[from, to)`, the last flush with `to`
/// (one window at `from` when the span is narrower than `size`).
pub(crate) fn tile_starts(from: usize, to: usize, size: usize) -> Vec<usize> {
    let last = to.saturating_sub(size).max(from);
    let mut v: Vec<usize> = (from..last + 1).step_by((size / 2).max(1)).collect();
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

/// The encoder input `[1, 3, S, S]` of a square grey crop in `[0, 1]`: grey repeated to RGB, then
/// scaled as `norm` says.
pub(crate) fn pixels(grey: &[f32], norm: Normalize) -> Tensor {
    let s = (grey.len() as f64).sqrt() as i64;
    let g = Tensor::from_slice(grey)
        .view([1, 1, s, s])
        .expand([1, 3, s, s], false);
    scaled(g, norm)
}

/// RGB pixels `[N, 3, H, W]` in `[0, 1]` scaled as `norm` says.
pub(crate) fn scaled(rgb: Tensor, norm: Normalize) -> Tensor {
    match norm {
        Normalize::Unit => rgb.contiguous(),
        Normalize::Imagenet => {
            let mean = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]);
            let std = Tensor::from_slice(&[0.229f32, 0.224, 0.225]).view([1, 3, 1, 1]);
            (rgb - mean) / std
        }
    }
}

/// The boxes of `insts` in the pixels of window `win` of image `image`, flattened `(x0, y0, x1,
/// y1)` per instance, each checked with [`data::check_box`] against the `size × size` crop: the
/// boundary where a box becomes a prompt tensor. Errors name the instance, the image, its box in
/// the image and in the crop.
fn crop_boxes(image: &str, win: Window, insts: &[&Instance]) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(4 * insts.len());
    for inst in insts {
        let b = win.map_box(inst.bbox);
        data::check_box(
            &format!(
                "instance {} of {image} (box {:?} in the image, crop of {} px at ({}, {}))",
                inst.label, inst.bbox, win.size, win.x0, win.y0
            ),
            b,
            win.size,
            win.size,
        )?;
        out.extend(b.map(|v| v as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16×16 image `img` holding one instance (label 3) on each half, with the given boxes
    /// (not computed from the labels, so that they can be wrong).
    fn data(train_box: [usize; 4], test_box: [usize; 4]) -> SegData {
        let img = InstanceImage {
            name: "img".into(),
            width: 16,
            height: 16,
            pixels: vec![100.0; 256],
            labels: vec![0; 256],
        };
        let inst = |bbox: [usize; 4]| Instance {
            label: 3,
            bbox,
            centroid: (0.0, 0.0),
            area: 1,
        };
        let split = RegionSplit {
            train: vec![inst(train_box)],
            test: vec![inst(test_box)],
            dropped: vec![],
            middle: 8,
        };
        SegData {
            images: vec![(img, split, 255.0)],
        }
    }

    #[test]
    fn valid_boxes_become_crop_boxes() {
        let d = data([1, 2, 1, 5], [9, 1, 12, 3]);
        let tiles = d.test_samples(8, Normalize::Unit).unwrap();
        assert_eq!(tiles.len(), 1);
        let boxes = tiles[0].boxes.as_ref().unwrap();
        let b = Vec::<f32>::try_from(boxes.flatten(0, -1)).unwrap();
        assert_eq!(b, [1.0, 1.0, 4.0, 3.0]);
        let s = d.train_sample(0, 0, 8, 4, Normalize::Unit).unwrap();
        assert_eq!(s.boxes.unwrap().size(), [1, 1, 4]);
    }

    #[test]
    fn inverted_boxes_are_refused_before_they_become_tensors() {
        // Test tile at x 8..16: the box maps to x0 5 > x1 2.
        let d = data([1, 2, 1, 5], [13, 2, 10, 5]);
        let e = format!("{:#}", d.test_samples(8, Normalize::Unit).unwrap_err());
        assert!(
            e.contains("instance 3 of img")
                && e.contains("[13, 2, 10, 5] in the image")
                && e.contains("crop of 8 px at (8, 0)"),
            "{e}"
        );
        assert!(
            e.contains("[5.0, 2.0, 2.0, 5.0]") && e.contains("inverted: x0 5 > x1 2"),
            "{e}"
        );

        let d = data([3, 5, 1, 2], [9, 1, 12, 3]);
        let e = format!(
            "{:#}",
            d.train_sample(0, 0, 8, 4, Normalize::Unit).unwrap_err()
        );
        assert!(
            e.contains("instance 3 of img") && e.contains("inverted"),
            "{e}"
        );
    }
}
