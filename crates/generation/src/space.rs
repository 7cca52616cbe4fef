//! The space the MMDiT generates in: the images' own pixels (the tiny default), or the latents of
//! an `AutoencoderKL` (SD3: `(mean − shift_factor)·scaling_factor` of its encoder, decoded by
//! `z / scaling_factor + shift_factor`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Device, Tensor};
use zoo::{Loaded, Model};

/// Images per VAE call.
const VAE_BATCH: i64 = 8;

/// Pixels, or a VAE's latents.
pub enum ImageSpace {
    /// The model sees the images `[N, C, H, W]` in `[−1, 1]` as they are.
    Pixels,
    /// The model sees the latents of this VAE.
    Latents(Box<Loaded>),
}

impl ImageSpace {
    /// Pixels without `vae`, else the VAE in that folder on `device`.
    pub fn new(vae: Option<&Path>, device: Device) -> Result<Self> {
        let Some(dir) = vae else {
            return Ok(Self::Pixels);
        };
        let loaded =
            zoo::build(dir, None, device).with_context(|| format!("VAE {}", dir.display()))?;
        if !matches!(loaded.model, Model::AutoencoderKl(_)) {
            bail!(
                "{}: an AutoencoderKL is needed, found `{}`",
                dir.display(),
                loaded.model.model_type()
            );
        }
        Ok(Self::Latents(Box::new(loaded)))
    }

    fn vae(&self) -> Option<&zoo::vae::AutoencoderKL> {
        match self {
            Self::Pixels => None,
            Self::Latents(loaded) => match &loaded.model {
                Model::AutoencoderKl(vae) => Some(vae),
                _ => unreachable!("checked by ImageSpace::new"),
            },
        }
    }

    /// The model-space shape `[C, H, W]` of images of shape `image`.
    pub fn shape(&self, image: [i64; 3]) -> [i64; 3] {
        match self.vae() {
            None => image,
            Some(vae) => {
                let f = vae.config.downsampling_factor();
                [vae.config.latent_channels, image[1] / f, image[2] / f]
            }
        }
    }

    /// Model-space tensors of images `[N, C, H, W]` in `[−1, 1]` (on `device`), without gradients.
    pub fn encode(&self, images: &Tensor, device: Device) -> Result<Tensor> {
        let Some(vae) = self.vae() else {
            return Ok(images.shallow_clone());
        };
        let x = images.to_device(device);
        vae.check_pixels(&x)?;
        Ok(tch::no_grad(|| {
            let parts: Vec<Tensor> = x
                .split(VAE_BATCH, 0)
                .iter()
                .map(|b| vae.to_diffusion(&vae.encode(b)))
                .collect();
            Tensor::cat(&parts, 0)
        }))
    }

    /// Images `[N, C, H, W]` in `[−1, 1]` (on the CPU) of model-space tensors.
    pub fn decode(&self, z: &Tensor) -> Tensor {
        let Some(vae) = self.vae() else {
            return z.to_device(Device::Cpu);
        };
        tch::no_grad(|| {
            let parts: Vec<Tensor> = z
                .split(VAE_BATCH, 0)
                .iter()
                .map(|b| {
                    vae.decode(&vae.from_diffusion(b))
                        .clamp(-1.0, 1.0)
                        .to_device(Device::Cpu)
                })
                .collect();
            Tensor::cat(&parts, 0)
        })
    }
}
