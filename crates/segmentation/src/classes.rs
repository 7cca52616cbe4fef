//! Multi-class semantic segmentation as SAMed trains and scores it: the loss
//! `(1 − w)·CE + w·Dice` on the decoder's per-class logits (softmax over classes; Dice as SAMed's
//! `DiceLoss`: per class `1 − (2·Σ p·t + ε) / (Σ p² + Σ t² + ε)`, ε = 1e-5, averaged over the
//! classes), and per-class IoU, mIoU and pixel accuracy from a confusion matrix. Pixels labelled
//! `void` count in neither: cross-entropy ignores them, Dice and the confusion matrix mask them.

use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// SAMed's Dice smoothing.
const SMOOTH: f64 = 1e-5;

/// SAMed's loss: `logits` `[B, C, H, W]`, `labels` `[B, H, W]` (int64 class indices, `void` ignored).
pub fn class_loss(logits: &Tensor, labels: &Tensor, void: i64, dice_weight: f64) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    let classes = logits.size()[1];
    let ce = logits.cross_entropy_loss::<Tensor>(labels, None, Reduction::Mean, void, 0.0);
    let keep = labels.ne(void).unsqueeze(1).to_kind(Kind::Float);
    let target = labels
        .where_scalarother(&labels.ne(void), 0)
        .one_hot(classes)
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        * &keep;
    let p = logits.softmax(1, Kind::Float) * &keep;
    let dims: &[i64] = &[0, 2, 3];
    let inter = (&p * &target).sum_dim_intlist(dims, false, Kind::Float);
    let z = (&p * &p).sum_dim_intlist(dims, false, Kind::Float);
    let y = (&target * &target).sum_dim_intlist(dims, false, Kind::Float);
    let dice = ((inter * 2.0 + SMOOTH) / (z + y + SMOOTH)).neg() + 1.0;
    ce * (1.0 - dice_weight) + dice.mean(Kind::Float) * dice_weight
}

/// A confusion matrix over `classes` (rows: truth, columns: prediction), void pixels left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Number of classes.
    pub classes: usize,
    /// `counts[truth * classes + predicted]`.
    pub counts: Vec<u64>,
}

impl Confusion {
    /// An empty matrix.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Adds one image: `logits` `[C, H, W]`, `labels` `[H, W]` (any integer kind; `void` skipped).
    pub fn add(&mut self, logits: &Tensor, labels: &Tensor, void: i64) {
        let c = self.classes as i64;
        let pred = logits.argmax(0, false).to_device(tch::Device::Cpu);
        let truth = labels.to_kind(Kind::Int64).to_device(tch::Device::Cpu);
        let keep = truth.ne(void);
        let index = (truth.masked_select(&keep) * c) + pred.masked_select(&keep);
        let counts = index.bincount::<Tensor>(None, c * c);
        for (total, n) in self
            .counts
            .iter_mut()
            .zip(Vec::<i64>::try_from(&counts).unwrap())
        {
            *total += n as u64;
        }
    }

    /// The scores of the matrix.
    pub fn scores(&self) -> ClassScores {
        let c = self.classes;
        let row = |t: usize| -> u64 { self.counts[t * c..(t + 1) * c].iter().sum() };
        let col = |p: usize| -> u64 { (0..c).map(|t| self.counts[t * c + p]).sum() };
        let tp = |k: usize| self.counts[k * c + k];
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let class_iou: Vec<f64> = (0..c)
            .map(|k| ratio(tp(k), row(k) + col(k) - tp(k)))
            .collect();
        let class_dice: Vec<f64> = (0..c).map(|k| ratio(2 * tp(k), row(k) + col(k))).collect();
        let total: u64 = self.counts.iter().sum();
        ClassScores {
            miou: class_iou.iter().sum::<f64>() / c as f64,
            mean_dice: class_dice.iter().sum::<f64>() / c as f64,
            pixel_accuracy: ratio((0..c).map(tp).sum(), total),
            class_iou,
            pixels: total,
        }
    }
}

