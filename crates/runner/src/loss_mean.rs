//! `metrics.csv`'s `loss_mean`: the mean training loss over every step since the previous logged
//! row. A row's `loss` is one step's loss (one frame or batch out of the interval); the mean sees
//! every step, so the loss curve and its plateau measure the training set, not the few batches
//! that happened to land on a logged step.

use serde::{Deserialize, Serialize};

/// The running sum of an interval's losses; kept in the checkpoint, so a run resumed in the
/// middle of an interval logs the same mean as an uninterrupted one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossMean {
    /// Sum of the losses since the last row.
    #[serde(default)]
    pub loss_sum: f64,
    /// How many steps that sum holds.
    #[serde(default)]
    pub loss_steps: usize,
}

impl LossMean {
    /// Adds one step's loss.
    pub fn add(&mut self, loss: f64) {
        self.loss_sum += loss;
        self.loss_steps += 1;
    }

    /// The interval's mean, starting a new interval; `None` when no step was added.
    pub fn take(&mut self) -> Option<f64> {
        let mean = (self.loss_steps > 0).then(|| self.loss_sum / self.loss_steps as f64);
        *self = Self::default();
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_covers_every_step_of_the_interval_then_restarts() {
        let mut m = LossMean::default();
        assert_eq!(m.take(), None);
        [1.0, 2.0, 6.0].into_iter().for_each(|l| m.add(l));
        assert_eq!(m.take(), Some(3.0));
        m.add(0.5);
        assert_eq!(m.take(), Some(0.5));
        assert_eq!(m, LossMean::default());
    }

    #[test]
    fn it_round_trips_through_json_and_defaults_when_absent() {
        let mut m = LossMean::default();
        m.add(0.25);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<LossMean>(&text).unwrap(), m);
        let old: LossMean = serde_json::from_str(r#"{"step": 3}"#).unwrap();
        assert_eq!(old, LossMean::default());
    }
}
