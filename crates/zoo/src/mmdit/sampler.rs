//! The SD3 pipeline's denoising loop: Euler steps over a [`Schedule`] with classifier-free guidance
//! batched as diffusers batches it (`[uncond; cond]` in one model call, `v = v_u + g·(v_c − v_u)`,
//! guidance only when `g > 1`).

use tch::{Kind, Tensor};

use super::scheduler::Schedule;

/// Runs the trajectory from `latents` `[B, C, H, W]` and returns the final latents (fp32).
///
/// `velocity(x, timestep)` is the model: with guidance (`guidance_scale > 1`) it receives `x` =
/// `[latents; latents]` (`2B` rows) and must condition the first `B` rows on the unconditional
/// (negative) prompt and the last `B` on the prompt; `timestep` is `[rows]`, σ·1000 in fp32.
pub fn sample(
    schedule: &Schedule,
    latents: &Tensor,
    guidance_scale: f64,
    mut velocity: impl FnMut(&Tensor, &Tensor) -> Tensor,
) -> Tensor {
    let guided = guidance_scale > 1.0;
    let mut x = latents.to_kind(Kind::Float);
    for (i, &t) in schedule.timesteps.iter().enumerate() {
        let input = if guided {
            Tensor::cat(&[&x, &x], 0)
        } else {
            x.shallow_clone()
        };
        let timestep = Tensor::full([input.size()[0]], f64::from(t), (Kind::Float, x.device()));
        let v = velocity(&input, &timestep).to_kind(Kind::Float);
        let v = if guided {
            let [uncond, cond] = <[Tensor; 2]>::try_from(v.chunk(2, 0)).expect("two halves");
            &uncond + (&cond - &uncond) * guidance_scale
        } else {
            v
        };
        x = &x + v * f64::from(schedule.dt(i));
    }
    x
}
