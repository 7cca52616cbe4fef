//! The generation task on the engine. A run builds the MMDiT (from a random initialisation for
//! `pretrain`, else from `model_dir` with its adapter), encodes its prompts once, and trains with
//! the flow-matching loss: `pretrain` on every class but the held-out one (class prompts, condition
//! dropout), every other method on the instance images with the instance prompt (DreamBooth, with
//! class images sampled from the base model when `[prior]` is set). A selection run then scores the
//! flow-matching loss of its held-out instance images at fixed noise; a grid run samples the
//! instance prompt and the other classes' prompts and scores them ([`Evaluator`]).

use anyhow::{bail, Context, Result};
use formats::paths::resolve;
use formats::Method;
use runner::{RunContext, RunDir, RunSpec as _, StepOutput, TrainStats};
use serial_lora::checkpoint::save_tensors;
use serial_lora::rng::Draws;
use serial_lora::ModelStore;
use tch::{nn::VarStore, Device, Kind, Tensor};
use zoo::Model;

use crate::base::{build_model, save_model, transformer};
use crate::config::RunSpec;
use crate::data::Images;
use crate::eval::Evaluator;
use crate::grid::write_grid;
use crate::models::ModelPaths;
use crate::prompts::Conditioning;
use crate::sampling::Sampler;
use crate::space::ImageSpace;
use crate::summary::Summary;
use crate::train_set::{training_images, TrainSet};

/// A grid run's instance samples shown in its grid, as a tensor file (Figure 4 reads it).
pub const SAMPLES_FILE: &str = "samples.safetensors";
/// Key of the fixed noise and noise levels that score held-out instance images.
const VALIDATION_KEY: &str = "validation:12345";
/// Noise draws per held-out instance image in the validation loss.
const VALIDATION_DRAWS: i64 = 32;
/// Seeds of the prior-preservation class images start here (apart from the evaluation seeds).
const PRIOR_SEED: u64 = 1_000_000;

/// The task: `results/generation/`.
pub struct Generation;

impl runner::Task for Generation {
    const NAME: &'static str = "generation";
    type Experiment = crate::config::Experiment;
    type Spec = RunSpec;
    type Session = Run;

    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Run> {
        Run::start(spec, ctx)
    }
}

/// One generation run in training.
pub struct Run {
    spec: RunSpec,
    store: ModelStore,
    model: Model,
    conditioning: Conditioning,
    space: ImageSpace,
    images: Images,
    label: i64,
    train: TrainSet,
    prior: Option<TrainSet>,
    validation: Option<Tensor>,
    device: Device,
    results: std::path::PathBuf,
    run_dir: std::path::PathBuf,
}

impl Run {
    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Self> {
        let text_encoder = spec.text_encoder.as_ref().map(|t| resolve(t, ctx.root));
        let paths =
            ModelPaths::locate(&resolve(&spec.model_dir, ctx.root), text_encoder.as_deref())?;
        let model_dir = paths.transformer.clone();
        let (store, model) = build_model(spec, &model_dir, ctx.device)?;
        let config = transformer(&model).config.clone();
        let space = ImageSpace::new(paths.vae.as_deref(), ctx.device)?;
        let images = Images::load(&spec.dataset, spec.resolution, &spec.held_out, ctx.root)?;
        let [channels, h, w] = space.shape(images.shape());
        if config.in_channels != channels || config.out_channels() != channels {
            let space_name = if paths.vae.is_some() {
                "VAE latents"
            } else {
                "pixels"
            };
            bail!(
                "{}: fields `in_channels`/`out_channels` must be {channels}, the channels of `{}` \
                 in the space the model generates in ({space_name})",
                model_dir.display(),
                spec.dataset
            );
        }
        let p = config.patch_size;
        if h % p != 0 || w % p != 0 || h / p > config.pos_embed_max_size() {
            bail!(
                "{}: {h}×{w} images need a `patch_size` dividing both and `pos_embed_max_size` ≥ {}",
                model_dir.display(),
                h.max(w) / p
            );
        }
        let label = images.label(&spec.held_out)?;
        let mut prompts: Vec<String> = images
            .classnames
            .iter()
            .map(|c| spec.prompt_of(c))
            .collect();
        prompts.push(spec.instance_prompt.clone());
        if let Some(prior) = &spec.prior {
            prompts.push(prior.class_prompt.clone());
        }
        let conditioning =
            Conditioning::encode(&paths.text, &prompts, spec.max_tokens, &config, ctx.device)?;
        let (mut train, validation) = training_images(spec, &images, label, &conditioning)?;
        train.images = space
            .encode(&train.images, ctx.device)?
            .to_device(Device::Cpu);
        let validation = validation
            .map(|v| {
                space
                    .encode(&v, ctx.device)
                    .map(|z| z.to_device(Device::Cpu))
            })
            .transpose()?;
        let mut run = Self {
            spec: spec.clone(),
            store,
            model,
            conditioning,
            space,
            images,
            label,
            train,
            prior: None,
            validation,
            device: ctx.device,
            results: ctx.results.to_path_buf(),
            run_dir: ctx.dir.path().to_path_buf(),
        };
        if let Some(prior) = &spec.prior {
            let row = run.conditioning.index(&prior.class_prompt)?;
            let images = run.sampler().generate(row, prior.images, PRIOR_SEED);
            let shown = run.space.decode(&images);
            write_grid(&ctx.dir.path().join("class_images.png"), &shown, 8)?;
            run.prior = Some(TrainSet {
                prompts: Tensor::full([prior.images as i64], row, (Kind::Int64, Device::Cpu)),
                images,
            });
        }
        eprintln!(
            "{}: {} training images, {} trainable parameters",
            spec.name(),
            run.train.count(),
            run.trainable_params()
        );
        Ok(run)
    }

