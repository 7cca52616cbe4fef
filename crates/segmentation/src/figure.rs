//! Figure 4: one test tile of the data set, its ground truth, and the masks predicted by each given
//! run (e.g. LoRA and Serial LoRA), side by side; instances drawn in distinct colours over the image.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use tch::{Device, Tensor};

use crate::config::RunSpec;
use crate::predict::{predict, segmenter};
use crate::samples::{Sample, SegData};
use crate::task::DECODER_FILE;

const GAP: u32 = 6;

fn colour(k: usize) -> [f32; 3] {
    let h = (k as f32 * 0.618_034) % 1.0;
    let f = |n: f32| {
        let k = (n + h * 6.0) % 6.0;
        1.0 - (k.min(4.0 - k).clamp(0.0, 1.0))
    };
    [f(5.0), f(3.0), f(1.0)]
}

/// Draws `grey` with `masks` `[P, S, S]` (binary) blended in at `x`.
fn panel(canvas: &mut RgbImage, x: u32, grey: &[f32], masks: Option<&Tensor>) {
    let s = (grey.len() as f64).sqrt() as usize;
    let masks: Vec<Vec<f32>> = masks.map_or_else(Vec::new, |m| {
        (0..m.size()[0])
            .map(|k| Vec::<f32>::try_from(m.get(k).flatten(0, -1)).unwrap_or_default())
            .collect()
    });
    for v in 0..s {
        for u in 0..s {
            let g = grey[v * s + u].clamp(0.0, 1.0);
            let mut px = [g, g, g];
            if let Some(k) = masks
                .iter()
                .position(|m| m.get(v * s + u).is_some_and(|&p| p > 0.5))
            {
                let c = colour(k);
                px = [0, 1, 2].map(|i| 0.45 * px[i] + 0.55 * c[i]);
            }
            canvas.put_pixel(
                x + u as u32,
                v as u32,
                Rgb(px.map(|c| (c * 255.0).round() as u8)),
            );
        }
    }
}

/// Writes the figure for `runs` (run folders sharing one data set) to `out`.
pub fn draw(runs: &[PathBuf], out: &Path) -> Result<()> {
    let Some(first) = runs.first() else {
        bail!("give at least one run folder")
    };
    let root = formats::paths::repo_root();
    let spec = read_spec(first)?;
    let data = SegData::load(&spec.dataset, &root)?;
    let mut preds = Vec::new();
    let mut tile: Option<Sample> = None;
    for run in runs {
        let spec = read_spec(run)?;
        let model_dir = formats::paths::resolve(&spec.model_dir, &root);
        let loaded = zoo::load(&model_dir, Some(run), Device::Cpu).with_context(|| {
            format!(
                "loading {} with the adapter in {}",
                model_dir.display(),
                run.display()
            )
        })?;
        let decoder = run.join(DECODER_FILE);
        if decoder.exists() {
            serial_lora::checkpoint::load_into(
                &loaded
                    .store
                    .base()
                    .variables()
                    .into_iter()
                    .filter(|(n, _)| n.starts_with("mask_decoder."))
                    .collect(),
                &decoder,
                str::to_string,
                None,
            )?;
        }
        let seg = segmenter(&loaded.model, &model_dir)?;
        if tile.is_none() {
            let mut tiles = data.test_samples(seg.image_size() as usize, spec.normalize)?;
            tiles.sort_by_key(|t| std::cmp::Reverse(t.boxes.size()[1]));
            tile = tiles.into_iter().next();
        }
        let sample = tile.as_ref().context("no test tile")?;
        preds.push(predict(seg, sample).gt(0.0));
    }
    let sample = tile.context("no test tile")?;
    let s = sample.pixels.size()[3] as u32;
    let panels = 2 + preds.len() as u32;
    let mut canvas = RgbImage::from_pixel(panels * s + (panels - 1) * GAP, s, Rgb([255, 255, 255]));
    panel(&mut canvas, 0, &sample.grey, None);
    panel(&mut canvas, s + GAP, &sample.grey, Some(&sample.masks));
    for (i, p) in preds.iter().enumerate() {
        panel(
            &mut canvas,
            (2 + i as u32) * (s + GAP),
            &sample.grey,
            Some(p),
        );
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = out.with_extension("tmp.png");
    canvas
        .save(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn read_spec(run: &Path) -> Result<RunSpec> {
    let path = run.join("config.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a segmentation run config", path.display()))
}
