//! The common shape every data set loader returns.

use crate::source::Item;

/// A classification data set: class names plus labelled train and test items.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// A short name, e.g. `oxford_pets` or `fashion-mnist`.
    pub name: String,
    /// Class names, indexed by label.
    pub classnames: Vec<String>,
    /// Training items (few-shot sampling draws from these).
    pub train: Vec<Item>,
    /// Test items (accuracy is measured on these).
    pub test: Vec<Item>,
}

impl Dataset {
    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.classnames.len()
    }
}

/// Counts items per label (`counts[label]`), for checks and reports.
pub fn class_counts(items: &[Item], num_classes: usize) -> Vec<usize> {
    let mut counts = vec![0; num_classes];
    for item in items {
        counts[item.label] += 1;
    }
    counts
}
