//! [`Model`]: any zoo model, chosen by a checkpoint directory's `config.json` `model_type` (diffusers:
//! `_class_name`), built in a [`ModelStore`] with its adapter (ours or PEFT's) and run on named
//! tensors with transformers' (diffusers') names.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use serial_lora::{read_adapter_plan, AdapterPlan, ModelStore, SitePath};
use tch::{Device, Kind, Tensor};

use crate::bert::{self, BertModel};
use crate::clip::{self, ClipModel, TextTransformer, VisionTransformer};
use crate::dinov2::{self, names, Dinov2Model};
use crate::error::{Error, Result};
use crate::mmdit::{self, SD3Transformer2DModel};
use crate::sam::{self, SamModel};
use crate::tinyvit::{LiteMedSam, LiteMedSamConfig};
use crate::vae::{self, AutoencoderKL};

/// Named tensors, as in a safetensors file.
pub type Tensors = BTreeMap<String, Tensor>;

/// The configuration file inside a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file inside a transformers model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The weights file inside a diffusers model directory.
pub const DIFFUSERS_WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// A model family with its configuration, as `config.json` declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// `clip`: both towers.
    Clip(clip::Config),
    /// `clip_vision_model`: the vision tower alone.
    ClipVision(clip::VisionConfig),
    /// `clip_text_model`: the text tower alone.
    ClipText(clip::TextConfig),
    /// `dinov2`.
    Dinov2(dinov2::Config),
    /// `bert`: transformers' `BertModel` (MiniLM).
    Bert(bert::Config),
    /// `sam`: transformers' `SamModel`.
    Sam(sam::Config),
    /// `lite_medsam`: LiteMedSAM as tools/convert_lite_medsam.py writes it.
    LiteMedSam(LiteMedSamConfig),
    /// diffusers' `_class_name: "SD3Transformer2DModel"`.
    Sd3Transformer(mmdit::Config),
    /// diffusers' `_class_name: "AutoencoderKL"`.
    AutoencoderKl(vae::Config),
}

/// A built model of any family.
#[derive(Debug)]
pub enum Model {
    /// `CLIPModel`.
    Clip(Box<ClipModel>),
    /// `CLIPVisionModel`.
    ClipVision(VisionTransformer),
    /// `CLIPTextModel`.
    ClipText(TextTransformer),
    /// `Dinov2Model`.
    Dinov2(Dinov2Model),
    /// `BertModel`.
    Bert(Box<BertModel>),
    /// `SamModel`.
    Sam(Box<SamModel>),
    /// LiteMedSAM.
    LiteMedSam(Box<LiteMedSam>),
    /// `SD3Transformer2DModel`.
    Sd3Transformer(Box<SD3Transformer2DModel>),
    /// `AutoencoderKL`.
    AutoencoderKl(Box<AutoencoderKL>),
}

/// Drops a leading `prefix` (after PEFT's `base_model.model.`, if present) from a dotted name.
fn without_prefix(key: &str, prefix: &str) -> String {
    let (peft, rest) = key.split_at(if key.starts_with("base_model.model.") {
        "base_model.model.".len()
    } else {
        0
    });
    format!("{peft}{}", rest.strip_prefix(prefix).unwrap_or(rest))
}

