//! Sample-quality measures: the Fréchet distance (FD) and the kernel inception distance (KID)
//! between two sets of features (e.g. DINOv2 embeddings of real and generated images), and a
//! pixel-space softmax classifier that judges which class generated images look like.
//!
//! Everything is computed by libtorch in fp64, on the device of the first input, whatever the
//! inputs' float kind.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

/// Checks that `x` is a finite `[n, d]` feature set with `n >= 2`, and returns it in fp64 on
/// `device`. `name` says which set is at fault in errors.
fn features(name: &str, x: &Tensor, device: tch::Device) -> Result<Tensor> {
    let size = x.size();
    ensure!(
        size.len() == 2,
        "feature set `{name}` must be [samples, features], got shape {size:?}"
    );
    ensure!(
        size[0] >= 2,
        "feature set `{name}` has {} sample(s); at least 2 are needed",
        size[0]
    );
    ensure!(
        x.is_floating_point(),
        "feature set `{name}` must be floating point, got {:?}",
        x.kind()
    );
    if let Some(count) = serial_lora::checkpoint::non_finite(x) {
        bail!("feature set `{name}` holds {count} NaN or infinite value(s)");
    }
    Ok(x.to_device(device).to_kind(Kind::Double))
}

/// Both feature sets checked (see [`features`]) and of the same width, in fp64 on `a`'s device.
fn feature_pair(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let device = a.device();
    let (a, b) = (features("a", a, device)?, features("b", b, device)?);
    let (da, db) = (a.size()[1], b.size()[1]);
    ensure!(
        da == db,
        "mismatched feature widths: `a` has {da} features per sample, `b` has {db}"
    );
    Ok((a, b))
}

/// The mean `[d]` and unbiased covariance `[d, d]` (divided by `n - 1`) of the rows of `x [n, d]`.
fn mean_and_covariance(x: &Tensor) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let mean = x.mean_dim(0, false, Kind::Double);
    let centred = x - &mean;
    let covariance = centred.tr().matmul(&centred) / (n - 1) as f64;
    (mean, covariance)
}

/// `(m + mᵀ) / 2`: removes the rounding asymmetry of a matrix that is symmetric in exact arithmetic.
fn symmetrised(m: &Tensor) -> Tensor {
    (m + m.tr()) / 2.0
}

/// The symmetric positive semi-definite square root of a covariance, by eigendecomposition with the
/// eigenvalues clamped at 0 (rounding can make the smallest slightly negative).
fn psd_sqrt(covariance: &Tensor) -> Tensor {
    let (values, vectors) = covariance.linalg_eigh("L");
    let roots = values.clamp_min(0.0).sqrt();
    (&vectors * roots.unsqueeze(0)).matmul(&vectors.tr())
}

/// `tr((Σa Σb)^{1/2})` as `Σ sqrt(max(λ, 0))` over the eigenvalues `λ` of `S Σb S`, `S = Σa^{1/2}`.
fn trace_sqrt_product(cov_a: &Tensor, cov_b: &Tensor) -> f64 {
    let s = psd_sqrt(cov_a);
    let product = symmetrised(&s.matmul(cov_b).matmul(&s));
    product
        .linalg_eigvalsh("L")
        .clamp_min(0.0)
        .sqrt()
        .sum(Kind::Double)
        .double_value(&[])
}

/// The Fréchet distance between Gaussian fits of the feature sets `a [N, d]` and `b [M, d]`
/// (`N, M >= 2`, any float kind and device):
///
/// `FD = |μa − μb|² + tr(Σa) + tr(Σb) − 2·tr((Σa Σb)^{1/2})`,
///
/// with unbiased covariances (divided by `N − 1`, as `np.cov` and pytorch-fid do).
///
/// The trace term is computed by a symmetric route: with `S = Σa^{1/2}` (symmetric, from an
/// eigendecomposition), `Σa Σb = S (S Σb S) S⁻¹` is similar to `S Σb S`, which is symmetric positive
/// semi-definite, so `tr((Σa Σb)^{1/2})` is the sum of the square roots of its eigenvalues, found by a
/// symmetric eigensolver (real, backward-stable). This avoids the non-symmetric matrix square root of
/// the textbook route, whose rounding can produce complex parts. Since `Σa Σb` and `Σb Σa` are also
/// similar, the result is symmetric in `a` and `b` up to rounding.
///
/// Errors when a set is not 2-D, has fewer than 2 samples, is not floating point or holds NaN or
/// infinite values, or when the widths differ.
pub fn frechet_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (a, b) = feature_pair(a, b)?;
    let (mean_a, cov_a) = mean_and_covariance(&a);
    let (mean_b, cov_b) = mean_and_covariance(&b);
    let mean_term = (mean_a - mean_b)
        .square()
        .sum(Kind::Double)
        .double_value(&[]);
    let traces = (cov_a.trace() + cov_b.trace()).double_value(&[]);
    Ok(mean_term + traces - 2.0 * trace_sqrt_product(&cov_a, &cov_b))
}

