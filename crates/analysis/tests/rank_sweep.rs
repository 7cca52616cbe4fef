//! `analysis rank-sweep` on a tiny synthetic summary.

use std::fmt::Write;

use analysis::sweep::{rank_sweep, RankSweepOptions};
use analysis::Error;

const HEADER: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb\n";

fn accuracy(dataset: usize, method: usize, rank: usize, seed: usize) -> f64 {
    60.0 + 10.0 * dataset as f64
        + 2.0 * method as f64
        + (rank as f64).log2()
        + 0.7 * seed as f64 * seed as f64
}

fn options(dir: &std::path::Path) -> RankSweepOptions {
    RankSweepOptions {
        summary: Some(dir.join("summary.csv")),
        shots: None,
        results: dir.join("results"),
        figures: dir.join("figures"),
    }
}

#[test]
fn aggregates_seeds_and_writes_table_and_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = HEADER.to_string();
    let (datasets, methods, ranks) = (
        ["dtd", "oxford_pets"],
        ["lora", "serial_lora"],
        [8usize, 16, 32, 64],
    );
    for (di, d) in datasets.iter().enumerate() {
        for (mi, m) in methods.iter().enumerate() {
            for &r in &ranks {
                for seed in 1..=3 {
                    let params = if mi == 0 { 8 } else { 2 } * 768 * 12 * r;
                    writeln!(
                        text,
                        "clip,{d},16,{seed},{m},{r},{params},{},,100,1.5,900",
                        accuracy(di, mi, r, seed)
                    )
                    .unwrap();
                }
                // A 4-shot row that the 16-shot sweep must leave out.
                writeln!(text, "clip,{d},4,1,{m},{r},1,0.0,,1,1,1").unwrap();
            }
        }
    }
    std::fs::write(tmp.path().join("summary.csv"), text).unwrap();
    let written = rank_sweep(&options(tmp.path())).unwrap();
    assert_eq!(
        written,
        [
            tmp.path().join("results/rank_sweep/clip.csv"),
            tmp.path().join("figures/fig5_clip.png")
        ]
    );

    let mut reader = csv::Reader::from_path(&written[0]).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "backbone",
            "dataset",
            "method",
            "rank",
            "trainable_params",
            "seeds",
            "accuracy_mean",
            "accuracy_std",
            "shots"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), datasets.len() * methods.len() * ranks.len());
    for row in &rows {
        let di = datasets.iter().position(|d| *d == &row[1]).unwrap();
        let mi = methods.iter().position(|m| *m == &row[2]).unwrap();
        let r: usize = row[3].parse().unwrap();
        let acc: Vec<f64> = (1..=3).map(|s| accuracy(di, mi, r, s)).collect();
        let mean = acc.iter().sum::<f64>() / 3.0;
        let std = (acc.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / 2.0).sqrt();
        assert_eq!(&row[5], "3");
        assert_eq!(&row[8], "16");
        assert!(
            (row[6].parse::<f64>().unwrap() - mean).abs() < 1e-9,
            "{row:?}"
        );
        assert!(
            (row[7].parse::<f64>().unwrap() - std).abs() < 1e-9,
            "{row:?}"
        );
        assert_eq!(
            row[4].parse::<usize>().unwrap(),
            if mi == 0 { 8 } else { 2 } * 768 * 12 * r
        );
    }
    let png = std::fs::read(&written[1]).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn hand_checked_mean_and_std() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = "vit,pets,16,1,serial_lora,8,10,70,,1,1,1\nvit,pets,16,2,serial_lora,8,10,72,,1,1,1\nvit,pets,16,3,serial_lora,8,10,74,,1,1,1\n";
    std::fs::write(tmp.path().join("summary.csv"), format!("{HEADER}{rows}")).unwrap();
    let written = rank_sweep(&options(tmp.path())).unwrap();
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert_eq!(
        text.lines().nth(1).unwrap(),
        "vit,pets,serial_lora,8,10,3,72.0,2.0,16"
    );
}

