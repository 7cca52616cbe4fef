//! Seeded k-shot sampling: exactly k training images per class, recorded by index.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::source::Item;

/// The outcome of few-shot sampling; serialise it into a run folder to record the subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FewShot {
    /// Shots per class.
    pub shots: usize,
    /// The sampling seed.
    pub seed: u64,
    /// Chosen positions in `dataset.train`: class 0's k indices (ascending), then class 1's, ….
    pub indices: Vec<usize>,
}

impl FewShot {
    /// Draws `shots` distinct training images of every class of `dataset`, uniformly at random with
    /// a ChaCha8 RNG seeded by `seed`. Errors, naming the class, if one has fewer than `shots`.
    pub fn sample(dataset: &Dataset, shots: usize, seed: u64) -> Result<Self> {
        if shots == 0 {
            return Err(DataError::InvalidParam("shots must be positive".into()));
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); dataset.num_classes()];
        for (i, item) in dataset.train.iter().enumerate() {
            by_class[item.label].push(i);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut indices = Vec::with_capacity(shots * by_class.len());
        for (label, members) in by_class.iter().enumerate() {
            if members.len() < shots {
                return Err(DataError::TooFewImages {
                    label,
                    name: dataset.classnames[label].clone(),
                    available: members.len(),
                    shots,
                });
            }
            let mut chosen: Vec<usize> = sample(&mut rng, members.len(), shots)
                .into_iter()
                .map(|j| members[j])
                .collect();
            chosen.sort_unstable();
            indices.extend(chosen);
        }
        Ok(Self {
            shots,
            seed,
            indices,
        })
    }

    /// Splits the draw into training and validation positions (both in `dataset.train`): from each
    /// class's `shots` images, `per_class` chosen uniformly at random (ChaCha8 seeded by the draw's
    /// seed) are held out for validation. Errors unless `0 < per_class < shots`.
    pub fn hold_out(&self, per_class: usize) -> Result<(Vec<usize>, Vec<usize>)> {
        if per_class == 0 || per_class >= self.shots {
            return Err(DataError::InvalidParam(format!(
                "cannot hold out {per_class} of {} shots per class for validation",
                self.shots
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5EED_F0DA_7A00);
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for class in self.indices.chunks(self.shots) {
            let held = sample(&mut rng, self.shots, per_class).into_vec();
            for (j, &i) in class.iter().enumerate() {
                if held.contains(&j) {
                    validation.push(i);
                } else {
                    train.push(i);
                }
            }
        }
        Ok((train, validation))
    }

    /// A validation split from outside the draw: `per_class` more training images of every class
    /// that the draw did not take, chosen uniformly at random (ChaCha8 seeded by the draw's seed),
    /// as positions in `dataset.train`, class by class in ascending order. The draw itself stays
    /// whole for training. Errors, naming the class, if one has too few images left.
    pub fn outside(&self, dataset: &Dataset, per_class: usize) -> Result<Vec<usize>> {
        if per_class == 0 {
            return Err(DataError::InvalidParam(
                "a validation split outside the draw needs at least one image per class".into(),
            ));
        }
        let taken: std::collections::BTreeSet<usize> = self.indices.iter().copied().collect();
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); dataset.num_classes()];
        for (i, item) in dataset.train.iter().enumerate() {
            if !taken.contains(&i) {
                by_class[item.label].push(i);
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x0075_1DE0_F5E7);
        let mut validation = Vec::with_capacity(per_class * by_class.len());
        for (label, members) in by_class.iter().enumerate() {
            if members.len() < per_class {
                return Err(DataError::InvalidParam(format!(
                    "class {label} ({}) has {} training images outside the {}-shot draw, fewer \
                     than the {per_class} asked for validation",
                    dataset.classnames[label],
                    members.len(),
                    self.shots
                )));
            }
            let mut chosen: Vec<usize> = sample(&mut rng, members.len(), per_class)
                .into_iter()
                .map(|j| members[j])
                .collect();
            chosen.sort_unstable();
            validation.extend(chosen);
        }
        Ok(validation)
    }

    /// The chosen training items, in the order of [`FewShot::indices`].
    pub fn items(&self, dataset: &Dataset) -> Vec<Item> {
        self.indices
            .iter()
            .map(|&i| dataset.train[i].clone())
            .collect()
    }
}