impl Architecture {
    /// Reads `dir/config.json` and dispatches on diffusers' `_class_name`, else on `model_type`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: Map<String, Value> =
            serde_json::from_str(&text).map_err(|e| Error::config(&path, e.to_string()))?;
        if let Some(class) = config.get("_class_name").and_then(Value::as_str) {
            return match class {
                mmdit::CLASS_NAME => Ok(Self::Sd3Transformer(mmdit::Config::from_json(
                    &config, &path,
                )?)),
                vae::CLASS_NAME => Ok(Self::AutoencoderKl(vae::Config::from_json(&config, &path)?)),
                other => Err(Error::config(
                    &path,
                    format!(
                        "field `_class_name`: diffusers' `{other}` is not supported (only {} and {})",
                        mmdit::CLASS_NAME,
                        vae::CLASS_NAME
                    ),
                )),
            };
        }
        match config.get("model_type").and_then(Value::as_str) {
            Some("clip") => Ok(Self::Clip(clip::Config::from_json(&config, &path)?)),
            Some("clip_vision_model") => Ok(Self::ClipVision(clip::VisionConfig::from_json(&config, &path)?)),
            Some("clip_text_model") => Ok(Self::ClipText(clip::TextConfig::from_json(&config, &path)?)),
            Some("dinov2") => Ok(Self::Dinov2(dinov2::Config::from_json(&config, &path)?)),
            Some("bert") => Ok(Self::Bert(bert::Config::from_json(&config, &path)?)),
            Some("sam") => Ok(Self::Sam(sam::Config::from_json(&config, &path)?)),
            Some("lite_medsam") => Ok(Self::LiteMedSam(LiteMedSamConfig::from_json(&config, &path)?)),
            Some(other) => Err(Error::config(&path, format!("field `model_type`: `{other}` is not one of clip, clip_vision_model, clip_text_model, dinov2, bert, sam, lite_medsam"))),
            None => Err(Error::config(&path, "field `model_type`: missing or not a string")),
        }
    }

    /// Builds the model at the checkpoint root `p`.
    pub fn build(&self, p: &SitePath) -> Result<Model> {
        Ok(match self {
            Self::Clip(c) => Model::Clip(Box::new(ClipModel::new(p, c)?)),
            Self::ClipVision(c) => Model::ClipVision(VisionTransformer::new(p, c)?),
            Self::ClipText(c) => Model::ClipText(TextTransformer::new(p, c)?),
            Self::Dinov2(c) => Model::Dinov2(Dinov2Model::new(p, c)?),
            Self::Bert(c) => Model::Bert(Box::new(BertModel::new(p, c)?)),
            Self::Sam(c) => Model::Sam(Box::new(SamModel::new(p, c)?)),
            Self::LiteMedSam(c) => Model::LiteMedSam(Box::new(LiteMedSam::new(p, c)?)),
            Self::Sd3Transformer(c) => {
                Model::Sd3Transformer(Box::new(SD3Transformer2DModel::new(p, c)?))
            }
            Self::AutoencoderKl(c) => Model::AutoencoderKl(Box::new(AutoencoderKL::new(p, c)?)),
        })
    }

    /// The weights file inside the model directory (transformers' or diffusers' name).
    pub fn weights_file(&self) -> &'static str {
        match self {
            Self::Sd3Transformer(_) | Self::AutoencoderKl(_) => DIFFUSERS_WEIGHTS_FILE,
            _ => WEIGHTS_FILE,
        }
    }

    /// The variable a checkpoint or adapter tensor named `key` feeds: standalone CLIP towers drop the
    /// `vision_model.` / `text_model.` prefix older transformers saved; DINOv2 maps transformers-5
    /// attention names onto the checkpoint's ([`names::checkpoint_name`]).
    pub fn var_name(&self, key: &str) -> String {
        match self {
            Self::Clip(_) => key.to_string(),
            Self::ClipVision(_) => without_prefix(key, "vision_model."),
            Self::ClipText(_) => without_prefix(key, "text_model."),
            Self::Dinov2(_) => names::checkpoint_name(key),
            Self::Bert(_)
            | Self::Sam(_)
            | Self::LiteMedSam(_)
            | Self::Sd3Transformer(_)
            | Self::AutoencoderKl(_) => key.to_string(),
        }
    }

    /// An adapter plan with its `target_modules` in this model's checkpoint names.
    pub fn adapter_plan(&self, plan: AdapterPlan) -> AdapterPlan {
        match self {
            Self::Dinov2(_) => names::checkpoint_targets(plan),
            _ => plan,
        }
    }

    /// This segmenter with `classes` multimask outputs (and, LiteMedSAM only, input size
    /// `image_size`); the error names `dir`'s `config.json` for any other model or a bad size.
    fn semantic(mut self, dir: &Path, classes: i64, image_size: Option<i64>) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        if classes < 1 {
            return Err(Error::config(
                &path,
                format!("{classes} classes: need at least one"),
            ));
        }
        match (&mut self, image_size) {
            (Self::Sam(c), None) => c.mask_decoder_config.num_multimask_outputs = classes,
            (Self::LiteMedSam(c), size) => {
                c.mask_decoder_config.num_multimask_outputs = classes;
                if let Some(size) = size {
                    let old = c.vision_config.image_size;
                    if size < 32 || size % 16 != 0 {
                        return Err(Error::config(
                            &path,
                            format!("input size {size}: need a multiple of 16, at least 32"),
                        ));
                    }
                    c.vision_config.image_size = size;
                    c.prompt_encoder_config.image_size =
                        c.prompt_encoder_config.image_size * size / old;
                }
            }
            (Self::Sam(_), Some(size)) => {
                return Err(Error::config(
                    &path,
                    format!(
                    "input size {size}: SAM runs at its own size (only LiteMedSAM's can change)"
                ),
                ))
            }
            _ => {
                return Err(Error::config(
                    &path,
                    "multi-class segmentation needs model_type sam or lite_medsam",
                ))
            }
        }
        Ok(self)
    }

    /// Checkpoint tensors the model does not hold and that are skipped: CLIP's and BERT's
    /// `position_ids` (BERT: and `token_type_ids`) buffers.
    fn ignored(&self, key: &str) -> bool {
        matches!(
            self,
            Self::Clip(_) | Self::ClipVision(_) | Self::ClipText(_)
        ) && key.ends_with("embeddings.position_ids")
            || matches!(self, Self::Sam(_)) && key == sam::TIED_KEY
            || matches!(self, Self::Bert(_)) && bert::IGNORED_BUFFERS.contains(&key)
    }
}