#[test]
fn bad_summaries_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("summary.csv");
    let check = |body: &str, want: &str| {
        std::fs::write(&path, body).unwrap();
        let err = rank_sweep(&options(tmp.path())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("summary.csv") && msg.contains(want), "{msg}");
        err
    };
    check("", "has no `backbone` column");
    check(HEADER, "no test-set rows");
    check(
        &format!("{HEADER}vit,pets,16,1,lora,8,10,abc,,1,1,1\n"),
        "line 2, column `accuracy`: `abc` is not a finite number",
    );
    check(
        "backbone,dataset,shots,seed,method,rank,trainable_params\nvit,pets,16,1,lora,8,10\n",
        "accuracy",
    );
    let err = check(
        &format!("{HEADER}vit,pets,16,1,dora,8,10,70,,1,1,1\n"),
        "dora",
    );
    assert!(matches!(err, Error::UnknownMethod { .. }));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        rank_sweep(&options(tmp.path())).unwrap_err(),
        Error::Io { .. }
    ));
}

const FULL_HEADER: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params\n";

#[test]
fn baseline_rows_are_read_and_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = "vit,pets,16,1,zero_shot,0,0,0.40,0.40,0,0.0,100,0\n\
                vit,pets,16,1,probe,0,0,0.55,0.40,120,2.0,100,3840\n\
                vit,pets,16,1,lora,8,10,0.70,0.40,120,3.0,100,3840\n\
                vit,pets,16,2,lora,8,10,0.74,0.40,120,3.0,100,3840\n";
    std::fs::write(
        tmp.path().join("summary.csv"),
        format!("{FULL_HEADER}{rows}"),
    )
    .unwrap();
    let written = rank_sweep(&options(tmp.path())).unwrap();
    let text = std::fs::read_to_string(&written[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("vit,pets,lora,8,10,2,0.72"), "{text}");

    // Only baselines: nothing to sweep, and the error says so.
    std::fs::write(
        tmp.path().join("summary.csv"),
        format!("{FULL_HEADER}vit,pets,16,1,probe,0,0,0.55,0.40,120,2.0,100,3840\n"),
    )
    .unwrap();
    let e = rank_sweep(&options(tmp.path())).unwrap_err().to_string();
    assert!(e.contains("no adapter rows"), "{e}");
}

#[test]
fn default_summary_is_yours_else_the_committed_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let opts = RankSweepOptions {
        summary: None,
        shots: None,
        results: results.clone(),
        figures: tmp.path().join("figures"),
    };
    // Neither: the error names both files.
    let e = rank_sweep(&opts).unwrap_err().to_string();
    assert!(
        e.contains("classification/summary.csv") && e.contains("reference/classification"),
        "{e}"
    );

    let reference = results.join("reference/classification/summary.csv");
    std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
    std::fs::write(
        &reference,
        format!("{FULL_HEADER}ref,pets,16,1,lora,8,10,0.5,,1,1,1,0\n"),
    )
    .unwrap();
    // Your summary exists but holds no run yet: the reference is used.
    std::fs::create_dir_all(results.join("classification")).unwrap();
    std::fs::write(results.join("classification/summary.csv"), FULL_HEADER).unwrap();
    let written = rank_sweep(&opts).unwrap();
    assert_eq!(written[0], results.join("rank_sweep/ref.csv"));

    std::fs::write(
        results.join("classification/summary.csv"),
        format!("{FULL_HEADER}mine,pets,16,1,lora,8,10,0.6,,1,1,1,0\n"),
    )
    .unwrap();
    let written = rank_sweep(&opts).unwrap();
    assert_eq!(written[0], results.join("rank_sweep/mine.csv"));
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert_eq!(
        text.lines().nth(1).unwrap(),
        "mine,pets,lora,8,10,1,0.6,0.0,16"
    );
}

