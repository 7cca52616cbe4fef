//! The report as compact Markdown for the terminal (and the guide): per model a table of the
//! metric by method and rank (and, for generation, one of the further measures), the paired
//! differences, the chosen learning rates and the resolution study, in the task's [`Units`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use formats::Method;

use crate::params::format_params;
use crate::report::classes::ClassRow;
use crate::report::paired::Pair;
use crate::report::resolution::{split_resolution, Point};
use crate::report::selected::Choice;
use crate::report::table::TableRow;
use crate::report::units::Units;
use crate::stats::PairVerdict;

/// Everything the Markdown shows.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    /// The summary read, as a repository-relative path.
    pub source: &'a str,
    /// The table's rows.
    pub table: &'a [TableRow],
    /// The paired differences.
    pub pairs: &'a [Pair],
    /// The paired differences in IoU (segmentation; mIoU for multi-class runs).
    pub iou_pairs: &'a [Pair],
    /// The per-class IoU of multi-class runs.
    pub classes: &'a [ClassRow],
    /// The chosen learning rates, when a selection table exists.
    pub selected: Option<&'a [Choice]>,
    /// The resolution study.
    pub resolution: &'a [Point],
}

/// The Markdown of `sections` in `units`.
pub fn render(units: Units, sections: &Sections<'_>) -> String {
    let mut md = format!("## {} report ({})\n", units.task, sections.source);
    let mut by_model: BTreeMap<&str, Vec<&TableRow>> = BTreeMap::new();
    for row in sections.table {
        if split_resolution(&row.group.backbone).is_none() {
            by_model.entry(&row.group.backbone).or_default().push(row);
        }
    }
    for (model, rows) in by_model {
        model_table(&mut md, units, model, &rows);
        measures_table(&mut md, units, model, &rows);
    }
    if !sections.classes.is_empty() {
        classes_table(&mut md, sections.classes);
    }
    if !sections.pairs.is_empty() {
        paired_table(&mut md, units, sections.pairs, units.name());
    }
    if !sections.iou_pairs.is_empty() {
        paired_table(
            &mut md,
            units,
            sections.iou_pairs,
            "IoU; multi-class runs: mIoU",
        );
    }
    if let Some(choices) = sections.selected {
        selected_table(&mut md, units, choices);
    }
    if !sections.resolution.is_empty() {
        resolution_table(&mut md, units, sections.resolution);
    }
    md
}

/// `| a | b |` and a newline.
fn line(md: &mut String, cells: &[String]) {
    let _ = writeln!(md, "| {} |", cells.join(" | "));
}

/// The header row and the alignment row: the first `left` columns left-aligned, the rest right.
fn header(md: &mut String, names: &[String], left: usize) {
    line(md, names);
    let rule: Vec<String> = (0..names.len())
        .map(|i| if i < left { "---" } else { "---:" }.to_string())
        .collect();
    line(md, &rule);
}

/// `n = 3 seeds` or `n = 1–3 seeds`.
fn seeds_note(ns: &BTreeSet<usize>) -> String {
    let (lo, hi) = (ns.first().copied(), ns.last().copied());
    match (lo, hi) {
        (Some(1), Some(1)) => "1 seed".into(),
        (Some(lo), Some(hi)) if lo == hi => format!("n = {lo} seeds"),
        (Some(lo), Some(hi)) => format!("n = {lo}–{hi} seeds"),
        _ => String::new(),
    }
}