/// Test scores of a multi-class run (void pixels excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Mean IoU over the classes (a class never present nor predicted scores 0).
    pub miou: f64,
    /// Mean Dice over the classes.
    pub mean_dice: f64,
    /// Share of the scored pixels whose class is right.
    pub pixel_accuracy: f64,
    /// IoU of each class, in label order.
    pub class_iou: Vec<f64>,
    /// Pixels scored.
    pub pixels: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOID: i64 = 2;

    /// Logits `[1, 2, 1, 2]`: pixel 0 favours class 0 by `a`, pixel 1 class 1 by `b`.
    fn logits(a: f32, b: f32) -> Tensor {
        Tensor::from_slice(&[a, 0.0, 0.0, b]).view([1, 2, 1, 2])
    }

    #[test]
    fn loss_is_samed_cross_entropy_plus_squared_dice_by_hand() {
        // Two classes, two pixels, logits 0: p = 0.5 everywhere; labels (0, 1).
        let labels = Tensor::from_slice(&[0i64, 1]).view([1, 1, 2]);
        let (ce, dice) = (std::f64::consts::LN_2, {
            // Per class: inter 0.5, Σp² 0.5, Σt² 1 → 1 − (1 + ε) / (1.5 + ε).
            1.0 - (1.0 + SMOOTH) / (1.5 + SMOOTH)
        });
        for w in [0.0, 0.8, 1.0] {
            let got = class_loss(&logits(0.0, 0.0), &labels, VOID, w).double_value(&[]);
            let want = (1.0 - w) * ce + w * dice;
            assert!((got - want).abs() < 1e-6, "w {w}: {got} vs {want}");
        }
        // Right and confident: almost nothing.
        let sure = class_loss(&logits(30.0, 30.0), &labels, VOID, 0.8).double_value(&[]);
        assert!(sure < 1e-4, "{sure}");
    }

    #[test]
    fn void_pixels_change_neither_the_loss_nor_the_scores() {
        // Pixel 1 void: whatever its logits, the loss and confusion equal pixel 0 alone.
        let labels = Tensor::from_slice(&[0i64, VOID]).view([1, 1, 2]);
        let one = Tensor::from_slice(&[3.0f32, 0.5]).view([1, 2, 1, 1]);
        let alone = class_loss(&one, &labels.narrow(2, 0, 1), VOID, 0.8).double_value(&[]);
        for b in [-20.0, 0.0, 20.0] {
            let both = Tensor::from_slice(&[3.0f32, b, 0.5, -b]).view([1, 2, 1, 2]);
            let l = class_loss(&both, &labels, VOID, 0.8).double_value(&[]);
            assert!((l - alone).abs() < 1e-6, "void logit {b}: {l} vs {alone}");
            let mut m = Confusion::new(2);
            m.add(&both.squeeze_dim(0), &labels.squeeze_dim(0), VOID);
            assert_eq!(m.counts, vec![1, 0, 0, 0]);
        }
    }

    #[test]
    fn per_class_iou_miou_and_pixel_accuracy_match_hand_counts() {
        // Truth (0, 0, 1, 1), prediction (0, 1, 1, 1): class 0 IoU 1/2, class 1 IoU 2/3.
        let labels = Tensor::from_slice(&[0i64, 0, 1, 1]).view([1, 4]);
        let logits =
            Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]).view([2, 1, 4]);
        let mut m = Confusion::new(2);
        m.add(&logits, &labels, VOID);
        let s = m.scores();
        assert_eq!(s.class_iou, vec![0.5, 2.0 / 3.0]);
        assert!((s.miou - 7.0 / 12.0).abs() < 1e-12);
        assert!((s.pixel_accuracy - 0.75).abs() < 1e-12);
        assert!((s.mean_dice - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert_eq!(s.pixels, 4);
    }
}
