//! The drawing every segmentation picture shares: labels blended over a grey image in distinct
//! colours ([`overlay`], [`compose`]), panels laid out in a grid under their titles with an optional
//! colour legend ([`titled_grid`], written in DejaVu Sans embedded from `crates/analysis/assets`,
//! Bitstream Vera licence there), and PNG files written atomically ([`save_png`]). Figure 4, the
//! multi-class scene view and `segmentation predict` draw with these; this module uses none of
//! them.

use std::path::Path;

use anyhow::{bail, Context, Result};
use formats::atomic::write_atomic_with;
use image::{DynamicImage, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use tch::Tensor;

/// Pixels between panels.
const GAP: u32 = 6;
/// The font family the titles are registered under.
const FAMILY: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../analysis/assets/DejaVuSans.ttf");

/// Height of the title band above panels `s` pixels wide.
pub fn title_height(s: u32) -> u32 {
    2 * font_size(s)
}

fn font_size(s: u32) -> u32 {
    (s / 16).clamp(12, 40)
}

fn colour(k: usize) -> [f32; 3] {
    let h = (k as f32 * 0.618_034) % 1.0;
    let f = |n: f32| {
        let k = (n + h * 6.0) % 6.0;
        1.0 - (k.min(4.0 - k).clamp(0.0, 1.0))
    };
    [f(5.0), f(3.0), f(1.0)]
}

/// A grey value in `[0, 1]` with mask `k`'s colour blended in (when it has one).
fn blend(grey: f32, k: Option<usize>) -> Rgb<u8> {
    let g = grey.clamp(0.0, 1.0);
    let mut px = [g, g, g];
    if let Some(k) = k {
        let c = colour(k);
        px = [0, 1, 2].map(|i| 0.45 * px[i] + 0.55 * c[i]);
    }
    Rgb(px.map(|c| (c * 255.0).round() as u8))
}

/// A `width × height` image of `grey` (row-major, in `[0, 1]`) with each non-zero label of
/// `labels` blended in its colour (label `k` as mask `k − 1` of a figure panel).
pub fn overlay(grey: &[f32], labels: &[u32], width: usize, height: usize) -> RgbImage {
    RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let at = y as usize * width + x as usize;
        let k = labels[at].checked_sub(1).map(|k| k as usize);
        blend(grey[at], k)
    })
}

/// `grey` (a square tile) with `masks` `[P, S, S]` (binary) blended in.
fn panel(grey: &[f32], masks: Option<&Tensor>) -> RgbImage {
    let s = (grey.len() as f64).sqrt() as usize;
    let masks: Vec<Vec<f32>> = masks.map_or_else(Vec::new, |m| {
        (0..m.size()[0])
            .map(|k| Vec::<f32>::try_from(m.get(k).flatten(0, -1)).unwrap_or_default())
            .collect()
    });
    RgbImage::from_fn(s as u32, s as u32, |u, v| {
        let at = v as usize * s + u as usize;
        let k = masks
            .iter()
            .position(|m| m.get(at).is_some_and(|&p| p > 0.5));
        blend(grey[at], k)
    })
}

/// Lays the panels out side by side under their `titles`: `grey` (a square tile) with each entry of
/// `masks` (`None`: the plain image) blended in.
pub fn compose(grey: &[f32], masks: &[Option<&Tensor>], titles: &[String]) -> Result<RgbImage> {
    let panels: Vec<RgbImage> = masks.iter().map(|m| panel(grey, *m)).collect();
    titled_grid(&[panels], titles, &[])
}

/// One entry of a figure's colour legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legend {
    /// What the colour stands for.
    pub name: String,
    /// The colour.
    pub colour: [u8; 3],
}

