//! Turning items into NCHW batches, decoding and transforming images in parallel.

use ndarray::{Array3, Array4, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{DataError, Result};
use crate::preprocess::Preprocess;
use crate::source::Item;

/// A batch ready for a tensor: images `[N, 3, S, S]` and their labels.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Normalised images, NCHW.
    pub images: Array4<f32>,
    /// Class labels, one per image (i64, as `tch` wants for cross-entropy).
    pub labels: Vec<i64>,
    /// Positions of the images in the item list the batch was drawn from.
    pub indices: Vec<usize>,
}

/// The evaluation batch of `items[indices]` (resize + centre crop, no randomness).
pub fn eval_batch(items: &[Item], indices: &[usize], pre: &Preprocess) -> Result<Batch> {
    let views = indices
        .par_iter()
        .map(|&i| Ok(pre.eval(&items[i].source.load()?)))
        .collect::<Result<Vec<_>>>()?;
    assemble(items, indices, &views)
}

/// The training batch of `items[indices]`; image `j` is augmented with an RNG seeded by
/// `seeds[j]`, so the result does not depend on the number of threads.
pub fn train_batch(
    items: &[Item],
    indices: &[usize],
    seeds: &[u64],
    pre: &Preprocess,
) -> Result<Batch> {
    let views = indices
        .par_iter()
        .zip(seeds.par_iter())
        .map(|(&i, &seed)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            Ok(pre.train(&items[i].source.load()?, &mut rng))
        })
        .collect::<Result<Vec<_>>>()?;
    assemble(items, indices, &views)
}

/// Consecutive evaluation batches of at most `batch_size` items, in order.
pub fn eval_batches<'a>(
    items: &'a [Item],
    batch_size: usize,
    pre: &'a Preprocess,
) -> Result<impl Iterator<Item = Result<Batch>> + 'a> {
    if batch_size == 0 {
        return Err(DataError::InvalidParam(
            "batch size must be positive".into(),
        ));
    }
    let all: Vec<usize> = (0..items.len()).collect();
    let chunks: Vec<Vec<usize>> = all.chunks(batch_size).map(<[usize]>::to_vec).collect();
    Ok(chunks
        .into_iter()
        .map(move |chunk| eval_batch(items, &chunk, pre)))
}

/// Stacks per-image `[3, S, S]` views into a batch.
fn assemble(items: &[Item], indices: &[usize], views: &[Array3<f32>]) -> Result<Batch> {
    if views.is_empty() {
        return Err(DataError::InvalidParam(
            "a batch needs at least one item".into(),
        ));
    }
    let refs: Vec<_> = views.iter().map(Array3::view).collect();
    let images = ndarray::stack(Axis(0), &refs)
        .map_err(|e| DataError::InvalidParam(format!("cannot stack batch: {e}")))?;
    Ok(Batch {
        images,
        labels: indices.iter().map(|&i| items[i].label as i64).collect(),
        indices: indices.to_vec(),
    })
}