/// A loaded model and the store holding its weights and adapters.
#[derive(Debug)]
pub struct Loaded {
    /// Frozen base weights and adapters.
    pub store: ModelStore,
    /// The model.
    pub model: Model,
    /// What it is.
    pub architecture: Architecture,
}

/// Builds the model in `dir` (`config.json` + `model.safetensors`, or diffusers'
/// `diffusion_pytorch_model.safetensors`) on `device` with fresh adapters as
/// `plan` says (none when `None`; `target_modules` may use either naming era), and loads its base weights.
pub fn build(dir: &Path, plan: Option<AdapterPlan>, device: Device) -> Result<Loaded> {
    build_as(Architecture::from_dir(dir)?, dir, plan, device, |_| false)
}

/// [`build`]s the SAM-style segmenter in `dir` (SAM or LiteMedSAM) for SAMed's multi-class,
/// prompt-free segmentation ([`sam::classes`]): its mask decoder with one mask token and hypernetwork
/// per class (`num_multimask_outputs = classes`), those and the IoU head drawn afresh from `seed`,
/// every other weight loaded; `image_size` (LiteMedSAM only) runs the encoder at another input size
/// (the prompt encoder's grid follows), as its windowed attention and convolutions allow.
pub fn build_semantic(
    dir: &Path,
    plan: Option<AdapterPlan>,
    device: Device,
    classes: i64,
    image_size: Option<i64>,
    seed: u64,
) -> Result<Loaded> {
    let architecture = Architecture::from_dir(dir)?.semantic(dir, classes, image_size)?;
    let loaded = build_as(architecture, dir, plan, device, sam::classes::is_class_head)?;
    sam::classes::init_class_head(loaded.store.base(), seed);
    Ok(loaded)
}

/// Builds `architecture` with `plan`'s adapters and loads the base weights in `dir`, except the
/// variables `fresh` names (left as built).
fn build_as(
    architecture: Architecture,
    dir: &Path,
    plan: Option<AdapterPlan>,
    device: Device,
    fresh: impl Fn(&str) -> bool,
) -> Result<Loaded> {
    let plan = plan.map(|p| architecture.adapter_plan(p));
    let (store, model) = ModelStore::build(device, plan, |root| {
        architecture.build(root).map_err(into_core)
    })?;
    crate::checkpoint::load_base_except(
        &store,
        &dir.join(architecture.weights_file()),
        |k| architecture.var_name(k),
        |k| architecture.ignored(k),
        fresh,
    )?;
    Ok(Loaded {
        store,
        model,
        architecture,
    })
}

/// [`build`]s the model in `dir` with the adapter in `adapter` (ours or PEFT's `adapter_config.json` +
/// `adapter_model.safetensors`, either naming era) if given, and loads the adapter's weights.
///
/// For an SD3 transformer `adapter` may also be diffusers' LoRA file (`pytorch_lora_weights.safetensors`,
/// or a folder holding it without `adapter_config.json`; see [`mmdit::diffusers_lora`]).
pub fn load(dir: &Path, adapter: Option<&Path>, device: Device) -> Result<Loaded> {
    if let Some(file) = adapter.and_then(mmdit::diffusers_lora::lora_file) {
        if !matches!(
            Architecture::from_dir(dir)?,
            Architecture::Sd3Transformer(_)
        ) {
            return Err(Error::config(
                &file,
                format!(
                    "a diffusers LoRA file loads into an {} only",
                    mmdit::CLASS_NAME
                ),
            ));
        }
        let loaded = build(dir, Some(mmdit::diffusers_lora::read_plan(&file)?), device)?;
        mmdit::diffusers_lora::load_weights(&loaded.store, &file)?;
        return Ok(loaded);
    }
    let plan = adapter.map(read_adapter_plan).transpose()?;
    let loaded = build(dir, plan, device)?;
    if let Some(adapter) = adapter {
        loaded
            .store
            .load_adapter(adapter, |k| loaded.architecture.var_name(k))?;
    }
    Ok(loaded)
}

/// `ModelStore::build` takes the core's error type; model constructors only fail with it.
fn into_core(e: Error) -> serial_lora::Error {
    match e {
        Error::Core(core) => core,
        other => serial_lora::Error::config("model", other.to_string()),
    }
}

