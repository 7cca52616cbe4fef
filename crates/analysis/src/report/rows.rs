//! A task's `summary.csv` as the rows the report reads, whichever generation of columns it has
//! (the committed reference lacks `resolution`, `lr`, `plus_ratio` and `evaluated_on`).

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
    let (shots, before) = (column("shots"), column(task.zero_shot_column()));
    let (seconds, evaluated_on) = (column("train_seconds"), column("evaluated_on"));
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
        if evaluated_on.is_some_and(|i| !matches!(field.text(i), "" | "test")) {
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
            before: before
                .map(|i| field.optional_number(i))
                .transpose()?
                .flatten(),
            train_seconds: seconds
                .map(|i| field.optional_number(i))
                .transpose()?
                .flatten(),
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

    fn optional_number(&self, i: usize) -> Result<Option<f64>> {
        match self.text(i) {
            "" | "NaN" | "nan" => Ok(None),
            _ => self.number(i).map(Some),
        }
    }
}
