//! `analysis bench-scaling`: how the ViT-B/16 step cost grows with batch and image size, from
//! `<results>/bench/vit_b16_scaling.csv` (written by `make bench`) → `<figures>/bench_scaling.png`
//! ([`figure`]) and the rows drawn as a table on stdout.
//!
//! CSV columns, exactly: `impl, precision, case, method, rank, batch, image_size, median_step_ms,
//! images_per_s`; one row per (precision, case, method, batch, image_size). `case` is `train_step`
//! or `inference`, `method` a [`Method`] name or `base` (the model without adapters). Only the
//! rows of our implementation (`impl = ours`) are drawn: the left panel at [`BATCH_SWEEP_SIZE`] px,
//! the right one at batch [`SIZE_SWEEP_BATCH`].

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use formats::{Method, Precision};
use serde::Deserialize;

use crate::error::{parse_method, Error, Result};

pub mod figure;

/// The benchmark table, relative to the results folder.
pub const TABLE: &str = "bench/vit_b16_scaling.csv";
/// The figure, relative to the figures folder.
pub const FIGURE: &str = "bench_scaling.png";
/// The columns of [`TABLE`], in order.
pub const COLUMNS: [&str; 9] = [
    "impl",
    "precision",
    "case",
    "method",
    "rank",
    "batch",
    "image_size",
    "median_step_ms",
    "images_per_s",
];
/// The image size (px) of the left panel, step time against batch.
pub const BATCH_SWEEP_SIZE: usize = 224;
/// The batch of the right panel, step time against image size.
pub const SIZE_SWEEP_BATCH: usize = 8;
/// The `impl` whose rows are drawn.
const OURS: &str = "ours";
/// The `method` of the model without adapters.
const BASE: &str = "base";

/// What `analysis bench-scaling` was asked for.
#[derive(Debug, Clone)]
pub struct BenchScalingOptions {
    /// The results folder ([`TABLE`] is read from it).
    pub results: PathBuf,
    /// The figures folder ([`FIGURE`] is written to it).
    pub figures: PathBuf,
}

/// What the benchmark timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Case {
    /// A forward pass without gradients.
    Inference,
    /// A forward pass, a backward pass and an optimiser step.
    TrainStep,
}

impl Case {
    /// Every case, in legend order.
    pub const ALL: [Case; 2] = [Case::Inference, Case::TrainStep];

    /// The name used in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Case::Inference => "inference",
            Case::TrainStep => "train_step",
        }
    }

    /// The words used in legends.
    pub fn label(self) -> &'static str {
        match self {
            Case::Inference => "inference",
            Case::TrainStep => "train step",
        }
    }
}

/// One line of the figure: a (precision, case, method) triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    /// The precision; [`Precision::Fp32`] sorts first.
    pub precision: Precision,
    /// What was timed.
    pub case: Case,
    /// The adapter method; `None`: the base model.
    pub method: Option<Method>,
}

impl Ord for Series {
    /// By precision (in [`Precision::ALL`]'s order), case, then method (the base model first).
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Series {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Series {
    /// The key of [`Ord`]: the precision's place in [`Precision::ALL`], the case, the method.
    fn sort_key(&self) -> (Option<usize>, Case, Option<Method>) {
        let precision = Precision::ALL.iter().position(|p| *p == self.precision);
        (precision, self.case, self.method)
    }

    /// The legend entry, e.g. `base (inference)` or `Serial LoRA (train step) bf16`.
    pub fn label(&self) -> String {
        let method = self.method.map_or(BASE, Method::label);
        let precision = if self.precision.is_fp32() {
            String::new()
        } else {
            format!(" {}", self.precision)
        };
        format!("{method} ({}){precision}", self.case.label())
    }
}

/// A CSV row as written.
#[derive(Deserialize)]
struct RawRow {
    #[serde(rename = "impl")]
    implementation: String,
    precision: String,
    case: String,
    method: String,
    rank: usize,
    batch: usize,
    image_size: usize,
    median_step_ms: f64,
    images_per_s: f64,
}

/// One timed configuration of our implementation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line it belongs to.
    pub series: Series,
    /// The adapter rank (0 for the base model).
    pub rank: usize,
    /// Images per step.
    pub batch: usize,
    /// Side of the square input, px.
    pub image_size: usize,
    /// Median wall time of a step, ms.
    pub median_step_ms: f64,
    /// Throughput, images per second.
    pub images_per_s: f64,
}

/// Reads the rows of our implementation from the benchmark table at `path`. A missing file is an
/// error saying that `make bench` writes it; an empty file, another header, a malformed value, a
/// non-positive size or time, or a repeated (precision, case, method, batch, image_size) is an
/// error naming the file and the line.
pub fn read_table(path: &Path) -> Result<Vec<Row>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            Error::Usage(format!(
                "{}: not found; `make bench` writes it (the ViT-B/16 scaling benchmark)",
                path.display()
            ))
        }
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => Error::csv(path, format!("{other:?}")),
    })?;
    let header = reader
        .headers()
        .map_err(|e| Error::csv(path, e.to_string()))?
        .clone();
    if header.is_empty() {
        return Err(Error::csv(path, "is empty (no header, no data rows)"));
    }
    if header.iter().ne(COLUMNS) {
        let found: Vec<&str> = header.iter().collect();
        return Err(Error::csv(
            path,
            format!(
                "line 1: header is `{}`, expected `{}`",
                found.join(","),
                COLUMNS.join(",")
            ),
        ));
    }
    let (mut rows, mut lines) = (Vec::new(), BTreeMap::new());
    let mut seen = 0;
    for record in reader.records() {
        let record = record.map_err(|e| Error::csv(path, e.to_string()))?;
        seen += 1;
        let line = record.position().map_or(seen + 1, |p| p.line());
        let raw: RawRow = record
            .deserialize(Some(&header))
            .map_err(|e| value_error(path, &header, line, e))?;
        if raw.implementation != OURS {
            continue;
        }
        let row = parse_row(raw, path, line)?;
        let key = (row.series, row.batch, row.image_size);
        if let Some(first) = lines.insert(key, line) {
            return Err(Error::csv(
                path,
                format!(
                    "line {line}: repeats line {first} ({}, {} {}, batch {}, image_size {})",
                    row.series.precision,
                    row.series.case.name(),
                    row.series.method.map_or(BASE, Method::name),
                    row.batch,
                    row.image_size
                ),
            ));
        }
        rows.push(row);
    }
    if seen == 0 {
        return Err(Error::csv(path, "holds no data rows"));
    }
    if rows.is_empty() {
        return Err(Error::csv(
            path,
            format!("holds no rows with impl `{OURS}`"),
        ));
    }
    Ok(rows)
}

