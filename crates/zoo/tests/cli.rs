//! The `zoo forward` command line: outputs match the fixtures' references, `--adapter`/`--merge` work,
//! diffusers' SD3 transformer and AutoencoderKL directories (and diffusers' LoRA file) run unchanged,
//! and bad input gives a clear error (non-zero exit,
//! no panic).
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serial_lora::checkpoint::save_tensors;
use tch::Tensor;

fn zoo(args: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zoo"));
    command.arg("forward");
    for pair in args.chunks(2) {
        command.arg(pair[0]);
        if let Some(value) = pair.get(1) {
            command.arg(value);
        }
    }
    command.output().expect("zoo runs")
}

fn flag(name: &str) -> &Path {
    Path::new(name)
}

/// `zoo forward` on the fixture folder `dir`'s own inputs into `out`, with `extra` flags.
fn on_fixture(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    let inputs = dir.join("inputs.safetensors");
    let mut args = vec![
        flag("--model"),
        dir,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        out,
    ];
    args.extend(extra.iter().map(|a| flag(a)));
    zoo(&args)
}

/// Runs `zoo forward` and returns its stderr, asserting that it failed cleanly.
fn failure(args: &[&Path]) -> String {
    failed(zoo(args))
}

/// The stderr of a finished `zoo forward`, asserting that it failed cleanly.
fn failed(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure, got success");
    assert!(
        !stderr.contains("panicked"),
        "panic instead of an error: {stderr}"
    );
    stderr
}

#[test]
fn forward_writes_transformers_outputs_with_and_without_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("dinov2");
    let inputs = dir.join("inputs.safetensors");
    let out = tmp.path().join("out.safetensors");
    let peft = dir.join("peft");
    let cases: [(&str, Vec<&Path>, &str); 3] = [
        ("cli dinov2", vec![], "outputs.safetensors"),
        (
            "cli dinov2 --adapter",
            vec![flag("--adapter"), &peft],
            "outputs_peft.safetensors",
        ),
        (
            "cli dinov2 --adapter --merge",
            vec![flag("--adapter"), &peft, flag("--merge")],
            "outputs_peft.safetensors",
        ),
    ];
    for (what, extra, reference) in cases {
        let mut args = vec![
            flag("--model"),
            &dir,
            flag("--inputs"),
            &inputs,
            flag("--out"),
            &out,
        ];
        args.extend(extra);
        let result = zoo(&args);
        assert!(
            result.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_matches(
            what,
            &tensors(&out),
            &tensors(&dir.join(reference)),
            TOLERANCE,
        );
    }
}

