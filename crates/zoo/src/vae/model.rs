//! diffusers' `AutoencoderKL`: `encode` gives the diagonal Gaussian's mean (the first
//! `latent_channels` of `quant_conv(encoder(x))`), `decode` gives `decoder(post_quant_conv(z))`; the
//! diffusion model sees `(mean − shift_factor)·scaling_factor`.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Kind, Tensor};

use super::coder::{Decoder, Encoder};
use super::config::{Config, CLASS_NAME};
use super::resnet::conv;
use crate::error::{Error, Result};
use crate::input::check_shape;
use crate::model::Tensors;

/// The VAE (checkpoint names `encoder.*`, `decoder.*`, `quant_conv.*`, `post_quant_conv.*`).
#[derive(Debug)]
pub struct AutoencoderKL {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<nn::Conv2D>,
    post_quant_conv: Option<nn::Conv2D>,
    /// The configuration it was built from.
    pub config: Config,
}

impl AutoencoderKL {
    /// Builds the model at `p` (the checkpoint root). It has no adapter sites.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        c.check()
            .map_err(|message| Error::config(CLASS_NAME, message))?;
        let (base, latent) = (p.base(), c.latent_channels);
        Ok(Self {
            encoder: Encoder::new(&(base / "encoder"), c),
            decoder: Decoder::new(&(base / "decoder"), c),
            quant_conv: c
                .use_quant_conv
                .then(|| conv(base / "quant_conv", 2 * latent, 2 * latent, 1, 1, 0)),
            post_quant_conv: c
                .use_post_quant_conv
                .then(|| conv(base / "post_quant_conv", latent, latent, 1, 1, 0)),
            config: c.clone(),
        })
    }

    /// Checks `pixel_values`: float `[B, in_channels, H, W]`, `H` and `W` multiples of the
    /// down-sampling factor `2^(levels − 1)`.
    pub fn check_pixels(&self, pixel_values: &Tensor) -> Result<()> {
        let c = &self.config;
        check_shape(
            "pixel_values",
            pixel_values,
            &[None, Some(c.in_channels), None, None],
        )?;
        let (f, size) = (c.downsampling_factor(), pixel_values.size());
        if size[2] % f != 0 || size[3] % f != 0 {
            return Err(Error::input(
                "pixel_values",
                format!(
                    "height {} and width {} must be multiples of the down-sampling factor {f}",
                    size[2], size[3]
                ),
            ));
        }
        Ok(())
    }

    /// Checks `latents`: float `[B, latent_channels, h, w]`.
    pub fn check_latents(&self, latents: &Tensor) -> Result<()> {
        let channels = Some(self.config.latent_channels);
        check_shape("latents", latents, &[None, channels, None, None])
    }

    /// The latent mean `[B, latent_channels, H/f, W/f]` of images `[B, in_channels, H, W]` in
    /// `[−1, 1]` (see [`check_pixels`](Self::check_pixels)).
    pub fn encode(&self, pixel_values: &Tensor) -> Tensor {
        let moments = self.encoder.forward(pixel_values);
        let moments = match &self.quant_conv {
            Some(quant_conv) => quant_conv.forward(&moments),
            None => moments,
        };
        moments.narrow(1, 0, self.config.latent_channels)
    }

    /// The images `[B, out_channels, h·f, w·f]` of latents `[B, latent_channels, h, w]` (unscaled, as
    /// [`encode`](Self::encode) gives them).
    pub fn decode(&self, latents: &Tensor) -> Tensor {
        let z = match &self.post_quant_conv {
            Some(post_quant_conv) => post_quant_conv.forward(latents),
            None => latents.shallow_clone(),
        };
        self.decoder.forward(&z)
    }

    /// What the diffusion model is trained on: `(mean − shift_factor)·scaling_factor`.
    pub fn to_diffusion(&self, latent_mean: &Tensor) -> Tensor {
        (latent_mean - self.config.shift()) * self.config.scaling_factor
    }

    /// What [`decode`](Self::decode) takes from the diffusion model's latents:
    /// `z / scaling_factor + shift_factor`.
    pub fn from_diffusion(&self, z: &Tensor) -> Tensor {
        z / self.config.scaling_factor + self.config.shift()
    }

    /// Runs the model on `zoo forward`'s names: `pixel_values` gives `latent_mean`, `latents` gives
    /// `decoded` (both when both are given; at least one is required). Inputs run in fp32.
    pub fn forward_named(&self, inputs: &Tensors) -> Result<Tensors> {
        let fp32 = |t: &Tensor| {
            if t.is_floating_point() {
                t.to_kind(Kind::Float)
            } else {
                t.shallow_clone()
            }
        };
        let (pixels, latents) = (
            inputs.get("pixel_values").map(fp32),
            inputs.get("latents").map(fp32),
        );
        if pixels.is_none() && latents.is_none() {
            return Err(Error::input(
                "pixel_values",
                "missing (an AutoencoderKL needs pixel_values, latents or both)",
            ));
        }
        let mut out = Tensors::new();
        if let Some(pixels) = pixels {
            self.check_pixels(&pixels)?;
            out.insert("latent_mean".into(), self.encode(&pixels));
        }
        if let Some(latents) = latents {
            self.check_latents(&latents)?;
            out.insert("decoded".into(), self.decode(&latents));
        }
        Ok(out)
    }
}