fn model_table(md: &mut String, units: Units, model: &str, rows: &[&TableRow]) {
    let ranks: BTreeSet<usize> = rows.iter().map(|r| r.rank).collect();
    let ns: BTreeSet<usize> = rows.iter().map(|r| r.n).collect();
    let max_n = ns.last().copied().unwrap_or(0);
    let _ = writeln!(
        md,
        "\n### {model}: {}, mean ± std over seeds ({})\n",
        units.metric(),
        seeds_note(&ns)
    );
    let mut names = vec!["data set".to_string(), "method".into()];
    names.extend(ranks.iter().map(|&r| match r {
        0 => "no adapter".to_string(),
        r => format!("r={r}"),
    }));
    header(md, &names, 2);
    type Panel<'a> = BTreeMap<Method, BTreeMap<usize, &'a TableRow>>;
    let mut panels: BTreeMap<(&str, Option<usize>), Panel<'_>> = BTreeMap::new();
    for row in rows {
        let key = (row.group.dataset.as_str(), row.group.shots);
        let panel = panels.entry(key).or_default();
        panel.entry(row.method).or_default().insert(row.rank, row);
    }
    let shots: BTreeSet<Option<usize>> = panels.keys().map(|k| k.1).collect();
    for ((dataset, shot), methods) in panels {
        let name = match shot {
            Some(s) if shots.len() > 1 => format!("{dataset} ({s} shots)"),
            _ => dataset.to_string(),
        };
        let before: Vec<f64> = methods
            .values()
            .flat_map(|by_rank| by_rank.values().filter_map(|r| r.before))
            .collect();
        if !before.is_empty() && ranks.contains(&0) {
            let mean = before.iter().sum::<f64>() / before.len() as f64;
            let mut cells = vec![name.clone(), "before training".into()];
            cells.extend(ranks.iter().map(|&r| match r {
                0 => units.score(mean),
                _ => String::new(),
            }));
            line(md, &cells);
        }
        for (method, by_rank) in methods {
            let mut cells = vec![name.clone(), method.label().to_string()];
            cells.extend(ranks.iter().map(|r| match by_rank.get(r) {
                Some(row) => {
                    let n = if row.n == max_n {
                        String::new()
                    } else {
                        format!(" (n={})", row.n)
                    };
                    format!("{} ± {}{n}", units.score(row.mean), units.score(row.std))
                }
                None => String::new(),
            }));
            line(md, &cells);
        }
    }
}

/// The task's further measures (generation: KID, instance and preservation accuracy) of one
/// model's rows, mean ± std over the seeds that record them; nothing where there are none.
fn measures_table(md: &mut String, units: Units, model: &str, rows: &[&TableRow]) {
    let measures = units.task.extra_metrics();
    if rows.iter().all(|r| r.extras.iter().all(Option::is_none)) {
        return;
    }
    let _ = writeln!(
        md,
        "\n### {model}: {}, mean ± std over seeds\n",
        measures.join(", ")
    );
    let mut names = vec!["data set".to_string(), "method".into(), "rank".into()];
    names.extend(measures.iter().map(|m| m.to_string()));
    header(md, &names, 2);
    for row in rows {
        let mut cells = vec![
            row.group.dataset.clone(),
            row.method.label().to_string(),
            match row.rank {
                0 => "–".to_string(),
                r => r.to_string(),
            },
        ];
        cells.extend(row.extras.iter().map(|e| {
            e.map_or("–".to_string(), |(mean, std)| {
                format!("{mean:.4} ± {std:.4}")
            })
        }));
        line(md, &cells);
    }
}

/// Per-class IoU of the multi-class runs, mean over seeds, with mIoU and pixel accuracy.
fn classes_table(md: &mut String, rows: &[ClassRow]) {
    for (i, row) in rows.iter().enumerate() {
        if i == 0
            || (rows[i - 1].model.as_str(), rows[i - 1].dataset.as_str())
                != (row.model.as_str(), row.dataset.as_str())
        {
            let _ = writeln!(
                md,
                "\n### {} on {}: IoU per class, mean over seeds; mIoU and pixel accuracy mean ± std\n",
                row.model, row.dataset
            );
            let mut names = vec!["method".to_string(), "rank".into(), "n".into()];
            names.extend(row.classes.iter().cloned());
            names.extend(["mIoU".to_string(), "pixel acc.".into()]);
            header(md, &names, 1);
        }
        let mut cells = vec![
            row.method.label().to_string(),
            match row.rank {
                0 => "–".to_string(),
                r => r.to_string(),
            },
            row.n.to_string(),
        ];
        cells.extend(row.class_iou.iter().map(|v| format!("{v:.3}")));
        cells.push(format!("{:.4} ± {:.4}", row.miou.0, row.miou.1));
        cells.push(format!(
            "{:.4} ± {:.4}",
            row.pixel_accuracy.0, row.pixel_accuracy.1
        ));
        line(md, &cells);
    }
}