    fn sampler(&self) -> Sampler<'_> {
        Sampler {
            model: transformer(&self.model),
            conditioning: &self.conditioning,
            scheduler: self.spec.flow.scheduler(),
            shape: self.space.shape(self.images.shape()),
            section: &self.spec.sampling,
        }
    }

    fn trainable_params(&self) -> i64 {
        let count = |vars: &VarStore| -> i64 {
            vars.variables()
                .values()
                .filter(|t| t.requires_grad())
                .map(|t| t.numel() as i64)
                .sum()
        };
        count(self.store.adapters()) + count(self.store.base())
    }

    /// The per-sample flow-matching loss of `images` (rows `prompts`) at noise `noise` and levels
    /// `sigmas`.
    fn loss(
        &self,
        images: &Tensor,
        prompts: &Tensor,
        noise: &Tensor,
        sigmas: &Tensor,
        train: bool,
    ) -> Tensor {
        let (context, pooled) = self.conditioning.select(prompts);
        let model = transformer(&self.model);
        self.spec.flow.loss(images, noise, sigmas, |x, t| {
            model.forward_t(x, &context, &pooled, t, train)
        })
    }

    /// A random batch of `set` (rows drawn with replacement from `draws`), on the run's device,
    /// with condition dropout applied to the prompts.
    fn batch(&self, set: &TrainSet, draws: &mut Draws) -> (Tensor, Tensor) {
        let rows = draws.below(set.count(), self.spec.batch_size as i64);
        let mut prompts = set.prompts.index_select(0, &rows);
        let p = self.spec.flow.condition_dropout;
        if p > 0.0 {
            let drop = draws.uniform(rows.size()[0]).lt(p);
            prompts = prompts.where_self(
                &drop.logical_not(),
                &prompts.full_like(self.conditioning.empty()),
            );
        }
        (
            set.images.index_select(0, &rows).to_device(self.device),
            prompts,
        )
    }

    /// The mean flow-matching loss of the held-out instance images over fixed noise draws (the
    /// same draws for every run, so candidates compare on equal terms).
    fn validation_loss(&self, images: &Tensor) -> f64 {
        let n = images.size()[0];
        let prompt = self
            .conditioning
            .index(&self.spec.instance_prompt)
            .expect("encoded");
        tch::no_grad(|| {
            let mut draws = Draws::new(VALIDATION_KEY);
            let x = images.repeat([VALIDATION_DRAWS, 1, 1, 1]);
            let noise = draws.normal(&x.size());
            let sigmas = self
                .spec
                .flow
                .draw_sigmas(x.size()[0], Device::Cpu, &mut draws);
            let prompts = Tensor::full([n * VALIDATION_DRAWS], prompt, (Kind::Int64, Device::Cpu));
            self.loss(
                &x.to_device(self.device),
                &prompts,
                &noise.to_device(self.device),
                &sigmas.to_device(self.device),
                false,
            )
            .mean(Kind::Double)
            .double_value(&[])
        })
    }

    /// The grid of the instance prompt's (for `pretrain`: each class prompt's) first samples in
    /// `progress/step_<step>.png`.
    fn progress_grid(&self, step: usize) -> Result<()> {
        let sampling = &self.spec.sampling;
        let sampler = self.sampler();
        let columns = 8;
        let images = if self.spec.method == Method::Pretrain {
            let rows = self
                .images
                .classnames
                .iter()
                .map(|c| {
                    let row = self.conditioning.index(&self.spec.prompt_of(c))?;
                    Ok(sampler.generate(row, columns, sampling.seed))
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&rows, 0)
        } else {
            let row = self.conditioning.index(&self.spec.instance_prompt)?;
            sampler.generate(row, sampling.grid, sampling.seed)
        };
        let dir = self.run_dir.join("progress");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let images = self.space.decode(&images);
        write_grid(&dir.join(format!("step_{step}.png")), &images, columns)
    }
}

impl runner::Session for Run {
    type Summary = Summary;

    fn store(&self) -> &ModelStore {
        &self.store
    }

