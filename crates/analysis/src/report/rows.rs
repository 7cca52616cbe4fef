//! A task's `summary.csv` as the rows the report reads, whichever generation of columns it has
//! (the committed reference lacks `resolution`, `lr`, `plus_ratio` and `evaluated_on`).
//!
//! Rows scored on a validation split are left out: an `evaluated_on` other than `test`, or an
//! empty metric with a `validation_loss` (a generation selection run, which samples nothing).

use std::path::Path;

use formats::Method;

use crate::compare::Task;
use crate::error::{parse_method, Error, Result};

/// What the report groups by besides method and rank: the pre-trained model, the data set and,
/// for classification, the shots per class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    /// `backbone` (classification) or `model` (segmentation).
    pub backbone: String,
    /// `dataset`.
    pub dataset: String,
    /// `shots` per class; `None` where the summary has no such column.
    pub shots: Option<usize>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Model, data set and shots.
    pub group: Group,
    /// `seed`.
    pub seed: u64,
    /// `method`.
    pub method: Method,
    /// `rank` (0 for the baselines).
    pub rank: usize,
    /// `trainable_params`.
    pub trainable_params: u64,
    /// The task's metric ([`Task::metric`]), in the summary's unit.
    pub score: f64,
    /// The untrained model's metric ([`Task::zero_shot_column`]), when recorded.
    pub before: Option<f64>,
    /// The task's further measures ([`Task::extra_metrics`], in that order), each when recorded.
    pub extras: Vec<Option<f64>>,
    /// `train_seconds`, when recorded.
    pub train_seconds: Option<f64>,
}

/// Reads the test-set rows of the `task` summary at `path`. Rows whose `evaluated_on` says
/// anything but `test` (a validation score) are left out and counted on stderr. A missing
/// required column, a malformed value or an unknown method is an error naming the file, the line
/// and the column; so is a summary without a test row.
pub fn read(path: &Path, task: Task) -> Result<Vec<Row>> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => Error::csv(path, format!("{other:?}")),
    })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| Error::csv(path, format!("has no `{name}` column")))
    };
    let model = required(task.model_column())?;
    let [dataset, seed, method, rank, params, score] = [
        "dataset",
        "seed",
        "method",
        "rank",
        "trainable_params",
        task.metric(),
    ]
    .map(required);
    let (dataset, seed, method, rank, params, score) =
        (dataset?, seed?, method?, rank?, params?, score?);
    let shots = column("shots");
    let before = task.zero_shot_column().and_then(column);
    let extras: Vec<Option<usize>> = task.extra_metrics().iter().map(|m| column(m)).collect();
    let (seconds, evaluated_on) = (column("train_seconds"), column("evaluated_on"));
    let validation_loss = column("validation_loss");
    let (mut rows, mut validation) = (Vec::new(), 0);
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = Field {
            path,
            line,
            header: &header,
            record: &record,
        };
        let selection_run = field.text(score).is_empty()
            && validation_loss.is_some_and(|i| !field.text(i).is_empty());
        if selection_run || evaluated_on.is_some_and(|i| !matches!(field.text(i), "" | "test")) {
            validation += 1;
            continue;
        }
        rows.push(Row {
            group: Group {
                backbone: field.text(model).to_string(),
                dataset: field.text(dataset).to_string(),
                shots: shots.map(|i| field.parse(i)).transpose()?,
            },
            seed: field.parse(seed)?,
            method: parse_method(field.text(method), path)?,
            rank: field.parse(rank)?,
            trainable_params: field.parse(params)?,
            score: field.number(score)?,
            before: field.optional(before)?,
            extras: extras
                .iter()
                .map(|&i| field.optional(i))
                .collect::<Result<_>>()?,
            train_seconds: field.optional(seconds)?,
        });
    }
    if validation > 0 {
        eprintln!(
            "report: {validation} row(s) of {} scored on a validation split are left out",
            path.display()
        );
    }
    if rows.is_empty() {
        return Err(Error::csv(path, "holds no test-set rows"));
    }
    Ok(rows)
}

/// The fields of one data line, with errors naming the file, line and column.
struct Field<'a> {
    path: &'a Path,
    line: u64,
    header: &'a [String],
    record: &'a csv::StringRecord,
}

impl Field<'_> {
    fn text(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("").trim()
    }

    fn bad(&self, i: usize, what: &str) -> Error {
        Error::csv(
            self.path,
            format!(
                "line {}, column `{}`: `{}` is not {what}",
                self.line,
                self.header[i],
                self.text(i)
            ),
        )
    }

    fn parse<T: std::str::FromStr>(&self, i: usize) -> Result<T> {
        self.text(i)
            .parse()
            .map_err(|_| self.bad(i, "a non-negative integer"))
    }

    fn number(&self, i: usize) -> Result<f64> {
        self.text(i)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| self.bad(i, "a finite number"))
    }

    /// The number in column `i`: `None` without the column or for an empty or NaN cell.
    fn optional(&self, i: Option<usize>) -> Result<Option<f64>> {
        match i.map(|i| (i, self.text(i))) {
            None | Some((_, "" | "NaN" | "nan")) => Ok(None),
            Some((i, _)) => self.number(i).map(Some),
        }
    }
}
