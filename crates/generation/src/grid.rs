//! Sample grids: images `[N, C, H, W]` in `[−1, 1]` tiled row-major into one PNG, written atomically.

use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image::{DynamicImage, GrayImage, RgbImage};
use tch::{Device, Kind, Tensor};

/// Pixels between tiles (black).
const GAP: u32 = 2;

/// The grid of `images` with `columns` tiles per row, as an image.
pub fn tile(images: &Tensor, columns: usize) -> Result<DynamicImage> {
    let size = images.size();
    let [n, c, h, w] = <[i64; 4]>::try_from(size.clone())
        .ok()
        .with_context(|| format!("a sample grid needs [N, C, H, W] images, got {size:?}"))?;
    if n == 0 || columns == 0 || !(c == 1 || c == 3) {
        bail!("a sample grid needs at least one 1- or 3-channel image and a column, got {size:?}");
    }
    let cols = (columns as i64).min(n);
    let rows = (n + cols - 1) / cols;
    let pixels = ((images.to_device(Device::Cpu).to_kind(Kind::Float) + 1.0) * 127.5)
        .clamp(0.0, 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .permute([0, 2, 3, 1])
        .contiguous();
    let bytes = Vec::<u8>::try_from(pixels.flatten(0, -1))?;
    let (h, w, c) = (h as u32, w as u32, c as usize);
    let width = cols as u32 * (w + GAP) - GAP;
    let height = rows as u32 * (h + GAP) - GAP;
    let mut out = RgbImage::new(width, height);
    for i in 0..n as usize {
        let (x0, y0) = (
            (i as u32 % cols as u32) * (w + GAP),
            (i as u32 / cols as u32) * (h + GAP),
        );
        let tile = &bytes[i * (h * w) as usize * c..(i + 1) * (h * w) as usize * c];
        for y in 0..h {
            for x in 0..w {
                let at = ((y * w + x) as usize) * c;
                let rgb = if c == 1 {
                    [tile[at]; 3]
                } else {
                    [tile[at], tile[at + 1], tile[at + 2]]
                };
                out.put_pixel(x0 + x, y0 + y, image::Rgb(rgb));
            }
        }
    }
    Ok(if c == 1 {
        DynamicImage::ImageLuma8(GrayImage::from_fn(width, height, |x, y| {
            image::Luma([out.get_pixel(x, y)[0]])
        }))
    } else {
        DynamicImage::ImageRgb8(out)
    })
}

/// Writes the grid of `images` to `path` (PNG, atomically).
pub fn write_grid(path: &Path, images: &Tensor, columns: usize) -> Result<()> {
    let grid = tile(images, columns)?;
    let mut png = Vec::new();
    grid.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .with_context(|| format!("encoding {}", path.display()))?;
    formats::atomic::write_atomic(path, &png)?;
    Ok(())
}
