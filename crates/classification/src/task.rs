//! The classification task on the engine: a run draws its few shots, builds the backbone with its
//! adapters and head, scores it before training, trains on cross-entropy, and reports its test
//! accuracy.

use anyhow::{bail, Context, Result};
use data::{Augment, FewShot, Item, Normalization, Preprocess, TrainLoader};
use formats::paths::resolve;
use formats::Method;
use runner::{RunContext, RunDir, RunSpec as _, StepOutput, TrainStats};
use serial_lora::{AdapterPlan, ModelStore};
use tch::{nn::VarStore, Kind};

use crate::classifier::{image_encoder, Classifier};
use crate::config::{Experiment, RunSpec};
use crate::datasets;
use crate::summary::Summary;

/// The class names of a run, in label order (`classes.json` in its folder).
pub const CLASSES_FILE: &str = "classes.json";

/// The task: `results/classification/`.
pub struct Classification;

impl runner::Task for Classification {
    const NAME: &'static str = "classification";
    type Experiment = Experiment;
    type Spec = RunSpec;
    type Session = Run;

    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Run> {
        Run::start(spec, ctx)
    }
}

/// One classification run in training.
pub struct Run {
    spec: RunSpec,
    classifier: Classifier,
    loader: TrainLoader,
    pre: Preprocess,
    test: Vec<Item>,
    zero_shot_accuracy: f64,
}

impl Run {
    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Self> {
        let data_root = spec.data_root.as_ref().map(|d| resolve(d, ctx.root));
        let dataset = datasets::load(&spec.dataset, data_root.as_deref(), ctx.root)?;
        let fewshot = FewShot::sample(&dataset, spec.shots, spec.seed)?;
        ctx.dir.write_json("fewshot.json", &fewshot)?;
        ctx.dir.write_json(CLASSES_FILE, &dataset.classnames)?;
        let items = |idx: Vec<usize>| -> Vec<Item> {
            idx.into_iter().map(|i| dataset.train[i].clone()).collect()
        };
        let (train, test) = match (spec.validation_per_class, spec.validation_outside_pool) {
            (Some(held), _) => {
                let (train, validation) = fewshot.hold_out(held)?;
                (items(train), items(validation))
            }
            (None, Some(per_class)) => (
                fewshot.items(&dataset),
                items(fewshot.outside(&dataset, per_class)?),
            ),
            (None, None) => (
                fewshot.items(&dataset),
                datasets::test_subset(&dataset, spec.test_limit),
            ),
        };

        let model_dir = resolve(&spec.model_dir, ctx.root);
        let plan = spec
            .adapter
            .as_ref()
            .map(|a| AdapterPlan::from(a).with_seed(spec.seed));
        let mut loaded = zoo::build(&model_dir, plan, ctx.device)
            .with_context(|| format!("loading {}", model_dir.display()))?;
        let encoder = image_encoder(&loaded.model, &model_dir)?;
        encoder
            .check_size(i64::from(spec.resolution))
            .with_context(|| {
                format!(
                    "`resolution = {}` does not suit {}",
                    spec.resolution,
                    model_dir.display()
                )
            })?;
        let (mean, std) = encoder.pixel_stats();
        let normalisation = Normalization { mean, std };
        if spec.method == Method::Full {
            loaded.store.unfreeze_base();
        }
        let augment = Augment {
            scale: spec.crop_scale,
            flip_prob: if spec.flip { 0.5 } else { 0.0 },
            ..Augment::default()
        };
        let pre = Preprocess::custom(spec.resolution, normalisation, augment)?;
        let classifier = Classifier::new(
            loaded,
            ctx.device,
            &dataset.classnames,
            &spec.template,
            &train,
            &pre,
            spec.logit_scale,
            &model_dir,
        )?;
        if spec.method == Method::Probe && classifier.has_text() {
            bail!("method `probe` needs a backbone without a text tower; CLIP's is `zero_shot`");
        }
        let zero_shot_accuracy = classifier.accuracy(&test, &pre)?;
        eprintln!(
            "{}: accuracy before training {zero_shot_accuracy:.4}",
            spec.name()
        );
        let loader = TrainLoader::new(train, spec.batch_size, pre, spec.seed)?;
        Ok(Self {
            spec: spec.clone(),
            classifier,
            loader,
            pre,
            test,
            zero_shot_accuracy,
        })
    }
}

impl runner::Session for Run {
    type Summary = Summary;

    fn store(&self) -> &ModelStore {
        &self.classifier.loaded.store
    }

    fn trainable(&self) -> Vec<&VarStore> {
        let store = &self.classifier.loaded.store;
        let mut stores = vec![store.adapters()];
        if self.spec.method == Method::Full {
            stores.push(store.base());
        }
        stores.extend(self.classifier.head_vars());
        stores
    }

    fn metric_columns(&self) -> Vec<&'static str> {
        vec!["batch_accuracy"]
    }

    fn skip_to(&mut self, step: usize) -> Result<()> {
        for _ in 0..step {
            self.loader.next_batch()?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<f64> {
        self.classifier.accuracy(&self.test, &self.pre)
    }

    fn step(&mut self, _step: usize) -> Result<StepOutput> {
        let batch = self.loader.next_batch()?;
        let labels = self.classifier.labels(&batch.labels);
        let logits = self
            .classifier
            .logits(&self.classifier.pixels(&batch.images), true);
        let loss = logits.cross_entropy_for_logits(&labels);
        let accuracy = logits
            .argmax(-1, false)
            .eq_tensor(&labels)
            .to_kind(Kind::Float)
            .mean(Kind::Float);
        Ok(StepOutput {
            loss,
            metrics: vec![accuracy],
        })
    }

    fn finish(&mut self, dir: &RunDir, stats: &TrainStats) -> Result<Summary> {
        let accuracy = self.classifier.accuracy(&self.test, &self.pre)?;
        let store = &self.classifier.loaded.store;
        let count = |vs: &VarStore| -> i64 {
            vs.trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum()
        };
        let trainable_params = match self.spec.method {
            Method::Full => count(store.base()),
            _ => store.parameter_count().total,
        };
        let head_params = self.classifier.head_vars().map_or(0, count);
        if self.spec.adapter.is_some() {
            store.save_adapter(dir.path())?;
        }
        self.classifier.save_head(dir.path())?;
        Ok(Summary {
            backbone: self.spec.backbone.clone(),
            dataset: self.spec.dataset.clone(),
            shots: self.spec.shots,
            seed: self.spec.seed,
            method: self.spec.method.name().to_string(),
            rank: self.spec.rank,
            trainable_params,
            accuracy,
            zero_shot_accuracy: self.zero_shot_accuracy,
            training: *stats,
            head_params,
            resolution: self.spec.resolution,
            lr: self.spec.optim.lr,
            plus_ratio: self.spec.optim.lr_ratio,
            evaluated_on: if self.spec.scores_validation() {
                "validation".into()
            } else {
                "test".into()
            },
        })
    }
}