/// The polynomial kernel matrix `k(x, y) = (x·y / d + 1)³` between the rows of `x` and of `y`.
fn polynomial_kernel(x: &Tensor, y: &Tensor) -> Tensor {
    let width = x.size()[1] as f64;
    (x.matmul(&y.tr()) / width + 1.0).pow_tensor_scalar(3)
}

/// The mean of the off-diagonal entries of a square matrix.
fn off_diagonal_mean(k: &Tensor) -> f64 {
    let n = k.size()[0];
    let off_diagonal = (k.sum(Kind::Double) - k.trace()).double_value(&[]);
    off_diagonal / (n * (n - 1)) as f64
}

/// The kernel inception distance between the feature sets `a [N, d]` and `b [M, d]` (`N, M >= 2`):
/// the unbiased estimator of the squared maximum mean discrepancy with the polynomial kernel
/// `k(x, y) = (x·y / d + 1)³` (Bińkowski et al., 2018), over the full sets (no random subsets, so it
/// is deterministic):
///
/// `KID = mean_{i≠j} k(aᵢ, aⱼ) + mean_{i≠j} k(bᵢ, bⱼ) − 2·mean_{i,j} k(aᵢ, bⱼ)`.
///
/// This is what torchmetrics and clean-fid compute per subset. It can be slightly negative when the
/// sets come from the same distribution. Errors as [`frechet_distance`] does.
pub fn kernel_inception_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    let (a, b) = feature_pair(a, b)?;
    let cross = polynomial_kernel(&a, &b)
        .mean(Kind::Double)
        .double_value(&[]);
    Ok(off_diagonal_mean(&polynomial_kernel(&a, &a))
        + off_diagonal_mean(&polynomial_kernel(&b, &b))
        - 2.0 * cross)
}

/// Adam's learning rate for [`PixelClassifier::fit`]. Adam moves every weight by about this much per
/// step whatever the gradient's scale, so from zero a pixel weight can reach O(1) within a few hundred
/// steps, enough for clear margins, while the summed logit change per step stays moderate.
const LEARNING_RATE: f64 = 0.01;

/// The L2 penalty `λ/2·|W|²` added to the mean cross-entropy (the bias is not penalised). On separable
/// data the unpenalised weights grow without bound, so the result would depend on the step count;
/// this small `λ` bounds them while barely moving the decision boundary.
const L2_PENALTY: f64 = 1e-4;

/// A multinomial logistic-regression (softmax) classifier on flattened pixels, used to judge which
/// class generated images resemble. Logits are `x·Wᵀ + b` in fp64.
#[derive(Debug)]
pub struct PixelClassifier {
    /// `[classes, pixels]`.
    weight: Tensor,
    /// `[classes]`.
    bias: Tensor,
}

/// `images [N, ...]` flattened to `[N, pixels]` in fp64 on `device`.
fn flattened(images: &Tensor, device: tch::Device) -> Tensor {
    images
        .to_device(device)
        .to_kind(Kind::Double)
        .flatten(1, -1)
}

