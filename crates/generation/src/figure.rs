//! Figure 4: each given run's instance samples (`samples.safetensors`, the samples of its
//! `samples.png`) as a grid, side by side in the order given. A title above each panel names the
//! run's method (with its rank; `base` for `zero_shot`), FD and instance accuracy from its
//! `summary.json` (e.g. `Serial LoRA r8 (FD 123.4, instance acc. 87.5%)`), written in DejaVu Sans
//! (embedded from `crates/analysis/assets`, Bitstream Vera licence there). Tiles are upscaled by an
//! integer factor (nearest neighbour) so that small samples stay readable. The same runs give the
//! same bytes.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::Method;
use image::{DynamicImage, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use tch::Tensor;

use crate::grid::tile;
use crate::summary::Summary;
use crate::task::SAMPLES_FILE;

/// Tiles per row of a panel (as in `samples.png`).
pub const COLUMNS: usize = 8;
/// White pixels between panels.
pub const GAP: u32 = 12;
/// Tiles are upscaled by the smallest integer factor that makes them at least this tall.
pub const MIN_TILE: i64 = 80;
/// The name of the tensor in `samples.safetensors`.
const SAMPLES_TENSOR: &str = "samples";
/// The font family the titles are registered under.
const FAMILY: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../analysis/assets/DejaVuSans.ttf");
/// Font sizes the titles shrink between to fit their panels.
const MAX_FONT: u32 = 28;
const MIN_FONT: u32 = 8;

/// The method as a figure names it: its label with the rank for adapters (`Serial LoRA r8`),
/// `base` for the untrained model.
pub fn method_label(method: Method, rank: i64) -> String {
    match method {
        Method::ZeroShot => "base".to_string(),
        m if m.has_adapter() && rank > 0 => format!("{} r{rank}", m.label()),
        m => m.label().to_string(),
    }
}

/// The title of a run's panel: `<method label> (FD 123.4, instance acc. 87.5%)`, leaving out the
/// measures the run did not score.
pub fn run_title(method: Method, rank: i64, fd: Option<f64>, accuracy: Option<f64>) -> String {
    let measures: Vec<String> = fd
        .map(|f| format!("FD {f:.1}"))
        .into_iter()
        .chain(accuracy.map(|a| format!("instance acc. {:.1}%", 100.0 * a)))
        .collect();
    let label = method_label(method, rank);
    if measures.is_empty() {
        label
    } else {
        format!("{label} ({})", measures.join(", "))
    }
}

/// The file `name` of the run folder `run`, which must exist.
fn run_file(run: &Path, name: &str) -> Result<PathBuf> {
    let path = run.join(name);
    if !path.is_file() {
        bail!("{}: not found (run the grid first)", path.display());
    }
    Ok(path)
}

/// The panel title of the run folder `run`, from its `summary.json`.
pub fn title_of(run: &Path) -> Result<String> {
    let path = run_file(run, "summary.json")?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a generation summary", path.display()))?;
    let method: Method = summary
        .method
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(run_title(
        method,
        summary.rank,
        summary.fd_dinov2,
        summary.instance_accuracy,
    ))
}

/// The integer factor that makes tiles `height` pixels tall at least [`MIN_TILE`] pixels.
pub fn scale(height: i64) -> i64 {
    ((MIN_TILE + height - 1) / height.max(1)).max(1)
}

/// The sample grid of `samples` (`[N, C, H, W]` in `[−1, 1]`, C = 1 or 3): tiles upscaled by
/// [`scale`], [`COLUMNS`] per row.
pub fn panel(samples: &Tensor) -> Result<RgbImage> {
    let size = samples.size();
    let &[_, _, h, _] = size.as_slice() else {
        bail!("samples must be [N, C, H, W], got {size:?}");
    };
    let k = scale(h);
    let big = samples
        .repeat_interleave_self_int(k, 2, None)
        .repeat_interleave_self_int(k, 3, None);
    Ok(tile(&big, COLUMNS)?.to_rgb8())
}

/// The panel of the run folder `run`, from its `samples.safetensors`.
pub fn panel_of(run: &Path) -> Result<RgbImage> {
    let path = run_file(run, SAMPLES_FILE)?;
    let mut tensors = serial_lora::checkpoint::read_tensors(&path)?;
    let samples = tensors.remove(SAMPLES_TENSOR).with_context(|| {
        format!(
            "{}: no tensor `{SAMPLES_TENSOR}` (has {:?})",
            path.display(),
            tensors.keys().collect::<Vec<_>>()
        )
    })?;
    panel(&samples).with_context(|| format!("{}: bad samples", path.display()))
}

/// The largest font size (at most [`MAX_FONT`], at least [`MIN_FONT`]) at which every title fits
/// the width of its panel.
fn font_size(panels: &[RgbImage], titles: &[String]) -> Result<u32> {
    let narrowest = panels.iter().map(RgbImage::width).min().unwrap_or(0);
    let mut size = (narrowest / 24).clamp(MIN_FONT, MAX_FONT);
    while size > MIN_FONT {
        let font = (FAMILY, size).into_font();
        let mut fits = true;
        for (p, title) in panels.iter().zip(titles) {
            let (w, _) = font
                .box_size(title)
                .map_err(|e| anyhow::anyhow!("measuring the title {title:?}: {e}"))?;
            fits &= w + 8 <= p.width();
        }
        if fits {
            break;
        }
        size -= 1;
    }
    Ok(size)
}

/// Lays `panels` out side by side (top-aligned, [`GAP`] apart) under their `titles`.
pub fn compose(panels: &[RgbImage], titles: &[String]) -> Result<RgbImage> {
    if panels.is_empty() || panels.len() != titles.len() {
        bail!(
            "{} panels but {} titles (need one per panel, at least one)",
            panels.len(),
            titles.len()
        );
    }
    plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
        .map_err(|_| anyhow::anyhow!("the embedded DejaVu Sans font is not a valid TTF"))?;
    let size = font_size(panels, titles)?;
    let top = 2 * size;
    let w = panels.iter().map(RgbImage::width).sum::<u32>() + (panels.len() as u32 - 1) * GAP;
    let h = top + panels.iter().map(RgbImage::height).max().unwrap_or(0);
    let mut canvas = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut lefts = Vec::with_capacity(panels.len());
    let mut x = 0;
    for p in panels {
        image::imageops::replace(&mut canvas, p, i64::from(x), i64::from(top));
        lefts.push(x);
        x += p.width() + GAP;
    }
    let root = BitMapBackend::with_buffer(&mut canvas, (w, h)).into_drawing_area();
    let style = (FAMILY, size)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    for ((p, title), left) in panels.iter().zip(titles).zip(lefts) {
        let centre = (left + p.width() / 2) as i32;
        root.draw(&Text::new(
            title.as_str(),
            (centre, (top / 2) as i32),
            &style,
        ))
        .map_err(|e| anyhow::anyhow!("drawing the title {title:?}: {e}"))?;
    }
    root.present()
        .map_err(|e| anyhow::anyhow!("drawing the titles: {e}"))?;
    drop(root);
    Ok(canvas)
}

/// Writes the figure of `runs` (run folders, one panel each, in this order) to `out` (PNG,
/// atomically).
pub fn draw(runs: &[PathBuf], out: &Path) -> Result<()> {
    if runs.is_empty() {
        bail!("give at least one run folder");
    }
    let mut panels = Vec::with_capacity(runs.len());
    let mut titles = Vec::with_capacity(runs.len());
    for run in runs {
        titles.push(title_of(run)?);
        panels.push(panel_of(run)?);
    }
    write_png(compose(&panels, &titles)?, out)
}

/// Writes `canvas` to `out` (PNG, atomically).
fn write_png(canvas: RgbImage, out: &Path) -> Result<()> {
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(canvas)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .with_context(|| format!("encoding {}", out.display()))?;
    formats::atomic::write_atomic(out, &png)?;
    Ok(())
}

/// The progress figure of a run: its `progress/step_<N>.png` sample grids (each class prompt's
/// first samples for `pretrain`, drawn from the moving average when the run keeps one) side by
/// side in step order, upscaled 2×, titled `step N`; written to `out` (PNG, atomically).
pub fn draw_progress(run: &Path, out: &Path) -> Result<()> {
    let dir = run.join("progress");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut steps: Vec<(usize, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("step_")?.strip_suffix(".png")?.parse().ok());
        if let Some(step) = step {
            steps.push((step, path));
        }
    }
    if steps.is_empty() {
        bail!("{}: no step_<N>.png (set sampling.every)", dir.display());
    }
    steps.sort();
    let mut panels = Vec::with_capacity(steps.len());
    for (_, path) in &steps {
        let img = image::open(path)
            .with_context(|| format!("reading {}", path.display()))?
            .to_rgb8();
        let (w, h) = img.dimensions();
        panels.push(image::imageops::resize(
            &img,
            2 * w,
            2 * h,
            image::imageops::FilterType::Nearest,
        ));
    }
    let titles: Vec<String> = steps.iter().map(|(s, _)| format!("step {s}")).collect();
    write_png(compose(&panels, &titles)?, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn titles_name_the_method_rank_and_measures() {
        assert_eq!(
            run_title(Method::SerialLora, 8, Some(123.44), Some(0.875)),
            "Serial LoRA r8 (FD 123.4, instance acc. 87.5%)"
        );
        assert_eq!(
            run_title(Method::ZeroShot, 0, Some(80.0), None),
            "base (FD 80.0)"
        );
        assert_eq!(run_title(Method::LoraPlus, 4, None, None), "LoRA+ r4");
        assert_eq!(run_title(Method::Full, 0, None, None), "full fine-tuning");
    }

    #[test]
    fn tiles_are_upscaled_to_at_least_min_tile() {
        assert_eq!(scale(28), 3);
        assert_eq!(scale(80), 1);
        assert_eq!(scale(512), 1);
        // Two grey 28×28 tiles: one row, 84-pixel tiles 2 pixels apart, nearest neighbour.
        let samples = Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        let _ = samples.get(1).fill_(1.0);
        let img = panel(&samples).unwrap();
        assert_eq!((img.width(), img.height()), (2 * 84 + 2, 84));
        assert_eq!(img.get_pixel(83, 83).0, [128, 128, 128]);
        assert_eq!(img.get_pixel(86, 0).0, [255, 255, 255]);
        assert!(panel(&Tensor::zeros([28, 28], (Kind::Float, Device::Cpu))).is_err());
    }

    /// Dark pixels in columns `xs` of rows `ys`.
    fn dark(img: &RgbImage, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> usize {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 128))
            .count()
    }

    #[test]
    fn each_panel_gets_its_title_above_it() {
        let grey = RgbImage::from_pixel(300, 100, Rgb([200, 200, 200]));
        let titles = [
            "base (FD 80.0)",
            "Serial LoRA r8 (FD 12.3, instance acc. 90.0%)",
        ]
        .map(String::from);
        let img = compose(&[grey.clone(), grey], &titles).unwrap();
        let top = img.height() - 100;
        assert!(top >= 2 * MIN_FONT);
        assert_eq!(img.width(), 600 + GAP);
        for x0 in [0, 300 + GAP] {
            assert!(dark(&img, x0..x0 + 300, 0..top) > 10, "panel at {x0}");
            assert_eq!(img.get_pixel(x0 + 150, top + 50).0, [200, 200, 200]);
        }
        assert!(compose(&[], &[]).is_err());
    }
}