/// The longest run of pixels of exactly `color` in any one row of the PNG at `path`, and the
/// number of such pixels in all.
fn color_extent(path: &std::path::Path, color: [u8; 3]) -> (usize, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let (mut longest_row, mut total) = (0, 0);
    for y in 0..img.height() {
        let n = (0..img.width())
            .filter(|&x| img.get_pixel(x, y).0 == color)
            .count();
        longest_row = longest_row.max(n);
        total += n;
    }
    (longest_row, total)
}

#[test]
fn figure_draws_probe_and_zero_shot_references_in_method_colours() {
    use analysis::compare::Task;
    use analysis::plot::fig5::reference_lines;
    use analysis::plot::style::color;
    use analysis::report::rows;
    use analysis::sweep::{references, Reference};
    use formats::Method;

    let tmp = tempfile::tempdir().unwrap();
    let mut text = HEADER.to_string();
    for seed in 1..=2 {
        for r in [8, 64] {
            writeln!(
                text,
                "vit,pets,16,{seed},lora,{r},{},0.6{r},0.40,1,1,1",
                100 * r
            )
            .unwrap();
            writeln!(
                text,
                "vit,pets,16,{seed},serial_lora,{r},{},0.6{r},0.40,1,1,1",
                25 * r
            )
            .unwrap();
        }
        // Probe: 0.50 and 0.54 (mean 0.52); zero-shot recorded as 0.40 and 0.44 on these rows.
        let acc = 0.46 + 0.04 * seed as f64;
        writeln!(
            text,
            "vit,pets,16,{seed},probe,0,0,{acc},0.{},1,1,1",
            36 + 4 * seed
        )
        .unwrap();
        // A data set without probe or zero-shot gets no reference lines.
        writeln!(text, "vit,dtd,16,{seed},lora,8,800,0.5,,1,1,1").unwrap();
    }
    std::fs::write(tmp.path().join("summary.csv"), text).unwrap();

    let rows = rows::read(&tmp.path().join("summary.csv"), Task::Classification).unwrap();
    let refs = references(&rows);
    let pets = refs[&("vit".to_string(), "pets".to_string())];
    assert!((pets.probe.unwrap() - 0.52).abs() < 1e-12, "{pets:?}");
    // Mean over all 10 pets rows: 8 adapter rows at 0.40, probe rows at 0.40 and 0.44.
    assert!(
        (pets.zero_shot.unwrap() - 4.04 / 10.0).abs() < 1e-12,
        "{pets:?}"
    );
    assert!(!refs.contains_key(&("vit".to_string(), "dtd".to_string())));

    let lines = reference_lines(Some(&pets));
    let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        ["linear probe (0.520)", "zero-shot / class means (0.404)"]
    );
    assert_eq!(lines[0].color, color(Some(Method::Probe)));
    assert_eq!(lines[1].color, color(Some(Method::ZeroShot)));
    assert!(reference_lines(Some(&Reference::default())).is_empty());
    assert!(reference_lines(None).is_empty());

    let written = rank_sweep(&options(tmp.path())).unwrap();
    let png = &written[1];
    let rgb = |m: Method| {
        let c = color(Some(m));
        [c.0, c.1, c.2]
    };
    // The methods span 0.664-0.680; the probe (0.520) and zero-shot (0.404) lie more than that
    // range below, so the axis stays fitted to the methods and both are legend notes in their
    // colours (two short dashes each), not lines across the panel (generation_report's Figure 5
    // test draws a reference inside the range as a line).
    for m in [Method::Probe, Method::ZeroShot] {
        let (row, total) = color_extent(png, rgb(m));
        assert!(
            row <= 20 && total > 0,
            "{m:?}: longest row {row}, {total} pixels"
        );
    }
    // The adapter lines use their Okabe–Ito colours; no method is drawn in the old palette.
    for m in [Method::Lora, Method::SerialLora] {
        let (_, total) = color_extent(png, rgb(m));
        assert!(total > 100, "{m:?}: {total} pixels");
    }
    assert_eq!(color_extent(png, [214, 39, 40]).1, 0);

    // Without baselines in the summary there is no reference line.
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(
        plain.join("summary.csv"),
        format!("{HEADER}vit,pets,16,1,lora,8,800,0.6,,1,1,1\n"),
    )
    .unwrap();
    let written = rank_sweep(&options(&plain)).unwrap();
    assert!(color_extent(&written[1], rgb(Method::Probe)).0 < 30);
}