/// Checks the training inputs of [`PixelClassifier::fit`].
fn check_training_set(images: &Tensor, labels: &Tensor, classes: i64) -> Result<()> {
    let (size, label_size) = (images.size(), labels.size());
    ensure!(
        size.len() >= 2 && size[0] >= 1,
        "training images must be [N, C, H, W] with N >= 1, got shape {size:?}"
    );
    ensure!(
        images.is_floating_point(),
        "training images must be floating point, got {:?}",
        images.kind()
    );
    if let Some(count) = serial_lora::checkpoint::non_finite(images) {
        bail!("training images hold {count} NaN or infinite value(s)");
    }
    ensure!(
        classes >= 2,
        "a classifier needs at least 2 classes, got {classes}"
    );
    ensure!(
        labels.kind() == Kind::Int64 && label_size == [size[0]],
        "labels must be int64 [{}], got {:?} {label_size:?}",
        size[0],
        labels.kind()
    );
    let (low, high) = (labels.min().int64_value(&[]), labels.max().int64_value(&[]));
    ensure!(
        low >= 0 && high < classes,
        "labels must lie in 0..{classes}, found values in {low}..={high}"
    );
    Ok(())
}

impl PixelClassifier {
    /// Fits the classifier to `images [N, C, H, W]` (any float kind and device) with int64 `labels [N]`
    /// in `0..classes`: full-batch Adam on the mean cross-entropy plus a small L2 penalty on the
    /// weights, for `steps` steps from all-zero parameters. No randomness is involved, so the result is
    /// deterministic. Trains on the images' device; errors name the inconsistent input.
    pub fn fit(images: &Tensor, labels: &Tensor, classes: i64, steps: usize) -> Result<Self> {
        check_training_set(images, labels, classes)?;
        let device = images.device();
        let x = flattened(images, device);
        let labels = labels.to_device(device);
        let mut store = nn::VarStore::new(device);
        store.set_kind(Kind::Double);
        let weight = store.root().zeros("weight", &[classes, x.size()[1]]);
        let bias = store.root().zeros("bias", &[classes]);
        let mut adam = nn::Adam::default().build(&store, LEARNING_RATE)?;
        for _ in 0..steps {
            let logits = x.linear(&weight, Some(&bias));
            let loss = logits.log_softmax(-1, Kind::Double).nll_loss(&labels)
                + weight.square().sum(Kind::Double) * (L2_PENALTY / 2.0);
            adam.backward_step(&loss);
        }
        Ok(Self {
            weight: weight.detach(),
            bias: bias.detach(),
        })
    }

    /// The predicted class (int64 `[N]`, on the classifier's device) of each of `images [N, C, H, W]`.
    /// Panics when the images' pixel count differs from the one the classifier was fitted on.
    pub fn predict(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| {
            flattened(images, self.weight.device())
                .linear(&self.weight, Some(&self.bias))
                .argmax(-1, false)
        })
    }

    /// The share of `images` whose predicted class equals `labels [N]` (NaN when there are none).
    pub fn accuracy(&self, images: &Tensor, labels: &Tensor) -> f64 {
        let predicted = self.predict(images);
        share_true(&predicted.eq_tensor(&labels.to_device(predicted.device())))
    }

    /// The share of `images` predicted as `class` (NaN when there are none).
    pub fn share_of(&self, images: &Tensor, class: i64) -> f64 {
        share_true(&self.predict(images).eq(class))
    }

    /// Writes the classifier to the safetensors file `path` (atomically), as tensors `weight` and `bias`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let cpu = |t: &Tensor| t.to_device(tch::Device::Cpu).contiguous();
        let tensors = [
            ("weight".to_string(), cpu(&self.weight)),
            ("bias".to_string(), cpu(&self.bias)),
        ];
        serial_lora::checkpoint::save_tensors(path, &tensors)
            .with_context(|| format!("saving the pixel classifier to {}", path.display()))
    }

    /// Reads a classifier written by [`PixelClassifier::save`] (onto the CPU). Errors name the file and
    /// the tensor when `weight` or `bias` is missing, not floating point, or mis-shaped.
    pub fn load(path: &Path) -> Result<Self> {
        let mut tensors = serial_lora::checkpoint::read_tensors(path)
            .with_context(|| format!("loading the pixel classifier from {}", path.display()))?;
        let mut take = |name: &str| -> Result<Tensor> {
            let t = tensors
                .remove(name)
                .with_context(|| format!("{}: missing tensor `{name}`", path.display()))?;
            ensure!(
                t.is_floating_point(),
                "{}: tensor `{name}` must be floating point, got {:?}",
                path.display(),
                t.kind()
            );
            Ok(t.to_kind(Kind::Double))
        };
        let (weight, bias) = (take("weight")?, take("bias")?);
        let (w, b) = (weight.size(), bias.size());
        ensure!(
            w.len() == 2,
            "{}: tensor `weight` must be [classes, pixels], got shape {w:?}",
            path.display()
        );
        ensure!(
            b == [w[0]],
            "{}: tensor `bias` must be [{}] to match `weight` {w:?}, got shape {b:?}",
            path.display(),
            w[0]
        );
        Ok(Self { weight, bias })
    }
}