#[test]
fn forward_runs_a_diffusers_sd3_transformer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("sd3_tiny");
    let out = tmp.path().join("out.safetensors");
    let (inputs, peft) = (dir.join("inputs_peft.safetensors"), dir.join("peft"));
    let args = [
        flag("--model"),
        &dir,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
        flag("--adapter"),
        &peft,
        flag("--merge"),
    ];
    let result = zoo(&args);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_matches(
        "cli sd3_tiny --adapter --merge",
        &tensors(&out),
        &tensors(&dir.join("outputs_peft_merged.safetensors")),
        TOLERANCE,
    );

    let wrong = fixture("dinov2").join("inputs.safetensors");
    let err = failure(&[
        flag("--model"),
        &dir,
        flag("--inputs"),
        &wrong,
        flag("--out"),
        &out,
    ]);
    assert!(err.contains("input `hidden_states`: missing"), "{err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.safetensors");
    let dinov2 = fixture("dinov2");
    let inputs = dinov2.join("inputs.safetensors");

    let missing = tmp.path().join("no-such-model");
    let err = failure(&[
        flag("--model"),
        &missing,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
    ]);
    assert!(err.contains("no-such-model/config.json"), "{err}");

    let unknown = tmp.path().join("unknown");
    std::fs::create_dir(&unknown).unwrap();
    std::fs::write(unknown.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    let err = failure(&[
        flag("--model"),
        &unknown,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
    ]);
    assert!(
        err.contains("`gpt2`") && err.contains("model_type"),
        "{err}"
    );

    let text_only = tmp.path().join("text.safetensors");
    save_tensors(
        &text_only,
        &[(
            "input_ids".into(),
            Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]),
        )],
    )
    .unwrap();
    let err = failure(&[
        flag("--model"),
        &dinov2,
        flag("--inputs"),
        &text_only,
        flag("--out"),
        &out,
    ]);
    assert!(err.contains("`pixel_values`: missing"), "{err}");

    let wrong_shape = tmp.path().join("wrong.safetensors");
    save_tensors(
        &wrong_shape,
        &[(
            "pixel_values".into(),
            Tensor::zeros([2, 1, 16, 16], (tch::Kind::Float, tch::Device::Cpu)),
        )],
    )
    .unwrap();
    let err = failure(&[
        flag("--model"),
        &dinov2,
        flag("--inputs"),
        &wrong_shape,
        flag("--out"),
        &out,
    ]);
    assert!(
        err.contains("pixel_values") && err.contains("[2, 1, 16, 16]"),
        "{err}"
    );

    let clip = fixture("clip_text");
    let big_ids = tmp.path().join("ids.safetensors");
    save_tensors(
        &big_ids,
        &[(
            "input_ids".into(),
            Tensor::from_slice(&[0i64, 5000]).view([1, 2]),
        )],
    )
    .unwrap();
    let err = failure(&[
        flag("--model"),
        &clip,
        flag("--inputs"),
        &big_ids,
        flag("--out"),
        &out,
    ]);
    assert!(
        err.contains("input_ids") && err.contains("vocabulary"),
        "{err}"
    );

    let no_inputs = tmp.path().join("absent.safetensors");
    let err = failure(&[
        flag("--model"),
        &dinov2,
        flag("--inputs"),
        &no_inputs,
        flag("--out"),
        &out,
    ]);
    assert!(err.contains("absent.safetensors"), "{err}");

    let wrong_adapter = fixture("clip").join("peft");
    let err = failure(&[
        flag("--model"),
        &dinov2,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
        flag("--adapter"),
        &wrong_adapter,
    ]);
    assert!(
        err.contains("adapter_model.safetensors") && err.contains("unexpected tensor"),
        "{err}"
    );
    assert!(!out.exists(), "no output is written on failure");
}

#[test]
fn a_cuda_device_libtorch_cannot_reach_is_a_one_line_error() {
    if tch::Cuda::is_available() {
        return; // this libtorch sees a GPU: `--device cuda` is valid here
    }
    let tmp = tempfile::tempdir().unwrap();
    let dinov2 = fixture("dinov2");
    let err = failure(&[
        flag("--model"),
        &dinov2,
        flag("--inputs"),
        &dinov2.join("inputs.safetensors"),
        flag("--out"),
        &tmp.path().join("out.safetensors"),
        flag("--device"),
        flag("cuda"),
    ]);
    assert!(err.contains("libtorch sees no CUDA device"), "{err}");
    assert!(err.lines().count() <= 3, "{err}");
}

