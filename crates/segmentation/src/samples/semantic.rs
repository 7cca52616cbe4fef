//! Prompt-free (SAMed) samples: a crop and its semantic mask, every labelled pixel of the crop (the
//! union of its instance masks, whole or cut by the crop's border). Training crops see only the
//! left half of an image and test tiles only the right half: pixels across the middle are blank
//! (image and target zero), so no pixel is both trained on and scored, not even those of the
//! instances that the box mode drops for straddling the middle.

use std::ops::Range;

use anyhow::{bail, Result};
use tch::Tensor;

use super::{pixels, step_rng, tile_starts, Sample, SegData, Window};
use crate::config::Normalize;

impl SegData {
    /// The semantic sample of window `win` of image `index`, blank outside image columns `cols`.
    fn semantic(&self, index: usize, win: Window, cols: Range<usize>, norm: Normalize) -> Sample {
        let (img, _, scale) = &self.images[index];
        let s = win.size;
        let mut grey = vec![0f32; s * s];
        let mut mask = vec![0f32; s * s];
        for v in 0..s {
            for u in 0..s {
                let Some((x, y)) = win.source_xy(u, v, img.width, img.height) else {
                    continue;
                };
                if !cols.contains(&x) {
                    continue;
                }
                let src = y * img.width + x;
                grey[v * s + u] = img.pixels[src] / scale;
                if img.labels[src] != 0 {
                    mask[v * s + u] = 1.0;
                }
            }
        }
        let si = s as i64;
        Sample {
            pixels: pixels(&grey, norm),
            boxes: None,
            masks: Tensor::from_slice(&mask).view([1, si, si]),
            grey,
        }
    }

    /// The prompt-free training crop of step `step`: a random window of `size` over the left half
    /// of a random image (drawn from `(seed, step)`), random flips.
    pub fn semantic_train_sample(
        &self,
        seed: u64,
        step: usize,
        size: usize,
        norm: Normalize,
    ) -> Sample {
        let (index, win) = self.random_window(&mut step_rng(seed, step), size);
        let middle = self.images[index].1.middle;
        self.semantic(index, win, 0..middle, norm)
    }

    /// Prompt-free test tiles: windows of `size` at stride `size / 2` over the right half of every
    /// image (the grid of [`SegData::test_samples`]), each kept when it holds a labelled pixel (the
    /// Dice of an empty target is undefined).
    pub fn semantic_test_samples(&self, size: usize, norm: Normalize) -> Result<Vec<Sample>> {
        let mut out = Vec::new();
        for (index, (img, split, _)) in self.images.iter().enumerate() {
            for y0 in tile_starts(0, img.height, size) {
                for x0 in tile_starts(split.middle, img.width, size) {
                    let win = Window {
                        x0,
                        y0,
                        size,
                        flip_x: false,
                        flip_y: false,
                    };
                    let tile = self.semantic(index, win, split.middle..img.width, norm);
                    if tile.masks.max().double_value(&[]) > 0.0 {
                        out.push(tile);
                    }
                }
            }
        }
        if out.is_empty() {
            bail!("no test tile of {size} px in the right halves holds a labelled pixel");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use data::InstanceImage;

    use super::*;

    /// A 16×16 image (all pixels 100) with instance 3 at x 9–10, y 1–2 and instance 5 at x 12–13,
    /// y 2–3 on the right half, instance 7 across the middle (x 6–9, y 6) and instance 2 on the
    /// left (x 1–2, y 9).
    fn data() -> SegData {
        let mut labels = vec![0u32; 256];
        let mut paint = |label, xs: Range<usize>, ys: Range<usize>| {
            for y in ys {
                for x in xs.clone() {
                    labels[y * 16 + x] = label;
                }
            }
        };
        paint(3, 9..11, 1..3);
        paint(5, 12..14, 2..4);
        paint(7, 6..10, 6..7);
        paint(2, 1..3, 9..10);
        let img = InstanceImage {
            name: "img".into(),
            width: 16,
            height: 16,
            pixels: vec![100.0; 256],
            labels,
        };
        let split = img.split_halves();
        SegData {
            images: vec![(img, split, 255.0)],
        }
    }

    /// The `(x, y)` of every foreground pixel of a `[1, S, S]` mask.
    fn foreground(mask: &Tensor) -> Vec<(usize, usize)> {
        let s = mask.size()[2] as usize;
        let v = Vec::<f32>::try_from(mask.flatten(0, -1)).unwrap();
        (0..s * s)
            .filter(|&i| v[i] > 0.5)
            .map(|i| (i % s, i / s))
            .collect()
    }

    #[test]
    fn the_semantic_target_is_the_union_of_the_instances_on_the_tiles_side() {
        let d = data();
        let tiles = d.semantic_test_samples(8, Normalize::Unit).unwrap();
        // x0 8; y0 0, 4, 8: the tile at y0 8 holds only instance 2, on the left, so it is left out.
        assert_eq!(tiles.len(), 2);
        assert!(tiles.iter().all(|t| t.boxes.is_none()));
        // Tile (8, 0): instances 3 and 5 whole, and the right part of 7 (x 8–9), in tile pixels.
        let mut want = vec![
            (1, 1),
            (2, 1),
            (1, 2),
            (2, 2),
            (4, 2),
            (5, 2),
            (4, 3),
            (5, 3),
        ];
        want.extend([(0, 6), (1, 6)]);
        want.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(foreground(&tiles[0].masks), want);
        // Tile (8, 4): the right part of 7 alone.
        assert_eq!(foreground(&tiles[1].masks), [(0, 2), (1, 2)]);
    }

    #[test]
    fn training_crops_see_only_the_left_half() {
        let d = data();
        for step in 0..4 {
            // The 16 px window covers the whole image; only its left 8 columns are shown.
            let s = d.semantic_train_sample(1, step, 16, Normalize::Unit);
            assert!(s.boxes.is_none());
            assert_eq!(s.grey.iter().filter(|&&g| g > 0.0).count(), 16 * 8);
            // Instance 2 (2 pixels) and the left part of 7 (x 6–7: 2 pixels).
            assert_eq!(foreground(&s.masks).len(), 4, "step {step}");
            assert_eq!(s.masks.size(), [1, 16, 16]);
        }
    }
}
