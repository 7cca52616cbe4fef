//! The reference accuracies Figure 5 draws as horizontal lines per data set: the linear probe
//! (method `probe`, mean over its seeds) and the untrained model (`zero_shot_accuracy`, mean over
//! every run of the data set that records it: CLIP's zero-shot classifier or a class-means head).

use std::collections::BTreeMap;

use formats::Method;

use crate::report::rows::Row;

/// The reference accuracies of one (backbone, data set); `None` where the summary has none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reference {
    /// Mean accuracy of the `probe` runs over seeds (a re-run of a seed replaces it).
    pub probe: Option<f64>,
    /// Mean `zero_shot_accuracy` over the data set's runs that record it.
    pub zero_shot: Option<f64>,
}

/// The references of the summary's `rows` (every method, one shot count), keyed by (backbone,
/// data set).
pub fn references(rows: &[Row]) -> BTreeMap<(String, String), Reference> {
    type Key = (String, String);
    let mut probe: BTreeMap<Key, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut zero: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for r in rows {
        let key = (r.group.backbone.clone(), r.group.dataset.clone());
        if r.method == Method::Probe {
            probe
                .entry(key.clone())
                .or_default()
                .insert(r.seed, r.score);
        }
        if let Some(z) = r.before {
            zero.entry(key).or_default().push(z);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut out: BTreeMap<Key, Reference> = BTreeMap::new();
    for (key, by_seed) in probe {
        let acc: Vec<f64> = by_seed.into_values().collect();
        out.entry(key).or_default().probe = Some(mean(&acc));
    }
    for (key, acc) in zero {
        out.entry(key).or_default().zero_shot = Some(mean(&acc));
    }
    out
}
