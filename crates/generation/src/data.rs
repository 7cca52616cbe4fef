//! The generation task's images: a packaged labelled data set (Fashion-MNIST) as `[N, 1, H, W]`
//! tensors in `[−1, 1]` (the pixel space the tiny MMDiT generates in), per split and class.

use anyhow::{bail, Context, Result};
use data::{default_assets_dir, fashion_mnist, Dataset, Item};
use tch::{Kind, Tensor};

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
    /// Loads `name` (`fashion-mnist`, from the packaged assets).
    pub fn load(name: &str) -> Result<Self> {
        let dataset: Dataset = match name {
            "fashion-mnist" => fashion_mnist::load(&default_assets_dir())?,
            other => {
                bail!("field `dataset`: `{other}` is not a generation data set (fashion-mnist)")
            }
        };
        Ok(Self {
            train: Split::from_items(&dataset.train, "train")?,
            test: Split::from_items(&dataset.test, "test")?,
            classnames: dataset.classnames,
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