    fn trainable(&self) -> Vec<&VarStore> {
        vec![self.store.adapters(), self.store.base()]
    }

    /// Every `sampling.every` steps (when set).
    fn snapshot_due(&self, step: usize) -> bool {
        self.spec
            .sampling
            .every
            .is_some_and(|every| step > 0 && step.is_multiple_of(every))
    }

    fn snapshot(&self, step: usize) -> Result<()> {
        self.progress_grid(step)
    }

    fn step(&mut self, step: usize) -> Result<StepOutput> {
        // Every draw of a step comes from a stream keyed by (seed, step): a resumed run draws
        // what an uninterrupted one would, and nothing else in the process changes it.
        let mut draws = Draws::new(&format!("{}:step:{step}", self.spec.seed));
        let (mut x, mut prompts) = self.batch(&self.train, &mut draws);
        let instances = x.size()[0];
        if let Some(prior) = &self.prior {
            let (px, pp) = self.batch(prior, &mut draws);
            x = Tensor::cat(&[x, px], 0);
            prompts = Tensor::cat(&[prompts, pp], 0);
        }
        let noise = draws.normal(&x.size()).to_device(self.device);
        let sigmas = self
            .spec
            .flow
            .draw_sigmas(x.size()[0], self.device, &mut draws);
        let per_sample = self.loss(&x, &prompts, &noise, &sigmas, true);
        let loss = match &self.spec.prior {
            Some(prior) => {
                per_sample.narrow(0, 0, instances).mean(Kind::Float)
                    + per_sample.narrow(0, instances, instances).mean(Kind::Float) * prior.weight
            }
            None => per_sample.mean(Kind::Float),
        };
        Ok(StepOutput {
            loss,
            metrics: Vec::new(),
        })
    }

    fn finish(&mut self, dir: &RunDir, stats: &TrainStats) -> Result<Summary> {
        let spec = &self.spec;
        let mut summary = Summary {
            model: spec.backbone.clone(),
            dataset: spec.dataset.clone(),
            method: spec.method.name().into(),
            rank: spec.rank,
            seed: spec.seed,
            lr: spec.optim.lr,
            plus_ratio: spec.optim.lr_ratio,
            trainable_params: self.trainable_params(),
            fd_dinov2: None,
            kid: None,
            instance_accuracy: None,
            preservation_accuracy: None,
            validation_loss: None,
            samples: 0,
            training: *stats,
        };
        if self.store.plan().is_some() {
            self.store.save_adapter(dir.path())?;
        }
        if spec.method == Method::Pretrain {
            save_model(&self.store, &self.model, dir.path())?;
        }
        if let Some(validation) = &self.validation {
            summary.validation_loss = Some(self.validation_loss(validation));
            return Ok(summary);
        }
        let sampling = &spec.sampling;
        let evaluator = Evaluator::new(
            &resolve(&spec.feature_model, &formats::paths::repo_root()),
            &self.images,
            self.label,
            sampling.feature_size,
            sampling.classifier_steps,
            &self.results,
            self.device,
        )?;
        let sampler = self.sampler();
        let instance = self.conditioning.index(&spec.instance_prompt)?;
        let samples =
            self.space
                .decode(&sampler.generate(instance, sampling.samples, sampling.seed));
        let shown = samples.narrow(0, 0, sampling.grid.min(sampling.samples) as i64);
        write_grid(&dir.path().join("samples.png"), &shown, 8)?;
        save_tensors(&dir.path().join(SAMPLES_FILE), &[("samples".into(), shown)])?;
        let scores = evaluator.score(&samples, self.label)?;
        let mut kept = Vec::new();
        let mut rows = Vec::new();
        for (class, name) in self.images.classnames.iter().enumerate() {
            let class = class as i64;
            if class == self.label || sampling.per_class == 0 {
                continue;
            }
            let row = self.conditioning.index(&spec.prompt_of(name))?;
            let x = self
                .space
                .decode(&sampler.generate(row, sampling.per_class, sampling.seed));
            kept.extend(evaluator.accuracy(&x, class));
            rows.push(x.narrow(0, 0, 8.min(sampling.per_class as i64)));
        }
        if !rows.is_empty() {
            write_grid(&dir.path().join("classes.png"), &Tensor::cat(&rows, 0), 8)?;
        }
        if !kept.is_empty() {
            summary.preservation_accuracy = Some(kept.iter().sum::<f64>() / kept.len() as f64);
        }
        summary.fd_dinov2 = Some(scores.fd_dinov2);
        summary.kid = Some(scores.kid);
        summary.instance_accuracy = scores.accuracy;
        summary.samples = sampling.samples;
        if let Some(accuracy) = evaluator.classifier_accuracy {
            dir.write_json(
                "classifier.json",
                &serde_json::json!({ "real_test_accuracy": accuracy }),
            )?;
        }
        Ok(summary)
    }
}
