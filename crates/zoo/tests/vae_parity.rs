//! diffusers' `AutoencoderKL` against diffusers 0.42 on tiny random models (fixtures by
//! tools/fixtures/make_vae_fixtures.py): SD3's layout (16 latent channels, no quant convs, shift
//! factor) and an SD1-style one (quant convs, three levels, two ResNets per level); encode to the
//! latent mean and decode, fp32, ≤ 1e-5 relative, through `zoo::load` and `Model::forward`.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use tch::{Device, Kind, Tensor};
use zoo::{vae, Model};

fn check_case(case: &str) -> f64 {
    let dir = fixture(case);
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    assert_eq!(loaded.model.model_type(), vae::CLASS_NAME);
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let reference = tensors(&dir.join("outputs.safetensors"));
    let worst = assert_matches(
        case,
        &loaded.model.forward(&inputs).unwrap(),
        &reference,
        TOLERANCE,
    );
    // One input alone gives its output alone.
    let pixels = zoo::Tensors::from([(
        "pixel_values".to_string(),
        inputs["pixel_values"].shallow_clone(),
    )]);
    let encoded = loaded.model.forward(&pixels).unwrap();
    assert_eq!(encoded.keys().collect::<Vec<_>>(), ["latent_mean"]);
    worst
}

#[test]
fn sd3_layout_encodes_and_decodes_as_diffusers() {
    check_case("vae_sd3_tiny");
}

#[test]
fn quant_conv_layout_encodes_and_decodes_as_diffusers() {
    check_case("vae_quant_tiny");
}

#[test]
fn scaling_and_shift_come_from_the_config() {
    let loaded = zoo::load(&fixture("vae_sd3_tiny"), None, Device::Cpu).unwrap();
    let Model::AutoencoderKl(vae) = &loaded.model else {
        panic!("not an AutoencoderKL")
    };
    assert_eq!(
        (vae.config.scaling_factor, vae.config.shift_factor),
        (1.5305, Some(0.0609))
    );
    let mean = Tensor::from_slice(&[0.0609f32, 1.0]);
    let z = vae.to_diffusion(&mean);
    let expected = Tensor::from_slice(&[0.0f32, (1.0 - 0.0609) * 1.5305]);
    assert!(z.allclose(&expected, 1e-6, 1e-7, false), "{z:?}");
    // The SD3 pipeline decodes `latents / 1.5305 + 0.0609`: the round trip is the identity.
    assert!(vae.from_diffusion(&z).allclose(&mean, 1e-6, 1e-7, false));
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let loaded = zoo::load(&fixture("vae_sd3_tiny"), None, Device::Cpu).unwrap();
    let run = |name: &str, t: Tensor| {
        let inputs = zoo::Tensors::from([(name.to_string(), t)]);
        loaded.model.forward(&inputs).unwrap_err().to_string()
    };
    let odd = run(
        "pixel_values",
        Tensor::zeros([1, 3, 15, 16], (Kind::Float, Device::Cpu)),
    );
    assert!(
        odd.contains("pixel_values") && odd.contains("multiples of the down-sampling factor 2"),
        "{odd}"
    );
    let channels = run(
        "latents",
        Tensor::zeros([1, 4, 8, 8], (Kind::Float, Device::Cpu)),
    );
    assert!(
        channels.contains("latents") && channels.contains("16"),
        "{channels}"
    );
    let none = run("sample", Tensor::zeros([1], (Kind::Float, Device::Cpu)));
    assert!(none.contains("pixel_values, latents or both"), "{none}");
}

#[test]
fn sd3_preset_is_sd3s_vae() {
    let c = vae::Config::sd3();
    assert_eq!(
        (
            c.downsampling_factor(),
            c.latent_channels,
            c.use_quant_conv,
            c.use_post_quant_conv
        ),
        (8, 16, false, false)
    );
    assert_eq!((c.scaling_factor, c.shift()), (1.5305, 0.0609));
}