/// Lays `rows` of equally sized panels out in a grid, one title above each column, and the
/// `legend` (if any) below: a swatch and a name per entry, as many per line as fit.
pub fn titled_grid(
    rows: &[Vec<RgbImage>],
    titles: &[String],
    legend: &[Legend],
) -> Result<RgbImage> {
    let columns = rows.first().map_or(0, Vec::len);
    if columns == 0 || columns != titles.len() || rows.iter().any(|r| r.len() != columns) {
        bail!(
            "{columns} panels per row but {} titles (need one per panel, at least one)",
            titles.len()
        );
    }
    let (pw, ph) = (rows[0][0].width(), rows[0][0].height());
    let (n, top, font) = (rows.len() as u32, title_height(pw), font_size(pw));
    let w = columns as u32 * pw + (columns as u32 - 1) * GAP;
    let entry = 9 * font;
    let per_line = (w / entry).max(1) as usize;
    let legend_lines = legend.len().div_ceil(per_line) as u32;
    let h = top + n * ph + (n - 1) * GAP + legend_lines * 2 * font;
    let mut canvas = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let (x, y) = (c as u32 * (pw + GAP), top + r as u32 * (ph + GAP));
            image::imageops::replace(&mut canvas, img, i64::from(x), i64::from(y));
        }
    }
    plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
        .map_err(|_| anyhow::anyhow!("the embedded DejaVu Sans font is not a valid TTF"))?;
    let root = BitMapBackend::with_buffer(&mut canvas, (w, h)).into_drawing_area();
    let style = (FAMILY, font)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    for (i, title) in titles.iter().enumerate() {
        let x = (i as u32 * (pw + GAP) + pw / 2) as i32;
        root.draw(&Text::new(title.as_str(), (x, (top / 2) as i32), &style))
            .map_err(|e| anyhow::anyhow!("drawing the title {title:?}: {e}"))?;
    }
    let left = (FAMILY, font)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let legend_top = top + n * ph + (n - 1) * GAP;
    for (i, item) in legend.iter().enumerate() {
        let x = ((i % per_line) as u32 * entry) as i32;
        let y = (legend_top + (i / per_line) as u32 * 2 * font + font) as i32;
        let f = font as i32;
        let [r, g, b] = item.colour;
        root.draw(&Rectangle::new(
            [(x + 2, y - f / 2), (x + 2 + f, y + f / 2)],
            RGBColor(r, g, b).filled(),
        ))
        .map_err(|e| anyhow::anyhow!("drawing the legend: {e}"))?;
        root.draw(&Text::new(item.name.as_str(), (x + 2 * f, y), &left))
            .map_err(|e| anyhow::anyhow!("drawing the legend: {e}"))?;
    }
    root.present()
        .map_err(|e| anyhow::anyhow!("drawing the titles: {e}"))?;
    drop(root);
    Ok(canvas)
}

/// Writes `image` to `path` as PNG, atomically.
pub fn save_png(path: &Path, image: &DynamicImage) -> Result<()> {
    write_atomic_with(path, |tmp| {
        image
            .save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("writing {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Dark pixels in columns `xs` of rows `ys`.
    fn dark(img: &RgbImage, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 128))
            .count()
    }

    #[test]
    fn each_panel_gets_its_title_above_it() {
        let s = 64u32;
        let grey = vec![0.8f32; (s * s) as usize];
        let mask = Tensor::ones([1, s as i64, s as i64], (tch::Kind::Float, Device::Cpu));
        let titles = ["image", "ground truth", "LoRA (Dice 0.9443)"].map(String::from);
        let img = compose(&grey, &[None, Some(&mask), Some(&mask)], &titles).unwrap();
        let top = title_height(s);
        assert!(top > 0);
        assert_eq!((img.width(), img.height()), (3 * s + 2 * GAP, s + top));
        for i in 0..3 {
            let x0 = i * (s + GAP);
            // Text in the band above the panel.
            assert!(dark(&img, x0..x0 + s, 0..top) > 10, "panel {i}");
            // The panel itself starts below the band: plain grey, or grey blended with a mask.
            let px = img.get_pixel(x0 + s / 2, top + s / 2).0;
            if i == 0 {
                assert_eq!(px, [204, 204, 204]);
            } else {
                assert_ne!(px, [204, 204, 204]);
            }
        }
        // The long title is wider than the short one.
        let ink = |i: u32| {
            let x0 = i * (s + GAP);
            (x0..x0 + s)
                .filter(|&x| dark(&img, x..x + 1, 0..top) > 0)
                .count()
        };
        assert!(ink(2) > ink(0), "{} vs {}", ink(2), ink(0));
        assert!(compose(&grey, &[None], &[]).is_err());
    }
}