/// The share of `true` entries of a boolean tensor (NaN when it is empty).
fn share_true(hits: &Tensor) -> f64 {
    hits.to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numpy fixture made by tools/fixtures/make_fd_kid_fixture.py.
    #[derive(serde::Deserialize)]
    struct Fixture {
        a: Vec<Vec<f64>>,
        b: Vec<Vec<f64>>,
        fd: f64,
        kid: f64,
    }

    fn fixture() -> Fixture {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fd_kid.json");
        let text = std::fs::read_to_string(path).expect("read the FD/KID fixture");
        serde_json::from_str(&text).expect("parse the FD/KID fixture")
    }

    /// Rows as an `[n, d]` fp64 tensor.
    fn matrix(rows: &[Vec<f64>]) -> Tensor {
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, -1])
    }

    fn relative_error(found: f64, expected: f64) -> f64 {
        (found - expected).abs() / expected.abs()
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let a = matrix(&fixture().a);
        let scale = mean_and_covariance(&a).1.trace().double_value(&[]);
        let fd = frechet_distance(&a, &a).unwrap();
        assert!(fd.abs() < 1e-9 * scale, "FD(a, a) = {fd}, scale {scale}");
        let kid = kernel_inception_distance(&a, &a).unwrap();
        // With the full-set estimator KID(a, a) is not 0: the cross mean includes the diagonal, so
        // KID(a, a) = 2·(mean_off − mean_all) = 2·(mean_off − mean_diag) / n.
        let k = polynomial_kernel(&a, &a);
        let n = a.size()[0] as f64;
        let diagonal = k.diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]);
        let expected = 2.0 * (off_diagonal_mean(&k) - diagonal) / n;
        assert!(
            relative_error(kid, expected) < 1e-9,
            "KID(a, a) = {kid}, expected {expected}"
        );
    }

    #[test]
    fn frechet_distance_is_symmetric() {
        let f = fixture();
        let (a, b) = (matrix(&f.a), matrix(&f.b));
        let (ab, ba) = (
            frechet_distance(&a, &b).unwrap(),
            frechet_distance(&b, &a).unwrap(),
        );
        assert!(
            relative_error(ab, ba) < 1e-12,
            "FD(a, b) = {ab}, FD(b, a) = {ba}"
        );
    }

    #[test]
    fn matches_numpy_reference() {
        // Both sides are fp64 with backward-stable eigensolvers on 8x8 well-conditioned covariances
        // and FD, KID of order 10 with terms of the same order (no catastrophic cancellation), so the
        // routes agree to ~1e-13; 1e-9 leaves ample room while catching any formula slip (e.g. N vs
        // N - 1, a missing factor 2, the diagonal in KID's means), which errs by > 1e-3.
        let f = fixture();
        let (a, b) = (matrix(&f.a), matrix(&f.b));
        let fd = frechet_distance(&a, &b).unwrap();
        assert!(
            relative_error(fd, f.fd) <= 1e-9,
            "FD {fd} vs numpy {}",
            f.fd
        );
        let kid = kernel_inception_distance(&a, &b).unwrap();
        assert!(
            relative_error(kid, f.kid) <= 1e-9,
            "KID {kid} vs numpy {}",
            f.kid
        );
    }

    #[test]
    fn accepts_fp32_inputs() {
        let f = fixture();
        let (a, b) = (
            matrix(&f.a).to_kind(Kind::Float),
            matrix(&f.b).to_kind(Kind::Float),
        );
        // fp32 storage rounds the features by ~6e-8 relative, so only that much agreement is expected.
        let fd = frechet_distance(&a, &b).unwrap();
        assert!(relative_error(fd, f.fd) < 1e-5, "FD {fd} vs numpy {}", f.fd);
    }

    #[test]
    fn a_constant_shift_costs_its_squared_length() {
        let a = matrix(&fixture().a);
        let shift = Tensor::from_slice(&[0.5, -1.0, 2.0, 0.0, 0.25, -0.75, 1.5, -2.5]);
        let expected = shift.square().sum(Kind::Double).double_value(&[]);
        let fd = frechet_distance(&a, &(&a + &shift)).unwrap();
        assert!(
            relative_error(fd, expected) < 1e-9,
            "FD {fd}, |c|² {expected}"
        );
    }

    #[test]
    fn rejects_bad_feature_sets() {
        let a = matrix(&fixture().a);
        let one = a.narrow(0, 0, 1);
        let err = frechet_distance(&one, &a).unwrap_err().to_string();
        assert!(
            err.contains("1 sample(s)") && err.contains("at least 2"),
            "{err}"
        );
        let narrow = a.narrow(1, 0, 5);
        let err = frechet_distance(&a, &narrow).unwrap_err().to_string();
        assert!(err.contains("mismatched feature widths"), "{err}");
        let err = kernel_inception_distance(&a, &narrow)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mismatched feature widths"), "{err}");
        let nan = a.copy();
        let _ = nan.get(3).get(2).fill_(f64::NAN);
        let err = frechet_distance(&a, &nan).unwrap_err().to_string();
        assert!(err.contains("`b` holds 1 NaN"), "{err}");
    }

    /// Deterministic noise in `[0, 1)` from a 64-bit linear congruential generator (no global RNG).
    fn noise(count: usize) -> Vec<f32> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    /// 30 fp32 images `[30, 1, 4, 4]` of 3 classes: noise in `[0, 0.5)` plus 1 on pixel `5·class`.
    fn toy_set() -> (Tensor, Tensor) {
        let (n, pixels) = (30usize, 16usize);
        let mut values: Vec<f32> = noise(n * pixels).iter().map(|v| v * 0.5).collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        for (i, &label) in labels.iter().enumerate() {
            values[i * pixels + 5 * label as usize] += 1.0;
        }
        let images = Tensor::from_slice(&values).reshape([n as i64, 1, 4, 4]);
        (images, Tensor::from_slice(&labels))
    }

    #[test]
    fn classifier_separates_a_toy_and_round_trips() {
        let (images, labels) = toy_set();
        let classifier = PixelClassifier::fit(&images, &labels, 3, 300).unwrap();
        assert_eq!(classifier.accuracy(&images, &labels), 1.0);
        assert!((classifier.share_of(&images, 1) - 1.0 / 3.0).abs() < 1e-12);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("classifier.safetensors");
        classifier.save(&path).unwrap();
        let loaded = PixelClassifier::load(&path).unwrap();
        assert!(loaded.predict(&images).equal(&classifier.predict(&images)));
        assert!(loaded.weight.equal(&classifier.weight) && loaded.bias.equal(&classifier.bias));
    }

    #[test]
    fn fitting_is_deterministic() {
        let (images, labels) = toy_set();
        let first = PixelClassifier::fit(&images, &labels, 3, 20).unwrap();
        let second = PixelClassifier::fit(&images, &labels, 3, 20).unwrap();
        assert!(first.weight.equal(&second.weight) && first.bias.equal(&second.bias));
    }

    #[test]
    fn load_names_a_missing_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no_bias.safetensors");
        let weight = Tensor::zeros([3, 16], (Kind::Double, tch::Device::Cpu));
        serial_lora::checkpoint::save_tensors(&path, &[("weight".to_string(), weight)]).unwrap();
        let err = PixelClassifier::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("missing tensor `bias`") && err.contains("no_bias.safetensors"),
            "{err}"
        );
    }

    #[test]
    fn fit_rejects_out_of_range_labels() {
        let (images, _) = toy_set();
        let labels = Tensor::from_slice(&[3i64; 30]);
        let err = PixelClassifier::fit(&images, &labels, 3, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("labels must lie in 0..3"), "{err}");
    }
}
