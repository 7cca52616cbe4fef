//! Loss (`w·Dice + (1 − w)·BCE` on mask logits) and per-instance Dice / IoU of thresholded masks
//! (per tile for prompt-free semantic masks: a tile's one mask counts as one instance).

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
    /// Instances scored (prompt-free: test tiles).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `[1, 2, 2]` from four values.
    fn map(v: [f32; 4]) -> Tensor {
        Tensor::from_slice(&v).view([1, 2, 2])
    }

    #[test]
    fn dice_and_iou_of_thresholded_masks_match_hand_counts() {
        // Prediction {0, 1} (logit > 0), target {1, 2}: overlap 1, sizes 2 and 2.
        let mut s = Scores::default();
        s.add(&map([5.0, 5.0, -5.0, -5.0]), &map([0.0, 1.0, 1.0, 0.0]));
        assert!((s.dice - 0.5).abs() < 1e-12, "dice 2·1/(2+2)");
        assert!((s.iou - 1.0 / 3.0).abs() < 1e-12, "iou 1/(2+2−1)");
        // A perfect instance is averaged in: dice (0.5 + 1) / 2, iou (1/3 + 1) / 2.
        s.add(&map([5.0, -5.0, -5.0, -5.0]), &map([1.0, 0.0, 0.0, 0.0]));
        assert_eq!(s.instances, 2);
        assert!((s.dice - 0.75).abs() < 1e-12);
        assert!((s.iou - 2.0 / 3.0).abs() < 1e-12);
        // A logit of exactly 0 is background.
        let mut z = Scores::default();
        z.add(&map([0.0, 0.0, 0.0, 0.0]), &map([1.0, 0.0, 0.0, 0.0]));
        assert_eq!((z.dice, z.iou), (0.0, 0.0));
    }

    #[test]
    fn loss_is_the_weighted_soft_dice_plus_bce() {
        // Logits 0 everywhere: p = 0.5; target two of four pixels.
        let logits = map([0.0, 0.0, 0.0, 0.0]);
        let target = map([1.0, 1.0, 0.0, 0.0]);
        // Soft Dice (smoothed by 1): 1 − (2·1 + 1) / (2 + 2 + 1) = 0.4; BCE = ln 2.
        let (dice, bce) = (0.4, std::f64::consts::LN_2);
        for w in [0.0, 0.8, 1.0] {
            let got = loss(&logits, &target, w).double_value(&[]);
            let want = w * dice + (1.0 - w) * bce;
            assert!((got - want).abs() < 1e-6, "w {w}: {got} vs {want}");
        }
        // A confident correct prediction costs almost nothing.
        let sure = map([20.0, 20.0, -20.0, -20.0]);
        assert!(loss(&sure, &target, 0.8).double_value(&[]) < 1e-6);
    }
}
