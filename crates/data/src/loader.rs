//! An endless, seeded training loader: reshuffles every epoch and augments every image.

use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batch::{train_batch, Batch};
use crate::error::{DataError, Result};
use crate::preprocess::Preprocess;
use crate::source::Item;

/// Yields augmented training batches forever, like a shuffling PyTorch `DataLoader` that is
/// restarted each epoch. The last incomplete batch of an epoch is dropped when there are at
/// least `batch_size` items (Dassl/CLIP-LoRA's `drop_last`); with fewer items every batch holds
/// all of them. The same seed gives the same batches.
#[derive(Debug, Clone)]
pub struct TrainLoader {
    items: Vec<Item>,
    batch_size: usize,
    preprocess: Preprocess,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    position: usize,
}

impl TrainLoader {
    /// A loader over `items` (usually a few-shot subset); errors on no items or a zero batch size.
    pub fn new(
        items: Vec<Item>,
        batch_size: usize,
        preprocess: Preprocess,
        seed: u64,
    ) -> Result<Self> {
        if items.is_empty() {
            return Err(DataError::InvalidParam(
                "training loader has no items".into(),
            ));
        }
        if batch_size == 0 {
            return Err(DataError::InvalidParam(
                "batch size must be positive".into(),
            ));
        }
        Ok(Self {
            items,
            batch_size,
            preprocess,
            rng: ChaCha8Rng::seed_from_u64(seed),
            order: Vec::new(),
            position: 0,
        })
    }

    /// Number of batches in one pass over the items.
    pub fn batches_per_epoch(&self) -> usize {
        if self.items.len() >= self.batch_size {
            self.items.len() / self.batch_size
        } else {
            1
        }
    }

    /// The next augmented batch (indices refer to the loader's items).
    pub fn next_batch(&mut self) -> Result<Batch> {
        let len = self.items.len();
        let take = self.batch_size.min(len);
        if self.position + take > self.order.len() {
            self.order = (0..len).collect();
            self.order.shuffle(&mut self.rng);
            self.position = 0;
        }
        let indices = self.order[self.position..self.position + take].to_vec();
        self.position += take;
        let seeds: Vec<u64> = indices.iter().map(|_| self.rng.next_u64()).collect();
        train_batch(&self.items, &indices, &seeds, &self.preprocess)
    }
}