fn take<'a>(inputs: &'a Tensors, name: &str) -> Result<&'a Tensor> {
    inputs
        .get(name)
        .ok_or_else(|| Error::input(name, "missing"))
}

/// `pixel_values` as fp32 if floating point (the towers reject other kinds).
fn pixels(t: &Tensor) -> Tensor {
    if t.is_floating_point() {
        t.to_kind(Kind::Float)
    } else {
        t.shallow_clone()
    }
}

/// Integer ids as int64 (the text tower rejects floating point).
fn ids(t: &Tensor) -> Tensor {
    if t.is_floating_point() {
        t.shallow_clone()
    } else {
        t.to_kind(Kind::Int64)
    }
}

impl Model {
    /// Runs the model in inference mode on `inputs` named as transformers names them (`pixel_values`,
    /// `input_ids`, `attention_mask`, `bool_masked_pos`), returning transformers' output names:
    /// `last_hidden_state` and `pooler_output`; for `clip` the flattened `CLIPOutput` (`image_embeds`,
    /// `text_embeds`, `logits_per_image`, `logits_per_text`, `vision_model_output.*`,
    /// `text_model_output.*`, whose `pooler_output` is the projected one in transformers 5), for the
    /// towers whose inputs are present; for `bert` also `token_type_ids` in and `sentence_embedding`
    /// out ([`BertModel::forward_named`]). diffusers' models take diffusers' names:
    /// [`SD3Transformer2DModel::forward_named`], [`AutoencoderKL::forward_named`].
    pub fn forward(&self, inputs: &Tensors) -> Result<Tensors> {
        let opt = |name: &str| inputs.get(name);
        tch::no_grad(|| match self {
            Self::Clip(m) => {
                let (x, t) = (opt("pixel_values").map(pixels), opt("input_ids").map(ids));
                if x.is_none() && t.is_none() {
                    return Err(Error::input(
                        "pixel_values",
                        "missing (a clip model needs pixel_values, input_ids or both)",
                    ));
                }
                if let Some(x) = &x {
                    m.vision_model.check_input(x)?;
                }
                if let Some(t) = &t {
                    m.text_model.check_input(t, opt("attention_mask"))?;
                }
                Ok(clip_outputs(m.forward_t(
                    x.as_ref(),
                    t.as_ref(),
                    opt("attention_mask"),
                    false,
                )))
            }
            Self::ClipVision(m) => {
                let x = pixels(take(inputs, "pixel_values")?);
                m.check_input(&x)?;
                let out = m.forward_t(&x, false);
                Ok(pair(out.last_hidden_state, out.pooler_output))
            }
            Self::ClipText(m) => {
                let t = ids(take(inputs, "input_ids")?);
                m.check_input(&t, opt("attention_mask"))?;
                let out = m.forward_t(&t, opt("attention_mask"), false);
                Ok(pair(out.last_hidden_state, out.pooler_output))
            }
            Self::Dinov2(m) => {
                let x = pixels(take(inputs, "pixel_values")?);
                m.check_input(&x, opt("bool_masked_pos"))?;
                let out = m.forward_t(&x, opt("bool_masked_pos"), false);
                Ok(pair(out.last_hidden_state, out.pooler_output))
            }
            Self::Sam(m) => sam::forward_named(m.as_ref(), inputs),
            Self::LiteMedSam(m) => sam::forward_named(m.as_ref(), inputs),
            Self::Sd3Transformer(m) => m.forward_named(inputs),
            Self::AutoencoderKl(m) => m.forward_named(inputs),
            Self::Bert(m) => m.forward_named(inputs),
        })
    }
}

fn pair(last_hidden_state: Tensor, pooler_output: Tensor) -> Tensors {
    Tensors::from([
        ("last_hidden_state".into(), last_hidden_state),
        ("pooler_output".into(), pooler_output),
    ])
}

fn clip_outputs(out: clip::ClipOutput) -> Tensors {
    let mut named = Tensors::new();
    if let Some(v) = out.vision {
        named.insert("image_embeds".into(), v.embeds);
        named.insert(
            "vision_model_output.last_hidden_state".into(),
            v.output.last_hidden_state,
        );
        named.insert("vision_model_output.pooler_output".into(), v.projected);
    }
    if let Some(t) = out.text {
        named.insert("text_embeds".into(), t.embeds);
        named.insert(
            "text_model_output.last_hidden_state".into(),
            t.output.last_hidden_state,
        );
        named.insert("text_model_output.pooler_output".into(), t.projected);
    }
    if let Some(logits) = out.logits_per_image {
        named.insert("logits_per_text".into(), logits.tr().contiguous());
        named.insert("logits_per_image".into(), logits);
    }
    named
}