const NEW_HEADER: &str = "backbone,dataset,shots,seed,method,rank,trainable_params,accuracy,zero_shot_accuracy,steps,train_seconds,peak_rss_mb,head_params,resolution,lr,plus_ratio,evaluated_on\n";

#[test]
fn lora_qkv_is_a_point_and_probe_only_backbones_get_no_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = NEW_HEADER.to_string();
    for seed in 1..=2 {
        text +=
            &format!("vit,pets,16,{seed},probe,0,0,0.55,0.40,120,2.0,100,3840,56,0.001,1,test\n");
        text +=
            &format!("vit,pets,16,{seed},lora,8,256,0.70,0.40,120,3.0,100,3840,56,0.001,1,test\n");
        text += &format!(
            "vit,pets,16,{seed},lora_qkv,8,192,0.66,0.40,120,3.0,100,3840,56,0.001,1,test\n"
        );
        text += &format!(
            "vit,pets,16,{seed},serial_lora,32,256,0.68,0.40,120,3.0,100,3840,56,0.001,1,test\n"
        );
        text += &format!(
            "vit-28px,pets,16,{seed},probe,0,0,0.35,0.30,120,2.0,100,3840,28,0.001,1,test\n"
        );
    }
    std::fs::write(tmp.path().join("summary.csv"), text).unwrap();
    let written = rank_sweep(&options(tmp.path())).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["vit.csv", "fig5_vit.png"], "no figure for vit-28px");
    let csv = std::fs::read_to_string(&written[0]).unwrap();
    assert!(
        csv.contains("\nvit,pets,lora_qkv,8,192,2,0.66,0.0,16\n"),
        "{csv}"
    );
    // The grey LoRA (q,k,v) triangle is drawn.
    let grey = analysis::plot::style::GREY;
    let (_, pixels) = color_extent(&written[1], [grey.0, grey.1, grey.2]);
    assert!(pixels > 30, "{pixels} grey pixels");
}

#[test]
fn parameter_matched_pairs_join_lora_at_r_and_serial_at_4r() {
    use analysis::plot::fig5::matched_pairs;
    use analysis::report::rows::Group;
    use analysis::report::table::TableRow;
    use analysis::Method;
    // LoRA on q,k,v,o: 8·d·r (d = 4: 32 per rank); Serial: 2·d·r (8 per rank).
    let point = |method: Method, rank: usize| TableRow {
        group: Group {
            backbone: "vit".into(),
            dataset: "pets".into(),
            shots: Some(16),
        },
        method,
        rank,
        n: 1,
        trainable_params: rank as u64 * if method.is_serial() { 8 } else { 32 },
        mean: 0.5,
        std: 0.0,
        before: None,
        extras: Vec::new(),
        train_seconds: None,
    };
    let pts = [
        point(Method::Lora, 8),
        point(Method::Lora, 16),
        point(Method::SerialLora, 8),
        point(Method::SerialLora, 32),
        point(Method::LoraPlus, 8),
        point(Method::SerialLora, 64),
        point(Method::SerialLoraPlus, 16),
    ];
    let refs: Vec<&TableRow> = pts.iter().collect();
    let pairs: Vec<(Method, usize, Method, usize)> = matched_pairs(&refs)
        .iter()
        .map(|(b, a)| (b.method, b.rank, a.method, a.rank))
        .collect();
    assert_eq!(
        pairs,
        [
            (Method::Lora, 8, Method::SerialLora, 32),
            (Method::Lora, 16, Method::SerialLora, 64),
        ],
        "LoRA+ r=8 has no Serial LoRA+ r=32 partner"
    );
}
