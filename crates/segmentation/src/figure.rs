//! Figure 4: one test tile of the data set, its ground truth, and the masks predicted by each given
//! run (e.g. LoRA and Serial LoRA), side by side; instances drawn in distinct colours over the image
//! (prompt-free runs: the semantic mask in one colour, on the tile with the most labelled pixels).
//! A title above each panel names it: `image`, `ground truth`, and per run its method label and test
//! Dice from its `summary.json` (e.g. `Serial LoRA (Dice 0.9443)`), written in DejaVu Sans
//! (embedded from `crates/analysis/assets`, Bitstream Vera licence there). Multi-class runs get
//! their own layout ([`crate::scene_view`]) on the same titled grid ([`titled_grid`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::Method;
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use tch::{Device, Tensor};

use crate::config::{Prompt, RunSpec};
use crate::predict::{predict, segmenter};
use crate::samples::{Sample, SegData};
use crate::scene_view::draw_scenes;
use crate::segment::save_png;
use crate::summary::Summary;
use crate::trained::{load_run, read_spec};

const GAP: u32 = 6;
/// The font family the titles are registered under.
const FAMILY: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../analysis/assets/DejaVuSans.ttf");

/// The title of a run's panel: `<method label> (Dice 0.9443)`, or the label alone without a Dice.
pub fn run_title(method: Method, dice: Option<f64>) -> String {
    match dice {
        Some(d) => format!("{} (Dice {d:.4})", method.label()),
        None => method.label().to_string(),
    }
}

/// The panel title of the run folder `run`: its method (`config.json`) and test Dice
/// (`summary.json`, field `test.dice`; a run without `summary.json` gets the label alone).
pub fn title_of(run: &Path) -> Result<String> {
    let spec = read_spec(run)?;
    let path = run.join("summary.json");
    let dice = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            serde_json::from_str::<Summary>(&text)
                .with_context(|| format!("{}: not a segmentation summary", path.display()))?
                .test
                .dice,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(run_title(spec.method, dice))
}

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

/// The tile the figure shows: the test tile with the most instances (box prompts) or the most
/// labelled pixels (prompt-free).
fn pick_tile(data: &SegData, size: usize, spec: &RunSpec) -> Result<Sample> {
    let tiles = match spec.prompt {
        Prompt::Box => data.test_samples(size, spec.normalize)?,
        Prompt::Free => data.semantic_test_samples(size, spec.normalize)?,
    };
    let weight = |t: &Sample| match spec.prompt {
        Prompt::Box => t.masks.size()[0] as f64,
        Prompt::Free => t.masks.sum(tch::Kind::Double).double_value(&[]),
    };
    // The first of the heaviest tiles.
    tiles
        .into_iter()
        .min_by(|a, b| weight(b).total_cmp(&weight(a)))
        .context("no test tile")
}

/// Writes the figure for `runs` (run folders sharing one data set and prompt mode) to `out`;
/// multi-class runs read their test images under `data_root` ([`draw_scenes`]).
pub fn draw(runs: &[PathBuf], data_root: Option<&Path>, out: &Path) -> Result<()> {
    let Some(first) = runs.first() else {
        bail!("give at least one run folder")
    };
    let root = formats::paths::repo_root();
    let spec = read_spec(first)?;
    if spec.multiclass() {
        let data_root = data_root.with_context(|| {
            format!(
                "{}: a {} run; give its data with --data-root DIR",
                first.display(),
                spec.dataset
            )
        })?;
        return draw_scenes(runs, data_root, out);
    }
    let data = SegData::load(&spec.dataset, &root, spec.validation_fraction)?;
    for run in &runs[1..] {
        if read_spec(run)?.prompt != spec.prompt {
            bail!(
                "{} and {} differ in `prompt` (box vs prompt-free); draw them in separate figures",
                first.display(),
                run.display()
            );
        }
    }
    let mut preds = Vec::new();
    let mut tile: Option<Sample> = None;
    for run in runs {
        let spec = read_spec(run)?;
        let model_dir = formats::paths::resolve(&spec.model_dir, &root);
        let loaded = load_run(run, &spec, Device::Cpu)?;
        let seg = segmenter(&loaded.model, &model_dir)?;
        if tile.is_none() {
            tile = Some(pick_tile(&data, seg.image_size() as usize, &spec)?);
        }
        let sample = tile.as_ref().context("no test tile")?;
        preds.push(predict(seg, sample).gt(0.0));
    }
    let sample = tile.context("no test tile")?;
    let mut titles = vec!["image".to_string(), "ground truth".to_string()];
    for run in runs {
        titles.push(title_of(run)?);
    }
    let mut masks = vec![None, Some(&sample.masks)];
    masks.extend(preds.iter().map(Some));
    let canvas = compose(&sample.grey, &masks, &titles)?;
    save_png(out, &image::DynamicImage::ImageRgb8(canvas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_run() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../results/reference/segmentation/litemedsam_stardist_lora_plus_r8_seed1")
    }

    #[test]
    fn run_titles_name_the_method_and_its_test_dice() {
        assert_eq!(
            run_title(Method::SerialLora, Some(0.944_28)),
            "Serial LoRA (Dice 0.9443)"
        );
        assert_eq!(run_title(Method::Lora, None), "LoRA");
        // The committed run: LoRA+, test Dice 0.94380…
        assert_eq!(title_of(&reference_run()).unwrap(), "LoRA+ (Dice 0.9438)");
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(
            reference_run().join("config.json"),
            tmp.path().join("config.json"),
        )
        .unwrap();
        assert_eq!(title_of(tmp.path()).unwrap(), "LoRA+");
        std::fs::write(tmp.path().join("summary.json"), "{}").unwrap();
        let e = format!("{:#}", title_of(tmp.path()).unwrap_err());
        assert!(e.contains("not a segmentation summary"), "{e}");
    }

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