fn paired_table(md: &mut String, units: Units, pairs: &[Pair], measure: &str) {
    let _ = writeln!(
        md,
        "\n### Paired differences a − b over seeds ({measure}, {}; 95 % Student-t interval)\n",
        units.diff_unit()
    );
    let names = [
        "model",
        "data set",
        "pairing",
        "a − b",
        "params a / b",
        "n",
        "mean",
        "95 % CI",
        "verdict",
    ]
    .map(String::from);
    header(md, &names, 4);
    for p in pairs {
        let n = match p.left_out {
            0 => p.diff.n.to_string(),
            k => format!("{} ({k} left out)", p.diff.n),
        };
        let ci = p.diff.ci95.map_or("–".to_string(), |(lo, hi)| {
            format!("[{}, {}]", units.diff(lo), units.diff(hi))
        });
        line(
            md,
            &[
                p.group.backbone.clone(),
                p.group.dataset.clone(),
                p.comparison.label().to_string(),
                format!(
                    "{} r={} − {} r={}",
                    p.a.label(),
                    p.a_rank,
                    p.b.label(),
                    p.b_rank
                ),
                format!(
                    "{} / {}",
                    format_params(p.params_a),
                    format_params(p.params_b)
                ),
                n,
                units.diff(p.diff.mean),
                ci,
                p.verdict.map_or("–".to_string(), |v| match p.margin {
                    Some(m) if v == PairVerdict::Equivalent => {
                        format!("equivalent (±{})", units.diff(m))
                    }
                    _ => v.name().to_string(),
                }),
            ],
        );
    }
}

fn selected_table(md: &mut String, units: Units, choices: &[Choice]) {
    let _ = writeln!(md, "\n### Learning rates chosen on the validation split\n");
    let score = units.selection_score();
    let names = [
        "model",
        "data set",
        "method",
        "rank",
        "lr",
        "λ",
        &score,
        "candidates",
    ]
    .map(String::from);
    header(md, &names, 3);
    for c in choices {
        let ratio = if c.chosen.method.is_plus() {
            c.chosen.plus_ratio.to_string()
        } else {
            "–".into()
        };
        line(
            md,
            &[
                c.chosen.backbone.clone(),
                c.chosen.dataset.clone(),
                c.chosen.method.label().to_string(),
                c.chosen.rank.to_string(),
                c.chosen.lr.to_string(),
                ratio,
                units.selection_value(c.chosen.score),
                c.candidates.to_string(),
            ],
        );
    }
}

fn resolution_table(md: &mut String, units: Units, points: &[Point]) {
    let _ = writeln!(
        md,
        "\n### Resolution study: frozen backbone, {}\n",
        units.metric()
    );
    let names = [
        "model",
        "data set",
        "resolution",
        "class means",
        "probe",
        "n",
    ]
    .map(String::from);
    header(md, &names, 2);
    for p in points {
        line(
            md,
            &[
                p.backbone.clone(),
                p.dataset.clone(),
                format!("{} px", p.resolution),
                p.class_means.map_or("–".into(), |v| units.score(v)),
                p.probe.map_or("–".into(), |(m, s)| {
                    format!("{} ± {}", units.score(m), units.score(s))
                }),
                p.n.to_string(),
            ],
        );
    }
}
