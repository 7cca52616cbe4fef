//! Running a segmenter on samples: image embedding once per tile, boxes decoded in chunks (or the
//! tile's one prompt-free mask), logits brought to the crop's resolution. Always the single-mask
//! output (`multimask_output = false`: the decoder's first mask token), with or without boxes;
//! multi-class runs take the multimask output, one map per class ([`class_logits`]).

use std::path::Path;

use anyhow::{bail, Result};
use tch::Tensor;
use zoo::sam::{Prompts, Segmenter};
use zoo::Model;

use crate::classes::{ClassScores, Confusion};
use crate::metrics::Scores;
use crate::samples::Sample;
use crate::scenes::SceneSet;

/// Boxes decoded together at evaluation (the decoder repeats the image embedding per box).
const EVAL_CHUNK: i64 = 16;

/// The segmenter inside the model built from `dir` (SAM or LiteMedSAM); the error names `dir`'s
/// `config.json` and its `model_type`.
pub fn segmenter<'a>(model: &'a Model, dir: &Path) -> Result<&'a dyn Segmenter> {
    match model.segmenter() {
        Some(seg) => Ok(seg),
        None => bail!(
            "{}: model_type `{}` is not a segmenter; segmentation needs model_type sam or \
             lite_medsam (a SAM or LiteMedSAM checkpoint folder)",
            dir.join(zoo::model::CONFIG_FILE).display(),
            model.model_type()
        ),
    }
}

/// Single-mask logits `[P, S, S]` for `boxes` `[1, P, 4]` on an image embedding; without boxes
/// the prompt-free mask `[1, S, S]` (no sparse prompt, `no_mask_embed` as the dense one).
pub fn decode(
    seg: &dyn Segmenter,
    embedding: &Tensor,
    boxes: Option<&Tensor>,
    size: i64,
) -> Tensor {
    let prompts = Prompts {
        boxes,
        ..Default::default()
    };
    let out = seg.head().forward(embedding, &prompts, false);
    let logits = out.pred_masks.select(0, 0).select(1, 0);
    if logits.size()[1] == size {
        logits
    } else {
        logits
            .unsqueeze(1)
            .upsample_bilinear2d([size, size], false, None, None)
            .squeeze_dim(1)
    }
}

/// Mask logits `[P, S, S]` of every box of a sample (a prompt-free sample's `[1, S, S]`), without
/// gradients.
pub fn predict(seg: &dyn Segmenter, sample: &Sample) -> Tensor {
    tch::no_grad(|| {
        let size = sample.pixels.size()[3];
        let embedding = seg.embed_t(&sample.pixels, false);
        let Some(boxes) = &sample.boxes else {
            return decode(seg, &embedding, None, size);
        };
        let n = boxes.size()[1];
        let chunks: Vec<Tensor> = (0..n)
            .step_by(EVAL_CHUNK as usize)
            .map(|i| {
                decode(
                    seg,
                    &embedding,
                    Some(&boxes.narrow(1, i, EVAL_CHUNK.min(n - i))),
                    size,
                )
            })
            .collect();
        Tensor::cat(&chunks, 0)
    })
}

/// Mean Dice and IoU over every instance of `samples` (over the tiles when prompt-free).
pub fn evaluate(seg: &dyn Segmenter, samples: &[Sample]) -> Scores {
    let mut scores = Scores::default();
    for s in samples {
        scores.add(&predict(seg, s), &s.masks);
    }
    scores
}

/// Images decoded together when a multi-class run is scored.
const CLASS_CHUNK: i64 = 1;

/// Per-class logits `[B, C, r, r]` of image embeddings `[B, d, e, e]`, prompt-free: the multimask
/// output of a decoder built with one mask token per class ([`zoo::build_semantic`]).
pub fn class_logits(seg: &dyn Segmenter, embedding: &Tensor) -> Tensor {
    seg.head()
        .forward(embedding, &Prompts::default(), true)
        .pred_masks
        .select(1, 0)
}

/// Per-class IoU, mIoU and pixel accuracy of `set` over `classes`: each image's class logits
/// brought to its own resolution (bilinear), the class of each pixel their argmax, void pixels
/// left out.
pub fn evaluate_classes(
    seg: &dyn Segmenter,
    set: &SceneSet,
    (classes, void): (usize, i64),
    device: tch::Device,
) -> ClassScores {
    let n = set.names.len() as i64;
    let mut confusion = Confusion::new(classes);
    tch::no_grad(|| {
        for start in (0..n).step_by(CLASS_CHUNK as usize) {
            let len = CLASS_CHUNK.min(n - start);
            let pixels = set.pixels.narrow(0, start, len).to_device(device);
            let logits = class_logits(seg, &seg.embed_t(&pixels, false));
            for i in 0..len {
                let labels = &set.full_labels[(start + i) as usize];
                let (h, w) = (labels.size()[0], labels.size()[1]);
                let full = logits
                    .narrow(0, i, 1)
                    .upsample_bilinear2d([h, w], false, None, None)
                    .select(0, 0);
                confusion.add(&full, labels, void);
            }
        }
    });
    confusion.scores()
}
