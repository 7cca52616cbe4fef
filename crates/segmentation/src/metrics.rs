//! Loss (`w·Dice + (1 − w)·BCE` on mask logits) and per-instance Dice / IoU of thresholded masks.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Soft Dice loss averaged over instances plus binary cross-entropy: `logits`, `target` `[P, H, W]`.
pub fn loss(logits: &Tensor, target: &Tensor, dice_weight: f64) -> Tensor {
    let p = logits.sigmoid();
    let dims: &[i64] = &[1, 2];
    let inter = (&p * target).sum_dim_intlist(dims, false, Kind::Float);
    let total = p.sum_dim_intlist(dims, false, Kind::Float)
        + target.sum_dim_intlist(dims, false, Kind::Float);
    let ratio: Tensor = (inter * 2.0 + 1.0) / (total + 1.0);
    let dice = (ratio.neg() + 1.0).mean(Kind::Float);
    let bce =
        logits.binary_cross_entropy_with_logits::<Tensor>(target, None, None, tch::Reduction::Mean);
    dice * dice_weight + bce * (1.0 - dice_weight)
}

/// Sums of per-instance Dice and IoU (masks: logit > 0) and the instance count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean Dice over instances.
    pub dice: f64,
    /// Mean IoU over instances.
    pub iou: f64,
    /// Instances scored.
    pub instances: usize,
}

impl Scores {
    /// Adds the instances of one tile: `logits`, `target` `[P, H, W]`.
    pub fn add(&mut self, logits: &Tensor, target: &Tensor) {
        let pred = logits.gt(0.0).to_kind(Kind::Float);
        let dims: &[i64] = &[1, 2];
        let inter = (&pred * target).sum_dim_intlist(dims, false, Kind::Double);
        let (a, b) = (
            pred.sum_dim_intlist(dims, false, Kind::Double),
            target.sum_dim_intlist(dims, false, Kind::Double),
        );
        let dice = (&inter * 2.0 / (&a + &b).clamp_min(1e-12)).sum(Kind::Double);
        let iou = (&inter / (a + b - &inter).clamp_min(1e-12)).sum(Kind::Double);
        let n = self.instances as f64;
        let k = target.size()[0] as f64;
        self.dice = (self.dice * n + dice.double_value(&[])) / (n + k);
        self.iou = (self.iou * n + iou.double_value(&[])) / (n + k);
        self.instances += k as usize;
    }
}