#[test]
fn forward_runs_a_diffusers_vae_and_a_diffusers_lora_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.safetensors");
    let vae = fixture("vae_sd3_tiny");
    let inputs = vae.join("inputs.safetensors");
    let result = zoo(&[
        flag("--model"),
        &vae,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_matches(
        "cli vae_sd3_tiny",
        &tensors(&out),
        &tensors(&vae.join("outputs.safetensors")),
        TOLERANCE,
    );

    let sd3 = fixture("sd3_tiny");
    let (inputs, lora) = (
        sd3.join("inputs_peft.safetensors"),
        sd3.join("dreambooth_lora"),
    );
    let args = [
        flag("--model"),
        &sd3,
        flag("--inputs"),
        &inputs,
        flag("--out"),
        &out,
        flag("--adapter"),
        &lora,
    ];
    let result = zoo(&args);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_matches(
        "cli sd3_tiny --adapter dreambooth_lora",
        &tensors(&out),
        &tensors(&sd3.join("outputs_dreambooth.safetensors")),
        TOLERANCE,
    );
}

#[test]
fn info_says_what_libtorch_sees() {
    let out = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .arg("info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cuda = tch::Cuda::is_available();
    assert!(
        text.contains(&format!("cuda available: {cuda}\n")),
        "{text}"
    );
    assert!(text.contains("intra-op threads: "), "{text}");
    assert!(text.contains("bf16 matmul on Cpu: yes"), "{text}");
}

/// `zoo info --numerics MODE` in a child process, its lines.
fn info_under(mode: &str, env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zoo"));
    command.args(["info", "--numerics", mode]);
    for var in formats::numerics::KERNEL_VARIABLES {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn numerics_modes_pin_the_kernels_before_libtorch_starts() {
    // libtorch fixes its CPU capability when it first dispatches: the child reporting `DEFAULT`
    // under `portable` (and `AVX2` under `avx2`) proves the variables were set before that.
    let portable = info_under("portable", &[]);
    assert!(
        portable.contains("aten cpu capability: DEFAULT\n"),
        "{portable}"
    );
    assert!(portable.contains("numerics mode: portable\n"), "{portable}");
    assert!(
        portable
            .contains("[ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41]"),
        "{portable}"
    );
    let avx2 = info_under("avx2", &[]);
    assert!(avx2.contains("aten cpu capability: AVX2\n"), "{avx2}");
    assert!(avx2.contains("numerics mode: avx2\n"), "{avx2}");
    // A mode overrides a different value the user had set.
    let overridden = info_under("portable", &[("MKL_CBWR", "AVX2")]);
    assert!(overridden.contains("MKL_CBWR=COMPATIBLE"), "{overridden}");
    // native changes nothing: the user's own setting stays, and is part of the signature.
    let native = info_under("native", &[("MKL_CBWR", "AVX2")]);
    assert!(native.contains("numerics mode: native\n"), "{native}");
    assert!(native.contains("[MKL_CBWR=AVX2]"), "{native}");
}

#[test]
fn threads_set_libtorchs_intra_op_threads_and_zero_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (fixture("dinov2"), tmp.path().join("out.safetensors"));
    let run = |threads: &str| on_fixture(&dir, &out, &["--threads", threads]);
    let one = run("1");
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_matches(
        "cli dinov2 --threads 1",
        &tensors(&out),
        &tensors(&dir.join("outputs.safetensors")),
        TOLERANCE,
    );
    let zero = run("0");
    let err = String::from_utf8_lossy(&zero.stderr);
    assert!(!zero.status.success() && err.contains("--threads"), "{err}");
}

#[test]
fn bf16_forward_stays_within_bf16_rounding_of_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (fixture("clip"), tmp.path().join("out.safetensors"));
    let run = on_fixture(&dir, &out, &["--precision", "bf16"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // bf16 keeps 8 significant bits: each output passes a handful of rounded GEMMs (two CLIP
    // blocks and the projections), so it lands within a few round-offs (2^-8 each) of fp32
    // (measured 1.7e-2 ≈ 4.4 round-offs; allowed 8), and never as close as fp32's 1e-5.
    let worst = assert_matches(
        "cli clip --precision bf16",
        &tensors(&out),
        &tensors(&dir.join("outputs.safetensors")),
        2f64.powi(-5),
    );
    assert!(
        worst > TOLERANCE,
        "bf16 must actually compute in bf16 ({worst:e})"
    );
    let bad = failed(on_fixture(&dir, &out, &["--precision", "fp8"]));
    assert!(bad.contains("fp8") && bad.contains("bf16"), "{bad}");
    // auto says what the probe picked, and computes in it: fp32's tolerance or bf16's rounding.
    let auto = on_fixture(&dir, &out, &["--precision", "auto"]);
    let said = String::from_utf8_lossy(&auto.stderr).to_string();
    assert!(auto.status.success(), "{said}");
    let picked = if said.contains("precision auto: bf16") {
        2f64.powi(-5)
    } else {
        assert!(said.contains("precision auto: fp32"), "{said}");
        TOLERANCE
    };
    assert_matches(
        "cli clip --precision auto",
        &tensors(&out),
        &tensors(&dir.join("outputs.safetensors")),
        picked,
    );
}