/// The error of a row at `line` of `path` whose value does not parse, naming its column.
fn value_error(path: &Path, header: &csv::StringRecord, line: u64, e: csv::Error) -> Error {
    let problem = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| header.get(i as usize)) {
                Some(field) => format!("line {line}: field `{field}`: {}", err.kind()),
                None => format!("line {line}: {}", err.kind()),
            }
        }
        _ => e.to_string(),
    };
    Error::csv(path, problem)
}

/// Checks the values of the row at `line` of `path` and resolves its method.
fn parse_row(raw: RawRow, path: &Path, line: u64) -> Result<Row> {
    let bad = |field: &str, problem: &str| {
        Error::csv(path, format!("line {line}: field `{field}` {problem}"))
    };
    for (field, value) in [("batch", raw.batch), ("image_size", raw.image_size)] {
        if value == 0 {
            return Err(bad(field, "is 0"));
        }
    }
    for (field, value) in [
        ("median_step_ms", raw.median_step_ms),
        ("images_per_s", raw.images_per_s),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(bad(field, "is not a positive finite number"));
        }
    }
    let precision: Precision = raw
        .precision
        .parse()
        .map_err(|e: String| bad("precision", &e))?;
    let case = Case::ALL
        .into_iter()
        .find(|c| c.name() == raw.case)
        .ok_or_else(|| {
            bad(
                "case",
                &format!("is `{}`, not `inference` or `train_step`", raw.case),
            )
        })?;
    let method = match raw.method.as_str() {
        BASE => None,
        name => Some(parse_method(name, path)?),
    };
    Ok(Row {
        series: Series {
            precision,
            case,
            method,
        },
        rank: raw.rank,
        batch: raw.batch,
        image_size: raw.image_size,
        median_step_ms: raw.median_step_ms,
        images_per_s: raw.images_per_s,
    })
}

/// The outcome of `analysis bench-scaling`.
#[derive(Debug, Clone)]
pub struct BenchScaling {
    /// The rows drawn (those in either panel), sorted by series, batch and image size.
    pub rows: Vec<Row>,
    /// The figure written.
    pub figure: PathBuf,
}

impl fmt::Display for BenchScaling {
    /// The rows drawn as an aligned text table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = vec![COLUMNS[1..]
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()];
        for r in &self.rows {
            table.push(vec![
                r.series.precision.to_string(),
                r.series.case.name().to_string(),
                r.series.method.map_or(BASE, Method::name).to_string(),
                r.rank.to_string(),
                r.batch.to_string(),
                r.image_size.to_string(),
                format!("{:.3}", r.median_step_ms),
                format!("{:.3}", r.images_per_s),
            ]);
        }
        let widths: Vec<usize> = (0..table[0].len())
            .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(v, &w)| format!("{v:<w$}"))
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

/// Runs `analysis bench-scaling`: reads [`TABLE`] under the results folder and draws [`FIGURE`]
/// under the figures folder. A panel without rows is an error naming the table.
pub fn bench_scaling(opts: &BenchScalingOptions) -> Result<BenchScaling> {
    let path = opts.results.join(TABLE);
    let mut rows = read_table(&path)?;
    rows.retain(|r| r.image_size == BATCH_SWEEP_SIZE || r.batch == SIZE_SWEEP_BATCH);
    rows.sort_by_key(|r| (r.series, r.batch, r.image_size));
    let by_batch: Vec<&Row> = rows
        .iter()
        .filter(|r| r.image_size == BATCH_SWEEP_SIZE)
        .collect();
    let by_size: Vec<&Row> = rows
        .iter()
        .filter(|r| r.batch == SIZE_SWEEP_BATCH)
        .collect();
    for (panel, what) in [
        (&by_batch, format!("image_size {BATCH_SWEEP_SIZE}")),
        (&by_size, format!("batch {SIZE_SWEEP_BATCH}")),
    ] {
        if panel.is_empty() {
            return Err(Error::csv(&path, format!("holds no rows at {what}")));
        }
    }
    let figure = figure::draw(&opts.figures.join(FIGURE), &by_batch, &by_size)?;
    Ok(BenchScaling { rows, figure })
}
